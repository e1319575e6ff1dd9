#!/bin/sh
# Install every Debian package strictmail needs to build, run and test,
# and unpack OpenSMTPD for the test world.  Every download the tests need
# happens here, before any test and outside any network namespace: a test
# that finds something missing fails and names this script.
#
# Packages: checked with dpkg-query first; apt-get update runs only when
# something is missing; no package may start its service (temporary
# policy-rc.d).
#
# OpenSMTPD (a remote MX role of tests/world/mx): Debian's opensmtpd
# conflicts with postfix, so it is never installed.  apt-get download
# fetches its .deb into build-deps/debs/ and dpkg -x unpacks it into
# build-deps/opensmtpd/ (ROOT/usr/sbin/smtpd), inside the clone.  Library
# packages it depends on that are not installed are unpacked there too;
# ROOT/libpath then lists their folders relative to ROOT (for
# LD_LIBRARY_PATH).  ROOT/.version records the package version.  The
# tree is kept when it is complete, its smtpd finds its libraries and
# runs, and its version is the one apt would give (when the package lists
# say); otherwise it is unpacked again.  "make clean" removes build-deps/.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
DEPS=$TOP/build-deps
OSROOT=$DEPS/opensmtpd

PKGS="build-essential pkg-config libmbedtls-dev libc-ares-dev libcurl4-openssl-dev
libdb-dev libcmocka-dev libcrypt-dev libidn2-dev openssl ca-certificates
swaks libnet-ssleay-perl postfix strace python3 iproute2 util-linux e2fsprogs procps
dnsmasq-base nginx bind9-dnsutils curl
clang libclang-rt-14-dev"

export DEBIAN_FRONTEND=noninteractive
UPDATED=0

die() {
	echo "deps.sh: $*" >&2
	exit 1
}

installed() {
	case $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) in
	*"install ok installed"*) return 0 ;;
	*) return 1 ;;
	esac
}

apt_update() {
	[ "$UPDATED" = 1 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "apt-get update needs root: run sh tests/deps.sh as root"
	apt-get update -q
	UPDATED=1
}

# ---------------------------------------------------------------- packages

install_packages() {
	missing=""
	for p in $PKGS; do
		installed "$p" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0

	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: missing packages:$missing" >&2
		echo "deps.sh: run as root (or: sudo apt-get install$missing)" >&2
		exit 1
	fi

	echo "deps.sh: installing:$missing"
	prc=/usr/sbin/policy-rc.d
	had_prc=0
	if [ -e "$prc" ]; then had_prc=1; cp -p "$prc" "$prc.strictmail-save"; fi
	trap restore_prc EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	printf '#!/bin/sh\nexit 101\n' > "$prc"
	chmod 755 "$prc"

	# postfix asks questions through debconf; answer them in advance.
	echo "postfix postfix/main_mailer_type select No configuration" |
	    debconf-set-selections 2>/dev/null || true
	apt_update
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
	trap - EXIT INT TERM
	restore_prc
}

restore_prc() {
	if [ "$had_prc" = 1 ]; then
		mv -f "$prc.strictmail-save" "$prc"
	else
		rm -f "$prc"
	fi
}

# ---------------------------------------------------------------- OpenSMTPD

# candidate PACKAGE: the version apt would give, empty when the package
# lists do not know it.
candidate() {
	apt-cache policy "$1" 2>/dev/null |
	    sed -n 's/^ *Candidate: *//p' | grep -v '^(none)$' | head -n 1
}

# tree_ok ROOT: the unpacked tree is complete and its smtpd runs.
tree_ok() {
	[ -f "$1/.version" ] && [ -x "$1/usr/sbin/smtpd" ] || return 1
	lp=""
	if [ -s "$1/libpath" ]; then
		lp=$(sed "s|^|$1/|" "$1/libpath" | paste -sd: -)
	fi
	if LD_LIBRARY_PATH=$lp ldd "$1/usr/sbin/smtpd" 2>&1 | grep -q 'not found'; then
		return 1
	fi
	# smtpd -h prints its usage (and exits 1): it loads and runs.
	LD_LIBRARY_PATH=$lp "$1/usr/sbin/smtpd" -h 2>&1 | grep -q '^usage: smtpd'
}

# fetch PACKAGE VERSION: the path of its .deb in DEPS/debs.
fetch() {
	deb=$(ls "$DEPS/debs/$1"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -n "$deb" ] && [ "$(dpkg-deb -f "$deb" Version)" = "$2" ]; then
		echo "$deb"
		return 0
	fi
	rm -f "$DEPS/debs/$1"_*.deb
	# _apt must be able to write the .deb (else apt warns, and copes).
	chmod 0755 "$DEPS" "$DEPS/debs"
	(cd "$DEPS/debs" && apt-get download -q "$1=$2" > "$DEPS/apt.log" 2>&1) ||
	    { cat "$DEPS/apt.log" >&2; die "apt-get download $1=$2 failed"; }
	deb=$(ls "$DEPS/debs/$1"_*.deb 2>/dev/null | head -n 1 || true)
	[ -n "$deb" ] || die "no .deb for $1 after apt-get download"
	echo "$deb"
}

unpack_opensmtpd() {
	mkdir -p "$DEPS/debs"
	exec 9> "$DEPS/.lock"
	flock -w 600 9 || die "cannot lock $DEPS/.lock"

	want=$(candidate opensmtpd)
	if tree_ok "$OSROOT"; then
		have=$(cat "$OSROOT/.version")
		# Without package lists, a complete tree that runs is kept.
		if [ -z "$want" ] || [ "$want" = "$have" ]; then
			exec 9>&-
			return 0
		fi
		echo "deps.sh: OpenSMTPD $have unpacked, apt has $want: unpacking again"
	fi
	if [ -z "$want" ]; then
		apt_update
		want=$(candidate opensmtpd)
		[ -n "$want" ] || die "apt knows no opensmtpd package"
	fi
	echo "deps.sh: unpacking OpenSMTPD $want into $OSROOT"

	tmp=$OSROOT.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	deb=$(fetch opensmtpd "$want")
	dpkg -x "$deb" "$tmp"
	[ -x "$tmp/usr/sbin/smtpd" ] || die "no usr/sbin/smtpd in $deb"

	# Libraries that ldd cannot find: unpack the library packages
	# opensmtpd depends on that are not installed.
	: > "$tmp/libpath"
	if ldd "$tmp/usr/sbin/smtpd" | grep -q 'not found'; then
		for p in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' |
		    sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep '^lib' || true); do
			installed "$p" && continue
			v=$(candidate "$p")
			[ -n "$v" ] || die "apt knows no $p (a library opensmtpd needs)"
			dpkg -x "$(fetch "$p" "$v")" "$tmp"
		done
		(cd "$tmp" && find . -name '*.so*' -type f -exec dirname {} \; |
		    sed 's|^\./||' | sort -u) > "$tmp/libpath"
	fi
	printf '%s\n' "$(dpkg-deb -f "$deb" Version)" > "$tmp/.version"
	tree_ok "$tmp" || die "the unpacked smtpd does not run (ldd or smtpd -h failed)"

	rm -rf "$OSROOT"
	mv "$tmp" "$OSROOT"
	exec 9>&-
	echo "deps.sh: OpenSMTPD $(cat "$OSROOT/.version") is in $OSROOT"
}

install_packages
unpack_opensmtpd
