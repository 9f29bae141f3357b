/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verdicts and reasons, numbered once for kernel and userspace. The X-macro
 * keeps the enum, the verdict of each reason and the names in one list.
 */
#ifndef MOAT_CORE_REASON_H
#define MOAT_CORE_REASON_H

#include "types.h"

enum moat_verdict {
	MOAT_PASS = 0,
	MOAT_DROP = 1,
	MOAT_TX = 2, /* the filter answers the packet itself */
};

/* X(enum suffix, name, verdict) */
#define MOAT_REASONS(X)                                                                            \
	X(ESTABLISHED, "established", MOAT_PASS)                                                   \
	X(HANDSHAKE, "handshake", MOAT_PASS)                                                       \
	X(ALLOWLISTED, "allowlisted", MOAT_PASS)                                                   \
	X(COOKIE_VALID, "cookie_valid", MOAT_PASS)                                                 \
	X(NOT_PROTECTED, "not_protected", MOAT_PASS)                                               \
	X(SYN_COOKIE, "syn_cookie", MOAT_TX)                                                       \
	X(CHALLENGE_ACK, "challenge_ack", MOAT_TX)                                                 \
	X(PROXY_ACK, "proxy_ack", MOAT_TX)                                                         \
	X(MALFORMED, "malformed", MOAT_DROP)                                                       \
	X(BAD_FLAGS, "bad_flags", MOAT_DROP)                                                       \
	X(LAND, "land", MOAT_DROP)                                                                 \
	X(DENYLISTED, "denylisted", MOAT_DROP)                                                     \
	X(SOURCE_RATE, "source_rate", MOAT_DROP)                                                   \
	X(SOURCE_NEW_CONN, "source_new_conn", MOAT_DROP)                                           \
	X(SOURCE_CONCURRENT, "source_concurrent", MOAT_DROP)                                       \
	X(COOKIE_INVALID, "cookie_invalid", MOAT_DROP)                                             \
	X(ACK_NO_FLOW, "ack_no_flow", MOAT_DROP)                                                   \
	X(RST_NO_FLOW, "rst_no_flow", MOAT_DROP)                                                   \
	X(RST_OUT_OF_WINDOW, "rst_out_of_window", MOAT_DROP)                                       \
	X(RST_SUSPECT, "rst_suspect", MOAT_DROP)                                                   \
	X(SIGNATURE, "signature", MOAT_DROP)                                                       \
	X(TABLE_FULL, "table_full", MOAT_DROP)                                                     \
	X(PICKUP, "pickup", MOAT_PASS)

#define MOAT_REASON_ENUM(e, name, verdict) MOAT_R_##e,
enum moat_reason { MOAT_REASONS(MOAT_REASON_ENUM) MOAT_R_COUNT };
#undef MOAT_REASON_ENUM

MOAT_INLINE enum moat_verdict moat_reason_verdict(enum moat_reason r)
{
	switch (r) {
#define MOAT_REASON_VERDICT(e, name, verdict)                                                      \
	case MOAT_R_##e:                                                                           \
		return verdict;
		MOAT_REASONS(MOAT_REASON_VERDICT)
#undef MOAT_REASON_VERDICT
	default:
		return MOAT_DROP;
	}
}

/* Userspace only: the BPF object never calls it, so no string table lands there. */
MOAT_INLINE const char *moat_reason_name(enum moat_reason r)
{
	switch (r) {
#define MOAT_REASON_NAME(e, name, verdict)                                                         \
	case MOAT_R_##e:                                                                           \
		return name;
		MOAT_REASONS(MOAT_REASON_NAME)
#undef MOAT_REASON_NAME
	default:
		return "unknown";
	}
}

MOAT_INLINE const char *moat_verdict_name(enum moat_verdict v)
{
	return v == MOAT_PASS ? "pass" : v == MOAT_TX ? "tx" : "drop";
}

#endif
