#!/bin/bash
# t-16-ready: the "ready: listening on" line means every process is ready.
# A first run commits a few hundred messages and stops; a second start on
# that spool (with a TLS certificate, so smtpd waits for it) must log the
# queue's "recovery: incoming/ emptied" line before the parent's "ready:
# listening on" line, then "ready in N ms"; a client that connects as soon
# as the ready line is there gets its greeting, an EHLO with STARTTLS and a
# 250 for a message at once, while the queue may still be checking the
# messages in queue/; its summary line then counts all N of them (not
# the new one).
. "$(dirname "$0")/lib.sh"
t_init

N=${T16_MESSAGES:-300}
pki=$T_DIR/pki
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log1=$T_DIR/daemon1.log
log2=$T_DIR/daemon2.log
sm_pki "$pki"
sm_config "$conf" "$spool" "tls-certificate $pki/valid.pem" \
    "tls-key $pki/valid.key"

# ---- first run: fill the spool over SMTP
sm_start_ready "$conf" "$log1"
sm_py_fg - "$N" <<'EOF' || t_fail_py
import smtplib, sys
from smtest import make_body, parse_queued, Checker

T = Checker()
n = int(sys.argv[1])
s = smtplib.SMTP('127.0.0.1', 25, timeout=60, local_hostname='fill.test')
s.ehlo()
ok = 0
for i in range(n):
    s.mail('fill@example.org')
    s.rcpt('root@localhost')
    code, text = s.data(make_body('t16-%d' % i, 600))
    if code == 250 and parse_queued(text):
        ok += 1
s.quit()
T.check('%d messages committed' % n, ok == n, n, ok)
T.done()
EOF
sm_stop "$SM_PID" 30 || t_fail "the first run to stop within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after the first run" "$SM_RC"
say "$N messages committed, daemon stopped"

# ---- second run: recovery, then ready; a client right after the line
sm_start "$conf" "$log2"
sm_wait_log "$log2" 'strictmail/strictmaild\[[0-9]+\]: ready: listening on' "$SM_PID" 60 ||
    t_fail "the second start ready within 60 s" "$(tail -n 3 "$log2" | tr '\n' '|')"
sm_py_fg - <<'EOF' || t_fail_py
import smtplib, time
from smtest import Raw, make_body, parse_queued, Checker

T = Checker()
t0 = time.monotonic()
c = Raw('127.0.0.1', 25, timeout=10)
code, lines = c.reply()
greet = time.monotonic() - t0
T.check('a 220 greeting at once', code == 220 and greet < 2.0,
        '220 in under 2 s', '%s after %.3f s' % (code, greet))
code, lines = c.cmd('EHLO ready.test')
T.check('250 to EHLO with STARTTLS (the certificate is there)',
        code == 250 and any('STARTTLS' in l for l in lines),
        '250 with STARTTLS', '%s %s' % (code, lines))
c.cmd('QUIT')
c.close()
t0 = time.monotonic()
s = smtplib.SMTP('127.0.0.1', 25, timeout=10, local_hostname='ready.test')
s.ehlo()
s.mail('ready@example.org')
s.rcpt('root@localhost')
code, text = s.data(make_body('t16-after-ready', 600))
s.quit()
took = time.monotonic() - t0
T.check('250 for a message at once', code == 250 and parse_queued(text)
        and took < 3.0, '250 in under 3 s', '%s %s after %.3f s' % (code, text, took))
T.done()
EOF

# The order of the lines in the second run's log.
line_of() { grep -n -E -m 1 -- "$1" "$log2" | cut -d: -f1; }
sm_wait_log "$log2" 'strictmail/queue\[[0-9]+\]: recovery: [0-9]+ messages in queue' "$SM_PID" 60 ||
    t_fail "the queue's recovery summary within 60 s" "$(grep 'recovery:' "$log2" | tail -n 2 | tr '\n' '|')"
rec=$(line_of 'strictmail/queue\[[0-9]+\]: recovery: incoming/ emptied')
rdy=$(line_of 'strictmail/strictmaild\[[0-9]+\]: ready: listening on 127\.0\.0\.1:25 \(smtp\)')
took=$(line_of 'strictmail/strictmaild\[[0-9]+\]: ready in [0-9]+ ms')
tlsok=$(line_of 'strictmail/smtpd\[[0-9]+\]: tls: certificate and key loaded')
[ -n "$rec" ] || t_fail "a recovery: incoming/ emptied line from the queue" "none"
[ -n "$rdy" ] || t_fail "a ready: listening on line" "none"
[ -n "$took" ] || t_fail "a \"ready in N ms\" line" "none"
[ -n "$tlsok" ] || t_fail "smtpd's \"tls: certificate and key loaded\" line" "none"
grep -q -E "recovery: $N messages in queue, 0 moved to corrupt/, 0 unfinished removed" "$log2" ||
    t_fail "recovery of $N messages" "$(grep -m 1 'recovery:' "$log2")"
[ "$rec" -lt "$rdy" ] ||
    t_fail "recovery: (line $rec) before ready: listening on" "line $rdy"
[ "$tlsok" -lt "$rdy" ] ||
    t_fail "smtpd's certificate (line $tlsok) before ready: listening on" "line $rdy"
[ "$rdy" -lt "$took" ] ||
    t_fail "ready in N ms (line $took) after ready: listening on" "line $rdy"
n=$(grep -c -E 'strictmaild\[[0-9]+\]: ready: listening on' "$log2")
[ "$n" = 1 ] || t_fail "one ready: listening on line (one listener)" "$n"
say "recovery at line $rec, ready at line $rdy: $(sed -n "${took}p" "$log2" | sed 's/.*: ready in/ready in/')"

sm_stop "$SM_PID" 30 || t_fail "strictmaild to stop within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0" "$SM_RC"
t_pass
