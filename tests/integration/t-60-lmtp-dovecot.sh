#!/bin/bash
# t-60-lmtp-dovecot: the LMTP client of local delivery (delivery/lmtp.c,
# through tests/tools/lmtp-send) against a real Dovecot LMTP server
# (tests/integration/lib-dovecot.sh), and mail(1) reading an mbox without
# touching the system's files.
#  - Dovecot with the users alice and bob; one message, 8-bit, with a line
#    that starts with a dot, for alice, nobody (unknown) and bob, sent by
#    an unprivileged process: alice and bob ok (2.0.0 Saved), nobody 5.1.1;
#  - each of the two Maildirs holds exactly that message in new/: the
#    header fields Dovecot adds (Return-Path: <sender>, its Received: line
#    naming the LHLO name, "with LMTP" and the envelope sender; with two
#    recipients no Delivered-To: and no "for <rcpt>"), each once, then the
#    content exactly as sent (CRLF as LF, the dot unstuffed); nothing for
#    nobody;
#  - the same message for alice alone: Dovecot adds Delivered-To: <RCPT>
#    and "for <RCPT>" too (one recipient in the transaction);
#  - Dovecot's log shows the session (connect, one "saved mail to INBOX"
#    per user, the client's QUIT) and no error or warning; Dovecot listens
#    on no TCP port; stopped by PID, nothing of it is left;
#  - mailx_read_mbox lists the messages of a hand-written mbox and prints
#    one, leaving the file as it was.
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC1091
. "$T_LIB/lib-dovecot.sh"

[ "$(id -u)" -eq 0 ] || t_skip "needs root (Dovecot's mount namespace, user ids)"
t_init
t_need_private dovecot-core usr/sbin/dovecot usr/lib/dovecot/lmtp
t_need_private bsd-mailx usr/bin/bsd-mailx
SEND=$(dirname "$SM_BIN")/tests/tools/lmtp-send
[ -x "$SEND" ] || t_fail "an executable lmtp-send at $SEND" "none (run make / make asan)"

dovecot_start "$T_DIR/dovecot" alice bob ||
    t_fail "Dovecot to start" "$(tail -n 5 "$T_DIR/dovecot/dovecot.log" 2>/dev/null)"
say "Dovecot $(cat "$(priv_root dovecot-core)/.version") up, pid $DOVECOT_PID"
l=$(dovecot_tcp_listeners)
[ -z "$l" ] || t_fail "Dovecot to listen on no TCP port" "$l"

# The content as the queue holds it: CRLF lines, our Received: first.
msg=$T_DIR/msg
printf '%s\r\n' \
    'Received: from client.example (client.example [192.0.2.1])' \
    '	by mx.strictmail.test with ESMTP id T60; Wed, 2 Dec 2026 07:00:00 +0000' \
    'From: Sender <sender@ext.test>' \
    'To: alice@local.test, bob@local.test' \
    'Subject: t-60 caf'$'\xc3\xa9' \
    'Message-ID: <t60.1@ext.test>' \
    'Date: Wed, 2 Dec 2026 07:00:00 +0000' \
    '' \
    'First line.' \
    '.a line that starts with a dot' \
    '..two dots' \
    'Last line.' > "$msg"
chmod 0644 "$msg"

# As a normal user, as the local delivery child would be.
out=$(ip netns exec "$T_NS" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$SEND" -f sender@ext.test -H mx.strictmail.test -t 10 "unix:$DOVECOT_SOCK" "$msg" \
    alice@local.test nobody@local.test bob@local.test 2>&1) ||
    t_fail "lmtp-send to run" "exit $?: $out"
say "lmtp-send: $(echo "$out" | tr '\n' '|')"
[ "$(echo "$out" | wc -l)" = 3 ] || t_fail "three result lines" "$out"
echo "$out" | sed -n 1p | grep -Eq '^alice@local\.test ok 2\.0\.0 250 2\.0\.0 <alice@local\.test> [^ ]+ Saved$' ||
    t_fail "alice: ok 2.0.0 ... Saved" "$(echo "$out" | sed -n 1p)"
echo "$out" | sed -n 2p | grep -Eq "^nobody@local\.test perm 5\.1\.1 550 5\.1\.1 <nobody@local\.test> User doesn't exist" ||
    t_fail "nobody: perm 5.1.1 User doesn't exist" "$(echo "$out" | sed -n 2p)"
echo "$out" | sed -n 3p | grep -Eq '^bob@local\.test ok 2\.0\.0 250 2\.0\.0 <bob@local\.test> [^ ]+ Saved$' ||
    t_fail "bob: ok 2.0.0 ... Saved" "$(echo "$out" | sed -n 3p)"

# The Maildirs.
expected=$T_DIR/expected
# (the queue holds it unstuffed: the dots went stuffed on the wire)
tr -d '\r' < "$msg" > "$expected"
m=$T_DIR/dovecot/mail
[ "$(ls "$m")" = "$(printf 'alice\nbob')" ] || t_fail "mailboxes of alice and bob only" "$(ls "$m")"

# check_copy FILE USER RCPT: Dovecot's header fields (Delivered-To: RCPT
# and "for <RCPT>" when RCPT is given), then the content exactly as sent.
check_copy() {
	local f=$1 u=$2 rcpt=$3 uid added w n
	uid=$(awk -F: -v u="$u" '$1 == u { print $3 }' "$T_DIR/dovecot/users")
	[ "$(stat -c %u "$f")" = "$uid" ] || t_fail "$u's message owned by $u's uid $uid" "$(stat -c %u "$f")"
	head -n 1 "$f" | grep -qx 'Return-Path: <sender@ext.test>' ||
	    t_fail "$u's message to start with Return-Path: <sender@ext.test>" "$(head -n 1 "$f")"
	added=$(sed -n '2,/^Received: from client\.example/p' "$f" | sed '$d')
	if [ -n "$rcpt" ]; then
		printf '%s\n' "$added" | head -n 1 | grep -qx "Delivered-To: $rcpt" ||
		    t_fail "Delivered-To: $rcpt second in $u's copy" "$added"
		added=$(printf '%s\n' "$added" | sed 1d)
	fi
	printf '%s\n' "$added" | head -n 1 | grep -qx 'Received: from mx.strictmail.test' ||
	    t_fail "Dovecot's Received: from the LHLO name in $u's copy" "$added"
	for w in 'by dovecot.test with LMTP' '(envelope-from <sender@ext.test>)'; do
		printf '%s\n' "$added" | grep -qF -- "$w" ||
		    t_fail "'$w' in Dovecot's Received: line" "$added"
	done
	n=$(printf '%s\n' "$added" | grep -c "for <$rcpt>;")
	if [ -n "$rcpt" ]; then
		[ "$n" = 1 ] || t_fail "'for <$rcpt>' in Dovecot's Received: line" "$added"
	else
		printf '%s\n' "$added" | grep -q ' for <' &&
		    t_fail "no 'for <...>' in Dovecot's Received: line (several recipients)" "$added"
	fi
	[ "$(printf '%s\n' "$added" | grep -c '^[^[:space:]]')" = 1 ] ||
	    t_fail "one Received: added by Dovecot in $u's copy" "$added"
	[ "$(grep -c '^Return-Path:' "$f")" = 1 ] || t_fail "one Return-Path: in $u's copy" "$(grep '^Return-Path:' "$f")"
	[ "$(grep -c '^Delivered-To:' "$f")" = "$([ -n "$rcpt" ] && echo 1 || echo 0)" ] ||
	    t_fail "Delivered-To: ${rcpt:-none} in $u's copy" "$(grep '^Delivered-To:' "$f")"
	sed -n '/^Received: from client\.example/,$p' "$f" | cmp -s - "$expected" ||
	    t_fail "$u's message to hold the content as sent" "$(diff <(sed -n '/^Received: from client\.example/,$p' "$f") "$expected")"
}

# Several recipients in one transaction: Dovecot adds no Delivered-To.
for u in alice bob; do
	n=$(find "$m/$u" -path "$m/$u/new/*" -type f | wc -l)
	[ "$n" = 1 ] || t_fail "one message in $u's new/" "$n: $(find "$m/$u" -type f)"
	others=$(find "$m/$u/tmp" "$m/$u/cur" -type f 2>/dev/null)
	[ -z "$others" ] || t_fail "nothing in $u's tmp/ and cur/" "$others"
	check_copy "$(ls "$m/$u/new"/*)" "$u" ""
done
say "alice and bob: one message each, Return-Path and Received added by Dovecot (no Delivered-To: two recipients), content intact"
say "what Dovecot added for bob: $(sed -n '1,/^Received: from client\.example/p' "$m/bob/new/"* | sed '$d' | tr '\n\t' '| ')"

# One recipient: Dovecot adds Delivered-To: and "for <rcpt>" too.
first=$(ls "$m/alice/new")
out=$(ip netns exec "$T_NS" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$SEND" -f sender@ext.test -H mx.strictmail.test -t 10 "unix:$DOVECOT_SOCK" "$msg" \
    alice@local.test 2>&1) || t_fail "lmtp-send to run" "exit $?: $out"
echo "$out" | grep -Eqx 'alice@local\.test ok 2\.0\.0 250 2\.0\.0 <alice@local\.test> [^ ]+ Saved' ||
    t_fail "alice: ok 2.0.0 ... Saved" "$out"
second=$(find "$m/alice/new" -type f ! -name "$first" -printf '%f\n')
[ "$(echo "$second" | grep -c .)" = 1 ] || t_fail "a second message for alice" "$(ls "$m/alice/new")"
check_copy "$m/alice/new/$second" alice alice@local.test
[ "$(ls "$m/bob/new" | wc -l)" = 1 ] || t_fail "still one message for bob" "$(ls "$m/bob/new")"
say "alice alone: Return-Path, Delivered-To: alice@local.test, Received ... for <alice@local.test> added by Dovecot"

# The log: the session, nothing wrong.
lg=$DOVECOT_LOG
grep -q 'lmtp([0-9]*): Info: Connect from local' "$lg" || t_fail "the connection in Dovecot's log" "$(cat "$lg")"
for u in alice bob; do
	grep -Eq "lmtp\($u\)<[0-9]+><[^>]+>: Info: msgid=<t60\.1@ext\.test>: saved mail to INBOX" "$lg" ||
	    t_fail "\"saved mail to INBOX\" for $u in Dovecot's log" "$(cat "$lg")"
done
grep -q 'Info: Disconnect from local: Logged out (state=READY)' "$lg" ||
    t_fail "the client's QUIT in Dovecot's log" "$(cat "$lg")"
bad=$(grep -E 'Error|Fatal|Panic|Warning' "$lg")
[ -z "$bad" ] || t_fail "no error or warning in Dovecot's log" "$bad"
[ "$(grep -c 'saved mail to' "$lg")" = 3 ] || t_fail "three deliveries in the log" "$(grep 'saved mail' "$lg")"
[ "$(grep -c 'Disconnect from local: Logged out (state=READY)' "$lg")" = 2 ] || t_fail "two sessions ended by QUIT" "$(grep 'Disconnect' "$lg")"
say "log: connect, saved for alice and bob (then alice), quit"

l=$(dovecot_tcp_listeners)
[ -z "$l" ] || t_fail "Dovecot to listen on no TCP port" "$l"
dovecot_stop || t_fail "nothing of Dovecot left after dovecot_stop" "$(dovecot_left)"
grep -q 'master: Warning: Killed with signal 15' "$lg" || t_fail "Dovecot to stop on SIGTERM" "$(tail -n 3 "$lg")"

# mail(1) on an mbox written by hand.
mb=$T_DIR/mbox
cat > "$mb" <<'EOF'
From alice@example.org Wed Dec  2 07:00:00 2026
Return-Path: <alice@example.org>
From: Alice <alice@example.org>
To: bob@example.org
Subject: first message
Date: Wed, 2 Dec 2026 07:00:00 +0000

Hello Bob.
>From the start.

From carol@example.org Wed Dec  2 07:05:00 2026
From: carol@example.org
Subject: second one

Body two.

EOF
touch -d '2026-01-01 00:00:00' "$mb"
before=$(stat -c '%s %Y %Z' "$mb")$(md5sum < "$mb")
list=$(mailx_read_mbox "$mb") || t_fail "mailx_read_mbox to run" "$list"
say "mailx_read_mbox: $(echo "$list" | tr '\n' '|')"
echo "$list" | grep -qx "\"$mb\": 2 messages 2 new" || t_fail "2 messages in the mbox" "$list"
echo "$list" | grep -Eq '^>N  1 alice@example\.org +Wed Dec  2 07:00 +[0-9]+/[0-9]+ +first message$' ||
    t_fail "message 1 from alice, first message" "$list"
echo "$list" | grep -Eq '^ N  2 carol@example\.org +Wed Dec  2 07:05 +[0-9]+/[0-9]+ +second one$' ||
    t_fail "message 2 from carol, second one" "$list"
one=$(mailx_read_mbox "$mb" 1) || t_fail "mailx_read_mbox FILE 1 to run" "$one"
echo "$one" | grep -qx '>From the start.' && echo "$one" | grep -qx 'Subject: first message' ||
    t_fail "message 1's text" "$one"
after=$(stat -c '%s %Y %Z' "$mb")$(md5sum < "$mb")
[ "$before" = "$after" ] || t_fail "the mbox unchanged by mail" "$before -> $after"
ls -A "$T_DIR" | grep -q '^mbox\.lock$' && t_fail "no lock file left" "$(ls -A "$T_DIR")"
say "mail -f: the list and a message, the mbox unchanged"
t_pass
