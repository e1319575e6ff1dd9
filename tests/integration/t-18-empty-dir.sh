#!/bin/bash
# t-18-empty-dir: a configured empty-dir gets the checks of the default
# <spool>/empty: a start with one that holds a file, is writable, or (as
# root) belongs to someone else exits 73 with a message naming it and
# listens nowhere; the right one (root's, 0555, empty) starts, and in
# privilege-separated mode smtpd is chrooted there.
. "$(dirname "$0")/lib.sh"
t_init

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
chroot=$T_DIR/chroot
sm_config "$conf" "$spool" "empty-dir $chroot"
mkdir -m 0555 "$chroot"

# refused LOG EXPECTED-TEXT: a start that must fail with 73 and the text.
refused() {
	local log=$1 want=$2
	sm_start "$conf" "$log"
	sm_wait_exit "$SM_PID" 30 || t_fail "a start with a bad empty-dir to exit within 30 s" "still running"
	[ "$SM_RC" = 73 ] || t_fail "exit 73 for $want" "$SM_RC: $(tail -n 2 "$log" | tr '\n' '|')"
	grep -q -F "empty-dir $chroot: $want" "$log" ||
	    t_fail "'empty-dir $chroot: $want' in the log" "$(tail -n 2 "$log" | tr '\n' '|')"
	sm_listening 25 && t_fail "nothing listening after a refused start" "a listener"
	say "refused: $(grep -o -F "empty-dir $chroot: $want" "$log")"
}

chmod 0755 "$chroot"
touch "$chroot/intruder"
chmod 0555 "$chroot"
refused "$T_DIR/notempty.log" 'not empty (it holds "intruder")'
chmod 0755 "$chroot"
rm "$chroot/intruder"
refused "$T_DIR/writable.log" "mode is 0755, expected 0555"
chmod 0555 "$chroot"
chown 65534 "$chroot"
refused "$T_DIR/owner.log" "owner is "
chown 0:0 "$chroot"

log=$T_DIR/daemon.log
sm_start_ready "$conf" "$log"
sm_body "t18-$$" 2000 > "$T_DIR/body"
out=$(sm_send sender@example.org root@localhost "$T_DIR/body")
case "$out" in "250 "*) ;; *) t_fail "250 with the right empty-dir" "$out" ;; esac
if [ "$SM_PRIV" = 1 ]; then
	s=$(sm_child "$SM_PID" smtpd)
	root=$(readlink "/proc/$s/root")
	[ "$root" = "$(realpath "$chroot")" ] || t_fail "smtpd chrooted into $chroot" "$root"
	say "smtpd (pid $s) chrooted into $root"
fi
sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
