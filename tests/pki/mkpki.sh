#!/bin/sh
# mkpki.sh - the test PKI of strictmail, made with openssl at test time
# (no key is ever committed).  tests/pki/README describes every file.
#
#   mkpki.sh OUTDIR                       the CA, the intermediate and every
#                                         leaf variant (kept if present)
#   mkpki.sh issue OUTDIR NAME SAN...     one more leaf NAME.pem/NAME.key from
#                                         the CA: SAN is DNS:host or IP:addr;
#                                         the first SAN is also the CN; an
#                                         ECDSA P-256 key, RSA 2048 with
#                                         PKI_ISSUE_KEY=rsa
#   mkpki.sh check OUTDIR                 verifies what each variant is for
#
# The CA is reused when OUTDIR already has one, so a second run is fast
# and certificates issued earlier stay valid.  ECDSA P-256 keys, except
# the rsa variant (RSA 2048).  Runs under a lock on OUTDIR/.lock, so
# parallel callers may share OUTDIR.
set -eu

PKI_LEAF_DAYS=825
PKI_CA_DAYS=7300
PKI_NAMES="DNS:mx.example.test DNS:localhost IP:127.0.0.1"

die() {
	echo "mkpki.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: mkpki.sh OUTDIR | mkpki.sh issue OUTDIR NAME SAN... |" \
	    "mkpki.sh check OUTDIR" >&2
	exit 2
}

# ---- the openssl ca configuration ----

pki_cnf() {
	mkdir -p "$D"
	chmod 0700 "$D"
	cat > "$D/openssl.cnf" <<EOF
[ ca ]
default_ca = ca_root

[ ca_root ]
dir = $D/root
database = \$dir/index.txt
new_certs_dir = \$dir/new
certificate = $OUT/ca.pem
private_key = $OUT/ca.key
rand_serial = yes
default_md = sha256
default_days = $PKI_LEAF_DAYS
policy = pki_policy
unique_subject = no
copy_extensions = none

[ ca_int ]
dir = $D/int
database = \$dir/index.txt
new_certs_dir = \$dir/new
certificate = $OUT/intermediate.pem
private_key = $OUT/intermediate.key
rand_serial = yes
default_md = sha256
default_days = $PKI_LEAF_DAYS
policy = pki_policy
unique_subject = no
copy_extensions = none

[ pki_policy ]
organizationName = optional
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = strictmail test

[ ext_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_int ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_self ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
subjectAltName = $(echo "$PKI_NAMES" | sed 's/ /, /g')
EOF
	for d in root int; do
		mkdir -p "$D/$d/new"
		[ -f "$D/$d/index.txt" ] || : > "$D/$d/index.txt"
	done
}

# ---- keys and certificates ----

# pki_key FILE [rsa]
pki_key() {
	if [ "${2:-}" = rsa ]; then
		openssl genpkey -quiet -algorithm RSA \
		    -pkeyopt rsa_keygen_bits:2048 -out "$1.tmp"
	else
		openssl genpkey -quiet -algorithm EC \
		    -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp"
	fi
	chmod 0600 "$1.tmp"
	mv "$1.tmp" "$1"
}

# pki_leaf_ext FILE KEYTYPE SAN...: the extensions of a server leaf;
# no SAN at all when none is given.
pki_leaf_ext() {
	f=$1 kt=$2
	shift 2
	if [ "$kt" = rsa ]; then
		ku="digitalSignature, keyEncipherment"
	else
		ku="digitalSignature"
	fi
	{
		echo "[ ext_leaf ]"
		echo "basicConstraints = critical, CA:FALSE"
		echo "keyUsage = critical, $ku"
		echo "extendedKeyUsage = serverAuth, clientAuth"
		echo "subjectKeyIdentifier = hash"
		echo "authorityKeyIdentifier = keyid:always"
		if [ $# -gt 0 ]; then
			printf 'subjectAltName = %s' "$1"
			shift
			for s in "$@"; do
				printf ', %s' "$s"
			done
			echo
		fi
	} > "$f"
}

# pki_sign CA NAME KEYTYPE CN STARTDATE ENDDATE [SAN...]: signs NAME.key
# into NAME.crt with section CA (ca_root, ca_int).  Dates may be "-".
pki_sign() {
	ca=$1 name=$2 kt=$3 cn=$4 start=$5 end=$6
	shift 6
	pki_key "$OUT/$name.key" "$kt"
	openssl req -new -key "$OUT/$name.key" -subj "/O=strictmail test/CN=$cn" \
	    -out "$D/$name.csr"
	pki_leaf_ext "$D/$name.ext" "$kt" "$@"
	set -- -batch -notext -config "$D/openssl.cnf" -name "$ca" \
	    -extfile "$D/$name.ext" -extensions ext_leaf \
	    -in "$D/$name.csr" -out "$D/$name.crt"
	[ "$start" = - ] || set -- "$@" -startdate "$start"
	[ "$end" = - ] || set -- "$@" -enddate "$end"
	openssl ca "$@" 2>"$D/$name.log" ||
	    { cat "$D/$name.log" >&2; die "signing $name failed"; }
	rm -f "$D/$name.csr" "$D/$name.ext"
}

pki_root() {
	[ -s "$OUT/ca.pem" ] && [ -s "$OUT/ca.key" ] && return 0
	# A new CA: whatever was issued before is worthless now.
	rm -rf "$D"
	mkdir -p "$D"
	chmod 0700 "$D"
	find "$OUT" -maxdepth 1 \( -name '*.pem' -o -name '*.key' \) \
	    -exec rm -f {} +
	pki_cnf
	pki_key "$OUT/ca.key"
	openssl req -new -x509 -config "$D/openssl.cnf" -key "$OUT/ca.key" \
	    -subj "/O=strictmail test/CN=strictmail test CA" \
	    -days "$PKI_CA_DAYS" -extensions ext_root -out "$OUT/ca.pem.tmp"
	mv "$OUT/ca.pem.tmp" "$OUT/ca.pem"
}

pki_intermediate() {
	[ -s "$OUT/intermediate.pem" ] && [ -s "$OUT/intermediate.key" ] &&
	    return 0
	pki_key "$OUT/intermediate.key"
	openssl req -new -key "$OUT/intermediate.key" \
	    -subj "/O=strictmail test/CN=strictmail test intermediate CA" \
	    -out "$D/intermediate.csr"
	openssl ca -batch -notext -config "$D/openssl.cnf" -name ca_root \
	    -extensions ext_int -days "$PKI_CA_DAYS" \
	    -in "$D/intermediate.csr" -out "$OUT/intermediate.pem.tmp" \
	    2>"$D/intermediate.log" ||
	    { cat "$D/intermediate.log" >&2; die "signing the intermediate"; }
	mv "$OUT/intermediate.pem.tmp" "$OUT/intermediate.pem"
	rm -f "$D/intermediate.csr"
}

# pki_issue NAME KEYTYPE CA START END CN [SAN...]: NAME.pem is the leaf
# alone; dates may be "-" (now, and now plus PKI_LEAF_DAYS).
pki_issue() {
	name=$1 kt=$2 ca=$3 start=$4 end=$5 cn=$6
	shift 6
	pki_sign "$ca" "$name" "$kt" "$cn" "$start" "$end" "$@"
	mv "$D/$name.crt" "$OUT/$name.pem"
}

pki_selfsigned() {
	pki_key "$OUT/selfsigned.key"
	openssl req -new -x509 -config "$D/openssl.cnf" \
	    -key "$OUT/selfsigned.key" \
	    -subj "/O=strictmail test/CN=mx.example.test" \
	    -days "$PKI_LEAF_DAYS" -extensions ext_self \
	    -out "$OUT/selfsigned.pem"
}

# The intermediate's leaf, once without and once with the intermediate.
pki_chain() {
	pki_sign ca_int chain ec mx.example.test - - $PKI_NAMES
	cat "$D/chain.crt" "$OUT/intermediate.pem" > "$OUT/chain.pem"
	mv "$D/chain.crt" "$OUT/incomplete.pem"
	cp "$OUT/chain.key" "$OUT/incomplete.key"
}

# pki_have NAME: both files are there already.
pki_have() {
	[ -s "$OUT/$1.pem" ] && [ -s "$OUT/$1.key" ]
}

pki_variants() {
	past_start=20200101000000Z
	past_end=20210101000000Z
	future_start=$(date -u -d '+1 year' +%Y%m%d%H%M%SZ)
	future_end=$(date -u -d '+3 years' +%Y%m%d%H%M%SZ)
	mx=mx.example.test
	if ! pki_have valid; then
		pki_issue valid ec ca_root - - $mx $PKI_NAMES
	fi
	if ! pki_have rsa; then
		pki_issue rsa rsa ca_root - - $mx $PKI_NAMES
	fi
	if ! pki_have wrongname; then
		pki_issue wrongname ec ca_root - - other.example.test \
		    DNS:other.example.test
	fi
	if ! pki_have expired; then
		pki_issue expired ec ca_root "$past_start" "$past_end" $mx \
		    $PKI_NAMES
	fi
	if ! pki_have notyetvalid; then
		pki_issue notyetvalid ec ca_root "$future_start" \
		    "$future_end" $mx $PKI_NAMES
	fi
	if ! pki_have wildcard; then
		pki_issue wildcard ec ca_root - - '*.example.test' \
		    'DNS:*.example.test'
	fi
	if ! pki_have cnonly; then
		pki_issue cnonly ec ca_root - - $mx
	fi
	if ! pki_have ipsan; then
		pki_issue ipsan ec ca_root - - 127.0.1.1 IP:127.0.1.1
	fi
	if ! pki_have selfsigned; then
		pki_selfsigned
	fi
	if ! pki_have chain || ! pki_have incomplete; then
		pki_chain
	fi
}

# ---- the self-check ----

CHECK_FAILS=0

check_fail() {
	echo "mkpki.sh check: $*" >&2
	CHECK_FAILS=$((CHECK_FAILS + 1))
}

# check_verify NAME ok|ERRNUM: openssl verify against ca.pem passes, or
# fails with that X509_V_ERR number; in a file with a chain, the
# certificates after the first are untrusted intermediates.
check_verify() {
	f=$OUT/$1.pem
	n=$(grep -c 'BEGIN CERTIFICATE' "$f")
	if [ "$n" -gt 1 ]; then
		awk 'f; /END CERTIFICATE/ && !f { f = 1 }' "$f" > "$D/untrusted.pem"
		set -- "$1" "$2" -untrusted "$D/untrusted.pem"
	fi
	name=$1 want=$2
	shift 2
	if out=$(openssl verify -x509_strict -purpose sslserver \
	    -CAfile "$OUT/ca.pem" "$@" "$f" 2>&1); then
		got=ok
	else
		got=$(echo "$out" | sed -n 's/^error \([0-9]*\) at .*/\1/p' |
		    head -n 1)
	fi
	[ "$got" = "$want" ] ||
	    check_fail "openssl verify $name: expected $want, got $got ($out)"
	rm -f "$D/untrusted.pem"
}

# check_host NAME HOST yes|no (DNS name) and check_ip NAME ADDR yes|no
check_name() {
	opt=$1 name=$2 host=$3 want=$4
	if openssl x509 -noout -in "$OUT/$name.pem" "$opt" "$host" 2>&1 |
	    grep -q 'does match'; then
		got=yes
	else
		got=no
	fi
	[ "$got" = "$want" ] ||
	    check_fail "$name $opt $host: expected $want, got $got"
}

# check_san NAME yes|no: has a subjectAltName extension at all
check_san() {
	if openssl x509 -noout -in "$OUT/$1.pem" -ext subjectAltName 2>&1 |
	    grep -q 'Alternative Name'; then
		got=yes
	else
		got=no
	fi
	[ "$got" = "$2" ] || check_fail "$1 has a SAN: expected $2, got $got"
}

# check_pair NAME: the key belongs to the (first) certificate
check_pair() {
	a=$(openssl x509 -noout -pubkey -in "$OUT/$1.pem" | openssl sha256)
	b=$(openssl pkey -pubout -in "$OUT/$1.key" | openssl sha256)
	[ "$a" = "$b" ] || check_fail "$1.key does not belong to $1.pem"
}

pki_check() {
	for n in valid rsa wrongname expired notyetvalid selfsigned wildcard \
	    cnonly ipsan incomplete chain; do
		if pki_have "$n"; then
			check_pair "$n"
		else
			check_fail "$n.pem or $n.key is missing"
			return
		fi
	done
	for n in valid rsa wildcard ipsan chain wrongname cnonly; do
		check_verify "$n" ok
	done
	check_verify expired 10		# X509_V_ERR_CERT_HAS_EXPIRED
	check_verify notyetvalid 9	# X509_V_ERR_CERT_NOT_YET_VALID
	check_verify selfsigned 18	# X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
	check_verify incomplete 20	# X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
	check_name -checkhost valid mx.example.test yes
	check_name -checkhost valid localhost yes
	check_name -checkip valid 127.0.0.1 yes
	check_name -checkhost rsa mx.example.test yes
	check_name -checkhost wrongname mx.example.test no
	check_name -checkhost wrongname other.example.test yes
	check_name -checkhost wildcard mx.example.test yes
	check_name -checkhost wildcard a.b.example.test no
	check_name -checkhost wildcard example.test no
	check_name -checkhost chain mx.example.test yes
	check_name -checkip ipsan 127.0.1.1 yes
	check_name -checkip ipsan 127.0.0.1 no
	check_san cnonly no
	check_san valid yes
	# CN only: openssl would fall back to the CN; strictmail never does.
	check_name -checkhost cnonly mx.example.test yes
	[ "$(grep -c 'BEGIN CERTIFICATE' "$OUT/chain.pem")" = 2 ] ||
	    check_fail "chain.pem: expected 2 certificates"
	[ "$(grep -c 'BEGIN CERTIFICATE' "$OUT/incomplete.pem")" = 1 ] ||
	    check_fail "incomplete.pem: expected 1 certificate"
	if [ "$CHECK_FAILS" -gt 0 ]; then
		die "$CHECK_FAILS check(s) failed"
	fi
	echo "mkpki.sh check: all variants as expected"
}

# ---- main ----

pki_lock() {
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
	D=$OUT/.ca
	if command -v flock > /dev/null 2>&1; then
		exec 9> "$OUT/.lock"
		flock 9
	fi
	# Certificates readable by all (test clients, servers' workers); keys
	# and the CA's files are private (pki_key, .ca).
	umask 022
}

pki_setup() {
	pki_lock
	pki_root
	pki_cnf
	pki_intermediate
}

[ $# -ge 1 ] || usage
command -v openssl > /dev/null 2>&1 || die "openssl is not installed"
case $1 in
issue)
	[ $# -ge 4 ] || usage
	OUT=$2 NAME=$3
	shift 3
	case $NAME in
	''|*/*|.*|ca|intermediate) die "bad leaf name '$NAME'" ;;
	esac
	for s in "$@"; do
		case $s in
		DNS:?*|IP:?*) ;;
		*) die "bad subject alternative name '$s' (DNS:name or IP:addr)" ;;
		esac
	done
	case ${PKI_ISSUE_KEY:-ec} in
	ec|rsa) ;;
	*) die "PKI_ISSUE_KEY: ec or rsa, not '$PKI_ISSUE_KEY'" ;;
	esac
	pki_setup
	pki_issue "$NAME" "${PKI_ISSUE_KEY:-ec}" ca_root - - "${1#*:}" "$@"
	;;
check)
	[ $# -eq 2 ] || usage
	OUT=$2
	pki_lock
	pki_check
	;;
-*)
	usage
	;;
*)
	[ $# -eq 1 ] || usage
	OUT=$1
	pki_setup
	pki_variants
	;;
esac
