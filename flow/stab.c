// SPDX-License-Identifier: BSD-3-Clause
#include "flow/stab.h"

#include <errno.h>
#include <stdlib.h>
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
#define PAIRS 0x5555555555555555ULL /* the even slots of a row */
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

/*
 * Keys are read in 8-byte words, the last one ending at the end of the range
 * (it may overlap the one before): no byte-wise loops on the per-packet path.
 * Ranges shorter than a word are rare (tiny keys) and go byte by byte. Forced
 * inline (as tags_match): at each call the length is one of a few fields.
 */
MOAT_INLINE uint64_t diff_bytes(const unsigned char *x, const unsigned char *y, size_t len)
{
	uint64_t d = 0;
	size_t i;

	if (len < 8) {
		for (i = 0; i < len; i++)
			d |= (uint64_t)(x[i] ^ y[i]);
		return d;
	}
	for (i = 0; i + 8 < len; i += 8)
		d |= stab_load8(x + i) ^ stab_load8(y + i);
	return d | (stab_load8(x + len - 8) ^ stab_load8(y + len - 8));
}

MOAT_INLINE int bytes_eq(const void *x, const void *y, size_t len)
{
	return !diff_bytes(x, y, len);
}

/*
 * The two buckets come from the two halves of the hash, the fingerprint from
 * the top of its product with an odd constant (all of its bits, so it does not
 * repeat the bits that chose the bucket).
 */
static void probe_of(const struct stab *t, uint64_t h, struct probe *p)
{
	p->wide = (uint8_t)(h & 1);
	p->b[0] = stab_fastrange((uint32_t)h, t->nbuckets);
	p->b[1] = stab_fastrange((uint32_t)(h >> 32), t->nbuckets);
	p->fp = (uint16_t)((h * 0xD6E8FEB86659FD93ULL) >> 49);
	if (!p->fp)
		p->fp = 1;
}


static void filter_add(struct stab *t, uint64_t h)
{
	uint64_t g, *blk;
	unsigned int i;

	if (!t->filter)
		return;
	blk = stab_filter_block(t, h, &g);
	for (i = 0; i < STAB_FILTER_K; i++, g >>= 9)
		blk[(g >> 6) & 7] |= 1ULL << (g & 63);
	t->filter_adds++;
}

uint64_t stab_hash(const struct stab *t, const void *key)
{
	return stab_hash_sized(t, key, t->key_size, t->head_size);
}

static uint16_t *row_of(const struct stab *t, uint32_t b)
{
	return t->tags + (size_t)b * t->ways;
}

static unsigned char *slot_of(const struct stab *t, uint32_t b, unsigned int w)
{
	return t->mem + ((size_t)b * t->ways + w) * t->slot_size;
}

/* Bit i set where (row[i] & mask) == val, for the n (at most 32) tags of row. */
MOAT_INLINE uint32_t tags_match(const uint16_t *row, unsigned int n, uint16_t mask, uint16_t val)
{
#ifdef __SSE2__
	/* Eight tags a vector, sixteen compare results packed to bytes a movemask. */
	const __m128i *r = (const __m128i *)row;
	__m128i m = _mm_set1_epi16((short)mask), v = _mm_set1_epi16((short)val);
	unsigned int i;
	uint32_t bits = 0;

	for (i = 0; i < n / 8; i += 2) {
		__m128i x = _mm_cmpeq_epi16(_mm_and_si128(_mm_load_si128(r + i), m), v);
		__m128i y = _mm_setzero_si128();

		if (i + 1 < n / 8)
			y = _mm_cmpeq_epi16(_mm_and_si128(_mm_load_si128(r + i + 1), m), v);
		bits |= (uint32_t)(uint16_t)_mm_movemask_epi8(_mm_packs_epi16(x, y)) << (8 * i);
	}
	return bits;
#else
	uint32_t bits = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		bits |= (uint32_t)((row[i] & mask) == val) << i;
	return bits;
#endif
}

/* Bit w set where (row[w] & mask) == val. */
static uint64_t row_match(const struct stab *t, const uint16_t *row, uint16_t mask, uint16_t val)
{
	uint64_t bits = tags_match(row, t->ways < 32 ? t->ways : 32, mask, val);

	if (t->ways > 32)
		bits |= (uint64_t)tags_match(row + 32, 32, mask, val) << 32;
	return bits;
}

static uint64_t row_free(const struct stab *t, const uint16_t *row)
{
	return row_match(t, row, 0xFFFF, 0);
}

static int head_is_wide(const struct stab *t, const uint16_t *row, unsigned int w)
{
	return w + 1 < t->ways && row[w + 1] == TAG_TAIL;
}

static int slot_eq(const struct stab *t, uint32_t b, unsigned int w, const void *key, int wide)
{
	if (!bytes_eq(slot_of(t, b, w), key, t->head_size))
		return 0;
	if (head_is_wide(t, row_of(t, b), w) != wide)
		return 0;
	return !wide || bytes_eq(slot_of(t, b, w + 1), (const unsigned char *)key + t->head_size,
				 t->key_size - t->head_size);
}

/*
 * The way of the key in bucket b, or -1. The whole row's tags compared at once,
 * straight-line for the 64-slot rows: both of its lines were prefetched with
 * the key's hash, and a miss (a new flow, a flood's SYN) reads all of them.
 */
static int find_in(const struct stab *t, uint32_t b, const struct probe *p, const void *key)
{
	const uint16_t *row = row_of(t, b);
	uint64_t m;

	if (t->ways == 64)
		m = tags_match(row, 32, TAG_FP, p->fp) |
		    (uint64_t)tags_match(row + 32, 32, TAG_FP, p->fp) << 32;
	else
		m = row_match(t, row, TAG_FP, p->fp);
	while (m) {
		unsigned int w = (unsigned int)__builtin_ctzll(m);

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
	if (head_is_wide(t, row_of(t, b), w))
		memcpy(key + t->head_size, slot_of(t, b, w + 1), t->key_size - t->head_size);
	else
		memset(key + t->head_size, 0, t->key_size - t->head_size);
}

static void remove_at(struct stab *t, uint32_t b, unsigned int w)
{
	uint16_t *row = row_of(t, b);

	if (head_is_wide(t, row, w))
		row[w + 1] = 0;
	row[w] = 0;
	t->count--;
	t->removes++;
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
	/* Large tables on 2 MiB pages where the kernel allows: a TLB miss is most of a lookup. */
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

static int ways_ok(unsigned int ways)
{
	return ways == 8 || ways == 16 || ways == 32 || ways == STAB_WAYS_MAX;
}

/* The table's shape from conf, memory aside: 0 or -EINVAL/-ENOMEM. */
static int shape(struct stab *t, const struct stab_conf *conf, size_t *tag_bytes)
{
	size_t align = conf->val_align ? conf->val_align : 8, slots;
	unsigned int load = conf->load_pct ? conf->load_pct : 100;

	memset(t, 0, sizeof(*t));
	t->ways = conf->ways ? conf->ways : 8;
	t->rank_enough = conf->rank_enough;
	t->key_size = conf->key_size;
	t->head_size = conf->head_size ? conf->head_size : conf->key_size;
	t->val_size = conf->val_size;
	t->val_off = round_up(t->head_size, align);
	t->slot_size = round_up(t->val_off + t->val_size, align);
	if (!ways_ok(t->ways) || load > 100 || t->key_size > STAB_KEY_MAX ||
	    t->head_size > t->key_size || t->key_size - t->head_size > t->slot_size)
		return -EINVAL;
	t->limit = conf->entries ? conf->entries : 1;
	slots = (t->limit * 100 + load - 1) / load;
	if (slots / t->ways >= UINT32_MAX)
		return -ENOMEM;
	t->nbuckets = (uint32_t)((slots + t->ways - 1) / t->ways);
	t->seed = conf->seed;
	*tag_bytes = round_up(stab_capacity(t) * sizeof(*t->tags), 64);
	t->map_len = round_up(*tag_bytes + stab_capacity(t) * t->slot_size, 4096);
	return 0;
}

size_t stab_map_bytes(const struct stab_conf *conf)
{
	struct stab t;
	size_t tag_bytes;

	return shape(&t, conf, &tag_bytes) ? 0 : t.map_len;
}

/* The filter anew from the keys the table holds. */
static void filter_rebuild(struct stab *t)
{
	unsigned char key[STAB_KEY_MAX];
	uint32_t b;
	unsigned int w;

	memset(t->filter, 0, (size_t)t->filter_blocks * STAB_FILTER_WORDS * sizeof(uint64_t));
	for (b = 0; b < t->nbuckets; b++) {
		const uint16_t *row = row_of(t, b);

		for (w = 0; w < t->ways; w++)
			if (row[w] & TAG_FP) {
				key_at(t, b, w, key);
				filter_add(t, stab_hash(t, key));
			}
	}
	t->filter_adds = 0;
}

static int filter_init(struct stab *t, unsigned int bits_per_entry)
{
	size_t bits = t->limit * bits_per_entry, bytes;

	if (bits / 512 >= UINT32_MAX)
		return -ENOMEM;
	t->filter_blocks = (uint32_t)((bits + 511) / 512);
	bytes = (size_t)t->filter_blocks * STAB_FILTER_WORDS * sizeof(uint64_t);
	t->filter = aligned_alloc(64, bytes);
	if (!t->filter)
		return -ENOMEM;
	filter_rebuild(t);
	return 0;
}

/* Keys held by a table adopted whole: every head tag (a tail's has no fingerprint). */
static size_t count_heads(const struct stab *t)
{
	size_t i, n = 0;

	for (i = 0; i < stab_capacity(t); i++)
		n += (t->tags[i] & TAG_FP) != 0;
	return n;
}

int stab_init(struct stab *t, const struct stab_conf *conf)
{
	size_t tag_bytes;
	int r = shape(t, conf, &tag_bytes);

	if (r)
		return r;
	if (conf->mem) {
		t->map = conf->mem;
		t->borrowed = 1;
		if (!conf->adopt)
			memset(t->map, 0, t->map_len);
	} else {
		t->map = table_map(t->map_len);
	}
	if (!t->map)
		return -ENOMEM;
	t->tags = t->map; /* rows from a page boundary: a row of 64 tags is two cache lines */
	t->mem = (unsigned char *)t->map + tag_bytes;
	if (conf->mem && conf->adopt)
		t->count = t->peak = count_heads(t);
	if (conf->filter_bits && filter_init(t, conf->filter_bits)) {
		stab_free(t);
		return -ENOMEM;
	}
	return 0;
}

void stab_free(struct stab *t)
{
	free(t->filter);
	t->filter = NULL;
	if (t->map && !t->borrowed)
		munmap(t->map, t->map_len);
	t->map = NULL;
	t->tags = NULL;
	t->mem = NULL;
}

size_t stab_capacity(const struct stab *t)
{
	return (size_t)t->nbuckets * t->ways;
}

size_t stab_bytes(const struct stab *t)
{
	return stab_capacity(t) * (t->slot_size + sizeof(*t->tags));
}

/* Start loading a bucket's row of tags (two cache lines for 64 slots). */

void stab_prefetch(const struct stab *t, const void *key)
{
	stab_prefetch_h(t, stab_hash(t, key));
}

void *stab_find_h(struct stab *t, const void *key, uint64_t h, unsigned int *mark)
{
	struct probe p;
	uint32_t b;
	int w;

	probe_of(t, h, &p);
	w = locate(t, &p, key, &b);
	if (w < 0)
		return NULL;
	if (mark)
		*mark = !!(row_of(t, b)[w] & TAG_MARK);
	return slot_of(t, b, (unsigned int)w) + t->val_off;
}

void *stab_find(struct stab *t, const void *key, unsigned int *mark)
{
	return stab_find_h(t, key, stab_hash(t, key), mark);
}

int stab_remove_h(struct stab *t, const void *key, uint64_t h)
{
	struct probe p;
	uint32_t b;
	int w;

	probe_of(t, h, &p);
	w = locate(t, &p, key, &b);
	if (w < 0)
		return -ENOENT;
	remove_at(t, b, (unsigned int)w);
	return 0;
}

int stab_remove(struct stab *t, const void *key)
{
	return stab_remove_h(t, key, stab_hash(t, key));
}

/* Where a key of this size fits: a free slot (pair) in the emptier bucket, or -1. */
static int free_way(const struct stab *t, const struct probe *p, uint32_t *bucket)
{
	int best = -1, best_free = -1, i;

	for (i = 0; i < 2 && (i == 0 || p->b[1] != p->b[0]); i++) {
		uint64_t f = row_free(t, row_of(t, p->b[i]));
		uint64_t fit = p->wide ? f & (f >> 1) & PAIRS : f;

		if (fit && __builtin_popcountll(f) > best_free) {
			best_free = __builtin_popcountll(f);
			best = __builtin_ctzll(fit);
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
 * Rank of what occupies slot w, or with `pair` the even slot w and the next one
 * (room for a two-slot key): the lower of their entries'. INT_MAX: free.
 */
static int unit_rank(const struct stab *t, uint32_t b, unsigned int w, int pair)
{
	const uint16_t *row = row_of(t, b);
	int r = __INT_MAX__, r2;

	if (row[w] && row[w] != TAG_TAIL)
		r = rank_at(t, b, w);
	if (pair && row[w + 1] && row[w + 1] != TAG_TAIL) {
		r2 = rank_at(t, b, w + 1);
		r = r2 < r ? r2 : r;
	}
	return r;
}

struct victim {
	int rank;
	int way;
	uint32_t bucket;
};

/* Rank `n` slots of both buckets from slot `from` (wrapping), keeping the best in v. */
static void rank_slots(const struct stab *t, const struct probe *p, unsigned int from,
		       unsigned int n, int pair, struct victim *v)
{
	unsigned int i, k, step = pair ? 2 : 1;

	for (i = 0; i < 2 && (i == 0 || p->b[1] != p->b[0]); i++)
		for (k = 0; k < n; k += step) {
			unsigned int w = (from + k) % t->ways;
			int r = unit_rank(t, p->b[i], w, pair);

			if (r > v->rank && r != __INT_MAX__) {
				v->rank = r;
				v->way = (int)w;
				v->bucket = p->b[i];
			}
		}
}

/*
 * Evict what the rank function gives up first in the key's buckets: an entry,
 * or with `pair` the entries of a pair of slots. 0, or -1 when it gives up
 * none. A window of each bucket first (its place from the key's fingerprint),
 * every slot when the window has nothing ranked rank_enough.
 */
static int evict_best(struct stab *t, const struct probe *p, int pair)
{
	struct victim v = { .rank = -1, .way = -1 };
	unsigned int w, window = t->ways < STAB_WINDOW ? t->ways : STAB_WINDOW;

	if (!t->rank)
		return -1;
	rank_slots(t, p, (p->fp % (t->ways / window)) * window, window, pair, &v);
	if (v.rank < t->rank_enough && window < t->ways)
		rank_slots(t, p, 0, t->ways, pair, &v);
	if (v.way < 0)
		return -1;
	w = (unsigned int)v.way;
	if (row_of(t, v.bucket)[w])
		evict_at(t, v.bucket, w);
	if (pair && row_of(t, v.bucket)[w + 1])
		evict_at(t, v.bucket, w + 1);
	return 0;
}

static void *place(struct stab *t, const struct probe *p, uint64_t h, const void *key,
		   unsigned int mark, uint32_t b, unsigned int w)
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
	t->adds++;
	if (t->filter && t->filter_adds >= 2 * t->limit)
		filter_rebuild(t); /* before this key's row is readable: it adds it */
	else
		filter_add(t, h);
	t->count++;
	if (t->count > t->peak)
		t->peak = t->count;
	return s + t->val_off;
}

void *stab_insert_h(struct stab *t, const void *key, uint64_t h, unsigned int mark, int *created)
{
	struct probe p;
	uint32_t b;
	int w;

	*created = 0;
	probe_of(t, h, &p);
	stab_row_prefetch(t, p.b[0]);
	stab_row_prefetch(t, p.b[1]);
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
	return place(t, &p, h, key, mark, b, (unsigned int)w);
}

void *stab_insert(struct stab *t, const void *key, unsigned int mark, int *created)
{
	return stab_insert_h(t, key, stab_hash(t, key), mark, created);
}

void stab_sweep(struct stab *t, stab_visit_fn fn, void *ctx)
{
	unsigned char key[STAB_KEY_MAX];
	uint32_t b;
	unsigned int w;

	for (b = 0; b < t->nbuckets; b++) {
		const uint16_t *row = row_of(t, b);

		for (w = 0; w < t->ways; w++) {
			if (!(row[w] & TAG_FP))
				continue;
			key_at(t, b, w, key);
			if (fn(key, slot_of(t, b, w) + t->val_off, !!(row[w] & TAG_MARK), ctx))
				remove_at(t, b, w);
		}
	}
}
