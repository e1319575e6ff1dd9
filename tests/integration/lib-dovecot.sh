# shellcheck shell=bash
# lib-dovecot.sh - a private Dovecot LMTP server and mail(1) for the
# integration tests.  Sourced after lib.sh (it uses T_NS, T_PIDS, T_LOGS,
# say and the priv_* helpers when they are there).  Needs root: the
# programs come from the trees tests/deps.sh unpacks into build-deps/
# (dovecot-core with dovecot-lmtpd, bsd-mailx; never installed on the
# host), and they look for their files at compiled-in paths (/usr/bin/
# doveconf, /usr/lib/dovecot/...), so each runs in a mount namespace of its
# own where the tree's usr/ is laid over /usr (overlayfs, read-only).
# Nothing outside the folders given is written.
#
#   dovecot_start DIR USER...
#       Starts Dovecot's LMTP server as root (in $T_NS when set) with
#       everything under DIR (created; must not exist):
#         DIR/dovecot.conf   the configuration
#         DIR/users          passwd-file userdb (and passdb): USER number i
#                            (from 0) gets uid and gid 64200+i and home
#                            DIR/mail/USER
#         DIR/mail/USER/     its Maildir (mail_location maildir:DIR/mail/%u),
#                            created 0700, owned by its uid
#         DIR/lmtp.sock      the LMTP socket (mode 0666)
#         DIR/dovecot.log    every log line (log_path, no syslog)
#         DIR/run, DIR/state base_dir (the internal sockets) and state_dir
#       Protocols: lmtp only; no TCP listener (no inet_listener is set;
#       dovecot_tcp_listeners shows it).  A RCPT address is looked up with
#       its local part only (auth_username_format = %Ln): alice@any.domain
#       is alice.  hostname = dovecot.test (its Received: line says "by
#       dovecot.test").  Sets DOVECOT_PID (the master, leader of its own
#       process group; also added to T_PIDS), DOVECOT_SOCK, DOVECOT_LOG
#       (added to T_LOGS), DOVECOT_DIR.  Returns 1 with a reason on stderr
#       when it does not come up within 10 s.
#   dovecot_stop
#       SIGTERM to DOVECOT_PID, waits (10 s) for the master and (2 s) for
#       its children, then SIGKILL to what is left of its process group;
#       1 if something is still alive after that.
#   dovecot_left
#       Prints the live processes of Dovecot's process group (none after
#       dovecot_stop).
#   dovecot_tcp_listeners
#       Prints the TCP sockets any process of Dovecot listens on (none).
#
#   mailx_read_mbox FILE [N]
#       Reads the mbox FILE with bsd-mailx (mail -n -f FILE, then the
#       command "x": leave without changing anything).  Without N it prints
#       the list of messages as mail shows it:
#           "FILE": 2 messages 2 new
#           >N  1 alice@example.org  Wed Dec  2 07:00   10/223   first message
#            N  2 carol@example.org  Wed Dec  2 07:05    6/104   second one
#       With N it prints message N instead ("p N").  mail writes its
#       temporary files into /tmp and reads ~/.mailrc: it runs in a mount
#       namespace of its own with an empty tmpfs on /tmp, HOME=/tmp and
#       MAIL=FILE, and is handed FILE as /dev/fd/3 (the tmpfs hides /tmp),
#       so the system's /tmp, /var/mail, /etc/mail.rc (-n) and the caller's
#       home are never touched, and neither is FILE (no status written).

LIBDOVECOT_UID0=64200

# _dovecot_root: the tree, or a reason on stderr and 1.
_dovecot_root() {
	local why
	why=$(priv_missing dovecot-core usr/sbin/dovecot usr/bin/doveconf usr/lib/dovecot/lmtp)
	[ -z "$why" ] || { echo "$why" >&2; return 1; }
	priv_root dovecot-core
}

# _dovecot_conf DIR: the configuration.
_dovecot_conf() {
	local d=$1
	cat <<EOF
# Dovecot for the strictmail tests (tests/integration/lib-dovecot.sh):
# LMTP on one unix socket, passwd-file users, Maildirs under $d/mail.
instance_name = sm-test-$$
base_dir = $d/run
state_dir = $d/state
protocols = lmtp
hostname = dovecot.test
ssl = no
log_path = $d/dovecot.log
info_log_path = $d/dovecot.log
# The host has no dovecot or dovenull user: internal processes run as nobody.
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = nobody
auth_username_format = %Ln
first_valid_uid = $LIBDOVECOT_UID0
mail_location = maildir:$d/mail/%u
passdb {
  driver = passwd-file
  args = $d/users
}
userdb {
  driver = passwd-file
  args = $d/users
}
service lmtp {
  unix_listener $d/lmtp.sock {
    mode = 0666
  }
}
EOF
}

dovecot_start() {
	local d=$1 root i u uid
	shift
	root=$(_dovecot_root) || return 1
	[ ! -e "$d" ] || { echo "dovecot_start: $d exists" >&2; return 1; }
	mkdir -p "$d/run" "$d/state" "$d/mail" || return 1
	chmod 0755 "$d" "$d/mail"
	: > "$d/users"
	i=0
	for u in "$@"; do
		uid=$((LIBDOVECOT_UID0 + i))
		printf '%s:{PLAIN}unused:%s:%s::%s\n' "$u" "$uid" "$uid" "$d/mail/$u" >> "$d/users"
		install -d -o "$uid" -g "$uid" -m 0700 "$d/mail/$u" || return 1
		i=$((i + 1))
	done
	# The auth process runs as default_internal_user (nobody); the
	# passwords are never used.
	chmod 0644 "$d/users"
	_dovecot_conf "$d" > "$d/dovecot.conf"
	: > "$d/dovecot.log"
	# The master leads its own process group (setsid; no fork: a
	# background job is no group leader), unshare execs in place, and sh
	# execs dovecot after the mount: $! is the master.
	# shellcheck disable=SC2016
	${T_NS:+ip netns exec "$T_NS"} setsid unshare -m --propagation private \
	    sh -c 'mount -t overlay -o ro,lowerdir="$1/usr":/usr sm-dovecot /usr &&
	    exec /usr/sbin/dovecot -F -c "$2"' sh "$root" "$d/dovecot.conf" \
	    >> "$d/dovecot.log" 2>&1 < /dev/null &
	DOVECOT_PID=$!
	# shellcheck disable=SC2034
	DOVECOT_DIR=$d
	DOVECOT_SOCK=$d/lmtp.sock
	DOVECOT_LOG=$d/dovecot.log
	T_PIDS="${T_PIDS:-} $DOVECOT_PID"
	T_LOGS="${T_LOGS:-} $DOVECOT_LOG"
	for i in $(seq 1 100); do
		if [ -S "$DOVECOT_SOCK" ] && grep -q 'starting up for lmtp' "$DOVECOT_LOG"; then
			return 0
		fi
		[ -d "/proc/$DOVECOT_PID" ] || break
		sleep 0.1
	done
	echo "dovecot_start: Dovecot did not come up; its log:" >&2
	cat "$DOVECOT_LOG" >&2
	return 1
}

dovecot_tcp_listeners() {
	local p pids
	pids=$(ps -e -o pid=,pgid= | awk -v g="$DOVECOT_PID" '$2 == g { print $1 }')
	for p in $pids; do
		${T_NS:+ip netns exec "$T_NS"} ss -Hltnp 2>/dev/null | grep "pid=$p,"
	done
	true
}

dovecot_stop() {
	local i
	[ -n "${DOVECOT_PID:-}" ] || return 0
	kill -TERM "$DOVECOT_PID" 2>/dev/null
	for i in $(seq 1 100); do
		[ -d "/proc/$DOVECOT_PID" ] || break
		# A zombie is gone for this purpose (the shell reaps it).
		[ "$(sed 's/.*) //' "/proc/$DOVECOT_PID/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && break
		sleep 0.1
	done
	wait "$DOVECOT_PID" 2>/dev/null
	# Its children leave with it; what is left of the group is killed.
	for i in $(seq 1 50); do
		[ -z "$(dovecot_left)" ] && return 0
		[ "$i" -gt 20 ] && kill -KILL -- "-$DOVECOT_PID" 2>/dev/null
		sleep 0.1
	done
	return 1
}

# dovecot_left: the live processes (not zombies) of Dovecot's process group.
dovecot_left() {
	ps -e -o pid=,pgid=,stat= 2>/dev/null |
	    awk -v g="$DOVECOT_PID" '$2 == g && $3 !~ /^Z/ { print $1 }'
}

mailx_read_mbox() {
	local f=$1 n=${2:-} root lp cmds flags=-n
	root=$(priv_root bsd-mailx)
	[ -x "$root/usr/bin/bsd-mailx" ] ||
	    { echo "no $root/usr/bin/bsd-mailx: run sh tests/deps.sh as root" >&2; return 1; }
	[ -f "$f" ] || { echo "mailx_read_mbox: no file $f" >&2; return 1; }
	lp=$(priv_libpath bsd-mailx)
	cmds='x'
	if [ -n "$n" ]; then
		cmds=$(printf 'p %s\nx' "$n")
		flags=-nN
	fi
	# shellcheck disable=SC2016
	printf '%s\n' "$cmds" | unshare -m --propagation private sh -c \
	    'mount -t tmpfs -o size=16m,mode=1777 sm-mailx /tmp &&
	    exec env -i PATH=/usr/bin:/bin HOME=/tmp MAIL=/dev/fd/3 TMPDIR=/tmp \
	    LD_LIBRARY_PATH="$1" "$2" '"$flags"' -f /dev/fd/3' sh "$lp" "$root/usr/bin/bsd-mailx" \
	    3< "$f" | sed -e '/^Mail version .*Type ? for help\.$/d' -e "s|\"/dev/fd/3\"|\"$f\"|"
}
