#!/bin/bash
# t-53-sts-misc: MTA-STS and the local configuration, name resolution and
# IDN, in the test world.  Each case is checked on the MXs' and the
# policy hosts' own records as well as in strictmail's log.
#   rule 11      /etc/netns/<ns>/hosts gives mta-sts.enforce.test another
#                address, whose server (a certificate from the same CA)
#                serves a different policy: strictmail fetches from the
#                address DNS gives, never asks the other one
#   rule 33      a local tls-policy secure is stricter than the published
#                policy and wins; tls-policy may never weakens enforce;
#                mta-sts-disable switches one named domain off (logged
#                sts=disabled-by-config, nothing fetched) and no other
#   relay host   MTA-STS is not evaluated (sts=relayhost, no TXT query)
#   rules 1, 19  a U-label recipient domain: TXT at _mta-sts. of its
#                A-label form, MX patterns matched in A-labels
# Runs once, privileged (the other MTA-STS world tests run unprivileged).
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 1 ] || t_skip "checked once, with SM_PRIV=1"
world_init sts-enforce
world_need_postfix
printf 'Subject: t-53\r\nMessage-ID: <t53@src.sts.test>\r\n\r\nhello\r\n' > "$T_DIR/body"
from=alice@src.sts.test
spool= log= conf=

# start [CONFIG-LINE...]: strictmail in the current world, own spool.
start() {
	spool=$T_DIR/spool-$W_SCENARIO
	log=$T_DIR/$W_SCENARIO.log
	conf=$T_DIR/c-$W_SCENARIO
	sts_config "$conf" "$spool" "$@"
	world_start_strictmail "$conf" "$log"
}

send() {	# send TO -> the queue id
	world_send_qid "$from" "$1" "$T_DIR/body"
}

# ---- rule 11: the hosts file names another policy host
cat > "$T_DIR/decoy-policy.txt" <<'EOF'
version: STSv1
mode: enforce
mx: elsewhere.enforce.test
max_age: 86400
EOF
sts_decoy_policy mta-sts.enforce.test 127.0.2.99 "$T_DIR/decoy-policy.txt"
start
q=$(send u@enforce.test)
world_wait_mx_messages mx1.enforce.test 1 30 ||
    t_fail "rule 11: the policy from the DNS address (listing mx1) is used: mx1 gets the message" "none"
sts_wait_rcpt "$log" "$q" u@enforce.test "relay=mx1\.enforce\.test\[[^]]+\]:25 tls=TLSv1\.2/[^ ]+/verified status=sent .*sts=enforce id=20240501T120000 verified" 20 \
    "rule 11: delivered under the policy fetched from the DNS address"
[ "$(world_http_count mta-sts.enforce.test /.well-known/mta-sts.txt)" = 1 ] ||
    t_fail "rule 11: one request at the policy host of the DNS address" "$(world_http_count mta-sts.enforce.test)"
[ ! -s "$T_DIR/decoy.log" ] || t_fail "rule 11: no request at the address of the hosts file" "$(tr '\n' '|' < "$T_DIR/decoy.log")"
out=$(sts_ctl sts show enforce.test)
grep -qxF "mx: mx1.enforce.test" <<<"$out" && ! grep -qF "elsewhere" <<<"$out" ||
    t_fail "rule 11: the cached policy is the one of the DNS address" "$(tr '\n' '|' <<<"$out")"
say "rule 11: names resolved by strictmail's resolver, not the hosts file: ok"

# ---- rule 33: a stricter local level wins (secure checks the recipient
# domain, and mx1's certificate names only mx1.enforce.test)
echo "tls-policy enforce.test secure" >> "$conf"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done" 10 || t_fail "the reload" "no line"
q=$(send v@enforce.test)
sts_wait_rcpt "$log" "$q" v@enforce.test "status=deferred reply=\"[^\"]*name mismatch[^\"]*enforce\.test" 30 \
    "rule 33: tls-policy secure, stricter than the policy, defers (name mismatch)"
world_assert_no_log "$log" "$q: to=<v@enforce.test> .*status=sent" "rule 33: not delivered under the weaker published policy"
got=$(world_mx_json mx1.enforce.test '[t["to"] for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[['u@enforce.test']]" ] || t_fail "rule 33: no transaction for v at mx1" "$got"
say "rule 33: a stricter local tls-policy wins over enforce: ok"

# ---- rule 33: tls-policy may never weakens enforce
sts_world sts-no-starttls
start "tls-policy nostarttls.test may"
q=$(send u@nostarttls.test)
sts_wait_rcpt "$log" "$q" u@nostarttls.test "status=deferred .*sts=enforce id=nostarttls1 failure=starttls-not-supported" 30 \
    "rule 33: enforce still applies under tls-policy may"
sts_mx_wait_conns mx1.nostarttls.test 1 20 || t_fail "strictmail tried mx1" "no connection recorded"
sts_assert_no_mail mx1.nostarttls.test "rule 33: no plaintext delivery under tls-policy may"
say "rule 33: a weaker local tls-policy does not weaken enforce: ok"

# ---- rule 33: mta-sts-disable for one named domain
sts_world sts-mx-mismatch
start "mta-sts-disable mismatch.test"
q1=$(send u@mismatch.test)
q2=$(send w@mismatch.test)
q3=$(send u@partial.test)
world_wait_mx_messages mx1.mismatch.test 2 30 ||
    t_fail "rule 33: the disabled domain is delivered without its policy" "$(world_mx_messages mx1.mismatch.test)"
sts_wait_rcpt "$log" "$q1" u@mismatch.test "relay=mx1\.mismatch\.test\[127\.0\.1\.1\]:25 tls=TLSv1\.2/[^ ]+ status=sent .*sts=disabled-by-config" 20 \
    "rule 33: logged sts=disabled-by-config"
sts_wait_rcpt "$log" "$q2" w@mismatch.test "status=sent .*sts=disabled-by-config" 20 \
    "rule 33: every delivery to the disabled domain logs sts=disabled-by-config"
[ "$(world_http_count mta-sts.mismatch.test)" = 0 ] ||
    t_fail "rule 33: no policy fetched for the disabled domain" "$(world_http_count mta-sts.mismatch.test)"
# Only the named domain: partial.test is still enforced.
world_wait_mx_messages mx2.partial.test 1 30 || t_fail "rule 33: partial.test delivered to its listed MX" "none"
sts_wait_rcpt "$log" "$q3" u@partial.test "relay=mx2\.partial\.test\[[^]]+\]:25 .*status=sent .*sts=enforce id=partial1 verified" 20 \
    "rule 33: another domain keeps its policy"
sts_assert_untouched mx1.partial.test "rule 33: partial.test's unlisted MX still skipped"
say "rule 33: mta-sts-disable switches off one named domain only: ok"

# ---- relay host: MTA-STS is not evaluated
sts_world sts-relayhost
printf '# the relay account\nrelayuser relay-Secret-7\n' > "$T_DIR/relay-auth"
chmod 600 "$T_DIR/relay-auth"
start "relay-host [smtp.stsrelay.test]:587" "relay-auth-file $T_DIR/relay-auth"
q=$(send u@enf.stsrelay.test)
world_wait_mx_messages smtp.stsrelay.test 1 30 || t_fail "the message reaches the relay host" "none"
sts_wait_rcpt "$log" "$q" u@enf.stsrelay.test "relay=smtp\.stsrelay\.test\[127\.0\.4\.1\]:587 tls=TLSv1\.2/[^ ]+/verified status=sent .*sts=relayhost" 20 \
    "relay host: delivered over verified TLS, logged sts=relayhost"
got=$(world_mx_json smtp.stsrelay.test '[(c0["port"], c0.get("auth"), [(t["to"], t["tls"]) for t in c0.get("transactions", [])]) for c0 in c if c0.get("transactions")]')
[ "$got" = "[(587, 'relayuser', [(['u@enf.stsrelay.test'], True)])]" ] ||
    t_fail "relay host: one authenticated TLS transaction on 587" "$got"
[ "$(world_dns_queries _mta-sts.enf.stsrelay.test TXT)" = 0 ] ||
    t_fail "relay host: no _mta-sts TXT query" "$(world_dns_queries _mta-sts.enf.stsrelay.test TXT)"
[ "$(world_http_count mta-sts.enf.stsrelay.test)" = 0 ] || t_fail "relay host: no policy fetched" "$(world_http_count mta-sts.enf.stsrelay.test)"
sts_assert_untouched mx.enf.stsrelay.test "relay host: the domain's own MX is never used"
say "relay host: sts=relayhost, no TXT query, no fetch: ok"

# ---- rules 1, 19: IDN
sts_world sts-idn
start
export SMTEST_MAIL_OPTS=SMTPUTF8
q=$(send "u@bücher.test")
unset SMTEST_MAIL_OPTS
world_wait_mx_messages mx1.xn--bcher-kva.test 1 60 ||
    t_fail "rules 1, 19: the U-label domain is delivered to its listed MX (A-labels)" "none"
# (strictmail's receiver keeps the domain in its A-label form)
sts_wait_rcpt "$log" "$q" "u@(bücher|xn--bcher-kva)\.test" "relay=mx1\.xn--bcher-kva\.test\[127\.0\.1\.1\]:25 tls=TLSv1\.2/[^ ]+/verified status=sent .*sts=enforce id=idn1 verified" 20 \
    "rules 1, 19: delivered under the policy of the A-label form"
[ "$(world_dns_queries _mta-sts.xn--bcher-kva.test TXT)" -ge 1 ] ||
    t_fail "rule 1: the TXT query is for _mta-sts.xn--bcher-kva.test" "none; $(grep -c 'query\[TXT\]' "$W_DIR/dns/dnsmasq.log") TXT queries"
[ "$(world_http_count mta-sts.xn--bcher-kva.test /.well-known/mta-sts.txt)" = 1 ] ||
    t_fail "rule 1: the policy fetched from mta-sts.xn--bcher-kva.test" "$(world_http_count mta-sts.xn--bcher-kva.test)"
got=$(world_mx_json mx1.xn--bcher-kva.test '[t["tls"] for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[True]" ] || t_fail "rule 19: one TLS transaction at mx1" "$got"
sts_assert_untouched mx2.xn--bcher-kva.test "rule 19: the unlisted (preferred) MX is skipped"
say "rules 1, 19: IDN: A-label TXT and policy, A-label MX patterns: ok"

t_pass
