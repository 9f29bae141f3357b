// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatctl capture, the control thread's side: the client's filter written
 * into app->capture (workers then copy what it wants into app->cap_ring, see
 * worker.c), the ring drained into the client's stream (control/capture.h),
 * a line about once a second with what was lost. One capture at a time.
 *
 * The stream goes through the control socket (moatd relays it in mode dpdk),
 * so moatctl writes the pcapng, not moat-dp: rte_pcapng writes a file or fd
 * of its own and has no place for the daemon's lost counts between packets.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#include "dataplane/dp.h"
#include "dataplane/ctl.h"

#include "control/capture.h"

enum { DP_CAP_RING = 1024 }; /* records in flight: about 0.5 MB */

int dp_capture_open(struct dp_app *app)
{
	app->cap_ring = rte_ring_create_elem("moat_capture", sizeof(struct moat_capture_rec),
					     DP_CAP_RING, (int)rte_socket_id(), RING_F_SC_DEQ);
	return app->cap_ring ? 0 : -rte_errno;
}

static uint64_t workers_lost(const struct dp_app *app)
{
	return DP_SUM(app, cap_lost);
}

/* Records left from a capture that ended: not the next one's. */
static void drain_stale(struct dp_app *app)
{
	struct moat_capture_rec rec;

	while (!rte_ring_sc_dequeue_elem(app->cap_ring, &rec, sizeof(rec)))
		;
}

void dp_capture_end(struct dp_app *app, const char *why)
{
	struct dp_ctl *c = app->ctl;

	if (!c || !moat_capture_stream_on(&c->cap))
		return;
	__atomic_store_n(&app->capture.on, 0, __ATOMIC_RELEASE);
	c->cap.src_lost = workers_lost(app) - c->cap_lost_base;
	moat_capture_stream_close(&c->cap, why);
	fprintf(stderr, "moat-dp: capture ended (%s): %llu packets, %llu lost\n", why, c->cap.sent,
		c->cap.lost + c->cap.src_lost);
}

/* The control socket's stream handler (control/server.h): fd is ours. */
void dp_ctl_capture(void *ctx, int cmd, json_object *req, int fd)
{
	struct dp_app *app = ctx;
	struct dp_ctl *c = app->ctl;
	struct moat_capture_req r;
	struct timespec rt;
	char err[256];

	(void)cmd;
	if (moat_capture_parse(req, &r, err, sizeof(err)) ||
	    (moat_capture_stream_on(&c->cap) &&
	     snprintf(err, sizeof(err), "a capture is running already") > 0)) {
		moat_capture_refuse(fd, err);
		return;
	}
	drain_stale(app);
	clock_gettime(CLOCK_REALTIME, &rt);
	if (moat_capture_stream_open(&c->cap, fd, &r, "lcore",
				     (long long)rt.tv_sec * 1000000000LL + rt.tv_nsec -
					     (long long)dp_now_ns(app)))
		return;
	c->cap_lost_base = workers_lost(app);
	c->cap_beat = time(NULL);
	app->capture.reasons = r.cfg.reasons;
	app->capture.snaplen = r.cfg.snaplen;
	app->capture.sample = r.cfg.sample;
	/* Last: workers read the filter only once they see on. */
	__atomic_store_n(&app->capture.on, 1, __ATOMIC_RELEASE);
	fprintf(stderr, "moat-dp: capture started (reasons 0x%x, snaplen %u, 1 in %u, count %llu)\n",
		r.cfg.reasons, r.cfg.snaplen, r.cfg.sample, r.count);
}

void dp_capture_poll(struct dp_app *app)
{
	struct dp_ctl *c = app->ctl;
	struct moat_capture_rec rec;
	char name[16];
	time_t now;

	if (!moat_capture_stream_on(&c->cap))
		return;
	while (!rte_ring_sc_dequeue_elem(app->cap_ring, &rec, sizeof(rec))) {
		snprintf(name, sizeof(name), "port%u", rec.where);
		if (moat_capture_stream_put(&c->cap, &rec, name)) {
			dp_capture_end(app, "count");
			return;
		}
	}
	now = time(NULL);
	if (now != c->cap_beat) {
		c->cap_beat = now;
		c->cap.src_lost = workers_lost(app) - c->cap_lost_base;
		if (moat_capture_stream_beat(&c->cap)) {
			dp_capture_end(app, "stopped"); /* the client went away */
			return;
		}
	}
	if (moat_capture_stream_flush(&c->cap))
		dp_capture_end(app, "stopped");
}
