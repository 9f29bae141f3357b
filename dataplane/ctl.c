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

#include "control/config.h"
#include "control/events.h"
#include "control/proto.h"
#include "control/secrets.h"
#include "control/server.h"
#include "core/siphash.h"
#include "flow/sigs.h"

struct dp_ctl {
	struct moat_config cfg; /* as started: table sizes are fixed from it */
	struct moat_ttls ttls;	/* list entries added with a ttl */
	FILE *events;		/* the event log, if any */
	struct moat_event_feed feed; /* `events` followers */
	struct moat_secret_source secret_src;
	time_t pushed_at;	 /* moatd's last secrets: no rotation of our own; 0 none */
	bool peer_root;		 /* the client being served is root (SO_PEERCRED) */
	time_t started;
	int listen_fd;
};

/* Sum of one counter over the workers. */
#define DP_SUM(app, field)                                                                         \
	({                                                                                         \
		uint64_t s_ = 0;                                                                   \
		unsigned int i_;                                                                   \
		for (i_ = 0; i_ < (app)->n_workers; i_++)                                          \
			s_ += (app)->workers[i_].field;                                            \
		s_;                                                                                \
	})

static void add_u64(json_object *j, const char *key, uint64_t v)
{
	json_object_object_add(j, key, json_object_new_int64((int64_t)v));
}

/* moat-dp's "ok": with how many times the live config was replaced. */
static json_object *reply_ok(struct dp_app *app)
{
	json_object *j = moat_reply_ok();

	add_u64(j, "updates", app->updates);
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

/* ---- stats ---- */

static json_object *sig_hits(struct dp_app *app, const struct dp_sigs *sg)
{
	json_object *arr = json_object_new_array();
	size_t i, k, n = moat_sigs_count(sg ? sg->set : NULL);
	unsigned int w;

	for (i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		unsigned int id = moat_sigs_id(sg->set, i);
		uint64_t hits = 0;

		for (w = 0; w < app->n_workers; w++)
			hits += moat_sig_matcher_hits(sg->m[w])[i];
		for (k = 0; k < app->n_sig_totals; k++)
			if (app->sig_totals[k].id == id)
				hits += app->sig_totals[k].hits;
		json_object_object_add(o, "id", json_object_new_int64(id));
		json_object_object_add(o, "action", json_object_new_string(
			moat_sigs_action(sg->set, i) == MOAT_SIG_DROP ? "drop" : "alert"));
		add_u64(o, "hits", hits);
		json_object_object_add(o, "msg", json_object_new_string(moat_sigs_msg(sg->set, i)));
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *sig_stats(struct dp_app *app)
{
	json_object *j = json_object_new_object();
	const struct dp_sigs *sg = app->sigs;
	struct moat_sig_counts c, sum = { 0 };
	json_object *hits = sig_hits(app, sg);
	unsigned int w;

	for (w = 0; sg && w < app->n_workers; w++) {
		moat_sig_matcher_counts(sg->m[w], &c);
		sum.streams_open += c.streams_open;
		sum.streams_refused += c.streams_refused;
		sum.out_of_order += c.out_of_order;
	}
	json_object_object_add(j, "loaded",
			       json_object_new_int((int)moat_sigs_count(sg ? sg->set : NULL)));
	add_u64(j, "stream_memory_per_worker", moat_sigs_stream_memory(sg ? sg->set : NULL));
	add_u64(j, "updates", app->sig_updates);
	add_u64(j, "alerts", DP_SUM(app, sig_alerts));
	add_u64(j, "streams_open", sum.streams_open);
	add_u64(j, "streams_refused", sum.streams_refused);
	add_u64(j, "out_of_order", sum.out_of_order);
	json_object_object_add(j, "hits", hits);
	return j;
}

static json_object *worker_stats(const struct dp_worker *w)
{
	json_object *j = json_object_new_object(), *reasons = json_object_new_object();
	int r;

	json_object_object_add(j, "lcore", json_object_new_int((int)w->lcore));
	add_u64(j, "rx", w->rx);
	add_u64(j, "flows", w->be.flows.count);
	add_u64(j, "sources", w->be.sources.count);
	for (r = 0; r < MOAT_R_COUNT; r++)
		add_u64(reasons, moat_reason_name(r), w->reasons[r]);
	json_object_object_add(j, "reasons", reasons);
	return j;
}

static json_object *stats(struct dp_app *app)
{
	json_object *j = moat_reply_ok(), *reasons = json_object_new_object();
	json_object *verdicts = json_object_new_object(), *per = json_object_new_array();
	uint64_t v[3] = { 0 };
	unsigned int k;
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++) {
		uint64_t n = DP_SUM(app, reasons[r]);

		add_u64(reasons, moat_reason_name(r), n);
		v[moat_reason_verdict(r)] += n;
	}
	for (k = 0; k < app->n_workers; k++)
		json_object_array_add(per, worker_stats(&app->workers[k]));
	add_u64(verdicts, "pass", v[MOAT_PASS]);
	add_u64(verdicts, "drop", v[MOAT_DROP]);
	add_u64(verdicts, "tx", v[MOAT_TX]);
	json_object_object_add(j, "mode", json_object_new_string("dpdk"));
	json_object_object_add(j, "reasons", reasons);
	json_object_object_add(j, "verdicts", verdicts);
	add_u64(j, "rx", DP_SUM(app, rx));
	add_u64(j, "sent", DP_SUM(app, fwd));
	add_u64(j, "dropped", DP_SUM(app, dropped));
	add_u64(j, "tx_full", DP_SUM(app, tx_full));
	add_u64(j, "dispatch_drops", app->dispatch_drops);
	add_u64(j, "proxy_syns", DP_SUM(app, proxy_syns));
	add_u64(j, "proxy_gave_up", DP_SUM(app, proxy_gave_up));
	add_u64(j, "challenge_limited", DP_SUM(app, challenge_limited));
	json_object_object_add(j, "workers", per);
	add_u64(j, "secret_rotations", app->rotations);
	json_object_object_add(j, "signatures", sig_stats(app));
	add_u64(j, "config_updates", app->updates);
	return j;
}

static json_object *ctl_stats(void *ctx, int cmd, json_object *req)
{
	(void)cmd;
	(void)req;
	return stats(ctx);
}

/* ---- status ---- */

/*
 * A secret's name for operators and moatd: 8 hex digits of SipHash under the
 * key of a fixed word. Two ids equal: the same secret; the id tells nothing of
 * the key.
 */
static json_object *secret_id(const struct moat_siphash_key *k)
{
	static const u64 word = 0x6d6f617473656964ULL; /* "moatseid" */
	char hex[12];

	snprintf(hex, sizeof(hex), "%08x", (unsigned int)(moat_siphash24(k, &word, 1) >> 32));
	return json_object_new_string(hex);
}

static json_object *secret_ids(const struct moat_cookie_secrets *s)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "cur", secret_id(&s->cur));
	json_object_object_add(j, "prev", secret_id(&s->prev));
	return j;
}

static json_object *ctl_status(void *ctx, int cmd, json_object *req)
{
	struct dp_app *app = ctx;
	const struct dp_ctl *c = app->ctl;
	json_object *j = reply_ok(app), *pairs = json_object_new_array();
	char buf[16];
	int p;

	(void)cmd;
	(void)req;
	for (p = 0; p < app->n_pairs; p++) {
		snprintf(buf, sizeof(buf), "%u:%u", app->pairs[p].in, app->pairs[p].out);
		json_object_array_add(pairs, json_object_new_string(buf));
	}
	json_object_object_add(j, "version", json_object_new_string(MOAT_VERSION));
	json_object_object_add(j, "mode", json_object_new_string("dpdk"));
	json_object_object_add(j, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(j, "config", json_object_new_string(app->config_path));
	json_object_object_add(j, "pairs", pairs);
	json_object_object_add(j, "workers", json_object_new_int((int)app->n_workers));
	json_object_object_add(j, "dispatcher", json_object_new_boolean(app->dispatch));
	json_object_object_add(j, "secrets", json_object_new_string(
		c->pushed_at ? "moatd" : c->secret_src.fleet ? "secret_file" : "random"));
	json_object_object_add(j, "secret_ids", secret_ids(app->secrets));
	json_object_object_add(j, "uptime_s",
			       json_object_new_int64((int64_t)(time(NULL) - c->started)));
	return j;
}

/* ---- flows: asked of the workers, answered between their bursts ---- */

/* Ask every worker (flag at offset off) and wait, up to 2 s, until all have answered. */
static bool workers_answer(struct dp_app *app, size_t off)
{
	unsigned int k;
	int i;

	for (k = 0; k < app->n_workers; k++)
		__atomic_store_n((int *)((char *)&app->workers[k] + off), 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2000 && !dp_quit; i++) {
		for (k = 0; k < app->n_workers &&
			    !__atomic_load_n((int *)((char *)&app->workers[k] + off), __ATOMIC_ACQUIRE);
		     k++)
			;
		if (k == app->n_workers)
			return true;
		rte_delay_us_sleep(1000);
	}
	return false;
}

static int state_by_name(const char *name)
{
	int i;

	for (i = 1; i < MOAT_TCPS_COUNT; i++)
		if (!strcasecmp(moat_tcp_state_name((u8)i), name))
			return i;
	return -1;
}

static json_object *flow_json(const struct moat_flow_entry *e, unsigned int lcore)
{
	json_object *o = json_object_new_object();
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int af = e->family == 6 ? AF_INET6 : AF_INET;

	inet_ntop(af, e->orig.w, a, sizeof(a));
	inet_ntop(af, e->resp.w, b, sizeof(b));
	json_object_object_add(o, "src", json_object_new_string(a));
	json_object_object_add(o, "sport", json_object_new_int(e->orig_port));
	json_object_object_add(o, "dst", json_object_new_string(b));
	json_object_object_add(o, "dport", json_object_new_int(e->resp_port));
	json_object_object_add(o, "state", json_object_new_string(moat_tcp_state_name(e->state)));
	json_object_object_add(o, "idle_s", json_object_new_int64(e->idle_s));
	json_object_object_add(o, "lcore", json_object_new_int((int)lcore));
	return o;
}

/* flows {"list": true, ...}: the flows that pass the filter, from every worker. */
static json_object *flow_list(struct dp_app *app, json_object *req, json_object *j)
{
	json_object *arr;
	struct moat_flow_filter f;
	size_t limit, i;
	u64 matched = 0;
	unsigned int k;
	char err[256];

	if (moat_proto_flow_filter(req, state_by_name, &f, &limit, err, sizeof(err)))
		return moat_reply_error(err);
	for (k = 0; k < app->n_workers; k++) {
		struct dp_worker *w = &app->workers[k];

		w->list_filter = f;
		w->list_n = 0;
		w->list_out = calloc(limit ? limit : 1, sizeof(*w->list_out));
		if (!w->list_out)
			limit = 0; /* no memory: counts only, from this worker on */
		w->list_max = limit;
	}
	if (!workers_answer(app, offsetof(struct dp_worker, list_wanted))) {
		/* A worker may still write its buffer: leave it (a rare leak beats a crash). */
		return moat_reply_error("a worker did not answer");
	}
	arr = json_object_new_array();
	for (k = 0; k < app->n_workers; k++) {
		struct dp_worker *w = &app->workers[k];

		matched += w->list_matched;
		for (i = 0; i < w->list_n && json_object_array_length(arr) < limit; i++)
			json_object_array_add(arr, flow_json(&w->list_out[i], w->lcore));
		free(w->list_out);
		w->list_out = NULL;
	}
	add_u64(j, "matched", matched);
	json_object_object_add(j, "list", arr);
	return j;
}

static json_object *ctl_flows(void *ctx, int cmd, json_object *req)
{
	struct dp_app *app = ctx;
	json_object *j, *states, *v, *out;
	int i;

	(void)cmd;
	if (!workers_answer(app, offsetof(struct dp_worker, states_wanted)) || dp_quit)
		return moat_reply_error("a worker did not answer");
	j = moat_reply_ok();
	states = json_object_new_object();
	for (i = 1; i < MOAT_TCPS_COUNT; i++)
		add_u64(states, moat_tcp_state_name((u8)i), DP_SUM(app, states[i]));
	json_object_object_add(j, "flows", states);
	add_u64(j, "capacity", (uint64_t)app->cfg->flow_table_size * app->n_workers);
	if (json_object_object_get_ex(req, "list", &v) && json_object_get_boolean(v)) {
		out = flow_list(app, req, j);
		if (out != j) {
			json_object_put(j);
			return out;
		}
	}
	return j;
}

/* ---- lists and limits: a copy of the live config, changed, swapped in ---- */

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
	return reply_ok(ctx);
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
	j = reply_ok(app);
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
	return reply_ok(app);
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
	j = reply_ok(app);
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
	j = reply_ok(app);
	add_key(j, "cur", &app->secrets->cur);
	add_key(j, "prev", &app->secrets->prev);
	json_object_object_add(j, "ids", secret_ids(app->secrets));
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
	return reply_ok(app);
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

/* ---- the control thread ---- */

/* moat-dp's commands: moatd's "top" is not one; "events" is the server's (the feed). */
static const moat_handler handlers[MOAT_CMD_COUNT] = {
	[MOAT_CMD_STATUS] = ctl_status,	  [MOAT_CMD_STATS] = ctl_stats,
	[MOAT_CMD_FLOWS] = ctl_flows,	  [MOAT_CMD_BLOCK] = ctl_list,
	[MOAT_CMD_UNBLOCK] = ctl_list,	  [MOAT_CMD_ALLOW] = ctl_list,
	[MOAT_CMD_UNALLOW] = ctl_list,	  [MOAT_CMD_RELOAD] = ctl_reload,
	[MOAT_CMD_LIMITS] = ctl_limits,	  [MOAT_CMD_SECRETS] = ctl_secrets,
	[MOAT_CMD_SIGNATURES] = ctl_signatures,
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
	if (open_events(app))
		return -EIO;
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
	const struct moat_server srv = { handlers, app, &c->feed };
	struct pollfd p = { .fd = c->listen_fd, .events = POLLIN };

	while (!dp_quit) {
		expire_ttls(app);
		drain_events(app);
		rotate_secrets(app);
		if (poll(&p, 1, 200) > 0) {
			int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				serve_client(app, &srv, fd);
		}
	}
}

/* The workers stopped: the last events, and the totals on stdout. */
void dp_ctl_finish(struct dp_app *app)
{
	json_object *j;

	drain_events(app);
	j = stats(app);
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
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(app->socket_path);
	}
	moat_feed_free(&c->feed);
	moat_config_free(&c->cfg);
	app->cfg = NULL;
	app->ctl = NULL;
	free(c);
}
