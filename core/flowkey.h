/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow keys and a symmetric, seeded hash: both directions of a connection hash
 * to the same value (so a software dispatcher sends them to one lcore), and the
 * seed keeps an attacker from aiming packets at one bucket.
 */
#ifndef MOAT_CORE_FLOWKEY_H
#define MOAT_CORE_FLOWKEY_H

#include "parse.h"

/* Canonical key: the endpoint with the smaller (address, port) comes first. */
struct moat_flow_key {
	struct moat_addr a;
	struct moat_addr b;
	u16 port_a;
	u16 port_b;
	u8 family;
	u8 proto;
	u8 pad[2];
};

MOAT_INLINE int moat_addr_cmp(const struct moat_addr *x, const struct moat_addr *y)
{
	int i;

	MOAT_UNROLL
	for (i = 0; i < 4; i++) {
		u32 a = moat_ntohl(x->w[i]), b = moat_ntohl(y->w[i]);

		if (a != b)
			return a < b ? -1 : 1;
	}
	return 0;
}

/* Fills the canonical key; returns the packet's direction relative to it (0: a->b). */
MOAT_INLINE u32 moat_flow_key_make(const struct moat_pkt *pkt, struct moat_flow_key *k)
{
	int c = moat_addr_cmp(&pkt->saddr, &pkt->daddr);
	u32 swap = c > 0 || (c == 0 && pkt->sport > pkt->dport);

	k->family = pkt->family;
	k->proto = pkt->proto;
	k->pad[0] = k->pad[1] = 0;
	if (swap) {
		k->a = pkt->daddr;
		k->b = pkt->saddr;
		k->port_a = pkt->dport;
		k->port_b = pkt->sport;
	} else {
		k->a = pkt->saddr;
		k->b = pkt->daddr;
		k->port_a = pkt->sport;
		k->port_b = pkt->dport;
	}
	return swap;
}

MOAT_INLINE mbool moat_flow_key_eq(const struct moat_flow_key *x, const struct moat_flow_key *y)
{
	return moat_addr_eq(&x->a, &y->a) && moat_addr_eq(&x->b, &y->b) &&
	       x->port_a == y->port_a && x->port_b == y->port_b && x->family == y->family &&
	       x->proto == y->proto;
}

/* 64-bit finalizer (murmur3 fmix64): cheap, good avalanche. */
MOAT_INLINE u64 moat_mix64(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Hash of one endpoint; the flow hash adds both, and addition commutes. */
MOAT_INLINE u64 moat_endpoint_hash(const struct moat_addr *a, u16 port, u64 seed)
{
	u64 h = seed ^ port;

	h = moat_mix64(h ^ ((u64)a->w[0] << 32 | a->w[1]));
	h = moat_mix64(h ^ ((u64)a->w[2] << 32 | a->w[3]));
	return h;
}

MOAT_INLINE u32 moat_flow_hash_sym(const struct moat_pkt *pkt, u64 seed)
{
	u64 h = moat_endpoint_hash(&pkt->saddr, pkt->sport, seed) +
		moat_endpoint_hash(&pkt->daddr, pkt->dport, seed);

	return (u32)moat_mix64(h ^ ((u64)pkt->proto << 8 | pkt->family));
}

/* Address masked to a prefix length, for per-prefix limits (/24, /64, ...). */
MOAT_INLINE void moat_addr_mask(struct moat_addr *out, const struct moat_addr *in, u8 family,
				u32 plen)
{
	u32 i, max = family == 6 ? 128 : 32;

	if (plen > max)
		plen = max;
	MOAT_UNROLL
	for (i = 0; i < 4; i++) {
		u32 lo = i * 32;
		u32 bits = plen > lo ? (plen - lo > 32 ? 32 : plen - lo) : 0;
		u32 mask = bits == 0 ? 0 : bits == 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> bits);

		out->w[i] = in->w[i] & moat_htonl(mask);
	}
}

#endif
