#!/bin/bash
# relay.sh - the relay benchmark (make bench-relay; make bench runs it
# after bench.sh unless BENCH_RELAY=0).
#
# What it measures: how fast a relay takes mail in and passes it on.
# smtp-source (Postfix's, from build-deps/postfix; never installed) sends
# 2,000 messages of 1 KiB, one connection per message, at 10 parallel
# sessions, to a relay; the relay delivers each to the MX of
# sink.bench.test, which is Postfix's smtp-sink (same tree) at
# 127.0.8.1:25: no STARTTLS, it only counts.  A run's time goes from the
# first message sent until the relay's queue is empty and the sink has
# counted every message; the figure is messages per second over that
# time (end to end), the median of BENCH_REPEAT runs.  Beside it the
# acceptance-only rate: the same messages over the time smtp-source took
# (deliveries run meanwhile).  A run that loses or duplicates a message
# at the sink, or times out, reports that instead of a number.
#
# The relays run side by side, taking turns run by run (never two runs
# at once; the order rotated at each repeat):
#   - strictmail (build/strictmaild; privilege-separated when run as
#     root), spool in BENCH_DIR, delivering through the MX lookup of the
#     test world's DNS (tls-policy none for the sink's domain, connection
#     reuse at its default); max-deliveries-per-domain is set to
#     BENCH_RELAY_PER_DOMAIN (default 20, as an operator with one big
#     destination would: the default 5 limits one domain to 5 sessions);
#   - chasquid (Debian's package, unpacked privately by tests/deps.sh into
#     build-deps/chasquid; never installed), with a self-signed
#     certificate and its data folder in BENCH_DIR.  chasquid relays only
#     for authenticated users, which smtp-source is not, so the messages
#     go to root@in.bench.test, a local domain of chasquid whose alias
#     forwards to the sink's domain: the same remote delivery.  chasquid
#     writes its queue without fsync; strictmail makes every message
#     durable before its 250.  Without the tree (or BENCH_CHASQUID=0) the
#     issue's figure for chasquid, 780 messages per second, is printed,
#     marked as quoted, not measured.
#
# Everything runs in a test world of its own (tests/world/world up
# bench-relay): a network namespace whose dnsmasq answers for bench.test
# (scenario tests/world/scenarios/bench-relay.scn).  Every process this
# script starts is stopped by its PID, also on failure or interruption;
# the world goes down and BENCH_DIR's temporary folder is removed.
#
# Settings (environment):
#   SM_BENCH_BIN            strictmaild to measure (default build/strictmaild)
#   BENCH_DIR               where spools and files go (default $TMPDIR or /tmp)
#   BENCH_RELAY_MESSAGES    messages per run (default 2000)
#   BENCH_RELAY_SESSIONS    smtp-source sessions (default 10)
#   BENCH_RELAY_PER_DOMAIN  strictmail's max-deliveries-per-domain (default 20)
#   BENCH_REPEAT            runs per figure; the median is reported (default 3)
#   BENCH_TIMEOUT           seconds allowed per run (default 120)
#   BENCH_CHASQUID=0        leave chasquid out (the quoted figure is shown)
#   BENCH_SETTLE            seconds the disk is left to settle before the
#                           runs (default 10)
#   BENCH_RELAY_DEFER=1     the sink answers every RCPT with 451 (smtp-sink
#                           -r rcpt): every attempt is deferred, and the
#                           envelope rewritten (two syncs), while mail
#                           comes in; only acceptance is measured (nothing
#                           is delivered, the end-to-end column is "-")
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SM_BENCH_BIN:-$TOP/build/strictmaild}
BASE=${BENCH_DIR:-${TMPDIR:-/tmp}}
MSGS=${BENCH_RELAY_MESSAGES:-2000}
SESS=${BENCH_RELAY_SESSIONS:-10}
PER_DOMAIN=${BENCH_RELAY_PER_DOMAIN:-20}
REPEAT=${BENCH_REPEAT:-3}
RUN_TIMEOUT=${BENCH_TIMEOUT:-120}
WITH_CHQ=${BENCH_CHASQUID:-1}
DEFER=${BENCH_RELAY_DEFER:-0}
SIZE=1024
QUOTED_CHQ=780
SM_ADDR=127.0.0.1
CHQ_ADDR=127.0.9.1
SINK_ADDR=127.0.8.1
SINK_RCPT=rcpt@sink.bench.test
SENDER=sender@src.bench.test
W_CMD=$TOP/tests/world/world

say() { printf 'bench-relay: %s\n' "$*"; }
die() { printf 'bench-relay: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, privilege separation)"
[ -x "$BIN" ] || die "no strictmaild at $BIN (run make)"
case "$MSGS$SESS$PER_DOMAIN$REPEAT$RUN_TIMEOUT" in
*[!0-9]*) die "the BENCH_* counts must be numbers" ;;
esac
PRIV_TOP=$TOP
# shellcheck disable=SC1091
. "$TOP/tests/privdeps.sh"
why=$(priv_missing postfix usr/sbin/smtp-source usr/sbin/smtp-sink)
[ -z "$why" ] || die "$why"
SMTP_SOURCE=$(priv_root postfix)/usr/sbin/smtp-source
SMTP_SINK=$(priv_root postfix)/usr/sbin/smtp-sink
PF_LIBPATH=$(priv_libpath postfix)
CHQ_WHY=
if [ "$WITH_CHQ" != 1 ]; then
	CHQ_WHY="BENCH_CHASQUID=$WITH_CHQ"
else
	CHQ_WHY=$(priv_missing chasquid usr/bin/chasquid)
fi

D=
NS=
WORLD=
SM_PID=
CHQ_PID=
SINK_PID=
CLEANED=0

# shellcheck disable=SC1091
. "$TOP/tests/bench/stop.sh"

cleanup() {
	[ "$CLEANED" = 1 ] && return
	CLEANED=1
	trap - EXIT INT TERM
	stop_group "$SM_PID" 20
	stop_group "$CHQ_PID" 20
	stop_group "$SINK_PID" 10
	[ -n "$WORLD" ] && "$W_CMD" down "$WORLD" >/dev/null 2>&1
	[ -n "$D" ] && rm -rf "$D"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# wait_listen ADDR SECONDS
wait_listen() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		ip netns exec "$NS" ss -Hltn "src $1 and sport = :25" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# sink_count [FIELD]: messages (mesg) or sessions (sess) the sink has
# seen so far (smtp-sink -c keeps rewriting "sess=N quit=N mesg=N" after
# a carriage return).
sink_count() {
	local n
	n=$(tail -c 200 "$D/sink.out" 2>/dev/null | tr '\r' '\n' |
	    sed -n "s/.*${1:-mesg}=\\([0-9][0-9]*\\).*/\\1/p" | tail -n 1)
	echo "${n:-0}"
}

# Messages a relay still holds.
sm_queued() {
	local f n=0
	for f in "$D"/sm/spool/queue/*/*.env; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}
chq_queued() {
	local f n=0
	for f in "$D"/chq/data/queue/*; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# run_relay ADDR RCPT QUEUED-FUNCTION COUNT: one run; prints
# "END-TO-END ACCEPT SESSIONS": messages per second, and how many SMTP
# sessions at the sink ended during the run (smtp-sink counts a session
# when it ends: connections a relay keeps open for reuse are not in it);
# or a reason.
run_relay() {
	local addr=$1 rcpt=$2 queued=$3 m=$4 before t0 t1 t2 rc i now deadline got s0
	before=$(sink_count)
	s0=$(sink_count sess)
	t0=$(date +%s%N)
	ip netns exec "$NS" env LD_LIBRARY_PATH="$PF_LIBPATH" \
	    timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -s "$SESS" -m "$m" -l "$SIZE" \
	    -M relay.bench.test -f "$SENDER" -t "$rcpt" "$addr:25" \
	    >"$D/source.out" 2>&1
	rc=$?
	t1=$(date +%s%N)
	if [ "$rc" = 124 ]; then echo "timeout(${RUN_TIMEOUT}s)"; return; fi
	if [ "$rc" != 0 ]; then
		echo "failed($(tail -n 1 "$D/source.out" | tr ' ' '_' | cut -c1-40))"
		return
	fi
	if [ "$DEFER" = 1 ]; then
		awk -v m="$m" -v a=$((t1 - t0)) -v s=$(($(sink_count sess) - s0)) \
		    'BEGIN { printf "- %.0f %d\n", m / (a / 1e9), s }'
		return
	fi
	# The sink first (a cheap look, every 20 ms), then the queue (the
	# relay removes a message after the sink's 250).
	deadline=$((t0 + RUN_TIMEOUT * 1000000000))
	t2=
	for i in $(seq 1 $((RUN_TIMEOUT * 100))); do
		now=$(date +%s%N)
		[ "$now" -lt "$deadline" ] || break
		if [ $(($(sink_count) - before)) -ge "$m" ] && [ "$($queued)" = 0 ]; then
			t2=$now
			break
		fi
		sleep 0.01
	done
	[ -n "$t2" ] || { echo "timeout(${RUN_TIMEOUT}s,queue=$($queued),sink=$(($(sink_count) - before)))"; return; }
	sleep 0.5	# a duplicate would arrive now
	got=$(($(sink_count) - before))
	if [ "$got" -ne "$m" ]; then
		echo "sink-got($got/$m)"
		return
	fi
	awk -v m="$m" -v e=$((t2 - t0)) -v a=$((t1 - t0)) -v s=$(($(sink_count sess) - s0)) \
	    'BEGIN { printf "%.0f %.0f %d\n", m / (e / 1e9), m / (a / 1e9), s }'
}

# median: of the numbers on stdin; anything not a number (a failed run)
# wins, so a failure is never hidden.
median() {
	local all bad n
	all=$(cat)
	bad=$(printf '%s\n' "$all" | grep -v -E '^[0-9]+$' | head -n 1)
	if [ -n "$bad" ]; then echo "$bad"; return; fi
	n=$(printf '%s\n' "$all" | grep -c .)
	printf '%s\n' "$all" | sort -n | sed -n "$(( (n + 1) / 2 ))p"
}

# ns_cpu: "COMMAND TICKS" for each command name of the namespace's
# processes (user + system time, summed over processes of that name).
ns_cpu() {
	local p
	for p in $(ip netns pids "$NS" 2>/dev/null); do
		[ -r "/proc/$p/stat" ] || continue
		sed 's/^[0-9]* (\(.*\)) /\1 /' "/proc/$p/stat" 2>/dev/null |
		    awk '{ print $1, $13 + $14 }'
	done | awk '{ t[$1] += $2 } END { for (c in t) print c, t[c] }' | sort
}

# cpu_used BEFORE-FILE: the CPU seconds each long-lived process of the
# namespace used since BEFORE-FILE (ns_cpu) was taken, most first.
cpu_used() {
	ns_cpu | awk -v hz="$(getconf CLK_TCK)" 'NR == FNR { b[$1] = $2; next }
	    { d = ($2 - b[$1]) / hz; if (d >= 0.05) printf "%s %.1f\n", $1, d }' "$1" - |
	    sort -k2,2nr | awk '{ printf "%s%s %ss", (NR > 1 ? ", " : ""), $1, $2 }'
}

# repeat_relays NAME...: REPEAT runs of each relay (address, recipient
# and queue counter in R_ADDR, R_RCPT, R_QUEUED), taking turns run by
# run with the order rotated at each repeat, so that a disk or machine
# that gets faster or slower over the minutes weighs on each alike; sets
# E2E[NAME] and ACC[NAME] to the medians, and says where the CPU time
# went.
declare -A E2E ACC R_ADDR R_RCPT R_QUEUED
repeat_relays() {
	local names=("$@") n=$# name i k r t0
	for name in "${names[@]}"; do : > "$D/runs.$name"; done
	ns_cpu > "$D/cpu.before"
	t0=$(date +%s%N)
	for i in $(seq 1 "$REPEAT"); do
		for k in $(seq 0 $((n - 1))); do
			name=${names[$(((k + i - 1) % n))]}
			r=$(run_relay "${R_ADDR[$name]}" "${R_RCPT[$name]}" "${R_QUEUED[$name]}" "$MSGS")
			say "  $name run $i: $r (msg/s end to end, msg/s acceptance only, sink sessions that ended)"
			echo "$r" >> "$D/runs.$name"
		done
	done
	say "  CPU time over these runs ($(awk -v n=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", n / 1e9 }') s, $(nproc) cores; smtp-source not counted): $(cpu_used "$D/cpu.before")"
	for name in "${names[@]}"; do
		E2E[$name]=$(awk '{ print $1 }' "$D/runs.$name" | median)
		ACC[$name]=$(awk '{ print ($2 == "" ? "-" : $2) }' "$D/runs.$name" | median)
		say "  $name: ${E2E[$name]} msg/s end to end, ${ACC[$name]} acceptance only (median of $REPEAT)"
	done
}

# ---------------------------------------------------------------- world, sink

D=$(mktemp -d "$BASE/sm-bench-relay.XXXXXX") || die "mktemp in $BASE"
chmod 0755 "$D"
WORLD="bench-relay-$$"
if ! out=$("$W_CMD" up bench-relay "$WORLD" 2>&1); then
	printf '%s\n' "$out" | tail -n 20
	WORLD=
	die "world up bench-relay failed"
fi
wdir=$("$W_CMD" dir "$WORLD") || die "no state folder for world $WORLD"
NS=$(. "$wdir/world.env" && echo "$W_NS")
[ -n "$NS" ] || die "no namespace for world $WORLD"
ip -n "$NS" addr add "$CHQ_ADDR/32" dev lo 2>/dev/null
ip -n "$NS" addr add "$SINK_ADDR/32" dev lo 2>/dev/null

priv_postfix_users || die "cannot create the user $PRIV_PF_OWNER"
sink_opt=
[ "$DEFER" = 1 ] && sink_opt="-r rcpt"
# shellcheck disable=SC2086
ip netns exec "$NS" env LD_LIBRARY_PATH="$PF_LIBPATH" setsid "$SMTP_SINK" -c \
    $sink_opt -u "$PRIV_PF_OWNER" -m 1000 "$SINK_ADDR:25" 1024 >"$D/sink.out" 2>&1 </dev/null &
SINK_PID=$!
wait_listen "$SINK_ADDR" 10 || die "smtp-sink does not listen on $SINK_ADDR:25"

fsinfo=$(df -PT "$D" | awk 'NR == 2 { print $2 " on " $1 }')
say "world $WORLD (namespace $NS), sink smtp-sink at $SINK_ADDR:25, spools in $D ($fsinfo), $(nproc) cores"
say "$MSGS messages of $SIZE bytes per run, $SESS sessions, one connection per message"

# ---------------------------------------------------------------- strictmail

priv="privilege-separated"
uflag=
if ! [ "$(id -u)" -eq 0 ]; then priv="unprivileged (-u)"; uflag=-u; fi
if [ -z "$uflag" ]; then
	sh "$TOP/etc/mkusers.sh" >&2 || die "etc/mkusers.sh failed"
fi
mkdir -p "$D/sm"
cat > "$D/sm/strictmail.conf" <<EOF
hostname relay.bench.test
spool $D/sm/spool
listen $SM_ADDR 25 smtp
max-sessions 200
max-sessions-per-client 200
min-free-space 100M
control-socket $D/sm/control.sock
tls-policy sink.bench.test none
max-deliveries-per-domain $PER_DOMAIN
EOF
ip netns exec "$NS" setsid "$BIN" -d $uflag -f "$D/sm/strictmail.conf" \
    >"$D/sm/daemon.log" 2>&1 </dev/null &
SM_PID=$!
ok=0
for i in $(seq 1 300); do
	grep -q 'ready: listening on' "$D/sm/daemon.log" 2>/dev/null && { ok=1; break; }
	pid_alive "$SM_PID" || break
	sleep 0.1
done
[ "$ok" = 1 ] || { tail -n 20 "$D/sm/daemon.log"; die "strictmaild did not get ready"; }
say "strictmail: $BIN, $priv, pid $SM_PID, max-deliveries-per-domain $PER_DOMAIN"
say "  warm-up (200 messages): $(run_relay "$SM_ADDR" "$SINK_RCPT" sm_queued 200)"
R_ADDR[strictmail]=$SM_ADDR
R_RCPT[strictmail]=$SINK_RCPT
R_QUEUED[strictmail]=sm_queued
RELAYS=strictmail

# ---------------------------------------------------------------- chasquid

if [ -z "$CHQ_WHY" ]; then
	c=$D/chq
	mkdir -p "$c/etc/domains/in.bench.test" "$c/etc/certs/chasquid.bench.test" "$c/data"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=chasquid.bench.test \
	    -addext subjectAltName=DNS:chasquid.bench.test \
	    -keyout "$c/etc/certs/chasquid.bench.test/privkey.pem" \
	    -out "$c/etc/certs/chasquid.bench.test/fullchain.pem" >"$c/openssl.out" 2>&1 ||
	    die "openssl: $(tail -n 1 "$c/openssl.out")"
	echo "root: $SINK_RCPT" > "$c/etc/domains/in.bench.test/aliases"
	cat > "$c/etc/chasquid.conf" <<EOF
hostname: "chasquid.bench.test"
smtp_address: "$CHQ_ADDR:25"
submission_address: "$CHQ_ADDR:587"
submission_over_tls_address: "$CHQ_ADDR:465"
data_dir: "$c/data"
mail_log_path: "$c/mail.log"
EOF
	ip netns exec "$NS" env LD_LIBRARY_PATH="$(priv_libpath chasquid)" setsid \
	    "$(priv_root chasquid)/usr/bin/chasquid" -config_dir "$c/etc" \
	    -logfile "$c/chasquid.log" >"$c/out" 2>&1 </dev/null &
	CHQ_PID=$!
	wait_listen "$CHQ_ADDR" 20 || { tail -n 20 "$c/chasquid.log" "$c/out"; die "chasquid does not listen on $CHQ_ADDR:25"; }
	say "chasquid: $(priv_run chasquid usr/bin/chasquid -version 2>&1 | head -n 1) (build-deps/chasquid), pid $CHQ_PID"
	say "  warm-up (200 messages): $(run_relay "$CHQ_ADDR" root@in.bench.test chq_queued 200)"
	R_ADDR[chasquid]=$CHQ_ADDR
	R_RCPT[chasquid]=root@in.bench.test
	R_QUEUED[chasquid]=chq_queued
	RELAYS="$RELAYS chasquid"
	chq_label="chasquid (measured)"
else
	say "chasquid not measured: $CHQ_WHY"
	chq_label="chasquid (QUOTED, issue 9)"
fi

# ---------------------------------------------------------------- the runs

# The disk settles first: make bench runs this right after bench.sh has
# removed its spools (a full queue of 124,200 messages) and 3 GiB file,
# and on a file system mounted with discard a virtual disk stays busy
# with that for many seconds.
sync
sleep "${BENCH_SETTLE:-10}"
# shellcheck disable=SC2086
repeat_relays $RELAYS
if [ "$DEFER" = 1 ]; then
	say "  strictmail's log: $(grep -c 'status=deferred' "$D/sm/daemon.log") deferrals, $(grep -c 'envelope rewrite failed' "$D/sm/daemon.log") failed rewrites"
fi
stop_group "$SM_PID" 30
SM_PID=
stop_group "$CHQ_PID" 20
CHQ_PID=
if [ -n "$CHQ_WHY" ]; then
	E2E[chasquid]=$QUOTED_CHQ
	ACC[chasquid]=-
fi

# ---------------------------------------------------------------- table

a=${E2E[strictmail]}
b=${E2E[chasquid]}
r=-
case "$a$b" in *[!0-9]*) ;; *) r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }') ;; esac
# The table; with BENCH_APPEND (make bench) also appended to that file
# in a fenced block, after bench.sh's table.
relay_table() {
	echo
	echo "relay: $MSGS messages of $SIZE bytes, $SESS sessions, smtp-source -> relay -> smtp-sink;"
	echo "messages per second, median of $REPEAT runs, $fsinfo"
	printf '%-28s %-12s %s\n' relay "end to end" "acceptance only"
	printf '%-28s %-12s %s\n' "strictmail (measured)" "$a" "${ACC[strictmail]}"
	printf '%-28s %-12s %s\n' "$chq_label" "$b" "${ACC[chasquid]}"
	echo "strictmail / chasquid, end to end: $r"
	[ -n "$CHQ_WHY" ] && echo "(chasquid's $QUOTED_CHQ msg/s is the figure quoted in issue 9, not a measurement)"
	echo "strictmail: fsync before every 250, max-deliveries-per-domain $PER_DOMAIN; chasquid: no fsync"
	[ "$DEFER" = 1 ] && echo "(BENCH_RELAY_DEFER=1: the sink answered every RCPT with 451; acceptance while every delivery attempt is deferred)"
}
relay_table
if [ -n "${BENCH_APPEND:-}" ]; then
	{ echo; echo "make bench-relay, $(date -u '+%Y-%m-%d %H:%M UTC'):"; echo; echo '```'
	  relay_table | sed '1{/^$/d}'; echo '```'; } >> "$BENCH_APPEND"
fi
exit 0
