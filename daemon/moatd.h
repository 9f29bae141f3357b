/* SPDX-License-Identifier: BSD-3-Clause */
/* moatd's state and the shared services its backends (backend.h) call back into. */
#ifndef MOAT_DAEMON_MOATD_H
#define MOAT_DAEMON_MOATD_H

#include <stdbool.h>
#include <time.h>

#include "control/config.h"
#include "control/events.h"
#include "control/proto.h"
#include "control/secrets.h"
#include "daemon/backend.h"
#include "daemon/top.h"

struct moatd {
	const char *config_path;
	const char *socket_path;
	struct moat_config cfg;
	const struct moatd_backend_ops *be; /* chosen once at start, from cfg.mode */
	void *be_state;			    /* the backend's own, made by its start */
	struct moat_secret_source secret_src;
	struct moat_cookie_secrets secrets;
	struct moat_event_feed feed;
	int epfd, sigfd, listenfd, timerfd;
	time_t started;
	u64 rotations;
	u64 reloads, reload_failures;
	struct moat_metrics *metrics;
	struct moatd_top top;
	struct moatd_bgp *bgp; /* NULL without bgp: (bgp.h) */
	bool stop;
};

#define logmsg(...) moat_log("moatd", __VA_ARGS__)

/* Watch fd in moatd's loop: the backend's on_fd is called when it is readable. */
int moatd_watch(struct moatd *d, int fd);
void moatd_unwatch(struct moatd *d, int fd);

/*
 * The cookie secrets at start: kept (a previous run's, in random mode only) so
 * cookies in flight across a restart stay valid, or else the secret source's.
 * 1 when kept, 0 when fresh ones are in d->secrets (the backend hands them on),
 * -errno with the reason logged.
 */
int moatd_secrets_init(struct moatd *d, const struct moat_cookie_secrets *kept);

/* A reload's config replaces the running one. */
void moatd_take_config(struct moatd *d, struct moat_config *next);

#endif
