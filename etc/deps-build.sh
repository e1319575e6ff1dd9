#!/bin/sh
# deps-build.sh - the Debian packages that building and running strictmail
# need (make run, make all, INSTALL step 1).  The tests need more:
# tests/deps.sh installs those (and runs this first).
#
#   sh etc/deps-build.sh          install what is missing (as root), or
#                                 print the apt-get command (normal user)
#   sh etc/deps-build.sh --list   print the package names, one a line
#
# How packages are installed (dpkg-query first, apt-get update only when
# something is missing, no recommends, no service started, never a mail
# or web server): etc/deps-lib.sh.
set -eu

# The compiler, and the libraries of DESIGN.md's dependency table (mbedTLS,
# libidn2; c-ares, libcurl, Berkeley DB and libxcrypt for the parts being
# built next); openssl makes make run's self-signed certificate.
BUILD_PKGS="build-essential pkg-config libmbedtls-dev libc-ares-dev
libcurl4-openssl-dev libdb-dev libcrypt-dev libidn2-dev openssl
ca-certificates"

if [ "${1:-}" = --list ]; then
	printf '%s\n' $BUILD_PKGS
	exit 0
fi

export DL_NAME=deps-build
. "$(cd "$(dirname "$0")" && pwd)/deps-lib.sh"
# shellcheck disable=SC2086
dl_install $BUILD_PKGS
