// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Frame-restoring harness for timing XDP programs that rewrite the frame.
 *
 * bpf_prog_test_run with repeat reruns the program on one buffer, so after
 * moat's XDP_TX rewrite (SYN -> SYN-ACK) every later repetition would time the
 * SYN-ACK path instead. bench_restore puts the original frame back (length and
 * bytes, from bench_frame), then tail-calls the program under test
 * (bench_target[0]). xdp_bench times it twice, tail-calling moat_xdp and then
 * bench_tx, which does nothing; the difference is moat's own cost.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BENCH_FRAME_MAX 256

struct bench_frame {
	__u32 len;
	__u8 data[BENCH_FRAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_frame);
} bench_frame SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

SEC("xdp")
int bench_restore(struct xdp_md *ctx)
{
	struct bench_frame *f;
	__u32 zero = 0, len;
	int delta;

	f = bpf_map_lookup_elem(&bench_frame, &zero);
	if (!f)
		return XDP_ABORTED;
	len = f->len;
	if (len < 1 || len > BENCH_FRAME_MAX)
		return XDP_ABORTED;
	delta = (int)len - (int)(ctx->data_end - ctx->data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, f->data, len))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &bench_target, 0);
	return XDP_ABORTED;
}

/* The empty target: what restore + tail call cost on their own. */
SEC("xdp")
int bench_tx(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
