// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatd's announcements (bgp.h): per tick, the node's health from its backend,
 * the link up or down, and the include file BIRD reads (announced prefixes over
 * the link, FlowSpec discard rules) rewritten and `configure`d when it changes.
 * The include file also carries what must outlive a moatd restart: the drained
 * mark and each exported block with its expiry (wall clock).
 */
#include "daemon/bgp.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control/server.h"
#include "daemon/bgp_sys.h"
#include "daemon/moatd.h"

#define BGP_TOP_HOLD_S 60    /* a top source stays exported this long after it last qualified */
#define BGP_TOP_MAX MOAT_BGP_MAX_TOP
#define BGP_RETRY_S 5	     /* a refused or unreachable BIRD is tried again after this */
#define BGP_FILE_DRAINED "# moatd: drained\n"
#define BGP_FILE_BLOCK "# moatd: block "

struct bgp_rule {
	struct moat_cidr src;
	long long until; /* wall-clock seconds; 0: until unblocked */
};

struct moatd_bgp {
	char link[16];
	int link_fd;
	int link_err;	/* the last failure on the link, logged once */
	bool up;	/* the link is up: BIRD announces */
	bool healthy;
	bool drained;
	char why[160];	/* why nothing is announced */
	struct bgp_rule blocks[MOAT_TTL_MAX];
	unsigned int n_blocks;
	struct bgp_rule top[BGP_TOP_MAX];
	unsigned int n_top;
	char *written;	/* the include text BIRD took last */
	unsigned int rules;
	long long retry_at;
	char bird_err[320];
	unsigned long long configures, configure_failures, withdrawals;
	time_t changed; /* announced or withdrawn since */
};

static long long now_s(void)
{
	return (long long)time(NULL);
}

static bool configured(const struct moatd *d)
{
	return d->bgp && d->cfg.bgp.daemon != MOAT_BGP_NONE;
}

/* ---- health ---------------------------------------------------------------- */

/* Host mode: every configured interface carries an XDP program, as the kernel says. */
static bool xdp_healthy(struct moatd *d, char *why, size_t len)
{
	unsigned int i;
	int r;

	for (i = 0; i < d->cfg.n_interfaces; i++) {
		r = bgp_xdp_attached(d->cfg.interfaces[i]);
		if (r != 1) {
			snprintf(why, len, "unhealthy: no XDP program on %s%s%s", d->cfg.interfaces[i],
				 r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
			return false;
		}
	}
	return true;
}

/* Mode dpdk: moat-dp answers its status with its workers running. */
static bool dpdk_healthy(struct moatd *d, char *why, size_t len)
{
	json_object *j = json_object_new_object(), *dp, *v;
	bool ok = false;

	d->be->status(d, j);
	if (!json_object_object_get_ex(j, "moat_dp", &dp))
		snprintf(why, len, "unhealthy: no moat-dp status");
	else if (json_object_object_get_ex(dp, "error", &v))
		snprintf(why, len, "unhealthy: moat-dp: %s", json_object_get_string(v));
	else if (!json_object_object_get_ex(dp, "workers", &v) || json_object_get_int(v) < 1)
		snprintf(why, len, "unhealthy: moat-dp runs no worker");
	else
		ok = true;
	json_object_put(j);
	return ok;
}

static bool node_healthy(struct moatd *d, char *why, size_t len)
{
	return d->cfg.mode == MOAT_MODE_DPDK ? dpdk_healthy(d, why, len) : xdp_healthy(d, why, len);
}

/*
 * The link deleted under moatd (ip link del): BIRD withdrew with it. Made again,
 * down; 0, or -errno logged once per cause.
 */
static int relink(struct moatd_bgp *b)
{
	char err[160];
	int fd;

	if (if_nametoindex(b->link))
		return 0;
	b->up = false;
	close(b->link_fd);
	fd = bgp_link_open(b->link, err, sizeof(err));
	b->link_fd = fd < 0 ? -1 : fd;
	if (fd < 0 && fd != b->link_err)
		logmsg("bgp: link %s is gone and cannot be made again: %s", b->link, err);
	else if (fd >= 0)
		logmsg("bgp: link %s was gone (withdrawn): made again", b->link);
	b->link_err = fd < 0 ? fd : 0;
	return fd < 0 ? fd : 0;
}

/* The link up exactly when healthy, not drained and bgp: still configured. */
static void decide(struct moatd *d)
{
	struct moatd_bgp *b = d->bgp;
	char why[sizeof(b->why)] = "";
	bool want;
	int r;

	if (relink(b))
		return;
	b->healthy = node_healthy(d, why, sizeof(why));
	if (d->cfg.bgp.daemon == MOAT_BGP_NONE)
		snprintf(why, sizeof(why), "bgp: left the config");
	else if (b->drained)
		snprintf(why, sizeof(why), "drained");
	want = !why[0];
	if (want == b->up && !strcmp(why, b->why))
		return;
	if (want != b->up) {
		r = bgp_link_set(b->link, want);
		if (r) {
			if (r != b->link_err)
				logmsg("bgp: cannot set link %s %s: %s (tried again every second)",
				       b->link, want ? "up" : "down", strerror(-r));
			b->link_err = r;
			return;
		}
		b->link_err = 0;
		b->up = want;
		b->changed = time(NULL);
		b->withdrawals += !want;
		logmsg("bgp: %s%s%s", want ? "announcing" : "withdrawn", want ? "" : ": ", why);
	}
	snprintf(b->why, sizeof(b->why), "%s", why);
}

/* ---- FlowSpec rules -------------------------------------------------------- */

static int rule_find(const struct bgp_rule *v, unsigned int n, const struct moat_cidr *c)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (v[i].src.family == c->family && v[i].src.plen == c->plen &&
		    moat_addr_eq(&v[i].src.addr, &c->addr))
			return (int)i;
	return -1;
}

static void rule_drop(struct bgp_rule *v, unsigned int *n, unsigned int i)
{
	v[i] = v[--*n];
}

static void expire(struct bgp_rule *v, unsigned int *n, long long now)
{
	unsigned int i = 0;

	while (i < *n) {
		if (v[i].until && v[i].until <= now)
			rule_drop(v, n, i);
		else
			i++;
	}
}

static void block_note(struct moatd_bgp *b, const struct moat_cidr *c, long long until)
{
	int i = rule_find(b->blocks, b->n_blocks, c);

	if (i < 0) {
		if (b->n_blocks == MOAT_TTL_MAX)
			return;
		i = (int)b->n_blocks++;
	}
	b->blocks[i] = (struct bgp_rule){ *c, until };
}

/* The sources `top` shows dropped by source_rate at flowspec_top_rate or more. */
static void top_refresh(struct moatd *d)
{
	struct moatd_bgp *b = d->bgp;
	json_object *j = moatd_top_reply(&d->top, d->cfg.event_sample), *srcs, *s, *v;
	unsigned int want = d->cfg.bgp.flowspec_top;
	struct moat_cidr c;
	size_t i;
	int k;

	if (json_object_object_get_ex(j, "sources", &srcs))
		for (i = 0; i < json_object_array_length(srcs) && want; i++) {
			s = json_object_array_get_idx(srcs, i);
			if (!json_object_object_get_ex(s, "last_drop_reason", &v) ||
			    strcmp(json_object_get_string(v), "source_rate") ||
			    !json_object_object_get_ex(s, "drops_per_s", &v) ||
			    json_object_get_double(v) < d->cfg.bgp.flowspec_top_rate ||
			    !json_object_object_get_ex(s, "source", &v) ||
			    moat_cidr_parse(json_object_get_string(v), &c))
				continue;
			want--;
			k = rule_find(b->top, b->n_top, &c);
			if (k < 0 && b->n_top == BGP_TOP_MAX)
				continue;
			if (k < 0)
				k = (int)b->n_top++;
			b->top[k] = (struct bgp_rule){ c, now_s() + BGP_TOP_HOLD_S };
		}
	json_object_put(j);
}

/* ---- the include file ------------------------------------------------------ */

static void put_announce(FILE *f, const struct moatd *d, u8 family)
{
	const struct moat_bgp_config *bc = &d->cfg.bgp;
	char buf[64];
	unsigned int i;

	fprintf(f, "protocol static moat_announce%d {\n\tipv%d;\n\tcheck link;\n", family, family);
	for (i = 0; i < bc->n_announce; i++)
		if (bc->announce[i].family == family)
			fprintf(f, "\troute %s via \"%s\";\n",
				moat_cidr_format(&bc->announce[i], buf, sizeof(buf)), d->bgp->link);
	fprintf(f, "}\n");
}

/* One discard rule (RFC 8955 traffic-rate 0) from src, to each announced prefix of its family. */
static unsigned int put_rule(FILE *f, const struct moatd *d, const struct moat_cidr *src,
			     unsigned int room)
{
	const struct moat_bgp_config *bc = &d->cfg.bgp;
	char s[64], p[64];
	unsigned int i, n = 0, dsts = 0;

	moat_cidr_format(src, s, sizeof(s));
	for (i = 0; i < bc->n_announce && n < room; i++) {
		if (bc->announce[i].family != src->family)
			continue;
		dsts++;
		fprintf(f, "\troute flow%d { dst %s; src %s; } { bgp_ext_community.add((generic, 0x80060000, 0)); };\n",
			src->family, moat_cidr_format(&bc->announce[i], p, sizeof(p)), s);
		n++;
	}
	if (!dsts && room) {
		fprintf(f, "\troute flow%d { src %s; } { bgp_ext_community.add((generic, 0x80060000, 0)); };\n",
			src->family, s);
		n++;
	}
	return n;
}

static unsigned int put_flows(FILE *f, const struct moatd *d, u8 family)
{
	const struct moatd_bgp *b = d->bgp;
	unsigned int i, n = 0, max = d->cfg.bgp.flowspec_max;

	fprintf(f, "protocol static moat_flowspec%d {\n\tflow%d { table moat_flow%d; };\n", family,
		family, family);
	for (i = 0; d->cfg.bgp.flowspec && i < b->n_blocks; i++)
		if (b->blocks[i].src.family == family)
			n += put_rule(f, d, &b->blocks[i].src, max - n);
	for (i = 0; d->cfg.bgp.flowspec && i < b->n_top; i++)
		if (b->top[i].src.family == family && rule_find(b->blocks, b->n_blocks, &b->top[i].src) < 0)
			n += put_rule(f, d, &b->top[i].src, max - n);
	fprintf(f, "}\n");
	return n;
}

/* The marks a restarted moatd reads back: drained, and each block with its expiry. */
static void put_marks(FILE *f, const struct moatd_bgp *b)
{
	char buf[64];
	unsigned int i;

	if (b->drained)
		fputs(BGP_FILE_DRAINED, f);
	for (i = 0; i < b->n_blocks; i++)
		fprintf(f, BGP_FILE_BLOCK "%s %lld\n",
			moat_cidr_format(&b->blocks[i].src, buf, sizeof(buf)), b->blocks[i].until);
}

static char *render(struct moatd *d, unsigned int *rules)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "# Written by moatd (bgp.include in %s): do not edit, moatd rewrites it.\n",
		d->config_path);
	put_marks(f, d->bgp);
	put_announce(f, d, 4);
	put_announce(f, d, 6);
	*rules = put_flows(f, d, 4);
	*rules += put_flows(f, d, 6);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* text into f, closed: 0 or -errno. */
static int put_text(FILE *f, const char *text)
{
	int r = fputs(text, f) == EOF ? -EIO : 0;

	if (fclose(f) && !r)
		r = -errno;
	return r;
}

/*
 * The include file replaced whole (a file beside it, renamed over it), readable
 * by BIRD's own user (Debian runs BIRD as bird). Where moatd may not write the
 * folder (systemd's ReadWritePaths= naming the file alone: a bind mount), it is
 * rewritten in place instead; BIRD reads it only when moatd says configure.
 */
static int write_file(const char *path, const char *text)
{
	char tmp[300];
	FILE *f;
	int r;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f) {
		fchmod(fileno(f), 0644);
		r = put_text(f, text);
		if (!r && rename(tmp, path))
			r = -errno;
		if (!r)
			return 0;
		unlink(tmp);
	}
	f = fopen(path, "w");
	if (!f)
		return -errno;
	return put_text(f, text);
}

/* The include file as it should be, written and configured when it differs. */
static void sync_file(struct moatd *d)
{
	struct moatd_bgp *b = d->bgp;
	char err[sizeof(d->cfg.bgp.include) + 64];
	unsigned int rules = 0;
	char *text = render(d, &rules);
	int r;

	if (!text)
		return;
	/* Taken already, or refused a moment ago: nothing until the retry. */
	if ((b->written && !strcmp(text, b->written)) || (b->bird_err[0] && b->retry_at > now_s())) {
		free(text);
		return;
	}
	r = write_file(d->cfg.bgp.include, text);
	if (r)
		snprintf(err, sizeof(err), "%s: cannot write: %s", d->cfg.bgp.include, strerror(-r));
	else
		r = bgp_bird_call(d->cfg.bgp.control, "configure", err, sizeof(err));
	b->configures++;
	if (r) {
		if (strcmp(err, b->bird_err))
			logmsg("bgp: BIRD did not take %s: %s (tried again every %d s)",
			       d->cfg.bgp.include, err, BGP_RETRY_S);
		snprintf(b->bird_err, sizeof(b->bird_err), "%s", err);
		b->configure_failures++;
		b->retry_at = now_s() + BGP_RETRY_S;
		free(text);
		return;
	}
	if (b->bird_err[0])
		logmsg("bgp: BIRD took %s", d->cfg.bgp.include);
	b->bird_err[0] = '\0';
	b->rules = rules;
	free(b->written);
	b->written = text;
}

/* What a previous moatd left in the include file: drained, and its blocks. */
static void read_marks(struct moatd *d)
{
	struct moatd_bgp *b = d->bgp;
	FILE *f = fopen(d->cfg.bgp.include, "r");
	char line[256], cidr[80];
	struct moat_cidr c;
	long long until;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strcmp(line, BGP_FILE_DRAINED))
			b->drained = true;
		else if (!strncmp(line, BGP_FILE_BLOCK, strlen(BGP_FILE_BLOCK)) &&
			 sscanf(line + strlen(BGP_FILE_BLOCK), "%79s %lld", cidr, &until) == 2 &&
			 !moat_cidr_parse(cidr, &c))
			block_note(b, &c, until);
	}
	fclose(f);
	expire(b->blocks, &b->n_blocks, now_s());
	if (b->drained || b->n_blocks)
		logmsg("bgp: from %s: %s%u exported blocks", d->cfg.bgp.include,
		       b->drained ? "drained, " : "", b->n_blocks);
}

/* ---- moatd's hooks --------------------------------------------------------- */

int moatd_bgp_start(struct moatd *d)
{
	struct moatd_bgp *b;
	char err[256];

	if (d->cfg.bgp.daemon == MOAT_BGP_NONE)
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	snprintf(b->link, sizeof(b->link), "%s", d->cfg.bgp.link);
	b->link_fd = bgp_link_open(b->link, err, sizeof(err));
	if (b->link_fd < 0) {
		logmsg("bgp: %s", err);
		free(b);
		return -EIO;
	}
	d->bgp = b;
	b->changed = time(NULL);
	snprintf(b->why, sizeof(b->why), "starting");
	read_marks(d);
	sync_file(d);
	decide(d);
	return 0;
}

void moatd_bgp_tick(struct moatd *d)
{
	struct moatd_bgp *b = d->bgp;

	if (!b)
		return;
	decide(d);
	expire(b->blocks, &b->n_blocks, now_s());
	expire(b->top, &b->n_top, now_s());
	if (d->cfg.bgp.flowspec && d->cfg.bgp.flowspec_top)
		top_refresh(d);
	if (d->cfg.bgp.daemon != MOAT_BGP_NONE)
		sync_file(d);
}

void moatd_bgp_stop(struct moatd *d)
{
	struct moatd_bgp *b = d->bgp;

	if (!b)
		return;
	if (b->up)
		logmsg("bgp: withdrawn: moatd stops");
	bgp_link_set(b->link, false);
	if (b->link_fd >= 0)
		close(b->link_fd); /* the kernel removes the link */
	free(b->written);
	free(b);
	d->bgp = NULL;
}

static json_object *cidr_array(const struct bgp_rule *v, unsigned int n)
{
	json_object *a = json_object_new_array();
	char buf[64];
	unsigned int i;

	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(moat_cidr_format(&v[i].src, buf, sizeof(buf))));
	return a;
}

static json_object *bgp_json(const struct moatd *d)
{
	const struct moatd_bgp *b = d->bgp;
	json_object *j = json_object_new_object(), *a = json_object_new_array();
	char buf[64];
	unsigned int i;

	for (i = 0; i < d->cfg.bgp.n_announce; i++)
		json_object_array_add(a, json_object_new_string(
			moat_cidr_format(&d->cfg.bgp.announce[i], buf, sizeof(buf))));
	json_object_object_add(j, "daemon", json_object_new_string("bird"));
	json_object_object_add(j, "state", json_object_new_string(b->up ? "announced" : "withdrawn"));
	json_object_object_add(j, "why", json_object_new_string(b->why));
	json_object_object_add(j, "since_s", json_object_new_int64((int64_t)(time(NULL) - b->changed)));
	json_object_object_add(j, "healthy", json_object_new_boolean(b->healthy));
	json_object_object_add(j, "drained", json_object_new_boolean(b->drained));
	json_object_object_add(j, "link", json_object_new_string(b->link));
	json_object_object_add(j, "announce", a);
	json_object_object_add(j, "flowspec_rules", json_object_new_int((int)b->rules));
	json_object_object_add(j, "flowspec_blocks", cidr_array(b->blocks, b->n_blocks));
	json_object_object_add(j, "flowspec_top", cidr_array(b->top, b->n_top));
	json_object_object_add(j, "bird_error", json_object_new_string(b->bird_err));
	json_object_object_add(j, "withdrawals", json_object_new_int64((int64_t)b->withdrawals));
	return j;
}

void moatd_bgp_status(struct moatd *d, json_object *j)
{
	if (configured(d))
		json_object_object_add(j, "bgp", bgp_json(d));
}

json_object *moatd_bgp_drain(void *ctx, int cmd, json_object *req)
{
	struct moatd *d = ctx;
	json_object *j;

	(void)req;
	if (!configured(d))
		return moat_reply_error("nothing to drain: the config has no bgp: section (docs/fleet.md)");
	d->bgp->drained = cmd == MOAT_CMD_DRAIN;
	decide(d);
	sync_file(d); /* the mark, for a restarted moatd */
	j = bgp_json(d);
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	return j;
}

void moatd_bgp_listed(struct moatd *d, int cmd, json_object *req, json_object *reply)
{
	json_object *v;
	struct moat_cidr c;
	long long until = 0;
	int i;

	if (!configured(d) || (cmd != MOAT_CMD_BLOCK && cmd != MOAT_CMD_UNBLOCK) ||
	    !json_object_object_get_ex(reply, "ok", &v) || !json_object_get_boolean(v) ||
	    !json_object_object_get_ex(req, "cidr", &v) || moat_cidr_parse(json_object_get_string(v), &c))
		return;
	if (cmd == MOAT_CMD_UNBLOCK) {
		i = rule_find(d->bgp->blocks, d->bgp->n_blocks, &c);
		if (i >= 0)
			rule_drop(d->bgp->blocks, &d->bgp->n_blocks, (unsigned int)i);
	} else {
		if (json_object_object_get_ex(req, "ttl", &v))
			until = now_s() + json_object_get_int64(v);
		block_note(d->bgp, &c, until);
	}
	if (d->cfg.bgp.flowspec)
		sync_file(d);
}
