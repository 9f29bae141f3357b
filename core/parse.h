/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Header parsers: Ethernet with up to four 802.1Q/802.1ad tags, IPv4 (options,
 * fragments), IPv6 with a bounded extension-header chain, TCP with options.
 * Every read is checked against `end` before it happens, loops are bounded, and
 * results are offsets from the frame start so each target can re-derive pointers
 * (the BPF verifier needs fresh checks on its own pointers anyway).
 *
 * Fragments: a non-first fragment has no TCP header, so it cannot open, reset or
 * steer a connection; it is reported as MOAT_PARSE_FRAGMENT (policy passes it as
 * not_protected; the receiving stack drops it when the first fragment was
 * dropped). A TCP non-first fragment at offset 1 (8 bytes) can only exist to
 * overwrite the flags of the first one (RFC 1858) and is malformed, and so is a
 * first fragment too short to hold the whole TCP header.
 */
#ifndef MOAT_CORE_PARSE_H
#define MOAT_CORE_PARSE_H

#include "types.h"

#define MOAT_ETH_HLEN 14
#define MOAT_VLAN_HLEN 4
#define MOAT_MAX_VLANS 4
#define MOAT_IPV4_MIN_HLEN 20
#define MOAT_IPV6_HLEN 40
#define MOAT_IPV6_MAX_EXT 8
#define MOAT_TCP_MIN_HLEN 20
#define MOAT_TCP_MAX_OPTLEN 40
#define MOAT_MAX_SACK_BLOCKS 4

enum moat_ethertype {
	MOAT_ETH_P_IP = 0x0800,
	MOAT_ETH_P_IPV6 = 0x86DD,
	MOAT_ETH_P_8021Q = 0x8100,
	MOAT_ETH_P_8021AD = 0x88A8,
	MOAT_ETH_P_QINQ1 = 0x9100, /* pre-802.1ad QinQ, still sent by some switches */
};

enum moat_ipproto {
	MOAT_IPPROTO_HOPOPTS = 0,
	MOAT_IPPROTO_ICMP = 1,
	MOAT_IPPROTO_TCP = 6,
	MOAT_IPPROTO_UDP = 17,
	MOAT_IPPROTO_ROUTING = 43,
	MOAT_IPPROTO_FRAGMENT = 44,
	MOAT_IPPROTO_AH = 51,
	MOAT_IPPROTO_NONE = 59,
	MOAT_IPPROTO_DSTOPTS = 60,
	MOAT_IPPROTO_MH = 135,
};

enum moat_tcp_flag {
	MOAT_TCP_FIN = 0x01,
	MOAT_TCP_SYN = 0x02,
	MOAT_TCP_RST = 0x04,
	MOAT_TCP_PSH = 0x08,
	MOAT_TCP_ACK = 0x10,
	MOAT_TCP_URG = 0x20,
	MOAT_TCP_ECE = 0x40,
	MOAT_TCP_CWR = 0x80,
};

enum moat_tcp_optkind {
	MOAT_TCPOPT_EOL = 0,
	MOAT_TCPOPT_NOP = 1,
	MOAT_TCPOPT_MSS = 2,
	MOAT_TCPOPT_WSCALE = 3,
	MOAT_TCPOPT_SACK_PERM = 4,
	MOAT_TCPOPT_SACK = 5,
	MOAT_TCPOPT_TS = 8,
	MOAT_TCPOPT_TFO = 34,
	MOAT_TCPOPT_EXP = 254,
};

/* Which options a segment carried. */
enum moat_optbit {
	MOAT_OPT_MSS = 1 << 0,
	MOAT_OPT_WSCALE = 1 << 1,
	MOAT_OPT_SACK_PERM = 1 << 2,
	MOAT_OPT_TS = 1 << 3,
	MOAT_OPT_SACK = 1 << 4,
	MOAT_OPT_TFO = 1 << 5,
};

enum moat_parse_status {
	MOAT_PARSE_TCP = 0,    /* TCP segment, header complete */
	MOAT_PARSE_NOT_IP,     /* ARP, LLDP, ...: not ours */
	MOAT_PARSE_NOT_TCP,    /* IP but another protocol */
	MOAT_PARSE_FRAGMENT,   /* a non-first fragment: no L4 header */
	MOAT_PARSE_MALFORMED,  /* truncated or inconsistent headers */
	MOAT_PARSE_CUT,	       /* a capture's snapshot ends inside the headers (explain) */
};

enum moat_frag { MOAT_FRAG_NONE = 0, MOAT_FRAG_FIRST, MOAT_FRAG_LATER };

/* Addresses in network byte order; IPv4 lives in w[0], the rest is zero. */
struct moat_addr {
	u32 w[4];
};

struct moat_tcp_opts {
	u16 mss;
	u8 wscale;
	u8 present; /* enum moat_optbit */
	u32 tsval;
	u32 tsecr;
	u8 ts_off;   /* offset of the TS option kind byte from the TCP header */
	u8 sack_off; /* offset of the SACK option kind byte */
	u8 sack_blocks;
	u8 tfo_len;
};

struct moat_pkt {
	u16 l3_off;
	u16 l4_off;
	u16 payload_off;
	u16 payload_len;
	u16 l3_len; /* IP header(s) + payload as the IP header declares */
	u16 vlan_tci[MOAT_MAX_VLANS];
	u8 vlan_count;
	u8 family; /* 4 or 6, 0 when not IP */
	u8 proto;
	u8 ttl; /* hop limit for IPv6 */
	u8 tos; /* traffic class for IPv6; ECN in the low two bits */
	u8 frag;
	u8 tcp_flags;
	u8 tcp_hlen;
	u16 sport; /* host order */
	u16 dport;
	u32 seq;
	u32 ack;
	u16 window;
	struct moat_addr saddr;
	struct moat_addr daddr;
	struct moat_tcp_opts opt;
};

/*
 * end: what may be read. wire: where the frame ended on the wire; the same as
 * end except in a capture whose snapshot cut the frame (explain): declared
 * lengths are checked against wire, reads against end.
 */
struct moat_cursor {
	const u8 *start;
	const u8 *end;
	const u8 *wire;
};

MOAT_INLINE mbool moat_has(const struct moat_cursor *c, const u8 *p, u32 n)
{
	return p + n <= c->end;
}

/* Lies within the frame as sent (may be past a snapshot's end). */
MOAT_INLINE mbool moat_on_wire(const struct moat_cursor *c, const u8 *p, u32 n)
{
	return p + n <= c->wire;
}

MOAT_INLINE mbool moat_is_vlan(u16 type)
{
	return type == MOAT_ETH_P_8021Q || type == MOAT_ETH_P_8021AD || type == MOAT_ETH_P_QINQ1;
}

/*
 * n bytes at p are missing: the frame is cut there by a capture's snapshot
 * (they were on the wire), or it really is that short.
 */
MOAT_INLINE int moat_short(const struct moat_cursor *c, const u8 *p, u32 n)
{
	return moat_on_wire(c, p, n) ? MOAT_PARSE_CUT : MOAT_PARSE_MALFORMED;
}

/*
 * Ethernet + VLAN tags; on success returns the L3 offset and sets *ethertype;
 * -MOAT_EAGAIN when a snapshot cut the tags, -MOAT_EBADMSG when malformed.
 */
MOAT_INLINE int moat_parse_eth(const struct moat_cursor *c, struct moat_pkt *pkt, u16 *ethertype)
{
	const u8 *p = c->start;
	u16 off = MOAT_ETH_HLEN;
	u16 type;
	int i;

	if (!moat_has(c, p, MOAT_ETH_HLEN))
		return moat_on_wire(c, p, MOAT_ETH_HLEN) ? -MOAT_EAGAIN : -MOAT_EBADMSG;
	type = moat_get_be16(p + 12);
	pkt->vlan_count = 0;
	/* Unrolled: the verifier sees four fixed offsets, not a loop. */
	MOAT_UNROLL
	for (i = 0; i < MOAT_MAX_VLANS; i++) {
		if (!moat_is_vlan(type))
			break;
		if (!moat_has(c, p + off, MOAT_VLAN_HLEN))
			return moat_on_wire(c, p + off, MOAT_VLAN_HLEN) ? -MOAT_EAGAIN :
									  -MOAT_EBADMSG;
		pkt->vlan_tci[i] = moat_get_be16(p + off);
		type = moat_get_be16(p + off + 2);
		pkt->vlan_count++;
		off += MOAT_VLAN_HLEN;
	}
	/*
	 * A fifth tag: legal on the wire, but deeper than any provider stacks them;
	 * refusing it keeps a tag stack from smuggling packets past the parser.
	 */
	if (moat_is_vlan(type))
		return -MOAT_EBADMSG;
	*ethertype = type;
	return off;
}

MOAT_INLINE int moat_parse_ipv4(const struct moat_cursor *c, struct moat_pkt *pkt, u16 l3_off)
{
	const u8 *ip = c->start + l3_off;
	u16 hlen, tot, fragword, fragoff;

	if (!moat_has(c, ip, MOAT_IPV4_MIN_HLEN))
		return moat_short(c, ip, MOAT_IPV4_MIN_HLEN);
	if ((ip[0] >> 4) != 4)
		return MOAT_PARSE_MALFORMED;
	hlen = (u16)((ip[0] & 0x0F) * 4);
	tot = moat_get_be16(ip + 2);
	if (hlen < MOAT_IPV4_MIN_HLEN || tot < hlen)
		return MOAT_PARSE_MALFORMED;
	/* The declared datagram must be in the frame (trailing padding is fine). */
	if (!moat_on_wire(c, ip, tot))
		return MOAT_PARSE_MALFORMED;
	pkt->family = 4;
	pkt->tos = ip[1];
	pkt->ttl = ip[8];
	pkt->proto = ip[9];
	pkt->saddr.w[0] = moat_load32(ip + 12);
	pkt->daddr.w[0] = moat_load32(ip + 16);
	pkt->saddr.w[1] = pkt->saddr.w[2] = pkt->saddr.w[3] = 0;
	pkt->daddr.w[1] = pkt->daddr.w[2] = pkt->daddr.w[3] = 0;
	pkt->l3_len = tot;
	pkt->l4_off = (u16)(l3_off + hlen);

	fragword = moat_get_be16(ip + 6);
	fragoff = fragword & 0x1FFF;
	pkt->frag = MOAT_FRAG_NONE;
	if (fragoff) {
		pkt->frag = MOAT_FRAG_LATER;
		if (fragoff == 1 && pkt->proto == MOAT_IPPROTO_TCP)
			return MOAT_PARSE_MALFORMED;
		return MOAT_PARSE_FRAGMENT;
	}
	if (fragword & 0x2000)
		pkt->frag = MOAT_FRAG_FIRST;
	return pkt->proto == MOAT_IPPROTO_TCP ? MOAT_PARSE_TCP : MOAT_PARSE_NOT_TCP;
}

MOAT_INLINE mbool moat_ipv6_is_ext(u8 nh)
{
	return nh == MOAT_IPPROTO_HOPOPTS || nh == MOAT_IPPROTO_ROUTING ||
	       nh == MOAT_IPPROTO_FRAGMENT || nh == MOAT_IPPROTO_DSTOPTS || nh == MOAT_IPPROTO_AH ||
	       nh == MOAT_IPPROTO_MH;
}

MOAT_INLINE void moat_copy_addr6(struct moat_addr *a, const u8 *p)
{
	a->w[0] = moat_load32(p);
	a->w[1] = moat_load32(p + 4);
	a->w[2] = moat_load32(p + 8);
	a->w[3] = moat_load32(p + 12);
}

MOAT_INLINE int moat_parse_ipv6(const struct moat_cursor *c, struct moat_pkt *pkt, u16 l3_off)
{
	const u8 *ip = c->start + l3_off;
	u16 plen, off, end_off;
	u8 nh;
	int i;

	if (!moat_has(c, ip, MOAT_IPV6_HLEN))
		return moat_short(c, ip, MOAT_IPV6_HLEN);
	if ((ip[0] >> 4) != 6)
		return MOAT_PARSE_MALFORMED;
	plen = moat_get_be16(ip + 4);
	/* Jumbograms (payload length 0 + hop-by-hop option) do not cross an Ethernet. */
	if (!moat_on_wire(c, ip, (u32)MOAT_IPV6_HLEN + plen))
		return MOAT_PARSE_MALFORMED;
	pkt->family = 6;
	pkt->tos = (u8)(((ip[0] & 0x0F) << 4) | (ip[1] >> 4));
	pkt->ttl = ip[7];
	moat_copy_addr6(&pkt->saddr, ip + 8);
	moat_copy_addr6(&pkt->daddr, ip + 24);
	pkt->l3_len = (u16)(MOAT_IPV6_HLEN + plen);
	pkt->frag = MOAT_FRAG_NONE;
	nh = ip[6];
	off = (u16)(l3_off + MOAT_IPV6_HLEN);
	end_off = (u16)(l3_off + pkt->l3_len);

	for (i = 0; i < MOAT_IPV6_MAX_EXT; i++) {
		const u8 *ext = c->start + off;
		u16 elen;

		if (!moat_ipv6_is_ext(nh))
			break;
		if (off + 8 > end_off)
			return MOAT_PARSE_MALFORMED;
		if (!moat_has(c, ext, 8))
			return moat_short(c, ext, 8);
		/*
		 * The variable-length headers first: the compiler makes them the
		 * fall-through, which the BPF verifier explores first, so the fixed
		 * 8-byte fragment header's exact offsets fall within ranges it has
		 * checked already (fragment first cost several times the states).
		 */
		if (nh != MOAT_IPPROTO_FRAGMENT) {
			if (nh == MOAT_IPPROTO_AH)
				elen = (u16)((ext[1] + 2) * 4);
			else
				elen = (u16)((ext[1] + 1) * 8);
		} else {
			u16 fragword = moat_get_be16(ext + 2);
			u16 fragoff = fragword >> 3;

			elen = 8;
			if (fragoff) {
				pkt->frag = MOAT_FRAG_LATER;
				pkt->proto = ext[0];
				if (fragoff == 1 && ext[0] == MOAT_IPPROTO_TCP)
					return MOAT_PARSE_MALFORMED;
				return MOAT_PARSE_FRAGMENT;
			}
			if (fragword & 1)
				pkt->frag = MOAT_FRAG_FIRST;
		}
		nh = ext[0];
		off = (u16)(off + elen);
	}
	if (moat_ipv6_is_ext(nh))
		return MOAT_PARSE_MALFORMED; /* chain longer than we are willing to walk */
	if (off > end_off)
		return MOAT_PARSE_MALFORMED;
	pkt->proto = nh;
	pkt->l4_off = off;
	return nh == MOAT_IPPROTO_TCP ? MOAT_PARSE_TCP : MOAT_PARSE_NOT_TCP;
}

/*
 * Options are copied to a 64-byte stack buffer first and walked there: the walk
 * then needs no packet-bound checks, and the verifier sees one short copy loop
 * instead of a packet walk multiplied by every path the headers took.
 */
#define MOAT_OPTBUF_LEN 64

/*
 * Copy the option space: 40 bytes when the frame has them, else every whole
 * 32-bit word it has (the option space is whole words, and the caller checked
 * it is in the frame). Bounded by the frame alone: a loop that also stopped at
 * the option length would leave the verifier knowing that length exactly on
 * each of its exits, and checking the walk once per length.
 */
MOAT_INLINE void moat_copy_tcp_opts(const struct moat_cursor *c, const u8 *opt, u8 *buf)
{
	u32 i;

	if (moat_has(c, opt, MOAT_TCP_MAX_OPTLEN)) {
		__builtin_memcpy(buf, opt, MOAT_TCP_MAX_OPTLEN);
		return;
	}
	for (i = 0; i < MOAT_TCP_MAX_OPTLEN; i += 4) {
		if (!moat_has(c, opt + i, 4))
			break;
		__builtin_memcpy(buf + i, opt + i, 4);
	}
}

/*
 * The layouts nearly every segment carries, decoded without a walk: Linux's SYN
 * (MSS, SACK-permitted, timestamps, NOP, window scale), timestamps alone (NOP,
 * NOP, TS: established Linux and BSD traffic) and MSS alone. 1 when decoded.
 */
MOAT_INLINE int moat_tcp_opts_fast(const u8 *b, u32 optlen, struct moat_tcp_opts *o)
{
	if (optlen == 12 && b[0] == MOAT_TCPOPT_NOP && b[1] == MOAT_TCPOPT_NOP &&
	    b[2] == MOAT_TCPOPT_TS && b[3] == 10) {
		o->tsval = moat_get_be32(b + 4);
		o->tsecr = moat_get_be32(b + 8);
		o->ts_off = MOAT_TCP_MIN_HLEN + 2;
		o->present = MOAT_OPT_TS;
		return 1;
	}
	if (optlen == 20 && b[0] == MOAT_TCPOPT_MSS && b[1] == 4 && b[4] == MOAT_TCPOPT_SACK_PERM &&
	    b[5] == 2 && b[6] == MOAT_TCPOPT_TS && b[7] == 10 && b[16] == MOAT_TCPOPT_NOP &&
	    b[17] == MOAT_TCPOPT_WSCALE && b[18] == 3) {
		o->mss = moat_get_be16(b + 2);
		o->tsval = moat_get_be32(b + 8);
		o->tsecr = moat_get_be32(b + 12);
		o->ts_off = MOAT_TCP_MIN_HLEN + 6;
		o->wscale = b[19];
		o->present = MOAT_OPT_MSS | MOAT_OPT_SACK_PERM | MOAT_OPT_TS | MOAT_OPT_WSCALE;
		return 1;
	}
	if (optlen == 4 && b[0] == MOAT_TCPOPT_MSS && b[1] == 4) {
		o->mss = moat_get_be16(b + 2);
		o->present = MOAT_OPT_MSS;
		return 1;
	}
	return 0;
}

/*
 * One option at b[off..off+len). As Linux's tcp_parse_options(): an option
 * whose length does not fit its kind is ignored (the segment is not), so
 * a receiver the filter protects would have accepted the segment anyway.
 */
MOAT_INLINE void moat_tcp_opt_one(const u8 *b, u32 off, u8 kind, u8 len, struct moat_tcp_opts *o)
{
	const u8 *p = b + (off & 0x3F); /* off + len <= 40 < MOAT_OPTBUF_LEN */

	switch (kind) {
	case MOAT_TCPOPT_MSS:
		if (len != 4)
			break;
		o->mss = moat_get_be16(p + 2);
		o->present |= MOAT_OPT_MSS;
		break;
	case MOAT_TCPOPT_WSCALE:
		if (len != 3)
			break;
		o->wscale = p[2];
		o->present |= MOAT_OPT_WSCALE;
		break;
	case MOAT_TCPOPT_SACK_PERM:
		if (len != 2)
			break;
		o->present |= MOAT_OPT_SACK_PERM;
		break;
	case MOAT_TCPOPT_SACK:
		/* 1 to 4 blocks: 4 is all 40 bytes of option space can hold. */
		if (len < 10 || ((len - 2) & 7) || len > 2 + 8 * MOAT_MAX_SACK_BLOCKS)
			break;
		o->sack_blocks = (u8)((len - 2) / 8);
		o->sack_off = (u8)(MOAT_TCP_MIN_HLEN + off);
		o->present |= MOAT_OPT_SACK;
		break;
	case MOAT_TCPOPT_TS:
		if (len != 10)
			break;
		o->tsval = moat_get_be32(p + 2);
		o->tsecr = moat_get_be32(p + 6);
		o->ts_off = (u8)(MOAT_TCP_MIN_HLEN + off);
		o->present |= MOAT_OPT_TS;
		break;
	case MOAT_TCPOPT_TFO:
		/* RFC 7413: empty (cookie request) or a 4..16 byte even cookie. */
		if (len != 2 && (len < 6 || len > 18 || (len & 1)))
			break;
		o->tfo_len = (u8)(len - 2);
		o->present |= MOAT_OPT_TFO;
		break;
	default:
		break;
	}
}

/*
 * The option walk, one option per step. Targets drive the steps: plain C loops
 * them; BPF defines MOAT_TCPOPT_LOOP to bpf_loop() before including core/, so the
 * verifier checks one step once instead of every path through 40 iterations.
 * off is the second half of an 8-byte word (hence the alignment): the verifier
 * tracks a 4-byte value only at the start of a stack word, so a step reads off
 * as just "below 40", and the step is checked a few times rather than once for
 * every exact position and range the walk can reach (hundreds).
 */
struct moat_optwalk {
	u8 buf[MOAT_OPTBUF_LEN];
	struct moat_tcp_opts o;
	u32 len;
	u32 off;
} __attribute__((aligned(8)));
_Static_assert(__builtin_offsetof(struct moat_optwalk, off) % 8 == 4,
	       "moat_optwalk: off in the second half of a word");

/*
 * One step: returns 1 to stop, 0 to go on. A kind without its length byte, a
 * length below 2 or one running past the header ends the walk, keeping what
 * was read before it: Linux stops there too ("silly" and partial options),
 * and accepts the segment.
 */
MOAT_INLINE long moat_tcpopt_step(u32 i, struct moat_optwalk *w)
{
	u32 off = w->off;
	u8 kind, len;

	(void)i;
	if (off >= w->len || off >= MOAT_TCP_MAX_OPTLEN)
		return 1;
	kind = w->buf[off & 0x3F];
	if (kind == MOAT_TCPOPT_EOL)
		return 1;
	if (kind == MOAT_TCPOPT_NOP) {
		w->off = off + 1;
		return 0;
	}
	if (off + 2 > w->len)
		return 1;
	len = w->buf[(off + 1) & 0x3F];
	if (len < 2 || off + len > w->len)
		return 1;
	moat_tcp_opt_one(w->buf, off, kind, len, &w->o);
	w->off = off + len;
	return 0;
}

#ifndef MOAT_TCPOPT_LOOP
#define MOAT_TCPOPT_LOOP(w)                                                                        	do {                                                                                       		u32 i_;                                                                            		for (i_ = 0; i_ < MOAT_TCP_MAX_OPTLEN; i_++)                                       			if (moat_tcpopt_step(i_, (w)))                                             				break;                                                             	} while (0)
#endif

/*
 * Options never make a segment malformed (see moat_tcpopt_step). What a
 * snapshot cut off reads as zeros, EOL: the walk keeps what was captured.
 */
MOAT_INLINE void moat_parse_tcp_opts(const struct moat_cursor *c, const u8 *tcp, u32 optlen,
				     struct moat_tcp_opts *o)
{
	struct moat_optwalk w;

	if (!optlen)
		return;
	__builtin_memset(w.buf, 0, sizeof(w.buf));
	moat_copy_tcp_opts(c, tcp + MOAT_TCP_MIN_HLEN, w.buf);
	if (moat_tcp_opts_fast(w.buf, optlen, o))
		return;
	w.o = *o;
	w.off = 0;
	w.len = optlen;
	MOAT_TCPOPT_LOOP(&w);
	*o = w.o;
}

MOAT_INLINE int moat_parse_tcp(const struct moat_cursor *c, struct moat_pkt *pkt)
{
	const u8 *tcp = c->start + pkt->l4_off;
	u32 l4_len, hlen;

	if (pkt->l4_off > pkt->l3_off + pkt->l3_len)
		return MOAT_PARSE_MALFORMED;
	/* Lengths from the IP header, not from what a snapshot kept. */
	l4_len = (u32)pkt->l3_off + pkt->l3_len - pkt->l4_off;
	if (l4_len < MOAT_TCP_MIN_HLEN)
		return MOAT_PARSE_MALFORMED;
	if (!moat_has(c, tcp, MOAT_TCP_MIN_HLEN))
		return moat_short(c, tcp, MOAT_TCP_MIN_HLEN);
	hlen = (u32)(tcp[12] >> 4) * 4;
	/* Options a snapshot cut are walked as far as they were kept. */
	if (hlen < MOAT_TCP_MIN_HLEN || hlen > l4_len ||
	    (!moat_has(c, tcp, hlen) && !moat_on_wire(c, tcp, hlen)))
		return MOAT_PARSE_MALFORMED;
	pkt->sport = moat_get_be16(tcp);
	pkt->dport = moat_get_be16(tcp + 2);
	pkt->seq = moat_get_be32(tcp + 4);
	pkt->ack = moat_get_be32(tcp + 8);
	pkt->tcp_flags = tcp[13];
	pkt->window = moat_get_be16(tcp + 14);
	pkt->tcp_hlen = (u8)hlen;
	pkt->payload_off = (u16)(pkt->l4_off + hlen);
	pkt->payload_len = (u16)(l4_len - hlen);
	if (pkt->sport == 0 || pkt->dport == 0)
		return MOAT_PARSE_MALFORMED;
	moat_parse_tcp_opts(c, tcp, hlen - MOAT_TCP_MIN_HLEN, &pkt->opt);
	return MOAT_PARSE_TCP;
}

MOAT_INLINE void moat_pkt_reset(struct moat_pkt *pkt)
{
#if defined(__SSE2__) && !defined(__bpf__)
	/*
	 * Six 16-byte stores (the last overlapping): GCC makes the memset a
	 * `rep stos`, whose start-up costs more than the parse around it.
	 */
	typedef u8 moat_v16 __attribute__((vector_size(16), aligned(1), may_alias));
	u8 *p = (u8 *)pkt;

	_Static_assert(sizeof(*pkt) > 80 && sizeof(*pkt) <= 96, "moat_pkt_reset: six stores");
	*(moat_v16 *)p = (moat_v16){ 0 };
	*(moat_v16 *)(p + 16) = (moat_v16){ 0 };
	*(moat_v16 *)(p + 32) = (moat_v16){ 0 };
	*(moat_v16 *)(p + 48) = (moat_v16){ 0 };
	*(moat_v16 *)(p + 64) = (moat_v16){ 0 };
	*(moat_v16 *)(p + sizeof(*pkt) - 16) = (moat_v16){ 0 };
#else
	__builtin_memset(pkt, 0, sizeof(*pkt));
#endif
}

MOAT_INLINE int moat_parse_cursor(const struct moat_cursor *cur, struct moat_pkt *pkt)
{
	struct moat_cursor c = *cur;
	u16 ethertype = 0;
	int l3, st;

	moat_pkt_reset(pkt);
	l3 = moat_parse_eth(&c, pkt, &ethertype);
	if (l3 < 0)
		return l3 == -MOAT_EAGAIN ? MOAT_PARSE_CUT : MOAT_PARSE_MALFORMED;
	pkt->l3_off = (u16)l3;
	if (ethertype == MOAT_ETH_P_IP)
		st = moat_parse_ipv4(&c, pkt, (u16)l3);
	else if (ethertype == MOAT_ETH_P_IPV6)
		st = moat_parse_ipv6(&c, pkt, (u16)l3);
	else
		return MOAT_PARSE_NOT_IP;
	if (st != MOAT_PARSE_TCP)
		return st;
	return moat_parse_tcp(&c, pkt);
}

/* Parse a whole frame. Fills *pkt as far as the headers go. */
MOAT_INLINE int moat_parse(const u8 *data, const u8 *data_end, struct moat_pkt *pkt)
{
	struct moat_cursor c = { .start = data, .end = data_end, .wire = data_end };

	return moat_parse_cursor(&c, pkt);
}

/*
 * A captured frame of which [data, data_end) was kept and wire_len bytes were
 * sent (a snapshot length cut it): lengths come from the headers, only kept
 * bytes are read. MOAT_PARSE_CUT when the cut falls inside the headers
 * (before the fixed TCP header's end); cut options are walked as far as kept.
 */
MOAT_INLINE int moat_parse_snap(const u8 *data, const u8 *data_end, u32 wire_len,
				struct moat_pkt *pkt)
{
	struct moat_cursor c = { .start = data, .end = data_end, .wire = data + wire_len };

	if (c.wire < c.end)
		c.wire = c.end;
	return moat_parse_cursor(&c, pkt);
}

MOAT_INLINE mbool moat_addr_eq(const struct moat_addr *a, const struct moat_addr *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] &&
	       a->w[3] == b->w[3];
}

#endif
