/* SPDX-License-Identifier: BSD-3-Clause */
/* The loader's state, shared by its files: moat_xdp.c (load, attach, read) and moat_xdp_sets.c (policy and list sets). */
#ifndef MOAT_XDP_INT_H
#define MOAT_XDP_INT_H

#include <net/if.h>
#include <stdbool.h>

#include "xdp/moat_xdp.h"
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
	/* The secrets of a pinned map of an older layout, written into the new one. */
	struct moat_cookie_secrets carried;
	bool have_carried;
};

void moat_lset_free(struct moat_lset *l);
/* The live set a previous moatd left: its generation, policy and run-time settings. */
int moat_adopt_live_set(struct moat_xdp *x);

#endif
