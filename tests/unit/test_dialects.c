/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dialects Linux accepts (issue 12): a RST at the sender's own FIN, TCP Fast
 * Open's three shapes, and frames a capture's snapshot cut (moat_parse_snap).
 */
#include <criterion/criterion.h>

#include "core/track.h"
#include "frames.h"

#define NOW 1000u

static const struct moat_track_cfg rfc = { .rst_policy = MOAT_RST_RFC5961, .ttl_tolerance = 2 };

static struct moat_pkt seg(u8 flags, u32 seq, u32 ack, u16 len)
{
	struct moat_pkt p;

	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.proto = 6;
	p.tcp_flags = flags;
	p.seq = seq;
	p.ack = ack;
	p.window = 1000;
	p.payload_len = len;
	p.ttl = 64;
	return p;
}

static enum moat_reason in(struct moat_flow *f, u32 dir, struct moat_pkt p)
{
	u8 ev;

	return moat_track_packet(f, dir, &p, &rfc, NOW, &ev);
}

static void established(struct moat_flow *f, u32 c, u32 s)
{
	struct moat_pkt p = seg(MOAT_TCP_SYN, c, 0, 0);

	moat_track_new(f, &p, NOW);
	cr_assert_eq(in(f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, s, c + 1, 0)), MOAT_R_HANDSHAKE);
	cr_assert_eq(in(f, 0, seg(MOAT_TCP_ACK, c + 1, s + 1, 0)), MOAT_R_HANDSHAKE);
	cr_assert_eq(f->state, MOAT_TCPS_ESTABLISHED);
}

/* Client FIN at 1001, the server ACKs it, then the client resets at 1001 (RCV.NXT - 1). */
Test(dialects, rst_at_fin_after_fin)
{
	struct moat_flow f;

	established(&f, 1000, 5000);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_FIN | MOAT_TCP_ACK, 1001, 5001, 0)), MOAT_R_ESTABLISHED);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_ACK, 5001, 1002, 0)), MOAT_R_ESTABLISHED);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_RST, 1001, 0, 0)), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
}

/* Without a FIN, RCV.NXT - 1 stays outside the window (RFC 5961). */
Test(dialects, rst_below_rcv_nxt_without_fin)
{
	struct moat_flow f;

	established(&f, 1000, 5000);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 1001, 5001, 10)), MOAT_R_ESTABLISHED);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_ACK, 5001, 1011, 0)), MOAT_R_ESTABLISHED);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_RST, 1010, 0, 0)), MOAT_R_RST_OUT_OF_WINDOW);
}

/* Both FINs sent (server in LAST_ACK): the client's RST at its FIN is exact too. */
Test(dialects, rst_at_fin_in_closing)
{
	struct moat_flow f;

	established(&f, 1000, 5000);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_FIN | MOAT_TCP_ACK, 1001, 5001, 0)), MOAT_R_ESTABLISHED);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_FIN | MOAT_TCP_ACK, 5001, 1002, 0)), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSING);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_RST, 1001, 0, 0)), MOAT_R_ESTABLISHED);
}

/* TFO: SYN with 100 bytes; the SYN-ACK takes only the SYN; the client sends the data again. */
Test(dialects, tfo_synack_acks_only_syn)
{
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 100);
	struct moat_flow f;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1001, 0)), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.state, MOAT_TCPS_SYN_RECV);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 1001, 5001, 100)), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_ACK, 5001, 1101, 0)), MOAT_R_ESTABLISHED);
}

/* TFO: the SYN-ACK takes the data; the server answers before the client's last ACK. */
Test(dialects, tfo_server_data_in_syn_recv)
{
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 100);
	struct moat_flow f;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1101, 0)), MOAT_R_HANDSHAKE);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 5001, 1101, 300)), MOAT_R_HANDSHAKE);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 5301, 1101, 300)), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.state, MOAT_TCPS_SYN_RECV);
	/* The client's last ACK may take the SYN-ACK only, or the data too. */
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_ACK, 1101, 5301, 0)), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_ACK, 1101, 5601, 0)), MOAT_R_ESTABLISHED);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_ACK, 1101, 5602, 0)), MOAT_R_ACK_NO_FLOW);
}

/* What TFO allows stays bounded: beyond the SYN's data, before the server's ISN. */
Test(dialects, tfo_bounds)
{
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 100);
	struct moat_flow f;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1102, 0)), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1000, 0)), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1050, 0)), MOAT_R_HANDSHAKE);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_ACK, 5001, 1050, 0)), MOAT_R_ACK_NO_FLOW, "bare ACK");
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 4000, 1050, 10)), MOAT_R_ACK_NO_FLOW,
		     "data before the server's ISN");
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_ACK, 1050, 5002, 0)), MOAT_R_ACK_NO_FLOW,
		     "last ACK beyond the SYN-ACK");
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_ACK, 1050, 5000, 0)), MOAT_R_ACK_NO_FLOW,
		     "last ACK below the SYN-ACK");
}

/* A TFO SYN resent without its data (same ISN) is a retransmission, not a new handshake. */
Test(dialects, tfo_syn_resent_without_data)
{
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 100);
	struct moat_flow f;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(in(&f, 0, seg(MOAT_TCP_SYN, 1000, 0, 0)), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.peer[0].end, 1101);
	cr_assert_eq(in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1101, 0)), MOAT_R_HANDSHAKE);
}

/* A snapshot of 60 bytes of a 1514-byte data segment: judged on its headers, length from IP. */
Test(dialects, snapshot_cut_payload)
{
	u8 b[FRAME_MAX];
	struct tcp_spec s = { .family = 4, .saddr4 = 0x0a010002, .daddr4 = 0x0a020002,
			      .sport = 1234, .dport = 80, .flags = MOAT_TCP_ACK, .payload = 1460 };
	size_t n = build_tcp_frame(b, &s);
	struct moat_pkt p;

	cr_assert_eq(n, 1514);
	cr_assert_eq(moat_parse(b, b + 60, &p), MOAT_PARSE_MALFORMED);
	cr_assert_eq(moat_parse_snap(b, b + 60, (u32)n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.payload_len, 1460);
	cr_assert_eq(p.l3_len, 1500);
	/* Cut inside the fixed TCP header: nothing to judge. */
	cr_assert_eq(moat_parse_snap(b, b + 40, (u32)n, &p), MOAT_PARSE_CUT);
	cr_assert_eq(moat_parse_snap(b, b + 20, (u32)n, &p), MOAT_PARSE_CUT);
	cr_assert_eq(moat_parse_snap(b, b + 10, (u32)n, &p), MOAT_PARSE_CUT);
	/* A frame that is short on the wire too is still malformed. */
	cr_assert_eq(moat_parse_snap(b, b + 40, 40, &p), MOAT_PARSE_MALFORMED);
}

/* Options a snapshot cut: those kept are read, the walk stops at the cut. */
Test(dialects, snapshot_cut_options)
{
	u8 b[FRAME_MAX], o[20];
	struct tcp_spec s = { .family = 4, .saddr4 = 0x0a010002, .daddr4 = 0x0a020002,
			      .sport = 1234, .dport = 80, .flags = MOAT_TCP_SYN, .payload = 0 };
	size_t n, ol = 0;
	struct moat_pkt p;

	ol += opt_mss(o + ol, 1460);
	ol += opt_ts(o + ol, 7, 0);
	ol = opt_pad(o, ol);
	s.opts = o;
	s.optlen = ol;
	n = build_tcp_frame(b, &s);
	cr_assert_eq(moat_parse_snap(b, b + 58, (u32)n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, MOAT_OPT_MSS);
	cr_assert_eq(p.opt.mss, 1460);
	cr_assert_eq(moat_parse_snap(b, b + n, (u32)n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, MOAT_OPT_MSS | MOAT_OPT_TS);
}
