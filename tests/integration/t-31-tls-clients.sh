#!/bin/bash
# t-31-tls-clients: real clients against the TLS listeners, with a
# certificate from the test CA (tests/pki, SAN mx.example.test, localhost,
# 127.0.0.1) on smtp (25), submission (587) and implicit TLS (465):
#   swaks without TLS, with STARTTLS (-tls, chain verified against the
#   test CA) on 25 and 587, with --tls-on-connect on 465, and --pipeline;
#   Python smtplib with starttls() and a context that verifies chain and
#   host name (mx.example.test, localhost) against the test CA, and
#   SMTP_SSL on 465; a wrong host name is refused by the client;
#   openssl s_client -starttls smtp (25, 587) and -connect (465): the
#   handshake completes with TLSv1.2, an ECDHE suite with AES-GCM or
#   ChaCha20-Poly1305, and "Verify return code: 0";
#   submission: MAIL before STARTTLS gets 530 5.7.0;
#   every message over TLS is in the spool with a Received header that
#   says "with ESMTPS", the TLS version and the cipher, and plain ones say
#   "with ESMTP".
# This swaks (20201014) has no BDAT/CHUNKING option: BDAT is covered by
# the dialogue scripts (tests/dialog/bdat*.dlg) instead.
. "$(dirname "$0")/lib.sh"
t_init
t_need swaks openssl
perl -MNet::SSLeay -e 1 2>/dev/null || t_fail "Net::SSLeay for swaks -tls (libnet-ssleay-perl, tests/deps.sh)" "missing"

pki=$T_DIR/pki
sm_pki "$pki"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "hostname mx.example.test" \
    "listen 127.0.0.1 25 smtp" "listen 127.0.0.1 587 submission" \
    "listen 127.0.0.1 465 tls" \
    "tls-certificate $pki/valid.pem" "tls-key $pki/valid.key" \
    "relay-network 127.0.0.1/32"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

CIPHER_RE='ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)'

# ---------------------------------------------------------------- swaks

# swaks_send NAME EXPECT-TLS ARGS...: one message; checks the reply, the
# spool and the Received header; EXPECT-TLS 1 = over TLS.
swaks_send() {
	local name=$1 tls=$2 out rc qid line body data envf msg
	shift 2
	body=$T_DIR/body-$name
	data=$T_DIR/swaks-$name
	sm_body "t31-$name-$$" 3000 > "$body"
	head -c -2 "$body" > "$data"
	out=$(ip netns exec "$T_NS" timeout 60 swaks --helo client.test \
	    --from sender@example.org --to root@localhost --data "@$data" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" > "$T_DIR/swaks-$name.out"
	line=$(printf '%s\n' "$out" | grep -E '^ *(<-|<~) +250 2\.0\.0 Ok: queued as ' | tail -n 1)
	qid=$(printf '%s\n' "$line" | sed -n 's/^ *<[-~] *250 2\.0\.0 Ok: queued as \([0-9A-F]\{16\}\)\r\{0,1\}$/\1/p')
	if [ "$rc" != 0 ] || [ -z "$qid" ]; then
		printf '%s\n' "$out" | tail -n 25
		t_fail "swaks $name ($*): exit 0 and \"250 2.0.0 Ok: queued as <QID>\"" \
		    "exit $rc, reply '${line:-none}'"
	fi
	if [ "$tls" = 1 ]; then
		printf '%s\n' "$out" | grep -Eq "TLS started with cipher TLSv1\.2:$CIPHER_RE" ||
		    t_fail "swaks $name: 'TLS started with cipher TLSv1.2:ECDHE-...-(GCM|CHACHA20)'" \
			"$(printf '%s\n' "$out" | grep -i 'tls' | head -n 3 | tr '\n' '|')"
		printf '%s\n' "$out" | grep -q '^ *~> ' ||
		    t_fail "swaks $name: the transaction inside TLS (~> lines)" "none"
	fi
	errs=$(sm_check "$spool" "$qid" "$body" root@localhost)
	[ -z "$errs" ] || t_fail "$qid ($name) intact in the spool" "$errs"
	envf=$(ls "$spool"/queue/*/"$qid.env")
	msg=${envf%.env}.msg
	recv=$("$PY" - "$msg" <<'EOF'
import re, sys
from smtest import strip_received
head, _ = strip_received(open(sys.argv[1], 'rb').read())
print(re.sub(r'\r\n[ \t]+', ' ', head.decode('utf-8', 'replace')).strip())
EOF
)
	if [ "$tls" = 1 ]; then
		printf '%s\n' "$recv" | grep -Eq 'with ESMTPS\b' &&
		    printf '%s\n' "$recv" | grep -q 'TLSv1\.2' &&
		    printf '%s\n' "$recv" | grep -Eiq 'ECDHE.*(GCM|CHACHA20)' ||
		    t_fail "$qid ($name): Received with ESMTPS, TLSv1.2 and the ECDHE cipher" "$recv"
	else
		printf '%s\n' "$recv" | grep -Eq 'with ESMTP\b' &&
		    ! printf '%s\n' "$recv" | grep -Eq 'ESMTPS|TLSv' ||
		    t_fail "$qid ($name): Received with ESMTP and no TLS" "$recv"
	fi
	say "swaks $name: queued as $qid, spool and Received header ok"
}

swaks_send plain 0 --server 127.0.0.1:25
swaks_send starttls 1 --server 127.0.0.1:25 -tls --tls-verify --tls-ca-path "$pki/ca.pem"
swaks_send pipeline 0 --server 127.0.0.1:25 --pipeline
grep -q 'PIPELINING' "$T_DIR/swaks-pipeline.out" ||
    t_fail "swaks --pipeline: the server offers PIPELINING" "no"
swaks_send starttls-pipeline 1 --server 127.0.0.1:25 -tls --pipeline \
    --tls-verify --tls-ca-path "$pki/ca.pem"
swaks_send submission 1 --server 127.0.0.1:587 -tls --tls-verify --tls-ca-path "$pki/ca.pem"
swaks_send implicit 1 --server 127.0.0.1:465 --tls-on-connect --tls-verify \
    --tls-ca-path "$pki/ca.pem"

# -------------------------------------------------------------- smtplib

sm_py_fg - "$spool" "$pki/ca.pem" <<'EOF' || t_fail_py
import smtplib, ssl, sys, re
from smtest import make_body, sha256, parse_queued, check_msg, Checker, find_msg, strip_received

spool, ca = sys.argv[1], sys.argv[2]
T = Checker()
check = T.check
CIPHER = re.compile(r'^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$')


def ctx():
    c = ssl.create_default_context(cafile=ca)
    c.minimum_version = ssl.TLSVersion.TLSv1_2
    return c


def received(qid):
    env, msg = find_msg(spool, qid)
    head, _ = strip_received(open(msg, 'rb').read())
    return re.sub(r'\r\n[ \t]+', ' ', head.decode('utf-8', 'replace'))


def session(s, name, tls_expected=True):
    sock = s.sock
    if tls_expected:
        check('%s: TLS version' % name, sock.version() == 'TLSv1.2',
              'TLSv1.2', sock.version())
        cn = sock.cipher()[0]
        check('%s: cipher ECDHE with GCM or ChaCha20' % name,
              bool(CIPHER.match(cn)), 'ECDHE-*-(AES-GCM|CHACHA20)', cn)
    body = make_body('t31-smtplib-' + name, 2500)
    s.mail('sender@example.org')
    s.rcpt('root@localhost')
    code, text = s.data(body)
    qid = parse_queued(text) if code == 250 else None
    check('%s: message queued' % name, qid is not None,
          '250 2.0.0 Ok: queued as QID', '%s %s' % (code, text))
    if qid:
        errs = check_msg(spool, qid, sha256(body), ['root@localhost'])
        check('%s: %s intact in the spool' % (name, qid), not errs, 'intact', errs)
        rec = received(qid)
        ok = ('with ESMTPS' in rec and 'TLSv1.2' in rec and
              re.search(r'ECDHE.*(GCM|CHACHA20)', rec, re.I) is not None)
        check('%s: Received says ESMTPS, TLSv1.2 and the cipher' % name, ok,
              'with ESMTPS ... TLSv1.2 ... ECDHE-...', rec)
    s.quit()


# 1. STARTTLS on 25 and 587, verified for each name of the certificate.
for port in (25, 587):
    for host in ('mx.example.test', 'localhost', '127.0.0.1'):
        name = 'starttls %d as %s' % (port, host)
        s = smtplib.SMTP('127.0.0.1', port, timeout=30, local_hostname='client.test')
        s._host = host      # the name starttls() verifies the certificate for
        s.ehlo()
        check('%s: STARTTLS offered' % name, s.has_extn('starttls'), 'STARTTLS',
              sorted(s.esmtp_features))
        code, text = s.starttls(context=ctx())
        check('%s: 220 2.0.0 to STARTTLS' % name,
              code == 220 and text.startswith(b'2.0.0'), '220 2.0.0', (code, text))
        s.ehlo()
        check('%s: no STARTTLS after TLS' % name, not s.has_extn('starttls'),
              'no STARTTLS', sorted(s.esmtp_features))
        session(s, name)

# 2. Implicit TLS on 465.
s = smtplib.SMTP_SSL('127.0.0.1', 465, timeout=30, local_hostname='client.test',
                     context=ctx())
s.ehlo()
check('465: no STARTTLS inside implicit TLS', not s.has_extn('starttls'),
      'no STARTTLS', sorted(s.esmtp_features))
session(s, 'implicit 465')

# 3. The client refuses the certificate for another name: verification
#    is really on.
s = smtplib.SMTP('127.0.0.1', 25, timeout=30, local_hostname='client.test')
s._host = 'other.example.test'
s.ehlo()
try:
    s.starttls(context=ctx())
    check('verification for a wrong name fails', False,
          'SSLCertVerificationError', 'a verified handshake')
except ssl.SSLCertVerificationError as e:
    check('verification for a wrong name fails', True)
s.close()

# 4. Submission: MAIL before STARTTLS -> 530 5.7.0.
s = smtplib.SMTP('127.0.0.1', 587, timeout=30, local_hostname='client.test')
s.ehlo()
code, text = s.mail('sender@example.org')
check('submission: MAIL before STARTTLS -> 530 5.7.0',
      code == 530 and text.startswith(b'5.7.0'), '530 5.7.0', (code, text))
s.quit()
T.done()
EOF
say "smtplib: STARTTLS (25, 587) and SMTP_SSL (465) verified against the test CA"

# -------------------------------------------------------- openssl s_client

# s_client NAME ARGS...: a handshake that must complete with TLSv1.2, an
# ECDHE AEAD suite and a verified chain.
s_client_ok() {
	local name=$1 out
	shift
	out=$(printf 'QUIT\n' | ip netns exec "$T_NS" timeout 30 openssl s_client \
	    -CAfile "$pki/ca.pem" -verify_hostname mx.example.test -crlf -ign_eof \
	    "$@" 2>&1)
	printf '%s\n' "$out" > "$T_DIR/s_client-$name.out"
	printf '%s\n' "$out" | grep -Eq "^New, TLSv1\.2, Cipher is $CIPHER_RE\$" ||
	    t_fail "openssl s_client $name: 'New, TLSv1.2, Cipher is ECDHE-...-(GCM|CHACHA20)'" \
		"$(printf '%s\n' "$out" | grep -E '^(New|CONNECTED|.*error|.*alert)' | head -n 4 | tr '\n' '|')"
	printf '%s\n' "$out" | grep -Eq '^ *Protocol *: TLSv1\.2$' ||
	    t_fail "openssl s_client $name: 'Protocol : TLSv1.2'" \
		"$(printf '%s\n' "$out" | grep -E 'Protocol' | head -n 2 | tr '\n' '|')"
	printf '%s\n' "$out" | grep -Eq 'Verify return code: 0 \(ok\)' ||
	    t_fail "openssl s_client $name: 'Verify return code: 0 (ok)'" \
		"$(printf '%s\n' "$out" | grep -E 'Verify return code' | head -n 1)"
	printf '%s\n' "$out" | grep -Eq '^221 2\.0\.0' ||
	    t_fail "openssl s_client $name: 221 2.0.0 to QUIT inside TLS" \
		"$(printf '%s\n' "$out" | grep -E '^[0-9]{3}' | tail -n 3 | tr '\n' '|')"
	say "openssl s_client $name: $(printf '%s\n' "$out" | grep -E '^New, ' | head -n 1)"
}

s_client_ok starttls-25 -starttls smtp -connect 127.0.0.1:25
s_client_ok starttls-587 -starttls smtp -connect 127.0.0.1:587
s_client_ok implicit-465 -connect 127.0.0.1:465

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
