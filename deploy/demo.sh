#!/usr/bin/env bash
# The moat demo: a lab of network namespaces (a server running nginx, a client,
# an attacker, a router between them) with moat protecting the server through
# XDP. The attacker floods random-source SYNs and sprays spoofed RSTs at a
# download while the client keeps making requests; a live view shows moat's
# counters each second, and the demo ends with the client's success rate and
# the drops by reason.
#   ./deploy/demo.sh [--seconds N]     (as root, Debian 12)
#   ./deploy/demo.sh --dataplane       the same lab through moat-dp inline (not built yet)
#   ./deploy/demo.sh --explain         replay the real flood capture through moatctl explain
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${MOAT_BUILD_DIR:-build}
seconds=20
mode=xdp

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
	--dataplane) mode=dpdk; shift ;;
	--explain) mode=explain; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "demo.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -ge 5 ] || { echo "demo.sh: --seconds must be a number >= 5" >&2; exit 2; }
if [ "$mode" = dpdk ]; then
	echo "demo.sh: --dataplane needs moat-dp, the inline DPDK dataplane, which is not built yet" >&2
	exit 2
fi
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (it installs packages and builds network namespaces)" >&2; exit 1; }

./deploy/install-deps.sh
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" >/dev/null

if [ "$mode" = explain ]; then
	capture=$(realpath -m "$root/../shared/captures/pkt.TCP.synflood.spoofed.pcap")
	"$build/control/moatctl" explain --quiet "$capture"
	exit 0
fi

. tests/lab/lab_lib.sh
trap 'lab_down' EXIT INT TERM
moatctl() { "$build/control/moatctl" "$@" --socket "$LAB_DIR/moatd.sock"; }

lab_log "building the lab: server $SRV4 (nginx), client $CLI4, attacker $ATK4, one router"
lab_up
lab_xdp_pass_on_router "$build/tests/lab/xdp_pass.bpf.o"
lab_nginx
cat >"$LAB_DIR/moat.yaml" <<EOC
mode: xdp
interfaces: [s0]
protect_ports: [80]
syn_cookies: auto
syn_trigger: 1000
rst_policy: rfc5961
pin_dir: /sys/fs/bpf/$LAB
EOC
lab_bg "$LAB_SRV" "$build/control/moatd" --config "$LAB_DIR/moat.yaml" --socket "$LAB_DIR/moatd.sock"
for _ in $(seq 1 50); do [ -S "$LAB_DIR/moatd.sock" ] && break; sleep 0.1; done
moatctl status

# The client: one request every 50 ms, results appended to a file.
client_loop() {
	while :; do
		if in_ns "$LAB_CLI" curl -fs -o /dev/null -m 5 "http://$SRV4/"; then echo ok; else echo fail; fi
		sleep 0.05
	done >>"$LAB_DIR/requests"
}
: >"$LAB_DIR/requests"
client_loop &
LAB_PIDS+=($!)
sleep 2

lab_log "attack: random-source SYN flood for ${seconds}s, then spoofed RSTs at a download"
in_ns "$LAB_ATK" timeout -s INT "$seconds" hping3 -q -S -p 80 --flood --rand-source "$SRV4" >/dev/null 2>&1 &
LAB_PIDS+=($!)
flood=$!
in_ns "$LAB_CLI" curl -fs -m 120 --limit-rate 1M -o "$LAB_DIR/big.got" "http://$SRV4/big.bin" &
LAB_PIDS+=($!)
download=$!
(
	sleep 3
	port=$(in_ns "$LAB_CLI" ss -tnH state established dst "$SRV4" | awk '{n = split($3, a, ":"); print a[n]; exit}')
	mac=$(ip -n "$LAB_RTR" -j link show ra | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
	[ -n "$port" ] && in_ns "$LAB_ATK" /usr/bin/python3 tests/lab/spoof_rst_raw.py a0 "$mac" "$CLI4" "$port" "$SRV4" 80 5000 >/dev/null
) &
LAB_PIDS+=($!)

# Live view: per-second rates of moat's reasons and the client's success.
live_view() {
	/usr/bin/python3 - "$build/control/moatctl" "$LAB_DIR/moatd.sock" "$LAB_DIR/requests" "$seconds" <<'PY'
import json, subprocess, sys, time
ctl, sock, reqfile, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cols = ["syn_cookie", "cookie_valid", "handshake", "established", "rst_out_of_window", "ack_no_flow"]
def stats():
    out = subprocess.run([ctl, "stats", "-j", "--socket", sock], capture_output=True, text=True)
    return json.loads(out.stdout)["reasons"] if out.returncode == 0 else None
def requests():
    lines = open(reqfile).read().split()
    return lines.count("ok"), len(lines)
print(f"{'t':>3} " + " ".join(f"{c + '/s':>19}" for c in cols) + f" {'client ok':>12}")
prev = stats()
for t in range(1, seconds + 1):
    time.sleep(1)
    cur = stats()
    if cur is None or prev is None:
        break
    ok, total = requests()
    print(f"{t:>3} " + " ".join(f"{cur[c] - prev[c]:>19,}" for c in cols) + f" {ok:>6}/{total:<5}", flush=True)
    prev = cur
PY
}
live_view
wait "$flood" 2>/dev/null || true
lab_log "flood over; waiting for the download to finish"
wait "$download" 2>/dev/null && dl="intact: $(cmp -s "$LAB_DIR/big.got" "$LAB_DIR/www/big.bin" && echo yes || echo NO)" || dl="failed"

ok=$(grep -c '^ok$' "$LAB_DIR/requests" || true)
total=$(wc -l <"$LAB_DIR/requests")
echo
echo "== summary"
printf 'legitimate requests: %s/%s succeeded (%s%%)\n' "$ok" "$total" \
	"$(awk -v o="$ok" -v t="$total" 'BEGIN { printf "%.1f", t ? 100 * o / t : 0 }')"
echo "16 MB download under spoofed RSTs: $dl"
echo "moat, packets by reason (non-zero):"
moatctl stats -j | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
for r, n in sorted(s["reasons"].items(), key=lambda kv: -kv[1]):
    if n:
        print(f"  {r:<20} {n:>12,}")
print("  verdicts: " + ", ".join(f"{k} {v:,}" for k, v in s["verdicts"].items()))'
