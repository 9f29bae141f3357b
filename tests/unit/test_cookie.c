/* SPDX-License-Identifier: BSD-3-Clause */
/* core/siphash.h known answers and core/cookie.h round trips, expiry and tampering. */
#include <criterion/criterion.h>

#include "core/cookie.h"

/* ---- SipHash-2-4 reference vectors (key 00..0f, message 00..n-1) ---- */

static const struct moat_siphash_key ref_key = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };

Test(siphash, empty_message)
{
	u64 none[1] = { 0 };

	cr_assert_eq(moat_siphash24(&ref_key, none, 0), 0x726fdb47dd0e0e31ULL);
}

Test(siphash, one_word)
{
	const u64 m[1] = { 0x0706050403020100ULL };

	cr_assert_eq(moat_siphash24(&ref_key, m, 1), 0x93f5f5799a932462ULL);
}

Test(siphash, two_words)
{
	const u64 m[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };

	cr_assert_eq(moat_siphash24(&ref_key, m, 2), 0x3f2acc7f57c29bdbULL);
}

/* The paper's vector: 15 bytes 00..0e, one word and a 7-byte tail. */
Test(siphash, word_and_tail)
{
	const u64 m[1] = { 0x0706050403020100ULL };

	cr_assert_eq(moat_siphash24_tail(&ref_key, m, 1, 0x0e0d0c0b0a0908ULL, 7), 0xa129ca6149be45e5ULL);
	/* bytes above the tail length are not part of the message */
	cr_assert_eq(moat_siphash24_tail(&ref_key, m, 1, 0xff0e0d0c0b0a0908ULL, 7), 0xa129ca6149be45e5ULL);
}

Test(siphash, key_and_length_matter)
{
	const u64 m[2] = { 0x0706050403020100ULL, 0 };
	struct moat_siphash_key k2 = ref_key;

	k2.k1 ^= 1;
	cr_assert_neq(moat_siphash24(&k2, m, 1), 0x93f5f5799a932462ULL);
	/* a trailing zero word is not the same message */
	cr_assert_neq(moat_siphash24(&ref_key, m, 2), moat_siphash24(&ref_key, m, 1));
}

/* ---- SYN cookies ---- */

#define SLOT_START_S (26562500ULL * 64) /* a slot boundary: 1700000000 s */
#define T0 (SLOT_START_S * MOAT_NSEC_PER_SEC + 500000000ULL)
#define SEC(x) ((u64)(x) * MOAT_NSEC_PER_SEC)
#define TS_CLOCK 0x12345678u

static const struct moat_cookie_secrets secA = { { 0x1111, 0x2222 }, { 0x3333, 0x4444 } };

struct synopt {
	int mss; /* -1: no MSS option */
	int ws;	 /* -1: no window scale option */
	int sack;
	int ts;
	int ecn;
};

static void mk_syn(struct moat_pkt *p, u8 family, u32 isn, const struct synopt *o)
{
	memset(p, 0, sizeof(*p));
	p->family = family;
	p->proto = 6;
	if (family == 6) {
		p->saddr.w[0] = moat_htonl(0x20010db8);
		p->saddr.w[3] = moat_htonl(0x10);
		p->daddr.w[0] = moat_htonl(0x20010db8);
		p->daddr.w[3] = moat_htonl(0x20);
	} else {
		p->saddr.w[0] = moat_htonl(0xc0000201);
		p->daddr.w[0] = moat_htonl(0xc6336402);
	}
	p->sport = 51000;
	p->dport = 443;
	p->seq = isn;
	p->tcp_flags = MOAT_TCP_SYN | (o->ecn ? MOAT_TCP_ECE | MOAT_TCP_CWR : 0);
	p->window = 64240;
	p->ttl = 64;
	if (o->mss >= 0) {
		p->opt.present |= MOAT_OPT_MSS;
		p->opt.mss = (u16)o->mss;
	}
	if (o->ws >= 0) {
		p->opt.present |= MOAT_OPT_WSCALE;
		p->opt.wscale = (u8)o->ws;
	}
	if (o->sack)
		p->opt.present |= MOAT_OPT_SACK_PERM;
	if (o->ts) {
		p->opt.present |= MOAT_OPT_TS;
		p->opt.tsval = 0xabcdef01;
	}
}

/* The client's ACK completing the handshake against cookie c. */
static void mk_ack(struct moat_pkt *a, const struct moat_pkt *syn, const struct moat_cookie *c)
{
	*a = *syn;
	a->tcp_flags = MOAT_TCP_ACK;
	a->seq = syn->seq + 1;
	a->ack = c->isn + 1;
	memset(&a->opt, 0, sizeof(a->opt));
	if (syn->opt.present & MOAT_OPT_TS) {
		a->opt.present = MOAT_OPT_TS;
		a->opt.tsval = syn->opt.tsval + 1;
		a->opt.tsecr = c->tsval;
	}
}

static u16 expect_mss(u8 family, int client)
{
	static const u16 v4[4] = { 536, 1300, 1440, 1460 }, v6[4] = { 1220, 1400, 1440, 1460 };
	const u16 *t = family == 6 ? v6 : v4;
	int i;

	if (client < 0)
		return t[0];
	for (i = 3; i > 0; i--)
		if (t[i] <= client)
			return t[i];
	return t[0];
}

static void round_trip(u8 family, const struct synopt *o, u32 isn)
{
	struct moat_pkt syn, ack;
	struct moat_cookie c;
	struct moat_syn_opts d;
	int r, want_ws = o->ws >= 0;

	mk_syn(&syn, family, isn, o);
	moat_cookie_make(&secA.cur, &syn, T0, TS_CLOCK, &c);
	cr_assert_eq(c.mss, expect_mss(family, o->mss), "v%u mss %d: cookie mss %u", family, o->mss,
		     c.mss);
	if (o->ts)
		cr_assert_eq(c.isn >> 29, (u32)(SLOT_START_S / 64) & 7);
	else
		cr_assert_eq(c.isn >> 30, (u32)(SLOT_START_S / 64) & 3);
	if (o->ts)
		cr_assert_eq(c.tsval & ~0x3Fu, TS_CLOCK & ~0x3Fu);
	mk_ack(&ack, &syn, &c);
	memset(&d, 0xEE, sizeof(d));
	r = moat_cookie_check(&secA, &ack, T0, &d);
	cr_assert_eq(r, 0, "v%u mss %d ws %d sack %d ts %d ecn %d: check %d", family, o->mss, o->ws,
		     o->sack, o->ts, o->ecn, r);
	cr_assert_eq(d.mss, expect_mss(family, o->mss), "mss %d -> %u", o->mss, d.mss);
	cr_assert_eq(d.has_ts, !!o->ts);
	cr_assert_eq(d.has_wscale, want_ws, "ws %d ts %d", o->ws, o->ts);
	cr_assert_eq(d.wscale, want_ws ? (o->ws > 14 ? 14 : o->ws) : 0, "ws %d -> %u", o->ws,
		     d.wscale);
	cr_assert_eq(d.sack_ok, !!o->sack);
	cr_assert_eq(d.ecn, !!o->ecn);
}

Test(cookie, round_trip_all_option_combinations)
{
	static const int mss4[] = { -1, 100,  535,  536,  537,  1299, 1300, 1301,
				    1439, 1440, 1441, 1459, 1460, 1461, 9000, 65535 };
	static const int mss6[] = { -1, 100,  1219, 1220, 1221, 1399, 1400, 1401,
				    1439, 1440, 1441, 1459, 1460, 1461, 9000, 65535 };
	static const int ws[] = { -1, 0, 7, 14, 15 };
	int fam, m, w, sack, ts, ecn;

	for (fam = 0; fam < 2; fam++)
		for (m = 0; m < 16; m++)
			for (w = 0; w < 5; w++)
				for (sack = 0; sack < 2; sack++)
					for (ts = 0; ts < 2; ts++)
						for (ecn = 0; ecn < 2; ecn++) {
							struct synopt o = {
								.mss = fam ? mss6[m] : mss4[m],
								.ws = ws[w],
								.sack = sack,
								.ts = ts,
								.ecn = ecn,
							};

							round_trip(fam ? 6 : 4, &o, 0x5eed0000u);
						}
}

Test(cookie, ecn_needs_both_flags)
{
	struct synopt o = { .mss = 1460, .ws = 7, .sack = 1, .ts = 1 };
	struct moat_pkt syn, ack;
	struct moat_cookie c;
	struct moat_syn_opts d;

	mk_syn(&syn, 4, 77, &o);
	syn.tcp_flags = MOAT_TCP_SYN | MOAT_TCP_ECE;
	moat_cookie_make(&secA.cur, &syn, T0, TS_CLOCK, &c);
	mk_ack(&ack, &syn, &c);
	cr_assert_eq(moat_cookie_check(&secA, &ack, T0, &d), 0);
	cr_assert_eq(d.ecn, 0);
}

Test(cookie, sequence_wrap)
{
	struct synopt o = { .mss = 1460, .ws = 7, .sack = 1, .ts = 1, .ecn = 1 };
	struct synopt plain = { .mss = 1300, .ws = -1 };

	round_trip(4, &o, 0xFFFFFFFFu);
	round_trip(6, &o, 0xFFFFFFFFu);
	round_trip(4, &plain, 0xFFFFFFFFu);
	round_trip(4, &o, 0);
}

/* Make a v4 cookie with TS at `made`, check its ACK at `at`. */
static int check_at(u64 made, u64 at)
{
	struct synopt o = { .mss = 1460, .ws = 7, .sack = 1, .ts = 1 };
	struct moat_pkt syn, ack;
	struct moat_cookie c;
	struct moat_syn_opts d;

	mk_syn(&syn, 4, 12345, &o);
	moat_cookie_make(&secA.cur, &syn, made, TS_CLOCK, &c);
	mk_ack(&ack, &syn, &c);
	return moat_cookie_check(&secA, &ack, at, &d);
}

Test(cookie, expiry)
{
	u64 start = SEC(SLOT_START_S);

	cr_assert_eq(check_at(start, start), 0);
	cr_assert_eq(check_at(start, start + SEC(63)), 0);
	cr_assert_eq(check_at(start, start + SEC(64)), 0, "valid 64 s after its slot");
	cr_assert_eq(check_at(start, start + SEC(127)), 0);
	cr_assert_eq(check_at(start, start + SEC(128)), -MOAT_ETIME, "2 slots later");
	cr_assert_eq(check_at(start + SEC(63), start + SEC(128)), -MOAT_ETIME);
	cr_assert_eq(check_at(start, start + SEC(6 * 64)), -MOAT_ETIME);
	/* 7 slots later the 3-bit slot reads as one ahead: the MAC (full slot) refuses it */
	cr_assert_neq(check_at(start, start + SEC(7 * 64)), 0);
	/* 8 slots later the 3-bit slot aliases age 0: the MAC (full slot) refuses it */
	cr_assert_neq(check_at(start, start + SEC(8 * 64)), 0);
	cr_assert_neq(check_at(start, start + SEC(9 * 64)), 0);
	/* a checking clock up to a slot behind the making one's (a fleet's skew) */
	cr_assert_eq(check_at(start, start - SEC(1)), 0);
	cr_assert_eq(check_at(start + SEC(63), start - SEC(1)), 0);
	cr_assert_eq(check_at(start, start - SEC(65)), -MOAT_ETIME, "two slots behind");
}

/* The same without a timestamp: 2 slot bits, the options in the ISN. */
static int check_at_nots(u64 made, u64 at, struct moat_syn_opts *d)
{
	struct synopt o = { .mss = 1460, .ws = 8, .sack = 1, .ecn = 1 };
	struct moat_pkt syn, ack;
	struct moat_cookie c;

	mk_syn(&syn, 4, 12345, &o);
	moat_cookie_make(&secA.cur, &syn, made, TS_CLOCK, &c);
	mk_ack(&ack, &syn, &c);
	return moat_cookie_check(&secA, &ack, at, d);
}

Test(cookie, expiry_without_timestamp)
{
	u64 start = SEC(SLOT_START_S);
	struct moat_syn_opts d;

	cr_assert_eq(check_at_nots(start, start + SEC(127), &d), 0);
	cr_assert_eq(d.wscale, 8);
	cr_assert(d.has_wscale && d.sack_ok && d.ecn && !d.has_ts);
	cr_assert_eq(check_at_nots(start, start - SEC(1), &d), 0, "a slot behind");
	cr_assert_eq(check_at_nots(start, start + SEC(128), &d), -MOAT_ETIME, "2 slots later");
	/* 3 slots later the 2-bit slot reads as one ahead: the MAC (full slot) refuses it */
	cr_assert_neq(check_at_nots(start, start + SEC(3 * 64), &d), 0);
	cr_assert_neq(check_at_nots(start, start + SEC(4 * 64), &d), 0);
}

/*
 * A fleet: each node's cookie clock is its boot time plus its monotonic clock
 * (what moatd's offset and moat-dp's anchor give), so nodes booted 10 minutes,
 * a day or a year apart agree; clocks apart by less than a slot always do.
 */
struct node {
	u64 boot_unix_ns; /* CLOCK_REALTIME at CLOCK_MONOTONIC 0 */
};

static u64 node_clock(const struct node *n, u64 unix_ns)
{
	u64 mono = unix_ns - n->boot_unix_ns; /* what the node's monotonic clock reads */

	return n->boot_unix_ns + mono;
}

static int fleet_check(const struct node *a, const struct node *b, u64 made_unix, s64 skew_ns,
		       int ts)
{
	struct synopt o = { .mss = 1460, .ws = 7, .sack = 1, .ts = ts };
	struct moat_pkt syn, ack;
	struct moat_cookie c;
	struct moat_syn_opts d;

	mk_syn(&syn, 4, 0xfeed, &o);
	moat_cookie_make(&secA.cur, &syn, node_clock(a, made_unix), TS_CLOCK, &c);
	mk_ack(&ack, &syn, &c);
	return moat_cookie_check(&secA, &ack, node_clock(b, made_unix + SEC(1)) + (u64)skew_ns, &d);
}

Test(cookie, fleet_boot_times_do_not_matter)
{
	const u64 now = SEC(SLOT_START_S);
	const struct node a = { now - SEC(3600) };
	const u64 apart[] = { SEC(600), SEC(86400), SEC(365ULL * 86400) };
	unsigned int i, ph, ts;

	for (i = 0; i < 3; i++) {
		struct node b = { a.boot_unix_ns - apart[i] };

		for (ts = 0; ts < 2; ts++)
			for (ph = 0; ph < 64; ph += 7)
				cr_assert_eq(fleet_check(&a, &b, now + SEC(ph), 0, (int)ts), 0,
					     "boots %llu s apart, phase %u, ts %u",
					     (unsigned long long)(apart[i] / MOAT_NSEC_PER_SEC), ph, ts);
	}
}

Test(cookie, fleet_skew_tolerance)
{
	const u64 now = SEC(SLOT_START_S);
	const struct node a = { now - SEC(100) }, b = { now - SEC(86400) };
	const s64 inside[] = { -SEC(62), -SEC(30), -SEC(1), SEC(1), SEC(30), SEC(62) };
	const s64 outside[] = { -SEC(130), SEC(130), -SEC(600), SEC(600) };
	unsigned int i, ph, ts;

	for (ts = 0; ts < 2; ts++)
		for (ph = 0; ph < 64; ph += 3) {
			for (i = 0; i < 6; i++)
				cr_assert_eq(fleet_check(&a, &b, now + SEC(ph), inside[i], (int)ts), 0,
					     "skew %lld s, phase %u, ts %u",
					     (long long)(inside[i] / (s64)MOAT_NSEC_PER_SEC), ph, ts);
			for (i = 0; i < 4; i++)
				cr_assert_neq(fleet_check(&a, &b, now + SEC(ph), outside[i], (int)ts), 0,
					      "skew %lld s, phase %u, ts %u",
					      (long long)(outside[i] / (s64)MOAT_NSEC_PER_SEC), ph, ts);
		}
}

/* Every option bit without a timestamp is covered by the MAC. */
Test(cookie, tampered_isn_options_rejected)
{
	struct synopt o = { .mss = 1460, .ws = 7, .sack = 1, .ecn = 1 };
	struct moat_pkt syn, ack, a;
	struct moat_cookie c;
	struct moat_syn_opts d;
	u32 bit;

	mk_syn(&syn, 4, 4242, &o);
	moat_cookie_make(&secA.cur, &syn, T0, TS_CLOCK, &c);
	mk_ack(&ack, &syn, &c);
	cr_assert_eq(moat_cookie_check(&secA, &ack, T0, &d), 0);
	for (bit = 0; bit < 32; bit++) {
		a = ack;
		a.ack ^= 1u << bit;
		cr_assert_neq(moat_cookie_check(&secA, &a, T0, &d), 0, "ISN bit %u flipped", bit);
	}
	/* adding a timestamp reads the other layout: refused */
	a = ack;
	a.opt.present = MOAT_OPT_TS;
	a.opt.tsecr = c.tsval;
	cr_assert_neq(moat_cookie_check(&secA, &a, T0, &d), 0);
}

struct cookie_case {
	struct moat_pkt syn, ack;
	struct moat_cookie c;
	struct moat_syn_opts d;
};

static void make_case(struct cookie_case *k, u8 family)
{
	struct synopt o = { .mss = 1460, .ws = 7, .sack = 1, .ts = 1, .ecn = 1 };

	mk_syn(&k->syn, family, 0x01020304, &o);
	moat_cookie_make(&secA.cur, &k->syn, T0, TS_CLOCK, &k->c);
	mk_ack(&k->ack, &k->syn, &k->c);
	cr_assert_eq(moat_cookie_check(&secA, &k->ack, T0, &k->d), 0);
}

Test(cookie, other_tuple_rejected_v4)
{
	struct cookie_case k;
	struct moat_pkt a;

	make_case(&k, 4);
	a = k.ack;
	a.saddr.w[0] ^= moat_htonl(1);
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "saddr");
	a = k.ack;
	a.daddr.w[0] ^= moat_htonl(1);
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "daddr");
	a = k.ack;
	a.sport++;
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "sport");
	a = k.ack;
	a.dport++;
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "dport");
	a = k.ack;
	a.seq++; /* another client ISN */
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "client isn");
	a = k.ack;
	a.ack ^= 1u << MOAT_COOKIE_MAC_BITS; /* another MSS index */
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "mss index");
	a = k.ack;
	a.ack ^= 1; /* MAC bit */
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "mac bit");
}

Test(cookie, other_tuple_rejected_v6)
{
	struct cookie_case k;
	struct moat_pkt a;
	int w;

	make_case(&k, 6);
	cr_assert_eq(k.d.mss, 1460);
	for (w = 0; w < 4; w++) {
		a = k.ack;
		a.saddr.w[w] ^= moat_htonl(0x100);
		cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "saddr w%d", w);
		a = k.ack;
		a.daddr.w[w] ^= moat_htonl(0x100);
		cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES, "daddr w%d", w);
	}
	a = k.ack;
	a.sport ^= 0x8000;
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), -MOAT_EACCES);
}

Test(cookie, other_secret_rejected)
{
	struct cookie_case k;
	const struct moat_cookie_secrets other = { { 0x1111, 0x2223 }, { 0x5555, 0x6666 } };

	make_case(&k, 4);
	cr_assert_eq(moat_cookie_check(&other, &k.ack, T0, &k.d), -MOAT_EACCES);
}

Test(cookie, tampered_tsecr_rejected)
{
	struct cookie_case k;
	struct moat_pkt a;
	u32 bit;

	make_case(&k, 4);
	for (bit = 0; bit < 6; bit++) {
		a = k.ack;
		a.opt.tsecr ^= 1u << bit;
		cr_assert_neq(moat_cookie_check(&secA, &a, T0, &k.d), 0, "TSecr bit %u flipped", bit);
	}
	/* dropping the timestamp loses the option bits: refused too */
	a = k.ack;
	a.opt.present = 0;
	cr_assert_neq(moat_cookie_check(&secA, &a, T0, &k.d), 0);
	/* bits above the six option bits are our clock, not part of the MAC */
	a = k.ack;
	a.opt.tsecr ^= 1u << 20;
	cr_assert_eq(moat_cookie_check(&secA, &a, T0, &k.d), 0);
}

Test(cookie, rotation)
{
	const struct moat_siphash_key A = { 0xa0a0, 0xa1a1 }, B = { 0xb0b0, 0xb1b1 },
				      C = { 0xc0c0, 0xc1c1 };
	struct moat_cookie_secrets sec = { A, C };
	struct synopt o = { .mss = 1440, .ws = 2, .ts = 1 };
	struct moat_pkt syn, ack;
	struct moat_cookie c;
	struct moat_syn_opts d;

	mk_syn(&syn, 4, 999, &o);
	moat_cookie_make(&sec.cur, &syn, T0, TS_CLOCK, &c);
	mk_ack(&ack, &syn, &c);
	cr_assert_eq(moat_cookie_check(&sec, &ack, T0, &d), 0);
	sec.cur = B;
	sec.prev = A;
	cr_assert_eq(moat_cookie_check(&sec, &ack, T0 + SEC(30), &d), 0, "previous secret");
	cr_assert_eq(d.mss, 1440);
	cr_assert_eq(d.wscale, 2);
	sec.prev = C;
	cr_assert_eq(moat_cookie_check(&sec, &ack, T0 + SEC(30), &d), -MOAT_EACCES);
}

Test(cookie, ipv6_round_trip_defaults)
{
	struct synopt none = { .mss = -1, .ws = -1 };
	struct moat_pkt syn, ack;
	struct moat_cookie c;
	struct moat_syn_opts d;

	mk_syn(&syn, 6, 42, &none);
	moat_cookie_make(&secA.cur, &syn, T0, TS_CLOCK, &c);
	cr_assert_eq(c.mss, 1220);
	mk_ack(&ack, &syn, &c);
	cr_assert_eq(moat_cookie_check(&secA, &ack, T0 + SEC(64), &d), 0);
	cr_assert_eq(d.mss, 1220);
	cr_assert_eq(d.has_ts | d.has_wscale | d.sack_ok | d.ecn, 0);
}

/* The MSS index is the largest table entry the client's MSS reaches (index 0 if none), every MSS. */
Test(cookie, mss_index_every_value)
{
	u32 mss, idx, want;
	u8 fam;

	for (fam = 4; fam <= 6; fam += 2)
		for (mss = 0; mss <= 0xFFFF; mss++) {
			for (want = 3; want > 0; want--)
				if (moat_cookie_mss_value(fam, want) <= mss)
					break;
			idx = moat_cookie_mss_index(fam, (u16)mss);
			cr_assert_eq(idx, want, "IPv%u, MSS %u: index %u, want %u", fam, mss, idx, want);
		}
}
