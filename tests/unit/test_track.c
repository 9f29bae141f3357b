/* SPDX-License-Identifier: BSD-3-Clause */
/* core/track.h: handshake, teardown, RFC 5961 RST/SYN/ACK rules, forged-RST restore. */
#include <criterion/criterion.h>

#include "core/track.h"

#define NOW 1000u

static const struct moat_track_cfg rfc = { .rst_policy = MOAT_RST_RFC5961, .ttl_tolerance = 2 };

/* A segment as the parser would describe it (only what track.h reads). */
static struct moat_pkt seg(u8 flags, u32 seq, u32 ack, u16 win, u16 len)
{
	struct moat_pkt p;

	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.proto = 6;
	p.tcp_flags = flags;
	p.seq = seq;
	p.ack = ack;
	p.window = win;
	p.payload_len = len;
	p.ttl = 64;
	return p;
}

static struct moat_pkt syn_ws(u8 flags, u32 seq, u32 ack, u16 win, int ws, u8 ttl)
{
	struct moat_pkt p = seg(flags, seq, ack, win, 0);

	if (ws >= 0) {
		p.opt.present |= MOAT_OPT_WSCALE;
		p.opt.wscale = (u8)ws;
	}
	p.ttl = ttl;
	return p;
}

static enum moat_reason pkt_in(struct moat_flow *f, u32 dir, struct moat_pkt p, u8 *ev)
{
	return moat_track_packet(f, dir, &p, &rfc, NOW, ev);
}

/* Client ISN c, server ISN s; both SYNs carry window `win` and scale `ws` (-1: none). */
static void handshake(struct moat_flow *f, u32 c, u32 s, u16 win, int ws_c, int ws_s)
{
	struct moat_pkt p = syn_ws(MOAT_TCP_SYN, c, 0, win, ws_c, 64);
	u8 ev = 0xff;

	moat_track_new(f, &p, NOW);
	cr_assert_eq(f->state, MOAT_TCPS_SYN_SENT);
	p = syn_ws(MOAT_TCP_SYN | MOAT_TCP_ACK, s, c + 1, win, ws_s, 50);
	cr_assert_eq(moat_track_packet(f, 1, &p, &rfc, NOW, &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(f->state, MOAT_TCPS_SYN_RECV);
	cr_assert_eq(ev, MOAT_EV_NONE);
	cr_assert_eq(pkt_in(f, 0, seg(MOAT_TCP_ACK, c + 1, s + 1, win, 0), &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(f->state, MOAT_TCPS_ESTABLISHED);
	cr_assert_eq(ev, MOAT_EV_ESTABLISHED);
}

Test(track, handshake_states)
{
	struct moat_flow f;

	handshake(&f, 1000, 5000, 1000, -1, -1);
	cr_assert_eq(f.peer[0].end, 1001);
	cr_assert_eq(f.peer[1].end, 5001);
	cr_assert_eq(f.peer[0].ack, 5001);
	cr_assert_eq(f.peer[1].ack, 1001);
	cr_assert_eq(f.flags & MOAT_FLOW_SCALED, 0);
}

Test(track, data_both_ways_then_close)
{
	struct moat_flow f;
	u8 ev;

	handshake(&f, 1000, 5000, 1000, -1, -1);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 1001, 5001, 1000, 100), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(ev, MOAT_EV_NONE);
	cr_assert_eq(f.peer[0].end, 1101);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 5001, 1101, 1000, 300), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.peer[1].end, 5301);
	cr_assert_eq(f.peer[1].ack, 1101);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1101, 5301, 1000, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);

	/* client closes first */
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_FIN | MOAT_TCP_ACK, 1101, 5301, 1000, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_FIN_WAIT);
	cr_assert_eq(ev, MOAT_EV_NONE);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5301, 1102, 1000, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_FIN_WAIT);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_FIN | MOAT_TCP_ACK, 5301, 1102, 1000, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSING);
	cr_assert_eq(ev, MOAT_EV_NONE);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1102, 5302, 1000, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_TIME_WAIT);
	cr_assert_eq(ev, MOAT_EV_CLOSED);
	/* a retransmitted last ACK in TIME_WAIT passes without another event */
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1102, 5302, 1000, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(ev, MOAT_EV_NONE);
	/* a new SYN on the tuple reopens */
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_SYN, 90000, 0, 1000, 0), &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(ev, MOAT_EV_REOPEN);
}

/*
 * Established flow where the server (dir 1) has 300 bytes in flight that the
 * client has not acknowledged: server SND.NXT = s+301, client RCV.NXT = s+1.
 */
static void with_data_in_flight(struct moat_flow *f, u32 c, u32 s, u16 win, int ws)
{
	u8 ev;

	handshake(f, c, s, win, ws, ws);
	cr_assert_eq(pkt_in(f, 0, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, c + 1, s + 1, win, 200), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, s + 1, c + 201, win, 300), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f->peer[0].ack, s + 1);
	cr_assert_eq(f->peer[1].end, s + 301);
}

Test(track, rst_exact_at_receiver_ack)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 1000, 5000, 1000, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001, 0, 0, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
	cr_assert_eq(ev, MOAT_EV_CLOSED);
	/* a second RST finds nothing left to reset */
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001, 0, 0, 0), &ev), MOAT_R_RST_NO_FLOW);
}

Test(track, rst_exact_at_sender_end)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 1000, 5000, 1000, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST | MOAT_TCP_ACK, 5301, 1201, 0, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
}

Test(track, rst_in_window_challenged)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 1000, 5000, 1000, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5002, 0, 0, 0), &ev), MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001 + 999, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);
	/* from the client: the server's RCV.NXT is 1201 (it ACKed 200 bytes) */
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_RST, 1300, 0, 0, 0), &ev), MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);
}

Test(track, rst_outside_window_dropped)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 1000, 5000, 1000, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001 + 1000, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5000, 0, 0, 0), &ev), MOAT_R_RST_OUT_OF_WINDOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 0x80000000u, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_RST, 1201 + 1000, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);
	cr_assert_eq(ev, MOAT_EV_NONE);
}

Test(track, window_scaling)
{
	struct moat_flow f;
	u8 ev;

	/* wscale 7 on both SYNs; both sides then advertise 100 -> 12800 bytes */
	with_data_in_flight(&f, 1000, 5000, 100, 7);
	cr_assert(f.flags & MOAT_FLOW_SCALED);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001 + 12799, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001 + 12800, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_RST, 1201 + 12799, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_RST, 1201 + 12800, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
}

Test(track, window_scaling_needs_both_sides)
{
	struct moat_flow f;
	struct moat_pkt p = syn_ws(MOAT_TCP_SYN, 1000, 0, 100, 7, 64);
	u8 ev;

	moat_track_new(&f, &p, NOW);
	p = syn_ws(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1001, 100, -1, 64);
	cr_assert_eq(pkt_in(&f, 1, p, &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1001, 5001, 100, 0), &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.flags & MOAT_FLOW_SCALED, 0);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001 + 100, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001 + 99, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
}

/* RFC 7323 2.2: the window of a SYN is never scaled, even on a scaled flow. */
Test(track, syn_window_not_scaled)
{
	struct moat_flow f;
	u8 ev;

	handshake(&f, 1000, 5000, 1000, 7, 7);
	cr_assert(f.flags & MOAT_FLOW_SCALED);
	/* the server has sent only its SYN-ACK: its receive window is 1000 bytes */
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_RST, 1001 + 999, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_RST, 1001 + 1000, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	/* the client's final ACK carried a scaled window: 1000 << 7 */
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001 + 127999, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001 + 128000, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	/* once the server sends a segment its window field is scaled too */
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5001, 1001, 1000, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_RST, 1001 + 127999, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_RST, 1001 + 128000, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
}

/* RFC 5961 5.2: SND.UNA - MAX.SND.WND <= SEG.ACK, the window taken as >= 64 KiB. */
Test(track, ack_too_old)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 1000, 5000, 1000, -1);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1201, 5301, 1000, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.peer[0].ack, 5301);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1201, 5301 - 65536, 1000, 0), &ev),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1201, 5301 - 65535, 1000, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.peer[0].ack, 5301, "an old ACK does not move RCV.NXT back");
}

Test(track, ack_too_old_scaled_window)
{
	struct moat_flow f;
	u8 ev;

	/* the client offered 1000 << 7 = 128000 bytes */
	with_data_in_flight(&f, 1000, 5000, 1000, 7);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1201, 5301, 1000, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1201, 5301 - 128001, 1000, 0), &ev),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1201, 5301 - 128000, 1000, 0), &ev),
		     MOAT_R_ESTABLISHED);
}

/*
 * The largest window is kept as a window field (two bytes) in the units of the
 * side's later segments: the 65535 of a SYN is never read as 65535 << 14.
 */
Test(track, ack_span_syn_window_not_scaled)
{
	struct moat_flow f;
	u8 ev;

	handshake(&f, 1000, 5000, 65535, 14, 14);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 5001, 1001, 2, 100), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.peer[1].max_win, 2, "2 << 14 = 32768 bytes, in window units");
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5101, 1001 - 65536, 2, 0), &ev),
		     MOAT_R_ACK_NO_FLOW, "the 64 KiB floor, not the SYN's window scaled");
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5101, 1001 - 65535, 2, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5101, 1001, 40000, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5101, 1001 - (40000u << 14), 2, 0), &ev),
		     MOAT_R_ESTABLISHED, "a window field of 40000 << 14 bytes spans that far");
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5101, 1001 - (40000u << 14) - 1, 2, 0), &ev),
		     MOAT_R_ACK_NO_FLOW);
}

Test(track, wraparound)
{
	const u32 c = 0xFFFFFFF0u, s = 0xFFFFFFF8u;
	struct moat_flow f;
	u8 ev;

	/* server sends 300 bytes across 2^32: SND.NXT = 0x125, client RCV.NXT = 0xFFFFFFF9 */
	with_data_in_flight(&f, c, s, 1000, -1);
	cr_assert_eq(f.peer[1].end, 0x125u);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, s + 1 + 500, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, s + 1 + 999, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, s + 1 + 1000, 0, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, s, 0, 0, 0), &ev), MOAT_R_RST_OUT_OF_WINDOW);
	/* an old ACK from before the wrap is not "beyond" 0x125 */
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, c + 201, s + 1, 1000, 0), &ev),
		     MOAT_R_ESTABLISHED);
	/* ACKs across the wrap: all of the server's data is fine, one byte more is not */
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, c + 201, 0x126u, 1000, 0), &ev),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, c + 201, 0x125u, 1000, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.peer[0].ack, 0x125u);
	/* now RCV.NXT == SND.NXT == 0x125 */
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 0x125u + 10, 0, 0, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 0x125u, 0, 0, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
}

Test(track, wraparound_exact_at_receiver_ack)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 0xFFFFFF00u, 0xFFFFFFF8u, 1000, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 0xFFFFFFF9u, 0, 0, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
}

Test(track, syn_on_established_challenged)
{
	struct moat_flow f;
	u8 ev;

	handshake(&f, 1000, 5000, 1000, -1, -1);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_SYN, 1000, 0, 1000, 0), &ev), MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_SYN, 777777, 0, 1000, 0), &ev),
		     MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_SYN, 5000, 0, 1000, 0), &ev), MOAT_R_CHALLENGE_ACK);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);
}

Test(track, syn_retransmit_in_syn_sent)
{
	struct moat_flow f;
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 1000, 0);
	u8 ev;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(pkt_in(&f, 0, p, &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.state, MOAT_TCPS_SYN_SENT);
	cr_assert_eq(f.peer[0].end, 1001);
	/* a restarted client with a new ISN: the SYN-ACK must now ack the new one */
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_SYN, 3000, 0, 1000, 0), &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.peer[0].end, 3001);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1001, 1000, 0), &ev),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 3001, 1000, 0), &ev),
		     MOAT_R_HANDSHAKE);
}

Test(track, syn_retransmit_in_syn_recv)
{
	struct moat_flow f;
	struct moat_pkt p = syn_ws(MOAT_TCP_SYN, 1000, 0, 1000, 7, 64);
	u8 ev;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(pkt_in(&f, 1, syn_ws(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1001, 1000, 7, 64), &ev),
		     MOAT_R_HANDSHAKE);
	cr_assert(f.flags & MOAT_FLOW_SCALED);
	/* the SYN-ACK was lost on the way to the client, which sends its SYN again */
	cr_assert_eq(pkt_in(&f, 0, p, &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(f.state, MOAT_TCPS_SYN_RECV);
	/* a restarted client: the handshake starts over */
	cr_assert_eq(pkt_in(&f, 0, syn_ws(MOAT_TCP_SYN, 3000, 0, 1000, -1, 64), &ev),
		     MOAT_R_HANDSHAKE);
	cr_assert_eq(f.state, MOAT_TCPS_SYN_SENT);
	cr_assert_eq(f.flags & MOAT_FLOW_SCALED, 0);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1001, 5001, 1000, 0), &ev), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 6000, 3001, 1000, 0), &ev),
		     MOAT_R_HANDSHAKE);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 3001, 6001, 1000, 0), &ev), MOAT_R_HANDSHAKE);
	cr_assert_eq(ev, MOAT_EV_ESTABLISHED);
}

Test(track, synack_from_originator)
{
	struct moat_flow f;
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 1000, 0);
	u8 ev;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 1000, 1001, 1000, 0), &ev),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(f.state, MOAT_TCPS_SYN_SENT);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1002, 1000, 0), &ev),
		     MOAT_R_ACK_NO_FLOW, "SYN-ACK acking the wrong ISN");
	cr_assert_eq(f.state, MOAT_TCPS_SYN_SENT);
}

Test(track, synack_retransmit_after_established)
{
	struct moat_flow f;
	u8 ev;

	handshake(&f, 1000, 5000, 1000, -1, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1001, 1000, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 6000, 1001, 1000, 0), &ev),
		     MOAT_R_ACK_NO_FLOW);
}

Test(track, ack_of_unsent_data)
{
	struct moat_flow f;
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 1000, 0);
	u8 ev;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1001, 5001, 1000, 0), &ev), MOAT_R_ACK_NO_FLOW,
		     "ACK in SYN_SENT");
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1001, 1000, 0), &ev),
		     MOAT_R_HANDSHAKE);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1001, 5002, 1000, 0), &ev), MOAT_R_ACK_NO_FLOW,
		     "final ACK acking the wrong ISN");
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5001, 1001, 1000, 0), &ev), MOAT_R_ACK_NO_FLOW,
		     "responder ACK in SYN_RECV");
	cr_assert_eq(f.state, MOAT_TCPS_SYN_RECV);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1001, 5001, 1000, 0), &ev), MOAT_R_HANDSHAKE);

	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1001, 5002, 1000, 0), &ev), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 5001, 1002, 1000, 10), &ev),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(f.peer[1].end, 5001, "a refused segment does not advance the sender");
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 5001, 1001, 1000, 10), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1001, 5011, 1000, 0), &ev), MOAT_R_ESTABLISHED);
}

Test(track, rst_in_syn_sent)
{
	struct moat_flow f;
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 1000, 0);
	u8 ev;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST | MOAT_TCP_ACK, 0, 1002, 0, 0), &ev),
		     MOAT_R_RST_OUT_OF_WINDOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 0, 1001, 0, 0), &ev), MOAT_R_RST_OUT_OF_WINDOW,
		     "no ACK flag");
	cr_assert_eq(f.state, MOAT_TCPS_SYN_SENT);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST | MOAT_TCP_ACK, 0, 1001, 0, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
	cr_assert_eq(ev, MOAT_EV_NONE, "never established, nothing to uncount");
}

static void strict_flow(struct moat_flow *f)
{
	with_data_in_flight(f, 1000, 5000, 1000, -1);
	cr_assert_eq(f->peer[1].ttl, 50);
	cr_assert_eq(f->peer[0].ttl, 64);
}

Test(track, rst_strict_ttl)
{
	const struct moat_track_cfg strict = { .rst_policy = MOAT_RST_STRICT, .ttl_tolerance = 2 };
	struct moat_flow f;
	struct moat_pkt r = seg(MOAT_TCP_RST, 5001, 0, 0, 0);
	u8 ev;

	strict_flow(&f);
	r.ttl = 53;
	cr_assert_eq(moat_track_packet(&f, 1, &r, &strict, NOW, &ev), MOAT_R_RST_SUSPECT);
	r.ttl = 47;
	cr_assert_eq(moat_track_packet(&f, 1, &r, &strict, NOW, &ev), MOAT_R_RST_SUSPECT);
	r.ttl = 128;
	cr_assert_eq(moat_track_packet(&f, 1, &r, &strict, NOW, &ev), MOAT_R_RST_SUSPECT);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);
	/* within tolerance: the normal rules */
	r.ttl = 52;
	r.seq = 5010;
	cr_assert_eq(moat_track_packet(&f, 1, &r, &strict, NOW, &ev), MOAT_R_CHALLENGE_ACK);
	r.seq = 5001 + 1000;
	cr_assert_eq(moat_track_packet(&f, 1, &r, &strict, NOW, &ev), MOAT_R_RST_OUT_OF_WINDOW);
	r.ttl = 48;
	r.seq = 5001;
	cr_assert_eq(moat_track_packet(&f, 1, &r, &strict, NOW, &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
}

Test(track, rst_ttl_ignored_without_strict)
{
	struct moat_flow f;
	struct moat_pkt r = seg(MOAT_TCP_RST, 5001, 0, 0, 0);
	u8 ev;

	strict_flow(&f);
	r.ttl = 128;
	cr_assert_eq(moat_track_packet(&f, 1, &r, &rfc, NOW, &ev), MOAT_R_ESTABLISHED);
}

Test(track, rst_policy_off)
{
	const struct moat_track_cfg off = { .rst_policy = MOAT_RST_OFF };
	struct moat_flow f;
	struct moat_pkt r = seg(MOAT_TCP_RST, 123, 0, 0, 0);
	u8 ev;

	handshake(&f, 1000, 5000, 1000, -1, -1);
	cr_assert_eq(moat_track_packet(&f, 1, &r, &off, NOW, &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
	cr_assert_eq(ev, MOAT_EV_CLOSED);
}

Test(track, forged_rst_restored)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 1000, 5000, 1000, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001, 0, 0, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
	/* the "reset" server keeps sending in sequence */
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 5301, 1201, 1000, 100), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(f.state, MOAT_TCPS_ESTABLISHED);
	cr_assert_eq(ev, MOAT_EV_RESTORED);
	cr_assert(f.flags & MOAT_FLOW_RESTORED);
	cr_assert_eq(f.peer[1].end, 5401);
}

Test(track, after_rst_other_side_not_restored)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 1000, 5000, 1000, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001, 0, 0, 0), &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(&f, 0, seg(MOAT_TCP_ACK, 1201, 5301, 1000, 0), &ev), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
	cr_assert_eq(ev, MOAT_EV_NONE);
	/* the resetting side, but out of window */
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 5301 + 1000, 1201, 1000, 0), &ev),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
}

/* A segment the filter drops must not be the one that undoes the RST. */
Test(track, restore_needs_acceptable_ack)
{
	struct moat_flow f;
	u8 ev;

	with_data_in_flight(&f, 1000, 5000, 1000, -1);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST, 5001, 0, 0, 0), &ev), MOAT_R_ESTABLISHED);
	/* in-window SEQ from the resetting side, but it ACKs 1000 bytes never sent */
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK | MOAT_TCP_PSH, 5301, 2201, 1000, 10), &ev),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED, "flow restored by a dropped segment");
	cr_assert_eq(ev, MOAT_EV_NONE);
	cr_assert_eq(f.flags & MOAT_FLOW_RESTORED, 0);
}

Test(track, rst_in_syn_sent_not_restored)
{
	struct moat_flow f;
	struct moat_pkt p = seg(MOAT_TCP_SYN, 1000, 0, 1000, 0);
	u8 ev;

	moat_track_new(&f, &p, NOW);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_RST | MOAT_TCP_ACK, 0, 1001, 0, 0), &ev),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt_in(&f, 1, seg(MOAT_TCP_ACK, 0, 1001, 1000, 0), &ev), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(f.state, MOAT_TCPS_CLOSED);
}

Test(track, expiry_per_state)
{
	static const struct {
		u8 state;
		u32 timeout;
	} t[] = {
		{ MOAT_TCPS_SYN_SENT, 60 },   { MOAT_TCPS_SYN_RECV, 60 },
		{ MOAT_TCPS_ESTABLISHED, 432000 }, { MOAT_TCPS_FIN_WAIT, 240 },
		{ MOAT_TCPS_CLOSING, 240 },   { MOAT_TCPS_TIME_WAIT, 120 },
		{ MOAT_TCPS_CLOSED, 10 },     { MOAT_TCPS_PROXY_SYN, 60 },
	};
	struct moat_timeouts to;
	struct moat_flow f;
	size_t i;

	moat_timeouts_defaults(&to);
	memset(&f, 0, sizeof(f));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		u64 seen = 5000 * MOAT_NSEC_PER_SEC + 999999999; /* last_seen_s rounds down */

		f.state = t[i].state;
		f.last_seen_s = 5000;
		cr_assert_not(moat_flow_expired(&f, &to, seen + MOAT_SEC(t[i].timeout)), "%s",
			      moat_tcp_state_name(t[i].state));
		cr_assert(moat_flow_expired(&f, &to, seen + MOAT_SEC(t[i].timeout) + 1), "%s",
			  moat_tcp_state_name(t[i].state));
	}
}

/* 2 h 1 s of silence, then a keepalive: Linux's keepalive holds the socket 7875 s. */
Test(track, expiry_keepalive_outlives_linux)
{
	struct moat_timeouts to;
	struct moat_flow f;

	moat_timeouts_defaults(&to);
	memset(&f, 0, sizeof(f));
	f.state = MOAT_TCPS_ESTABLISHED;
	f.last_seen_s = 1000;
	cr_assert_not(moat_flow_expired(&f, &to, MOAT_SEC(1000 + 7201)));
	cr_assert_not(moat_flow_expired(&f, &to, MOAT_SEC(1000 + 7875 + 75)));
	cr_assert_gt(to.established, MOAT_SEC(7875));
}

/* Compared in nanoseconds, configurable below a second's resolution of the flow's time. */
Test(track, expiry_nanoseconds)
{
	struct moat_timeouts to;
	struct moat_flow f;

	moat_timeouts_defaults(&to);
	to.closed = 1500 * 1000000ULL; /* 1.5 s */
	memset(&f, 0, sizeof(f));
	f.state = MOAT_TCPS_CLOSED;
	f.last_seen_s = 10; /* seen somewhere in [10 s, 11 s) */
	cr_assert_not(moat_flow_expired(&f, &to, MOAT_SEC(12) + 499999999));
	cr_assert(moat_flow_expired(&f, &to, MOAT_SEC(12) + 500000000));
	cr_assert_not(moat_flow_expired(&f, &to, MOAT_SEC(5))); /* a clock behind the flow */
}

/* One FIN: fin_wait until the other side acknowledges it, then close_wait (half-closed). */
Test(track, expiry_half_closed)
{
	struct moat_timeouts to;
	struct moat_flow f;

	moat_timeouts_defaults(&to);
	memset(&f, 0, sizeof(f));
	f.state = MOAT_TCPS_FIN_WAIT;
	f.peer[0].flags = MOAT_PEER_FIN | MOAT_PEER_ACKED;
	f.peer[0].end = 2001;
	f.peer[1].flags = MOAT_PEER_ACKED;
	f.peer[1].ack = 2000;
	cr_assert_eq(moat_tcp_state_timeout(&f, &to), to.fin_wait);
	f.peer[1].ack = 2001;
	cr_assert_eq(moat_tcp_state_timeout(&f, &to), to.close_wait);
	/* The server's FIN, acknowledged by the client. */
	f.peer[0].flags = MOAT_PEER_ACKED;
	f.peer[0].ack = 7001;
	f.peer[1].flags = MOAT_PEER_FIN | MOAT_PEER_ACKED;
	f.peer[1].end = 7001;
	cr_assert_eq(moat_tcp_state_timeout(&f, &to), to.close_wait);
	f.last_seen_s = 100;
	cr_assert_not(moat_flow_expired(&f, &to, MOAT_SEC(100 + 130)));
}

Test(track, last_seen_only_on_pass)
{
	struct moat_flow f;
	struct moat_pkt p;
	u8 ev;

	handshake(&f, 1000, 5000, 1000, -1, -1);
	cr_assert_eq(f.last_seen_s, NOW);
	p = seg(MOAT_TCP_ACK, 1001, 9999, 1000, 0);
	cr_assert_eq(moat_track_packet(&f, 0, &p, &rfc, NOW + 50, &ev), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(f.last_seen_s, NOW);
	p = seg(MOAT_TCP_ACK, 1001, 5001, 1000, 0);
	cr_assert_eq(moat_track_packet(&f, 0, &p, &rfc, NOW + 60, &ev), MOAT_R_ESTABLISHED);
	cr_assert_eq(f.last_seen_s, NOW + 60);
}
