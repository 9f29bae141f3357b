// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * moat host mode, TC ingress half: a valid cookie ACK that XDP let through is
 * handed to its listener as a request socket built from the options the cookie
 * carried (bpf_sk_assign_tcp_reqsk, Linux 6.9+). The kernel then completes the
 * handshake itself: an ordinary established socket with the client's MSS,
 * window scale, SACK and timestamps. Everything else passes untouched.
 * Kept in its own object so XDP still loads on kernels without the kfunc.
 */
#include "xdp/moat_bpf_common.h"

#define TC_ACT_OK 0

/* libbpf matches kfunc prototypes by kind: a complete struct, not a forward declaration. */
struct sock {
	int unused;
};

/* The kernel's struct bpf_tcp_req_attrs (include/net/tcp.h), same name and layout. */
struct bpf_tcp_req_attrs {
	u32 rcv_tsval;
	u32 rcv_tsecr;
	u16 mss;
	u8 rcv_wscale;
	u8 snd_wscale;
	u8 ecn_ok;
	u8 wscale_ok;
	u8 sack_ok;
	u8 tstamp_ok;
	u8 usec_ts_ok;
	u8 reserved[3];
};

extern int bpf_sk_assign_tcp_reqsk(struct __sk_buff *skb, struct sock *sk, struct bpf_tcp_req_attrs *attrs,
				   int attrs__sz) __ksym;

/* tcp_sock begins with struct sock: the kfunc takes it as one. */
struct tcp_sock {
	u32 rcv_nxt;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} moat_tc_stats SEC(".maps"); /* 0: request sockets assigned, 1: assignment failures */

MOAT_INLINE void moat_tc_count(u32 idx)
{
	u64 *c = bpf_map_lookup_elem(&moat_tc_stats, &idx);

	if (c)
		*c += 1;
}

MOAT_INLINE void moat_req_attrs_fill(struct bpf_tcp_req_attrs *a, const struct moat_pkt *pkt,
				     const struct moat_syn_opts *o, const struct moat_policy *pol)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->mss = o->mss;
	a->tstamp_ok = o->has_ts;
	a->rcv_tsval = pkt->opt.tsval;
	a->rcv_tsecr = pkt->opt.tsecr;
	a->wscale_ok = o->has_wscale;
	a->snd_wscale = o->wscale;
	a->rcv_wscale = o->has_wscale ? pol->synack_wscale : 0;
	a->sack_ok = o->sack_ok;
	a->ecn_ok = o->ecn;
}

SEC("tc")
int moat_tc_cookie(struct __sk_buff *skb)
{
	const u8 *data = (const u8 *)(long)skb->data;
	const u8 *data_end = (const u8 *)(long)skb->data_end;
	const struct moat_cookie_secrets *sec;
	const struct moat_policy *pol;
	struct bpf_sock_tuple tuple = {};
	struct bpf_tcp_req_attrs attrs;
	struct moat_syn_opts opts;
	struct moat_pkt pkt;
	struct bpf_sock *skc;
	struct tcp_sock *tp;
	struct moat_be be;
	u32 zero = 0, size;
	int err;

	/* The live set, as XDP read it for the same packet (or the next one's). */
	if (moat_set_open(&be, moat_active_set()))
		return TC_ACT_OK;
	pol = be.pol;
	sec = bpf_map_lookup_elem(&moat_secrets, &zero);
	if (!pol || !sec || pol->syn_cookies == MOAT_COOKIES_OFF)
		return TC_ACT_OK;
	if (moat_parse(data, data_end, &pkt) != MOAT_PARSE_TCP)
		return TC_ACT_OK;
	if ((pkt.tcp_flags & (MOAT_TCP_SYN | MOAT_TCP_RST | MOAT_TCP_ACK)) != MOAT_TCP_ACK)
		return TC_ACT_OK;
	if (moat_cookie_check(sec, &pkt, bpf_ktime_get_ns() + (u64)moat_wall_off(), &opts))
		return TC_ACT_OK;
	moat_tuple(&pkt, &tuple, &size);
	skc = bpf_skc_lookup_tcp(skb, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	if (!skc)
		return TC_ACT_OK;
	if (skc->state != MOAT_KTCP_LISTEN)
		goto release;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		goto release;
	moat_req_attrs_fill(&attrs, &pkt, &opts, pol);
	err = bpf_sk_assign_tcp_reqsk(skb, (struct sock *)tp, &attrs, sizeof(attrs));
	moat_tc_count(err ? 1 : 0);
release:
	bpf_sk_release(skc);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
