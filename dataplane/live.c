// SPDX-License-Identifier: BSD-3-Clause
/*
 * What the control thread replaces under the workers: the policy and lists
 * (a config), the cookie secrets and the signatures. Each is swapped whole
 * through one pointer (RCU, QSBR): a worker loads the pointers before each
 * burst and before its housekeeping and holds nothing past its quiescent
 * report, after which the old copies may be freed or reused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_rcu_qsbr.h>

#include "dataplane/dp.h"
#include "dataplane/lists.h"

#include "control/config.h"
#include "flow/sigs.h"

/* A worker's engine on its tables (made by dp_workers_setup), and what it reads live. */
void dp_live_wire(struct dp_app *app, struct dp_worker *w)
{
	w->eng.be = &w->be;
	dp_live_load(app, w);
}

void dp_live_load(struct dp_app *app, struct dp_worker *w)
{
	struct moat_config *live = __atomic_load_n(&app->live, __ATOMIC_ACQUIRE);
	struct dp_sigs *sg = __atomic_load_n(&app->sigs, __ATOMIC_ACQUIRE);

	w->eng.pol = &live->pol;
	struct dp_lists *lists = __atomic_load_n(&app->lists, __ATOMIC_ACQUIRE);

	moat_be_use(&w->be, &live->pol, &live->allow, &live->deny);
	/* Tables of another config (a publish under way): this burst scans the lists. */
	if (lists && lists->owner == live)
		moat_be_use_lookup(&w->be, dp_lists_decide, lists);
	w->eng.sec = __atomic_load_n(&app->secrets, __ATOMIC_ACQUIRE);
	w->sigm = sg ? sg->m[w->id] : NULL;
}

/*
 * The LPM tables of cfg's lists, or NULL: none to make, or no memory for them
 * (said once; the workers then scan the lists, slower but the same answers).
 */
static struct dp_lists *lists_for(const struct moat_config *cfg)
{
	struct dp_lists *l;
	int ret = dp_lists_build(&cfg->allow, &cfg->deny, cfg, &l);

	if (ret)
		fprintf(stderr, "moat-dp: allow/deny lists of %zu prefixes scanned, not looked up: "
			"LPM tables: %s\n", cfg->allow.n + cfg->deny.n, strerror(-ret));
	return l;
}

/* The tables of the config moat-dp starts with (EAL up, no worker yet). */
void dp_lists_first(struct dp_app *app)
{
	app->lists = lists_for(app->live);
}

/*
 * Publish a new live config and its lists' tables, built here off the fast
 * path; the old ones are freed once no worker can hold them. A worker pairs
 * tables with the config they were built from (dp_live_load).
 */
void dp_publish_config(struct dp_app *app, struct moat_config *next)
{
	struct dp_lists *lists = lists_for(next), *old_lists;
	struct moat_config *old;

	old_lists = __atomic_exchange_n(&app->lists, lists, __ATOMIC_ACQ_REL);
	old = __atomic_exchange_n(&app->live, next, __ATOMIC_ACQ_REL);
	rte_rcu_qsbr_synchronize(app->qsv, RTE_QSBR_THRID_INVALID);
	dp_lists_free(old_lists);
	moat_config_free(old);
	free(old);
	app->updates++;
}

/* At exit, the workers stopped. */
void dp_free_lists(struct dp_app *app)
{
	dp_lists_free(app->lists);
	app->lists = NULL;
}

/* Swap in new secrets: the old buffer is reused only after every worker let go of it. */
void dp_install_secrets(struct dp_app *app, const struct moat_cookie_secrets *s)
{
	struct moat_cookie_secrets *spare =
		app->secrets == &app->secret_buf[0] ? &app->secret_buf[1] : &app->secret_buf[0];

	*spare = *s;
	__atomic_store_n(&app->secrets, spare, __ATOMIC_RELEASE);
	rte_rcu_qsbr_synchronize(app->qsv, RTE_QSBR_THRID_INVALID);
	app->rotations++;
}

/* The hits of a set going out of force, added to the totals by signature id. */
static void fold_sig_hits(struct dp_app *app, const struct dp_sigs *old)
{
	size_t i, k, n = moat_sigs_count(old->set);
	unsigned int w;

	for (i = 0; i < n; i++) {
		unsigned int id = moat_sigs_id(old->set, i);
		uint64_t hits = 0;

		for (w = 0; w < app->n_workers; w++)
			hits += moat_sig_matcher_hits(old->m[w])[i];
		for (k = 0; k < app->n_sig_totals && app->sig_totals[k].id != id; k++)
			;
		if (k == app->n_sig_totals) {
			struct dp_sig_total *v = realloc(app->sig_totals, (k + 1) * sizeof(*v));

			if (!v)
				continue;
			app->sig_totals = v;
			app->sig_totals[app->n_sig_totals++] = (struct dp_sig_total){ .id = id };
		}
		app->sig_totals[k].hits += hits;
	}
}

static void free_sigs(struct dp_sigs *sg)
{
	unsigned int w;

	if (!sg)
		return;
	for (w = 0; w < DP_MAX_WORKERS; w++)
		moat_sig_matcher_free(sg->m[w]);
	moat_sigs_free(sg->set);
	free(sg);
}

/*
 * Swap in a compiled set (NULL: none), each worker with its own scratch and
 * streams; the old one is freed once no worker can hold it. Streams in progress
 * start over with the new set. Takes set; 0 or -ENOMEM (set freed).
 */
int dp_install_sigs(struct dp_app *app, struct moat_sig_set *set)
{
	struct dp_sigs *sg = NULL, *old;
	unsigned int w;

	if (set) {
		sg = calloc(1, sizeof(*sg));
		if (!sg) {
			moat_sigs_free(set);
			return -ENOMEM;
		}
		sg->set = set;
		for (w = 0; w < app->n_workers; w++)
			if (!(sg->m[w] = moat_sig_matcher_new(set))) {
				free_sigs(sg);
				return -ENOMEM;
			}
	}
	old = __atomic_exchange_n(&app->sigs, sg, __ATOMIC_ACQ_REL);
	if (app->qsv)
		rte_rcu_qsbr_synchronize(app->qsv, RTE_QSBR_THRID_INVALID);
	if (old)
		fold_sig_hits(app, old);
	free_sigs(old);
	app->sig_updates++;
	return 0;
}

/* At exit, the workers stopped: the set in force and the totals. */
void dp_free_sigs(struct dp_app *app)
{
	free_sigs(app->sigs);
	app->sigs = NULL;
	free(app->sig_totals);
	app->sig_totals = NULL;
	app->n_sig_totals = 0;
}
