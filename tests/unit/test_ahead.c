/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What moat-dp's burst loop makes ahead of the engine and hands it in
 * struct moat_be_key (flow/backend.h): SYN cookies (moat_be_cookies), the
 * lists' answers and the flow's entry (moat_be_find_ahead). The engine must
 * take them where they apply, decide exactly as it does without them, and
 * make its own where they do not apply (another slot, another secret, another
 * address, a table changed since).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/engine_types.h"
#include "flow/backend.h"
#include "frames.h"

#define T0 ((u64)1700000000 * MOAT_NSEC_PER_SEC)
#define SERVER 0xc0a80002u

static struct moat_policy pol;
static struct moat_be be;
static struct moat_engine eng;
static struct moat_cidr_list allow, deny;
static const struct moat_cookie_secrets sec = { { 0xfeed, 0xbeef }, { 0x1234, 0x5678 } };
static u64 rng = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void add(struct moat_cidr_list *l, const char *text)
{
	struct moat_cidr c;

	cr_assert_eq(moat_cidr_parse(text, &c), 0, "%s", text);
	cr_assert_eq(moat_cidr_list_add(l, &c), 0);
}

static void setup(void)
{
	moat_policy_defaults(&pol);
	pol.syn_cookies = MOAT_COOKIES_ALWAYS;
	cr_assert_eq(moat_be_init(&be, 4096, 1024, 42), 0);
	memset(&allow, 0, sizeof(allow));
	memset(&deny, 0, sizeof(deny));
	add(&deny, "100.64.0.0/10");
	add(&allow, "100.64.1.0/24");
	moat_be_use(&be, &pol, &allow, &deny);
	memset(&eng, 0, sizeof(eng));
	eng.pol = &pol;
	eng.sec = &sec;
	eng.be = &be;
	eng.now_ns = T0;
	eng.ts_clock = 0x40000000;
	moat_be_set_clock(&be, T0);
}

static void teardown(void)
{
	moat_be_free(&be);
	moat_cidr_list_free(&allow);
	moat_cidr_list_free(&deny);
}

TestSuite(ahead, .init = setup, .fini = teardown);

/* A SYN to the server's port 80 from src, its options by combo (MSS, WS, SACK, TS). */
static void syn_pkt(u32 src, unsigned int combo, u8 *frame, struct moat_pkt *pkt)
{
	u8 opts[40];
	size_t n = 0;
	struct tcp_spec s = { .family = 4, .saddr4 = src, .daddr4 = SERVER,
			      .sport = (u16)(1024 + rnd() % 60000), .dport = 80,
			      .seq = (u32)rnd(), .flags = MOAT_TCP_SYN, .win = 64240 };

	if (combo & 1) {
		opts[n++] = 2, opts[n++] = 4, opts[n++] = 0x05, opts[n++] = (u8)(0x00 + rnd());
	}
	if (combo & 2)
		opts[n++] = 1, opts[n++] = 3, opts[n++] = 3, opts[n++] = (u8)(rnd() % 15);
	if (combo & 4)
		opts[n++] = 1, opts[n++] = 1, opts[n++] = 4, opts[n++] = 2;
	if (combo & 8) {
		u32 ts = (u32)rnd();

		opts[n++] = 1, opts[n++] = 1, opts[n++] = 8, opts[n++] = 10;
		memcpy(opts + n, &ts, 4);
		memset(opts + n + 4, 0, 4);
		n += 8;
	}
	s.opts = opts;
	s.optlen = n;
	n = build_tcp_frame(frame, &s);
	cr_assert_eq(moat_parse(frame, frame + n, pkt), MOAT_PARSE_TCP);
}

static void key_of(const struct moat_pkt *pkt, struct moat_be_key *k)
{
	memset(k, 0, sizeof(*k));
	k->swapped = moat_flow_key_make(pkt, &k->k);
	k->hash = stab_hash(&be.flows, &k->k);
}

static u32 now_slot(void)
{
	return moat_cookie_slot(moat_cookie_now(&eng));
}

/* Cookies made ahead are the cookies the engine makes, and it sends them. */
Test(ahead, cookies_taken_and_the_same)
{
	struct moat_result res_ahead, res_alone;
	struct moat_be_key keys[32], alone;
	struct moat_pkt pkts[32];
	u8 frames[32][128];
	u16 idx[32];
	unsigned int i, round;

	for (round = 0; round < 200; round++) {
		for (i = 0; i < 32; i++) {
			syn_pkt((u32)rnd() | 0x01000000u, i, frames[i], &pkts[i]);
			key_of(&pkts[i], &keys[i]);
			idx[i] = (u16)i;
		}
		moat_be_cookies(&be, &sec.cur, now_slot(), eng.ts_clock, pkts, keys, idx, 32);
		for (i = 0; i < 32; i++) {
			cr_assert_eq(keys[i].cookie_key, &sec.cur);
			cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkts[i], &keys[i],
							&res_ahead),
				     MOAT_R_SYN_COOKIE);
			key_of(&pkts[i], &alone);
			cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkts[i], &alone,
							&res_alone),
				     MOAT_R_SYN_COOKIE);
			cr_assert_eq(res_ahead.cookie.isn, res_alone.cookie.isn);
			cr_assert_eq(res_ahead.cookie.tsval, res_alone.cookie.tsval);
			cr_assert_eq(res_ahead.cookie.mss, res_alone.cookie.mss);
		}
	}
}

/* The engine takes a cookie made ahead: a marked one comes out as it went in. */
Test(ahead, cookie_ahead_is_what_goes_out)
{
	struct moat_result res;
	struct moat_be_key k;
	struct moat_pkt pkt;
	u8 frame[128];

	syn_pkt(0x0b000001, 15, frame, &pkt);
	key_of(&pkt, &k);
	k.cookie_key = &sec.cur;
	k.cookie_slot = now_slot();
	k.cookie = (struct moat_cookie){ .isn = 0x5eed, .tsval = 7, .mss = 1234 };
	cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res),
		     MOAT_R_SYN_COOKIE);
	cr_assert_eq(res.cookie.isn, 0x5eed);
	cr_assert_eq(res.cookie.mss, 1234);
}

/* Made in another slot or by another secret: the engine makes its own. */
Test(ahead, stale_cookie_not_taken)
{
	struct moat_result res, fresh;
	struct moat_be_key k;
	struct moat_pkt pkt;
	u8 frame[128];

	syn_pkt(0x0b000002, 15, frame, &pkt);
	cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, NULL, &fresh),
		     MOAT_R_SYN_COOKIE);
	key_of(&pkt, &k);
	k.cookie_key = &sec.cur;
	k.cookie_slot = now_slot() - 1;
	k.cookie = (struct moat_cookie){ .isn = 0x5eed };
	moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res);
	cr_assert_eq(res.cookie.isn, fresh.cookie.isn, "a cookie of the slot before was taken");
	k.cookie_key = &sec.prev;
	k.cookie_slot = now_slot();
	moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res);
	cr_assert_eq(res.cookie.isn, fresh.cookie.isn, "a cookie of the previous secret was taken");
}

/* The lists' answers looked up ahead, as the scan gives them: the same verdicts. */
Test(ahead, list_answers_the_same_verdicts)
{
	static const u32 srcs[] = { 0x64400001u, 0x64400101u, 0x64410203u, 0x0b000003u };
	static const enum moat_reason want[] = { MOAT_R_DENYLISTED, MOAT_R_ALLOWLISTED,
						 MOAT_R_DENYLISTED, MOAT_R_SYN_COOKIE };
	struct moat_result res;
	struct moat_be_key k;
	struct moat_pkt pkt;
	u8 frame[128];
	unsigned int i;

	for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		syn_pkt(srcs[i], 0, frame, &pkt);
		cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, NULL, &res), want[i],
			     "scan, source %u", i);
		key_of(&pkt, &k);
		k.lists_ahead = 1;
		k.list_addr[0] = pkt.saddr.w[0];
		k.list_addr[1] = pkt.daddr.w[0];
		k.list_action = MOAT_LIST_ACTION(
			moat_list_pick(moat_lists_decide(&allow, &deny, &pkt.saddr, 4),
				       moat_lists_decide(&allow, &deny, &pkt.daddr, 4)));
		cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res), want[i],
			     "ahead, source %u", i);
	}
}

/* An action ahead is taken for its own pair of addresses only. */
Test(ahead, list_action_by_addresses)
{
	struct moat_result res;
	struct moat_be_key k;
	struct moat_pkt pkt;
	u8 frame[128];
	int side;

	syn_pkt(0x0b000004, 0, frame, &pkt);
	key_of(&pkt, &k);
	k.lists_ahead = 1;
	k.list_addr[0] = pkt.saddr.w[0];
	k.list_addr[1] = pkt.daddr.w[0];
	k.list_action = MOAT_LIST_DENY; /* marked: taken, the SYN drops */
	cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res),
		     MOAT_R_DENYLISTED);
	for (side = 0; side < 2; side++) { /* another pair's action: the scan decides */
		k.list_addr[side] ^= 1;
		cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res),
			     MOAT_R_SYN_COOKIE, "taken for another %s", side ? "destination" : "source");
		k.list_addr[side] ^= 1;
	}
}

/* A segment of the connection client:sport <-> SERVER:80; from the server if reply. */
static void segment(u32 client, u16 sport, int reply, u8 flags, u32 seq, u32 ack, u8 *frame,
		    struct moat_pkt *pkt)
{
	struct tcp_spec s = { .family = 4, .saddr4 = reply ? SERVER : client,
			      .daddr4 = reply ? client : SERVER, .sport = reply ? 80 : sport,
			      .dport = reply ? sport : 80, .seq = seq, .ack = ack, .flags = flags,
			      .win = 64240 };
	size_t n = build_tcp_frame(frame, &s);

	cr_assert_eq(moat_parse(frame, frame + n, pkt), MOAT_PARSE_TCP);
}

/* The handshake, its flow tracked from the SYN (cookies off); then the client's ACK in pkt. */
static void connect_then_ack(u32 client, u16 sport, u8 *frame, struct moat_pkt *pkt)
{
	struct moat_result res;

	pol.syn_cookies = MOAT_COOKIES_OFF;
	segment(client, sport, 0, MOAT_TCP_SYN, 1000, 0, frame, pkt);
	cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, pkt, NULL, &res), MOAT_R_HANDSHAKE);
	segment(client, sport, 1, MOAT_TCP_SYN | MOAT_TCP_ACK, 5000, 1001, frame, pkt);
	cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, pkt, NULL, &res), MOAT_R_HANDSHAKE);
	segment(client, sport, 0, MOAT_TCP_ACK, 1001, 5001, frame, pkt);
	moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, pkt, NULL, &res);
}

/* A connection's ACK in pkt, its flow's entry found ahead into k. */
static void ack_found_ahead(u32 client, u16 sport, u8 *frame, struct moat_pkt *pkt,
			    struct moat_be_key *k)
{
	connect_then_ack(client, sport, frame, pkt);
	key_of(pkt, k);
	moat_be_find_ahead(&be.flows, k);
	cr_assert_not_null(k->found);
}

/* The flow's entry found ahead is taken: the same verdict, and a marked answer decides. */
Test(ahead, flow_found_ahead_taken)
{
	struct moat_result res;
	struct moat_be_key k;
	struct moat_pkt pkt;
	u8 frame[128];

	ack_found_ahead(0x0b000010, 40000, frame, &pkt, &k);
	cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res),
		     MOAT_R_ESTABLISHED);
	cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, NULL, &res),
		     MOAT_R_ESTABLISHED);
	k.found = NULL; /* marked: "not there", and the table unchanged since */
	cr_assert_neq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res),
		      MOAT_R_ESTABLISHED, "the answer found ahead was not taken");
}

/* Found ahead, then removed: the engine looks again and finds no flow. */
Test(ahead, flow_found_ahead_then_removed)
{
	struct moat_result res;
	struct moat_be_key k;
	struct moat_pkt pkt;
	u8 frame[128];

	ack_found_ahead(0x0b000011, 40001, frame, &pkt, &k);
	cr_assert_eq(stab_remove_h(&be.flows, &k.k, k.hash), 0);
	cr_assert_neq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res),
		      MOAT_R_ESTABLISHED, "a removed flow's entry found ahead was taken");
}

/* Not there ahead, then added (a frame before it in the burst): the engine finds it. */
Test(ahead, flow_absent_ahead_then_added)
{
	struct moat_result res;
	struct moat_be_key k;
	struct moat_pkt pkt;
	u8 frame[128];

	segment(0x0b000012, 40002, 0, MOAT_TCP_ACK, 1001, 5001, frame, &pkt);
	key_of(&pkt, &k);
	moat_be_find_ahead(&be.flows, &k);
	cr_assert_null(k.found);
	connect_then_ack(0x0b000012, 40002, frame, &pkt);
	cr_assert_eq(moat_be_run_parsed(&be, &eng, MOAT_PARSE_TCP, &pkt, &k, &res),
		     MOAT_R_ESTABLISHED, "a flow added since the find ahead was not found");
}

/* moat-dp hashes its flow keys with moat_be_flow_hash: what stab_hash gives, every key. */
Test(ahead, flow_hash_unrolled_same)
{
	struct moat_flow_key k;
	unsigned int i, j, wide = 0;

	for (i = 0; i < 200000; i++) {
		u8 *b = (u8 *)&k;

		for (j = 0; j < sizeof(k); j++)
			b[j] = (u8)rnd();
		if (i % 2) /* an IPv4 key: nothing past the head */
			memset(b + MOAT_FLOW_KEY_HEAD, 0, sizeof(k) - MOAT_FLOW_KEY_HEAD);
		else if (i % 4 == 2) { /* only the last bytes past the head */
			memset(b + MOAT_FLOW_KEY_HEAD, 0, sizeof(k) - MOAT_FLOW_KEY_HEAD - 1 - rnd() % 3);
			b[sizeof(k) - 1] |= 1;
		}
		wide += (u32)(stab_hash(&be.flows, &k) & 1);
		cr_assert_eq(moat_be_flow_hash(&be.flows, &k), stab_hash(&be.flows, &k), "key %u", i);
	}
	cr_assert_eq(wide, 100000, "wide keys %u of 100000", wide);
}
