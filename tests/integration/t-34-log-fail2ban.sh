#!/bin/bash
# t-34-log-fail2ban: every kind of refused command is logged (unknown
# command, HELO/EHLO syntax, NUL, bare LF, an overlong line, VRFY, relay
# and recipient refusals, a message over max-message-size with the queue
# ID it discarded, a failed TLS handshake), at most 5 per session and a
# count of the rest; and client text cannot forge a field.  A client at
# 127.0.0.7 sends senders, recipients, HELO names and command lines that
# carry "client=6.6.6.6"; then the fail2ban filter of strictmaild(8)
# LOGGING, with <HOST> expanded as fail2ban expands it (and a careless
# greedy "client=<HOST>" too), is run over every line of the log: it
# matches the refusals and captures 127.0.0.7 only.
. "$(dirname "$0")/lib.sh"
t_init

ip -n "$T_NS" addr add 127.0.0.7/8 dev lo 2>/dev/null || true
pki=$T_DIR/pki
sm_pki "$pki"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "listen 127.0.0.1 25 smtp" \
    "listen 127.0.0.1 465 tls" \
    "tls-certificate $pki/valid.pem" "tls-key $pki/valid.key" \
    "max-message-size 10000" "error-delay 0" "local-domain localhost" \
    "relay-network 127.0.0.1/32"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

sm_py_fg - <<'EOF' || t_fail_py
import socket
from smtest import Raw, Checker

r = Checker()
SRC = '127.0.0.7'
EVIL = '"a b client=6.6.6.6"@example.org'

def session():
    c = Raw('127.0.0.1', 25, source=SRC, timeout=20)
    code, _ = c.reply()
    r.check('greeting', code == 220, 220, code)
    return c

def expect(c, data, want, what):
    c.send(data)
    code, lines = c.reply()
    r.check(what, code == want, want, '%s %s' % (code, lines[-1:]))

# One session, five refusals: line faults, an unknown command, a bad
# HELO; the HELO name it gave is hostile too.
c = session()
expect(c, b'EHLO good.test\r\n', 250, 'EHLO')
expect(c, b'XCLIENT ADDR=6.6.6.6 " client=6.6.6.6\r\n', 500, 'unknown command')
expect(c, b'EHLO client=6.6.6.6\r\n', 250, 'hostile EHLO')
expect(c, b'HELO\r\n', 501, 'HELO syntax')
expect(c, b'NOOP \x00 client=6.6.6.6\r\n', 500, 'NUL')
expect(c, b'NOOP client=6.6.6.6\n', 500, 'bare LF')
expect(c, b'VRFY <client=6.6.6.6>\r\n', 252, 'VRFY')
expect(c, b'QUIT\r\n', 221, 'QUIT')
c.close()

# Relay and recipient refusals with a hostile sender; an overlong line.
c = session()
expect(c, b'EHLO good.test\r\n', 250, 'EHLO')
expect(c, ('MAIL FROM:<%s>\r\n' % EVIL).encode(), 250, 'hostile MAIL')
expect(c, b'RCPT TO:<"x client=6.6.6.6"@elsewhere.example>\r\n', 550,
       'relay refused')
expect(c, b'RCPT TO:<"nobody client=6.6.6.6"@localhost>\r\n', 550,
       'unknown user')
expect(c, b'NOOP ' + b'client=6.6.6.6 ' * 600 + b'\r\n', 500, 'overlong line')
expect(c, b'QUIT\r\n', 221, 'QUIT')
c.close()

# A message over max-message-size: 552, its queue file discarded.
c = session()
expect(c, b'EHLO good.test\r\n', 250, 'EHLO')
expect(c, ('MAIL FROM:<%s>\r\n' % EVIL).encode(), 250, 'MAIL')
expect(c, b'RCPT TO:<postmaster@localhost>\r\n', 250, 'RCPT')
expect(c, b'DATA\r\n', 354, 'DATA')
expect(c, b'Subject: big\r\n\r\n' + (b'x' * 70 + b'\r\n') * 300 + b'.\r\n',
       552, 'too big')
expect(c, b'QUIT\r\n', 221, 'QUIT')
c.close()

# Eight refusals in one session: 5 logged, "3 more refusals not logged".
c = session()
for i in range(8):
    expect(c, b'BOGUS%d client=6.6.6.6\r\n' % i, 500, 'flood %d' % i)
expect(c, b'QUIT\r\n', 221, 'QUIT')
c.close()

# A TLS listener that gets no TLS.
s = socket.create_connection(('127.0.0.1', 465), timeout=20,
                             source_address=(SRC, 0))
s.sendall(b'EHLO client=6.6.6.6\r\n' * 4)
try:
    while s.recv(4096):
        pass
except OSError:
    pass
s.close()
r.done()
EOF

sm_wait_log "$log" 'tls handshake failed client=127\.0\.0\.7 ' "$SM_PID" 10 ||
    t_fail "\"tls handshake failed client=127.0.0.7\" in the log" "$(grep -c 'tls' "$log") tls lines"
sm_wait_log "$log" '3 more refusals not logged' "$SM_PID" 10 ||
    t_fail "\"3 more refusals not logged\" for the flood" "$(grep -c BOGUS "$log") lines"
sm_stop "$SM_PID" 30 || t_fail "exit within 30 s of SIGTERM" "still running"

# Each kind of refusal has its reject line, fields escaped.
want=(
 'reject client=127\.0\.0\.7 cmd=UNKNOWN helo=good\.test line="XCLIENT ADDR\\x3d6\.6\.6\.6 \\" client\\x3d6\.6\.6\.6" reply="500 5\.5\.1 '
 'reject client=127\.0\.0\.7 cmd=HELO helo="client\\x3d6\.6\.6\.6" line=HELO reply="501 5\.5\.4 '
 'reject client=127\.0\.0\.7 cmd=UNKNOWN helo="client\\x3d6\.6\.6\.6" line="NOOP \\x00 client\\x3d6\.6\.6\.6" reply="500 5\.5\.2 Error: NUL '
 'reject client=127\.0\.0\.7 cmd=UNKNOWN helo="client\\x3d6\.6\.6\.6" line="NOOP client\\x3d6\.6\.6\.6" reply="500 5\.5\.2 Error: bare LF '
 'reject client=127\.0\.0\.7 cmd=VRFY helo="client\\x3d6\.6\.6\.6" line="VRFY <client\\x3d6\.6\.6\.6>" reply="252 '
 'reject client=127\.0\.0\.7 cmd=RCPT helo=good\.test from="<\\"a b client\\x3d6\.6\.6\.6\\"@example\.org>" to="<\\"x client\\x3d6\.6\.6\.6\\"@elsewhere\.example>" line=".*" reply="550 5\.7\.1 <\\"x client\\x3d6\.6\.6\.6\\"@elsewhere\.example>: Relay access denied"'
 'reject client=127\.0\.0\.7 cmd=RCPT helo=good\.test from="<\\"a b client\\x3d6\.6\.6\.6\\"@example\.org>" to="<\\"nobody client\\x3d6\.6\.6\.6\\"@localhost>" line=".*" reply="550 5\.1\.1 '
 'reject client=127\.0\.0\.7 cmd=UNKNOWN helo=good\.test from="<\\"a b client\\x3d6\.6\.6\.6\\"@example\.org>" .*reply="500 5\.5\.2 Error: line too long"'
 'reject client=127\.0\.0\.7 cmd=DATA helo=good\.test from="<\\"a b client\\x3d6\.6\.6\.6\\"@example\.org>" qid=[0-9A-F]{16} reply="552 5\.3\.4 '
 'session=[0-9a-f]{12}\.[0-9]+ client=127\.0\.0\.7 3 more refusals not logged'
 'session=[0-9a-f]{12}\.[0-9]+ tls handshake failed client=127\.0\.0\.7 error='
)
for p in "${want[@]}"; do
	grep -Eq -- "$p" "$log" || t_fail "a log line matching '$p'" "$(grep -F '127.0.0.7' "$log" | tail -n 12)"
done
n=$(grep -c 'reject client=127\.0\.0\.7 .*BOGUS' "$log")
[ "$n" = 5 ] || t_fail "5 reject lines of the flood of 8" "$n"
qid=$(grep -Eo 'cmd=DATA .* qid=[0-9A-F]{16}' "$log" | grep -Eo '[0-9A-F]{16}$' | head -n 1)
[ -n "$qid" ] || t_fail "the queue ID in the 552 line" "none"
grep -Eq "strictmail/queue\[[0-9]+\]: $qid: discarded" "$log" ||
    t_fail "the queue's \"$qid: discarded\" for the 552 message" "$(grep -F "$qid" "$log")"
say "every kind of refusal logged, the 552 names $qid, the flood counted"

# The fail2ban filter of strictmaild(8), over every line.
"$PY" - "$log" "$SM_TOP/daemon/strictmaild.8" <<'EOF' || t_fail_py
import re
import sys
from smtest import Checker

r = Checker()
log, man = sys.argv[1], sys.argv[2]

# fail2ban's <HOST> (fail2ban/server/failregex.py, R_HOST[RI_HOST]).
IP4 = r'(?:\d{1,3}\.){3}\d{1,3}'
IP6 = r'(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)'
ADDR = r'\[?(?:(?:::f{4,6}:)?(?P<ip4>%s)|(?P<ip6>%s))\]?' % (IP4, IP6)
HOST = r'(?:%s|(?P<dns>[\w\-.^_]*\w))' % ADDR

def f2b(rx):
    return re.compile(rx.replace('<HOST>', HOST, 1))

def host(m):
    return m.group('ip4') or m.group('ip6') or m.group('dns')

# The failregex lines of the example in the man page (roff escapes undone).
text = open(man, encoding='utf-8').read()
ex = re.search(r'failregex = (.*?)\nignoreregex', text, re.S)
r.check('a fail2ban example in strictmaild.8', ex is not None, 'failregex',
        'none')
rxs = [l.strip().replace('\\e', '\\').replace('\\&', '')
       for l in ex.group(1).split('\n') if l.strip() and not l.startswith('.')]
r.check('two failregex lines', len(rxs) == 2, 2, rxs)
# fail2ban's %(__prefix_line)s takes the syslog header; -d writes
# "TIME strictmail/smtpd[PID]: ", taken the same way here.
PREFIX = r'^\S+ strictmail/smtpd\[\d+\]: '
doc = [f2b(rx.replace('^%(__prefix_line)s', PREFIX)) for rx in rxs]
greedy = f2b(r'^.*client=<HOST>')

lines = open(log, encoding='utf-8', errors='replace').read().splitlines()
r.check('hostile text in the log', any('6.6.6.6' in l for l in lines),
        'some line with 6.6.6.6', 'none')
hits = 0
for l in lines:
    for rx in doc:
        m = rx.search(l)
        if m:
            hits += 1
            r.check('documented filter on %r' % l, host(m) == '127.0.0.7',
                    '127.0.0.7', host(m))
    m = greedy.search(l)
    if m:
        r.check('greedy client=<HOST> on %r' % l,
                host(m) in ('127.0.0.7', '127.0.0.1'), '127.0.0.7',
                host(m))
    r.check('one client= in %r' % l, l.count('client=') <= 1, '<= 1',
            l.count('client='))
    r.check('no control octet in %r' % l,
            not re.search(r'[\x00-\x1f\x7f]', l), 'none', 'some')
# 5 + 3 + 1 + 5 refusals of 127.0.0.7 logged, and the TLS failure.
r.check('lines the filter matches', hits == 15, 15, hits)
r.done()
EOF
say "the fail2ban filter captures 127.0.0.7 only, $(grep -c 'client=127\.0\.0\.7' "$log") lines of that client"
t_pass
