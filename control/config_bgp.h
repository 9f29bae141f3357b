/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The config's bgp: section. moatd never speaks BGP: it drives a routing daemon
 * on the same host (BIRD 2) through a file it includes, its control socket and
 * a link whose state carries the announcement (daemon/bgp.c, docs/fleet.md).
 */
#ifndef MOAT_CONTROL_CONFIG_BGP_H
#define MOAT_CONTROL_CONFIG_BGP_H

#include <stdbool.h>

#include "flow/cidr.h"

#define MOAT_BGP_MAX_ANNOUNCE 16
#define MOAT_BGP_MAX_TOP 20 /* the sources `moatctl top` lists */

enum moat_bgp_daemon { MOAT_BGP_NONE = 0, MOAT_BGP_BIRD };

struct moat_bgp_config {
	enum moat_bgp_daemon daemon;	/* NONE: no bgp: section, nothing announced */
	char control[108];		/* the daemon's control socket */
	char include[256];		/* the file moatd writes and the daemon includes */
	char link[16];			/* the link moatd holds up while it announces */
	struct moat_cidr announce[MOAT_BGP_MAX_ANNOUNCE];
	unsigned int n_announce;
	bool flowspec;			/* blocks exported as FlowSpec discard rules */
	unsigned int flowspec_top;	/* also the N (<= MOAT_BGP_MAX_TOP) sources dropped most by source_rate */
	unsigned int flowspec_top_rate; /* ... at this many drops/s or more */
	unsigned int flowspec_max;	/* at most this many rules */
};

#define MOAT_BGP_DEFAULT_CONTROL "/run/bird/bird.ctl"
#define MOAT_BGP_DEFAULT_INCLUDE "/etc/bird/moat.conf"
#define MOAT_BGP_DEFAULT_LINK "moat-bgp"

/* What a bgp: section starts from (the loader sets them when it meets one). */
void moat_bgp_config_defaults(struct moat_bgp_config *b);

#endif
