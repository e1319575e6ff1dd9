#!/bin/bash
# t-62-local-hard: the hard cases of local delivery, through the daemon.
#   1. Concurrency: 200 messages from 10 SMTP sessions at once to one
#      user while mail(1) (bsd-mailx) reads the mbox again and again; a
#      test process holds the mbox's fcntl lock for a moment, so the
#      deliveries pile up and really run at once (max-local-deliveries
#      10).  Afterwards: every message has its From_ line, mail lists 200
#      messages, each tag is there exactly once with its content intact,
#      the queue is empty; no more than 10 deliveries ran at once, and
#      what mail saw never shrank.
#   2. Disk full (mbox-dir is a small tmpfs, filled): the recipient is
#      deferred, "mailbox full" (log and envelope), the mbox
#      keeps exactly its old bytes, no dotlock is left; after space
#      returns and a flush the message is there once.
#   3. A Delivered-To loop bounces (5.4.6): the DSN reaches the (local)
#      sender, the mailbox does not change.
#   4. Hostile: a .forward that is a symbolic link to another user's
#      .forward is ignored (the mail lands in the mailbox, the log says
#      so, the other user's file is unchanged and its pipe does not run;
#      mailed directly, that user's .forward does run: the file is live);
#      a user whose home does not exist gets mbox mail (mbox-dir) and, with
#      mailbox maildir, is deferred with the reason while nothing is
#      created (no home, nothing in its world-writable parent, no
#      /Maildir); an alias /file target that alias-user may not write
#      (root's 0644 file) is deferred or bounced with the reason and the
#      file is untouched.
#   5. A .forward with a remote address only: the address becomes a new
#      pending recipient of the message ("forwarded" logged), and the
#      local mailbox gets no copy.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-dovecot.sh
. "$T_LIB/lib-dovecot.sh"
t_init

ctl=$(dirname "$SM_BIN")/strictmailctl
[ -x "$ctl" ] || t_fail "an executable $ctl" "none (make asan)"
t_need_private bsd-mailx usr/bin/bsd-mailx

NMSG=200 NSESS=10 MAXLD=10

# Test users (homes under $T_DIR); removed at the end.
U1=smt62a$$ U2=smt62b$$ U3=smt62c$$ U4=smt62d$$ U5=smt62e$$ U6=smt62f$$ U7=smt62g$$
USERS="$U1 $U2 $U3 $U4 $U5 $U6 $U7"
mkdir -p "$T_DIR/home" "$T_DIR/mail" "$T_DIR/out" "$T_DIR/open"
chmod 0755 "$T_DIR/home"
chmod 1777 "$T_DIR/out" "$T_DIR/open"
for u in $USERS; do
	t_user_add "$u" "$T_DIR/home/$u" || t_fail "useradd $u" "an error"
done
# U6's home is missing, in a folder where anyone may create one.
for i in $(seq 1 50); do	# another test may hold the passwd lock
	usermod --home "$T_DIR/open/$U6" "$U6" 2>/dev/null && break
	sleep 0.1
done
[ "$(getent passwd "$U6" | cut -d: -f6)" = "$T_DIR/open/$U6" ] ||
    t_fail "usermod --home for $U6" "an error"
for u in $U1 $U2 $U3 $U4 $U5 $U7; do
	mkdir -p "$T_DIR/home/$u"
	chown "$u:" "$T_DIR/home/$u"
	chmod 0755 "$T_DIR/home/$u"
done

# mbox-dir: a small tmpfs of its own (filled in part 2).
mount -t tmpfs -o size=2m,mode=1777 sm-t62-mail "$T_DIR/mail" ||
    t_fail "a tmpfs on $T_DIR/mail" "mount failed"
T_MOUNTS="$T_MOUNTS $T_DIR/mail"

# A pipe command that records its uid and the message it got.
cat > "$T_DIR/record.sh" <<EOF
#!/bin/sh
id -u > "$T_DIR/out/\$1.uid"
cat > "$T_DIR/out/\$1.msg"
exit 0
EOF
chmod 0755 "$T_DIR/record.sh"

# A file of root's that the alias-user must not be able to write.
printf 'root data\n' > "$T_DIR/rootfile"
chmod 0644 "$T_DIR/rootfile"
cp -p "$T_DIR/rootfile" "$T_DIR/rootfile.orig"

cat > "$T_DIR/aliases" <<EOF
badfile: $T_DIR/rootfile
EOF
"$ctl" newaliases -f "$T_DIR/aliases" > "$T_DIR/newaliases.out" 2>&1 ||
    t_fail "strictmailctl newaliases -f aliases to work" "$(cat "$T_DIR/newaliases.out")"

# U5's .forward runs a pipe; U4's .forward is a symbolic link to it.
printf '"|%s sym"\n' "$T_DIR/record.sh" > "$T_DIR/home/$U5/.forward"
chown "$U5:" "$T_DIR/home/$U5/.forward"
chmod 0644 "$T_DIR/home/$U5/.forward"
ln -s "$T_DIR/home/$U5/.forward" "$T_DIR/home/$U4/.forward"
chown -h "$U4:" "$T_DIR/home/$U4/.forward"
sum5=$(sha256sum < "$T_DIR/home/$U5/.forward")
# U7 forwards to a remote address only (no \U7).
printf 'far.away@remote.test\n' > "$T_DIR/home/$U7/.forward"
chown "$U7:" "$T_DIR/home/$U7/.forward"
chmod 0644 "$T_DIR/home/$U7/.forward"

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "aliases $T_DIR/aliases" "mbox-dir $T_DIR/mail" \
    "max-local-deliveries $MAXLD" "retry-initial 1h"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

# send FROM TO FILE: one message; sets QID.
send() {
	local out
	out=$(sm_send "$1" "$2" "$3")
	case $out in
	"250 "*) QID=${out#250 } ;;
	*) t_fail "$2 accepted (250)" "$out" ;;
	esac
}

# envfile QID: the path of its envelope, or nothing.
envfile() {
	ls "$spool"/queue/*/"$1.env" 2>/dev/null | head -n 1
}

# delivered QID: the message leaves the spool within 20 s.
delivered() {
	local i
	for i in $(seq 1 200); do
		[ -n "$(envfile "$1")" ] || return 0
		sleep 0.1
	done
	t_fail "$1 delivered and gone from the spool" \
	    "$(grep '^rcpt' "$(envfile "$1")" | tr '\n' '|')"
}

# logged PATTERN [SECONDS]: the log gets a line matching the ERE.
logged() {
	sm_wait_log "$log" "$1" "$SM_PID" "${2:-20}"
}

# count FILE TAG: how many messages with Subject TAG the file holds.
count() {
	grep -c "^Subject: $2\$" "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- 1
mb1=$T_DIR/mail/$U1
: > "$mb1"
chown "$U1:" "$mb1"
chmod 0600 "$mb1"

# mail reads the mbox in a loop until told to stop (bounded).
reader() {
	local i n=0 out
	for i in $(seq 1 400); do
		[ -e "$T_DIR/reader.stop" ] && break
		out=$(mailx_read_mbox "$mb1" 2>&1 | head -n 1)
		n=$((n + 1))
		printf '%s\n' "$out" >> "$T_DIR/reader.lines"
		sleep 0.05
	done
	echo "$n" > "$T_DIR/reader.done"
}
reader &
T_HELPERS="$T_HELPERS $!"

t0=$(date +%s)
sm_py_fg - "$NSESS" "$((NMSG / NSESS))" "$mb1" "$(id -u "$U1")" "$U1@mx.test" \
    "$spool" "$MAXLD" "$T_DIR/conc.qids" <<'EOF' || t_fail_py
import fcntl, glob, os, smtplib, sys, threading, time
from smtest import make_body, parse_queued, Checker

T = Checker()
nsess, per, mbox, uid, rcpt, spool, maxld, out = sys.argv[1:9]
nsess, per, uid, maxld = int(nsess), int(per), int(uid), int(maxld)
lock = threading.Lock()
acks, errors = [], []
peak = [0]
stop = threading.Event()


def deliveries():
    """Processes running as the user: its local deliveries."""
    n = 0
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/status' % p) as f:
                for line in f:
                    if line.startswith('Uid:'):
                        n += int(line.split()[1]) == uid
                        break
        except OSError:
            pass
    return n


def sampler():
    while not stop.is_set():
        n = deliveries()
        with lock:
            peak[0] = max(peak[0], n)
        time.sleep(0.01)


def session(k):
    try:
        s = smtplib.SMTP('127.0.0.1', 25, timeout=60,
                         local_hostname='conc%d.test' % k)
        s.ehlo()
        for i in range(per):
            body = make_body('t62-%d-%d' % (k, i), 600 + 97 * ((k + i) % 7))
            s.mail('sender@example.org')
            s.rcpt(rcpt)
            code, text = s.data(body)
            qid = parse_queued(text) if code == 250 else None
            with lock:
                if qid:
                    acks.append(qid)
                else:
                    errors.append('session %d message %d: %s %s'
                                  % (k, i, code, text))
        s.quit()
    except Exception as e:
        with lock:
            errors.append('session %d: %r' % (k, e))


# Hold the mbox's fcntl lock while the first messages come: their
# deliveries start and wait, side by side.
fd = os.open(mbox, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
th = threading.Thread(target=sampler)
th.start()
t0 = time.monotonic()
threads = [threading.Thread(target=session, args=(k,)) for k in range(nsess)]
for t in threads:
    t.start()
while time.monotonic() - t0 < 10 and deliveries() < maxld:
    time.sleep(0.02)
held = peak[0]
time.sleep(0.3)
fcntl.lockf(fd, fcntl.LOCK_UN)
os.close(fd)
for t in threads:
    t.join(timeout=90)
sent = time.monotonic() - t0


def queued():
    return [p for p in glob.glob(spool + '/queue/*/*.env')]


left = queued()
end = time.monotonic() + 60
while left and time.monotonic() < end:
    time.sleep(0.1)
    left = queued()
stop.set()
th.join()
T.say('%d sessions x %d messages: %d acknowledged in %.1f s, all delivered '
      'after %.1f s; %d deliveries waited on the lock at once, peak %d'
      % (nsess, per, len(acks), sent, time.monotonic() - t0, held, peak[0]))
with open(out, 'w') as f:
    f.write(''.join(q + '\n' for q in acks))
T.check('every message acknowledged with 250 and a queue id', not errors,
        '%d acknowledgements' % (nsess * per), errors[:3])
T.check('the queue empty within 60 s', not left, 'no envelope',
        '%d left: %s' % (len(left), left[:3]))
T.check('several local deliveries at once (max-local-deliveries %d)' % maxld,
        peak[0] >= 2, 'at least 2 running as the user at once',
        peak[0])
T.check('never more than max-local-deliveries at once', peak[0] <= maxld,
        'at most %d' % maxld, peak[0])
T.done()
EOF
touch "$T_DIR/reader.stop"
for i in $(seq 1 200); do [ -e "$T_DIR/reader.done" ] && break; sleep 0.1; done
[ -e "$T_DIR/reader.done" ] || t_fail "the mail reader loop to end" "still running"
say "concurrency: sending and delivery took $(( $(date +%s) - t0 ))s; mail read the mbox $(cat "$T_DIR/reader.done") times meanwhile"

# What mail saw while the deliveries ran: each read worked, and the
# number of messages never went down.
sm_py - "$T_DIR/reader.lines" "$NMSG" <<'EOF' || t_fail_py
import re, sys
from smtest import Checker
T = Checker()
lines = open(sys.argv[1], errors='replace').read().splitlines()
counts, bad = [], []
for line in lines:
    m = re.search(r': (\d+) messages?', line)
    if m:
        counts.append(int(m.group(1)))
    elif re.match(r'^No mail', line) or line == '':
        counts.append(0)
    else:
        bad.append(line)
T.say('mail read %d times: counts from %s to %s' % (
    len(lines), counts[0] if counts else '-', counts[-1] if counts else '-'))
T.check('every read of mail listed the mbox', not bad, 'a message count',
        bad[:2])
T.check('at least 3 reads while deliveries ran', len(lines) >= 3,
        '>= 3 reads', len(lines))
down = [(a, b) for a, b in zip(counts, counts[1:]) if b < a]
T.check('the count mail saw never went down', not down, 'non-decreasing',
        down[:3])
T.check('no read saw more than %s messages' % sys.argv[2],
        max(counts or [0]) <= int(sys.argv[2]), '<= ' + sys.argv[2],
        max(counts or [0]))
T.done()
EOF

# The mbox afterwards: mail lists all of them.
listing=$(mailx_read_mbox "$mb1" 2>&1 | head -n 1)
case $listing in
*": $NMSG messages"*) ;;
*) t_fail "mail to list $NMSG messages in $mb1" "$listing" ;;
esac
# The mbox parses: each message has its From_ line after a blank line,
# each tag is there exactly once, its content intact.
sm_py - "$mb1" "$NSESS" "$((NMSG / NSESS))" "$U1@mx.test" <<'EOF' || t_fail_py
import re, sys
from smtest import make_body, Checker
T = Checker()
mbox, nsess, per, rcpt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = open(mbox, 'rb').read()
T.check('the mbox starts with a From_ line', data.startswith(b'From sender@example.org '),
        'From sender@example.org', data[:40])
T.check('the mbox ends with a blank line', data.endswith(b'\n\n'), 'LF LF', data[-20:])
msgs = re.split(rb'\n\n(?=From )', data[:-2]) if data else []
fromre = re.compile(rb'^From sender@example\.org (Mon|Tue|Wed|Thu|Fri|Sat|Sun) .*\d{4}$')
bad = [m[:80] for m in msgs if not fromre.match(m.split(b'\n', 1)[0])]
T.check('every message begins with its From_ line', not bad, 'none bad', bad[:2])
fromlines = len(re.findall(rb'^From ', data, re.M))
T.check('%d From_ lines' % (nsess * per), fromlines == nsess * per,
        nsess * per, fromlines)
seen = {}
broken = []
for m in msgs:
    s = re.search(rb'^Subject: test (t62-\d+-\d+)$', m, re.M)
    if not s:
        broken.append(m[:100])
        continue
    tag = s.group(1).decode()
    seen[tag] = seen.get(tag, 0) + 1
    k, i = (int(x) for x in tag.split('-')[1:])
    want = make_body(tag, 600 + 97 * ((k + i) % 7)).replace(b'\r\n', b'\n')
    lines = m.split(b'\n')
    if lines[1] != b'Return-Path: <sender@example.org>' or \
            lines[2].lower() != b'delivered-to: ' + rcpt.lower().encode() or \
            not m.endswith(b'\n' + want.rstrip(b'\n')):
        broken.append(tag)
tags = {'t62-%d-%d' % (k, i) for k in range(nsess) for i in range(per)}
T.check('every message whole (Return-Path, Delivered-To, content as sent)',
        not broken, 'none broken', broken[:2])
T.check('each of the %d tags in the mbox' % len(tags), set(seen) == tags,
        'all', 'missing %s, unexpected %s' % (sorted(tags - set(seen))[:3],
                                              sorted(set(seen) - tags)[:3]))
dup = [t for t, n in seen.items() if n != 1]
T.check('each tag exactly once', not dup, 'once', dup[:3])
T.done()
EOF
[ ! -e "$mb1.lock" ] || t_fail "no dotlock left after the deliveries" "$mb1.lock exists"
say "concurrency: $NMSG messages in $U1's mbox once each, whole, parseable by mail; queue empty"
cp -p "$mb1" "$T_DIR/mb1.after"

# ---------------------------------------------------------------- 2
mb2=$T_DIR/mail/$U2
printf 'From: <sender@example.org>\r\nSubject: df-before\r\n\r\nbefore the disk filled\r\n' > "$T_DIR/dfb.eml"
send sender@example.org "$U2@mx.test" "$T_DIR/dfb.eml"
delivered "$QID"
cp -p "$mb2" "$T_DIR/mb2.before"
# Fill the tmpfs; the next message (20 KB) cannot fit.
dd if=/dev/zero of="$T_DIR/mail/filler" bs=64k > /dev/null 2>&1
avail=$(df --output=avail -B1 "$T_DIR/mail" | tail -n 1 | tr -d ' ')
[ "$avail" -lt 4096 ] || t_fail "the tmpfs full" "$avail bytes free"
sm_body df-big 20000 > "$T_DIR/dfbig.eml"
send sender@example.org "$U2@mx.test" "$T_DIR/dfbig.eml"
dfq=$QID
logged "$dfq: to=<?$U2@mx.test>? relay=mbox .*status=deferred" ||
    t_fail "'$dfq: ... status=deferred' logged for the full disk" \
	"$(grep "$dfq" "$log" | tail -n 3 | tr '\n' '|')"
grep -E "$dfq: to=<?$U2@mx.test>? relay=mbox .*status=deferred" "$log" | grep -q "mailbox full (write: No space left on device)" ||
    t_fail "the deferral's reply '... mailbox full (write: No space left on device)'" \
	"$(grep -E "$dfq: .*status=deferred" "$log" | tail -n 1)"
envf=$(envfile "$dfq")
[ -n "$envf" ] || t_fail "$dfq still in the spool" "no envelope"
grep -qx "rcpt pending <$U2@mx.test>" "$envf" ||
    t_fail "$U2@mx.test pending in $dfq.env" "$(grep '^rcpt' "$envf" | tr '\n' '|')"
grep -A3 -x "rcpt pending <$U2@mx.test>" "$envf" | grep '^rcpt-error' | grep -q "mailbox full" ||
    t_fail "its rcpt-error to say 'mailbox full'" "$(grep '^rcpt' "$envf" | tr '\n' '|')"
cmp -s "$mb2" "$T_DIR/mb2.before" ||
    t_fail "$mb2 exactly as before the failed write ($(stat -c %s "$T_DIR/mb2.before") bytes)" \
	"$(stat -c %s "$mb2") bytes, other content"
[ ! -e "$mb2.lock" ] || t_fail "no dotlock left after the failed write" "$mb2.lock exists"
say "disk full: $dfq deferred (mailbox full), the mbox unchanged ($(stat -c %s "$mb2") bytes)"

rm -f "$T_DIR/mail/filler"
out=$("$ctl" -s "$T_DIR/control.sock" flush 2>&1) ||
    t_fail "strictmailctl flush to work" "$out"
delivered "$dfq"
size0=$(stat -c %s "$T_DIR/mb2.before")
cmp -s -n "$size0" "$mb2" "$T_DIR/mb2.before" ||
    t_fail "$mb2 to start with its old $size0 bytes" "other bytes"
[ "$(count "$mb2" "test df-big")" = 1 ] || t_fail "df-big once in $mb2" "$(count "$mb2" "test df-big")"
[ "$(grep -c '^From ' "$mb2")" = 2 ] || t_fail "2 From_ lines in $mb2" "$(grep -c '^From ' "$mb2")"
grep -Eq "$dfq: to=<?$U2@mx.test>? relay=mbox .*status=sent" "$log" ||
    t_fail "'$dfq ... status=sent' after the flush" "$(grep "$dfq" "$log" | tail -n 2 | tr '\n' '|')"
say "disk full: after space returned and a flush, $dfq delivered once"

# ---------------------------------------------------------------- 3
printf 'Delivered-To: %s@mx.test\r\nFrom: <%s@mx.test>\r\nSubject: loop-msg\r\n\r\nlooping\r\n' \
    "$U1" "$U3" > "$T_DIR/loop.eml"
send "$U3@mx.test" "$U1@mx.test" "$T_DIR/loop.eml"
lq=$QID
logged "$lq: to=<?$U1@mx.test>? relay=mbox .*status=bounced" ||
    t_fail "'$lq: ... status=bounced' logged for the Delivered-To loop" \
	"$(grep "$lq" "$log" | tail -n 3 | tr '\n' '|')"
grep -E "$lq: to=<?$U1@mx.test>? .*status=bounced" "$log" | grep -q "mail forwarding loop for $U1@mx.test" ||
    t_fail "the bounce's reply 'mail forwarding loop for $U1@mx.test'" "$(grep -E "$lq: .*status=bounced" "$log" | tail -n 1)"
logged "$lq: bounce [0-9A-F]+ for 1 recipients" ||
    t_fail "'$lq: bounce QID for 1 recipients' logged" "$(grep "$lq" "$log" | tail -n 3 | tr '\n' '|')"
bq=$(grep -Eo "$lq: bounce [0-9A-F]+" "$log" | head -n 1 | awk '{print $3}')
delivered "$bq"
delivered "$lq"
mb3=$T_DIR/mail/$U3
grep -q '^From MAILER-DAEMON ' "$mb3" 2>/dev/null ||
    t_fail "the DSN in $U3's mbox (From MAILER-DAEMON)" "$(head -n 3 "$mb3" 2>/dev/null | tr '\n' '|')"
grep -q '5\.4\.6' "$mb3" || t_fail "the DSN to name 5.4.6" "$(grep -i 'status' "$mb3" | head -n 3 | tr '\n' '|')"
grep -qi "^Final-Recipient: rfc822; *$U1@mx.test" "$mb3" ||
    t_fail "the DSN's Final-Recipient $U1@mx.test" "$(grep -i 'recipient' "$mb3" | head -n 3 | tr '\n' '|')"
cmp -s "$mb1" "$T_DIR/mb1.after" || t_fail "$U1's mbox unchanged by the looping message" "it changed"
say "Delivered-To loop: $lq bounced 5.4.6, the DSN $bq in $U3's mbox, $U1's mbox unchanged"

# ---------------------------------------------------------------- 4
printf 'From: <sender@example.org>\r\nSubject: sym\r\n\r\nsymlinked forward\r\n' > "$T_DIR/sym.eml"
send sender@example.org "$U4@mx.test" "$T_DIR/sym.eml"
sq=$QID
delivered "$sq"
[ "$(count "$T_DIR/mail/$U4" sym)" = 1 ] ||
    t_fail "the mail in $U4's mbox (its symlinked .forward ignored)" "$(count "$T_DIR/mail/$U4" sym)"
[ ! -e "$T_DIR/out/sym.uid" ] || t_fail "the pipe of $U5's .forward not run for $U4" "it ran as uid $(cat "$T_DIR/out/sym.uid")"
[ "$(sha256sum < "$T_DIR/home/$U5/.forward")" = "$sum5" ] || t_fail "$U5's .forward unchanged" "it changed"
[ ! -e "$T_DIR/mail/$U5" ] || t_fail "nothing for $U5" "$T_DIR/mail/$U5 exists"
grep -E "$sq: to=<?$U4@mx.test>? local=mbox" "$log" | grep -q "\.forward.*symbolic link" ||
    t_fail "the log of $sq to say the .forward was ignored as a symbolic link" \
	"$(grep "$sq" "$log" | grep -v 'status=' | tail -n 2 | tr '\n' '|')"
# The same file is live for its owner.
send sender@example.org "$U5@mx.test" "$T_DIR/sym.eml"
delivered "$QID"
[ "$(cat "$T_DIR/out/sym.uid" 2>/dev/null)" = "$(id -u "$U5")" ] ||
    t_fail "$U5's own .forward pipe run as $U5" "$(cat "$T_DIR/out/sym.uid" 2>/dev/null || echo 'it did not run')"
[ ! -e "$T_DIR/mail/$U5" ] || t_fail "no mbox for $U5 (no \\$U5 in the .forward)" "one"
say "a .forward symlinked to $U5's: ignored (logged), mail in $U4's mbox, $U5's pipe not run for it"

printf 'From: <sender@example.org>\r\nSubject: nohome\r\n\r\nno home\r\n' > "$T_DIR/nohome.eml"
send sender@example.org "$U6@mx.test" "$T_DIR/nohome.eml"
delivered "$QID"
[ "$(count "$T_DIR/mail/$U6" nohome)" = 1 ] || t_fail "$U6 (no home) mail in its mbox" "$(count "$T_DIR/mail/$U6" nohome)"
[ -z "$(ls -A "$T_DIR/open")" ] || t_fail "no home created for $U6" "$(ls -A "$T_DIR/open")"
say "a user without a home: mbox delivery works, no home created"

send sender@example.org "badfile@mx.test" "$T_DIR/sym.eml"
fq=$QID
logged "$fq: to=<?badfile@mx.test>? relay=file .*status=(deferred|bounced)" ||
    t_fail "'$fq: ... relay=file status=deferred or bounced' for a file alias-user cannot write" \
	"$(grep "$fq" "$log" | tail -n 3 | tr '\n' '|')"
grep -E "$fq: to=<?badfile@mx.test>? .*status=(deferred|bounced)" "$log" | grep -q "$T_DIR/rootfile.*Permission denied" ||
    t_fail "the reason to name $T_DIR/rootfile and 'Permission denied'" \
	"$(grep -E "$fq: .*status=" "$log" | tail -n 1)"
cmp -s "$T_DIR/rootfile" "$T_DIR/rootfile.orig" || t_fail "$T_DIR/rootfile untouched" "it changed"
[ "$(stat -c '%u %a' "$T_DIR/rootfile")" = "0 644" ] || t_fail "$T_DIR/rootfile still root's, 0644" "$(stat -c '%u %a' "$T_DIR/rootfile")"
[ ! -e "$T_DIR/rootfile.lock" ] || t_fail "no dotlock next to $T_DIR/rootfile" "one"
say "an alias file target alias-user cannot write: $(grep -Eo "$fq: to=<?badfile@mx.test>? .*status=(deferred|bounced)" "$log" | grep -Eo 'status=[a-z]+' | head -n 1), the file untouched"

# ---------------------------------------------------------------- 5
printf 'From: <sender@example.org>\r\nSubject: fwd\r\n\r\nforwarded\r\n' > "$T_DIR/fwd.eml"
send sender@example.org "$U7@mx.test" "$T_DIR/fwd.eml"
rq=$QID
logged "$rq: forwarded: orig_to=<$U7@mx.test> to=<far.away@remote.test>" ||
    t_fail "'$rq: forwarded: orig_to=<$U7@mx.test> to=<far.away@remote.test>' logged" \
	"$(grep "$rq" "$log" | tail -n 4 | tr '\n' '|')"
envf=$(envfile "$rq")
[ -n "$envf" ] || t_fail "$rq in the spool with its new recipient" "no envelope"
grep -qx "rcpt delivered <$U7@mx.test>" "$envf" ||
    t_fail "$U7@mx.test delivered in $rq.env" "$(grep '^rcpt' "$envf" | tr '\n' '|')"
grep -qx "rcpt pending <far.away@remote.test>" "$envf" ||
    t_fail "far.away@remote.test a pending recipient of $rq" "$(grep '^rcpt' "$envf" | tr '\n' '|')"
[ "$(grep -c '^rcpt ' "$envf")" = 2 ] || t_fail "2 recipients in $rq.env" "$(grep '^rcpt ' "$envf" | tr '\n' '|')"
[ ! -e "$T_DIR/mail/$U7" ] || t_fail "no copy in $U7's mailbox" "$T_DIR/mail/$U7 exists"
say ".forward to a remote address: a new pending recipient of $rq, no local copy"

# Nothing written as root in the mail folders (the filler is gone).
bad=$(find "$T_DIR/mail" "$T_DIR/home" "$T_DIR/out" -user root ! -type d 2>/dev/null | head -n 3)
[ -z "$bad" ] || t_fail "no file written as root" "$bad"
sm_stop "$SM_PID" || t_fail "a clean stop" "had to kill it"

# ---------------------------------------------------------------- 4 (Maildir)
maildir_root=0
[ -e /Maildir ] && maildir_root=1
sm_config "$conf" "$spool" "aliases $T_DIR/aliases" "mbox-dir $T_DIR/mail" \
    "mailbox maildir" "retry-initial 1h"
sm_start_ready "$conf" "$log"
send sender@example.org "$U6@mx.test" "$T_DIR/nohome.eml"
nq=$QID
logged "$nq: to=<?$U6@mx.test>? relay=maildir .*status=deferred" ||
    t_fail "'$nq: ... relay=maildir status=deferred' for a user without a home" \
	"$(grep "$nq" "$log" | tail -n 3 | tr '\n' '|')"
grep -E "$nq: to=<?$U6@mx.test>? .*status=deferred" "$log" | grep -q "$T_DIR/open/$U6/Maildir.*No such file or directory" ||
    t_fail "the reason to name $T_DIR/open/$U6/Maildir and 'No such file or directory'" \
	"$(grep -E "$nq: .*status=deferred" "$log" | tail -n 1)"
envf=$(envfile "$nq")
grep -qx "rcpt pending <$U6@mx.test>" "$envf" 2>/dev/null ||
    t_fail "$U6@mx.test pending in $nq.env" "$(grep '^rcpt' "$envf" 2>/dev/null | tr '\n' '|')"
[ -z "$(ls -A "$T_DIR/open")" ] || t_fail "nothing created for $U6 (no home)" "$(ls -A "$T_DIR/open")"
if [ "$maildir_root" = 0 ] && [ -e /Maildir ]; then
	t_fail "no /Maildir created" "/Maildir exists"
fi
bad=$(find "$T_DIR" -xdev -user "$U6" ! -path "$T_DIR/mail/*" 2>/dev/null | head -n 3)
[ -z "$bad" ] || t_fail "no file of $U6's outside its mbox" "$bad"
say "a user without a home and mailbox maildir: deferred with the reason, nothing created"

sm_stop "$SM_PID" || t_fail "a clean stop" "had to kill it"
t_pass
