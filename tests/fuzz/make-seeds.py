#!/usr/bin/env python3
"""make-seeds.py - writes the seed corpus of the fuzz targets.

  tests/fuzz/make-seeds.py [OUTDIR]     (default: tests/fuzz/corpus)

fuzz_session inputs are two environment bytes (see fuzz_session.c) and
then what a client sends; fuzz_address inputs are one flag byte (1 = <>
allowed, 2 = UTF-8 allowed) and a path with parameters; fuzz_envelope
inputs are an envelope file; fuzz_config inputs are a strictmail.conf;
fuzz_ipc inputs are one flag byte (1 = through a channel too, 2 = with a
descriptor) and a stream of IPC frames whose session field is the read
program (see fuzz_ipc.c).  The seeds are small, one meaningful dialogue,
path, file or stream each; the corpus in the tree is this script's output.
"""
import os
import struct
import sys

RELAY, TLS_OFFER = 0x0001, 0x0002
KIND_SMTP, KIND_SUBMISSION, KIND_TLS = 0 << 2, 1 << 2, 2 << 2
BIGREADS, SMALL = 0x0010, 0x0800
LOOKUP_ALL, LOOKUP_NONE, LOOKUP_TEMP = 1 << 5, 2 << 5, 3 << 5
OPENFAIL, COMMITFAIL, WERR, TLSFAIL, SPACELOW = 0x80, 0x100, 0x200, 0x400, 0x1000
TIMEOUT, SHUTDOWN = 0x2000, 0x4000

EHLO = b'EHLO client.example\r\n'
MAIL = b'MAIL FROM:<alice@example.org>\r\n'
RCPT = b'RCPT TO:<root@localhost>\r\n'
MSG = b'Subject: seed\r\n\r\nhello\r\n..stuffed\r\n.\r\n'
TX = MAIL + RCPT + b'DATA\r\n' + MSG

SESSION = {
    'basic': (RELAY | TLS_OFFER, EHLO + TX + b'QUIT\r\n'),
    'basic-smallreads': (RELAY | TLS_OFFER, EHLO + TX + b'NOOP\r\nQUIT\r\n'),
    'helo-simple': (RELAY, b'HELO client.example\r\nNOOP\r\nRSET\r\n'
                    b'VRFY root\r\nHELP\r\nEXPN x\r\nFOO\r\n' + TX),
    'pipelined': (RELAY | TLS_OFFER | BIGREADS,
                  EHLO + TX + MAIL + b'RCPT TO:<postmaster@localhost>\r\n'
                  b'RCPT TO:<nosuch@localhost>\r\nDATA\r\n' + MSG + b'QUIT\r\n'),
    'bdat': (RELAY | TLS_OFFER, EHLO + MAIL + RCPT +
             b'BDAT 13\r\nSubject: b\r\n\r\nBDAT 7 LAST\r\nhello\r\n'
             + MAIL + RCPT + b'BDAT 5\r\nabcdeBDAT 0 LAST\r\nQUIT\r\n'),
    'bdat-mixed': (RELAY, EHLO + b'BDAT 4\r\nabcd' + MAIL +
                   b'BDAT 6 LAST\r\nRSET\r\n' + RCPT + b'BDAT 3\r\nabcDATA\r\n'
                   b'BDAT 2 LAST\r\nx\n' + b'BDAT x\r\nBDAT 1 LAST LAST\r\n'),
    'starttls-inject': (RELAY | TLS_OFFER | BIGREADS,
                        EHLO + b'STARTTLS\r\nRSET\r\n' + MAIL),
    'starttls': (TLS_OFFER, EHLO + b'STARTTLS\r\n'),
    'starttls-after': (TLS_OFFER | RELAY, EHLO + b'STARTTLS\r\n' + EHLO + TX),
    'starttls-fail': (TLS_OFFER | TLSFAIL, EHLO + b'STARTTLS\r\n' + EHLO),
    'submission': (TLS_OFFER | KIND_SUBMISSION, EHLO + MAIL + b'STARTTLS\r\n'),
    'submission-tls': (TLS_OFFER | KIND_SUBMISSION | RELAY,
                       b'EHLO x\r\nSTARTTLS\r\n' + EHLO + TX),
    'tls-listener': (TLS_OFFER | KIND_TLS | RELAY, EHLO + b'STARTTLS\r\n' + TX),
    'smuggle-lf': (RELAY, EHLO + MAIL + RCPT + b'DATA\r\nhi\n.\n' + MAIL + RCPT
                   + b'DATA\r\nsmuggled\r\n.\r\n'),
    'smuggle-cr': (RELAY, EHLO + MAIL + RCPT + b'DATA\r\nhi\r.\r' + MAIL +
                   b'x\r\n.\r\nQUIT\r\n'),
    'smuggle-mixed': (RELAY, EHLO + MAIL + RCPT + b'DATA\r\nhi\r\n.\n\n.\r\n'
                      b'\r\n.\r\r\n.\r\n'),
    'dsn': (RELAY, EHLO + b'MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ+2B1\r\n'
            b'RCPT TO:<root@localhost> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;root+40localhost\r\n'
            b'RCPT TO:<b@relay.example> NOTIFY=NEVER\r\n'
            b'RCPT TO:<c@relay.example> NOTIFY=NEVER,DELAY\r\n'
            b'MAIL FROM:<a@example.org> RET=FULL RET=HDRS\r\nDATA\r\n' + MSG),
    'smtputf8': (0, EHLO + 'MAIL FROM:<jöran@bücher.example> SMTPUTF8 BODY=8BITMIME\r\n'
                 'RCPT TO:<root@bücher.example>\r\nRCPT TO:<Postmaster>\r\n'
                 'DATA\r\nSubject: Grüße\r\n\r\nÄ\r\n.\r\n'.encode()),
    'relay-tricks': (LOOKUP_ALL, EHLO + MAIL +
                     b'RCPT TO:<u@relay.example>\r\nRCPT TO:<u%relay.example@localhost>\r\n'
                     b'RCPT TO:<@localhost:u@relay.example>\r\n'
                     b'RCPT TO:<"u@relay.example"@localhost>\r\n'
                     b'RCPT TO:<u@relay.example@localhost>\r\nRCPT TO:<u@[127.0.0.1]>\r\n'
                     b'RCPT TO:<u@[IPv6:::1]>\r\nRCPT TO:<postmaster>\r\nDATA\r\n' + MSG),
    'order': (RELAY, MAIL + RCPT + b'DATA\r\n' + EHLO + RCPT + b'DATA\r\n' + MAIL
              + MAIL + b'DATA\r\n'),
    'limits-small': (RELAY | SMALL, EHLO + MAIL + RCPT +
                     b'RCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\n'
                     b'DATA\r\nReceived: a\r\nReceived: b\r\nReceived: c\r\n\r\n'
                     + b'x' * 100 + b'\r\n.\r\n' + MAIL + b' SIZE=601\r\n'),
    'nul': (RELAY, EHLO + b'NOOP\x00\r\n' + MAIL + RCPT + b'DATA\r\na\x00b\r\n.\r\n'),
    'longline': (RELAY, EHLO + b'NOOP ' + b'x' * 2100 + b'\r\n' + TX),
    'failures': (RELAY | OPENFAIL | SPACELOW, EHLO + TX + TX),
    'commitfail': (RELAY | COMMITFAIL | WERR, EHLO + TX),
    'lookup-temp': (RELAY | LOOKUP_TEMP, EHLO + TX),
    'timeout-in-data': (RELAY | TIMEOUT, EHLO + MAIL + RCPT + b'DATA\r\nSubject: cut\r\n'),
    'timeout-in-bdat': (RELAY | TIMEOUT, EHLO + MAIL + RCPT + b'BDAT 100\r\nabc'),
    'shutdown-in-mail': (RELAY | SHUTDOWN, EHLO + MAIL),
    'nodomain': (RELAY | LOOKUP_NONE, EHLO + b'MAIL FROM:<alice>\r\nMAIL FROM:<>\r\n'
                 b'RCPT TO:<root>\r\nRCPT TO:<pOstMaster>\r\nDATA\r\n' + MSG),
}

ADDRESS = [
    (1, b'<root@localhost>'),
    (1, b'<>'),
    (0, b'<postmaster>'),
    (1, b'<alice@example.org> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1'),
    (0, b'<@a.example,@b.example:user@c.example> NOTIFY=SUCCESS,FAILURE '
        b'ORCPT=rfc822;user+40c.example'),
    (0, b'<"quoted \\"local\\" part"@example.org>'),
    (0, b'<user@[192.0.2.1]>'),
    (0, b'<user@[IPv6:2001:db8::1]>'),
    (0, b'<user@[IPv6:::ffff:192.0.2.1]>'),
    (2, '<jöran@bücher.example> SMTPUTF8'.encode()),
    (3, b'<a@xn--bcher-kva.example> NOTIFY=NEVER'),
    (0, b'<' + b'l' * 64 + b'@example.org>'),
    (0, b'<a@' + b'd' * 63 + b'.' + b'e' * 63 + b'.example>'),
    (0, b'<user%other@localhost>'),
    (0, b'<user@other@localhost>'),
    (0, b'<a.b.c@sub-domain.example.test> FOO=bar BAZ'),
]

ENV_HEAD = (b'strictmail-envelope 1\nid 0123456789ABCDEF\narrival 1700000000\n'
            b'size 1234\nsender <alice@example.org>\nhelo client.example\n'
            b'client 192.0.2.1\nprotocol ESMTPS\nattempts 0\n'
            b'next-attempt 1700000000\nexpiry 1700432000\n')
ENVELOPE = {
    'minimal': ENV_HEAD + b'rcpt pending <root@localhost>\nend\n',
    'full': ENV_HEAD + b'ret HDRS\nenvid QQ+2B1\ntls TLSv1.3 TLS_AES_256_GCM_SHA384\n'
            b'body 8BITMIME\nsmtputf8\nrcpt pending <root@localhost>\n'
            b'rcpt-notify SUCCESS,FAILURE\nrcpt-orcpt rfc822;root+40localhost\n'
            b'rcpt delivered <b@example.net>\nrcpt failed <c@example.net>\n'
            b'rcpt-notify NEVER\nend\n',
    'null-sender': ENV_HEAD.replace(b'<alice@example.org>', b'<>').replace(
        b'helo client.example', b'helo') + 'rcpt pending <jöran@bücher.example>\nend\n'.encode(),
    'bad-after-end': ENV_HEAD + b'rcpt pending <root@localhost>\nend\nend\n',
    'bad-missing-end': ENV_HEAD + b'rcpt pending <root@localhost>\n',
    'bad-duplicate': ENV_HEAD + b'size 1\nrcpt pending <root@localhost>\nend\n',
    'bad-number': ENV_HEAD.replace(b'size 1234', b'size 99999999999999999999') +
                  b'rcpt pending <root@localhost>\nend\n',
    'bad-control': ENV_HEAD + b'rcpt pending <root@local\thost>\nend\n',
}

CONFIG = {
    'sample': b'hostname mail.example.org\nspool /var/spool/strictmail\n'
              b'listen 0.0.0.0 25 smtp\nlisten :: 25 smtp\nlisten 0.0.0.0 587 submission\n'
              b'listen :: 465 tls\ntls-certificate /etc/strictmail/cert.pem\n'
              b'tls-key /etc/strictmail/key.pem\nlocal-domain example.org example.net\n'
              b'local-domain localhost\nrelay-network 127.0.0.0/8 ::1/128\n',
    'limits': b'# every limit\nlisten 127.0.0.1 2525\nmax-message-size 10M\n'
              b'max-recipients 50\nmax-sessions 100\nmax-sessions-per-client 5\n'
              b'max-errors 3\nmax-received-headers 30\nmax-line-length 998\n'
              b'max-command-line 512\ntimeout-command 5m\ntimeout-data 1h\n'
              b'shutdown-timeout 30s\nmin-free-space 0\nqueue-lifetime 5d\n',
    'users': b'listen ::1 25\r\nempty-dir /var/empty/\t# a comment\n'
             b'user-smtpd _sm-smtpd\nuser-queue _sm-queue\nuser-lookup _sm-lookup\n'
             b'relay-network 10.0.0.0/8 192.0.2.128/25 2001:db8::/32',
    'bad-tls': b'listen 127.0.0.1 465 tls\ntls-certificate /c.pem\n',
    'bad-dup': b'listen 127.0.0.1 25\nlisten 127.0.0.1 25\nspool /a\nspool /b\n',
    'bad-values': b'listen 127.0.0.1 99999\nhostname -x.example\nmax-errors 0\n',
}

# IPC frames: header in host order (native, as the processes send them).
def ipc_frame(mtype, ops, payload, flags=0, version=1):
    prog = 0
    for i, op in enumerate(ops):
        prog |= op << (3 * i)
    if len(ops) < 10:
        prog |= 7 << (3 * len(ops))
    return struct.pack('=IIIHH', mtype, len(payload), prog & 0xffffffff,
                       version, flags) + payload


def ipc_str(s):
    return struct.pack('=I', len(s)) + s


U32, U64, STR, STRL, STRDUP, DATA = 0, 1, 2, 3, 4, 5
QID = b'0123456789ABCDEF'
IPC = {
    'empty': (1, ipc_frame(100, [], b'')),
    'open-ok-fd': (3, ipc_frame(150, [STRL], ipc_str(QID), flags=1)),
    'commit': (1, ipc_frame(101, [STRL, U64, STRDUP, STRDUP, DATA],
                            ipc_str(QID) + struct.pack('=Q', 1234) +
                            ipc_str(b'alice@example.org') + ipc_str(b'root@localhost') +
                            ipc_str(b'opaque data'))),
    'several': (1, ipc_frame(151, [U32], struct.pack('=I', 3)) +
                ipc_frame(200, [STR, STR], ipc_str(b'root') + ipc_str(b'localhost')) +
                ipc_frame(250, [U32], struct.pack('=I', 1)) +
                ipc_frame(350, [], b'')),
    'partial': (1, ipc_frame(152, [STRL], ipc_str(QID)) +
                ipc_frame(153, [STRL, U32], ipc_str(QID))[:20]),
    'bad-version': (1, ipc_frame(100, [], b'', version=2)),
    'bad-flags': (1, ipc_frame(100, [], b'', flags=4)),
    'bad-nofd': (1, ipc_frame(150, [STRL], ipc_str(QID), flags=1)),
    'bad-trailing': (1, ipc_frame(151, [U32], struct.pack('=II', 1, 2))),
    'bad-str-nul': (1, ipc_frame(200, [STRL], ipc_str(b'ro\0ot'))),
    'bad-str-small': (1, ipc_frame(200, [STR], ipc_str(b'a' * 40))),
    'bad-toobig': (1, struct.pack('=IIIHH', 300, 300 * 1024, 0, 1, 0)),
}


# fuzz_ctl: request and reply lines of the control socket (ctl_proto.h).
CTL = {
    'req-queue': b'strictmail-ctl 1 queue',
    'req-show': b'strictmail-ctl 1 show 6619B010E3297000',
    'req-flush': b'strictmail-ctl 1 flush',
    'req-reload': b'strictmail-ctl 1 reload',
    'req-version': b'strictmail-ctl 2 queue',
    'reply-message': b'message 6619B010E3297000 1687 1796168225 alice@example.org',
    'reply-null': b'message 6619B010E3297000 0 0 -',
    'reply-rcpt': b'rcpt bob@remote.example pending 451%204.4.1%20no%20answer',
    'reply-fact': b'fact tls version=TLSv1.3%20cipher=X',
    'reply-flushed': b'flushed 42',
    'reply-ok': b'ok',
    'reply-error': b'error no such message',
}


# fuzz_sts_record: a mode byte, then (even) a cache record in the form of
# sts/sts_record.c, or (odd) times, a domain length, domain, id NUL and a
# policy text (see fuzz_sts_record.c).
def sts_record(domain, policy=None, mode=2, max_age=86400, mx=(),
               fetched=1700000000, error_id=b'', last_error=b''):
    r = b'STS\x01' + bytes([1 if policy else 0])
    r += bytes([len(domain)]) + domain
    if policy:
        pid = b'20240101'
        r += bytes([len(pid)]) + pid + struct.pack('>I', len(policy)) + policy
        r += bytes([mode]) + struct.pack('>I', max_age) + bytes([len(mx)])
        for m in mx:
            r += struct.pack('>H', len(m)) + m
        expires = fetched + max_age
    else:
        r += b'\x00'
        fetched = expires = 0
    r += struct.pack('>QQQQ', fetched, expires, fetched + 5, fetched + 3600)
    r += bytes([len(error_id)]) + error_id + struct.pack('>Q', 1700000100)
    r += struct.pack('>H', len(last_error)) + last_error
    return r + struct.pack('>Q', 1700000400 if error_id else 0)


STS_POLICY = (b'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n'
              b'mx: *.example.net\r\nmax_age: 86400\r\n')
STS_RECORD = {
    'enforce': b'\x00' + sts_record(b'example.com', STS_POLICY, 2, 86400,
                                    (b'mx1.example.com', b'*.example.net')),
    'enforce-error': b'\x00' + sts_record(
        b'example.com', STS_POLICY, 2, 86400,
        (b'mx1.example.com', b'*.example.net'), error_id=b'new2',
        last_error=b'HTTP status 404'),
    'none': b'\x00' + sts_record(b'none.example', b'version: STSv1\nmode: none\n'
                                 b'max_age: 0\n', 0, 0),
    'no-policy': b'\x00' + sts_record(b'fail.example', error_id=b'abc',
                                      last_error=b'connect: refused'),
    'build-enforce': b'\x01' + struct.pack('>QQ', 1700000000 << 16, 1700000005)
                     + bytes([10]) + b'example.org' + b'id1\x00' + STS_POLICY,
    'build-bad': b'\x01' + struct.pack('>QQ', 1 << 20, 7) + bytes([3])
                 + b'a.bc' + b'x\x00' + b'version: STSv2\n',
}

# fuzz_aliases: one format byte (0 aliases, 1 virtual), then a source.
ALIASES = {
    'aliases-basic': b'\x00# sample\npostmaster: root\nroot: alice\n',
    'aliases-kinds': b'\x00staff: alice, \\bob, /var/log/staff,\n'
                     b'  "|/usr/bin/filter -x a,b", :include:/etc/mail/list,\n'
                     b'\tcarol@Example.ORG, "john smith"@example.org\n',
    'aliases-errors': b'\x00a: b\nA: c\nd ../../etc/passwd\n  e: "|x\n',
    'aliases-crlf': b'\x00a: b\r\n\r\n# c\r\nd: |cmd\r\n',
    'virtual-basic': b'\x01info@v.example alice, bob@remote.example\n'
                     b'@v.example: carol\nx+y@v.example\t\\dave\n',
}

# fuzz_submit_msg: one flags byte (1 -i, 2 -t, 4 a 512-byte limit), then
# a message as sendmail(8) reads it on standard input.
SUBMIT = {
    'plain-lf': b'\x00Subject: hi\n\nhello\n.\nafter the dot\n',
    'cron-t-oi': b'\x03To: root, "Ops, team" <ops@example.org> (night)\n'
                 b'Cc: list: a@example.org, <@relay:b@example.org>;\n'
                 b'Bcc: hidden@example.org,\n\tother@example.org\n'
                 b'Subject: cron\n\n.\nbody\n',
    'crlf-complete': b'\x01Date: Wed, 2 Dec 2026 09:14:54 +0000\r\n'
                     b'Message-ID: <a@b>\r\nFrom: A <a@b>\r\n\r\nno newline',
    'mixed-bare-cr': b'\x02To: x@y\r\nX: a\rb\n\nbody',
    'no-header': b'\x04 first line folded?\nnot: after\n\x00',
}


# fuzz_maildrop: a whole maildrop file as a local user can write it.
MAILDROP = {
    'good': b'strictmail-maildrop 1\nsender joe@example.org\nrcpt a@example.org\n'
            b'rcpt bob\nnotify success,delay\nret hdrs\nenvid x+2By\n'
            b'body 8bitmime\nsize 22\ndata\nSubject: hi\r\n\r\nbody\r\n',
    'null-sender': b'strictmail-maildrop 1\nsender <>\nrcpt a\nnotify never\n'
                   b'size 0\ndata\n',
    'forged': b'strictmail-maildrop 1\nrcpt a\nReceived: from evil\n'
              b'size 3\ndata\nx\r\n',
    'bare-lf': b'strictmail-maildrop 1\nrcpt a\nsize 4\ndata\nab\ncd\r\n',
    'trailing': b'strictmail-maildrop 1\nrcpt a\nsize 2\ndata\n\r\nextra',
}

def write_all(out, target, items):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(items.items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus')
    d = os.path.join(out, 'fuzz_session')
    os.makedirs(d, exist_ok=True)
    for name, (env, data) in sorted(SESSION.items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(struct.pack('<H', env) + data)
    d = os.path.join(out, 'fuzz_address')
    os.makedirs(d, exist_ok=True)
    for i, (flags, data) in enumerate(ADDRESS):
        with open(os.path.join(d, 'path-%02d' % i), 'wb') as f:
            f.write(bytes([flags]) + data)
    write_all(out, 'fuzz_envelope', ENVELOPE)
    write_all(out, 'fuzz_config', CONFIG)
    write_all(out, 'fuzz_ipc', {k: bytes([fl]) + v for k, (fl, v) in IPC.items()})
    write_all(out, 'fuzz_ctl', CTL)
    write_all(out, 'fuzz_sts_record', STS_RECORD)
    write_all(out, 'fuzz_aliases', ALIASES)
    write_all(out, 'fuzz_submit_msg', SUBMIT)
    write_all(out, 'fuzz_maildrop', MAILDROP)
    return 0


if __name__ == '__main__':
    sys.exit(main())
