// SPDX-License-Identifier: BSD-3-Clause
#include "xdp/moat_xdp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "moat.skel.h"
#include "moat_tc.skel.h"

#define MOAT_MAX_ATTACH 16

struct moat_attach {
	int ifindex;
	char ifname[IF_NAMESIZE];
	__u32 xdp_flags;
	bool tc;
	bool hook_created;
};

/* What one set's allow/deny tries hold, sorted by prefix (entry_cmp). */
struct moat_lset {
	struct moat_xdp_list_entry *v;
	size_t n;
	bool known; /* false: not read yet, or half written */
};

struct moat_xdp {
	struct moat_bpf *skel;
	struct moat_tc_bpf *tc;
	struct ring_buffer *events;
	struct moat_attach att[MOAT_MAX_ATTACH];
	int n_att;
	/* The live set is gen & 1 (map moat_active); gen 0: nothing built yet. */
	u32 gen;
	bool have_state; /* pol and rt are the live set's */
	bool adopted;	 /* found a live set a previous moatd built */
	bool sync_due;	 /* the other set was live: a grace period before writing it */
	struct moat_policy pol;
	struct moat_runtime rt;
	struct moat_lset sets[2];
	int sync_fd, sync_inner; /* the map-in-map whose update waits a grace period */
};

static int fail(struct moat_xdp_opts *o, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->err, sizeof(o->err), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}

static void note(struct moat_xdp_opts *o, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	if (!o->note)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->note(msg);
}

static int mkdir_p(const char *dir)
{
	char buf[256];
	char *p;

	if (strlen(dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, dir);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* 1 when path (or, while it does not exist yet, its nearest ancestor) is on a bpffs. */
static int on_bpffs(const char *path)
{
	char buf[256];
	struct statfs st;
	char *slash;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	while (statfs(buf, &st)) {
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(buf, '/');
		if (!slash)
			return -ENOENT;
		if (slash == buf)
			slash[1] = '\0'; /* "/" itself */
		else
			*slash = '\0';
	}
	return st.f_type == BPF_FS_MAGIC;
}

/*
 * Under /sys/fs/bpf the bpffs goes where bpftool, systemd and Cilium put it;
 * elsewhere on pin_dir itself, so a folder of other files (e.g. /run/moat with
 * the control socket) is never hidden under a mount.
 */
int moat_xdp_ensure_bpffs(const char *dir, struct moat_xdp_opts *o)
{
	static const char sys_bpf[] = "/sys/fs/bpf";
	size_t n = sizeof(sys_bpf) - 1;
	const char *target = dir;
	int err = on_bpffs(dir);

	if (err < 0)
		return fail(o, err, "pin_dir %s: %s", dir, strerror(-err));
	if (err == 1)
		return 0;
	if (!strncmp(dir, sys_bpf, n) && (dir[n] == '/' || dir[n] == '\0'))
		target = sys_bpf;
	err = mkdir_p(target);
	if (err)
		return fail(o, err, "pin_dir %s is not on a bpffs, and %s cannot be made to mount one: %s",
			    dir, target, strerror(-err));
	if (mount("bpf", target, "bpf", 0, "mode=0700"))
		return fail(o, -errno,
			    "pin_dir %s is not on a bpffs, and mounting one at %s failed: %s (needs CAP_SYS_ADMIN; or mount it: mount -t bpf bpf %s)",
			    dir, target, strerror(errno), target);
	note(o, "mounted a bpffs at %s (pin_dir %s was not on one)", target, dir);
	return 0;
}

/* Pin every map under dir by its name: a second load (or the TC object) reuses them. */
static int pin_maps(struct bpf_object *obj, const char *dir)
{
	struct bpf_map *m;
	char path[512];

	bpf_object__for_each_map(m, obj) {
		const char *name = bpf_map__name(m);

		if (strchr(name, '.'))
			continue; /* .rodata, .bss: private to the object */
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (bpf_map__set_pin_path(m, path))
			return -EINVAL;
	}
	return 0;
}

static int load_tc(struct moat_xdp *x, struct moat_xdp_opts *o)
{
	int err;

	x->tc = moat_tc_bpf__open();
	if (!x->tc)
		return -errno;
	err = pin_maps(x->tc->obj, o->pin_dir);
	if (!err)
		err = moat_tc_bpf__load(x->tc);
	if (err) {
		moat_tc_bpf__destroy(x->tc);
		x->tc = NULL;
	}
	return err;
}

static int adopt_live_set(struct moat_xdp *x);
static void lset_free(struct moat_lset *l);

int moat_xdp_load(struct moat_xdp **out, struct moat_xdp_opts *o)
{
	struct moat_xdp *x = calloc(1, sizeof(*x));
	int err;

	if (!x)
		return fail(o, -ENOMEM, "out of memory");
	x->sync_fd = x->sync_inner = -1;
	err = moat_xdp_ensure_bpffs(o->pin_dir, o);
	if (!err) {
		err = mkdir_p(o->pin_dir);
		if (err)
			fail(o, err, "cannot create %s: %s", o->pin_dir, strerror(-err));
	}
	if (err) {
		free(x);
		return err;
	}
	x->skel = moat_bpf__open();
	if (!x->skel) {
		err = -errno;
		free(x);
		return fail(o, err, "cannot open the XDP object: %s", strerror(-err));
	}
	err = pin_maps(x->skel->obj, o->pin_dir);
	if (err)
		goto err_out;
	/* Load the XDP object first: it creates and pins the shared maps. */
	x->skel->rodata->have_reqsk = o->want_reqsk;
	err = moat_bpf__load(x->skel);
	if (err) {
		fail(o, err, "the kernel refused the XDP program: %s (stale maps in %s from another version? remove them)",
		     strerror(-err), o->pin_dir);
		goto err_out;
	}
	if (o->want_reqsk && load_tc(x, o)) {
		/* Older kernel (< 6.9): reload XDP so it leaves SYNs to the kernel's own cookies. */
		moat_bpf__destroy(x->skel);
		x->skel = moat_bpf__open();
		if (!x->skel) {
			err = -errno;
			goto err_free;
		}
		pin_maps(x->skel->obj, o->pin_dir);
		x->skel->rodata->have_reqsk = 0;
		err = moat_bpf__load(x->skel);
		if (err) {
			fail(o, err, "the kernel refused the XDP program: %s", strerror(-err));
			goto err_out;
		}
		note(o, "kernel lacks bpf_sk_assign_tcp_reqsk (Linux 6.9+): XDP filters, limits and lists apply, SYN cookies are left to the kernel (net.ipv4.tcp_syncookies)");
	}
	err = adopt_live_set(x);
	if (err) {
		fail(o, err, "cannot read the live policy set in %s: %s", o->pin_dir, strerror(-err));
		moat_tc_bpf__destroy(x->tc);
		goto err_out;
	}
	x->adopted = x->have_state;
	*out = x;
	return 0;
err_out:
	moat_bpf__destroy(x->skel);
err_free:
	free(x);
	return err;
}

bool moat_xdp_has_reqsk(const struct moat_xdp *x)
{
	return x->tc != NULL;
}

static int attach_tc(struct moat_xdp *x, struct moat_attach *a, struct moat_xdp_opts *o)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, topts, .handle = 0x6d6f, .priority = 1,
		    .prog_fd = bpf_program__fd(x->tc->progs.moat_tc_cookie));
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return fail(o, err, "%s: cannot create the clsact qdisc: %s", a->ifname, strerror(-err));
	a->hook_created = err == 0;
	topts.flags = BPF_TC_F_REPLACE;
	err = bpf_tc_attach(&hook, &topts);
	if (err)
		return fail(o, err, "%s: cannot attach the TC program: %s", a->ifname, strerror(-err));
	a->tc = true;
	return 0;
}

/* The kernel driver's name ("veth", "virtio_net", "mlx5_core", ...), "" if unknown. */
static void driver_of(const char *ifname, char *out, size_t len)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	out[0] = '\0';
	if (fd < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		snprintf(out, len, "%s", info.driver);
	close(fd);
}

/*
 * A veth's native XDP_TX hands the frame to the peer's XDP receive path, which
 * exists only while the peer runs an XDP program; otherwise the cookie SYN-ACKs
 * vanish with no counter. Generic XDP transmits through the stack and answers
 * on any veth.
 */
static __u32 first_flags(const char *ifname, struct moat_xdp_opts *o)
{
	char drv[32];

	if (o->mode == MOAT_XDP_GENERIC)
		return XDP_FLAGS_SKB_MODE;
	if (o->mode == MOAT_XDP_NATIVE)
		return XDP_FLAGS_DRV_MODE;
	driver_of(ifname, drv, sizeof(drv));
	if (!strcmp(drv, "veth")) {
		note(o, "%s: veth driver: generic XDP (native XDP_TX on a veth reaches the peer only when the peer runs XDP; xdp_mode: native overrides)",
		     ifname);
		return XDP_FLAGS_SKB_MODE;
	}
	return XDP_FLAGS_DRV_MODE;
}

const char *moat_xdp_mode_of(const struct moat_xdp *x, const char *ifname)
{
	int i;

	for (i = 0; i < x->n_att; i++)
		if (!strcmp(x->att[i].ifname, ifname))
			return x->att[i].xdp_flags & XDP_FLAGS_SKB_MODE ? "generic" : "native";
	return NULL;
}

int moat_xdp_attach(struct moat_xdp *x, const char *ifname, struct moat_xdp_opts *o)
{
	struct moat_attach *a;
	int prog_fd = bpf_program__fd(x->skel->progs.moat_xdp);
	int err;

	if (x->n_att == MOAT_MAX_ATTACH)
		return fail(o, -E2BIG, "too many interfaces");
	a = &x->att[x->n_att];
	memset(a, 0, sizeof(*a));
	a->ifindex = (int)if_nametoindex(ifname);
	if (!a->ifindex)
		return fail(o, -ENODEV, "%s: no such interface in this network namespace", ifname);
	snprintf(a->ifname, sizeof(a->ifname), "%s", ifname);
	a->xdp_flags = first_flags(ifname, o);
	err = bpf_xdp_attach(a->ifindex, prog_fd, a->xdp_flags | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (err == -EBUSY || err == -EEXIST) {
		/* Ours from a previous run (keep_attached): replace it. */
		err = bpf_xdp_attach(a->ifindex, prog_fd, a->xdp_flags, NULL);
	}
	if (err && a->xdp_flags == XDP_FLAGS_DRV_MODE && (err == -EOPNOTSUPP || err == -EINVAL)) {
		note(o, "%s: the driver has no native XDP: generic XDP", ifname);
		a->xdp_flags = XDP_FLAGS_SKB_MODE;
		err = bpf_xdp_attach(a->ifindex, prog_fd, a->xdp_flags, NULL);
	}
	if (err)
		return fail(o, err, "%s: cannot attach XDP: %s", ifname, strerror(-err));
	x->n_att++;
	if (x->tc)
		return attach_tc(x, a, o);
	return 0;
}

void moat_xdp_detach_all(struct moat_xdp *x)
{
	int i;

	for (i = 0; i < x->n_att; i++) {
		struct moat_attach *a = &x->att[i];
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex, .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, topts, .handle = 0x6d6f, .priority = 1);

		bpf_xdp_detach(a->ifindex, a->xdp_flags, NULL);
		if (a->tc)
			bpf_tc_detach(&hook, &topts);
		if (a->hook_created)
			bpf_tc_hook_destroy(&hook);
	}
	x->n_att = 0;
}

void moat_xdp_close(struct moat_xdp *x)
{
	if (!x)
		return;
	ring_buffer__free(x->events);
	moat_tc_bpf__destroy(x->tc);
	moat_bpf__destroy(x->skel);
	if (x->sync_fd >= 0)
		close(x->sync_fd);
	if (x->sync_inner >= 0)
		close(x->sync_inner);
	lset_free(&x->sets[0]);
	lset_free(&x->sets[1]);
	free(x);
}

int moat_xdp_set_secrets(struct moat_xdp *x, const struct moat_cookie_secrets *s)
{
	__u32 zero = 0;

	return bpf_map__update_elem(x->skel->maps.moat_secrets, &zero, sizeof(zero), s, sizeof(*s), 0);
}

int moat_xdp_get_secrets(struct moat_xdp *x, struct moat_cookie_secrets *s)
{
	__u32 zero = 0;

	return bpf_map__lookup_elem(x->skel->maps.moat_secrets, &zero, sizeof(zero), s, sizeof(*s), 0);
}

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

static void lset_free(struct moat_lset *l)
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
		lset_free(out);
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
		lset_free(&l);
		return err;
	}
	qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
	l.known = true;
	lset_free(out);
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
static int adopt_live_set(struct moat_xdp *x)
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
	lset_free(&x->sets[b]);
	x->sets[b] = next;
	memset(&next, 0, sizeof(next));
	x->gen = a.gen;
	x->pol = *pol;
	x->rt = rt;
	x->have_state = true;
	x->sync_due = true;
out:
	lset_free(&next);
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
	return 0;
}

static int sum_percpu(int fd, __u32 key, u64 *out)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	u64 *v;

	if (ncpu <= 0)
		return -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*out = 0;
	if (bpf_map_lookup_elem(fd, &key, v)) {
		free(v);
		return -errno;
	}
	for (i = 0; i < ncpu; i++)
		*out += v[i];
	free(v);
	return 0;
}

int moat_xdp_read_reasons(struct moat_xdp *x, u64 out[MOAT_R_COUNT])
{
	int fd = bpf_map__fd(x->skel->maps.moat_reasons);
	__u32 r;
	int err;

	for (r = 0; r < MOAT_R_COUNT; r++) {
		err = sum_percpu(fd, r, &out[r]);
		if (err)
			return err;
	}
	return 0;
}

int moat_xdp_read_cpu_verdicts(struct moat_xdp *x, u64 *out, int ncpu)
{
	int fd = bpf_map__fd(x->skel->maps.moat_reasons), n = libbpf_num_possible_cpus(), i;
	u64 *v;
	__u32 r;

	if (n <= 0)
		return -EINVAL;
	v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(out, 0, sizeof(*out) * 3 * (size_t)ncpu);
	for (r = 0; r < MOAT_R_COUNT; r++) {
		if (bpf_map_lookup_elem(fd, &r, v)) {
			free(v);
			return -errno;
		}
		for (i = 0; i < n && i < ncpu; i++)
			out[i * 3 + moat_reason_verdict(r)] += v[i];
	}
	free(v);
	return 0;
}

int moat_xdp_read_tc(struct moat_xdp *x, u64 *assigned, u64 *failed)
{
	int fd;

	*assigned = *failed = 0;
	if (!x->tc)
		return 0;
	fd = bpf_map__fd(x->tc->maps.moat_tc_stats);
	if (sum_percpu(fd, 0, assigned) || sum_percpu(fd, 1, failed))
		return -errno;
	return 0;
}

int moat_xdp_events_open(struct moat_xdp *x, int (*fn)(void *ctx, void *data, size_t len),
			 void *ctx)
{
	x->events = ring_buffer__new(bpf_map__fd(x->skel->maps.moat_events), fn, ctx, NULL);
	return x->events ? 0 : -errno;
}

int moat_xdp_events_fd(struct moat_xdp *x)
{
	return x->events ? ring_buffer__epoll_fd(x->events) : -1;
}

int moat_xdp_events_poll(struct moat_xdp *x)
{
	return x->events ? ring_buffer__consume(x->events) : 0;
}
