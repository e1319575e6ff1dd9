#!/bin/sh
# opensmtpd-fetch.sh - unpacks Debian's opensmtpd privately and prints the
# folder it is in (the root of the unpacked tree: ROOT/usr/sbin/smtpd).
#
# Debian's opensmtpd conflicts with postfix, so it is never installed:
# apt-get download fetches the .deb into a cache folder and dpkg -x
# unpacks it there.  Library dependencies that are not installed are
# fetched and unpacked the same way (ROOT/libpath then lists their
# folders, for LD_LIBRARY_PATH).  Idempotent: a second call finds the
# tree and prints it at once.  The cache is OPENSMTPD_CACHE, by default
# ${TMPDIR:-/tmp}/strictmail-opensmtpd; remove it to fetch anew.
set -eu

CACHE=${OPENSMTPD_CACHE:-${TMPDIR:-/tmp}/strictmail-opensmtpd}
ROOT=$CACHE/root

die() {
	echo "opensmtpd-fetch.sh: $*" >&2
	exit 1
}

if [ -f "$ROOT/.complete" ] && [ -x "$ROOT/usr/sbin/smtpd" ]; then
	echo "$ROOT"
	exit 0
fi

command -v apt-get > /dev/null || die "apt-get is needed"
mkdir -p "$CACHE/debs"
exec 9> "$CACHE/.lock"
flock -w 300 9 || die "cannot lock $CACHE/.lock"
# Another caller may have finished while this one waited.
if [ -f "$ROOT/.complete" ] && [ -x "$ROOT/usr/sbin/smtpd" ]; then
	echo "$ROOT"
	exit 0
fi

# fetch PACKAGE: its .deb in CACHE/debs (apt-get update only when the
# package lists do not know it).
fetch() {
	set -- "$1" "$(ls "$CACHE/debs/$1"_*.deb 2>/dev/null | head -n 1)"
	if [ -n "$2" ]; then
		echo "$2"
		return 0
	fi
	# _apt must be able to write the .deb (else apt warns, and copes).
	chmod 0755 "$CACHE" "$CACHE/debs"
	if ! (cd "$CACHE/debs" && apt-get download -q "$1" > "$CACHE/apt.log" 2>&1); then
		echo "opensmtpd-fetch.sh: apt-get download $1 failed; apt-get update" >&2
		apt-get update -q > "$CACHE/apt-update.log" 2>&1 ||
		    { cat "$CACHE/apt-update.log" >&2; die "apt-get update failed"; }
		(cd "$CACHE/debs" && apt-get download -q "$1" > "$CACHE/apt.log" 2>&1) ||
		    { cat "$CACHE/apt.log" >&2; die "apt-get download $1 failed"; }
	fi
	set -- "$1" "$(ls "$CACHE/debs/$1"_*.deb 2>/dev/null | head -n 1)"
	[ -n "$2" ] || die "no .deb for $1 after apt-get download"
	echo "$2"
}

rm -rf "$ROOT.tmp"
mkdir -p "$ROOT.tmp"
deb=$(fetch opensmtpd)
dpkg -x "$deb" "$ROOT.tmp"
[ -x "$ROOT.tmp/usr/sbin/smtpd" ] || die "no usr/sbin/smtpd in $deb"

# Libraries that ldd cannot find: unpack the library packages opensmtpd
# depends on that are not installed.
: > "$ROOT.tmp/libpath"
if ldd "$ROOT.tmp/usr/sbin/smtpd" | grep -q 'not found'; then
	deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' |
	    sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep '^lib' || true)
	for p in $deps; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		case $st in *"install ok installed"*) continue ;; esac
		dpkg -x "$(fetch "$p")" "$ROOT.tmp"
	done
	find "$ROOT.tmp" -name '*.so*' -type f -exec dirname {} \; | sort -u |
	    sed "s|^$ROOT.tmp|$ROOT|" > "$ROOT.tmp/libpath"
	LD_LIBRARY_PATH=$(sed "s|^$ROOT|$ROOT.tmp|" "$ROOT.tmp/libpath" |
	    paste -sd: -)
	export LD_LIBRARY_PATH
	if ldd "$ROOT.tmp/usr/sbin/smtpd" | grep 'not found' >&2; then
		die "smtpd still misses libraries"
	fi
fi

rm -rf "$ROOT"
mv "$ROOT.tmp" "$ROOT"
: > "$ROOT/.complete"
echo "$ROOT"
