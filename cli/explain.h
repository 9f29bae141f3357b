/* SPDX-License-Identifier: BSD-3-Clause */
/* `moatctl explain`: a capture through the core/ engine, one line per packet. */
#ifndef MOAT_CLI_EXPLAIN_H
#define MOAT_CLI_EXPLAIN_H

#include <stdbool.h>
#include <stdio.h>

struct explain_opts {
	const char *pcap;
	const char *config; /* NULL: the embedded defaults */
	bool json;
	bool quiet; /* summary only */
};

/* Exit codes, as the README documents them. */
enum explain_exit { EXPLAIN_OK = 0, EXPLAIN_ERR_INPUT = 1, EXPLAIN_ERR_USAGE = 2 };

int moat_explain(const struct explain_opts *o, FILE *out, FILE *err);

#endif
