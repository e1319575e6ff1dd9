#!/bin/bash
# t-38-ctl: the control socket and strictmailctl(8).
#  - The parent binds control-socket (its folder created), mode 0666.
#  - Messages for a remote domain stay queued (nothing delivers them
#    here): "strictmailctl queue" as root lists each with its sender and
#    pending recipients; --json parses and holds the same; "queue show ID"
#    gives the envelope's facts; -f reads the socket path from the file.
#  - An ordinary user (nobody) sees only the message whose sender is
#    nobody@<local hostname>; may not show another's message; flush and
#    reload are refused ("permission denied").
#  - reload as root reloads (the parent's log lines); flush answers.
#  - A request with another protocol version is refused; the log names
#    each client's uid and pid (SO_PEERCRED).
#  - Privilege-separated: the control process runs as _sm-control with no
#    capability, chrooted into <spool>/empty.
#  - After a stop the socket is gone and strictmailctl says strictmaild is
#    not running.
#  - newaliases -f and makemap (no daemon needed): "FILE.db: N entries",
#    a Berkeley DB hash file of mode 644; a relative path target and a
#    1 MB line are errors naming FILE:LINE (exit 1) that leave the old map
#    as it was; run as "newaliases" (argv[0]) too.
. "$(dirname "$0")/lib.sh"
t_init

CTL=$(dirname "$SM_BIN")/strictmailctl
[ -x "$CTL" ] || t_fail "an executable strictmailctl next to $SM_BIN" "none (make / make asan)"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sock=$T_DIR/run/control.sock
sm_config "$conf" "$spool" "relay-network 127.0.0.0/8" "control-socket $sock"
sm_start_ready "$conf" "$log"

[ -S "$sock" ] || t_fail "a socket at $sock" "$(ls -la "$T_DIR/run" 2>&1 | tr '\n' '|')"
mode=$(stat -c %a "$sock")
[ "$mode" = 666 ] || t_fail "control socket mode 666" "$mode"

# nobody runs the client: its own uid and primary group, no other group.
nuid=$(id -u nobody) && ngid=$(id -g nobody) || t_fail "a user nobody" "none"
as_nobody() {
	setpriv --reuid="$nuid" --regid="$ngid" --clear-groups "$@"
}

sm_body "t38-$$" 1500 > "$T_DIR/body"
chmod 0644 "$T_DIR/body"
send() {
	local out
	out=$(sm_send "$1" "$2" "$T_DIR/body")
	case "$out" in "250 "*) echo "${out#250 }" ;; *) t_fail "250 for $1 -> $2" "$out" ;; esac
}
q1=$(send alice@example.org "bob@remote.example,carol@remote.example") || exit 1
q2=$(send alice@example.org dave@remote.example) || exit 1
q3=$(send nobody@mx.test erin@remote.example) || exit 1
say "queued $q1 $q2 $q3"

# ---- root: the list
out=$("$CTL" -s "$sock" queue 2>&1) || t_fail "strictmailctl queue exits 0" "$out"
for w in "$q1" "$q2" "$q3" alice@example.org nobody@mx.test bob@remote.example \
    carol@remote.example dave@remote.example erin@remote.example "in 3 Requests."; do
	grep -qF -- "$w" <<<"$out" || t_fail "'$w' in strictmailctl queue" "$(tr '\n' '|' <<<"$out")"
done
grep -E "^$q1 +[0-9]+ .* alice@example.org\$" <<<"$out" >/dev/null ||
    t_fail "a line: $q1 size arrival sender" "$(tr '\n' '|' <<<"$out")"
# The same list through the socket the configuration names.  A delivery
# attempt's outcome reaches the envelope on the queue's file thread, so
# a list taken just before may lack an error line: both are taken again
# (a few times, bounded) until two in a row agree.
for i in $(seq 1 25); do
	out2=$("$CTL" -f "$conf" queue 2>&1) || t_fail "strictmailctl -f conf queue exits 0" "$out2"
	[ "$out2" = "$out" ] && break
	sleep 0.2
	out=$("$CTL" -s "$sock" queue 2>&1) || t_fail "strictmailctl queue exits 0" "$out"
done
[ "$out2" = "$out" ] || t_fail "-f finds the same socket" "$(tr '\n' '|' <<<"$out2")"
say "root's list: ok"

# ---- --json
"$CTL" -s "$sock" queue --json > "$T_DIR/q.json" 2>&1 ||
    t_fail "strictmailctl queue --json exits 0" "$(cat "$T_DIR/q.json")"
"$PY" - "$T_DIR/q.json" "$q1" "$q2" "$q3" "$spool" <<'EOF' || t_fail_py
import json, os, sys
from smtest import Checker
T = Checker()
path, q1, q2, q3, spool = sys.argv[1:]
with open(path, 'rb') as f:
    data = json.loads(f.read().decode('utf-8'))
T.check('a list of 3 messages', isinstance(data, list) and len(data) == 3, 3,
        len(data) if isinstance(data, list) else data)
by = {m['id']: m for m in data}
T.check('the three IDs', sorted(by) == sorted([q1, q2, q3]), sorted([q1, q2, q3]), sorted(by))
want = {q1: ('alice@example.org', ['bob@remote.example', 'carol@remote.example']),
        q2: ('alice@example.org', ['dave@remote.example']),
        q3: ('nobody@mx.test', ['erin@remote.example'])}
for q, (snd, rcpts) in want.items():
    m = by.get(q, {})
    T.check('%s sender' % q, m.get('sender') == snd, snd, m.get('sender'))
    got = sorted(r['address'] for r in m.get('recipients', []))
    T.check('%s recipients' % q, got == rcpts, rcpts, got)
    states = sorted(set(r['state'] for r in m.get('recipients', [])))
    T.check('%s recipients pending' % q, states == ['pending'], ['pending'], states)
    msg = os.path.join(spool, 'queue', [d for d in os.listdir(os.path.join(spool, 'queue'))
                                         if os.path.exists(os.path.join(spool, 'queue', d, q + '.msg'))][0],
                       q + '.msg')
    T.check('%s size is the content file\'s' % q, m.get('size') == os.path.getsize(msg),
            os.path.getsize(msg), m.get('size'))
    T.check('%s arrival a recent unix time' % q,
            isinstance(m.get('arrival'), int) and abs(m['arrival'] - os.path.getmtime(msg)) < 120,
            'about %d' % os.path.getmtime(msg), m.get('arrival'))
T.done()
EOF
say "--json: ok"

# ---- show
out=$("$CTL" -s "$sock" queue show "$q1" 2>&1) || t_fail "queue show $q1 exits 0" "$out"
for w in "id: $q1" "sender: <alice@example.org>" "recipient: <bob@remote.example> pending" \
    "recipient: <carol@remote.example> pending" "client: 127.0.0.1" "protocol: ESMTP" \
    "attempts: " "digest: sha256:"; do
	grep -qF -- "$w" <<<"$out" || t_fail "'$w' in queue show" "$(tr '\n' '|' <<<"$out")"
done
"$CTL" -s "$sock" queue show "$q1" --json | "$PY" -c '
import json, sys
m = json.load(sys.stdin)
assert m["id"] == sys.argv[1] and m["facts"]["client"] == "127.0.0.1", m
' "$q1" || t_fail "queue show --json with the facts" "$("$CTL" -s "$sock" queue show "$q1" --json 2>&1)"
out=$("$CTL" -s "$sock" queue show 0000000000000000 2>&1) && t_fail "show of an unknown ID fails" "exit 0"
grep -q "no such message" <<<"$out" || t_fail "no such message" "$out"
say "show: ok"

# ---- an ordinary user
out=$(as_nobody "$CTL" -s "$sock" queue 2>&1) || t_fail "queue as nobody exits 0" "$out"
grep -qF "$q3" <<<"$out" || t_fail "nobody sees its own $q3" "$(tr '\n' '|' <<<"$out")"
for q in "$q1" "$q2"; do
	! grep -qF "$q" <<<"$out" || t_fail "nobody does not see $q" "$(tr '\n' '|' <<<"$out")"
done
grep -q "in 1 Request\." <<<"$out" || t_fail "one message for nobody" "$(tr '\n' '|' <<<"$out")"
n=$(as_nobody "$CTL" -s "$sock" queue --json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 1 ] || t_fail "one message in nobody's --json" "$n"
out=$(as_nobody "$CTL" -s "$sock" queue show "$q1" 2>&1) && t_fail "nobody cannot show $q1" "exit 0: $out"
grep -q "no such message" <<<"$out" || t_fail "no such message for nobody" "$out"
as_nobody "$CTL" -s "$sock" queue show "$q3" >/dev/null 2>&1 || t_fail "nobody shows its own $q3" "an error"
for c in flush reload; do
	out=$(as_nobody "$CTL" -s "$sock" $c 2>&1) && t_fail "$c refused for nobody" "exit 0: $out"
	grep -q "permission denied: $c needs root" <<<"$out" || t_fail "permission denied for $c" "$out"
done
grep -Eq "control: uid $nuid pid [0-9]+: flush refused: not root" "$log" ||
    t_fail "the refused flush logged with uid and pid" "$(grep 'control:' "$log" | tail -n 3 | tr '\n' '|')"
say "nobody: own messages only, flush and reload refused: ok"

# ---- root: flush and reload
# The remote recipients are deferred (no DNS here): flush makes them due.
out=$("$CTL" -s "$sock" flush 2>&1) || t_fail "flush as root exits 0" "$out"
grep -q "flush: [0-9]* pending recipient" <<<"$out" || t_fail "flush answer" "$out"
n0=$(grep -c "reload: .*: done" "$log")
out=$("$CTL" -s "$sock" reload 2>&1) || t_fail "reload as root exits 0" "$out"
grep -q "reload: done" <<<"$out" || t_fail "reload: done" "$out"
grep -q "reload requested through the control socket" "$log" || t_fail "the reload logged" "none"
n1=$(grep -c "reload: .*: done" "$log")
[ "$n1" -gt "$n0" ] || t_fail "the parent's 'reload: ... done' line" "$n0 before, $n1 after"
# A file that does not parse: the reload fails, the running one stays.
cp "$conf" "$T_DIR/conf.good"
echo "no-such-keyword 1" >> "$conf"
out=$("$CTL" -s "$sock" reload 2>&1) && t_fail "reload of a bad file fails" "exit 0: $out"
grep -q "reload failed" <<<"$out" || t_fail "reload failed" "$out"
cp "$T_DIR/conf.good" "$conf"
say "flush, reload: ok"

# ---- protocol version and a malformed request
"$PY" - "$sock" <<'EOF' || t_fail_py
import socket, sys
from smtest import Checker
T = Checker()
def ask(line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(line)
    data = b''
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    s.close()
    return data
for line, want in ((b'strictmail-ctl 2 queue\n', b'error unsupported protocol version: strictmaild speaks 1\n'),
                   (b'strictmail-ctl 0 queue\n', b'error unsupported protocol version: strictmaild speaks 1\n'),
                   (b'strictmail-ctl 1 frobnicate\n', b"error unknown command 'frobnicate'\n"),
                   (b'GET / HTTP/1.0\n', b'error malformed request\n')):
    got = ask(line)
    T.check('answer to %r' % line, got == want, want, got)
got = ask(b'strictmail-ctl 1 queue\n')
T.check('version 1 answered, ending in ok', got.endswith(b'\nok\n') and got.startswith(b'message '),
        'message lines, ok', got[:200])
T.done()
EOF
grep -Eq "control: uid 0 pid [0-9]+: unsupported protocol version" "$log" ||
    t_fail "the refused version logged with uid and pid" "$(grep 'control:' "$log" | tail -n 3 | tr '\n' '|')"
say "protocol version: ok"

# ---- the control process
cpid=$(sm_child "$SM_PID" control)
[ -n "$cpid" ] || t_fail "a control child of $SM_PID" "$(sm_children "$SM_PID" | tr '\n' '|')"
if [ "$SM_PRIV" = 1 ]; then
	cu=$(id -u _sm-control) && cg=$(id -g _sm-control) || t_fail "user _sm-control" "none"
	uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$cpid/status")
	[ "$uids" = "$cu $cu $cu $cu" ] || t_fail "control runs as _sm-control ($cu)" "$uids"
	gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$cpid/status")
	[ "$gids" = "$cg $cg $cg $cg" ] || t_fail "control's group $cg" "$gids"
	caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$cpid/status")
	[ "$caps" = 0000000000000000 ] || t_fail "control without capabilities" "$caps"
	root=$(readlink "/proc/$cpid/root")
	[ "$root" = "$(realpath "$spool")/empty" ] || t_fail "control chrooted into $spool/empty" "$root"
	say "control process: _sm-control, no capability, chroot $root: ok"
fi

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
[ ! -e "$sock" ] || t_fail "the control socket removed at the stop" "still there"
out=$("$CTL" -s "$sock" queue 2>&1) && t_fail "queue fails without strictmaild" "exit 0"
[ "$out" = "strictmailctl: strictmaild is not running (no control socket at $sock)" ] ||
    t_fail "the not-running message" "$out"

# ---- the map commands: they run here, without strictmaild
maps=$T_DIR/maps
mkdir -p "$maps"
printf '# test\nPostmaster: root\nstaff: alice,\n  "|/usr/bin/x -y", /var/log/s\n' > "$maps/aliases"
out=$("$CTL" newaliases -f "$maps/aliases" 2>&1) || t_fail "newaliases -f exits 0" "$out"
[ "$out" = "$maps/aliases.db: 2 entries" ] || t_fail "'$maps/aliases.db: 2 entries'" "$out"
[ "$(stat -c %a "$maps/aliases.db")" = 644 ] || t_fail "aliases.db mode 644" "$(stat -c %a "$maps/aliases.db")"
# Berkeley DB's hash magic (0x00061561) in the first page
magic=$(od -An -tx4 -j12 -N4 "$maps/aliases.db" | tr -d ' ')
[ "$magic" = 00061561 ] || t_fail "a Berkeley DB hash file" "magic $magic"
sum=$(md5sum < "$maps/aliases.db")
# errors name FILE:LINE, exit 1, and leave the old map as it was
printf 'a: b\nbad: ../../etc/passwd\n' > "$maps/aliases"
out=$("$CTL" newaliases -f "$maps/aliases" 2>&1) && t_fail "a relative target refused" "exit 0: $out"
[ "$out" = "newaliases: $maps/aliases:2: a file target must be an absolute path" ] ||
    t_fail "the error naming the line" "$out"
head -c 1048576 /dev/zero | tr '\0' x | { printf 'a: b\nbig: '; cat; printf '\n'; } > "$maps/aliases"
out=$("$CTL" newaliases -f "$maps/aliases" 2>&1); rc=$?
[ "$rc" = 1 ] && [ "$out" = "newaliases: $maps/aliases:2: line longer than 65536 bytes" ] ||
    t_fail "a 1 MB line: exit 1 and its line named" "exit $rc: $out"
[ "$(md5sum < "$maps/aliases.db")" = "$sum" ] || t_fail "the old aliases.db untouched" "changed"
[ "$(ls "$maps")" = "$(printf 'aliases\naliases.db')" ] || t_fail "no temporary left" "$(ls "$maps" | tr '\n' ' ')"
# run as newaliases (argv[0])
ln -s "$CTL" "$T_DIR/newaliases"
printf 'a: b\nc: d, e\n' > "$maps/aliases"
out=$("$T_DIR/newaliases" -f "$maps/aliases" 2>&1) || t_fail "newaliases (argv[0]) exits 0" "$out"
[ "$out" = "$maps/aliases.db: 2 entries" ] || t_fail "newaliases as argv[0]" "$out"
# makemap: the virtual format
printf 'info@v.example alice, bob@remote.example\n@v.example: carol\n' > "$maps/virtual"
out=$("$CTL" makemap "$maps/virtual" 2>&1) || t_fail "makemap exits 0" "$out"
[ "$out" = "$maps/virtual.db: 2 entries" ] || t_fail "'$maps/virtual.db: 2 entries'" "$out"
printf 'info alice\n' > "$maps/virtual"
out=$("$CTL" makemap "$maps/virtual" 2>&1) && t_fail "a virtual key without a domain refused" "$out"
[ "$out" = "makemap: $maps/virtual:1: a virtual key is user@domain or @domain" ] ||
    t_fail "the makemap error" "$out"
out=$("$CTL" makemap 2>&1) && t_fail "makemap without a file: usage" "exit 0"
say "newaliases and makemap: ok"
t_pass
