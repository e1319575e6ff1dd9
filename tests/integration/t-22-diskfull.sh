#!/bin/bash
# t-22-diskfull: the spool on a size-limited tmpfs (8 MiB).
# Phase 1, min-free-space 2M: messages until the free space runs low and
#   MAIL gets "452 4.3.1" (or the end of DATA 451/452); every acknowledged
#   message is intact; a filler file is removed and acceptance resumes
#   (the queue rechecks the space every second).
# Phase 2, min-free-space 0: a message larger than the free space, and one
#   whose content fills the file system so that its envelope cannot be
#   written, both get "451 4.3.0" after the final dot and leave nothing in
#   incoming/ or queue/; after removing a filler file the next message is
#   accepted, and every message acknowledged before is still intact.
. "$(dirname "$0")/lib.sh"
t_init

fs=$T_DIR/fs
mkdir -p "$fs"
mount -t tmpfs -o size=8m,mode=0755 strictmail-test "$fs" ||
    t_fail "a tmpfs mounted at $fs" "mount failure"
T_MOUNTS="$T_MOUNTS $fs"
spool=$fs/spool
conf=$T_DIR/strictmail.conf
state=$T_DIR/acks
: > "$state"

free_kib() { echo $(( $(stat -f -c '%a * %S' "$fs") / 1024 )); }

# ---- phase 1
sm_config "$conf" "$spool" "min-free-space 2M" "max-message-size 20M"
dd if=/dev/zero of="$fs/filler1" bs=1024 count=2048 status=none ||
    t_fail "a 2 MiB filler file" "dd failure"
log=$T_DIR/daemon1.log
sm_start_ready "$conf" "$log"
say "phase 1: min-free-space 2M, $(free_kib) KiB free, strictmaild pid $SM_PID"

sm_py_fg - "$spool" "$state" fill <<'EOF' || t_fail_py
import smtplib, sys, time
from smtest import Checker, make_body, sha256, parse_queued, check_msg

spool, state, mode = sys.argv[1:4]
T = Checker()
acks = []
full = None
t0 = time.monotonic()
for i in range(100):
    if time.monotonic() - t0 > 90:
        break
    body = make_body('t22-fill-%d' % i, 256 * 1024)
    s = smtplib.SMTP('127.0.0.1', 25, timeout=30, local_hostname='fill.test')
    s.ehlo()
    code, text = s.mail('fill@example.org')
    text = text.decode()
    if code != 250:
        full = ('MAIL', code, text)
        s.quit()
        break
    s.rcpt('root@localhost')
    code, text = s.data(body)
    text = text.decode()
    s.quit()
    qid = parse_queued(text) if code == 250 else None
    if qid:
        acks.append((qid, sha256(body)))
        continue
    full = ('DATA', code, text)
    break
T.say('%d messages of 256 KiB acknowledged, then %s' % (len(acks), full))
with open(state, 'a') as f:
    f.write(''.join('%s %s\n' % a for a in acks))
ok = full is not None and (
    (full[0] == 'MAIL' and full[1] == 452 and full[2].startswith('4.3.1')) or
    (full[0] == 'DATA' and full[1] in (451, 452) and full[2].startswith('4.3.')))
T.check('low space refused: MAIL 452 4.3.1 (or end of DATA 451/452 4.3.x)', ok,
        'MAIL 452 4.3.1', full)
T.check('some messages accepted before that', len(acks) > 0, '> 0', len(acks))
for qid, h in acks:
    errs = check_msg(spool, qid, h, ['root@localhost'])
    T.check('%s intact' % qid, not errs, 'intact', errs)
T.done()
EOF

rm -f "$fs/filler1"
say "filler removed: $(free_kib) KiB free; waiting for acceptance to resume"
sm_py_fg - "$spool" "$state" <<'EOF' || t_fail_py
import smtplib, sys, time
from smtest import Checker, make_body, sha256, parse_queued, check_msg

spool, state = sys.argv[1:3]
T = Checker()
t0 = time.monotonic()
last = None
while time.monotonic() - t0 < 15:
    s = smtplib.SMTP('127.0.0.1', 25, timeout=30, local_hostname='resume.test')
    s.ehlo()
    code, text = s.mail('resume@example.org')
    last = (code, text.decode())
    if code == 250:
        body = make_body('t22-resume-1', 4000)
        s.rcpt('root@localhost')
        code, text = s.data(body)
        qid = parse_queued(text) if code == 250 else None
        T.check('message after space came back -> 250 queued', qid is not None,
                '250 2.0.0 Ok: queued as QID', (code, text))
        if qid:
            with open(state, 'a') as f:
                f.write('%s %s\n' % (qid, sha256(body)))
            errs = check_msg(spool, qid, sha256(body), ['root@localhost'])
            T.check('%s intact' % qid, not errs, 'intact', errs)
        s.quit()
        break
    s.quit()
    time.sleep(0.25)
T.say('MAIL accepted again after %.1f s' % (time.monotonic() - t0))
T.check('MAIL accepted again within 15 s of freeing space', last and last[0] == 250,
        250, last)
T.done()
EOF

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s (phase 1)" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM (phase 1)" "$SM_RC"

# ---- phase 2
sm_config "$conf" "$spool" "min-free-space 0" "max-message-size 20M"
log=$T_DIR/daemon2.log
sm_start_ready "$conf" "$log"
# Leave about 1 MiB free.
fill=$(( $(free_kib) - 1024 ))
[ "$fill" -gt 0 ] && dd if=/dev/zero of="$fs/filler2" bs=1024 count="$fill" status=none 2>/dev/null
say "phase 2: min-free-space 0, $(free_kib) KiB free, strictmaild pid $SM_PID"

# Two ways to run out of space: while the content is written (a message
# larger than the free space), and at the envelope (the content fills the
# file system exactly).  Both get 451 4.3.0 and leave nothing behind.
sm_py_fg - "$spool" "$state" "$fs" "$fs/filler2" <<'EOF' || t_fail_py
import os, smtplib, sys, time
from smtest import (Checker, make_body, sha256, parse_queued, check_msg,
                    find_msg, spool_files, strip_received, wait_for)

spool, state, fs, filler = sys.argv[1:5]
T = Checker()


def free():
    st = os.statvfs(fs)
    return st.f_bavail * st.f_frsize


def send(body, helo):
    s = smtplib.SMTP('127.0.0.1', 25, timeout=60, local_hostname=helo)
    s.ehlo()
    code, text = s.mail('big@example.org')
    if code != 250:
        return 'MAIL', code, text.decode()
    s.rcpt('root@localhost')
    try:
        code, text = s.data(body)
        got = ('DATA', code, text.decode())
    except (smtplib.SMTPException, OSError) as e:
        got = ('DATA', 'no reply', repr(e))
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        pass
    return got


def queued():
    # The messages in queue/: ID.env.new is left out, as the rewrite of an
    # envelope on its way (a delivery attempt that deferred a message
    # sent earlier may be renaming one over its ID.env at any moment).
    return sorted(n for n in spool_files(spool, 'queue')
                  if not n.endswith('.env.new'))


def nothing_left(what, before):
    empty = wait_for(lambda: not spool_files(spool, 'incoming'), 5)
    T.check('%s: nothing left in incoming/' % what, empty, 'empty',
            spool_files(spool, 'incoming'))
    same = wait_for(lambda: queued() == before, 5)
    T.check('%s: queue/ unchanged' % what, same, 'unchanged',
            sorted(set(queued()) ^ set(before))[:4])


# 1. Larger than the free space: the content write fails.
before = queued()
got = send(make_body('t22-toolarge', 3 * 1024 * 1024), 'big.test')
T.say('3 MiB message with %d KiB free: %s' % (free() // 1024, got))
T.check('a message larger than the free space -> 451 4.3.0 after the final dot',
        got[1] == 451 and str(got[2]).startswith('4.3.0'), '451 4.3.0', got)
nothing_left('after the content write failed', before)

# 2. The content fills the file system to the last page: the envelope
#    cannot be written.  A first small message tells the size of the
#    Received header strictmail adds for this client.
body = make_body('t22-probe', 1000)
got = send(body, 'exact.test')
qid = parse_queued(got[2]) if got[1] == 250 else None
T.check('a small message with space left -> 250', qid is not None, 250, got)
if qid:
    with open(state, 'a') as f:
        f.write('%s %s\n' % (qid, sha256(body)))
    with open(find_msg(spool, qid)[1], 'rb') as f:
        hdr = len(strip_received(f.read())[0])
    with open(filler, 'ab') as f:
        f.write(b'\0' * (free() - 64 * 4096))
    room = free()
    body = make_body('t22-exact', room - hdr - 100)[:room - hdr - 2]
    body += b'x' * (room - hdr - 2 - len(body)) + b'\r\n'
    before = queued()
    got = send(body, 'exact.test')
    T.say('content of %d octets with %d free: %s' % (len(body) + hdr, room, got))
    T.check('content that fills the disk, no room for the envelope -> 451 4.3.0',
            got[1] == 451 and str(got[2]).startswith('4.3.0'), '451 4.3.0', got)
    nothing_left('after the envelope write failed', before)
T.done()
EOF

rm -f "$fs/filler2"
say "filler removed: $(free_kib) KiB free"
sm_py_fg - "$spool" "$state" <<'EOF' || t_fail_py
import smtplib, sys, time
from smtest import Checker, make_body, sha256, parse_queued, check_msg

spool, state = sys.argv[1:3]
T = Checker()
t0, got = time.monotonic(), None
body = make_body('t22-after-enospc', 1024 * 1024)
while time.monotonic() - t0 < 15:
    s = smtplib.SMTP('127.0.0.1', 25, timeout=60, local_hostname='after.test')
    s.ehlo()
    code, text = s.mail('after@example.org')
    if code == 250:
        s.rcpt('root@localhost')
        code, text = s.data(body)
    got = (code, text.decode())
    s.quit()
    if code == 250:
        break
    time.sleep(0.25)
qid = parse_queued(got[1]) if got and got[0] == 250 else None
T.check('a 1 MiB message after freeing space -> 250 queued', qid is not None,
        '250 2.0.0 Ok: queued as QID', got)
if qid:
    errs = check_msg(spool, qid, sha256(body), ['root@localhost'])
    T.check('%s intact' % qid, not errs, 'intact', errs)
n = 0
with open(state) as f:
    for line in f:
        q, h = line.split()
        errs = check_msg(spool, q, h, ['root@localhost'])
        T.check('%s from phase 1 still intact' % q, not errs, 'intact', errs)
        n += 1
T.say('%d earlier messages still intact' % n)
T.done()
EOF

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s (phase 2)" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM (phase 2)" "$SM_RC"
t_pass
