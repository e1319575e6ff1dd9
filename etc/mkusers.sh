#!/bin/sh
# Creates strictmail's system users, once: the receiver, the queue, the
# lookup, the control and the delivery process each run as their own
# unprivileged user.  Also the maildrop-group _sm-drop (local submission:
# it may create files in the spool's maildrop/).  Idempotent.
#   etc/mkusers.sh [smtpd-user queue-user lookup-user control-user delivery-user]
set -eu
for u in "${1:-_sm-smtpd}" "${2:-_sm-queue}" "${3:-_sm-lookup}" "${4:-_sm-control}" \
    "${5:-_sm-delivery}"; do
	if ! getent passwd "$u" >/dev/null; then
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin --comment "strictmail" "$u"
		echo "mkusers: created system user $u"
	fi
done
if ! getent group _sm-drop >/dev/null; then
	groupadd --system _sm-drop
	echo "mkusers: created system group _sm-drop"
fi
