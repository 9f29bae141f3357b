/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SipHash-2-4 of eight messages at once, in SIMD lanes where the CPU has them
 * (AVX-512F: eight 64-bit lanes with a rotate; AVX2: two times four), for a
 * burst's SYN cookies. Every variant gives the scalar core/siphash.h answer
 * bit for bit; which one runs is chosen once, from the CPU's flags.
 *
 * The messages are whole 64-bit words, nrows of them (<= MOAT_SIPX_MAX_ROWS),
 * rows[r][lane]; fin[lane] is the final block as core/siphash.h builds it
 * (length byte << 56 | tail). out[lane] gets the hash. Lanes nobody reads may
 * hold anything: all eight are always computed.
 */
#ifndef MOAT_FLOW_SIPX_H
#define MOAT_FLOW_SIPX_H

#include "core/siphash.h"

#define MOAT_SIPX_LANES	   8
#define MOAT_SIPX_MAX_ROWS 5 /* an IPv6 cookie's */

enum moat_sipx_impl {
	MOAT_SIPX_SCALAR,
	MOAT_SIPX_AVX2,
	MOAT_SIPX_AVX512,
	MOAT_SIPX_IMPLS,
};

typedef void moat_sipx_fn(const struct moat_siphash_key *key, const u64 rows[][MOAT_SIPX_LANES],
			  u32 nrows, const u64 fin[MOAT_SIPX_LANES], u64 out[MOAT_SIPX_LANES]);

/* The variant impl, or NULL when this CPU (or compiler) lacks it. */
moat_sipx_fn *moat_sipx_get(enum moat_sipx_impl impl);
/* The widest variant this CPU runs; *impl (if not NULL) says which. */
moat_sipx_fn *moat_sipx_best(enum moat_sipx_impl *impl);
/*
 * The widest this CPU runs in registers of at most max_bits (DPDK's
 * --force-max-simd-bitwidth: 256 keeps AVX-512, and the clock drops some CPUs
 * take for it, out; below 256, scalar).
 */
moat_sipx_fn *moat_sipx_best_within(unsigned int max_bits, enum moat_sipx_impl *impl);
const char *moat_sipx_name(enum moat_sipx_impl impl);

#endif
