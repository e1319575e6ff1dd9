#!/bin/bash
# t-11-smtplib: a session with Python's smtplib: the EHLO extensions,
# several messages in one session, RSET, NOOP, a pipelined burst, an
# unknown local user (550 5.1.1), relaying from outside relay-network
# (550 5.7.1) and MAIL before HELO (503 5.5.1).  Every accepted message is
# checked in the spool.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
# Only 127.0.0.1 may relay; the test also connects from 127.0.0.2.
ip -n "$T_NS" addr add 127.0.0.2/32 dev lo 2>/dev/null
sm_config "$conf" "$spool" "relay-network 127.0.0.1/32"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

sm_py_fg - "$spool" <<'EOF' || t_fail_py
import smtplib, sys
from smtest import make_body, sha256, parse_queued, check_msg, Raw, stuff, Checker

spool = sys.argv[1]
H, P = '127.0.0.1', 25
T = Checker()
check = T.check


def reply_is(r, code, enh):
    """(ok, text): the reply has this code and its text starts with enh."""
    c, t = r
    t = t.decode('utf-8', 'replace') if isinstance(t, bytes) else t
    return c == code and t.startswith(enh), '%s %s' % (c, t)


accepted = []   # (qid, hash, rcpts)

# 1. EHLO extensions, three messages, RSET, NOOP in one session.
s = smtplib.SMTP(H, P, timeout=30, local_hostname='client.test')
code, banner = s.ehlo()
check('EHLO -> 250', code == 250, 250, code)
feats = s.esmtp_features
for ext in ('pipelining', 'size', '8bitmime', 'enhancedstatuscodes'):
    check('EHLO advertises %s' % ext.upper(), ext in feats,
          ext.upper(), ' '.join(sorted(feats)) or banner)
ok, got = reply_is(s.noop(), 250, '2.')
check('NOOP -> 250 2.x.x', ok, '250 2.x.x', got)
for i in range(3):
    body = make_body('t11-session-%d' % i, 2000 + 500 * i)
    rcpts = ['root@localhost', 'postmaster@localhost'] if i == 1 else ['root@localhost']
    ok, got = reply_is(s.mail('sender@example.org'), 250, '2.')
    check('MAIL FROM -> 250 2.x.x', ok, '250 2.x.x', got)
    if i == 2:
        ok, got = reply_is(s.rset(), 250, '2.')
        check('RSET after MAIL -> 250 2.x.x', ok, '250 2.x.x', got)
        c, t = s.rcpt('root@localhost')
        check('RCPT after RSET, without MAIL -> 503', c == 503, 503, '%s %s' % (c, t))
        s.mail('sender@example.org')
    for r in rcpts:
        ok, got = reply_is(s.rcpt(r), 250, '2.')
        check('RCPT <%s> -> 250 2.x.x' % r, ok, '250 2.x.x', got)
    c, t = s.data(body)
    qid = parse_queued(t) if c == 250 else None
    check('message %d of the session -> 250 2.0.0 Ok: queued as QID' % (i + 1),
          qid is not None, '250 2.0.0 Ok: queued as <QID>', '%s %s' % (c, t))
    if qid:
        accepted.append((qid, sha256(body), rcpts))
ok, got = reply_is(s.noop(), 250, '2.')
check('NOOP after the messages -> 250', ok, '250 2.x.x', got)
c, t = s.quit()
check('QUIT -> 221', c == 221, 221, c)

# 2. A pipelined burst: two transactions, each group written at once.
r = Raw(H, P)
c, _ = r.reply()
check('greeting -> 220', c == 220, 220, c)
r.send('EHLO client.test\r\n')
c, lines = r.reply()
check('raw EHLO -> 250', c == 250, 250, c)
b1, b2 = make_body('t11-pipe-1', 1500), make_body('t11-pipe-2', 2500)
r.send('MAIL FROM:<pipe@example.org>\r\nRCPT TO:<root@localhost>\r\n'
       'RCPT TO:<nosuchuser-t11@localhost>\r\nRCPT TO:<postmaster@localhost>\r\n'
       'DATA\r\n')
want = [250, 250, 550, 250, 354]
codes = [r.reply()[0] for _ in want]
check('pipelined MAIL,RCPT,RCPT(unknown),RCPT,DATA', codes == want, want, codes)
r.send(stuff(b1) + b'MAIL FROM:<pipe@example.org>\r\nRCPT TO:<root@localhost>\r\nDATA\r\n')
want = [250, 250, 250, 354]
reps = [r.reply() for _ in want]
codes = [x[0] for x in reps]
check('pipelined end-of-data,MAIL,RCPT,DATA', codes == want, want, codes)
q1 = parse_queued(reps[0][1][-1][4:]) if reps[0][1] else None
r.send(stuff(b2) + b'NOOP\r\nQUIT\r\n')
want = [250, 250, 221]
reps = [r.reply() for _ in want]
codes = [x[0] for x in reps]
check('pipelined end-of-data,NOOP,QUIT', codes == want, want, codes)
q2 = parse_queued(reps[0][1][-1][4:]) if reps[0][1] else None
check('both pipelined messages got "queued as QID"', bool(q1 and q2), 'two QIDs', (q1, q2))
if q1:
    accepted.append((q1, sha256(b1), ['root@localhost', 'postmaster@localhost']))
if q2:
    accepted.append((q2, sha256(b2), ['root@localhost']))
r.close()

# 3. RCPT to an unknown local user.
s = smtplib.SMTP(H, P, timeout=30, local_hostname='client.test')
s.ehlo()
s.mail('sender@example.org')
ok, got = reply_is(s.rcpt('no-such-user-t11@localhost'), 550, '5.1.1')
check('RCPT to an unknown local user -> 550 5.1.1', ok, '550 5.1.1', got)
ok, got = reply_is(s.rcpt('root@localhost'), 250, '2.')
check('RCPT root@localhost after that -> 250', ok, '250 2.x.x', got)
s.quit()

# 4. Relaying from 127.0.0.2, outside relay-network 127.0.0.1/32; local
#    recipients are still fine from there, and 127.0.0.1 may relay.
s = smtplib.SMTP(H, P, timeout=30, local_hostname='outside.test',
                 source_address=('127.0.0.2', 0))
s.ehlo()
s.mail('sender@example.org')
ok, got = reply_is(s.rcpt('someone@relay.example'), 550, '5.7.1')
check('relay from 127.0.0.2 (outside relay-network) -> 550 5.7.1', ok, '550 5.7.1', got)
ok, got = reply_is(s.rcpt('root@localhost'), 250, '2.')
check('local RCPT from 127.0.0.2 -> 250', ok, '250 2.x.x', got)
s.rset()
s.quit()
s = smtplib.SMTP(H, P, timeout=30, local_hostname='client.test')
s.ehlo()
s.mail('sender@example.org')
ok, got = reply_is(s.rcpt('someone@relay.example'), 250, '2.')
check('relay from 127.0.0.1 (inside relay-network) -> 250', ok, '250 2.x.x', got)
s.quit()

# 5. MAIL before HELO/EHLO.
s = smtplib.SMTP(H, P, timeout=30)
ok, got = reply_is(s.docmd('MAIL', 'FROM:<sender@example.org>'), 503, '5.5.1')
check('MAIL before HELO -> 503 5.5.1', ok, '503 5.5.1', got)
s.quit()

# 6. Everything accepted is in the spool, intact.
for qid, h, rcpts in accepted:
    errs = check_msg(spool, qid, h, rcpts)
    check('%s in the spool with its body and recipients' % qid, not errs, 'intact', errs)
check('5 messages accepted', len(accepted) == 5, 5, len(accepted))
T.done()
EOF

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
