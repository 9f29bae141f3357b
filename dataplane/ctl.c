// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp's control thread, on the main lcore: its config, the control socket
 * (JSON lines, answered through the shared command table: control/server.h),
 * the sampled events, the cookie secrets' rotation and list entries' ttls.
 * Changes reach the workers as new copies swapped in (live.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ring.h>

#include "dataplane/dp.h"
#include "dataplane/ctl.h"

#include "control/config.h"
#include "control/events.h"
#include "control/proto.h"
#include "control/secrets.h"
#include "control/server.h"
#include "core/siphash.h"
#include "flow/sigs.h"

pthread_mutex_t dp_ctl_lock = PTHREAD_MUTEX_INITIALIZER;

void dp_add_u64(json_object *j, const char *key, uint64_t v)
{
	json_object_object_add(j, key, json_object_new_int64((int64_t)v));
}

/* moat-dp's "ok": with how many times the live config was replaced. */
json_object *dp_reply_ok(struct dp_app *app)
{
	json_object *j = moat_reply_ok();

	dp_add_u64(j, "updates", app->updates);
	return j;
}

/*
 * A change of the live config: fn changes a copy (0, or -errno with err), which
 * is swapped in; on an error the live config stays as it was.
 */
typedef int dp_change_fn(struct dp_app *app, struct moat_config *next, void *arg, char *err,
			 size_t errlen);

static int change_live(struct dp_app *app, dp_change_fn *fn, void *arg, char *err, size_t errlen)
{
	struct moat_config *next = malloc(sizeof(*next));
	int r;

	if (!next || moat_config_clone(next, app->live)) {
		free(next);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = fn(app, next, arg, err, errlen);
	if (r) {
		moat_config_free(next);
		free(next);
		return r;
	}
	dp_publish_config(app, next);
	return 0;
}

struct list_change {
	int cmd;
	json_object *req;
};

static int apply_list(struct dp_app *app, struct moat_config *next, void *arg, char *err,
		      size_t errlen)
{
	const struct list_change *l = arg;

	if (moat_ttl_valid(l->cmd, l->req, err, errlen) ||
	    moat_proto_apply_list(next, l->cmd, l->req, err, errlen) ||
	    moat_ttl_note(&app->ctl->ttls, l->cmd, l->req, (long long)(dp_now_ns(app) / 1000000),
			  err, errlen))
		return -EINVAL;
	return 0;
}

/* block/unblock/allow/unallow */
static json_object *ctl_list(void *ctx, int cmd, json_object *req)
{
	struct list_change l = { cmd, req };
	char err[256];

	if (change_live(ctx, apply_list, &l, err, sizeof(err)))
		return moat_reply_error(err);
	return dp_reply_ok(ctx);
}

static int apply_limits(struct dp_app *app, struct moat_config *next, void *arg, char *err,
			size_t errlen)
{
	(void)app;
	return moat_proto_apply_limits(next, arg, err, errlen);
}

/* limits: shown, or changed ({"set": {...}}). */
static json_object *ctl_limits(void *ctx, int cmd, json_object *req)
{
	struct dp_app *app = ctx;
	json_object *j;
	char err[256];

	(void)cmd;
	if (json_object_object_get_ex(req, "set", NULL) &&
	    change_live(app, apply_limits, req, err, sizeof(err)))
		return moat_reply_error(err);
	j = dp_reply_ok(app);
	json_object_object_add(j, "limits", moat_proto_limits_json(app->live));
	return j;
}

static int expire(struct dp_app *app, struct moat_config *next, void *arg, char *err,
		  size_t errlen)
{
	(void)err;
	(void)errlen;
	moat_ttl_expire(&app->ctl->ttls, next, *(long long *)arg);
	return 0;
}

/* Entries whose ttl ran out leave the live lists. */
static void expire_ttls(struct dp_app *app)
{
	const struct moat_ttls *t = &app->ctl->ttls;
	long long now = (long long)(dp_now_ns(app) / 1000000);
	char err[64];
	unsigned int i;

	for (i = 0; i < t->n && t->v[i].expires > now; i++)
		;
	if (i < t->n)
		change_live(app, expire, &now, err, sizeof(err));
}

/* ---- reload, signatures, secrets ---- */

/*
 * The signatures of a reloaded config: the database moatd compiled and saved
 * ({"signatures_file": PATH}), or compiled here. NULL set when there are none.
 */
static int reload_sigs(struct dp_app *app, const struct moat_config *next, json_object *req,
		       struct moat_sig_set **set, char *err, size_t errlen)
{
	json_object *f;

	if (req && json_object_object_get_ex(req, "signatures_file", &f) &&
	    *json_object_get_string(f))
		return moat_sigs_load(json_object_get_string(f), set, err, errlen);
	return moat_sigs_compile(next, app->config_path, set, err, errlen);
}

/* What a reload may not change: 0, or -EINVAL with err. */
static int reload_check(const struct moat_config *now, const struct moat_config *next,
			char *err, size_t errlen)
{
	if (next->flow_table_size != now->flow_table_size ||
	    next->source_table_size != now->source_table_size) {
		snprintf(err, errlen, "tables: sizes are fixed at start; restart moat-dp to change them");
		return -EINVAL;
	}
	if (strcmp(next->secret_file, now->secret_file)) {
		snprintf(err, errlen, "secret_file applies at start: restart moat-dp to change it");
		return -EINVAL;
	}
	if (strcmp(next->dp_state, now->dp_state)) {
		/* The tables live in the file: a moat-dp can hold only the one it started with. */
		snprintf(err, errlen, "dpdk.state applies at start: restart moat-dp to change it "
			 "(the next one starts empty: its flows stay in the old file)");
		return -EINVAL;
	}
	if (strcmp(next->dp_metrics, now->dp_metrics)) {
		snprintf(err, errlen, "dpdk.metrics applies at start: restart moat-dp to change it");
		return -EINVAL;
	}
	return 0;
}

/* reload: the config file again; a bad one is refused and the running policy stays. */
static json_object *ctl_reload(void *ctx, int cmd, json_object *req)
{
	struct dp_app *app = ctx;
	struct dp_ctl *c = app->ctl;
	struct moat_config *next = malloc(sizeof(*next));
	char err[MOAT_CONFIG_ERR_LEN];
	struct moat_sig_set *set = NULL;

	(void)cmd;
	if (!next)
		return moat_reply_error("out of memory");
	if (moat_config_load(app->config_path, next, err, sizeof(err))) {
		free(next);
		return moat_reply_error(err);
	}
	if (reload_sigs(app, next, req, &set, err, sizeof(err)) ||
	    reload_check(&c->cfg, next, err, sizeof(err))) {
		moat_config_free(next);
		free(next);
		moat_sigs_free(set);
		return moat_reply_error(err);
	}
	next->pol.syn_proxy = 1;
	moat_secrets_set_period(&c->secret_src, next->cookie_rotate_s, (uint64_t)time(NULL));
	if (c->pushed_at)
		c->pushed_at = time(NULL); /* moatd's next rotation: by the new period, from now */
	c->ttls.n = 0; /* the file is the policy now */
	dp_publish_config(app, next);
	if (dp_install_sigs(app, set))
		return moat_reply_error(
			"signatures: out of memory for the workers' matchers (the old ones stay)");
	return dp_reply_ok(app);
}

/* signatures: a database moatd compiled ({"file": PATH}), swapped in whole. */
static json_object *ctl_signatures(void *ctx, int cmd, json_object *req)
{
	struct dp_app *app = ctx;
	struct moat_sig_set *set = NULL;
	json_object *f, *j;
	char err[512];

	(void)cmd;
	if (!json_object_object_get_ex(req, "file", &f))
		return moat_reply_error("signatures: expected \"file\": a database moatd saved");
	if (*json_object_get_string(f) &&
	    moat_sigs_load(json_object_get_string(f), &set, err, sizeof(err)))
		return moat_reply_error(err);
	if (dp_install_sigs(app, set))
		return moat_reply_error("signatures: out of memory for the workers' matchers");
	j = dp_reply_ok(app);
	json_object_object_add(j, "signatures", json_object_new_int((int)moat_sigs_count(set)));
	return j;
}

static int hex_key(json_object *req, const char *name, struct moat_siphash_key *k)
{
	json_object *v;
	unsigned long long a, b;
	char extra;

	if (!json_object_object_get_ex(req, name, &v) ||
	    sscanf(json_object_get_string(v), "%16llx%16llx%c", &a, &b, &extra) != 2)
		return -EINVAL;
	k->k0 = a;
	k->k1 = b;
	return 0;
}

static void add_key(json_object *j, const char *name, const struct moat_siphash_key *k)
{
	char hex[40];

	snprintf(hex, sizeof(hex), "%016llx%016llx", (unsigned long long)k->k0,
		 (unsigned long long)k->k1);
	json_object_object_add(j, name, json_object_new_string(hex));
}

/*
 * secrets {"get": true}: the secrets in force, for a moatd that re-attaches to
 * us and must not change them under live handshakes. Root only: whoever holds
 * them can mint cookies that pass.
 */
static json_object *secrets_report(struct dp_app *app)
{
	const struct dp_ctl *c = app->ctl;
	json_object *j;

	if (!c->peer_root)
		return moat_reply_error("secrets: reported to root only");
	j = dp_reply_ok(app);
	add_key(j, "cur", &app->secrets->cur);
	add_key(j, "prev", &app->secrets->prev);
	json_object_object_add(j, "ids", dp_secret_ids(app->secrets));
	return j;
}

/*
 * secrets: moatd's ({"cur": 32 hex, "prev": 32 hex}), which it rotates from now
 * on, until it falls silent (moatd_silent). {"get": true}: reported
 * (secrets_report).
 */
static json_object *ctl_secrets(void *ctx, int cmd, json_object *req)
{
	struct dp_app *app = ctx;
	struct moat_cookie_secrets s;
	json_object *v;

	(void)cmd;
	if (json_object_object_get_ex(req, "get", &v) && json_object_get_boolean(v))
		return secrets_report(app);
	if (hex_key(req, "cur", &s.cur) || hex_key(req, "prev", &s.prev))
		return moat_reply_error("secrets: expected \"cur\" and \"prev\", 32 hex digits each");
	if (memcmp(&s, app->secrets, sizeof(s)))
		dp_install_secrets(app, &s);
	app->ctl->pushed_at = time(NULL);
	return dp_reply_ok(app);
}

/*
 * moatd rotates its secrets, and hands them over, within a second of each turn
 * of a period: silent when a turn passed more than 5 s ago with nothing since.
 */
static bool moatd_silent(const struct dp_ctl *c, uint64_t now)
{
	uint64_t p = c->secret_src.period_s;

	return now / p > (uint64_t)c->pushed_at / p && now % p >= 5;
}

/*
 * Our own rotation, unless moatd hands us its secrets. A moatd that missed a
 * rotation (it died) hands the rotation back: it goes on from moatd's secrets,
 * as moatd would have rotated them (the current one becomes the previous), so
 * handshakes in flight complete; a restarted moatd adopts ours.
 */
static void rotate_secrets(struct dp_app *app)
{
	struct dp_ctl *c = app->ctl;
	struct moat_cookie_secrets s = *app->secrets;
	uint64_t now = (uint64_t)time(NULL);

	if (c->pushed_at) {
		if (!moatd_silent(c, now))
			return;
		/* moatd's current secret as last period's: it stays valid as the previous. */
		moat_secrets_adopt(&c->secret_src, now - c->secret_src.period_s);
		c->pushed_at = 0;
		fprintf(stderr, "moat-dp: moatd missed a cookie secret rotation: rotating them here until it is back\n");
	}
	if (moat_secrets_update(&c->secret_src, now, &s) == 1 && memcmp(&s, app->secrets, sizeof(s)))
		dp_install_secrets(app, &s);
}

/*
 * restart: end for a new moat-dp to take over (moatd starts it at once; alone,
 * the service manager does, on exit status MOAT_DP_EXIT_RESTART). The flow
 * state stays for it to adopt; "fresh": marked so that it does not (its flows
 * are then picked up mid-stream, proxied ones are lost).
 */
static json_object *ctl_restart(void *ctx, int cmd, json_object *req)
{
	struct dp_app *app = ctx;
	json_object *fresh = NULL, *j;
	bool f;

	(void)cmd;
	f = json_object_object_get_ex(req, "fresh", &fresh) && json_object_get_boolean(fresh);
	if (!app->state.path[0] && !f)
		fprintf(stderr, "moat-dp: restarting without a flow state file (%s): the next one starts empty\n",
			app->state.note);
	j = dp_reply_ok(app);
	json_object_object_add(j, "restarting", json_object_new_boolean(1));
	json_object_object_add(j, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(j, "state", json_object_new_string(app->state.path));
	json_object_object_add(j, "adopt", json_object_new_boolean(app->state.path[0] && !f));
	app->restart = f ? DP_RESTART_FRESH : DP_RESTART_KEEP;
	dp_quit = true;
	return j;
}

/* ---- the control thread ---- */

/* moat-dp's commands: moatd's "top" is not one; "events" is the server's (the feed). */
static const moat_handler handlers[MOAT_CMD_COUNT] = {
	[MOAT_CMD_STATUS] = dp_ctl_status,	  [MOAT_CMD_STATS] = dp_ctl_stats,
	[MOAT_CMD_FLOWS] = dp_ctl_flows,	  [MOAT_CMD_BLOCK] = ctl_list,
	[MOAT_CMD_UNBLOCK] = ctl_list,	  [MOAT_CMD_ALLOW] = ctl_list,
	[MOAT_CMD_UNALLOW] = ctl_list,	  [MOAT_CMD_RELOAD] = ctl_reload,
	[MOAT_CMD_LIMITS] = ctl_limits,	  [MOAT_CMD_SECRETS] = ctl_secrets,
	[MOAT_CMD_SIGNATURES] = ctl_signatures, [MOAT_CMD_RESTART] = ctl_restart,
};

static int open_events(struct dp_app *app)
{
	struct dp_ctl *c = app->ctl;

	app->event_sample = c->cfg.event_sample;
	/* Sampled events feed `events` followers (moatd's top) even with no log file. */
	if (!c->cfg.event_sample)
		return 0;
	if (c->cfg.events[0])
		c->events = strcmp(c->cfg.events, "-") ? fopen(c->cfg.events, "a") : stdout;
	app->ev_ring = rte_ring_create_elem("moat_events", sizeof(struct moat_event), 4096,
					    rte_socket_id(), RING_F_SC_DEQ);
	if ((c->cfg.events[0] && !c->events) || !app->ev_ring) {
		fprintf(stderr, "moat-dp: %s: cannot open the event log: %s\n", c->cfg.events,
			strerror(errno));
		return -EIO;
	}
	return 0;
}

/* The config, the event log and the cookie secrets: before the ports. */
int dp_ctl_open(struct dp_app *app)
{
	char err[MOAT_CONFIG_ERR_LEN];
	struct dp_ctl *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->listen_fd = -1;
	app->ctl = c;
	app->cfg = &c->cfg;
	if (moat_config_load(app->config_path, &c->cfg, err, sizeof(err))) {
		fprintf(stderr, "moat-dp: %s\n", err);
		return -EINVAL;
	}
	c->cfg.pol.syn_proxy = 1; /* inline: cookies open real connections to the servers */
	app->live = malloc(sizeof(*app->live));
	if (!app->live || moat_config_clone(app->live, &c->cfg))
		return -ENOMEM;
	dp_lists_first(app);
	if (open_events(app))
		return -EIO;
	if (dp_capture_open(app)) {
		fprintf(stderr, "moat-dp: cannot make the capture ring: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	if (moat_secrets_open(&c->secret_src, c->cfg.secret_file, c->cfg.cookie_rotate_s, err,
			      sizeof(err))) {
		fprintf(stderr, "moat-dp: %s: key 'secret_file': %s\n", app->config_path, err);
		return -EINVAL;
	}
	app->secrets = &app->secret_buf[0];
	if (moat_secrets_update(&c->secret_src, (uint64_t)time(NULL), app->secrets) < 0)
		return -EIO;
	c->started = time(NULL);
	return 0;
}

/* The signatures, then the control socket: after the workers' setup. */
int dp_ctl_start(struct dp_app *app)
{
	struct dp_ctl *c = app->ctl;
	char err[MOAT_CONFIG_ERR_LEN];
	struct moat_sig_set *set;

	if (moat_sigs_compile(&c->cfg, app->config_path, &set, err, sizeof(err))) {
		fprintf(stderr, "moat-dp: %s\n", err);
		return -EINVAL;
	}
	if (dp_install_sigs(app, set))
		return -ENOMEM;
	if (set)
		fprintf(stderr, "moat-dp: %zu signature(s) compiled\n", moat_sigs_count(set));
	c->listen_fd = moat_ctl_listen(app->socket_path, 0);
	if (c->listen_fd < 0) {
		fprintf(stderr, "moat-dp: %s: cannot listen: %s\n", app->socket_path,
			strerror(-c->listen_fd));
		return c->listen_fd;
	}
	return 0;
}

static void drain_events(struct dp_app *app)
{
	struct dp_ctl *c = app->ctl;
	struct moat_event ev;

	while (app->ev_ring && !rte_ring_sc_dequeue_elem(app->ev_ring, &ev, sizeof(ev))) {
		char *line = moat_event_format(&ev, c->cfg.event_sample, "lcore");

		if (!line)
			continue;
		if (c->events) {
			fputs(line, c->events);
			fflush(c->events);
		}
		moat_feed_publish(&c->feed, line);
		free(line);
	}
}

/*
 * One client: who it is (secrets are told to root only), and at most 1 s to
 * send its request, so a client that sends nothing cannot hold this thread
 * (ttls, events, rotation) for long.
 */
static void serve_client(struct dp_app *app, const struct moat_server *srv, int fd)
{
	static const struct timeval timeout = { .tv_sec = 1 };
	struct ucred cred;
	socklen_t len = sizeof(cred);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	app->ctl->peer_root =
		!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) && cred.uid == 0;
	moat_server_serve(srv, fd);
	app->ctl->peer_root = false;
}

void dp_ctl_loop(struct dp_app *app)
{
	struct dp_ctl *c = app->ctl;
	const struct moat_server srv = { handlers, app, &c->feed, dp_ctl_capture };
	struct pollfd p = { .fd = c->listen_fd, .events = POLLIN };

	while (!dp_quit) {
		dp_anchor_wall_clock(app);
		pthread_mutex_lock(&dp_ctl_lock);
		expire_ttls(app);
		drain_events(app);
		rotate_secrets(app);
		dp_capture_poll(app);
		pthread_mutex_unlock(&dp_ctl_lock);
		/* A capture's ring is drained every 10 ms: 1024 records hold 100k packets/s. */
		if (poll(&p, 1, moat_capture_stream_on(&c->cap) ? 10 : 200) > 0) {
			int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			pthread_mutex_lock(&dp_ctl_lock);
			serve_client(app, &srv, fd);
			pthread_mutex_unlock(&dp_ctl_lock);
		}
	}
}

/* The workers stopped: the last events, and the totals on stdout. */
void dp_ctl_finish(struct dp_app *app)
{
	json_object *j;

	drain_events(app);
	dp_capture_poll(app);
	dp_capture_end(app, "stopped");
	j = dp_stats(app);
	json_object_object_del(j, "ok");
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(j);
}

void dp_ctl_close(struct dp_app *app)
{
	struct dp_ctl *c = app->ctl;

	if (!c)
		return;
	dp_capture_end(app, "stopped");
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(app->socket_path);
	}
	moat_feed_free(&c->feed);
	dp_free_lists(app);
	moat_config_free(&c->cfg);
	app->cfg = NULL;
	app->ctl = NULL;
	free(c);
}
