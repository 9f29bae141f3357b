/* SPDX-License-Identifier: BSD-3-Clause */
/* Established TCP connections per remote address, from the kernel (sock_diag). */
#ifndef MOAT_CONTROL_SOCKDIAG_H
#define MOAT_CONTROL_SOCKDIAG_H

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

#endif
