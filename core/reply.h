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

/* TCP header with options, the IP header length, for one reply. */
struct moat_reply {
	u8 tcp[MOAT_REPLY_MAX_TCP] __attribute__((aligned(8)));
	u8 tcp_len;
};

/* Frame length of a reply to pkt: L2 (tags kept) + IP + TCP. */
MOAT_INLINE u32 moat_reply_len(const struct moat_pkt *pkt, u32 tcp_len)
{
	return (u32)pkt->l3_off + (pkt->family == 6 ? MOAT_IPV6_HLEN : MOAT_IPV4_MIN_HLEN) + tcp_len;
}

MOAT_INLINE void moat_tcp_hdr(u8 *t, u16 sport, u16 dport, u32 seq, u32 ack, u8 flags, u16 win,
			      u32 hlen)
{
	moat_put_be16(t, sport);
	moat_put_be16(t + 2, dport);
	moat_put_be32(t + 4, seq);
	moat_put_be32(t + 8, ack);
	t[12] = (u8)((hlen / 4) << 4);
	t[13] = flags;
	moat_put_be16(t + 14, win);
	t[16] = t[17] = t[18] = t[19] = 0; /* checksum, urgent pointer */
}

/*
 * SYN-ACK options: MSS; then SACK-permitted + timestamps + window scale only
 * when the client sent a timestamp (the cookie can carry them only through it).
 * wscale is the scale we announce on behalf of the protected stack.
 */
MOAT_INLINE void moat_synack_build(struct moat_reply *r, const struct moat_pkt *syn,
				   const struct moat_cookie *c, u8 wscale)
{
	const struct moat_tcp_opts *o = &syn->opt;
	u8 *t = r->tcp;
	u32 n = 20;

	__builtin_memset(r, 0, sizeof(*r));
	t[n++] = MOAT_TCPOPT_MSS;
	t[n++] = 4;
	moat_put_be16(t + n, c->mss);
	n += 2;
	if (o->present & MOAT_OPT_TS) {
		if (o->present & MOAT_OPT_SACK_PERM) {
			t[n++] = MOAT_TCPOPT_SACK_PERM;
			t[n++] = 2;
		} else {
			t[n++] = MOAT_TCPOPT_NOP;
			t[n++] = MOAT_TCPOPT_NOP;
		}
		t[n++] = MOAT_TCPOPT_TS;
		t[n++] = 10;
		moat_put_be32(t + n, c->tsval);
		moat_put_be32(t + n + 4, o->tsval);
		n += 8;
		if (o->present & MOAT_OPT_WSCALE) {
			t[n++] = MOAT_TCPOPT_NOP;
			t[n++] = MOAT_TCPOPT_WSCALE;
			t[n++] = 3;
			t[n++] = wscale;
		}
	}
	moat_tcp_hdr(t, syn->dport, syn->sport, c->isn, syn->seq + 1,
		     MOAT_TCP_SYN | MOAT_TCP_ACK |
			     ((syn->tcp_flags & (MOAT_TCP_ECE | MOAT_TCP_CWR)) ==
					      (MOAT_TCP_ECE | MOAT_TCP_CWR) &&
				      (o->present & MOAT_OPT_TS) ?
			      MOAT_TCP_ECE :
			      0),
		     MOAT_SYNACK_WINDOW, n);
	r->tcp_len = (u8)n;
}

/* A bare ACK (seq, ack) back to the sender of pkt: the challenge ACK. */
MOAT_INLINE void moat_ack_build(struct moat_reply *r, const struct moat_pkt *pkt, u32 seq, u32 ack,
				u16 win)
{
	__builtin_memset(r, 0, sizeof(*r));
	moat_tcp_hdr(r->tcp, pkt->dport, pkt->sport, seq, ack, MOAT_TCP_ACK, win, 20);
	r->tcp_len = 20;
}

MOAT_INLINE void moat_ipv4_hdr(u8 *ip, const struct moat_pkt *pkt, u32 tcp_len)
{
	ip[0] = 0x45;
	ip[1] = 0;
	moat_put_be16(ip + 2, (u16)(MOAT_IPV4_MIN_HLEN + tcp_len));
	ip[4] = ip[5] = 0;
	ip[6] = 0x40; /* DF */
	ip[7] = 0;
	ip[8] = MOAT_REPLY_TTL;
	ip[9] = MOAT_IPPROTO_TCP;
	ip[10] = ip[11] = 0;
	__builtin_memcpy(ip + 12, &pkt->daddr.w[0], 4);
	__builtin_memcpy(ip + 16, &pkt->saddr.w[0], 4);
	moat_csum_store(ip + 10, moat_csum_fold(moat_csum_add_words(0, ip, MOAT_IPV4_MIN_HLEN)));
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

/*
 * The reply's final headers: the TCP checksum into r->tcp (pseudo-header with our
 * addresses, the packet's swapped) and the IP header into ip. Returns the TCP length.
 */
MOAT_INLINE u32 moat_reply_headers(u8 *ip, const struct moat_pkt *pkt, struct moat_reply *r)
{
	u32 tlen = r->tcp_len > MOAT_REPLY_MAX_TCP ? MOAT_REPLY_MAX_TCP : r->tcp_len;

	moat_csum_store(r->tcp + 16,
			moat_csum_fold(moat_csum_add_words(
				moat_csum_pseudo(&pkt->daddr, &pkt->saddr, pkt->family, tlen), r->tcp,
				tlen)));
	if (pkt->family == 6)
		moat_ipv6_hdr(ip, pkt, tlen);
	else
		moat_ipv4_hdr(ip, pkt, tlen);
	return tlen;
}

/*
 * Write the reply over the frame [data, end) that held pkt: MACs swapped, VLAN
 * tags kept, IP and TCP rebuilt. end - data must be moat_reply_len(). 0 or -EINVAL.
 */
MOAT_INLINE int moat_reply_write(u8 *data, const u8 *end, const struct moat_pkt *pkt,
				 struct moat_reply *r)
{
	u8 mac[6];
	u8 ip[MOAT_IPV6_HLEN] __attribute__((aligned(8)));
	u32 iplen = pkt->family == 6 ? MOAT_IPV6_HLEN : MOAT_IPV4_MIN_HLEN;
	u32 tlen;
	u32 l3 = pkt->l3_off > MOAT_ETH_HLEN + 2 * MOAT_VLAN_HLEN ? 0 : pkt->l3_off;
	u8 *p;

	if (!l3 || data + 12 > end)
		return -MOAT_EINVAL;
	tlen = moat_reply_headers(ip, pkt, r);
	__builtin_memcpy(mac, data, 6);
	__builtin_memcpy(data, data + 6, 6);
	__builtin_memcpy(data + 6, mac, 6);
	p = data + l3;
	if (pkt->family == 6) {
		if (p + MOAT_IPV6_HLEN > end)
			return -MOAT_EINVAL;
		__builtin_memcpy(p, ip, MOAT_IPV6_HLEN);
	} else {
		if (p + MOAT_IPV4_MIN_HLEN > end)
			return -MOAT_EINVAL;
		__builtin_memcpy(p, ip, MOAT_IPV4_MIN_HLEN);
	}
	p += iplen;
	/* Fixed-size copies, so each is one checked store in BPF. */
	if (tlen == MOAT_REPLY_MAX_TCP) {
		if (p + MOAT_REPLY_MAX_TCP > end)
			return -MOAT_EINVAL;
		__builtin_memcpy(p, r->tcp, MOAT_REPLY_MAX_TCP);
	} else {
		u32 i;

		for (i = 0; i < MOAT_REPLY_MAX_TCP; i += 4) {
			if (i >= tlen)
				break;
			if (p + i + 4 > end)
				return -MOAT_EINVAL;
			__builtin_memcpy(p + i, r->tcp + i, 4);
		}
	}
	return 0;
}

#endif
