#!/usr/bin/python3
"""Captures for the dataplane Mpps bench, replayed by net_pcap with infinite_rx=1
(so small: each frame is held in an mbuf of the app's pool). 60-byte frames
(64 on the wire).
  gen_dp.py flood OUT.pcap N
      N SYNs from random sources (address, port, ISN) to 10.10.10.10:80.
  gen_dp.py conv OUT.pcap FLOWS SEGMENTS
      FLOWS legitimate connections to 10.2.0.2:80, interleaved: every handshake,
      then SEGMENTS 6-byte data segments per flow (alternately client and server,
      each acknowledging all the other side sent), then every close (FIN, FIN-ACK,
      ACK). Replayed, each pass is a new connection on the same 4-tuple: the SYN
      reopens the flow left in TIME_WAIT."""
import random
import sys
from scapy.all import Ether, IP, TCP, Raw, wrpcap

MACS = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def signatures(out, n):
    """A config (syn_cookies off) with n drop signatures, none of which the payload mix
    matches: every payload is scanned in full against all of them."""
    rnd = random.Random(7)
    words = ["select", "union", "passwd", "cmd", "exec", "wget", "curl", "eval", "base64",
             "shell", "admin", "login", "botnet", "xmrig", "jndi", "ldap", "phpunit", "cgi"]
    lines = ["mode: dpdk", "syn_cookies: off", "signatures:"]
    for i in range(n):
        a, b = rnd.sample(words, 2)
        kind = i % 4
        if kind == 0:
            pat = f"{a}[_-]?{b}{i}"
        elif kind == 1:
            pat = f"/{a}/{b}\\\\.php\\\\?id={i}"
        elif kind == 2:
            pat = f"{a}.{{0,16}}{b}{i:x}z"
        else:
            pat = f"\\\\x{rnd.randint(0x80, 0xff):02x}{a}{i}"
        lines += [f"  - id: {i + 1}", f'    pattern: "{pat}"',
                  "    flags: [caseless]" if i % 2 else "    flags: []", "    action: drop"]
    open(out, "w").write("\n".join(lines) + "\n")


def flood(out, n):
    rnd = random.Random(1)
    pkts = []
    for _ in range(n):
        src = "%d.%d.%d.%d" % (rnd.randint(1, 223), rnd.randint(0, 255), rnd.randint(0, 255),
                               rnd.randint(1, 254))
        p = Ether(**MACS) / IP(src=src, dst="10.10.10.10", ttl=rnd.choice((64, 128, 242))) / \
            TCP(sport=rnd.randint(1024, 65535), dport=80, flags="S", seq=rnd.getrandbits(32),
                window=64240)
        pkts.append(p / Raw(b"\0" * (60 - len(p))))
    wrpcap(out, pkts)


# An HTTP-like request and response, 256 bytes each: the payload mix of the signature bench.
REQUEST = (b"GET /static/app.js?v=42 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: "
           b"Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n"
           b"Connection: keep-alive\r\n\r\n").ljust(256, b"a")
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/javascript\r\n"
            b"Content-Length: 4096\r\n\r\nfunction f(a,b){return a+b}").ljust(256, b";")


def conv(out, flows, segments, payloads=None):
    server, sp = "10.2.0.2", 80
    conns = []
    for i in range(flows):
        conns.append(dict(c="10.1.%d.%d" % (i // 250, i % 250 + 2), cp=40000 + i,
                          ci=1000 + 7919 * i, si=500000 + 104729 * i))
    pkts = []

    def add(k, to_server, flags, payload=b"", opts=None):
        src, dst, sport, dport, seq, ack = (k["c"], server, k["cp"], sp, k["ci"], k["si"]) \
            if to_server else (server, k["c"], sp, k["cp"], k["si"], k["ci"])
        if flags == "S":
            ack = 0
        p = Ether(**MACS) / IP(src=src, dst=dst, ttl=64) / \
            TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=ack % 2**32,
                window=502, options=opts or [])
        if payload:
            p = p / Raw(payload)
        pkts.append(p)

    syn_opts = [("MSS", 1460), ("SAckOK", b""), ("NOP", None), ("WScale", 7)]
    for k in conns:
        add(k, True, "S", opts=syn_opts)
        k["ci"] += 1
    for k in conns:
        add(k, False, "SA", opts=syn_opts)
        k["si"] += 1
    for k in conns:
        add(k, True, "A")
    for j in range(segments):
        for k in conns:
            to_server = j % 2 == 0
            data = (payloads[0] if to_server else payloads[1]) if payloads else b"x" * 6
            add(k, to_server, "PA", data)
            k["ci" if to_server else "si"] += len(data)
    for k in conns:
        add(k, True, "FA")
        k["ci"] += 1
    for k in conns:
        add(k, False, "FA")
        k["si"] += 1
    for k in conns:
        add(k, True, "A")
    wrpcap(out, pkts)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "flood":
        flood(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "conv":
        conv(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
