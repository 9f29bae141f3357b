#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Fixture captures for the `moatctl explain` end-to-end tests.

    gen_captures.py OUTDIR
        writes one pcap + one YAML config per scenario into OUTDIR and
        OUTDIR/manifest.json: a list of runs {name, pcap, config, frames,
        expect: [{frame, verdict, reason, fields?, note}]} (only frames whose
        outcome is fixed by the contract are listed).

    gen_captures.py --cookie-ack COOKIE OUTDIR
        second pass of the SYN-cookie test: COOKIE is the "cookie" that
        explain printed for OUTDIR/cookie_syn.pcap; writes cookie_ack.pcap and
        cookie_expired.pcap (same SYN, same timestamp) and
        OUTDIR/manifest_cookie.json.

Inline semantics: both directions are in every capture. Client 10.1.0.2
(TTL 64), server 10.2.0.2:80 (TTL 63 as seen by the filter). Timestamps are
1 ms apart unless a scenario needs otherwise. Pcaps are written with
nanosecond timestamps by a small writer here, so times are exact.
"""
import json
import os
import struct
import sys

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

MS = 1_000_000
# Start of a 64-second cookie slot plus a margin: the SYN and its ACK share a slot.
T0 = (1_700_000_000 // 64) * 64 + 8
CLIENT, SERVER = "10.1.0.2", "10.2.0.2"
CLIENT6, SERVER6 = "2001:db8:1::2", "2001:db8:2::2"
C_MAC, S_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
C_TTL, S_TTL = 64, 63
C_WIN, S_WIN = 502, 509          # after the handshake, scaled by 2^7
WS = 7
C_RWND, S_RWND = C_WIN << WS, S_WIN << WS   # 64256, 65152 bytes
SYN_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1000, 0)), ("NOP", None),
            ("WScale", WS)]
SYNACK_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (5000, 1000)), ("NOP", None),
               ("WScale", WS)]
M32 = 0xFFFFFFFF


class Capture:
    """One pcap and the expectations of its frames."""

    def __init__(self, name, t0_s=T0, snaplen=65535):
        self.name = name
        self.snaplen = snaplen  # frames longer than this are cut, as tcpdump -s does
        self.t = t0_s * 1_000_000_000
        self.frames = []    # (ts_ns, bytes)
        self.expect = []

    def add(self, frame, verdict=None, reason=None, note="", fields=None, gap_ns=MS, at_ns=None,
            alt=()):
        """Append a frame; verdict/reason (and JSON fields) are what explain must say.
        alt: other acceptable [verdict, reason] pairs, where the RFC allows either."""
        if at_ns is not None:
            self.t = at_ns
        elif self.frames:
            self.t += gap_ns
        self.frames.append((self.t, bytes(frame)))
        if verdict is not None:
            e = {"frame": len(self.frames), "verdict": verdict, "reason": reason, "note": note}
            if fields:
                e["fields"] = fields
            if alt:
                e["alt"] = [list(a) for a in alt]
            self.expect.append(e)
        return len(self.frames)

    def write(self, outdir):
        path = os.path.join(outdir, self.name + ".pcap")
        with open(path, "wb") as f:
            # nanosecond pcap, Ethernet
            f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, self.snaplen, 1))
            for ts, data in self.frames:
                kept = data[:self.snaplen]
                f.write(struct.pack("<IIII", ts // 1_000_000_000, ts % 1_000_000_000,
                                    len(kept), len(data)))
                f.write(kept)
        return path


def l2(src_mac, dst_mac, vlans):
    """Ethernet with 0, 1 (802.1Q) or 2 (802.1ad outer + 802.1Q inner) tags; 3 and more
    (QinQinQ): 802.1ad outer, then 0x9100, then 802.1Q."""
    if not vlans:
        return Ether(src=src_mac, dst=dst_mac)
    if len(vlans) == 1:
        return Ether(src=src_mac, dst=dst_mac) / Dot1Q(vlan=vlans[0])
    if len(vlans) == 2:
        return (Ether(src=src_mac, dst=dst_mac, type=0x88A8) / Dot1AD(vlan=vlans[0]) /
                Dot1Q(vlan=vlans[1]))
    nexts = [0x9100] + [0x8100] * (len(vlans) - 2)  # each tag's next TPID
    p = Ether(src=src_mac, dst=dst_mac, type=0x88A8)
    for vid, nxt in zip(vlans, nexts):
        p = p / Dot1Q(vlan=vid, type=nxt)
    return p / Dot1Q(vlan=vlans[-1])  # its type follows the IP layer put on it


class Flow:
    """A TCP conversation; keeps each side's next sequence number and RCV.NXT."""

    def __init__(self, cap, sport, dport=80, c_isn=0x11110000, s_isn=0x22220000, client=CLIENT,
                 server=SERVER, v6=False, vlans=(), c_ttl=C_TTL, s_ttl=S_TTL):
        self.cap, self.sport, self.dport = cap, sport, dport
        self.client, self.server, self.v6, self.vlans = client, server, v6, vlans
        self.c_ttl, self.s_ttl = c_ttl, s_ttl
        self.c_isn, self.s_isn = c_isn, s_isn
        self.c_nxt, self.s_nxt = c_isn, s_isn   # next SEQ each side sends
        self.c_rcv, self.s_rcv = 0, 0           # each side's RCV.NXT (what it ACKs)

    def frame(self, from_client, flags, seq, ack, payload=b"", win=None, opts=None, ttl=None):
        if from_client:
            src, dst, sp, dp, smac, dmac = self.client, self.server, self.sport, self.dport, C_MAC, S_MAC
            ttl = self.c_ttl if ttl is None else ttl
            win = C_WIN if win is None else win
        else:
            src, dst, sp, dp, smac, dmac = self.server, self.client, self.dport, self.sport, S_MAC, C_MAC
            ttl = self.s_ttl if ttl is None else ttl
            win = S_WIN if win is None else win
        ip = IPv6(src=src, dst=dst, hlim=ttl) if self.v6 else IP(src=src, dst=dst, ttl=ttl, id=1)
        tcp = TCP(sport=sp, dport=dp, flags=flags, seq=seq & M32, ack=ack & M32, window=win,
                  options=opts or [])
        p = l2(smac, dmac, self.vlans) / ip / tcp
        if payload:
            p = p / payload
        return p

    @staticmethod
    def _seglen(flags, payload):
        return len(payload) + ("S" in flags) + ("F" in flags)

    def c(self, flags, payload=b"", seq=None, ack=None, advance=True, **kw):
        """A segment from the client; by default in sequence, and delivered."""
        s = self.c_nxt if seq is None else seq
        a = (self.c_rcv if ack is None else ack) if "A" in flags else 0
        p = self.frame(True, flags, s, a, payload, **kw)
        if advance:
            self.c_nxt = (s + self._seglen(flags, payload)) & M32
            self.s_rcv = self.c_nxt
        return p

    def s(self, flags, payload=b"", seq=None, ack=None, advance=True, **kw):
        s = self.s_nxt if seq is None else seq
        a = (self.s_rcv if ack is None else ack) if "A" in flags else 0
        p = self.frame(False, flags, s, a, payload, **kw)
        if advance:
            self.s_nxt = (s + self._seglen(flags, payload)) & M32
            self.c_rcv = self.s_nxt
        return p

    def handshake(self, expect=("pass", "handshake"), syn_opts=SYN_OPTS, synack_opts=SYNACK_OPTS,
                  fields=None):
        cap = self.cap
        cap.add(self.c("S", opts=syn_opts, win=64240), *expect, "client SYN", fields)
        cap.add(self.s("SA", opts=synack_opts, win=65160), *expect, "SYN-ACK", fields)
        cap.add(self.c("A"), *expect, "final ACK of the handshake", fields)

    def exchange(self, n_c=100, n_s=200):
        """Data both ways, each acknowledged: afterwards every byte is ACKed."""
        cap = self.cap
        cap.add(self.c("PA", b"C" * n_c), "pass", "established", "client data")
        cap.add(self.s("A"), "pass", "established", "server ACKs client data")
        cap.add(self.s("PA", b"S" * n_s), "pass", "established", "server data")
        cap.add(self.c("A"), "pass", "established", "client ACKs server data")


def cfg_text(**kv):
    return "".join("%s: %s\n" % (k, v) for k, v in kv.items())


class Suite:
    def __init__(self, outdir):
        self.outdir = outdir
        self.runs = []

    def config(self, name, text):
        path = os.path.join(self.outdir, name + ".yaml")
        with open(path, "w") as f:
            f.write("# generated by tests/explain/gen_captures.py\n" + text)
        return path

    def run(self, cap, cfg_name, cfg_body, expect=None, name=None):
        """Register one explain run of cap under a config (cap written once)."""
        pcap = os.path.join(self.outdir, cap.name + ".pcap")
        if not os.path.exists(pcap):
            cap.write(self.outdir)
        self.runs.append({
            "name": name or cap.name,
            "pcap": pcap,
            "config": self.config(cfg_name, cfg_body),
            "frames": len(cap.frames),
            "expect": cap.expect if expect is None else expect,
        })

    def write_manifest(self, fname="manifest.json"):
        with open(os.path.join(self.outdir, fname), "w") as f:
            json.dump({"runs": self.runs}, f, indent=1)


OFF = cfg_text(syn_cookies="off")


# ---------------------------------------------------------------- scenarios

def legit_v4(su):
    cap = Capture("legit_v4")
    f = Flow(cap, 40000)
    f.handshake()
    cap.expect[-1]["fields"] = {"state": "ESTABLISHED"}
    f.exchange()
    cap.add(f.c("FA"), "pass", "established", "client FIN", {"state": "FIN_WAIT"})
    cap.add(f.s("FA"), "pass", "established", "server FIN+ACK", {"state": "CLOSING"})
    cap.add(f.c("A"), "pass", "established", "last ACK", {"state": "TIME_WAIT"})
    su.run(cap, "legit_v4", OFF)


def rfc5961(su):
    cap = Capture("rfc5961")
    # A: RST with SEQ exactly the server's RCV.NXT closes the flow.
    a = Flow(cap, 41001)
    a.handshake()
    a.exchange()
    cap.add(a.c("R", advance=False), "pass", "established", "A: RST seq == RCV.NXT", {"state": "CLOSED"})
    cap.add(a.c("R", advance=False), "drop", "rst_no_flow", "A: second RST on the closed flow")
    a.c_nxt = 0x55550000
    cap.add(a.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "A: new SYN reopens the closed tuple")

    # B: in-window / out-of-window RSTs (both directions, scaled windows).
    b = Flow(cap, 41002)
    b.handshake()
    b.exchange()
    rn = b.s_rcv  # server's RCV.NXT == client's SND.NXT
    cap.add(b.c("R", seq=rn + 1000, advance=False), "tx", "challenge_ack", "B: RST in window, not exact")
    cap.add(b.c("R", seq=rn + S_RWND - 1, advance=False), "tx", "challenge_ack",
            "B: RST at the last byte of the (scaled) window")
    cap.add(b.c("R", seq=rn + S_RWND, advance=False), "drop", "rst_out_of_window",
            "B: RST one past the window")
    cap.add(b.c("R", seq=rn + 10_000_000, advance=False), "drop", "rst_out_of_window", "B: RST far out")
    cap.add(b.c("R", seq=rn - 1, advance=False), "drop", "rst_out_of_window", "B: RST just below RCV.NXT")
    cap.add(b.c("RA", seq=rn + 1, advance=False), "tx", "challenge_ack", "B: RST+ACK at RCV.NXT+1")
    cap.add(b.c("PA", b"x" * 10), "pass", "established", "B: flow still established after bad RSTs",
            {"state": "ESTABLISHED"})
    cap.add(b.s("A"), "pass", "established", "B: server ACK")
    crn = b.c_rcv
    cap.add(b.s("R", seq=crn + 100, advance=False), "tx", "challenge_ack", "B: server RST in window")
    cap.add(b.s("R", seq=crn + C_RWND, advance=False), "drop", "rst_out_of_window",
            "B: server RST one past the client's window")
    cap.add(b.c("A", ack=b.c_rcv + 5000, advance=False), "drop", "ack_no_flow",
            "B: ACK for data the server never sent (RFC 5961 s5)")
    cap.add(b.s("RA", advance=False), "pass", "established", "B: server RST exact", {"state": "CLOSED"})

    # C: SYN on a synchronized flow -> challenge ACK (RFC 5961 s4).
    c = Flow(cap, 41003)
    c.handshake()
    cap.add(c.c("S", seq=0x77770000, opts=SYN_OPTS, win=64240, advance=False), "tx", "challenge_ack",
            "C: client SYN on an established flow")
    cap.add(c.s("S", seq=0x12340000, advance=False), "tx", "challenge_ack",
            "C: server SYN on an established flow")
    cap.add(c.c("PA", b"y" * 20), "pass", "established", "C: data after the SYNs")

    # D: RFC 793 SYN-SENT: a RST is acceptable only if it ACKs the SYN.
    d = Flow(cap, 41004)
    cap.add(d.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "D: SYN")
    cap.add(d.s("RA", seq=0, ack=d.c_isn + 5, advance=False, win=0), "drop", "rst_out_of_window",
            "D: RST+ACK in SYN-SENT with a wrong ACK")
    cap.add(d.s("R", seq=0, advance=False, win=0), "drop", "rst_out_of_window",
            "D: RST without ACK in SYN-SENT")
    cap.add(d.s("RA", seq=0, ack=d.c_isn + 1, advance=False, win=0), "pass", "established",
            "D: RST+ACK acking the SYN (port closed)")

    # No flow at all.
    n = Flow(cap, 41010, client="10.1.0.3")
    cap.add(n.c("R", seq=0x1000), "drop", "rst_no_flow", "RST with no flow")
    cap.add(n.c("RA", seq=0x1000, ack=0x2000), "drop", "rst_no_flow", "RST+ACK with no flow")
    m = Flow(cap, 41011, client="10.1.0.4")
    # Picked up mid-stream (unconfirmed, within the budget); `pickup: off` (the
    # run rfc5961_nopickup) drops them as before.
    nopickup = []
    for frame, note in ((m.c("A", seq=0x1000, ack=0x2000), "ACK with no flow, cookies off"),
                        (m.c("PA", b"z" * 30, seq=0x1000, ack=0x2000), "data with no flow"),
                        (m.c("FA", seq=0x1000, ack=0x2000), "FIN+ACK with no flow")):
        n_ = cap.add(frame, "pass", "pickup", note + ": picked up, unconfirmed",
                     {"state": "PICKUP"})
        nopickup.append({"frame": n_, "verdict": "drop", "reason": "ack_no_flow",
                         "note": note + " (pickup: off)"})
    cap.add(m.s("SA", seq=0x3000, ack=0x1001, opts=SYNACK_OPTS), "drop", "ack_no_flow",
            "SYN-ACK from the server nobody asked for")
    r = Flow(cap, 80, dport=41012, client="198.51.100.7", server=SERVER)
    cap.add(r.c("SA", seq=0x4000, ack=0x5000), "drop", "ack_no_flow",
            "reflected SYN-ACK from outside")

    # E: SYN-ACK with a wrong ACK, then the right one.
    e = Flow(cap, 41005)
    cap.add(e.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "E: SYN")
    cap.add(e.s("SA", ack=e.c_isn + 7, advance=False, opts=SYNACK_OPTS), "drop", "ack_no_flow",
            "E: SYN-ACK not acking the SYN")
    cap.add(e.c("A", ack=e.s_isn + 1, advance=False), "drop", "ack_no_flow",
            "E: client ACK before any SYN-ACK")
    cap.add(e.s("SA", opts=SYNACK_OPTS, win=65160), "pass", "handshake", "E: right SYN-ACK")

    # F: SYN-RECEIVED. The SYN-ACK's window (65160) is never scaled (RFC 7323 s2.2),
    # so a client RST 70000 past RCV.NXT is outside the server's window.
    g = Flow(cap, 41006)
    cap.add(g.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "F: SYN")
    cap.add(g.s("SA", opts=SYNACK_OPTS, win=65160), "pass", "handshake", "F: SYN-ACK, window 65160")
    cap.add(g.c("R", seq=g.s_rcv + 1000, advance=False), "tx", "challenge_ack",
            "F: RST in SYN-RECEIVED, in the SYN-ACK's window")
    cap.add(g.c("R", seq=g.s_rcv + 70000, advance=False), "drop", "rst_out_of_window",
            "F: RST in SYN-RECEIVED 70000 past RCV.NXT (SYN-ACK window 65160 is unscaled)")
    cap.add(g.c("R", advance=False), "pass", "established", "F: RST exact in SYN-RECEIVED")

    # I: the SYN-ACK was lost: the client retransmits its SYN (same ISN) while the
    # flow is in SYN-RECEIVED, which is not a synchronized state (RFC 793), so no
    # RFC 5961 s4 challenge ACK: it must reach the server, which resends its SYN-ACK.
    i = Flow(cap, 41009)
    cap.add(i.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "I: SYN")
    cap.add(i.s("SA", opts=SYNACK_OPTS, win=65160), "pass", "handshake", "I: SYN-ACK (lost on the way)")
    cap.add(i.c("S", seq=i.c_isn, opts=SYN_OPTS, win=64240, advance=False), "pass", "handshake",
            "I: SYN retransmitted in SYN-RECEIVED, same ISN")
    cap.add(i.s("SA", seq=i.s_isn, opts=SYNACK_OPTS, win=65160, advance=False), "pass", "handshake",
            "I: SYN-ACK retransmitted")
    cap.add(i.c("A"), "pass", "handshake", "I: final ACK", {"state": "ESTABLISHED"})

    # G: established, but the server has not sent since its SYN-ACK: its window is
    # still the unscaled 65160 bytes.
    h = Flow(cap, 41007)
    h.handshake()
    cap.add(h.c("R", seq=h.s_rcv + 65159, advance=False), "tx", "challenge_ack",
            "G: RST at the last byte of the SYN-ACK's (unscaled) window")
    cap.add(h.c("R", seq=h.s_rcv + 65160, advance=False), "drop", "rst_out_of_window",
            "G: RST one past the SYN-ACK's window (65160 is not scaled by 2^7)")
    cap.add(h.s("PA", b"w" * 10), "pass", "established", "G: server data, window 509 (x128)")
    cap.add(h.c("R", seq=h.s_rcv + S_RWND - 1, advance=False), "tx", "challenge_ack",
            "G: RST at the last byte of the scaled window 509<<7")

    # H: RFC 5961 s5.2: SEG.ACK must lie in [SND.UNA - MAX.SND.WND, SND.NXT].
    k = Flow(cap, 41008)
    k.handshake()
    k.exchange()
    old = (["tx", "challenge_ack"],)  # s5.2: "discarded and an ACK sent back"
    cap.add(k.c("PA", b"evil", ack=k.c_rcv - 0x40000000, advance=False), "drop", "ack_no_flow",
            "H: data whose ACK is 1 GiB behind SND.UNA (blind injection)", alt=old)
    cap.add(k.c("PA", b"evil", ack=k.c_rcv - 3 * 65536, advance=False), "drop", "ack_no_flow",
            "H: data whose ACK is 3 windows behind SND.UNA", alt=old)
    cap.add(k.c("PA", b"fine", ack=k.c_rcv - 100), "pass", "established",
            "H: data whose ACK is a little behind (reordering)")
    su.run(cap, "rfc5961", OFF)
    keep = [e for e in cap.expect if e["frame"] not in {x["frame"] for x in nopickup}]
    su.run(cap, "rfc5961_nopickup", OFF + "pickup: off\n", expect=keep + nopickup,
           name="rfc5961_nopickup")


def seq_wrap(su):
    cap = Capture("seq_wrap")
    f = Flow(cap, 42000, c_isn=0xFFFFFF00, s_isn=0xFFFFFFA0)
    f.handshake()
    cap.add(f.c("PA", b"a" * 0xEF), "pass", "established", "client data up to 0xFFFFFFF0")
    cap.add(f.s("A"), "pass", "established", "server ACK 0xFFFFFFF0")
    assert f.s_rcv == 0xFFFFFFF0
    cap.add(f.c("R", seq=0x1F0, advance=False), "tx", "challenge_ack",
            "RST in window across 2^32 (RCV.NXT 0xFFFFFFF0, SEQ 0x1F0)")
    cap.add(f.c("PA", b"b" * 512), "pass", "established", "client data crossing 2^32")
    cap.add(f.s("A"), "pass", "established", "server ACK 0x1F0")
    assert f.s_rcv == 0x1F0
    cap.add(f.s("PA", b"c" * 300), "pass", "established", "server data crossing 2^32")
    cap.add(f.c("A"), "pass", "established", "client ACK 0xCD")
    assert f.c_rcv == 0xCD
    rn = f.s_rcv
    cap.add(f.c("R", seq=rn + 100, advance=False), "tx", "challenge_ack", "RST in window after wrap")
    cap.add(f.c("R", seq=0xFFFFFFF0, advance=False), "drop", "rst_out_of_window",
            "RST below RCV.NXT (before the wrap)")
    cap.add(f.c("R", seq=rn + S_RWND, advance=False), "drop", "rst_out_of_window",
            "RST one past the window after wrap")
    cap.add(f.c("R", seq=rn + S_RWND - 1, advance=False), "tx", "challenge_ack",
            "RST at the window's last byte after wrap")
    cap.add(f.c("A", ack=0xCD + 5000, advance=False), "drop", "ack_no_flow",
            "ACK beyond the server's data after wrap")
    cap.add(f.c("A", ack=0xFFFFFFF0, advance=False), "pass", "established",
            "old duplicate ACK from before the wrap")
    cap.add(f.s("R", advance=False), "pass", "established", "server RST exact (0xCD)",
            {"state": "CLOSED"})
    su.run(cap, "seq_wrap", OFF)


def rst_ttl(su):
    cap = Capture("rst_ttl")
    f = Flow(cap, 43000)
    f.handshake()
    f.exchange()
    strict = list(cap.expect)
    rfc = list(cap.expect)
    n = cap.add(f.s("R", ttl=200, advance=False))
    strict.append({"frame": n, "verdict": "drop", "reason": "rst_suspect",
                   "note": "exact RST with TTL 200 from a side seen at TTL 63"})
    rfc.append({"frame": n, "verdict": "pass", "reason": "established",
                "note": "rfc5961: the TTL is not judged"})
    n = cap.add(f.s("R", ttl=62, advance=False))
    strict.append({"frame": n, "verdict": "pass", "reason": "established",
                   "note": "exact RST, TTL 62 within the tolerance of 2"})
    rfc.append({"frame": n, "verdict": "drop", "reason": "rst_no_flow",
                "note": "rfc5961: flow already closed by the previous RST"})
    su.run(cap, "rst_ttl_strict", cfg_text(syn_cookies="off", rst_policy="strict"), strict,
           name="rst_ttl_strict")
    su.run(cap, "rst_ttl_rfc5961", cfg_text(syn_cookies="off", rst_policy="rfc5961"), rfc,
           name="rst_ttl_rfc5961")


def bad_flags(su):
    cap = Capture("bad_flags")
    cases = [("", "NULL"), ("SF", "SYN+FIN"), ("SR", "SYN+RST"), ("FPU", "XMAS"),
             ("F", "FIN without ACK"), ("P", "PSH without ACK"), ("U", "URG without ACK"),
             ("RF", "RST+FIN"), ("SFPU", "SYN+FIN+PSH+URG"), ("FSRPAU", "all flags")]
    for i, (fl, what) in enumerate(cases):
        f = Flow(cap, 44000 + i)
        cap.add(f.c(fl, seq=0x1000 + i, ack=0x2000), "drop", "bad_flags", what)
    land = Flow(cap, 80, client=SERVER, server=SERVER)
    cap.add(land.c("S", seq=0x1234), "drop", "land", "land SYN (src == dst, same port)")
    land2 = Flow(cap, 1234, client=SERVER, server=SERVER)
    cap.add(land2.c("S", seq=0x1234), "drop", "land", "land SYN (src == dst address)")
    land6 = Flow(cap, 80, client=SERVER6, server=SERVER6, v6=True)
    cap.add(land6.c("S", seq=0x1234), "drop", "land", "IPv6 land SYN")
    ok = Flow(cap, 44100)
    cap.add(ok.c("SEC", opts=SYN_OPTS, win=64240), "pass", "handshake", "ECN-setup SYN is legal")
    su.run(cap, "bad_flags", OFF)


def eth_hdr(ethertype=0x0800):
    return bytes.fromhex("020000000002" "020000000001") + struct.pack("!H", ethertype)


def ipv4_hdr(total_len, proto=6, ihl=5, frag=0, ver=4):
    return struct.pack("!BBHHHBBH4s4s", ver << 4 | ihl, 0, total_len, 1, frag, 64, proto, 0,
                       bytes([10, 1, 0, 2]), bytes([10, 2, 0, 2]))


def tcp_hdr(doff=5, opts=b"", flags=0x02, sport=45000, dport=80):
    return struct.pack("!HHIIBBHHH", sport, dport, 0x1000, 0, doff << 4, flags, 64240, 0, 0) + opts


def ipv6_hdr(plen, nh=6):
    return (struct.pack("!IHBB", 6 << 28, plen, nh, 64) +
            bytes.fromhex("20010db8000100000000000000000002") +
            bytes.fromhex("20010db8000200000000000000000002"))


def malformed(su):
    cap = Capture("malformed")
    good_tcp = tcp_hdr()
    cases = [
        (eth_hdr()[:10], "truncated Ethernet header (10 bytes)"),
        (eth_hdr(0x8100) + b"\x00\x64", "truncated 802.1Q tag"),
        (eth_hdr() + ipv4_hdr(40)[:12], "truncated IPv4 header (12 bytes)"),
        (eth_hdr() + ipv4_hdr(40, ihl=4) + good_tcp, "IPv4 IHL 4"),
        (eth_hdr() + ipv4_hdr(40, ver=6) + good_tcp, "IPv4 ethertype, version 6"),
        (eth_hdr() + ipv4_hdr(200) + good_tcp, "IPv4 total length 200 > frame"),
        (eth_hdr() + ipv4_hdr(16) + good_tcp, "IPv4 total length below its header"),
        (eth_hdr() + ipv4_hdr(30) + good_tcp[:10], "truncated TCP header (10 bytes)"),
        (eth_hdr() + ipv4_hdr(40) + good_tcp[:10], "TCP header cut by the frame end"),
        (eth_hdr() + ipv4_hdr(36) + tcp_hdr(doff=4)[:16], "TCP data offset 4"),
        (eth_hdr() + ipv4_hdr(40) + tcp_hdr(doff=8), "TCP data offset past the IP payload"),
        (eth_hdr() + ipv4_hdr(40) + tcp_hdr(sport=0), "TCP source port 0"),
        (eth_hdr() + ipv4_hdr(40, frag=1) + good_tcp, "TCP fragment at offset 8 (RFC 1858)"),
        (eth_hdr(0x86DD) + ipv6_hdr(20)[:30], "truncated IPv6 header (30 bytes)"),
        (eth_hdr(0x86DD) + ipv6_hdr(200) + good_tcp, "IPv6 payload length 200 > frame"),
        (eth_hdr(0x86DD) + ipv6_hdr(10) + good_tcp, "IPv6 payload shorter than a TCP header"),
        (eth_hdr(0x86DD) + ipv6_hdr(20) + good_tcp[:12], "IPv6: TCP header cut by the frame end"),
        (eth_hdr(0x88A8) + b"\x00\xc8\x91\x00" + b"\x00\x64\x81\x00" + b"\x00\x01\x81\x00" +
         b"\x00\x02\x81\x00" + b"\x00\x03\x08\x00" + ipv4_hdr(40) + good_tcp,
         "five VLAN tags (four are accepted)"),
    ]
    for data, what in cases:
        cap.add(data, "drop", "malformed", what)
    # Controls: the same builders make a frame the parser accepts, padding included.
    cap.add(eth_hdr() + ipv4_hdr(44) + tcp_hdr(doff=6, opts=bytes([2, 4, 5, 0xB4])) + bytes(6),
            "pass", "handshake", "control: valid SYN with MSS, padded to 64 bytes")
    cap.add(eth_hdr(0x86DD) + ipv6_hdr(20) + tcp_hdr(sport=45001), "pass", "handshake",
            "control: valid IPv6 SYN")
    su.run(cap, "malformed", OFF)


def ipv6_and_vlans(su):
    cap = Capture("ipv6")
    f = Flow(cap, 46000, client=CLIENT6, server=SERVER6, v6=True)
    f.handshake()
    f.exchange()
    cap.add(f.c("R", seq=f.s_rcv + 500, advance=False), "tx", "challenge_ack", "IPv6 RST in window")
    cap.add(f.c("R", advance=False), "pass", "established", "IPv6 RST exact")
    # Extension headers and IPv4 options are walked, not refused.
    e = Ether(src=C_MAC, dst=S_MAC)
    cap.add(e / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
            TCP(sport=46001, dport=80, flags="S", seq=1000, options=SYN_OPTS), "pass", "handshake",
            "IPv6 SYN behind hop-by-hop and destination options headers")
    cap.add(e / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrFragment(offset=0, m=0) /
            TCP(sport=46002, dport=80, flags="S", seq=1000), "pass", "handshake",
            "IPv6 SYN in an atomic fragment")
    cap.add(e / IP(src=CLIENT, dst=SERVER, ttl=64, options=b"\x01\x01\x01\x00") /
            TCP(sport=46003, dport=80, flags="S", seq=1000), "pass", "handshake",
            "IPv4 SYN with IP options (IHL 6)")
    su.run(cap, "ipv6", OFF)

    cap = Capture("vlan")
    f = Flow(cap, 47000, vlans=(100,))
    f.handshake(fields={"vlans": 1})
    f.exchange()
    g = Flow(cap, 47001, vlans=(200, 100))
    g.handshake(fields={"vlans": 2})
    g.exchange()
    h = Flow(cap, 47002, vlans=(300,), client=CLIENT6, server=SERVER6, v6=True)
    h.handshake(fields={"vlans": 1})
    su.run(cap, "vlan", OFF)


def lists(su):
    cap = Capture("deny")
    f = Flow(cap, 48000)
    cap.add(f.c("S", opts=SYN_OPTS, win=64240), "drop", "denylisted", "SYN from 10.1.0.2 (deny 10.1.0.0/16)")
    cap.add(f.s("SA", opts=SYNACK_OPTS), "drop", "denylisted", "reply towards a denied host")
    g = Flow(cap, 48001, client="10.3.0.2")
    cap.add(g.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "SYN from 10.3.0.2 (not listed)")
    su.run(cap, "deny", cfg_text(syn_cookies="off", deny="[10.1.0.0/16]"))

    cap = Capture("allow")
    f = Flow(cap, 48010)
    cap.add(f.c("S", opts=SYN_OPTS, win=64240), "pass", "allowlisted",
            "SYN from 10.1.0.2: allow /32 beats deny /8")
    cap.add(f.s("SA", opts=SYNACK_OPTS), "pass", "allowlisted",
            "reply to the allow-listed host: its /32 beats the server's deny /8")
    cap.add(f.c("A"), "pass", "allowlisted", "ACK from the allow-listed host")
    g = Flow(cap, 48011, client="10.1.0.3")
    cap.add(g.c("S", opts=SYN_OPTS, win=64240), "drop", "denylisted", "SYN from 10.1.0.3 (deny /8 only)")
    su.run(cap, "allow", cfg_text(syn_cookies="off", allow="[10.1.0.2/32]", deny="[10.0.0.0/8]"))


def limits(su):
    cap = Capture("source_rate")
    for i in range(5):
        f = Flow(cap, 49000 + i, dport=80 + i)
        exp = ("pass", "handshake") if i < 2 else ("drop", "source_rate")
        cap.add(f.c("S", opts=SYN_OPTS, win=64240), *exp, "SYN %d of 5 within 1 s" % (i + 1))
    f = Flow(cap, 49010, dport=90)
    cap.add(f.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "SYN 1 s later: bucket refilled",
            gap_ns=1000 * MS)
    other = Flow(cap, 49011, client="10.1.0.9")
    cap.add(other.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "another source has its own bucket")
    su.run(cap, "source_rate", "syn_cookies: off\nlimits: {source_syn_rate: 2, source_syn_burst: 2}\n")

    cap = Capture("source_concurrent")
    a = Flow(cap, 49100)
    a.handshake()
    b = Flow(cap, 49101, s_isn=0x33330000)
    cap.add(b.c("S", opts=SYN_OPTS, win=64240), "drop", "source_concurrent",
            "second connection while the first is established")
    o = Flow(cap, 49102, client="10.1.0.9")
    o.handshake()
    cap.add(a.c("FA"), "pass", "established", "first connection: client FIN")
    cap.add(a.s("FA"), "pass", "established", "first connection: server FIN")
    cap.add(a.c("A"), "pass", "established", "first connection closed", {"state": "TIME_WAIT"})
    c = Flow(cap, 49103, s_isn=0x44440000)
    c.handshake()
    su.run(cap, "source_concurrent", "syn_cookies: off\nlimits:\n  source_concurrent: 1\n")

    cap = Capture("source_new_conn")
    a = Flow(cap, 49200)
    a.handshake()
    b = Flow(cap, 49201)
    cap.add(b.c("S", opts=SYN_OPTS, win=64240), "drop", "source_new_conn",
            "second new connection within the window")
    o = Flow(cap, 49202, client="10.1.0.9")
    cap.add(o.c("S", opts=SYN_OPTS, win=64240), "pass", "handshake", "another source is not limited")
    su.run(cap, "source_new_conn", "syn_cookies: off\nlimits:\n  source_new_conn: 1\n")


COOKIE_SYN_ISN = 0x0BADF00D
COOKIE_SPORT = 50000
COOKIE_OPTS = [("MSS", 1460), ("SAckOK", b""), ("NOP", None), ("WScale", WS)]  # no TS
ALWAYS = cfg_text(syn_cookies="always")


def cookie_syn_frame():
    cap = Capture("tmp")
    f = Flow(cap, COOKIE_SPORT, c_isn=COOKIE_SYN_ISN)
    return f, f.c("S", opts=COOKIE_OPTS, win=64240)


def cookies(su):
    cap = Capture("cookies")
    f = Flow(cap, 50100)
    cap.add(f.c("S", opts=SYN_OPTS, win=64240), "tx", "syn_cookie", "SYN answered with a cookie",
            {"flows": 0, "mss": 1460, "cookie": "int"})
    g = Flow(cap, 50101, client="10.1.0.7")
    cap.add(g.c("A", seq=0x12345678, ack=0x9ABCDEF0), "drop", "cookie_invalid", "random ACK",
            {"flows": 0})
    cap.add(g.c("PA", b"GET / HTTP/1.1\r\n\r\n", seq=0x12345678, ack=0x9ABCDEF0), "drop",
            "cookie_invalid", "random data segment")
    h = Flow(cap, 50102, client="10.1.0.8")
    cap.add(h.s("SA", seq=0x4000, ack=0x5000), "drop", "ack_no_flow", "SYN-ACK with no flow")
    cap.add(h.c("R", seq=0x5000), "drop", "rst_no_flow", "RST with no flow")
    i = Flow(cap, 50103, client=CLIENT6, server=SERVER6, v6=True)
    cap.add(i.c("S", opts=SYN_OPTS, win=64240), "tx", "syn_cookie", "IPv6 SYN answered with a cookie",
            {"flows": 0, "mss": 1460, "cookie": "int"})
    su.run(cap, "cookies", ALWAYS)

    cap = Capture("protect_ports")
    f = Flow(cap, 50200, dport=443)
    cap.add(f.c("S", opts=SYN_OPTS, win=64240), "tx", "syn_cookie", "SYN to a protected port")
    g = Flow(cap, 50201, dport=80)
    cap.add(g.c("S", opts=SYN_OPTS, win=64240), "pass", "not_protected", "SYN to an unprotected port")
    su.run(cap, "protect_ports", "syn_cookies: always\nprotect_ports: [443]\n")

    # Pass 1 of the valid-cookie test: the SYN alone (no TS option: the JSON has no TSval).
    cap = Capture("cookie_syn")
    _, syn = cookie_syn_frame()
    cap.add(syn, "tx", "syn_cookie", "client SYN (no TS option)", {"flows": 0, "cookie": "int"})
    su.run(cap, "cookie_syn", ALWAYS)


def cookie_ack(outdir, cookie):
    su = Suite(outdir)
    cap = Capture("cookie_ack")
    f, syn = cookie_syn_frame()
    cap.add(syn, "tx", "syn_cookie", "same SYN, same time: same cookie", {"cookie": cookie})
    f.s_nxt = (cookie + 1) & M32        # the filter's SYN-ACK carried ISN = cookie
    f.c_nxt = (COOKIE_SYN_ISN + 1) & M32
    f.c_rcv = f.s_nxt
    bad = f.c("A", ack=cookie + 2, advance=False)
    cap.add(bad, "drop", "cookie_invalid", "ACK of cookie+1 (off by one)")
    # No timestamp: window scale and SACK-permitted ride in the cookie's ISN.
    cap.add(f.c("A"), "pass", "cookie_valid", "ACK seq=isn+1 ack=cookie+1",
            {"mss": 1460, "wscale": 7, "sack": True, "state": "ESTABLISHED", "flows": 1})
    cap.add(f.c("PA", b"GET / HTTP/1.1\r\nHost: moat\r\n\r\n"), "pass", "established", "client data")
    cap.add(f.s("A"), "pass", "established", "server ACK")
    cap.add(f.s("PA", b"HTTP/1.1 200 OK\r\n\r\n"), "pass", "established", "server data")
    cap.add(f.c("A"), "pass", "established", "client ACK")
    su.run(cap, "cookie_ack", ALWAYS)

    cap = Capture("cookie_expired")
    f, syn = cookie_syn_frame()
    cap.add(syn, "tx", "syn_cookie", "same SYN, same time", {"cookie": cookie})
    cap.add(f.frame(True, "A", COOKIE_SYN_ISN + 1, cookie + 1), "drop", "cookie_invalid",
            "valid cookie ACK 200 s later (slots are 64 s, 2 accepted)", gap_ns=200_000 * MS)
    su.run(cap, "cookie_expired", ALWAYS)
    su.write_manifest("manifest_cookie.json")


# ------------------------------------------------- dialects Linux accepts (issue 12)

# Options whose length does not fit their kind: Linux's tcp_parse_options skips them
# (and stops at a length below 2 or one running past the header), the segment stands.
BAD_LEN_OPTS = [
    ([(8, bytes(6))], "Timestamp option length 8"),
    ([(5, b"")], "SACK option length 2 (no block)"),
    ([(2, b"\x05")], "MSS option length 3"),
    ([(3, b"\x07\x00")], "window scale option length 4"),
    ([(4, b"\x00")], "SACK-permitted option length 3"),
    ([(34, b"\x01\x02\x03")], "TFO option, odd cookie length"),
]


def option_dialects(su):
    cap = Capture("tcp_options")
    raw = [
        (tcp_hdr(doff=6, opts=bytes([8, 10, 0, 0])), "TS option (length 10) runs past the header"),
        (tcp_hdr(doff=6, opts=bytes([2, 3, 5, 0])), "MSS option length 3"),
        (tcp_hdr(doff=6, opts=bytes([1, 1, 1, 3])), "option kind without a length byte"),
        (tcp_hdr(doff=6, opts=bytes([3, 0, 0, 0])), "option length 0"),
        (tcp_hdr(doff=6, opts=bytes([3, 1, 0, 0])), "option length 1"),
        (tcp_hdr(doff=6, opts=bytes([3, 4, 7, 0])), "WSCALE option length 4"),
        (tcp_hdr(doff=8, opts=bytes([8, 8]) + bytes(10)), "TS option length 8"),
        (tcp_hdr(doff=6, opts=bytes([5, 2, 1, 1])), "SACK option length 2"),
    ]
    for i, (tcp, what) in enumerate(raw):
        tcp = tcp[:0] + struct.pack("!H", 45100 + i) + tcp[2:]
        cap.add(eth_hdr() + ipv4_hdr(20 + len(tcp)) + tcp, "pass", "handshake",
                "SYN with " + what)
    # Whole conversations whose segments carry such options, in every direction.
    for i, (bad, what) in enumerate(BAD_LEN_OPTS):
        f = Flow(cap, 45200 + i)
        good = SYN_OPTS[:2] + bad + SYN_OPTS[2:]
        cap.add(f.c("S", opts=good, win=64240), "pass", "handshake", "SYN with " + what)
        cap.add(f.s("SA", opts=bad + SYNACK_OPTS, win=65160), "pass", "handshake",
                "SYN-ACK with " + what)
        cap.add(f.c("A", opts=bad), "pass", "handshake", "last ACK with " + what)
        cap.add(f.c("PA", b"C" * 100, opts=bad), "pass", "established", "data with " + what)
        cap.add(f.s("A", opts=[("NOP", None)] + bad), "pass", "established", "ACK with " + what)
        cap.add(f.s("PA", b"S" * 300, opts=bad), "pass", "established", "server data, " + what)
        cap.add(f.c("FA", opts=bad), "pass", "established", "FIN with " + what)
        cap.add(f.s("FA", opts=bad), "pass", "established", "server FIN with " + what)
        cap.add(f.c("A", opts=bad), "pass", "established", "last ACK with " + what,
                {"state": "TIME_WAIT"})
    su.run(cap, "tcp_options", OFF)


TFO_COOKIE = ("TFO", b"\x11\x22\x33\x44\x55\x66\x77\x88")
TFO_SYN_OPTS = SYN_OPTS + [(34, TFO_COOKIE[1])]
GET = b"GET / HTTP/1.1\r\nHost: moat\r\n\r\n"


def tfo(su):
    cap = Capture("tfo")
    # A: SYN with data and a cookie; the server takes only the SYN (cookie refused),
    # the client sends the data again after the handshake.
    a = Flow(cap, 45300)
    cap.add(a.c("S", GET, opts=TFO_SYN_OPTS, win=64240), "pass", "handshake",
            "A: SYN carrying data and a TFO cookie")
    cap.add(a.s("SA", ack=a.c_isn + 1, opts=SYNACK_OPTS, win=65160), "pass", "handshake",
            "A: SYN-ACK acknowledging only the SYN")
    cap.add(a.c("PA", GET, seq=a.c_isn + 1), "pass", "handshake",
            "A: the data again, with the handshake's last ACK", {"state": "ESTABLISHED"})
    cap.add(a.s("A"), "pass", "established", "A: server ACKs the data")
    cap.add(a.s("PA", b"HTTP/1.1 200 OK\r\n\r\n"), "pass", "established", "A: reply")
    cap.add(a.c("A"), "pass", "established", "A: client ACK")
    # B: the server takes the data and answers at once, before the client's last ACK.
    b = Flow(cap, 45301)
    cap.add(b.c("S", GET, opts=TFO_SYN_OPTS, win=64240), "pass", "handshake",
            "B: SYN carrying data and a TFO cookie")
    cap.add(b.s("SA", opts=SYNACK_OPTS, win=65160), "pass", "handshake",
            "B: SYN-ACK acknowledging the SYN and its data")
    syn_ack_end = b.s_nxt
    cap.add(b.s("PA", b"H" * 1000), "pass", "handshake", "B: server data in SYN_RECV",
            {"state": "SYN_RECV"})
    cap.add(b.s("PA", b"I" * 1000), "pass", "handshake", "B: more server data in SYN_RECV")
    cap.add(b.c("A", ack=syn_ack_end, advance=False), "pass", "handshake",
            "B: last ACK of the handshake (the SYN-ACK only)", {"state": "ESTABLISHED"})
    cap.add(b.c("A"), "pass", "established", "B: client ACKs the server's data")
    cap.add(b.c("FA"), "pass", "established", "B: client FIN")
    cap.add(b.s("FA"), "pass", "established", "B: server FIN")
    cap.add(b.c("A"), "pass", "established", "B: last ACK", {"state": "TIME_WAIT"})
    # C: a cookie request (empty TFO option) on a plain SYN.
    c = Flow(cap, 45302)
    c.handshake(syn_opts=SYN_OPTS + [(34, b"")])
    c.exchange()
    su.run(cap, "tfo", OFF)

    # Under SYN cookies a TFO SYN gets a plain cookie SYN-ACK: its data is not kept.
    cap = Capture("tfo_cookie")
    d = Flow(cap, 45303)
    cap.add(d.c("S", GET, opts=TFO_SYN_OPTS, win=64240), "tx", "syn_cookie",
            "TFO SYN with data under cookies: answered with a cookie", {"flows": 0})
    su.run(cap, "tfo_cookie", ALWAYS)


def rst_after_fin(su):
    cap = Capture("rst_after_fin")
    # The client closes, the server ACKs its FIN, the client resets at its FIN's
    # number: RCV.NXT - 1 of the server (macOS; Linux's tcp_reset_check takes it).
    a = Flow(cap, 45400)
    a.handshake()
    a.exchange()
    cap.add(a.c("FA"), "pass", "established", "A: client FIN", {"state": "FIN_WAIT"})
    cap.add(a.s("A"), "pass", "established", "A: server ACKs the FIN")
    cap.add(a.c("R", seq=a.c_nxt - 1, advance=False), "pass", "established",
            "A: client RST at RCV.NXT - 1 (its FIN's number)", {"state": "CLOSED"})
    # Both FINs out, the server waiting for the last ACK (LAST_ACK): the RST comes instead.
    b = Flow(cap, 45401)
    b.handshake()
    b.exchange()
    cap.add(b.c("FA"), "pass", "established", "B: client FIN")
    cap.add(b.s("FA"), "pass", "established", "B: server FIN", {"state": "CLOSING"})
    cap.add(b.c("RA", seq=b.c_nxt - 1, advance=False), "pass", "established",
            "B: client RST+ACK at its FIN's number", {"state": "CLOSED"})
    # The server side does the same after its own FIN.
    c = Flow(cap, 45402)
    c.handshake()
    c.exchange()
    cap.add(c.s("FA"), "pass", "established", "C: server FIN")
    cap.add(c.c("A"), "pass", "established", "C: client ACKs it")
    cap.add(c.s("R", seq=c.s_nxt - 1, advance=False), "pass", "established",
            "C: server RST at its FIN's number", {"state": "CLOSED"})
    # Without a FIN the same number is still out of the window (RFC 5961).
    d = Flow(cap, 45403)
    d.handshake()
    d.exchange()
    cap.add(d.c("R", seq=d.c_nxt - 1, advance=False), "drop", "rst_out_of_window",
            "D: RST at RCV.NXT - 1 without a FIN stays out of window")
    su.run(cap, "rst_after_fin", OFF)


S = 1_000_000_000


def timeouts(su):
    # Idle 2 h 1 s, then a keepalive probe (SEQ one below SND.NXT, no data) and its ACK.
    cap = Capture("keepalive")
    a = Flow(cap, 45500)
    a.handshake()
    a.exchange()
    cap.add(a.c("A", seq=a.c_nxt - 1, advance=False), "pass", "established",
            "keepalive probe after 2 h 1 s idle", gap_ns=7201 * S)
    cap.add(a.s("A"), "pass", "established", "its ACK")
    cap.add(a.c("A", seq=a.c_nxt - 1, advance=False), "pass", "established",
            "keepalive probe 75 s later", gap_ns=75 * S)
    cap.add(a.s("A"), "pass", "established", "its ACK")
    cap.add(a.c("PA", b"x" * 10), "pass", "established", "data after 3 h idle",
            gap_ns=3 * 3600 * S)
    su.run(cap, "keepalive", OFF)

    # Half-close: the client shuts down its side, the server answers 130 s later.
    cap = Capture("half_close")
    b = Flow(cap, 45501)
    b.handshake()
    cap.add(b.c("PA", GET), "pass", "established", "request")
    cap.add(b.c("FA"), "pass", "established", "client FIN (shutdown SHUT_WR)")
    cap.add(b.s("A"), "pass", "established", "server ACKs the request and the FIN")
    cap.add(b.s("PA", b"S" * 500), "pass", "established", "server reply 130 s after the FIN",
            gap_ns=130 * S)
    cap.add(b.c("A"), "pass", "established", "client ACKs the reply")
    cap.add(b.s("PA", b"T" * 500), "pass", "established", "more of the reply 10 min later",
            gap_ns=600 * S)
    cap.add(b.c("A"), "pass", "established", "client ACK")
    cap.add(b.s("FA"), "pass", "established", "server FIN")
    cap.add(b.c("A"), "pass", "established", "last ACK", {"state": "TIME_WAIT"})
    su.run(cap, "half_close", OFF)

    # Both FINs sent; the server's FIN is lost and retransmitted with the RTO backing off.
    cap = Capture("fin_retransmit")
    c = Flow(cap, 45502)
    c.handshake()
    c.exchange()
    cap.add(c.c("FA"), "pass", "established", "client FIN")
    fin = c.s_nxt
    cap.add(c.s("FA"), "pass", "established", "server FIN (lost)", {"state": "CLOSING"})
    cap.add(c.c("FA", seq=c.c_nxt - 1, ack=fin, advance=False), "pass", "established",
            "client FIN retransmitted 61 s later", gap_ns=61 * S)
    cap.add(c.s("FA", seq=fin, advance=False), "pass", "established",
            "server FIN retransmitted 65 s later", gap_ns=65 * S)
    cap.add(c.s("FA", seq=fin, advance=False), "pass", "established",
            "server FIN retransmitted 120 s later (TCP_RTO_MAX)", gap_ns=120 * S)
    cap.add(c.c("A"), "pass", "established", "last ACK", {"state": "TIME_WAIT"})
    cap.add(c.s("FA", seq=fin, advance=False), "pass", "established",
            "a late FIN in TIME_WAIT, 100 s on", gap_ns=100 * S)
    su.run(cap, "fin_retransmit", OFF)

    # The keys: a shorter established timeout ends the flow as configured.
    cap = Capture("timeout_config")
    d = Flow(cap, 45503)
    d.handshake()
    cap.add(d.c("PA", b"x" * 10), "pass", "established", "data 90 s after (timeout 100 s)",
            gap_ns=90 * S)
    # Flow times are kept in whole seconds, rounded in the flow's favour: up to 1 s late.
    cap.add(d.c("PA", b"y" * 10), "pass", "pickup",
            "data 101.5 s after: expired, picked up again (unconfirmed)", {"state": "PICKUP"},
            gap_ns=101 * S + S // 2)
    su.run(cap, "timeout_config",
           "syn_cookies: off\ntimeouts: {established: 100s, time_wait: 2m, closed: 1500ms}\n")


def deep_vlans(su):
    cap = Capture("vlan_deep")
    f = Flow(cap, 45600, vlans=(100, 200, 300))
    f.handshake(fields={"vlans": 3})
    f.exchange()
    cap.add(f.c("R", seq=f.s_rcv + 500, advance=False), "tx", "challenge_ack",
            "RST in window behind 3 tags: a challenge ACK", {"vlans": 3})
    g = Flow(cap, 45601, vlans=(10, 20, 30, 40))
    g.handshake(fields={"vlans": 4})
    g.exchange()
    h = Flow(cap, 45602, vlans=(1, 2, 3, 4), client=CLIENT6, server=SERVER6, v6=True)
    h.handshake(fields={"vlans": 4})
    h.exchange()
    su.run(cap, "vlan_deep", OFF)


def snapshots(su):
    # tcpdump -s 96 of an HTTP download: data frames are cut, the headers are whole.
    cap = Capture("snap96", snaplen=96)
    f = Flow(cap, 45700)
    f.handshake()
    cut = {"truncated": True}
    cap.add(f.c("PA", GET + b"A" * 100), "pass", "established", "request, cut", cut)
    cap.add(f.s("A"), "pass", "established", "ACK")
    for i in range(6):
        cap.add(f.s("A", b"D" * 1448), "pass", "established", "data %d, cut to 96" % i, cut)
        if i & 1:
            cap.add(f.c("A"), "pass", "established", "client ACKs two segments")
    cap.add(f.s("FA", b"E" * 700), "pass", "established", "last data with FIN, cut", cut)
    cap.add(f.c("FA"), "pass", "established", "client ACK + FIN")
    cap.add(f.s("A"), "pass", "established", "last ACK", {"state": "TIME_WAIT"})
    g = Flow(cap, 45701, client=CLIENT6, server=SERVER6, v6=True)
    g.handshake()
    cap.add(g.s("PA", b"D" * 1200), "pass", "established", "IPv6 data, cut", cut)
    cap.add(g.c("A"), "pass", "established", "its ACK covers the bytes not captured")
    su.run(cap, "snap96", OFF)

    # -s 64: the SYN's options are cut part way; -s 40: inside the TCP header itself.
    cap = Capture("snap64", snaplen=64)
    f = Flow(cap, 45702)
    f.handshake()
    cap.expect[-3]["fields"] = cap.expect[-2]["fields"] = {"truncated": True}  # SYN, SYN-ACK
    f.exchange()
    su.run(cap, "snap64", OFF)
    cap = Capture("snap40", snaplen=40)
    f = Flow(cap, 45703)
    nothing = {"truncated": True}
    cap.add(f.c("S", opts=SYN_OPTS, win=64240), "pass", "not_protected",
            "SYN cut inside the TCP header: nothing to judge", nothing)
    cap.add(f.s("SA", opts=SYNACK_OPTS, win=65160), "pass", "not_protected", "SYN-ACK, cut", nothing)
    cap.add(f.c("A"), "pass", "not_protected", "ACK, cut", nothing)
    su.run(cap, "snap40", OFF)


# ---------------------------------------------------------------- mid-stream pickup

def conversations():
    """Seven whole conversations, each a list of (from_client, frame): HTTP keep-alive,
    a download, an upload, interactive with a keepalive probe, IPv6, one ending in a
    RST, one behind a VLAN tag."""
    dummy = Capture("scratch")
    convs = []

    def new(sport, **kw):
        f = Flow(dummy, sport, **kw)
        out = [(True, f.c("S", opts=SYN_OPTS, win=64240)),
               (False, f.s("SA", opts=SYNACK_OPTS, win=65160)), (True, f.c("A"))]
        convs.append(out)
        return f, out

    f, o = new(46000)                          # HTTP keep-alive, three requests
    for _ in range(3):
        o.append((True, f.c("PA", GET)))
        for _ in range(3):
            o.append((False, f.s("PA", b"H" * 1200)))
        o.append((True, f.c("A")))
    o += [(True, f.c("FA")), (False, f.s("FA")), (True, f.c("A"))]

    f, o = new(46001, dport=443)               # a download
    o.append((True, f.c("PA", b"Q" * 300)))
    for i in range(16):
        o.append((False, f.s("A", b"D" * 1400)))
        if i & 1:
            o.append((True, f.c("A")))
    o += [(False, f.s("FA")), (True, f.c("FA")), (False, f.s("A"))]

    f, o = new(46002, dport=22)                # an upload
    for i in range(16):
        o.append((True, f.c("A", b"U" * 1400)))
        if i & 1:
            o.append((False, f.s("A")))
    o += [(True, f.c("FA")), (False, f.s("A")), (False, f.s("FA")), (True, f.c("A"))]

    f, o = new(46003, dport=23)                # interactive, with a keepalive probe
    for i in range(6):
        o += [(True, f.c("PA", b"k")), (False, f.s("PA", b"echo k")), (True, f.c("A"))]
    o.append((True, f.c("A", seq=f.c_nxt - 1, advance=False)))
    o.append((False, f.s("A")))
    for i in range(4):
        o += [(True, f.c("PA", b"l")), (False, f.s("PA", b"echo l")), (True, f.c("A"))]

    f, o = new(46004, client=CLIENT6, server=SERVER6, v6=True)   # IPv6
    for i in range(6):
        o += [(True, f.c("PA", GET)), (False, f.s("PA", b"6" * 1000)), (True, f.c("A"))]
    o += [(False, f.s("FA")), (True, f.c("FA")), (False, f.s("A"))]

    f, o = new(46005)                          # ends in the client's RST
    for i in range(8):
        o += [(True, f.c("PA", b"r" * 200)), (False, f.s("A")), (False, f.s("PA", b"R" * 700)),
              (True, f.c("A"))]
    o.append((True, f.c("RA", advance=False)))

    f, o = new(46006, vlans=(42,))             # behind a VLAN tag
    for i in range(8):
        o += [(False, f.s("PA", b"v" * 900)), (True, f.c("A"))]
    o += [(True, f.c("FA")), (False, f.s("FA")), (True, f.c("A"))]
    return convs


def interleave(convs):
    """Round-robin merge: (conversation, from_client, frame) in time order."""
    out, i = [], 0
    while any(i < len(c) for c in convs):
        for k, c in enumerate(convs):
            if i < len(c):
                out.append((k, c[i][0], c[i][1]))
        i += 1
    return out


def midstream(su):
    """The filter starts while the conversations run: the first 30% of the capture is
    gone, so no flow's beginning is seen. With pickup (the default) the first side's
    segments pass as pickup until the other side's confirm the flow, then established;
    with pickup: off every remaining frame is dropped (ack_no_flow, rst_no_flow)."""
    merged = interleave(conversations())
    cut = merged[len(merged) * 3 // 10:]
    cap = Capture("midstream")
    with_pickup, without = [], []
    first_side, confirmed = {}, set()
    for k, from_client, frame in cut:
        n = cap.add(frame)
        rst = "R" in frame[TCP].flags
        if k not in first_side:
            first_side[k] = from_client
        if from_client != first_side[k]:
            confirmed.add(k)
        if k in confirmed:
            want = ("pass", "established", "conversation %d: confirmed" % k)
        else:
            want = ("pass", "pickup", "conversation %d: %s side first, unconfirmed" %
                    (k, "client" if from_client else "server"))
        with_pickup.append({"frame": n, "verdict": want[0], "reason": want[1], "note": want[2]})
        without.append({"frame": n, "verdict": "drop",
                        "reason": "rst_no_flow" if rst else "ack_no_flow",
                        "note": "conversation %d, pickup: off" % k})
    su.run(cap, "midstream", "", expect=with_pickup)
    su.run(cap, "midstream_off", "pickup: off\n", expect=without, name="midstream_off")
    su.run(cap, "midstream_on", "pickup: on\n",
           expect=with_pickup, name="midstream_on")


FLOOD_NET = "11."


def ack_flood(su):
    """12,000 ACKs from random sources to the server's port 80 over 3 s (4,000 a second),
    with legitimate traffic beside them: a handshake and exchange made during the flood,
    and a download that began before the capture (picked up from the server's side,
    which has its own budget). check_explain.py ack-flood checks the budget and the
    table; the manifest lists the legitimate frames."""
    import random
    rnd = random.Random(12)
    cap = Capture("ack_flood")
    legit = Flow(cap, 47000)
    old = Flow(cap, 47001, dport=443, c_isn=0x33330000, s_isn=0x44440000)
    old.c_nxt = old.s_rcv = 0x33330000 + 5000
    old.s_nxt = old.c_rcv = 0x44440000 + 900000
    base = Ether(src=C_MAC, dst=S_MAC) / IP(dst=SERVER, ttl=50, id=1) / TCP(dport=80, flags="A",
                                                                           window=1000)
    script = {}
    steps = [(lambda: legit.c("S", opts=SYN_OPTS, win=64240), "handshake", "legit SYN"),
             (lambda: legit.s("SA", opts=SYNACK_OPTS, win=65160), "handshake", "legit SYN-ACK"),
             (lambda: legit.c("A"), "handshake", "legit last ACK")]
    for _ in range(5):
        steps += [(lambda: legit.c("PA", GET), "established", "legit request"),
                  (lambda: legit.s("PA", b"L" * 1000), "established", "legit reply"),
                  (lambda: legit.c("A"), "established", "legit ACK")]
    steps += [(lambda: old.s("A", b"O" * 1400), "pickup", "old download: server data first"),
              (lambda: old.s("A", b"O" * 1400), "pickup", "old download: unconfirmed yet"),
              (lambda: old.c("A"), "established", "old download: the client confirms")]
    for _ in range(4):
        steps += [(lambda: old.s("A", b"O" * 1400), "established", "old download: data"),
                  (lambda: old.c("A"), "established", "old download: ACK")]
    for i, st in enumerate(steps):
        script[500 + i * 400] = st
    for i in range(12000):
        if i in script:
            make, reason, note = script[i]
            cap.add(make(), "pass", reason, note + " (during the flood)", gap_ns=250_000)
        p = base.copy()
        p[IP].src = "11.%d.%d.%d" % (rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255))
        p[TCP].sport = rnd.randrange(1024, 65536)
        p[TCP].seq = rnd.getrandbits(32)
        p[TCP].ack = rnd.getrandbits(32)
        cap.add(p, gap_ns=250_000)
    su.run(cap, "ack_flood", "")


def main(argv):
    if len(argv) == 4 and argv[1] == "--cookie-ack":
        cookie_ack(argv[3], int(argv[2]))
        return 0
    if len(argv) != 2:
        sys.stderr.write("usage: gen_captures.py OUTDIR | --cookie-ack COOKIE OUTDIR\n")
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    su = Suite(outdir)
    for scenario in (legit_v4, rfc5961, seq_wrap, rst_ttl, bad_flags, malformed, ipv6_and_vlans,
                     lists, limits, cookies, option_dialects, tfo, rst_after_fin, timeouts,
                     deep_vlans, snapshots, midstream, ack_flood):
        scenario(su)
    su.write_manifest()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
