/* SPDX-License-Identifier: BSD-3-Clause */
/* Stateless TCP anomalies: flag combinations no stack sends, and land packets. */
#ifndef MOAT_CORE_ANOMALY_H
#define MOAT_CORE_ANOMALY_H

#include "parse.h"
#include "reason.h"

/*
 * Flag combinations that no conforming stack emits (ECE/CWR are ignored: they
 * are legal on SYNs for ECN negotiation):
 *  - NULL (no flags), SYN+FIN, SYN+RST, RST+FIN;
 *  - FIN, PSH or URG without ACK (covers XMAS = FIN+PSH+URG).
 */
MOAT_INLINE mbool moat_tcp_flags_bad(u8 flags)
{
	u8 f = flags & (MOAT_TCP_FIN | MOAT_TCP_SYN | MOAT_TCP_RST | MOAT_TCP_PSH | MOAT_TCP_ACK |
			MOAT_TCP_URG);

	if (!f)
		return 1;
	if ((f & MOAT_TCP_SYN) && (f & (MOAT_TCP_FIN | MOAT_TCP_RST)))
		return 1;
	if ((f & MOAT_TCP_RST) && (f & MOAT_TCP_FIN))
		return 1;
	if (!(f & MOAT_TCP_ACK) && (f & (MOAT_TCP_FIN | MOAT_TCP_PSH | MOAT_TCP_URG)))
		return 1;
	return 0;
}

/* Land: a packet whose source is its own destination. */
MOAT_INLINE mbool moat_is_land(const struct moat_pkt *pkt)
{
	return moat_addr_eq(&pkt->saddr, &pkt->daddr);
}

/*
 * Map a parse result and the stateless checks to a reason. Returns 1 when the
 * packet is decided here (*reason set), 0 when policy must look further.
 */
MOAT_INLINE int moat_classify_stateless(int parse_status, const struct moat_pkt *pkt,
					enum moat_reason *reason)
{
	switch (parse_status) {
	case MOAT_PARSE_MALFORMED:
		*reason = MOAT_R_MALFORMED;
		return 1;
	case MOAT_PARSE_NOT_IP:
	case MOAT_PARSE_CUT: /* a capture cut the headers: nothing to judge, no state */
		*reason = MOAT_R_NOT_PROTECTED;
		return 1;
	default:
		break;
	}
	if (moat_is_land(pkt)) {
		*reason = MOAT_R_LAND;
		return 1;
	}
	if (parse_status == MOAT_PARSE_TCP && moat_tcp_flags_bad(pkt->tcp_flags)) {
		*reason = MOAT_R_BAD_FLAGS;
		return 1;
	}
	return 0;
}

#endif
