#!/usr/bin/env bash
# run.sh - runs the fuzz targets built by "make fuzz-bins".
#   tests/fuzz/run.sh SECONDS [TARGET...]      (default: every target)
# For each target: first every reproducer tests/fuzz/crashes/TARGET-*
# (each must run clean now), then libFuzzer for SECONDS from the seed
# corpus tests/fuzz/corpus/TARGET/ (read only) with a working corpus in
# build-fuzz/corpus/TARGET/.  A finding is written to
# build-fuzz/crashes/TARGET-crash-*; copy it to tests/fuzz/crashes/ and
# make a unit test of it.  Prints "PASS fuzz/TARGET" or "FAIL fuzz/TARGET:
# why" per target; exit status 1 if any failed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
secs=${1:?usage: run.sh SECONDS [TARGET...]}
shift
if [ "$#" -gt 0 ]; then
	targets=("$@")
else
	targets=(fuzz_session fuzz_address fuzz_envelope fuzz_config fuzz_ipc fuzz_smtpc_reply fuzz_ctl
	    fuzz_sts_txt fuzz_sts_policy fuzz_sts_record fuzz_aliases fuzz_submit_msg fuzz_maildrop)
fi
fz=build-fuzz
failed=0

max_len() {
	case $1 in
	fuzz_session|fuzz_envelope|fuzz_config|fuzz_sts_policy|fuzz_aliases|fuzz_submit_msg|fuzz_maildrop) echo 8192 ;;
	fuzz_ipc|fuzz_sts_record) echo 4096 ;;
	*) echo 1024 ;;
	esac
}

# dict TARGET: the -dict option for TARGET, if it has a dictionary.
dict() {
	case $1 in
	fuzz_session|fuzz_address) echo -dict=tests/fuzz/smtp.dict ;;
	fuzz_envelope) echo -dict=tests/fuzz/envelope.dict ;;
	fuzz_config) echo -dict=tests/fuzz/config.dict ;;
	fuzz_sts_txt|fuzz_sts_policy) echo -dict=tests/fuzz/sts.dict ;;
	fuzz_aliases) echo -dict=tests/fuzz/aliases.dict ;;
	esac
}

for t in "${targets[@]}"; do
	bin=$fz/$t
	log=$fz/$t.log
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz/$t: expected the binary $bin (make fuzz-bins), got none"
		failed=1
		continue
	fi
	mkdir -p "$fz/corpus/$t" "$fz/crashes"
	repro=()
	for f in tests/fuzz/crashes/"$t"-*; do
		[ -f "$f" ] && repro+=("$f")
	done
	if [ "${#repro[@]}" -gt 0 ] &&
	    ! timeout 300 "$bin" -runs=1 "${repro[@]}" > "$log" 2>&1; then
		echo "FAIL fuzz/$t: expected every reproducer in tests/fuzz/crashes/ to run clean, got a crash:"
		grep -E 'ERROR|Running:|fuzz_|fatal' "$log" | head -n 8 | sed 's/^/    /'
		failed=1
		continue
	fi
	timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
	    $(dict "$t") -print_final_stats=1 \
	    -artifact_prefix="$fz/crashes/$t-" \
	    "$fz/corpus/$t" "tests/fuzz/corpus/$t" > "$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" = 0 ]; then
		echo "PASS fuzz/$t (${secs}s, ${runs:-?} runs, ${#repro[@]} reproducer(s))"
	else
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		echo "FAIL fuzz/$t: expected no finding in ${secs}s, got exit $rc${art:+, input $art}"
		grep -E 'ERROR|SUMMARY|fuzz_|fatal|runtime error' "$log" | head -n 10 | sed 's/^/    /'
		failed=1
	fi
done
exit $failed
