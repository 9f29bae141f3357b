/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replies the filter sends itself, written over the frame that caused them:
 * the SYN-ACK carrying a cookie, and the ACK of RFC 5961 (challenge ACK).
 * Headers are assembled in stack buffers with their checksums, then copied to
 * the frame in one bounds-checked step; the caller first sizes the frame to
 * moat_reply_len() (bpf_xdp_adjust_tail, rte_pktmbuf_append/trim).
 */
#ifndef MOAT_CORE_REPLY_H
#define MOAT_CORE_REPLY_H

#include "cookie.h"
#include "csum.h"

#define MOAT_REPLY_TTL 64
#define MOAT_SYNACK_WINDOW 65535
#define MOAT_REPLY_MAX_TCP 40 /* header + the options below */

/*
 * TCP header with options, the IP header length, for one reply; sum: its
 * words as stored, checksum field 0, summed as they were built (the checksum
 * then reads nothing back).
 */
struct moat_reply {
	u8 tcp[MOAT_REPLY_MAX_TCP] __attribute__((aligned(8)));
	u64 sum;
	u8 tcp_len;
};

/* Frame length of a reply to pkt: L2 (tags kept) + IP + TCP. */
MOAT_INLINE u32 moat_reply_len(const struct moat_pkt *pkt, u32 tcp_len)
{
	return (u32)pkt->l3_off + (pkt->family == 6 ? MOAT_IPV6_HLEN : MOAT_IPV4_MIN_HLEN) + tcp_len;
}

/*
 * Headers are built a 32-bit word at a time (every field here sits in whole,
 * 4-aligned words of the reply's buffers): one store per word where bytes cost
 * four, and the checksum's word reads then forward from stores of their size.
 */
MOAT_INLINE u32 moat_reply_put32(u8 *p, u32 v)
{
	v = moat_htonl(v);
	__builtin_memcpy(p, &v, 4);
	return v; /* as stored: what the checksum sums */
}

/* The native word whose bytes 0-1 hold `first` and bytes 2-3 `second`, as stored. */
MOAT_INLINE u32 moat_reply_halves(u16 first, u16 second)
{
	union {
		u32 w;
		u16 h[2];
	} x;

	x.h[0] = first;
	x.h[1] = second;
	return x.w;
}

/* The TCP header's 20 bytes; returns their sum as stored (checksum field 0). */
MOAT_INLINE u64 moat_tcp_hdr(u8 *t, u16 sport, u16 dport, u32 seq, u32 ack, u8 flags, u16 win,
			     u32 hlen)
{
	u64 sum = moat_reply_put32(t, (u32)sport << 16 | dport);

	sum += moat_reply_put32(t + 4, seq);
	sum += moat_reply_put32(t + 8, ack);
	sum += moat_reply_put32(t + 12, (hlen / 4) << 28 | (u32)flags << 16 | win);
	moat_reply_put32(t + 16, 0); /* checksum, urgent pointer */
	return sum;
}

/*
 * The SYN-ACK's TCP header at t (any alignment): options MSS, then
 * SACK-permitted, timestamps and window scale as the client offered them (the
 * cookie carries them: in our TSval with a timestamp, in the ISN without).
 * wscale is the scale we announce on behalf of the protected stack. ECE
 * answers an ECN-setup SYN. Returns its length (24..40); *sum gets the sum of
 * its words as stored, checksum field 0.
 */
MOAT_INLINE u32 moat_synack_tcp(u8 *t, const struct moat_pkt *syn, const struct moat_cookie *c,
				u8 wscale, u64 *sum)
{
	const struct moat_tcp_opts *o = &syn->opt;
	u32 n = 24;
	u32 sack = o->present & MOAT_OPT_SACK_PERM ? (u32)MOAT_TCPOPT_SACK_PERM << 24 | 2 << 16 :
						     (u32)MOAT_TCPOPT_NOP << 24 | MOAT_TCPOPT_NOP << 16;
	u8 flags = MOAT_TCP_SYN | MOAT_TCP_ACK;
	u64 s;

	s = moat_reply_put32(t + 20, (u32)MOAT_TCPOPT_MSS << 24 | 4 << 16 | c->mss);
	if (o->present & MOAT_OPT_TS) {
		s += moat_reply_put32(t + 24, sack | MOAT_TCPOPT_TS << 8 | 10);
		s += moat_reply_put32(t + 28, c->tsval);
		s += moat_reply_put32(t + 32, o->tsval);
		n = 36;
	} else if (o->present & MOAT_OPT_SACK_PERM) {
		s += moat_reply_put32(t + 24, (u32)MOAT_TCPOPT_NOP << 24 | MOAT_TCPOPT_NOP << 16 |
						      MOAT_TCPOPT_SACK_PERM << 8 | 2);
		n = 28;
	}
	if (o->present & MOAT_OPT_WSCALE) {
		s += moat_reply_put32(t + n, (u32)MOAT_TCPOPT_NOP << 24 | MOAT_TCPOPT_WSCALE << 16 |
						     3 << 8 | wscale);
		n += 4;
	}
	if ((syn->tcp_flags & (MOAT_TCP_ECE | MOAT_TCP_CWR)) == (MOAT_TCP_ECE | MOAT_TCP_CWR))
		flags |= MOAT_TCP_ECE;
	*sum = s + moat_tcp_hdr(t, syn->dport, syn->sport, c->isn, syn->seq + 1, flags,
				MOAT_SYNACK_WINDOW, n);
	return n;
}

/* The SYN-ACK to syn into r, for moat_reply_write(). */
MOAT_INLINE void moat_synack_build(struct moat_reply *r, const struct moat_pkt *syn,
				   const struct moat_cookie *c, u8 wscale)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->tcp_len = (u8)moat_synack_tcp(r->tcp, syn, c, wscale, &r->sum);
}

/* A bare ACK (seq, ack) back to the sender of pkt: the challenge ACK. */
MOAT_INLINE void moat_ack_build(struct moat_reply *r, const struct moat_pkt *pkt, u32 seq, u32 ack,
				u16 win)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->sum = moat_tcp_hdr(r->tcp, pkt->dport, pkt->sport, seq, ack, MOAT_TCP_ACK, win, 20);
	r->tcp_len = 20;
}

/* The checksum is summed from the words as they go out (native order), before any store. */
MOAT_INLINE void moat_ipv4_hdr(u8 *ip, const struct moat_pkt *pkt, u32 tcp_len)
{
	u32 w0 = moat_htonl(0x45u << 24 | (MOAT_IPV4_MIN_HLEN + tcp_len));
	u32 w1 = moat_htonl(0x4000); /* id 0, DF */
	u32 w2 = moat_htonl((u32)MOAT_REPLY_TTL << 24 | MOAT_IPPROTO_TCP << 16);
	u32 src = pkt->daddr.w[0], dst = pkt->saddr.w[0];
	u16 csum = moat_csum_fold((u64)w0 + w1 + w2 + src + dst);

	w2 |= moat_reply_halves(0, csum); /* TTL, protocol, checksum */
	__builtin_memcpy(ip, &w0, 4);
	__builtin_memcpy(ip + 4, &w1, 4);
	__builtin_memcpy(ip + 8, &w2, 4);
	__builtin_memcpy(ip + 12, &src, 4);
	__builtin_memcpy(ip + 16, &dst, 4);
}

MOAT_INLINE void moat_ipv6_hdr(u8 *ip, const struct moat_pkt *pkt, u32 tcp_len)
{
	moat_put_be32(ip, 0x60000000);
	moat_put_be16(ip + 4, (u16)tcp_len);
	ip[6] = MOAT_IPPROTO_TCP;
	ip[7] = MOAT_REPLY_TTL;
	__builtin_memcpy(ip + 8, pkt->daddr.w, 16);
	__builtin_memcpy(ip + 24, pkt->saddr.w, 16);
}

MOAT_INLINE u32 moat_reply_tcp_len(const struct moat_reply *r)
{
	return r->tcp_len > MOAT_REPLY_MAX_TCP ? MOAT_REPLY_MAX_TCP : r->tcp_len;
}

/* The TCP checksum into r->tcp: pseudo-header with our addresses (the packet's, swapped). */
MOAT_INLINE u32 moat_reply_tcp_csum(const struct moat_pkt *pkt, struct moat_reply *r)
{
	u32 tlen = moat_reply_tcp_len(r);
	u16 csum = moat_csum_fold(moat_csum_pseudo(&pkt->daddr, &pkt->saddr, pkt->family, tlen) +
				  r->sum);
	u32 w = moat_reply_halves(csum, 0); /* checksum, urgent pointer 0 */

	__builtin_memcpy(r->tcp + 16, &w, 4);
	return tlen;
}

/* The reply's final headers: the TCP checksum, and the IP header into ip (40 bytes of room). */
MOAT_INLINE void moat_reply_headers(u8 *ip, const struct moat_pkt *pkt, struct moat_reply *r)
{
	u32 tlen = moat_reply_tcp_csum(pkt, r);

	if (pkt->family == 6)
		moat_ipv6_hdr(ip, pkt, tlen);
	else
		moat_ipv4_hdr(ip, pkt, tlen);
}

/*
 * Write the reply over the frame [data, end) that held pkt: MACs swapped, VLAN
 * tags kept, IP and TCP rebuilt. end - data must be moat_reply_len(). 0 or -EINVAL.
 */
MOAT_INLINE int moat_reply_write(u8 *data, const u8 *end, const struct moat_pkt *pkt,
				 struct moat_reply *r)
{
	u8 mac[6];
	u32 tlen;
	u32 l3 = pkt->l3_off > MOAT_ETH_HLEN + MOAT_MAX_VLANS * MOAT_VLAN_HLEN ? 0 : pkt->l3_off;
	u8 *p;

	if (!l3 || data + 12 > end)
		return -MOAT_EINVAL;
	tlen = moat_reply_tcp_csum(pkt, r);
	__builtin_memcpy(mac, data, 6);
	__builtin_memcpy(data, data + 6, 6);
	__builtin_memcpy(data + 6, mac, 6);
	/* The IP header straight into the frame: no buffer whose copy could take another branch. */
	p = data + l3;
	if (pkt->family == 6) {
		if (p + MOAT_IPV6_HLEN > end)
			return -MOAT_EINVAL;
		moat_ipv6_hdr(p, pkt, tlen);
		p += MOAT_IPV6_HLEN;
	} else {
		if (p + MOAT_IPV4_MIN_HLEN > end)
			return -MOAT_EINVAL;
		moat_ipv4_hdr(p, pkt, tlen);
		p += MOAT_IPV4_MIN_HLEN;
	}
	/* Fixed-size copies, so each is one checked store in BPF. */
	if (tlen == MOAT_REPLY_MAX_TCP) {
		if (p + MOAT_REPLY_MAX_TCP > end)
			return -MOAT_EINVAL;
		__builtin_memcpy(p, r->tcp, MOAT_REPLY_MAX_TCP);
	} else {
		u32 i;

#ifdef __bpf__
		for (i = 0; i < MOAT_REPLY_MAX_TCP; i += 4) {
			if (i >= tlen)
				break;
			if (p + i + 4 > end)
				return -MOAT_EINVAL;
			__builtin_memcpy(p + i, r->tcp + i, 4);
		}
#else
		/* One bound check where no verifier asks for one per store. */
		if (p + tlen > end)
			return -MOAT_EINVAL;
		MOAT_UNROLL_GCC
		for (i = 0; i < MOAT_REPLY_MAX_TCP; i += 4) {
			if (i >= tlen)
				break;
			__builtin_memcpy(p + i, r->tcp + i, 4);
		}
#endif
	}
	return 0;
}

/*
 * The SYN-ACK to syn written straight over its frame, without a reply buffer,
 * where the SYN came untagged over IPv4 without IP options (a flood's, and
 * nearly every client's): room bytes from data; the same bytes as
 * moat_synack_build() and moat_reply_write() (tests/unit/test_fastsyn.c).
 * Returns the frame's new length, or -MOAT_EINVAL (another shape, or no room).
 */
MOAT_INLINE int moat_synack_write_ip4(u8 *data, u32 room, const struct moat_pkt *syn,
				      const struct moat_cookie *c, u8 wscale)
{
	u8 *t = data + MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN;
	u8 mac[6];
	u64 sum;
	u32 n;
	u16 csum;

	if (syn->family != 4 || syn->l3_off != MOAT_ETH_HLEN ||
	    syn->l4_off != MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN ||
	    room < MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN + MOAT_REPLY_MAX_TCP)
		return -MOAT_EINVAL;
	n = moat_synack_tcp(t, syn, c, wscale, &sum);
	csum = moat_csum_fold(moat_csum_pseudo(&syn->daddr, &syn->saddr, 4, n) + sum);
	__builtin_memcpy(t + 16, &csum, 2);
	moat_ipv4_hdr(data + MOAT_ETH_HLEN, syn, n);
	__builtin_memcpy(mac, data, 6);
	__builtin_memcpy(data, data + 6, 6);
	__builtin_memcpy(data + 6, mac, 6);
	return (int)(MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN + n);
}

#endif
