#!/usr/bin/env bash
# The control plane against a live lab (tests/lab/lab_lib.sh): moatd attached
# natively to the server's veth, driven through moatctl and signals.
#   control_lab.sh BUILD_DIR
# Asserts:
#  1. moatctl block/unblock/allow/unallow change what XDP does at once (client
#     refused and counted denylisted, attacker counted allowlisted), and the
#     exit codes: bad CIDR 2 (one line), unblock of an absent CIDR 1, unknown
#     command 2, no daemon on the socket 3, every command's --help 0;
#  2. reload (moatctl and SIGHUP): a good file is live at once, a bad one is
#     refused (exit 1, FILE:LINE: key ...) and the old policy stays; 20 mixed
#     reloads under a request loop and a rate-limited 16 MB download lose
#     nothing;
#  3. kill -9 of moatd: XDP stays attached and keeps answering a SYN flood with
#     cookies (pinned counters read with bpftool), a restarted moatd adopts the
#     pinned maps (counters never go back, same cookie secrets), and a request
#     loop across the kill and the restart succeeds >= 99%;
#  4. the control socket is 0600, and a non-root peer is refused both by the
#     file mode and (with CAP_DAC_OVERRIDE) by moatd's own peer check.
set -uo pipefail
build=$(cd "${1:?usage: control_lab.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-mctl$$}
. "$here/lab_lib.sh"

lab_require nginx hping3 curl nsenter bpftool setpriv sha256sum
[ -x "$build/control/moatd" ] && [ -x "$build/control/moatctl" ] ||
	{ echo "SKIP: moatd/moatctl not built in $build"; exit 77; }

PY=/usr/bin/python3
CTL=$build/control/moatctl
SOCK=$LAB_DIR/moatd.sock
CONF=$LAB_DIR/moat.yaml
PIN=/sys/fs/bpf/$LAB
MY_PIDS=()
cleanup() {
	local pid
	touch "$LAB_DIR/stop" 2>/dev/null
	for pid in "${MY_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${MY_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	lab_down
	[ -d "$PIN" ] && rm -rf "$PIN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mctl() { "$CTL" "$@" --socket "$SOCK"; }
# Counter from a `moatctl stats -j` file (reasons.NAME).
reason() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["reasons"][sys.argv[2]])' "$1" "$2"; }
stats() { mctl stats -j >"$1"; }
# Every reason counter of file $2 >= the same counter in file $1 (prints the ones that went back).
counters_ge() {
	$PY - "$1" "$2" <<'EOP'
import json, sys
a = json.load(open(sys.argv[1]))["reasons"]; b = json.load(open(sys.argv[2]))["reasons"]
back = [f"{k} {a[k]}->{b.get(k)}" for k in a if b.get(k, -1) < a[k]]
print(", ".join(back))
sys.exit(1 if back else 0)
EOP
}
# Sum over CPUs of reason index $1 in the pinned counters map, read by bpftool.
pinned_reason() {
	bpftool -j map dump pinned "$PIN/moat_reasons" | $PY -c '
import json, sys
want = int(sys.argv[1])
def num(v):
    return v if isinstance(v, int) else int.from_bytes(bytes(int(x, 16) for x in v), "little")
for e in json.load(sys.stdin):
    f = e.get("formatted", e)
    if num(f["key"]) == want:
        print(sum(num(c["value"]) for c in f["values"]))
        break' "$1"
}
secrets_dump() { bpftool -j map dump pinned "$PIN/moat_secrets" | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))'; }
get() { in_ns "$1" curl -fs -o /dev/null --connect-timeout "${3:-3}" -m "${3:-3}" "http://$SRV4/${2:-}"; }

# One request every 50 ms from the client until $LAB_DIR/stop exists; writes "ok total" to $1.
request_loop() {
	local ok=0 n=0
	while [ ! -e "$LAB_DIR/stop" ]; do
		n=$((n + 1))
		if in_ns "$LAB_CLI" curl -fs -o /dev/null -m 5 "http://$SRV4/"; then
			ok=$((ok + 1))
		else
			echo "request $n failed at $(date +%T.%N)" >>"$1.log"
		fi
		sleep 0.05
	done
	echo "$ok $n" >"$1"
}
loop_start() { rm -f "$LAB_DIR/stop" "$1" "$1.log"; request_loop "$1" & LOOP=$!; MY_PIDS+=("$LOOP"); }
loop_stop() { touch "$LAB_DIR/stop"; wait "$LOOP"; read -r LOOP_OK LOOP_N <"$1"; }

start_moatd() { # log file; waits until moatd answers (the socket file may be stale)
	lab_bg "$LAB_SRV" "$build/control/moatd" --config "$CONF" --socket "$SOCK" 2>>"$1"
	MOATD=$LAB_LAST_PID
	lab_wait_ready "$MOATD" "$SOCK" "$CTL" "$1"
}

base_conf() { # extra YAML lines on stdin replace or add top-level keys
	local extra line
	extra=$(cat)
	for line in "interfaces: [s0]" "protect_ports: [80]" "syn_cookies: always" "pin_dir: $PIN" \
		"event_sample: 1" "cookie_rotate: 10"; do
		grep -q "^${line%%:*}:" <<<"$extra" || echo "$line"
	done
	[ -n "$extra" ] && echo "$extra"
	return 0
}
write_conf() { base_conf >"$CONF.tmp"; mv "$CONF.tmp" "$CONF"; }

lab_up
lab_xdp_pass_on_router "$build/tests/lab/xdp_pass.bpf.o"
lab_nginx || exit 1
write_conf </dev/null
start_moatd "$LAB_DIR/moatd.log"
check $? "moatd started on $LAB_SRV/s0 (pin_dir $PIN) and answers on $SOCK"
[ "$fail" -eq 0 ] || { echo "moatd did not start: nothing else to test"; exit 1; }
in_ns "$LAB_SRV" ip -d link show s0 | grep -q "prog/xdp"
check $? "XDP attached to the server's veth"

# ---- 1. CLI round trips -----------------------------------------------------
echo "== moatctl commands"
get "$LAB_CLI"
check $? "client request before any list change"
stats "$LAB_DIR/a0.json"
out=$(mctl block "$CLI4/32" 2>&1)
rc=$?
check $rc "moatctl block $CLI4/32: exit $rc ($out)"
get "$LAB_CLI" "" 2
rc=$?
stats "$LAB_DIR/a1.json"
den=$(( $(reason "$LAB_DIR/a1.json" denylisted) - $(reason "$LAB_DIR/a0.json" denylisted) ))
check $(( rc != 0 && den > 0 ? 0 : 1 )) "blocked client's request fails (curl exit $rc), denylisted +$den"
out=$(mctl unblock "$CLI4/32" 2>&1)
rc=$?
check $rc "moatctl unblock $CLI4/32: exit $rc ($out)"
ok=0
for i in 1 2 3; do get "$LAB_CLI" && ok=$((ok + 1)); done
check $(( ok == 3 ? 0 : 1 )) "after unblock the client's requests succeed again: $ok/3"

stats "$LAB_DIR/b0.json"
mctl allow "$ATK4" >/dev/null
rc=$?
get "$LAB_ATK"
arc=$?
stats "$LAB_DIR/b1.json"
alw=$(( $(reason "$LAB_DIR/b1.json" allowlisted) - $(reason "$LAB_DIR/b0.json" allowlisted) ))
check $(( rc == 0 && arc == 0 && alw >= 4 ? 0 : 1 )) "moatctl allow $ATK4 (exit $rc): attacker's request (curl exit $arc) counted allowlisted +$alw"
mctl unallow "$ATK4/32" >/dev/null
rc=$?
get "$LAB_ATK"
arc=$?
stats "$LAB_DIR/b2.json"
alw=$(( $(reason "$LAB_DIR/b2.json" allowlisted) - $(reason "$LAB_DIR/b1.json" allowlisted) ))
cv=$(( $(reason "$LAB_DIR/b2.json" cookie_valid) - $(reason "$LAB_DIR/b1.json" cookie_valid) ))
check $(( rc == 0 && arc == 0 && alw == 0 && cv >= 1 ? 0 : 1 )) "moatctl unallow $ATK4/32 (exit $rc): attacker's next request allowlisted +$alw, cookie_valid +$cv"

# limits, live: shown as set, enforced at once, set back
mctl limits set source_syn_rate=1 source_syn_burst=1 >/dev/null
rc=$?
shown=$(mctl limits show -j | $PY -c 'import json,sys; l=json.load(sys.stdin)["limits"]; print(l["source_syn_rate"], l["source_syn_burst"])')
stats "$LAB_DIR/l0.json"
burst=()
for i in 1 2 3 4 5 6; do get "$LAB_CLI" "" 1 & burst+=("$!"); done
wait "${burst[@]}"
stats "$LAB_DIR/l1.json"
limited=$(( $(reason "$LAB_DIR/l1.json" source_rate) - $(reason "$LAB_DIR/l0.json" source_rate) ))
mctl limits set source_syn_rate=0 source_syn_burst=0 >/dev/null
sleep 1
get "$LAB_CLI"
after=$?
check $(( rc == 0 && limited > 0 && after == 0 ? 0 : 1 )) \
	"moatctl limits set source_syn_rate=1 source_syn_burst=1 (xdp): shown '$shown', 6 parallel connects gave source_rate +$limited; set back to 0, a request passes (curl exit $after)"
mctl limits set source_syn_rat=5 >/dev/null 2>"$LAB_DIR/e"
rc=$?
check $(( rc == 1 ? 0 : 1 )) "limits set with an unknown key: exit $rc: $(cat "$LAB_DIR/e")"
mctl limits frob >/dev/null 2>&1
rc=$?
check $(( rc == 2 ? 0 : 1 )) "limits with neither show nor set: usage, exit $rc"

# events: the recent ones, then -f follows new ones (event_sample: 1 here)
lab_bg "$LAB_SRV" sh -c "exec '$CTL' events -f --socket '$SOCK' >'$LAB_DIR/events.out'"
evp=$LAB_LAST_PID
sleep 0.5
mctl block "$CLI4/32" >/dev/null
get "$LAB_CLI" "" 1
mctl unblock "$CLI4/32" >/dev/null
sleep 0.5
kill "$evp" 2>/dev/null
wait "$evp" 2>/dev/null
$PY -c 'import json,sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
deny = [e for e in ev if e["reason"] == "denylisted" and e["src"] == sys.argv[2]]
print(f"{len(ev)} events, {len(deny)} denylisted from {sys.argv[2]}")
sys.exit(not deny)' "$LAB_DIR/events.out" "$CLI4" >"$LAB_DIR/ev.check" 2>&1
check $? "moatctl events -f (xdp): JSON lines as they happen ($(tail -n 1 "$LAB_DIR/ev.check"))"
mctl events >"$LAB_DIR/recent.out"
check $(( $(wc -l <"$LAB_DIR/recent.out") > 0 ? 0 : 1 )) "moatctl events (no -f): the recent events, then exit ($(wc -l <"$LAB_DIR/recent.out") lines)"

# flows: the host's sockets (sock_diag), counted per state and listed with a filter
mctl flows -j --state LISTEN --port 80 >"$LAB_DIR/flows.json" 2>&1
$PY -c 'import json,sys
j = json.load(open(sys.argv[1]))
l = [(f["local"], f["lport"], f["state"]) for f in j["list"]]
print("LISTEN %d, listed %s" % (j["flows"]["LISTEN"], l))
sys.exit(not (j["flows"]["LISTEN"] >= 1 and l and all(p == 80 and s == "LISTEN" for _, p, s in l)))' "$LAB_DIR/flows.json" >"$LAB_DIR/flows.check" 2>&1
check $? "moatctl flows --state LISTEN --port 80 (xdp: the host's sockets): $(cat "$LAB_DIR/flows.check")"
mctl flows --state BOGUS >/dev/null 2>"$LAB_DIR/e"
rc=$?
check $(( rc == 1 ? 0 : 1 )) "flows with an unknown state: exit $rc: $(cat "$LAB_DIR/e")"

for bad in 10.0.0.300/8 10.0.0.0/33 bogus 10.0.0.0/; do
	mctl block "$bad" >"$LAB_DIR/o" 2>"$LAB_DIR/e"
	rc=$?
	lines=$(wc -l <"$LAB_DIR/e")
	check $(( rc == 2 && lines == 1 && ! $(wc -c <"$LAB_DIR/o") ? 0 : 1 )) \
		"block '$bad': exit $rc, $lines stderr line: $(head -c 120 "$LAB_DIR/e")"
	grep -qF "'$bad'" "$LAB_DIR/e" || check 1 "block '$bad': the message names the input"
done
mctl unblock 192.0.2.0/24 >/dev/null 2>"$LAB_DIR/e"
rc=$?
check $(( rc == 1 ? 0 : 1 )) "unblock of an absent CIDR: exit $rc: $(cat "$LAB_DIR/e")"
mctl unallow 192.0.2.9 >/dev/null 2>"$LAB_DIR/e"
rc=$?
check $(( rc == 1 ? 0 : 1 )) "unallow of an absent address: exit $rc: $(cat "$LAB_DIR/e")"
"$CTL" frobnicate >/dev/null 2>"$LAB_DIR/e"
rc=$?
check $(( rc == 2 ? 0 : 1 )) "unknown command: exit $rc: $(cat "$LAB_DIR/e")"
mctl block >/dev/null 2>&1
rc=$?
check $(( rc == 2 ? 0 : 1 )) "block without a CIDR: exit $rc"
"$CTL" status --socket "$LAB_DIR/no-such-dir/moatd.sock" >/dev/null 2>"$LAB_DIR/e"
rc=$?
check $(( rc == 3 ? 0 : 1 )) "--socket to a missing path: exit $rc: $(cat "$LAB_DIR/e")"
$PY -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$LAB_DIR/stale.sock"
"$CTL" stats --socket "$LAB_DIR/stale.sock" >/dev/null 2>"$LAB_DIR/e"
rc=$?
check $(( rc == 3 ? 0 : 1 )) "--socket to a stale socket file (no listener): exit $rc"
bad_help=""
for cmd in explain status stats flows block unblock allow unallow reload top limits events version help; do
	"$CTL" "$cmd" --help >/dev/null 2>&1 || bad_help="$bad_help $cmd($?)"
done
"$CTL" --help >/dev/null 2>&1 || bad_help="$bad_help --help($?)"
check $([ -z "$bad_help" ] && echo 0 || echo 1) "every command's --help exits 0${bad_help:+; not:$bad_help}"

# ---- 2. reload -------------------------------------------------------------------
echo "== reload"
write_conf <<EOC
deny: [$ATK4/32]
EOC
mctl block 198.51.100.0/24 >/dev/null
stats "$LAB_DIR/c0.json"
mctl reload >"$LAB_DIR/o" 2>"$LAB_DIR/e"
rc=$?
get "$LAB_ATK" "" 2
arc=$?
get "$LAB_CLI"
crc=$?
stats "$LAB_DIR/c1.json"
den=$(( $(reason "$LAB_DIR/c1.json" denylisted) - $(reason "$LAB_DIR/c0.json" denylisted) ))
check $(( rc == 0 && arc != 0 && crc == 0 && den > 0 ? 0 : 1 )) \
	"reload of a good file (deny $ATK4/32): exit $rc, attacker refused (curl $arc, denylisted +$den), client ok (curl $crc)"
mctl unblock 198.51.100.0/24 >/dev/null 2>&1
rc=$?
check $(( rc == 1 ? 0 : 1 )) "a live 'block' lasts until the reload: unblock afterwards exits $rc"

write_conf <<EOC
deny: [$ATK4/32]
syn_cookies: sometimes
EOC
badline=$(grep -n '^syn_cookies: sometimes' "$CONF" | cut -d: -f1)
mctl reload >/dev/null 2>"$LAB_DIR/e"
rc=$?
err=$(cat "$LAB_DIR/e")
grep -qF "$CONF:$badline: key 'syn_cookies':" "$LAB_DIR/e"
m=$?
check $(( rc == 1 && m == 0 ? 0 : 1 )) "reload of a bad file: exit $rc, stderr: $err"
stats "$LAB_DIR/c2.json"
get "$LAB_ATK" "" 2
arc=$?
get "$LAB_CLI"
crc=$?
stats "$LAB_DIR/c3.json"
den=$(( $(reason "$LAB_DIR/c3.json" denylisted) - $(reason "$LAB_DIR/c2.json" denylisted) ))
kill -0 "$MOATD" 2>/dev/null
alive=$?
check $(( arc != 0 && crc == 0 && den > 0 && alive == 0 ? 0 : 1 )) \
	"after the refused reload the old policy stays: attacker refused (denylisted +$den), client ok, moatd alive"

# SIGHUP with a good file: the attacker's deny entry goes away.
write_conf <<EOC
deny: [198.51.100.0/24]
EOC
n0=$(grep -c 'reloaded' "$LAB_DIR/moatd.log")
kill -HUP "$MOATD"
for i in $(seq 1 50); do [ "$(grep -c 'reloaded' "$LAB_DIR/moatd.log")" -gt "$n0" ] && break; sleep 0.1; done
n1=$(grep -c 'reloaded' "$LAB_DIR/moatd.log")
stats "$LAB_DIR/c4.json"
get "$LAB_ATK"
arc=$?
stats "$LAB_DIR/c5.json"
den=$(( $(reason "$LAB_DIR/c5.json" denylisted) - $(reason "$LAB_DIR/c4.json" denylisted) ))
check $(( n1 > n0 && arc == 0 && den == 0 ? 0 : 1 )) "SIGHUP reloads a good file: attacker's request now succeeds (curl $arc, denylisted +$den)"
write_conf <<EOC
syn_cookies: sometimes
EOC
kill -HUP "$MOATD"
for i in $(seq 1 50); do grep -q 'SIGHUP: reload refused' "$LAB_DIR/moatd.log" && break; sleep 0.1; done
get "$LAB_CLI"
crc=$?
badline=$(grep -n '^syn_cookies: sometimes' "$CONF" | cut -d: -f1)
grep -q "SIGHUP: reload refused.*$CONF:$badline: key 'syn_cookies'" "$LAB_DIR/moatd.log"
check $(( $? == 0 && crc == 0 ? 0 : 1 )) "SIGHUP with a bad file is refused in the log, moatd still serves: $(grep 'SIGHUP' "$LAB_DIR/moatd.log" | tail -1)"

# 20 reloads, good and bad mixed, under a request loop and a long download.
good=(
	"deny: [198.51.100.0/24]"
	"protect_ports: [80, 443]"
	"deny: [203.0.113.0/24, 2001:db8::/32]\nallow: [192.0.2.0/24]"
	"limits: {source_syn_rate: 10000, source_syn_burst: 10000}"
	"rst_policy: strict"
)
bad=(
	"syn_cookies: sometimes"
	"interfaces: [s0, lo]"
	"deny: [10.0.0.300/8]"
	"bogus_key: 1"
	"limits: {source_syn_rate: fast}"
)
stats "$LAB_DIR/rot0.json"
loop_start "$LAB_DIR/r.loop"
sleep 0.3
in_ns "$LAB_CLI" curl -fs -m 60 --limit-rate 1M -o "$LAB_DIR/big.got" "http://$SRV4/big.bin" &
dl=$!
MY_PIDS+=("$dl")
sleep 0.3
good_ok=0 bad_ok=0 ngood=0 nbad=0 odd="" t0=$(date +%s.%N)
for i in $(seq 0 19); do
	if [ $((i % 3)) -eq 1 ]; then
		printf '%b\n' "${bad[$((i % 5))]}" | base_conf >"$CONF"
		mctl reload >/dev/null 2>"$LAB_DIR/e"
		rc=$?
		nbad=$((nbad + 1))
		# Keys fixed at start are refused naming the file (no line); the rest FILE:LINE: key.
		if [ $((i % 5)) -eq 1 ]; then want="$CONF: interfaces, pin_dir and xdp_mode apply at start"; else want="$CONF:[0-9]*: .*key '"; fi
		[ "$rc" -eq 1 ] && grep -q "$want" "$LAB_DIR/e" && bad_ok=$((bad_ok + 1)) || odd="$odd bad#$i:rc=$rc:$(head -c 100 "$LAB_DIR/e")"
	else
		printf '%b\n' "${good[$((i % 5))]}" | base_conf >"$CONF"
		if [ $((i % 4)) -eq 0 ]; then
			n0=$(grep -c 'reloaded' "$LAB_DIR/moatd.log")
			kill -HUP "$MOATD"
			for j in $(seq 1 30); do [ "$(grep -c 'reloaded' "$LAB_DIR/moatd.log")" -gt "$n0" ] && break; sleep 0.05; done
			[ "$(grep -c 'reloaded' "$LAB_DIR/moatd.log")" -gt "$n0" ] && rc=0 || rc=9
		else
			mctl reload >/dev/null 2>"$LAB_DIR/e"
			rc=$?
		fi
		ngood=$((ngood + 1))
		[ "$rc" -eq 0 ] && good_ok=$((good_ok + 1)) || odd="$odd good#$i:rc=$rc"
	fi
	sleep 0.15
done
kill -0 "$dl" 2>/dev/null
inflight=$?
t_reloads=$(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo "?")
wait "$dl"
dl_rc=$?
loop_stop "$LAB_DIR/r.loop"
check $(( good_ok == ngood && bad_ok == nbad ? 0 : 1 )) "20 reloads: $good_ok/$ngood good accepted, $bad_ok/$nbad bad refused with their error, in ${t_reloads%???????} s${odd:+ (odd:$odd)}"
stats "$LAB_DIR/rot1.json"
rot=$(( $($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["cookies"]["secret_rotations"] - json.load(open(sys.argv[2]))["cookies"]["secret_rotations"])' "$LAB_DIR/rot1.json" "$LAB_DIR/rot0.json") ))
check $(( rot >= 1 && LOOP_OK == LOOP_N ? 0 : 1 )) "secret rotation under traffic (cookie_rotate: 10): $rot rotation(s) while $LOOP_OK/$LOOP_N cookie handshakes succeeded"
check $(( LOOP_N > 20 && LOOP_OK == LOOP_N ? 0 : 1 )) "requests during the reloads: $LOOP_OK/$LOOP_N succeeded$([ -s "$LAB_DIR/r.loop.log" ] && echo "; $(head -3 "$LAB_DIR/r.loop.log" | tr '\n' ' ')")"
sum_got=$(sha256sum <"$LAB_DIR/big.got" 2>/dev/null | cut -c1-64)
sum_want=$(sha256sum <"$LAB_DIR/www/big.bin" | cut -c1-64)
check $(( inflight == 0 && dl_rc == 0 && ${#sum_got} == 64 ? 0 : 1 )) \
	"16 MB download in flight across all 20 reloads: curl exit $dl_rc, still running after the last reload: $([ $inflight -eq 0 ] && echo yes || echo no)"
[ "$sum_got" = "$sum_want" ]
check $? "download sha256 matches (${sum_got:0:16}...)"

# ---- 3. kill -9 ----------------------------------------------------------------
echo "== kill -9 of moatd"
write_conf </dev/null
mctl reload >/dev/null
stats "$LAB_DIR/kpre.json"
loop_start "$LAB_DIR/k.loop"
sleep 1
stats "$LAB_DIR/k0.json"
sec0=$(secrets_dump)
prog0=$(in_ns "$LAB_SRV" ip -j -d link show s0 | $PY -c 'import json,sys; print(json.load(sys.stdin)[0].get("xdp",{}).get("prog",{}).get("id",""))')
kill -9 "$MOATD"
wait "$MOATD" 2>/dev/null
sleep 0.3
in_ns "$LAB_SRV" ip -d link show s0 | grep -q "prog/xdp"
check $? "after kill -9 the XDP program stays attached (prog id $prog0)"
mctl status >/dev/null 2>&1
rc=$?
check $(( rc == 3 ? 0 : 1 )) "moatctl with moatd dead (stale socket file): exit $rc"
syn0=$(pinned_reason 5)
in_ns "$LAB_ATK" timeout -s INT 2 hping3 -q -S -p 80 --flood --rand-source "$SRV4" >"$LAB_DIR/hping.out" 2>&1
syn1=$(pinned_reason 5)
sent=$(grep -o '[0-9]* packets transmitted' "$LAB_DIR/hping.out" | awk '{print $1}')
check $(( ${syn1:-0} - ${syn0:-0} > 1000 ? 0 : 1 )) \
	"no daemon, SYN flood burst ($sent sent): pinned syn_cookie ${syn0:-?} -> ${syn1:-?} (+$(( ${syn1:-0} - ${syn0:-0} )), read with bpftool)"
start_moatd "$LAB_DIR/moatd2.log"
check $? "moatd restarted with the same config and pin_dir"
stats "$LAB_DIR/k1.json"
back=$(counters_ge "$LAB_DIR/k0.json" "$LAB_DIR/k1.json")
rc=$?
sc0=$(reason "$LAB_DIR/k0.json" syn_cookie) sc1=$(reason "$LAB_DIR/k1.json" syn_cookie)
check $(( rc == 0 && sc1 >= ${syn1:-0} ? 0 : 1 )) \
	"counters adopted, none went back: syn_cookie $sc0 before the kill, ${syn1:-?} pinned, $sc1 after the restart${back:+; went back: $back}"
grep -q "adopted the SYN cookie secrets already in $PIN" "$LAB_DIR/moatd2.log"
check $? "restarted moatd logs that it adopted the cookie secrets"
sec1=$(secrets_dump)
[ -n "$sec0" ] && [ "$sec0" = "$sec1" ]
check $? "cookie secrets in the pinned map unchanged across kill -9 and restart"
prog1=$(in_ns "$LAB_SRV" ip -j -d link show s0 | $PY -c 'import json,sys; print(json.load(sys.stdin)[0].get("xdp",{}).get("prog",{}).get("id",""))')
ntc=$(in_ns "$LAB_SRV" tc filter show dev s0 ingress | grep -c 'handle 0x6d6f')
check $(( ${#prog1} > 0 && prog1 != prog0 && ntc == 1 ? 0 : 1 )) "restart replaced the XDP program (id $prog0 -> $prog1), $ntc TC filter on s0"
sleep 1
loop_stop "$LAB_DIR/k.loop"
check $(( LOOP_N > 20 && LOOP_OK * 100 >= LOOP_N * 99 ? 0 : 1 )) \
	"requests across the kill, the flood and the restart: $LOOP_OK/$LOOP_N (>= 99%)$([ -s "$LAB_DIR/k.loop.log" ] && echo "; $(head -3 "$LAB_DIR/k.loop.log" | tr '\n' ' ')")"
stats "$LAB_DIR/k2.json"
cv=$(( $(reason "$LAB_DIR/k2.json" cookie_valid) - $(reason "$LAB_DIR/kpre.json" cookie_valid) ))
check $(( cv >= LOOP_OK ? 0 : 1 )) "those handshakes completed through cookies: cookie_valid +$cv"

# limits set live outlive moatd (pinned map moat_live_limits); a reload returns to the file's.
# Killed again, with moat_secrets replaced by one of an older layout (an array, as
# moat had before): the new moatd replaces that pin and carries its secrets over.
mctl limits set prefix_syn_rate=987654 source_concurrent=4321 >/dev/null
check $? "limits set prefix_syn_rate=987654 source_concurrent=4321"
kill -9 "$MOATD"
wait "$MOATD" 2>/dev/null
rm -f "$PIN/moat_secrets"
bpftool map create "$PIN/moat_secrets" type array key 4 value 32 entries 1 name moat_secrets &&
	bpftool map update pinned "$PIN/moat_secrets" key 0 0 0 0 \
		value $(printf '0x11 %.0s' $(seq 16)) $(printf '0x22 %.0s' $(seq 16))
check $? "an older layout's moat_secrets (array, value 0x11 x16 | 0x22 x16) pinned in its place"
start_moatd "$LAB_DIR/moatd3.log"
check $? "moatd restarted over it"
shown=$(mctl limits show -j | $PY -c 'import json,sys; l=json.load(sys.stdin)["limits"]; print(l["prefix_syn_rate"], l["source_concurrent"])')
[ "$shown" = "987654 4321" ] && grep -q "set again the limits set live" "$LAB_DIR/moatd3.log"
check $? "limits set live before kill -9 are in force after the restart: $shown ($(grep -o 'set again the limits[^(]*' "$LAB_DIR/moatd3.log"))"
sec=$(bpftool -j map lookup pinned "$PIN/moat_secrets" key 0 0 0 0 | $PY -c '
import json, sys
v = json.load(sys.stdin)
v = v.get("value", v)
print(bytes(int(x, 16) for x in v).hex() if isinstance(v, list) else v)' 2>/dev/null)
grep -q "moat_secrets was pinned by another version of moat.*cookie secrets carried over" "$LAB_DIR/moatd3.log" &&
	[[ "$sec" == *11111111111111111111111111111111* ]]
check $? "the older moat_secrets was replaced (now $(bpftool -j map show pinned "$PIN/moat_secrets" | $PY -c 'import json,sys; m=json.load(sys.stdin); print(m["type"], m.get("flags"))')) and its secrets carried over (${sec:0:16}...)"
get "$LAB_CLI"
check $? "a request passes after the restart (cookies from the carried secrets)"
mctl reload >/dev/null
shown=$(mctl limits show -j | $PY -c 'import json,sys; l=json.load(sys.stdin)["limits"]; print(l["prefix_syn_rate"], l["source_concurrent"])')
rec=$(bpftool -j map lookup pinned "$PIN/moat_live_limits" key 0 0 0 0 | $PY -c '
import json, sys
v = json.load(sys.stdin)
f = v.get("formatted", {}).get("value", {}).get("json")
print(repr(f) if f is not None else bytes(int(x, 16) for x in v["value"]).split(b"\0")[0].decode())')
[ "$shown" != "987654 4321" ]
check $? "a reload returns to the file's limits ($shown) and empties the record (now $rec)"

# ---- 4. socket permissions ------------------------------------------------------
echo "== control socket"
mode=$(stat -c %a "$SOCK")
check $([ "$mode" = 600 ] && echo 0 || echo 1) "control socket mode $mode (want 600), owner $(stat -c %U "$SOCK")"
setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" status --socket "$SOCK" >/dev/null 2>"$LAB_DIR/e"
rc=$?
check $(( rc != 0 && rc != 3 ? 0 : 1 )) "user nobody refused by the socket's mode: exit $rc: $(cat "$LAB_DIR/e")"
# Past the file mode (CAP_DAC_OVERRIDE), moatd's own SO_PEERCRED check must refuse.
nobody_dac() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+dac_override --ambient-caps=+dac_override "$@"; }
reply=$(nobody_dac $PY -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    s.sendall(b"{\"cmd\":\"block\",\"cidr\":\"0.0.0.0/0\"}\n")
except OSError as e:
    pass
print(s.recv(4096).decode().strip())' "$SOCK" 2>&1)
grep -q '"ok":false.*permission denied' <<<"$reply"
check $? "nobody with CAP_DAC_OVERRIDE, raw request: moatd refuses: $reply"
codes=""
for i in 1 2 3 4 5; do
	nobody_dac "$CTL" block 0.0.0.0/0 --socket "$SOCK" >/dev/null 2>"$LAB_DIR/e"
	rc=$?
	grep -q 'permission denied' "$LAB_DIR/e" || rc="$rc(no message)"
	codes="$codes $rc"
done
check $([ "$codes" = " 1 1 1 1 1" ] && echo 0 || echo 1) "nobody with CAP_DAC_OVERRIDE through moatctl, 5 tries: exit codes$codes (want 1 with moatd's message each time)"
get "$LAB_CLI"
crc=$?
mctl status >/dev/null
check $(( $? == 0 && crc == 0 ? 0 : 1 )) "moatd still answers root and nothing was blocked (client curl $crc)"

# block --ttl: the entry leaves the deny list by itself.
mctl block "$CLI4/32" --ttl 2 >"$LAB_DIR/ttl.out" 2>&1
brc=$?
# 1 s: the SYN and no retransmission (1 s later) fall inside the 2 s; a 3 s try
# could connect with the retransmission at 3 s, after the entry left.
get "$LAB_CLI" "" 1
during=$?
sleep 3.5
get "$LAB_CLI"
after=$?
check $(( brc == 0 && during != 0 && after == 0 ? 0 : 1 )) "block --ttl 2: the client is refused, then served again after the ttl (block exit $brc, curl $during, then $after)"
mctl block "$CLI4/32" --ttl 0 >/dev/null 2>&1
check $(( $? == 2 ? 0 : 1 )) "block --ttl 0 refused as a usage error (exit 2)"

# moatctl top: a SYN flood from one address shows at the top, with its rate.
in_ns "$LAB_ATK" timeout -s INT 4 hping3 -q -S -p 80 -i u500 "$SRV4" >/dev/null 2>&1 &
flood=$!
sleep 1
mctl top -j -n 2 -d 1 >"$LAB_DIR/top.json"
wait "$flood" 2>/dev/null
$PY -c '
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
top = last["sources"][0] if last["sources"] else {}
ok = top.get("source") == sys.argv[2] and top["syn_per_s"] > 100 and last["rates"]["syn_cookie"] > 100
print(top.get("source"), round(top.get("syn_per_s", 0)), round(last["rates"]["syn_cookie"]))
sys.exit(not ok)' "$LAB_DIR/top.json" "$ATK4" >"$LAB_DIR/top.txt"
check $? "moatctl top: the flooding address first, with its SYN rate and the syn_cookie rate ($(cat "$LAB_DIR/top.txt"))"

kill -TERM "$MOATD"
wait "$MOATD" 2>/dev/null
in_ns "$LAB_SRV" ip -d link show s0 | grep -q "prog/xdp"
xdp=$?
ntc=$(in_ns "$LAB_SRV" tc filter show dev s0 ingress | grep -c 'handle 0x6d6f')
check $(( xdp != 0 && ntc == 0 ? 0 : 1 )) "SIGTERM of the restarted moatd detaches XDP and TC ($ntc TC filter left)"

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
