// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp's DPDK telemetry commands: what report.c answers on the control
 * socket (stats, status, flows), flattened into telemetry dicts, for
 * dpdk-telemetry.py and any client of /var/run/dpdk/PREFIX/dpdk_telemetry.v2:
 *
 *   /moat/stats           totals: rx, sent, dropped, reasons/R, verdicts/V, ...
 *   /moat/lcores[,LCORE]  per worker lcore: LCORE/rx, LCORE/flows, LCORE/reasons/R
 *   /moat/flows           flows/STATE per TCP state, capacity
 *   /moat/status          version, pid, pairs, workers, secrets, uptime
 *
 * A telemetry dict holds scalars and arrays of scalars, not dicts, and its
 * names only letters, digits, '_' and '/': nested objects become KEY/KEY. The callbacks run on DPDK's telemetry thread and
 * take dp_ctl_lock, as the control thread does around its handlers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "dataplane/dp.h"
#include "dataplane/ctl.h"

static struct dp_app *tel_app; /* NULL: not answering (starting or stopping) */

/* A JSON array of strings or integers as a telemetry array (NULL: neither). */
static struct rte_tel_data *tel_array(json_object *arr)
{
	size_t i, n = json_object_array_length(arr);
	json_object *first = n ? json_object_array_get_idx(arr, 0) : NULL;
	bool strings = first && json_object_is_type(first, json_type_string);
	struct rte_tel_data *d;

	if (!first || (!strings && !json_object_is_type(first, json_type_int)))
		return NULL;
	d = rte_tel_data_alloc();
	if (!d)
		return NULL;
	rte_tel_data_start_array(d, strings ? RTE_TEL_STRING_VAL : RTE_TEL_U64_VAL);
	for (i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);

		if (strings)
			rte_tel_data_add_array_string(d, json_object_get_string(v));
		else
			rte_tel_data_add_array_u64(d, (uint64_t)json_object_get_int64(v));
	}
	return d;
}

/* Every scalar of j into d under prefix/key; arrays of objects are left out. */
static void tel_flatten(struct rte_tel_data *d, const char *prefix, json_object *j)
{
	char key[RTE_TEL_MAX_STRING_LEN];

	json_object_object_foreach(j, k, v)
	{
		struct rte_tel_data *arr;

		if (!prefix[0] && !strcmp(k, "ok"))
			continue;
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "/" : "", k);
		switch (json_object_get_type(v)) {
		case json_type_object:
			tel_flatten(d, key, v);
			break;
		case json_type_int:
			rte_tel_data_add_dict_u64(d, key, (uint64_t)json_object_get_int64(v));
			break;
		case json_type_boolean:
			rte_tel_data_add_dict_int(d, key, json_object_get_boolean(v));
			break;
		case json_type_string:
			rte_tel_data_add_dict_string(d, key, json_object_get_string(v));
			break;
		case json_type_array:
			arr = tel_array(v);
			if (arr && rte_tel_data_add_dict_container(d, key, arr, 0))
				rte_tel_data_free(arr);
			break;
		default:
			break;
		}
	}
}

/* A reply of report.c as the telemetry answer: 0, or -EIO for a refusal. */
static int tel_reply(json_object *j, struct rte_tel_data *d)
{
	json_object *ok;
	int r = 0;

	if (!j)
		return -ENOMEM;
	if (json_object_object_get_ex(j, "ok", &ok) && !json_object_get_boolean(ok))
		r = -EIO;
	rte_tel_data_start_dict(d);
	tel_flatten(d, "", j);
	json_object_put(j);
	return r;
}

static int tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	json_object *j;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&dp_ctl_lock);
	j = tel_app ? dp_stats(tel_app) : NULL;
	pthread_mutex_unlock(&dp_ctl_lock);
	if (j)
		json_object_object_del(j, "workers"); /* /moat/lcores */
	return tel_reply(j, d);
}

static int tel_status(const char *cmd, const char *params, struct rte_tel_data *d)
{
	json_object *j;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&dp_ctl_lock);
	j = tel_app ? dp_ctl_status(tel_app, MOAT_CMD_STATUS, NULL) : NULL;
	pthread_mutex_unlock(&dp_ctl_lock);
	return tel_reply(j, d);
}

static int tel_flows(const char *cmd, const char *params, struct rte_tel_data *d)
{
	json_object *req = json_object_new_object(), *j;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&dp_ctl_lock);
	j = tel_app ? dp_ctl_flows(tel_app, MOAT_CMD_FLOWS, req) : NULL;
	pthread_mutex_unlock(&dp_ctl_lock);
	json_object_put(req);
	return tel_reply(j, d);
}

/* Every worker under its lcore's number, or the one lcore params names. */
static int tel_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	json_object *j, *ws, *out;
	char *end;
	long want = -1;
	size_t k;

	(void)cmd;
	if (params && *params) {
		want = strtol(params, &end, 10);
		if (*end || want < 0)
			return -EINVAL;
	}
	pthread_mutex_lock(&dp_ctl_lock);
	j = tel_app ? dp_stats(tel_app) : NULL;
	pthread_mutex_unlock(&dp_ctl_lock);
	if (!j || !json_object_object_get_ex(j, "workers", &ws)) {
		json_object_put(j);
		return -ENOMEM;
	}
	out = json_object_new_object();
	for (k = 0; k < json_object_array_length(ws); k++) {
		json_object *w = json_object_array_get_idx(ws, k), *lc;
		char name[16];

		json_object_object_get_ex(w, "lcore", &lc);
		if (want >= 0 && json_object_get_int64(lc) != want)
			continue;
		snprintf(name, sizeof(name), "%lld", (long long)json_object_get_int64(lc));
		json_object_object_add(out, name, json_object_get(w));
	}
	json_object_put(j);
	if (want >= 0 && !json_object_object_length(out)) {
		json_object_put(out);
		return -ENOENT;
	}
	if (want >= 0) {
		/* One lcore: its fields without the prefix. */
		json_object_object_foreach(out, name, w)
		{
			(void)name;
			j = json_object_get(w);
		}
		json_object_put(out);
		out = j;
	}
	return tel_reply(out, d);
}

void dp_telemetry_start(struct dp_app *app)
{
	static bool registered;

	pthread_mutex_lock(&dp_ctl_lock);
	tel_app = app;
	pthread_mutex_unlock(&dp_ctl_lock);
	if (registered)
		return;
	registered = true;
	rte_telemetry_register_cmd("/moat/stats", tel_stats,
				   "moat-dp's totals: rx, sent, dropped, reasons/R, verdicts/V. No parameters");
	rte_telemetry_register_cmd("/moat/lcores", tel_lcores,
				   "Per worker lcore: LCORE/rx, /flows, /sources, /reasons/R. Parameter: an lcore (optional)");
	rte_telemetry_register_cmd("/moat/flows", tel_flows,
				   "Tracked flows per TCP state, and the tables' capacity. No parameters");
	rte_telemetry_register_cmd("/moat/status", tel_status,
				   "moat-dp: version, pid, config, pairs, workers, secrets, uptime. No parameters");
}

void dp_telemetry_stop(void)
{
	pthread_mutex_lock(&dp_ctl_lock);
	tel_app = NULL;
	pthread_mutex_unlock(&dp_ctl_lock);
}
