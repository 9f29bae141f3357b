// SPDX-License-Identifier: BSD-3-Clause
/*
 * The SYN fast path (core/fastsyn.h) held to the general path, both as
 * xdp/moat.bpf.c's moat_xdp() runs them through core/host.h: random frames
 * (SYNs mostly, with random option layouts, addresses, ports, VLAN tags or
 * none, IPv4 and IPv6, IP options, fragments, payloads, trailing bytes,
 * damaged headers and truncations) go through a host with the fast path and
 * through one without it, each with its own tables, under several policies.
 * Every frame the fast path takes must come out of it exactly as out of the
 * general path: the same pkt fields, the same decision and reason, the same
 * cookie and the same SYN-ACK bytes; and every frame of a layout the fast
 * path promises to take must be taken.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#define NSLOTS 64
#include "array_be.h"
#include "core/fastsyn.h"
#include "core/host.h"
#include "frames.h"

#define FRAMES 100000
#define T0 ((u64)1700000000 * MOAT_NSEC_PER_SEC)

static const struct moat_cookie_secrets sec = { { 0x0123456789abcdefULL, 0xfedcba9876543210ULL },
						{ 0x1111111111111111ULL, 0x2222222222222222ULL } };

/* ---- random frames ---- */

static u64 rng_state;

static u32 rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (u32)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static u32 below(u32 n)
{
	return rnd() % n;
}

/* 1 with probability pct percent. */
static int chance(u32 pct)
{
	return below(100) < pct;
}

/* Addresses from small pools, so limits, lists and flood detection engage. */
static const u32 clients4[] = { 0x0a000001, 0x0a000002, 0x0a000063, 0x0a000105, 0xc0a80107 };
static const u32 servers4[] = { 0xc0a80002, 0xc0a80003 };
static const u16 ports[] = { 80, 443, 8080, 22 };

static u32 pick_client4(void)
{
	return chance(60) ? clients4[below(sizeof(clients4) / sizeof(clients4[0]))] : rnd();
}

static void addr6(u8 a[16], int client)
{
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	a[15] = client ? (u8)(1 + below(4)) : 0x80;
	if (client && chance(40))
		put32(a + 8, rnd());
}

/*
 * TCP options in o (a multiple of 4 bytes, at most 40): *fast says whether
 * the layout is one moat_tcp_opts_fast() decodes.
 */
static size_t gen_opts(u8 *o, int *fast)
{
	static const u8 kinds[] = { 2, 3, 4, 8, 1, 1 };
	size_t n = 0;
	int i, k;

	*fast = 0;
	switch (below(9)) {
	case 0:
		*fast = 1;
		return 0;
	case 1:
		*fast = 1;
		return opt_mss(o, (u16)(rnd() & 0xFFFF));
	case 2:
		*fast = 1;
		n = opt_nop(o);
		n += opt_nop(o + n);
		return n + opt_ts(o + n, rnd(), rnd());
	case 3:
	case 4:
		/* Linux's SYN: MSS, SACK-permitted, timestamps, NOP, window scale. */
		*fast = 1;
		n = opt_mss(o, (u16)(536 + below(9000)));
		n += opt_sackperm(o + n);
		n += opt_ts(o + n, rnd(), chance(80) ? 0 : rnd());
		n += opt_nop(o + n);
		n += opt_ws(o + n, (u8)below(16));
		if (chance(15)) {
			/* one byte changed: another layout, or a bad one */
			o[below((u32)n)] = (u8)rnd();
			*fast = 0;
		}
		return n;
	case 5:
		/* The same options in another order, padded. */
		for (i = 0; i < 6 && n < 28; i++) {
			k = kinds[below(sizeof(kinds))];
			if (k == 2)
				n += opt_mss(o + n, (u16)rnd());
			else if (k == 3)
				n += opt_ws(o + n, (u8)below(20));
			else if (k == 4)
				n += opt_sackperm(o + n);
			else if (k == 8)
				n += opt_ts(o + n, rnd(), rnd());
			else
				n += opt_nop(o + n);
		}
		if (chance(30))
			o[n++] = 0; /* EOL */
		return opt_pad(o, n);
	case 6:
		/* SACK blocks or Fast Open beside MSS. */
		n = opt_mss(o, 1460);
		n += chance(50) ? opt_sack(o + n, 1 + (int)below(3), rnd()) :
				  opt_tfo(o + n, (u8)(chance(50) ? 0 : 4 + 2 * below(7)));
		return opt_pad(o, n);
	default:
		/* Garbage. */
		n = 4 * (1 + below(10));
		for (i = 0; i < (int)n; i++)
			o[i] = (u8)rnd();
		return n;
	}
}

/*
 * One random frame into b (FRAME_MAX bytes): its length. *eligible: a frame
 * of the kind the fast path promises to take (untagged IPv4 without options
 * or fragmentation, a SYN with ECE/CWR at most, an option layout decoded
 * without a walk, both ports set, whole).
 */
static size_t gen_frame(u8 *b, int *eligible)
{
	static const u8 syn_flags[] = { MOAT_TCP_SYN, MOAT_TCP_SYN, MOAT_TCP_SYN,
					MOAT_TCP_SYN | MOAT_TCP_ECE | MOAT_TCP_CWR,
					MOAT_TCP_SYN | MOAT_TCP_ECE, MOAT_TCP_SYN | MOAT_TCP_CWR };
	u8 opts[40], s6[16], d6[16];
	int v6 = chance(20), vlans = chance(75) ? 0 : 1 + (int)below(2), fast_opts, ok = 1;
	u32 saddr = pick_client4(), daddr = servers4[below(2)];
	u16 sport = (u16)(1024 + below(64000)), dport = ports[below(4)];
	u16 l3type = v6 ? 0x86DD : 0x0800, frag = chance(70) ? 0x4000 : 0;
	u8 flags, ihl = 5;
	size_t off, l3, l4, optlen, payload = chance(85) ? 0 : 1 + below(40), n;

	if (chance(3))
		saddr = daddr; /* land */
	if (chance(1))
		sport = 0;
	if (chance(1))
		dport = 0;
	if (chance(5))
		dport = (u16)rnd();
	flags = chance(85) ? syn_flags[below(sizeof(syn_flags))] : (u8)rnd();
	optlen = gen_opts(opts, &fast_opts);
	if (chance(8))
		ihl = (u8)(6 + below(3));
	if (chance(8))
		frag = chance(50) ? 0x2000 : (u16)(below(0x2000) | (chance(50) ? 0x2000 : 0));

	if (vlans == 2) {
		off = put_eth(b, 0x88A8);
		off += put_vlan(b + off, (u16)below(4096), 0x8100);
		off += put_vlan(b + off, (u16)below(4096), l3type);
	} else if (vlans == 1) {
		off = put_eth(b, 0x8100);
		off += put_vlan(b + off, (u16)below(4096), l3type);
	} else {
		off = put_eth(b, l3type);
	}
	l3 = off;
	if (v6) {
		addr6(s6, 1);
		addr6(d6, 0);
		if (chance(3))
			memcpy(s6, d6, 16);
		if (chance(10)) {
			off += put_ipv6(b + off, 0, 0, 64, s6, d6);
			off += put_ext6(b + off, 6, (u8)below(2));
		} else if (chance(5)) {
			off += put_ipv6(b + off, 0, 44, 64, s6, d6);
			off += put_frag6(b + off, 6, (u16)below(2), chance(50));
		} else {
			off += put_ipv6(b + off, 0, 6, (u8)(1 + below(255)), s6, d6);
		}
	} else {
		off += put_ipv4(b + off, ihl, 0, frag, (u8)(1 + below(255)), 6, saddr, daddr);
		b[l3 + 1] = (u8)rnd(); /* TOS */
	}
	l4 = off;
	off += put_tcp(b + off, sport, dport, rnd(), chance(90) ? 0 : rnd(), flags,
		       (u16)rnd(), opts, optlen);
	for (n = 0; n < payload; n++)
		b[off++] = (u8)rnd();
	/* Lengths as declared: right, mostly. */
	if (v6)
		put16(b + l3 + 4, (u16)(off - l3 - 40));
	else
		put16(b + l3 + 2, (u16)(off - l3));
	if (chance(4)) {
		ok = 0;
		if (v6)
			put16(b + l3 + 4, (u16)below(120));
		else
			put16(b + l3 + 2, (u16)below(120));
	}
	/* Ethernet padding after the datagram. */
	if (chance(20))
		for (n = 1 + below(24); n; n--)
			b[off++] = (u8)rnd();
	/* Damage: another ethertype, IP version or TCP data offset. */
	if (chance(2)) {
		put16(b + l3 - 2, chance(50) ? 0x0806 : (u16)rnd());
		ok = 0;
	}
	if (chance(1)) {
		b[l3] = (u8)((b[l3] & 0x0F) | (rnd() & 0xF0));
		ok = 0;
	}
	if (chance(2)) {
		b[l4 + 12] = (u8)(rnd() & 0xF0);
		ok = 0;
	}
	if (chance(10)) {
		off = below((u32)off);
		ok = 0;
	}
	*eligible = ok && !v6 && !vlans && ihl == 5 && !(frag & 0x3FFF) && fast_opts && sport &&
		    dport && (flags & ~(MOAT_TCP_ECE | MOAT_TCP_CWR)) == MOAT_TCP_SYN;
	return off;
}

/* ---- the two hosts ---- */

struct host {
	struct moat_be be;
	struct moat_engine e;
	mbool can_complete; /* moat_tc.bpf.o attached (have_reqsk) */
};

/*
 * A copy of frame in a heap buffer of exactly n bytes (its first len, the
 * rest zero), so that AddressSanitizer, where the test is built with it,
 * reports any access past the end a parser or writer is given.
 */
static u8 *exact(const u8 *frame, u32 len, u32 n)
{
	u8 *b = calloc(1, n ? n : 1);

	cr_assert_not_null(b);
	memcpy(b, frame, len < n ? len : n);
	return b;
}

/* What moat_xdp() made of a frame. */
struct outcome {
	int st;	  /* moat_parse()'s status (general path) */
	int step; /* enum moat_host_step */
	enum moat_reason r;
	struct moat_pkt pkt;
	struct moat_cookie cookie;
	u8 out[FRAME_MAX]; /* the frame after: the SYN-ACK when r is syn_cookie */
	u32 out_len;
	int direct; /* moat_synack_write_ip4() wrote the same SYN-ACK */
};

static void host_init(struct host *h, const struct moat_policy *pol, mbool can_complete)
{
	memset(h, 0, sizeof(*h));
	h->be.pol = pol;
	h->e.pol = pol;
	h->e.sec = &sec;
	h->e.be = &h->be;
	h->can_complete = can_complete;
}

static void host_clock(struct host *h, u64 now_ns)
{
	h->e.now_ns = now_ns;
	h->e.ts_clock = (u32)(now_ns / 1000000);
}

/* The reply's IPv4 header and TCP checksums verify, summed from scratch over its bytes. */
static void assert_reply_sums(const u8 *f, const struct moat_pkt *syn, u32 tlen)
{
	const u8 *ip = f + syn->l3_off;
	u32 iplen = syn->family == 6 ? 40 : 20;
	const u8 *tcp = ip + iplen;
	u32 pseudo;

	if (syn->family == 6) {
		pseudo = frame_sum16(0, ip + 8, 32);
	} else {
		cr_assert_eq(frame_fold16(frame_sum16(0, ip, 20)), 0xFFFF, "IPv4 header checksum");
		pseudo = frame_sum16(0, ip + 12, 8);
	}
	pseudo += MOAT_IPPROTO_TCP + tlen;
	cr_assert_eq(frame_fold16(frame_sum16(pseudo, tcp, tlen)), 0xFFFF, "TCP checksum (IPv%u, %u bytes)",
		     syn->family, tlen);
}

/* moat_xdp() without the fast path: parse, triage, moat_g_syn()'s answer. */
static void run_general(struct host *h, const u8 *frame, u32 len, struct outcome *o)
{
	struct moat_result res;
	struct moat_reply reply;
	u8 *b = exact(frame, len, len);
	int direct;

	memset(o, 0, sizeof(*o));
	memcpy(o->out, frame, len);
	o->out_len = len;
	o->st = moat_parse(b, b + len, &o->pkt);
	free(b);
	o->step = moat_host_triage(&h->e, o->st, &o->pkt, &o->r);
	if (o->step != MOAT_HOST_SYN)
		return;
	o->r = moat_host_syn(&h->e, &o->pkt, moat_cookie_slot(h->e.now_ns), h->can_complete, &res);
	if (o->r != MOAT_R_SYN_COOKIE)
		return;
	o->cookie = res.cookie;
	/* moat_answer_syn(): the frame sized to the reply, then written over. */
	moat_synack_build(&reply, &o->pkt, &res.cookie, h->e.pol->synack_wscale);
	o->out_len = moat_reply_len(&o->pkt, reply.tcp_len);
	b = exact(frame, len, o->out_len);
	cr_assert_eq(moat_reply_write(b, b + o->out_len, &o->pkt, &reply), 0);
	assert_reply_sums(b, &o->pkt, reply.tcp_len);
	memcpy(o->out, b, o->out_len);
	free(b);
	/* moat-dp's direct writer, where it takes the SYN: the same frame. */
	b = exact(frame, len, len + MOAT_REPLY_MAX_TCP);
	direct = moat_synack_write_ip4(b, len + MOAT_REPLY_MAX_TCP, &o->pkt, &res.cookie,
				       h->e.pol->synack_wscale);
	if (direct > 0) {
		o->direct = 1;
		cr_assert_eq((u32)direct, o->out_len, "direct SYN-ACK length");
		cr_assert_arr_eq(b, o->out, o->out_len, "direct SYN-ACK bytes");
	} else {
		cr_assert(o->pkt.family != 4 || o->pkt.l3_off != MOAT_ETH_HLEN ||
				  o->pkt.l4_off != MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN,
			  "the direct writer refused an untagged IPv4 SYN without options");
	}
	free(b);
}

/* moat_fast_syn(): 0 when it decided the frame, -1 when it left it to the general path. */
static int run_fast(struct host *h, const u8 *frame, u32 len, struct outcome *o)
{
	struct moat_synack_fast w;
	struct moat_result res;
	u8 *b = exact(frame, len, len);
	u32 tlen;
	int r;

	memset(o, 0, sizeof(*o));
	memcpy(o->out, frame, len);
	o->out_len = len;
	r = moat_fast_parse_syn(b, b + len, &o->pkt);
	free(b);
	if (r)
		return -1;
	o->st = MOAT_PARSE_TCP;
	o->step = moat_host_triage(&h->e, MOAT_PARSE_TCP, &o->pkt, &o->r);
	if (o->step == MOAT_HOST_DONE)
		return 0;
	if (o->step != MOAT_HOST_SYN)
		return -1;
	o->r = moat_host_syn(&h->e, &o->pkt, moat_cookie_slot(h->e.now_ns), h->can_complete, &res);
	if (o->r != MOAT_R_SYN_COOKIE)
		return 0;
	o->cookie = res.cookie;
	/* moat_answer_syn_fast(): built aside, the frame sized, then stored in words. */
	tlen = moat_synack_fast_build(&w, &o->pkt, &res.cookie, h->e.pol->synack_wscale);
	o->out_len = MOAT_SYNACK_FAST_LEN(tlen);
	b = exact(frame, len, o->out_len);
	cr_assert_eq(moat_synack_fast_write(b, b + o->out_len, &w, tlen), 0);
	memcpy(o->out, b, o->out_len);
	free(b);
	return 0;
}

/* The first field of pkt where a and b differ, for the failure message. */
static const char *pkt_diff(const struct moat_pkt *a, const struct moat_pkt *b)
{
#define FIELD(f)                                                                                   \
	do {                                                                                       \
		if (memcmp(&a->f, &b->f, sizeof(a->f)))                                            \
			return #f;                                                                 \
	} while (0)
	FIELD(l3_off);
	FIELD(l4_off);
	FIELD(payload_off);
	FIELD(payload_len);
	FIELD(l3_len);
	FIELD(vlan_tci);
	FIELD(vlan_count);
	FIELD(family);
	FIELD(proto);
	FIELD(ttl);
	FIELD(tos);
	FIELD(frag);
	FIELD(tcp_flags);
	FIELD(tcp_hlen);
	FIELD(sport);
	FIELD(dport);
	FIELD(seq);
	FIELD(ack);
	FIELD(window);
	FIELD(saddr);
	FIELD(daddr);
	FIELD(opt);
#undef FIELD
	return memcmp(a, b, sizeof(*a)) ? "padding" : NULL;
}

static void hexdump(const char *what, const u8 *p, u32 n)
{
	u32 i;

	fprintf(stderr, "%s (%u bytes):", what, n);
	for (i = 0; i < n; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", p[i]);
	fprintf(stderr, "\n");
}

struct tally {
	unsigned int frames, fast, eligible, cookies, fast_cookies, syn_other, listed, direct;
	unsigned int fast_segs; /* other segments than bare SYNs moat_fast_parse_tcp() took */
	unsigned int reasons[MOAT_R_COUNT];
};

/* Allow and deny lists, the same in both hosts. */
typedef void lists_fn(struct moat_be *be);

/*
 * FRAMES random frames from seed through both hosts under pol (and lists,
 * if any), the clock moving up to 2 ms a frame; every frame the fast path
 * takes must match.
 */
static void compare(const char *name, const struct moat_policy *pol, mbool can_complete,
		    lists_fn *lists, u64 seed, struct tally *t)
{
	static struct host gen, fst;
	static struct outcome g, f;
	u8 frame[FRAME_MAX];
	u64 now = T0;
	unsigned int i;

	host_init(&gen, pol, can_complete);
	host_init(&fst, pol, can_complete);
	if (lists) {
		lists(&gen.be);
		lists(&fst.be);
	}
	rng_state = seed;
	memset(t, 0, sizeof(*t));
	for (i = 0; i < FRAMES; i++) {
		int eligible, took;
		u32 len = (u32)gen_frame(frame, &eligible);
		struct moat_pkt fp;
		const char *d;

		now += below(2000000);
		host_clock(&gen, now);
		host_clock(&fst, now);
		run_general(&gen, frame, len, &g);
		took = run_fast(&fst, frame, len, &f) == 0;
		if (!took)
			run_general(&fst, frame, len, &f); /* as moat_xdp() falls back */
		t->frames++;
		t->reasons[g.r]++;
		t->eligible += (unsigned int)eligible;
		t->cookies += g.r == MOAT_R_SYN_COOKIE;
		t->direct += g.direct;
		t->listed += g.r == MOAT_R_DENYLISTED || g.r == MOAT_R_ALLOWLISTED;
		t->syn_other += g.step == MOAT_HOST_SYN && g.r != MOAT_R_SYN_COOKIE;
		if (!moat_fast_parse_tcp(frame, frame + len, &fp)) {
			/* moat-dp parses with it alone: the general parse's pkt, whatever comes next. */
			t->fast_segs += !(fp.tcp_flags & MOAT_TCP_SYN) || (fp.tcp_flags & MOAT_TCP_ACK);
			d = pkt_diff(&fp, &g.pkt);
			cr_assert(g.st == MOAT_PARSE_TCP && !d,
				  "%s: frame %u (seed %llu): fast parse differs (general %d, %s)", name,
				  i, (unsigned long long)seed, g.st, d ? d : "same pkt");
			if (eligible && !took)
				eligible = 0; /* parsed, then handed on by the triage (not protected) */
		}
		if (eligible)
			cr_assert(took || g.step == MOAT_HOST_SOCKET,
				  "%s: frame %u (seed %llu): the fast path refused a frame it promises "
				  "to take",
				  name, i, (unsigned long long)seed);
		if (!took)
			continue;
		t->fast++;
		t->fast_cookies += f.r == MOAT_R_SYN_COOKIE;
		d = pkt_diff(&f.pkt, &g.pkt);
		if (g.st != MOAT_PARSE_TCP || d || f.step != g.step || f.r != g.r ||
		    f.cookie.isn != g.cookie.isn || f.cookie.tsval != g.cookie.tsval ||
		    f.cookie.mss != g.cookie.mss || f.out_len != g.out_len ||
		    memcmp(f.out, g.out, g.out_len)) {
			hexdump("frame", frame, len);
			hexdump("general path out", g.out, g.out_len);
			hexdump("fast path out", f.out, f.out_len);
			cr_assert_fail("%s: frame %u (seed %llu): parse %d, pkt differs in %s, step %d/%d, "
				 "reason %s/%s (general/fast), out %u/%u bytes",
				 name, i, (unsigned long long)seed, g.st, d ? d : "nothing", g.step,
				 f.step, moat_reason_name(g.r), moat_reason_name(f.r), g.out_len,
				 f.out_len);
		}
	}
	cr_log_info("%s: %u frames, %u by the fast path (%u cookies of %u), %u eligible", name,
		    t->frames, t->fast, t->fast_cookies, t->cookies, t->eligible);
}

/* Every policy: the fast path must have had a fair share to prove itself on. */
static void enough(const struct tally *t)
{
	cr_assert_gt(t->fast, t->frames / 12, "fast path took %u of %u frames", t->fast, t->frames);
	if (t->cookies > 1000)
		cr_assert_gt(t->direct, t->cookies / 4, "direct SYN-ACKs: %u of %u", t->direct,
			     t->cookies);
	cr_assert_gt(t->eligible, t->frames / 8);
	cr_assert_gt(t->fast_segs, 1000, "moat-dp's fast parse took %u segments other than SYNs",
		     t->fast_segs);
	cr_assert_gt(t->reasons[MOAT_R_MALFORMED], 100);
	cr_assert_gt(t->reasons[MOAT_R_LAND], 100);
	cr_assert_gt(t->reasons[MOAT_R_BAD_FLAGS], 100);
}

static struct moat_policy pol;

static void setup(void)
{
	moat_policy_defaults(&pol);
}

TestSuite(fastsyn, .init = setup);

Test(fastsyn, auto_cookies_engage_per_destination)
{
	struct tally t;

	pol.syn_trigger = 50;
	compare("auto", &pol, 1, NULL, 1, &t);
	enough(&t);
	cr_assert_gt(t.fast_cookies, 1000);
	cr_assert_gt(t.syn_other, 100, "below the trigger: the kernel's handshake");
}

Test(fastsyn, always_some_ports_wscale_9)
{
	struct tally t;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	pol.synack_wscale = 9;
	moat_policy_protect_port(&pol, 80);
	moat_policy_protect_port(&pol, 443);
	compare("always", &pol, 1, NULL, 2, &t);
	enough(&t);
	cr_assert_gt(t.fast_cookies, 1000);
	cr_assert_gt(t.reasons[MOAT_R_NOT_PROTECTED], 1000);
}

Test(fastsyn, cookies_off)
{
	struct tally t;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	compare("off", &pol, 1, NULL, 3, &t);
	enough(&t);
	cr_assert_eq(t.cookies, 0);
	cr_assert_gt(t.reasons[MOAT_R_HANDSHAKE], 1000);
}

Test(fastsyn, source_and_prefix_limits)
{
	struct tally t;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	pol.synack_wscale = 14;
	pol.source.syn_rate = 20;
	pol.source.syn_burst = 5;
	pol.prefix.syn_rate = 50;
	compare("limits", &pol, 1, NULL, 4, &t);
	enough(&t);
	cr_assert_gt(t.fast_cookies, 1000);
	cr_assert_gt(t.reasons[MOAT_R_SOURCE_RATE], 1000);
}

/* Lists over the address pools: a client denied, its /24 allowed, a server's /31 denied. */
static void some_lists(struct moat_be *be)
{
	array_be_list_add4(be, 0x0a000002, 32, MOAT_LIST_DENY);
	array_be_list_add4(be, 0x0a000000, 24, MOAT_LIST_ALLOW);
	array_be_list_add4(be, 0xc0a80102, 31, MOAT_LIST_DENY);
	array_be_list_add4(be, 0xc0a80003, 32, MOAT_LIST_ALLOW);
}

Test(fastsyn, allow_and_deny_lists)
{
	struct tally t;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	compare("lists", &pol, 1, some_lists, 5, &t);
	enough(&t);
	cr_assert_gt(t.listed, 1000);
}

Test(fastsyn, without_the_tc_half)
{
	struct tally t;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	compare("no reqsk", &pol, 0, NULL, 6, &t);
	enough(&t);
	cr_assert_eq(t.cookies, 0, "no cookie that could not complete");
	cr_assert_gt(t.reasons[MOAT_R_HANDSHAKE], 1000);
}
