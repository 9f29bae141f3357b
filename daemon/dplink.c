// SPDX-License-Identifier: BSD-3-Clause
#include "daemon/dplink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control/proto.h"

#define BACKOFF_MAX_S 30

/*
 * How long moatd waits for moat-dp's answer: a reload or a signature set may
 * compile thousands of patterns; anything else answers at once, and a status
 * probe runs every second in moatd's loop, so it is kept short.
 */
enum dp_call_timeout_ms {
	DP_CALL_PROBE_MS = 2000,
	DP_CALL_MS = 5000,
	DP_CALL_COMPILE_MS = 120000,
};

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
	l->pidfd = -1;
	snprintf(l->socket, sizeof(l->socket), "%s", cfg->dp_socket);
	snprintf(l->pidfile, sizeof(l->pidfile), "%s.pid", l->socket);
	if (!cfg->dp_argc)
		return 0;
	if (build_argv(l, cfg, config_path)) {
		snprintf(err, errlen, "%s: key 'dpdk.command': too many words", config_path);
		return -E2BIG;
	}
	l->backoff_s = 1;
	return 0;
}

/* In the child, before exec: its pid where a moatd started later looks for it. */
static void write_pidfile(const char *path)
{
	char text[24];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int n = snprintf(text, sizeof(text), "%d\n", (int)getpid());

	if (fd < 0 || write(fd, text, (size_t)n) != n)
		fprintf(stderr, "moatd: cannot write %s: %s: a moatd restarted while moat-dp starts could not find it\n",
			path, strerror(errno));
	if (fd >= 0)
		close(fd);
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
		write_pidfile(l->pidfile);
		execvp(l->argv[0], l->argv);
		fprintf(stderr, "moatd: cannot run %s: %s\n", l->argv[0], strerror(errno));
		_exit(127);
	}
	l->pid = pid;
	l->up = false;
	logmsg("started moat-dp, pid %d", (int)pid);
}

/* A pidfd for a process that is not our child (Linux 5.3+): -1 with errno without one. */
static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Through the pidfd when there is one: a pid reused since cannot be hit. */
static void signal_dp(const struct moat_dplink *l, int sig)
{
#ifdef SYS_pidfd_send_signal
	if (l->pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, l->pidfd, sig, NULL, 0);
		return;
	}
#endif
	kill(l->pid, sig);
}

/* A re-attached moat-dp is reaped by init, not us: its pidfd polls readable once it exited. */
static bool adopted_exited(const struct moat_dplink *l)
{
	struct pollfd p = { .fd = l->pidfd, .events = POLLIN };

	if (l->pidfd < 0)
		return kill(l->pid, 0) && errno == ESRCH;
	return poll(&p, 1, 0) > 0;
}

/* Has our moat-dp exited? Then it is reaped, and said why. */
static bool reaped(struct moat_dplink *l)
{
	int status = 0;

	if (l->adopted) {
		if (!adopted_exited(l))
			return false;
		if (l->planned)
			logmsg("moat-dp (pid %d, re-attached) ended for a restart; starting the next one now",
			       (int)l->pid);
		else
			logmsg("moat-dp (pid %d, re-attached) exited; restarting in %u s", (int)l->pid,
			       l->backoff_s);
		close(l->pidfd);
		l->pidfd = -1;
		l->adopted = false;
		return true;
	}
	if (waitpid(l->pid, &status, WNOHANG) == 0)
		return false;
	if (WIFEXITED(status) && WEXITSTATUS(status) == MOAT_DP_EXIT_RESTART)
		l->planned = true;
	if (l->planned)
		logmsg("moat-dp (pid %d) ended for a restart; starting the next one now", (int)l->pid);
	else if (WIFEXITED(status))
		logmsg("moat-dp (pid %d) exited with status %d; restarting in %u s", (int)l->pid,
		       WEXITSTATUS(status), l->backoff_s);
	else
		logmsg("moat-dp (pid %d) was killed by signal %d; restarting in %u s", (int)l->pid,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0, l->backoff_s);
	return true;
}

static void reap_child(struct moat_dplink *l)
{
	if (!l->pid || !reaped(l))
		return;
	l->pid = 0;
	l->up = false;
	l->adopted_starting = false;
	unlink(l->pidfile);
	if (l->planned) {
		/* moatctl restart, or moat-dp's own: the next one adopts its flows, at once. */
		l->planned = false;
		l->planned_restarts++;
		l->next_start = time(NULL);
		l->backoff_s = 1;
		return;
	}
	l->restarts++;
	l->next_start = time(NULL) + l->backoff_s;
	/* Quick deaths in a row (a bad command line) should not spin. */
	l->backoff_s = l->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : l->backoff_s * 2;
}

/* A moat-dp found running, ours to supervise from now on: watched through a pidfd. */
static void adopt(struct moat_dplink *l, pid_t pid)
{
	l->pid = pid;
	l->adopted = true;
	l->pidfd = pidfd_of(pid);
	if (l->pidfd < 0)
		logmsg("pidfd_open(%d): %s: moat-dp's exit is seen by kill(pid, 0) instead",
		       (int)pid, strerror(errno));
}

static long long json_int(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/*
 * The moat-dp that answered st is ours to supervise (dpdk.command) if it runs
 * our config and says its pid: 0, or -errno with err.
 */
static int check_adoptable(const struct moat_dplink *l, json_object *st, const char *config_path,
			   char *err, size_t errlen)
{
	json_object *v;
	const char *config =
		json_object_object_get_ex(st, "config", &v) ? json_object_get_string(v) : "?";
	pid_t pid = (pid_t)json_int(st, "pid");

	if (pid <= 0) {
		snprintf(err, errlen, "the moat-dp answering on %s does not say its pid: cannot supervise it",
			 l->socket);
		return -EPROTO;
	}
	if (strcmp(config, config_path)) {
		snprintf(err, errlen, "moat-dp (pid %d) on %s runs %s, not %s: stop it, or leave dpdk.command unset to drive it as it runs",
			 (int)pid, l->socket, config, config_path);
		return -EEXIST;
	}
	return 0;
}

/* Does argv (NUL-separated, n bytes) hold the word `key` followed by the word `val`? */
static bool has_arg_pair(const char *argv, size_t n, const char *key, const char *val)
{
	const char *w = argv, *end = argv + n, *next;

	for (; w < end; w = next) {
		next = w + strnlen(w, (size_t)(end - w)) + 1;
		if (!strcmp(w, key) && next < end && !strncmp(next, val, (size_t)(end - next)))
			return true;
	}
	return false;
}

/*
 * The pid in our pid file, if that process is a moat-dp a moatd started on
 * this socket with this config (its command line says so: a pid reused by
 * anything else is not taken): the pid, or 0.
 */
static pid_t starting_dp(const struct moat_dplink *l, const char *config_path)
{
	char path[64], cmdline[8192];
	int pid = 0, fd;
	ssize_t n;
	FILE *f = fopen(l->pidfile, "re");

	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1 || pid <= 0)
		pid = 0;
	fclose(f);
	if (!pid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, cmdline, sizeof(cmdline) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	cmdline[n] = '\0';
	if (!has_arg_pair(cmdline, (size_t)n, "--socket", l->socket) ||
	    !has_arg_pair(cmdline, (size_t)n, "--config", config_path))
		return 0;
	return (pid_t)pid;
}

int moat_dplink_attach(struct moat_dplink *l, const char *config_path, char *err, size_t errlen)
{
	json_object *st = NULL;
	pid_t pid;
	int r;

	if (moat_dplink_call(l, "status", NULL, &st, err, errlen)) {
		pid = l->argv[0] ? starting_dp(l, config_path) : 0;
		if (pid) {
			adopt(l, pid);
			l->adopted_starting = true;
			logmsg("moat-dp (pid %d) is starting on %s (a previous moatd started it): waiting for it to answer, not starting another",
			       (int)pid, l->socket);
		}
		return 0;
	}
	r = l->argv[0] ? check_adoptable(l, st, config_path, err, errlen) : 0;
	if (!r) {
		if (l->argv[0])
			adopt(l, (pid_t)json_int(st, "pid"));
		logmsg("re-attached to the moat-dp running on %s (pid %lld, up %lld s%s): its policy, lists and signatures stay as they run; `moatctl reload` applies the file",
		       l->socket, json_int(st, "pid"), json_int(st, "uptime_s"),
		       l->argv[0] ? ", supervised" : "");
		l->up = true;
		l->attached_generation = ++l->generation;
	}
	json_object_put(st);
	return r ? r : 1;
}

bool moat_dplink_reattached(const struct moat_dplink *l)
{
	if (l->adopted_starting)
		return false; /* it started from the file alone: it gets everything */
	return l->adopted || (l->attached_generation && l->generation == l->attached_generation);
}

void moat_dplink_planned(struct moat_dplink *l)
{
	l->planned = true;
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
		if (l->up)
			logmsg("%s", err);
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

static unsigned int call_timeout_ms(const char *cmd)
{
	if (!strcmp(cmd, "status"))
		return DP_CALL_PROBE_MS;
	if (!strcmp(cmd, "reload") || !strcmp(cmd, "signatures"))
		return DP_CALL_COMPILE_MS;
	return DP_CALL_MS;
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
	rc = moat_ctl_call_within(l->socket, r, call_timeout_ms(cmd), reply, err, errlen);
	json_object_put(r);
	if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "moat-dp accepted `%s` on %s but did not answer within %u s (hung or stopped?)",
			 cmd, l->socket, call_timeout_ms(cmd) / 1000);
	else if (rc)
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

/* Up to tenths x 0.1 s for moat-dp to exit (reaped when ours): true once it did. */
static bool wait_exit(struct moat_dplink *l, int tenths)
{
	int i, status;

	for (i = 0; i < tenths; i++) {
		if (l->adopted ? adopted_exited(l) : waitpid(l->pid, &status, WNOHANG) != 0)
			return true;
		usleep(100000);
	}
	return false;
}

static void stop_dp(struct moat_dplink *l)
{
	signal_dp(l, SIGTERM);
	if (wait_exit(l, 100))
		return;
	logmsg("moat-dp (pid %d) did not stop in 10 s: killing it", (int)l->pid);
	signal_dp(l, SIGKILL);
	wait_exit(l, 50);
}

void moat_dplink_stop(struct moat_dplink *l, bool keep)
{
	if (l->ev_fd >= 0)
		close(l->ev_fd);
	l->ev_fd = -1;
	if (l->pid > 0 && keep)
		logmsg("leaving moat-dp (pid %d) running: the next moatd re-attaches to it",
		       (int)l->pid);
	else if (l->pid > 0) {
		stop_dp(l);
		unlink(l->pidfile);
	}
	l->pid = 0;
	if (l->pidfd >= 0)
		close(l->pidfd);
	l->pidfd = -1;
	l->adopted = false;
	free(l->words);
	l->words = NULL;
}
