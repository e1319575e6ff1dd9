#!/bin/bash
# t-15-run-switch: "make run" as root (privilege-separated) and
# "make run RUNFLAGS=-u" share ./run; switching between them works in
# both directions (etc/run-local.sh gives the spool the owners of each
# mode), every start takes a message and keeps those queued before; a
# normal user who finds root's files in ./run is told the command that
# gives them back, instead of a failure inside strictmaild.
. "$(dirname "$0")/lib.sh"
t_init
[ "$SM_PRIV" = 1 ] || t_skip "switching from the privilege-separated mode needs SM_PRIV=1"
t_need openssl runuser
sm_users

work=$T_DIR/work	# make run's folder: ./run below the current directory
mkdir -p "$work"
n=0
# run_mode FLAGS EXPECTED-QUEUED: one make run, one message, stop.
run_mode() {
	local flags=$1 queued=$2 log out
	n=$((n + 1))
	log=$T_DIR/run$n.log
	# shellcheck disable=SC2086
	(cd "$work" && exec ip netns exec "$T_NS" setsid sh "$SM_TOP/etc/run-local.sh" \
	    "$SM_BIN" $flags >"$log" 2>&1 </dev/null) &
	SM_PID=$!
	T_PIDS="$T_PIDS $SM_PID"
	T_LOGS="$T_LOGS $log"
	sm_wait_ready "$log" "$SM_PID" 60 ||
	    t_fail "run $n (${flags:-privilege-separated}) ready" "$(tail -n 3 "$log")"
	grep -q "recovery: $queued messages in queue" "$log" ||
	    t_fail "run $n finds the $queued messages queued before" \
		"$(grep -o 'recovery:.*' "$log")"
	sm_body "switch-$n" 1500 > "$T_DIR/body$n"
	out=$(sm_py "$T_LIB/smtest.py" send 127.0.0.1 2525 sender@example.org \
	    root@localhost "$T_DIR/body$n" 2>&1) ||
	    t_fail "run $n (${flags:-privilege-separated}) takes a message" "$out"
	sm_stop "$SM_PID" || t_fail "run $n stops on SIGTERM" "still running"
	say "run $n (${flags:-privilege-separated}): ready, ${out%% *} queued"
}

run_mode "" 0
[ "$(stat -c %U "$work/run/spool/queue")" = _sm-queue ] ||
    t_fail "run/spool/queue is _sm-queue's after a privilege-separated run" \
	"$(stat -c %U "$work/run/spool/queue")"
run_mode "-u" 1
run_mode "" 2
run_mode "-u" 3

# A normal user after root: a message naming the fix, exit 1.
chmod 0755 "$T_DIR"
out=$(cd "$work" && runuser -u nobody -- sh "$SM_TOP/etc/run-local.sh" "$SM_BIN" 2>&1)
rc=$?
[ "$rc" = 1 ] && [[ $out == *"sudo chown -R nobody: $work/run"* ]] ||
    t_fail "a normal user told to run 'sudo chown -R nobody: $work/run'" "exit $rc: $out"
say "normal user after root: $(printf '%s' "$out" | tail -n 1 | sed 's/^ *//')"
t_pass
