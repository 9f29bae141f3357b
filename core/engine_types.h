/* SPDX-License-Identifier: BSD-3-Clause */
/* The engine's call context and result, for code that runs or reports the engine. */
#ifndef MOAT_CORE_ENGINE_TYPES_H
#define MOAT_CORE_ENGINE_TYPES_H

#include "cookie.h"
#include "policy.h"
#include "reason.h"
#include "track.h"

struct moat_be;

struct moat_engine {
	const struct moat_policy *pol;
	const struct moat_cookie_secrets *sec;
	struct moat_be *be;
	u64 now_ns;
	/*
	 * Unix time minus now_ns's clock: cookie slots count Unix time, so that the
	 * nodes of a fleet agree whatever their boot times (0 where now_ns is Unix
	 * time already: explain's capture timestamps).
	 */
	s64 wall_off_ns;
	u32 ts_clock; /* ms clock for our TSval */
};

struct moat_result {
	enum moat_reason reason;
	u32 dir;		   /* direction within the flow, when there is one */
	struct moat_flow *flow;	   /* the flow touched, if any */
	struct moat_cookie cookie; /* reason syn_cookie: what to answer with */
	struct moat_syn_opts opts; /* reason cookie_valid: the client's options */
};

/* The cookie clock: Unix time, in ns. */
MOAT_INLINE u64 moat_cookie_now(const struct moat_engine *e)
{
	return e->now_ns + (u64)e->wall_off_ns;
}

#endif
