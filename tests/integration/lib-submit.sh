# shellcheck shell=bash
# lib-submit.sh - runs programs that send mail through sendmail(8) with
# strictmail's programs in the system's places, without touching them.
# Sourced after lib.sh.  Needs root.
#
#   submit_setup CONF
#       Prepares $T_DIR/sub/: usr/sbin/sendmail, usr/sbin/newaliases and
#       usr/bin/mailq (copies of strictmailctl), the helper
#       strictmail-postdrop (setgid, group $SUBMIT_GROUP, created if
#       missing) at usr/sbin and usr/local/sbin (the compiled-in
#       SBINDIR), and etc/strictmail/strictmail.conf (a copy of CONF).
#       The programs are those beside $SM_BIN (the sanitizer build by
#       default).  Extra trees (PRIVATE packages of tests/deps.sh, such as
#       bsd-mailx) are added with SUBMIT_TREES="NAME ...".
#   submit_as USER CMD [ARG...]
#       Runs CMD as USER (a name; "root" for root) with its groups, in a
#       mount namespace of its own where $T_DIR/sub/usr, then each extra
#       tree's usr/, are laid over /usr, and $T_DIR/sub/etc over /etc
#       (overlayfs, read-only): /usr/sbin/sendmail is strictmail's there
#       and nowhere else.  Postfix's /usr/sbin/sendmail on the host, if
#       any, is never written.  The environment is PATH, HOME (USER's home
#       from passwd), USER, LOGNAME and TMPDIR=HOME (created 0700 if
#       missing), LD_LIBRARY_PATH for the extra trees' libraries (as the
#       overlay shows them), plus SUBMIT_ENV="NAME=VALUE ..." when set.
#   submit_cleanup
#       Removes the group if submit_setup created it (t_cleanup does not
#       know it: call it at the end, or from a trap).

SUBMIT_GROUP=${SUBMIT_GROUP:-_sm-drop}
SUBMIT_MADE_GROUP=0
SUBMIT_TREES=${SUBMIT_TREES:-}

submit_setup() {
	local conf=$1 bin d p
	bin=$(dirname "$SM_BIN")
	d=$T_DIR/sub
	for p in strictmailctl strictmail-postdrop; do
		[ -x "$bin/$p" ] || t_fail "an executable $bin/$p" "none (make asan)"
	done
	if ! getent group "$SUBMIT_GROUP" > /dev/null; then
		groupadd --system "$SUBMIT_GROUP" 2>/dev/null ||
		    getent group "$SUBMIT_GROUP" > /dev/null ||
		    t_fail "groupadd $SUBMIT_GROUP" "an error"
		SUBMIT_MADE_GROUP=1
	fi
	mkdir -p "$d/usr/sbin" "$d/usr/bin" "$d/usr/local/sbin" "$d/etc/strictmail"
	chmod 0755 "$d" "$d/usr" "$d/usr/sbin" "$d/usr/bin" "$d/usr/local" \
	    "$d/usr/local/sbin" "$d/etc" "$d/etc/strictmail"
	install -m 0755 "$bin/strictmailctl" "$d/usr/sbin/sendmail"
	install -m 0755 "$bin/strictmailctl" "$d/usr/sbin/newaliases"
	install -m 0755 "$bin/strictmailctl" "$d/usr/bin/mailq"
	install -m 0755 "$bin/strictmailctl" "$d/usr/sbin/strictmailctl"
	install -o root -g "$SUBMIT_GROUP" -m 2755 "$bin/strictmail-postdrop" \
	    "$d/usr/sbin/strictmail-postdrop"
	install -o root -g "$SUBMIT_GROUP" -m 2755 "$bin/strictmail-postdrop" \
	    "$d/usr/local/sbin/strictmail-postdrop"
	install -m 0644 "$conf" "$d/etc/strictmail/strictmail.conf"
}

submit_cleanup() {
	[ "$SUBMIT_MADE_GROUP" = 1 ] && groupdel "$SUBMIT_GROUP" 2>/dev/null
	SUBMIT_MADE_GROUP=0
	true
}

submit_as() {
	local user=$1 lower n home env lp="" d
	shift
	lower=$T_DIR/sub/usr
	for n in $SUBMIT_TREES; do
		[ -d "$(priv_root "$n")/usr" ] ||
		    t_fail "the private tree of $n" "none: run sh tests/deps.sh as root"
		lower=$lower:$(priv_root "$n")/usr
		# The tree's library folders, where the overlay shows them.
		for d in $(grep '^usr/' "$(priv_root "$n")/libpath" 2>/dev/null); do
			lp=${lp:+$lp:}/$d
		done
	done
	home=$(getent passwd "$user" | cut -d: -f6)
	[ -n "$home" ] || t_fail "a passwd entry for $user" "none"
	if [ ! -d "$home" ]; then
		mkdir -p "$home" && chown "$user:" "$home" && chmod 0700 "$home"
	fi
	# shellcheck disable=SC2086
	env=$(printf '%s\n' PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
	    "HOME=$home" "USER=$user" "LOGNAME=$user" "TMPDIR=$home" \
	    ${lp:+"LD_LIBRARY_PATH=$lp"} ${SUBMIT_ENV:-})
	# shellcheck disable=SC2016
	unshare -m --propagation private sh -c '
	    mount -t overlay -o ro,lowerdir="$1":/usr sm-submit-usr /usr &&
	    mount -t overlay -o ro,lowerdir="$2":/etc sm-submit-etc /etc || exit 71
	    u=$3 e=$4
	    shift 4
	    if [ "$u" = root ]; then
		    set -- env -i $e "$@"
	    else
		    set -- setpriv --reuid="$u" --regid="$(id -g "$u")" \
			--init-groups env -i $e "$@"
	    fi
	    cd / && exec "$@"' sh "$lower" "$T_DIR/sub/etc" "$user" "$(echo $env)" "$@"
}
