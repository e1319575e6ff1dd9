#!/usr/bin/env python3
"""A minimal SMTP and LMTP sink for the AUTH test (t-67): it listens on
ADDR PORT, offers STARTTLS with CERT and KEY after EHLO (not after LHLO),
takes every message and writes it, as
received, to DIR/N.eml with the envelope in DIR/N.env ("from\nto,to\n").
No limits, no checks: it only records."""
import os
import socket
import ssl
import sys
import threading

ADDR, PORT, DIR, CERT, KEY = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    sys.argv[4], sys.argv[5]
TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
TLS.load_cert_chain(CERT, KEY)
lock = threading.Lock()
count = [0]


def serve(conn):
    conns = [conn]
    f = conn.makefile('rb')
    out = conn.makefile('wb')

    def say(line):
        out.write(line.encode() + b'\r\n')
        out.flush()

    say('220 sink.test ESMTP')
    sender, rcpts, lmtp = None, [], False
    while True:
        line = f.readline()
        if not line:
            return
        cmd = line.decode('utf-8', 'replace').strip()
        verb = cmd[:4].upper()
        if verb == 'LHLO':
            say('250-sink.test')
            say('250 8BITMIME')
            lmtp = True
        elif verb == 'EHLO':
            say('250-sink.test')
            if len(conns) == 1:
                say('250-STARTTLS')
            say('250 8BITMIME')
        elif verb == 'STAR':
            say('220 2.0.0 go ahead')
            t = TLS.wrap_socket(conns[0], server_side=True)
            conns.append(t)
            f = t.makefile('rb')
            out = t.makefile('wb')
        elif verb == 'HELO':
            say('250 sink.test')
        elif verb == 'MAIL':
            sender, rcpts = cmd[10:].split('>')[0].lstrip('<'), []
            say('250 2.1.0 Ok')
        elif verb == 'RCPT':
            rcpts.append(cmd[8:].split('>')[0].lstrip('<'))
            say('250 2.1.5 Ok')
        elif verb == 'DATA':
            say('354 go')
            data = b''
            while True:
                l = f.readline()
                if not l or l == b'.\r\n':
                    break
                if l.startswith(b'.'):
                    l = l[1:]
                data += l
            with lock:
                count[0] += 1
                n = count[0]
            with open(os.path.join(DIR, '%d.tmp' % n), 'wb') as m:
                m.write(data)
            with open(os.path.join(DIR, '%d.env' % n), 'w') as e:
                e.write('%s\n%s\n' % (sender, ','.join(rcpts)))
            os.rename(os.path.join(DIR, '%d.tmp' % n),
                      os.path.join(DIR, '%d.eml' % n))
            for _ in (rcpts if lmtp else [0]):
                say('250 2.0.0 Ok: sunk')
        elif verb == 'QUIT':
            say('221 2.0.0 Bye')
            return
        else:
            say('250 2.0.0 Ok')


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ADDR, PORT))
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=lambda c=c: (serve(c), c.close()),
                     daemon=True).start()
