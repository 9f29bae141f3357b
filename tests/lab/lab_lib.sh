#!/usr/bin/env bash
# Shared by the lab tests and deploy/demo.sh: a lab of network namespaces.
#
#   client  (LAB-cli) 10.90.2.2  fd90:2::2 --+
#                                            +-- router (LAB-rtr) --- server (LAB-srv)
#   attacker (LAB-atk) 10.90.3.2 fd90:3::2 --+                        10.90.1.2 fd90:1::2
#
# The server runs nginx on port 80 (a small page and a 16 MB file). Everything is
# created with names prefixed by $LAB (unique per run) and removed by lab_down.

LAB=${LAB:-moat$$}
LAB_SRV=$LAB-srv LAB_RTR=$LAB-rtr LAB_CLI=$LAB-cli LAB_ATK=$LAB-atk
SRV4=10.90.1.2 SRV6=fd90:1::2 CLI4=10.90.2.2 CLI6=fd90:2::2 ATK4=10.90.3.2
LAB_DIR=${LAB_DIR:-$(mktemp -d /tmp/moat-lab.XXXXXX)}
LAB_PIDS=()

# Every lab's checks: "ok: ..." or "FAIL: ...", counted for the closing line.
pass=0 fail=0
check() { # condition-result description
	if [ "$1" -eq 0 ]; then pass=$((pass + 1)); echo "ok: $2"; else fail=$((fail + 1)); echo "FAIL: $2"; fi
}

# Skip (exit 77, saying why) unless root with every tool named.
lab_require() { # tool...
	local tool
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: the lab needs root (network namespaces, XDP)"; exit 77; }
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
	done
}

lab_log() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# Start a command in a namespace in the background; its PID is remembered for
# lab_down and left in LAB_LAST_PID.
lab_bg() {
	local ns=$1; shift
	nsenter --net="/run/netns/$ns" "$@" &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

lab_link() { # ns_a if_a addr_a ns_b if_b addr_b v6_a v6_b
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$4" addr add "$6/24" dev "$5"
	ip -n "$1" -6 addr add "$7/64" dev "$2" nodad
	ip -n "$4" -6 addr add "$8/64" dev "$5" nodad
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

lab_up() {
	local ns
	for ns in "$LAB_SRV" "$LAB_RTR" "$LAB_CLI" "$LAB_ATK"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	lab_link "$LAB_SRV" s0 $SRV4 "$LAB_RTR" rs 10.90.1.1 $SRV6 fd90:1::1
	lab_link "$LAB_CLI" c0 $CLI4 "$LAB_RTR" rc 10.90.2.1 $CLI6 fd90:2::1
	lab_link "$LAB_ATK" a0 $ATK4 "$LAB_RTR" ra 10.90.3.1 fd90:3::2 fd90:3::1
	ip -n "$LAB_SRV" route add default via 10.90.1.1
	ip -n "$LAB_CLI" route add default via 10.90.2.1
	ip -n "$LAB_ATK" route add default via 10.90.3.1
	ip -n "$LAB_SRV" -6 route add default via fd90:1::1
	ip -n "$LAB_CLI" -6 route add default via fd90:2::1
	in_ns "$LAB_RTR" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.ra.rp_filter=0
	# Spoofed sources: the cookie SYN-ACKs to them die quietly in the router.
	ip -n "$LAB_RTR" route add blackhole default
	ip -n "$LAB_RTR" -6 route add blackhole default
	in_ns "$LAB_RTR" sysctl -qw net.ipv4.icmp_ratelimit=1000
	# Kernel defences on the server as a distribution ships them.
	in_ns "$LAB_SRV" sysctl -qw net.ipv4.tcp_syncookies=1 net.ipv4.tcp_max_syn_backlog=512
}

# The same hosts on one switch, as a host's NIC or a container's veth sees them:
#
#   client   (LAB-cli) c0 10.90.0.3 -+
#   attacker (LAB-atk) a0 10.90.0.4 -+- br0 10.90.0.1 (LAB-rtr) -- rs -- s0 (LAB-srv) 10.90.0.2
#
# The server's default route goes to br0, whose namespace blackholes the rest:
# the kernel's SYN-ACKs to spoofed sources leave the server as moat's do.
lab_up_bridge() {
	local ns p
	SRV4=10.90.0.2 CLI4=10.90.0.3 ATK4=10.90.0.4
	for ns in "$LAB_SRV" "$LAB_RTR" "$LAB_CLI" "$LAB_ATK"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	ip -n "$LAB_RTR" link add br0 type bridge
	ip -n "$LAB_RTR" addr add 10.90.0.1/24 dev br0
	ip -n "$LAB_RTR" link set br0 up
	for p in "$LAB_SRV s0 rs $SRV4" "$LAB_CLI c0 rc $CLI4" "$LAB_ATK a0 ra $ATK4"; do
		set -- $p
		ip link add "$2" netns "$1" type veth peer name "$3" netns "$LAB_RTR"
		ip -n "$1" addr add "$4/24" dev "$2"
		ip -n "$1" link set "$2" up
		ip -n "$LAB_RTR" link set "$3" master br0 up
		ip -n "$1" route add default via 10.90.0.1
	done
	ip -n "$LAB_SRV" -6 addr add "$SRV6/64" dev s0 nodad # nginx listens on it too
	ip -n "$LAB_RTR" route add blackhole default
	in_ns "$LAB_SRV" sysctl -qw net.ipv4.tcp_syncookies=1 net.ipv4.tcp_max_syn_backlog=512
}

lab_xdp_pass_on_router() { # the server-facing router port needs NAPI for XDP_TX
	ip -n "$LAB_RTR" link set dev rs xdp obj "$1" sec xdp
}

lab_nginx() {
	chmod 755 "$LAB_DIR" # nginx workers run as nobody
	mkdir -p "$LAB_DIR/www" "$LAB_DIR/nginx"
	echo "moat lab: hello" >"$LAB_DIR/www/index.html"
	head -c $((16 * 1024 * 1024)) /dev/urandom >"$LAB_DIR/www/big.bin"
	cat >"$LAB_DIR/nginx/nginx.conf" <<EOC
daemon off;
worker_processes 1;
pid $LAB_DIR/nginx/nginx.pid;
error_log $LAB_DIR/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $LAB_DIR/nginx;
	proxy_temp_path $LAB_DIR/nginx;
	fastcgi_temp_path $LAB_DIR/nginx;
	uwsgi_temp_path $LAB_DIR/nginx;
	scgi_temp_path $LAB_DIR/nginx;
	server {
		listen $SRV4:80 backlog=511;
		listen [$SRV6]:80 backlog=511;
		root $LAB_DIR/www;
	}
}
EOC
	lab_bg "$LAB_SRV" nginx -c "$LAB_DIR/nginx/nginx.conf" -p "$LAB_DIR/nginx" >/dev/null
	lab_wait_port "$LAB_SRV" 80
}

# Until a daemon (moatd, moat-dp) answers `status` on SOCKET: at most LAB_READY_S
# (60) seconds, less if PID exits. On failure it says what it waited for.
lab_wait_ready() { # PID SOCKET MOATCTL [LOG]
	local pid=$1 sock=$2 ctl=$3 log=${4:-} limit=${LAB_READY_S:-60} start=$SECONDS
	while [ $((SECONDS - start)) -lt "$limit" ]; do
		"$ctl" status --socket "$sock" >/dev/null 2>&1 && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			lab_log "pid $pid exited before answering 'status' on $sock${log:+; $log ends: $(tail -n 3 "$log" | tr '\n' ' ')}"
			return 1
		fi
		sleep 0.1
	done
	lab_log "waited ${limit} s for pid $pid to answer 'status' on $sock; it did not${log:+; $log ends: $(tail -n 3 "$log" | tr '\n' ' ')}"
	return 1
}

lab_wait_port() { # ns port: until something listens (at most 20 s)
	local i
	for i in $(seq 1 200); do
		in_ns "$1" ss -ltnH "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	lab_log "nothing listens on port $2 in $1"
	return 1
}

# Safe under `set -e` (demo.sh): a process already gone must not stop the clean-up.
lab_down() {
	local pid ns
	for pid in "${LAB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	LAB_PIDS=()
	for ns in "$LAB_SRV" "$LAB_RTR" "$LAB_CLI" "$LAB_ATK"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	# The pinned maps of a moatd the lab ran with pin_dir /sys/fs/bpf/$LAB.
	rm -rf "/sys/fs/bpf/$LAB"
	rm -rf "$LAB_DIR"
}

# nstat counter value in a namespace (absolute, not delta).
lab_nstat() { in_ns "$1" nstat -az "$2" | awk -v k="$2" '$1 == k { print $2 }'; }

# Received packets of an interface (the link's counter, before any hook).
lab_rx_packets() { # ns ifname
	ip -n "$1" -s -j link show "$2" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'
}

# A trafgen config: 40-byte TCP frames addressed to DST_MAC, from random sources in
# 100.0.0.0/8 (unicast, so no router drops them as martians) and random ports to
# DST_IP:PORT, random SEQ, the given ACK field (trafgen's) and TCP flags.
lab_trafgen_tcp() { # DST_MAC SRC_MAC DST_IP PORT ACK_FIELD FLAGS
	local d s ip
	d=$(sed 's/^/0x/; s/:/, 0x/g' <<<"$1")
	s=$(sed 's/^/0x/; s/:/, 0x/g' <<<"$2")
	ip=$(tr . , <<<"$3")
	cat <<EOC
{
	$d, $s, c16(0x0800),
	0x45, 0x00, c16(40), drnd(2), c16(0x4000), 64, 6, csumip(14, 33),
	100, drnd(3), $ip,
	drnd(2), c16($4), drnd(4), $5, 0x50, $6, c16(64240), csumtcp(14, 34), c16(0)
}
EOC
}

# A SYN flood: ACK field 0.
lab_trafgen_syn() { # DST_MAC SRC_MAC DST_IP PORT
	lab_trafgen_tcp "$1" "$2" "$3" "$4" "c32(0)" 0x02
}

# An ACK flood: bare ACKs (no payload) with random ACK numbers, as a flood aimed at
# tracked flows (or at mid-stream pickup) sends them.
lab_trafgen_ack() { # DST_MAC SRC_MAC DST_IP PORT
	lab_trafgen_tcp "$1" "$2" "$3" "$4" "drnd(4)" 0x10
}

# trafgen from one sender core, until SECONDS pass; prints the packets it sent.
# Long options: Debian's trafgen 0.6.8 lacks some short ones. --no-sock-mem and
# --notouch-irq leave the host's sysctls and IRQ affinities alone.
lab_trafgen() { # ns dev conf seconds
	in_ns "$1" timeout -s INT "$4" trafgen --dev "$2" --conf "$3" --cpus 1 --no-sock-mem \
		--notouch-irq >"$3.out" 2>&1
	grep -o '[0-9]* packets outgoing' "$3.out" | awk '{ print $1 }' # its lines start with \r
}

lab_mac() { ip -n "$1" -j link show "$2" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }

# XDP packets seen by a veth interface (ethtool statistics, all queues).
lab_xdp_packets() { in_ns "$1" ethtool -S "$2" | awk '/rx_queue_[0-9]+_xdp_packets/ { s += $2 } END { print s + 0 }'; }

# ---- The inline lab: moat-dp as a bump in the wire (deploy/demo.sh --dataplane) ----
#
#   client   (LAB-cli) c0 10.90.8.3 -+
#                                     +- br0 (LAB-sw) sw-d -- d-out [moat-dp in LAB-dp] d-in -- s0 (LAB-srv)
#   attacker (LAB-atk) a0 10.90.8.4 -+                      port 1, outside   port 0, inside   10.90.8.2
#
# One subnet, no router: moat-dp reads both of its veths through net_af_packet and
# forwards between them. lab_dp_names renames lab_lib's namespaces and addresses for
# this layout (LAB_RTR becomes the moat-dp namespace, so lab_down still deletes it);
# lab_dp_down deletes the switch namespace as well.

lab_dp_names() {
	LAB_RTR=$LAB-dp
	LAB_SW=$LAB-sw
	SRV4=10.90.8.2 SRV6=fd90:8::2 CLI4=10.90.8.3 CLI6=fd90:8::3 ATK4=10.90.8.4
	LAB_DP_PID="" LAB_DP_PREFIX=""
	LAB_DP_SOCK=$LAB_DIR/dp.sock
	# moat-dp's worker polls CPU 1; the endpoints' receive work and the attacker
	# run on the others, so the filter's core does only the filter's work.
	LAB_DP_OTHER_CPUS=$(printf %x $(( ((1 << $(nproc)) - 1) & ~2 )))
}

# A veth pair whose frames af_packet can take as they are: no segmentation
# offloads (frames no larger than the MTU) and real checksums on the wire.
lab_dp_veth() { # ns_a if_a ns_b if_b
	local end
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
	for end in "$1 $2" "$3 $4"; do
		set -- $end
		in_ns "$1" ethtool -K "$2" gro off gso off tso off tx off >/dev/null 2>&1
		if in_ns "$1" ethtool -k "$2" | grep -Eq '^(tcp-segmentation-offload|generic-segmentation-offload|tx-checksumming): on'; then
			lab_log "offloads stay on for $2 in $1: af_packet would see oversized frames"
			return 1
		fi
	done
}

lab_dp_up() {
	local ns dev
	for ns in "$LAB_SRV" "$LAB_RTR" "$LAB_CLI" "$LAB_ATK" "$LAB_SW"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
	done
	# The wire itself (switch, moat-dp's ports) sends nothing of its own.
	for ns in "$LAB_RTR" "$LAB_SW"; do
		in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	lab_dp_veth "$LAB_CLI" c0 "$LAB_SW" sw-c || return 1
	lab_dp_veth "$LAB_ATK" a0 "$LAB_SW" sw-a || return 1
	lab_dp_veth "$LAB_SW" sw-d "$LAB_RTR" d-out || return 1
	lab_dp_veth "$LAB_RTR" d-in "$LAB_SRV" s0 || return 1
	ip -n "$LAB_SW" link add br0 type bridge || return 1
	for dev in sw-c sw-a sw-d; do
		ip -n "$LAB_SW" link set "$dev" master br0 up || return 1
	done
	ip -n "$LAB_SW" link set br0 up
	ip -n "$LAB_RTR" link set d-out up
	ip -n "$LAB_RTR" link set d-in up
	ip -n "$LAB_SRV" addr add "$SRV4/24" dev s0
	ip -n "$LAB_SRV" -6 addr add "$SRV6/64" dev s0 nodad
	ip -n "$LAB_CLI" addr add "$CLI4/24" dev c0
	ip -n "$LAB_CLI" -6 addr add "$CLI6/64" dev c0 nodad
	ip -n "$LAB_ATK" addr add "$ATK4/24" dev a0
	for ns in "$LAB_SRV s0" "$LAB_CLI c0" "$LAB_ATK a0"; do
		set -- $ns
		ip -n "$1" link set "$2" up
	done
	# Whatever the server sends to an off-subnet (spoofed) address leaves by a
	# default route into an ifb device, which drops it. Without ifb: a veth whose
	# other end discards frames addressed to a MAC that is not its own.
	if ip -n "$LAB_SRV" link add sink type ifb 2>/dev/null; then
		ip -n "$LAB_SRV" link set sink up
	else
		ip -n "$LAB_SRV" link add sink type veth peer name sink-end || return 1
		ip -n "$LAB_SRV" link set sink up
		ip -n "$LAB_SRV" link set sink-end up
		ip -n "$LAB_SRV" neigh add 10.99.0.1 lladdr 02:00:00:00:00:fe dev sink nud permanent
	fi
	ip -n "$LAB_SRV" route add default via 10.99.0.1 dev sink onlink || return 1
	in_ns "$LAB_SRV" sysctl -qw net.ipv4.tcp_syncookies=1 net.ipv4.tcp_max_syn_backlog=512
	# Receive processing of the server and the client off the worker's CPU (RPS;
	# ip netns exec mounts the namespace's own /sys for the write).
	for ns in "$LAB_SRV s0" "$LAB_CLI c0"; do
		set -- $ns
		ip netns exec "$1" sh -c "echo $LAB_DP_OTHER_CPUS >/sys/class/net/$2/queues/rx-0/rps_cpus" || return 1
	done
}

# moat-dp in LAB-dp between d-in (port 0, inside) and d-out (port 1, outside),
# EAL without PCI, hugepages or shared config, under its own file prefix; its
# output goes to $LAB_DIR/NAME.out and NAME.err. Returns once it answers on
# $LAB_DP_SOCK (0), or 1 if it died or stayed silent (lab_wait_ready).
lab_dp_start() { # MOAT_DP CONFIG NAME [MOATCTL]
	local dp=$1 config=$2 name=$3 ctl=${4:-$(dirname "$1")/../control/moatctl} i
	LAB_DP_PREFIX=$LAB-$name
	rm -f "$LAB_DP_SOCK"
	lab_bg "$LAB_RTR" "$dp" --no-pci --no-huge --no-shconf --file-prefix "$LAB_DP_PREFIX" -l 0,1 \
		--log-level=lib.eal:error \
		--vdev net_af_packet0,iface=d-in,qdisc_bypass=1,framecnt=8192 \
		--vdev net_af_packet1,iface=d-out,qdisc_bypass=1,framecnt=8192 \
		-- --config "$config" --pair 0:1 --socket "$LAB_DP_SOCK" \
		>"$LAB_DIR/$name.out" 2>"$LAB_DIR/$name.err"
	LAB_DP_PID=$LAB_LAST_PID
	lab_wait_ready "$LAB_DP_PID" "$LAB_DP_SOCK" "$ctl" "$LAB_DIR/$name.err"
}

# SIGINT: moat-dp prints its totals and exits; its status is left in LAB_DP_RC.
lab_dp_stop() {
	LAB_DP_RC=0
	[ -n "$LAB_DP_PID" ] || return 0
	kill -INT "$LAB_DP_PID" 2>/dev/null || true
	wait "$LAB_DP_PID" 2>/dev/null || LAB_DP_RC=$?
	LAB_DP_PID=""
}

# lab_down, the switch namespace and the (empty) runtime directory EAL makes for
# moat-dp's file prefix. Safe under set -e, like lab_down.
lab_dp_down() {
	lab_down
	ip netns del "$LAB_SW" 2>/dev/null || true
	# Every moat-dp of the lab ran under a prefix $LAB-NAME (lab_dp_start).
	rm -rf /var/run/dpdk/"$LAB"-*
}

# An inline lab's start: skip (77) without moat-dp or two cores, name the layout
# (lab_dp_names), and clean up on any exit.
lab_dp_begin() { # MOAT_DP
	[ -x "$1" ] || { echo "SKIP: moat-dp not built (libdpdk-dev missing)"; exit 77; }
	[ "$(nproc)" -ge 2 ] || { echo "SKIP: moat-dp needs two cores (-l 0,1)"; exit 77; }
	lab_dp_names
	trap lab_dp_down EXIT
	trap 'exit 130' INT TERM
}

# A Linux bridge in moat-dp's place, between d-in and d-out (the baseline).
lab_dp_bridge() {
	ip -n "$LAB_RTR" link add brx type bridge &&
		ip -n "$LAB_RTR" link set d-in master brx &&
		ip -n "$LAB_RTR" link set d-out master brx &&
		ip -n "$LAB_RTR" link set brx up
}

# The closing line; exit 0 only when every check passed.
lab_finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}

# Frames the kernel delivered to a moat-dp veth (rx packets of the link).
lab_dp_link_rx() { # ns dev
	ip -n "$1" -s -j link show "$2" |
		/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'
}
