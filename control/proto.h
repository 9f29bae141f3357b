/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control protocol of moatd and moat-dp, spoken by moatctl and by moatd to
 * moat-dp: one JSON object per line over a Unix socket, {"cmd": NAME, ...}
 * answered by {"ok": true, ...} or {"ok": false, "error": TEXT}. The command
 * table is shared by every program (the daemons answer through it: server.h).
 */
#ifndef MOAT_CONTROL_PROTO_H
#define MOAT_CONTROL_PROTO_H

#include <json-c/json.h>
#include <stddef.h>

#include "flow/cidr.h"

#define MOAT_DEFAULT_SOCKET "/run/moat/moatd.sock"
#define MOAT_PROTO_MAX_LINE (1 << 20)
/*
 * moat-dp's exit status when it ends for a restart (the command `restart`):
 * its flow state is left for the next one, which moatd starts at once.
 * EX_TEMPFAIL, so a systemd unit can say RestartForceExitStatus=75.
 */
#define MOAT_DP_EXIT_RESTART 75

enum moat_cmd {
	MOAT_CMD_STATUS,
	MOAT_CMD_STATS,
	MOAT_CMD_FLOWS,
	MOAT_CMD_BLOCK,
	MOAT_CMD_UNBLOCK,
	MOAT_CMD_ALLOW,
	MOAT_CMD_UNALLOW,
	MOAT_CMD_RELOAD,
	MOAT_CMD_TOP,
	MOAT_CMD_LIMITS,
	MOAT_CMD_EVENTS,
	MOAT_CMD_CAPTURE, /* a stream: control/capture.h */
	MOAT_CMD_DRAIN,	  /* moatd with bgp: (daemon/bgp.h) */
	MOAT_CMD_UNDRAIN,
	MOAT_CMD_RESTART, /* mode dpdk: moat-dp hands its flows to the next one */
	MOAT_CMD_SECRETS,    /* moatd to moat-dp only: not listed by moatctl */
	MOAT_CMD_SIGNATURES, /* moatd to moat-dp only: not listed by moatctl */
	MOAT_CMD_COUNT,
};

struct moat_cmd_desc {
	const char *name;
	const char *args; /* for moatctl's usage line, its global options aside */
	const char *help; /* NULL: between the daemons, not an operator's command */
};

extern const struct moat_cmd_desc moat_cmds[MOAT_CMD_COUNT];

/*
 * Apply a list command (block/unblock/allow/unallow) carried by req
 * ({"cmd":..., "cidr":...}) to the config's lists. 0, or -errno with err set.
 */
struct moat_config;
int moat_proto_apply_list(struct moat_config *cfg, int cmd, json_object *req, char *err,
			  size_t errlen);

/*
 * Entries added with a time to live ({"ttl": seconds} on block/allow): the daemon
 * remembers them and takes them off their list when they expire.
 */
#define MOAT_TTL_MAX 1024

struct moat_ttl_entry {
	struct moat_cidr cidr;
	int cmd; /* MOAT_CMD_BLOCK or MOAT_CMD_ALLOW */
	long long expires; /* monotonic milliseconds */
};

struct moat_ttls {
	struct moat_ttl_entry v[MOAT_TTL_MAX];
	unsigned int n;
};

/* Check a request's "ttl" before applying it: 0 or -EINVAL with err. */
int moat_ttl_valid(int cmd, json_object *req, char *err, size_t errlen);
/* After a successful list command: remember (or forget) its expiry; now in monotonic ms. */
int moat_ttl_note(struct moat_ttls *t, int cmd, json_object *req, long long now, char *err,
		  size_t errlen);
/* Take expired entries off cfg's lists (now in monotonic ms): how many went. */
int moat_ttl_expire(struct moat_ttls *t, struct moat_config *cfg, long long now);

/*
 * limits: {"cmd":"limits"} shows, {"cmd":"limits","set":{"KEY":N,...}} changes
 * (keys as under limits: in the config). Applied to cfg all or nothing.
 */
int moat_proto_apply_limits(struct moat_config *cfg, json_object *req, char *err, size_t errlen);
/* {"KEY": N, ...}: the limits of cfg, as the config names them. */
json_object *moat_proto_limits_json(const struct moat_config *cfg);

/*
 * Open a streaming request ({"cmd":"events","follow":true}): sends req and
 * returns the connected fd to read JSON lines from, or -errno with err.
 */
int moat_ctl_open_stream(const char *socket_path, json_object *req, char *err, size_t errlen);

/*
 * flows: the listing filter of a request ({"state": S, "cidr": C, "port": P,
 * "limit": N}), state names looked up by state_of (-1: unknown). 0 or -EINVAL.
 */
struct moat_flow_filter;
int moat_proto_flow_filter(json_object *req, int (*state_of)(const char *name),
			   struct moat_flow_filter *f, size_t *limit, char *err, size_t errlen);

/* One line on stderr: "PROG: message" (the journal takes it from there). */
void moat_log(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Index of a command name, or -1. */
int moat_cmd_lookup(const char *name);

/* Exit codes of moatctl for daemon commands (documented in the README). */
enum moat_ctl_exit {
	MOAT_EXIT_OK = 0,
	MOAT_EXIT_ERROR = 1,	  /* the daemon answered with an error */
	MOAT_EXIT_USAGE = 2,	  /* bad command line */
	MOAT_EXIT_NO_DAEMON = 3, /* no daemon on the socket */
};

/*
 * The daemon side: create the socket's folder (0700) and listen on path, mode
 * 0600. flags: extra socket() flags (SOCK_NONBLOCK). The fd or -errno.
 */
int moat_ctl_listen(const char *path, int flags);

/*
 * Send one request and read one reply. Returns 0, or -errno with err filled
 * (ENOENT/ECONNREFUSED: no daemon).
 */
int moat_ctl_call(const char *socket_path, json_object *req, json_object **reply, char *err,
		  size_t errlen);
/*
 * The same, waiting at most timeout_ms for the reply (0: no limit): -ETIMEDOUT
 * with err when the daemon accepted but did not answer in time (hung, stopped).
 */
int moat_ctl_call_within(const char *socket_path, json_object *req, unsigned int timeout_ms,
			 json_object **reply, char *err, size_t errlen);

#endif
