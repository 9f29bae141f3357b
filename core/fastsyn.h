/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SYN fast path, for the SYNs a flood and nearly every client send:
 * untagged Ethernet, IPv4 without options or fragmentation, a bare SYN (ECE
 * and CWR allowed) whose options take a layout moat_tcp_opts_fast() decodes.
 *
 * moat_fast_parse_syn() fills pkt exactly as moat_parse() would, without the
 * option walk; anything else it leaves to moat_parse() (which decides the
 * frame from scratch). moat_fast_parse_tcp() does the same for a segment of
 * that shape with any flags (moat-dp's parse of every frame). The SYN-ACK to
 * such a SYN is built as core's moat_synack_build() and moat_reply_headers()
 * build it, then stored over the frame in whole words where moat_reply_write()'s
 * byte copies cost a load and a store per byte (the compiler cannot know the
 * packet's alignment): the same bytes. tests/unit/test_fastsyn.c holds both
 * halves to the general path over random frames.
 */
#ifndef MOAT_CORE_FASTSYN_H
#define MOAT_CORE_FASTSYN_H

#include "parse.h"
#include "reply.h"

/*
 * Whole-word packet access at any alignment. BPF: one load or store through
 * the pointer (unaligned access is fine where BPF runs, x86 and arm64, and a
 * memcpy there would become byte loads). Elsewhere a memcpy, which compiles
 * to the same one instruction without the cast's alignment trouble.
 */
MOAT_INLINE u16 moat_word16(const u8 *p)
{
#ifdef __bpf__
	return *(const u16 *)p;
#else
	u16 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
#endif
}

MOAT_INLINE u32 moat_word32(const u8 *p)
{
#ifdef __bpf__
	return *(const u32 *)p;
#else
	u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
#endif
}

MOAT_INLINE void moat_put_word16(u8 *p, u16 v)
{
#ifdef __bpf__
	*(u16 *)p = v;
#else
	__builtin_memcpy(p, &v, sizeof(v));
#endif
}

MOAT_INLINE void moat_put_word32(u8 *p, u32 v)
{
#ifdef __bpf__
	*(u32 *)p = v;
#else
	__builtin_memcpy(p, &v, sizeof(v));
#endif
}

/*
 * A fast-shape TCP segment into pkt, as moat_parse() fills it: 0, or -1 for
 * the general path. syn_only (a constant at each call): bare SYNs alone.
 */
MOAT_INLINE int moat_fast_parse_seg(const u8 *data, const u8 *end, struct moat_pkt *pkt,
				    int syn_only)
{
	const u8 *ip = data + MOAT_ETH_HLEN, *tcp = ip + MOAT_IPV4_MIN_HLEN;
	u32 hlen, tot;

	if (tcp + MOAT_TCP_MIN_HLEN > end)
		return -1;
	if (moat_word16(data + 12) != moat_htons(MOAT_ETH_P_IP) || ip[0] != 0x45 ||
	    ip[9] != MOAT_IPPROTO_TCP || (moat_word16(ip + 6) & moat_htons(0x3FFF)))
		return -1;
	if (syn_only && (tcp[13] & ~(MOAT_TCP_ECE | MOAT_TCP_CWR)) != MOAT_TCP_SYN)
		return -1;
	hlen = (u32)(tcp[12] >> 4) * 4;
	tot = moat_ntohs(moat_word16(ip + 2));
	if (tot < MOAT_IPV4_MIN_HLEN + hlen || tot > (u32)(end - ip))
		return -1;
	moat_pkt_reset(pkt);
	switch (hlen) {
	case MOAT_TCP_MIN_HLEN:
		break;
	case MOAT_TCP_MIN_HLEN + 4:
		if (tcp + MOAT_TCP_MIN_HLEN + 4 > end ||
		    !moat_tcp_opts_fast(tcp + MOAT_TCP_MIN_HLEN, 4, &pkt->opt))
			return -1;
		break;
	case MOAT_TCP_MIN_HLEN + 12:
		if (tcp + MOAT_TCP_MIN_HLEN + 12 > end ||
		    !moat_tcp_opts_fast(tcp + MOAT_TCP_MIN_HLEN, 12, &pkt->opt))
			return -1;
		break;
	case MOAT_TCP_MIN_HLEN + 20:
		if (tcp + MOAT_TCP_MIN_HLEN + 20 > end ||
		    !moat_tcp_opts_fast(tcp + MOAT_TCP_MIN_HLEN, 20, &pkt->opt))
			return -1;
		break;
	default:
		return -1;
	}
	pkt->l3_off = MOAT_ETH_HLEN;
	pkt->l4_off = MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN;
	pkt->payload_off = (u16)(MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN + hlen);
	pkt->payload_len = (u16)(tot - MOAT_IPV4_MIN_HLEN - hlen);
	pkt->l3_len = (u16)tot;
	pkt->family = 4;
	pkt->proto = MOAT_IPPROTO_TCP;
	pkt->ttl = ip[8];
	pkt->tos = ip[1];
	pkt->tcp_flags = tcp[13];
	pkt->tcp_hlen = (u8)hlen;
	pkt->sport = moat_ntohs(moat_word16(tcp));
	pkt->dport = moat_ntohs(moat_word16(tcp + 2));
	pkt->seq = moat_ntohl(moat_word32(tcp + 4));
	pkt->ack = moat_ntohl(moat_word32(tcp + 8));
	pkt->window = moat_ntohs(moat_word16(tcp + 14));
	pkt->saddr.w[0] = moat_word32(ip + 12);
	pkt->daddr.w[0] = moat_word32(ip + 16);
	/* Port 0 is malformed: the general path says so. */
	return pkt->sport && pkt->dport ? 0 : -1;
}

/* A fast-path SYN (XDP's SYN path takes these alone). */
MOAT_INLINE int moat_fast_parse_syn(const u8 *data, const u8 *end, struct moat_pkt *pkt)
{
	return moat_fast_parse_seg(data, end, pkt, 1);
}

/*
 * Any segment of the fast shape, whatever its flags: moat-dp parses every
 * frame with it first (an established flow's segments carry no options or
 * timestamps alone, layouts it decodes).
 */
MOAT_INLINE int moat_fast_parse_tcp(const u8 *data, const u8 *end, struct moat_pkt *pkt)
{
	return moat_fast_parse_seg(data, end, pkt, 0);
}

/*
 * The SYN-ACK's headers, built before the frame is resized to take them (XDP:
 * in a per-CPU map value, the program's stack being full). 8-aligned, so the
 * words are read back whole.
 */
struct moat_synack_fast {
	struct moat_reply reply;
	u8 ip[MOAT_IPV6_HLEN] __attribute__((aligned(8)));
};

/* Frame length of the SYN-ACK to a fast-path SYN whose TCP header takes tlen bytes. */
#define MOAT_SYNACK_FAST_LEN(tlen) (MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN + (tlen))

/*
 * Build the SYN-ACK to the fast-path SYN pkt in w; returns its TCP length
 * (24, 36 or 40): size the frame to MOAT_SYNACK_FAST_LEN() of it, then write.
 */
MOAT_INLINE u32 moat_synack_fast_build(struct moat_synack_fast *w, const struct moat_pkt *pkt,
				       const struct moat_cookie *c, u8 wscale)
{
	/* Map values are 8-aligned: say so, or the compiler stores bytes. */
	w = __builtin_assume_aligned(w, 8);
	moat_synack_build(&w->reply, pkt, c, wscale);
	moat_reply_headers(w->ip, pkt, &w->reply);
	return moat_reply_tcp_len(&w->reply);
}

/*
 * Copy n bytes (a multiple of 4, constant) from w's aligned buffers in 32-bit
 * words, the size core stored them in (a wider read would not forward).
 */
#define MOAT_COPY32(dst, src, n)                                                                   \
	do {                                                                                       \
		u32 i_;                                                                            \
		MOAT_UNROLL                                                                        \
		for (i_ = 0; i_ < (n); i_ += 4)                                                    \
			moat_put_word32((dst) + i_, moat_word32((src) + i_));                      \
	} while (0)

/*
 * Write w's SYN-ACK (TCP length tlen, as built) over the frame [data, end)
 * of the SYN, sized to MOAT_SYNACK_FAST_LEN(tlen): MACs swapped, the IPv4 and
 * TCP headers stored. 0, or -MOAT_EINVAL when the frame is too short.
 */
MOAT_INLINE int moat_synack_fast_write(u8 *data, const u8 *end, const struct moat_synack_fast *w,
				       u32 tlen)
{
	u8 *p = data + MOAT_ETH_HLEN + MOAT_IPV4_MIN_HLEN;
	u32 mac0, mac1;
	u16 mac2, mac3;

	w = __builtin_assume_aligned(w, 8);
	/* Every SYN-ACK carries MSS: 24 bytes at least, then 36 or 40 with timestamps. */
	if (p + 24 > end)
		return -MOAT_EINVAL;
	mac0 = moat_word32(data);
	mac2 = moat_word16(data + 4);
	mac1 = moat_word32(data + 6);
	mac3 = moat_word16(data + 10);
	moat_put_word32(data, mac1);
	moat_put_word16(data + 4, mac3);
	moat_put_word32(data + 6, mac0);
	moat_put_word16(data + 10, mac2);
	MOAT_COPY32(data + MOAT_ETH_HLEN, w->ip, MOAT_IPV4_MIN_HLEN);
	MOAT_COPY32(p, w->reply.tcp, 24);
	if (tlen >= 36) {
		if (p + 36 > end)
			return -MOAT_EINVAL;
		MOAT_COPY32(p + 24, w->reply.tcp + 24, 12);
	}
	if (tlen >= 40) {
		if (p + 40 > end)
			return -MOAT_EINVAL;
		moat_put_word32(p + 36, moat_word32(w->reply.tcp + 36));
	}
	return 0;
}

#endif
