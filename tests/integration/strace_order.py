"""strace_order - proves from a system call trace that every "250 2.0.0 Ok:
queued as ID" was written to the client only after the message was on
stable storage.

Input: the output of
  strace -f -ttt -T -yy -s 4096 -o FILE -e trace=<syncs, renames, writes>
run on strictmaild, the spool path, and optionally a file with the queue IDs
the clients received (one a line).

For every queue ID in a 250 reply written to a socket, with times taken
from the trace (entry time, and entry time + -T duration for the return),
each of these returned before the start of a sync that covers it and that
returned (with 0) before the first write (write, writev, sendto, sendmsg)
of "250 2.0.0 Ok: queued as ID" started:

  the writes to ID.msg (any process), and to ID.env;
  the rename of ID.msg and of ID.env into queue/XX (covered by a sync of
  queue/XX; their removal from incoming/ needs none: recovery empties it).

A sync covers everything when it is syncfs() on a descriptor inside the
spool or sync(); fsync()/fdatasync() cover only their own file (or, on a
directory, the entries renamed into it).

strace stamps a system call when it stops the thread at entry (before the
kernel runs it) and at exit (after it returned), so "A returned before B
started" read from the trace also holds for the real calls.

Usage: strace_order.py TRACE SPOOL [CLIENT_QIDS]   exit 0 = proven
"""

import collections
import os
import re
import sys

LINE_RE = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(.*)$')
CALL_RE = re.compile(r'^([a-z_0-9]+)\((.*)$')
UNFINISHED = ' <unfinished ...>'
RESUMED_RE = re.compile(r'^<\.\.\. ([a-z_0-9]+) resumed>(.*)$')
RESULT_RE = re.compile(r'^(.*)\)\s+= (-?\d+|\?)(?:<([^>]*)>)?(.*?)(?:\s+<(\d+\.\d+)>)?$')
FD_RE = re.compile(r'^(AT_FDCWD|-?\d+)(?:<(.*?)>)?(?:, |$)')
RENAMEAT_RE = re.compile(
    r'^(AT_FDCWD|\d+)(?:<(.*?)>)?, "((?:[^"\\]|\\.)*)", '
    r'(AT_FDCWD|\d+)(?:<(.*?)>)?, "((?:[^"\\]|\\.)*)"')
RENAME_RE = re.compile(r'^"((?:[^"\\]|\\.)*)", "((?:[^"\\]|\\.)*)"')
QUEUED_RE = re.compile(r'250 2\.0\.0 Ok: queued as ([0-9A-F]{16})\\r\\n')
ID_FILE_RE = re.compile(r'(?:^|/)([0-9A-F]{16})\.(msg|env)$')
QUEUE_DST_RE = re.compile(r'(?:^|/)queue/([0-9A-Fa-f]{2})/([0-9A-F]{16})\.(msg|env)$')

WRITES = ('write', 'writev', 'pwrite64', 'pwritev', 'pwritev2')
SENDS = ('write', 'writev', 'sendto', 'sendmsg')
SYNCS = ('syncfs', 'sync', 'fsync', 'fdatasync')

Call = collections.namedtuple('Call', 'pid name args ret retpath start end')


def parse(path):
    """Every complete system call of the trace, in order of entry."""
    calls, pending = [], {}
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        for raw in f:
            raw = raw.rstrip('\n')
            m = LINE_RE.match(raw)
            if not m:
                continue
            pid, ts, rest = int(m.group(1)), float(m.group(2)), m.group(3)
            if rest.startswith('---') or rest.startswith('+++'):
                continue
            r = RESUMED_RE.match(rest)
            seen_end = None
            if r:
                if pid not in pending:
                    continue
                name, start, head = pending.pop(pid)
                if name != r.group(1):
                    continue
                text = head + r.group(2)
                seen_end = ts
            elif rest.endswith(UNFINISHED):
                c = CALL_RE.match(rest[:-len(UNFINISHED)])
                if c:
                    pending[pid] = (c.group(1), ts, c.group(2))
                continue
            else:
                c = CALL_RE.match(rest)
                if not c:
                    continue
                name, start, text = c.group(1), ts, c.group(2)
            res = RESULT_RE.match(text)
            if not res:
                continue
            args, ret, retpath, _, dur = res.groups()
            ret = None if ret == '?' else int(ret)
            end = start + float(dur) if dur else None
            if end is not None and seen_end is not None:
                # Whichever is later: both are at or after the real return.
                end = max(end, seen_end)
            calls.append(Call(pid, name, args, ret, retpath, start, end))
    calls.sort(key=lambda c: c.start)
    return calls


def fd_path(args):
    m = FD_RE.match(args)
    return m.group(2) if m else None


def join(dirpath, name):
    if name.startswith('/') or not dirpath:
        return name
    return dirpath.rstrip('/') + '/' + name


def rename_paths(c):
    """(source, destination) of a rename family call, or (None, None)."""
    if c.name == 'rename':
        m = RENAME_RE.match(c.args)
        return (m.group(1), m.group(2)) if m else (None, None)
    m = RENAMEAT_RE.match(c.args)
    if not m:
        return None, None
    return join(m.group(2), m.group(3)), join(m.group(5), m.group(6))


class Trace:
    def __init__(self, calls, spool):
        self.spool = os.path.realpath(spool)
        self.syncs = []                           # (call, covers-all, path)
        self.writes = collections.defaultdict(list)   # 'ID.msg' -> [call]
        self.renames = collections.defaultdict(list)  # 'ID.msg' -> [(call, dst)]
        self.acks = {}                            # qid -> first 250 call
        self.problems = []
        for c in calls:
            self.add(c)

    def in_spool(self, p):
        return p is not None and (p == self.spool or p.startswith(self.spool + '/'))

    def add(self, c):
        if c.end is None:
            return
        if c.name in SYNCS:
            if c.ret != 0:
                return
            if c.name == 'sync':
                self.syncs.append((c, True, None))
            elif c.name == 'syncfs':
                # strace reads the descriptor's path from outside any
                # chroot, so it is the full path.
                p = fd_path(c.args)
                self.syncs.append((c, self.in_spool(p), p))
            else:
                self.syncs.append((c, False, fd_path(c.args)))
        elif c.name.startswith('rename'):
            src, dst = rename_paths(c)
            if dst is None:
                return
            m = QUEUE_DST_RE.search(dst)
            if m and c.ret == 0:
                self.renames[m.group(2) + '.' + m.group(3)].append((c, dst))
        if c.name in WRITES:
            p = fd_path(c.args)
            m = ID_FILE_RE.search(p or '')
            if m and self.in_spool(p):
                self.writes[m.group(1) + '.' + m.group(2)].append(c)
        if c.name in SENDS:
            # The client's socket: "TCP:[...]", "TCPv6:[...]" with -yy, or
            # "socket:[inode]" where strace cannot tell more.
            p = fd_path(c.args) or ''
            if p.startswith(('TCP', 'socket:')):
                for q in QUEUED_RE.findall(c.args):
                    if q not in self.acks:
                        self.acks[q] = c
                    if c.ret is None or c.ret < 0:
                        self.problems.append('%s: the 250 write failed (%s)' % (q, c.ret))

    def covering(self, after, before, fname=None, dirname=None):
        """The first sync that starts at or after `after`, returns at or
        before `before` and covers the file fname ("ID.msg") or the folder
        dirname ("queue/XX") whose entries changed."""
        for c, all_, p in self.syncs:
            if c.start < after:
                continue
            if c.end > before:
                continue
            if all_:
                return c
            if p and self.in_spool(p) and (
                    (fname and p.endswith('/' + fname)) or
                    (dirname and p.endswith('/' + dirname))):
                return c
        return None


def check(trace, client_qids):
    errs, groups, pre_groups = [], collections.Counter(), collections.Counter()
    qids = sorted(trace.acks)
    for q in client_qids:
        if q not in trace.acks:
            errs.append('%s: a client got it, but no 250 write for it is in the trace' % q)
    for q in qids:
        ack = trace.acks[q]
        e = check_one(trace, q, ack, groups, pre_groups)
        errs.extend(e)
    return qids, errs, groups, pre_groups


def check_one(trace, q, ack, groups, pre_groups):
    def fmt(t):
        return '%.6f' % t

    errs = []
    ren_msg = [r for r in trace.renames.get(q + '.msg', []) if r[0].start < ack.start]
    ren_env = [r for r in trace.renames.get(q + '.env', []) if r[0].start < ack.start]
    w_msg = [c for c in trace.writes.get(q + '.msg', []) if c.start < ack.start]
    w_env = [c for c in trace.writes.get(q + '.env', []) if c.start < ack.start]
    if not ren_msg:
        return ['%s: no rename of %s.msg into queue/ before its 250 at %s'
                % (q, q, fmt(ack.start))]
    if not ren_env:
        return ['%s: no rename of %s.env into queue/ before its 250 at %s'
                % (q, q, fmt(ack.start))]
    if not w_env:
        return ['%s: no write to %s.env in the trace' % (q, q)]
    if not w_msg:
        return ['%s: no write to %s.msg in the trace' % (q, q)]
    # The first renames are the commit; a later one before the 250 is a
    # rewrite of the envelope by an early delivery attempt (local
    # delivery can defer a recipient before the 250 reaches the client).
    env_ren, env_dst = ren_env[0]
    msg_ren, msg_dst = ren_msg[0]
    env_dir = QUEUE_DST_RE.search(env_dst).group(1)
    msg_dir = QUEUE_DST_RE.search(msg_dst).group(1)
    for c in w_msg + w_env:
        if c.ret is None or c.ret < 0:
            errs.append('%s: %s on %s failed (%s) before a 250'
                        % (q, c.name, fd_path(c.args), c.ret))
    items = [
        ('content writes', max(c.end for c in w_msg), q + '.msg', None),
        ('envelope writes', max(c.end for c in w_env), q + '.env', None),
        ('content rename', msg_ren.end, None, 'queue/' + msg_dir),
        ('envelope rename', env_ren.end, None, 'queue/' + env_dir),
    ]
    for what, done, fname, dname in items:
        s = trace.covering(done, ack.start, fname=fname, dirname=dname)
        if s is None:
            later = [c for c, _, _ in trace.syncs if c.start >= done][:1]
            errs.append('%s: %s returned at %s, 250 written at %s, but no sync '
                        'covering it started after that and returned before the 250%s'
                        % (q, what, fmt(done), fmt(ack.start),
                           ' (next sync: %s %s .. %s)' % (later[0].name, fmt(later[0].start),
                                                          fmt(later[0].end))
                           if later else ''))
        elif what == 'envelope rename':
            groups[(s.pid, s.start)] += 1
        elif what == 'content writes':
            pre_groups[(s.pid, s.start)] += 1
    return errs


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    client_qids = []
    if len(argv) == 4:
        with open(argv[3]) as f:
            client_qids = [l.split()[0] for l in f if l.strip()]
    calls = parse(argv[1])
    trace = Trace(calls, argv[2])
    qids, errs, groups, pre_groups = check(trace, client_qids)
    errs = trace.problems + errs
    nsync = sum(1 for c, all_, _ in trace.syncs if c.name == 'syncfs')
    print('trace: %d system calls, %d syncs (%d syncfs), %d queue ids in 250 replies'
          % (len(calls), len(trace.syncs), nsync, len(qids)))
    if len(qids):
        print('syncs per acknowledged message: %.2f' % (len(trace.syncs) / len(qids)))
    if groups:
        sizes = sorted(groups.values())
        print('group commit: %d messages were covered by %d distinct folder syncs '
              '(messages per sync: min %d, max %d, mean %.1f); %d distinct syncs '
              'covered their content' % (sum(sizes), len(sizes), sizes[0], sizes[-1],
                                         sum(sizes) / len(sizes), len(pre_groups)))
        hist = collections.Counter(sizes)
        print('  syncs covering k messages: %s'
              % ', '.join('k=%d: %d' % (k, hist[k]) for k in sorted(hist)))
    for e in errs[:20]:
        print('VIOLATION ' + e)
    if len(errs) > 20:
        print('... and %d more' % (len(errs) - 20))
    if not qids:
        print('VIOLATION no 250 reply found in the trace')
        return 1
    return 1 if errs else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
