// SPDX-License-Identifier: BSD-3-Clause
/*
 * The allow/deny lists as rte_lpm (IPv4) and rte_lpm6 tables, one of each for
 * both lists: an entry's next hop is the moat_lists_decide answer for its
 * prefix, MOAT_LIST_MATCH(action, plen). The table's longest match is then the
 * longest prefix over both lists; a prefix in both is added as deny last, so
 * deny wins the tie as the scan has it. LPM has no /0: a /0 is kept aside and
 * answers what no longer prefix covers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_memory.h>

#include "dataplane/lists.h"

/* rte_lpm names are global to the process: each table its own. */
static unsigned int lists_made;

struct v6key {
	uint8_t b[16];
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_v6key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct v6key));
}

static size_t count_unique(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	size_t i, u = 0;

	qsort(v, n, size, cmp);
	for (i = 0; i < n; i++)
		if (!i || cmp((char *)v + i * size, (char *)v + (i - 1) * size))
			u++;
	return u;
}

/* Each list in the order given, deny last; fn(prefix, answer, arg) for each. */
typedef int each_fn(const struct moat_cidr *c, int answer, void *arg);

static int each_prefix(const struct moat_cidr_list *allow, const struct moat_cidr_list *deny,
		       each_fn *fn, void *arg)
{
	const struct moat_cidr_list *l[2] = { allow, deny };
	const int action[2] = { MOAT_LIST_ALLOW, MOAT_LIST_DENY };
	size_t i;
	int k, ret;

	for (k = 0; k < 2; k++)
		for (i = 0; i < l[k]->n; i++) {
			ret = fn(&l[k]->v[i], MOAT_LIST_MATCH(action[k], l[k]->v[i].plen), arg);
			if (ret)
				return ret;
		}
	return 0;
}

struct sizing {
	size_t n4, n6; /* prefixes longer than /0 */
	uint32_t *ext4; /* the /24 of each IPv4 prefix longer than /24 */
	size_t n_ext4;
	struct v6key *v6; /* the IPv6 prefixes longer than /24 */
	size_t n_v6;
};

static int size_one(const struct moat_cidr *c, int answer, void *arg)
{
	struct sizing *s = arg;

	(void)answer;
	if (!c->plen)
		return 0;
	if (c->family == 4) {
		s->n4++;
		if (c->plen > 24)
			s->ext4[s->n_ext4++] = rte_be_to_cpu_32(c->addr.w[0]) >> 8;
	} else {
		s->n6++;
		if (c->plen > 24)
			memcpy(s->v6[s->n_v6++].b, c->addr.w, 16);
	}
	return 0;
}

/*
 * rte_lpm6's tbl8 groups: one per distinct first L bytes (L from 3) of the
 * prefixes that go on past byte L.
 */
static size_t groups6(const struct moat_cidr_list *allow, const struct moat_cidr_list *deny,
		      struct v6key *tmp)
{
	const struct moat_cidr_list *l[2] = { allow, deny };
	size_t i, n, groups = 0;
	unsigned int len;
	int k;

	for (len = 3; len < 16; len++) {
		n = 0;
		for (k = 0; k < 2; k++)
			for (i = 0; i < l[k]->n; i++) {
				const struct moat_cidr *c = &l[k]->v[i];

				if (c->family != 6 || c->plen <= len * 8)
					continue;
				memset(tmp[n].b, 0, sizeof(tmp[n].b));
				memcpy(tmp[n].b, c->addr.w, len);
				n++;
			}
		if (!n)
			break;
		groups += count_unique(tmp, n, sizeof(*tmp), cmp_v6key);
	}
	return groups;
}

static int add_one(const struct moat_cidr *c, int answer, void *arg)
{
	struct dp_lists *l = arg;

	if (!c->plen) {
		/* deny comes last: it overrides an allow /0 */
		if (c->family == 4)
			l->any4 = answer;
		else
			l->any6 = answer;
		return 0;
	}
	if (c->family == 4)
		return rte_lpm_add(l->v4, rte_be_to_cpu_32(c->addr.w[0]), c->plen, (uint32_t)answer);
	return rte_lpm6_add(l->v6, (const uint8_t *)c->addr.w, c->plen, (uint32_t)answer);
}

static int make_tables(struct dp_lists *l, const struct sizing *s, size_t groups4,
		       size_t groups6)
{
	unsigned int id = __atomic_fetch_add(&lists_made, 1, __ATOMIC_RELAXED);
	char name[RTE_LPM_NAMESIZE];

	if (s->n4) {
		struct rte_lpm_config c4 = { .max_rules = (uint32_t)s->n4,
					     .number_tbl8s = (uint32_t)groups4 + 1 };

		snprintf(name, sizeof(name), "moat-lists4-%u", id);
		l->v4 = rte_lpm_create(name, SOCKET_ID_ANY, &c4);
		if (!l->v4)
			return -ENOMEM;
	}
	if (s->n6) {
		/* a few spare groups: cheap, and rte_lpm6 may place a prefix on a fresh one */
		struct rte_lpm6_config c6 = { .max_rules = (uint32_t)s->n6,
					      .number_tbl8s = (uint32_t)(groups6 + groups6 / 16 + 16) };

		snprintf(name, sizeof(name), "moat-lists6-%u", id);
		l->v6 = rte_lpm6_create(name, SOCKET_ID_ANY, &c6);
		if (!l->v6)
			return -ENOMEM;
	}
	return 0;
}

int dp_lists_build(const struct moat_cidr_list *allow, const struct moat_cidr_list *deny,
		   const void *owner, struct dp_lists **out)
{
	size_t total = allow->n + deny->n, groups4;
	struct sizing s = { 0 };
	struct v6key *tmp = NULL;
	struct dp_lists *l = NULL;
	int ret = -ENOMEM;

	*out = NULL;
	if (!total)
		return 0;
	s.ext4 = malloc(total * sizeof(*s.ext4));
	s.v6 = malloc(total * sizeof(*s.v6));
	tmp = malloc(total * sizeof(*tmp));
	l = calloc(1, sizeof(*l));
	if (!s.ext4 || !s.v6 || !tmp || !l)
		goto out;
	each_prefix(allow, deny, size_one, &s);
	groups4 = count_unique(s.ext4, s.n_ext4, sizeof(*s.ext4), cmp_u32);
	l->owner = owner;
	ret = make_tables(l, &s, groups4, groups6(allow, deny, tmp));
	if (!ret)
		ret = each_prefix(allow, deny, add_one, l);
	if (ret > 0)
		ret = -EINVAL;
	if (!ret) {
		*out = l;
		l = NULL;
	}
out:
	dp_lists_free(l);
	free(tmp);
	free(s.v6);
	free(s.ext4);
	return ret;
}

void dp_lists_free(struct dp_lists *l)
{
	if (!l)
		return;
	rte_lpm_free(l->v4);
	rte_lpm6_free(l->v6);
	free(l);
}

int dp_lists_decide(const void *ctx, const struct moat_addr *a, uint8_t family)
{
	const struct dp_lists *l = ctx;
	uint32_t hop;

	if (family == 4) {
		if (l->v4 && !rte_lpm_lookup(l->v4, rte_be_to_cpu_32(a->w[0]), &hop))
			return (int)hop;
		return l->any4;
	}
	if (l->v6 && !rte_lpm6_lookup(l->v6, (const uint8_t *)a->w, &hop))
		return (int)hop;
	return l->any6;
}
