// SPDX-License-Identifier: BSD-3-Clause
/* flow/stab.c: sizing, one- and two-slot keys, the mark bit, the limit, victims. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "flow/stab.h"

/* A 40-byte key whose first 12 bytes are all a "short" key needs (as struct moat_flow_key). */
struct key {
	uint32_t w[10];
};

/* As large as struct moat_flow, so a long key's tail fits its second slot. */
struct val {
	int rank;
	uint32_t tag;
	uint32_t more[9];
};

static struct key short_key(uint32_t n)
{
	struct key k;

	memset(&k, 0, sizeof(k));
	k.w[0] = n;
	k.w[1] = n * 2654435761u;
	k.w[2] = ~n;
	return k;
}

static struct key long_key(uint32_t n)
{
	struct key k = short_key(n);

	k.w[9] = 1;
	k.w[5] = n ^ 0x5a5a5a5a;
	return k;
}

/* A table of struct key -> struct val, as the tests here make them. */
static struct stab_conf conf_of(size_t entries, unsigned int ways, unsigned int load,
				uint64_t seed)
{
	return (struct stab_conf){ .entries = entries, .ways = ways, .load_pct = load,
				   .key_size = sizeof(struct key), .head_size = 12,
				   .val_size = sizeof(struct val), .val_align = 4, .seed = seed };
}

static void make(struct stab *t, size_t entries, unsigned int ways, unsigned int load)
{
	const struct stab_conf c = conf_of(entries, ways, load, 42);

	cr_assert_eq(stab_init(t, &c), 0);
}

static int rank_val(const void *key, const void *val, void *ctx)
{
	(void)key;
	(void)ctx;
	return ((const struct val *)val)->rank;
}

struct evicted {
	int n;
	struct key last;
	unsigned int mark;
};

static void on_evict(const void *key, void *val, unsigned int mark, void *ctx)
{
	struct evicted *e = ctx;

	(void)val;
	e->n++;
	memcpy(&e->last, key, sizeof(e->last));
	e->mark = mark;
}

static struct val *put(struct stab *t, struct key k, int rank, unsigned int mark)
{
	int created;
	struct val *v = stab_insert(t, &k, mark, &created);

	if (v) {
		cr_assert(created);
		v->rank = rank;
		v->tag = k.w[0];
	}
	return v;
}

Test(stab, sized_for_its_entries_not_a_power_of_two)
{
	struct stab t;

	make(&t, 1000000, 64, 92);
	cr_assert_geq(stab_capacity(&t) * 92, 1000000 * 100);
	cr_assert_lt(stab_capacity(&t) * 92, 1000000 * 100 + 64 * 92);
	cr_assert_eq(stab_capacity(&t) % 64, 0);
	cr_assert_eq(t.slot_size, 12 + sizeof(struct val));
	cr_assert_eq(stab_bytes(&t), stab_capacity(&t) * (t.slot_size + 2));
	stab_free(&t);
}

Test(stab, rejects_what_it_cannot_lay_out)
{
	struct stab t;
	struct stab_conf c = { .entries = 10, .ways = 12, .key_size = 8, .val_size = 8 };

	cr_assert_eq(stab_init(&t, &c), -EINVAL, "ways not a power of two from 8 to 64");
	c.ways = 8;
	c.key_size = STAB_KEY_MAX + 1;
	cr_assert_eq(stab_init(&t, &c), -EINVAL);
	c.key_size = 64;
	c.head_size = 4;
	cr_assert_eq(stab_init(&t, &c), -EINVAL, "a 60-byte tail does not fit a 16-byte slot");
}

Test(stab, short_and_long_keys_are_exact)
{
	struct stab t;
	struct key s = short_key(7), l = long_key(7), l2 = long_key(7);
	struct val *vs, *vl;

	make(&t, 1000, 64, 92);
	vs = put(&t, s, 1, 0);
	vl = put(&t, l, 2, 0);
	cr_assert(vs && vl && vs != vl, "same head, one short one long: two entries");
	cr_assert_eq(stab_find(&t, &s, NULL), vs);
	cr_assert_eq(stab_find(&t, &l, NULL), vl);
	l2.w[8] = 3; /* differs in the tail only */
	cr_assert_null(stab_find(&t, &l2, NULL));
	cr_assert_eq(t.count, 2);
	cr_assert_eq(stab_remove(&t, &l), 0);
	cr_assert_null(stab_find(&t, &l, NULL));
	cr_assert_eq(stab_find(&t, &s, NULL), vs);
	cr_assert_eq(stab_remove(&t, &l), -ENOENT);
	cr_assert_eq(t.count, 1);
	stab_free(&t);
}

Test(stab, mark_bit_per_entry)
{
	struct stab t;
	struct key a = short_key(1), b = long_key(2);
	unsigned int m = 9;
	int created;

	make(&t, 100, 8, 100);
	put(&t, a, 0, 1);
	put(&t, b, 0, 0);
	cr_assert_not_null(stab_find(&t, &a, &m));
	cr_assert_eq(m, 1);
	cr_assert_not_null(stab_find(&t, &b, &m));
	cr_assert_eq(m, 0);
	cr_assert_not_null(stab_insert(&t, &a, 0, &created));
	cr_assert_eq(created, 0);
	stab_find(&t, &a, &m);
	cr_assert_eq(m, 1, "an existing entry keeps its mark");
	stab_free(&t);
}

static struct key nth_key(uint32_t i)
{
	return i % 3 ? short_key(i) : long_key(i);
}

Test(stab, values_zeroed_and_never_moved)
{
	struct stab t;
	struct val *v[200];
	uint32_t i;

	make(&t, 400, 64, 92);
	for (i = 0; i < 200; i++) {
		v[i] = put(&t, nth_key(i), 0, 0);
		cr_assert_not_null(v[i]);
	}
	for (i = 0; i < 200; i += 2) {
		struct key k = nth_key(i);

		cr_assert_eq(stab_remove(&t, &k), 0);
	}
	for (i = 1000; i < 1200; i++) {
		struct key k = nth_key(i);
		int created;
		struct val *n = stab_insert(&t, &k, 0, &created);

		cr_assert(n && created);
		cr_assert(n->rank == 0 && n->tag == 0, "a new entry's value is zeroed");
	}
	for (i = 1; i < 200; i += 2) {
		struct key k = nth_key(i);

		cr_assert_eq(stab_find(&t, &k, NULL), v[i], "entries never move");
		cr_assert_eq(v[i]->tag, k.w[0]);
	}
	stab_free(&t);
}

/* With no rank function the table refuses past its configured count. */
Test(stab, holds_its_configured_count_then_refuses)
{
	struct stab t;
	uint32_t i;

	make(&t, 50000, 64, 92);
	for (i = 0; i < 50000; i++)
		cr_assert_not_null(put(&t, short_key(i), 0, 0), "refused at %u", i);
	cr_assert_null(put(&t, short_key(i), 0, 0));
	cr_assert_eq(t.count, 50000);
	cr_assert_eq(t.peak, 50000);
	stab_free(&t);
}

/* At its count the table gives up an entry the rank function lets go for each new one. */
Test(stab, full_table_evicts_the_best_victim)
{
	struct evicted ev = { 0 };
	struct stab t;
	uint32_t i;

	make(&t, 8, 8, 100); /* one bucket of 8: both choices are it */
	t.rank = rank_val;
	t.on_evict = on_evict;
	t.ctx = &ev;
	for (i = 0; i < 8; i++)
		put(&t, short_key(i), i == 5 ? 7 : (int)i % 3 - 1, i == 5);
	cr_assert_not_null(put(&t, short_key(100), -1, 0));
	cr_assert_eq(ev.n, 1);
	cr_assert_eq(ev.last.w[0], 5, "the highest rank goes");
	cr_assert_eq(ev.mark, 1, "on_evict gets the entry's mark");
	cr_assert_eq(t.count, 8);
	cr_assert_eq(t.evictions, 1);
	stab_free(&t);
}

Test(stab, nothing_evictable_refuses)
{
	struct stab t;
	uint32_t i;

	make(&t, 8, 8, 100);
	t.rank = rank_val;
	for (i = 0; i < 8; i++)
		put(&t, short_key(i), -1, 0);
	cr_assert_null(put(&t, short_key(100), 0, 0));
	cr_assert_eq(t.count, 8);
	stab_free(&t);
}

/* A long key needs two neighbouring slots: the pair whose entries go most easily. */
Test(stab, long_key_evicts_a_pair)
{
	struct evicted ev = { 0 };
	static const int ranks[8] = { 0, 0, 5, 6, 0, 0, 0, 0 };
	struct key l = long_key(99);
	struct stab t;
	uint32_t i;

	make(&t, 8, 8, 100); /* one bucket; a new key takes its first free slot */
	t.rank = rank_val;
	t.on_evict = on_evict;
	t.ctx = &ev;
	for (i = 0; i < 8; i++)
		put(&t, short_key(i), ranks[i], 0);
	t.limit = 9; /* room for one more key, none for two slots */
	cr_assert_not_null(put(&t, l, -1, 0));
	cr_assert_eq(ev.n, 2, "both entries of the pair (2, 3): it ranks 5, the others 0");
	cr_assert_eq(ev.last.w[0], 3);
	cr_assert_null(stab_find(&t, &(struct key){ .w = { 2, 2 * 2654435761u, ~2u } }, NULL));
	cr_assert_eq(t.count, 7);
	cr_assert_not_null(stab_find(&t, &l, NULL));
	stab_free(&t);
}

/*
 * 64-slot buckets rank a window of 8 first: a victim ranked rank_enough there
 * ends the search; below that, every slot is ranked.
 */
Test(stab, window_then_whole_bucket)
{
	struct evicted ev = { 0 };
	struct stab t;
	uint32_t i;

	make(&t, 64, 64, 100); /* one bucket */
	t.rank = rank_val;
	t.on_evict = on_evict;
	t.ctx = &ev;
	t.rank_enough = 5;
	for (i = 0; i < 64; i++)
		put(&t, short_key(i), i == 40 ? 9 : 1, 0);
	cr_assert_not_null(put(&t, short_key(1000), -1, 0));
	cr_assert_eq(ev.n, 1);
	cr_assert_eq(ev.last.w[0], 40, "nothing ranked 5 in the window: the whole bucket");
	stab_free(&t);
}

static int drop_odd(const void *key, void *val, unsigned int mark, void *ctx)
{
	const struct key *k = key;
	int *seen = ctx;

	(*seen)++;
	cr_assert_eq(mark, k->w[0] % 5 == 0, "sweep passes the mark");
	cr_assert_eq(((struct val *)val)->tag, k->w[0], "sweep passes the whole key");
	if (k->w[9])
		cr_assert_eq(k->w[5], k->w[0] ^ 0x5a5a5a5a, "a long key's tail");
	return k->w[0] & 1;
}

Test(stab, sweep_sees_whole_keys_and_removes)
{
	struct stab t;
	int seen = 0;
	uint32_t i;

	make(&t, 1000, 64, 92);
	for (i = 0; i < 300; i++)
		put(&t, i % 4 ? short_key(i) : long_key(i), 0, i % 5 == 0);
	stab_sweep(&t, drop_odd, &seen);
	cr_assert_eq(seen, 300);
	cr_assert_eq(t.count, 150);
	for (i = 0; i < 300; i++) {
		struct key k = i % 4 ? short_key(i) : long_key(i);

		cr_assert_eq(stab_find(&t, &k, NULL) != NULL, !(i & 1));
	}
	stab_prefetch(&t, &(struct key){ 0 });
	stab_free(&t);
}

/*
 * A table in the caller's memory (moat-dp's state file): a second table made on
 * the same memory with adopt finds every key, value and mark the first left,
 * counts them, and goes on inserting; without adopt the memory is cleared.
 */
Test(stab, adopted_from_callers_memory)
{
	const struct stab_conf base = conf_of(8192, 64, 92, 7);
	struct stab_conf c = base;
	size_t len = stab_map_bytes(&base);
	void *mem = aligned_alloc(4096, len);
	struct stab a, b;
	uint32_t i;
	int created;

	cr_assert(len > 0 && mem);
	memset(mem, 0xA5, len); /* not zero: a table without adopt must clear it */
	c.mem = mem;
	cr_assert_eq(stab_init(&a, &c), 0);
	cr_assert_eq(a.count, 0);
	for (i = 0; i < 3000; i++) {
		struct key k = (i % 3) ? short_key(i) : long_key(i);
		struct val *v = stab_insert(&a, &k, i & 1, &created);

		cr_assert(v && created);
		v->tag = i;
	}
	stab_free(&a); /* the caller's memory stays */
	c.adopt = 1;
	cr_assert_eq(stab_init(&b, &c), 0);
	cr_assert_eq(b.count, 3000, "adopted count %zu", b.count);
	for (i = 0; i < 3000; i++) {
		struct key k = (i % 3) ? short_key(i) : long_key(i);
		unsigned int mark = 9;
		struct val *v = stab_find(&b, &k, &mark);

		cr_assert(v, "key %u lost", i);
		cr_assert_eq(v->tag, i);
		cr_assert_eq(mark, i & 1);
	}
	for (i = 3000; i < 3500; i++) {
		struct key k = short_key(i);

		cr_assert(stab_insert(&b, &k, 0, &created) && created);
	}
	cr_assert_eq(b.count, 3500);
	stab_free(&b);
	c.adopt = 0;
	cr_assert_eq(stab_init(&b, &c), 0);
	cr_assert_eq(b.count, 0);
	{
		struct key k = short_key(5);

		cr_assert_null(stab_find(&b, &k, NULL), "a table without adopt starts empty");
	}
	stab_free(&b);
	free(mem);
}

/* Keys of the filter tests: short and long ones, as flows are. */
static struct key filter_key(uint32_t i)
{
	return (i % 3) ? short_key(i) : long_key(i);
}

static int filter_says_absent(const struct stab *t, uint32_t i)
{
	struct key k = filter_key(i);

	return stab_absent_h(t, stab_hash(t, &k));
}

Test(stab, filter_never_hides_a_key_and_turns_most_misses_away)
{
	struct stab_conf c = conf_of(30000, 64, 92, 3);
	struct stab t;
	uint32_t i, absent = 0, adds;
	int created;

	c.filter_bits = 16;
	cr_assert_eq(stab_init(&t, &c), 0);
	cr_assert_not_null(t.filter);
	cr_assert_eq(filter_says_absent(&t, 1), 1, "an empty table holds nothing");
	for (i = 0; i < 20000; i++) {
		struct key k = filter_key(i);

		cr_assert(stab_insert(&t, &k, 0, &created) && created);
	}
	for (i = 0; i < 20000; i++)
		cr_assert_eq(filter_says_absent(&t, i), 0, "key %u held but said absent", i);
	for (i = 20000; i < 120000; i++)
		absent += (uint32_t)filter_says_absent(&t, i);
	/* 16 bits a key, 4 set in one 512-bit block: about 0.2-0.5% false "maybe"s when full */
	cr_assert(absent >= 99000, "%u of 100000 missing keys turned away", absent);
	adds = stab_adds(&t);
	/* churn: remove and add keys until the filter has been rebuilt from the table */
	for (i = 0; i < 60000; i++) {
		/* the oldest key goes: the first 20000, then those added here */
		struct key old = filter_key(i < 20000 ? i : 200000 + i - 20000);
		struct key fresh = filter_key(200000 + i);

		cr_assert_eq(stab_remove(&t, &old), 0);
		cr_assert(stab_insert(&t, &fresh, 0, &created) && created);
	}
	cr_assert_eq(stab_adds(&t), adds + 60000);
	cr_assert(t.filter_adds < 40000, "rebuilt along the way (%zu adds since)", t.filter_adds);
	for (i = 40000; i < 60000; i++) {
		struct key k = filter_key(200000 + i);

		cr_assert_not_null(stab_find(&t, &k, NULL));
		cr_assert_eq(filter_says_absent(&t, 200000 + i), 0, "key %u hidden after churn",
			     200000 + i);
	}
	/* the removed keys mostly turned away again once the filter was rebuilt without them */
	for (i = 0, absent = 0; i < 20000; i++)
		absent += (uint32_t)filter_says_absent(&t, i);
	cr_assert(absent >= 19000, "%u of 20000 removed keys turned away", absent);
	stab_free(&t);
}

Test(stab, filter_rebuilt_from_an_adopted_table)
{
	struct stab_conf c = conf_of(8192, 64, 92, 9);
	size_t len = stab_map_bytes(&c);
	void *mem = aligned_alloc(4096, len);
	struct stab a, b;
	uint32_t i;
	int created;

	c.filter_bits = 16;
	cr_assert(len > 0 && mem);
	c.mem = mem;
	cr_assert_eq(stab_init(&a, &c), 0);
	for (i = 0; i < 3000; i++) {
		struct key k = filter_key(i);

		cr_assert(stab_insert(&a, &k, 0, &created) && created);
	}
	stab_free(&a);
	c.adopt = 1;
	cr_assert_eq(stab_init(&b, &c), 0);
	for (i = 0; i < 3000; i++)
		cr_assert_eq(filter_says_absent(&b, i), 0, "adopted key %u said absent", i);
	stab_free(&b);
	free(mem);
}
