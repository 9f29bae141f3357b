#!/usr/bin/env bash
# Hitless moat-dp restarts (issue 12): connections through moat-dp outlive it.
#   restart_lab.sh BUILD_DIR
#
# lab_lib's inline layout (lab_dp_up); moatd (mode dpdk) starts and supervises
# moat-dp on af_packet, the SYN proxy on for port 80 (syn_cookies: always), so
# every connection's server-side sequence numbers are moat-dp's translation.
#
# Run 1, tables adopted: 20 rate-limited downloads of 20 MB and 30 idle
# keep-alive connections (one request each, then silence) are open while
# moat-dp is restarted three times: `moatctl restart`, kill -9 (moatd starts
# the next one), and an upgrade (a freshly linked binary moved over the one
# dpdk.command names, then `moatctl restart`). Every download must arrive whole
# (sha256), every idle connection must answer a second request on its same
# socket, and neither end may see a RST (tcpdump on both).
#
# Run 2, tables not adopted (`restart --fresh`): connections tracked but not
# proxied (made under syn_cookies: auto) go on through pickup; proxied ones
# (made after a reload to always, which is reverted before the restart) are lost,
# and the new moat-dp says so in its counters (lost_proxied). About 90 s; run it
# under flock /tmp/moat-lab.lock.
set -uo pipefail
build=$(cd "${1:?usage: restart_lab.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-mrs$$}
. "$here/lab_lib.sh"
dp=$build/dataplane/moat-dp
ctl=$build/control/moatctl
moatd=$build/control/moatd
lab_require curl nginx nsenter sha256sum tcpdump
lab_dp_begin "$dp"
[ -x "$moatd" ] || { echo "SKIP: moatd not built"; exit 77; }

N_DL=${N_DL:-20} MB=${MB:-20} N_IDLE=${N_IDLE:-30}
msock=$LAB_DIR/moatd.sock
mctl() { "$ctl" "$@" --socket "$msock"; }
# A field of moatd's status (Python expression on s), e.g. dp_status 's["moat_dp"]["pid"]'.
dp_status() {
	mctl status -j 2>/dev/null | /usr/bin/python3 -c "import json,sys; s=json.load(sys.stdin); print($1)" 2>/dev/null
}
# Until a moat-dp other than pid $1 answers through moatd (at most 30 s).
wait_new_dp() {
	local i pid
	for i in $(seq 1 300); do
		pid=$(dp_status 's["moat_dp"]["pid"]')
		[ -n "$pid" ] && [ "$pid" != "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# moat-dp runs from a copy in the lab, so the upgrade can replace it as a package would.
mkdir -p "$LAB_DIR/bin"
cp "$dp" "$LAB_DIR/bin/moat-dp"
write_config() { # SYN_COOKIES
	cat >"$LAB_DIR/moatd.yaml" <<EOF
mode: dpdk
protect_ports: [80]
syn_cookies: $1
dpdk:
  socket: $LAB_DIR/dp.sock
  command: [$LAB_DIR/bin/moat-dp, --no-huge, --no-shconf, --no-pci, --file-prefix, $LAB-md, -l, "0,1",
            --log-level=lib.eal:error,
            --vdev, "net_af_packet0,iface=d-in,qdisc_bypass=1,framecnt=8192",
            --vdev, "net_af_packet1,iface=d-out,qdisc_bypass=1,framecnt=8192",
            --, --pair, "0:1"]
EOF
}

start_moatd() { # NAME
	lab_bg "$LAB_RTR" "$moatd" --config "$LAB_DIR/moatd.yaml" --socket "$msock" \
		>"$LAB_DIR/$1.moatd.out" 2>"$LAB_DIR/$1.moatd.err"
	MOATD_PID=$LAB_LAST_PID
	lab_wait_ready "$MOATD_PID" "$msock" "$ctl" "$LAB_DIR/$1.moatd.err" || return 1
	wait_new_dp "" || return 1
}

# SIGTERM: moatd stops moat-dp (which removes its state file) and exits.
stop_moatd() {
	kill -TERM "$MOATD_PID" 2>/dev/null
	wait "$MOATD_PID" 2>/dev/null
}

# tcpdump of RSTs on an endpoint's interface, in the background.
rst_watch() { # NAME NS DEV
	lab_bg "$2" tcpdump -i "$3" -nn -U -w "$LAB_DIR/$1.rst.pcap" 'tcp[tcpflags] & tcp-rst != 0'
	eval "RSTW_$1=$LAB_LAST_PID"
}
rst_count() { # NAME
	tcpdump -nn -r "$LAB_DIR/$1.rst.pcap" 2>/dev/null | wc -l
}

downloads() { # TAG COUNT RATE: background curls, their PIDs in DL_PIDS
	local i
	DL_PIDS=()
	# nsenter execs curl: $! is curl's own PID, for the kill of the lost ones below
	# (a function run with & would leave curl running, holding the test's output).
	for i in $(seq 1 "$2"); do
		nsenter --net="/run/netns/$LAB_CLI" curl -fsS -m 150 --limit-rate "$3" \
			-o "$LAB_DIR/$1.$i.got" "http://$SRV4/d20.bin" 2>"$LAB_DIR/$1.$i.curl" &
		DL_PIDS+=($!)
	done
}
downloads_whole() { # TAG COUNT: how many finished with the right sha256
	local i n=0 want
	want=$(sha256sum <"$LAB_DIR/www/d20.bin")
	for i in $(seq 1 "$2"); do
		[ -f "$LAB_DIR/$1.$i.got" ] && [ "$(sha256sum <"$LAB_DIR/$1.$i.got")" = "$want" ] && n=$((n + 1))
	done
	echo "$n"
}

idle_open() { # TAG COUNT: keep-alive connections, ready when this returns 0
	local i
	rm -f "$LAB_DIR/$1.go"
	lab_bg "$LAB_CLI" /usr/bin/python3 "$here/keepalive_client.py" "$SRV4" 80 "$2" \
		"$LAB_DIR/$1.go" "$LAB_DIR/$1.idle.json" >"$LAB_DIR/$1.idle.out" 2>&1
	eval "IDLE_$1=$LAB_LAST_PID"
	for i in $(seq 1 200); do
		grep -q "^ready" "$LAB_DIR/$1.idle.out" && return 0
		sleep 0.1
	done
	return 1
}
# TAG: the second request on each idle connection; how many answered, in ANSWERED
# (not a $(...): the client is this shell's child, to wait for here).
idle_answered() {
	local pid
	touch "$LAB_DIR/$1.go"
	eval "pid=\$IDLE_$1"
	wait "$pid"
	ANSWERED=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["answered"])' \
		"$LAB_DIR/$1.idle.json" 2>/dev/null || echo 0)
}

lab_dp_up || { check 1 "lab topology"; lab_finish; }
lab_nginx || { check 1 "nginx on the server"; lab_finish; }
head -c $((MB * 1024 * 1024)) /dev/urandom >"$LAB_DIR/www/d20.bin"
# The upgrade: moat-dp linked again from its objects, as a fresh build would leave it.
link=$(cd "$build" && ninja -t commands dataplane/moat-dp 2>/dev/null | tail -n 1)
if [ -n "$link" ] && (cd "$build" && eval "${link/-o dataplane\/moat-dp/-o $LAB_DIR/bin/moat-dp.new}") 2>"$LAB_DIR/relink.err"; then
	upgrade_how="relinked from the build's objects"
else
	cp "$dp" "$LAB_DIR/bin/moat-dp.new"
	upgrade_how="a copy (relinking failed: $(head -c 200 "$LAB_DIR/relink.err"))"
fi

# ---- Run 1: three restarts under 20 downloads and 30 idle connections -------------
write_config always
start_moatd run1
check $? "moatd started moat-dp (SYN proxy for port 80): $(dp_status 's["moat_dp"]["state"]["path"]')"
rst_watch cli "$LAB_CLI" c0
rst_watch srv "$LAB_SRV" s0
sleep 1
idle_open r1 "$N_IDLE"
check $? "$N_IDLE idle keep-alive connections opened through moat-dp"
downloads r1 "$N_DL" 900K
sleep 4

pid0=$(dp_status 's["moat_dp"]["pid"]')
mctl restart >"$LAB_DIR/restart1.txt" 2>&1
rc=$?
st='s["moat_dp"]["state"]'
adopted1=$(dp_status "$st[\"adopted_flows\"]") proxied1=$(dp_status "$st[\"adopted_proxied\"]")
[ "$rc" -eq 0 ] && [ "$(dp_status "$st[\"adopted\"]")" = True ] &&
	[ "${proxied1:-0}" -ge $((N_DL + N_IDLE)) ]
check $? "restart 1, moatctl restart: $(tr '\n' ' ' <"$LAB_DIR/restart1.txt")"
sleep 4

pid1=$(dp_status 's["moat_dp"]["pid"]')
t0=$(date +%s.%N)
kill -KILL "$pid1"
wait_new_dp "$pid1"
rc=$?
t1=$(date +%s.%N)
proxied2=$(dp_status "$st[\"adopted_proxied\"]")
[ "$rc" -eq 0 ] && [ "$(dp_status "$st[\"adopted\"]")" = True ] &&
	[ "${proxied2:-0}" -ge $((N_DL + N_IDLE)) ]
check $? "restart 2, kill -9: moatd started the next moat-dp in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; it adopted $(dp_status "$st[\"adopted_flows\"]") flows ($proxied2 proxied)"
sleep 4

mv -f "$LAB_DIR/bin/moat-dp.new" "$LAB_DIR/bin/moat-dp"
new_ino=$(stat -c %i "$LAB_DIR/bin/moat-dp")
mctl restart >"$LAB_DIR/restart3.txt" 2>&1
rc=$?
pid3=$(dp_status 's["moat_dp"]["pid"]')
proxied3=$(dp_status "$st[\"adopted_proxied\"]")
[ "$rc" -eq 0 ] && [ "$(stat -L -c %i "/proc/$pid3/exe" 2>/dev/null)" = "$new_ino" ] &&
	[ "$(dp_status "$st[\"adopted\"]")" = True ] && [ "${proxied3:-0}" -ge $((N_DL + N_IDLE)) ]
check $? "restart 3, upgrade ($upgrade_how): the new binary runs and adopted the flows: $(tr '\n' ' ' <"$LAB_DIR/restart3.txt")"

for p in "${DL_PIDS[@]}"; do wait "$p"; done
whole=$(downloads_whole r1 "$N_DL")
[ "$whole" -eq "$N_DL" ]
check $? "$whole/$N_DL downloads of $MB MB arrived whole (sha256) across the three restarts"
idle_answered r1
answered=$ANSWERED
[ "$answered" -eq "$N_IDLE" ]
check $? "$answered/$N_IDLE idle connections answered a second request on the same socket ($(cat "$LAB_DIR/r1.idle.json" 2>/dev/null | head -c 300))"
sleep 1
kill -INT "$RSTW_cli" "$RSTW_srv" 2>/dev/null
wait "$RSTW_cli" "$RSTW_srv" 2>/dev/null
rst_c=$(rst_count cli) rst_s=$(rst_count srv)
[ "$rst_c" -eq 0 ] && [ "$rst_s" -eq 0 ]
check $? "no RST seen by either end (client $rst_c, server $rst_s)"
planned=$(dp_status 's["moat_dp_planned_restarts"]') crashes=$(dp_status 's["moat_dp_restarts"]')
[ "$planned" = 2 ] && [ "$crashes" = 1 ]
check $? "moatd counted 2 planned restarts and 1 after a death (planned $planned, restarts $crashes)"
path=$(dp_status 's["moat_dp"]["state"]["path"]')
stop_moatd
[ -n "$path" ] && [ ! -e "$path" ]
check $? "moatd's stop stopped moat-dp, which removed its state file $path"

# ---- Run 2: the table not adopted; connections left to pickup -------------------
write_config auto
start_moatd run2
check $? "moatd started moat-dp again (syn_cookies: auto)"
idle_open a 10
downloads a 5 900K
a_pids=("${DL_PIDS[@]}")
sleep 1
write_config always
mctl reload >/dev/null
idle_open b 10
downloads b 5 900K
b_pids=("${DL_PIDS[@]}")
sleep 2
# Back to auto before the restart: with cookies engaged, an ACK of an unknown flow
# to port 80 is a cookie ACK or cookie_invalid, never a pickup (docs/engine.md), so
# the idle clients' next requests would be dropped whatever the table.
write_config auto
mctl reload >/dev/null
flows=$(mctl flows -j | tr -d ' \n' | head -c 300)
mctl restart --fresh >"$LAB_DIR/fresh.txt" 2>&1
lost=$(dp_status "$st[\"lost_proxied\"]") left=$(dp_status "$st[\"left_to_pickup\"]")
[ "$(dp_status "$st[\"adopted\"]")" = False ] && [ "${lost:-0}" -eq 15 ] && [ "${left:-0}" -ge 15 ]
check $? "restart --fresh: not adopted; the 15 proxied connections reported lost, the others left to pickup: $(tr '\n' ' ' <"$LAB_DIR/fresh.txt") (flows before: $flows)"
for p in "${a_pids[@]}"; do wait "$p"; done
whole=$(downloads_whole a 5)
[ "$whole" -eq 5 ]
check $? "not proxied: $whole/5 downloads arrived whole, picked up mid-stream"
idle_answered a
answered=$ANSWERED
[ "$answered" -eq 10 ]
check $? "not proxied: $answered/10 idle connections answered on the same socket ($(head -c 300 "$LAB_DIR/a.idle.json" 2>/dev/null))"
picked=$("$ctl" stats -j --socket "$LAB_DIR/dp.sock" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["reasons"]["pickup"])')
[ "${picked:-0}" -gt 0 ]
check $? "the new moat-dp picked them up (pickup $picked)"
for p in "${b_pids[@]}"; do kill "$p" 2>/dev/null; done
stop_moatd
lab_finish
