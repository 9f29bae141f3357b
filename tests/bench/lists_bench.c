// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp's IPv4 list lookup (dataplane/lists.h) by the nanosecond, on a deny
 * list shaped like the bench's (gen_dp.deny_lists: 40% host routes, 40% /24s,
 * 20% of /16 to /31), through the /20 summary and, as the baseline, straight
 * to tbl24 as before it. Sources either from a hot set (the dp bench replays
 * 4,096) or each one new (a flood from the whole address space, where a tbl24
 * line comes from memory). Prints one JSON object.
 *   lists_bench [--prefixes N] [--lookups N] [--hot N] [--rounds N]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/lists.h"
#include "core/flowkey.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A unicast address of 1.0.0.0 to 223.255.255.255, host order. */
static uint32_t random_unicast(void)
{
	return (uint32_t)(1u << 24) + (uint32_t)(next64() % ((223u << 24) - (1u << 24)));
}

static int deny_list(struct moat_cidr_list *deny, size_t n)
{
	static const uint8_t plens[] = { 32, 32, 32, 32, 24, 24, 24, 24, 0, 0 };
	struct moat_cidr c = { .family = 4 };
	struct moat_addr a = { 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		c.plen = plens[next64() % 10];
		if (!c.plen)
			c.plen = (uint8_t)(16 + next64() % 16);
		a.w[0] = moat_htonl(random_unicast());
		moat_addr_mask(&c.addr, &a, 4, c.plen);
		if (moat_cidr_list_add(deny, &c))
			return -ENOMEM;
	}
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The lookup before the summary: tbl24 for every address. */
static int tbl24_only(const struct dp_lists *l, uint32_t addr_be)
{
	uint32_t addr = rte_be_to_cpu_32(addr_be), e = l->tbl24[addr >> 8];

	if (e & DP_LISTS_EXT)
		e = l->tbl8[(size_t)(e & ~DP_LISTS_EXT) * 256 + (addr & 0xff)];
	return e != MOAT_LIST_NONE ? (int)e : l->any4;
}

/* The answers' sum, stored so that the compiler keeps the lookups. */
static volatile long sink;

/* ns per lookup over one pass of addrs. */
static double time_pass(const struct dp_lists *l, const uint32_t *addrs, size_t n, int summary)
{
	double t0 = now_ns();
	long s = 0;
	size_t i;

	if (summary)
		for (i = 0; i < n; i++)
			s += dp_lists_decide4(l, addrs[i]);
	else
		for (i = 0; i < n; i++)
			s += tbl24_only(l, addrs[i]);
	sink += s;
	return (now_ns() - t0) / (double)n;
}

/* The best pass of each way, the two taken in turn: best[0] summary, best[1] tbl24 only. */
static void time_lookups(const struct dp_lists *l, const uint32_t *addrs, size_t n, int rounds,
			 double best[2])
{
	int r, k;

	best[0] = best[1] = 1e18;
	for (r = 0; r < rounds; r++)
		for (k = 0; k < 2; k++) {
			int way = (r + k) % 2; /* summary first in even rounds, second in odd */
			double ns = time_pass(l, addrs, n, way == 0);

			if (ns < best[way])
				best[way] = ns;
		}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: lists_bench [--prefixes N] [--lookups N] [--hot N] [--rounds N]\n"
		   "  ns per IPv4 list lookup, with moat-dp's /20 summary and without,\n"
		   "  for sources from a hot set of --hot (default 4096) and all new ones.\n"
		   "  Defaults: 100000 deny prefixes, 4000000 lookups a pass, 5 passes (best).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "prefixes", required_argument, NULL, 'p' },
					      { "lookups", required_argument, NULL, 'n' },
					      { "hot", required_argument, NULL, 'H' },
					      { "rounds", required_argument, NULL, 'r' },
					      { "help", no_argument, NULL, 'h' },
					      { 0 } };
	struct moat_cidr_list allow = { 0 }, deny = { 0 };
	size_t prefixes = 100000, lookups = 4000000, hot = 4096, i, covered = 0;
	struct dp_lists *l = NULL;
	uint32_t *fresh = NULL, *warm = NULL;
	double hot_ns[2], new_ns[2];
	int rounds = 5, o, ret = 1;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'p': prefixes = strtoul(optarg, NULL, 0); break;
		case 'n': lookups = strtoul(optarg, NULL, 0); break;
		case 'H': hot = strtoul(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!lookups || !hot || hot > lookups || rounds < 1) {
		usage(stderr);
		return 2;
	}
	fresh = malloc(lookups * sizeof(*fresh));
	warm = malloc(lookups * sizeof(*warm));
	if (!fresh || !warm || deny_list(&deny, prefixes) ||
	    dp_lists_build(&allow, &deny, NULL, &l) || !l || !l->tbl24) {
		fprintf(stderr, "lists_bench: cannot build the lists\n");
		goto out;
	}
	for (i = 0; i < lookups; i++) {
		fresh[i] = moat_htonl(random_unicast());
		covered += (size_t)dp_lists_may_hold4(l, rte_be_to_cpu_32(fresh[i]));
	}
	for (i = 0; i < lookups; i++)
		warm[i] = fresh[i % hot];
	time_lookups(l, warm, lookups, rounds, hot_ns);
	time_lookups(l, fresh, lookups, rounds, new_ns);
	printf("{\"prefixes\": %zu, \"lookups\": %zu, \"to_tbl24_pct\": %.1f, "
	       "\"summary_used\": %s, "
	       "\"ns_per_lookup\": {\"hot_%zu\": {\"summary\": %.2f, \"tbl24_only\": %.2f}, "
	       "\"all_new\": {\"summary\": %.2f, \"tbl24_only\": %.2f}}}\n",
	       prefixes, lookups, 100.0 * (double)covered / (double)lookups,
	       l->sum4 ? "true" : "false", hot, hot_ns[0], hot_ns[1], new_ns[0], new_ns[1]);
	ret = 0;
out:
	dp_lists_free(l);
	moat_cidr_list_free(&deny);
	free(warm);
	free(fresh);
	return ret;
}
