#!/bin/bash
# t-73-spoolfs: the queue tells whether the spool's file system keeps a
# journal (queue_fs_journalled: ext4 with one, as /proc/fs/jbd2 lists it,
# or XFS), logs it at start ("spool file system: ..."), and commits
# messages whole either way (a lone message's write-back starts before
# its syncs with a journal, beside them without; queue/INTERNALS step 3).
# Three spools: ext4 with a journal and ext4 without one, each on a loop
# device whose image lies on a tmpfs, and the tmpfs itself.  For each:
# the log line names it rightly; 20 messages, one at a time, get 250 and
# are intact in the spool (size and digest); a restart's recovery keeps
# all of them, with nothing in corrupt/.
. "$(dirname "$0")/lib.sh"
t_init

for c in mkfs.ext4 losetup; do
	command -v "$c" >/dev/null ||
	    t_fail "$c (installed by: sh tests/deps.sh)" "not found"
done
tmp=$T_DIR/tmpfs
mkdir -p "$tmp"
mount -t tmpfs -o size=200m,mode=0755 strictmail-spoolfs "$tmp" ||
    t_fail "a tmpfs mounted at $tmp" "mount failure"
T_MOUNTS="$T_MOUNTS $tmp"

# name, mkfs features (none: the tmpfs), the words the log must show
run_case() {
	local name=$1 feat=$2 want=$3 fs spool conf log
	if [ "$feat" = none ]; then
		fs=$tmp/$name
		mkdir -p "$fs"
	else
		fs=$T_DIR/$name
		mkdir -p "$fs"
		truncate -s 48M "$tmp/$name.img" || t_fail "an image for $name" "truncate failure"
		mkfs.ext4 -q -F -b 4096 -O "$feat" "$tmp/$name.img" > "$T_DIR/mkfs.log" 2>&1 ||
		    t_fail "mkfs.ext4 -O $feat" "$(head -n 3 "$T_DIR/mkfs.log" | tr '\n' '|')"
		mount -o loop "$tmp/$name.img" "$fs" ||
		    t_fail "the $name image mounted at $fs" "mount failure"
		T_MOUNTS="$fs $T_MOUNTS"
		chmod 0755 "$fs"
	fi
	spool=$fs/spool
	conf=$T_DIR/$name.conf
	log=$T_DIR/$name.log
	sm_config "$conf" "$spool" "min-free-space 0"
	sm_start_ready "$conf" "$log"
	grep -Eq "queue\[[0-9]+\]: spool file system: $want\$" "$log" ||
	    t_fail "$name: 'spool file system: $want'" "$(grep -m 1 'spool file system' "$log")"
	say "$name: $(grep -m 1 -o 'spool file system: .*' "$log")"
	sm_py_fg - "$spool" "$T_DIR/$name.acks" <<'EOF' || t_fail_py
import smtplib, sys
from smtest import Checker, make_body, sha256, parse_queued, check_msg

spool, acks = sys.argv[1:3]
T = Checker()
n = 0
with open(acks, 'w') as f:
    for i in range(20):
        body = make_body('t73-%d' % i, 3000 + 997 * i)
        s = smtplib.SMTP('127.0.0.1', 25, timeout=30, local_hostname='fs.test')
        s.ehlo()
        s.mail('fs@example.org')
        s.rcpt('root@localhost')
        code, text = s.data(body)
        s.quit()
        qid = parse_queued(text.decode()) if code == 250 else None
        T.check('message %d -> 250 queued' % i, qid is not None, 250, (code, text))
        if qid is None:
            continue
        errs = check_msg(spool, qid, sha256(body), ['root@localhost'])
        T.check('%s intact' % qid, not errs, 'intact', errs)
        f.write('%s %s\n' % (qid, sha256(body)))
        n += 1
T.say('%d messages committed and intact' % n)
T.done()
EOF
	sm_stop "$SM_PID" 30 || t_fail "$name: exit after SIGTERM within 30 s" "still running"
	[ "$SM_RC" = 0 ] || t_fail "$name: exit status 0 after SIGTERM" "$SM_RC"
	sm_start_ready "$conf" "$T_DIR/$name.2.log"
	grep -q "recovery: 20 messages in queue, 0 moved to corrupt/" "$T_DIR/$name.2.log" ||
	    t_fail "$name: recovery keeps the 20 messages, none to corrupt/" \
		"$(grep -m 1 'recovery: [0-9]* messages' "$T_DIR/$name.2.log")"
	sm_stop "$SM_PID" 30 || t_fail "$name: exit after SIGTERM within 30 s (2)" "still running"
}

run_case journal has_journal "ext4 on loop[0-9]+, with a journal"
run_case nojournal ^has_journal "ext4 on loop[0-9]+, no journal"
run_case tmpfs none "file system type 0x1021994"
t_pass
