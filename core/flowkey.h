/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow keys and a symmetric, seeded hash: both directions of a connection hash
 * to the same value (so a software dispatcher sends them to one lcore), and the
 * seed keeps an attacker from aiming packets at one bucket. Also the keys of
 * the limiter records and flood detectors, one definition for the BPF maps and
 * the userspace tables.
 */
#ifndef MOAT_CORE_FLOWKEY_H
#define MOAT_CORE_FLOWKEY_H

#include "parse.h"

/*
 * Canonical key of a TCP flow (the only protocol tracked): the endpoint with
 * the smaller (address, port) comes first as "a". Laid out so that an IPv4 key
 * is its first MOAT_FLOW_KEY_HEAD bytes (address words 0 and ports) and zero
 * after them: a flow table keeps just those 12 bytes for IPv4 and the whole
 * key, still exact, for IPv6 (whose `v6` is never zero).
 */
struct moat_flow_key {
	u32 a0; /* address word 0: all of an IPv4 address */
	u32 b0;
	u16 port_a;
	u16 port_b;
	u32 a_rest[3]; /* address words 1-3: IPv6 only */
	u32 b_rest[3];
	u8 v6;
	u8 pad[3];
};

#define MOAT_FLOW_KEY_HEAD __builtin_offsetof(struct moat_flow_key, a_rest)

/* Limiter record key (struct moat_source): the address masked to plen. */
struct moat_src_key {
	struct moat_addr addr;
	u8 family;
	u8 plen;
	u8 pad[2];
};

/* Per-destination flood detector key (struct moat_trigger). */
struct moat_dst_key {
	struct moat_addr addr;
	u16 port;
	u8 family;
	u8 pad;
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

MOAT_INLINE void moat_flow_key_side(struct moat_flow_key *k, u32 side, const struct moat_addr *a,
				    u16 port)
{
	u32 *rest = side ? k->b_rest : k->a_rest;

	if (side) {
		k->b0 = a->w[0];
		k->port_b = port;
	} else {
		k->a0 = a->w[0];
		k->port_a = port;
	}
	rest[0] = a->w[1];
	rest[1] = a->w[2];
	rest[2] = a->w[3];
}

/* Fills the canonical key; returns the packet's direction relative to it (0: a->b). */
MOAT_INLINE u32 moat_flow_key_make(const struct moat_pkt *pkt, struct moat_flow_key *k)
{
	int c = moat_addr_cmp(&pkt->saddr, &pkt->daddr);
	u32 swap = c > 0 || (c == 0 && pkt->sport > pkt->dport);

	moat_flow_key_side(k, swap, &pkt->saddr, pkt->sport);
	moat_flow_key_side(k, !swap, &pkt->daddr, pkt->dport);
	k->v6 = pkt->family == 6;
	k->pad[0] = k->pad[1] = k->pad[2] = 0;
	return swap;
}

MOAT_INLINE u8 moat_flow_key_family(const struct moat_flow_key *k)
{
	return k->v6 ? 6 : 4;
}

/* Address of endpoint a (side 0) or b (side 1). */
MOAT_INLINE void moat_flow_key_addr(const struct moat_flow_key *k, u32 side, struct moat_addr *a)
{
	const u32 *rest = side ? k->b_rest : k->a_rest;

	a->w[0] = side ? k->b0 : k->a0;
	a->w[1] = rest[0];
	a->w[2] = rest[1];
	a->w[3] = rest[2];
}

MOAT_INLINE mbool moat_flow_key_eq(const struct moat_flow_key *x, const struct moat_flow_key *y)
{
	return x->a0 == y->a0 && x->b0 == y->b0 && x->port_a == y->port_a &&
	       x->port_b == y->port_b && x->a_rest[0] == y->a_rest[0] &&
	       x->a_rest[1] == y->a_rest[1] && x->a_rest[2] == y->a_rest[2] &&
	       x->b_rest[0] == y->b_rest[0] && x->b_rest[1] == y->b_rest[1] &&
	       x->b_rest[2] == y->b_rest[2] && x->v6 == y->v6;
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
