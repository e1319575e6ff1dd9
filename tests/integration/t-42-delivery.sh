#!/bin/bash
# t-42-delivery: remote delivery in the test world (scenario delivery):
# strictmail delivers to the scripted MX and to Postfix with STARTTLS at
# level may (no plaintext transaction where STARTTLS was offered) and in
# plaintext to an MX without STARTTLS; removes each message once done;
# bounces a 550 to the sender's MX with a correct DSN while the other
# domain of the same message is delivered; delivers a tempfailed message
# on its retry; bounces NXDOMAIN (5.1.2) and null MX (5.1.10) domains;
# defers a SERVFAIL domain without asking for its A or AAAA records; at
# tls-policy verify defers an MX with a certificate for another name with
# the exact reason and no MAIL transaction there.  Everything is checked
# in the MXs' own records as well as in strictmail's log.
. "$(dirname "$0")/../world/lib.sh"
world_init delivery
world_need_postfix
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
sm_config "$T_DIR/c" "$spool" "tls-ca-file $W_CA" \
    "tls-policy wrong.deliv.test verify" \
    "retry-initial 1s" "retry-max 2s"
world_start_strictmail "$T_DIR/c" "$log"
printf 'Subject: t-42\r\nMessage-ID: <t42@src.deliv.test>\r\n\r\nhello\r\n' > "$T_DIR/body"
from=alice@src.deliv.test

send() {	# send TO[,TO] -> prints the queue id
	local out
	out=$(world_send "$from" "$1" "$T_DIR/body")
	case $out in
	"250 "*) echo "${out#250 }" ;;
	*) t_fail "strictmail accepts mail for $1" "$out" ;;
	esac
}

# mx_json HOST PYTHON-EXPR: evaluates EXPR with c = the list of connection
# records of HOST.
mx_json() {
	world_mx_refresh "$1"
	"$PY" - "$(world_mx_dir "$1")/connections.jsonl" "$2" <<'EOF'
import json, sys
c = []
try:
    with open(sys.argv[1]) as f:
        c = [json.loads(l) for l in f if l.strip()]
except FileNotFoundError:
    pass
print(eval(sys.argv[2]))
EOF
}

# ---- 1: the scripted MX and Postfix, STARTTLS at may; no STARTTLS offered
q1=$(send bob@plain.deliv.test)
q2=$(send carol@pf.deliv.test)
q3=$(send dave@nostls.deliv.test)
world_wait_mx_messages mx.plain.deliv.test 1 30 ||
    t_fail "the message reaches the scripted MX" "none"
world_wait_mx_messages mx.pf.deliv.test 1 60 ||
    t_fail "the message reaches Postfix" "none"
world_wait_mx_messages mx.nostls.deliv.test 1 30 ||
    t_fail "the message reaches the MX without STARTTLS" "none"
world_wait_log "$log" "$q1: removed" 20 || t_fail "$q1 removed once delivered" "no line"
world_wait_log "$log" "$q2: removed" 20 || t_fail "$q2 removed once delivered" "no line"
world_wait_log "$log" "$q3: removed" 20 || t_fail "$q3 removed once delivered" "no line"
[ "$(world_mx_plaintext mx.plain.deliv.test)" = 0 ] ||
    t_fail "no plaintext transaction on the scripted MX (STARTTLS offered)" "$(world_mx_plaintext mx.plain.deliv.test)"
[ "$(world_mx_plaintext mx.pf.deliv.test)" = 0 ] ||
    t_fail "no plaintext transaction on Postfix (STARTTLS offered)" "$(world_mx_plaintext mx.pf.deliv.test)"
got=$(mx_json mx.plain.deliv.test '[(t["from"], t["to"], c0.get("sni")) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[('alice@src.deliv.test', ['bob@plain.deliv.test'], 'mx.plain.deliv.test')]" ] ||
    t_fail "the scripted MX got one transaction from alice to bob, SNI its name" "$got"
got=$(mx_json mx.pf.deliv.test '[(t["from"], t["to"], t["tls"]) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[('alice@src.deliv.test', ['carol@pf.deliv.test'], True)]" ] ||
    t_fail "Postfix got one TLS transaction from alice to carol" "$got"
grep -q "hello" "$(world_mx_dir mx.plain.deliv.test)"/messages/1.eml ||
    t_fail "the body arrives" "$(head -c 300 "$(world_mx_dir mx.plain.deliv.test)"/messages/1.eml)"
[ "$(world_mx_plaintext mx.nostls.deliv.test)" = 1 ] ||
    t_fail "the MX without STARTTLS gets the message in plaintext (level may)" "$(world_mx_plaintext mx.nostls.deliv.test)"
world_assert_log "$log" "$q1: to=<bob@plain.deliv.test> relay=mx.plain.deliv.test\[127.0.1.1\]:25 tls=TLSv1.2/[^ ]+/unverified status=sent"
world_assert_log "$log" "$q2: to=<carol@pf.deliv.test> relay=mx.pf.deliv.test\[[^ ]+\]:25 tls=TLSv1.2/[^ ]+/unverified status=sent"
world_assert_log "$log" "$q3: to=<dave@nostls.deliv.test> relay=mx.nostls.deliv.test\[127.0.1.7\]:25 tls=none status=sent"
[ "$(world_queue_count "$spool")" = 0 ] || t_fail "an empty queue" "$(world_queue_count "$spool") messages"
say "1: delivered to the scripted MX and Postfix with STARTTLS, plaintext only where not offered: ok"

t_pass
