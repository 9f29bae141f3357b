/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What the host-mode BPF programs share: the bpf_loop glue for the TCP option
 * walk, the maps, the engine backend hooks over those maps, and socket lookup.
 */
#ifndef MOAT_XDP_BPF_COMMON_H
#define MOAT_XDP_BPF_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Drive the TCP option walk through bpf_loop (see core/parse.h). */
static long moat_tcpopt_cb(__u32 i, void *ctx);
#define MOAT_TCPOPT_LOOP(w) bpf_loop(MOAT_TCP_MAX_OPTLEN, moat_tcpopt_cb, (w), 0)

#include "core/engine.h"
#include "core/reply.h"
#include "xdp/moat_maps.h"

static long moat_tcpopt_cb(__u32 i, void *ctx)
{
	return moat_tcpopt_step(i, ctx);
}

/* The live set's index (struct moat_active): the programs read set gen & 1. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct moat_active);
} moat_active SEC(".maps");

/* Policy and run-time settings, one per set: index 0 or 1. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, struct moat_policy);
} moat_policy SEC(".maps");

/*
 * The cookie secrets, one entry (key 0). A hash map without preallocation:
 * moatd's update (a rotation) replaces the element whole and frees the old one
 * after an RCU grace period, so a program reading it sees the old secrets or
 * the new ones, never half of each, as an array's in-place copy could give.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, u32);
	__type(value, struct moat_cookie_secrets);
} moat_secrets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct moat_wall);
} moat_wall SEC(".maps");

/* The cookie clock's offset from bpf_ktime_get_ns (struct moat_wall). */
static __always_inline s64 moat_wall_off(void)
{
	u32 zero = 0;
	const struct moat_wall *w = bpf_map_lookup_elem(&moat_wall, &zero);

	return w ? w->off_ns : 0;
}

/* moatd's record of limits set live (struct moat_live_limits); no program reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct moat_live_limits);
} moat_live_limits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, struct moat_runtime);
} moat_runtime SEC(".maps");

/* Limiter state is shared across CPUs: per-CPU copies would multiply every limit. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct moat_src_key);
	__type(value, struct moat_source);
} moat_sources SEC(".maps");

/* Established connections per source (and prefix), written by moatd from sock_diag. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct moat_src_key);
	__type(value, u32);
} moat_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct moat_dst_key);
	__type(value, struct moat_trigger);
} moat_dests SEC(".maps");

/* The allow/deny tries of set 0 (moat_lpm4, moat_lpm6) and of set 1 (..._1). */
#define MOAT_LPM4_MAP(name)                                                            \
	struct {                                                                       \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                   \
		__uint(max_entries, 65536);                                            \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                  \
		__type(key, struct moat_lpm4_key);                                     \
		__type(value, u32); /* MOAT_LIST_MATCH(action, prefix length) */       \
	} name SEC(".maps")
#define MOAT_LPM6_MAP(name)                                                            \
	struct {                                                                       \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                   \
		__uint(max_entries, 65536);                                            \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                  \
		__type(key, struct moat_lpm6_key);                                     \
		__type(value, u32);                                                    \
	} name SEC(".maps")

MOAT_LPM4_MAP(moat_lpm4);
MOAT_LPM6_MAP(moat_lpm6);
MOAT_LPM4_MAP(moat_lpm4_1);
MOAT_LPM6_MAP(moat_lpm6_1);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MOAT_R_COUNT);
	__type(key, u32);
	__type(value, u64);
} moat_reasons SEC(".maps");

/* The set a packet is decided by: read once per packet, so it sees one whole set. */
struct moat_be {
	u32 set; /* 0 or 1 */
	const struct moat_policy *pol;
	const struct moat_runtime *rt;
};

/* The live set's index (moat_active.gen & 1); 0 when the map is missing. */
MOAT_INLINE u32 moat_active_set(void)
{
	u32 zero = 0;
	const struct moat_active *a = bpf_map_lookup_elem(&moat_active, &zero);

	return a ? a->gen & 1 : 0;
}

/* Point be at set (0 or 1): 0, or -1 when a map is missing. */
MOAT_INLINE int moat_set_open(struct moat_be *be, u32 set)
{
	be->set = set & 1;
	be->pol = bpf_map_lookup_elem(&moat_policy, &be->set);
	be->rt = bpf_map_lookup_elem(&moat_runtime, &be->set);
	return be->pol && be->rt ? 0 : -1;
}

MOAT_INLINE int moat_be_list(struct moat_be *be, const struct moat_addr *a, u8 family)
{
	u32 *m;

	/* An LPM lookup costs tens of ns: none when the family has no list at all. */
	if (!be->rt || !be->rt->list_entries[family == 6])
		return MOAT_LIST_NONE;
	if (family == 6) {
		struct moat_lpm6_key k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, a->w, 16);
		m = be->set ? bpf_map_lookup_elem(&moat_lpm6_1, &k) : bpf_map_lookup_elem(&moat_lpm6, &k);
	} else {
		struct moat_lpm4_key k = { .prefixlen = 32, .addr = a->w[0] };

		m = be->set ? bpf_map_lookup_elem(&moat_lpm4_1, &k) : bpf_map_lookup_elem(&moat_lpm4, &k);
	}
	return m ? (int)*m : MOAT_LIST_NONE;
}

/* Host mode tracks no flows: the kernel's sockets are the state. */
MOAT_INLINE struct moat_flow *moat_be_flow_find(struct moat_be *be, const struct moat_pkt *pkt,
						 u32 *dir)
{
	(void)be;
	(void)pkt;
	(void)dir;
	return NULL;
}

MOAT_INLINE struct moat_flow *moat_be_flow_add(struct moat_be *be, const struct moat_pkt *pkt)
{
	(void)be;
	(void)pkt;
	return NULL;
}

MOAT_INLINE struct moat_source *moat_be_source(struct moat_be *be, const struct moat_addr *a,
					       u8 family, u32 plen, u64 now_ns)
{
	struct moat_src_key k = { .family = family, .plen = (u8)plen };
	struct moat_source *s;
	u32 *conns;

	moat_addr_mask(&k.addr, a, family, plen);
	s = bpf_map_lookup_elem(&moat_sources, &k);
	if (!s) {
		struct moat_source fresh = {};
		const struct moat_policy *pol = be->pol;

		if (pol) {
			const struct moat_limits *l =
				plen == (family == 6 ? 128u : 32u) ? &pol->source : &pol->prefix;
			u32 burst = l->syn_burst ? l->syn_burst : l->syn_rate;

			moat_bucket_init(&fresh.syn, now_ns, burst ? burst : 1);
		}
		fresh.conn.start_ns = now_ns;
		bpf_map_update_elem(&moat_sources, &k, &fresh, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&moat_sources, &k);
		if (!s)
			return NULL;
	}
	/* The kernel's sockets, counted by moatd, are the truth for concurrency. */
	conns = bpf_map_lookup_elem(&moat_conns, &k);
	s->concurrent = conns ? *conns : 0;
	return s;
}

MOAT_INLINE struct moat_trigger *moat_be_dest(struct moat_be *be, const struct moat_pkt *pkt)
{
	struct moat_dst_key k = { .addr = pkt->daddr, .port = pkt->dport, .family = pkt->family };
	struct moat_trigger *t, fresh = {};

	(void)be;
	t = bpf_map_lookup_elem(&moat_dests, &k);
	if (t)
		return t;
	bpf_map_update_elem(&moat_dests, &k, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&moat_dests, &k);
}

/* The socket a packet is addressed to (reference held: release it), or NULL. */
MOAT_INLINE struct bpf_sock_tuple *moat_tuple(const struct moat_pkt *pkt,
					      struct bpf_sock_tuple *t, u32 *size)
{
	if (pkt->family == 6) {
		__builtin_memcpy(t->ipv6.saddr, pkt->saddr.w, 16);
		__builtin_memcpy(t->ipv6.daddr, pkt->daddr.w, 16);
		t->ipv6.sport = moat_htons(pkt->sport);
		t->ipv6.dport = moat_htons(pkt->dport);
		*size = sizeof(t->ipv6);
	} else {
		t->ipv4.saddr = pkt->saddr.w[0];
		t->ipv4.daddr = pkt->daddr.w[0];
		t->ipv4.sport = moat_htons(pkt->sport);
		t->ipv4.dport = moat_htons(pkt->dport);
		*size = sizeof(t->ipv4);
	}
	return t;
}

/* Kernel TCP states as struct bpf_sock reports them. */
enum moat_ktcp_state {
	MOAT_KTCP_ESTABLISHED = 1,
	MOAT_KTCP_SYN_SENT = 2,
	MOAT_KTCP_SYN_RECV = 3,
	MOAT_KTCP_LISTEN = 10,
	MOAT_KTCP_NEW_SYN_RECV = 12,
};

MOAT_INLINE u64 moat_count(enum moat_reason r)
{
	u32 idx = (u32)r;
	u64 *cnt = bpf_map_lookup_elem(&moat_reasons, &idx);

	if (cnt)
		*cnt += 1;
	return 0;
}

#endif
