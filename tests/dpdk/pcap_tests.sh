#!/usr/bin/env bash
# moat-dp on net_pcap vdevs (no NIC, no hugepages): real captures in, what left
# each port checked. usage: pcap_tests.sh BUILD_DIR CAPTURES_DIR
set -uo pipefail
build=$(cd "${1:?usage: pcap_tests.sh BUILD_DIR CAPTURES_DIR}" && pwd)
captures=${2:?usage: pcap_tests.sh BUILD_DIR CAPTURES_DIR}
here=$(cd "$(dirname "$0")" && pwd)
dp=$build/dataplane/moat-dp
ctl=$build/control/moatctl
[ -x "$dp" ] || { echo "SKIP: moat-dp not built (libdpdk-dev missing)"; exit 77; }
/usr/bin/python3 -c 'import scapy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no scapy"; exit 77; }

work=$(mktemp -d /tmp/moat-dp-test.XXXXXX)
dp_pid=""
cleanup() {
	[ -n "$dp_pid" ] && kill -INT "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	rm -rf "$work" /var/run/dpdk/moatdp$$* # EAL's runtime folders, one per --file-prefix
}
trap cleanup EXIT INT TERM
pass=0 fail=0
check() { if [ "$1" -eq 0 ]; then pass=$((pass + 1)); echo "ok: $2"; else fail=$((fail + 1)); echo "FAIL: $2"; fi; }

/usr/bin/python3 -c 'from scapy.all import wrpcap; wrpcap("'"$work"'/empty.pcap", [])'

# run_dp NAME CONFIG OUTSIDE_IN.pcap: outside = port 0 (rx from the capture), inside = port 1.
# Waits until every input frame is counted, asks for flows, then SIGINT.
run_dp() {
	local name=$1 cfg=$2 input=$3 n i rx
	n=$(/usr/bin/python3 "$here/check_pcap.py" count "$input")
	"$dp" --no-huge --no-shconf --no-pci --file-prefix "moatdp$$$name" -l 0,1 --log-level=lib.eal:error \
		--vdev "net_pcap0,rx_pcap=$input,tx_pcap=$work/$name.out0.pcap" \
		--vdev "net_pcap1,rx_pcap=$work/empty.pcap,tx_pcap=$work/$name.out1.pcap" \
		-- --config "$cfg" --pair 1:0 --socket "$work/$name.sock" >"$work/$name.totals" 2>"$work/$name.err" &
	dp_pid=$!
	for i in $(seq 1 300); do
		rx=$("$ctl" stats -j --socket "$work/$name.sock" 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rx"])' 2>/dev/null)
		[ "${rx:-0}" -ge "$n" ] && break
		sleep 0.1
	done
	"$ctl" flows -j --socket "$work/$name.sock" >"$work/$name.flows" 2>/dev/null
	"$ctl" flows -j --state ESTABLISHED --port 80 -n 10 --socket "$work/$name.sock" >"$work/$name.list" 2>&1
	kill -INT "$dp_pid"
	wait "$dp_pid"
	DP_RC=$?
	dp_pid=""
	DP_N=$n
}

# 1. The spoofed flood with cookies always: every SYN answered, nothing inside, no state.
cp "$captures/pkt.TCP.synflood.spoofed.pcap" "$work/flood.pcap"
printf 'mode: dpdk\nsyn_cookies: always\nevents: %s\nevent_sample: 100\n' "$work/events.jsonl" >"$work/always.yaml"
run_dp flood "$work/always.yaml" "$work/flood.pcap"
check "$DP_RC" "moat-dp exits 0 on SIGINT after the flood (stderr: $(tail -n1 "$work/flood.err"))"
/usr/bin/python3 "$here/check_pcap.py" cookies "$work/flood.pcap" "$work/flood.out0.pcap"
check $? "flood: the outside port got the cookie SYN-ACKs"
[ "$(/usr/bin/python3 "$here/check_pcap.py" count "$work/flood.out1.pcap")" -eq 0 ]
check $? "flood: nothing reached the inside port"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["flows"]; sys.exit(sum(d.values()) != 0)' "$work/flood.flows"
check $? "flood: no flow state left ($(cat "$work/flood.flows"))"
/usr/bin/python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); sys.exit(not (t["rx"] == int(sys.argv[2]) and t["reasons"]["syn_cookie"] == int(sys.argv[2])))' "$work/flood.totals" "$DP_N"
check $? "flood: totals printed at exit count $DP_N syn_cookie"
/usr/bin/python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
want = int(sys.argv[2]) // 100
ok = len(ev) == want and all(e["reason"] == "syn_cookie" and e["verdict"] == "tx" and "lcore" in e
                             and e["sampled_one_in"] == 100 and e["dport"] == 25565 for e in ev)
print(len(ev), "of", want)
sys.exit(not ok)' "$work/events.jsonl" "$DP_N" >"$work/events.check"
check $? "flood: one JSON event per 100 syn_cookie answers ($(cat "$work/events.check"))"

# 2. The reflection capture with cookies off: what passes is exactly what explain passes,
#    byte for byte; no SYN-ACK nobody asked for crosses.
cp "$captures/amp.TCP.syn.optionallyACK.optionallysamePort.pcapng" "$work/amp.pcapng"
/usr/bin/python3 -c 'from scapy.all import rdpcap, wrpcap; wrpcap("'"$work"'/amp.pcap", rdpcap("'"$work"'/amp.pcapng"))'
printf 'mode: dpdk\nsyn_cookies: off\n' >"$work/off.yaml"
"$ctl" explain --json --config "$work/off.yaml" "$work/amp.pcap" >"$work/amp.explain"
run_dp amp "$work/off.yaml" "$work/amp.pcap"
/usr/bin/python3 "$here/check_pcap.py" same "$work/amp.out1.pcap" "$work/amp.explain" "$work/amp.pcap"
check $? "amp: the inside port got exactly the frames explain passes"
/usr/bin/python3 -c '
import sys
from scapy.all import rdpcap, TCP
sys.exit(any(TCP in p and p[TCP].flags & 0x12 == 0x12 for p in rdpcap(sys.argv[1])))' "$work/amp.out1.pcap"
check $? "amp: no reflected SYN-ACK crossed"

# 2b. The same capture with allow/deny lists over its own sources, nested both ways (a /32
#     allowed inside a denied /16, a /32 denied inside an allowed /16): moat-dp looks them up
#     a burst ahead in its tables, explain scans the lists; again exactly explain's frames.
/usr/bin/python3 - "$work/amp.pcap" >"$work/amp-lists.yaml" <<'PY'
import sys
from scapy.all import IP, rdpcap
nested = {"75.136.225.254", "136.243.174.154"}  # the capture's two busiest sources but one
srcs = sorted({p[IP].src for p in rdpcap(sys.argv[1]) if IP in p} - nested)
print("mode: dpdk\nsyn_cookies: off")
print("deny: [" + ", ".join([s + "/32" for s in srcs[::3]] + ["75.136.0.0/16", "136.243.174.154/32"]) + "]")
print("allow: [" + ", ".join([s + "/32" for s in srcs[1::3]] + ["75.136.225.254/32", "136.243.0.0/16"]) + "]")
PY
"$ctl" explain --json --config "$work/amp-lists.yaml" "$work/amp.pcap" >"$work/amp-lists.explain"
run_dp amp-lists "$work/amp-lists.yaml" "$work/amp.pcap"
/usr/bin/python3 "$here/check_pcap.py" same "$work/amp-lists.out1.pcap" "$work/amp-lists.explain" "$work/amp.pcap"
check $? "amp with lists: the inside port got exactly the frames explain passes"
/usr/bin/python3 -c '
import json, sys
r = [json.loads(l)["reason"] for l in open(sys.argv[1]) if l.strip()]
d, a = r.count("denylisted"), r.count("allowlisted")
print(f"{d} denylisted, {a} allowlisted of {len(r)}")
sys.exit(not (d and a and d + a < len(r)))' "$work/amp-lists.explain" >"$work/amp-lists.check" 2>&1
check $? "amp with lists: both lists decide some frames, others go on ($(cat "$work/amp-lists.check"))"

# 3. A fleet behind ECMP: one node answers the SYN, another (a new process with the
# same secret_file) gets the ACK and must take the cookie; a node without the file
# must not.
/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(32))' >"$work/fleet.key"
chmod 600 "$work/fleet.key"
printf 'mode: dpdk\nsyn_cookies: always\nsecret_file: %s\n' "$work/fleet.key" >"$work/fleet.yaml"
/usr/bin/python3 "$here/check_pcap.py" syn "$work/syn.pcap"
run_dp node_a "$work/fleet.yaml" "$work/syn.pcap"
/usr/bin/python3 "$here/check_pcap.py" ack "$work/syn.pcap" "$work/node_a.out0.pcap" "$work/ack.pcap"
check $? "fleet: node A answered the SYN with a cookie SYN-ACK"
run_dp node_b "$work/fleet.yaml" "$work/ack.pcap"
/usr/bin/python3 -c 'import json,sys
from scapy.all import TCP, rdpcap
t = json.load(open(sys.argv[1]))["reasons"]
syns = [p for p in rdpcap(sys.argv[2]) if TCP in p and p[TCP].flags & 0x12 == 0x02]
print("cookie_valid %d, cookie_invalid %d, SYNs to the server %d" % (t["cookie_valid"], t["cookie_invalid"], len(syns)))
# The SYN proxy sends its SYN twice, the same bytes (dataplane/proxy.c: no RTT
# sample of the proxy'"'"'s own handshake).
sys.exit(not (t["cookie_valid"] == 1 and len(syns) == 2 and bytes(syns[0]) == bytes(syns[1])))' "$work/node_b.totals" "$work/node_b.out1.pcap" >"$work/fleet.check" 2>&1
check $? "fleet: node B (same secret_file) took node A's cookie and opened the connection to the server ($(cat "$work/fleet.check"))"
# explain validates a node's real cookies: the SYN, node A's SYN-ACK and the client's
# ACK as one capture timed by the SYN-ACK's capture time; with the fleet's
# secret_file the ACK is cookie_valid, with explain's own secrets it is not.
/usr/bin/python3 - "$work/syn.pcap" "$work/node_a.out0.pcap" "$work/ack.pcap" "$work/fleet_seen.pcap" <<'PY'
import sys
from scapy.all import rdpcap, wrpcap
syn, synack, ack = (rdpcap(f)[0] for f in sys.argv[1:4])
t = float(synack.time)
syn.time, ack.time = t - 0.0005, t + 0.0005
wrpcap(sys.argv[4], [syn, synack, ack])
PY
printf 'syn_cookies: always\n' >"$work/own.yaml"
for cfg in fleet own; do
	"$ctl" explain --json --config "$work/$cfg.yaml" "$work/fleet_seen.pcap" >"$work/$cfg.explain" 2>&1
	tail -n 1 "$work/$cfg.explain" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["reason"])' >"$work/$cfg.reason" 2>&1
done
[ "$(cat "$work/fleet.reason")" = cookie_valid ] && [ "$(cat "$work/own.reason")" = cookie_invalid ]
check $? "explain --config with the fleet's secret_file: node A's cookie ACK is $(cat "$work/fleet.reason"); with explain's own secrets: $(cat "$work/own.reason")"
printf 'mode: dpdk\nsyn_cookies: always\n' >"$work/lone.yaml"
run_dp node_c "$work/lone.yaml" "$work/ack.pcap"
/usr/bin/python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["reasons"]; sys.exit(t["cookie_invalid"] != 1)' "$work/node_c.totals"
check $? "fleet: a node with its own random secrets refuses that cookie (cookie_invalid)"
chmod 644 "$work/fleet.key"
"$dp" --no-huge --no-shconf --no-pci --file-prefix "moatdp$$perm" -l 0,1 --log-level=lib.eal:error \
	--vdev "net_pcap0,rx_pcap=$work/empty.pcap,tx_pcap=$work/perm0.pcap" \
	--vdev "net_pcap1,rx_pcap=$work/empty.pcap,tx_pcap=$work/perm1.pcap" \
	-- --config "$work/fleet.yaml" --pair 1:0 --socket "$work/perm.sock" >/dev/null 2>"$work/perm.err"
rc=$?
check $(( rc != 0 ? 0 : 1 )) "a secret_file others can read is refused (exit $rc: $(grep -m1 secret_file "$work/perm.err"))"

# 4. Payload signatures: a pattern in one segment and one split over two segments of a
# flow are dropped (and the rest of that flow), the same bytes in other flows are not.
/usr/bin/python3 "$here/check_pcap.py" sigflows "$work/sig.pcap"
cat >"$work/sig.yaml" <<'YAML'
mode: dpdk
syn_cookies: off
signatures:
  - id: 1001
    msg: evil payload
    pattern: evilpayload
    flags: [caseless]
    dst_ports: [80]
    direction: to_server
    action: drop
  - id: 1002
    msg: says hello
    pattern: hello
    action: alert
YAML
run_dp sig "$work/sig.yaml" "$work/sig.pcap"
/usr/bin/python3 "$here/check_pcap.py" sigcheck "$work/sig.out1.pcap" >"$work/sig.check"
check $? "signatures: what crossed to the server ($(grep -c '^ok' "$work/sig.check") of 4 flows as expected: $(tr '\n' ' ' <"$work/sig.check"))"
/usr/bin/python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))
h = {x["id"]: x["hits"] for x in t["signatures"]["hits"]}
print("signature %d, hits %s, alerts %d" % (t["reasons"]["signature"], h, t["signatures"]["alerts"]))
sys.exit(not (t["reasons"]["signature"] == 3 and h == {1001: 2, 1002: 1} and t["signatures"]["alerts"] == 1))' "$work/sig.totals" >"$work/sig.counts" 2>&1
check $? "signatures: counted per id ($(cat "$work/sig.counts"))"
/usr/bin/python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
ends = sorted((f["src"], f["sport"], f["dst"], f["dport"], f["state"]) for f in j["list"])
want = [("198.51.100.%d" % i, 40000 + i, "192.0.2.10", 80, "ESTABLISHED") for i in range(1, 5)]
print("matched %d: %s" % (j["matched"], ", ".join("%s:%d>%s:%d" % e[:4] for e in ends)))
sys.exit(not (j["matched"] == 4 and ends == want))' "$work/sig.list" >"$work/sig.listcheck" 2>&1
check $? "moatctl flows --state ESTABLISHED --port 80: the four flows, originator first ($(cat "$work/sig.listcheck"))"
# The same capture through explain: the same verdicts, so operators can try rules on captures.
"$ctl" explain --json --config "$work/sig.yaml" "$work/sig.pcap" >"$work/sig.explain"
/usr/bin/python3 -c 'import json,sys
v = [json.loads(l) for l in open(sys.argv[1])]
drops = [x["frame"] for x in v if x["reason"] == "signature"]
alerts = [x["frame"] for x in v if x.get("alert")]
print("signature drops at frames %s, alert at %s" % (drops, alerts))
sys.exit(drops != [4, 9, 10] or alerts != [15])' "$work/sig.explain" >"$work/sig.excheck" 2>&1
check $? "signatures: explain gives the same verdicts ($(cat "$work/sig.excheck"))"

# 5. The secrets a re-attaching moatd adopts: moat-dp tells the ones in force to root
# only ({"cmd":"secrets","get":true}), names them by id in its status, and takes
# moatd's ({"cur","prev"}) as they are.
sec_call() { # SOCKET JSON [setpriv args]: one request line, its answer on stdout
	local sock=$1 req=$2
	shift 2
	"$@" /usr/bin/python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
s.shutdown(socket.SHUT_WR)
print(s.makefile().readline().strip())' "$sock" "$req"
}
jget() { /usr/bin/python3 -c 'import json,sys
d = json.loads(sys.argv[1])
for k in sys.argv[2].split("."): d = d[k]
print(d)' "$@" 2>/dev/null; }
"$dp" --no-huge --no-shconf --no-pci --file-prefix "moatdp$$sec" -l 0,1 --log-level=lib.eal:error \
	--vdev "net_pcap0,rx_pcap=$work/empty.pcap,tx_pcap=$work/sec0.pcap" \
	--vdev "net_pcap1,rx_pcap=$work/empty.pcap,tx_pcap=$work/sec1.pcap" \
	-- --config "$work/lone.yaml" --pair 1:0 --socket "$work/sec.sock" >/dev/null 2>"$work/sec.err" &
dp_pid=$!
for i in $(seq 1 100); do
	"$ctl" status --socket "$work/sec.sock" >/dev/null 2>&1 && break
	sleep 0.1
done
got=$(sec_call "$work/sec.sock" '{"cmd":"secrets","get":true}')
st=$("$ctl" status -j --socket "$work/sec.sock" 2>/dev/null)
[ ${#got} -gt 0 ] && [ "$(jget "$got" cur | wc -c)" -eq 33 ] && [ "$(jget "$got" ids.cur)" = "$(jget "$st" secret_ids.cur)" ] &&
	[ "$(jget "$st" secrets)" = random ]
check $? "secrets get (root): moat-dp's own random secrets, ids as its status names them ($(jget "$st" secret_ids))"
k1=00112233445566778899aabbccddeeff k2=ffeeddccbbaa99887766554433221100
sec_call "$work/sec.sock" "{\"cmd\":\"secrets\",\"cur\":\"$k1\",\"prev\":\"$k2\"}" >/dev/null
got=$(sec_call "$work/sec.sock" '{"cmd":"secrets","get":true}')
st=$("$ctl" status -j --socket "$work/sec.sock" 2>/dev/null)
[ "$(jget "$got" cur)" = "$k1" ] && [ "$(jget "$got" prev)" = "$k2" ] && [ "$(jget "$st" secrets)" = moatd ] &&
	[ "$(jget "$st" secret_ids.cur)" != "$(jget "$st" secret_ids.prev)" ]
check $? "secrets pushed by moatd are reported back as they were given; status says moatd ($(jget "$st" secret_ids))"
chmod 755 "$work"
chmod 666 "$work/sec.sock"
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
	got=$(sec_call "$work/sec.sock" '{"cmd":"secrets","get":true}' setpriv --reuid=65534 --regid=65534 --clear-groups)
	[ "$(jget "$got" ok)" = False ] && [ -z "$(jget "$got" cur)" ]
	check $? "secrets get from a user that is not root: refused, no key in the answer ($got)"
fi
kill -INT "$dp_pid"
wait "$dp_pid"
check $? "moat-dp exits 0 after the secrets requests"
dp_pid=""

# Dialects Linux accepts (issue 12), through the same engine as explain: TCP options of
# wrong lengths and 3 and 4 VLAN tags (explain's fixtures), cookies off: every frame crosses,
# but vlan_deep's one in-window RST, answered on the outside port with a challenge ACK.
mkdir -p "$work/dialects"
if /usr/bin/python3 "$here/../explain/gen_captures.py" "$work/dialects" >/dev/null 2>&1; then
	printf 'mode: dpdk\nsyn_cookies: off\n' >"$work/off.yaml"
	for cap_tx in tcp_options:0 vlan_deep:1; do
		cap=${cap_tx%:*} tx=${cap_tx#*:}
		run_dp "$cap" "$work/off.yaml" "$work/dialects/$cap.pcap"
		in=$(/usr/bin/python3 "$here/check_pcap.py" count "$work/$cap.out1.pcap")
		back=$(/usr/bin/python3 "$here/check_pcap.py" count "$work/$cap.out0.pcap")
		[ "$DP_RC" -eq 0 ] && [ "$in" -eq $((DP_N - tx)) ] && [ "$back" -eq "$tx" ]
		check $? "$cap: $((DP_N - tx)) of $DP_N frames crossed ($in did), $tx answered ($back)"
	done
	# Mid-stream pickup (issue 12): conversations whose first 30% moat-dp never saw
	# continue with pickup (the default), and are all dropped with pickup: off; an
	# ACK flood of random sources gets at most its budget through.
	printf 'mode: dpdk\n' >"$work/pickup.yaml"
	printf 'mode: dpdk\npickup: off\n' >"$work/nopickup.yaml"
	for run in midstream:pickup midstream_off:nopickup; do
		name=${run%:*} cfg=${run#*:}
		run_dp "$name" "$work/$cfg.yaml" "$work/dialects/midstream.pcap"
		in=$(/usr/bin/python3 "$here/check_pcap.py" count "$work/$name.out1.pcap")
		want=$DP_N
		[ "$cfg" = nopickup ] && want=0
		[ "$DP_RC" -eq 0 ] && [ "$in" -eq "$want" ]
		check $? "$name ($cfg): $want of $DP_N frames cut mid-stream crossed ($in did)"
	done
	run_dp ack_flood "$work/pickup.yaml" "$work/dialects/ack_flood.pcap"
	/usr/bin/python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["reasons"]
print("pickup %d, established %d, handshake %d, ack_no_flow %d" % (t["pickup"], t["established"], t["handshake"], t["ack_no_flow"]))
sys.exit(not (t["pickup"] <= 402 and t["ack_no_flow"] >= 11600 and t["handshake"] == 3))' "$work/ack_flood.totals" >"$work/ack_flood.check" 2>&1
	check $? "ack_flood: at most 400 of 12,000 random-source ACKs passed, the legitimate handshake did ($(cat "$work/ack_flood.check"))"
else
	check 1 "gen_captures.py for the dialect captures"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
