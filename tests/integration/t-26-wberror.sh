#!/bin/bash
# t-26-wberror: a write-back error reaches the message it belongs to, and
# only that one (queue/INTERNALS, "Errors").
#
# The spool is an ext4 file system on a loop device whose backing file
# lies on a small tmpfs, so that the disk can really lose writes:
#   1. message M1 is accepted (250);
#   2. the tmpfs is filled up to a few hundred KiB;
#   3. message A sends 3.8 MB and holds back its final dot; once the queue
#      has the octets in its file, "sync -f" on the spool must fail (the
#      loop device cannot store A's pages: they are lost);
#   4. the filler goes, message B is accepted (250) and is intact;
#   5. A's final dot: 451 4.3.0, with "commit failed: fdatasync content:
#      No space left on device" (the loop device's word for the loss; EIO
#      on other disks) in the log, and no file of A is left;
#   6. message C is accepted (250);
#   7. stop, unmount, mount again, start: recovery finds exactly M1, B and
#      C, all intact, and nothing in corrupt/;
#   8. one octet of C's content is changed on disk (same size): at the next
#      start recovery moves C to corrupt/ with "content digest" in its log
#      line and keeps M1 and B.
. "$(dirname "$0")/lib.sh"
t_init

for c in mkfs.ext4 dumpe2fs fallocate losetup sync; do
	command -v "$c" >/dev/null ||
	    t_fail "$c (installed by: sh tests/deps.sh)" "not found"
done
tmp=$T_DIR/tmpfs
fs=$T_DIR/fs
mkdir -p "$tmp" "$fs"
mount -t tmpfs -o size=96m,mode=0755 strictmail-wb "$tmp" ||
    t_fail "a tmpfs mounted at $tmp" "mount failure"
T_MOUNTS="$T_MOUNTS $tmp"
truncate -s 64M "$tmp/disk.img" || t_fail "a sparse disk image" "truncate failure"
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0,nodiscard \
    "$tmp/disk.img" > "$T_DIR/mkfs.log" 2>&1 ||
    t_fail "mkfs.ext4 on the image" "$(head -n 3 "$T_DIR/mkfs.log" | tr '\n' '|')"
# mount -o loop sets autoclear: unmounting detaches the loop device.
mount -o loop "$tmp/disk.img" "$fs" ||
    t_fail "the image mounted at $fs with -o loop" "mount failure"
# The file system comes off before the tmpfs under it.
T_MOUNTS="$fs $T_MOUNTS"
chmod 0755 "$fs"

spool=$fs/spool
conf=$T_DIR/strictmail.conf
state=$T_DIR/acks
sm_config "$conf" "$spool" "max-message-size 20M" "min-free-space 0"
log=$T_DIR/daemon1.log
sm_start_ready "$conf" "$log"
say "strictmaild pid $SM_PID, spool on $(findmnt -n -o SOURCE "$fs") over $tmp"
# Only the blocks that are free in the file system may need room in the
# tmpfs later: the image gets every block (the journal, tables, folders),
# then the free ranges are punched out again.
sync -f "$spool" || t_fail "sync -f of the new spool" "failure"
fallocate -l 64M "$tmp/disk.img" || t_fail "fallocate of the image" "failure"
punched=0
while read -r a b; do
	[ $((b - a)) -ge 16 ] || continue
	fallocate -p -o $((a * 4096)) -l $(((b - a + 1) * 4096)) "$tmp/disk.img" ||
	    t_fail "a hole punched at block $a" "failure"
	punched=$((punched + b - a + 1))
done < <(dumpe2fs "$tmp/disk.img" 2>/dev/null | sed -n 's/^ *Free blocks: //p' |
    tr ',' '\n' | sed -n 's/^ *\([0-9]*\)-\([0-9]*\) *$/\1 \2/p')
[ "$punched" -gt 4096 ] || t_fail "over 16 MiB of free blocks punched out of the image" "$punched blocks"
say "$punched free blocks of the image are holes"

sm_py_fg - "$spool" "$tmp" "$log" "$state" <<'EOF' || t_fail_py
import glob, os, re, smtplib, socket, subprocess, sys, time
from smtest import Checker, Raw, make_body, sha256, parse_queued, \
    check_msg, spool_files, stuff, wait_for, log_has

spool, tmp, log, state = sys.argv[1:5]
T = Checker()


def send(tag, size=2000):
    body = make_body(tag, size)
    s = smtplib.SMTP('127.0.0.1', 25, timeout=60, local_hostname='wb.test')
    s.ehlo()
    s.mail('wb@example.org')
    s.rcpt('root@localhost')
    try:
        code, text = s.data(body)
    except smtplib.SMTPDataError as e:
        code, text = e.smtp_code, e.smtp_error
    s.quit()
    return code, text.decode(), body


acks = []


def expect_250(name):
    code, text, body = send('t25-' + name)
    qid = parse_queued(text) if code == 250 else None
    T.check('%s -> 250 queued' % name, qid is not None, 250, (code, text))
    errs = check_msg(spool, qid, sha256(body), ['root@localhost'])
    T.check('%s (%s) intact' % (name, qid), not errs, 'intact', errs)
    acks.append((name, qid, sha256(body)))
    return qid


expect_250('M1')

# 2. Fill the tmpfs under the disk image.
st = os.statvfs(tmp)
free = st.f_bavail * st.f_frsize
keep = 384 * 1024
with open(os.path.join(tmp, 'filler'), 'wb') as f:
    left = free - keep
    chunk = b'\0' * (1 << 20)
    while left > 0:
        n = min(left, len(chunk))
        f.write(chunk[:n])
        left -= n
T.say('tmpfs: %d KiB were free, %d KiB left' % (free // 1024,
      os.statvfs(tmp).f_bavail * os.statvfs(tmp).f_frsize // 1024))

# 3. A: 3.8 MB, the final dot held back.
a_body = make_body('t25-A', 3800 * 1024)
a = Raw('127.0.0.1', 25, timeout=60)
T.check('A greeting', a.reply()[0] == 220, 220, None)
for cmd, want in (('EHLO wb.test', 250), ('MAIL FROM:<wb@example.org>', 250),
                  ('RCPT TO:<root@localhost>', 250), ('DATA', 354)):
    code, lines = a.cmd(cmd)
    T.check('A: %s' % cmd, code == want, want, (code, lines))
data = stuff(a_body)
assert data.endswith(b'\r\n.\r\n')
data = data[:-3]		# the final dot comes later
a.send(data)


def a_in_queue():
    # The receiver holds back up to 64 KiB until the pipe takes a batch;
    # everything before that is in the queue's file.
    files = glob.glob(os.path.join(spool, 'incoming', '*.msg'))
    return files and os.path.getsize(files[0]) >= want_a and files[0]


want_a = len(a_body) - 128 * 1024
a_file = wait_for(a_in_queue, 60)
if not T.check('A: its octets in incoming/ before the dot', bool(a_file),
               '>= %d octets' % want_a,
               [(p, os.path.getsize(os.path.join(spool, p)))
                for p in spool_files(spool, 'incoming')]):
    T.done()
a_qid = os.path.basename(a_file)[:-4]
T.say('A is %s' % a_qid)
r = subprocess.run(['sync', '-f', os.path.join(spool, 'incoming')],
                   capture_output=True, text=True)
T.check('sync -f of the spool fails: the disk lost A\'s pages',
        r.returncode != 0, 'non-zero exit', (r.returncode, r.stderr.strip()))

# 4. Room again: B is fine.
os.unlink(os.path.join(tmp, 'filler'))
b_qid = expect_250('B')

# 5. A's dot: its own sync reports the lost pages.
a.send(b'.\r\n')
code, lines = a.reply()
text = lines[-1][4:] if lines else ''
T.check('A: final dot -> 451 4.3.0', code == 451 and text.startswith('4.3.0'),
        '451 4.3.0 ...', (code, text))
a.close()
# The loop device reports a full backing store as ENOSPC, other disks EIO.
want = re.compile(re.escape(a_qid) + ': commit failed: fdatasync content: '
                  '(Input/output error|No space left on device)')
T.check('the log: "%s"' % want.pattern,
        wait_for(lambda: want.search(open(log, errors='replace').read()), 5),
        want.pattern, 'no such line')
left = [p for p in spool_files(spool, '') if a_qid in os.path.basename(p)]
T.check('no file of A left', not left, 'none', left)

# 6. C after it.
expect_250('C')
T.check('no other message failed',
        not log_has(log, 'commit failed: ') or
        len(re.findall('commit failed', open(log).read())) == 1,
        'one "commit failed" line', 'more')
with open(state, 'w') as f:
    f.write(''.join('%s %s %s\n' % x for x in acks))
T.done()
EOF

sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
umount "$fs" || t_fail "umount $fs" "failure"
mount -o loop "$tmp/disk.img" "$fs" || t_fail "the image mounted again" "mount failure"

# recovered LOG N CORRUPT: the recovery line says N messages, CORRUPT moved.
recovered() {
	local rec want="recovery: $2 messages in queue, $3 moved to corrupt/, 0 unfinished removed"
	rec=$(grep -Eo 'strictmail/queue\[[0-9]+\]: recovery: [0-9]+ messages in queue.*' "$1" | head -n 1)
	case $rec in
	*": $want") ;;
	*) t_fail "\"$want\"" "\"${rec#*: }\"" ;;
	esac
}

# 7. After a remount: exactly the acknowledged messages, intact.
log=$T_DIR/daemon2.log
sm_start_ready "$conf" "$log"
recovered "$log" 3 0
out=$(sm_py - "$spool" "$state" <<'EOF'
import sys
from smtest import check_msg
errs = []
for line in open(sys.argv[2]):
    name, qid, h = line.split()
    errs += check_msg(sys.argv[1], qid, h, ['root@localhost'])
print('; '.join(errs) if errs else 'ok')
sys.exit(1 if errs else 0)
EOF
) || t_fail "M1, B and C intact after the remount" "$out"
sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"

# 8. C changed on disk after its 250: recovery moves it to corrupt/.
read -r _ cqid _ < <(grep '^C ' "$state")
cmsg=$(ls "$spool"/queue/*/"$cqid".msg) || t_fail "C's content file" "none"
size=$(stat -c %s "$cmsg")
printf 'X' | dd of="$cmsg" bs=1 seek=$((size / 2)) conv=notrunc status=none
[ "$(stat -c %s "$cmsg")" = "$size" ] || t_fail "C's size unchanged" "$(stat -c %s "$cmsg")"
log=$T_DIR/daemon3.log
sm_start_ready "$conf" "$log"
recovered "$log" 2 2
grep -q "$cqid: moved to corrupt/: content digest sha256:" "$log" ||
    t_fail "\"$cqid: moved to corrupt/: content digest ...\" in the log" \
	"$(grep "$cqid" "$log" | head -n 2 | tr '\n' '|')"
[ -f "$spool/corrupt/$cqid.msg" ] && [ -f "$spool/corrupt/$cqid.env" ] ||
    t_fail "C's files in corrupt/" "$(ls "$spool/corrupt" | tr '\n' ' ')"
sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
t_pass
