// SPDX-License-Identifier: BSD-3-Clause
/*
 * Loads engine_verify.bpf.o (all of core/ behind BPF maps) through the kernel
 * verifier, then runs frames through it with bpf_prog_test_run_opts and checks
 * the XDP action and the per-reason counter each one moved.
 * Exit 77 (skip) only when this process may not use bpf() at all.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/policy.h"
#include "core/reason.h"

#define SKIP 77

static int failures;

static void check(int cond, const char *what)
{
	printf("%s: %s\n", cond ? "ok" : "FAIL", what);
	if (!cond)
		failures++;
}

/* Ethernet + IPv4 + TCP (20-byte header + optional MSS option), checksums zero. */
static size_t make_frame(unsigned char *f, unsigned char flags, int with_mss, const char *src)
{
	size_t tcp_len = with_mss ? 24 : 20;
	unsigned char *ip = f + 14, *tcp = ip + 20;

	memset(f, 0, 14 + 20 + tcp_len);
	memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	ip[0] = 0x45;
	ip[3] = (unsigned char)(20 + tcp_len);
	ip[8] = 64;
	ip[9] = 6;
	sscanf(src, "%hhu.%hhu.%hhu.%hhu", &ip[12], &ip[13], &ip[14], &ip[15]);
	memcpy(ip + 16, "\x0a\x02\x00\x02", 4);
	tcp[0] = 0x9c;
	tcp[1] = 0x40; /* 40000 */
	tcp[3] = 80;
	tcp[4] = 0x11;
	tcp[12] = (unsigned char)((tcp_len / 4) << 4);
	tcp[13] = flags;
	tcp[14] = 0xfa;
	if (with_mss)
		memcpy(tcp + 20, "\x02\x04\x05\xb4", 4);
	return 14 + 20 + tcp_len;
}

static unsigned long long reason_count(int map_fd, enum moat_reason r)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long *v = calloc((size_t)ncpu, sizeof(*v)), sum = 0;
	unsigned int key = (unsigned int)r;
	int i;

	if (v && !bpf_map_lookup_elem(map_fd, &key, v))
		for (i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

static int run(int prog_fd, const unsigned char *frame, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (unsigned int)len,
		    .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return (int)opts.retval;
}

struct case_ {
	const char *what;
	unsigned char flags;
	int mss;
	const char *src;
	int xdp;
	enum moat_reason reason;
};

int main(int argc, char **argv)
{
	static const struct case_ cases[] = {
		{ "SYN with MSS, cookies always: answered (syn_cookie)", 0x02, 1, "10.1.0.2",
		  XDP_PASS, MOAT_R_SYN_COOKIE },
		{ "SYN+FIN: bad_flags", 0x03, 0, "10.1.0.2", XDP_DROP, MOAT_R_BAD_FLAGS },
		{ "NULL flags: bad_flags", 0x00, 0, "10.1.0.2", XDP_DROP, MOAT_R_BAD_FLAGS },
		{ "land: src == dst", 0x02, 0, "10.2.0.2", XDP_DROP, MOAT_R_LAND },
		{ "RST with no flow: rst_no_flow", 0x04, 0, "10.1.0.3", XDP_DROP, MOAT_R_RST_NO_FLOW },
		{ "random ACK under cookies: cookie_invalid", 0x10, 0, "10.1.0.4", XDP_DROP,
		  MOAT_R_COOKIE_INVALID },
	};
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct moat_policy pol;
	unsigned char frame[128];
	unsigned int zero = 0;
	size_t i;
	int err, prog_fd, reasons_fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s engine_verify.bpf.o\n", argv[0]);
		return 2;
	}
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	err = bpf_object__load(obj);
	if (err == -EPERM && geteuid() != 0) {
		printf("SKIP: loading BPF programs needs root (CAP_BPF); this test runs as root in CI\n");
		return SKIP;
	}
	check(err == 0, "core/ engine object passes the kernel verifier");
	if (err) {
		fprintf(stderr, "load failed: %s (run `bpftool prog load %s /sys/fs/bpf/x` for the log)\n",
			strerror(-err), argv[1]);
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "moat_engine_verify");
	prog_fd = bpf_program__fd(prog);
	reasons_fd = bpf_object__find_map_fd_by_name(obj, "reasons");
	moat_policy_defaults(&pol);
	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	err = bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "policy"), &zero, &pol, 0);
	check(err == 0, "policy map written");

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct case_ *c = &cases[i];
		unsigned long long before = reason_count(reasons_fd, c->reason);
		size_t len = make_frame(frame, c->flags, c->mss, c->src);
		int act = run(prog_fd, frame, len);

		check(act == c->xdp && reason_count(reasons_fd, c->reason) == before + 1, c->what);
	}
	/* Every truncation of a valid frame: must be malformed, never an out-of-bounds read. */
	{
		size_t full = make_frame(frame, 0x02, 1, "10.1.0.9"), len;
		unsigned long long before = reason_count(reasons_fd, MOAT_R_MALFORMED);
		int all_drop = 1;

		for (len = 14; len < full; len++)
			all_drop &= run(prog_fd, frame, len) == XDP_DROP;
		check(all_drop && reason_count(reasons_fd, MOAT_R_MALFORMED) == before + (full - 14),
		      "every truncation of a SYN frame (14..full-1 bytes) dropped as malformed");
	}
	bpf_object__close(obj);
	printf("%d passed, %d failed\n", (int)(sizeof(cases) / sizeof(cases[0])) + 3 - failures,
	       failures);
	return failures ? 1 : 0;
}
