/* SPDX-License-Identifier: BSD-3-Clause */
/* Sampled events as JSON lines: one writer for moatd (ring buffer) and moat-dp (rings). */
#ifndef MOAT_CONTROL_EVENTS_H
#define MOAT_CONTROL_EVENTS_H

#include <stdio.h>

#include "xdp/moat_maps.h"

/*
 * One object per line: time, reason, verdict, 5-tuple, TTL, flags, where it was
 * seen (where_key: "ifindex" for moatd, "lcore" for moat-dp; where = ev->ifindex)
 * and the sampling rate.
 */
void moat_event_write(FILE *f, const struct moat_event *ev, unsigned int sampled_one_in,
		      const char *where_key);

#endif
