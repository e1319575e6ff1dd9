#!/bin/bash
# t-39-passwd: strictmailctl passwd and makemap -t credentials (no daemon).
#  - passwd USER -f FILE with the password twice on stdin, for alice, then
#    once for Bob@Example.org: FILE (mode 0640) gets "alice:$y$..." and
#    "bob@example.org:$y$...", a comment in it is kept; FILE.db (0640)
#    answers OK for each right password (tests/tools/creds-check, which
#    calls creds_check), BAD for a wrong one and for an unknown user; the
#    hash verifies with Python's crypt module when it has one.
#  - A new password for alice changes only her line; the old one is BAD.
#  - Two different lines, an empty password, three lines: refused (exit 1),
#    FILE and FILE.db as they were.
#  - On a terminal (a pty): echo off while it asks, the password never
#    echoed; SIGINT at the prompt kills it with the echo restored.
#  - makemap -t credentials: a "$1$" line is an error naming FILE:LINE,
#    and FILE.db stays as it was.
. "$(dirname "$0")/lib.sh"
t_init

bindir=$(dirname "$SM_BIN")
CTL=$bindir/strictmailctl
CHECK=$bindir/tests/tools/creds-check
[ -x "$CTL" ] || t_fail "an executable strictmailctl next to $SM_BIN" "none (make / make asan)"
[ -x "$CHECK" ] || t_fail "an executable $CHECK" "none (make / make asan)"
f=$T_DIR/etc/passwd
mkdir -p "$T_DIR/etc"

# check USER PASSWORD WANT: creds_check on $f.db answers WANT.
check() {
	local out
	out=$(printf '%s\n' "$2" | "$CHECK" "$f.db" "$1" 2>&1)
	[ "$out" = "$3" ] || t_fail "creds_check $1 '$2': $3" "$out"
}

# ---- two users, the password on stdin
out=$(printf 'alice pw 1\nalice pw 1\n' | "$CTL" passwd alice -f "$f" 2>&1) ||
    t_fail "passwd alice exits 0" "$out"
[ "$out" = "$f: password of alice added
$f.db: 1 entry" ] || t_fail "passwd's report for alice" "$out"
printf '# submission users\n' >> "$f"
out=$(printf 'bob-pw\n' | "$CTL" passwd Bob@Example.org -f "$f" 2>&1) ||
    t_fail "passwd bob exits 0" "$out"
[ "$(sed -n 1p "$f" | cut -d: -f1)" = alice ] || t_fail "alice on line 1" "$(cat "$f")"
[ "$(sed -n 2p "$f")" = "# submission users" ] || t_fail "the comment on line 2" "$(cat "$f")"
grep -Eq '^bob@example\.org:\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]+\$[./0-9A-Za-z]{43}$' "$f" ||
    t_fail "a \$y\$ line for bob@example.org" "$(cat "$f")"
grep -Eq '^alice:\$y\$' "$f" || t_fail "a \$y\$ line for alice" "$(cat "$f")"
[ "$(wc -l < "$f")" = 3 ] || t_fail "3 lines" "$(cat "$f")"
for p in "$f" "$f.db"; do
	m=$(stat -c %a "$p")
	[ "$m" = 640 ] || t_fail "$p of mode 640" "$m"
done
check alice 'alice pw 1' OK
check ALICE 'alice pw 1' OK
check alice 'alice pw' BAD
check bob@example.org bob-pw OK
check mallory bob-pw BAD
if "$PY" -W ignore -c 'import crypt' 2>/dev/null; then
	"$PY" -W ignore - "$f" <<'EOF' || t_fail "Python's crypt to verify the hashes" "a mismatch"
import crypt, sys
h = dict(l.split(':', 1) for l in open(sys.argv[1]).read().split('\n')
         if l and not l.startswith('#'))
assert crypt.crypt('alice pw 1', h['alice']) == h['alice']
assert crypt.crypt('bob-pw', h['bob@example.org']) == h['bob@example.org']
assert crypt.crypt('bob-pW', h['bob@example.org']) != h['bob@example.org']
EOF
fi
say "two users: ok"

# ---- a new password for alice
bob_line=$(grep '^bob@' "$f")
out=$(printf 'alice pw 2\n' | "$CTL" passwd alice -f "$f" 2>&1) || t_fail "passwd alice again" "$out"
grep -q "password of alice changed" <<<"$out" || t_fail "'changed'" "$out"
[ "$(grep '^bob@' "$f")" = "$bob_line" ] || t_fail "bob's line kept" "$(cat "$f")"
[ "$(wc -l < "$f")" = 3 ] || t_fail "still 3 lines" "$(cat "$f")"
check alice 'alice pw 1' BAD
check alice 'alice pw 2' OK
check bob@example.org bob-pw OK
say "change: ok"

# ---- refusals change nothing
sum=$(md5sum < "$f"; md5sum < "$f.db")
refuse() {	# INPUT WANT-ERROR
	local out
	out=$(printf "$1" | "$CTL" passwd alice -f "$f" 2>&1) && t_fail "refused: $2" "exit 0"
	[ "$out" = "passwd: $2" ] || t_fail "passwd: $2" "$out"
}
refuse 'one\ntwo\n' "the passwords do not match"
refuse '\n' "empty password refused"
refuse '' "no password read"
refuse 'a\na\na\n' "standard input: more than two lines"
[ "$(md5sum < "$f"; md5sum < "$f.db")" = "$sum" ] || t_fail "file and map unchanged by refusals" "a change"
say "refusals: ok"

# ---- a terminal
"$PY" - "$CTL" "$f" <<'EOF' || t_fail_py
import os, pty, signal, sys, termios, time
from smtest import Checker
T = Checker()
ctl, path = sys.argv[1:]

def start():
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(ctl, [ctl, 'passwd', 'carol', '-f', path])
    return pid, fd

def until(fd, want, secs=20):
    buf, end = b'', time.time() + secs
    while want not in buf and time.time() < end:
        try:
            buf += os.read(fd, 1024)
        except OSError:
            break
    return buf

def echo(fd):
    return bool(termios.tcgetattr(fd)[3] & termios.ECHO)

pid, fd = start()
out = until(fd, b'New password: ')
T.check('the first prompt', b'New password: ' in out, 'New password: ', out)
T.check('echo off at the prompt', not echo(fd), 'off', 'on')
os.write(fd, b'carol secret\n')
out += until(fd, b'Retype new password: ')
os.write(fd, b'carol secret\n')
out += until(fd, b'entries')
_, st = os.waitpid(pid, 0)
T.check('exit 0', os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, 0, st)
T.check('the password never echoed', b'carol secret' not in out, 'absent', out)
T.check('echo restored', echo(fd), 'on', 'off')
os.close(fd)

pid, fd = start()
until(fd, b'New password: ')
T.check('echo off at the second run', not echo(fd), 'off', 'on')
os.kill(pid, signal.SIGINT)
_, st = os.waitpid(pid, 0)
T.check('killed by SIGINT', os.WIFSIGNALED(st) and
        os.WTERMSIG(st) == signal.SIGINT, 'SIGINT', st)
T.check('echo restored after SIGINT', echo(fd), 'on', 'off')
os.close(fd)
T.done()
EOF
check carol 'carol secret' OK
say "terminal: ok"

# ---- makemap -t credentials
sum=$(md5sum < "$f.db")
printf 'dave:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\n' >> "$f"
n=$(wc -l < "$f")
out=$("$CTL" makemap -t credentials "$f" 2>&1) && t_fail "a \$1\$ hash refused" "$out"
case $out in "makemap: $f:$n: weak or unknown hash method"*) ;;
*) t_fail "makemap: $f:$n: weak or unknown hash method ..." "$out" ;; esac
[ "$(md5sum < "$f.db")" = "$sum" ] || t_fail "the map unchanged after the error" "a change"
sed -i '$d' "$f"
out=$("$CTL" makemap -t credentials "$f" 2>&1) || t_fail "makemap -t credentials exits 0" "$out"
[ "$out" = "$f.db: 3 entries" ] || t_fail "'$f.db: 3 entries'" "$out"
check carol 'carol secret' OK
say "makemap: ok"
t_pass
