// SPDX-License-Identifier: BSD-3-Clause
/* What moat-dp reports on its control socket: stats, status and flows (asked of the workers). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "dataplane/dp.h"
#include "dataplane/ctl.h"

#include "control/proto.h"
#include "control/server.h"
#include "core/siphash.h"
#include "flow/sigs.h"

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
		dp_add_u64(o, "hits", hits);
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
	dp_add_u64(j, "stream_memory_per_worker", moat_sigs_stream_memory(sg ? sg->set : NULL));
	dp_add_u64(j, "updates", app->sig_updates);
	dp_add_u64(j, "alerts", DP_SUM(app, sig_alerts));
	dp_add_u64(j, "streams_open", sum.streams_open);
	dp_add_u64(j, "streams_refused", sum.streams_refused);
	dp_add_u64(j, "out_of_order", sum.out_of_order);
	json_object_object_add(j, "hits", hits);
	return j;
}

static json_object *worker_stats(const struct dp_worker *w)
{
	json_object *j = json_object_new_object(), *reasons = json_object_new_object();
	int r;

	json_object_object_add(j, "lcore", json_object_new_int((int)w->lcore));
	dp_add_u64(j, "rx", w->rx);
	dp_add_u64(j, "flows", w->be.flows.count);
	dp_add_u64(j, "sources", w->be.sources.count);
	for (r = 0; r < MOAT_R_COUNT; r++)
		dp_add_u64(reasons, moat_reason_name(r), w->reasons[r]);
	json_object_object_add(j, "reasons", reasons);
	return j;
}

json_object *dp_stats(struct dp_app *app)
{
	json_object *j = moat_reply_ok(), *reasons = json_object_new_object();
	json_object *verdicts = json_object_new_object(), *per = json_object_new_array();
	uint64_t v[3] = { 0 };
	unsigned int k;
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++) {
		uint64_t n = DP_SUM(app, reasons[r]);

		dp_add_u64(reasons, moat_reason_name(r), n);
		v[moat_reason_verdict(r)] += n;
	}
	for (k = 0; k < app->n_workers; k++)
		json_object_array_add(per, worker_stats(&app->workers[k]));
	dp_add_u64(verdicts, "pass", v[MOAT_PASS]);
	dp_add_u64(verdicts, "drop", v[MOAT_DROP]);
	dp_add_u64(verdicts, "tx", v[MOAT_TX]);
	json_object_object_add(j, "mode", json_object_new_string("dpdk"));
	json_object_object_add(j, "reasons", reasons);
	json_object_object_add(j, "verdicts", verdicts);
	dp_add_u64(j, "rx", DP_SUM(app, rx));
	dp_add_u64(j, "sent", DP_SUM(app, fwd));
	dp_add_u64(j, "dropped", DP_SUM(app, dropped));
	dp_add_u64(j, "tx_full", DP_SUM(app, tx_full));
	dp_add_u64(j, "dispatch_drops", app->dispatch_drops);
	dp_add_u64(j, "proxy_syns", DP_SUM(app, proxy_syns));
	dp_add_u64(j, "proxy_gave_up", DP_SUM(app, proxy_gave_up));
	dp_add_u64(j, "challenge_limited", DP_SUM(app, challenge_limited));
	json_object_object_add(j, "workers", per);
	dp_add_u64(j, "secret_rotations", app->rotations);
	json_object_object_add(j, "signatures", sig_stats(app));
	dp_add_u64(j, "config_updates", app->updates);
	return j;
}

json_object *dp_ctl_stats(void *ctx, int cmd, json_object *req)
{
	(void)cmd;
	(void)req;
	return dp_stats(ctx);
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

json_object *dp_secret_ids(const struct moat_cookie_secrets *s)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "cur", secret_id(&s->cur));
	json_object_object_add(j, "prev", secret_id(&s->prev));
	return j;
}

json_object *dp_ctl_status(void *ctx, int cmd, json_object *req)
{
	struct dp_app *app = ctx;
	const struct dp_ctl *c = app->ctl;
	json_object *j = dp_reply_ok(app), *pairs = json_object_new_array();
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
	json_object_object_add(j, "secret_ids", dp_secret_ids(app->secrets));
	json_object_object_add(j, "uptime_s",
			       json_object_new_int64((int64_t)(time(NULL) - c->started)));
	json_object_object_add(j, "state", dp_state_report(app));
	return j;
}

/*
 * The flow state file and what this start made of the one it found: adopted
 * (its flows, proxied ones among them, handshakes held at servers that could
 * not be), or not and why (its proxied connections lost, the rest left to pickup).
 */
json_object *dp_state_report(const struct dp_app *app)
{
	const struct dp_state_info *s = &app->state;
	json_object *j = json_object_new_object();

	json_object_object_add(j, "path", json_object_new_string(s->path));
	json_object_object_add(j, "start", json_object_new_string(s->note));
	json_object_object_add(j, "adopted", json_object_new_boolean(s->adopted));
	dp_add_u64(j, "adopted_flows", s->adopted_flows);
	dp_add_u64(j, "adopted_proxied", s->adopted_proxied);
	dp_add_u64(j, "handshakes_dropped", s->pending_dropped);
	dp_add_u64(j, "lost_proxied", s->lost_proxied);
	dp_add_u64(j, "left_to_pickup", s->left_to_pickup);
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
	dp_add_u64(j, "matched", matched);
	json_object_object_add(j, "list", arr);
	return j;
}

json_object *dp_ctl_flows(void *ctx, int cmd, json_object *req)
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
		dp_add_u64(states, moat_tcp_state_name((u8)i), DP_SUM(app, states[i]));
	json_object_object_add(j, "flows", states);
	dp_add_u64(j, "capacity", (uint64_t)app->cfg->flow_table_size * app->n_workers);
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
