// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatd: the control-plane daemon. Runs the configured backend - xdp (loads,
 * attaches and adopts the XDP program and its pinned maps) or dpdk (drives
 * moat-dp over its socket, starting and supervising it when told how) - keeps
 * policy, secrets and lists in it, answers moatctl on a Unix socket, and serves
 * metrics and sampled events. On SIGINT/SIGTERM it detaches XDP unless
 * keep_attached, or stops the moat-dp it started.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/config.h"
#include "daemon/dplink.h"
#include "control/events.h"
#include "flow/backend.h"
#include "daemon/metrics.h"
#include "control/notify.h"
#include "control/proto.h"
#include "control/secrets.h"
#include "flow/sigs.h"
#include "daemon/sockdiag.h"
#include "core/flowkey.h"
#include "core/parse.h"
#include "xdp/moat_xdp.h"

#include <bpf/libbpf.h>

/*
 * Sources seen in the sampled events, for `moatctl top`: a small open-addressed
 * table of smoothed per-second estimates (each event stands for event_sample
 * packets), decayed every second so quiet sources fade out.
 */
#define TOP_SLOTS 4096
#define TOP_DECAY 0.8 /* per second: a steady rate r settles at r / (1 - TOP_DECAY) */

struct top_source {
	struct moat_addr addr;
	u8 family;
	u8 used;
	u8 last_reason;
	double drops; /* decayed sums */
	double syns;
};

struct moatd {
	const char *config_path;
	const char *socket_path;
	struct moat_config cfg;
	bool dpdk; /* mode dpdk: the backend is moat-dp, through dp */
	struct moat_xdp *xdp;
	struct moat_xdp_opts xopts;
	struct moat_dplink dp;
	long long dp_generation; /* the moat-dp our secrets were pushed to */
	struct moat_sig_set *sigs; /* dpdk: compiled here, handed to moat-dp as a file */
	char sig_file[160];
	struct moat_secret_source secret_src;
	struct moat_cookie_secrets secrets;
	struct moat_event_feed feed;
	FILE *events;
	int epfd, sigfd, listenfd, timerfd;
	time_t started;
	u64 rotations;
	u64 reloads, reload_failures;
	struct moat_metrics *metrics;
	struct top_source top[TOP_SLOTS];
	struct moat_ttls ttls;
	bool stop;
};

#define logmsg(...) moat_log("moatd", __VA_ARGS__)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: moatd --config FILE [--socket PATH]\n"
		"       moatd --check FILE\n\n"
		"Runs in the foreground until SIGINT/SIGTERM. With mode: xdp it loads the XDP\n"
		"program, attaches it to the configured interfaces of this network namespace and\n"
		"detaches on stop unless keep_attached: true. With mode: dpdk it drives moat-dp\n"
		"over dpdk.socket (cookie secrets, signatures, lists, limits, reloads), starting\n"
		"and supervising it when dpdk.command is set, and stops it on exit.\n\n"
		"  -c, --config FILE   moat YAML config\n"
		"  -s, --socket PATH   control socket (default %s)\n"
		"  -C, --check FILE    validate FILE and exit (0 valid, 2 invalid)\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n",
		MOAT_DEFAULT_SOCKET);
}

static int epoll_add(int epfd, int fd);
static json_object *reply_error(const char *msg);
static int push_signatures(struct moatd *d, json_object **reload_reply);

static int push_secrets(struct moatd *d)
{
	json_object *req, *reply = NULL;
	char hex[40], err[256];
	int r;

	if (!d->dpdk)
		return moat_xdp_set_secrets(d->xdp, &d->secrets);
	req = json_object_new_object();
	snprintf(hex, sizeof(hex), "%016llx%016llx", (unsigned long long)d->secrets.cur.k0,
		 (unsigned long long)d->secrets.cur.k1);
	json_object_object_add(req, "cur", json_object_new_string(hex));
	snprintf(hex, sizeof(hex), "%016llx%016llx", (unsigned long long)d->secrets.prev.k0,
		 (unsigned long long)d->secrets.prev.k1);
	json_object_object_add(req, "prev", json_object_new_string(hex));
	r = moat_dplink_call(&d->dp, "secrets", req, &reply, err, sizeof(err));
	json_object_put(req);
	json_object_put(reply);
	return r;
}

/*
 * xdp: adopt the secrets a previous moatd left in the pinned map (random mode),
 * so cookies in flight across a restart stay valid; otherwise the source's.
 */
static int init_secrets(struct moatd *d)
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
	if (!d->dpdk && !d->secret_src.fleet && !moat_xdp_get_secrets(d->xdp, &d->secrets) &&
	    memcmp(&d->secrets, &zero, sizeof(zero))) {
		logmsg("adopted the SYN cookie secrets already in %s", d->cfg.pin_dir);
		moat_secrets_adopt(&d->secret_src, (u64)time(NULL));
		return 0;
	}
	r = moat_secrets_update(&d->secret_src, (u64)time(NULL), &d->secrets);
	if (r < 0)
		return r;
	if (d->secret_src.fleet)
		logmsg("SYN cookie secrets derived from %s, rotated every %u s", d->cfg.secret_file,
		       d->cfg.cookie_rotate_s);
	return d->dpdk ? 0 : push_secrets(d); /* dpdk: once moat-dp answers */
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
	if (d->dpdk)
		d->dp_generation = -1; /* pushed by sync_dataplane */
	else if (push_secrets(d))
		logmsg("cannot write the rotated secrets to the BPF map");
}

/*
 * dpdk: save the compiled signatures for moat-dp (its socket's folder, 0600) and
 * hand it the file, alone or with a reload (cmd "reload"); with none, an empty name.
 */
static int push_signatures(struct moatd *d, json_object **reload_reply)
{
	json_object *req = json_object_new_object(), *reply = NULL, *ok;
	char err[512];
	int r = 0;

	if (d->sigs) {
		mode_t old = umask(077);

		r = moat_sigs_save(d->sigs, d->sig_file, err, sizeof(err));
		umask(old);
		if (r) {
			logmsg("%s", err);
			json_object_put(req);
			return r;
		}
	}
	json_object_object_add(req, reload_reply ? "signatures_file" : "file",
			       json_object_new_string(d->sigs ? d->sig_file : ""));
	r = moat_dplink_call(&d->dp, reload_reply ? "reload" : "signatures", req, &reply, err,
			     sizeof(err));
	json_object_put(req);
	if (r) {
		if (reload_reply)
			*reload_reply = reply_error(err);
		return r;
	}
	if (reload_reply) {
		*reload_reply = reply;
		return 0;
	}
	r = json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok) ? 0 : -EIO;
	json_object_put(reply);
	return r;
}

/*
 * dpdk: a moat-dp that (re)appeared, or missed a rotation, gets the secrets; and
 * its event stream is followed, for top and `events`.
 */
static void sync_dataplane(struct moatd *d)
{
	moat_dplink_tick(&d->dp);
	if (!d->dp.up)
		return;
	if (d->dp_generation != d->dp.generation) {
		if (!push_secrets(d) && !push_signatures(d, NULL))
			d->dp_generation = d->dp.generation;
		else
			logmsg("cannot hand the SYN cookie secrets or signatures to moat-dp; retrying");
	}
	if (d->dp.ev_fd < 0 && moat_dplink_events_open(&d->dp) >= 0 &&
	    epoll_add(d->epfd, d->dp.ev_fd))
		logmsg("cannot follow moat-dp's events: %s", strerror(errno));
}

/* The allow then deny entries of the config's lists: deny wins a prefix in both. */
static struct moat_xdp_list_entry *list_entries(const struct moat_config *cfg, size_t *n)
{
	const struct moat_cidr_list *l[2] = { &cfg->allow, &cfg->deny };
	struct moat_xdp_list_entry *v = calloc(cfg->allow.n + cfg->deny.n + 1, sizeof(*v));
	size_t i, k = 0;
	int g;

	for (g = 0; v && g < 2; g++)
		for (i = 0; i < l[g]->n; i++, k++) {
			v[k].family = l[g]->v[i].family;
			v[k].plen = l[g]->v[i].plen;
			v[k].addr = l[g]->v[i].addr;
			v[k].action = g ? MOAT_LIST_DENY : MOAT_LIST_ALLOW;
		}
	*n = k;
	return v;
}

/*
 * xdp: one call of the loader writes pol (NULL: the policy stays) and, with
 * lists, the config's allow/deny tries and the run-time settings beside them.
 */
static int apply_xdp(struct moatd *d, const struct moat_policy *pol, bool lists)
{
	struct moat_xdp_update u = { .pol = pol };
	struct moat_xdp_list_entry *v = NULL;
	struct moat_runtime rt = { 0 };
	size_t i;
	int r;

	if (lists) {
		v = list_entries(&d->cfg, &u.n_lists);
		if (!v)
			return -ENOMEM;
		for (i = 0; i < u.n_lists; i++)
			rt.list_entries[v[i].family == 6]++;
		/* Sample drops (and the filter's own answers) for `top` and the event log. */
		for (r = 0; r < MOAT_R_COUNT; r++)
			if (moat_reason_verdict(r) != MOAT_PASS)
				rt.event_every[r] = d->cfg.event_sample;
		u.lists = v;
		u.rt = &rt;
	}
	r = moat_xdp_apply(d->xdp, &u);
	free(v);
	return r;
}

/* Established connections per source (and prefix) for the concurrent limits. */
static void refresh_conns(struct moatd *d)
{
	const struct moat_policy *pol = &d->cfg.pol;
	struct moat_conn_count *c = NULL;
	struct moat_src_key *keys;
	u32 *counts;
	size_t nk = 0, i, j;
	int n;

	if (!pol->source.concurrent && !pol->prefix.concurrent)
		return;
	n = moat_sockdiag_count(&c);
	if (n < 0) {
		logmsg("sock_diag failed: %s", strerror(-n));
		return;
	}
	keys = calloc((size_t)n * 2 + 1, sizeof(*keys));
	counts = calloc((size_t)n * 2 + 1, sizeof(*counts));
	for (i = 0; keys && counts && i < (size_t)n; i++) {
		u32 plens[2] = { c[i].family == 6 ? 128u : 32u, moat_prefix_len(pol, c[i].family) };
		int g;

		for (g = 0; g < 2; g++) {
			struct moat_src_key k = { .family = c[i].family, .plen = (u8)plens[g] };

			moat_addr_mask(&k.addr, &c[i].addr, c[i].family, plens[g]);
			for (j = 0; j < nk; j++)
				if (!memcmp(&keys[j], &k, sizeof(k)))
					break;
			if (j == nk)
				keys[nk++] = k;
			counts[j] += c[i].count;
		}
	}
	if (keys && counts)
		moat_xdp_set_conns(d->xdp, keys, counts, nk);
	free(keys);
	free(counts);
	free(c);
}

static struct top_source *top_slot(struct moatd *d, const struct moat_addr *a, u8 family)
{
	u64 h = moat_mix64(((u64)a->w[0] << 32 | a->w[1]) ^ ((u64)a->w[2] << 32 | a->w[3]) ^ family);
	struct top_source *weakest = NULL;
	unsigned int i;

	for (i = 0; i < 16; i++) {
		struct top_source *t = &d->top[(h + i) & (TOP_SLOTS - 1)];

		if (t->used && t->family == family && moat_addr_eq(&t->addr, a))
			return t;
		if (!t->used || !weakest || t->drops + t->syns < weakest->drops + weakest->syns)
			weakest = t;
		if (!t->used)
			break;
	}
	memset(weakest, 0, sizeof(*weakest));
	weakest->used = 1;
	weakest->addr = *a;
	weakest->family = family;
	return weakest;
}

static void top_count(struct moatd *d, const struct moat_event *ev)
{
	struct top_source *t = top_slot(d, &ev->saddr, ev->family);
	double n = d->cfg.event_sample ? d->cfg.event_sample : 1;

	if (moat_reason_verdict(ev->reason) == MOAT_DROP) {
		t->drops += n;
		t->last_reason = ev->reason;
	}
	if (ev->tcp_flags & MOAT_TCP_SYN)
		t->syns += n;
}

static void top_decay(struct moatd *d)
{
	unsigned int i;

	for (i = 0; i < TOP_SLOTS; i++) {
		struct top_source *t = &d->top[i];

		if (!t->used)
			continue;
		t->drops *= TOP_DECAY;
		t->syns *= TOP_DECAY;
		if (t->drops + t->syns < 0.5)
			t->used = 0;
	}
}

static int cmp_top(const void *a, const void *b)
{
	const struct top_source *x = *(const struct top_source *const *)a;
	const struct top_source *y = *(const struct top_source *const *)b;
	double kx = x->drops + x->syns, ky = y->drops + y->syns;

	return kx < ky ? 1 : kx > ky ? -1 : 0;
}

/* The busiest sources by dropped packets and SYNs per second (smoothed, sampled). */
static json_object *reply_top(struct moatd *d)
{
	static const struct top_source *v[TOP_SLOTS];
	json_object *j = json_object_new_object(), *arr = json_object_new_array();
	unsigned int i, n = 0;
	char buf[INET6_ADDRSTRLEN];

	for (i = 0; i < TOP_SLOTS; i++)
		if (d->top[i].used)
			v[n++] = &d->top[i];
	qsort(v, n, sizeof(v[0]), cmp_top);
	for (i = 0; i < n && i < 20; i++) {
		json_object *s = json_object_new_object();

		inet_ntop(v[i]->family == 6 ? AF_INET6 : AF_INET, v[i]->addr.w, buf, sizeof(buf));
		json_object_object_add(s, "source", json_object_new_string(buf));
		json_object_object_add(s, "drops_per_s",
				       json_object_new_double(v[i]->drops * (1 - TOP_DECAY)));
		json_object_object_add(s, "syn_per_s",
				       json_object_new_double(v[i]->syns * (1 - TOP_DECAY)));
		json_object_object_add(s, "last_drop_reason",
				       json_object_new_string(v[i]->drops > 0 ?
								      moat_reason_name(v[i]->last_reason) :
								      ""));
		json_object_array_add(arr, s);
	}
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "sampled_one_in", json_object_new_int((int)d->cfg.event_sample));
	json_object_object_add(j, "sources", arr);
	return j;
}

static int print_event(void *ctx, void *data, size_t len)
{
	struct moatd *d = ctx;
	struct moat_event ev;
	char *line;

	if (len < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	ev.sig_id = 0; /* not written by the XDP program */
	ev.sig_action = 0;
	top_count(d, &ev);
	line = moat_event_format(&ev, d->cfg.event_sample, "ifindex");
	if (!line)
		return 0;
	if (d->events) {
		fputs(line, d->events);
		fflush(d->events);
	}
	moat_feed_publish(&d->feed, line);
	free(line);
	return 0;
}

static int reason_by_name(const char *name)
{
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++)
		if (!strcmp(moat_reason_name(r), name))
			return r;
	return -1;
}

/* dpdk: an event line from moat-dp (which writes the event log itself): top, then followers. */
static void dp_event_line(const char *line, void *ctx)
{
	struct moatd *d = ctx;
	json_object *j = json_tokener_parse(line), *v;
	struct moat_event ev = { 0 };
	const char *src;
	int r;

	if (!j)
		return;
	src = json_object_object_get_ex(j, "src", &v) ? json_object_get_string(v) : "";
	r = json_object_object_get_ex(j, "reason", &v) ? reason_by_name(json_object_get_string(v)) : -1;
	ev.family = strchr(src, ':') ? 6 : 4;
	if (r >= 0 && inet_pton(ev.family == 6 ? AF_INET6 : AF_INET, src, ev.saddr.w) == 1) {
		ev.reason = (u8)r;
		if (json_object_object_get_ex(j, "tcp_flags", &v))
			ev.tcp_flags = (u8)json_object_get_int(v);
		top_count(d, &ev);
	}
	json_object_put(j);
	{
		size_t len = strlen(line);
		char *out = malloc(len + 2);

		if (!out)
			return;
		memcpy(out, line, len);
		memcpy(out + len, "\n", 2);
		moat_feed_publish(&d->feed, out);
		free(out);
	}
}

static json_object *reply_error(const char *msg)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "ok", json_object_new_boolean(0));
	json_object_object_add(j, "error", json_object_new_string(msg));
	return j;
}

/* dpdk: a request passed on to moat-dp as it came, and its answer back. */
static json_object *forward(struct moatd *d, const char *cmd, json_object *req)
{
	json_object *reply = NULL;
	char err[256];

	if (moat_dplink_call(&d->dp, cmd, req, &reply, err, sizeof(err)))
		return reply_error(err);
	return reply;
}

static json_object *reply_stats_dpdk(struct moatd *d)
{
	json_object *j = forward(d, "stats", NULL), *cookies = json_object_new_object(), *ok;

	if (json_object_object_get_ex(j, "ok", &ok) && json_object_get_boolean(ok)) {
		json_object_object_add(cookies, "secret_rotations",
				       json_object_new_int64((int64_t)d->rotations));
		json_object_object_add(j, "cookies", cookies);
	} else {
		json_object_put(cookies);
	}
	return j;
}

static json_object *reply_stats(struct moatd *d)
{
	json_object *j, *reasons, *verdicts, *cookies;
	u64 cnt[MOAT_R_COUNT] = { 0 }, v[3] = { 0 }, assigned, failed;
	int r;

	if (d->dpdk)
		return reply_stats_dpdk(d);
	j = json_object_new_object();
	reasons = json_object_new_object();
	verdicts = json_object_new_object();
	cookies = json_object_new_object();
	if (moat_xdp_read_reasons(d->xdp, cnt)) {
		json_object_put(reasons);
		json_object_put(verdicts);
		json_object_put(cookies);
		json_object_object_add(j, "ok", json_object_new_boolean(0));
		json_object_object_add(j, "error", json_object_new_string("cannot read counters"));
		return j;
	}
	for (r = 0; r < MOAT_R_COUNT; r++) {
		json_object_object_add(reasons, moat_reason_name(r), json_object_new_int64((int64_t)cnt[r]));
		v[moat_reason_verdict(r)] += cnt[r];
	}
	json_object_object_add(verdicts, "pass", json_object_new_int64((int64_t)v[MOAT_PASS]));
	json_object_object_add(verdicts, "drop", json_object_new_int64((int64_t)v[MOAT_DROP]));
	json_object_object_add(verdicts, "tx", json_object_new_int64((int64_t)v[MOAT_TX]));
	moat_xdp_read_tc(d->xdp, &assigned, &failed);
	json_object_object_add(cookies, "reqsk_assigned", json_object_new_int64((int64_t)assigned));
	json_object_object_add(cookies, "reqsk_failed", json_object_new_int64((int64_t)failed));
	json_object_object_add(cookies, "secret_rotations", json_object_new_int64((int64_t)d->rotations));
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "mode", json_object_new_string("xdp"));
	json_object_object_add(j, "reasons", reasons);
	json_object_object_add(j, "verdicts", verdicts);
	json_object_object_add(j, "cookies", cookies);
	return j;
}

_Static_assert(MOAT_XDP_AUTO == 0 && MOAT_XDP_NATIVE == 1 && MOAT_XDP_GENERIC == 2,
	       "config.c's xdp_mode names follow enum moat_xdp_mode");

static const char *attached_mode(const struct moatd *d, const char *ifname)
{
	const char *m = moat_xdp_mode_of(d->xdp, ifname);

	return m ? m : "none";
}

/* Interface -> the XDP mode it runs in (auto picks per driver). */
static json_object *attached_modes(const struct moatd *d)
{
	json_object *m = json_object_new_object();
	unsigned int i;

	for (i = 0; i < d->cfg.n_interfaces; i++)
		json_object_object_add(m, d->cfg.interfaces[i],
				       json_object_new_string(attached_mode(d, d->cfg.interfaces[i])));
	return m;
}

static json_object *reply_status(struct moatd *d)
{
	json_object *j = json_object_new_object(), *ifs = json_object_new_array();
	unsigned int i;

	for (i = 0; i < d->cfg.n_interfaces; i++)
		json_object_array_add(ifs, json_object_new_string(d->cfg.interfaces[i]));
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "version", json_object_new_string(MOAT_VERSION));
	json_object_object_add(j, "mode", json_object_new_string(d->dpdk ? "dpdk" : "xdp"));
	json_object_object_add(j, "config", json_object_new_string(d->config_path));
	json_object_object_add(j, "secrets", json_object_new_string(d->secret_src.fleet ? "secret_file" : "random"));
	json_object_object_add(j, "cookie_rotate_s", json_object_new_int((int)d->cfg.cookie_rotate_s));
	json_object_object_add(j, "uptime_s", json_object_new_int64((int64_t)(time(NULL) - d->started)));
	if (d->dpdk) {
		json_object *dp = forward(d, "status", NULL);

		json_object_object_del(dp, "ok");
		json_object_object_add(j, "moat_dp_socket", json_object_new_string(d->dp.socket));
		json_object_object_add(j, "moat_dp_supervised", json_object_new_boolean(d->dp.argv[0] != NULL));
		json_object_object_add(j, "moat_dp_restarts", json_object_new_int((int)d->dp.restarts));
		json_object_object_add(j, "moat_dp", dp);
		json_object_put(ifs);
		return j;
	}
	json_object_object_add(j, "xdp_mode", json_object_new_string(moat_xdp_mode_names[d->cfg.xdp_mode]));
	json_object_object_add(j, "interfaces", ifs);
	json_object_object_add(j, "attached", attached_modes(d));
	json_object_object_add(j, "pin_dir", json_object_new_string(d->cfg.pin_dir));
	json_object_object_add(j, "cookie_completion",
			       json_object_new_string(moat_xdp_has_reqsk(d->xdp) ? "tc_reqsk" : "kernel"));
	return j;
}

static json_object *reply_result(int err, const char *msg)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "ok", json_object_new_boolean(!err));
	if (err)
		json_object_object_add(j, "error", json_object_new_string(msg));
	return j;
}

/* block/unblock/allow/unallow: the LPM tries are rewritten from the changed lists. */
static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static json_object *reply_list(struct moatd *d, int id, json_object *req)
{
	char err[256];
	int r = moat_ttl_valid(id, req, err, sizeof(err));

	if (!r && d->dpdk) /* moat-dp keeps the lists, and their ttls, of its live config */
		return forward(d, moat_cmds[id].name, req);
	if (!r)
		r = moat_proto_apply_list(&d->cfg, id, req, err, sizeof(err));
	if (!r)
		r = moat_ttl_note(&d->ttls, id, req, mono_ms(), err, sizeof(err));
	if (!r && (r = apply_xdp(d, NULL, true)))
		snprintf(err, sizeof(err), "cannot write the BPF maps: %s", strerror(-r));
	return reply_result(r, err);
}

/*
 * Reload: validate the file first; a bad one is refused with its error and the
 * running policy stays. Interfaces and pinning are fixed at start.
 */
static int reload_dpdk(struct moatd *d, struct moat_config *next, char *err, size_t errlen)
{
	struct moat_sig_set *sigs = NULL, *old = d->sigs;
	json_object *reply = NULL, *ok, *e;
	int r = 0;

	if (moat_sigs_compile(next, d->config_path, &sigs, err, errlen)) {
		moat_config_free(next);
		return -EINVAL; /* the running database stays */
	}
	d->sigs = sigs;
	push_signatures(d, &reply);
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		d->sigs = old;
		moat_sigs_free(sigs);
	} else {
		moat_sigs_free(old);
	}

	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		snprintf(err, errlen, "moat-dp refused the reload: %s",
			 json_object_object_get_ex(reply, "error", &e) ? json_object_get_string(e) : "?");
		moat_config_free(next);
		r = -EINVAL;
	} else {
		moat_config_free(&d->cfg);
		d->cfg = *next;
		logmsg("reloaded %s (moat-dp)", d->config_path);
	}
	json_object_put(reply);
	return r;
}

static int reload_config(struct moatd *d, char *err, size_t errlen)
{
	struct moat_config next;
	int r;

	if (moat_config_load(d->config_path, &next, err, errlen))
		return -EINVAL;
	if (strcmp(next.secret_file, d->cfg.secret_file)) {
		snprintf(err, errlen, "%s: secret_file applies at start: restart moatd to change it",
			 d->config_path);
		moat_config_free(&next);
		return -EINVAL;
	}
	moat_secrets_set_period(&d->secret_src, next.cookie_rotate_s, (u64)time(NULL));
	if (!d->dpdk && next.sigs.n) {
		snprintf(err, errlen, "%s:%u: key 'signatures': payload signatures need the inline appliance (mode: dpdk, moat-dp)",
			 d->config_path, next.sigs.v[0].line);
		moat_config_free(&next);
		return -EINVAL;
	}
	if (d->dpdk)
		return reload_dpdk(d, &next, err, errlen);
	if (next.n_interfaces != d->cfg.n_interfaces ||
	    memcmp(next.interfaces, d->cfg.interfaces, sizeof(next.interfaces)) ||
	    strcmp(next.pin_dir, d->cfg.pin_dir) || next.xdp_mode != d->cfg.xdp_mode) {
		snprintf(err, errlen, "%s: interfaces, pin_dir and xdp_mode apply at start: restart moatd to change them",
			 d->config_path);
		moat_config_free(&next);
		return -EINVAL;
	}
	moat_config_free(&d->cfg);
	d->cfg = next;
	d->ttls.n = 0; /* the file is the policy now: live additions went with the old one */
	if ((r = apply_xdp(d, &d->cfg.pol, true))) {
		snprintf(err, errlen, "cannot write the BPF maps: %s", strerror(-r));
		return r;
	}
	logmsg("reloaded %s", d->config_path);
	return 0;
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

static u64 json_u64(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? (u64)json_object_get_int64(v) : 0;
}

/*
 * dpdk: moat-dp's counters per lcore and reason, its flows per state and table
 * occupancy, asked over its socket at scrape time.
 */
static void fill_metrics_dpdk(struct moatd *d, struct moat_text *t)
{
	json_object *st = forward(d, "stats", NULL), *fl = forward(d, "flows", NULL), *ws, *v;
	size_t k;
	int r;

	moat_text_family(t, "moat_packets_total", "counter",
			 "Packets decided by moat, by reason, verdict and worker lcore.");
	if (json_object_object_get_ex(st, "workers", &ws))
		for (k = 0; k < json_object_array_length(ws); k++) {
			json_object *w = json_object_array_get_idx(ws, k), *rs;
			u64 lcore = json_u64(w, "lcore");

			if (!json_object_object_get_ex(w, "reasons", &rs))
				continue;
			for (r = 0; r < MOAT_R_COUNT; r++)
				moat_text_printf(t, "moat_packets_total{reason=\"%s\",verdict=\"%s\",lcore=\"%llu\"} %llu\n",
						 moat_reason_name(r),
						 moat_verdict_name(moat_reason_verdict(r)),
						 (unsigned long long)lcore,
						 (unsigned long long)json_u64(rs, moat_reason_name(r)));
		}
	moat_text_family(t, "moat_signature_hits_total", "counter",
			 "Packets a payload signature matched, by signature id and action.");
	if (json_object_object_get_ex(st, "signatures", &v) && json_object_object_get_ex(v, "hits", &ws))
		for (k = 0; k < json_object_array_length(ws); k++) {
			json_object *h = json_object_array_get_idx(ws, k), *a;

			moat_text_printf(t, "moat_signature_hits_total{id=\"%llu\",action=\"%s\"} %llu\n",
					 (unsigned long long)json_u64(h, "id"),
					 json_object_object_get_ex(h, "action", &a) ? json_object_get_string(a) : "",
					 (unsigned long long)json_u64(h, "hits"));
		}
	moat_text_family(t, "moat_signature_alerts_total", "counter",
			 "Packets passed with an alert signature's match.");
	moat_text_printf(t, "moat_signature_alerts_total %llu\n",
			 (unsigned long long)(json_object_object_get_ex(st, "signatures", &v) ?
						      json_u64(v, "alerts") : 0));
	moat_text_family(t, "moat_flows", "gauge", "Tracked flows by TCP state (moat-dp).");
	if (json_object_object_get_ex(fl, "flows", &v)) {
		json_object_object_foreach(v, state, n)
		{
			moat_text_printf(t, "moat_flows{state=\"%s\"} %lld\n", state,
					 (long long)json_object_get_int64(n));
		}
	}
	moat_text_family(t, "moat_table_entries", "gauge",
			 "Entries in moat-dp's tables per worker lcore: flows and limiter records.");
	if (json_object_object_get_ex(st, "workers", &ws))
		for (k = 0; k < json_object_array_length(ws); k++) {
			json_object *w = json_object_array_get_idx(ws, k);

			moat_text_printf(t, "moat_table_entries{table=\"flows\",lcore=\"%llu\"} %llu\n",
					 (unsigned long long)json_u64(w, "lcore"),
					 (unsigned long long)json_u64(w, "flows"));
			moat_text_printf(t, "moat_table_entries{table=\"sources\",lcore=\"%llu\"} %llu\n",
					 (unsigned long long)json_u64(w, "lcore"),
					 (unsigned long long)json_u64(w, "sources"));
		}
	moat_text_family(t, "moat_flow_capacity", "gauge", "Flow table capacity, all workers.");
	moat_text_printf(t, "moat_flow_capacity %llu\n", (unsigned long long)json_u64(fl, "capacity"));
	moat_text_family(t, "moat_dataplane_up", "gauge", "1 when moat-dp answers moatd.");
	moat_text_printf(t, "moat_dataplane_up %d\n", json_object_object_get_ex(st, "workers", NULL));
	moat_text_family(t, "moat_dataplane_restarts_total", "counter", "Restarts of moat-dp by moatd.");
	moat_text_printf(t, "moat_dataplane_restarts_total %u\n", d->dp.restarts);
	json_object_put(st);
	json_object_put(fl);
}

/* Prometheus exposition: runs on the metrics thread; reads counters only. */
static void fill_metrics(void *ctx, struct moat_text *t)
{
	struct moatd *d = ctx;
	u64 cnt[MOAT_R_COUNT] = { 0 }, assigned = 0, failed = 0;
	unsigned int i;
	int r;

	if (d->dpdk) {
		fill_metrics_dpdk(d, t);
		goto common;
	}
	moat_xdp_read_reasons(d->xdp, cnt);
	moat_xdp_read_tc(d->xdp, &assigned, &failed);
	moat_text_family(t, "moat_packets_total", "counter",
			 "Packets decided by moat, by reason and verdict, summed over CPUs.");
	for (r = 0; r < MOAT_R_COUNT; r++)
		moat_text_printf(t, "moat_packets_total{reason=\"%s\",verdict=\"%s\"} %llu\n",
				 moat_reason_name(r), moat_verdict_name(moat_reason_verdict(r)),
				 (unsigned long long)cnt[r]);
	{
		/* Where the work lands: per CPU (RSS/IRQ spread), by verdict. */
		int ncpu = libbpf_num_possible_cpus(), c, v;
		u64 *per = ncpu > 0 ? calloc((size_t)ncpu * 3, sizeof(*per)) : NULL;

		moat_text_family(t, "moat_cpu_packets_total", "counter",
				 "Packets decided by moat, by CPU and verdict (host mode).");
		if (per && !moat_xdp_read_cpu_verdicts(d->xdp, per, ncpu))
			for (c = 0; c < ncpu; c++)
				for (v = 0; v < 3; v++)
					moat_text_printf(t, "moat_cpu_packets_total{cpu=\"%d\",verdict=\"%s\"} %llu\n",
							 c, moat_verdict_name(v),
							 (unsigned long long)per[c * 3 + v]);
		free(per);
	}
	moat_text_family(t, "moat_cookie_request_sockets_total", "counter",
			 "Valid cookie ACKs handed to the listener as request sockets (TC half).");
	moat_text_printf(t, "moat_cookie_request_sockets_total{result=\"assigned\"} %llu\n",
			 (unsigned long long)assigned);
	moat_text_printf(t, "moat_cookie_request_sockets_total{result=\"failed\"} %llu\n",
			 (unsigned long long)failed);
	moat_text_family(t, "moat_interface_info", "gauge", "Interfaces moat is attached to.");
	for (i = 0; i < d->cfg.n_interfaces; i++)
		moat_text_printf(t, "moat_interface_info{interface=\"%s\",xdp_mode=\"%s\"} 1\n",
				 d->cfg.interfaces[i], attached_mode(d, d->cfg.interfaces[i]));
common:
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

/* xdp: the host's sockets are the flow state: counted and listed from sock_diag. */
struct sock_list {
	u64 states[MOAT_SOCK_STATES];
	struct moat_flow_filter f;
	struct moat_cidr_list one; /* f.cidr as a list */
	size_t limit;
	u64 matched;
	json_object *arr;
};

static bool sock_passes(const struct sock_list *l, const struct moat_sock_info *s)
{
	const struct moat_flow_filter *f = &l->f;

	return (f->state < 0 || s->state == f->state) &&
	       (!f->port || s->lport == f->port || s->rport == f->port) &&
	       (!f->has_cidr || moat_cidr_list_match(&l->one, &s->local, s->family) >= 0 ||
		moat_cidr_list_match(&l->one, &s->remote, s->family) >= 0);
}

static int list_sock(const struct moat_sock_info *s, void *ctx)
{
	struct sock_list *l = ctx;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int af = s->family == 6 ? AF_INET6 : AF_INET;
	json_object *o;

	if (s->state < MOAT_SOCK_STATES)
		l->states[s->state]++;
	if (!l->arr || !sock_passes(l, s) || l->matched++ >= l->limit)
		return 0;
	inet_ntop(af, s->local.w, a, sizeof(a));
	inet_ntop(af, s->remote.w, b, sizeof(b));
	o = json_object_new_object();
	json_object_object_add(o, "local", json_object_new_string(a));
	json_object_object_add(o, "lport", json_object_new_int(s->lport));
	json_object_object_add(o, "remote", json_object_new_string(b));
	json_object_object_add(o, "rport", json_object_new_int(s->rport));
	json_object_object_add(o, "state", json_object_new_string(moat_sock_state_name(s->state)));
	json_object_array_add(l->arr, o);
	return 0;
}

static int sock_state_of(const char *name)
{
	unsigned int i;

	for (i = 1; i < MOAT_SOCK_STATES; i++)
		if (!strcasecmp(moat_sock_state_name(i), name))
			return (int)i;
	return -1;
}

static json_object *reply_flows_xdp(json_object *req)
{
	struct sock_list l = { 0 };
	json_object *j, *states, *v;
	char err[256];
	unsigned int i;
	int r;

	if (moat_proto_flow_filter(req, sock_state_of, &l.f, &l.limit, err, sizeof(err)))
		return reply_error(err);
	l.one = (struct moat_cidr_list){ .v = &l.f.cidr, .n = 1, .cap = 1 };
	if (json_object_object_get_ex(req, "list", &v) && json_object_get_boolean(v))
		l.arr = json_object_new_array();
	r = moat_sockdiag_each(~0u, list_sock, &l);
	if (r) {
		json_object_put(l.arr);
		snprintf(err, sizeof(err), "flows: sock_diag: %s", strerror(-r));
		return reply_error(err);
	}
	j = reply_result(0, "");
	states = json_object_new_object();
	for (i = 1; i < MOAT_SOCK_STATES; i++)
		json_object_object_add(states, moat_sock_state_name(i), json_object_new_int64((int64_t)l.states[i]));
	json_object_object_add(j, "source", json_object_new_string("the host's TCP sockets (sock_diag)"));
	json_object_object_add(j, "flows", states);
	if (l.arr) {
		json_object_object_add(j, "matched", json_object_new_int64((int64_t)l.matched));
		json_object_object_add(j, "list", l.arr);
	}
	return j;
}

static json_object *reply_limits(struct moatd *d, json_object *req)
{
	struct moat_config next = d->cfg; /* limits are plain fields */
	char err[256];
	json_object *j;
	int r;

	if (d->dpdk)
		return forward(d, "limits", req);
	if (moat_proto_apply_limits(&next, req, err, sizeof(err)))
		return reply_error(err);
	if (memcmp(&next.pol, &d->cfg.pol, sizeof(next.pol))) {
		r = apply_xdp(d, &next.pol, false);
		if (r) {
			snprintf(err, sizeof(err), "cannot write the BPF maps: %s", strerror(-r));
			return reply_error(err);
		}
		d->cfg.pol = next.pol;
		logmsg("limits changed by moatctl");
	}
	j = reply_result(0, "");
	json_object_object_add(j, "limits", moat_proto_limits_json(&d->cfg));
	return j;
}

static json_object *dispatch(struct moatd *d, const char *line)
{
	json_object *req = json_tokener_parse(line), *cmd, *out;
	char err[MOAT_CONFIG_ERR_LEN];
	int id = -1;

	if (req && json_object_object_get_ex(req, "cmd", &cmd) && json_object_is_type(cmd, json_type_string))
		id = moat_cmd_lookup(json_object_get_string(cmd));
	switch (id) {
	case MOAT_CMD_STATS:
		out = reply_stats(d);
		break;
	case MOAT_CMD_STATUS:
		out = reply_status(d);
		break;
	case MOAT_CMD_BLOCK:
	case MOAT_CMD_UNBLOCK:
	case MOAT_CMD_ALLOW:
	case MOAT_CMD_UNALLOW:
		out = reply_list(d, id, req);
		break;
	case MOAT_CMD_RELOAD:
		out = reply_result(reload(d, err, sizeof(err)), err);
		break;
	case MOAT_CMD_TOP:
		out = reply_top(d);
		break;
	case MOAT_CMD_FLOWS:
		out = d->dpdk ? forward(d, "flows", req) : reply_flows_xdp(req);
		break;
	case MOAT_CMD_LIMITS:
		out = reply_limits(d, req);
		break;
	default:
		out = json_object_new_object();
		json_object_object_add(out, "ok", json_object_new_boolean(0));
		json_object_object_add(out, "error", json_object_new_string(req ? "unknown command" : "request is not JSON"));
	}
	json_object_put(req);
	return out;
}

static bool is_events_request(const char *line, int *follow)
{
	json_object *req = json_tokener_parse(line), *v;
	bool yes = req && json_object_object_get_ex(req, "cmd", &v) &&
		   !strcmp(json_object_get_string(v), "events");

	*follow = yes && json_object_object_get_ex(req, "follow", &v) && json_object_get_boolean(v);
	json_object_put(req);
	return yes;
}

/* One request per connection: read a line, answer it, close (events -f: keep it). */
static void serve_client(struct moatd *d, int fd)
{
	int follow;
	char buf[4096];
	size_t len = 0;
	json_object *out;

	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	if (is_events_request(buf, &follow)) {
		moat_feed_subscribe(&d->feed, fd, follow); /* the feed owns fd now */
		return;
	}
	out = dispatch(d, buf);
	dprintf(fd, "%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	close(fd);
}

static int peer_is_root(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) && cred.uid == 0;
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
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
	if (epoll_add(d->epfd, d->sigfd) || epoll_add(d->epfd, d->timerfd) ||
	    epoll_add(d->epfd, d->listenfd))
		return -errno;
	if (!d->dpdk && moat_xdp_events_fd(d->xdp) >= 0 &&
	    epoll_add(d->epfd, moat_xdp_events_fd(d->xdp)))
		return -errno;
	return 0;
}

static void on_tick(struct moatd *d)
{
	u64 expirations;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	top_decay(d);
	rotate_secrets(d);
	if (d->dpdk) {
		sync_dataplane(d);
		return;
	}
	refresh_conns(d);
	if (moat_ttl_expire(&d->ttls, &d->cfg, mono_ms()) && apply_xdp(d, NULL, true))
		logmsg("cannot write the lists after entries expired");
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
	static const struct timeval client_timeout = { .tv_sec = 1 };
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

			if (fd == d->sigfd) {
				on_signal(d);
			} else if (fd == d->timerfd) {
				on_tick(d);
			} else if (fd == d->listenfd) {
				int c = accept4(d->listenfd, NULL, NULL, SOCK_CLOEXEC);

				if (c < 0)
					continue;
				/* A client that sends nothing must not hold the loop. */
				setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &client_timeout,
					   sizeof(client_timeout));
				if (!peer_is_root(c)) {
					dprintf(c, "{\"ok\":false,\"error\":\"permission denied: moatd answers root only\"}\n");
					close(c);
					continue;
				}
				serve_client(d, c);
			} else if (d->dpdk && fd == d->dp.ev_fd) {
				if (moat_dplink_events_read(&d->dp, dp_event_line, d) < 0)
					epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL); /* closed: fd gone */
			} else if (!d->dpdk) {
				moat_xdp_events_poll(d->xdp);
			}
		}
	}
	return 0;
}

static int open_events(struct moatd *d)
{
	if (d->dpdk)
		return 0; /* moat-dp writes the event log; moatd follows its stream */
	if (!d->cfg.events[0])
		return moat_xdp_events_open(d->xdp, print_event, d); /* for top only */
	if (!strcmp(d->cfg.events, "-")) {
		d->events = stdout;
	} else {
		d->events = fopen(d->cfg.events, "a");
		if (!d->events)
			return -errno;
	}
	return moat_xdp_events_open(d->xdp, print_event, d);
}

static void note_loader(const char *msg)
{
	logmsg("%s", msg);
}

static int start_xdp(struct moatd *d)
{
	unsigned int i;
	int err;

	d->xopts.pin_dir = d->cfg.pin_dir;
	d->xopts.mode = (enum moat_xdp_mode)d->cfg.xdp_mode;
	d->xopts.note = note_loader;
	d->xopts.want_reqsk = true;
	err = moat_xdp_load(&d->xdp, &d->xopts);
	if (err) {
		logmsg("%s", d->xopts.err);
		return err;
	}
	if ((err = apply_xdp(d, &d->cfg.pol, true)) || (err = init_secrets(d))) {
		logmsg("cannot write the BPF maps: %s", strerror(-err));
		return err;
	}
	for (i = 0; i < d->cfg.n_interfaces; i++) {
		err = moat_xdp_attach(d->xdp, d->cfg.interfaces[i], &d->xopts);
		if (err) {
			logmsg("%s", d->xopts.err);
			return err;
		}
		logmsg("attached to %s (%s mode%s)", d->cfg.interfaces[i],
		       moat_xdp_mode_of(d->xdp, d->cfg.interfaces[i]),
		       moat_xdp_has_reqsk(d->xdp) ? ", cookies completed by TC" : "");
	}
	return 0;
}

/* dpdk: start moat-dp when ours to start; secrets and events follow once it answers. */
static int start_dpdk(struct moatd *d)
{
	char err[MOAT_CONFIG_ERR_LEN];
	int r = moat_dplink_init(&d->dp, &d->cfg, d->config_path, err, sizeof(err));

	if (r) {
		logmsg("%s", err);
		return r;
	}
	if ((r = init_secrets(d)))
		return r;
	r = moat_sigs_compile(&d->cfg, d->config_path, &d->sigs, err, sizeof(err));
	if (r) {
		logmsg("%s", err);
		return r;
	}
	{
		/* Beside moat-dp's socket: a folder only root can enter. */
		const char *slash = strrchr(d->dp.socket, '/');
		int dir_len = slash ? (int)(slash - d->dp.socket) : 1;

		snprintf(d->sig_file, sizeof(d->sig_file), "%.*s/moat-signatures.db", dir_len,
			 slash ? d->dp.socket : ".");
	}
	if (!d->dp.argv[0])
		logmsg("mode dpdk: driving the moat-dp on %s (dpdk.command not set: not starting one)",
		       d->dp.socket);
	moat_dplink_tick(&d->dp);
	return 0;
}

static int check_config(const char *path, struct moat_config *cfg)
{
	char err[MOAT_CONFIG_ERR_LEN];
	struct moat_secret_source src;

	if (moat_config_load(path, cfg, err, sizeof(err))) {
		fprintf(stderr, "moatd: %s\n", err);
		return 2;
	}
	if (cfg->mode == MOAT_MODE_XDP && cfg->n_interfaces == 0) {
		fprintf(stderr, "moatd: %s: key 'interfaces': mode xdp needs at least one interface\n", path);
		moat_config_free(cfg);
		return 2;
	}
	if (moat_secrets_open(&src, cfg->secret_file, cfg->cookie_rotate_s, err, sizeof(err))) {
		fprintf(stderr, "moatd: %s: key 'secret_file': %s\n", path, err);
		moat_config_free(cfg);
		return 2;
	}
	if (cfg->mode == MOAT_MODE_XDP && cfg->sigs.n) {
		fprintf(stderr, "moatd: %s:%u: key 'signatures': payload signatures need the inline appliance (mode: dpdk, moat-dp): host mode (XDP) sees each frame alone, with no stream to match across segments\n",
			path, cfg->sigs.v[0].line);
		moat_config_free(cfg);
		return 2;
	}
	{
		struct moat_sig_set *set = NULL;

		if (moat_sigs_compile(cfg, path, &set, err, sizeof(err))) {
			fprintf(stderr, "moatd: %s\n", err);
			moat_config_free(cfg);
			return 2;
		}
		moat_sigs_free(set);
	}
	if (cfg->mode == MOAT_MODE_DPDK) {
		struct moat_dplink l;
		int r = moat_dplink_init(&l, cfg, path, err, sizeof(err));

		free(l.words);
		if (r) {
			fprintf(stderr, "moatd: %s\n", err);
			moat_config_free(cfg);
			return 2;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "socket", required_argument, NULL, 's' },
		{ "check", required_argument, NULL, 'C' },  { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	    { NULL, 0, NULL, 0 },
	};
	static struct moatd d = { .socket_path = MOAT_DEFAULT_SOCKET, .listenfd = -1 };
	const char *check = NULL;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "c:s:C:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; break;
		case 's': d.socket_path = optarg; break;
		case 'C': check = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("moatd %s\n", MOAT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (check) {
		rc = check_config(check, &d.cfg);
		if (!rc)
			printf("%s: valid\n", check);
		moat_config_free(&d.cfg);
		return rc;
	}
	if (!d.config_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	{
		/* Absolute: moat-dp is handed the same path, and reloads read it again. */
		static char abs_path[4096];

		if (realpath(d.config_path, abs_path))
			d.config_path = abs_path;
	}
	if (check_config(d.config_path, &d.cfg))
		return 2;
	{
		sigset_t mask;

		/* Before any thread exists (the metrics server's): they inherit the mask. */
		moat_signal_mask(&mask);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		signal(SIGPIPE, SIG_IGN);
	}
	d.started = time(NULL);
	d.dpdk = d.cfg.mode == MOAT_MODE_DPDK;
	if (d.dpdk ? start_dpdk(&d) : start_xdp(&d))
		goto out;
	d.listenfd = moat_ctl_listen(d.socket_path, SOCK_NONBLOCK);
	if (d.listenfd < 0) {
		logmsg("%s: cannot listen: %s", d.socket_path, strerror(-d.listenfd));
		goto out;
	}
	if (d.cfg.metrics[0]) {
		char merr[256];

		if (moat_metrics_start(&d.metrics, d.cfg.metrics, fill_metrics, &d, merr, sizeof(merr))) {
			logmsg("%s", merr);
			goto out;
		}
	}
	if (open_events(&d) || setup_loop(&d)) {
		logmsg("cannot set up: %s", strerror(errno));
		goto out;
	}
	logmsg("running (config %s, socket %s)", d.config_path, d.socket_path);
	/* Attached and answering: what Type=notify units and scripts wait for. */
	moat_notify("READY=1\nSTATUS=running");
	rc = run_loop(&d) ? 1 : 0;
	moat_notify("STOPPING=1");
out:
	moat_metrics_stop(d.metrics);
	moat_dplink_stop(&d.dp);
	if (d.sig_file[0])
		unlink(d.sig_file);
	moat_sigs_free(d.sigs);
	moat_feed_free(&d.feed);
	if (d.xdp && !d.cfg.keep_attached)
		moat_xdp_detach_all(d.xdp);
	else if (d.xdp)
		logmsg("keep_attached: leaving XDP attached, maps pinned in %s", d.cfg.pin_dir);
	moat_xdp_close(d.xdp);
	if (d.listenfd >= 0)
		unlink(d.socket_path);
	if (d.events && d.events != stdout)
		fclose(d.events);
	moat_config_free(&d.cfg);
	return rc;
}
