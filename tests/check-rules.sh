#!/usr/bin/env bash
# check-rules.sh - fails when a rule of the MTA-STS specification (rules 1
# to 33 of ../shared/spec/mta-sts.md) has no test citing it.  A test cites
# a rule in a comment or a test name near its assertion as "rule N",
# "rules N to M", "rules N-M" or "rules N, M[, K...]" (also "N and M"),
# word-bounded, in any case; "rules 1 to 33" (all of them) cites none.  The tests are the sources below
# tests/unit, tests/integration and tests/fuzz.
#   tests/check-rules.sh [TOP]     prints the missing rules; exit 1 if any
set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$top" <<'PYEOF'
import os, re, sys

FIRST, LAST = 1, 33
top = sys.argv[1]
NUM = r"(\d+)"
# "rules 3 to 5", "rules 3-5" (also an en dash), "rules 2, 5 and 7", "rule 9"
RANGE = re.compile(r"\brules\s+%s\s*(?:to|-|\u2013)\s*%s\b" % (NUM, NUM), re.I)
LIST = re.compile(r"\brules?\s+(\d+(?:\s*(?:,|\band\b)\s*\d+)*)\b"
                  r"(?!\.\d|\s*(?:to|-|\u2013)\s*\d)", re.I)

cited = {}
for sub in ("unit", "integration", "fuzz"):
    base = os.path.join(top, "tests", sub)
    for root, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("corpus", "crashes")]
        for f in files:
            if not f.endswith((".c", ".h", ".sh", ".py")):
                continue
            path = os.path.join(root, f)
            try:
                text = open(path, encoding="utf-8", errors="replace").read()
            except OSError:
                continue
            rel = os.path.relpath(path, top)
            for m in RANGE.finditer(text):
                a, b = int(m.group(1)), int(m.group(2))
                if min(a, b) <= FIRST and max(a, b) >= LAST:
                    continue	# "rules 1 to 33" names the whole specification
                for n in range(min(a, b), max(a, b) + 1):
                    cited.setdefault(n, set()).add(rel)
            for m in LIST.finditer(text):
                for n in re.findall(r"\d+", m.group(1)):
                    cited.setdefault(int(n), set()).add(rel)

missing = [n for n in range(FIRST, LAST + 1) if n not in cited]
for n in range(FIRST, LAST + 1):
    if n in cited:
        print("rule %d: %s" % (n, " ".join(sorted(cited[n]))))
if missing:
    print("MISSING: no test cites rule%s %s" % ("s" if len(missing) > 1 else "",
          ", ".join(str(n) for n in missing)))
    sys.exit(1)
print("every rule %d to %d is cited by a test" % (FIRST, LAST))
PYEOF
