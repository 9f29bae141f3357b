// SPDX-License-Identifier: BSD-3-Clause
/*
 * ns/packet of the native engine over a capture held in memory, beside a
 * parse-only pass over the same frames measured in the same run.
 *   engine_bench [--config FILE] [--repeat N] PCAP
 * Prints one JSON object: packets, repeat, engine_ns, parse_ns, reasons.
 */
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/config.h"
#include "flow/backend.h"
#include "core/engine_types.h"
#include "core/parse.h"

struct frame {
	u64 ts_ns;
	u32 len;
	u8 *data;
};

static const struct moat_cookie_secrets secrets = {
	.cur = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL },
	.prev = { 1, 2 },
};

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * MOAT_NSEC_PER_SEC + (u64)ts.tv_nsec;
}

static struct frame *load(const char *path, size_t *n)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	struct pcap_pkthdr *h;
	const u_char *d;
	struct frame *v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!p) {
		fprintf(stderr, "engine_bench: %s: %s\n", path, errbuf);
		return NULL;
	}
	while (pcap_next_ex(p, &h, &d) == 1) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = realloc(v, cap * sizeof(*v));
		}
		v[*n].ts_ns = (u64)h->ts.tv_sec * MOAT_NSEC_PER_SEC + (u64)h->ts.tv_usec;
		v[*n].len = h->caplen;
		v[*n].data = malloc(h->caplen);
		memcpy(v[*n].data, d, h->caplen);
		(*n)++;
	}
	pcap_close(p);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	char err[MOAT_CONFIG_ERR_LEN];
	struct moat_config cfg;
	struct frame *fr;
	u64 reasons[MOAT_R_COUNT] = { 0 }, t_engine = 0, t_parse = 0, sink = 0;
	size_t n, i;
	int repeat = 20, pass, c;

	while ((c = getopt_long(argc, argv, "c:r:h", longopts, NULL)) != -1) {
		if (c == 'c')
			config = optarg;
		else if (c == 'r')
			repeat = atoi(optarg);
		else {
			fprintf(c == 'h' ? stdout : stderr,
				"usage: engine_bench [--config FILE] [--repeat N] PCAP\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1 || repeat < 1)
		return 2;
	if (config ? moat_config_load(config, &cfg, err, sizeof(err)) : (moat_config_defaults(&cfg), 0)) {
		fprintf(stderr, "engine_bench: %s\n", err);
		return 2;
	}
	fr = load(argv[optind], &n);
	if (!fr || !n)
		return 1;
	cfg.flow_table_size = 1 << 16;
	for (pass = 0; pass < repeat; pass++) {
		struct moat_engine eng = { .pol = &cfg.pol, .sec = &secrets };
		struct moat_be be;
		u64 t0;

		/* A fresh backend each pass, outside the timed region: every pass sees the capture as new. */
		if (moat_be_init(&be, cfg.flow_table_size, cfg.source_table_size, 7))
			return 1;
		moat_be_use(&be, &cfg.pol, &cfg.allow, &cfg.deny);
		eng.be = &be;
		t0 = now_ns();
		for (i = 0; i < n; i++) {
			struct moat_result res;
			struct moat_pkt pkt;
			enum moat_reason r;

			eng.now_ns = fr[i].ts_ns;
			eng.ts_clock = (u32)(fr[i].ts_ns / 1000000);
			r = moat_be_run(&be, &eng, fr[i].data, fr[i].data + fr[i].len, &pkt, &res);
			if (!pass)
				reasons[r]++;
		}
		t_engine += now_ns() - t0;
		moat_be_free(&be);

		t0 = now_ns();
		for (i = 0; i < n; i++) {
			struct moat_pkt pkt;

			sink += (u64)moat_parse(fr[i].data, fr[i].data + fr[i].len, &pkt) + pkt.seq;
		}
		t_parse += now_ns() - t0;
	}
	printf("{\"packets\": %zu, \"repeat\": %d, \"engine_ns\": %.1f, \"parse_ns\": %.1f, \"reasons\": {",
	       n, repeat, (double)t_engine / ((double)n * repeat), (double)t_parse / ((double)n * repeat));
	for (c = 0, i = 0; i < MOAT_R_COUNT; i++)
		if (reasons[i])
			printf("%s\"%s\": %llu", c++ ? ", " : "", moat_reason_name((enum moat_reason)i),
			       (unsigned long long)reasons[i]);
	printf("}, \"sink\": %llu}\n", (unsigned long long)(sink & 1));
	moat_config_free(&cfg);
	return 0;
}
