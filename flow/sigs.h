/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Payload signatures, matched by hyperscan.
 *
 * A set is compiled once from the rules (hs_compile_multi, block and stream
 * databases) and is read-only afterwards: workers share it. Each worker has
 * its own matcher: scratch space, a bounded table of streams and their memory,
 * and hit counters per signature.
 *
 * A packet's payload is matched once. Within the first sig_stream_depth bytes
 * of each direction of a tracked flow it goes through that direction's
 * hyperscan stream, so a pattern split over segments is still found; data that
 * arrives out of order, beyond the depth or with no stream to spare is matched
 * alone (block mode). Every signature reports at most once per packet, or once
 * per flow direction in stream mode (HS_FLAG_SINGLEMATCH). Once a drop
 * signature matches in a flow direction, the rest of it is dropped too, as an
 * IPS does: a retransmission of the dropped segment must not get through.
 */
#ifndef MOAT_FLOW_SIGS_H
#define MOAT_FLOW_SIGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/flowkey.h"
#include "core/policy.h"

/* The rules a set is compiled from (the config's signatures: list). */
enum moat_sig_action { MOAT_SIG_DROP = 0, MOAT_SIG_ALERT };
enum moat_sig_dir { MOAT_SIG_ANY = 0, MOAT_SIG_TO_SERVER, MOAT_SIG_TO_CLIENT };

enum moat_sig_flag {
	MOAT_SIGF_CASELESS = 1 << 0,
	MOAT_SIGF_DOTALL = 1 << 1,
	MOAT_SIGF_MULTILINE = 1 << 2,
	MOAT_SIGF_UTF8 = 1 << 3,
	MOAT_SIGF_UCP = 1 << 4,
};

#define MOAT_SIG_PORT_RANGES 8

struct moat_port_ranges {
	unsigned int n; /* 0: any port */
	unsigned short lo[MOAT_SIG_PORT_RANGES];
	unsigned short hi[MOAT_SIG_PORT_RANGES];
};

struct moat_sig_rule {
	unsigned int id;
	char *msg;
	char *pattern;
	unsigned int flags; /* enum moat_sig_flag */
	enum moat_sig_action action;
	enum moat_sig_dir dir;
	struct moat_port_ranges sport, dport;
	unsigned int line;	   /* where it starts in the file, for errors */
	unsigned int pattern_line; /* where its pattern is */
};

struct moat_sig_rules {
	struct moat_sig_rule *v;
	size_t n;
};

struct moat_sig_set;
struct moat_sig_matcher;

/*
 * Compile rules; each matcher of the set streams the first stream_depth bytes
 * of a flow direction, in up to streams streams (either 0: block mode only).
 * NULL set (and 0) when there are no rules. path is the file the rules came
 * from (their lines are in the rules), for errors; a bad pattern: -EINVAL with
 * "PATH:LINE: key 'signatures[i].pattern': signature ID: hyperscan: ...".
 */
int moat_sigs_compile_rules(const struct moat_sig_rules *rules, unsigned int stream_depth,
			    unsigned int streams, const char *path, struct moat_sig_set **out,
			    char *err, size_t errlen);
void moat_sigs_free(struct moat_sig_set *set);
size_t moat_sigs_count(const struct moat_sig_set *set);
unsigned int moat_sigs_id(const struct moat_sig_set *set, size_t i);
const char *moat_sigs_msg(const struct moat_sig_set *set, size_t i);
int moat_sigs_action(const struct moat_sig_set *set, size_t i); /* enum moat_sig_action */
/* Memory a matcher allocates for its streams up front (sig_streams of them). */
size_t moat_sigs_stream_memory(const struct moat_sig_set *set);

/* The set as bytes (metadata and both databases), for moatd to hand to moat-dp. */
int moat_sigs_save(const struct moat_sig_set *set, const char *file, char *err, size_t errlen);
int moat_sigs_load(const char *file, struct moat_sig_set **out, char *err, size_t errlen);

/* A worker's matcher for set (its scratch and streams); NULL on failure. */
struct moat_sig_matcher *moat_sig_matcher_new(const struct moat_sig_set *set);
/* Close its streams and free it; the set is not touched. */
void moat_sig_matcher_free(struct moat_sig_matcher *m);
const struct moat_sig_set *moat_sig_matcher_set(const struct moat_sig_matcher *m);

struct moat_sig_packet {
	const uint8_t *payload;
	uint32_t len;
	uint32_t seq;
	uint16_t sport, dport;
	bool to_server;
	bool tracked; /* part of a tracked flow (key valid): stream mode may apply */
	const struct moat_flow_key *key;
	uint32_t now_s;
};

struct moat_sig_verdict {
	int action; /* -1 none, else enum moat_sig_action of the deciding signature */
	size_t sig; /* its index in the set */
};

/* Match one packet. */
void moat_sig_match(struct moat_sig_matcher *m, const struct moat_sig_packet *p,
		    struct moat_sig_verdict *v);
/*
 * After the engine: a TCP payload the engine passed goes through the signatures.
 * Returns the reason to count: r, or MOAT_R_SIGNATURE when a drop signature
 * matched (v says which; an alert leaves r and sets v->action).
 */
struct moat_pkt;
struct moat_result;
int moat_sig_after_engine(struct moat_sig_matcher *m, const uint8_t *frame,
			  const struct moat_pkt *pkt, const struct moat_result *res, int r,
			  bool to_server, uint32_t now_s, struct moat_sig_verdict *v);
/* Which way a packet goes when no port says (explain): to a protected port, else to the lower port. */
bool moat_sig_guess_to_server(const struct moat_policy *pol, const struct moat_pkt *pkt);

/* A flow ended (RST, or FIN into TIME_WAIT/CLOSED): its streams are closed. */
void moat_sig_flow_ended(struct moat_sig_matcher *m, const struct moat_flow_key *key);
/* Streams idle for idle_s or whose flow is gone (gone(key, ctx) != 0) are closed. */
void moat_sig_matcher_sweep(struct moat_sig_matcher *m, uint32_t now_s, uint32_t idle_s,
			    int (*gone)(const struct moat_flow_key *key, void *ctx), void *ctx);

struct moat_sig_counts {
	uint64_t streams_open;	   /* streams live now */
	uint64_t streams_refused; /* flow directions (or packets, when the table is full) matched alone: no stream to spare */
	uint64_t out_of_order;	   /* segments matched alone for arriving out of order */
};
void moat_sig_matcher_counts(const struct moat_sig_matcher *m, struct moat_sig_counts *c);
/* Hits per signature index (moat_sigs_count entries), counted by this matcher. */
const uint64_t *moat_sig_matcher_hits(const struct moat_sig_matcher *m);

#endif
