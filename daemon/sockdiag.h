/* SPDX-License-Identifier: BSD-3-Clause */
/* Established TCP connections per remote address, from the kernel (sock_diag). */
#ifndef MOAT_DAEMON_SOCKDIAG_H
#define MOAT_DAEMON_SOCKDIAG_H

#include <stddef.h>

#include "core/parse.h"

struct moat_conn_count {
	struct moat_addr addr;
	unsigned char family;
	unsigned int count;
};

/*
 * Count established TCP sockets of this network namespace by remote address.
 * *out is malloc'd (caller frees); returns the number of addresses or -errno.
 */
int moat_sockdiag_count(struct moat_conn_count **out);

/* One TCP socket of this network namespace, as sock_diag reports it. */
struct moat_sock_info {
	struct moat_addr local, remote;
	unsigned short lport, rport; /* host order */
	unsigned char family;	     /* 4 or 6 */
	unsigned char state;	     /* the kernel's TCP state (1 ESTABLISHED ... 12 NEW_SYN_RECV) */
};

#define MOAT_SOCK_STATES 13
/* The kernel's name of a TCP state ("ESTABLISHED", "TIME_WAIT", ...), "" for none. */
const char *moat_sock_state_name(unsigned int state);
/* fn for every TCP socket in a state of states_mask (1 << state); 0 or -errno. */
int moat_sockdiag_each(unsigned int states_mask,
		       int (*fn)(const struct moat_sock_info *s, void *ctx), void *ctx);

#endif
