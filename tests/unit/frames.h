/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hand-built test frames: each helper writes one header at b and returns its
 * length, so a frame is a sum of calls. Checksums stay zero (core/ does not
 * check them). Addresses and ports are taken in host order.
 */
#ifndef MOAT_TEST_FRAMES_H
#define MOAT_TEST_FRAMES_H

#include <stddef.h>
#include <string.h>

#include "core/types.h"

#define FRAME_MAX 2048

static inline void put16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

/*
 * Checksums from scratch, byte by byte, for tests that check core's: sum adds
 * n bytes as big-endian 16-bit words (an odd last byte padded), unfolded;
 * fold reduces a sum to 16 bits (0xFFFF: a range whose checksum verifies).
 */
static inline u32 frame_sum16(u32 sum, const u8 *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (u32)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (u32)p[n - 1] << 8;
	return sum;
}

static inline u16 frame_fold16(u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (u16)sum;
}

static inline void put32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
}

/* Ethernet header: fixed MACs, the given ethertype. */
static inline size_t put_eth(u8 *b, u16 type)
{
	static const u8 macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };

	memcpy(b, macs, 12);
	put16(b + 12, type);
	return 14;
}

/* One VLAN tag (TCI then the next ethertype). */
static inline size_t put_vlan(u8 *b, u16 tci, u16 next_type)
{
	put16(b, tci);
	put16(b + 2, next_type);
	return 4;
}

/* IPv4 header of ihl 32-bit words (options filled with NOPs); frag is the raw
 * flags+offset word (0x2000 = MF, low 13 bits = offset in 8-byte units). */
static inline size_t put_ipv4(u8 *b, u8 ihl, u16 tot_len, u16 frag, u8 ttl, u8 proto, u32 saddr,
			      u32 daddr)
{
	size_t hlen = (size_t)(ihl & 0x0F) * 4;

	memset(b, 0, 20);
	b[0] = (u8)(0x40 | (ihl & 0x0F));
	put16(b + 2, tot_len);
	put16(b + 4, 0x1234);
	put16(b + 6, frag);
	b[8] = ttl;
	b[9] = proto;
	put32(b + 12, saddr);
	put32(b + 16, daddr);
	if (hlen > 20)
		memset(b + 20, 1, hlen - 20);
	return hlen < 20 ? 20 : hlen;
}

static inline size_t put_ipv6(u8 *b, u16 plen, u8 nh, u8 hlim, const u8 src[16], const u8 dst[16])
{
	memset(b, 0, 8);
	b[0] = 0x60;
	put16(b + 4, plen);
	b[6] = nh;
	b[7] = hlim;
	memcpy(b + 8, src, 16);
	memcpy(b + 24, dst, 16);
	return 40;
}

/* Hop-by-hop / destination options / routing header: (len8 + 1) * 8 bytes. */
static inline size_t put_ext6(u8 *b, u8 nh, u8 len8)
{
	size_t n = ((size_t)len8 + 1) * 8;

	memset(b, 0, n);
	b[0] = nh;
	b[1] = len8;
	b[2] = 1; /* PadN covering the rest */
	b[3] = (u8)(n - 4);
	return n;
}

/* IPv6 fragment header: offset in 8-byte units, M flag. */
static inline size_t put_frag6(u8 *b, u8 nh, u16 off8, int more)
{
	memset(b, 0, 8);
	b[0] = nh;
	put16(b + 2, (u16)(off8 << 3 | (more ? 1 : 0)));
	put32(b + 4, 0xabcd);
	return 8;
}

/* TCP header with optlen bytes of options (caller pads to a multiple of 4). */
static inline size_t put_tcp(u8 *b, u16 sport, u16 dport, u32 seq, u32 ack, u8 flags, u16 win,
			     const u8 *opts, size_t optlen)
{
	memset(b, 0, 20);
	put16(b, sport);
	put16(b + 2, dport);
	put32(b + 4, seq);
	put32(b + 8, ack);
	b[12] = (u8)(((20 + optlen) / 4) << 4);
	b[13] = flags;
	put16(b + 14, win);
	if (optlen)
		memcpy(b + 20, opts, optlen);
	return 20 + optlen;
}

/* TCP options, each returning its length. */
static inline size_t opt_nop(u8 *o)
{
	o[0] = 1;
	return 1;
}

static inline size_t opt_mss(u8 *o, u16 mss)
{
	o[0] = 2;
	o[1] = 4;
	put16(o + 2, mss);
	return 4;
}

static inline size_t opt_ws(u8 *o, u8 shift)
{
	o[0] = 3;
	o[1] = 3;
	o[2] = shift;
	return 3;
}

static inline size_t opt_sackperm(u8 *o)
{
	o[0] = 4;
	o[1] = 2;
	return 2;
}

static inline size_t opt_ts(u8 *o, u32 tsval, u32 tsecr)
{
	o[0] = 8;
	o[1] = 10;
	put32(o + 2, tsval);
	put32(o + 6, tsecr);
	return 10;
}

static inline size_t opt_sack(u8 *o, int nblocks, u32 first_left)
{
	int i;

	o[0] = 5;
	o[1] = (u8)(2 + 8 * nblocks);
	for (i = 0; i < nblocks; i++) {
		put32(o + 2 + 8 * i, first_left + (u32)i * 1000);
		put32(o + 6 + 8 * i, first_left + (u32)i * 1000 + 500);
	}
	return (size_t)(2 + 8 * nblocks);
}

/* TCP Fast Open: a cookie of clen bytes (0 = cookie request). */
static inline size_t opt_tfo(u8 *o, u8 clen)
{
	o[0] = 34;
	o[1] = (u8)(2 + clen);
	memset(o + 2, 0xc5, clen);
	return 2 + (size_t)clen;
}

/* Pad an option block with NOPs to a multiple of 4. */
static inline size_t opt_pad(u8 *o, size_t len)
{
	while (len & 3)
		o[len++] = 1;
	return len;
}

/* A whole TCP frame, for tests that do not care about the layout details. */
struct tcp_spec {
	int family; /* 4 or 6 */
	int vlans;  /* 0..6 (the parser takes 4) */
	u32 saddr4, daddr4;
	u8 saddr6[16], daddr6[16];
	u16 sport, dport;
	u32 seq, ack;
	u8 flags;
	u16 win;
	u8 ttl;
	const u8 *opts;
	size_t optlen;
	size_t payload;
};

static inline size_t build_tcp_frame(u8 *b, const struct tcp_spec *s)
{
	size_t off, tcplen = 20 + s->optlen + s->payload;
	u16 l3type = s->family == 6 ? 0x86DD : 0x0800;
	u8 ttl = s->ttl ? s->ttl : 64;

	if (s->vlans >= 3) { /* QinQinQ: 802.1ad, then 0x9100, then 802.1Q */
		static const u16 tpid[6] = { 0x88A8, 0x9100, 0x8100, 0x8100, 0x8100, 0x8100 };
		int i;

		off = put_eth(b, tpid[0]);
		for (i = 0; i < s->vlans && i < 6; i++)
			off += put_vlan(b + off, (u16)(100 * (i + 1)),
					i + 1 < s->vlans && i + 1 < 6 ? tpid[i + 1] : l3type);
	} else if (s->vlans == 2) {
		off = put_eth(b, 0x88A8);
		off += put_vlan(b + off, 100, 0x8100);
		off += put_vlan(b + off, 200, l3type);
	} else if (s->vlans == 1) {
		off = put_eth(b, 0x8100);
		off += put_vlan(b + off, 100, l3type);
	} else {
		off = put_eth(b, l3type);
	}
	if (s->family == 6)
		off += put_ipv6(b + off, (u16)tcplen, 6, ttl, s->saddr6, s->daddr6);
	else
		off += put_ipv4(b + off, 5, (u16)(20 + tcplen), 0x4000, ttl, 6, s->saddr4, s->daddr4);
	off += put_tcp(b + off, s->sport, s->dport, s->seq, s->ack, s->flags, s->win, s->opts,
		       s->optlen);
	memset(b + off, 0xaa, s->payload);
	return off + s->payload;
}

#endif
