/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * moat-dp's private header: the application and worker state, and what its
 * files share. Per-packet code (worker.c, proxy.c) sees core/, the packet
 * library (flow/) and DPDK only; the control thread's state (config, lists
 * with ttls, the event feed, the secret source) is ctl.c's, behind struct
 * dp_ctl.
 *
 *   main.c    arguments, start and stop
 *   ports.c   EAL resources: mbuf pool, ports (RSS or not), rings, worker
 *             tables, lcores
 *   worker.c  the burst loop (RSS queues or behind the dispatcher, chosen at
 *             start) and the dispatcher
 *   proxy.c   answers written over frames, the SYN proxy's held handshakes
 *   live.c    what the control thread swaps under the workers (RCU): policy,
 *             secrets, signatures
 *   ctl.c     the control socket's handlers on the shared command table, the
 *             control thread's loop
 *   capture.c moatctl capture: the workers' copies, streamed to the client
 *   state.c   the workers' tables in the flow state file a restarted moat-dp adopts
 *   report.c  what it reports (stats, status, flows); telemetry.c and
 *             metrics.c the same through DPDK telemetry and Prometheus
 */
#ifndef MOAT_DATAPLANE_DP_H
#define MOAT_DATAPLANE_DP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_mbuf.h>

#include "core/capture.h"
#include "core/cookie.h"
#include "core/engine_types.h"
#include "core/limits.h"
#include "flow/backend.h"

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
/* A pending slot's number (1-based) lives in the 12 bits of struct moat_flow's aux. */
_Static_assert(DP_PENDING < 4096, "a pending slot fits struct moat_flow's aux");

struct dp_app;
struct dp_state_hdr;
struct dp_worker;
struct dp_ctl;
struct dp_lists;
struct moat_config;
struct moat_reply;
struct moat_sig_set;
struct moat_sig_matcher;

/* Send n frames on a port (its TX queue, or its ring): chosen once at start. */
typedef void dp_send_fn(struct dp_app *app, struct dp_worker *w, uint16_t port,
			struct rte_mbuf **v, uint16_t n);

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
	dp_send_fn *send;
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
	/* moatctl capture: packets until the next sampled one, copies the ring refused. */
	uint32_t cap_left;
	volatile uint64_t cap_lost;
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

/*
 * How moat-dp ends: SIGINT/SIGTERM stop it for good (its flow state file is
 * removed); the control command `restart` ends it for a new process to take
 * over, exiting MOAT_DP_EXIT_RESTART with the file left for that one to adopt
 * (FRESH: marked not to be adopted).
 */
enum dp_restart { DP_RESTART_NONE, DP_RESTART_KEEP, DP_RESTART_FRESH };

/* The workers' tables in a file a later moat-dp adopts (state.c). */
struct dp_state_info {
	char path[256]; /* "": the tables are the process's own */
	char note[256]; /* what became of the file found at start, for status */
	char hdr_boot_id[40];
	int fd;
	void *map;
	size_t map_len;
	struct dp_state_hdr *hdr;
	bool adopted;
	/* Adopted at start: live flows, proxied ones, handshakes held at a server (dropped). */
	uint64_t adopted_flows, adopted_proxied, pending_dropped;
	/* A file of this layout not adopted: its proxied connections, its others. */
	uint64_t lost_proxied, left_to_pickup;
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
	/* From the command line. */
	const char *config_path;
	const char *socket_path;
	bool force_dispatch; /* --dispatcher: even on ports with RSS */
	/* The control thread's own (ctl.c); cfg is its config as started. */
	struct dp_ctl *ctl;
	const struct moat_config *cfg; /* table sizes are fixed from it */
	/*
	 * The policy and lists the workers apply, replaced whole by the control
	 * thread: workers load the pointer once per burst and report a quiescent
	 * state after it; the old copy is freed once every worker has (RCU, QSBR).
	 */
	struct moat_config *live;
	struct dp_lists *lists; /* live's lists as LPM tables (lists.h), or NULL */
	struct rte_rcu_qsbr *qsv;
	uint64_t updates;
	/* Sampled events: workers enqueue, the control thread writes JSON lines. */
	struct rte_ring *ev_ring;
	uint32_t event_sample;
	/*
	 * Cookie secrets: workers read *secrets (loaded once per burst); a rotation
	 * writes the other buffer, swaps the pointer and waits out the workers (QSBR)
	 * before that buffer can be written again.
	 */
	struct moat_cookie_secrets secret_buf[2];
	struct moat_cookie_secrets *secrets;
	uint64_t rotations;
	struct dp_sigs *sigs;
	struct dp_sig_total *sig_totals;
	size_t n_sig_totals;
	uint64_t sig_updates;
	/*
	 * moatctl capture (capture.c): the control thread writes the filter, then
	 * on; workers test on per packet and copy what it wants into cap_ring.
	 * A line of its own: workers read it on every packet.
	 */
	struct moat_capture_cfg capture __rte_cache_aligned;
	struct rte_ring *cap_ring;
	bool outside[RTE_MAX_ETHPORTS] __rte_cache_aligned; /* frames arriving here go to the servers */
	struct dp_pair pairs[DP_MAX_PAIRS];
	int n_pairs;
	uint16_t peer[RTE_MAX_ETHPORTS]; /* the port each port forwards to */
	struct rte_mempool *pool;
	struct dp_worker workers[DP_MAX_WORKERS];
	unsigned int n_workers;
	bool dispatch; /* workers fed by the dispatcher over rings */
	struct rte_ring *rx_ring[DP_MAX_WORKERS];
	struct rte_ring *tx_ring[RTE_MAX_ETHPORTS];
	volatile uint64_t dispatch_drops;
	uint64_t hash_seed;
	uint64_t tsc_hz;
	/*
	 * Unix time minus dp_now_ns(), anchored again by the control thread every
	 * pass (a clock step or the TSC's drift reaches the workers within 200 ms):
	 * cookie slots count Unix time, as every node of a fleet does.
	 */
	volatile int64_t wall_off_ns;
	struct dp_state_info state;
	volatile int restart; /* enum dp_restart, set by the control command */
};

extern volatile bool dp_quit; /* SIGINT/SIGTERM: every loop ends */

static inline uint64_t dp_now_ns(const struct dp_app *app)
{
	uint64_t tsc = rte_get_tsc_cycles();

	return (tsc / app->tsc_hz) * MOAT_NSEC_PER_SEC +
	       (tsc % app->tsc_hz) * MOAT_NSEC_PER_SEC / app->tsc_hz;
}

/* Anchor the cookie clock: CLOCK_REALTIME against dp_now_ns(), read back to back. */
static inline void dp_anchor_wall_clock(struct dp_app *app)
{
	struct timespec real;

	clock_gettime(CLOCK_REALTIME, &real);
	app->wall_off_ns = (int64_t)real.tv_sec * 1000000000LL + real.tv_nsec -
			   (int64_t)dp_now_ns(app);
}

static inline void dp_out_push(struct dp_out *o, struct rte_mbuf *m)
{
	if (o->n < RTE_DIM(o->v))
		o->v[o->n++] = m;
	else
		rte_pktmbuf_free(m);
}

/* ports.c */
int dp_ports_setup(struct dp_app *app);
void dp_ports_stop(struct dp_app *app);
int dp_workers_setup(struct dp_app *app);
void dp_workers_free(struct dp_app *app);
int dp_launch(struct dp_app *app);

/* worker.c: the worker lcores' main for app's mode (each worker's send set to match). */
lcore_function_t *dp_worker_mode(struct dp_app *app);
int dp_dispatcher_main(void *arg);

/* proxy.c */
int dp_write_reply(struct rte_mbuf *m, const struct moat_pkt *pkt, struct moat_reply *r);
int dp_write_synack(struct rte_mbuf *m, const struct moat_pkt *pkt, const struct moat_cookie *c,
		    uint8_t wscale);
int dp_answer_challenge(struct rte_mbuf *m, const struct moat_pkt *pkt,
			const struct moat_result *res);
int dp_proxy_open(struct dp_app *app, struct dp_worker *w, struct rte_mbuf *m,
		  const struct moat_pkt *pkt, const struct moat_result *res, uint16_t server_port,
		  struct dp_out *to_server);
void dp_proxy_established(struct dp_worker *w, struct moat_flow *f, struct dp_out *to_server);
void dp_proxy_hold(struct dp_worker *w, struct rte_mbuf *m, const struct moat_result *res);
void dp_proxy_timers(struct dp_app *app, struct dp_worker *w, uint64_t now);

/*
 * state.c: every worker's tables in the dpdk.state file, adopted when the one
 * found fits, or the process's own when there is none to use (off, or
 * unavailable: said why); 0 or -ENOMEM. dp_state_close: keep leaves the file
 * for the next moat-dp.
 */
int dp_state_tables(struct dp_app *app);
void dp_state_close(struct dp_app *app, bool keep);

/* live.c */
void dp_live_wire(struct dp_app *app, struct dp_worker *w);
void dp_live_load(struct dp_app *app, struct dp_worker *w);
void dp_publish_config(struct dp_app *app, struct moat_config *next);
void dp_lists_first(struct dp_app *app);
void dp_free_lists(struct dp_app *app);
void dp_install_secrets(struct dp_app *app, const struct moat_cookie_secrets *s);
int dp_install_sigs(struct dp_app *app, struct moat_sig_set *set);
void dp_free_sigs(struct dp_app *app);

/* capture.c (the control thread's side; workers fill app->cap_ring). */
int dp_capture_open(struct dp_app *app);
void dp_capture_poll(struct dp_app *app);
void dp_capture_end(struct dp_app *app, const char *why);

/* telemetry.c: the /moat/ commands of DPDK telemetry; stopped before the teardown. */
void dp_telemetry_start(struct dp_app *app);
void dp_telemetry_stop(void);

/* metrics.c: Prometheus on dpdk.metrics (moat-dp run alone); stopped before the teardown. */
void dp_metrics_start(struct dp_app *app);
void dp_metrics_stop(void);

/* ctl.c: the control thread, from config load to the last totals. */
int dp_ctl_open(struct dp_app *app);
int dp_ctl_start(struct dp_app *app);
void dp_ctl_loop(struct dp_app *app);
void dp_ctl_finish(struct dp_app *app);
void dp_ctl_close(struct dp_app *app);

#endif
