#!/bin/bash
# t-47-tls-groups: the key-exchange groups with OpenSSL on the other side.
# Receiver (ECDSA P-256 certificate from the test CA): openssl s_client
# -starttls smtp (25) and -connect (465) gets "Server Temp Key: X25519"
# with its default groups and when it lists P-384 and P-256 before X25519
# (the server's order decides); P-256 when the client offers P-384 and
# P-256, and when it offers P-256 alone (the session then goes on to 221).
# Delivery client: relay-host [127.0.0.2]:465 (implicit TLS) is openssl
# s_server -rev limited to P-256; it records the groups our client offers,
# exactly x25519, secp256r1, secp384r1 in that order, and a completed
# ECDHE handshake (the server speaks no SMTP: the message is deferred).
. "$(dirname "$0")/lib.sh"
t_init
t_need openssl swaks

pki=$T_DIR/pki
sm_pki "$pki"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "hostname mx.example.test" \
    "listen 127.0.0.1 25 smtp" "listen 127.0.0.1 465 tls" \
    "tls-certificate $pki/valid.pem" "tls-key $pki/valid.key" \
    "tls-ca-file $pki/ca.pem" "relay-network 127.0.0.1/32" \
    "relay-host [127.0.0.2]:465" "retry-initial 1h"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

# ------------------------------------------------------------- receiver

# temp_key NAME WANT ARGS...: one s_client session; its "Server Temp Key"
# must start with WANT, and QUIT inside TLS must get 221.
temp_key() {
	local name=$1 want=$2 out got
	shift 2
	out=$(printf 'QUIT\n' | ip netns exec "$T_NS" timeout 30 openssl s_client \
	    -CAfile "$pki/ca.pem" -crlf -ign_eof "$@" 2>&1)
	printf '%s\n' "$out" > "$T_DIR/s_client-$name.out"
	got=$(printf '%s\n' "$out" | sed -n 's/^Server Temp Key: //p' | head -n 1)
	case "$got" in
	"$want"*) ;;
	*) t_fail "openssl s_client $name: 'Server Temp Key: $want'" \
		"'${got:-none}' $(printf '%s\n' "$out" | grep -E '^(New|.*alert|.*error)' | head -n 2 | tr '\n' '|')" ;;
	esac
	printf '%s\n' "$out" | grep -Eq '^New, TLSv1\.2, Cipher is ECDHE-ECDSA-' ||
	    t_fail "openssl s_client $name: 'New, TLSv1.2, Cipher is ECDHE-ECDSA-...'" \
		"$(printf '%s\n' "$out" | grep -E '^New' | head -n 1)"
	printf '%s\n' "$out" | grep -Eq '^221 2\.0\.0' ||
	    t_fail "openssl s_client $name: 221 2.0.0 to QUIT inside TLS" \
		"$(printf '%s\n' "$out" | grep -E '^[0-9]{3}' | tail -n 2 | tr '\n' '|')"
	say "openssl s_client $name: Server Temp Key: $got"
}

st="-starttls smtp -connect 127.0.0.1:25"
# shellcheck disable=SC2086
{
temp_key starttls-default X25519 $st
temp_key implicit-default X25519 -connect 127.0.0.1:465
temp_key starttls-p384-first X25519 $st -groups P-384:P-256:X25519
temp_key implicit-p384-first X25519 -connect 127.0.0.1:465 -groups P-384:P-256:X25519
temp_key starttls-no-x25519 "ECDH, prime256v1" $st -groups P-384:P-256
temp_key starttls-p256 "ECDH, prime256v1" $st -groups P-256
temp_key implicit-p256 "ECDH, prime256v1" -connect 127.0.0.1:465 -groups P-256
}

# --------------------------------------------------------------- client

ip -n "$T_NS" addr add 127.0.0.2/8 dev lo 2>/dev/null
srv=$T_DIR/s_server.out
ip netns exec "$T_NS" openssl s_server -accept 127.0.0.2:465 -rev -naccept 1 \
    -cert "$pki/valid.pem" -key "$pki/valid.key" -groups P-256 \
    > "$srv" 2>&1 </dev/null &
spid=$!
T_HELPERS="$T_HELPERS $spid"
for i in $(seq 1 100); do
	grep -q '^ACCEPT' "$srv" && break
	pid_alive "$spid" || break
	sleep 0.05
done
grep -q '^ACCEPT' "$srv" || t_fail "openssl s_server on 127.0.0.2:465" \
    "$(head -n 3 "$srv" | tr '\n' '|')"

out=$(ip netns exec "$T_NS" timeout 60 swaks --server 127.0.0.1:25 \
    --helo client.test --from sender@example.org --to someone@example.net 2>&1)
printf '%s\n' "$out" | grep -Eq '^ *<- +250 2\.0\.0 Ok: queued as ' ||
    t_fail "swaks: 250 for a message to relay" \
	"$(printf '%s\n' "$out" | grep -E '^ *<-' | tail -n 2 | tr '\n' '|')"

# The relay host prints the ClientHello's groups once the handshake is
# complete ("Ciphersuite:" comes after SSL_accept succeeded).
for i in $(seq 1 300); do
	grep -q '^Supported groups:' "$srv" && break
	pid_alive "$spid" || break
	sleep 0.1
done
groups=$(sed -n 's/^Supported groups: //p' "$srv")
[ "$groups" = "x25519:secp256r1:secp384r1" ] ||
    t_fail "the delivery client to offer 'x25519:secp256r1:secp384r1'" \
	"'${groups:-nothing}' $(grep -iE 'error|alert' "$srv" | head -n 2 | tr '\n' '|')"
suite=$(sed -n 's/^Ciphersuite: //p' "$srv")
case "$suite" in
ECDHE-ECDSA-*GCM*|ECDHE-ECDSA-CHACHA20*) ;;
*) t_fail "a completed ECDHE handshake with the P-256-only relay host" \
	"ciphersuite '${suite:-none}'" ;;
esac
say "delivery client: offered $groups; handshake with a P-256-only server: $suite"

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
