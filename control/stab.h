/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A bounded set-associative table: each key may live in one of two buckets of
 * 8 slots (two-choice hashing), no chains, no resize, so its memory is fixed at
 * creation whatever the traffic. When both buckets are full the caller's rank
 * function picks a victim among their 16 slots (the one it ranks highest) or
 * refuses (all ranks negative): e.g. expired or embryonic flows can go,
 * established ones cannot.
 */
#ifndef MOAT_CONTROL_STAB_H
#define MOAT_CONTROL_STAB_H

#include <stddef.h>
#include <stdint.h>

#define STAB_WAYS 8

/* Higher = better victim; negative = must not be evicted. */
typedef int (*stab_rank_fn)(const void *key, const void *val, void *ctx);
typedef void (*stab_evict_fn)(const void *key, void *val, void *ctx);

struct stab {
	/*
	 * 16-bit tags, 8 per bucket (16 bytes: four buckets to a cache line), 0 for
	 * a free slot: a lookup reads a bucket's tags and touches only the slots
	 * whose tag matches, instead of every slot's key.
	 */
	uint16_t *tags;
	unsigned char *mem;
	size_t key_size;
	size_t val_size;
	size_t slot_size;
	size_t val_off; /* values start 8-byte aligned */
	uint32_t nbuckets; /* power of two */
	uint64_t seed;
	size_t count;
	size_t peak;
	uint64_t evictions;
	stab_rank_fn rank;
	stab_evict_fn on_evict;
	void *ctx;
};

/* capacity is rounded up to a multiple of STAB_WAYS * 2^k. 0 or -ENOMEM. */
int stab_init(struct stab *t, size_t capacity, size_t key_size, size_t val_size, uint64_t seed);
void stab_free(struct stab *t);
size_t stab_capacity(const struct stab *t);
size_t stab_bytes(const struct stab *t);
void *stab_find(struct stab *t, const void *key);
/* Zeroed value for a new key (or the existing one); NULL when the bucket is full. */
void *stab_insert(struct stab *t, const void *key, int *created);
/* Start loading the key's buckets (the tag rows) ahead of a find or insert. */
void stab_prefetch(const struct stab *t, const void *key);
/* Visit every live entry; a non-zero return from fn removes that entry. */
void stab_sweep(struct stab *t, int (*fn)(const void *key, void *val, void *ctx), void *ctx);

#endif
