#!/usr/bin/env bash
# A fleet: two moat nodes behind a router with ECMP, announced through BIRD 2.
#
#   client   (LAB-cli) c0 10.92.3.2 --+                      +-- n0 10.92.1.2 node A (LAB-a)
#                                     +-- router (LAB-rtr) --+       moatd (XDP on n0) + BIRD + nginx
#   attacker (LAB-atk) a0 10.92.4.2 --+   BIRD, ECMP (L4)    +-- n0 10.92.2.2 node B (LAB-b)
#
# Both nodes serve the anycast address 10.92.100.1 (on lo), filtered by moatd in
# host mode (syn_cookies: always, one secret_file for both). Each node's BIRD
# announces 10.92.100.1/32 to the router while its moatd holds its bgp.link up
# (daemon/bgp.h); the router's BIRD merges the two paths into one ECMP route in
# its kernel (fib_multipath_hash_policy=1: the 5-tuple picks the node).
#   fleet_lab.sh BUILD_DIR
# Asserts: both routes announced; new connections spread over both nodes; a
# handshake whose SYN went to A and whose ACK went to B completes on B (cookie
# from A, scapy, a policy rule switched between SYN-ACK and ACK); a trafgen flood
# is absorbed by both nodes while requests succeed; drain/undrain withdraws and
# announces B; kill -9 of A's moatd plus its XDP detached withdraws A's route
# within 5 s (time printed) while >= 99% of requests succeed through B; A's
# moatd started again announces again; B with its XDP detached under a running
# moatd is withdrawn within a tick; a SIGTERM of B's moatd withdraws B's; B in
# mode dpdk (moat-dp on net_null ports) is announced while moat-dp answers and
# withdrawn when it hangs (SIGSTOP); a hung node is withdrawn by the router's
# hold time; a
# moatctl block on B is a FlowSpec discard rule at the router, withdrawn on
# unblock and on ttl expiry; the sources dropped most by source_rate go out too.
set -uo pipefail
build=$(cd "${1:?usage: fleet_lab.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lab_lib.sh"

lab_require nginx curl trafgen hping3 bird birdc ethtool nsenter
/usr/bin/python3 -c 'import scapy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no scapy"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun (moatd's bgp.link is a tun device)"; exit 77; }

# lab_lib's names: LAB_SRV is node A, LAB_B node B; lab_down deletes the others.
LAB_SRV=$LAB-a LAB_B=$LAB-b
VIP=10.92.100.1 CLI4=10.92.3.2 ATK4=10.92.4.2 A4=10.92.1.2 B4=10.92.2.2
PY=/usr/bin/python3
REQUESTS=${REQUESTS:-200}
T0=$SECONDS

fleet_down() {
	[ -n "${DP_PID:-}" ] && kill -CONT "$DP_PID" 2>/dev/null
	lab_down
	ip netns del "$LAB_B" 2>/dev/null || true
	rm -rf "/var/run/dpdk/$LAB-dp"
}
trap 'fleet_down' EXIT INT TERM

moatctl() { local node=$1; shift; "$build/control/moatctl" "$@" --socket "$LAB_DIR/$node.sock"; }
rtr_birdc() { birdc -s "$LAB_DIR/rtr-bird.ctl" "$@"; }
reason() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["reasons"][sys.argv[2]])' "$1" "$2"; }
# The router's next hops for the anycast address, sorted, space-separated.
vip_hops() { ip -n "$LAB_RTR" -j route show "$VIP/32" | $PY -c '
import json, sys
r = json.load(sys.stdin)
hops = [h["gateway"] for x in r for h in x.get("nexthops", [])] + [x["gateway"] for x in r if "gateway" in x]
print(" ".join(sorted(hops)))'; }
# Seconds from T0 to T1 (date +%s.%N; T1 default now), 3 decimals.
since() { awk -v a="$1" -v b="${2:-$(date +%s.%N)}" 'BEGIN { printf "%.3f\n", b - a }'; }
# Until the router's next hops are WANT (at most LIMIT s): the seconds it took
# since T0 (a date +%s.%N taken before the cause; default now), or "never".
wait_hops() { # WANT LIMIT [T0]
	local t0=${3:-$(date +%s.%N)} now
	while :; do
		now=$(date +%s.%N)
		[ "$(vip_hops)" = "$1" ] && { since "$t0" "$now"; return 0; }
		awk -v a="$(since "$t0" "$now")" -v l="$2" 'BEGIN { exit !(a > l) }' && { echo never; return 1; }
		sleep 0.02
	done
}
# Requests in a loop from the client (new connection each, 3 s limit); prints "ok total".
request_loop() { # N GAP
	local ok=0 i
	for i in $(seq 1 "$1"); do
		in_ns "$LAB_CLI" curl -fs -o /dev/null -m 3 "http://$VIP/" && ok=$((ok + 1))
		sleep "$2"
	done
	echo "$ok $1"
}

# ---- the network --------------------------------------------------------------
for ns in "$LAB_SRV" "$LAB_B" "$LAB_RTR" "$LAB_CLI" "$LAB_ATK"; do
	ip netns add "$ns" || exit 1
	ip -n "$ns" link set lo up
done
lab_link "$LAB_SRV" n0 $A4 "$LAB_RTR" rA 10.92.1.1 fd92:1::2 fd92:1::1
lab_link "$LAB_B" n0 $B4 "$LAB_RTR" rB 10.92.2.1 fd92:2::2 fd92:2::1
lab_link "$LAB_CLI" c0 $CLI4 "$LAB_RTR" rc 10.92.3.1 fd92:3::2 fd92:3::1
lab_link "$LAB_ATK" a0 $ATK4 "$LAB_RTR" ra 10.92.4.1 fd92:4::2 fd92:4::1
for n in "$LAB_SRV 10.92.1.1" "$LAB_B 10.92.2.1" "$LAB_CLI 10.92.3.1" "$LAB_ATK 10.92.4.1"; do
	set -- $n
	ip -n "$1" route add default via "$2"
done
for ns in "$LAB_SRV" "$LAB_B"; do
	ip -n "$ns" addr add "$VIP/32" dev lo
	in_ns "$ns" sysctl -qw net.ipv4.tcp_syncookies=1
done
in_ns "$LAB_RTR" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
	net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.ra.rp_filter=0
ip -n "$LAB_RTR" route add blackhole default # the cookie SYN-ACKs to spoofed sources
# The nodes' router ports run XDP, as a NIC would: native XDP_TX reaches the router.
for p in rA rB; do
	ip -n "$LAB_RTR" link set dev "$p" xdp obj "$build/tests/lab/xdp_pass.bpf.o" sec xdp || exit 1
done

# ---- nginx on both nodes, one page each --------------------------------------
chmod 755 "$LAB_DIR"
node_nginx() { # NS NAME
	local d=$LAB_DIR/nginx-$2
	mkdir -p "$d/www"
	echo "node $2" >"$d/www/index.html"
	cat >"$d/nginx.conf" <<EOC
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $d;
	proxy_temp_path $d;
	fastcgi_temp_path $d;
	uwsgi_temp_path $d;
	scgi_temp_path $d;
	server { listen $VIP:80 backlog=4096; root $d/www; }
}
EOC
	lab_bg "$1" nginx -c "$d/nginx.conf" -p "$d" >/dev/null
	lab_wait_port "$1" 80
}
node_nginx "$LAB_SRV" a || exit 1
node_nginx "$LAB_B" b || exit 1

# ---- BIRD: the router and the nodes (own config, socket and pid paths) ----------
# deploy/bird/moat-router.conf and moat-node.conf as shipped, with this lab's
# addresses and paths.
sed -e "s#192\.0\.2\.1;#10.92.0.1;#" -e "s#192\.0\.2\.11 as#$A4 as#" -e "s#192\.0\.2\.12 as#$B4 as#" \
	-e "s#^log syslog all;#log \"$LAB_DIR/rtr-bird.log\" all;#" \
	"$here/../../deploy/bird/moat-router.conf" >"$LAB_DIR/rtr-bird.conf"
node_bird() { # NS NAME ADDR ROUTER
	sed -e "s#192\.0\.2\.11#$3#g" -e "s#192\.0\.2\.1 as#$4 as#" \
		-e "s#/etc/bird/moat.conf#$LAB_DIR/$2-moat.inc#" \
		-e "s#^log syslog all;#log \"$LAB_DIR/$2-bird.log\" all;#" \
		"$here/../../deploy/bird/moat-node.conf" >"$LAB_DIR/$2-bird.conf"
	: >"$LAB_DIR/$2-moat.inc" # moatd rewrites it
	lab_bg "$1" bird -f -c "$LAB_DIR/$2-bird.conf" -s "$LAB_DIR/$2-bird.ctl" -P "$LAB_DIR/$2-bird.pid"
}
lab_bg "$LAB_RTR" bird -f -c "$LAB_DIR/rtr-bird.conf" -s "$LAB_DIR/rtr-bird.ctl" -P "$LAB_DIR/rtr-bird.pid"
node_bird "$LAB_SRV" a $A4 10.92.1.1
BIRD_A=$LAB_LAST_PID
node_bird "$LAB_B" b $B4 10.92.2.1

# ---- moatd on both nodes --------------------------------------------------------
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$LAB_DIR/fleet.key"
chmod 600 "$LAB_DIR/fleet.key"
node_moatd() { # NS NAME
	cat >"$LAB_DIR/$2.yaml" <<EOC
interfaces: [n0]
xdp_mode: native
protect_ports: [80]
syn_cookies: always
secret_file: $LAB_DIR/fleet.key
pin_dir: /sys/fs/bpf/$LAB/$2
metrics: ""
limits:
  source_syn_rate: 50
bgp:
  daemon: bird
  control: $LAB_DIR/$2-bird.ctl
  include: $LAB_DIR/$2-moat.inc
  link: moat-bgp
  announce: [$VIP/32]
  flowspec: true
  flowspec_top: 5
  flowspec_top_rate: 500
EOC
	# B's moatd sees its include file as systemd's ReadWritePaths= would show it (a
	# bind mount of the file alone): it cannot rename over it, it rewrites it.
	local wrap=()
	[ "$2" = b ] && wrap=(unshare -m sh -c 'mount --bind "$0" "$0" && exec "$@"' "$LAB_DIR/b-moat.inc")
	lab_bg "$1" "${wrap[@]}" "$build/control/moatd" --config "$LAB_DIR/$2.yaml" --socket "$LAB_DIR/$2.sock" \
		2>"$LAB_DIR/$2-moatd.log"
	lab_wait_ready "$LAB_LAST_PID" "$LAB_DIR/$2.sock" "$build/control/moatctl" "$LAB_DIR/$2-moatd.log"
}
node_moatd "$LAB_SRV" a
check $? "moatd runs on node A"
MOATD_A=$LAB_LAST_PID
node_moatd "$LAB_B" b
check $? "moatd runs on node B"
MOATD_B=$LAB_LAST_PID
[ "$fail" -eq 0 ] || { echo "a moatd did not start: nothing else to test"; exit 1; }

t=$(wait_hops "$A4 $B4" 20)
check $? "the router has an ECMP route to $VIP over both nodes (after ${t} s): $(ip -n "$LAB_RTR" route show "$VIP/32" | tr -s '\n\t' '  ')"
[ "$fail" -eq 0 ] || { tail -n 5 "$LAB_DIR"/*-bird.log "$LAB_DIR"/*-moatd.log; exit 1; }
moatctl b status -j | $PY -c 'import json,sys; b=json.load(sys.stdin)["bgp"]; sys.exit(b["state"] != "announced")'
check $? "moatctl status on B: bgp announced"
[ "$(stat -c %a "$LAB_DIR/a-moat.inc")" = 644 ] && grep -q moat_announce4 "$LAB_DIR/b-moat.inc" &&
	! grep -q "did not take" "$LAB_DIR/b-moatd.log"
check $? "include files written readable by BIRD's user (A: $(stat -c %a "$LAB_DIR/a-moat.inc")), B's rewritten in place under a bind mount"

# ---- new connections spread over both nodes --------------------------------------
na=0 nb=0
for i in $(seq 1 40); do
	case $(in_ns "$LAB_CLI" curl -fs -m 3 "http://$VIP/") in
	"node a") na=$((na + 1)) ;;
	"node b") nb=$((nb + 1)) ;;
	esac
done
check $(( na >= 5 && nb >= 5 && na + nb == 40 ? 0 : 1 )) "40 new connections spread over both nodes: A $na, B $nb"

# ---- one handshake, SYN to A and ACK to B ------------------------------------------
moatctl a stats -j >"$LAB_DIR/sa0.json"
moatctl b stats -j >"$LAB_DIR/sb0.json"
# From 10.92.3.99, an address the client's kernel does not own (it would RST
# the answers): the router reaches it at the client's MAC, scapy reads it there.
ip -n "$LAB_RTR" neigh add 10.92.3.99 lladdr "$(lab_mac "$LAB_CLI" c0)" dev rc nud permanent
ip -n "$LAB_RTR" route add "$VIP/32" via $A4 table 101
ip -n "$LAB_RTR" route add "$VIP/32" via $B4 table 102
ip -n "$LAB_RTR" rule add from 10.92.3.99 ipproto tcp sport 40001 lookup 101 pref 101
split=$(in_ns "$LAB_CLI" $PY "$here/fleet_split.py" 10.92.3.99 $VIP 40001 \
	"ip -n $LAB_RTR rule add from 10.92.3.99 ipproto tcp sport 40001 lookup 102 pref 100")
moatctl a stats -j >"$LAB_DIR/sa1.json"
moatctl b stats -j >"$LAB_DIR/sb1.json"
a_cookies=$(( $(reason "$LAB_DIR/sa1.json" syn_cookie) - $(reason "$LAB_DIR/sa0.json" syn_cookie) ))
b_valid=$(( $(reason "$LAB_DIR/sb1.json" cookie_valid) - $(reason "$LAB_DIR/sb0.json" cookie_valid) ))
[ "$split" = "node b" ] && [ "$a_cookies" -ge 1 ] && [ "$b_valid" -ge 1 ]
check $? "SYN answered by A (syn_cookie +$a_cookies), its ACK to B (cookie_valid +$b_valid): the request completed on B ('$split')"
ip -n "$LAB_RTR" rule del pref 100
ip -n "$LAB_RTR" rule del pref 101

# ---- a flood absorbed by both nodes -------------------------------------------------
lab_trafgen_syn "$(lab_mac "$LAB_RTR" ra)" "$(lab_mac "$LAB_ATK" a0)" $VIP 80 >"$LAB_DIR/syn.cfg"
moatctl a stats -j >"$LAB_DIR/fa0.json"
moatctl b stats -j >"$LAB_DIR/fb0.json"
lab_trafgen "$LAB_ATK" a0 "$LAB_DIR/syn.cfg" 6 >"$LAB_DIR/flood.sent" &
FLOOD=$!
sleep 0.5
out=$(request_loop 100 0.03)
wait $FLOOD
moatctl a stats -j >"$LAB_DIR/fa1.json"
moatctl b stats -j >"$LAB_DIR/fb1.json"
fa=$(( $(reason "$LAB_DIR/fa1.json" syn_cookie) - $(reason "$LAB_DIR/fa0.json" syn_cookie) ))
fb=$(( $(reason "$LAB_DIR/fb1.json" syn_cookie) - $(reason "$LAB_DIR/fb0.json" syn_cookie) ))
ok=${out% *} total=${out#* }
check $(( fa > 10000 && fb > 10000 ? 0 : 1 )) "trafgen flood ($(cat "$LAB_DIR/flood.sent") SYNs sent) answered with cookies by both nodes: A $fa, B $fb"
check $(( ok * 100 >= total * 99 ? 0 : 1 )) "requests during the flood: $ok/$total (>= 99%)"

# ---- FlowSpec: a block on B is a discard rule at the router --------------------------
flow_has() { rtr_birdc show route table moat_flow4 all | grep -A8 "src $1" | grep -q "0x80060000"; }
wait_flow() { # SRC present(1)/absent(0) LIMIT: seconds taken or "never"
	local t0 i
	t0=$(date +%s.%N)
	for i in $(seq 1 $(( $3 * 20 ))); do
		if flow_has "$1"; then [ "$2" = 1 ] && break; else [ "$2" = 0 ] && break; fi
		sleep 0.05
	done
	if flow_has "$1"; then [ "$2" = 1 ]; else [ "$2" = 0 ]; fi || { echo never; return 1; }
	since "$t0"
}
moatctl b block 192.0.2.66 >/dev/null
t=$(wait_flow 192.0.2.66/32 1 5)
check $? "moatctl block 192.0.2.66 on B: FlowSpec rule at the router after ${t} s: $(rtr_birdc show route table moat_flow4 | grep -o 'flow4 {[^}]*192.0.2.66[^}]*}')"
moatctl b unblock 192.0.2.66 >/dev/null
t=$(wait_flow 192.0.2.66/32 0 5)
check $? "unblock: the rule is withdrawn after ${t} s"
moatctl b block 192.0.2.77 --ttl 2 >/dev/null
wait_flow 192.0.2.77/32 1 5 >/dev/null && t=$(wait_flow 192.0.2.77/32 0 6)
check $? "block --ttl 2: the rule is withdrawn at expiry (${t} s after it appeared)"
# The sources moat drops most by source_rate (limits.source_syn_rate: 50): one
# attacker's SYN flood from its own address, both nodes limit it.
in_ns "$LAB_ATK" timeout -s INT 4 hping3 -q -S -p 80 -i u200 $VIP >/dev/null 2>&1 &
HP=$!
t=$(wait_flow $ATK4/32 1 8)
check $? "flowspec_top: the attacker ($ATK4), dropped by source_rate, is a FlowSpec rule after ${t} s"
[ "$t" != never ] || moatctl b top -n 1 -j | $PY -c 'import json,sys; print("B top:", json.load(sys.stdin)["sources"][:3])'
wait $HP
echo "# the router's BIRD 2 keeps FlowSpec in its flow4 table and sends it on; it cannot install it into the kernel (no FlowSpec dataplane in BIRD): the router does not drop $ATK4 itself"

# ---- drain and undrain B ---------------------------------------------------------
t0=$(date +%s.%N)
moatctl b drain -j | $PY -c 'import json,sys; sys.exit(json.load(sys.stdin)["state"] != "withdrawn")'
t=$(wait_hops "$A4" 5 "$t0")
check $? "moatctl drain on B: the router's route is A only after ${t} s"
moatctl b status -j | $PY -c 'import json,sys; sys.exit(not json.load(sys.stdin)["bgp"]["drained"])'
check $? "moatctl status on B shows drained"
t0=$(date +%s.%N)
moatctl b undrain >/dev/null
t=$(wait_hops "$A4 $B4" 5 "$t0")
check $? "moatctl undrain on B: both nodes again after ${t} s"

# ---- B's link deleted by hand: withdrawn, made again by moatd at its next tick ---------
t0=$(date +%s.%N)
ip -n "$LAB_B" link del moat-bgp
for i in $(seq 1 30); do grep -q 'link moat-bgp was gone' "$LAB_DIR/b-moatd.log" && break; sleep 0.1; done
t=$(wait_hops "$A4 $B4" 4 "$t0") && grep -q 'link moat-bgp was gone' "$LAB_DIR/b-moatd.log"
check $? "B's moat-bgp link deleted by hand: moatd made it again, announced again ${t} s after the deletion"

# ---- kill -9 of A's moatd, its XDP detached: A's route withdrawn -------------------------
request_loop "$REQUESTS" 0.02 >"$LAB_DIR/kill.out" &
LOOP=$!
sleep 1
t0=$(date +%s.%N)
kill -9 "$MOATD_A"
wait "$MOATD_A" 2>/dev/null
ip -n "$LAB_SRV" link set dev n0 xdp off
t=$(wait_hops "$B4" 5 "$t0")
check $? "kill -9 of moatd on A (+ XDP detached): its route withdrawn ${t} s after the kill (<= 5 s)"
wait $LOOP
out=$(cat "$LAB_DIR/kill.out")
ok=${out% *} total=${out#* }
check $(( ok * 100 >= total * 99 ? 0 : 1 )) "requests across A's failure (one every 20 ms from 1 s before the kill): $ok/$total (>= 99%)"

# ---- A's moatd started again: attached again and announced again ------------------
t0=$(date +%s.%N)
node_moatd "$LAB_SRV" a
check $? "moatd restarted on A"
t=$(wait_hops "$A4 $B4" 10 "$t0")
check $? "A announced again ${t} s after its moatd was started again"

# ---- B unhealthy (its XDP program detached under a running moatd), then B started again --
t0=$(date +%s.%N)
ip -n "$LAB_B" link set dev n0 xdp off
t=$(wait_hops "$A4" 3 "$t0")
check $? "B's XDP detached under its running moatd: B unhealthy, withdrawn ${t} s later (the next tick)"
moatctl b status -j | $PY -c 'import json,sys; b=json.load(sys.stdin)["bgp"]; print("#  B says:", b["state"], "-", b["why"])'
kill -TERM "$MOATD_B"
wait "$MOATD_B"
node_moatd "$LAB_B" b
MOATD_B=$LAB_LAST_PID
t=$(wait_hops "$A4 $B4" 10)
check $? "B's moatd started again: attached and announced after ${t} s"

# ---- SIGTERM of B's moatd: withdrawn as it stops, before its XDP goes ---------------
t0=$(date +%s.%N)
kill -TERM "$MOATD_B"
t=$(wait_hops "$A4" 5 "$t0")
check $? "SIGTERM of moatd on B: its route withdrawn in ${t} s; A's stays"
wait "$MOATD_B"
grep -q "bgp: withdrawn: moatd stops" "$LAB_DIR/b-moatd.log"
check $? "B's moatd logged its withdrawal"

# ---- mode dpdk on B: moat-dp (net_null ports) supervised by moatd, announced while it answers --
dp=$build/dataplane/moat-dp
if [ -x "$dp" ]; then
	cat >"$LAB_DIR/b-dpdk.yaml" <<EOC
mode: dpdk
metrics: ""
dpdk:
  socket: $LAB_DIR/b-dp.sock
  command: [$dp, --no-huge, --no-shconf, --no-pci, --file-prefix, $LAB-dp, -l, "0,1",
            --log-level=lib.eal:error, --vdev, net_null0, --vdev, net_null1, --, --pair, "0:1"]
bgp:
  control: $LAB_DIR/b-bird.ctl
  include: $LAB_DIR/b-moat.inc
  announce: [$VIP/32]
EOC
	lab_bg "$LAB_B" "$build/control/moatd" --config "$LAB_DIR/b-dpdk.yaml" --socket "$LAB_DIR/b.sock" \
		>"$LAB_DIR/b-dpdk.out" 2>"$LAB_DIR/b-dpdk.log" # moat-dp's totals at its end go to stdout
	MOATD_B=$LAB_LAST_PID
	t=$(wait_hops "$A4 $B4" 30)
	check $? "mode dpdk on B: moatd started moat-dp; B announced after ${t} s"
	DP_PID=$(moatctl b status -j | $PY -c 'import json,sys; print(json.load(sys.stdin)["moat_dp"].get("pid", ""))')
	if [ -n "$DP_PID" ]; then
		LAB_PIDS+=("$DP_PID")
		t0=$(date +%s.%N)
		kill -STOP "$DP_PID"
		t=$(wait_hops "$A4" 6 "$t0")
		check $? "moat-dp stopped (hung): B withdrawn ${t} s later (status bounded at 2 s)"
		moatctl b status -j | $PY -c 'import json,sys; b=json.load(sys.stdin)["bgp"]; print("#  B says:", b["state"], "-", b["why"])'
		t0=$(date +%s.%N)
		kill -CONT "$DP_PID"
		t=$(wait_hops "$A4 $B4" 6 "$t0")
		check $? "moat-dp continued: B announced again ${t} s later"
	fi
	t0=$(date +%s.%N)
	kill -TERM "$MOATD_B"
	t=$(wait_hops "$A4" 5 "$t0")
	check $? "SIGTERM of moatd (mode dpdk) on B: withdrawn in ${t} s"
	wait "$MOATD_B"
	DP_PID=""
else
	echo "# no $dp (built without DPDK): mode dpdk's health is not tried here"
fi

# ---- a hung node (its BIRD stopped, no keepalives): the router's hold time (3 s) --------
t0=$(date +%s.%N)
kill -STOP "$BIRD_A"
t=$(wait_hops "" 8 "$t0")
check $? "a hung node (A's BIRD stopped): the router withdraws A ${t} s later (hold time 3 s)"
kill -CONT "$BIRD_A"

echo "lab time: $((SECONDS - T0)) s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
