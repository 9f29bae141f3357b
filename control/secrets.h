/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where SYN-cookie secrets come from, for moatd and moat-dp alike. Time is cut
 * into periods of cookie_rotate seconds; each period has its own secret, and
 * the previous period's stays valid beside it, so a handshake in flight across
 * a rotation still completes.
 *
 *  - random (no secret_file): each period's secret is drawn from getrandom.
 *  - fleet (secret_file): each period's secret is derived from a master key
 *    shared by the fleet (SipHash of the period number under that key), so
 *    every node behind ECMP holds the same secrets at the same time and any
 *    node validates any node's cookies, with no coordination beyond the clock.
 */
#ifndef MOAT_CONTROL_SECRETS_H
#define MOAT_CONTROL_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cookie.h"

struct moat_secret_source {
	bool fleet;
	struct moat_siphash_key master[2]; /* fleet: the file's 256 bits */
	unsigned int period_s;
	uint64_t epoch; /* the period the current secret belongs to; 0 = none yet */
};

/*
 * file: "" for random secrets, else a file holding 64 hex digits (256 bits, e.g.
 * `openssl rand -hex 32`), readable by its owner only. 0, or a negative errno
 * with one line in err naming the file and what is wrong.
 */
int moat_secrets_open(struct moat_secret_source *src, const char *file, unsigned int period_s,
		      char *err, size_t errlen);
/*
 * Bring s up to the period of unix time now. Returns 1 when s changed (first
 * call or a rotation), 0 when it is still current, or a negative errno.
 */
int moat_secrets_update(struct moat_secret_source *src, uint64_t now, struct moat_cookie_secrets *s);
/* Keep secrets found in place (pinned maps) as the current period's (random mode). */
void moat_secrets_adopt(struct moat_secret_source *src, uint64_t now);
/*
 * A new period, from the next rotation on: the secrets in force stay, so handshakes
 * in flight complete (a fleet's nodes agree again once all have the new period).
 */
void moat_secrets_set_period(struct moat_secret_source *src, unsigned int period_s, uint64_t now);
/* Seconds until the next rotation. */
unsigned int moat_secrets_next_in(const struct moat_secret_source *src, uint64_t now);

#endif
