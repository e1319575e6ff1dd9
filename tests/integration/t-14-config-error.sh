#!/bin/bash
# t-14-config-error: a configuration with a mistake on line 4 is refused by
# "strictmaild -n" and by a real start, both with exit status 78 and
# "<file>:4:" on stderr, and nothing listens; a good configuration passes
# "strictmaild -n" with "<file>: configuration OK".
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
bad=$T_DIR/bad.conf
good=$T_DIR/good.conf
cat > "$bad" <<EOF
hostname mx.test
spool $spool
listen 127.0.0.1 25 smtp
max-recipients ten
min-free-space 0
EOF
sm_config "$good" "$spool"

# 1. -n on the bad file.
err=$T_DIR/n.err
ip netns exec "$T_NS" timeout 30 "$SM_BIN" -n $(sm_mode_flag) -f "$bad" >"$T_DIR/n.out" 2>"$err"
rc=$?
say "strictmaild -n $bad: exit $rc, stderr: $(head -n 3 "$err" | tr '\n' '|')"
[ "$rc" = 78 ] || t_fail "exit 78 from -n on a bad configuration" "$rc"
grep -q -F "$bad:4: " "$err" || t_fail "'$bad:4: <what>' on stderr" "$(head -n 3 "$err")"

# 2. A real start with the bad file: exit 78 within 30 s, nothing listens.
err=$T_DIR/start.err
ip netns exec "$T_NS" setsid "$SM_BIN" -d $(sm_mode_flag) -f "$bad" >"$T_DIR/start.out" 2>"$err" </dev/null &
pid=$!
T_PIDS="$T_PIDS $pid"
listening=no
for i in $(seq 1 300); do
	sm_listening 25 && listening=yes
	pid_alive "$pid" || break
	sleep 0.1
done
sm_wait_exit "$pid" 1 || t_fail "a start with a bad configuration to exit within 30 s" "still running"
say "strictmaild -d $bad: exit $SM_RC, stderr: $(grep -F "$bad" "$err" | head -n 2 | tr '\n' '|')"
[ "$SM_RC" = 78 ] || t_fail "exit 78 from a start with a bad configuration" "$SM_RC"
grep -q -F "$bad:4: " "$err" || t_fail "'$bad:4: <what>' on stderr of the start" "$(head -n 3 "$err")"
if [ "$listening" = yes ] || sm_listening 25; then
	t_fail "nothing listening on port 25" "a listener"
fi
sm_reap_group "$pid" || t_fail "no process left from the refused start" "$(pgrp_members "$pid")"
say "refused with line 4, nothing listening, no process left"

# 3. -n on the good file.
out=$(ip netns exec "$T_NS" timeout 30 "$SM_BIN" -n $(sm_mode_flag) -f "$good" 2>&1)
rc=$?
say "strictmaild -n $good: exit $rc: $out"
[ "$rc" = 0 ] || t_fail "exit 0 from -n on a good configuration" "$rc"
printf '%s\n' "$out" | grep -q -x -F "$good: configuration OK" ||
    t_fail "'$good: configuration OK'" "$out"
sm_listening 25 && t_fail "nothing listening after -n" "a listener"
t_pass
