#!/bin/bash
# t-35-reload: SIGHUP re-reads the whole configuration.  A session is open
# under the first file (hostname mx1.test, max-message-size 10k,
# relay-network 127.0.0.1/32); the file is rewritten (mx2.test, 20k, relay
# only for 10.0.0.0/8, and a second listener) and strictmaild gets SIGHUP.
# A new session then greets as mx2.test, offers SIZE 20480, takes a 15 kB
# message and refuses to relay; the session opened before still offers
# SIZE 10240 and relays; the new listener is logged as "listen: needs a
# restart" and not opened, the old one still answers.  A file with an
# error on line 4, and one with relay-network 0.0.0.0/0, with SIGHUP, are
# logged with file:line and leave the settings as they were.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "hostname mx1.test" "max-message-size 10k" \
    "relay-network 127.0.0.1/32"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

sm_py_fg - "$SM_PID" "$spool" "$conf" "$log" <<'EOF' || t_fail_py
import os, signal, smtplib, socket, sys
from smtest import make_body, Checker, wait_for, log_has

pid, spool, conf, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
T = Checker()
check = T.check


def write_conf(lines):
    with open(conf + '.new', 'w') as f:
        f.write(''.join(l + '\n' for l in lines))
    os.rename(conf + '.new', conf)


def base(host, size, nets, extra=()):
    return (['# t-34', 'hostname %s' % host, 'spool %s' % spool,
             'listen 127.0.0.1 25 smtp'] + list(extra) +
            ['min-free-space 0', 'shutdown-timeout 10s',
             'max-message-size %s' % size, 'relay-network %s' % nets])


def log_count(needle):
    with open(log, 'rb') as f:
        return f.read().count(needle.encode())


def reload(needle, also=None):
    n = log_count(needle)
    m = log_count(also) if also else 0
    os.kill(pid, signal.SIGHUP)
    ok = wait_for(lambda: log_count(needle) > n, 10, 0.1)
    check('SIGHUP logs "%s"' % needle, ok, 'the line', 'none in 10 s')
    if also:
        # The parent's line comes when it has sent the settings; smtpd's
        # when it has taken them, and only then do new sessions get them.
        ok = wait_for(lambda: log_count(also) > m, 10, 0.1)
        check('SIGHUP logs "%s"' % also, ok, 'the line', 'none in 10 s')


def session():
    return smtplib.SMTP('127.0.0.1', 25, timeout=20, local_hostname='client.test')


def greet(s):
    code, msg = s.ehlo()
    return int(s.esmtp_features.get('size', '0') or 0), msg.decode()


def relay_code(s):
    s.mail('<a@example.org>')
    code, _ = s.rcpt('<b@remote.example>')
    s.rset()
    return code


# Under the first file.
old = session()
size, text = greet(old)
check('SIZE before the reload', size == 10240, 10240, size)
check('relay before the reload', relay_code(old) == 250, 250, 'refused')

# The second file: new limits, relay networks, hostname, and a listener.
write_conf(base('mx2.test', '20k', '10.0.0.0/8',
                ['listen 127.0.0.1 2526 smtp']))
reload('reload: %s: done' % conf, 'reload: new sessions take the new settings')
check('"listen: needs a restart" logged',
      log_has(log, 'reload: listen: needs a restart'), 'the line', 'none')

new = session()
size, text = greet(new)
check('SIZE of a new session', size == 20480, 20480, size)
check('hostname of a new session', text.startswith('mx2.test'), 'mx2.test', text)
code = relay_code(new)
check('relay refused to a new session from 127.0.0.1', code >= 500, '5xx', code)
try:
    code = 0 if new.sendmail('<a@example.org>', ['<root@localhost>'],
                             make_body('t34-15k', 15000)) else 250
except smtplib.SMTPException as e:
    code = '%s' % e
check('15 kB message taken by a new session', code == 250, 250, code)
new.quit()

# The session opened before keeps its settings.
size, text = greet(old)
check('SIZE of the old session unchanged', size == 10240, 10240, size)
check('hostname of the old session unchanged', text.startswith('mx1.test'),
      'mx1.test', text)
check('relay of the old session unchanged', relay_code(old) == 250, 250, 'refused')
old.quit()

# The new listener was not opened.
c = socket.socket()
c.settimeout(5)
refused = c.connect_ex(('127.0.0.1', 2526)) != 0
c.close()
check('listener 2526 (needs a restart) not opened', refused, 'refused', 'accepted')

# A file with an error keeps the running configuration, file:line logged.
lines = base('mx3.test', '30k', '10.0.0.0/8', ['listen 127.0.0.1 2526 smtp'])
lines.insert(3, 'max-recipients ten')
write_conf(lines)
reload('keeping the running configuration')
check('the error logged with file:line',
      log_has(log, "reload: %s:4: max-recipients: 'ten'" % conf),
      '%s:4: max-recipients' % conf, 'not in the log')
s = session()
size, text = greet(s)
check('SIZE after a broken file', size == 20480, 20480, size)
check('hostname after a broken file', text.startswith('mx2.test'), 'mx2.test', text)
s.quit()

# An open relay is an error too.
write_conf(base('mx3.test', '30k', '0.0.0.0/0'))
reload('%s:8: relay-network: 0.0.0.0/0 is wider than /8' % conf)
s = session()
size, text = greet(s)
check('SIZE after an open relay was refused', size == 20480, 20480, size)
check('relay still refused', relay_code(s) >= 500, '5xx', 'relayed')
s.quit()
T.done()
EOF
pid_alive "$SM_PID" || t_fail "strictmaild running after the reloads" "it exited"
sm_listening 25 || t_fail "still listening on 25" "nothing"
sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
t_pass
