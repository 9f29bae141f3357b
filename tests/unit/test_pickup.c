/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mid-stream pickup (core/engine.h, core/track.h) through the real userspace
 * backend (flow/backend.c, flow/stab.c): flows whose start was not seen are
 * picked up once the other side confirms them; an ACK flood of random sources
 * gets a bounded budget through and bounded table state, and legitimate flows
 * beside it go on.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/engine_types.h"
#include "flow/backend.h"
#include "frames.h"

#define CLIENT 0x0a000001u
#define SERVER 0xc0a80002u
#define T0 ((u64)1700000000 * MOAT_NSEC_PER_SEC)
#define FLOWS 4096

static struct moat_policy pol;
static struct moat_be be;
static struct moat_engine eng;
static struct moat_cidr_list none;
static const struct moat_cookie_secrets sec = { { 0xfeed, 0xbeef }, { 0x1234, 0x5678 } };

static void setup(void)
{
	moat_policy_defaults(&pol);
	pol.syn_cookies = MOAT_COOKIES_OFF;
	cr_assert_eq(moat_be_init(&be, FLOWS, 1024, 42), 0);
	moat_be_use(&be, &pol, &none, &none);
	memset(&eng, 0, sizeof(eng));
	eng.pol = &pol;
	eng.sec = &sec;
	eng.be = &be;
	eng.now_ns = T0;
	eng.ts_clock = 0x40000000;
}

static void teardown(void)
{
	moat_be_free(&be);
}

TestSuite(pickup, .init = setup, .fini = teardown);

static enum moat_reason run(u32 src, u16 sport, u32 dst, u16 dport, u8 flags, u32 seq, u32 ack,
			    u16 win, size_t payload, struct moat_result *res)
{
	u8 b[FRAME_MAX];
	struct tcp_spec s = { .family = 4, .saddr4 = src, .daddr4 = dst, .sport = sport,
			      .dport = dport, .seq = seq, .ack = ack, .flags = flags, .win = win,
			      .payload = payload };
	struct moat_pkt pkt;
	size_t n = build_tcp_frame(b, &s);

	return moat_be_run(&be, &eng, b, b + n, &pkt, res);
}

/* Client 40000 -> server 80 and back, windows of a scaled connection (field 501). */
static enum moat_reason c2s(u8 flags, u32 seq, u32 ack, size_t len, struct moat_result *res)
{
	return run(CLIENT, 40000, SERVER, 80, flags, seq, ack, 501, len, res);
}

static enum moat_reason s2c(u8 flags, u32 seq, u32 ack, size_t len, struct moat_result *res)
{
	return run(SERVER, 80, CLIENT, 40000, flags, seq, ack, 509, len, res);
}

#define A MOAT_TCP_ACK
#define PA (MOAT_TCP_PSH | MOAT_TCP_ACK)
#define FA (MOAT_TCP_FIN | MOAT_TCP_ACK)

Test(pickup, client_first_confirmed_by_server)
{
	struct moat_result res;
	u32 c = 0x11110000, s = 0x22220000;

	/* A connection that began before moat: the client sends 100 bytes. */
	cr_assert_eq(c2s(PA, c, s, 100, &res), MOAT_R_PICKUP);
	cr_assert_eq(res.flow->state, MOAT_TCPS_PICKUP);
	/* more from the same side before the reply: still unconfirmed, budgeted */
	cr_assert_eq(c2s(PA, c + 100, s, 100, &res), MOAT_R_PICKUP);
	/* the server's ACK (delayed, covers the first segment) confirms it */
	cr_assert_eq(s2c(A, s, c + 100, 0, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(res.flow->state, MOAT_TCPS_ESTABLISHED);
	cr_assert(res.flow->flags & MOAT_FLOW_PICKUP);
	/* from here on tracked as any flow, windows as scaled as they can be */
	cr_assert_eq(s2c(PA, s, c + 200, 1000, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(c2s(A, c + 200, s + 1000, 0, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(s2c(PA, s + 1000, c + 200, 1000, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(c2s(A, c + 200, s + 2000, 0, &res), MOAT_R_ESTABLISHED);
	/* an ACK of data never sent is still out of state */
	cr_assert_eq(c2s(A, c + 200, s + 2000 + 0x10000000, 0, &res), MOAT_R_ACK_NO_FLOW);
	/* and the close runs through the states */
	cr_assert_eq(c2s(FA, c + 200, s + 2000, 0, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(s2c(FA, s + 2000, c + 201, 0, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(c2s(A, c + 201, s + 2001, 0, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(res.flow->state, MOAT_TCPS_TIME_WAIT);
}

Test(pickup, server_first_confirmed_by_client)
{
	struct moat_result res;
	u32 c = 0x11110000, s = 0x22220000;

	/* a download in progress: the server's data comes first */
	cr_assert_eq(s2c(A, s, c, 1400, &res), MOAT_R_PICKUP);
	cr_assert_eq(s2c(A, s + 1400, c, 1400, &res), MOAT_R_PICKUP);
	cr_assert_eq(c2s(A, c, s + 2800, 0, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(res.flow->state, MOAT_TCPS_ESTABLISHED);
	cr_assert_eq(s2c(A, s + 2800, c, 1400, &res), MOAT_R_ESTABLISHED);
}

Test(pickup, reply_that_does_not_fit_confirms_nothing)
{
	struct moat_result res;

	/* a forged ACK on a live tuple, then the server's own numbers */
	cr_assert_eq(c2s(A, 0x01000000, 0x02000000, 0, &res), MOAT_R_PICKUP);
	cr_assert_eq(s2c(A, 0x90000000, 0xa0000000, 0, &res), MOAT_R_PICKUP);
	cr_assert_eq(res.flow->state, MOAT_TCPS_PICKUP);
	cr_assert_eq(res.dir, 0, "the server's segment starts a tentative flow of its own");
	/* the real client answers the server's numbers: confirmed */
	cr_assert_eq(c2s(A, 0xa0000000, 0x90000000, 0, &res), MOAT_R_ESTABLISHED);
}

Test(pickup, server_rst_ends_a_tentative_flow)
{
	struct moat_result res;

	/* a spoofed ACK gets the server's RST (SEQ = its ACK): exact, the flow closes */
	cr_assert_eq(c2s(A, 0x1000, 0x2000, 0, &res), MOAT_R_PICKUP);
	cr_assert_eq(s2c(MOAT_TCP_RST, 0x2000, 0, 0, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(res.flow->state, MOAT_TCPS_CLOSED);
	/* nothing more from that tuple is confirmed by it */
	cr_assert_eq(s2c(A, 0x2000, 0x1000, 0, &res), MOAT_R_ACK_NO_FLOW);
}

Test(pickup, syn_on_a_tentative_flow_starts_a_handshake)
{
	struct moat_result res;

	cr_assert_eq(c2s(A, 0x1000, 0x2000, 0, &res), MOAT_R_PICKUP);
	cr_assert_eq(c2s(MOAT_TCP_SYN, 0x5000, 0, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(s2c(MOAT_TCP_SYN | MOAT_TCP_ACK, 0x7000, 0x5001, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(c2s(A, 0x5001, 0x7001, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(res.flow->state, MOAT_TCPS_ESTABLISHED);
}

Test(pickup, off_is_the_old_behaviour)
{
	struct moat_result res;

	pol.pickup = MOAT_PICKUP_OFF;
	cr_assert_eq(c2s(PA, 0x1000, 0x2000, 100, &res), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(s2c(A, 0x2000, 0x1064, 0, &res), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(s2c(MOAT_TCP_RST, 0x2000, 0, 0, &res), MOAT_R_RST_NO_FLOW);
	cr_assert_eq(be.flows.count, 0);
}

Test(pickup, never_while_cookies_are_engaged)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	cr_assert_eq(c2s(A, 0x1000, 0x2000, 0, &res), MOAT_R_COOKIE_INVALID);
	cr_assert_eq(be.flows.count, 0);
	/* the server's side is not a cookie ACK (its port is not the listener's) */
	moat_policy_protect_port(&pol, 80);
	cr_assert_eq(s2c(A, 0x2000, 0x1000, 0, &res), MOAT_R_PICKUP);
}

/*
 * An ACK flood of random sources to one server: n packets over secs seconds
 * (evenly spread). Returns how many passed; *peak gets the most flows the table
 * held. A legitimate handshake and exchange run beside it, and must all pass.
 */
static u32 ack_flood(u32 n, u32 secs, size_t *peak)
{
	struct moat_result res;
	u64 step = (u64)secs * MOAT_NSEC_PER_SEC / n;
	u32 i, passed = 0, x = 0x9e3779b9;
	u32 c = 0x11110000, s = 0x22220000;

	*peak = 0;
	for (i = 0; i < n; i++) {
		enum moat_reason r;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		eng.now_ns += step;
		r = run(0x0b000000u | (x & 0xffffff), (u16)(1024 + (x >> 20)), SERVER, 80, A, x,
			x * 7, 1000, 0, &res);
		if (moat_reason_verdict(r) == MOAT_PASS)
			passed++;
		else
			cr_assert(r == MOAT_R_ACK_NO_FLOW, "flood drops are ack_no_flow (%d)", r);
		if (be.flows.count > *peak)
			*peak = be.flows.count;
		if (i % 1000 == 500) {
			/* a legitimate connection made and used during the flood */
			u16 port = (u16)(50000 + i / 1000);

			cr_assert_eq(run(CLIENT, port, SERVER, 80, MOAT_TCP_SYN, c, 0, 500, 0, &res),
				     MOAT_R_HANDSHAKE);
			cr_assert_eq(run(SERVER, 80, CLIENT, port, MOAT_TCP_SYN | MOAT_TCP_ACK, s,
					 c + 1, 500, 0, &res), MOAT_R_HANDSHAKE);
			cr_assert_eq(run(CLIENT, port, SERVER, 80, PA, c + 1, s + 1, 500, 100, &res),
				     MOAT_R_HANDSHAKE);
			cr_assert_eq(run(SERVER, 80, CLIENT, port, PA, s + 1, c + 101, 500, 1000,
					 &res), MOAT_R_ESTABLISHED);
			/* a download begun before moat: its server speaks, its client confirms */
			cr_assert_eq(run(SERVER, 443, CLIENT, port, A, s, c, 500, 1400, &res),
				     MOAT_R_PICKUP);
			cr_assert_eq(run(CLIENT, port, SERVER, 443, A, c, s + 1400, 500, 0, &res),
				     MOAT_R_ESTABLISHED);
		}
	}
	return passed;
}

Test(pickup, ack_flood_auto_budget_then_suspended)
{
	size_t peak;
	u32 passed = ack_flood(200000, 20, &peak);

	/* 10,000 ACK/s: the burst and at most two seconds of the rate, then suspended */
	cr_log_info("auto: %u of 200000 flood ACKs passed, peak %zu flows", passed, peak);
	cr_assert_leq(passed, pol.pickup_burst + 2 * pol.pickup_rate);
	cr_assert_geq(passed, pol.pickup_burst);
	/* tentative flows: what passed, plus the legitimate ones (2 per 1000 packets) */
	cr_assert_leq(peak, passed + 2 * 200);
}

Test(pickup, ack_flood_on_budget_only)
{
	size_t peak;
	u32 passed;

	pol.pickup = MOAT_PICKUP_ON;
	passed = ack_flood(200000, 20, &peak);
	/* never suspended: the burst, then the rate */
	cr_log_info("on: %u of 200000 flood ACKs passed, peak %zu flows", passed, peak);
	cr_assert_leq(passed, pol.pickup_burst + 20 * pol.pickup_rate);
	cr_assert_leq(peak, passed + 2 * 200);
}

Test(pickup, ack_flood_keeps_the_table_bounded)
{
	struct moat_result res;
	size_t peak;
	u32 passed;

	/* a budget as big as the flood: the table still holds at most its size */
	pol.pickup = MOAT_PICKUP_ON;
	pol.pickup_rate = 1000000;
	pol.pickup_burst = 1000000;
	passed = ack_flood(50000, 5, &peak);
	cr_assert_leq(peak, stab_capacity(&be.flows));
	cr_assert_geq(passed, 40000);
	/* established flows are never pushed out by tentative ones */
	cr_assert_eq(run(CLIENT, 50000, SERVER, 80, PA, 0x11110001 + 100, 0x22220001 + 1000, 500, 10,
			 &res), MOAT_R_ESTABLISHED);
}
