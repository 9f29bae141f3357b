// SPDX-License-Identifier: BSD-3-Clause
#include "daemon/dplink.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/proto.h"

#define BACKOFF_MAX_S 30

#define logmsg(...) moat_log("moatd", __VA_ARGS__)

static int build_argv(struct moat_dplink *l, const struct moat_config *cfg, const char *config_path)
{
	size_t n = 0, max = sizeof(l->argv) / sizeof(l->argv[0]) - 5;
	const char *w = cfg->dp_command;
	unsigned int i;

	l->words = malloc(sizeof(cfg->dp_command));
	if (!l->words)
		return -ENOMEM;
	memcpy(l->words, cfg->dp_command, sizeof(cfg->dp_command));
	for (i = 0, w = l->words; i < cfg->dp_argc && n < max; i++, w += strlen(w) + 1)
		l->argv[n++] = (char *)w;
	if (i < cfg->dp_argc)
		return -E2BIG;
	l->argv[n++] = "--config";
	l->argv[n++] = (char *)config_path;
	l->argv[n++] = "--socket";
	l->argv[n++] = l->socket;
	l->argv[n] = NULL;
	return 0;
}

int moat_dplink_init(struct moat_dplink *l, const struct moat_config *cfg, const char *config_path,
		     char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->ev_fd = -1;
	snprintf(l->socket, sizeof(l->socket), "%s", cfg->dp_socket);
	if (!cfg->dp_argc)
		return 0;
	if (build_argv(l, cfg, config_path)) {
		snprintf(err, errlen, "%s: key 'dpdk.command': too many words", config_path);
		return -E2BIG;
	}
	l->backoff_s = 1;
	return 0;
}

static void start_child(struct moat_dplink *l)
{
	pid_t pid = fork();

	if (pid < 0) {
		logmsg("cannot start moat-dp: %s", strerror(errno));
		return;
	}
	if (!pid) {
		sigset_t none;

		/* moatd blocks the signals it takes through signalfd: moat-dp must not. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execvp(l->argv[0], l->argv);
		fprintf(stderr, "moatd: cannot run %s: %s\n", l->argv[0], strerror(errno));
		_exit(127);
	}
	l->pid = pid;
	l->up = false;
	logmsg("started moat-dp, pid %d", (int)pid);
}

static void reap_child(struct moat_dplink *l)
{
	int status;
	pid_t r;

	if (!l->pid || (r = waitpid(l->pid, &status, WNOHANG)) == 0)
		return;
	if (WIFEXITED(status))
		logmsg("moat-dp (pid %d) exited with status %d; restarting in %u s", (int)l->pid,
		       WEXITSTATUS(status), l->backoff_s);
	else
		logmsg("moat-dp (pid %d) was killed by signal %d; restarting in %u s", (int)l->pid,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0, l->backoff_s);
	l->pid = 0;
	l->up = false;
	l->restarts++;
	l->next_start = time(NULL) + l->backoff_s;
	/* Quick deaths in a row (a bad command line) should not spin. */
	l->backoff_s = l->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : l->backoff_s * 2;
}

void moat_dplink_tick(struct moat_dplink *l)
{
	json_object *reply = NULL;
	char err[256];

	if (l->argv[0]) {
		reap_child(l);
		if (!l->pid && time(NULL) >= l->next_start)
			start_child(l);
	}
	if (l->up && l->ev_fd >= 0)
		return;
	if (moat_dplink_call(l, "status", NULL, &reply, err, sizeof(err))) {
		l->up = false;
		return;
	}
	json_object_put(reply);
	if (!l->up) {
		l->up = true;
		l->generation++;
		l->backoff_s = 1;
	}
}

int moat_dplink_call(struct moat_dplink *l, const char *cmd, json_object *req, json_object **reply,
		     char *err, size_t errlen)
{
	json_object *r = json_object_new_object();
	int rc;

	if (req) {
		json_object_object_foreach(req, key, val)
		{
			json_object_object_add(r, key, json_object_get(val));
		}
	}
	json_object_object_add(r, "cmd", json_object_new_string(cmd));
	rc = moat_ctl_call(l->socket, r, reply, err, errlen);
	json_object_put(r);
	if (rc)
		snprintf(err, errlen, "moat-dp does not answer on %s%s", l->socket,
			 l->pid ? " (starting?)" : " (is it running?)");
	return rc;
}

int moat_dplink_events_open(struct moat_dplink *l)
{
	json_object *req;
	char err[256];

	if (l->ev_fd >= 0)
		return l->ev_fd;
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("events"));
	json_object_object_add(req, "follow", json_object_new_boolean(1));
	l->ev_fd = moat_ctl_open_stream(l->socket, req, err, sizeof(err));
	json_object_put(req);
	l->ev_len = 0;
	if (l->ev_fd < 0)
		l->ev_fd = -1;
	return l->ev_fd;
}

int moat_dplink_events_read(struct moat_dplink *l, void (*fn)(const char *line, void *ctx),
			    void *ctx)
{
	ssize_t n = read(l->ev_fd, l->ev_buf + l->ev_len, sizeof(l->ev_buf) - 1 - l->ev_len);
	char *start, *nl;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		close(l->ev_fd);
		l->ev_fd = -1;
		return -1;
	}
	l->ev_len += (size_t)n;
	l->ev_buf[l->ev_len] = '\0';
	for (start = l->ev_buf; (nl = strchr(start, '\n')); start = nl + 1) {
		*nl = '\0';
		fn(start, ctx);
	}
	l->ev_len -= (size_t)(start - l->ev_buf);
	memmove(l->ev_buf, start, l->ev_len);
	if (l->ev_len == sizeof(l->ev_buf) - 1)
		l->ev_len = 0; /* a line longer than the buffer: not an event of ours */
	return 0;
}

void moat_dplink_stop(struct moat_dplink *l)
{
	int i, status;

	if (l->ev_fd >= 0)
		close(l->ev_fd);
	l->ev_fd = -1;
	if (l->pid > 0) {
		kill(l->pid, SIGTERM);
		for (i = 0; i < 100 && waitpid(l->pid, &status, WNOHANG) == 0; i++)
			usleep(100000);
		if (i == 100) {
			logmsg("moat-dp (pid %d) did not stop in 10 s: killing it", (int)l->pid);
			kill(l->pid, SIGKILL);
			waitpid(l->pid, &status, 0);
		}
		l->pid = 0;
	}
	free(l->words);
	l->words = NULL;
}
