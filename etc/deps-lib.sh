# shellcheck shell=sh
# deps-lib.sh - shared by etc/deps-build.sh and tests/deps.sh (sourced;
# POSIX sh).  Installs Debian packages the way both promise:
#   - dpkg-query decides what is missing; nothing else is touched;
#   - apt-get update runs only when something is missing;
#   - DEBIAN_FRONTEND=noninteractive, --no-install-recommends;
#   - a temporary policy-rc.d keeps every package from starting a service;
#   - apt-get install -s first: if resolving the install would bring in a
#     mail server or web server (by name, or by Provides:
#     mail-transport-agent / httpd), or would remove any package, nothing
#     is installed and the script says why.
# As a normal user nothing is installed: the exact apt-get command is
# printed instead (exit 1).
#
# The caller sets DL_NAME (the name in messages) before using it.

export DEBIAN_FRONTEND=noninteractive
DL_UPDATED=0
DL_PRC=/usr/sbin/policy-rc.d

# Packages this project never installs, removes, enables or starts: mail
# transport agents, web servers and the service packages of DNS servers.
# (Their programs, where a test needs them, are unpacked privately into
# build-deps/ by tests/deps.sh.)  A shell pattern per line for "case".
DL_FORBIDDEN='postfix postfix-* exim4 exim4-* opensmtpd sendmail sendmail-*
courier-mta dma msmtp-mta nullmailer ssmtp masqmail citadel-mta
nginx nginx-* libnginx-mod-* apache2 apache2-bin lighttpd
dnsmasq bind9 unbound'

dl_die() {
	echo "$DL_NAME: $*" >&2
	exit 1
}

# dl_installed PACKAGE: dpkg says it is installed.
dl_installed() {
	case $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) in
	*"install ok installed"*) return 0 ;;
	*) return 1 ;;
	esac
}

# dl_forbidden PACKAGE: it is one of DL_FORBIDDEN.
dl_forbidden() {
	for f in $DL_FORBIDDEN; do
		# shellcheck disable=SC2254
		case $1 in $f) return 0 ;; esac
	done
	return 1
}

dl_apt_update() {
	[ "$DL_UPDATED" = 1 ] && return 0
	[ "$(id -u)" -eq 0 ] || dl_die "apt-get update needs root"
	apt-get update -q
	DL_UPDATED=1
}

dl_restore_prc() {
	if [ "$dl_had_prc" = 1 ]; then
		mv -f "$DL_PRC.strictmail-save" "$DL_PRC"
	else
		rm -f "$DL_PRC"
	fi
}

# dl_check_plan PACKAGE...: apt-get install -s; refuses removals and any
# mail or web server among what would be installed.
dl_check_plan() {
	plan=$(apt-get install -s -q --no-install-recommends "$@" 2>&1) ||
	    { printf '%s\n' "$plan" >&2; dl_die "apt-get cannot install:$*"; }
	rm_list=$(printf '%s\n' "$plan" | sed -n 's/^Remv \([^ ]*\).*/\1/p' | tr '\n' ' ')
	[ -z "$rm_list" ] ||
	    dl_die "installing$* would remove: $rm_list(nothing installed)"
	inst=$(printf '%s\n' "$plan" | sed -n 's/^Inst \([^ ]*\).*/\1/p')
	for p in $inst; do
		dl_forbidden "$p" &&
		    dl_die "installing$* would bring in $p, a mail, web or DNS server (nothing installed)"
	done
	[ -n "$inst" ] || return 0
	# shellcheck disable=SC2086
	bad=$(apt-cache show --no-all-versions $inst 2>/dev/null | awk '
	    /^Package:/ { p = $2 }
	    /^Provides:/ { if ($0 ~ /[ ,](mail-transport-agent|httpd|httpd-cgi)([ ,(]|$)/) print p }' |
	    sort -u | tr '\n' ' ')
	[ -z "$bad" ] ||
	    dl_die "installing$* would bring in $bad(a mail transport agent or web server; nothing installed)"
}

# dl_install PACKAGE...: installs those that are missing (see above).
dl_install() {
	missing=""
	for p in "$@"; do
		dl_forbidden "$p" && dl_die "$p is never installed by this project"
		dl_installed "$p" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0

	if [ "$(id -u)" -ne 0 ]; then
		echo "$DL_NAME: these Debian packages are missing:$missing" >&2
		echo "$DL_NAME: install them as root with:" >&2
		echo "    apt-get install --no-install-recommends$missing" >&2
		echo "$DL_NAME: (or run this as root: it installs them that way, starting no service)" >&2
		exit 1
	fi

	echo "$DL_NAME: installing:$missing"
	dl_apt_update
	# shellcheck disable=SC2086
	dl_check_plan $missing
	dl_had_prc=0
	if [ -e "$DL_PRC" ]; then
		dl_had_prc=1
		cp -p "$DL_PRC" "$DL_PRC.strictmail-save"
	fi
	trap dl_restore_prc EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	printf '#!/bin/sh\n# strictmail: no package starts a service while it installs\nexit 101\n' > "$DL_PRC"
	chmod 755 "$DL_PRC"
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
	trap - EXIT INT TERM
	dl_restore_prc
}
