#!/bin/sh
# make install: lay out the spool from the one table the daemon itself
# checks at startup ("strictmaild -T" prints it).  Owners are set only when
# run as root (a staged package build sets them in its own scripts).
# A line with a fourth field names its group (maildrop: the maildrop-group,
# created here as a system group when missing and run as root).
#   etc/install-spool.sh BINARY SPOOLDIR QUEUE_USER [DELIVERY_USER]
set -eu
bin=$1; spool=$2; quser=$3; duser=${4:-}
tq=$("$bin" -f "$(dirname "$0")/strictmail.conf" -T | awk '$1 == "incoming" { print $2 }')
"$bin" -f "$(dirname "$0")/strictmail.conf" -T | while read -r path owner mode group; do
	case $owner in
	root) o=root ;;
	"$tq") o=$quser ;;
	*) o=${duser:-$owner} ;;
	esac
	case $path in
	*XX) base=${path%XX}; paths=$(for i in $(seq 0 255); do printf '%s%02X\n' "$base" "$i"; done) ;;
	.) paths="" ;;
	*) paths=$path ;;
	esac
	for p in ${paths:-.}; do
		d="$spool/$p"; [ "$p" = . ] && d=$spool
		if [ -n "$group" ] && [ "$(id -u)" -eq 0 ]; then
			getent group "$group" >/dev/null || groupadd --system "$group"
		fi
		if [ "$(id -u)" -eq 0 ] && getent passwd "$o" >/dev/null; then
			install -d -m "$mode" -o "$o" -g "${group:-$(id -gn "$o")}" "$d"
		else
			install -d -m "$mode" "$d"
		fi
	done
done
