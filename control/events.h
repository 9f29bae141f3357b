/* SPDX-License-Identifier: BSD-3-Clause */
/* Sampled events as JSON lines: one writer for moatd (ring buffer) and moat-dp (rings). */
#ifndef MOAT_CONTROL_EVENTS_H
#define MOAT_CONTROL_EVENTS_H

#include <stdio.h>

#include "core/event.h"

/*
 * One object per line: time, reason, verdict, 5-tuple, TTL, flags, where it was
 * seen (ev->where, under where_key: "ifindex" for moatd, "lcore" for moat-dp),
 * the CPU, the sampling rate, and the signature of a signature detail.
 */
void moat_event_write(FILE *f, const struct moat_event *ev, unsigned int sampled_one_in,
		      const char *where_key);
/* The same object as one line ending in '\n', malloc'd (NULL: out of memory). */
char *moat_event_format(const struct moat_event *ev, unsigned int sampled_one_in,
			const char *where_key);

/*
 * The live feed behind `moatctl events [-f]`: the last MOAT_FEED_RECENT lines,
 * and the connections following new ones. A follower that cannot keep up is
 * cut off rather than allowed to hold up the daemon (its socket is non-blocking).
 */
#define MOAT_FEED_RECENT 64
#define MOAT_FEED_FOLLOWERS 16

struct moat_event_feed {
	char *recent[MOAT_FEED_RECENT];
	unsigned int next; /* where the next line goes in recent */
	int fd[MOAT_FEED_FOLLOWERS];
	unsigned int n_fd;
	unsigned long long dropped_followers;
};

/* Keep line (copied) and send it to every follower. */
void moat_feed_publish(struct moat_event_feed *f, const char *line);
/* Send the recent lines to fd; follow: keep fd for new ones (the feed closes it), else close it. */
void moat_feed_subscribe(struct moat_event_feed *f, int fd, int follow);
void moat_feed_free(struct moat_event_feed *f);

#endif
