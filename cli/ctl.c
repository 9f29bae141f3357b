// SPDX-License-Identifier: BSD-3-Clause
/* moatctl's shared parts: errors, options, the round trip to a daemon (cli/ctl.h). */
#include "cli/ctl.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ctl_field(json_object *o, const char *key)
{
	return json_object_get_string(json_object_object_get(o, key));
}

void ctl_print_json(json_object *j)
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
void __attribute__((format(printf, 3, 4)))
ctl_error(struct ctl *ctl, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(ctl, code, fmt, ap);
	va_end(ap);
}

/* The error recorded, on stderr and (with --json) on stdout: its exit code. */
int ctl_report(const struct ctl *ctl)
{
	json_object *j;

	fprintf(stderr, "moatctl%s%s: %s\n", ctl->cmd ? " " : "", ctl->cmd ? ctl->cmd->name : "",
		ctl->err);
	if (!ctl->json)
		return ctl->code;
	j = json_object_new_object();
	json_object_object_add(j, "error", json_object_new_string(ctl->err));
	json_object_object_add(j, "exit", json_object_new_int(ctl->code));
	ctl_print_json(j);
	json_object_put(j);
	return ctl->code;
}

/* Note an error (unless one came first) and report it: the exit code. */
int __attribute__((format(printf, 3, 4)))
ctl_fail(struct ctl *ctl, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(ctl, code, fmt, ap);
	va_end(ap);
	return ctl_report(ctl);
}

/* ---- options ---------------------------------------------------------------- */


/*
 * in_order: stop at the first argument that is not an option (the options
 * before the command); otherwise options and arguments may mix.
 */
void opts_start(struct opts *o, int argc, char **argv, bool in_order, const char *shorts,
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
int opts_next(struct ctl *ctl, struct opts *o)
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
int ctl_parse_num(struct ctl *ctl, const char *opt, const char *arg, long min, long max,
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

void ctl_command_help(const struct command *c)
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
bool ctl_stop(struct ctl *ctl)
{
	if (ctl->help) {
		ctl_command_help(ctl->cmd);
		ctl->code = MOAT_EXIT_OK;
		return true;
	}
	if (ctl->code) {
		ctl_report(ctl);
		return true;
	}
	return false;
}

void ctl_no_arguments(struct ctl *ctl, const struct opts *o)
{
	if (o->npos)
		ctl_error(ctl, MOAT_EXIT_USAGE, "unexpected argument '%s'", o->pos[0]);
}

/* ---- talking to the daemon ---------------------------------------------------- */

int ctl_exit_of(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED ? MOAT_EXIT_NO_DAEMON : MOAT_EXIT_ERROR;
}

json_object *ctl_request(const char *cmd)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	return req;
}

/* An answer {"ok": false, "error": ...}: reported, and its exit code; 0 for anything else. */
int ctl_refusal(struct ctl *ctl, json_object *reply)
{
	json_object *ok, *e;

	if (!json_object_object_get_ex(reply, "ok", &ok) || json_object_get_boolean(ok))
		return 0;
	e = json_object_object_get(reply, "error");
	return ctl_fail(ctl, MOAT_EXIT_ERROR, "%s", e ? json_object_get_string(e) : "refused");
}

/* Send req (consumed) and read the answer: 0 with *reply, or the exit code, reported. */
int ctl_call(struct ctl *ctl, json_object *req, json_object **reply)
{
	char err[512] = "";
	json_object *ok;
	int r;

	*reply = NULL;
	r = moat_ctl_call(ctl->sock, req, reply, err, sizeof(err));
	json_object_put(req);
	if (r)
		return ctl_fail(ctl, ctl_exit_of(r), "%s", err[0] ? err : strerror(-r));
	if (!json_object_object_get_ex(*reply, "ok", &ok)) {
		json_object_put(*reply);
		return ctl_fail(ctl, MOAT_EXIT_ERROR, "%s: the daemon's answer has no \"ok\"",
				ctl->sock);
	}
	r = ctl_refusal(ctl, *reply);
	if (r) {
		json_object_put(*reply);
		*reply = NULL;
	}
	return r;
}

/* The command line read: stop there (help shown, error reported) or send req (consumed). */
int ctl_send(struct ctl *ctl, json_object *req, json_object **reply)
{
	*reply = NULL;
	if (ctl_stop(ctl)) {
		json_object_put(req);
		return ctl->code;
	}
	return ctl_call(ctl, req, reply);
}
