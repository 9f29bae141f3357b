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
#include <time.h>
#include <unistd.h>

#include "xdp/moat_xdp_int.h"

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

/* Does the map pinned at path have the layout the object defines for m? */
static bool pin_matches(int fd, const struct bpf_map *m)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	return info.type == bpf_map__type(m) && info.key_size == bpf_map__key_size(m) &&
	       info.value_size == bpf_map__value_size(m) &&
	       info.max_entries == bpf_map__max_entries(m) &&
	       info.map_flags == bpf_map__map_flags(m);
}

/* Key 0 of an older moat_secrets, to be written into the new map after the load. */
static void carry_secrets(struct moat_xdp *x, int fd, const struct bpf_map *m)
{
	__u32 zero = 0;

	if (x && !strcmp(bpf_map__name(m), "moat_secrets") &&
	    bpf_map__value_size(m) == sizeof(x->carried) &&
	    !bpf_map_lookup_elem(fd, &zero, &x->carried))
		x->have_carried = true;
}

/*
 * A map pinned by another version of moat with another layout (type, sizes,
 * flags) would make the load fail: it is unpinned, so the load creates the new
 * one; the program still attached keeps its old maps until it is replaced.
 * The cookie secrets are carried over (cookies in flight stay valid); other
 * contents start empty and moatd says which.
 */
static int replace_stale_pin(struct moat_xdp *x, const struct bpf_map *m, const char *path,
			     struct moat_xdp_opts *o)
{
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 0; /* not pinned yet: the load pins it */
	if (pin_matches(fd, m)) {
		close(fd);
		return 0;
	}
	carry_secrets(x, fd, m);
	close(fd);
	if (unlink(path))
		return fail(o, -errno, "%s has another layout (an older moat?) and cannot be removed: %s",
			    path, strerror(errno));
	note(o, "%s was pinned by another version of moat with another layout: replaced%s", path,
	     x && x->have_carried && !strcmp(bpf_map__name(m), "moat_secrets") ?
		     ", the cookie secrets carried over" : ", it starts empty");
	return 0;
}

/* Pin every map under dir by its name: a second load (or the TC object) reuses them. */
static int pin_maps(struct moat_xdp *x, struct bpf_object *obj, struct moat_xdp_opts *o)
{
	struct bpf_map *m;
	char path[512];
	int err;

	bpf_object__for_each_map(m, obj) {
		const char *name = bpf_map__name(m);

		if (strchr(name, '.'))
			continue; /* .rodata, .bss: private to the object */
		snprintf(path, sizeof(path), "%s/%s", o->pin_dir, name);
		err = replace_stale_pin(x, m, path, o);
		if (err)
			return err;
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
	err = pin_maps(x, x->tc->obj, o);
	if (!err)
		err = moat_tc_bpf__load(x->tc);
	if (err) {
		moat_tc_bpf__destroy(x->tc);
		x->tc = NULL;
	}
	return err;
}


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
	err = pin_maps(x, x->skel->obj, o);
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
		pin_maps(x, x->skel->obj, o);
		x->skel->rodata->have_reqsk = 0;
		err = moat_bpf__load(x->skel);
		if (err) {
			fail(o, err, "the kernel refused the XDP program: %s", strerror(-err));
			goto err_out;
		}
		note(o, "kernel lacks bpf_sk_assign_tcp_reqsk (Linux 6.9+): XDP filters, limits and lists apply, SYN cookies are left to the kernel (net.ipv4.tcp_syncookies)");
	}
	if (x->have_carried && (err = moat_xdp_set_secrets(x, &x->carried)))
		note(o, "cannot carry the cookie secrets over: %s", strerror(-err));
	/* Before any attach: the first cookie is made on Unix time already. */
	if ((err = moat_xdp_set_wall_clock(x)))
		note(o, "cannot write the cookie clock (moat_wall): %s", strerror(-err));
	err = moat_adopt_live_set(x);
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
	moat_lset_free(&x->sets[0]);
	moat_lset_free(&x->sets[1]);
	free(x);
}

int moat_xdp_set_wall_clock(struct moat_xdp *x)
{
	struct timespec real, mono;
	struct moat_wall w;
	__u32 zero = 0;

	/* Read back to back: the two readings are within a microsecond of each other. */
	if (clock_gettime(CLOCK_REALTIME, &real) || clock_gettime(CLOCK_MONOTONIC, &mono))
		return -errno;
	w.off_ns = ((s64)real.tv_sec - (s64)mono.tv_sec) * 1000000000LL +
		   ((s64)real.tv_nsec - (s64)mono.tv_nsec);
	return bpf_map__update_elem(x->skel->maps.moat_wall, &zero, sizeof(zero), &w, sizeof(w), 0);
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
