/* SPDX-License-Identifier: BSD-3-Clause */
/* CIDR prefixes for allow/deny lists, and a longest-prefix match over a list. */
#ifndef MOAT_FLOW_CIDR_H
#define MOAT_FLOW_CIDR_H

#include <stddef.h>

#include "core/parse.h"
#include "core/policy.h"

struct moat_cidr {
	struct moat_addr addr; /* masked to plen */
	u8 family;
	u8 plen;
};

struct moat_cidr_list {
	struct moat_cidr *v;
	size_t n;
	size_t cap;
};

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a host prefix). 0 or -EINVAL. */
int moat_cidr_parse(const char *text, struct moat_cidr *out);
/* Canonical text of a prefix into buf (at least 64 bytes). */
const char *moat_cidr_format(const struct moat_cidr *c, char *buf, size_t len);
int moat_cidr_list_add(struct moat_cidr_list *l, const struct moat_cidr *c);
void moat_cidr_list_free(struct moat_cidr_list *l);
/* Remove an exact prefix: 0 or -ENOENT. */
int moat_cidr_list_remove(struct moat_cidr_list *l, const struct moat_cidr *c);
/* Longest prefix of the list that covers addr, or -1 when none does. */
int moat_cidr_list_match(const struct moat_cidr_list *l, const struct moat_addr *addr, u8 family);

/*
 * Allow/deny decision for one address: the longest matching prefix over both
 * lists wins; on equal length the deny list wins. MOAT_LIST_MATCH(action, plen).
 */
int moat_lists_decide(const struct moat_cidr_list *allow, const struct moat_cidr_list *deny,
		      const struct moat_addr *addr, u8 family);

#endif
