# shellcheck shell=bash
# lib.sh - shell helpers for tests that run strictmail inside a test world.
#
# A test sources this file (it sources tests/integration/lib.sh, so say,
# t_pass, t_fail, t_skip, sm_config, sm_start, sm_wait_log... are there
# too), calls world_init SCENARIO, and from then on owns a world: $W_NS
# (= $T_NS, so the sm_* helpers act inside it), its state folder $W_DIR,
# the test CA $W_CA, a temporary folder $T_DIR, and a cleanup trap that
# stops strictmail, brings the world down and removes $T_DIR, also when
# the test fails or is interrupted.
#
#   world_init SCENARIO           bring the world up (skip 77 without root;
#                                 fail at once without the world's packages)
#   world_need_opensmtpd          fail at once unless tests/deps.sh has
#                                 unpacked OpenSMTPD (for its MX roles)
#   world_need_postfix            the same for Postfix (MX role postfix)
#   world_exec CMD...             CMD inside the world
#   world_switch SCENARIO         DNS and policy hosts become SCENARIO's
#   world_start_strictmail CONF [LOG]   strictmaild -d inside the world,
#                                 waits until it is ready; sets SM_PID
#   world_send FROM TO[,TO] BODYFILE [ADDR [PORT]]   one message with
#                                 smtplib (default 127.0.0.1 25, that is
#                                 strictmail); prints "250 QID" or "ERR ..."
#   world_send_qid FROM TO[,TO] BODYFILE   the same, prints only the queue
#                                 ID; fails the test unless it is a 250
#   world_queue_count SPOOL       messages in strictmail's queue
#   world_wait_queue_empty SPOOL [SECONDS]
#   world_mx_dir HOST             an MX's record folder
#   world_mx_messages HOST        messages the MX accepted
#   world_mx_connections HOST     TCP connections the MX recorded
#   world_mx_plaintext HOST       transactions the MX saw without TLS
#   world_mx_json HOST PYEXPR     prints the Python expression PYEXPR, with
#                                 c = the MX's connection records (a list)
#   world_wait_mx_messages HOST N [SECONDS]
#   world_wait_at_least SECONDS N CMD...   until CMD prints at least N
#   world_http_count [NAME] HOST [URI]   requests a policy host answered
#   world_dns_queries NAME [TYPE] queries dnsmasq got for NAME
#   world_wait_log LOG REGEX [SECONDS]
#   world_assert_log LOG REGEX [WHAT]      fail the test unless LOG matches
#   world_assert_no_log LOG REGEX [WHAT]   fail the test if LOG matches
#
# Every wait is bounded (default 30 s) and polls; none sleeps blindly.

# shellcheck disable=SC1091
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../integration" && pwd)/lib.sh"
# nap (a sleep without a process), proc_stat.
# shellcheck disable=SC1091
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/mx/procs.sh"

W_HOME=$SM_TOP/tests/world
W_CMD=$W_HOME/world
W_NAME=
W_NS=
W_DIR=
W_CA=
W_CLEANED=0

world_need_opensmtpd() {
	t_need_private opensmtpd usr/sbin/smtpd
}

# world_need_postfix: fail at once unless tests/deps.sh has unpacked
# Postfix (for the MX role postfix).
world_need_postfix() {
	t_need_private postfix usr/sbin/postfix usr/lib/postfix/sbin/master
}

world_init() {
	local scn=$1
	[ "$(id -u)" -eq 0 ] || t_skip "needs root (network namespaces)"
	t_need ip dnsmasq dig curl openssl python3
	t_need_private nginx usr/sbin/nginx
	trap 'world_cleanup 2>/dev/null' EXIT
	trap 'world_cleanup 2>/dev/null; exit 130' INT
	trap 'world_cleanup 2>/dev/null; exit 143' TERM
	T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sm-$T_NAME.XXXXXX") ||
	    t_fail "a temporary folder" "mktemp failure"
	chmod 0755 "$T_DIR"
	export T_FAILFILE=$T_DIR/failure
	export T_NAME
	world_up "$scn"
	if [ "$SM_PRIV" = 1 ]; then
		sm_users || t_fail "the strictmail system users" "useradd failure"
	fi
}

# world_up SCENARIO: brings the world of SCENARIO up as this test's world
# (W_NAME, W_DIR, W_NS, T_NS).
world_up() {
	local scn=$1 out
	W_NAME="$scn-$$"
	if ! out=$("$W_CMD" up "$scn" "$W_NAME" 2>&1); then
		printf '%s\n' "$out" | tail -n 30
		t_fail "world up $scn" "an error (above)"
	fi
	say "${out##*$'\n'}"
	W_DIR=$("$W_CMD" dir "$W_NAME") || t_fail "the world's state folder" "none"
	# shellcheck disable=SC1091
	. "$W_DIR/world.env"
	W_DIR=$W_STATE
	T_NS=$W_NS
}

# world_cleanup: strictmail first (SIGTERM, then SIGKILL to its group),
# then the world, then whatever tests/integration/lib.sh cleans up.
world_cleanup() {
	local rc=$?
	[ "$W_CLEANED" = 1 ] && return $rc
	W_CLEANED=1
	trap - EXIT INT TERM
	t_stop_pids
	if [ -n "$W_NAME" ] && [ -d "${W_DIR:-/nonexistent}" ]; then
		WORLD_KEEP=$SM_KEEP "$W_CMD" down "$W_NAME" >/dev/null 2>&1
	fi
	T_NS=
	(exit "$rc")
	t_cleanup
	return $rc
}

world_exec() {
	ip netns exec "$W_NS" "$@"
}

# world_switch SCENARIO: the world's DNS and policy hosts become those of
# SCENARIO (same MXs); see 'world switch'.
world_switch() {
	local out
	out=$("$W_CMD" switch "$W_NAME" "$1" 2>&1) ||
	    t_fail "world switch to $1" "$(printf '%s' "$out" | tail -n 5 | tr '\n' '|')"
	say "${out##*$'\n'}"
}

# world_start_strictmail CONF [LOG]
world_start_strictmail() {
	local conf=$1 log=${2:-$T_DIR/strictmaild.log}
	[ -x "$SM_BIN" ] || t_fail "an executable strictmaild at $SM_BIN" "none (run make / make asan)"
	sm_start_ready "$conf" "$log"
}

# world_send FROM TO[,TO] BODYFILE [ADDR [PORT]]
world_send() {
	local from=$1 to=$2 body=$3 addr=${4:-127.0.0.1} port=${5:-25}
	world_exec "$PY" "$T_LIB/smtest.py" send "$addr" "$port" "$from" "$to" "$body"
}

world_send_qid() {
	local out
	out=$(world_send "$1" "$2" "$3")
	case $out in
	"250 "*) echo "${out#250 }" ;;
	*) t_fail "strictmail accepts mail for $2" "$out" ;;
	esac
}

# ---------------------------------------------------------------- queue

world_queue_count() {
	local n=0 f
	for f in "$1"/queue/*/*.env; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# world_poll SECONDS CMD...: runs CMD every 0.1 s until it succeeds, for
# SECONDS at most (and once more at the end); 1 if it never did.  The
# pipe nap sleeps on is closed again, so that no process this test starts
# later inherits it.
world_poll() {
	local n=$(($1 * 10)) i rc=1
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && { rc=0; break; }
		nap 0.1
	done
	[ "$rc" = 0 ] || { "$@" && rc=0; }
	nap_close
	return "$rc"
}

# world_queue_empty SPOOL: no message in the queue.
world_queue_empty() {
	local f
	for f in "$1"/queue/*/*.env; do
		[ -e "$f" ] && return 1
	done
	return 0
}

# world_wait_queue_empty SPOOL [SECONDS]: 1 if messages are left.
world_wait_queue_empty() {
	world_poll "${2:-30}" world_queue_empty "$1"
}

# ---------------------------------------------------------------- MXs

world_mx_dir() {
	echo "$W_DIR/mx/$1"
}

# Real servers (postfix, opensmtpd) write their records on demand.
world_mx_refresh() {
	local role
	role=$(awk -F'\t' -v h="$1" '$1 == h { print $2 }' "$W_DIR/mxhosts.tsv")
	case $role in
	postfix|opensmtpd*)
		[ -x "$W_HOME/mx/mx-records" ] &&
		    "$W_HOME/mx/mx-records" "$(world_mx_dir "$1")" >/dev/null 2>&1
		;;
	esac
	return 0
}

world_mx_messages() {
	local n=0 f
	world_mx_refresh "$1"
	for f in "$(world_mx_dir "$1")"/messages/*.eml; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

world_mx_connections() {
	local f
	world_mx_refresh "$1"
	f=$(world_mx_dir "$1")/connections.jsonl
	if [ -f "$f" ]; then grep -c . "$f"; else echo 0; fi
}

world_mx_json() {
	world_mx_refresh "$1"
	"$PY" - "$(world_mx_dir "$1")/connections.jsonl" "$2" <<'EOF'
import json, sys
c = []
try:
    with open(sys.argv[1]) as f:
        c = [json.loads(l) for l in f if l.strip()]
except FileNotFoundError:
    pass
print(eval(sys.argv[2]))
EOF
}

# Transactions (MAIL FROM seen) that ran without TLS.
world_mx_plaintext() {
	world_mx_refresh "$1"
	"$PY" - "$(world_mx_dir "$1")/connections.jsonl" <<'EOF'
import json, sys
n = 0
try:
    with open(sys.argv[1]) as f:
        for ln in f:
            c = json.loads(ln)
            for t in c.get("transactions", []):
                if not t.get("tls", c.get("tls")):
                    n += 1
except FileNotFoundError:
    pass
print(n)
EOF
}

# world_at_least N CMD...: CMD prints a number >= N.
world_at_least() {
	local want=$1
	shift
	[ "$("$@")" -ge "$want" ]
}

# world_wait_at_least SECONDS N CMD...: until CMD prints a number >= N;
# 1 if it never did.
world_wait_at_least() {
	local secs=$1
	shift
	world_poll "$secs" world_at_least "$@"
}

# world_wait_mx_messages HOST N [SECONDS]: 1 if fewer than N arrived.
world_wait_mx_messages() {
	world_wait_at_least "${3:-30}" "$2" world_mx_messages "$1"
}

# ---------------------------------------------------------------- HTTPS, DNS

# world_http_count [NAME] HOST [URI]: requests the policy host HOST
# answered (any status), only those for URI if given.  NAME: the world
# (default: this test's).  nginx logs a request when it has finished.
world_http_count() {
	local dir=$W_DIR
	if [ $# -ge 2 ] && [ "${2#/}" = "$2" ]; then
		dir=$("$W_CMD" dir "$1") || { echo 0; return 1; }
		shift
	fi
	local host=$1 uri=${2:-}
	[ -f "$dir/http/access.log" ] || { echo 0; return 0; }
	awk -v h="$host" -v u="$uri" '$1 == h && (u == "" || $5 == u) { n++ } END { print n + 0 }' \
	    "$dir/http/access.log"
}

# world_dns_queries NAME [TYPE]: queries for NAME that reached dnsmasq.
world_dns_queries() {
	local name=$1 type=${2:-}
	awk -v n="$name" -v t="$type" '
	    $0 ~ /: query\[/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^query\[/) break
		q = $i; sub(/^query\[/, "", q); sub(/\]$/, "", q)
		if (tolower($(i + 1)) == tolower(n) && (t == "" || q == t)) c++
	    }
	    END { print c + 0 }' "$W_DIR/dns/dnsmasq.log"
}

# ---------------------------------------------------------------- logs

world_log_has() {
	grep -Eq -- "$2" "$1" 2>/dev/null
}

world_wait_log() {
	world_poll "${3:-30}" world_log_has "$1" "$2"
}

world_assert_log() {
	grep -Eq -- "$2" "$1" 2>/dev/null ||
	    t_fail "${3:-a line matching /$2/ in $(basename "$1")}" "none"
}

world_assert_no_log() {
	local hit
	hit=$(grep -E -m 1 -- "$2" "$1" 2>/dev/null)
	[ -z "$hit" ] || t_fail "${3:-no line matching /$2/ in $(basename "$1")}" "$hit"
}

# ---------------------------------------------------------------- MTA-STS
#
# Helpers of the MTA-STS world tests (t-50, t-52, t-53).  The delivery log
# line of a recipient ends with the policy state: sts=enforce id=ID
# verified | failure=CODE, sts=testing ..., sts=none [id=ID] [warn="..."],
# sts=disabled-by-config, sts=relayhost (policy=cached-fallback after id=
# when a cached policy stood in for DNS or a failed fetch).
#
#   sts_config FILE SPOOL [LINE...]   a configuration for these tests
#   sts_world SCENARIO            strictmail stopped, this world down, the
#                                 world of SCENARIO up in its place
#   sts_ctl ARGS...               strictmailctl on $STS_SOCK (default
#                                 $T_DIR/run/control.sock); output and status
#   sts_rcpt_line LOG QID RCPT    the last lines (up to 3) of RCPT in QID
#   sts_wait_rcpt LOG QID RCPT REGEX [SECONDS] [WHAT]   waits until a
#                                 delivery line of RCPT in QID matches
#                                 REGEX; fails the test (WHAT) if none does
#   sts_mx_wait_conns HOST N [SECONDS]   until HOST recorded N connections
#   sts_assert_untouched HOST WHAT   HOST recorded no TCP connection at all
#   sts_assert_no_mail HOST WHAT  HOST saw no MAIL command (no transaction,
#                                 neither in plaintext nor over TLS)
#   sts_assert_tls_only HOST WHAT every connection to HOST asked for
#                                 STARTTLS (none was plaintext only)
#   sts_mx_deliveries HOST        "[(to, tls, tls_version), ...]" of HOST's
#                                 transactions
#   sts_queued SPOOL QID          0 if QID is still in the queue
#   sts_decoy_policy HOST ADDR BODYFILE   an HTTPS server for HOST (a
#                                 certificate from the world's CA) at ADDR
#                                 serving BODYFILE, and /etc/netns/<ns>/hosts
#                                 naming ADDR for HOST (rule 11 tests); its
#                                 requests go to $T_DIR/decoy.log.  Start
#                                 strictmail after it (the hosts file is
#                                 bind-mounted when a process enters the
#                                 namespace).

STS_SOCK=

sts_decoy_listens() {
	ss -N "$W_NS" -Hltn "( sport = :443 )" | grep -qF "$1:443"
}

sts_world() {
	t_stop_pids
	# One CA for the worlds of a test (the first one's): faster ups.
	if [ -z "${WORLD_PKI_SEED:-}" ] && [ -f "$W_DIR/pki/ca.pem" ]; then
		cp -a "$W_DIR/pki" "$T_DIR/pki-seed" && export WORLD_PKI_SEED=$T_DIR/pki-seed
	fi
	if [ -n "$W_NAME" ] && [ -d "${W_DIR:-/nonexistent}" ]; then
		WORLD_KEEP=$SM_KEEP "$W_CMD" down "$W_NAME" >/dev/null 2>&1 ||
		    t_fail "world down $W_NAME" "an error"
	fi
	world_up "$1"
}

sts_ctl() {
	"$(dirname "$SM_BIN")/strictmailctl" -s "${STS_SOCK:-$T_DIR/run/control.sock}" "$@" 2>&1
}

sts_rcpt_line() {
	grep -F -- "$2: to=<$3>" "$1" 2>/dev/null | tail -n 3 | tr '\n' '|'
}

sts_wait_rcpt() {
	local log=$1 qid=$2 rcpt=$3 re=$4 secs=${5:-30} what=${6:-}
	world_wait_log "$log" "$qid: to=<$rcpt> .*$re" "$secs" && return 0
	t_fail "${what:-a delivery line of $rcpt ($qid) matching /$re/}" \
	    "$(sts_rcpt_line "$log" "$qid" "$rcpt")"
}

sts_mx_wait_conns() {
	world_wait_at_least "${3:-20}" "$2" world_mx_connections "$1"
}

sts_assert_untouched() {
	local n
	n=$(world_mx_connections "$1")
	[ "$n" = 0 ] || t_fail "$2 (no TCP connection to $1)" "$n connections"
	# A connection still open has no record yet: none may exist either.
	n=$(world_exec ss -Htn state connected 2>/dev/null |
	    awk -v a="$(awk -F'\t' -v h="$1" '$1 == h { print $3 }' "$W_DIR/mxhosts.tsv")" '
	    BEGIN { split(a, l, ",") } { for (i in l) if (index($0, l[i] ":25")) n++ } END { print n + 0 }')
	[ "$n" = 0 ] || t_fail "$2 (no open connection at $1)" "$n open"
}

sts_assert_no_mail() {
	local got
	got=$(world_mx_json "$1" '[x for c0 in c for x in c0.get("commands", []) if x.upper().startswith(("MAIL", "RCPT", "DATA"))] + [t["from"] for c0 in c for t in c0.get("transactions", [])]')
	[ "$got" = "[]" ] || t_fail "$2 (no MAIL, RCPT or DATA at $1)" "$got"
}

sts_assert_tls_only() {
	local got
	got=$(world_mx_json "$1" '[c0.get("id") for c0 in c if not c0.get("starttls") and "STARTTLS" not in [x.split()[0].upper() for x in c0.get("commands", []) if x.strip()]]')
	[ "$got" = "[]" ] || t_fail "$2 (every connection to $1 asked for STARTTLS)" "connections without: $got"
}

sts_mx_deliveries() {
	world_mx_json "$1" '[(t["to"], bool(t.get("tls")), t.get("tls_version")) for c0 in c for t in c0.get("transactions", []) if t.get("accepted", True) and t.get("to")]'
}

sts_queued() {
	ls "$1"/queue/*/"$2".env >/dev/null 2>&1
}

sts_decoy_policy() {
	local host=$1 addr=$2 body=$3 i
	bash "$SM_TOP/tests/pki/mkpki.sh" issue "$W_DIR/pki" "decoy-$host" "DNS:$host" \
	    > "$T_DIR/decoy-pki.log" 2>&1 || t_fail "a decoy certificate for $host" "$(tail -n 3 "$T_DIR/decoy-pki.log")"
	ip -n "$W_NS" addr add "$addr/32" dev lo 2>/dev/null
	cat > "$T_DIR/decoy.py" <<'PYEOF'
import http.server, ssl, sys
cert, key, addr, body, log = sys.argv[1:6]
data = open(body, "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s %s\n" % (self.headers.get("Host"), self.path))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer((addr, 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PYEOF
	: > "$T_DIR/decoy.log"
	world_exec "$PY" "$T_DIR/decoy.py" "$W_DIR/pki/decoy-$host.pem" \
	    "$W_DIR/pki/decoy-$host.key" "$addr" "$body" "$T_DIR/decoy.log" \
	    > "$T_DIR/decoy.err" 2>&1 &
	T_HELPERS="$T_HELPERS $!"
	world_poll 5 sts_decoy_listens "$addr" ||
	    t_fail "the decoy policy host at $addr:443" "$(cat "$T_DIR/decoy.err")"
	printf '127.0.0.1 localhost\n%s %s\n' "$addr" "$host" > "/etc/netns/$W_NS/hosts"
}

# sts_config FILE SPOOL [LINE...]: sm_config with the world's CA, short
# MTA-STS settings (fetch time-out 5 s, back-off 8 s), no retry within
# the test (1 h), no connection reuse and the control socket
# $T_DIR/run/control.sock; a LINE whose keyword is one of these replaces it.
sts_config() {
	local f=$1 spool=$2 d e given defs=()
	shift 2
	for d in "hostname self.sts.test" "tls-ca-file $W_CA" "mta-sts-fetch-timeout 5s" \
	    "mta-sts-backoff 8s" "retry-initial 1h" "retry-max 1h" "smtp-reuse-idle 0" \
	    "control-socket $T_DIR/run/control.sock"; do
		given=0
		for e in "$@"; do [ "${e%% *}" = "${d%% *}" ] && given=1; done
		[ "$given" = 1 ] || defs+=("$d")
	done
	sm_config "$f" "$spool" "${defs[@]}" "$@"
}
