// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp's LPM lists (dataplane/lists.c) against the scan they replace
 * (moat_lists_decide, flow/cidr.c): random allow and deny lists of both
 * families, lengths 0 to the full address, prefixes nested in each other and
 * the same prefix in both lists; addresses at random and inside, just past and
 * at the edges of listed prefixes. Every answer must be the same.
 *   lists_diff [ROUNDS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

#include "dataplane/lists.h"
#include "core/flowkey.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned long answers[3]; /* by action: none, allow, deny */
static unsigned int summarized[2]; /* rounds whose IPv4 table kept its /20 summary, or not */

static uint64_t next64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void random_addr(struct moat_addr *a, uint8_t family)
{
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < (family == 4 ? 1 : 4); i++)
		a->w[i] = (uint32_t)next64();
}

/* Lengths weighted to a feed's: host routes, /24s, /48s, and some of every other. */
static uint8_t random_plen(uint8_t family)
{
	static const uint8_t v4[] = { 32, 32, 24, 24, 16, 8, 0 };
	static const uint8_t v6[] = { 128, 64, 48, 48, 32, 24, 0 };
	unsigned int r = (unsigned int)(next64() % 10);

	if (r < 7)
		return (family == 4 ? v4 : v6)[r];
	return (uint8_t)(next64() % (family == 4 ? 33 : 129));
}

/* A prefix near one already listed (nested, a sibling) or a fresh one. */
static void random_prefix(struct moat_cidr *c, const struct moat_cidr_list *near, uint8_t family)
{
	struct moat_addr a;

	random_addr(&a, family);
	if (near->n && next64() % 2) {
		const struct moat_cidr *o = &near->v[next64() % near->n];

		if (o->family == family) {
			a = o->addr;
			a.w[next64() % (family == 4 ? 1 : 4)] ^= (uint32_t)1 << (next64() % 32);
		}
	}
	c->family = family;
	c->plen = random_plen(family);
	moat_addr_mask(&c->addr, &a, family, c->plen);
}

/* An address to ask about: anywhere, or inside or at the edge of a listed prefix. */
static void probe_addr(struct moat_addr *a, const struct moat_cidr_list *l, uint8_t family)
{
	random_addr(a, family);
	if (l->n && next64() % 4) {
		const struct moat_cidr *o = &l->v[next64() % l->n];
		struct moat_addr host = *a;
		unsigned int bit;

		if (o->family != family)
			return;
		/* the prefix's bits, the rest random; sometimes the first bit past it flipped */
		moat_addr_mask(a, &host, family, o->plen);
		for (bit = 0; bit < 4; bit++)
			a->w[bit] = o->addr.w[bit] | (host.w[bit] & ~a->w[bit]);
		if (o->plen && next64() % 3 == 0) {
			bit = o->plen - 1;
			a->w[bit / 32] ^= moat_htonl((uint32_t)1 << (31 - bit % 32));
		}
	}
}

/* The tables of allow and deny (all: both) against the scan, answer for answer. */
static int check_lists(unsigned int round, const struct moat_cidr_list *allow,
		       const struct moat_cidr_list *deny, const struct moat_cidr_list *all,
		       size_t probes)
{
	struct dp_lists *lpm;
	struct moat_addr a;
	size_t i;
	int ret, fails = 0;

	ret = dp_lists_build(allow, deny, all, &lpm);
	if (ret || (!lpm && all->n)) {
		fprintf(stderr, "round %u: build: %s\n", round, strerror(-ret));
		return -1;
	}
	if (lpm && lpm->tbl24)
		summarized[!!lpm->sum4]++;
	for (i = 0; lpm && i < probes; i++) {
		uint8_t family = next64() % 2 ? 4 : 6;
		int want, got;

		probe_addr(&a, all, family);
		want = moat_lists_decide(allow, deny, &a, family);
		got = dp_lists_decide(lpm, &a, family);
		answers[MOAT_LIST_ACTION(want) % 3]++;
		if (want != got && fails++ < 5)
			fprintf(stderr, "round %u: IPv%u %08x:%08x:%08x:%08x: scan %d, LPM %d\n", round,
				family, a.w[0], a.w[1], a.w[2], a.w[3], want, got);
	}
	dp_lists_free(lpm);
	return fails ? -1 : 0;
}

static int add_both(struct moat_cidr_list *l, struct moat_cidr_list *all, const struct moat_cidr *c)
{
	return moat_cidr_list_add(l, c) || moat_cidr_list_add(all, c) ? -ENOMEM : 0;
}

/* The lists checked (unless ret says they could not be made: it is returned), then freed. */
static int check_and_free(unsigned int round, int ret, struct moat_cidr_list *allow,
			  struct moat_cidr_list *deny, struct moat_cidr_list *all, size_t probes)
{
	if (!ret)
		ret = check_lists(round, allow, deny, all, probes);
	moat_cidr_list_free(allow);
	moat_cidr_list_free(deny);
	moat_cidr_list_free(all);
	return ret;
}

static int round_once(unsigned int round, size_t n_allow, size_t n_deny, size_t probes)
{
	struct moat_cidr_list allow = { 0 }, deny = { 0 }, all = { 0 };
	struct moat_cidr c;
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < n_allow + n_deny; i++) {
		uint8_t family = next64() % 3 ? 4 : 6;

		if (i && next64() % 8 == 0) /* the same prefix in the other list too */
			c = all.v[next64() % all.n];
		else
			random_prefix(&c, &all, family);
		ret = add_both(i < n_allow ? &allow : &deny, &all, &c);
	}
	return check_and_free(round, ret, &allow, &deny, &all, probes);
}

/*
 * A table too dense for its summary (a /2 and a /3 set 37.5% of the /20s):
 * it drops the summary, and every IPv4 lookup reads tbl24.
 */
static int round_dense(unsigned int round, size_t probes)
{
	struct moat_cidr_list allow = { 0 }, deny = { 0 }, all = { 0 };
	struct moat_cidr c = { .family = 4, .plen = 2 };
	size_t i;
	int ret;

	c.addr.w[0] = moat_htonl(0x40000000); /* 64.0.0.0/2 */
	ret = add_both(&deny, &all, &c);
	c.plen = 3;
	c.addr.w[0] = moat_htonl(0x80000000); /* 128.0.0.0/3 */
	if (!ret)
		ret = add_both(&allow, &all, &c);
	for (i = 0; !ret && i < 200; i++) {
		random_prefix(&c, &all, 4);
		ret = add_both(i % 2 ? &allow : &deny, &all, &c);
	}
	return check_and_free(round, ret, &allow, &deny, &all, probes);
}

int main(int argc, char **argv)
{
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "--no-shconf", "-m", "512",
			"--log-level=lib.eal:error", "--no-telemetry", "--file-prefix", NULL, NULL };
	char prefix[32];
	unsigned int r, dense, rounds = argc > 1 ? (unsigned int)atoi(argv[1]) : 10;
	int fails = 0;

	snprintf(prefix, sizeof(prefix), "moatlists%d", (int)getpid());
	eal[9] = prefix;
	if (rte_eal_init(10, eal) < 0) {
		fprintf(stderr, "lists_diff: EAL init failed\n");
		return 77; /* skipped */
	}
	for (r = 0; r < rounds; r++) {
		/* small lists, lists of one family, then a few thousand prefixes */
		size_t n = r < rounds / 2 ? 1 + r % 20 : 200 + (size_t)(next64() % 8000);

		fails += round_once(r, r % 5 == 4 ? 0 : n, r % 5 == 3 ? 0 : n, 20000) != 0;
	}
	dense = summarized[0];
	fails += round_dense(rounds, 20000) != 0;
	if (summarized[0] == dense) {
		fprintf(stderr, "lists_diff: the dense round's table kept its summary\n");
		fails++;
	}
	rte_eal_cleanup();
	printf("lists_diff: %u rounds, %d failed; answers: %lu none, %lu allow, %lu deny; "
	       "IPv4 tables with the /20 summary %u, without (dense) %u\n",
	       rounds + 1, fails, answers[0], answers[1], answers[2], summarized[1], summarized[0]);
	if (rounds >= 10 && !summarized[1]) {
		fprintf(stderr, "lists_diff: no round built an IPv4 table with its summary\n");
		fails++;
	}
	return fails ? 1 : 0;
}
