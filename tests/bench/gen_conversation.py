#!/usr/bin/python3
"""A legitimate TCP conversation for the engine bench: handshake, N data
segments each way with correct sequence numbers, FIN close. usage: OUT.pcap [N]"""
import sys
from scapy.all import Ether, IP, TCP, Raw, wrpcap

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
c, s = "10.1.0.2", "10.2.0.2"
cp, sp = 40000, 80
ci, si = 1000, 500000
t = 1700000000.0
pkts = []


def add(src, dst, sport, dport, flags, seq, ack, payload=b"", opts=None):
    global t
    p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst, ttl=64) / \
        TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=ack % 2**32, window=502,
            options=opts or [])
    if payload:
        p = p / Raw(payload)
    p.time = t
    t += 0.0001
    pkts.append(p)


syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]
add(c, s, cp, sp, "S", ci, 0, opts=syn_opts)
add(s, c, sp, cp, "SA", si, ci + 1, opts=syn_opts)
ci += 1
si += 1
add(c, s, cp, sp, "A", ci, si)
data = b"x" * 100
for i in range(n):
    if i % 2 == 0:
        add(c, s, cp, sp, "PA", ci, si, data)
        ci += len(data)
    else:
        add(s, c, sp, cp, "PA", si, ci, data)
        si += len(data)
add(c, s, cp, sp, "FA", ci, si)
ci += 1
add(s, c, sp, cp, "FA", si, ci)
si += 1
add(c, s, cp, sp, "A", ci, si)
wrpcap(out, pkts)
