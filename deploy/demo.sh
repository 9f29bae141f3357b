#!/usr/bin/env bash
# The moat demo. Today: build, then replay the real spoofed SYN flood capture
# through the engine (`moatctl explain`) with SYN cookies on the embedded
# default (auto) and always, and print the summaries. The live lab (network
# namespaces, real HTTP server and clients, an attacker) arrives with host mode.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${MOAT_BUILD_DIR:-build}

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
	sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi
if [ "${1:-}" = "--dataplane" ]; then
	echo "demo.sh: --dataplane needs moat-dp, which is not built yet (inline appliance work)" >&2
	exit 2
fi

./deploy/install-deps.sh
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" >/dev/null

capture=$(realpath -m "$root/../shared/captures/pkt.TCP.synflood.spoofed.pcap")
[ -r "$capture" ] || { echo "demo.sh: $capture not found" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'syn_cookies: always\nprotect_ports: [25565]\n' >"$work/always.yaml"

echo "== moat explain: spoofed SYN flood, embedded defaults (syn_cookies: auto, trigger 1000 SYN/s)"
"$build/control/moatctl" explain --quiet "$capture"
echo
echo "== moat explain: the same flood with syn_cookies: always on port 25565"
"$build/control/moatctl" explain --quiet --config "$work/always.yaml" "$capture"
