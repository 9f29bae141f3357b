/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sources seen in the sampled events, for `moatctl top`: a small open-addressed
 * table of smoothed per-second estimates (each event stands for event_sample
 * packets), decayed every second so quiet sources fade out.
 */
#ifndef MOAT_DAEMON_TOP_H
#define MOAT_DAEMON_TOP_H

#include <json-c/json.h>

#include "control/events.h"

#define MOATD_TOP_SLOTS 4096

struct moatd_top_source {
	struct moat_addr addr;
	u8 family;
	u8 used;
	u8 last_reason;
	double drops; /* decayed sums */
	double syns;
};

struct moatd_top {
	struct moatd_top_source v[MOATD_TOP_SLOTS];
};

/* One sampled event, standing for sampled_one_in packets (0: one). */
void moatd_top_count(struct moatd_top *t, const struct moat_event *ev, unsigned int sampled_one_in);
/* Once a second. */
void moatd_top_decay(struct moatd_top *t);
/* The `top` answer: the busiest sources by dropped packets and SYNs per second. */
json_object *moatd_top_reply(const struct moatd_top *t, unsigned int sampled_one_in);

#endif
