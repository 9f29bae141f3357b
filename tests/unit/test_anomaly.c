/* SPDX-License-Identifier: BSD-3-Clause */
/* core/anomaly.h: impossible flag combinations, land, the stateless classifier. */
#include <criterion/criterion.h>

#include "core/anomaly.h"

#define F MOAT_TCP_FIN
#define S MOAT_TCP_SYN
#define R MOAT_TCP_RST
#define P MOAT_TCP_PSH
#define A MOAT_TCP_ACK
#define U MOAT_TCP_URG
#define E MOAT_TCP_ECE
#define C MOAT_TCP_CWR

Test(anomaly, bad_flag_combinations)
{
	const u8 bad[] = { 0, E | C, S | F, S | R, R | F, F, P, U, F | P | U, 0xFF, 0x3F,
			   S | F | A, S | R | A, R | F | A, P | U, S | P, S | U, E, C };
	size_t i;

	for (i = 0; i < sizeof(bad); i++)
		cr_expect(moat_tcp_flags_bad(bad[i]), "flags 0x%02x should be bad", bad[i]);
}

Test(anomaly, good_flag_combinations)
{
	const u8 good[] = { S, S | E | C, S | A, S | A | E, A, F | A, R, R | A, P | A,
			    F | P | A, U | A, U | P | A, A | E, A | C, A | E | C };
	size_t i;

	for (i = 0; i < sizeof(good); i++)
		cr_expect(!moat_tcp_flags_bad(good[i]), "flags 0x%02x should be good", good[i]);
}

/* Every one of the 256 combinations against the rule list written out. */
Test(anomaly, flags_exhaustive)
{
	unsigned int f;

	for (f = 0; f < 256; f++) {
		unsigned int core = f & 0x3F;
		int bad = core == 0 || ((core & S) && (core & (F | R))) || ((core & R) && (core & F)) ||
			  (!(core & A) && (core & (F | P | U)));

		cr_expect_eq(moat_tcp_flags_bad((u8)f), bad, "flags 0x%02x", f);
	}
}

static struct moat_pkt pkt4(u32 s, u32 d, u8 flags)
{
	struct moat_pkt p;

	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.proto = 6;
	p.saddr.w[0] = moat_htonl(s);
	p.daddr.w[0] = moat_htonl(d);
	p.sport = 1000;
	p.dport = 80;
	p.tcp_flags = flags;
	return p;
}

Test(anomaly, land)
{
	struct moat_pkt p = pkt4(0x0a000001, 0x0a000001, S);

	cr_assert(moat_is_land(&p));
	p.daddr.w[0] = moat_htonl(0x0a000002);
	cr_assert(!moat_is_land(&p));
	/* IPv6: only the last word differs */
	p.family = 6;
	p.saddr.w[0] = p.daddr.w[0] = moat_htonl(0x20010db8);
	p.saddr.w[3] = moat_htonl(1);
	p.daddr.w[3] = moat_htonl(2);
	cr_assert(!moat_is_land(&p));
	p.daddr.w[3] = moat_htonl(1);
	cr_assert(moat_is_land(&p));
}

Test(anomaly, classify_stateless)
{
	struct moat_pkt p = pkt4(0x0a000001, 0x0a000002, S);
	enum moat_reason r = MOAT_R_COUNT;

	cr_assert_eq(moat_classify_stateless(MOAT_PARSE_TCP, &p, &r), 0);

	cr_assert_eq(moat_classify_stateless(MOAT_PARSE_MALFORMED, &p, &r), 1);
	cr_assert_eq(r, MOAT_R_MALFORMED);

	cr_assert_eq(moat_classify_stateless(MOAT_PARSE_NOT_IP, &p, &r), 1);
	cr_assert_eq(r, MOAT_R_NOT_PROTECTED);

	p.tcp_flags = S | F;
	cr_assert_eq(moat_classify_stateless(MOAT_PARSE_TCP, &p, &r), 1);
	cr_assert_eq(r, MOAT_R_BAD_FLAGS);
	/* flags of a packet that is not TCP mean nothing */
	cr_assert_eq(moat_classify_stateless(MOAT_PARSE_NOT_TCP, &p, &r), 0);
	cr_assert_eq(moat_classify_stateless(MOAT_PARSE_FRAGMENT, &p, &r), 0);

	p = pkt4(0x0a000001, 0x0a000001, S | F);
	cr_assert_eq(moat_classify_stateless(MOAT_PARSE_TCP, &p, &r), 1);
	cr_assert_eq(r, MOAT_R_LAND, "land is checked before the flags");
	cr_assert_eq(moat_classify_stateless(MOAT_PARSE_FRAGMENT, &p, &r), 1);
	cr_assert_eq(r, MOAT_R_LAND);
}

Test(anomaly, reason_verdicts)
{
	cr_assert_eq(moat_reason_verdict(MOAT_R_ESTABLISHED), MOAT_PASS);
	cr_assert_eq(moat_reason_verdict(MOAT_R_SYN_COOKIE), MOAT_TX);
	cr_assert_eq(moat_reason_verdict(MOAT_R_CHALLENGE_ACK), MOAT_TX);
	cr_assert_eq(moat_reason_verdict(MOAT_R_BAD_FLAGS), MOAT_DROP);
	cr_assert_eq(moat_reason_verdict(MOAT_R_COUNT), MOAT_DROP);
	cr_assert_str_eq(moat_reason_name(MOAT_R_RST_SUSPECT), "rst_suspect");
	cr_assert_str_eq(moat_reason_name(MOAT_R_COUNT), "unknown");
}
