/* SPDX-License-Identifier: BSD-3-Clause */
/* moatctl's fleet commands, drain and undrain (cmd_fleet.c, docs/fleet.md). */
#ifndef MOAT_CLI_CMD_FLEET_H
#define MOAT_CLI_CMD_FLEET_H

struct ctl;

/* drain / undrain: one request, the announcement's state printed. */
int cmd_drain(struct ctl *ctl, int argc, char **argv);

#define FLEET_DRAIN_HELP                                                                           \
	"Withdraws this node's routes: moatd takes down its bgp.link, so BIRD stops\n"            \
	"announcing the prefixes of bgp.announce and the upstream routers send new\n"            \
	"connections to the other nodes. The node keeps filtering what still reaches\n"           \
	"it (connections it already carries end on their own). The drain outlives a\n"            \
	"moatd restart (a mark in bgp.include) until undrain. -j: the bgp part of\n"              \
	"status, {\"state\": \"withdrawn\", \"drained\": true, ...}.\n"                            \
	"Needs a bgp: section in the config.\n"

#define FLEET_UNDRAIN_HELP                                                                         \
	"Ends a drain: the routes are announced again at once if the node is healthy\n"           \
	"(host mode: XDP attached to every interface; mode dpdk: moat-dp answering with\n"        \
	"its workers up). -j: the bgp part of status.\n"

#endif
