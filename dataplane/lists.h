/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * moat-dp's allow/deny lists as longest-prefix tables (lists.c): built by the control thread
 * beside the config they come from, published with it (live.c) and freed after
 * the workers' grace period. A lookup gives what moat_lists_decide gives over
 * the lists: the longest prefix of both, deny on a tie.
 */
#ifndef MOAT_DP_LISTS_H
#define MOAT_DP_LISTS_H

#include <stdint.h>

#include <stddef.h>

#include <rte_byteorder.h>

#include "flow/cidr.h"

enum {
	DP_LISTS_TBL24 = 1 << 24, /* IPv4 entries by the address's first 24 bits */
	DP_LISTS_EXT = 1u << 31,  /* a tbl24 entry naming the tbl8 group of its /24 */
	DP_LISTS_SUM_BITS = 20,   /* the summary's bit per /20: 128 KiB */
};

struct dp_lists {
	const void *owner; /* the config built from: a worker takes it only with that one */
	/*
	 * IPv4, DIR-24-8: tbl24[addr >> 8] is an answer (0: no prefix) or
	 * DP_LISTS_EXT | g, and then tbl8[g * 256 + (addr & 0xff)] is.
	 * NULL: no IPv4 prefix longer than /0.
	 */
	uint32_t *tbl24;
	uint32_t *tbl8;
	/*
	 * A bit per /20, set where a prefix covers any of its addresses: a
	 * clear bit answers "no prefix" from a table that stays in cache, where
	 * tbl24 (64 MiB) costs a random source a line from memory. A threat feed
	 * of 100,000 prefixes leaves about 87% of the /20s clear. NULL where over
	 * a quarter are set (1M prefixes set ~77%): it would cost more than it saves.
	 */
	uint64_t *sum4;
	uint32_t groups, used;
	void *map4;
	size_t map4_len;
	struct rte_lpm6 *v6; /* NULL: no IPv6 prefix longer than /0 */
	int any4, any6; /* the /0 prefixes' decision (MOAT_LIST_NONE: none) */
};

/*
 * Tables for allow and deny, tagged with owner, into *out: 0, -ENOMEM or
 * -EINVAL (*out NULL). Lists with no prefix at all make no tables (*out NULL).
 */
int dp_lists_build(const struct moat_cidr_list *allow, const struct moat_cidr_list *deny,
		   const void *owner, struct dp_lists **out);
void dp_lists_free(struct dp_lists *l);
/* moat_be_list_fn over a struct dp_lists. */
int dp_lists_decide(const void *ctx, const struct moat_addr *a, uint8_t family);

/* 0 when no IPv4 prefix covers addr (host order); 1 when one may. tbl24 set. */
static inline int dp_lists_may_hold4(const struct dp_lists *l, uint32_t addr)
{
	uint32_t b = addr >> (32 - DP_LISTS_SUM_BITS);

	return !l->sum4 || (l->sum4[b / 64] >> (b % 64) & 1);
}

/* The IPv4 entry of addr (host order): an answer, or MOAT_LIST_NONE. tbl24 set. */
static inline int dp_lists_v4(const struct dp_lists *l, uint32_t addr)
{
	uint32_t e;

	if (!dp_lists_may_hold4(l, addr))
		return MOAT_LIST_NONE;
	e = l->tbl24[addr >> 8];
	if (e & DP_LISTS_EXT)
		e = l->tbl8[(size_t)(e & ~DP_LISTS_EXT) * 256 + (addr & 0xff)];
	return (int)e;
}

/* The lists' answer for an IPv4 address (network order), as dp_lists_decide gives it. */
static inline int dp_lists_decide4(const struct dp_lists *l, uint32_t addr)
{
	int e = l->tbl24 ? dp_lists_v4(l, rte_be_to_cpu_32(addr)) : MOAT_LIST_NONE;

	return e != MOAT_LIST_NONE ? e : l->any4;
}

#endif
