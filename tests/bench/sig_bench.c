// SPDX-License-Identifier: BSD-3-Clause
/*
 * What a payload signature check costs a segment, by segment size: the
 * signatures of a moat config (tests/bench/gen_dp.py signatures, as the
 * payload_N_sigs runs have them, none matching), each segment through
 * moat_sig_match as moat-dp calls it:
 *   - stream: in-order segments of one tracked flow direction (a new flow
 *     every 32 segments, the old one ended), hyperscan's stream mode;
 *   - block: untracked segments, hyperscan's block mode;
 * beside the floor of the same loop with no signatures at all.
 *   sig_bench --config FILE [--segments N] [--rounds R]
 * Prints one JSON object: ns a segment, the least of R rounds.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/config.h"
#include "core/flowkey.h"
#include "flow/sigs.h"

#define FLOW_SEGMENTS 32

static const unsigned int sizes[] = { 64, 256, 1024 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* An HTTP request's bytes, repeated: what the bench's payload mix sends, no signature's. */
static void fill_payload(uint8_t *p, size_t len)
{
	static const char req[] = "GET /static/app.js?v=42 HTTP/1.1\r\nHost: shop.example\r\n"
				  "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n";
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)req[i % (sizeof(req) - 1)];
}

/* ns a segment of len bytes over n segments; tracked: stream mode, flows of FLOW_SEGMENTS. */
static double run(struct moat_sig_matcher *m, const uint8_t *payload, uint32_t len, unsigned int n,
		  int tracked, unsigned long *drops)
{
	struct moat_flow_key key;
	struct moat_sig_packet p = { .payload = payload, .len = len, .sport = 40000, .dport = 80,
				     .to_server = true, .tracked = tracked, .key = &key };
	struct moat_sig_verdict v;
	uint64_t t0;
	unsigned int i;

	memset(&key, 0, sizeof(key));
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		if (i % FLOW_SEGMENTS == 0) {
			if (i && tracked)
				moat_sig_flow_ended(m, &key);
			key.a0 = i / FLOW_SEGMENTS; /* a new flow: its stream opens */
			p.seq = 1000;
		}
		moat_sig_match(m, &p, &v);
		*drops += v.action == MOAT_SIG_DROP;
		p.seq += len;
	}
	return (double)(now_ns() - t0) / n;
}

static double least(struct moat_sig_matcher *m, const uint8_t *payload, uint32_t len,
		    unsigned int n, int tracked, unsigned int rounds, unsigned long *drops)
{
	double best = 0, t;
	unsigned int r;

	for (r = 0; r < rounds; r++) {
		t = run(m, payload, len, n, tracked, drops);
		if (!r || t < best)
			best = t;
	}
	return best;
}

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: sig_bench --config FILE [--segments N] [--rounds R]\n"
		   "ns a payload segment through moat's signature check (stream and block mode),\n"
		   "by segment size, beside the same loop without signatures; one JSON object.\n");
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "segments", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	unsigned int segments = 200000, rounds = 5, i;
	struct moat_sig_matcher *m = NULL;
	struct moat_sig_set *set = NULL;
	unsigned long drops = 0;
	struct moat_config cfg;
	uint8_t payload[1024];
	char err[512];
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "c:n:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'n': segments = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'r': rounds = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'h': return usage(stdout, 0);
		default: return usage(stderr, 2);
		}
	}
	if (!config || !segments || !rounds)
		return usage(stderr, 2);
	if (moat_config_load(config, &cfg, err, sizeof(err))) {
		fprintf(stderr, "sig_bench: %s\n", err);
		return 1;
	}
	if (moat_sigs_compile(&cfg, config, &set, err, sizeof(err)) || !set) {
		fprintf(stderr, "sig_bench: %s\n", set ? err : "no signatures in the config");
		goto out;
	}
	m = moat_sig_matcher_new(set);
	if (!m) {
		fprintf(stderr, "sig_bench: no memory for a matcher\n");
		goto out;
	}
	fill_payload(payload, sizeof(payload));
	printf("{\"signatures\": %zu, \"stream_depth\": %u, \"rounds\": %u, \"segments\": %u",
	       moat_sigs_count(set), cfg.sig_stream_depth, rounds, segments);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		printf(", \"stream_%u_ns\": %.1f, \"block_%u_ns\": %.1f, \"none_%u_ns\": %.1f", sizes[i],
		       least(m, payload, sizes[i], segments, 1, rounds, &drops), sizes[i],
		       least(m, payload, sizes[i], segments, 0, rounds, &drops), sizes[i],
		       least(NULL, payload, sizes[i], segments, 1, rounds, &drops));
	printf(", \"drops\": %lu}\n", drops);
	rc = drops ? 1 : 0; /* a segment no signature matches was dropped: the figures are wrong */
	if (drops)
		fprintf(stderr, "sig_bench: %lu segments matched a signature\n", drops);
out:
	moat_sig_matcher_free(m);
	moat_sigs_free(set);
	moat_config_free(&cfg);
	return rc;
}
