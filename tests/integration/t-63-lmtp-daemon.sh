#!/bin/bash
# t-63-lmtp-daemon: strictmaild with "mailbox lmtp" delivers to a real
# Dovecot LMTP server (tests/integration/lib-dovecot.sh) through
# lmtp-socket unix:DOVECOT'S-SOCKET.
#  - three system users (useradd, removed at the end); Dovecot knows the
#    first two only.  An alias "second" names the second one.
#  - one message from the second user to the first, "second" and the
#    third: ONE LMTP transaction (Dovecot's log: one connection, ended by
#    QUIT, whose session saved the message for both users; strictmail's
#    log: three local=lmtp lines, the third with Dovecot's 550 5.1.1
#    "User doesn't exist"); the two Maildirs under Dovecot's mail folder hold
#    the message once, with Dovecot's header fields (Return-Path, its
#    Received: ... with LMTP; no Delivered-To: two recipients) and the
#    content as sent; the first two "relay=lmtp status=sent", the third
#    "status=bounced" with Dovecot's 550 5.1.1 reply text; a DSN from <>
#    is made ("bounce ID") and goes to the sender through Dovecot too:
#    Return-Path: <>, a delivery-status report for the third (failed,
#    5.1.1, Dovecot's text) in a second connection;
#  - Dovecot stopped: a message to the first and "second" is deferred
#    (status=deferred, the envelope keeps both recipients pending with
#    their rcpt-error), nothing is lost and nothing is retried before the
#    flush (retry-initial 1h); Dovecot started again (same socket path,
#    fresh Maildirs) and strictmailctl flush: delivered once to each;
#  - nothing is written by strictmail into the users' homes or mbox-dir;
#    no error in Dovecot's logs.
# The LMTP child is the same in both modes (the root parent forks it and it
# takes alias-user's identity); both modes run (leak detection is on in the
# unprivileged one).
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC1091
. "$T_LIB/lib-dovecot.sh"

[ "$(id -u)" -eq 0 ] || t_skip "needs root (Dovecot's mount namespace, system users)"
t_init
t_need_private dovecot-core usr/sbin/dovecot usr/lib/dovecot/lmtp
ctl=$(dirname "$SM_BIN")/strictmailctl
[ -x "$ctl" ] || t_fail "an executable $ctl" "none (make asan)"

# Test users with homes under $T_DIR; removed at the end.
U1=smt63a$$ U2=smt63b$$ U3=smt63c$$
mkdir -p "$T_DIR/home" "$T_DIR/mail"
chmod 0755 "$T_DIR/home"
# Writable by anyone: a stray mbox delivery would succeed and be seen.
chmod 1777 "$T_DIR/mail"
for u in $U1 $U2 $U3; do
	t_user_add "$u" "$T_DIR/home/$u" || t_fail "useradd $u" "an error"
	mkdir -p "$T_DIR/home/$u"
	chown "$u:" "$T_DIR/home/$u"
	chmod 0755 "$T_DIR/home/$u"
done

printf 'second: %s\n' "$U2" > "$T_DIR/aliases"
"$ctl" newaliases -f "$T_DIR/aliases" > "$T_DIR/newaliases.out" 2>&1 ||
    t_fail "strictmailctl newaliases -f aliases to work" "$(cat "$T_DIR/newaliases.out")"

DV=$T_DIR/dovecot
dovecot_start "$DV" "$U1" "$U2" ||
    t_fail "Dovecot to start" "$(tail -n 5 "$DV/dovecot.log" 2>/dev/null)"
say "Dovecot $(cat "$(priv_root dovecot-core)/.version") up, pid $DOVECOT_PID, users $U1 $U2"

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "mailbox lmtp" "lmtp-socket unix:$DOVECOT_SOCK" \
    "retry-initial 1h"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

# send FROM TO[,TO] TAG: one message with Message-ID <TAG@ext.test>;
# sets QID.
send() {
	local out
	printf '%s\r\n' "From: <$1>" "To: <$2>" "Subject: $3" \
	    "Message-ID: <$3@ext.test>" '' "body of $3" '.a dot line' \
	    'last line' > "$T_DIR/$3.eml"
	out=$(sm_send "$1" "$2" "$T_DIR/$3.eml")
	case $out in
	"250 "*) QID=${out#250 } ;;
	*) t_fail "$2 accepted (250)" "$out" ;;
	esac
}

# wait_log PATTERN [SECONDS]: a line of strictmail's log matches.
wait_log() {
	sm_wait_log "$log" "$1" "$SM_PID" "${2:-20}"
}

# gone QID: the message leaves the spool within 20 s.
gone() {
	local _
	for _ in $(seq 1 200); do
		ls "$spool"/queue/*/"$1.env" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	t_fail "$1 delivered and gone from the spool" \
	    "$(grep '^rcpt' "$spool"/queue/*/"$1.env" | tr '\n' '|')"
}

# copies DIR USER TAG: the files of USER's Maildir under DIR that are the
# message TAG (its Message-ID in their header section: a DSN that quotes
# it is not one).
copies() {
	local f
	for f in "$1/mail/$2"/new/* "$1/mail/$2"/cur/* "$1/mail/$2"/tmp/*; do
		[ -f "$f" ] || continue
		sed '/^$/q' "$f" | grep -qx "Message-ID: <$3@ext.test>" && echo "$f"
	done
	true
}

# ---- 1: one message, three recipients, one transaction
send "$U2@mx.test" "$U1@mx.test,second@mx.test,$U3@mx.test" t63one
Q1=$QID
gone "$Q1"
wait_log "$Q1: bounce [0-9A-F]+ for 1 recipients" 10 ||
    t_fail "'$Q1: bounce ID for 1 recipients' logged" "$(grep "$Q1" "$log" | tr '\n' '|')"
for r in "$U1@mx.test" second@mx.test; do
	grep -Eq "$Q1: to=<$r> local=lmtp user=nobody target=\"?unix:$DOVECOT_SOCK\"? result=ok " "$log" ||
	    t_fail "the local line 'to=<$r> local=lmtp ... result=ok'" "$(grep "$Q1: to=" "$log" | tr '\n' '|')"
done
grep -Eq "$Q1: to=<$U3@mx.test> local=lmtp user=nobody target=\"?unix:$DOVECOT_SOCK\"? result=failed text=\"550 5\.1\.1 <$U3@mx.test> User doesn't exist" "$log" ||
    t_fail "the local line for $U3: result=failed with Dovecot's 550 5.1.1 reply" "$(grep "$Q1: to=<$U3" "$log" | tr '\n' '|')"
[ "$(grep -c "$Q1: to=<[^>]*> local=" "$log")" = 3 ] ||
    t_fail "three local= lines for $Q1" "$(grep "$Q1: to=" "$log" | tr '\n' '|')"
grep -Eq "$Q1: to=<$U1@mx.test> relay=lmtp delay=[0-9]+ attempts=1 status=sent " "$log" ||
    t_fail "'$Q1: to=<$U1@mx.test> relay=lmtp ... status=sent'" "$(grep "$Q1: to=" "$log" | tr '\n' '|')"
grep -Eq "$Q1: to=<second@mx.test> relay=lmtp delay=[0-9]+ attempts=1 status=sent " "$log" ||
    t_fail "'$Q1: to=<second@mx.test> relay=lmtp ... status=sent'" "$(grep "$Q1: to=" "$log" | tr '\n' '|')"
grep -Eq "$Q1: to=<$U3@mx.test> relay=lmtp delay=[0-9]+ attempts=1 status=bounced reply=\"550 5\.1\.1 <$U3@mx.test> User doesn't exist" "$log" ||
    t_fail "'$Q1: to=<$U3@mx.test> relay=lmtp ... status=bounced' with Dovecot's reply" "$(grep "$Q1: to=" "$log" | tr '\n' '|')"
say "strictmail's log: $U1 and second sent by lmtp, $U3 bounced with Dovecot's reply"

# Dovecot's side: one session for t63one.
lg=$DOVECOT_LOG
sess=$(grep -E "msgid=<t63one@ext\.test>: saved mail to INBOX" "$lg" |
    sed -E 's/^.*lmtp\([^)]*\)(<[0-9]+><[^>:]+)[^>]*>.*$/\1/' | sort -u)
[ "$(grep -c "msgid=<t63one@ext\.test>: saved mail to INBOX" "$lg")" = 2 ] ||
    t_fail "two 'saved mail' lines for t63one in Dovecot's log" "$(grep 'saved mail' "$lg")"
for r in "$U1" "$U2"; do
	grep -Eq "lmtp\($r\)<[0-9]+><[^>]+>: Info: msgid=<t63one@ext\.test>: saved mail to INBOX" "$lg" ||
	    t_fail "'saved mail to INBOX' for $r in Dovecot's log" "$(cat "$lg")"
done
[ "$(echo "$sess" | wc -l)" = 1 ] ||
    t_fail "both saved in one LMTP session" "$sess"
# The first connection (up to its QUIT) holds both.
first=$(sed -n '0,/Disconnect from local: Logged out (state=READY)/p' "$lg")
if [ "$(grep -c 'Connect from local' <<<"$first")" != 1 ] ||
    [ "$(grep -c 'msgid=<t63one@ext\.test>: saved mail to INBOX' <<<"$first")" != 2 ]; then
	t_fail "one connection, ended by QUIT, that saved t63one for both users" "$first"
fi
say "Dovecot's log: t63one saved for both users in one session, $sess"

# The Maildirs: the message once each, with Dovecot's header fields.
for r in "$U1" "$U2"; do
	f=$(copies "$DV" "$r" t63one)
	[ "$(echo "$f" | grep -c .)" = 1 ] || t_fail "one copy of t63one in $r's Maildir" "$(find "$DV/mail/$r" -type f)"
	case $f in "$DV/mail/$r/new/"*) ;; *) t_fail "the copy in $r's new/" "$f" ;; esac
	head -n 1 "$f" | grep -qx "Return-Path: <$U2@mx.test>" ||
	    t_fail "$r's copy to start with Return-Path: <$U2@mx.test>" "$(head -n 1 "$f")"
	sed -n 2p "$f" | grep -qx 'Received: from mx.test' ||
	    t_fail "Dovecot's 'Received: from mx.test' (the LHLO name) as line 2 of $r's copy" "$(sed -n 2,4p "$f" | tr '\n' '|')"
	added=$(sed -n '2,/^Received: from client\.test/p' "$f" | sed '$d')
	for w in 'by dovecot.test with LMTP' "(envelope-from <$U2@mx.test>)"; do
		grep -qF -- "$w" <<<"$added" || t_fail "'$w' in Dovecot's Received: line of $r's copy" "$added"
	done
	grep -q '^Delivered-To:' "$f" && t_fail "no Delivered-To: (two recipients in the transaction)" "$(grep '^Delivered-To:' "$f")"
	[ "$(grep -c '^[^[:space:]]' <<<"$added")" = 1 ] ||
	    t_fail "one Received: added by Dovecot in $r's copy" "$added"
	grep -A1 '^Received: from client\.test' "$f" | grep -qx "	by mx\.test (strictmail) with ESMTP id $Q1;" ||
	    t_fail "strictmail's own Received: line (id $Q1) after Dovecot's in $r's copy" "$(grep -A1 '^Received:' "$f" | tr '\n' '|')"
	sed -n '/^From: /,$p' "$f" | cmp -s - <(tr -d '\r' < "$T_DIR/t63one.eml") ||
	    t_fail "$r's copy to hold the content as sent" "$(diff <(sed -n '/^From: /,$p' "$f") <(tr -d '\r' < "$T_DIR/t63one.eml"))"
done
[ ! -e "$DV/mail/$U3" ] || t_fail "no Maildir for $U3 (unknown to Dovecot)" "$(ls -R "$DV/mail/$U3")"
say "Maildirs of $U1 and $U2: t63one once, Return-Path and Received added by Dovecot, content intact"

# The DSN: from <>, to the sender, through Dovecot as well.
B1=$(sed -nE "s/^.*$Q1: bounce ([0-9A-F]+) for 1 recipients.*$/\1/p" "$log" | head -n 1)
gone "$B1"
wait_log "$B1: to=<$U2@mx.test> relay=lmtp .*status=sent " 10 ||
    t_fail "the DSN $B1 sent to $U2 by lmtp" "$(grep "$B1" "$log" | tr '\n' '|')"
dsn=$(grep -l -x 'Return-Path: <>' "$DV/mail/$U2/new"/* 2>/dev/null)
[ "$(echo "$dsn" | grep -c .)" = 1 ] || t_fail "one message from <> in $U2's Maildir" "$(grep -c . <<<"$dsn")"
"$PY" "$T_LIB/dsn_check.py" "$dsn" --rcpt "$U3@mx.test:failed:5.1.1" > "$T_DIR/dsn.out" 2>&1 ||
    t_fail "a correct DSN for $U3 (failed, 5.1.1)" "$(tr '\n' '|' < "$T_DIR/dsn.out")"
grep -q "User doesn't exist" "$dsn" || t_fail "Dovecot's reply text in the DSN" "$(grep -i diagnostic "$dsn")"
grep -Eq "^Diagnostic-Code: smtp; ?550 5\.1\.1" "$dsn" ||
    t_fail "Dovecot's reply as the DSN's Diagnostic-Code: smtp; 550 5.1.1 ..." "$(grep -i '^Diagnostic' "$dsn")"
! grep -qi "^Remote-MTA:" "$dsn" || t_fail "no Remote-MTA (a local delivery)" "$(grep -i '^Remote-MTA' "$dsn")"
grep -Eq "Final-Recipient: rfc822; *($U1|second)@" "$dsn" && t_fail "only $U3 in the DSN" "$(grep Final-Recipient "$dsn")"
[ "$(grep -c 'Connect from local' "$lg")" = 2 ] ||
    t_fail "two LMTP connections in all (t63one, then its DSN)" "$(grep -E 'Connect|saved mail|Disconnect' "$lg")"
say "DSN $B1 from <> for $U3 (5.1.1, Dovecot's text) delivered to the sender $U2 through Dovecot"

# ---- 2: Dovecot down: deferred, nothing lost; flushed once it is back
dovecot_stop || t_fail "Dovecot stopped" "$(dovecot_left)"
send "$U3@mx.test" "$U1@mx.test,second@mx.test" t63two
Q2=$QID
wait_log "$Q2: to=<second@mx.test> relay=lmtp .*status=deferred " 20 ||
    t_fail "'$Q2: to=<second@mx.test> ... status=deferred'" "$(grep "$Q2" "$log" | tr '\n' '|')"
wait_log "$Q2: to=<$U1@mx.test> relay=lmtp .*status=deferred " 5 ||
    t_fail "'$Q2: to=<$U1@mx.test> ... status=deferred'" "$(grep "$Q2" "$log" | tr '\n' '|')"
say "Dovecot down: $(grep -m1 "$Q2: to=<$U1@mx.test> relay=lmtp" "$log" | sed 's/^.*relay=/relay=/')"
envf=$(ls "$spool"/queue/*/"$Q2.env" 2>/dev/null)
[ -n "$envf" ] || t_fail "$Q2 still queued" "no envelope"
for r in "$U1@mx.test" second@mx.test; do
	awk -v r="rcpt pending <$r>" '$0 == r { getline; while ($1 ~ /^rcpt-/ && $1 != "rcpt-error") getline; print; exit }' "$envf" |
	    grep -qx "rcpt-error lmtp: connect to unix:$DOVECOT_SOCK: .*" ||
	    t_fail "$r pending in $Q2.env with its rcpt-error 'lmtp: connect to unix:$DOVECOT_SOCK: ...'" "$(grep '^rcpt' "$envf" | tr '\n' '|')"
done
sm_check "$spool" "$Q2" "$T_DIR/t63two.eml" > "$T_DIR/check.out" 2>&1 ||
    t_fail "$Q2 intact in the spool" "$(cat "$T_DIR/check.out")"
sleep 2
grep -Eq "$Q2: .*status=(sent|bounced)" "$log" && t_fail "no outcome but deferred for $Q2" "$(grep "$Q2" "$log" | tr '\n' '|')"
[ "$(grep -c "$Q2: to=<$U1@mx.test> relay=lmtp .*status=deferred" "$log")" = 1 ] ||
    t_fail "one attempt before the flush (retry-initial 1h)" "$(grep "$Q2: to=" "$log" | tr '\n' '|')"
say "$Q2 deferred: both recipients pending with their rcpt-error, the message intact"

mv "$DV" "$T_DIR/dovecot.1"
old=$T_DIR/dovecot.1
dovecot_start "$DV" "$U1" "$U2" ||
    t_fail "Dovecot to start again" "$(tail -n 5 "$DV/dovecot.log" 2>/dev/null)"
out=$("$ctl" -s "$T_DIR/control.sock" flush 2>&1) || t_fail "strictmailctl flush" "$out"
gone "$Q2"
for r in "$U1@mx.test" second@mx.test; do
	grep -Eq "$Q2: to=<$r> relay=lmtp delay=[0-9]+ attempts=2 status=sent " "$log" ||
	    t_fail "'$Q2: to=<$r> relay=lmtp ... attempts=2 status=sent'" "$(grep "$Q2: to=" "$log" | tr '\n' '|')"
	[ "$(grep -Ec "$Q2: to=<$r> relay=.*status=sent" "$log")" = 1 ] ||
	    t_fail "one status=sent for $r" "$(grep "$Q2: to=<$r>" "$log" | tr '\n' '|')"
done
for r in "$U1" "$U2"; do
	[ "$(copies "$DV" "$r" t63two | grep -c .)" = 1 ] ||
	    t_fail "t63two once in $r's Maildir" "$(copies "$DV" "$r" t63two | grep -c .)"
	[ -z "$(copies "$old" "$r" t63two)" ] || t_fail "no t63two in the stopped Dovecot's Maildir" "$(copies "$old" "$r" t63two)"
done
[ "$(grep -c 'msgid=<t63two@ext\.test>: saved mail to INBOX' "$DOVECOT_LOG")" = 2 ] ||
    t_fail "two 'saved mail' lines for t63two in Dovecot's log" "$(grep 'saved mail' "$DOVECOT_LOG")"
say "Dovecot back, strictmailctl flush: $Q2 delivered once to $U1 and $U2"

# ---- 3: nothing in the homes or mbox-dir
w=$(find "$T_DIR/home" -mindepth 2 | head -n 5)
[ -z "$w" ] || t_fail "nothing written into the users' homes (lmtp mode)" "$w"
w=$(find "$T_DIR/mail" -mindepth 1 | head -n 5)
[ -z "$w" ] || t_fail "nothing written into mbox-dir (lmtp mode)" "$w"
say "the homes and mbox-dir are untouched"
bad=$(grep -E 'Error|Fatal|Panic' "$old/dovecot.log" "$DOVECOT_LOG")
[ -z "$bad" ] || t_fail "no error in Dovecot's logs" "$bad"

sm_stop "$SM_PID" || t_fail "a clean stop" "had to kill it"
dovecot_stop || t_fail "nothing of Dovecot left" "$(dovecot_left)"
t_pass
