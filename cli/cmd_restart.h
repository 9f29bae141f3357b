/* SPDX-License-Identifier: BSD-3-Clause */
/* moatctl restart: a new moat-dp takes over the flows (cmd_restart.c, docs/failure.md). */
#ifndef MOAT_CLI_CMD_RESTART_H
#define MOAT_CLI_CMD_RESTART_H

struct ctl;

int cmd_restart(struct ctl *ctl, int argc, char **argv);

#define RESTART_HELP                                                                               \
	"Mode dpdk: moat-dp ends and a new one takes over its flow tables (connections,\n"        \
	"the SYN proxy's sequence offsets, limiter records), from the dpdk.state file;\n"        \
	"established connections go on. This is how to upgrade moat-dp: install the new\n"       \
	"binary, then restart. A new binary of another table layout refuses the file and\n"      \
	"says why; its connections are then picked up mid-stream (pickup:), proxied\n"           \
	"ones are lost. moatd starts the new moat-dp at once; moat-dp run alone exits\n"         \
	"75 for its service manager to start it again.\n\n"                                      \
	"  --fresh           the new moat-dp must not adopt the tables (as a layout change)\n"  \
	"  -w, --wait S      wait up to S seconds (default 30; 0: do not wait) for the new\n"   \
	"                    moat-dp, and print what it made of the file\n\n"                    \
	"-j: {\"old_pid\", \"pid\", \"seconds\", \"state\": {\"start\", \"adopted\",\n"          \
	"\"adopted_flows\", \"adopted_proxied\", \"lost_proxied\", \"left_to_pickup\", ...}}.\n" \
	"Host mode has no process to restart: the XDP program outlives moatd.\n"

#endif
