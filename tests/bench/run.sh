#!/usr/bin/env bash
# moat benchmarks: figures beside baselines measured in the same run.
#   tests/bench/run.sh [--json]
# Parts not built yet (XDP programs, moat-dp) are left out of the table.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
json=0
[ "${1:-}" = "--json" ] && json=1
build=${MOAT_BUILD_DIR:-build}

./deploy/install-deps.sh >&2
[ -f "$build/build.ninja" ] || meson setup "$build" >&2
meson compile -C "$build" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flood="$root/../shared/captures/pkt.TCP.synflood.spoofed.pcap"
cp "$flood" "$work/flood.pcap"
/usr/bin/python3 tests/bench/gen_conversation.py "$work/conv.pcap" 20000 >/dev/null
printf 'syn_cookies: always\n' >"$work/cookies.yaml"
printf 'syn_cookies: off\n' >"$work/off.yaml"

bench="$build/tests/bench/engine_bench"
flood_json=$("$bench" --config "$work/cookies.yaml" --repeat 20 "$work/flood.pcap")
conv_json=$("$bench" --config "$work/off.yaml" --repeat 20 "$work/conv.pcap")

/usr/bin/python3 - "$json" "$flood_json" "$conv_json" <<'PY'
import json, sys
as_json = sys.argv[1] == "1"
flood, conv = json.loads(sys.argv[2]), json.loads(sys.argv[3])
out = {"engine_ns": {
    "flood_cookie": flood["engine_ns"], "flood_parse_floor": flood["parse_ns"],
    "conversation": conv["engine_ns"], "conversation_parse_floor": conv["parse_ns"]}}
if as_json:
    print(json.dumps(out))
else:
    print(f"{'benchmark':44} {'ns/packet':>10} {'baseline (same run)':>28}")
    print(f"{'native engine, spoofed flood, cookies always':44} {flood['engine_ns']:10.1f} "
          f"{'parse only ' + format(flood['parse_ns'], '.1f'):>28}")
    print(f"{'native engine, legitimate conversation':44} {conv['engine_ns']:10.1f} "
          f"{'parse only ' + format(conv['parse_ns'], '.1f'):>28}")
    print(f"(flood: {flood['packets']} packets, reasons {flood['reasons']}; "
          f"conversation: {conv['packets']} packets, reasons {conv['reasons']})")
PY
