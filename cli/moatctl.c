// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatctl: the operator's command line.
 *
 * The global options (--socket, --json, --help) go before or after the
 * command, as ip and bpftool take them: opts_next() reads them together with
 * the command's own options, wherever they stand. Every error goes through
 * ctl_report(): a line on stderr and, with --json, one object
 * {"error": TEXT, "exit": CODE} on stdout.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/explain.h"
#include "flow/cidr.h"
#include "control/proto.h"
#include "core/reason.h"

#define TTL_MAX_S (31 * 86400)

#define GLOBAL_HELP                                                                                \
	"  -s, --socket PATH   the daemon's control socket (default " MOAT_DEFAULT_SOCKET ")\n"    \
	"  -j, --json          JSON output; an error is one object on stdout,\n"                   \
	"                      {\"error\": TEXT, \"exit\": CODE}, beside the line on stderr\n"     \
	"  -h, --help          help, of moatctl or of the command\n"

struct command;

/* What every command shares: the global options, and the first error met. */
struct ctl {
	const char *sock;
	const struct command *cmd; /* NULL until the command is known */
	bool json;
	bool help;
	int code; /* exit code of the first error (0: none yet) */
	char err[512];
};

struct command {
	const char *name;
	const char *args; /* after the name in usage lines, global options aside */
	const char *summary;
	const char *text; /* the rest of `moatctl NAME --help` */
	int id; /* in moat_cmds, or -1: moatctl answers it itself */
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

static const char *field(json_object *o, const char *key)
{
	return json_object_get_string(json_object_object_get(o, key));
}

static void print_json(json_object *j)
{
	int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;

	printf("%s\n", json_object_to_json_string_ext(j, flags));
	fflush(stdout);
}

/* ---- errors ----------------------------------------------------------------- */

static void ctl_verror(struct ctl *ctl, int code, const char *fmt, va_list ap)
{
	if (ctl->code)
		return; /* the first error is the one reported */
	ctl->code = code;
	vsnprintf(ctl->err, sizeof(ctl->err), fmt, ap);
}

/* Note an error, to be reported once the whole line is read (a later -j counts). */
static void __attribute__((format(printf, 3, 4)))
ctl_error(struct ctl *ctl, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(ctl, code, fmt, ap);
	va_end(ap);
}

/* The error recorded, on stderr and (with --json) on stdout: its exit code. */
static int ctl_report(const struct ctl *ctl)
{
	json_object *j;

	fprintf(stderr, "moatctl%s%s: %s\n", ctl->cmd ? " " : "", ctl->cmd ? ctl->cmd->name : "",
		ctl->err);
	if (!ctl->json)
		return ctl->code;
	j = json_object_new_object();
	json_object_object_add(j, "error", json_object_new_string(ctl->err));
	json_object_object_add(j, "exit", json_object_new_int(ctl->code));
	print_json(j);
	json_object_put(j);
	return ctl->code;
}

/* Note an error (unless one came first) and report it: the exit code. */
static int __attribute__((format(printf, 3, 4)))
ctl_fail(struct ctl *ctl, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(ctl, code, fmt, ap);
	va_end(ap);
	return ctl_report(ctl);
}

/* ---- options ---------------------------------------------------------------- */

#define GLOBAL_SHORTS "s:jh"
#define MAX_LONGS 12

/* One pass of getopt over a part of the command line: global options and the command's own. */
struct opts {
	int argc;
	char **argv;
	char shorts[32];
	struct option longs[MAX_LONGS];
	char **pos; /* after the pass: the arguments that are not options */
	int npos;
};

/*
 * in_order: stop at the first argument that is not an option (the options
 * before the command); otherwise options and arguments may mix.
 */
static void opts_start(struct opts *o, int argc, char **argv, bool in_order, const char *shorts,
		       const struct option *own)
{
	static const struct option global[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
	};
	size_t n = 0, i;

	o->argc = argc;
	o->argv = argv;
	o->pos = NULL;
	o->npos = 0;
	/* ':' first: a missing value comes back as ':', not '?'. */
	snprintf(o->shorts, sizeof(o->shorts), "%s:" GLOBAL_SHORTS "%s", in_order ? "+" : "",
		 shorts);
	for (i = 0; i < sizeof(global) / sizeof(global[0]); i++)
		o->longs[n++] = global[i];
	for (i = 0; own && own[i].name; i++)
		o->longs[n++] = own[i];
	assert(n < MAX_LONGS);
	memset(&o->longs[n], 0, sizeof(o->longs[n]));
	optind = 0; /* glibc: start afresh, with this optstring */
	opterr = 0; /* its messages are ours to write */
}

/* The option getopt refused last, as it was written. */
static const char *refused_option(const struct opts *o, char *buf, size_t len)
{
	const char *arg = o->argv[optind - 1];

	/*
	 * optopt: an unknown short option (argv may not end at it: -jx), or the
	 * value of a long option given an argument it does not take (--json=1).
	 */
	if (!optopt || strchr(o->shorts, optopt))
		return arg;
	snprintf(buf, len, "-%c", optopt);
	return buf;
}

/*
 * The next of the command's own options (getopt's value, optarg set), taking
 * the global ones on the way; 0 at the end, with o->pos and o->npos set. A bad
 * option is recorded in ctl as a usage error and skipped.
 */
static int opts_next(struct ctl *ctl, struct opts *o)
{
	char buf[8];
	int c;

	while ((c = getopt_long(o->argc, o->argv, o->shorts, o->longs, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl->sock = optarg;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 'h':
			ctl->help = true;
			break;
		case ':': /* only ever at the end of the line: the last word */
			ctl_error(ctl, MOAT_EXIT_USAGE, "option '%s' needs a value",
				  o->argv[o->argc - 1]);
			break;
		case '?':
			ctl_error(ctl, MOAT_EXIT_USAGE, "unknown option '%s'",
				  refused_option(o, buf, sizeof(buf)));
			break;
		default:
			return c;
		}
	}
	o->pos = o->argv + optind;
	o->npos = o->argc - optind;
	return 0;
}

/* A whole number min..max from an option's value: 0, or -EINVAL with a usage error noted. */
static int parse_num(struct ctl *ctl, const char *opt, const char *arg, long min, long max,
		     long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (!*arg || *end || errno || v < min || v > max) {
		ctl_error(ctl, MOAT_EXIT_USAGE, "%s '%s': expected a number %ld..%ld", opt, arg,
			  min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static void command_help(const struct command *c)
{
	printf("usage: moatctl [OPTIONS] %s%s%s\n", c->name, c->args[0] ? " " : "", c->args);
	if (c->text)
		printf("\n%s", c->text);
	printf("\noptions, before or after the command:\n" GLOBAL_HELP);
}

/*
 * After a command's options and arguments: true when it ends here, its help
 * shown or an error reported, with the exit code in ctl->code.
 */
static bool ctl_stop(struct ctl *ctl)
{
	if (ctl->help) {
		command_help(ctl->cmd);
		ctl->code = MOAT_EXIT_OK;
		return true;
	}
	if (ctl->code) {
		ctl_report(ctl);
		return true;
	}
	return false;
}

static void no_arguments(struct ctl *ctl, const struct opts *o)
{
	if (o->npos)
		ctl_error(ctl, MOAT_EXIT_USAGE, "unexpected argument '%s'", o->pos[0]);
}

/* ---- talking to the daemon ---------------------------------------------------- */

static int exit_of(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED ? MOAT_EXIT_NO_DAEMON : MOAT_EXIT_ERROR;
}

static json_object *request(const char *cmd)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	return req;
}

/* An answer {"ok": false, "error": ...}: reported, and its exit code; 0 for anything else. */
static int refusal(struct ctl *ctl, json_object *reply)
{
	json_object *ok, *e;

	if (!json_object_object_get_ex(reply, "ok", &ok) || json_object_get_boolean(ok))
		return 0;
	e = json_object_object_get(reply, "error");
	return ctl_fail(ctl, MOAT_EXIT_ERROR, "%s", e ? json_object_get_string(e) : "refused");
}

/* Send req (consumed) and read the answer: 0 with *reply, or the exit code, reported. */
static int call(struct ctl *ctl, json_object *req, json_object **reply)
{
	char err[512] = "";
	json_object *ok;
	int r;

	*reply = NULL;
	r = moat_ctl_call(ctl->sock, req, reply, err, sizeof(err));
	json_object_put(req);
	if (r)
		return ctl_fail(ctl, exit_of(r), "%s", err[0] ? err : strerror(-r));
	if (!json_object_object_get_ex(*reply, "ok", &ok)) {
		json_object_put(*reply);
		return ctl_fail(ctl, MOAT_EXIT_ERROR, "%s: the daemon's answer has no \"ok\"",
				ctl->sock);
	}
	r = refusal(ctl, *reply);
	if (r) {
		json_object_put(*reply);
		*reply = NULL;
	}
	return r;
}

/* ---- explain ---------------------------------------------------------------- */

/*
 * With -j, stdout is one object per packet and an error ends it as one more
 * object, {"error", "exit"}, like every command's: explain's message is caught
 * and reported through ctl_fail.
 */
static int explain_json(struct ctl *ctl, const struct explain_opts *eo)
{
	static const char prefix[] = "moatctl explain: ";
	FILE *err;
	char *msg = NULL, *text;
	size_t len = 0;
	int rc;

	err = open_memstream(&msg, &len);
	if (!err)
		return moat_explain(eo, stdout, stderr);
	rc = moat_explain(eo, stdout, err);
	fclose(err);
	if (rc && len) {
		text = strncmp(msg, prefix, sizeof(prefix) - 1) ? msg : msg + sizeof(prefix) - 1;
		text[strcspn(text, "\n")] = '\0';
		ctl_fail(ctl, rc, "%s", text);
	} else if (len) {
		fputs(msg, stderr);
	}
	free(msg);
	return rc;
}

static int cmd_explain(struct ctl *ctl, int argc, char **argv)
{
	static const struct option own[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct explain_opts eo = { 0 };
	struct opts o;
	int c;

	opts_start(&o, argc, argv, false, "c:q", own);
	while ((c = opts_next(ctl, &o)) > 0) {
		if (c == 'c')
			eo.config = optarg;
		else
			eo.quiet = true;
	}
	if (o.npos != 1)
		ctl_error(ctl, MOAT_EXIT_USAGE, "expected exactly one capture file");
	if (ctl_stop(ctl))
		return ctl->code;
	eo.pcap = o.pos[0];
	eo.json = ctl->json;
	return ctl->json ? explain_json(ctl, &eo) : moat_explain(&eo, stdout, stderr);
}

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

		printf("%-10s %-6s %14s  %s\n", field(h, "id"), field(h, "action"),
		       field(h, "hits"), field(h, "msg"));
	}
}

static void print_stats_text(json_object *reply)
{
	json_object *reasons, *verdicts, *v;
	int r;

	if (json_object_object_get_ex(reply, "verdicts", &verdicts))
		printf("verdicts: pass %s, drop %s, tx %s\n",
		       field(verdicts, "pass"), field(verdicts, "drop"), field(verdicts, "tx"));
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
		no_arguments(ctl, o);
	else if (o->npos != 1)
		ctl_error(ctl, MOAT_EXIT_USAGE,
			  "expected one CIDR, like 192.0.2.0/24 or 2001:db8::/32");
	else if (moat_cidr_parse(o->pos[0], &cidr))
		ctl_error(ctl, MOAT_EXIT_USAGE, "'%s' is not an IPv4 or IPv6 CIDR", o->pos[0]);
}

/* Commands the daemon answers with one reply and moatctl only prints. */
static int cmd_daemon(struct ctl *ctl, int argc, char **argv)
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
			parse_num(ctl, "--ttl", optarg, 1, TTL_MAX_S, &ttl);
		else
			ctl_error(ctl, MOAT_EXIT_USAGE, "--ttl is for block and allow");
	}
	check_cidr_args(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	req = request(ctl->cmd->name);
	if (takes_cidr(id))
		json_object_object_add(req, "cidr", json_object_new_string(o.pos[0]));
	if (ttl)
		json_object_object_add(req, "ttl", json_object_new_int64(ttl));
	rc = call(ctl, req, &reply);
	if (rc)
		return rc;
	if (ctl->json)
		print_json(reply);
	else if (id == MOAT_CMD_STATS)
		print_stats_text(reply);
	else if (id == MOAT_CMD_STATUS)
		print_status_text(reply);
	else
		printf("ok\n");
	json_object_put(reply);
	return MOAT_EXIT_OK;
}

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
		       field(s, "source"),
		       json_object_get_double(json_object_object_get(s, "drops_per_s")),
		       json_object_get_double(json_object_object_get(s, "syn_per_s")),
		       field(s, "last_drop_reason"));
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
	print_json(line);
	json_object_put(line);
}

/* One refresh of top: stats and sources now, against prev; *prev becomes now's stats. */
static int top_refresh(struct ctl *ctl, json_object **prev, double *t0)
{
	json_object *cur, *top, *rates;
	double t1;
	int rc;

	rc = call(ctl, request("stats"), &cur);
	if (rc)
		return rc;
	rc = call(ctl, request("top"), &top);
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
static int cmd_top(struct ctl *ctl, int argc, char **argv)
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
			parse_num(ctl, "-n", optarg, 0, 1000000000, &count);
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
	no_arguments(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	rc = call(ctl, request("stats"), &prev);
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
		return ctl->code ? NULL : request("limits");
	}
	if (strcmp(o->pos[0], "set") || o->npos == 1) {
		ctl_error(ctl, MOAT_EXIT_USAGE, "expected show, or set KEY=N [KEY=N ...]");
		return NULL;
	}
	req = request("limits");
	set = json_object_new_object();
	json_object_object_add(req, "set", set);
	for (i = 1; i < o->npos; i++)
		if (add_limit_arg(ctl, set, o->pos[i])) {
			json_object_put(req);
			return NULL;
		}
	return req;
}

static int cmd_limits(struct ctl *ctl, int argc, char **argv)
{
	json_object *req, *reply, *limits;
	struct opts o;
	int rc;

	opts_start(&o, argc, argv, false, "", NULL);
	while (opts_next(ctl, &o) > 0)
		;
	req = ctl->help ? NULL : limits_request(ctl, &o);
	if (ctl_stop(ctl)) {
		json_object_put(req);
		return ctl->code;
	}
	rc = call(ctl, req, &reply);
	if (rc)
		return rc;
	if (ctl->json) {
		print_json(reply);
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

	snprintf(a, sizeof(a), "%s:%s", field(f, dp ? "src" : "local"),
		 field(f, dp ? "sport" : "lport"));
	snprintf(b, sizeof(b), "%s:%s", field(f, dp ? "dst" : "remote"),
		 field(f, dp ? "dport" : "rport"));
	printf("%-46s %-46s %-12s", a, b, field(f, "state"));
	if (dp)
		printf(" idle %ss lcore %s", field(f, "idle_s"), field(f, "lcore"));
	putchar('\n');
}

static void print_flows_text(json_object *reply)
{
	json_object *list;
	size_t i;

	print_flow_counts(reply);
	if (!json_object_object_get_ex(reply, "list", &list))
		return;
	printf("\n%s of them match (%zu shown)\n", field(reply, "matched"),
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
		if (parse_num(ctl, "--port", arg, 1, 65535, &n))
			return;
		json_object_object_add(req, "port", json_object_new_int((int)n));
		break;
	case 'n':
		if (parse_num(ctl, "-n", arg, 0, 100000, &n))
			return;
		json_object_object_add(req, "limit", json_object_new_int((int)n));
		break;
	}
	json_object_object_add(req, "list", json_object_new_boolean(1));
}

static int cmd_flows(struct ctl *ctl, int argc, char **argv)
{
	static const struct option own[] = {
		{ "list", no_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 'S' },
		{ "cidr", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	json_object *req = request("flows"), *reply;
	struct opts o;
	int c, rc;

	opts_start(&o, argc, argv, false, "ln:", own);
	while ((c = opts_next(ctl, &o)) > 0)
		flows_option(ctl, req, c, optarg);
	no_arguments(ctl, &o);
	if (ctl_stop(ctl)) {
		json_object_put(req);
		return ctl->code;
	}
	rc = call(ctl, req, &reply);
	if (rc)
		return rc;
	if (ctl->json)
		print_json(reply);
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

			rc = refusal(ctl, j); /* a refused stream's only line */
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
static int cmd_events(struct ctl *ctl, int argc, char **argv)
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
	no_arguments(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	req = request("events");
	json_object_object_add(req, "follow", json_object_new_boolean(follow));
	fd = moat_ctl_open_stream(ctl->sock, req, err, sizeof(err));
	json_object_put(req);
	if (fd < 0)
		return ctl_fail(ctl, exit_of(fd), "%s", err[0] ? err : strerror(-fd));
	return copy_events(ctl, fd);
}

/* ---- version, help ----------------------------------------------------------- */

static int cmd_version(struct ctl *ctl, int argc, char **argv)
{
	json_object *j;
	struct opts o;

	opts_start(&o, argc, argv, false, "", NULL);
	while (opts_next(ctl, &o) > 0)
		;
	no_arguments(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	if (!ctl->json) {
		printf("moatctl %s\n", MOAT_VERSION);
		return MOAT_EXIT_OK;
	}
	j = json_object_new_object();
	json_object_object_add(j, "version", json_object_new_string(MOAT_VERSION));
	print_json(j);
	json_object_put(j);
	return MOAT_EXIT_OK;
}

static int cmd_help(struct ctl *ctl, int argc, char **argv);

/* Commands moatctl answers itself. */
static const struct command own_cmds[] = {
	{ "explain", "[--config FILE] [--quiet] PCAP",
	  "run a capture through the engine, one verdict per packet",
	  "Runs the packets of PCAP (pcap or pcapng), in order, through the moat engine\n"
	  "with inline semantics (both directions visible) and the capture's timestamps\n"
	  "as the clock, and prints one line per packet: frame, time, endpoints, TCP\n"
	  "flags, verdict (pass | drop | tx) and reason, then a summary by reason.\n"
	  "The config's payload signatures apply too (a drop shows its id; an alert is\n"
	  "noted on the line), with per-signature hits in the summary.\n\n"
	  "  -j, --json          one JSON object per packet (frame, verdict, reason, ...);\n"
	  "                      an error reading the capture or config stays on stderr\n"
	  "  -c, --config FILE   moat YAML config (default: the built-in defaults)\n"
	  "  -q, --quiet         print the summary only\n\n"
	  "SYN cookies use a fixed secret here, so runs are reproducible. No root, NIC or\n"
	  "daemon needed. Exit: 0 ok, 1 missing/damaged capture, 2 usage or config error.\n",
	  -1, cmd_explain },
	{ "version", "", "print the version", "-j: {\"version\": \"X.Y.Z\"}.\n", -1, cmd_version },
	{ "help", "[COMMAND]", "show help", "The list of commands, or one command's help.\n", -1,
	  cmd_help },
};

#define N_OWN_CMDS (int)(sizeof(own_cmds) / sizeof(own_cmds[0]))

/* What moatctl adds to the daemons' commands (moat_cmds): how to run them, the longer help. */
static const struct {
	int (*run)(struct ctl *ctl, int argc, char **argv);
	const char *text;
} daemon_cmds[MOAT_CMD_COUNT] = {
	[MOAT_CMD_STATUS] = { cmd_daemon,
		"The running daemon: mode, interfaces, secrets, pinned maps.\n" },
	[MOAT_CMD_STATS] = { cmd_daemon,
		"Packets per reason and per verdict, summed over all CPUs or lcores.\n"
		"-j: the daemon's answer, {\"reasons\": {...}, \"verdicts\": {...}, ...}.\n" },
	[MOAT_CMD_FLOWS] = { cmd_flows,
		"Tracked flows per TCP state (moat-dp: its flow tables; host mode: the host's\n"
		"TCP sockets). --list (implied by a filter) lists up to N (-n, --count; default\n"
		"100) of those with state S, an endpoint in CIDR, or an endpoint's port P.\n"
		"moat-dp walks each table for it between bursts: on a large table, a few ms of\n"
		"latency.\n" },
	[MOAT_CMD_BLOCK] = { cmd_daemon,
		"Adds CIDR (a bare address is a /32 or /128) to the deny list, at once.\n"
		"--ttl SECONDS (1..2678400): the daemon takes it off again after that long.\n" },
	[MOAT_CMD_UNBLOCK] = { cmd_daemon, "Takes CIDR off the deny list.\n" },
	[MOAT_CMD_ALLOW] = { cmd_daemon,
		"Adds CIDR (a bare address is a /32 or /128) to the allow list, at once.\n"
		"--ttl SECONDS (1..2678400): the daemon takes it off again after that long.\n" },
	[MOAT_CMD_UNALLOW] = { cmd_daemon, "Takes CIDR off the allow list.\n" },
	[MOAT_CMD_RELOAD] = { cmd_daemon,
		"Re-reads the daemon's config file; a bad one is refused and the running\n"
		"policy stays.\n" },
	[MOAT_CMD_TOP] = { cmd_top,
		"Refreshes every SECONDS (-d, --delay; default 1) until Ctrl-C, or COUNT\n"
		"times (-n, --count). -j prints one JSON object per refresh: rates per\n"
		"reason and sources.\n" },
	[MOAT_CMD_LIMITS] = { cmd_limits,
		"Shows (the default) or changes the per-source and per-prefix limits of the\n"
		"running daemon (the keys of limits: in the config, e.g. source_syn_rate=200).\n"
		"A change is applied at once, all keys or none, and lasts until the next\n"
		"reload.\n" },
	[MOAT_CMD_EVENTS] = { cmd_events,
		"Prints the daemon's most recent sampled events (drops and answers, one\n"
		"JSON object per line: time, reason, verdict, 5-tuple, ttl, where seen);\n"
		"-f (--follow) then keeps printing new ones until interrupted. The lines\n"
		"are JSON with or without -j.\n" },
};

/* A daemon command as moatctl runs it; false for one that is not the operator's. */
static bool daemon_command(int id, struct command *out)
{
	if (id < 0 || id >= MOAT_CMD_COUNT || !moat_cmds[id].help || !daemon_cmds[id].run)
		return false;
	*out = (struct command){ moat_cmds[id].name, moat_cmds[id].args, moat_cmds[id].help,
				 daemon_cmds[id].text, id, daemon_cmds[id].run };
	return true;
}

static bool find_command(const char *name, struct command *out)
{
	int i;

	for (i = 0; i < N_OWN_CMDS; i++)
		if (!strcmp(own_cmds[i].name, name)) {
			*out = own_cmds[i];
			return true;
		}
	return daemon_command(moat_cmd_lookup(name), out);
}

static void usage_line(const struct command *c)
{
	printf("  %-8s %-40s %s\n", c->name, c->args, c->summary);
}

static void usage(void)
{
	struct command c;
	int i;

	printf("usage: moatctl [OPTIONS] COMMAND [ARGS] [OPTIONS]\n\ncommands:\n");
	for (i = 0; i < N_OWN_CMDS; i++)
		usage_line(&own_cmds[i]);
	for (i = 0; i < MOAT_CMD_COUNT; i++)
		if (daemon_command(i, &c))
			usage_line(&c);
	printf("\noptions, before or after the command:\n" GLOBAL_HELP
	       "\nexit codes: 0 ok, 1 bad input or an error from the daemon, 2 usage or config\n"
	       "error, 3 no daemon on the socket\n");
}

static int cmd_help(struct ctl *ctl, int argc, char **argv)
{
	struct command c;
	struct opts o;

	opts_start(&o, argc, argv, false, "", NULL);
	while (opts_next(ctl, &o) > 0)
		;
	if (o.npos > 1)
		ctl_error(ctl, MOAT_EXIT_USAGE, "unexpected argument '%s'", o.pos[1]);
	else if (o.npos == 1 && !find_command(o.pos[0], &c))
		ctl_error(ctl, MOAT_EXIT_USAGE, "unknown command '%s'", o.pos[0]);
	if (ctl_stop(ctl))
		return ctl->code;
	if (o.npos)
		command_help(&c);
	else
		usage();
	return MOAT_EXIT_OK;
}

/* An unknown command: its error, with the rest of the line read for -j. */
static int unknown_command(struct ctl *ctl, int argc, char **argv)
{
	struct opts o;

	ctl_error(ctl, MOAT_EXIT_USAGE, "unknown command '%s' (try moatctl --help)", argv[0]);
	opts_start(&o, argc, argv, false, "", NULL);
	while (opts_next(ctl, &o) > 0)
		;
	return ctl_report(ctl);
}

int main(int argc, char **argv)
{
	static const struct option own[] = {
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .sock = MOAT_DEFAULT_SOCKET };
	static char version[] = "version";
	char *version_argv[] = { version, NULL };
	bool want_version = false;
	struct command cmd;
	struct opts o;

	/* The options before the command; the command reads the rest, and any error so far. */
	opts_start(&o, argc, argv, true, "V", own);
	while (opts_next(&ctl, &o) > 0)
		want_version = true;
	if (!o.npos && want_version) {
		o.pos = version_argv;
		o.npos = 1;
	}
	if (!o.npos) {
		if (ctl.help) {
			usage();
			return MOAT_EXIT_OK;
		}
		return ctl_fail(&ctl, MOAT_EXIT_USAGE, "no command given (try moatctl --help)");
	}
	if (!find_command(o.pos[0], &cmd))
		return unknown_command(&ctl, o.npos, o.pos);
	ctl.cmd = &cmd;
	return cmd.run(&ctl, o.npos, o.pos);
}
