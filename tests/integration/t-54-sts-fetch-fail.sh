#!/bin/bash
# t-54-sts-fetch-fail: every way a policy fetch fails, through strictmail
# itself (scenario sts-fetch-fail; t-51 checks the fetcher alone).  For a
# 301 (its target never asked for), a 404, a 500 with a policy as its
# body, text/html, no Content-Type,
# 70000 bytes with Content-Length and chunked, an answer slower than
# mta-sts-fetch-timeout and a policy host whose certificate names it
# only in its CN:
#   - the policy host's access log shows exactly one request (none for
#     the redirect target);
#   - the mail is delivered as with no policy, with the warning on its
#     delivery line (rule 29), and reaches the MX (its records);
#   - "strictmailctl sts show" records the failed id and the reason, and
#     that it holds no policy (rule 32);
#   - a second message within mta-sts-backoff makes no request (rule 12).
# Runs once, privileged: the cache in the delivery process's chroot
# (t-55 runs unprivileged, with leak detection).
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 1 ] || t_skip "checked once, with SM_PRIV=1 (the cache inside the chroot)"
world_init sts-fetch-fail
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
sock=$T_DIR/run/control.sock
CTL=$(dirname "$SM_BIN")/strictmailctl
[ -x "$CTL" ] || t_fail "an executable strictmailctl next to $SM_BIN" "none"
sm_config "$T_DIR/c" "$spool" "hostname self.fail.test" "tls-ca-file $W_CA" \
    "mta-sts-fetch-timeout 4s" "mta-sts-backoff 1h" "retry-initial 1h" \
    "retry-max 1h" "smtp-reuse-idle 0" "control-socket $sock"
world_start_strictmail "$T_DIR/c" "$log"
printf 'Subject: t-54\r\n\r\nhello\r\n' > "$T_DIR/body"
wk=/.well-known/mta-sts.txt

ctl() {
	world_exec "$CTL" -s "$sock" "$@"
}

# case DOMAIN ID REASON-REGEX
case_fail() {
	local dom=$1 id=$2 why=$3 q n show got i
	q=$(world_send_qid "a@src.fail.test" "u@$dom" "$T_DIR/body")
	# Rule 29: as if there were no policy, warned on the delivery line.
	world_wait_log "$log" "$q: to=<u@$dom> relay=mx.fail.test\[127.0.1.1\]:25 .*status=sent .*sts=none warn=\"TXT id $id found, policy fetch failed: $why" 30 ||
	    t_fail "$dom: delivered as with no policy, warned ($why)" "$(grep "$q: to=" "$log" | tail -n 1)"
	got=$(world_mx_json mx.fail.test "[t['to'] for c0 in c for t in c0.get('transactions', []) if 'u@$dom' in t['to']]")
	[ "$got" = "[['u@$dom']]" ] ||
	    t_fail "$dom: the MX has the message once" "$got"
	# nginx logs a request once it is over (the slow one: when the
	# client has gone).
	for i in $(seq 1 100); do
		n=$(world_http_count "mta-sts.$dom")	# any URI (an error body is logged under its own)
		[ "$n" -ge 1 ] && break
		sleep 0.1
	done
	[ "$n" = 1 ] || t_fail "$dom: exactly one request for the policy" "$n"
	show=$(ctl sts show "$dom") || t_fail "$dom: sts show" "$show"
	printf '%s\n' "$show" | grep -qx 'policy: no' ||
	    t_fail "$dom: sts show says no policy is held" "$show"
	printf '%s\n' "$show" | grep -qx "error-id: $id" ||
	    t_fail "$dom: sts show records the failed id $id" "$show"
	printf '%s\n' "$show" | grep -Eq "^last-error: $why" ||
	    t_fail "$dom: sts show records the reason /$why/" "$show"
	printf '%s\n' "$show" | grep -q '^backoff-until: ' ||
	    t_fail "$dom: sts show gives the back-off" "$show"
	say "$dom: fetch failed ($why), one request, delivered as with no policy, recorded: ok"
}

# ---- rule 7: a 301 is not followed; its target gets no request
case_fail redirect.fail.test redirect1 "redirect \(HTTP status 301\) not followed"
n=$(world_http_count mta-sts.redirect.fail.test /moved/mta-sts.txt)
[ "$n" = 0 ] || t_fail "rule 7: the redirect target gets no request" "$n"
# ---- rule 7: only 200 counts; the body of a 500 (a policy) is not used
case_fail notfound.fail.test notfound1 "HTTP status 404"
case_fail error.fail.test error1 "HTTP status 500"
# ---- rule 8: the media type
case_fail html.fail.test html1 "media type .{1,2}text/html.{1,2} is not text/plain"
case_fail notype.fail.test notype1 "no Content-Type"
# ---- rule 9: more than 64 KiB, with Content-Length and chunked
case_fail big.fail.test big1 "body larger than 65536 bytes"
case_fail chunked.fail.test chunked1 "body larger than 65536 bytes"
# ---- rule 10: the time-out (mta-sts-fetch-timeout 4s; the answer takes 40 s)
case_fail slow.fail.test slow1 "timeout after 4 s"
# ---- rule 6: the policy host's certificate names it only in its CN
case_fail cnonly.fail.test cnonly1 "certificate: name mismatch"
# sts check shows the same failure step by step (rules 6, 32).
check=$(ctl sts check cnonly.fail.test) || t_fail "sts check cnonly.fail.test" "$check"
printf '%s\n' "$check" | grep -q '^fetch: policy host certificate: name mismatch: wanted mta-sts.cnonly.fail.test' ||
    t_fail "sts check shows the CN-only certificate's failure" "$check"
printf '%s\n' "$check" | grep -qx 'verdict: no valid policy: delivery as for a domain without MTA-STS' ||
    t_fail "sts check's verdict: no valid policy" "$check"

# ---- the fetch ran in the policy fetcher's worker (sts/sts_fetchd.h):
# under sm-sts-spawn under sm-delivery, as delivery's user, in delivery's
# chroot, the only process with libcurl mapped, holding no spool file;
# it exits once idle (10 s), the spawner stays.
t54_children() { cat /proc/"$1"/task/*/children 2>/dev/null; }
t54_named() {	# PARENT COMM -> the child's pid
	local c
	for c in $(t54_children "$1"); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = "$2" ] && { echo "$c"; return 0; }
	done
	return 1
}
dpid=$(t54_named "$SM_PID" sm-delivery) || t_fail "sm-delivery under $SM_PID" "$(t54_children "$SM_PID")"
spid=$(t54_named "$dpid" sm-sts-spawn) || t_fail "sm-sts-spawn under sm-delivery" "$(t54_children "$dpid")"
wpid=$(t54_named "$spid" sm-sts-fetch) || t_fail "a worker sm-sts-fetch right after a fetch" "none"
duid=$(id -u _sm-delivery)
wuid=$(awk '/^Uid:/ { print $2 }' /proc/"$wpid"/status)
[ "$wuid" = "$duid" ] || t_fail "the worker runs as _sm-delivery ($duid)" "uid $wuid"
[ "$(readlink /proc/"$wpid"/root)" = "$(readlink -f "$spool/delivery")" ] ||
    t_fail "the worker chrooted into $spool/delivery" "$(readlink /proc/"$wpid"/root)"
grep -q '/libcurl\.so\.4' /proc/"$wpid"/maps || t_fail "libcurl mapped in the worker" "not mapped"
for p in "$SM_PID" $(t54_children "$SM_PID") "$spid"; do
	! grep -q '/libcurl\.so\.4' /proc/"$p"/maps 2>/dev/null ||
	    t_fail "libcurl mapped in the worker alone" "also in $(cat /proc/"$p"/comm)"
done
files=$(ls -l /proc/"$wpid"/fd 2>/dev/null | grep -F -- "$spool" || true)
[ -z "$files" ] || t_fail "the worker holds no spool file" "$files"
say "worker $wpid: under sm-sts-spawn under sm-delivery, uid $wuid, chroot, libcurl in it alone, no spool file: ok"
for i in $(seq 1 300); do
	[ -d /proc/"$wpid" ] || break
	sleep 0.1
done
[ ! -d /proc/"$wpid" ] || t_fail "the idle worker exits within 30 s" "pid $wpid still there"
[ -d /proc/"$spid" ] || t_fail "the spawner stays" "gone"
say "the idle worker exited, the spawner stays: ok"

# ---- rule 12: within the back-off the same id is not fetched again
q=$(world_send_qid "a@src.fail.test" "v@notfound.fail.test" "$T_DIR/body")
world_wait_log "$log" "$q: to=<v@notfound.fail.test> .*status=sent .*sts=none warn=\"[^\"]*notfound1" 30 ||
    t_fail "rule 12: the second message goes as with no policy" "$(grep "$q: to=" "$log" | tail -n 1)"
n=$(world_http_count mta-sts.notfound.fail.test "$wk")
[ "$n" = 1 ] || t_fail "rule 12: no second request within mta-sts-backoff" "$n"
say "rule 12: a second message within the back-off makes no request: ok"

# ---- rule 32: sts list shows every domain, none with a policy
got=$(ctl sts list | grep -c ' no-policy id=- ')
[ "$got" = 9 ] || t_fail "sts list shows the 9 domains without a policy" "$(ctl sts list)"
t_pass
