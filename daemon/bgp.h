/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Routing announcements through BIRD 2 on the same host (the config's bgp:,
 * docs/fleet.md). moatd never speaks BGP: it holds a link (a tun device, bgp.link)
 * up while the node is healthy and not drained, and BIRD announces the service
 * prefixes through static routes over that link with `check link`. The kernel
 * removes the link when moatd's fd closes, even on kill -9, so BIRD withdraws
 * within milliseconds without asking moatd anything. FlowSpec discard rules for
 * moatctl block entries (and, with flowspec_top, the sources dropped most by
 * source_rate) go into the file BIRD includes (bgp.include), applied by
 * `configure` on BIRD's control socket.
 */
#ifndef MOAT_DAEMON_BGP_H
#define MOAT_DAEMON_BGP_H

#include <json-c/json.h>

struct moatd;

/* The link made and the include file written, when the config has bgp:. 0 or -errno. */
int moatd_bgp_start(struct moatd *d);
/* Once a second: health, ttl expiry, top sources, the include file. */
void moatd_bgp_tick(struct moatd *d);
/* Withdraw (the link goes down, then away). FlowSpec rules stay with BIRD. */
void moatd_bgp_stop(struct moatd *d);
/* The bgp part of the status answer. */
void moatd_bgp_status(struct moatd *d, json_object *j);
/* drain / undrain (the command table's handlers). */
json_object *moatd_bgp_drain(void *ctx, int cmd, json_object *req);
/* A block/unblock the backend answered (reply): exported or withdrawn upstream. */
void moatd_bgp_listed(struct moatd *d, int cmd, json_object *req, json_object *reply);

#endif
