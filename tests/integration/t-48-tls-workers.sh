#!/bin/bash
# t-48-tls-workers: the receiver's handshakes run on worker threads, one
# per CPU of its affinity (common/tls_pool.h), and nothing is lost or
# left behind when connections go while their step is on a worker.
#   1. The log says where handshakes run and the receiver has that many
#      threads: 1 + CPUs with 2 or more CPUs, 1 with one.
#   2. 10 STARTTLS sessions at once (smtpload -T), 300 messages: every
#      one gets its 250 and is in the spool; one "tls version=" line each.
#   3. Meanwhile 150 clients send a ClientHello (on 465, and on 25 after
#      STARTTLS) and hang up at once, while the server computes its
#      answer: each is logged as a disconnect, the load above still gets
#      every 250, and a normal session works afterwards.
#   4. 120 connections to 465, their ClientHellos sent in one burst, then
#      SIGTERM while the server's steps are queued on the workers: the daemon exits 0 within its shutdown
#      time, every session logged as ended (and, under ASan, no error or
#      leak: lib.sh reads the log).
#   5. The same daemon pinned to one CPU (taskset): "in the event loop",
#      one thread, and STARTTLS still works.
. "$(dirname "$0")/lib.sh"
t_init
t_need taskset

LOAD=$SM_TOP/build/tests/bench/smtpload
[ -x "$LOAD" ] || t_fail "the load client $LOAD (make)" "missing"
pki=$T_DIR/pki
sm_pki "$pki"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "hostname mx.example.test" \
    "listen 127.0.0.1 25 smtp" "listen 127.0.0.1 465 tls" \
    "tls-certificate $pki/valid.pem" "tls-key $pki/valid.key" \
    "relay-network 127.0.0.1/32" "max-sessions 400" \
    "max-sessions-per-client 400"

# The CPUs a process started here may use (its affinity).
cpus=$(taskset -pc $$ | awk -F': ' '{ print $2 }' | tr ',' '\n' |
    awk -F- '{ n += NF == 2 ? $2 - $1 + 1 : 1 } END { print n }')
[ "$cpus" -ge 1 ] 2>/dev/null || t_fail "the CPU count of the affinity" "$cpus"
want_threads=$((cpus >= 2 ? 1 + (cpus > 64 ? 64 : cpus) : 1))

# threads PID: the number of threads of the daemon's smtpd.
smtpd_threads() {
	local p
	p=$(sm_child "$1" smtpd)
	[ -n "$p" ] || { echo none; return; }
	ls "/proc/$p/task" | wc -l
}

# 1. Where handshakes run.
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID, $cpus CPU(s)"
if [ "$cpus" -ge 2 ]; then
	grep -q 'smtpd\[[0-9]*\]: ready: .* TLS handshakes on worker threads, one per CPU' "$log" ||
	    t_fail "smtpd's ready line to say handshakes run on worker threads" \
		"$(grep 'smtpd\[[0-9]*\]: ready' "$log")"
else
	grep -q 'smtpd\[[0-9]*\]: ready: .* TLS handshakes in the event loop' "$log" ||
	    t_fail "smtpd's ready line to say handshakes run in the event loop" \
		"$(grep 'smtpd\[[0-9]*\]: ready' "$log")"
fi
n=$(smtpd_threads "$SM_PID")
[ "$n" = "$want_threads" ] ||
    t_fail "smtpd to have $want_threads threads (1 + one per CPU)" "$n"
say "1: smtpd has $n threads"

# 3's clients: N connections that each send a ClientHello and hang up at
# once (or, with hold, keep the connection open without reading).
cat > "$T_DIR/hello.py" <<'EOF'
import socket, ssl, sys, threading, time

n, mode = int(sys.argv[1]), sys.argv[2]
hold = mode == 'hold'	# on 465, kept open without reading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ok, lock = [0], threading.Lock()


def hello():
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_hostname='mx.example.test')
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def one(i):
    port = 465 if i % 2 == 0 else 25
    try:
        s = socket.create_connection(('127.0.0.1', port), timeout=20)
        if port == 25:
            f = s.makefile('rb')
            line = f.readline()
            s.sendall(b'EHLO client.test\r\n')
            while True:
                line = f.readline()
                if not line or line[3:4] == b' ':
                    break
            s.sendall(b'STARTTLS\r\n')
            line = f.readline()
            if not line.startswith(b'220'):
                return
        s.sendall(hello())
        with lock:
            ok[0] += 1
        s.close()
    except OSError:
        pass


if hold:
    # All connected first, then every ClientHello in one burst: the
    # server's steps queue up on its workers.
    socks = [socket.create_connection(('127.0.0.1', 465), timeout=20)
             for i in range(n)]
    hellos = [hello() for i in range(n)]
    for s, h in zip(socks, hellos):
        s.sendall(h)
    print(n, flush=True)
    time.sleep(60)
    sys.exit(0)
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(ok[0], flush=True)
EOF

# 2 and 3: the load and the clients that hang up, at once.
ip netns exec "$T_NS" "$LOAD" -a 127.0.0.1 -s 10 -n 300 -T -d 120 \
    -r root@localhost > "$T_DIR/load.out" 2> "$T_DIR/load.err" &
load_pid=$!
T_HELPERS="$T_HELPERS $load_pid"
sent=$(sm_py "$T_DIR/hello.py" 150 close)
wait "$load_pid"
load_rc=$?
say "2: $(cat "$T_DIR/load.out")"
[ "$load_rc" = 0 ] && grep -q '^smtpload ok=300 failed=0 ' "$T_DIR/load.out" ||
    t_fail "300 messages over STARTTLS, every one with its 250" \
	"rc $load_rc: $(cat "$T_DIR/load.out") $(head -n 3 "$T_DIR/load.err" | tr '\n' '|')"
[ "$sent" = 150 ] || t_fail "150 ClientHellos sent" "$sent"
say "3: 150 ClientHellos sent and their connections closed"
# Every session ends with its disconnect line: 300 + 150, and the
# sessions of section 1 (none).
sleep 1
ends=$(grep -c 'smtpd\[[0-9]*\]: session=[^ ]* disconnect ' "$log")
for i in $(seq 1 50); do
	[ "$ends" -ge 450 ] && break
	sleep 0.2
	ends=$(grep -c 'smtpd\[[0-9]*\]: session=[^ ]* disconnect ' "$log")
done
[ "$ends" = 450 ] || t_fail "450 sessions logged as ended (300 + 150)" "$ends"
tlsok=$(grep -c 'smtpd\[[0-9]*\]: session=[^ ]* tls version=TLSv1.2 .*resumed=no' "$log")
[ "$tlsok" = 300 ] || t_fail "300 handshakes logged (one per message)" "$tlsok"
# Each 250 is a message the queue committed and keeps (root has no
# alias here: every one stays deferred in the spool).
"$PY" - "$log" <<'EOF' || t_fail "the 300 messages accepted over TLS committed by the queue" "see above"
import re, sys
log = open(sys.argv[1], errors='replace').read()
acc = set(re.findall(r'smtpd\[\d+\]: (\S+): accepted .*helo=load\.test .*proto=ESMTPS', log))
com = set(re.findall(r'queue\[\d+\]: (\S+): committed ', log))
missing = sorted(acc - com)
print('t-48-tls-workers: %d accepted over TLS, %d of them not committed' % (len(acc), len(missing)))
sys.exit(1 if missing or len(acc) != 300 else 0)
EOF
# A normal session afterwards.
printf 'Subject: after\r\n\r\nafter the hang-ups\r\n' > "$T_DIR/after.eml"
r=$(sm_py - "$pki/ca.pem" "$T_DIR/after.eml" <<'EOF'
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = smtplib.SMTP('127.0.0.1', 25, timeout=20, local_hostname='client.test')
s._host = 'mx.example.test'
s.starttls(context=ctx)
refused = s.sendmail('a@client.test', ['root@localhost'], open(sys.argv[2], 'rb').read())
print('ok' if refused == {} else refused)
s.quit()
EOF
)
[ "$r" = ok ] || t_fail "a STARTTLS session after the hang-ups delivers its message" "$r"
say "3: a STARTTLS session afterwards works"
qn=$(find "$spool/queue" -name '*.env' | wc -l)
[ "$qn" = 301 ] || t_fail "301 messages in the spool (300 + 1, all deferred)" "$qn"

# 4. ClientHellos queued on the workers, then SIGTERM.
before=$(grep -c 'smtpd\[[0-9]*\]: session=[^ ]* disconnect ' "$log")
ip netns exec "$T_NS" "$PY" "$T_DIR/hello.py" 120 hold > "$T_DIR/hold.out" 2>&1 &
hold_pid=$!
T_HELPERS="$T_HELPERS $hold_pid"
for i in $(seq 1 200); do
	[ -s "$T_DIR/hold.out" ] && break
	sleep 0.01
done
[ "$(head -n 1 "$T_DIR/hold.out")" = 120 ] ||
    t_fail "120 ClientHellos sent and held" "$(cat "$T_DIR/hold.out")"
sm_stop "$SM_PID" 15 || t_fail "strictmaild to exit on SIGTERM within 15 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM with handshakes under way" "$SM_RC"
kill "$hold_pid" 2>/dev/null
after=$(grep -c 'smtpd\[[0-9]*\]: session=[^ ]* disconnect ' "$log")
[ $((after - before)) = 120 ] ||
    t_fail "the 120 held sessions logged as ended" "$((after - before))"
grep -E 'smtpd\[[0-9]*\]: .*(fatal|panic)' "$log" &&
    t_fail "no fatal error in smtpd" "see the lines above"
say "4: SIGTERM with 120 handshakes under way: exit 0 after ${SM_WAITED_MS} ms, every session ended"

# 5. Pinned to one CPU.
log1=$T_DIR/daemon1.log
sm_start "$conf" "$log1" taskset -c 0
sm_wait_ready "$log1" "$SM_PID" 30 || t_fail "strictmaild on one CPU ready" "no ready line"
grep -q 'smtpd\[[0-9]*\]: ready: .* TLS handshakes in the event loop' "$log1" ||
    t_fail "on one CPU, handshakes in the event loop" "$(grep 'smtpd\[[0-9]*\]: ready' "$log1")"
n=$(smtpd_threads "$SM_PID")
[ "$n" = 1 ] || t_fail "one thread in smtpd on one CPU" "$n"
ip netns exec "$T_NS" "$LOAD" -a 127.0.0.1 -s 4 -n 20 -T -d 60 \
    -r root@localhost > "$T_DIR/load1.out" 2>&1 ||
    t_fail "20 messages over STARTTLS on one CPU" "$(cat "$T_DIR/load1.out")"
say "5: one CPU: handshakes in the loop, one thread; $(cat "$T_DIR/load1.out")"
sm_stop "$SM_PID" 15 || t_fail "strictmaild on one CPU to stop" "still running"

t_pass
