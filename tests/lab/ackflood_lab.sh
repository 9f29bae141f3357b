#!/usr/bin/env bash
# An ACK flood of random sources through moat-dp with mid-stream pickup on (issue 12):
# the server sees at most pickup's budget of it, the flow table stays bounded, and
# legitimate requests beside it succeed (>= 99%).
#   ackflood_lab.sh BUILD_DIR
#
# Topology: lab_lib's inline layout (lab_dp_up): client and attacker -- switch --
# [moat-dp, or a Linux bridge, in LAB-dp] -- server (nginx, port 80). The attacker's
# trafgen sends bare ACKs from random sources in 100.0.0.0/8 (the flood's marker:
# the client is 10.90.8.3) with random ports, SEQ and ACK to the server's port 80,
# at RATE packets/s (40,000) for FLOOD_S seconds (10); one second in, the client
# makes REQS (200) requests, each on a new connection, curl against nginx.
#
# The server's tcpdump counts every packet from the flood's sources that reaches it.
# Each flood ACK of a flow moat-dp has not seen is a mid-stream pickup candidate
# (docs/engine.md, "Mid-stream pickup"): per destination address at most
# pickup_burst + pickup_rate x seconds pass (the defaults, 200 + 100/s, read from
# core/policy.h), and with pickup: auto a second of more than pickup_trigger (1000)
# unconfirmed segments suspends pickup for the address at the end of the second that
# follows it: at most burst + 2 s of the rate (400). Before that, each unknown ACK is
# checked as a SYN cookie, and a random one passes with odds of 2 x 2^-22 ("Forgery
# odds"; about one in 400,000-ACK floods in five): moat-dp's SYN proxy then sends
# the server a SYN for it (up to 4). Those are counted and checked apart.
# The server answers each flood ACK with a RST, which leaves by lab_dp_up's sink:
# moat-dp never sees it, so every tentative flow stays in the table until evicted
# (the table's worst case). Every flow in the table is then a flood ACK that passed
# or a legitimate connection: its peak (moatctl stats, polled about 4 times a second)
# must stay within the budget plus REQS, whatever the flood's size.
#
# Runs pickup: auto, pickup: on, then the baseline: a Linux bridge in moat-dp's place,
# where the server sees the whole flood and its kernel answers each ACK with a RST
# (nstat TcpOutRsts). One worker (moat-dp -l 0,1), so one budget. Under 60 s; run it
# under flock /tmp/moat-lab.lock.
set -uo pipefail
build=$(cd "${1:?usage: ackflood_lab.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-mak$$}
. "$here/lab_lib.sh"
dp=$build/dataplane/moat-dp
ctl=$build/control/moatctl
lab_require curl nsenter trafgen tcpdump nstat nginx timeout
lab_dp_begin "$dp"

RATE=${RATE:-40000} FLOOD_S=${FLOOD_S:-10} REQS=${REQS:-200}
FLOOD_NET=100.0.0.0/8
# A default of moat's policy (core/policy.h, moat_policy_defaults): what the lab's
# config, which names none of them, runs with.
policy_default() { sed -n "s/^[[:space:]]*pol->$1 = \([0-9]*\);.*/\1/p" "$here/../../core/policy.h"; }
P_RATE=$(policy_default pickup_rate) P_BURST=$(policy_default pickup_burst)
P_TRIGGER=$(policy_default pickup_trigger)

declare -A SENT DUR ALL SEEN OTHER SPAN TDROP RSTS OK PEAK SOURCES PICKUPS NOFLOW COOKIES PROXY RX \
	RXLINK BUDGET
# One figure of moat-dp's stats file NAME.stats: a reason's count or a top-level key.
stat() {
	/usr/bin/python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(j["reasons"][sys.argv[2]] if sys.argv[2] in j["reasons"] else j[sys.argv[2]])' \
		"$LAB_DIR/$1.stats" "$2"
}
# The largest flow (and source) table of the polls in NAME.polls: all workers' entries.
peak() {
	/usr/bin/python3 -c 'import json, sys
best = 0
for line in open(sys.argv[1]):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    best = max(best, sum(w[sys.argv[2]] for w in j["workers"]))
print(best)' "$LAB_DIR/$1.polls" "$2"
}

# The frames of a capture (tcpdump -w, IPv4 TCP in Ethernet) whose TCP flags are ACK
# alone, the flood's, and the seconds from the first of them to the last; then the
# others: "ACKS SPAN OTHERS".
acks() {
	/usr/bin/python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read()
end = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
div = 1e9 if d[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e6
acks = others = 0
first = last = 0.0
off = 24
while off + 16 <= len(d):
    sec, frac, incl = struct.unpack(end + "III", d[off:off + 12])
    frame = d[off + 16:off + 16 + incl]
    off += 16 + incl
    ihl = (frame[14] & 15) * 4 if len(frame) > 14 else 0
    if len(frame) > 14 + ihl + 13 and frame[14 + ihl + 13] == 0x10:
        t = sec + frac / div
        first = first or t
        last = t
        acks += 1
    else:
        others += 1
print(acks, "%.2f" % (last - first), others)' "$1"
}

# A process of the lab that has been waited for leaves LAB_PIDS: lab_down must not
# signal its number once it may belong to another process.
forget() { # PID
	local pid keep=()
	for pid in "${LAB_PIDS[@]}"; do
		[ "$pid" = "$1" ] || keep+=("$pid")
	done
	LAB_PIDS=("${keep[@]}")
}

# legit NAME: REQS requests from the client, a new connection each; HTTP codes in NAME.codes.
legit() {
	in_ns "$LAB_CLI" bash -c 'for i in $(seq 1 "$1"); do
		curl --noproxy "*" -s -o /dev/null -m 5 -w "%{http_code}\n" "http://$2/"
		sleep 0.02
	done' _ "$REQS" "$SRV4" >"$LAB_DIR/$1.codes"
	OK[$1]=$(grep -c '^200$' "$LAB_DIR/$1.codes")
}

# flood NAME: the flood for FLOOD_S seconds (longer if the requests take longer), the
# requests beside it, through whatever is in the wire; the server's capture of it.
flood() {
	local name=$1 t0 t1 fpid tpid ppid="" rst0 rx0 i
	lab_bg "$LAB_SRV" tcpdump -n -i s0 -B 32768 -s 96 -w "$LAB_DIR/$name.pcap" \
		"src net $FLOOD_NET" 2>"$LAB_DIR/$name.tcpdump"
	tpid=$LAB_LAST_PID
	for i in $(seq 1 100); do
		grep -q 'listening on' "$LAB_DIR/$name.tcpdump" && break
		sleep 0.1
	done
	rst0=$(lab_nstat "$LAB_SRV" TcpOutRsts) rx0=$(lab_dp_link_rx "$LAB_RTR" d-out)
	if [ -n "$LAB_DP_PID" ]; then
		rm -f "$LAB_DIR/$name.stop"
		(while [ ! -e "$LAB_DIR/$name.stop" ]; do
			"$ctl" stats -j --socket "$LAB_DP_SOCK" | tr -d '\n'
			echo
			sleep 0.2
		done) >"$LAB_DIR/$name.polls" 2>/dev/null &
		ppid=$!
		LAB_PIDS+=("$ppid")
	fi
	t0=$(date +%s%N)
	nsenter --net="/run/netns/$LAB_ATK" timeout -s INT $((FLOOD_S + 60)) trafgen --dev a0 \
		--conf "$LAB_DIR/ack.cfg" --cpus 1 --rate "${RATE}pps" --no-sock-mem --notouch-irq \
		>"$LAB_DIR/$name.trafgen" 2>&1 &
	fpid=$!
	LAB_PIDS+=("$fpid")
	sleep 1
	legit "$name"
	while [ $(($(date +%s%N) - t0)) -lt $((FLOOD_S * 1000000000)) ]; do sleep 0.1; done
	kill -INT "$fpid"
	wait "$fpid"
	forget "$fpid"
	t1=$(date +%s%N)
	sleep 1 # the flood's last frames through the wire
	if [ -n "$ppid" ]; then
		touch "$LAB_DIR/$name.stop"
		wait "$ppid"
		forget "$ppid"
		"$ctl" stats -j --socket "$LAB_DP_SOCK" >"$LAB_DIR/$name.stats"
		"$ctl" stats -j --socket "$LAB_DP_SOCK" | tr -d '\n' >>"$LAB_DIR/$name.polls"
		PEAK[$name]=$(peak "$name" flows) SOURCES[$name]=$(peak "$name" sources)
		PICKUPS[$name]=$(stat "$name" pickup) NOFLOW[$name]=$(stat "$name" ack_no_flow)
		COOKIES[$name]=$(stat "$name" cookie_valid) PROXY[$name]=$(stat "$name" proxy_syns)
		RX[$name]=$(stat "$name" rx)
	fi
	kill -TERM "$tpid"
	wait "$tpid"
	forget "$tpid"
	RSTS[$name]=$(($(lab_nstat "$LAB_SRV" TcpOutRsts) - rst0))
	SENT[$name]=$(grep -o '[0-9]* packets outgoing' "$LAB_DIR/$name.trafgen" | awk '{ print $1 }')
	SENT[$name]=${SENT[$name]:-0}
	DUR[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	ALL[$name]=$(awk '/packets captured/ { print $1 }' "$LAB_DIR/$name.tcpdump")
	TDROP[$name]=$(awk '/dropped by kernel/ { print $1 }' "$LAB_DIR/$name.tcpdump")
	ALL[$name]=${ALL[$name]:--1} TDROP[$name]=${TDROP[$name]:--1}
	read -r "SEEN[$name]" "SPAN[$name]" "OTHER[$name]" < <(acks "$LAB_DIR/$name.pcap")
	RXLINK[$name]=$(($(lab_dp_link_rx "$LAB_RTR" d-out) - rx0))
}
pps() { awk -v n="${SENT[$1]}" -v s="${DUR[$1]}" 'BEGIN { printf "%d", n / s }'; }

# moat_run MODE: moat-dp with pickup: MODE in the wire during a flood; its checks.
moat_run() {
	local mode=$1 budget bound rc why cmax dpid
	printf 'mode: dpdk\npickup: %s\n' "$mode" >"$LAB_DIR/$mode.yaml"
	lab_dp_start "$dp" "$LAB_DIR/$mode.yaml" "$mode" "$ctl"
	rc=$?
	check $rc "moat-dp (pickup: $mode) answers on its socket"
	[ "$rc" -eq 0 ] || { lab_dp_stop; return 1; }
	flood "$mode"
	dpid=$LAB_DP_PID
	lab_dp_stop
	forget "$dpid"
	# The flood: far above the trigger, every second of it.
	[ "$(pps "$mode")" -ge $((10 * P_TRIGGER)) ]
	check $? "pickup: $mode: the flood sent ${SENT[$mode]} ACKs in ${DUR[$mode]} s ($(pps "$mode")/s; moat-dp's outside port got ${RXLINK[$mode]} frames, moat-dp read ${RX[$mode]})"
	# The budget: burst + rate x the flood's time measured around trafgen, whole
	# seconds up (frames still in moat-dp's ring when trafgen stops are judged a little
	# later). auto suspends at the end of the flood's second second: 2 s of the rate,
	# and 0.1 s for the seconds' edges, which move with the packets that mark them.
	if [ "$mode" = auto ]; then
		budget=$((P_BURST + 2 * P_RATE + P_RATE / 10))
		why="burst $P_BURST + $P_RATE/s until suspended (2 s, + 0.1 s for the edges)"
	else
		budget=$(awk -v b="$P_BURST" -v r="$P_RATE" -v s="${DUR[$mode]}" \
			'BEGIN { printf "%d", b + r * int(s + 0.999) }')
		why="burst $P_BURST + ${DUR[$mode]} s x $P_RATE/s"
	fi
	BUDGET[$mode]=$budget
	[ "${ALL[$mode]}" -ge 0 ] && [ "${TDROP[$mode]}" -eq 0 ] && [ "${SEEN[$mode]}" -le "$budget" ]
	check $? "pickup: $mode: the server saw ${SEEN[$mode]} of ${SENT[$mode]} flood packets, all within ${SPAN[$mode]} s; budget $budget ($why) (moat-dp: pickup ${PICKUPS[$mode]}, ack_no_flow ${NOFLOW[$mode]}; server RSTs ${RSTS[$mode]}; tcpdump dropped ${TDROP[$mode]})"
	# Any other packet of the flood's sources at the server is moat-dp's SYN proxy's,
	# for a flood ACK that passed as a SYN cookie (cookie_valid): a random ACK does
	# with odds of 2 x 2^-22 (docs/engine.md, "Forgery odds"), 0.19 expected in
	# 400,000. The proxy sends at most 5 SYNs each (its first twice, then the
	# retries up to DP_SYN_TRIES); the server's SYN-ACK leaves by the sink, so the
	# proxy retries them all.
	cmax=$((3 + 3 * SENT[$mode] / 2097152))
	[ "${OTHER[$mode]}" -le $((5 * COOKIES[$mode])) ] && [ "${COOKIES[$mode]}" -le "$cmax" ]
	check $? "pickup: $mode: the server saw ${OTHER[$mode]} other packets from the flood's sources, SYNs of moat-dp's SYN proxy (proxy_syns ${PROXY[$mode]}) for ${COOKIES[$mode]} flood ACKs that passed as cookies (cookie_valid, at most $cmax: 3 + 3 x the expected)"
	[ "${OK[$mode]}" -ge $((REQS * 99 / 100)) ]
	check $? "pickup: $mode: ${OK[$mode]} of $REQS legitimate requests during the flood succeeded (>= 99%)"
	# Every flow in the table is a flood ACK that passed (pickup or cookie) or a
	# legitimate connection: the bound does not grow with the flood.
	bound=$((budget + COOKIES[$mode] + REQS))
	[ "${PEAK[$mode]}" -ge 1 ] && [ "${PEAK[$mode]}" -le "$bound" ]
	check $? "pickup: $mode: flow table peak ${PEAK[$mode]} flows <= $bound (budget $budget + cookies ${COOKIES[$mode]} + $REQS legitimate connections) while the flood sent ${SENT[$mode]}; source table ${SOURCES[$mode]}"
}

lab_dp_up || { check 1 "lab topology"; lab_finish; }
lab_nginx
check $? "nginx serves on $SRV4:80"
[ -n "$P_RATE" ] && [ -n "$P_BURST" ] && [ -n "$P_TRIGGER" ]
check $? "moat's defaults (core/policy.h): pickup_rate $P_RATE/s, pickup_burst $P_BURST, pickup_trigger $P_TRIGGER/s"
lab_trafgen_ack "$(lab_mac "$LAB_SRV" s0)" "$(lab_mac "$LAB_ATK" a0)" "$SRV4" 80 >"$LAB_DIR/ack.cfg"

moat_run auto
moat_run on

# ---- the baseline: a Linux bridge in moat-dp's place ------------------------------------
lab_dp_bridge
check $? "a Linux bridge in moat-dp's place"
flood bridge
echo "info: baseline (Linux bridge): the flood sent ${SENT[bridge]} ACKs in ${DUR[bridge]} s ($(pps bridge)/s); the server saw ${SEEN[bridge]} (tcpdump dropped ${TDROP[bridge]}) and answered ${RSTS[bridge]} RSTs; ${OK[bridge]} of $REQS legitimate requests succeeded"
for m in auto on bridge; do
	printf 'info: %-7s sent %8s (%6s/s)  server saw %8s  budget %5s  server RSTs %8s  table peak %5s  legit %s/%s\n' \
		"$m" "${SENT[$m]}" "$(pps "$m")" "${SEEN[$m]}" "${BUDGET[$m]:--}" "${RSTS[$m]}" \
		"${PEAK[$m]:--}" "${OK[$m]}" "$REQS"
done
lab_finish
