/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * moatd's dpdk backend: its link to moat-dp. moatd talks to moat-dp over
 * moat-dp's control socket and, when the config gives dpdk.command, starts it
 * (adding --config and --socket so the two cannot disagree), restarts it with
 * a growing delay when it dies, and stops it with moatd (unless kept).
 *
 * moat-dp does not depend on moatd to run: it keeps forwarding with its last
 * policy when moatd dies. A moatd that starts while a moat-dp answers on the
 * socket re-attaches to it (moat_dplink_attach) instead of starting another,
 * and supervises it through a pidfd, as it is not its child. One that is still
 * starting (not answering yet) is found through the pid file beside the socket
 * (SOCKET.pid, written by the child before it runs moat-dp) and waited for, so
 * a moatd killed during moat-dp's start never leads to a second moat-dp.
 *
 * Every call is bounded in time (moat_ctl_call_within): a moat-dp whose control
 * thread hangs makes moatd report it down, never hang with it.
 */
#ifndef MOAT_DAEMON_DPLINK_H
#define MOAT_DAEMON_DPLINK_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "control/config.h"
#include "control/proto.h"

struct moat_dplink {
	char socket[108];
	char pidfile[120]; /* socket + ".pid": the pid of the moat-dp we started */
	char *argv[160]; /* moat-dp's command line; argv[0] NULL: not ours to start */
	char *words;	 /* storage behind argv */
	pid_t pid;	 /* 0: not running (or not ours) */
	bool adopted;	 /* pid found running at start, not our child */
	bool adopted_starting; /* ... and not answering yet: it gets the full state once it does */
	int pidfd;	 /* adopted: tells when it exits; -1 none */
	time_t next_start;
	unsigned int restarts; /* after it died */
	unsigned int planned_restarts; /* moatctl restart: exited MOAT_DP_EXIT_RESTART */
	bool planned; /* asked to restart: its exit is not a crash */
	unsigned int backoff_s;
	long long generation; /* bumped when moat-dp (re)appears: push state again */
	long long attached_generation; /* the generation found running at start; 0 none */
	bool up;	      /* answered since it last (re)started */
	int ev_fd;	      /* the `events` follow stream, -1 when closed */
	char ev_buf[16384];
	size_t ev_len;
};

/* Prepare the link from the config (not started yet). 0 or -errno with err. */
int moat_dplink_init(struct moat_dplink *l, const struct moat_config *cfg, const char *config_path,
		     char *err, size_t errlen);
/*
 * At start: a moat-dp already answering on the socket is driven as it runs.
 * With dpdk.command it must run config_path, and is supervised from then on.
 * 1 attached, 0 none answers (start one), -errno refused with err.
 */
int moat_dplink_attach(struct moat_dplink *l, const char *config_path, char *err, size_t errlen);
/* The moat-dp answering is the one found running at start (it keeps its signatures). */
bool moat_dplink_reattached(const struct moat_dplink *l);
/* moat-dp was told to restart: its coming exit is planned (a re-attached one's status is unseen). */
void moat_dplink_planned(struct moat_dplink *l);
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
/*
 * SIGTERM to a moat-dp we supervise (started or re-attached), up to 10 s to
 * drain and exit, then SIGKILL; keep: left running, for the next moatd.
 */
void moat_dplink_stop(struct moat_dplink *l, bool keep);

#endif
