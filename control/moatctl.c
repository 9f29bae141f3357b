// SPDX-License-Identifier: BSD-3-Clause
/* moatctl: the operator's command line. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "explain", "[--json] [--config FILE] [--quiet] PCAP",
	  "run a capture through the engine, one verdict per packet", cmd_explain },
	{ "status", "[-j] [--socket PATH]", "the daemon: mode, interfaces, cookie path", cmd_daemon },
	{ "stats", "[-j] [--socket PATH]", "packets per reason and verdict", cmd_daemon },
	{ "flows", "[-j] [--socket PATH]", "tracked flows per TCP state (moat-dp)", cmd_daemon },
	{ "block", "CIDR [--socket PATH]", "add CIDR to the deny list (live)", cmd_daemon },
	{ "unblock", "CIDR [--socket PATH]", "remove CIDR from the deny list", cmd_daemon },
	{ "allow", "CIDR [--socket PATH]", "add CIDR to the allow list (live)", cmd_daemon },
	{ "unallow", "CIDR [--socket PATH]", "remove CIDR from the allow list", cmd_daemon },
	{ "reload", "[--socket PATH]", "re-read the config file; a bad one is refused", cmd_daemon },
	{ "version", "", "print the version", cmd_version },
	{ "help", "[COMMAND]", "show help", cmd_help },
	{ NULL, NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	const struct command *c;

	fprintf(f, "usage: moatctl [--help] COMMAND [ARGS]\n\ncommands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %-8s %-42s %s\n", c->name, c->args, c->help);
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
		"flags, verdict (pass | drop | tx) and reason, then a summary by reason.\n\n"
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = MOAT_DEFAULT_SOCKET, *name = argv[0];
	json_object *req, *reply = NULL, *ok;
	char err[512];
	bool json = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "js:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			printf("usage: moatctl %s %s[-j|--json] [--socket PATH]\n", name,
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
	if (!c) {
		fprintf(stderr, "moatctl: unknown command '%s' (try moatctl --help)\n", argv[1]);
		return 2;
	}
	return c->run(argc - 1, argv + 1);
}
