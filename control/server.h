/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The server shell of both daemons (moatd and moat-dp): one request per
 * connection, read as one JSON line, its "cmd" looked up in the one command
 * table (moat_cmds[], proto.h) and handed to the daemon's handler for that
 * command; the answer goes back as one line and the connection is closed.
 * "events" and "capture" are the exceptions: the connection is handed to the
 * event feed, or to the daemon's stream handler.
 *
 * A daemon gives one handler per command, indexed like moat_cmds[]; NULL for a
 * command it does not serve. The shell itself answers requests that are not
 * JSON, names that are not in the table and commands without a handler.
 */
#ifndef MOAT_CONTROL_SERVER_H
#define MOAT_CONTROL_SERVER_H

#include <json-c/json.h>

#include "control/proto.h"

struct moat_event_feed;

/* The answer to req (cmd: its index in moat_cmds); a new object the shell puts. */
typedef json_object *(*moat_handler)(void *ctx, int cmd, json_object *req);

struct moat_server {
	const moat_handler *handlers; /* MOAT_CMD_COUNT of them */
	void *ctx;		      /* passed to every handler */
	struct moat_event_feed *feed; /* "events" (and -f followers); NULL: not served */
	/* "capture": the daemon takes fd (it closes it); NULL: not served. */
	void (*stream)(void *ctx, int cmd, json_object *req, int fd);
};

/* {"ok": false, "error": msg} */
json_object *moat_reply_error(const char *msg);
/* {"ok": true} */
json_object *moat_reply_ok(void);
/* {"ok": true} when err is 0, else {"ok": false, "error": msg} */
json_object *moat_reply_result(int err, const char *msg);

/*
 * The answer to one parsed request (NULL: it was not JSON), by its handler in h
 * (MOAT_CMD_COUNT entries), or the shell's error when there is none.
 */
json_object *moat_server_dispatch(const moat_handler *h, void *ctx, json_object *req);

/* Serve one accepted connection: read the request, answer it, close fd (or feed it). */
void moat_server_serve(const struct moat_server *s, int fd);

#endif
