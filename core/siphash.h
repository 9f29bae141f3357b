/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SipHash-2-4 (Aumasson & Bernstein) over whole 64-bit words: the inputs here are
 * fixed-size tuples, so the message is always a multiple of 8 bytes and the
 * final block only carries the length. Loops are bounded by MOAT_SIPHASH_MAX_WORDS.
 */
#ifndef MOAT_CORE_SIPHASH_H
#define MOAT_CORE_SIPHASH_H

#include "types.h"

#define MOAT_SIPHASH_MAX_WORDS 8

struct moat_siphash_key {
	u64 k0;
	u64 k1;
};

#define MOAT_ROTL64(x, b) (u64)(((x) << (b)) | ((x) >> (64 - (b))))

struct moat_sipstate {
	u64 v0, v1, v2, v3;
};

MOAT_INLINE void moat_sipround(struct moat_sipstate *s)
{
	s->v0 += s->v1;
	s->v1 = MOAT_ROTL64(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = MOAT_ROTL64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = MOAT_ROTL64(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = MOAT_ROTL64(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = MOAT_ROTL64(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = MOAT_ROTL64(s->v2, 32);
}

MOAT_INLINE void moat_sip_absorb(struct moat_sipstate *s, u64 m)
{
	s->v3 ^= m;
	moat_sipround(s);
	moat_sipround(s);
	s->v0 ^= m;
}

MOAT_INLINE void moat_sip_init(struct moat_sipstate *s, const struct moat_siphash_key *key)
{
	s->v0 = key->k0 ^ 0x736f6d6570736575ULL;
	s->v1 = key->k1 ^ 0x646f72616e646f6dULL;
	s->v2 = key->k0 ^ 0x6c7967656e657261ULL;
	s->v3 = key->k1 ^ 0x7465646279746573ULL;
}

/* The final block's word: the message length's low byte over tail_len bytes of tail. */
MOAT_INLINE u64 moat_sip_fin_word(u32 nwords, u64 tail, u32 tail_len)
{
	u64 mask = tail_len ? (~0ULL >> (64 - 8 * (tail_len & 7))) : 0;

	return (u64)((nwords * 8 + (tail_len & 7)) & 0xFF) << 56 | (tail & mask);
}

/*
 * The final block after nwords absorbed words: tail_len (0..7) bytes of tail
 * beside the message length, then the finalization. For callers that absorb
 * their words one by one (no array on the stack: BPF counts every byte).
 */
MOAT_INLINE u64 moat_sip_final(struct moat_sipstate *s, u32 nwords, u64 tail, u32 tail_len)
{
	moat_sip_absorb(s, moat_sip_fin_word(nwords, tail, tail_len));
	s->v2 ^= 0xff;
	moat_sipround(s);
	moat_sipround(s);
	moat_sipround(s);
	moat_sipround(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/*
 * SipHash-2-4 of the message words[0..nwords) || tail, where tail holds
 * tail_len (0..7) more bytes, little-endian: the bytes go in the final block
 * beside the length, as in the reference, so a short tail costs no extra
 * compression. Words are little-endian 64-bit blocks, as the reference reads
 * its bytes.
 */
MOAT_INLINE u64 moat_siphash24_tail(const struct moat_siphash_key *key, const u64 *words,
				    u32 nwords, u64 tail, u32 tail_len)
{
	struct moat_sipstate s;
	u32 i;

	moat_sip_init(&s, key);
	MOAT_UNROLL
	for (i = 0; i < MOAT_SIPHASH_MAX_WORDS; i++) {
		if (i >= nwords)
			break;
		moat_sip_absorb(&s, words[i]);
	}
	return moat_sip_final(&s, nwords, tail, tail_len);
}

/* SipHash-2-4 of whole 64-bit words. */
MOAT_INLINE u64 moat_siphash24(const struct moat_siphash_key *key, const u64 *words, u32 nwords)
{
	return moat_siphash24_tail(key, words, nwords, 0, 0);
}

#endif
