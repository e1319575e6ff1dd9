# shellcheck shell=bash
# procs.sh - processes named by PID and start time, for mx-stop and the
# self-test (sourced).  A PID the kernel hands to another process later
# has another start time, so PID:START never names the wrong process.

# descendants PID: PID and every process below it, each as PID:START.
descendants() {
	local todo=$1 all="" p c
	for _ in $(seq 1 1000); do
		[ -n "$todo" ] || break
		set -- $todo
		p=$1
		shift
		todo="$*"
		all="$all $p:$(pid_start "$p")"
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			todo="$todo $c"
		done
	done
	echo $all
}

# pid_start PID: the process's start time (a PID the kernel gives to
# another process later has another one).
pid_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# alive PID:START: the same process is still there.
alive() {
	local p=${1%%:*} st
	# A zombie has exited: it only waits for its parent to reap it.
	[ -e "/proc/$p" ] || return 1
	[ "$(pid_start "$p")" = "${1#*:}" ] || return 1
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$p/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}
