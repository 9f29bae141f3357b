// SPDX-License-Identifier: BSD-3-Clause
#include "flow/cidr.h"

#include "core/flowkey.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A prefix length: 1 to 3 decimal digits and nothing else (no sign, no spaces). */
static int parse_plen(const char *s, unsigned int max, u8 *out)
{
	unsigned int v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 3)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (u8)v;
	return 0;
}

int moat_cidr_parse(const char *text, struct moat_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	struct moat_addr a = { { 0 } };
	u8 plen;

	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, &a.w[0]) == 1) {
		out->family = 4;
		plen = 32;
		if (slash && parse_plen(slash + 1, 32, &plen))
			return -EINVAL;
	} else if (inet_pton(AF_INET6, buf, a.w) == 1) {
		out->family = 6;
		plen = 128;
		if (slash && parse_plen(slash + 1, 128, &plen))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	out->plen = plen;
	moat_addr_mask(&out->addr, &a, out->family, plen);
	return 0;
}

const char *moat_cidr_format(const struct moat_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family == 6 ? AF_INET6 : AF_INET, c->addr.w, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->plen);
	return buf;
}

int moat_cidr_list_add(struct moat_cidr_list *l, const struct moat_cidr *c)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct moat_cidr *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *c;
	return 0;
}

void moat_cidr_list_free(struct moat_cidr_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int moat_cidr_list_match(const struct moat_cidr_list *l, const struct moat_addr *addr, u8 family)
{
	int best = -1;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct moat_cidr *c = &l->v[i];
		struct moat_addr m;

		if (c->family != family || (int)c->plen <= best)
			continue;
		moat_addr_mask(&m, addr, family, c->plen);
		if (moat_addr_eq(&m, &c->addr))
			best = c->plen;
	}
	return best;
}

int moat_lists_decide(const struct moat_cidr_list *allow, const struct moat_cidr_list *deny,
		      const struct moat_addr *addr, u8 family)
{
	int a = moat_cidr_list_match(allow, addr, family);
	int d = moat_cidr_list_match(deny, addr, family);

	if (d >= 0 && d >= a)
		return MOAT_LIST_MATCH(MOAT_LIST_DENY, d);
	if (a >= 0)
		return MOAT_LIST_MATCH(MOAT_LIST_ALLOW, a);
	return MOAT_LIST_NONE;
}

int moat_cidr_list_remove(struct moat_cidr_list *l, const struct moat_cidr *c)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].family == c->family && l->v[i].plen == c->plen &&
		    moat_addr_eq(&l->v[i].addr, &c->addr)) {
			l->v[i] = l->v[--l->n];
			return 0;
		}
	return -ENOENT;
}
