// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp: the inline dataplane. Transparent between port pairs: workers
 * decide every frame with the core/ engine (worker.c) and forward what passes
 * to the paired port; the main lcore answers the control socket (ctl.c).
 * dp.h says which file does what.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "dataplane/dp.h"

#include "control/notify.h"
#include "control/proto.h"

volatile bool dp_quit;

static void on_signal(int sig)
{
	(void)sig;
	dp_quit = true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: moat-dp [EAL options] -- --config FILE --pair IN:OUT [--pair IN:OUT ...]\n"
		"               [--socket PATH]\n\n"
		"Transparent inline filter between port pairs (IN = inside, OUT = outside). Runs\n"
		"until SIGINT/SIGTERM, then drains, prints totals and exits 0, or until told to\n"
		"restart (moatctl restart), then exits 75, leaving its flows in the dpdk.state\n"
		"file for the next moat-dp to adopt.\n\n"
		"  -c, --config FILE   moat YAML config (mode: dpdk)\n"
		"  -p, --pair IN:OUT   a pair of DPDK port ids forwarded to each other\n"
		"  -s, --socket PATH   control socket, JSON lines (default /run/moat/moat-dp.sock)\n"
		"  -w, --workers N     worker lcores (default 1). With more than one: on ports\n"
		"                      with RSS, a queue per worker (symmetric key: both\n"
		"                      directions of a flow on one worker), EAL needs N + 1\n"
		"                      lcores; else a dispatcher lcore hashes flows to the\n"
		"                      workers over rings, EAL needs N + 2 lcores\n"
		"  -D, --dispatcher    the dispatcher even on ports with RSS\n"
		"  -h, --help          this text (also as moat-dp's first argument, before EAL)\n"
		"  -V, --version       print the version (also as the first argument)\n\n"
		"EAL options (before --): DPDK's, e.g. -l LCORES, --vdev, -a PCI, --file-prefix,\n"
		"--no-huge; see doc.dpdk.org/guides-22.11/linux_gsg/linux_eal_parameters.html\n\n"
		"Example, no NIC needed:\n"
		"  moat-dp --no-huge --no-shconf --file-prefix dp1 --vdev net_pcap0,rx_pcap=in.pcap,tx_pcap=a.pcap \\\n"
		"          --vdev net_pcap1,rx_pcap=empty.pcap,tx_pcap=b.pcap -- --config moat.yaml --pair 1:0\n");
}

static int parse_pair(const char *s, struct dp_pair *p)
{
	unsigned int a, b;
	char extra;

	if (sscanf(s, "%u:%u%c", &a, &b, &extra) != 2 || a == b || a >= RTE_MAX_ETHPORTS ||
	    b >= RTE_MAX_ETHPORTS)
		return -EINVAL;
	p->in = (uint16_t)a;
	p->out = (uint16_t)b;
	return 0;
}

static int parse_workers(struct dp_app *app, const char *arg)
{
	char *end;
	long n = strtol(arg, &end, 10);

	if (*end || n < 1 || n > DP_MAX_WORKERS) {
		fprintf(stderr, "moat-dp: --workers %s: expected 1..%d\n", arg, DP_MAX_WORKERS);
		return -EINVAL;
	}
	app->n_workers = (unsigned int)n;
	return 0;
}

static int add_pair(struct dp_app *app, const char *arg)
{
	if (app->n_pairs == DP_MAX_PAIRS) {
		fprintf(stderr, "moat-dp: at most %d --pair\n", DP_MAX_PAIRS);
		return -EINVAL;
	}
	if (parse_pair(arg, &app->pairs[app->n_pairs])) {
		fprintf(stderr, "moat-dp: --pair %s: expected IN:OUT, two different port ids\n", arg);
		return -EINVAL;
	}
	app->n_pairs++;
	return 0;
}

static int parse_args(struct dp_app *app, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "pair", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "dispatcher", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:p:s:w:DhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			app->force_dispatch = true;
			break;
		case 'w':
			if (parse_workers(app, optarg))
				return -EINVAL;
			break;
		case 'c':
			app->config_path = optarg;
			break;
		case 'p':
			if (add_pair(app, optarg))
				return -EINVAL;
			break;
		case 's':
			app->socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("moat-dp %s\n", MOAT_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!app->config_path || !app->n_pairs || optind != argc) {
		fprintf(stderr, "moat-dp: --config and at least one --pair are required\n");
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/*
 * `moat-dp --help` and `moat-dp --version` answer before EAL starts: EAL would
 * take --help as its own (printing only its options) and needs hugepages or
 * --no-huge just to get that far. 0 when argv asks neither.
 */
static int answer_before_eal(int argc, char **argv)
{
	if (argc < 2)
		return 0;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 1;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("moat-dp %s\n", MOAT_VERSION);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct dp_app app = { .socket_path = "/run/moat/moat-dp.sock", .n_workers = 1 };
	int n, rc = 1;

	if (answer_before_eal(argc, argv))
		return 0;
	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "moat-dp: EAL init failed: %s (see --help of the EAL options)\n",
			rte_strerror(rte_errno));
		return 2;
	}
	if (parse_args(&app, argc - n, argv + n))
		goto out_eal;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN); /* a control client gone before its answer must not end us */
	app.tsc_hz = rte_get_tsc_hz();
	dp_anchor_wall_clock(&app);
	if (dp_ctl_open(&app) || dp_ports_setup(&app) || dp_workers_setup(&app) ||
	    dp_ctl_start(&app) || dp_launch(&app))
		goto out;
	dp_telemetry_start(&app);
	dp_metrics_start(&app);
	moat_notify("READY=1\nSTATUS=forwarding");
	dp_ctl_loop(&app);
	dp_metrics_stop();
	dp_telemetry_stop();
	moat_notify("STOPPING=1");
	rte_eal_mp_wait_lcore();
	dp_ctl_finish(&app);
	rc = app.restart ? MOAT_DP_EXIT_RESTART : 0;
out:
	dp_ports_stop(&app);
	dp_ctl_close(&app);
	dp_workers_free(&app);
	/* A stop forgets the flows; a restart (or a failed start) leaves them for the next one. */
	dp_state_close(&app, app.restart || rc);
	dp_free_sigs(&app);
out_eal:
	rte_eal_cleanup();
	return rc;
}
