/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stateless SYN cookies, in two layouts told apart by the timestamp option (a
 * client that sent one in its SYN sends one in every segment, RFC 7323):
 *
 *   with a timestamp:    ISN = slot[3] | mss index[2] | MAC[27]; window scale
 *                        (4 bits), SACK-permitted and ECN ride in the low 6 bits
 *                        of our TSval and come back in the ACK's TSecr;
 *   without (Windows' default, tcp_timestamps=0):
 *                        ISN = slot[2] | mss index[2] | options[6] | MAC[22].
 *
 * slot counts 64-second periods of Unix time (CLOCK_REALTIME), so that every
 * node of a fleet whose clocks NTP keeps together makes and checks the same
 * slots whatever its boot time. MAC = SipHash-2-4(secret; addresses, ports,
 * client ISN, full slot, layout, MSS index, option bits), truncated. A cookie
 * is valid in the slot it was made, the next one, and the one before it (a
 * checking node whose clock is up to a slot behind the node that made it),
 * against the current secret and then the previous one, so a rotation breaks
 * no handshake in flight. docs/engine.md gives the forgery odds of each layout.
 */
#ifndef MOAT_CORE_COOKIE_H
#define MOAT_CORE_COOKIE_H

#include "parse.h"
#include "siphash.h"

#define MOAT_COOKIE_SLOT_SHIFT 6 /* seconds per slot = 64 */
#define MOAT_COOKIE_MAX_AGE 1	 /* slots before the current one still accepted */
#define MOAT_COOKIE_MAC_BITS 27 /* with a timestamp */
#define MOAT_COOKIE_MAC_MASK ((1u << MOAT_COOKIE_MAC_BITS) - 1)
#define MOAT_COOKIE_NOTS_MAC_BITS 22 /* without: the options take 6 bits of the ISN */
#define MOAT_COOKIE_NOTS_MAC_MASK ((1u << MOAT_COOKIE_NOTS_MAC_BITS) - 1)
#define MOAT_COOKIE_OPTBITS_MASK 0x3F
#define MOAT_COOKIE_NO_WSCALE 0x0F
#define MOAT_TCP_MAX_WSCALE 14

struct moat_cookie_secrets {
	struct moat_siphash_key cur;
	struct moat_siphash_key prev;
};

/* What a cookie carries: the client's negotiated options. */
struct moat_syn_opts {
	u16 mss;
	u8 wscale; /* valid when has_wscale */
	u8 has_wscale;
	u8 sack_ok;
	u8 ecn;
	u8 has_ts;
};

struct moat_cookie {
	u32 isn;   /* our SYN-ACK sequence number */
	u32 tsval; /* our SYN-ACK TSval (when the client sent a timestamp) */
	u16 mss;   /* the MSS we announce: the table value encoded */
};

/* MSS values a cookie can encode (as Linux picks them: the common path MTUs). */
MOAT_INLINE u16 moat_cookie_mss_value(u8 family, u32 idx)
{
	if (family == 6) {
		switch (idx & 3) {
		case 0: return 1220;
		case 1: return 1400;
		case 2: return 1440;
		default: return 1460;
		}
	}
	switch (idx & 3) {
	case 0: return 536;
	case 1: return 1300;
	case 2: return 1440;
	default: return 1460;
	}
}

/* Largest table MSS not above the client's (a SYN without MSS means the RFC default). */
MOAT_INLINE u32 moat_cookie_mss_index(u8 family, u16 client_mss)
{
	/* The values rise with the index: count those above index 0 the client's MSS reaches. */
	return (u32)(client_mss >= moat_cookie_mss_value(family, 1)) +
	       (client_mss >= moat_cookie_mss_value(family, 2)) +
	       (client_mss >= moat_cookie_mss_value(family, 3));
}

/* Window scale (4 bits; 15: none), SACK-permitted (bit 4), ECN setup (bit 5). */
MOAT_INLINE u32 moat_cookie_optbits(const struct moat_pkt *syn)
{
	const struct moat_tcp_opts *o = &syn->opt;
	u32 bits;

	bits = (o->present & MOAT_OPT_WSCALE) ?
		       (o->wscale > MOAT_TCP_MAX_WSCALE ? MOAT_TCP_MAX_WSCALE : o->wscale) :
		       MOAT_COOKIE_NO_WSCALE;
	if (o->present & MOAT_OPT_SACK_PERM)
		bits |= 1u << 4;
	if ((syn->tcp_flags & (MOAT_TCP_ECE | MOAT_TCP_CWR)) == (MOAT_TCP_ECE | MOAT_TCP_CWR))
		bits |= 1u << 5;
	return bits;
}

MOAT_INLINE u32 moat_cookie_slot(u64 now_ns)
{
#if defined(__SIZEOF_INT128__) && !defined(__bpf__)
	/*
	 * now_ns / (64 * 10^9) = (now_ns >> 15) / 5^9, by a multiply: GCC keeps a
	 * `div` here on paths it guesses cold, and a flood's SYNs take one. The
	 * constant is ceil(2^70 / 5^9); its error times the largest dividend (2^49)
	 * stays under 2^70, so the quotient is exact for every u64.
	 */
	_Static_assert(MOAT_COOKIE_SLOT_SHIFT == 6, "moat_cookie_slot: 64-second slots");
	return (u32)(((unsigned __int128)(now_ns >> 15) * 0x225c17d04dad3ULL) >> 70);
#else
	return (u32)((now_ns / MOAT_NSEC_PER_SEC) >> MOAT_COOKIE_SLOT_SHIFT);
#endif
}

/*
 * The MAC over the connection as the client names it (client -> server): the
 * addresses and ports, the client's ISN, and 6 bytes of slot, layout (has_ts),
 * MSS index and option bits that ride in SipHash's final block. The layout bit
 * keeps a 27-bit MAC of one layout from serving as the 22 bits of the other.
 */
MOAT_INLINE u64 moat_cookie_meta(u32 slot, mbool has_ts, u32 mss_idx, u32 optbits)
{
	return (u64)slot << 9 | (u64)(has_ts ? 1 : 0) << 8 | mss_idx << 6 | optbits;
}

MOAT_INLINE u32 moat_cookie_mac(const struct moat_siphash_key *key, const struct moat_pkt *p,
				u32 client_isn, u64 meta)
{
	u64 ports = (u64)p->sport << 48 | (u64)p->dport << 32 | client_isn;
	struct moat_sipstate s;

	moat_sip_init(&s, key);
	if (p->family != 6) {
		moat_sip_absorb(&s, (u64)p->saddr.w[0] << 32 | p->daddr.w[0]);
		moat_sip_absorb(&s, ports);
		return (u32)moat_sip_final(&s, 2, meta, 6);
	}
	moat_sip_absorb(&s, (u64)p->saddr.w[0] << 32 | p->saddr.w[1]);
	moat_sip_absorb(&s, (u64)p->saddr.w[2] << 32 | p->saddr.w[3]);
	moat_sip_absorb(&s, (u64)p->daddr.w[0] << 32 | p->daddr.w[1]);
	moat_sip_absorb(&s, (u64)p->daddr.w[2] << 32 | p->daddr.w[3]);
	moat_sip_absorb(&s, ports);
	return (u32)moat_sip_final(&s, 5, meta, 6);
}

/* What a SYN's cookie holds besides its MAC, and the MAC's final-block bytes. */
struct moat_cookie_fields {
	u32 idx;     /* MSS index */
	u32 optbits; /* moat_cookie_optbits */
	mbool has_ts;
	u64 meta; /* moat_cookie_meta */
};

MOAT_INLINE void moat_cookie_fields_of(const struct moat_pkt *syn, u32 slot,
				       struct moat_cookie_fields *f)
{
	u16 client_mss = (syn->opt.present & MOAT_OPT_MSS) ? syn->opt.mss :
			 (syn->family == 6 ? 1220 : 536);

	f->idx = moat_cookie_mss_index(syn->family, client_mss);
	f->optbits = moat_cookie_optbits(syn);
	f->has_ts = (syn->opt.present & MOAT_OPT_TS) != 0;
	f->meta = moat_cookie_meta(slot, f->has_ts, f->idx, f->optbits);
}

/* The cookie of a SYN from its fields and mac = moat_cookie_mac(key, syn, syn->seq, f->meta). */
MOAT_INLINE void moat_cookie_finish(const struct moat_pkt *syn, u32 slot,
				    const struct moat_cookie_fields *f, u32 mac, u32 ts_clock,
				    struct moat_cookie *out)
{
	u32 nots = !f->has_ts; /* the layouts of the header comment, without branches */

	out->isn = slot << (29 + nots) | f->idx << (27 + nots) |
		   ((f->optbits << MOAT_COOKIE_NOTS_MAC_BITS) & (0u - nots)) |
		   (mac & (MOAT_COOKIE_MAC_MASK >> (5 * nots)));
	out->tsval = (ts_clock & ~(u32)MOAT_COOKIE_OPTBITS_MASK) | f->optbits;
	out->mss = moat_cookie_mss_value(syn->family, f->idx);
}

/*
 * The MAC's message as 64-bit words, as moat_cookie_mac absorbs them, for
 * callers that hash many SYNs at once (flow/sipx.h); returns how many (2 or 5).
 * The final block is moat_sip_fin_word(n, meta, 6).
 */
MOAT_INLINE u32 moat_cookie_words(const struct moat_pkt *p, u32 client_isn, u64 w[5])
{
	u64 ports = (u64)p->sport << 48 | (u64)p->dport << 32 | client_isn;

	if (p->family != 6) {
		w[0] = (u64)p->saddr.w[0] << 32 | p->daddr.w[0];
		w[1] = ports;
		return 2;
	}
	w[0] = (u64)p->saddr.w[0] << 32 | p->saddr.w[1];
	w[1] = (u64)p->saddr.w[2] << 32 | p->saddr.w[3];
	w[2] = (u64)p->daddr.w[0] << 32 | p->daddr.w[1];
	w[3] = (u64)p->daddr.w[2] << 32 | p->daddr.w[3];
	w[4] = ports;
	return 5;
}

/*
 * Cookie for a SYN in slot moat_cookie_slot(now); ts_clock is the value our TSval
 * counts in (ms). For callers that keep the slot already (no 64-bit division).
 */
MOAT_INLINE void moat_cookie_make_slot(const struct moat_siphash_key *key,
				       const struct moat_pkt *syn, u32 slot, u32 ts_clock,
				       struct moat_cookie *out)
{
	struct moat_cookie_fields f;

	moat_cookie_fields_of(syn, slot, &f);
	moat_cookie_finish(syn, slot, &f, moat_cookie_mac(key, syn, syn->seq, f.meta), ts_clock,
			   out);
}

/* Cookie for a SYN at Unix time now_ns; ts_clock is the value our TSval counts in (ms). */
MOAT_INLINE void moat_cookie_make(const struct moat_siphash_key *key, const struct moat_pkt *syn,
				  u64 now_ns, u32 ts_clock, struct moat_cookie *out)
{
	moat_cookie_make_slot(key, syn, moat_cookie_slot(now_ns), ts_clock, out);
}

MOAT_INLINE void moat_cookie_decode_opts(u8 family, u32 idx, u32 optbits, mbool has_ts,
					 struct moat_syn_opts *o)
{
	o->mss = moat_cookie_mss_value(family, idx);
	o->has_ts = has_ts;
	o->wscale = (u8)(optbits & 0x0F);
	o->has_wscale = o->wscale != MOAT_COOKIE_NO_WSCALE;
	if (!o->has_wscale)
		o->wscale = 0;
	o->sack_ok = (optbits & (1u << 4)) != 0;
	o->ecn = (optbits & (1u << 5)) != 0;
}

/*
 * The slot a cookie was made in, from its low slot bits (field, bits wide) and
 * the checking node's slot: this one, the one before (MAX_AGE), or the one
 * after (a checking clock behind the making one's). MOAT_COOKIE_NO_SLOT: none.
 */
#define MOAT_COOKIE_NO_SLOT 0xFFFFFFFFu
MOAT_INLINE u32 moat_cookie_slot_of(u32 now_slot, u32 field, u32 bits)
{
	u32 mask = (1u << bits) - 1, age = (now_slot - field) & mask;

	if (age == mask)
		return now_slot + 1;
	return age > MOAT_COOKIE_MAX_AGE ? MOAT_COOKIE_NO_SLOT : now_slot - age;
}

/*
 * Check the ACK that completes a cookie handshake at Unix time now_ns. Returns
 * 0 and the decoded options when valid, -MOAT_ETIME when the slot is outside
 * the validity window, -MOAT_EACCES when the MAC matches neither secret,
 * -MOAT_EINVAL for option bits no cookie of ours can hold.
 */
MOAT_INLINE int moat_cookie_check(const struct moat_cookie_secrets *sec, const struct moat_pkt *ack,
				  u64 now_ns, struct moat_syn_opts *out)
{
	u32 cookie = ack->ack - 1;
	mbool has_ts = (ack->opt.present & MOAT_OPT_TS) != 0;
	u32 bits = has_ts ? 3 : 2;
	u32 mac_mask = has_ts ? MOAT_COOKIE_MAC_MASK : MOAT_COOKIE_NOTS_MAC_MASK;
	u32 optbits = (has_ts ? ack->opt.tsecr : cookie >> MOAT_COOKIE_NOTS_MAC_BITS) &
		      MOAT_COOKIE_OPTBITS_MASK;
	u32 slot = moat_cookie_slot_of(moat_cookie_slot(now_ns), cookie >> (32 - bits), bits);
	u64 meta;

	if (slot == MOAT_COOKIE_NO_SLOT)
		return -MOAT_ETIME;
	if ((optbits & 0x0F) > MOAT_TCP_MAX_WSCALE && (optbits & 0x0F) != MOAT_COOKIE_NO_WSCALE)
		return -MOAT_EINVAL;
	meta = moat_cookie_meta(slot, has_ts, (cookie >> (30 - bits)) & 3, optbits);
	if ((moat_cookie_mac(&sec->cur, ack, ack->seq - 1, meta) ^ cookie) & mac_mask &&
	    (moat_cookie_mac(&sec->prev, ack, ack->seq - 1, meta) ^ cookie) & mac_mask)
		return -MOAT_EACCES;
	moat_cookie_decode_opts(ack->family, (u32)(meta >> 6) & 3,
				(u32)meta & MOAT_COOKIE_OPTBITS_MASK, has_ts, out);
	return 0;
}

#endif
