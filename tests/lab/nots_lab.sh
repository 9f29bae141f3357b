#!/usr/bin/env bash
# A client without TCP timestamps (Windows' default; here net.ipv4.tcp_timestamps=0)
# through moat-dp with syn_cookies: always: every connection is opened by a cookie
# and the SYN proxy, and must still get window scaling and SACK.
#   nots_lab.sh BUILD_DIR
#
# Without a timestamp a cookie has no TSval to carry the client's window scale,
# SACK-permitted and ECN in; moat's cookies carry them in the ISN then
# (docs/engine.md, "SYN cookies"). Linux's own cookies drop them, and a connection
# without window scaling moves at most 64 KB per round trip (1.6 MB/s at 40 ms).
#
# Topology: lab_lib's inline layout (lab_dp_up): client -- delay line -- switch --
# [moat-dp, or a Linux bridge, in LAB-dp] -- server. The delay line (delayline.c,
# AF_PACKET in the switch's namespace) holds each frame 20 ms each way: a 40 ms round
# trip, as a path across a country has (this kernel has no sch_netem). The server is
# tcpinfo_server.py, which logs what each connection negotiated (TCP_INFO, as `ss -ti`
# shows it). Checks: both ends' sockets have window scaling and SACK and no
# timestamps; each 20 MB download arrives whole (sha256); the download through the
# cookie and the proxy is at least 0.8x as fast as through a Linux bridge (best of
# three each). At 40 ms a download of 20 MB is bound by the round trip (slow start,
# then the receive window), not by the CPU, so the ratio holds on a busy machine; the
# speed through moat-dp forwarding plain (syn_cookies: off) is printed beside them.
set -uo pipefail
build=$(cd "${1:?usage: nots_lab.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-mnt$$}
. "$here/lab_lib.sh"
dp=$build/dataplane/moat-dp
ctl=$build/control/moatctl
lab_require curl ss nsenter sha256sum
delayline=$build/tests/lab/delayline
[ -x "$delayline" ] || { echo "SKIP: $delayline not built"; exit 77; }
lab_dp_begin "$dp"

MB=20 DELAY_MS=20
# download NAME: the file through whatever is in the wire; bytes/s in LAB_DIR/NAME.speed
download() {
	in_ns "$LAB_CLI" curl -fs -m 60 -o "$LAB_DIR/$1.got" -w '%{speed_download} %{time_connect}\n' \
		"http://$SRV4/nots.bin" >"$LAB_DIR/$1.speed" &&
		[ "$(sha256sum <"$LAB_DIR/$1.got")" = "$(sha256sum <"$LAB_DIR/nots.bin")" ]
}
best() { cut -d' ' -f1 "$LAB_DIR/$1".[123].speed | sort -g | tail -n 1 | cut -d. -f1; }
mbps() { echo "$(($1 * 8 / 1000000)) Mbit/s"; }
# The server's view of the last connection (tcpinfo_server.py's log line), one key.
srv_last() { tail -n 1 "$LAB_DIR/tcpinfo.log" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
dp_pair() { # NAME CONFIG-LINE: moat-dp started with it, two downloads, stopped
	printf 'mode: dpdk\nprotect_ports: [80]\n%s\n' "$2" >"$LAB_DIR/$1.yaml"
	lab_dp_start "$dp" "$LAB_DIR/$1.yaml" "$1" "$ctl" || return 1
	"$ctl" stats -j --socket "$LAB_DP_SOCK" >"$LAB_DIR/$1.s0"
	download "$1.1" && download "$1.2" && download "$1.3"
	local rc=$?
	"$ctl" stats -j --socket "$LAB_DP_SOCK" >"$LAB_DIR/$1.s1"
	lab_dp_stop
	return $rc
}
grown() { # NAME REASON
	/usr/bin/python3 -c 'import json,sys
a, b = (json.load(open(f))["reasons"] for f in sys.argv[1:3])
print(b[sys.argv[3]] - a[sys.argv[3]])' "$LAB_DIR/$1.s0" "$LAB_DIR/$1.s1" "$2"
}

# The delay line between the client and the switch: sw-c leaves the bridge for
# delayline, which forwards it to sw-dl, whose peer sw-dq takes its place.
delay_up() {
	local i
	ip -n "$LAB_SW" link set sw-c nomaster &&
		lab_dp_veth "$LAB_SW" sw-dl "$LAB_SW" sw-dq &&
		ip -n "$LAB_SW" link set sw-dq master br0 up &&
		ip -n "$LAB_SW" link set sw-dl up || return 1
	lab_bg "$LAB_SW" "$delayline" sw-c sw-dl "$DELAY_MS" >"$LAB_DIR/delay.out" 2>"$LAB_DIR/delay.err"
	for i in $(seq 1 50); do
		grep -qx ready "$LAB_DIR/delay.out" && return 0
		kill -0 "$LAB_LAST_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

lab_dp_up || { check 1 "lab topology"; lab_finish; }
delay_up
check $? "delayline: $DELAY_MS ms each way between the client and the switch ($(cat "$LAB_DIR/delay.err"))"
head -c $((MB * 1024 * 1024)) /dev/urandom >"$LAB_DIR/nots.bin"
lab_bg "$LAB_SRV" /usr/bin/python3 "$here/tcpinfo_server.py" "$SRV4" 80 "$LAB_DIR/nots.bin" \
	"$LAB_DIR/tcpinfo.log"
lab_wait_port "$LAB_SRV" 80
check $? "tcpinfo_server.py serves $MB MB on $SRV4:80"
in_ns "$LAB_CLI" sysctl -qw net.ipv4.tcp_timestamps=0
check $? "client: net.ipv4.tcp_timestamps=0 (SACK and window scaling on, as Windows sends its SYNs)"

# ---- cookies and the SYN proxy -----------------------------------------------------
dp_pair always 'syn_cookies: always'
check $? "through moat-dp (syn_cookies: always): 3 downloads of $MB MB arrive whole (sha256)"
cv=$(grown always cookie_valid)
check $(( cv >= 2 ? 0 : 1 )) "each connection was opened by a cookie and the SYN proxy (cookie_valid +$cv)"
seen="ts $(srv_last ts), sack $(srv_last sack), wscale $(srv_last wscale) ($(srv_last snd_wscale),$(srv_last rcv_wscale))"
[ "$(srv_last wscale)" = True ] && [ "$(srv_last sack)" = True ] && [ "$(srv_last ts)" = False ]
check $? "the server's socket, opened by the proxy from the cookie: window scaling and SACK on, no timestamps ($seen)"
# The client's socket, answered by the cookie SYN-ACK (TCP_INFO after the handshake).
lab_dp_start "$dp" "$LAB_DIR/always.yaml" always3 "$ctl"
in_ns "$LAB_CLI" /usr/bin/python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], 80), timeout=5)
info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print("ts %s sack %s wscale %s" % (bool(info[5] & 1), bool(info[5] & 2), bool(info[5] & 4)))' "$SRV4" \
	>"$LAB_DIR/cli.tcpinfo" 2>&1
lab_dp_stop
grep -qx 'ts False sack True wscale True' "$LAB_DIR/cli.tcpinfo"
check $? "the client's socket, answered by moat-dp's cookie SYN-ACK: window scaling and SACK on ($(cat "$LAB_DIR/cli.tcpinfo"))"

# ---- the baselines: moat-dp forwarding plain, and a Linux bridge -----------------------
dp_pair off 'syn_cookies: off'
check $? "through moat-dp (syn_cookies: off): 3 downloads of $MB MB arrive whole (sha256)"
lab_dp_bridge && download bridge.1 && download bridge.2 && download bridge.3
check $? "through a Linux bridge in moat-dp's place: 3 downloads of $MB MB arrive whole (sha256)"
# The round trip: curl's time to connect (SYN to SYN-ACK) through the bridge.
rtt=$(awk '{ printf "%.1f", $2 * 1000 }' "$LAB_DIR/bridge.1.speed")
awk -v r="${rtt:-0}" -v d="$DELAY_MS" 'BEGIN { exit !(r >= 2 * d && r < 2 * d + 10) }'
check $? "the round trip client - server through the delay line and the bridge: ${rtt:-?} ms (curl's time to connect)"
always_bps=$(best always) off_bps=$(best off) bridge_bps=$(best bridge)
echo "info: download speed at $((2 * DELAY_MS)) ms RTT, best of 3: cookie + SYN proxy $(mbps "$always_bps"), moat-dp forwarding plain $(mbps "$off_bps"), Linux bridge $(mbps "$bridge_bps")"
[ $((always_bps * 10)) -ge $((bridge_bps * 8)) ]
check $? "through the cookie and the SYN proxy at least 0.8x the bridge's speed: $(mbps "$always_bps") / $(mbps "$bridge_bps") = $(awk -v a="$always_bps" -v b="$bridge_bps" 'BEGIN { printf "%.2f", a / b }')x"
lab_finish
