#!/bin/bash
# t-43-tls-levels: the TLS levels encrypt, secure and verify (TLS 1.1-only
# and plaintext-injecting MXs) and connection reuse, in the test world
# (scenario tls-levels).  A session opened for a `may` domain is never
# used for a `verify` domain on the same MX host and address: the verify
# message gets its own connection, is deferred with "name mismatch" and
# no MAIL or RCPT for it reaches the MX on any connection.  Two messages
# in a row to one MX travel over one connection (conn=reused logged).
# encrypt delivers to a wrong-name certificate and defers an MX without
# STARTTLS; secure checks the recipient domain or the names of its
# tls-policy line, never the MX name; verify defers a TLS 1.1-only MX
# and never reads the plaintext an MX injects after its 220 to STARTTLS
# as replies.  Everything is checked in the MXs' own records as well as
# in strictmail's log.
# Runs once, unprivileged, with leak detection: the levels do not depend
# on the mode (the CA file is read before the chroot in both).
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 0 ] || t_skip "checked once, with SM_PRIV=0 (leak detection over the reuse code; t-42 runs delivery in both modes)"
world_init tls-levels
spool=$T_DIR/spool
log=$T_DIR/strictmaild.log
sm_config "$T_DIR/c" "$spool" "hostname self.tls.test" "tls-ca-file $W_CA" \
    "tls-policy vwr.tls.test verify" "tls-policy enc.tls.test encrypt" \
    "tls-policy encno.tls.test encrypt" "tls-policy sec1.tls.test secure" \
    "tls-policy sec2.tls.test secure" \
    "tls-policy sec3.tls.test secure other.example.test" \
    "tls-policy v11.tls.test verify" "tls-policy vinj.tls.test verify" \
    "smtp-reuse-idle 6s" "retry-initial 1h" "retry-max 1h" \
    "control-socket $T_DIR/run/control.sock"
world_start_strictmail "$T_DIR/c" "$log"
printf 'Subject: t-43\r\nMessage-ID: <t43@src.tls.test>\r\n\r\nhello\r\n' > "$T_DIR/body"
from=alice@src.tls.test

send() {	# send TO[,TO] -> prints the queue id
	world_send_qid "$from" "$1" "$T_DIR/body"
}

# mx_wait_conns HOST N SECONDS: until HOST has recorded N connections
# (a record is written when its connection ends).
mx_wait_conns() {
	local i
	for i in $(seq 1 $(($3 * 10))); do
		[ "$(world_mx_json "$1" 'len(c)')" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- 1: reuse: a may session never carries a verify message
qm=$(send a@maywr.tls.test)
world_wait_log "$log" "$qm: to=<a@maywr.tls.test> relay=mx.wr.tls.test\[127.0.3.1\]:25 tls=TLSv1.2/[^ ]+/unverified status=sent .* conn=new" 20 ||
    t_fail "the may message goes over TLS on a new connection" "$(grep "$qm: to=" "$log" | tail -n 1)"
# Its session is idle now (smtp-reuse-idle 6s): the verify message follows.
qv=$(send b@vwr.tls.test)
world_wait_log "$log" "$qv: to=<b@vwr.tls.test> relay=mx.wr.tls.test\[127.0.3.1\]:25 .*status=deferred reply=\"name mismatch: wanted mx.wr.tls.test, certificate has[^\"]*other.example.test" 20 ||
    t_fail "the verify message is deferred with the name mismatch" "$(grep "$qv: to=" "$log" | tail -n 1)"
world_assert_no_log "$log" "$qv: to=<b@vwr.tls.test> .*conn=reused" "the verify message never on the reused may session"
world_assert_no_log "$log" "$qv: to=<b@vwr.tls.test> .*status=sent"
# Both connections end: the idle may session with QUIT once it expires.
mx_wait_conns mx.wr.tls.test 2 20 ||
    t_fail "two connections recorded at mx.wr.tls.test" "$(world_mx_json mx.wr.tls.test 'len(c)')"
got=$(world_mx_json mx.wr.tls.test '[(t["from"], t["to"], t["tls"]) for c0 in c for t in c0.get("transactions", [])]')
[ "$got" = "[('alice@src.tls.test', ['a@maywr.tls.test'], True)]" ] ||
    t_fail "mx.wr has one TLS transaction, for the may recipient only" "$got"
got=$(world_mx_json mx.wr.tls.test '[x for c0 in c for x in c0.get("commands", []) if "vwr.tls.test" in x or x.startswith("RCPT") and "maywr" not in x]')
[ "$got" = "[]" ] || t_fail "no MAIL or RCPT for the verify recipient on any connection" "$got"
got=$(world_mx_json mx.wr.tls.test 'sorted((bool(c0.get("transactions")), c0.get("closed_by"), bool(c0.get("tls"))) for c0 in c)')
[ "$got" = "[(False, 'client', True), (True, 'quit', True)]" ] ||
    t_fail "the verify connection got no transaction and was closed after the handshake; the may one ended with QUIT" "$got"
got=$(world_mx_json mx.wr.tls.test '[c0 for c0 in c if c0.get("transactions")][0]["end"] > [c0 for c0 in c if not c0.get("transactions")][0]["start"]')
[ "$got" = True ] ||
    t_fail "the may session was still open (idle) when the verify connection was made" "$got"
say "1: a may session on a wrong-name MX is never used for a verify domain: ok"

# ---- 2: reuse: two messages in a row on one connection
q1=$(send r1@reuse.tls.test)
world_wait_log "$log" "$q1: to=<r1@reuse.tls.test> relay=mx.valid.tls.test\[[^ ]+\]:25 tls=TLSv1.2/[^ ]+/unverified status=sent .* conn=new" 20 ||
    t_fail "the first message on a new connection" "$(grep "$q1: to=" "$log" | tail -n 1)"
q2=$(send r2@reuse.tls.test)
world_wait_log "$log" "$q2: to=<r2@reuse.tls.test> relay=mx.valid.tls.test\[[^ ]+\]:25 tls=TLSv1.2/[^ ]+/unverified status=sent .* conn=reused" 20 ||
    t_fail "the second message on the reused connection" "$(grep "$q2: to=" "$log" | tail -n 1)"
mx_wait_conns mx.valid.tls.test 1 20 ||
    t_fail "the connection to mx.valid ends (idle expiry)" "none"
got=$(world_mx_json mx.valid.tls.test '[([t["to"] for t in c0.get("transactions", [])], c0.get("closed_by"), bool(c0.get("tls"))) for c0 in c]')
[ "$got" = "[([['r1@reuse.tls.test'], ['r2@reuse.tls.test']], 'quit', True)]" ] ||
    t_fail "mx.valid saw one TLS connection with two transactions, ended by QUIT" "$got"
got=$(world_mx_json mx.valid.tls.test '[x.split()[0] for x in c[0]["commands"]]')
[ "$got" = "['EHLO', 'STARTTLS', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'MAIL', 'RCPT', 'DATA', 'QUIT']" ] &&
    : || { case $got in "['EHLO', 'STARTTLS', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA', 'QUIT']") ;;
	*) t_fail "the commands of the reused connection" "$got" ;; esac; }
say "2: two messages to one MX in a row over one connection (conn=reused): ok"

# ---- 3: encrypt
qe=$(send e@enc.tls.test)
qn=$(send n@encno.tls.test)
world_wait_log "$log" "$qe: to=<e@enc.tls.test> relay=mx.wr2.tls.test\[127.0.3.3\]:25 tls=TLSv1.2/[^ ]+/unverified status=sent" 20 ||
    t_fail "encrypt delivers over TLS to a wrong-name certificate" "$(grep "$qe: to=" "$log" | tail -n 1)"
world_wait_log "$log" "$qn: to=<n@encno.tls.test> relay=mx.nostls.tls.test\[127.0.3.4\]:25 tls=none status=deferred reply=\"no STARTTLS offered" 20 ||
    t_fail "encrypt defers an MX without STARTTLS" "$(grep "$qn: to=" "$log" | tail -n 1)"
world_wait_mx_messages mx.wr2.tls.test 1 20 || t_fail "the encrypt message at mx.wr2" "none"
got=$(world_mx_json mx.wr2.tls.test '[j for j in [__import__("json").load(open(f)) for f in __import__("glob").glob(sys.argv[1].rsplit("/", 1)[0] + "/messages/*.json")]]')
case $got in *"'to': ['e@enc.tls.test']"*"'tls': True"*|*"'tls': True"*"'to': ['e@enc.tls.test']"*) ;;
*) t_fail "mx.wr2 got the encrypt message over TLS" "$got" ;; esac
mx_wait_conns mx.nostls.tls.test 1 20 || t_fail "strictmail connected to mx.nostls" "no record"
got=$(world_mx_json mx.nostls.tls.test 'sum(len(c0.get("transactions", [])) for c0 in c)')
[ "$got" = 0 ] || t_fail "no transaction at the MX without STARTTLS at level encrypt" "$got"
say "3: encrypt: TLS without verification delivers; no STARTTLS defers, no transaction: ok"

# ---- 4: secure
qs1=$(send s1@sec1.tls.test)
qs2=$(send s2@sec2.tls.test)
qs3=$(send s3@sec3.tls.test)
world_wait_log "$log" "$qs1: to=<s1@sec1.tls.test> relay=mx.sec1.tls.test\[127.0.3.5\]:25 .*status=deferred reply=\"name mismatch: wanted sec1.tls.test" 20 ||
    t_fail "secure: the MX name alone is not enough" "$(grep "$qs1: to=" "$log" | tail -n 1)"
world_wait_log "$log" "$qs2: to=<s2@sec2.tls.test> relay=sec2.tls.test\[127.0.3.6\]:25 tls=TLSv1.2/[^ ]+/verified status=sent" 20 ||
    t_fail "secure: a certificate for the domain delivers" "$(grep "$qs2: to=" "$log" | tail -n 1)"
world_wait_log "$log" "$qs3: to=<s3@sec3.tls.test> relay=mx.wr2.tls.test\[127.0.3.3\]:25 tls=TLSv1.2/[^ ]+/verified status=sent" 20 ||
    t_fail "secure: a certificate for a listed name delivers" "$(grep "$qs3: to=" "$log" | tail -n 1)"
world_assert_no_log "$log" "$qs3: to=<s3@sec3.tls.test> .*conn=reused" "secure never rides the unverified encrypt session"
mx_wait_conns mx.sec1.tls.test 1 20 || t_fail "strictmail connected to mx.sec1" "no record"
got=$(world_mx_json mx.sec1.tls.test '(sum(len(c0.get("transactions", [])) for c0 in c), all(c0.get("tls") for c0 in c))')
[ "$got" = "(0, True)" ] || t_fail "no transaction at mx.sec1 (TLS done, then closed)" "$got"
world_wait_mx_messages sec2.tls.test 1 20 || t_fail "the secure message at sec2.tls.test" "none"
world_wait_mx_messages mx.wr2.tls.test 2 20 || t_fail "the secure message at mx.wr2" "none"
got=$("$PY" - "$(world_mx_dir sec2.tls.test)" "$(world_mx_dir mx.wr2.tls.test)" <<'EOF2'
import glob, json, sys
out = []
for d in sys.argv[1:]:
    for f in sorted(glob.glob(d + "/messages/*.json")):
        t = json.load(open(f))
        out.append((t["to"], t["tls"]))
print(sorted(out))
EOF2
)
[ "$got" = "[(['e@enc.tls.test'], True), (['s2@sec2.tls.test'], True), (['s3@sec3.tls.test'], True)]" ] ||
    t_fail "the secure messages arrived over TLS at their MXs" "$got"
say "4: secure: the domain or the listed names, never the MX name alone: ok"

# ---- 5: verify against TLS 1.1 only and plaintext injection
q11=$(send t@v11.tls.test)
qi=$(send i@vinj.tls.test)
# The MX cannot agree on TLS 1.2 (nor on a suite of it) and ends the
# handshake: strictmail defers (no plaintext at verify); the MX's record
# says why its side failed.
world_wait_log "$log" "$q11: to=<t@v11.tls.test> relay=mx.tls11.tls.test\[127.0.3.7\]:25 tls=none status=deferred reply=\"handshake failed: " 20 ||
    t_fail "verify defers a TLS 1.1-only MX with the handshake's reason" "$(grep "$q11: to=" "$log" | tail -n 1)"
mx_wait_conns mx.tls11.tls.test 1 20 || t_fail "strictmail connected to mx.tls11" "no record"
got=$(world_mx_json mx.tls11.tls.test '[(len(c0.get("transactions", [])), bool(c0.get("tls")), bool(c0.get("starttls")), c0.get("tls_error")) for c0 in c]')
case $got in
"[(0, False, True, '"*[Vv][Ee][Rr][Ss][Ii][Oo][Nn]*"')]"|"[(0, False, True, '"*[Pp][Rr][Oo][Tt][Oo][Cc][Oo][Ll]*"')]"|"[(0, False, True, '"*[Cc][Ii][Pp][Hh][Ee][Rr]*"')]") ;;
*) t_fail "one connection at the TLS 1.1 MX: STARTTLS, no TLS session (a version or cipher failure), no transaction" "$got" ;;
esac
world_assert_no_log "$log" "$q11: to=<t@v11.tls.test> .*tls=TLSv1\.[01]" "no TLS 1.0 or 1.1 session at verify"
world_wait_log "$log" "$qi: to=<i@vinj.tls.test> relay=mx.inj.tls.test\[127.0.3.8\]:25 tls=TLSv1.2/[^ ]+/verified status=sent" 20 ||
    t_fail "verify delivers through the injecting MX over a verified session" "$(grep "$qi: to=" "$log" | tail -n 1)"
mx_wait_conns mx.inj.tls.test 1 20 || t_fail "the connection to mx.inj ends" "no record"
got=$(world_mx_json mx.inj.tls.test '[(c0.get("injected"), c0.get("plaintext_after_starttls", 0), [x.split()[0] for x in c0["commands"]], [(t["to"], t["tls"]) for t in c0.get("transactions", [])]) for c0 in c]')
[ "$got" = "[(71, 0, ['EHLO', 'STARTTLS', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'QUIT'], [(['i@vinj.tls.test'], True)])]" ] ||
    t_fail "mx.inj: bytes injected, strictmail sent nothing in plaintext after STARTTLS, a new EHLO under TLS, one TLS transaction" "$got"
world_assert_no_log "$log" "injected" "the injected bytes are never taken for a reply"
say "5: verify: TLS 1.1 only deferred; injected plaintext ignored, delivered over TLS: ok"

# ---- 6: the MX goes away under idle and reused connections
idlemx=mx.idle.tls.test
mx_pid() { tail -n 1 "$W_DIR/mx/$idlemx.pids"; }
mx_restart() {	# a new MX process with the same records
	world_exec "$W_HOME/mx/mx-start" valid "$idlemx" 127.0.3.9 \
	    "$(world_mx_dir "$idlemx")" "$W_DIR/pki" > "$T_DIR/mx.pid" 2>"$T_DIR/mx.err" ||
	    t_fail "mx-start $idlemx again" "$(cat "$T_DIR/mx.err")"
	cat "$T_DIR/mx.pid" >> "$W_DIR/mx/$idlemx.pids"
	echo "mx:$idlemx $(cat "$T_DIR/mx.pid")" >> "$W_DIR/pids"	# world down stops it
}
# established connections to the MX's port 25, seen from strictmail's side
clients() { world_exec ss -Htn state established "( dst 127.0.3.9 and dport = :25 )" | wc -l; }
qa=$(send x1@idle.tls.test)
world_wait_log "$log" "$qa: to=<x1@idle.tls.test> .*status=sent .*conn=new" 20 ||
    t_fail "x1 delivered on a new connection" "$(grep "$qa: to=" "$log" | tail -n 1)"
[ "$(clients)" = 1 ] || t_fail "one idle connection to $idlemx" "$(clients)"
"$W_HOME/mx/mx-stop" "$(mx_pid)" >/dev/null 2>&1 || t_fail "mx-stop $idlemx" "failed"
for i in $(seq 1 50); do [ "$(clients)" = 0 ] && break; sleep 0.1; done
[ "$(clients)" = 0 ] || t_fail "strictmail drops the idle connection the server closed" "$(clients) left"
mx_restart
qb=$(send x2@idle.tls.test)
world_wait_log "$log" "$qb: to=<x2@idle.tls.test> .*status=sent .*conn=new" 20 ||
    t_fail "after the server closed the idle connection, a new one delivers" "$(grep "$qb: to=" "$log" | tail -n 1)"
world_assert_no_log "$log" "$qb: to=<x2@idle.tls.test> .*status=deferred" "no deferral for the dropped idle connection"
# Now the MX is frozen while x2's connection is idle: x3 goes out on it
# (its commands wait unread at the MX), then the MX dies: the reused
# connection failed before MAIL, so x3 goes to a new connection at once
# (which fails now: deferred, conn=new), never deferred on the reused
# one.
kill -STOP "$(mx_pid)"
qc=$(send x3@idle.tls.test)
for i in $(seq 1 100); do
	world_exec ss -Htn state established "( src 127.0.3.9 and sport = :25 )" |
	    awk '$1 > 0 { f = 1 } END { exit !f }' && break
	sleep 0.1
done
[ "$i" -lt 100 ] || { kill -CONT "$(mx_pid)"; t_fail "x3's commands sent on the reused connection" "nothing unread at the MX"; }
kill -KILL "$(mx_pid)"
world_wait_log "$log" "$qc: reused connection to $idlemx\[127.0.3.9\]:25 failed before MAIL" 20 ||
    t_fail "the failure of the reused connection logged" "$(grep "$qc" "$log" | tail -n 3 | tr '\n' '|')"
# (The new connection is refused, or reset when it slipped into the dying
# MX's listen queue.)
world_wait_log "$log" "$qc: to=<x3@idle.tls.test> relay=$idlemx\[127.0.3.9\]:25 tls=none status=deferred reply=\"(connect to [^\"]*refused|connection error[^\"]*)\" delay=[0-9]+ conn=new" 20 ||
    t_fail "x3 tried on a new connection (refused or reset: deferred)" "$(grep "delivery.*$qc: to=" "$log" | tail -n 1)"
world_assert_no_log "$log" "$qc: to=<x3@idle.tls.test> .*conn=reused" "x3 never deferred on the reused connection"
mx_restart
out=$("$(dirname "$SM_BIN")/strictmailctl" -s "$T_DIR/run/control.sock" flush 2>&1) ||
    t_fail "strictmailctl flush" "$out"
world_wait_log "$log" "$qc: to=<x3@idle.tls.test> .*status=sent .*conn=new" 20 ||
    t_fail "x3 delivered after the flush" "$(grep "$qc: to=" "$log" | tail -n 1)"
world_wait_mx_messages "$idlemx" 3 20 || t_fail "three messages at $idlemx" "$(world_mx_messages "$idlemx")"
got=$("$PY" - "$(world_mx_dir "$idlemx")" <<'EOF2'
import glob, json, sys
print(sorted(t for f in glob.glob(sys.argv[1] + "/messages/*.json") for t in json.load(open(f))["to"]))
EOF2
)
[ "$got" = "['x1@idle.tls.test', 'x2@idle.tls.test', 'x3@idle.tls.test']" ] ||
    t_fail "each message once at $idlemx" "$got"
say "6: an idle connection the server closed is dropped; a reused one that fails before MAIL goes to a new connection: ok"

# ---- 7: smtp-reuse-max (reloaded) ends a connection with QUIT after its
# last message; an idle connection gets QUIT at shutdown
echo "smtp-reuse-max 2" >> "$T_DIR/c"
kill -HUP "$SM_PID"
world_wait_log "$log" "reload: .*done" 10 || t_fail "the reload" "no line"
nc=$(world_mx_json mx.valid.tls.test 'len(c)')
for i in 3 4 5; do
	q=$(send "r$i@reuse.tls.test")
	world_wait_log "$log" "$q: to=<r$i@reuse.tls.test> .*status=sent" 20 ||
	    t_fail "r$i delivered" "$(grep "$q: to=" "$log" | tail -n 1)"
	eval "q$i=\$q"
done
world_assert_log "$log" "$q3: to=<r3@reuse.tls.test> .*status=sent .*conn=new"
world_assert_log "$log" "$q4: to=<r4@reuse.tls.test> .*status=sent .*conn=reused"
world_assert_log "$log" "$q5: to=<r5@reuse.tls.test> .*status=sent .*conn=new" "a new connection after smtp-reuse-max messages"
t0=$(date +%s)
sm_stop "$SM_PID" || t_fail "strictmaild stops" "it had to be killed"
[ $(($(date +%s) - t0)) -lt 5 ] || t_fail "a prompt stop with an idle connection open" "$(($(date +%s) - t0)) s"
mx_wait_conns mx.valid.tls.test $((nc + 2)) 20 ||
    t_fail "both new connections to mx.valid end" "$(world_mx_json mx.valid.tls.test 'len(c)') records"
got=$(world_mx_json mx.valid.tls.test "[([t['to'] for t in c0.get('transactions', [])], c0.get('closed_by'), bool(c0.get('tls'))) for c0 in c[$nc:]]")
[ "$got" = "[([['r3@reuse.tls.test'], ['r4@reuse.tls.test']], 'quit', True), ([['r5@reuse.tls.test']], 'quit', True)]" ] ||
    t_fail "two messages on the first connection, then QUIT; the idle one got QUIT at shutdown" "$got"
got=$(world_mx_json mx.valid.tls.test "round(c[-1]['end'] - c[-1]['start'])")
[ "$got" -lt 6 ] || t_fail "the last connection ended by the shutdown, before smtp-reuse-idle (6s)" "${got}s"
say "7: smtp-reuse-max ends a connection after its messages; QUIT at shutdown: ok"

t_pass
