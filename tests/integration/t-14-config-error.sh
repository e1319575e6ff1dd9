#!/bin/bash
# t-14-config-error: a configuration with a mistake on line 4 is refused by
# "strictmaild -n" and by a real start, both with exit status 78 and
# "<file>:4:" on stderr, and nothing listens; a good configuration passes
# "strictmaild -n" with "<file>: configuration OK".  Then "strictmaild -n"
# refuses, each with exit 78 and a message naming file:line (or the
# command that fixes it), what would stop a start or make an open relay:
# overlapping and duplicate listeners (IPv4 and IPv6), relay-network
# 0.0.0.0/0 and ::/0 without open-relay, a network with host bits set, a
# missing certificate, a missing spool; as root also an unknown process
# user and a process user that is root, which a real start refuses too.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
bad=$T_DIR/bad.conf
good=$T_DIR/good.conf
cat > "$bad" <<EOF
hostname mx.test
spool $spool
listen 127.0.0.1 25 smtp
max-recipients ten
min-free-space 0
EOF
sm_config "$good" "$spool"
mkdir -p "$spool" && chmod 0755 "$spool" || t_fail "mkdir $spool" "an error"

# 1. -n on the bad file.
err=$T_DIR/n.err
ip netns exec "$T_NS" timeout 30 "$SM_BIN" -n $(sm_mode_flag) -f "$bad" >"$T_DIR/n.out" 2>"$err"
rc=$?
say "strictmaild -n $bad: exit $rc, stderr: $(head -n 3 "$err" | tr '\n' '|')"
[ "$rc" = 78 ] || t_fail "exit 78 from -n on a bad configuration" "$rc"
grep -q -F "$bad:4: " "$err" || t_fail "'$bad:4: <what>' on stderr" "$(head -n 3 "$err")"

# 2. A real start with the bad file: exit 78 within 30 s, nothing listens.
err=$T_DIR/start.err
ip netns exec "$T_NS" setsid "$SM_BIN" -d $(sm_mode_flag) -f "$bad" >"$T_DIR/start.out" 2>"$err" </dev/null &
pid=$!
T_PIDS="$T_PIDS $pid"
listening=no
for i in $(seq 1 300); do
	sm_listening 25 && listening=yes
	pid_alive "$pid" || break
	sleep 0.1
done
sm_wait_exit "$pid" 1 || t_fail "a start with a bad configuration to exit within 30 s" "still running"
say "strictmaild -d $bad: exit $SM_RC, stderr: $(grep -F "$bad" "$err" | head -n 2 | tr '\n' '|')"
[ "$SM_RC" = 78 ] || t_fail "exit 78 from a start with a bad configuration" "$SM_RC"
grep -q -F "$bad:4: " "$err" || t_fail "'$bad:4: <what>' on stderr of the start" "$(head -n 3 "$err")"
if [ "$listening" = yes ] || sm_listening 25; then
	t_fail "nothing listening on port 25" "a listener"
fi
sm_reap_group "$pid" || t_fail "no process left from the refused start" "$(pgrp_members "$pid")"
say "refused with line 4, nothing listening, no process left"

# 3. -n on the good file.
out=$(ip netns exec "$T_NS" timeout 30 "$SM_BIN" -n $(sm_mode_flag) -f "$good" 2>&1)
rc=$?
say "strictmaild -n $good: exit $rc: $out"
[ "$rc" = 0 ] || t_fail "exit 0 from -n on a good configuration" "$rc"
printf '%s\n' "$out" | grep -q -x -F "$good: configuration OK" ||
    t_fail "'$good: configuration OK'" "$out"
sm_listening 25 && t_fail "nothing listening after -n" "a listener"

# 4. What -n refuses: n_refused NAME WANT LINE...; @F@ in WANT is the
# file.  sm_config writes a comment and 5 defaults first (4 when a listen
# line is given, which replaces the default listener), then the lines.
n_refused() {
	local what=$1 want=$2 f=$T_DIR/$1.conf out rc
	shift 2
	sm_config "$f" "$spool" "$@"
	out=$(ip netns exec "$T_NS" timeout 30 "$SM_BIN" -n $(sm_mode_flag) -f "$f" 2>&1)
	rc=$?
	say "-n $what: exit $rc: $out"
	[ "$rc" = 78 ] || t_fail "exit 78 from -n with $what" "$rc: $out"
	printf '%s\n' "$out" | grep -q -F -- "${want//@F@/$f}" ||
	    t_fail "'${want//@F@/$f}' from -n with $what" "$out"
}
n_refused overlap4 "@F@:8: listen 0.0.0.0 25 overlaps listen 127.0.0.1 25 (line 7)" \
    "listen 127.0.0.1 25 smtp" "listen 0.0.0.0 25 smtp"
n_refused overlap6 "@F@:8: listen :: 25 overlaps listen ::1 25 (line 7)" \
    "listen ::1 25 smtp" "listen :: 25 smtp"
n_refused duplicate "@F@:8: duplicate listen 127.0.0.1 25 (first on line 7)" \
    "listen 127.0.0.1 25 smtp" "listen 127.0.0.1 25 submission"
n_refused openrelay4 "@F@:8: relay-network: 0.0.0.0/0 is wider than /8 and makes an open relay" \
    "relay-network 127.0.0.0/8 0.0.0.0/0"
n_refused openrelay6 "@F@:8: relay-network: ::/0 is wider than /16" "relay-network ::/0"
n_refused hostbits "@F@:8: relay-network: '192.168.1.5/16' has host bits set: the network is 192.168.0.0/16" \
    "relay-network 192.168.1.5/16"
n_refused nocert "@F@:8: tls-certificate $T_DIR/none.pem: No such file or directory" \
    "tls-certificate $T_DIR/none.pem" "tls-key $T_DIR/none.key"
n_refused nospool "spool $T_DIR/nospool: No such file or directory: create the spool with 'make install'" \
    "spool $T_DIR/nospool"
# A listener of :: and one of 0.0.0.0 on one port go together (IPv6
# sockets are IPV6_V6ONLY), and open-relay says an open relay is meant.
ok=$T_DIR/ok2.conf
sm_config "$ok" "$spool" "listen 0.0.0.0 2525 smtp" "listen :: 2525 smtp" \
    "relay-network 0.0.0.0/0 ::/0 open-relay"
out=$(ip netns exec "$T_NS" timeout 30 "$SM_BIN" -n $(sm_mode_flag) -f "$ok" 2>&1)
rc=$?
say "-n with 0.0.0.0 and :: on 2525 and open-relay: exit $rc: $out"
[ "$rc" = 0 ] || t_fail "exit 0 from -n with 0.0.0.0 and :: and open-relay" "$rc: $out"

if [ "$SM_PRIV" = 1 ]; then
	n_refused nouser "@F@:8: user-smtpd: user 'sm-no-such-user' does not exist" \
	    "user-smtpd sm-no-such-user"
	n_refused rootuser "@F@:8: user-queue: user 'root' is root (uid 0)" \
	    "user-queue root"
	# A real start refuses the root user with the same message, exit 78.
	f=$T_DIR/rootuser.conf
	err=$T_DIR/rootstart.err
	ip netns exec "$T_NS" setsid "$SM_BIN" -d -f "$f" >/dev/null 2>"$err" </dev/null &
	pid=$!
	T_PIDS="$T_PIDS $pid"
	sm_wait_exit "$pid" 30 || t_fail "a start with user-queue root to exit within 30 s" "still running"
	say "start with user-queue root: exit $SM_RC: $(grep -F 'root' "$err" | head -n 1)"
	[ "$SM_RC" = 78 ] || t_fail "exit 78 from a start with user-queue root" "$SM_RC"
	grep -q -F "$f:8: user-queue: user 'root' is root (uid 0)" "$err" ||
	    t_fail "the root user named with file:line at start" "$(head -n 3 "$err")"
	sm_reap_group "$pid" || t_fail "no process left from the refused start" "$(pgrp_members "$pid")"
else
	say "process users are checked only as root (SM_PRIV=1)"
fi
t_pass
