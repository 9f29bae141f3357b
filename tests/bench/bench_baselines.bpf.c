// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Baselines for the XDP bench, timed by xdp_bench in the same run as moat.bpf.o.
 *
 * floor_drop: parse Ethernet, IPv4 and the TCP header with data_end checks, drop.
 * The least any XDP filter looking at TCP can cost; most of it is the test loop.
 *
 * kernel_cookie_helper: the same parse, then the kernel's own SYN cookie
 * generation (bpf_tcp_raw_gen_syncookie_ipv4, 6.0+) on the SYN, then drop. The
 * cost moat's whole SYN -> cookie SYN-ACK path is held against.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* The bench's SYN carries MSS, SACK-permitted, timestamps and window scale, as Linux sends. */
#define BENCH_SYN_TCP_LEN 40

static __always_inline struct tcphdr *parse_tcp4(struct xdp_md *ctx, struct iphdr **iph_out)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct tcphdr *th;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end || iph->ihl != 5 || iph->protocol != IPPROTO_TCP)
		return NULL;
	th = (void *)(iph + 1);
	if ((void *)(th + 1) > data_end)
		return NULL;
	*iph_out = iph;
	return th;
}

SEC("xdp")
int floor_drop(struct xdp_md *ctx)
{
	struct iphdr *iph;

	return parse_tcp4(ctx, &iph) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int kernel_cookie_helper(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph;
	struct tcphdr *th = parse_tcp4(ctx, &iph);
	__s64 cookie;

	/* The helper's length must be a constant the verifier can check against data_end. */
	if (!th || th->doff * 4 != BENCH_SYN_TCP_LEN || (void *)th + BENCH_SYN_TCP_LEN > data_end)
		return XDP_PASS;
	cookie = bpf_tcp_raw_gen_syncookie_ipv4(iph, th, BENCH_SYN_TCP_LEN);
	/* XDP_DROP tells the bench the helper made a cookie. */
	return cookie < 0 ? XDP_ABORTED : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
