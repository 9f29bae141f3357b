// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatd's dpdk backend (the inline appliance): drives moat-dp over its control
 * socket through dplink.c, starting and supervising it when dpdk.command is
 * set. moat-dp keeps the live policy, lists and their ttls: moatd hands it the
 * cookie secrets and the compiled signatures, passes the operator's commands
 * on, follows its event stream for top and `events`, and exports its counters.
 *
 * moat-dp outlives moatd: a moatd that starts while one answers on the socket
 * re-attaches to it as it runs (policy, lists, signatures untouched), adopts
 * its random cookie secrets so handshakes in flight complete, and supervises it
 * from then on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/capture.h"
#include "control/metrics.h"
#include "control/server.h"
#include "daemon/dplink.h"
#include "daemon/moatd.h"
#include "flow/sigs.h"

struct dpdk_backend {
	struct moat_dplink dp;
	long long dp_generation;   /* the moat-dp our secrets were pushed to */
	bool secrets_due;	   /* rotated: handed over by the next tick */
	bool running;		   /* started whole: a failed start leaves a re-attached moat-dp be */
	struct moat_sig_set *sigs; /* compiled here, handed to moat-dp as a file */
	char sig_file[160];
};

static struct dpdk_backend *db(const struct moatd *d)
{
	return d->be_state;
}

static int dpdk_check(const struct moat_config *cfg, const char *path, char *err, size_t errlen)
{
	struct moat_dplink l;
	int r = moat_dplink_init(&l, cfg, path, err, errlen);

	free(l.words);
	return r;
}

/* A request passed on to moat-dp as it came, and its answer back. */
static json_object *forward(struct moatd *d, const char *cmd, json_object *req)
{
	json_object *reply = NULL;
	char err[256];

	if (moat_dplink_call(&db(d)->dp, cmd, req, &reply, err, sizeof(err)))
		return moat_reply_error(err);
	return reply;
}

static bool reply_ok(json_object *reply)
{
	json_object *ok;

	return json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok);
}

static int push_secrets(struct moatd *d)
{
	const struct moat_siphash_key *k[2] = { &d->secrets.cur, &d->secrets.prev };
	static const char *const names[2] = { "cur", "prev" };
	json_object *req = json_object_new_object(), *reply = NULL;
	char hex[40], err[256];
	int i, r;

	for (i = 0; i < 2; i++) {
		snprintf(hex, sizeof(hex), "%016llx%016llx", (unsigned long long)k[i]->k0,
			 (unsigned long long)k[i]->k1);
		json_object_object_add(req, names[i], json_object_new_string(hex));
	}
	r = moat_dplink_call(&db(d)->dp, "secrets", req, &reply, err, sizeof(err));
	json_object_put(req);
	json_object_put(reply);
	return r;
}

/*
 * Save the compiled signatures for moat-dp (its socket's folder, 0600) and hand
 * it the file, alone or with a reload (cmd "reload"); with none, an empty name.
 */
static int push_signatures(struct moatd *d, json_object **reload_reply)
{
	struct dpdk_backend *b = db(d);
	json_object *req = json_object_new_object(), *reply = NULL;
	char err[512];
	int r = 0;

	if (b->sigs) {
		mode_t old = umask(077);

		r = moat_sigs_save(b->sigs, b->sig_file, err, sizeof(err));
		umask(old);
		if (r) {
			logmsg("%s", err);
			json_object_put(req);
			return r;
		}
	}
	json_object_object_add(req, reload_reply ? "signatures_file" : "file",
			       json_object_new_string(b->sigs ? b->sig_file : ""));
	r = moat_dplink_call(&b->dp, reload_reply ? "reload" : "signatures", req, &reply, err,
			     sizeof(err));
	json_object_put(req);
	if (r) {
		if (reload_reply)
			*reload_reply = moat_reply_error(err);
		return r;
	}
	if (reload_reply) {
		*reload_reply = reply;
		return 0;
	}
	r = reply_ok(reply) ? 0 : -EIO;
	json_object_put(reply);
	return r;
}

static int parse_key(json_object *reply, const char *name, struct moat_siphash_key *k)
{
	unsigned long long a, b;
	json_object *v;
	char extra;

	if (!json_object_object_get_ex(reply, name, &v) ||
	    sscanf(json_object_get_string(v), "%16llx%16llx%c", &a, &b, &extra) != 2)
		return -EPROTO;
	k->k0 = a;
	k->k1 = b;
	return 0;
}

/* The cookie secrets a running moat-dp holds (asked as root), and their ids. */
static int fetch_secrets(struct moatd *d, struct moat_cookie_secrets *s, char *ids, size_t idlen)
{
	json_object *req = json_object_new_object(), *reply = NULL, *v;
	char err[256];
	int r;

	json_object_object_add(req, "get", json_object_new_boolean(1));
	r = moat_dplink_call(&db(d)->dp, "secrets", req, &reply, err, sizeof(err));
	json_object_put(req);
	if (!r && (!reply_ok(reply) || parse_key(reply, "cur", &s->cur) ||
		   parse_key(reply, "prev", &s->prev))) {
		snprintf(err, sizeof(err), "%s", json_object_object_get_ex(reply, "error", &v) ?
			 json_object_get_string(v) : "no secrets in its answer");
		r = -EPROTO;
	}
	if (r)
		logmsg("moat-dp does not tell its cookie secrets (%s): handing it new ones, handshakes in flight fail once",
		       err);
	else
		snprintf(ids, idlen, "%s", json_object_object_get_ex(reply, "ids", &v) ?
			 json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "?");
	json_object_put(reply);
	return r;
}

/*
 * The cookie secrets at start. Random ones of a moat-dp that runs on (it was
 * re-attached) are adopted: new ones would fail every handshake in flight.
 * Derived ones (secret_file) are the same on both sides.
 */
static int start_secrets(struct moatd *d, bool attached)
{
	struct moat_cookie_secrets kept;
	char ids[128];
	int r;

	if (!attached || d->cfg.secret_file[0] || fetch_secrets(d, &kept, ids, sizeof(ids)))
		return moatd_secrets_init(d, NULL);
	r = moatd_secrets_init(d, &kept);
	if (r == 1)
		logmsg("adopted moat-dp's cookie secrets %s: handshakes in flight complete", ids);
	return r < 0 ? r : 0;
}

static int dpdk_start(struct moatd *d)
{
	struct dpdk_backend *b = calloc(1, sizeof(*b));
	char err[MOAT_CONFIG_ERR_LEN];
	const char *slash;
	int r, dir_len;

	if (!b)
		return -ENOMEM;
	d->be_state = b;
	r = moat_dplink_init(&b->dp, &d->cfg, d->config_path, err, sizeof(err));
	if (r) {
		logmsg("%s", err);
		return r;
	}
	r = moat_dplink_attach(&b->dp, d->config_path, err, sizeof(err));
	if (r < 0) {
		logmsg("%s", err);
		return r;
	}
	/* Handed to moat-dp once it answers. */
	if ((r = start_secrets(d, r == 1)) < 0)
		return r;
	r = moat_sigs_compile(&d->cfg, d->config_path, &b->sigs, err, sizeof(err));
	if (r) {
		logmsg("%s", err);
		return r;
	}
	/* Beside moat-dp's socket: a folder only root can enter. */
	slash = strrchr(b->dp.socket, '/');
	dir_len = slash ? (int)(slash - b->dp.socket) : 1;
	snprintf(b->sig_file, sizeof(b->sig_file), "%.*s/moat-signatures.db", dir_len,
		 slash ? b->dp.socket : ".");
	if (!b->dp.argv[0])
		logmsg("mode dpdk: driving the moat-dp on %s (dpdk.command not set: not starting one)",
		       b->dp.socket);
	moat_dplink_tick(&b->dp);
	return 0;
}

/* moat-dp writes the event log itself: its stream is followed once it answers (tick). */
static int dpdk_open_events(struct moatd *d)
{
	db(d)->running = true; /* the last step of moatd's start */
	return 0;
}

static void dpdk_stop(struct moatd *d)
{
	struct dpdk_backend *b = db(d);

	if (!b)
		return;
	/* A moatd that failed to start has no business stopping the moat-dp it found. */
	moat_dplink_stop(&b->dp, d->cfg.keep_attached || (b->dp.adopted && !b->running));
	if (b->sig_file[0])
		unlink(b->sig_file);
	moat_sigs_free(b->sigs);
	free(b->dp.words);
	free(b);
	d->be_state = NULL;
}

/*
 * A moat-dp that (re)appeared gets the secrets and, unless it ran on before we
 * re-attached (its signatures stay until a reload), the signatures; after a
 * rotation, the secrets alone. Its event stream is followed, for top and
 * `events`.
 */
static void dpdk_tick(struct moatd *d)
{
	struct dpdk_backend *b = db(d);

	moat_dplink_tick(&b->dp);
	if (!b->dp.up)
		return;
	if (b->dp_generation != b->dp.generation) {
		if (!push_secrets(d) &&
		    (moat_dplink_reattached(&b->dp) || !push_signatures(d, NULL))) {
			b->dp_generation = b->dp.generation;
			b->secrets_due = false;
		} else {
			logmsg("cannot hand the SYN cookie secrets or signatures to moat-dp; retrying");
		}
	} else if (b->secrets_due) {
		if (!push_secrets(d))
			b->secrets_due = false;
		else
			logmsg("cannot hand the rotated SYN cookie secrets to moat-dp; retrying");
	}
	if (b->dp.ev_fd < 0 && moat_dplink_events_open(&b->dp) >= 0 && moatd_watch(d, b->dp.ev_fd))
		logmsg("cannot follow moat-dp's events: %s", strerror(errno));
}

static void dpdk_secrets_rotated(struct moatd *d)
{
	db(d)->secrets_due = true; /* pushed by the next tick */
}

static int reason_by_name(const char *name)
{
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++)
		if (!strcmp(moat_reason_name(r), name))
			return r;
	return -1;
}

/* The source and reason of an event line, for top. */
static void count_event_line(struct moatd *d, const char *line)
{
	json_object *j = json_tokener_parse(line), *v;
	struct moat_event ev = { 0 };
	const char *src;
	int r;

	if (!j)
		return;
	src = json_object_object_get_ex(j, "src", &v) ? json_object_get_string(v) : "";
	r = json_object_object_get_ex(j, "reason", &v) ? reason_by_name(json_object_get_string(v)) : -1;
	ev.family = strchr(src, ':') ? 6 : 4;
	if (r >= 0 && inet_pton(ev.family == 6 ? AF_INET6 : AF_INET, src, ev.saddr.w) == 1) {
		ev.reason = (u8)r;
		if (json_object_object_get_ex(j, "tcp_flags", &v))
			ev.tcp_flags = (u8)json_object_get_int(v);
		moatd_top_count(&d->top, &ev, d->cfg.event_sample);
	}
	json_object_put(j);
}

/* An event line from moat-dp (which writes the event log itself): top, then followers. */
static void on_event_line(const char *line, void *ctx)
{
	struct moatd *d = ctx;
	size_t len = strlen(line);
	char *out;

	count_event_line(d, line);
	out = malloc(len + 2);
	if (!out)
		return;
	memcpy(out, line, len);
	memcpy(out + len, "\n", 2);
	moat_feed_publish(&d->feed, out);
	free(out);
}

static void dpdk_on_fd(struct moatd *d, int fd)
{
	struct dpdk_backend *b = db(d);

	if (fd == b->dp.ev_fd && moat_dplink_events_read(&b->dp, on_event_line, d) < 0)
		moatd_unwatch(d, fd); /* closed: fd gone */
}

/* The signatures are compiled here and handed over with the reload. */
static int dpdk_reload(struct moatd *d, struct moat_config *next, char *err, size_t errlen)
{
	struct dpdk_backend *b = db(d);
	struct moat_sig_set *sigs = NULL, *old = b->sigs;
	json_object *reply = NULL, *e;
	int r = 0;

	if (moat_sigs_compile(next, d->config_path, &sigs, err, errlen)) {
		moat_config_free(next);
		return -EINVAL; /* the running database stays */
	}
	b->sigs = sigs;
	push_signatures(d, &reply);
	if (!reply_ok(reply)) {
		b->sigs = old;
		moat_sigs_free(sigs);
		snprintf(err, errlen, "moat-dp refused the reload: %s",
			 json_object_object_get_ex(reply, "error", &e) ? json_object_get_string(e) : "?");
		moat_config_free(next);
		r = -EINVAL;
	} else {
		moat_sigs_free(old);
		moatd_take_config(d, next);
		logmsg("reloaded %s (moat-dp)", d->config_path);
	}
	json_object_put(reply);
	return r;
}

static json_object *dpdk_stats(struct moatd *d)
{
	json_object *j = forward(d, "stats", NULL), *cookies;

	if (reply_ok(j)) {
		cookies = json_object_new_object();
		json_object_object_add(cookies, "secret_rotations",
				       json_object_new_int64((int64_t)d->rotations));
		json_object_object_add(j, "cookies", cookies);
	}
	return j;
}

static void dpdk_status(struct moatd *d, json_object *j)
{
	struct dpdk_backend *b = db(d);
	json_object *dp = forward(d, "status", NULL);

	json_object_object_del(dp, "ok");
	json_object_object_add(j, "moat_dp_socket", json_object_new_string(b->dp.socket));
	json_object_object_add(j, "moat_dp_supervised", json_object_new_boolean(b->dp.argv[0] != NULL));
	json_object_object_add(j, "moat_dp_reattached", json_object_new_boolean(moat_dplink_reattached(&b->dp)));
	json_object_object_add(j, "moat_dp_restarts", json_object_new_int((int)b->dp.restarts));
	json_object_object_add(j, "moat_dp_planned_restarts",
			       json_object_new_int((int)b->dp.planned_restarts));
	json_object_object_add(j, "moat_dp", dp);
}

/* moat-dp keeps the lists, and their ttls, of its live config. */
static json_object *dpdk_list(struct moatd *d, int cmd, json_object *req)
{
	return forward(d, moat_cmds[cmd].name, req);
}

static json_object *dpdk_flows(struct moatd *d, json_object *req)
{
	return forward(d, "flows", req);
}

static json_object *dpdk_limits(struct moatd *d, json_object *req)
{
	return forward(d, "limits", req);
}

/*
 * moat-dp ends leaving its flows in its state file; the link starts the next
 * one at once (a re-attached moat-dp's exit status is not ours to see, so the
 * exit is marked planned first). Without dpdk.command, whoever runs moat-dp
 * restarts it (exit status MOAT_DP_EXIT_RESTART).
 */
static json_object *dpdk_restart(struct moatd *d, json_object *req)
{
	struct dpdk_backend *b = db(d);
	json_object *reply;

	if (b->dp.pid)
		moat_dplink_planned(&b->dp);
	reply = forward(d, "restart", req);
	if (!reply_ok(reply))
		b->dp.planned = false;
	json_object_object_add(reply, "supervised", json_object_new_boolean(b->dp.argv[0] != NULL));
	return reply;
}

static void fill_metrics_dpdk(struct moatd *d, struct moat_text *t)
{
	json_object *st = forward(d, "stats", NULL), *fl = forward(d, "flows", NULL);

	moat_metrics_dataplane(t, st, fl);
	moat_text_family(t, "moat_dataplane_up", "gauge", "1 when moat-dp answers moatd.");
	moat_text_printf(t, "moat_dataplane_up %d\n", json_object_object_get_ex(st, "workers", NULL));
	moat_text_family(t, "moat_dataplane_restarts_total", "counter", "Restarts of moat-dp by moatd.");
	moat_text_printf(t, "moat_dataplane_restarts_total %u\n", db(d)->dp.restarts);
	json_object_put(st);
	json_object_put(fl);
}

/*
 * moatctl capture: moat-dp streams it (its workers copy, it counts what is
 * lost); moatd only relays the bytes, on a thread of their own so a slow
 * client never holds the loop. A client that leaves fails the next write
 * (moat-dp sends a line every second), which closes moat-dp's side and ends
 * the capture there.
 */
struct capture_relay {
	int from, to;
};

static void *capture_relay_main(void *arg)
{
	struct capture_relay *r = arg;
	char buf[16384];
	ssize_t n;

	while ((n = read(r->from, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
		ssize_t off = 0;

		while (off < n) {
			ssize_t w = send(r->to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	close(r->from);
	close(r->to);
	free(r);
	return NULL;
}

static void dpdk_capture(struct moatd *d, int fd, json_object *req)
{
	struct capture_relay *r = malloc(sizeof(*r));
	pthread_attr_t attr;
	pthread_t t;
	char err[256] = "";
	int dpfd;

	dpfd = r ? moat_ctl_open_stream(db(d)->dp.socket, req, err, sizeof(err)) : -ENOMEM;
	if (dpfd >= 0) {
		r->from = dpfd;
		r->to = fd;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (!pthread_create(&t, &attr, capture_relay_main, r)) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
		close(dpfd);
		snprintf(err, sizeof(err), "cannot start the capture relay");
	}
	free(r);
	if (!err[0])
		snprintf(err, sizeof(err), "%s", strerror(-dpfd));
	moat_capture_refuse(fd, err);
}

const struct moatd_backend_ops moatd_backend_dpdk = {
	.name = "dpdk",
	.needs_interfaces = false,
	.takes_signatures = true,
	.check = dpdk_check,
	.start = dpdk_start,
	.open_events = dpdk_open_events,
	.stop = dpdk_stop,
	.tick = dpdk_tick,
	.secrets_rotated = dpdk_secrets_rotated,
	.on_fd = dpdk_on_fd,
	.reload = dpdk_reload,
	.stats = dpdk_stats,
	.status = dpdk_status,
	.list = dpdk_list,
	.flows = dpdk_flows,
	.limits = dpdk_limits,
	.restart = dpdk_restart,
	.fill_metrics = fill_metrics_dpdk,
	.capture = dpdk_capture,
};
