#!/bin/bash
# t-46-delivery-targets: remote delivery to more kinds of receiver in the
# test world (scenario targets): a private OpenSMTPD over IPv6 (preferred
# when the MX has both families) and over IPv4 (an MX name with only an A
# record); an 8-bit message to an MX that does not offer 8BITMIME goes
# unchanged and without BODY=8BITMIME, and the log says so; a message that
# needs SMTPUTF8 is delivered to Postfix with SMTPUTF8 and bounces (5.6.7)
# from an MX without it, with no transaction there; the client settings:
# the EHLO name and the IPv4 and IPv6 source addresses, the address
# family order and the number of MX hosts tried (both reloaded); a bounce
# that bounces becomes one notice to the postmaster, from the null sender,
# that never bounces itself.
# Everything is checked in the MXs' own records as well as in
# strictmail's log.
# Runs once, privilege-separated: t-42 covers both modes of the paths
# these cases share.
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 1 ] || t_skip "checked once, with SM_PRIV=1 (t-42 runs delivery in both modes)"
world_init targets
world_need_postfix
world_need_opensmtpd
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
ip -n "$T_NS" -6 addr add fd00::6:88/128 dev lo nodad ||
    t_fail "an IPv6 source address in the world" "ip addr add failed"
sm_config "$T_DIR/c" "$spool" "hostname self.tgt.test" "tls-ca-file $W_CA" \
    "retry-initial 1s" "retry-max 2s" "smtp-reuse-idle 0" "control-socket $T_DIR/run/control.sock" \
    "smtp-helo-name out.tgt.test" "smtp-bind-address 127.0.6.77" \
    "smtp-bind-address6 fd00::6:88"
world_start_strictmail "$T_DIR/c" "$log"
from=alice@src.tgt.test

# send TO BODYFILE [MAIL-OPTIONS] -> prints the queue id
send() {
	SMTEST_MAIL_OPTS=${3:-} world_send_qid "$from" "$1" "$2"
}

# ---- 1: OpenSMTPD over IPv6 and over IPv4
printf 'Subject: t-46 os\r\nMessage-ID: <t46os@src.tgt.test>\r\n\r\nto opensmtpd\r\n' > "$T_DIR/b-os"
q1=$(send o6@os.tgt.test "$T_DIR/b-os")
q2=$(send o4@os4.tgt.test "$T_DIR/b-os")
world_wait_mx_messages mx.os.tgt.test 2 60 ||
    t_fail "both messages reach OpenSMTPD" "$(world_mx_messages mx.os.tgt.test)"
world_wait_log "$log" "$q1: removed" 20 || t_fail "$q1 removed once delivered" "no line"
world_wait_log "$log" "$q2: removed" 20 || t_fail "$q2 removed once delivered" "no line"
# OpenSMTPD offers no STARTTLS: level may sends in plaintext.
world_assert_log "$log" "$q1: to=<o6@os.tgt.test> relay=mx.os.tgt.test\[fd00::6:2\]:25 tls=none status=sent" \
    "delivery to OpenSMTPD over IPv6"
world_assert_log "$log" "$q2: to=<o4@os4.tgt.test> relay=mx4.os.tgt.test\[127.0.6.2\]:25 tls=none status=sent" \
    "delivery to OpenSMTPD over IPv4"
got=$(world_mx_json mx.os.tgt.test 'sorted((t["from"], tuple(t["to"])) for c0 in c for t in c0.get("transactions", []))')
[ "$got" = "[('alice@src.tgt.test', ('o4@os4.tgt.test',)), ('alice@src.tgt.test', ('o6@os.tgt.test',))]" ] ||
    t_fail "OpenSMTPD took each message once, from alice" "$got"
got=$(world_mx_json mx.os.tgt.test 'sorted(c0.get("peer", "") for c0 in c if c0.get("transactions"))')
[ "$got" = "['127.0.6.77', 'fd00::6:88']" ] ||
    t_fail "OpenSMTPD saw the IPv4 and IPv6 source addresses of the settings" "$got"
for f in "$(world_mx_dir mx.os.tgt.test)"/messages/*.eml; do
	grep -q "to opensmtpd" "$f" || t_fail "the body at OpenSMTPD" "$(head -c 300 "$f")"
done
say "1: OpenSMTPD over IPv6 and IPv4: ok"

# ---- 2: 8-bit content to an MX without 8BITMIME: sent unchanged
printf 'Subject: t-46 8bit\r\nMessage-ID: <t46eight@src.tgt.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9 na\xc3\xafve \xe2\x82\xac 100\r\n' > "$T_DIR/b-8bit"
q3=$(send c@seven.tgt.test "$T_DIR/b-8bit" "BODY=8BITMIME")
world_wait_mx_messages mx.seven.tgt.test 1 30 ||
    t_fail "the 8-bit message reaches the MX without 8BITMIME" "none"
world_wait_log "$log" "$q3: removed" 20 || t_fail "$q3 removed once delivered" "no line"
world_assert_log "$log" "$q3: 8-bit content sent unchanged to mx.seven.tgt.test\[127.0.6.3\]:25, which does not offer 8BITMIME"
world_assert_log "$log" "$q3: to=<c@seven.tgt.test> relay=mx.seven.tgt.test\[127.0.6.3\]:25 .*status=sent"
got=$(world_mx_json mx.seven.tgt.test '[(t["to"], "BODY=" in t.get("params", "").upper()) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[(['c@seven.tgt.test'], False)]" ] ||
    t_fail "one transaction at the MX without 8BITMIME, with no BODY= parameter" "$got"
f=$(ls "$(world_mx_dir mx.seven.tgt.test)"/messages/*.eml | head -n 1)
"$PY" - "$f" "$T_DIR/b-8bit" <<'EOF' || t_fail "the 8-bit body arrives byte for byte" "$(od -c "$f" | tail -n 5)"
import sys
got = open(sys.argv[1], 'rb').read()
want = open(sys.argv[2], 'rb').read()
sys.exit(0 if got.endswith(want) else 1)
EOF
say "2: 8-bit content to an MX without 8BITMIME: sent unchanged: ok"

# ---- 3: SMTPUTF8: Postfix offers it; an MX without it: a bounce, no MAIL
printf 'Subject: t-46 utf8\r\nMessage-ID: <t46utf8@src.tgt.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ngr\xc3\xbc\xc3\x9fe\r\n' > "$T_DIR/b-utf8"
q4=$(send "j$(printf '\xc3\xb6')rg@pf.tgt.test" "$T_DIR/b-utf8" "SMTPUTF8 BODY=8BITMIME")
q5=$(send "j$(printf '\xc3\xb6')rg@seven.tgt.test" "$T_DIR/b-utf8" "SMTPUTF8 BODY=8BITMIME")
world_wait_mx_messages mx.pf.tgt.test 1 60 ||
    t_fail "the SMTPUTF8 message reaches Postfix" "none"
world_wait_log "$log" "$q4: removed" 20 || t_fail "$q4 removed once delivered" "no line"
world_assert_log "$log" "$q4: to=\"<j\\\\xc3\\\\xb6rg@pf.tgt.test>\" relay=mx.pf.tgt.test\[127.0.6.4\]:25 tls=TLSv1\.[23]/[^ ]+/unverified status=sent"
got=$(world_mx_json mx.pf.tgt.test '[t["to"] for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[['jörg@pf.tgt.test']]" ] || t_fail "Postfix took the UTF-8 recipient once" "$got"
f=$(ls "$(world_mx_dir mx.pf.tgt.test)"/messages/*.eml | head -n 1)
grep -q "gr$(printf '\xc3\xbc\xc3\x9f')e" "$f" || t_fail "the UTF-8 body at Postfix" "$(tail -c 200 "$f")"
world_wait_log "$log" "$q5: to=\"<j\\\\xc3\\\\xb6rg@seven.tgt.test>\" relay=mx.seven.tgt.test\[127.0.6.3\]:25 .*status=bounced reply=\"SMTPUTF8 is required, but was not offered" 30 ||
    t_fail "the SMTPUTF8 message bounces from the MX without SMTPUTF8" "$(grep "$q5: to=" "$log" | tail -n 1)"
world_wait_log "$log" "$q5: removed" 20 || t_fail "$q5 removed once bounced" "no line"
got=$(world_mx_json mx.seven.tgt.test 'sum(len(c0.get("transactions", [])) for c0 in c)')
[ "$got" = 1 ] || t_fail "no MAIL for the SMTPUTF8 message at the MX without SMTPUTF8" "$got transactions"
world_wait_mx_messages mx.src.tgt.test 1 60 ||
    t_fail "the bounce reaches the sender's MX" "none"
f=$(grep -l "5.6.7" "$(world_mx_dir mx.src.tgt.test)"/messages/*.eml | head -n 1)
[ -n "$f" ] || t_fail "a bounce with 5.6.7 at the sender's MX" "$(ls "$(world_mx_dir mx.src.tgt.test)"/messages)"
"$PY" "$T_LIB/dsn_check.py" "$f" --rcpt "jörg@seven.tgt.test:failed:5.6.7" > "$T_DIR/dsn.out" 2>&1 ||
    t_fail "a correct DSN for the UTF-8 recipient" "$(tr '\n' '|' < "$T_DIR/dsn.out")"
got=$(world_mx_json mx.src.tgt.test '[(t["from"], t["to"]) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[('', ['alice@src.tgt.test'])]" ] ||
    t_fail "one bounce, from the null sender to alice" "$got"
say "3: SMTPUTF8 to Postfix; bounced (5.6.7) from an MX without it: ok"

# ---- 4: the client settings: EHLO name, address order, MX hosts tried
got=$(world_mx_json mx.seven.tgt.test 'sorted(set((c0.get("ehlo"), c0.get("peer")) for c0 in c if c0.get("transactions")))')
[ "$got" = "[('out.tgt.test', '127.0.6.77')]" ] ||
    t_fail "EHLO out.tgt.test from 127.0.6.77 (smtp-helo-name, smtp-bind-address)" "$got"
printf 'smtp-address-family ipv4-first\nsmtp-max-mx-hosts 1\n' >> "$T_DIR/c"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done" 10 || t_fail "the reload" "no line"
q6=$(send o46@os.tgt.test "$T_DIR/b-os")
world_wait_log "$log" "$q6: to=<o46@os.tgt.test> relay=mx.os.tgt.test\[127.0.6.2\]:25 .*status=sent" 30 ||
    t_fail "smtp-address-family ipv4-first: IPv4 first" "$(grep "$q6: to=" "$log" | tail -n 1)"
nseven=$(world_mx_connections mx.seven.tgt.test)
q7=$(send l@lim.tgt.test "$T_DIR/b-os")
world_wait_log "$log" "$q7: to=<l@lim.tgt.test> relay=down.tgt.test\[127.0.6.99\]:25 .*status=deferred" 30 ||
    t_fail "smtp-max-mx-hosts 1: only the best MX tried" "$(grep "$q7: to=" "$log" | tail -n 1)"
[ "$(world_mx_connections mx.seven.tgt.test)" = "$nseven" ] ||
    t_fail "the second MX not tried with smtp-max-mx-hosts 1" "$(world_mx_connections mx.seven.tgt.test) connections, was $nseven"
sed -i 's/^smtp-max-mx-hosts 1$/smtp-max-mx-hosts 2/' "$T_DIR/c"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done.*" 10 || t_fail "the second reload" "no line"
"$(dirname "$SM_BIN")/strictmailctl" -s "$T_DIR/run/control.sock" flush > /dev/null 2>&1 ||
    t_fail "strictmailctl flush" "an error"
world_wait_log "$log" "$q7: to=<l@lim.tgt.test> relay=mx.seven.tgt.test\[127.0.6.3\]:25 .*status=sent" 30 ||
    t_fail "smtp-max-mx-hosts 2: the second MX takes it" "$(grep "$q7: to=" "$log" | tail -n 1)"
say "4: EHLO name, source addresses, address order, MX hosts tried: ok"

# ---- 5: a bounce that cannot be delivered: one notice to the postmaster
q8=$(world_send_qid bob@badsrc.tgt.test r@rej.tgt.test "$T_DIR/b-os")
world_wait_log "$log" "$q8: bounce [0-9A-F]{16} for 1 recipients" 30 ||
    t_fail "$q8 bounces" "$(grep "$q8" "$log" | tail -n 2 | tr '\n' '|')"
qb=$(grep -Eo "$q8: bounce [0-9A-F]{16}" "$log" | head -n 1 | awk '{ print $3 }')
world_wait_log "$log" "$qb: to=<bob@badsrc.tgt.test> relay=mx.rej.tgt.test\[127.0.6.5\]:25 .*status=bounced reply=\"550 5.1.1" 30 ||
    t_fail "the bounce $qb is refused by the sender's MX" "$(grep "$qb: to=" "$log" | tail -n 1)"
world_wait_log "$log" "$qb: bounce [0-9A-F]{16} for 1 recipients" 30 ||
    t_fail "the refused bounce becomes a postmaster notice" "$(grep "$qb" "$log" | tail -n 2 | tr '\n' '|')"
qp=$(grep -Eo "$qb: bounce [0-9A-F]{16}" "$log" | head -n 1 | awk '{ print $3 }')
world_wait_log "$log" "$qb: removed" 20 || t_fail "the refused bounce removed once the notice is queued" "no line"
env=$(ls "$spool"/queue/*/"$qp".env 2>/dev/null)
[ -n "$env" ] || t_fail "the postmaster notice $qp queued" "$(ls "$spool"/queue/*/)"
grep -qx "sender <>" "$env" && grep -Eq "^rcpt pending <postmaster@self.tgt.test>" "$env" ||
    t_fail "the notice from <> to postmaster@self.tgt.test" "$(cat "$env")"
got=$(world_mx_json mx.rej.tgt.test '[(t["from"], t["rcpt_tried"]) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[('bob@badsrc.tgt.test', ['r@rej.tgt.test']), ('', ['bob@badsrc.tgt.test'])]" ] ||
    t_fail "the refusing MX saw the message and its bounce, nothing for the postmaster" "$got"
# Delivered locally: postmaster is root's, and root has no alias here, so
# the notice waits in the queue (deferred, never lost, never sent out).
world_wait_log "$log" "$qp: to=<postmaster@self.tgt.test> relay=local .*status=deferred reply=\"mail for root needs an alias" 30 ||
    t_fail "the notice delivered locally: deferred, root has no alias" "$(grep "$qp: to=" "$log" | tail -n 1)"
say "5: a bounce that bounces: one postmaster notice, from <>, for the local postmaster (deferred: root has no alias): ok"

n=$(world_queue_count "$spool")
[ "$n" = 1 ] || t_fail "only the postmaster notice left in the queue" "$n messages"
t_pass
