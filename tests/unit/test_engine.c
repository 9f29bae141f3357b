/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * core/engine.h through a tiny backend of fixed arrays: lists, SYN cookies,
 * per-source limits, protected ports and the no-flow paths.
 */
#include <criterion/criterion.h>

#include "array_be.h"
#include "frames.h"

/* ---- fixture ---- */

#define CLIENT 0x0a000001u
#define CLIENT2 0x0a000063u /* same /24 */
#define SERVER 0xc0a80002u
#define T0 ((u64)1700000000 * MOAT_NSEC_PER_SEC)
#define MS(x) ((u64)(x) * 1000000ULL)

static struct moat_policy pol;
static struct moat_be be;
static struct moat_engine eng;
static const struct moat_cookie_secrets sec = { { 0xfeed, 0xbeef }, { 0x1234, 0x5678 } };

static void setup(void)
{
	moat_policy_defaults(&pol);
	memset(&be, 0, sizeof(be));
	be.pol = &pol;
	eng.pol = &pol;
	eng.sec = &sec;
	eng.be = &be;
	eng.now_ns = T0;
	eng.ts_clock = 0x40000000;
}

TestSuite(engine, .init = setup);

static void list_add(u32 host, u8 plen, u8 action)
{
	array_be_list_add4(&be, host, plen, action);
}

/* Run one frame from src:sport to dst:dport through the engine. */
static enum moat_reason run4(u32 src, u16 sport, u32 dst, u16 dport, u8 flags, u32 seq, u32 ack,
			     const u8 *opts, size_t optlen, size_t payload, struct moat_result *res,
			     struct moat_pkt *pkt)
{
	u8 b[FRAME_MAX];
	struct tcp_spec s = { .family = 4, .saddr4 = src, .daddr4 = dst, .sport = sport,
			      .dport = dport, .seq = seq, .ack = ack, .flags = flags, .win = 1000,
			      .opts = opts, .optlen = optlen, .payload = payload };
	struct moat_pkt local;
	size_t n = build_tcp_frame(b, &s);

	return moat_engine_run(&eng, b, b + n, pkt ? pkt : &local, res);
}

static enum moat_reason c2s(u16 sport, u8 flags, u32 seq, u32 ack, struct moat_result *res)
{
	return run4(CLIENT, sport, SERVER, 80, flags, seq, ack, NULL, 0, 0, res, NULL);
}

static enum moat_reason s2c(u16 sport, u8 flags, u32 seq, u32 ack, struct moat_result *res)
{
	return run4(SERVER, 80, CLIENT, sport, flags, seq, ack, NULL, 0, 0, res, NULL);
}

/* A full tracked handshake (cookies off) from CLIENT:sport; returns the last reason. */
static enum moat_reason open_conn(u16 sport, u32 cisn, u32 sisn)
{
	struct moat_result res;
	enum moat_reason r;

	r = c2s(sport, MOAT_TCP_SYN, cisn, 0, &res);
	if (r != MOAT_R_HANDSHAKE)
		return r;
	cr_assert_eq(s2c(sport, MOAT_TCP_SYN | MOAT_TCP_ACK, sisn, cisn + 1, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(res.dir, 1);
	return c2s(sport, MOAT_TCP_ACK, cisn + 1, sisn + 1, &res);
}

/* ---- lists ---- */

Test(engine, denylisted)
{
	struct moat_result res;

	list_add(CLIENT, 32, MOAT_LIST_DENY);
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_DENYLISTED);
	/* replies towards a denied host too */
	cr_assert_eq(s2c(40000, MOAT_TCP_ACK, 1, 1, &res), MOAT_R_DENYLISTED);
	cr_assert_eq(be.flows_added, 0);
}

Test(engine, allowlisted)
{
	struct moat_result res;

	list_add(CLIENT, 32, MOAT_LIST_ALLOW);
	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_ALLOWLISTED);
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 12345, 999, &res), MOAT_R_ALLOWLISTED);
	cr_assert_eq(be.flows_added, 0);
}

Test(engine, deny_wins_tie_across_endpoints)
{
	struct moat_result res;

	list_add(SERVER, 32, MOAT_LIST_ALLOW);
	list_add(CLIENT, 32, MOAT_LIST_DENY);
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_DENYLISTED);
	cr_assert_eq(s2c(40000, MOAT_TCP_ACK, 1, 1, &res), MOAT_R_DENYLISTED);
}

Test(engine, longer_prefix_wins_across_endpoints)
{
	struct moat_result res;

	/* the client's whole /8 is denied, but this server is allow-listed by /32 */
	list_add(CLIENT, 8, MOAT_LIST_DENY);
	list_add(SERVER, 32, MOAT_LIST_ALLOW);
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_ALLOWLISTED);
	cr_assert_eq(s2c(40000, MOAT_TCP_SYN | MOAT_TCP_ACK, 1, 1, &res), MOAT_R_ALLOWLISTED);
	/* the other way round: a /16 allow loses to a /24 deny */
	setup();
	list_add(SERVER, 16, MOAT_LIST_ALLOW);
	list_add(CLIENT, 24, MOAT_LIST_DENY);
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_DENYLISTED);
	/* a host outside every entry is judged normally */
	cr_assert_eq(run4(0x0b000001, 40000, 0x0c000001, 80, MOAT_TCP_RST, 1, 0, NULL, 0, 0, &res,
			  NULL),
		     MOAT_R_RST_NO_FLOW);
}

/* ---- SYN cookies ---- */

static size_t syn_opts(u8 *o)
{
	size_t ol = 0;

	ol += opt_mss(o + ol, 1460);
	ol += opt_sackperm(o + ol);
	ol += opt_ts(o + ol, 0x1000, 0);
	ol += opt_nop(o + ol);
	ol += opt_ws(o + ol, 7);
	return ol;
}

Test(engine, cookie_always_round_trip)
{
	struct moat_result res;
	struct moat_pkt pkt;
	struct moat_cookie c;
	u8 o[40], ao[12];
	size_t aol;
	u32 dir = 9;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	cr_assert_eq(run4(CLIENT, 40000, SERVER, 80, MOAT_TCP_SYN, 7777, 0, o, syn_opts(o), 0, &res,
			  &pkt),
		     MOAT_R_SYN_COOKIE);
	cr_assert_eq(moat_reason_verdict(MOAT_R_SYN_COOKIE), MOAT_TX);
	cr_assert_eq(be.flows_added, 0, "a cookie keeps no state");
	cr_assert_null(res.flow);
	c = res.cookie;
	cr_assert_eq(c.mss, 1460);

	aol = opt_nop(ao);
	aol += opt_nop(ao + aol);
	aol += opt_ts(ao + aol, 0x1001, c.tsval);
	cr_assert_eq(run4(CLIENT, 40000, SERVER, 80, MOAT_TCP_ACK, 7778, c.isn + 1, ao, aol, 0, &res,
			  &pkt),
		     MOAT_R_COOKIE_VALID);
	cr_assert_eq(be.flows_added, 1);
	cr_assert_not_null(res.flow);
	cr_assert_eq(res.flow->state, MOAT_TCPS_ESTABLISHED);
	cr_assert(res.flow->flags & MOAT_FLOW_COOKIE);
	/* our SYN-ACK's window (65535, a SYN's: unscaled) and the scale it announced */
	cr_assert(res.flow->flags & MOAT_FLOW_SCALED);
	cr_assert_eq(res.flow->peer[1].win, 65535);
	cr_assert_eq(res.flow->peer[1].wscale, pol.synack_wscale);
	cr_assert_eq(res.flow->peer[0].wscale, 7);
	cr_assert_eq(res.opts.mss, 1460);
	cr_assert(res.opts.has_ts);
	cr_assert(res.opts.has_wscale);
	cr_assert_eq(res.opts.wscale, 7);
	cr_assert(res.opts.sack_ok);
	cr_assert_not(res.opts.ecn);
	cr_assert(moat_be_flow_find(&be, &pkt, &dir) == res.flow);
	cr_assert_eq(dir, 0);

	/* the connection then flows both ways as established */
	cr_assert_eq(run4(CLIENT, 40000, SERVER, 80, MOAT_TCP_ACK | MOAT_TCP_PSH, 7778, c.isn + 1,
			  NULL, 0, 100, &res, NULL),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(s2c(40000, MOAT_TCP_ACK | MOAT_TCP_PSH, c.isn + 1, 7878, &res),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(res.dir, 1);
	cr_assert_eq(be.flows_added, 1);
}

Test(engine, cookie_random_ack_invalid)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 0x11111111, 0x22222222, &res), MOAT_R_COOKIE_INVALID);
	cr_assert_eq(be.flows_added, 0);
}

Test(engine, cookie_ack_other_port_invalid)
{
	struct moat_result res;
	u32 isn;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 500, 0, &res), MOAT_R_SYN_COOKIE);
	isn = res.cookie.isn;
	cr_assert_eq(c2s(40001, MOAT_TCP_ACK, 501, isn + 1, &res), MOAT_R_COOKIE_INVALID);
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 501, isn + 1, &res), MOAT_R_COOKIE_VALID);
	/* the same ACK later than two slots */
	setup();
	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 500, 0, &res), MOAT_R_SYN_COOKIE);
	isn = res.cookie.isn;
	eng.now_ns += 200 * MOAT_NSEC_PER_SEC;
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 501, isn + 1, &res), MOAT_R_COOKIE_INVALID);
}

Test(engine, cookies_off_tracks_handshake)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 100, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(be.flows_added, 1);
	cr_assert_eq(res.flow->state, MOAT_TCPS_SYN_SENT);
	cr_assert_eq(s2c(40000, MOAT_TCP_SYN | MOAT_TCP_ACK, 900, 101, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(res.flow->state, MOAT_TCPS_SYN_RECV);
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 101, 901, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(res.flow->state, MOAT_TCPS_ESTABLISHED);
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 101, 901, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(be.flows_added, 1);
}

Test(engine, cookies_auto_engage_above_trigger)
{
	struct moat_result res;
	int i;

	pol.syn_cookies = MOAT_COOKIES_AUTO;
	pol.syn_trigger = 3;
	for (i = 0; i < 3; i++)
		cr_assert_eq(c2s((u16)(40000 + i), MOAT_TCP_SYN, 1, 0, &res), MOAT_R_HANDSHAKE,
			     "SYN %d", i);
	cr_assert_eq(c2s(40003, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_SYN_COOKIE);
	/*
	 * While engaged an unknown ACK is a bad cookie, never picked up; after the
	 * hold it is picked up mid-stream (unconfirmed), or out of state without pickup.
	 */
	cr_assert_eq(c2s(41000, MOAT_TCP_ACK, 5, 5, &res), MOAT_R_COOKIE_INVALID);
	eng.now_ns += (u64)(pol.cookie_hold_s + 1) * MOAT_NSEC_PER_SEC;
	cr_assert_eq(c2s(41000, MOAT_TCP_ACK, 5, 5, &res), MOAT_R_PICKUP);
	pol.pickup = MOAT_PICKUP_OFF;
	cr_assert_eq(c2s(41001, MOAT_TCP_ACK, 5, 5, &res), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(c2s(40010, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_HANDSHAKE);
}

/* ---- per-source limits ---- */

Test(engine, source_syn_rate)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	pol.source.syn_rate = 2;
	pol.source.syn_burst = 2;
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_HANDSHAKE);
	eng.now_ns += MS(100);
	cr_assert_eq(c2s(40001, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_HANDSHAKE);
	eng.now_ns += MS(100);
	cr_assert_eq(c2s(40002, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_SOURCE_RATE);
	cr_assert_eq(be.flows_added, 2);
	/* another source has its own bucket */
	cr_assert_eq(run4(CLIENT2, 40002, SERVER, 80, MOAT_TCP_SYN, 1, 0, NULL, 0, 0, &res, NULL),
		     MOAT_R_HANDSHAKE);
	/* half a second later one token is back */
	eng.now_ns += MS(400);
	cr_assert_eq(c2s(40002, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(c2s(40003, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_SOURCE_RATE);
}

Test(engine, prefix_syn_rate)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	pol.prefix.syn_rate = 1;
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(run4(CLIENT2, 40000, SERVER, 80, MOAT_TCP_SYN, 1, 0, NULL, 0, 0, &res, NULL),
		     MOAT_R_SOURCE_RATE, "same /24");
	cr_assert_eq(run4(0x0a000101, 40000, SERVER, 80, MOAT_TCP_SYN, 1, 0, NULL, 0, 0, &res, NULL),
		     MOAT_R_HANDSHAKE, "another /24");
}

Test(engine, source_concurrent)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	pol.source.concurrent = 1;
	cr_assert_eq(open_conn(40000, 1000, 5000), MOAT_R_HANDSHAKE);
	cr_assert_eq(c2s(40001, MOAT_TCP_SYN, 2000, 0, &res), MOAT_R_SOURCE_CONCURRENT);
	/* the first one is reset: the slot is free again */
	cr_assert_eq(s2c(40000, MOAT_TCP_RST, 5001, 0, &res), MOAT_R_ESTABLISHED);
	cr_assert_eq(res.flow->state, MOAT_TCPS_CLOSED);
	cr_assert_eq(open_conn(40001, 2000, 6000), MOAT_R_HANDSHAKE);
	cr_assert_eq(c2s(40002, MOAT_TCP_SYN, 3000, 0, &res), MOAT_R_SOURCE_CONCURRENT);
}

Test(engine, source_concurrent_two_open_handshakes)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	pol.source.concurrent = 1;
	/* two SYNs before either completes: the second completion is refused */
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1000, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(c2s(40001, MOAT_TCP_SYN, 2000, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(s2c(40000, MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1001, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(s2c(40001, MOAT_TCP_SYN | MOAT_TCP_ACK, 6000, 2001, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 1001, 5001, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(c2s(40001, MOAT_TCP_ACK, 2001, 6001, &res), MOAT_R_SOURCE_CONCURRENT);
	cr_assert_eq(res.flow->state, MOAT_TCPS_SYN_RECV);
}

Test(engine, prefix_concurrent)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	pol.prefix.concurrent = 1;
	cr_assert_eq(open_conn(40000, 1000, 5000), MOAT_R_HANDSHAKE);
	cr_assert_eq(run4(CLIENT2, 40000, SERVER, 80, MOAT_TCP_SYN, 1, 0, NULL, 0, 0, &res, NULL),
		     MOAT_R_SOURCE_CONCURRENT, "same /24 as a connected client");
	cr_assert_eq(run4(0x0a000101, 40000, SERVER, 80, MOAT_TCP_SYN, 1, 0, NULL, 0, 0, &res, NULL),
		     MOAT_R_HANDSHAKE, "another /24");
}

Test(engine, source_new_conn)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	pol.source.new_conn = 1;
	pol.source.new_conn_window_s = 60;
	cr_assert_eq(open_conn(40000, 1000, 5000), MOAT_R_HANDSHAKE);
	eng.now_ns += MS(30000);
	cr_assert_eq(c2s(40001, MOAT_TCP_SYN, 2000, 0, &res), MOAT_R_SOURCE_NEW_CONN);
	/* two windows later the count has aged out */
	eng.now_ns += MS(100000);
	cr_assert_eq(open_conn(40002, 3000, 7000), MOAT_R_HANDSHAKE);
}

Test(engine, cookie_completion_counts_against_limits)
{
	struct moat_result res;
	u32 isn;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	pol.source.concurrent = 1;
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 500, 0, &res), MOAT_R_SYN_COOKIE);
	isn = res.cookie.isn;
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 501, isn + 1, &res), MOAT_R_COOKIE_VALID);
	cr_assert_eq(c2s(40001, MOAT_TCP_SYN, 600, 0, &res), MOAT_R_SOURCE_CONCURRENT);
}

/* ---- ports ---- */

Test(engine, protect_ports)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	moat_policy_protect_port(&pol, 80);
	cr_assert_eq(run4(CLIENT, 40000, SERVER, 22, MOAT_TCP_SYN, 1, 0, NULL, 0, 0, &res, NULL),
		     MOAT_R_NOT_PROTECTED);
	cr_assert_eq(be.flows_added, 1, "unprotected ports are still tracked");
	/* no cookie to check on an unprotected port: picked up, or out of state without pickup */
	cr_assert_eq(run4(CLIENT, 40001, SERVER, 22, MOAT_TCP_ACK, 1, 1, NULL, 0, 0, &res, NULL),
		     MOAT_R_PICKUP);
	pol.pickup = MOAT_PICKUP_OFF;
	cr_assert_eq(run4(CLIENT, 40002, SERVER, 22, MOAT_TCP_ACK, 1, 1, NULL, 0, 0, &res, NULL),
		     MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(run4(CLIENT, 40000, SERVER, 80, MOAT_TCP_SYN, 1, 0, NULL, 0, 0, &res, NULL),
		     MOAT_R_SYN_COOKIE);
}

/* ---- no flow ---- */

Test(engine, no_flow_segments)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	pol.pickup = MOAT_PICKUP_OFF; /* with pickup: test_pickup.c */
	cr_assert_eq(c2s(40000, MOAT_TCP_RST, 1, 0, &res), MOAT_R_RST_NO_FLOW);
	cr_assert_eq(c2s(40000, MOAT_TCP_RST | MOAT_TCP_ACK, 1, 1, &res), MOAT_R_RST_NO_FLOW);
	cr_assert_eq(c2s(40000, MOAT_TCP_ACK, 1, 1, &res), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(s2c(40000, MOAT_TCP_SYN | MOAT_TCP_ACK, 1, 1, &res), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(c2s(40000, MOAT_TCP_FIN | MOAT_TCP_ACK, 1, 1, &res), MOAT_R_ACK_NO_FLOW);
	cr_assert_eq(be.flows_added, 0);
	pol.rst_policy = MOAT_RST_OFF;
	cr_assert_eq(c2s(40000, MOAT_TCP_RST, 1, 0, &res), MOAT_R_NOT_PROTECTED);
}

Test(engine, synack_no_flow_with_cookies)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	cr_assert_eq(s2c(40000, MOAT_TCP_SYN | MOAT_TCP_ACK, 1, 1, &res), MOAT_R_ACK_NO_FLOW);
}

Test(engine, table_full)
{
	struct moat_result res;
	int i;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	for (i = 0; i < NSLOTS; i++)
		cr_assert_eq(c2s((u16)(30000 + i), MOAT_TCP_SYN, 1, 0, &res), MOAT_R_HANDSHAKE);
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN, 1, 0, &res), MOAT_R_TABLE_FULL);
}

/* ---- stateless ---- */

Test(engine, malformed_bad_flags_land)
{
	struct moat_result res;
	u8 b[FRAME_MAX];
	struct tcp_spec s = { .family = 4, .saddr4 = CLIENT, .daddr4 = SERVER, .sport = 40000,
			      .dport = 80, .flags = MOAT_TCP_SYN, .win = 1 };
	struct moat_pkt pkt;
	size_t n = build_tcp_frame(b, &s);

	list_add(CLIENT, 32, MOAT_LIST_ALLOW); /* stateless checks come before the lists */
	cr_assert_eq(moat_engine_run(&eng, b, b + n - 1, &pkt, &res), MOAT_R_MALFORMED);
	cr_assert_eq(c2s(40000, MOAT_TCP_SYN | MOAT_TCP_FIN, 1, 0, &res), MOAT_R_BAD_FLAGS);
	cr_assert_eq(c2s(40000, 0, 1, 0, &res), MOAT_R_BAD_FLAGS);
	cr_assert_eq(c2s(40000, MOAT_TCP_FIN | MOAT_TCP_PSH | MOAT_TCP_URG, 1, 0, &res),
		     MOAT_R_BAD_FLAGS);
	cr_assert_eq(run4(CLIENT, 40000, CLIENT, 80, MOAT_TCP_SYN, 1, 0, NULL, 0, 0, &res, NULL),
		     MOAT_R_LAND);
	cr_assert_eq(be.flows_added, 0);
}

Test(engine, not_tcp_not_protected)
{
	struct moat_result res;
	struct moat_pkt pkt;
	u8 b[FRAME_MAX];
	size_t off = put_eth(b, 0x0806);

	memset(b + off, 0, 28);
	cr_assert_eq(moat_engine_run(&eng, b, b + off + 28, &pkt, &res), MOAT_R_NOT_PROTECTED);
	off = put_eth(b, 0x0800);
	off += put_ipv4(b + off, 5, 28, 0, 64, 17, CLIENT, SERVER);
	memset(b + off, 0, 8);
	cr_assert_eq(moat_engine_run(&eng, b, b + off + 8, &pkt, &res), MOAT_R_NOT_PROTECTED);
	list_add(CLIENT, 32, MOAT_LIST_DENY);
	cr_assert_eq(moat_engine_run(&eng, b, b + off + 8, &pkt, &res), MOAT_R_DENYLISTED);
}

Test(engine, ipv6_cookie_round_trip)
{
	struct moat_result res;
	struct moat_pkt pkt;
	u8 b[FRAME_MAX], o[4];
	struct tcp_spec s = { .family = 6, .sport = 50000, .dport = 443, .seq = 0xFFFFFFFF,
			      .flags = MOAT_TCP_SYN, .win = 100, .opts = o };
	size_t n;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	s.optlen = opt_mss(o, 1400);
	s.saddr6[0] = 0x20;
	s.saddr6[15] = 1;
	s.daddr6[0] = 0x20;
	s.daddr6[15] = 2;
	n = build_tcp_frame(b, &s);
	cr_assert_eq(moat_engine_run(&eng, b, b + n, &pkt, &res), MOAT_R_SYN_COOKIE);
	cr_assert_eq(res.cookie.mss, 1400);
	s.flags = MOAT_TCP_ACK;
	s.seq = 0;
	s.ack = res.cookie.isn + 1;
	s.optlen = 0;
	n = build_tcp_frame(b, &s);
	cr_assert_eq(moat_engine_run(&eng, b, b + n, &pkt, &res), MOAT_R_COOKIE_VALID);
	cr_assert_eq(res.opts.mss, 1400);
	cr_assert_not(res.opts.has_ts);
}

/*
 * TCP Fast Open under cookies (issue 12): a SYN with a TFO cookie option and
 * data gets a plain cookie SYN-ACK acknowledging the SYN alone, sized without
 * the data; Linux's client then sends the data again from ISN + 1, and that
 * segment carries the cookie ACK.
 */
Test(engine, tfo_syn_under_cookies)
{
	static const u8 tfo[12] = { 34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1 };
	struct moat_result res;
	struct moat_reply r;
	struct moat_pkt pkt;
	struct moat_cookie c;
	u8 o[40], ao[12];
	size_t ol, aol;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	ol = syn_opts(o);
	memcpy(o + ol, tfo, sizeof(tfo));
	ol = opt_pad(o, ol + sizeof(tfo));
	cr_assert_eq(run4(CLIENT, 40100, SERVER, 80, MOAT_TCP_SYN, 9000, 0, o, ol, 200, &res, &pkt),
		     MOAT_R_SYN_COOKIE);
	cr_assert(pkt.opt.present & MOAT_OPT_TFO);
	cr_assert_eq(pkt.opt.tfo_len, 8);
	cr_assert_eq(pkt.payload_len, 200);
	c = res.cookie;
	moat_synack_build(&r, &pkt, &c, pol.synack_wscale);
	cr_assert_eq(moat_get_be32(r.tcp + 8), 9001, "the SYN-ACK acknowledges the SYN only");
	cr_assert_eq(moat_reply_len(&pkt, r.tcp_len), 14 + 20 + r.tcp_len, "no data in the reply");

	aol = opt_nop(ao);
	aol += opt_nop(ao + aol);
	aol += opt_ts(ao + aol, 0x1001, c.tsval);
	cr_assert_eq(run4(CLIENT, 40100, SERVER, 80, MOAT_TCP_ACK | MOAT_TCP_PSH, 9001, c.isn + 1, ao,
			  aol, 200, &res, NULL),
		     MOAT_R_COOKIE_VALID, "the data again, from ISN + 1, completes the handshake");
	cr_assert_eq(s2c(40100, MOAT_TCP_ACK, c.isn + 1, 9201, &res), MOAT_R_ESTABLISHED);
}

/*
 * The SYN proxy without timestamps (Windows' default): the client was told our
 * SYN-ACK's scale, the server picks its own; windows are rescaled between them.
 * A cookie from a SYN with window scale WS and no TS, the ACK, then the server's
 * SYN-ACK announcing server_ws (-1: none); returns the established flow.
 */
static struct moat_flow *proxied_without_ts(u16 sport, int server_ws)
{
	struct moat_result res;
	struct moat_cookie c;
	u8 o[40], so[40];
	size_t ol = 0, sol = 0;

	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	pol.syn_proxy = 1;
	ol += opt_mss(o + ol, 1460);
	ol += opt_nop(o + ol);
	ol += opt_nop(o + ol);
	ol += opt_sackperm(o + ol);
	ol += opt_nop(o + ol);
	ol += opt_ws(o + ol, 10);
	cr_assert_eq(run4(CLIENT, sport, SERVER, 80, MOAT_TCP_SYN, 7777, 0, o, ol, 0, &res, NULL),
		     MOAT_R_SYN_COOKIE);
	c = res.cookie;
	cr_assert_eq(run4(CLIENT, sport, SERVER, 80, MOAT_TCP_ACK, 7778, c.isn + 1, NULL, 0, 0, &res,
			  NULL),
		     MOAT_R_COOKIE_VALID);
	cr_assert_eq(res.flow->state, MOAT_TCPS_PROXY_SYN);
	cr_assert_eq(res.flow->proxy_wscale, pol.synack_wscale, "the scale our SYN-ACK told");
	sol += opt_mss(so + sol, 1460);
	sol += opt_nop(so + sol);
	sol += opt_nop(so + sol);
	sol += opt_sackperm(so + sol);
	if (server_ws >= 0) {
		sol += opt_nop(so + sol);
		sol += opt_ws(so + sol, (u8)server_ws);
	}
	cr_assert_eq(run4(SERVER, 80, CLIENT, sport, MOAT_TCP_SYN | MOAT_TCP_ACK, 50000, 7778, so,
			  sol, 0, &res, NULL),
		     MOAT_R_PROXY_ACK);
	cr_assert_eq(res.flow->state, MOAT_TCPS_ESTABLISHED);
	return res.flow;
}

Test(engine, proxy_rescales_the_servers_window_for_the_client)
{
	struct moat_flow *f = proxied_without_ts(41000, 10);

	cr_assert_eq(pol.synack_wscale, 7);
	cr_assert_eq(f->peer[1].wscale, 10);
	/* 63 x 2^10 bytes from the server: the client, scaling by 2^7, must read 504 */
	cr_assert_eq(moat_proxy_window(f, 1, 63), 504);
	cr_assert_eq(moat_proxy_window(f, 1, 0), 0, "a closed window stays closed");
	cr_assert_eq(moat_proxy_window(f, 1, 8191), 65528);
	cr_assert_eq(moat_proxy_window(f, 1, 8192), 65535, "clamped to the field");
	cr_assert_eq(moat_proxy_window(f, 0, 1234), 1234, "both sides scale by the client's 10");
}

Test(engine, proxy_rounds_down_but_keeps_a_window_open)
{
	struct moat_flow *f = proxied_without_ts(41001, 4);

	cr_assert_eq(moat_proxy_window(f, 1, 100), 12, "1600 bytes in units of 128: 12");
	cr_assert_eq(moat_proxy_window(f, 1, 5), 1, "80 bytes open: not 0");
}

Test(engine, proxy_scales_the_clients_window_for_a_server_without_scaling)
{
	struct moat_flow *f = proxied_without_ts(41002, -1);
	struct moat_result res;
	struct moat_pkt pkt;

	cr_assert_eq(f->flags & MOAT_FLOW_SCALED, 0, "the server announced no scale");
	cr_assert_eq(moat_proxy_window(f, 1, 60000), 468, "60000 bytes in units of 128");
	cr_assert_eq(moat_proxy_window(f, 0, 50), 51200);
	cr_assert_eq(moat_proxy_window(f, 0, 1000), 65535);
	/* a client segment enters the engine with its window in the server's view */
	cr_assert_eq(run4(CLIENT, 41002, SERVER, 80, MOAT_TCP_ACK | MOAT_TCP_PSH, 7778,
			  f->peer[0].ack + f->seq_delta, NULL, 0, 10, &res, &pkt),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(pkt.window, 65535, "run4's 1000 x 2^10, clamped");
}

Test(engine, proxy_consumes_the_servers_second_syn_ack)
{
	struct moat_flow *f = proxied_without_ts(41003, 10);
	struct moat_result res;
	u8 so[8];
	size_t sol = opt_mss(so, 1460);

	/* the answer to the proxy's second SYN: the same SYN-ACK again */
	cr_assert_eq(run4(SERVER, 80, CLIENT, 41003, MOAT_TCP_SYN | MOAT_TCP_ACK, 50000, 7778, so,
			  sol, 0, &res, NULL),
		     MOAT_R_PROXY_ACK, "answered by the proxy, never the client's to see");
	cr_assert_eq(res.flow, f);
	cr_assert_eq(f->state, MOAT_TCPS_ESTABLISHED);
	/*
	 * The same SYN-ACK a second later: our ACK was lost. It goes on to the client,
	 * whose answer completes the server's handshake (a server that speaks first
	 * waits for it).
	 */
	eng.now_ns += MOAT_SEC(1);
	cr_assert_eq(run4(SERVER, 80, CLIENT, 41003, MOAT_TCP_SYN | MOAT_TCP_ACK, 50000, 7778, so,
			  sol, 0, &res, NULL),
		     MOAT_R_ESTABLISHED, "a retransmitted SYN-ACK reaches the client");
	cr_assert_eq(res.dir, 1);
}
