#!/bin/bash
# t-25-client-limit: max-sessions-per-client counts an IPv6 client by its
# /64, and exempts relay-network clients.  With a limit of 2: two
# sessions from two addresses of one /64 are served, a third address of
# that /64 gets 421 4.7.0, another /64 is served; three sessions from a
# relay-network /64 are all served; once one session of the full /64
# ends, its neighbour is served.  (IPv4, per address: t-30's
# limit-sessions*.dlg.)
. "$(dirname "$0")/lib.sh"
t_init

for a in fd00:25:1:1::1 fd00:25:1:1::a fd00:25:1:1::b fd00:25:1:1::c \
    fd00:25:1:2::a fd00:25:1:3::a fd00:25:1:3::b fd00:25:1:3::c; do
	ip -n "$T_NS" addr add "$a/128" dev lo nodad ||
	    t_fail "$a on lo in $T_NS" "an error"
done

spool=$T_DIR/spool
conf=$T_DIR/strictmail.conf
log=$T_DIR/daemon.log
sm_config "$conf" "$spool" "listen fd00:25:1:1::1 25 smtp" \
    "max-sessions-per-client 2" "relay-network 127.0.0.0/8 fd00:25:1:3::/64"
sm_start_ready "$conf" "$log"
say "strictmaild running, pid $SM_PID"

sm_py_fg - <<'EOF' || t_fail_py
import sys
from smtest import Raw, Checker

r = Checker()
SERVER = 'fd00:25:1:1::1'
held = {}

def greet(name, src):
    c = Raw(SERVER, 25, source=src, timeout=10)
    code, lines = c.reply()
    text = lines[-1] if lines else 'EOF'
    if code == 220:
        held[name] = c
    else:
        c.close()
    return text

def expect(name, src, want):
    got = greet(name, src)
    r.check('%s from %s' % (name, src), got.startswith(want),
            '"%s..."' % want, '"%s"' % got)

expect('a', 'fd00:25:1:1::a', '220 ')
expect('b', 'fd00:25:1:1::b', '220 ')
expect('c', 'fd00:25:1:1::c', '421 4.7.0 ')
expect('d', 'fd00:25:1:2::a', '220 ')
expect('e', 'fd00:25:1:3::a', '220 ')
expect('f', 'fd00:25:1:3::b', '220 ')
expect('g', 'fd00:25:1:3::c', '220 ')
expect('h', 'fd00:25:1:3::a', '220 ')
# One session of the full /64 ends: its neighbour gets in.
code, _ = held.pop('a').cmd('QUIT')
r.check('QUIT of a', code == 221, '221', code)
expect('c2', 'fd00:25:1:1::c', '220 ')
expect('c3', 'fd00:25:1:1::a', '421 4.7.0 ')
for c in held.values():
    c.close()
r.done()
EOF
grep -Eq 'session=[0-9a-f.]+ connect client=fd00:25:1:1::c ' "$log" ||
    t_fail "the refused client in the log" "none"
pid_alive "$SM_PID" || t_fail "the parent running" "it exited"
sm_stop "$SM_PID" 30 || t_fail "exit after SIGTERM within 30 s" "still running"
[ "$SM_RC" = 0 ] || t_fail "exit status 0 after SIGTERM" "$SM_RC"
t_pass
