#!/bin/bash
# t-15-install: the one spool table.  "strictmaild -T", the table in
# INSTALL and what "make install" lays out agree; strictmaild started as
# root on the installed spool accepts its owners and modes and takes a
# message; a spool directory with a wrong mode makes it refuse to start,
# naming the path.  No installed program is linked with libcurl
# (strictmail-postdrop needs libc alone); in the running daemon no
# process has libcurl mapped until a policy must be fetched (the policy
# fetcher's worker loads it then, sts/sts_fetchd.h).
. "$(dirname "$0")/lib.sh"
t_init
[ "$SM_PRIV" = 1 ] || t_skip "the installed spool is owned by the system users: checked with SM_PRIV=1"
sm_users

stage=$T_DIR/stage
say "make install DESTDIR=$stage"
make -s -C "$SM_TOP" install DESTDIR="$stage" PREFIX=/usr >"$T_DIR/install.log" 2>&1 ||
    t_fail "make install succeeds" "$(tail -n 5 "$T_DIR/install.log")"
spool=$stage/var/spool/strictmail
for f in usr/sbin/strictmaild usr/share/man/man8/strictmaild.8 \
    usr/share/man/man5/strictmail.conf.5 etc/strictmail/strictmail.conf \
    usr/lib/systemd/system/strictmaild.service usr/sbin/strictmailctl \
    usr/share/man/man8/strictmailctl.8; do
	[ -f "$stage/$f" ] || t_fail "make install lays out $f" "missing"
done
[ "$(readlink "$stage/usr/sbin/mailq")" = strictmailctl ] ||
    t_fail "usr/sbin/mailq a link to strictmailctl" "$(ls -l "$stage/usr/sbin/mailq" 2>&1)"

# libcurl (and the thirty-odd libraries behind it) is in no program's
# dependencies: the delivery process loads it at run time.
for b in strictmaild strictmailctl strictmail-postdrop; do
	ldd "$stage/usr/sbin/$b" > "$T_DIR/ldd.$b" 2>&1 ||
	    t_fail "ldd $b" "$(cat "$T_DIR/ldd.$b")"
	! grep -q libcurl "$T_DIR/ldd.$b" ||
	    t_fail "installed $b not linked with libcurl" "$(grep libcurl "$T_DIR/ldd.$b")"
done
extra=$(grep -v -e linux-vdso -e '^[[:space:]]*libc\.so\.' -e ld-linux "$T_DIR/ldd.strictmail-postdrop")
[ -z "$extra" ] || t_fail "strictmail-postdrop needs libc alone" "$extra"
say "no installed program linked with libcurl; strictmail-postdrop needs libc alone: ok"

# The table printed by the binary against the table in INSTALL.
"$SM_BIN" -f "$SM_TOP/etc/strictmail.conf" -T | sort > "$T_DIR/table.full"
awk '{ print $1, $2, $3 }' "$T_DIR/table.full" > "$T_DIR/table.bin"
awk '/^    path +owner +mode/ { on = 1; next } on && NF == 0 { exit }
    on { print $1, $2, $3 }' "$SM_TOP/INSTALL" | sort > "$T_DIR/table.doc"
[ -s "$T_DIR/table.doc" ] || t_fail "INSTALL has the spool table" "no table found"
diff -u "$T_DIR/table.bin" "$T_DIR/table.doc" > "$T_DIR/table.diff" ||
    t_fail "INSTALL's spool table equals strictmaild -T" "$(cat "$T_DIR/table.diff")"
say "INSTALL's table equals strictmaild -T: ok"

# What make install laid out against the table.
while read -r path owner mode group; do
	p=${path/XX/7F}
	d=$spool/$p; [ "$path" = . ] && d=$spool
	got=$(stat -c '%U %a' "$d" 2>/dev/null)
	[ "$got" = "$owner ${mode#0}" ] ||
	    t_fail "$d owned by $owner with mode $mode" "${got:-missing}"
	[ -z "$group" ] || [ "$(stat -c %G "$d")" = "$group" ] ||
	    t_fail "$d of group $group" "$(stat -c %G "$d")"
done < "$T_DIR/table.full"
n=$(find "$spool/queue" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$n" = 256 ] || t_fail "256 hashed queue folders" "$n"
say "installed spool matches the table: ok"

# The installed man pages carry no placeholder and name no file of the
# source tree.
for m in "$stage"/usr/share/man/man8/strictmaild.8 "$stage"/usr/share/man/man5/strictmail.conf.5 \
    "$stage"/usr/share/man/man8/strictmailctl.8 "$stage"/usr/share/man/man8/sendmail.8; do
	grep -q '^\.Os strictmail' "$m" || t_fail "$m: .Os strictmail" "$(grep '^\.Os' "$m")"
	bad=$(grep -nE '(^|[^/a-z])(etc|tests|daemon|common|smtpd|queue)/[a-z]|INSTALL|README' "$m" | head -n 3)
	[ -z "$bad" ] || t_fail "$m names no file of the source tree" "$bad"
done
say "installed man pages: .Os strictmail, no source-tree paths: ok"

# The daemon accepts the installed spool and takes a message.
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool"
sm_start_ready "$conf" "$log"
# libcurl mapped in no process of the daemon while no policy is fetched
# (the daemon under test is not linked with it either): only the policy
# fetcher's worker loads it, started when a fetch is needed (t-51 checks
# that one).  The worker's spawner waits under sm-delivery.
! ldd "$SM_BIN" | grep -q libcurl || t_fail "$SM_BIN not linked with libcurl" "$(ldd "$SM_BIN" | grep libcurl)"
mapped= procs= kids=$(cat /proc/"$SM_PID"/task/*/children)
for pid in $kids; do kids="$kids $(cat /proc/"$pid"/task/*/children 2>/dev/null)"; done
for pid in "$SM_PID" $kids; do
	procs="$procs $(cat "/proc/$pid/comm")"
	grep -q '/libcurl\.so\.4' "/proc/$pid/maps" && mapped="$mapped $(cat "/proc/$pid/comm")"
done
[ -z "$mapped" ] || t_fail "libcurl.so.4 mapped in no process before a policy fetch" "mapped in:$mapped"
case " $procs " in *" sm-sts-spawn "*) ;; *) t_fail "the policy fetcher's spawner running" "processes:$procs" ;; esac
say "libcurl.so.4 mapped in no process ($procs ); sm-sts-spawn waiting: ok"
sm_body "install-$$" 2000 > "$T_DIR/body"
out=$(sm_send sender@example.org root@localhost "$T_DIR/body" 2>&1) ||
    t_fail "a message accepted on the installed spool" "$out"
qid=${out#250 }
errs=$(sm_check "$spool" "$qid" "$T_DIR/body" root@localhost)
[ -z "$errs" ] || t_fail "$qid intact in the installed spool" "$errs"
sm_stop "$SM_PID"
say "strictmaild runs on the installed spool: ok"

# A wrong mode is refused at startup, naming the path.
chmod 0755 "$spool/incoming"
log2=$T_DIR/daemon2.log
ip netns exec "$T_NS" timeout 30 "$SM_BIN" -d -f "$conf" >"$log2" 2>&1 </dev/null
rc=$?
[ "$rc" = 73 ] || t_fail "exit 73 on a spool with a wrong mode" "exit $rc: $(tail -n 3 "$log2")"
grep -q "incoming: mode is 0755, expected 0700" "$log2" ||
    t_fail "the error names $spool/incoming and both modes" "$(tail -n 3 "$log2")"
say "wrong mode refused: $(grep -o 'incoming: mode.*' "$log2" | head -n 1)"
t_pass
