#!/usr/bin/env bash
# t-65-sendmail: strictmailctl run as sendmail(8), without a running
# daemon: what lands in SPOOL/maildrop/ and what is refused.
#  - as root (direct write): -t -oi -F, the head lines, CRLF content,
#    Date/Message-ID/From added, Bcc removed, -t and command-line
#    recipients, the file owned by root, mode 0644;
#  - refusals with their exit code and message, nothing left in
#    maildrop/: -f with a newline (64), -F with CR/LF (64), 1001
#    recipients (64), NUL on stdin (65), a too-large message (65), no
#    recipients (65 with -t, 64 without), an unknown option (64);
#  - as an ordinary user through a setgid copy of strictmail-postdrop
#    (built with this test's configuration path): the file owned by the
#    user, From the user's address; -bs with two messages;
#  - the helper with a hostile environment (LD_PRELOAD, HOME, TMPDIR,
#    PATH, IFS) writes its one file and nothing else; privileged, it
#    refuses every argument (-C too); input that is not a maildrop file
#    is refused with nothing left behind; unprivileged it takes -C.
. "$(dirname "$0")/lib.sh"
t_init
t_need cc setpriv groupadd groupdel findmnt

CTL=$SM_TOP/build/strictmailctl
PD=$SM_TOP/build/strictmail-postdrop
[ -x "$CTL" ] && [ -x "$PD" ] ||
    t_fail "the plain build of strictmailctl and strictmail-postdrop (make all)" "none"

GRP=smdrop$$
USR=smsend$$
CREATED_GROUP=0
t65_cleanup() {
	[ "$CREATED_GROUP" = 1 ] && groupdel "$GRP" 2>/dev/null
	t_cleanup
}
trap 't65_cleanup 2>/dev/null' EXIT
getent group "$GRP" >/dev/null || { groupadd "$GRP" && CREATED_GROUP=1; } ||
    t_fail "groupadd $GRP" "an error"

SPOOL=$T_DIR/spool
MD=$SPOOL/maildrop
mkdir -p "$SPOOL" && chmod 0755 "$SPOOL"
mkdir "$MD" && chown "root:$GRP" "$MD" && chmod 1730 "$MD"
CONF=$T_DIR/strictmail.conf
cat > "$CONF" <<EOF
spool $SPOOL
hostname mx.example.org
listen 127.0.0.1 2525 smtp
max-message-size 64K
postdrop $T_DIR/postdrop
EOF
chmod 0644 "$CONF"
ln -s "$CTL" "$T_DIR/sendmail"
SM=$T_DIR/sendmail

# A setgid copy of the helper whose compiled-in configuration is $CONF.
cc -std=c11 -D_GNU_SOURCE -I"$SM_TOP" -DSM_SYSCONFDIR="\"$T_DIR\"" \
    -o "$T_DIR/postdrop" "$SM_TOP/ctl/postdrop.c" "$SM_TOP/build/libstrictmail.a" \
    -lmbedtls -lmbedx509 -lmbedcrypto -lcares -lcurl -ldb -lidn2 -lpthread -lcrypt \
    > "$T_DIR/cc.log" 2>&1 || t_fail "the test helper to build" "$(head -n 5 "$T_DIR/cc.log")"
chown "root:$GRP" "$T_DIR/postdrop" && chmod 2755 "$T_DIR/postdrop"

count() { find "$MD" -mindepth 1 | wc -l; }
newest() { ls -t "$MD"/m* 2>/dev/null | head -n 1; }

# expect_refusal RC STDERR-TEXT STDIN-FILE ARGS...: sendmail exits RC,
# says STDERR-TEXT, and maildrop/ does not change.
expect_refusal() {
	local want=$1 text=$2 in=$3 before rc out
	shift 3
	before=$(count)
	out=$("$SM" -C "$CONF" "$@" < "$in" 2>&1 >/dev/null); rc=$?
	[ "$rc" = "$want" ] || t_fail "exit $want for sendmail $*" "exit $rc: $out"
	case $out in "sendmail: "*"$text"*) ;; *)
		t_fail "'sendmail: ...$text...' for sendmail $*" "$out" ;; esac
	[ "$(count)" = "$before" ] || t_fail "nothing new in maildrop/ after sendmail $*" "$(ls -l "$MD")"
}

# ---- as root: the file written directly
printf 'Subject: hello\nTo: Ann <ann@example.org>, bob@example.org\nCc: carl@example.net\nBcc: dora@example.com\n\nline one\n.\nlast line without newline' > "$T_DIR/msg1"
out=$("$SM" -C "$CONF" -t -oi -F "Joe Root" extra@example.org < "$T_DIR/msg1" 2>&1) ||
    t_fail "sendmail -t -oi as root to exit 0" "exit $?: $out"
[ "$(count)" = 1 ] || t_fail "one file in maildrop/" "$(ls -l "$MD")"
f=$(newest)
[ "$(stat -c '%U %a' "$f")" = "root 644" ] || t_fail "the file root's, mode 644" "$(stat -c '%U %a' "$f")"
head=$(sed -n '1,/^data$/p' "$f")
want='strictmail-maildrop 1
rcpt extra@example.org
rcpt ann@example.org
rcpt bob@example.org
rcpt carl@example.net
rcpt dora@example.com
size '
[ "${head%size *}size " = "$want" ] || t_fail "the head lines $want" "$head"
body=$(sed '1,/^data$/d' "$f")
size=$(printf '%s' "$head" | sed -n 's/^size //p')
[ "$(sed '1,/^data$/d' "$f" | wc -c)" = "$size" ] || t_fail "size $size octets of content" "$(sed '1,/^data$/d' "$f" | wc -c)"
printf '%s' "$body" | grep -q $'^Date: .*\r$' || t_fail "a Date header added" "$body"
printf '%s' "$body" | grep -q $'^Message-ID: <.*@mx.example.org>\r$' || t_fail "a Message-ID added" "$body"
printf '%s' "$body" | grep -q $'^From: Joe Root <root@mx.example.org>\r$' || t_fail "From: Joe Root <root@mx.example.org>" "$body"
printf '%s' "$body" | grep -qi '^Bcc' && t_fail "no Bcc header" "$body"
printf '%s' "$body" | grep -q $'^\\.\r$' || t_fail "the lone dot kept with -oi" "$body"
[ "$(sed '1,/^data$/d' "$f" | grep -vc $'\r$')" = 0 ] || t_fail "every line CRLF" "$(sed '1,/^data$/d' "$f" | cat -A)"
[ "$(tail -c 2 "$f" | od -An -c | tr -d ' ')" = '\r\n' ] || t_fail "the last line ended with CRLF" "$(tail -c 10 "$f" | od -c)"
say "root: one file, head and content as expected"

# ---- refusals
printf 'Subject: x\n\nx\n' > "$T_DIR/plain"
expect_refusal 64 "the sender (-f) holds a control character (0x0a)" "$T_DIR/plain" -f $'evil@example.org\nrcpt x@y' a@example.org
expect_refusal 64 "the full name (-F) holds a control character (0x0d)" "$T_DIR/plain" -F $'Joe\r\nBcc: x@y' a@example.org
expect_refusal 64 "may not start with '-'" "$T_DIR/plain" -f -oQ/tmp a@example.org
rcpts=(); for i in $(seq 1 1001); do rcpts+=("r$i@example.org"); done
expect_refusal 64 "too many recipients (1001, at most 1000)" "$T_DIR/plain" "${rcpts[@]}"
printf 'Subject: x\n\nbin\0ary\n' > "$T_DIR/nul"
expect_refusal 65 "NUL" "$T_DIR/nul" a@example.org
head -c 200000 /dev/zero | tr '\0' 'a' | fold -w 70 > "$T_DIR/big"
expect_refusal 65 "too large" "$T_DIR/big" a@example.org
printf 'Subject: none\n\nx\n' > "$T_DIR/nordcpt"
expect_refusal 65 "no recipients found" "$T_DIR/nordcpt" -t
expect_refusal 64 "no recipients given" "$T_DIR/plain"
expect_refusal 64 "unknown option -X" "$T_DIR/plain" -X /tmp/log a@example.org
expect_refusal 64 "bad recipient address" "$T_DIR/plain" 'a b@@example.org'
out=$("$SM" -C "$CONF" -bp 2>&1); rc=$?
[ "$rc" = 69 ] && [[ $out == *"not running"* ]] || t_fail "-bp without a daemon: exit 69, not running" "exit $rc: $out"
say "refusals: exit codes and messages, nothing queued"

# ---- the privileged helper: no arguments, no environment
if findmnt -n -o OPTIONS --target "$T_DIR" | tr ',' '\n' | grep -qx nosuid; then
	t_skip "$T_DIR is on a nosuid mount: the setgid helper cannot be tested there"
fi
t_user_add "$USR" "$T_DIR/home" || t_fail "useradd $USR" "an error"
uid=$(id -u "$USR"); gid=$(id -g "$USR")
asuser() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; }

rm -f "$MD"/m*
mkdir -p "$T_DIR/evil" && chmod 0777 "$T_DIR/evil"
cat > "$T_DIR/evil.c" <<EOF
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void)
{
	int fd = open("$T_DIR/evil/preloaded", O_CREAT | O_WRONLY, 0666);
	if (fd >= 0) close(fd);
}
EOF
cc -shared -fPIC -o "$T_DIR/evil.so" "$T_DIR/evil.c" || t_fail "evil.so to build" "an error"
chmod 0755 "$T_DIR/evil.so"
printf 'strictmail-maildrop 1\nrcpt root\nsize 4\ndata\nx\r\n\r\n' > "$T_DIR/drop1"
chmod 0644 "$T_DIR/drop1"
snap() { find "$T_DIR" -path "$MD" -prune -o -printf '%p %s %m %U\n' | sort; }
before=$(snap)
out=$(cd "$T_DIR/evil" && asuser env -i LD_PRELOAD="$T_DIR/evil.so" HOME=/nonexistent \
    TMPDIR="$T_DIR/evil" PATH="$T_DIR/evil" IFS=x "$T_DIR/postdrop" < "$T_DIR/drop1" 2>&1) ||
    t_fail "the helper with a hostile environment to exit 0" "exit $?: $out"
[ -e "$T_DIR/evil/preloaded" ] && t_fail "LD_PRELOAD ignored by the setgid helper" "the preload ran"
[ "$(snap)" = "$before" ] || t_fail "nothing changed outside maildrop/" "$(diff <(echo "$before") <(snap))"
[ "$(count)" = 1 ] || t_fail "one file in maildrop/" "$(ls -l "$MD")"
f=$(newest)
[ "$(stat -c '%u' "$f")" = "$uid" ] || t_fail "the helper's file owned by $USR" "$(stat -c '%U' "$f")"
cmp -s "$f" "$T_DIR/drop1" || t_fail "the file as given" "$(cat -A "$f")"
for args in "-C $T_DIR/other.conf" "x" "-C"; do
	# shellcheck disable=SC2086
	out=$(asuser "$T_DIR/postdrop" $args < "$T_DIR/drop1" 2>&1); rc=$?
	[ "$rc" = 64 ] || t_fail "the privileged helper to refuse '$args' (64)" "exit $rc: $out"
done
out=$(echo 'hello world' | asuser "$T_DIR/postdrop" 2>&1); rc=$?
[ "$rc" = 65 ] && [[ $out == *"not a maildrop file"* ]] || t_fail "non-maildrop input refused (65)" "exit $rc: $out"
[ "$(count)" = 1 ] || t_fail "nothing left by the refused runs" "$(ls -l "$MD")"
# Unprivileged (no setgid bit), the plain build takes -C.
out=$("$PD" -C "$CONF" < "$T_DIR/drop1" 2>&1) || t_fail "the unprivileged helper with -C to exit 0" "exit $?: $out"
[ "$(count)" = 2 ] || t_fail "its file in maildrop/" "$(ls -l "$MD")"
rm -f "$MD"/m*
say "helper: hostile environment ignored, arguments refused when privileged"

# ---- as an ordinary user, through the helper
out=$(asuser "$SM" -C "$CONF" -t < "$T_DIR/msg1" 2>&1) || t_fail "sendmail as $USR to exit 0" "exit $?: $out"
[ "$(count)" = 1 ] || t_fail "one file in maildrop/ from $USR" "$(ls -l "$MD")"
f=$(newest)
[ "$(stat -c '%u' "$f")" = "$uid" ] || t_fail "the file owned by $USR" "$(stat -c '%U' "$f")"
grep -q "^From: $USR@mx.example.org"$'\r$' "$f" || t_fail "From: $USR@mx.example.org" "$(cat "$f")"
grep -qx 'rcpt dora@example.com' "$f" || t_fail "the Bcc recipient in the head" "$(cat "$f")"
# as the user the folder cannot be listed or written without the helper
asuser ls "$MD" >/dev/null 2>&1 && t_fail "maildrop/ not listable by $USR" "listed"
before=$(count)
out=$(asuser "$SM" -C "$CONF" -f $'a@b\nx' root < "$T_DIR/plain" 2>&1); rc=$?
[ "$rc" = 64 ] && [ "$(count)" = "$before" ] || t_fail "-f with a newline refused for $USR too" "exit $rc: $out"
rm -f "$MD"/m*
say "user: queued through the helper, owned by the user"

# ---- -bs: two messages
out=$(printf 'EHLO client\r\nMAIL FROM:<%s@example.org>\r\nRCPT TO:<one@example.org>\r\nDATA\r\nSubject: first\r\n\r\n..dotted\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<two@example.org>\r\nRCPT TO:<three@example.org>\r\nDATA\r\nSubject: second\r\n\r\nbody\r\n.\r\nVRFY x\r\nQUIT\r\n' "$USR" |
    asuser "$SM" -C "$CONF" -bs 2>"$T_DIR/bs.err"); rc=$?
[ "$rc" = 0 ] || t_fail "-bs to exit 0" "exit $rc: $(cat "$T_DIR/bs.err")"
codes=$(printf '%s' "$out" | tr -d '\r' | sed -n 's/^\([0-9][0-9][0-9]\)[ -].*/\1/p' | xargs)
[ "$codes" = "220 250 250 250 250 250 250 354 250 250 250 250 354 250 252 221" ] ||
    t_fail "the -bs replies: 220, EHLO 250x4, 250, 250, 354, 250 queued, 250 250 250, 354, 250 queued, 252, 221" "$codes / $out"
[ "$(count)" = 2 ] || t_fail "two files from -bs" "$(ls -l "$MD")"
f1=$(grep -l 'Subject: first' "$MD"/m*); f2=$(grep -l 'Subject: second' "$MD"/m*)
grep -qx "sender $USR@example.org" "$f1" && grep -q $'^\\.dotted\r$' "$f1" ||
    t_fail "the first message: its sender and the dot undone" "$(cat -A "$f1")"
grep -qx 'sender <>' "$f2" && grep -qx 'rcpt two@example.org' "$f2" && grep -qx 'rcpt three@example.org' "$f2" ||
    t_fail "the second message: null sender, two recipients" "$(cat "$f2")"
say "-bs: two messages, two files"

t_pass
