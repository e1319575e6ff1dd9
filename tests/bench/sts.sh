#!/usr/bin/env bash
# sts.sh - make bench-sts: delivery to many MTA-STS enforce domains, with
# a cold and with a warm policy cache.
#
# A test world of its own (tests/world/world up) with BENCH_STS_DOMAINS
# domains d001.bench.test ... (default 200), each with its own
# _mta-sts TXT record and its own policy host mta-sts.dNNN.bench.test
# (nginx, one server block each, all at 127.0.2.1 told apart by SNI)
# serving an enforce policy that lists one MX, mx.bench.test: the
# scripted MX of role valid (tests/world/mx), STARTTLS with a valid
# certificate, shared by every domain.  The policy hosts share one
# certificate whose subjectAltNames are all their names (cert=shared);
# 200 certificates of their own would take about a minute to issue.  The
# scenario is written into the benchmark's temporary folder at run time.
#
# strictmail (build/strictmaild; privilege-separated as root) runs with a
# fresh spool, so its policy cache starts empty.  Rounds, one after the
# other, each BENCH_STS_PER_DOMAIN recipients (default 1) in every
# domain, injected over SMTP by BENCH_STS_SESSIONS parallel sessions:
#   cold1    the cache is empty: every domain's policy is fetched
#   warm1    the same strictmail again: every policy comes from the cache
#   cold2, warm2, ... (BENCH_REPEAT pairs): the same after strictmailctl
#            sts flush has emptied the cache
#   restart  (BENCH_STS_RESTART=1, the default) strictmail stopped and
#            started again on the same spool: the cache is kept on disk
# A round's messages are all injected and queued while strictmail's
# delivery process is stopped (SIGSTOP); its time goes from the SIGCONT
# until the log has a "status=sent ... sts=enforce id=... verified" line
# for every recipient of the round, and the rate is deliveries per second
# over that time: the delivery alone, with policy lookups and fetches,
# not the injection.  BENCH_STS_HOLD=0 lets deliveries run while the
# messages come in; then the time goes from the first message sent (the
# injection, about 100 messages per second, often most of a warm round).
# Beside it: the time injection took, the HTTPS policy fetches (requests
# for /.well-known/mta-sts.txt in the world's nginx access log) and the
# TXT queries for _mta-sts names dnsmasq answered during the round.
#
# Correctness, checked (exit 1 when wrong; timings are never checked):
# every recipient delivered under enforce and verified, none deferred or
# bounced, the MX got each once, over TLS; policy fetches: one per domain
# in every cold round (BENCH_STS_DOMAINS, each policy host once, and as
# many enforce entries in strictmailctl sts list after it), none warm,
# none after the restart.
#
# Every process this script starts is stopped by its PID, also on
# failure or interruption; the world goes down and the temporary folder
# is removed (BENCH_KEEP=1 keeps it and the world's state folder).
#
# Settings (environment):
#   SM_BENCH_BIN            strictmaild to measure (default build/strictmaild)
#   BENCH_DIR               where the spool and files go (default $TMPDIR or /tmp)
#   BENCH_STS_DOMAINS       enforce domains (default 200, at most 999)
#   BENCH_STS_PER_DOMAIN    recipients per domain and round (default 1)
#   BENCH_STS_RCPTS         recipients (each in another domain) a message
#                           (default 1: one message per delivery)
#   BENCH_STS_SESSIONS      parallel SMTP sessions injecting (default 10)
#   BENCH_STS_DELIVERIES    strictmail's max-deliveries (default 50)
#   BENCH_REPEAT            cold and warm rounds each (default 3): the
#                           median is reported beside every round
#   BENCH_STS_RESTART=0     leave the round after a restart out
#   BENCH_STS_HOLD=0        do not hold deliveries back during injection
#   BENCH_TIMEOUT           seconds allowed per round (default 90)
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SM_BENCH_BIN:-$TOP/build/strictmaild}
CTL=$TOP/build/strictmailctl
BASE=${BENCH_DIR:-${TMPDIR:-/tmp}}
NDOM=${BENCH_STS_DOMAINS:-200}
PER=${BENCH_STS_PER_DOMAIN:-1}
SESS=${BENCH_STS_SESSIONS:-10}
RCPTS=${BENCH_STS_RCPTS:-1}
DELIVERIES=${BENCH_STS_DELIVERIES:-50}
RESTART=${BENCH_STS_RESTART:-1}
HOLD=${BENCH_STS_HOLD:-1}
REPEAT=${BENCH_REPEAT:-3}
RUN_TIMEOUT=${BENCH_TIMEOUT:-90}
KEEP=${BENCH_KEEP:-0}
SM_ADDR=127.0.0.1
MX_HOST=mx.bench.test
MX_ADDR=127.0.1.1
POLICY_ADDR=127.0.2.1
SENDER=sender@src.bench.test
WELL_KNOWN=/.well-known/mta-sts.txt
W_CMD=$TOP/tests/world/world
# sm_users (the users of the privilege-separated processes) from the
# integration tests' helpers; sourcing it starts nothing.
# shellcheck disable=SC1091
. "$TOP/tests/integration/lib.sh"

say() { printf 'bench-sts: %s\n' "$*"; }
die() { printf 'bench-sts: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, privilege separation)"
[ -x "$BIN" ] || die "no strictmaild at $BIN (run make)"
[ -x "$CTL" ] || die "no strictmailctl at $CTL (run make)"
case "$NDOM$PER$SESS$RCPTS$DELIVERIES$REPEAT$RUN_TIMEOUT" in
*[!0-9]*) die "the BENCH_* counts must be numbers" ;;
esac
[ "$NDOM" -ge 1 ] && [ "$NDOM" -le 999 ] || die "BENCH_STS_DOMAINS: 1 to 999"
[ "$PER" -ge 1 ] && [ "$SESS" -ge 1 ] && [ "$DELIVERIES" -ge 1 ] && [ "$REPEAT" -ge 1 ] &&
    [ "$RCPTS" -ge 1 ] && [ "$RCPTS" -le "$NDOM" ] ||
    die "BENCH_STS_PER_DOMAIN, _SESSIONS, _RCPTS, _DELIVERIES and BENCH_REPEAT must be at least 1 (_RCPTS at most the domains)"
# Deliveries a round: one per recipient (each in a domain of its own
# within its message), whatever the messages that carry them.
MSGS=$((NDOM * PER))
NMSG=$(((MSGS + RCPTS - 1) / RCPTS))

D=
NS=
WORLD=
WDIR=
SM_PID=
CLEANED=0

# shellcheck disable=SC1091
. "$TOP/tests/bench/stop.sh"

cleanup() {
	[ "$CLEANED" = 1 ] && return
	CLEANED=1
	trap - EXIT INT TERM
	release_delivery
	stop_group "$SM_PID" 20
	if [ -n "$WORLD" ]; then
		WORLD_KEEP=$KEEP "$W_CMD" down "$WORLD" >/dev/null 2>&1
	fi
	if [ -n "$D" ]; then
		if [ "$KEEP" = 1 ]; then say "kept $D"; else rm -rf "$D"; fi
	fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# dom I: the name of domain number I.
dom() { printf 'd%03d.bench.test' "$1"; }

# gen_scenario FILE: the world of the benchmark.
gen_scenario() {
	local i d
	{
		echo "# bench-sts: written by tests/bench/sts.sh at run time."
		echo "describe make bench-sts: $NDOM MTA-STS enforce domains, one MX"
		echo "domain bench.test"
		for i in $(seq 1 "$NDOM"); do
			d=$(dom "$i")
			echo "mx $d 10 $MX_HOST"
			printf 'txt _mta-sts.%s "v=STSv1; id=bench%03d;"\n' "$d" "$i"
			echo "policy $d $POLICY_ADDR cert=shared"
			echo "body $d"
			echo "version: STSv1"
			echo "mode: enforce"
			echo "mx: $MX_HOST"
			echo "max_age: 86400"
			echo "end"
		done
		echo "mxhost $MX_HOST valid $MX_ADDR"
	} > "$1"
}

# The counters a round is measured by.
# The delivery process's lines (one per recipient attempt) of a round.
log_round() {
	grep -E "/delivery\[[0-9]+\]: [0-9A-F]+: to=<$1-[0-9]+@d[0-9]+\.bench\.test> .* status=" \
	    "$D/sm/daemon.log" 2>/dev/null
}
log_sent() {	# ROUND: delivered under enforce, verified
	log_round "$1" | grep -c -E ' status=sent .* sts=enforce id=bench[0-9]+ verified$'
}
log_other() {	# ROUND: any other outcome (deferred, bounced, not verified)
	log_round "$1" | grep -c -v -E ' status=sent .* sts=enforce id=bench[0-9]+ verified$'
}
http_fetches() {
	awk -v u="$WELL_KNOWN" '$5 == u' "$WDIR/http/access.log" 2>/dev/null | wc -l
}
http_hosts() {	# distinct policy hosts asked, among the first N lines after SKIP
	awk -v u="$WELL_KNOWN" '$5 == u' "$WDIR/http/access.log" 2>/dev/null |
	    tail -n +"$(($1 + 1))" | awk '$3 == 200 { print $1 }' | sort -u | wc -l
}
txt_queries() {
	grep -c -E 'query\[TXT\] _mta-sts\.d[0-9]+\.bench\.test' "$WDIR/dns/dnsmasq.log" 2>/dev/null
}
# mx_round ROUND: "COPIES DISTINCT PLAIN" for the round's recipients at
# the MX: copies accepted, distinct recipients among them, and copies
# that came in a transaction without TLS.
mx_round() {
	python3 - "$WDIR/mx/$MX_HOST/messages" "$1" <<'EOF'
import glob, json, os, sys
d, rnd = sys.argv[1], sys.argv[2] + "-"
copies = plain = 0
seen = set()
for f in glob.glob(os.path.join(d, "*.json")):
    try:
        with open(f) as fh:
            t = json.load(fh)
    except (OSError, ValueError):
        continue
    for r in t.get("to", []):
        if r.startswith(rnd):
            copies += 1
            seen.add(r)
            plain += 0 if t.get("tls") else 1
print(copies, len(seen), plain)
EOF
}
sm_queued() {
	local f n=0
	for f in "$D"/sm/spool/queue/*/*.env; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# hold_delivery / release_delivery: SIGSTOP and SIGCONT to strictmail's
# delivery process (the last one that said "ready" in the log, a child
# of SM_PID), so that a round's messages are all queued before any is
# delivered.
DLV_PID=
hold_delivery() {
	DLV_PID=$(sed -n 's/.*strictmail\/delivery\[\([0-9]*\)\]: ready$/\1/p' "$D/sm/daemon.log" |
	    tail -n 1)
	[ -n "$DLV_PID" ] && [ "$(ps -o ppid= -p "$DLV_PID" | tr -d ' ')" = "$SM_PID" ] ||
	    die "no delivery process of strictmaild $SM_PID (${DLV_PID:-none})"
	kill -STOP "$DLV_PID" || die "SIGSTOP to the delivery process $DLV_PID"
}
release_delivery() {
	[ -n "$DLV_PID" ] && kill -CONT "$DLV_PID" 2>/dev/null
	DLV_PID=
}

start_sm() {
	local i ok=0
	ip netns exec "$NS" setsid "$BIN" -d -f "$D/sm/strictmail.conf" \
	    >>"$D/sm/daemon.log" 2>&1 </dev/null &
	SM_PID=$!
	for i in $(seq 1 300); do
		[ "$(grep -c 'ready: listening on' "$D/sm/daemon.log" 2>/dev/null)" -ge "$1" ] &&
		    { ok=1; break; }
		pid_alive "$SM_PID" || break
		sleep 0.1
	done
	[ "$ok" = 1 ] || { tail -n 20 "$D/sm/daemon.log"; die "strictmaild did not get ready"; }
}

# inject ROUND: every domain PER recipients, RCPTS of them (in as many
# domains) a message, SESS sessions in parallel; prints "OK START END"
# (the wall clock in ns when the first session began and the last
# ended, the interpreter's start-up left out) or what went wrong.
inject() {
	ip netns exec "$NS" timeout "$RUN_TIMEOUT" python3 - "$SM_ADDR" "$SENDER" "$1" \
	    "$NDOM" "$PER" "$SESS" "$RCPTS" <<'EOF'
import smtplib, sys, threading, time
addr, sender, rnd = sys.argv[1], sys.argv[2], sys.argv[3]
ndom, per, sess, nr = (int(a) for a in sys.argv[4:8])
rcpts = ["%s-%d@d%03d.bench.test" % (rnd, k, i)
         for k in range(1, per + 1) for i in range(1, ndom + 1)]
msgs = [rcpts[i:i + nr] for i in range(0, len(rcpts), nr)]
errors = []
def run(part):
    try:
        s = smtplib.SMTP(addr, 25, timeout=30, local_hostname="client.bench.test")
        for m in part:
            body = ("From: <%s>\r\nTo: <%s>\r\nSubject: bench-sts %s\r\n\r\n"
                    "MTA-STS benchmark message.\r\n" % (sender, m[0], rnd))
            refused = s.sendmail(sender, m, body)
            if refused:
                errors.append("refused %s" % refused)
        s.quit()
    except (smtplib.SMTPException, OSError) as e:
        errors.append("%s" % e)
ts = [threading.Thread(target=run, args=(msgs[i::sess],)) for i in range(sess)]
t0 = time.time_ns()
for t in ts:
    t.start()
for t in ts:
    t.join()
print("OK %d %d" % (t0, time.time_ns()) if not errors else "failed: " + errors[0][:100])
EOF
}

# Results of the rounds, for the table.
declare -A R_SECS R_TAIL R_INJ R_RATE R_FETCH R_HOSTS R_TXT R_MX
FAIL=0
bad() { say "WRONG: $*"; FAIL=1; }

# round NAME: one round, measured and checked.
round() {
	local name=$1 f0 q0 t0 t1 t2 i now deadline out sent other mx uniq plain
	f0=$(http_fetches)
	q0=$(txt_queries)
	[ "$HOLD" = 1 ] && hold_delivery
	t0=$(date +%s%N)
	out=$(inject "$name")
	t1=$(date +%s%N)
	case $out in
	"OK "*) read -r _ t0 t1 <<<"$out" ;;
	*) bad "$name: injection ${out:-failed}" ;;
	esac
	R_INJ[$name]=$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.2f", n / 1e9 }')
	if [ "$HOLD" = 1 ]; then
		# Every message is in the queue (a 250 means it is on disk);
		# the clock starts when the delivery process goes on.
		for i in $(seq 1 100); do
			[ "$(sm_queued)" -ge "$NMSG" ] && break
			sleep 0.05
		done
		[ "$(sm_queued)" = "$NMSG" ] || bad "$name: $(sm_queued) messages queued, want $NMSG"
		[ "$(log_round "$name" | wc -l)" = 0 ] ||
		    bad "$name: deliveries while the delivery process was stopped"
		t1=$(date +%s%N)
		release_delivery
		t0=$t1
	fi
	deadline=$((t0 + RUN_TIMEOUT * 1000000000))
	t2=
	for i in $(seq 1 $((RUN_TIMEOUT * 50))); do
		now=$(date +%s%N)
		[ "$now" -lt "$deadline" ] || break
		if [ "$(log_sent "$name")" -ge "$MSGS" ]; then t2=$now; break; fi
		[ "$(log_other "$name")" -gt 0 ] && break
		sleep 0.02
	done
	# The access log has a request once it is answered, the MX a message
	# before its 250: wait (bounded) for the queue to empty, then count.
	for i in $(seq 1 100); do
		[ "$(sm_queued)" = 0 ] && break
		sleep 0.05
	done
	sleep 0.3
	sent=$(log_sent "$name")
	other=$(log_other "$name")
	read -r mx uniq plain <<<"$(mx_round "$name")"
	R_FETCH[$name]=$(($(http_fetches) - f0))
	R_HOSTS[$name]=$(http_hosts "$f0")
	R_TXT[$name]=$(($(txt_queries) - q0))
	R_MX[$name]="$mx/$MSGS"
	R_TAIL[$name]=-
	if [ -n "$t2" ]; then
		R_SECS[$name]=$(awk -v n=$((t2 - t0)) 'BEGIN { printf "%.2f", n / 1e9 }')
		[ "$HOLD" = 1 ] ||
		    R_TAIL[$name]=$(awk -v n=$((t2 - t1)) 'BEGIN { printf "%.2f", (n < 0 ? 0 : n) / 1e9 }')
		R_RATE[$name]=$(awk -v m="$MSGS" -v n=$((t2 - t0)) 'BEGIN { printf "%.0f", m / (n / 1e9) }')
	else
		R_SECS[$name]="timeout"
		R_RATE[$name]="-"
		bad "$name: $sent of $MSGS delivered (enforce, verified) within ${RUN_TIMEOUT}s, $other other outcomes, $(sm_queued) queued"
	fi
	[ "$other" = 0 ] || {
		bad "$name: $other deliveries not sent under enforce+verified, e.g.:"
		log_round "$name" | grep -v -E ' status=sent .* sts=enforce id=bench[0-9]+ verified$' |
		    head -n 3
	}
	[ "$sent" = "$MSGS" ] || [ -z "$t2" ] || bad "$name: $sent delivery lines for $MSGS recipients"
	[ "$uniq" = "$MSGS" ] || bad "$name: the MX has $uniq of $MSGS recipients"
	[ "$mx" = "$uniq" ] || bad "$name: the MX got $mx copies for $uniq recipients (duplicates)"
	[ "$plain" = 0 ] || bad "$name: $plain copies reached the MX without TLS"
	say "  $name: ${R_SECS[$name]} s, ${R_RATE[$name]} deliveries/s (injection ${R_INJ[$name]} s$([ "$HOLD" = 1 ] && echo ", held" || echo ", ${R_TAIL[$name]} s after it")), ${R_FETCH[$name]} policy fetches (${R_HOSTS[$name]} hosts), ${R_TXT[$name]} _mta-sts TXT queries, MX ${R_MX[$name]}"
}

# ---------------------------------------------------------------- world

D=$(mktemp -d "$BASE/sm-bench-sts.XXXXXX") || die "mktemp in $BASE"
chmod 0755 "$D"
gen_scenario "$D/bench-sts.scn"
"$W_CMD" check "$D/bench-sts.scn" >/dev/null || die "the generated scenario is not valid"
WORLD="bench-sts-$$"
t0=$(date +%s%N)
if ! out=$("$W_CMD" up "$D/bench-sts.scn" "$WORLD" 2>&1); then
	printf '%s\n' "$out" | tail -n 20
	WORLD=
	die "world up failed"
fi
up_secs=$(awk -v n=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", n / 1e9 }')
WDIR=$("$W_CMD" dir "$WORLD") || die "no state folder for world $WORLD"
NS=$(. "$WDIR/world.env" && echo "$W_NS")
[ -n "$NS" ] || die "no namespace for world $WORLD"
say "world $WORLD up in ${up_secs}s: $NDOM enforce domains, policy hosts at $POLICY_ADDR:443 (one shared certificate), MX $MX_HOST at $MX_ADDR (scripted, role valid)"

# ---------------------------------------------------------------- strictmail

sm_users || die "cannot create the users strictmail runs as"
mkdir -p "$D/sm"
cat > "$D/sm/strictmail.conf" <<EOF
hostname relay.bench.test
spool $D/sm/spool
listen $SM_ADDR 25 smtp
max-sessions 100
max-sessions-per-client 100
min-free-space 100M
control-socket $D/sm/control.sock
tls-ca-file $WDIR/pki/ca.pem
max-deliveries $DELIVERIES
max-deliveries-per-domain 5
smtp-reuse-idle 5s
smtp-reuse-max 100
EOF
start_sm 1
fsinfo=$(df -PT "$D" | awk 'NR == 2 { print $2 " on " $1 }')
say "strictmail: $BIN, privilege-separated, pid $SM_PID, max-deliveries $DELIVERIES, spool in $D ($fsinfo), $(nproc) cores"
say "$MSGS deliveries a round ($PER per domain) in $NMSG messages of $RCPTS recipient(s), $SESS SMTP sessions injecting"

# cache_entries: the enforce entries strictmailctl sts list shows.
cache_entries() {
	ip netns exec "$NS" "$CTL" -s "$D/sm/control.sock" sts list 2>/dev/null |
	    grep -c -E '^d[0-9]+\.bench\.test enforce '
}

ROUNDS=
for i in $(seq 1 "$REPEAT"); do
	if [ "$i" -gt 1 ]; then
		out=$(ip netns exec "$NS" "$CTL" -s "$D/sm/control.sock" sts flush 2>&1)
		[ "$out" = "removed $NDOM" ] || bad "sts flush before cold$i: $out"
	fi
	round "cold$i"
	n=$(cache_entries)
	[ "$n" = "$NDOM" ] || bad "cold$i: $n enforce entries in the cache, want $NDOM"
	[ "${R_FETCH[cold$i]}" = "$NDOM" ] ||
	    bad "cold$i: ${R_FETCH[cold$i]} policy fetches, want $NDOM (one per domain)"
	[ "${R_HOSTS[cold$i]}" = "$NDOM" ] ||
	    bad "cold$i: ${R_HOSTS[cold$i]} distinct policy hosts answered 200, want $NDOM"
	round "warm$i"
	[ "${R_FETCH[warm$i]}" = 0 ] || bad "warm$i: ${R_FETCH[warm$i]} policy fetches, want 0"
	ROUNDS="$ROUNDS cold$i warm$i"
done
if [ "$RESTART" = 1 ]; then
	stop_group "$SM_PID" 30
	SM_PID=
	start_sm 2
	round restart
	[ "${R_FETCH[restart]}" = 0 ] ||
	    bad "restart: ${R_FETCH[restart]} policy fetches, want 0 (the cache is on disk)"
	ROUNDS="$ROUNDS restart"
fi
stop_group "$SM_PID" 30
SM_PID=

# ---------------------------------------------------------------- table

# median KIND: the median deliveries/s of the rounds KIND1..; a round
# that timed out wins ("-"), so a failure is never hidden.
median() {
	local i all=
	for i in $(seq 1 "$REPEAT"); do all="$all ${R_RATE[$1$i]}"; done
	case $all in *-*) echo -; return ;; esac
	printf '%s\n' $all | sort -n | sed -n "$(((REPEAT + 1) / 2))p"
}

# The table; with BENCH_APPEND (make bench) also appended to that file
# in a fenced block, after bench.sh's table.
sts_table() {
	echo
	echo "MTA-STS: $NDOM enforce domains, one MX (STARTTLS, verified); a round: $MSGS deliveries"
	echo "($NMSG messages of $RCPTS recipient(s), injected by $SESS sessions)."
	if [ "$HOLD" = 1 ]; then
		echo "seconds: from the moment every message is queued (the delivery process was"
		echo "stopped while they came in) until all are delivered (enforce, verified)."
	else
		echo "seconds: from the first message injected until all delivered (enforce, verified);"
		echo "after: of that, the time after the injection ended."
	fi
	echo "cold1: a new spool; cold2...: after strictmailctl sts flush; restart: strictmail"
	echo "stopped and started again on its spool."
	printf '%-8s %8s %13s %10s %7s %15s %12s %8s\n' round seconds deliveries/s injection after \
	    "policy fetches" "TXT queries" "MX got"
	for r in $ROUNDS; do
		printf '%-8s %8s %13s %10s %7s %15s %12s %8s\n' "$r" "${R_SECS[$r]}" "${R_RATE[$r]}" \
		    "${R_INJ[$r]}" "${R_TAIL[$r]}" "${R_FETCH[$r]}" "${R_TXT[$r]}" "${R_MX[$r]}"
	done
	echo "deliveries/s, median of $REPEAT: cold $(median cold), warm $(median warm)"
	echo "strictmail: max-deliveries $DELIVERIES, max-deliveries-per-domain 5, smtp-reuse-idle 5s; fetches must be $NDOM cold, 0 warm"
}
sts_table
if [ -n "${BENCH_APPEND:-}" ]; then
	{ echo; echo "make bench-sts, $(date -u '+%Y-%m-%d %H:%M UTC'):"; echo; echo '```'
	  sts_table | sed '1{/^$/d}'; echo '```'; } >> "$BENCH_APPEND"
fi
if [ "$FAIL" != 0 ]; then
	say "FAILED: see the WRONG lines above"
	exit 1
fi
exit 0
