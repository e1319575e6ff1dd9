#!/bin/bash
# t-69-pause: strictmailctl pause delivery and resume delivery against a
# running daemon, with local mbox delivery as the destination.
#  - status (text and --json) says "delivery: running", then "paused";
#  - an ordinary user is refused pause and resume (exit 77, "permission
#    denied: only root may pause delivery"), logged; nothing changes;
#  - a delivery in flight when the pause comes (a pipe alias that waits
#    for a go) finishes while paused and its outcome is written (the
#    message leaves the spool);
#  - while paused, messages for a local user are accepted (250) and
#    queued (their envelopes in the spool, listed by mailq, whose first
#    line says delivery is paused), and the user's mbox stays empty;
#  - queue/paused is in the spool; the daemon restarted is still paused
#    (logged at start), and a message sent after the restart is queued
#    too; pausing again is no error ("it was paused already");
#  - resume (logged with the operator): every queued message is
#    delivered at once into the mbox, queue/paused is gone, mailq has no
#    paused line; status says running.
. "$(dirname "$0")/lib.sh"
t_init
t_need setpriv

CTL=$(dirname "$SM_BIN")/strictmailctl
[ -x "$CTL" ] || t_fail "an executable strictmailctl next to $SM_BIN" "none (make / make asan)"
spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sock=$T_DIR/run/control.sock
U1=smt69a$$
usr=smt69u$$

mkdir -p "$T_DIR/home" "$T_DIR/mail" "$T_DIR/out"
chmod 0755 "$T_DIR/home"
chmod 1777 "$T_DIR/mail" "$T_DIR/out"
t_user_add "$U1" "$T_DIR/home/$U1" || t_fail "useradd $U1" "an error"
t_user_add "$usr" /nonexistent || t_fail "useradd $usr" "an error"
mkdir -p "$T_DIR/home/$U1"
chown "$U1:" "$T_DIR/home/$U1"
mb=$T_DIR/mail/$U1

# Mail for "slow" waits in its delivery until $T_DIR/out/go exists.
cat > "$T_DIR/slow.sh" <<EOF
#!/bin/sh
: > "$T_DIR/out/started"
while [ ! -f "$T_DIR/out/go" ]; do sleep 0.1; done
cat > "$T_DIR/out/slow.msg"
exit 0
EOF
chmod 0755 "$T_DIR/slow.sh"
printf 'slow: "|%s"\n' "$T_DIR/slow.sh" > "$T_DIR/aliases"
"$CTL" newaliases -f "$T_DIR/aliases" >/dev/null 2>&1 || t_fail "newaliases" "an error"

sm_config "$conf" "$spool" "control-socket $sock" "mbox-dir $T_DIR/mail" \
    "aliases $T_DIR/aliases" "retry-initial 1h"
sm_start_ready "$conf" "$log"

as_user() {	# as_user NAME CMD...
	local u=$1
	shift
	setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --init-groups "$@"
}
dstate() {	# the "delivery" of status --json
	"$CTL" -s "$sock" status --json | "$PY" -c \
	    'import json,sys; print(json.load(sys.stdin)["delivery"])'
}
send() {	# send TO TAG: one message; prints its queue ID
	local out
	printf 'From: <sender@example.org>\r\nSubject: %s\r\n\r\nbody %s\r\n' \
	    "$2" "$2" > "$T_DIR/$2.eml"
	out=$(sm_send sender@example.org "$1" "$T_DIR/$2.eml")
	case $out in
	"250 "*) echo "${out#250 }" ;;
	*) t_fail "$1 accepted (250)" "$out" ;;
	esac
}
queued() {	# queued QID: its envelope is in the spool
	ls "$spool"/queue/*/"$1.env" >/dev/null 2>&1
}
gone() {	# gone QID: it leaves the spool within 20 s
	local i
	for i in $(seq 1 200); do
		queued "$1" || return 0
		sleep 0.1
	done
	return 1
}
count() {	# count TAG: messages with Subject TAG in the mbox
	grep -c "^Subject: $1\$" "$mb" 2>/dev/null || true
}

[ "$(dstate)" = running ] || t_fail "status --json: delivery running" "$(dstate)"
"$CTL" -s "$sock" status | grep -qx "delivery: running" ||
    t_fail "status: 'delivery: running'" "$("$CTL" -s "$sock" status)"

# ---- an ordinary user may not
for c in pause resume; do
	out=$(as_user "$usr" "$CTL" -s "$sock" $c delivery 2>&1)
	rc=$?
	[ "$rc" = 77 ] || t_fail "$c refused for $usr, exit 77" "exit $rc: $out"
	grep -qF "permission denied: only root may $c delivery" <<<"$out" ||
	    t_fail "the permission error for $c" "$out"
done
grep -qE "control: uid $(id -u "$usr") \($usr\) pid [0-9]+: pause delivery refused" "$log" ||
    t_fail "the refusal logged" "$(grep refused "$log" | tail -n 2 | tr '\n' '|')"
[ "$(dstate)" = running ] || t_fail "still running after the refusal" "$(dstate)"
[ -e "$spool/queue/paused" ] && t_fail "no queue/paused after the refusal" "there"
out=$("$CTL" -s "$sock" pause 2>&1)
[ $? = 64 ] || t_fail "'pause' without 'delivery' is a usage error (64)" "$out"
say "ordinary user refused"

# ---- a delivery in flight finishes while paused
qs=$(send "slow@mx.test" slow) || exit 1
for i in $(seq 1 200); do [ -f "$T_DIR/out/started" ] && break; sleep 0.1; done
[ -f "$T_DIR/out/started" ] || t_fail "the slow delivery started" "not in 20 s"
out=$("$CTL" -s "$sock" pause delivery 2>&1) || t_fail "pause delivery as root" "$out"
[ "$out" = "delivery: paused" ] || t_fail "'delivery: paused'" "$out"
grep -q "delivery paused by uid 0 (root)" "$log" || t_fail "the pause logged" "$(tail -n 3 "$log")"
[ -f "$spool/queue/paused" ] || t_fail "queue/paused in the spool" "$(ls "$spool/queue" | grep -v '^..$')"
: > "$T_DIR/out/go"
gone "$qs" || t_fail "the delivery in flight finished while paused ($qs gone)" "still queued"
grep -q "body slow" "$T_DIR/out/slow.msg" || t_fail "the slow pipe got its message" "$(cat "$T_DIR/out/slow.msg")"
say "in flight: finished while paused"

# ---- while paused: accepted, queued, not delivered
q1=$(send "$U1@mx.test" p1) || exit 1
q2=$(send "$U1@mx.test" p2) || exit 1
q3=$(send "$U1@mx.test" p3) || exit 1
sleep 2
for q in "$q1" "$q2" "$q3"; do
	queued "$q" || t_fail "$q queued while paused" "not in the spool"
done
[ -s "$mb" ] && t_fail "the mbox empty while paused" "$(grep '^Subject' "$mb")"
grep -qE "($q1|$q2|$q3): to=" "$log" && t_fail "no delivery attempt while paused" "$(grep -E "($q1|$q2|$q3): to=" "$log")"
"$CTL" -s "$sock" queue > "$T_DIR/mailq" || t_fail "mailq" "$(cat "$T_DIR/mailq")"
head -n 1 "$T_DIR/mailq" | grep -q "^Mail delivery is paused" ||
    t_fail "mailq's first line says delivery is paused" "$(head -n 2 "$T_DIR/mailq")"
n=$(grep -cE "^($q1|$q2|$q3) " "$T_DIR/mailq")
[ "$n" = 3 ] || t_fail "the three messages in mailq" "$(cat "$T_DIR/mailq")"
"$CTL" -s "$sock" queue --json | "$PY" -c 'import json,sys; json.load(sys.stdin)' ||
    t_fail "queue --json still parses while paused" "no"
[ "$(dstate)" = paused ] || t_fail "status --json: delivery paused" "$(dstate)"
"$CTL" -s "$sock" status | grep -qx "delivery: paused" ||
    t_fail "status: 'delivery: paused'" "$("$CTL" -s "$sock" status)"
out=$("$CTL" -s "$sock" pause delivery 2>&1) || t_fail "a second pause is no error" "$out"
[ "$out" = "delivery: paused (it was paused already)" ] || t_fail "'it was paused already'" "$out"
say "paused: accepted and queued, mbox empty"

# ---- a restart keeps it
sm_stop "$SM_PID" || t_fail "strictmaild stops" "no exit"
[ -f "$spool/queue/paused" ] || t_fail "queue/paused kept over the stop" "gone"
log=$T_DIR/daemon2.log	# a new log: "ready" is waited for in it
sm_start_ready "$conf" "$log"
grep -q "delivery is paused" "$log" || t_fail "the start logs that delivery is paused" "$(grep -i paus "$log")"
[ "$(dstate)" = paused ] || t_fail "still paused after a restart" "$(dstate)"
q4=$(send "$U1@mx.test" p4) || exit 1
sleep 2
for q in "$q1" "$q2" "$q3" "$q4"; do
	queued "$q" || t_fail "$q queued after the restart" "not in the spool"
done
[ -s "$mb" ] && t_fail "the mbox empty after the restart" "$(grep '^Subject' "$mb")"
say "restart: still paused"

# ---- resume: all delivered at once
out=$("$CTL" -s "$sock" resume delivery 2>&1) || t_fail "resume delivery as root" "$out"
[ "$out" = "delivery: running" ] || t_fail "'delivery: running'" "$out"
grep -q "delivery resumed by uid 0 (root)" "$log" || t_fail "the resume logged" "$(tail -n 3 "$log")"
[ -e "$spool/queue/paused" ] && t_fail "queue/paused removed" "there"
for q in "$q1" "$q2" "$q3" "$q4"; do
	gone "$q" || t_fail "$q delivered after the resume" "still queued"
done
for t in p1 p2 p3 p4; do
	[ "$(count "$t")" = 1 ] || t_fail "one copy of $t in the mbox" "$(count "$t")"
done
[ "$(dstate)" = running ] || t_fail "status --json: running after the resume" "$(dstate)"
"$CTL" -s "$sock" queue | grep -q "paused" && t_fail "no paused line in mailq" "$("$CTL" -s "$sock" queue)"
out=$("$CTL" -s "$sock" resume delivery 2>&1) || t_fail "a second resume is no error" "$out"
[ "$out" = "delivery: running (it was running already)" ] || t_fail "'it was running already'" "$out"
say "resumed: all four delivered"

sm_stop "$SM_PID" || t_fail "strictmaild stops" "no exit"
t_pass
