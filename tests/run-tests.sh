#!/usr/bin/env bash
# Runs strictmail's tests: builds (plain and sanitizer), then the unit
# tests (cmocka, with leak detection) and the integration tests, each of
# the latter twice: unprivileged (-u, leak detection on) and
# privilege-separated (as root, detect_leaks=0: LeakSanitizer cannot work
# after chroot and setuid).  Prints the time each layer took and one
# closing line "N passed, N failed, N skipped".  The unit layer also runs
# tests/check-rules.sh (every MTA-STS rule cited by a test).
# The fuzz layer runs each libFuzzer target for 3 seconds (FUZZ_SECONDS; "make fuzz" runs longer).
#   tests/run-tests.sh [unit|integration|fuzz] [TEST-NAME-PATTERN]
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
	for b in build-asan/tests/unit/test_*; do
		[ -x "$b" ] || continue
		name=$(basename "$b")
		[ -n "$pattern" ] && [[ $name != *$pattern* ]] && continue
		if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 timeout 300 "$b" > "build-asan/$name.log" 2>&1; then
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

run_one_integration() {	# script mode
	local s=$1 priv=$2 name rc log t0
	name="$(basename "$s" .sh)/$( [ "$priv" = 1 ] && echo priv || echo unpriv )"
	log="build-asan/integration-$(basename "$s" .sh)-$priv.log"
	t0=$(date +%s)
	if [ "$priv" = 1 ]; then asan=detect_leaks=0; else asan=detect_leaks=1; fi
	SM_BIN="$top/build-asan/strictmaild" SM_TOP="$top" SM_PRIV=$priv \
	    ASAN_OPTIONS="$asan:abort_on_error=0" \
	    timeout -k 10 900 bash "$s" > "$log" 2>&1
	rc=$?
	case $rc in
	0)  pass=$((pass + 1)); printf 'PASS %s (%ss)\n' "$name" "$(( $(date +%s) - t0 ))" ;;
	77) skip=$((skip + 1)); printf 'SKIP %s: %s\n' "$name" "$(grep -m1 -i 'skip' "$log")" ;;
	*)  fail=$((fail + 1)); failed_names+=("$name")
	    printf 'FAIL %s (exit %s, %ss)\n' "$name" "$rc" "$(( $(date +%s) - t0 ))"
	    sed 's/^/    /' "$log" | tail -60 ;;
	esac
}

run_integration() {
	local t0 s
	t0=$(date +%s)
	note "integration tests (ASan+UBSan build; each test in its own network namespace)"
	if [ "$(id -u)" -ne 0 ]; then
		echo "integration tests need root (network namespaces, system users): skipped"
		skip=$((skip + 1))
		return
	fi
	for s in tests/integration/t-*.sh; do
		[ -f "$s" ] || continue
		[ -n "$pattern" ] && [[ $s != *$pattern* ]] && continue
		run_one_integration "$s" 0
		run_one_integration "$s" 1
	done
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
	    fuzz_sts_record fuzz_aliases; do
		[ -n "$pattern" ] && [[ $t != *$pattern* ]] && continue
		targets+=("$t")
	done
	[ "${#targets[@]}" -gt 0 ] || return
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in
		"PASS "*) pass=$((pass + 1)) ;;
		"FAIL "*) fail=$((fail + 1)); t=${line#FAIL }; failed_names+=("${t%%:*}") ;;
		esac
	done < <(bash tests/fuzz/run.sh "${FUZZ_SECONDS:-3}" "${targets[@]}" 2>&1)
	note "fuzz targets took $(( $(date +%s) - t0 ))s"
}

case $layer in
unit) run_unit ;;
integration) run_integration ;;
fuzz) run_fuzz ;;
all) run_unit; run_integration; run_fuzz ;;
*) echo "usage: $0 [unit|integration|fuzz|all] [pattern]"; exit 2 ;;
esac

note "total $(( $(date +%s) - t_start ))s"
if [ "$fail" -gt 0 ]; then
	printf 'failed: %s\n' "${failed_names[*]}"
fi
printf '%d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
