/* SPDX-License-Identifier: BSD-3-Clause */
/* core/limits.h: token bucket, sliding window counter and the cookie trigger. */
#include <criterion/criterion.h>

#include "core/limits.h"

#define T ((u64)1700000000 * MOAT_NSEC_PER_SEC)
#define MS(x) ((u64)(x) * 1000000ULL)
#define SEC(x) ((u64)(x) * MOAT_NSEC_PER_SEC)

static int drain(struct moat_bucket *b, u64 now, u32 rate, u32 burst, int max)
{
	int n = 0;

	while (n < max && moat_bucket_take(b, now, rate, burst))
		n++;
	return n;
}

Test(bucket, burst_then_empty)
{
	struct moat_bucket b;

	moat_bucket_init(&b, T, 3);
	cr_assert_eq(drain(&b, T, 10, 3, 100), 3);
	cr_assert_not(moat_bucket_take(&b, T, 10, 3));
}

Test(bucket, refill_after_one_over_rate)
{
	struct moat_bucket b;

	moat_bucket_init(&b, T, 3);
	cr_assert_eq(drain(&b, T, 10, 3, 100), 3);
	cr_assert_not(moat_bucket_take(&b, T + MS(99), 10, 3));
	cr_assert(moat_bucket_take(&b, T + MS(100), 10, 3), "one token after 1/rate");
	cr_assert_not(moat_bucket_take(&b, T + MS(100), 10, 3));
	/* fractions accumulate: 50 ms twice is one token */
	cr_assert_not(moat_bucket_take(&b, T + MS(150), 10, 3));
	cr_assert(moat_bucket_take(&b, T + MS(200), 10, 3));
}

Test(bucket, capped_at_burst)
{
	struct moat_bucket b;

	moat_bucket_init(&b, T, 3);
	cr_assert_eq(drain(&b, T, 10, 3, 100), 3);
	cr_assert_eq(drain(&b, T + SEC(10), 10, 3, 100), 3, "100 tokens earned, 3 kept");
}

Test(bucket, clock_going_back)
{
	struct moat_bucket b;

	moat_bucket_init(&b, T, 2);
	cr_assert_eq(drain(&b, T, 1, 2, 100), 2);
	cr_assert_not(moat_bucket_take(&b, T - SEC(5), 1, 2));
	cr_assert_not(moat_bucket_take(&b, 0, 1, 2));
	/* stepping back did not move the reference: 1 s after T is one token, not 2 */
	cr_assert_eq(drain(&b, T + SEC(1), 1, 2, 100), 1);
}

Test(bucket, huge_elapsed)
{
	struct moat_bucket b;

	moat_bucket_init(&b, T, 5);
	cr_assert_eq(drain(&b, T, 1000, 5, 100), 5);
	cr_assert_eq(drain(&b, T + (1ULL << 62), 1000, 5, 100), 5);
	cr_assert_eq(drain(&b, T + (1ULL << 62) + 1, 1000, 5, 100), 0, "1 ns is no token");
	cr_assert_eq(drain(&b, ~0ULL, 1000, 5, 100), 5);
	cr_assert_eq(b.last_ns, ~0ULL);
}

/*
 * The configuration accepts rates up to 1e8/s (control/config.c RATE_MAX);
 * 184.47 s * 1e8 exceeds 2^64 units and must still refill the bucket.
 */
Test(bucket, high_rate_long_idle_refills)
{
	struct moat_bucket b;
	const u32 rate = 100000000;
	u64 idle;

	for (idle = SEC(1); idle <= SEC(1000); idle += MS(184467)) {
		moat_bucket_init(&b, T, 1);
		cr_assert(moat_bucket_take(&b, T, rate, 1));
		cr_assert_not(moat_bucket_take(&b, T, rate, 1));
		cr_assert(moat_bucket_take(&b, T + idle, rate, 1), "idle %llu ns", (unsigned long long)idle);
	}
	moat_bucket_init(&b, T, 1);
	cr_assert(moat_bucket_take(&b, T, rate, 1));
	cr_assert(moat_bucket_take(&b, T + 184467440738ULL, rate, 1),
		  "rate 1e8, idle 184.467440738 s: elapsed * rate wraps 2^64");
}

Test(window, counts_and_slides)
{
	struct moat_window w = { 0 };
	const u64 len = SEC(1);

	moat_window_add(&w, T, len, 4);
	cr_assert_eq(moat_window_count(&w, T, len), 4);
	cr_assert_eq(moat_window_count(&w, T + MS(999), len), 4);
	/* the next fixed window: the previous one weighs by its overlap */
	cr_assert_eq(moat_window_count(&w, T + SEC(1), len), 4);
	cr_assert_eq(moat_window_count(&w, T + MS(1250), len), 3);
	cr_assert_eq(moat_window_count(&w, T + MS(1500), len), 2);
	moat_window_add(&w, T + MS(1500), len, 2);
	cr_assert_eq(moat_window_count(&w, T + MS(1500), len), 4);
	cr_assert_eq(moat_window_count(&w, T + MS(1750), len), 3);
}

Test(window, expires_after_two_windows)
{
	struct moat_window w = { 0 };
	const u64 len = SEC(60);

	moat_window_add(&w, T, len, 10);
	cr_assert_eq(moat_window_count(&w, T + SEC(119), len), 0);
	moat_window_add(&w, T + SEC(200), len, 1);
	cr_assert_eq(moat_window_count(&w, T + SEC(200), len), 1);
	cr_assert_eq(moat_window_count(&w, T + SEC(400), len), 0);
}

Test(window, two_windows_exactly)
{
	struct moat_window w = { 0 };
	const u64 len = SEC(10);

	moat_window_add(&w, T, len, 7);
	cr_assert_eq(moat_window_count(&w, T + SEC(10), len), 7);
	cr_assert_eq(moat_window_count(&w, T + SEC(20), len), 0);
}

Test(window, zero_length)
{
	struct moat_window w = { 0 };

	moat_window_add(&w, T, 0, 3);
	moat_window_add(&w, T + SEC(100), 0, 2);
	cr_assert_eq(moat_window_count(&w, T + SEC(1000), 0), 5);
}

Test(window, clock_back)
{
	struct moat_window w = { 0 };
	const u64 len = SEC(1);

	moat_window_add(&w, T, len, 5);
	cr_assert_eq(moat_window_count(&w, T - SEC(3), len), 5);
	moat_window_add(&w, T - SEC(3), len, 1);
	cr_assert_eq(moat_window_count(&w, T, len), 6);
}

Test(trigger, engages_above_and_holds)
{
	struct moat_trigger t = { 0 };
	const u64 hold = SEC(10);

	cr_assert_not(moat_trigger_syn(&t, T, 3, hold));
	cr_assert_not(moat_trigger_syn(&t, T + MS(100), 3, hold));
	cr_assert_not(moat_trigger_syn(&t, T + MS(200), 3, hold), "3 is not above 3");
	cr_assert_not(moat_trigger_engaged(&t, T + MS(200)));
	cr_assert(moat_trigger_syn(&t, T + MS(300), 3, hold), "4 > 3");
	cr_assert(moat_trigger_engaged(&t, T + MS(300)));
	/* a quiet SYN later on is still inside the hold */
	cr_assert(moat_trigger_syn(&t, T + SEC(5), 3, hold));
	cr_assert(moat_trigger_engaged(&t, T + MS(10299)));
	cr_assert_not(moat_trigger_engaged(&t, T + MS(10300)));
	cr_assert_not(moat_trigger_syn(&t, T + SEC(11), 3, hold));
}

Test(trigger, hold_renews_while_above)
{
	struct moat_trigger t = { 0 };
	const u64 hold = SEC(2);
	int i;

	for (i = 0; i < 10; i++)
		moat_trigger_syn(&t, T + MS(i), 5, hold);
	cr_assert(moat_trigger_engaged(&t, T + MS(9)));
	for (i = 0; i < 10; i++)
		moat_trigger_syn(&t, T + SEC(1) + MS(500 + i), 5, hold);
	cr_assert(moat_trigger_engaged(&t, T + SEC(3) + MS(400)), "renewed at 1.5 s");
	cr_assert_not(moat_trigger_engaged(&t, T + SEC(3) + MS(510)));
}
