#!/bin/bash
# t-21-noloss: concurrent clients send a few hundred messages with unique
# bodies while strictmaild is killed with SIGKILL at random moments: the
# whole process group in at least 20 rounds (8 in the unprivileged run),
# only the queue or the smtpd child in others.  After each restart every
# acknowledged message is in the spool with its body intact, every envelope is a message a client sent in
# full, incoming/ is empty and corrupt/ too.  The driver is noloss.py.
# serial: load (clients at full speed, SIGKILL rounds within a time budget):
# beside another test it gets fewer rounds and slows that test down
. "$(dirname "$0")/lib.sh"
t_init

# The shipped mode (privilege-separated) gets every round; the unprivileged
# run, the same commit path and recovery under another process layout,
# a third of them.
if [ "$SM_PRIV" = 1 ]; then
	GROUP_ROUNDS=${T21_GROUP_ROUNDS:-22}
	CHILD_ROUNDS=${T21_CHILD_ROUNDS:-8}
else
	GROUP_ROUNDS=${T21_GROUP_ROUNDS:-8}
	CHILD_ROUNDS=${T21_CHILD_ROUNDS:-4}
fi
SEED=${T21_SEED:-$(( $(date +%s) % 100000 ))}
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
sm_config "$conf" "$spool" "shutdown-timeout 5s"
T_PIDFILES="$T_DIR/daemon.pid"

say "seed $SEED (set T21_SEED to repeat a run)"
sm_py_fg "$T_LIB/noloss.py" "$SM_BIN" "$conf" "$spool" "$T_DIR" "$SM_PRIV" \
    "$GROUP_ROUNDS" "$CHILD_ROUNDS" "$SEED" || {
	T_LOGS=$(ls -t "$T_DIR"/round-*.log 2>/dev/null | head -n 1)
	t_fail_py
}
t_pass
