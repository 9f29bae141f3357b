#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""One handshake split over two fleet nodes (tests/lab/fleet_lab.sh).

   fleet_split.py SRC VIP SPORT SWITCH_COMMAND

Runs in the client's namespace: sends a SYN from SRC:SPORT to VIP:80 (the
router sends it to node A), takes the cookie SYN-ACK, runs SWITCH_COMMAND (the
router now sends this flow to node B), then the ACK and an HTTP request. Prints
the first line of the HTTP body that came back and exits 0, or says what was
missing and exits 1. SRC is not the client's own address (the router has a
neighbour entry for it with the client's MAC): the client's kernel drops what
comes back to it instead of answering with RSTs, and scapy reads it off the link.
"""
import subprocess
import sys
import time

from scapy.all import IP, TCP, AsyncSniffer, Raw, conf, send, sr1

conf.verb = 0


def main():
    src, vip, sport, switch = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    syn = IP(src=src, dst=vip) / TCP(sport=sport, dport=80, seq=1000, flags="S",
                            options=[("MSS", 1400)])
    synack = sr1(syn, timeout=3)
    if synack is None or not synack.haslayer(TCP) or synack[TCP].flags != "SA":
        print("no SYN-ACK for the SYN")
        return 1
    if subprocess.call(switch, shell=True):
        print("the switch command failed")
        return 1
    sniff = AsyncSniffer(filter=f"tcp and src host {vip} and src port 80 and dst port {sport}",
                         lfilter=lambda p: p.haslayer(Raw), count=1, timeout=5)
    sniff.start()
    time.sleep(0.3)  # the sniffer's socket open before anything comes back
    ack = synack[TCP].seq + 1
    send(IP(src=src, dst=vip) / TCP(sport=sport, dport=80, seq=1001, ack=ack, flags="A"))
    req = b"GET / HTTP/1.0\r\nHost: fleet\r\n\r\n"
    send(IP(src=src, dst=vip) / TCP(sport=sport, dport=80, seq=1001, ack=ack, flags="PA") / req)
    sniff.join()
    if not sniff.results:
        print("no HTTP answer after the ACK")
        return 1
    body = bytes(sniff.results[0][Raw].load).split(b"\r\n\r\n", 1)[-1]
    print(body.decode(errors="replace").splitlines()[0] if body else "(empty body)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
