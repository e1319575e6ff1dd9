"""noloss - the kill -9 test driver of t-21-noloss (runs inside the test's
network namespace; Python 3 standard library only).

Rounds: start strictmaild (its own session and process group), let several
client threads send messages with unique bodies, and at a random moment
(mostly while messages are in flight) SIGKILL either the whole process group or one child (queue or smtpd); wait
for the parent to exit, restart, and once the restarted daemon is ready
check the spool:

  - every message that got "250 ... queued as QID" has QID.env and QID.msg,
    the envelope parses and lists its recipients, and the body below the
    Received header hashes to what the client sent;
  - every envelope in queue/ parses, has its content, and its body is one a
    client sent in full (nothing half-received is taken for a message);
  - no content without an envelope in queue/, incoming/ is empty, nothing
    in corrupt/.

Usage: noloss.py BIN CONF SPOOL WORKDIR PRIV GROUP_ROUNDS CHILD_ROUNDS SEED
"""

import os
import random
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time

from smtest import (Checker, make_body, sha256, parse_queued, check_msg,
                    parse_env, body_hash_of_file, queued_ids, spool_files,
                    find_msg, wait_for)

CLIENTS = 4
PER_ROUND_CAP = 24          # messages started per round, over all clients
BUDGET = 170.0              # seconds for all rounds
READY_TIMEOUT = 30
EXIT_TIMEOUT = 30


class Daemon:
    def __init__(self, argv, log, pidfile):
        self.log = log
        self.out = open(log, 'ab')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        with open(pidfile, 'w') as f:
            f.write('%d\n' % self.proc.pid)

    def text(self):
        with open(self.log, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def ready(self):
        end = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < end:
            t = self.text()
            if ('strictmail/strictmaild[' in t and ']: ready: listening on' in t
                    and re.search(r']: recovery: \d+ messages in queue', t)):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def children(self):
        pids = set()
        try:
            for t in os.listdir('/proc/%d/task' % self.proc.pid):
                with open('/proc/%d/task/%s/children' % (self.proc.pid, t)) as f:
                    pids.update(int(x) for x in f.read().split())
        except OSError:
            pass
        out = {}
        for p in pids:
            try:
                with open('/proc/%d/comm' % p) as f:
                    out[p] = f.read().strip()
            except OSError:
                pass
        return out

    def group_members(self):
        g, out = self.proc.pid, []
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % d) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rfind(')') + 2:].split()
            if fields[0] != 'Z' and int(fields[2]) == g:
                out.append(int(d))
        return out

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_group_gone(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.group_members():
                return True
            time.sleep(0.05)
        return not self.group_members()

    def kill_group(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self):
        self.out.close()


class Clients:
    """Client threads for one round; they stop when told or when the
    round's message budget is used up."""

    def __init__(self, rnd, state):
        self.rnd, self.state = rnd, state
        self.stop = threading.Event()
        self.started = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(c,), daemon=True)
                        for c in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def take(self):
        with self.lock:
            if self.started >= PER_ROUND_CAP:
                return None
            self.started += 1
            return self.started

    def run(self, c):
        rng = random.Random('%d-%d-%d' % (self.state.seed, self.rnd, c))
        while not self.stop.is_set():
            try:
                self.session(c, rng)
            except (smtplib.SMTPException, OSError):
                pass
            if self.stop.wait(0.05):
                return
            with self.lock:
                if self.started >= PER_ROUND_CAP:
                    return

    def session(self, c, rng):
        s = smtplib.SMTP('127.0.0.1', 25, timeout=10, local_hostname='c%d.test' % c)
        try:
            s.ehlo()
            while not self.stop.is_set():
                n = self.take()
                if n is None:
                    s.quit()
                    return
                size = rng.choice([600, 2000, 6000, 20000, 70000, 250000])
                body = make_body('noloss-r%d-c%d-n%d-%d' % (self.rnd, c, n, rng.randrange(1 << 30)),
                                 size)
                rcpts = ['root@localhost'] if n % 3 else ['root@localhost', 'postmaster@localhost']
                h = sha256(body)
                code, _ = s.mail('c%d@example.org' % c)
                if code != 250:
                    return
                for r in rcpts:
                    code, _ = s.rcpt(r)
                    if code != 250:
                        return
                self.state.sent(h, rcpts)
                code, text = s.data(body)
                qid = parse_queued(text) if code == 250 else None
                if qid:
                    self.state.acked(qid, h, rcpts)
                elif code == 250:
                    self.state.bad_reply.append(text)
                else:
                    return
        finally:
            s.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        return not any(t.is_alive() for t in self.threads)


class State:
    def __init__(self, seed):
        self.seed = seed
        self.lock = threading.Lock()
        self.sent_hashes = {}      # hash -> rcpts: data() was called with it
        self.acks = {}             # qid -> (hash, rcpts)
        self.bad_reply = []

    def sent(self, h, rcpts):
        with self.lock:
            self.sent_hashes[h] = rcpts

    def acked(self, qid, h, rcpts):
        with self.lock:
            self.acks[qid] = (h, rcpts)


def check_spool(T, spool, state, label):
    """Checks the spool of a restarted, ready daemon; returns #problems."""
    bad = 0

    def problem(expected, got):
        nonlocal bad
        bad += 1
        if bad <= 5:
            T.check('%s: %s' % (label, expected), False, expected, got)

    inc = spool_files(spool, 'incoming')
    if inc:
        problem('incoming/ empty after the restart', inc[:5])
    cor = spool_files(spool, 'corrupt')
    if cor:
        problem('nothing in corrupt/', cor[:5])
    with state.lock:
        acks = dict(state.acks)
        sent = dict(state.sent_hashes)
    for qid, (h, rcpts) in sorted(acks.items()):
        errs = check_msg(spool, qid, h, rcpts)
        if errs:
            problem('acknowledged %s in the spool, intact' % qid, errs)
    ids = queued_ids(spool)
    for qid, sufs in sorted(ids.items()):
        if sufs != {'env', 'msg'}:
            problem('queue/*/%s.env and .msg, nothing else' % qid, sorted(sufs))
            continue
        env, _ = find_msg(spool, qid)
        base = os.path.relpath(env, spool) if env else qid
        if env is None:
            problem('one queue/*/%s.env' % qid, 'none or several')
            continue
        try:
            _, rcpts = parse_env(env)
            h = body_hash_of_file(env[:-4] + '.msg')
        except (ValueError, OSError) as e:
            problem('%s parses' % base, e)
            continue
        if h not in sent:
            problem('%s: body of a message a client sent in full' % qid,
                    'a body no client sent (sha256 %s)' % h[:16])
        elif sorted(a for _, a in rcpts) != sorted(sent[h]):
            problem('%s: recipients %s' % (qid, sent[h]), [a for _, a in rcpts])
    return bad, len(ids)


def main(argv):
    if len(argv) != 9:
        print(__doc__, file=sys.stderr)
        return 2
    binpath, conf, spool, work, priv = argv[1:6]
    group_rounds, child_rounds, seed = int(argv[6]), int(argv[7]), int(argv[8])
    T = Checker()
    rng = random.Random(seed)
    state = State(seed)
    daemon_argv = [binpath, '-d'] + ([] if priv == '1' else ['-u']) + ['-f', conf]
    pidfile = os.path.join(work, 'daemon.pid')
    kinds = ['group'] * group_rounds + ['queue', 'smtpd'] * (child_rounds // 2)
    kinds += ['queue'] * (child_rounds % 2)
    rng.shuffle(kinds)
    T.say('seed %d: %d rounds (%d kill the process group, %d kill one child), '
          '%d clients' % (seed, len(kinds), group_rounds, child_rounds, CLIENTS))
    t_start = time.monotonic()
    d = None
    done = {'group': 0, 'queue': 0, 'smtpd': 0}
    inflight_kills = 0

    def start(n):
        log = os.path.join(work, 'round-%02d.log' % n)
        dd = Daemon(daemon_argv, log, pidfile)
        if not dd.ready():
            tail = dd.text().splitlines()[-15:]
            dd.kill_group()
            dd.wait_exit(5)
            print('\n'.join(tail))
            T.fail('strictmaild ready within %d s (round %d)' % (READY_TIMEOUT, n),
                   'exit status %s' % dd.proc.poll())
        return dd

    try:
        for n, kind in enumerate(kinds):
            if time.monotonic() - t_start > BUDGET:
                T.fail('all %d rounds within %d s' % (len(kinds), BUDGET),
                       'only %d done' % n)
            d = start(n)
            if n > 0:
                bad, nq = check_spool(T, spool, state, 'after round %d' % (n - 1))
                if bad:
                    print('\n'.join(d.text().splitlines()[-15:]))
                    T.done()
            cl = Clients(n, state)
            acks_before = len(state.acks)
            cl.start()
            # The moment: right after the k-th message started (so a kill
            # finds sessions at every step: in DATA, committing, answering),
            # plus a random delay; every third round a plain random time.
            if n % 3 == 2:
                time.sleep(rng.uniform(0.02, 0.8))
            else:
                k = rng.randint(1, PER_ROUND_CAP)
                wait_for(lambda: cl.started >= k, 10, step=0.001)
                time.sleep(rng.uniform(0, 0.01))
            kids = d.children()
            if kind == 'group':
                d.kill_group()
                target = 'process group %d' % d.proc.pid
            else:
                victims = [p for p, comm in kids.items() if kind in comm]
                if not victims:
                    T.fail('a %s child of %d' % (kind, d.proc.pid), kids)
                os.kill(victims[0], signal.SIGKILL)
                target = '%s child %d' % (kind, victims[0])
            t_kill = time.monotonic()
            rc = d.wait_exit(EXIT_TIMEOUT)
            waited = time.monotonic() - t_kill
            if rc is None:
                d.kill_group()
                d.wait_exit(5)
                T.fail('parent exit within %d s after SIGKILL of %s' % (EXIT_TIMEOUT, target),
                       'still running')
            gone = d.wait_group_gone(10)
            if not gone:
                left = d.group_members()
                d.kill_group()
                T.fail('every process of the group gone after the parent exited '
                       '(SIGKILL of %s)' % target, 'left: %s' % left)
            if kind != 'group':
                T.check('round %d: parent exit status 1 after its %s child died'
                        % (n, kind), rc == 1, 1, rc)
            finished = cl.finish()
            T.check('round %d: clients finished' % n, finished, 'all joined', 'hung')
            inflight = cl.started - (len(state.acks) - acks_before)
            if inflight:
                inflight_kills += 1
            done[kind] += 1
            T.say('round %2d: SIGKILL %s after %d started, %d acknowledged; parent exit '
                  '%s after %.2f s' % (n, target, cl.started, len(state.acks) - acks_before,
                                       rc, waited))
            d.close()
            d = None
        d = start(len(kinds))
        bad, nq = check_spool(T, spool, state, 'after the last round')
        T.check('every 250 after DATA reads "2.0.0 Ok: queued as QID"', not state.bad_reply,
                '"250 2.0.0 Ok: queued as QID"', state.bad_reply[:3])
        T.say('%d messages sent in full, %d acknowledged, %d in the queue; %d of %d kills '
              'hit messages in flight; %.0f s'
              % (len(state.sent_hashes), len(state.acks), nq, inflight_kills,
                 len(kinds), time.monotonic() - t_start))
        want_group = max(1, group_rounds - 2)   # 20 of the 22 rounds by default
        T.check('at least %d process-group kills' % want_group, done['group'] >= want_group,
                '>= %d' % want_group, done['group'])
        T.check('kills of the queue and of smtpd', done['queue'] >= 1 and done['smtpd'] >= 1,
                '>= 1 each', done)
        want_acks = 200 * min(len(kinds), 30) // 30   # 200 for the 30 rounds by default
        T.check('at least %d acknowledged messages' % want_acks, len(state.acks) >= want_acks,
                '>= %d' % want_acks, len(state.acks))
        if bad:
            T.done()
        d.proc.send_signal(signal.SIGTERM)
        rc = d.wait_exit(EXIT_TIMEOUT)
        T.check('clean exit after SIGTERM at the end', rc == 0, 0, rc)
        d.wait_group_gone(10)
        T.done()
    finally:
        if d is not None and d.proc.poll() is None:
            d.kill_group()
            d.wait_exit(5)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
