/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What moatctl's files share: the global options and the first error met
 * (struct ctl), one pass of option parsing (struct opts), the command
 * description, and the round trip to a daemon.
 *
 * The global options (--socket, --json, --help) go before or after the
 * command, as ip and bpftool take them: opts_next() reads them together with
 * the command's own options, wherever they stand. Every error goes through
 * ctl_report(): a line on stderr and, with --json, one object
 * {"error": TEXT, "exit": CODE} on stdout.
 */
#ifndef MOAT_CLI_CTL_H
#define MOAT_CLI_CTL_H

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "control/proto.h"

#define TTL_MAX_S (31 * 86400)

#define GLOBAL_HELP                                                                                \
	"  -s, --socket PATH   the daemon's control socket (default " MOAT_DEFAULT_SOCKET ")\n"    \
	"  -j, --json          JSON output; an error is one object on stdout,\n"                   \
	"                      {\"error\": TEXT, \"exit\": CODE}, beside the line on stderr\n"     \
	"  -h, --help          help, of moatctl or of the command\n"                             \
	"  -V, --version       print the version (the command `version`)\n"

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

/* ---- errors: noted once, reported once ---- */
/* Note an error, to be reported once the whole line is read (a later -j counts). */
void ctl_error(struct ctl *ctl, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The error recorded, on stderr and (with --json) on stdout: its exit code. */
int ctl_report(const struct ctl *ctl);
/* Note an error (unless one came first) and report it: the exit code. */
int ctl_fail(struct ctl *ctl, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- options ---- */
void opts_start(struct opts *o, int argc, char **argv, bool in_order, const char *shorts,
		const struct option *own);
/* The next option of the command's own (> 0), or 0 at the end; global ones are taken. */
int opts_next(struct ctl *ctl, struct opts *o);
int ctl_parse_num(struct ctl *ctl, const char *opt, const char *arg, long min, long max,
		  long *out);
void ctl_command_help(const struct command *c);
/* After a command's options: true when it ends here (help shown or error reported). */
bool ctl_stop(struct ctl *ctl);
void ctl_no_arguments(struct ctl *ctl, const struct opts *o);

/* ---- JSON and the daemon ---- */
const char *ctl_field(json_object *o, const char *key);
void ctl_print_json(json_object *j);
int ctl_exit_of(int err);
json_object *ctl_request(const char *cmd);
/* An answer {"ok": false, "error": ...}: reported, and its exit code; 0 for anything else. */
int ctl_refusal(struct ctl *ctl, json_object *reply);
/* Send req (consumed) and read the answer: 0 with *reply, or the exit code, reported. */
int ctl_call(struct ctl *ctl, json_object *req, json_object **reply);
/* After the command line: ctl_stop, or ctl_call. 0 with *reply, or the exit code (*reply NULL). */
int ctl_send(struct ctl *ctl, json_object *req, json_object **reply);

/* ---- the commands (cmd_daemon.c, cmd_top.c) ---- */
int cmd_daemon(struct ctl *ctl, int argc, char **argv);
int cmd_limits(struct ctl *ctl, int argc, char **argv);
int cmd_flows(struct ctl *ctl, int argc, char **argv);
int cmd_events(struct ctl *ctl, int argc, char **argv);
int cmd_top(struct ctl *ctl, int argc, char **argv);
/* cmd_capture.c */
int cmd_capture(struct ctl *ctl, int argc, char **argv);

#endif
