/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Structs shared by the BPF programs and their userspace loader: map keys and
 * values and the run-time settings. One definition each; the limiter and
 * detector keys (core/flowkey.h) and the event record of ring buffer
 * moat_events (core/event.h) are core's.
 */
#ifndef MOAT_XDP_MAPS_H
#define MOAT_XDP_MAPS_H

#include "core/event.h"
#include "core/flowkey.h"
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

#endif
