// SPDX-License-Identifier: BSD-3-Clause
#include "control/server.h"

#include "control/events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MOAT_SERVER_REQUEST_MAX 4096

json_object *moat_reply_result(int err, const char *msg)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "ok", json_object_new_boolean(!err));
	if (err)
		json_object_object_add(j, "error", json_object_new_string(msg));
	return j;
}

json_object *moat_reply_error(const char *msg)
{
	return moat_reply_result(-1, msg);
}

json_object *moat_reply_ok(void)
{
	return moat_reply_result(0, NULL);
}

/* The command a request names: its index in moat_cmds, or -1. */
static int request_cmd(json_object *req)
{
	json_object *cmd;

	if (!json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string))
		return -1;
	return moat_cmd_lookup(json_object_get_string(cmd));
}

json_object *moat_server_dispatch(const moat_handler *h, void *ctx, json_object *req)
{
	int id;

	if (!req)
		return moat_reply_error("request is not JSON");
	id = request_cmd(req);
	if (id < 0)
		return moat_reply_error("unknown command");
	if (!h[id])
		return moat_reply_error("not supported by this daemon");
	return h[id](ctx, id, req);
}

/* One request line (up to the first newline, or what came before EOF), NUL-ended. */
static void read_request(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
}

void moat_server_serve(const struct moat_server *s, int fd)
{
	char buf[MOAT_SERVER_REQUEST_MAX];
	json_object *req, *out, *v;

	read_request(fd, buf, sizeof(buf));
	req = json_tokener_parse(buf);
	if (s->feed && req && request_cmd(req) == MOAT_CMD_EVENTS) {
		int follow =
		    json_object_object_get_ex(req, "follow", &v) && json_object_get_boolean(v);

		json_object_put(req);
		moat_feed_subscribe(s->feed, fd, follow); /* the feed owns fd now */
		return;
	}
	if (s->stream && req && request_cmd(req) == MOAT_CMD_CAPTURE) {
		s->stream(s->ctx, MOAT_CMD_CAPTURE, req, fd); /* fd is the daemon's now */
		json_object_put(req);
		return;
	}
	out = moat_server_dispatch(s->handlers, s->ctx, req);
	dprintf(fd, "%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	json_object_put(req);
	close(fd);
}
