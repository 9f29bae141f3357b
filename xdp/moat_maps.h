/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Structs shared by the BPF programs and their userspace loader: map keys and
 * values, the event record and the run-time settings. One definition each.
 */
#ifndef MOAT_XDP_MAPS_H
#define MOAT_XDP_MAPS_H

#include "core/flowkey.h" /* the limiter and detector keys */
#include "core/policy.h"
#include "core/reason.h"

/* LPM trie keys: prefixlen first, as the kernel requires. */
struct moat_lpm4_key {
	u32 prefixlen;
	u32 addr;
};

struct moat_lpm6_key {
	u32 prefixlen;
	u32 addr[4];
};

/* Run-time settings beside the policy (map moat_runtime). */
struct moat_runtime {
	u32 event_every[MOAT_R_COUNT]; /* emit one event per N packets of a reason; 0 = none */
	u32 list_entries[2];	       /* allow/deny prefixes, IPv4 and IPv6: 0 skips the lookups */
};

/* One sampled event (ring buffer moat_events). */
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
