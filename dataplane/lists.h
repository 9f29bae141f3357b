/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * moat-dp's allow/deny lists as DPDK LPM tables: built by the control thread
 * beside the config they come from, published with it (live.c) and freed after
 * the workers' grace period. A lookup gives what moat_lists_decide gives over
 * the lists: the longest prefix of both, deny on a tie.
 */
#ifndef MOAT_DP_LISTS_H
#define MOAT_DP_LISTS_H

#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_lpm.h>
#include <rte_prefetch.h>

#include "flow/cidr.h"

struct dp_lists {
	const void *owner;  /* the config built from: a worker takes it only with that one */
	struct rte_lpm *v4; /* NULL: no IPv4 prefix longer than /0 */
	struct rte_lpm6 *v6;
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

/* Start the load an IPv4 lookup of addr (network order) makes first. */
static inline void dp_lists_prefetch4(const struct dp_lists *l, uint32_t addr)
{
	if (l->v4)
		rte_prefetch0(&l->v4->tbl24[rte_be_to_cpu_32(addr) >> 8]);
}

#endif
