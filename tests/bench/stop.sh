# shellcheck shell=bash
# stop.sh - stopping what a benchmark started (sourced by bench.sh and
# relay.sh): each server is started with setsid, so its process group is
# its own.

pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

pgrp_members() {
	ps -e -o pid=,pgid= 2>/dev/null | awk -v g="$1" '$2 == g { print $1 }'
}

# stop_group PID SECONDS: SIGTERM to PID, bounded wait for its process
# group to go away, then SIGKILL to the group.
stop_group() {
	local p=$1 secs=$2 i
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 1 $((secs * 10))); do
		pid_alive "$p" || [ -n "$(pgrp_members "$p")" ] || break
		sleep 0.1
	done
	for i in 1 2 3; do
		[ -n "$(pgrp_members "$p")" ] || break
		kill -KILL -- "-$p" 2>/dev/null
		sleep 0.2
	done
	wait "$p" 2>/dev/null
	return 0
}
