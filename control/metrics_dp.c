// SPDX-License-Identifier: BSD-3-Clause
/*
 * moat-dp's metric families, written from its stats and flows answers: by
 * moatd in mode dpdk (its backend asks moat-dp) and by moat-dp run alone
 * (dpdk.metrics), so both expose the same names and labels.
 */
#include <stdint.h>

#include "control/metrics.h"
#include "core/reason.h"

static uint64_t json_u64(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

/* moat-dp's workers ("workers" of its stats), none when it did not answer. */
static size_t workers(json_object *st, json_object **ws)
{
	return json_object_object_get_ex(st, "workers", ws) ? json_object_array_length(*ws) : 0;
}

/* Packets per lcore, reason and verdict. */
static void fill_metrics_dp_packets(struct moat_text *t, json_object *st)
{
	json_object *ws;
	size_t k, n = workers(st, &ws);
	int r;

	moat_text_family(t, "moat_packets_total", "counter",
			 "Packets decided by moat, by reason, verdict and worker lcore.");
	for (k = 0; k < n; k++) {
		json_object *w = json_object_array_get_idx(ws, k), *rs;
		uint64_t lcore = json_u64(w, "lcore");

		if (!json_object_object_get_ex(w, "reasons", &rs))
			continue;
		for (r = 0; r < MOAT_R_COUNT; r++)
			moat_text_printf(t, "moat_packets_total{reason=\"%s\",verdict=\"%s\",lcore=\"%llu\"} %llu\n",
					 moat_reason_name(r), moat_verdict_name(moat_reason_verdict(r)),
					 (unsigned long long)lcore,
					 (unsigned long long)json_u64(rs, moat_reason_name(r)));
	}
}

/* Each lcore's table occupancy: flows and limiter records. */
static void fill_metrics_dp_tables(struct moat_text *t, json_object *st)
{
	json_object *ws;
	size_t k, n = workers(st, &ws);

	moat_text_family(t, "moat_table_entries", "gauge",
			 "Entries in moat-dp's tables per worker lcore: flows and limiter records.");
	for (k = 0; k < n; k++) {
		json_object *w = json_object_array_get_idx(ws, k);

		moat_text_printf(t, "moat_table_entries{table=\"flows\",lcore=\"%llu\"} %llu\n",
				 (unsigned long long)json_u64(w, "lcore"),
				 (unsigned long long)json_u64(w, "flows"));
		moat_text_printf(t, "moat_table_entries{table=\"sources\",lcore=\"%llu\"} %llu\n",
				 (unsigned long long)json_u64(w, "lcore"),
				 (unsigned long long)json_u64(w, "sources"));
	}
}

/* Payload signature hits by id and action, and alerts. */
static void fill_metrics_dp_signatures(struct moat_text *t, json_object *st)
{
	json_object *sigs = NULL, *hits = NULL;
	size_t k;

	json_object_object_get_ex(st, "signatures", &sigs);
	moat_text_family(t, "moat_signature_hits_total", "counter",
			 "Packets a payload signature matched, by signature id and action.");
	if (sigs && json_object_object_get_ex(sigs, "hits", &hits))
		for (k = 0; k < json_object_array_length(hits); k++) {
			json_object *h = json_object_array_get_idx(hits, k), *a;

			moat_text_printf(t, "moat_signature_hits_total{id=\"%llu\",action=\"%s\"} %llu\n",
					 (unsigned long long)json_u64(h, "id"),
					 json_object_object_get_ex(h, "action", &a) ? json_object_get_string(a) : "",
					 (unsigned long long)json_u64(h, "hits"));
		}
	moat_text_family(t, "moat_signature_alerts_total", "counter",
			 "Packets passed with an alert signature's match.");
	moat_text_printf(t, "moat_signature_alerts_total %llu\n",
			 (unsigned long long)(sigs ? json_u64(sigs, "alerts") : 0));
}

/*
 * moat-dp's counters per lcore and reason, its flows per state and table
 * occupancy, asked over its socket at scrape time.
 */
/* Flows per TCP state and the tables' capacity. */
static void fill_metrics_dp_flows(struct moat_text *t, json_object *fl)
{
	json_object *v;

	moat_text_family(t, "moat_flows", "gauge", "Tracked flows by TCP state (moat-dp).");
	if (fl && json_object_object_get_ex(fl, "flows", &v)) {
		json_object_object_foreach(v, state, n)
		{
			moat_text_printf(t, "moat_flows{state=\"%s\"} %lld\n", state,
					 (long long)json_object_get_int64(n));
		}
	}
	moat_text_family(t, "moat_flow_capacity", "gauge", "Flow table capacity, all workers.");
	moat_text_printf(t, "moat_flow_capacity %llu\n", (unsigned long long)json_u64(fl, "capacity"));
}

void moat_metrics_dataplane(struct moat_text *t, json_object *stats, json_object *flows)
{
	fill_metrics_dp_packets(t, stats);
	fill_metrics_dp_signatures(t, stats);
	fill_metrics_dp_flows(t, flows);
	fill_metrics_dp_tables(t, stats);
}
