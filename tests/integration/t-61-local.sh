#!/bin/bash
# t-61-local: local delivery end to end, through the daemon.
#   - mbox in mbox-dir, written as the user (owner, mode), with the From_
#     line, Return-Path: and Delivered-To: first and >From quoting;
#   - aliases compiled by strictmailctl newaliases: several targets, an
#     :include: file, user+tag, root through root-alias;
#   - an alias loop and an unknown user refused at RCPT (550 5.4.6, 5.1.1);
#   - a pipe alias runs as alias-user (the command writes its own uid);
#   - ~/.forward: \user plus a pipe run as the user; a group-writable one
#     is ignored (the mail goes to the mailbox);
#   - a virtual domain (strictmailctl makemap) with an entry and a
#     catch-all;
#   - an alias to a remote address becomes a new pending recipient of the
#     same message ("forwarded" logged, the local one delivered);
#   - newaliases while the daemon runs: the new alias is taken at once;
#   - Maildir for one user (mailbox-user) after a restart: one file in
#     new/; another user keeps the mbox;
#   - mail(1) (bsd-mailx) reads the mbox strictmail wrote.
# What must not happen is checked too: no file written as root, nothing
# in a mailbox of a recipient that was refused, no copy for the ignored
# .forward's pipe.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-dovecot.sh"
t_init

ctl=$SM_TOP/build-asan/strictmailctl
[ -x "$ctl" ] || t_fail "an executable $ctl" "none (make asan)"

# Test users with homes under $T_DIR; removed at the end.
U1=smt61a$$ U2=smt61b$$ U3=smt61c$$
mkdir -p "$T_DIR/home" "$T_DIR/mail" "$T_DIR/out"
chmod 0755 "$T_DIR/home"
chmod 1777 "$T_DIR/mail" "$T_DIR/out"
for u in $U1 $U2 $U3; do
	t_user_add "$u" "$T_DIR/home/$u" || t_fail "useradd $u" "an error"
	mkdir -p "$T_DIR/home/$u"
	chown "$u:" "$T_DIR/home/$u"
	chmod 0755 "$T_DIR/home/$u"
done
uid1=$(id -u "$U1")
nobody_uid=$(id -u nobody)

# A pipe command that records its uid and the message it got.
cat > "$T_DIR/record.sh" <<'EOF'
#!/bin/sh
tag=$1
id -u > "$OUT/$tag.uid"
cat > "$OUT/$tag.msg"
exit 0
EOF
sed -i "s|\$OUT|$T_DIR/out|g" "$T_DIR/record.sh"
chmod 0755 "$T_DIR/record.sh"

# Aliases and the virtual map, compiled by strictmailctl.
cat > "$T_DIR/aliases" <<EOF
# test aliases
team: $U1,
	$U2
inc: :include:$T_DIR/inc.list
piper: "|$T_DIR/record.sh piper"
loop1: loop2
loop2: loop1
ext: someone@remote.test, $U1
EOF
printf '%s\n' "$U3" > "$T_DIR/inc.list"
cat > "$T_DIR/virtual" <<EOF
info@virt.test $U1
@virt.test $U2
known@virt2.test $U1
EOF
"$ctl" newaliases -f "$T_DIR/aliases" > "$T_DIR/newaliases.out" 2>&1 ||
    t_fail "strictmailctl newaliases -f aliases to work" "$(cat "$T_DIR/newaliases.out")"
grep -q "aliases.db: 6 entries" "$T_DIR/newaliases.out" ||
    t_fail "newaliases to say 'aliases.db: 6 entries'" "$(cat "$T_DIR/newaliases.out")"
"$ctl" makemap "$T_DIR/virtual" > "$T_DIR/makemap.out" 2>&1 ||
    t_fail "strictmailctl makemap virtual to work" "$(cat "$T_DIR/makemap.out")"
say "maps compiled: $(cat "$T_DIR/newaliases.out") / $(cat "$T_DIR/makemap.out")"

# .forward files: U2 keeps a copy and pipes one; U3's is group-writable.
printf '\\%s, "|%s fwd2"\n' "$U2" "$T_DIR/record.sh" > "$T_DIR/home/$U2/.forward"
chown "$U2:" "$T_DIR/home/$U2/.forward"
chmod 0644 "$T_DIR/home/$U2/.forward"
printf '"|%s fwd3"\n' "$T_DIR/record.sh" > "$T_DIR/home/$U3/.forward"
chown "$U3:" "$T_DIR/home/$U3/.forward"
chmod 0664 "$T_DIR/home/$U3/.forward"

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "aliases $T_DIR/aliases" \
    "virtual-map $T_DIR/virtual" "virtual-domain virt.test virt2.test" \
    "mbox-dir $T_DIR/mail" "root-alias $U1" "retry-initial 1h"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

# send TO TAG: one message; sets QID.
send() {
	local to=$1 tag=$2 out
	printf 'From: <sender@example.org>\r\nSubject: %s\r\n\r\nbody %s\r\nFrom the start of a line\r\n>From quoted\r\n' \
	    "$tag" "$tag" > "$T_DIR/$tag.eml"
	out=$(sm_send sender@example.org "$to" "$T_DIR/$tag.eml")
	case $out in
	"250 "*) QID=${out#250 } ;;
	*) t_fail "$to accepted (250)" "$out" ;;
	esac
}

# refused TO CODE: RCPT refused with CODE.
refused() {
	local out
	printf 'Subject: x\r\n\r\nx\r\n' > "$T_DIR/refused.eml"
	out=$(sm_send sender@example.org "$1" "$T_DIR/refused.eml")
	case $out in
	"ERR $2"*) ;;
	*) t_fail "RCPT $1 refused with $2" "$out" ;;
	esac
}

# delivered QID: the message leaves the spool within 20 s.
delivered() {
	local i
	for i in $(seq 1 200); do
		ls "$spool"/queue/*/"$1.env" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	t_fail "$1 delivered and gone from the spool" \
	    "$(cat "$spool"/queue/*/"$1.env" | grep '^rcpt' | tr '\n' '|')"
}

# count FILE TAG: how many messages with Subject TAG the mbox holds.
count() {
	grep -c "^Subject: $2\$" "$1" 2>/dev/null || true
}

send "$U1@mx.test" plain1
delivered "$QID"
mb=$T_DIR/mail/$U1
[ -f "$mb" ] || t_fail "mbox $mb" "no such file"
[ "$(stat -c %u "$mb")" = "$uid1" ] ||
    t_fail "$mb owned by $U1 ($uid1)" "uid $(stat -c %u "$mb")"
[ "$(stat -c %a "$mb")" = 600 ] || t_fail "$mb mode 600" "$(stat -c %a "$mb")"
head -n 1 "$mb" | grep -Eq '^From sender@example\.org (Mon|Tue|Wed|Thu|Fri|Sat|Sun) ' ||
    t_fail "the mbox's first line 'From sender@example.org DATE'" "$(head -n 1 "$mb")"
sed -n 2p "$mb" | grep -qx 'Return-Path: <sender@example.org>' ||
    t_fail "line 2 'Return-Path: <sender@example.org>'" "$(sed -n 2p "$mb")"
sed -n 3p "$mb" | grep -qix "Delivered-To: $U1@mx.test" ||
    t_fail "line 3 'Delivered-To: $U1@mx.test'" "$(sed -n 3p "$mb")"
grep -qx '>From the start of a line' "$mb" ||
    t_fail "'From ' in the body quoted as '>From '" "$(grep -n 'From the start' "$mb")"
grep -qx '>>From quoted' "$mb" ||
    t_fail "'>From ' in the body quoted as '>>From ' (mboxrd)" "$(grep -n 'From quoted' "$mb")"
if grep -q $'\r' "$mb"; then t_fail "LF lines in the mbox" "a CR"; fi
grep -Eq "$QID: to=<?$U1@mx.test>? relay=mbox .*status=sent" "$log" ||
    t_fail "the queue's 'status=sent relay=mbox' line for $QID" "$(grep "$QID" "$log" | tail -n 3 | tr '\n' '|')"
say "mbox: $U1's mailbox written as $U1, From_ line, Return-Path, Delivered-To, >From quoting"

send "team@mx.test" team
delivered "$QID"
[ "$(count "$T_DIR/mail/$U1" team)" = 1 ] || t_fail "team in $U1's mbox once" "$(count "$T_DIR/mail/$U1" team)"
[ "$(count "$T_DIR/mail/$U2" team)" = 1 ] || t_fail "team in $U2's mbox once (\\$U2 in .forward)" "$(count "$T_DIR/mail/$U2" team)"
[ -s "$T_DIR/out/fwd2.uid" ] || t_fail "U2's .forward pipe ran" "no $T_DIR/out/fwd2.uid"
[ "$(cat "$T_DIR/out/fwd2.uid")" = "$(id -u "$U2")" ] ||
    t_fail "the .forward pipe ran as $U2 ($(id -u "$U2"))" "uid $(cat "$T_DIR/out/fwd2.uid")"
grep -qx "Delivered-To: $U2@mx.test" "$T_DIR/out/fwd2.msg" ||
    t_fail "Delivered-To in the piped message" "$(head -n 3 "$T_DIR/out/fwd2.msg" | tr '\n' '|')"
say "alias with two targets: both mailboxes; $U2's .forward kept a copy and ran its pipe as $U2"

send "inc@mx.test" inc
delivered "$QID"
[ "$(count "$T_DIR/mail/$U3" inc)" = 1 ] || t_fail "inc in $U3's mbox (include file)" "$(count "$T_DIR/mail/$U3" inc)"
[ ! -e "$T_DIR/out/fwd3.uid" ] || t_fail "$U3's group-writable .forward ignored" "its pipe ran"
say ":include: delivered to $U3; $U3's group-writable .forward was ignored"

send "piper@mx.test" piper
delivered "$QID"
[ "$(cat "$T_DIR/out/piper.uid" 2>/dev/null)" = "$nobody_uid" ] ||
    t_fail "the alias pipe ran as nobody ($nobody_uid)" "$(cat "$T_DIR/out/piper.uid" 2>/dev/null || echo 'it did not run')"
grep -q "^Subject: piper" "$T_DIR/out/piper.msg" || t_fail "the message on the pipe's stdin" "$(head -c 200 "$T_DIR/out/piper.msg")"
say "pipe alias ran as alias-user nobody with the message on stdin"

send "$U1+tag@mx.test" tagged
delivered "$QID"
[ "$(count "$T_DIR/mail/$U1" tagged)" = 1 ] || t_fail "user+tag in $U1's mbox" "$(count "$T_DIR/mail/$U1" tagged)"
send "root@mx.test" rootmail
delivered "$QID"
[ "$(count "$T_DIR/mail/$U1" rootmail)" = 1 ] || t_fail "root's mail in $U1's mbox (root-alias)" "$(count "$T_DIR/mail/$U1" rootmail)"
[ ! -e "$T_DIR/mail/root" ] || t_fail "no mailbox for root" "$T_DIR/mail/root exists"
say "user+tag and root (root-alias) delivered to $U1"

send "info@virt.test" vinfo
delivered "$QID"
[ "$(count "$T_DIR/mail/$U1" vinfo)" = 1 ] || t_fail "info@virt.test in $U1's mbox" "$(count "$T_DIR/mail/$U1" vinfo)"
send "anything@virt.test" vcatch
delivered "$QID"
[ "$(count "$T_DIR/mail/$U2" vcatch)" = 1 ] || t_fail "the catch-all in $U2's mbox" "$(count "$T_DIR/mail/$U2" vcatch)"
say "virtual domain: an entry and the catch-all"

refused "loop1@mx.test" 550
grep -q "5.4.6" <<<"$(sm_send sender@example.org loop1@mx.test "$T_DIR/refused.eml")" ||
    t_fail "the alias loop refused with 5.4.6" "$(sm_send sender@example.org loop1@mx.test "$T_DIR/refused.eml")"
refused "nosuchuser@mx.test" "550"
refused "nosuch@virt2.test" "550 5.1.1"
[ ! -e "$T_DIR/mail/nosuchuser" ] || t_fail "no mailbox for a refused recipient" "one exists"
say "alias loop (550 5.4.6) and unknown users (550) refused at RCPT"

# A rebuilt map is taken without a restart (the lookup process looks for
# one at most once a second).
refused "late@mx.test" "550 5.1.1"
printf 'late: %s\n' "$U1" >> "$T_DIR/aliases"
"$ctl" newaliases -f "$T_DIR/aliases" > "$T_DIR/newaliases2.out" 2>&1 ||
    t_fail "newaliases with the running daemon" "$(cat "$T_DIR/newaliases2.out")"
sleep 1.2
send "late@mx.test" late
delivered "$QID"
[ "$(count "$T_DIR/mail/$U1" late)" = 1 ] || t_fail "the new alias late delivered to $U1" "$(count "$T_DIR/mail/$U1" late)"
grep -q "map $T_DIR/aliases.db changed: opened again" "$log" ||
    t_fail "'map ... changed: opened again' logged" "$(grep 'map ' "$log" | tail -n 2 | tr '\n' '|')"
say "newaliases while running: the new alias is taken without a restart"

send "ext@mx.test" ext
for i in $(seq 1 100); do
	grep -q "$QID: forwarded: orig_to=<ext@mx.test> to=<someone@remote.test>" "$log" && break
	sleep 0.1
done
grep -q "$QID: forwarded: orig_to=<ext@mx.test> to=<someone@remote.test>" "$log" ||
    t_fail "'$QID: forwarded: orig_to=<ext@mx.test> to=<someone@remote.test>' logged" "$(grep "$QID" "$log" | tail -n 4 | tr '\n' '|')"
envf=$(ls "$spool"/queue/*/"$QID.env")
grep -qx "rcpt delivered <ext@mx.test>" "$envf" ||
    t_fail "ext@mx.test delivered in $QID.env" "$(grep '^rcpt' "$envf" | tr '\n' '|')"
grep -qx "rcpt pending <someone@remote.test>" "$envf" ||
    t_fail "someone@remote.test a pending recipient of $QID" "$(grep '^rcpt' "$envf" | tr '\n' '|')"
grep -qx "rcpt-orcpt rfc822;ext@mx.test" "$envf" ||
    t_fail "its ORCPT rfc822;ext@mx.test" "$(grep '^rcpt' "$envf" | tr '\n' '|')"
[ "$(count "$T_DIR/mail/$U1" ext)" = 1 ] || t_fail "ext's local copy in $U1's mbox" "$(count "$T_DIR/mail/$U1" ext)"
say "alias to a remote address: a new pending recipient of $QID, with ORCPT; the local target delivered"

# mail(1) reads U1's mbox: every message strictmail put there.
want=$(grep -c '^From ' "$T_DIR/mail/$U1")
mailx_read_mbox "$T_DIR/mail/$U1" > "$T_DIR/mailx.out" 2>&1 ||
    t_fail "mail -f $U1's mbox to work" "$(head -n 3 "$T_DIR/mailx.out")"
grep -q "\"$T_DIR/mail/$U1\": $want messages" "$T_DIR/mailx.out" ||
    t_fail "mail to list $want messages in $U1's mbox" "$(head -n 2 "$T_DIR/mailx.out")"
for s in plain1 team tagged rootmail vinfo ext; do
	grep -q " $s\$" "$T_DIR/mailx.out" || t_fail "mail lists the message '$s'" "$(cat "$T_DIR/mailx.out")"
done
mailx_read_mbox "$T_DIR/mail/$U1" 1 > "$T_DIR/mailx1.out" 2>&1
grep -qx "Delivered-To: $U1@mx.test" "$T_DIR/mailx1.out" ||
    t_fail "mail shows message 1 with its Delivered-To" "$(head -n 8 "$T_DIR/mailx1.out")"
say "mail(1) reads $U1's mbox: $want messages, each subject listed"

# Nothing written as root in the mail folders.
bad=$(find "$T_DIR/mail" "$T_DIR/home" "$T_DIR/out" -user root ! -type d 2>/dev/null | head -n 3)
[ -z "$bad" ] || t_fail "no file written as root" "$bad"

sm_stop "$SM_PID" || t_fail "a clean stop" "had to kill it"

# Maildir for one user (mailbox-user), mbox for the others.
sm_config "$conf" "$spool" "aliases $T_DIR/aliases" "mbox-dir $T_DIR/mail" \
    "mailbox-user $U1 maildir" "retry-initial 1h"
sm_start_ready "$conf" "$log"
send "$U1@mx.test" md1
delivered "$QID"
md=$T_DIR/home/$U1/Maildir
n=$(ls "$md/new" 2>/dev/null | wc -l)
[ "$n" = 1 ] || t_fail "one file in $md/new" "$n"
f=$(ls "$md/new"/*)
[ "$(stat -c %u "$f")" = "$uid1" ] || t_fail "$f owned by $U1" "uid $(stat -c %u "$f")"
head -n 2 "$f" | grep -qx 'Return-Path: <sender@example.org>' ||
    t_fail "Return-Path first in the Maildir file" "$(head -n 2 "$f" | tr '\n' '|')"
grep -q "^Subject: md1" "$f" || t_fail "the message in $f" "$(head -c 300 "$f")"
[ -z "$(ls "$md/tmp")" ] || t_fail "$md/tmp empty" "$(ls "$md/tmp")"
say "Maildir: one file in new/, owned by $U1, tmp/ empty"
[ "$(count "$T_DIR/mail/$U1" md1)" = 0 ] || t_fail "md1 not in $U1's mbox" "it is there"
send "$U3@mx.test" mb3
delivered "$QID"
[ "$(count "$T_DIR/mail/$U3" mb3)" = 1 ] || t_fail "$U3 (no mailbox-user line) still gets an mbox" "$(count "$T_DIR/mail/$U3" mb3)"
[ ! -e "$T_DIR/home/$U3/Maildir" ] || t_fail "no Maildir for $U3" "one was made"
say "mailbox-user: $U1 gets a Maildir, $U3 keeps its mbox"

sm_stop "$SM_PID" || t_fail "a clean stop" "had to kill it"
t_pass
