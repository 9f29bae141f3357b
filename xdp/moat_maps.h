/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Structs shared by the BPF programs and their userspace loader: map keys and
 * values and the run-time settings. One definition each; the limiter and
 * detector keys (core/flowkey.h), the event record of ring buffer
 * moat_events (core/event.h) and the capture's settings and record (.bss
 * moat_capture_cfg, ring buffer moat_capture: core/capture.h) are core's.
 */
#ifndef MOAT_XDP_MAPS_H
#define MOAT_XDP_MAPS_H

#include "core/capture.h"
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

/* Run-time settings beside the policy (map moat_runtime, one per set). */
struct moat_runtime {
	u32 event_every[MOAT_R_COUNT]; /* emit one event per N packets of a reason; 0 = none */
	u32 list_entries[2];	       /* allow/deny prefixes, IPv4 and IPv6: 0 skips the lookups */
};

/*
 * Two sets of policy, run-time settings and allow/deny tries exist: the
 * programs use set gen & 1 (map moat_active), the loader builds the other one
 * and then switches gen in one update, so a packet sees one whole set, never a
 * mix or a list half written. gen counts the switches; 0 means never built.
 * Only bit 0 selects, and a copy that tears between bytes still leaves bit 0
 * old or new, never a third value.
 */
struct moat_active {
	u32 gen;
};

/*
 * A list change made live (moatctl block/unblock/allow/unallow, and a ttl
 * expiring) since the file was last loaded: map moat_live, which no program
 * reads. It is pinned so that a restarted moatd replays the changes over the
 * file and expires ttl entries on time. One record per prefix and list: the
 * last change wins.
 */
struct moat_live_key {
	struct moat_addr addr; /* masked to plen */
	u8 family;
	u8 plen;
	u8 deny; /* 1: the deny list, 0: the allow list */
	u8 pad;
};

struct moat_live_val {
	u8 add; /* 1: on the list, 0: taken off it */
	u8 pad[7];
	u64 expires_ms; /* CLOCK_MONOTONIC ms when a ttl entry leaves; 0: none */
};

/*
 * Unix time minus CLOCK_MONOTONIC (bpf_ktime_get_ns's clock), in ns: map
 * moat_wall, written by moatd at load and every second. Cookie slots count
 * Unix time with it, so the nodes of a fleet agree whatever their boot times;
 * a clock step reaches the programs within a second.
 */
struct moat_wall {
	s64 off_ns;
};

/*
 * The limits changed live (moatctl limits set) since the file was last loaded,
 * as the JSON object of the request ({"source_syn_rate": 50, ...}, the changes
 * merged): map moat_live_limits, one entry, pinned and read by no program, so
 * that a restarted moatd sets them again over the file. "" when none.
 */
enum { MOAT_LIVE_LIMITS_LEN = 1024 };

struct moat_live_limits {
	char json[MOAT_LIVE_LIMITS_LEN];
};

#endif
