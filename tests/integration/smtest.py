"""smtest - helpers shared by the strictmail integration tests.

Python 3 standard library only.  Used two ways: imported by the Python
parts of the tests (sys.path gets this folder), and as a small command
line tool from lib.sh:

  smtest.py send HOST PORT FROM TO[,TO...] BODYFILE [SOURCEADDR]
      sends one message with smtplib; prints "250 <QID>" or
      "ERR <code> <text>"; exit 0 only for "250 2.0.0 Ok: queued as QID".
      SMTEST_MAIL_OPTS="SMTPUTF8 BODY=8BITMIME" adds MAIL parameters.
  smtest.py check SPOOL QID BODYFILE [RCPT,...]
      checks that QID is committed in SPOOL with exactly that body below
      strictmail's Received header (and these recipients); prints the
      problems and exits 1 if there are any.
  smtest.py body TAG SIZE
      writes a test message (CRLF lines, unique per TAG) to stdout.
  smtest.py sha256 FILE
      hash of a file below the Received header.
"""

import glob
import hashlib
import os
import re
import smtplib
import socket
import sys
import time

QID_RE = re.compile(r'^[0-9A-F]{16}$')
QUEUED_RE = re.compile(r'^2\.0\.0 Ok: queued as ([0-9A-F]{16})$')
ENV_MAGIC = 'strictmail-envelope 2'

# ---------------------------------------------------------------- messages


def make_body(tag, size=1024):
    """A message in wire form (CRLF, ends with CRLF), unique for tag.

    It has a Date and a Message-ID, so a submission listener adds none;
    it holds lines that start with dots, so dot-stuffing and unstuffing
    are exercised, and 8-bit bytes.  size is approximate (lower bound)."""
    head = ('From: <sender@example.org>\r\n'
            'To: <root@localhost>\r\n'
            'Subject: test %s\r\n'
            'Message-ID: <%s@test.invalid>\r\n'
            'Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n'
            '\r\n' % (tag, tag)).encode()
    lines = [b'first line of ' + tag.encode(),
             b'.a line that starts with one dot',
             b'..two dots',
             b'.',
             b' a line with a leading space and 8-bit \xc3\xa9\xc3\xa0']
    parts = [head + b'\r\n'.join(lines) + b'\r\n']
    total, n = len(parts[0]), 0
    while total < size:
        line = ('%s line %06d abcdefghijklmnopqrstuvwxyz0123456789\r\n'
                % (tag, n)).encode()
        parts.append(line)
        total += len(line)
        n += 1
    return b''.join(parts)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def parse_queued(text):
    """QID from the text of a 250 reply after DATA, or None."""
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    m = QUEUED_RE.match(text.strip())
    return m.group(1) if m else None


def send_one(host, port, sender, rcpts, body, source=None, timeout=30,
             helo='client.test'):
    """One session, one message.  Returns (code, text, qid); qid only for
    an exact "250 2.0.0 Ok: queued as QID" reply.  Errors at MAIL/RCPT
    come back as their code and text."""
    src = (source, 0) if source else None
    s = smtplib.SMTP(host, port, timeout=timeout, source_address=src,
                     local_hostname=helo)
    try:
        s.ehlo()
        code, text = s.mail(sender,
                            os.environ.get('SMTEST_MAIL_OPTS', '').split())
        if code != 250:
            return code, text.decode('utf-8', 'replace'), None
        for r in rcpts:
            code, text = s.rcpt(r)
            if code not in (250, 251):
                return code, text.decode('utf-8', 'replace'), None
        code, text = s.data(body)
        text = text.decode('utf-8', 'replace')
        qid = parse_queued(text) if code == 250 else None
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
        return code, text, qid
    finally:
        s.close()


class Raw:
    """A raw SMTP client: bytes out, complete replies in (for pipelining,
    half-finished sessions and exact reply text)."""

    def __init__(self, host, port, source=None, timeout=30):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b''

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self, timeout=None):
        """Next complete reply as (code, [lines]); (None, []) at EOF."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        lines = []
        while True:
            while b'\r\n' not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None, lines
                self.buf += chunk
            line, self.buf = self.buf.split(b'\r\n', 1)
            line = line.decode('utf-8', 'replace')
            lines.append(line)
            if len(line) < 4 or line[3] != '-':
                try:
                    return int(line[:3]), lines
                except ValueError:
                    return -1, lines

    def cmd(self, line, timeout=None):
        self.send(line + '\r\n')
        return self.reply(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def stuff(body):
    """Dot-stuff a CRLF message for DATA and add the final dot."""
    out = re.sub(rb'(?m)^\.', b'..', body)
    if not out.endswith(b'\r\n'):
        out += b'\r\n'
    return out + b'.\r\n'


# ------------------------------------------------------------------- spool


def strip_received(content):
    """(Received header block, rest).  The block is the first line, which
    must start with "Received: from ", and its continuation lines (they
    start with a tab or space).  Raises ValueError if it is missing."""
    if not content.startswith(b'Received: from '):
        raise ValueError('content does not start with "Received: from ": %r'
                         % content[:40])
    pos = content.find(b'\r\n')
    if pos < 0:
        raise ValueError('Received line has no CRLF')
    pos += 2
    while content[pos:pos + 1] in (b'\t', b' '):
        nxt = content.find(b'\r\n', pos)
        if nxt < 0:
            raise ValueError('Received continuation has no CRLF')
        pos = nxt + 2
    return content[:pos], content[pos:]


def body_hash_of_file(path):
    with open(path, 'rb') as f:
        return sha256(strip_received(f.read())[1])


def parse_env(path):
    """Reads an envelope file against the documented format.  Returns
    (dict of singleton keys, [recipients]).  Raises ValueError."""
    with open(path, 'rb') as f:
        raw = f.read()
    if not raw.endswith(b'\n'):
        raise ValueError('%s: does not end with a newline' % path)
    lines = raw[:-1].decode('utf-8', 'surrogateescape').split('\n')
    if lines[0] != ENV_MAGIC:
        raise ValueError('%s: first line %r, expected %r'
                         % (path, lines[0], ENV_MAGIC))
    if lines[-1] != 'end':
        raise ValueError('%s: last line %r, expected "end"' % (path, lines[-1]))
    keys, rcpts = {}, []
    for n, line in enumerate(lines[1:-1], 2):
        key, _, value = line.partition(' ')
        if key == 'end':
            raise ValueError('%s: line %d: "end" before the last line'
                             % (path, n))
        if key == 'rcpt':
            state, _, addr = value.partition(' ')
            if state not in ('pending', 'delivered', 'failed'):
                raise ValueError('%s: line %d: bad rcpt state %r'
                                 % (path, n, state))
            if not (addr.startswith('<') and addr.endswith('>')):
                raise ValueError('%s: line %d: rcpt address %r not in <>'
                                 % (path, n, addr))
            rcpts.append((state, addr[1:-1]))
        elif key.startswith('rcpt-'):
            continue
        else:
            if key in keys:
                raise ValueError('%s: line %d: key %r repeated'
                                 % (path, n, key))
            keys[key] = value
    if not rcpts:
        raise ValueError('%s: no rcpt line' % path)
    return keys, rcpts


def find_msg(spool, qid):
    """(env path, msg path) of a committed message, or (None, None)."""
    envs = glob.glob(os.path.join(spool, 'queue', '*', qid + '.env'))
    if len(envs) != 1:
        return None, None
    env = envs[0]
    return env, env[:-4] + '.msg'


def check_msg(spool, qid, want_hash, want_rcpts=None):
    """Problems (list of str) with committed message qid; [] if all is well."""
    errs = []
    env, msg = find_msg(spool, qid)
    if env is None:
        return ['%s: no queue/*/%s.env in the spool' % (qid, qid)]
    sub = os.path.basename(os.path.dirname(env))
    if not re.match(r'^[0-9A-F]{2}$', sub, re.I):
        errs.append('%s: hashed folder %r is not 2 hex digits' % (qid, sub))
    if not os.path.isfile(msg):
        return errs + ['%s: %s.env without %s.msg' % (qid, qid, qid)]
    try:
        keys, rcpts = parse_env(env)
    except (ValueError, OSError) as e:
        return errs + ['%s: envelope: %s' % (qid, e)]
    if keys.get('id') != qid:
        errs.append('%s: envelope id %r' % (qid, keys.get('id')))
    size = os.path.getsize(msg)
    if keys.get('size') != str(size):
        errs.append('%s: envelope size %r, ID.msg has %d octets'
                    % (qid, keys.get('size'), size))
    with open(msg, 'rb') as f:
        digest = 'sha256:' + hashlib.sha256(f.read()).hexdigest()
    if keys.get('digest') != digest:
        errs.append('%s: envelope digest %r, ID.msg hashes to %s'
                    % (qid, keys.get('digest'), digest))
    if want_rcpts is not None:
        got = sorted(a.lower() for _, a in rcpts)
        want = sorted(a.lower() for a in want_rcpts)
        if got != want:
            errs.append('%s: recipients %s, expected %s' % (qid, got, want))
    try:
        h = body_hash_of_file(msg)
    except (ValueError, OSError) as e:
        return errs + ['%s: content: %s' % (qid, e)]
    if h != want_hash:
        errs.append('%s: body below Received hashes to %s, expected %s'
                    % (qid, h[:16], want_hash[:16]))
    return errs


def spool_files(spool, sub):
    """Names of regular files below spool/sub (recursively)."""
    out = []
    for dirpath, _, files in os.walk(os.path.join(spool, sub)):
        for f in files:
            out.append(os.path.relpath(os.path.join(dirpath, f), spool))
    return sorted(out)


def queued_ids(spool):
    """{qid: set of suffixes} of everything in queue/XX/."""
    ids = {}
    for p in glob.glob(os.path.join(spool, 'queue', '*', '*')):
        base = os.path.basename(p)
        stem, dot, suf = base.rpartition('.')
        ids.setdefault(stem if dot else base, set()).add(suf if dot else '')
    return ids


# ----------------------------------------------------------------- checks


class Checker:
    """Prints each check as it is made and remembers the failures.  done()
    exits 1 after writing the first failure ("expected X, got Y") to
    $T_FAILFILE, where lib.sh's t_fail_py finds it."""

    def __init__(self, name=None):
        self.name = name or os.environ.get('T_NAME', 'test')
        self.failed = []
        sys.excepthook = self._excepthook

    def _excepthook(self, etype, value, tb):
        import traceback
        traceback.print_exception(etype, value, tb)
        path = os.environ.get('T_FAILFILE')
        where = traceback.extract_tb(tb)[-1] if tb else None
        msg = 'expected no exception, got %s: %s%s' % (
            etype.__name__, value,
            ' (line %d: %s)' % (where.lineno, where.line) if where else '')
        if path:
            with open(path, 'w') as f:
                f.write(msg.replace('\n', ' ') + '\n')

    def say(self, text):
        print('%s: %s' % (self.name, text), flush=True)

    def check(self, what, ok, expected=None, got=None):
        self.say('%s: %s' % (what, 'ok' if ok else 'FAILED'))
        if not ok:
            self.say('  expected %s, got %s' % (expected, got))
            self.failed.append('expected %s: %s, got %s' % (what, expected, got))
        return ok

    def fail(self, expected, got):
        self.failed.append('expected %s, got %s' % (expected, got))
        self.say('expected %s, got %s' % (expected, got))
        self.done()

    def done(self):
        if not self.failed:
            return
        path = os.environ.get('T_FAILFILE')
        if path:
            with open(path, 'w') as f:
                f.write(self.failed[0].replace('\n', ' ') + '\n')
        self.say('%d check(s) failed' % len(self.failed))
        sys.exit(1)


# ---------------------------------------------------------------- waiting


def wait_for(pred, timeout, step=0.05):
    """Polls pred() until it is true or timeout seconds pass."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def log_has(path, needle):
    try:
        with open(path, 'rb') as f:
            return needle.encode() in f.read()
    except OSError:
        return False


# ------------------------------------------------------------ command line


def _main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    op = argv[1]
    if op == 'send' and len(argv) in (7, 8):
        host, port, sender, rcpts, bodyfile = argv[2:7]
        src = argv[7] if len(argv) == 8 else None
        with open(bodyfile, 'rb') as f:
            body = f.read()
        try:
            code, text, qid = send_one(host, int(port), sender,
                                       rcpts.split(','), body, src)
        except (smtplib.SMTPException, OSError) as e:
            print('ERR 0 %s' % e)
            return 1
        if qid:
            print('250 %s' % qid)
            return 0
        print('ERR %s %s' % (code, text))
        return 1
    if op == 'check' and len(argv) in (5, 6):
        spool, qid, bodyfile = argv[2:5]
        rcpts = argv[5].split(',') if len(argv) == 6 else None
        with open(bodyfile, 'rb') as f:
            want = sha256(f.read())
        errs = check_msg(spool, qid, want, rcpts)
        for e in errs:
            print(e)
        return 1 if errs else 0
    if op == 'body' and len(argv) == 4:
        sys.stdout.buffer.write(make_body(argv[2], int(argv[3])))
        return 0
    if op == 'sha256' and len(argv) == 3:
        print(body_hash_of_file(argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(_main(sys.argv))
