/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Token buckets and windowed counters as pure functions on caller-owned state
 * and a caller-supplied clock (ns). A clock that steps back (capture files,
 * clocks read on different CPUs) counts as no time passing.
 */
#ifndef MOAT_CORE_LIMITS_H
#define MOAT_CORE_LIMITS_H

#include "types.h"

/* One token is MOAT_NSEC_PER_SEC units, so refill is elapsed_ns * rate: no division. */
#define MOAT_TOKEN MOAT_NSEC_PER_SEC
/*
 * Idle this long, a bucket is full: elapsed * rate then stays below 2^64 for any
 * rate up to 1.8e8/s (config allows 1e8). Bursts deeper than 100 s of the rate
 * are therefore refilled after 100 s.
 */
#define MOAT_BUCKET_MAX_ELAPSED (100ULL * MOAT_NSEC_PER_SEC)

struct moat_bucket {
	u64 tokens; /* in units of 1/MOAT_TOKEN */
	u64 last_ns;
};

MOAT_INLINE void moat_bucket_init(struct moat_bucket *b, u64 now_ns, u32 burst)
{
	b->tokens = (u64)burst * MOAT_TOKEN;
	b->last_ns = now_ns;
}

MOAT_INLINE void moat_bucket_refill(struct moat_bucket *b, u64 now_ns, u32 rate, u32 burst)
{
	u64 cap = (u64)burst * MOAT_TOKEN;
	u64 elapsed;

	if (now_ns <= b->last_ns)
		return;
	elapsed = now_ns - b->last_ns;
	b->last_ns = now_ns;
	if (elapsed >= MOAT_BUCKET_MAX_ELAPSED) {
		b->tokens = cap;
		return;
	}
	b->tokens += elapsed * rate;
	if (b->tokens > cap)
		b->tokens = cap;
}

/* Take one token: 1 when allowed, 0 when the bucket is empty. burst >= 1. */
MOAT_INLINE mbool moat_bucket_take(struct moat_bucket *b, u64 now_ns, u32 rate, u32 burst)
{
	moat_bucket_refill(b, now_ns, rate, burst);
	if (b->tokens < MOAT_TOKEN)
		return 0;
	b->tokens -= MOAT_TOKEN;
	return 1;
}

/*
 * Sliding-window counter (two fixed windows, the previous one weighted by how
 * much of it still overlaps the sliding window): the 'recent --seconds N
 * --hitcount K' rule in O(1) state.
 */
struct moat_window {
	u64 start_ns; /* start of the current fixed window */
	u32 cur;
	u32 prev;
};

MOAT_INLINE void moat_window_advance(struct moat_window *w, u64 now_ns, u64 len_ns)
{
	u64 elapsed;

	if (now_ns < w->start_ns + len_ns)
		return;
	elapsed = now_ns - w->start_ns;
	if (elapsed < 2 * len_ns) {
		w->prev = w->cur;
		w->start_ns += len_ns;
	} else {
		w->prev = 0;
		w->start_ns = now_ns;
	}
	w->cur = 0;
}

/* Events in the last len_ns, estimated. */
MOAT_INLINE u32 moat_window_count(struct moat_window *w, u64 now_ns, u64 len_ns)
{
	u64 into, weight;

	if (!len_ns)
		return w->cur;
	moat_window_advance(w, now_ns, len_ns);
	into = now_ns > w->start_ns ? now_ns - w->start_ns : 0;
	weight = len_ns - into; /* share of the previous window still inside */
	return w->cur + (u32)(((u64)w->prev * weight) / len_ns);
}

MOAT_INLINE void moat_window_add(struct moat_window *w, u64 now_ns, u64 len_ns, u32 n)
{
	if (len_ns)
		moat_window_advance(w, now_ns, len_ns);
	w->cur += n;
}

/*
 * Flood detector for syn_cookies: auto, per destination: engaged while the SYN
 * rate over the last second exceeds the trigger, and held for hold_ns after the
 * last second above it, so cookies do not flap at the threshold.
 */
/*
 * Mid-stream pickups to one destination address (docs/engine.md; the
 * backend keeps one per address, moat_be_pickup): a token
 * bucket of unconfirmed pickups let through, and counts of the last two fixed
 * seconds, by which a destination whose pickups are not confirmed (an ACK
 * flood: the server answers spoofed ACKs with RSTs, or not at all) is
 * suspended.
 */
struct moat_pickup_count {
	u32 attempts;  /* segments of unknown flows */
	u32 passed;    /* ... of them let through */
	u32 confirmed; /* flows the other side confirmed */
};

struct moat_pickup_budget {
	struct moat_bucket tokens;
	u64 second_ns; /* start of the current fixed second */
	u64 suspended_until_ns;
	struct moat_pickup_count cur, prev;
};

struct moat_trigger {
	struct moat_window rate;
	u64 engaged_until_ns;
};

MOAT_INLINE mbool moat_trigger_syn(struct moat_trigger *t, u64 now_ns, u32 trigger, u64 hold_ns)
{
	moat_window_add(&t->rate, now_ns, MOAT_NSEC_PER_SEC, 1);
	if (moat_window_count(&t->rate, now_ns, MOAT_NSEC_PER_SEC) > trigger)
		t->engaged_until_ns = now_ns + hold_ns;
	return now_ns < t->engaged_until_ns;
}

MOAT_INLINE mbool moat_trigger_engaged(const struct moat_trigger *t, u64 now_ns)
{
	return now_ns < t->engaged_until_ns;
}

/*
 * Roll the budget's second over and judge the one before: more than `trigger`
 * segments of unknown flows, and fewer than half of the pickups let through
 * then confirmed by now (a reply may land in the next second), suspends
 * pickup for hold_ns, and so does the flood going on while suspended
 * (trigger 0: never suspended).
 */
MOAT_INLINE void moat_pickup_second(struct moat_pickup_budget *b, u64 now_ns, u32 trigger,
				    u64 hold_ns)
{
	const struct moat_pickup_count *p = &b->prev;
	u32 confirmed = p->confirmed + b->cur.confirmed;

	if (now_ns < b->second_ns + MOAT_NSEC_PER_SEC && now_ns >= b->second_ns)
		return;
	if (trigger && p->attempts > trigger &&
	    (2 * confirmed < p->passed || now_ns < b->suspended_until_ns))
		b->suspended_until_ns = now_ns + hold_ns;
	b->prev = b->cur;
	if (now_ns >= b->second_ns + 2 * MOAT_NSEC_PER_SEC)
		__builtin_memset(&b->prev, 0, sizeof(b->prev));
	__builtin_memset(&b->cur, 0, sizeof(b->cur));
	b->second_ns = now_ns;
}

/* May one more unconfirmed pickup pass? */
MOAT_INLINE mbool moat_pickup_take(struct moat_pickup_budget *b, u64 now_ns, u32 rate, u32 burst,
				   u32 trigger, u64 hold_ns)
{
	moat_pickup_second(b, now_ns, trigger, hold_ns);
	b->cur.attempts++;
	if (now_ns < b->suspended_until_ns)
		return 0;
	if (!moat_bucket_take(&b->tokens, now_ns, rate, burst ? burst : 1))
		return 0;
	b->cur.passed++;
	return 1;
}

MOAT_INLINE void moat_pickup_confirmed(struct moat_pickup_budget *b)
{
	b->cur.confirmed++;
}

#endif
