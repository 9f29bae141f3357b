// SPDX-License-Identifier: BSD-3-Clause
#include "control/proto.h"

#include "control/config.h"
#include "flow/backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

const struct moat_cmd_desc moat_cmds[MOAT_CMD_COUNT] = {
	[MOAT_CMD_STATUS] = { "status", "", "the daemon: mode, interfaces, cookie path" },
	[MOAT_CMD_STATS] = { "stats", "", "packets per reason and verdict" },
	[MOAT_CMD_FLOWS] = { "flows", "[--list] [--state S] [--cidr C] [--port P] [-n N]",
			     "flows per TCP state, and a filtered list" },
	[MOAT_CMD_BLOCK] = { "block", "CIDR [--ttl S]", "add CIDR to the deny list (live)" },
	[MOAT_CMD_UNBLOCK] = { "unblock", "CIDR", "remove CIDR from the deny list" },
	[MOAT_CMD_ALLOW] = { "allow", "CIDR [--ttl S]", "add CIDR to the allow list (live)" },
	[MOAT_CMD_UNALLOW] = { "unallow", "CIDR", "remove CIDR from the allow list" },
	[MOAT_CMD_RELOAD] = { "reload", "", "re-read the config file; a bad one is refused" },
	[MOAT_CMD_TOP] = { "top", "[-n COUNT] [-d SECONDS]",
			   "live: rates per reason, busiest sources (moatd)" },
	[MOAT_CMD_LIMITS] = { "limits", "[show | set KEY=N [KEY=N ...]]",
			      "per-source and per-prefix limits, live" },
	[MOAT_CMD_EVENTS] = { "events", "[-f]",
			      "recent sampled events as JSON lines; -f: follow" },
	[MOAT_CMD_CAPTURE] = { "capture",
			       "[-w FILE|-] [--reason R[,R..]] [--verdict V] [-c N] [--snaplen N] [--sample N]",
			       "pcapng of the packets moat decides, live" },
	[MOAT_CMD_DRAIN] = { "drain", "", "withdraw this node's routes (bgp:), until undrain" },
	[MOAT_CMD_UNDRAIN] = { "undrain", "", "announce this node's routes again when healthy" },
	[MOAT_CMD_RESTART] = { "restart", "[--fresh]",
			       "mode dpdk: a new moat-dp takes over the flows (upgrades)" },
	[MOAT_CMD_SECRETS] = { "secrets", "", NULL },
	[MOAT_CMD_SIGNATURES] = { "signatures", "", NULL },
};

int moat_cmd_lookup(const char *name)
{
	int i;

	for (i = 0; i < MOAT_CMD_COUNT; i++)
		if (!strcmp(moat_cmds[i].name, name))
			return i;
	return -1;
}

static int read_line(int fd, char **out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 == cap) {
			char *nb;

			if (cap >= MOAT_PROTO_MAX_LINE) {
				free(buf);
				return -E2BIG;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			free(buf);
			return -ETIMEDOUT; /* SO_RCVTIMEO ran out */
		}
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n))
			break;
	}
	buf[len] = '\0';
	*out = buf;
	return (int)len;
}

/*
 * Bound connect, send and read on fd to timeout_ms (0: no bound): a daemon whose
 * listen backlog is full blocks connect() on a Unix socket until SO_SNDTIMEO.
 */
static void set_timeouts(int fd, unsigned int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	if (!timeout_ms)
		return;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Connect and send one request line: the fd, or -errno with err. */
static int send_request(const char *socket_path, json_object *req, unsigned int timeout_ms,
			char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *text;
	int fd, r;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long", socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_timeouts(fd, timeout_ms);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		snprintf(err, errlen, "cannot reach the daemon on %s: %s (is it running?)", socket_path,
			 strerror(errno));
		close(fd);
		return r;
	}
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	/*
	 * No SIGPIPE: a daemon that refuses us (not root) answers and closes without
	 * reading; its answer is still there to read.
	 */
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) >= 0)
		send(fd, "\n", 1, MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	return fd;
}

int moat_ctl_open_stream(const char *socket_path, json_object *req, char *err, size_t errlen)
{
	return send_request(socket_path, req, 0, err, errlen);
}

int moat_ctl_call_within(const char *socket_path, json_object *req, unsigned int timeout_ms,
			 json_object **reply, char *err, size_t errlen)
{
	char *line = NULL;
	int fd, r;

	fd = send_request(socket_path, req, timeout_ms, err, errlen);
	if (fd < 0)
		return fd;
	r = read_line(fd, &line);
	close(fd);
	if (r == -ETIMEDOUT) {
		snprintf(err, errlen, "%s: the daemon did not answer within %u ms", socket_path,
			 timeout_ms);
		return r;
	}
	if (r <= 0) {
		free(line);
		snprintf(err, errlen, "%s: the daemon closed the connection without an answer", socket_path);
		return r < 0 ? r : -EPROTO;
	}
	*reply = json_tokener_parse(line);
	free(line);
	if (!*reply) {
		snprintf(err, errlen, "%s: the daemon answered something that is not JSON", socket_path);
		return -EPROTO;
	}
	return 0;
}

int moat_ctl_call(const char *socket_path, json_object *req, json_object **reply, char *err,
		  size_t errlen)
{
	return moat_ctl_call_within(socket_path, req, 0, reply, err, errlen);
}

int moat_proto_apply_list(struct moat_config *cfg, int cmd, json_object *req, char *err,
			  size_t errlen)
{
	struct moat_cidr_list *l = (cmd == MOAT_CMD_BLOCK || cmd == MOAT_CMD_UNBLOCK) ? &cfg->deny :
											  &cfg->allow;
	json_object *jc;
	struct moat_cidr c;
	const char *text;

	if (!json_object_object_get_ex(req, "cidr", &jc) || !json_object_is_type(jc, json_type_string)) {
		snprintf(err, errlen, "missing \"cidr\"");
		return -EINVAL;
	}
	text = json_object_get_string(jc);
	if ((size_t)json_object_get_string_len(jc) != strlen(text)) {
		snprintf(err, errlen, "\"cidr\" holds a NUL byte");
		return -EINVAL;
	}
	if (moat_cidr_parse(text, &c)) {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 CIDR", text);
		return -EINVAL;
	}
	if (cmd == MOAT_CMD_UNBLOCK || cmd == MOAT_CMD_UNALLOW) {
		if (moat_cidr_list_remove(l, &c)) {
			snprintf(err, errlen, "%s is not on the %s list", text, l == &cfg->deny ? "deny" : "allow");
			return -ENOENT;
		}
		return 0;
	}
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].plen == c.plen && l->v[i].family == c.family &&
		    moat_addr_eq(&l->v[i].addr, &c.addr))
			return 0; /* already there */
	if (moat_cidr_list_add(l, &c)) {
		snprintf(err, errlen, "out of memory adding %s", text);
		return -ENOMEM;
	}
	return 0;
}

int moat_ctl_listen(const char *path, int flags)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	/* Root only: the socket changes policy. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) || listen(fd, 16)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int ttl_find(const struct moat_ttls *t, int cmd, const struct moat_cidr *c)
{
	unsigned int i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].cmd == cmd && t->v[i].cidr.family == c->family &&
		    t->v[i].cidr.plen == c->plen && moat_addr_eq(&t->v[i].cidr.addr, &c->addr))
			return (int)i;
	return -1;
}

int moat_ttl_valid(int cmd, json_object *req, char *err, size_t errlen)
{
	json_object *jt;
	int64_t ttl;

	if (!json_object_object_get_ex(req, "ttl", &jt))
		return 0;
	ttl = json_object_is_type(jt, json_type_int) ? json_object_get_int64(jt) : 0;
	if ((cmd != MOAT_CMD_BLOCK && cmd != MOAT_CMD_ALLOW) || ttl < 1 || ttl > 31 * 86400) {
		snprintf(err, errlen, "\"ttl\" must be 1..2678400 seconds, on block or allow");
		return -EINVAL;
	}
	return 0;
}

int moat_ttl_note(struct moat_ttls *t, int cmd, json_object *req, long long now, char *err,
		  size_t errlen)
{
	int add = cmd == MOAT_CMD_BLOCK || cmd == MOAT_CMD_ALLOW;
	int base = cmd == MOAT_CMD_UNBLOCK ? MOAT_CMD_BLOCK : cmd == MOAT_CMD_UNALLOW ? MOAT_CMD_ALLOW : cmd;
	json_object *jt, *jc;
	struct moat_cidr c;
	int64_t ttl = 0;
	int i;

	if (!json_object_object_get_ex(req, "cidr", &jc) || moat_cidr_parse(json_object_get_string(jc), &c))
		return 0;
	if (json_object_object_get_ex(req, "ttl", &jt)) {
		if (!add || !json_object_is_type(jt, json_type_int) ||
		    (ttl = json_object_get_int64(jt)) < 1 || ttl > 31 * 86400) {
			snprintf(err, errlen, "\"ttl\" must be 1..2678400 seconds, on block or allow");
			return -EINVAL;
		}
	}
	i = ttl_find(t, base, &c);
	if (!ttl) {
		/* Without a ttl the entry stays (block) or is gone (unblock): forget any expiry. */
		if (i >= 0)
			t->v[i] = t->v[--t->n];
		return 0;
	}
	if (i < 0) {
		if (t->n == MOAT_TTL_MAX) {
			snprintf(err, errlen, "at most %d entries with a ttl", MOAT_TTL_MAX);
			return -ENOSPC;
		}
		i = (int)t->n++;
	}
	t->v[i].cidr = c;
	t->v[i].cmd = base;
	t->v[i].expires = now + ttl * 1000;
	return 0;
}

int moat_ttl_expire(struct moat_ttls *t, struct moat_config *cfg, long long now)
{
	unsigned int i = 0;
	int gone = 0;

	while (i < t->n) {
		if (t->v[i].expires > now) {
			i++;
			continue;
		}
		moat_cidr_list_remove(t->v[i].cmd == MOAT_CMD_BLOCK ? &cfg->deny : &cfg->allow,
				      &t->v[i].cidr);
		t->v[i] = t->v[--t->n];
		gone++;
	}
	return gone;
}

int moat_proto_apply_limits(struct moat_config *cfg, json_object *req, char *err, size_t errlen)
{
	struct moat_config next = *cfg; /* limits are plain fields: a shallow copy will do */
	json_object *set;

	if (!json_object_object_get_ex(req, "set", &set))
		return 0;
	if (!json_object_is_type(set, json_type_object)) {
		snprintf(err, errlen, "limits: \"set\" must be an object of KEY: N");
		return -EINVAL;
	}
	json_object_object_foreach(set, key, val)
	{
		int r;

		if (!json_object_is_type(val, json_type_int)) {
			snprintf(err, errlen, "limits: %s: expected an integer", key);
			return -EINVAL;
		}
		r = moat_config_set_limit(&next, key, json_object_get_int64(val), err, errlen);
		if (r)
			return r;
	}
	cfg->pol = next.pol;
	return 0;
}

static void add_limit(const char *name, long long v, void *ctx)
{
	json_object_object_add(ctx, name, json_object_new_int64(v));
}

json_object *moat_proto_limits_json(const struct moat_config *cfg)
{
	json_object *j = json_object_new_object();

	moat_config_each_limit(cfg, add_limit, j);
	return j;
}

int moat_proto_flow_filter(json_object *req, int (*state_of)(const char *name),
			   struct moat_flow_filter *f, size_t *limit, char *err, size_t errlen)
{
	json_object *v;

	memset(f, 0, sizeof(*f));
	f->state = -1;
	*limit = 100;
	if (json_object_object_get_ex(req, "state", &v) &&
	    (f->state = state_of(json_object_get_string(v))) < 0) {
		snprintf(err, errlen, "flows: unknown state '%s'", json_object_get_string(v));
		return -EINVAL;
	}
	if (json_object_object_get_ex(req, "cidr", &v)) {
		if (moat_cidr_parse(json_object_get_string(v), &f->cidr)) {
			snprintf(err, errlen, "flows: '%s' is not an IPv4 or IPv6 CIDR",
				 json_object_get_string(v));
			return -EINVAL;
		}
		f->has_cidr = true;
	}
	if (json_object_object_get_ex(req, "port", &v))
		f->port = (u16)json_object_get_int(v);
	if (json_object_object_get_ex(req, "limit", &v))
		*limit = (size_t)json_object_get_int64(v);
	if (*limit > 100000)
		*limit = 100000;
	return 0;
}

void moat_log(const char *prog, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
