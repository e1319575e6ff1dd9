#!/bin/bash
# t-28-shutdown-stuck: the parent exits even when a child can be neither
# reaped nor signalled.
#
# 1. smtpd is frozen in a cgroup (v1 freezer): like a process stuck in the
#    kernel on a hung disk (state D), it ignores SIGTERM and SIGKILL stays
#    pending.  After shutdown-timeout (2 s) the parent kills what is left,
#    waits 5 s at most for them to be reaped, logs "smtpd (pid N) still
#    there 5000 ms after SIGKILL: going on without it" and exits 1, while
#    queue, lookup, control and delivery are killed and reaped.  Thawed,
#    smtpd dies of the pending SIGKILL.
# 2. kill() fails with EPERM in the parent (a preload, killfail.c, in the
#    plain build): every signal to a child fails and is logged; at the
#    shutdown timeout each child is reported as "cannot be killed: going on
#    without it" at once (no 5 s wait for what was never signalled), the
#    parent exits 1, and the children die with it (parent-death signal).
. "$(dirname "$0")/lib.sh"
t_init

cg=
thaw() {
	[ -n "$cg" ] && [ -d "$cg" ] || return 0
	echo THAWED > "$cg/freezer.state" 2>/dev/null
	sleep 0.2
	rmdir "$cg" 2>/dev/null
}
# The frozen process must be thawed before the usual cleanup kills.
trap 'thaw; t_cleanup 2>/dev/null' EXIT
trap 'thaw; t_cleanup 2>/dev/null; exit 130' INT
trap 'thaw; t_cleanup 2>/dev/null; exit 143' TERM

# ---- 1. a child that cannot be reaped
if [ -d /sys/fs/cgroup/freezer ] && [ -w /sys/fs/cgroup/freezer ]; then
	spool=$T_DIR/spool1
	conf=$T_DIR/strictmail1.conf
	log=$T_DIR/daemon1.log
	sm_config "$conf" "$spool" "shutdown-timeout 2s"
	sm_start_ready "$conf" "$log"
	children=$(sm_children "$SM_PID")
	s=$(sm_child "$SM_PID" smtpd)
	[ -n "$s" ] || t_fail "an smtpd child" "$children"
	cg=/sys/fs/cgroup/freezer/sm-$T_NAME-$$
	mkdir "$cg" && echo "$s" > "$cg/tasks" && echo FROZEN > "$cg/freezer.state" ||
	    t_fail "smtpd frozen in a freezer cgroup" "an error"
	for i in $(seq 1 50); do
		[ "$(cat "$cg/freezer.state")" = FROZEN ] && break
		sleep 0.1
	done
	[ "$(cat "$cg/freezer.state")" = FROZEN ] || t_fail "the cgroup FROZEN" "$(cat "$cg/freezer.state")"
	say "smtpd (pid $s) frozen; SIGTERM to $SM_PID"
	kill -TERM "$SM_PID"
	sm_wait_exit "$SM_PID" 30 ||
	    t_fail "parent exit within 30 s of SIGTERM with smtpd unkillable" "still running"
	say "parent exited $SM_RC after $SM_WAITED_MS ms"
	[ "$SM_RC" = 1 ] || t_fail "exit status 1" "$SM_RC"
	[ "$SM_WAITED_MS" -ge 6500 ] && [ "$SM_WAITED_MS" -lt 15000 ] ||
	    t_fail "an exit after the 2 s timeout and the 5 s reap wait (7 s)" "$SM_WAITED_MS ms"
	grep -Eq "strictmaild\[$SM_PID\]: shutdown timeout \(2 s\): killing smtpd \(pid $s\)" "$log" ||
	    t_fail "'shutdown timeout (2 s): killing smtpd (pid $s)'" "$(grep -m 3 -E 'timeout|kill' "$log" | tr '\n' '|')"
	grep -Eq "strictmaild\[$SM_PID\]: smtpd \(pid $s\) still there 5000 ms after SIGKILL: going on without it" "$log" ||
	    t_fail "'smtpd (pid $s) still there 5000 ms after SIGKILL: going on without it'" \
		"$(grep -m 3 -E 'still|kill' "$log" | tr '\n' '|')"
	grep -Eq "strictmaild\[$SM_PID\]: shutdown complete in [0-9]+ ms, 1 processes left behind" "$log" ||
	    t_fail "'shutdown complete in N ms, 1 processes left behind'" "$(grep -m 2 'shutdown complete' "$log")"
	# Reaped: killed, or gone on its own in the moment between the kill
	# of another child and its own (control exits when the queue's
	# channel closes, and the queue is killed first).
	for w in queue lookup control delivery; do
		grep -Eq "strictmaild\[$SM_PID\]: child $w \(pid [0-9]+\) (killed by signal 9|exited with status 0)" "$log" ||
		    t_fail "'child $w (pid N) killed by signal 9' (or exited)" "$(grep -m 3 "$w" "$log" | tr '\n' '|')"
	done
	st=$(awk '/^State:/ { print $2 }' "/proc/$s/status" 2>/dev/null)
	[ "$st" = D ] || t_fail "smtpd still there, stuck (state D), when the parent has gone" "state '$st'"
	thaw
	cg=
	for i in $(seq 1 50); do pid_alive "$s" || break; sleep 0.1; done
	pid_alive "$s" && t_fail "smtpd dead of its pending SIGKILL once thawed" "alive"
	for c in $(echo "$children" | awk '{ print $1 }'); do
		pid_alive "$c" && t_fail "child $c gone" "alive"
	done
	say "1: parent went on without the stuck smtpd; thawed, it died"
	T_PIDS=
else
	say "1: no writable cgroup v1 freezer: the unreapable child is not tested"
fi

# ---- 2. children that cannot be signalled
PLAIN=$SM_TOP/build/strictmaild
[ -x "$PLAIN" ] || t_fail "the plain build $PLAIN for the preload (make all)" "no such executable"
command -v cc >/dev/null || t_fail "a C compiler (cc) to build killfail.so" "none"
cc -shared -fPIC -O1 -o "$T_DIR/killfail.so" "$T_LIB/killfail.c" -ldl > "$T_DIR/cc.log" 2>&1 ||
    t_fail "killfail.c to build" "$(head -n 5 "$T_DIR/cc.log" | tr '\n' '|')"
chmod 0755 "$T_DIR/killfail.so"
spool=$T_DIR/spool2
conf=$T_DIR/strictmail2.conf
log=$T_DIR/daemon2.log
sm_config "$conf" "$spool" "shutdown-timeout 2s"
SM_BIN=$PLAIN sm_start "$conf" "$log" env LD_PRELOAD="$T_DIR/killfail.so"
sm_wait_ready "$log" "$SM_PID" 30 || t_fail "the plain build with killfail.so ready" "$(tail -n 3 "$log" | tr '\n' '|')"
children=$(sm_children "$SM_PID")
[ "$(echo "$children" | grep -c .)" = 5 ] || t_fail "five children" "$children"
kill -TERM "$SM_PID"
sm_wait_exit "$SM_PID" 30 ||
    t_fail "parent exit within 30 s of SIGTERM when no child can be signalled" "still running"
say "parent exited $SM_RC after $SM_WAITED_MS ms"
[ "$SM_RC" = 1 ] || t_fail "exit status 1" "$SM_RC"
[ "$SM_WAITED_MS" -ge 1900 ] && [ "$SM_WAITED_MS" -lt 5000 ] ||
    t_fail "an exit right after the 2 s timeout (no reap wait for unsignalled children)" "$SM_WAITED_MS ms"
grep -Eq "signal 15 to smtpd \(pid [0-9]+\): Operation not permitted" "$log" ||
    t_fail "the failed SIGTERM to smtpd logged" "$(grep -m 3 signal "$log" | tr '\n' '|')"
for w in smtpd queue lookup control delivery; do
	grep -Eq "strictmaild\[$SM_PID\]: $w \(pid [0-9]+\) cannot be killed: going on without it" "$log" ||
	    t_fail "'$w (pid N) cannot be killed: going on without it'" "$(grep -m 5 -E 'kill|signal' "$log" | tr '\n' '|')"
done
grep -Eq "strictmaild\[$SM_PID\]: shutdown complete in [0-9]+ ms, 5 processes left behind" "$log" ||
    t_fail "'shutdown complete in N ms, 5 processes left behind'" "$(grep -m 2 'shutdown complete' "$log")"
for c in $(echo "$children" | awk '{ print $1 }'); do
	for i in $(seq 1 50); do pid_alive "$c" || break; sleep 0.1; done
	pid_alive "$c" && t_fail "child $c gone with its parent (parent-death signal)" "alive"
done
say "2: parent exited without signalling its children; they died with it"
t_pass
