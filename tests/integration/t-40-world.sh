#!/usr/bin/env bash
# t-40-world: the test world itself (tests/world/).  For every shipped
# scenario that no other test brings up with world_init (such a test
# checks its world by what it does, and its MXs' records and DNS log must
# hold only what strictmail did): bring it up, check with dig, curl, openssl s_client and
# mx-check that DNS, the policy hosts and the MXs are what the scenario
# says (tests/world/selfcheck.py), bring it down, and check that no
# process, namespace, /etc/netns folder or state folder is left.  Then:
# an 'up' interrupted by SIGTERM cleans up after itself; one killed by
# SIGKILL is cleaned up by 'down'; the helpers of tests/world/lib.sh work
# (a message over verified STARTTLS to an MX, counts of HTTP requests and
# DNS queries, world switch, strictmail started inside the world).  Prints the time of
# each up and down.  The world does not depend on SM_PRIV: it runs once.
#   T40_SCENARIOS="sts-enforce dns-all" limits the scenarios.
# long: a minute or more; starts before the short tests

# shellcheck disable=SC1091
. "$(dirname "$0")/../world/lib.sh"

[ "$SM_PRIV" = 1 ] && t_skip "the world does not depend on SM_PRIV: checked once, with SM_PRIV=0"

WORLD=$W_CMD
STARTED=""	# worlds this test brought up by hand

t40_cleanup() {
	local n
	for n in $STARTED; do
		[ -d "${TMPDIR:-/tmp}/smw-$n" ] && "$WORLD" down "$n" >/dev/null 2>&1
	done
	world_cleanup
}

# leftovers NS INODE STATE: what a world left behind, empty if nothing.
# Processes: one stat of every process's network namespace (the inode of
# the namespace it is in), not one look per process.
leftovers() {
	local ns=$1 ino=$2 state=$3 out="" i f p comm
	ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF "$ns" && out="$out namespace $ns;"
	[ -e "/etc/netns/$ns" ] && out="$out /etc/netns/$ns;"
	[ -e "$state" ] && out="$out $state;"
	if [ -n "$ino" ]; then
		while read -r i f; do
			[ "$i" = "$ino" ] || continue
			p=${f#/proc/}
			p=${p%%/*}
			comm=
			read -r comm 2>/dev/null < "/proc/$p/comm"
			out="$out process $p ($comm);"
		done < <(stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null)
	fi
	printf '%s' "$out"
}

# env_of STATE VAR
env_of() {
	sed -n "s/^$2=//p" "$1/world.env" 2>/dev/null | tail -n 1
}

# ---------------------------------------------------------------- every scenario

check_scenario() {
	local scn=$1 name="t40-$1-$$" state ns ino t0 up_s down_s rc
	state=${TMPDIR:-/tmp}/smw-$name
	STARTED="$STARTED $name"
	t0=${EPOCHREALTIME/[.,]/}
	if ! "$WORLD" up "$scn" "$name" > "$T_DIR/$scn.up" 2>&1; then
		cat "$T_DIR/$scn.up"
		t_fail "world up $scn" "an error (above)"
	fi
	up_s=$(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 ))
	ns=$(env_of "$state" W_NS)
	ino=$(env_of "$state" W_NSINO)
	"$WORLD" exec "$name" "$PY" "$W_HOME/selfcheck.py" "$state" > "$T_DIR/$scn.check" 2>&1
	rc=$?
	t0=${EPOCHREALTIME/[.,]/}
	"$WORLD" down "$name" > "$T_DIR/$scn.down" 2>&1 ||
	    t_fail "world down $scn to succeed" "$(cat "$T_DIR/$scn.down")"
	down_s=$(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 ))
	STARTED=${STARTED% "$name"}
	if [ "$rc" -ne 0 ]; then
		grep -v '^ok ' "$T_DIR/$scn.check"
		t_fail "every check of scenario $scn to pass" "$(tail -n 1 "$T_DIR/$scn.check")"
	fi
	local left
	left=$(leftovers "$ns" "$ino" "$state")
	[ -z "$left" ] || t_fail "nothing left behind by world down $scn" "$left"
	printf '%s: %-24s up %5d ms  down %4d ms  %s\n' "$T_NAME" "$scn" "$up_s" "$down_s" \
	    "$(tail -n 1 "$T_DIR/$scn.check" | sed 's/^[^:]*: //')"
}

# ---------------------------------------------------------------- interrupted

# has_label FILE LABEL: a line of the pids file FILE starts with LABEL.
has_label() {
	local l p
	[ -f "$1" ] || return 1
	while read -r l p; do
		[ "$l" = "$2" ] && return 0
	done < "$1"
	return 1
}

# An 'up' that gets SIGTERM (or SIGKILL) once its DNS server runs.
check_interrupted() {
	local sig=$1 name="t40-int$1-$$" state pid i ns ino rc left f cmdlines
	state=${TMPDIR:-/tmp}/smw-$name
	STARTED="$STARTED $name"
	"$WORLD" up sts-bad-cert "$name" > "$T_DIR/int-$sig.up" 2>&1 &
	pid=$!
	for ((i = 0; i < 200; i++)); do
		has_label "$state/pids" dnsmasq && break
		pid_alive "$pid" || break
		nap 0.05
	done
	ns=$(env_of "$state" W_NS)
	[ -n "$ns" ] || t_fail "the namespace's name in $state/world.env" "none"
	pid_alive "$pid" || t_fail "world up still running when the signal comes" "it ended"
	kill -"$sig" "$pid"
	for ((i = 0; i < 300; i++)); do pid_alive "$pid" || break; nap 0.05; done
	nap_close
	pid_alive "$pid" && t_fail "world up to end after SIG$sig" "still running"
	wait "$pid" 2>/dev/null
	rc=$?
	if [ "$sig" = KILL ]; then
		ino=$(env_of "$state" W_NSINO)
		[ -n "$ino" ] || ino=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null)
		"$WORLD" down "$name" > "$T_DIR/int-$sig.down" 2>&1 ||
		    t_fail "world down after a killed up" "$(cat "$T_DIR/int-$sig.down")"
	else
		[ "$rc" = 143 ] || t_fail "exit 143 from an up that got SIGTERM" "exit $rc"
		ino=
	fi
	STARTED=${STARTED% "$name"}
	left=$(leftovers "$ns" "$ino" "$state")
	[ -z "$left" ] || t_fail "nothing left behind after SIG$sig to world up" "$left"
	# After SIGTERM the namespace is gone, so look for our servers by
	# config: one grep over every command line.  The list of files is made
	# here, before grep starts, so grep's own command line (which holds
	# the pattern) is not in it.
	cmdlines=(/proc/[0-9]*/cmdline)
	f=$(grep -alF -- "$state/" "${cmdlines[@]}" 2>/dev/null)
	f=${f%%$'\n'*}
	if [ -n "$f" ]; then
		t_fail "no server of the interrupted world left" \
		    "$(tr '\0' ' ' < "$f" 2>/dev/null)"
	fi
	say "SIG$sig during world up: nothing left behind"
}

# ---------------------------------------------------------------- lib.sh

check_lib() {
	local out n spool body conf
	world_init sts-enforce
	trap 't40_cleanup 2>/dev/null' EXIT
	trap 't40_cleanup 2>/dev/null; exit 130' INT
	trap 't40_cleanup 2>/dev/null; exit 143' TERM
	# A message to mx1 over STARTTLS, verified against the world's CA.
	out=$(world_exec "$PY" - "$W_CA" <<'EOF'
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
with smtplib.SMTP("mx1.enforce.test", 25, local_hostname="t40.test", timeout=20) as s:
    s.starttls(context=ctx)
    s.ehlo("t40.test")
    s.sendmail("a@t40.test", ["b@enforce.test"], b"Subject: t40\r\n\r\nworld\r\n")
print("sent")
EOF
	)
	[ "$out" = sent ] || t_fail "a message over verified STARTTLS to mx1.enforce.test" "$out"
	world_wait_mx_messages mx1.enforce.test 1 15 ||
	    t_fail "1 message at mx1.enforce.test" "$(world_mx_messages mx1.enforce.test)"
	n=$(world_mx_plaintext mx1.enforce.test)
	[ "$n" = 0 ] || t_fail "no plaintext transaction at mx1" "$n"
	world_wait_at_least 5 1 world_mx_connections mx1.enforce.test ||
	    t_fail "a connection recorded at mx1" "none"
	# Two fetches of the policy; counted by host and by URI.
	world_exec curl -sS -o /dev/null -o /dev/null --cacert "$W_CA" \
	    https://mta-sts.enforce.test/.well-known/mta-sts.txt https://mta-sts.enforce.test/other ||
	    t_fail "curl to mta-sts.enforce.test" "an error"
	world_wait_at_least 5 2 world_http_count mta-sts.enforce.test
	n=$(world_http_count mta-sts.enforce.test /.well-known/mta-sts.txt)
	[ "$n" = 1 ] || t_fail "1 request for the policy URL" "$n"
	n=$(world_http_count "$W_NAME" mta-sts.enforce.test)
	[ "$n" = 2 ] || t_fail "2 requests at mta-sts.enforce.test" "$n"
	n=$(world_dns_queries mta-sts.enforce.test A)
	[ "$n" -ge 1 ] || t_fail "the A query for mta-sts.enforce.test in dnsmasq's log" "$n"
	world_wait_log "$W_DIR/dns/dnsmasq.log" 'query\[MX\] enforce\.test' 1 &&
	    t_fail "no MX query for enforce.test yet" "one"
	world_exec dig +short enforce.test MX >/dev/null
	world_wait_log "$W_DIR/dns/dnsmasq.log" 'query\[MX\] enforce\.test' 5 ||
	    t_fail "the MX query in dnsmasq's log" "none"
	world_assert_log "$W_DIR/dns/dnsmasq.log" 'query\[MX\] enforce\.test'
	world_assert_no_log "$W_DIR/dns/dnsmasq.log" 'query\[MX\] nowhere\.test'
	# world switch: new DNS and policy, the same MX and its records.
	n=$(world_mx_messages mx1.enforce.test)
	world_switch sts-enforce-next-none
	out=$(world_exec dig +short _mta-sts.enforce.test TXT)
	[ "$out" = '"v=STSv1; id=20240601T000000;"' ] ||
	    t_fail "the new TXT id after world switch" "$out"
	out=$(world_exec curl -sS --cacert "$W_CA" https://mta-sts.enforce.test/.well-known/mta-sts.txt)
	case $out in
	*"mode: none"*) ;;
	*) t_fail "mode none served after world switch" "$out" ;;
	esac
	[ "$(world_mx_messages mx1.enforce.test)" = "$n" ] ||
	    t_fail "mx1's records kept across world switch ($n messages)" "$(world_mx_messages mx1.enforce.test)"
	world_exec "$PY" "$W_HOME/selfcheck.py" "$W_DIR" > "$T_DIR/switch.check" 2>&1 ||
	    t_fail "every check after world switch" "$(grep -v '^ok ' "$T_DIR/switch.check" | head -n 3)"
	# strictmail inside the world: accepts a message into its queue.
	if [ -x "$SM_BIN" ]; then
		spool=$T_DIR/spool
		conf=$T_DIR/strictmail.conf
		body=$T_DIR/body
		mkdir -p "$spool"
		sm_config "$conf" "$spool" "relay-network 127.0.0.0/8"
		world_start_strictmail "$conf"
		sm_body t40 2000 > "$body"
		out=$(world_send a@t40.test b@enforce.test "$body")
		case $out in
		"250 "*) ;;
		*) t_fail "250 from strictmail inside the world" "$out" ;;
		esac
		n=$(world_queue_count "$spool")
		[ "$n" = 1 ] || t_fail "1 message in strictmail's queue" "$n"
		world_wait_queue_empty "$spool" 0 && t_fail "a queue that is not empty" "empty"
		say "lib.sh: strictmail inside the world accepted ${out#250 }"
	fi
	say "lib.sh helpers work (MX records, HTTP and DNS counts, logs)"
}

# ---------------------------------------------------------------- main

[ "$(id -u)" -eq 0 ] || t_skip "needs root (network namespaces)"
t_need ip dnsmasq dig curl openssl python3
t_need_private nginx usr/sbin/nginx
world_need_postfix
world_need_opensmtpd
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sm-$T_NAME.XXXXXX") || t_fail "a temporary folder" "mktemp failure"
chmod 0755 "$T_DIR"
trap 't40_cleanup 2>/dev/null' EXIT
trap 't40_cleanup 2>/dev/null; exit 130' INT
trap 't40_cleanup 2>/dev/null; exit 143' TERM

# A scenario that another test brings up or switches to ("world_init
# NAME", "world_switch NAME", "sts_world NAME", or listed on a
# "# scenarios: NAME..." line
# of a test that makes the name) is exercised there: only the others are
# brought up here.
used_scenarios() {
	local f
	for f in "$SM_TOP"/tests/integration/t-*.sh; do
		[ "${f##*/}" = t-40-world.sh ] && continue
		awk '$1 == "world_init" || $1 == "world_switch" ||
		    $1 == "sts_world" { print $2 }
		    $1 == "#" && $2 == "scenarios:" { for (i = 3; i <= NF; i++) print $i }' "$f"
	done | sort -u
}
own_scenarios() {
	local s used
	used=$(used_scenarios)
	for s in $(cd "$W_HOME/scenarios" && ls -- *.scn | sed 's/\.scn$//'); do
		printf '%s\n' "$used" | grep -qx -- "$s" || echo "$s"
	done
}
scenarios=${T40_SCENARIOS:-$(own_scenarios)}
# One CA for all the worlds of this run (tests/world/world: WORLD_PKI_SEED).
bash "$SM_TOP/tests/pki/mkpki.sh" "$T_DIR/pki-seed" > "$T_DIR/pki-seed.log" 2>&1 ||
    t_fail "the test PKI" "$(tail -n 3 "$T_DIR/pki-seed.log")"
export WORLD_PKI_SEED=$T_DIR/pki-seed
t_all=$(date +%s)
for s in $scenarios; do
	check_scenario "$s"
done
check_interrupted TERM
check_interrupted KILL
# world_init makes its own temporary folder.
rm -rf "$T_DIR"
T_DIR=
check_lib
say "all done in $(( $(date +%s) - t_all ))s"
t_pass
