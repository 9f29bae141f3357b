// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fixture tests of the host-mode XDP program (xdp/moat.bpf.c), katran style:
 * a table of {description, input frame, policy tweak, expected XDP action,
 * expected reason, optional check of the output frame}, each row run once
 * through bpf_prog_test_run_opts.
 *
 * The object is opened through the skeleton the loader uses (moat.skel.h) with
 * have_reqsk = 1, as the loader sets it when the TC half loads, so SYNs to
 * protected ports are answered with cookie SYN-ACKs. Nothing is pinned.
 *
 * A cookie SYN-ACK is checked byte by byte with code independent of core/
 * (checksums, option walk), and its cookie is then validated the way the TC
 * half would: the client's ACK is built, parsed by core's moat_parse and
 * checked by moat_cookie_check with the same secrets and the current
 * CLOCK_MONOTONIC time (the clock of bpf_ktime_get_ns).
 *
 * The process moves to a fresh network namespace first (when it can), so no
 * socket of the host can answer the program's socket lookups.
 *
 * Exit 0 when every row passes, 1 otherwise, 77 only when bpf() is not
 * permitted to this (non-root) process.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cookie.h"
#include "core/policy.h"
#include "core/reason.h"
#include "xdp/moat_maps.h"
#include "tests/unit/frames.h"
#include "xdp/moat.skel.h"

#define SKIP 77

#define IP4(a, b, c, d) ((u32)(a) << 24 | (u32)(b) << 16 | (u32)(c) << 8 | (u32)(d))
#define CLIENT4 IP4(10, 1, 0, 2)
#define SERVER4 IP4(10, 2, 0, 2)
#define CLIENT_PORT 40000
#define SERVER_PORT 80

static struct moat_bpf *skel;
static int prog_fd;
static struct moat_policy cur_pol;
static int n_pass, n_fail;

/* Fixed test keys; the program reads the current one, the check tries both. */
static const struct moat_cookie_secrets secrets = {
	.cur = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL },
	.prev = { 0x1111222233334444ULL, 0x5555666677778888ULL },
};

/* ------------------------------------------------------------------ frames */

/* One TCP segment, described by what a test cares about. Zero fields take defaults. */
struct pkt_spec {
	int family; /* 4 (default) or 6 */
	int vlans;  /* 0..4 tags */
	u32 src4, dst4;
	u8 src6, dst6; /* last byte of 2001:db8::X */
	u16 sport, dport;
	u8 flags;
	u32 seq, ack;
	u16 mss; /* 0: no MSS option */
	int sack;
	int ts;
	u32 tsval, tsecr;
	int has_ws;
	u8 ws;
	const u8 *raw_opts; /* instead of the options above */
	size_t raw_optlen;
	size_t payload;	 /* bytes of data after the TCP header */
	u8 ip_opts;	 /* IPv4: bytes of IP options (NOPs), a multiple of 4 */
	int hbh;	 /* IPv6: an 8-byte hop-by-hop header before TCP */
	size_t pad_to;	 /* Ethernet padding up to this frame length */
	u16 want_mss; /* SYN rows: the MSS the SYN-ACK must announce */
};

static u16 get16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static u32 get32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static void addr6(u8 *a, u8 last)
{
	static const u8 prefix[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	memcpy(a, prefix, 16);
	a[15] = last;
}

static size_t spec_opts(const struct pkt_spec *s, u8 *o)
{
	size_t n = 0;

	if (s->raw_opts) {
		memcpy(o, s->raw_opts, s->raw_optlen);
		return s->raw_optlen;
	}
	if (s->mss)
		n += opt_mss(o + n, s->mss);
	if (s->ts) {
		if (s->sack) {
			n += opt_sackperm(o + n);
		} else {
			n += opt_nop(o + n);
			n += opt_nop(o + n);
		}
		n += opt_ts(o + n, s->tsval, s->tsecr);
	}
	if (s->has_ws) {
		n += opt_nop(o + n);
		n += opt_ws(o + n, s->ws);
	}
	if (s->sack && !s->ts) {
		n += opt_nop(o + n);
		n += opt_nop(o + n);
		n += opt_sackperm(o + n);
	}
	return opt_pad(o, n);
}

static size_t build_spec(u8 *f, const struct pkt_spec *s)
{
	u8 opts[40];
	struct tcp_spec t = {
		.family = s->family ? s->family : 4,
		.vlans = s->vlans,
		.saddr4 = s->src4 ? s->src4 : CLIENT4,
		.daddr4 = s->dst4 ? s->dst4 : SERVER4,
		.sport = s->sport ? s->sport : CLIENT_PORT,
		.dport = s->dport ? s->dport : SERVER_PORT,
		.seq = s->seq,
		.ack = s->ack,
		.flags = s->flags,
		.win = 64240,
		.ttl = 64,
		.opts = opts,
	};

	addr6(t.saddr6, s->src6 ? s->src6 : 1);
	addr6(t.daddr6, s->dst6 ? s->dst6 : 2);
	size_t n, l3;

	t.payload = s->payload;
	t.optlen = spec_opts(s, opts);
	n = build_tcp_frame(f, &t);
	l3 = 14 + 4 * (size_t)s->vlans;
	if (t.family == 4 && s->ip_opts) {
		/* Grow the IP header: options are NOPs, ihl and total length follow. */
		memmove(f + l3 + 20 + s->ip_opts, f + l3 + 20, n - l3 - 20);
		memset(f + l3 + 20, 1, s->ip_opts);
		f[l3] = (u8)(0x40 | (20 + s->ip_opts) / 4);
		put16(f + l3 + 2, (u16)(get16(f + l3 + 2) + s->ip_opts));
		n += s->ip_opts;
	}
	if (t.family == 6 && s->hbh) {
		memmove(f + l3 + 40 + 8, f + l3 + 40, n - l3 - 40);
		put_ext6(f + l3 + 40, 6, 0);
		f[l3 + 6] = 0; /* next header: hop-by-hop */
		put16(f + l3 + 4, (u16)(get16(f + l3 + 4) + 8));
		n += 8;
	}
	if (n < s->pad_to) {
		memset(f + n, 0, s->pad_to - n);
		n = s->pad_to;
	}
	return n;
}

static size_t build_tcp_row(u8 *f, const void *arg)
{
	return build_spec(f, arg);
}

/* IPv4 header declaring 12 bytes of TCP, which the frame holds: a cut TCP header. */
static size_t build_truncated_tcp(u8 *f, const void *arg)
{
	size_t n = put_eth(f, 0x0800);

	(void)arg;
	n += put_ipv4(f + n, 5, 20 + 12, 0x4000, 64, 6, CLIENT4, SERVER4);
	memset(f + n, 0, 12);
	put16(f + n, CLIENT_PORT);
	put16(f + n + 2, SERVER_PORT);
	put32(f + n + 4, 1000);
	return n + 12;
}

static size_t build_udp(u8 *f, const void *arg)
{
	size_t n = put_eth(f, 0x0800);

	(void)arg;
	n += put_ipv4(f + n, 5, 20 + 8 + 4, 0x4000, 64, 17, CLIENT4, SERVER4);
	put16(f + n, 5353);
	put16(f + n + 2, 53);
	put16(f + n + 4, 12);
	put16(f + n + 6, 0);
	memcpy(f + n + 8, "moat", 4);
	return n + 12;
}

static size_t build_arp(u8 *f, const void *arg)
{
	static const u8 arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 1, 0, 2,
				    0, 0, 0, 0, 0, 0, 10, 2, 0, 2 };
	size_t n = put_eth(f, 0x0806);

	(void)arg;
	memset(f, 0xff, 6); /* broadcast */
	memcpy(f + n, arp, sizeof(arp));
	return n + sizeof(arp);
}

/* A later IPv4 fragment of a TCP datagram (offset 1480 bytes): no TCP header in it. */
static size_t build_frag4(u8 *f, const void *arg)
{
	size_t n = put_eth(f, 0x0800);

	(void)arg;
	n += put_ipv4(f + n, 5, 20 + 24, 1480 / 8, 64, 6, CLIENT4, SERVER4);
	memset(f + n, 0x5a, 24);
	return n + 24;
}

/* The same for IPv6: fragment header with offset 1448 bytes, next header TCP. */
static size_t build_frag6(u8 *f, const void *arg)
{
	u8 s[16], d[16];
	size_t n = put_eth(f, 0x86DD);

	(void)arg;
	addr6(s, 1);
	addr6(d, 2);
	n += put_ipv6(f + n, 8 + 24, 44, 64, s, d);
	n += put_frag6(f + n, 6, 1448 / 8, 1);
	memset(f + n, 0x5a, 24);
	return n + 24;
}

/* ---------------------------------------------------------- independent checks */

static u32 sum16(u32 s, const u8 *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (u32)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (u32)p[n - 1] << 8;
	return s;
}

static u16 fold(u32 s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)~s;
}

/* TCP checksum over pseudo-header + segment, with the checksum field taken as zero. */
static u16 tcp_csum(const u8 *src, const u8 *dst, size_t alen, const u8 *seg, size_t seglen)
{
	u8 copy[128];
	u32 s = 0;

	memcpy(copy, seg, seglen);
	copy[16] = copy[17] = 0;
	s = sum16(s, src, alen);
	s = sum16(s, dst, alen);
	s += 6;
	s += (u32)seglen;
	s = sum16(s, copy, seglen);
	return fold(s);
}

struct seen_opts {
	int mss, sack, ts, ws, other;
	u16 mss_val;
	u8 ws_val;
	u32 tsval, tsecr;
};

static int walk_opts(const u8 *o, size_t n, struct seen_opts *s)
{
	size_t i = 0;

	memset(s, 0, sizeof(*s));
	while (i < n) {
		u8 kind = o[i], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 2 > n)
			return -1;
		len = o[i + 1];
		if (len < 2 || i + len > n)
			return -1;
		switch (kind) {
		case 2:
			if (len != 4)
				return -1;
			s->mss++;
			s->mss_val = get16(o + i + 2);
			break;
		case 3:
			if (len != 3)
				return -1;
			s->ws++;
			s->ws_val = o[i + 2];
			break;
		case 4:
			if (len != 2)
				return -1;
			s->sack++;
			break;
		case 8:
			if (len != 10)
				return -1;
			s->ts++;
			s->tsval = get32(o + i + 2);
			s->tsecr = get32(o + i + 6);
			break;
		default:
			s->other++;
		}
		i += len;
	}
	return 0;
}

static u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

static u64 mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* The cookie clock the program is given (map moat_wall), as moatd writes it. */
static struct moat_wall wall;

#define BAD(...)                                                                                   \
	do {                                                                                       \
		snprintf(why, whylen, __VA_ARGS__);                                                \
		return -1;                                                                         \
	} while (0)

/*
 * The output of a SYN row: a well-formed cookie SYN-ACK answering the input,
 * whose cookie core's checker accepts with the options the SYN asked for.
 */
static int check_synack(const void *arg, const u8 *in, size_t inlen, const u8 *out, size_t outlen,
			char *why, size_t whylen)
{
	const struct pkt_spec *s = arg;
	int v6 = s->family == 6;
	size_t l2 = 14 + 4 * (size_t)s->vlans, iplen = v6 ? 40 : 20, alen = v6 ? 16 : 4;
	/* MSS; TS (with SACK_PERM in its padding), or SACK_PERM padded alone; WSCALE */
	size_t want_tcp = 20 + 4 + (s->ts ? 12 : s->sack ? 4 : 0) + (s->has_ws ? 4 : 0);
	size_t in_iplen = v6 ? 40 + (s->hbh ? 8 : 0) : 20 + (size_t)s->ip_opts;
	const u8 *iin = in + l2, *ip = out + l2, *tin = iin + in_iplen, *tcp = ip + iplen;
	const u8 *osrc = ip + (v6 ? 8 : 12), *odst = ip + (v6 ? 24 : 16);
	const u8 *isrc = iin + (v6 ? 8 : 12), *idst = iin + (v6 ? 24 : 16);
	u8 want_flags = 0x12 | ((s->flags & 0xC0) == 0xC0 ? 0x40 : 0);
	u16 client_mss = s->mss ? s->mss : (v6 ? 1220 : 536);
	struct seen_opts so;
	struct moat_pkt ack_pkt;
	struct moat_syn_opts dec;
	struct pkt_spec ack;
	u8 ackf[FRAME_MAX];
	size_t ackn;
	u32 out_seq, now_ms;
	u64 now;
	int st, err;

	(void)inlen;
	if (outlen != l2 + iplen + want_tcp)
		BAD("output is %zu bytes, want %zu (L2 %zu + IP %zu + TCP %zu)", outlen,
		    l2 + iplen + want_tcp, l2, iplen, want_tcp);
	if (memcmp(out, in + 6, 6) || memcmp(out + 6, in, 6))
		BAD("MAC addresses not swapped");
	if (memcmp(out + 12, in + 12, l2 - 12))
		BAD("ethertype/VLAN tags not kept");
	if (memcmp(osrc, idst, alen) || memcmp(odst, isrc, alen))
		BAD("IP addresses not swapped");
	if (v6) {
		if ((ip[0] >> 4) != 6 || get16(ip + 4) != want_tcp || ip[6] != 6 || !ip[7])
			BAD("IPv6 header: version %u payload %u nh %u hlim %u", ip[0] >> 4,
			    get16(ip + 4), ip[6], ip[7]);
	} else {
		if (ip[0] != 0x45 || get16(ip + 2) != 20 + want_tcp || ip[9] != 6 || !ip[8] ||
		    (get16(ip + 6) & 0x3fff))
			BAD("IPv4 header: vihl %#x tot %u proto %u ttl %u frag %#x", ip[0],
			    get16(ip + 2), ip[9], ip[8], get16(ip + 6));
		if (fold(sum16(0, ip, 20)) != 0)
			BAD("IPv4 header checksum wrong: %#06x", get16(ip + 10));
	}
	if (get16(tcp) != get16(tin + 2) || get16(tcp + 2) != get16(tin))
		BAD("ports not swapped: %u -> %u", get16(tcp), get16(tcp + 2));
	if (get32(tcp + 8) != s->seq + 1)
		BAD("ack %u, want client ISN + 1 = %u", get32(tcp + 8), s->seq + 1);
	if (tcp[13] != want_flags)
		BAD("TCP flags %#04x, want %#04x", tcp[13], want_flags);
	if ((size_t)(tcp[12] >> 4) * 4 != want_tcp)
		BAD("data offset %u bytes, want %zu", (tcp[12] >> 4) * 4, want_tcp);
	if (!get16(tcp + 14))
		BAD("zero window");
	if (tcp_csum(osrc, odst, alen, tcp, want_tcp) != get16(tcp + 16))
		BAD("TCP checksum %#06x, want %#06x", get16(tcp + 16),
		    tcp_csum(osrc, odst, alen, tcp, want_tcp));
	if (walk_opts(tcp + 20, want_tcp - 20, &so))
		BAD("SYN-ACK options do not parse");
	if (so.mss != 1 || so.mss_val != s->want_mss || so.mss_val > client_mss)
		BAD("MSS option x%d value %u, want %u (client %u)", so.mss, so.mss_val, s->want_mss,
		    client_mss);
	if (so.other)
		BAD("unexpected options in the SYN-ACK");
	if (s->ts && (so.ts != 1 || so.tsecr != s->tsval))
		BAD("TS option x%d TSecr %u, want the client's TSval %u", so.ts, so.tsecr, s->tsval);
	if (!s->ts && so.ts)
		BAD("client sent no TS but the SYN-ACK has TS x%d", so.ts);
	/* Offered without a timestamp too: the cookie carries them in its ISN. */
	if (so.sack != !!s->sack)
		BAD("SACK_PERM x%d, want %d", so.sack, !!s->sack);
	if (so.ws != !!s->has_ws || (s->has_ws && so.ws_val != cur_pol.synack_wscale))
		BAD("WSCALE x%d value %u, want x%d value %u (policy synack_wscale)", so.ws,
		    so.ws_val, !!s->has_ws, cur_pol.synack_wscale);

	/* The client's ACK completing the handshake, as core sees it. */
	out_seq = get32(tcp + 4);
	ack = *s;
	ack.flags = 0x10;
	ack.seq = s->seq + 1;
	ack.ack = out_seq + 1;
	ack.mss = 0;
	ack.sack = 0;
	ack.has_ws = 0;
	ack.tsval = s->tsval + 1;
	ack.tsecr = so.tsval;
	ack.raw_opts = NULL;
	ack.payload = 0;
	ack.pad_to = 0;
	ackn = build_spec(ackf, &ack);
	st = moat_parse(ackf, ackf + ackn, &ack_pkt);
	if (st != MOAT_PARSE_TCP)
		BAD("moat_parse of the client's ACK: status %d", st);
	now = mono_ns();
	now_ms = (u32)(now / 1000000);
	if (s->ts && now_ms - (so.tsval & ~0x3Fu) > 10000)
		BAD("TSval %u is not the millisecond clock (now %u ms)", so.tsval, now_ms);
	memset(&dec, 0xEE, sizeof(dec));
	/* Slots count Unix time: a checker on another node reads its own realtime clock. */
	err = moat_cookie_check(&secrets, &ack_pkt, clock_ns(CLOCK_REALTIME), &dec);
	if (err)
		BAD("moat_cookie_check of the client's ACK (seq %u ack %u tsecr %u): %d", ack.seq,
		    ack.ack, ack.tsecr, err);
	if (dec.mss != s->want_mss || dec.has_ts != !!s->ts ||
	    dec.has_wscale != !!s->has_ws || (dec.has_wscale && dec.wscale != s->ws) ||
	    dec.sack_ok != !!s->sack || dec.ecn != ((s->flags & 0xC0) == 0xC0))
		BAD("cookie decodes mss %u ts %u ws %u/%u sack %u ecn %u; the SYN asked mss %u ts %d ws %d/%u sack %d",
		    dec.mss, dec.has_ts, dec.has_wscale, dec.wscale, dec.sack_ok, dec.ecn,
		    s->want_mss, s->ts, s->has_ws, s->ws, s->sack);
	/* And a forged one does not validate. */
	ack_pkt.ack += 1;
	if (!moat_cookie_check(&secrets, &ack_pkt, clock_ns(CLOCK_REALTIME), &dec))
		BAD("an ACK acknowledging cookie + 2 validates too");
	return 0;
}

/* ------------------------------------------------------------ policy tweaks */

static void tw_cookies_off(struct moat_policy *p)
{
	p->syn_cookies = MOAT_COOKIES_OFF;
}

static void tw_protect80(struct moat_policy *p)
{
	moat_policy_protect_port(p, 80);
}

static void tw_rate1(struct moat_policy *p)
{
	p->source.syn_rate = 1;
	p->source.syn_burst = 1;
}

static void tw_wscale9(struct moat_policy *p)
{
	p->synack_wscale = 9;
}

/* ------------------------------------------------------------------- table */

struct list_ent {
	u8 action; /* MOAT_LIST_ALLOW / MOAT_LIST_DENY; 0 ends the list */
	const char *cidr;
};

struct fixture {
	const char *desc;
	size_t (*build)(u8 *f, const void *arg);
	const void *arg;
	void (*tweak)(struct moat_policy *p);
	struct list_ent lists[3];
	int xdp;
	enum moat_reason reason;
	int (*check)(const void *arg, const u8 *in, size_t inlen, const u8 *out, size_t outlen,
		     char *why, size_t whylen);
};

#define SYN 0x02
#define TCP_ROW(...) build_tcp_row, &(const struct pkt_spec){ __VA_ARGS__ }

static const struct pkt_spec syn4 = { .flags = SYN, .seq = 0x11223344, .mss = 1460, .sack = 1,
				      .ts = 1, .tsval = 0x01020304, .has_ws = 1, .ws = 7,
				      .want_mss = 1460 };
static const struct pkt_spec syn6 = { .family = 6, .flags = SYN, .seq = 0xfffffff0, .mss = 1460,
				      .sack = 1, .ts = 1, .tsval = 777, .has_ws = 1, .ws = 7,
				      .want_mss = 1460 };
static const struct pkt_spec syn4_vlan = { .vlans = 1, .flags = SYN, .seq = 0x55667788, .mss = 1460,
					   .sack = 1, .ts = 1, .tsval = 0xdeadbeef, .has_ws = 1,
					   .ws = 7, .want_mss = 1460 };
static const struct pkt_spec syn6_qinq = { .family = 6, .vlans = 2, .flags = SYN, .seq = 42,
					   .mss = 1440, .ts = 1, .tsval = 99, .want_mss = 1440 };
/* No TS: window scale and SACK_PERM sent but a cookie cannot carry them; shrinks the frame. */
static const struct pkt_spec syn4_nots = { .flags = SYN, .seq = 0x0badf00d, .mss = 1400, .sack = 1,
					   .has_ws = 1, .ws = 8, .want_mss = 1300 };
/* No options at all: RFC default MSS; the SYN-ACK is longer (the frame grows). */
static const struct pkt_spec syn4_noopt = { .flags = SYN, .seq = 7, .want_mss = 536 };
/* ECN setup SYN (ECE+CWR) with TS: SYN-ACK carries ECE, the cookie carries ecn. */
static const struct pkt_spec syn4_ecn = { .flags = 0xC2, .seq = 0x31337, .mss = 1440, .ts = 1,
					  .tsval = 5, .has_ws = 1, .ws = 14, .want_mss = 1440 };
static const struct pkt_spec syn4_rate = { .src4 = IP4(10, 1, 7, 7), .flags = SYN, .seq = 100,
					   .mss = 1460, .want_mss = 1460 };

/* Shapes whose reply differs in length from the SYN: data, IP options, an IPv6
 * extension header, Ethernet padding. */
static const struct pkt_spec syn4_data = { .flags = SYN, .seq = 0x7000, .mss = 1460, .ts = 1,
					   .tsval = 1, .sack = 1, .payload = 100,
					   .want_mss = 1460 };
static const struct pkt_spec syn4_ipopts = { .flags = SYN, .seq = 0x8000, .mss = 1300,
					     .ip_opts = 8, .ts = 1, .tsval = 2, .has_ws = 1,
					     .ws = 2, .want_mss = 1300 };
static const struct pkt_spec syn6_hbh = { .family = 6, .flags = SYN, .seq = 0x9000, .mss = 1400,
					  .hbh = 1, .want_mss = 1400 };
static const struct pkt_spec syn4_padded = { .flags = SYN, .seq = 0xa000, .mss = 1460,
					     .pad_to = 60, .want_mss = 1460 };

static const u8 opt_mss_len3[4] = { 2, 3, 5, 0xb4 };
static const u8 opt_ts_len0[4] = { 1, 1, 8, 0 };

/*
 * Options as Linux reads them (issue 12): wrong lengths skipped, then a real
 * MSS; the TFO SYN's cookie option and its data; QinQinQ tags.
 */
static const u8 opt_bad_lens[24] = { 8, 8, 0, 0, 0, 1, 0, 0, /* TS, length 8 */
				     5, 2,		     /* SACK, no block */
				     2, 3, 5,		     /* MSS, length 3 */
				     3, 4, 7, 0,	     /* window scale, length 4 */
				     2, 4, 5, 0xb4,	     /* MSS 1460 */
				     1, 1, 0 };
static const struct pkt_spec syn4_bad_lens = { .flags = SYN, .seq = 0x4242, .mss = 1460,
					       .raw_opts = opt_bad_lens,
					       .raw_optlen = sizeof(opt_bad_lens),
					       .want_mss = 1460 };
static const u8 opt_tfo_syn[16] = { 2, 4, 5, 0xb4, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1 };
static const struct pkt_spec syn4_tfo = { .flags = SYN, .seq = 0x5151, .mss = 1460,
					  .raw_opts = opt_tfo_syn, .raw_optlen = sizeof(opt_tfo_syn),
					  .payload = 200, .want_mss = 1460 };
static const struct pkt_spec syn4_4tags = { .vlans = 4, .flags = SYN, .seq = 0x6161, .mss = 1460,
					    .sack = 1, .ts = 1, .tsval = 0x1234, .has_ws = 1,
					    .ws = 7, .want_mss = 1460 };
static const struct pkt_spec syn6_3tags = { .family = 6, .vlans = 3, .flags = SYN, .seq = 0x7171,
					    .mss = 1440, .ts = 1, .tsval = 5, .want_mss = 1440 };

static const struct fixture fixtures[] = {
	{ "IPv4 SYN MSS 1460 SACK_PERM TS WSCALE 7 -> cookie SYN-ACK", build_tcp_row, &syn4, NULL,
	  {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "IPv6 SYN MSS 1460 SACK_PERM TS WSCALE 7 (synack_wscale 9) -> cookie SYN-ACK",
	  build_tcp_row, &syn6, tw_wscale9, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "802.1Q IPv4 SYN MSS 1460 SACK_PERM TS WSCALE 7 -> cookie SYN-ACK, tag kept",
	  build_tcp_row, &syn4_vlan, tw_wscale9, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "QinQ IPv6 SYN MSS 1440 TS -> cookie SYN-ACK, tags kept", build_tcp_row, &syn6_qinq,
	  NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "IPv4 SYN without TS (MSS 1400 WSCALE SACK_PERM) -> SYN-ACK with MSS 1300, SACK_PERM, WSCALE",
	  build_tcp_row, &syn4_nots, NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "IPv4 SYN without options -> SYN-ACK with MSS 536 (frame grows)", build_tcp_row,
	  &syn4_noopt, NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "IPv4 ECN-setup SYN with TS -> SYN-ACK with ECE, cookie carries ecn", build_tcp_row,
	  &syn4_ecn, NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "IPv4 SYN with 100 bytes of data -> SYN-ACK without them", build_tcp_row, &syn4_data,
	  NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "IPv4 SYN with 8 bytes of IP options -> SYN-ACK with a plain IP header", build_tcp_row,
	  &syn4_ipopts, NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "IPv6 SYN behind a hop-by-hop header -> SYN-ACK without it", build_tcp_row, &syn6_hbh,
	  NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "IPv4 SYN padded to 60 bytes -> SYN-ACK without the padding", build_tcp_row,
	  &syn4_padded, NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "syn_cookies off: SYN passes", build_tcp_row, &syn4, tw_cookies_off, {}, XDP_PASS,
	  MOAT_R_HANDSHAKE, NULL },
	{ "protect_ports [80]: SYN to port 22 passes", TCP_ROW(.flags = SYN, .dport = 22,
	  .mss = 1460), tw_protect80, {}, XDP_PASS, MOAT_R_NOT_PROTECTED, NULL },
	{ "protect_ports [80]: SYN to port 80 answered", build_tcp_row, &syn4, tw_protect80, {},
	  XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "source_syn_rate 1 burst 1: first SYN from 10.1.7.7 answered", build_tcp_row,
	  &syn4_rate, tw_rate1, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "source_syn_rate 1 burst 1: second SYN from 10.1.7.7 dropped", build_tcp_row,
	  &syn4_rate, tw_rate1, {}, XDP_DROP, MOAT_R_SOURCE_RATE, NULL },
	{ "deny 10.1.0.0/16: SYN from 10.1.0.2 dropped", build_tcp_row, &syn4, NULL,
	  { { MOAT_LIST_DENY, "10.1.0.0/16" } }, XDP_DROP, MOAT_R_DENYLISTED, NULL },
	{ "allow 10.1.0.2/32 + deny 10.0.0.0/8: SYN from 10.1.0.2 passes", build_tcp_row, &syn4,
	  NULL, { { MOAT_LIST_ALLOW, "10.1.0.2/32" }, { MOAT_LIST_DENY, "10.0.0.0/8" } }, XDP_PASS,
	  MOAT_R_ALLOWLISTED, NULL },
	{ "deny 2001:db8::/32: IPv6 SYN dropped", build_tcp_row, &syn6, NULL,
	  { { MOAT_LIST_DENY, "2001:db8::/32" } }, XDP_DROP, MOAT_R_DENYLISTED, NULL },
	{ "malformed: TCP header cut at 12 bytes", build_truncated_tcp, NULL, NULL, {}, XDP_DROP,
	  MOAT_R_MALFORMED, NULL },
	{ "MSS option of length 3: skipped as Linux does -> SYN-ACK with MSS 536",
	  TCP_ROW(.flags = SYN, .raw_opts = opt_mss_len3, .raw_optlen = 4, .want_mss = 536), NULL,
	  {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "option of length 0: the walk stops, the SYN stands -> SYN-ACK with MSS 536",
	  TCP_ROW(.flags = SYN, .raw_opts = opt_ts_len0, .raw_optlen = 4, .want_mss = 536), NULL,
	  {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "TS len 8, SACK len 2, MSS len 3, WSCALE len 4 skipped, then MSS 1460 -> SYN-ACK MSS 1460",
	  build_tcp_row, &syn4_bad_lens, NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "bad-length options, cookies off: SYN passes", build_tcp_row, &syn4_bad_lens,
	  tw_cookies_off, {}, XDP_PASS, MOAT_R_HANDSHAKE, NULL },
	{ "TFO SYN with a cookie and 200 bytes -> SYN-ACK acking the SYN only, no data",
	  build_tcp_row, &syn4_tfo, NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "TFO SYN with data, cookies off: passes", build_tcp_row, &syn4_tfo, tw_cookies_off, {},
	  XDP_PASS, MOAT_R_HANDSHAKE, NULL },
	{ "4 VLAN tags (88a8 9100 8100 8100) IPv4 SYN -> cookie SYN-ACK, tags kept",
	  build_tcp_row, &syn4_4tags, NULL, {}, XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "3 VLAN tags IPv6 SYN -> cookie SYN-ACK, tags kept", build_tcp_row, &syn6_3tags, NULL, {},
	  XDP_TX, MOAT_R_SYN_COOKIE, check_synack },
	{ "4 VLAN tags, cookies off: SYN passes", build_tcp_row, &syn4_4tags, tw_cookies_off, {},
	  XDP_PASS, MOAT_R_HANDSHAKE, NULL },
	{ "5 VLAN tags: malformed", TCP_ROW(.vlans = 5, .flags = SYN, .mss = 1460), NULL, {},
	  XDP_DROP, MOAT_R_MALFORMED, NULL },
	{ "bad_flags: SYN+FIN", TCP_ROW(.flags = 0x03), NULL, {}, XDP_DROP, MOAT_R_BAD_FLAGS,
	  NULL },
	{ "bad_flags: NULL", TCP_ROW(.flags = 0x00), NULL, {}, XDP_DROP, MOAT_R_BAD_FLAGS, NULL },
	{ "bad_flags: XMAS (FIN+PSH+URG)", TCP_ROW(.flags = 0x29), NULL, {}, XDP_DROP,
	  MOAT_R_BAD_FLAGS, NULL },
	{ "land: SYN 10.2.0.2:80 -> 10.2.0.2:80", TCP_ROW(.flags = SYN, .src4 = SERVER4,
	  .sport = 80, .mss = 1460), NULL, {}, XDP_DROP, MOAT_R_LAND, NULL },
	{ "ACK with no socket: ack_no_flow", TCP_ROW(.flags = 0x10, .seq = 1000, .ack = 2000),
	  NULL, {}, XDP_DROP, MOAT_R_ACK_NO_FLOW, NULL },
	{ "IPv6 ACK with no socket: ack_no_flow", TCP_ROW(.family = 6, .flags = 0x10, .seq = 1,
	  .ack = 2), NULL, {}, XDP_DROP, MOAT_R_ACK_NO_FLOW, NULL },
	{ "RST with no socket: rst_no_flow", TCP_ROW(.flags = 0x04, .seq = 1000), NULL, {},
	  XDP_DROP, MOAT_R_RST_NO_FLOW, NULL },
	{ "SYN-ACK with no socket: ack_no_flow", TCP_ROW(.flags = 0x12, .seq = 5, .ack = 6,
	  .mss = 1460), NULL, {}, XDP_DROP, MOAT_R_ACK_NO_FLOW, NULL },
	{ "UDP passes: not_protected", build_udp, NULL, NULL, {}, XDP_PASS, MOAT_R_NOT_PROTECTED,
	  NULL },
	{ "ARP passes: not_protected", build_arp, NULL, NULL, {}, XDP_PASS, MOAT_R_NOT_PROTECTED,
	  NULL },
	{ "non-first IPv4 fragment passes: not_protected", build_frag4, NULL, NULL, {}, XDP_PASS,
	  MOAT_R_NOT_PROTECTED, NULL },
	{ "non-first IPv6 fragment passes: not_protected", build_frag6, NULL, NULL, {}, XDP_PASS,
	  MOAT_R_NOT_PROTECTED, NULL },
};

/* ------------------------------------------------------------------ plumbing */

static int read_reasons(u64 out[MOAT_R_COUNT])
{
	int fd = bpf_map__fd(skel->maps.moat_reasons);
	int ncpu = libbpf_num_possible_cpus(), c;
	u64 *v;
	u32 r;

	if (ncpu <= 0)
		return -1;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -1;
	for (r = 0; r < MOAT_R_COUNT; r++) {
		if (bpf_map_lookup_elem(fd, &r, v)) {
			free(v);
			return -1;
		}
		out[r] = 0;
		for (c = 0; c < ncpu; c++)
			out[r] += v[c];
	}
	free(v);
	return 0;
}

static int write_zero_key(struct bpf_map *m, const void *val)
{
	u32 zero = 0;

	return bpf_map_update_elem(bpf_map__fd(m), &zero, val, BPF_ANY);
}

static void clear_map(int fd)
{
	u8 key[64];

	while (!bpf_map_get_next_key(fd, NULL, key))
		if (bpf_map_delete_elem(fd, key))
			break;
}

static int set_lists(const struct list_ent *l, char *why, size_t whylen)
{
	int fd4 = bpf_map__fd(skel->maps.moat_lpm4), fd6 = bpf_map__fd(skel->maps.moat_lpm6);
	struct moat_runtime rt;
	u32 zero = 0;
	int i;

	clear_map(fd4);
	clear_map(fd6);
	/* The program skips list lookups for a family without entries: count them. */
	if (bpf_map__lookup_elem(skel->maps.moat_runtime, &zero, sizeof(zero), &rt, sizeof(rt), 0))
		BAD("cannot read moat_runtime: %s", strerror(errno));
	rt.list_entries[0] = rt.list_entries[1] = 0;
	for (i = 0; i < 3 && l[i].action; i++)
		rt.list_entries[strchr(l[i].cidr, ':') != NULL]++;
	if (bpf_map__update_elem(skel->maps.moat_runtime, &zero, sizeof(zero), &rt, sizeof(rt), 0))
		BAD("cannot write moat_runtime: %s", strerror(errno));
	for (i = 0; i < 3 && l[i].action; i++) {
		char buf[64], *slash;
		u32 val;
		int plen;

		snprintf(buf, sizeof(buf), "%s", l[i].cidr);
		slash = strchr(buf, '/');
		if (!slash)
			BAD("bad cidr %s", l[i].cidr);
		*slash = '\0';
		plen = atoi(slash + 1);
		val = (u32)MOAT_LIST_MATCH(l[i].action, plen);
		if (strchr(buf, ':')) {
			struct moat_lpm6_key k = { .prefixlen = (u32)plen };

			if (inet_pton(AF_INET6, buf, k.addr) != 1 ||
			    bpf_map_update_elem(fd6, &k, &val, BPF_ANY))
				BAD("cannot add %s: %s", l[i].cidr, strerror(errno));
		} else {
			struct moat_lpm4_key k = { .prefixlen = (u32)plen };

			if (inet_pton(AF_INET, buf, &k.addr) != 1 ||
			    bpf_map_update_elem(fd4, &k, &val, BPF_ANY))
				BAD("cannot add %s: %s", l[i].cidr, strerror(errno));
		}
	}
	return 0;
}

static const char *xdp_name(int a)
{
	switch (a) {
	case XDP_ABORTED: return "XDP_ABORTED";
	case XDP_DROP: return "XDP_DROP";
	case XDP_PASS: return "XDP_PASS";
	case XDP_TX: return "XDP_TX";
	case XDP_REDIRECT: return "XDP_REDIRECT";
	default: return "?";
	}
}

static void report(int ok, const char *desc, const char *why)
{
	if (ok) {
		n_pass++;
		printf("ok: %s\n", desc);
	} else {
		n_fail++;
		printf("FAIL: %s: %s\n", desc, why);
	}
	fflush(stdout);
}

static void run_fixture(const struct fixture *fx)
{
	static u8 in[FRAME_MAX], out[4096];
	u64 before[MOAT_R_COUNT], after[MOAT_R_COUNT];
	char why[512] = "", moved[256] = "";
	size_t inlen, mlen = 0;
	int r, ok_counters = 1;
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	moat_policy_defaults(&cur_pol);
	cur_pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	if (fx->tweak)
		fx->tweak(&cur_pol);
	if (write_zero_key(skel->maps.moat_policy, &cur_pol)) {
		snprintf(why, sizeof(why), "cannot write the policy: %s", strerror(errno));
		report(0, fx->desc, why);
		return;
	}
	if (set_lists(fx->lists, why, sizeof(why))) {
		report(0, fx->desc, why);
		return;
	}
	memset(in, 0, sizeof(in));
	memset(out, 0, sizeof(out));
	inlen = fx->build(in, fx->arg);
	opts.data_in = in;
	opts.data_size_in = (u32)inlen;
	opts.data_out = out;
	opts.data_size_out = sizeof(out);
	opts.repeat = 1;
	if (read_reasons(before)) {
		report(0, fx->desc, "cannot read moat_reasons");
		return;
	}
	if (bpf_prog_test_run_opts(prog_fd, &opts)) {
		snprintf(why, sizeof(why), "bpf_prog_test_run_opts: %s", strerror(errno));
		report(0, fx->desc, why);
		return;
	}
	if (read_reasons(after)) {
		report(0, fx->desc, "cannot read moat_reasons");
		return;
	}
	for (r = 0; r < MOAT_R_COUNT; r++) {
		u64 want = r == (int)fx->reason ? 1 : 0;

		if (after[r] - before[r] != want)
			ok_counters = 0;
		if (after[r] != before[r] && mlen < sizeof(moved))
			mlen += (size_t)snprintf(moved + mlen, sizeof(moved) - mlen, " %s+%llu",
						 moat_reason_name((enum moat_reason)r),
						 (unsigned long long)(after[r] - before[r]));
	}
	if ((int)opts.retval != fx->xdp || !ok_counters) {
		snprintf(why, sizeof(why), "got %s, counters moved:%s; want %s, %s+1",
			 xdp_name((int)opts.retval), mlen ? moved : " none", xdp_name(fx->xdp),
			 moat_reason_name(fx->reason));
		report(0, fx->desc, why);
		return;
	}
	if (fx->check && fx->check(fx->arg, in, inlen, out, opts.data_size_out, why, sizeof(why))) {
		report(0, fx->desc, why);
		return;
	}
	report(1, fx->desc, NULL);
}

static int print_warn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(void)
{
	struct moat_runtime rt;
	size_t i;
	int err;

	libbpf_set_print(print_warn);
	/* A namespace of our own: no socket of the host answers the program's lookups. */
	if (unshare(CLONE_NEWNET))
		fprintf(stderr, "note: cannot unshare the network namespace (%s); running in the current one\n",
			strerror(errno));

	skel = moat_bpf__open();
	if (!skel) {
		fprintf(stderr, "cannot open the XDP object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->have_reqsk = 1; /* as the loader sets it when the TC half loads */
	err = moat_bpf__load(skel);
	if (err && (err == -EPERM || err == -EACCES) && geteuid() != 0) {
		printf("SKIP: bpf() is not permitted to this process (needs root/CAP_BPF)\n");
		moat_bpf__destroy(skel);
		return SKIP;
	}
	if (err) {
		fprintf(stderr, "the kernel refused moat.bpf.o: %s\n", strerror(-err));
		moat_bpf__destroy(skel);
		return 1;
	}
	prog_fd = bpf_program__fd(skel->progs.moat_xdp);
	memset(&rt, 0, sizeof(rt)); /* no events */
	wall.off_ns = (s64)(clock_ns(CLOCK_REALTIME) - mono_ns());
	if (write_zero_key(skel->maps.moat_secrets, &secrets) ||
	    write_zero_key(skel->maps.moat_runtime, &rt) ||
	    write_zero_key(skel->maps.moat_wall, &wall)) {
		fprintf(stderr, "cannot write the secrets/runtime maps: %s\n", strerror(errno));
		moat_bpf__destroy(skel);
		return 1;
	}

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		run_fixture(&fixtures[i]);

	moat_bpf__destroy(skel);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
