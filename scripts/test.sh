#!/bin/sh
# Installs what is missing, builds Bursar with warnings as errors and runs
# the whole test suite. This is what CI runs (.ci/run).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BURSAR_BUILDDIR:-$top/_build}

"$top/scripts/install-deps.sh"

if [ ! -d "$build" ]; then
  meson setup "$build" "$top" -Dwerror=true -Dbuildtype=debug
fi
ninja -C "$build"

status=0
meson test -C "$build" --print-errorlogs --num-processes 2 || status=$?

# The closing line CI reads, and no skipped test counted as a pass.
python3 - "$build/meson-logs/testlog.json" <<'PY' || status=1
import json, sys
ok = fail = skip = 0
subtests = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    res = r.get("result")
    if res in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif res == "SKIP":
        skip += 1
    else:
        fail += 1
    out = r.get("stdout") or ""
    subtests += sum(1 for l in out.splitlines() if l.startswith("ok "))
print(f"{subtests} TAP test cases passed; {skip} skipped test programs count as failed")
print(f"tests: {ok} passed, {fail + skip} failed")
sys.exit(1 if fail or skip else 0)
PY
exit $status
