// SPDX-License-Identifier: BSD-3-Clause
/*
 * The per-lcore flow table of moat-dp (struct stab: struct moat_flow_key ->
 * struct moat_be_flow, as moat_be_init makes it) filled to N live flows, then:
 *   - lookups of present keys in random order, ns each;
 *   - inserts of new keys at N live, ns each (removed again between rounds, so
 *     every round starts from N live);
 *   - bytes per flow: stab_bytes() / live flows;
 * beside a floor measured in the same run: one random 8-byte read per operation
 * over memory as large as the table (the cache miss no lookup can avoid).
 * Every flow is established, so a full bucket refuses (as moat-dp's flow_rank
 * does: established flows are never pushed out); refusals are counted.
 *   flowtab_bench [--flows N] [--capacity SLOTS] [--lookups N] [--inserts N] [--rounds N]
 * Prints one JSON object.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/inline_be.h"
#include "control/stab.h"

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

static u64 splitmix(u64 *s)
{
	u64 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* An IPv4 TCP flow key as moat_flow_key_make leaves it: a < b, padding zeroed. */
static void make_key(struct moat_flow_key *k, u64 *rng)
{
	u64 r1 = splitmix(rng), r2 = splitmix(rng);
	u32 x = (u32)r1, y = (u32)(r1 >> 32);

	memset(k, 0, sizeof(*k));
	k->family = 4;
	k->proto = 6;
	k->a.w[0] = x < y ? x : y;
	k->b.w[0] = x < y ? y : x;
	k->port_a = (u16)r2;
	k->port_b = (u16)(r2 >> 16);
}

/* moat-dp's flow_rank for an established flow: never evicted. */
static int rank_established(const void *key, const void *val, void *ctx)
{
	(void)key;
	(void)val;
	(void)ctx;
	return -1;
}

/* What moat_be_flow_add + moat_track_new leave in a new entry, roughly. */
static void fill_value(struct moat_be_flow *e, u16 mark)
{
	e->f.state = MOAT_TCPS_ESTABLISHED;
	e->f.last_seen_s = 1;
	e->f.aux = mark;
}

static int remove_marked(const void *key, void *val, void *ctx)
{
	(void)key;
	(void)ctx;
	return ((struct moat_be_flow *)val)->f.aux == 1;
}

/* Insert fresh keys until `want` are live: keys kept in v (may be NULL). */
static int fill(struct stab *t, size_t want, struct moat_flow_key *v, u64 *rng, int stop_at_refusal,
		size_t *refused, size_t *first_refusal)
{
	size_t tries = 0;

	*refused = 0;
	*first_refusal = 0;
	while (t->count < want) {
		struct moat_flow_key k;
		struct moat_be_flow *e;
		int created;

		if (++tries > want * 4)
			return -1;
		make_key(&k, rng);
		e = stab_insert(t, &k, &created);
		if (!e) {
			if (!*refused)
				*first_refusal = t->count;
			(*refused)++;
			if (stop_at_refusal)
				return -1;
			continue;
		}
		if (!created)
			continue; /* a repeated random key: not new */
		fill_value(e, 0);
		if (v)
			v[t->count - 1] = k;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "flows", required_argument, NULL, 'f' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "lookups", required_argument, NULL, 'l' },
		{ "inserts", required_argument, NULL, 'i' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t flows = 1 << 20, capacity = 0, lookups = 1 << 22, inserts = 1 << 16;
	size_t refused, first_refusal, one_refused, one_first, one_capacity, ins_refused = 0, i, words;
	double best_lookup = 1e30, best_insert = 1e30, best_floor = 1e30;
	struct moat_flow_key *keys, *order, *fresh;
	u64 rng = 0x6d6f6174, sink = 0, t0;
	int rounds = 3, round, c;
	struct stab t, one;
	const u64 *mem;

	while ((c = getopt_long(argc, argv, "f:c:l:i:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': flows = strtoul(optarg, NULL, 0); break;
		case 'c': capacity = strtoul(optarg, NULL, 0); break;
		case 'l': lookups = strtoul(optarg, NULL, 0); break;
		case 'i': inserts = strtoul(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: flowtab_bench [--flows N] [--capacity SLOTS] [--lookups N] "
				"[--inserts N] [--rounds N]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!flows || !lookups || !inserts || rounds < 1)
		return 2;
	/* The smallest table moat-dp could be given (flows: SLOTS) that holds them: 2x. */
	if (!capacity)
		capacity = flows * 2;

	/*
	 * How far a table of one slot per wanted flow (moat-dp's `flows: N`) gets before
	 * a full bucket first refuses an established flow.
	 */
	if (stab_init(&one, flows, sizeof(struct moat_flow_key), sizeof(struct moat_be_flow), 11))
		return 1;
	one.rank = rank_established;
	one_capacity = stab_capacity(&one);
	fill(&one, flows, NULL, &rng, 1, &one_refused, &one_first);
	if (!one_refused)
		one_first = flows;
	stab_free(&one);

	if (stab_init(&t, capacity, sizeof(struct moat_flow_key), sizeof(struct moat_be_flow), 7))
		return 1;
	t.rank = rank_established;
	keys = malloc(flows * sizeof(*keys));
	order = malloc(flows * sizeof(*keys));
	fresh = malloc(inserts * sizeof(*keys));
	if (!keys || !order || !fresh)
		return 1;
	if (fill(&t, flows, keys, &rng, 0, &refused, &first_refusal)) {
		fprintf(stderr, "flowtab_bench: cannot fill %zu slots to %zu live flows\n",
			stab_capacity(&t), flows);
		return 1;
	}
	/* Lookups walk a shuffled copy of the keys in order: the key reads stream. */
	memcpy(order, keys, flows * sizeof(*keys));
	for (i = flows - 1; i > 0; i--) {
		size_t j = splitmix(&rng) % (i + 1);
		struct moat_flow_key tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	mem = (const u64 *)t.mem;
	words = stab_capacity(&t) * t.slot_size / sizeof(u64); /* the slots, not the tags */

	for (round = 0; round < rounds; round++) {
		u64 s = 0x1234 + (u64)round;
		double ns;

		t0 = now_ns();
		for (i = 0; i < lookups; i++) {
			const struct moat_be_flow *e = stab_find(&t, &order[i % flows]);

			sink += e ? e->f.state : 1000;
		}
		ns = (double)(now_ns() - t0) / (double)lookups;
		best_lookup = ns < best_lookup ? ns : best_lookup;

		/* Floor: one random 8-byte read of the table's memory per operation. */
		t0 = now_ns();
		for (i = 0; i < lookups; i++)
			sink += mem[splitmix(&s) % words];
		ns = (double)(now_ns() - t0) / (double)lookups;
		best_floor = ns < best_floor ? ns : best_floor;

		for (i = 0; i < inserts; i++)
			make_key(&fresh[i], &rng);
		t0 = now_ns();
		for (i = 0; i < inserts; i++) {
			int created;
			struct moat_be_flow *e = stab_insert(&t, &fresh[i], &created);

			if (e && created)
				fill_value(e, 1);
			else
				ins_refused++;
		}
		ns = (double)(now_ns() - t0) / (double)inserts;
		best_insert = ns < best_insert ? ns : best_insert;
		stab_sweep(&t, remove_marked, NULL); /* back to `flows` live */
	}
	if (t.count != flows) {
		fprintf(stderr, "flowtab_bench: %zu live after the rounds, not %zu\n", t.count, flows);
		return 1;
	}
	printf("{\"flows\": %zu, \"capacity\": %zu, \"slot_bytes\": %zu, \"table_bytes\": %zu, "
	       "\"lookup_ns\": %.1f, \"insert_ns\": %.1f, \"random_read_ns\": %.1f, "
	       "\"bytes_per_flow\": %.1f, \"fill_refused\": %zu, \"first_refusal_at\": %zu, "
	       "\"insert_refused\": %zu, \"capacity_1x\": %zu, "
	       "\"first_refusal_at_1x\": %zu, \"lookups\": %zu, \"inserts\": %zu, "
	       "\"rounds\": %d, \"sink\": %llu}\n",
	       flows, stab_capacity(&t), t.slot_size, stab_bytes(&t), best_lookup, best_insert,
	       best_floor, (double)stab_bytes(&t) / (double)t.count, refused, first_refusal,
	       ins_refused, one_capacity, one_first, lookups, inserts, rounds,
	       (unsigned long long)(sink & 1));
	stab_free(&t);
	free(keys);
	free(order);
	free(fresh);
	return 0;
}
