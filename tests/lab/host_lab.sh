#!/usr/bin/env bash
# Host mode under a real flood: moatd attaches XDP natively on the server's veth
# in a lab of network namespaces (tests/lab/lab_lib.sh). Then the same flood
# against the kernel's own defences alone, side by side.
#   host_lab.sh BUILD_DIR
# Asserts, with moat: >= 99% of 200 HTTP requests succeed during >= 10 s of a
# random-source SYN flood, TcpExtListenOverflows/ListenDrops do not grow,
# syn_cookie matches the flood packets received within 1%, a long download
# survives 10,000 spoofed RSTs (counted rst_out_of_window) intact, and an IPv6
# handshake completes through a cookie.
set -uo pipefail
build=$(cd "${1:?usage: host_lab.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lab_lib.sh"

lab_require nginx hping3 trafgen curl nstat ethtool nsenter unshare tshark tcpdump
/usr/bin/python3 -c 'import scapy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no scapy"; exit 77; }

FLOOD_S=${FLOOD_S:-12}
REQUESTS=${REQUESTS:-200}
RSTS=${RSTS:-10000}
moatctl() { "$build/control/moatctl" "$@" --socket "$LAB_DIR/moatd.sock"; }
reason() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reasons"][sys.argv[2]])' "$1" "$2"; }
reasons_total() { /usr/bin/python3 -c 'import json,sys; print(sum(json.load(open(sys.argv[1]))["reasons"].values()))' "$1"; }

# Until moatctl capture says it is writing (the daemon captures from then on): at most 10 s.
lab_wait_capture() { # stderr-file
	local i
	for i in $(seq 1 100); do
		grep -q "writing" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	lab_log "moatctl capture did not start: $(cat "$1")"
	return 1
}

trap 'lab_down' EXIT INT TERM
lab_up
lab_xdp_pass_on_router "$build/tests/lab/xdp_pass.bpf.o"
lab_nginx || exit 1
ATK_GW_MAC=$(ip -n "$LAB_RTR" -j link show ra | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')

# Requests in a loop (one curl each, 10 s limit); prints "ok total".
request_loop() {
	local ok=0 i
	for i in $(seq 1 "$REQUESTS"); do
		in_ns "$LAB_CLI" curl -fs -o /dev/null -m 10 "http://$SRV4/" && ok=$((ok + 1))
		sleep 0.04
	done
	echo "$ok $REQUESTS"
}

# One flood phase: a random-source SYN flood (hping3, or trafgen from one sender
# core) while the request loop runs.
# Leaves: PH_OK PH_TOTAL PH_SENT PH_OVF PH_DROPS PH_RX
flood_phase() { # [hping3|trafgen]
	local ovf0 drops0 rx0 out flood
	ovf0=$(lab_nstat "$LAB_SRV" TcpExtListenOverflows)
	drops0=$(lab_nstat "$LAB_SRV" TcpExtListenDrops)
	rx0=$(lab_rx_packets "$LAB_SRV" s0)
	if [ "${1:-hping3}" = trafgen ]; then
		lab_trafgen "$LAB_ATK" a0 "$LAB_DIR/syn.cfg" "$FLOOD_S" >"$LAB_DIR/flood.out" &
	else
		in_ns "$LAB_ATK" timeout -s INT "$FLOOD_S" hping3 -q -S -p 80 --flood --rand-source "$SRV4" \
			>"$LAB_DIR/hping.out" 2>&1 &
	fi
	flood=$!
	sleep 1
	out=$(request_loop)
	wait "$flood"
	PH_OK=${out% *} PH_TOTAL=${out#* }
	if [ "${1:-hping3}" = trafgen ]; then
		PH_SENT=$(cat "$LAB_DIR/flood.out")
	else
		PH_SENT=$(grep -o '[0-9]* packets transmitted' "$LAB_DIR/hping.out" | awk '{print $1}')
	fi
	PH_OVF=$(( $(lab_nstat "$LAB_SRV" TcpExtListenOverflows) - ovf0 ))
	PH_DROPS=$(( $(lab_nstat "$LAB_SRV" TcpExtListenDrops) - drops0 ))
	PH_RX=$(( $(lab_rx_packets "$LAB_SRV" s0) - rx0 ))
}

# ---- moat -------------------------------------------------------------------
# The router's port runs XDP (lab_xdp_pass_on_router), as a NIC would: native XDP_TX works.
cat >"$LAB_DIR/moat.yaml" <<EOC
interfaces: [s0]
xdp_mode: native
protect_ports: [80]
syn_cookies: always
pin_dir: /sys/fs/bpf/$LAB
EOC
lab_bg "$LAB_SRV" "$build/control/moatd" --config "$LAB_DIR/moat.yaml" --socket "$LAB_DIR/moatd.sock"
MOATD=$LAB_LAST_PID
lab_wait_ready "$MOATD" "$LAB_DIR/moatd.sock" "$build/control/moatctl"
check $? "moatd runs and answers on its socket"
[ "$fail" -eq 0 ] || { echo "moatd did not start: nothing else to test"; exit 1; }
in_ns "$LAB_SRV" ip -d link show s0 | grep -q "prog/xdp"
check $? "XDP attached natively to the server's veth"

# moatctl capture under the flood, piped: -w - into tcpdump -r -, 20 cookie-answered SYNs.
( timeout 40 "$build/control/moatctl" capture --socket "$LAB_DIR/moatd.sock" -w - --reason syn_cookie -c 20 \
	2>"$LAB_DIR/cap_pipe.err" | tcpdump -nn -r - >"$LAB_DIR/cap_pipe.txt" 2>/dev/null ) &
CAP_PIPE=$!
lab_wait_capture "$LAB_DIR/cap_pipe.err"
# XDP's count is read outside moat's on both ends: a packet arriving between two readings
# (the last request's FIN, a neighbour solicitation) is then XDP's alone, never moat's alone.
xdp0=$(lab_xdp_packets "$LAB_SRV" s0)
moatctl stats -j >"$LAB_DIR/s0.json"
flood_phase
moatctl stats -j >"$LAB_DIR/s1.json"
xdp1=$(lab_xdp_packets "$LAB_SRV" s0)
M_OK=$PH_OK M_TOTAL=$PH_TOTAL M_SENT=$PH_SENT M_OVF=$PH_OVF M_DROPS=$PH_DROPS M_RX=$PH_RX
cookies=$(( $(reason "$LAB_DIR/s1.json" syn_cookie) - $(reason "$LAB_DIR/s0.json" syn_cookie) ))
valid=$(( $(reason "$LAB_DIR/s1.json" cookie_valid) - $(reason "$LAB_DIR/s0.json" cookie_valid) ))
counted=$(( $(reasons_total "$LAB_DIR/s1.json") - $(reasons_total "$LAB_DIR/s0.json") ))
xdp_rx=$((xdp1 - xdp0))
# Flood SYNs received = every packet XDP saw, less the legitimate traffic (every
# non-cookie reason, and one SYN per legitimate handshake completed by cookie).
flood_rx=$((xdp_rx - (counted - cookies) - valid))
M_COOKIES=$((cookies - valid))

check $(( M_OK * 100 >= M_TOTAL * 99 ? 0 : 1 )) "legitimate requests under the flood: $M_OK/$M_TOTAL (>= 99%)"
check $(( M_OVF == 0 && M_DROPS == 0 ? 0 : 1 )) "TcpExtListenOverflows +$M_OVF, TcpExtListenDrops +$M_DROPS (no growth)"
check $(( flood_rx > 10000 ? 0 : 1 )) "flood reached the server: $flood_rx SYNs received by XDP ($M_SENT sent)"
diff=$(( M_COOKIES > flood_rx ? M_COOKIES - flood_rx : flood_rx - M_COOKIES ))
check $(( diff * 100 <= flood_rx ? 0 : 1 )) "syn_cookie for the flood $M_COOKIES vs flood SYNs received $flood_rx (within 1%)"
late=$((xdp_rx - counted))
check $(( late >= 0 && late <= 5 ? 0 : 1 )) \
	"moat counted every packet XDP saw ($counted of $xdp_rx; $late arrived between the readings, <= 5)"
check $(( valid >= M_OK ? 0 : 1 )) "legitimate handshakes completed through cookies: $valid"

wait "$CAP_PIPE"
syns=$(grep -c "> $SRV4.80: Flags \[S\]" "$LAB_DIR/cap_pipe.txt")
check $(( syns == 20 ? 0 : 1 )) "capture -w - | tcpdump -r -: $syns SYNs to port 80 of 20 ($(tail -n 1 "$LAB_DIR/cap_pipe.err"))"

# Prometheus metrics, scraped over HTTP from inside the server's namespace.
moatctl stats -j >"$LAB_DIR/m0.json"
in_ns "$LAB_SRV" curl -fsS -m 5 -o "$LAB_DIR/metrics.txt" http://127.0.0.1:9477/metrics
check $? "metrics served on 127.0.0.1:9477/metrics"
/usr/bin/python3 "$here/check_metrics.py" "$LAB_DIR/metrics.txt" "$LAB_DIR/m0.json"
check $? "metrics parse as Prometheus text and agree with moatctl stats"

# ---- a long download against 10,000 spoofed RSTs ---------------------------
moatctl stats -j >"$LAB_DIR/r0.json"
in_ns "$LAB_CLI" curl -fs -m 60 --limit-rate 1M -o "$LAB_DIR/big.got" "http://$SRV4/big.bin" &
dl=$!
port=""
for i in $(seq 1 50); do
	port=$(in_ns "$LAB_CLI" ss -tnH state established dst "$SRV4" | awk '{n = split($3, a, ":"); print a[n]; exit}')
	[ -n "$port" ] && break
	sleep 0.1
done
# ...captured as they are dropped: 50 of them into a pcapng file, read back by tshark.
timeout 40 "$build/control/moatctl" capture --socket "$LAB_DIR/moatd.sock" -w "$LAB_DIR/rst.pcapng" \
	--reason rst_out_of_window,rst_no_flow --verdict drop -c 50 -j >"$LAB_DIR/cap_rst.json" 2>"$LAB_DIR/cap_rst.err" &
CAP_RST=$!
lab_wait_capture "$LAB_DIR/cap_rst.err"
in_ns "$LAB_ATK" /usr/bin/python3 "$here/spoof_rst_raw.py" a0 "$ATK_GW_MAC" "$CLI4" "${port:-1}" "$SRV4" 80 "$RSTS"
wait "$dl"
dl_rc=$?
wait "$CAP_RST"
cap_rc=$?
tshark -r "$LAB_DIR/rst.pcapng" -T fields -e frame.comment -e tcp.flags.reset -e ip.src 2>/dev/null >"$LAB_DIR/rst.fields"
crst=$(grep -c "^reason=rst_out_of_window verdict=drop if=s0 cpu=[0-9]*	1	$CLI4\$" "$LAB_DIR/rst.fields")
check $(( cap_rc == 0 && crst == 50 ? 0 : 1 )) "capture -c 50 --reason rst_out_of_window: tshark reads $crst RSTs from $CLI4 with their reason in the comment ($(cat "$LAB_DIR/cap_rst.json"))"
tshark -r "$LAB_DIR/rst.pcapng" -c 3 2>/dev/null | sed 's/^/  /'
tshark -r "$LAB_DIR/rst.pcapng" -c 3 -T fields -e frame.comment 2>/dev/null | sed 's/^/  /'
moatctl stats -j >"$LAB_DIR/r1.json"
oow=$(( $(reason "$LAB_DIR/r1.json" rst_out_of_window) - $(reason "$LAB_DIR/r0.json" rst_out_of_window) ))
chal=$(( $(reason "$LAB_DIR/r1.json" challenge_ack) - $(reason "$LAB_DIR/r0.json" challenge_ack) ))
check $(( dl_rc == 0 ? 0 : 1 )) "16 MB download on port ${port:-?} survived $RSTS spoofed RSTs (curl exit $dl_rc)"
cmp -s "$LAB_DIR/big.got" "$LAB_DIR/www/big.bin"
check $? "downloaded file identical to the original"
check $(( oow * 100 >= RSTS * 99 ? 0 : 1 )) "spoofed RSTs counted rst_out_of_window: $oow (challenge_ack $chal)"

# ---- IPv6 through a cookie ----------------------------------------------------
moatctl stats -j >"$LAB_DIR/v0.json"
in_ns "$LAB_CLI" curl -fs -o /dev/null -m 10 "http://[$SRV6]/"
v6=$?
moatctl stats -j >"$LAB_DIR/v1.json"
v6valid=$(( $(reason "$LAB_DIR/v1.json" cookie_valid) - $(reason "$LAB_DIR/v0.json" cookie_valid) ))
check $(( v6 == 0 && v6valid >= 1 ? 0 : 1 )) "IPv6 request through a SYN cookie (curl exit $v6, cookie_valid +$v6valid)"

# ---- the kernel's own cookies pass through moat ---------------------------------
# net.ipv4.tcp_syncookies=2: the kernel answers every SYN with its own cookie, as
# it does when its backlog overflows before moat's cookies engage. The ACKs carry
# no cookie of moat's; moat must hand them to the kernel, which completes them.
in_ns "$LAB_SRV" sysctl -qw net.ipv4.tcp_syncookies=2
for mode in off auto; do
	sed -i "s/^syn_cookies: .*/syn_cookies: $mode/" "$LAB_DIR/moat.yaml"
	moatctl reload >/dev/null
	moatctl stats -j >"$LAB_DIR/k0.json"
	in_ns "$LAB_CLI" curl -fs -o /dev/null -m 5 "http://$SRV4/"
	k4=$?
	in_ns "$LAB_CLI" curl -fs -o /dev/null -m 5 "http://[$SRV6]/"
	k6=$?
	moatctl stats -j >"$LAB_DIR/k1.json"
	hs=$(( $(reason "$LAB_DIR/k1.json" handshake) - $(reason "$LAB_DIR/k0.json" handshake) ))
	check $(( k4 == 0 && k6 == 0 && hs >= 4 ? 0 : 1 )) "syn_cookies: $mode, the kernel's own cookies (tcp_syncookies=2): IPv4 and IPv6 requests complete (curl $k4 $k6, handshake +$hs)"
done
in_ns "$LAB_SRV" sysctl -qw net.ipv4.tcp_syncookies=1

# ---- the kernel alone ---------------------------------------------------------
kill -TERM "$MOATD"
wait "$MOATD"
in_ns "$LAB_SRV" ip -d link show s0 | grep -q "prog/xdp"
check $(( $? != 0 ? 0 : 1 )) "moatd detached XDP on SIGTERM"

# ---- a plain veth, moatd's defaults, a host with no bpffs ---------------------
# The router's port runs no XDP now, as the host side of a container's or VM's
# veth: moatd's default xdp_mode (auto) must answer there. moatd runs in a
# private mount namespace with /sys/fs/bpf unmounted, as on a freshly booted
# machine, and mounts its own (which vanishes with the namespace).
ip -n "$LAB_RTR" link set dev rs xdp off
echo "interfaces: [s0]" >"$LAB_DIR/default.yaml"
lab_trafgen_syn "$ATK_GW_MAC" "$(lab_mac "$LAB_ATK" a0)" "$SRV4" 80 >"$LAB_DIR/syn.cfg"
# moatd without a bpffs mounted, in a mount namespace of its own (gone when it exits).
moatd_fresh() { # config socket log
	lab_bg "$LAB_SRV" unshare --mount --propagation private sh -c \
		'while umount /sys/fs/bpf 2>/dev/null; do :; done; exec "$@"' sh \
		"$build/control/moatd" --config "$1" --socket "$2" 2>"$3"
	MOATD=$LAB_LAST_PID
}
# systemd's notify socket, played by a listener that prints the first datagram.
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(60)
print(s.recv(512).decode())' "$LAB_DIR/notify.sock" >"$LAB_DIR/notify.out" 2>&1 &
notify=$!
for i in $(seq 1 50); do [ -S "$LAB_DIR/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$LAB_DIR/notify.sock moatd_fresh "$LAB_DIR/default.yaml" "$LAB_DIR/moatd-veth.sock" "$LAB_DIR/moatd-veth.log"
lab_wait_ready "$MOATD" "$LAB_DIR/moatd-veth.sock" "$build/control/moatctl" "$LAB_DIR/moatd-veth.log"
check $? "moatd with the default config answers, /sys/fs/bpf unmounted in its mount namespace"
wait "$notify"
grep -q '^READY=1' "$LAB_DIR/notify.out"
check $? "moatd told the notify socket it is ready: $(tr '\n' ' ' <"$LAB_DIR/notify.out")"
grep -q 'mounted a bpffs at /sys/fs/bpf' "$LAB_DIR/moatd-veth.log"
check $? "moatd mounted a bpffs itself: $(grep -m1 bpffs "$LAB_DIR/moatd-veth.log")"
"$build/control/moatctl" status -j --socket "$LAB_DIR/moatd-veth.sock" >"$LAB_DIR/veth-status.json"
vmode=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("attached", {}).get("s0"))' "$LAB_DIR/veth-status.json")
[ "$vmode" = generic ]
check $? "xdp_mode auto on a veth attaches generic: $vmode ($(grep -m1 'veth driver' "$LAB_DIR/moatd-veth.log" | cut -c1-60)...)"
"$build/control/moatctl" stats -j --socket "$LAB_DIR/moatd-veth.sock" >"$LAB_DIR/t0.json"
flood_phase trafgen
"$build/control/moatctl" stats -j --socket "$LAB_DIR/moatd-veth.sock" >"$LAB_DIR/t1.json"
V_OK=$PH_OK V_TOTAL=$PH_TOTAL V_SENT=$PH_SENT V_OVF=$PH_OVF V_DROPS=$PH_DROPS V_RX=$PH_RX
V_COOKIES=$(( $(reason "$LAB_DIR/t1.json" syn_cookie) - $(reason "$LAB_DIR/t0.json" syn_cookie) ))
V_VALID=$(( $(reason "$LAB_DIR/t1.json" cookie_valid) - $(reason "$LAB_DIR/t0.json" cookie_valid) ))
check $(( V_OK * 100 >= V_TOTAL * 99 ? 0 : 1 )) "plain veth, defaults, trafgen flood: legitimate requests $V_OK/$V_TOTAL (>= 99%)"
check $(( V_OVF == 0 && V_DROPS == 0 ? 0 : 1 )) "plain veth: TcpExtListenOverflows +$V_OVF, TcpExtListenDrops +$V_DROPS (no growth)"
check $(( V_COOKIES * 10 >= V_RX * 9 && V_RX > 10000 ? 0 : 1 )) "plain veth: cookies engaged by syn_trigger answered $V_COOKIES of $V_RX flood packets received (>= 90%; $V_SENT sent)"
check $(( V_VALID >= V_OK * 9 / 10 ? 0 : 1 )) "plain veth: handshakes completed through cookies: $V_VALID (SYN-ACKs leave a veth without XDP on its peer)"
kill -TERM "$MOATD"
wait "$MOATD"

# pin_dir outside /sys/fs/bpf and on no bpffs: moatd mounts one on pin_dir itself.
printf 'interfaces: [s0]\npin_dir: %s/pins/moat\nmetrics: ""\n' "$LAB_DIR" >"$LAB_DIR/pins.yaml"
moatd_fresh "$LAB_DIR/pins.yaml" "$LAB_DIR/moatd-pins.sock" "$LAB_DIR/moatd-pins.log"
lab_wait_ready "$MOATD" "$LAB_DIR/moatd-pins.sock" "$build/control/moatctl" "$LAB_DIR/moatd-pins.log" &&
	grep -q "mounted a bpffs at $LAB_DIR/pins/moat " "$LAB_DIR/moatd-pins.log"
check $? "pin_dir $LAB_DIR/pins/moat on no bpffs: $(grep -m1 -o 'mounted a bpffs at [^ ]*' "$LAB_DIR/moatd-pins.log")"
kill -TERM "$MOATD"
wait "$MOATD"
flood_phase
K_OK=$PH_OK K_TOTAL=$PH_TOTAL K_SENT=$PH_SENT K_OVF=$PH_OVF K_DROPS=$PH_DROPS K_RX=$PH_RX

# And with no defence at all (kernel SYN cookies off): what the flood does unopposed.
in_ns "$LAB_SRV" sysctl -qw net.ipv4.tcp_syncookies=0
flood_phase
N_OK=$PH_OK N_TOTAL=$PH_TOTAL N_SENT=$PH_SENT N_OVF=$PH_OVF N_DROPS=$PH_DROPS N_RX=$PH_RX

row() { printf '%-32s %14s %18s %18s\n' "$@"; }
echo
row "flood ${FLOOD_S}s, $REQUESTS requests" "moat (XDP)" "kernel syncookies" "no defence"
row "requests ok" "$M_OK/$M_TOTAL" "$K_OK/$K_TOTAL" "$N_OK/$N_TOTAL"
row "flood SYNs sent (hping3)" "$M_SENT" "$K_SENT" "$N_SENT"
row "packets reaching the stack" "$M_RX" "$K_RX" "$N_RX"
row "TcpExtListenOverflows growth" "$M_OVF" "$K_OVF" "$N_OVF"
row "TcpExtListenDrops growth" "$M_DROPS" "$K_DROPS" "$N_DROPS"
row "SYNs answered by XDP cookies" "$M_COOKIES" "-" "-"
echo
echo "plain veth (no XDP on the peer), moatd defaults (xdp_mode auto: $vmode), trafgen ${FLOOD_S}s from one core:"
echo "  requests ok $V_OK/$V_TOTAL, flood sent $V_SENT, reached the server $V_RX ($((V_RX / FLOOD_S / 1000)) kpps), cookies $V_COOKIES"
echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
