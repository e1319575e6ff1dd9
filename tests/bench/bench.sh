#!/bin/bash
# bench.sh - the first acceptance benchmark (make bench).
#
# In a network namespace of its own, smtp-source (Postfix's, from the
# tree tests/deps.sh unpacks into build-deps/postfix; never installed)
# sends 1 KiB messages (one connection per message) at 1, 10 and 50
# parallel sessions to
#   - strictmail (build/strictmaild; privilege-separated when run as root),
#   - a private Postfix instance with its default durability (the same
#     unpacked tree, tests/privdeps.sh; own config_directory and
#     queue_directory under a temporary folder; every
#     message is put on hold, so only reception is measured, as strictmail
#     does no delivery yet),
# in the same run, on the same file system, and prints messages per second.
# It also measures the disk's ceiling for the queue's commit with
# commitceil.c: messages of two files made durable per batch with one
# fdatasync per file and one fsync per folder (what the queue does), or
# with syncfs (one, or the two of the earlier commit), each also while
# another program writes a large file on the same file system.
#
# Settings (environment):
#   SM_BENCH_BIN        strictmaild to measure (default build/strictmaild)
#   BENCH_DIR           where spools and test files go (default $TMPDIR or /tmp)
#   BENCH_SESSIONS      session counts (default "1 10 50")
#   BENCH_MESSAGES      messages per run, "sessions:count ..." (default
#                       "1:500 10:2000 50:4000"; others get 2000)
#   BENCH_TIMEOUT       seconds allowed per run (default 120)
#   BENCH_REPEAT        runs per figure; the median is reported (default 3)
#   BENCH_POSTFIX=0     leave Postfix out
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SM_BENCH_BIN:-$TOP/build/strictmaild}
BASE=${BENCH_DIR:-${TMPDIR:-/tmp}}
SESSIONS=${BENCH_SESSIONS:-"1 10 50"}
MESSAGES=${BENCH_MESSAGES:-"1:500 10:2000 50:4000"}
RUN_TIMEOUT=${BENCH_TIMEOUT:-120}
REPEAT=${BENCH_REPEAT:-3}
WITH_POSTFIX=${BENCH_POSTFIX:-1}
SIZE=1024
SM_ADDR=127.0.0.1
PF_ADDR=127.0.0.2

say() { printf 'bench: %s\n' "$*"; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, privilege separation)"
[ -x "$BIN" ] || die "no strictmaild at $BIN (run make)"
PRIV_TOP=$TOP
# shellcheck disable=SC1091
. "$TOP/tests/privdeps.sh"
why=$(priv_missing postfix usr/sbin/smtp-source usr/sbin/postfix usr/lib/postfix/sbin/master)
[ -z "$why" ] || die "$why"
SMTP_SOURCE=$(priv_root postfix)/usr/sbin/smtp-source
PF_LIBPATH=$(priv_libpath postfix)

D=
NS=
SM_PID=
PF_PID=
CLEANED=0

# shellcheck disable=SC1091
. "$TOP/tests/bench/stop.sh"

cleanup() {
	[ "$CLEANED" = 1 ] && return
	CLEANED=1
	trap - EXIT INT TERM
	stop_group "$SM_PID" 20
	stop_group "$PF_PID" 20
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	[ -n "$D" ] && rm -rf "$D"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

messages_for() {
	local s=$1 kv
	for kv in $MESSAGES; do
		[ "${kv%%:*}" = "$s" ] && { echo "${kv#*:}"; return; }
	done
	echo 2000
}

wait_listen() {	# ADDR SECONDS
	local i
	for i in $(seq 1 $(($2 * 10))); do
		ip netns exec "$NS" ss -Hltn "src $1 and sport = :25" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# run_source ADDR SESSIONS COUNT COUNTER-FUNCTION: prints "rate" or a
# reason; the counter tells how many messages the server holds.
run_source() {
	local addr=$1 s=$2 m=$3 count=$4 before after t0 t1 rc
	before=$($count)
	t0=$(date +%s%N)
	ip netns exec "$NS" env LD_LIBRARY_PATH="$PF_LIBPATH" \
	    timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -s "$s" -m "$m" -l "$SIZE" \
	    -M bench.test -f sender@bench.test -t root@localhost "$addr:25" \
	    >"$D/source.out" 2>&1
	rc=$?
	t1=$(date +%s%N)
	after=$($count)
	if [ "$rc" = 124 ]; then
		echo "timeout(${RUN_TIMEOUT}s)"
	elif [ "$rc" != 0 ]; then
		echo "failed($(tail -n 1 "$D/source.out" | tr ' ' '_' | cut -c1-40))"
	elif [ $((after - before)) -ne "$m" ]; then
		echo "lost($((after - before))/$m)"
	else
		awk -v m="$m" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f\n", m / (ns / 1e9) }'
	fi
}

# median: the median of the numbers on stdin; anything not a number (a
# failed run) wins, so a failure is never hidden.
median() {
	local all bad n
	all=$(cat)
	bad=$(printf '%s\n' "$all" | grep -v -E '^[0-9]+$' | head -n 1)
	if [ -n "$bad" ]; then echo "$bad"; return; fi
	n=$(printf '%s\n' "$all" | grep -c .)
	printf '%s\n' "$all" | sort -n | sed -n "$(( (n + 1) / 2 ))p"
}

# repeat_source ADDR SESSIONS COUNT COUNTER: the median of REPEAT runs;
# each run's figure goes to stderr.
repeat_source() {
	local i r
	for i in $(seq 1 "$REPEAT"); do
		r=$(run_source "$@")
		echo "bench:     run $i: $r" >&2
		echo "$r"
	done | median
}

# ceiling MODE BATCH [writer]: the median messages per second of REPEAT
# commitceil runs of 3 s; with "writer", dd writes a large file on the same
# file system meanwhile (at most 3 GiB, removed after each run).
ceiling() {
	local i w
	for i in $(seq 1 "$REPEAT"); do
		w=
		if [ "${3:-}" = writer ]; then
			dd if=/dev/zero of="$D/big" bs=1M count=3072 status=none &
			w=$!
			sleep 1
		fi
		"$D/commitceil" "$D/disk" "$1" "$2" 3 | awk '{ printf "%.0f\n", $5 }'
		if [ -n "$w" ]; then kill "$w" 2>/dev/null; wait "$w" 2>/dev/null; fi
		rm -f "$D/big"
	done | median
}

# ---------------------------------------------------------------- setup

D=$(mktemp -d "$BASE/sm-bench.XXXXXX") || die "mktemp in $BASE"
chmod 0755 "$D"
NS="sm-bench-$$"
ip netns add "$NS" || die "ip netns add $NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$PF_ADDR/32" dev lo

fsinfo=$(df -PT "$D" | awk 'NR == 2 { print $2 " on " $1 }')
say "spools in $D ($fsinfo), $(nproc) cores, $SIZE-byte messages, one connection per message"

# ---------------------------------------------------------------- disk ceiling

${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$D/commitceil" \
    "$TOP/tests/bench/commitceil.c" || die "cannot build commitceil"
mkdir -p "$D/disk"
say "disk ceiling: median of $REPEAT runs of 3 s per mode"
declare -A CEIL
for mode in fsync syncfs syncfs2; do
	for b in 1 10; do
		for w in quiet writer; do
			CEIL[$mode/$b/$w]=$(ceiling "$mode" "$b" "$w")
			say "  $mode batch $b $w: ${CEIL[$mode/$b/$w]} msg/s"
		done
	done
done

# ---------------------------------------------------------------- strictmail

declare -A SMR PFR
priv="privilege-separated"
uflag=
if ! [ "$(id -u)" -eq 0 ]; then priv="unprivileged (-u)"; uflag=-u; fi
for u in _sm-smtpd _sm-queue _sm-lookup _sm-control; do
	getent passwd "$u" >/dev/null && continue
	useradd --system --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin "$u" 2>/dev/null || die "useradd $u"
done
mkdir -p "$D/sm"
cat > "$D/sm/strictmail.conf" <<EOF
hostname bench.test
spool $D/sm/spool
listen $SM_ADDR 25 smtp
max-sessions 200
max-sessions-per-client 200
min-free-space 100M
control-socket $D/sm/control.sock
EOF
ip netns exec "$NS" setsid "$BIN" -d $uflag -f "$D/sm/strictmail.conf" \
    >"$D/sm/daemon.log" 2>&1 </dev/null &
SM_PID=$!
ok=0
for i in $(seq 1 300); do
	grep -q 'ready: listening on' "$D/sm/daemon.log" 2>/dev/null && { ok=1; break; }
	pid_alive "$SM_PID" || break
	sleep 0.1
done
[ "$ok" = 1 ] || { tail -n 20 "$D/sm/daemon.log"; die "strictmaild did not get ready"; }
say "strictmail: $BIN, $priv, pid $SM_PID"
sm_count() { find "$D/sm/spool/queue" -name '*.env' 2>/dev/null | wc -l; }
run_source "$SM_ADDR" 10 200 sm_count >/dev/null	# warm-up
for s in $SESSIONS; do
	m=$(messages_for "$s")
	SMR[$s]=$(repeat_source "$SM_ADDR" "$s" "$m" sm_count)
	say "  strictmail $s sessions, $m messages: ${SMR[$s]} msg/s (median of $REPEAT)"
done
stop_group "$SM_PID" 30
SM_PID=

# ---------------------------------------------------------------- postfix

pf_count() { find "$D/pf/queue/hold" -type f 2>/dev/null | wc -l; }
if [ "$WITH_POSTFIX" = 1 ]; then
	priv_postfix_users || die "cannot create the users $PRIV_PF_OWNER and $PRIV_PF_GROUP"
	mkdir -p "$D/pf/etc" "$D/pf/queue" "$D/pf/data"
	chown "$PRIV_PF_OWNER" "$D/pf/data"
	cat > "$D/pf/etc/main.cf" <<EOF
# A private instance with Postfix's default durability; every message is
# held after it was received, so nothing but reception is measured.
compatibility_level = 3.6
queue_directory = $D/pf/queue
data_directory = $D/pf/data
$(priv_postfix_main_cf)
myhostname = bench.test
mydomain = bench.test
myorigin = bench.test
mydestination = localhost, bench.test
inet_interfaces = $PF_ADDR
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps = proxy:unix:passwd.byname
smtpd_peername_lookup = no
smtpd_data_restrictions = check_client_access static:HOLD
maillog_file_prefixes = $D
maillog_file = $D/pf/maillog
biff = no
EOF
	cat > "$D/pf/etc/master.cf" <<'EOF'
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	ip netns exec "$NS" env LD_LIBRARY_PATH="$PF_LIBPATH" \
	    "$(priv_root postfix)/usr/sbin/postfix" -c "$D/pf/etc" start >"$D/pf/start.out" 2>&1 </dev/null
	for i in $(seq 1 100); do
		PF_PID=$(tr -dc 0-9 < "$D/pf/queue/pid/master.pid" 2>/dev/null)
		[ -n "$PF_PID" ] && break
		sleep 0.1
	done
	[ -n "$PF_PID" ] || { cat "$D/pf/start.out"; die "postfix did not start"; }
	wait_listen "$PF_ADDR" 20 || die "postfix does not listen on $PF_ADDR:25"
	say "postfix: $(priv_run postfix usr/sbin/postconf -c "$D/pf/etc" -h mail_version) (build-deps/postfix), master pid $PF_PID"
	run_source "$PF_ADDR" 10 200 pf_count >/dev/null	# warm-up
	for s in $SESSIONS; do
		m=$(messages_for "$s")
		PFR[$s]=$(repeat_source "$PF_ADDR" "$s" "$m" pf_count)
		say "  postfix $s sessions, $m messages: ${PFR[$s]} msg/s (median of $REPEAT)"
	done
	stop_group "$PF_PID" 30
	PF_PID=
fi

# ---------------------------------------------------------------- table

echo
echo "messages per second (median of $REPEAT runs), $SIZE-byte messages, smtp-source, $fsinfo"
printf '%-9s %-9s %-16s %-16s %s\n' sessions messages strictmail postfix ratio
for s in $SESSIONS; do
	a=${SMR[$s]}
	b=${PFR[$s]:--}
	r=-
	case "$a$b" in *[!0-9]*) ;; *) r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }') ;; esac
	printf '%-9s %-9s %-16s %-16s %s\n' "$s" "$(messages_for "$s")" "$a" "$b" "$r"
done
echo
echo "disk ceiling for the commit (1 KiB content + envelope, same file system), messages per second (median of $REPEAT)"
printf '  %-52s %-10s %-10s %s\n' "how a batch is made durable" "batch" "quiet" "large writer"
for mode in fsync syncfs syncfs2; do
	case $mode in
	fsync)   what="fdatasync each file, fsync each folder (the queue)" ;;
	syncfs)  what="one syncfs, then fdatasync each file" ;;
	syncfs2) what="syncfs, rename envelope, syncfs (earlier)" ;;
	esac
	for b in 1 10; do
		printf '  %-52s %-10s %-10s %s\n' "$what" "$b" "${CEIL[$mode/$b/quiet]}" "${CEIL[$mode/$b/writer]}"
	done
done
exit 0
