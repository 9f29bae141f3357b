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

# XDP packets seen by a veth interface (ethtool statistics, all queues).
lab_xdp_packets() { in_ns "$1" ethtool -S "$2" | awk '/rx_queue_[0-9]+_xdp_packets/ { s += $2 } END { print s + 0 }'; }
