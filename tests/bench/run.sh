#!/usr/bin/env bash
# moat benchmarks: figures beside baselines measured in the same run.
#   tests/bench/run.sh [--json]
# Parts not built or not runnable are left out of the table with a note. The XDP part
# needs root (bpf_prog_test_run, a throwaway network namespace): without it, no xdp_ns.
# The DPDK part (dp_mpps: moat-dp beside dpdk-testpmd, see dp_bench.py) runs on vdevs
# only (no NIC, EAL never probes PCI; huge pages where the machine allows: dp_bench.py);
# dpdk-testpmd (Debian: dpdk-dev) is
# installed here when missing and root. flow_table: flowtab_bench.c. host_lab: the
# namespace lab under a trafgen flood, kernel cookies beside moat (host_lab_bench.sh, root).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
json=0
[ "${1:-}" = "--json" ] && json=1
build=${MOAT_BUILD_DIR:-build}

./deploy/install-deps.sh >&2
# The testpmd baseline: Debian ships dpdk-testpmd in dpdk-dev (not in dpdk).
if ! command -v dpdk-testpmd >/dev/null && [ "$(id -u)" = 0 ]; then
	echo "moat: installing dpdk-dev (dpdk-testpmd)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpdk-dev >&2 ||
		echo "moat: cannot install dpdk-dev: no testpmd baselines" >&2
fi
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

# moat-dp and dpdk-testpmd Mpps on one worker lcore, 5 s windows (about 35 s in all).
dp_json='{}'
if ! dp_json=$(/usr/bin/python3 tests/bench/dp_bench.py --build "$build" --work "$work"); then
	dp_json='{"notes": ["DPDK part left out: dp_bench.py failed (see above)"]}'
fi

# The per-lcore flow table at 1M live flows (about 4 s, 0.4 GB).
ft_json='{}'
if ! ft_json=$("$build/tests/bench/flowtab_bench"); then
	ft_json='{}'
	echo "flow_table part left out: flowtab_bench failed" >&2
fi

# The host lab: trafgen from one sender core, the kernel's cookies then moat (about 60 s).
host_json='{}'
if ! host_json=$(bash tests/bench/host_lab_bench.sh "$build" 10); then
	host_json='{}'
	echo "host_lab part left out (see above)" >&2
fi

/usr/bin/python3 - "$json" "$flood_json" "$conv_json" "$xdp_json" "$xdp_note" "$dp_json" "$ft_json" "$host_json" <<'PY'
import json, os, sys
as_json = sys.argv[1] == "1"
flood, conv = json.loads(sys.argv[2]), json.loads(sys.argv[3])
xdp, xdp_note = json.loads(sys.argv[4]), sys.argv[5]
dp, ft = json.loads(sys.argv[6]), json.loads(sys.argv[7])
host = json.loads(sys.argv[8])
dpm = dp.get("dp_mpps", {})
for n in dp.get("notes", []):
    print(n, file=sys.stderr)
out = {"engine_ns": {
    "flood_cookie": flood["engine_ns"], "flood_parse_floor": flood["parse_ns"],
    "conversation": conv["engine_ns"], "conversation_parse_floor": conv["parse_ns"]}}
if "xdp_ns" in xdp:
    out["xdp_ns"] = xdp["xdp_ns"]
if dpm:
    out["dp_mpps"] = dpm
if dp.get("dp_mem"):
    out["dp_mem"] = dp["dp_mem"]
if "lookup_ns" in ft:
    out["flow_table"] = {k: ft[k] for k in (
        "lookup_ns", "insert_ns", "bytes_per_flow", "random_read_ns", "flows", "capacity",
        "slot_bytes", "table_bytes", "fill_refused", "first_refusal_at_1x")}
if "moat_kpps" in host:
    out["host_lab"] = host
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

    if dpm:
        mac = dpm.get("testpmd_macswap")
        base = f"testpmd macswap {mac:.2f}" if mac else "(no testpmd)"
        print(f"\n{'benchmark':44} {'Mpps':>10} {'baseline (same run)':>28}")
        rows = [("moat-dp 1 lcore, SYN flood, cookies always", "syn_flood", base),
                ("moat-dp, SYN flood, 100k+20k deny prefixes", "syn_flood_lists", "syn_flood"),
                ("moat-dp 1 lcore, established connections", "established", base),
                ("moat-dp, 256-byte payload mix, 0 signatures", "payload_0_sigs", ""),
                ("moat-dp, same mix, 100 signatures", "payload_100_sigs", "0 signatures"),
                ("moat-dp, same mix, 1000 signatures", "payload_1000_sigs", "0 signatures"),
                ("dpdk-testpmd io, same vdevs", "testpmd_io", ""),
                ("dpdk-testpmd macswap, same vdevs", "testpmd_macswap", "")]
        for name, k, b in rows:
            if k in dpm:
                if b == "0 signatures" and "payload_0_sigs" in dpm:
                    b = f"0 signatures {dpm['payload_0_sigs']:.2f}"
                if b == "syn_flood" and "syn_flood" in dpm:
                    b = f"{dpm[k] / dpm['syn_flood']:.2f}x syn_flood (>= 0.95)"
                print(f"{name:44} {dpm[k]:10.2f} {b:>28}")
        det = dp.get("dp_detail", {})
        means = ", ".join(f"{k} {det[k]['mean_mpps']:.2f}" for k in
                          ("syn_flood", "established", "testpmd_io", "testpmd_macswap") if k in det)
        print(f"(net_pcap infinite_rx=1 -> one lcore -> net_null; moat-dp's answers go back out "
              f"net_pcap, which frees them (no tx_pcap). Best 1 s slice of 5 s; means: {means}; "
              f"load average {det['loadavg_1m']:.2f} on {os.cpu_count()} CPUs at the start)")
        if "established" in det:
            d = det["established"]
            est = d["reasons"].get("established", 0) / max(d["rx"], 1)
            print(f"(established: 64 connections replayed whole, each pass reopening the flows from "
                  f"TIME_WAIT: {100 * est:.1f}% of frames established, the rest handshake and close)")
        print("(targets: SYN flood >= 14.88 Mpps and >= half of testpmd macswap)")
    mem = dp.get("dp_mem", {})
    if "rss_mb_1m" in mem and "rss_mb_10m" in mem:
        print(f"{'moat-dp RSS (MiB) after 1M / 10M sources':44} {mem['rss_mb_1m']:10.1f} "
              f"{'10M: ' + format(mem['rss_mb_10m'], '.1f') + ' (within 5%)':>28}")
    if dp.get("notes"):
        print("(" + "; ".join(dp["notes"]) + ")")

    if "lookup_ns" in ft:
        floor = f"random 8-byte read {ft['random_read_ns']:.1f}"
        print(f"\n{'benchmark':44} {'ns/op':>10} {'baseline (same run)':>28}")
        print(f"{'flow table lookup, 1M live flows':44} {ft['lookup_ns']:10.1f} {floor:>28}")
        print(f"{'flow table insert of a new key, 1M live':44} {ft['insert_ns']:10.1f} {floor:>28}")
        print(f"{'flow table bytes per flow':44} {ft['bytes_per_flow']:10.1f} {'target <= 64':>28}")
        print(f"(moat-dp's flow table for tables.flows {ft['flows']}: {ft['capacity']} slots of "
              f"{ft['slot_bytes']} bytes plus a 2-byte tag each, {ft['table_bytes'] / 2**20:.0f} MiB; "
              f"filled to {ft['flows']} IPv4 flows with {ft['fill_refused']} refused; with its cap "
              f"lifted a full bucket first refused a flow at {ft['first_refusal_at_1x']} live; "
              f"{ft['insert_refused']} of {ft['inserts'] * ft['rounds']} timed inserts refused. "
              f"IPv6 flows take two slots: flowtab_bench --ipv6)")
    else:
        print("(flow_table part left out: flowtab_bench failed)")

    if "moat_kpps" in host:
        h = host
        print(f"\n{'host lab, trafgen SYN flood, one sender core':44} {'kpps':>10} {'requests ok':>12} "
              f"{'kernel cookies (same run)':>26}")
        print(f"{'moat, veth with XDP on its peer (NIC-like)':44} {h['moat_kpps']:10} {h['moat_ok_pct']:11}% "
              f"{str(h['kernel_kpps']) + ' kpps, ' + str(h['kernel_ok_pct']) + '% ok':>26}")
        print(f"{'moat, plain veth, moatd defaults':44} {h['veth_moat_kpps']:10} {h['veth_moat_ok_pct']:11}% "
              f"{str(h['veth_kernel_kpps']) + ' kpps, ' + str(h['veth_kernel_ok_pct']) + '% ok':>26}")
        print(f"(flood packets the server's interface took per second over {h['seconds']} s, the sender's "
              f"core running the receiver's softirq too; requests: curl every 50 ms, 5 s limit)")
    else:
        print("(host_lab part left out: see above)")
PY
