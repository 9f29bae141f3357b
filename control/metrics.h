/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus text exposition over HTTP (libmicrohttpd, its own thread): GET
 * /metrics calls the owner's fill function, which writes the current figures.
 * Served by moatd and by moat-dp run alone (dpdk.metrics); both write moat-dp's
 * families through moat_metrics_dataplane (metrics_dp.c), so the names agree.
 */
#ifndef MOAT_CONTROL_METRICS_H
#define MOAT_CONTROL_METRICS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

struct moat_text {
	char *buf;
	size_t len, cap;
	int oom;
};

void moat_text_printf(struct moat_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP" and "# TYPE" lines of a metric family. */
void moat_text_family(struct moat_text *t, const char *name, const char *type, const char *help);

typedef void (*moat_metrics_fill_fn)(void *ctx, struct moat_text *out);

struct moat_metrics;

/* listen: "127.0.0.1:9477" or "[::1]:9477". 0 or -errno with err filled. */
int moat_metrics_start(struct moat_metrics **out, const char *listen, moat_metrics_fill_fn fill,
		       void *ctx, char *err, size_t errlen);
void moat_metrics_stop(struct moat_metrics *m);

/*
 * moat-dp's families from its stats and flows answers (report.c's JSON; NULL
 * or a refusal: families without samples): packets per lcore, reason and
 * verdict, signature hits and alerts, flows per state, table entries, capacity.
 */
void moat_metrics_dataplane(struct moat_text *t, json_object *stats, json_object *flows);

#endif
