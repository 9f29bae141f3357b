/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core/ engine's backend for userspace with inline semantics: bounded
 * set-associative tables for flows, limiter records and per-destination flood
 * detectors, and the allow/deny lists. Used by moat-dp (one per worker) and
 * `moatctl explain`.
 */
#ifndef MOAT_FLOW_BACKEND_H
#define MOAT_FLOW_BACKEND_H

#include <stdbool.h>

#include "flow/cidr.h"
#include "flow/stab.h"
#include "flow/sipx.h"
#include "core/cookie.h"
#include "core/flowkey.h"
#include "core/policy.h"
#include "core/reason.h"

struct moat_engine;
struct moat_result;

/*
 * A packet's flow key (moat_flow_key_make), made by a caller ahead of the
 * engine, and its hash in the flow table (stab_hash(&be->flows, &k)): the one
 * hash of the packet, for the caller's prefetch and the table's lookup and insert.
 */
struct moat_be_key {
	struct moat_flow_key k;
	u32 swapped; /* what moat_flow_key_make returned */
	u64 hash;
	/* The flow table's filter said the flow is not there, when it had had `adds` inserts. */
	u32 absent;
	u32 adds;
	/*
	 * The flow's entry found ahead (moat_be_find_ahead: NULL, not there) and
	 * its mark, when the table had had `adds` inserts and `removes` removals.
	 */
	u32 found_ahead;
	u32 found_mark;
	u32 removes;
	void *found;
	/*
	 * The lists' action (MOAT_LIST_ACTION of moat_list_pick over both
	 * addresses' moat_be_list_fn answers) for an IPv4 packet from
	 * list_addr[0] to list_addr[1], looked up ahead by the caller;
	 * lists_ahead 0: none.
	 */
	u32 lists_ahead;
	u32 list_addr[2];
	int list_action;
	/* A SYN's cookie made ahead (moat_be_cookies) by cookie_key in cookie_slot; or NULL. */
	const struct moat_siphash_key *cookie_key;
	u32 cookie_slot;
	struct moat_cookie cookie;
};

/* stab_hash(flows, k) for moat_be's flow table, its loops unrolled for the flow key's sizes. */
static inline u64 moat_be_flow_hash(const struct stab *flows, const struct moat_flow_key *k)
{
	return stab_hash_sized(flows, k, sizeof(*k), MOAT_FLOW_KEY_HEAD);
}

/* The flow is surely not in the table: its filter said so, and nothing was added since. */
static inline int moat_be_key_absent(const struct moat_be_key *key, const struct stab *flows)
{
	return key && key->absent && key->adds == stab_adds(flows);
}

/*
 * The flow's entry looked up by the caller ahead of the engine, for a burst's
 * frames in one loop: their loads overlap, where the engine's finds, one frame
 * after another, would wait for each. The engine takes the answer while the
 * table has had no insert or removal since (moat_be_key_found).
 */
static inline void moat_be_find_ahead(struct stab *flows, struct moat_be_key *key)
{
	unsigned int mark = 0;

	key->found = stab_find_h(flows, &key->k, key->hash, &mark);
	key->found_mark = mark;
	key->adds = stab_adds(flows);
	key->removes = stab_removes(flows);
	key->found_ahead = 1;
}

static inline int moat_be_key_found(const struct moat_be_key *key, const struct stab *flows)
{
	return key && key->found_ahead && key->adds == stab_adds(flows) &&
	       key->removes == stab_removes(flows);
}

/*
 * A faster way to the allow/deny decision than scanning the lists (moat-dp's
 * LPM tables): the same answer as moat_lists_decide over them, for ctx.
 */
typedef int moat_be_list_fn(const void *ctx, const struct moat_addr *a, u8 family);

struct moat_be {
	/*
	 * struct moat_flow_key -> struct moat_flow, 56 bytes a slot for IPv4 (the
	 * 12-byte key head), two for IPv6; the slot's mark bit says the originator
	 * is endpoint b of the canonical key.
	 */
	struct stab flows;
	struct stab sources; /* struct moat_src_key -> struct moat_source */
	struct stab dests;   /* struct moat_dst_key -> struct moat_trigger */
	struct stab pickups; /* struct moat_dst_key (port 0) -> struct moat_pickup_budget */
	/* What it reads of the configuration (moat_be_use): the policy and the lists. */
	const struct moat_policy *pol;
	const struct moat_cidr_list *allow;
	const struct moat_cidr_list *deny;
	moat_be_list_fn *list_fn; /* NULL: the lists are scanned (explain) */
	const void *list_ctx;
	u32 now_s;
	u64 now_ns; /* flow expiry compares nanoseconds */
	const struct moat_be_key *key; /* the packet's, while moat_be_run_parsed runs */
	moat_sipx_fn *sipx;	       /* SipHash in lanes: the CPU's widest, chosen at init */
	enum moat_sipx_impl sipx_impl;
};

/*
 * Tables for n_flows flows and n_sources limiter records, their hashes seeded
 * with seed. Then moat_be_use, before the first packet.
 */
int moat_be_init(struct moat_be *be, u32 n_flows, u32 n_sources, u64 seed);
/*
 * Its tables in memory the caller owns (moat-dp: a file that outlives the
 * process, docs/failure.md): bytes[i] each, page-aligned, as moat_be_table_bytes
 * says for the same sizes. adopt: they hold the tables a backend of the same
 * sizes and seed left there, entries kept; else they are cleared.
 */
enum moat_be_table { MOAT_BE_FLOWS, MOAT_BE_SOURCES, MOAT_BE_DESTS, MOAT_BE_PICKUPS, MOAT_BE_TABLES };
void moat_be_table_bytes(u32 n_flows, u32 n_sources, size_t bytes[MOAT_BE_TABLES]);
int moat_be_init_in(struct moat_be *be, u32 n_flows, u32 n_sources, u64 seed,
		    void *const mem[MOAT_BE_TABLES], int adopt);
void moat_be_free(struct moat_be *be);
/*
 * The policy (limiter records are made and given back by it) and the allow
 * and deny lists from now on: at start and on every reload; they must stay
 * until the next call. What the tables hold stays.
 */
static inline void moat_be_use(struct moat_be *be, const struct moat_policy *pol,
			       const struct moat_cidr_list *allow,
			       const struct moat_cidr_list *deny)
{
	be->pol = pol;
	be->allow = allow;
	be->deny = deny;
	be->list_fn = NULL;
}

/* After moat_be_use: fn decides for these lists from now on (NULL: scan them). */
static inline void moat_be_use_lookup(struct moat_be *be, moat_be_list_fn *fn, const void *ctx)
{
	be->list_fn = fn;
	be->list_ctx = ctx;
}
/*
 * The cookies of n SYNs (pkts[idx[i]], keyed in keys[idx[i]]) in slot, by key,
 * their MACs hashed at once in SIMD lanes, for the engine to take instead of
 * making each (moat_be_cookie_ahead); every key of the burst has cookie_key
 * NULL before. ts_clock as moat_cookie_make_slot has it. n <= MOAT_BE_COOKIES_MAX.
 */
#define MOAT_BE_COOKIES_MAX 64
void moat_be_cookies(const struct moat_be *be, const struct moat_siphash_key *key, u32 slot,
		     u32 ts_clock, const struct moat_pkt *pkts, struct moat_be_key *keys,
		     const u16 *idx, u32 n);
/* SipHash lanes no wider than max_bits from now on (moat_sipx_best_within). */
static inline void moat_be_use_lanes(struct moat_be *be, unsigned int max_bits)
{
	be->sipx = moat_sipx_best_within(max_bits, &be->sipx_impl);
}

/* Called once per packet before the engine runs: the clock for expiry decisions. */
void moat_be_set_clock(struct moat_be *be, u64 now_ns);
/* Flows per TCP state, counts[MOAT_TCPS_COUNT]. */
void moat_be_flow_states(struct moat_be *be, u64 counts[MOAT_TCPS_COUNT]);

/* Which flows a listing wants: state (-1 any), an endpoint in cidr, an endpoint's port. */
struct moat_flow_filter {
	int state;
	bool has_cidr;
	struct moat_cidr cidr;
	u16 port; /* 0: any */
};

/* One listed flow, originator first. */
struct moat_flow_entry {
	struct moat_addr orig, resp;
	u16 orig_port, resp_port;
	u8 family;
	u8 state;
	u32 idle_s;
};

/*
 * Up to max flows that pass f into out; *matched gets how many passed in all.
 * Walks the whole table: for an operator's question, not for the packet path.
 */
size_t moat_be_flow_list(struct moat_be *be, const struct moat_flow_filter *f,
			 struct moat_flow_entry *out, size_t max, u64 *matched);

/* Run one frame through the engine on this backend. */
enum moat_reason moat_be_run(struct moat_be *be, const struct moat_engine *e, const u8 *data,
			     const u8 *end, struct moat_pkt *pkt, struct moat_result *res);
/*
 * The same for a frame the caller parsed (st, *pkt from moat_parse()) and, for
 * TCP, keyed (key; NULL: made here). The clock is the caller's to set, once per
 * batch (moat_be_set_clock).
 */
enum moat_reason moat_be_run_parsed(struct moat_be *be, const struct moat_engine *e, int st,
				    struct moat_pkt *pkt, const struct moat_be_key *key,
				    struct moat_result *res);
#endif
