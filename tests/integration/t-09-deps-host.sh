#!/bin/bash
# t-09-deps-host: the dependency scripts leave the host's services alone.
#  - the install lists (etc/deps-build.sh --list, tests/deps.sh --list)
#    name no mail, web or DNS server, and neither does anything apt would
#    pull in for them (apt-cache depends --recurse: by name, or by
#    Provides: mail-transport-agent / httpd); no listed package ships a
#    service (systemd unit or init script) except the base-system ones
#    allowed below, and no package of their closure does either;
#  - the only apt-get install in the project is etc/deps-lib.sh's, with
#    names from those lists; no deps script enables or starts anything;
#  - the last tests/deps.sh run left the host's mail and web server
#    packages as they were (build-deps/host-servers), and the trees the
#    tests run those servers from are unpacked there instead;
#  - the installer refuses a server package, and a normal user who lacks
#    a package is told the exact apt-get command.
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/lib.sh"

[ "$SM_PRIV" = 1 ] && t_skip "the dependency scripts do not depend on SM_PRIV: checked with SM_PRIV=0"
[ "$(id -u)" -eq 0 ] || t_skip "needs root (runs a check as another user)"

# Independent of etc/deps-lib.sh's own list, on purpose.
is_server() {
	case $1 in
	postfix|postfix-*|exim4|exim4-*|opensmtpd|sendmail|sendmail-*|courier-mta|\
	nullmailer|ssmtp|dma|msmtp-mta|masqmail|nginx|nginx-*|libnginx-mod-*|\
	apache2|apache2-bin|lighttpd|dnsmasq|bind9|unbound) return 0 ;;
	esac
	return 1
}

# Packages of every Debian base system whose units are one-shot boot or
# maintenance jobs, no daemon and no listener: fstrim (util-linux),
# hwclock (util-linux-extra), e2scrub (e2fsprogs), sysctl (procps),
# the dpkg database backup (dpkg), pam_namespace (libpam-modules-bin).
BASE_JOBS=" util-linux util-linux-extra e2fsprogs procps dpkg libpam-modules-bin "

units_of() {
	dpkg -L "$1" 2>/dev/null |
	    grep -E '^/(usr/)?lib/systemd/system/[^/]+\.(service|socket)$|^/etc/init\.d/.' |
	    tr '\n' ' '
}

build=$(sh "$SM_TOP/etc/deps-build.sh" --list) || t_fail "etc/deps-build.sh --list" "an error"
all=$(sh "$SM_TOP/tests/deps.sh" --list) || t_fail "tests/deps.sh --list" "an error"
private=$(sh "$SM_TOP/tests/deps.sh" --private) || t_fail "tests/deps.sh --private" "an error"
[ -n "$build" ] || t_fail "a build list" "none"
for p in $build; do
	printf '%s\n' "$all" | grep -qx "$p" ||
	    t_fail "tests/deps.sh to install what building needs ($p)" "not in its list"
done
for p in $all; do
	is_server "$p" && t_fail "no server package in the install lists" "$p"
	u=$(units_of "$p")
	if [ -n "$u" ] && [ "${BASE_JOBS#* "$p" }" = "$BASE_JOBS" ]; then
		t_fail "no listed package that ships a service" "$p: $u"
	fi
done
for p in postfix nginx opensmtpd; do
	printf '%s\n' "$private" | grep -qx "$p" ||
	    t_fail "$p among the privately unpacked packages" "$(echo $private)"
done
say "lists: $(echo "$all" | wc -w) packages to install, none a server; unpacked privately: $(echo $private)"

# What apt would pull in for the lists.
if apt-cache show postfix > /dev/null 2>&1; then
	# shellcheck disable=SC2086
	closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
	    --no-breaks --no-replaces --no-enhances $all 2>/dev/null | grep -v '^ ' | sort -u)
	n=$(printf '%s\n' "$closure" | wc -l)
	[ "$n" -ge 50 ] || t_fail "the dependency closure of the lists" "$n packages"
	for p in $closure; do
		p=${p#<}
		p=${p%>}
		is_server "$p" && t_fail "no server package among the lists' dependencies" "$p"
		case $p in
		mail-transport-agent|default-mta|httpd|httpd-cgi)
			t_fail "no dependency on a mail or web server" "$p" ;;
		esac
		if dl=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) &&
		    [ "${dl#*installed}" != "$dl" ]; then
			u=$(units_of "$p")
			if [ -n "$u" ] && [ "${BASE_JOBS#* "$p" }" = "$BASE_JOBS" ]; then
				t_fail "no dependency that ships a service" "$p: $u"
			fi
		fi
	done
	# shellcheck disable=SC2086
	bad=$(apt-cache show --no-all-versions $(printf '%s\n' "$closure" | grep -v '^<') 2>/dev/null |
	    awk '/^Package:/ { p = $2 }
	        /^Provides:/ && /[ ,](mail-transport-agent|httpd|httpd-cgi)([ ,(]|$)/ { print p }')
	[ -z "$bad" ] || t_fail "no dependency that provides a mail or web server" "$bad"
	say "closure: $n packages, no server, no MTA or httpd, no service outside the base jobs"
else
	say "note: apt has no package lists here: the dependency closure is not checked"
fi

# The scripts: one apt-get install, fed by the lists; nothing enabled or started.
hits=$(cd "$SM_TOP" && grep -rnE 'apt-get([[:space:]]+-[^[:space:]]+)*[[:space:]]+(install|remove|purge|autoremove)\b' \
    --include='*.sh' --include=Makefile --include='*.py' . tests/world/world tests/world/mx/mx-* \
    2>/dev/null | grep -vE '^\./(build|build-asan|build-deps|run)/|^\./tests/integration/t-09-' |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' | grep -vE 'install -s |echo ' | sort -u)
[ "$(printf '%s\n' "$hits" | grep -c .)" = 1 ] &&
    printf '%s\n' "$hits" | grep -q '^\./etc/deps-lib\.sh:.*apt-get install -y -q --no-install-recommends \$missing$' ||
    t_fail "one apt-get install (etc/deps-lib.sh, \$missing)" "$hits"
for f in etc/deps-lib.sh etc/deps-build.sh tests/deps.sh tests/privdeps.sh etc/run-local.sh; do
	l=$(grep -nE 'systemctl|update-rc\.d|invoke-rc\.d|(^|[[:space:]])service[[:space:]]+[a-z0-9.@-]+[[:space:]]+(start|restart|reload|enable)|dpkg (-i|--install|-r|-P|--purge)' \
	    "$SM_TOP/$f" | grep -vE '^[0-9]+:[[:space:]]*#')
	[ -z "$l" ] || t_fail "$f to enable, start or install no service" "$l"
done
l=$(cd "$SM_TOP/tests" && grep -rnE '(t_need|command -v)[[:space:]][^#]*\b(postfix|nginx|smtp-source|smtp-sink|postconf|postmap)\b' . |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*#')
[ -z "$l" ] || t_fail "tests to use the private servers, not the host's" "$l"
say "scripts: one apt-get install, no service enabled or started, tests use build-deps/"

# The last tests/deps.sh run, and the trees.
hs=$SM_TOP/build-deps/host-servers
[ -f "$hs" ] || t_fail "$hs (written by tests/deps.sh)" "none: run sh tests/deps.sh"
before=$(sed -n 's/^before //p' "$hs")
after=$(sed -n 's/^after //p' "$hs")
[ -n "$before" ] && [ "$before" = "$after" ] ||
    t_fail "the host's server packages unchanged by tests/deps.sh" "before: $before after: $after"
for p in postfix nginx; do
	case " $before " in
	*" $p=ii "*) say "note: $p was installed before tests/deps.sh ran (not by it); nothing needs it" ;;
	esac
done
t_need_private postfix usr/sbin/postfix usr/sbin/smtp-source usr/lib/postfix/sbin/master
t_need_private nginx usr/sbin/nginx
t_need_private opensmtpd usr/sbin/smtpd
v=$(priv_run nginx usr/sbin/nginx -v 2>&1)
[ "$v" = "nginx version: nginx/$(cat "$(priv_root nginx)/.upstream")" ] ||
    t_fail "the private nginx to run" "$v"
v=$(priv_run postfix usr/sbin/postconf -c "$(priv_root postfix)/etc/postfix" -d -h mail_version 2>/dev/null)
[ "$v" = "$(cat "$(priv_root postfix)/.upstream")" ] || t_fail "the private postconf to run" "$v"
for n in postfix nginx; do
	l=$(LD_LIBRARY_PATH=$(priv_libpath $n) ldd "$(priv_root $n)/usr/sbin/$n" 2>&1)
	printf '%s\n' "$l" | grep -q 'not found' && t_fail "ldd to resolve the private $n" "$l"
done
printf '%s\n' "$(LD_LIBRARY_PATH=$(priv_libpath postfix) ldd "$(priv_root postfix)/usr/sbin/postfix")" |
    grep -q "libpostfix-util.so => $(priv_root postfix)/" ||
    t_fail "the private postfix to load its own libraries" "others"
say "host-servers: $after; private trees run"

# The installer itself: a server package is refused before apt is asked;
# a normal user gets the apt-get command.
out=$(DL_NAME=t09 sh -c '. "$1/etc/deps-lib.sh"; dl_install nginx' sh "$SM_TOP" 2>&1) &&
    t_fail "dl_install nginx to be refused" "exit 0: $out"
case $out in *"nginx is never installed"*) ;; *) t_fail "the refusal to name nginx" "$out" ;; esac
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env DL_NAME=t09 \
    sh -c '. "$1/etc/deps-lib.sh"; dl_install libc6 strictmail-no-such-package' sh "$SM_TOP" 2>&1) &&
    t_fail "a normal user's install to stop" "exit 0: $out"
case $out in
*"apt-get install --no-install-recommends strictmail-no-such-package"*) ;;
*) t_fail "the exact apt-get command for the missing package" "$out" ;;
esac
case $out in *"libc6"*) t_fail "only missing packages in the command" "$out" ;; esac
say "installer: refuses nginx; a normal user is told: $(printf '%s\n' "$out" | grep 'apt-get install' | sed 's/^ *//')"
t_pass
