#!/bin/bash
# t-70-libcurl: no program is linked with libcurl; the delivery process
# has libcurl.so.4 loaded once at its start, by a child that exits at
# once (sts_fetchd_probe; the policy fetcher's workers load it later).  When the library it
# finds is not usable, the daemon says why and stops, leaving nothing
# behind: a libcurl.so.4 that lacks curl's functions ("no symbol
# curl_global_init"), and one that is not a shared library at all (the
# loader's own reason, and the package to install).  Each is found first
# through LD_LIBRARY_PATH.  Runs once (SM_PRIV=0): the loading comes
# before the chroot in both modes, and t-15 checks that the running
# privilege-separated daemon maps libcurl in delivery alone.
. "$(dirname "$0")/lib.sh"
[ "$SM_PRIV" = 0 ] || t_skip "checked once, with SM_PRIV=0 (the library is loaded before the chroot in both modes)"
t_init
t_need cc

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
sm_config "$conf" "$spool"
mkdir -p "$spool" && chmod 0755 "$spool" || t_fail "mkdir $spool" "an error"

# start_with LIBDIR WANT...: a start with LD_LIBRARY_PATH=LIBDIR exits
# non-zero within 30 s with every WANT on its stderr, nothing listening
# and no process left.
start_with() {
	local dir=$1 err pid w
	shift
	err=$T_DIR/$(basename "$dir").err
	ip netns exec "$T_NS" env LD_LIBRARY_PATH="$dir" setsid "$SM_BIN" -d $(sm_mode_flag) \
	    -f "$conf" >/dev/null 2>"$err" </dev/null &
	pid=$!
	T_PIDS="$T_PIDS $pid"
	sm_wait_exit "$pid" 30 || t_fail "a start with $dir/libcurl.so.4 to end within 30 s" "still running"
	[ "$SM_RC" != 0 ] || t_fail "a non-zero exit with an unusable libcurl" "exit 0"
	for w in "$@"; do
		grep -q -F -- "$w" "$err" ||
		    t_fail "'$w' on stderr" "$(grep -F mta-sts "$err" | head -n 3)"
	done
	sm_listening 25 && t_fail "nothing listening after the stop" "a listener"
	sm_reap_group "$pid" || t_fail "no process left" "$(pgrp_members "$pid")"
	say "$(basename "$dir"): exit $SM_RC: $(grep -F 'mta-sts:' "$err" | head -n 1 | sed 's/.*mta-sts: /mta-sts: /')"
}

# 1. A shared library named libcurl.so.4 without curl's functions.
mkdir -p "$T_DIR/nosym"
printf 'int sm_not_curl(void) { return 0; }\n' > "$T_DIR/nosym.c"
cc -shared -fPIC -o "$T_DIR/nosym/libcurl.so.4" "$T_DIR/nosym.c" 2>"$T_DIR/cc.err" ||
    t_fail "a stub shared library" "$(head -n 3 "$T_DIR/cc.err")"
start_with "$T_DIR/nosym" "libcurl.so.4: no symbol curl_global_init" \
    "policies cannot be fetched, delivery does not start"

# 2. A file named libcurl.so.4 that is not a shared library.
mkdir -p "$T_DIR/notelf"
printf 'not a library\n' > "$T_DIR/notelf/libcurl.so.4"
start_with "$T_DIR/notelf" "$T_DIR/notelf/libcurl.so.4" "install libcurl4" \
    "policies cannot be fetched, delivery does not start"

# 3. The system's library: the same configuration starts.
sm_start_ready "$conf" "$T_DIR/daemon.log"
say "with the system's libcurl: ready"
t_pass
