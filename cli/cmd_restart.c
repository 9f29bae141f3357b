// SPDX-License-Identifier: BSD-3-Clause
/*
 * restart: moat-dp hands its flows to a new one (daemon/dplink.h starts it);
 * then the status of the new one is awaited and what it made of the state
 * file is printed.
 */
#include "cli/cmd_restart.h"

#include <getopt.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli/ctl.h"
#include "control/proto.h"

/* moat-dp's part of a status answer: moatd's "moat_dp" object, or moat-dp's own answer. */
static json_object *dp_part(json_object *status)
{
	json_object *dp;

	if (json_object_object_get_ex(status, "moat_dp", &dp))
		return dp;
	return status;
}

static long long int_field(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Poll status every 100 ms until a moat-dp other than old_pid answers with its
 * state: that answer (new reference), or NULL after wait_s seconds.
 */
static json_object *await_new(const struct ctl *ctl, long long old_pid, double wait_s)
{
	double end = now_s() + wait_s;
	char err[256];

	while (now_s() < end) {
		json_object *req = json_object_new_object(), *reply = NULL, *dp, *st;
		int r;

		json_object_object_add(req, "cmd", json_object_new_string("status"));
		r = moat_ctl_call_within(ctl->sock, req, 2000, &reply, err, sizeof(err));
		json_object_put(req);
		if (!r) {
			dp = dp_part(reply);
			if (int_field(dp, "pid") && int_field(dp, "pid") != old_pid &&
			    json_object_object_get_ex(dp, "state", &st)) {
				json_object *out = json_object_get(dp);

				json_object_put(reply);
				return out;
			}
			json_object_put(reply);
		}
		usleep(100000);
	}
	return NULL;
}

static void print_outcome(long long old_pid, json_object *dp, double secs)
{
	json_object *st = NULL, *adopted = NULL;

	json_object_object_get_ex(dp, "state", &st);
	json_object_object_get_ex(st, "adopted", &adopted);
	printf("moat-dp %lld -> %lld in %.1f s: flow state %s\n", old_pid, int_field(dp, "pid"), secs,
	       ctl_field(st, "start"));
	if (json_object_get_boolean(adopted))
		printf("  adopted %lld flows (%lld proxied); %lld handshakes held at servers dropped\n",
		       int_field(st, "adopted_flows"), int_field(st, "adopted_proxied"),
		       int_field(st, "handshakes_dropped"));
	else
		printf("  %lld proxied connections lost; %lld flows left to pickup\n",
		       int_field(st, "lost_proxied"), int_field(st, "left_to_pickup"));
}

int cmd_restart(struct ctl *ctl, int argc, char **argv)
{
	static const struct option own[] = {
		{ "fresh", no_argument, NULL, 'f' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	json_object *req = ctl_request("restart"), *reply, *dp, *out;
	long wait_s = 30;
	long long old_pid;
	struct opts o;
	double t0;
	int c, rc;

	opts_start(&o, argc, argv, false, "w:", own);
	while ((c = opts_next(ctl, &o)) > 0) {
		if (c == 'f')
			json_object_object_add(req, "fresh", json_object_new_boolean(1));
		else if (c == 'w')
			ctl_parse_num(ctl, "--wait", optarg, 0, 3600, &wait_s);
	}
	ctl_no_arguments(ctl, &o);
	t0 = now_s();
	rc = ctl_send(ctl, req, &reply);
	if (rc || !reply)
		return rc;
	old_pid = int_field(reply, "pid");
	if (!wait_s) {
		if (ctl->json)
			ctl_print_json(reply);
		else
			printf("moat-dp %lld is restarting\n", old_pid);
		json_object_put(reply);
		return MOAT_EXIT_OK;
	}
	json_object_put(reply);
	dp = await_new(ctl, old_pid, (double)wait_s);
	if (!dp)
		return ctl_fail(ctl, MOAT_EXIT_ERROR,
				"moat-dp %lld ended, but no new moat-dp answered on %s within %ld s", old_pid,
				ctl->sock, wait_s);
	if (ctl->json) {
		out = json_object_new_object();
		json_object_object_add(out, "old_pid", json_object_new_int64(old_pid));
		json_object_object_add(out, "pid", json_object_new_int64(int_field(dp, "pid")));
		json_object_object_add(out, "seconds", json_object_new_double(now_s() - t0));
		json_object_object_add(out, "state", json_object_get(json_object_object_get(dp, "state")));
		ctl_print_json(out);
		json_object_put(out);
	} else {
		print_outcome(old_pid, dp, now_s() - t0);
	}
	json_object_put(dp);
	return MOAT_EXIT_OK;
}
