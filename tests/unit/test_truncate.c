/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every parser fed every truncation of a valid frame. Each prefix is copied
 * into a heap buffer of exactly its length, so the sanitizer build of this file
 * (test_truncate_asan) catches any read past `end`.
 */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/parse.h"
#include "frames.h"

static const u8 src6[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11 };
static const u8 dst6[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x22 };

static int parse_exact(const u8 *frame, size_t len, struct moat_pkt *p)
{
	u8 *copy = malloc(len ? len : 1);
	int st;

	cr_assert_not_null(copy);
	memcpy(copy, frame, len);
	st = moat_parse(copy, copy + len, p);
	free(copy);
	return st;
}

/* The same prefix as a capture's snapshot of the whole frame (moat_parse_snap). */
static int parse_snap_exact(const u8 *frame, size_t len, size_t wire, struct moat_pkt *p)
{
	u8 *copy = malloc(len ? len : 1);
	int st;

	cr_assert_not_null(copy);
	memcpy(copy, frame, len);
	st = moat_parse_snap(copy, copy + len, (u32)wire, p);
	free(copy);
	return st;
}

/*
 * Every strict prefix is malformed (every header is declared by the one before
 * it, the IP length covers the payload), the whole frame is TCP. As a snapshot
 * of the whole frame, a prefix is cut (inside the headers) or TCP with the
 * whole frame's lengths, and never read past its end.
 */
static void check_truncations(const u8 *frame, size_t full, const char *name)
{
	struct moat_pkt p, whole;
	size_t len;
	int st;

	for (len = 0; len < full; len++)
		cr_assert_eq(parse_exact(frame, len, &p), MOAT_PARSE_MALFORMED,
			     "%s cut at %zu of %zu", name, len, full);
	cr_assert_eq(parse_exact(frame, full, &whole), MOAT_PARSE_TCP, "%s whole", name);
	for (len = 0; len < full; len++) {
		st = parse_snap_exact(frame, len, full, &p);
		cr_assert(st == MOAT_PARSE_CUT || st == MOAT_PARSE_TCP,
			  "%s snapshot of %zu of %zu: status %d", name, len, full, st);
		if (st == MOAT_PARSE_TCP)
			cr_assert(p.payload_len == whole.payload_len && p.seq == whole.seq &&
					  p.l3_len == whole.l3_len,
				  "%s snapshot of %zu of %zu: lengths", name, len, full);
	}
}

static size_t syn_options(u8 *o)
{
	size_t ol = 0;

	ol += opt_mss(o + ol, 1460);
	ol += opt_sackperm(o + ol);
	ol += opt_ts(o + ol, 1, 0);
	ol += opt_nop(o + ol);
	ol += opt_ws(o + ol, 7);
	ol += opt_sack(o + ol, 1, 77);
	ol += opt_tfo(o + ol, 4);
	return opt_pad(o, ol);
}

Test(truncate, ipv4_syn_with_options)
{
	u8 b[FRAME_MAX], o[40];
	size_t ol = syn_options(o);
	struct tcp_spec s = { .family = 4, .saddr4 = 0x0a000001, .daddr4 = 0x0a000002,
			      .sport = 40000, .dport = 80, .seq = 1, .flags = MOAT_TCP_SYN,
			      .win = 100, .opts = o, .optlen = ol, .payload = 3 };

	check_truncations(b, build_tcp_frame(b, &s), "ipv4 syn");
}

Test(truncate, ipv4_with_ip_options)
{
	u8 b[FRAME_MAX], o[8];
	size_t ol = opt_pad(o, opt_mss(o, 536) + opt_ws(o + 4, 2));
	size_t off = put_eth(b, 0x0800);

	off += put_ipv4(b + off, 9, (u16)(36 + 20 + ol), 0, 64, 6, 0x01020304, 0x05060708);
	off += put_tcp(b + off, 9, 10, 11, 0, MOAT_TCP_SYN, 1, o, ol);
	check_truncations(b, off, "ipv4 ip options");
}

Test(truncate, ipv6_ext_headers)
{
	u8 b[FRAME_MAX], o[40];
	size_t ol = syn_options(o);
	size_t off = put_eth(b, 0x86DD);

	off += put_ipv6(b + off, (u16)(8 + 16 + 8 + 20 + ol), 0, 64, src6, dst6);
	off += put_ext6(b + off, 60, 0);
	off += put_ext6(b + off, 44, 1);
	off += put_frag6(b + off, 6, 0, 1);
	off += put_tcp(b + off, 443, 50000, 7, 8, MOAT_TCP_SYN | MOAT_TCP_ACK, 5, o, ol);
	check_truncations(b, off, "ipv6 ext");
}

Test(truncate, double_vlan)
{
	u8 b[FRAME_MAX], o[40];
	size_t ol = syn_options(o);
	struct tcp_spec s = { .family = 4, .vlans = 2, .saddr4 = 0x0a000001, .daddr4 = 0x0a000002,
			      .sport = 40000, .dport = 80, .seq = 1, .flags = MOAT_TCP_SYN,
			      .win = 100, .opts = o, .optlen = ol };

	check_truncations(b, build_tcp_frame(b, &s), "double vlan");
}

Test(truncate, double_vlan_ipv6)
{
	u8 b[FRAME_MAX], o[4];
	struct tcp_spec s = { .family = 6, .vlans = 2, .sport = 1, .dport = 2,
			      .flags = MOAT_TCP_ACK, .opts = o, .optlen = opt_mss(o, 1220),
			      .payload = 10 };

	memcpy(s.saddr6, src6, 16);
	memcpy(s.daddr6, dst6, 16);
	check_truncations(b, build_tcp_frame(b, &s), "double vlan ipv6");
}

/* Options walked near the end of a buffer that holds less than 40 bytes past them. */
Test(truncate, full_option_block_at_frame_end)
{
	u8 b[FRAME_MAX], o[40];
	size_t ol;
	struct tcp_spec s = { .family = 4, .saddr4 = 1, .daddr4 = 2, .sport = 1, .dport = 2,
			      .flags = MOAT_TCP_SYN, .opts = o };
	struct moat_pkt p;

	memset(o, 1, 36);
	ol = 36 + opt_mss(o + 36, 1400);
	s.optlen = ol;
	cr_assert_eq(parse_exact(b, build_tcp_frame(b, &s), &p), MOAT_PARSE_TCP);
	check_truncations(b, build_tcp_frame(b, &s), "40 option bytes");
}
