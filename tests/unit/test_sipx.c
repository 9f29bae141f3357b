/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * flow/sipx.h: every SipHash lane variant this CPU runs against the scalar
 * core/siphash.h, and a burst's cookie MACs made ahead (moat_be_cookie_macs)
 * against the cookie each SYN gets alone, over 1M random SYNs.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flow/backend.h"
#include "flow/sipx.h"
#include "core/cookie.h"

#define SLOT 26562500u /* 1,700,000,000 s */

static u64 rng_state = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* SipHash-2-4 of words || tail, absorbed a word at a time (core/siphash.h's steps). */
static u64 reference(const struct moat_siphash_key *key, const u64 *words, u32 n, u64 tail,
		     u32 tail_len)
{
	struct moat_sipstate s;
	u32 i;

	moat_sip_init(&s, key);
	for (i = 0; i < n; i++)
		moat_sip_absorb(&s, words[i]);
	return moat_sip_final(&s, n, tail, tail_len);
}

/* Each variant the CPU has, hashing n random messages of every length 0..5 words. */
static void lanes_agree(enum moat_sipx_impl impl, unsigned int rounds)
{
	moat_sipx_fn *fn = moat_sipx_get(impl);
	u64 rows[MOAT_SIPX_MAX_ROWS][MOAT_SIPX_LANES], fin[MOAT_SIPX_LANES];
	u64 out[MOAT_SIPX_LANES], words[MOAT_SIPX_MAX_ROWS], tails[MOAT_SIPX_LANES];
	u32 tlen[MOAT_SIPX_LANES];
	struct moat_siphash_key key;
	unsigned int k, lane, r, nrows;

	if (!fn)
		cr_skip_test("this CPU lacks %s", moat_sipx_name(impl));
	for (k = 0; k < rounds; k++) {
		key.k0 = rnd();
		key.k1 = rnd();
		nrows = k % (MOAT_SIPX_MAX_ROWS + 1);
		for (lane = 0; lane < MOAT_SIPX_LANES; lane++) {
			for (r = 0; r < nrows; r++)
				rows[r][lane] = rnd();
			tails[lane] = rnd();
			tlen[lane] = (u32)(rnd() % 8);
			fin[lane] = moat_sip_fin_word(nrows, tails[lane], tlen[lane]);
		}
		fn(&key, rows, nrows, fin, out);
		for (lane = 0; lane < MOAT_SIPX_LANES; lane++) {
			for (r = 0; r < nrows; r++)
				words[r] = rows[r][lane];
			cr_assert_eq(out[lane],
				     reference(&key, words, nrows, tails[lane], tlen[lane]),
				     "%s, %u words, lane %u", moat_sipx_name(impl), nrows, lane);
		}
	}
}

Test(sipx, reference_vector)
{
	/* The paper's key and 15-byte message (00..0e), in every lane of every variant. */
	const struct moat_siphash_key key = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
	u64 rows[MOAT_SIPX_MAX_ROWS][MOAT_SIPX_LANES], fin[MOAT_SIPX_LANES], out[MOAT_SIPX_LANES];
	int impl, lane, ran = 0;

	for (lane = 0; lane < MOAT_SIPX_LANES; lane++) {
		rows[0][lane] = 0x0706050403020100ULL;
		fin[lane] = moat_sip_fin_word(1, 0x0e0d0c0b0a0908ULL, 7);
	}
	for (impl = 0; impl < MOAT_SIPX_IMPLS; impl++) {
		moat_sipx_fn *fn = moat_sipx_get((enum moat_sipx_impl)impl);

		if (!fn)
			continue;
		memset(out, 0, sizeof(out));
		fn(&key, rows, 1, fin, out);
		for (lane = 0; lane < MOAT_SIPX_LANES; lane++)
			cr_assert_eq(out[lane], 0xa129ca6149be45e5ULL, "%s lane %d",
				     moat_sipx_name((enum moat_sipx_impl)impl), lane);
		ran++;
	}
	cr_assert_geq(ran, 1);
}

Test(sipx, scalar_is_the_reference)
{
	lanes_agree(MOAT_SIPX_SCALAR, 20000);
}

Test(sipx, avx2_agrees)
{
	lanes_agree(MOAT_SIPX_AVX2, 200000);
}

Test(sipx, avx512_agrees)
{
	lanes_agree(MOAT_SIPX_AVX512, 200000);
}

Test(sipx, best_is_one_the_cpu_runs)
{
	enum moat_sipx_impl impl = MOAT_SIPX_IMPLS;
	moat_sipx_fn *fn = moat_sipx_best(&impl);

	cr_assert_not_null(fn);
	cr_assert_lt(impl, MOAT_SIPX_IMPLS);
	cr_assert_eq(fn, moat_sipx_get(impl));
	cr_assert_str_neq(moat_sipx_name(impl), "?");
}

/* EAL's vector-width cap: nothing wider than asked, the widest the CPU has within it. */
Test(sipx, best_within_a_width)
{
	enum moat_sipx_impl impl;

	cr_assert_not_null(moat_sipx_best_within(64, &impl));
	cr_assert_eq(impl, MOAT_SIPX_SCALAR);
	moat_sipx_best_within(256, &impl);
	cr_assert_eq(impl, moat_sipx_get(MOAT_SIPX_AVX2) ? MOAT_SIPX_AVX2 : MOAT_SIPX_SCALAR);
	moat_sipx_best_within(512, &impl);
	cr_assert_neq(impl, MOAT_SIPX_IMPLS);
	cr_assert_eq(moat_sipx_best_within(512, NULL), moat_sipx_best(NULL));
}

/* A random SYN; combo picks its options (bits: MSS, WSCALE, SACK, TS, ECN). */
static void random_syn(struct moat_pkt *p, unsigned int combo)
{
	int i;

	memset(p, 0, sizeof(*p));
	p->family = (rnd() & 3) ? 4 : 6;
	for (i = 0; i < 4; i++) {
		p->saddr.w[i] = (u32)rnd();
		p->daddr.w[i] = (u32)rnd();
	}
	p->sport = (u16)rnd();
	p->dport = (u16)rnd();
	p->seq = (u32)rnd();
	p->tcp_flags = MOAT_TCP_SYN;
	if (combo & 1) {
		p->opt.present |= MOAT_OPT_MSS;
		p->opt.mss = (u16)rnd();
	}
	if (combo & 2) {
		p->opt.present |= MOAT_OPT_WSCALE;
		p->opt.wscale = (u8)(rnd() % 16);
	}
	if (combo & 4)
		p->opt.present |= MOAT_OPT_SACK_PERM;
	if (combo & 8) {
		p->opt.present |= MOAT_OPT_TS;
		p->opt.tsval = (u32)rnd();
	}
	if (combo & 16)
		p->tcp_flags |= MOAT_TCP_ECE | MOAT_TCP_CWR;
}

/* Bursts of 1..32 SYNs (every count of full and partial lane groups), v4 and v6 mixed. */
static void burst_cookies_agree(struct moat_be *be, unsigned int syns)
{
	const struct moat_siphash_key key = {0x1111222233334444ULL, 0x5555666677778888ULL};
	struct moat_pkt pkts[32];
	struct moat_be_key keys[32];
	struct moat_cookie alone;
	u16 idx[32];
	unsigned int done = 0, n, i, combo = 0;

	while (done < syns) {
		n = 1 + (unsigned int)(rnd() % 32);
		for (i = 0; i < n; i++) {
			random_syn(&pkts[i], combo++ % 32);
			keys[i].cookie_key = NULL;
			idx[i] = (u16)i;
		}
		moat_be_cookies(be, &key, SLOT, 0x12345678, pkts, keys, idx, n);
		for (i = 0; i < n; i++) {
			cr_assert_eq(keys[i].cookie_key, &key);
			cr_assert_eq(keys[i].cookie_slot, SLOT);
			moat_cookie_make_slot(&key, &pkts[i], SLOT, 0x12345678, &alone);
			cr_assert_eq(keys[i].cookie.isn, alone.isn,
				     "%s: SYN %u of %u, IPv%u, options %u",
				     moat_sipx_name(be->sipx_impl), i, n, pkts[i].family,
				     (combo - n + i) % 32);
			cr_assert_eq(keys[i].cookie.tsval, alone.tsval);
			cr_assert_eq(keys[i].cookie.mss, alone.mss);
		}
		done += n;
	}
}

/* Only the SYNs named get a cookie: the burst's other frames keep cookie_key NULL. */
Test(sipx, only_the_syns_named)
{
	const struct moat_siphash_key key = {1, 2};
	struct moat_pkt pkts[20];
	struct moat_be_key keys[20];
	u16 idx[10];
	struct moat_be be;
	unsigned int i;

	cr_assert_eq(moat_be_init(&be, 1024, 1024, 7), 0);
	for (i = 0; i < 20; i++) {
		random_syn(&pkts[i], i);
		keys[i].cookie_key = NULL;
	}
	for (i = 0; i < 10; i++)
		idx[i] = (u16)(2 * i + 1);
	moat_be_cookies(&be, &key, SLOT, 0, pkts, keys, idx, 10);
	for (i = 0; i < 20; i++)
		cr_assert_eq(keys[i].cookie_key, i & 1 ? &key : NULL, "frame %u", i);
	moat_be_free(&be);
}

/* The check: a million random SYNs, each variant's cookies the scalar ones. */
Test(sipx, burst_cookies_are_the_scalar_cookies)
{
	struct moat_be be;
	int impl, ran = 0;

	cr_assert_eq(moat_be_init(&be, 1024, 1024, 7), 0);
	for (impl = 0; impl < MOAT_SIPX_IMPLS; impl++) {
		be.sipx = moat_sipx_get((enum moat_sipx_impl)impl);
		be.sipx_impl = (enum moat_sipx_impl)impl;
		if (!be.sipx) {
			cr_log_warn("this CPU lacks %s: not tested",
				    moat_sipx_name((enum moat_sipx_impl)impl));
			continue;
		}
		burst_cookies_agree(&be, impl == MOAT_SIPX_SCALAR ? 100000 : 1000000);
		ran++;
	}
	moat_be_free(&be);
	cr_assert_geq(ran, 1);
}
