/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus text exposition over HTTP (libmicrohttpd, its own thread): GET
 * /metrics calls the owner's fill function, which writes the current figures.
 */
#ifndef MOAT_DAEMON_METRICS_H
#define MOAT_DAEMON_METRICS_H

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

#endif
