// SPDX-License-Identifier: BSD-3-Clause
/*
 * Answers written over the frame they answer, and the SYN proxy's handshakes.
 *
 * SYN proxy: a valid cookie ACK opens the connection to the server with the
 * client's ISN and options (the SYN is retransmitted until the server answers);
 * the client's ACK and any data that follow it wait in a small per-worker
 * table and are released, translated, when the server's SYN-ACK comes. From
 * then on every segment of the flow is translated (core/proxy.h).
 */
#include <errno.h>
#include <string.h>

#include "dataplane/dp.h"

#include "core/proxy.h"
#include "core/reply.h"

/*
 * The reply over the frame, resized in place: the frame is one segment by now
 * (dp_parse() linearized it), so the lengths are set directly.
 */
int dp_write_reply(struct rte_mbuf *m, const struct moat_pkt *pkt, struct moat_reply *r)
{
	uint32_t len = moat_reply_len(pkt, r->tcp_len);
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);

	if (len > (uint32_t)rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m))
		return -ENOSPC;
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	return moat_reply_write(d, d + len, pkt, r);
}

/* The cookie SYN-ACK over the SYN's frame: straight into it where its shape allows. */
int dp_write_synack(struct rte_mbuf *m, const struct moat_pkt *pkt, const struct moat_cookie *c,
		    uint8_t wscale)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	int len = moat_synack_write_ip4(d, (u32)rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m),
					pkt, c, wscale);
	struct moat_reply r;

	if (len > 0) {
		m->data_len = (uint16_t)len;
		m->pkt_len = (uint32_t)len;
		return 0;
	}
	moat_synack_build(&r, pkt, c, wscale);
	return dp_write_reply(m, pkt, &r);
}

/*
 * RFC 5961 challenge ACK to the sender of pkt, as the other side would send it:
 * its next sequence number and what it has received.
 */
int dp_answer_challenge(struct rte_mbuf *m, const struct moat_pkt *pkt,
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
	return dp_write_reply(m, pkt, &r);
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
 *
 * The SYN goes twice. The server's handshake with us takes microseconds, and a
 * stack takes the SYN-ACK's round trip as the connection's first RTT sample:
 * BBR keeps it as its minimum RTT for 10 s, so its window stays at bandwidth
 * x 40 us on a 40 ms path (lab-nots: 14 against 250 Mbit/s), and CUBIC's
 * HyStart leaves slow start early. A SYN repeated while the server is in
 * SYN-RECEIVED makes it send its SYN-ACK again, and a SYN-ACK sent twice gives
 * no sample (Karn's rule, Linux's tcp_synack_rtt_meas): the first comes from
 * the client's data, over the whole path. The second SYN-ACK is consumed like
 * the first (proxy_ack; moat_track_synack). Retransmitted SYNs (tries 2-4) need
 * no twin.
 * With timestamps the server still takes a sample, from the echo of its
 * SYN-ACK's TSval; changing that echo is refused by Linux 6.x (an echo outside
 * the SYN-ACKs' TSvals) or breaks a server's own SYN cookies (a zero echo:
 * lab-dp's first request after a flood stalled), so it is left as it is.
 */
int dp_proxy_open(struct dp_app *app, struct dp_worker *w, struct rte_mbuf *m,
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
	dp_out_push(to_server, syn);
	w->proxy_syns++;
	syn = mbuf_from_bytes(app->pool, p->syn, p->syn_len);
	if (syn) {
		dp_out_push(to_server, syn);
		w->proxy_syns++;
	}
	return 0;
fail:
	res->flow->state = MOAT_TCPS_CLOSED;
	return -1;
}

/* The server's SYN-ACK: the client's held segments go to it, translated. */
void dp_proxy_established(struct dp_worker *w, struct moat_flow *f, struct dp_out *to_server)
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
		dp_out_push(to_server, m);
	}
	p->n = 0;
	pending_release(w, p);
}

/* SYN retransmissions and abandoned handshakes, a few times a second. */
void dp_proxy_timers(struct dp_app *app, struct dp_worker *w, uint64_t now)
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
			w->send(app, w, p->port, &syn, 1);
		p->deadline_ns = now + (MOAT_NSEC_PER_SEC << p->tries);
		p->tries++;
	}
}

/* A client segment while the server has not answered yet: held, or dropped. */
void dp_proxy_hold(struct dp_worker *w, struct rte_mbuf *m, const struct moat_result *res)
{
	struct dp_pending *p = pending_of(w, res->flow);

	if (p && p->n < DP_PENDING_MBUFS)
		p->held[p->n++] = m;
	else
		rte_pktmbuf_free(m);
}
