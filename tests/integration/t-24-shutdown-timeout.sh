#!/bin/bash
# t-24-shutdown-timeout: the parent never hangs on a child.  smtpd is
# stopped (SIGSTOP: it cannot answer the SIGTERM), then the parent gets
# SIGTERM: after shutdown-timeout (2 s) it kills what is left with
# SIGKILL, logs each kill, and exits 1; no child is left.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "shutdown-timeout 2s"
sm_start_ready "$conf" "$log"
children=$(sm_children "$SM_PID")
s=$(sm_child "$SM_PID" smtpd)
[ -n "$s" ] || t_fail "an smtpd child" "$children"
kill -STOP "$s"
say "smtpd (pid $s) stopped; SIGTERM to $SM_PID"
kill -TERM "$SM_PID"
sm_wait_exit "$SM_PID" 20 || t_fail "parent exit within 20 s of SIGTERM with smtpd stopped" "still running"
say "parent exited $SM_RC after $SM_WAITED_MS ms"
[ "$SM_RC" = 1 ] || t_fail "exit status 1 after the shutdown timeout" "$SM_RC"
[ "$SM_WAITED_MS" -ge 1900 ] || t_fail "the shutdown timeout (2 s) waited for" "$SM_WAITED_MS ms"
grep -Eq "strictmaild\[$SM_PID\]: shutdown timeout \(2 s\): killing smtpd \(pid $s\)" "$log" ||
    t_fail "'shutdown timeout (2 s): killing smtpd (pid $s)' in the log" "$(grep -m 3 -E 'timeout|killed' "$log" | tr '\n' '|')"
grep -Eq "child smtpd \(pid $s\) killed by signal 9" "$log" ||
    t_fail "'child smtpd (pid $s) killed by signal 9' in the log" "$(grep -m 3 -E 'killed' "$log" | tr '\n' '|')"
for c in $(echo "$children" | awk '{ print $1 }'); do
	for i in $(seq 1 50); do pid_alive "$c" || break; sleep 0.1; done
	pid_alive "$c" && t_fail "child $c gone" "alive"
done
say "every child killed and reaped, parent exited 1"
t_pass
