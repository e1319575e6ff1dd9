#!/bin/bash
# t-27-syslog-restart: without -d, every process's lines reach syslog
# through the parent, with the writer's own tag, pid and priority, and keep
# arriving when the syslog daemon re-creates its socket (a restart); the
# children (chrooted when run privilege-separated as root) never talk to
# /dev/log themselves.
#
# Everything runs in a mount namespace of its own (unshare --mount), where
# /dev is a small tmpfs with bind mounts of the few device nodes needed and
# /dev/log is a stand-in syslog (syslogd.py); the host's /dev is not
# touched.  Mail is sent; the smtpd and queue lines must arrive tagged
# strictmail/smtpd[pid] and strictmail/queue[pid] (pids of the real
# children) at mail.info.  The stand-in is killed, its socket removed, one
# session is made while there is no syslog (its lines are lost: the parent
# must say how many once it can), then a new stand-in binds a new socket:
# every line of the mail sent after that, and of the shutdown, must arrive.
# On the way: -V, the "starting strictmail VERSION" line, and a greeting
# without the version.
. "$(dirname "$0")/lib.sh"
t_init
t_need unshare nsenter

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log		# the parent's stderr: sanitizer reports only
sys1=$T_DIR/syslog1.log
sys2=$T_DIR/syslog2.log
sm_config "$conf" "$spool"
T_LOGS="$log $sys1 $sys2"

# The namespace holder: a private mount namespace (inside the test's
# network namespace) with its own /dev.  It sleeps; everything else enters
# it with nsenter.
mkdir -m 0755 "$T_DIR/dev"
ip netns exec "$T_NS" unshare --mount --propagation private sh -c '
	d=$1
	mount -t tmpfs -o mode=0755,size=1m sm-dev "$d" || exit 1
	for n in null zero full random urandom; do
		: > "$d/$n" && mount --bind "/dev/$n" "$d/$n" || exit 1
	done
	mount --rbind "$d" /dev || exit 1
	echo $$ > "$d/../holder.pid"
	exec sleep 600' sh "$T_DIR/dev" > "$T_DIR/holder.out" 2>&1 &
holder_pid=$!
T_HELPERS="$T_HELPERS $holder_pid"
for i in $(seq 1 50); do [ -s "$T_DIR/holder.pid" ] && break; sleep 0.1; done
H=$(cat "$T_DIR/holder.pid" 2>/dev/null)
[ -n "$H" ] || t_fail "a private mount namespace with its own /dev" "$(tr '\n' '|' < "$T_DIR/holder.out")"
in_ns() { nsenter -t "$H" -m -n "$@"; }
# The host's /dev is untouched; the namespace's is the tmpfs.
[ "$(in_ns stat -f -c %T /dev)" = tmpfs ] || t_fail "a tmpfs on /dev in the namespace" "$(in_ns stat -f -c %T /dev)"
[ "$(stat -c %d /dev)" != "$(in_ns stat -c %d /dev)" ] ||
    t_fail "the host's /dev left alone" "the same /dev in the namespace"

# syslogd_start OUT: a stand-in syslog at the namespace's /dev/log.
syslogd_start() {
	local out=$1 i
	# nsenter itself, not in_ns: $! must be the stand-in's own PID.
	nsenter -t "$H" -m -n "$PY" "$T_LIB/syslogd.py" /dev/log "$out" > "$out.err" 2>&1 &
	SYSLOGD_PID=$!
	T_HELPERS="$T_HELPERS $SYSLOGD_PID"
	for i in $(seq 1 50); do [ -e "$out.ready" ] && return 0; sleep 0.1; done
	t_fail "the stand-in syslog bound to /dev/log" "$(tr '\n' '|' < "$out.err")"
}

stamp='[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}'
syslogd_start "$sys1"
s1_pid=$SYSLOGD_PID

# strictmaild in daemon mode (no -d), in its own session and process group.
# shellcheck disable=SC2046
nsenter -t "$H" -m -n setsid "$SM_BIN" $(sm_mode_flag) -f "$conf" >> "$log" 2>&1 < /dev/null &
SM_PID=$!
T_PIDS="$T_PIDS $SM_PID"
sm_wait_ready "$sys1" "$SM_PID" 30 ||
    t_fail "the ready line in the stand-in syslog within 30 s" "$(tail -n 3 "$sys1" | tr '\n' '|')"
spid=$(sm_child "$SM_PID" smtpd)
qpid=$(sm_child "$SM_PID" queue)
[ -n "$spid" ] && [ -n "$qpid" ] || t_fail "smtpd and queue children" "$(sm_children "$SM_PID" | tr '\n' ' ')"
say "strictmaild $SM_PID: smtpd $spid, queue $qpid; syslog stand-in $s1_pid"
if [ "$SM_PRIV" = 1 ]; then
	for c in "$spid" "$qpid"; do
		[ "$(readlink "/proc/$c/root")" != / ] ||
		    t_fail "child $c chrooted (privilege-separated run)" "root /"
	done
fi
# Only the parent has a socket connected to the syslog daemon: the
# children's one way out is the log pipe.
dev_ino=$(in_ns ss -xan 2>/dev/null | awk '$5 == "/dev/log" { print $6; exit }')
[ -n "$dev_ino" ] || t_fail "the stand-in's /dev/log socket in ss -x" "$(in_ns ss -xan | head -n 5 | tr '\n' '|')"
# send_check N OUT: sends N messages, checks that each one's four lines
# (smtpd connect, accepted, disconnect; queue committed) reach OUT with
# the children's tags, pids and mail.info.
send_check() {
	local n=$1 out=$2 k r qid i
	for k in $(seq 1 "$n"); do
		sm_body "t27-$k-$$" 1500 > "$T_DIR/body"
		r=$(sm_send sender@example.org root@localhost "$T_DIR/body")
		case "$r" in "250 "*) ;; *) t_fail "250 for message $k" "$r" ;; esac
		qid=${r#250 }
		for i in $(seq 1 50); do
			grep -Eq "^<22>$stamp strictmail/smtpd\[$spid\]: session=[^ ]+ disconnect " "$out" &&
			    [ "$(grep -Ec "^<22>$stamp strictmail/smtpd\[$spid\]: session=[^ ]+ disconnect " "$out")" -ge "$k" ] && break
			sleep 0.1
		done
		grep -Eq "^<22>$stamp strictmail/queue\[$qpid\]: $qid: committed " "$out" ||
		    t_fail "queue's '<22>... strictmail/queue[$qpid]: $qid: committed' in $(basename "$out")" \
			"$(grep -m 3 "$qid" "$out" | tr '\n' '|')"
		grep -Eq "^<22>$stamp strictmail/smtpd\[$spid\]: $qid: accepted session=" "$out" ||
		    t_fail "smtpd's '<22>... strictmail/smtpd[$spid]: $qid: accepted' in $(basename "$out")" \
			"$(grep -m 3 "$qid" "$out" | tr '\n' '|')"
	done
	[ "$(grep -Ec "^<22>$stamp strictmail/smtpd\[$spid\]: session=[^ ]+ connect " "$out")" -ge "$n" ] &&
	    [ "$(grep -Ec "^<22>$stamp strictmail/smtpd\[$spid\]: session=[^ ]+ disconnect " "$out")" -ge "$n" ] ||
	    t_fail "$n connect and disconnect lines of smtpd in $(basename "$out")" \
		"$(grep -c 'connect' "$out")"
}

send_check 3 "$sys1"
grep -Eq "^<22>$stamp strictmail/queue\[$qpid\]: recovery: " "$sys1" ||
    t_fail "queue's recovery line at mail.info" "$(grep -m 2 queue "$sys1" | tr '\n' '|')"
grep -Eq "^<22>$stamp strictmail/strictmaild\[$SM_PID\]: ready: listening on " "$sys1" ||
    t_fail "the parent's own ready line" "$(grep -m 2 ready "$sys1" | tr '\n' '|')"
# The version: -V prints it, the parent logs it at start, the SMTP
# greeting does not show it.
ver=$("$SM_BIN" -V) || t_fail "strictmaild -V exits 0" "$ver"
case "$ver" in "strictmail "[0-9]*) ;; *) t_fail "'strictmail VERSION' from -V" "$ver" ;; esac
"$SM_BIN" -h | grep -qxF "$ver" || t_fail "-h showing '$ver'" "$("$SM_BIN" -h | head -n 1)"
grep -Eq "^<22>$stamp strictmail/strictmaild\[$SM_PID\]: starting $ver\$" "$sys1" ||
    t_fail "'starting $ver' logged at start" "$(head -n 1 "$sys1")"
greeting=$(sm_py -c '
import socket
s = socket.create_connection(("127.0.0.1", 25), timeout=30)
print(s.recv(512).decode().strip())
s.sendall(b"QUIT\r\n")
s.recv(512)
')
case "$greeting" in
"220 mx.test ESMTP strictmail") ;;
*) t_fail "the greeting '220 mx.test ESMTP strictmail' (no version)" "$greeting" ;;
esac

# Who is connected to the stand-in: the parent alone.
peers=$(in_ns ss -xanp 2>/dev/null | awk -v i="$dev_ino" '$8 == i' |
    grep -o 'pid=[0-9]*' | sort -u | tr '\n' ' ')
[ "$peers" = "pid=$SM_PID " ] ||
    t_fail "only the parent (pid $SM_PID) connected to /dev/log" "${peers:-nobody}"
say "before the restart: every line arrived with its tag and pid; only the parent talks to syslog"

# The syslog daemon goes away: stand-in killed, socket removed.
kill -KILL "$s1_pid"
wait "$s1_pid" 2>/dev/null
in_ns rm -f /dev/log
# One session while there is no syslog: its lines cannot be delivered.
gap=$(sm_py - <<'PYEOF'
import smtplib
s = smtplib.SMTP('127.0.0.1', 25, timeout=30)
s.ehlo('gap.test')
s.quit()
print('ok')
PYEOF
)
[ "$gap" = ok ] || t_fail "a session while syslog is down" "$gap"
sleep 2		# the parent has read and tried to send them by then
syslogd_start "$sys2"
say "stand-in syslog restarted (pid $SYSLOGD_PID) on a new socket"

send_check 3 "$sys2"
# The gap's lines are lost, and the first line after the restart says
# how many (or, should the parent not have tried yet, they arrive).
first=$(head -n 1 "$sys2")
echo "$first" | grep -Eq "^<20>$stamp strictmail/strictmaild\[$SM_PID\]: syslog: 2 lines lost: " ||
    echo "$first" | grep -Eq "strictmail/smtpd\[$spid\]: session=[^ ]+ connect .*" ||
    t_fail "the first line after the restart: 'syslog: 2 lines lost' (the gap's connect and disconnect)" "$first"
say "after the restart: every line arrived; the gap: ${first#*]: }"

# The shutdown's lines, from the parent and every child, arrive too.
sm_stop "$SM_PID" 30 || t_fail "strictmaild exits after SIGTERM" "still running"
for pat in "strictmaild\[$SM_PID\]: shutdown requested" \
    "smtpd\[$spid\]: SIGTERM: shutting down" \
    "queue\[$qpid\]: exiting" \
    "strictmaild\[$SM_PID\]: shutdown complete in "; do
	grep -Eq "^<[0-9]+>$stamp strictmail/$pat" "$sys2" ||
	    t_fail "'strictmail/$pat' in the restarted syslog" "$(tail -n 5 "$sys2" | tr '\n' '|')"
done
# No line was written anywhere but through the parent's syslog socket.
[ ! -s "$log" ] || ! grep -q 'strictmail/' "$log" ||
    t_fail "nothing on the daemon's stderr" "$(head -n 3 "$log" | tr '\n' '|')"
say "shutdown lines arrived; nothing left on stderr"
t_pass
