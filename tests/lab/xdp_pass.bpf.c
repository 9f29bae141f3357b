// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * XDP_PASS, nothing else. Attached to the router's end of the server's veth so
 * that veth runs NAPI: frames the server's XDP program sends back with XDP_TX
 * reach a veth peer only then.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
