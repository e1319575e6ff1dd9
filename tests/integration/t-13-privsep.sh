#!/bin/bash
# t-13-privsep: privilege separation, read from /proc.  For every child of
# the root parent (and every thread of it): all four ids of Uid: and Gid:
# are its user's, Groups: is empty, CapEff and CapPrm are zero; its root
# directory is <spool>/empty (smtpd, control), <spool> (queue), /
# (lookup) or <spool>/delivery (delivery);
# every open directory lies inside that root; and none keeps the terminal
# strictmaild was started from: the parent is started on a pseudo-terminal
# of its own (its controlling terminal and stdin), and every child must
# have no controlling terminal (tty_nr 0), a session of its own, and
# /dev/null on descriptors 0, 1 and 2.  Their log lines still reach the
# parent's -d output.
. "$(dirname "$0")/lib.sh"
[ "${SM_PRIV:-0}" = 1 ] || t_skip "privilege separation is only checked with SM_PRIV=1"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool"
# The prefix runs as the session leader that sm_start's setsid made: it
# opens a new pseudo-terminal's slave by name (so it becomes the
# controlling terminal), puts it on stdin, keeps the master open across
# exec and becomes strictmaild (same PID).
cat > "$T_DIR/ctty.py" <<'EOF'
import os, sys
master, slave = os.openpty()
fd = os.open(os.ttyname(slave), os.O_RDWR)
os.close(slave)
os.dup2(fd, 0)
os.close(fd)
os.set_inheritable(master, True)
os.execv(sys.argv[1], sys.argv[1:])
EOF
sm_start "$conf" "$log" "$PY" "$T_DIR/ctty.py"
sm_wait_ready "$log" "$SM_PID" 30 ||
    t_fail "strictmaild ready (\"ready: listening on\" logged) within 30 s" \
	"$(pid_alive "$SM_PID" && echo "no ready line" || echo "exit before ready")"
say "strictmaild running, pid $SM_PID, on a pseudo-terminal"

# One message first, so every process has done its work once; then a
# session left in the middle of DATA, so the receiver holds a client socket
# and a message file while the processes are inspected.
sm_body "t13-$$" 2000 > "$T_DIR/body"
out=$(sm_send sender@example.org root@localhost "$T_DIR/body")
case "$out" in "250 "*) ;; *) t_fail "250 for a message before the check" "$out" ;; esac
ready=$T_DIR/client.ready
sm_py - "$ready" <<'EOF' &
import sys
from smtest import Raw, make_body, stuff
c = Raw('127.0.0.1', 25, timeout=60)
c.reply()
c.cmd('EHLO held.test')
c.cmd('MAIL FROM:<held@example.org>')
c.cmd('RCPT TO:<root@localhost>')
code, _ = c.cmd('DATA')
c.send(stuff(make_body('t13-held', 5000))[:3000])
with open(sys.argv[1], 'w') as f:
    f.write('%s\n' % code)
c.reply(timeout=60)
EOF
cpid=$!
T_HELPERS="$T_HELPERS $cpid"
for i in $(seq 1 300); do
	[ -s "$ready" ] && break
	pid_alive "$cpid" || break
	sleep 0.1
done
[ "$(cat "$ready" 2>/dev/null)" = 354 ] || t_fail "a session held in DATA (354)" "$(cat "$ready" 2>/dev/null)"

"$PY" - "$SM_PID" "$spool" "$T_DIR/children" <<'EOF' || t_fail_py
import os, pwd, sys
from smtest import Checker

ppid, spool = int(sys.argv[1]), os.path.realpath(sys.argv[2])
T = Checker()
check = T.check

expect = {  # name part -> (user, root)
    'smtpd': ('_sm-smtpd', os.path.join(spool, 'empty')),
    'queue': ('_sm-queue', spool),
    'lookup': ('_sm-lookup', '/'),
    'control': ('_sm-control', os.path.join(spool, 'empty')),
    'delivery': ('_sm-delivery', os.path.join(spool, 'delivery')),
}


def children(pid):
    out = set()
    for t in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/children' % (pid, t)) as f:
            out.update(int(x) for x in f.read().split())
    return sorted(out)


def stat_fields(pid):
    """state, ppid, pgrp, session, tty_nr from /proc/PID/stat."""
    with open('/proc/%d/stat' % pid) as f:
        st = f.read()
    fields = st[st.rfind(')') + 2:].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4])


def status(path):
    d = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(':')
            d[k] = v.split()
    return d


with open('/proc/%d/status' % ppid) as f:
    puid = [l.split()[1:] for l in f if l.startswith('Uid:')][0]
check('parent %d runs as root' % ppid, puid == ['0'] * 4, ['0'] * 4, puid)
_, _, _, psid, ptty = stat_fields(ppid)
check('parent %d has a controlling terminal (the test gave it one)' % ppid,
      ptty != 0, 'tty_nr not 0', ptty)
null = os.stat('/dev/null')

found = {}
for c in children(ppid):
    with open('/proc/%d/comm' % c) as f:
        comm = f.read().strip()
    kind = [k for k in expect if k in comm]
    check('child %d (%s) is one of smtpd, queue, lookup, control, delivery' % (c, comm),
          len(kind) == 1, 'a name with smtpd, queue, lookup, control or delivery', comm)
    if len(kind) != 1:
        continue
    kind = kind[0]
    check('only one %s process' % kind, kind not in found, 'one', 'two')
    found[kind] = c
    user, want_root = expect[kind]
    pw = pwd.getpwnam(user)
    uid, gid = str(pw.pw_uid), str(pw.pw_gid)
    for task in sorted(os.listdir('/proc/%d/task' % c), key=int):
        st = status('/proc/%d/task/%s/status' % (c, task))
        what = '%s pid %d task %s' % (kind, c, task)
        check('%s: Uid: all %s (%s)' % (what, uid, user), st['Uid'] == [uid] * 4,
              [uid] * 4, st['Uid'])
        check('%s: Gid: all %s' % (what, gid), st['Gid'] == [gid] * 4, [gid] * 4, st['Gid'])
        check('%s: Groups: empty' % what, st.get('Groups', []) == [], '[]', st.get('Groups'))
        for cap in ('CapEff', 'CapPrm'):
            v = int(st[cap][0], 16)
            check('%s: %s zero' % (what, cap), v == 0, 0, st[cap][0])
    _, _, pgrp, sid, tty = stat_fields(c)
    check('%s pid %d: no controlling terminal' % (kind, c), tty == 0, 'tty_nr 0', tty)
    check('%s pid %d: a session of its own, not the parent\'s %d' % (kind, c, psid),
          sid != psid and sid == c and pgrp == c, 'session and group %d' % c,
          'session %d, group %d' % (sid, pgrp))
    for fd in (0, 1, 2):
        path = '/proc/%d/fd/%d' % (c, fd)
        try:
            target, st = os.readlink(path), os.stat(path)
            same = (st.st_rdev, st.st_ino, st.st_dev) == (null.st_rdev, null.st_ino, null.st_dev)
        except OSError as e:
            target, same = 'closed (%s)' % e.strerror, False
        check('%s pid %d: descriptor %d is /dev/null' % (kind, c, fd),
              same and target == '/dev/null', '/dev/null', target)
    root = os.readlink('/proc/%d/root' % c)
    check('%s: root directory %s' % (kind, want_root), root == want_root, want_root, root)
    bad, ndirs = [], 0
    fddir = '/proc/%d/fd' % c
    for fd in sorted(os.listdir(fddir), key=int):
        try:
            target = os.readlink('%s/%s' % (fddir, fd))
            isdir = os.path.isdir('%s/%s' % (fddir, fd))
        except OSError:
            continue   # closed meanwhile
        if not isdir:
            continue
        ndirs += 1
        inside = root == '/' or target == root or target.startswith(root + '/')
        if not inside:
            bad.append('fd %s -> %s' % (fd, target))
    check('%s: %d open directories, all inside %s' % (kind, ndirs, root), not bad,
          'none outside', bad)

check('smtpd, queue, lookup, control and delivery all found', sorted(found) == sorted(expect),
      sorted(expect), sorted(found))
with open(sys.argv[3], 'w') as f:
    for kind, c in sorted(found.items()):
        f.write('%s %d\n' % (kind, c))
T.done()
EOF

# The children's lines come through the parent, with their own names and
# PIDs: the queue's recovery, smtpd's accepted message.
qpid=$(awk '$1 == "queue" { print $2 }' "$T_DIR/children")
spid=$(awk '$1 == "smtpd" { print $2 }' "$T_DIR/children")
grep -Eq "^[0-9T:Z-]+ strictmail/queue\[$qpid\]: recovery: " "$log" ||
    t_fail "the queue's (pid $qpid) recovery line in the -d output" "$(grep -m 2 'strictmail/queue' "$log" | tr '\n' '|')"
grep -Eq "^[0-9T:Z-]+ strictmail/smtpd\[$spid\]: [0-9A-F]{16}: accepted " "$log" ||
    t_fail "smtpd's (pid $spid) accepted line in the -d output" "$(grep -m 2 'strictmail/smtpd' "$log" | tr '\n' '|')"
say "the children's log lines reach the parent's output"

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
