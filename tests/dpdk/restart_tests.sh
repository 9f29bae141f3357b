#!/usr/bin/env bash
# moat-dp restarts on net_pcap vdevs (no NIC, no hugepages): a first moat-dp (run A)
# sees connections open, ends (moatctl restart, kill -9, restart --fresh, SIGINT or
# SIGTERM); a second one (run B, same --socket, so the same default dpdk.state file)
# gets the rest of those connections, no SYN, with pickup: off, so that only
# an adopted flow table lets them through. usage: restart_tests.sh BUILD_DIR
set -uo pipefail
build=$(cd "${1:?usage: restart_tests.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
dp=$build/dataplane/moat-dp
ctl=$build/control/moatctl
[ -x "$dp" ] || { echo "SKIP: moat-dp not built (libdpdk-dev missing)"; exit 77; }
/usr/bin/python3 -c 'import scapy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no scapy"; exit 77; }
[ -d /dev/shm ] && [ -w /dev/shm ] || { echo "SKIP: no writable /dev/shm for the state files"; exit 77; }

work=$(mktemp -d /tmp/moat-rst-test.XXXXXX)
# Every default state file here is /dev/shm/moat-dp<socket in $work, '/' as '-'>.state.
shm_prefix=/dev/shm/moat-dp$(printf '%s' "$work" | tr / -)
DP_PID="" FIRST_PID="" # the moat-dp running (not waited for yet), started here; case 7 runs two
cleanup() {
	local p
	for p in $DP_PID $FIRST_PID; do
		kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -f "$shm_prefix"-*.state
	rm -rf "$work" /var/run/dpdk/moatrst$$* # EAL's runtime folders, one per --file-prefix
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0 fail=0
check() { if [ "$1" -eq 0 ]; then pass=$((pass + 1)); echo "ok: $2"; else fail=$((fail + 1)); echo "FAIL: $2"; fi; }
py() { /usr/bin/python3 "$here/restart_flows.py" "$@"; }
get() { py get "$@" 2>/dev/null; } # get FILE KEY.KEY
count() { py count "$1" 2>/dev/null || echo -1; }

# The layout version a state file of this build carries (dataplane/state.c).
V=$(sed -n 's/^enum { STATE_VERSION = \([0-9]*\) };.*/\1/p' "$here/../../dataplane/state.c")
N=5 # connections per capture; 6 frames each in both captures
py open "$work/open.pcap" "$N" 2>/dev/null
py more "$work/more.pcap" "$N" 2>/dev/null
/usr/bin/python3 -c 'from scapy.all import wrpcap; wrpcap("'"$work"'/empty.pcap", [])' 2>/dev/null
N_OPEN=$(count "$work/open.pcap")
N_MORE=$(count "$work/more.pcap")

base='mode: dpdk\nsyn_cookies: off\ntables:\n  flows: 65536\n  sources: 4096\n'
printf "${base}pickup: off\n" >"$work/off.yaml"
printf "${base}pickup: auto\n" >"$work/auto.yaml"
printf 'mode: dpdk\nsyn_cookies: off\npickup: off\ntables:\n  flows: 32768\n  sources: 4096\n' >"$work/smaller.yaml"

# start_dp RUN CONFIG INPUT.pcap SOCKET: moat-dp in the background (DP_PID); outside =
# port 0 (rx from the capture), inside = port 1. Waits until every input frame is
# counted, then keeps its status and stats in $work/RUN.status and RUN.stats.
start_dp() {
	local run=$1 cfg=$2 input=$3 sock=$4 n i rx
	n=$(count "$input")
	"$dp" --no-huge --no-shconf --no-pci --file-prefix "moatrst$$$run" -l 0,1 --log-level=lib.eal:error \
		--vdev "net_pcap0,rx_pcap=$input,tx_pcap=$work/$run.out0.pcap" \
		--vdev "net_pcap1,rx_pcap=$work/empty.pcap,tx_pcap=$work/$run.out1.pcap" \
		-- --config "$cfg" --pair 1:0 --socket "$sock" >"$work/$run.totals" 2>"$work/$run.err" &
	DP_PID=$!
	rx=0
	for i in $(seq 1 200); do
		kill -0 "$DP_PID" 2>/dev/null || break
		"$ctl" stats -j --socket "$sock" >"$work/$run.stats" 2>/dev/null &&
			rx=$(get "$work/$run.stats" rx)
		[ "${rx:-0}" -ge "$n" ] && break
		sleep 0.1
	done
	"$ctl" stats -j --socket "$sock" >"$work/$run.stats" 2>/dev/null
	"$ctl" status -j --socket "$sock" >"$work/$run.status" 2>/dev/null
	"$ctl" flows -j --state ESTABLISHED --port 80 -n 100 --socket "$sock" >"$work/$run.flows" 2>/dev/null
	[ "${rx:-0}" -ge "$n" ]
}

# stop_dp HOW SOCKET: restart | fresh (moatctl restart [--fresh] --wait 0), int, term,
# kill9; DP_RC is moat-dp's exit status, $work/stop.reply moatctl's answer.
stop_dp() {
	local how=$1 sock=$2
	: >"$work/stop.reply"
	case $how in
	restart) "$ctl" restart -j --wait 0 --socket "$sock" >"$work/stop.reply" 2>&1 ;;
	fresh) "$ctl" restart -j --fresh --wait 0 --socket "$sock" >"$work/stop.reply" 2>&1 ;;
	int) kill -INT "$DP_PID" ;;
	term) kill -TERM "$DP_PID" ;;
	kill9) kill -9 "$DP_PID" ;;
	esac
	wait "$DP_PID"
	DP_RC=$?
	DP_PID=""
}

# reasons RUN: the stats' nonzero reasons, for messages.
reasons() {
	/usr/bin/python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))["reasons"]
print(", ".join("%s %d" % kv for kv in sorted(r.items()) if kv[1]) or "none")' "$work/$1.stats" 2>/dev/null
}
# reason RUN NAME: one reason's count (0 when absent).
reason() {
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reasons"].get(sys.argv[2], 0))' \
		"$work/$1.stats" "$2" 2>/dev/null || echo -1
}

# run_a CASE HOW: the connections open under moat-dp, which then ends HOW; the state
# file's path (from status) in STATE.
run_a() {
	local c=$1 how=$2 sock=$work/$1.sock
	start_dp "$c.a" "$work/off.yaml" "$work/open.pcap" "$sock"
	check $? "$c run A: moat-dp counted all $N_OPEN frames"
	STATE=$(get "$work/$c.a.status" state.path)
	[ "$STATE" = "$shm_prefix-$c.sock.state" ] && [ "$(get "$work/$c.a.status" state.start)" = new ] &&
		[ -s "$STATE" ]
	check $? "$c run A: a new state file, at the default path for its socket ($STATE: $(get "$work/$c.a.status" state.start))"
	[ "$(reason "$c.a" handshake)" -gt 0 ] &&
		[ $(($(reason "$c.a" handshake) + $(reason "$c.a" established))) -eq "$N_OPEN" ] &&
		[ "$(get "$work/$c.a.stats" verdicts.pass)" -eq "$N_OPEN" ] &&
		[ "$(get "$work/$c.a.flows" matched)" = "$N" ]
	check $? "$c run A: $N connections ESTABLISHED, every frame passed ($(reasons "$c.a"); flows matched $(get "$work/$c.a.flows" matched))"
	stop_dp "$how" "$sock"
}

# run_b CASE CONFIG: the connections go on under a new moat-dp on the same socket.
run_b() {
	local c=$1 cfg=$2
	start_dp "$c.b" "$cfg" "$work/more.pcap" "$work/$c.sock"
	check $? "$c run B: moat-dp started and counted all $N_MORE frames (stderr: $(grep -m1 'flow state' "$work/$c.b.err"))"
}

# adopted CASE: run B took the table over, and every frame of the connections passed as
# established; stopped with SIGINT, it exits 0 and removes the file.
adopted() {
	local c=$1
	[ "$(get "$work/$c.b.status" state.start)" = adopted ] && [ "$(get "$work/$c.b.status" state.adopted)" = true ] &&
		[ "$(get "$work/$c.b.status" state.path)" = "$STATE" ] &&
		[ "$(get "$work/$c.b.status" state.adopted_flows)" = "$N" ] &&
		[ "$(get "$work/$c.b.status" state.adopted_proxied)" = 0 ] &&
		[ "$(get "$work/$c.b.status" state.handshakes_dropped)" = 0 ]
	check $? "$c run B: status says adopted, $N flows ($(get "$work/$c.b.status" state))"
	grep -q "flow state $STATE: adopted ($N flows, 0 of them proxied; 0 handshakes held at servers dropped)" "$work/$c.b.err"
	check $? "$c run B: stderr says adopted ($(grep -m1 'flow state' "$work/$c.b.err"))"
	[ "$(reason "$c.b" established)" -eq "$N_MORE" ] && [ "$(reason "$c.b" ack_no_flow)" -eq 0 ] &&
		[ "$(reason "$c.b" pickup)" -eq 0 ] && [ "$(get "$work/$c.b.flows" matched)" = "$N" ]
	check $? "$c run B: all $N_MORE frames passed as established, none ack_no_flow or pickup ($(reasons "$c.b"); ESTABLISHED flows $(get "$work/$c.b.flows" matched))"
	stop_dp int "$work/$c.sock"
	[ "$DP_RC" -eq 0 ] && [ ! -e "$STATE" ]
	check $? "$c run B: SIGINT: exit $DP_RC, the state file removed"
	[ "$(count "$work/$c.b.out1.pcap")" -eq "$N_MORE" ]
	check $? "$c run B: the inside port got all $N_MORE frames ($(count "$work/$c.b.out1.pcap"))"
}

# 1. moatctl restart: exit 75, the file left; the next moat-dp adopts it.
run_a restart restart
[ "$DP_RC" -eq 75 ] && [ -s "$STATE" ] && [ "$(get "$work/stop.reply" restarting)" = true ] &&
	[ "$(get "$work/stop.reply" adopt)" = true ] && [ "$(get "$work/stop.reply" state)" = "$STATE" ]
check $? "restart run A: moatctl restart --wait 0: exit $DP_RC, the state file kept ($(tr -d '\n' <"$work/stop.reply"))"
run_b restart "$work/off.yaml"
adopted restart

# 2. kill -9: nothing runs at exit; the file is left and adopted.
run_a kill9 kill9
[ "$DP_RC" -eq 137 ] && [ -s "$STATE" ]
check $? "kill9 run A: kill -9: exit $DP_RC, the state file left"
run_b kill9 "$work/off.yaml"
adopted kill9

# 3. restart --fresh: the file is marked; the next moat-dp does not adopt it, says so,
#    and counts the connections left to pickup: with pickup: off they are dropped;
#    with pickup: auto they pass as picked up. SIGTERM removes the file too.
for cfg in off auto; do
	c=fresh_$cfg
	run_a "$c" fresh
	[ "$DP_RC" -eq 75 ] && [ -s "$STATE" ] && [ "$(get "$work/stop.reply" adopt)" = false ]
	check $? "$c run A: moatctl restart --fresh --wait 0: exit $DP_RC, the state file kept, not to be adopted"
	run_b "$c" "$work/$cfg.yaml"
	[ "$(get "$work/$c.b.status" state.start)" = 'not adopted: discarded by `restart --fresh`' ] &&
		[ "$(get "$work/$c.b.status" state.adopted)" = false ] &&
		[ "$(get "$work/$c.b.status" state.adopted_flows)" = 0 ] &&
		[ "$(get "$work/$c.b.status" state.left_to_pickup)" = "$N" ] &&
		[ "$(get "$work/$c.b.status" state.lost_proxied)" = 0 ] &&
		grep -q "flow state $STATE: not adopted: discarded by \`restart --fresh\` (0 proxied connections lost, $N left to pickup)" "$work/$c.b.err"
	check $? "$c run B: not adopted, $N flows left to pickup ($(grep -m1 'flow state' "$work/$c.b.err"))"
	if [ "$cfg" = off ]; then
		[ "$(reason "$c.b" ack_no_flow)" -eq "$N_MORE" ] && [ "$(reason "$c.b" established)" -eq 0 ]
		check $? "$c run B: pickup: off: all $N_MORE frames dropped ack_no_flow ($(reasons "$c.b"))"
	else
		# Each connection's first frame is picked up, the server's answer confirms it.
		[ "$(reason "$c.b" pickup)" -eq "$N" ] && [ "$(reason "$c.b" established)" -eq $((N_MORE - N)) ] &&
			[ "$(reason "$c.b" ack_no_flow)" -eq 0 ]
		check $? "$c run B: pickup: auto: all $N_MORE frames passed, $N of them as pickup ($(reasons "$c.b"))"
	fi
	stop_dp term "$work/$c.sock"
	[ "$DP_RC" -eq 0 ] && [ ! -e "$STATE" ]
	check $? "$c run B: SIGTERM: exit $DP_RC, the state file removed"
	want=$N_MORE
	[ "$cfg" = off ] && want=0
	[ "$(count "$work/$c.b.out1.pcap")" -eq "$want" ]
	check $? "$c run B: the inside port got $want frames ($(count "$work/$c.b.out1.pcap"))"
done

# 4. A file of another layout (its header's version changed): refused with the reason,
#    in status and on stderr; a new table in the same file; moat-dp runs on.
run_a layout restart
[ "$DP_RC" -eq 75 ] && [ -s "$STATE" ] && [ -n "$V" ] && [ "$(py version "$STATE")" = "$V" ] && py version "$STATE" 999
check $? "layout run A: exit $DP_RC; the file's version $V overwritten with 999 ($(py version "$STATE"))"
run_b layout "$work/off.yaml"
why="not adopted: written by a moat-dp of another table layout (version 999, "
start=$(get "$work/layout.b.status" state.start)
[ "${start#"$why"}" != "$start" ] && [ "$(get "$work/layout.b.status" state.adopted)" = false ] &&
	[ "$(get "$work/layout.b.status" state.adopted_flows)" = 0 ] &&
	grep -qF "flow state $STATE: $why" "$work/layout.b.err"
check $? "layout run B: status and stderr say $start"
[ "$(py version "$STATE")" = "$V" ] && [ "$(reason layout.b ack_no_flow)" -eq "$N_MORE" ]
check $? "layout run B: a new table (file version $(py version "$STATE")), the connections dropped ($(reasons layout.b))"
stop_dp int "$work/layout.sock"
[ "$DP_RC" -eq 0 ] && [ ! -e "$STATE" ] && [ "$(count "$work/layout.b.out1.pcap")" -eq 0 ]
check $? "layout run B: SIGINT: exit $DP_RC, the state file removed, nothing crossed"

# 4b. A file cut short (its header's size is not the file's), and one that is no state
#     file at all where the default path is: both refused, moat-dp runs on a new table.
run_a cut restart
truncate -s -4096 "$STATE"
check $(( DP_RC == 75 ? 0 : 1 )) "cut run A: exit $DP_RC; the file cut by 4096 bytes"
run_b cut "$work/off.yaml"
[ "$(get "$work/cut.b.status" state.start)" = "not adopted: cut short" ] &&
	[ "$(get "$work/cut.b.status" state.adopted)" = false ] && [ "$(reason cut.b ack_no_flow)" -eq "$N_MORE" ]
check $? "cut run B: $(get "$work/cut.b.status" state.start) ($(reasons cut.b))"
stop_dp int "$work/cut.sock"
[ "$DP_RC" -eq 0 ] && [ ! -e "$STATE" ]
check $? "cut run B: SIGINT: exit $DP_RC, the state file removed"
STATE=$shm_prefix-foreign.sock.state
head -c 65536 /dev/urandom >"$STATE"
run_b foreign "$work/off.yaml"
[ "$(get "$work/foreign.b.status" state.start)" = "not adopted: not a moat-dp state file" ] &&
	[ "$(get "$work/foreign.b.status" state.path)" = "$STATE" ] && [ "$(py version "$STATE")" = "$V" ] &&
	[ "$(reason foreign.b ack_no_flow)" -eq "$N_MORE" ]
check $? "foreign run B: 64 KiB of random bytes at $STATE: $(get "$work/foreign.b.status" state.start), a new table there"
stop_dp int "$work/foreign.sock"
[ "$DP_RC" -eq 0 ] && [ ! -e "$STATE" ]
check $? "foreign run B: SIGINT: exit $DP_RC, the state file removed"

# 5. Other table sizes (tables.flows): refused, its flows counted as left to pickup.
run_a sizes restart
check $(( DP_RC == 75 ? 0 : 1 )) "sizes run A: exit $DP_RC"
run_b sizes "$work/smaller.yaml"
[ "$(get "$work/sizes.b.status" state.start)" = "not adopted: tables of 65536 flows / 4096 sources then, 32768 / 4096 now (tables.flows, tables.sources)" ] &&
	[ "$(get "$work/sizes.b.status" state.left_to_pickup)" = "$N" ] &&
	[ "$(reason sizes.b ack_no_flow)" -eq "$N_MORE" ]
check $? "sizes run B: $(get "$work/sizes.b.status" state.start); $(get "$work/sizes.b.status" state.left_to_pickup) left to pickup ($(reasons sizes.b))"
stop_dp int "$work/sizes.sock"
[ "$DP_RC" -eq 0 ] && [ ! -e "$STATE" ] && [ "$(count "$work/sizes.b.out1.pcap")" -eq 0 ]
check $? "sizes run B: SIGINT: exit $DP_RC, the state file removed, nothing crossed"

# 6. A SIGINT stop is for good: the file goes, and the next moat-dp starts new.
run_a stop int
[ "$DP_RC" -eq 0 ] && [ ! -e "$STATE" ]
check $? "stop run A: SIGINT: exit $DP_RC, $STATE removed"
run_b stop "$work/off.yaml"
[ "$(get "$work/stop.b.status" state.start)" = new ] && [ "$(get "$work/stop.b.status" state.left_to_pickup)" = 0 ] &&
	[ "$(reason stop.b ack_no_flow)" -eq "$N_MORE" ]
check $? "stop run B: a new state file, the connections dropped ($(get "$work/stop.b.status" state.start); $(reasons stop.b))"
stop_dp int "$work/stop.sock"
check $(( DP_RC == 0 ? 0 : 1 )) "stop run B: SIGINT: exit $DP_RC"

# 7. dpdk.state: a path of one's own, held while its moat-dp runs: a second moat-dp
#    given the same file leaves it alone (its tables its own); dpdk.state: off makes none.
printf "${base}pickup: off\ndpdk:\n  state: %s\n" "$work/own.state" >"$work/own.yaml"
start_dp held.a "$work/own.yaml" "$work/open.pcap" "$work/held_a.sock"
FIRST_PID=$DP_PID
[ "$(get "$work/held.a.status" state.path)" = "$work/own.state" ] && [ "$(get "$work/held.a.status" state.start)" = new ] &&
	[ -s "$work/own.state" ] && [ ! -e "$shm_prefix-held_a.sock.state" ]
check $? "held run A: dpdk.state $work/own.state: $(get "$work/held.a.status" state.start) (and no file at the default path)"
start_dp held.b "$work/own.yaml" "$work/more.pcap" "$work/held_b.sock"
second=$?
[ "$second" -eq 0 ] && [ "$(get "$work/held.b.status" state.path)" = "" ] &&
	[ "$(get "$work/held.b.status" state.start)" = "unavailable: held by another moat-dp" ] &&
	[ "$(reason held.b ack_no_flow)" -eq "$N_MORE" ]
check $? "held run B, beside A: $(get "$work/held.b.status" state.start); tables of its own ($(reasons held.b))"
stop_dp int "$work/held_b.sock"
[ "$DP_RC" -eq 0 ] && [ -s "$work/own.state" ] && kill -0 "$FIRST_PID"
check $? "held run B: SIGINT: exit $DP_RC, A's file left where it was"
DP_PID=$FIRST_PID FIRST_PID=""
stop_dp restart "$work/held_a.sock"
[ "$DP_RC" -eq 75 ] && [ -s "$work/own.state" ]
check $? "held run A: restart: exit $DP_RC, $work/own.state kept"
start_dp held.c "$work/own.yaml" "$work/more.pcap" "$work/held_c.sock"
[ "$(get "$work/held.c.status" state.start)" = adopted ] && [ "$(get "$work/held.c.status" state.adopted_flows)" = "$N" ] &&
	[ "$(reason held.c established)" -eq "$N_MORE" ]
check $? "held run C, on another socket: adopted A's $(get "$work/held.c.status" state.adopted_flows) flows from $work/own.state ($(reasons held.c))"
stop_dp int "$work/held_c.sock"
[ "$DP_RC" -eq 0 ] && [ ! -e "$work/own.state" ]
check $? "held run C: SIGINT: exit $DP_RC, $work/own.state removed"
printf "${base}pickup: off\ndpdk:\n  state: off\n" >"$work/nostate.yaml"
start_dp nostate.a "$work/nostate.yaml" "$work/open.pcap" "$work/nostate.sock"
[ "$(get "$work/nostate.a.status" state.start)" = "off (dpdk.state: off)" ] && [ "$(get "$work/nostate.a.status" state.path)" = "" ] &&
	[ ! -e "$shm_prefix-nostate.sock.state" ] && [ "$(get "$work/nostate.a.flows" matched)" = "$N" ]
check $? "dpdk.state off: $(get "$work/nostate.a.status" state.start), no file, the $N connections in the process's own table"
stop_dp restart "$work/nostate.sock"
[ "$DP_RC" -eq 75 ] && [ ! -e "$shm_prefix-nostate.sock.state" ] &&
	grep -q "restarting without a flow state file (off (dpdk.state: off)): the next one starts empty" "$work/nostate.a.err" &&
	[ "$(get "$work/stop.reply" adopt)" = false ]
check $? "dpdk.state off: restart: exit $DP_RC, warned that the next one starts empty, no file left"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
