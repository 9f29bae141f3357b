// SPDX-License-Identifier: BSD-3-Clause
#include "control/stab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/flowkey.h"

/* Slot layout: [used byte, padded to 8][key, padded to 8][value]. */
#define SLOT_HDR 8

static uint64_t key_hash(const struct stab *t, const void *key)
{
	const unsigned char *k = key;
	uint64_t h = t->seed ^ t->key_size;
	size_t i;

	for (i = 0; i + 8 <= t->key_size; i += 8) {
		uint64_t w;

		memcpy(&w, k + i, 8);
		h = moat_mix64(h ^ w);
	}
	for (; i < t->key_size; i++)
		h = moat_mix64(h ^ k[i]);
	return h;
}

static unsigned char *slot_at(const struct stab *t, uint32_t bucket, unsigned int way)
{
	return t->mem + ((size_t)bucket * STAB_WAYS + way) * t->slot_size;
}

int stab_init(struct stab *t, size_t capacity, size_t key_size, size_t val_size, uint64_t seed)
{
	uint32_t nb = 1;

	memset(t, 0, sizeof(*t));
	while ((size_t)nb * STAB_WAYS < capacity && nb < (1u << 28))
		nb <<= 1;
	t->key_size = key_size;
	t->val_size = val_size;
	t->val_off = (SLOT_HDR + key_size + 7) & ~(size_t)7;
	t->slot_size = (t->val_off + val_size + 7) & ~(size_t)7;
	t->nbuckets = nb;
	t->seed = seed;
	t->mem = calloc((size_t)nb * STAB_WAYS, t->slot_size);
	return t->mem ? 0 : -ENOMEM;
}

void stab_free(struct stab *t)
{
	free(t->mem);
	t->mem = NULL;
}

size_t stab_capacity(const struct stab *t)
{
	return (size_t)t->nbuckets * STAB_WAYS;
}

size_t stab_bytes(const struct stab *t)
{
	return stab_capacity(t) * t->slot_size;
}

/*
 * Two candidate buckets per key (from the two halves of its hash): a new key
 * goes where there is room, so the table fills far past the point where one
 * full bucket of live entries would refuse it.
 */
static void key_buckets(const struct stab *t, const void *key, uint32_t b[2])
{
	uint64_t h = key_hash(t, key);

	b[0] = (uint32_t)h & (t->nbuckets - 1);
	b[1] = (uint32_t)(h >> 32) & (t->nbuckets - 1);
}

/* The key's slot in bucket b, or NULL; counts the free slots and remembers the first. */
static unsigned char *find_in(struct stab *t, uint32_t b, const void *key, unsigned char **free_slot,
			      unsigned int *n_free)
{
	unsigned int w;

	for (w = 0; w < STAB_WAYS; w++) {
		unsigned char *s = slot_at(t, b, w);

		if (!s[0]) {
			if (!*free_slot)
				*free_slot = s;
			(*n_free)++;
			continue;
		}
		if (!memcmp(s + SLOT_HDR, key, t->key_size))
			return s;
	}
	return NULL;
}

void *stab_find(struct stab *t, const void *key)
{
	unsigned char *s, *unused = NULL;
	unsigned int n = 0;
	uint32_t b[2];

	key_buckets(t, key, b);
	s = find_in(t, b[0], key, &unused, &n);
	if (!s && b[1] != b[0])
		s = find_in(t, b[1], key, &unused, &n);
	return s ? s + t->val_off : NULL;
}

static unsigned char *pick_victim(struct stab *t, const uint32_t b[2])
{
	unsigned char *best = NULL;
	int best_rank = -1, i;
	unsigned int w;

	if (!t->rank)
		return NULL;
	for (i = 0; i < 2; i++)
		for (w = 0; w < STAB_WAYS; w++) {
			unsigned char *s = slot_at(t, b[i], w);
			int r = t->rank(s + SLOT_HDR, s + t->val_off, t->ctx);

			if (r > best_rank) {
				best_rank = r;
				best = s;
			}
		}
	if (best && t->on_evict)
		t->on_evict(best + SLOT_HDR, best + t->val_off, t->ctx);
	if (best) {
		t->evictions++;
		t->count--;
	}
	return best;
}

void *stab_insert(struct stab *t, const void *key, int *created)
{
	unsigned char *free0 = NULL, *free1 = NULL, *free_slot, *s;
	unsigned int n0 = 0, n1 = 0;
	uint32_t b[2];

	*created = 0;
	key_buckets(t, key, b);
	s = find_in(t, b[0], key, &free0, &n0);
	if (!s && b[1] != b[0])
		s = find_in(t, b[1], key, &free1, &n1);
	if (s)
		return s + t->val_off;
	/* The emptier of the two buckets: keeps them balanced as the table fills. */
	free_slot = n1 > n0 ? free1 : free0;
	if (!free_slot)
		free_slot = pick_victim(t, b);
	if (!free_slot)
		return NULL;
	memset(free_slot, 0, t->slot_size);
	free_slot[0] = 1;
	memcpy(free_slot + SLOT_HDR, key, t->key_size);
	t->count++;
	if (t->count > t->peak)
		t->peak = t->count;
	*created = 1;
	return free_slot + t->val_off;
}

void stab_sweep(struct stab *t, int (*fn)(const void *key, void *val, void *ctx), void *ctx)
{
	size_t i, n = stab_capacity(t);

	for (i = 0; i < n; i++) {
		unsigned char *s = t->mem + i * t->slot_size;

		if (s[0] && fn(s + SLOT_HDR, s + t->val_off, ctx)) {
			s[0] = 0;
			t->count--;
		}
	}
}
