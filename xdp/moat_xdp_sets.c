// SPDX-License-Identifier: BSD-3-Clause
/*
 * Policy and list sets: two of everything the programs read per packet, one
 * live (map moat_active), the other rebuilt beside it and switched in one
 * update; the per-source connection counts updated in place; live list entries
 * kept for a restarted moatd.
 */
#include "xdp/moat_xdp_int.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A set's tries as the loader knows them: sorted by prefix, one entry each. */
static int entry_cmp(const void *a, const void *b)
{
	const struct moat_xdp_list_entry *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

struct indexed_entry {
	struct moat_xdp_list_entry e;
	size_t i;
};

static int indexed_cmp(const void *a, const void *b)
{
	const struct indexed_entry *x = a, *y = b;
	int c = entry_cmp(&x->e, &y->e);

	return c ? c : x->i < y->i ? -1 : 1;
}

static void entry_norm(struct moat_xdp_list_entry *e)
{
	struct moat_addr in = e->addr;

	if (e->family != 6)
		e->family = 4;
	moat_addr_mask(&e->addr, &in, e->family, e->plen);
}

void moat_lset_free(struct moat_lset *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The caller's entries sorted, masked, the same prefix twice: the later one. */
static int lset_build(struct moat_lset *out, const struct moat_xdp_list_entry *v, size_t n)
{
	struct indexed_entry *t = calloc(n + 1, sizeof(*t));
	size_t i, k = 0;

	out->v = calloc(n + 1, sizeof(*out->v));
	if (!t || !out->v) {
		free(t);
		moat_lset_free(out);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		t[i].e = v[i];
		t[i].i = i;
		entry_norm(&t[i].e);
	}
	qsort(t, n, sizeof(*t), indexed_cmp);
	for (i = 0; i < n; i++) {
		if (i + 1 < n && !entry_cmp(&t[i].e, &t[i + 1].e))
			continue; /* a later one follows */
		out->v[k++] = t[i].e;
	}
	free(t);
	out->n = k;
	out->known = true;
	return 0;
}

static int lset_copy(struct moat_lset *out, const struct moat_lset *in)
{
	return lset_build(out, in->v, in->n);
}

static int lpm_fd(const struct moat_xdp *x, unsigned int set, u8 family)
{
	const struct moat_bpf *k = x->skel;

	if (family == 6)
		return bpf_map__fd(set ? k->maps.moat_lpm6_1 : k->maps.moat_lpm6);
	return bpf_map__fd(set ? k->maps.moat_lpm4_1 : k->maps.moat_lpm4);
}

static int lset_push(struct moat_lset *l, size_t *cap, const struct moat_xdp_list_entry *e)
{
	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct moat_xdp_list_entry *v = realloc(l->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		*cap = ncap;
	}
	l->v[l->n++] = *e;
	return 0;
}

/* Read one family's trie of a set into l. */
static int lset_read_family(struct moat_xdp *x, unsigned int set, u8 family, struct moat_lset *l,
			    size_t *cap)
{
	int fd = lpm_fd(x, set, family), err;
	struct moat_lpm6_key k6, n6;
	struct moat_lpm4_key k4, n4;
	void *prev = NULL, *next = family == 6 ? (void *)&n6 : (void *)&n4;
	struct moat_xdp_list_entry e;
	__u32 val;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (bpf_map_lookup_elem(fd, next, &val))
			return -errno;
		memset(&e, 0, sizeof(e));
		e.family = family;
		e.action = (u8)MOAT_LIST_ACTION(val);
		if (family == 6) {
			e.plen = (u8)n6.prefixlen;
			memcpy(e.addr.w, n6.addr, 16);
			k6 = n6;
			prev = &k6;
		} else {
			e.plen = (u8)n4.prefixlen;
			e.addr.w[0] = n4.addr;
			k4 = n4;
			prev = &k4;
		}
		entry_norm(&e);
		err = lset_push(l, cap, &e);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

/* What a set's tries hold, read from the maps (a set a previous moatd wrote). */
static int lset_read(struct moat_xdp *x, unsigned int set, struct moat_lset *out)
{
	struct moat_lset l = { 0 };
	size_t cap = 0;
	int err;

	err = lset_read_family(x, set, 4, &l, &cap);
	if (!err)
		err = lset_read_family(x, set, 6, &l, &cap);
	if (err) {
		moat_lset_free(&l);
		return err;
	}
	qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
	l.known = true;
	moat_lset_free(out);
	*out = l;
	return 0;
}

static int lpm_write(struct moat_xdp *x, unsigned int set, const struct moat_xdp_list_entry *e,
		     bool del)
{
	int fd = lpm_fd(x, set, e->family), r;
	__u32 val = (__u32)MOAT_LIST_MATCH(e->action, e->plen);

	if (e->family == 6) {
		struct moat_lpm6_key k = { .prefixlen = e->plen };

		memcpy(k.addr, e->addr.w, 16);
		r = del ? bpf_map_delete_elem(fd, &k) : bpf_map_update_elem(fd, &k, &val, 0);
	} else {
		struct moat_lpm4_key k = { .prefixlen = e->plen, .addr = e->addr.w[0] };

		r = del ? bpf_map_delete_elem(fd, &k) : bpf_map_update_elem(fd, &k, &val, 0);
	}
	if (r && !(del && errno == ENOENT))
		return -errno;
	return 0;
}

/*
 * Bring the tries of a set that no program uses from what they hold to next,
 * by difference: a block or unblock writes one prefix, not the whole list.
 */
static int lset_write(struct moat_xdp *x, unsigned int set, const struct moat_lset *next)
{
	struct moat_lset *cur = &x->sets[set];
	size_t i = 0, j = 0;
	int c, err = 0;

	if (!cur->known && (err = lset_read(x, set, cur)))
		return err;
	while (!err && (i < cur->n || j < next->n)) {
		c = i == cur->n ? 1 : j == next->n ? -1 : entry_cmp(&cur->v[i], &next->v[j]);
		if (c < 0) {
			err = lpm_write(x, set, &cur->v[i++], true);
		} else if (c > 0) {
			err = lpm_write(x, set, &next->v[j++], false);
		} else {
			if (cur->v[i].action != next->v[j].action)
				err = lpm_write(x, set, &next->v[j], false);
			i++;
			j++;
		}
	}
	/*
	 * Written: the caller makes next the set's content once it is live.
	 * Half written: what it holds is read again before the next build.
	 */
	cur->known = false;
	return err;
}

/*
 * Wait until no BPF program still runs with a set it read before the last
 * switch: updating a map-in-map returns only after an RCU grace period (the
 * kernel waits for running programs so userspace knows they see the new
 * value; kernel/bpf/syscall.c, maybe_wait_bpf_programs). The map is private
 * to the loader and read by no program.
 */
static int grace_period(struct moat_xdp *x)
{
	__u32 zero = 0;

	if (x->sync_fd < 0) {
		LIBBPF_OPTS(bpf_map_create_opts, opts);

		x->sync_inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "moat_sync_in", 4, 4, 1, NULL);
		if (x->sync_inner < 0)
			return -errno;
		opts.inner_map_fd = x->sync_inner;
		x->sync_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "moat_sync", 4, 4, 1, &opts);
		if (x->sync_fd < 0)
			return -errno;
	}
	if (bpf_map_update_elem(x->sync_fd, &zero, &x->sync_inner, 0))
		return -errno;
	return 0;
}

static int update_set(struct bpf_map *m, unsigned int set, const void *val)
{
	__u32 key = set;

	return bpf_map__update_elem(m, &key, sizeof(key), val, bpf_map__value_size(m), 0);
}

/* The live set's policy, run-time settings and tries as a previous moatd left them. */
int moat_adopt_live_set(struct moat_xdp *x)
{
	struct moat_active a = { 0 };
	__u32 zero = 0, set;

	if (bpf_map__lookup_elem(x->skel->maps.moat_active, &zero, sizeof(zero), &a, sizeof(a), 0))
		return -errno;
	x->gen = a.gen;
	/* A switch just before that moatd died may not have had its grace period. */
	x->sync_due = true;
	if (!a.gen)
		return 0; /* never built: nothing to adopt */
	set = a.gen & 1;
	if (bpf_map__lookup_elem(x->skel->maps.moat_policy, &set, sizeof(set), &x->pol,
				 sizeof(x->pol), 0) ||
	    bpf_map__lookup_elem(x->skel->maps.moat_runtime, &set, sizeof(set), &x->rt,
				 sizeof(x->rt), 0))
		return -errno;
	x->have_state = true;
	return 0;
}

u32 moat_xdp_generation(const struct moat_xdp *x)
{
	return x->gen;
}

bool moat_xdp_adopted(const struct moat_xdp *x)
{
	return x->adopted;
}

/* The whole of what the programs will use next: the parts not given stay as they are. */
static int next_lists(struct moat_xdp *x, const struct moat_xdp_update *u, struct moat_lset *out)
{
	struct moat_lset *live = &x->sets[x->gen & 1];
	int err;

	if (u->lists)
		return lset_build(out, u->lists, u->n_lists);
	if (x->gen && !live->known && (err = lset_read(x, x->gen & 1, live)))
		return err;
	return lset_copy(out, live);
}

/*
 * Build the set no program uses (after a grace period since it was last
 * live), then switch moat_active to it in one update. Any failure before the
 * switch leaves the live set as it was.
 */
int moat_xdp_apply(struct moat_xdp *x, const struct moat_xdp_update *u)
{
	unsigned int b = (x->gen + 1) & 1;
	struct moat_active a = { .gen = x->gen + 1 };
	struct moat_lset next = { 0 };
	struct moat_runtime rt;
	const struct moat_policy *pol = u->pol ? u->pol : &x->pol;
	__u32 zero = 0;
	size_t i;
	int err;

	if (!u->pol && !x->have_state)
		return -ENODATA; /* nothing live to keep: a first apply brings a policy */
	rt = u->rt ? *u->rt : x->rt;
	err = next_lists(x, u, &next);
	if (err)
		return err;
	rt.list_entries[0] = rt.list_entries[1] = 0;
	for (i = 0; i < next.n; i++)
		rt.list_entries[next.v[i].family == 6]++;
	if (x->sync_due && (err = grace_period(x)))
		goto out;
	x->sync_due = false;
	err = lset_write(x, b, &next);
	if (!err)
		err = update_set(x->skel->maps.moat_policy, b, pol);
	if (!err)
		err = update_set(x->skel->maps.moat_runtime, b, &rt);
	if (!err)
		err = bpf_map__update_elem(x->skel->maps.moat_active, &zero, sizeof(zero), &a,
					   sizeof(a), 0);
	if (err)
		goto out;
	/* Switched: set b is live, and the other one may still be read until a grace period. */
	moat_lset_free(&x->sets[b]);
	x->sets[b] = next;
	memset(&next, 0, sizeof(next));
	x->gen = a.gen;
	x->pol = *pol;
	x->rt = rt;
	x->have_state = true;
	x->sync_due = true;
out:
	moat_lset_free(&next);
	return err;
}

struct conn_kv {
	struct moat_src_key k;
	u32 n;
};

static int conn_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct conn_kv *)a)->k, &((const struct conn_kv *)b)->k,
		      sizeof(struct moat_src_key));
}

/* Every key and count moat_conns holds, sorted. */
static int conns_read(int fd, struct conn_kv **out, size_t *n)
{
	struct moat_src_key k, prev;
	struct conn_kv *v = NULL, *t;
	size_t cap = 0;
	bool first = true;

	*n = 0;
	while (!bpf_map_get_next_key(fd, first ? NULL : &prev, &k)) {
		first = false;
		prev = k;
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			t = realloc(v, cap * sizeof(*v));
			if (!t) {
				free(v);
				return -ENOMEM;
			}
			v = t;
		}
		v[*n].k = k;
		if (bpf_map_lookup_elem(fd, &k, &v[*n].n))
			continue; /* gone meanwhile */
		(*n)++;
	}
	if (errno != ENOENT) {
		free(v);
		return -errno;
	}
	qsort(v, *n, sizeof(*v), conn_cmp);
	*out = v;
	return 0;
}

/*
 * Update counts that changed, add new sources, delete vanished ones: the map
 * is never empty for a moment, so no source is forgotten by the limits.
 */
int moat_xdp_set_conns(struct moat_xdp *x, const struct moat_src_key *keys, const u32 *counts,
		       size_t n)
{
	int fd = bpf_map__fd(x->skel->maps.moat_conns), c, err = 0;
	struct conn_kv *cur = NULL, *next = calloc(n + 1, sizeof(*next));
	size_t ncur = 0, i = 0, j = 0;

	if (!next)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		next[i].k = keys[i];
		next[i].n = counts[i];
	}
	qsort(next, n, sizeof(*next), conn_cmp);
	err = conns_read(fd, &cur, &ncur);
	for (i = 0; !err && (i < ncur || j < n);) {
		c = i == ncur ? 1 : j == n ? -1 : conn_cmp(&cur[i], &next[j]);
		if (c < 0 && bpf_map_delete_elem(fd, &cur[i].k) && errno != ENOENT)
			err = -errno;
		else if (c > 0 && bpf_map_update_elem(fd, &next[j].k, &next[j].n, 0))
			err = -errno;
		else if (!c && cur[i].n != next[j].n &&
			 bpf_map_update_elem(fd, &next[j].k, &next[j].n, 0))
			err = -errno;
		i += c <= 0;
		j += c >= 0;
	}
	free(cur);
	free(next);
	return err;
}

static void live_key(const struct moat_xdp_live *l, struct moat_live_key *k)
{
	struct moat_xdp_list_entry e = l->e;

	entry_norm(&e);
	memset(k, 0, sizeof(*k));
	k->addr = e.addr;
	k->family = e.family;
	k->plen = e.plen;
	k->deny = l->e.action == MOAT_LIST_DENY;
}

int moat_xdp_live_note(struct moat_xdp *x, const struct moat_xdp_live *l)
{
	struct moat_live_val v = { .add = l->add, .expires_ms = l->expires_ms };
	struct moat_live_key k;

	live_key(l, &k);
	return bpf_map__update_elem(x->skel->maps.moat_live, &k, sizeof(k), &v, sizeof(v), 0);
}

int moat_xdp_live_each(struct moat_xdp *x, int (*fn)(const struct moat_xdp_live *l, void *ctx),
		       void *ctx)
{
	int fd = bpf_map__fd(x->skel->maps.moat_live), err;
	struct moat_live_key k, prev;
	struct moat_live_val v;
	struct moat_xdp_live l;
	bool first = true;

	while (!bpf_map_get_next_key(fd, first ? NULL : &prev, &k)) {
		first = false;
		prev = k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		memset(&l, 0, sizeof(l));
		l.e.family = k.family;
		l.e.plen = k.plen;
		l.e.addr = k.addr;
		l.e.action = k.deny ? MOAT_LIST_DENY : MOAT_LIST_ALLOW;
		l.add = v.add;
		l.expires_ms = v.expires_ms;
		err = fn(&l, ctx);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

int moat_xdp_live_clear(struct moat_xdp *x)
{
	int fd = bpf_map__fd(x->skel->maps.moat_live);
	struct moat_live_key k;

	/* Deleting the key just read: the next get_next_key(NULL) starts over. */
	while (!bpf_map_get_next_key(fd, NULL, &k))
		if (bpf_map_delete_elem(fd, &k) && errno != ENOENT)
			return -errno;
	return moat_xdp_live_limits_put(x, "");
}

int moat_xdp_live_limits_get(struct moat_xdp *x, char *buf, size_t len)
{
	struct moat_live_limits v;
	__u32 zero = 0;
	int r;

	r = bpf_map__lookup_elem(x->skel->maps.moat_live_limits, &zero, sizeof(zero), &v, sizeof(v), 0);
	if (r)
		return r;
	v.json[sizeof(v.json) - 1] = '\0';
	if (strlen(v.json) >= len)
		return -E2BIG;
	strcpy(buf, v.json);
	return 0;
}

int moat_xdp_live_limits_put(struct moat_xdp *x, const char *json)
{
	struct moat_live_limits v = { 0 };
	__u32 zero = 0;

	if (strlen(json) >= sizeof(v.json))
		return -E2BIG;
	strcpy(v.json, json);
	return bpf_map__update_elem(x->skel->maps.moat_live_limits, &zero, sizeof(zero), &v, sizeof(v), 0);
}
