/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * moatd's dpdk backend: its link to moat-dp. moatd talks to moat-dp over
 * moat-dp's control socket and, when the config gives dpdk.command, starts it
 * (adding --config and --socket so the two cannot disagree), restarts it with
 * a growing delay when it dies, and stops it with moatd.
 */
#ifndef MOAT_DAEMON_DPLINK_H
#define MOAT_DAEMON_DPLINK_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "control/config.h"

struct moat_dplink {
	char socket[108];
	char *argv[160]; /* moat-dp's command line; argv[0] NULL: not ours to start */
	char *words;	 /* storage behind argv */
	pid_t pid;	 /* 0: not running (or not ours) */
	time_t next_start;
	unsigned int restarts;
	unsigned int backoff_s;
	long long generation; /* bumped when moat-dp (re)appears: push state again */
	bool up;	      /* answered since it last (re)started */
	int ev_fd;	      /* the `events` follow stream, -1 when closed */
	char ev_buf[16384];
	size_t ev_len;
};

/* Prepare the link from the config (not started yet). 0 or -errno with err. */
int moat_dplink_init(struct moat_dplink *l, const struct moat_config *cfg, const char *config_path,
		     char *err, size_t errlen);
/* Once a second: reap and restart a dead moat-dp, notice one that answers again. */
void moat_dplink_tick(struct moat_dplink *l);
/* One request ({"cmd": cmd} plus req's other keys, req may be NULL). */
int moat_dplink_call(struct moat_dplink *l, const char *cmd, json_object *req, json_object **reply,
		     char *err, size_t errlen);
/* Read what the events stream has: fn gets each whole line. -1 when it closed. */
int moat_dplink_events_read(struct moat_dplink *l, void (*fn)(const char *line, void *ctx),
			    void *ctx);
/* Open the events stream if closed: its fd or -1. */
int moat_dplink_events_open(struct moat_dplink *l);
/* SIGTERM to a moat-dp we started, up to 10 s to drain and exit, then SIGKILL. */
void moat_dplink_stop(struct moat_dplink *l);

#endif
