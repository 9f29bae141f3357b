// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatd's xdp backend (host mode): loads and attaches the XDP program through
 * the loader (xdp/moat_xdp.h), writes policy, lists and run-time settings with
 * one apply call per change (an atomic switch of policy sets), counts
 * established connections from sock_diag for the concurrent limits, and
 * follows the sampled events ring.
 *
 * A change is made on copies and becomes d->cfg only once the maps took it, so
 * a refused write leaves what runs and what moatd says runs alike. List
 * changes and their ttl are also kept in the pinned map moat_live: a moatd
 * that starts over a running program (after kill -9, OOM, a restart) replays
 * them over the file and expires them on time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <net/if.h>

#include "control/capture.h"
#include "control/metrics.h"
#include "control/server.h"
#include "core/flowkey.h"
#include "daemon/moatd.h"
#include "daemon/sockdiag.h"
#include "flow/backend.h"
#include "xdp/moat_xdp.h"

_Static_assert(MOAT_XDP_AUTO == 0 && MOAT_XDP_NATIVE == 1 && MOAT_XDP_GENERIC == 2,
	       "config.c's xdp_mode names follow enum moat_xdp_mode");

/* Interface names by ifindex, looked up once per capture and interface. */
#define XDP_CAP_IFS 16

struct xdp_backend {
	struct moat_xdp *xdp;
	struct moat_xdp_opts xopts;
	FILE *events;	   /* the event log, NULL when none */
	struct moat_ttls ttls; /* list entries added with a time to live */
	unsigned int wall_warned; /* the cookie clock's write failed: said once */
	/* moatctl capture: one at a time. */
	struct moat_xdp_capture *cap;
	struct moat_capture_stream cs;
	int cap_fd; /* the ring's, watched */
	struct {
		unsigned int ifindex;
		char name[IF_NAMESIZE];
	} cap_if[XDP_CAP_IFS];
	unsigned int n_cap_if;
};

static struct xdp_backend *xb(const struct moatd *d)
{
	return d->be_state;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
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
 * One call of the loader writes pol (NULL: the policy stays) and, with lists,
 * cfg's allow/deny tries and the run-time settings beside them.
 */
static int apply(struct moatd *d, const struct moat_config *cfg, const struct moat_policy *pol,
		 bool lists)
{
	struct moat_xdp_update u = { .pol = pol };
	struct moat_xdp_list_entry *v = NULL;
	struct moat_runtime rt = { 0 };
	size_t i;
	int r;

	if (lists) {
		v = list_entries(cfg, &u.n_lists);
		if (!v)
			return -ENOMEM;
		for (i = 0; i < u.n_lists; i++)
			rt.list_entries[v[i].family == 6]++;
		/* Sample drops (and the filter's own answers) for `top` and the event log. */
		for (r = 0; r < MOAT_R_COUNT; r++)
			if (moat_reason_verdict(r) != MOAT_PASS)
				rt.event_every[r] = cfg->event_sample;
		u.lists = v;
		u.rt = &rt;
	}
	r = moat_xdp_apply(xb(d)->xdp, &u);
	free(v);
	return r;
}

struct conn_agg {
	struct moat_src_key k;
	u32 n;
};

static int agg_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct moat_src_key));
}

/* Sort the keys and sum each one's counts into its first place: how many keys remain. */
static size_t agg_merge(struct conn_agg *v, size_t n)
{
	size_t i, k = 0;

	qsort(v, n, sizeof(*v), agg_cmp);
	for (i = 0; i < n; i++) {
		if (k && !agg_cmp(&v[k - 1].k, &v[i].k))
			v[k - 1].n += v[i].n;
		else
			v[k++] = v[i];
	}
	return k;
}

/* Established connections per source (and prefix) for the concurrent limits. */
static void refresh_conns(struct moatd *d)
{
	const struct moat_policy *pol = &d->cfg.pol;
	struct moat_conn_count *c = NULL;
	struct moat_src_key *keys;
	struct conn_agg *agg;
	u32 *counts;
	size_t nk = 0, i;
	int n, g, r;

	if (!pol->source.concurrent && !pol->prefix.concurrent)
		return;
	n = moat_sockdiag_count(&c);
	if (n < 0) {
		logmsg("sock_diag failed: %s; the last counts stay", strerror(-n));
		return;
	}
	agg = calloc((size_t)n * 2 + 1, sizeof(*agg));
	keys = calloc((size_t)n * 2 + 1, sizeof(*keys));
	counts = calloc((size_t)n * 2 + 1, sizeof(*counts));
	for (i = 0; agg && keys && counts && i < (size_t)n; i++) {
		u32 plens[2] = { c[i].family == 6 ? 128u : 32u, moat_prefix_len(pol, c[i].family) };

		for (g = 0; g < 2; g++, nk++) {
			agg[nk].k = (struct moat_src_key){ .family = c[i].family, .plen = (u8)plens[g] };
			moat_addr_mask(&agg[nk].k.addr, &c[i].addr, c[i].family, plens[g]);
			agg[nk].n = c[i].count;
		}
	}
	if (agg && keys && counts) {
		nk = agg_merge(agg, nk);
		for (i = 0; i < nk; i++) {
			keys[i] = agg[i].k;
			counts[i] = agg[i].n;
		}
		r = moat_xdp_set_conns(xb(d)->xdp, keys, counts, nk);
		if (r)
			logmsg("cannot write the connection counts: %s; retried in a second", strerror(-r));
	}
	free(agg);
	free(keys);
	free(counts);
	free(c);
}

static int cidr_list_dup(struct moat_cidr_list *dst, const struct moat_cidr_list *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src->n)
		return 0;
	dst->v = malloc(src->n * sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	dst->n = dst->cap = src->n;
	return 0;
}

/* d->cfg with lists of its own, to change and apply before it replaces d->cfg's. */
static int lists_copy(const struct moatd *d, struct moat_config *tmp)
{
	*tmp = d->cfg;
	if (cidr_list_dup(&tmp->allow, &d->cfg.allow))
		return -ENOMEM;
	if (cidr_list_dup(&tmp->deny, &d->cfg.deny)) {
		moat_cidr_list_free(&tmp->allow);
		return -ENOMEM;
	}
	return 0;
}

static void lists_drop(struct moat_config *tmp)
{
	moat_cidr_list_free(&tmp->allow);
	moat_cidr_list_free(&tmp->deny);
}

/* The maps took tmp's lists: they are d->cfg's now. */
static void lists_commit(struct moatd *d, struct moat_config *tmp)
{
	moat_cidr_list_free(&d->cfg.allow);
	moat_cidr_list_free(&d->cfg.deny);
	d->cfg.allow = tmp->allow;
	d->cfg.deny = tmp->deny;
}

/* Remember a list change in the pinned map, for a moatd that starts after this one. */
static void live_note(struct moatd *d, const struct moat_cidr *c, bool deny, bool add,
		      long long expires)
{
	struct moat_xdp_live l = { .add = add, .expires_ms = (unsigned long long)expires };
	int r;

	l.e.family = c->family;
	l.e.plen = c->plen;
	l.e.addr = c->addr;
	l.e.action = deny ? MOAT_LIST_DENY : MOAT_LIST_ALLOW;
	r = moat_xdp_live_note(xb(d)->xdp, &l);
	if (r)
		logmsg("cannot record a list change in %s/moat_live (%s): a restarted moatd would not replay it",
		       d->cfg.pin_dir, strerror(-r));
}

/* Entries whose ttl ran out leave their list, applied before d->cfg and the ttls change. */
static void expire_ttls(struct moatd *d)
{
	struct moat_ttls *t = &xb(d)->ttls, *next;
	long long now = mono_ms();
	struct moat_config tmp;
	unsigned int i;
	int r;

	for (i = 0; i < t->n && t->v[i].expires > now; i++)
		;
	if (i == t->n)
		return;
	next = malloc(sizeof(*next));
	if (!next || lists_copy(d, &tmp)) {
		free(next);
		return;
	}
	*next = *t;
	moat_ttl_expire(next, &tmp, now);
	r = apply(d, &tmp, NULL, true);
	if (r) {
		logmsg("cannot write the lists after entries expired: %s; the entries stay until the next try, in a second",
		       strerror(-r));
		lists_drop(&tmp);
		free(next);
		return;
	}
	lists_commit(d, &tmp);
	for (i = 0; i < t->n; i++)
		if (t->v[i].expires <= now)
			live_note(d, &t->v[i].cidr, t->v[i].cmd == MOAT_CMD_BLOCK, false, 0);
	*t = *next;
	free(next);
}

/* A sampled event from the ring: top, the event log, the followers. */
static int on_event(void *ctx, void *data, size_t len)
{
	struct moatd *d = ctx;
	FILE *log = xb(d)->events;
	struct moat_event ev;
	char *line;

	if (len < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	moatd_top_count(&d->top, &ev, d->cfg.event_sample);
	line = moat_event_format(&ev, d->cfg.event_sample, "ifindex");
	if (!line)
		return 0;
	if (log) {
		fputs(line, log);
		fflush(log);
	}
	moat_feed_publish(&d->feed, line);
	free(line);
	return 0;
}

static void note_loader(const char *msg)
{
	logmsg("%s", msg);
}

static int attach_all(struct moatd *d)
{
	struct xdp_backend *x = xb(d);
	unsigned int i;
	int err;

	for (i = 0; i < d->cfg.n_interfaces; i++) {
		err = moat_xdp_attach(x->xdp, d->cfg.interfaces[i], &x->xopts);
		if (err) {
			logmsg("%s", x->xopts.err);
			return err;
		}
		logmsg("attached to %s (%s mode%s)", d->cfg.interfaces[i],
		       moat_xdp_mode_of(x->xdp, d->cfg.interfaces[i]),
		       moat_xdp_has_reqsk(x->xdp) ? ", cookies completed by TC" : "");
	}
	return 0;
}

/*
 * The secrets a previous moatd left in the pinned map are adopted (random
 * mode), so cookies in flight across a restart stay valid; else the source's.
 */
static int init_secrets(struct moatd *d)
{
	struct moat_xdp *x = xb(d)->xdp;
	struct moat_cookie_secrets pinned;
	int r = moatd_secrets_init(d, moat_xdp_get_secrets(x, &pinned) ? NULL : &pinned);

	if (r == 1)
		logmsg("adopted the SYN cookie secrets already in %s", d->cfg.pin_dir);
	if (r)
		return r < 0 ? r : 0;
	return moat_xdp_set_secrets(x, &d->secrets);
}

/* A previous moatd's list change, over the file's lists (d->cfg) and into the ttls. */
static int replay_one(const struct moat_xdp_live *l, void *ctx)
{
	struct moatd *d = ctx;
	struct moat_ttls *t = &xb(d)->ttls;
	struct moat_cidr c = { .addr = l->e.addr, .family = l->e.family, .plen = l->e.plen };
	bool deny = l->e.action == MOAT_LIST_DENY;
	struct moat_cidr_list *list = deny ? &d->cfg.deny : &d->cfg.allow;

	while (!moat_cidr_list_remove(list, &c))
		;
	if (!l->add)
		return 0;
	if (moat_cidr_list_add(list, &c))
		return -ENOMEM;
	if (l->expires_ms && t->n < MOAT_TTL_MAX) {
		t->v[t->n].cidr = c;
		t->v[t->n].cmd = deny ? MOAT_CMD_BLOCK : MOAT_CMD_ALLOW;
		t->v[t->n].expires = (long long)l->expires_ms; /* the same clock across processes */
		t->n++;
	}
	return 0;
}

/* The list changes made live since the file was loaded, by a moatd that is gone. */
static int replay_live(struct moatd *d)
{
	int r = moat_xdp_live_each(xb(d)->xdp, replay_one, d);

	if (r) {
		logmsg("cannot read the list changes in %s/moat_live: %s", d->cfg.pin_dir, strerror(-r));
		return r;
	}
	if (xb(d)->ttls.n)
		logmsg("replayed the list changes in %s/moat_live: %u entries with a ttl expire as set",
		       d->cfg.pin_dir, xb(d)->ttls.n);
	return 0;
}

/*
 * limits set: the changes, merged over what earlier ones left, into the pinned
 * map moat_live_limits, so that a restarted moatd sets them again.
 */
static void live_limits_note(struct moatd *d, json_object *req)
{
	char text[MOAT_LIVE_LIMITS_LEN];
	json_object *set, *kept = NULL;
	int r;

	if (!json_object_object_get_ex(req, "set", &set))
		return;
	if (!moat_xdp_live_limits_get(xb(d)->xdp, text, sizeof(text)) && text[0])
		kept = json_tokener_parse(text);
	if (!kept)
		kept = json_object_new_object();
	json_object_object_foreach(set, key, val)
	{
		json_object_object_add(kept, key, json_object_get(val));
	}
	r = moat_xdp_live_limits_put(xb(d)->xdp,
				     json_object_to_json_string_ext(kept, JSON_C_TO_STRING_PLAIN));
	if (r)
		logmsg("cannot record the limits in %s/moat_live_limits (%s): a restarted moatd would not set them again",
		       d->cfg.pin_dir, strerror(-r));
	json_object_put(kept);
}

/* The limits a moatd that is gone set live, over the file's (d->cfg). */
static void replay_live_limits(struct moatd *d)
{
	char text[MOAT_LIVE_LIMITS_LEN], err[256] = "not JSON";
	json_object *req, *set;

	if (moat_xdp_live_limits_get(xb(d)->xdp, text, sizeof(text)) || !text[0])
		return;
	set = json_tokener_parse(text);
	req = json_object_new_object();
	json_object_object_add(req, "set", set);
	if (!set || moat_proto_apply_limits(&d->cfg, req, err, sizeof(err)))
		logmsg("cannot set again the limits set live before (%s): %s; the file's apply", text,
		       err);
	else
		logmsg("set again the limits set live before the restart: %s (a reload returns to the file's)",
		       text);
	json_object_put(req);
}

/*
 * Over a program a previous moatd left running (pinned maps), nothing is
 * detached or emptied: the maps are reused, the secrets and counters kept, the
 * list changes replayed, the new policy set switched in as one update, and the
 * program replaced in place (bpf_xdp_attach and bpf_tc_attach replace
 * atomically).
 */
static int xdp_start(struct moatd *d)
{
	struct xdp_backend *x = calloc(1, sizeof(*x));
	int err;

	if (!x)
		return -ENOMEM;
	d->be_state = x;
	x->xopts.pin_dir = d->cfg.pin_dir;
	x->xopts.mode = (enum moat_xdp_mode)d->cfg.xdp_mode;
	x->xopts.note = note_loader;
	x->xopts.want_reqsk = true;
	err = moat_xdp_load(&x->xdp, &x->xopts);
	if (err) {
		logmsg("%s", x->xopts.err);
		return err;
	}
	if (moat_xdp_adopted(x->xdp))
		logmsg("adopted the running policy set (generation %u) in %s; it runs until %s's replaces it in one switch",
		       moat_xdp_generation(x->xdp), d->cfg.pin_dir, d->config_path);
	if ((err = replay_live(d)))
		return err;
	replay_live_limits(d);
	if ((err = apply(d, &d->cfg, &d->cfg.pol, true)) || (err = init_secrets(d))) {
		logmsg("cannot write the BPF maps: %s", strerror(-err));
		return err;
	}
	return attach_all(d);
}

static int xdp_open_events(struct moatd *d)
{
	struct xdp_backend *x = xb(d);
	int fd;

	if (!d->cfg.events[0]) {
		x->events = NULL; /* the ring feeds top and the followers only */
	} else if (!strcmp(d->cfg.events, "-")) {
		x->events = stdout;
	} else {
		x->events = fopen(d->cfg.events, "a");
		if (!x->events)
			return -errno;
	}
	if (moat_xdp_events_open(x->xdp, on_event, d))
		return -errno;
	fd = moat_xdp_events_fd(x->xdp);
	return fd >= 0 && moatd_watch(d, fd) ? -errno : 0;
}

/* ---- moatctl capture: the program's records, streamed to the client ---- */

static const char *cap_ifname(struct xdp_backend *x, unsigned int ifindex)
{
	unsigned int i;

	for (i = 0; i < x->n_cap_if; i++)
		if (x->cap_if[i].ifindex == ifindex)
			return x->cap_if[i].name;
	if (x->n_cap_if == XDP_CAP_IFS)
		return "?";
	i = x->n_cap_if++;
	x->cap_if[i].ifindex = ifindex;
	if (!if_indextoname(ifindex, x->cap_if[i].name))
		snprintf(x->cap_if[i].name, IF_NAMESIZE, "if%u", ifindex);
	return x->cap_if[i].name;
}

static void capture_end(struct moatd *d, const char *why)
{
	struct xdp_backend *x = xb(d);

	if (!x->cap)
		return;
	x->cs.src_lost = moat_xdp_capture_lost(x->cap);
	moatd_unwatch(d, x->cap_fd);
	moat_xdp_capture_stop(x->cap);
	x->cap = NULL;
	moat_capture_stream_close(&x->cs, why);
	logmsg("capture ended (%s): %llu packets, %llu lost", why, x->cs.sent, x->cs.lost);
}

static int on_capture(void *ctx, void *data, size_t len)
{
	struct moatd *d = ctx;
	struct xdp_backend *x = xb(d);
	const struct moat_capture_rec *rec = data;

	if (len < sizeof(*rec) || !moat_capture_stream_on(&x->cs))
		return 0;
	/* The count reached: stop consuming (a negative return), the rest is not wanted. */
	return moat_capture_stream_put(&x->cs, rec, cap_ifname(x, rec->where)) ? -ECANCELED : 0;
}

static void capture_poll(struct moatd *d)
{
	struct xdp_backend *x = xb(d);

	moat_xdp_capture_poll(x->cap);
	if (moat_capture_stream_flush(&x->cs))
		capture_end(d, "stopped");
	else if (x->cs.count && x->cs.sent >= x->cs.count)
		capture_end(d, "count");
}

/* Unix time minus bpf_ktime_get_ns's clock (CLOCK_MONOTONIC), in ns. */
static long long mono_to_unix_ns(void)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return (rt.tv_sec - mono.tv_sec) * 1000000000LL + (rt.tv_nsec - mono.tv_nsec);
}

static void xdp_capture(struct moatd *d, int fd, json_object *req)
{
	struct xdp_backend *x = xb(d);
	struct moat_capture_req r;
	char err[256];
	int e;

	if (moat_capture_parse(req, &r, err, sizeof(err)) ||
	    (x->cap && snprintf(err, sizeof(err), "a capture is running already") > 0)) {
		moat_capture_refuse(fd, err);
		return;
	}
	e = moat_xdp_capture_start(x->xdp, &r.cfg, on_capture, d, &x->cap);
	if (!e) {
		x->cap_fd = moat_xdp_capture_fd(x->cap);
		e = moatd_watch(d, x->cap_fd) ? -errno : 0;
		if (e)
			moat_xdp_capture_stop(x->cap);
	}
	if (e) {
		x->cap = NULL;
		snprintf(err, sizeof(err), "capture: %s", strerror(-e));
		moat_capture_refuse(fd, err);
		return;
	}
	x->n_cap_if = 0;
	if (moat_capture_stream_open(&x->cs, fd, &r, "cpu", mono_to_unix_ns())) {
		moatd_unwatch(d, x->cap_fd);
		moat_xdp_capture_stop(x->cap);
		x->cap = NULL;
		return;
	}
	logmsg("capture started (reasons 0x%x, snaplen %u, 1 in %u, count %llu)", r.cfg.reasons,
	       r.cfg.snaplen, r.cfg.sample, r.count);
}

static void xdp_stop(struct moatd *d)
{
	struct xdp_backend *x = xb(d);

	if (!x)
		return;
	capture_end(d, "stopped");
	if (x->xdp && !d->cfg.keep_attached)
		moat_xdp_detach_all(x->xdp);
	else if (x->xdp)
		logmsg("keep_attached: leaving XDP attached, maps pinned in %s", d->cfg.pin_dir);
	moat_xdp_close(x->xdp);
	if (x->events && x->events != stdout)
		fclose(x->events);
	free(x);
	d->be_state = NULL;
}

static void xdp_tick(struct moatd *d)
{
	struct xdp_backend *x = xb(d);

	refresh_conns(d);
	expire_ttls(d);
	if (moat_xdp_set_wall_clock(x->xdp) && !x->wall_warned++)
		logmsg("cannot write the cookie clock (moat_wall): cookies count the last offset written");
	if (x->cap) {
		x->cs.src_lost = moat_xdp_capture_lost(x->cap);
		if (moat_capture_stream_beat(&x->cs))
			capture_end(d, "stopped"); /* the client went away */
	}
}

static void xdp_secrets_rotated(struct moatd *d)
{
	if (moat_xdp_set_secrets(xb(d)->xdp, &d->secrets))
		logmsg("cannot write the rotated secrets to the BPF map");
}

static void xdp_on_fd(struct moatd *d, int fd)
{
	struct xdp_backend *x = xb(d);

	if (x->cap && fd == x->cap_fd)
		capture_poll(d);
	else
		moat_xdp_events_poll(x->xdp);
}

/* Interfaces, pin_dir and xdp_mode apply at start; the rest is written at once. */
static int xdp_reload(struct moatd *d, struct moat_config *next, char *err, size_t errlen)
{
	int r;

	if (next->n_interfaces != d->cfg.n_interfaces ||
	    memcmp(next->interfaces, d->cfg.interfaces, sizeof(next->interfaces)) ||
	    strcmp(next->pin_dir, d->cfg.pin_dir) || next->xdp_mode != d->cfg.xdp_mode) {
		snprintf(err, errlen, "%s: interfaces, pin_dir and xdp_mode apply at start: restart moatd to change them",
			 d->config_path);
		moat_config_free(next);
		return -EINVAL;
	}
	r = apply(d, next, &next->pol, true);
	if (r) {
		snprintf(err, errlen, "%s: cannot write the BPF maps: %s; the running policy stays",
			 d->config_path, strerror(-r));
		logmsg("reload refused: %s", err);
		moat_config_free(next);
		return r;
	}
	moatd_take_config(d, next);
	/* The file is the policy now: live changes went with the old one. */
	xb(d)->ttls.n = 0;
	r = moat_xdp_live_clear(xb(d)->xdp);
	if (r)
		logmsg("cannot clear %s/moat_live: %s: a restarted moatd would replay older list changes",
		       d->cfg.pin_dir, strerror(-r));
	logmsg("reloaded %s", d->config_path);
	return 0;
}

static json_object *xdp_stats(struct moatd *d)
{
	json_object *j, *reasons, *verdicts, *cookies;
	u64 cnt[MOAT_R_COUNT] = { 0 }, v[3] = { 0 }, assigned, failed;
	int r;

	if (moat_xdp_read_reasons(xb(d)->xdp, cnt))
		return moat_reply_error("cannot read counters");
	j = json_object_new_object();
	reasons = json_object_new_object();
	verdicts = json_object_new_object();
	cookies = json_object_new_object();
	for (r = 0; r < MOAT_R_COUNT; r++) {
		json_object_object_add(reasons, moat_reason_name(r), json_object_new_int64((int64_t)cnt[r]));
		v[moat_reason_verdict(r)] += cnt[r];
	}
	json_object_object_add(verdicts, "pass", json_object_new_int64((int64_t)v[MOAT_PASS]));
	json_object_object_add(verdicts, "drop", json_object_new_int64((int64_t)v[MOAT_DROP]));
	json_object_object_add(verdicts, "tx", json_object_new_int64((int64_t)v[MOAT_TX]));
	moat_xdp_read_tc(xb(d)->xdp, &assigned, &failed);
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

static const char *attached_mode(const struct moatd *d, const char *ifname)
{
	const char *m = moat_xdp_mode_of(xb(d)->xdp, ifname);

	return m ? m : "none";
}

static void xdp_status(struct moatd *d, json_object *j)
{
	json_object *ifs = json_object_new_array(), *modes = json_object_new_object();
	unsigned int i;

	for (i = 0; i < d->cfg.n_interfaces; i++) {
		json_object_array_add(ifs, json_object_new_string(d->cfg.interfaces[i]));
		/* Interface -> the XDP mode it runs in (auto picks per driver). */
		json_object_object_add(modes, d->cfg.interfaces[i],
				       json_object_new_string(attached_mode(d, d->cfg.interfaces[i])));
	}
	json_object_object_add(j, "xdp_mode", json_object_new_string(moat_xdp_mode_names[d->cfg.xdp_mode]));
	json_object_object_add(j, "interfaces", ifs);
	json_object_object_add(j, "attached", modes);
	json_object_object_add(j, "pin_dir", json_object_new_string(d->cfg.pin_dir));
	json_object_object_add(j, "cookie_completion",
			       json_object_new_string(moat_xdp_has_reqsk(xb(d)->xdp) ? "tc_reqsk" : "kernel"));
}

/* A list command that the maps took, into the pinned record of live changes. */
static void live_note_cmd(struct moatd *d, int cmd, json_object *req, long long now)
{
	bool add = cmd == MOAT_CMD_BLOCK || cmd == MOAT_CMD_ALLOW;
	bool deny = cmd == MOAT_CMD_BLOCK || cmd == MOAT_CMD_UNBLOCK;
	json_object *jc, *jt;
	struct moat_cidr c;
	long long expires = 0;

	if (!json_object_object_get_ex(req, "cidr", &jc) || moat_cidr_parse(json_object_get_string(jc), &c))
		return;
	if (add && json_object_object_get_ex(req, "ttl", &jt))
		expires = now + json_object_get_int64(jt) * 1000;
	live_note(d, &c, deny, add, expires);
}

/*
 * block/unblock/allow/unallow: the changed lists are built beside the running
 * ones and switched in whole; refused, nothing changes.
 */
static json_object *xdp_list(struct moatd *d, int cmd, json_object *req)
{
	struct xdp_backend *x = xb(d);
	struct moat_ttls *ttls = malloc(sizeof(*ttls));
	long long now = mono_ms();
	struct moat_config tmp;
	char err[256] = "";
	int r;

	if (!ttls || lists_copy(d, &tmp)) {
		free(ttls);
		return moat_reply_error("out of memory");
	}
	*ttls = x->ttls;
	r = moat_proto_apply_list(&tmp, cmd, req, err, sizeof(err));
	if (!r)
		r = moat_ttl_note(ttls, cmd, req, now, err, sizeof(err));
	if (!r && (r = apply(d, &tmp, NULL, true))) {
		snprintf(err, sizeof(err), "cannot write the BPF maps: %s; the lists stay as they were",
			 strerror(-r));
		logmsg("%s %s", moat_cmds[cmd].name, err);
	}
	if (r) {
		lists_drop(&tmp);
		free(ttls);
		return moat_reply_result(r, err);
	}
	lists_commit(d, &tmp);
	x->ttls = *ttls;
	free(ttls);
	live_note_cmd(d, cmd, req, now);
	return moat_reply_result(0, err);
}

/* The host's sockets are the flow state: counted and listed from sock_diag. */
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

static json_object *xdp_flows(struct moatd *d, json_object *req)
{
	struct sock_list l = { 0 };
	json_object *j, *states, *v;
	char err[256];
	unsigned int i;
	int r;

	(void)d;
	if (moat_proto_flow_filter(req, sock_state_of, &l.f, &l.limit, err, sizeof(err)))
		return moat_reply_error(err);
	l.one = (struct moat_cidr_list){ .v = &l.f.cidr, .n = 1, .cap = 1 };
	if (json_object_object_get_ex(req, "list", &v) && json_object_get_boolean(v))
		l.arr = json_object_new_array();
	r = moat_sockdiag_each(~0u, list_sock, &l);
	if (r) {
		json_object_put(l.arr);
		snprintf(err, sizeof(err), "flows: sock_diag: %s", strerror(-r));
		return moat_reply_error(err);
	}
	j = moat_reply_ok();
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

static json_object *xdp_limits(struct moatd *d, json_object *req)
{
	struct moat_config next = d->cfg; /* limits are plain fields */
	char err[256];
	json_object *j;
	int r;

	if (moat_proto_apply_limits(&next, req, err, sizeof(err)))
		return moat_reply_error(err);
	if (memcmp(&next.pol, &d->cfg.pol, sizeof(next.pol))) {
		r = apply(d, &d->cfg, &next.pol, false);
		if (r) {
			snprintf(err, sizeof(err), "cannot write the BPF maps: %s; the limits stay as they were",
				 strerror(-r));
			logmsg("limits: %s", err);
			return moat_reply_error(err);
		}
		d->cfg.pol = next.pol;
		logmsg("limits changed by moatctl");
	}
	live_limits_note(d, req);
	j = moat_reply_ok();
	json_object_object_add(j, "limits", moat_proto_limits_json(&d->cfg));
	return j;
}

/* Where the work lands: per CPU (RSS/IRQ spread), by verdict. */
static void fill_metrics_xdp_cpus(struct moatd *d, struct moat_text *t)
{
	int ncpu = libbpf_num_possible_cpus(), c, v;
	u64 *per = ncpu > 0 ? calloc((size_t)ncpu * 3, sizeof(*per)) : NULL;

	moat_text_family(t, "moat_cpu_packets_total", "counter",
			 "Packets decided by moat, by CPU and verdict (host mode).");
	if (per && !moat_xdp_read_cpu_verdicts(xb(d)->xdp, per, ncpu))
		for (c = 0; c < ncpu; c++)
			for (v = 0; v < 3; v++)
				moat_text_printf(t, "moat_cpu_packets_total{cpu=\"%d\",verdict=\"%s\"} %llu\n",
						 c, moat_verdict_name(v),
						 (unsigned long long)per[c * 3 + v]);
	free(per);
}

static void fill_metrics_xdp(struct moatd *d, struct moat_text *t)
{
	u64 cnt[MOAT_R_COUNT] = { 0 }, assigned = 0, failed = 0;
	unsigned int i;
	int r;

	moat_xdp_read_reasons(xb(d)->xdp, cnt);
	moat_xdp_read_tc(xb(d)->xdp, &assigned, &failed);
	moat_text_family(t, "moat_packets_total", "counter",
			 "Packets decided by moat, by reason and verdict, summed over CPUs.");
	for (r = 0; r < MOAT_R_COUNT; r++)
		moat_text_printf(t, "moat_packets_total{reason=\"%s\",verdict=\"%s\"} %llu\n",
				 moat_reason_name(r), moat_verdict_name(moat_reason_verdict(r)),
				 (unsigned long long)cnt[r]);
	fill_metrics_xdp_cpus(d, t);
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
}

const struct moatd_backend_ops moatd_backend_xdp = {
	.name = "xdp",
	.needs_interfaces = true,
	.takes_signatures = false,
	.start = xdp_start,
	.open_events = xdp_open_events,
	.stop = xdp_stop,
	.tick = xdp_tick,
	.secrets_rotated = xdp_secrets_rotated,
	.on_fd = xdp_on_fd,
	.reload = xdp_reload,
	.stats = xdp_stats,
	.status = xdp_status,
	.list = xdp_list,
	.flows = xdp_flows,
	.limits = xdp_limits,
	.fill_metrics = fill_metrics_xdp,
	.capture = xdp_capture,
};
