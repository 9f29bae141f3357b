// SPDX-License-Identifier: BSD-3-Clause
/*
 * XDP ns/packet by bpf_prog_test_run: moat.bpf.o's paths beside two baselines
 * (bench_baselines.bpf.c) timed in the same run, interleaved round by round.
 *   xdp_bench --dev IFNAME [--repeat N] [--rounds R]
 * Root only, inside a throwaway network namespace (tests/bench/run.sh makes it):
 * IFNAME carries 10.77.0.1 (the server) and 10.77.0.2 (the client) is local too.
 * A real listener and a real established connection are opened there, so the
 * cookie ACK and the data segment find the kernel sockets moat looks up.
 * Prints one JSON object: {"xdp_ns": {...}, "loop_ns", "harness_ns", "harness_syn_ns",
 * "repeat", "rounds"}.
 *
 * Each figure is the kernel's own duration (average ns per repetition) of one
 * run of N repetitions, the least over R rounds (other load only adds time).
 * Every run is checked: moat's reason counters must have moved by exactly N on
 * the expected reason, and the baselines must return their expected verdict.
 *
 * XDP_TX repetitions: moat rewrites the SYN into its SYN-ACK in place, and
 * repeat reruns on that same buffer, so plain repetitions after the first time
 * the SYN-ACK (an ACK to a listener: ack_no_flow). BPF_F_TEST_XDP_LIVE_FRAMES is
 * no cure: it resets only the xdp_buff pointers of a recycled page-pool page,
 * not its bytes (Documentation/bpf/bpf_prog_run.rst: a program that rewrites
 * the packet sees the original or the rewritten one). Tried on 6.18 with a veth
 * in the bench namespace: of 1M live repetitions of the SYN, 64 (the first
 * batch) counted syn_cookie and 999,936 ack_no_flow. Live timing also includes
 * page-pool allocation and the veth transmit of every frame (an empty XDP_TX
 * program: 78 ns, 417 ns with the peer's GRO on), which the baselines do not
 * pay, and live XDP_PASS frames would enter the stack. So the SYN path runs
 * behind bench_harness.bpf.c, which restores the frame and tail-calls moat_xdp;
 * the same harness tail-calling an empty XDP_TX program is timed alongside and
 * subtracted, and the empty program timed directly (the test loop alone) is
 * added back, so syn_cookie compares with the figures timed directly. The other
 * paths leave the frame as it is and are timed directly, as the baselines are.
 *
 * moat runs the product's defaults (core's moat_policy_defaults(), what an empty
 * config or deploy/moat.yaml gives moatd) with one change, syn_cookies: always:
 * every port protected, no allow/deny lists, no source or prefix limits,
 * rst_policy rfc5961, synack_wscale 7, and moatd's default event sampling (one
 * event per 100 packets of each reason that is not a pass) in moat_runtime.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/cookie.h"
#include "core/parse.h"
#include "core/policy.h"
#include "core/reason.h"
#include "xdp/moat_maps.h"
#include "moat.skel.h"
#include "bench_baselines.skel.h"
#include "bench_harness.skel.h"

#define SERVER_ADDR "10.77.0.1"
#define CLIENT_ADDR "10.77.0.2" /* the established connection's client */
#define REMOTE_ADDR "10.77.0.3" /* no socket: a SYN, a cookie ACK, an anomaly */
#define SERVER_PORT 8080
#define REMOTE_PORT 40000
#define REMOTE_ISN 0x12345678u
#define FRAME_MAX 256 /* bench_harness.bpf.c BENCH_FRAME_MAX */
#define EVENT_SAMPLE 100 /* moatd's default event_sample */

static const struct moat_cookie_secrets secrets = {
	.cur = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL },
	.prev = { 0x1111111111111111ULL, 0x2222222222222222ULL },
};

/* Also the value of bench_harness.bpf.c's bench_frame map. */
struct frame {
	u32 len;
	u8 data[FRAME_MAX];
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "xdp_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock bpf_ktime_get_ns() reads */
	return (u64)ts.tv_sec * MOAT_NSEC_PER_SEC + (u64)ts.tv_nsec;
}

static u16 csum_fold(u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

static u32 csum_add(u32 sum, const u8 *p, u32 n)
{
	u32 i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (u32)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (u32)p[n - 1] << 8;
	return sum;
}

/* An Ethernet/IPv4/TCP frame with correct checksums; opts is a multiple of 4 bytes. */
static void build(struct frame *f, const char *saddr, const char *daddr, u16 sport, u16 dport,
		  u32 seq, u32 ack, u8 flags, const u8 *opts, u32 optlen, u32 payload)
{
	static const u8 dmac[6] = { 0x02, 0, 0, 0, 0, 1 }, smac[6] = { 0x02, 0, 0, 0, 0, 2 };
	u8 *ip = f->data + 14, *t = ip + 20;
	u32 tlen = 20 + optlen + payload, sum;
	struct in_addr s, d;

	memset(f, 0, sizeof(*f));
	f->len = 14 + 20 + tlen;
	if (f->len > FRAME_MAX || optlen % 4 || optlen > 40)
		die("frame too long");
	inet_pton(AF_INET, saddr, &s);
	inet_pton(AF_INET, daddr, &d);
	memcpy(f->data, dmac, 6);
	memcpy(f->data + 6, smac, 6);
	moat_put_be16(f->data + 12, 0x0800);
	ip[0] = 0x45;
	moat_put_be16(ip + 2, (u16)(20 + tlen));
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	moat_put_be16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	moat_put_be16(t, sport);
	moat_put_be16(t + 2, dport);
	moat_put_be32(t + 4, seq);
	moat_put_be32(t + 8, ack);
	t[12] = (u8)(((20 + optlen) / 4) << 4);
	t[13] = flags;
	moat_put_be16(t + 14, 64240);
	memcpy(t + 20, opts, optlen);
	memset(t + 20 + optlen, 'x', payload);
	sum = csum_add(0, ip + 12, 8) + 6 + tlen;
	moat_put_be16(t + 16, csum_fold(csum_add(sum, t, tlen)));
}

/* The SYN Linux sends: MSS 1460, SACK-permitted, timestamps, window scale 7. */
static void build_syn(struct frame *f, u16 sport, u8 extra_flags)
{
	u8 o[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 1, 3, 3, 7 };

	build(f, REMOTE_ADDR, SERVER_ADDR, sport, SERVER_PORT, REMOTE_ISN, 0,
	      MOAT_TCP_SYN | extra_flags, o, sizeof(o), 0);
}

/* The ACK completing a cookie handshake for build_syn(): cookie made now, as moat would. */
static void build_cookie_ack(struct frame *f)
{
	struct frame syn;
	struct moat_pkt pkt;
	struct moat_cookie c;
	u64 now = mono_ns();
	u8 o[12] = { 1, 1, 8, 10 };

	build_syn(&syn, REMOTE_PORT, 0);
	if (moat_parse(syn.data, syn.data + syn.len, &pkt) != MOAT_PARSE_TCP)
		die("cannot parse the bench SYN");
	moat_cookie_make(&secrets.cur, &pkt, now, (u32)(now / 1000000), &c);
	moat_put_be32(o + 4, 1001);
	moat_put_be32(o + 8, c.tsval);
	build(f, REMOTE_ADDR, SERVER_ADDR, REMOTE_PORT, SERVER_PORT, REMOTE_ISN + 1, c.isn + 1,
	      MOAT_TCP_ACK, o, sizeof(o), 0);
}

/* A listener on the server port and one established connection to it. */
static u16 open_sockets(int fds[3])
{
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(SERVER_PORT) };
	struct sockaddr_in cli = { .sin_family = AF_INET };
	socklen_t alen = sizeof(cli);
	int one = 1;

	inet_pton(AF_INET, SERVER_ADDR, &srv.sin_addr);
	inet_pton(AF_INET, CLIENT_ADDR, &cli.sin_addr);
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	fds[1] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[0] < 0 || fds[1] < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fds[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fds[0], (struct sockaddr *)&srv, sizeof(srv)) || listen(fds[0], 16))
		die("listen on %s:%d: %s (is the bench namespace set up?)", SERVER_ADDR,
		    SERVER_PORT, strerror(errno));
	if (bind(fds[1], (struct sockaddr *)&cli, sizeof(cli)) ||
	    connect(fds[1], (struct sockaddr *)&srv, sizeof(srv)))
		die("connect %s -> %s:%d: %s", CLIENT_ADDR, SERVER_ADDR, SERVER_PORT,
		    strerror(errno));
	fds[2] = accept(fds[0], NULL, NULL);
	if (fds[2] < 0 || getsockname(fds[1], (struct sockaddr *)&cli, &alen))
		die("accept: %s", strerror(errno));
	return ntohs(cli.sin_port);
}

static void read_reasons(int fd, u64 out[MOAT_R_COUNT])
{
	int ncpu = libbpf_num_possible_cpus(), i;
	u64 v[ncpu > 0 ? ncpu : 1];
	u32 r;

	for (r = 0; r < MOAT_R_COUNT; r++) {
		out[r] = 0;
		if (bpf_map_lookup_elem(fd, &r, v))
			die("reading moat_reasons: %s", strerror(errno));
		for (i = 0; i < ncpu; i++)
			out[r] += v[i];
	}
}

struct run_ctx {
	int ifindex;
	u32 repeat;
	int reasons_fd;
};

/*
 * One bpf_prog_test_run of repeat repetitions: the kernel's ns per repetition.
 * want_ret: the verdict every repetition must end with (checked on the last);
 * want_reason: the moat reason all repetitions must count, or -1 (not moat).
 */
static double run(const struct run_ctx *rc, int prog_fd, const struct frame *f, u32 want_ret,
		  int want_reason, struct frame *out, const char *what)
{
	struct xdp_md md = { .data_end = f->len, .ingress_ifindex = (u32)rc->ifindex };
	struct frame sink;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->data, .data_size_in = f->len,
		    .ctx_in = &md, .ctx_size_in = sizeof(md), .repeat = rc->repeat);
	u64 before[MOAT_R_COUNT], after[MOAT_R_COUNT];
	u32 r;

	if (!out)
		out = &sink;
	o.data_out = out->data;
	o.data_size_out = sizeof(out->data);
	if (want_reason >= 0)
		read_reasons(rc->reasons_fd, before);
	if (bpf_prog_test_run_opts(prog_fd, &o))
		die("%s: bpf_prog_test_run: %s", what, strerror(errno));
	out->len = o.data_size_out;
	if (o.retval != want_ret)
		die("%s: verdict %u, expected %u", what, o.retval, want_ret);
	if (want_reason >= 0) {
		read_reasons(rc->reasons_fd, after);
		for (r = 0; r < MOAT_R_COUNT; r++) {
			u64 d = after[r] - before[r], want = r == (u32)want_reason ? rc->repeat : 0;

			if (d != want)
				die("%s: %llu x %s in %u repetitions, expected only %s", what,
				    (unsigned long long)d, moat_reason_name((enum moat_reason)r),
				    rc->repeat, moat_reason_name((enum moat_reason)want_reason));
		}
	}
	return (double)o.duration;
}

enum { B_LOOP, B_FLOOR, B_HELPER, B_HARNESS, B_HARNESS_SYN, B_COOKIE_ACK, B_ESTABLISHED, B_ANOMALY, B_N };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct moat_bpf *moat;
	struct bench_baselines_bpf *base;
	struct bench_harness_bpf *harn;
	struct run_ctx rc = { .repeat = 1000000 };
	struct frame syn, synfin, ack, data, out;
	struct moat_policy pol;
	struct moat_runtime rt = {};
	struct moat_pkt reply;
	double best[B_N];
	const char *dev = NULL;
	int rounds = 5, fds[3], c, i, tx_fd, moat_fd;
	u32 zero = 0;
	u16 cport;

	while ((c = getopt_long(argc, argv, "d:r:n:h", longopts, NULL)) != -1) {
		if (c == 'd')
			dev = optarg;
		else if (c == 'r')
			rc.repeat = (u32)strtoul(optarg, NULL, 10);
		else if (c == 'n')
			rounds = atoi(optarg);
		else {
			fprintf(c == 'h' ? stdout : stderr,
				"usage: xdp_bench --dev IFNAME [--repeat N] [--rounds R]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!dev || optind != argc || !rc.repeat || rounds < 1)
		return 2;
	rc.ifindex = (int)if_nametoindex(dev);
	if (!rc.ifindex)
		die("%s: no such interface in this network namespace", dev);
	cport = open_sockets(fds);

	/* moat.bpf.o as moatd loads it, with the TC half taken as present; nothing pinned. */
	moat = moat_bpf__open();
	if (!moat)
		die("cannot open moat.bpf.o: %s", strerror(errno));
	moat->rodata->have_reqsk = 1;
	if (moat_bpf__load(moat))
		die("the kernel refused moat.bpf.o: %s", strerror(errno));
	moat_policy_defaults(&pol);
	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	/* As moatd's push_runtime() with the default config: drops and answers sampled. */
	for (i = 0; i < MOAT_R_COUNT; i++)
		if (moat_reason_verdict((enum moat_reason)i) != MOAT_PASS)
			rt.event_every[i] = EVENT_SAMPLE;
	if (bpf_map__update_elem(moat->maps.moat_policy, &zero, sizeof(zero), &pol, sizeof(pol), 0) ||
	    bpf_map__update_elem(moat->maps.moat_secrets, &zero, sizeof(zero), &secrets,
				 sizeof(secrets), 0) ||
	    bpf_map__update_elem(moat->maps.moat_runtime, &zero, sizeof(zero), &rt, sizeof(rt), 0))
		die("writing moat's maps: %s", strerror(errno));
	rc.reasons_fd = bpf_map__fd(moat->maps.moat_reasons);
	moat_fd = bpf_program__fd(moat->progs.moat_xdp);

	base = bench_baselines_bpf__open_and_load();
	harn = bench_harness_bpf__open_and_load();
	if (!base || !harn)
		die("cannot load the bench programs: %s", strerror(errno));
	tx_fd = bpf_program__fd(harn->progs.bench_tx);

	build_syn(&syn, REMOTE_PORT, 0);
	build_syn(&synfin, REMOTE_PORT + 1, MOAT_TCP_FIN);
	{
		u8 o[12] = { 1, 1, 8, 10, 0, 0, 0x03, 0xe9, 0, 0, 0x03, 0xe8 };

		build(&data, CLIENT_ADDR, SERVER_ADDR, cport, SERVER_PORT, 1000, 2000,
		      MOAT_TCP_ACK | MOAT_TCP_PSH, o, sizeof(o), 64);
	}
	if (bpf_map__update_elem(harn->maps.bench_frame, &zero, sizeof(zero), &syn, sizeof(syn), 0))
		die("writing bench_frame: %s", strerror(errno));

	for (i = 0; i < B_N; i++)
		best[i] = 1e30;
	for (i = 0; i < rounds; i++) {
		double d[B_N];
		int tfd = bpf_map__fd(harn->maps.bench_target), k;

		d[B_LOOP] = run(&rc, tx_fd, &syn, XDP_TX, -1, NULL, "empty program");
		d[B_FLOOR] = run(&rc, bpf_program__fd(base->progs.floor_drop), &syn, XDP_DROP, -1,
				 NULL, "floor_drop");
		d[B_HELPER] = run(&rc, bpf_program__fd(base->progs.kernel_cookie_helper), &syn,
				  XDP_DROP, -1, NULL, "kernel_cookie_helper");
		if (bpf_map_update_elem(tfd, &zero, &tx_fd, 0))
			die("bench_target: %s", strerror(errno));
		d[B_HARNESS] = run(&rc, bpf_program__fd(harn->progs.bench_restore), &syn, XDP_TX,
				   -1, NULL, "harness");
		if (bpf_map_update_elem(tfd, &zero, &moat_fd, 0))
			die("bench_target <- moat_xdp: %s", strerror(errno));
		d[B_HARNESS_SYN] = run(&rc, bpf_program__fd(harn->progs.bench_restore), &syn,
				       XDP_TX, MOAT_R_SYN_COOKIE, &out, "syn_cookie");
		/* What came out must be our SYN-ACK to the SYN. */
		if (moat_parse(out.data, out.data + out.len, &reply) != MOAT_PARSE_TCP ||
		    reply.tcp_flags != (MOAT_TCP_SYN | MOAT_TCP_ACK) || reply.ack != REMOTE_ISN + 1 ||
		    reply.dport != REMOTE_PORT)
			die("syn_cookie: the frame out is not the cookie SYN-ACK");
		build_cookie_ack(&ack); /* a fresh cookie each round: never near expiry */
		d[B_COOKIE_ACK] = run(&rc, moat_fd, &ack, XDP_PASS, MOAT_R_COOKIE_VALID, NULL,
				      "cookie_ack");
		d[B_ESTABLISHED] = run(&rc, moat_fd, &data, XDP_PASS, MOAT_R_ESTABLISHED, NULL,
				       "established");
		d[B_ANOMALY] = run(&rc, moat_fd, &synfin, XDP_DROP, MOAT_R_BAD_FLAGS, NULL,
				   "anomaly_drop");
		for (k = 0; k < B_N; k++)
			if (d[k] < best[k])
				best[k] = d[k];
	}
	/*
	 * syn_cookie as the others are timed (test loop included): moat's own cost
	 * (harness -> moat minus harness -> empty) plus the loop's (the empty program).
	 */
	printf("{\"xdp_ns\": {\"floor_drop\": %.1f, \"kernel_cookie_helper\": %.1f, "
	       "\"syn_cookie\": %.1f, \"cookie_ack\": %.1f, \"established\": %.1f, "
	       "\"anomaly_drop\": %.1f}, \"loop_ns\": %.1f, \"harness_ns\": %.1f, "
	       "\"harness_syn_ns\": %.1f, \"repeat\": %u, \"rounds\": %d}\n",
	       best[B_FLOOR], best[B_HELPER], best[B_HARNESS_SYN] - best[B_HARNESS] + best[B_LOOP],
	       best[B_COOKIE_ACK], best[B_ESTABLISHED], best[B_ANOMALY], best[B_LOOP],
	       best[B_HARNESS], best[B_HARNESS_SYN], rc.repeat, rounds);
	bench_harness_bpf__destroy(harn);
	bench_baselines_bpf__destroy(base);
	moat_bpf__destroy(moat);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	return 0;
}
