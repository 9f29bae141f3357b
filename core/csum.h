/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internet checksums (RFC 1071) over headers the engine builds itself: the
 * bytes are summed from a local buffer, never re-read from the packet, so the
 * BPF verifier sees fixed-size stack reads only. The sum runs over native
 * 32-bit words (the ones' complement sum does not depend on byte order), and
 * the folded result is stored as it comes, without a swap.
 */
#ifndef MOAT_CORE_CSUM_H
#define MOAT_CORE_CSUM_H

#include "parse.h"

/* Add buf[0..len) as native 32-bit words; len a multiple of 4 and <= 64. */
MOAT_INLINE u64 moat_csum_add_words(u64 sum, const u8 *buf, u32 len)
{
	u32 i;

	MOAT_UNROLL_GCC
	for (i = 0; i < 64; i += 4) {
		u32 w;

		if (i >= len)
			break;
		__builtin_memcpy(&w, buf + i, 4);
		sum += w;
	}
	return sum;
}

/* Fold to 16 bits and complement: the value to store, in native order. */
MOAT_INLINE u16 moat_csum_fold(u64 sum)
{
	sum = (sum & 0xFFFFFFFFULL) + (sum >> 32);
	sum = (sum & 0xFFFFFFFFULL) + (sum >> 32);
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return (u16)~sum;
}

/* TCP/IPv4 or IPv6 pseudo-header for a segment of tcp_len bytes. */
MOAT_INLINE u64 moat_csum_pseudo(const struct moat_addr *src, const struct moat_addr *dst,
				 u8 family, u32 tcp_len)
{
	u64 sum = (u64)src->w[0] + dst->w[0];

	if (family == 6)
		sum += (u64)src->w[1] + src->w[2] + src->w[3] + dst->w[1] + dst->w[2] + dst->w[3];
	return sum + moat_htons((u16)tcp_len) + moat_htons(MOAT_IPPROTO_TCP);
}

/* Store a folded checksum at p (any alignment). */
MOAT_INLINE void moat_csum_store(u8 *p, u16 csum)
{
	__builtin_memcpy(p, &csum, 2);
}

#endif
