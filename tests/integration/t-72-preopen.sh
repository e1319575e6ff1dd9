#!/bin/bash
# t-72-preopen: the receiver asks the queue for the message file at the
# first recipient, not at DATA.  Checks: after an accepted RCPT the file
# is there in incoming/ (empty) before DATA; DATA, after a RSET and a new
# transaction, is queued under that very ID, intact; a connection that
# never sends DATA (QUIT, an unknown user, a dropped connection, a
# pipelined burst cut short) leaves nothing in incoming/ or queue/, and
# the queue logs no "discarded" line at info level for it; a pipelined
# MAIL/RCPT/DATA gets its 354 and 250; the MTA serves on afterwards.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

sm_py_fg - "$spool" "$log" <<'EOF' || t_fail_py
import os, sys, time
from smtest import (make_body, sha256, parse_queued, check_msg, Raw, stuff,
                    Checker, spool_files, queued_ids, wait_for)

spool, log = sys.argv[1], sys.argv[2]
H, P = '127.0.0.1', 25
T = Checker()
check = T.check
accepted = []


def incoming():
    return spool_files(spool, 'incoming')


def settled_empty():
    return wait_for(lambda: incoming() == [], 5)


# 1. The file exists after RCPT, before DATA, and DATA uses it, also after
#    a RSET and a new transaction.
r = Raw(H, P)
check('banner', r.reply()[0] == 220, 220, None)
r.cmd('EHLO client.test')
check('MAIL -> 250', r.cmd('MAIL FROM:<a@example.org>')[0] == 250, 250, None)
check('RCPT -> 250', r.cmd('RCPT TO:<root@localhost>')[0] == 250, 250, None)
got = wait_for(lambda: len(incoming()) == 1, 5)
files = incoming()
check('after RCPT, before DATA: one file in incoming/', len(files) == 1,
      'one file', files)
pre = os.path.basename(files[0]).split('.')[0] if files else None
if files:
    size = os.path.getsize(os.path.join(spool, files[0]))
    check('the file opened ahead is empty', size == 0, 0, size)
check('RSET -> 250', r.cmd('RSET')[0] == 250, 250, None)
check('incoming/ unchanged by RSET', incoming() == files, files, incoming())
r.cmd('MAIL FROM:<a@example.org>')
r.cmd('RCPT TO:<root@localhost>')
check('DATA -> 354', r.cmd('DATA')[0] == 354, 354, None)
body = make_body('t72-first', 3000)
c, lines = (r.send(stuff(body)), r.reply())[1]
qid = parse_queued(lines[-1][4:]) if c == 250 else None
check('end of data -> 250 queued as', qid is not None, '250', lines)
check('queued under the ID opened at RCPT', qid == pre, pre, qid)
accepted.append((qid, sha256(body), ['root@localhost']))
# A second transaction in the same connection opens another.
r.cmd('MAIL FROM:<a@example.org>')
r.cmd('RCPT TO:<root@localhost>')
body = make_body('t72-second', 1000)
r.cmd('DATA')
c, lines = (r.send(stuff(body)), r.reply())[1]
qid2 = parse_queued(lines[-1][4:]) if c == 250 else None
check('second message -> 250', qid2 is not None and qid2 != qid, '250, new ID',
      lines)
accepted.append((qid2, sha256(body), ['root@localhost']))
r.cmd('QUIT')
r.close()
check('incoming/ empty after the session', settled_empty(), [], incoming())

def queued():
    return set(k.split('.')[0] for k in queued_ids(spool))


before = queued()

# 2. No DATA: QUIT after RCPT.
r = Raw(H, P)
r.reply()
r.cmd('EHLO client.test')
r.cmd('MAIL FROM:<a@example.org>')
r.cmd('RCPT TO:<root@localhost>')
wait_for(lambda: len(incoming()) == 1, 5)
check('QUIT after RCPT -> 221', r.cmd('QUIT')[0] == 221, 221, None)
r.close()
check('QUIT without DATA: incoming/ empty', settled_empty(), [], incoming())

# 3. An unknown user only, then the connection dropped.
r = Raw(H, P)
r.reply()
r.cmd('EHLO client.test')
r.cmd('MAIL FROM:<a@example.org>')
c, lines = r.cmd('RCPT TO:<nosuchuser-t72@localhost>')
check('unknown user -> 550', c == 550, 550, lines)
r.close()
check('unknown user, dropped: incoming/ empty', settled_empty(), [],
      incoming())

# 4. A pipelined burst cut short: the connection goes while the queue's
#    answer may still be on its way.
for i in range(20):
    r = Raw(H, P)
    r.send('EHLO client.test\r\nMAIL FROM:<a@example.org>\r\n'
           'RCPT TO:<root@localhost>\r\n')
    if i % 2:
        time.sleep(0.01)
    r.close()
check('20 cut-short sessions: incoming/ empty', settled_empty(), [],
      incoming())
check('nothing queued by sessions without DATA',
      queued() == before, sorted(before), sorted(queued()))
with open(log, 'rb') as f:
    text = f.read().decode('utf-8', 'replace')
check('no info line for a message opened ahead and never used',
      'discarded: aborted by the receiver' not in text,
      'no such line', [l for l in text.splitlines() if 'discarded' in l][:3])

# 5. Pipelined MAIL, RCPT and DATA in one write.
r = Raw(H, P)
r.reply()
r.cmd('EHLO client.test')
r.send('MAIL FROM:<a@example.org>\r\nRCPT TO:<root@localhost>\r\nDATA\r\n')
codes = [r.reply()[0] for _ in range(3)]
check('pipelined MAIL, RCPT, DATA -> 250, 250, 354', codes == [250, 250, 354],
      [250, 250, 354], codes)
body = make_body('t72-pipelined', 2000)
c, lines = (r.send(stuff(body)), r.reply())[1]
qid3 = parse_queued(lines[-1][4:]) if c == 250 else None
check('pipelined message -> 250', qid3 is not None, '250', lines)
accepted.append((qid3, sha256(body), ['root@localhost']))
r.cmd('QUIT')
r.close()

for q, h, rcpts in accepted:
    errs = check_msg(spool, q, h, rcpts) if q else ['not accepted']
    check('%s in the spool, intact' % q, not errs, 'intact', errs)
check('incoming/ empty at the end', settled_empty(), [], incoming())
T.done()
EOF

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
