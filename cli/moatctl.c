// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatctl: the operator's command line. The command table (moatctl's own
 * commands and how it runs the daemons' from moat_cmds), explain, help and main;
 * the daemons' commands are in cmd_daemon.c and cmd_top.c, the shared parts in ctl.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "cli/explain.h"
#include "cli/cmd_fleet.h"
#include "cli/cmd_restart.h"

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

/* ---- version, help ----------------------------------------------------------- */

static int cmd_version(struct ctl *ctl, int argc, char **argv)
{
	json_object *j;
	struct opts o;

	opts_start(&o, argc, argv, false, "", NULL);
	while (opts_next(ctl, &o) > 0)
		;
	ctl_no_arguments(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	if (!ctl->json) {
		printf("moatctl %s\n", MOAT_VERSION);
		return MOAT_EXIT_OK;
	}
	j = json_object_new_object();
	json_object_object_add(j, "version", json_object_new_string(MOAT_VERSION));
	ctl_print_json(j);
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
	  "                      an error ends the output as one {\"error\", \"exit\"} object\n"
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
	[MOAT_CMD_CAPTURE] = { cmd_capture,
		"Writes pcapng (tcpdump, tshark, Wireshark) of the packets the daemon decides,\n"
		"until COUNT packets (-c, --count) or Ctrl-C. Each packet's comment says its\n"
		"reason, verdict and where it was seen (moatd: interface and CPU; moat-dp:\n"
		"port and lcore): tshark -r FILE -T fields -e frame.comment.\n\n"
		"  -w, --write FILE    the pcapng file; - (the default): stdout, not a\n"
		"                      terminal: moatctl capture -w - | tcpdump -r -\n"
		"  --reason R[,R..]    only these reasons (names as in moatctl stats)\n"
		"  --verdict V         only drop, tx or pass\n"
		"  -c, --count N       stop after N packets\n"
		"  --snaplen N         bytes of each frame, 14..512 (default 256)\n"
		"  --sample N          about one in N of the matching packets\n\n"
		"A SYN answered with a cookie is captured as it arrived. The daemon copies\n"
		"packets only while a capture runs, one capture at a time; what it cannot\n"
		"hand over in time is dropped from the capture and counted. At the end the\n"
		"counts go to stderr (-j: {\"captured\": N, \"lost\": N} on stdout, or on\n"
		"stderr when stdout carries the capture).\n" },
	[MOAT_CMD_DRAIN] = { cmd_drain, FLEET_DRAIN_HELP },
	[MOAT_CMD_UNDRAIN] = { cmd_drain, FLEET_UNDRAIN_HELP },
	[MOAT_CMD_RESTART] = { cmd_restart, RESTART_HELP },
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
		ctl_command_help(&c);
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

