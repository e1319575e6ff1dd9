#!/bin/bash
# t-32-tls-refuse: on every TLS listener (smtp 25 and submission 587 with
# STARTTLS, implicit TLS on 465) the handshake fails for a client that
# offers only TLS 1.1 or TLS 1.0, and for a TLS 1.2 client that offers only
# AES128-SHA, or only suites without ECDHE or without AES-GCM/ChaCha20.
# The daemon runs with the RSA certificate of the test CA, so that the
# RSA suites would be possible if the server allowed them; and each
# refused client setting is first shown to work against openssl s_server
# (a control: the failure is the server's refusal, not the client's own
# limits).  A default client still gets TLSv1.2 with ECDHE and AES-GCM or
# ChaCha20, plaintext sent after "220 2.0.0" instead of a handshake is
# never taken as a command, and the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
t_init
t_need openssl

pki=$T_DIR/pki
sm_pki "$pki"
[ -s "$pki/rsa.pem" ] && [ -s "$pki/rsa.key" ] ||
    t_fail "rsa.pem and rsa.key from mkpki.sh" "$(ls "$pki" | tr '\n' ' ')"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "hostname mx.example.test" \
    "listen 127.0.0.1 25 smtp" "listen 127.0.0.1 587 submission" \
    "listen 127.0.0.1 465 tls" \
    "tls-certificate $pki/rsa.pem" "tls-key $pki/rsa.key" \
    "relay-network 127.0.0.1/32"
sm_start_ready "$conf" "$log"
say "strictmaild running (RSA certificate), pid $SM_PID"

# Client settings that must be refused: name and s_client options.
refused_names=(tls1_1 tls1_0 aes128-sha ecdhe-cbc rsa-gcm)
declare -A refused=(
	[tls1_1]="-tls1_1 -cipher DEFAULT:@SECLEVEL=0"
	[tls1_0]="-tls1 -cipher DEFAULT:@SECLEVEL=0"
	[aes128-sha]="-tls1_2 -cipher AES128-SHA"
	[ecdhe-cbc]="-tls1_2 -cipher ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384"
	[rsa-gcm]="-tls1_2 -cipher AES128-GCM-SHA256:AES256-GCM-SHA384"
)
declare -A control_proto=(
	[tls1_1]="TLSv1.1" [tls1_0]="TLSv1" [aes128-sha]="TLSv1.2"
	[ecdhe-cbc]="TLSv1.2" [rsa-gcm]="TLSv1.2"
)

# s_client OUTFILE ARGS...: a handshake; its status is the exit code.
s_client() {
	local out=$1
	shift
	printf 'QUIT\n' | ip netns exec "$T_NS" timeout 30 openssl s_client \
	    -CAfile "$pki/ca.pem" -crlf -ign_eof "$@" > "$out" 2>&1
}

# Did the handshake in OUTFILE complete (a cipher was agreed)?
handshake_done() {
	grep -Eq '^New, (TLSv1(\.[0-3])?|SSLv3), Cipher is [A-Z0-9]' "$1" &&
	    ! grep -q 'Cipher is (NONE)' "$1"
}

# 1. The controls: each refused setting works against openssl s_server
#    that allows it.
port=4433
for n in "${refused_names[@]}"; do
	port=$((port + 1))
	# shellcheck disable=SC2086
	ip netns exec "$T_NS" openssl s_server -accept "127.0.0.1:$port" \
	    -cert "$pki/rsa.pem" -key "$pki/rsa.key" -naccept 1 -quiet \
	    ${refused[$n]} > "$T_DIR/s_server-$n.out" 2>&1 </dev/null &
	spid=$!
	T_HELPERS="$T_HELPERS $spid"
	for i in $(seq 1 100); do
		sm_listening "$port" && break
		pid_alive "$spid" || break
		sleep 0.05
	done
	sm_listening "$port" || t_fail "openssl s_server for the control of $n" \
	    "$(head -n 3 "$T_DIR/s_server-$n.out" | tr '\n' '|')"
	# shellcheck disable=SC2086
	s_client "$T_DIR/control-$n.out" -connect "127.0.0.1:$port" ${refused[$n]}
	handshake_done "$T_DIR/control-$n.out" &&
	    grep -Eq "^ *Protocol *: ${control_proto[$n]//./\\.}\$" "$T_DIR/control-$n.out" ||
	    t_fail "control: client '${refused[$n]}' completes a ${control_proto[$n]} handshake with openssl s_server" \
		"$(grep -E '^(New|.*error|.*alert)|Protocol' "$T_DIR/control-$n.out" | head -n 3 | tr '\n' '|')"
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	say "control $n: $(grep -E '^New, ' "$T_DIR/control-$n.out" | head -n 1)"
done

# 2. Each refused setting on each TLS listener: no handshake.
listeners=("starttls-25:-starttls smtp -connect 127.0.0.1:25"
	   "starttls-587:-starttls smtp -connect 127.0.0.1:587"
	   "implicit-465:-connect 127.0.0.1:465")
for l in "${listeners[@]}"; do
	lname=${l%%:*}
	largs=${l#*:}
	for n in "${refused_names[@]}"; do
		out=$T_DIR/refuse-$lname-$n.out
		# shellcheck disable=SC2086
		s_client "$out" $largs ${refused[$n]}
		rc=$?
		if handshake_done "$out"; then
			t_fail "no handshake on $lname for a client with '${refused[$n]}'" \
			    "$(grep -E '^New, |Protocol *:' "$out" | head -n 2 | tr '\n' '|')"
		fi
		[ "$rc" != 0 ] || t_fail "openssl s_client to fail on $lname with '${refused[$n]}'" "exit 0"
		say "$lname refuses $n (s_client exit $rc: $(grep -m1 -E 'alert|error' "$out" | cut -c1-100))"
	done
done

# 3. A default client still works everywhere, with the RSA certificate.
CIPHER_RE='ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)'
for l in "${listeners[@]}"; do
	lname=${l%%:*}
	out=$T_DIR/ok-$lname.out
	# shellcheck disable=SC2086
	s_client "$out" ${l#*:} -verify_hostname mx.example.test
	grep -Eq "^New, TLSv1\.2, Cipher is $CIPHER_RE\$" "$out" &&
	    grep -q 'Verify return code: 0 (ok)' "$out" &&
	    grep -Eq '^221 2\.0\.0' "$out" ||
	    t_fail "a default client on $lname: TLSv1.2, $CIPHER_RE, verified, 221 to QUIT" \
		"$(grep -E '^New, |Verify return code|^[0-9]{3} ' "$out" | head -n 4 | tr '\n' '|')"
	say "$lname: default client ok: $(grep -E '^New, ' "$out" | head -n 1)"
done

# 4. Plaintext instead of a ClientHello after STARTTLS is no command.
sm_py_fg - <<'EOF' || t_fail_py
from smtest import Raw, Checker
T = Checker()
for port in (25, 587):
    r = Raw('127.0.0.1', port, timeout=15)
    r.reply()
    r.send('EHLO client.test\r\n')
    r.reply()
    r.send('STARTTLS\r\n')
    code, lines = r.reply()
    T.check('%d: 220 to STARTTLS' % port, code == 220, 220, (code, lines))
    r.send('MAIL FROM:<evil@example.org>\r\nRCPT TO:<root@localhost>\r\nNOOP\r\n')
    got = b''
    try:
        while len(got) < 4096:
            chunk = r.sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    T.check('%d: plaintext after 220 is not answered as commands, the '
            'connection ends' % port, not got.startswith((b'250', b'503', b'500')),
            'a TLS alert or nothing, then EOF', got[:120])
    r.close()
T.done()
EOF
say "plaintext after STARTTLS: never answered as commands"

# 5. The daemon survived all of it.
out=$T_DIR/final.out
s_client "$out" -starttls smtp -connect 127.0.0.1:25
grep -Eq "^New, TLSv1\.2, Cipher is $CIPHER_RE\$" "$out" ||
    t_fail "a handshake on 25 after the refusals" "$(grep -E '^New, ' "$out" | head -n 1)"
pid_alive "$SM_PID" || t_fail "strictmaild running after the refused handshakes" "it exited"

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
