#!/bin/bash
# t-68-programs: real programs send mail through strictmail's sendmail.
# In a mount namespace of their own (lib-submit.sh), /usr/sbin/sendmail,
# mailq and newaliases are strictmailctl and the setgid helper
# strictmail-postdrop is in its place; the host's files are never written.
# An ordinary user U1 (full name "Ada Lovelace") sends to U2 with:
#   - mail(1) from bsd-mailx (private tree of tests/deps.sh);
#   - a cron-style "sendmail -t -oi" with the headers on stdin;
#   - git send-email with --sendmail-cmd (a real patch from a real repo);
#   - PHP's mail() (php8.2-cli, private tree), with its built-in sendmail_path
#     "/usr/sbin/sendmail -t -i";
#   - sendmail while strictmaild is stopped: the message waits in
#     maildrop/ and is delivered after the start.
# For each, U2's mbox (the receiving side) holds the message, with a
# Received header naming U1's uid, a From with U1's address, and no Bcc;
# mailq as U1 lists only U1's own messages.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-submit.sh"
t_init
[ "$SM_PRIV" = 1 ] || t_skip "checked with SM_PRIV=1 only: users submit through the setgid helper into a spool owned by the queue user"
t_need_private php8.2-cli usr/bin/php8.2
t_need git
[ -x "$(git --exec-path)/git-send-email" ] ||
    t_fail "git send-email (package git-email) installed" "none: run sh tests/deps.sh as root"
t_need_private bsd-mailx usr/bin/bsd-mailx

U1=smt68a$$ U2=smt68b$$
mkdir -p "$T_DIR/home" "$T_DIR/mail"
chmod 0755 "$T_DIR/home"
chmod 1777 "$T_DIR/mail"
for u in $U1 $U2; do
	t_user_add "$u" "$T_DIR/home/$u" || t_fail "useradd $u" "an error"
	mkdir -p "$T_DIR/home/$u"
	chown "$u:" "$T_DIR/home/$u"
	chmod 0700 "$T_DIR/home/$u"
done
usermod -c "Ada Lovelace,,," "$U1" || t_fail "usermod -c" "an error"
uid1=$(id -u "$U1")
trap 'submit_cleanup; t_cleanup 2>/dev/null' EXIT

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
: > "$T_DIR/aliases"
# -f is restricted by a sender-login-map: U1 may send as its own
# address and as ada@example.org, nothing else.
printf '%s %s\n' "$U1@mx.test" "$U1" "ada@example.org" "$U1" > "$T_DIR/senders"
"$SM_TOP/build-asan/strictmailctl" makemap -t senders "$T_DIR/senders" > "$T_DIR/makemap.out" 2>&1 ||
    t_fail "makemap -t senders" "$(cat "$T_DIR/makemap.out")"
chmod 0644 "$T_DIR/senders.db"
sm_config "$conf" "$spool" "retry-initial 1h" "sender-login-map $T_DIR/senders"
submit_setup "$conf"
mb=$T_DIR/mail/$U2
# The spool is laid out by a first start (as make install would).
sm_start_ready "$conf" "$log"
sm_stop "$SM_PID" || t_fail "strictmaild to stop" "it did not"

# count SUBJECT: messages with this Subject in U2's mbox.
count() {
	grep -cxF "Subject: $1" "$mb" 2>/dev/null || true
}
# arrives SUBJECT: it is in U2's mbox within 20 s.
arrives() {
	local i
	for i in $(seq 1 200); do
		[ "$(count "$1")" -ge 1 ] && return 0
		sleep 0.1
	done
	t_fail "'$1' in $U2's mbox within 20 s" \
	    "$(ls "$spool/maildrop" 2>&1 | head -n 3 | tr '\n' ' '); log: $(tail -n 5 "$log" | tr '\n' '|')"
}
# message SUBJECT: prints that message of U2's mbox (From_ line to the next).
message() {
	awk -v s="Subject: $1" '/^From /{ if (found) exit; buf="" }
	    { buf = buf $0 "\n" } $0 == s { found = 1 }
	    END { if (found) printf "%s", buf }' "$mb"
}
# sent_by_u1 SUBJECT: the message came through the maildrop from U1.
sent_by_u1() {
	local m
	m=$(message "$1")
	[ -n "$m" ] || t_fail "the message '$1' in $U2's mbox" "none"
	grep -Eq "^Received: from $U1 \(uid $uid1\)" <<<"$m" ||
	    t_fail "'$1' with 'Received: from $U1 (uid $uid1)'" "$(grep -A2 '^Received:' <<<"$m" | head -n 3 | tr '\n' '|')"
	grep -iq "^From: .*$U1@mx.test" <<<"$m" ||
	    t_fail "'$1' From: with $U1@mx.test" "$(grep -i '^From:' <<<"$m")"
	if grep -iq '^Bcc:' <<<"$m"; then t_fail "no Bcc in '$1'" "$(grep -i '^Bcc:' <<<"$m")"; fi
}

# 1. While strictmaild is stopped: the message waits in maildrop.
printf 'To: %s@mx.test\nSubject: while-stopped\n\nqueued before the start\n' "$U2" |
    submit_as "$U1" sendmail -t -oi > "$T_DIR/stopped.out" 2>&1 ||
    t_fail "sendmail -t -oi to work with strictmaild stopped" "$(cat "$T_DIR/stopped.out")"
n=$(find "$spool/maildrop" -type f -name 'm*' | wc -l)
[ "$n" = 1 ] || t_fail "one file waiting in maildrop/" "$n"
[ "$(stat -c %u "$(find "$spool/maildrop" -type f -name 'm*')")" = "$uid1" ] ||
    t_fail "the maildrop file owned by $U1" "uid $(stat -c %u "$(find "$spool/maildrop" -type f -name 'm*')")"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"
arrives while-stopped
sent_by_u1 while-stopped
say "sendmail with strictmaild stopped: waited in maildrop/, delivered after the start"

# 2. cron-style: headers on stdin, -t -oi, a Bcc recipient.
printf 'To: root-is-not-here@nowhere.invalid\nSubject: cron-job\n\n/etc/cron.daily/x:\n.\nnot the end\n' |
    sed "s/^To: .*/To: $U2@mx.test\nBcc: $U2+bcc@mx.test/" |
    submit_as "$U1" /usr/sbin/sendmail -t -oi > "$T_DIR/cron.out" 2>&1 ||
    t_fail "cron's sendmail -t -oi to work" "$(cat "$T_DIR/cron.out")"
arrives cron-job
sent_by_u1 cron-job
message cron-job | grep -qx 'not the end' ||
    t_fail "-oi: a line '.' does not end the message" "$(message cron-job | tail -n 4 | tr '\n' '|')"
message cron-job | grep -q '^From: "\?Ada Lovelace"\? <' ||
    t_fail "an added From with the full name from passwd" "$(message cron-job | grep '^From:')"
for h in Date Message-ID; do
	message cron-job | grep -qi "^$h: " || t_fail "an added $h header" "none"
done
say "cron-style sendmail -t -oi: delivered, Bcc gone, From/Date/Message-ID added"

# 3. mail(1) from bsd-mailx.
SUBMIT_TREES=bsd-mailx submit_as "$U1" bsd-mailx -s mailx-test "$U2@mx.test" \
    <<<"sent with mail(1)" > "$T_DIR/mailx.out" 2>&1 ||
    t_fail "mail(1) to send" "$(cat "$T_DIR/mailx.out")"
arrives mailx-test
sent_by_u1 mailx-test
message mailx-test | grep -qx 'sent with mail(1)' || t_fail "mail(1)'s body" "$(message mailx-test | tail -n 3)"
say "mail(1) from bsd-mailx: delivered"

# 4. git send-email with a patch of a real repository.
repo=$T_DIR/home/$U1/repo
submit_as "$U1" sh -c "git init -q '$repo' && cd '$repo' &&
    echo hello > file && git add file &&
    git -c user.name='Ada Lovelace' -c user.email='$U1@mx.test' commit -q -m 'git-patch-subject' &&
    git format-patch -q -1 -o '$repo/out'" > "$T_DIR/git.out" 2>&1 ||
    t_fail "a git repository and a patch as $U1" "$(cat "$T_DIR/git.out")"
submit_as "$U1" sh -c "cd '$repo' && git -c user.name='Ada Lovelace' -c user.email='$U1@mx.test' \
    send-email --quiet --confirm=never --sendmail-cmd=/usr/sbin/sendmail \
    --from='Ada Lovelace <$U1@mx.test>' --to='$U2@mx.test' out/*.patch" > "$T_DIR/gitsend.out" 2>&1 ||
    t_fail "git send-email through sendmail" "$(tail -n 5 "$T_DIR/gitsend.out")"
arrives '[PATCH] git-patch-subject'
sent_by_u1 '[PATCH] git-patch-subject'
message '[PATCH] git-patch-subject' | grep -q '^+hello$' || t_fail "the patch in the message" "none"
say "git send-email: the patch delivered"

# 5. PHP's mail().
SUBMIT_TREES=php8.2-cli submit_as "$U1" php8.2 -n -r \
    "exit(mail('$U2@mx.test', 'php-mail', \"sent by PHP\\n.\\nstill PHP\", 'X-Mailer: PHP') ? 0 : 1);" \
    > "$T_DIR/php.out" 2>&1 || t_fail "PHP's mail() to return true" "$(cat "$T_DIR/php.out")"
arrives php-mail
sent_by_u1 php-mail
message php-mail | grep -qx 'still PHP' || t_fail "PHP's whole body (-i)" "$(message php-mail | tail -n 3 | tr '\n' '|')"
say "PHP mail(): delivered"

# mailq as U1: only U1's own messages (none left: all delivered); as root
# it works too.  A message U2 cannot deliver stays: one to a remote
# address that is deferred (retry-initial 1h).
printf 'Subject: stays\n\nx\n' | submit_as "$U1" sendmail -oi someone@remote.invalid ||
    t_fail "sendmail to a remote address" "an error"
printf 'Subject: stays2\n\nx\n' | submit_as "$U2" sendmail -oi other@remote.invalid ||
    t_fail "sendmail as $U2" "an error"
for i in $(seq 1 100); do
	[ "$(submit_as root mailq 2>/dev/null | grep -c 'remote.invalid')" -ge 2 ] && break
	sleep 0.2
done
submit_as "$U1" mailq > "$T_DIR/mailq1.out" 2>&1 || t_fail "mailq as $U1" "$(cat "$T_DIR/mailq1.out")"
grep -q someone@remote.invalid "$T_DIR/mailq1.out" || t_fail "$U1's mailq lists its message" "$(cat "$T_DIR/mailq1.out")"
if grep -q other@remote.invalid "$T_DIR/mailq1.out"; then
	t_fail "$U1's mailq without $U2's message" "$(cat "$T_DIR/mailq1.out")"
fi
say "mailq as $U1 lists only $U1's message"

# 6. -f: a sender the map lists for U1 is taken (and is the Return-Path);
# another one is refused by sendmail at once (exit 77) and, dropped
# through the helper directly, by the daemon at pickup (corrupt/).
printf 'Subject: as-ada\n\nx\n' | submit_as "$U1" sendmail -oi -f ada@example.org "$U2@mx.test" \
    > "$T_DIR/f1.out" 2>&1 || t_fail "sendmail -f ada@example.org as $U1" "$(cat "$T_DIR/f1.out")"
arrives as-ada
message as-ada | grep -qx 'Return-Path: <ada@example.org>' ||
    t_fail "Return-Path <ada@example.org>" "$(message as-ada | grep -i '^Return-Path')"
grep -Eq "uid=$uid1 user=$U1 from=<ada@example.org>" "$log" ||
    t_fail "the pickup logged with the real user beside the -f sender" "$(grep 'picked up' "$log" | tail -n 2 | tr '\n' '|')"
before=$(find "$spool/maildrop" -type f | wc -l)
printf 'Subject: as-boss\n\nx\n' | submit_as "$U1" sendmail -oi -f boss@example.org "$U2@mx.test" \
    > "$T_DIR/f2.out" 2>&1
rc=$?
[ "$rc" = 77 ] || t_fail "sendmail -f boss@example.org refused with exit 77" "exit $rc: $(cat "$T_DIR/f2.out")"
grep -q 'not allowed' "$T_DIR/f2.out" || t_fail "a clear refusal" "$(cat "$T_DIR/f2.out")"
[ "$(find "$spool/maildrop" -type f | wc -l)" = "$before" ] || t_fail "nothing dropped" "a file in maildrop/"
ncorrupt=$(find "$spool/corrupt" -type f | wc -l)
printf 'strictmail-maildrop 1\nsender boss@example.org\nrcpt %s@mx.test\nsize 19\ndata\nSubject: forged\r\n\r\n' "$U2" |
    submit_as "$U1" /usr/sbin/strictmail-postdrop > "$T_DIR/f3.out" 2>&1 ||
    t_fail "the helper to take the file" "$(cat "$T_DIR/f3.out")"
for i in $(seq 1 100); do
	[ "$(find "$spool/corrupt" -type f | wc -l)" -gt "$ncorrupt" ] && break
	sleep 0.1
done
[ "$(find "$spool/corrupt" -type f | wc -l)" -gt "$ncorrupt" ] ||
    t_fail "the forged sender's file moved to corrupt/" "$(ls "$spool/maildrop" "$spool/corrupt" | tr '\n' ' ')"
grep -q 'refused: sender boss@example.org not allowed for' "$log" || t_fail "the refusal logged" "$(tail -n 3 "$log" | tr '\n' '|')"
[ "$(count forged)" = 0 ] || t_fail "the forged message never delivered" "it was"
say "-f: a listed sender taken, another refused by sendmail (77) and at pickup"

grep -q 'AddressSanitizer' "$log" && t_fail "no sanitizer report" "$(grep -m1 AddressSanitizer "$log")"
sm_stop "$SM_PID" || t_fail "strictmaild to stop" "it did not"
t_pass
