// SPDX-License-Identifier: BSD-3-Clause
/*
 * The workers' tables in a file that outlives the process (dpdk.state): a
 * moat-dp killed, restarted or upgraded leaves its flows, proxy offsets,
 * limiter records and flood detectors there, and the next one adopts them in
 * place after checking the layout, so established connections (proxied ones
 * included) go on. A file it cannot adopt is refused with the reason, its
 * flows counted as lost or left to pickup, and a new one made.
 * docs/failure.md, "moat-dp restarts", says what survives and what does not.
 *
 * File: a header page, then each worker's tables (moat_be_table_bytes), each
 * from a page boundary (the file system's page: 2 MiB on hugetlbfs). The
 * holder keeps an exclusive flock on it, released by the kernel however the
 * process ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "dataplane/dp.h"

#include "control/config.h"

#define STATE_MAGIC "moatdpst"
#define STATE_HDR_BYTES 4096

/*
 * Bumped with any change to what the tables hold or how they are laid out
 * (struct moat_flow, the keys, the limiter records, stab's slots); with the
 * sizes below, a binary of another layout never adopts a file.
 */
/* 2: struct moat_flow's aux gave 4 bits to proxy_wscale (same sizes, new meaning). */
enum { STATE_VERSION = 2 };

struct state_table {
	uint64_t off, len;
};

struct dp_state_hdr {
	char magic[8];
	uint32_t version;
	uint32_t layout; /* state_layout() of the writer */
	char boot_id[40];
	uint64_t tsc_hz;
	uint64_t hash_seed;
	uint32_t n_workers;
	uint32_t dispatch;
	uint32_t n_flows, n_sources;
	uint64_t seeds[DP_MAX_WORKERS];
	struct state_table t[DP_MAX_WORKERS][MOAT_BE_TABLES];
	uint64_t size;
	uint32_t pid;	  /* the moat-dp holding it last */
	uint32_t discard; /* `restart --fresh`: the next one must not adopt it */
	uint64_t adoptions;
};

_Static_assert(sizeof(struct dp_state_hdr) <= STATE_HDR_BYTES, "the header fits its page");

/* The sizes of what the tables hold, folded: a change in any refuses old files. */
static uint32_t state_layout(void)
{
	const uint32_t sizes[] = {
		sizeof(struct moat_flow),  sizeof(struct moat_peer),	 sizeof(struct moat_flow_key),
		sizeof(struct moat_source), sizeof(struct moat_src_key), sizeof(struct moat_trigger),
		sizeof(struct moat_dst_key), sizeof(struct moat_pickup_budget), MOAT_TCPS_COUNT,
	};
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		h = (h ^ sizes[i]) * 16777619u;
	return h;
}

static void read_boot_id(char out[40])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	memset(out, 0, 40);
	if (f) {
		if (!fgets(out, 40, f))
			out[0] = '\0';
		fclose(f);
	}
	out[strcspn(out, "\n")] = '\0';
}

static uint64_t align_up(uint64_t x, uint64_t to)
{
	return (x + to - 1) / to * to;
}

/* The header a file for this start would have: geometry, seeds, clock. */
static void plan(struct dp_app *app, struct dp_state_hdr *h, uint64_t page)
{
	size_t bytes[MOAT_BE_TABLES];
	uint64_t off = align_up(STATE_HDR_BYTES, page);
	unsigned int k, i;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, STATE_MAGIC, sizeof(h->magic));
	h->version = STATE_VERSION;
	h->layout = state_layout();
	read_boot_id(h->boot_id);
	h->tsc_hz = app->tsc_hz;
	h->hash_seed = rte_rand();
	h->n_workers = app->n_workers;
	h->dispatch = app->dispatch;
	h->n_flows = app->cfg->flow_table_size;
	h->n_sources = app->cfg->source_table_size;
	moat_be_table_bytes(h->n_flows, h->n_sources, bytes);
	for (k = 0; k < app->n_workers; k++) {
		h->seeds[k] = rte_rand();
		for (i = 0; i < MOAT_BE_TABLES; i++) {
			h->t[k][i].off = off;
			h->t[k][i].len = bytes[i];
			off = align_up(off + bytes[i], page);
		}
	}
	h->size = off;
	h->pid = (uint32_t)getpid();
}

/* Why old (the file's header) cannot be adopted by this start (want), or NULL. */
static const char *refusal(const struct dp_state_hdr *old, const struct dp_state_hdr *want,
			   char *buf, size_t len)
{
	if (memcmp(old->magic, STATE_MAGIC, sizeof(old->magic)))
		return "not a moat-dp state file";
	if (old->version != want->version || old->layout != want->layout) {
		snprintf(buf, len, "written by a moat-dp of another table layout (version %u, layout %08x; this one %u, %08x)",
			 old->version, old->layout, want->version, want->layout);
		return buf;
	}
	if (strcmp(old->boot_id, want->boot_id))
		return "written before this machine rebooted";
	if (old->discard)
		return "discarded by `restart --fresh`";
	if (old->n_workers != want->n_workers || old->dispatch != want->dispatch) {
		snprintf(buf, len, "%u worker(s)%s then, %u%s now", old->n_workers,
			 old->dispatch ? " behind a dispatcher" : "", want->n_workers,
			 want->dispatch ? " behind a dispatcher" : "");
		return buf;
	}
	if (old->n_flows != want->n_flows || old->n_sources != want->n_sources) {
		snprintf(buf, len, "tables of %u flows / %u sources then, %u / %u now (tables.flows, tables.sources)",
			 old->n_flows, old->n_sources, want->n_flows, want->n_sources);
		return buf;
	}
	/* The TSC's measured rate moves a little from start to start; the old one is kept. */
	if (old->tsc_hz < want->tsc_hz - want->tsc_hz / 100 ||
	    old->tsc_hz > want->tsc_hz + want->tsc_hz / 100)
		return "the TSC's frequency changed";
	return NULL;
}

/* Counted in a table left behind: live flows by what a restart does to them. */
struct lost_ctx {
	const struct moat_timeouts *to;
	uint64_t now_ns;
	uint64_t flows, proxied, pending;
};

static int count_left(const void *key, void *val, unsigned int mark, void *ctx)
{
	const struct moat_flow *f = val;
	struct lost_ctx *c = ctx;

	(void)key;
	(void)mark;
	if (f->state == MOAT_TCPS_NONE || moat_flow_expired(f, c->to, c->now_ns))
		return 0;
	if (f->state == MOAT_TCPS_PROXY_SYN)
		c->pending++;
	else if (f->flags & MOAT_FLOW_PROXY)
		c->proxied++;
	else
		c->flows++;
	return 0;
}

/*
 * A file of this layout not adopted (workers, sizes, --fresh): what its
 * connections become. Proxied ones are lost (their sequence offsets go with
 * the file), the others are left to pickup.
 */
static void count_refused(struct dp_app *app, const struct dp_state_hdr *old, void *map)
{
	struct lost_ctx c = { .to = &app->cfg->pol.timeouts, .now_ns = dp_now_ns(app) };
	unsigned int k;

	for (k = 0; k < old->n_workers && k < DP_MAX_WORKERS; k++) {
		void *mem[MOAT_BE_TABLES];
		struct moat_be be;
		unsigned int i;

		for (i = 0; i < MOAT_BE_TABLES; i++)
			mem[i] = (unsigned char *)map + old->t[k][i].off;
		if (moat_be_init_in(&be, old->n_flows, old->n_sources, old->seeds[k], mem, 1))
			continue;
		stab_sweep(&be.flows, count_left, &c);
		moat_be_free(&be);
	}
	app->state.lost_proxied = c.proxied + c.pending;
	app->state.left_to_pickup = c.flows;
}

/* The old file's header and tables readable (same layout, whole): its flows counted. */
static void inspect_refused(struct dp_app *app, int fd, const struct dp_state_hdr *old, uint64_t size)
{
	void *map;

	if (memcmp(old->magic, STATE_MAGIC, sizeof(old->magic)) || old->version != STATE_VERSION ||
	    old->layout != state_layout() || old->size != size || old->n_workers > DP_MAX_WORKERS)
		return;
	if (strcmp(old->boot_id, app->state.hdr_boot_id))
		return; /* its clock is another boot's: nothing in it is alive */
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return;
	count_refused(app, old, map);
	munmap(map, size);
}

/* Adopted flows a new process cannot go on with: handshakes held at the server. */
static int drop_pending(const void *key, void *val, unsigned int mark, void *ctx)
{
	struct moat_flow *f = val;
	struct dp_state_info *s = ctx;

	(void)key;
	(void)mark;
	if (f->state == MOAT_TCPS_PROXY_SYN) {
		s->pending_dropped++;
		return 1;
	}
	s->adopted_flows += f->state != MOAT_TCPS_NONE;
	s->adopted_proxied += (f->flags & MOAT_FLOW_PROXY) != 0;
	return 0;
}

static int map_tables(struct dp_app *app, struct dp_state_hdr *h, int adopt)
{
	unsigned int k, i;

	for (k = 0; k < app->n_workers; k++) {
		struct dp_worker *w = &app->workers[k];
		void *mem[MOAT_BE_TABLES];

		for (i = 0; i < MOAT_BE_TABLES; i++)
			mem[i] = (unsigned char *)app->state.map + h->t[k][i].off;
		/* A new file reads as zeros, an empty table: taken as it is, not cleared again. */
		if (moat_be_init_in(&w->be, h->n_flows, h->n_sources, h->seeds[k], mem, 1))
			return -ENOMEM;
		if (adopt)
			stab_sweep(&w->be.flows, drop_pending, &app->state);
	}
	return 0;
}

static uint64_t fs_page(int fd)
{
	struct statfs fs;

	/* hugetlbfs: its page size; tmpfs and the rest: 4 KiB (also statfs's f_bsize) */
	if (fstatfs(fd, &fs) == 0 && fs.f_bsize > 4096 && fs.f_bsize <= (1 << 30))
		return (uint64_t)fs.f_bsize;
	return 4096;
}

/* A new file (the old one's inode, truncated: the lock stays): cleared tables. */
static int make_fresh(struct dp_app *app, int fd, struct dp_state_hdr *want)
{
	if (ftruncate(fd, 0) || ftruncate(fd, (off_t)want->size))
		return -errno;
	app->state.map = mmap(NULL, want->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (app->state.map == MAP_FAILED) {
		app->state.map = NULL;
		return -errno;
	}
	app->state.map_len = want->size;
	return map_tables(app, want, 0);
}

static int adopt(struct dp_app *app, struct dp_state_hdr *old)
{
	app->state.map = mmap(NULL, old->size, PROT_READ | PROT_WRITE, MAP_SHARED, app->state.fd, 0);
	if (app->state.map == MAP_FAILED) {
		app->state.map = NULL;
		return -errno;
	}
	app->state.map_len = old->size;
	app->tsc_hz = old->tsc_hz; /* the old process's clock, so its timestamps hold */
	app->hash_seed = old->hash_seed;
	dp_anchor_wall_clock(app);
	app->state.adopted = true;
	return map_tables(app, old, 1);
}

/* The header as it must read from now on (first write, or after an adoption). */
static void write_header(struct dp_app *app, const struct dp_state_hdr *h)
{
	struct dp_state_hdr *dst = app->state.map;

	memcpy(dst, h, sizeof(*h));
	dst->pid = (uint32_t)getpid();
	dst->discard = 0;
	app->state.hdr = dst;
}

static int open_locked(struct dp_app *app)
{
	int fd = open(app->state.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return e;
	}
	app->state.fd = fd;
	return 0;
}

static int state_setup(struct dp_app *app)
{
	struct dp_state_hdr want, old = { 0 };
	struct stat st;
	char why[192];
	const char *no;
	int r;

	r = open_locked(app);
	if (r)
		return r;
	plan(app, &want, fs_page(app->state.fd));
	memcpy(app->state.hdr_boot_id, want.boot_id, sizeof(want.boot_id));
	if (fstat(app->state.fd, &st))
		return -errno;
	if (st.st_size == 0) {
		snprintf(app->state.note, sizeof(app->state.note), "new");
		goto fresh;
	}
	if (pread(app->state.fd, &old, sizeof(old), 0) != (ssize_t)sizeof(old))
		memset(&old, 0, sizeof(old));
	no = refusal(&old, &want, why, sizeof(why));
	if (!no && old.size != (uint64_t)st.st_size)
		no = "cut short";
	if (!no) {
		r = adopt(app, &old);
		if (r)
			return r;
		old.adoptions++;
		write_header(app, &old);
		snprintf(app->state.note, sizeof(app->state.note), "adopted");
		return 0;
	}
	snprintf(app->state.note, sizeof(app->state.note), "not adopted: %s", no);
	inspect_refused(app, app->state.fd, &old, (uint64_t)st.st_size);
fresh:
	r = make_fresh(app, app->state.fd, &want);
	if (r)
		return r;
	write_header(app, &want);
	return 0;
}

/* "" in the config: /dev/shm/moat-dp<socket path, '/' as '-'>.state, one per moat-dp. */
static void state_path(const struct dp_app *app, char *out, size_t len)
{
	const char *cfg = app->cfg->dp_state;
	size_t n;
	char *p;

	if (cfg[0]) {
		snprintf(out, len, "%s", cfg);
		return;
	}
	n = (size_t)snprintf(out, len, "/dev/shm/moat-dp%s.state", app->socket_path);
	for (p = out + strlen("/dev/shm/"); p < out + (n < len ? n : len - 1); p++)
		if (*p == '/')
			*p = '-';
}

/* No file to keep them in: the process's own memory (huge pages where it can). */
static int private_tables(struct dp_app *app)
{
	unsigned int k;

	app->hash_seed = rte_rand();
	for (k = 0; k < app->n_workers; k++)
		if (moat_be_init(&app->workers[k].be, app->cfg->flow_table_size,
				 app->cfg->source_table_size, rte_rand()))
			return -ENOMEM;
	return 0;
}

int dp_state_tables(struct dp_app *app)
{
	int r;

	app->state.fd = -1;
	if (!strcmp(app->cfg->dp_state, "off")) {
		snprintf(app->state.note, sizeof(app->state.note), "off (dpdk.state: off)");
		return private_tables(app);
	}
	state_path(app, app->state.path, sizeof(app->state.path));
	r = state_setup(app);
	if (r == 0) {
		fprintf(stderr, "moat-dp: flow state %s: %s", app->state.path, app->state.note);
		if (app->state.adopted)
			fprintf(stderr, " (%" PRIu64 " flows, %" PRIu64 " of them proxied; %" PRIu64
				" handshakes held at servers dropped)",
				app->state.adopted_flows, app->state.adopted_proxied,
				app->state.pending_dropped);
		else if (app->state.lost_proxied || app->state.left_to_pickup)
			fprintf(stderr, " (%" PRIu64 " proxied connections lost, %" PRIu64
				" left to pickup)", app->state.lost_proxied, app->state.left_to_pickup);
		fputc('\n', stderr);
		return 0;
	}
	fprintf(stderr, "moat-dp: flow state %s: %s; the tables live in this process only (a restart loses them)\n",
		app->state.path, r == -EBUSY ? "held by another moat-dp" : strerror(-r));
	snprintf(app->state.note, sizeof(app->state.note), "unavailable: %s",
		 r == -EBUSY ? "held by another moat-dp" : strerror(-r));
	dp_state_close(app, false);
	app->state.path[0] = '\0';
	return private_tables(app);
}

void dp_state_close(struct dp_app *app, bool keep)
{
	if (app->state.hdr && app->restart == DP_RESTART_FRESH)
		app->state.hdr->discard = 1;
	if (app->state.map)
		munmap(app->state.map, app->state.map_len);
	app->state.map = NULL;
	app->state.hdr = NULL;
	if (app->state.fd >= 0) {
		if (!keep && app->state.path[0])
			unlink(app->state.path);
		close(app->state.fd);
	}
	app->state.fd = -1;
}
