// SPDX-License-Identifier: BSD-3-Clause
/*
 * SipHash-2-4 in lanes (flow/sipx.h). The build stays portable (x86-64-v2):
 * the wide variants are compiled for their instruction sets alone, by target
 * attributes, and only called after the CPU says it has them.
 */
#include <stddef.h>

#include "flow/sipx.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SIPX_X86 1
#include <immintrin.h>
#endif

/* The reference, a lane at a time: what the wide variants are tested against. */
static void sipx_scalar(const struct moat_siphash_key *key, const u64 rows[][MOAT_SIPX_LANES],
			u32 nrows, const u64 fin[MOAT_SIPX_LANES], u64 out[MOAT_SIPX_LANES])
{
	struct moat_sipstate s;
	u32 lane, r;

	for (lane = 0; lane < MOAT_SIPX_LANES; lane++) {
		moat_sip_init(&s, key);
		for (r = 0; r < nrows && r < MOAT_SIPX_MAX_ROWS; r++)
			moat_sip_absorb(&s, rows[r][lane]);
		moat_sip_absorb(&s, fin[lane]);
		s.v2 ^= 0xff;
		moat_sipround(&s);
		moat_sipround(&s);
		moat_sipround(&s);
		moat_sipround(&s);
		out[lane] = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
	}
}

#ifdef SIPX_X86

/* Eight lanes of state in four registers; AVX-512F rotates in one instruction. */
#define SIPX512_ROUND(v0, v1, v2, v3)                                                              \
	do {                                                                                       \
		v0 = _mm512_add_epi64(v0, v1);                                                     \
		v1 = _mm512_rol_epi64(v1, 13);                                                     \
		v1 = _mm512_xor_si512(v1, v0);                                                     \
		v0 = _mm512_rol_epi64(v0, 32);                                                     \
		v2 = _mm512_add_epi64(v2, v3);                                                     \
		v3 = _mm512_rol_epi64(v3, 16);                                                     \
		v3 = _mm512_xor_si512(v3, v2);                                                     \
		v0 = _mm512_add_epi64(v0, v3);                                                     \
		v3 = _mm512_rol_epi64(v3, 21);                                                     \
		v3 = _mm512_xor_si512(v3, v0);                                                     \
		v2 = _mm512_add_epi64(v2, v1);                                                     \
		v1 = _mm512_rol_epi64(v1, 17);                                                     \
		v1 = _mm512_xor_si512(v1, v2);                                                     \
		v2 = _mm512_rol_epi64(v2, 32);                                                     \
	} while (0)

#define SIPX512_ABSORB(v0, v1, v2, v3, m)                                                          \
	do {                                                                                       \
		v3 = _mm512_xor_si512(v3, m);                                                      \
		SIPX512_ROUND(v0, v1, v2, v3);                                                     \
		SIPX512_ROUND(v0, v1, v2, v3);                                                     \
		v0 = _mm512_xor_si512(v0, m);                                                      \
	} while (0)

__attribute__((target("avx512f"))) static void
sipx_avx512(const struct moat_siphash_key *key, const u64 rows[][MOAT_SIPX_LANES], u32 nrows,
	    const u64 fin[MOAT_SIPX_LANES], u64 out[MOAT_SIPX_LANES])
{
	__m512i v0 = _mm512_set1_epi64((long long)(key->k0 ^ 0x736f6d6570736575ULL));
	__m512i v1 = _mm512_set1_epi64((long long)(key->k1 ^ 0x646f72616e646f6dULL));
	__m512i v2 = _mm512_set1_epi64((long long)(key->k0 ^ 0x6c7967656e657261ULL));
	__m512i v3 = _mm512_set1_epi64((long long)(key->k1 ^ 0x7465646279746573ULL));
	__m512i m;
	u32 r;

	for (r = 0; r < nrows && r < MOAT_SIPX_MAX_ROWS; r++) {
		m = _mm512_loadu_si512((const void *)rows[r]);
		SIPX512_ABSORB(v0, v1, v2, v3, m);
	}
	m = _mm512_loadu_si512((const void *)fin);
	SIPX512_ABSORB(v0, v1, v2, v3, m);
	v2 = _mm512_xor_si512(v2, _mm512_set1_epi64(0xff));
	SIPX512_ROUND(v0, v1, v2, v3);
	SIPX512_ROUND(v0, v1, v2, v3);
	SIPX512_ROUND(v0, v1, v2, v3);
	SIPX512_ROUND(v0, v1, v2, v3);
	v0 = _mm512_xor_si512(_mm512_xor_si512(v0, v1), _mm512_xor_si512(v2, v3));
	_mm512_storeu_si512((void *)out, v0);
}

/* AVX2 has no 64-bit rotate: two shifts and an or; by 32, a dword shuffle. */
#define SIPX256_ROL(x, b) _mm256_or_si256(_mm256_slli_epi64(x, b), _mm256_srli_epi64(x, 64 - (b)))
#define SIPX256_ROL32(x)  _mm256_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1))

#define SIPX256_ROUND(v0, v1, v2, v3)                                                              \
	do {                                                                                       \
		v0 = _mm256_add_epi64(v0, v1);                                                     \
		v1 = SIPX256_ROL(v1, 13);                                                          \
		v1 = _mm256_xor_si256(v1, v0);                                                     \
		v0 = SIPX256_ROL32(v0);                                                            \
		v2 = _mm256_add_epi64(v2, v3);                                                     \
		v3 = SIPX256_ROL(v3, 16);                                                          \
		v3 = _mm256_xor_si256(v3, v2);                                                     \
		v0 = _mm256_add_epi64(v0, v3);                                                     \
		v3 = SIPX256_ROL(v3, 21);                                                          \
		v3 = _mm256_xor_si256(v3, v0);                                                     \
		v2 = _mm256_add_epi64(v2, v1);                                                     \
		v1 = SIPX256_ROL(v1, 17);                                                          \
		v1 = _mm256_xor_si256(v1, v2);                                                     \
		v2 = SIPX256_ROL32(v2);                                                            \
	} while (0)

#define SIPX256_ABSORB(v0, v1, v2, v3, m)                                                          \
	do {                                                                                       \
		v3 = _mm256_xor_si256(v3, m);                                                      \
		SIPX256_ROUND(v0, v1, v2, v3);                                                     \
		SIPX256_ROUND(v0, v1, v2, v3);                                                     \
		v0 = _mm256_xor_si256(v0, m);                                                      \
	} while (0)

/* Four lanes from column `at` of the eight. */
__attribute__((target("avx2"))) static void
sipx_avx2_half(const struct moat_siphash_key *key, const u64 rows[][MOAT_SIPX_LANES], u32 nrows,
	       const u64 fin[MOAT_SIPX_LANES], u64 out[MOAT_SIPX_LANES], u32 at)
{
	__m256i v0 = _mm256_set1_epi64x((long long)(key->k0 ^ 0x736f6d6570736575ULL));
	__m256i v1 = _mm256_set1_epi64x((long long)(key->k1 ^ 0x646f72616e646f6dULL));
	__m256i v2 = _mm256_set1_epi64x((long long)(key->k0 ^ 0x6c7967656e657261ULL));
	__m256i v3 = _mm256_set1_epi64x((long long)(key->k1 ^ 0x7465646279746573ULL));
	__m256i m;
	u32 r;

	for (r = 0; r < nrows && r < MOAT_SIPX_MAX_ROWS; r++) {
		m = _mm256_loadu_si256((const __m256i *)&rows[r][at]);
		SIPX256_ABSORB(v0, v1, v2, v3, m);
	}
	m = _mm256_loadu_si256((const __m256i *)&fin[at]);
	SIPX256_ABSORB(v0, v1, v2, v3, m);
	v2 = _mm256_xor_si256(v2, _mm256_set1_epi64x(0xff));
	SIPX256_ROUND(v0, v1, v2, v3);
	SIPX256_ROUND(v0, v1, v2, v3);
	SIPX256_ROUND(v0, v1, v2, v3);
	SIPX256_ROUND(v0, v1, v2, v3);
	v0 = _mm256_xor_si256(_mm256_xor_si256(v0, v1), _mm256_xor_si256(v2, v3));
	_mm256_storeu_si256((__m256i *)&out[at], v0);
}

__attribute__((target("avx2"))) static void sipx_avx2(const struct moat_siphash_key *key,
						      const u64 rows[][MOAT_SIPX_LANES], u32 nrows,
						      const u64 fin[MOAT_SIPX_LANES],
						      u64 out[MOAT_SIPX_LANES])
{
	sipx_avx2_half(key, rows, nrows, fin, out, 0);
	sipx_avx2_half(key, rows, nrows, fin, out, 4);
}

static int cpu_has(enum moat_sipx_impl impl)
{
	__builtin_cpu_init();
	switch (impl) {
	case MOAT_SIPX_AVX512:
		return __builtin_cpu_supports("avx512f");
	case MOAT_SIPX_AVX2:
		return __builtin_cpu_supports("avx2");
	default:
		return impl == MOAT_SIPX_SCALAR;
	}
}

#else

static int cpu_has(enum moat_sipx_impl impl)
{
	return impl == MOAT_SIPX_SCALAR;
}

#endif

moat_sipx_fn *moat_sipx_get(enum moat_sipx_impl impl)
{
	if (!cpu_has(impl))
		return NULL;
	switch (impl) {
#ifdef SIPX_X86
	case MOAT_SIPX_AVX512:
		return sipx_avx512;
	case MOAT_SIPX_AVX2:
		return sipx_avx2;
#endif
	case MOAT_SIPX_SCALAR:
		return sipx_scalar;
	default:
		return NULL;
	}
}

/* The register width each variant takes, in bits. */
static unsigned int impl_bits(enum moat_sipx_impl impl)
{
	switch (impl) {
	case MOAT_SIPX_AVX512: return 512;
	case MOAT_SIPX_AVX2: return 256;
	default: return 64;
	}
}

moat_sipx_fn *moat_sipx_best(enum moat_sipx_impl *impl)
{
	return moat_sipx_best_within(~0u, impl);
}

moat_sipx_fn *moat_sipx_best_within(unsigned int max_bits, enum moat_sipx_impl *impl)
{
	int i;

	for (i = MOAT_SIPX_IMPLS - 1; i > MOAT_SIPX_SCALAR; i--)
		if (impl_bits((enum moat_sipx_impl)i) <= max_bits &&
		    moat_sipx_get((enum moat_sipx_impl)i))
			break;
	if (impl)
		*impl = (enum moat_sipx_impl)i;
	return moat_sipx_get((enum moat_sipx_impl)i);
}

const char *moat_sipx_name(enum moat_sipx_impl impl)
{
	static const char *const names[MOAT_SIPX_IMPLS] = {
	    [MOAT_SIPX_SCALAR] = "scalar",
	    [MOAT_SIPX_AVX2] = "avx2",
	    [MOAT_SIPX_AVX512] = "avx512",
	};

	return (unsigned int)impl < MOAT_SIPX_IMPLS ? names[impl] : "?";
}
