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
# the exact reason and no MAIL transaction there; a deferred message goes
# at once after strictmailctl flush.  Everything is checked
# in the MXs' own records as well as in strictmail's log.
# Runs once, unprivileged (leak detection over delivery, bounces and
# retries); t-44, t-45, t-46, t-53 and t-54 run delivery privileged, in
# its chroot.
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 0 ] || t_skip "checked once, with SM_PRIV=0 (t-44, t-45, t-46, t-53, t-54 deliver privileged)"
world_init delivery
world_need_postfix
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
sm_config "$T_DIR/c" "$spool" "hostname self.deliv.test" "tls-ca-file $W_CA" \
    "tls-policy wrong.deliv.test verify" "tls-policy expired.deliv.test verify" \
    "tls-policy cnonly.deliv.test verify" "tls-policy s454.deliv.test verify" \
    "tls-policy broken.deliv.test verify" "tls-policy vnostls.deliv.test verify" \
    "tls-policy vplain.deliv.test verify" \
    "retry-initial 1s" "retry-max 2s" "control-socket $T_DIR/run/control.sock" \
    "smtp-reuse-idle 0"
# No connection reuse here (t-43 tests it): each connection ends with QUIT
# before its outcome is reported, so the MXs' records are complete when
# the log says a message was delivered.
world_start_strictmail "$T_DIR/c" "$log"
printf 'Subject: t-42\r\nMessage-ID: <t42@src.deliv.test>\r\n\r\nhello\r\n' > "$T_DIR/body"
from=alice@src.deliv.test

send() {	# send TO[,TO] -> prints the queue id
	world_send_qid "$from" "$1" "$T_DIR/body"
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
got=$(world_mx_json mx.plain.deliv.test '[(t["from"], t["to"], c0.get("sni")) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[('alice@src.deliv.test', ['bob@plain.deliv.test'], 'mx.plain.deliv.test')]" ] ||
    t_fail "the scripted MX got one transaction from alice to bob, SNI its name" "$got"
got=$(world_mx_json mx.pf.deliv.test '[(t["from"], t["to"], t["tls"]) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[('alice@src.deliv.test', ['carol@pf.deliv.test'], True)]" ] ||
    t_fail "Postfix got one TLS transaction from alice to carol" "$got"
grep -q "hello" "$(world_mx_dir mx.plain.deliv.test)"/messages/1.eml ||
    t_fail "the body arrives" "$(head -c 300 "$(world_mx_dir mx.plain.deliv.test)"/messages/1.eml)"
[ "$(world_mx_plaintext mx.nostls.deliv.test)" = 1 ] ||
    t_fail "the MX without STARTTLS gets the message in plaintext (level may)" "$(world_mx_plaintext mx.nostls.deliv.test)"
world_assert_log "$log" "$q1: to=<bob@plain.deliv.test> relay=mx.plain.deliv.test\[127.0.1.1\]:25 tls=TLSv1.2/[^ ]+/unverified status=sent"
world_assert_log "$log" "$q2: to=<carol@pf.deliv.test> relay=mx.pf.deliv.test\[fd00::1:2\]:25 tls=TLSv1.2/[^ ]+/unverified status=sent" "delivery to Postfix over IPv6 (preferred)"
world_assert_log "$log" "$q3: to=<dave@nostls.deliv.test> relay=mx.nostls.deliv.test\[127.0.1.7\]:25 tls=none status=sent"
[ "$(world_queue_count "$spool")" = 0 ] || t_fail "an empty queue" "$(world_queue_count "$spool") messages"
say "1: delivered to the scripted MX and Postfix with STARTTLS, plaintext only where not offered: ok"

# ---- 2: bounces, a partial failure, tempfail then retry, DNS failures
q4=$(send x@rej.deliv.test,y@plain.deliv.test)
q5=$(send t@tmp.deliv.test)
q6=$(send n@nx.deliv.test)
q7=$(send m@nullmx.deliv.test)
q8=$(send s@servfail.deliv.test)
# Three bounces to the sender's MX: rej, nx, nullmx.
world_wait_mx_messages mx.src.deliv.test 3 30 ||
    t_fail "three bounces reach the sender's MX" "$(world_mx_messages mx.src.deliv.test)"
world_wait_mx_messages mx.plain.deliv.test 2 30 ||
    t_fail "the accepted recipient of the partly refused message is delivered" "none"
world_wait_mx_messages mx.tmp.deliv.test 1 30 ||
    t_fail "the tempfailed message is delivered on its retry" "none"
for q in "$q4" "$q5" "$q6" "$q7"; do
	world_wait_log "$log" "$q: removed" 20 || t_fail "$q removed once done" "no line"
done
bounce_for() {	# the bounce file reporting $1
	grep -l "Final-Recipient: rfc822; *$1" "$(world_mx_dir mx.src.deliv.test)"/messages/*.eml | head -n 1
}
check_dsn() {	# ADDR STATUS
	local f
	f=$(bounce_for "$1")
	[ -n "$f" ] || t_fail "a bounce for $1 at the sender's MX" "none"
	"$PY" "$T_LIB/dsn_check.py" "$f" --rcpt "$1:failed:$2" > "$T_DIR/dsn.out" 2>&1 ||
	    t_fail "a correct DSN for $1 ($2)" "$(tr '\n' '|' < "$T_DIR/dsn.out")"
}
check_dsn x@rej.deliv.test 5.1.1
check_dsn n@nx.deliv.test 5.1.2
check_dsn m@nullmx.deliv.test 5.1.10
f=$(bounce_for x@rej.deliv.test)
grep -q "y@plain.deliv.test" "$f" && grep -q "Final-Recipient: rfc822; *y@plain" "$f" &&
    t_fail "the delivered recipient is not in the bounce" "it is"
got=$(world_mx_json mx.src.deliv.test '[(t["from"], t["to"]) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[('', ['alice@src.deliv.test']), ('', ['alice@src.deliv.test']), ('', ['alice@src.deliv.test'])]" ] ||
    t_fail "the bounces come from the null sender to alice" "$got"
got=$(world_mx_json mx.plain.deliv.test '[t["to"] for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[['bob@plain.deliv.test'], ['y@plain.deliv.test']]" ] ||
    t_fail "the scripted MX got y of the partly refused message, once" "$got"
got=$(world_mx_json mx.rej.deliv.test 'sum(1 for c0 in c for t in c0.get("transactions", []) if t.get("to"))')
[ "$got" = 0 ] || t_fail "the refusing MX accepted no recipient" "$got"
world_assert_log "$log" "$q4: to=<x@rej.deliv.test> relay=mx.rej.deliv.test\[127.0.1.4\]:25 delay=[0-9]+ attempts=1 status=bounced reply=\"550 5.1.1"
world_assert_log "$log" "$q4: bounce [0-9A-F]{16} for 1 recipients"
# tempfail-once: one tempfailed transaction, then one accepted.
got=$(world_mx_json mx.tmp.deliv.test '[bool(t.get("tempfailed")) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[True, False]" ] || t_fail "the tempfail MX saw a tempfailed transaction, then one accepted" "$got"
world_assert_log "$log" "$q5: to=<t@tmp.deliv.test> .* attempts=1 status=deferred reply=\"451 4.7.1"
world_assert_log "$log" "$q5: to=<t@tmp.deliv.test> .* attempts=2 status=sent"
world_assert_log "$log" "$q6: to=<n@nx.deliv.test> relay=none .*status=bounced reply=\"domain nx.deliv.test does not exist"
world_assert_log "$log" "$q7: to=<m@nullmx.deliv.test> relay=none .*status=bounced reply=\"domain nullmx.deliv.test accepts no mail \(null MX\)"
# SERVFAIL on the MX query: deferred, never an address query.
world_wait_log "$log" "$q8: to=<s@servfail.deliv.test> relay=none .*status=deferred" 20 ||
    t_fail "SERVFAIL on the MX query defers" "no line"
[ "$(world_dns_queries servfail.deliv.test MX)" -ge 1 ] ||
    t_fail "the MX query for servfail.deliv.test reached the DNS" "$(world_dns_queries servfail.deliv.test MX)"
[ "$(world_dns_queries servfail.deliv.test A)" = 0 ] && [ "$(world_dns_queries servfail.deliv.test AAAA)" = 0 ] ||
    t_fail "no A or AAAA query after a SERVFAIL MX answer" "A $(world_dns_queries servfail.deliv.test A), AAAA $(world_dns_queries servfail.deliv.test AAAA)"
[ "$(world_queue_count "$spool")" = 1 ] || t_fail "only the SERVFAIL message left in the queue" "$(world_queue_count "$spool")"
grep -q "^rcpt-error " "$spool"/queue/*/"$q8".env ||
    t_fail "the deferred recipient's last error in its envelope" "$(cat "$spool"/queue/*/"$q8".env)"
say "2: bounces with DSNs, partial failure, tempfail then retry, NXDOMAIN, null MX, SERVFAIL: ok"

# ---- 3: tls-policy verify: a valid certificate delivers; every bad MX
# defers with its reason and sees no MAIL
q9=$(send v@vplain.deliv.test)
world_wait_mx_messages mx.plain.deliv.test 3 30 ||
    t_fail "verify delivers to the MX with a valid certificate" "none"
world_wait_log "$log" "$q9: to=<v@vplain.deliv.test> relay=mx.plain.deliv.test\[127.0.1.1\]:25 tls=TLSv1.2/[^ ]+/verified status=sent" 20 ||
    t_fail "the verified delivery logged" "no line"
nplain=$(world_mx_json mx.nostls.deliv.test 'sum(len(c0.get("transactions", [])) for c0 in c)')
declare -A want=(
	[wrong]='name mismatch: wanted mx.wrong.deliv.test, certificate has'
	[expired]='certificate expired'
	[cnonly]='name mismatch: wanted mx.cnonly.deliv.test'
	[s454]='STARTTLS refused: 454'
	[broken]='handshake failed'
	[vnostls]='no STARTTLS offered'
)
declare -A qv
for d in "${!want[@]}"; do
	qv[$d]=$(send "u@$d.deliv.test")
done
for d in "${!want[@]}"; do
	world_wait_log "$log" "${qv[$d]}: to=<u@$d.deliv.test> relay=[^ ]+ .*status=deferred reply=\"[^\"]*${want[$d]}" 20 ||
	    t_fail "verify: $d deferred with '${want[$d]}'" "$(grep "${qv[$d]}: to=" "$log" | tail -n 1)"
done
for h in wrong expired cnonly s454 broken; do
	got=$(world_mx_json "mx.$h.deliv.test" 'sum(len(c0.get("transactions", [])) for c0 in c)')
	[ "$got" = 0 ] || t_fail "no MAIL transaction on mx.$h.deliv.test at level verify" "$got"
	got=$(world_mx_json "mx.$h.deliv.test" 'len(c)')
	[ "$got" -ge 1 ] || t_fail "strictmail connected to mx.$h.deliv.test" "$got connections"
done
got=$(world_mx_json mx.nostls.deliv.test 'sum(len(c0.get("transactions", [])) for c0 in c)')
[ "$got" = "$nplain" ] || t_fail "no transaction on the MX without STARTTLS at level verify" "$got, was $nplain"
world_assert_no_log "$log" "u@[a-z0-9]+.deliv.test> .*status=sent"
say "3: verify: a valid certificate delivers, six bad MXs deferred with their reason and no MAIL: ok"

# ---- 4: content changed after the commit: held, never delivered
q10=$(send h@servfail.deliv.test)
world_wait_log "$log" "$q10: to=<h@servfail.deliv.test> .*status=deferred" 20 ||
    t_fail "the first attempt of $q10 deferred" "no line"
msg=$(ls "$spool"/queue/*/"$q10".msg)
"$PY" - "$msg" <<'EOF2'
import sys
with open(sys.argv[1], 'r+b') as f:
    data = f.read()
    f.seek(data.index(b'hello'))
    f.write(b'HELLO')
EOF2
world_wait_log "$log" "$q10: held: content digest mismatch" 20 ||
    t_fail "the changed message is held" "$(grep "$q10" "$log" | tail -n 2 | tr '\n' '|')"
[ -f "$spool/hold/$q10.msg" ] && [ -f "$spool/hold/$q10.env" ] ||
    t_fail "its files in hold/" "$(ls "$spool/hold")"
ls "$spool"/queue/*/"$q10".* >/dev/null 2>&1 && t_fail "nothing of it left in queue/" "$(ls "$spool"/queue/*/"$q10".*)"
sleep 3		# two retry periods: no attempt may follow
n=$(awk -v q="$q10:" '$3 == q && /held: content digest mismatch/ { h = 1; next }
    h && $3 == q && / status=/ && /delivery/' "$log" | wc -l)
[ "$n" = 0 ] || t_fail "no attempt after the hold" "$n attempts logged after it"
say "4: content changed after its commit: held in hold/, not delivered: ok"

# ---- 5: a reload shortens queue-lifetime: a new message that cannot be
# delivered expires and bounces (4.4.7); a restart rebuilds the schedule
echo "queue-lifetime 2s" >> "$T_DIR/c"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done" 10 || t_fail "the reload" "no line"
nb=$(world_mx_messages mx.src.deliv.test)
q11=$(send e@servfail.deliv.test)
world_wait_log "$log" "$q11: to=<e@servfail.deliv.test> .*status=bounced reply=\"delivery time expired" 20 ||
    t_fail "the undeliverable message expires and bounces" "$(grep "$q11: to=" "$log" | tail -n 1)"
world_wait_mx_messages mx.src.deliv.test $((nb + 1)) 30 || t_fail "the expiry bounce reaches the sender's MX" "none"
check_dsn e@servfail.deliv.test 4.4.7
world_wait_log "$log" "$q11: removed" 20 || t_fail "$q11 removed after its bounce" "no line"
sm_stop "$SM_PID" || t_fail "strictmaild stops" "it had to be killed"
left=$(world_queue_count "$spool")
world_start_strictmail "$T_DIR/c" "$T_DIR/restart.log"
world_wait_log "$T_DIR/restart.log" "$q8: to=<s@servfail.deliv.test> .*status=deferred" 20 ||
    t_fail "after a restart the queued messages are tried again" "no attempt of $q8"
[ "$(world_queue_count "$spool")" = "$left" ] ||
    t_fail "the restart keeps every queued message" "$left before, $(world_queue_count "$spool") after"
say "5: expiry bounces with 4.4.7; a restart rebuilds the schedule ($left messages): ok"

# ---- 6: the first MX refuses, the second takes it; an MX that is this
# host drops itself and every MX behind it: a bounce
log=$T_DIR/restart.log
np=$(world_mx_messages mx.plain.deliv.test)
nb=$(world_mx_messages mx.src.deliv.test)
q12=$(send f@fb.deliv.test)
q13=$(send l@loop.deliv.test)
world_wait_mx_messages mx.plain.deliv.test $((np + 1)) 30 ||
    t_fail "the second MX gets the message the first refused" "none"
world_assert_log "$log" "$q12: to=<f@fb.deliv.test> relay=down.deliv.test\[127.0.1.99\]:25 tls=none status=deferred reply=\"connect to down.deliv.test\[127.0.1.99\]:25: Connection refused"
world_wait_log "$log" "$q12: to=<f@fb.deliv.test> relay=mx.plain.deliv.test\[127.0.1.1\]:25 .*status=sent" 10 ||
    t_fail "the fallback delivery logged" "no line"
world_wait_mx_messages mx.src.deliv.test $((nb + 1)) 30 || t_fail "the loop bounce reaches the sender's MX" "none"
check_dsn l@loop.deliv.test 5.4.6
world_assert_log "$log" "$q13: to=<l@loop.deliv.test> relay=none .*status=bounced reply=\"mail for loop.deliv.test loops back to myself"
got=$(world_mx_json mx.plain.deliv.test '[t["to"] for c0 in c for t in c0.get("transactions", [])]')
case $got in *l@loop.deliv.test*) t_fail "no MX behind this host is used" "$got" ;; esac
say "6: multi-MX fallback after a refused connection; an MX loop bounces 5.4.6: ok"

# ---- 7: level may, the handshake fails: once more in plaintext
q14=$(send b@bmay.deliv.test)
world_wait_mx_messages mx.broken.deliv.test 1 30 ||
    t_fail "at may, the MX with a broken handshake gets the message in plaintext" "none"
world_assert_log "$log" "$q14: to=<b@bmay.deliv.test> relay=mx.broken.deliv.test\[127.0.1.11\]:25 tls=none status=deferred reply=\"handshake failed"
world_wait_log "$log" "$q14: to=<b@bmay.deliv.test> relay=mx.broken.deliv.test\[127.0.1.11\]:25 tls=none status=sent" 10 ||
    t_fail "the plaintext retry logged as sent" "no line"
got=$(world_mx_json mx.broken.deliv.test '[(t["to"], bool(t.get("tls"))) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[(['b@bmay.deliv.test'], False)]" ] ||
    t_fail "one plaintext transaction on the broken MX, for the may domain only" "$got"
say "7: may: a failed handshake is retried once in plaintext: ok"

# ---- 8: two recipients of one domain go in one transaction
np=$(world_mx_messages mx.plain.deliv.test)
q15=$(send p1@plain.deliv.test,p2@plain.deliv.test)
world_wait_mx_messages mx.plain.deliv.test $((np + 1)) 30 || t_fail "the two-recipient message arrives" "none"
world_wait_log "$log" "$q15: removed" 20 || t_fail "$q15 removed" "no line"
got=$(world_mx_json mx.plain.deliv.test '[sorted(t["to"]) for c0 in c for t in c0.get("transactions", []) if "p1@plain.deliv.test" in t.get("rcpt_tried", t["to"])]')
[ "$got" = "[['p1@plain.deliv.test', 'p2@plain.deliv.test']]" ] ||
    t_fail "one transaction for both recipients" "$got"
say "8: recipients of one domain in one transaction: ok"

# ---- 9: tempfail with a long retry delay, then strictmailctl flush
sed -i 's/^retry-initial .*/retry-initial 1h/; s/^retry-max .*/retry-max 1h/; s/^queue-lifetime .*/queue-lifetime 1d/' "$T_DIR/c"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done" 10 || t_fail "the reload" "no line"
rm -f "$(world_mx_dir mx.tmp.deliv.test)/state/tempfail-once"	# armed again
nt=$(world_mx_messages mx.tmp.deliv.test)
q16=$(send t2@tmp.deliv.test)
world_wait_log "$log" "$q16: to=<t2@tmp.deliv.test> .*status=deferred reply=\"451 4.7.1" 20 ||
    t_fail "the re-armed tempfail MX defers $q16" "$(grep "$q16: to=" "$log" | tail -n 1)"
out=$("$(dirname "$SM_BIN")/strictmailctl" -s "$T_DIR/run/control.sock" queue 2>&1)
grep -q "451 4.7.1" <<<"$out" || t_fail "strictmailctl queue shows the last error" "$(tr '\n' '|' <<<"$out")"
sleep 2
world_assert_no_log "$log" "$q16: to=<t2@tmp.deliv.test> .*status=sent" "no retry before the flush (retry-initial 1h)"
out=$("$(dirname "$SM_BIN")/strictmailctl" -s "$T_DIR/run/control.sock" flush 2>&1) ||
    t_fail "strictmailctl flush" "$out"
world_wait_log "$log" "$q16: to=<t2@tmp.deliv.test> .*status=sent" 20 ||
    t_fail "the flushed message is delivered" "$(grep "$q16: to=" "$log" | tail -n 1)"
world_wait_mx_messages mx.tmp.deliv.test $((nt + 1)) 20 || t_fail "the tempfail MX has it" "none"
say "9: a deferred message waits for its retry, strictmailctl flush sends it at once: ok"

t_pass
