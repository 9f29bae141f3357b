// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp's own Prometheus metrics, for moat-dp run without moatd
 * (dpdk.metrics; under moatd, moatd serves `metrics:` with the same families
 * asked of moat-dp). The families are report.c's answers written by
 * moat_metrics_dataplane (control/metrics_dp.c), plus what moatd would add
 * itself. The HTTP thread takes dp_ctl_lock while it reads.
 */
#include <stdio.h>

#include "dataplane/dp.h"
#include "dataplane/ctl.h"

#include "control/metrics.h"

static struct moat_metrics *dp_metrics;
static bool dp_metrics_live; /* false once the teardown began */

static void fill_metrics_moat_dp(void *ctx, struct moat_text *t)
{
	struct dp_app *app = ctx;
	json_object *req = json_object_new_object(), *st = NULL, *fl = NULL;
	size_t allow = 0, deny = 0;
	uint64_t rotations = 0, updates = 0;
	time_t started = 0;

	pthread_mutex_lock(&dp_ctl_lock);
	if (dp_metrics_live) {
		st = dp_stats(app);
		fl = dp_ctl_flows(app, MOAT_CMD_FLOWS, req);
		allow = app->live->allow.n;
		deny = app->live->deny.n;
		rotations = app->rotations;
		updates = app->updates;
		started = app->ctl->started;
	}
	pthread_mutex_unlock(&dp_ctl_lock);
	json_object_put(req);
	moat_metrics_dataplane(t, st, fl);
	json_object_put(st);
	json_object_put(fl);
	moat_text_family(t, "moat_secret_rotations_total", "counter", "SYN cookie secret rotations.");
	moat_text_printf(t, "moat_secret_rotations_total %llu\n", (unsigned long long)rotations);
	moat_text_family(t, "moat_config_updates_total", "counter",
			 "Live config replacements (reloads, list and limit changes).");
	moat_text_printf(t, "moat_config_updates_total %llu\n", (unsigned long long)updates);
	moat_text_family(t, "moat_list_prefixes", "gauge", "Prefixes on the allow and deny lists.");
	moat_text_printf(t, "moat_list_prefixes{list=\"allow\"} %zu\n", allow);
	moat_text_printf(t, "moat_list_prefixes{list=\"deny\"} %zu\n", deny);
	moat_text_family(t, "moat_start_time_seconds", "gauge", "When moat-dp started, Unix time.");
	moat_text_printf(t, "moat_start_time_seconds %lld\n", (long long)started);
}

void dp_metrics_start(struct dp_app *app)
{
	char err[256];

	if (!app->cfg->dp_metrics[0])
		return;
	pthread_mutex_lock(&dp_ctl_lock);
	dp_metrics_live = true;
	pthread_mutex_unlock(&dp_ctl_lock);
	/* Forwarding matters more than a scrape: a port in use is told, not fatal. */
	if (moat_metrics_start(&dp_metrics, app->cfg->dp_metrics, fill_metrics_moat_dp, app, err,
			       sizeof(err)))
		fprintf(stderr, "moat-dp: dpdk.%s; going on without metrics\n", err);
	else
		fprintf(stderr, "moat-dp: metrics on http://%s/metrics\n", app->cfg->dp_metrics);
}

void dp_metrics_stop(void)
{
	pthread_mutex_lock(&dp_ctl_lock);
	dp_metrics_live = false;
	pthread_mutex_unlock(&dp_ctl_lock);
	moat_metrics_stop(dp_metrics);
	dp_metrics = NULL;
}
