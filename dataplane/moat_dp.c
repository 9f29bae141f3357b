// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp: the inline dataplane. Transparent between port pairs: each worker
 * lcore polls its queue of every port, runs each frame through the core/
 * engine on its own tables (no locks: nothing else touches them), forwards what
 * passes to the paired port, answers SYN cookies and challenge ACKs out of the
 * port the packet came in on, and frees the rest.
 *
 * SYN proxy: a valid cookie ACK opens the connection to the server with the
 * client's ISN and options (the SYN is retransmitted until the server answers);
 * the client's ACK and any data that follow it wait in a small per-worker
 * table and are released, translated, when the server's SYN-ACK comes. From
 * then on every segment of the flow is translated (core/proxy.h).
 *
 * This version runs one worker; the dispatcher for drivers without RSS and RCU
 * policy updates follow (see the README).
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
#include "core/proxy.h"
#include "core/reply.h"

#define DP_BURST 32
#define DP_MAX_PAIRS 4
#define DP_RX_DESC 1024
#define DP_TX_DESC 1024
#define DP_MBUFS 8191
#define DP_MBUF_CACHE 256
#define DP_PENDING 1024	    /* handshakes the SYN proxy can have open at the server */
#define DP_PENDING_MBUFS 4  /* client segments held per handshake until the server answers */
#define DP_SYN_TRIES 4	    /* SYNs to the server (1 s, 2 s, 4 s apart) before giving up */
#define DP_SYN_MAX 128

struct dp_pair {
	uint16_t in;  /* inside port */
	uint16_t out; /* outside port */
};

/* A handshake the SYN proxy has open with a server. */
struct dp_pending {
	struct moat_flow *flow; /* NULL: free */
	uint64_t deadline_ns;	/* next SYN retransmission */
	uint16_t port;		/* where the SYN goes (the server's side) */
	uint16_t syn_len;
	uint8_t tries;
	uint8_t n;
	struct rte_mbuf *held[DP_PENDING_MBUFS];
	uint8_t syn[DP_SYN_MAX];
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
	volatile uint64_t proxy_syns, proxy_gave_up;
	struct dp_pending pending[DP_PENDING];
	uint16_t pending_next;
	uint64_t next_timer_ns;
} __rte_cache_aligned;

/* Frames leaving one port in this burst. */
struct dp_out {
	uint16_t n;
	struct rte_mbuf *v[DP_BURST * 2];
};

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
	/* To the client of a proxied flow, the server's numbers are in the client's view. */
	moat_ack_build(&r, pkt,
		       other->end + ((res->flow->flags & MOAT_FLOW_PROXY) && res->dir == 0 ?
					     res->flow->seq_delta :
					     0),
		       ack, other->win);
	return write_reply(m, pkt, &r);
}

static void out_push(struct dp_out *o, struct rte_mbuf *m)
{
	if (o->n < RTE_DIM(o->v))
		o->v[o->n++] = m;
	else
		rte_pktmbuf_free(m);
}

static struct dp_pending *pending_of(struct dp_worker *w, const struct moat_flow *f)
{
	struct dp_pending *p;

	if (!f || f->aux == 0 || f->aux > DP_PENDING)
		return NULL;
	p = &w->pending[f->aux - 1];
	return p->flow == f ? p : NULL;
}

static void pending_release(struct dp_pending *p)
{
	uint8_t i;

	for (i = 0; i < p->n; i++)
		rte_pktmbuf_free(p->held[i]);
	if (p->flow && p->flow->aux)
		p->flow->aux = 0;
	memset(p, 0, offsetof(struct dp_pending, syn));
}

static struct rte_mbuf *mbuf_from_bytes(struct rte_mempool *pool, const uint8_t *b, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	char *d;

	if (!m)
		return NULL;
	d = rte_pktmbuf_append(m, len);
	if (!d) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(d, b, len);
	return m;
}

/*
 * The client's cookie checked out: send the server our SYN, hold the client's
 * ACK until the server answers. 0, or -1 when the proxy has no room (dropped:
 * the client retransmits).
 */
static int proxy_open(struct dp_app *app, struct dp_worker *w, struct rte_mbuf *m,
		      const struct moat_pkt *pkt, const struct moat_result *res, uint16_t server_port,
		      struct dp_out *to_server)
{
	struct dp_pending *p = NULL;
	struct rte_mbuf *syn;
	uint16_t i;

	for (i = 0; i < DP_PENDING && !p; i++) {
		uint16_t k = (uint16_t)((w->pending_next + i) % DP_PENDING);

		if (!w->pending[k].flow) {
			p = &w->pending[k];
			w->pending_next = (uint16_t)(k + 1);
		}
	}
	if (!p || pkt->l4_off + 40 > DP_SYN_MAX)
		goto fail;
	p->syn_len = (uint16_t)moat_proxy_syn_build(p->syn, rte_pktmbuf_mtod(m, const uint8_t *),
						    pkt, &res->opts);
	syn = mbuf_from_bytes(app->pool, p->syn, p->syn_len);
	if (!syn)
		goto fail;
	p->flow = res->flow;
	p->port = server_port;
	p->tries = 1;
	p->deadline_ns = w->eng.now_ns + MOAT_NSEC_PER_SEC;
	p->held[p->n++] = m;
	res->flow->aux = (uint16_t)(p - w->pending + 1);
	out_push(to_server, syn);
	w->proxy_syns++;
	return 0;
fail:
	res->flow->state = MOAT_TCPS_CLOSED;
	return -1;
}

/* The server's SYN-ACK: the client's held segments go to it, translated. */
static void proxy_established(struct dp_worker *w, struct moat_flow *f, struct dp_out *to_server)
{
	struct dp_pending *p = pending_of(w, f);
	uint8_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++) {
		struct rte_mbuf *m = p->held[i];
		uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
		struct moat_pkt pkt;

		if (moat_parse(d, d + rte_pktmbuf_data_len(m), &pkt) != MOAT_PARSE_TCP) {
			rte_pktmbuf_free(m);
			continue;
		}
		moat_proxy_to_server_view(f, 0, &pkt);
		moat_proxy_rewrite(d, &pkt, f, 0);
		out_push(to_server, m);
	}
	p->n = 0;
	pending_release(p);
}

/* SYN retransmissions and abandoned handshakes, a few times a second. */
static void proxy_timers(struct dp_app *app, struct dp_worker *w, uint64_t now)
{
	uint16_t k;

	for (k = 0; k < DP_PENDING; k++) {
		struct dp_pending *p = &w->pending[k];
		struct rte_mbuf *syn;

		if (!p->flow)
			continue;
		if (p->flow->state != MOAT_TCPS_PROXY_SYN || p->flow->aux != k + 1) {
			pending_release(p);
			continue;
		}
		if (now < p->deadline_ns)
			continue;
		if (p->tries >= DP_SYN_TRIES) {
			p->flow->state = MOAT_TCPS_CLOSED;
			w->proxy_gave_up++;
			pending_release(p);
			continue;
		}
		syn = mbuf_from_bytes(app->pool, p->syn, p->syn_len);
		if (syn && !rte_eth_tx_burst(p->port, w->queue, &syn, 1))
			rte_pktmbuf_free(syn);
		p->deadline_ns = now + (MOAT_NSEC_PER_SEC << p->tries);
		p->tries++;
	}
}

/* A client segment while the server has not answered yet: held, or dropped. */
static void proxy_hold(struct dp_worker *w, struct rte_mbuf *m, const struct moat_result *res)
{
	struct dp_pending *p = pending_of(w, res->flow);

	if (p && p->n < DP_PENDING_MBUFS)
		p->held[p->n++] = m;
	else
		rte_pktmbuf_free(m);
}

/* Decide one frame from port src (paired with dst) and send it on its way. */
static void process(struct dp_app *app, struct dp_worker *w, struct rte_mbuf *m, uint16_t dst,
		    struct dp_out *fwd, struct dp_out *back)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
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
		if (r == MOAT_R_COOKIE_VALID && res.flow && res.flow->state == MOAT_TCPS_PROXY_SYN) {
			if (proxy_open(app, w, m, &pkt, &res, dst, fwd))
				break;
			return;
		}
		if (res.flow && res.flow->state == MOAT_TCPS_PROXY_SYN && res.dir == 0) {
			proxy_hold(w, m, &res);
			return;
		}
		if (res.flow)
			moat_proxy_rewrite(d, &pkt, res.flow, res.dir);
		out_push(fwd, m);
		return;
	case MOAT_TX:
		if (r == MOAT_R_SYN_COOKIE) {
			moat_synack_build(&reply, &pkt, &res.cookie, app->cfg.pol.synack_wscale);
			if (!write_reply(m, &pkt, &reply)) {
				out_push(back, m);
				return;
			}
		} else if (r == MOAT_R_PROXY_ACK) {
			/* The SYN-ACK goes no further: the client's own ACK answers it. */
			proxy_established(w, res.flow, back);
		} else if (!answer_challenge(m, &pkt, &res)) {
			out_push(back, m);
			return;
		}
		break;
	default:
		break;
	}
	rte_pktmbuf_free(m);
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
	struct rte_mbuf *rx[DP_BURST];
	struct dp_out fwd, back;
	uint16_t n, i;

	n = rte_eth_rx_burst(src, w->queue, rx, DP_BURST);
	if (!n)
		return;
	fwd.n = back.n = 0;
	w->rx += n;
	/* One clock read per burst: every packet in it arrived "now". */
	w->eng.now_ns = dp_now_ns(app);
	w->eng.ts_clock = (uint32_t)(w->eng.now_ns / 1000000);
	for (i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(rx[i + 1], void *));
		process(app, w, rx[i], dst, &fwd, &back);
	}
	w->fwd += fwd.n;
	w->answered += back.n;
	send_burst(w, dst, fwd.v, fwd.n);
	send_burst(w, src, back.v, back.n);
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
		uint64_t now;

		for (p = 0; p < app->n_pairs; p++) {
			poll_port(app, w, app->pairs[p].out, app->pairs[p].in);
			poll_port(app, w, app->pairs[p].in, app->pairs[p].out);
		}
		if (w->states_wanted)
			publish_states(w);
		now = dp_now_ns(app);
		if (now >= w->next_timer_ns) {
			proxy_timers(app, w, now);
			w->next_timer_ns = now + MOAT_NSEC_PER_SEC / 10;
		}
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
	json_object_object_add(j, "proxy_syns", json_object_new_int64((int64_t)app->worker.proxy_syns));
	json_object_object_add(j, "proxy_gave_up",
			       json_object_new_int64((int64_t)app->worker.proxy_gave_up));
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
	app->cfg.pol.syn_proxy = 1; /* inline: cookies open real connections to the servers */
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
