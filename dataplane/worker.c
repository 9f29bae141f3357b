// SPDX-License-Identifier: BSD-3-Clause
/*
 * The worker lcores' burst loop. Each worker runs every frame through the
 * core/ engine on its own tables (no locks: nothing else touches them),
 * forwards what passes to the paired port, answers SYN cookies and challenge
 * ACKs out of the port the packet came in on, and frees the rest.
 *
 * The mode is chosen once, at launch (dp_worker_mode): a worker polls its RX
 * queue of every port and sends on its TX queues, or (behind the dispatcher)
 * reads its ring and sends through the ports' rings. Nothing on the way asks.
 */
#include <string.h>

#include <rte_lcore.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dataplane/dp.h"
#include "dataplane/lists.h"

#include "core/event.h"
#include "core/fastsyn.h"
#include "core/proxy.h"
#include "core/reply.h"
#include "flow/sigs.h"

/* One in event_sample packets of each drop/tx reason, handed to the control thread. */
static void dp_event(struct dp_app *app, struct dp_worker *w, const struct moat_pkt *pkt,
		     enum moat_reason r, const struct moat_sig_verdict *sv)
{
	uint32_t *left = sv->action == MOAT_SIG_ALERT ? &w->ev_left_alert : &w->ev_left[r];
	struct moat_event ev;

	/* A countdown, not a modulo: no division per dropped or answered packet. */
	if (!*left)
		*left = app->event_sample;
	if (--*left)
		return;
	/* where: the worker's lcore, written as "lcore" */
	moat_event_fill(&ev, pkt, r, w->eng.now_ns, w->lcore, (u32)rte_lcore_id());
	if (sv->action >= 0) {
		ev.detail = moat_sigs_id(moat_sig_matcher_set(w->sigm), sv->sig);
		ev.detail_kind = sv->action == MOAT_SIG_ALERT ? MOAT_EVD_SIG_ALERT : MOAT_EVD_SIG_DROP;
	}
	rte_ring_mp_enqueue_elem(app->ev_ring, &ev, sizeof(ev)); /* full: the sample is lost */
}

/*
 * moatctl capture: a bounded copy of the frame as it arrived (before any
 * answer is written over it), handed to the control thread; a full ring loses it.
 */
static void dp_capture(struct dp_app *app, struct dp_worker *w, const struct rte_mbuf *m,
		       enum moat_reason r)
{
	const struct moat_capture_cfg *cfg = &app->capture;
	struct moat_capture_rec rec;
	uint32_t caplen;

	if (!moat_capture_wants(cfg, r))
		return;
	if (cfg->sample > 1) {
		if (!w->cap_left || w->cap_left > cfg->sample)
			w->cap_left = cfg->sample;
		if (--w->cap_left)
			return;
	}
	caplen = moat_capture_caplen(cfg, rte_pktmbuf_data_len(m));
	rec.ts_ns = w->eng.now_ns;
	rec.where = m->port;
	rec.cpu = w->lcore;
	rec.len = rte_pktmbuf_pkt_len(m);
	rec.caplen = (uint16_t)caplen;
	rec.reason = (uint8_t)r;
	rec.pad = 0;
	rte_memcpy(rec.data, rte_pktmbuf_mtod(m, const void *), caplen);
	if (rte_ring_mp_enqueue_elem(app->cap_ring, &rec, sizeof(rec)))
		w->cap_lost++;
}

/* An answer (MOAT_TX): queued back out of the port it came in on, or 1 (dropped). */
static int answer(struct dp_worker *w, struct rte_mbuf *m, struct moat_pkt *pkt,
		  enum moat_reason r, const struct moat_result *res, struct dp_out *back)
{
	if (r == MOAT_R_SYN_COOKIE) {
		if (!dp_write_synack(m, pkt, &res->cookie, w->eng.pol->synack_wscale)) {
			dp_out_push(back, m);
			return 0;
		}
	} else if (r == MOAT_R_PROXY_ACK) {
		/* The SYN-ACK goes no further: the client's own ACK answers it. */
		dp_proxy_established(w, res->flow, back);
	} else if (!moat_bucket_take(&w->challenges, w->eng.now_ns, DP_CHALLENGE_RATE,
				     DP_CHALLENGE_RATE / 10)) {
		w->challenge_limited++;
	} else if (!dp_answer_challenge(m, pkt, res)) {
		dp_out_push(back, m);
		return 0;
	}
	return 1;
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
	/* One predictable branch while no capture runs. */
	if (unlikely(__atomic_load_n(&app->capture.on, __ATOMIC_ACQUIRE)))
		dp_capture(app, w, m, r);
	w->sig_alerts += sv.action == MOAT_SIG_ALERT;
	if (app->ev_ring && (moat_reason_verdict(r) != MOAT_PASS || sv.action >= 0))
		dp_event(app, w, pkt, r, &sv);
	switch (moat_reason_verdict(r)) {
	case MOAT_PASS:
		if (r == MOAT_R_COOKIE_VALID && res.flow && res.flow->state == MOAT_TCPS_PROXY_SYN) {
			if (dp_proxy_open(app, w, m, pkt, &res, dst, fwd))
				break;
			return;
		}
		if (res.flow && res.flow->state == MOAT_TCPS_PROXY_SYN && res.dir == 0) {
			dp_proxy_hold(w, m, &res);
			return;
		}
		if (res.flow)
			moat_proxy_rewrite(d, pkt, res.flow, res.dir);
		dp_out_push(fwd, m);
		return;
	case MOAT_TX:
		if (!answer(w, m, pkt, r, &res, back))
			return;
		break;
	default:
		break;
	}
	w->dropped++;
	rte_pktmbuf_free(m);
}

/* What could not be sent is freed and counted. */
static inline void sent_tail(struct dp_worker *w, struct rte_mbuf **v, uint16_t n, uint16_t sent)
{
	if (sent < n) {
		w->tx_full += n - sent;
		rte_pktmbuf_free_bulk(v + sent, n - sent);
	}
}

/* RSS mode: the worker's own TX queue of the port. */
static void send_queue(struct dp_app *app, struct dp_worker *w, uint16_t port,
		       struct rte_mbuf **v, uint16_t n)
{
	(void)app;
	if (n)
		sent_tail(w, v, n, rte_eth_tx_burst(port, w->queue, v, n));
}

/* Behind the dispatcher: the port's ring, which the dispatcher drains. */
static void send_ring(struct dp_app *app, struct dp_worker *w, uint16_t port, struct rte_mbuf **v,
		      uint16_t n)
{
	if (n)
		sent_tail(w, v, n,
			  (uint16_t)rte_ring_mp_enqueue_burst(app->tx_ring[port], (void **)v, n,
							      NULL));
}

/*
 * Parse a frame for process(), one segment first: -1 when it cannot be made
 * one. Each frame is parsed once, a burst ahead of the engine.
 */
static int dp_parse(struct rte_mbuf *m, struct moat_pkt *pkt)
{
	const uint8_t *d, *end;

	if (m->nb_segs != 1 && rte_pktmbuf_linearize(m)) {
		memset(pkt, 0, sizeof(*pkt)); /* events read it */
		return -1;
	}
	d = rte_pktmbuf_mtod(m, const uint8_t *);
	end = d + rte_pktmbuf_data_len(m);
	/* A flood's SYNs, and most segments, without the option walk: the same pkt. */
	if (!moat_fast_parse_tcp(d, end, pkt))
		return MOAT_PARSE_TCP;
	return moat_parse(d, end, pkt);
}

/* A SYN without ACK, RST or FIN: a new connection's first segment, a flood's. */
static inline int is_syn(const struct moat_pkt *pkt)
{
	return (pkt->tcp_flags & (MOAT_TCP_SYN | MOAT_TCP_ACK | MOAT_TCP_RST | MOAT_TCP_FIN)) ==
	       MOAT_TCP_SYN;
}

_Static_assert(DP_BURST <= MOAT_BE_COOKIES_MAX, "make_cookies: a burst's SYNs in one call");

/*
 * The burst's SYNs' cookies, their MACs eight at a time in SIMD lanes, before
 * the engine asks for any: a flood's SYNs each take one. A SYN that gets no
 * cookie (cookies not engaged, a live flow's) wasted a lane, not a hash.
 */
static void make_cookies(struct dp_worker *w, const struct moat_pkt *pkts,
			 struct moat_be_key *keys, const uint16_t *syns, uint16_t nsyn)
{
	u32 slot = moat_cookie_slot(moat_cookie_now(&w->eng));

	moat_be_cookies(&w->be, &w->eng.sec->cur, slot, w->eng.ts_clock, pkts, keys, syns, nsyn);
}

/*
 * The lists' action for the burst's IPv4 TCP frames, both addresses, in one
 * loop: the loads of many frames are in flight at once, where the engine's
 * lookups, one frame after another, would wait for each (moat_be_lists_ahead
 * takes them). An address the IPv4 frame before had on the same side is not
 * looked up again: a flood's destination, a run of one flow's frames.
 */
static void lists_ahead(const struct dp_worker *w, const int *st, const struct moat_pkt *pkts,
			struct moat_be_key *keys, uint16_t n)
{
	const struct dp_lists *l = w->be.list_ctx;
	uint32_t src, dst, last_src = 0, last_dst = 0;
	int src_answer = 0, dst_answer = 0, have = 0;
	uint16_t i;

	for (i = 0; i < n; i++) {
		if (st[i] != MOAT_PARSE_TCP || pkts[i].family != 4)
			continue;
		src = pkts[i].saddr.w[0];
		dst = pkts[i].daddr.w[0];
		if (!have || src != last_src)
			src_answer = dp_lists_decide4(l, src);
		if (!have || dst != last_dst)
			dst_answer = dp_lists_decide4(l, dst);
		last_src = src;
		last_dst = dst;
		have = 1;
		keys[i].list_addr[0] = src;
		keys[i].list_addr[1] = dst;
		keys[i].list_action = MOAT_LIST_ACTION(moat_list_pick(src_answer, dst_answer));
		keys[i].lists_ahead = 1;
	}
}

static void flush_out(struct dp_app *app, struct dp_worker *w, uint16_t port, struct dp_outs *outs)
{
	struct dp_out *o = &outs->port[port];

	if (!o->n)
		return;
	w->fwd += o->n;
	w->send(app, w, port, o->v, o->n);
	o->n = 0;
}

/* A burst of frames, from any ports: decide each, then send per port. */
static void handle_burst(struct dp_app *app, struct dp_worker *w, struct rte_mbuf **rx, uint16_t n,
			 struct dp_outs *outs)
{
	struct moat_pkt pkts[DP_BURST];
	struct moat_be_key keys[DP_BURST];
	int st[DP_BURST];
	uint16_t i, p, syns[DP_BURST], nsyn;

	w->rx += n;
	dp_live_load(app, w);
	/* One clock read per burst: every packet in it arrived "now". */
	w->eng.now_ns = dp_now_ns(app);
	w->eng.wall_off_ns = app->wall_off_ns;
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
	/*
	 * A SYN (a flood's, mostly of flows never seen) first asks the flow table's
	 * filter, one cache line, loaded here and read in the next loop; the table's
	 * rows (four lines) are loaded only for the SYNs it may hold.
	 */
	for (i = 0; i < n; i++)
		if (st[i] == MOAT_PARSE_TCP) {
			keys[i].hash = moat_be_flow_hash(&w->be.flows, &keys[i].k);
			keys[i].absent = 0;
			keys[i].cookie_key = NULL;
			keys[i].lists_ahead = 0;
			keys[i].found_ahead = 0;
			if (is_syn(&pkts[i]))
				stab_filter_prefetch_h(&w->be.flows, keys[i].hash);
			else
				stab_prefetch_h(&w->be.flows, keys[i].hash);
		}
	for (i = 0, nsyn = 0; i < n; i++)
		if (st[i] == MOAT_PARSE_TCP && is_syn(&pkts[i])) {
			keys[i].absent = (u32)stab_absent_h(&w->be.flows, keys[i].hash);
			keys[i].adds = stab_adds(&w->be.flows);
			if (!keys[i].absent)
				stab_prefetch_h(&w->be.flows, keys[i].hash);
			syns[nsyn++] = i;
		}
	if (nsyn && w->eng.pol->syn_cookies != MOAT_COOKIES_OFF)
		make_cookies(w, pkts, keys, syns, nsyn);
	if (w->be.list_fn)
		lists_ahead(w, st, pkts, keys, n);
	for (i = 0; i < n; i++)
		if (st[i] == MOAT_PARSE_TCP && !is_syn(&pkts[i]))
			moat_be_find_ahead(&w->be.flows, &keys[i]);
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

/* Between bursts: the control thread's questions, stream sweeps, the proxy's timers. */
static void housekeeping(struct dp_app *app, struct dp_worker *w)
{
	uint64_t now;

	dp_live_load(app, w);
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
		dp_proxy_timers(app, w, now);
		w->next_timer_ns = now + MOAT_NSEC_PER_SEC / 10;
	}
}

/* RSS mode (or one worker): a burst from the worker's queue of every port. */
static void poll_queues(struct dp_app *app, struct dp_worker *w, struct dp_outs *outs)
{
	struct rte_mbuf *rx[DP_BURST];
	uint16_t n;
	int p;

	for (p = 0; p < app->n_pairs; p++) {
		n = rte_eth_rx_burst(app->pairs[p].out, w->queue, rx, DP_BURST);
		if (n)
			handle_burst(app, w, rx, n, outs);
		n = rte_eth_rx_burst(app->pairs[p].in, w->queue, rx, DP_BURST);
		if (n)
			handle_burst(app, w, rx, n, outs);
	}
}

/* Behind the dispatcher: a burst from the worker's ring. */
static void poll_ring(struct dp_app *app, struct dp_worker *w, struct dp_outs *outs)
{
	struct rte_mbuf *rx[DP_BURST];
	uint16_t n;

	n = (uint16_t)rte_ring_sc_dequeue_burst(app->rx_ring[w->id], (void **)rx, DP_BURST, NULL);
	if (n)
		handle_burst(app, w, rx, n, outs);
}

typedef void dp_poll_fn(struct dp_app *app, struct dp_worker *w, struct dp_outs *outs);

/* A worker's life around one way of reading frames: inlined into each main, poll with it. */
static inline __attribute__((always_inline)) int worker_run(struct dp_worker *w, dp_poll_fn *poll)
{
	struct dp_app *app = container_of(w, struct dp_app, workers[w->id]);
	static __thread struct dp_outs outs;

	rte_rcu_qsbr_thread_register(app->qsv, w->id);
	rte_rcu_qsbr_thread_online(app->qsv, w->id);
	while (!dp_quit) {
		poll(app, w, &outs);
		housekeeping(app, w);
		rte_rcu_qsbr_quiescent(app->qsv, w->id);
	}
	rte_rcu_qsbr_thread_offline(app->qsv, w->id);
	rte_rcu_qsbr_thread_unregister(app->qsv, w->id);
	return 0;
}

static int worker_main_queues(void *arg)
{
	return worker_run(arg, poll_queues);
}

static int worker_main_ring(void *arg)
{
	return worker_run(arg, poll_ring);
}

lcore_function_t *dp_worker_mode(struct dp_app *app)
{
	unsigned int k;

	for (k = 0; k < app->n_workers; k++)
		app->workers[k].send = app->dispatch ? send_ring : send_queue;
	return app->dispatch ? worker_main_ring : worker_main_queues;
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

/* A burst from port dealt to the workers' rings by flow. */
static void deal(struct dp_app *app, uint16_t port)
{
	struct rte_mbuf *rx[DP_BURST], *per[DP_MAX_WORKERS][DP_BURST];
	uint16_t cnt[DP_MAX_WORKERS] = { 0 };
	uint16_t n = rte_eth_rx_burst(port, 0, rx, DP_BURST), i, sent;
	unsigned int wk;

	for (i = 0; i < n; i++) {
		wk = dispatch_worker(app, rx[i]);
		per[wk][cnt[wk]++] = rx[i];
	}
	for (wk = 0; wk < app->n_workers; wk++) {
		if (!cnt[wk])
			continue;
		sent = (uint16_t)rte_ring_sp_enqueue_burst(app->rx_ring[wk], (void **)per[wk], cnt[wk],
							   NULL);
		if (sent < cnt[wk]) {
			app->dispatch_drops += cnt[wk] - sent;
			rte_pktmbuf_free_bulk(per[wk] + sent, cnt[wk] - sent);
		}
	}
}

/* Reads every port, deals frames to workers, drains the workers' output rings. */
int dp_dispatcher_main(void *arg)
{
	struct dp_app *app = arg;
	struct rte_mbuf *tx[DP_BURST];
	uint16_t n, sent, k;
	int p;

	while (!dp_quit) {
		for (p = 0; p < 2 * app->n_pairs; p++) {
			uint16_t port = p & 1 ? app->pairs[p / 2].in : app->pairs[p / 2].out;

			deal(app, port);
			n = (uint16_t)rte_ring_sc_dequeue_burst(app->tx_ring[port], (void **)tx,
								DP_BURST, NULL);
			sent = n ? rte_eth_tx_burst(port, 0, tx, n) : 0;
			for (k = sent; k < n; k++)
				rte_pktmbuf_free(tx[k]);
		}
	}
	return 0;
}
