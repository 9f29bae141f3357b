// SPDX-License-Identifier: BSD-3-Clause
#include "control/stab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/flowkey.h"

/* Slot layout: [key, padded to 8][value]; a slot is live when its tag is not 0. */

/*
 * Seeded multiply-xor over the key's words and one strong final mix: a secret
 * seed keeps an attacker from aiming keys at a bucket, and it costs one
 * multiply per word (this runs for every packet).
 */
static uint64_t key_hash(const struct stab *t, const void *key)
{
	const unsigned char *k = key;
	uint64_t h = t->seed ^ t->key_size;
	size_t i;

	for (i = 0; i + 8 <= t->key_size; i += 8) {
		uint64_t w;

		memcpy(&w, k + i, 8);
		h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	for (; i < t->key_size; i++)
		h = (h ^ k[i]) * 0x9E3779B97F4A7C15ULL;
	return moat_mix64(h);
}

static unsigned char *slot_at(const struct stab *t, uint32_t bucket, unsigned int way)
{
	return t->mem + ((size_t)bucket * STAB_WAYS + way) * t->slot_size;
}

static uint16_t *tags_of(const struct stab *t, uint32_t bucket)
{
	return t->tags + (size_t)bucket * STAB_WAYS;
}

/*
 * Two candidate buckets per key (from the two halves of its hash) and a tag from
 * its middle bits: a new key goes to the emptier bucket, so the table fills far
 * past the point where one full bucket of live entries would refuse it.
 */
static uint16_t key_buckets(const struct stab *t, const void *key, uint32_t b[2])
{
	uint64_t h = key_hash(t, key);

	b[0] = (uint32_t)h & (t->nbuckets - 1);
	b[1] = (uint32_t)(h >> 32) & (t->nbuckets - 1);
	return (uint16_t)((h >> 16) | 1); /* never 0: 0 marks a free slot */
}

int stab_init(struct stab *t, size_t capacity, size_t key_size, size_t val_size, uint64_t seed)
{
	uint32_t nb = 1;

	memset(t, 0, sizeof(*t));
	while ((size_t)nb * STAB_WAYS < capacity && nb < (1u << 28))
		nb <<= 1;
	t->key_size = key_size;
	t->val_size = val_size;
	t->val_off = (key_size + 7) & ~(size_t)7;
	t->slot_size = (t->val_off + val_size + 7) & ~(size_t)7;
	t->nbuckets = nb;
	t->seed = seed;
	t->mem = calloc((size_t)nb * STAB_WAYS, t->slot_size);
	t->tags = calloc((size_t)nb * STAB_WAYS, sizeof(*t->tags));
	if (!t->mem || !t->tags) {
		stab_free(t);
		return -ENOMEM;
	}
	return 0;
}

void stab_free(struct stab *t)
{
	free(t->mem);
	free(t->tags);
	t->mem = NULL;
	t->tags = NULL;
}

size_t stab_capacity(const struct stab *t)
{
	return (size_t)t->nbuckets * STAB_WAYS;
}

size_t stab_bytes(const struct stab *t)
{
	return stab_capacity(t) * (t->slot_size + sizeof(*t->tags));
}

void stab_prefetch(const struct stab *t, const void *key)
{
	uint32_t b[2];

	key_buckets(t, key, b);
	__builtin_prefetch(tags_of(t, b[0]));
	__builtin_prefetch(tags_of(t, b[1]));
}

/* The way of the key in bucket b, or -1; counts the free ways and remembers the first. */
static int find_in(struct stab *t, uint32_t b, uint16_t tag, const void *key, int *free_way,
		   unsigned int *n_free)
{
	const uint16_t *tags = tags_of(t, b);
	unsigned int w;

	for (w = 0; w < STAB_WAYS; w++) {
		if (!tags[w]) {
			if (*free_way < 0)
				*free_way = (int)w;
			(*n_free)++;
			continue;
		}
		if (tags[w] == tag && !memcmp(slot_at(t, b, w), key, t->key_size))
			return (int)w;
	}
	return -1;
}

void *stab_find(struct stab *t, const void *key)
{
	unsigned int n = 0;
	int w, unused = -1;
	uint32_t b[2];
	uint16_t tag = key_buckets(t, key, b);

	w = find_in(t, b[0], tag, key, &unused, &n);
	if (w >= 0)
		return slot_at(t, b[0], (unsigned int)w) + t->val_off;
	if (b[1] == b[0])
		return NULL;
	w = find_in(t, b[1], tag, key, &unused, &n);
	return w >= 0 ? slot_at(t, b[1], (unsigned int)w) + t->val_off : NULL;
}

/* The slot the caller's rank function gives up among both buckets, or -1. */
static int pick_victim(struct stab *t, const uint32_t b[2], uint32_t *bucket)
{
	int best_rank = -1, best = -1, i;
	unsigned int w;

	if (!t->rank)
		return -1;
	for (i = 0; i < 2; i++)
		for (w = 0; w < STAB_WAYS; w++) {
			unsigned char *s = slot_at(t, b[i], w);
			int r = t->rank(s, s + t->val_off, t->ctx);

			if (r > best_rank) {
				best_rank = r;
				best = (int)w;
				*bucket = b[i];
			}
		}
	if (best < 0)
		return -1;
	if (t->on_evict) {
		unsigned char *s = slot_at(t, *bucket, (unsigned int)best);

		t->on_evict(s, s + t->val_off, t->ctx);
	}
	t->evictions++;
	t->count--;
	return best;
}

void *stab_insert(struct stab *t, const void *key, int *created)
{
	int w, free0 = -1, free1 = -1, way;
	unsigned int n0 = 0, n1 = 0;
	uint32_t b[2], bucket;
	uint16_t tag = key_buckets(t, key, b);
	unsigned char *s;

	*created = 0;
	w = find_in(t, b[0], tag, key, &free0, &n0);
	if (w >= 0)
		return slot_at(t, b[0], (unsigned int)w) + t->val_off;
	if (b[1] != b[0]) {
		w = find_in(t, b[1], tag, key, &free1, &n1);
		if (w >= 0)
			return slot_at(t, b[1], (unsigned int)w) + t->val_off;
	}
	/* The emptier of the two buckets: keeps them balanced as the table fills. */
	if (n1 > n0) {
		bucket = b[1];
		way = free1;
	} else {
		bucket = b[0];
		way = free0;
	}
	if (way < 0)
		way = pick_victim(t, b, &bucket);
	if (way < 0)
		return NULL;
	s = slot_at(t, bucket, (unsigned int)way);
	memset(s, 0, t->slot_size);
	memcpy(s, key, t->key_size);
	tags_of(t, bucket)[way] = tag;
	t->count++;
	if (t->count > t->peak)
		t->peak = t->count;
	*created = 1;
	return s + t->val_off;
}

void stab_sweep(struct stab *t, int (*fn)(const void *key, void *val, void *ctx), void *ctx)
{
	size_t i, n = stab_capacity(t);

	for (i = 0; i < n; i++) {
		unsigned char *s = t->mem + i * t->slot_size;

		if (t->tags[i] && fn(s, s + t->val_off, ctx)) {
			t->tags[i] = 0;
			t->count--;
		}
	}
}
