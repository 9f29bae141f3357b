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
 * Workers: with one (--workers 1, the default) it polls the ports itself. With
 * more, on ports whose driver has RSS for TCP over IPv4 and IPv6 and a queue
 * per worker, each worker polls its own RX queue of every port and sends on its
 * own TX queue; the RSS key is symmetric (0x6d5a repeated), so both directions
 * of a flow hash to one queue, one worker. Otherwise (net_pcap, net_af_packet
 * and the other vdevs here) a dispatcher lcore reads the ports, hashes each
 * frame with core's symmetric flow hash and hands it over a ring; workers send
 * through a ring per port that the dispatcher drains into the port's TX queue.
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
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "control/config.h"
#include "control/events.h"
#include "flow/backend.h"
#include "control/notify.h"
#include "control/proto.h"
#include "control/secrets.h"
#include "flow/sigs.h"
#include "core/engine_types.h"
#include "core/limits.h"
#include "core/proxy.h"
#include "core/reply.h"

#define DP_BURST 32
#define DP_MAX_PAIRS 4
#define DP_MAX_WORKERS 8
#define DP_STREAM_IDLE_S 30 /* a signature stream with no data for this long is closed */
#define DP_RING_SIZE 4096
#define DP_NO_PEER 0xFFFF
#define DP_RX_DESC 1024
#define DP_TX_DESC 1024
#define DP_MBUFS 8191
#define DP_MBUF_CACHE 256
#define DP_PENDING 1024	    /* handshakes the SYN proxy can have open at the server */
#define DP_PENDING_MBUFS 4  /* client segments held per handshake until the server answers */
#define DP_SYN_TRIES 4	    /* SYNs to the server (1 s, 2 s, 4 s apart) before giving up */
#define DP_SYN_MAX 128
#define DP_CHALLENGE_RATE 1000 /* challenge ACKs per second per worker, as Linux's default */

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
	unsigned int id;
	uint16_t queue;
	struct moat_be be;
	struct moat_engine eng;
	volatile uint64_t reasons[MOAT_R_COUNT];
	volatile uint64_t rx, fwd, answered, dropped, tx_full;
	/* The control thread asks for flow counts; the worker answers between bursts. */
	volatile int states_wanted;
	volatile uint64_t states[MOAT_TCPS_COUNT];
	/* ... and for a listing: the control thread fills the filter and buffer first. */
	volatile int list_wanted;
	struct moat_flow_filter list_filter;
	struct moat_flow_entry *list_out;
	size_t list_max, list_n;
	u64 list_matched;
	volatile uint64_t proxy_syns, proxy_gave_up, challenge_limited;
	struct moat_bucket challenges; /* RFC 5961 10: challenge ACKs are rate-limited */
	/* Packets of each reason until the next sampled one (0: start a new count). */
	uint32_t ev_left[MOAT_R_COUNT];
	uint32_t ev_left_alert;
	struct moat_sig_matcher *sigm; /* this burst's, from app->sigs */
	volatile uint64_t sig_alerts;
	uint64_t next_sweep_ns;
	struct dp_pending pending[DP_PENDING];
	uint16_t pending_next;
	uint64_t next_timer_ns;
} __rte_cache_aligned;

/*
 * The signatures in force and each worker's matcher for them, replaced whole by
 * the control thread (RCU): workers load the pointer once per burst.
 */
struct dp_sigs {
	struct moat_sig_set *set;
	struct moat_sig_matcher *m[DP_MAX_WORKERS];
};

/* Hits of signatures no longer in force, by id, so counters survive a reload. */
struct dp_sig_total {
	unsigned int id;
	uint64_t hits;
};

/* Frames leaving one port in this burst. */
struct dp_out {
	uint16_t n;
	struct rte_mbuf *v[DP_BURST * 2];
};

/* Frames leaving every port in this burst, by port id. */
struct dp_outs {
	struct dp_out port[RTE_MAX_ETHPORTS];
};

struct dp_app {
	const char *config_path;
	const char *socket_path;
	struct moat_config cfg; /* as started: table sizes are fixed from it */
	/*
	 * The policy and lists the workers apply, replaced whole by the control
	 * thread: workers load the pointer once per burst and report a quiescent
	 * state after it; the old copy is freed once every worker has (RCU, QSBR).
	 */
	struct moat_config *live;
	struct rte_rcu_qsbr *qsv;
	uint64_t updates;
	struct moat_ttls ttls; /* list entries added with a ttl */
	/* Sampled events: workers enqueue, the control thread writes JSON lines. */
	struct rte_ring *ev_ring;
	FILE *events;
	struct moat_event_feed feed; /* `events` followers */
	/*
	 * Cookie secrets: workers read *secrets (loaded once per burst); a rotation
	 * writes the other buffer, swaps the pointer and waits out the workers (QSBR)
	 * before that buffer can be written again.
	 */
	struct moat_cookie_secrets secret_buf[2];
	struct moat_cookie_secrets *secrets;
	struct moat_secret_source secret_src;
	bool secrets_from_moatd; /* moatd pushes them: no rotation of our own */
	struct dp_sigs *sigs;
	struct dp_sig_total *sig_totals;
	size_t n_sig_totals;
	uint64_t sig_updates;
	bool outside[RTE_MAX_ETHPORTS]; /* frames arriving here go to the servers */
	uint64_t rotations;
	time_t started;
	struct dp_pair pairs[DP_MAX_PAIRS];
	int n_pairs;
	uint16_t peer[RTE_MAX_ETHPORTS]; /* the port each port forwards to */
	struct rte_mempool *pool;
	struct dp_worker workers[DP_MAX_WORKERS];
	unsigned int n_workers;
	bool dispatch; /* workers fed by the dispatcher over rings */
	bool force_dispatch; /* --dispatcher: even on ports with RSS */
	struct rte_ring *rx_ring[DP_MAX_WORKERS];
	struct rte_ring *tx_ring[RTE_MAX_ETHPORTS];
	volatile uint64_t dispatch_drops;
	uint64_t hash_seed;
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
		"  -w, --workers N     worker lcores (default 1). With more than one: on ports\n"
		"                      with RSS, a queue per worker (symmetric key: both\n"
		"                      directions of a flow on one worker), EAL needs N + 1\n"
		"                      lcores; else a dispatcher lcore hashes flows to the\n"
		"                      workers over rings, EAL needs N + 2 lcores\n"
		"  -D, --dispatcher    the dispatcher even on ports with RSS\n"
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
		{ "workers", required_argument, NULL, 'w' },
		{ "dispatcher", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long n;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:p:s:w:Dh", longopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			app->force_dispatch = true;
			break;
		case 'w':
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > DP_MAX_WORKERS) {
				fprintf(stderr, "moat-dp: --workers %s: expected 1..%d\n", optarg,
					DP_MAX_WORKERS);
				return -EINVAL;
			}
			app->n_workers = (unsigned int)n;
			break;
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

/*
 * Toeplitz with this key gives a flow's two directions the same hash: with
 * 0x6d5a repeated, swapping source and destination (address and port) leaves
 * the hash as it was.
 */
static uint8_t symmetric_rss_key[40] = {
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};
#define DP_RSS_TYPES (RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV6_TCP)

/*
 * Can port spread flows over n queues by our symmetric RSS? net_tap says it has
 * RSS, but only through rte_flow rules: without them the kernel picks its queue
 * by a hash of its own, which does not keep a flow's two directions together.
 */
static bool port_has_rss(uint16_t port, unsigned int n)
{
	struct rte_eth_dev_info info;

	return rte_eth_dev_is_valid_port(port) && !rte_eth_dev_info_get(port, &info) &&
	       strcmp(info.driver_name, "net_tap") && info.max_rx_queues >= n &&
	       info.max_tx_queues >= n &&
	       (info.flow_type_rss_offloads & DP_RSS_TYPES) == DP_RSS_TYPES &&
	       info.hash_key_size == sizeof(symmetric_rss_key);
}

/* RSS queues when every port of every pair has them; else the dispatcher. */
static bool workers_need_dispatcher(const struct dp_app *app)
{
	int p;

	if (app->n_workers < 2)
		return false;
	if (app->force_dispatch)
		return true;
	for (p = 0; p < app->n_pairs; p++)
		if (!port_has_rss(app->pairs[p].in, app->n_workers) ||
		    !port_has_rss(app->pairs[p].out, app->n_workers))
			return true;
	return false;
}

static int port_init(struct dp_app *app, uint16_t port)
{
	uint16_t nq = app->n_workers > 1 && !app->dispatch ? (uint16_t)app->n_workers : 1, q;
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
	if (nq > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = symmetric_rss_key;
		conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(symmetric_rss_key);
		conf.rx_adv_conf.rss_conf.rss_hf = DP_RSS_TYPES;
	}
	err = rte_eth_dev_configure(port, nq, nq, &conf);
	for (q = 0; !err && q < nq; q++) {
		err = rte_eth_rx_queue_setup(port, q, DP_RX_DESC, rte_eth_dev_socket_id(port), NULL,
					     app->pool);
		if (!err)
			err = rte_eth_tx_queue_setup(port, q, DP_TX_DESC, rte_eth_dev_socket_id(port),
						     NULL);
	}
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

/*
 * The reply over the frame, resized in place: the frame is one segment by now
 * (dp_parse() linearized it), so the lengths are set directly.
 */
static int write_reply(struct rte_mbuf *m, const struct moat_pkt *pkt, struct moat_reply *r)
{
	uint32_t len = moat_reply_len(pkt, r->tcp_len);
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);

	if (len > (uint32_t)rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m))
		return -ENOSPC;
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	return moat_reply_write(d, d + len, pkt, r);
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

static void pending_release(struct dp_worker *w, struct dp_pending *p)
{
	uint16_t mine = (uint16_t)(p - w->pending + 1);
	uint8_t i;

	for (i = 0; i < p->n; i++)
		rte_pktmbuf_free(p->held[i]);
	/* Only our own link: the flow's slot may hold another proxied flow by now. */
	if (p->flow && p->flow->aux == mine)
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
	pending_release(w, p);
}

static void dp_send(struct dp_app *app, struct dp_worker *w, uint16_t port, struct rte_mbuf **v,
		    uint16_t n);

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
			pending_release(w, p);
			continue;
		}
		if (now < p->deadline_ns)
			continue;
		if (p->tries >= DP_SYN_TRIES) {
			p->flow->state = MOAT_TCPS_CLOSED;
			w->proxy_gave_up++;
			pending_release(w, p);
			continue;
		}
		syn = mbuf_from_bytes(app->pool, p->syn, p->syn_len);
		if (syn)
			dp_send(app, w, p->port, &syn, 1);
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

/* One in event_sample packets of each drop/tx reason, handed to the control thread. */
static void dp_event(struct dp_app *app, struct dp_worker *w, const struct moat_pkt *pkt,
		     enum moat_reason r, const struct moat_sig_verdict *sv)
{
	uint32_t *left = sv->action == MOAT_SIG_ALERT ? &w->ev_left_alert : &w->ev_left[r];
	struct moat_event ev;

	/* A countdown, not a modulo: no division per dropped or answered packet. */
	if (!*left)
		*left = app->cfg.event_sample;
	if (--*left)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = w->eng.now_ns;
	ev.saddr = pkt->saddr;
	ev.daddr = pkt->daddr;
	ev.sport = pkt->sport;
	ev.dport = pkt->dport;
	ev.reason = (u8)r;
	ev.family = pkt->family;
	ev.ttl = pkt->ttl;
	ev.tcp_flags = pkt->tcp_flags;
	ev.ifindex = w->lcore; /* written as "lcore" */
	ev.cpu = (u32)rte_lcore_id();
	if (sv->action >= 0) {
		ev.sig_id = moat_sigs_id(moat_sig_matcher_set(w->sigm), sv->sig);
		ev.sig_action = (u8)(1 + sv->action);
	}
	rte_ring_mp_enqueue_elem(app->ev_ring, &ev, sizeof(ev)); /* full: the sample is lost */
}

/*
 * Decide one frame, parsed by dp_parse() (st, pkt) and keyed, and queue it where it goes:
 * on to the paired port, back, or nowhere.
 */
static void process(struct dp_app *app, struct dp_worker *w, struct rte_mbuf *m, int st,
		    struct moat_pkt *pkt, const struct moat_be_key *key, struct dp_outs *outs)
{
	uint16_t src = m->port, dst = app->peer[m->port];
	struct dp_out *fwd = &outs->port[dst], *back = &outs->port[src];
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	struct moat_sig_verdict sv = { .action = -1 };
	struct moat_result res;
	struct moat_reply reply;
	enum moat_reason r;

	if (st < 0) {
		r = MOAT_R_MALFORMED;
	} else {
		r = moat_be_run_parsed(&w->be, &w->eng, st, pkt, key, &res);
		if (w->sigm)
			r = (enum moat_reason)moat_sig_after_engine(w->sigm, d, pkt, &res, r,
								    app->outside[src], w->be.now_s,
								    &sv);
	}
	w->reasons[r]++;
	w->sig_alerts += sv.action == MOAT_SIG_ALERT;
	if (app->ev_ring && (moat_reason_verdict(r) != MOAT_PASS || sv.action >= 0))
		dp_event(app, w, pkt, r, &sv);
	switch (moat_reason_verdict(r)) {
	case MOAT_PASS:
		if (r == MOAT_R_COOKIE_VALID && res.flow && res.flow->state == MOAT_TCPS_PROXY_SYN) {
			if (proxy_open(app, w, m, pkt, &res, dst, fwd))
				break;
			return;
		}
		if (res.flow && res.flow->state == MOAT_TCPS_PROXY_SYN && res.dir == 0) {
			proxy_hold(w, m, &res);
			return;
		}
		if (res.flow)
			moat_proxy_rewrite(d, pkt, res.flow, res.dir);
		out_push(fwd, m);
		return;
	case MOAT_TX:
		if (r == MOAT_R_SYN_COOKIE) {
			moat_synack_build(&reply, pkt, &res.cookie, w->eng.pol->synack_wscale);
			if (!write_reply(m, pkt, &reply)) {
				out_push(back, m);
				return;
			}
		} else if (r == MOAT_R_PROXY_ACK) {
			/* The SYN-ACK goes no further: the client's own ACK answers it. */
			proxy_established(w, res.flow, back);
		} else if (!moat_bucket_take(&w->challenges, w->eng.now_ns, DP_CHALLENGE_RATE,
					     DP_CHALLENGE_RATE / 10)) {
			w->challenge_limited++;
		} else if (!answer_challenge(m, pkt, &res)) {
			out_push(back, m);
			return;
		}
		break;
	default:
		break;
	}
	w->dropped++;
	rte_pktmbuf_free(m);
}

/* Send on a port: its TX queue directly, or the port's ring the dispatcher drains. */
static void dp_send(struct dp_app *app, struct dp_worker *w, uint16_t port, struct rte_mbuf **v,
		    uint16_t n)
{
	uint16_t sent;

	if (!n)
		return;
	if (app->dispatch)
		sent = (uint16_t)rte_ring_mp_enqueue_burst(app->tx_ring[port], (void **)v, n, NULL);
	else
		sent = rte_eth_tx_burst(port, w->queue, v, n);
	if (sent < n) {
		w->tx_full += n - sent;
		rte_pktmbuf_free_bulk(v + sent, n - sent);
	}
}

/*
 * Parse a frame for process(), one segment first: -1 when it cannot be made
 * one. Each frame is parsed once, a burst ahead of the engine.
 */
static int dp_parse(struct rte_mbuf *m, struct moat_pkt *pkt)
{
	const uint8_t *d;

	if (m->nb_segs != 1 && rte_pktmbuf_linearize(m)) {
		memset(pkt, 0, sizeof(*pkt)); /* events read it */
		return -1;
	}
	d = rte_pktmbuf_mtod(m, const uint8_t *);
	return moat_parse(d, d + rte_pktmbuf_data_len(m), pkt);
}

/*
 * What the control thread may replace (policy, secrets, signatures): loaded
 * before each burst and before housekeeping, never held past the worker's
 * quiescent report, after which the old copies may be freed.
 */
static void load_live(struct dp_app *app, struct dp_worker *w)
{
	struct moat_config *live = __atomic_load_n(&app->live, __ATOMIC_ACQUIRE);
	struct dp_sigs *sg = __atomic_load_n(&app->sigs, __ATOMIC_ACQUIRE);

	w->eng.pol = &live->pol;
	w->be.cfg = live;
	w->eng.sec = __atomic_load_n(&app->secrets, __ATOMIC_ACQUIRE);
	w->sigm = sg ? sg->m[w->id] : NULL;
}

static void flush_out(struct dp_app *app, struct dp_worker *w, uint16_t port, struct dp_outs *outs)
{
	struct dp_out *o = &outs->port[port];

	if (!o->n)
		return;
	w->fwd += o->n;
	dp_send(app, w, port, o->v, o->n);
	o->n = 0;
}

/* A burst of frames, from any ports: decide each, then send per port. */
static void handle_burst(struct dp_app *app, struct dp_worker *w, struct rte_mbuf **rx, uint16_t n,
			 struct dp_outs *outs)
{
	struct moat_pkt pkts[DP_BURST];
	struct moat_be_key keys[DP_BURST];
	int st[DP_BURST];
	uint16_t i, p;

	w->rx += n;
	load_live(app, w);
	/* One clock read per burst: every packet in it arrived "now". */
	w->eng.now_ns = dp_now_ns(app);
	w->eng.ts_clock = (uint32_t)(w->eng.now_ns / 1000000);
	moat_be_set_clock(&w->be, w->eng.now_ns);
	/*
	 * Parse, key and start the flow-table loads of the whole burst before
	 * deciding any frame, each step a loop of its own: a step then reads what
	 * the one before stored long ago, not narrow stores still in flight (a
	 * wide read of those stalls until they land).
	 */
	for (i = 0; i < n; i++)
		st[i] = dp_parse(rx[i], &pkts[i]);
	for (i = 0; i < n; i++)
		if (st[i] == MOAT_PARSE_TCP)
			keys[i].swapped = moat_flow_key_make(&pkts[i], &keys[i].k);
	for (i = 0; i < n; i++)
		if (st[i] == MOAT_PARSE_TCP)
			stab_prefetch(&w->be.flows, &keys[i].k);
	for (i = 0; i < n; i++)
		process(app, w, rx[i], st[i], &pkts[i], st[i] == MOAT_PARSE_TCP ? &keys[i] : NULL,
			outs);
	/* Frames go back out of their own port or on to its peer: the pairs' ports only. */
	for (p = 0; p < app->n_pairs; p++) {
		flush_out(app, w, app->pairs[p].in, outs);
		flush_out(app, w, app->pairs[p].out, outs);
	}
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

static void worker_housekeeping(struct dp_app *app, struct dp_worker *w)
{
	uint64_t now;

	load_live(app, w);
	if (w->states_wanted)
		publish_states(w);
	if (w->list_wanted) {
		w->list_n = moat_be_flow_list(&w->be, &w->list_filter, w->list_out, w->list_max,
					      &w->list_matched);
		__atomic_store_n(&w->list_wanted, 0, __ATOMIC_RELEASE);
	}
	now = dp_now_ns(app);
	if (now >= w->next_sweep_ns) {
		/* Streams of flows gone quiet (or evicted) give their memory back. */
		moat_sig_matcher_sweep(w->sigm, (uint32_t)(now / MOAT_NSEC_PER_SEC), DP_STREAM_IDLE_S,
				       NULL, NULL);
		w->next_sweep_ns = now + MOAT_NSEC_PER_SEC;
	}
	if (now >= w->next_timer_ns) {
		proxy_timers(app, w, now);
		w->next_timer_ns = now + MOAT_NSEC_PER_SEC / 10;
	}
}

static int worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp_app *app = container_of(w, struct dp_app, workers[w->id]);
	static __thread struct dp_outs outs;
	struct rte_mbuf *rx[DP_BURST];
	uint16_t n;
	int p;

	rte_rcu_qsbr_thread_register(app->qsv, w->id);
	rte_rcu_qsbr_thread_online(app->qsv, w->id);
	while (!force_quit) {
		if (app->dispatch) {
			n = (uint16_t)rte_ring_sc_dequeue_burst(app->rx_ring[w->id], (void **)rx, DP_BURST,
								NULL);
			if (n)
				handle_burst(app, w, rx, n, &outs);
		} else {
			for (p = 0; p < app->n_pairs; p++) {
				n = rte_eth_rx_burst(app->pairs[p].out, w->queue, rx, DP_BURST);
				if (n)
					handle_burst(app, w, rx, n, &outs);
				n = rte_eth_rx_burst(app->pairs[p].in, w->queue, rx, DP_BURST);
				if (n)
					handle_burst(app, w, rx, n, &outs);
			}
		}
		worker_housekeeping(app, w);
		rte_rcu_qsbr_quiescent(app->qsv, w->id);
	}
	rte_rcu_qsbr_thread_offline(app->qsv, w->id);
	rte_rcu_qsbr_thread_unregister(app->qsv, w->id);
	return 0;
}

/* The worker a frame belongs to: both directions of a flow hash alike. */
static unsigned int dispatch_worker(const struct dp_app *app, struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	struct moat_pkt pkt;
	int st = moat_parse(d, d + rte_pktmbuf_data_len(m), &pkt);

	if (st != MOAT_PARSE_TCP && st != MOAT_PARSE_NOT_TCP && st != MOAT_PARSE_FRAGMENT)
		return 0;
	if (st != MOAT_PARSE_TCP)
		pkt.sport = pkt.dport = 0;
	return moat_flow_hash_sym(&pkt, app->hash_seed) % app->n_workers;
}

/* Reads every port, deals frames to workers, drains the workers' output rings. */
static int dispatcher_main(void *arg)
{
	struct dp_app *app = arg;
	struct rte_mbuf *rx[DP_BURST], *per[DP_MAX_WORKERS][DP_BURST], *tx[DP_BURST];
	uint16_t cnt[DP_MAX_WORKERS];
	int p, k;

	while (!force_quit) {
		for (p = 0; p < 2 * app->n_pairs; p++) {
			uint16_t port = p & 1 ? app->pairs[p / 2].in : app->pairs[p / 2].out;
			uint16_t n = rte_eth_rx_burst(port, 0, rx, DP_BURST), i, sent;
			unsigned int wk;

			memset(cnt, 0, sizeof(cnt));
			for (i = 0; i < n; i++) {
				wk = dispatch_worker(app, rx[i]);
				per[wk][cnt[wk]++] = rx[i];
			}
			for (wk = 0; wk < app->n_workers; wk++) {
				if (!cnt[wk])
					continue;
				sent = (uint16_t)rte_ring_sp_enqueue_burst(app->rx_ring[wk], (void **)per[wk],
									   cnt[wk], NULL);
				if (sent < cnt[wk]) {
					app->dispatch_drops += cnt[wk] - sent;
					rte_pktmbuf_free_bulk(per[wk] + sent, cnt[wk] - sent);
				}
			}
			n = (uint16_t)rte_ring_sc_dequeue_burst(app->tx_ring[port], (void **)tx, DP_BURST,
								NULL);
			sent = n ? rte_eth_tx_burst(port, 0, tx, n) : 0;
			for (k = sent; k < n; k++)
				rte_pktmbuf_free(tx[k]);
		}
	}
	return 0;
}

/* ---- control socket: JSON lines, answered by the main lcore ---- */

/* Sum of one counter over the workers. */
#define DP_SUM(app, field)                                                                         \
	({                                                                                         \
		uint64_t s_ = 0;                                                                   \
		unsigned int i_;                                                                   \
		for (i_ = 0; i_ < (app)->n_workers; i_++)                                          \
			s_ += (app)->workers[i_].field;                                            \
		s_;                                                                                \
	})

static json_object *sig_stats(struct dp_app *app);

static json_object *reply_stats(struct dp_app *app)
{
	json_object *j = json_object_new_object(), *reasons = json_object_new_object();
	json_object *verdicts = json_object_new_object(), *per = json_object_new_array();
	uint64_t v[3] = { 0 };
	unsigned int k;
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++) {
		uint64_t n = DP_SUM(app, reasons[r]);

		json_object_object_add(reasons, moat_reason_name(r), json_object_new_int64((int64_t)n));
		v[moat_reason_verdict(r)] += n;
	}
	for (k = 0; k < app->n_workers; k++) {
		json_object *w = json_object_new_object();

		json_object_object_add(w, "lcore", json_object_new_int((int)app->workers[k].lcore));
		json_object_object_add(w, "rx", json_object_new_int64((int64_t)app->workers[k].rx));
		json_object *wr = json_object_new_object();

		json_object_object_add(w, "flows",
				       json_object_new_int64((int64_t)app->workers[k].be.flows.count));
		json_object_object_add(w, "sources",
				       json_object_new_int64((int64_t)app->workers[k].be.sources.count));
		for (r = 0; r < MOAT_R_COUNT; r++)
			json_object_object_add(wr, moat_reason_name(r),
					       json_object_new_int64((int64_t)app->workers[k].reasons[r]));
		json_object_object_add(w, "reasons", wr);
		json_object_array_add(per, w);
	}
	json_object_object_add(verdicts, "pass", json_object_new_int64((int64_t)v[MOAT_PASS]));
	json_object_object_add(verdicts, "drop", json_object_new_int64((int64_t)v[MOAT_DROP]));
	json_object_object_add(verdicts, "tx", json_object_new_int64((int64_t)v[MOAT_TX]));
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "mode", json_object_new_string("dpdk"));
	json_object_object_add(j, "reasons", reasons);
	json_object_object_add(j, "verdicts", verdicts);
	json_object_object_add(j, "rx", json_object_new_int64((int64_t)DP_SUM(app, rx)));
	json_object_object_add(j, "sent", json_object_new_int64((int64_t)DP_SUM(app, fwd)));
	json_object_object_add(j, "dropped", json_object_new_int64((int64_t)DP_SUM(app, dropped)));
	json_object_object_add(j, "tx_full", json_object_new_int64((int64_t)DP_SUM(app, tx_full)));
	json_object_object_add(j, "dispatch_drops", json_object_new_int64((int64_t)app->dispatch_drops));
	json_object_object_add(j, "proxy_syns", json_object_new_int64((int64_t)DP_SUM(app, proxy_syns)));
	json_object_object_add(j, "proxy_gave_up",
			       json_object_new_int64((int64_t)DP_SUM(app, proxy_gave_up)));
	json_object_object_add(j, "challenge_limited",
			       json_object_new_int64((int64_t)DP_SUM(app, challenge_limited)));
	json_object_object_add(j, "workers", per);
	json_object_object_add(j, "secret_rotations", json_object_new_int64((int64_t)app->rotations));
	json_object_object_add(j, "signatures", sig_stats(app));
	json_object_object_add(j, "config_updates", json_object_new_int64((int64_t)app->updates));
	return j;
}

/* Ask every worker (flag at offset off) and wait, up to 2 s, until all have answered. */
static bool workers_answer(struct dp_app *app, size_t off)
{
	unsigned int k;
	int i;

	for (k = 0; k < app->n_workers; k++)
		__atomic_store_n((int *)((char *)&app->workers[k] + off), 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2000 && !force_quit; i++) {
		for (k = 0; k < app->n_workers &&
			    !__atomic_load_n((int *)((char *)&app->workers[k] + off), __ATOMIC_ACQUIRE);
		     k++)
			;
		if (k == app->n_workers)
			return true;
		rte_delay_us_sleep(1000);
	}
	return false;
}

static json_object *reply_error(const char *msg);

static int state_by_name(const char *name)
{
	int i;

	for (i = 1; i < MOAT_TCPS_COUNT; i++)
		if (!strcasecmp(moat_tcp_state_name((u8)i), name))
			return i;
	return -1;
}

static json_object *flow_json(const struct moat_flow_entry *e, unsigned int lcore)
{
	json_object *o = json_object_new_object();
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int af = e->family == 6 ? AF_INET6 : AF_INET;

	inet_ntop(af, e->orig.w, a, sizeof(a));
	inet_ntop(af, e->resp.w, b, sizeof(b));
	json_object_object_add(o, "src", json_object_new_string(a));
	json_object_object_add(o, "sport", json_object_new_int(e->orig_port));
	json_object_object_add(o, "dst", json_object_new_string(b));
	json_object_object_add(o, "dport", json_object_new_int(e->resp_port));
	json_object_object_add(o, "state", json_object_new_string(moat_tcp_state_name(e->state)));
	json_object_object_add(o, "idle_s", json_object_new_int64(e->idle_s));
	json_object_object_add(o, "lcore", json_object_new_int((int)lcore));
	return o;
}

/* flows {"list": true, ...}: the flows that pass the filter, from every worker. */
static json_object *flow_list(struct dp_app *app, json_object *req, json_object *j)
{
	json_object *arr;
	struct moat_flow_filter f;
	size_t limit, i;
	u64 matched = 0;
	unsigned int k;
	char err[256];

	if (moat_proto_flow_filter(req, state_by_name, &f, &limit, err, sizeof(err)))
		return reply_error(err);
	for (k = 0; k < app->n_workers; k++) {
		struct dp_worker *w = &app->workers[k];

		w->list_filter = f;
		w->list_max = limit;
		w->list_n = 0;
		w->list_out = calloc(limit ? limit : 1, sizeof(*w->list_out));
		if (!w->list_out)
			limit = 0;
	}
	if (!workers_answer(app, offsetof(struct dp_worker, list_wanted))) {
		/* A worker may still write its buffer: leave it (a rare leak beats a crash). */
		return reply_error("a worker did not answer");
	}
	arr = json_object_new_array();
	for (k = 0; k < app->n_workers; k++) {
		struct dp_worker *w = &app->workers[k];

		matched += w->list_matched;
		for (i = 0; i < w->list_n && json_object_array_length(arr) < limit; i++)
			json_object_array_add(arr, flow_json(&w->list_out[i], w->lcore));
		free(w->list_out);
		w->list_out = NULL;
	}
	json_object_object_add(j, "matched", json_object_new_int64((int64_t)matched));
	json_object_object_add(j, "list", arr);
	return j;
}

static json_object *reply_flows(struct dp_app *app, json_object *req)
{
	json_object *j = json_object_new_object(), *states = json_object_new_object(), *v;
	int i = workers_answer(app, offsetof(struct dp_worker, states_wanted)) ? 0 : 2000;

	if (i == 2000 || force_quit) {
		json_object_put(states);
		json_object_object_add(j, "ok", json_object_new_boolean(0));
		json_object_object_add(j, "error", json_object_new_string("a worker did not answer"));
		return j;
	}
	for (i = 1; i < MOAT_TCPS_COUNT; i++)
		json_object_object_add(states, moat_tcp_state_name((u8)i),
				       json_object_new_int64((int64_t)DP_SUM(app, states[i])));
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "flows", states);
	json_object_object_add(j, "capacity",
			       json_object_new_int64((int64_t)app->cfg.flow_table_size * app->n_workers));
	if (json_object_object_get_ex(req, "list", &v) && json_object_get_boolean(v)) {
		json_object *out = flow_list(app, req, j);

		if (out != j) {
			json_object_put(j);
			return out;
		}
	}
	return j;
}

/* Publish a new live config; the old one is freed once no worker can hold it. */
static void publish_config(struct dp_app *app, struct moat_config *next)
{
	struct moat_config *old = __atomic_exchange_n(&app->live, next, __ATOMIC_ACQ_REL);

	rte_rcu_qsbr_synchronize(app->qsv, RTE_QSBR_THRID_INVALID);
	moat_config_free(old);
	free(old);
	app->updates++;
}

static json_object *reply_error(const char *msg)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "ok", json_object_new_boolean(0));
	json_object_object_add(j, "error", json_object_new_string(msg));
	return j;
}

static json_object *reply_ok(struct dp_app *app)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "updates", json_object_new_int64((int64_t)app->updates));
	return j;
}

/* block/unblock/allow/unallow: a copy of the live config, changed, swapped in. */
static json_object *reply_list(struct dp_app *app, int cmd, json_object *req)
{
	struct moat_config *next = malloc(sizeof(*next));
	char err[256];

	if (!next || moat_config_clone(next, app->live)) {
		free(next);
		return reply_error("out of memory");
	}
	if (moat_ttl_valid(cmd, req, err, sizeof(err)) ||
	    moat_proto_apply_list(next, cmd, req, err, sizeof(err)) ||
	    moat_ttl_note(&app->ttls, cmd, req, (long long)(dp_now_ns(app) / 1000000), err,
			  sizeof(err))) {
		moat_config_free(next);
		free(next);
		return reply_error(err);
	}
	publish_config(app, next);
	return reply_ok(app);
}

/* reload: the config file again; a bad one is refused and the running policy stays. */
static int install_sigs(struct dp_app *app, struct moat_sig_set *set);

/*
 * The signatures of a reloaded config: the database moatd compiled and saved
 * ({"signatures_file": PATH}), or compiled here. NULL set when there are none.
 */
static int reload_sigs(struct dp_app *app, const struct moat_config *next, json_object *req,
		       struct moat_sig_set **set, char *err, size_t errlen)
{
	json_object *f;

	if (req && json_object_object_get_ex(req, "signatures_file", &f) &&
	    *json_object_get_string(f))
		return moat_sigs_load(json_object_get_string(f), set, err, errlen);
	return moat_sigs_compile(next, app->config_path, set, err, errlen);
}

static json_object *reply_reload(struct dp_app *app, json_object *req)
{
	struct moat_config *next = malloc(sizeof(*next));
	char err[MOAT_CONFIG_ERR_LEN];
	struct moat_sig_set *set = NULL;

	if (!next)
		return reply_error("out of memory");
	if (moat_config_load(app->config_path, next, err, sizeof(err))) {
		free(next);
		return reply_error(err);
	}
	if (reload_sigs(app, next, req, &set, err, sizeof(err))) {
		moat_config_free(next);
		free(next);
		return reply_error(err);
	}
	if (next->flow_table_size != app->cfg.flow_table_size ||
	    next->source_table_size != app->cfg.source_table_size) {
		moat_config_free(next);
		free(next);
		moat_sigs_free(set);
		return reply_error("tables: sizes are fixed at start; restart moat-dp to change them");
	}
	next->pol.syn_proxy = 1;
	if (strcmp(next->secret_file, app->cfg.secret_file)) {
		moat_config_free(next);
		free(next);
		moat_sigs_free(set);
		return reply_error("secret_file applies at start: restart moat-dp to change it");
	}
	moat_secrets_set_period(&app->secret_src, next->cookie_rotate_s, (uint64_t)time(NULL));
	app->ttls.n = 0; /* the file is the policy now */
	publish_config(app, next);
	if (install_sigs(app, set))
		return reply_error("signatures: out of memory for the workers' matchers (the old ones stay)");
	return reply_ok(app);
}

static void fold_sig_hits(struct dp_app *app, const struct dp_sigs *old)
{
	size_t i, k, n = moat_sigs_count(old->set);
	unsigned int w;

	for (i = 0; i < n; i++) {
		unsigned int id = moat_sigs_id(old->set, i);
		uint64_t hits = 0;

		for (w = 0; w < app->n_workers; w++)
			hits += moat_sig_matcher_hits(old->m[w])[i];
		for (k = 0; k < app->n_sig_totals && app->sig_totals[k].id != id; k++)
			;
		if (k == app->n_sig_totals) {
			struct dp_sig_total *v = realloc(app->sig_totals, (k + 1) * sizeof(*v));

			if (!v)
				continue;
			app->sig_totals = v;
			app->sig_totals[app->n_sig_totals++] = (struct dp_sig_total){ .id = id };
		}
		app->sig_totals[k].hits += hits;
	}
}

static void free_sigs(struct dp_sigs *sg)
{
	unsigned int w;

	if (!sg)
		return;
	for (w = 0; w < DP_MAX_WORKERS; w++)
		moat_sig_matcher_free(sg->m[w]);
	moat_sigs_free(sg->set);
	free(sg);
}

/*
 * Swap in a compiled set (NULL: none), each worker with its own scratch and
 * streams; the old one is freed once no worker can hold it. Streams in progress
 * start over with the new set. Takes set; 0 or -ENOMEM (set freed).
 */
static int install_sigs(struct dp_app *app, struct moat_sig_set *set)
{
	struct dp_sigs *sg = NULL, *old;
	unsigned int w;

	if (set) {
		sg = calloc(1, sizeof(*sg));
		if (!sg) {
			moat_sigs_free(set);
			return -ENOMEM;
		}
		sg->set = set;
		for (w = 0; w < app->n_workers; w++)
			if (!(sg->m[w] = moat_sig_matcher_new(set))) {
				free_sigs(sg);
				return -ENOMEM;
			}
	}
	old = __atomic_exchange_n(&app->sigs, sg, __ATOMIC_ACQ_REL);
	if (app->qsv)
		rte_rcu_qsbr_synchronize(app->qsv, RTE_QSBR_THRID_INVALID);
	if (old)
		fold_sig_hits(app, old);
	free_sigs(old);
	app->sig_updates++;
	return 0;
}

/* signatures: a database moatd compiled ({"file": PATH}), swapped in whole. */
static json_object *reply_signatures(struct dp_app *app, json_object *req)
{
	struct moat_sig_set *set = NULL;
	json_object *f, *j;
	char err[512];

	if (!json_object_object_get_ex(req, "file", &f))
		return reply_error("signatures: expected \"file\": a database moatd saved");
	if (*json_object_get_string(f) &&
	    moat_sigs_load(json_object_get_string(f), &set, err, sizeof(err)))
		return reply_error(err);
	if (install_sigs(app, set))
		return reply_error("signatures: out of memory for the workers' matchers");
	j = reply_ok(app);
	json_object_object_add(j, "signatures", json_object_new_int((int)moat_sigs_count(set)));
	return j;
}

static json_object *sig_stats(struct dp_app *app)
{
	json_object *j = json_object_new_object(), *arr = json_object_new_array();
	const struct dp_sigs *sg = app->sigs;
	struct moat_sig_counts c, sum = { 0 };
	size_t i, k, n = moat_sigs_count(sg ? sg->set : NULL);
	unsigned int w;

	for (i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		unsigned int id = moat_sigs_id(sg->set, i);
		uint64_t hits = 0;

		for (w = 0; w < app->n_workers; w++)
			hits += moat_sig_matcher_hits(sg->m[w])[i];
		for (k = 0; k < app->n_sig_totals; k++)
			if (app->sig_totals[k].id == id)
				hits += app->sig_totals[k].hits;
		json_object_object_add(o, "id", json_object_new_int64(id));
		json_object_object_add(o, "action", json_object_new_string(
			moat_sigs_action(sg->set, i) == MOAT_SIG_DROP ? "drop" : "alert"));
		json_object_object_add(o, "hits", json_object_new_int64((int64_t)hits));
		json_object_object_add(o, "msg", json_object_new_string(moat_sigs_msg(sg->set, i)));
		json_object_array_add(arr, o);
	}
	for (w = 0; sg && w < app->n_workers; w++) {
		moat_sig_matcher_counts(sg->m[w], &c);
		sum.streams_open += c.streams_open;
		sum.streams_refused += c.streams_refused;
		sum.out_of_order += c.out_of_order;
	}
	json_object_object_add(j, "loaded", json_object_new_int((int)n));
	json_object_object_add(j, "stream_memory_per_worker",
			       json_object_new_int64((int64_t)moat_sigs_stream_memory(sg ? sg->set : NULL)));
	json_object_object_add(j, "updates", json_object_new_int64((int64_t)app->sig_updates));
	json_object_object_add(j, "alerts", json_object_new_int64((int64_t)DP_SUM(app, sig_alerts)));
	json_object_object_add(j, "streams_open", json_object_new_int64((int64_t)sum.streams_open));
	json_object_object_add(j, "streams_refused", json_object_new_int64((int64_t)sum.streams_refused));
	json_object_object_add(j, "out_of_order", json_object_new_int64((int64_t)sum.out_of_order));
	json_object_object_add(j, "hits", arr);
	return j;
}

/* limits: shown, or changed on a copy of the live config swapped in. */
static json_object *reply_limits(struct dp_app *app, json_object *req)
{
	struct moat_config *next;
	json_object *j;
	char err[256];

	if (json_object_object_get_ex(req, "set", NULL)) {
		next = malloc(sizeof(*next));
		if (!next || moat_config_clone(next, app->live)) {
			free(next);
			return reply_error("out of memory");
		}
		if (moat_proto_apply_limits(next, req, err, sizeof(err))) {
			moat_config_free(next);
			free(next);
			return reply_error(err);
		}
		publish_config(app, next);
	}
	j = reply_ok(app);
	json_object_object_add(j, "limits", moat_proto_limits_json(app->live));
	return j;
}

/* Swap in new secrets: the old buffer is reused only after every worker let go of it. */
static void install_secrets(struct dp_app *app, const struct moat_cookie_secrets *s)
{
	struct moat_cookie_secrets *spare =
		app->secrets == &app->secret_buf[0] ? &app->secret_buf[1] : &app->secret_buf[0];

	*spare = *s;
	__atomic_store_n(&app->secrets, spare, __ATOMIC_RELEASE);
	rte_rcu_qsbr_synchronize(app->qsv, RTE_QSBR_THRID_INVALID);
	app->rotations++;
}

static int hex_key(json_object *req, const char *name, struct moat_siphash_key *k)
{
	json_object *v;
	unsigned long long a, b;
	char extra;

	if (!json_object_object_get_ex(req, name, &v) ||
	    sscanf(json_object_get_string(v), "%16llx%16llx%c", &a, &b, &extra) != 2)
		return -EINVAL;
	k->k0 = a;
	k->k1 = b;
	return 0;
}

/* secrets: moatd owns them from now on ({"cur": 32 hex, "prev": 32 hex}). */
static json_object *reply_secrets(struct dp_app *app, json_object *req)
{
	struct moat_cookie_secrets s;

	if (hex_key(req, "cur", &s.cur) || hex_key(req, "prev", &s.prev))
		return reply_error("secrets: expected \"cur\" and \"prev\", 32 hex digits each");
	if (memcmp(&s, app->secrets, sizeof(s)))
		install_secrets(app, &s);
	app->secrets_from_moatd = true;
	return reply_ok(app);
}

static json_object *reply_status(struct dp_app *app)
{
	json_object *j = reply_ok(app), *pairs = json_object_new_array();
	char buf[16];
	int p;

	for (p = 0; p < app->n_pairs; p++) {
		snprintf(buf, sizeof(buf), "%u:%u", app->pairs[p].in, app->pairs[p].out);
		json_object_array_add(pairs, json_object_new_string(buf));
	}
	json_object_object_add(j, "version", json_object_new_string(MOAT_VERSION));
	json_object_object_add(j, "mode", json_object_new_string("dpdk"));
	json_object_object_add(j, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(j, "config", json_object_new_string(app->config_path));
	json_object_object_add(j, "pairs", pairs);
	json_object_object_add(j, "workers", json_object_new_int((int)app->n_workers));
	json_object_object_add(j, "dispatcher", json_object_new_boolean(app->dispatch));
	json_object_object_add(j, "secrets", json_object_new_string(
		app->secrets_from_moatd ? "moatd" : app->secret_src.fleet ? "secret_file" : "random"));
	json_object_object_add(j, "uptime_s", json_object_new_int64((int64_t)(time(NULL) - app->started)));
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
	if (!strcmp(name, "events")) {
		json_object *f = NULL;

		json_object_object_get_ex(req, "follow", &f);
		moat_feed_subscribe(&app->feed, fd, f && json_object_get_boolean(f));
		json_object_put(req);
		return; /* the feed owns fd now */
	}
	if (!strcmp(name, "stats")) {
		out = reply_stats(app);
	} else if (!strcmp(name, "status")) {
		out = reply_status(app);
	} else if (!strcmp(name, "limits")) {
		out = reply_limits(app, req);
	} else if (!strcmp(name, "secrets")) {
		out = reply_secrets(app, req);
	} else if (!strcmp(name, "signatures")) {
		out = reply_signatures(app, req);
	} else if (!strcmp(name, "flows")) {
		out = reply_flows(app, req);
	} else if (!strcmp(name, "reload")) {
		out = reply_reload(app, req);
	} else if (moat_cmd_lookup(name) >= MOAT_CMD_BLOCK && moat_cmd_lookup(name) <= MOAT_CMD_UNALLOW) {
		out = reply_list(app, moat_cmd_lookup(name), req);
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

/* Entries whose ttl ran out leave the live lists (a new copy, swapped in). */
static void expire_ttls(struct dp_app *app)
{
	long long now = (long long)(dp_now_ns(app) / 1000000);
	struct moat_config *next;
	unsigned int i;

	for (i = 0; i < app->ttls.n && app->ttls.v[i].expires > now; i++)
		;
	if (i == app->ttls.n)
		return;
	next = malloc(sizeof(*next));
	if (!next || moat_config_clone(next, app->live)) {
		free(next);
		return;
	}
	moat_ttl_expire(&app->ttls, next, now);
	publish_config(app, next);
}

static void drain_events(struct dp_app *app)
{
	struct moat_event ev;

	while (app->ev_ring && !rte_ring_sc_dequeue_elem(app->ev_ring, &ev, sizeof(ev))) {
		char *line = moat_event_format(&ev, app->cfg.event_sample, "lcore");

		if (!line)
			continue;
		if (app->events) {
			fputs(line, app->events);
			fflush(app->events);
		}
		moat_feed_publish(&app->feed, line);
		free(line);
	}
}

/* Our own rotation, unless moatd hands us its secrets. */
static void rotate_secrets(struct dp_app *app)
{
	struct moat_cookie_secrets s = *app->secrets;

	if (app->secrets_from_moatd)
		return;
	if (moat_secrets_update(&app->secret_src, (uint64_t)time(NULL), &s) == 1)
		install_secrets(app, &s);
}

static void control_loop(struct dp_app *app)
{
	struct pollfd p = { .fd = app->listen_fd, .events = POLLIN };

	while (!force_quit) {
		expire_ttls(app);
		drain_events(app);
		rotate_secrets(app);
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

static int setup_workers(struct dp_app *app)
{
	char name[RTE_RING_NAMESIZE];
	unsigned int k;
	int p;

	app->hash_seed = rte_rand();
	/* app->dispatch was decided before the ports were set up (workers_need_dispatcher). */
	for (k = 0; k < app->n_workers; k++) {
		struct dp_worker *w = &app->workers[k];

		w->id = k;
		w->queue = app->dispatch ? 0 : (uint16_t)k; /* RSS: a queue of each port per worker */
		moat_bucket_init(&w->challenges, 0, DP_CHALLENGE_RATE / 10);
		if (moat_be_init(&w->be, &app->cfg, rte_rand()))
			return -ENOMEM;
		w->eng.pol = &app->cfg.pol;
		w->eng.sec = app->secrets;
		w->eng.be = &w->be;
		if (app->dispatch) {
			snprintf(name, sizeof(name), "moat_rx%u", k);
			app->rx_ring[k] = rte_ring_create(name, DP_RING_SIZE, rte_socket_id(),
							  RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!app->rx_ring[k])
				return -ENOMEM;
		}
	}
	for (p = 0; app->dispatch && p < 2 * app->n_pairs; p++) {
		uint16_t port = p & 1 ? app->pairs[p / 2].in : app->pairs[p / 2].out;

		snprintf(name, sizeof(name), "moat_tx%u", port);
		app->tx_ring[port] = rte_ring_create(name, DP_RING_SIZE, rte_socket_id(), RING_F_SC_DEQ);
		if (!app->tx_ring[port])
			return -ENOMEM;
	}
	return 0;
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
	app->live = malloc(sizeof(*app->live));
	if (!app->live || moat_config_clone(app->live, &app->cfg))
		return -ENOMEM;
	/* Sampled events feed `events` followers (moatd's top) even with no log file. */
	if (app->cfg.event_sample) {
		if (app->cfg.events[0])
			app->events = strcmp(app->cfg.events, "-") ? fopen(app->cfg.events, "a") : stdout;
		app->ev_ring = rte_ring_create_elem("moat_events", sizeof(struct moat_event), 4096,
						    rte_socket_id(), RING_F_SC_DEQ);
		if ((app->cfg.events[0] && !app->events) || !app->ev_ring) {
			fprintf(stderr, "moat-dp: %s: cannot open the event log: %s\n", app->cfg.events,
				strerror(errno));
			return -EIO;
		}
	}
	app->qsv = rte_zmalloc("moat_qsbr", rte_rcu_qsbr_get_memsize(DP_MAX_WORKERS), RTE_CACHE_LINE_SIZE);
	if (!app->qsv || rte_rcu_qsbr_init(app->qsv, DP_MAX_WORKERS))
		return -ENOMEM;
	if (moat_secrets_open(&app->secret_src, app->cfg.secret_file, app->cfg.cookie_rotate_s, err,
			      sizeof(err))) {
		fprintf(stderr, "moat-dp: %s: key 'secret_file': %s\n", app->config_path, err);
		return -EINVAL;
	}
	app->secrets = &app->secret_buf[0];
	if (moat_secrets_update(&app->secret_src, (uint64_t)time(NULL), app->secrets) < 0)
		return -EIO;
	app->started = time(NULL);
	app->pool = rte_pktmbuf_pool_create("moat_mbufs", DP_MBUFS, DP_MBUF_CACHE, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!app->pool) {
		fprintf(stderr, "moat-dp: cannot create the mbuf pool: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	for (p = 0; p < RTE_MAX_ETHPORTS; p++)
		app->peer[p] = DP_NO_PEER;
	for (p = 0; p < app->n_pairs; p++) {
		if (p == 0)
			app->dispatch = workers_need_dispatcher(app);
		if (port_init(app, app->pairs[p].in) || port_init(app, app->pairs[p].out))
			return -ENODEV;
		app->peer[app->pairs[p].in] = app->pairs[p].out;
		app->peer[app->pairs[p].out] = app->pairs[p].in;
		app->outside[app->pairs[p].out] = true;
	}
	if (setup_workers(app))
		return -ENOMEM;
	{
		struct moat_sig_set *set;

		if (moat_sigs_compile(&app->cfg, app->config_path, &set, err, sizeof(err))) {
			fprintf(stderr, "moat-dp: %s\n", err);
			return -EINVAL;
		}
		if (install_sigs(app, set))
			return -ENOMEM;
		if (set)
			fprintf(stderr, "moat-dp: %zu signature(s) compiled\n", moat_sigs_count(set));
	}
	app->tsc_hz = rte_get_tsc_hz();
	app->listen_fd = moat_ctl_listen(app->socket_path, 0);
	if (app->listen_fd < 0) {
		fprintf(stderr, "moat-dp: %s: cannot listen: %s\n", app->socket_path,
			strerror(-app->listen_fd));
		return app->listen_fd;
	}
	return 0;
}

/* Lcores after the main one: [dispatcher,] worker 0, worker 1, ... */
static int launch(struct dp_app *app)
{
	unsigned int need = app->n_workers + (app->dispatch ? 1 : 0), k, lcore = -1u;
	unsigned int lcores[DP_MAX_WORKERS + 1];

	for (k = 0; k < need; k++) {
		lcore = rte_get_next_lcore(lcore, 1, 0);
		if (lcore >= RTE_MAX_LCORE) {
			fprintf(stderr, "moat-dp: %u worker(s)%s need %u lcores besides the main one; EAL gave %u (-l/--lcores)\n",
				app->n_workers, app->dispatch ? " and a dispatcher" : "", need,
				rte_lcore_count() - 1);
			return -EINVAL;
		}
		lcores[k] = lcore;
	}
	k = 0;
	if (app->dispatch)
		rte_eal_remote_launch(dispatcher_main, app, lcores[k++]);
	for (; k < need; k++) {
		struct dp_worker *w = &app->workers[k - (app->dispatch ? 1 : 0)];

		w->lcore = lcores[k];
		rte_eal_remote_launch(worker_main, w, w->lcore);
	}
	fprintf(stderr, "moat-dp: %u worker(s)%s, %d port pair(s), control socket %s\n", app->n_workers,
		app->dispatch ? " behind a dispatcher" : app->n_workers > 1 ? " on RSS queues" : "",
		app->n_pairs, app->socket_path);
	return 0;
}

int main(int argc, char **argv)
{
	static struct dp_app app = { .socket_path = "/run/moat/moat-dp.sock", .listen_fd = -1,
				     .n_workers = 1 };
	unsigned int k;
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
	signal(SIGPIPE, SIG_IGN); /* a control client gone before its answer must not end us */
	if (setup(&app))
		goto out;
	if (launch(&app))
		goto out;
	moat_notify("READY=1\nSTATUS=forwarding");
	control_loop(&app);
	moat_notify("STOPPING=1");
	rte_eal_mp_wait_lcore();
	drain_events(&app);
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
	for (k = 0; k < app.n_workers; k++)
		moat_be_free(&app.workers[k].be);
	free_sigs(app.sigs);
	free(app.sig_totals);
	moat_feed_free(&app.feed);
	moat_config_free(&app.cfg);
out_eal:
	rte_eal_cleanup();
	return rc;
}
