#!/bin/bash
# t-45-crash-delivery: restart during delivery (scenario crash).  About 30
# messages (36 recipients) for three domains whose MXs are slow (each DATA
# waits 1.5 s), then three times: wait until deliveries are in flight,
# SIGKILL strictmaild's parent and every process below it (by PID, read
# from the process tree of the PID started), restart on the same spool.
# Then a flush, and from the MXs' own records: every recipient received at
# least once (nothing lost); a recipient received twice only where
# strictmail was killed within 3 s after the MX sent the 250 for the first
# copy (before the outcome was durable) and before the second copy began;
# no bounce or warning reached the sender's MX; the queue is empty.
# Then the domain whose MX refuses connections: three host-level failures
# in a row back it off (logged), and one delay warning per message
# (delay-warning 2s) reaches the sender's MX, a correct RFC 3464 "delayed"
# report, never a second one; the envelope records it.
# Runs once, privilege-separated, as a real installation restarts.
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 1 ] || t_skip "checked once, with SM_PRIV=1 (restarts as a privilege-separated MTA)"
world_init crash
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
ctl=$(dirname "$SM_BIN")/strictmailctl
sm_config "$T_DIR/c" "$spool" "hostname self.crash.test" "tls-ca-file $W_CA" \
    "max-deliveries-per-domain 2" "smtp-reuse-idle 0" "retry-initial 1s" "retry-max 2s" \
    "control-socket $T_DIR/run/control.sock"
world_start_strictmail "$T_DIR/c" "$log"
from=alice@src.crash.test
MXS="mx.c1.crash.test mx.c2.crash.test mx.c3.crash.test"

# ---- 30 messages in one SMTP session: message i to u<i>@c<i%3+1>, every
# fifth one also to v<i> of the next domain
world_exec "$PY" - "$from" > "$T_DIR/sent" 2>&1 <<'EOF' ||
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', 25, timeout=60)
s.ehlo('client.crash.test')
for i in range(1, 31):
    rcpts = ['u%d@c%d.crash.test' % (i, i % 3 + 1)]
    if i % 5 == 0:
        rcpts.append('v%d@c%d.crash.test' % (i, (i + 1) % 3 + 1))
    body = ('Subject: crash %d\r\nMessage-ID: <crash%d@src.crash.test>\r\n'
            '\r\nmessage %d\r\n' % (i, i, i))
    s.sendmail(sys.argv[1], rcpts, body)
    for r in rcpts:
        print(r)
s.quit()
EOF
    t_fail "30 messages queued in one session" "$(tail -n 3 "$T_DIR/sent" | tr '\n' '|')"
sort "$T_DIR/sent" > "$T_DIR/rcpts"
[ "$(wc -l < "$T_DIR/rcpts")" = 36 ] || t_fail "36 recipients sent" "$(wc -l < "$T_DIR/rcpts")"
say "30 messages for 36 recipients queued"

# inflight: established connections from strictmail to the slow MXs.
inflight() {
	world_exec ss -Htn state established '( dport = :25 )' 2>/dev/null |
	    grep -cE ' 127\.0\.5\.[123]:25 *$'
}

# tree PID: PID and every process below it, read from the process table.
tree() {
	local all=$1 todo=$1 p k n=0
	while [ -n "$todo" ] && [ "$n" -lt 200 ]; do
		n=$((n + 1))
		p=${todo%% *}
		[ "$p" = "$todo" ] && todo= || todo=${todo#* }
		for k in $(ps -o pid= --ppid "$p" 2>/dev/null); do
			all="$all $k"
			todo="${todo:+$todo }$k"
		done
	done
	echo "$all"
}

: > "$T_DIR/kills"
for round in 1 2 3; do
	i=0
	until [ "$(inflight)" -ge 2 ]; do
		i=$((i + 1))
		[ "$i" -le 200 ] || t_fail "round $round: deliveries in flight within 20 s" "$(inflight) connections"
		sleep 0.1
	done
	# Somewhere in the 1.5 s an MX waits before its 354; still in flight.
	sleep "0.$((RANDOM % 5 + 1))"
	until [ "$(inflight)" -ge 1 ]; do
		i=$((i + 1))
		[ "$i" -le 300 ] || t_fail "round $round: deliveries in flight within 30 s" "$(inflight) connections"
		sleep 0.05
	done
	pids=$(tree "$SM_PID")
	n=$(wc -w <<<"$pids")
	[ "$n" -ge 5 ] || t_fail "round $round: strictmaild and its children (at least 5 processes)" "$pids"
	nin=$(inflight)
	date +%s.%N >> "$T_DIR/kills"
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	i=0
	for p in $pids; do
		while kill -0 "$p" 2>/dev/null; do
			i=$((i + 1))
			[ "$i" -le 100 ] || t_fail "round $round: every killed process gone within 10 s" "$p is alive"
			sleep 0.1
		done
	done
	T_PIDS=${T_PIDS/ $SM_PID/}
	say "round $round: killed $n processes ($pids) with $nin deliveries in flight"
	world_start_strictmail "$T_DIR/c" "$T_DIR/restart$round.log"
done
"$ctl" -s "$T_DIR/run/control.sock" flush > "$T_DIR/flush.out" 2>&1 ||
    t_fail "strictmailctl flush" "$(cat "$T_DIR/flush.out")"
world_wait_queue_empty "$spool" 90 ||
    t_fail "the queue empty after the restarts and a flush" "$(world_queue_count "$spool") messages left"
say "queue empty after 3 kills and restarts"

# ---- the MXs' own records
recs=""
for h in $MXS; do
	world_mx_refresh "$h"
	recs="$recs $(world_mx_dir "$h")/connections.jsonl"
done
# A connection record is written when the connection ends: wait (bounded)
# until every message file has its connection.
"$PY" - "$T_DIR/rcpts" "$T_DIR/kills" "$recs" > "$T_DIR/check.out" 2>&1 <<'EOF'
import glob, json, os, sys, time
want = [l.strip() for l in open(sys.argv[1]) if l.strip()]
kills = [float(l) for l in open(sys.argv[2]) if l.strip()]
files = sys.argv[3].split()
def load():
    conns = []
    for f in files:
        try:
            conns += [json.loads(l) for l in open(f) if l.strip()]
        except FileNotFoundError:
            pass
    return conns
nmsg = sum(len(glob.glob(os.path.join(os.path.dirname(f), 'messages', '*.eml')))
           for f in files)
for _ in range(100):
    conns = load()
    if sum(1 for c in conns for t in c.get('transactions', [])
           if t.get('accepted')) >= nmsg:
        break
    time.sleep(0.1)
# Every accepted copy of each recipient: (250 sent, transaction start).
copies = {}
for c in conns:
    for t in c.get('transactions', []):
        if t.get('accepted'):
            for r in t['to']:
                copies.setdefault(r, []).append(
                    (t.get('replied') or t['end'], t['start'], c['closed_by']))
got = {r: len(v) for r, v in copies.items()}
# A second copy is allowed only when strictmail was killed during the
# first one's transaction or within WINDOW seconds after the MX sent its
# 250 for it, and before the second began: the 250 came (or the final
# dot was on its way and the MX answered a killed client), the outcome
# was not durable yet.  (The delivery process QUITs at once after the
# 250 and reports to the queue, which then writes the envelope: the
# session of such a copy may well have ended with QUIT before the kill.)
WINDOW = 3.0
allowed = {}
bad = {}
problems = []
for r, v in copies.items():
    v.sort()
    for a, b in zip(v, v[1:]):
        if any(a[1] <= k <= a[0] + WINDOW and k <= b[1] for k in kills):
            allowed[r] = allowed.get(r, 0) + 1
        else:
            bad[r] = [(round(x[0], 3), round(x[1], 3), x[2]) for x in v]
lost = [r for r in want if r not in got]
extra = [r for r in got if r not in want]
dups = {r: n for r, n in got.items() if n > 1}
if lost:
    problems.append('lost: %s' % lost)
if extra:
    problems.append('unknown recipients: %s' % extra)
if bad:
    problems.append('received twice without a kill just after the first '
                    '250: %s (kills %s)' % (bad, kills))
print('recipients %d, received %d, received twice after a kill that '
      'followed the 250: %d (%s)'
      % (len(want), len(got), sum(allowed.values()), ','.join(sorted(dups))))
for p in problems:
    print('PROBLEM ' + p)
sys.exit(1 if problems else 0)
EOF
rc=$?
say "$(head -n 1 "$T_DIR/check.out")"
[ "$rc" = 0 ] || t_fail "every recipient received, twice only after a kill just after the first 250" \
    "$(grep PROBLEM "$T_DIR/check.out" | tr '\n' '|')"
[ "$(world_mx_messages mx.src.crash.test)" = 0 ] ||
    t_fail "no bounce or warning at the sender's MX" "$(world_mx_messages mx.src.crash.test) messages"
left=$(find "$spool/queue" -type f | head -n 3)
[ -z "$left" ] || t_fail "no file left in queue/" "$left"
cat "$log" "$T_DIR"/restart*.log > "$T_DIR/all.log"
world_assert_no_log "$T_DIR/all.log" "status=bounced|fatal|malformed|cannot read the envelope|[1-9][0-9]* moved to corrupt" "no bounce, unreadable envelope or fatal error"
[ -z "$(ls -A "$spool/corrupt" 2>/dev/null)" ] || t_fail "nothing in corrupt/" "$(ls "$spool/corrupt")"
say "1: 3 kills during delivery: nothing lost, duplicates only after a 250 cut off by a kill, no bounce: ok"

# ---- 2: a domain whose MX refuses connections: backoff and one delay
# warning per message
log=$T_DIR/restart3.log
sed -i 's/^retry-initial .*/retry-initial 1s/; s/^retry-max .*/retry-max 1s/' "$T_DIR/c"
echo "delay-warning 2s" >> "$T_DIR/c"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done" 10 || t_fail "the reload" "no line"
printf 'Subject: t-45 down\r\nMessage-ID: <down@src.crash.test>\r\n\r\nhello\r\n' > "$T_DIR/body"
q1=$(world_send_qid "$from" x@down.crash.test "$T_DIR/body")
world_wait_log "$log" "destination down.crash.test backed off for [0-9]+ s after 3 host-level failures in a row" 30 ||
    t_fail "three refused connections back the destination off" "$(grep -c "$q1: to=" "$log") attempts"
world_assert_log "$log" "$q1: to=<x@down.crash.test> relay=mx.down.crash.test\[127.0.5.99\]:25 .*status=deferred reply=\"connect to mx.down.crash.test\[127.0.5.99\]:25: Connection refused"
world_wait_log "$log" "$q1: delay warning [0-9A-F]{16} for 1 recipients" 30 ||
    t_fail "a delay warning queued for $q1" "no line"
world_wait_mx_messages mx.src.crash.test 1 30 || t_fail "the delay warning reaches the sender's MX" "none"
f=$(ls "$(world_mx_dir mx.src.crash.test)"/messages/*.eml | head -n 1)
"$PY" "$T_LIB/dsn_check.py" "$f" --rcpt "x@down.crash.test:delayed:4.4.1" \
    --subject "Delayed Mail (still being retried)" > "$T_DIR/dsn.out" 2>&1 ||
    t_fail "a correct delayed DSN for x@down.crash.test" "$(tr '\n' '|' < "$T_DIR/dsn.out")"
grep -q "^Will-Retry-Until: " "$f" || t_fail "Will-Retry-Until in the delay warning" "$(grep -c . "$f") lines, none"
grep -q "^warned [0-9]" "$spool"/queue/*/"$q1".env ||
    t_fail "'warned' in $q1's envelope" "$(cat "$spool"/queue/*/"$q1".env)"
# More deferrals (each flush clears the backoff): still one warning.
na=$(grep -c "$q1: to=" "$log")
for i in 1 2 3; do
	"$ctl" -s "$T_DIR/run/control.sock" flush > /dev/null 2>&1
	world_wait_log "$log" "$q1: to=.*attempts=$((na + i)) status=deferred" 10 ||
	    t_fail "attempt $((na + i)) of $q1 after a flush" "$(grep "$q1: to=" "$log" | tail -n 1)"
done
[ "$(grep -Ec "$q1: delay warning" "$log")" = 1 ] ||
    t_fail "one delay warning for $q1" "$(grep -Ec "$q1: delay warning" "$log")"
sleep 1
[ "$(world_mx_messages mx.src.crash.test)" = 1 ] ||
    t_fail "one message at the sender's MX" "$(world_mx_messages mx.src.crash.test)"
got=$("$PY" -c 'import json,sys; print([(t["from"], t["to"]) for l in open(sys.argv[1]) for t in json.loads(l).get("transactions", []) if t.get("accepted")])' \
    "$(world_mx_dir mx.src.crash.test)/connections.jsonl")
[ "$got" = "[('', ['alice@src.crash.test'])]" ] ||
    t_fail "the warning comes from the null sender to alice" "$got"
say "2: refused connections back the destination off; one delay warning, a correct delayed DSN: ok"

t_pass
