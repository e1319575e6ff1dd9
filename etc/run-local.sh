#!/bin/sh
# make run: start strictmail in the foreground on 127.0.0.1:2525 from a
# local folder (./run): configuration written by "strictmaild -I", a spool,
# and a self-signed certificate.  As root it creates the system users and
# runs privilege-separated; with RUNFLAGS=-u, or as a normal user, the same
# processes run unprivileged.  Both use the same folder: as root, the
# spool's owners are set for the mode of each run.
#   etc/run-local.sh BINARY [strictmaild flags...]
set -eu

# The spool's owners depend on the mode: privilege-separated, the queue's
# folders are the queue user's; with -u, everything is the invoking
# user's.  As root, switching modes gives the spool the owners the new
# mode checks; a normal user cannot take files back from root and is told
# how.  run_local_owners UNPRIV
run_local_owners() {
	spool=$(sed -n 's/^spool[[:space:]]\{1,\}//p' "$dir/strictmail.conf")
	if [ "$(id -u)" -ne 0 ]; then
		other=$(find "$dir" ! -user "$(id -u)" -print 2>/dev/null | head -n 1)
		[ -z "$other" ] && return 0
		echo "run-local: $other is not yours (a \"make run\" as root left it);" \
		    "take the folder back with" >&2
		echo "    sudo chown -R $(id -un): $dir" >&2
		exit 1
	fi
	[ -d "$spool" ] || return 0
	# Everything becomes root's but the files waiting in maildrop/: their
	# owner is who submitted them.
	find "$spool" -path "$spool/maildrop/*" -prune -o -exec chown 0:0 {} +
	if [ "$1" = 1 ]; then
		# -u: maildrop/ is the running user's alone.
		if [ -d "$spool/maildrop" ]; then chmod 0700 "$spool/maildrop"; fi
		return 0
	fi
	# The top entries of the table that are not root's, with everything
	# in them: incoming, queue (with queue/XX), corrupt; maildrop/ itself
	# with its group and mode.
	"$bin" -T -f "$dir/strictmail.conf" | while read -r path owner mode group; do
		case $owner/$path in root/* | */*/*) continue ;; esac
		[ -e "$spool/$path" ] || continue
		if [ -n "$group" ]; then
			chown "$owner:$group" "$spool/$path"
			chmod "$mode" "$spool/$path"
		else
			chown -R "$owner:" "$spool/$path"
		fi
	done
}

bin=$1; shift
dir=$(pwd)/run
mkdir -p "$dir"
if [ ! -f "$dir/strictmail.conf" ]; then
	"$bin" -I "$dir"
fi
if [ ! -f "$dir/cert.pem" ] || [ ! -f "$dir/key.pem" ]; then
	echo "run-local: making a self-signed certificate for localhost in $dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -days 365 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
	    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
	chmod 600 "$dir/key.pem"
fi
unpriv=0
for a in "$@"; do [ "$a" = "-u" ] && unpriv=1; done
if [ "$(id -u)" -eq 0 ] && [ "$unpriv" = 0 ]; then
	sh "$(dirname "$0")/mkusers.sh"
fi
run_local_owners "$unpriv"
# The mbox-dir of the local run: every local user may create a mailbox
# there (sticky, as /tmp), since deliveries run as the recipient.
mkdir -p "$dir/mail"
chmod 1777 "$dir/mail"
echo "run-local: strictmail on 127.0.0.1:2525, configuration $dir/strictmail.conf; Ctrl-C stops it"
exec "$bin" -d -f "$dir/strictmail.conf" "$@"
