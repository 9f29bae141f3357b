/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internet checksums (RFC 1071) over headers the engine builds itself: the
 * bytes are summed from a local buffer, never re-read from the packet, so the
 * BPF verifier sees fixed-size stack reads only.
 */
#ifndef MOAT_CORE_CSUM_H
#define MOAT_CORE_CSUM_H

#include "parse.h"

/* Sum of big-endian 16-bit words of buf[0..len), len even and <= 64. */
MOAT_INLINE u32 moat_csum_add_buf(u32 sum, const u8 *buf, u32 len)
{
	u32 i;

	for (i = 0; i < 64; i += 2) {
		if (i >= len)
			break;
		sum += (u32)buf[i] << 8 | buf[i + 1];
	}
	return sum;
}

MOAT_INLINE u32 moat_csum_add_addr(u32 sum, const struct moat_addr *a, u8 family)
{
	u32 i, n = family == 6 ? 4 : 1;

	for (i = 0; i < 4; i++) {
		u32 w;

		if (i >= n)
			break;
		w = moat_ntohl(a->w[i]);
		sum += (w >> 16) + (w & 0xFFFF);
	}
	return sum;
}

MOAT_INLINE u16 moat_csum_fold(u32 sum)
{
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return (u16)~sum;
}

/* TCP/IPv4 or IPv6 pseudo-header sum for a segment of tcp_len bytes. */
MOAT_INLINE u32 moat_csum_pseudo(const struct moat_addr *src, const struct moat_addr *dst,
				 u8 family, u32 tcp_len)
{
	u32 sum = moat_csum_add_addr(0, src, family);

	sum = moat_csum_add_addr(sum, dst, family);
	return sum + MOAT_IPPROTO_TCP + tcp_len;
}

#endif
