/* SPDX-License-Identifier: BSD-3-Clause */
/* What the control thread's files share (ctl.c: the socket, changes, secrets; report.c: stats, status, flows). */
#ifndef MOAT_DATAPLANE_CTL_H
#define MOAT_DATAPLANE_CTL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "control/capture.h"
#include "control/config.h"
#include "control/events.h"
#include "control/proto.h"
#include "control/secrets.h"
#include "dataplane/dp.h"

struct dp_ctl {
	struct moat_config cfg; /* as started: table sizes are fixed from it */
	struct moat_ttls ttls;	/* list entries added with a ttl */
	FILE *events;		/* the event log, if any */
	struct moat_event_feed feed; /* `events` followers */
	struct moat_secret_source secret_src;
	time_t pushed_at;	 /* moatd's last secrets: no rotation of our own; 0 none */
	bool peer_root;		 /* the client being served is root (SO_PEERCRED) */
	time_t started;
	int listen_fd;
	/* moatctl capture (capture.c): the client's stream, the workers' losses before it. */
	struct moat_capture_stream cap;
	uint64_t cap_lost_base;
	time_t cap_beat;
};

/* Sum of one counter over the workers. */
#define DP_SUM(app, field)                                                                         \
	({                                                                                         \
		uint64_t s_ = 0;                                                                   \
		unsigned int i_;                                                                   \
		for (i_ = 0; i_ < (app)->n_workers; i_++)                                          \
			s_ += (app)->workers[i_].field;                                            \
		s_;                                                                                \
	})

void dp_add_u64(json_object *j, const char *key, uint64_t v);
/* {"ok": true} with the replies' common fields. */
json_object *dp_reply_ok(struct dp_app *app);

/*
 * Held by the control thread while it serves a client or changes what the
 * workers run, and by the threads that read its reports besides (telemetry,
 * metrics), so a report never reads what a change is freeing.
 */
extern pthread_mutex_t dp_ctl_lock;

/* capture.c: the stream handler of "capture" */
void dp_ctl_capture(void *ctx, int cmd, json_object *req, int fd);

/* report.c */
json_object *dp_stats(struct dp_app *app);
json_object *dp_secret_ids(const struct moat_cookie_secrets *s);
json_object *dp_ctl_stats(void *ctx, int cmd, json_object *req);
json_object *dp_ctl_status(void *ctx, int cmd, json_object *req);
json_object *dp_ctl_flows(void *ctx, int cmd, json_object *req);
json_object *dp_state_report(const struct dp_app *app);

#endif
