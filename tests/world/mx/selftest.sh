#!/bin/bash
# selftest.sh - the self-test of the test world's remote MXs.
#
#   bash tests/world/mx/selftest.sh        (as root; exit 0 when all pass)
#
# Makes its own network namespace (smmx-<pid>) with 127.0.1.x and fd00::x
# on lo, starts every MX role with mx-start, checks what each offers and
# does, stops them all with mx-stop and checks that no process and no
# namespace is left.  KEEP=1 keeps the work folder for a look afterwards.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
NS=smmx-$$
WORK=""
PASS=0
FAIL=0
ALLPIDS=""
T0=$(date +%s)

say() { echo "selftest: $*"; }
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$ALLPIDS" ]; then
		"$HERE/mx-stop" $ALLPIDS > /dev/null 2>&1
	fi
	if ip netns list 2>/dev/null | grep -qw "^$NS"; then
		for p in $(ip netns pids "$NS" 2>/dev/null); do
			# Only what this test started can be in its namespace.
			kill -KILL "$p" 2>/dev/null
		done
		ip netns del "$NS" 2>/dev/null
	fi
	if [ -n "$WORK" ] && [ "${KEEP:-0}" != 1 ]; then
		rm -rf "$WORK"
	elif [ -n "$WORK" ]; then
		echo "selftest: kept $WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "selftest: needs root (ip netns)" >&2; exit 1; }
for c in ip python3 openssl ss unshare flock; do
	command -v "$c" > /dev/null ||
	    { echo "selftest: $c is missing: run sh tests/deps.sh" >&2; exit 1; }
done
# Unpacked by tests/deps.sh (never installed); nothing is fetched from here.
PRIV_TOP=$TOP
# shellcheck disable=SC1091
. "$TOP/tests/privdeps.sh"
for w in "$(priv_missing opensmtpd usr/sbin/smtpd)" \
    "$(priv_missing postfix usr/sbin/postfix usr/lib/postfix/sbin/master)"; do
	[ -z "$w" ] || { echo "selftest: $w" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smmx.XXXXXX")
PKI=$WORK/pki
sh "$TOP/tests/pki/mkpki.sh" "$PKI" > /dev/null || { echo "mkpki.sh failed"; exit 1; }
CA=$PKI/ca.pem

ip netns add "$NS" || exit 1
ip -n "$NS" link set lo up
X="ip netns exec $NS"

# role  host number  (IPv4 127.0.1.N; some also fd00::N)
ROLES="valid:1 wrongname:2 expired:3 cnonly:4 nostarttls:5 starttls454:6
brokenhandshake:7 inject:8 tls11:9 reject-mail-4xx:10 reject-mail-5xx:11
reject-rcpt-4xx:12 reject-rcpt-5xx:13 reject-data-4xx:14 reject-data-5xx:15
reject-datacmd-4xx:16 reject-datacmd-5xx:17 tempfail-once:18 drop:19
drop-greeting:20 submission:21 postfix:22 opensmtpd:23 opensmtpd-tls:24
slow:25"
V6="valid postfix opensmtpd"

for rn in $ROLES; do
	n=${rn#*:}
	ip -n "$NS" addr add "127.0.1.$n/32" dev lo
	ip -n "$NS" -6 addr add "fd00::$n/128" dev lo nodad
done

addr() { for rn in $ROLES; do [ "${rn%:*}" = "$1" ] && echo "127.0.1.${rn#*:}"; done; }
addr6() { for rn in $ROLES; do [ "${rn%:*}" = "$1" ] && echo "fd00::${rn#*:}"; done; }
name() { echo "$1.mx.test"; }
rec() { echo "$WORK/rec/$1"; }

# ---- start every role (in parallel) ----

say "starting $(echo $ROLES | wc -w) MXs in $NS"
jobs=""
for rn in $ROLES; do
	r=${rn%:*}
	a=$(addr "$r")
	case " $V6 " in *" $r "*) a="$a,$(addr6 "$r")" ;; esac
	$X "$HERE/mx-start" "$r" "$(name "$r")" "$a" "$(rec "$r")" "$PKI" \
	    > "$WORK/pids.$r" 2> "$WORK/err.$r" &
	jobs="$jobs $!"
done
for j in $jobs; do wait "$j"; done
for rn in $ROLES; do
	r=${rn%:*}
	p=$(cat "$WORK/pids.$r")
	if [ -n "$p" ] && grep -Eq '^[0-9]+$' "$WORK/pids.$r"; then
		ALLPIDS="$ALLPIDS $p"
		ok
	else
		bad "mx-start $r: $(cat "$WORK/err.$r")"
	fi
done
say "started in $(( $(date +%s) - T0 ))s"

# ---- EHLO: STARTTLS shown or withheld ----

# ehlo_has ADDR PORT WORD yes|no [mx-check options]
ehlo_has() {
	a=$1 p=$2 w=$3 want=$4
	shift 4
	if ! kw=$($X "$HERE/mx-check" "$a" "$p" "$@" 2>&1); then
		bad "mx-check $a $p $*: $kw"
		return
	fi
	if echo "$kw" | grep -qx "$w"; then got=yes; else got=no; fi
	[ "$got" = "$want" ] && ok || bad "EHLO of $a:$p $*: $w expected $want, got $got"
}

for r in valid wrongname expired cnonly starttls454 brokenhandshake inject \
    tls11 reject-mail-4xx reject-mail-5xx reject-rcpt-4xx reject-rcpt-5xx \
    reject-data-4xx reject-data-5xx reject-datacmd-4xx reject-datacmd-5xx \
    tempfail-once drop submission postfix opensmtpd-tls slow; do
	ehlo_has "$(addr "$r")" 25 STARTTLS yes
done
for r in nostarttls opensmtpd; do
	ehlo_has "$(addr "$r")" 25 STARTTLS no
done
for r in $V6; do
	ehlo_has "$(addr6 "$r")" 25 SIZE yes
done
ehlo_has "$(addr6 valid)" 25 STARTTLS no --starttls
ehlo_has "$(addr valid)" 25 8BITMIME yes
ehlo_has "$(addr valid)" 25 SIZE yes
S=$(addr submission)
ehlo_has "$S" 587 STARTTLS yes
ehlo_has "$S" 587 AUTH no
ehlo_has "$S" 587 AUTH yes --starttls
ehlo_has "$S" 587 STARTTLS no --starttls
ehlo_has "$S" 465 AUTH yes --tls
ehlo_has "$S" 465 STARTTLS no --tls
if $X "$HERE/mx-check" "$(addr drop-greeting)" 25 > /dev/null 2>&1; then
	bad "drop-greeting answered EHLO"
else
	ok
fi

# ---- TLS handshakes with openssl s_client ----

# sclient ADDR NAME pass|fail [openssl options]
sclient() {
	a=$1 n=$2 want=$3
	shift 3
	if $X openssl s_client -starttls smtp -connect "$a:25" -verify_return_error \
	    -CAfile "$CA" -servername "$n" -verify_hostname "$n" "$@" \
	    < /dev/null > "$WORK/sclient.out" 2>&1 &&
	    grep -q 'Verify return code: 0 (ok)' "$WORK/sclient.out"; then
		got=pass
	else
		got=fail
	fi
	[ "$got" = "$want" ] && ok ||
	    bad "s_client $a $n $*: expected $want, got $got: $(grep -iE 'error|verify' "$WORK/sclient.out" | head -n 3)"
}

for r in valid postfix submission tempfail-once drop reject-mail-5xx; do
	sclient "$(addr "$r")" "$(name "$r")" pass
done
sclient "$(addr wrongname)" "$(name wrongname)" fail
sclient "$(addr expired)" "$(name expired)" fail
sclient "$(addr brokenhandshake)" "$(name brokenhandshake)" fail
sclient "$(addr tls11)" "$(name tls11)" fail
sclient "$(addr tls11)" "$(name tls11)" pass -tls1_1 -cipher DEFAULT:@SECLEVEL=0
sclient "$(addr opensmtpd-tls)" "$(name opensmtpd-tls)" fail
# The expired certificate fails for its date, not for its name.
$X openssl s_client -starttls smtp -connect "$(addr expired):25" -CAfile "$CA" \
    -servername "$(name expired)" -verify_hostname "$(name expired)" \
    < /dev/null 2>&1 | grep -q 'certificate has expired' && ok ||
    bad "expired: no 'certificate has expired'"
# CN only: OpenSSL falls back to the CN when there is no SAN, so s_client
# accepts it; what must hold is that it has no SAN and that a client that
# never uses the CN (strictmail, RFC 6125/8461) rejects it.
sclient "$(addr cnonly)" "$(name cnonly)" pass
cn=$(openssl x509 -noout -in "$PKI/cnonly-$(name cnonly).pem" -subject -ext subjectAltName 2>&1)
if echo "$cn" | grep -q "CN *= *$(name cnonly)" && ! echo "$cn" | grep -q 'Alternative Name'; then
	ok
else
	bad "cnonly certificate: $cn"
fi
# probe ROLE ARGS...: smtp-probe against the role's 25 (ARGS may change
# the port by giving --port-587 or --port-465 first)
probe() {
	r=$1
	shift
	port=25
	case ${1:-} in --port-*) port=${1#--port-}; shift ;; esac
	$X "$HERE/smtp-probe" "$(addr "$r")" "$port" "$@" 2>&1
}
# expect OUTPUT LINE...: each line is in the output
expect() {
	o=$1
	shift
	for l in "$@"; do
		echo "$o" | grep -qx "$l" || { bad "expected '$l' in: $(echo $o)"; return; }
	done
	ok
}
out=$(probe cnonly --starttls --cafile "$CA" --servername "$(name cnonly)" --strict)
expect "$out" "TLSERROR.*"
out=$(probe valid --starttls --cafile "$CA" --servername "$(name valid)" --strict --ehlo-only)
expect "$out" "TLS TLSv1.3" "QUIT 221"
out=$(probe wrongname --starttls --cafile "$CA" --servername "$(name wrongname)" --strict)
expect "$out" "TLSERROR.*"

# ---- the odd STARTTLS roles ----

expect "$(probe starttls454 --starttls)" "STARTTLS 454"
expect "$(probe brokenhandshake --starttls)" "STARTTLS 220" "TLSERROR.*"
expect "$(probe inject --starttls)" "STARTTLS 220" "INJECTED [0-9]*"
expect "$(probe tls11 --starttls)" "STARTTLS 220" "TLSERROR.*"

# ---- messages land, with the TLS facts ----

# last_tx RECORD_DIR: "tls=<bool> file=<file> size=<n>" of the last transaction
last_tx() {
	"$HERE/mx-records" "$1" | python3 -c '
import json, sys
txs = [t for l in sys.stdin for t in json.loads(l)["transactions"]]
t = txs[-1] if txs else {}
print("tls=%s file=%s to=%s" % (t.get("tls"), t.get("file"), ",".join(t.get("to", []))))'
}

MARK="marker-$$-body"
out=$(probe valid --starttls --cafile "$CA" --servername "$(name valid)" --strict \
    --to a@one.test --to b@two.test --body $'first\n.leading dot\n..two dots\n'"$MARK")
expect "$out" "END 250"
t=$(last_tx "$(rec valid)")
expect "$t" "tls=True file=messages/1.eml to=a@one.test,b@two.test"
f=$(rec valid)/messages/1.eml
if grep -qx "$MARK" <(tr -d '\r' < "$f") && grep -qx '.leading dot' <(tr -d '\r' < "$f") &&
    grep -qx '\.\.two dots' <(tr -d '\r' < "$f"); then ok; else bad "valid: message body not as sent (dot-unstuffing)"; fi
expect "$(probe valid --starttls --pipelining --rset)" "RSET 250" "MAIL 250" "RCPT 250" "DATA 354" "END 250"
expect "$(probe nostarttls --to plain@x.test)" "END 250"
expect "$(last_tx "$(rec nostarttls)")" "tls=False file=messages/1.eml to=plain@x.test"
# IPv6
out=$($X "$HERE/smtp-probe" "$(addr6 valid)" 25 --starttls --cafile "$CA" --servername "$(name valid)" --strict)
expect "$out" "END 250"

# Postfix: over STARTTLS on IPv6 and in plaintext on IPv4
out=$($X "$HERE/smtp-probe" "$(addr6 postfix)" 25 --starttls --cafile "$CA" \
    --servername "$(name postfix)" --strict --to x@pf.test --to y@pf2.test --body "$MARK")
expect "$out" "END 250"
expect "$(probe postfix --to plain@pf.test)" "END 250"
# delivery is asynchronous: wait (bounded) until both are in the maildir
for _ in $(seq 1 100); do
	n=$(ls "$(rec postfix)/maildir/new" 2>/dev/null | wc -l)
	[ "$n" -ge 3 ] && break
	sleep 0.1
done
recs=$("$HERE/mx-records" "$(rec postfix)" | python3 -c '
import json, sys
for l in sys.stdin:
    for t in json.loads(l)["transactions"]:
        print("tls=%s to=%s file=%s %s" % (t["tls"], ",".join(t["to"]), t["file"], t.get("tls_version")))')
expect "$recs" "tls=True to=x@pf.test,y@pf2.test file=messages/1.eml TLSv1.3" \
    "tls=False to=plain@pf.test file=messages/2.eml None"
grep -q "$MARK" "$(rec postfix)/messages/1.eml" && ok || bad "postfix: message 1 lacks the body"
grep -q "using TLSv1.3" "$(rec postfix)/messages/1.eml" && ok || bad "postfix: no TLS in Received:"

# OpenSMTPD: a plaintext receiver (see README)
expect "$(probe opensmtpd --to o@os.test --body "$MARK")" "END 250"
for _ in $(seq 1 100); do
	[ -n "$(ls "$(rec opensmtpd)/maildir/new" 2>/dev/null)" ] && break
	sleep 0.1
done
expect "$(last_tx "$(rec opensmtpd)")" "tls=False file=messages/1.eml to=o@os.test"
grep -q "$MARK" "$(rec opensmtpd)/messages/1.eml" && ok || bad "opensmtpd: message lacks the body"

# ---- scripted failures ----

expect "$(probe reject-mail-4xx --starttls)" "MAIL 451"
expect "$(probe reject-mail-5xx --starttls)" "MAIL 550"
expect "$(probe reject-rcpt-4xx --starttls)" "RCPT 450"
expect "$(probe reject-rcpt-5xx --starttls)" "RCPT 550"
expect "$(probe reject-data-4xx --starttls)" "DATA 354" "END 451"
expect "$(probe reject-data-5xx --starttls)" "DATA 354" "END 554"
expect "$(probe reject-datacmd-4xx --starttls)" "DATA 451"
expect "$(probe reject-datacmd-5xx --starttls)" "DATA 554"
expect "$(probe tempfail-once --starttls)" "RCPT 451"
expect "$(probe tempfail-once --starttls)" "RCPT 250" "END 250"
expect "$(probe tempfail-once --starttls)" "END 250"
expect "$(probe drop --starttls)" "DATA 354" "CLOSED after END"
t1=$(date +%s.%N)
expect "$(probe slow --starttls)" "DATA 354" "END 250"
awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a >= 1.5) }' && ok ||
    bad "slow: the 354 came before 1.5 s had passed"
expect "$(probe drop-greeting)" "GREETING 220" "CLOSED after EHLO"
n=$("$HERE/mx-records" "$(rec drop)" | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin for t in json.loads(l)["transactions"] if t.get("dropped")))')
[ "$n" = 1 ] && ok || bad "drop: $n dropped transactions recorded"

# ---- submission: STARTTLS before AUTH, AUTH before MAIL ----

U=$(sed -n 's/^user //p' "$(rec submission)/auth")
P=$(sed -n 's/^password //p' "$(rec submission)/auth")
expect "$(probe submission --port-587)" "MAIL 530"
expect "$(probe submission --port-587 --auth "$U:$P")" "AUTH 530"
expect "$(probe submission --port-587 --starttls)" "MAIL 530"
expect "$(probe submission --port-587 --starttls --auth "$U:wrong")" "AUTH 535"
expect "$(probe submission --port-587 --starttls --auth "$U:$P" --cafile "$CA" \
    --servername "$(name submission)" --strict)" "AUTH 235" "END 250"
expect "$(probe submission --port-587 --starttls --auth "$U:$P" --auth-login)" "AUTH 235" "END 250"
expect "$(probe submission --port-465 --tls)" "MAIL 530"
expect "$(probe submission --port-465 --tls --auth "$U:$P" --cafile "$CA" \
    --servername "$(name submission)" --strict)" "AUTH 235" "END 250"
auths=$("$HERE/mx-records" "$(rec submission)" | python3 -c '
import json, sys
for l in sys.stdin:
    c = json.loads(l)
    for t in c["transactions"]:
        if t.get("accepted"):
            print("%s %s %s" % (c["port"], t["tls"], t["auth"]))')
expect "$auths" "587 True $U" "465 True $U"

# ---- every connection was recorded ----

n=$(wc -l < "$(rec tempfail-once)/connections.jsonl")
[ "$n" -ge 4 ] && ok || bad "tempfail-once: $n connections recorded"

# ---- stop everything; nothing is left ----

# A process is named by its PID and its start time (procs.sh), so that a
# PID the kernel hands to another process meanwhile is not taken for a
# survivor.
. "$HERE/procs.sh"
tree=""
for p in $ALLPIDS; do
	descendants "$p"
	tree="$tree $DESC"
done
if "$HERE/mx-stop" $ALLPIDS; then ok; else bad "mx-stop reported a problem"; fi
ALLPIDS=""
# mx-stop has waited for every process it found; one it missed would
# still be running here.  A process that is in the middle of its exit
# is given one second, and what is left is named with its command line.
left=""
for _ in {1..20}; do
	left=""
	for e in $tree; do
		p=${e%%:*}
		if alive "$e"; then
			left="$left $p($(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null))"
		fi
	done
	[ -z "$left" ] && break
	nap 0.05
done
nap_close
[ -z "$left" ] && ok || bad "processes left:$left"
inns=$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')
[ -z "$inns" ] && ok || bad "processes left in $NS: $inns"
ip netns del "$NS" && ok || bad "ip netns del $NS"
if ip netns list | grep -qw "^$NS"; then bad "namespace $NS is left"; else ok; fi

say "$PASS passed, $FAIL failed ($(( $(date +%s) - T0 ))s)"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
