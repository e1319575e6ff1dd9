# shellcheck shell=bash
# procs.sh - processes named by PID and start time, for mx-stop, the
# self-test and tests/world/world (sourced).  A PID the kernel hands to
# another process later has another start time, so PID:START never names
# the wrong process.  Everything here reads /proc with bash builtins: these
# functions run in polling loops, and a fork per look was most of their cost.

# proc_stat PID: sets P_STATE (R, S, D, Z...) and P_START (the start time,
# in clock ticks since boot) from /proc/PID/stat; 1 if there is no such
# process.  The fields are counted after the ')' that ends the command
# name (which may itself hold spaces and parentheses): the state is field 3
# of the file, the start time field 22.
proc_stat() {
	local line f
	P_STATE='' P_START=''
	case $1 in ''|*[!0-9]*) return 1 ;; esac
	read -r line 2>/dev/null < "/proc/$1/stat" || return 1
	line=${line##*) }
	read -r -a f <<< "$line"
	P_STATE=${f[0]-}
	P_START=${f[19]-}
	[ -n "$P_STATE" ] && [ -n "$P_START" ]
}

# proc_children PID: sets KIDS to the PIDs of PID's children (of all its
# threads); empty if there are none or PID is gone.
proc_children() {
	local t c
	KIDS=()
	for t in /proc/"$1"/task/*/children; do
		[ -e "$t" ] || continue
		c=()
		# One line without a newline at its end: read says 1, fills c.
		read -r -a c 2>/dev/null < "$t" || :
		KIDS+=("${c[@]}")
	done
}

# descendants PID: sets DESC to PID and every process below it, each as
# PID:START (a space-separated list; PIDs already gone are left out).
descendants() {
	local todo=("$1") p i=0
	DESC=""
	while [ "$i" -lt "${#todo[@]}" ] && [ "$i" -lt 1000 ]; do
		p=${todo[i]}
		i=$((i + 1))
		proc_stat "$p" || continue
		DESC="$DESC${DESC:+ }$p:$P_START"
		proc_children "$p"
		todo+=("${KIDS[@]}")
	done
}

# pid_start PID: prints the process's start time (a PID the kernel gives to
# another process later has another one).
pid_start() {
	proc_stat "$1" && echo "$P_START"
}

# alive PID:START: the same process is still there.  A zombie has exited
# (it only waits for its parent to reap it): it is not alive.
alive() {
	proc_stat "${1%%:*}" || return 1
	[ "$P_START" = "${1#*:}" ] && [ "$P_STATE" != Z ]
}

# nap SECONDS: sleeps without starting a process: a read with a time-out
# on a pipe that never gets data (made once, by the first nap).  Call
# nap_close before starting a process that outlives the script, so that
# it does not inherit that pipe.
NAP_FD=
nap() {
	[ -n "$NAP_FD" ] || exec {NAP_FD}<> <(:)
	read -r -t "$1" -u "$NAP_FD" _ || :
}
nap_close() {
	[ -z "$NAP_FD" ] || exec {NAP_FD}>&-
	NAP_FD=
}
