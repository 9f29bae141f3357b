/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * moatd's backends behind one table of operations, chosen once at start from
 * the config's mode: xdp (backend_xdp.c: the host-mode loader, sock_diag, the
 * events ring) or dpdk (backend_dpdk.c: moat-dp over its socket). moatd.c keeps
 * what both share: the loop, the control socket, config checks and reloads,
 * secret rotation, top, and the metrics every backend exports.
 */
#ifndef MOAT_DAEMON_BACKEND_H
#define MOAT_DAEMON_BACKEND_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct moat_config;
struct moat_text;
struct moatd;

struct moatd_backend_ops {
	const char *name; /* the config's mode, as status and log lines say it */
	/* What moatd checks of a config for this backend (--check, start, reload). */
	bool needs_interfaces; /* attaches to cfg->interfaces */
	bool takes_signatures; /* matches payload signatures */
	/* The backend's own keys of a config that passed the shared checks (NULL: none). */
	int (*check)(const struct moat_config *cfg, const char *path, char *err, size_t errlen);

	/* Load and attach, or link to the dataplane; the secrets through moatd_secrets_init. */
	int (*start)(struct moatd *d);
	/* Sampled events: their source opened and watched (moatd_watch), once the loop is set up. */
	int (*open_events)(struct moatd *d);
	/* Also after a start that failed half way. */
	void (*stop)(struct moatd *d);
	/* Once a second, after the shared work (top decay, secret rotation). */
	void (*tick)(struct moatd *d);
	/* The secrets rotated (d->secrets): hand them on. */
	void (*secrets_rotated)(struct moatd *d);
	/* A readable fd the backend watched. */
	void (*on_fd)(struct moatd *d, int fd);
	/*
	 * A reload's new config, past the shared checks: applied and made d->cfg, or
	 * refused with err and the running one kept. next is taken either way.
	 */
	int (*reload)(struct moatd *d, struct moat_config *next, char *err, size_t errlen);

	/* The control commands' answers (new objects). */
	json_object *(*stats)(struct moatd *d);
	/* Adds the backend's part of the status answer to j. */
	void (*status)(struct moatd *d, json_object *j);
	/* block/unblock/allow/unallow whose ttl moatd checked. */
	json_object *(*list)(struct moatd *d, int cmd, json_object *req);
	json_object *(*flows)(struct moatd *d, json_object *req);
	json_object *(*limits)(struct moatd *d, json_object *req);
	/* moatctl restart: a new dataplane takes over the flows (NULL: the mode has none). */
	json_object *(*restart)(struct moatd *d, json_object *req);
	/*
	 * moatctl capture (control/capture.h): the backend takes the connection fd
	 * (a stream, or a refusal line) and closes it when the capture ends.
	 */
	void (*capture)(struct moatd *d, int fd, json_object *req);
	/* The backend's metric families; runs on the metrics thread and reads counters only. */
	void (*fill_metrics)(struct moatd *d, struct moat_text *t);
};

extern const struct moatd_backend_ops moatd_backend_xdp;
extern const struct moatd_backend_ops moatd_backend_dpdk;

#endif
