#!/bin/bash
# t-10-swaks: one message to a local user and one relayed message with
# swaks from 127.0.0.1; both get "250 2.0.0 Ok: queued as QID", the spool
# holds them intact (body below Received, recipients) and the log has the
# "accepted" line of each, with the message's Message-ID; a message
# without one gets no message-id field.
. "$(dirname "$0")/lib.sh"
t_init
t_need swaks

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

# swaks sends its data followed by CRLF.CRLF: give it the message without
# its last CRLF and it sends exactly the message.
n=0
for to in root@localhost someone@relay.example; do
	n=$((n + 1))
	sm_body "swaks-$n-$$" $((n * 3000)) > "$T_DIR/body$n"
	head -c -2 "$T_DIR/body$n" > "$T_DIR/swaksdata$n"
	say "swaks: sender@example.org -> $to"
	out=$(ip netns exec "$T_NS" timeout 60 swaks --server 127.0.0.1:25 \
	    --helo client.test --from sender@example.org --to "$to" \
	    --data "@$T_DIR/swaksdata$n" 2>&1)
	rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^ *<- +250 2\.0\.0 Ok: queued as ' | tail -n 1)
	qid=$(printf '%s\n' "$line" | sed -n 's/^ *<- *250 2\.0\.0 Ok: queued as \([0-9A-F]\{16\}\)\r\{0,1\}$/\1/p')
	if [ "$rc" != 0 ] || [ -z "$qid" ]; then
		printf '%s\n' "$out" | tail -n 15
		t_fail "swaks to $to: exit 0 and \"250 2.0.0 Ok: queued as <16 hex>\"" \
		    "exit $rc, reply '${line:-none}'"
	fi
	say "  queued as $qid"

	errs=$(sm_check "$spool" "$qid" "$T_DIR/body$n" "$to")
	[ -z "$errs" ] || t_fail "$qid intact in the spool" "$errs"
	envf=$(ls "$spool"/queue/*/"$qid.env")
	grep -qx "sender <sender@example.org>" "$envf" ||
	    t_fail "'sender <sender@example.org>' in $qid.env" "$(grep '^sender' "$envf")"
	grep -qx "rcpt pending <$to>" "$envf" ||
	    t_fail "'rcpt pending <$to>' in $qid.env" "$(grep '^rcpt' "$envf")"
	say "  spool: $qid.msg body matches (sha256 below Received), $qid.env lists <$to>"

	pat="strictmail/smtpd\[[0-9]+\]: $qid: accepted session=[^ ]+ client=127\.0\.0\.1 helo=client\.test from=<?sender@example\.org>? size=[0-9]+ nrcpt=1 proto=ESMTP message-id=<swaks-$n-$$@test\.invalid>\$"
	sm_wait_log "$log" "$pat" "$SM_PID" 10 ||
	    t_fail "log line '$qid: accepted session=... client=127.0.0.1 helo=client.test from=sender@example.org size=N nrcpt=1 proto=ESMTP message-id=<swaks-$n-$$@test.invalid>'" \
		"$(grep "$qid" "$log" | head -n 3 | tr '\n' '|')"
	pat="strictmail/queue\[[0-9]+\]: $qid: committed size=[0-9]+ nrcpt=1 from=<?sender@example\.org>?"
	grep -Eq "$pat" "$log" ||
	    t_fail "log line '$qid: committed size=N nrcpt=1 from=sender@example.org'" \
		"$(grep "$qid" "$log" | head -n 3 | tr '\n' '|')"
	say "  log: accepted and committed lines for $qid"
done

# No Message-ID header: no message-id field.
printf 'Subject: no id\r\n\r\nhello\r\n' > "$T_DIR/noid"
out=$(ip netns exec "$T_NS" "$PY" "$T_LIB/smtest.py" send 127.0.0.1 25 \
    sender@example.org root@localhost "$T_DIR/noid" 2>&1)
qid=${out#250 }
case $out in "250 "*) ;; *) t_fail "the message without Message-ID queued" "$out" ;; esac
sm_wait_log "$log" "$qid: accepted .* proto=ESMTP\$" "$SM_PID" 10 ||
    t_fail "an accepted line for $qid that ends at proto= (no message-id)" "$(grep "$qid: accepted" "$log")"
say "  log: message-id in the accepted line, none without the header"

leftover=$(ls -A "$spool/incoming")
[ -z "$leftover" ] || t_fail "incoming/ empty after the commits" "$leftover"

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
