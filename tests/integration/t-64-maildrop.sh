#!/bin/bash
# t-64-maildrop: local submission, the queue's side.  Files are written
# into the spool's maildrop/ by a small writer here (as sendmail's helper
# does: tNAME written and fsynced, then renamed to mNAME), owned by test
# users (privilege-separated: written as the user with the maildrop-group,
# through the folder's 1730 mode; unprivileged: chowned to the user).
#  (a) a message dropped while strictmaild is stopped waits, and is
#      delivered after the start to a local mbox, behind a Received
#      header naming the owner and its uid;
#  (b) a message dropped while it runs is picked up within seconds
#      (inotify; the fallback scan is a minute away), and a large one
#      (copied in several turns of the queue's loop) arrives whole;
#  (c) hostile files in one folder: a symbolic link to a good file, a
#      hard link, a file of root's hard-linked in from elsewhere, a size
#      line larger than the content, a forged "Received:" line in the
#      head, a huge (sparse) file, a name not starting with m or t, an
#      owner without a passwd entry: each is refused, logged with its
#      reason and moved to corrupt/ (never deleted, never delivered); a
#      fresh tNAME is left alone, one older than an hour removed; the
#      good file beside them is delivered;
#  (d) the owner wins: a file of user A whose head asks for user B's
#      address as sender (-f) and whose content carries a forged
#      Received and From of root is delivered as A's: the Received that
#      strictmail adds names A and A's uid, the log names uid and user A.
# The folder's owner, group and mode are checked in both modes.
. "$(dirname "$0")/lib.sh"
t_init

UA=smt64a$$ UB=smt64b$$
mkdir -p "$T_DIR/home" "$T_DIR/mail" "$T_DIR/elsewhere"
chmod 0755 "$T_DIR/home"
chmod 1777 "$T_DIR/mail"
for u in $UA $UB; do
	t_user_add "$u" "$T_DIR/home/$u" || t_fail "useradd $u" "an error"
done
uida=$(id -u "$UA")
uidb=$(id -u "$UB")

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
drop=$spool/maildrop
sm_config "$conf" "$spool" "retry-initial 1h" "max-message-size 1M"

# The writer: stdin into maildrop/tNAME (0644, fsynced), then the rename
# to the final name.  argv: folder, final name, uid to chown to or "-".
cat > "$T_DIR/drop.py" <<'EOF'
import os, sys
d, name, uid = sys.argv[1], sys.argv[2], sys.argv[3]
data = sys.stdin.buffer.read()
tmp = os.path.join(d, 't' + name[1:] + '.%d' % os.getpid())
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.fchmod(fd, 0o644)
os.write(fd, data)
if uid != '-':
    os.fchown(fd, int(uid), -1)
os.fsync(fd)
os.close(fd)
os.rename(tmp, os.path.join(d, name))
EOF
chmod 0644 "$T_DIR/drop.py"

# maildrop RCPT TAG [HEADLINES [CONTENT-PREFIX]]: a maildrop file's bytes.
maildrop() {
	local content
	content=$(printf '%sFrom: <someone@example.org>\r\nSubject: %s\r\n\r\nbody %s\r\n' \
	    "${4:-}" "$2" "$2"; echo x)
	content=${content%x}
	printf 'strictmail-maildrop 1\n%srcpt %s\nsize %d\ndata\n%s' "${3:-}" "$1" \
	    "$(printf '%s' "$content" | wc -c)" "$content"
}

# put USER NAME < bytes: USER's file maildrop/NAME through the writer.
put() {
	if [ "$SM_PRIV" = 1 ]; then
		setpriv --reuid="$1" --regid=_sm-drop --clear-groups \
		    "$PY" "$T_DIR/drop.py" "$drop" "$2" - ||
		    t_fail "$1 writes maildrop/$2 with the maildrop-group" "an error"
	else
		"$PY" "$T_DIR/drop.py" "$drop" "$2" "$(id -u "$1")" ||
		    t_fail "maildrop/$2 written" "an error"
	fi
}

# delivered MBOX TAG: the message with Subject TAG in MBOX within 15 s.
delivered() {
	local i
	for i in $(seq 1 150); do
		grep -qx "Subject: $2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	t_fail "Subject: $2 delivered to $1" "$(grep -E "maildrop|$2" "$log" | tail -n 5 | tr '\n' '|')"
}

# message MBOX TAG: the lines of the message with Subject TAG.
message() {
	awk -v s="Subject: $2" '
	    /^From / { if (hit) exit; buf = "" }
	    { buf = buf $0 "\n" } $0 == s { hit = 1 }
	    END { if (hit) printf "%s", buf }' "$1"
}

# ---- the folder, and (a): dropped while strictmaild is stopped
sm_start_ready "$conf" "$log"
sm_stop "$SM_PID" || t_fail "strictmaild stops" "it did not"
if [ "$SM_PRIV" = 1 ]; then want="_sm-queue _sm-drop 1730"; else want="root root 700"; fi
got=$(stat -c '%U %G %a' "$drop")
[ "$got" = "$want" ] || t_fail "maildrop/ is '$want'" "$got"
say "maildrop/: $got"

maildrop "$UA@mx.test" offline | put "$UB" m-offline
[ -f "$drop/m-offline" ] || t_fail "maildrop/m-offline waits while stopped" "no file"
sm_start_ready "$conf" "$log"
mb=$T_DIR/mail/$UA
delivered "$mb" offline
msg=$(message "$mb" offline)
printf '%s\n' "$msg" | grep -q "^Received: from $UB (uid $uidb)\$" ||
    t_fail "a Received header 'from $UB (uid $uidb)'" "$(printf '%s\n' "$msg" | head -n 8 | tr '\n' '|')"
printf '%s\n' "$msg" | grep -q "^Return-Path: <$UB@mx.test>\$" ||
    t_fail "the sender $UB@mx.test (no -f: the user at the origin)" "$(printf '%s\n' "$msg" | grep Return-Path)"
printf '%s\n' "$msg" | grep -qx "body offline" || t_fail "the body in the mbox" "$msg"
[ ! -e "$drop/m-offline" ] || t_fail "maildrop/m-offline removed after the commit" "still there"
grep -Eq "picked up maildrop/m-offline uid=$uidb user=$UB from=<?$UB@mx.test>? nrcpt=1 size=[0-9]+" "$log" ||
    t_fail "the pickup line with uid, user, sender, nrcpt, size" "$(grep 'maildrop' "$log" | tail -n 3)"
say "(a) dropped while stopped: delivered after the start, Received from $UB (uid $uidb)"

# ---- (b): while it runs
t0=$(date +%s%N)
maildrop "$UA@mx.test" running | put "$UB" m-running
delivered "$mb" running
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 10000 ] || t_fail "picked up within 10 s (inotify)" "${ms} ms"
say "(b) dropped while running: delivered in ${ms} ms"

# ---- (b2): a file of 0.7 MB (max-message-size is 1M), copied in slices
# over turns of the queue's loop (queue_pickup.c): delivered whole, line
# for line
big=$T_DIR/large.body
awk 'BEGIN { for (i = 0; i < 9000; i++)
    printf "line %06d abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n", i }' > "$big"
{ printf 'From: <someone@example.org>\r\nSubject: large\r\n\r\n'; cat "$big"; } > "$T_DIR/large.content"
{ printf 'strictmail-maildrop 1\nrcpt %s\nsize %d\ndata\n' "$UA@mx.test" \
    "$(wc -c < "$T_DIR/large.content")"; cat "$T_DIR/large.content"; } | put "$UB" m-large
delivered "$mb" large
want=$(tr -d '\r' < "$big" | md5sum)
got=$(message "$mb" large | grep '^line ' | md5sum)
[ "$got" = "$want" ] ||
    t_fail "the 9000 lines of m-large delivered as written" "$(message "$mb" large | grep -c '^line ') lines, md5 $got"
say "(b2) a 0.7 MB file, three slices of the copy: delivered whole"

# ---- (c): hostile files, and a good one among them (while stopped, so
# that the start's scan meets all of them at once)
sm_stop "$SM_PID" || t_fail "strictmaild stops" "it did not"
maildrop "$UA@mx.test" via-symlink > "$T_DIR/elsewhere/good"
chown "$UB" "$T_DIR/elsewhere/good"
ln -s "$T_DIR/elsewhere/good" "$drop/m-symlink"
maildrop "$UA@mx.test" hardlinked | put "$UB" m-hardlink
ln "$drop/m-hardlink" "$T_DIR/elsewhere/second-link"
maildrop "$UA@mx.test" rootfile > "$T_DIR/elsewhere/rootfile"
ln "$T_DIR/elsewhere/rootfile" "$drop/m-rootlink"
maildrop "$UA@mx.test" truncated | sed 's/^size [0-9]*$/size 100000/' | put "$UB" m-truncated
maildrop "$UA@mx.test" forged "Received: from trusted.example (uid 0)
" | put "$UB" m-forged
maildrop "$UA@mx.test" trailing > "$T_DIR/trailing"
printf 'extra bytes after the content' >> "$T_DIR/trailing"
put "$UB" m-trailing < "$T_DIR/trailing"
truncate -s 600M "$drop/m-huge"
chown "$UB" "$drop/m-huge"
maildrop "$UA@mx.test" badname | put "$UB" x-badname
maildrop "$UA@mx.test" nouser > "$drop/m-nouser"
chown 54321 "$drop/m-nouser"
maildrop "$UA@mx.test" young | put "$UB" t-young
maildrop "$UA@mx.test" old | put "$UB" t-old
touch -d '2 hours ago' "$drop/t-old"
maildrop "$UA@mx.test" good-among-bad | put "$UB" m-good
sm_start_ready "$conf" "$log"
delivered "$mb" good-among-bad
# The refusals come from the start's one scan; wait for the last one.
sm_wait_log "$log" "maildrop/x-badname: refused" "$SM_PID" 10 || true
for c in "m-symlink:symbolic link" "m-hardlink:hard link" "m-rootlink:hard link" \
    "m-truncated:the size line says 100000 octets" "m-forged:line 2: unknown line" \
    "m-trailing:the size line says" "m-huge:too large" \
    "x-badname:a name not starting with m or t" "m-nouser:no usable user with uid 54321"; do
	name=${c%%:*} why=${c#*:}
	grep -q "maildrop/$name: refused: $why" "$log" ||
	    t_fail "'maildrop/$name: refused: $why' logged" "$(grep "maildrop/$name" "$log" | tail -n 2)"
	[ -e "$T_DIR/spool/corrupt/$name" ] || [ -L "$T_DIR/spool/corrupt/$name" ] ||
	    t_fail "maildrop/$name moved to corrupt/" "not there"
	[ ! -e "$drop/$name" ] && [ ! -L "$drop/$name" ] ||
	    t_fail "maildrop/$name gone from maildrop/" "still there"
done
[ -L "$spool/corrupt/m-symlink" ] || t_fail "the symbolic link itself in corrupt/" "$(ls -l "$spool/corrupt/m-symlink")"
[ "$(stat -c %h "$T_DIR/elsewhere/rootfile")" = 2 ] ||
    t_fail "root's file still linked from corrupt/ (never deleted)" "$(stat -c %h "$T_DIR/elsewhere/rootfile")"
for tag in via-symlink hardlinked rootfile truncated forged trailing badname nouser young old; do
	! grep -qx "Subject: $tag" "$mb" || t_fail "nothing of $tag delivered" "it was"
done
[ -f "$drop/t-young" ] || t_fail "a fresh t-young left alone" "gone"
[ ! -e "$drop/t-old" ] || t_fail "t-old (2 hours) removed" "still there"
grep -q "maildrop/t-old: removed: unfinished" "$log" || t_fail "t-old's removal logged" "no line"
say "(c) hostile files refused, logged and moved to corrupt/; t-old removed, t-young kept; the good one delivered"

# ---- (d): the owner's identity wins over anything in the file
maildrop "$UA@mx.test" claims "sender $UB@mx.test
" $'Received: from root (uid 0)\r\nFrom: root@mx.test\r\n' | put "$UA" m-claims
delivered "$mb" claims
msg=$(message "$mb" claims)
first=$(printf '%s\n' "$msg" | grep -m 1 '^Received:')
[ "$first" = "Received: from $UA (uid $uida)" ] ||
    t_fail "the first Received names $UA (uid $uida)" "$first"
grep -Eq "picked up maildrop/m-claims uid=$uida user=$UA from=<?$UB@mx.test>?" "$log" ||
    t_fail "the log names uid $uida and user $UA beside the -f sender" "$(grep m-claims "$log")"
say "(d) the owner wins: $(grep -o 'picked up maildrop/m-claims.*' "$log")"

sm_stop "$SM_PID" || t_fail "strictmaild stops" "it did not"
t_pass
