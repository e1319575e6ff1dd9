#!/bin/bash
# t-44-relay: mail through a relay host in the test world (scenario
# relay).  With relay-host [smtp.relay.test]:587 mail for two remote
# domains reaches the relay's submission port with STARTTLS, a verified
# certificate and AUTH PLAIN before MAIL, and neither domain's own MX is
# connected to nor its MX records asked for; after a reload to :465 the
# same over implicit TLS; a relay whose certificate is for another name
# defers with "name mismatch" and sees no AUTH and no MAIL, and the
# message goes once relay-host is right again; masquerade-sender turns a
# local sender domain into its own at the relay, other senders stay; a
# credentials file open to others stops the start, naming it; a wrong
# password defers with "authentication failed: 535", no transaction, no
# bounce, the message stays queued, and the password is never logged.
# (The receiver refuses a sender without a domain, so the origin
# qualification of bare local senders is covered by tests/unit/test_relay.c.)
# Runs once, privilege-separated: the credentials file must be read as
# root before the chroot (unit tests cover the relay code under leak
# detection; t-42 runs delivery in both modes).
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 1 ] || t_skip "checked once, with SM_PRIV=1 (the credentials file is read as root before the chroot)"
world_init relay
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
auth=$T_DIR/relay-auth
conf=$T_DIR/c
printf '# the relay account\nrelayuser relay-Secret-7\n' > "$auth"
chmod 600 "$auth"
sm_config "$conf" "$spool" "hostname self.relay.test" "tls-ca-file $W_CA" \
    "relay-host [smtp.relay.test]:587" "relay-auth-file $auth" \
    "retry-initial 1s" "retry-max 2s" "control-socket $T_DIR/run/control.sock" \
    "smtp-reuse-idle 0"
world_start_strictmail "$conf" "$log"
printf 'Subject: t-44\r\nMessage-ID: <t44@relay.test>\r\n\r\nrelayed\r\n' > "$T_DIR/body"

send() {	# send FROM TO[,TO] -> prints the queue id
	world_send_qid "$1" "$2" "$T_DIR/body"
}

# wait_conns HOST N: the MX has recorded N connections (written at their end).
wait_conns() {
	local i
	for i in $(seq 1 200); do
		[ "$(world_mx_connections "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

reload() {	# reload SED-EXPR: edit the configuration, SIGHUP, wait
	local n
	n=$(grep -c "reload: .*done" "$log")
	sed -i "$1" "$conf"
	kill -HUP "$SM_PID"
	for i in $(seq 1 100); do
		[ "$(grep -c "reload: .*done" "$log")" -gt "$n" ] && return 0
		sleep 0.1
	done
	t_fail "the reload ($1)" "no line"
}

no_direct_mx() {	# neither domain's MX was used, nor its MX record asked
	local h d
	for h in mx.one.relay.test mx.two.relay.test; do
		[ "$(world_mx_connections "$h")" = 0 ] ||
		    t_fail "no connection to $h (relay-host set)" "$(world_mx_connections "$h")"
	done
	for d in one.relay.test two.relay.test; do
		[ "$(world_dns_queries "$d" MX)" = 0 ] ||
		    t_fail "no MX query for $d (relay-host set)" "$(world_dns_queries "$d" MX)"
	done
}

no_secret_logged() {
	world_assert_no_log "$log" "relay-Secret-7|wrong-Secret|AHJlbGF5dXNlcg|cmVsYXktU2Vj" \
	    "neither the password nor its base64 in the log"
}

# ---- 1: two remote domains, both to the relay on 587, AUTH after TLS
q1=$(send alice@src.example u1@one.relay.test,u2@two.relay.test)
world_wait_mx_messages smtp.relay.test 2 30 ||
    t_fail "both recipients reach the relay" "$(world_mx_messages smtp.relay.test) messages"
world_wait_log "$log" "$q1: removed" 20 || t_fail "$q1 removed once relayed" "no line"
wait_conns smtp.relay.test 2 || t_fail "the relay recorded its connections" "$(world_mx_connections smtp.relay.test)"
got=$(world_mx_json smtp.relay.test '[(c0["port"], c0["mode"], c0["tls"], c0["auth"], c0["sni"], [a["mech"] for a in c0.get("auth_attempts", [])]) for c0 in c]')
[ "$got" = "[(587, 'submission', True, 'relayuser', 'smtp.relay.test', ['PLAIN']), (587, 'submission', True, 'relayuser', 'smtp.relay.test', ['PLAIN'])]" ] ||
    t_fail "two connections on 587 with TLS, SNI the relay's name, one AUTH PLAIN each as relayuser" "$got"
got=$(world_mx_json smtp.relay.test 'sorted((t["from"], tuple(t["to"]), t["tls"], t["auth"]) for c0 in c for t in c0.get("transactions", []))')
[ "$got" = "[('alice@src.example', ('u1@one.relay.test',), True, 'relayuser'), ('alice@src.example', ('u2@two.relay.test',), True, 'relayuser')]" ] ||
    t_fail "one authenticated TLS transaction per domain at the relay" "$got"
# AUTH came after STARTTLS and the second EHLO, and before MAIL.
got=$(world_mx_json smtp.relay.test 'all([x.split(" ")[0] for x in c0["commands"]][:5] == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL"] for c0 in c)')
[ "$got" = True ] || t_fail "EHLO, STARTTLS, EHLO, AUTH, MAIL in that order" "$(world_mx_json smtp.relay.test '[c0["commands"][:5] for c0 in c]')"
grep -q relayed "$(world_mx_dir smtp.relay.test)"/messages/1.eml || t_fail "the body arrives" "none"
world_assert_log "$log" "$q1: to=<u1@one.relay.test> relay=smtp.relay.test\[fd00::4:1\]:587 tls=TLSv1.2/[^ ]+/verified status=sent"
world_assert_log "$log" "$q1: to=<u2@two.relay.test> relay=smtp.relay.test\[fd00::4:1\]:587 tls=TLSv1.2/[^ ]+/verified status=sent"
no_direct_mx
no_secret_logged
say "1: two domains through the relay on 587: STARTTLS, verified, AUTH PLAIN, no direct MX: ok"

# ---- 2: a reload to port 465: implicit TLS
reload 's/^relay-host .*/relay-host [smtp.relay.test]:465/'
q2=$(send alice@src.example u3@one.relay.test)
world_wait_mx_messages smtp.relay.test 3 30 || t_fail "the message reaches the relay on 465" "none"
world_wait_log "$log" "$q2: removed" 20 || t_fail "$q2 removed" "no line"
wait_conns smtp.relay.test 3 || t_fail "the relay recorded the 465 connection" "none"
got=$(world_mx_json smtp.relay.test '[(c0["mode"], c0["tls"], c0["starttls"], c0["auth"], [t["to"] for t in c0.get("transactions", [])]) for c0 in c if c0["port"] == 465]')
[ "$got" = "[('smtps', True, False, 'relayuser', [['u3@one.relay.test']])]" ] ||
    t_fail "one implicit-TLS connection on 465 with AUTH and the transaction" "$got"
world_assert_log "$log" "$q2: to=<u3@one.relay.test> relay=smtp.relay.test\[fd00::4:1\]:465 tls=TLSv1.2/[^ ]+/verified status=sent"
no_direct_mx
say "2: after a reload, implicit TLS on 465 with AUTH: ok"

# ---- 3: a relay name the certificate does not carry: deferred, no AUTH,
# no MAIL; right again after a reload, the message goes
reload 's/^relay-host .*/relay-host [wrongname.relay.test]:587/'
q3=$(send alice@src.example u4@two.relay.test)
world_wait_log "$log" "$q3: to=<u4@two.relay.test> relay=wrongname.relay.test\[127.0.4.2\]:587 .*status=deferred reply=\"name mismatch: wanted wrongname.relay.test, certificate has" 20 ||
    t_fail "the relay with another name's certificate defers with name mismatch" "$(grep "$q3: to=" "$log" | tail -n 1)"
wait_conns bad.relay.test 1 || t_fail "strictmail connected to the wrong relay" "no connection"
got=$(world_mx_json bad.relay.test '[(c0["auth"], c0.get("auth_attempts", []), len(c0.get("transactions", [])), any(x.startswith("AUTH") for x in c0.get("commands", []))) for c0 in c if c0["port"] == 587][:1]')
[ "$got" = "[(None, [], 0, False)]" ] ||
    t_fail "no AUTH and no transaction at the relay with the wrong certificate" "$got"
got=$(world_mx_json bad.relay.test 'sum(len(c0.get("transactions", [])) + len(c0.get("auth_attempts", [])) for c0 in c)')
[ "$got" = 0 ] || t_fail "no AUTH or MAIL in any connection to the wrong relay" "$got"
[ "$(world_queue_count "$spool")" = 1 ] || t_fail "the deferred message stays queued" "$(world_queue_count "$spool")"
n=$(world_mx_messages smtp.relay.test)
reload 's/^relay-host .*/relay-host [smtp.relay.test]:587/'
world_wait_log "$log" "$q3: removed" 30 || t_fail "$q3 goes once relay-host is right" "$(grep "$q3: to=" "$log" | tail -n 1)"
world_wait_mx_messages smtp.relay.test $((n + 1)) 20 || t_fail "the deferred message reaches the right relay" "none"
no_direct_mx
say "3: wrong relay certificate: name mismatch, no AUTH, no MAIL; delivered after the fix: ok"

# ---- 4: masquerade-sender: a local sender domain becomes the
# masquerade domain at the relay; another sender stays
reload '$a masquerade-sender example.net'
q4=$(send carol@self.relay.test u5@one.relay.test)
q5=$(send dave@elsewhere.example u6@one.relay.test)
world_wait_log "$log" "$q4: removed" 20 || t_fail "$q4 relayed" "$(grep "$q4: to=" "$log" | tail -n 1)"
world_wait_log "$log" "$q5: removed" 20 || t_fail "$q5 relayed" "$(grep "$q5: to=" "$log" | tail -n 1)"
got=$(world_mx_json smtp.relay.test 'sorted((t["to"][0], t["from"]) for c0 in c for t in c0.get("transactions", []) if t["to"][0] in ("u5@one.relay.test", "u6@one.relay.test"))')
[ "$got" = "[('u5@one.relay.test', 'carol@example.net'), ('u6@one.relay.test', 'dave@elsewhere.example')]" ] ||
    t_fail "MAIL FROM carol@example.net (masqueraded), dave unchanged" "$got"
say "4: masquerade-sender rewrites a local sender's domain, not another's: ok"

# ---- 5: a credentials file open to others stops the start; a wrong
# password defers, no transaction, no bounce, the message stays queued
sm_stop "$SM_PID" || t_fail "strictmaild stops" "it had to be killed"
chmod 644 "$auth"
out=$(ip netns exec "$W_NS" timeout 20 "$SM_BIN" -d $(sm_mode_flag) -f "$conf" 2>&1 </dev/null)
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || t_fail "strictmaild refuses a credentials file open to others" "exit $rc"
grep -q "relay-auth-file $auth: mode 0644" <<<"$out" ||
    t_fail "the refusal names the file and its mode" "$(tail -n 3 <<<"$out" | tr '\n' '|')"
printf 'relayuser wrong-Secret-8\n' > "$auth"
chmod 600 "$auth"
log=$T_DIR/restart.log
world_start_strictmail "$conf" "$log"
nauth=$(world_mx_json smtp.relay.test 'len(c)')
ntx=$(world_mx_json smtp.relay.test 'sum(len(c0.get("transactions", [])) for c0 in c)')
q6=$(send alice@src.example u7@two.relay.test)
world_wait_log "$log" "$q6: to=<u7@two.relay.test> relay=smtp.relay.test\[[^]]+\]:587 tls=TLSv1.2/[^ ]+/verified .*status=deferred reply=\"authentication failed: 535 5.7.8" 20 ||
    t_fail "a wrong password defers with authentication failed: 535" "$(grep "$q6: to=" "$log" | tail -n 1)"
world_wait_log "$log" "$q6: to=<u7@two.relay.test> .*attempts=2 status=deferred reply=\"authentication failed: 535 5.7.8" 20 ||
    t_fail "retried and deferred again, never bounced" "$(grep "$q6: to=" "$log" | tail -n 1)"
wait_conns smtp.relay.test $((nauth + 1)) || t_fail "the relay recorded the failed AUTH" "none"
got=$(world_mx_json smtp.relay.test "[(a['user'], a['ok']) for c0 in c[$nauth:] for a in c0.get('auth_attempts', [])][:1]")
[ "$got" = "[('relayuser', False)]" ] || t_fail "the relay saw a failed AUTH as relayuser" "$got"
got=$(world_mx_json smtp.relay.test 'sum(len(c0.get("transactions", [])) for c0 in c)')
[ "$got" = "$ntx" ] || t_fail "no transaction after the failed AUTH" "$got, was $ntx"
world_assert_no_log "$log" "$q6: .*status=(bounced|sent)" "the message is neither bounced nor sent"
world_assert_no_log "$log" "$q6: bounce" "no bounce for a failed AUTH"
[ "$(world_queue_count "$spool")" = 1 ] || t_fail "the message stays queued" "$(world_queue_count "$spool")"
no_direct_mx
no_secret_logged
say "5: a credentials file open to others stops the start; a wrong password defers, nothing sent, queued: ok"

t_pass
