#!/bin/bash
# bench.sh - the acceptance benchmark (make bench, make bench QUICK=1).
#
# In a network namespace of its own, smtpload (tests/bench/smtpload.c: one
# new connection per message, optionally over STARTTLS, every 250 checked,
# latency from the end of DATA to the 250) sends mail to
#   - strictmail (build/strictmaild, its shipped defaults; privilege-
#     separated as root), and
#   - a private Postfix instance with its default durability (the unpacked
#     tree of tests/privdeps.sh; own config_directory and queue_directory
#     under a temporary folder; every message is put on hold, so only
#     reception is measured),
# in the same run, with the same client, the same test certificate
# (tests/pki/mkpki.sh) and their spools on the same file system.  The two
# run side by side and take turns run by run (the order rotated at each
# repeat), so that a disk or machine getting faster or slower over the
# minutes weighs on both alike; OpenSMTPD and chasquid follow one at a
# time; between phases the disk is given time to settle (settle()), and
# the disk ceiling, whose large writer leaves the disk busy, comes last.
# For each peer it measures:
#   - messages per second and the p50/p99 latency for each row (sessions,
#     message size, plain or STARTTLS); the median of BENCH_REPEAT runs,
#   - syncs per message: fsync, fdatasync, syncfs, sync, sync_file_range
#     and msync counted by strace -f -c on all the MTA's processes during
#     one 10-session run of 4 KiB messages,
#   - memory: PSS (/proc/PID/smaps_rollup) summed over all the MTA's
#     processes, idle (after a warm-up) and the peak sampled during the
#     largest plain 4 KiB row,
# and for strictmail the strace ordering proof of tests/integration/
# strace_order.py (every 250 after the sync that covers its message) and
# the full-queue figures: with BENCH_FULLQ deferred messages in its spool,
# the seconds from a start to the first 250, the plain 10-session row
# while the queue checks and schedules them, and when that is done.
# The full run also measures the disk's ceiling for the queue's commit
# with commitceil.c.  The table is printed and written to bench/results.md
# (QUICK: build/bench-quick.md), a chart of the rows beside it (.png).
#
# Settings (environment):
#   BENCH_QUICK=1       few messages, one repeat, rows 1 and 10 sessions at
#                       4 KiB and STARTTLS at 10; no disk ceiling
#   SM_BENCH_BIN        strictmaild to measure (default build/strictmaild)
#   BENCH_DIR           where spools and test files go (default $TMPDIR or /tmp)
#   BENCH_ROWS          rows, "plain|tls|tlsr|busy|sendmail:SESSIONS:SIZE:MESSAGES ..."
#                       (tlsr: STARTTLS, each client session offering the
#                       ticket of its last handshake, smtpload -R)
#                       (busy: plain while dd writes a large file on the
#                       spools' file system, a busy neighbour)
#                       (sendmail: local submission, SESSIONS programs at
#                       once each running the peer's sendmail command for
#                       its share of the messages; the rate counts until
#                       every message is in the queue, the latency is one
#                       sendmail's, from its start until it exits)
#   BENCH_TIMEOUT       seconds allowed per run (default 120)
#   BENCH_REPEAT        runs per figure; the median is reported (default 3,
#                       QUICK 1)
#   BENCH_POSTFIX=0     leave Postfix out
#   BENCH_OPENSMTPD=0   leave OpenSMTPD out (default: measured unless QUICK;
#   BENCH_CHASQUID=0    chasquid likewise; tests/bench/peers.sh)
#   BENCH_CEILING=0     leave the disk ceiling out
#   BENCH_RESULTS       where the table goes (default above)
#   BENCH_KEEP=1        keep the spools and logs (BENCH_DIR/sm-bench.*)
#   BENCH_KEY=rsa       the certificate of every peer with an RSA 2048 key
#                       instead of ECDSA P-256 (tests/pki/mkpki.sh issue)
#   BENCH_FULLQ         deferred messages written into strictmail's spool
#                       for the full-queue figures (default 100000, QUICK
#                       5000; 0 leaves them out)
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SM_BENCH_BIN:-$TOP/build/strictmaild}
CTL=$(dirname "$BIN")/strictmailctl
LOAD=$TOP/build/tests/bench/smtpload
BASE=${BENCH_DIR:-${TMPDIR:-/tmp}}
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 1 ] || QUICK=0
RUN_TIMEOUT=${BENCH_TIMEOUT:-120}
WITH_POSTFIX=${BENCH_POSTFIX:-1}
WITH_OPENSMTPD=${BENCH_OPENSMTPD:-$((1 - QUICK))}
WITH_CHASQUID=${BENCH_CHASQUID:-$((1 - QUICK))}
if [ "$QUICK" = 1 ]; then
	ROWS=${BENCH_ROWS:-"plain:1:4096:60 plain:10:4096:200 tls:10:4096:100 tlsr:10:4096:100 sendmail:4:4096:40"}
	REPEAT=${BENCH_REPEAT:-1}
	WITH_CEILING=${BENCH_CEILING:-0}
	SYNC_MSGS=60
	WARM=50
	ORDER_MSGS=100
	RESULTS=${BENCH_RESULTS:-$TOP/build/bench-quick.md}
else
	ROWS=${BENCH_ROWS:-"plain:1:4096:300 plain:10:4096:1000 plain:50:4096:2000
	    plain:1:102400:100 plain:10:102400:300 plain:50:102400:600
	    tls:10:4096:500 tls:50:4096:1000 tlsr:10:4096:1000 busy:10:4096:1000
	    sendmail:1:4096:200 sendmail:10:4096:500"}
	REPEAT=${BENCH_REPEAT:-3}
	WITH_CEILING=${BENCH_CEILING:-1}
	SYNC_MSGS=300
	WARM=200
	ORDER_MSGS=300
	RESULTS=${BENCH_RESULTS:-$TOP/bench/results.md}
fi
# Deferred messages for the full-queue figures (0: none).
FULLQ=${BENCH_FULLQ:-$([ "$QUICK" = 1 ] && echo 5000 || echo 100000)}
SM_ADDR=127.0.0.1
PF_ADDR=127.0.0.2
SYNC_CALLS=fsync,fdatasync,syncfs,sync,sync_file_range,msync
ORDER_CALLS=fsync,fdatasync,syncfs,sync,sync_file_range,rename,renameat,renameat2,openat,write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,close

say() { printf 'bench: [%3ss] %s\n' "$SECONDS" "$*"; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, privilege separation, strace)"
[ -x "$BIN" ] || die "no strictmaild at $BIN (run make)"
[ -x "$LOAD" ] || die "no smtpload at $LOAD (run make)"
command -v strace >/dev/null || die "no strace (run make deps)"
PRIV_TOP=$TOP
# shellcheck disable=SC1091
. "$TOP/tests/privdeps.sh"
if [ "$WITH_POSTFIX" = 1 ]; then
	why=$(priv_missing postfix usr/sbin/postfix usr/lib/postfix/sbin/master)
	[ -z "$why" ] || die "$why"
	PF_LIBPATH=$(priv_libpath postfix)
fi

D=
NS=
SM_PID=
PF_PID=
BG_PIDS=
RUN_TAG=
RUN_PEER=
CLEANED=0

# shellcheck disable=SC1091
. "$TOP/tests/bench/stop.sh"
# shellcheck disable=SC1091
. "$TOP/tests/bench/peers.sh"

cleanup() {
	local p
	[ "$CLEANED" = 1 ] && return
	CLEANED=1
	trap - EXIT INT TERM
	for p in $BG_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	stop_group "$SM_PID" 20
	stop_group "$PF_PID" 20
	stop_group "$OS_PID" 20
	stop_group "$CQ_PID" 20
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	if [ -n "$D" ] && [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "bench: kept $D" >&2
	elif [ -n "$D" ]; then
		rm -rf "$D"
	fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

wait_listen() {	# ADDR SECONDS
	local i
	for i in $(seq 1 $(($2 * 10))); do
		ip netns exec "$NS" ss -Hltn "src $1 and sport = :25" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# tree PID: PID and all its descendants (the MTA's processes).
tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	    { parent[$1] = $2 }
	    END {
		keep[root] = 1; n = 1
		while (n) { n = 0
		    for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; n = 1 } }
		for (p in keep) if (p in parent) print p
	    }'
}

# pss ROOT: the summed PSS in KiB of ROOT's process tree.
pss() {
	local p s=0 v
	for p in $(tree "$1"); do
		v=$(awk '/^Pss:/ { print $2; exit }' "/proc/$p/smaps_rollup" 2>/dev/null)
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

# cputicks ROOT: CPU time in clock ticks of ROOT's process tree: user and
# system time of each process and of its children that exited and were
# waited for (so a Postfix smtpd that ends within a row still counts).
cputicks() {
	local p t=0 v
	for p in $(tree "$1"); do
		v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null |
		    awk '{ print $12 + $13 + $14 + $15 }')
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# sampler ROOT FILE: appends pss ROOT to FILE every 0.2 s until killed.
sampler() {
	while :; do pss "$1" >> "$2"; sleep 0.2; done
}

# writer_start: a busy neighbour: dd writes a large file (at most 3 GiB,
# buffered, as a log or a backup would) on the spools' file system; its
# pid in WRITER, a second to get going.  writer_stop PID: kills it.  The
# file is written over in place each time (conv=notrunc) and removed with
# the rest at the end: freeing 3 GiB on a file system mounted with
# discard keeps a virtual disk busy for many seconds after rm returns,
# and whoever was measured next paid for it.
writer_start() {
	dd if=/dev/zero of="$D/big" bs=1M count=3072 conv=notrunc status=none &
	WRITER=$!
	BG_PIDS="$BG_PIDS $WRITER"
	sleep 1
}
writer_stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	BG_PIDS=${BG_PIDS/ $1/}
}

# load ADDR KIND SESSIONS SIZE COUNT [OUT]: one smtpload run; its line in OUT.
load() {
	local tls=
	[ "$2" = tls ] && tls=-T
	[ "$2" = tlsr ] && tls="-T -R"
	ip netns exec "$NS" timeout $((RUN_TIMEOUT + 60)) "$LOAD" -a "$1" \
	    -s "$3" -l "$4" -n "$5" -d "$RUN_TIMEOUT" -t 30 $tls \
	    -H bench.test -f sender@bench.test -r root@localhost \
	    >"${6:-$D/load.out}" 2>"$D/load.err"
}

field() {	# KEY < smtpload line
	tr ' ' '\n' | sed -n "s/^$1=//p"
}

# run_load ADDR KIND SESSIONS SIZE COUNT COUNTER: prints "rate p50 p99" or
# a reason; the counter tells how many messages the server holds.
run_load() {
	local addr=$1 kind=$2 s=$3 size=$4 m=$5 count=$6 before after rc ok w=
	if [ "$kind" = sendmail ]; then
		run_submit "$s" "$size" "$m" "$count"
		return
	fi
	before=$($count)
	if [ "$kind" = busy ]; then
		writer_start
		w=$WRITER
	fi
	load "$addr" "$kind" "$s" "$size" "$m"
	rc=$?
	[ -n "$w" ] && writer_stop "$w"
	after=$($count)
	ok=$(field ok < "$D/load.out")
	if [ "$rc" = 124 ]; then
		echo "timeout"
	elif [ "$rc" != 0 ] || [ "${ok:-0}" != "$m" ]; then
		echo "failed($(head -n 1 "$D/load.err" | sed 's/^smtpload: //' | tr ' ' '_' | cut -c1-50))"
	elif [ $((after - before)) -ne "$m" ]; then
		echo "lost($((after - before))/$m)"
	else
		echo "$(field rate < "$D/load.out") $(field p50_ms < "$D/load.out") $(field p99_ms < "$D/load.out")"
		field cpu_s < "$D/load.out" >> "$D/clientcpu$RUN_TAG"
		echo "$(field resumed < "$D/load.out") $m" >> "$D/resumed$RUN_TAG"
	fi
}

# run_submit PROGRAMS SIZE COUNT COUNTER: COUNT messages of SIZE bytes
# through RUN_PEER's sendmail command (P_SENDMAIL), PROGRAMS loops at
# once, each running it for its share one after the other; prints "rate
# p50 p99" (the rate until the counter has grown by COUNT: every message
# in the queue; the latency of one sendmail, start to exit) or a reason.
declare -A P_SENDMAIL
run_submit() {
	local n=$1 size=$2 m=$3 count=$4 before t0 t2="" k share now deadline
	local -a pids=()
	if ! [ -s "$D/msg.$size" ]; then
		{ printf 'From: sender@bench.test\nTo: root@localhost\nSubject: bench\n\n'
		  head -c "$size" /dev/zero | tr '\0' 'x' | fold -w 76; echo; } > "$D/msg.$size"
	fi
	: > "$D/submit.err"
	before=$($count)
	t0=$(date +%s%N)
	# Each loop runs in the namespace (Postfix listens only there, and its
	# sendmail checks inet_interfaces), one ip netns exec per loop.
	for k in $(seq 0 $((n - 1))); do
		share=$((m / n + (k < m % n ? 1 : 0)))
		# shellcheck disable=SC2016
		ip netns exec "$NS" bash -c 'msg=$1 share=$2; shift 2
			for i in $(seq 1 "$share"); do
				a=$EPOCHREALTIME
				timeout 60 "$@" -f sender@bench.test root@localhost \
				    < "$msg" > /dev/null || echo fail
				echo "$a $EPOCHREALTIME"
			done' submit "$D/msg.$size" "$share" ${P_SENDMAIL[$RUN_PEER]} \
		    > "$D/submit.w$k" 2>>"$D/submit.err" &
		pids+=($!)
	done
	wait "${pids[@]}"
	if cat "$D"/submit.w* | grep -q '^fail'; then
		echo "failed($(tail -n 1 "$D/submit.err" | tr ' ' '_' | cut -c1-50))"
		rm -f "$D"/submit.w*
		return
	fi
	deadline=$((t0 + RUN_TIMEOUT * 1000000000))
	while :; do
		now=$(date +%s%N)
		if [ $(($($count) - before)) -ge "$m" ]; then t2=$now; break; fi
		[ "$now" -lt "$deadline" ] || break
		sleep 0.01
	done
	if [ -z "$t2" ]; then
		echo "lost($(($($count) - before))/$m)"
	else
		cat "$D"/submit.w* | awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' |
		    sort -g | awk -v m="$m" -v e=$((t2 - t0)) '{ l[NR] = $1 } END {
		    p50 = l[int((NR - 1) * 0.50) + 1]; p99 = l[int((NR - 1) * 0.99) + 1]
		    printf "%.1f %.2f %.2f\n", m / (e / 1e9), p50, p99 }'
	fi
	rm -f "$D"/submit.w*
}

# median: the median of the numbers on stdin; anything not a number (a
# failed run) wins, so a failure is never hidden.
median() {
	local all bad n
	all=$(cat)
	bad=$(printf '%s\n' "$all" | grep -v -E '^[0-9]+(\.[0-9]+)?$' | head -n 1)
	if [ -n "$bad" ]; then echo "$bad"; return; fi
	n=$(printf '%s\n' "$all" | grep -c .)
	printf '%s\n' "$all" | sort -g | sed -n "$(( (n + 1) / 2 ))p"
}

# runs_median: "rate p50 p99" of the runs on stdin ("rate p50 p99" or a
# reason each), each the median, or the first failure.
runs_median() {
	local runs
	runs=$(cat)
	if printf '%s\n' "$runs" | grep -q -v -E '^[0-9. ]+$'; then
		printf '%s\n' "$runs" | grep -v -E '^[0-9. ]+$' | head -n 1
		return
	fi
	echo "$(printf '%s\n' "$runs" | awk '{ print $1 }' | median)" \
	    "$(printf '%s\n' "$runs" | awk '{ print $2 }' | median)" \
	    "$(printf '%s\n' "$runs" | awk '{ print $3 }' | median)"
}

# syncs ROOT ADDR: sync calls per accepted message over one 10-session run
# of SYNC_MSGS 4 KiB messages, counted by strace -c on ROOT's process tree.
syncs() {
	local args=() p sp n ok t follow=-f
	# chasquid forks and execs a delivery per message, and strace -f hangs
	# on those children: its threads are traced one by one instead.
	[ "${3:-}" = nofollow ] && follow=
	for p in $(tree "$1"); do
		if [ -z "$follow" ]; then
			for t in /proc/"$p"/task/*; do args+=(-p "${t##*/}"); done
		else
			args+=(-p "$p")
		fi
	done
	strace $follow -c -qq -e trace="$SYNC_CALLS" -o "$D/syncs.out" "${args[@]}" 2>/dev/null &
	sp=$!
	sleep 1
	load "$2" plain 10 4096 "$SYNC_MSGS" "$D/syncs.load"
	sleep 1	# what the MTA does right after the run (a group commit, a deferral)
	kill -INT "$sp" 2>/dev/null
	for t in $(seq 1 50); do pid_alive "$sp" || break; sleep 0.1; done
	pid_alive "$sp" && kill -KILL "$sp" 2>/dev/null	# bounded, whatever strace does
	wait "$sp" 2>/dev/null
	ok=$(field ok < "$D/syncs.load")
	# sync_file_range only starts write-back: traced and shown, not counted.
	n=$(awk -v l=",$SYNC_CALLS," '$NF != "sync_file_range" && index(l, "," $NF ",") && $4 ~ /^[0-9]+$/ { n += $4 } END { print n + 0 }' "$D/syncs.out")
	if [ "${ok:-0}" -gt 0 ]; then
		awk -v n="$n" -v ok="$ok" 'BEGIN { printf "%.2f\n", n / ok }'
	else
		echo "failed"
	fi
	awk -v l=",$SYNC_CALLS," 'index(l, "," $NF ",") { printf "bench:     %s: %s\n", $NF, $4 }' "$D/syncs.out" >&2
	awk -v ok="${ok:-0}" '$NF == "sync_file_range" && ok > 0 { printf "%.2f\n", $4 / ok }' "$D/syncs.out" > "$D/sfr"
}

# ceiling MODE BATCH [writer]: the median messages per second of REPEAT
# commitceil runs of 3 s; with "writer", dd writes a large file on the same
# file system meanwhile (at most 3 GiB, removed after each run).
ceiling() {
	local i w
	for i in $(seq 1 "$REPEAT"); do
		w=
		if [ "${3:-}" = writer ]; then
			writer_start
			w=$WRITER
		fi
		"$D/commitceil" "$D/disk" "$1" "$2" 3 | awk '{ printf "%.0f\n", $5 }'
		if [ -n "$w" ]; then writer_stop "$w"; fi
	done | median
}

# settle: lets the disk quiet down between phases: sync, then 10 s (QUICK:
# 1 s).  Deleting many files on a file system mounted with discard (the
# full queue's spool), or writing gigabytes, keeps a virtual disk busy for
# seconds after the command returns; whoever is measured next would pay
# for it.
settle() {
	sync
	sleep $((QUICK ? 1 : 10))
}

# measure PEER...: the rows, memory and syncs of the peers (their address,
# process root and message counter in P_ADDR, P_ROOT, P_COUNT) into
# R[PEER/...].  The peers run side by side and take turns run by run:
# repeat i of a row runs them in an order rotated by i, so a disk or a
# machine that gets slower or faster over the minutes weighs on each the
# same, and the ratios compare runs made moments apart.
declare -A R P_ADDR P_ROOT P_COUNT
measure() {
	local peers=("$@") active p row kind s size m sp i k n r t0 t1
	local -A SP TICKS
	for p in "${peers[@]}"; do
		run_load "${P_ADDR[$p]}" plain 10 4096 "$WARM" "${P_COUNT[$p]}" >/dev/null	# warm-up
	done
	sleep $((2 - QUICK))
	for p in "${peers[@]}"; do
		R[$p/idle]=$(pss "${P_ROOT[$p]}")
		say "  $p idle PSS: ${R[$p/idle]} KiB"
	done
	for row in $ROWS; do
		IFS=: read -r kind s size m <<< "$row"
		active=()
		for p in "${peers[@]}"; do
			if { [ "$kind" = tls ] || [ "$kind" = tlsr ]; } && [ "$p" = opensmtpd ]; then
				R[$p/$row]=no-tls
				continue
			fi
			if [ "$kind" = sendmail ] && [ -z "${P_SENDMAIL[$p]:-}" ]; then
				R[$p/$row]=no-sendmail
				continue
			fi
			active+=("$p")
			: > "$D/runs.$p"
			: > "$D/clientcpu.$p"
			: > "$D/resumed.$p"
			TICKS[$p]=0
			SP[$p]=
			if [ "$row" = "$PEAK_ROW" ]; then
				: > "$D/pss.$p"
				sampler "${P_ROOT[$p]}" "$D/pss.$p" &
				SP[$p]=$!
				BG_PIDS="$BG_PIDS ${SP[$p]}"
			fi
		done
		n=${#active[@]}
		[ "$n" -gt 0 ] || continue
		for i in $(seq 1 "$REPEAT"); do
			for k in $(seq 0 $((n - 1))); do
				p=${active[$(((k + i - 1) % n))]}
				RUN_TAG=.$p
				RUN_PEER=$p
				t0=$(cputicks "${P_ROOT[$p]}")
				r=$(run_load "${P_ADDR[$p]}" "$kind" "$s" "$size" "$m" "${P_COUNT[$p]}")
				t1=$(cputicks "${P_ROOT[$p]}")
				RUN_TAG=
				TICKS[$p]=$((TICKS[$p] + t1 - t0))
				echo "bench:     $p run $i: $r" >&2
				echo "$r" >> "$D/runs.$p"
			done
		done
		for p in "${active[@]}"; do
			R[$p/$row]=$(runs_median < "$D/runs.$p")
			# CPU per accepted message in ms, when every run took all m.
			if [ "$(grep -c . "$D/clientcpu.$p")" = "$REPEAT" ]; then
				R[$p/$row/cpu]=$(awk -v t="${TICKS[$p]}" -v hz="$HZ" \
				    -v n="$((m * REPEAT))" 'BEGIN { printf "%.3f", t * 1000 / hz / n }')
				R[$p/$row/ccpu]=$(awk -v n="$((m * REPEAT))" \
				    '{ s += $1 } END { printf "%.3f", s * 1000 / n }' "$D/clientcpu.$p")
			fi
			R[$p/$row/res]=$(awk '{ r += $1; n += $2 } END { print r "/" n }' "$D/resumed.$p")
			if [ -n "${SP[$p]}" ]; then
				kill "${SP[$p]}" 2>/dev/null
				wait "${SP[$p]}" 2>/dev/null
				BG_PIDS=${BG_PIDS/ ${SP[$p]}/}
				R[$p/peak]=$(sort -n "$D/pss.$p" | tail -n 1)
			fi
			say "  $p $kind $s sessions, $size bytes, $m messages: ${R[$p/$row]} (msg/s p50 p99 ms, median of $REPEAT)"
		done
	done
	for p in "${peers[@]}"; do
		[ -n "${R[$p/peak]:-}" ] && say "  $p peak PSS during $PEAK_ROW: ${R[$p/peak]} KiB"
		R[$p/syncs]=$(syncs "${P_ROOT[$p]}" "${P_ADDR[$p]}" "$([ "$p" = chasquid ] && echo nofollow)")
		R[$p/sfr]=$(cat "$D/sfr" 2>/dev/null)
		say "  $p syncs per message (strace -c, 10 sessions, $SYNC_MSGS messages): ${R[$p/syncs]}"
	done
}

# stripped FILE...: the total size in bytes of stripped copies.
stripped() {
	local f t=0 n=0
	mkdir -p "$D/strip"
	for f in "$@"; do
		[ -f "$f" ] || continue
		file -b "$f" 2>/dev/null | grep -q '^ELF' || continue
		n=$((n + 1))
		strip -o "$D/strip/$n" "$f" 2>/dev/null || continue
		t=$((t + $(stat -c %s "$D/strip/$n")))
	done
	echo "$t"
}

# The largest plain 4 KiB row: where peak memory is sampled.
PEAK_ROW=
peak_s=0
for row in $ROWS; do
	IFS=: read -r kind s size m <<< "$row"
	if [ "$kind" = plain ] && [ "$size" = 4096 ] && [ "$s" -gt "$peak_s" ]; then
		PEAK_ROW=$row
		peak_s=$s
	fi
done

# ---------------------------------------------------------------- setup

T_START=$(date +%s)
D=$(mktemp -d "$BASE/sm-bench.XXXXXX") || die "mktemp in $BASE"
HZ=$(getconf CLK_TCK)
chmod 0755 "$D"
NS="sm-bench-$$"
ip netns add "$NS" || die "ip netns add $NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$PF_ADDR/32" dev lo
ip -n "$NS" addr add "$OS_ADDR/32" dev lo
ip -n "$NS" addr add "$CQ_ADDR/32" dev lo
ip netns exec "$NS" sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" 2>/dev/null

fsinfo=$(df -PT "$D" | awk 'NR == 2 { print $2 " on " $1 }')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
machine="$(nproc) cores ($cpu), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), $fsinfo"
say "machine: $machine"
say "spools in $D; one connection per message; $([ "$QUICK" = 1 ] && echo QUICK, )$REPEAT run(s) per figure"

PKI_ISSUE_KEY=${BENCH_KEY:-ec} bash "$TOP/tests/pki/mkpki.sh" issue "$D/pki" bench DNS:bench.test \
    IP:$SM_ADDR IP:$PF_ADDR IP:$OS_ADDR IP:$CQ_ADDR >"$D/pki.log" 2>&1 || { cat "$D/pki.log"; die "tests/pki/mkpki.sh"; }
CERT=$D/pki/bench.pem
KEY=$D/pki/bench.key

# ---------------------------------------------------------------- strictmail

priv="privilege-separated"
uflag=
if ! [ "$(id -u)" -eq 0 ]; then priv="unprivileged (-u)"; uflag=-u; fi
# The system users, from the one list make install's users come from.
if [ -z "$uflag" ]; then
	sh "$TOP/etc/mkusers.sh" >&2 || die "etc/mkusers.sh failed"
fi
mkdir -p "$D/sm"
cat > "$D/sm/strictmail.conf" <<EOF
hostname bench.test
spool $D/sm/spool
listen $SM_ADDR 25 smtp
max-sessions 200
max-sessions-per-client 200
min-free-space 100M
control-socket $D/sm/control.sock
tls-certificate $CERT
tls-key $KEY
EOF
# sm_launch LOG: strictmaild started on that configuration, in SM_PID.
# sm_ready LOG: waits for its ready line (30 s).
sm_launch() {
	ip netns exec "$NS" setsid "$BIN" -d $uflag -f "$D/sm/strictmail.conf" \
	    >"$1" 2>&1 </dev/null &
	SM_PID=$!
}
sm_ready() {
	local i
	for i in $(seq 1 300); do
		grep -q 'ready: listening on' "$1" 2>/dev/null && return 0
		pid_alive "$SM_PID" || break
		sleep 0.1
	done
	tail -n 20 "$1"
	die "strictmaild did not get ready"
}
sm_launch "$D/sm/daemon.log"
sm_ready "$D/sm/daemon.log"
say "strictmail: $BIN, $priv, pid $SM_PID"
# Delivery is paused when strictmailctl can (acceptance alone, as Postfix
# holds its mail); otherwise each message gets one local delivery attempt,
# deferred at once (root has no alias), while the runs go on.
if ip netns exec "$NS" "$CTL" -f "$D/sm/strictmail.conf" pause delivery >"$D/sm/pause.out" 2>&1; then
	SM_DELIVERY="delivery paused (strictmailctl pause delivery)"
else
	SM_DELIVERY="delivery not paused (strictmailctl cannot: each message gets one local attempt, deferred)"
fi
say "strictmail: $SM_DELIVERY"
sm_count() { find "$D/sm/spool/queue" -name '*.env' 2>/dev/null | wc -l; }
P_ADDR[strictmail]=$SM_ADDR
P_ROOT[strictmail]=$SM_PID
P_COUNT[strictmail]=sm_count
P_SENDMAIL[strictmail]="$CTL sendmail -C $D/sm/strictmail.conf"
FIRST_PEERS=strictmail

# ---------------------------------------------------------------- postfix

pf_count() { find "$D/pf/queue/hold" -type f 2>/dev/null | wc -l; }
if [ "$WITH_POSTFIX" = 1 ]; then
	priv_postfix_users || die "cannot create the users $PRIV_PF_OWNER and $PRIV_PF_GROUP"
	mkdir -p "$D/pf/etc" "$D/pf/queue" "$D/pf/data"
	chown "$PRIV_PF_OWNER" "$D/pf/data"
	cat > "$D/pf/etc/main.cf" <<EOF
# A private instance with Postfix's default durability; every message is
# held after it was received, so nothing but reception is measured.
compatibility_level = 3.6
queue_directory = $D/pf/queue
data_directory = $D/pf/data
$(priv_postfix_main_cf)
myhostname = bench.test
mydomain = bench.test
myorigin = bench.test
mydestination = localhost, bench.test
inet_interfaces = $PF_ADDR
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps = proxy:unix:passwd.byname
smtpd_peername_lookup = no
smtpd_data_restrictions = check_client_access static:HOLD
smtpd_tls_cert_file = $CERT
smtpd_tls_key_file = $KEY
smtpd_tls_security_level = may
maillog_file_prefixes = $D
maillog_file = $D/pf/maillog
biff = no
# sendmail runs postdrop with only these (the private tree's libraries).
export_environment = TZ MAIL_CONFIG LANG LD_LIBRARY_PATH
EOF
	cat > "$D/pf/etc/master.cf" <<'EOF'
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
  -o cleanup_service_name=hcleanup
hcleanup  unix  n       -       n       -       0       cleanup
  -o header_checks=static:HOLD
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	ip netns exec "$NS" env LD_LIBRARY_PATH="$PF_LIBPATH" \
	    "$(priv_root postfix)/usr/sbin/postfix" -c "$D/pf/etc" start >"$D/pf/start.out" 2>&1 </dev/null
	for i in $(seq 1 100); do
		PF_PID=$(tr -dc 0-9 < "$D/pf/queue/pid/master.pid" 2>/dev/null)
		[ -n "$PF_PID" ] && break
		sleep 0.1
	done
	[ -n "$PF_PID" ] || { cat "$D/pf/start.out"; die "postfix did not start"; }
	wait_listen "$PF_ADDR" 20 || die "postfix does not listen on $PF_ADDR:25"
	PF_VERSION=$(priv_run postfix usr/sbin/postconf -c "$D/pf/etc" -h mail_version)
	say "postfix: $PF_VERSION (build-deps/postfix), master pid $PF_PID, mail held"
	P_ADDR[postfix]=$PF_ADDR
	P_ROOT[postfix]=$PF_PID
	P_COUNT[postfix]=pf_count
	P_SENDMAIL[postfix]="env MAIL_CONFIG=$D/pf/etc LD_LIBRARY_PATH=$PF_LIBPATH $(priv_root postfix)/usr/sbin/sendmail"
	FIRST_PEERS="$FIRST_PEERS postfix"
fi

# ---------------------------------------------------------------- strictmail and Postfix, side by side

# shellcheck disable=SC2086
measure $FIRST_PEERS

# The ordering proof on a traced run (tests/integration/strace_order.py,
# as t-20 uses it): every 250 after the sync covering its message.
args=()
for p in $(tree "$SM_PID"); do args+=(-p "$p"); done
strace -f -ttt -T -yy -s 4096 -qq -o "$D/order.trace" -e trace="$ORDER_CALLS" "${args[@]}" 2>/dev/null &
sp=$!
sleep 1
load "$SM_ADDR" plain 10 4096 "$ORDER_MSGS" "$D/order.load"
sleep 1
kill -INT "$sp" 2>/dev/null
wait "$sp" 2>/dev/null
python3 "$TOP/tests/integration/strace_order.py" "$D/order.trace" "$D/sm/spool" >"$D/order.out" 2>&1
ORDER_RC=$?
sed 's/^/bench:     /' "$D/order.out" | head -n 8
if [ "$ORDER_RC" = 0 ]; then
	ORDER="proven for $(field ok < "$D/order.load") messages (10 sessions, strace_order.py)"
else
	ORDER="VIOLATED: $(grep -m 1 '^VIOLATION' "$D/order.out")"
fi
say "strictmail ordering: $ORDER"
stop_group "$SM_PID" 30
SM_PID=

if [ -n "$PF_PID" ]; then
	stop_group "$PF_PID" 30
	PF_PID=
fi
settle

# ---------------------------------------------------------------- full queue

# full_queue: the same spool with FULLQ deferred messages more
# (spoolfill.py: as after a long outage of their next hop, due in an
# hour), and a start: seconds to the first 250 (first250.py, connecting
# from the moment of the start), the acceptance of the plain 10-session
# 4 KiB row right after it, while the queue checks and schedules the old
# messages, and seconds until that is done (the queue's "recovery: N
# messages in queue" line, polled).  Sets FQ_*; FQ_ERR says what went
# wrong whatever the speed (no 250, a message not found again).
full_queue() {
	local t0 t_load poll row i log=$D/sm/daemon-fq.log
	say "full queue: writing $FULLQ deferred messages of 4 KiB into the spool"
	python3 "$TOP/tests/bench/spoolfill.py" "$D/sm/spool" "$FULLQ" 4096 \
	    "$(stat -c %u "$D/sm/spool/queue")" "$(stat -c %g "$D/sm/spool/queue")" ||
	    die "spoolfill.py failed"
	sync
	FQ_N=$(sm_count)
	FQ_ROW=
	for row in $ROWS; do case $row in plain:10:4096:*) FQ_ROW=$row; break ;; esac; done
	FQ_MSGS=${FQ_ROW##*:}
	FQ_MSGS=${FQ_MSGS:-200}
	t0=$(date +%s.%N)
	sm_launch "$log"
	while ! grep -q 'recovery: [0-9]* messages in queue' "$log" 2>/dev/null; do
		sleep 0.05
	done && date +%s.%N > "$D/fq.sched" &
	poll=$!
	BG_PIDS="$BG_PIDS $poll"
	FQ_FIRST=$(ip netns exec "$NS" timeout 120 python3 "$TOP/tests/bench/first250.py" \
	    "$SM_ADDR" "$t0" 2>&1 | tail -n 1)
	FQ_LOAD=$(run_load "$SM_ADDR" plain 10 4096 "$FQ_MSGS" sm_count)
	t_load=$(date +%s.%N)
	for i in $(seq 1 600); do [ -s "$D/fq.sched" ] && break; sleep 0.1; done
	kill "$poll" 2>/dev/null; wait "$poll" 2>/dev/null
	BG_PIDS=${BG_PIDS/ $poll/}
	FQ_PSS=$(pss "$SM_PID")
	if [ -s "$D/fq.sched" ]; then
		FQ_SCHED=$(awk -v a="$(cat "$D/fq.sched")" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
		FQ_OVERLAP=$(awk -v a="$(cat "$D/fq.sched")" -v b="$t_load" 'BEGIN { print (b <= a) ? "wholly" : "partly" }')
	else
		FQ_SCHED="not within 60 s"
		FQ_OVERLAP="-"
	fi
	FQ_REC=$(grep -o 'recovery: [0-9]* messages in queue.*' "$log" | head -n 1)
	case $FQ_FIRST in [0-9]*) ;; *) FQ_ERR="no 250 after the start: $FQ_FIRST" ;; esac
	[ "$FQ_REC" = "recovery: $FQ_N messages in queue, 0 moved to corrupt/, 0 unfinished removed" ] ||
	    FQ_ERR="${FQ_ERR:+$FQ_ERR; }recovery found other than the $FQ_N messages: ${FQ_REC:-no summary line}"
	say "full queue: $FQ_N messages; first 250 after ${FQ_FIRST} s; plain 10 sessions 4 KiB, $FQ_MSGS messages: $FQ_LOAD; schedule whole after $FQ_SCHED s ($FQ_REC)"
	stop_group "$SM_PID" 30
	SM_PID=
}
FQ_N=
FQ_ERR=
[ "$FULLQ" -gt 0 ] && full_queue

settle


# ---------------------------------------------------------------- other peers

# OpenSMTPD and chasquid (tests/bench/peers.sh), one after the other.
OTHER_PEERS=
if [ "$WITH_OPENSMTPD" = 1 ]; then
	if start_opensmtpd; then
		say "opensmtpd: $OS_VERSION (build-deps/opensmtpd), pid $OS_PID, mail kept (relay host refuses)"
		P_ADDR[opensmtpd]=$OS_ADDR
		P_ROOT[opensmtpd]=$OS_PID
		P_COUNT[opensmtpd]=os_count
		measure opensmtpd
		settle
	else
		R[opensmtpd/why]=$PEER_WHY
		say "opensmtpd not measured: $PEER_WHY"
	fi
	stop_group "$OS_PID" 30
	OS_PID=
	OTHER_PEERS="$OTHER_PEERS opensmtpd"
fi
if [ "$WITH_CHASQUID" = 1 ]; then
	if start_chasquid; then
		say "chasquid: $CQ_VERSION (build-deps/chasquid), pid $CQ_PID, mail kept (alias to a domain without address)"
		P_ADDR[chasquid]=$CQ_ADDR
		P_ROOT[chasquid]=$CQ_PID
		P_COUNT[chasquid]=cq_count
		measure chasquid
		settle
	else
		R[chasquid/why]=$PEER_WHY
		say "chasquid not measured: $PEER_WHY"
	fi
	stop_group "$CQ_PID" 30
	CQ_PID=
	OTHER_PEERS="$OTHER_PEERS chasquid"
fi

# ---------------------------------------------------------------- disk ceiling

declare -A CEIL
# Last, after every peer: its large writer leaves the disk busy.
# What the queue does (parallel), the earlier commits, and what it could
# do: one file per message (content and envelope together), and per-file
# write-back waits (which report each file's own errors) with one syncfs.
CEIL_MODES="parallel fsync syncfs syncfs2 onefile onepar waitfs"
if [ "$WITH_CEILING" = 1 ]; then
	${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -pthread -o "$D/commitceil" \
	    "$TOP/tests/bench/commitceil.c" || die "cannot build commitceil"
	mkdir -p "$D/disk"
	say "disk ceiling: median of $REPEAT runs of 3 s per mode"
	for mode in $CEIL_MODES; do
		for b in 1 10; do
			for w in quiet writer; do
				CEIL[$mode/$b/$w]=$(ceiling "$mode" "$b" "$w")
				say "  $mode batch $b $w: ${CEIL[$mode/$b/$w]} msg/s"
			done
		done
	done
fi

# ---------------------------------------------------------------- sizes

SM_SIZE=$(stripped "$BIN" "$CTL" "$(dirname "$BIN")/strictmail-postdrop")
PF_SIZE=-
if [ "$WITH_POSTFIX" = 1 ]; then
	r=$(priv_root postfix)
	mapfile -t pf_files < <(find "$r/usr/sbin" "$r/usr/lib/postfix" -type f 2>/dev/null)
	PF_SIZE=$(stripped "${pf_files[@]}")
fi

# ---------------------------------------------------------------- table

T_END=$(date +%s)
ratio() {	# A B
	case "$1$2" in *[!0-9.]*|'') echo - ;; *) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }' ;; esac
}
kib_mib() { case "$1" in ''|*[!0-9]*) echo - ;; *) awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }' ;; esac; }
word() { echo "$1" | awk -v n="$2" '{ print (NF >= 3 ? $n : (n == 1 ? $0 : "-")) }'; }
kind_name() { case "$1" in busy) echo "+writer" ;; tlsr) echo "tls-res" ;; *) echo "$1" ;; esac; }
size_name() { case "$1" in 4096) echo 4KiB ;; 102400) echo 100KiB ;; *) echo "${1}B" ;; esac; }

# peers_table: strictmail beside OpenSMTPD and chasquid, the same rows.
peers_table() {
	local row kind s size m a p v line
	echo
	echo "Beside OpenSMTPD and chasquid (the same client and rows; ratio: strictmail / the peer):"
	for p in $OTHER_PEERS; do
		[ -n "${R[$p/why]:-}" ] && echo "$p not measured: ${R[$p/why]}"
	done
	echo
	echo '```'
	line=$(printf '%-22s %-10s' test "sm msg/s")
	for p in $OTHER_PEERS; do
		line="$line $(printf '%-10s %-7s %-15s' "${p:0:4} msg/s" ratio "p50/p99 ms")"
	done
	echo "$line"
	for row in $ROWS; do
		IFS=: read -r kind s size m <<< "$row"
		a=${R[strictmail/$row]:--}
		line=$(printf '%-22s %-10s' "$(kind_name "$kind") $s sess $(size_name "$size")" "$(word "$a" 1)")
		for p in $OTHER_PEERS; do
			v=${R[$p/$row]:--}
			line="$line $(printf '%-10s %-7s %-15s' "$(word "$v" 1)" \
			    "$(ratio "$(word "$a" 1)" "$(word "$v" 1)")" "$(word "$v" 2)/$(word "$v" 3)")"
		done
		echo "$line"
	done
	line=$(printf '%-22s %-10s' "syncs per message" "${R[strictmail/syncs]:--}")
	for p in $OTHER_PEERS; do
		line="$line $(printf '%-10s %-7s %-15s' "${R[$p/syncs]:--}" "" "")"
	done
	echo "$line"
	for v in idle peak; do
		line=$(printf '%-22s %-10s' "PSS $v" "$(kib_mib "${R[strictmail/$v]:-}")")
		for p in $OTHER_PEERS; do
			line="$line $(printf '%-10s %-7s %-15s' "$(kib_mib "${R[$p/$v]:-}")" \
			    "$(ratio "${R[strictmail/$v]:-}" "${R[$p/$v]:-}")" "")"
		done
		echo "$line"
	done
	echo '```'
	echo "OpenSMTPD ${OS_VERSION:--} and chasquid ${CQ_VERSION:--} (Debian 12's, unpacked privately), default"
	echo "durability. OpenSMTPD keeps what it accepted (its relay host refuses); chasquid, whose"
	echo "queue holds at most 200 messages, delivers each at once to a pipe alias (| /bin/true)."
	echo "OpenSMTPD 6.8 cannot finish a TLS handshake as a server with OpenSSL 3: no-tls."
	case " $ROWS " in *" sendmail:"*)
		echo "no-sendmail: OpenSMTPD's sendmail (smtpctl) hands mail to its daemon as the setgid"
		echo "group _smtpq, which its privately unpacked tree cannot be; chasquid has no sendmail." ;;
	esac
}

table() {
	local row kind s size m a b
	echo "# make bench$([ "$QUICK" = 1 ] && echo " QUICK=1")"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $((T_END - T_START)) s; $machine."
	echo "strictmail $("$BIN" -V 2>/dev/null | head -n 1) ($priv, shipped durability, $SM_DELIVERY);"
	echo "Postfix ${PF_VERSION:--} (default durability, mail held). Client: smtpload, one new"
	echo "connection per message; STARTTLS rows: TLS 1.2 (the client's mbedTLS 2.28), the same"
	echo "test certificate on both. Median of $REPEAT run(s); the ratio is the result, the"
	echo "absolute figures are context (a shared, noisy machine)."
	echo
	echo '```'
	printf '%-22s %6s  %-10s %-10s %-7s %-16s %s\n' test msgs "sm msg/s" "pf msg/s" ratio "sm p50/p99 ms" "pf p50/p99 ms"
	for row in $ROWS; do
		IFS=: read -r kind s size m <<< "$row"
		a=${R[strictmail/$row]:--}
		b=${R[postfix/$row]:--}
		printf '%-22s %6s  %-10s %-10s %-7s %-16s %s\n' \
		    "$(kind_name "$kind") $s sess $(size_name "$size")" "$m" "$(word "$a" 1)" "$(word "$b" 1)" \
		    "$(ratio "$(word "$a" 1)" "$(word "$b" 1)")" \
		    "$(word "$a" 2)/$(word "$a" 3)" "$(word "$b" 2)/$(word "$b" 3)"
	done
	printf '%-22s %6s  %-10s %-10s %s\n' "syncs per message" "$SYNC_MSGS" \
	    "${R[strictmail/syncs]:--}" "${R[postfix/syncs]:--}" \
	    "$(ratio "${R[strictmail/syncs]:-}" "${R[postfix/syncs]:-}")"
	printf '%-22s %6s  %-10s %-10s %s\n' "PSS idle" "" \
	    "$(kib_mib "${R[strictmail/idle]:-}")" "$(kib_mib "${R[postfix/idle]:-}")" \
	    "$(ratio "${R[strictmail/idle]:-}" "${R[postfix/idle]:-}")"
	printf '%-22s %6s  %-10s %-10s %s\n' "PSS peak ($(echo "$PEAK_ROW" | cut -d: -f2) sess)" "" \
	    "$(kib_mib "${R[strictmail/peak]:-}")" "$(kib_mib "${R[postfix/peak]:-}")" \
	    "$(ratio "${R[strictmail/peak]:-}" "${R[postfix/peak]:-}")"
	printf '%-22s %6s  %-10s %-10s %s\n' "stripped programs" "" \
	    "$((SM_SIZE / 1024)) KiB" "$([ "$PF_SIZE" = - ] && echo - || echo "$((PF_SIZE / 1024)) KiB")" \
	    "$(ratio "$SM_SIZE" "$PF_SIZE")"
	echo '```'
	echo
	echo "CPU time per accepted message, ms: the MTA's processes (user and system, children"
	echo "that ended included) and the client's (smtpload, measured in the same runs):"
	echo
	echo '```'
	printf '%-22s %-10s %-10s %-7s %-12s %s\n' test "sm MTA" "pf MTA" ratio "client(sm)" "client(pf)"
	for row in $ROWS; do
		IFS=: read -r kind s size m <<< "$row"
		printf '%-22s %-10s %-10s %-7s %-12s %s\n' \
		    "$(kind_name "$kind") $s sess $(size_name "$size")" \
		    "${R[strictmail/$row/cpu]:--}" "${R[postfix/$row/cpu]:--}" \
		    "$(ratio "${R[strictmail/$row/cpu]:-}" "${R[postfix/$row/cpu]:-}")" \
		    "${R[strictmail/$row/ccpu]:--}" "${R[postfix/$row/ccpu]:--}"
	done
	echo '```'
	for row in $ROWS; do
		case $row in tlsr:*)
			IFS=: read -r kind s size m <<< "$row"
			echo "tls-res $s sess: STARTTLS, each client session offering the session ticket of"
			echo "its last handshake (as a sending MTA with a TLS session cache does); handshakes"
			echo "resumed: strictmail ${R[strictmail/$row/res]:--}, Postfix ${R[postfix/$row/res]:--}." ;;
		sendmail:*)
			IFS=: read -r kind s size m <<< "$row"
			echo "sendmail $s sess: local submission, $s at a time, each running the MTA's"
			echo "sendmail command (strictmailctl sendmail; Postfix's sendmail and postdrop) for"
			echo "its share of the $m messages, as root; the rate counts until every message"
			echo "is in the queue (Postfix: held by its pickup's cleanup), p50/p99 is one sendmail"
			echo "from its start to its exit.  No client CPU: the sendmail programs are the MTA's." ;;
		esac
	done
	if [ -n "$FQ_N" ]; then
		a=$(word "$FQ_LOAD" 1)
		b=$(word "${R[strictmail/$FQ_ROW]:-}" 1)
		echo
		echo "Full queue (strictmail; $FQ_N messages in the spool, $FULLQ of them deferred, written"
		echo "by tests/bench/spoolfill.py): first 250 ${FQ_FIRST} s after the start; plain 10 sess"
		echo "4KiB, $FQ_MSGS messages, right after it: $a msg/s (p50/p99 $(word "$FQ_LOAD" 2)/$(word "$FQ_LOAD" 3) ms),"
		echo "$(ratio "$a" "$b") the empty-queue row's $b; the old messages checked (size and"
		echo "digest) and scheduled $FQ_SCHED s after the start: the run was $FQ_OVERLAP within that time."
		echo "PSS of all strictmail processes with the whole queue scheduled: $(kib_mib "$FQ_PSS")."
	fi
	echo
	echo "strictmail ordering (every 250 after its sync): $ORDER."
	echo "Syncs: fsync, fdatasync, syncfs, sync and msync of all the MTA's processes"
	echo "(strace -f -c) over one 10-session run of 4 KiB messages, per message accepted"
	echo "(sync_file_range, which only starts write-back, not counted: strictmail ${R[strictmail/sfr]:-0}/message)."
	case " $ROWS " in *" busy:"*)
		echo "+writer: plain, while dd writes a 3 GiB file (buffered) on the spools' file system." ;;
	esac
	echo "PSS: /proc/PID/smaps_rollup summed over all the MTA's processes."
	echo "Programs: strictmaild, strictmailctl, strictmail-postdrop stripped (shared libraries"
	echo "such as mbedTLS not counted); Postfix: every ELF file of usr/sbin and usr/lib/postfix"
	echo "of its package (its own shared libraries included), stripped, for context."
	[ -n "$OTHER_PEERS" ] && peers_table
	if [ "$WITH_CEILING" = 1 ]; then
		echo
		echo "Disk ceiling for the commit (1 KiB content + envelope, same file system), messages per second:"
		echo
		echo '```'
		printf '%-62s %-6s %-8s %s\n' "how a batch is made durable" "batch" "quiet" "large writer"
		for mode in $CEIL_MODES; do
			case $mode in
			parallel) what="fdatasync each file, fsync each folder, 4 threads (the queue)" ;;
			fsync)   what="the same syncs one after the other (earlier)" ;;
			syncfs)  what="one syncfs, then fdatasync each file" ;;
			syncfs2) what="syncfs, rename envelope, syncfs (earlier)" ;;
			onefile) what="one file per message: fdatasync, fsync folder" ;;
			onepar)  what="one file per message, 4 threads" ;;
			waitfs)  what="wait each file's write-back, one syncfs" ;;
			esac
			for b in 1 10; do
				printf '%-62s %-6s %-8s %s\n' "$what" "$b" "${CEIL[$mode/$b/quiet]}" "${CEIL[$mode/$b/writer]}"
			done
		done
		echo '```'
	fi
	echo
	[ -n "$CHART_WHY" ] || echo "Chart: $(basename "$CHART") (messages per second of each row, every peer measured)."
	[ -z "$CHART_WHY" ] || echo "Chart: not drawn ($CHART_WHY)."
	[ -n "$OTHER_PEERS" ] ||
	    echo "Not measured here: OpenSMTPD and chasquid (BENCH_OPENSMTPD, BENCH_CHASQUID; not in QUICK)."
}

# chart: the messages per second of each row and peer as grouped bars,
# a PNG beside the table (gnuplot, from tests/deps.sh --bench); CHART_WHY says why
# not when it cannot be drawn.
CHART=${RESULTS%.md}.png
CHART_WHY=
chart() {
	local row kind s size m p v peers="strictmail" cols i
	command -v gnuplot >/dev/null || { CHART_WHY="no gnuplot: run sh tests/deps.sh --bench (make bench does)"; return; }
	[ "$WITH_POSTFIX" = 1 ] && peers="$peers postfix"
	peers="$peers $OTHER_PEERS"
	for row in $ROWS; do
		IFS=: read -r kind s size m <<< "$row"
		printf '"%s"' "$(kind_name "$kind") $s $(size_name "$size")"
		for p in $peers; do
			v=$(word "${R[$p/$row]:--}" 1)
			case $v in ''|*[!0-9.]*) v=0 ;; esac
			printf ' %s' "$v"
		done
		echo
	done > "$D/chart.dat"
	cols=
	i=2
	for p in $peers; do
		cols="$cols${cols:+, ''} using $i:xtic(1) title '$p'"
		i=$((i + 1))
	done
	gnuplot > "$D/gnuplot.out" 2>&1 <<EOF || { CHART_WHY="gnuplot: $(head -n 1 "$D/gnuplot.out")"; return; }
set terminal png size 1000,500 font ",10"
set output "$D/chart.png"
set title "make bench$([ "$QUICK" = 1 ] && echo " QUICK=1"), $(date -u '+%Y-%m-%d'): messages per second accepted (one connection per message)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "messages per second"
set yrange [0:*]
set xtics rotate by -30
set key top right
plot "$D/chart.dat" $cols
EOF
	[ -s "$D/chart.png" ] || CHART_WHY="gnuplot wrote nothing: $(head -n 1 "$D/gnuplot.out")"
}

chart
echo
table | tee "$D/results.md"
mkdir -p "$(dirname "$RESULTS")"
cp "$D/results.md" "$RESULTS"
[ -n "$CHART_WHY" ] || cp "$D/chart.png" "$CHART"
say "table written to $RESULTS$([ -n "$CHART_WHY" ] || echo ", chart to $CHART")"
[ -z "$FQ_ERR" ] || { echo "bench: full queue: $FQ_ERR" >&2; exit 1; }
[ "$ORDER_RC" = 0 ] || exit 1
# Resumption: every handshake of a tls-res run but each session's first.
for row in $ROWS; do
	case $row in tlsr:*) ;; *) continue ;; esac
	IFS=: read -r kind s size m <<< "$row"
	v=${R[strictmail/$row/res]:-0/0}
	[ "${v%/*}" -ge $(( (m - s) * REPEAT )) ] ||
	    { echo "bench: $row: strictmail resumed $v handshakes, want at least $(( (m - s) * REPEAT ))" >&2; exit 1; }
done
exit 0
