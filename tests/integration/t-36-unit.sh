#!/bin/bash
# t-36-unit: the systemd unit "make install" writes, and the build flags.
#  - Its paths come from PREFIX, SYSCONFDIR and SPOOLDIR; systemd-analyze
#    verify accepts it.
#  - "systemd-analyze security --offline=yes" scores it below the
#    threshold, and INSTALL states the score it really gets.
#  - RestartPreventExitStatus= holds the exit codes of a bad command line
#    (64) and a bad configuration (78), as the binary returns them, and 73.
#  - CPPFLAGS is in every compiler line of the Makefile.
#  - Privilege-separated (SM_PRIV=1): the plain build, run as root with
#    only the unit's CapabilityBoundingSet= and no_new_privs (setpriv),
#    lays out a new spool, takes messages (with STARTTLS, and after a
#    SIGHUP; one for a remote domain, which the delivery process looks up
#    with c-ares at a resolver that refuses, and defers), answers
#    strictmailctl (queue, as root and as nobody; reload) and shuts down
#    with status 0
#    (signalling its children needs CAP_KILL); under strace, every system
#    call of the whole process tree is in the unit's SystemCallFilter= and
#    every socket family in its RestrictAddressFamilies=.
# serial: strace of the whole daemon tree is slow beside other tests
. "$(dirname "$0")/lib.sh"
t_init
t_need systemd-analyze
THRESHOLD=35	# systemd-analyze's 0-100 scale: 3.5 and above fails

# make install DESTDIR: the unit lands in PREFIX/lib/systemd/system with
# the installation's paths.
stage=$T_DIR/stage
make -s -C "$SM_TOP" install DESTDIR="$stage" PREFIX=/usr \
    >"$T_DIR/install.log" 2>&1 ||
    t_fail "make install succeeds" "$(tail -n 5 "$T_DIR/install.log")"
unit=$stage/usr/lib/systemd/system/strictmaild.service
[ -f "$unit" ] || t_fail "make install writes $unit" "missing"
for want in "ExecStart=/usr/sbin/strictmaild -f /etc/strictmail/strictmail.conf" \
    "ExecStartPre=/usr/sbin/strictmaild -n -f /etc/strictmail/strictmail.conf" \
    "ReadWritePaths=/var/spool/strictmail"; do
	grep -qxF "$want" "$unit" || t_fail "the installed unit has '$want'" \
	    "$(grep -E '^(Exec|ReadWrite)' "$unit" | tr '\n' '|')"
done
! grep -n '@[A-Z]*@' "$unit" >/dev/null ||
    t_fail "no placeholder left in the unit" "$(grep -n '@[A-Z]*@' "$unit")"
grep -q "^spool[[:space:]]" "$stage/etc/strictmail/strictmail.conf" 2>/dev/null ||
    grep -q "^#spool[[:space:]]*/var/spool/strictmail" "$stage/etc/strictmail/strictmail.conf" ||
    t_fail "the installed configuration names the spool" "no spool line"

# Other paths: the unit follows them.
b=$T_DIR/b
make -s -C "$SM_TOP" B="$b" "$b/strictmaild.service" SBINDIR="$SM_TOP/build" \
    SYSCONFDIR=/opt/sm/etc SPOOLDIR=/srv/sm-spool >"$T_DIR/gen.log" 2>&1 ||
    t_fail "the unit target with other paths" "$(tail -n 3 "$T_DIR/gen.log")"
grep -qxF "ExecStart=$SM_TOP/build/strictmaild -f /opt/sm/etc/strictmail.conf" "$b/strictmaild.service" &&
    grep -qxF "ReadWritePaths=/srv/sm-spool" "$b/strictmaild.service" ||
    t_fail "SBINDIR, SYSCONFDIR and SPOOLDIR in the unit" \
	"$(grep -E '^(ExecStart|ReadWrite)' "$b/strictmaild.service" | tr '\n' '|')"
say "unit paths follow PREFIX, SYSCONFDIR, SPOOLDIR: ok"

# verify needs the binary the unit names to exist: the one in build/.
if [ -x "$SM_TOP/build/strictmaild" ]; then
	systemd-analyze verify --man=no "$b/strictmaild.service" >"$T_DIR/verify.log" 2>&1 ||
	    t_fail "systemd-analyze verify accepts the unit" "$(head -n 5 "$T_DIR/verify.log")"
	say "systemd-analyze verify: ok"
fi

# The exposure score, against the threshold and against INSTALL.
systemd-analyze security --offline=yes --no-pager "$unit" >"$T_DIR/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for strictmaild.service: \([0-9.]*\).*/\1/p' \
    "$T_DIR/security.log")
[ -n "$score" ] || t_fail "systemd-analyze security prints a score" "$(tail -n 3 "$T_DIR/security.log")"
systemd-analyze security --offline=yes --threshold=$THRESHOLD "$unit" >/dev/null 2>&1 ||
    t_fail "exposure below $THRESHOLD/100" "$score: $(grep '✗' "$T_DIR/security.log" | head -n 20)"
stated=$(grep -o 'exposure level [0-9.]*' "$SM_TOP/INSTALL" | awk '{ print $3 }' | head -n 1)
[ "$stated" = "$score" ] || t_fail "INSTALL states the score $score" "${stated:-none}"
say "systemd-analyze security: $score (threshold $THRESHOLD/100, INSTALL says $stated)"

# CPPFLAGS (dpkg-buildflags puts -D_FORTIFY_SOURCE=2 there) reaches every
# compile line: plain, sanitizer, unit tests and fuzz targets.
make -n -B -C "$SM_TOP" B="$T_DIR/cb" BA="$T_DIR/cba" FZ="$T_DIR/cfz" \
    CPPFLAGS=-DSM_CPPFLAGS_PROBE all unit-bins fuzz-bins asan \
    > "$T_DIR/make-n.log" 2>&1
n=$(grep -cE '^(cc|clang|gcc)( |$)' "$T_DIR/make-n.log")
[ "$n" -gt 40 ] || t_fail "make -n lists the compile lines" "$n lines"
miss=$(grep -E '^(cc|clang|gcc)( |$)' "$T_DIR/make-n.log" | grep -v SM_CPPFLAGS_PROBE | head -n 3)
[ -z "$miss" ] || t_fail "CPPFLAGS in every compile line" "$miss"
say "CPPFLAGS in all $n compiler lines: ok"

# RestartPreventExitStatus against the real exit codes.
prevent=" $(sed -n 's/^RestartPreventExitStatus=//p' "$unit") "
printf 'bogus-keyword 1\n' > "$T_DIR/bad.conf"
"$SM_BIN" -n -f "$T_DIR/bad.conf" >/dev/null 2>&1; rc_conf=$?
"$SM_BIN" -Z >/dev/null 2>&1; rc_usage=$?
for rc in "$rc_conf" "$rc_usage" 73; do
	[[ $prevent == *" $rc "* ]] ||
	    t_fail "RestartPreventExitStatus= has $rc" "'$prevent'"
done
say "RestartPreventExitStatus=$prevent(configuration $rc_conf, usage $rc_usage): ok"

if [ "$SM_PRIV" != 1 ]; then
	say "the capability and system call checks run privilege-separated (SM_PRIV=1)"
	t_pass
fi
t_need setpriv strace swaks
PLAIN=$SM_TOP/build/strictmaild
[ -x "$PLAIN" ] || t_fail "the plain build $PLAIN (make all)" "missing"

# The unit's bounding set as setpriv writes it: -all,+net_bind_service,...
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
bset=-all
for c in $caps; do
	c=${c#CAP_}
	bset="$bset,+${c,,}"
done
say "bounding set $bset"

spool=$T_DIR/spool	# not there yet: the parent lays it out
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
trace=$T_DIR/strace.out
pki=$T_DIR/pki
sm_pki "$pki"
chmod 0600 "$pki/valid.key"
sm_config "$conf" "$spool" "tls-certificate $pki/valid.pem" "tls-key $pki/valid.key" \
    "dns-servers 127.0.0.1"
SM_BIN=$PLAIN sm_start "$conf" "$log" strace -f -q -o "$trace" \
    setpriv --bounding-set="$bset" --inh-caps=-all --no-new-privs --
sm_wait_ready "$log" "$SM_PID" 60 ||
    t_fail "strictmaild with the unit's capabilities ready within 60 s" "$(tail -n 5 "$log")"
dpid=$(cat /proc/"$SM_PID"/task/*/children 2>/dev/null | awk '{ print $1 }')
[ -n "$dpid" ] || t_fail "strictmaild as the child of strace" "no child"
T_PIDS="$dpid $T_PIDS"
eff=$(awk '/^CapEff:/ { print $2 }' /proc/"$dpid"/status)
bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/"$dpid"/status)
[ "$eff" = "$bnd" ] && [ "$bnd" != 000001ffffffffff ] ||
    t_fail "the parent runs with only the bounding set" "CapEff $eff CapBnd $bnd"
sm_body "unit-$$" 3000 > "$T_DIR/body"
out=$(sm_send sender@example.org root@localhost "$T_DIR/body" 2>&1) ||
    t_fail "a message accepted with the unit's capabilities" "$out"
qid=${out#250 }
errs=$(sm_check "$spool" "$qid" "$T_DIR/body" root@localhost)
[ -z "$errs" ] || t_fail "$qid intact in the spool" "$errs"
# A STARTTLS session and a reload go through the filter too.
out=$(ip netns exec "$T_NS" timeout 60 swaks --server 127.0.0.1:25 -tls \
    --helo client.test --from sender@example.org --to root@localhost 2>&1) ||
    t_fail "a message over STARTTLS with the unit's capabilities" "$(printf '%s\n' "$out" | tail -n 3)"
# Remote delivery: c-ares's sockets and the delivery process's loop.
out=$(sm_send sender@example.org someone@remote.example "$T_DIR/body" 2>&1) ||
    t_fail "a message for a remote domain" "$out"
sm_wait_log "$log" "${out#250 }: to=<someone@remote.example> .*status=deferred" "$SM_PID" 30 ||
    t_fail "the remote message deferred (no resolver)" "$(grep "${out#250 }" "$log" | tail -n 2)"
kill -HUP "$dpid"
sleep 1
out=$(sm_send sender@example.org root@localhost "$T_DIR/body" 2>&1) ||
    t_fail "a message after SIGHUP with the unit's capabilities" "$out"
# The control socket too: a list as root and as nobody, a reload.
ctl=$SM_TOP/build/strictmailctl
out=$("$ctl" -f "$conf" queue 2>&1) ||
    t_fail "strictmailctl queue with the unit's capabilities" "$out"
grep -qF "$qid" <<<"$out" || t_fail "$qid in strictmailctl queue" "$out"
out=$(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups \
    "$ctl" -f "$conf" queue 2>&1) || t_fail "strictmailctl queue as nobody" "$out"
out=$("$ctl" -f "$conf" reload 2>&1) ||
    t_fail "strictmailctl reload with the unit's capabilities" "$out"
kill -TERM "$dpid"
sm_wait_exit "$SM_PID" 30 || t_fail "strictmaild and strace exit after SIGTERM" "still running"
grep -Eq "^$dpid +\+\+\+ exited with 0 \+\+\+" "$trace" ||
    t_fail "exit status 0 after SIGTERM with the unit's capabilities" \
	"$(grep -E "^$dpid +\+\+\+" "$trace"; tail -n 5 "$log")"
say "with CapabilityBoundingSet= alone: spool laid out, $qid queued, clean shutdown"

# System calls: those of the daemon's tree, from its own execve on.
awk -v bin="$PLAIN" 'on { print; next }
    index($0, "execve(\"" bin "\"") { on = 1; print }' "$trace" > "$T_DIR/trace.daemon"
[ -s "$T_DIR/trace.daemon" ] || t_fail "strace saw the daemon's execve" "nothing"
sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' "$T_DIR/trace.daemon" | sort -u > "$T_DIR/calls"
expand() {
	systemd-analyze syscall-filter "$1" | sed -n '2,$p' | grep -v '^ *#' |
	    tr -d ' ' | while read -r n; do
		[ -n "$n" ] || continue
		case $n in @*) expand "$n" ;; *) echo "$n" ;; esac
	done
}
: > "$T_DIR/allowed"
for line in $(sed -n 's/^SystemCallFilter=//p' "$unit" | grep -v '^~' | tr ' ' '\n'); do
	case $line in @*) expand "$line" ;; *) echo "$line" ;; esac >> "$T_DIR/allowed"
done
sort -u -o "$T_DIR/allowed" "$T_DIR/allowed"
: > "$T_DIR/denied"
for line in $(sed -n 's/^SystemCallFilter=~//p' "$unit" | tr ' ' '\n'); do
	case $line in @*) expand "$line" ;; *) echo "$line" ;; esac >> "$T_DIR/denied"
done
sort -u -o "$T_DIR/denied" "$T_DIR/denied"
comm -23 "$T_DIR/allowed" "$T_DIR/denied" > "$T_DIR/allowed.net"
mv "$T_DIR/allowed.net" "$T_DIR/allowed"
extra=$(comm -23 "$T_DIR/calls" "$T_DIR/allowed" | tr '\n' ' ')
[ -z "$extra" ] || t_fail "every system call in SystemCallFilter=" "$extra"
say "$(wc -l < "$T_DIR/calls") distinct system calls, all in SystemCallFilter=: ok"

fams=$(grep -oE '(socket|socketpair)\(AF_[A-Z0-9]+' "$T_DIR/trace.daemon" |
    sed 's/.*(//' | sort -u | tr '\n' ' ')
allowedf=" $(sed -n 's/^RestrictAddressFamilies=//p' "$unit") "
for f in $fams; do
	[[ $allowedf == *" $f "* ]] || t_fail "socket family $f in RestrictAddressFamilies=" "'$allowedf'"
done
say "socket families $fams: all in RestrictAddressFamilies=: ok"
t_pass
