/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sampled event record: one packet's decision as the XDP program (ring
 * buffer moat_events) and moat-dp's workers (their event ring) report it, and
 * as the writer (control/events.c) turns it into one JSON line.
 */
#ifndef MOAT_CORE_EVENT_H
#define MOAT_CORE_EVENT_H

#include "parse.h"
#include "reason.h"

/* What an event's detail holds, by kind. */
enum moat_event_detail {
	MOAT_EVD_NONE = 0,
	MOAT_EVD_SIG_DROP,  /* the id of the drop signature that matched (reason signature) */
	MOAT_EVD_SIG_ALERT, /* the id of an alert signature that matched (the packet's own reason) */
};

struct moat_event {
	u64 ts_ns;
	struct moat_addr saddr;
	struct moat_addr daddr;
	u16 sport;
	u16 dport;
	u8 reason; /* enum moat_reason */
	u8 family;
	u8 ttl;
	u8 tcp_flags;
	u32 where; /* where it was seen: the ingress ifindex (XDP), the worker's lcore (moat-dp) */
	u32 cpu;
	u32 detail;
	u8 detail_kind; /* enum moat_event_detail */
	u8 pad[3];
};

/* The record of reason r for pkt, seen at ts_ns on where and cpu, with no detail. */
MOAT_INLINE void moat_event_fill(struct moat_event *ev, const struct moat_pkt *pkt,
				 enum moat_reason r, u64 ts_ns, u32 where, u32 cpu)
{
	ev->ts_ns = ts_ns;
	ev->saddr = pkt->saddr;
	ev->daddr = pkt->daddr;
	ev->sport = pkt->sport;
	ev->dport = pkt->dport;
	ev->reason = (u8)r;
	ev->family = pkt->family;
	ev->ttl = pkt->ttl;
	ev->tcp_flags = pkt->tcp_flags;
	ev->where = where;
	ev->cpu = cpu;
	ev->detail = 0;
	ev->detail_kind = MOAT_EVD_NONE;
	ev->pad[0] = ev->pad[1] = ev->pad[2] = 0;
}

#endif
