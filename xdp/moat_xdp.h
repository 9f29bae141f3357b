/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host-mode loader: loads moat.bpf.o (and moat_tc.bpf.o where the kernel
 * has bpf_sk_assign_tcp_reqsk), pins the maps so a restarted moatd adopts them,
 * attaches to interfaces, and writes policy, secrets and lists.
 */
#ifndef MOAT_XDP_LOADER_H
#define MOAT_XDP_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/capture.h"
#include "core/cookie.h"
#include "core/policy.h"
#include "core/reason.h"
#include "xdp/moat_maps.h"

struct moat_xdp;

/*
 * How XDP is attached. The config's `xdp_mode` names are these, in this order.
 * auto: native, except on drivers whose native XDP_TX cannot answer (veth: its
 * XDP_TX frames reach the peer only when the peer runs XDP), which get generic.
 */
enum moat_xdp_mode {
	MOAT_XDP_AUTO,
	MOAT_XDP_NATIVE,
	MOAT_XDP_GENERIC,
};

struct moat_xdp_opts {
	const char *pin_dir;	 /* bpffs folder for the maps, e.g. /sys/fs/bpf/moat */
	enum moat_xdp_mode mode; /* how to attach */
	bool want_reqsk;	 /* try the TC cookie half; false forces the fallback */
	/* Told what the loader did on its own (a bpffs mounted, a mode chosen). */
	void (*note)(const char *msg);
	char err[256];		 /* why the last call failed, for the operator */
};

int moat_xdp_load(struct moat_xdp **out, struct moat_xdp_opts *o);
/*
 * Attach XDP (+ TC ingress) to an interface in o->mode; a driver without native
 * XDP gets generic. The mode used is told through o->note and by moat_xdp_mode_of.
 */
int moat_xdp_attach(struct moat_xdp *x, const char *ifname, struct moat_xdp_opts *o);
/* "native" or "generic" for an attached interface, NULL when not attached. */
const char *moat_xdp_mode_of(const struct moat_xdp *x, const char *ifname);
/*
 * Make sure dir lies on a bpffs: when it does not, mount one at /sys/fs/bpf (dir
 * under it) or on dir itself. 0, or -errno with o->err saying what was tried.
 */
int moat_xdp_ensure_bpffs(const char *dir, struct moat_xdp_opts *o);
void moat_xdp_detach_all(struct moat_xdp *x);
void moat_xdp_close(struct moat_xdp *x);

int moat_xdp_set_secrets(struct moat_xdp *x, const struct moat_cookie_secrets *s);
/* Secrets already in the pinned map (all zero when none): adopted on restart. */
int moat_xdp_get_secrets(struct moat_xdp *x, struct moat_cookie_secrets *s);
/* An allow/deny trie entry: (family, addr, plen, action). */
struct moat_xdp_list_entry {
	u8 family;
	u8 plen;
	u8 action; /* enum moat_list_match */
	struct moat_addr addr;
};
/*
 * What a config (re)load or a live change writes into the maps, in one call:
 * the policy, the allow/deny tries' whole content (the same prefix twice: the
 * later entry wins) and the run-time settings (list_entries is counted here).
 * A NULL part stays as it is; lists with n_lists 0 empties the tries.
 *
 * Atomic: the programs read one of two sets (policy, run-time settings,
 * tries); the call writes the set they do not use, by difference from what it
 * holds, and switches them to it with one map update. A packet sees the old
 * set or the new one, never a mix. 0, or -errno and the live set untouched
 * (-ENODATA: a first call without a policy).
 */
struct moat_xdp_update {
	const struct moat_policy *pol;
	const struct moat_xdp_list_entry *lists;
	size_t n_lists;
	const struct moat_runtime *rt;
};
int moat_xdp_apply(struct moat_xdp *x, const struct moat_xdp_update *u);
/* Switches made so far (the pinned generation: it survives a restart). */
u32 moat_xdp_generation(const struct moat_xdp *x);
/* The load found a live set a previous moatd built (pinned): it is what runs until the next apply. */
bool moat_xdp_adopted(const struct moat_xdp *x);
/*
 * Established connections per source key (unique keys), from sock_diag: the
 * map is brought to them in place (changed counts updated, vanished keys
 * deleted), never emptied.
 */
int moat_xdp_set_conns(struct moat_xdp *x, const struct moat_src_key *keys, const u32 *counts,
		       size_t n);
/*
 * The live list changes (pinned map moat_live), for a restarted moatd: one
 * record per prefix and list (e.action ALLOW or DENY), the last change wins.
 */
struct moat_xdp_live {
	struct moat_xdp_list_entry e;
	bool add;		 /* on the list (block, allow) or taken off (unblock, unallow, expired) */
	unsigned long long expires_ms; /* CLOCK_MONOTONIC ms; 0: no ttl */
};
int moat_xdp_live_note(struct moat_xdp *x, const struct moat_xdp_live *l);
/* fn for every record until it returns non-zero (returned). */
int moat_xdp_live_each(struct moat_xdp *x, int (*fn)(const struct moat_xdp_live *l, void *ctx),
		       void *ctx);
/*
 * The cookie clock: Unix time minus CLOCK_MONOTONIC into map moat_wall, at
 * load and every second (a clock step reaches the programs within a second).
 */
int moat_xdp_set_wall_clock(struct moat_xdp *x);
/* Forget them all, and the limits set live: the file is the policy again (a reload). */
int moat_xdp_live_clear(struct moat_xdp *x);
/*
 * The limits set live (pinned map moat_live_limits) as a JSON object's text:
 * get copies it into buf ("" when none; 0 or -errno), put replaces it (-E2BIG
 * past MOAT_LIVE_LIMITS_LEN - 1 characters).
 */
int moat_xdp_live_limits_get(struct moat_xdp *x, char *buf, size_t len);
int moat_xdp_live_limits_put(struct moat_xdp *x, const char *json);
/* Packets per reason, summed over CPUs. */
int moat_xdp_read_reasons(struct moat_xdp *x, u64 out[MOAT_R_COUNT]);
/*
 * Packets per CPU and verdict: out[cpu * 3 + verdict] for the first ncpu CPUs
 * (the possible CPUs: libbpf_num_possible_cpus()). 0 or -errno.
 */
int moat_xdp_read_cpu_verdicts(struct moat_xdp *x, u64 *out, int ncpu);
/* Request sockets handed to the kernel by the TC half, and failures. */
int moat_xdp_read_tc(struct moat_xdp *x, u64 *assigned, u64 *failed);
bool moat_xdp_has_reqsk(const struct moat_xdp *x);
/* The ring buffer of sampled events, to poll: fn is called per event. */
int moat_xdp_events_open(struct moat_xdp *x, int (*fn)(void *ctx, void *data, size_t len),
			 void *ctx);
int moat_xdp_events_fd(struct moat_xdp *x);
int moat_xdp_events_poll(struct moat_xdp *x);

/*
 * moatctl capture (moat_xdp_capture.c): cfg made the capture in force and the
 * ring buffer moat_capture opened, fn called per record (struct
 * moat_capture_rec). One at a time: -EBUSY while another runs.
 */
struct moat_xdp_capture;
int moat_xdp_capture_start(struct moat_xdp *x, const struct moat_capture_cfg *cfg,
			   int (*fn)(void *ctx, void *data, size_t len), void *ctx,
			   struct moat_xdp_capture **out);
int moat_xdp_capture_fd(struct moat_xdp_capture *c);
int moat_xdp_capture_poll(struct moat_xdp_capture *c);
/* Records the ring had no room for since the start. */
unsigned long long moat_xdp_capture_lost(struct moat_xdp_capture *c);
/* Off, the ring drained and closed. */
void moat_xdp_capture_stop(struct moat_xdp_capture *c);

#endif
