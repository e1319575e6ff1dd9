#!/bin/bash
# t-55-sts-fetch-cached: an enforce policy is cached (scenario
# sts-enforce), then the TXT record announces a new id whose fetch fails
# in each way t-54 shows ('world switch' to sts-enforce-next-redirect,
# -404, -html, -notype, -big, -chunked, -slow, -cnonly, -500; their
# bodies are enforce policies listing no real MX).  Each time (rule 28):
#   - exactly one request for the new id (none for the redirect target);
#   - the cached policy stays in force: the message goes to mx1 over
#     verified TLS, logged "sts=enforce id=<old id> policy=cached-fallback
#     verified", and mx1's records show it over TLS, never in plaintext;
#   - "strictmailctl sts show" keeps the old id and records the new id's
#     failure and reason.
# Then the TXT record removed, and answering SERVFAIL: still enforced from
# the cache, nothing fetched (rules 5, 28).
# Runs once, unprivileged (t-54 runs the cache in the chroot).
# scenarios: sts-enforce-next-redirect sts-enforce-next-404 sts-enforce-next-html
# scenarios: sts-enforce-next-notype sts-enforce-next-big sts-enforce-next-chunked
# scenarios: sts-enforce-next-slow sts-enforce-next-cnonly sts-enforce-next-500
# scenarios: sts-enforce-next-notxt sts-enforce-next-servfail
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 0 ] || t_skip "checked once, with SM_PRIV=0 (leak detection; t-54 runs privileged)"
world_init sts-enforce
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
sock=$T_DIR/run/control.sock
CTL=$(dirname "$SM_BIN")/strictmailctl
[ -x "$CTL" ] || t_fail "an executable strictmailctl next to $SM_BIN" "none"
sm_config "$T_DIR/c" "$spool" "hostname self.other.test" "tls-ca-file $W_CA" \
    "mta-sts-fetch-timeout 4s" "mta-sts-backoff 1h" "retry-initial 1h" \
    "retry-max 1h" "smtp-reuse-idle 0" "control-socket $sock"
world_start_strictmail "$T_DIR/c" "$log"
printf 'Subject: t-55\r\n\r\nhello\r\n' > "$T_DIR/body"
wk=/.well-known/mta-sts.txt
old=20240501T120000

ctl() {
	world_exec "$CTL" -s "$sock" "$@"
}

# requests [URI]: what the policy host answered (any URI: nginx logs the
# URI of its own error page for some statuses).
requests() {
	world_http_count mta-sts.enforce.test ${1:+"$1"}
}

# mx1_has RCPT: mx1 recorded RCPT once, over TLS; no plaintext
# transaction at all (rule 21).
mx1_has() {
	local got
	got=$(world_mx_json mx1.enforce.test "[t['tls'] for c0 in c for t in c0.get('transactions', []) if '$1' in t['to']]")
	[ "$got" = "[True]" ] || t_fail "mx1 has $1 once, over TLS" "$got"
	got=$(world_mx_json mx1.enforce.test "[t['to'] for c0 in c for t in c0.get('transactions', []) if not t['tls']]")
	[ "$got" = "[]" ] || t_fail "no plaintext transaction at mx1" "$got"
}

# ---- the policy is fetched and cached
q=$(world_send_qid a@src.other.test u0@enforce.test "$T_DIR/body")
world_wait_log "$log" "$q: to=<u0@enforce.test> relay=mx1.enforce.test\[[^ ]+\]:25 tls=TLSv1.2/[^ ]+/verified status=sent .*sts=enforce id=$old verified" 30 ||
    t_fail "the first message under the fetched enforce policy" "$(grep "$q: to=" "$log" | tail -n 1)"
mx1_has u0@enforce.test
[ "$(requests "$wk")" = 1 ] || t_fail "one fetch of the policy" "$(requests "$wk")"
say "enforce policy $old fetched and cached: ok"

# ---- strictmailctl sts check: live, step by step, through the daemon;
# the cache untouched, no mail at the MX (rule 32)
before=$(ctl sts show enforce.test)
nreq=$(requests)
check=$(ctl sts check enforce.test) || t_fail "sts check enforce.test" "$check"
for want in "txt: id $old" "fetch: policy host certificate: verified" \
    "fetch: HTTP status 200" 'fetch: media type "text/plain"' \
    "policy: version STSv1, mode enforce, max_age 86400" \
    "policy: mx mx1.enforce.test" \
    "mx: mx1.enforce.test (preference 10): in the policy" \
    "verdict: enforce: delivery possible"; do
	printf '%s\n' "$check" | grep -qxF -- "$want" ||
	    t_fail "sts check prints '$want'" "$check"
done
printf '%s\n' "$check" | grep -Eqx 'mx: mx1.enforce.test: STARTTLS offered, TLSv1.2/[^ ]+, certificate: verified' ||
    t_fail "sts check shows mx1's TLS and certificate" "$check"
[ "$(requests)" = $((nreq + 1)) ] || t_fail "sts check fetched the policy once" "$(requests)"
[ "$(ctl sts show enforce.test)" = "$before" ] ||
    t_fail "sts check leaves the cache as it was" "$(ctl sts show enforce.test)"
got=$(world_mx_json mx1.enforce.test "len([t for c0 in c for t in c0.get('transactions', [])])")
[ "$got" = 1 ] || t_fail "sts check sent no mail to mx1" "$got"
say "sts check: each step shown, one fetch, cache untouched, no mail: ok"

# next SCENARIO NEWID REASON-REGEX N
next() {
	local scn=$1 id=$2 why=$3 k=$4 before q n i show
	before=$(requests)
	world_switch "sts-enforce-next-$scn"
	q=$(world_send_qid a@src.other.test "u$k@enforce.test" "$T_DIR/body")
	world_wait_log "$log" "$q: to=<u$k@enforce.test> relay=mx1.enforce.test\[[^ ]+\]:25 tls=TLSv1.2/[^ ]+/verified status=sent .*sts=enforce id=$old policy=cached-fallback verified" 30 ||
	    t_fail "$scn: the cached policy $old still enforced" "$(grep "$q: to=" "$log" | tail -n 1)"
	world_assert_log "$log" "mta-sts: enforce.test: policy fetch for id $id failed: $why[^;]*; keeping the cached policy id $old" \
	    "$scn: the failure of id $id logged, the cached policy kept"
	mx1_has "u$k@enforce.test"
	for i in $(seq 1 100); do
		n=$(( $(requests) - before ))
		[ "$n" -ge 1 ] && break
		sleep 0.1
	done
	[ "$n" = 1 ] || t_fail "$scn: exactly one request for id $id" "$n"
	show=$(ctl sts show enforce.test) || t_fail "$scn: sts show" "$show"
	printf '%s\n' "$show" | grep -qx "id: $old" ||
	    t_fail "$scn: sts show keeps id $old" "$show"
	printf '%s\n' "$show" | grep -qx "mode: enforce" ||
	    t_fail "$scn: sts show keeps mode enforce" "$show"
	printf '%s\n' "$show" | grep -qx "error-id: $id" ||
	    t_fail "$scn: sts show records the failed id $id" "$show"
	printf '%s\n' "$show" | grep -Eq "^last-error: $why" ||
	    t_fail "$scn: sts show records /$why/" "$show"
	say "$scn: id $id failed ($why), one request, $old still enforced: ok"
}

next redirect next301 "redirect \(HTTP status 301\) not followed" 1
n=$(requests /moved/mta-sts.txt)
[ "$n" = 0 ] || t_fail "rule 7: the redirect target gets no request" "$n"
next 404 next404 "HTTP status 404" 2
next html nexthtml "media type .{1,2}text/html.{1,2} is not text/plain" 3
next notype nextnotype "no Content-Type" 4
next big nextbig "body larger than 65536 bytes" 5
next chunked nextchunked "body larger than 65536 bytes" 6
next slow nextslow "timeout after 4 s" 7
next cnonly nextcnonly "certificate: name mismatch" 8
next 500 20240602T000000 "HTTP status 500" 9

# nodns SCENARIO N: the TXT record gone, or SERVFAIL: the cached policy,
# no fetch (rules 5, 28).
nodns() {
	local scn=$1 k=$2 before q
	before=$(requests)
	world_switch "sts-enforce-next-$scn"
	q=$(world_send_qid a@src.other.test "u$k@enforce.test" "$T_DIR/body")
	world_wait_log "$log" "$q: to=<u$k@enforce.test> relay=mx1.enforce.test\[[^ ]+\]:25 tls=TLSv1.2/[^ ]+/verified status=sent .*sts=enforce id=$old policy=cached-fallback verified" 30 ||
	    t_fail "$scn: the cached policy $old still enforced" "$(grep "$q: to=" "$log" | tail -n 1)"
	mx1_has "u$k@enforce.test"
	[ "$(requests)" = "$before" ] || t_fail "$scn: no fetch" "$(( $(requests) - before )) requests"
	say "$scn: no usable TXT answer, $old still enforced, nothing fetched: ok"
}
nodns notxt 10
nodns servfail 11
t_pass
