#!/bin/bash
# t-50-sts-mx: MTA-STS applied to delivery, one world per behaviour, each
# with strictmail started afresh (empty spool and policy cache).  Every
# case is checked on the MXs' own records (delivered where, over which
# TLS) and for what must not happen: no plaintext session and no MAIL at
# any MX of an enforce domain that fails the checks, no TCP connection at
# all to an MX the policy does not list, no fetch where there must be
# none.  "rule N" cites a rule of the MTA-STS specification.
#   sts-enforce          delivered over verified TLS 1.2 with SNI, EHLO
#                        again after STARTTLS (rules 1, 19, 21, 25)
#   sts-no-starttls      deferred, starttls-not-supported (rules 21, 22)
#   sts-mx-tls-failures  wrong name, expired, CN only, 454, broken
#                        handshake, TLS 1.1 only: deferred with their code,
#                        never in plaintext; injected plaintext ignored
#                        (rules 21, 22, 25)
#   sts-mx-selfsigned    deferred, certificate-not-trusted (rule 21)
#   sts-mx-mismatch      unlisted MX skipped without a connection; the only
#                        MX unlisted: deferred mx-not-in-policy (rules 19, 20)
#   sts-mx-unreachable   no listed MX reachable: deferred, the unlisted
#                        plaintext MX untouched (rules 20, 22)
#   sts-wildcard         *.D matches one extra label, not two, not zero
#                        (rule 19)
#   sts-testing          bad certificate: delivered, failure logged (rule 23)
#   sts-none             mode none: opportunistic TLS, plaintext (rule 24)
#   sts-policy-unreachable  TXT, no reachable policy host: delivered as no
#                        policy, warned (rule 29)
#   sts-txt-servfail     TXT SERVFAIL / time-out, nothing cached: delivered
#                        as no policy, warned, nothing fetched (rule 5)
#   sts-txt-cname        the TXT record behind a CNAME (rule 4)
#   sts-mx-reuse         a may session never carries an enforce domain's
#                        mail (rule 21)
# Runs once, unprivileged (leak detection); the checks do not depend on
# the mode (t-53 and t-54 run privileged).
# scenarios: sts-enforce sts-no-starttls sts-mx-tls-failures sts-mx-selfsigned
# scenarios: sts-mx-mismatch sts-mx-unreachable sts-wildcard sts-testing
# scenarios: sts-none sts-policy-unreachable sts-txt-servfail sts-txt-cname
# scenarios: sts-mx-reuse
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 0 ] || t_skip "checked once, with SM_PRIV=0 (t-53 and t-54 run privileged)"
world_init sts-enforce
printf 'Subject: t-50\r\nMessage-ID: <t50@src.sts.test>\r\n\r\nhello\r\n' > "$T_DIR/body"
from=alice@src.sts.test
spool= log=

# start SCENARIO [CONFIG-LINE...]: the world of SCENARIO, strictmail in it
# with a spool of its own.
start() {
	local scn=$1
	shift
	[ "$W_SCENARIO" = "$scn" ] || sts_world "$scn"
	spool=$T_DIR/spool-$scn
	log=$T_DIR/$scn.log
	sts_config "$T_DIR/c-$scn" "$spool" "$@"
	world_start_strictmail "$T_DIR/c-$scn" "$log"
}

send() {	# send TO -> the queue id
	world_send_qid "$from" "$1" "$T_DIR/body"
}

# deferred_by QID RCPT MXHOST ID CODE TEXT: RCPT deferred under enforce
# with CODE, "MTA-STS enforce: ...TEXT" in the queue listing, still queued,
# no MAIL and no plaintext-only connection at MXHOST (rules 21, 22).
deferred_by() {
	local q=$1 r=$2 mx=$3 id=$4 code=$5 text=$6 out
	sts_wait_rcpt "$log" "$q" "$r" "status=deferred .*sts=enforce id=$id failure=$code( |\$)" 30 \
	    "rule 21: $r deferred under enforce with failure=$code"
	world_assert_no_log "$log" "$q: to=<$r> .*status=(sent|bounced)" "rule 22: $r neither sent nor bounced"
	sts_queued "$spool" "$q" || t_fail "rule 22: $q still queued (a temporary failure)" "gone"
	out=$(sts_ctl queue)
	grep -F "MTA-STS enforce: " <<<"$out" | grep -qF -- "$text" ||
	    t_fail "the queue shows 'MTA-STS enforce: ...$text' for $q" "$(tr '\n' '|' <<<"$out")"
	sts_mx_wait_conns "$mx" 1 20 || t_fail "strictmail tried $mx" "no connection recorded"
	sts_assert_no_mail "$mx" "rule 21: nothing for $r at $mx"
	[ "$code" = starttls-not-supported ] ||
	    sts_assert_tls_only "$mx" "rule 21: no reconnection in plaintext to $mx"
}

# sent_tls RCPT MXHOST LOG-REGEX WHAT: a message to RCPT reaches MXHOST
# (its only transaction, over TLS 1.2) and is logged matching LOG-REGEX.
sent_tls() {
	local r=$1 mx=$2 re=$3 what=$4 q
	q=$(send "$r")
	world_wait_mx_messages "$mx" 1 30 || t_fail "$what: $mx gets the message" "none"
	sts_wait_rcpt "$log" "$q" "$r" "relay=${mx//./\\.}\[[^]]+\]:25 $re" 20 "$what"
	[ "$(sts_mx_deliveries "$mx")" = "[(['$r'], True, 'TLSv1.2')]" ] ||
	    t_fail "$what: $mx got it over TLS 1.2" "$(sts_mx_deliveries "$mx")"
}

# ---- sts-enforce: a valid MX (rules 1, 19, 21, 25)
start sts-enforce
q=$(send u@enforce.test)
world_wait_mx_messages mx1.enforce.test 1 30 || t_fail "rule 21: the enforce message reaches mx1" "none"
sts_wait_rcpt "$log" "$q" u@enforce.test \
    "relay=mx1\.enforce\.test\[[^]]+\]:25 tls=TLSv1\.2/[^ ]+/verified status=sent .*sts=enforce id=20240501T120000 verified" 20 \
    "rule 21: delivered under enforce over verified TLS 1.2, logged sts=enforce id=... verified"
got=$(world_mx_json mx1.enforce.test '[(c0.get("sni"), c0.get("tls_version"), [x.split()[0] for x in c0["commands"]], [(t["to"], t["tls"]) for t in c0.get("transactions", [])]) for c0 in c]')
[ "$got" = "[('mx1.enforce.test', 'TLSv1.2', ['EHLO', 'STARTTLS', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'QUIT'], [(['u@enforce.test'], True)])]" ] ||
    t_fail "rules 21, 25: one connection to mx1, SNI mx1.enforce.test, TLS 1.2, EHLO again after STARTTLS, one TLS transaction" "$got"
[ "$(world_mx_plaintext mx1.enforce.test)" = 0 ] || t_fail "rule 21: no plaintext transaction" "$(world_mx_plaintext mx1.enforce.test)"
[ "$(world_http_count mta-sts.enforce.test /.well-known/mta-sts.txt)" = 1 ] ||
    t_fail "one policy fetch" "$(world_http_count mta-sts.enforce.test)"
# rule 1: TXT at _mta-sts.<domain>, never at a parent domain
[ "$(world_dns_queries _mta-sts.enforce.test TXT)" -ge 1 ] || t_fail "rule 1: a TXT query for _mta-sts.enforce.test" "none"
[ "$(world_dns_queries _mta-sts.test TXT)" = 0 ] || t_fail "rule 1: no TXT query at a parent domain" "$(world_dns_queries _mta-sts.test TXT)"
say "sts-enforce: delivered over verified TLS 1.2 with SNI, one fetch (rules 1, 19, 21, 25): ok"

# ---- sts-no-starttls (rules 21, 22)
start sts-no-starttls
q=$(send u@nostarttls.test)
deferred_by "$q" u@nostarttls.test mx1.nostarttls.test nostarttls1 starttls-not-supported "mx1.nostarttls.test"
sleep 2
sts_assert_no_mail mx1.nostarttls.test "rule 21: no plaintext delivery later either"
say "sts-no-starttls: deferred, no MAIL at the MX (rules 21, 22): ok"

# ---- sts-mx-tls-failures (rules 21, 22, 25)
start sts-mx-tls-failures
declare -A code=([wrongname]=certificate-host-mismatch [expired]=certificate-expired
    [cnonly]=certificate-host-mismatch [s454]=starttls-not-supported
    [broken]=validation-failure [tls11]=validation-failure)
declare -A text=([wrongname]=mx.wrongname.mxtls.test [expired]="certificate for mx.expired.mxtls.test has expired"
    [cnonly]=mx.cnonly.mxtls.test [s454]=mx.s454.mxtls.test [broken]=mx.broken.mxtls.test
    [tls11]=mx.tls11.mxtls.test)
declare -A qs
for d in "${!code[@]}" inject; do
	qs[$d]=$(send "u@$d.mxtls.test")
done
for d in "${!code[@]}"; do
	deferred_by "${qs[$d]}" "u@$d.mxtls.test" "mx.$d.mxtls.test" mxtls1 "${code[$d]}" "${text[$d]}"
done
world_assert_no_log "$log" "u@tls11\.mxtls\.test> .*tls=TLSv1\.[01]" "rule 21: no TLS 1.0/1.1 session under enforce"
# rule 25: the plaintext an MX injects after its 220 is never read as replies
world_wait_mx_messages mx.inject.mxtls.test 1 30 || t_fail "rule 25: the injecting MX gets the message over TLS" "none"
sts_wait_rcpt "$log" "${qs[inject]}" u@inject.mxtls.test "tls=TLSv1\.2/[^ ]+/verified status=sent .*sts=enforce id=mxtls1 verified" 20 \
    "rule 25: delivered under enforce through the injecting MX"
got=$(world_mx_json mx.inject.mxtls.test '[(c0.get("injected"), c0.get("plaintext_after_starttls", 0), [x.split()[0] for x in c0["commands"]], [(t["to"], t["tls"]) for t in c0.get("transactions", [])]) for c0 in c]')
[ "$got" = "[(71, 0, ['EHLO', 'STARTTLS', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'QUIT'], [(['u@inject.mxtls.test'], True)])]" ] ||
    t_fail "rule 25: injected bytes ignored, EHLO again under TLS, one TLS transaction" "$got"
say "sts-mx-tls-failures: six failures deferred with their codes, never plaintext; injection ignored (rules 21, 22, 25): ok"

# ---- sts-mx-selfsigned (rule 21)
start sts-mx-selfsigned
q=$(send u@selfsigned.test)
deferred_by "$q" u@selfsigned.test mx1.selfsigned.test selfsigned1 certificate-not-trusted mx1.selfsigned.test
say "sts-mx-selfsigned: deferred, certificate-not-trusted (rule 21): ok"

# ---- sts-mx-mismatch (rules 19, 20)
start sts-mx-mismatch
qm=$(send u@mismatch.test)
qp=$(send u@partial.test)
world_wait_mx_messages mx2.partial.test 1 30 || t_fail "rule 20: the listed backup MX gets the message" "none"
sts_wait_rcpt "$log" "$qp" u@partial.test "relay=mx2\.partial\.test\[127\.0\.1\.3\]:25 tls=TLSv1\.2/[^ ]+/verified status=sent .*sts=enforce id=partial1 verified" 20 \
    "rule 20: delivered to mx2 (listed) under enforce"
[ "$(sts_mx_deliveries mx2.partial.test)" = "[(['u@partial.test'], True, 'TLSv1.2')]" ] ||
    t_fail "rule 20: mx2 got the message over TLS 1.2" "$(sts_mx_deliveries mx2.partial.test)"
sts_wait_rcpt "$log" "$qm" u@mismatch.test "status=deferred .*sts=enforce id=mismatch1 failure=mx-not-in-policy" 20 \
    "rule 20: the only MX unlisted: deferred mx-not-in-policy"
out=$(sts_ctl queue)
grep -qF "MTA-STS enforce: mx1.mismatch.test is not in the policy" <<<"$out" ||
    t_fail "the queue shows 'MTA-STS enforce: mx1.mismatch.test is not in the policy'" "$(tr '\n' '|' <<<"$out")"
sts_queued "$spool" "$qm" || t_fail "rule 22: $qm still queued" "gone"
sts_assert_untouched mx1.partial.test "rule 20: the unlisted preferred MX skipped"
sts_assert_untouched mx1.mismatch.test "rule 20: the unlisted only MX skipped"
say "sts-mx-mismatch: unlisted MXs get no connection; the listed backup gets the mail (rules 19, 20): ok"

# ---- sts-mx-unreachable (rules 20, 22)
start sts-mx-unreachable
q=$(send u@unreach.test)
sts_wait_rcpt "$log" "$q" u@unreach.test "status=deferred .*sts=enforce id=unreach1 failure=no-mx-reachable" 30 \
    "rule 20: no listed MX reachable: deferred, failure=no-mx-reachable"
world_assert_no_log "$log" "$q: to=<u@unreach.test> .*status=(sent|bounced)" "rule 22: neither sent nor bounced"
sts_queued "$spool" "$q" || t_fail "rule 22: $q still queued" "gone"
sleep 1
sts_assert_untouched mx3.unreach.test "rule 20: never a fallback to the unlisted plaintext MX"
say "sts-mx-unreachable: deferred, the unlisted MX untouched (rules 20, 22): ok"

# ---- sts-wildcard (rule 19)
start sts-wildcard
sent_tls u@wildcard.test mx1.wildcard.test "tls=TLSv1\.2/[^ ]+/verified status=sent .*sts=enforce id=wild1 verified" \
    "rule 19: *.wildcard.test matches mx1.wildcard.test"
sts_assert_untouched deep.mx.wildcard.test "rule 19: two extra labels do not match *.wildcard.test"
sts_assert_untouched wildcard.test "rule 19: the domain itself does not match *.wildcard.test"
say "sts-wildcard: one extra label matches, two and zero do not (rule 19): ok"

# ---- sts-testing (rule 23)
start sts-testing
sent_tls u@testing.test mx1.testing.test "tls=TLSv1\.2/[^ ]+ status=sent .*sts=testing id=testing2024 failure=certificate-host-mismatch" \
    "rule 23: testing mode: delivered over TLS despite the bad certificate, failure logged"
say "sts-testing: delivered over TLS, failure logged (rule 23): ok"

# ---- sts-none (rule 24)
start sts-none
q=$(send u@none.test)
world_wait_mx_messages mx1.none.test 1 30 || t_fail "rule 24: mode none delivers to an MX without STARTTLS" "none"
sts_wait_rcpt "$log" "$q" u@none.test "relay=mx1\.none\.test\[127\.0\.1\.1\]:25 tls=none status=sent .*sts=none id=none2024" 20 \
    "rule 24: mode none: delivered, logged sts=none id=none2024"
world_assert_no_log "$log" "$q: .*failure=" "rule 24: no MTA-STS failure under mode none"
say "sts-none: the ordinary TLS policy applies (rule 24): ok"

# warned RULE MXHOST WHY:RCPT...: each RCPT delivered to MXHOST in
# plaintext as if its domain had no policy, logged sts=none warn="..."
warned() {
	local rule=$1 mx=$2 a qs=() i=0
	shift 2
	for a in "$@"; do qs+=("$(send "${a#*:}")"); done
	world_wait_at_least 40 $# world_mx_messages "$mx" ||
	    t_fail "rule $rule: delivered as if there were no policy" "$(world_mx_messages "$mx") of $# at $mx"
	for a in "$@"; do
		sts_wait_rcpt "$log" "${qs[$i]}" "${a#*:}" "tls=none status=sent .*sts=none warn=(\"[^\"]+\"|[^ ]+)" 20 \
		    "rule $rule: ${a%%:*}: delivered, sts=none with a warning"
		i=$((i + 1))
	done
}

# ---- sts-policy-unreachable (rule 29)
start sts-policy-unreachable
warned 29 mx.unreachpol.test "policy host refusing:u@refused.test" \
    "policy host without an address:u@nohost.test"
say "sts-policy-unreachable: delivered as no policy, warned (rule 29): ok"

# ---- sts-txt-servfail (rule 5)
start sts-txt-servfail
warned 5 mx.txtfail.test "TXT SERVFAIL, nothing cached:u@servfail.test" \
    "TXT time-out, nothing cached:u@timeout.test"
for h in mta-sts.servfail.test mta-sts.timeout.test; do
	[ "$(world_http_count "$h")" = 0 ] || t_fail "rule 5: no fetch from $h when the TXT answer is unknown" "$(world_http_count "$h")"
done
say "sts-txt-servfail: delivered as no policy, warned, nothing fetched (rule 5): ok"

# ---- sts-txt-cname (rule 4)
start sts-txt-cname
sent_tls u@cname.test mx2.cname.test "tls=TLSv1\.2/[^ ]+/verified status=sent .*sts=enforce id=cname1 verified" \
    "rule 4: a CNAME at _mta-sts is followed: the policy behind it (mx2) applies"
sts_assert_untouched mx1.cname.test "rule 4: the unlisted plaintext MX is skipped"
say "sts-txt-cname: the CNAME at _mta-sts is followed (rule 4): ok"

# ---- sts-mx-reuse (rule 21)
start sts-mx-reuse "smtp-reuse-idle 6s"
qm=$(send a@may.shared.test)
sts_wait_rcpt "$log" "$qm" a@may.shared.test "relay=mx\.shared\.test\[127\.0\.1\.1\]:25 tls=TLSv1\.2/[^ ]+/unverified status=sent .*conn=new" 20 \
    "the may message goes over unverified TLS on a new connection"
qe=$(send b@enf.shared.test)
sts_wait_rcpt "$log" "$qe" b@enf.shared.test "status=deferred .*sts=enforce id=shared1 failure=certificate-host-mismatch" 20 \
    "rule 21: the enforce message deferred for the certificate's name"
world_assert_no_log "$log" "$qe: to=<b@enf.shared.test> .*conn=reused" "rule 21: the enforce message never on the reused may session"
sts_mx_wait_conns mx.shared.test 2 20 || t_fail "two connections at mx.shared.test" "$(world_mx_connections mx.shared.test)"
got=$(world_mx_json mx.shared.test '[t["to"] for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[['a@may.shared.test']]" ] || t_fail "rule 21: mx.shared got the may recipient only" "$got"
got=$(world_mx_json mx.shared.test '[x for c0 in c for x in c0.get("commands", []) if "enf.shared.test" in x]')
[ "$got" = "[]" ] || t_fail "rule 21: no command for the enforce recipient on any connection" "$got"
say "sts-mx-reuse: an unverified may session never carries enforce mail (rule 21): ok"

t_pass
