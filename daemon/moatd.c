// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatd: the control-plane daemon. Runs the configured backend - xdp (loads,
 * attaches and adopts the XDP program and its pinned maps: backend_xdp.c) or
 * dpdk (drives moat-dp over its socket, starting and supervising it when told
 * how: backend_dpdk.c), chosen once at start - keeps policy, secrets and lists
 * in it, answers moatctl on a Unix socket through the shared server shell, and
 * serves metrics and sampled events. On SIGINT/SIGTERM it detaches XDP unless
 * keep_attached, or stops the moat-dp it supervises unless keep_attached (a
 * moatd that starts while moat-dp runs re-attaches to it: backend_dpdk.c).
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "control/metrics.h"
#include "control/notify.h"
#include "control/server.h"
#include "daemon/bgp.h"
#include "daemon/moatd.h"
#include "flow/sigs.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: moatd --config FILE [--socket PATH]\n"
		"       moatd --check FILE\n\n"
		"Runs in the foreground until SIGINT/SIGTERM. With mode: xdp it loads the XDP\n"
		"program, attaches it to the configured interfaces of this network namespace and\n"
		"detaches on stop unless keep_attached: true. With mode: dpdk it drives moat-dp\n"
		"over dpdk.socket (cookie secrets, signatures, lists, limits, reloads), starting\n"
		"and supervising it when dpdk.command is set, and stops it on exit unless\n"
		"keep_attached: true. A moat-dp already running there is re-attached, not restarted.\n\n"
		"  -c, --config FILE   moat YAML config\n"
		"  -s, --socket PATH   control socket (default %s)\n"
		"  -C, --check FILE    validate FILE and exit (0 valid, 2 invalid)\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n",
		MOAT_DEFAULT_SOCKET);
}

/* The one choice of backend: everything after it goes through the table. */
static const struct moatd_backend_ops *backend_of(const struct moat_config *cfg)
{
	return cfg->mode == MOAT_MODE_DPDK ? &moatd_backend_dpdk : &moatd_backend_xdp;
}

int moatd_watch(struct moatd *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void moatd_unwatch(struct moatd *d, int fd)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int moatd_secrets_init(struct moatd *d, const struct moat_cookie_secrets *kept)
{
	static const struct moat_cookie_secrets zero;
	char err[MOAT_CONFIG_ERR_LEN];
	int r;

	r = moat_secrets_open(&d->secret_src, d->cfg.secret_file, d->cfg.cookie_rotate_s, err,
			      sizeof(err));
	if (r) {
		logmsg("%s: key 'secret_file': %s", d->config_path, err);
		return r;
	}
	if (kept && !d->secret_src.fleet && memcmp(kept, &zero, sizeof(zero))) {
		d->secrets = *kept;
		moat_secrets_adopt(&d->secret_src, (u64)time(NULL));
		return 1;
	}
	r = moat_secrets_update(&d->secret_src, (u64)time(NULL), &d->secrets);
	if (r < 0)
		return r;
	if (d->secret_src.fleet)
		logmsg("SYN cookie secrets derived from %s, rotated every %u s", d->cfg.secret_file,
		       d->cfg.cookie_rotate_s);
	return 0;
}

/* Rotate when the period turns; the previous secret stays valid beside the new. */
static void rotate_secrets(struct moatd *d)
{
	struct moat_cookie_secrets next = d->secrets;
	int r = moat_secrets_update(&d->secret_src, (u64)time(NULL), &next);

	if (r < 0) {
		logmsg("secret rotation failed (%s); the current secret stays", strerror(-r));
		return;
	}
	if (!r)
		return;
	d->secrets = next;
	d->rotations++;
	d->be->secrets_rotated(d);
}

void moatd_take_config(struct moatd *d, struct moat_config *next)
{
	moat_config_free(&d->cfg);
	d->cfg = *next;
}

/*
 * Reload: validate the file first; a bad one is refused with its error and the
 * running policy stays. What applies at start only is the backend's to refuse.
 */
static int reload_config(struct moatd *d, char *err, size_t errlen)
{
	struct moat_config next;

	if (moat_config_load(d->config_path, &next, err, errlen))
		return -EINVAL;
	if (strcmp(next.secret_file, d->cfg.secret_file)) {
		snprintf(err, errlen, "%s: secret_file applies at start: restart moatd to change it",
			 d->config_path);
		moat_config_free(&next);
		return -EINVAL;
	}
	moat_secrets_set_period(&d->secret_src, next.cookie_rotate_s, (u64)time(NULL));
	if (!d->be->takes_signatures && next.sigs.n) {
		snprintf(err, errlen, "%s:%u: key 'signatures': payload signatures need the inline appliance (mode: dpdk, moat-dp)",
			 d->config_path, next.sigs.v[0].line);
		moat_config_free(&next);
		return -EINVAL;
	}
	return d->be->reload(d, &next, err, errlen);
}

static int reload(struct moatd *d, char *err, size_t errlen)
{
	int r = reload_config(d, err, errlen);

	if (r)
		d->reload_failures++;
	else
		d->reloads++;
	return r;
}

/* The commands moatd answers, through the server shell and the one command table. */
static json_object *cmd_status(void *ctx, int cmd, json_object *req)
{
	struct moatd *d = ctx;
	json_object *j = json_object_new_object();

	(void)cmd;
	(void)req;
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "version", json_object_new_string(MOAT_VERSION));
	json_object_object_add(j, "mode", json_object_new_string(d->be->name));
	json_object_object_add(j, "config", json_object_new_string(d->config_path));
	json_object_object_add(j, "secrets", json_object_new_string(d->secret_src.fleet ? "secret_file" : "random"));
	json_object_object_add(j, "cookie_rotate_s", json_object_new_int((int)d->cfg.cookie_rotate_s));
	json_object_object_add(j, "uptime_s", json_object_new_int64((int64_t)(time(NULL) - d->started)));
	d->be->status(d, j);
	moatd_bgp_status(d, j);
	return j;
}

static json_object *cmd_stats(void *ctx, int cmd, json_object *req)
{
	(void)cmd;
	(void)req;
	return ((struct moatd *)ctx)->be->stats(ctx);
}

/* block/unblock/allow/unallow */
static json_object *cmd_list(void *ctx, int cmd, json_object *req)
{
	struct moatd *d = ctx;
	char err[256];
	int r = moat_ttl_valid(cmd, req, err, sizeof(err));
	json_object *reply = r ? moat_reply_result(r, err) : d->be->list(d, cmd, req);

	moatd_bgp_listed(d, cmd, req, reply); /* FlowSpec upstream */
	return reply;
}

static json_object *cmd_reload(void *ctx, int cmd, json_object *req)
{
	char err[MOAT_CONFIG_ERR_LEN];

	(void)cmd;
	(void)req;
	return moat_reply_result(reload(ctx, err, sizeof(err)), err);
}

static json_object *cmd_top(void *ctx, int cmd, json_object *req)
{
	struct moatd *d = ctx;

	(void)cmd;
	(void)req;
	return moatd_top_reply(&d->top, d->cfg.event_sample);
}

static json_object *cmd_flows(void *ctx, int cmd, json_object *req)
{
	(void)cmd;
	return ((struct moatd *)ctx)->be->flows(ctx, req);
}

static json_object *cmd_limits(void *ctx, int cmd, json_object *req)
{
	(void)cmd;
	return ((struct moatd *)ctx)->be->limits(ctx, req);
}

static json_object *cmd_restart(void *ctx, int cmd, json_object *req)
{
	struct moatd *d = ctx;

	(void)cmd;
	if (!d->be->restart)
		return moat_reply_error("restart: host mode has no dataplane process to restart (the XDP "
					"program and its maps outlive moatd already)");
	return d->be->restart(d, req);
}

/* events: the shell hands the connection to d->feed. */
static const moat_handler moatd_handlers[MOAT_CMD_COUNT] = {
	[MOAT_CMD_STATUS] = cmd_status,	 [MOAT_CMD_STATS] = cmd_stats,
	[MOAT_CMD_FLOWS] = cmd_flows,	 [MOAT_CMD_BLOCK] = cmd_list,
	[MOAT_CMD_UNBLOCK] = cmd_list,	 [MOAT_CMD_ALLOW] = cmd_list,
	[MOAT_CMD_UNALLOW] = cmd_list,	 [MOAT_CMD_RELOAD] = cmd_reload,
	[MOAT_CMD_TOP] = cmd_top,	 [MOAT_CMD_LIMITS] = cmd_limits,
	[MOAT_CMD_DRAIN] = moatd_bgp_drain, [MOAT_CMD_UNDRAIN] = moatd_bgp_drain,
	[MOAT_CMD_RESTART] = cmd_restart,
};

/* Prometheus exposition: runs on the metrics thread; reads counters only. */
static void fill_metrics(void *ctx, struct moat_text *t)
{
	struct moatd *d = ctx;

	d->be->fill_metrics(d, t);
	moat_text_family(t, "moat_secret_rotations_total", "counter", "SYN cookie secret rotations.");
	moat_text_printf(t, "moat_secret_rotations_total %llu\n", (unsigned long long)d->rotations);
	moat_text_family(t, "moat_reloads_total", "counter", "Configuration reloads, by result.");
	moat_text_printf(t, "moat_reloads_total{result=\"applied\"} %llu\n", (unsigned long long)d->reloads);
	moat_text_printf(t, "moat_reloads_total{result=\"refused\"} %llu\n",
			 (unsigned long long)d->reload_failures);
	moat_text_family(t, "moat_list_prefixes", "gauge", "Prefixes on the allow and deny lists.");
	moat_text_printf(t, "moat_list_prefixes{list=\"allow\"} %zu\n", d->cfg.allow.n);
	moat_text_printf(t, "moat_list_prefixes{list=\"deny\"} %zu\n", d->cfg.deny.n);
	moat_text_family(t, "moat_start_time_seconds", "gauge", "When moatd started, Unix time.");
	moat_text_printf(t, "moat_start_time_seconds %lld\n", (long long)d->started);
}

static int peer_is_root(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) && cred.uid == 0;
}

/* capture: the backend takes the connection. */
static void on_capture(void *ctx, int cmd, json_object *req, int fd)
{
	struct moatd *d = ctx;

	(void)cmd;
	if (d->be->capture)
		d->be->capture(d, fd, req);
	else
		close(fd);
}

/* One request per connection, answered by the shell (events -f: the feed keeps it). */
static void on_client(struct moatd *d)
{
	static const struct timeval client_timeout = { .tv_sec = 1 };
	const struct moat_server srv = { moatd_handlers, d, &d->feed, on_capture };
	int c = accept4(d->listenfd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	/* A client that sends nothing must not hold the loop. */
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &client_timeout, sizeof(client_timeout));
	if (!peer_is_root(c)) {
		dprintf(c, "{\"ok\":false,\"error\":\"permission denied: moatd answers root only\"}\n");
		close(c);
		return;
	}
	moat_server_serve(&srv, c);
}

/* The signals moatd takes through its signalfd: blocked in every thread it starts. */
static void moat_signal_mask(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
}

static int setup_loop(struct moatd *d)
{
	struct itimerspec tick = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	sigset_t mask;

	moat_signal_mask(&mask);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->timerfd < 0 || d->epfd < 0)
		return -errno;
	timerfd_settime(d->timerfd, 0, &tick, NULL);
	if (moatd_watch(d, d->sigfd) || moatd_watch(d, d->timerfd) || moatd_watch(d, d->listenfd))
		return -errno;
	return 0;
}

static void on_tick(struct moatd *d)
{
	u64 expirations;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	moatd_top_decay(&d->top);
	rotate_secrets(d);
	d->be->tick(d);
	moatd_bgp_tick(d);
}

static void on_signal(struct moatd *d)
{
	struct signalfd_siginfo si;

	if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		char err[MOAT_CONFIG_ERR_LEN];

		if (reload(d, err, sizeof(err)))
			logmsg("SIGHUP: reload refused, the running policy stays: %s", err);
		return;
	}
	logmsg("%s: stopping", strsignal((int)si.ssi_signo));
	d->stop = true;
}

static int run_loop(struct moatd *d)
{
	struct epoll_event evs[8];
	int n, i;

	while (!d->stop) {
		n = epoll_wait(d->epfd, evs, 8, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == d->sigfd)
				on_signal(d);
			else if (fd == d->timerfd)
				on_tick(d);
			else if (fd == d->listenfd)
				on_client(d);
			else
				d->be->on_fd(d, fd);
		}
	}
	return 0;
}

/* A config that loaded, against what its backend needs: 0, or 2 with the reason on stderr. */
static int check_backend(const char *path, struct moat_config *cfg)
{
	const struct moatd_backend_ops *be = backend_of(cfg);
	char err[MOAT_CONFIG_ERR_LEN];
	struct moat_secret_source src;
	struct moat_sig_set *set = NULL;

	if (be->needs_interfaces && cfg->n_interfaces == 0) {
		fprintf(stderr, "moatd: %s: key 'interfaces': mode %s needs at least one interface\n",
			path, be->name);
		return 2;
	}
	if (moat_secrets_open(&src, cfg->secret_file, cfg->cookie_rotate_s, err, sizeof(err))) {
		fprintf(stderr, "moatd: %s: key 'secret_file': %s\n", path, err);
		return 2;
	}
	if (!be->takes_signatures && cfg->sigs.n) {
		fprintf(stderr, "moatd: %s:%u: key 'signatures': payload signatures need the inline appliance (mode: dpdk, moat-dp): host mode (XDP) sees each frame alone, with no stream to match across segments\n",
			path, cfg->sigs.v[0].line);
		return 2;
	}
	if (moat_sigs_compile(cfg, path, &set, err, sizeof(err))) {
		fprintf(stderr, "moatd: %s\n", err);
		return 2;
	}
	moat_sigs_free(set);
	if (be->check && be->check(cfg, path, err, sizeof(err))) {
		fprintf(stderr, "moatd: %s\n", err);
		return 2;
	}
	return 0;
}

static int check_config(const char *path, struct moat_config *cfg)
{
	char err[MOAT_CONFIG_ERR_LEN];

	if (moat_config_load(path, cfg, err, sizeof(err))) {
		fprintf(stderr, "moatd: %s\n", err);
		return 2;
	}
	if (check_backend(path, cfg)) {
		moat_config_free(cfg);
		return 2;
	}
	return 0;
}

/* The command line: -1 to go on and run, else the exit code. */
static int parse_args(int argc, char **argv, struct moatd *d)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "socket", required_argument, NULL, 's' },
		{ "check", required_argument, NULL, 'C' },  { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	    { NULL, 0, NULL, 0 },
	};
	/* Absolute: moat-dp is handed the same path, and reloads read it again. */
	static char abs_path[4096];
	const char *check = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:s:C:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': d->config_path = optarg; break;
		case 's': d->socket_path = optarg; break;
		case 'C': check = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("moatd %s\n", MOAT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (check) {
		rc = check_config(check, &d->cfg);
		if (!rc)
			printf("%s: valid\n", check);
		moat_config_free(&d->cfg);
		return rc;
	}
	if (!d->config_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (realpath(d->config_path, abs_path))
		d->config_path = abs_path;
	return -1;
}

/* Backend, control socket, metrics, loop and events: 0 when moatd runs. */
static int start(struct moatd *d)
{
	char merr[256];

	d->started = time(NULL);
	d->be = backend_of(&d->cfg);
	if (d->be->start(d))
		return -1;
	d->listenfd = moat_ctl_listen(d->socket_path, SOCK_NONBLOCK);
	if (d->listenfd < 0) {
		logmsg("%s: cannot listen: %s", d->socket_path, strerror(-d->listenfd));
		return -1;
	}
	if (d->cfg.metrics[0] &&
	    moat_metrics_start(&d->metrics, d->cfg.metrics, fill_metrics, d, merr, sizeof(merr))) {
		logmsg("%s", merr);
		return -1;
	}
	if (setup_loop(d) || d->be->open_events(d)) {
		logmsg("cannot set up: %s", strerror(errno));
		return -1;
	}
	return moatd_bgp_start(d) ? -1 : 0;
}

int main(int argc, char **argv)
{
	static struct moatd d = { .socket_path = MOAT_DEFAULT_SOCKET, .listenfd = -1 };
	sigset_t mask;
	int rc = parse_args(argc, argv, &d);

	if (rc >= 0)
		return rc;
	if (check_config(d.config_path, &d.cfg))
		return 2;
	/* Before any thread exists (the metrics server's): they inherit the mask. */
	moat_signal_mask(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = 1;
	if (!start(&d)) {
		logmsg("running (config %s, socket %s)", d.config_path, d.socket_path);
		/* Attached and answering: what Type=notify units and scripts wait for. */
		moat_notify("READY=1\nSTATUS=running");
		rc = run_loop(&d) ? 1 : 0;
		moat_notify("STOPPING=1");
	}
	moat_metrics_stop(d.metrics);
	moatd_bgp_stop(&d); /* withdrawn before the filter goes */
	if (d.be)
		d.be->stop(&d);
	moat_feed_free(&d.feed);
	if (d.listenfd >= 0)
		unlink(d.socket_path);
	moat_config_free(&d.cfg);
	return rc;
}
