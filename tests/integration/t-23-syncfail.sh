#!/bin/bash
# t-23-syncfail: the commit path when a sync fails (DESIGN.md, the spool:
# "any write, sync or rename error answers 451 4.3.0 and leaves nothing
# behind; a failed fsync is never retried and trusted").
#
# The fault comes from outside strictmail: failsync.c, built here and
# loaded with LD_PRELOAD into the plain build (the sanitizer build must
# keep its runtime first in the library list), makes the Nth and following
# fsync/fdatasync calls of a process fail with EIO without calling the
# real one.  In the queue process each batch makes an fdatasync of the
# content and of the envelope of each message and an fsync of each
# queue/XX folder it renamed into, side by side on several threads, so
# their order is not known (queue/INTERNALS).  Messages are sent one at a
# time, so each batch is one message with three syncs; FAILSYNC_ONLY picks
# one kind of them (content: a file over 4500 octets, as every test
# message is; envelope: a file under 3000; folder: a directory), and then
# message N makes call N.
#
# Phase 1, envelopes, FAILSYNC_FROM=2 COUNT=2: messages 2 and 3 fail at
#   the envelope's fdatasync.
# Phase 2, same spool, folders, FROM=2 COUNT=1: message 2 fails at the
#   folder's fsync.
# Phase 3, same spool, contents, FROM=3 COUNT=1: message 3 fails at the
#   content's fdatasync.
# Phase 4, same spool, every sync counted, FROM=5 COUNT=2: calls 4-6 are
#   message 2's, so it fails (at one of its syncs, whichever ran as 5 or 6)
#   and messages 1 and 3 do not.
# In each: the messages outside the window get "250 2.0.0 Ok: queued as
# QID" and are intact; each failed one gets 451 4.3.0, its queue ID (from
# the "ID: commit failed: fdatasync content: Input/output error" line) has
# no file anywhere in the spool and the line names the sync that failed;
# the queue process is the same one throughout; the library's own note
# shows the fault fired.
# Phase 5, the sanitizer build without the preload on the same spool:
# "recovery: N messages in queue, 0 moved to corrupt/, 0 unfinished
# removed" with N the number acknowledged, all of them intact.
. "$(dirname "$0")/lib.sh"
t_init

SM_BIN_CHECKED=$SM_BIN
t_failsync

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
state=$T_DIR/acks
: > "$state"
# Mail for root is held in delivery: no envelope rewrite adds its syncs
# to the queue's count.
sm_config "$conf" "$spool" "$(sm_hold_local)"

# phase NUMBER FROM COUNT NMSG KIND: one daemon run of the plain build with
# the preload; NMSG messages, one at a time; KIND content, envelope, folder
# or all: the syncs counted.
phase() {
	local n=$1 from=$2 count=$3 nmsg=$4 kind=$5 log=$T_DIR/daemon$1.log qpid qpid2 rec want fired only
	case $kind in
	content) only='files>4500' ;;
	envelope) only='files<3000' ;;
	folder) only=dirs ;;
	*) only= ;;
	esac
	SM_BIN=$PLAIN
	sm_start "$conf" "$log" env LD_PRELOAD="$T_DIR/failsync.so" \
	    FAILSYNC_FROM="$from" FAILSYNC_COUNT="$count" FAILSYNC_ONLY="$only" \
	    FAILSYNC_FUNCS=fsync,fdatasync FAILSYNC_COMM=sm-queue
	SM_BIN=$SM_BIN_CHECKED
	sm_wait_ready "$log" "$SM_PID" 30 ||
	    t_fail "strictmaild (plain build, preload) ready within 30 s (phase $n)" \
		"$(pid_alive "$SM_PID" && echo "no ready line" || echo "exit before ready")"
	rec=$(grep -Eo 'strictmail/queue\[[0-9]+\]: recovery: [0-9]+ messages in queue.*' "$log" | head -n 1)
	want="recovery: $(wc -l < "$state") messages in queue, 0 moved to corrupt/, 0 unfinished removed"
	case $rec in
	*": $want") ;;
	*) t_fail "\"$want\" (phase $n)" "\"${rec#*: }\"" ;;
	esac
	qpid=$(sm_child "$SM_PID" queue)
	[ -n "$qpid" ] || t_fail "a queue child of $SM_PID (phase $n)" "$(sm_children "$SM_PID" | tr '\n' ' ')"
	grep -q "failsync.so" "/proc/$qpid/maps" ||
	    t_fail "failsync.so mapped in the queue process $qpid (phase $n)" "not mapped"
	if [ "$SM_PRIV" = 1 ]; then
		# The fault must fire after the queue dropped root.
		[ "$(awk '/^Uid:/ { print $2 }' "/proc/$qpid/status")" != 0 ] ||
		    t_fail "the queue process $qpid without root (phase $n)" "uid 0"
	fi
	say "phase $n: FAILSYNC_FROM=$from FAILSYNC_COUNT=$count FAILSYNC_ONLY=$only ($kind), strictmaild pid $SM_PID, queue pid $qpid"

	sm_py_fg - "$spool" "$log" "$state" "$from" "$count" "$nmsg" "$n" "$kind" <<'EOF' || t_fail_py
import os, re, smtplib, sys
from smtest import Checker, make_body, sha256, parse_queued, check_msg, \
    spool_files, wait_for

spool, log, state = sys.argv[1:4]
first, count, nmsg, phase = (int(a) for a in sys.argv[4:8])
kind = sys.argv[8]
T = Checker()
FAILED_RE = re.compile(r'strictmail/queue\[\d+\]: ([0-9A-F]{16}): commit failed: (.*)$')


def failing(call):
    return first <= call < first + count


# What the queue should do: three syncs per one-message batch, in no
# known order, all made; any of them failing fails the message.  With one
# kind counted, message i makes call i.
STEPS = {'content': 'fdatasync content', 'envelope': 'fdatasync envelope',
         'folder': 'fsync folder'}
per = 1 if kind in STEPS else len(STEPS)
expect = []
for i in range(nmsg):
    calls = range(i * per + 1, (i + 1) * per + 1)
    if not any(failing(c) for c in calls):
        expect.append(None)
    elif kind in STEPS:
        expect.append((STEPS[kind],))
    else:
        expect.append(tuple(STEPS.values()))
T.say('expected per message: %s' % ', '.join('/'.join(e) if e else '250' for e in expect))
T.check('the window makes at least one message fail',
        any(expect), 'a failing message', expect)


def failed_lines():
    with open(log, errors='replace') as f:
        return [m.groups() for m in map(FAILED_RE.search, f) if m]


def send(body):
    s = smtplib.SMTP('127.0.0.1', 25, timeout=30, local_hostname='sync.test')
    try:
        s.ehlo()
        code, text = s.mail('sync@example.org')
        if code == 250:
            code, text = s.rcpt('root@localhost')
        if code == 250:
            try:
                code, text = s.data(body)
            except smtplib.SMTPDataError as e:
                code, text = e.smtp_code, e.smtp_error
        return code, text.decode('utf-8', 'replace')
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()


acks, fails = [], []
for i, why in enumerate(expect, 1):
    body = make_body('t23-p%d-m%d' % (phase, i), 4096 + 1000 * i)
    before = len(failed_lines())
    code, text = send(body)
    T.say('message %d: %d %s' % (i, code, text))
    if why is None:
        qid = parse_queued(text) if code == 250 else None
        T.check('message %d -> 250 2.0.0 Ok: queued as QID' % i, qid is not None,
                '250 2.0.0 Ok: queued as QID', (code, text))
        if qid:
            acks.append((qid, sha256(body)))
            errs = check_msg(spool, qid, sha256(body), ['root@localhost'])
            T.check('message %d (%s) intact in the spool' % (i, qid), not errs,
                    'intact', errs)
        continue
    T.check('message %d (%s fails) -> 451 4.3.0' % (i, ' or '.join(why)),
            code == 451 and text.startswith('4.3.0'), '451 4.3.0 ...', (code, text))
    lines = wait_for(lambda: len(failed_lines()) > before and failed_lines(), 5)
    if not T.check('message %d: one new "commit failed" line' % i,
                   lines and len(lines) == before + 1,
                   before + 1, lines and len(lines)):
        continue
    qid, reason = lines[-1]
    fails.append(qid)
    T.say('message %d: %s: commit failed: %s' % (i, qid, reason))
    T.check('message %d: the log names the failure' % i,
            reason in [w + ': Input/output error' for w in why],
            ' or '.join(w + ': Input/output error' for w in why), reason)
    left = [p for p in spool_files(spool, '') if qid in os.path.basename(p)]
    T.check('message %d: no file of %s left in the spool' % (i, qid),
            not left, 'none', left)
    T.check('message %d: incoming/ empty' % i,
            not spool_files(spool, 'incoming'), 'empty',
            spool_files(spool, 'incoming'))

T.check('corrupt/ empty', not spool_files(spool, 'corrupt'), 'empty',
        spool_files(spool, 'corrupt'))
T.check('all "commit failed" lines are ours', len(failed_lines()) == len(fails),
        len(fails), len(failed_lines()))
# Every acknowledged message of this phase and of the earlier ones.
with open(state, 'a') as f:
    f.write(''.join('%s %s\n' % a for a in acks))
n = 0
with open(state) as f:
    for line in f:
        q, h = line.split()
        errs = check_msg(spool, q, h, ['root@localhost'])
        T.check('%s still intact' % q, not errs, 'intact', errs)
        n += 1
T.say('phase %d: %d acknowledged, %d failed (%s); %d acknowledged so far'
      % (phase, len(acks), len(fails), ' '.join(fails), n))
T.done()
EOF

	# The fault really fired in the queue, and nowhere else.
	fired=$(grep -Ec '^failsync\['"$qpid"'\]: f(data)?sync call [0-9]+: failing with EIO' "$log")
	[ "$fired" = "$count" ] ||
	    t_fail "$count notes \"failsync[$qpid]: fdatasync/fsync call N: failing with EIO\" (phase $n)" \
		"$fired: $(grep -E '^failsync' "$log" | tr '\n' '|')"
	[ "$(grep -Ec '^failsync' "$log")" = "$count" ] ||
	    t_fail "fault notes only from the queue process (phase $n)" "$(grep -E '^failsync' "$log" | tr '\n' '|')"
	say "phase $n: $(grep -E '^failsync' "$log" | tr '\n' ' ')"
	qpid2=$(sm_child "$SM_PID" queue)
	[ "$qpid2" = "$qpid" ] || t_fail "the same queue process $qpid after the failures (phase $n)" "${qpid2:-none}"
	pid_alive "$SM_PID" || t_fail "strictmaild alive after the failures (phase $n)" "exited"
	sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s (phase $n)" "still running"
	[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM (phase $n)" "$SM_RC"
}

phase 1 2 2 4 envelope
phase 2 2 1 3 folder
phase 3 3 1 4 content
phase 4 5 2 3 all

# ---- phase 5: the build under test, no preload, same spool
nack=$(wc -l < "$state")
log=$T_DIR/daemon5.log
sm_start_ready "$conf" "$log"
rec=$(grep -Eo 'strictmail/queue\[[0-9]+\]: recovery: [0-9]+ messages in queue.*' "$log" | head -n 1)
say "phase 5: $SM_BIN without preload: ${rec#*: }"
want="recovery: $nack messages in queue, 0 moved to corrupt/, 0 unfinished removed"
case $rec in
*": $want") ;;
*) t_fail "\"$want\"" "\"${rec#*: }\"" ;;
esac
! grep -Eq 'failsync|commit failed' "$log" || t_fail "no fault in phase 5" "$(grep -E 'failsync|commit failed' "$log" | head -n 1)"
out=$(sm_py - "$spool" "$state" <<'EOF'
import sys
from smtest import check_msg
n, errs = 0, []
with open(sys.argv[2]) as f:
    for line in f:
        qid, h = line.split()
        errs += check_msg(sys.argv[1], qid, h, ['root@localhost'])
        n += 1
print('; '.join(errs) if errs else n)
sys.exit(1 if errs else 0)
EOF
) || t_fail "every acknowledged message intact after the restart" "$out"
n=$out
left=$(find "$spool/corrupt" -mindepth 1 | tr '\n' ' ')
[ -z "$left" ] || t_fail "corrupt/ empty after the restart" "$left"
say "phase 5: $n acknowledged messages intact, corrupt/ empty"
sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s (phase 5)" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM (phase 5)" "$SM_RC"
t_pass
