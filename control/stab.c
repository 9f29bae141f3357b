// SPDX-License-Identifier: BSD-3-Clause
#include "control/stab.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/flowkey.h"

/*
 * Slot layout: [key head][value at val_off]; a key's second slot holds the rest
 * of the key from its first byte. Two-slot keys start at an even slot, so a
 * tail is always the odd slot right after its head.
 */

#define TAG_FP 0x7FFFu
#define TAG_MARK 0x8000u
#define TAG_TAIL TAG_MARK /* mark set, fingerprint 0: no head has that */
#define PAIRS 0x55555555u /* the even slots of a row */
#define HUGE_PAGE (2u << 20)

/* Where a key may go: its two buckets, its fingerprint, and its size in slots. */
struct probe {
	uint32_t b[2];
	uint16_t fp;
	uint8_t wide;
};

static size_t round_up(size_t x, size_t to)
{
	return (x + to - 1) / to * to;
}

static uint64_t load8(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

/*
 * Keys are read in 8-byte words, the last one ending at the end of the range
 * (it may overlap the one before): no byte-wise loops on the per-packet path.
 * Ranges shorter than a word are rare (tiny keys) and go byte by byte.
 */
static uint64_t diff_bytes(const unsigned char *x, const unsigned char *y, size_t len)
{
	uint64_t d = 0;
	size_t i;

	if (len < 8) {
		for (i = 0; i < len; i++)
			d |= (uint64_t)(x[i] ^ y[i]);
		return d;
	}
	for (i = 0; i + 8 < len; i += 8)
		d |= load8(x + i) ^ load8(y + i);
	return d | (load8(x + len - 8) ^ load8(y + len - 8));
}

static int bytes_eq(const void *x, const void *y, size_t len)
{
	return !diff_bytes(x, y, len);
}

static int key_is_wide(const struct stab *t, const void *key)
{
	static const unsigned char zero[STAB_KEY_MAX];

	return !bytes_eq((const unsigned char *)key + t->head_size, zero,
			 t->key_size - t->head_size);
}

/*
 * Seeded multiply-xor over the key's words and one strong final mix: a secret
 * seed keeps an attacker from aiming keys at a bucket, and it costs one
 * multiply per word (this runs for every packet).
 */
static uint64_t key_hash(const struct stab *t, const void *key, size_t len)
{
	const unsigned char *k = key;
	uint64_t h = t->seed ^ len;
	size_t i;

	if (len < 8) {
		uint64_t w = 0;

		memcpy(&w, k, len);
		return moat_mix64((h ^ w) * 0x9E3779B97F4A7C15ULL);
	}
	for (i = 0; i + 8 < len; i += 8) {
		h = (h ^ load8(k + i)) * 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	h = (h ^ load8(k + len - 8)) * 0x9E3779B97F4A7C15ULL;
	return moat_mix64(h);
}

/* x scaled into [0, n): multiply-shift, so n need not be a power of two. */
static uint32_t fastrange(uint32_t x, uint32_t n)
{
	return (uint32_t)(((uint64_t)x * n) >> 32);
}

/*
 * The two buckets come from the two halves of the hash, the fingerprint from
 * the top of its product with an odd constant (all of its bits, so it does not
 * repeat the bits that chose the bucket).
 */
static void probe_make(const struct stab *t, const void *key, struct probe *p)
{
	uint64_t h;

	p->wide = (uint8_t)key_is_wide(t, key);
	h = key_hash(t, key, p->wide ? t->key_size : t->head_size);
	p->b[0] = fastrange((uint32_t)h, t->nbuckets);
	p->b[1] = fastrange((uint32_t)(h >> 32), t->nbuckets);
	p->fp = (uint16_t)((h * 0xD6E8FEB86659FD93ULL) >> 49);
	if (!p->fp)
		p->fp = 1;
}

static uint16_t *row_of(const struct stab *t, uint32_t b)
{
	return t->tags + (size_t)b * STAB_WAYS;
}

static unsigned char *slot_of(const struct stab *t, uint32_t b, unsigned int w)
{
	return t->mem + ((size_t)b * STAB_WAYS + w) * t->slot_size;
}

/* Bit w set where (row[w] & mask) == val. */
static uint32_t row_match(const uint16_t *row, uint16_t mask, uint16_t val)
{
#ifdef __SSE2__
	const __m128i *r = (const __m128i *)row;
	__m128i m = _mm_set1_epi16((short)mask), v = _mm_set1_epi16((short)val);
	uint32_t bits = 0;
	int i;

	for (i = 0; i < 2; i++) {
		__m128i x = _mm_cmpeq_epi16(_mm_and_si128(_mm_load_si128(r + 2 * i), m), v);
		__m128i y = _mm_cmpeq_epi16(_mm_and_si128(_mm_load_si128(r + 2 * i + 1), m), v);

		bits |= (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(x, y)) << (16 * i);
	}
	return bits;
#else
	uint32_t bits = 0;
	unsigned int w;

	for (w = 0; w < STAB_WAYS; w++)
		bits |= (uint32_t)((row[w] & mask) == val) << w;
	return bits;
#endif
}

static uint32_t row_free(const uint16_t *row)
{
	return row_match(row, 0xFFFF, 0);
}

static int head_is_wide(const uint16_t *row, unsigned int w)
{
	return w + 1 < STAB_WAYS && row[w + 1] == TAG_TAIL;
}

static int slot_eq(const struct stab *t, uint32_t b, unsigned int w, const void *key, int wide)
{
	if (!bytes_eq(slot_of(t, b, w), key, t->head_size))
		return 0;
	if (head_is_wide(row_of(t, b), w) != wide)
		return 0;
	return !wide || bytes_eq(slot_of(t, b, w + 1), (const unsigned char *)key + t->head_size,
				 t->key_size - t->head_size);
}

/* The way of the key in bucket b, or -1. */
static int find_in(const struct stab *t, uint32_t b, const struct probe *p, const void *key)
{
	uint32_t m = row_match(row_of(t, b), TAG_FP, p->fp);

	while (m) {
		unsigned int w = (unsigned int)__builtin_ctz(m);

		if (slot_eq(t, b, w, key, p->wide))
			return (int)w;
		m &= m - 1;
	}
	return -1;
}

/* The key's way and bucket, or -1. */
static int locate(const struct stab *t, const struct probe *p, const void *key, uint32_t *bucket)
{
	int w = find_in(t, p->b[0], p, key);

	*bucket = p->b[0];
	if (w >= 0 || p->b[1] == p->b[0])
		return w;
	*bucket = p->b[1];
	return find_in(t, p->b[1], p, key);
}

/* The whole key of the entry at (b, w): its head, then its tail or zeros. */
static void key_at(const struct stab *t, uint32_t b, unsigned int w, unsigned char *key)
{
	memcpy(key, slot_of(t, b, w), t->head_size);
	if (head_is_wide(row_of(t, b), w))
		memcpy(key + t->head_size, slot_of(t, b, w + 1), t->key_size - t->head_size);
	else
		memset(key + t->head_size, 0, t->key_size - t->head_size);
}

static void remove_at(struct stab *t, uint32_t b, unsigned int w)
{
	uint16_t *row = row_of(t, b);

	if (head_is_wide(row, w))
		row[w + 1] = 0;
	row[w] = 0;
	t->count--;
}

static void *table_map(size_t len)
{
	size_t pad = len >= HUGE_PAGE ? HUGE_PAGE : 0;
	unsigned char *p, *a;

	p = mmap(NULL, len + pad, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (!pad)
		return p;
	/* Large tables on 2 MiB pages where the kernel allows: a lookup's TLB miss is most of it. */
	a = (unsigned char *)round_up((uintptr_t)p, HUGE_PAGE);
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + len + pad)
		munmap(a + len, (size_t)(p + len + pad - (a + len)));
#ifdef MADV_HUGEPAGE
	madvise(a, len, MADV_HUGEPAGE);
#endif
	return a;
}

int stab_init(struct stab *t, const struct stab_conf *conf)
{
	size_t align = conf->val_align ? conf->val_align : 8, slots, tag_bytes;

	memset(t, 0, sizeof(*t));
	t->key_size = conf->key_size;
	t->head_size = conf->head_size ? conf->head_size : conf->key_size;
	t->val_size = conf->val_size;
	t->val_off = round_up(t->head_size, align);
	t->slot_size = round_up(t->val_off + t->val_size, align);
	if (t->key_size > STAB_KEY_MAX || t->head_size > t->key_size ||
	    t->key_size - t->head_size > t->slot_size)
		return -EINVAL;
	t->limit = conf->entries ? conf->entries : 1;
	slots = (t->limit * 100 + STAB_LOAD_PCT - 1) / STAB_LOAD_PCT;
	if (slots / STAB_WAYS >= UINT32_MAX)
		return -ENOMEM;
	t->nbuckets = (uint32_t)((slots + STAB_WAYS - 1) / STAB_WAYS);
	t->seed = conf->seed;
	tag_bytes = (size_t)t->nbuckets * STAB_WAYS * sizeof(*t->tags);
	t->map_len = round_up(tag_bytes + stab_capacity(t) * t->slot_size, 4096);
	t->map = table_map(t->map_len);
	if (!t->map)
		return -ENOMEM;
	t->tags = t->map; /* rows of 64 bytes from a page boundary: cache-line aligned */
	t->mem = (unsigned char *)t->map + tag_bytes;
	return 0;
}

void stab_free(struct stab *t)
{
	if (t->map)
		munmap(t->map, t->map_len);
	t->map = NULL;
	t->tags = NULL;
	t->mem = NULL;
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
	struct probe p;

	probe_make(t, key, &p);
	__builtin_prefetch(row_of(t, p.b[0]));
	__builtin_prefetch(row_of(t, p.b[1]));
}

void *stab_find(struct stab *t, const void *key, unsigned int *mark)
{
	struct probe p;
	uint32_t b;
	int w;

	probe_make(t, key, &p);
	__builtin_prefetch(row_of(t, p.b[1])); /* both rows load at once */
	w = locate(t, &p, key, &b);
	if (w < 0)
		return NULL;
	if (mark)
		*mark = !!(row_of(t, b)[w] & TAG_MARK);
	return slot_of(t, b, (unsigned int)w) + t->val_off;
}

int stab_remove(struct stab *t, const void *key)
{
	struct probe p;
	uint32_t b;
	int w;

	probe_make(t, key, &p);
	w = locate(t, &p, key, &b);
	if (w < 0)
		return -ENOENT;
	remove_at(t, b, (unsigned int)w);
	return 0;
}

/* Where a key of this size fits: a free slot (pair) in the emptier bucket, or -1. */
static int free_way(const struct stab *t, const struct probe *p, uint32_t *bucket)
{
	int best = -1, best_free = -1, i;

	for (i = 0; i < 2 && (i == 0 || p->b[1] != p->b[0]); i++) {
		uint32_t f = row_free(row_of(t, p->b[i]));
		uint32_t fit = p->wide ? f & (f >> 1) & PAIRS : f;

		if (fit && __builtin_popcount(f) > best_free) {
			best_free = __builtin_popcount(f);
			best = __builtin_ctz(fit);
			*bucket = p->b[i];
		}
	}
	return best;
}

static void evict_at(struct stab *t, uint32_t b, unsigned int w)
{
	if (t->on_evict) {
		unsigned char key[STAB_KEY_MAX];

		key_at(t, b, w, key);
		t->on_evict(key, slot_of(t, b, w) + t->val_off, !!(row_of(t, b)[w] & TAG_MARK),
			    t->ctx);
	}
	remove_at(t, b, w);
	t->evictions++;
}

static int rank_at(const struct stab *t, uint32_t b, unsigned int w)
{
	unsigned char key[STAB_KEY_MAX];

	key_at(t, b, w, key);
	return t->rank(key, slot_of(t, b, w) + t->val_off, t->ctx);
}

/*
 * Rank of what occupies the even slot w and the next one (a pair a two-slot key
 * could take): the lower of its entries'; INT_MAX for a free pair.
 */
static int pair_rank(const struct stab *t, uint32_t b, unsigned int w)
{
	const uint16_t *row = row_of(t, b);
	int r = __INT_MAX__, r2;

	if (row[w])
		r = rank_at(t, b, w);
	if (row[w + 1] && row[w + 1] != TAG_TAIL) {
		r2 = rank_at(t, b, w + 1);
		r = r2 < r ? r2 : r;
	}
	return r;
}

/*
 * Evict the entry the rank function gives up first among both buckets (with
 * `pair`: the pair of slots whose entries it gives up first). 0, or -1 when it
 * gives up none.
 */
static int evict_best(struct stab *t, const struct probe *p, int pair)
{
	int best_rank = -1, best = -1, i;
	unsigned int w, step = pair ? 2 : 1;
	uint32_t best_b = 0;

	if (!t->rank)
		return -1;
	for (i = 0; i < 2 && (i == 0 || p->b[1] != p->b[0]); i++) {
		const uint16_t *row = row_of(t, p->b[i]);

		for (w = 0; w < STAB_WAYS; w += step) {
			int r;

			if (pair)
				r = pair_rank(t, p->b[i], w);
			else if (row[w] && row[w] != TAG_TAIL)
				r = rank_at(t, p->b[i], w);
			else
				continue;
			if (r > best_rank && r != __INT_MAX__) {
				best_rank = r;
				best = (int)w;
				best_b = p->b[i];
			}
		}
	}
	if (best < 0)
		return -1;
	w = (unsigned int)best;
	if (row_of(t, best_b)[w])
		evict_at(t, best_b, w);
	if (pair && row_of(t, best_b)[w + 1])
		evict_at(t, best_b, w + 1);
	return 0;
}

static void *place(struct stab *t, const struct probe *p, const void *key, unsigned int mark,
		   uint32_t b, unsigned int w)
{
	uint16_t *row = row_of(t, b);
	unsigned char *s = slot_of(t, b, w);

	memset(s, 0, t->slot_size);
	memcpy(s, key, t->head_size);
	if (p->wide) {
		memcpy(slot_of(t, b, w + 1), (const unsigned char *)key + t->head_size,
		       t->key_size - t->head_size);
		row[w + 1] = TAG_TAIL;
	}
	row[w] = (uint16_t)(p->fp | (mark ? TAG_MARK : 0));
	t->count++;
	if (t->count > t->peak)
		t->peak = t->count;
	return s + t->val_off;
}

void *stab_insert(struct stab *t, const void *key, unsigned int mark, int *created)
{
	struct probe p;
	uint32_t b;
	int w;

	*created = 0;
	probe_make(t, key, &p);
	__builtin_prefetch(row_of(t, p.b[1]));
	w = locate(t, &p, key, &b);
	if (w >= 0)
		return slot_of(t, b, (unsigned int)w) + t->val_off;
	/* At its size the table gives up an entry for each new one. */
	if (t->count >= t->limit && evict_best(t, &p, 0))
		return NULL;
	w = free_way(t, &p, &b);
	if (w < 0) {
		if (evict_best(t, &p, p.wide))
			return NULL;
		w = free_way(t, &p, &b);
		if (w < 0)
			return NULL;
	}
	*created = 1;
	return place(t, &p, key, mark, b, (unsigned int)w);
}

void stab_sweep(struct stab *t, int (*fn)(const void *key, void *val, void *ctx), void *ctx)
{
	unsigned char key[STAB_KEY_MAX];
	uint32_t b;
	unsigned int w;

	for (b = 0; b < t->nbuckets; b++) {
		const uint16_t *row = row_of(t, b);

		for (w = 0; w < STAB_WAYS; w++) {
			if (!(row[w] & TAG_FP))
				continue;
			key_at(t, b, w, key);
			if (fn(key, slot_of(t, b, w) + t->val_off, ctx))
				remove_at(t, b, w);
		}
	}
}
