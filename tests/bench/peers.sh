# shellcheck shell=bash
# peers.sh - OpenSMTPD and chasquid as acceptance peers of make bench
# (sourced by bench.sh, which provides D, NS, CERT, KEY, say, wait_listen,
# measure and stop_group).  Both are Debian 12's packages, unpacked
# privately by tests/deps.sh into build-deps/ (never installed, never
# enabled), each with its own spool under BENCH_DIR (the file system of
# the other spools) and its default durability.  OpenSMTPD, like Postfix,
# keeps what it accepted: the mail goes to a relay host that refuses
# connections (127.0.0.99:2), so it stays queued and nothing but
# reception is measured.  chasquid cannot: its queue takes at most 200
# messages ("Queue size too big" after that), so it delivers each one at
# once to the cheapest destination, a pipe alias root: | /bin/true
# (one fork and exec per message, which the other peers do not pay); its
# mail log's "queued" lines count what it accepted.
#
# OpenSMTPD 6.8.0p2 cannot finish a TLS handshake as a server with
# Debian 12's OpenSSL 3 (see tests/world/mx/mx-start): its STARTTLS rows
# say "no-tls".

OS_ADDR=127.0.0.3
CQ_ADDR=127.0.0.4
OS_PID=
CQ_PID=
OS_VERSION=
CQ_VERSION=
PEER_WHY=

# ---- chasquid

# What chasquid accepted: its mail log's "queued" lines.
cq_count() {
	grep -c ' queued ' "$D/cq/mail.log" 2>/dev/null || true
}

# start_chasquid: CQ_PID set, or the reason in PEER_WHY and 1.
start_chasquid() {
	local c=$D/cq why
	why=$(priv_missing chasquid usr/bin/chasquid)
	[ -z "$why" ] || { PEER_WHY=$why; return 1; }
	mkdir -p "$c/etc/domains/localhost" "$c/etc/certs/bench.test" "$c/data"
	cp "$CERT" "$c/etc/certs/bench.test/fullchain.pem"
	cp "$KEY" "$c/etc/certs/bench.test/privkey.pem"
	echo "root: | /bin/true" > "$c/etc/domains/localhost/aliases"
	cat > "$c/etc/chasquid.conf" <<EOF
hostname: "bench.test"
smtp_address: "$CQ_ADDR:25"
submission_address: "$CQ_ADDR:587"
submission_over_tls_address: "$CQ_ADDR:465"
data_dir: "$c/data"
mail_log_path: "$c/mail.log"
EOF
	ip netns exec "$NS" env LD_LIBRARY_PATH="$(priv_libpath chasquid)" setsid \
	    "$(priv_root chasquid)/usr/bin/chasquid" -config_dir "$c/etc" \
	    -logfile "$c/chasquid.log" >"$c/out" 2>&1 </dev/null &
	CQ_PID=$!
	if ! wait_listen "$CQ_ADDR" 20; then
		PEER_WHY="chasquid does not listen on $CQ_ADDR:25: $(tail -n 3 "$c/chasquid.log" "$c/out" | tr '\n' ' ')"
		return 1
	fi
	CQ_VERSION=$(priv_run chasquid usr/bin/chasquid -version 2>&1 | head -n 1)
	return 0
}

# ---- OpenSMTPD

os_count() {
	find "$D/os/spool/smtpd/queue" -type f -name message 2>/dev/null | wc -l
}

# start_opensmtpd: OS_PID set, or the reason in PEER_WHY and 1.
start_opensmtpd() {
	local os=$D/os root why u i
	why=$(priv_missing opensmtpd usr/sbin/smtpd)
	[ -z "$why" ] || { PEER_WHY=$why; return 1; }
	root=$(priv_root opensmtpd)
	# The users its Debian build drops privileges to (as the test world's
	# MX role creates them).
	for u in opensmtpd opensmtpq; do
		for i in $(seq 1 50); do
			id "$u" >/dev/null 2>&1 && break
			getent group "$u" >/dev/null || groupadd --system "$u" 2>/dev/null || true
			useradd --system --no-create-home -g "$u" -d /var/lib/opensmtpd/empty \
			    -s /usr/sbin/nologin "$u" 2>/dev/null || sleep 0.1
		done
		id "$u" >/dev/null 2>&1 || { PEER_WHY="cannot create the user $u"; return 1; }
	done
	# Private stand-ins for the paths compiled into smtpd, mounted over
	# /var/spool, /var/lib and /run in its own mount namespace.
	mkdir -p "$os/spool" "$os/varlib/opensmtpd/empty" "$os/run"
	chmod 0755 "$os" "$os/spool" "$os/varlib" "$os/varlib/opensmtpd" "$os/run"
	chmod 0711 "$os/varlib/opensmtpd/empty"
	cat > "$os/smtpd.conf" <<EOF
# A private OpenSMTPD for make bench: accepts for localhost and keeps it
# (its relay host refuses connections), default durability.
listen on $OS_ADDR port 25 hostname bench.test
action "held" relay host smtp://127.0.0.99:2
match from any for domain localhost action "held"
EOF
	LD_LIBRARY_PATH=$(priv_libpath opensmtpd) "$root/usr/sbin/smtpd" -n -f "$os/smtpd.conf" \
	    >"$os/check.log" 2>&1 || { PEER_WHY="smtpd -n: $(head -n 3 "$os/check.log" | tr '\n' ' ')"; return 1; }
	ip netns exec "$NS" env LD_LIBRARY_PATH="$(priv_libpath opensmtpd)" setsid \
	    unshare -m --propagation private sh -c '
		set -e
		os=$1 root=$2
		shift 2
		mount --bind "$root/usr/libexec" /usr/libexec
		mount --bind "$os/spool" /var/spool
		mount --bind "$os/varlib" /var/lib
		mount --bind "$os/run" /run
		exec "$@"
	' sh "$os" "$root" "$root/usr/sbin/smtpd" -d -f "$os/smtpd.conf" \
	    >"$os/smtpd.log" 2>&1 </dev/null &
	OS_PID=$!
	if ! wait_listen "$OS_ADDR" 20; then
		PEER_WHY="OpenSMTPD does not listen on $OS_ADDR:25: $(tail -n 3 "$os/smtpd.log" | tr '\n' ' ')"
		return 1
	fi
	OS_VERSION=$(cat "$root/.version" 2>/dev/null)
	return 0
}
