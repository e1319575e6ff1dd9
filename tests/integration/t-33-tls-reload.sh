#!/bin/bash
# t-33-tls-reload: SIGHUP reloads the certificate and key without
# dropping sessions.  Sessions are opened over TLS (STARTTLS on 25,
# implicit TLS on 465) with the test CA's ECDSA certificate, one of them
# in the middle of a transaction; the files are replaced by the RSA
# certificate and strictmaild gets SIGHUP.  New sessions on 25, 587 and
# 465 then see the new certificate (SHA-256 fingerprints compared with
# the files) and an ECDHE-RSA suite, while the sessions opened before
# finish their messages.  A broken certificate or a key that does not
# match, with SIGHUP, leaves the current certificate in service.
. "$(dirname "$0")/lib.sh"
t_init

pki=$T_DIR/pki
sm_pki "$pki"
cp "$pki/valid.pem" "$T_DIR/cert.pem" && cp "$pki/valid.key" "$T_DIR/key.pem" ||
    t_fail "copies of valid.pem and valid.key" "cp failure"
chmod 0600 "$T_DIR/key.pem"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "hostname mx.example.test" \
    "listen 127.0.0.1 25 smtp" "listen 127.0.0.1 587 submission" \
    "listen 127.0.0.1 465 tls" \
    "tls-certificate $T_DIR/cert.pem" "tls-key $T_DIR/key.pem" \
    "relay-network 127.0.0.1/32"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

sm_py_fg - "$SM_PID" "$spool" "$pki" "$T_DIR" "$log" <<'EOF' || t_fail_py
import hashlib, os, signal, smtplib, ssl, sys, time
from smtest import make_body, sha256, parse_queued, check_msg, Checker, wait_for

pid, spool, pki, tdir, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
T = Checker()
check = T.check


def ctx():
    c = ssl.create_default_context(cafile=os.path.join(pki, 'ca.pem'))
    c.minimum_version = ssl.TLSVersion.TLSv1_2
    return c


def file_fp(name):
    with open(os.path.join(pki, name)) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def fp(s):
    return hashlib.sha256(s.sock.getpeercert(binary_form=True)).hexdigest()


def open_tls(port):
    if port == 465:
        s = smtplib.SMTP_SSL('127.0.0.1', 465, timeout=20,
                             local_hostname='client.test', context=ctx())
        s._host = 'mx.example.test'
        s.ehlo()
        return s
    s = smtplib.SMTP('127.0.0.1', port, timeout=20, local_hostname='client.test')
    s._host = 'mx.example.test'
    s.ehlo()
    s.starttls(context=ctx())
    s.ehlo()
    return s


def probe(port):
    """(fingerprint, cipher) of a new session, or (None, error)."""
    try:
        s = open_tls(port)
    except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
        return None, str(e)
    r = fp(s), s.sock.cipher()[0]
    s.quit()
    return r


def put(cert, key):
    """Replaces the configured files, each with one rename."""
    for src, dst in ((cert, 'cert.pem'), (key, 'key.pem')):
        tmp = os.path.join(tdir, dst + '.new')
        with open(tmp, 'wb') as f:
            f.write(src)
        os.chmod(tmp, 0o600 if dst == 'key.pem' else 0o644)
        os.rename(tmp, os.path.join(tdir, dst))


def read(name):
    with open(os.path.join(pki, name), 'rb') as f:
        return f.read()


def log_count(word):
    with open(log, 'rb') as f:
        return f.read().count(word)


def send(s, tag):
    body = make_body(tag, 3000)
    code, text = s.data(body)
    qid = parse_queued(text) if code == 250 else None
    check('%s: message queued' % tag, qid is not None,
          '250 2.0.0 Ok: queued as QID', '%s %s' % (code, text))
    if qid:
        errs = check_msg(spool, qid, sha256(body), ['root@localhost'])
        check('%s: intact in the spool' % tag, not errs, 'intact', errs)


old_fp, new_fp = file_fp('valid.pem'), file_fp('rsa.pem')
check('the two certificates differ', old_fp != new_fp, 'two fingerprints', old_fp)

# 1. Sessions before the reload.
a = open_tls(25)
check('session A (25) has the first certificate', fp(a) == old_fp, old_fp[:16], fp(a)[:16])
a.mail('sender@example.org')
a.rcpt('root@localhost')
b = open_tls(465)
check('session B (465) has the first certificate', fp(b) == old_fp, old_fp[:16], fp(b)[:16])

# 2. New files, SIGHUP; new sessions see the new certificate.
put(read('rsa.pem'), read('rsa.key'))
os.kill(pid, signal.SIGHUP)
got = wait_for(lambda: probe(25)[0] == new_fp, 20, 0.2)
f25 = probe(25)
check('a new session on 25 has the new certificate within 20 s of SIGHUP',
      f25[0] == new_fp, new_fp[:16], (f25[0] or '')[:16] + ' ' + str(f25[1]))
for port in (587, 465):
    f = probe(port)
    check('a new session on %d has the new certificate' % port, f[0] == new_fp,
          new_fp[:16], (f[0] or '')[:16] + ' ' + str(f[1]))
    check('a new session on %d uses ECDHE-RSA with GCM or ChaCha20' % port,
          f[1] is not None and f[1].startswith('ECDHE-RSA-') and
          ('GCM' in f[1] or 'CHACHA20' in f[1]), 'ECDHE-RSA-*', f[1])

# 3. The sessions from before go on with their certificate.
check('session A still has the first certificate', fp(a) == old_fp, old_fp[:16], fp(a)[:16])
send(a, 't33-old-session-25')
a.mail('sender@example.org')
a.rcpt('root@localhost')
send(a, 't33-old-session-25-again')
a.quit()
b.mail('sender@example.org')
b.rcpt('root@localhost')
send(b, 't33-old-session-465')
b.quit()

# 4. A broken certificate, then a key that does not match: each SIGHUP is
#    refused and the current certificate stays in service.
for what, cert, key in (('a broken certificate', b'-----BEGIN CERTIFICATE-----\nbroken\n'
                         b'-----END CERTIFICATE-----\n', read('rsa.key')),
                        ('a key that does not match', read('valid.pem'), read('rsa.key'))):
    n = log_count(b'reload')
    put(cert, key)
    os.kill(pid, signal.SIGHUP)
    seen = wait_for(lambda: log_count(b'reload') > n, 10, 0.1)
    check('SIGHUP with %s is logged' % what, seen, 'a new "reload" log line', 'none in 10 s')
    f = probe(25)
    check('after SIGHUP with %s new sessions keep the current certificate' % what,
          f[0] == new_fp, new_fp[:16], (f[0] or '')[:16] + ' ' + str(f[1]))
    s = open_tls(465)
    s.mail('sender@example.org')
    s.rcpt('root@localhost')
    send(s, 't33-after-bad-reload-%d' % n)
    s.quit()
T.done()
EOF
pid_alive "$SM_PID" || t_fail "strictmaild running after the reloads" "it exited"
say "reloads: new sessions took the new certificate, old sessions kept theirs"

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
