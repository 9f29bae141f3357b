// SPDX-License-Identifier: BSD-3-Clause
/* moatctl top: rates per reason and the busiest sources, refreshed. */
#include "cli/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/reason.h"

/* ---- top -------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Per-reason rates between two stats replies, as a JSON object of packets/s. */
static json_object *rates_between(json_object *a, json_object *b, double dt)
{
	json_object *out = json_object_new_object(), *ra, *rb;
	int r;

	json_object_object_get_ex(a, "reasons", &ra);
	json_object_object_get_ex(b, "reasons", &rb);
	for (r = 0; r < MOAT_R_COUNT; r++) {
		const char *n = moat_reason_name(r);
		int64_t d = json_object_get_int64(json_object_object_get(rb, n)) -
			    json_object_get_int64(json_object_object_get(ra, n));

		json_object_object_add(out, n, json_object_new_double(dt > 0 ? (double)d / dt : 0));
	}
	return out;
}

static void print_top_sources(json_object *top)
{
	json_object *src;
	size_t i;

	printf("\n%-40s %12s %12s  %s\n", "source (sampled 1 in N)", "drops/s", "SYN/s",
	       "last drop");
	if (!json_object_object_get_ex(top, "sources", &src))
		return;
	for (i = 0; i < json_object_array_length(src) && i < 15; i++) {
		json_object *s = json_object_array_get_idx(src, i);

		printf("%-40s %12.0f %12.0f  %s\n",
		       ctl_field(s, "source"),
		       json_object_get_double(json_object_object_get(s, "drops_per_s")),
		       json_object_get_double(json_object_object_get(s, "syn_per_s")),
		       ctl_field(s, "last_drop_reason"));
	}
}

static double rate_of(json_object *rates, int reason)
{
	return json_object_get_double(json_object_object_get(rates, moat_reason_name(reason)));
}

static void print_top_screen(json_object *rates, json_object *top, bool tty)
{
	double v[3] = { 0 };
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++)
		v[moat_reason_verdict(r)] += rate_of(rates, r);
	if (tty)
		printf("\033[H\033[2J");
	printf("moat top — packets/s: pass %.0f  drop %.0f  tx %.0f\n\n", v[MOAT_PASS],
	       v[MOAT_DROP], v[MOAT_TX]);
	printf("%-18s %-7s %12s\n", "reason", "verdict", "packets/s");
	for (r = 0; r < MOAT_R_COUNT; r++) {
		double x = rate_of(rates, r);

		if (x >= 0.5)
			printf("%-18s %-7s %12.0f\n", moat_reason_name(r),
			       moat_verdict_name(moat_reason_verdict(r)), x);
	}
	print_top_sources(top);
	fflush(stdout);
}

static void print_top_json(json_object *rates, json_object *top, double interval)
{
	json_object *line = json_object_new_object();

	json_object_object_add(line, "interval_s", json_object_new_double(interval));
	json_object_object_add(line, "rates", json_object_get(rates));
	json_object_object_add(line, "sources",
			       json_object_get(json_object_object_get(top, "sources")));
	ctl_print_json(line);
	json_object_put(line);
}

/* One refresh of top: stats and sources now, against prev; *prev becomes now's stats. */
static int top_refresh(struct ctl *ctl, json_object **prev, double *t0)
{
	json_object *cur, *top, *rates;
	double t1;
	int rc;

	rc = ctl_call(ctl, ctl_request("stats"), &cur);
	if (rc)
		return rc;
	rc = ctl_call(ctl, ctl_request("top"), &top);
	if (rc) {
		json_object_put(cur);
		return rc;
	}
	t1 = now_s();
	rates = rates_between(*prev, cur, t1 - *t0);
	if (ctl->json)
		print_top_json(rates, top, t1 - *t0);
	else
		print_top_screen(rates, top, isatty(STDOUT_FILENO));
	json_object_put(rates);
	json_object_put(top);
	json_object_put(*prev);
	*prev = cur;
	*t0 = t1;
	return 0;
}

/* A live view: what `top` is to processes, for moat's reasons and sources. */
int cmd_top(struct ctl *ctl, int argc, char **argv)
{
	static const struct option own[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "delay", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	long count = 0, delay_ms = 1000, i;
	json_object *prev;
	struct opts o;
	double t0;
	int c, rc;

	opts_start(&o, argc, argv, false, "n:d:", own);
	while ((c = opts_next(ctl, &o)) > 0) {
		if (c == 'n') {
			ctl_parse_num(ctl, "-n", optarg, 0, 1000000000, &count);
		} else {
			char *end;
			double d = strtod(optarg, &end);

			if (end == optarg || *end || !(d >= 0.1 && d <= 86400))
				ctl_error(ctl, MOAT_EXIT_USAGE,
					  "-d '%s': expected seconds, 0.1..86400", optarg);
			else
				delay_ms = (long)(d * 1000);
		}
	}
	ctl_no_arguments(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	rc = ctl_call(ctl, ctl_request("stats"), &prev);
	if (rc)
		return rc;
	t0 = now_s();
	for (i = 0; !rc && (!count || i < count); i++) {
		sleep_ms(delay_ms);
		rc = top_refresh(ctl, &prev, &t0);
	}
	json_object_put(prev);
	return rc;
}

