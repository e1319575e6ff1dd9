#!/bin/sh
# make run: start strictmail in the foreground on 127.0.0.1:2525 from a
# local folder (./run): configuration written by "strictmaild -I", a spool,
# and a self-signed certificate.  As root it creates the system users and
# runs privilege-separated; with RUNFLAGS=-u, or as a normal user, the same
# processes run unprivileged.
#   etc/run-local.sh BINARY [strictmaild flags...]
set -eu
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
echo "run-local: strictmail on 127.0.0.1:2525, configuration $dir/strictmail.conf; Ctrl-C stops it"
exec "$bin" -d -f "$dir/strictmail.conf" "$@"
