#!/usr/bin/env bash
# Mid-stream pickup (issue 12): moat-dp put into the wire while a download runs.
#   pickup_lab.sh BUILD_DIR
#
# Topology: lab_lib's inline layout (lab_dp_up): client -- switch -- [a Linux bridge,
# then moat-dp, in LAB-dp] -- server (tcpinfo_server.py). A rate-limited download of
# MB megabytes (24, 2 MB/s) starts through the bridge; two seconds in, the bridge is deleted and
# moat-dp takes its place: it never saw the connection begin. With pickup (the
# default) the download must arrive whole (sha256) and moat-dp must have counted
# pickups; with pickup: off the same download must stall (the old behaviour, every
# segment ack_no_flow). Under 60 s; run it under flock /tmp/moat-lab.lock.
set -uo pipefail
build=$(cd "${1:?usage: pickup_lab.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-mpk$$}
. "$here/lab_lib.sh"
dp=$build/dataplane/moat-dp
ctl=$build/control/moatctl
lab_require curl nsenter sha256sum
lab_dp_begin "$dp"

MB=${MB:-24}
# A reason's count in moat-dp's stats file NAME.stats.
reason() {
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reasons"][sys.argv[2]])' \
		"$LAB_DIR/$1.stats" "$2"
}

# midstream NAME PICKUP: the download starts through the bridge, moat-dp (pickup:
# PICKUP) replaces the bridge 2 s in; curl's exit status, moat-dp's stats in NAME.stats.
midstream() {
	local name=$1 cpid rc
	printf 'mode: dpdk\npickup: %s\n' "$2" >"$LAB_DIR/$name.yaml"
	lab_dp_bridge || return 1
	in_ns "$LAB_CLI" curl -fs -m 40 --limit-rate 2M --speed-limit 1000 --speed-time 4 \
		-o "$LAB_DIR/$name.got" "http://$SRV4/big.bin" &
	cpid=$!
	sleep 2
	ip -n "$LAB_RTR" link del brx
	lab_dp_start "$dp" "$LAB_DIR/$name.yaml" "$name" "$ctl" || { kill "$cpid"; return 1; }
	wait "$cpid"
	rc=$?
	"$ctl" stats -j --socket "$LAB_DP_SOCK" >"$LAB_DIR/$name.stats"
	lab_dp_stop
	return $rc
}

lab_dp_up || { check 1 "lab topology"; lab_finish; }
head -c $((MB * 1024 * 1024)) /dev/urandom >"$LAB_DIR/big.bin"
lab_bg "$LAB_SRV" /usr/bin/python3 "$here/tcpinfo_server.py" "$SRV4" 80 "$LAB_DIR/big.bin" \
	"$LAB_DIR/tcpinfo.log"
lab_wait_port "$LAB_SRV" 80
check $? "tcpinfo_server.py serves $MB MB on $SRV4:80"
# A small receive buffer, so the download is not already in the client's socket
# when moat-dp takes the wire: most of it must cross moat-dp.
in_ns "$LAB_CLI" sysctl -qw net.ipv4.tcp_rmem="4096 65536 262144"

midstream auto auto
rc=$?
[ "$rc" -eq 0 ] && [ "$(sha256sum <"$LAB_DIR/auto.got")" = "$(sha256sum <"$LAB_DIR/big.bin")" ]
check $? "moat-dp started 2 s into a $MB MB download (pickup: auto): it arrives whole (curl $rc, sha256)"
picked=$(reason auto pickup) est=$(reason auto established) drops=$(reason auto ack_no_flow)
[ "$picked" -ge 1 ] && [ "$est" -ge 100 ]
check $? "moat-dp picked the download up: pickup $picked, then established $est (ack_no_flow $drops)"

midstream off off
rc=$?
drops=$(reason off ack_no_flow) est=$(reason off established)
[ "$rc" -ne 0 ] && [ "$drops" -ge 1 ] && [ "$est" -eq 0 ]
check $? "the same with pickup: off: the download stalls (curl $rc, ack_no_flow $drops, established $est)"
lab_finish
