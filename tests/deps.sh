#!/bin/sh
# Everything the tests need, before any test and outside any network
# namespace: a test that finds something missing fails and names this
# script.
#
#   sh tests/deps.sh              install / unpack what is missing
#   sh tests/deps.sh --list       print the packages it installs (with those
#                                 of etc/deps-build.sh), one a line
#   sh tests/deps.sh --private    print the packages it unpacks privately
#   sh tests/deps.sh --bench      install what only make bench needs
#                                 (BENCH_PKGS: gnuplot-nox for its chart;
#                                 its X libraries bring x11-common, whose
#                                 init script t-09 rightly refuses in the
#                                 tests' closure), after the rest
#
# 1. etc/deps-build.sh: what building and running need.
# 2. TEST_PKGS below: what only the tests need.  Installed as
#    etc/deps-lib.sh says: dpkg-query first, apt-get update only when
#    something is missing, no recommends, a temporary policy-rc.d so that
#    no package starts a service, apt-get install -s first and nothing
#    installed if that would bring in a mail or web server or remove a
#    package.  As a normal user it prints the apt-get command instead.
# 3. PRIVATE below: programs the tests run that Debian packages as system
#    services (a mail transport agent, a web server).  They are never
#    installed: installing postfix would remove a host's exim4 or
#    OpenSMTPD (Conflicts: mail-transport-agent) and enable a mail server,
#    nginx would enable a web server on port 80, and opensmtpd conflicts
#    with postfix.  apt-get download fetches each .deb into build-deps/debs/
#    and dpkg -x unpacks it into build-deps/NAME/ inside the clone (ROOT):
#      opensmtpd  ROOT/usr/sbin/smtpd        a remote MX role of tests/world/mx
#      postfix    ROOT/usr/sbin/postfix ...  the postfix MX role, make bench's
#                                            peer, smtp-source for make bench
#      nginx      ROOT/usr/sbin/nginx        the world's HTTPS policy hosts
#      chasquid   ROOT/usr/bin/chasquid      make bench-relay's peer
#      dovecot-core ROOT/usr/sbin/dovecot    local delivery's LMTP server
#                 (with dovecot-lmtpd in the same tree: EXTRA below)
#      bsd-mailx  ROOT/usr/bin/bsd-mailx     mail(1), to read delivered mbox
#                                            files, and to send through
#                                            strictmail's sendmail
#      php8.2-cli ROOT/usr/bin/php8.2        PHP's mail(), through sendmail
#    dovecot-core ships a service (dovecot.service, an init script),
#    bsd-mailx depends on default-mta | mail-transport-agent: on a host
#    without an MTA apt would install exim4 with it, and php8.2-cli depends
#    on php8.2-common, which ships phpsessionclean.service and its timer.
#    All three are unpacked (PHP without its common files: php -n needs
#    no php.ini and mail() no extension).
#    Library packages a tree needs that are not installed are unpacked
#    into it too; ROOT/libpath lists the folders (relative to ROOT) that
#    hold shared libraries, for LD_LIBRARY_PATH (postfix's own
#    usr/lib/postfix among them).  ROOT/.version records the package
#    version.  A tree is kept when it is complete, ldd finds every library
#    of its programs (its own ones inside ROOT), they run, and its version
#    is the one apt would give (when the package lists say); otherwise it
#    is unpacked again.  tests/privdeps.sh is how tests use the trees.
#    "make clean" removes build-deps/.
# 4. build-deps/host-servers records the dpkg state of the host's mail and
#    web server packages before and after this script: the same, always
#    (tests/integration/t-09-deps-host.sh checks it).
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
DEPS=$TOP/build-deps

TEST_PKGS="libcmocka-dev swaks libnet-ssleay-perl strace python3 iproute2
util-linux e2fsprogs procps dnsmasq-base bind9-dnsutils curl clang
libclang-rt-14-dev git-email libmailtools-perl"

BENCH_PKGS="gnuplot-nox"

PRIVATE="opensmtpd postfix nginx chasquid dovecot-core bsd-mailx php8.2-cli"

# The host's servers whose state is recorded before and after.
HOST_SERVERS="postfix nginx exim4-daemon-light exim4-daemon-heavy opensmtpd
sendmail-bin apache2 dnsmasq"

case ${1:-} in
--list)
	sh "$TOP/etc/deps-build.sh" --list
	printf '%s\n' $TEST_PKGS
	exit 0 ;;
--private)
	printf '%s\n' $PRIVATE
	exit 0 ;;
""|--bench) ;;
*) echo "usage: sh tests/deps.sh [--list | --private | --bench]" >&2; exit 2 ;;
esac

export DL_NAME=deps.sh
. "$TOP/etc/deps-lib.sh"
die() { dl_die "$*"; }

# host_state: "package=status" for each of HOST_SERVERS.
host_state() {
	for p in $HOST_SERVERS; do
		s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | tr -d ' ' || true)
		# "un" and "pn": dpkg knows the name (a package it unpacked
		# mentions it) but it is not installed, the same as no record.
		case $s in ?n) s= ;; esac
		printf '%s=%s ' "$p" "${s:-none}"
	done
}

# ---------------------------------------------------------------- private

# candidate PACKAGE: the version apt would give, empty when the package
# lists do not know it.
candidate() {
	apt-cache policy "$1" 2>/dev/null |
	    sed -n 's/^ *Candidate: *//p' | grep -v '^(none)$' | head -n 1
}

# extra NAME: the packages unpacked into NAME's tree beside NAME (the same
# version: they depend on NAME (= version)).
extra() {
	case $1 in
	dovecot-core) echo dovecot-lmtpd ;;
	esac
}

# What each tree must hold, and how it shows that it runs.
binaries() {
	case $1 in
	opensmtpd) echo usr/sbin/smtpd ;;
	postfix) echo usr/sbin/postfix usr/sbin/postconf usr/sbin/smtp-source \
	    usr/lib/postfix/sbin/master usr/lib/postfix/sbin/smtpd ;;
	nginx) echo usr/sbin/nginx ;;
	chasquid) echo usr/bin/chasquid ;;
	dovecot-core) echo usr/sbin/dovecot usr/bin/doveconf usr/lib/dovecot/lmtp \
	    usr/lib/dovecot/auth usr/lib/dovecot/config usr/lib/dovecot/log ;;
	bsd-mailx) echo usr/bin/bsd-mailx ;;
	php8.2-cli) echo usr/bin/php8.2 ;;
	esac
}

runs() {	# NAME ROOT LIBPATH
	case $1 in
	# smtpd -h prints its usage (and exits 1): it loads and runs.
	opensmtpd) LD_LIBRARY_PATH=$3 "$2/usr/sbin/smtpd" -h 2>&1 | grep -q '^usage: smtpd' ;;
	postfix) [ "$(LD_LIBRARY_PATH=$3 "$2/usr/sbin/postconf" -c "$2/etc/postfix" \
	    -d -h mail_version 2>/dev/null)" = "$(cat "$2/.upstream")" ] &&
	    LD_LIBRARY_PATH=$3 "$2/usr/sbin/smtp-source" 2>&1 | grep -q 'usage:.*smtp-source' ;;
	nginx) LD_LIBRARY_PATH=$3 "$2/usr/sbin/nginx" -v 2>&1 |
	    grep -qx "nginx version: nginx/$(cat "$2/.upstream")" ;;
	# "chasquid 1.11-2+b2 (source date: ...)": the Debian version.
	chasquid) "$2/usr/bin/chasquid" -version 2>&1 |
	    grep -q "^chasquid $(cat "$2/.version") " ;;
	# "2.3.19.1 (9b53102964)"; the Debian upstream is "2.3.19.1+dfsg1".
	dovecot-core) LD_LIBRARY_PATH=$3 "$2/usr/sbin/dovecot" --version 2>/dev/null |
	    grep -q "^$(sed 's/+.*//' "$2/.upstream") " ;;
	# "Mail version 8.1.2 ...", then "FILE": 0 messages for an empty mbox.
	bsd-mailx) mb=$(mktemp) && HOME=/nonexistent MAIL=$mb LD_LIBRARY_PATH=$3 \
	    "$2/usr/bin/bsd-mailx" -n -f "$mb" < /dev/null 2>&1 | grep -q '": 0 messages$'
	    r=$?; rm -f "$mb"; return $r ;;
	# "PHP 8.2.36 (cli) ..."; the Debian upstream is "8.2.36".
	php8.2-cli) LD_LIBRARY_PATH=$3 "$2/usr/bin/php8.2" -n -v 2>/dev/null |
	    grep -q "^PHP $(cat "$2/.upstream") " ;;
	esac
}

libpath_of() {
	[ -s "$1/libpath" ] && sed "s|^|$1/|" "$1/libpath" | paste -sd: -
	true
}

# tree_ok NAME ROOT: complete, every library found (the tree's own ones in
# the tree), and its programs run.
tree_ok() {
	[ -f "$2/.version" ] && [ -f "$2/.upstream" ] && [ -f "$2/libpath" ] || return 1
	lp=$(libpath_of "$2")
	for b in $(binaries "$1"); do
		[ -x "$2/$b" ] || return 1
		out=$(LD_LIBRARY_PATH=$lp ldd "$2/$b" 2>&1) || return 1
		printf '%s\n' "$out" | grep -q 'not found' && return 1
		for l in $(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*\([^ ]*\) => \(\/[^ ]*\).*/\1=\2/p'); do
			for d in $(cat "$2/libpath"); do
				if [ -e "$2/$d/${l%%=*}" ]; then
					case ${l#*=} in "$2"/*) ;; *) return 1 ;; esac
				fi
			done
		done
	done
	runs "$1" "$2" "$lp"
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

# lib_deps DEB: the library packages (lib*) it depends on.
lib_deps() {
	dpkg-deb -f "$1" Depends | tr ',' '\n' |
	    sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g' | grep '^lib' || true
}

# unpack NAME: build-deps/NAME as described at the top.
unpack() {
	name=$1 root=$DEPS/$1
	want=$(candidate "$name")
	if tree_ok "$name" "$root"; then
		have=$(cat "$root/.version")
		# Without package lists, a complete tree that runs is kept.
		if [ -z "$want" ] || [ "$want" = "$have" ]; then
			return 0
		fi
		echo "deps.sh: $name $have unpacked, apt has $want: unpacking again"
	fi
	if [ -z "$want" ]; then
		dl_apt_update
		want=$(candidate "$name")
		[ -n "$want" ] || die "apt knows no $name package"
	fi
	echo "deps.sh: unpacking $name $want into $root"

	tmp=$root.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	deb=$(fetch "$name" "$want")
	dpkg -x "$deb" "$tmp"
	todo=$(lib_deps "$deb")
	for x in $(extra "$name"); do
		xd=$(fetch "$x" "$want")
		dpkg -x "$xd" "$tmp"
		todo="$todo $(lib_deps "$xd")"
	done
	for b in $(binaries "$name"); do
		[ -x "$tmp/$b" ] || die "no $b in $deb"
	done
	printf '%s\n' "$(dpkg-deb -f "$deb" Version)" > "$tmp/.version"
	# The upstream version: what the program itself reports.
	sed 's/^[0-9]*://; s/-[^-]*$//' "$tmp/.version" > "$tmp/.upstream"

	# Library packages that are not installed: unpacked into the tree,
	# and theirs in turn (bounded), until ldd finds everything.
	done_libs=""
	for _ in 1 2 3 4 5 6; do
		next=""
		for p in $todo; do
			case " $done_libs " in *" $p "*) continue ;; esac
			done_libs="$done_libs $p"
			dl_installed "$p" && continue
			v=$(candidate "$p")
			[ -n "$v" ] || die "apt knows no $p (a library $name needs)"
			d=$(fetch "$p" "$v")
			dpkg -x "$d" "$tmp"
			next="$next $(lib_deps "$d")"
		done
		todo=$next
		[ -n "$todo" ] || break
	done
	(cd "$tmp" && find . -name '*.so*' \( -type f -o -type l \) -exec dirname {} \; |
	    sed 's|^\./||' | sort -u) > "$tmp/libpath"
	tree_ok "$name" "$tmp" ||
	    die "the unpacked $name does not run (ldd or its version check failed)"

	rm -rf "$root"
	mv "$tmp" "$root"
	echo "deps.sh: $name $(cat "$root/.version") is in $root"
}

unpack_private() {
	mkdir -p "$DEPS/debs"
	exec 9> "$DEPS/.lock"
	flock -w 600 9 || die "cannot lock $DEPS/.lock"
	for n in $PRIVATE; do
		unpack "$n"
	done
	exec 9>&-
}

mkdir -p "$DEPS"
before=$(host_state)
sh "$TOP/etc/deps-build.sh"
# shellcheck disable=SC2086
dl_install $TEST_PKGS
unpack_private
# shellcheck disable=SC2086
[ "${1:-}" != --bench ] || dl_install $BENCH_PKGS
after=$(host_state)
printf 'before %s\nafter %s\n' "$before" "$after" > "$DEPS/host-servers"
[ "$before" = "$after" ] ||
    die "the host's server packages changed: before: $before after: $after"
