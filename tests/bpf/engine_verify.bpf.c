// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The whole core/ engine behind a BPF-map backend, as an XDP program. It exists
 * so the suite proves the shared engine passes the kernel verifier; the host
 * product (xdp/moat.bpf.c) builds on the same headers.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Drive the TCP option walk through bpf_loop: see core/parse.h. */
static long moat_tcpopt_cb(__u32 i, void *ctx);
#define MOAT_TCPOPT_LOOP(w) bpf_loop(40, moat_tcpopt_cb, (w), 0)

#define MOAT_BE_PICKUP /* the mid-stream pickup path is verified too */
#include "../../core/engine.h"

static long moat_tcpopt_cb(__u32 i, void *ctx)
{
	return moat_tcpopt_step(i, ctx);
}

struct source_key {
	struct moat_addr addr;
	u32 plen;
	u32 family;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct moat_flow_key);
	__type(value, struct moat_flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct source_key);
	__type(value, struct moat_source);
} sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct moat_flow_key);
	__type(value, struct moat_trigger);
} dests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct moat_flow_key);
	__type(value, struct moat_pickup_budget);
} pickups SEC(".maps");

struct lpm_key {
	u32 prefixlen;
	struct moat_addr addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, u32); /* enum moat_list_match; family in the key's prefix */
} lists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct moat_policy);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct moat_cookie_secrets);
} secrets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MOAT_R_COUNT);
	__type(key, u32);
	__type(value, u64);
} reasons SEC(".maps");

struct moat_be {
	int unused;
};

MOAT_INLINE int moat_be_list(struct moat_be *be, const struct moat_addr *a, u8 family)
{
	struct lpm_key k = { .prefixlen = family == 6 ? 128 : 32, .addr = *a };
	u32 *m = bpf_map_lookup_elem(&lists, &k);

	(void)be;
	return m ? (int)*m : MOAT_LIST_NONE;
}

MOAT_INLINE struct moat_flow *moat_be_flow_find(struct moat_be *be, const struct moat_pkt *pkt,
						 u32 *dir)
{
	struct moat_flow_key k;

	(void)be;
	*dir = moat_flow_key_make(pkt, &k);
	return bpf_map_lookup_elem(&flows, &k);
}

MOAT_INLINE struct moat_flow *moat_be_flow_add(struct moat_be *be, const struct moat_pkt *pkt)
{
	struct moat_flow_key k;
	struct moat_flow f = {};

	(void)be;
	moat_flow_key_make(pkt, &k);
	if (bpf_map_update_elem(&flows, &k, &f, BPF_ANY))
		return NULL;
	return bpf_map_lookup_elem(&flows, &k);
}

MOAT_INLINE struct moat_source *moat_be_source(struct moat_be *be, const struct moat_addr *a,
					       u8 family, u32 plen, u64 now_ns)
{
	struct source_key k = { .plen = plen, .family = family };
	struct moat_source *s, fresh = {};

	(void)be;
	moat_addr_mask(&k.addr, a, family, plen);
	s = bpf_map_lookup_elem(&sources, &k);
	if (s)
		return s;
	fresh.syn.last_ns = now_ns;
	bpf_map_update_elem(&sources, &k, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&sources, &k);
}

MOAT_INLINE struct moat_trigger *moat_be_dest(struct moat_be *be, const struct moat_pkt *pkt)
{
	struct moat_flow_key k = {};
	struct moat_trigger *t, fresh = {};

	(void)be;
	moat_flow_key_side(&k, 0, &pkt->daddr, pkt->dport);
	k.v6 = pkt->family == 6;
	t = bpf_map_lookup_elem(&dests, &k);
	if (t)
		return t;
	bpf_map_update_elem(&dests, &k, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&dests, &k);
}

MOAT_INLINE struct moat_pickup_budget *moat_be_pickup(struct moat_be *be, const struct moat_addr *a,
						      u8 family)
{
	struct moat_flow_key k = {};
	struct moat_pickup_budget *b, fresh = {};

	(void)be;
	moat_flow_key_side(&k, 0, a, 0);
	k.v6 = family == 6;
	b = bpf_map_lookup_elem(&pickups, &k);
	if (b)
		return b;
	bpf_map_update_elem(&pickups, &k, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&pickups, &k);
}

SEC("xdp")
int moat_engine_verify(struct xdp_md *ctx)
{
	const u8 *data = (const u8 *)(long)ctx->data;
	const u8 *data_end = (const u8 *)(long)ctx->data_end;
	struct moat_be be = {};
	struct moat_engine e = { .be = &be };
	struct moat_result res;
	struct moat_pkt pkt;
	enum moat_reason r;
	u32 zero = 0, idx;
	u64 *cnt;

	e.pol = bpf_map_lookup_elem(&policy, &zero);
	e.sec = bpf_map_lookup_elem(&secrets, &zero);
	if (!e.pol || !e.sec)
		return XDP_PASS;
	e.now_ns = bpf_ktime_get_ns();
	e.ts_clock = (u32)(e.now_ns / 1000000);
	r = moat_engine_run(&e, data, data_end, &pkt, &res);
	idx = (u32)r;
	cnt = bpf_map_lookup_elem(&reasons, &idx);
	if (cnt)
		*cnt += 1;
	return moat_reason_verdict(r) == MOAT_DROP ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
