/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A backend of core/engine.h over small fixed arrays, for the unit tests:
 * flows, limiter records and flood detectors in NSLOTS slots each (the
 * includer may set NSLOTS first; a full array answers NULL, as a full table
 * does), and up to 8 list entries matched by longest prefix. be.pol is the
 * policy the limiter records are made for.
 */
#ifndef MOAT_TEST_ARRAY_BE_H
#define MOAT_TEST_ARRAY_BE_H

#define MOAT_BE_PICKUP
#include "core/engine.h"

#ifndef NSLOTS
#define NSLOTS 16
#endif

struct be_flow {
	struct moat_flow_key k;
	struct moat_flow f;
	u8 used;
	u8 orig_is_b;
};

struct be_source {
	struct moat_addr a;
	u8 family, plen, used;
	struct moat_source s;
};

struct be_dest {
	struct moat_addr a;
	u16 port;
	u8 family, used;
	struct moat_trigger t;
};

struct be_pickup {
	struct moat_addr a;
	u8 family, used;
	struct moat_pickup_budget b;
};

struct be_list {
	struct moat_addr a; /* masked to plen */
	u8 family, plen, action;
};

struct moat_be {
	const struct moat_policy *pol;
	struct be_flow flows[NSLOTS];
	struct be_source sources[NSLOTS];
	struct be_dest dests[NSLOTS];
	struct be_pickup pickups[NSLOTS];
	struct be_list lists[8];
	int nlists;
	int flows_added;
};

/* The longest matching prefix among the entries, deny first on equal length. */
MOAT_INLINE int moat_be_list(struct moat_be *be, const struct moat_addr *a, u8 family)
{
	int i, best = MOAT_LIST_NONE;

	for (i = 0; i < be->nlists; i++) {
		const struct be_list *l = &be->lists[i];
		struct moat_addr m;

		if (l->family != family)
			continue;
		moat_addr_mask(&m, a, family, l->plen);
		if (moat_addr_eq(&m, &l->a))
			best = moat_list_pick(best, MOAT_LIST_MATCH(l->action, l->plen));
	}
	return best;
}

MOAT_INLINE struct moat_flow *moat_be_flow_find(struct moat_be *be, const struct moat_pkt *pkt,
						 u32 *dir)
{
	struct moat_flow_key k;
	u32 swapped = moat_flow_key_make(pkt, &k);
	int i;

	for (i = 0; i < NSLOTS; i++) {
		if (be->flows[i].used && moat_flow_key_eq(&be->flows[i].k, &k)) {
			*dir = swapped ^ be->flows[i].orig_is_b;
			return &be->flows[i].f;
		}
	}
	return NULL;
}

MOAT_INLINE struct moat_flow *moat_be_flow_add(struct moat_be *be, const struct moat_pkt *pkt)
{
	struct moat_flow_key k;
	u32 swapped = moat_flow_key_make(pkt, &k);
	int i;

	for (i = 0; i < NSLOTS; i++) {
		if (!be->flows[i].used) {
			be->flows[i].used = 1;
			be->flows[i].k = k;
			be->flows[i].orig_is_b = (u8)swapped;
			be->flows_added++;
			return &be->flows[i].f;
		}
	}
	return NULL;
}

MOAT_INLINE struct moat_source *moat_be_source(struct moat_be *be, const struct moat_addr *a,
					       u8 family, u32 plen, u64 now_ns)
{
	struct moat_addr m;
	struct be_source *free_slot = NULL;
	const struct moat_limits *l;
	u32 burst;
	int i;

	moat_addr_mask(&m, a, family, plen);
	for (i = 0; i < NSLOTS; i++) {
		struct be_source *s = &be->sources[i];

		if (s->used && s->family == family && s->plen == plen && moat_addr_eq(&s->a, &m))
			return &s->s;
		if (!s->used && !free_slot)
			free_slot = s;
	}
	if (!free_slot)
		return NULL;
	free_slot->used = 1;
	free_slot->a = m;
	free_slot->family = family;
	free_slot->plen = (u8)plen;
	l = plen == (family == 6 ? 128u : 32u) ? &be->pol->source : &be->pol->prefix;
	burst = l->syn_burst ? l->syn_burst : l->syn_rate;
	moat_bucket_init(&free_slot->s.syn, now_ns, burst ? burst : 1);
	free_slot->s.conn.start_ns = now_ns;
	return &free_slot->s;
}

MOAT_INLINE struct moat_trigger *moat_be_dest(struct moat_be *be, const struct moat_pkt *pkt)
{
	int i;

	for (i = 0; i < NSLOTS; i++) {
		struct be_dest *d = &be->dests[i];

		if (d->used && d->family == pkt->family && d->port == pkt->dport &&
		    moat_addr_eq(&d->a, &pkt->daddr))
			return &d->t;
		if (!d->used) {
			d->used = 1;
			d->family = pkt->family;
			d->port = pkt->dport;
			d->a = pkt->daddr;
			return &d->t;
		}
	}
	return NULL;
}

MOAT_INLINE struct moat_pickup_budget *moat_be_pickup(struct moat_be *be, const struct moat_addr *a,
						      u8 family)
{
	int i;

	for (i = 0; i < NSLOTS; i++) {
		struct be_pickup *p = &be->pickups[i];

		if (p->used && p->family == family && moat_addr_eq(&p->a, a))
			return &p->b;
		if (!p->used) {
			p->used = 1;
			p->family = family;
			p->a = *a;
			return &p->b;
		}
	}
	return NULL;
}

/* A list entry: addr/plen (host order, IPv4) with MOAT_LIST_ALLOW or MOAT_LIST_DENY. */
static inline void array_be_list_add4(struct moat_be *be, u32 host, u8 plen, u8 action)
{
	struct be_list *l = &be->lists[be->nlists++];
	struct moat_addr a = { { moat_htonl(host), 0, 0, 0 } };

	moat_addr_mask(&l->a, &a, 4, plen);
	l->family = 4;
	l->plen = plen;
	l->action = action;
}

#endif
