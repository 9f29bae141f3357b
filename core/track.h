/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-flow TCP tracking for a filter that sees both directions (inline), with
 * the RFC 5961 rules:
 *  - RST: SEQ exactly the receiver's RCV.NXT (or the sender's own SND.NXT, which
 *    a middlebox sees better) is accepted; in the receive window but not exact
 *    gets a challenge ACK; outside it is dropped;
 *  - SYN on a synchronized flow gets a challenge ACK;
 *  - an ACK for data the other side never sent is out of state.
 * Forged-RST heuristic (rst_policy: strict): a RST whose TTL is further than the
 * tolerance from the TTL learned for that direction is dropped as rst_suspect.
 * Behaviour after a RST: the flow lingers in CLOSED; if the side that
 * supposedly reset keeps sending in-window segments, the RST was forged, and the
 * flow is restored instead of stranding a live connection.
 * Dialects Linux accepts are accepted too: a RST at the sender's own FIN
 * (tcp_reset_check), TCP Fast Open (data on the SYN, a SYN-ACK acknowledging
 * only the SYN, server data before the handshake's last ACK), and idle
 * timeouts no shorter than Linux keeps a connection (struct moat_timeouts).
 *
 * Direction 0 is the side that sent the first SYN, 1 the responder.
 */
#ifndef MOAT_CORE_TRACK_H
#define MOAT_CORE_TRACK_H

#include "parse.h"
#include "reason.h"

enum moat_tcp_state {
	MOAT_TCPS_NONE = 0,
	MOAT_TCPS_SYN_SENT,
	MOAT_TCPS_SYN_RECV,
	MOAT_TCPS_ESTABLISHED,
	MOAT_TCPS_FIN_WAIT,  /* one side has sent FIN */
	MOAT_TCPS_CLOSING,   /* both sides have sent FIN */
	MOAT_TCPS_TIME_WAIT, /* both FINs acknowledged */
	MOAT_TCPS_CLOSED,    /* reset; lingers to judge the RST */
	MOAT_TCPS_PROXY_SYN, /* SYN proxy: the client passed its cookie, our SYN is at the server */
	MOAT_TCPS_PICKUP,    /* mid-stream: one side seen, waiting for the other to confirm */
	MOAT_TCPS_COUNT,
};

enum moat_rst_policy { MOAT_RST_RFC5961 = 0, MOAT_RST_STRICT, MOAT_RST_OFF };

/* Four bits (struct moat_peer.flags). */
enum moat_peer_flag {
	MOAT_PEER_ACKED = 1 << 0,  /* has sent an ACK: .ack is its RCV.NXT */
	MOAT_PEER_FIN = 1 << 1,	   /* has sent FIN */
	MOAT_PEER_WSCALE = 1 << 2, /* announced window scaling */
	MOAT_PEER_SYNWIN = 1 << 3, /* .win came from a SYN: never scaled (RFC 7323 2.2) */
};

enum moat_flow_flag {
	MOAT_FLOW_SCALED = 1 << 0,  /* both sides announced window scale */
	MOAT_FLOW_RST_DIR1 = 1 << 1, /* the RST that closed it came from dir 1 */
	MOAT_FLOW_COUNTED = 1 << 2, /* counted in its source's concurrent connections */
	MOAT_FLOW_COOKIE = 1 << 3,  /* established through a SYN cookie */
	MOAT_FLOW_RESTORED = 1 << 4, /* a forged RST was seen and overridden */
	MOAT_FLOW_PROXY = 1 << 5,    /* SYN proxy: sequence (and TS) numbers translated */
	MOAT_FLOW_PROXY_TS = 1 << 6, /* ... timestamps too */
	MOAT_FLOW_PICKUP = 1 << 7,   /* picked up mid-stream: window scales unknown */
};

/*
 * One side of a flow, 14 bytes: a flow table slot holds a whole flow in 44, so
 * windows are kept as the 16-bit fields they travel in (scaled on use) and the
 * small fields share bytes. Packed to 2-byte alignment so two of them fill 28
 * bytes (on x86 a misaligned load costs nothing; BPF splits it).
 */
struct moat_peer {
	u32 end;     /* highest SEQ + length (SYN and FIN count) sent */
	u32 ack;     /* highest ACK sent: its RCV.NXT */
	u16 win;     /* last window field, as sent */
	u16 max_win; /* largest window field sent, units of .win: MAX.SND.WND of the other side */
	u8 ttl;
	u8 wscale : 4; /* 0-14 */
	u8 flags : 4;  /* enum moat_peer_flag */
} __attribute__((packed, aligned(2)));

struct moat_flow {
	struct moat_peer peer[2];
	u16 aux : 12; /* the backend's (moat-dp: its pending-handshake slot in PROXY_SYN) */
	/* SYN proxy: the window scale our cookie SYN-ACK told the client (0: none). */
	u16 proxy_wscale : 4;
	u8 state : 4;	   /* enum moat_tcp_state */
	u8 prev_state : 4; /* state before a RST, to restore it */
	u8 flags;	   /* enum moat_flow_flag */
	u32 last_seen_s;
	/*
	 * SYN proxy (MOAT_FLOW_PROXY): the client's view = the server's + delta.
	 * Server-to-client SEQ and TSval get the deltas added, client-to-server ACK,
	 * SACK blocks and TSecr get them subtracted. In PROXY_SYN they hold our
	 * cookie ISN and the TSval of our SYN-ACK until the server's SYN-ACK comes.
	 * In SYN_RECV of a flow not proxied, seq_delta holds the server's ISN + 1
	 * (moat_track_synack): its data may follow the SYN-ACK (TFO).
	 */
	u32 seq_delta;
	u32 ts_delta;
};

_Static_assert(sizeof(struct moat_peer) == 14, "struct moat_peer is 14 bytes");
_Static_assert(sizeof(struct moat_flow) == 44, "struct moat_flow is 44 bytes (flow table slots)");
_Static_assert(MOAT_TCPS_COUNT <= 16, "a state fits in 4 bits");

/* What happened to the flow, so the caller can keep per-source counts. */
enum moat_track_event {
	MOAT_EV_NONE = 0,
	MOAT_EV_ESTABLISHED, /* handshake completed */
	MOAT_EV_CLOSED,	     /* left the established states */
	MOAT_EV_RESTORED,    /* back to established after a forged RST */
	MOAT_EV_REOPEN,	     /* a new SYN reuses a closed flow's tuple */
};

struct moat_track_cfg {
	u8 rst_policy; /* enum moat_rst_policy */
	u8 ttl_tolerance;
};

/*
 * Idle timeouts per state, nanoseconds (config: timeouts:). A flow is kept at
 * least as long as the Linux ends would keep their sockets; see
 * moat_timeouts_defaults for why each default is what it is.
 */
struct moat_timeouts {
	u64 syn_sent;	 /* SYN_SENT and PROXY_SYN */
	u64 syn_recv;
	u64 established;
	u64 fin_wait;	 /* one side's FIN not yet acknowledged */
	u64 close_wait;	 /* one side's FIN acknowledged: half-closed, the other sends on */
	u64 closing;	 /* both FINs sent, not both acknowledged (CLOSING, LAST_ACK) */
	u64 time_wait;	 /* both FINs acknowledged */
	u64 closed;	 /* after a RST: how long a forged one can be undone */
};

#define MOAT_SEC(s) ((u64)(s) * MOAT_NSEC_PER_SEC)

MOAT_INLINE void moat_timeouts_defaults(struct moat_timeouts *t)
{
	/*
	 * Linux's largest gap between SYN retransmissions (tcp_syn_retries 6) is
	 * 32 s and between SYN-ACK ones 16 s: 60 s outlives both. Embryonic flows
	 * are the first a full table gives up anyway.
	 */
	t->syn_sent = MOAT_SEC(60);
	t->syn_recv = MOAT_SEC(60);
	/*
	 * 5 days, conntrack's nf_conntrack_tcp_timeout_established: far above an
	 * idle connection that keepalive holds (tcp_keepalive_time 7200 s + 9
	 * probes 75 s apart = 7875 s) and application keepalives of hours.
	 */
	t->established = MOAT_SEC(432000);
	/*
	 * A FIN is retransmitted with the RTO backing off to TCP_RTO_MAX (120 s):
	 * 240 s lets one retransmission go missing.
	 */
	t->fin_wait = MOAT_SEC(240);
	t->closing = MOAT_SEC(240);
	/*
	 * Half-closed (shutdown(SHUT_WR)): Linux puts no timer on it while the
	 * sockets are open (CLOSE_WAIT, FIN_WAIT_2 not orphaned), so it lives as
	 * long as an established flow.
	 */
	t->close_wait = MOAT_SEC(432000);
	/* conntrack's 2 MSL; Linux's own TIME_WAIT is 60 s. */
	t->time_wait = MOAT_SEC(120);
	t->closed = MOAT_SEC(10);
}

MOAT_INLINE const char *moat_tcp_state_name(u8 state)
{
	switch (state) {
	case MOAT_TCPS_SYN_SENT: return "SYN_SENT";
	case MOAT_TCPS_SYN_RECV: return "SYN_RECV";
	case MOAT_TCPS_ESTABLISHED: return "ESTABLISHED";
	case MOAT_TCPS_FIN_WAIT: return "FIN_WAIT";
	case MOAT_TCPS_CLOSING: return "CLOSING";
	case MOAT_TCPS_TIME_WAIT: return "TIME_WAIT";
	case MOAT_TCPS_CLOSED: return "CLOSED";
	case MOAT_TCPS_PROXY_SYN: return "PROXY_SYN";
	case MOAT_TCPS_PICKUP: return "PICKUP";
	default: return "NONE";
	}
}

MOAT_INLINE mbool moat_tcp_state_synchronized(u8 state)
{
	return state >= MOAT_TCPS_ESTABLISHED && state <= MOAT_TCPS_CLOSING;
}

/* Sequence space a segment occupies: payload plus one for SYN and for FIN. */
MOAT_INLINE u32 moat_seg_len(const struct moat_pkt *pkt)
{
	return pkt->payload_len + !!(pkt->tcp_flags & MOAT_TCP_SYN) +
	       !!(pkt->tcp_flags & MOAT_TCP_FIN);
}

/*
 * A side's state from its SYN or SYN-ACK. A SYN without ACK has no ACK to
 * keep: until the side first ACKs, .ack holds its ISN + 1, so a SYN-ACK may
 * acknowledge the SYN without its data (TCP Fast Open, moat_acks_syn).
 */
MOAT_INLINE void moat_peer_from_syn(struct moat_peer *p, const struct moat_pkt *pkt)
{
	p->end = pkt->seq + moat_seg_len(pkt);
	p->ack = (pkt->tcp_flags & MOAT_TCP_ACK) ? pkt->ack : pkt->seq + 1;
	p->win = pkt->window;
	p->max_win = pkt->window;
	p->ttl = pkt->ttl;
	p->flags = MOAT_PEER_SYNWIN | ((pkt->tcp_flags & MOAT_TCP_ACK) ? MOAT_PEER_ACKED : 0);
	p->wscale = 0;
	if (pkt->opt.present & MOAT_OPT_WSCALE) {
		p->flags |= MOAT_PEER_WSCALE;
		p->wscale = pkt->opt.wscale > 14 ? 14 : pkt->opt.wscale;
	}
}

/* A new flow from the originator's SYN. */
MOAT_INLINE void moat_track_new(struct moat_flow *f, const struct moat_pkt *syn, u32 now_s)
{
	__builtin_memset(f, 0, sizeof(*f));
	moat_peer_from_syn(&f->peer[0], syn);
	f->state = MOAT_TCPS_SYN_SENT;
	f->last_seen_s = now_s;
}

/* A window field of side `p` in bytes: scaled unless it came from a SYN. */
MOAT_INLINE u32 moat_peer_bytes(const struct moat_flow *f, const struct moat_peer *p, u16 field)
{
	u32 win = field;

	if ((f->flags & MOAT_FLOW_SCALED) && !(p->flags & MOAT_PEER_SYNWIN))
		win <<= p->wscale;
	return win;
}

/* Receive window of side `d` in bytes (at least 1). */
MOAT_INLINE u32 moat_peer_rcv_wnd(const struct moat_flow *f, u32 d)
{
	const struct moat_peer *p = &f->peer[d & 1];
	u32 win = moat_peer_bytes(f, p, p->win);

	return win ? win : 1;
}

/* Advance the sender's view after a packet the filter lets through. */
MOAT_INLINE void moat_peer_update(const struct moat_flow *f, struct moat_peer *p,
				  const struct moat_pkt *pkt)
{
	u32 end = pkt->seq + moat_seg_len(pkt);

	(void)f;
	p->end = moat_seq_max(p->end, end);
	if (pkt->tcp_flags & MOAT_TCP_ACK) {
		if (!(p->flags & MOAT_PEER_ACKED))
			p->ack = pkt->ack;
		else
			p->ack = moat_seq_max(p->ack, pkt->ack);
		p->flags |= MOAT_PEER_ACKED;
	}
	p->win = pkt->window;
	if (!(pkt->tcp_flags & MOAT_TCP_SYN) && (p->flags & MOAT_PEER_SYNWIN)) {
		/*
		 * From here on .max_win counts in scaled units. What the SYN offered is
		 * at most 64 KiB, which moat_ack_acceptable allows anyway: drop it.
		 */
		p->flags &= (u8)~MOAT_PEER_SYNWIN;
		p->max_win = 0;
	}
	if (pkt->window > p->max_win)
		p->max_win = pkt->window;
	if (pkt->tcp_flags & MOAT_TCP_FIN)
		p->flags |= MOAT_PEER_FIN;
}

enum moat_rst_class { MOAT_RST_EXACT = 0, MOAT_RST_IN_WINDOW, MOAT_RST_OUTSIDE };

/* Where a RST from side `dir` falls in the receiver's window. */
MOAT_INLINE int moat_rst_classify(const struct moat_flow *f, u32 dir, const struct moat_pkt *pkt)
{
	const struct moat_peer *snd = &f->peer[dir & 1];
	const struct moat_peer *rcv = &f->peer[(dir ^ 1) & 1];
	u32 rcv_nxt;

	if (f->state == MOAT_TCPS_SYN_SENT) {
		/* RFC 793: in SYN-SENT a RST is acceptable if it ACKs our SYN. */
		if (dir == 1)
			return (pkt->tcp_flags & MOAT_TCP_ACK) && pkt->ack == f->peer[0].end ?
				       MOAT_RST_EXACT : MOAT_RST_OUTSIDE;
		return pkt->seq == snd->end ? MOAT_RST_EXACT : MOAT_RST_OUTSIDE;
	}
	if (pkt->seq == snd->end)
		return MOAT_RST_EXACT;
	/*
	 * A RST with the sequence number of the sender's own FIN, RCV.NXT - 1 of
	 * a receiver that got the FIN (macOS aborts so): Linux takes it as exact
	 * in CLOSE_WAIT, LAST_ACK and CLOSING (tcp_reset_check).
	 */
	if ((snd->flags & MOAT_PEER_FIN) && pkt->seq + 1 == snd->end)
		return MOAT_RST_EXACT;
	rcv_nxt = (rcv->flags & MOAT_PEER_ACKED) ? rcv->ack : snd->end;
	if (pkt->seq == rcv_nxt)
		return MOAT_RST_EXACT;
	if (pkt->seq - rcv_nxt < moat_peer_rcv_wnd(f, dir ^ 1))
		return MOAT_RST_IN_WINDOW;
	return MOAT_RST_OUTSIDE;
}

MOAT_INLINE mbool moat_ttl_suspect(const struct moat_peer *p, u8 ttl, u8 tolerance)
{
	u8 diff = p->ttl > ttl ? p->ttl - ttl : ttl - p->ttl;

	return p->ttl && diff > tolerance;
}

MOAT_INLINE enum moat_reason moat_track_rst(struct moat_flow *f, u32 dir, const struct moat_pkt *pkt,
					    const struct moat_track_cfg *cfg, u8 *event)
{
	int cls;

	if (cfg->rst_policy == MOAT_RST_OFF) {
		*event = moat_tcp_state_synchronized(f->state) ? MOAT_EV_CLOSED : MOAT_EV_NONE;
		f->state = MOAT_TCPS_CLOSED;
		return MOAT_R_ESTABLISHED;
	}
	if (f->state == MOAT_TCPS_CLOSED || f->state == MOAT_TCPS_TIME_WAIT)
		return MOAT_R_RST_NO_FLOW;
	if (cfg->rst_policy == MOAT_RST_STRICT &&
	    moat_ttl_suspect(&f->peer[dir & 1], pkt->ttl, cfg->ttl_tolerance))
		return MOAT_R_RST_SUSPECT;
	cls = moat_rst_classify(f, dir, pkt);
	if (cls == MOAT_RST_IN_WINDOW)
		return MOAT_R_CHALLENGE_ACK;
	if (cls == MOAT_RST_OUTSIDE)
		return MOAT_R_RST_OUT_OF_WINDOW;
	*event = moat_tcp_state_synchronized(f->state) ? MOAT_EV_CLOSED : MOAT_EV_NONE;
	f->prev_state = f->state;
	f->state = MOAT_TCPS_CLOSED;
	if (dir)
		f->flags |= MOAT_FLOW_RST_DIR1;
	else
		f->flags &= (u8)~MOAT_FLOW_RST_DIR1;
	return MOAT_R_ESTABLISHED;
}

/* The originator's ISN + 1 while it has not ACKed (moat_peer_from_syn). */
MOAT_INLINE u32 moat_syn_isn1(const struct moat_peer *p)
{
	return (p->flags & MOAT_PEER_ACKED) ? p->end : p->ack;
}

/*
 * Does a SYN-ACK's ACK acknowledge the originator's SYN? It may leave out
 * some or all of the SYN's data (TFO: the server took only the SYN; the
 * client sends the data again after the handshake).
 */
MOAT_INLINE mbool moat_acks_syn(const struct moat_flow *f, u32 ack)
{
	const struct moat_peer *c = &f->peer[0];
	u32 isn1 = moat_syn_isn1(c);

	return ack - isn1 <= c->end - isn1;
}

MOAT_INLINE enum moat_reason moat_track_syn(struct moat_flow *f, u32 dir, const struct moat_pkt *pkt,
					    u8 *event)
{
	if (dir == 0 && (f->state == MOAT_TCPS_SYN_SENT || f->state == MOAT_TCPS_SYN_RECV)) {
		/*
		 * Retransmission (a TFO SYN's comes without the data: same ISN); or
		 * a client that restarted with a new ISN, whose handshake starts over.
		 * Neither state is synchronized yet.
		 */
		if (pkt->seq + 1 != moat_syn_isn1(&f->peer[0])) {
			moat_peer_from_syn(&f->peer[0], pkt);
			f->state = MOAT_TCPS_SYN_SENT;
			f->flags &= (u8)~MOAT_FLOW_SCALED;
		}
		return MOAT_R_HANDSHAKE;
	}
	if (dir == 0 && (f->state == MOAT_TCPS_TIME_WAIT || f->state == MOAT_TCPS_CLOSED)) {
		*event = MOAT_EV_REOPEN;
		return MOAT_R_HANDSHAKE;
	}
	return MOAT_R_CHALLENGE_ACK; /* RFC 5961 section 4 */
}

/*
 * The server's SYN-ACK to the SYN proxy: it fixes the translation between the
 * client's view (our cookie ISN, our TSval) and the server's. The proxy answers
 * it with the handshake's last ACK; the client never sees it.
 */
MOAT_INLINE enum moat_reason moat_track_proxy_synack(struct moat_flow *f, const struct moat_pkt *pkt)
{
	u32 cookie_isn = f->seq_delta, our_tsval = f->ts_delta;

	/* Our SYN carried the client's ISN: the server must acknowledge ISN + 1. */
	if (pkt->ack != f->peer[1].ack)
		return MOAT_R_ACK_NO_FLOW;
	moat_peer_from_syn(&f->peer[1], pkt);
	f->peer[1].flags &= (u8)~MOAT_PEER_SYNWIN;
	f->peer[1].max_win = 0; /* .max_win is in scaled units now; the SYN's is under 64 KiB */
	f->seq_delta = cookie_isn - pkt->seq;
	/* What the client acknowledged so far, in the server's view from now on. */
	f->peer[0].ack -= f->seq_delta;
	f->flags |= MOAT_FLOW_PROXY;
	if ((f->flags & MOAT_FLOW_PROXY_TS) && (pkt->opt.present & MOAT_OPT_TS))
		f->ts_delta = our_tsval - pkt->opt.tsval;
	else
		f->flags &= (u8)~MOAT_FLOW_PROXY_TS;
	if (!((f->peer[0].flags & MOAT_PEER_WSCALE) && (f->peer[1].flags & MOAT_PEER_WSCALE)))
		f->flags &= (u8)~MOAT_FLOW_SCALED;
	f->state = MOAT_TCPS_ESTABLISHED;
	return MOAT_R_PROXY_ACK;
}

MOAT_INLINE enum moat_reason moat_track_synack(struct moat_flow *f, u32 dir,
					       const struct moat_pkt *pkt, u32 now_s)
{
	if (dir != 1)
		return MOAT_R_ACK_NO_FLOW;
	if (f->state == MOAT_TCPS_PROXY_SYN)
		return moat_track_proxy_synack(f, pkt);
	if (f->state == MOAT_TCPS_SYN_SENT || f->state == MOAT_TCPS_SYN_RECV) {
		if (!moat_acks_syn(f, pkt->ack))
			return MOAT_R_ACK_NO_FLOW;
		if (f->state == MOAT_TCPS_SYN_RECV && pkt->seq + 1 == f->seq_delta) {
			/* Resent (the last ACK was lost): keep what the server sent since. */
			f->peer[1].ack = moat_seq_max(f->peer[1].ack, pkt->ack);
			return MOAT_R_HANDSHAKE;
		}
		moat_peer_from_syn(&f->peer[1], pkt);
		f->seq_delta = pkt->seq + 1;
		if ((f->peer[0].flags & MOAT_PEER_WSCALE) && (f->peer[1].flags & MOAT_PEER_WSCALE))
			f->flags |= MOAT_FLOW_SCALED;
		f->state = MOAT_TCPS_SYN_RECV;
		return MOAT_R_HANDSHAKE;
	}
	/*
	 * SYN proxy: the server's answer to our second SYN comes right behind the
	 * first (the same second as the flow's last packet, the first SYN-ACK):
	 * consumed like it. A SYN-ACK the server sends again later says our ACK
	 * was lost: it goes on to the client as below, whose answer (an ACK)
	 * completes the server's handshake, where the server speaks first too.
	 */
	if ((f->flags & MOAT_FLOW_PROXY) && f->last_seen_s == now_s)
		return MOAT_R_PROXY_ACK;
	/* A SYN-ACK retransmitted because the final ACK was lost. */
	if (pkt->seq + 1 == f->peer[1].end && pkt->ack == f->peer[0].end)
		return MOAT_R_ESTABLISHED;
	return MOAT_R_ACK_NO_FLOW;
}

MOAT_INLINE void moat_track_fin_progress(struct moat_flow *f)
{
	u8 fins = (f->peer[0].flags & MOAT_PEER_FIN ? 1 : 0) + (f->peer[1].flags & MOAT_PEER_FIN ? 1 : 0);

	if (fins == 1 && f->state == MOAT_TCPS_ESTABLISHED)
		f->state = MOAT_TCPS_FIN_WAIT;
	else if (fins == 2 && f->state < MOAT_TCPS_CLOSING)
		f->state = MOAT_TCPS_CLOSING;
	/* Both FINs acknowledged: each side's ACK covers the other's end. */
	if (fins == 2 && f->peer[0].ack == f->peer[1].end && f->peer[1].ack == f->peer[0].end)
		f->state = MOAT_TCPS_TIME_WAIT;
}

/*
 * The ACK field of a segment from side `dir`: not beyond what the other side
 * sent (acknowledging unsent data), and not further behind this side's latest
 * ACK than the largest window this side offered (a blind injection guessing the
 * ACK). The window is taken as at least 64 KiB so reordered ACKs survive.
 */
MOAT_INLINE mbool moat_ack_acceptable(const struct moat_flow *f, u32 dir, const struct moat_pkt *pkt)
{
	const struct moat_peer *self = &f->peer[dir & 1];
	const struct moat_peer *other = &f->peer[(dir ^ 1) & 1];
	u32 max_win = moat_peer_bytes(f, self, self->max_win);
	u32 span = max_win > 0xFFFF ? max_win : 0xFFFF;

	if (moat_seq_lt(other->end, pkt->ack))
		return 0;
	if ((self->flags & MOAT_PEER_ACKED) && moat_seq_lt(pkt->ack, self->ack - span))
		return 0;
	return 1;
}

/*
 * The handshake's last ACK, from the originator in SYN_RECV: it acknowledges
 * the SYN-ACK (server ISN + 1, kept in seq_delta) and at most what the server
 * sent after it.
 */
MOAT_INLINE mbool moat_acks_synack(const struct moat_flow *f, const struct moat_pkt *pkt)
{
	u32 isn1 = f->seq_delta;

	if (!(pkt->tcp_flags & MOAT_TCP_ACK))
		return 0;
	return pkt->ack - isn1 <= f->peer[1].end - isn1;
}

/*
 * A TFO server answers the SYN's data right after its SYN-ACK, before the
 * client's last ACK: in SYN_RECV, a server segment with data or FIN after its
 * ISN, inside the client's window, acknowledging the SYN (and no more than it
 * carried). A bare ACK has nothing to say there.
 */
MOAT_INLINE mbool moat_synrecv_server_data(const struct moat_flow *f, const struct moat_pkt *pkt)
{
	u32 isn1 = f->seq_delta;

	if (!moat_seg_len(pkt) || !(pkt->tcp_flags & MOAT_TCP_ACK) || !moat_acks_syn(f, pkt->ack))
		return 0;
	return pkt->seq - isn1 <= f->peer[1].end - isn1 + moat_peer_rcv_wnd(f, 0);
}

/* ACK-bearing segments without SYN or RST. */
MOAT_INLINE enum moat_reason moat_track_ack(struct moat_flow *f, u32 dir, const struct moat_pkt *pkt,
					    u8 *event)
{
	u8 was;

	switch (f->state) {
	case MOAT_TCPS_SYN_SENT:
		return MOAT_R_ACK_NO_FLOW;
	case MOAT_TCPS_SYN_RECV:
		if (dir == 0 && moat_acks_synack(f, pkt)) {
			moat_peer_update(f, &f->peer[0], pkt);
			f->state = MOAT_TCPS_ESTABLISHED;
			moat_track_fin_progress(f);
			*event = MOAT_EV_ESTABLISHED;
			return MOAT_R_HANDSHAKE;
		}
		if (dir == 1 && moat_synrecv_server_data(f, pkt)) {
			moat_peer_update(f, &f->peer[1], pkt);
			return MOAT_R_HANDSHAKE;
		}
		return MOAT_R_ACK_NO_FLOW;
	case MOAT_TCPS_CLOSED: {
		/* The side that "reset" keeps talking in sequence: the RST was forged. */
		u32 rst_dir = (f->flags & MOAT_FLOW_RST_DIR1) ? 1 : 0;
		u32 exp = f->peer[dir & 1].end;

		if (dir != rst_dir || !moat_tcp_state_synchronized(f->prev_state) ||
		    pkt->seq - exp >= moat_peer_rcv_wnd(f, dir ^ 1) ||
		    ((pkt->tcp_flags & MOAT_TCP_ACK) && !moat_ack_acceptable(f, dir, pkt)))
			return MOAT_R_ACK_NO_FLOW;
		f->state = f->prev_state;
		f->flags |= MOAT_FLOW_RESTORED;
		*event = MOAT_EV_RESTORED;
		break;
	}
	case MOAT_TCPS_TIME_WAIT:
		/* Late retransmissions of the closing exchange are normal. */
		break;
	default:
		break;
	}
	/* RFC 5961 section 5.2: SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT. */
	if ((pkt->tcp_flags & MOAT_TCP_ACK) && !moat_ack_acceptable(f, dir, pkt))
		return MOAT_R_ACK_NO_FLOW;
	was = f->state;
	moat_peer_update(f, &f->peer[dir & 1], pkt);
	moat_track_fin_progress(f);
	if (moat_tcp_state_synchronized(was) && f->state == MOAT_TCPS_TIME_WAIT)
		*event = MOAT_EV_CLOSED;
	return MOAT_R_ESTABLISHED;
}

/* A packet of a known flow: the reason, and *event for the caller's accounting. */
MOAT_INLINE enum moat_reason moat_track_packet(struct moat_flow *f, u32 dir, const struct moat_pkt *pkt,
					       const struct moat_track_cfg *cfg, u32 now_s, u8 *event)
{
	u8 flags = pkt->tcp_flags;
	enum moat_reason r;

	*event = MOAT_EV_NONE;
	if (flags & MOAT_TCP_RST)
		r = moat_track_rst(f, dir, pkt, cfg, event);
	else if ((flags & (MOAT_TCP_SYN | MOAT_TCP_ACK)) == MOAT_TCP_SYN)
		r = moat_track_syn(f, dir, pkt, event);
	else if (flags & MOAT_TCP_SYN)
		r = moat_track_synack(f, dir, pkt, now_s);
	else
		r = moat_track_ack(f, dir, pkt, event);
	if (moat_reason_verdict(r) == MOAT_PASS)
		f->last_seen_s = now_s;
	return r;
}

/*
 * A window field of a proxied flow's segment from side `dir`, rescaled for the
 * side it goes to. The client was told our SYN-ACK's scale (proxy_wscale), the
 * server chose its own in its SYN-ACK to the proxy; a server that announced no
 * scale sees the client's windows unscaled. Rounded down, as a stack's own
 * scaling does, but never from an open window to a closed one: a window the
 * server thinks open gets no update, and the client would wait in persist.
 */
MOAT_INLINE u16 moat_proxy_window(const struct moat_flow *f, u32 dir, u16 field)
{
	mbool client_scales = (f->peer[0].flags & MOAT_PEER_WSCALE) != 0;
	mbool server_scales = (f->flags & MOAT_FLOW_SCALED) != 0;
	u32 from, to;
	u64 bytes;

	if (dir == 1) {
		from = server_scales ? f->peer[1].wscale : 0;
		to = client_scales ? f->proxy_wscale : 0;
	} else {
		from = client_scales ? f->peer[0].wscale : 0;
		to = server_scales ? f->peer[0].wscale : 0;
	}
	if (from == to || !field)
		return field;
	bytes = (u64)field << from >> to;
	return (u16)(bytes > 0xFFFF ? 0xFFFF : bytes ? bytes : 1);
}

/*
 * A proxied flow is tracked in the server's sequence space: the client's ACK,
 * TSecr and window are brought into it before tracking (the dataplane writes
 * them back).
 */
MOAT_INLINE void moat_proxy_to_server_view(const struct moat_flow *f, u32 dir, struct moat_pkt *pkt)
{
	if (!(f->flags & MOAT_FLOW_PROXY) || dir != 0)
		return;
	pkt->ack -= f->seq_delta;
	if ((f->flags & MOAT_FLOW_PROXY_TS) && (pkt->opt.present & MOAT_OPT_TS))
		pkt->opt.tsecr -= f->ts_delta;
	pkt->window = moat_proxy_window(f, 0, pkt->window);
}

/*
 * Mid-stream pickup (conntrack's "loose" pickup, made to wait for the other
 * side): a segment of a flow the table does not know makes a tentative flow
 * (PICKUP) holding what its sender showed; a segment of the other side whose
 * numbers fit it confirms the flow, which is then ESTABLISHED (or a FIN state)
 * with both sides learned. Window scales were in the SYNs nobody saw: both are
 * taken as 14, the largest, so no segment of a real connection falls outside a
 * window; the price is windows up to 1 GiB wide (docs/engine.md).
 */
#define MOAT_PICKUP_TENTATIVE_NS MOAT_SEC(10) /* a reply comes within an RTT */
#define MOAT_PICKUP_WSCALE 14
#define MOAT_PICKUP_MIN_SPAN 0x10000u

/* The tentative flow from the first segment seen; its sender is dir 0. */
MOAT_INLINE void moat_pickup_new(struct moat_flow *f, const struct moat_pkt *pkt, u32 now_s)
{
	__builtin_memset(f, 0, sizeof(*f));
	f->peer[0].end = pkt->seq + moat_seg_len(pkt);
	f->peer[0].ack = pkt->ack;
	f->peer[0].win = pkt->window;
	f->peer[0].max_win = pkt->window;
	f->peer[0].ttl = pkt->ttl;
	f->peer[0].flags = MOAT_PEER_ACKED | ((pkt->tcp_flags & MOAT_TCP_FIN) ? MOAT_PEER_FIN : 0);
	f->seq_delta = pkt->seq; /* the lowest SEQ seen of dir 0, until confirmed */
	f->state = MOAT_TCPS_PICKUP;
	f->last_seen_s = now_s;
}

/* Another segment of the tentative flow's first sender. */
MOAT_INLINE void moat_pickup_more(struct moat_flow *f, const struct moat_pkt *pkt)
{
	if (moat_seq_lt(pkt->seq, f->seq_delta))
		f->seq_delta = pkt->seq;
	moat_peer_update(f, &f->peer[0], pkt);
}

/* How far a side's numbers may stray: its receive window at the largest scale. */
MOAT_INLINE u32 moat_pickup_span(u16 win)
{
	u32 span = (u32)win << MOAT_PICKUP_WSCALE;

	return span > MOAT_PICKUP_MIN_SPAN ? span : MOAT_PICKUP_MIN_SPAN;
}

/*
 * Does a segment of dir 1 answer the tentative flow? Its ACK must fall near
 * what dir 0 sent (behind by at most dir 1's window: dir 0's data in flight;
 * ahead by as much: dir 0 retransmitted old data), and its SEQ near what dir 0
 * acknowledged (within dir 0's window either way). A RST never confirms.
 */
MOAT_INLINE mbool moat_pickup_confirms(const struct moat_flow *f, const struct moat_pkt *pkt)
{
	const struct moat_peer *p0 = &f->peer[0];
	u32 span1 = moat_pickup_span(pkt->window);
	u32 span0 = moat_pickup_span(p0->max_win);
	u32 lo = f->seq_delta - span1;

	if (!(pkt->tcp_flags & MOAT_TCP_ACK) || (pkt->tcp_flags & (MOAT_TCP_RST | MOAT_TCP_SYN)))
		return 0;
	if (pkt->ack - lo > p0->end - f->seq_delta + 2 * span1)
		return 0;
	return pkt->seq - (p0->ack - span0) <= 2 * span0;
}

/*
 * The confirming segment: dir 1 learned from it, each side's end at least
 * what the other acknowledged (it sent that much before we saw it).
 */
MOAT_INLINE void moat_pickup_confirm(struct moat_flow *f, const struct moat_pkt *pkt)
{
	struct moat_peer *p0 = &f->peer[0], *p1 = &f->peer[1];

	p1->end = moat_seq_max(pkt->seq + moat_seg_len(pkt), p0->ack);
	p1->ack = pkt->ack;
	p1->win = pkt->window;
	p1->max_win = pkt->window;
	p1->ttl = pkt->ttl;
	p1->flags = MOAT_PEER_ACKED | ((pkt->tcp_flags & MOAT_TCP_FIN) ? MOAT_PEER_FIN : 0);
	p0->end = moat_seq_max(p0->end, pkt->ack);
	p0->wscale = MOAT_PICKUP_WSCALE;
	p1->wscale = MOAT_PICKUP_WSCALE;
	p0->flags |= MOAT_PEER_WSCALE;
	p1->flags |= MOAT_PEER_WSCALE;
	f->flags = MOAT_FLOW_SCALED | MOAT_FLOW_PICKUP;
	f->seq_delta = 0;
	f->state = MOAT_TCPS_ESTABLISHED;
	moat_track_fin_progress(f);
}

/* The idle timeout of the flow's state, nanoseconds. */
MOAT_INLINE u64 moat_tcp_state_timeout(const struct moat_flow *f, const struct moat_timeouts *t)
{
	const struct moat_peer *other;
	u32 d;

	switch (f->state) {
	case MOAT_TCPS_SYN_SENT:
	case MOAT_TCPS_PROXY_SYN:
		return t->syn_sent;
	case MOAT_TCPS_SYN_RECV:
		return t->syn_recv;
	case MOAT_TCPS_ESTABLISHED:
		return t->established;
	case MOAT_TCPS_FIN_WAIT:
		/* Half-closed once the other side has acknowledged the FIN. */
		d = (f->peer[1].flags & MOAT_PEER_FIN) ? 1 : 0;
		other = &f->peer[(d ^ 1) & 1];
		if ((other->flags & MOAT_PEER_ACKED) && !moat_seq_lt(other->ack, f->peer[d & 1].end))
			return t->close_wait;
		return t->fin_wait;
	case MOAT_TCPS_CLOSING:
		return t->closing;
	case MOAT_TCPS_TIME_WAIT:
		return t->time_wait;
	case MOAT_TCPS_PICKUP:
		return MOAT_PICKUP_TENTATIVE_NS;
	default:
		return t->closed;
	}
}

/*
 * Has the flow been idle past its state's timeout? Compared in nanoseconds;
 * last_seen_s is rounded down, so the flow was seen up to a second later than
 * it says: that second is counted in its favour (never expired early).
 */
MOAT_INLINE mbool moat_flow_expired(const struct moat_flow *f, const struct moat_timeouts *t,
				    u64 now_ns)
{
	u64 seen = MOAT_SEC(f->last_seen_s) + MOAT_NSEC_PER_SEC - 1;

	return now_ns > seen && now_ns - seen > moat_tcp_state_timeout(f, t);
}

#endif
