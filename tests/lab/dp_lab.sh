#!/usr/bin/env bash
# moat-dp inline in a lab of network namespaces, real kernel TCP on both ends.
#   dp_lab.sh BUILD_DIR
#
#   client   (LAB-cli) c0 10.90.7.3 -+
#                                     +- br0 (LAB-sw) sw-d -- d-out [moat-dp, LAB-dp] d-in -- s0 (LAB-srv)
#   attacker (LAB-atk) a0 10.90.7.4 -+                      port 1, outside   port 0, inside  10.90.7.2
#
# One subnet: moat-dp is a transparent bump in the wire between the client-side
# switch and the server, reading both veth ends in its own namespace through
# net_af_packet. The attacker is a third port of the client-side bridge, so its
# flood and its spoofed RSTs enter moat-dp's outside port as the client's
# traffic does. The server routes replies to off-subnet (spoofed) sources into
# an ifb device, which drops them: its route lookups succeed, so a random-source
# flood costs it what it would on the Internet, and its SYN-ACKs to spoofed
# sources never come back through moat-dp.
#
# Frames: segmentation offloads are off on every veth (af_packet must see frames
# no larger than the MTU) and TX checksum offload too, so every frame moat-dp
# reads carries its real checksum and the kernels verify what moat-dp sends.
# CPUs (2 here, shared with other tests): moat-dp's worker polls CPU 1 (-l 0,1).
# A frame moat-dp sends into a veth would be received by the peer's whole stack
# inside moat-dp's send call, on that CPU, so RPS puts the server's and the
# client's receive processing on the other CPUs, and hping3 runs there too: the
# filter's core does the filter's work. Without that, the flood overran the
# af_packet ring in front of moat-dp (half the frames lost, legitimate SYNs
# with them) while moat-dp itself used ~9% of its core.
#
# Checks, syn_cookies: off (transparent forwarding, flows tracked): 200 requests
# all succeed, a 10 MB download arrives with the same sha256, an IPv6 request
# goes through, a rate-limited download survives 10,000 spoofed RSTs (its
# 4-tuple, random sequence numbers; spoof_rst_raw.py from the attacker) counted
# rst_out_of_window (>= 99%), and >= 99% of 200 requests succeed during a
# random-source hping3 flood of at least FLOOD_S seconds (the server's
# TcpExtListenOverflows recorded). Then (unless DP_LAB_PROXY=0) syn_cookies:
# always: 200 requests and the 10 MB download through the SYN proxy. Then (unless
# DP_LAB_MOATD=0) moatd drives moat-dp: CLI round trips, rotations, signatures,
# moat-dp killed and restarted; moatd killed (-9) under traffic while moat-dp forwards
# on alone, and a new moatd re-attaching to the same moat-dp; keep_attached.
set -uo pipefail
build=$(cd "${1:?usage: dp_lab.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-mdp$$}
. "$here/lab_lib.sh"
# This lab's topology on lab_lib's names (lab_down deletes those four namespaces).
LAB_RTR=$LAB-dp
LAB_SW=$LAB-sw
SRV4=10.90.7.2 SRV6=fd90:7::2 CLI4=10.90.7.3 CLI6=fd90:7::3 ATK4=10.90.7.4

dp=$build/dataplane/moat-dp
ctl=$build/control/moatctl
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the lab needs root (network namespaces)"; exit 77; }
[ -x "$dp" ] || { echo "SKIP: moat-dp not built (libdpdk-dev missing)"; exit 77; }
for tool in nginx hping3 curl nstat ethtool nsenter taskset sha256sum; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
/usr/bin/python3 -c 'import scapy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no scapy"; exit 77; }
NCPU=$(nproc)
[ "$NCPU" -ge 2 ] || { echo "SKIP: moat-dp needs two cores (-l 0,1)"; exit 77; }
OTHER_CPUS=$(( ((1 << NCPU) - 1) & ~2 )) # every CPU but 1, the worker's

FLOOD_S=${FLOOD_S:-10}
REQUESTS=${REQUESTS:-200}
RSTS=${RSTS:-10000}
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}

DP_PID="" DP_NAME=""
cleanup() {
	# moat-dp, nginx and the background jobs are in LAB_PIDS: lab_down kills and
	# reaps them, deletes LAB-srv/-dp/-cli/-atk and LAB_DIR. The switch is ours.
	lab_down
	ip netns del "$LAB_SW" 2>/dev/null
	rm -rf /var/run/dpdk/"$LAB"-* # EAL's runtime folders, one per --file-prefix
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- counters -----------------------------------------------------------------
json() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$@"; }
stats() { # NAME: moat-dp's stats into $LAB_DIR/NAME.json; a dead moat-dp ends the run
	"$ctl" stats -j --socket "$LAB_DIR/dp.sock" >"$LAB_DIR/$1.json" 2>/dev/null && return 0
	kill -0 "$DP_PID" 2>/dev/null
	check 1 "moat-dp ($DP_NAME) answers its control socket (alive: $([ $? -eq 0 ] && echo yes || echo no); stderr: $(tail -n 2 "$LAB_DIR/$DP_NAME.err" | tr '\n' ' '))"
	finish
}
delta() { # NAME0 NAME1 KEY: the growth of a counter between two stats
	echo $(( $(json "$LAB_DIR/$2.json" "$3") - $(json "$LAB_DIR/$1.json" "$3") ))
}
reason_deltas() { # NAME0 NAME1: every reason that grew, but established/handshake
	/usr/bin/python3 -c 'import json,sys
a, b = (json.load(open(f))["reasons"] for f in sys.argv[1:3])
print(" ".join(f"{k} +{b[k] - a[k]}" for k in b if b[k] != a[k] and k not in ("established", "handshake")) or "none")' \
		"$LAB_DIR/$1.json" "$LAB_DIR/$2.json"
}
link_stat() { # ns dev rx|tx packets|dropped
	ip -n "$1" -s -j link show "$2" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"][sys.argv[1]][sys.argv[2]])' "$3" "$4"
}

# ---- topology -----------------------------------------------------------------
# lab_lib's inline layout (lab_dp_up) on this lab's addresses (see the top).
topology() {
	LAB_DP_OTHER_CPUS=$(printf %x "$OTHER_CPUS")
	lab_dp_up
}

# ---- moat-dp --------------------------------------------------------------------
# dp_start NAME: moat-dp on $LAB_DIR/NAME.yaml; port 0 = d-in (inside), 1 = d-out
# (outside). Rings of 8192 frames ride out the moments its core is taken by
# other work on this shared machine.
dp_start() { # NAME [WORKERS]: with 2 workers, a dispatcher too: 4 lcores on the 2 CPUs
	local i lcores=(-l 0,1) workers=()
	DP_NAME=$1
	if [ "${2:-1}" -gt 1 ]; then
		lcores=(--lcores "0@0,1@1,2@1,3@0")
		workers=(--workers "$2")
	fi
	rm -f "$LAB_DIR/dp.sock"
	lab_bg "$LAB_RTR" "$dp" --no-huge --no-shconf --no-pci --file-prefix "$LAB-$1" "${lcores[@]}" \
		--log-level=lib.eal:error \
		--vdev net_af_packet0,iface=d-in,qdisc_bypass=1,framecnt=8192 \
		--vdev net_af_packet1,iface=d-out,qdisc_bypass=1,framecnt=8192 \
		-- --config "$LAB_DIR/$1.yaml" --pair 0:1 --socket "$LAB_DIR/dp.sock" "${workers[@]}" \
		>"$LAB_DIR/$1.totals" 2>"$LAB_DIR/$1.err"
	DP_PID=$LAB_LAST_PID
	for i in $(seq 1 100); do
		"$ctl" stats -j --socket "$LAB_DIR/dp.sock" >/dev/null 2>&1 && return 0
		kill -0 "$DP_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
dp_stop() { # SIGINT: totals on stdout; exit status in DP_RC
	kill -INT "$DP_PID" 2>/dev/null
	wait "$DP_PID"
	DP_RC=$?
	DP_PID=""
}

# ---- traffic --------------------------------------------------------------------
request() { # one HTTP request from the client, 10 s at most
	in_ns "$LAB_CLI" curl -fs -o /dev/null -m 10 -w '%{local_port} %{time_total}\n' "http://$SRV4/"
}
request_loop() { # WORKERS [PAUSE]: REQUESTS requests by WORKERS sequential loops side
	# by side, each pausing PAUSE s after each request; leaves REQ_OK, REQ_S
	local w=$1 pause=${2:-0} k t0=$SECONDS pids=()
	rm -f "$LAB_DIR"/req.* "$LAB_DIR"/ok.*
	for k in $(seq 1 "$w"); do
		(
			ok=0
			for i in $(seq "$k" "$w" "$REQUESTS"); do
				if request >"$LAB_DIR/req.$k"; then
					ok=$((ok + 1))
				else
					echo "curl exit $?, local port $(cut -d' ' -f1 "$LAB_DIR/req.$k"), after $(cut -d' ' -f2 "$LAB_DIR/req.$k") s" \
						>>"$LAB_DIR/req.failed"
				fi
				[ "$pause" = 0 ] || sleep "$pause"
			done
			echo "$ok" >"$LAB_DIR/ok.$k"
		) &
		pids+=("$!")
	done
	LAB_PIDS+=("${pids[@]}")
	wait "${pids[@]}"
	REQ_OK=$(cat "$LAB_DIR"/ok.* | awk '{ s += $1 } END { print s + 0 }')
	REQ_S=$((SECONDS - t0))
	if [ -s "$LAB_DIR/req.failed" ]; then
		sed 's/^/info: failed request: /' "$LAB_DIR/req.failed" | head -n 5
	fi
}
download_sha() { # FILE OUT: 0 when what arrived hashes like the file served
	in_ns "$LAB_CLI" curl -fs -m 30 -o "$LAB_DIR/$2" "http://$SRV4/$1" || return 1
	[ "$(sha256sum <"$LAB_DIR/$2")" = "$(sha256sum <"$LAB_DIR/www/$1")" ]
}
size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# ---- go -------------------------------------------------------------------------
topology || { check 1 "lab topology"; finish; }
lab_nginx || { check 1 "nginx started in the server namespace"; finish; }
head -c $((10 * 1024 * 1024)) "$LAB_DIR/www/big.bin" >"$LAB_DIR/www/ten.bin"
SRV_MAC=$(ip -n "$LAB_SRV" -j link show s0 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')

# ---- syn_cookies off: transparent forwarding, flows tracked -----------------------
printf 'mode: dpdk\nprotect_ports: [80]\nsyn_cookies: off\n' >"$LAB_DIR/off.yaml"
dp_start off
rc=$?
check $rc "moat-dp (syn_cookies off) runs on net_af_packet d-in/d-out, answers on its socket ($(tail -n 1 "$LAB_DIR/off.err"))"
[ $rc -eq 0 ] || finish
stats o0
request >/dev/null
rc=$?
check $rc "a first request crosses moat-dp (ARP and TCP through the wire; curl exit $rc)"
[ $rc -eq 0 ] || finish # every later request would wait out its 10 s

request_loop 4
check $(( REQ_OK == REQUESTS ? 0 : 1 )) "syn_cookies off: $REQ_OK/$REQUESTS HTTP requests succeeded (${REQ_S} s)"
download_sha ten.bin ten.got
check $? "syn_cookies off: 10 MB download, sha256 of what arrived matches ($(size "$LAB_DIR/ten.got") bytes)"
in_ns "$LAB_CLI" curl -fs -o /dev/null -m 10 "http://[$SRV6]/"
check $? "syn_cookies off: IPv6 request (ND and TCP over IPv6 through moat-dp)"
stats o1
fwd=$(delta o0 o1 verdicts.pass) dropped=$(delta o0 o1 verdicts.drop) txfull=$(delta o0 o1 tx_full)
check $(( dropped == 0 && txfull == 0 && fwd > 0 ? 0 : 1 )) \
	"syn_cookies off: none of that traffic dropped (passed $fwd: established $(delta o0 o1 reasons.established), handshake $(delta o0 o1 reasons.handshake), other: $(reason_deltas o0 o1); dropped $dropped, tx_full $txfull)"

# ---- a long download against spoofed RSTs from the attacker -----------------------
# The RSTs carry the download's 4-tuple (client -> server) and random sequence
# numbers; spoof_rst_raw.py builds its frames in milliseconds,
# at 20 kpps, so all land while the connection lives.
stats r0
nsenter --net="/run/netns/$LAB_CLI" curl -fs -m 60 --limit-rate 3M -o "$LAB_DIR/big.got" "http://$SRV4/big.bin" &
dl=$!
LAB_PIDS+=("$dl")
port=""
for i in $(seq 1 50); do
	port=$(in_ns "$LAB_CLI" ss -tnH state established dst "$SRV4" | awk '{ n = split($3, a, ":"); print a[n]; exit }')
	[ -n "$port" ] && break
	sleep 0.1
done
sleep 0.5
in_ns "$LAB_ATK" /usr/bin/python3 "$here/spoof_rst_raw.py" a0 "$SRV_MAC" "$CLI4" "${port:-1}" "$SRV4" 80 "$RSTS" \
	>"$LAB_DIR/spoof.out"
kill -0 "$dl" 2>/dev/null
alive=$?
wait "$dl"
dl_rc=$?
stats r1
oow=$(delta r0 r1 reasons.rst_out_of_window)
check $(( alive == 0 ? 0 : 1 )) "the download was still running after the last spoofed RST ($(cut -d' ' -f2,8- "$LAB_DIR/spoof.out"))"
check $(( dl_rc == 0 ? 0 : 1 )) "16 MB download (client port ${port:-?}) survived $RSTS spoofed RSTs (curl exit $dl_rc)"
[ "$(sha256sum <"$LAB_DIR/big.got")" = "$(sha256sum <"$LAB_DIR/www/big.bin")" ]
check $? "that download's sha256 matches the file ($(size "$LAB_DIR/big.got") bytes)"
check $(( oow * 100 >= RSTS * 99 ? 0 : 1 )) \
	"spoofed RSTs counted rst_out_of_window: $oow of $RSTS (>= 99%; challenge_ack $(delta r0 r1 reasons.challenge_ack), rst_suspect $(delta r0 r1 reasons.rst_suspect), rst_no_flow $(delta r0 r1 reasons.rst_no_flow))"

# ---- a random-source SYN flood from the attacker ------------------------------------
ovf0=$(lab_nstat "$LAB_SRV" TcpExtListenOverflows) ldrop0=$(lab_nstat "$LAB_SRV" TcpExtListenDrops)
sc0=$(lab_nstat "$LAB_SRV" TcpExtSyncookiesSent) srx0=$(link_stat "$LAB_SRV" s0 rx packets)
synre0=$(lab_nstat "$LAB_CLI" TcpExtTCPSynRetrans)
wire0=$(( $(link_stat "$LAB_RTR" d-out rx packets) + $(link_stat "$LAB_RTR" d-in rx packets) ))
stats f0
# From 1 s before the first request to after the last, FLOOD_S s at least;
# requests paced to spread over the flood.
nsenter --net="/run/netns/$LAB_ATK" taskset "$(printf %x $OTHER_CPUS)" \
	hping3 -q -S -p 80 --flood --rand-source "$SRV4" >"$LAB_DIR/hping.out" 2>&1 &
hping=$!
LAB_PIDS+=("$hping")
t0=$SECONDS
sleep 1
request_loop 4 0.15
[ $((SECONDS - t0)) -lt "$FLOOD_S" ] && sleep $((FLOOD_S - (SECONDS - t0)))
F_S=$((SECONDS - t0))
kill -INT "$hping"
wait "$hping"
stats f1
F_SENT=$(grep -o '[0-9]* packets transmitted' "$LAB_DIR/hping.out" | awk '{ print $1 }')
F_SRX=$(( $(link_stat "$LAB_SRV" s0 rx packets) - srx0 ))
F_WIRE=$(( $(link_stat "$LAB_RTR" d-out rx packets) + $(link_stat "$LAB_RTR" d-in rx packets) - wire0 ))
F_RX=$(delta f0 f1 rx)
"$ctl" flows -j --socket "$LAB_DIR/dp.sock" >"$LAB_DIR/flows.json" 2>&1
check $(( REQ_OK * 100 >= REQUESTS * 99 ? 0 : 1 )) \
	"syn_cookies off, under a ${F_S} s random-source SYN flood: $REQ_OK/$REQUESTS requests succeeded (>= 99%)"
check $(( F_SRX > 10000 ? 0 : 1 )) \
	"the flood crossed moat-dp to the server's kernel: hping3 sent ${F_SENT:-?}, moat-dp read $F_RX (handshake $(delta f0 f1 reasons.handshake), dropped $(delta f0 f1 verdicts.drop), tx_full $(delta f0 f1 tx_full)), server s0 received $F_SRX"
echo "info: server during the flood: TcpExtListenOverflows +$(( $(lab_nstat "$LAB_SRV" TcpExtListenOverflows) - ovf0 )), TcpExtListenDrops +$(( $(lab_nstat "$LAB_SRV" TcpExtListenDrops) - ldrop0 )), TcpExtSyncookiesSent +$(( $(lab_nstat "$LAB_SRV" TcpExtSyncookiesSent) - sc0 ))"
echo "info: client SYN retransmissions $(( $(lab_nstat "$LAB_CLI" TcpExtTCPSynRetrans) - synre0 )); frames lost in moat-dp's af_packet rings $((F_WIRE - F_RX)); moat-dp reasons besides established/handshake: $(reason_deltas f0 f1)"
echo "info: moat-dp flows after the flood: $(cat "$LAB_DIR/flows.json")"
dp_stop
check $(( DP_RC == 0 ? 0 : 1 )) "moat-dp exits 0 on SIGINT and prints its totals (exit $DP_RC: $(head -c 100 "$LAB_DIR/off.totals")...)"

# ---- syn_cookies always: through the SYN proxy ------------------------------------
if [ "${DP_LAB_PROXY:-1}" = 1 ]; then
	printf 'mode: dpdk\nprotect_ports: [80]\nsyn_cookies: always\n' >"$LAB_DIR/always.yaml"
	dp_start always
	rc=$?
	check $rc "moat-dp (syn_cookies always) runs and answers on its socket ($(tail -n 1 "$LAB_DIR/always.err"))"
	[ $rc -eq 0 ] || finish
	stats a0
	request >/dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		request_loop 4
		check $(( REQ_OK == REQUESTS ? 0 : 1 )) \
			"syn_cookies always: $REQ_OK/$REQUESTS HTTP requests succeeded through the SYN proxy (${REQ_S} s)"
		download_sha ten.bin ten2.got
		check $? "syn_cookies always: 10 MB download through the proxy, sha256 matches ($(size "$LAB_DIR/ten2.got") bytes)"
	else
		check 1 "syn_cookies always: a first request through the SYN proxy (curl exit $rc; the 200 requests and the download not run)"
	fi
	stats a1
	echo "info: syn_cookies always: syn_cookie +$(delta a0 a1 reasons.syn_cookie), cookie_valid +$(delta a0 a1 reasons.cookie_valid), cookie_invalid +$(delta a0 a1 reasons.cookie_invalid), other: $(reason_deltas a0 a1)"
	dp_stop
	check $(( DP_RC == 0 ? 0 : 1 )) "moat-dp (syn_cookies always) exits 0 on SIGINT (exit $DP_RC)"

	# The same through two workers behind the dispatcher.
	cp "$LAB_DIR/always.yaml" "$LAB_DIR/always2.yaml"
	dp_start always2 2
	rc=$?
	check $rc "moat-dp with 2 workers and a dispatcher runs ($(tail -n 1 "$LAB_DIR/always2.err"))"
	[ $rc -eq 0 ] || finish
	stats w0
	request_loop 4
	check $(( REQ_OK == REQUESTS ? 0 : 1 )) \
		"2 workers, syn_cookies always: $REQ_OK/$REQUESTS HTTP requests succeeded (${REQ_S} s)"
	download_sha ten.bin ten3.got
	check $? "2 workers: 10 MB download through the proxy, sha256 matches ($(size "$LAB_DIR/ten3.got") bytes)"
	stats w1
	"$ctl" stats -j --socket "$LAB_DIR/dp.sock" >"$LAB_DIR/w.json" 2>/dev/null
	/usr/bin/python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["workers"]; sys.exit(not (len(w) == 2 and all(x["rx"] > 0 for x in w)))' "$LAB_DIR/w.json"
	check $? "2 workers: both received traffic ($(/usr/bin/python3 -c 'import json,sys; print([x["rx"] for x in json.load(open(sys.argv[1]))["workers"]])' "$LAB_DIR/w.json"))"
	dp_stop
	check $(( DP_RC == 0 ? 0 : 1 )) "moat-dp with 2 workers exits 0 on SIGINT (exit $DP_RC)"
else
	echo "skip: syn_cookies always through moat-dp (DP_LAB_PROXY=0 was set)"
fi

# ---- moatd drives moat-dp (mode dpdk): CLI round trips, rotation, restarts, deaths --
# moatd starts moat-dp from dpdk.command (adding --config and --socket), hands it
# the cookie secrets and rotates them every 10 s; the operator talks to moatd only.
if [ "${DP_LAB_MOATD:-1}" = 1 ] && [ -x "$build/control/moatd" ]; then
	msock=$LAB_DIR/moatd.sock
	cat >"$LAB_DIR/moatd.yaml" <<EOF
mode: dpdk
protect_ports: [80]
syn_cookies: always
cookie_rotate: 10
event_sample: 1
metrics: "127.0.0.1:9479"
dpdk:
  socket: $LAB_DIR/dp.sock
  command: [$dp, --no-huge, --no-shconf, --no-pci, --file-prefix, $LAB-md, -l, "0,1",
            --log-level=lib.eal:error,
            --vdev, "net_af_packet0,iface=d-in,qdisc_bypass=1,framecnt=8192",
            --vdev, "net_af_packet1,iface=d-out,qdisc_bypass=1,framecnt=8192",
            --, --pair, "0:1"]
EOF
	mctl() { "$ctl" "$@" --socket "$msock"; }
	dp_pid() {
		mctl status -j 2>/dev/null |
			/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["moat_dp"].get("pid", ""))' 2>/dev/null
	}
	wait_dp() { # until moat-dp answers through moatd, holding moatd's secrets
		local i
		for i in $(seq 1 100); do
			mctl status -j 2>/dev/null | grep -q '"secrets":"moatd"' && return 0
			sleep 0.2
		done
		return 1
	}
	rm -f "$LAB_DIR/dp.sock"
	lab_bg "$LAB_RTR" "$build/control/moatd" --config "$LAB_DIR/moatd.yaml" --socket "$msock" \
		>"$LAB_DIR/moatd.out" 2>"$LAB_DIR/moatd.err"
	MD_PID=$LAB_LAST_PID
	wait_dp
	check $? "moatd (mode dpdk) started moat-dp and handed it the cookie secrets ($(grep -m1 'started moat-dp' "$LAB_DIR/moatd.err"))"
	DPK=$(dp_pid)
	[ -n "$DPK" ] && LAB_PIDS+=("$DPK")

	# Secret rotation under traffic: requests paced over 25+ s, 2+ rotations among them.
	mctl stats -j >"$LAB_DIR/m0.json"
	REQUESTS=120 request_loop 2 0.4
	mctl stats -j >"$LAB_DIR/m1.json"
	rot=$(delta m0 m1 cookies.secret_rotations)
	check $(( REQ_OK == 120 && rot >= 2 ? 0 : 1 )) \
		"through moatd's moat-dp, across $rot secret rotations: $REQ_OK/120 requests succeeded in ${REQ_S} s (syn_cookie +$(delta m0 m1 reasons.syn_cookie), cookie_valid +$(delta m0 m1 reasons.cookie_valid), cookie_invalid +$(delta m0 m1 reasons.cookie_invalid))"

	# block, seen by events -f; unblock
	lab_bg "$LAB_RTR" sh -c "exec '$ctl' events -f --socket '$msock' >'$LAB_DIR/events.out'"
	ev_pid=$LAB_LAST_PID
	sleep 0.5
	mctl stats -j >"$LAB_DIR/b0.json"
	mctl block "$CLI4/32" >/dev/null
	rc=$?
	in_ns "$LAB_CLI" curl -fs -o /dev/null -m 2 "http://$SRV4/"
	req_rc=$?
	mctl stats -j >"$LAB_DIR/b1.json"
	denied=$(delta b0 b1 reasons.denylisted)
	check $(( rc == 0 && req_rc != 0 && denied > 0 ? 0 : 1 )) \
		"moatctl block $CLI4/32 through moatd: the client's request fails (curl exit $req_rc), denylisted +$denied"
	mctl unblock "$CLI4/32" >/dev/null
	request >/dev/null
	check $? "moatctl unblock: the client's requests pass again"
	sleep 1
	kill "$ev_pid" 2>/dev/null
	wait "$ev_pid" 2>/dev/null
	/usr/bin/python3 -c 'import json,sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
deny = [e for e in ev if e["reason"] == "denylisted" and e["src"] == sys.argv[2]]
where = ", lcore %s" % deny[0]["lcore"] if deny else ""
print(f"{len(ev)} events, {len(deny)} denylisted from {sys.argv[2]}{where}")
sys.exit(not deny)' "$LAB_DIR/events.out" "$CLI4" >"$LAB_DIR/events.check" 2>&1
	check $? "moatctl events -f followed moat-dp's events through moatd as JSON lines ($(tail -n 1 "$LAB_DIR/events.check"))"

	# block --ttl: dropped at once, passing once it expired
	mctl block "$CLI4/32" --ttl 2 >/dev/null
	in_ns "$LAB_CLI" curl -fs -o /dev/null -m 1 "http://$SRV4/"
	blocked=$?
	sleep 3
	request >/dev/null
	check $(( blocked != 0 && $? == 0 ? 0 : 1 )) \
		"moatctl block --ttl 2: blocked at once (curl exit $blocked), passing again after it expired"

	# limits set / show
	mctl limits set source_syn_rate=1 source_syn_burst=1 >/dev/null
	rc=$?
	shown=$(mctl limits show -j | /usr/bin/python3 -c 'import json,sys; l=json.load(sys.stdin)["limits"]; print(l["source_syn_rate"], l["source_syn_burst"])')
	mctl stats -j >"$LAB_DIR/l0.json"
	burst=()
	for i in 1 2 3 4 5 6; do
		in_ns "$LAB_CLI" curl -fs -o /dev/null -m 1 "http://$SRV4/" &
		burst+=("$!")
	done
	wait "${burst[@]}"
	mctl stats -j >"$LAB_DIR/l1.json"
	limited=$(delta l0 l1 reasons.source_rate)
	mctl limits set source_syn_rate=0 source_syn_burst=0 >/dev/null
	sleep 1
	request >/dev/null
	after=$?
	check $(( rc == 0 && limited > 0 && after == 0 ? 0 : 1 )) \
		"moatctl limits set source_syn_rate=1 source_syn_burst=1: shown as '$shown', 6 parallel connects gave source_rate +$limited; set back to 0, a request passes (curl exit $after)"
	mctl limits set source_syn_rate=-1 >/dev/null 2>"$LAB_DIR/lim.err"
	check $(( $? == 1 ? 0 : 1 )) "moatctl limits set with a bad value is refused, exit 1 ($(cat "$LAB_DIR/lim.err"))"

	# reload: a bad file refused (the running policy stays), a good one applied
	cp "$LAB_DIR/moatd.yaml" "$LAB_DIR/moatd.good"
	printf 'syn_trigger: lots\n' >>"$LAB_DIR/moatd.yaml"
	mctl reload >/dev/null 2>"$LAB_DIR/reload.err"
	bad=$?
	cp "$LAB_DIR/moatd.good" "$LAB_DIR/moatd.yaml"
	mctl reload >/dev/null
	good=$?
	request >/dev/null
	check $(( bad == 1 && good == 0 && $? == 0 ? 0 : 1 )) \
		"reload through moatd: a bad config refused ($(cat "$LAB_DIR/reload.err")), a good one applied, requests pass"

	# metrics over HTTP: moat-dp's counters per lcore, flows per state
	mctl stats -j >"$LAB_DIR/ms.json"
	in_ns "$LAB_RTR" curl -fs -m 5 http://127.0.0.1:9479/metrics >"$LAB_DIR/metrics.txt"
	/usr/bin/python3 "$here/check_metrics.py" "$LAB_DIR/metrics.txt" "$LAB_DIR/ms.json" >"$LAB_DIR/metrics.check" 2>&1
	check $? "moatd (dpdk) metrics parse strictly and cover moat-dp's counters ($(tail -n 1 "$LAB_DIR/metrics.check"); $(grep -c 'lcore=' "$LAB_DIR/metrics.txt") per-lcore series, $(grep -c '^moat_flows{' "$LAB_DIR/metrics.txt") flow states)"

	# payload signatures: moatd compiles them and hands moat-dp the database; a drop
	# signature stops its request; 10 signature reloads under a request loop lose none
	sig_conf() { # the config with signature set A (one drop rule) or B (A plus an alert)
		cp "$LAB_DIR/moatd.good" "$LAB_DIR/moatd.yaml"
		cat >>"$LAB_DIR/moatd.yaml" <<EOF
signatures:
  - id: 5001
    msg: forbidden path
    pattern: "GET /forbidden"
    dst_ports: [80]
    direction: to_server
    action: drop
EOF
		[ "$1" = B ] && cat >>"$LAB_DIR/moatd.yaml" <<EOF
  - id: 5002
    msg: nginx banner
    pattern: "Server: nginx"
    flags: [caseless]
    direction: to_client
    action: alert
EOF
		return 0
	}
	sig_conf A
	mctl reload >/dev/null 2>"$LAB_DIR/sig.err"
	rc=$?
	in_ns "$LAB_CLI" curl -fs -o /dev/null -m 2 "http://$SRV4/forbidden"
	forbidden=$?
	request >/dev/null
	ok_rc=$?
	mctl stats -j >"$LAB_DIR/s1.json"
	hits=$(/usr/bin/python3 -c 'import json,sys; print({h["id"]: h["hits"] for h in json.load(open(sys.argv[1]))["signatures"]["hits"]})' "$LAB_DIR/s1.json")
	check $(( rc == 0 && forbidden != 0 && ok_rc == 0 ? 0 : 1 )) \
		"signatures through moatd: GET /forbidden dropped (curl exit $forbidden), other requests pass; hits $hits $(cat "$LAB_DIR/sig.err")"
	sed -i 's|pattern: "GET /forbidden"|pattern: "GET /(forbidden"|' "$LAB_DIR/moatd.yaml"
	mctl reload >/dev/null 2>"$LAB_DIR/sig.err"
	rc=$?
	in_ns "$LAB_CLI" curl -fs -o /dev/null -m 2 "http://$SRV4/forbidden"
	still=$?
	grep -q "signature 5001: hyperscan: " "$LAB_DIR/sig.err"
	check $(( rc == 1 && $? == 0 && still != 0 ? 0 : 1 )) \
		"a bad pattern is refused and the running database stays ($(cat "$LAB_DIR/sig.err"))"
	mctl stats -j >"$LAB_DIR/s2.json"
	(
		for i in $(seq 1 10); do
			sig_conf $([ $((i % 2)) -eq 0 ] && echo A || echo B)
			mctl reload >/dev/null 2>>"$LAB_DIR/sigreload.err" || echo "reload $i failed" >>"$LAB_DIR/sigreload.err"
			sleep 0.4
		done
	) &
	reloader=$!
	LAB_PIDS+=("$reloader")
	REQUESTS=100 request_loop 2 0.05
	wait "$reloader"
	mctl stats -j >"$LAB_DIR/s3.json"
	upd=$(( $(json "$LAB_DIR/s3.json" signatures.updates) - $(json "$LAB_DIR/s2.json" signatures.updates) ))
	check $(( REQ_OK == 100 && upd >= 10 && ! $(wc -c <"$LAB_DIR/sigreload.err" 2>/dev/null || echo 0) ? 0 : 1 )) \
		"10 signature reloads (sets A and B in turn) under a request loop: $REQ_OK/100 requests succeeded, $upd databases swapped in by moat-dp $(head -c 200 "$LAB_DIR/sigreload.err" 2>/dev/null)"
	cp "$LAB_DIR/moatd.good" "$LAB_DIR/moatd.yaml"
	mctl reload >/dev/null

	# supervision: moat-dp killed, moatd restarts it and hands it the secrets again
	kill -9 "$DPK" 2>/dev/null
	sleep 1
	wait_dp
	rc=$?
	DPK2=$(dp_pid)
	[ -n "$DPK2" ] && LAB_PIDS+=("$DPK2")
	request >/dev/null
	req_rc=$?
	restarts=$(mctl status -j | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["moat_dp_restarts"])')
	check $(( rc == 0 && req_rc == 0 && ${DPK2:-0} != ${DPK:-0} && restarts == 1 ? 0 : 1 )) \
		"kill -9 of moat-dp (pid $DPK): moatd restarted it (pid ${DPK2:-none}, restarts $restarts), requests pass again"

	# moatd dies (kill -9) under traffic: moat-dp is its child but does not depend on
	# it. It forwards on with its policy and secrets, rotates the secrets itself once
	# moatd missed a rotation (moatd's last one stays valid as the previous), and a new
	# moatd on the same config re-attaches to it (same pid) and adopts its secrets.
	dp_status() { # KEY[.KEY]: from moat-dp's own status, on its socket
		"$ctl" status -j --socket "$LAB_DIR/dp.sock" 2>/dev/null |
			/usr/bin/python3 -c 'import json,sys
d = json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[k]
print(d)' "$1" 2>/dev/null
	}
	running() { # PID: alive and not a zombie (init reaps the orphaned moat-dp, or not)
		[ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]
	}
	req_while() { # FLAG N: one request after another while FLAG exists; "ok failed" into FLAG.N
		local ok=0 bad=0
		while [ -e "$1" ]; do
			if request >/dev/null; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
			sleep 0.1
		done
		echo "$ok $bad" >"$1.$2"
	}
	attached() { # PID: until moatd's status shows moat-dp PID, re-attached (10 s at most)
		local i
		for i in $(seq 1 50); do
			mctl status -j 2>/dev/null | /usr/bin/python3 -c 'import json,sys
s = json.load(sys.stdin)
sys.exit(not (s["moat_dp"].get("pid") == int(sys.argv[1]) and s["moat_dp_reattached"]))' "$1" 2>/dev/null &&
				return 0
			sleep 0.2
		done
		return 1
	}
	go=$LAB_DIR/kill.go
	touch "$go"
	loops=()
	for k in 1 2; do
		req_while "$go" "$k" &
		loops+=("$!")
	done
	LAB_PIDS+=("${loops[@]}")
	# Killed 1.5 s past a turn of the 10 s period: moatd has handed over that
	# rotation, and moat-dp's own comes 5 s past the next turn.
	while [ $(( $(date +%s) % 10 )) -ne 1 ]; do sleep 0.2; done
	sleep 0.5
	nsenter --net="/run/netns/$LAB_CLI" curl -fs -m 60 --limit-rate 800K -o "$LAB_DIR/kill.got" \
		"http://$SRV4/big.bin" &
	dl=$!
	LAB_PIDS+=("$dl")
	sleep 0.5
	kill -9 "$MD_PID"
	wait "$MD_PID" 2>/dev/null
	id0=$(dp_status secret_ids.cur)
	sleep 2
	running "$DPK2" && [ "$(dp_status pid)" = "$DPK2" ]
	check $? "kill -9 of moatd (pid $MD_PID): moat-dp (pid $DPK2) runs on and answers its socket (secret $id0)"
	for i in $(seq 1 100); do
		"$ctl" status -j --socket "$LAB_DIR/dp.sock" >"$LAB_DIR/alone.json" 2>/dev/null
		[ "$(json "$LAB_DIR/alone.json" secrets 2>/dev/null)" = random ] && break
		sleep 0.2
	done
	# The new moatd at once: moat-dp's next rotation of its own is 5 s away.
	lab_bg "$LAB_RTR" "$build/control/moatd" --config "$LAB_DIR/moatd.yaml" --socket "$msock" \
		>"$LAB_DIR/moatd2.out" 2>"$LAB_DIR/moatd2.err"
	MD_PID=$LAB_LAST_PID
	id1=$(json "$LAB_DIR/alone.json" secret_ids.cur 2>/dev/null)
	prev1=$(json "$LAB_DIR/alone.json" secret_ids.prev 2>/dev/null)
	[ "$(json "$LAB_DIR/alone.json" secrets 2>/dev/null)" = random ] && [ ${#id1} -eq 8 ] && [ "$id1" != "$id0" ]
	check $? "moatd gone past a rotation: moat-dp rotates the secrets itself ($id0 -> $id1, 'secrets': $(json "$LAB_DIR/alone.json" secrets 2>/dev/null); $(grep -m1 -o 'moatd missed a cookie secret rotation' "$LAB_DIR/moatd.err"))"
	[ "$prev1" = "$id0" ]
	check $? "moat-dp's own rotation went on from moatd's secret: $id0 stays valid as the previous ($prev1)"

	attached "$DPK2"
	check $? "a new moatd (pid $MD_PID) re-attached to the running moat-dp (pid $DPK2, not restarted: $(grep -m1 -o 're-attached to the moat-dp[^:]*' "$LAB_DIR/moatd2.err"))"
	# What it adopted: moat-dp's secret id1, or (had moat-dp rotated once more) the next one.
	adopted=$(grep -m1 -o "adopted moat-dp's cookie secrets {[^}]*}" "$LAB_DIR/moatd2.err")
	ida=$(sed -n 's/.*"cur":"\([0-9a-f]*\)".*/\1/p' <<<"$adopted")
	idp=$(sed -n 's/.*"prev":"\([0-9a-f]*\)".*/\1/p' <<<"$adopted")
	[ -n "$ida" ] && { [ "$ida" = "$id1" ] || [ "$idp" = "$id1" ]; }
	check $? "the new moatd adopted moat-dp's running secrets (random mode, moat-dp had $id1): ${adopted:-no adoption logged}"
	sleep 1
	rm -f "$go"
	wait "$dl"
	dl_rc=$?
	wait "${loops[@]}"
	ok1=0 bad1=0 ok2=0 bad2=0
	read -r ok1 bad1 <"$go.1"
	read -r ok2 bad2 <"$go.2"
	ok=$((ok1 + ok2)) total=$((ok1 + ok2 + bad1 + bad2))
	check $(( total >= 50 && ok * 100 >= total * 99 ? 0 : 1 )) \
		"requests across moatd's death, moat-dp alone and the re-attach: $ok/$total succeeded (>= 99%)"
	[ $dl_rc -eq 0 ] && [ "$(sha256sum <"$LAB_DIR/kill.got")" = "$(sha256sum <"$LAB_DIR/www/big.bin")" ]
	check $? "a 16 MB download in flight across the kill and the re-attach arrived whole (curl exit $dl_rc, $(size "$LAB_DIR/kill.got") bytes, sha256)"
	running "$DPK2" && [ "$(dp_pid)" = "$DPK2" ]
	check $? "moat-dp's pid is unchanged through all of it ($DPK2)"

	# The new moatd drives it: a block takes effect in moat-dp; a rotation goes on from moat-dp's secret
	mctl stats -j >"$LAB_DIR/k0.json"
	mctl block "$CLI4/32" >/dev/null
	rc=$?
	in_ns "$LAB_CLI" curl -fs -o /dev/null -m 2 "http://$SRV4/"
	req_rc=$?
	mctl stats -j >"$LAB_DIR/k1.json"
	mctl unblock "$CLI4/32" >/dev/null
	request >/dev/null
	after=$?
	check $(( rc == 0 && req_rc != 0 && $(delta k0 k1 reasons.denylisted) > 0 && after == 0 ? 0 : 1 )) \
		"moatctl block through the new moatd: the client's request fails (curl exit $req_rc, denylisted +$(delta k0 k1 reasons.denylisted)); unblock: it passes (curl exit $after)"
	mctl events 2>/dev/null | /usr/bin/python3 -c 'import json,sys
ev = [json.loads(l) for l in sys.stdin if l.strip()]
print(sum(e.get("reason") == "denylisted" and e.get("src") == sys.argv[1] for e in ev))' "$CLI4" >"$LAB_DIR/k.events" 2>/dev/null
	check $(( $(cat "$LAB_DIR/k.events" 2>/dev/null || echo 0) > 0 ? 0 : 1 )) \
		"the new moatd follows moat-dp's event stream: moatctl events shows $(cat "$LAB_DIR/k.events") denylisted event(s) from $CLI4"
	rot=0
	for i in $(seq 1 75); do
		mctl stats -j >"$LAB_DIR/k2.json" 2>/dev/null
		rot=$(json "$LAB_DIR/k2.json" cookies.secret_rotations 2>/dev/null || echo 0)
		[ "$rot" -ge 1 ] && break
		sleep 0.2
	done
	request >/dev/null
	req_rc=$?
	check $(( rot >= 1 && req_rc == 0 ? 0 : 1 )) \
		"the new moatd rotates moat-dp's secrets ($rot rotation(s); moat-dp's 'secrets': $(dp_status secrets), $(dp_status secret_ids.cur), previous $(dp_status secret_ids.prev)); a request passes (curl exit $req_rc)"
	[ "$(dp_status secrets)" = moatd ] && [ "$(dp_status secret_ids.prev)" = "$ida" ]
	check $? "that rotation went on from the adopted secret (${ida:-?} is the previous now)"

	# It supervises the moat-dp it re-attached to (not its child: through a pidfd)
	kill -9 "$DPK2"
	sleep 1
	wait_dp
	rc=$?
	DPK3=$(dp_pid)
	[ -n "$DPK3" ] && LAB_PIDS+=("$DPK3")
	request >/dev/null
	req_rc=$?
	check $(( rc == 0 && req_rc == 0 && ${DPK3:-0} != ${DPK2:-0} ? 0 : 1 )) \
		"kill -9 of the re-attached moat-dp (pid $DPK2): the new moatd restarted it (pid ${DPK3:-none}; $(grep -m1 -o 'moat-dp (pid [0-9]*, re-attached) exited' "$LAB_DIR/moatd2.err")), requests pass"

	# keep_attached: moatd's stop (systemctl restart) leaves moat-dp running; the next re-attaches
	cp "$LAB_DIR/moatd.good" "$LAB_DIR/moatd.yaml"
	echo "keep_attached: true" >>"$LAB_DIR/moatd.yaml"
	mctl reload >/dev/null
	kill -TERM "$MD_PID"
	wait "$MD_PID"
	md_rc=$?
	running "$DPK3" && [ "$(dp_status pid)" = "$DPK3" ]
	check $(( md_rc == 0 && $? == 0 ? 0 : 1 )) \
		"keep_attached: true: moatd exits 0 on SIGTERM and leaves moat-dp running (pid $DPK3; $(grep -m1 -o 'leaving moat-dp[^;]*' "$LAB_DIR/moatd2.err"))"
	lab_bg "$LAB_RTR" "$build/control/moatd" --config "$LAB_DIR/moatd.yaml" --socket "$msock" \
		>"$LAB_DIR/moatd3.out" 2>"$LAB_DIR/moatd3.err"
	MD_PID=$LAB_LAST_PID
	attached "$DPK3"
	rc=$?
	request >/dev/null
	check $(( rc == 0 && $? == 0 ? 0 : 1 )) "the next moatd re-attached to it (pid $DPK3) and requests pass"
	cp "$LAB_DIR/moatd.good" "$LAB_DIR/moatd.yaml"
	mctl reload >/dev/null

	kill -TERM "$MD_PID"
	wait "$MD_PID"
	md_rc=$?
	running "$DPK3"
	alive=$?
	check $(( md_rc == 0 && alive != 0 ? 0 : 1 )) \
		"moatd exits 0 on SIGTERM and stops the moat-dp it supervises, re-attached (pid $DPK3; exit $md_rc)"

	# moatd killed while moat-dp starts (not answering yet): the next moatd finds it
	# through the pid file beside the socket and waits for it, never starting a
	# second one. A shell in front of moat-dp holds the start 3 s (same pid: exec).
	/usr/bin/python3 - "$LAB_DIR/moatd.good" "$LAB_DIR/slow.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
text = text.replace("command: [", "command: [/bin/sh, -c, 'sleep 3; exec \"$0\" \"$@\"', ", 1)
open(sys.argv[2], "w").write(text)
PY
	lab_bg "$LAB_RTR" "$build/control/moatd" --config "$LAB_DIR/slow.yaml" --socket "$msock" \
		>"$LAB_DIR/moatd4.out" 2>"$LAB_DIR/moatd4.err"
	MD_PID=$LAB_LAST_PID
	for i in $(seq 1 100); do
		grep -q 'started moat-dp, pid' "$LAB_DIR/moatd4.err" && break
		sleep 0.05
	done
	DPK4=$(grep -m1 -o 'started moat-dp, pid [0-9]*' "$LAB_DIR/moatd4.err" | grep -o '[0-9]*$')
	[ -n "$DPK4" ] && LAB_PIDS+=("$DPK4")
	kill -9 "$MD_PID"
	wait "$MD_PID" 2>/dev/null
	lab_bg "$LAB_RTR" "$build/control/moatd" --config "$LAB_DIR/slow.yaml" --socket "$msock" \
		>"$LAB_DIR/moatd5.out" 2>"$LAB_DIR/moatd5.err"
	MD_PID=$LAB_LAST_PID
	wait_dp
	rc=$?
	ndp=$(pgrep -f -- "--socket $LAB_DIR/dp.sock" | grep -vx "$MD_PID" | wc -l)
	check $(( rc == 0 && ndp == 1 && $(grep -c 'started moat-dp' "$LAB_DIR/moatd5.err") == 0 ? 0 : 1 )) \
		"moatd killed while moat-dp (pid ${DPK4:-none}) started: the next moatd waited for it ($(grep -m1 -o 'moat-dp (pid [0-9]*) is starting' "$LAB_DIR/moatd5.err")), $ndp moat-dp on the socket, none started twice"
	[ "$(dp_pid)" = "${DPK4:-x}" ] && request >/dev/null
	check $? "that moat-dp (pid ${DPK4:-none}) got moatd's secrets and passes requests"

	# A moat-dp that hangs (SIGSTOP) does not hang moatd: its calls are bounded
	kill -STOP "$DPK4"
	t0=$(date +%s%N)
	mctl status -j >"$LAB_DIR/hung.json" 2>/dev/null
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	answered=$(json "$LAB_DIR/hung.json" ok 2>/dev/null)
	kill -CONT "$DPK4"
	check $(( ms < 8000 && ${#answered} > 0 ? 0 : 1 )) \
		"moat-dp stopped (SIGSTOP): moatd still answers status in $ms ms (< 8000; moat_dp: $(json "$LAB_DIR/hung.json" moat_dp.error 2>/dev/null || echo '?'))"
	wait_dp
	check $? "moat-dp continued (SIGCONT): moatd drives it again"
	kill -TERM "$MD_PID"
	wait "$MD_PID"
	md_rc=$?
	running "$DPK4"
	alive=$?
	check $(( md_rc == 0 && alive != 0 ? 0 : 1 )) \
		"moatd exits 0 and stops that moat-dp (pid ${DPK4:-none}); pid file gone: $([ -e "$LAB_DIR/dp.sock.pid" ] && echo no || echo yes)"
else
	echo "skip: moatd driving moat-dp (DP_LAB_MOATD=0, or moatd not built)"
fi
finish
