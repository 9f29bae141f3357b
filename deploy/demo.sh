#!/usr/bin/env bash
# The moat demo: a lab of network namespaces where an attacker floods random-source
# SYNs and sprays spoofed RSTs at a download while a client keeps making requests to
# an nginx server that moat protects; a live view shows moat's counters each second,
# and the demo ends with the client's success rate, the download's fate and moat's
# packets by reason.
#   ./deploy/demo.sh [--seconds N]     host mode: moatd, XDP on the server's interface (as root, Debian 12)
#   ./deploy/demo.sh --dataplane       inline: moat-dp between the client side and the server, its
#                                      SYN proxy on (syn_cookies: always); also its flows per state
#   ./deploy/demo.sh --explain         replay the real flood capture through moatctl explain
#                                      (with --dataplane: under moat-dp's demo policy)
#   --seconds N   how long the flood lasts (default 20, at least 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${MOAT_BUILD_DIR:-build}
seconds=20
dataplane=0
explain=0
rsts=5000
# The download that takes the spoofed RSTs leaves from these client ports (below
# the ephemeral range of the client's requests), so the RSTs find it.
dl_ports=20000-20099

commas() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; } # 1234567 -> 1,234,567
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
	--dataplane) dataplane=1; shift ;;
	--explain) explain=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "demo.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -ge 5 ] || { echo "demo.sh: --seconds must be a number >= 5" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (it installs packages and builds network namespaces)" >&2; exit 1; }

./deploy/install-deps.sh
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
if ! log=$(meson compile -C "$build" 2>&1); then
	tail -n 15 <<<"$log" >&2
	echo "demo.sh: the build failed (meson compile -C $build)" >&2
	exit 1
fi
ctl=$build/control/moatctl
if [ "$dataplane" = 1 ] && [ ! -x "$build/dataplane/moat-dp" ]; then
	echo "demo.sh: --dataplane needs $build/dataplane/moat-dp, which meson builds only with libdpdk-dev" >&2
	exit 1
fi

# moat-dp's policy in the demo: the SYN proxy answers every SYN to port 80.
dp_policy() {
	printf '%s\n' 'mode: dpdk' 'protect_ports: [80]' 'syn_cookies: always' 'rst_policy: rfc5961'
}

if [ "$explain" = 1 ]; then
	capture=$(realpath -m "$root/../shared/captures/pkt.TCP.synflood.spoofed.pcap")
	if [ "$dataplane" = 1 ]; then
		# The capture floods many ports: here every port is protected.
		policy=$(mktemp /tmp/moat-demo-policy.XXXXXX)
		trap 'rm -f "$policy"' EXIT
		dp_policy | grep -v '^protect_ports' >"$policy"
		"$ctl" explain --quiet --config "$policy" "$capture"
	else
		"$ctl" explain --quiet "$capture"
	fi
	exit 0
fi

. tests/lab/lab_lib.sh
if [ "$dataplane" = 1 ]; then
	lab_dp_names
	trap 'lab_dp_down' EXIT
else
	trap 'lab_down' EXIT
fi
# Ctrl-C or a TERM: leave through the EXIT trap, which ends what the lab started.
trap 'exit 130' INT TERM

# The client: one request every 50 ms, "ok" or "fail" per line in $LAB_DIR/requests.
# Each curl is waited for, so a TERM (lab_down) ends the loop and its curl at once.
client_loop() {
	local c
	trap 'kill "$c" 2>/dev/null; exit 0' TERM
	while :; do
		nsenter --net="/run/netns/$LAB_CLI" curl -fs -o /dev/null -m 5 "http://$SRV4/" &
		c=$!
		if wait "$c"; then echo ok; else echo fail; fi
		sleep 0.05
	done >>"$LAB_DIR/requests"
}

# After 3 s, spoofed RSTs from the attacker with the download's 4-tuple and
# random sequence numbers, as Ethernet frames to MAC.
spoof_rsts() { # MAC
	local c i port=""
	trap 'kill "$c" 2>/dev/null; exit 0' TERM
	sleep 3 &
	c=$!
	wait "$c"
	for i in $(seq 1 50); do
		port=$(in_ns "$LAB_CLI" ss -tnH state established dst "$SRV4" and sport ge ":${dl_ports%-*}" and sport le ":${dl_ports#*-}" |
			awk '{ n = split($3, a, ":"); print a[n]; exit }')
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { lab_log "no download connection to aim the spoofed RSTs at"; return 0; }
	nsenter --net="/run/netns/$LAB_ATK" /usr/bin/python3 tests/lab/spoof_rst_raw.py a0 "$1" "$CLI4" "$port" "$SRV4" 80 "$rsts" \
		>"$LAB_DIR/spoof.out" &
	c=$!
	wait "$c"
}

# Live view: per-second rates of some of moat's counters (reasons, or a top-level
# field of `stats -j` such as rx) and the client's requests so far.
live_view() { # SOCKET COLUMN...
	/usr/bin/python3 - "$ctl" "$LAB_DIR/requests" "$seconds" "$@" <<'PY'
import json, signal, subprocess, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))  # Ctrl-C: no traceback
ctl, reqfile, seconds, sock, cols = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
def stats():
    out = subprocess.run([ctl, "stats", "-j", "--socket", sock], capture_output=True, text=True)
    if out.returncode:
        return None
    s = json.loads(out.stdout)
    return {c: s["reasons"][c] if c in s["reasons"] else s[c] for c in cols}
def requests():
    lines = open(reqfile).read().split()
    return lines.count("ok"), len(lines)
print(f"{'t':>3} " + " ".join(f"{c + '/s':>19}" for c in cols) + f" {'client ok':>12}")
prev = stats()
for t in range(1, seconds + 1):
    time.sleep(1)
    cur = stats()
    if cur is None or prev is None:
        print("live view: no answer on " + sock, file=sys.stderr)
        break
    ok, total = requests()
    print(f"{t:>3} " + " ".join(f"{cur[c] - prev[c]:>19,}" for c in cols) + f" {ok:>6}/{total:<5}", flush=True)
    prev = cur
PY
}

requests_summary() {
	local ok total
	ok=$(grep -c '^ok$' "$LAB_DIR/requests" || true)
	total=$(wc -l <"$LAB_DIR/requests")
	printf 'legitimate requests: %s/%s succeeded (%s%%)\n' "$ok" "$total" \
		"$(awk -v o="$ok" -v t="$total" 'BEGIN { printf "%.1f", t ? 100 * o / t : 0 }')"
}

reasons_summary() { # SOCKET
	"$ctl" stats -j --socket "$1" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
for r, n in sorted(s["reasons"].items(), key=lambda kv: -kv[1]):
    if n:
        print(f"  {r:<20} {n:>12,}")
print("  verdicts: " + ", ".join(f"{k} {v:,}" for k, v in s["verdicts"].items()))'
}

demo_xdp() {
	local flood download dl
	moatctl() { "$ctl" "$@" --socket "$LAB_DIR/moatd.sock"; }
	lab_log "building the lab: server $SRV4 (nginx), client $CLI4, attacker $ATK4, one router"
	lab_up
	# A plain veth, as a container's or VM's: xdp_mode auto attaches generic XDP there.
	lab_nginx
	cat >"$LAB_DIR/moat.yaml" <<EOC
mode: xdp
interfaces: [s0]
protect_ports: [80]
syn_cookies: auto
syn_trigger: 1000
rst_policy: rfc5961
pin_dir: /sys/fs/bpf/$LAB
EOC
	lab_bg "$LAB_SRV" "$build/control/moatd" --config "$LAB_DIR/moat.yaml" --socket "$LAB_DIR/moatd.sock"
	lab_wait_ready "$LAB_LAST_PID" "$LAB_DIR/moatd.sock" "$ctl" || return 1
	moatctl status

	: >"$LAB_DIR/requests"
	client_loop &
	LAB_PIDS+=($!)
	sleep 2

	lab_log "attack: random-source SYN flood for ${seconds}s, then spoofed RSTs at a download"
	lab_bg "$LAB_ATK" nice -n 19 timeout -s INT "$seconds" hping3 -q -S -p 80 --flood --rand-source "$SRV4" >/dev/null 2>&1
	flood=$LAB_LAST_PID
	lab_bg "$LAB_CLI" curl -fs -m 120 --local-port "$dl_ports" --limit-rate 1M -o "$LAB_DIR/big.got" "http://$SRV4/big.bin"
	download=$LAB_LAST_PID
	spoof_rsts "$(ip -n "$LAB_RTR" -j link show ra | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')" &
	LAB_PIDS+=($!)

	live_view "$LAB_DIR/moatd.sock" syn_cookie cookie_valid handshake established rst_out_of_window ack_no_flow
	wait "$flood" 2>/dev/null || true
	lab_log "flood over; waiting for the download to finish"
	wait "$download" 2>/dev/null && dl="intact: $(cmp -s "$LAB_DIR/big.got" "$LAB_DIR/www/big.bin" && echo yes || echo NO)" || dl="failed"

	echo
	echo "== summary"
	requests_summary
	echo "16 MB download under spoofed RSTs: $dl"
	echo "moat, packets by reason (non-zero):"
	reasons_summary "$LAB_DIR/moatd.sock"
}

demo_dataplane() {
	local sock=$LAB_DP_SOCK flood download client dl wire0 rx0 sent
	lab_log "building the lab: client $CLI4 and attacker $ATK4 on a switch, moat-dp inline, server $SRV4 (nginx)"
	lab_dp_up || { lab_log "could not build the lab"; return 1; }
	in_ns "$LAB_CLI" sysctl -qw net.ipv4.tcp_rmem="4096 65536 262144"
	lab_nginx
	head -c $((10 * 1024 * 1024)) "$LAB_DIR/www/big.bin" >"$LAB_DIR/www/ten.bin"
	dp_policy >"$LAB_DIR/moat-dp.yaml"
	lab_dp_start "$build/dataplane/moat-dp" "$LAB_DIR/moat-dp.yaml" demo "$ctl" || return 1
	lab_log "moat-dp (pid $LAB_DP_PID) forwards d-out <-> d-in, SYN proxy on port 80 (syn_cookies: always), control socket $sock"
	wire0=$(( $(lab_dp_link_rx "$LAB_RTR" d-out) + $(lab_dp_link_rx "$LAB_RTR" d-in) ))
	rx0=$("$ctl" stats -j --socket "$sock" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rx"])')

	: >"$LAB_DIR/requests"
	client_loop &
	client=$!
	LAB_PIDS+=("$client")
	sleep 2

	lab_log "attack: random-source SYN flood for ${seconds}s, then $(commas "$rsts") spoofed RSTs at a 10 MB download"
	# On the CPUs moat-dp's worker does not poll (see lab_dp_names), at the lowest
	# priority: the flood takes what CPU time the client, nginx and this shared
	# machine leave, and moat-dp answers whatever it sends.
	lab_bg "$LAB_ATK" taskset "$LAB_DP_OTHER_CPUS" nice -n 19 timeout -s INT "$seconds" \
		hping3 -S -p 80 --flood --rand-source "$SRV4" >"$LAB_DIR/hping.out" 2>&1
	flood=$LAB_LAST_PID
	# Paced to last about as long as the flood; the client's small receive buffer
	# (lab set-up above) keeps the data flowing at that pace rather than arriving
	# in the first second and waiting in the socket.
	lab_bg "$LAB_CLI" curl -fs -m 120 --local-port "$dl_ports" --limit-rate "$((10240 / seconds + 1))K" \
		-o "$LAB_DIR/ten.got" "http://$SRV4/ten.bin"
	download=$LAB_LAST_PID
	spoof_rsts "$(ip -n "$LAB_SRV" -j link show s0 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')" &
	LAB_PIDS+=($!)

	live_view "$sock" rx syn_cookie cookie_valid proxy_ack established rst_out_of_window
	wait "$flood" 2>/dev/null || true
	lab_log "flood over; waiting for the download to finish"
	if wait "$download" 2>/dev/null; then
		if [ "$(sha256sum <"$LAB_DIR/ten.got")" = "$(sha256sum <"$LAB_DIR/www/ten.bin")" ]; then
			dl="intact (sha256 matches)"
		else
			dl="CORRUPT (sha256 differs)"
		fi
	else
		dl="FAILED ($(stat -c %s "$LAB_DIR/ten.got" 2>/dev/null || echo 0) bytes arrived)"
	fi
	kill "$client" 2>/dev/null || true
	wait "$client" 2>/dev/null || true
	if ! "$ctl" stats -j --socket "$sock" >"$LAB_DIR/stats.json" 2>/dev/null; then
		lab_log "moat-dp no longer answers (alive: $(kill -0 "$LAB_DP_PID" 2>/dev/null && echo yes || echo no)): $(tail -n 3 "$LAB_DIR/demo.err" | tr '\n' ' ')"
		return 1
	fi
	"$ctl" flows -j --socket "$sock" >"$LAB_DIR/flows.json"
	sent=$(grep -o '[0-9]* packets transmitted' "$LAB_DIR/hping.out" | awk '{ print $1 }')

	echo
	echo "== summary"
	requests_summary
	echo "10 MB download through the SYN proxy under $(commas "$rsts") spoofed RSTs: $dl"
	/usr/bin/python3 - "$LAB_DIR/stats.json" "$LAB_DIR/flows.json" "${sent:-0}" "$seconds" "$rx0" \
		"$(( $(lab_dp_link_rx "$LAB_RTR" d-out) + $(lab_dp_link_rx "$LAB_RTR" d-in) - wire0 ))" <<'PY'
import json, sys
s, f = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
sent, seconds, rx0, wire = (int(x) for x in sys.argv[3:7])
rx = s["rx"] - rx0
print(f"SYN flood: hping3 sent {sent:,} SYNs in {seconds} s (~{sent // seconds:,}/s)")
print(f"moat-dp read {rx:,} frames since the start "
      f"(the kernel handed its veths {wire:,}: {max(wire - rx, 0):,} lost in the af_packet rings), "
      f"sent {s['sent']:,}, tx_full {s['tx_full']:,}")
print("moat-dp, packets by reason (non-zero):")
for r, n in sorted(s["reasons"].items(), key=lambda kv: -kv[1]):
    if n:
        print(f"  {r:<20} {n:>12,}")
print("  verdicts: " + ", ".join(f"{k} {v:,}" for k, v in s["verdicts"].items()))
print(f"  SYN proxy: {s['proxy_syns']:,} connections opened to the server, {s['proxy_gave_up']:,} given up")
states = {k: v for k, v in f["flows"].items() if v}
print(f"moat-dp, tracked flows by state (capacity {f['capacity']:,}): "
      + (", ".join(f"{k} {v:,}" for k, v in sorted(states.items(), key=lambda kv: -kv[1])) or "none"))
PY
	lab_dp_stop
	[ "$LAB_DP_RC" = 0 ] || lab_log "moat-dp exited $LAB_DP_RC on SIGINT"
}

if [ "$dataplane" = 1 ]; then
	demo_dataplane
else
	demo_xdp
fi
