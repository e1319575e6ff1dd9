#!/bin/bash
# t-37-hostname: without a hostname setting, strictmail greets with the
# fully qualified name, as "hostname -f" gives it: the canonical name of
# the machine's name in /etc/hosts.  The machine's name and /etc/hosts are
# replaced for the daemon alone (its own UTS and mount namespaces).  A
# name that /etc/hosts does not qualify stays the short name.
. "$(dirname "$0")/lib.sh"
t_init
t_need unshare

# greeting HOSTS-LINE: starts strictmaild as the host "mx1" with /etc/hosts
# holding HOSTS-LINE, prints the first line of its greeting, stops it.
greeting() {
	local hosts=$T_DIR/hosts.$n conf=$T_DIR/strictmail.$n.conf
	local log=$T_DIR/daemon.$n.log
	printf '127.0.0.1 localhost\n%s\n' "$1" > "$hosts"
	printf 'spool %s\nlisten 127.0.0.1 25 smtp\nmin-free-space 0\ncontrol-socket %s\n' \
	    "$T_DIR/spool.$n" "$T_DIR/control.$n.sock" > "$conf"
	sm_start "$conf" "$log" unshare --uts --mount sh -c \
	    'hostname mx1 && mount --bind "$0" /etc/hosts && exec "$@"' "$hosts"
	sm_wait_ready "$log" "$SM_PID" 30 ||
	    t_fail "strictmaild ready within 30 s" "$(tail -n 3 "$log")"
	sm_py -c '
import socket
s = socket.create_connection(("127.0.0.1", 25), 10)
print(s.makefile("rb").readline().decode().rstrip())
s.sendall(b"QUIT\r\n")
'
	sm_stop "$SM_PID"
}

n=1
g=$(greeting "127.0.1.1 mx1.example.test mx1")
say "hosts '127.0.1.1 mx1.example.test mx1': $g"
[[ $g == "220 mx1.example.test "* ]] ||
    t_fail "greeting with the fully qualified name mx1.example.test" "$g"

n=2
g=$(greeting "127.0.1.1 mx1")
say "hosts '127.0.1.1 mx1': $g"
[[ $g == "220 mx1 "* ]] ||
    t_fail "greeting with the short name mx1 when nothing qualifies it" "$g"
t_pass
