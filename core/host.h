/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host mode's decisions that need no socket. On a host the kernel's sockets
 * are the flow state (no flow table): a frame is first sorted by the
 * stateless checks, the lists and its port, then a SYN to a protected port is
 * answered here (limits, flood detection, the cookie) and other TCP goes to
 * the socket it is addressed to (xdp/moat.bpf.c looks it up). The XDP
 * program's general path and its SYN fast path (core/fastsyn.h) both decide
 * through these, and tests/unit/test_fastsyn.c holds the two to the same
 * results. Backend hooks as for core/engine.h.
 */
#ifndef MOAT_CORE_HOST_H
#define MOAT_CORE_HOST_H

#include "engine.h"

enum moat_host_step {
	MOAT_HOST_DONE = 0, /* decided: the reason is set */
	MOAT_HOST_SYN,	    /* a SYN to a protected port: moat_host_syn() */
	MOAT_HOST_SOCKET,   /* TCP for the socket it is addressed to */
};

MOAT_INLINE mbool moat_is_protected_syn(const struct moat_policy *pol, const struct moat_pkt *pkt)
{
	return (pkt->tcp_flags & (MOAT_TCP_SYN | MOAT_TCP_ACK | MOAT_TCP_RST)) == MOAT_TCP_SYN &&
	       moat_port_protected(pol, pkt->dport);
}

/* A parsed frame (st: moat_parse()'s status) before any state: enum moat_host_step, *r. */
MOAT_INLINE int moat_host_triage(const struct moat_engine *e, int st, const struct moat_pkt *pkt,
				 enum moat_reason *r)
{
	int list;

	if (moat_classify_stateless(st, pkt, r))
		return MOAT_HOST_DONE;
	list = moat_engine_lists(e, pkt);
	if (list == MOAT_LIST_DENY) {
		*r = MOAT_R_DENYLISTED;
		return MOAT_HOST_DONE;
	}
	if (list == MOAT_LIST_ALLOW) {
		*r = MOAT_R_ALLOWLISTED;
		return MOAT_HOST_DONE;
	}
	if (st != MOAT_PARSE_TCP) {
		*r = MOAT_R_NOT_PROTECTED;
		return MOAT_HOST_DONE;
	}
	return moat_is_protected_syn(e->pol, pkt) ? MOAT_HOST_SYN : MOAT_HOST_SOCKET;
}

/*
 * A SYN to a protected port: source limits, then the cookie when cookies are
 * engaged for its destination (res->cookie, reason syn_cookie), else the
 * kernel's own handshake. slot: moat_cookie_slot(e->now_ns). can_complete: a
 * cookie ACK can be turned into a connection (XDP: the TC half is attached);
 * without it SYNs are left to the kernel.
 */
MOAT_INLINE enum moat_reason moat_host_syn(const struct moat_engine *e, const struct moat_pkt *pkt,
					   u32 slot, mbool can_complete, struct moat_result *res)
{
	enum moat_reason r = moat_syn_source_limits(e, pkt);

	if (r)
		return r;
	if (can_complete && moat_cookies_engaged(e, pkt, 1)) {
		moat_cookie_make_slot(&e->sec->cur, pkt, slot, e->ts_clock, &res->cookie);
		return MOAT_R_SYN_COOKIE;
	}
	return MOAT_R_HANDSHAKE;
}

#endif
