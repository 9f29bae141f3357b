// SPDX-License-Identifier: BSD-3-Clause
/*
 * The loader's part of moatctl capture: the capture in force, written into the
 * XDP object's .bss (moat_capture_cfg), and the ring buffer moat_capture the
 * program fills while it is on.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>

#include "xdp/moat_xdp_int.h"

struct moat_xdp_capture {
	struct moat_xdp *x;
	struct ring_buffer *rb;
	int (*fn)(void *ctx, void *data, size_t len);
	void *ctx;
	bool discard; /* records from before this capture: dropped unread */
	u64 lost_base;
};

static int on_record(void *ctx, void *data, size_t len)
{
	struct moat_xdp_capture *c = ctx;

	return c->discard ? 0 : c->fn(c->ctx, data, len);
}

/* Records the ring had no room for, since the object was loaded. */
static u64 lost_total(struct moat_xdp *x)
{
	return __atomic_load_n(&x->skel->bss->moat_capture_lost, __ATOMIC_RELAXED);
}

int moat_xdp_capture_start(struct moat_xdp *x, const struct moat_capture_cfg *cfg,
			   int (*fn)(void *ctx, void *data, size_t len), void *ctx,
			   struct moat_xdp_capture **out)
{
	struct moat_capture_cfg *live;
	struct moat_xdp_capture *c;

	if (!x->skel->bss)
		return -EOPNOTSUPP;
	live = &x->skel->bss->moat_capture_cfg;
	if (__atomic_load_n(&live->on, __ATOMIC_ACQUIRE))
		return -EBUSY;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->x = x;
	c->fn = fn;
	c->ctx = ctx;
	c->rb = ring_buffer__new(bpf_map__fd(x->skel->maps.moat_capture), on_record, c, NULL);
	if (!c->rb) {
		int err = -errno;

		free(c);
		return err;
	}
	/* A previous moatd's records (the ring is pinned): not this capture's. */
	c->discard = true;
	ring_buffer__consume(c->rb);
	c->discard = false;
	c->lost_base = lost_total(x);
	live->reasons = cfg->reasons;
	live->snaplen = cfg->snaplen;
	live->sample = cfg->sample;
	/* Last: the programs read the filter only once they see on. */
	__atomic_store_n(&live->on, 1, __ATOMIC_RELEASE);
	*out = c;
	return 0;
}

int moat_xdp_capture_fd(struct moat_xdp_capture *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

int moat_xdp_capture_poll(struct moat_xdp_capture *c)
{
	return ring_buffer__consume(c->rb);
}

unsigned long long moat_xdp_capture_lost(struct moat_xdp_capture *c)
{
	return lost_total(c->x) - c->lost_base;
}

void moat_xdp_capture_stop(struct moat_xdp_capture *c)
{
	if (!c)
		return;
	__atomic_store_n(&c->x->skel->bss->moat_capture_cfg.on, 0, __ATOMIC_RELEASE);
	c->discard = true;
	ring_buffer__consume(c->rb);
	ring_buffer__free(c->rb);
	free(c);
}
