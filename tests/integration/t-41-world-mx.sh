#!/bin/bash
# t-41-world-mx: the test world's remote MXs (tests/world/mx/selftest.sh):
# every role starts in its own namespace, shows or withholds STARTTLS as
# it should, presents the certificate its role names, answers the codes
# its role scripts, records connections and transactions with their TLS
# facts, and leaves no process or namespace behind.  Runs once (SM_PRIV=0).
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/lib.sh"
t_init
[ "$SM_PRIV" = 0 ] || t_skip "the world's MXs do not depend on strictmail's mode: checked with SM_PRIV=0"
say "running tests/world/mx/selftest.sh"
if ! timeout -k 10 300 bash "$SM_TOP/tests/world/mx/selftest.sh" > "$T_DIR/selftest.log" 2>&1; then
	tail -n 40 "$T_DIR/selftest.log"
	t_fail "every MX role behaves as tests/world/mx/README says" "see the lines above"
fi
tail -n 3 "$T_DIR/selftest.log"
t_pass
