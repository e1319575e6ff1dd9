#!/bin/bash
# t-19-fd-limit: the descriptor limit at start.  With a hard limit of 150,
# max-sessions 200 (needs 200 * 1 + 16 = 216) is refused by -n and by a
# start, both exit 78 with the formula in the message; with soft 100 and
# hard 2000, a start raises the soft limit to 2000, logs it, and every
# child has 2000 too.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
sm_config "$conf" "$spool" "max-sessions 200"
want="max-sessions 200 needs 216 descriptors (1 per session + 16), but the descriptor limit (RLIMIT_NOFILE) is 150"

err=$T_DIR/check.err
(ulimit -n 150 && exec "$SM_BIN" -n -f "$conf") >/dev/null 2>"$err"
rc=$?
[ "$rc" = 78 ] || t_fail "exit 78 from -n with a hard limit of 150" "$rc: $(cat "$err")"
grep -q -F "$want" "$err" || t_fail "'$want' from -n" "$(cat "$err")"
say "-n refused: $(head -n 1 "$err")"

log=$T_DIR/refused.log
sm_start "$conf" "$log" prlimit --nofile=150:150 --
sm_wait_exit "$SM_PID" 30 || t_fail "a start with a hard limit of 150 to exit" "still running"
[ "$SM_RC" = 78 ] || t_fail "exit 78 from a start with a hard limit of 150" "$SM_RC: $(tail -n 2 "$log" | tr '\n' '|')"
grep -q -F "$want" "$log" || t_fail "'$want' in the log" "$(tail -n 2 "$log" | tr '\n' '|')"
[ ! -e "$spool" ] || t_fail "no spool made by the refused start" "$(ls -A "$spool" | tr '\n' ' ')"
say "start refused, exit 78"

log=$T_DIR/daemon.log
sm_start "$conf" "$log" prlimit --nofile=100:2000 --
sm_wait_ready "$log" "$SM_PID" 30 || t_fail "strictmaild ready with soft 100, hard 2000" "$(tail -n 3 "$log" | tr '\n' '|')"
grep -q -F "descriptor limit raised from 100 to 2000; max-sessions 200 needs 216" "$log" ||
    t_fail "the raised limit in the log" "$(grep -m 1 'descriptor limit' "$log")"
for c in $SM_PID $(cat /proc/"$SM_PID"/task/*/children); do
	lim=$(awk '/^Max open files/ { print $4, $5 }' "/proc/$c/limits")
	[ "$lim" = "2000 2000" ] || t_fail "soft and hard limit 2000 in process $c" "$lim"
done
say "soft limit raised to 2000 in the parent and every child"
sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
