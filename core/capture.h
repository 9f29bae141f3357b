/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet capture of moat's decisions (moatctl capture): what the XDP program
 * (ring buffer moat_capture) and moat-dp's workers (their capture ring) hand
 * to the daemon while a capture runs, and the filter they apply first. The
 * daemons turn records into JSON lines (control/capture.h); moatctl writes
 * pcapng.
 */
#ifndef MOAT_CORE_CAPTURE_H
#define MOAT_CORE_CAPTURE_H

#include "reason.h"

enum {
	MOAT_CAPTURE_SNAP_MAX = 512,	 /* bytes of a frame a record holds at most */
	MOAT_CAPTURE_SNAP_DEFAULT = 256, /* when the client names none */
};

/*
 * The capture in force, set by the daemon: on is written last when a capture
 * starts and first when it ends, so the fast path tests one word.
 */
struct moat_capture_cfg {
	u32 on;
	u32 reasons; /* bit r: reason r is captured (the verdict filter folded in) */
	u32 snaplen; /* 1..MOAT_CAPTURE_SNAP_MAX */
	u32 sample;  /* about one in sample matching packets; 0 and 1: every one */
};

struct moat_capture_rec {
	u64 ts_ns;   /* the target's clock: bpf_ktime_get_ns (XDP), the TSC in ns (moat-dp) */
	u32 where;   /* the ingress ifindex (XDP), the port (moat-dp) */
	u32 cpu;     /* the CPU (XDP), the worker's lcore (moat-dp) */
	u32 len;     /* the frame's length on the wire */
	u16 caplen;  /* bytes of it in data */
	u8 reason;   /* enum moat_reason */
	u8 pad;
	u8 data[MOAT_CAPTURE_SNAP_MAX];
};

/* Does the capture cfg want a packet of reason r? (cfg->on tested by the caller.) */
MOAT_INLINE int moat_capture_wants(const struct moat_capture_cfg *cfg, enum moat_reason r)
{
	return (u32)r < 32 && (cfg->reasons >> (u32)r) & 1;
}

/* Bytes of a frame of len to copy: at most snaplen and MOAT_CAPTURE_SNAP_MAX. */
MOAT_INLINE u32 moat_capture_caplen(const struct moat_capture_cfg *cfg, u32 len)
{
	u32 n = len < cfg->snaplen ? len : cfg->snaplen;

	return n > MOAT_CAPTURE_SNAP_MAX ? MOAT_CAPTURE_SNAP_MAX : n;
}

#endif
