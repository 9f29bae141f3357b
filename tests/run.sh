#!/usr/bin/env bash
# Every moat test: installs what it needs, builds, runs all meson suites
# (unit, explain, bpf, fuzz, ...). Exit 0 only when every test passes.
#   ./tests/run.sh            all suites
#   ./tests/run.sh unit bpf   only these suites
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${MOAT_BUILD_DIR:-build}

./deploy/install-deps.sh

if [ -f "$build/build.ninja" ]; then
	meson setup --reconfigure "$build" >/dev/null
else
	meson setup "$build" >/dev/null
fi
meson compile -C "$build"

suites=()
for s in "$@"; do suites+=(--suite "$s"); done
start=$(date +%s)
status=0
meson test -C "$build" --print-errorlogs --num-processes 2 "${suites[@]}" || status=$?
echo "tests/run.sh: meson test exit $status after $(( $(date +%s) - start )) s"
# One closing line in the plain form CI reads, from meson's own log.
/usr/bin/python3 - "$build/meson-logs/testlog.json" <<'PY' || true
import json, sys
res = [json.loads(l)["result"] for l in open(sys.argv[1]) if l.strip()]
ok = sum(r in ("OK", "EXPECTEDFAIL") for r in res)
skip = sum(r == "SKIP" for r in res)
print(f"{ok} passed, {len(res) - ok - skip} failed, {skip} skipped")
PY
exit "$status"
