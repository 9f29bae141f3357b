// SPDX-License-Identifier: BSD-3-Clause
/* moatctl: the operator's command line. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control/explain.h"
#include "control/cidr.h"
#include "control/proto.h"
#include "core/reason.h"

struct command {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(int argc, char **argv);
};

static int cmd_explain(int argc, char **argv);
static int cmd_daemon(int argc, char **argv);
static int cmd_top(int argc, char **argv);
static int cmd_limits(int argc, char **argv);
static int cmd_events(int argc, char **argv);
static int cmd_flows(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

/* Commands moatctl answers itself; the daemons' commands come from moat_cmds (proto.c). */
static const struct command commands[] = {
	{ "explain", "[--json] [--config FILE] [--quiet] PCAP",
	  "run a capture through the engine, one verdict per packet", cmd_explain },
	{ "version", "", "print the version", cmd_version },
	{ "help", "[COMMAND]", "show help", cmd_help },
	{ NULL, NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	const struct command *c;
	int i;

	fprintf(f, "usage: moatctl [--help] COMMAND [ARGS]\n\ncommands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %-8s %-42s %s\n", c->name, c->args, c->help);
	for (i = 0; i < MOAT_CMD_COUNT; i++)
		if (moat_cmds[i].help)
			fprintf(f, "  %-8s %-42s %s\n", moat_cmds[i].name, moat_cmds[i].args,
				moat_cmds[i].help);
	fprintf(f, "\nexit codes: 0 ok, 1 bad input or an error from the daemon, 2 usage or config\n"
		   "error, 3 no daemon on the socket (default %s)\n", MOAT_DEFAULT_SOCKET);
}

static void explain_usage(FILE *f)
{
	fprintf(f,
		"usage: moatctl explain [--json] [--config FILE] [--quiet] PCAP\n\n"
		"Runs the packets of PCAP (pcap or pcapng), in order, through the moat engine\n"
		"with inline semantics (both directions visible) and the capture's timestamps\n"
		"as the clock, and prints one line per packet: frame, time, endpoints, TCP\n"
		"flags, verdict (pass | drop | tx) and reason, then a summary by reason.\n"
		"The config's payload signatures apply too (a drop shows its id; an alert is\n"
		"noted on the line), with per-signature hits in the summary.\n\n"
		"  -j, --json          one JSON object per packet (frame, verdict, reason, ...)\n"
		"  -c, --config FILE   moat YAML config (default: the built-in defaults)\n"
		"  -q, --quiet         print the summary only\n"
		"  -h, --help          this text\n\n"
		"SYN cookies use a fixed secret here, so runs are reproducible. No root, NIC or\n"
		"daemon needed. Exit: 0 ok, 1 missing/damaged capture, 2 usage or config error.\n");
}

static int cmd_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct explain_opts o = { 0 };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jc:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'c':
			o.config = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			explain_usage(stdout);
			return 0;
		default:
			explain_usage(stderr);
			return EXPLAIN_ERR_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "moatctl explain: expected exactly one capture file\n");
		explain_usage(stderr);
		return EXPLAIN_ERR_USAGE;
	}
	o.pcap = argv[optind];
	return moat_explain(&o, stdout, stderr);
}

static void print_stats_text(json_object *reply)
{
	json_object *reasons, *verdicts, *v;
	int r;

	if (json_object_object_get_ex(reply, "verdicts", &verdicts))
		printf("verdicts: pass %s, drop %s, tx %s\n",
		       json_object_get_string(json_object_object_get(verdicts, "pass")),
		       json_object_get_string(json_object_object_get(verdicts, "drop")),
		       json_object_get_string(json_object_object_get(verdicts, "tx")));
	if (!json_object_object_get_ex(reply, "reasons", &reasons))
		return;
	printf("%-18s %-7s %14s\n", "reason", "verdict", "packets");
	for (r = 0; r < MOAT_R_COUNT; r++)
		if (json_object_object_get_ex(reasons, moat_reason_name(r), &v))
			printf("%-18s %-7s %14s\n", moat_reason_name(r),
			       moat_verdict_name(moat_reason_verdict(r)), json_object_get_string(v));
	if (json_object_object_get_ex(reply, "signatures", &v) &&
	    json_object_object_get_ex(v, "hits", &verdicts) && json_object_array_length(verdicts)) {
		size_t i;

		printf("\n%-10s %-6s %14s  %s\n", "signature", "action", "hits", "msg");
		for (i = 0; i < json_object_array_length(verdicts); i++) {
			json_object *h = json_object_array_get_idx(verdicts, i);

			printf("%-10s %-6s %14s  %s\n",
			       json_object_get_string(json_object_object_get(h, "id")),
			       json_object_get_string(json_object_object_get(h, "action")),
			       json_object_get_string(json_object_object_get(h, "hits")),
			       json_object_get_string(json_object_object_get(h, "msg")));
		}
	}
}

static void print_flows_text(json_object *reply)
{
	json_object *flows;

	if (!json_object_object_get_ex(reply, "flows", &flows))
		return;
	json_object_object_foreach(flows, state, count)
	{
		printf("%-12s %s\n", state, json_object_get_string(count));
	}
}

static void print_status_text(json_object *reply)
{
	json_object_object_foreach(reply, key, val)
	{
		if (strcmp(key, "ok"))
			printf("%-18s %s\n", key, json_object_get_string(val));
	}
}

static bool takes_cidr(const char *name)
{
	int id = moat_cmd_lookup(name);

	return id >= MOAT_CMD_BLOCK && id <= MOAT_CMD_UNALLOW;
}

/* Commands answered by moatd: one request, one reply. */
static int cmd_daemon(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = MOAT_DEFAULT_SOCKET, *name = argv[0];
	long ttl = 0;
	char *end;
	json_object *req, *reply = NULL, *ok;
	char err[512];
	bool json = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "js:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			ttl = strtol(optarg, &end, 10);
			if (*end || ttl < 1 || ttl > 31 * 86400 ||
			    (strcmp(name, "block") && strcmp(name, "allow"))) {
				fprintf(stderr, "moatctl %s: --ttl takes 1..2678400 seconds, on block or allow\n",
					name);
				return MOAT_EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			printf("usage: moatctl %s %s[-j|--json] [--socket PATH]\n", name,
			       !strcmp(name, "block") || !strcmp(name, "allow") ? "CIDR [--ttl SECONDS] " :
			       takes_cidr(name) ? "CIDR " : "");
			return 0;
		default:
			return MOAT_EXIT_USAGE;
		}
	}
	if (takes_cidr(name)) {
		struct moat_cidr c;

		if (optind != argc - 1) {
			fprintf(stderr, "moatctl %s: expected one CIDR, like 192.0.2.0/24 or 2001:db8::/32\n",
				name);
			return MOAT_EXIT_USAGE;
		}
		if (moat_cidr_parse(argv[optind], &c)) {
			fprintf(stderr, "moatctl %s: '%s' is not an IPv4 or IPv6 CIDR\n", name,
				argv[optind]);
			return MOAT_EXIT_USAGE;
		}
	} else if (optind != argc) {
		fprintf(stderr, "moatctl %s: unexpected argument '%s'\n", name, argv[optind]);
		return MOAT_EXIT_USAGE;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(name));
	if (takes_cidr(name))
		json_object_object_add(req, "cidr", json_object_new_string(argv[optind]));
	if (ttl)
		json_object_object_add(req, "ttl", json_object_new_int64(ttl));
	rc = moat_ctl_call(sock, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (rc) {
		fprintf(stderr, "moatctl %s: %s\n", name, err);
		return rc == -ENOENT || rc == -ECONNREFUSED ? MOAT_EXIT_NO_DAEMON : MOAT_EXIT_ERROR;
	}
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		json_object *e = json_object_object_get(reply, "error");

		fprintf(stderr, "moatctl %s: %s\n", name, e ? json_object_get_string(e) : "refused");
		json_object_put(reply);
		return MOAT_EXIT_ERROR;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	else if (!strcmp(name, "stats"))
		print_stats_text(reply);
	else if (!strcmp(name, "flows"))
		print_flows_text(reply);
	else if (!strcmp(name, "status"))
		print_status_text(reply);
	else
		printf("ok\n");
	json_object_put(reply);
	return MOAT_EXIT_OK;
}

static json_object *ask(const char *sock, const char *cmd, int *rc)
{
	json_object *req = json_object_new_object(), *reply = NULL, *ok;
	char err[512];

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	*rc = moat_ctl_call(sock, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (*rc) {
		fprintf(stderr, "moatctl top: %s\n", err);
		*rc = *rc == -ENOENT || *rc == -ECONNREFUSED ? MOAT_EXIT_NO_DAEMON : MOAT_EXIT_ERROR;
		return NULL;
	}
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		fprintf(stderr, "moatctl top: %s refused: %s\n", cmd,
			json_object_get_string(json_object_object_get(reply, "error")));
		json_object_put(reply);
		*rc = MOAT_EXIT_ERROR;
		return NULL;
	}
	return reply;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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

static void print_top_screen(json_object *rates, json_object *top, bool tty)
{
	double v[3] = { 0 };
	json_object *src;
	size_t i;
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++)
		v[moat_reason_verdict(r)] +=
			json_object_get_double(json_object_object_get(rates, moat_reason_name(r)));
	if (tty)
		printf("\033[H\033[2J");
	printf("moat top — packets/s: pass %.0f  drop %.0f  tx %.0f\n\n", v[MOAT_PASS], v[MOAT_DROP],
	       v[MOAT_TX]);
	printf("%-18s %-7s %12s\n", "reason", "verdict", "packets/s");
	for (r = 0; r < MOAT_R_COUNT; r++) {
		double x = json_object_get_double(json_object_object_get(rates, moat_reason_name(r)));

		if (x >= 0.5)
			printf("%-18s %-7s %12.0f\n", moat_reason_name(r),
			       moat_verdict_name(moat_reason_verdict(r)), x);
	}
	printf("\n%-40s %12s %12s  %s\n", "source (sampled 1 in N)", "drops/s", "SYN/s", "last drop");
	if (json_object_object_get_ex(top, "sources", &src))
		for (i = 0; i < json_object_array_length(src) && i < 15; i++) {
			json_object *s = json_object_array_get_idx(src, i);

			printf("%-40s %12.0f %12.0f  %s\n",
			       json_object_get_string(json_object_object_get(s, "source")),
			       json_object_get_double(json_object_object_get(s, "drops_per_s")),
			       json_object_get_double(json_object_object_get(s, "syn_per_s")),
			       json_object_get_string(json_object_object_get(s, "last_drop_reason")));
		}
	fflush(stdout);
}

/* A live view: what `top` is to processes, for moat's reasons and sources. */
static int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },	       { "socket", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },   { "delay", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },	       { NULL, 0, NULL, 0 },
	};
	const char *sock = MOAT_DEFAULT_SOCKET;
	double delay = 1, t0, t1;
	json_object *prev, *cur, *top, *rates;
	bool json = false, tty = isatty(STDOUT_FILENO);
	long count = 0, i;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "js:n:d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 's': sock = optarg; break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 'd': delay = strtod(optarg, NULL); break;
		case 'h':
			printf("usage: moatctl top [-j] [-n COUNT] [-d SECONDS] [--socket PATH]\n"
			       "Refreshes every SECONDS (default 1) until Ctrl-C, or COUNT times.\n"
			       "-j prints one JSON object per refresh: rates per reason and sources.\n");
			return 0;
		default: return MOAT_EXIT_USAGE;
		}
	}
	if (optind != argc || delay < 0.1 || count < 0) {
		fprintf(stderr, "moatctl top: -d needs at least 0.1 s and -n a count\n");
		return MOAT_EXIT_USAGE;
	}
	prev = ask(sock, "stats", &rc);
	if (!prev)
		return rc;
	t0 = now_s();
	for (i = 0; !count || i < count; i++) {
		usleep((useconds_t)(delay * 1e6));
		cur = ask(sock, "stats", &rc);
		top = cur ? ask(sock, "top", &rc) : NULL;
		if (!cur || !top) {
			json_object_put(cur);
			break;
		}
		t1 = now_s();
		rates = rates_between(prev, cur, t1 - t0);
		if (json) {
			json_object *line = json_object_new_object();

			json_object_object_add(line, "interval_s", json_object_new_double(t1 - t0));
			json_object_object_add(line, "rates", json_object_get(rates));
			json_object_object_add(line, "sources",
					       json_object_get(json_object_object_get(top, "sources")));
			printf("%s\n", json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN));
			fflush(stdout);
			json_object_put(line);
		} else {
			print_top_screen(rates, top, tty);
		}
		json_object_put(rates);
		json_object_put(top);
		json_object_put(prev);
		prev = cur;
		t0 = t1;
	}
	json_object_put(prev);
	return rc;
}

static int exit_of(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED ? MOAT_EXIT_NO_DAEMON : MOAT_EXIT_ERROR;
}

/* KEY=N into req's "set": 0, or a usage error printed. */
static int add_limit_arg(json_object *set, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[64], *end;
	long long v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key)) {
		fprintf(stderr, "moatctl limits set: expected KEY=N, got '%s'\n", arg);
		return -EINVAL;
	}
	errno = 0;
	v = strtoll(eq + 1, &end, 10);
	if (!eq[1] || *end || errno) {
		fprintf(stderr, "moatctl limits set: %.*s: '%s' is not an integer\n", (int)(eq - arg),
			arg, eq + 1);
		return -EINVAL;
	}
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	json_object_object_add(set, key, json_object_new_int64(v));
	return 0;
}

static void limits_usage(FILE *f)
{
	fprintf(f, "usage: moatctl limits show [-j] [--socket PATH]\n"
		   "       moatctl limits set KEY=N [KEY=N ...] [-j] [--socket PATH]\n\n"
		   "Shows or changes the per-source and per-prefix limits of the running daemon\n"
		   "(the keys of limits: in the config, e.g. source_syn_rate=200). A change is\n"
		   "applied at once, all keys or none, and lasts until the next reload.\n");
}

static int cmd_limits(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = MOAT_DEFAULT_SOCKET;
	json_object *req, *reply = NULL, *ok, *limits, *set = NULL;
	bool json = false;
	char err[512];
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "js:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 's': sock = optarg; break;
		case 'h': limits_usage(stdout); return 0;
		default: limits_usage(stderr); return MOAT_EXIT_USAGE;
		}
	}
	if (optind == argc || (strcmp(argv[optind], "show") && strcmp(argv[optind], "set")) ||
	    (!strcmp(argv[optind], "show") && optind + 1 != argc) ||
	    (!strcmp(argv[optind], "set") && optind + 1 == argc)) {
		limits_usage(stderr);
		return MOAT_EXIT_USAGE;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("limits"));
	if (!strcmp(argv[optind], "set")) {
		set = json_object_new_object();
		json_object_object_add(req, "set", set);
		for (c = optind + 1; c < argc; c++)
			if (add_limit_arg(set, argv[c])) {
				json_object_put(req);
				return MOAT_EXIT_USAGE;
			}
	}
	rc = moat_ctl_call(sock, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (rc) {
		fprintf(stderr, "moatctl limits: %s\n", err);
		return exit_of(rc);
	}
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		json_object *e = json_object_object_get(reply, "error");

		fprintf(stderr, "moatctl limits: %s\n", e ? json_object_get_string(e) : "refused");
		json_object_put(reply);
		return MOAT_EXIT_ERROR;
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	} else if (json_object_object_get_ex(reply, "limits", &limits)) {
		json_object_object_foreach(limits, key, val)
		{
			printf("%-24s %s\n", key, json_object_get_string(val));
		}
	}
	json_object_put(reply);
	return MOAT_EXIT_OK;
}

static void flows_usage(FILE *f)
{
	fprintf(f, "usage: moatctl flows [-j] [--list] [--state S] [--cidr CIDR] [--port P] [-n N]\n"
		   "                     [--socket PATH]\n\n"
		   "Tracked flows per TCP state (moat-dp: its flow tables; host mode: the host's TCP\n"
		   "sockets). --list (implied by a filter) lists up to N (default 100) of those with\n"
		   "state S, an endpoint in CIDR, or an endpoint's port P. moat-dp walks each table\n"
		   "for it between bursts: on a large table, a few ms of latency.\n");
}

static void print_flow_list(json_object *list)
{
	size_t i;

	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *o = json_object_array_get_idx(list, i), *v;
		bool dp = json_object_object_get_ex(o, "src", &v);
		char a[80], b[80];

		snprintf(a, sizeof(a), "%s:%s", json_object_get_string(json_object_object_get(o, dp ? "src" : "local")),
			 json_object_get_string(json_object_object_get(o, dp ? "sport" : "lport")));
		snprintf(b, sizeof(b), "%s:%s", json_object_get_string(json_object_object_get(o, dp ? "dst" : "remote")),
			 json_object_get_string(json_object_object_get(o, dp ? "dport" : "rport")));
		printf("%-46s %-46s %-12s", a, b, json_object_get_string(json_object_object_get(o, "state")));
		if (dp)
			printf(" idle %ss lcore %s", json_object_get_string(json_object_object_get(o, "idle_s")),
			       json_object_get_string(json_object_object_get(o, "lcore")));
		putchar('\n');
	}
}

static int cmd_flows(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },	     { "list", no_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 'S' },  { "cidr", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },   { "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },	     { NULL, 0, NULL, 0 },
	};
	const char *sock = MOAT_DEFAULT_SOCKET;
	json_object *req = json_object_new_object(), *reply = NULL, *ok, *v;
	bool json = false, list = false;
	struct moat_cidr cidr;
	char err[512], *end;
	long n;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jln:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'l': list = true; break;
		case 's': sock = optarg; break;
		case 'S':
			list = true;
			json_object_object_add(req, "state", json_object_new_string(optarg));
			break;
		case 'c':
			if (moat_cidr_parse(optarg, &cidr)) {
				fprintf(stderr, "moatctl flows: '%s' is not an IPv4 or IPv6 CIDR\n", optarg);
				json_object_put(req);
				return MOAT_EXIT_USAGE;
			}
			list = true;
			json_object_object_add(req, "cidr", json_object_new_string(optarg));
			break;
		case 'p':
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end || n < (c == 'p' ? 1 : 0) || n > (c == 'p' ? 65535 : 100000)) {
				fprintf(stderr, "moatctl flows: %s %s: expected %s\n", c == 'p' ? "--port" : "-n",
					optarg, c == 'p' ? "a port 1..65535" : "0..100000");
				json_object_put(req);
				return MOAT_EXIT_USAGE;
			}
			list = true;
			json_object_object_add(req, c == 'p' ? "port" : "limit", json_object_new_int((int)n));
			break;
		case 'h':
			flows_usage(stdout);
			json_object_put(req);
			return 0;
		default:
			flows_usage(stderr);
			json_object_put(req);
			return MOAT_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "moatctl flows: unexpected argument '%s'\n", argv[optind]);
		json_object_put(req);
		return MOAT_EXIT_USAGE;
	}
	json_object_object_add(req, "cmd", json_object_new_string("flows"));
	if (list)
		json_object_object_add(req, "list", json_object_new_boolean(1));
	rc = moat_ctl_call(sock, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (rc) {
		fprintf(stderr, "moatctl flows: %s\n", err);
		return exit_of(rc);
	}
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		v = json_object_object_get(reply, "error");
		fprintf(stderr, "moatctl flows: %s\n", v ? json_object_get_string(v) : "refused");
		json_object_put(reply);
		return MOAT_EXIT_ERROR;
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	} else {
		print_flows_text(reply);
		if (json_object_object_get_ex(reply, "list", &v)) {
			printf("\n%s of them match (%zu shown)\n",
			       json_object_get_string(json_object_object_get(reply, "matched")),
			       json_object_array_length(v));
			print_flow_list(v);
		}
	}
	json_object_put(reply);
	return MOAT_EXIT_OK;
}

static volatile sig_atomic_t events_stop;

static void on_events_signal(int sig)
{
	(void)sig;
	events_stop = 1;
}

/* events: the daemon's recent sampled events, as JSON lines; -f keeps following. */
static int cmd_events(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = MOAT_DEFAULT_SOCKET;
	bool follow = false;
	json_object *req;
	char err[512], buf[8192];
	ssize_t n;
	int c, fd;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fs:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': follow = true; break;
		case 's': sock = optarg; break;
		case 'h':
			printf("usage: moatctl events [-f|--follow] [--socket PATH]\n\n"
			       "Prints the daemon's most recent sampled events (drops and answers, one\n"
			       "JSON object per line: time, reason, verdict, 5-tuple, ttl, where seen);\n"
			       "-f then keeps printing new ones until interrupted.\n");
			return 0;
		default: return MOAT_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "moatctl events: unexpected argument '%s'\n", argv[optind]);
		return MOAT_EXIT_USAGE;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("events"));
	json_object_object_add(req, "follow", json_object_new_boolean(follow));
	fd = moat_ctl_open_stream(sock, req, err, sizeof(err));
	json_object_put(req);
	if (fd < 0) {
		fprintf(stderr, "moatctl events: %s\n", err);
		return exit_of(fd);
	}
	{
		/* No SA_RESTART: Ctrl-C must end the blocking read. */
		struct sigaction sa = { .sa_handler = on_events_signal };

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!events_stop && (n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return MOAT_EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("moatctl %s\n", MOAT_VERSION);
	return 0;
}

static const struct command *find_command(const char *name)
{
	const struct command *c;

	for (c = commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "explain")) {
		explain_usage(stdout);
		return 0;
	}
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv);
	c = find_command(argv[1]);
	if (c)
		return c->run(argc - 1, argv + 1);
	switch (moat_cmd_lookup(argv[1])) {
	case -1:
	case MOAT_CMD_SECRETS:
		fprintf(stderr, "moatctl: unknown command '%s' (try moatctl --help)\n", argv[1]);
		return 2;
	case MOAT_CMD_TOP:
		return cmd_top(argc - 1, argv + 1);
	case MOAT_CMD_LIMITS:
		return cmd_limits(argc - 1, argv + 1);
	case MOAT_CMD_EVENTS:
		return cmd_events(argc - 1, argv + 1);
	case MOAT_CMD_FLOWS:
		return cmd_flows(argc - 1, argv + 1);
	default:
		return cmd_daemon(argc - 1, argv + 1);
	}
}
