#!/bin/bash
# t-17-request-timeout: timeout-request, with processes made slow from the
# outside, and the refusal log of one session kept short.
#
# Phase 1, a hung user database: in the daemon's own mount namespace (the
# one "ip netns exec" gave it) /etc/passwd is covered by a FIFO that
# nobody writes, so the lookup process hangs in getpwnam_r (asked for
# the user nobody: root is never looked up, it needs an alias) as it would on
# a dead NSS server.  A recipient then gets "451 4.3.0" after the 1 s of
# timeout-request; the next one that needs lookup gets 451 at once (the
# session sends no second request), one that needs none gets 250.  Once
# the FIFO is fed, the late answer is logged as dropped, the session goes
# on, and the recipient and its message are accepted.  A client outside
# relay-network that floods refused recipients is cut off at max-errors
# (421 4.7.0), and its log keeps 5 refusals and one line "5 more refusals
# not logged".
#
# Phase 2, a slow disk: the plain build with failsync.c preloaded makes
# every syncfs, fsync and fdatasync take 3 s.  The final dot gets
# "451 4.3.0" after 1 s; DATA in the next transaction gets 451 at once
# while the commit is still owed; the late commit is logged (the message
# is queued although the client was told 451: a duplicate if it sends it
# again, never a loss), and then DATA gets 354 again.  In both phases the
# daemon survives the late answers and exits 0 on SIGTERM.
. "$(dirname "$0")/lib.sh"
t_init

command -v nsenter >/dev/null || t_fail "nsenter (util-linux) to cover /etc/passwd in the daemon's namespace" "none"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "timeout-request 1s" "error-delay 0" \
    "relay-network 127.0.0.1/32"
sm_start_ready "$conf" "$log"
lpid=$(sm_child "$SM_PID" lookup)
[ -n "$lpid" ] || t_fail "the lookup process among the children" "$(sm_children "$SM_PID" | tr '\n' ' ')"
fifo=$T_DIR/passwd.fifo
mkfifo -m 0644 "$fifo" || t_fail "mkfifo $fifo" "an error"
nsenter -t "$lpid" -m mount --bind "$fifo" /etc/passwd ||
    t_fail "the FIFO bound over /etc/passwd in the daemon's mount namespace" "mount failure"
say "lookup (pid $lpid) now hangs on /etc/passwd"

step=$T_DIR/step
go=$T_DIR/go
res=$T_DIR/phase1.result
sm_py - "$step" "$go" "$res" <<'EOF' &
import os, sys, time
from smtest import Raw, make_body, stuff

step, go, result = sys.argv[1:4]
out = []

def timed(c, line):
    t0 = time.time()
    code, lines = c.cmd(line, timeout=30)
    return '%s -> %s (%.1f s)' % (line.split(':')[0], lines[-1] if lines else 'EOF', time.time() - t0)

c = Raw('127.0.0.1', 25, timeout=30)
c.reply()
c.cmd('EHLO c.test')
c.cmd('MAIL FROM:<c@example.org>')
out.append('hung: ' + timed(c, 'RCPT TO:<nobody@localhost>'))
out.append('again: ' + timed(c, 'RCPT TO:<nobody@localhost>'))
out.append('nolookup: ' + timed(c, 'RCPT TO:<postmaster@localhost>'))
with open(step, 'w') as f:
    f.write('asked\n')
for i in range(300):
    if os.path.exists(go):
        break
    time.sleep(0.1)
out.append('after: ' + timed(c, 'RCPT TO:<nobody@localhost>'))
out.append('data: ' + timed(c, 'DATA'))
c.send(stuff(make_body('t17-after-late', 2000)))
code, lines = c.reply(timeout=30)
out.append('dot: %s' % (lines[-1] if lines else 'EOF'))
c.cmd('QUIT')
with open(result, 'w') as f:
    f.write('\n'.join(out) + '\n')
EOF
T_HELPERS="$T_HELPERS $!"
cpid=$!
for i in $(seq 1 300); do
	[ -s "$step" ] && break
	pid_alive "$cpid" || break
	sleep 0.1
done
[ -s "$step" ] || t_fail "the client's first recipients answered" "no answer"
# Let the lookup go: the cover goes, and the FIFO gives the real file.
nsenter -t "$lpid" -m umount -l /etc/passwd ||
    t_fail "/etc/passwd uncovered again" "umount failure"
# The reader may stop reading once it found the user: cat's SIGPIPE is fine.
timeout 10 sh -c 'cat /etc/passwd > "$1" 2>/dev/null; exit 0' sh "$fifo" ||
    t_fail "the hung lookup fed through the FIFO" "no reader within 10 s"
sm_wait_log "$log" 'smtpd\[[0-9]+\]: session=[0-9a-f.]+: late MSG_L_RCPT_RESULT from lookup dropped' "$SM_PID" 10 ||
    t_fail "the late lookup answer logged as dropped" "$(grep -E 'late|lookup' "$log" | tail -n 3 | tr '\n' '|')"
: > "$go"
for i in $(seq 1 300); do
	pid_alive "$cpid" || break
	sleep 0.1
done
wait "$cpid" 2>/dev/null
[ -s "$res" ] || t_fail "the phase 1 client's results" "nothing"
say "phase 1: $(tr '\n' '|' < "$res")"
line() { grep "^$1: " "$res" | head -n 1; }
secs() { sed -n 's/.*(\([0-9.]*\) s)$/\1/p'; }
l=$(line hung)
case $l in *"-> 451 4.3.0 <nobody@localhost>: Temporary lookup failure"*) ;; *) t_fail "451 4.3.0 for a recipient lookup cannot answer" "$l" ;; esac
t=$(echo "$l" | secs)
awk -v t="$t" 'BEGIN { exit !(t >= 0.8 && t < 5) }' ||
    t_fail "the 451 after about 1 s (timeout-request)" "after $t s"
l=$(line again)
case $l in *"-> 451 4.3.0 "*) ;; *) t_fail "451 4.3.0 again while the late answer is due" "$l" ;; esac
t=$(echo "$l" | secs)
awk -v t="$t" 'BEGIN { exit !(t < 0.5) }' ||
    t_fail "that 451 at once, without a second request" "after $t s"
l=$(line nolookup)
case $l in *"-> 2.1.5 Ok"*|*"-> 250 2.1.5 "*) ;; *) t_fail "250 for postmaster (no lookup)" "$l" ;; esac
l=$(line after)
case $l in *"-> 250 2.1.5 "*) ;; *) t_fail "250 for the recipient once lookup answers again" "$l" ;; esac
l=$(line data)
case $l in *"-> 354 "*) ;; *) t_fail "354 for DATA" "$l" ;; esac
l=$(line dot)
case $l in "dot: 250 2.0.0 Ok: queued as "*) ;; *) t_fail "250 for the message" "$l" ;; esac
grep -Eq 'smtpd\[[0-9]+\]: session=[0-9a-f.]+: no answer from the lookup process within 1 s' "$log" ||
    t_fail "the lookup time-out in the log" "$(grep -E 'lookup' "$log" | tail -n 3 | tr '\n' '|')"

# A flood of refused recipients from outside relay-network.
res=$T_DIR/flood.result
sm_py - "$res" <<'EOF'
import sys
from smtest import Raw

c = Raw('127.0.0.1', 25, source='127.0.0.2', timeout=30)
c.reply()
c.cmd('EHLO flood.test')
c.send('MAIL FROM:<f@example.org>\r\n' +
       ''.join('RCPT TO:<u%d@elsewhere.example>\r\n' % i for i in range(40)))
codes = []
while True:
    code, lines = c.reply(timeout=30)
    if code is None:
        break
    codes.append(lines[-1][:9])
with open(sys.argv[1], 'w') as f:
    f.write(' '.join(codes) + '\n')
EOF
got=$(cat "$res")
want="250 2.1.0$(printf ' 550 5.7.1%.0s' $(seq 1 10)) 421 4.7.0"
[ "$got" = "$want" ] || t_fail "replies \"$want\" to the flood" "\"$got\""
sm_wait_log "$log" 'client=127\.0\.0\.2 5 more refusals not logged' "$SM_PID" 10 ||
    t_fail "\"client=127.0.0.2 5 more refusals not logged\" in the log" "$(grep -c '127.0.0.2' "$log") lines of that client"
n=$(grep -c 'reject client=127\.0\.0\.2 ' "$log")
[ "$n" = 6 ] || t_fail "6 reject lines for the flood (5 refusals, the 421)" "$n"
say "flood: 10 x 550, then 421 4.7.0; 6 reject lines and the summary logged"
pid_alive "$SM_PID" || t_fail "the daemon alive after the late answer" "gone"
sm_stop "$SM_PID" 30 || t_fail "exit within 30 s of SIGTERM (phase 1)" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 (phase 1)" "$SM_RC"

# ---- Phase 2: a commit that outlasts timeout-request ----
t_failsync
log2=$T_DIR/daemon2.log
SM_BIN_CHECKED=$SM_BIN
SM_BIN=$PLAIN
sm_start "$conf" "$log2" env LD_PRELOAD="$T_DIR/failsync.so" \
    FAILSYNC_FUNCS=syncfs,fsync,fdatasync FAILSYNC_DELAY_MS=3000 FAILSYNC_COMM=sm-queue
SM_BIN=$SM_BIN_CHECKED
sm_wait_ready "$log2" "$SM_PID" 90 ||
    t_fail "strictmaild (plain build, slow syncs) ready within 90 s" \
	"$(pid_alive "$SM_PID" && echo "no ready line" || echo "exit before ready")"

step=$T_DIR/step2
go=$T_DIR/go2
res=$T_DIR/phase2.result
tag=t17-slow-commit-$$
sm_py - "$step" "$go" "$res" "$tag" <<'EOF' &
import os, sys, time
from smtest import Raw, make_body, stuff

step, go, result, tag = sys.argv[1:5]
out = []
c = Raw('127.0.0.1', 25, timeout=30)
c.reply()
c.cmd('EHLO c.test')
c.cmd('MAIL FROM:<c@example.org>')
c.cmd('RCPT TO:<postmaster@localhost>')
c.cmd('DATA')
t0 = time.time()
c.send(stuff(make_body(tag, 2000)))
code, lines = c.reply(timeout=30)
out.append('dot: %s (%.1f s)' % (lines[-1] if lines else 'EOF', time.time() - t0))
c.cmd('MAIL FROM:<c@example.org>')
c.cmd('RCPT TO:<postmaster@localhost>')
t0 = time.time()
code, lines = c.cmd('DATA', timeout=30)
out.append('busy: %s (%.1f s)' % (lines[-1] if lines else 'EOF', time.time() - t0))
with open(step, 'w') as f:
    f.write('asked\n')
for i in range(300):
    if os.path.exists(go):
        break
    time.sleep(0.1)
code, lines = c.cmd('DATA', timeout=30)
out.append('after: %s' % (lines[-1] if lines else 'EOF'))
with open(result, 'w') as f:
    f.write('\n'.join(out) + '\n')
c.close()
EOF
T_HELPERS="$T_HELPERS $!"
cpid=$!
for i in $(seq 1 300); do
	[ -s "$step" ] && break
	pid_alive "$cpid" || break
	sleep 0.1
done
[ -s "$step" ] || t_fail "the phase 2 client past its first message" "no answer"
sm_wait_log "$log2" ': session=[0-9a-f.]+: committed after the session gave up waiting' "$SM_PID" 30 ||
    t_fail "the late commit logged" "$(grep -E 'commit' "$log2" | tail -n 3 | tr '\n' '|')"
# The message is delivered at once (postmaster is root's, which has no
# alias here: deferred), and the queue rewrites its envelope with the
# slow syncs, during which it answers nobody.  A control request answered
# means the rewrite is over.
sm_wait_log "$log2" 'to=<?postmaster@localhost>? .*status=deferred' "$SM_PID" 30 ||
    t_fail "the delivery attempt logged (deferred: root has no alias)" "$(grep postmaster "$log2" | tail -n 3 | tr '\n' '|')"
timeout 60 "$(dirname "$SM_BIN")/strictmailctl" -s "$T_DIR/control.sock" queue \
    > "$T_DIR/ctl2.out" 2>&1 ||
    t_fail "strictmailctl queue answered after the rewrite" "$(cat "$T_DIR/ctl2.out")"
: > "$go"
for i in $(seq 1 300); do
	pid_alive "$cpid" || break
	sleep 0.1
done
wait "$cpid" 2>/dev/null
[ -s "$res" ] || t_fail "the phase 2 client's results" "nothing"
say "phase 2: $(tr '\n' '|' < "$res")"
l=$(grep '^dot: ' "$res")
case $l in "dot: 451 4.3.0 Error: queue not answering, try again later "*) ;; *) t_fail "451 4.3.0 for a commit not answered in time" "$l" ;; esac
t=$(echo "$l" | secs)
awk -v t="$t" 'BEGIN { exit !(t >= 0.8 && t < 2.9) }' ||
    t_fail "that 451 after about 1 s, before the first 3 s sync is over" "after $t s"
l=$(grep '^busy: ' "$res")
case $l in "busy: 451 4.3.0 "*) ;; *) t_fail "451 4.3.0 for DATA while the commit is owed" "$l" ;; esac
t=$(echo "$l" | secs)
awk -v t="$t" 'BEGIN { exit !(t < 0.5) }' || t_fail "that 451 at once" "after $t s"
l=$(grep '^after: ' "$res")
case $l in "after: 354 "*) ;; *) t_fail "354 for DATA once the late commit came" "$l" ;; esac
hits=$(grep -rl "$tag" "$spool/queue" 2>/dev/null | grep -c '\.msg$')
[ "$hits" = 1 ] || t_fail "the message told 451 queued all the same (a duplicate if sent again, not a loss)" "$hits copies"
say "the late-committed message is in the spool"
pid_alive "$SM_PID" || t_fail "the daemon alive after the late commit" "gone"
sm_stop "$SM_PID" 40 || t_fail "exit within 40 s of SIGTERM (phase 2)" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 (phase 2)" "$SM_RC"
t_pass
