/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The verdict engine with inline semantics (both directions seen): parse,
 * stateless anomalies, lists, then TCP state, limits and SYN cookies.
 *
 * Backend interface: the including file defines `struct moat_be` and these
 * functions (before or after including this header), so each target keeps its
 * own state store (per-lcore tables, BPF maps, explain's tables) and the
 * engine stays free of globals and helpers:
 *
 *   int moat_be_list(struct moat_be *, const struct moat_addr *, u8 family);
 *       -> MOAT_LIST_MATCH(enum moat_list_match, prefix length) for one address
 *   struct moat_flow *moat_be_flow_find(struct moat_be *, const struct moat_pkt *, u32 *dir);
 *   struct moat_flow *moat_be_flow_add(struct moat_be *, const struct moat_pkt *);
 *       -> NULL when the table is full of flows it must not evict
 *   struct moat_source *moat_be_source(struct moat_be *, const struct moat_addr *, u8 family,
 *                                      u32 plen, u64 now_ns);  -> NULL if none can be had
 *   struct moat_trigger *moat_be_dest(struct moat_be *, const struct moat_pkt *);
 *
 * A backend with a flow table defines MOAT_BE_PICKUP before including this
 * header, and one more function: the mid-stream pickup budget of a destination
 * address (NULL if none can be had). Without it nothing is picked up (host
 * mode: the kernel's sockets are the state).
 *
 *   struct moat_pickup_budget *moat_be_pickup(struct moat_be *, const struct moat_addr *,
 *                                             u8 family);
 *
 * A backend that makes a burst's cookies ahead (moat-dp, SipHash in SIMD
 * lanes) defines MOAT_BE_COOKIE_AHEAD and moat_be_cookie_ahead, whose cookie
 * must be the one moat_cookie_make_slot makes; without it each is made here.
 * One that looks up a burst's allow/deny lists ahead (moat-dp) defines
 * MOAT_BE_LISTS_AHEAD and moat_be_lists_ahead: the packet's list action, the
 * one the two moat_be_list calls below would give; without it they are made.
 */
#ifndef MOAT_CORE_ENGINE_H
#define MOAT_CORE_ENGINE_H

#include "anomaly.h"
#include "cookie.h"
#include "reply.h"
#include "flowkey.h"
#include "limits.h"
#include "policy.h"
#include "track.h"
#include "engine_types.h"

struct moat_be;

MOAT_INLINE int moat_be_list(struct moat_be *be, const struct moat_addr *a, u8 family);
MOAT_INLINE struct moat_flow *moat_be_flow_find(struct moat_be *be, const struct moat_pkt *pkt,
						 u32 *dir);
MOAT_INLINE struct moat_flow *moat_be_flow_add(struct moat_be *be, const struct moat_pkt *pkt);
MOAT_INLINE struct moat_source *moat_be_source(struct moat_be *be, const struct moat_addr *a,
					       u8 family, u32 plen, u64 now_ns);
MOAT_INLINE struct moat_trigger *moat_be_dest(struct moat_be *be, const struct moat_pkt *pkt);
#ifdef MOAT_BE_PICKUP
MOAT_INLINE struct moat_pickup_budget *moat_be_pickup(struct moat_be *be, const struct moat_addr *a,
						      u8 family);
#else
MOAT_INLINE struct moat_pickup_budget *moat_be_pickup(struct moat_be *be, const struct moat_addr *a,
						      u8 family)
{
	(void)be;
	(void)a;
	(void)family;
	return NULL;
}
#endif

#ifdef MOAT_BE_LISTS_AHEAD
/* The packet's list action (MOAT_LIST_ACTION) into *action if looked up ahead (1), else 0. */
MOAT_INLINE int moat_be_lists_ahead(struct moat_be *be, const struct moat_pkt *pkt, int *action);
#else
MOAT_INLINE int moat_be_lists_ahead(struct moat_be *be, const struct moat_pkt *pkt, int *action)
{
	(void)be;
	(void)pkt;
	(void)action;
	return 0;
}
#endif

#ifdef MOAT_BE_COOKIE_AHEAD
/* The SYN's cookie by key in slot if the backend made it ahead (1), else 0. */
MOAT_INLINE int moat_be_cookie_ahead(struct moat_be *be, const struct moat_siphash_key *key,
				     u32 slot, struct moat_cookie *out);
#else
MOAT_INLINE int moat_be_cookie_ahead(struct moat_be *be, const struct moat_siphash_key *key,
				     u32 slot, struct moat_cookie *out)
{
	(void)be;
	(void)key;
	(void)slot;
	(void)out;
	return 0;
}
#endif

MOAT_INLINE u32 moat_now_s(const struct moat_engine *e)
{
	return (u32)(e->now_ns / MOAT_NSEC_PER_SEC);
}

/*
 * Lists look at both endpoints, so replies to an allow-listed host pass too:
 * the longest prefix matched on either side decides (deny on a tie).
 */
MOAT_INLINE int moat_engine_lists(const struct moat_engine *e, const struct moat_pkt *pkt)
{
	int s, d;

	if (moat_be_lists_ahead(e->be, pkt, &s))
		return s;
	s = moat_be_list(e->be, &pkt->saddr, pkt->family);
	d = moat_be_list(e->be, &pkt->daddr, pkt->family);
	return MOAT_LIST_ACTION(moat_list_pick(s, d));
}

MOAT_INLINE mbool moat_limits_active(const struct moat_limits *l)
{
	return l->syn_rate || l->new_conn || l->concurrent;
}

/* Limiter record for the packet's source at one granularity, or NULL if not limited. */
MOAT_INLINE struct moat_source *moat_engine_source(const struct moat_engine *e,
						   const struct moat_pkt *pkt,
						   const struct moat_limits *l, u32 plen)
{
	if (!moat_limits_active(l))
		return NULL;
	return moat_be_source(e->be, &pkt->saddr, pkt->family, plen, e->now_ns);
}

/* Connection limits on a source record: 0 or the reason to drop. */
MOAT_INLINE enum moat_reason moat_conn_limits(const struct moat_engine *e, struct moat_source *s,
					      const struct moat_limits *l)
{
	u64 win = (u64)l->new_conn_window_s * MOAT_NSEC_PER_SEC;

	if (!s)
		return 0;
	if (l->new_conn && moat_window_count(&s->conn, e->now_ns, win) >= l->new_conn)
		return MOAT_R_SOURCE_NEW_CONN;
	if (l->concurrent && s->concurrent >= l->concurrent)
		return MOAT_R_SOURCE_CONCURRENT;
	return 0;
}

MOAT_INLINE enum moat_reason moat_syn_limits(const struct moat_engine *e, struct moat_source *s,
					     const struct moat_limits *l)
{
	u32 burst = l->syn_burst ? l->syn_burst : l->syn_rate;

	if (!s)
		return 0;
	if (l->syn_rate && !moat_bucket_take(&s->syn, e->now_ns, l->syn_rate, burst ? burst : 1))
		return MOAT_R_SOURCE_RATE;
	return moat_conn_limits(e, s, l);
}

/*
 * Count a flow entering (+1) or leaving (-1) the established states against its
 * originator, at both granularities; the flow's COUNTED flag makes it idempotent.
 */
MOAT_INLINE void moat_account_established(const struct moat_engine *e, const struct moat_pkt *pkt,
					  u32 dir, struct moat_flow *f, int delta)
{
	const struct moat_addr *origin = dir ? &pkt->daddr : &pkt->saddr;
	const struct moat_policy *pol = e->pol;
	struct moat_source *s;
	const struct moat_limits *lims[2] = { &pol->source, &pol->prefix };
	u32 plens[2] = { pkt->family == 6 ? 128 : 32, moat_prefix_len(pol, pkt->family) };
	int i;

	if (delta > 0 && (f->flags & MOAT_FLOW_COUNTED))
		return;
	if (delta < 0 && !(f->flags & MOAT_FLOW_COUNTED))
		return;
	MOAT_UNROLL
	for (i = 0; i < 2; i++) {
		const struct moat_limits *l = lims[i];
		u64 win = (u64)l->new_conn_window_s * MOAT_NSEC_PER_SEC;

		if (!moat_limits_active(l))
			continue;
		s = moat_be_source(e->be, origin, pkt->family, plens[i], e->now_ns);
		if (!s)
			continue;
		if (delta > 0) {
			moat_window_add(&s->conn, e->now_ns, win, 1);
			s->concurrent++;
		} else if (s->concurrent) {
			s->concurrent--;
		}
	}
	if (delta > 0)
		f->flags |= MOAT_FLOW_COUNTED;
	else
		f->flags &= (u8)~MOAT_FLOW_COUNTED;
}

/* Limits at handshake completion, for both granularities. */
MOAT_INLINE enum moat_reason moat_completion_limits(const struct moat_engine *e,
						    const struct moat_pkt *pkt)
{
	const struct moat_policy *pol = e->pol;
	enum moat_reason r;

	r = moat_conn_limits(e, moat_engine_source(e, pkt, &pol->source, pkt->family == 6 ? 128 : 32),
			     &pol->source);
	if (r)
		return r;
	return moat_conn_limits(e, moat_engine_source(e, pkt, &pol->prefix,
						      moat_prefix_len(pol, pkt->family)),
				&pol->prefix);
}

MOAT_INLINE mbool moat_cookies_engaged(const struct moat_engine *e, const struct moat_pkt *pkt,
				       mbool count_syn)
{
	const struct moat_policy *pol = e->pol;
	struct moat_trigger *t;

	if (pol->syn_cookies == MOAT_COOKIES_ALWAYS)
		return 1;
	if (pol->syn_cookies == MOAT_COOKIES_OFF)
		return 0;
	t = moat_be_dest(e->be, pkt);
	if (!t)
		return 1; /* cannot measure: assume a flood rather than hand out state */
	if (count_syn)
		return moat_trigger_syn(t, e->now_ns, pol->syn_trigger,
					(u64)pol->cookie_hold_s * MOAT_NSEC_PER_SEC);
	return moat_trigger_engaged(t, e->now_ns);
}

/* SYN limits of the packet's source address, then of its prefix: 0 or the reason. */
MOAT_INLINE enum moat_reason moat_syn_source_limits(const struct moat_engine *e,
						    const struct moat_pkt *pkt)
{
	const struct moat_policy *pol = e->pol;
	enum moat_reason r;

	r = moat_syn_limits(e, moat_engine_source(e, pkt, &pol->source, pkt->family == 6 ? 128 : 32),
			    &pol->source);
	if (r)
		return r;
	return moat_syn_limits(e, moat_engine_source(e, pkt, &pol->prefix,
						      moat_prefix_len(pol, pkt->family)),
			       &pol->prefix);
}

/* The cookie SYN-ACK's numbers for a SYN, by the current secret. */
MOAT_INLINE void moat_engine_cookie(const struct moat_engine *e, const struct moat_pkt *pkt,
				    struct moat_cookie *out)
{
	u32 slot = moat_cookie_slot(moat_cookie_now(e));

	if (!moat_be_cookie_ahead(e->be, &e->sec->cur, slot, out))
		moat_cookie_make_slot(&e->sec->cur, pkt, slot, e->ts_clock, out);
}

/* A SYN that opens a new flow. */
MOAT_INLINE enum moat_reason moat_engine_syn(const struct moat_engine *e, const struct moat_pkt *pkt,
					     struct moat_flow *reuse, struct moat_result *res)
{
	const struct moat_policy *pol = e->pol;
	struct moat_flow *f = reuse;
	enum moat_reason r;

	if (moat_port_protected(pol, pkt->dport)) {
		r = moat_syn_source_limits(e, pkt);
		if (r)
			return r;
		if (moat_cookies_engaged(e, pkt, 1)) {
			moat_engine_cookie(e, pkt, &res->cookie);
			return MOAT_R_SYN_COOKIE;
		}
	}
	if (!f)
		f = moat_be_flow_add(e->be, pkt);
	if (!f)
		return MOAT_R_TABLE_FULL;
	moat_track_new(f, pkt, moat_now_s(e));
	res->flow = f;
	res->dir = 0;
	return moat_port_protected(pol, pkt->dport) ? MOAT_R_HANDSHAKE : MOAT_R_NOT_PROTECTED;
}

/* An ACK that matches no flow: a cookie handshake completing, or out of state. */
MOAT_INLINE enum moat_reason moat_engine_cookie_ack(const struct moat_engine *e,
						    const struct moat_pkt *pkt,
						    struct moat_result *res)
{
	struct moat_flow *f;
	enum moat_reason r;
	int err;

	if (e->pol->syn_cookies == MOAT_COOKIES_OFF || !moat_port_protected(e->pol, pkt->dport))
		return MOAT_R_ACK_NO_FLOW;
	err = moat_cookie_check(e->sec, pkt, moat_cookie_now(e), &res->opts);
	if (err)
		return moat_cookies_engaged(e, pkt, 0) ? MOAT_R_COOKIE_INVALID : MOAT_R_ACK_NO_FLOW;
	r = moat_completion_limits(e, pkt);
	if (r)
		return r;
	f = moat_be_flow_add(e->be, pkt);
	if (!f)
		return MOAT_R_TABLE_FULL;
	/* The flow as the client sees it: our cookie was the server's ISN. */
	__builtin_memset(f, 0, sizeof(*f));
	f->flags = MOAT_FLOW_COOKIE | (res->opts.has_wscale ? MOAT_FLOW_SCALED : 0);
	f->peer[0].end = pkt->seq;
	f->peer[0].ttl = pkt->ttl;
	f->peer[0].wscale = res->opts.wscale;
	f->peer[0].flags = res->opts.has_wscale ? MOAT_PEER_WSCALE : 0;
	moat_peer_update(f, &f->peer[0], pkt);
	f->peer[1].end = pkt->ack;
	f->peer[1].ack = pkt->seq;
	f->peer[1].win = MOAT_SYNACK_WINDOW;
	f->peer[1].max_win = MOAT_SYNACK_WINDOW;
	f->peer[1].wscale = res->opts.has_wscale ? e->pol->synack_wscale : 0;
	f->peer[1].flags = MOAT_PEER_ACKED | MOAT_PEER_SYNWIN;
	f->state = MOAT_TCPS_ESTABLISHED;
	if (e->pol->syn_proxy) {
		/* The server has seen nothing yet: the proxy's SYN to it goes out now. */
		f->state = MOAT_TCPS_PROXY_SYN;
		f->proxy_wscale = f->peer[1].wscale;
		f->seq_delta = pkt->ack - 1;
		if (res->opts.has_ts) {
			f->ts_delta = pkt->opt.tsecr;
			f->flags |= MOAT_FLOW_PROXY_TS;
		}
	}
	f->last_seen_s = moat_now_s(e);
	res->flow = f;
	res->dir = 0;
	moat_account_established(e, pkt, 0, f, 1);
	return MOAT_R_COOKIE_VALID;
}

/* May one more unconfirmed segment to this destination pass? */
MOAT_INLINE mbool moat_pickup_allowed(const struct moat_engine *e, const struct moat_pkt *pkt)
{
	const struct moat_policy *pol = e->pol;
	struct moat_pickup_budget *b = moat_be_pickup(e->be, &pkt->daddr, pkt->family);
	u32 trigger = pol->pickup == MOAT_PICKUP_AUTO ? pol->pickup_trigger : 0;

	if (!b)
		return 0; /* cannot count: refuse rather than let a flood through */
	return moat_pickup_take(b, e->now_ns, pol->pickup_rate, pol->pickup_burst, trigger,
				(u64)pol->cookie_hold_s * MOAT_NSEC_PER_SEC);
}

/* A segment of a flow the table does not know, and no cookie ACK: a tentative flow. */
MOAT_INLINE enum moat_reason moat_engine_pickup(const struct moat_engine *e,
						const struct moat_pkt *pkt, struct moat_result *res)
{
	struct moat_flow *f;

	if (e->pol->pickup == MOAT_PICKUP_OFF || !moat_pickup_allowed(e, pkt))
		return MOAT_R_ACK_NO_FLOW;
	f = moat_be_flow_add(e->be, pkt);
	if (!f)
		return MOAT_R_TABLE_FULL;
	moat_pickup_new(f, pkt, moat_now_s(e));
	res->flow = f;
	res->dir = 0;
	return MOAT_R_PICKUP;
}

/*
 * A segment (no RST) of a tentative flow: its first sender's pass within the
 * budget; the other side's confirms it, or, not fitting, starts a tentative
 * flow of its own (e.g. the first side's numbers came from a forger).
 */
MOAT_INLINE enum moat_reason moat_engine_pickup_flow(const struct moat_engine *e,
						     const struct moat_pkt *pkt, struct moat_flow *f,
						     u32 dir, struct moat_result *res)
{
	struct moat_pickup_budget *b;
	u8 flags = pkt->tcp_flags;

	if ((flags & (MOAT_TCP_SYN | MOAT_TCP_ACK)) == MOAT_TCP_SYN)
		return moat_engine_syn(e, pkt, NULL, res); /* a new connection */
	if (flags & MOAT_TCP_SYN)
		return MOAT_R_ACK_NO_FLOW;
	if (dir == 0) {
		if (!moat_pickup_allowed(e, pkt))
			return MOAT_R_ACK_NO_FLOW;
		moat_pickup_more(f, pkt);
		f->last_seen_s = moat_now_s(e);
		return MOAT_R_PICKUP;
	}
	if (!moat_pickup_confirms(f, pkt))
		return moat_engine_pickup(e, pkt, res);
	moat_pickup_confirm(f, pkt);
	f->last_seen_s = moat_now_s(e);
	b = moat_be_pickup(e->be, &pkt->saddr, pkt->family); /* the tentative's destination */
	if (b)
		moat_pickup_confirmed(b);
	return MOAT_R_ESTABLISHED;
}

MOAT_INLINE enum moat_reason moat_engine_no_flow(const struct moat_engine *e, const struct moat_pkt *pkt,
						 struct moat_result *res)
{
	u8 flags = pkt->tcp_flags;
	enum moat_reason r;

	if (flags & MOAT_TCP_RST)
		return e->pol->rst_policy == MOAT_RST_OFF ? MOAT_R_NOT_PROTECTED : MOAT_R_RST_NO_FLOW;
	if ((flags & (MOAT_TCP_SYN | MOAT_TCP_ACK)) == MOAT_TCP_SYN)
		return moat_engine_syn(e, pkt, NULL, res);
	if (flags & MOAT_TCP_SYN)
		return MOAT_R_ACK_NO_FLOW; /* SYN-ACK nobody asked for: reflection/backscatter */
	/* A cookie ACK first: with cookies engaged, an ACK that is none stays cookie_invalid. */
	r = moat_engine_cookie_ack(e, pkt, res);
	if (r != MOAT_R_ACK_NO_FLOW)
		return r;
	return moat_engine_pickup(e, pkt, res);
}

MOAT_INLINE enum moat_reason moat_engine_flow(const struct moat_engine *e, struct moat_pkt *pkt,
					      struct moat_flow *f, u32 dir, struct moat_result *res)
{
	struct moat_track_cfg cfg = { .rst_policy = e->pol->rst_policy,
				      .ttl_tolerance = e->pol->rst_ttl_tolerance };
	enum moat_reason r;
	u8 ev = MOAT_EV_NONE;

	res->flow = f;
	res->dir = dir;
	if (f->state == MOAT_TCPS_PICKUP && !(pkt->tcp_flags & MOAT_TCP_RST))
		return moat_engine_pickup_flow(e, pkt, f, dir, res);
	moat_proxy_to_server_view(f, dir, pkt);
	r = moat_track_packet(f, dir, pkt, &cfg, moat_now_s(e), &ev);
	switch (ev) {
	case MOAT_EV_ESTABLISHED: {
		/* The originator's address is the source of this ACK (dir 0). */
		enum moat_reason lr = moat_completion_limits(e, pkt);

		if (lr) {
			f->state = MOAT_TCPS_SYN_RECV;
			return lr;
		}
		moat_account_established(e, pkt, dir, f, 1);
		break;
	}
	case MOAT_EV_RESTORED:
		moat_account_established(e, pkt, dir, f, 1);
		break;
	case MOAT_EV_CLOSED:
		moat_account_established(e, pkt, dir, f, -1);
		break;
	case MOAT_EV_REOPEN:
		return moat_engine_syn(e, pkt, f, res);
	default:
		break;
	}
	return r;
}

/*
 * Decide one frame already parsed: st and *pkt as moat_parse() left them (a
 * caller that parses a burst ahead, to prefetch, parses each frame once).
 */
MOAT_INLINE enum moat_reason moat_engine_run_parsed(const struct moat_engine *e, int st,
						    struct moat_pkt *pkt, struct moat_result *res)
{
	enum moat_reason r = MOAT_R_NOT_PROTECTED;
	struct moat_flow *f;
	int list;
	u32 dir = 0;

	res->flow = NULL;
	res->dir = 0;
	if (moat_classify_stateless(st, pkt, &r))
		return r;
	list = moat_engine_lists(e, pkt);
	if (list == MOAT_LIST_DENY)
		return MOAT_R_DENYLISTED;
	if (list == MOAT_LIST_ALLOW)
		return MOAT_R_ALLOWLISTED;
	if (st != MOAT_PARSE_TCP)
		return MOAT_R_NOT_PROTECTED;
	f = moat_be_flow_find(e->be, pkt, &dir);
	if (f)
		return moat_engine_flow(e, pkt, f, dir, res);
	return moat_engine_no_flow(e, pkt, res);
}

/*
 * Decide one frame. `pkt` is filled as a side effect (callers log from it). A
 * backend that evicts or expires a COUNTED flow must give back its concurrent
 * count itself (moat_source_release).
 */
MOAT_INLINE enum moat_reason moat_engine_run(const struct moat_engine *e, const u8 *data,
					     const u8 *data_end, struct moat_pkt *pkt,
					     struct moat_result *res)
{
	return moat_engine_run_parsed(e, moat_parse(data, data_end, pkt), pkt, res);
}

#endif
