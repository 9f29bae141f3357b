/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The policy every target applies: one immutable struct, built by the control
 * plane from the YAML config and swapped whole (RCU on DPDK, a map update in BPF).
 */
#ifndef MOAT_CORE_POLICY_H
#define MOAT_CORE_POLICY_H

#include "types.h"
#include "limits.h"
#include "track.h"

enum moat_list_match { MOAT_LIST_NONE = 0, MOAT_LIST_ALLOW, MOAT_LIST_DENY };

/*
 * A list lookup's answer: the action in the low byte, the length of the prefix
 * that matched above it, so matches on the two endpoints can be weighed.
 */
#define MOAT_LIST_MATCH(action, plen) ((int)(action) | (int)(plen) << 8)
#define MOAT_LIST_ACTION(m) ((m) & 0xFF)
#define MOAT_LIST_PLEN(m) ((m) >> 8)

/* The longer prefix wins; on equal length deny wins. */
MOAT_INLINE int moat_list_pick(int a, int b)
{
	if (MOAT_LIST_ACTION(a) == MOAT_LIST_NONE)
		return b;
	if (MOAT_LIST_ACTION(b) == MOAT_LIST_NONE)
		return a;
	if (MOAT_LIST_PLEN(a) != MOAT_LIST_PLEN(b))
		return MOAT_LIST_PLEN(a) > MOAT_LIST_PLEN(b) ? a : b;
	return MOAT_LIST_ACTION(a) == MOAT_LIST_DENY ? a : b;
}

/* Per source address (or prefix) limiter state. */
struct moat_source {
	struct moat_bucket syn;
	struct moat_window conn;
	u32 concurrent;
	u32 last_seen_s;
};

enum moat_cookie_mode { MOAT_COOKIES_AUTO = 0, MOAT_COOKIES_ALWAYS, MOAT_COOKIES_OFF };

/*
 * Mid-stream pickup (inline and explain): auto within the per-destination
 * budget and suspended under an ACK flood, on within the budget only, off.
 */
enum moat_pickup_mode { MOAT_PICKUP_AUTO = 0, MOAT_PICKUP_ON, MOAT_PICKUP_OFF };

#define MOAT_PORT_WORDS (65536 / 64)

struct moat_limits {
	u32 syn_rate;  /* SYN/s, 0 = no limit */
	u32 syn_burst; /* bucket depth; 0 = same as syn_rate */
	u32 new_conn;  /* completed handshakes per window, 0 = no limit */
	u32 new_conn_window_s;
	u32 concurrent; /* established connections, 0 = no limit */
};

struct moat_policy {
	u8 syn_cookies; /* enum moat_cookie_mode */
	u8 rst_policy;	/* enum moat_rst_policy */
	u8 rst_ttl_tolerance;
	u8 protect_all_ports;
	u8 prefix_v4; /* aggregation prefix for the prefix_* limits */
	u8 prefix_v6;
	u8 synack_wscale; /* window scale our cookie SYN-ACKs announce for the protected stack */
	u8 syn_proxy;	  /* inline: a valid cookie opens the connection to the server (moat-dp) */
	u8 pickup;	  /* enum moat_pickup_mode */
	u32 syn_trigger;  /* SYN/s per destination that engages cookies in auto mode */
	u32 cookie_hold_s; /* how long auto cookies stay engaged after the rate falls */
	u32 pickup_rate;   /* unconfirmed pickups per second per destination address */
	u32 pickup_burst;
	u32 pickup_trigger; /* segments of unknown flows/s that, unconfirmed, suspend pickup */
	struct moat_limits source; /* per source address */
	struct moat_limits prefix; /* per source prefix */
	struct moat_timeouts timeouts; /* flow idle timeouts (inline and explain) */
	u64 protect_ports[MOAT_PORT_WORDS];
};

MOAT_INLINE mbool moat_port_protected(const struct moat_policy *pol, u16 port)
{
	if (pol->protect_all_ports)
		return 1;
	return (pol->protect_ports[(port >> 6) & (MOAT_PORT_WORDS - 1)] >> (port & 63)) & 1;
}

MOAT_INLINE void moat_policy_protect_port(struct moat_policy *pol, u16 port)
{
	pol->protect_ports[port >> 6] |= 1ULL << (port & 63);
	pol->protect_all_ports = 0;
}

/* The prefix the prefix_* limits aggregate a family's sources by. */
MOAT_INLINE u32 moat_prefix_len(const struct moat_policy *pol, u8 family)
{
	return family == 6 ? pol->prefix_v6 : pol->prefix_v4;
}

/* Defaults of DESIGN.md: an empty config file means exactly this. */
MOAT_INLINE void moat_policy_defaults(struct moat_policy *pol)
{
	__builtin_memset(pol, 0, sizeof(*pol));
	pol->syn_cookies = MOAT_COOKIES_AUTO;
	pol->rst_policy = MOAT_RST_RFC5961;
	pol->rst_ttl_tolerance = 2;
	pol->protect_all_ports = 1;
	pol->prefix_v4 = 24;
	pol->prefix_v6 = 64;
	pol->synack_wscale = 7;
	pol->syn_trigger = 1000;
	pol->cookie_hold_s = 10;
	pol->pickup = MOAT_PICKUP_AUTO;
	pol->pickup_rate = 100;
	pol->pickup_burst = 200;
	pol->pickup_trigger = 1000;
	pol->source.new_conn_window_s = 60;
	pol->prefix.new_conn_window_s = 60;
	moat_timeouts_defaults(&pol->timeouts);
}

#endif
