#!/bin/bash
# t-12-sigterm: SIGTERM with one client after MAIL and one in the middle of
# DATA: both get "421 4.3.2", the parent exits 0 within 30 s (the time is
# printed), every child is gone, incoming/ is empty, and a restart finds
# exactly the messages that were committed before.
#
# Then SIGTERM while a commit is in flight: the plain build runs with
# failsync.c preloaded to make every syncfs, fsync and fdatasync of the
# queue take 3 s (a slow disk; whichever the commit path calls), a client
# sends its final dot, and SIGTERM comes 1 s later.  The receiver must
# say it waits for that commit; the client gets the queue's answer, then
# "421 4.3.2": "250" with the message intact in the spool after a
# restart, or a 4xx with the message nowhere in it; never a 421 first.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

# Three committed messages.
qids=""
for i in 1 2 3; do
	sm_body "t12-$i-$$" $((i * 4000)) > "$T_DIR/body$i"
	out=$(sm_send sender@example.org root@localhost "$T_DIR/body$i")
	case "$out" in
	"250 "*) q=${out#250 }; qids="$qids $q"; echo "$q $T_DIR/body$i" >> "$T_DIR/committed" ;;
	*) t_fail "250 for message $i" "$out" ;;
	esac
done
say "committed before shutdown:$qids"

# Two clients: A stops after MAIL, B in the middle of DATA.
ready=$T_DIR/clients.ready
result=$T_DIR/clients.result
sm_py - "$ready" "$result" <<'EOF' &
import select, sys, time
from smtest import Raw, make_body, stuff

ready, result = sys.argv[1], sys.argv[2]
out = []
a = Raw('127.0.0.1', 25, timeout=30)
a.reply()
a.cmd('EHLO a.test')
ca, _ = a.cmd('MAIL FROM:<a@example.org>')
b = Raw('127.0.0.1', 25, timeout=30)
b.reply()
b.cmd('EHLO b.test')
b.cmd('MAIL FROM:<b@example.org>')
b.cmd('RCPT TO:<root@localhost>')
cb, _ = b.cmd('DATA')
body = make_body('t12-unfinished', 20000)
data = stuff(body)  # dot-stuffed, as on the wire
b.send(data[:len(data) // 2])
with open(ready, 'w') as f:
    f.write('A MAIL %s, B DATA %s\n' % (ca, cb))

def wait_reply(c, name):
    try:
        code, lines = c.reply(timeout=40)
    except OSError as e:
        return '%s: error %s' % (name, e)
    if code is None:
        return '%s: EOF' % name
    return '%s: %s' % (name, lines[-1])

out = [wait_reply(a, 'A'), wait_reply(b, 'B')]
with open(result, 'w') as f:
    f.write('\n'.join(out) + '\n')
EOF
T_HELPERS="$T_HELPERS $!"
cpid=$!

for i in $(seq 1 300); do
	[ -s "$ready" ] && break
	pid_alive "$cpid" || break
	sleep 0.1
done
[ -s "$ready" ] || t_fail "both clients in their sessions" "no ready file"
grep -q 'A MAIL 250, B DATA 354' "$ready" ||
    t_fail "A after MAIL (250) and B in DATA (354)" "$(cat "$ready")"
say "clients: $(cat "$ready")"

children=$(sm_children "$SM_PID")
children_line=$(printf '%s\n' "$children" | tr '\n' ' ')
say "children: $children_line"
[ "$(printf '%s\n' "$children" | grep -c .)" -ge 5 ] ||
    t_fail "five children (smtpd, queue, lookup, control, delivery)" "$children_line"

say "SIGTERM to $SM_PID"
kill -TERM "$SM_PID"
sm_wait_exit "$SM_PID" 30 || t_fail "parent exit within 30 s of SIGTERM" "still running after 30 s"
say "parent exited with status $SM_RC after $SM_WAITED_MS ms"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
grep -Eq 'strictmail/strictmaild\[[0-9]+\]: shutdown complete in [0-9]+ ms' "$log" ||
    t_fail "'shutdown complete in N ms' in the log" "$(grep -i shutdown "$log" | tail -n 2)"
say "log: $(grep -Eo 'shutdown complete in [0-9]+ ms' "$log" | tail -n 1)"
sm_reap_group "$SM_PID" || t_fail "every child gone after the parent exited" \
    "$children_line still there after 10 s"
for c in $(echo "$children" | awk '{ print $1 }'); do
	pid_alive "$c" && t_fail "child $c gone" "alive"
done
say "all children gone"

for i in $(seq 1 450); do
	pid_alive "$cpid" || break
	sleep 0.1
done
wait "$cpid" 2>/dev/null
[ -s "$result" ] || t_fail "the clients' replies" "nothing"
say "client replies: $(tr '\n' '|' < "$result")"
grep -Eq '^A: 421 4\.3\.2 ' "$result" || t_fail "421 4.3.2 for client A (after MAIL)" "$(grep '^A' "$result")"
grep -Eq '^B: 421 4\.3\.2 ' "$result" || t_fail "421 4.3.2 for client B (in DATA)" "$(grep '^B' "$result")"

leftover=$(ls -A "$spool/incoming")
[ -z "$leftover" ] || t_fail "incoming/ empty after shutdown" "$leftover"
say "incoming/ is empty"

# Restart: the same three messages, and nothing else.
log2=$T_DIR/daemon2.log
sm_start_ready "$conf" "$log2"
say "restarted, pid $SM_PID: $(grep -Eo 'recovery: .*' "$log2" | head -n 1)"
grep -Eq 'strictmail/queue\[[0-9]+\]: recovery: 3 messages in queue' "$log2" ||
    t_fail "'recovery: 3 messages in queue' in the log" "$(grep -Eo 'recovery: .*' "$log2")"
while read -r q f; do
	errs=$(sm_check "$spool" "$q" "$f" root@localhost)
	[ -z "$errs" ] || t_fail "$q intact after the restart" "$errs"
done < "$T_DIR/committed"
n=$(ls "$spool"/queue/*/*.env 2>/dev/null | wc -l)
[ "$n" = 3 ] || t_fail "exactly 3 envelopes in queue/" "$n"
say "the 3 committed messages are intact after the restart"

sm_stop "$SM_PID" 30 || t_fail "exit after the second SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after the second SIGTERM" "$SM_RC"

# ---- SIGTERM while a commit is in flight ----
t_failsync
conf3=$T_DIR/strictmail3.conf
log3=$T_DIR/daemon3.log
sm_config "$conf3" "$spool" "shutdown-timeout 30s"
SM_BIN_CHECKED=$SM_BIN
SM_BIN=$PLAIN
sm_start "$conf3" "$log3" env LD_PRELOAD="$T_DIR/failsync.so" \
    FAILSYNC_FUNCS=syncfs,fsync,fdatasync FAILSYNC_DELAY_MS=3000 FAILSYNC_COMM=sm-queue
SM_BIN=$SM_BIN_CHECKED
sm_wait_ready "$log3" "$SM_PID" 90 ||
    t_fail "strictmaild (plain build, slow syncs) ready within 90 s" \
	"$(pid_alive "$SM_PID" && echo "no ready line" || echo "exit before ready")"
say "slow-sync run, pid $SM_PID"

tag=t12-inflight-$$
sm_body "$tag" 6000 > "$T_DIR/body-inflight"
mark=$T_DIR/inflight.sent
result3=$T_DIR/inflight.result
sm_py - "$mark" "$result3" "$T_DIR/body-inflight" <<'EOF' &
import sys
from smtest import Raw, stuff

mark, result, bodyfile = sys.argv[1:4]
c = Raw('127.0.0.1', 25, timeout=60)
c.reply()
c.cmd('EHLO c.test')
c.cmd('MAIL FROM:<c@example.org>')
c.cmd('RCPT TO:<root@localhost>')
code, _ = c.cmd('DATA')
with open(bodyfile, 'rb') as f:
    c.send(stuff(f.read()))
with open(mark, 'w') as f:
    f.write('DATA %s, final dot sent\n' % code)
out = []
for i in range(3):
    try:
        code, lines = c.reply(timeout=60)
    except OSError as e:
        out.append('error %s' % e)
        break
    if code is None:
        out.append('EOF')
        break
    out.append(lines[-1])
with open(result, 'w') as f:
    f.write('\n'.join(out) + '\n')
EOF
T_HELPERS="$T_HELPERS $!"
cpid=$!
for i in $(seq 1 300); do
	[ -s "$mark" ] && break
	pid_alive "$cpid" || break
	sleep 0.1
done
grep -q 'DATA 354, final dot sent' "$mark" 2>/dev/null ||
    t_fail "the client through DATA (354) to its final dot" "$(cat "$mark" 2>/dev/null)"
sleep 1
say "SIGTERM to $SM_PID, 1 s after the final dot"
kill -TERM "$SM_PID"
sm_wait_exit "$SM_PID" 40 || t_fail "parent exit within 40 s of SIGTERM" "still running after 40 s"
say "parent exited with status $SM_RC after $SM_WAITED_MS ms"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM with a commit in flight" "$SM_RC"
sm_reap_group "$SM_PID" || t_fail "every child gone after the parent exited" "some left"
for i in $(seq 1 300); do
	pid_alive "$cpid" || break
	sleep 0.1
done
wait "$cpid" 2>/dev/null
grep -Eq 'smtpd\[[0-9]+\]: shutdown: waiting up to [0-9]+ ms for 1 commit in flight' "$log3" ||
    t_fail "the receiver waiting for 1 commit in flight at SIGTERM" \
	"$(grep -E 'SIGTERM|shutdown' "$log3" | tr '\n' '|')"
[ -s "$result3" ] || t_fail "the client's replies after the final dot" "nothing"
say "client replies after the final dot: $(tr '\n' '|' < "$result3")"
first=$(sed -n 1p "$result3")
second=$(sed -n 2p "$result3")
log4=$T_DIR/daemon4.log
sm_start_ready "$conf" "$log4"
case $first in
"250 2.0.0 Ok: queued as "*)
	q=${first#250 2.0.0 Ok: queued as }
	case $second in
	"421 4.3.2 "*) ;;
	*) t_fail "421 4.3.2 after the 250" "$second" ;;
	esac
	errs=$(sm_check "$spool" "$q" "$T_DIR/body-inflight" root@localhost)
	[ -z "$errs" ] || t_fail "$q (250 before the shutdown) intact after the restart" "$errs"
	say "250 then 421 4.3.2, and $q is in the spool"
	;;
4[0-9][0-9]" "*)
	case $first in
	421*) t_fail "the queue's answer (250 or 451) before any 421" "$first" ;;
	esac
	hits=$(grep -rl "$tag" "$spool/queue" 2>/dev/null)
	[ -z "$hits" ] || t_fail "no message with $tag in the spool after \"$first\"" "$hits"
	say "\"$first\", and the message is not in the spool"
	;;
*)
	t_fail "250 or a 4xx after the final dot" "$first"
	;;
esac
sm_stop "$SM_PID" 30 || t_fail "exit after the last SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after the last SIGTERM" "$SM_RC"
t_pass
