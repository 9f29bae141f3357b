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
#include "flow/backend.h"
#include "flow/stab.h"

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
	if (moat_be_init(be, cfg->flow_table_size, cfg->source_table_size, 7))
		return -1;
	moat_be_use(be, &cfg->pol, &cfg->allow, &cfg->deny);
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
	/*
	 * moat-dp configured for exactly N flows (`flows: N`). An IPv6 flow takes two
	 * neighbouring slots: 2.1 N, so that N of them still find a free pair.
	 */
	if (!o->capacity)
		o->capacity = o->v6 ? o->flows * 21 / 10 : o->flows;
	if (o->batch > o->flows)
		o->batch = o->flows;
	if (!o->flows || !o->lookups || !o->inserts || !o->batch || o->rounds < 1 ||
	    o->capacity < o->flows || o->capacity > (1u << 31))
		return 2;
	return -1;
}

/* The run: the table, its keys (kept and in lookup order), fresh keys for inserts. */
struct run {
	struct opts o;
	struct moat_config cfg;
	struct moat_be be;
	struct moat_flow_key *keys, *order, *fresh;
	u64 rng, sink;
	size_t ins_refused;
};

static double lookups_ns(struct run *r)
{
	u64 t0 = now_ns();
	size_t i;

	for (i = 0; i < r->o.lookups; i++) {
		const struct moat_flow *f = stab_find(&r->be.flows, &r->order[i % r->o.flows], NULL);

		r->sink += f ? f->state : 1000;
	}
	return (double)(now_ns() - t0) / (double)r->o.lookups;
}

/* Floor: one random 8-byte read of the table's memory per operation. */
static double floor_ns(struct run *r, u64 seed)
{
	const u64 *mem = r->be.flows.map;
	size_t i, words = r->be.flows.map_len / sizeof(u64);
	u64 t0 = now_ns();

	for (i = 0; i < r->o.lookups; i++)
		r->sink += mem[splitmix(&seed) % words];
	return (double)(now_ns() - t0) / (double)r->o.lookups;
}

/* One timed batch of new keys at N - BATCH live, removed again after. */
static u64 insert_batch(struct run *r)
{
	size_t i;
	u64 t0, ns;

	for (i = 0; i < r->o.batch; i++)
		make_key(&r->fresh[i], &r->rng, r->o.v6);
	t0 = now_ns();
	for (i = 0; i < r->o.batch; i++) {
		int created;
		struct moat_flow *f = stab_insert(&r->be.flows, &r->fresh[i], 0, &created);

		if (f && created)
			fill_value(f, r->be.now_s);
		else
			r->ins_refused++;
	}
	ns = now_ns() - t0;
	for (i = 0; i < r->o.batch; i++)
		stab_remove(&r->be.flows, &r->fresh[i]);
	return ns;
}

/* The last BATCH keys filled make way for the timed batches, then return. */
static double inserts_ns(struct run *r)
{
	size_t i, n = 0;
	u64 ns = 0;

	for (i = r->o.flows - r->o.batch; i < r->o.flows; i++)
		stab_remove(&r->be.flows, &r->keys[i]);
	for (n = 0; n < r->o.inserts; n += r->o.batch)
		ns += insert_batch(r);
	for (i = r->o.flows - r->o.batch; i < r->o.flows; i++) {
		int created;
		struct moat_flow *f = stab_insert(&r->be.flows, &r->keys[i], 0, &created);

		if (!f)
			return -1;
		fill_value(f, r->be.now_s);
	}
	return (double)ns / (double)n;
}

static int setup(struct run *r)
{
	struct fill_stats st;
	size_t n = r->o.flows;

	if (be_make(&r->be, &r->cfg, r->o.capacity))
		return -1;
	r->keys = malloc(n * sizeof(*r->keys));
	r->order = malloc(n * sizeof(*r->keys));
	r->fresh = malloc(r->o.batch * sizeof(*r->keys));
	if (!r->keys || !r->order || !r->fresh)
		return -1;
	if (fill(&r->be, n, r->keys, &r->rng, r->o.v6, 0, &st) || st.refused) {
		fprintf(stderr, "flowtab_bench: %zu slots refused at %zu live, before %zu\n",
			stab_capacity(&r->be.flows), st.first_refusal, n);
		return -1;
	}
	/* Lookups walk a shuffled copy of the keys in order: the key reads stream. */
	memcpy(r->order, r->keys, n * sizeof(*r->keys));
	shuffle(r->order, n, &r->rng);
	return 0;
}

static void teardown(struct run *r)
{
	moat_be_free(&r->be);
	moat_config_free(&r->cfg);
	free(r->keys);
	free(r->order);
	free(r->fresh);
}

int main(int argc, char **argv)
{
	static struct run r = { .rng = 0x6d6f6174 };
	double lookup = 1e30, insert = 1e30, floor = 1e30, ns;
	size_t limit, bytes;
	int round, rc;

	rc = parse_opts(argc, argv, &r.o);
	if (rc >= 0)
		return rc;
	limit = two_choice_limit(r.o.capacity, r.o.v6, &r.rng);
	if (setup(&r))
		return 1;
	bytes = stab_bytes(&r.be.flows);
	for (round = 0; round < r.o.rounds; round++) {
		ns = lookups_ns(&r);
		lookup = ns < lookup ? ns : lookup;
		ns = floor_ns(&r, 0x1234 + (u64)round);
		floor = ns < floor ? ns : floor;
		ns = inserts_ns(&r);
		if (ns < 0 || r.be.flows.count != r.o.flows) {
			fprintf(stderr, "flowtab_bench: %zu live after a round, not %zu\n",
				r.be.flows.count, r.o.flows);
			return 1;
		}
		insert = ns < insert ? ns : insert;
	}
	printf("{\"flows\": %zu, \"family\": %d, \"configured_flows\": %zu, \"capacity\": %zu, "
	       "\"slot_bytes\": %zu, \"table_bytes\": %zu, ",
	       r.o.flows, r.o.v6 ? 6 : 4, r.o.capacity, stab_capacity(&r.be.flows),
	       r.be.flows.slot_size, bytes);
	printf("\"lookup_ns\": %.1f, \"insert_ns\": %.1f, \"random_read_ns\": %.1f, "
	       "\"bytes_per_flow\": %.1f, ",
	       lookup, insert, floor, (double)bytes / (double)r.o.flows);
	printf("\"fill_refused\": 0, \"first_refusal_at\": 0, \"first_refusal_at_1x\": %zu, "
	       "\"insert_refused\": %zu, \"lookups\": %zu, \"inserts\": %zu, \"batch\": %zu, "
	       "\"rounds\": %d, \"sink\": %llu}\n",
	       limit, r.ins_refused, r.o.lookups, r.o.inserts, r.o.batch, r.o.rounds,
	       (unsigned long long)(r.sink & 1));
	teardown(&r);
	return 0;
}
