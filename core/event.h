/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sampled event record: one packet's decision as the XDP program (ring
 * buffer moat_events) and moat-dp's workers (their event ring) report it, and
 * as the writer (control/events.c) turns it into one JSON line.
 */
#ifndef MOAT_CORE_EVENT_H
#define MOAT_CORE_EVENT_H

#include "parse.h"
#include "reason.h"

struct moat_event {
	u64 ts_ns;
	struct moat_addr saddr;
	struct moat_addr daddr;
	u16 sport;
	u16 dport;
	u8 reason;
	u8 family;
	u8 ttl;
	u8 tcp_flags;
	u32 ifindex;
	u32 cpu;
	/* moat-dp only (the XDP program leaves them; moatd zeroes them): signatures */
	u32 sig_id;
	u8 sig_action; /* 0 none, 1 + enum moat_sig_action */
	u8 pad[3];
};

#endif
