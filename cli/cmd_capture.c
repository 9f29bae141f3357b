// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatctl capture: the daemon's stream of decided packets (control/capture.h)
 * written as pcapng (control/pcapng.h), each packet's reason, verdict and
 * where it was seen in its comment, until COUNT packets or Ctrl-C.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl.h"
#include "control/capture.h"
#include "control/pcapng.h"

#define CAP_IFS 64

struct cap_run {
	FILE *out;
	bool to_stdout;
	unsigned long long want, got, lost;
	unsigned int snaplen;
	char *ifs[CAP_IFS]; /* pcapng interface ids by name, as met */
	unsigned int n_ifs;
	const char *end; /* the daemon's reason to end, NULL: not ended by it */
};

static volatile sig_atomic_t cap_stop;

static void on_cap_signal(int sig)
{
	(void)sig;
	cap_stop = 1;
}

/* The interface id of name, its description written the first time: -1 when out of room. */
static int cap_ifid(struct cap_run *c, const char *name)
{
	unsigned int i;

	for (i = 0; i < c->n_ifs; i++)
		if (!strcmp(c->ifs[i], name))
			return (int)i;
	if (c->n_ifs == CAP_IFS || moat_pcapng_interface(c->out, name, c->snaplen))
		return -1;
	c->ifs[c->n_ifs] = strdup(name);
	return c->ifs[c->n_ifs] ? (int)c->n_ifs++ : -1;
}

static long long j_int(json_object *j, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(j, key, &v) ? json_object_get_int64(v) : 0;
}

/* One record line: a packet written. 0, or -errno (the output failed). */
static int cap_record(struct cap_run *c, json_object *j)
{
	unsigned char data[MOAT_CAPTURE_SNAP_MAX];
	const char *ifname = ctl_field(j, "if"), *where = "cpu";
	char comment[160];
	long n;
	int id;

	if (!json_object_object_get_ex(j, "cpu", NULL))
		where = "lcore";
	n = moat_base64_decode(ctl_field(j, "data") ? ctl_field(j, "data") : "", data, sizeof(data));
	if (n < 0 || !ifname)
		return 0; /* not a record of ours: skipped */
	id = cap_ifid(c, ifname);
	if (id < 0)
		return -ENOSPC;
	snprintf(comment, sizeof(comment), "reason=%s verdict=%s if=%s %s=%lld",
		 ctl_field(j, "reason"), ctl_field(j, "verdict"), ifname, where, j_int(j, where));
	if (moat_pcapng_packet(c->out, (uint32_t)id, (uint64_t)j_int(j, "t"), data, (uint32_t)n,
			       (uint32_t)j_int(j, "len"), comment) ||
	    fflush(c->out))
		return -EIO;
	c->got++;
	return 0;
}

/* One line of the stream after the first: a record, a beat or the end. 1 to stop. */
static int cap_line(struct ctl *ctl, struct cap_run *c, const char *line)
{
	json_object *j = json_tokener_parse(line);
	int r = 0;

	if (!j)
		return 0;
	if (json_object_object_get_ex(j, "data", NULL)) {
		/* COUNT reached: the daemon's end line (with the lost count) comes next. */
		if (c->want && c->got >= c->want) {
			json_object_put(j);
			return 1;
		}
		r = cap_record(c, j);
		if (r)
			ctl_fail(ctl, MOAT_EXIT_ERROR, "cannot write the capture: %s", strerror(-r));
	} else if (json_object_object_get_ex(j, "lost", NULL)) {
		c->lost = (unsigned long long)j_int(j, "lost");
		if (json_object_object_get_ex(j, "end", NULL)) {
			c->end = ctl_field(j, "end");
			c->end = c->end && !strcmp(c->end, "count") ? "count" : "stopped";
			r = 1;
		}
	}
	json_object_put(j);
	return r;
}

static void cap_summary(const struct ctl *ctl, const struct cap_run *c)
{
	FILE *to = c->to_stdout ? stderr : stdout;

	if (ctl->json) {
		fprintf(to, "{\"captured\":%llu,\"lost\":%llu}\n", c->got, c->lost);
		fflush(to);
		return;
	}
	fprintf(stderr, "moatctl capture: %llu packet%s captured, %llu lost\n",
		c->got, c->got == 1 ? "" : "s", c->lost);
}

/* Read the stream of fd into c->out until the end, COUNT or Ctrl-C. */
static int cap_copy(struct ctl *ctl, struct cap_run *c, FILE *in)
{
	/* No SA_RESTART: Ctrl-C must end the blocking read. */
	struct sigaction sa = { .sa_handler = on_cap_signal };
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a reader that left (| head): a write error ends us */
	while (!cap_stop && getline(&line, &cap, in) > 0)
		if (cap_line(ctl, c, line))
			break;
	free(line);
	if (ctl->code)
		rc = ctl->code;
	return rc;
}

/* The daemon's first line: its refusal, or the capture's settings. 0 or the exit code. */
static int cap_first(struct ctl *ctl, struct cap_run *c, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	json_object *j;
	int rc;

	if (getline(&line, &cap, in) <= 0) {
		free(line);
		return ctl_fail(ctl, MOAT_EXIT_ERROR, "the daemon closed the connection without an answer");
	}
	j = json_tokener_parse(line);
	free(line);
	if (!j)
		return ctl_fail(ctl, MOAT_EXIT_ERROR, "the daemon answered something that is not JSON");
	rc = ctl_refusal(ctl, j);
	c->snaplen = (unsigned int)j_int(j, "snaplen");
	json_object_put(j);
	return rc;
}

static json_object *cap_reasons(const char *list)
{
	json_object *arr = json_object_new_array();
	char *copy = strdup(list), *save = NULL, *tok;

	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
		json_object_array_add(arr, json_object_new_string(tok));
	free(copy);
	return arr;
}

static int cap_open_out(struct ctl *ctl, struct cap_run *c, const char *path)
{
	c->to_stdout = !strcmp(path, "-");
	if (c->to_stdout && isatty(STDOUT_FILENO))
		return ctl_fail(ctl, MOAT_EXIT_USAGE,
				"will not write pcapng to a terminal: give -w FILE, or pipe it (-w - | tcpdump -r -)");
	c->out = c->to_stdout ? stdout : fopen(path, "wb");
	if (!c->out)
		return ctl_fail(ctl, MOAT_EXIT_ERROR, "%s: %s", path, strerror(errno));
	if (moat_pcapng_header(c->out, "moatctl " MOAT_VERSION) || fflush(c->out))
		return ctl_fail(ctl, MOAT_EXIT_ERROR, "%s: cannot write", path);
	return 0;
}

static void cap_close(struct cap_run *c)
{
	unsigned int i;

	if (c->out && !c->to_stdout)
		fclose(c->out);
	else if (c->out)
		fflush(c->out);
	for (i = 0; i < c->n_ifs; i++)
		free(c->ifs[i]);
}

/* The command line into req: the output path. */
static const char *cap_options(struct ctl *ctl, int argc, char **argv, json_object *req,
			       struct cap_run *c)
{
	static const struct option own[] = {
		{ "write", required_argument, NULL, 'w' },
		{ "reason", required_argument, NULL, 'r' },
		{ "verdict", required_argument, NULL, 'V' },
		{ "count", required_argument, NULL, 'c' },
		{ "snaplen", required_argument, NULL, 'S' },
		{ "sample", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "-";
	struct opts o;
	long v;
	int opt;

	opts_start(&o, argc, argv, false, "w:c:", own);
	while ((opt = opts_next(ctl, &o)) > 0) {
		if (opt == 'w')
			path = optarg;
		else if (opt == 'r')
			json_object_object_add(req, "reasons", cap_reasons(optarg));
		else if (opt == 'V')
			json_object_object_add(req, "verdict", json_object_new_string(optarg));
		else if (opt == 'c' && !ctl_parse_num(ctl, "-c", optarg, 1, 1L << 40, &v))
			c->want = (unsigned long long)v;
		else if (opt == 'S' && !ctl_parse_num(ctl, "--snaplen", optarg, 14,
						       MOAT_CAPTURE_SNAP_MAX, &v))
			json_object_object_add(req, "snaplen", json_object_new_int64(v));
		else if (opt == 'N' && !ctl_parse_num(ctl, "--sample", optarg, 1, 1000000000, &v))
			json_object_object_add(req, "sample", json_object_new_int64(v));
	}
	ctl_no_arguments(ctl, &o);
	if (c->want)
		json_object_object_add(req, "count", json_object_new_int64((int64_t)c->want));
	return path;
}

int cmd_capture(struct ctl *ctl, int argc, char **argv)
{
	json_object *req = ctl_request("capture");
	struct cap_run c = { 0 };
	const char *path = cap_options(ctl, argc, argv, req, &c);
	char err[512] = "";
	FILE *in = NULL;
	int fd, rc;

	if (ctl_stop(ctl)) {
		json_object_put(req);
		return ctl->code;
	}
	fd = moat_ctl_open_stream(ctl->sock, req, err, sizeof(err));
	json_object_put(req);
	if (fd < 0)
		return ctl_fail(ctl, ctl_exit_of(fd), "%s", err[0] ? err : strerror(-fd));
	in = fdopen(fd, "r");
	if (!in) {
		close(fd);
		return ctl_fail(ctl, MOAT_EXIT_ERROR, "%s", strerror(errno));
	}
	rc = cap_first(ctl, &c, in);
	if (!rc)
		rc = cap_open_out(ctl, &c, path);
	if (!rc) {
		/* Said once the daemon captures: a script may wait for this line. */
		fprintf(stderr, "moatctl capture: writing %s (Ctrl-C to stop)\n",
			c.to_stdout ? "stdout" : path);
		rc = cap_copy(ctl, &c, in);
		cap_summary(ctl, &c);
	}
	fclose(in); /* the daemon sees the connection go and ends the capture */
	cap_close(&c);
	return rc;
}
