// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp: the inline dataplane. Transparent between port pairs: each worker
 * lcore polls its queue of every port, runs each frame through the core/
 * engine on its own tables (no locks: nothing else touches them), forwards what
 * passes to the paired port, answers SYN cookies and challenge ACKs out of the
 * port the packet came in on, and frees the rest.
 *
 * This first version runs one worker; the dispatcher for drivers without RSS,
 * the SYN proxy and RCU policy updates follow (see the README).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "control/config.h"
#include "control/inline_be.h"
#include "control/proto.h"
#include "core/engine_types.h"
#include "core/reply.h"

#define DP_BURST 32
#define DP_MAX_PAIRS 4
#define DP_RX_DESC 1024
#define DP_TX_DESC 1024
#define DP_MBUFS 8191
#define DP_MBUF_CACHE 256

struct dp_pair {
	uint16_t in;  /* inside port */
	uint16_t out; /* outside port */
};

/* One worker lcore's state: touched by that lcore only, read by the control thread. */
struct dp_worker {
	unsigned int lcore;
	uint16_t queue;
	struct moat_be be;
	struct moat_engine eng;
	volatile uint64_t reasons[MOAT_R_COUNT];
	volatile uint64_t rx, fwd, answered, dropped, tx_full;
	/* The control thread asks for flow counts; the worker answers between bursts. */
	volatile int states_wanted;
	volatile uint64_t states[MOAT_TCPS_COUNT];
} __rte_cache_aligned;

struct dp_app {
	const char *config_path;
	const char *socket_path;
	struct moat_config cfg;
	struct moat_cookie_secrets secrets;
	struct dp_pair pairs[DP_MAX_PAIRS];
	int n_pairs;
	struct rte_mempool *pool;
	struct dp_worker worker;
	int listen_fd;
	uint64_t tsc_hz;
};

static volatile bool force_quit;

static void on_signal(int sig)
{
	(void)sig;
	force_quit = true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: moat-dp [EAL options] -- --config FILE --pair IN:OUT [--pair IN:OUT ...]\n"
		"               [--socket PATH]\n\n"
		"Transparent inline filter between port pairs (IN = inside, OUT = outside). Runs\n"
		"until SIGINT/SIGTERM, then drains, prints totals and exits 0.\n\n"
		"  -c, --config FILE   moat YAML config (mode: dpdk)\n"
		"  -p, --pair IN:OUT   a pair of DPDK port ids forwarded to each other\n"
		"  -s, --socket PATH   control socket, JSON lines (default /run/moat/moat-dp.sock)\n"
		"  -h, --help          this text\n\n"
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

static int parse_args(struct dp_app *app, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "pair", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:p:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			app->config_path = optarg;
			break;
		case 'p':
			if (app->n_pairs == DP_MAX_PAIRS) {
				fprintf(stderr, "moat-dp: at most %d --pair\n", DP_MAX_PAIRS);
				return -EINVAL;
			}
			if (parse_pair(optarg, &app->pairs[app->n_pairs])) {
				fprintf(stderr, "moat-dp: --pair %s: expected IN:OUT, two different port ids\n",
					optarg);
				return -EINVAL;
			}
			app->n_pairs++;
			break;
		case 's':
			app->socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
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

static int port_init(struct dp_app *app, uint16_t port)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	int err;

	if (!rte_eth_dev_is_valid_port(port)) {
		fprintf(stderr, "moat-dp: port %u does not exist (%u ports: check --vdev/-a)\n", port,
			rte_eth_dev_count_avail());
		return -ENODEV;
	}
	memset(&conf, 0, sizeof(conf));
	err = rte_eth_dev_info_get(port, &info);
	if (err)
		return err;
	err = rte_eth_dev_configure(port, 1, 1, &conf);
	if (!err)
		err = rte_eth_rx_queue_setup(port, 0, DP_RX_DESC, rte_eth_dev_socket_id(port), NULL,
					     app->pool);
	if (!err)
		err = rte_eth_tx_queue_setup(port, 0, DP_TX_DESC, rte_eth_dev_socket_id(port), NULL);
	if (!err)
		err = rte_eth_dev_start(port);
	if (!err)
		rte_eth_promiscuous_enable(port); /* a bump in the wire forwards every MAC */
	if (err)
		fprintf(stderr, "moat-dp: port %u (%s): setup failed: %s\n", port, info.driver_name,
			rte_strerror(-err));
	return err;
}

static uint64_t dp_now_ns(const struct dp_app *app)
{
	uint64_t tsc = rte_get_tsc_cycles();

	return (tsc / app->tsc_hz) * MOAT_NSEC_PER_SEC +
	       (tsc % app->tsc_hz) * MOAT_NSEC_PER_SEC / app->tsc_hz;
}

/* Resize the mbuf's only segment to len bytes; 0 or -ENOSPC. */
static int mbuf_set_len(struct rte_mbuf *m, uint32_t len)
{
	uint32_t cur = rte_pktmbuf_data_len(m);

	if (len > cur)
		return rte_pktmbuf_append(m, (uint16_t)(len - cur)) ? 0 : -ENOSPC;
	if (len < cur)
		return rte_pktmbuf_trim(m, (uint16_t)(cur - len));
	return 0;
}

static int write_reply(struct rte_mbuf *m, const struct moat_pkt *pkt, struct moat_reply *r)
{
	uint8_t *d;

	if (mbuf_set_len(m, moat_reply_len(pkt, r->tcp_len)))
		return -ENOSPC;
	d = rte_pktmbuf_mtod(m, uint8_t *);
	return moat_reply_write(d, d + rte_pktmbuf_data_len(m), pkt, r);
}

/*
 * RFC 5961 challenge ACK to the sender of pkt, as the other side would send it:
 * its next sequence number and what it has received.
 */
static int answer_challenge(struct rte_mbuf *m, const struct moat_pkt *pkt,
			    const struct moat_result *res)
{
	const struct moat_peer *other;
	struct moat_reply r;
	uint32_t ack;

	if (!res->flow)
		return -ENOENT;
	other = &res->flow->peer[(res->dir ^ 1) & 1];
	ack = (other->flags & MOAT_PEER_ACKED) ? other->ack : res->flow->peer[res->dir & 1].end;
	moat_ack_build(&r, pkt, other->end, ack, other->win);
	return write_reply(m, pkt, &r);
}

/* One frame: 1 forward, 0 answered in place (send back), -1 drop. */
static int process(struct dp_worker *w, struct rte_mbuf *m, uint8_t wscale)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	struct moat_result res;
	struct moat_reply reply;
	struct moat_pkt pkt;
	enum moat_reason r;

	if (m->nb_segs != 1 && rte_pktmbuf_linearize(m))
		r = MOAT_R_MALFORMED;
	else
		r = moat_be_run(&w->be, &w->eng, d, d + rte_pktmbuf_data_len(m), &pkt, &res);
	w->reasons[r]++;
	switch (moat_reason_verdict(r)) {
	case MOAT_PASS:
		return 1;
	case MOAT_TX:
		if (r == MOAT_R_SYN_COOKIE) {
			moat_synack_build(&reply, &pkt, &res.cookie, wscale);
			if (!write_reply(m, &pkt, &reply))
				return 0;
		} else if (!answer_challenge(m, &pkt, &res)) {
			return 0;
		}
		return -1;
	default:
		return -1;
	}
}

static void send_burst(struct dp_worker *w, uint16_t port, struct rte_mbuf **v, uint16_t n)
{
	uint16_t sent = n ? rte_eth_tx_burst(port, w->queue, v, n) : 0;

	if (sent < n) {
		w->tx_full += n - sent;
		rte_pktmbuf_free_bulk(v + sent, n - sent);
	}
}

/* Poll one direction of a pair: src -> dst, answers back out of src. */
static void poll_port(struct dp_app *app, struct dp_worker *w, uint16_t src, uint16_t dst)
{
	struct rte_mbuf *rx[DP_BURST], *fwd[DP_BURST], *back[DP_BURST];
	uint16_t n, i, nf = 0, nb = 0;

	n = rte_eth_rx_burst(src, w->queue, rx, DP_BURST);
	if (!n)
		return;
	w->rx += n;
	/* One clock read per burst: every packet in it arrived "now". */
	w->eng.now_ns = dp_now_ns(app);
	w->eng.ts_clock = (uint32_t)(w->eng.now_ns / 1000000);
	for (i = 0; i < n; i++) {
		int v;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(rx[i + 1], void *));
		v = process(w, rx[i], app->cfg.pol.synack_wscale);
		if (v > 0)
			fwd[nf++] = rx[i];
		else if (v == 0)
			back[nb++] = rx[i];
		else
			rte_pktmbuf_free(rx[i]);
	}
	w->fwd += nf;
	w->answered += nb;
	w->dropped += n - nf - nb;
	send_burst(w, dst, fwd, nf);
	send_burst(w, src, back, nb);
}

static void publish_states(struct dp_worker *w)
{
	u64 s[MOAT_TCPS_COUNT];
	int i;

	moat_be_flow_states(&w->be, s);
	for (i = 0; i < MOAT_TCPS_COUNT; i++)
		w->states[i] = s[i];
	w->states_wanted = 0;
}

static int worker_main(void *arg)
{
	struct dp_app *app = arg;
	struct dp_worker *w = &app->worker;
	int p;

	while (!force_quit) {
		for (p = 0; p < app->n_pairs; p++) {
			poll_port(app, w, app->pairs[p].out, app->pairs[p].in);
			poll_port(app, w, app->pairs[p].in, app->pairs[p].out);
		}
		if (w->states_wanted)
			publish_states(w);
	}
	return 0;
}

/* ---- control socket: JSON lines, answered by the main lcore ---- */

static json_object *reply_stats(struct dp_app *app)
{
	json_object *j = json_object_new_object(), *reasons = json_object_new_object();
	json_object *verdicts = json_object_new_object();
	uint64_t v[3] = { 0 };
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++) {
		uint64_t n = app->worker.reasons[r];

		json_object_object_add(reasons, moat_reason_name(r), json_object_new_int64((int64_t)n));
		v[moat_reason_verdict(r)] += n;
	}
	json_object_object_add(verdicts, "pass", json_object_new_int64((int64_t)v[MOAT_PASS]));
	json_object_object_add(verdicts, "drop", json_object_new_int64((int64_t)v[MOAT_DROP]));
	json_object_object_add(verdicts, "tx", json_object_new_int64((int64_t)v[MOAT_TX]));
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "mode", json_object_new_string("dpdk"));
	json_object_object_add(j, "reasons", reasons);
	json_object_object_add(j, "verdicts", verdicts);
	json_object_object_add(j, "rx", json_object_new_int64((int64_t)app->worker.rx));
	json_object_object_add(j, "forwarded", json_object_new_int64((int64_t)app->worker.fwd));
	json_object_object_add(j, "answered", json_object_new_int64((int64_t)app->worker.answered));
	json_object_object_add(j, "dropped", json_object_new_int64((int64_t)app->worker.dropped));
	json_object_object_add(j, "tx_full", json_object_new_int64((int64_t)app->worker.tx_full));
	return j;
}

static json_object *reply_flows(struct dp_app *app)
{
	json_object *j = json_object_new_object(), *states = json_object_new_object();
	int i;

	app->worker.states_wanted = 1;
	for (i = 0; i < 2000 && app->worker.states_wanted && !force_quit; i++)
		rte_delay_us_sleep(1000);
	if (app->worker.states_wanted) {
		json_object_put(states);
		json_object_object_add(j, "ok", json_object_new_boolean(0));
		json_object_object_add(j, "error", json_object_new_string("the worker did not answer"));
		return j;
	}
	for (i = 1; i < MOAT_TCPS_COUNT; i++)
		json_object_object_add(states, moat_tcp_state_name((u8)i),
				       json_object_new_int64((int64_t)app->worker.states[i]));
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "flows", states);
	json_object_object_add(j, "capacity",
			       json_object_new_int64((int64_t)stab_capacity(&app->worker.be.flows)));
	return j;
}

static void serve(struct dp_app *app, int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	json_object *req = NULL, *cmd, *out;
	const char *name = "";

	if (n > 0) {
		buf[n] = '\0';
		req = json_tokener_parse(buf);
	}
	if (req && json_object_object_get_ex(req, "cmd", &cmd))
		name = json_object_get_string(cmd);
	if (!strcmp(name, "stats")) {
		out = reply_stats(app);
	} else if (!strcmp(name, "flows")) {
		out = reply_flows(app);
	} else {
		out = json_object_new_object();
		json_object_object_add(out, "ok", json_object_new_boolean(0));
		json_object_object_add(out, "error", json_object_new_string("unknown command"));
	}
	dprintf(fd, "%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	json_object_put(req);
	close(fd);
}

static int open_socket(struct dp_app *app)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(app->socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, app->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(app->socket_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(app->socket_path, 0600) ||
	    listen(fd, 8)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void control_loop(struct dp_app *app)
{
	struct pollfd p = { .fd = app->listen_fd, .events = POLLIN };

	while (!force_quit) {
		if (poll(&p, 1, 200) > 0) {
			int c = accept4(app->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0)
				serve(app, c);
		}
	}
}

static void print_totals(struct dp_app *app)
{
	json_object *j = reply_stats(app);

	json_object_object_del(j, "ok");
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(j);
}

static int setup(struct dp_app *app)
{
	char err[MOAT_CONFIG_ERR_LEN];
	int p;

	if (moat_config_load(app->config_path, &app->cfg, err, sizeof(err))) {
		fprintf(stderr, "moat-dp: %s\n", err);
		return -EINVAL;
	}
	if (getrandom(&app->secrets, sizeof(app->secrets), 0) != sizeof(app->secrets))
		return -errno;
	app->pool = rte_pktmbuf_pool_create("moat_mbufs", DP_MBUFS, DP_MBUF_CACHE, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!app->pool) {
		fprintf(stderr, "moat-dp: cannot create the mbuf pool: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	for (p = 0; p < app->n_pairs; p++)
		if (port_init(app, app->pairs[p].in) || port_init(app, app->pairs[p].out))
			return -ENODEV;
	if (moat_be_init(&app->worker.be, &app->cfg, rte_rand()))
		return -ENOMEM;
	app->worker.eng.pol = &app->cfg.pol;
	app->worker.eng.sec = &app->secrets;
	app->worker.eng.be = &app->worker.be;
	app->tsc_hz = rte_get_tsc_hz();
	app->listen_fd = open_socket(app);
	if (app->listen_fd < 0) {
		fprintf(stderr, "moat-dp: %s: cannot listen: %s\n", app->socket_path,
			strerror(-app->listen_fd));
		return app->listen_fd;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct dp_app app = { .socket_path = "/run/moat/moat-dp.sock", .listen_fd = -1 };
	unsigned int lcore;
	int n, p, rc = 1;

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
	if (setup(&app))
		goto out;
	lcore = rte_get_next_lcore(-1, 1, 0);
	if (lcore >= RTE_MAX_LCORE) {
		fprintf(stderr, "moat-dp: no worker lcore: give EAL at least two (-l 0,1)\n");
		goto out;
	}
	app.worker.lcore = lcore;
	fprintf(stderr, "moat-dp: worker on lcore %u, %d port pair(s), control socket %s\n", lcore,
		app.n_pairs, app.socket_path);
	rte_eal_remote_launch(worker_main, &app, lcore);
	control_loop(&app);
	rte_eal_mp_wait_lcore();
	print_totals(&app);
	rc = 0;
out:
	for (p = 0; p < app.n_pairs; p++) {
		rte_eth_dev_stop(app.pairs[p].in);
		rte_eth_dev_stop(app.pairs[p].out);
	}
	if (app.listen_fd >= 0) {
		close(app.listen_fd);
		unlink(app.socket_path);
	}
	moat_be_free(&app.worker.be);
	moat_config_free(&app.cfg);
out_eal:
	rte_eal_cleanup();
	return rc;
}
