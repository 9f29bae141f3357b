#!/usr/bin/env bash
# The host lab as a benchmark: flood packets a server absorbs per second and the
# legitimate requests it serves, under a trafgen SYN flood from one sender core
# (random sources, addressed to the server's MAC), with the kernel's own SYN
# cookies and then with moat, on two kinds of server interface:
#   nic   a veth whose peer runs an XDP_PASS program, so native XDP_TX reaches it
#         as a NIC's would; moatd with xdp_mode: native
#   veth  a plain veth (a container's or VM's host side); moatd's defaults
# On a veth the sender's core also runs the receiver's softirq, so the rate the
# sender reaches is bounded by the whole receive path per packet: what is measured.
#   host_lab_bench.sh BUILD_DIR [SECONDS]
# Prints one JSON object (DESIGN.md's host_lab keys and more); notes go to stderr.
set -uo pipefail
build=$(cd "${1:?usage: host_lab_bench.sh BUILD_DIR [SECONDS]}" && pwd)
secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lab/lab_lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "host lab left out: needs root (namespaces, XDP)" >&2; exit 77; }
for tool in nginx trafgen curl nsenter; do
	command -v "$tool" >/dev/null || { echo "host lab left out: $tool is not installed" >&2; exit 77; }
done
trap 'lab_down' EXIT
trap 'exit 130' INT TERM
lab_log() { printf '[host lab %s] %s\n' "$(date +%T)" "$*" >&2; }

lab_up_bridge
lab_nginx >/dev/null || exit 1
lab_trafgen_syn "$(lab_mac "$LAB_SRV" s0)" "$(lab_mac "$LAB_ATK" a0)" "$SRV4" 80 >"$LAB_DIR/syn.cfg"

# One request every 50 ms until $LAB_DIR/stop exists; writes "ok total" to $1.
request_loop() {
	local ok=0 n=0
	while [ ! -e "$LAB_DIR/stop" ]; do
		n=$((n + 1))
		in_ns "$LAB_CLI" curl -fs -o /dev/null -m 5 "http://$SRV4/" && ok=$((ok + 1))
		sleep 0.05
	done
	echo "$ok $n" >"$1"
}

# A flood of $secs seconds under the request loop: "kpps ok_pct sent".
phase() {
	local rx0 rx1 sent loop ok n
	rm -f "$LAB_DIR/stop"
	rx0=$(lab_rx_packets "$LAB_SRV" s0)
	request_loop "$LAB_DIR/loop" &
	loop=$!
	sent=$(lab_trafgen "$LAB_ATK" a0 "$LAB_DIR/syn.cfg" "$secs")
	rx1=$(lab_rx_packets "$LAB_SRV" s0)
	touch "$LAB_DIR/stop"
	wait "$loop"
	read -r ok n <"$LAB_DIR/loop"
	echo "$(((rx1 - rx0) / secs / 1000)) $((n ? ok * 100 / n : 0)) ${sent:-0}"
}

# moatd on s0 with the given extra config lines; returns once it answers.
moat_start() {
	printf 'interfaces: [s0]\npin_dir: /sys/fs/bpf/%s\nmetrics: ""\n%s\n' "$LAB" "$1" >"$LAB_DIR/moat.yaml"
	lab_bg "$LAB_SRV" "$build/control/moatd" --config "$LAB_DIR/moat.yaml" \
		--socket "$LAB_DIR/moatd.sock" 2>>"$LAB_DIR/moatd.log"
	MOATD=$LAB_LAST_PID
	lab_wait_ready "$MOATD" "$LAB_DIR/moatd.sock" "$build/control/moatctl" "$LAB_DIR/moatd.log"
}
moat_stop() { kill -TERM "$MOATD"; wait "$MOATD" 2>/dev/null; }

declare -A R
for variant in nic veth; do
	if [ "$variant" = nic ]; then
		lab_xdp_pass_on_router "$build/tests/lab/xdp_pass.bpf.o"
		extra="xdp_mode: native"
	else
		ip -n "$LAB_RTR" link set dev rs xdp off
		extra=""
	fi
	lab_log "$variant: the kernel's own SYN cookies, ${secs} s"
	read -r R[${variant}_kernel_kpps] R[${variant}_kernel_ok_pct] R[${variant}_kernel_sent] < <(phase)
	moat_start "$extra" || exit 1
	lab_log "$variant: moat ($(grep -o 'attached to s0 ([a-z]* mode' "$LAB_DIR/moatd.log" | tail -1)), ${secs} s"
	read -r R[${variant}_moat_kpps] R[${variant}_moat_ok_pct] R[${variant}_moat_sent] < <(phase)
	moat_stop
done

printf '{"kernel_kpps": %s, "moat_kpps": %s, "kernel_ok_pct": %s, "moat_ok_pct": %s, ' \
	"${R[nic_kernel_kpps]}" "${R[nic_moat_kpps]}" "${R[nic_kernel_ok_pct]}" "${R[nic_moat_ok_pct]}"
printf '"veth_kernel_kpps": %s, "veth_moat_kpps": %s, "veth_kernel_ok_pct": %s, "veth_moat_ok_pct": %s, ' \
	"${R[veth_kernel_kpps]}" "${R[veth_moat_kpps]}" "${R[veth_kernel_ok_pct]}" "${R[veth_moat_ok_pct]}"
printf '"seconds": %s}\n' "$secs"
