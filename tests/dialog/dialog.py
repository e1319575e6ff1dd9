#!/usr/bin/env python3
"""dialog.py - runs SMTP dialogue scripts (*.dlg) against a live server.

A script is raw bytes out and expected replies in, one step a line:

  # ...                  a comment; blank lines are ignored too
  @config DIRECTIVE      a line for the server's configuration (read by
                         t-30-dialog.sh, which groups the scripts by them;
                         ignored here)
  connect [NAME] [from=ADDR] [port=N] [tls] [sni=HOST]
                         opens a connection and makes it the current one
                         (tls: implicit TLS from the first byte)
  use NAME               makes another open connection the current one
  c: BYTES               bytes to send; consecutive c: lines are sent in
                         one write, just before the next step of another
                         kind (so a pipelined batch is one c: block)
  flush                  sends the bytes queued so far now
  s: REGEX               the next complete reply (all its lines); REGEX
                         must match the start of its last line
  has: REGEX             a line of the last reply matches (re.search)
  lacks: REGEX           no line of the last reply matches
  close                  the server closes the connection, and sends
                         nothing more before that
  silent SECS            nothing arrives for SECS seconds
  starttls [HOST]        TLS handshake on the current connection, with the
                         certificate verified against the test CA for HOST
                         (default mx.example.test); nothing may be waiting
                         unread from before the handshake
  disconnect             the client closes the current connection
  wait SECS              how long later steps wait for a reply (default 10)
  queued N               exactly N messages were committed since the
                         script started
  body: BYTES            the newest of them holds exactly BYTES below its
                         Received header
  received: REGEX        its Received header (unfolded) matches (re.search;
                         {QID} stands for its queue ID)
  envelope: REGEX        a line of its envelope file matches (re.search)

BYTES are taken literally after "c: " up to the end of the line, with
the escapes \\r \\n \\t \\0 \\\\ \\xHH and \\{N:TEXT} (TEXT repeated N times;
TEXT may hold the other escapes but no '}').

  dialog.py [--host H] [--port P] [--ca CAFILE] [--spool DIR] FILE.dlg...

prints "PASS name" or "FAIL name: line N: expected X, got Y" per script;
exit status 0 only if every script passed.
"""

import argparse
import os
import re
import select
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import smtest  # noqa: E402

REPLY_LINE = re.compile(rb'^([2-5][0-9][0-9])([ -])(.*)$', re.S)
MAX_REPLY_LINES = 1000


class ScriptError(Exception):
    """A step failed: expected, got."""

    def __init__(self, expected, got):
        super().__init__('expected %s, got %s' % (expected, got))


class SyntaxErr(Exception):
    pass


def unescape(text):
    """The bytes a c: or body: argument stands for."""
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != '\\':
            out += ch.encode('utf-8')
            i += 1
            continue
        if i + 1 >= n:
            raise SyntaxErr('a lone backslash at the end')
        e = text[i + 1]
        simple = {'r': b'\r', 'n': b'\n', 't': b'\t', '0': b'\0', '\\': b'\\'}
        if e in simple:
            out += simple[e]
            i += 2
        elif e == 'x':
            h = text[i + 2:i + 4]
            if not re.fullmatch(r'[0-9a-fA-F]{2}', h):
                raise SyntaxErr('bad \\x escape %r' % text[i:i + 4])
            out.append(int(h, 16))
            i += 4
        elif e == '{':
            m = re.match(r'\\\{([0-9]+):([^}]*)\}', text[i:])
            if not m:
                raise SyntaxErr('bad \\{N:TEXT} at %r' % text[i:i + 20])
            out += unescape(m.group(2)) * int(m.group(1))
            i += m.end()
        else:
            raise SyntaxErr('unknown escape \\%s' % e)
    return bytes(out)


def show(data, limit=200):
    """Bytes for a message: printable, CR/LF visible, shortened."""
    if data is None:
        return 'nothing'
    r = repr(bytes(data))
    return r if len(r) <= limit else r[:limit] + '...(%d octets)' % len(data)


class Conn:
    """One client connection: a byte buffer of what the server sent."""

    def __init__(self, host, port, source, tls, sni, ctx, timeout):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b''
        self.eof = False
        if tls:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=sni)

    def _recv(self, deadline):
        """Reads more into buf; False at EOF or when time is up."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ssl_pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
        if not ssl_pending:
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return False
        self.sock.settimeout(max(left, 0.01))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ssl.SSLWantReadError:
            return True
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as e:
            self.eof = True
            self.error = str(e)
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def reply(self, timeout):
        """The next complete reply as a list of lines (bytes, no CRLF);
        raises ScriptError at EOF, on a timeout or a malformed reply."""
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            while b'\r\n' not in self.buf:
                if not self._recv(deadline):
                    what = 'EOF' if self.eof else 'nothing for %gs' % timeout
                    got = what if not lines and not self.buf else \
                        '%s after %s' % (what, show(b'\r\n'.join(lines) + self.buf))
                    raise ScriptError('a reply', got)
            line, self.buf = self.buf.split(b'\r\n', 1)
            m = REPLY_LINE.match(line)
            if not m or (lines and m.group(1) != lines[0][:3]):
                raise ScriptError('a reply line "NNN[ -]text"',
                                  show(line))
            lines.append(line)
            if m.group(2) == b' ':
                return lines
            if len(lines) > MAX_REPLY_LINES:
                raise ScriptError('a reply of at most %d lines'
                                  % MAX_REPLY_LINES, 'more')

    def closed(self, timeout):
        """Waits for EOF; returns the bytes that came before it (or None if
        no EOF came in time)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._recv(deadline) and not self.eof:
                return None
        return self.buf

    def silent(self, secs):
        """The bytes that arrived within secs (b'' if none)."""
        deadline = time.monotonic() + secs
        while self._recv(deadline):
            pass
        return self.buf

    def send(self, data):
        self.sock.sendall(data)

    def starttls(self, ctx, host):
        self.sock = ctx.wrap_socket(self.sock, server_hostname=host)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Runner:
    def __init__(self, args):
        self.a = args
        self.ctx = None
        if args.ca:
            self.ctx = ssl.create_default_context(cafile=args.ca)
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2

    def committed(self):
        """{qid} of the messages in the spool's queue."""
        if not self.a.spool:
            return set()
        return set(q for q, sufs in smtest.queued_ids(self.a.spool).items()
                   if 'env' in sufs)

    def run(self, path):
        with open(path, encoding='utf-8') as f:
            lines = f.read().split('\n')
        self.conns = {}
        self.cur = None
        self.pending = b''
        self.last = []
        self.wait = 10.0
        self.before = self.committed()
        try:
            for n, raw in enumerate(lines, 1):
                self.lineno = n
                line = raw.rstrip('\n')
                if line.startswith('c: ') or line == 'c:':
                    self.pending += unescape(line[3:])
                    continue
                if not line.strip() or line.lstrip().startswith('#') or \
                        line.startswith('@'):
                    continue
                self.flush()
                self.step(line)
            self.lineno = len(lines)
            self.flush()
        except ScriptError as e:
            return 'line %d: %s' % (self.lineno, e)
        except SyntaxErr as e:
            return 'line %d: bad script: %s' % (self.lineno, e)
        except (OSError, ssl.SSLError) as e:
            return 'line %d: expected the step to work, got %s: %s' % (
                self.lineno, type(e).__name__, e)
        finally:
            for c in self.conns.values():
                c.close()
        return None

    def flush(self):
        if self.pending:
            data, self.pending = self.pending, b''
            self.conn().send(data)

    def conn(self):
        if self.cur is None:
            raise SyntaxErr('no connection (use "connect")')
        return self.conns[self.cur]

    def step(self, line):
        word, _, arg = line.partition(' ')
        if word.endswith(':'):
            word, arg = word[:-1], arg
        fn = getattr(self, 'do_' + word.replace('-', '_'), None)
        if fn is None:
            raise SyntaxErr('unknown step %r' % line)
        fn(arg)

    # ---- steps

    def do_connect(self, arg):
        name, source, port, tls, sni = 'main', None, self.a.port, False, \
            'mx.example.test'
        for w in arg.split():
            if w.startswith('from='):
                source = w[5:]
            elif w.startswith('port='):
                port = int(w[5:])
            elif w.startswith('sni='):
                sni = w[4:]
            elif w == 'tls':
                tls = True
            else:
                name = w
        if tls and self.ctx is None:
            raise SyntaxErr('tls needs --ca')
        if name in self.conns:
            self.conns[name].close()
        self.conns[name] = Conn(self.a.host, port, source, tls, sni,
                                self.ctx, self.wait)
        self.cur = name

    def do_use(self, arg):
        if arg not in self.conns:
            raise SyntaxErr('no connection %r' % arg)
        self.cur = arg

    def do_s(self, arg):
        self.last = self.conn().reply(self.wait)
        text = self.last[-1].decode('utf-8', 'replace')
        if not re.match(arg, text):
            raise ScriptError('a reply matching %r' % arg,
                              show(b'\r\n'.join(self.last)))

    def _lines(self):
        return [x.decode('utf-8', 'replace') for x in self.last]

    def do_has(self, arg):
        if not any(re.search(arg, x) for x in self._lines()):
            raise ScriptError('a line matching %r in the reply' % arg,
                              show(b'\r\n'.join(self.last), 600))

    def do_lacks(self, arg):
        if any(re.search(arg, x) for x in self._lines()):
            raise ScriptError('no line matching %r in the reply' % arg,
                              show(b'\r\n'.join(self.last), 600))

    def do_close(self, arg):
        c = self.conn()
        left = c.closed(self.wait)
        if left is None:
            raise ScriptError('the server to close the connection within %gs'
                              % self.wait,
                              'still open' + (', after %s' % show(c.buf)
                                              if c.buf else ''))
        if left:
            raise ScriptError('a close with nothing more sent',
                              '%s before EOF' % show(left))

    def do_silent(self, arg):
        got = self.conn().silent(float(arg))
        if got:
            raise ScriptError('nothing from the server for %ss' % arg,
                              show(got))

    def do_starttls(self, arg):
        c = self.conn()
        if self.ctx is None:
            raise SyntaxErr('starttls needs --ca')
        if c.buf:
            raise ScriptError('nothing unread before the TLS handshake',
                              show(c.buf))
        try:
            c.starttls(self.ctx, arg.strip() or 'mx.example.test')
        except (ssl.SSLError, OSError) as e:
            raise ScriptError('a TLS handshake verified against the test CA',
                              '%s: %s' % (type(e).__name__, e))

    def do_disconnect(self, arg):
        self.conn().close()
        del self.conns[self.cur]
        self.cur = None

    def do_wait(self, arg):
        self.wait = float(arg)

    def do_flush(self, arg):
        pass

    def new_messages(self):
        return sorted(self.committed() - self.before)

    def do_queued(self, arg):
        want = int(arg)
        # A commit is on disk before its 250, so no waiting is needed.
        got = self.new_messages()
        if len(got) != want:
            raise ScriptError('%d message(s) queued by this script' % want,
                              '%d %s' % (len(got), got))

    def newest(self):
        got = self.new_messages()
        if not got:
            raise ScriptError('a message queued by this script', 'none')
        # Queue IDs sort by time.
        env, msg = smtest.find_msg(self.a.spool, got[-1])
        if env is None:
            raise ScriptError('the files of %s' % got[-1], 'none')
        return got[-1], env, msg

    def do_body(self, arg):
        qid, _, msg = self.newest()
        want = unescape(arg)
        with open(msg, 'rb') as f:
            try:
                head, body = smtest.strip_received(f.read())
            except ValueError as e:
                raise ScriptError('%s to start with a Received header' % qid,
                                  str(e))
        if body != want:
            raise ScriptError('%s to hold %s' % (qid, show(want)), show(body))

    def do_received(self, arg):
        qid, _, msg = self.newest()
        with open(msg, 'rb') as f:
            try:
                head, _ = smtest.strip_received(f.read())
            except ValueError as e:
                raise ScriptError('%s to start with a Received header' % qid,
                                  str(e))
        text = re.sub(r'\r\n[ \t]+', ' ', head.decode('utf-8', 'replace'))
        arg = arg.replace('{QID}', qid)
        if not re.search(arg, text):
            raise ScriptError('a Received header of %s matching %r'
                              % (qid, arg), repr(text))

    def do_envelope(self, arg):
        qid, env, _ = self.newest()
        with open(env, encoding='utf-8', errors='replace') as f:
            lines = f.read().split('\n')
        if not any(re.search(arg, x) for x in lines):
            raise ScriptError('a line matching %r in %s.env' % (arg, qid),
                              repr(lines))


def main():
    ap = argparse.ArgumentParser(description='SMTP dialogue scripts')
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=25)
    ap.add_argument('--ca')
    ap.add_argument('--spool')
    ap.add_argument('files', nargs='+')
    a = ap.parse_args()
    r = Runner(a)
    failed = 0
    for path in a.files:
        name = os.path.basename(path)
        t0 = time.monotonic()
        err = r.run(path)
        if err:
            failed += 1
            print('FAIL %s: %s' % (name, err), flush=True)
        else:
            print('PASS %s (%.1fs)' % (name, time.monotonic() - t0),
                  flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
