# shellcheck shell=bash
# privdeps.sh - how the tests run the programs that tests/deps.sh unpacks
# privately into build-deps/NAME/ (opensmtpd, postfix, nginx, chasquid,
# dovecot-core, bsd-mailx, php8.2-cli: never installed on the host; see tests/deps.sh;
# Dovecot and mail(1) are run by tests/integration/lib-dovecot.sh).
# Sourced by bash scripts.
# Nothing here fetches or installs: a tree that is missing is reported
# with the command that makes it (sh tests/deps.sh).
#
#   priv_root NAME             the tree's folder
#   priv_missing NAME PROG...  prints why NAME is not usable (empty: it is);
#                              PROG is a path inside the tree
#   priv_libpath NAME          LD_LIBRARY_PATH for the tree's programs
#   priv_run NAME PROG ARG...  runs ROOT/PROG with that LD_LIBRARY_PATH
#   priv_postfix_users         creates the private Postfix's users if missing
#   priv_postfix_main_cf       main.cf lines that point a Postfix instance
#                              at the tree (programs, daemons, libraries,
#                              its own meta files) and at its users
#
# A private Postfix runs as "postfix -c CONFIG_DIR start" (priv_run postfix
# usr/sbin/postfix -c ...) with those lines in CONFIG_DIR/main.cf: the
# command finds postfix-script and master in daemon_directory, and master
# passes LD_LIBRARY_PATH on to its daemons through import_environment.
# Its users are _sm-postfix (mail_owner, own group) and the group
# _sm-postdrop (setgid_group): the host's postfix user is never needed.

PRIV_TOP=${PRIV_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PRIV_PF_OWNER=_sm-postfix
PRIV_PF_GROUP=_sm-postdrop

priv_root() {
	echo "$PRIV_TOP/build-deps/$1"
}

priv_missing() {
	local n=$1 r p
	shift
	r=$(priv_root "$n")
	if [ ! -f "$r/.version" ] || [ ! -f "$r/libpath" ]; then
		echo "$n is not unpacked in $r: run sh tests/deps.sh (or make deps) as root"
		return 0
	fi
	for p in "$@"; do
		[ -x "$r/$p" ] || { echo "no $r/$p: run sh tests/deps.sh (or make deps) as root"; return 0; }
	done
}

priv_libpath() {
	local r
	r=$(priv_root "$1")
	[ -s "$r/libpath" ] && sed "s|^|$r/|" "$r/libpath" | paste -sd: -
	true
}

priv_run() {
	local n=$1 p=$2 lp
	shift 2
	lp=$(priv_libpath "$n")
	LD_LIBRARY_PATH=$lp "$(priv_root "$n")/$p" "$@"
}

priv_postfix_users() {
	# Parallel callers may race on /etc/passwd's lock: try again, bounded.
	for _ in $(seq 1 50); do
		getent group "$PRIV_PF_GROUP" > /dev/null ||
		    groupadd --system "$PRIV_PF_GROUP" 2>/dev/null || true
		getent passwd "$PRIV_PF_OWNER" > /dev/null ||
		    useradd --system --user-group --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin "$PRIV_PF_OWNER" 2>/dev/null || true
		getent group "$PRIV_PF_GROUP" > /dev/null &&
		    getent passwd "$PRIV_PF_OWNER" > /dev/null && return 0
		sleep 0.1
	done
	return 1
}

priv_postfix_main_cf() {
	local r lp
	r=$(priv_root postfix)
	lp=$(priv_libpath postfix)
	cat <<PRIVEOF
# The private Postfix of build-deps/postfix (tests/privdeps.sh).
command_directory = $r/usr/sbin
daemon_directory = $r/usr/lib/postfix/sbin
shlib_directory = $r/usr/lib/postfix
meta_directory = $r/etc/postfix
sendmail_path = $r/usr/sbin/sendmail
newaliases_path = $r/usr/bin/newaliases
mailq_path = $r/usr/bin/mailq
manpage_directory = $r/usr/share/man
html_directory = no
readme_directory = no
sample_directory = $r/etc/postfix
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH=$lp
mail_owner = $PRIV_PF_OWNER
setgid_group = $PRIV_PF_GROUP
PRIVEOF
}
