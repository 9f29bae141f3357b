/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A bounded set-associative table: each key may live in one of two buckets
 * (two-choice hashing: it goes to the emptier one), no chains, no resize, and
 * entries never move, so its memory is fixed at creation whatever the traffic
 * and a value's address is stable for the entry's life.
 *
 * Sizing: a table for N entries has N / load slots (not rounded to a power of
 * two: buckets are picked by multiply-shift) and holds at most N keys. With 64
 * slots a bucket, two choices fill about 97% of the slots before the first full
 * pair of buckets (96% after long churn), so at a load of 92% the N-th key
 * still finds room; 8-slot buckets are full at about 72%.
 *
 * Short keys: a key whose bytes past head_size are all zero keeps only its head
 * in its slot; any other key also takes the next slot of the bucket for the rest
 * (e.g. an IPv4 flow key in 12 bytes, an IPv6 one, still exact, in two slots).
 *
 * When the key's two buckets are full (or the table holds N keys) the caller's
 * rank function picks a victim (the one it ranks highest) or refuses (all
 * ranks negative): e.g. expired or embryonic flows can go, established ones
 * cannot. It first ranks 8 slots of each bucket, from a place the new key's
 * hash picks, and looks at every slot only when none of those ranks at least
 * rank_enough: a flood that makes every insert evict costs 16 rankings each.
 */
#ifndef MOAT_FLOW_STAB_H
#define MOAT_FLOW_STAB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/flowkey.h" /* moat_mix64 */

#define STAB_WAYS_MAX 64
#define STAB_WINDOW 8 /* slots of a bucket ranked first for a victim */
#define STAB_KEY_MAX 64

/* Higher = better victim; negative = must not be evicted. */
typedef int (*stab_rank_fn)(const void *key, const void *val, void *ctx);
/* An entry leaves to make room; mark is its caller bit (stab_insert). */
typedef void (*stab_evict_fn)(const void *key, void *val, unsigned int mark, void *ctx);

struct stab_conf {
	size_t entries;	  /* the most keys it holds */
	unsigned int ways;     /* slots a bucket: 8, 16, 32 or 64; 0: 8 */
	unsigned int load_pct; /* entries per 100 slots; 0: 100 */
	int rank_enough;       /* see above; 0: any victim among the first slots ranked */
	size_t key_size;  /* at most STAB_KEY_MAX */
	size_t head_size; /* keys zero past it take one slot; 0: key_size (always one) */
	size_t val_size;
	size_t val_align; /* of the value type; 0: 8 */
	uint64_t seed;
	/*
	 * NULL: the table maps its own memory. Else stab_map_bytes(conf) bytes,
	 * page-aligned, the caller's (e.g. a shared file that outlives the
	 * process): cleared, or with adopt set taken as a table of this same conf
	 * left there (its keys kept and counted).
	 */
	void *mem;
	int adopt;
	/*
	 * Bits of a Bloom filter in front of the table per entry (0: none; 16
	 * gives about 0.2% false "maybe"s when full): stab_absent_h answers "not
	 * here" for most missing keys from one cache line, where a miss in the
	 * table reads both of its rows (four lines at 64 slots). Process memory,
	 * rebuilt from the table when adopted.
	 */
	unsigned int filter_bits;
};

struct stab {
	/*
	 * A row of 16-bit tags per bucket, one per slot: 0 free, else 15 bits of
	 * the key's hash (never 0) and the caller's mark bit; a key's second slot
	 * has a tag of its own (mark bit alone). A lookup reads a row and touches
	 * only the slots whose tag matches.
	 */
	uint16_t *tags;
	unsigned char *mem; /* the slots, bucket after bucket */
	size_t key_size;
	size_t head_size;
	size_t val_size;
	size_t val_off;
	size_t slot_size;
	uint32_t nbuckets;
	unsigned int ways;
	int rank_enough;
	uint64_t seed;
	size_t limit; /* the most keys (conf.entries) */
	size_t count; /* keys held */
	size_t peak;
	uint64_t evictions;
	void *map;
	size_t map_len;
	int borrowed; /* map is the caller's (conf.mem) */
	stab_rank_fn rank;
	stab_evict_fn on_evict;
	void *ctx;
	/*
	 * The filter: 64-byte blocks, a key's 4 bits in the block its hash picks.
	 * Removals leave their bits; once as many keys were added as the table
	 * holds twice over, it is rebuilt from the keys present (amortized: a
	 * scan of the table every 2 x entries inserts).
	 */
	uint64_t *filter;
	uint32_t filter_blocks;
	size_t filter_adds; /* keys added since the last rebuild */
	uint32_t adds;      /* keys added ever (mod 2^32): an "absent" answer holds while it stays */
	uint32_t removes;   /* keys removed or evicted ever (mod 2^32) */
};

/* 0, -EINVAL (key too long for its slots) or -ENOMEM. */
int stab_init(struct stab *t, const struct stab_conf *conf);
/* The memory a table of conf maps (its tags and slots, whole pages); 0: conf is invalid. */
size_t stab_map_bytes(const struct stab_conf *conf);
void stab_free(struct stab *t);
/* Slots (a key takes one or two). */
size_t stab_capacity(const struct stab *t);
/* Memory of the slots and their tags. */
size_t stab_bytes(const struct stab *t);
/* The key's value or NULL; *mark (if not NULL) gets its caller bit. */
void *stab_find(struct stab *t, const void *key, unsigned int *mark);
/*
 * The key's value: a zeroed one carrying `mark` (0 or 1) when the key is new
 * (*created = 1), the existing one otherwise (its mark unchanged); NULL when
 * no slot can be had.
 */
void *stab_insert(struct stab *t, const void *key, unsigned int mark, int *created);
/* 0, or -ENOENT. */
int stab_remove(struct stab *t, const void *key);
/* Start loading the key's buckets (the tag rows) ahead of a find or insert. */
void stab_prefetch(const struct stab *t, const void *key);
/*
 * The same calls with the key's hash made once (stab_hash) and given to each:
 * a packet's key hashed once for its prefetch, lookup, removal and insert.
 */
uint64_t stab_hash(const struct stab *t, const void *key);
void *stab_find_h(struct stab *t, const void *key, uint64_t h, unsigned int *mark);
void *stab_insert_h(struct stab *t, const void *key, uint64_t h, unsigned int mark, int *created);
int stab_remove_h(struct stab *t, const void *key, uint64_t h);
static inline uint64_t stab_load8(const void *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

/* Whether the key's bytes past its head are not all zero: it takes two slots. */
MOAT_INLINE int stab_key_is_wide(const unsigned char *k, size_t key_size, size_t head_size)
{
	uint64_t any = 0;
	size_t i;

	if (key_size - head_size < 8) {
		for (i = head_size; i < key_size; i++)
			any |= k[i];
		return any != 0;
	}
	for (i = head_size; i + 8 < key_size; i += 8)
		any |= stab_load8(k + i);
	return (any | stab_load8(k + key_size - 8)) != 0;
}

/*
 * Seeded multiply-xor over the key's words and one strong final mix: a secret
 * seed keeps an attacker from aiming keys at a bucket, and it costs one
 * multiply per word (this runs for every packet).
 */
MOAT_INLINE uint64_t stab_key_hash(uint64_t seed, const unsigned char *k, size_t len)
{
	uint64_t h = seed ^ len;
	size_t i;

	if (len < 8) {
		uint64_t w = 0;

		memcpy(&w, k, len);
		return moat_mix64((h ^ w) * 0x9E3779B97F4A7C15ULL);
	}
	for (i = 0; i + 8 < len; i += 8) {
		h = (h ^ stab_load8(k + i)) * 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	h = (h ^ stab_load8(k + len - 8)) * 0x9E3779B97F4A7C15ULL;
	return moat_mix64(h);
}

/*
 * stab_hash of a table whose key_size and head_size are these: inline, so a
 * caller that passes constants (the flow key's, moat_be_flow_hash) gets the
 * loops unrolled where stab_hash walks them by the table's fields. The key's
 * hash, its lowest bit replaced by whether it takes two slots.
 */
MOAT_INLINE uint64_t stab_hash_sized(const struct stab *t, const void *key, size_t key_size,
				     size_t head_size)
{
	uint64_t wide = (uint64_t)stab_key_is_wide(key, key_size, head_size);

	return (stab_key_hash(t->seed, key, wide ? key_size : head_size) & ~1ULL) | wide;
}

enum {
	STAB_FILTER_WORDS = 8, /* a 64-byte block */
	STAB_FILTER_K = 4,     /* bits a key sets in its block */
};

/* x scaled into [0, n): multiply-shift, so n need not be a power of two. */
static inline uint32_t stab_fastrange(uint32_t x, uint32_t n)
{
	return (uint32_t)(((uint64_t)x * n) >> 32);
}

/* Start loading bucket b's tags (a 64-slot row is two lines). */
static inline void stab_row_prefetch(const struct stab *t, uint32_t b)
{
	const uint16_t *row = t->tags + (size_t)b * t->ways;

	__builtin_prefetch(row);
	if (t->ways > 32)
		__builtin_prefetch(row + 32);
}

/* Inline: moat-dp's burst loop starts every tracked frame's two rows loading. */
static inline void stab_prefetch_h(const struct stab *t, uint64_t h)
{
	stab_row_prefetch(t, stab_fastrange((uint32_t)h, t->nbuckets));
	stab_row_prefetch(t, stab_fastrange((uint32_t)(h >> 32), t->nbuckets));
}

/*
 * The filter's block and STAB_FILTER_K bit positions (9 bits each, in *g) from
 * a product of the hash with another odd constant than the fingerprint's.
 * Inline here: a flood's every SYN asks, in moat-dp's burst loop.
 */
static inline uint64_t *stab_filter_block(const struct stab *t, uint64_t h, uint64_t *g)
{
	*g = h * 0x9E3779B97F4A7C15ULL;
	return t->filter +
	       (size_t)stab_fastrange((uint32_t)(*g >> 32), t->filter_blocks) * STAB_FILTER_WORDS;
}

/*
 * The filter (conf.filter_bits): start loading the key's block; then 1 when
 * the key is surely not in the table, 0 when it may be (or there is no
 * filter). The answer holds until the next insert (stab_adds changes).
 */
static inline void stab_filter_prefetch_h(const struct stab *t, uint64_t h)
{
	uint64_t g;

	if (t->filter)
		__builtin_prefetch(stab_filter_block(t, h, &g));
}

static inline int stab_absent_h(const struct stab *t, uint64_t h)
{
	uint64_t g, *blk;
	unsigned int i;

	if (!t->filter)
		return 0;
	blk = stab_filter_block(t, h, &g);
	for (i = 0; i < STAB_FILTER_K; i++, g >>= 9)
		if (!(blk[(g >> 6) & 7] & (1ULL << (g & 63))))
			return 1;
	return 0;
}

static inline uint32_t stab_adds(const struct stab *t)
{
	return t->adds;
}

/* With stab_adds: a find's answer holds while neither changes (entries never move). */
static inline uint32_t stab_removes(const struct stab *t)
{
	return t->removes;
}
/*
 * Visit every entry (its whole key and its mark: enough to list flows with
 * their endpoints, originator first); a non-zero return from fn removes it.
 */
typedef int (*stab_visit_fn)(const void *key, void *val, unsigned int mark, void *ctx);
void stab_sweep(struct stab *t, stab_visit_fn fn, void *ctx);

#endif
