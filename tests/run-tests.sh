#!/usr/bin/env bash
# Runs strictmail's tests: builds (plain and sanitizer), then the unit
# tests (cmocka, with leak detection) and the integration tests, each of
# the latter twice: unprivileged (-u, leak detection on) and
# privilege-separated (as root, detect_leaks=0: LeakSanitizer cannot work
# after chroot and setuid), INTEGRATION_JOBS (3) at a time (a test with a
# line "# serial" runs alone, before the others; one with a line "# long"
# starts before the short ones; results print in the order of the list).
# Prints the time each layer took and one
# closing line "N passed, N failed, N skipped".  The unit layer also runs
# tests/check-rules.sh (every MTA-STS rule cited by a test).
# The fuzz layer runs each libFuzzer target for 3 seconds (FUZZ_SECONDS; "make fuzz" runs longer).
# The bench layer runs the quick benchmark (make bench QUICK=1, about a
# minute): it must run and prove every 250 came after its sync; its
# figures are printed and never judged.
#   tests/run-tests.sh [unit|integration|fuzz|bench] [TEST-NAME-PATTERN]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
layer=${1:-all}
pattern=${2:-}
jobs=$(nproc 2>/dev/null || echo 2)

pass=0; fail=0; skip=0; failed_names=()
t_start=$(date +%s)

note() { printf '==> %s\n' "$*"; }

note "build (plain and sanitizer)"
t0=$(date +%s)
if ! make -s -j"$jobs" all || ! make -s -j"$jobs" asan; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
note "build took $(( $(date +%s) - t0 ))s"

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_unit() {
	local t0 b name out
	t0=$(date +%s)
	note "unit tests (cmocka, ASan+UBSan, leak detection on)"
	# Three at a time (several wait on timers), reported in order; the
	# exit status of each goes to build-asan/NAME.rc.
	local names=() running=0
	for b in build-asan/tests/unit/test_*; do
		[ -x "$b" ] || continue
		name=$(basename "$b")
		[ -n "$pattern" ] && [[ $name != *$pattern* ]] && continue
		names+=("$name")
		rm -f "build-asan/$name.rc"
		(
			ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 timeout 300 "$b" > "build-asan/$name.log" 2>&1
			echo $? > "build-asan/$name.rc"
		) &
		running=$((running + 1))
		if [ "$running" -ge 3 ]; then
			wait -n
			running=$((running - 1))
		fi
	done
	wait
	for name in "${names[@]}"; do
		if [ "$(cat "build-asan/$name.rc" 2>/dev/null)" = 0 ]; then
			pass=$((pass + 1)); printf 'PASS unit/%s\n' "$name"
		else
			fail=$((fail + 1)); failed_names+=("unit/$name")
			printf 'FAIL unit/%s\n' "$name"; sed 's/^/    /' "build-asan/$name.log" | tail -40
		fi
	done
	# Every rule of the MTA-STS specification has a test citing it.
	if [ -z "$pattern" ] || [[ check-rules == *$pattern* ]]; then
		if bash tests/check-rules.sh > build-asan/check-rules.log 2>&1; then
			pass=$((pass + 1)); printf 'PASS unit/check-rules\n'
		else
			fail=$((fail + 1)); failed_names+=("unit/check-rules")
			printf 'FAIL unit/check-rules\n'; grep -v '^rule ' build-asan/check-rules.log | sed 's/^/    /'
		fi
	fi
	note "unit tests took $(( $(date +%s) - t0 ))s"
}

# The integration tests run INTEGRATION_JOBS (3) at a time: each test
# script twice (unprivileged, then privilege-separated), every run a job of
# its own.  A test file with a line "# serial" (or "# serial: why") runs
# alone: its runs come first, each with nothing beside it.  Then the runs
# of the tests with a line "# long" (or "# long: why"), which would
# otherwise end the layer alone on a machine that is idle but for them,
# then the rest.  Results are printed in the order of the test list, each
# when every earlier one has been printed, with the wall-clock and CPU
# seconds of the run (CPU: the test's own processes and those it waited
# for; a daemon left to init is not counted).
int_jobs=${INTEGRATION_JOBS:-3}
case $int_jobs in ''|*[!0-9]*|0) int_jobs=3 ;; esac

int_names=(); int_logs=(); int_serial=(); int_long=(); int_scripts=(); int_privs=()
int_order=()	# job indexes in the order they start
int_dir=
int_running=()	# job indexes started and not yet collected

# int_add SCRIPT PRIV: one job of the list.
int_add() {
	local s=$1 priv=$2 base
	base=$(basename "$s" .sh)
	int_scripts+=("$s"); int_privs+=("$priv")
	int_names+=("$base/$( [ "$priv" = 1 ] && echo priv || echo unpriv )")
	int_logs+=("build-asan/integration-$base-$priv.log")
	int_serial+=("$(int_marked "$s" serial)")
	int_long+=("$(int_marked "$s" long)")
}

# int_marked SCRIPT WORD: 1 if SCRIPT has a line "# WORD" (or "# WORD: why"),
# else 0.
int_marked() {
	if grep -Eq "^# $2(\$|[:[:space:]])" "$1"; then echo 1; else echo 0; fi
}

# int_plan: int_order, the serial runs first, then the long ones, then
# the rest, each group in list order.
int_plan() {
	local i first=() long=() rest=()
	for i in "${!int_names[@]}"; do
		if [ "${int_serial[$i]}" = 1 ]; then first+=("$i")
		elif [ "${int_long[$i]}" = 1 ]; then long+=("$i")
		else rest+=("$i"); fi
	done
	int_order=("${first[@]}" "${long[@]}" "${rest[@]}")
}

# int_start I: runs job I in the background; its exit status and time go to
# $int_dir/I.done when it ends, the PID of its timeout to $int_dir/I.pid.
int_start() {
	local i=$1 asan
	if [ "${int_privs[$i]}" = 1 ]; then asan=detect_leaks=0; else asan=detect_leaks=1; fi
	(
		t0=$(date +%s)
		SM_BIN="$top/build-asan/strictmaild" SM_TOP="$top" SM_PRIV=${int_privs[$i]} \
		    ASAN_OPTIONS="$asan:abort_on_error=0" \
		    timeout -k 10 900 bash "${int_scripts[$i]}" > "${int_logs[$i]}" 2>&1 </dev/null &
		echo "$!" > "$int_dir/$i.pid"
		wait "$!"
		rc=$?
		# CPU seconds: "times" of this subshell (not in a pipe, which
		# would be a subshell of its own with no children).
		times > "$int_dir/$i.times"
		cpu=$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m")
		    printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$int_dir/$i.times")
		echo "$rc $(( $(date +%s) - t0 )) ${cpu:-?}" > "$int_dir/$i.tmp" && mv "$int_dir/$i.tmp" "$int_dir/$i.done"
	) &
	int_running+=("$i")
}

# int_report I: the result line of job I (and the tail of its log if it
# failed), counted.
int_report() {
	local i=$1 rc secs cpu name=${int_names[$1]} log=${int_logs[$1]}
	read -r rc secs cpu < "$int_dir/$i.done"
	case $rc in
	0)  pass=$((pass + 1)); printf 'PASS %s (%ss, cpu %ss)\n' "$name" "$secs" "$cpu" ;;
	77) skip=$((skip + 1)); printf 'SKIP %s: %s\n' "$name" "$(grep -m1 -i 'skip' "$log")" ;;
	*)  fail=$((fail + 1)); failed_names+=("$name")
	    printf 'FAIL %s (exit %s, %ss)\n' "$name" "$rc" "$secs"
	    sed 's/^/    /' "$log" | tail -60 ;;
	esac
}

# int_may_start I: job I may start now.
int_may_start() {
	local j
	[ "${#int_running[@]}" -eq 0 ] && return 0
	[ "${int_serial[$1]}" = 1 ] && return 1
	[ "${#int_running[@]}" -ge "$int_jobs" ] && return 1
	for j in "${int_running[@]}"; do
		[ "${int_serial[$j]}" = 1 ] && return 1
	done
	return 0
}

# On SIGINT or SIGTERM: SIGTERM to the running tests (each cleans up), then
# out.
int_abort() {
	local j p
	for j in "${int_running[@]}"; do
		p=$(cat "$int_dir/$j.pid" 2>/dev/null)
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	wait
	rm -rf "$int_dir"
	echo "interrupted"
	exit "$1"
}

run_integration() {
	local t0 s n i next=0 shown=0 j left
	t0=$(date +%s)
	note "integration tests (ASan+UBSan build; each test in its own network namespace; $int_jobs at a time)"
	if [ "$(id -u)" -ne 0 ]; then
		echo "integration tests need root (network namespaces, system users): skipped"
		skip=$((skip + 1))
		return
	fi
	for s in tests/integration/t-*.sh; do
		[ -f "$s" ] || continue
		[ -n "$pattern" ] && [[ $s != *$pattern* ]] && continue
		int_add "$s" 0
		int_add "$s" 1
	done
	n=${#int_names[@]}
	int_plan
	int_dir=$(mktemp -d "${TMPDIR:-/tmp}/sm-run-tests.XXXXXX") || { echo "mktemp failed"; exit 1; }
	trap 'int_abort 130' INT
	trap 'int_abort 143' TERM
	while [ "$shown" -lt "$n" ]; do
		while [ "$next" -lt "$n" ] && int_may_start "${int_order[$next]}"; do
			int_start "${int_order[$next]}"
			next=$((next + 1))
		done
		# Collect the jobs that ended.
		left=()
		for j in "${int_running[@]}"; do
			[ -f "$int_dir/$j.done" ] || left+=("$j")
		done
		int_running=("${left[@]}")
		# Print, in list order, what has ended.
		while [ "$shown" -lt "$n" ] && [ -f "$int_dir/$shown.done" ]; do
			int_report "$shown"
			shown=$((shown + 1))
		done
		[ "$shown" -lt "$n" ] && [ "${#int_running[@]}" -gt 0 ] && sleep 0.1
	done
	wait
	trap - INT TERM
	rm -rf "$int_dir"
	note "integration tests took $(( $(date +%s) - t0 ))s"
}

# Each fuzz target for FUZZ_SECONDS (3) from its seed corpus, after its
# reproducers in tests/fuzz/crashes/ (tests/fuzz/run.sh).
run_fuzz() {
	local t0 line t targets=()
	t0=$(date +%s)
	note "fuzz targets (libFuzzer, ASan+UBSan, ${FUZZ_SECONDS:-3}s each from the seed corpus)"
	if ! command -v clang >/dev/null 2>&1; then
		echo "clang is not installed: fuzz targets skipped"
		skip=$((skip + 1))
		return
	fi
	if ! make -s -j"$jobs" fuzz-bins; then
		fail=$((fail + 1)); failed_names+=("fuzz/build")
		echo "FAIL fuzz/build: expected make fuzz-bins to work, got an error"
		return
	fi
	for t in fuzz_session fuzz_address fuzz_envelope fuzz_config fuzz_ipc \
	    fuzz_smtpc_reply fuzz_ctl fuzz_sts_txt fuzz_sts_policy \
	    fuzz_sts_record fuzz_aliases fuzz_submit_msg fuzz_maildrop; do
		[ -n "$pattern" ] && [[ $t != *$pattern* ]] && continue
		targets+=("$t")
	done
	[ "${#targets[@]}" -gt 0 ] || return
	# Two halves side by side (each target has its own corpus and log),
	# printed in order.
	local half=$(( (${#targets[@]} + 1) / 2 ))
	bash tests/fuzz/run.sh "${FUZZ_SECONDS:-3}" "${targets[@]:0:$half}" > build-fuzz/run-1.out 2>&1 &
	local p1=$!
	if [ "${#targets[@]}" -gt "$half" ]; then
		bash tests/fuzz/run.sh "${FUZZ_SECONDS:-3}" "${targets[@]:$half}" > build-fuzz/run-2.out 2>&1
	else
		: > build-fuzz/run-2.out
	fi
	wait "$p1"
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in
		"PASS "*) pass=$((pass + 1)) ;;
		"FAIL "*) fail=$((fail + 1)); t=${line#FAIL }; failed_names+=("${t%%:*}") ;;
		esac
	done < <(cat build-fuzz/run-1.out build-fuzz/run-2.out)
	note "fuzz targets took $(( $(date +%s) - t0 ))s"
}

# The quick benchmark (make bench QUICK=1): so that it cannot rot, and
# for its check that every strictmail 250 came after its sync.  Its
# figures are printed, never judged: the machine may be busy.
run_bench() {
	local t0 log=build/bench-quick.log
	t0=$(date +%s)
	note "quick benchmark (tests/bench/bench.sh, BENCH_QUICK=1; figures only, no speed is asserted)"
	if [ -n "$pattern" ] && [[ bench != *$pattern* ]]; then
		return
	fi
	if [ "$(id -u)" -ne 0 ]; then
		skip=$((skip + 1))
		echo "SKIP bench/quick: needs root (network namespace)"
		return
	fi
	if BENCH_QUICK=1 bash tests/bench/bench.sh > "$log" 2>&1; then
		pass=$((pass + 1))
		echo "PASS bench/quick ($(( $(date +%s) - t0 ))s)"
		sed -n '/^test  /,/^$/p' "$log"
	else
		fail=$((fail + 1)); failed_names+=("bench/quick")
		echo "FAIL bench/quick: expected the quick benchmark to run and its ordering and full-queue checks to pass, got:"
		tail -n 15 "$log"
	fi
	note "quick benchmark took $(( $(date +%s) - t0 ))s"
}

case $layer in
unit) run_unit ;;
integration) run_integration ;;
fuzz) run_fuzz ;;
bench) run_bench ;;
all) run_unit; run_integration; run_fuzz; run_bench ;;
*) echo "usage: $0 [unit|integration|fuzz|bench|all] [pattern]"; exit 2 ;;
esac

note "total $(( $(date +%s) - t_start ))s"
if [ "$fail" -gt 0 ]; then
	printf 'failed: %s\n' "${failed_names[*]}"
fi
printf '%d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
