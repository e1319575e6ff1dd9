#!/bin/bash
# t-51-sts-fetch: the MTA-STS policy fetcher (sts/sts_fetch.c, rules 6 to
# 11) against the policy hosts of the test world, through
# tests/tools/sts-fetch-probe, which resolves mta-sts.<domain> with
# strictmail's own resolver and fetches like the delivery process does.
# One world per scenario (sts-policy-bad-type, -too-large, -syntax,
# sts-bad-cert, sts-enforce); for each domain the probe's verdict and
# reason are checked, and the policy host's access log shows what was
# asked for: exactly one request per fetch that reached HTTP, none at all
# where the certificate failed during the handshake.
# The probe does not depend on SM_PRIV: it runs once.
# The redirect, 404 and 500 answers and the slow host are checked through
# strictmail itself in t-54 (the same fetcher, with the access log).
# scenarios: sts-policy-bad-type sts-policy-too-large sts-policy-syntax sts-bad-cert
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/../world/lib.sh"
[ "$SM_PRIV" = 0 ] || t_skip "the fetcher does not depend on SM_PRIV: checked once, with SM_PRIV=0"
world_init sts-enforce
probe=$(dirname "$SM_BIN")/tests/tools/sts-fetch-probe
[ -x "$probe" ] || t_fail "the probe at $probe" "none (make all / make asan)"

# The other worlds: one per scenario, each in its own namespace.
T51_WORLDS=""
t51_down() {
	local w
	for w in $T51_WORLDS; do
		WORLD_KEEP=$SM_KEEP "$W_CMD" down "$w" >/dev/null 2>&1
	done
	T51_WORLDS=""
}
trap 't51_down; world_cleanup 2>/dev/null' EXIT
trap 't51_down; world_cleanup 2>/dev/null; exit 130' INT
trap 't51_down; world_cleanup 2>/dev/null; exit 143' TERM

t51_up() {	# SCENARIO -> the world's name on stdout
	local name="t51-$1-$$" out
	T51_WORLDS="$T51_WORLDS $name"
	out=$("$W_CMD" up "$1" "$name" 2>&1) ||
	    t_fail "world up $1" "$(printf '%s' "$out" | tail -n 5 | tr '\n' '|')"
}

# probe_in WORLD TAG [OPTS...] -- DOMAIN...: the probe inside WORLD with
# that world's CA (and the variables of $T51_ENV in its environment); its
# output in $T_DIR/TAG.out, its stderr in TAG.log.
probe_in() {
	local w=$1 tag=$2 ca opts=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	ca=$("$W_CMD" ca "$w") || t_fail "the CA of world $w" "none"
	"$W_CMD" exec "$w" env ${T51_ENV:-} timeout 60 "$probe" "${opts[@]}" "$ca" "$@" \
	    > "$T_DIR/$tag.out" 2> "$T_DIR/$tag.log" ||
	    t_fail "the probe runs in $w ($tag)" \
	    "exit $?: $(tail -n 3 "$T_DIR/$tag.log" | tr '\n' '|')"
}

line() {	# TAG DOMAIN -> the probe's line for DOMAIN
	grep -m 1 "^$2 " "$T_DIR/$1.out"
}

# expect TAG DOMAIN WHAT PATTERN...: every extended regex must match the
# domain's line.
expect() {
	local tag=$1 dom=$2 what=$3 l p
	shift 3
	l=$(line "$tag" "$dom")
	[ -n "$l" ] || t_fail "a probe line for $dom ($what)" "none: $(cat "$T_DIR/$tag.out")"
	for p in "$@"; do
		printf '%s\n' "$l" | grep -Eq -- "$p" ||
		    t_fail "$dom: $what (/$p/)" "$l"
	done
}

# requests WORLD HOST URI MIN -> how many requests the policy host HOST
# answered (for URI, or any if ""); waits (bounded, 5 s) until nginx has
# logged at least MIN of them.
requests() {
	local i n
	for i in $(seq 1 50); do
		n=$(world_http_count "$1" "$2" "$3")
		[ "$n" -ge "$4" ] && break
		sleep 0.1
	done
	echo "$n"
}

one_request() {	# WORLD DOMAIN WHAT: exactly one request, for the policy URL
	local n
	n=$(requests "$1" "mta-sts.$2" "" 1)
	[ "$n" = 1 ] || t_fail "$2: exactly one request at the policy host ($3)" "$n"
	n=$(world_http_count "$1" "mta-sts.$2" /.well-known/mta-sts.txt)
	[ "$n" = 1 ] || t_fail "$2: the one request is for /.well-known/mta-sts.txt" "$n"
}

no_request() {	# WORLD HOST WHAT
	local n
	n=$(world_http_count "$1" "$2")
	[ "$n" = 0 ] || t_fail "no request at $2 ($3)" "$n"
}

FAIL0='^[^ ]+ fail .* len=0 '

# ---- sts-enforce: a good fetch, and rule 11
probe_in "$W_NAME" enforce -t 10 -o "$T_DIR" -- enforce.test
expect enforce enforce.test "a valid policy is fetched" \
    '^enforce.test ok status=200 type="text/plain" cert="verified" error="" len=[1-9]'
cmp -s "$T_DIR/enforce.test" "$W_DIR/http/www/mta-sts.enforce.test/mta-sts.txt" ||
    t_fail "the body as served, byte for byte" "$(head -c 200 "$T_DIR/enforce.test")"
one_request "$W_NAME" enforce.test "one fetch, one request"
# rule 11: only the address handed over is used.  Nothing listens at
# 127.0.2.99; the real policy host (127.0.2.1, in DNS) must get nothing.
probe_in "$W_NAME" handed -t 5 -a 127.0.2.99 -- enforce.test
expect handed enforce.test "rule 11: an address handed over where nothing listens fails" \
    "$FAIL0" 'error="connect to 127.0.2.99:443 failed: Connection refused"'
n=$(requests "$W_NAME" mta-sts.enforce.test "" 2)
[ "$n" = 1 ] || t_fail "rule 11: the policy host from DNS got no request from the fetch given another address" "$n requests in all"
# rule 11: libcurl never resolves by itself: /etc/hosts inside the world
# gives mta-sts.enforce.test a dead address; the probe resolves through
# the world's DNS (c-ares) and hands 127.0.2.1 over.
mkdir -p "/etc/netns/$W_NS"
printf '127.0.2.98 mta-sts.enforce.test\nfd00::2:98 mta-sts.enforce.test\n' > "/etc/netns/$W_NS/hosts"
probe_in "$W_NAME" hosts -t 5 -- enforce.test
rm -f "/etc/netns/$W_NS/hosts"
expect hosts enforce.test "rule 11: the address from DNS, not from /etc/hosts" \
    '^enforce.test ok status=200 ' 'addr="(127\.0\.2\.1|fd00::2:1)"'
n=$(requests "$W_NAME" mta-sts.enforce.test "" 2)
[ "$n" = 2 ] || t_fail "rule 11: the second good fetch reached the policy host from DNS" "$n requests in all"
# rule 10: no proxy from the environment (a proxy there would be refused
# by the open-socket callback too: nothing may go anywhere but 127.0.2.1).
T51_ENV="https_proxy=http://127.0.2.97:3128 HTTPS_PROXY=http://127.0.2.97:3128 ALL_PROXY=http://127.0.2.97:3128"
probe_in "$W_NAME" proxy -t 5 -- enforce.test
T51_ENV=
expect proxy enforce.test "rule 10: https_proxy in the environment is not used" \
    '^enforce.test ok status=200 ' 'addr="(127\.0\.2\.1|fd00::2:1)"'
n=$(requests "$W_NAME" mta-sts.enforce.test "" 3)
[ "$n" = 3 ] || t_fail "rule 10: the fetch with a proxy in the environment went to the policy host" "$n requests in all"
say "enforce, rule 11 (address handed over, no own resolving), rule 10 (no proxy): ok"

# ---- rule 8: media type text/plain, case and parameters ignored
t51_up sts-policy-bad-type; w=t51-sts-policy-bad-type-$$
probe_in "$w" type -t 10 -- htmltype.test notype.test params.test
expect type htmltype.test "rule 8: text/html fails" "$FAIL0" 'status=200 ' \
    'type="text/html"' 'error="media type \\"text/html\\" is not text/plain"'
expect type notype.test "rule 8: no Content-Type fails" "$FAIL0" 'type="" ' \
    'error="no Content-Type"'
expect type params.test "rule 8: TEXT/Plain;charset=utf-8 is accepted" \
    '^params.test ok status=200 type="TEXT/Plain;charset=utf-8" cert="verified" error="" len=[1-9]'
for d in htmltype.test notype.test params.test; do
	one_request "$w" "$d" "rule 8"
done
say "rule 8 media types: ok"

# ---- rule 9: larger than 64 KiB fails, with Content-Length and chunked
t51_up sts-policy-too-large; w=t51-sts-policy-too-large-$$
probe_in "$w" large -t 20 -o "$T_DIR" -- toolarge.test chunked.test fits.test
expect large toolarge.test "rule 9: 70000 bytes with Content-Length fail" \
    "$FAIL0" 'error="body larger than 65536 bytes"'
expect large chunked.test "rule 9: 70000 bytes chunked fail (never cut and used)" \
    "$FAIL0" 'error="body larger than 65536 bytes"'
expect large fits.test "rule 9: exactly 65536 bytes chunked are accepted" \
    '^fits.test ok status=200 .*error="" len=65536 '
[ ! -e "$T_DIR/toolarge.test" ] && [ ! -e "$T_DIR/chunked.test" ] ||
    t_fail "rule 9: no body of a too large answer is handed out" "a file"
cmp -s "$T_DIR/fits.test" "$("$W_CMD" dir "$w")/http/www/mta-sts.fits.test/mta-sts.txt" ||
    t_fail "rule 9: the 65536 bytes as served" "$(wc -c < "$T_DIR/fits.test") bytes differ"
for d in toolarge.test chunked.test fits.test; do
	one_request "$w" "$d" "rule 9"
done
say "rule 9 body size: ok"

# ---- rule 6: the policy host's certificate
t51_up sts-bad-cert; w=t51-sts-bad-cert-$$
probe_in "$w" cert -t 10 -- wrongname.test expired.test notyetvalid.test cnonly.test selfsigned.test
expect cert wrongname.test "rule 6: a certificate for www.<domain> fails" "$FAIL0" \
    'error="certificate: name mismatch: wanted mta-sts.wrongname.test' 'addr="127.0.2.1"'
expect cert expired.test "rule 6: an expired certificate fails" "$FAIL0" \
    'error="certificate: .*expired' 'addr="127.0.2.2"'
expect cert notyetvalid.test "rule 6: a certificate not yet valid fails" "$FAIL0" \
    'error="certificate: .*not yet valid' 'addr="127.0.2.3"'
expect cert cnonly.test "rule 6: a certificate with the name only in the CN fails" \
    "$FAIL0" 'cert="name mismatch: wanted mta-sts.cnonly.test, certificate has no DNS name"' \
    'error="certificate: name mismatch' 'addr="127.0.2.4"'
expect cert selfsigned.test "rule 6: a self-signed certificate fails" "$FAIL0" \
    'error="certificate: .*self-signed' 'addr="127.0.2.5"'
# libcurl accepts the CN-only certificate and sends the request: exactly
# one, whose answer is dropped at the end of its header (rule 6).  The
# others fail in the handshake or right after it: no request at all.
one_request "$w" cnonly.test "rule 6: CN only, refused by the verifier"
for d in wrongname expired notyetvalid selfsigned; do
	no_request "$w" "mta-sts.$d.test" "rule 6: the handshake with $d fails before any request"
done
say "rule 6 certificates: ok"

# ---- the policy bytes are handed over as served (the parser's rules 13 to 17 apply later)
t51_up sts-policy-syntax; w=t51-sts-policy-syntax-$$
probe_in "$w" syntax -t 10 -o "$T_DIR" -- quirky.test badversion.test nomaxage.test
for d in quirky badversion nomaxage; do
	expect syntax "$d.test" "fetched" "^$d.test ok status=200 "
	cmp -s "$T_DIR/$d.test" "$("$W_CMD" dir "$w")/http/www/mta-sts.$d.test/mta-sts.txt" ||
	    t_fail "$d: the body byte for byte (BOM, CRLF and LF kept)" "differs"
	one_request "$w" "$d.test" "syntax"
done
say "bodies byte for byte: ok"

t51_down
t_pass
