/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The inline SYN proxy's packet work: the SYN it sends the server for a client
 * whose cookie checked out, and the rewriting of every later segment between
 * the client's view (our cookie ISN, our TSval) and the server's. Checksums are
 * updated incrementally (RFC 1624). Userspace only (moat-dp): frames are
 * writable and the caller has bounds-checked the headers through moat_parse.
 */
#ifndef MOAT_CORE_PROXY_H
#define MOAT_CORE_PROXY_H

#include "cookie.h"
#include "csum.h"
#include "reply.h"
#include "track.h"

/* RFC 1624: a 16-bit ones' complement checksum after a 32-bit field changed. */
MOAT_INLINE u16 moat_csum_adjust32(u16 check, u32 from, u32 to)
{
	u32 sum = (u16)~check;

	sum += (u16)~(from >> 16) + (u16)~(from & 0xFFFF);
	sum += (to >> 16) + (to & 0xFFFF);
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return (u16)~sum;
}

/* Set a 32-bit big-endian TCP field at tcp + off, keeping the checksum right. */
MOAT_INLINE void moat_tcp_set32(u8 *tcp, u32 off, u32 val)
{
	u32 old = moat_get_be32(tcp + off);

	if (old == val)
		return;
	moat_put_be16(tcp + 16, moat_csum_adjust32(moat_get_be16(tcp + 16), old, val));
	moat_put_be32(tcp + off, val);
}

/* Set the TCP window field, keeping the checksum right (the 32-bit word it ends). */
MOAT_INLINE void moat_tcp_set_window(u8 *tcp, u16 win)
{
	moat_tcp_set32(tcp, 12, (moat_get_be32(tcp + 12) & 0xFFFF0000u) | win);
}

/*
 * Rewrite a segment of a proxied flow for the side it goes to. pkt is as the
 * engine left it: for a client segment (dir 0) ACK, TSecr and window are already
 * in the server's view (moat_proxy_to_server_view), so they are written as they are.
 */
MOAT_INLINE void moat_proxy_rewrite(u8 *frame, const struct moat_pkt *pkt,
				    const struct moat_flow *f, u32 dir)
{
	u8 *tcp = frame + pkt->l4_off;
	mbool ts = (f->flags & MOAT_FLOW_PROXY_TS) && (pkt->opt.present & MOAT_OPT_TS);
	u32 i;

	if (!(f->flags & MOAT_FLOW_PROXY))
		return;
	if (dir == 1) {
		moat_tcp_set32(tcp, 4, pkt->seq + f->seq_delta);
		if (!(pkt->tcp_flags & MOAT_TCP_SYN)) /* a SYN's window is never scaled */
			moat_tcp_set_window(tcp, moat_proxy_window(f, 1, pkt->window));
		if (ts)
			moat_tcp_set32(tcp, pkt->opt.ts_off + 2u, pkt->opt.tsval + f->ts_delta);
		return;
	}
	if (pkt->tcp_flags & MOAT_TCP_ACK)
		moat_tcp_set32(tcp, 8, pkt->ack);
	moat_tcp_set_window(tcp, pkt->window);
	if (ts)
		moat_tcp_set32(tcp, pkt->opt.ts_off + 6u, pkt->opt.tsecr);
	if (pkt->opt.present & MOAT_OPT_SACK)
		for (i = 0; i < pkt->opt.sack_blocks && i < MOAT_MAX_SACK_BLOCKS; i++) {
			u32 at = pkt->opt.sack_off + 2u + 8 * i;

			moat_tcp_set32(tcp, at, moat_get_be32(tcp + at) - f->seq_delta);
			moat_tcp_set32(tcp, at + 4, moat_get_be32(tcp + at + 4) - f->seq_delta);
		}
}

/*
 * The SYN the proxy sends the server for the client whose cookie ACK is `ack`
 * (frame `in`): the client's addresses, ports and ISN, and the options the
 * cookie carried. Written to out (at least ack->l4_off + 40 bytes); returns its
 * length. The L2 header (tags included) is the ACK's.
 */
MOAT_INLINE u32 moat_proxy_syn_build(u8 *out, const u8 *in, const struct moat_pkt *ack,
				     const struct moat_syn_opts *o)
{
	u8 t[MOAT_REPLY_MAX_TCP] __attribute__((aligned(8))) = { 0 };
	u32 n = 20, win = (u32)ack->window << (o->has_wscale ? o->wscale : 0);
	u8 *ip = out + ack->l3_off;
	u32 iplen = ack->family == 6 ? MOAT_IPV6_HLEN : MOAT_IPV4_MIN_HLEN;

	t[n++] = MOAT_TCPOPT_MSS;
	t[n++] = 4;
	moat_put_be16(t + n, o->mss);
	n += 2;
	if (o->has_ts || o->sack_ok) {
		t[n++] = o->sack_ok ? MOAT_TCPOPT_SACK_PERM : MOAT_TCPOPT_NOP;
		t[n++] = o->sack_ok ? 2 : MOAT_TCPOPT_NOP;
	}
	if (o->has_ts) {
		t[n++] = MOAT_TCPOPT_TS;
		t[n++] = 10;
		moat_put_be32(t + n, ack->opt.tsval);
		moat_put_be32(t + n + 4, 0);
		n += 8;
	} else if (o->sack_ok) {
		t[n++] = MOAT_TCPOPT_NOP; /* SACK-permitted padded to a word */
		t[n++] = MOAT_TCPOPT_NOP;
	}
	if (o->has_wscale) {
		t[n++] = MOAT_TCPOPT_NOP;
		t[n++] = MOAT_TCPOPT_WSCALE;
		t[n++] = 3;
		t[n++] = o->wscale;
	}
	moat_tcp_hdr(t, ack->sport, ack->dport, ack->seq - 1, 0,
		     MOAT_TCP_SYN | (o->ecn ? MOAT_TCP_ECE | MOAT_TCP_CWR : 0),
		     (u16)(win > 0xFFFF ? 0xFFFF : win), n);
	moat_csum_store(t + 16, moat_csum_fold(moat_csum_add_words(
					 moat_csum_pseudo(&ack->saddr, &ack->daddr, ack->family, n), t, n)));
	__builtin_memcpy(out, in, ack->l3_off); /* Ethernet and VLAN tags as the client sent them */
	if (ack->family == 6) {
		moat_put_be32(ip, 0x60000000);
		moat_put_be16(ip + 4, (u16)n);
		ip[6] = MOAT_IPPROTO_TCP;
		ip[7] = ack->ttl;
		__builtin_memcpy(ip + 8, ack->saddr.w, 16);
		__builtin_memcpy(ip + 24, ack->daddr.w, 16);
	} else {
		__builtin_memset(ip, 0, MOAT_IPV4_MIN_HLEN);
		ip[0] = 0x45;
		moat_put_be16(ip + 2, (u16)(MOAT_IPV4_MIN_HLEN + n));
		ip[6] = 0x40;
		ip[8] = ack->ttl;
		ip[9] = MOAT_IPPROTO_TCP;
		__builtin_memcpy(ip + 12, &ack->saddr.w[0], 4);
		__builtin_memcpy(ip + 16, &ack->daddr.w[0], 4);
		moat_csum_store(ip + 10, moat_csum_fold(moat_csum_add_words(0, ip, MOAT_IPV4_MIN_HLEN)));
	}
	__builtin_memcpy(ip + iplen, t, n);
	return ack->l3_off + iplen + n;
}

#endif
