#!/bin/bash
# t-52-sts-cache: the MTA-STS policy cache in the test world.  The world
# (sts-cache) names three MXs for cache.test: mx1 takes mail in plaintext
# only, mx2 and mx3 have valid certificates; the enforce policy lists mx2.
# Which MX gets a message shows which policy was in force: mx2 over TLS
# (the cached enforce policy), mx3 (a new policy listing mx3), mx1 in
# plaintext (no policy, or mode none).  'world switch' changes the DNS and
# the policy host between the deliveries (sts-cache-next-*):
#   same id: cache used, no fetch; strictmailctl sts show / list / refresh /
#   flush (rules 26, 28, 32); TXT time-out and policy host down: still
#   enforced, also after a restart (rules 5, 27, 28); TXT gone, two TXT
#   records: still enforced (rules 2, 5, 28); a new id whose fetch fails:
#   the cached policy enforced, one request, none again within the back-off,
#   one after it (rules 12, 28); a SIGKILL right after a fetch leaves a
#   readable cache (rule 27); a new id with a new mx list: used at once
#   (rule 28); a deferred message is checked against a changed TXT id
#   before it expires (rule 22); mode none replaces enforce (rule 30); a
#   policy past its max_age whose fetch fails counts as none (rules 28,
#   29); a policy is refreshed in the background before it expires, a
#   failed refresh warned (rule 31).
# Runs once, unprivileged (leak detection); t-54 runs the cache in the
# delivery process's chroot.
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 0 ] || t_skip "checked once, with SM_PRIV=0 (t-54 runs the cache privileged)"
world_init sts-cache
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
conf=$T_DIR/c
sts_config "$conf" "$spool" "queue-lifetime 1h"
world_start_strictmail "$conf" "$log"
printf 'Subject: t-52\r\nMessage-ID: <t52@src.sts.test>\r\n\r\nhello\r\n' > "$T_DIR/body"
from=alice@src.sts.test

send() {	# send TO -> the queue id
	world_send_qid "$from" "$1" "$T_DIR/body"
}

# Every request counts: the URI nginx logs for an error status with a body
# is that of its internal error page.
fetches() {
	world_http_count mta-sts.cache.test
}

# delivered QID RCPT HOST TLS STS-REGEX WHAT: RCPT sent to HOST (logged
# with STS-REGEX), and HOST's records have it once, over TLS or not.
delivered() {
	local q=$1 r=$2 host=$3 tls=$4 sts=$5 what=$6 got
	sts_wait_rcpt "$log" "$q" "$r" "relay=${host//./\\.}\[[^]]+\]:25 .*status=sent .*$sts" 40 "$what"
	got=$(world_mx_json "$host" "[bool(t.get('tls')) for c0 in c for t in c0.get('transactions', []) if '$r' in t.get('to', [])]")
	[ "$got" = "[$tls]" ] || t_fail "$what: $r once at $host (TLS $tls)" "$got"
}

# enforced QID RCPT ID [cached] WHAT: delivered to mx2 over verified TLS
# under the enforce policy ID; mx1 (unlisted) gets no new connection
# (mx1n: the connections it had before).
mx1n=0
enforced() {
	local q=$1 r=$2 id=$3 fb=
	[ "$4" = cached ] && fb=" policy=cached-fallback"
	delivered "$q" "$r" mx2.cache.test True \
	    "sts=enforce id=$id$fb verified" "$5"
	if [ "$mx1n" = 0 ]; then
		sts_assert_untouched mx1.cache.test "rule 20: $5: mx1 skipped"
	else
		[ "$(world_mx_connections mx1.cache.test)" = "$mx1n" ] ||
		    t_fail "rule 20: $5: mx1 skipped" "$(world_mx_connections mx1.cache.test) connections, $mx1n before"
	fi
}

# fetches_now N WHAT: the policy host answered N requests (bounded wait:
# nginx logs a request once it is done).
fetches_now() {
	local i
	for i in $(seq 1 30); do [ "$(fetches)" = "$1" ] && break; sleep 0.1; done
	[ "$(fetches)" = "$1" ] || t_fail "$2 ($1 policy requests in all)" "$(fetches)"
}

# ---- 1: first delivery fetches and caches; the same id is not fetched
q=$(send m1@cache.test)
enforced "$q" m1@cache.test cache1 "" "rule 20: enforce skips mx1, delivers to mx2"
fetches_now 1 "one fetch for the first delivery"
out=$(sts_ctl sts show cache.test) || t_fail "rule 32: strictmailctl sts show cache.test" "$out"
for l in "domain: cache.test" "policy: yes" "id: cache1" "mode: enforce" "max_age: 86400" "mx: mx2.cache.test"; do
	grep -qxF "$l" <<<"$out" || t_fail "rule 26: '$l' in sts show" "$(tr '\n' '|' <<<"$out")"
done
for k in fetched expires last-use; do
	grep -Eq "^$k: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z?$" <<<"$out" ||
	    t_fail "rule 26: '$k: ISO 8601' in sts show" "$(tr '\n' '|' <<<"$out")"
done
out=$(sts_ctl sts list) || t_fail "rule 32: strictmailctl sts list" "$out"
grep -Eq "^cache\.test enforce id=cache1 expires=[0-9]{4}-[0-9]{2}-[0-9]{2}T" <<<"$out" ||
    t_fail "rule 32: sts list has cache.test" "$(tr '\n' '|' <<<"$out")"
nq=$(world_dns_queries _mta-sts.cache.test TXT)
q=$(send m2@cache.test)
enforced "$q" m2@cache.test cache1 "" "rule 28: same id: the cached policy"
fetches_now 1 "rule 28: same id, no new fetch"
[ "$(world_dns_queries _mta-sts.cache.test TXT)" -gt "$nq" ] ||
    t_fail "rule 28: the TXT record is checked when the cache is used" "no new TXT query"
out=$(sts_ctl sts refresh cache.test) || t_fail "rule 32: strictmailctl sts refresh" "$out"
grep -qxF "id: cache1" <<<"$out" || t_fail "rule 32: sts refresh prints the entry" "$(tr '\n' '|' <<<"$out")"
fetches_now 2 "rule 32: sts refresh fetches now"
say "1: fetched once and cached; same id uses the cache; show, list, refresh (rules 26, 28, 32): ok"

# ---- 2: TXT time-out, policy host down: cached policy, also after a restart
world_switch sts-cache-next-down
q=$(send m3@cache.test)
enforced "$q" m3@cache.test cache1 cached "rules 5, 28: DNS failure: the cached policy is still enforced"
sm_stop "$SM_PID" || t_fail "strictmaild stops" "it had to be killed"
log=$T_DIR/restart1.log
world_start_strictmail "$conf" "$log"
q=$(send m4@cache.test)
enforced "$q" m4@cache.test cache1 cached "rule 27: the cache survives a restart: still enforced"
say "2: TXT time-out and policy host down: enforced from the cache, also after a restart (rules 5, 27, 28): ok"

# ---- 3: TXT gone; two TXT records
world_switch sts-cache-next-notxt
q=$(send m5@cache.test)
enforced "$q" m5@cache.test cache1 cached "rules 5, 28: TXT NXDOMAIN does not remove the cached policy"
fetches_now 2 "rule 5: no fetch without a TXT record"
world_switch sts-cache-next-twotxt
q=$(send m6@cache.test)
enforced "$q" m6@cache.test cache1 cached "rules 2, 28: two TXT records: the cached policy stays"
fetches_now 2 "rule 2: two TXT records make no policy: nothing fetched"
sts_assert_untouched mx3.cache.test "rule 2: the policy behind the two records is never used"
say "3: TXT NXDOMAIN, two TXT records: the cached policy enforced, nothing fetched (rules 2, 5, 28): ok"

# ---- 4: a new id whose fetch fails; the back-off (mta-sts-backoff 8s)
world_switch sts-cache-next-fail
q=$(send m7@cache.test)
t_fail0=$(date +%s)
enforced "$q" m7@cache.test cache1 cached "rule 28: new id, failed fetch: the cached policy is kept"
fetches_now 3 "rule 28: one fetch of the new id"
out=$(sts_ctl sts show cache.test)
grep -qxF "id: cache1" <<<"$out" && grep -qxF "error-id: cache2" <<<"$out" &&
    grep -Eq "^last-error: .+" <<<"$out" && grep -Eq "^backoff-until: [0-9]{4}-" <<<"$out" ||
    t_fail "rules 12, 26: sts show keeps id cache1 and records the failed id, error and back-off" "$(tr '\n' '|' <<<"$out")"
q=$(send m8@cache.test)
enforced "$q" m8@cache.test cache1 cached "rule 12: within the back-off: the cached policy"
sleep 1
fetches_now 3 "rule 12: no new request for the failed id within the back-off"
while [ $(($(date +%s) - t_fail0)) -le 9 ]; do sleep 0.5; done
q=$(send m9@cache.test)
enforced "$q" m9@cache.test cache1 cached "rule 12: after the back-off: still the cached policy"
fetches_now 4 "rule 12: one new request once the back-off is over"
say "4: new id with a failing fetch: cached policy enforced; back-off honoured (rules 12, 28): ok"

# ---- 5: a new id with a new mx list; SIGKILL right after its fetch
world_switch sts-cache-next-newmx
n2=$(world_mx_connections mx2.cache.test)
q10=$(send m10@cache.test)
for i in $(seq 1 100); do [ "$(fetches)" -ge 5 ] && break; sleep 0.05; done
kill -KILL -- "-$SM_PID" 2>/dev/null
[ "$(fetches)" -ge 5 ] || t_fail "the fetch of the new id" "$(fetches) requests"
sm_wait_exit "$SM_PID" 10 >/dev/null 2>&1
log=$T_DIR/restart2.log
world_start_strictmail "$conf" "$log"
out=$(sts_ctl sts show cache.test) ||
    t_fail "rule 27: after a SIGKILL right after a fetch, the cache is readable" "$(tr '\n' '|' <<<"$out")"
grep -Eqx "id: cache(1|3)" <<<"$out" || t_fail "rule 27: the entry is the old or the new one" "$(tr '\n' '|' <<<"$out")"
world_assert_no_log "$log" "(sts|cache\.db).*(corrupt|DB_RUNRECOVERY|panic|moved aside)" "rule 27: no damaged cache after the SIGKILL"
world_wait_mx_messages mx3.cache.test 1 40 || t_fail "rule 28: the new policy (mx3) is used" "no message at mx3"
q=$(send m11@cache.test)
delivered "$q" m11@cache.test mx3.cache.test True "sts=enforce id=cache3 verified" \
    "rule 28: new id: the new policy is fetched and used (mx3)"
got=$(world_mx_json mx3.cache.test "sorted(t['to'][0] for c0 in c for t in c0.get('transactions', []))")
case $got in "['m10@cache.test', 'm11@cache.test']"|"['m10@cache.test', 'm10@cache.test', 'm11@cache.test']") ;;
*) t_fail "rule 28: m10 and m11 at mx3" "$got" ;; esac
[ "$(world_mx_connections mx2.cache.test)" = "$n2" ] || t_fail "rule 28: mx2 (not in the new policy) gets no connection" "$(world_mx_connections mx2.cache.test) (was $n2)"
out=$(sts_ctl sts show cache.test)
grep -qxF "mx: mx3.cache.test" <<<"$out" && ! grep -qxF "mx: mx2.cache.test" <<<"$out" ||
    t_fail "rule 28: the cache holds the new mx list" "$(tr '\n' '|' <<<"$out")"
say "5: new id with a new mx list used at once; a SIGKILL after the fetch leaves a readable cache (rules 27, 28): ok"

# ---- 6: rule 22: before a deferred message expires, the TXT id is
# checked again (retry-initial 1h, queue-lifetime 20s)
sed -i 's/^queue-lifetime .*/queue-lifetime 20s/' "$conf"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done" 10 || t_fail "the reload" "no line"
world_switch sts-cache-next-mx1only
q12=$(send m12@cache.test)
sts_wait_rcpt "$log" "$q12" m12@cache.test "status=deferred .*sts=enforce id=cache6 failure=starttls-not-supported" 30 \
    "rule 21: the policy listing only mx1 (no STARTTLS) defers"
sts_assert_no_mail mx1.cache.test "rule 21: no MAIL at mx1 under enforce"
world_switch sts-cache-next-newmx
sts_wait_rcpt "$log" "$q12" m12@cache.test "relay=mx3\.cache\.test\[[^]]+\]:25 .*status=sent .*sts=enforce id=cache3 verified" 40 \
    "rule 22: before expiry the TXT id is checked again and the new policy delivers"
world_assert_no_log "$log" "$q12: to=<m12@cache.test> .*status=bounced" "rule 22: the message does not expire"
sed -i 's/^queue-lifetime .*/queue-lifetime 1h/' "$conf"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done.*" 10 || t_fail "the second reload" "no line"
say "6: a message deferred under enforce is re-checked against a new TXT id before it expires (rule 22): ok"

# ---- 7: mode none replaces enforce at once
world_switch sts-cache-next-none
q=$(send m13@cache.test)
delivered "$q" m13@cache.test mx1.cache.test False "sts=none id=cache4" \
    "rule 30: a fetched none replaces the cached enforce policy at once (mx1, plaintext)"
out=$(sts_ctl sts show cache.test)
grep -qxF "mode: none" <<<"$out" || t_fail "rule 30: the cache holds mode none" "$(tr '\n' '|' <<<"$out")"
sts_mx_wait_conns mx1.cache.test 1 10
mx1n=$(world_mx_connections mx1.cache.test)
say "7: mode none replaces the cached enforce policy (rule 30): ok"

# ---- 8: flush one, flush all
out=$(sts_ctl sts flush cache.test)
[ "$out" = "removed 1" ] || t_fail "rule 32: sts flush cache.test" "$out"
out=$(sts_ctl sts show cache.test) && t_fail "rule 32: sts show fails after the flush" "exit 0: $out"
grep -qF "no cache entry for cache.test" <<<"$out" || t_fail "rule 32: 'no cache entry for cache.test'" "$out"
out=$(sts_ctl sts flush)
[ "$out" = "removed 0" ] || t_fail "rule 32: sts flush (all) on an empty cache" "$out"
say "8: sts flush removes one domain or all (rule 32): ok"

# ---- 9: a policy past its max_age (12) whose fetch now fails counts as
# no policy (rules 28, 29)
world_switch sts-cache-next-short
nf=$(fetches)
q=$(send m14@cache.test)
t0=$(date +%s)
enforced "$q" m14@cache.test cache5 "" "the max_age 12 policy is enforced"
fetches_now $((nf + 1)) "one fetch of the max_age 12 policy"
world_switch sts-cache-next-short500
# Until the policy has expired: a background refresh may have renewed it
# once before the switch was complete; the next ones fail (500).
for i in $(seq 1 120); do
	sts_ctl sts show cache.test | grep -q '^expires: .*(expired)$' && break
	sleep 0.5
done
sts_ctl sts show cache.test | grep -q '^expires: .*(expired)$' ||
    t_fail "the max_age 12 policy expires once its refreshes fail" "$(sts_ctl sts show cache.test | tr '\n' '|')"
q=$(send m15@cache.test)
delivered "$q" m15@cache.test mx1.cache.test False 'sts=none warn=("[^"]+"|[^ ]+)' \
    "rules 28, 29: past max_age and no new policy: delivered as if there were none, warned"
mx1n=$(world_mx_connections mx1.cache.test)
say "9: past max_age with a failed fetch: no policy (rules 28, 29): ok"

# ---- 10: rule 31: a cached policy is refreshed in the background before
# it expires (max_age 12, no delivery meanwhile), and a failed refresh is
# logged as a warning
world_switch sts-cache-next-short
sleep 9		# past the back-off of the failed fetch of step 9
# Background refreshes of a policy in use may have fetched it already
# (one every few seconds with max_age 12: how many depends on how long
# the switch took); count from here.
nf=$(fetches)
q=$(send m16@cache.test)
enforced "$q" m16@cache.test cache5 "" "the max_age 12 policy is enforced again"
# At most one fetch for this delivery: the delivery's, or a background
# refresh's that was due, never both.
sleep 0.5
nd=$(fetches)
[ "$nd" -le $((nf + 1)) ] || t_fail "at most one fetch of the max_age 12 policy for m16 ($((nf + 1)) policy requests in all)" "$nd"
t0=$(date +%s)
while [ "$(fetches)" -le "$nd" ] && [ $(($(date +%s) - t0)) -lt 20 ]; do sleep 0.2; done
[ "$(fetches)" -gt "$nd" ] ||
    t_fail "rule 31: a background refresh before the policy expires (max_age 12)" "none within 20 s"
world_switch sts-cache-next-short500
world_wait_log "$log" "cache\.test.*refresh|refresh.*cache\.test" 20 ||
    t_fail "rule 31: a failed refresh logged as a warning" "no line"
say "10: refreshed before expiry, a failed refresh warned (rule 31): ok"

t_pass
