#!/usr/bin/python3
"""Captures for the dataplane Mpps bench, replayed by net_pcap with infinite_rx=1
(so small: each frame is held in an mbuf of the app's pool). 60-byte frames
(64 on the wire).
  gen_dp.py flood OUT.pcap N
      N SYNs from random sources (address, port, ISN) to 10.10.10.10:80.
  gen_dp.py distinct OUT.pcap N
      N SYNs from N distinct sources (written raw: millions in seconds), to 10.10.10.10:80.
  gen_dp.py conv OUT.pcap FLOWS SEGMENTS
      FLOWS legitimate connections to 10.2.0.2:80, interleaved: every handshake,
      then SEGMENTS 6-byte data segments per flow (alternately client and server,
      each acknowledging all the other side sent), then every close (FIN, FIN-ACK,
      ACK). Replayed, each pass is a new connection on the same 4-tuple: the SYN
      reopens the flow left in TIME_WAIT."""
import random
import socket
import struct
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
    """Returns the sources' addresses."""
    rnd = random.Random(1)
    pkts, srcs = [], []
    for _ in range(n):
        src = "%d.%d.%d.%d" % (rnd.randint(1, 223), rnd.randint(0, 255), rnd.randint(0, 255),
                               rnd.randint(1, 254))
        p = Ether(**MACS) / IP(src=src, dst="10.10.10.10", ttl=rnd.choice((64, 128, 242))) / \
            TCP(sport=rnd.randint(1024, 65535), dport=80, flags="S", seq=rnd.getrandbits(32),
                window=64240)
        pkts.append(p / Raw(b"\0" * (60 - len(p))))
        srcs.append(src)
    wrpcap(out, pkts)
    return srcs


def deny_lists(out, avoid, n4, n6, cookies="always"):
    """A config with n4 IPv4 and n6 IPv6 deny prefixes, as a threat feed has them (host
    routes, /24s, some of every length from /16), none covering an address of avoid
    nor the flood's destination: every lookup runs to the end and the flood passes."""
    rnd = random.Random(3)
    taken = [set() for _ in range(33)]
    for a in list(avoid) + ["10.10.10.10"]:
        v = struct.unpack("!I", socket.inet_aton(a))[0]
        for plen in range(33):
            taken[plen].add(v >> (32 - plen) if plen else 0)
    lines = ["mode: dpdk", f"syn_cookies: {cookies}", "deny:"]
    seen = set()
    while len(seen) < n4:
        plen = rnd.choice((32, 32, 32, 32, 24, 24, 24, 24, rnd.randint(16, 31), rnd.randint(16, 31)))
        v = rnd.randint(1 << 24, (224 << 24) - 1) >> (32 - plen)
        if v in taken[plen] or (plen, v) in seen:
            continue
        seen.add((plen, v))
        lines.append(f"  - {socket.inet_ntoa(struct.pack('!I', v << (32 - plen)))}/{plen}")
    for _ in range(n6):
        plen = rnd.choice((128, 64, 48, 48, 32, rnd.randint(24, 128)))
        v = (0x1 << 125 | rnd.getrandbits(125)) >> (128 - plen) << (128 - plen)
        lines.append(f"  - {socket.inet_ntop(socket.AF_INET6, v.to_bytes(16, 'big'))}/{plen}")
    open(out, "w").write("\n".join(lines) + "\n")


def _csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def distinct(out, n):
    """n 60-byte SYNs to 10.10.10.10:80 from n distinct sources (consecutive addresses
    from 11.0.0.1, source port and ISN varying), checksums right; raw pcap records."""
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    dst = socket.inet_aton("10.10.10.10")
    rec = struct.pack("<IIII", 0, 0, 60, 60)
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunk = []
        for i in range(n):
            src = struct.pack("!I", (11 << 24) + 1 + i)
            sport, seq = 1024 + i % 64000, (i * 2654435761) & 0xFFFFFFFF
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xFFFF, 0, 64, 6, 0, src, dst)
            ip = ip[:10] + struct.pack("!H", ~_csum(ip) & 0xFFFF) + ip[12:]
            tcp = struct.pack("!HHIIBBHHH", sport, 80, seq, 0, 0x50, 0x02, 64240, 0, 0)
            c = ~_csum(src + dst + struct.pack("!HH", 6, 20) + tcp) & 0xFFFF
            tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
            chunk.append(rec + eth + ip + tcp + b"\0" * 6)
            if len(chunk) == 65536:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))


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
    elif len(sys.argv) == 4 and sys.argv[1] == "distinct":
        distinct(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "conv":
        conv(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
