/* SPDX-License-Identifier: BSD-3-Clause */
/* core/parse.h: Ethernet/VLAN, IPv4, IPv6 extension chains, fragments, TCP options. */
#include <criterion/criterion.h>

#include "core/parse.h"
#include "frames.h"

#define SADDR 0x0a000001u /* 10.0.0.1 */
#define DADDR 0x0a000002u /* 10.0.0.2 */

static const u8 src6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const u8 dst6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };

static int parse(const u8 *b, size_t len, struct moat_pkt *p)
{
	return moat_parse(b, b + len, p);
}

/* IPv4 frame around raw TCP option bytes (padded with NOPs); returns the frame length. */
static size_t v4_with_opts(u8 *b, const u8 *opts, size_t optlen, size_t payload)
{
	u8 o[40];
	size_t padded, off;

	memcpy(o, opts, optlen);
	padded = opt_pad(o, optlen);
	off = put_eth(b, 0x0800);
	off += put_ipv4(b + off, 5, (u16)(20 + 20 + padded + payload), 0x4000, 64, 6, SADDR, DADDR);
	off += put_tcp(b + off, 40000, 80, 1000, 0, MOAT_TCP_SYN, 65535, o, padded);
	memset(b + off, 0x55, payload);
	return off + payload;
}

static int parse_opts(const u8 *opts, size_t optlen, struct moat_pkt *p)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, opts, optlen, 0);

	return parse(b, n, p);
}

Test(parse, ipv4_syn_all_options)
{
	u8 b[FRAME_MAX], o[40];
	size_t ol = 0, off, n;
	struct moat_pkt p;

	ol += opt_mss(o + ol, 1460);	       /* 0 */
	ol += opt_sackperm(o + ol);	       /* 4 */
	ol += opt_ts(o + ol, 0x11223344, 7);   /* 6 */
	ol += opt_nop(o + ol);		       /* 16 */
	ol += opt_ws(o + ol, 7);	       /* 17 */
	ol += opt_sack(o + ol, 1, 0xdead0000); /* 20 */
	ol += opt_tfo(o + ol, 4);	       /* 30 */
	ol = opt_pad(o, ol);
	cr_assert_eq(ol, 36);

	off = put_eth(b, 0x0800);
	off += put_ipv4(b + off, 5, (u16)(20 + 20 + ol + 5), 0x4000, 57, 6, SADDR, DADDR);
	off += put_tcp(b + off, 40000, 443, 0x01020304, 0x0a0b0c0d, MOAT_TCP_SYN | MOAT_TCP_ECE | MOAT_TCP_CWR,
		       29200, o, ol);
	memset(b + off, 0x77, 5);
	n = off + 5;

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.family, 4);
	cr_assert_eq(p.proto, 6);
	cr_assert_eq(p.vlan_count, 0);
	cr_assert_eq(p.l3_off, 14);
	cr_assert_eq(p.l4_off, 34);
	cr_assert_eq(p.l3_len, 20 + 56 + 5);
	cr_assert_eq(p.tcp_hlen, 56);
	cr_assert_eq(p.payload_off, 34 + 56);
	cr_assert_eq(p.payload_len, 5);
	cr_assert_eq(p.sport, 40000);
	cr_assert_eq(p.dport, 443);
	cr_assert_eq(p.seq, 0x01020304u);
	cr_assert_eq(p.ack, 0x0a0b0c0du);
	cr_assert_eq(p.tcp_flags, MOAT_TCP_SYN | MOAT_TCP_ECE | MOAT_TCP_CWR);
	cr_assert_eq(p.window, 29200);
	cr_assert_eq(p.ttl, 57);
	cr_assert_eq(p.frag, MOAT_FRAG_NONE);
	cr_assert_eq(p.saddr.w[0], moat_htonl(SADDR));
	cr_assert_eq(p.daddr.w[0], moat_htonl(DADDR));
	cr_assert_eq(p.saddr.w[1] | p.saddr.w[2] | p.saddr.w[3], 0);
	cr_assert_eq(p.opt.present, MOAT_OPT_MSS | MOAT_OPT_WSCALE | MOAT_OPT_SACK_PERM | MOAT_OPT_TS |
					     MOAT_OPT_SACK | MOAT_OPT_TFO);
	cr_assert_eq(p.opt.mss, 1460);
	cr_assert_eq(p.opt.wscale, 7);
	cr_assert_eq(p.opt.tsval, 0x11223344u);
	cr_assert_eq(p.opt.tsecr, 7);
	cr_assert_eq(p.opt.ts_off, 20 + 6);
	cr_assert_eq(p.opt.sack_off, 20 + 20);
	cr_assert_eq(p.opt.sack_blocks, 1);
	cr_assert_eq(p.opt.tfo_len, 4);
}

Test(parse, no_options)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v4_with_opts(b, NULL, 0, 0);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(p.tcp_hlen, 20);
	cr_assert_eq(p.payload_len, 0);
	cr_assert_eq(p.payload_off, 54);
}

Test(parse, sack_four_blocks)
{
	u8 o[40];
	size_t ol = opt_sack(o, 4, 100);
	struct moat_pkt p;

	cr_assert_eq(ol, 34);
	cr_assert_eq(parse_opts(o, ol, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.sack_blocks, 4);
	cr_assert_eq(p.opt.sack_off, 20);
	cr_assert_eq(p.opt.present, MOAT_OPT_SACK);
}

Test(parse, tfo_request_and_long_cookie)
{
	u8 o[40];
	struct moat_pkt p;

	cr_assert_eq(parse_opts(o, opt_tfo(o, 0), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, MOAT_OPT_TFO);
	cr_assert_eq(p.opt.tfo_len, 0);
	cr_assert_eq(parse_opts(o, opt_tfo(o, 16), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.tfo_len, 16);
	/* 2-byte and odd-length cookies do not exist: ignored, as Linux does */
	cr_assert_eq(parse_opts(o, opt_tfo(o, 2), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(parse_opts(o, opt_tfo(o, 5), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(parse_opts(o, opt_tfo(o, 18), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
}

Test(parse, eol_ends_options)
{
	const u8 o[8] = { 0, 2, 0, 0, 3, 9, 9, 9 }; /* garbage after EOL is not parsed */
	struct moat_pkt p;

	cr_assert_eq(parse_opts(o, sizeof(o), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
}

Test(parse, unknown_option_skipped)
{
	const u8 o[8] = { 254, 4, 0xf9, 0x89, 2, 4, 0x05, 0xb4 };
	struct moat_pkt p;

	cr_assert_eq(parse_opts(o, sizeof(o), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, MOAT_OPT_MSS);
	cr_assert_eq(p.opt.mss, 1460);
}

/*
 * Options late in a full 40-byte block must be read from where they are: an
 * MSS at option offset 32 and a window scale at offset 37 (NOP padding first).
 */
Test(parse, options_late_in_40_byte_block)
{
	u8 o[40];
	size_t ol;
	struct moat_pkt p;

	memset(o, 1, sizeof(o));
	ol = 32 + opt_mss(o + 32, 1460);
	cr_assert_eq(parse_opts(o, ol, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, MOAT_OPT_MSS);
	cr_assert_eq(p.opt.mss, 1460, "MSS at option offset 32 parsed as %u", p.opt.mss);

	memset(o, 1, sizeof(o));
	ol = 37 + opt_ws(o + 37, 9);
	cr_assert_eq(parse_opts(o, ol, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, MOAT_OPT_WSCALE);
	cr_assert_eq(p.opt.wscale, 9, "WSCALE at option offset 37 parsed as %u", p.opt.wscale);
}

Test(parse, ts_option_at_offset_30)
{
	u8 o[40];
	size_t ol = 30;
	struct moat_pkt p;

	memset(o, 1, 30);
	ol += opt_ts(o + ol, 0xcafef00d, 0x12345678);
	cr_assert_eq(parse_opts(o, ol, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.tsval, 0xcafef00du);
	cr_assert_eq(p.opt.tsecr, 0x12345678u);
	cr_assert_eq(p.opt.ts_off, 50);
}

Test(parse, vlan_single)
{
	u8 b[FRAME_MAX];
	struct tcp_spec s = { .family = 4, .vlans = 1, .saddr4 = SADDR, .daddr4 = DADDR,
			      .sport = 1234, .dport = 80, .flags = MOAT_TCP_SYN };
	struct moat_pkt p;
	size_t n = build_tcp_frame(b, &s);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.vlan_count, 1);
	cr_assert_eq(p.vlan_tci[0], 100);
	cr_assert_eq(p.l3_off, 18);
	cr_assert_eq(p.l4_off, 38);
	cr_assert_eq(p.dport, 80);
}

Test(parse, vlan_double_qinq)
{
	u8 b[FRAME_MAX];
	struct tcp_spec s = { .family = 4, .vlans = 2, .saddr4 = SADDR, .daddr4 = DADDR,
			      .sport = 1234, .dport = 80, .flags = MOAT_TCP_SYN };
	struct moat_pkt p;
	size_t n = build_tcp_frame(b, &s);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.vlan_count, 2);
	cr_assert_eq(p.vlan_tci[0], 100);
	cr_assert_eq(p.vlan_tci[1], 200);
	cr_assert_eq(p.l3_off, 22);
	cr_assert_eq(p.l4_off, 42);
}

Test(parse, vlan_double_ipv6)
{
	u8 b[FRAME_MAX];
	struct tcp_spec s = { .family = 6, .vlans = 2, .sport = 1234, .dport = 80,
			      .flags = MOAT_TCP_SYN };
	struct moat_pkt p;
	size_t n;

	memcpy(s.saddr6, src6, 16);
	memcpy(s.daddr6, dst6, 16);
	n = build_tcp_frame(b, &s);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.family, 6);
	cr_assert_eq(p.l3_off, 22);
	cr_assert_eq(p.l4_off, 62);
}

/* QinQinQ is legal: 3 and 4 tags of any of 0x88A8, 0x8100, 0x9100 parse; a fifth is refused. */
static size_t tagged_syn(u8 *b, int tags)
{
	static const u16 tpid[] = { 0x88A8, 0x9100, 0x8100, 0x8100, 0x8100 };
	size_t off = put_eth(b, tags ? tpid[0] : 0x0800);
	int i;

	for (i = 0; i < tags; i++)
		off += put_vlan(b + off, (u16)(i + 1), i + 1 < tags ? tpid[i + 1] : 0x0800);
	off += put_ipv4(b + off, 5, 40, 0, 64, 6, SADDR, DADDR);
	off += put_tcp(b + off, 1, 2, 0, 0, MOAT_TCP_SYN, 0, NULL, 0);
	return off;
}

Test(parse, vlan_three_and_four_tags)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	int tags;

	for (tags = 3; tags <= 4; tags++) {
		cr_assert_eq(parse(b, tagged_syn(b, tags), &p), MOAT_PARSE_TCP, "%d tags", tags);
		cr_assert_eq(p.vlan_count, tags);
		cr_assert_eq(p.vlan_tci[tags - 1], tags);
		cr_assert_eq(p.l3_off, 14 + 4 * tags);
		cr_assert_eq(p.dport, 2);
	}
}

Test(parse, vlan_five_malformed)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;

	cr_assert_eq(parse(b, tagged_syn(b, 5), &p), MOAT_PARSE_MALFORMED);
}

Test(parse, ipv6_hbh_dstopts_tcp)
{
	u8 b[FRAME_MAX], o[4];
	size_t off = put_eth(b, 0x86DD), ol = opt_mss(o, 1220);
	struct moat_pkt p;
	u32 w[4];

	off += put_ipv6(b + off, 8 + 16 + 24 + 3, 0, 33, src6, dst6);
	off += put_ext6(b + off, 60, 0); /* hop-by-hop, 8 bytes */
	off += put_ext6(b + off, 6, 1);	 /* destination options, 16 bytes */
	off += put_tcp(b + off, 5555, 22, 42, 0, MOAT_TCP_SYN, 1000, o, ol);
	memset(b + off, 0, 3);
	off += 3;

	cr_assert_eq(parse(b, off, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.family, 6);
	cr_assert_eq(p.proto, 6);
	cr_assert_eq(p.ttl, 33);
	cr_assert_eq(p.l3_off, 14);
	cr_assert_eq(p.l4_off, 14 + 40 + 8 + 16);
	cr_assert_eq(p.l3_len, 40 + 51);
	cr_assert_eq(p.payload_len, 3);
	cr_assert_eq(p.sport, 5555);
	cr_assert_eq(p.dport, 22);
	cr_assert_eq(p.opt.mss, 1220);
	memcpy(w, src6, 16);
	cr_assert_arr_eq(p.saddr.w, w, 16);
	memcpy(w, dst6, 16);
	cr_assert_arr_eq(p.daddr.w, w, 16);
}

static size_t v6_chain(u8 *b, int next)
{
	size_t off = put_eth(b, 0x86DD);
	int i;

	off += put_ipv6(b + off, (u16)(next * 8 + 20), 60, 64, src6, dst6);
	for (i = 0; i < next; i++)
		off += put_ext6(b + off, i == next - 1 ? 6 : 60, 0);
	off += put_tcp(b + off, 1000, 2000, 1, 0, MOAT_TCP_SYN, 100, NULL, 0);
	return off;
}

Test(parse, ipv6_chain_of_8_ok)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v6_chain(b, 8);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.l4_off, 14 + 40 + 64);
}

Test(parse, ipv6_chain_of_9_malformed)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v6_chain(b, 9);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
}

Test(parse, ipv6_ext_beyond_payload_malformed)
{
	u8 b[FRAME_MAX];
	size_t off = put_eth(b, 0x86DD);
	struct moat_pkt p;

	/* payload length covers 8 bytes, the destination options header says 16 */
	off += put_ipv6(b + off, 8, 60, 64, src6, dst6);
	off += put_ext6(b + off, 6, 1);
	off += put_tcp(b + off, 1000, 2000, 1, 0, MOAT_TCP_SYN, 100, NULL, 0);
	cr_assert_eq(parse(b, off, &p), MOAT_PARSE_MALFORMED);
}

Test(parse, ipv4_options_ihl_6_to_15)
{
	u8 ihl;

	for (ihl = 6; ihl <= 15; ihl++) {
		u8 b[FRAME_MAX];
		size_t off = put_eth(b, 0x0800);
		struct moat_pkt p;

		off += put_ipv4(b + off, ihl, (u16)(ihl * 4 + 20), 0, 64, 6, SADDR, DADDR);
		off += put_tcp(b + off, 1, 2, 3, 0, MOAT_TCP_SYN, 0, NULL, 0);
		cr_assert_eq(parse(b, off, &p), MOAT_PARSE_TCP, "ihl %u", ihl);
		cr_assert_eq(p.l4_off, 14 + ihl * 4, "ihl %u", ihl);
		cr_assert_eq(p.sport, 1, "ihl %u", ihl);
		cr_assert_eq(p.payload_len, 0, "ihl %u", ihl);
	}
}

Test(parse, ipv4_ihl_below_5_malformed)
{
	u8 ihl;

	for (ihl = 0; ihl < 5; ihl++) {
		u8 b[FRAME_MAX];
		size_t off = put_eth(b, 0x0800);
		struct moat_pkt p;

		off += put_ipv4(b + off, 5, 40, 0, 64, 6, SADDR, DADDR);
		b[14] = (u8)(0x40 | ihl);
		off += put_tcp(b + off, 1, 2, 3, 0, MOAT_TCP_SYN, 0, NULL, 0);
		cr_assert_eq(parse(b, off, &p), MOAT_PARSE_MALFORMED, "ihl %u", ihl);
	}
}

Test(parse, ipv4_bad_version)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, NULL, 0, 0);
	struct moat_pkt p;

	b[14] = 0x65;
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
}

Test(parse, ipv4_total_length_below_ihl)
{
	u8 b[FRAME_MAX];
	size_t off = put_eth(b, 0x0800);
	struct moat_pkt p;

	off += put_ipv4(b + off, 6, 23, 0, 64, 6, SADDR, DADDR);
	off += put_tcp(b + off, 1, 2, 3, 0, MOAT_TCP_SYN, 0, NULL, 0);
	cr_assert_eq(parse(b, off, &p), MOAT_PARSE_MALFORMED);
}

Test(parse, ipv4_total_length_beyond_frame)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, NULL, 0, 10);
	struct moat_pkt p;

	put16(b + 16, (u16)(n - 14 + 1));
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
	put16(b + 16, (u16)(n - 14));
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.payload_len, 10);
}

Test(parse, ethernet_padding_ignored)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, NULL, 0, 0);
	struct moat_pkt p;

	cr_assert_eq(n, 54);
	memset(b + n, 0, 6); /* padded to the 60-byte minimum */
	cr_assert_eq(parse(b, 60, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.payload_len, 0);
	cr_assert_eq(p.l3_len, 40);
}

Test(parse, tcp_data_offset_below_5)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, NULL, 0, 8);
	struct moat_pkt p;
	u8 doff;

	for (doff = 0; doff < 5; doff++) {
		b[34 + 12] = (u8)(doff << 4);
		cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED, "doff %u", doff);
	}
}

Test(parse, tcp_data_offset_beyond_ip_payload)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, NULL, 0, 4);
	struct moat_pkt p;

	/* 24 bytes of IP payload; data offset 7 = 28 */
	b[34 + 12] = 7 << 4;
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
	/* the same, with the bytes present as Ethernet padding past the datagram */
	memset(b + n, 0, 16);
	cr_assert_eq(parse(b, n + 16, &p), MOAT_PARSE_MALFORMED);
	b[34 + 12] = 6 << 4; /* 24 bytes: fits, 4 bytes of options (NOPs from payload) */
	memset(b + 54, 1, 4);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.payload_len, 0);
}

Test(parse, tcp_header_shorter_than_20)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, NULL, 0, 0);
	struct moat_pkt p;

	put16(b + 16, 20 + 19);
	cr_assert_eq(parse(b, n - 1, &p), MOAT_PARSE_MALFORMED);
}

Test(parse, option_length_0_and_1)
{
	const u8 len0[4] = { 254, 0, 1, 1 }, len1[4] = { 254, 1, 1, 1 };
	const u8 mss0[4] = { 2, 0, 1, 1 };
	struct moat_pkt p;

	/* Linux: "silly options" end the walk, the segment stands. */
	cr_assert_eq(parse_opts(len0, 4, &p), MOAT_PARSE_TCP);
	cr_assert_eq(parse_opts(len1, 4, &p), MOAT_PARSE_TCP);
	cr_assert_eq(parse_opts(mss0, 4, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
}

/* What came before a silly option is kept; what comes after is not read. */
Test(parse, silly_option_stops_the_walk)
{
	const u8 o[12] = { 3, 3, 7, 1, 254, 0, 2, 4, 5, 0xB4, 0, 0 };
	struct moat_pkt p;

	cr_assert_eq(parse_opts(o, sizeof(o), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, MOAT_OPT_WSCALE);
	cr_assert_eq(p.opt.wscale, 7);
}

Test(parse, option_past_header)
{
	const u8 past[4] = { 254, 6, 0, 0 }, fits[4] = { 254, 4, 0, 0 };
	const u8 no_len[4] = { 1, 1, 1, 254 }; /* kind in the last byte, no room for a length */
	struct moat_pkt p;

	/* Linux does not parse partial options; the segment stands. */
	cr_assert_eq(parse_opts(past, 4, &p), MOAT_PARSE_TCP);
	cr_assert_eq(parse_opts(no_len, 4, &p), MOAT_PARSE_TCP);
	cr_assert_eq(parse_opts(fits, 4, &p), MOAT_PARSE_TCP);
}

Test(parse, option_past_header_into_payload)
{
	u8 b[FRAME_MAX];
	const u8 o[4] = { 8, 10, 0, 0 }; /* TS claims 10 bytes, the header has 4 */
	size_t n = v4_with_opts(b, o, 4, 20);
	struct moat_pkt p;

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(p.payload_len, 20);
}

Test(parse, known_options_wrong_length)
{
	const u8 mss3[4] = { 2, 3, 5, 1 };
	const u8 ws4[4] = { 3, 4, 7, 0 };
	const u8 ts8[8] = { 8, 8, 0, 0, 0, 1, 0, 0 };
	const u8 sack9[12] = { 5, 9, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1 };
	const u8 sackp3[4] = { 4, 3, 0, 1 };
	const u8 sack2[4] = { 5, 2, 1, 1 }; /* no block at all */
	struct moat_pkt p;

	/* Linux's tcp_parse_options skips each of them and reads on. */
	cr_assert_eq(parse_opts(mss3, sizeof(mss3), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(parse_opts(ws4, sizeof(ws4), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(parse_opts(ts8, sizeof(ts8), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(parse_opts(sack9, sizeof(sack9), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(parse_opts(sackp3, sizeof(sackp3), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	cr_assert_eq(parse_opts(sack2, sizeof(sack2), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
}

/* A wrong-length option is skipped by its own length: the options after it count. */
Test(parse, wrong_length_skipped_then_read_on)
{
	const u8 o[20] = { 8, 8, 0, 0, 0, 1, 0, 0,  /* TS, length 8 */
			   5, 2,		    /* SACK, no block */
			   2, 3, 5,		    /* MSS, length 3 */
			   3, 3, 6,		    /* window scale 6 */
			   2, 4, 5, 0xB4 };	    /* MSS 1460 */
	struct moat_pkt p;

	cr_assert_eq(parse_opts(o, sizeof(o), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, MOAT_OPT_WSCALE | MOAT_OPT_MSS);
	cr_assert_eq(p.opt.wscale, 6);
	cr_assert_eq(p.opt.mss, 1460);
}

Test(parse, sack_length_not_multiple_of_8)
{
	u8 o[20] = { 5, 17 };
	struct moat_pkt p;

	memset(o + 2, 0, 15);
	o[17] = 1;
	o[18] = 1;
	o[19] = 1;
	cr_assert_eq(parse_opts(o, sizeof(o), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.present, 0);
	o[1] = 18;
	o[18] = 1;
	cr_assert_eq(parse_opts(o, sizeof(o), &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.opt.sack_blocks, 2);
}

Test(parse, port_zero)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, NULL, 0, 0);
	struct moat_pkt p;

	put16(b + 34, 0);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
	put16(b + 34, 1);
	put16(b + 36, 0);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
	put16(b + 36, 1);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
}

/* ---- fragments ---- */

static size_t v4_frag(u8 *b, u16 fragword, u8 proto, size_t l4bytes)
{
	size_t off = put_eth(b, 0x0800);

	off += put_ipv4(b + off, 5, (u16)(20 + l4bytes), fragword, 64, proto, SADDR, DADDR);
	put_tcp(b + off, 1111, 80, 5, 0, MOAT_TCP_SYN, 100, NULL, 0);
	memset(b + off + 20, 0x3c, 64);
	return off + l4bytes;
}

Test(parse, ipv4_first_fragment_with_tcp_header)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v4_frag(b, 0x2000, 6, 24);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.frag, MOAT_FRAG_FIRST);
	cr_assert_eq(p.sport, 1111);
	cr_assert_eq(p.payload_len, 4);
}

Test(parse, ipv4_first_fragment_too_short)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v4_frag(b, 0x2000, 6, 16);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
	/* a 20-byte base header whose options are in the next fragment */
	n = v4_frag(b, 0x2000, 6, 24);
	b[34 + 12] = 8 << 4;
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
}

Test(parse, ipv4_later_fragment)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	u16 offs[] = { 2, 3, 185, 0x1FFF };
	size_t i, n;

	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		n = v4_frag(b, offs[i], 6, 8);
		cr_assert_eq(parse(b, n, &p), MOAT_PARSE_FRAGMENT, "offset %u", offs[i]);
		cr_assert_eq(p.frag, MOAT_FRAG_LATER);
		n = v4_frag(b, (u16)(0x2000 | offs[i]), 6, 8);
		cr_assert_eq(parse(b, n, &p), MOAT_PARSE_FRAGMENT, "offset %u+MF", offs[i]);
	}
}

Test(parse, ipv4_tcp_fragment_offset_1_malformed)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v4_frag(b, 1, 6, 8);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
	n = v4_frag(b, 0x2001, 6, 8);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
	/* only TCP is refused at offset 1 */
	n = v4_frag(b, 1, 17, 8);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_FRAGMENT);
}

static size_t v6_frag(u8 *b, u16 off8, int more, u8 proto, size_t l4bytes)
{
	size_t off = put_eth(b, 0x86DD);

	off += put_ipv6(b + off, (u16)(8 + l4bytes), 44, 64, src6, dst6);
	off += put_frag6(b + off, proto, off8, more);
	put_tcp(b + off, 1111, 80, 5, 0, MOAT_TCP_SYN, 100, NULL, 0);
	memset(b + off + 20, 0x3c, 64);
	return off + l4bytes;
}

Test(parse, ipv6_first_fragment_with_tcp_header)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v6_frag(b, 0, 1, 6, 20);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.frag, MOAT_FRAG_FIRST);
	cr_assert_eq(p.l4_off, 14 + 40 + 8);
	cr_assert_eq(p.sport, 1111);
}

Test(parse, ipv6_atomic_fragment)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v6_frag(b, 0, 0, 6, 20);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.frag, MOAT_FRAG_NONE);
}

Test(parse, ipv6_first_fragment_too_short)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v6_frag(b, 0, 1, 6, 12);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
}

Test(parse, ipv6_later_fragment)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v6_frag(b, 2, 1, 6, 16);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_FRAGMENT);
	cr_assert_eq(p.frag, MOAT_FRAG_LATER);
	cr_assert_eq(p.proto, 6);
	n = v6_frag(b, 500, 0, 6, 16);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_FRAGMENT);
}

Test(parse, ipv6_tcp_fragment_offset_1_malformed)
{
	u8 b[FRAME_MAX];
	struct moat_pkt p;
	size_t n = v6_frag(b, 1, 1, 6, 16);

	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_MALFORMED);
	n = v6_frag(b, 1, 1, 17, 16);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_FRAGMENT);
}

/* ---- not ours ---- */

Test(parse, arp_not_ip)
{
	u8 b[FRAME_MAX];
	size_t off = put_eth(b, 0x0806);
	struct moat_pkt p;

	memset(b + off, 0, 28);
	cr_assert_eq(parse(b, off + 28, &p), MOAT_PARSE_NOT_IP);
	cr_assert_eq(p.family, 0);
	/* ARP behind a VLAN tag */
	off = put_eth(b, 0x8100);
	off += put_vlan(b + off, 5, 0x0806);
	memset(b + off, 0, 28);
	cr_assert_eq(parse(b, off + 28, &p), MOAT_PARSE_NOT_IP);
}

Test(parse, udp_not_tcp)
{
	u8 b[FRAME_MAX];
	size_t off = put_eth(b, 0x0800);
	struct moat_pkt p;

	off += put_ipv4(b + off, 5, 28, 0, 64, 17, SADDR, DADDR);
	memset(b + off, 0, 8);
	cr_assert_eq(parse(b, off + 8, &p), MOAT_PARSE_NOT_TCP);
	cr_assert_eq(p.proto, 17);
	cr_assert_eq(p.family, 4);

	off = put_eth(b, 0x86DD);
	off += put_ipv6(b + off, 8, 17, 64, src6, dst6);
	memset(b + off, 0, 8);
	cr_assert_eq(parse(b, off + 8, &p), MOAT_PARSE_NOT_TCP);
	cr_assert_eq(p.proto, 17);
	cr_assert_eq(p.family, 6);
}

Test(parse, short_frames_malformed)
{
	u8 b[FRAME_MAX];
	size_t n = v4_with_opts(b, NULL, 0, 0);
	struct moat_pkt p;

	cr_assert_eq(parse(b, 0, &p), MOAT_PARSE_MALFORMED);
	cr_assert_eq(parse(b, 13, &p), MOAT_PARSE_MALFORMED);
	cr_assert_eq(parse(b, 14, &p), MOAT_PARSE_MALFORMED);
	cr_assert_eq(parse(b, n, &p), MOAT_PARSE_TCP);
}
