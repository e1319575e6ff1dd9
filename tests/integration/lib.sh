# lib.sh - shared shell helpers of the strictmail integration tests.
#
# A test sources this file, calls t_init, and from then on owns a network
# namespace ($T_NS, lo up), a temporary folder ($T_DIR, mode 0755 so the
# privilege-separated processes can traverse it) and a cleanup trap that
# stops every daemon it started (by PID: SIGTERM, then SIGKILL to the
# daemon's own process group), kills its helpers, unmounts what it
# mounted, deletes the namespace and the folder.
#
# Environment (set by tests/run-tests.sh; defaults for a manual run):
#   SM_TOP   top of the source tree
#   SM_BIN   the strictmaild binary under test (default: the asan build)
#   SM_PRIV  1 = privilege-separated as root, 0 = strictmaild -u
#   SM_KEEP  1 = keep $T_DIR (logs, spool) after the test for inspection
#
# Exit codes of a test: 0 pass, 1 fail, 77 skipped.
#
# tests/run-tests.sh runs tests side by side: every name a test makes
# outside $T_DIR (namespace, cgroup, world) carries its PID.  A test that
# cannot run beside another has a line "# serial: why" (run alone).

set -u

SM_TOP=${SM_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SM_BIN=${SM_BIN:-$SM_TOP/build-asan/strictmaild}
SM_PRIV=${SM_PRIV:-0}
SM_KEEP=${SM_KEEP:-0}
T_LIB=$SM_TOP/tests/integration
T_NAME=$(basename "$0" .sh)
PY=/usr/bin/python3
export PYTHONPATH="$T_LIB${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
PRIV_TOP=$SM_TOP
# shellcheck disable=SC1091
. "$SM_TOP/tests/privdeps.sh"

T_DIR=
T_NS=
T_PIDS=""	# daemons: each leads its own process group
T_HELPERS=""	# other background processes of the test
T_MOUNTS=""
T_PIDFILES=""	# files with the PID of a daemon a Python driver started
T_LOGS=""
T_USERS=""	# test users t_user_add made: deleted at the end
T_CLEANED=0
T_FAILFILE=

# ---------------------------------------------------------------- results

say() { printf '%s: %s\n' "$T_NAME" "$*"; }

t_pass() {
	local hits
	# A sanitizer report in any daemon log fails the test.
	if [ -n "$T_DIR" ]; then
		hits=$(grep -h -m 1 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
		    "$T_DIR"/*.log 2>/dev/null | head -n 1)
		[ -z "$hits" ] || t_fail "no sanitizer report in the daemon logs" "$hits"
	fi
	echo "PASS $T_NAME"
	exit 0
}

# t_fail EXPECTED GOT
t_fail() {
	t_show_logs
	echo "FAIL $T_NAME: expected $1, got $2"
	exit 1
}

# t_fail_py: the Python part of a test failed; it left "expected X, got Y"
# in $T_FAILFILE.
t_fail_py() {
	local msg="a Python check that failed, got no details"
	[ -s "$T_FAILFILE" ] && msg=$(head -n 1 "$T_FAILFILE")
	t_show_logs
	echo "FAIL $T_NAME: $msg"
	exit 1
}

# The last lines of every daemon log of the test (on failure).
t_show_logs() {
	local p
	for p in $T_LOGS; do
		[ -s "$p" ] || continue
		echo "---- last lines of $(basename "$p") ----"
		tail -n 40 "$p"
	done
	echo "----"
}

t_skip() {
	echo "SKIP $T_NAME: $*"
	exit 77
}

# t_need COMMAND...: fails at once when one is not installed.  Tests never
# install or fetch anything: tests/deps.sh does, before any test.
t_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
		    t_fail "$c to be installed" "none: run sh tests/deps.sh (or make deps) as root"
	done
}

# t_need_private NAME PROG...: fails at once unless tests/deps.sh has
# unpacked the package NAME into build-deps/NAME with each PROG (a path in
# the tree).  Mail and web servers are never installed on the host: tests
# run them from there (tests/privdeps.sh: priv_run, priv_root ...).
t_need_private() {
	local why
	why=$(priv_missing "$@")
	[ -z "$why" ] || t_fail "$1 unpacked in $(priv_root "$1")" "none: $why"
}

# ---------------------------------------------------------------- setup

t_init() {
	[ "$(id -u)" -eq 0 ] || t_skip "needs root (network namespaces)"
	[ -x "$SM_BIN" ] || t_fail "an executable strictmaild at $SM_BIN" "none (run make / make asan)"
	t_need ip
	# The shell's own notes about killed jobs would follow the result line.
	trap 't_cleanup 2>/dev/null' EXIT
	trap 't_cleanup 2>/dev/null; exit 130' INT
	trap 't_cleanup 2>/dev/null; exit 143' TERM
	T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sm-$T_NAME.XXXXXX") ||
	    t_fail "a temporary folder" "mktemp failure"
	chmod 0755 "$T_DIR"
	export T_FAILFILE=$T_DIR/failure
	export T_NAME
	T_NS="sm-$T_NAME-$$"
	ip netns add "$T_NS" || t_fail "ip netns add $T_NS to work" "an error"
	ip -n "$T_NS" link set lo up || t_fail "lo up in $T_NS" "an error"
	if [ "$SM_PRIV" = 1 ]; then
		sm_users || t_fail "the strictmail system users" "useradd failure"
	fi
	say "binary $SM_BIN, SM_PRIV=$SM_PRIV, namespace $T_NS"
}

# t_failsync: builds the failsync.c preload into $T_DIR/failsync.so and
# sets PLAIN to the plain build it is loaded into (the sanitizer build must
# keep its runtime first in the library list).
t_failsync() {
	PLAIN=$SM_TOP/build/strictmaild
	[ -x "$PLAIN" ] ||
	    t_fail "the plain build $PLAIN for the LD_PRELOAD runs (make all; the sanitizer build cannot take a preload)" \
		"no such executable"
	command -v cc >/dev/null || t_fail "a C compiler (cc) to build failsync.so" "none"
	cc -shared -fPIC -O1 -o "$T_DIR/failsync.so" "$T_LIB/failsync.c" -ldl \
	    > "$T_DIR/cc.log" 2>&1 ||
	    t_fail "failsync.c to build" "$(head -n 5 "$T_DIR/cc.log" | tr '\n' '|')"
	chmod 0755 "$T_DIR/failsync.so"
}

# Creates the system users of the privilege-separated processes.  Tests
# run side by side may race on /etc/passwd's lock (useradd then fails at
# once): try again, bounded.
sm_users() {
	local u i
	for u in _sm-smtpd _sm-queue _sm-lookup _sm-control _sm-delivery; do
		for i in $(seq 1 50); do
			getent passwd "$u" >/dev/null && break
			useradd --system --no-create-home --home-dir /nonexistent \
			    --shell /usr/sbin/nologin "$u" 2>/dev/null || sleep 0.1
		done
		getent passwd "$u" >/dev/null || return 1
	done
	# The maildrop-group (local submission).
	for i in $(seq 1 50); do
		getent group _sm-drop >/dev/null && break
		groupadd --system _sm-drop 2>/dev/null || sleep 0.1
	done
	getent group _sm-drop >/dev/null
}

# t_user_add NAME HOME: a test user (shell /bin/sh, home HOME not
# created), deleted by t_cleanup.  useradd and userdel are retried while
# another test holds the passwd lock (tests run two at a time).
t_user_add() {
	local i
	T_USERS="$T_USERS $1"
	for i in $(seq 1 50); do
		useradd --no-create-home --home-dir "$2" --shell /bin/sh "$1" \
		    2>/dev/null && return 0
		getent passwd "$1" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

t_users_del() {
	local u i
	for u in $T_USERS; do
		for i in $(seq 1 50); do
			getent passwd "$u" >/dev/null || break
			userdel "$u" 2>/dev/null || sleep 0.1
		done
	done
}

# Is process $1 alive (and not a zombie)?  Read with builtins (waits
# call it many times a second): the state is the first field after the
# ')' that ends the command name.
pid_alive() {
	local st
	case $1 in ''|*[!0-9]*) return 1 ;; esac
	read -r st 2>/dev/null < "/proc/$1/stat" || return 1
	st=${st##*) }
	st=${st%% *}
	[ -n "$st" ] && [ "$st" != Z ]
}

# Processes in process group $1 (one PID a line).
pgrp_members() {
	ps -e -o pid=,pgid= 2>/dev/null | awk -v g="$1" '$2 == g { print $1 }'
}

# t_stop_pids: SIGTERM to each of T_PIDS (bounded wait), then SIGKILL to
# whatever is left of its process group; empties T_PIDS.
t_stop_pids() {
	local p i
	for p in $T_PIDS; do
		if pid_alive "$p"; then
			kill -TERM "$p" 2>/dev/null
			for i in $(seq 1 100); do pid_alive "$p" || break; sleep 0.1; done
		fi
		# Whatever is left of the daemon's own process group.
		for i in 1 2 3; do
			[ -n "$(pgrp_members "$p")" ] || break
			kill -KILL -- "-$p" 2>/dev/null
			sleep 0.2
		done
	done
	T_PIDS=
}

t_cleanup() {
	local rc=$? p i f
	[ "$T_CLEANED" = 1 ] && return
	T_CLEANED=1
	trap - EXIT INT TERM
	t_stop_pids
	# Daemons that a Python driver started: their PID is in a file.
	for f in $T_PIDFILES; do
		p=$(cat "$f" 2>/dev/null)
		case "$p" in ''|*[!0-9]*) continue ;; esac
		for i in 1 2 3; do
			[ -n "$(pgrp_members "$p")" ] || break
			kill -KILL -- "-$p" 2>/dev/null
			sleep 0.2
		done
	done
	for p in $T_HELPERS; do
		kill -KILL "$p" 2>/dev/null
	done
	# Anything still inside the test's own namespace was started by it.
	if [ -n "$T_NS" ]; then
		for i in 1 2 3 4 5; do
			p=$(ip netns pids "$T_NS" 2>/dev/null)
			[ -n "$p" ] || break
			kill -KILL $p 2>/dev/null
			sleep 0.2
		done
	fi
	wait 2>/dev/null
	for p in $T_MOUNTS; do
		for i in 1 2 3 4 5; do
			mountpoint -q "$p" || break
			umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null
			sleep 0.1
		done
	done
	[ -n "$T_NS" ] && ip netns del "$T_NS" 2>/dev/null
	t_users_del
	if [ -n "$T_DIR" ] && [ -d "$T_DIR" ]; then
		if [ "$SM_KEEP" = 1 ]; then
			echo "kept $T_DIR"
		else
			rm -rf "$T_DIR"
		fi
	fi
	return $rc
}

# ---------------------------------------------------------------- config

# sm_config FILE SPOOL [directive...]: a configuration for the namespace.
# The directives given replace the defaults with the same keyword (the
# grammar refuses a keyword twice).
sm_config() {
	local f=$1 spool=$2 d e k given
	shift 2
	{
		echo "# strictmail test configuration ($T_NAME)"
		for d in "hostname mx.test" "spool $spool" "listen 127.0.0.1 25 smtp" \
		    "min-free-space 0" "shutdown-timeout 10s" \
		    "control-socket $T_DIR/control.sock" \
		    "aliases $T_DIR/aliases" "mbox-dir $T_DIR/mail"; do
			k=${d%% *}
			given=0
			for e in "$@"; do [ "${e%% *}" = "$k" ] && given=1; done
			[ "$given" = 1 ] || echo "$d"
		done
		for d in "$@"; do echo "$d"; done
	} > "$f"
}

# sm_hold_local: prints a directive that keeps mail for root in delivery
# (its alias becomes a command that waits), for a test that counts the
# queue's syncs and wants no envelope rewrite of a delivery meanwhile.
# The command dies with the delivery that runs it (at the daemon's stop).
sm_hold_local() {
	printf '#!/bin/sh\nexec sleep 3600\n' > "$T_DIR/hold"
	chmod 0755 "$T_DIR/hold"
	echo "root-alias |$T_DIR/hold"
}

# ---------------------------------------------------------------- daemon

# The option that selects the mode of this run.
sm_mode_flag() {
	if [ "$SM_PRIV" = 1 ]; then echo ""; else echo "-u"; fi
}

# sm_start CONF LOG [prefix command...]: starts strictmaild -d in the
# namespace, in its own session and process group, stderr to LOG.  Sets
# SM_PID.  A prefix command (strace ...) runs the daemon under it; then
# SM_PID is the prefix's PID and the daemon is its child.
sm_start() {
	local conf=$1 log=$2
	shift 2
	# shellcheck disable=SC2046
	ip netns exec "$T_NS" setsid "$@" "$SM_BIN" -d $(sm_mode_flag) -f "$conf" \
	    >>"$log" 2>&1 </dev/null &
	SM_PID=$!
	T_PIDS="$T_PIDS $SM_PID"
	case " $T_LOGS " in *" $log "*) ;; *) T_LOGS="$T_LOGS $log" ;; esac
}

# sm_wait_log LOG PATTERN PID SECONDS: waits until LOG has a line that
# matches the extended regex PATTERN; 1 if PID died or time ran out.
sm_wait_log() {
	local log=$1 pat=$2 pid=$3 secs=$4 i n
	n=$((secs * 10))
	for i in $(seq 1 "$n"); do
		grep -Eq -- "$pat" "$log" 2>/dev/null && return 0
		pid_alive "$pid" || { grep -Eq -- "$pat" "$log" 2>/dev/null; return; }
		sleep 0.1
	done
	return 1
}

# sm_wait_ready LOG PID [SECONDS]: the parent's "ready: listening on" line,
# logged once every process is ready (the queue has emptied incoming/,
# smtpd accepts), and then the queue's "recovery: N messages in queue"
# line: the messages in queue/ are checked and scheduled (a thread does
# that while mail is taken; tests read the spool once it is done).
sm_wait_ready() {
	local log=$1 pid=$2 secs=${3:-30}
	sm_wait_log "$log" 'strictmail/strictmaild\[[0-9]+\]: ready: listening on' "$pid" "$secs" &&
	    sm_wait_log "$log" 'strictmail/queue\[[0-9]+\]: recovery: [0-9]+ messages in queue' "$pid" "$secs"
}

# sm_start_ready CONF LOG: start, wait until ready, fail the test if not.
sm_start_ready() {
	sm_start "$1" "$2"
	sm_wait_ready "$2" "$SM_PID" 30 ||
	    t_fail "strictmaild ready (\"ready: listening on\" logged) within 30 s" \
		"$(pid_alive "$SM_PID" && echo "no ready line" || echo "exit before ready")"
}

# sm_wait_exit PID SECONDS: waits for a child of this shell to exit; sets
# SM_RC to its exit status, SM_WAITED_MS to the time waited.  1 on timeout.
sm_wait_exit() {
	local pid=$1 secs=$2 t0 i n
	t0=$(date +%s%N)
	n=$((secs * 50))
	for i in $(seq 1 "$n"); do
		pid_alive "$pid" || break
		sleep 0.02
	done
	SM_WAITED_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
	if pid_alive "$pid"; then
		SM_RC=
		return 1
	fi
	wait "$pid" 2>/dev/null
	SM_RC=$?
	return 0
}

# sm_stop PID [SECONDS]: SIGTERM, bounded wait, then SIGKILL to the group.
# Returns 0 if it exited by itself in time (SM_RC = its status).
sm_stop() {
	local pid=$1 secs=${2:-30}
	kill -TERM "$pid" 2>/dev/null
	if sm_wait_exit "$pid" "$secs"; then
		sm_reap_group "$pid"
		return 0
	fi
	kill -KILL -- "-$pid" 2>/dev/null
	sm_wait_exit "$pid" 5
	return 1
}

# sm_reap_group PGID: after the leader exited, waits (bounded) for the rest
# of the group; returns 1 (and kills them) if any member outlives 10 s.
sm_reap_group() {
	local g=$1 i
	for i in $(seq 1 100); do
		[ -n "$(pgrp_members "$g")" ] || return 0
		sleep 0.1
	done
	kill -KILL -- "-$g" 2>/dev/null
	return 1
}

# sm_children PID: "pid name" of the daemon's direct children.
sm_children() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		printf '%s %s\n' "$c" "$(cat /proc/"$c"/comm 2>/dev/null)"
	done
}

# sm_child PID WORD: PID of the child whose name contains WORD.
sm_child() {
	sm_children "$1" | awk -v w="$2" 'index($2, w) { print $1; exit }'
}

# ---------------------------------------------------------------- clients

# sm_py ARGS...: python3 inside the namespace.
sm_py() {
	ip netns exec "$T_NS" "$PY" "$@"
}

# sm_py_fg ARGS...: the same in the foreground, but a signal to the test
# interrupts the wait at once (the trap then cleans up); stdin is passed on.
sm_py_fg() {
	local p
	ip netns exec "$T_NS" "$PY" "$@" <&0 &
	p=$!
	T_HELPERS="$T_HELPERS $p"
	wait "$p"
}

# sm_send FROM TO[,TO] BODYFILE [SOURCE]: one message with smtplib;
# prints "250 QID" or "ERR code text".
sm_send() {
	sm_py "$T_LIB/smtest.py" send 127.0.0.1 25 "$@"
}

# sm_check SPOOL QID BODYFILE [RCPT,...]: the message is committed, intact.
sm_check() {
	"$PY" "$T_LIB/smtest.py" check "$@"
}

# sm_body TAG SIZE > FILE
sm_body() {
	"$PY" "$T_LIB/smtest.py" body "$@"
}

# sm_listening PORT: is anything listening on TCP PORT in the namespace?
sm_listening() {
	ip netns exec "$T_NS" ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# ---------------------------------------------------------------- TLS

# sm_pki DIR: the test CA and its certificates (tests/pki/mkpki.sh) in DIR.
sm_pki() {
	local gen=$SM_TOP/tests/pki/mkpki.sh
	[ -f "$gen" ] || t_fail "the test CA generator $gen" "no such file"
	bash "$gen" "$1" > "$T_DIR/mkpki.log" 2>&1 ||
	    t_fail "tests/pki/mkpki.sh $1 to work" "$(tail -n 3 "$T_DIR/mkpki.log" | tr '\n' '|')"
	[ -s "$1/ca.pem" ] && [ -s "$1/valid.pem" ] && [ -s "$1/valid.key" ] ||
	    t_fail "ca.pem, valid.pem and valid.key from mkpki.sh" "$(ls "$1" | tr '\n' ' ')"
}
