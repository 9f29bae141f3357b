#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Captures and state-file pokes for restart_tests.sh (moat-dp adopting the flow
table a previous moat-dp left in its dpdk.state file).

  restart_flows.py open OUT.pcap N   N TCP connections opened and used: SYN, SYN-ACK,
                                     ACK, a request, a reply, its ACK (6 frames each)
  restart_flows.py more OUT.pcap N   the same N connections going on, no SYN: a request,
                                     a reply, its ACK, twice (6 frames each)
  restart_flows.py version FILE [V]  the state file header's version (uint32 after the
                                     8-byte magic): print it, or overwrite it with V
  restart_flows.py get JSON KEY.KEY  one field of a JSON file (status, stats, replies)
  restart_flows.py count FILE.pcap   its frames (a classic pcap, as net_pcap writes)

Both directions of every connection are in one capture (fed to the outside port):
moat-dp tracks a flow by its addresses, whichever port a frame comes in on.
"""
import json
import struct
import sys

SERVER = "192.0.2.10"
C_MAC, S_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


def conn(i):
    """Connection i's two ends and sequence numbers (ISNs far apart)."""
    return ("198.51.100.%d" % (i + 1), 41000 + i, 1000 + i * 100000, 500000 + i * 100000)


def seg(src_is_client, i, flags, seq, ack, data=b""):
    from scapy.all import IP, TCP, Ether, Raw
    cli, sport, _, _ = conn(i)
    if src_is_client:
        f = Ether(src=C_MAC, dst=S_MAC) / IP(src=cli, dst=SERVER) / \
            TCP(sport=sport, dport=80, flags=flags, seq=seq, ack=ack, window=65535)
    else:
        f = Ether(src=S_MAC, dst=C_MAC) / IP(src=SERVER, dst=cli) / \
            TCP(sport=80, dport=sport, flags=flags, seq=seq, ack=ack, window=65535)
    return f / Raw(data) if data else f


def exchange(i, c, s, n):
    """Request n and its reply from c/s (the next sequence numbers): frames, new c, s."""
    req, resp = b"GET /%d HTTP/1.1\r\n\r\n" % n, b"HTTP/1.1 200 OK\r\n\r\nreply %d" % n
    frames = [seg(True, i, "PA", c, s, req),
              seg(False, i, "PA", s, c + len(req), resp),
              seg(True, i, "A", c + len(req), s + len(resp))]
    return frames, c + len(req), s + len(resp)


def capture(kind, out, n):
    frames = []
    for i in range(n):
        _, _, ci, si = conn(i)
        c, s = ci + 1, si + 1
        f = []
        if kind == "open":
            f = [seg(True, i, "S", ci, 0), seg(False, i, "SA", si, c), seg(True, i, "A", c, s)]
        more, c, s = exchange(i, c, s, 1)
        if kind == "open":
            f += more
        else:  # what follows "open": exchanges 2 and 3
            for k in (2, 3):
                more, c, s = exchange(i, c, s, k)
                f += more
        frames += f
    from scapy.all import wrpcap
    t = 1000.0
    for f in frames:
        f.time, t = t, t + 0.001
    wrpcap(out, frames)
    return True


def version(path, value=None):
    with open(path, "r+b") as f:
        f.seek(8)
        if value is None:
            print(struct.unpack("<I", f.read(4))[0])
        else:
            f.write(struct.pack("<I", int(value)))
    return True


def count(path):
    """Records of a classic pcap (scapy not loaded: this is called often)."""
    with open(path, "rb") as f:
        data = f.read()
    end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        off += 16 + struct.unpack(end + "I", data[off + 8:off + 12])[0]
        n += 1
    print(n)
    return True


def get(path, keys):
    d = json.load(open(path))
    for k in keys.split("."):
        d = d[k]
    print(json.dumps(d) if isinstance(d, (dict, list, bool)) or d is None else d)
    return True


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd in ("open", "more"):
        ok = capture(cmd, args[0], int(args[1]))
    else:
        ok = {"version": version, "get": get, "count": count}[cmd](*args)
    sys.exit(0 if ok else 1)
