/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fixed-width types and byte order for core/ without any header:
 * no libc header may be pulled in, because the same headers are compiled with
 * `clang -target bpf` (where glibc headers do not work) and into DPDK binaries.
 */
#ifndef MOAT_CORE_TYPES_H
#define MOAT_CORE_TYPES_H

/* Spelled as the kernel spells them, so vmlinux.h-style headers may coexist. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef _Bool mbool;

#ifndef NULL
#define NULL ((void *)0)
#endif

#define MOAT_INLINE static inline __attribute__((always_inline))
#ifdef __clang__
#define MOAT_UNROLL _Pragma("unroll")
#define MOAT_UNROLL_GCC
#else
#define MOAT_UNROLL
/* Short loops of a bounded, data-dependent count on the reply path: GCC leaves them rolled. */
#define MOAT_UNROLL_GCC _Pragma("GCC unroll 16")
#endif
#define MOAT_LIKELY(x) __builtin_expect(!!(x), 1)
#define MOAT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Negative errno values without errno.h; numbers match Linux. */
enum moat_errno {
	MOAT_ENOENT = 2,
	MOAT_E2BIG = 7,
	MOAT_EAGAIN = 11,
	MOAT_ENOMEM = 12,
	MOAT_EINVAL = 22,
	MOAT_ENOSPC = 28,
	MOAT_ERANGE = 34,
	MOAT_EPROTO = 71,
	MOAT_EBADMSG = 74,
	MOAT_ETIME = 62,
	MOAT_EACCES = 13,
};

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define moat_ntohs(x) ((u16)__builtin_bswap16((u16)(x)))
#define moat_ntohl(x) ((u32)__builtin_bswap32((u32)(x)))
#else
#define moat_ntohs(x) ((u16)(x))
#define moat_ntohl(x) ((u32)(x))
#endif
#define moat_htons(x) moat_ntohs(x)
#define moat_htonl(x) moat_ntohl(x)

/* Big-endian loads through byte reads: no alignment assumptions on packet data. */
MOAT_INLINE u16 moat_get_be16(const u8 *p)
{
	return (u16)((u16)p[0] << 8 | p[1]);
}

MOAT_INLINE u32 moat_get_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

/* A raw (network order) 32-bit word from any alignment. */
MOAT_INLINE u32 moat_load32(const u8 *p)
{
	u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

MOAT_INLINE void moat_put_be16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

MOAT_INLINE void moat_put_be32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
}

/* Sequence-space comparisons (RFC 793 modular arithmetic, safe across 2^32 wrap). */
MOAT_INLINE mbool moat_seq_lt(u32 a, u32 b)
{
	return (s32)(a - b) < 0;
}

MOAT_INLINE mbool moat_seq_leq(u32 a, u32 b)
{
	return (s32)(a - b) <= 0;
}

MOAT_INLINE u32 moat_seq_max(u32 a, u32 b)
{
	return moat_seq_lt(a, b) ? b : a;
}

#define MOAT_NSEC_PER_SEC 1000000000ULL

#endif
