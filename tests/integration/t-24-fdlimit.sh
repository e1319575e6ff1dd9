#!/bin/bash
# t-24-fdlimit: strictmaild started with "ulimit -n 40", clients fill its
# descriptor table.  First a few idle sessions (EHLO only), then sessions
# that each start a message (MAIL, RCPT, DATA, half a body) until one is
# refused at connect; then MAIL on the idle ones.  Every refusal must be
# "421 4.3.2" at connect or "452 4.3.1" at MAIL (or DATA), at least one of
# each must come, and some messages must have started.  No process may
# die or log "fatal".  Once the clients let go, a whole message gets 250
# and is intact in the spool.  Last, the descriptor the queue passes for
# a message is made to get lost (smtpd's limit lowered under it with
# prlimit from RCPT to DATA): DATA gets 452 4.3.1, the queue drops
# the message, the session and every process live on, and with the
# limit back the same session gets 250.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
# 20 sessions: their sockets fit in 40 descriptors, their messages do
# not; the session limits are never reached here, descriptors are.
sm_config "$conf" "$spool" "max-sessions 20" "max-sessions-per-client 20"
sm_start "$conf" "$log" sh -c 'ulimit -n 40 && exec "$@"' sh
sm_wait_ready "$log" "$SM_PID" 30 ||
    t_fail "strictmaild ready under ulimit -n 40 within 30 s" \
	"$(pid_alive "$SM_PID" && echo "no ready line" || echo "exit before ready")"
grep -Eq 'strictmail/smtpd\[[0-9]+\]: descriptors: limit 40, ' "$log" ||
    t_fail "smtpd logging 'descriptors: limit 40'" \
	"$(grep -Eo 'descriptors: .*' "$log" | head -n 1)"
say "strictmaild running, pid $SM_PID: $(grep -Eo 'descriptors: .*' "$log" | head -n 1)"
children_before=$(sm_children "$SM_PID" | awk '{ print $1 }' | sort | tr '\n' ' ')
[ "$(echo $children_before | wc -w)" -ge 5 ] ||
    t_fail "five children (smtpd, queue, lookup, control, delivery)" "$children_before"

ready=$T_DIR/clients.ready
result=$T_DIR/clients.result
go=$T_DIR/clients.go
sm_py - "$ready" "$result" "$go" <<'EOF' &
import os, sys, time
from smtest import Raw, make_body, stuff

ready, result, go = sys.argv[1:4]
out = []
idle, busy = [], []

def line(lines):
    return lines[-1] if lines else 'EOF'

def connect():
    """A session and its greeting, or None (recorded) if refused."""
    c = Raw('127.0.0.1', 25, timeout=20)
    code, lines = c.reply()
    if code == 220:
        return c
    out.append('connect %s' % line(lines))
    c.close()
    return None

def start_message(c, i):
    """MAIL, RCPT, DATA and half a body; the first refusal is recorded."""
    code, lines = c.cmd('MAIL FROM:<s%d@example.org>' % i)
    if code != 250:
        out.append('mail %s' % line(lines))
        return
    c.cmd('RCPT TO:<root@localhost>')
    code, lines = c.cmd('DATA')
    if code != 354:
        out.append('data %s' % line(lines))
        return
    out.append('started 354')
    data = stuff(make_body('t24-%d' % i, 4000))
    c.send(data[:len(data) // 2])

try:
    # A few idle sessions first: they hold a socket, no message.
    for i in range(3):
        c = connect()
        if c is None:
            break
        c.cmd('EHLO idle%d.test' % i)
        idle.append(c)
    # Sessions that each start a message, until one is refused.
    for i in range(60):
        c = connect()
        if c is None:
            break
        busy.append(c)
        c.cmd('EHLO busy%d.test' % i)
        start_message(c, i)
    # The idle ones now ask to start a message.
    for i, c in enumerate(idle):
        code, lines = c.cmd('MAIL FROM:<idle%d@example.org>' % i)
        out.append('idle-mail %s' % line(lines))
except OSError as e:
    out.append('client error: %r' % e)

with open(result, 'w') as f:
    f.write('\n'.join(out) + '\n')
with open(ready, 'w') as f:
    f.write('%d idle, %d busy\n' % (len(idle), len(busy)))
# Hold everything until the test has looked at the daemon.
for _ in range(600):
    if os.path.exists(go):
        break
    time.sleep(0.1)
for c in idle + busy:
    c.close()
EOF
cpid=$!
T_HELPERS="$T_HELPERS $cpid"

for i in $(seq 1 600); do
	[ -s "$ready" ] && break
	pid_alive "$cpid" || break
	sleep 0.1
done
[ -s "$ready" ] || t_fail "the clients holding their sessions" "no ready file"
say "clients: $(cat "$ready")"
say "replies: $(sort "$result" | uniq -c | tr -s ' ' | tr '\n' '|')"

# Every refusal is 421 4.3.2 at connect or 452 4.3.1 at MAIL or DATA.
bad=$(grep -Ev '^(started 354|connect 421 4\.3\.2 |(mail|idle-mail) 452 4\.3\.1 |idle-mail 250 |data 452 4\.3\.1 )' "$result")
[ -z "$bad" ] || t_fail "only 220, 354, 421 4.3.2 and 452 4.3.1 replies" "$(echo "$bad" | tr '\n' '|')"
grep -q '^started 354' "$result" || t_fail "some sessions starting a message" "none"
grep -q '^connect 421 4\.3\.2 ' "$result" ||
    t_fail "a connection refused with 421 4.3.2" "$(tr '\n' '|' < "$result")"
grep -Eq '^(idle-mail|mail) 452 4\.3\.1 ' "$result" ||
    t_fail "a MAIL refused with 452 4.3.1" "$(tr '\n' '|' < "$result")"
grep -Eq 'strictmail/smtpd\[[0-9]+\]: session=[0-9a-f.]+ disconnect client=127\.0\.0\.1 reason=busy' "$log" ||
    t_fail "a 'reason=busy' disconnect in the log" "none"

# Nobody died, nothing fatal.
pid_alive "$SM_PID" || t_fail "the parent running while the table is full" "it exited"
children_now=$(sm_children "$SM_PID" | awk '{ print $1 }' | sort | tr '\n' ' ')
[ "$children_now" = "$children_before" ] ||
    t_fail "the same children ($children_before)" "$children_now"
if grep -Eq 'fatal|protocol violation|stopping all' "$log"; then
	t_fail "no fatal error in the log" "$(grep -E 'fatal|protocol violation|stopping all' "$log" | head -n 3)"
fi
say "all processes alive, no fatal error"

# The clients let go: the aborted messages leave, a whole one gets 250.
touch "$go"
for i in $(seq 1 100); do pid_alive "$cpid" || break; sleep 0.1; done
wait "$cpid" 2>/dev/null
for i in $(seq 1 100); do
	[ -z "$(ls -A "$spool/incoming")" ] && break
	sleep 0.1
done
[ -z "$(ls -A "$spool/incoming")" ] ||
    t_fail "incoming/ empty once the clients left" "$(ls -A "$spool/incoming" | head -n 3)"
sm_body "t24-after-$$" 20000 > "$T_DIR/body"
out=$(sm_send sender@example.org root@localhost "$T_DIR/body")
case "$out" in
"250 "*) q=${out#250 } ;;
*) t_fail "250 for a whole message after the clients left" "$out" ;;
esac
errs=$(sm_check "$spool" "$q" "$T_DIR/body" root@localhost)
[ -z "$errs" ] || t_fail "$q intact" "$errs"
say "after the clients left: 250, $q intact"
# And again, as many sessions as fit at once are served: 5 in parallel.
pids=""
for i in 1 2 3 4 5; do
	sm_body "t24-par-$i-$$" 3000 > "$T_DIR/body$i"
	sm_send sender@example.org root@localhost "$T_DIR/body$i" > "$T_DIR/out$i" &
	pids="$pids $!"
done
wait $pids
for i in 1 2 3 4 5; do
	grep -q '^250 ' "$T_DIR/out$i" || t_fail "250 for parallel message $i" "$(cat "$T_DIR/out$i")"
done
say "5 parallel messages: 250"

# A lost descriptor (MSG_CTRUNC) fails that message only.
smtpd=$(sm_child "$SM_PID" smtpd)
[ -n "$smtpd" ] || t_fail "the smtpd child" "$(sm_children "$SM_PID" | tr '\n' ' ')"
sm_body "t24-lost-$$" 5000 > "$T_DIR/body-lost"
sm_py_fg - "$smtpd" "$T_DIR/body-lost" <<'EOF' || t_fail_py
import os, resource, sys
from smtest import Raw, Checker, stuff

r = Checker()
pid = int(sys.argv[1])
body = open(sys.argv[2], 'rb').read()


def ids(p):
    """The real uid and gid of process p."""
    uid = gid = None
    with open('/proc/%d/status' % p) as f:
        for line in f:
            if line.startswith('Uid:'):
                uid = int(line.split()[1])
            elif line.startswith('Gid:'):
                gid = int(line.split()[1])
    return uid, gid


def nofile(p, *lim):
    """prlimit(p, RLIMIT_NOFILE, *lim); without CAP_SYS_RESOURCE (the
    privilege-separated smtpd has its own uid) from a child that takes
    the target's uid and gid."""
    try:
        return resource.prlimit(p, resource.RLIMIT_NOFILE, *lim)
    except PermissionError:
        pass
    uid, gid = ids(p)
    rd, wr = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(rd)
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            got = resource.prlimit(p, resource.RLIMIT_NOFILE, *lim)
            os.write(wr, ('%d %d' % got).encode())
            os._exit(0)
        except BaseException as e:
            os.write(wr, repr(e).encode())
            os._exit(1)
    os.close(wr)
    out = os.read(rd, 4096).decode()
    os.close(rd)
    _, st = os.waitpid(child, 0)
    if st != 0:
        raise RuntimeError('prlimit as uid %d: %s' % (uid, out))
    soft, hard = out.split()
    return int(soft), int(hard)


c = Raw('127.0.0.1', 25, timeout=20)
c.reply()
c.cmd('EHLO lost.test')
c.cmd('MAIL FROM:<lost@example.org>')
old = nofile(pid)
# No descriptor can be installed: 0 to 2 are always open.  The message is
# opened at the first RCPT, so the pipe is lost then; RCPT itself is
# accepted, and DATA hears of the loss.
nofile(pid, (3, old[1]))
try:
    code, lines = c.cmd('RCPT TO:<root@localhost>')
    r.check('RCPT while the message descriptor is lost', code == 250,
            '250', lines)
    code, lines = c.cmd('DATA')
finally:
    nofile(pid, old)
r.check('DATA with the descriptor lost', code == 452 and
        lines[-1].startswith('452 4.3.1 '), '452 4.3.1', lines)
code, lines = c.cmd('RSET')
r.check('RSET in the same session', code == 250, '250', lines)
c.cmd('MAIL FROM:<lost@example.org>')
c.cmd('RCPT TO:<root@localhost>')
code, lines = c.cmd('DATA')
r.check('DATA with the limit back', code == 354, '354', lines)
c.send(stuff(body))
code, lines = c.reply()
r.check('the message with the limit back', code == 250, '250', lines)
c.cmd('QUIT')
r.done()
EOF
grep -Eq 'strictmail/smtpd\[[0-9]+\]: [0-9A-Za-z]+: session=[0-9a-f.]+: message descriptor lost' "$log" ||
    t_fail "'message descriptor lost' logged by smtpd" "none"
for i in $(seq 1 50); do
	[ -z "$(ls -A "$spool/incoming")" ] && break
	sleep 0.1
done
[ -z "$(ls -A "$spool/incoming")" ] ||
    t_fail "the lost message dropped from incoming/" "$(ls -A "$spool/incoming")"
children_now=$(sm_children "$SM_PID" | awk '{ print $1 }' | sort | tr '\n' ' ')
[ "$children_now" = "$children_before" ] ||
    t_fail "the same children after the lost descriptor" "$children_now"
if grep -Eq 'fatal|protocol violation|stopping all' "$log"; then
	t_fail "no fatal error in the log" "$(grep -E 'fatal|protocol violation|stopping all' "$log" | head -n 3)"
fi
say "a lost descriptor: DATA 452 4.3.1, the same session 250 after"

pid_alive "$SM_PID" || t_fail "the parent still running" "it exited"
sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
