#!/bin/sh
# Install every Debian package strictmail needs to build, run and test.
# Checks with dpkg-query first; runs apt-get update only when something is
# missing; never lets a package start its service (temporary policy-rc.d).
set -eu

PKGS="build-essential pkg-config libmbedtls-dev libc-ares-dev libcurl4-openssl-dev
libdb-dev libcmocka-dev libcrypt-dev libidn2-dev openssl ca-certificates
swaks libnet-ssleay-perl postfix strace python3 iproute2 util-linux e2fsprogs procps
dnsmasq-base nginx bind9-dnsutils curl
clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
prc=/usr/sbin/policy-rc.d
had_prc=0
if [ -e "$prc" ]; then had_prc=1; cp -p "$prc" "$prc.strictmail-save"; fi
restore() {
	if [ "$had_prc" = 1 ]; then mv -f "$prc.strictmail-save" "$prc"; else rm -f "$prc"; fi
}
trap restore EXIT INT TERM
printf '#!/bin/sh\nexit 101\n' > "$prc"
chmod 755 "$prc"

export DEBIAN_FRONTEND=noninteractive
# postfix asks questions through debconf; answer them in advance.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
