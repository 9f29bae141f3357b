// SPDX-License-Identifier: BSD-3-Clause
/* The commands a daemon answers: status, stats, lists, reload, limits, flows, events. */
#include "cli/ctl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/reason.h"
#include "flow/cidr.h"

/* ---- status, stats, block, unblock, allow, unallow, reload ------------------------ */

static void print_signature_hits(json_object *reply)
{
	json_object *sigs, *hits;
	size_t i;

	if (!json_object_object_get_ex(reply, "signatures", &sigs) ||
	    !json_object_object_get_ex(sigs, "hits", &hits) || !json_object_array_length(hits))
		return;
	printf("\n%-10s %-6s %14s  %s\n", "signature", "action", "hits", "msg");
	for (i = 0; i < json_object_array_length(hits); i++) {
		json_object *h = json_object_array_get_idx(hits, i);

		printf("%-10s %-6s %14s  %s\n", ctl_field(h, "id"), ctl_field(h, "action"),
		       ctl_field(h, "hits"), ctl_field(h, "msg"));
	}
}

static void print_stats_text(json_object *reply)
{
	json_object *reasons, *verdicts, *v;
	int r;

	if (json_object_object_get_ex(reply, "verdicts", &verdicts))
		printf("verdicts: pass %s, drop %s, tx %s\n",
		       ctl_field(verdicts, "pass"), ctl_field(verdicts, "drop"), ctl_field(verdicts, "tx"));
	if (!json_object_object_get_ex(reply, "reasons", &reasons))
		return;
	printf("%-18s %-7s %14s\n", "reason", "verdict", "packets");
	for (r = 0; r < MOAT_R_COUNT; r++)
		if (json_object_object_get_ex(reasons, moat_reason_name(r), &v))
			printf("%-18s %-7s %14s\n", moat_reason_name(r),
			       moat_verdict_name(moat_reason_verdict(r)),
			       json_object_get_string(v));
	print_signature_hits(reply);
}

static void print_status_text(json_object *reply)
{
	json_object_object_foreach(reply, key, val)
	{
		if (strcmp(key, "ok"))
			printf("%-18s %s\n", key, json_object_get_string(val));
	}
}

static bool takes_cidr(int id)
{
	return id >= MOAT_CMD_BLOCK && id <= MOAT_CMD_UNALLOW;
}

static bool takes_ttl(int id)
{
	return id == MOAT_CMD_BLOCK || id == MOAT_CMD_ALLOW;
}

/* The arguments of a daemon command: a CIDR for the list commands, nothing for the others. */
static void check_cidr_args(struct ctl *ctl, const struct opts *o)
{
	struct moat_cidr cidr;

	if (!takes_cidr(ctl->cmd->id))
		ctl_no_arguments(ctl, o);
	else if (o->npos != 1)
		ctl_error(ctl, MOAT_EXIT_USAGE,
			  "expected one CIDR, like 192.0.2.0/24 or 2001:db8::/32");
	else if (moat_cidr_parse(o->pos[0], &cidr))
		ctl_error(ctl, MOAT_EXIT_USAGE, "'%s' is not an IPv4 or IPv6 CIDR", o->pos[0]);
}

/* Commands the daemon answers with one reply and moatctl only prints. */
int cmd_daemon(struct ctl *ctl, int argc, char **argv)
{
	static const struct option own[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int id = ctl->cmd->id, rc;
	json_object *req, *reply;
	struct opts o;
	long ttl = 0;

	opts_start(&o, argc, argv, false, "t:", own);
	while (opts_next(ctl, &o) > 0) {
		if (takes_ttl(id))
			ctl_parse_num(ctl, "--ttl", optarg, 1, TTL_MAX_S, &ttl);
		else
			ctl_error(ctl, MOAT_EXIT_USAGE, "--ttl is for block and allow");
	}
	check_cidr_args(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	req = ctl_request(ctl->cmd->name);
	if (takes_cidr(id))
		json_object_object_add(req, "cidr", json_object_new_string(o.pos[0]));
	if (ttl)
		json_object_object_add(req, "ttl", json_object_new_int64(ttl));
	rc = ctl_call(ctl, req, &reply);
	if (rc)
		return rc;
	if (ctl->json)
		ctl_print_json(reply);
	else if (id == MOAT_CMD_STATS)
		print_stats_text(reply);
	else if (id == MOAT_CMD_STATUS)
		print_status_text(reply);
	else
		printf("ok\n");
	json_object_put(reply);
	return MOAT_EXIT_OK;
}

/* ---- limits ----------------------------------------------------------------- */

/* KEY=N into set: 0, or -EINVAL with a usage error noted. */
static int add_limit_arg(struct ctl *ctl, json_object *set, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[64], *end;
	long long v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key)) {
		ctl_error(ctl, MOAT_EXIT_USAGE, "set: expected KEY=N, got '%s'", arg);
		return -EINVAL;
	}
	errno = 0;
	v = strtoll(eq + 1, &end, 10);
	if (!eq[1] || *end || errno) {
		ctl_error(ctl, MOAT_EXIT_USAGE, "set: %.*s: '%s' is not an integer",
			  (int)(eq - arg), arg, eq + 1);
		return -EINVAL;
	}
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	json_object_object_add(set, key, json_object_new_int64(v));
	return 0;
}

/* The request of `limits [show]` or `limits set KEY=N ...`; NULL with a usage error noted. */
static json_object *limits_request(struct ctl *ctl, const struct opts *o)
{
	json_object *req, *set;
	int i;

	if (!o->npos || !strcmp(o->pos[0], "show")) {
		if (o->npos > 1)
			ctl_error(ctl, MOAT_EXIT_USAGE, "show: unexpected argument '%s'",
				  o->pos[1]);
		return ctl->code ? NULL : ctl_request("limits");
	}
	if (strcmp(o->pos[0], "set") || o->npos == 1) {
		ctl_error(ctl, MOAT_EXIT_USAGE, "expected show, or set KEY=N [KEY=N ...]");
		return NULL;
	}
	req = ctl_request("limits");
	set = json_object_new_object();
	json_object_object_add(req, "set", set);
	for (i = 1; i < o->npos; i++)
		if (add_limit_arg(ctl, set, o->pos[i])) {
			json_object_put(req);
			return NULL;
		}
	return req;
}

int cmd_limits(struct ctl *ctl, int argc, char **argv)
{
	json_object *req, *reply, *limits;
	struct opts o;
	int rc;

	opts_start(&o, argc, argv, false, "", NULL);
	while (opts_next(ctl, &o) > 0)
		;
	req = ctl->help ? NULL : limits_request(ctl, &o);
	rc = ctl_send(ctl, req, &reply);
	if (rc || !reply)
		return rc;
	if (ctl->json) {
		ctl_print_json(reply);
	} else if (json_object_object_get_ex(reply, "limits", &limits)) {
		json_object_object_foreach(limits, key, val)
		{
			printf("%-24s %s\n", key, json_object_get_string(val));
		}
	}
	json_object_put(reply);
	return MOAT_EXIT_OK;
}

/* ---- flows ------------------------------------------------------------------ */

static void print_flow_counts(json_object *reply)
{
	json_object *flows;

	if (!json_object_object_get_ex(reply, "flows", &flows))
		return;
	json_object_object_foreach(flows, state, count)
	{
		printf("%-12s %s\n", state, json_object_get_string(count));
	}
}

/* One listed flow: moat-dp's (src, dst, idle, lcore) or the host's socket (local, remote). */
static void print_flow(json_object *f)
{
	bool dp = json_object_object_get_ex(f, "src", NULL);
	char a[80], b[80];

	snprintf(a, sizeof(a), "%s:%s", ctl_field(f, dp ? "src" : "local"),
		 ctl_field(f, dp ? "sport" : "lport"));
	snprintf(b, sizeof(b), "%s:%s", ctl_field(f, dp ? "dst" : "remote"),
		 ctl_field(f, dp ? "dport" : "rport"));
	printf("%-46s %-46s %-12s", a, b, ctl_field(f, "state"));
	if (dp)
		printf(" idle %ss lcore %s", ctl_field(f, "idle_s"), ctl_field(f, "lcore"));
	putchar('\n');
}

static void print_flows_text(json_object *reply)
{
	json_object *list;
	size_t i;

	print_flow_counts(reply);
	if (!json_object_object_get_ex(reply, "list", &list))
		return;
	printf("\n%s of them match (%zu shown)\n", ctl_field(reply, "matched"),
	       json_object_array_length(list));
	for (i = 0; i < json_object_array_length(list); i++)
		print_flow(json_object_array_get_idx(list, i));
}

/* One of flows' own options into req ("list" is set by any filter). */
static void flows_option(struct ctl *ctl, json_object *req, int c, const char *arg)
{
	struct moat_cidr cidr;
	long n;

	switch (c) {
	case 'S':
		json_object_object_add(req, "state", json_object_new_string(arg));
		break;
	case 'c':
		if (moat_cidr_parse(arg, &cidr)) {
			ctl_error(ctl, MOAT_EXIT_USAGE, "'%s' is not an IPv4 or IPv6 CIDR", arg);
			return;
		}
		json_object_object_add(req, "cidr", json_object_new_string(arg));
		break;
	case 'p':
		if (ctl_parse_num(ctl, "--port", arg, 1, 65535, &n))
			return;
		json_object_object_add(req, "port", json_object_new_int((int)n));
		break;
	case 'n':
		if (ctl_parse_num(ctl, "-n", arg, 0, 100000, &n))
			return;
		json_object_object_add(req, "limit", json_object_new_int((int)n));
		break;
	}
	json_object_object_add(req, "list", json_object_new_boolean(1));
}

int cmd_flows(struct ctl *ctl, int argc, char **argv)
{
	static const struct option own[] = {
		{ "list", no_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 'S' },
		{ "cidr", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	json_object *req = ctl_request("flows"), *reply;
	struct opts o;
	int c, rc;

	opts_start(&o, argc, argv, false, "ln:", own);
	while ((c = opts_next(ctl, &o)) > 0)
		flows_option(ctl, req, c, optarg);
	ctl_no_arguments(ctl, &o);
	rc = ctl_send(ctl, req, &reply);
	if (rc || !reply)
		return rc;
	if (ctl->json)
		ctl_print_json(reply);
	else
		print_flows_text(reply);
	json_object_put(reply);
	return MOAT_EXIT_OK;
}

/* ---- events ----------------------------------------------------------------- */

static volatile sig_atomic_t events_stop;

static void on_events_signal(int sig)
{
	(void)sig;
	events_stop = 1;
}

/* Copy the event lines of fd to stdout until it closes or Ctrl-C: 0, or the daemon's refusal. */
static int copy_events(struct ctl *ctl, int fd)
{
	/* No SA_RESTART: Ctrl-C must end the blocking read. */
	struct sigaction sa = { .sa_handler = on_events_signal };
	FILE *in = fdopen(fd, "r");
	char *line = NULL;
	size_t cap = 0;
	bool first = true;
	int rc = 0;

	if (!in) {
		close(fd);
		return ctl_fail(ctl, MOAT_EXIT_ERROR, "%s", strerror(errno));
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!rc && !events_stop && getline(&line, &cap, in) > 0) {
		if (first) {
			json_object *j = json_tokener_parse(line);

			rc = ctl_refusal(ctl, j); /* a refused stream's only line */
			json_object_put(j);
			first = false;
		}
		if (!rc)
			fputs(line, stdout);
	}
	free(line);
	fclose(in);
	return rc;
}

/* events: the daemon's recent sampled events, as JSON lines; -f keeps following. */
int cmd_events(struct ctl *ctl, int argc, char **argv)
{
	static const struct option own[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	bool follow = false;
	char err[512] = "";
	json_object *req;
	struct opts o;
	int fd;

	opts_start(&o, argc, argv, false, "f", own);
	while (opts_next(ctl, &o) > 0)
		follow = true;
	ctl_no_arguments(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	req = ctl_request("events");
	json_object_object_add(req, "follow", json_object_new_boolean(follow));
	fd = moat_ctl_open_stream(ctl->sock, req, err, sizeof(err));
	json_object_put(req);
	if (fd < 0)
		return ctl_fail(ctl, ctl_exit_of(fd), "%s", err[0] ? err : strerror(-fd));
	return copy_events(ctl, fd);
}

