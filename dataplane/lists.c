// SPDX-License-Identifier: BSD-3-Clause
/*
 * The allow/deny lists as one IPv4 and one IPv6 longest-prefix table for both
 * lists: an entry is the moat_lists_decide answer for its prefix,
 * MOAT_LIST_MATCH(action, plen), never 0 (no prefix). The table's longest
 * match is then the longest prefix over both lists; a prefix in both is added
 * as deny last, so deny wins the tie as the scan has it. A /0 is kept aside
 * and answers what no longer prefix covers.
 *
 * IPv6: rte_lpm6. IPv4: a DIR-24-8 table of our own, written in one pass over
 * the prefixes sorted by length (each overwrites the shorter ones it covers).
 * rte_lpm was measured first and dropped: its add checks the new rule against
 * every rule of its length, and 100,000 prefixes took 4-10 s to build, which
 * every block/allow of the control socket pays again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include <rte_byteorder.h>
#include <rte_lpm6.h>
#include <rte_memory.h>

#include "dataplane/lists.h"

#define SUM4_BYTES ((1u << DP_LISTS_SUM_BITS) / 8)

/* rte_lpm6 names are global to the process: each table its own. */
static unsigned int lists_made;

struct v6key {
	uint8_t b[16];
};

/* An IPv4 prefix to write, in list order (seq: allow before deny). */
struct pfx4 {
	uint32_t ip; /* host order, masked */
	uint32_t plen;
	uint32_t answer;
	uint32_t seq;
};

static int cmp_pfx4(const void *a, const void *b)
{
	const struct pfx4 *x = a, *y = b;

	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

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
	struct pfx4 *p4; /* the n4 IPv4 ones */
	uint32_t *ext4; /* the /24 of each IPv4 prefix longer than /24 */
	size_t n_ext4;
	struct v6key *v6; /* the IPv6 prefixes longer than /24 */
	size_t n_v6;
};

static int size_one(const struct moat_cidr *c, int answer, void *arg)
{
	struct sizing *s = arg;

	if (!c->plen)
		return 0;
	if (c->family == 4) {
		s->p4[s->n4] = (struct pfx4){ .ip = rte_be_to_cpu_32(c->addr.w[0]), .plen = c->plen,
					      .answer = (uint32_t)answer, .seq = (uint32_t)s->n4 };
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
		return 0; /* write_v4 */
	return rte_lpm6_add(l->v6, (const uint8_t *)c->addr.w, c->plen, (uint32_t)answer);
}

static int make_tables(struct dp_lists *l, const struct sizing *s, size_t groups4,
		       size_t groups6)
{
	unsigned int id = __atomic_fetch_add(&lists_made, 1, __ATOMIC_RELAXED);
	char name[RTE_LPM6_NAMESIZE];

	if (s->n4) {
		/* untouched pages stay unbacked: a list's RSS is the lines it uses */
		l->map4_len = SUM4_BYTES + ((size_t)DP_LISTS_TBL24 + groups4 * 256) * sizeof(uint32_t);
		l->map4 = mmap(NULL, l->map4_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (l->map4 == MAP_FAILED) {
			l->map4 = NULL;
			return -ENOMEM;
		}
#ifdef MADV_HUGEPAGE
		madvise(l->map4, l->map4_len, MADV_HUGEPAGE); /* a lookup is a random read */
#endif
		l->sum4 = l->map4;
		l->tbl24 = (uint32_t *)((char *)l->map4 + SUM4_BYTES);
		l->tbl8 = l->tbl24 + DP_LISTS_TBL24;
		l->groups = (uint32_t)groups4;
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

/* n entries of a table from entry `from`. */
static void fill(uint32_t *v, size_t from, uint32_t n, uint32_t answer)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		v[from + i] = answer;
}

/* The summary's bits of the /20s a prefix covers (at least its own). */
static void sum_mark(uint64_t *sum, uint32_t ip, uint32_t plen)
{
	uint32_t shift = 32 - DP_LISTS_SUM_BITS;
	uint32_t b = ip >> shift;
	uint32_t n = plen >= DP_LISTS_SUM_BITS ? 1 : 1u << (DP_LISTS_SUM_BITS - plen);
	uint32_t i;

	for (i = 0; i < n; i++, b++)
		sum[b / 64] |= 1ULL << (b % 64);
}

/* The summary kept where it is sparse enough to pay (struct dp_lists). */
static void sum_settle(struct dp_lists *l)
{
	const size_t words = SUM4_BYTES / sizeof(uint64_t);
	size_t i, set = 0;

	for (i = 0; i < words; i++)
		set += (size_t)__builtin_popcountll(l->sum4[i]);
	if (set > ((size_t)1 << DP_LISTS_SUM_BITS) / 4)
		l->sum4 = NULL;
}

/*
 * The IPv4 prefixes, shortest first: a longer one overwrites what a shorter one
 * wrote, as the longest match wants; at one length, list order (deny last). A
 * prefix past /24 gives its /24 a tbl8 group, which starts as the /24's entry.
 */
static int write_v4(struct dp_lists *l, struct pfx4 *p, size_t n)
{
	size_t i;

	qsort(p, n, sizeof(*p), cmp_pfx4);
	for (i = 0; i < n; i++) {
		uint32_t *e;

		sum_mark(l->sum4, p[i].ip, p[i].plen);
		if (p[i].plen <= 24) {
			fill(l->tbl24, p[i].ip >> 8, 1u << (24 - p[i].plen), p[i].answer);
			continue;
		}
		e = &l->tbl24[p[i].ip >> 8];
		if (!(*e & DP_LISTS_EXT)) {
			if (l->used == l->groups)
				return -ENOSPC; /* cannot be: groups counted */
			fill(l->tbl8, (size_t)l->used * 256, 256, *e);
			*e = DP_LISTS_EXT | l->used++;
		}
		fill(l->tbl8, (size_t)(*e & ~DP_LISTS_EXT) * 256 + (p[i].ip & 0xff), 1u << (32 - p[i].plen),
		     p[i].answer);
	}
	sum_settle(l);
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
	s.p4 = malloc(total * sizeof(*s.p4));
	s.v6 = malloc(total * sizeof(*s.v6));
	tmp = malloc(total * sizeof(*tmp));
	l = calloc(1, sizeof(*l));
	if (!s.ext4 || !s.p4 || !s.v6 || !tmp || !l)
		goto out;
	each_prefix(allow, deny, size_one, &s);
	groups4 = count_unique(s.ext4, s.n_ext4, sizeof(*s.ext4), cmp_u32);
	l->owner = owner;
	ret = make_tables(l, &s, groups4, groups6(allow, deny, tmp));
	if (!ret)
		ret = each_prefix(allow, deny, add_one, l);
	if (!ret && s.n4)
		ret = write_v4(l, s.p4, s.n4);
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
	free(s.p4);
	free(s.ext4);
	return ret;
}

void dp_lists_free(struct dp_lists *l)
{
	if (!l)
		return;
	if (l->map4)
		munmap(l->map4, l->map4_len);
	rte_lpm6_free(l->v6);
	free(l);
}

int dp_lists_decide(const void *ctx, const struct moat_addr *a, uint8_t family)
{
	const struct dp_lists *l = ctx;
	uint32_t hop;

	if (family == 4)
		return dp_lists_decide4(l, a->w[0]);
	if (l->v6 && !rte_lpm6_lookup(l->v6, (const uint8_t *)a->w, &hop))
		return (int)hop;
	return l->any6;
}
