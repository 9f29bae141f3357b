#!/usr/bin/python3
"""Checks on what moat-dp wrote through net_pcap.
  check_pcap.py cookies IN.pcap OUT.pcap          every input SYN answered by a valid SYN-ACK
  check_pcap.py same OUT.pcap EXPLAIN.jsonl IN.pcap   OUT holds exactly the frames explain passes
  check_pcap.py count FILE.pcap                   number of frames
  check_pcap.py syn OUT.pcap                      write one client SYN (MSS, SACK, TS, wscale)
  check_pcap.py ack SYN.pcap SYNACK.pcap OUT.pcap write the client's ACK to the SYN-ACK answer
  check_pcap.py sigflows OUT.pcap                 four flows for the signature test (SIG_FLOWS)
  check_pcap.py sigcheck INSIDE.pcap              what crossed is what SIG_FLOWS says should
Prints one line per check; exit 1 on a failed check."""
import json
import sys

from scapy.all import IP, TCP, Ether, Raw, rdpcap, raw, wrpcap


def tcp_checksum_ok(frame):
    p = Ether(raw(frame))
    ip_sum, tcp_sum = p[IP].chksum, p[TCP].chksum
    del p[IP].chksum
    del p[TCP].chksum
    q = Ether(raw(p))
    return ip_sum == q[IP].chksum and tcp_sum == q[TCP].chksum


def cookies(inp, out):
    syns = [p for p in rdpcap(inp)]
    answers = [p for p in rdpcap(out)]
    ok = len(syns) == len(answers)
    print(f"{'ok' if ok else 'FAIL'}: {len(answers)} SYN-ACKs for {len(syns)} SYNs")
    bad = 0
    for s, a in zip(syns, answers):
        good = (TCP in a and a[TCP].flags == "SA" and a[IP].src == s[IP].dst and a[IP].dst == s[IP].src
                and a[TCP].sport == s[TCP].dport and a[TCP].dport == s[TCP].sport
                and a[TCP].ack == (s[TCP].seq + 1) % 2**32 and a[Ether].dst == s[Ether].src
                and tcp_checksum_ok(a))
        bad += not good
    print(f"{'ok' if bad == 0 else 'FAIL'}: every SYN-ACK swaps addresses, ports and MACs, "
          f"acknowledges the SYN and has right checksums ({bad} bad)")
    isns = {a[TCP].seq for a in answers if TCP in a}
    spread = len(isns) >= 0.99 * len(answers)
    print(f"{'ok' if spread else 'FAIL'}: cookies differ per connection ({len(isns)} distinct)")
    return ok and bad == 0 and spread


def same(out, explain, inp):
    frames = rdpcap(inp)
    verdicts = [json.loads(l) for l in open(explain) if l.strip()]
    want = [raw(f) for f, v in zip(frames, verdicts) if v["verdict"] == "pass"]
    got = [raw(f) for f in rdpcap(out)]
    ok = want == got
    print(f"{'ok' if ok else 'FAIL'}: forwarded frames are byte-identical to the {len(want)} "
          f"frames explain passes (got {len(got)})")
    return ok


CLIENT, SERVER = ("198.51.100.7", 40000), ("192.0.2.10", 80)


def syn(out):
    frame = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
             IP(src=CLIENT[0], dst=SERVER[0], ttl=64) /
             TCP(sport=CLIENT[1], dport=SERVER[1], flags="S", seq=1000, window=64240,
                 options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (7777, 0)),
                          ("NOP", None), ("WScale", 7)]))
    wrpcap(out, [frame])
    return True


def ack(syn_path, synack_path, out):
    """The ACK a client sends to the SYN-ACK moat-dp answered its SYN with."""
    s = rdpcap(syn_path)[0]
    answers = [p for p in rdpcap(synack_path) if TCP in p and p[TCP].flags & 0x12 == 0x12]
    if len(answers) != 1:
        print(f"expected one SYN-ACK, got {len(answers)}")
        return False
    sa = answers[0]
    tsval = dict(sa[TCP].options).get("Timestamp", (0, 0))[0]
    frame = (Ether(src=s[Ether].src, dst=s[Ether].dst) /
             IP(src=s[IP].src, dst=s[IP].dst, ttl=64) /
             TCP(sport=s[TCP].sport, dport=s[TCP].dport, flags="A", seq=s[TCP].seq + 1,
                 ack=sa[TCP].seq + 1, window=502, options=[("NOP", None), ("NOP", None),
                                                          ("Timestamp", (7778, tsval))]))
    wrpcap(out, [frame])
    return True


# sigflows: (client port, data segments, how many of them cross to the server).
SIG_FLOWS = [
    (40001, [b"GET / HTTP/1.1\r\nX: EVILPAYLOAD\r\n\r\n"], 0),  # whole, in one segment
    (40002, [b"GET / HTTP/1.1\r\nX: EVILPA", b"YLOAD\r\n\r\n", b"more"], 1),  # split: 2nd dropped, the flow too
    (40003, [b"GET / HTTP/1.1\r\nX: EVILPA", b"hello\r\n\r\n"], 2),  # the first half alone
    (40004, [b"YLOAD and more", b"nothing EVILPA"], 2),  # the halves, the wrong way round
]


def sigflows(out):
    frames, t = [], 1000.0
    for port, segs, _ in SIG_FLOWS:
        cli, srv = f"198.51.100.{port - 40000}", "192.0.2.10"
        eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        flow = [eth / IP(src=cli, dst=srv) / TCP(sport=port, dport=80, flags="S", seq=1000),
                eth / IP(src=srv, dst=cli) / TCP(sport=80, dport=port, flags="SA", seq=5000, ack=1001),
                eth / IP(src=cli, dst=srv) / TCP(sport=port, dport=80, flags="A", seq=1001, ack=5001)]
        seq = 1001
        for data in segs:
            flow.append(eth / IP(src=cli, dst=srv) /
                        TCP(sport=port, dport=80, flags="PA", seq=seq, ack=5001) / Raw(data))
            seq += len(data)
        for f in flow:
            f.time, t = t, t + 0.001
        frames += flow
    wrpcap(out, frames)
    return True


def sigcheck(inside):
    crossed = {}
    for p in rdpcap(inside):
        if TCP in p and Raw in p:
            crossed.setdefault(p[TCP].sport, []).append(bytes(p[Raw].load))
    ok = True
    for port, segs, n in SIG_FLOWS:
        got = crossed.get(port, [])
        good = got == segs[:n]
        ok &= good
        print(f"{'ok' if good else 'FAIL'}: flow {port}: {len(got)} of {len(segs)} data segments crossed, expected {n}")
    return ok


def count(path):
    print(len(rdpcap(path)))
    return True


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit(0 if {"cookies": cookies, "same": same, "count": count, "syn": syn, "ack": ack,
                     "sigflows": sigflows, "sigcheck": sigcheck}[cmd](*args) else 1)
