// SPDX-License-Identifier: BSD-3-Clause
/*
 * The per-lcore flow table of moat-dp, made by moat_be_init as moat-dp makes it
 * (`flows: CAPACITY`; struct moat_flow_key -> struct moat_flow), filled with N
 * established flows (IPv4, or IPv6 with --ipv6), then:
 *   - lookups of present keys in random order, ns each, at N live;
 *   - inserts of new keys, ns each: N - BATCH live, BATCH inserted (timed), the
 *     same removed again (not timed), so every insert sees N - BATCH to N live;
 *   - bytes per flow: stab_bytes() / N live;
 *   - first_refusal_at_1x: live flows when two-choice insertion first finds both
 *     buckets of a new flow full, in the table moat-dp makes for `flows: N`
 *     (filled past its configured limit until then); first_refusal_at: the same
 *     during the fill to N live (0: none, as it must be);
 * beside a floor measured in the same run: one random 8-byte read per operation
 * over memory as large as the table (the cache miss no lookup can avoid).
 * Every flow is established, so a full bucket refuses (moat-dp's flow_rank
 * never pushes out an established flow).
 *   flowtab_bench [--flows N] [--capacity FLOWS] [--ipv6] [--lookups N]
 *                 [--inserts N] [--batch N] [--rounds N]
 * Prints one JSON object.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/config.h"
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

/* A random TCP flow's key as moat-dp makes it from a packet. */
static void make_key(struct moat_flow_key *k, u64 *rng, int v6)
{
	struct moat_pkt p;
	u64 r = splitmix(rng);
	int i;

	memset(&p, 0, sizeof(p));
	p.family = v6 ? 6 : 4;
	p.proto = 6;
	p.sport = (u16)r;
	p.dport = (u16)(r >> 16);
	for (i = 0; i < (v6 ? 4 : 1); i++) {
		u64 a = splitmix(rng);

		p.saddr.w[i] = (u32)a;
		p.daddr.w[i] = (u32)(a >> 32);
	}
	moat_flow_key_make(&p, k);
}

/* What moat_be_flow_add + the engine leave in an established flow, roughly. */
static void fill_value(struct moat_flow *f, u32 now_s)
{
	f->state = MOAT_TCPS_ESTABLISHED;
	f->last_seen_s = now_s;
}

struct fill_stats {
	size_t refused;
	size_t first_refusal; /* live flows then; 0: none */
};

/* Insert fresh keys until `want` are live (kept in v when not NULL). */
static int fill(struct moat_be *be, size_t want, struct moat_flow_key *v, u64 *rng, int v6,
		int stop_at_refusal, struct fill_stats *st)
{
	struct stab *t = &be->flows;
	size_t tries = 0;

	memset(st, 0, sizeof(*st));
	while (t->count < want) {
		struct moat_flow_key k;
		struct moat_flow *f;
		int created;

		if (++tries > want * 4)
			return -1;
		make_key(&k, rng, v6);
		f = stab_insert(t, &k, 0, &created);
		if (!f) {
			if (!st->refused)
				st->first_refusal = t->count;
			st->refused++;
			if (stop_at_refusal)
				return -1;
			continue;
		}
		if (!created)
			continue; /* a repeated random key: not new */
		fill_value(f, be->now_s);
		if (v)
			v[t->count - 1] = k;
	}
	return 0;
}

static int be_make(struct moat_be *be, struct moat_config *cfg, size_t capacity)
{
	memset(cfg, 0, sizeof(*cfg));
	moat_config_defaults(cfg);
	cfg->flow_table_size = (unsigned int)capacity;
	cfg->source_table_size = 64;
	if (moat_be_init(be, cfg, 7))
		return -1;
	be->now_s = 1000;
	return 0;
}

/* How many live flows two-choice insertion reaches in these slots before a refusal. */
static size_t two_choice_limit(size_t capacity, int v6, u64 *rng)
{
	struct moat_config cfg;
	struct fill_stats st;
	struct moat_be be;
	size_t n;

	if (be_make(&be, &cfg, capacity))
		return 0;
	be.flows.limit = SIZE_MAX;
	fill(&be, stab_capacity(&be.flows), NULL, rng, v6, 1, &st);
	n = st.refused ? st.first_refusal : be.flows.count;
	moat_be_free(&be);
	moat_config_free(&cfg);
	return n;
}

static void shuffle(struct moat_flow_key *v, size_t n, u64 *rng)
{
	size_t i;

	for (i = n - 1; i > 0; i--) {
		size_t j = splitmix(rng) % (i + 1);
		struct moat_flow_key tmp = v[i];

		v[i] = v[j];
		v[j] = tmp;
	}
}

struct opts {
	size_t flows, capacity, lookups, inserts, batch;
	int rounds, v6;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "flows", required_argument, NULL, 'f' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "ipv6", no_argument, NULL, '6' },
		{ "lookups", required_argument, NULL, 'l' },
		{ "inserts", required_argument, NULL, 'i' },
		{ "batch", required_argument, NULL, 'b' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .flows = 1 << 20, .lookups = 1 << 22, .inserts = 1 << 16,
			    .batch = 4096, .rounds = 3 };
	while ((c = getopt_long(argc, argv, "f:c:6l:i:b:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o->flows = strtoul(optarg, NULL, 0); break;
		case 'c': o->capacity = strtoul(optarg, NULL, 0); break;
		case '6': o->v6 = 1; break;
		case 'l': o->lookups = strtoul(optarg, NULL, 0); break;
		case 'i': o->inserts = strtoul(optarg, NULL, 0); break;
		case 'b': o->batch = strtoul(optarg, NULL, 0); break;
		case 'r': o->rounds = atoi(optarg); break;
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: flowtab_bench [--flows N] [--capacity FLOWS] [--ipv6] "
				"[--lookups N] [--inserts N] [--batch N] [--rounds N]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	/* moat-dp configured for exactly N flows (`flows: N`); an IPv6 flow takes two slots. */
	if (!o->capacity)
		o->capacity = o->v6 ? o->flows * 9 / 4 : o->flows;
	if (o->batch > o->flows)
		o->batch = o->flows;
	if (!o->flows || !o->lookups || !o->inserts || !o->batch || o->rounds < 1 ||
	    o->capacity < o->flows || o->capacity > (1u << 31))
		return 2;
	return -1;
}

int main(int argc, char **argv)
{
	double best_lookup = 1e30, best_insert = 1e30, best_floor = 1e30;
	size_t limit, ins_refused = 0, i, j, words, live_bytes;
	struct moat_flow_key *keys, *order, *fresh;
	u64 rng = 0x6d6f6174, sink = 0, t0;
	struct moat_config cfg;
	struct fill_stats st;
	struct moat_be be;
	struct opts o;
	const u64 *mem;
	int round, r;

	r = parse_opts(argc, argv, &o);
	if (r >= 0)
		return r;
	limit = two_choice_limit(o.capacity, o.v6, &rng);
	if (be_make(&be, &cfg, o.capacity))
		return 1;
	keys = malloc(o.flows * sizeof(*keys));
	order = malloc(o.flows * sizeof(*keys));
	fresh = malloc(o.batch * sizeof(*keys));
	if (!keys || !order || !fresh)
		return 1;
	if (fill(&be, o.flows, keys, &rng, o.v6, 0, &st)) {
		fprintf(stderr, "flowtab_bench: cannot fill %zu slots to %zu live flows\n",
			stab_capacity(&be.flows), o.flows);
		return 1;
	}
	live_bytes = stab_bytes(&be.flows);
	/* Lookups walk a shuffled copy of the keys in order: the key reads stream. */
	memcpy(order, keys, o.flows * sizeof(*keys));
	shuffle(order, o.flows, &rng);
	mem = be.flows.map;
	words = be.flows.map_len / sizeof(u64);

	for (round = 0; round < o.rounds; round++) {
		u64 s = 0x1234 + (u64)round;
		double ns;

		t0 = now_ns();
		for (i = 0; i < o.lookups; i++) {
			const struct moat_flow *f = stab_find(&be.flows, &order[i % o.flows], NULL);

			sink += f ? f->state : 1000;
		}
		ns = (double)(now_ns() - t0) / (double)o.lookups;
		best_lookup = ns < best_lookup ? ns : best_lookup;

		/* Floor: one random 8-byte read of the table's memory per operation. */
		t0 = now_ns();
		for (i = 0; i < o.lookups; i++)
			sink += mem[splitmix(&s) % words];
		ns = (double)(now_ns() - t0) / (double)o.lookups;
		best_floor = ns < best_floor ? ns : best_floor;

		/* The last BATCH keys filled make way for the timed batches, then return. */
		for (i = o.flows - o.batch; i < o.flows; i++)
			stab_remove(&be.flows, &keys[i]);
		ns = 0;
		for (j = 0; j < o.inserts; j += o.batch) {
			for (i = 0; i < o.batch; i++)
				make_key(&fresh[i], &rng, o.v6);
			t0 = now_ns();
			for (i = 0; i < o.batch; i++) {
				int created;
				struct moat_flow *f = stab_insert(&be.flows, &fresh[i], 0, &created);

				if (f && created)
					fill_value(f, be.now_s);
				else
					ins_refused++;
			}
			ns += (double)(now_ns() - t0);
			for (i = 0; i < o.batch; i++)
				stab_remove(&be.flows, &fresh[i]);
		}
		ns /= (double)((o.inserts + o.batch - 1) / o.batch * o.batch);
		best_insert = ns < best_insert ? ns : best_insert;
		for (i = o.flows - o.batch; i < o.flows; i++) {
			int created;
			struct moat_flow *f = stab_insert(&be.flows, &keys[i], 0, &created);

			if (!f)
				break;
			fill_value(f, be.now_s);
		}
	}
	if (be.flows.count != o.flows) {
		fprintf(stderr, "flowtab_bench: %zu live after the rounds, not %zu\n", be.flows.count,
			o.flows);
		return 1;
	}
	printf("{\"flows\": %zu, \"family\": %d, \"configured_flows\": %zu, \"capacity\": %zu, "
	       "\"slot_bytes\": %zu, \"table_bytes\": %zu, \"lookup_ns\": %.1f, \"insert_ns\": %.1f, "
	       "\"random_read_ns\": %.1f, \"bytes_per_flow\": %.1f, \"fill_refused\": %zu, "
	       "\"first_refusal_at\": %zu, \"first_refusal_at_1x\": %zu, \"insert_refused\": %zu, "
	       "\"lookups\": %zu, "
	       "\"inserts\": %zu, \"batch\": %zu, \"rounds\": %d, \"sink\": %llu}\n",
	       o.flows, o.v6 ? 6 : 4, o.capacity, stab_capacity(&be.flows), be.flows.slot_size,
	       live_bytes, best_lookup, best_insert, best_floor,
	       (double)live_bytes / (double)o.flows, st.refused, st.first_refusal, limit, ins_refused,
	       o.lookups,
	       o.inserts, o.batch, o.rounds, (unsigned long long)(sink & 1));
	moat_be_free(&be);
	moat_config_free(&cfg);
	free(keys);
	free(order);
	free(fresh);
	return 0;
}
