#!/usr/bin/env bash
# moat-dp answering while it forwards: a SYN flood looped forever from a net_pcap
# vdev (infinite_rx) into moat-dp, which answers every SYN with a cookie; then
#   - moatctl capture on its socket: -w - | tcpdump -r -, and a pcapng file whose
#     comments tshark reads (reason, verdict, port, lcore);
#   - its DPDK telemetry commands (/moat/...) over the telemetry socket, with
#     dpdk-telemetry.py and with a client of the socket protocol;
#   - its own Prometheus metrics (dpdk.metrics), scraped.
# usage: live_tests.sh BUILD_DIR CAPTURES_DIR
set -uo pipefail
build=$(cd "${1:?usage: live_tests.sh BUILD_DIR CAPTURES_DIR}" && pwd)
captures=${2:?usage: live_tests.sh BUILD_DIR CAPTURES_DIR}
here=$(cd "$(dirname "$0")" && pwd)
dp=$build/dataplane/moat-dp
ctl=$build/control/moatctl
[ -x "$dp" ] || { echo "SKIP: moat-dp not built (libdpdk-dev missing)"; exit 77; }
for tool in tcpdump tshark curl; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (deploy/install-deps.sh)"; exit 77; }
done

work=$(mktemp -d /tmp/moat-dp-live.XXXXXX)
prefix=moatlive$$
dp_pid="" moatd_pid=""
cleanup() {
	[ -n "$moatd_pid" ] && kill -TERM "$moatd_pid" 2>/dev/null && wait "$moatd_pid" 2>/dev/null
	[ -n "$dp_pid" ] && kill -INT "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	rm -rf "$work" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT INT TERM
pass=0 fail=0
check() { if [ "$1" -eq 0 ]; then pass=$((pass + 1)); echo "ok: $2"; else fail=$((fail + 1)); echo "FAIL: $2"; fi; }
sock=$work/dp.sock
port=$((20000 + $$ % 20000))

# infinite_rx holds the whole capture in mbufs: its first 2,000 SYNs.
tcpdump -r "$captures/pkt.TCP.synflood.spoofed.pcap" -c 2000 -w "$work/flood.pcap" 2>/dev/null
cat >"$work/dp.yaml" <<EOC
mode: dpdk
syn_cookies: always
dpdk:
  metrics: "127.0.0.1:$port"
EOC
# Port 0 (outside): the flood, forever; its answers go nowhere. Port 1 (inside): net_null.
"$dp" --no-huge --no-shconf --no-pci --file-prefix "$prefix" -l 0,1 --log-level=lib.eal:error \
	--vdev "net_pcap0,rx_pcap=$work/flood.pcap,tx_pcap=/dev/null,infinite_rx=1" \
	--vdev "net_null1,no-rx=1" \
	-- --config "$work/dp.yaml" --pair 1:0 --socket "$sock" >"$work/dp.out" 2>"$work/dp.err" &
dp_pid=$!
for i in $(seq 1 100); do
	"$ctl" status --socket "$sock" >/dev/null 2>&1 && break
	sleep 0.1
done
"$ctl" status --socket "$sock" >/dev/null 2>&1
check $? "moat-dp answers with a flood looping through it ($(tail -n 1 "$work/dp.err"))"

# ---- capture ------------------------------------------------------------------
timeout 20 "$ctl" capture --socket "$sock" -w - --reason syn_cookie -c 100 2>"$work/pipe.err" |
	tcpdump -nn -r - 2>/dev/null >"$work/pipe.txt"
syns=$(grep -c 'Flags \[S\]' "$work/pipe.txt")
check $(( syns == 100 ? 0 : 1 )) "capture -w - | tcpdump -r -: $syns SYNs of 100 ($(tail -n 1 "$work/pipe.err"))"

timeout 20 "$ctl" capture --socket "$sock" -w "$work/tx.pcapng" --verdict tx --snaplen 54 --sample 10 \
	-c 50 -j >"$work/tx.json" 2>"$work/tx.err"
rc=$?
tshark -r "$work/tx.pcapng" -T fields -e frame.comment -e frame.cap_len -e tcp.flags.syn 2>/dev/null >"$work/tx.fields"
n=$(grep -c "^reason=syn_cookie verdict=tx if=port0 lcore=1	54	1\$" "$work/tx.fields")
check $(( rc == 0 && n == 50 ? 0 : 1 )) "capture --verdict tx --snaplen 54 --sample 10 -c 50: tshark reads $n SYNs cut to 54 bytes, reason, verdict, port and lcore in their comments ($(cat "$work/tx.json"))"

"$ctl" capture --socket "$sock" -w "$work/none.pcapng" --reason no_such_reason 2>"$work/bad.err"
rc=$?
check $(( rc == 1 ? 0 : 1 )) "capture of an unknown reason is refused (exit $rc: $(cat "$work/bad.err"))"

# ---- DPDK telemetry -----------------------------------------------------------
/usr/bin/python3 "$here/telemetry_check.py" "$prefix" >"$work/tel.out" 2>&1
rc=$?
grep -v '^{' "$work/tel.out"
tel_rx=$(tail -n 1 "$work/tel.out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rx"])' 2>/dev/null)
ctl_rx=$("$ctl" stats -j --socket "$sock" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rx"])')
check $(( rc == 0 && ${tel_rx:-0} > 0 && ctl_rx >= ${tel_rx:-0} ? 0 : 1 )) "telemetry's rx $tel_rx, then moatctl stats' $ctl_rx: the same counters"
if [ -x /usr/bin/dpdk-telemetry.py ]; then
	echo /moat/stats | /usr/bin/dpdk-telemetry.py -f "$prefix" >"$work/tel.py.out" 2>&1
	/usr/bin/python3 -c '
import json, sys
text = open(sys.argv[1]).read()
st = json.loads(text[text.index("{"):])["/moat/stats"]
print(st["reasons/syn_cookie"])
sys.exit(not st["reasons/syn_cookie"] > 0)' "$work/tel.py.out" >"$work/tel.py.check" 2>&1
	check $? "dpdk-telemetry.py -f $prefix reads /moat/stats (reasons/syn_cookie $(tail -n 1 "$work/tel.py.check"))"
fi

# ---- moat-dp's own metrics (dpdk.metrics) ---------------------------------------
"$ctl" stats -j --socket "$sock" >"$work/m0.json"
curl -fsS -m 5 -o "$work/metrics.txt" "http://127.0.0.1:$port/metrics"
check $? "moat-dp serves metrics on 127.0.0.1:$port/metrics ($(grep -c . "$work/metrics.txt") lines)"
/usr/bin/python3 "$here/../lab/check_metrics.py" "$work/metrics.txt" "$work/m0.json" >"$work/metrics.check" 2>&1
check $? "its metrics parse strictly and cover moatctl stats' counters ($(tail -n 1 "$work/metrics.check"))"
grep -q '^moat_packets_total{reason="syn_cookie",verdict="tx",lcore="1"} [1-9]' "$work/metrics.txt" &&
	grep -q '^moat_flow_capacity [1-9]' "$work/metrics.txt" && grep -q '^moat_flows{state="ESTABLISHED"} 0' "$work/metrics.txt"
check $? "the same names as moatd's: $(grep '^moat_packets_total{reason="syn_cookie"' "$work/metrics.txt")"

# The same through moatd (mode dpdk, driving this moat-dp): it relays moat-dp's stream.
moatd=$build/control/moatd
if [ -x "$moatd" ]; then
	cat >"$work/moatd.yaml" <<EOC
mode: dpdk
metrics: "127.0.0.1:$((port + 1))"
dpdk:
  socket: $sock
EOC
	"$moatd" --config "$work/moatd.yaml" --socket "$work/moatd.sock" >"$work/moatd.log" 2>&1 &
	moatd_pid=$!
	for i in $(seq 1 100); do
		"$ctl" status --socket "$work/moatd.sock" >/dev/null 2>&1 && break
		sleep 0.1
	done
	timeout 20 "$ctl" capture --socket "$work/moatd.sock" -w - -c 20 2>"$work/relay.err" |
		tcpdump -nn -r - 2>/dev/null >"$work/relay.txt"
	syns=$(grep -c 'Flags \[S\]' "$work/relay.txt")
	check $(( syns == 20 ? 0 : 1 )) "capture through moatd (mode dpdk) relays moat-dp's: $syns SYNs of 20 ($(tail -n 1 "$work/relay.err"))"
	kill -TERM "$moatd_pid"
	wait "$moatd_pid"
	moatd_pid=""
fi

# ---- the end ------------------------------------------------------------------
kill -INT "$dp_pid"
wait "$dp_pid"
rc=$?
dp_pid=""
check $rc "moat-dp exits 0 on SIGINT"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
