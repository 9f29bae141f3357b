// SPDX-License-Identifier: BSD-3-Clause
/*
 * EAL resources of moat-dp: the mbuf pool, the ports of the pairs, the way
 * frames reach the workers (RSS queues, or a dispatcher and rings), each
 * worker's tables, and the lcores they run on.
 *
 * With one worker it polls the ports itself. With more, on ports whose driver
 * has RSS for TCP over IPv4 and IPv6 and a queue per worker, each worker polls
 * its own RX queue of every port and sends on its own TX queue; the RSS key is
 * symmetric (0x6d5a repeated), so both directions of a flow hash to one queue,
 * one worker. Otherwise (net_pcap, net_af_packet and the other vdevs here) a
 * dispatcher lcore reads the ports, hashes each frame with core's symmetric
 * flow hash and hands it over a ring; workers send through a ring per port
 * that the dispatcher drains into the port's TX queue.
 */
/* rte_vect_get_max_simd_bitwidth, EAL's vector-width cap: experimental in DPDK 22.11. */
#define ALLOW_EXPERIMENTAL_API
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_vect.h>

#include "dataplane/dp.h"

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

/* The mbuf pool, then each pair's ports, set up for the workers' mode (decided here). */
int dp_ports_setup(struct dp_app *app)
{
	int p;

	app->pool = rte_pktmbuf_pool_create("moat_mbufs", DP_MBUFS, DP_MBUF_CACHE, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!app->pool) {
		fprintf(stderr, "moat-dp: cannot create the mbuf pool: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	for (p = 0; p < RTE_MAX_ETHPORTS; p++)
		app->peer[p] = DP_NO_PEER;
	app->dispatch = workers_need_dispatcher(app);
	for (p = 0; p < app->n_pairs; p++) {
		if (port_init(app, app->pairs[p].in) || port_init(app, app->pairs[p].out))
			return -ENODEV;
		app->peer[app->pairs[p].in] = app->pairs[p].out;
		app->peer[app->pairs[p].out] = app->pairs[p].in;
		app->outside[app->pairs[p].out] = true;
	}
	return 0;
}

void dp_ports_stop(struct dp_app *app)
{
	int p;

	for (p = 0; p < app->n_pairs; p++) {
		rte_eth_dev_stop(app->pairs[p].in);
		rte_eth_dev_stop(app->pairs[p].out);
	}
}

/* The dispatcher's rings: one to each worker, one from the workers to each port. */
static int rings_setup(struct dp_app *app)
{
	char name[RTE_RING_NAMESIZE];
	unsigned int k;
	int p;

	for (k = 0; k < app->n_workers; k++) {
		snprintf(name, sizeof(name), "moat_rx%u", k);
		app->rx_ring[k] = rte_ring_create(name, DP_RING_SIZE, rte_socket_id(),
						  RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!app->rx_ring[k])
			return -ENOMEM;
	}
	for (p = 0; p < 2 * app->n_pairs; p++) {
		uint16_t port = p & 1 ? app->pairs[p / 2].in : app->pairs[p / 2].out;

		snprintf(name, sizeof(name), "moat_tx%u", port);
		app->tx_ring[port] = rte_ring_create(name, DP_RING_SIZE, rte_socket_id(), RING_F_SC_DEQ);
		if (!app->tx_ring[port])
			return -ENOMEM;
	}
	return 0;
}

/* Each worker's tables and the workers' quiescent-state variable, after dp_ports_setup. */
int dp_workers_setup(struct dp_app *app)
{
	unsigned int k;

	app->qsv = rte_zmalloc("moat_qsbr", rte_rcu_qsbr_get_memsize(DP_MAX_WORKERS),
			       RTE_CACHE_LINE_SIZE);
	if (!app->qsv || rte_rcu_qsbr_init(app->qsv, DP_MAX_WORKERS))
		return -ENOMEM;
	if (dp_state_tables(app))
		return -ENOMEM;
	for (k = 0; k < app->n_workers; k++) {
		struct dp_worker *w = &app->workers[k];

		w->id = k;
		w->queue = app->dispatch ? 0 : (uint16_t)k; /* RSS: a queue of each port per worker */
		moat_bucket_init(&w->challenges, 0, DP_CHALLENGE_RATE / 10);
		/* DPDK's own cap on vector width (EAL --force-max-simd-bitwidth) holds here too. */
		moat_be_use_lanes(&w->be, rte_vect_get_max_simd_bitwidth());
		dp_live_wire(app, w);
	}
	return app->dispatch ? rings_setup(app) : 0;
}

void dp_workers_free(struct dp_app *app)
{
	unsigned int k;

	for (k = 0; k < app->n_workers; k++)
		moat_be_free(&app->workers[k].be);
}

/* Lcores after the main one: [dispatcher,] worker 0, worker 1, ... */
int dp_launch(struct dp_app *app)
{
	unsigned int need = app->n_workers + (app->dispatch ? 1 : 0), k, lcore = -1u;
	unsigned int lcores[DP_MAX_WORKERS + 1] = { 0 };
	lcore_function_t *worker_main = dp_worker_mode(app);

	for (k = 0; k < need; k++) {
		lcore = rte_get_next_lcore(lcore, 1, 0);
		if (lcore >= RTE_MAX_LCORE) {
			fprintf(stderr,
				"moat-dp: %u worker(s)%s need %u lcores besides the main one; EAL gave %u (-l/--lcores)\n",
				app->n_workers, app->dispatch ? " and a dispatcher" : "", need,
				rte_lcore_count() - 1);
			return -EINVAL;
		}
		lcores[k] = lcore;
	}
	k = 0;
	if (app->dispatch)
		rte_eal_remote_launch(dp_dispatcher_main, app, lcores[k++]);
	for (; k < need; k++) {
		struct dp_worker *w = &app->workers[k - (app->dispatch ? 1 : 0)];

		w->lcore = lcores[k];
		rte_eal_remote_launch(worker_main, w, w->lcore);
	}
	fprintf(stderr,
		"moat-dp: %u worker(s)%s, %d port pair(s), SYN cookies hashed in %s lanes, "
		"control socket %s\n",
		app->n_workers,
		app->dispatch ? " behind a dispatcher" : app->n_workers > 1 ? " on RSS queues" : "",
		app->n_pairs, moat_sipx_name(app->workers[0].be.sipx_impl), app->socket_path);
	return 0;
}
