#!/bin/bash
# t-67-auth: AUTH on submission with Python's smtplib, over 587 with
# starttls() and over 465 with SMTP_SSL (test CA, tests/pki); the mail of
# a test user goes by LMTP to a sink in the namespace (authsink.py), which shows
# what strictmail stored:
#   - port 25 never offers AUTH (502 5.5.1); 587 offers it only after
#     STARTTLS (before: not in EHLO, AUTH answered 538 5.7.11); 465 always;
#   - the right password: 235 2.7.0 (PLAIN with smtplib's login(), LOGIN
#     through auth()), the authenticated user may relay (RCPT to a remote
#     domain 250), the message reaches the sink with "with ESMTPSA" and
#     "(authenticated as alice)" (received-auth yes) in Received;
#   - a message without Date and Message-ID gets one of each, added
#     before the body; one that has them keeps them, not duplicated;
#   - a wrong password: 535 5.7.8, after auth-failure-delay (1 s, then
#     2 s), and the third failure of a session is 421 and the end of it;
#   - a sender that is not the user's: 553 5.7.1; the user's own: 250;
#   - AUTH twice 503 5.5.1, "*" 501 5.0.0, bad base64 501 5.5.2;
#   - without AUTH, from an address outside relay-network, relaying is
#     refused (550 5.7.1) on 587 too;
#   - the lock-out: after auth-lockout-failures (4) failures from
#     127.0.0.3, a new connection from there gets 454 4.7.0 even with the
#     right password while 127.0.0.1 authenticates; after
#     auth-lockout-time (12 s) it works again;
#   - the log names client and user of each failure, never the password.
. "$(dirname "$0")/lib.sh"
t_init

bindir=$(dirname "$SM_BIN")
CTL=$bindir/strictmailctl
[ -x "$CTL" ] || t_fail "an executable strictmailctl next to $SM_BIN" "none"
pki=$T_DIR/pki
sm_pki "$pki"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sink=$T_DIR/sink
mkdir -p "$sink"
for a in 127.0.0.2 127.0.0.3; do
	ip -n "$T_NS" addr add "$a/32" dev lo 2>/dev/null
done

# Credentials: alice (a login name) and bob@example.org (an address).
passwd=$T_DIR/passwd
# A name of this run's own: the other mode's run may be going at the same
# time, and each deletes its user at the end.
RCPT_USER=t67r$$
t_user_add "$RCPT_USER" "$T_DIR/home" || t_fail "test user $RCPT_USER" "useradd failed"
printf 'Alice-Secret-1\n' | "$CTL" passwd alice -f "$passwd" > "$T_DIR/passwd.out" 2>&1 ||
    t_fail "strictmailctl passwd alice" "$(cat "$T_DIR/passwd.out")"
# The lookup process (user-lookup) reads the map through its group; the
# map takes the group of its source.
if getent group _sm-lookup >/dev/null; then
	chgrp _sm-lookup "$passwd" || t_fail "chgrp _sm-lookup $passwd" "an error"
fi
printf 'bob pw 2\n' | "$CTL" passwd bob@example.org -f "$passwd" >> "$T_DIR/passwd.out" 2>&1 ||
    t_fail "strictmailctl passwd bob@example.org" "$(cat "$T_DIR/passwd.out")"

ip netns exec "$T_NS" "$PY" "$T_LIB/authsink.py" 127.0.0.1 2526 "$sink" \
    "$pki/valid.pem" "$pki/valid.key" \
    > "$T_DIR/sink.log" 2>&1 &
T_HELPERS="$T_HELPERS $!"

sm_config "$conf" "$spool" "hostname mx.example.test" \
    "listen 127.0.0.1 25 smtp" "listen 127.0.0.1 587 submission" \
    "listen 127.0.0.1 465 tls" \
    "tls-certificate $pki/valid.pem" "tls-key $pki/valid.key" \
    "local-domain mx.example.test localhost" \
    "relay-network 127.0.0.9/32" \
    "mailbox-user $RCPT_USER lmtp" "lmtp-socket 127.0.0.1:2526" \
    "credentials $passwd" "auth-max-failures 3" "auth-lockout-failures 4" \
    "auth-lockout-time 12s" "auth-failure-delay 1s" "received-auth yes" \
    "max-errors 100" "retry-initial 1h"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

export RCPT_USER
sm_py_fg - "$pki/ca.pem" "$sink" <<'EOF' || t_fail_py
import os, re, smtplib, ssl, sys, time, base64
from smtest import Checker, wait_for

ca, sink = sys.argv[1], sys.argv[2]
RCPT = os.environ['RCPT_USER']
H = '127.0.0.1'
T = Checker()
check = T.check
ctx = ssl.create_default_context(cafile=ca)


def txt(r):
    c, t = r
    return '%s %s' % (c, t.decode('utf-8', 'replace') if isinstance(t, bytes) else t)


def is_reply(r, code, enh):
    return r[0] == code and txt(r).split(' ', 2)[1:2] == [enh]


def sub(src='127.0.0.1', helo='client.test'):
    s = smtplib.SMTP(H, 587, timeout=60, local_hostname=helo,
                     source_address=(src, 0))
    s.ehlo()
    s.starttls(context=ctx)
    s.ehlo()
    return s


def plain(user, pw):
    return base64.b64encode(b'\0' + user.encode() + b'\0' + pw.encode()).decode()


def sunk(n):
    """The n-th message the sink took (1-based): (envelope, content)."""
    p = os.path.join(sink, '%d.eml' % n)
    if not wait_for(lambda: os.path.exists(p), 30):
        return None, None
    env = open(os.path.join(sink, '%d.env' % n)).read().split('\n')
    return env, open(p, 'rb').read()


def header(msg, name):
    head = msg.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace')
    head = re.sub(r'\r\n[ \t]+', ' ', head)
    return [l.split(':', 1)[1].strip() for l in head.split('\r\n')
            if l.lower().startswith(name.lower() + ':')]


# 1. Port 25: no AUTH.
s = smtplib.SMTP(H, 25, timeout=30, local_hostname='client.test')
s.ehlo()
check('port 25: EHLO without AUTH', not s.has_extn('auth'), 'no AUTH',
      ' '.join(sorted(s.esmtp_features)))
r = s.docmd('AUTH', 'PLAIN ' + plain('alice', 'Alice-Secret-1'))
check('port 25: AUTH -> 502 5.5.1', is_reply(r, 502, '5.5.1'), '502 5.5.1', txt(r))
s.quit()

# 2. 587 before STARTTLS: not offered, 538 5.7.11.
s = smtplib.SMTP(H, 587, timeout=30, local_hostname='client.test')
s.ehlo()
check('587 before STARTTLS: EHLO without AUTH', not s.has_extn('auth'),
      'no AUTH', ' '.join(sorted(s.esmtp_features)))
r = s.docmd('AUTH', 'PLAIN ' + plain('alice', 'Alice-Secret-1'))
check('587: AUTH before STARTTLS -> 538 5.7.11', is_reply(r, 538, '5.7.11'),
      '538 5.7.11', txt(r))
s.quit()

# 3. 587 with STARTTLS: AUTH PLAIN LOGIN, the right password, relay,
#    a message without Date and Message-ID.
s = sub()
check('587 after STARTTLS: EHLO offers AUTH PLAIN LOGIN',
      s.has_extn('auth') and set(s.esmtp_features['auth'].upper().split()) == {'PLAIN', 'LOGIN'},
      'AUTH PLAIN LOGIN', s.esmtp_features.get('auth'))
r = s.login('alice', 'Alice-Secret-1')
check('587: login(alice, right password) -> 235 2.7.0', is_reply(r, 235, '2.7.0'),
      '235 2.7.0', txt(r))
r = s.docmd('AUTH', 'PLAIN ' + plain('alice', 'Alice-Secret-1'))
check('AUTH twice -> 503 5.5.1', is_reply(r, 503, '5.5.1'), '503 5.5.1', txt(r))
r = s.mail('bob@example.org')
check("MAIL FROM another user's address -> 553 5.7.1", is_reply(r, 553, '5.7.1'),
      '553 5.7.1', txt(r))
r = s.mail('someone@elsewhere.test')
check('MAIL FROM a foreign address -> 553 5.7.1', is_reply(r, 553, '5.7.1'),
      '553 5.7.1', txt(r))
r = s.mail('alice@mx.example.test')
check("MAIL FROM alice's own address -> 250", r[0] == 250, 250, txt(r))
r = s.rcpt('carol@remote.test')
check('authenticated RCPT to a remote domain (relay) -> 250', r[0] == 250, 250, txt(r))
r = s.rcpt(RCPT + '@localhost')
check('RCPT %s@localhost -> 250' % RCPT, r[0] == 250, 250, txt(r))
body1 = b'Subject: t67 no headers\r\nFrom: alice@mx.example.test\r\n\r\nbody one\r\n'
r = s.data(body1)
check('DATA -> 250', r[0] == 250, 250, txt(r))
s.quit()
env, msg = sunk(1)
check('the sink received the relayed message', msg is not None, 'a message', None)
if msg:
    check('sink envelope', env[0] == 'alice@mx.example.test' and RCPT in env[1],
          'alice@mx.example.test -> ' + RCPT, env)
    rec = header(msg, 'Received')
    check('Received says "with ESMTPSA"', bool(rec) and 'with ESMTPSA' in rec[0],
          'with ESMTPSA', rec[:1])
    check('Received says "(authenticated as alice)" (received-auth yes)',
          bool(rec) and '(authenticated as alice)' in rec[0], '(authenticated as alice)', rec[:1])
    d, m = header(msg, 'Date'), header(msg, 'Message-ID')
    check('one Date added', len(d) == 1 and re.match(r'^\w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d \+0000$', d[0]),
          'one Date', d)
    check('one Message-ID <...@mx.example.test> added',
          len(m) == 1 and re.match(r'^<[^@<>]+@mx\.example\.test>$', m[0]), 'one Message-ID', m)
    check('the body is intact after the added fields',
          msg.endswith(b'\r\n\r\nbody one\r\n') and b'Subject: t67 no headers' in msg,
          'body one', msg[-60:])

# 4. 465 with SMTP_SSL, AUTH LOGIN for bob@example.org; a message with
#    Date and Message-ID keeps them.
s = smtplib.SMTP_SSL(H, 465, timeout=60, local_hostname='client.test', context=ctx)
s.ehlo()
check('465: EHLO offers AUTH', s.has_extn('auth'), 'AUTH', ' '.join(sorted(s.esmtp_features)))
r = s.docmd('AUTH', 'LOGIN')
check('AUTH LOGIN -> 334 VXNlcm5hbWU6', r[0] == 334 and r[1] == b'VXNlcm5hbWU6', '334 VXNlcm5hbWU6', txt(r))
r = s.docmd('*')
check('"*" -> 501 5.0.0', is_reply(r, 501, '5.0.0'), '501 5.0.0', txt(r))
r = s.docmd('AUTH', 'PLAIN %%%%')
check('bad base64 -> 501 5.5.2', is_reply(r, 501, '5.5.2'), '501 5.5.2', txt(r))
s.user, s.password = 'bob@example.org', 'bob pw 2'
r = s.auth('LOGIN', s.auth_login, initial_response_ok=False)
check('465: AUTH LOGIN bob@example.org -> 235 2.7.0', is_reply(r, 235, '2.7.0'), '235 2.7.0', txt(r))
r = s.mail('alice@mx.example.test')
check("bob: MAIL FROM alice's address -> 553 5.7.1", is_reply(r, 553, '5.7.1'), '553 5.7.1', txt(r))
r = s.mail('bob@example.org')
check('bob: MAIL FROM bob@example.org -> 250', r[0] == 250, 250, txt(r))
s.rcpt('dave@remote.test')
s.rcpt(RCPT + '@localhost')
body2 = (b'Subject: t67 with headers\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n'
         b'Message-ID: <own-t67@client.test>\r\n\r\nbody two\r\n')
r = s.data(body2)
check('465: DATA -> 250', r[0] == 250, 250, txt(r))
s.quit()
env, msg = sunk(2)
check('the sink received the second message', msg is not None, 'a message', None)
if msg:
    d, m = header(msg, 'Date'), header(msg, 'Message-ID')
    check('Date kept, not duplicated', d == ['Tue, 1 Dec 2026 10:00:00 +0000'], 'the own Date', d)
    check('Message-ID kept, not duplicated', m == ['<own-t67@client.test>'], 'the own Message-ID', m)
    rec = header(msg, 'Received')
    check('465: Received "with ESMTPSA", authenticated as bob@example.org',
          bool(rec) and 'with ESMTPSA' in rec[0] and 'authenticated as bob@example.org' in rec[0],
          'ESMTPSA, bob@example.org', rec[:1])

# 5. No AUTH, outside relay-network: relaying refused on 587 too.
s = sub()
s.mail('x@example.org')
r = s.rcpt('carol@remote.test')
check('587 without AUTH from 127.0.0.1 (not in relay-network): relay -> 550 5.7.1',
      is_reply(r, 550, '5.7.1'), '550 5.7.1', txt(r))
s.quit()

# 6. Wrong passwords from 127.0.0.2: 535 after the delay, growing; the
#    third ends the session with 421.
s = sub('127.0.0.2')
times = []
for i in range(3):
    t0 = time.monotonic()
    try:
        r = s.docmd('AUTH', 'PLAIN ' + plain('alice', 'wrong-%d' % i))
    except smtplib.SMTPServerDisconnected as e:
        r = (0, str(e).encode())
    times.append(time.monotonic() - t0)
    if i < 2:
        check('wrong password %d -> 535 5.7.8' % (i + 1), is_reply(r, 535, '5.7.8'), '535 5.7.8', txt(r))
    else:
        check('third failure -> 421 4.7.0', is_reply(r, 421, '4.7.0'), '421 4.7.0', txt(r))
check('first 535 after >= 1 s (auth-failure-delay)', times[0] >= 0.95, '>= 1 s', '%.2f s' % times[0])
check('second 535 after >= 2 s (the delay grows)', times[1] >= 1.95, '>= 2 s', '%.2f s' % times[1])
try:
    s.noop()
    closed = False
except (smtplib.SMTPServerDisconnected, OSError):
    closed = True
check('the session is closed after the 421', closed, 'closed', 'still open')

# 7. Lock-out: 4 failures from 127.0.0.3, in two sessions.
for sess in range(2):
    s = sub('127.0.0.3')
    for i in range(2):
        r = s.docmd('AUTH', 'PLAIN ' + plain('bob@example.org', 'nope'))
        check('127.0.0.3 failure -> 535', r[0] == 535, 535, txt(r))
    s.quit()
locked_at = time.monotonic()
s = sub('127.0.0.3')
r = s.docmd('AUTH', 'PLAIN ' + plain('bob@example.org', 'bob pw 2'))
check('locked-out 127.0.0.3, right password -> 454 4.7.0', is_reply(r, 454, '4.7.0'), '454 4.7.0', txt(r))
s.quit()
s = sub('127.0.0.1')
r = s.login('alice', 'Alice-Secret-1')
check('127.0.0.1 meanwhile -> 235', r[0] == 235, 235, txt(r))
s.quit()
time.sleep(max(0, 12.5 - (time.monotonic() - locked_at)))
s = sub('127.0.0.3')
r = s.docmd('AUTH', 'PLAIN ' + plain('bob@example.org', 'bob pw 2'))
check('127.0.0.3 after auth-lockout-time -> 235', is_reply(r, 235, '2.7.0'), '235 2.7.0', txt(r))
s.quit()
T.done()
EOF

# The log: each failure with client and user; no password anywhere.
grep -q 'auth: client=127.0.0.2 user=alice: failed, failures=1' "$log" ||
    t_fail "a log line 'auth: client=127.0.0.2 user=alice: failed, failures=1'" \
    "$(grep 'auth:' "$log" | head -n 3 | tr '\n' '|')"
grep -q 'auth: client=127.0.0.3 user=bob@example.org: locked out' "$log" ||
    t_fail "a log line for the locked-out client" "$(grep 'auth:' "$log" | tail -n 3 | tr '\n' '|')"
for pw in Alice-Secret-1 'bob pw 2' wrong-0 wrong-1 nope \
    "$(printf '\0alice\0Alice-Secret-1' | base64)"; do
	! grep -qF -- "$pw" "$log" || t_fail "no password in the log" "$(grep -F -- "$pw" "$log" | head -n 1)"
done

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
