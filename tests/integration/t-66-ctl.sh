#!/bin/bash
# t-66-ctl: the operator's strictmailctl commands against a running daemon.
#  - mailq --json (strictmailctl queue --json) parsed and compared with
#    what was sent: ids, senders, recipients.
#  - queue hold ID on a deferred message: listed as "held" (mailq marks
#    the ID with '!'); flush retries the other messages but not it; it
#    stays held over a restart; queue release makes it due at once (it is
#    tried again: a new deferral in the log, attempts + 1).
#  - queue delete ID: gone from the list and from the spool, logged with
#    the operator, never tried again; an unknown ID is "no message ID".
#  - A message with a delivery in flight (a local delivery that waits) is
#    neither held nor deleted: "being delivered now".
#  - An ordinary user lists only their own message and gets "permission
#    denied: only root or group G may ..." for delete, hold and release; a
#    member of admin-group may hold and release (and lists every message).
#  - status: every process with its pid (the daemon's own children), the
#    uptime, the sessions open now (one held open by a client), and the
#    counters since start (received + 1 per message, deferrals counted);
#    --json parses.
#  - A request line with protocol version 99 gets the error naming the
#    daemon's version; strictmailctl turns a daemon's "unknown command"
#    and version errors (a stand-in socket) into clear messages; against
#    a stopped daemon it says strictmaild is not running (exit 69).
. "$(dirname "$0")/lib.sh"
t_init
t_need setpriv groupadd usermod

CTL=$(dirname "$SM_BIN")/strictmailctl
[ -x "$CTL" ] || t_fail "an executable strictmailctl next to $SM_BIN" "none (make / make asan)"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sock=$T_DIR/run/control.sock
grp=t66adm$$
usr=t66u$$
op=t66op$$

# The admin group goes with the test (t_cleanup removes the users first).
t66_cleanup() {
	t_cleanup
	groupdel "$grp" 2>/dev/null
}
trap 't66_cleanup 2>/dev/null' EXIT
trap 't66_cleanup 2>/dev/null; exit 130' INT
trap 't66_cleanup 2>/dev/null; exit 143' TERM
for i in $(seq 1 50); do
	getent group "$grp" >/dev/null && break
	groupadd "$grp" 2>/dev/null || sleep 0.1
done
getent group "$grp" >/dev/null || t_fail "group $grp" "groupadd failure"
t_user_add "$usr" /nonexistent || t_fail "user $usr" "useradd failure"
t_user_add "$op" /nonexistent || t_fail "user $op" "useradd failure"
for i in $(seq 1 50); do
	id -nG "$op" | grep -qw "$grp" && break
	usermod -aG "$grp" "$op" 2>/dev/null || sleep 0.1
done
id -nG "$op" | grep -qw "$grp" || t_fail "$op in $grp" "$(id -nG "$op")"

as_user() {	# as_user NAME CMD...: with the user's ids and groups
	local u=$1
	shift
	setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --init-groups "$@"
}

# Remote mail is deferred here (no DNS): the first attempt at once, the
# next in an hour, so only a flush or a release tries again.  Mail for
# root waits in a local delivery that never ends (a delivery in flight).
sm_config "$conf" "$spool" "relay-network 127.0.0.0/8" "control-socket $sock" \
    "retry-initial 1h" "retry-max 2h" "admin-group $grp" "$(sm_hold_local)"
sm_start_ready "$conf" "$log"

st() {	# st KEY: one number of status --json
	"$CTL" -s "$sock" status --json | "$PY" -c \
	    'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
recv0=$(st received) || t_fail "status --json with 'received'" "$recv0"
[ "$recv0" = 0 ] || t_fail "received 0 at start" "$recv0"

sm_body "t66-$$" 900 > "$T_DIR/body"
chmod 0644 "$T_DIR/body"
send() {
	local out
	out=$(sm_send "$1" "$2" "$T_DIR/body")
	case "$out" in "250 "*) echo "${out#250 }" ;; *) t_fail "250 for $1 -> $2" "$out" ;; esac
}
q1=$(send alice@example.org "bob@remote.example,carol@remote.example") || exit 1
q2=$(send "$usr@mx.test" dave@remote.example) || exit 1
q3=$(send alice@example.org erin@remote.example) || exit 1
q4=$(send alice@example.org root@mx.test) || exit 1
say "queued $q1 $q2 $q3 $q4"

deferrals() {	# deferrals QID: the log lines of its deferred recipients
	grep -cE "$1: to=<[^>]*>.* status=deferred" "$log"
}
for q in "$q1" "$q2" "$q3"; do
	sm_wait_log "$log" "$q: to=<[^>]*>.* status=deferred" "$SM_PID" 30 ||
	    t_fail "$q deferred once (no DNS here)" "no line"
done
[ "$(st received)" = 4 ] || t_fail "received 4 after four messages" "$(st received)"
n=$(st deferred)
[ "$n" -ge 4 ] || t_fail "at least 4 deferrals counted (q1 has two recipients)" "$n"
say "status counters: ok"

# ---- mailq --json against what was sent
"$CTL" -s "$sock" queue --json > "$T_DIR/q.json" || t_fail "queue --json exits 0" "$(cat "$T_DIR/q.json")"
"$PY" - "$T_DIR/q.json" "$q1" "$q2" "$q3" "$q4" "$usr" <<'EOF' || t_fail_py
import json, sys
from smtest import Checker
T = Checker()
path, q1, q2, q3, q4, usr = sys.argv[1:]
data = json.load(open(path))
by = {m['id']: m for m in data}
T.check('the four messages listed', sorted(by) == sorted([q1, q2, q3, q4]),
        sorted([q1, q2, q3, q4]), sorted(by))
want = {q1: ('alice@example.org', ['bob@remote.example', 'carol@remote.example']),
        q2: (usr + '@mx.test', ['dave@remote.example']),
        q3: ('alice@example.org', ['erin@remote.example']),
        q4: ('alice@example.org', ['root@mx.test'])}
for q, (sender, rcpts) in want.items():
    m = by[q]
    T.check(q + ' sender', m['sender'] == sender, sender, m['sender'])
    got = sorted(r['address'] for r in m['recipients'])
    T.check(q + ' recipients', got == rcpts, rcpts, got)
    T.check(q + ' pending', all(r['state'] == 'pending' for r in m['recipients']),
            'pending', [r['state'] for r in m['recipients']])
    T.check(q + ' size', m['size'] > 900, '> 900', m['size'])
T.done()
EOF
say "mailq --json: ok"

# ---- an ordinary user: own message only, no delete/hold/release
out=$(as_user "$usr" "$CTL" -s "$sock" queue --json) || t_fail "queue as $usr exits 0" "$out"
ids=$("$PY" -c 'import json,sys; print(" ".join(m["id"] for m in json.load(sys.stdin)))' <<<"$out")
[ "$ids" = "$q2" ] || t_fail "$usr lists only $q2" "$ids"
for c in delete hold release; do
	for q in "$q2" "$q1"; do
		out=$(as_user "$usr" "$CTL" -s "$sock" queue $c "$q" 2>&1)
		rc=$?
		[ "$rc" = 77 ] || t_fail "$c $q refused for $usr, exit 77 (EX_NOPERM)" "exit $rc: $out"
		grep -qF "permission denied: only root or group $grp may $c messages" <<<"$out" ||
		    t_fail "the permission error for $c" "$out"
	done
done
grep -qE "control: uid $(id -u "$usr") \($usr\) pid [0-9]+: delete $q2 refused" "$log" ||
    t_fail "the refusal logged with the user" "$(grep 'refused' "$log" | tail -n 2 | tr '\n' '|')"
"$CTL" -s "$sock" queue show "$q2" >/dev/null || t_fail "$q2 still queued" "gone"
say "ordinary user: ok"

# ---- in flight: the local delivery of q4 never ends
for i in $(seq 1 100); do
	out=$("$CTL" -s "$sock" queue hold "$q4" 2>&1) && t_fail "hold $q4 refused while it is delivered" "$out"
	grep -q "being delivered now" <<<"$out" && break
	sleep 0.1
done
grep -q "strictmailctl: message $q4 is being delivered now" <<<"$out" ||
    t_fail "hold of a message in delivery refused" "$out"
out=$("$CTL" -s "$sock" queue delete "$q4" 2>&1) && t_fail "delete $q4 refused while it is delivered" "$out"
grep -q "being delivered now" <<<"$out" || t_fail "delete of a message in delivery refused" "$out"
say "in flight: refused"

# ---- hold q1 (by the admin group's member), flush, restart
out=$(as_user "$op" "$CTL" -s "$sock" queue hold "$q1" 2>&1) || t_fail "hold by $op" "$out"
[ "$out" = "$q1: held" ] || t_fail "'$q1: held'" "$out"
grep -qE "$q1: held by uid $(id -u "$op") \($op\)" "$log" || t_fail "the hold logged with the operator" "$(grep "$q1" "$log" | tail -n 2)"
n=$(as_user "$op" "$CTL" -s "$sock" queue --json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 4 ] || t_fail "the admin group lists every message" "$n"
grep -qE "^held [0-9]+\$" "$spool"/queue/*/"$q1.env" || t_fail "'held' in $q1's envelope" "$(cat "$spool"/queue/*/"$q1.env")"
"$CTL" -s "$sock" queue | grep -qE "^$q1! " || t_fail "mailq marks $q1 with !" "$("$CTL" -s "$sock" queue)"
states() {	# states QID: the states of its recipients
	"$CTL" -s "$sock" queue show "$1" --json | "$PY" -c \
	    'import json,sys; print(" ".join(r["state"] for r in json.load(sys.stdin)["recipients"]))'
}
attempts() {
	"$CTL" -s "$sock" queue show "$1" --json | "$PY" -c \
	    'import json,sys; print(json.load(sys.stdin)["facts"]["attempts"])'
}
[ "$(states "$q1")" = "held held" ] || t_fail "$q1's recipients held" "$(states "$q1")"
a1=$(attempts "$q1")
d1=$(deferrals "$q1")
d2=$(deferrals "$q2")
out=$("$CTL" -s "$sock" flush) || t_fail "flush" "$out"
sm_wait_log "$log" "$q2: to=<[^>]*>.* attempts=2 status=deferred" "$SM_PID" 30 ||
    t_fail "flush retries $q2" "$(grep "$q2" "$log" | tail -n 3 | tr '\n' '|')"
sleep 1
[ "$(deferrals "$q1")" = "$d1" ] || t_fail "no attempt for held $q1 after flush" "$(grep "$q1" "$log" | tail -n 3 | tr '\n' '|')"
[ "$(attempts "$q1")" = "$a1" ] || t_fail "attempts of $q1 unchanged ($a1)" "$(attempts "$q1")"
say "held message not retried by flush"

sm_stop "$SM_PID" || t_fail "strictmaild stops" "no exit"
out=$("$CTL" -s "$sock" queue 2>&1)
rc=$?
[ "$rc" = 69 ] || t_fail "exit 69 (EX_UNAVAILABLE) against a stopped daemon" "$rc: $out"
grep -q "strictmaild is not running" <<<"$out" || t_fail "'strictmaild is not running'" "$out"
out=$("$CTL" -s "$sock" status 2>&1)
[ $? = 69 ] && grep -q "not running" <<<"$out" || t_fail "status: not running, 69" "$out"
sm_start_ready "$conf" "$log"
# Right after "ready" the queue may still be answering its first
# requests: ask again for a short while, but "held held" it must be.
for _ in $(seq 1 50); do
	st=$(states "$q1" 2>&1)
	[ "$st" = "held held" ] && break
	sleep 0.1
done
[ "$st" = "held held" ] || t_fail "$q1 still held after a restart" "$st"
[ "$(st received)" = 0 ] || t_fail "counters since the new start" "$(st received)"
sleep 1
[ "$(deferrals "$q1")" = "$d1" ] || t_fail "no attempt for held $q1 after the restart" "$(grep "$q1" "$log" | tail -n 3 | tr '\n' '|')"
say "held over a restart"

# ---- release: due at once, tried again
out=$(as_user "$op" "$CTL" -s "$sock" queue release "$q1" 2>&1) || t_fail "release by $op" "$out"
[ "$out" = "$q1: released" ] || t_fail "'$q1: released'" "$out"
for i in $(seq 1 100); do
	[ "$(deferrals "$q1")" -ge $((d1 + 2)) ] && break
	sleep 0.1
done
[ "$(deferrals "$q1")" -ge $((d1 + 2)) ] || t_fail "$q1 tried again after release" "$(grep "$q1" "$log" | tail -n 3 | tr '\n' '|')"
[ "$(attempts "$q1")" = $((a1 + 1)) ] || t_fail "attempts $((a1 + 1))" "$(attempts "$q1")"
[ "$(states "$q1")" = "pending pending" ] || t_fail "$q1 pending again" "$(states "$q1")"
grep -q "^held" "$spool"/queue/*/"$q1.env" && t_fail "no 'held' in the envelope" "$(cat "$spool"/queue/*/"$q1.env")"
out=$("$CTL" -s "$sock" queue release "$q1" 2>&1) && t_fail "release of a message not held fails" "$out"
grep -q "message $q1 is not held" <<<"$out" || t_fail "'not held'" "$out"
say "release: ok"

# ---- delete q3 (held first: a held message may go too)
"$CTL" -s "$sock" queue hold "$q3" >/dev/null || t_fail "hold $q3" "an error"
d3=$(deferrals "$q3")
out=$("$CTL" -s "$sock" queue delete "$q3" 2>&1) || t_fail "delete $q3" "$out"
[ "$out" = "$q3: deleted" ] || t_fail "'$q3: deleted'" "$out"
grep -q "$q3: deleted by uid 0 (root)" "$log" || t_fail "the delete logged" "$(grep "$q3" "$log" | tail -n 2)"
left=$(find "$spool" -name "$q3*")
[ -z "$left" ] || t_fail "no file of $q3 in the spool" "$left"
"$CTL" -s "$sock" queue --json | "$PY" -c 'import json,sys; sys.exit(sys.argv[1] in [m["id"] for m in json.load(sys.stdin)])' "$q3" ||
    t_fail "$q3 gone from the list" "listed"
"$CTL" -s "$sock" flush >/dev/null
out=$("$CTL" -s "$sock" queue delete "$q3" 2>&1) && t_fail "a second delete fails" "$out"
[ "$out" = "strictmailctl: no message $q3" ] || t_fail "'no message $q3'" "$out"
out=$("$CTL" -s "$sock" queue hold nosuchid 2>&1) && t_fail "hold of a bad ID fails" "$out"
grep -q "no message nosuchid" <<<"$out" || t_fail "'no message nosuchid'" "$out"
sleep 1
[ "$(deferrals "$q3")" = "$d3" ] || t_fail "no attempt for deleted $q3" "$(grep "$q3" "$log" | tail -n 3 | tr '\n' '|')"
say "delete: ok"

# ---- status: processes, sessions, counters
out=$("$CTL" -s "$sock" status) || t_fail "status exits 0" "$out"
for name in queue lookup smtpd control delivery; do
	pid=$(sm_child "$SM_PID" "$name")
	[ -z "$pid" ] && [ "$name" = lookup ] && pid=$(sm_child "$SM_PID" lookup)
	grep -qE "^  $name +pid $pid\$" <<<"$out" || t_fail "status: $name pid $pid" "$(tr '\n' '|' <<<"$out")"
done
grep -qE "^  strictmaild +pid $SM_PID\$" <<<"$out" || t_fail "status: strictmaild pid $SM_PID" "$(tr '\n' '|' <<<"$out")"
grep -qE "^uptime: [0-9]+ s\$" <<<"$out" || t_fail "status: uptime" "$(tr '\n' '|' <<<"$out")"
[ "$(st sessions)" = 0 ] || t_fail "no session open" "$(st sessions)"
ip netns exec "$T_NS" "$PY" -c 'import socket,time
s = socket.create_connection(("127.0.0.1", 25)); s.recv(512); time.sleep(4)' &
holder=$!
T_HELPERS="$T_HELPERS $holder"
for i in $(seq 1 30); do [ "$(st sessions)" = 1 ] && break; sleep 0.1; done
[ "$(st sessions)" = 1 ] || t_fail "one session open" "$(st sessions)"
wait "$holder"
r=$(st received)
q5=$(send alice@example.org frank@remote.example) || exit 1
[ "$(st received)" = $((r + 1)) ] || t_fail "received + 1 after a message" "$r -> $(st received)"
"$CTL" -s "$sock" status --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
names = sorted(p["name"] for p in d["processes"])
assert names == sorted(["strictmaild", "queue", "lookup", "smtpd", "control", "delivery"]), names
assert all(isinstance(p["pid"], int) and p["pid"] > 1 for p in d["processes"]), d
for k in ("uptime", "sessions", "received", "delivered", "deferred", "bounced"):
    assert isinstance(d[k], int) and d[k] >= 0, (k, d)
' || t_fail "status --json: processes and numbers" "$("$CTL" -s "$sock" status --json)"
say "status: ok"

# ---- protocol version
"$PY" - "$sock" <<'EOF' || t_fail_py
import socket, sys
from smtest import Checker
T = Checker()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b'strictmail-ctl 99 status\n')
data = b''
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
want = b'error unsupported protocol version: strictmaild speaks 1\n'
T.check('version 99 refused', data == want, want, data)
T.done()
EOF

# A stand-in for a daemon of another version: one answer line per
# connection.
fake=$T_DIR/fake.sock
fake_run() {	# fake_run ANSWER-LINE CMD...: strictmailctl against it
	local answer=$1 p
	shift
	rm -f "$fake"
	"$PY" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
print("up", flush=True)
c, _ = s.accept(); c.recv(1024); c.sendall(sys.argv[2].encode() + b"\n"); c.close()
' "$fake" "$answer" > "$T_DIR/fake.out" &
	p=$!
	T_HELPERS="$T_HELPERS $p"
	for i in $(seq 1 50); do [ -S "$fake" ] && break; sleep 0.1; done
	"$CTL" -s "$fake" "$@" 2>&1
	wait "$p"
}
out=$(fake_run "error unknown command 'delete'" queue delete "$q2")
grep -qF "strictmaild does not know 'delete' (older version?)" <<<"$out" || t_fail "an older daemon named" "$out"
out=$(fake_run "error unknown command 'status'" status)
grep -qF "strictmaild does not know 'status' (older version?)" <<<"$out" || t_fail "an older daemon named (status)" "$out"
out=$(fake_run "error unsupported protocol version: strictmaild speaks 2" queue)
grep -qF "strictmailctl speaks 1, strictmaild 2" <<<"$out" || t_fail "both versions named" "$out"
say "versions: ok"

sm_stop "$SM_PID" || t_fail "strictmaild stops" "no exit"
t_pass
