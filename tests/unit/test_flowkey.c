/* SPDX-License-Identifier: BSD-3-Clause */
/* core/flowkey.h: symmetric hash, canonical keys, prefix masks. */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/flowkey.h"

#define SEED 0x9e3779b97f4a7c15ULL

static u64 rng_state = 0x243f6a8885a308d3ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct moat_pkt tuple4(u32 s, u32 d, u16 sp, u16 dp)
{
	struct moat_pkt p;

	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.proto = 6;
	p.saddr.w[0] = moat_htonl(s);
	p.daddr.w[0] = moat_htonl(d);
	p.sport = sp;
	p.dport = dp;
	return p;
}

static struct moat_pkt random_tuple(int family)
{
	struct moat_pkt p = tuple4((u32)rnd(), (u32)rnd(), (u16)(rnd() | 1), (u16)(rnd() | 1));
	int i;

	if (family == 6) {
		p.family = 6;
		for (i = 0; i < 4; i++) {
			p.saddr.w[i] = (u32)rnd();
			p.daddr.w[i] = (u32)rnd();
		}
	}
	return p;
}

static struct moat_pkt reverse(const struct moat_pkt *p)
{
	struct moat_pkt r = *p;

	r.saddr = p->daddr;
	r.daddr = p->saddr;
	r.sport = p->dport;
	r.dport = p->sport;
	return r;
}

Test(flowkey, hash_symmetric)
{
	int i, fam;

	for (fam = 4; fam <= 6; fam += 2)
		for (i = 0; i < 1000; i++) {
			struct moat_pkt p = random_tuple(fam), r = reverse(&p);

			cr_assert_eq(moat_flow_hash_sym(&p, SEED), moat_flow_hash_sym(&r, SEED),
				     "family %d tuple %d", fam, i);
		}
}

Test(flowkey, hash_depends_on_every_field)
{
	struct moat_pkt p = tuple4(0x0a000001, 0x0a000002, 40000, 80), q;
	u32 h = moat_flow_hash_sym(&p, SEED);

	q = p;
	q.sport++;
	cr_assert_neq(moat_flow_hash_sym(&q, SEED), h);
	q = p;
	q.dport++;
	cr_assert_neq(moat_flow_hash_sym(&q, SEED), h);
	q = p;
	q.saddr.w[0] ^= moat_htonl(1);
	cr_assert_neq(moat_flow_hash_sym(&q, SEED), h);
	q = p;
	q.proto = 17;
	cr_assert_neq(moat_flow_hash_sym(&q, SEED), h);
	cr_assert_neq(moat_flow_hash_sym(&p, SEED + 1), h, "seeded");
	/* swapping only the ports is another flow */
	q = p;
	q.sport = p.dport;
	q.dport = p.sport;
	cr_assert_neq(moat_flow_hash_sym(&q, SEED), h);
}

static int cmp_u32(const void *a, const void *b)
{
	u32 x = *(const u32 *)a, y = *(const u32 *)b;

	return x < y ? -1 : x > y;
}

Test(flowkey, port_change_rarely_collides)
{
	enum { N = 20000 };
	u32 *h = malloc(sizeof(*h) * N);
	int i, same = 0, dups = 0, fam;

	cr_assert_not_null(h);
	for (fam = 4; fam <= 6; fam += 2) {
		for (i = 0; i < N; i++) {
			struct moat_pkt p = random_tuple(fam), q = p;

			q.sport = (u16)(q.sport + 1 + (rnd() % 100));
			h[i] = moat_flow_hash_sym(&p, SEED);
			same += h[i] == moat_flow_hash_sym(&q, SEED);
		}
		qsort(h, N, sizeof(*h), cmp_u32);
		for (i = 1; i < N; i++)
			dups += h[i] == h[i - 1];
	}
	free(h);
	/* 2 * 20000 pairs at 2^-32 each, and ~0.1 expected duplicates among the hashes */
	cr_assert_leq(same, 1, "%d port changes kept the hash", same);
	cr_assert_leq(dups, 3, "%d duplicate hashes", dups);
}

/* One endpoint fixed, the other's port walked: the low bits (bucket index) spread. */
Test(flowkey, buckets_spread)
{
	enum { BUCKETS = 64, N = 64 * 200 };
	int count[BUCKETS] = { 0 }, i, min = N, max = 0;

	for (i = 0; i < N; i++) {
		struct moat_pkt p = tuple4(0xc0a80001, 0x0a000002, (u16)(1024 + i), 443);

		count[moat_flow_hash_sym(&p, SEED) % BUCKETS]++;
	}
	for (i = 0; i < BUCKETS; i++) {
		min = count[i] < min ? count[i] : min;
		max = count[i] > max ? count[i] : max;
	}
	cr_assert_gt(min, 120, "min bucket %d", min);
	cr_assert_lt(max, 280, "max bucket %d", max);
}

Test(flowkey, key_same_both_directions_v4)
{
	struct moat_pkt p = tuple4(0x0a000001, 0x0a000002, 40000, 80), r = reverse(&p);
	struct moat_flow_key k1, k2;

	cr_assert_eq(moat_flow_key_make(&p, &k1), 0, "smaller address first: no swap");
	cr_assert_eq(moat_flow_key_make(&r, &k2), 1);
	cr_assert(moat_flow_key_eq(&k1, &k2));
	cr_assert_eq(k1.port_a, 40000);
	cr_assert_eq(k1.port_b, 80);
	cr_assert_eq(k1.a0, moat_htonl(0x0a000001));
	cr_assert_eq(k1.b0, moat_htonl(0x0a000002));
	cr_assert_eq(moat_flow_key_family(&k1), 4);
	/* address comparison is numeric (host order), not the raw memory order */
	p = tuple4(0x02000001, 0x01000002, 1, 2);
	cr_assert_eq(moat_flow_key_make(&p, &k1), 1);
	cr_assert_eq(k1.a0, moat_htonl(0x01000002));
}

/* A flow table keeps an IPv4 key's head only: everything past it must be zero. */
Test(flowkey, key_v4_is_its_head)
{
	struct moat_pkt p = tuple4(0xc0a80001, 0x0a000002, 443, 51000);
	struct moat_flow_key k;
	const u8 *b = (const u8 *)&k;
	struct moat_addr a;
	size_t i;

	memset(&k, 0xee, sizeof(k));
	moat_flow_key_make(&p, &k);
	cr_assert_eq(MOAT_FLOW_KEY_HEAD, 12);
	for (i = MOAT_FLOW_KEY_HEAD; i < sizeof(k); i++)
		cr_assert_eq(b[i], 0, "byte %zu", i);
	moat_flow_key_addr(&k, 1, &a);
	cr_assert(moat_addr_eq(&a, &p.saddr), "the larger address is endpoint b");
	moat_flow_key_addr(&k, 0, &a);
	cr_assert(moat_addr_eq(&a, &p.daddr));
}

/* An IPv6 key is never all zero past the head, even for addresses ::x. */
Test(flowkey, key_v6_has_a_tail)
{
	struct moat_pkt p = tuple4(1, 2, 1, 2);
	struct moat_flow_key k;
	const u8 *b = (const u8 *)&k;
	u8 any = 0;
	size_t i;

	p.family = 6;
	moat_flow_key_make(&p, &k);
	for (i = MOAT_FLOW_KEY_HEAD; i < sizeof(k); i++)
		any |= b[i];
	cr_assert(any);
	cr_assert_eq(moat_flow_key_family(&k), 6);
}

Test(flowkey, key_same_address_ordered_by_port)
{
	struct moat_pkt p = tuple4(0x7f000001, 0x7f000001, 5000, 6000), r = reverse(&p);
	struct moat_flow_key k1, k2;

	cr_assert_eq(moat_flow_key_make(&p, &k1), 0);
	cr_assert_eq(moat_flow_key_make(&r, &k2), 1);
	cr_assert(moat_flow_key_eq(&k1, &k2));
}

Test(flowkey, key_v6_and_inequality)
{
	int i;

	for (i = 0; i < 500; i++) {
		struct moat_pkt p = random_tuple(6), r = reverse(&p), q = p;
		struct moat_flow_key k1, k2, k3;
		u32 d1 = moat_flow_key_make(&p, &k1), d2 = moat_flow_key_make(&r, &k2);

		cr_assert(moat_flow_key_eq(&k1, &k2));
		cr_assert_eq(d1 ^ d2, 1);
		q.dport ^= 0x100;
		moat_flow_key_make(&q, &k3);
		cr_assert_not(moat_flow_key_eq(&k1, &k3));
	}
}

static struct moat_addr a4(u32 host)
{
	struct moat_addr a = { { moat_htonl(host), 0, 0, 0 } };

	return a;
}

Test(flowkey, mask_v4)
{
	struct moat_addr in = a4(0x0a141e28), out; /* 10.20.30.40 */

	moat_addr_mask(&out, &in, 4, 0);
	cr_assert_eq(out.w[0], 0);
	moat_addr_mask(&out, &in, 4, 8);
	cr_assert_eq(out.w[0], moat_htonl(0x0a000000));
	moat_addr_mask(&out, &in, 4, 24);
	cr_assert_eq(out.w[0], moat_htonl(0x0a141e00));
	moat_addr_mask(&out, &in, 4, 31);
	cr_assert_eq(out.w[0], moat_htonl(0x0a141e28));
	moat_addr_mask(&out, &in, 4, 32);
	cr_assert_eq(out.w[0], moat_htonl(0x0a141e28));
	moat_addr_mask(&out, &in, 4, 64);
	cr_assert_eq(out.w[0], moat_htonl(0x0a141e28));
	cr_assert_eq(out.w[1] | out.w[2] | out.w[3], 0);
	in = a4(0xffffffff);
	moat_addr_mask(&out, &in, 4, 1);
	cr_assert_eq(out.w[0], moat_htonl(0x80000000));
}

Test(flowkey, mask_v6)
{
	/* 2001:db8:1:2:3:4:5:7 */
	struct moat_addr in = { { moat_htonl(0x20010db8), moat_htonl(0x00010002),
				  moat_htonl(0x00030004), moat_htonl(0x00050007) } },
			 out;

	moat_addr_mask(&out, &in, 6, 64);
	cr_assert_eq(out.w[0], in.w[0]);
	cr_assert_eq(out.w[1], in.w[1]);
	cr_assert_eq(out.w[2] | out.w[3], 0);
	moat_addr_mask(&out, &in, 6, 127);
	cr_assert_eq(out.w[2], in.w[2]);
	cr_assert_eq(out.w[3], moat_htonl(0x00050006));
	moat_addr_mask(&out, &in, 6, 128);
	cr_assert_arr_eq(out.w, in.w, sizeof(in.w));
	moat_addr_mask(&out, &in, 6, 48);
	cr_assert_eq(out.w[1], moat_htonl(0x00010000));
	cr_assert_eq(out.w[2] | out.w[3], 0);
	moat_addr_mask(&out, &in, 6, 0);
	cr_assert_eq(out.w[0] | out.w[1] | out.w[2] | out.w[3], 0);
	moat_addr_mask(&out, &in, 6, 200);
	cr_assert_arr_eq(out.w, in.w, sizeof(in.w));
}
