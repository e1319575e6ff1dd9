#!/bin/bash
# t-17-spool-lock: one strictmaild per spool.  A first instance runs with a
# session held in the middle of DATA (its message is in incoming/); a
# second one started on the same spool (another port) must exit 75 at
# once, naming the spool and the first one's PID, listen nowhere and touch
# nothing: the held message stays in incoming/, the lock file keeps the
# first one's PID, and the held message then gets its 250 and is intact.
# Once the first has stopped, the second starts on that spool.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
conf2=$T_DIR/second.conf
log=$T_DIR/daemon.log
log2=$T_DIR/second.log
sm_config "$conf" "$spool"
sm_config "$conf2" "$spool" "listen 127.0.0.1 26 smtp"
sm_start_ready "$conf" "$log"
first=$SM_PID
say "first strictmaild running, pid $first"

# A session held in DATA: half the message sent, then it waits for "go".
held=$T_DIR/held
sm_py - "$held" <<'EOF' &
import os, sys, time
from smtest import Raw, make_body, stuff

d = sys.argv[1]
body = make_body('t17-held', 20000)
with open(d + '.body', 'wb') as f:
    f.write(body)
data = stuff(body)
c = Raw('127.0.0.1', 25, timeout=60)
c.reply()
c.cmd('EHLO held.test')
c.cmd('MAIL FROM:<held@example.org>')
c.cmd('RCPT TO:<root@localhost>')
code, _ = c.cmd('DATA')
c.send(data[:len(data) // 2])
with open(d + '.ready', 'w') as f:
    f.write('%s\n' % code)
while not os.path.exists(d + '.go'):
    time.sleep(0.05)
c.send(data[len(data) // 2:] + b'.\r\n')
code, lines = c.reply(timeout=60)
with open(d + '.result', 'w') as f:
    f.write('%s\n' % (lines[-1] if lines else 'EOF'))
c.cmd('QUIT')
EOF
T_HELPERS="$T_HELPERS $!"
for i in $(seq 1 300); do
	[ -s "$held.ready" ] && break
	sleep 0.1
done
[ "$(cat "$held.ready" 2>/dev/null)" = 354 ] || t_fail "a session held in DATA (354)" "$(cat "$held.ready" 2>/dev/null)"
# Its content file is in incoming/ once the first half has arrived.
for i in $(seq 1 100); do
	[ -n "$(ls -A "$spool/incoming")" ] && break
	sleep 0.1
done
before=$(cd "$spool" && find . -printf '%p %i %s\n' | sort)
incoming=$(ls -A "$spool/incoming")
[ -n "$incoming" ] || t_fail "the held message in incoming/" "incoming/ empty"
[ "$(cat "$spool/lock")" = "$first" ] || t_fail "the first one's PID in $spool/lock" "$(cat "$spool/lock")"
say "held message in incoming/: $(echo "$incoming" | tr '\n' ' ')"

# The second instance on the same spool.
sm_start "$conf2" "$log2"
second=$SM_PID
sm_wait_exit "$second" 30 || t_fail "the second strictmaild to exit within 30 s" "still running"
say "second strictmaild exited $SM_RC: $(head -n 3 "$log2" | tr '\n' '|')"
[ "$SM_RC" = 75 ] || t_fail "exit status 75 (EX_TEMPFAIL) from the second strictmaild" "$SM_RC"
grep -q -F "spool $spool is in use by another strictmaild (pid $first holds $spool/lock): not started" "$log2" ||
    t_fail "a message naming the spool and pid $first" "$(head -n 3 "$log2" | tr '\n' '|')"
! grep -Eq 'recovery|ready|listening' "$log2" ||
    t_fail "no recovery, no start in the second one's log" "$(grep -E 'recovery|ready' "$log2" | head -n 2)"
sm_listening 26 && t_fail "nothing listening on port 26" "a listener"
after=$(cd "$spool" && find . -printf '%p %i %s\n' | sort)
[ "$before" = "$after" ] ||
    t_fail "the spool untouched by the second strictmaild" "$(diff <(echo "$before") <(echo "$after") | head -n 5 | tr '\n' '|')"
[ "$(cat "$spool/lock")" = "$first" ] || t_fail "the lock file still naming $first" "$(cat "$spool/lock")"
pid_alive "$first" || t_fail "the first strictmaild still running" "gone"
say "second refused, spool untouched"

# The first still serves: the held message completes, and a new one.
touch "$held.go"
for i in $(seq 1 300); do
	[ -s "$held.result" ] && break
	sleep 0.1
done
res=$(cat "$held.result" 2>/dev/null)
qid=$(printf '%s\n' "$res" | sed -n 's/^250 2\.0\.0 Ok: queued as \([0-9A-F]\{16\}\)$/\1/p')
[ -n "$qid" ] || t_fail "250 for the held message" "${res:-no reply}"
errs=$(sm_check "$spool" "$qid" "$held.body")
[ -z "$errs" ] || t_fail "the held message $qid intact" "$errs"
sm_body "t17-after-$$" 3000 > "$T_DIR/body"
out=$(sm_send sender@example.org root@localhost "$T_DIR/body")
case "$out" in "250 "*) ;; *) t_fail "250 from the first after the refused start" "$out" ;; esac
say "first still serves: held message $qid intact, then ${out#250 }"

sm_stop "$first" 30 || t_fail "the first to stop within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 of the first" "$SM_RC"

# The lock goes with the process: now the second one starts.
: > "$log2"
sm_start "$conf2" "$log2"
sm_wait_ready "$log2" "$SM_PID" 30 ||
    t_fail "the second strictmaild ready once the first has stopped" "$(tail -n 3 "$log2" | tr '\n' '|')"
grep -Eq 'recovery: 2 messages in queue' "$log2" ||
    t_fail "the second one to recover both messages" "$(grep -o 'recovery: .*' "$log2")"
[ "$(cat "$spool/lock")" = "$SM_PID" ] || t_fail "the lock file naming $SM_PID" "$(cat "$spool/lock")"
sm_stop "$SM_PID" 30 || t_fail "the second to stop within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 of the second" "$SM_RC"
t_pass
