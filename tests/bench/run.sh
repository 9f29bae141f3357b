#!/usr/bin/env bash
# moat benchmarks: figures beside baselines measured in the same run.
#   tests/bench/run.sh [--json]
# Parts not built yet (moat-dp) are left out of the table. The XDP part needs root
# (bpf_prog_test_run, a throwaway network namespace): without it, a note and no xdp_ns.
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
ns=""
cleanup() {
	[ -z "$ns" ] || ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
flood="$root/../shared/captures/pkt.TCP.synflood.spoofed.pcap"
cp "$flood" "$work/flood.pcap"
/usr/bin/python3 tests/bench/gen_conversation.py "$work/conv.pcap" 20000 >/dev/null
printf 'syn_cookies: always\n' >"$work/cookies.yaml"
printf 'syn_cookies: off\n' >"$work/off.yaml"

bench="$build/tests/bench/engine_bench"
flood_json=$("$bench" --config "$work/cookies.yaml" --repeat 20 "$work/flood.pcap")
conv_json=$("$bench" --config "$work/off.yaml" --repeat 20 "$work/conv.pcap")

# XDP: moat.bpf.o by bpf_prog_test_run beside its baselines, in a namespace of our own
# holding a veth pair (addresses for a real listener and connection; nothing attached).
xdp_json='{}'
xdp_note=""
xbench="$build/tests/bench/xdp_bench"
xdp_setup() {
	ip netns add "$1" && ip -n "$1" link set lo up &&
		ip -n "$1" link add mb0 type veth peer name mb1 &&
		ip -n "$1" addr add 10.77.0.1/24 dev mb0 && ip -n "$1" addr add 10.77.0.2/24 dev mb1 &&
		ip -n "$1" link set mb0 up && ip -n "$1" link set mb1 up
}
if [ ! -x "$xbench" ]; then
	xdp_note="XDP part left out: xdp_bench not built (libbpf, clang, bpftool)"
elif [ "$(id -u)" != 0 ]; then
	xdp_note="XDP part left out: needs root (bpf_prog_test_run, a network namespace)"
else
	ns="moatbench-$$"
	# nsenter, not ip netns exec: that one remounts /sys (DESIGN.md).
	if ! xdp_setup "$ns" >&2; then
		xdp_note="XDP part left out: cannot set up network namespace $ns"
	elif ! xdp_json=$(nsenter --net="/run/netns/$ns" "$xbench" --dev mb0 --repeat 1000000 --rounds 5); then
		xdp_json='{}'
		xdp_note="XDP part left out: xdp_bench failed (BPF unavailable? see above)"
	fi
	ip netns del "$ns" 2>/dev/null || true
	ns=""
fi
[ -z "$xdp_note" ] || echo "$xdp_note" >&2

/usr/bin/python3 - "$json" "$flood_json" "$conv_json" "$xdp_json" "$xdp_note" <<'PY'
import json, sys
as_json = sys.argv[1] == "1"
flood, conv = json.loads(sys.argv[2]), json.loads(sys.argv[3])
xdp, xdp_note = json.loads(sys.argv[4]), sys.argv[5]
out = {"engine_ns": {
    "flood_cookie": flood["engine_ns"], "flood_parse_floor": flood["parse_ns"],
    "conversation": conv["engine_ns"], "conversation_parse_floor": conv["parse_ns"]}}
if "xdp_ns" in xdp:
    out["xdp_ns"] = xdp["xdp_ns"]
if as_json:
    print(json.dumps(out))
else:
    print(f"{'benchmark':44} {'ns/packet':>10} {'baseline (same run)':>28}")
    print(f"{'native engine, spoofed flood, cookies always':44} {flood['engine_ns']:10.1f} "
          f"{'parse only ' + format(flood['parse_ns'], '.1f'):>28}")
    print(f"{'native engine, legitimate conversation':44} {conv['engine_ns']:10.1f} "
          f"{'parse only ' + format(conv['parse_ns'], '.1f'):>28}")
    if "xdp_ns" in xdp:
        x = xdp["xdp_ns"]
        floor = f"parse-and-drop {x['floor_drop']:.1f}"
        rows = [("XDP SYN -> cookie SYN-ACK", x["syn_cookie"],
                 f"kernel cookie helper {x['kernel_cookie_helper']:.1f}"),
                ("XDP valid cookie ACK (to a listener)", x["cookie_ack"], floor),
                ("XDP established data (to a socket)", x["established"], floor),
                ("XDP anomaly drop (SYN+FIN)", x["anomaly_drop"], floor)]
        for name, v, base in rows:
            print(f"{name:44} {v:10.1f} {base:>28}")
    print(f"(flood: {flood['packets']} packets, reasons {flood['reasons']}; "
          f"conversation: {conv['packets']} packets, reasons {conv['reasons']})")
    if "xdp_ns" in xdp:
        print(f"(XDP: bpf_prog_test_run, least of {xdp['rounds']} runs of {xdp['repeat']} "
              f"repetitions; test loop alone {xdp['loop_ns']:.1f}; the SYN path behind a "
              f"frame-restoring harness, its own {xdp['harness_ns'] - xdp['loop_ns']:.1f} subtracted)")
    else:
        print(f"({xdp_note})")
PY
