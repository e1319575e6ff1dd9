#!/bin/bash
# t-20-ordering: strictmaild under strace; a burst of 8 concurrent sessions
# x 10 messages; strace_order.py then proves for every queue ID in a 250
# reply that its content (writes and rename into queue/) and its envelope
# writes were covered by a sync that returned before the envelope rename
# (the commit point), and that the rename was covered by a sync that
# returned before "250 2.0.0 Ok: queued as ID" was written to the client.
# It also reports how many messages each sync covered (group commit).
. "$(dirname "$0")/lib.sh"
t_init
t_need strace
# LeakSanitizer cannot run under ptrace.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

SESSIONS=${T20_SESSIONS:-8}
PER_SESSION=${T20_MESSAGES:-10}
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
trace=$T_DIR/strace.out
sm_config "$conf" "$spool" "max-sessions-per-client 200" "max-sessions 400"
sm_start "$conf" "$log" strace -f -ttt -T -yy -s 4096 -o "$trace" \
    -e trace=fsync,fdatasync,syncfs,sync,sync_file_range,rename,renameat,renameat2,openat,write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,close
sm_wait_ready "$log" "$SM_PID" 60 ||
    t_fail "strictmaild under strace ready within 60 s" "no ready line"
SM_DPID=$(cat /proc/"$SM_PID"/task/*/children 2>/dev/null | awk '{ print $1 }')
[ -n "$SM_DPID" ] || t_fail "strictmaild as the child of strace" "no child"
# Cleanup stops the daemon first; strace follows it.
T_PIDS="$SM_DPID $T_PIDS"
say "strictmaild pid $SM_DPID running under strace pid $SM_PID"

acks=$T_DIR/acks
sm_py_fg - "$SESSIONS" "$PER_SESSION" "$acks" <<'EOF' || t_fail_py
import smtplib, sys, threading, time
from smtest import make_body, parse_queued, Checker

T = Checker()
nsess, per, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
start = threading.Barrier(nsess)
lock = threading.Lock()
acks, errors = [], []


def session(n):
    try:
        s = smtplib.SMTP('127.0.0.1', 25, timeout=120, local_hostname='burst%d.test' % n)
        s.ehlo()
        start.wait(timeout=60)
        for i in range(per):
            body = make_body('t20-%d-%d' % (n, i), 1000 + 1500 * ((n + i) % 5))
            s.mail('burst%d@example.org' % n)
            s.rcpt('root@localhost')
            code, text = s.data(body)
            qid = parse_queued(text) if code == 250 else None
            with lock:
                if qid:
                    acks.append(qid)
                else:
                    errors.append('session %d message %d: %s %s' % (n, i, code, text))
        s.quit()
    except Exception as e:
        with lock:
            errors.append('session %d: %r' % (n, e))


t0 = time.monotonic()
threads = [threading.Thread(target=session, args=(n,)) for n in range(nsess)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=300)
T.say('%d sessions x %d messages: %d acknowledged in %.1f s'
      % (nsess, per, len(acks), time.monotonic() - t0))
with open(out, 'w') as f:
    f.write(''.join(q + '\n' for q in acks))
T.check('every message acknowledged with 250 and a queue id', not errors,
        '%d acknowledgements' % (nsess * per), errors[:3])
T.check('all queue ids distinct', len(set(acks)) == len(acks), 'distinct', 'duplicates')
T.done()
EOF

say "stopping strictmaild (SIGTERM to $SM_DPID)"
kill -TERM "$SM_DPID"
sm_wait_exit "$SM_PID" 60 || t_fail "strictmaild and strace to exit within 60 s of SIGTERM" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
say "trace: $(wc -l < "$trace") lines"

"$PY" "$T_LIB/strace_order.py" "$trace" "$spool" "$acks" > "$T_DIR/order.out"
rc=$?
sed "s/^/$T_NAME: /" "$T_DIR/order.out"
if [ "$rc" != 0 ]; then
	t_fail "every 250 after the syncs that cover its message" \
	    "$(grep -m 1 '^VIOLATION' "$T_DIR/order.out" | sed 's/^VIOLATION //')"
fi
n=$(grep -c . "$acks")
say "ordering proven for all $n acknowledged messages"
t_pass
