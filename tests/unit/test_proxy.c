/* SPDX-License-Identifier: BSD-3-Clause */
/* core/proxy.h: incremental checksums, the proxy's SYN, and segment translation. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/proxy.h"
#include "frames.h"

/* TCP checksum of a parsed frame computed from scratch (zero field, sum, fold). */
static u16 tcp_csum_full(u8 *frame, const struct moat_pkt *p)
{
	u8 *tcp = frame + p->l4_off;
	u32 len = p->l3_len - (p->l4_off - p->l3_off), i;
	u8 saved[2] = { tcp[16], tcp[17] };
	u32 sum = 0;
	u16 c;

	tcp[16] = tcp[17] = 0;
	sum = frame_sum16(sum, tcp, len);
	for (i = 0; i < (p->family == 6 ? 4u : 1u); i++) {
		u32 s = moat_ntohl(p->saddr.w[i]), d = moat_ntohl(p->daddr.w[i]);

		sum += (s >> 16) + (s & 0xFFFF) + (d >> 16) + (d & 0xFFFF);
	}
	sum += 6 + len;
	c = (u16)~frame_fold16(sum);
	tcp[16] = saved[0];
	tcp[17] = saved[1];
	return c;
}

static size_t data_frame(u8 *b, u32 seq, u32 ack, u32 tsval, u32 tsecr, int sack)
{
	u8 opts[40];
	size_t n = 0;
	struct tcp_spec s = { .family = 4, .saddr4 = 0x0a010002, .daddr4 = 0x0a020002,
			      .sport = 40000, .dport = 80, .seq = seq, .ack = ack,
			      .flags = MOAT_TCP_ACK | MOAT_TCP_PSH, .win = 500, .payload = 100 };

	opts[n++] = 1;
	opts[n++] = 1;
	n += opt_ts(opts + n, tsval, tsecr);
	if (sack) {
		opts[n++] = 1;
		opts[n++] = 1;
		n += opt_sack(opts + n, 2, ack + 1000);
	}
	s.opts = opts;
	s.optlen = n;
	return build_tcp_frame(b, &s);
}

Test(proxy, incremental_checksum_matches_a_full_one)
{
	u8 f[256];
	struct moat_pkt p;
	size_t len = data_frame(f, 1000, 2000, 7, 8, 1);
	u8 *tcp;

	cr_assert_eq(moat_parse(f, f + len, &p), MOAT_PARSE_TCP);
	tcp = f + p.l4_off;
	moat_put_be16(tcp + 16, tcp_csum_full(f, &p));
	moat_tcp_set32(tcp, 4, 0xdeadbeef);
	moat_tcp_set32(tcp, 8, 0x00000001);
	cr_assert_eq(moat_get_be16(tcp + 16), tcp_csum_full(f, &p));
}

Test(proxy, server_segment_enters_client_view)
{
	struct moat_flow fl = { .seq_delta = 0x80000000u, .ts_delta = 5000,
				.flags = MOAT_FLOW_PROXY | MOAT_FLOW_PROXY_TS };
	u8 f[256];
	struct moat_pkt p;
	size_t len = data_frame(f, 0xfffffff0u, 3000, 100, 200, 0);

	cr_assert_eq(moat_parse(f, f + len, &p), MOAT_PARSE_TCP);
	moat_put_be16(f + p.l4_off + 16, tcp_csum_full(f, &p));
	moat_proxy_rewrite(f, &p, &fl, 1);
	cr_assert_eq(moat_parse(f, f + len, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.seq, 0xfffffff0u + 0x80000000u, "SEQ wraps past 2^32");
	cr_assert_eq(p.opt.tsval, 5100);
	cr_assert_eq(p.opt.tsecr, 200, "TSecr echoes the client's clock: untouched");
	cr_assert_eq(moat_get_be16(f + p.l4_off + 16), tcp_csum_full(f, &p));
}

Test(proxy, client_segment_enters_server_view)
{
	struct moat_flow fl = { .seq_delta = 1000, .ts_delta = 70,
				.flags = MOAT_FLOW_PROXY | MOAT_FLOW_PROXY_TS };
	u8 f[256];
	struct moat_pkt p;
	size_t len = data_frame(f, 500, 9000, 11, 170, 1);

	cr_assert_eq(moat_parse(f, f + len, &p), MOAT_PARSE_TCP);
	moat_put_be16(f + p.l4_off + 16, tcp_csum_full(f, &p));
	moat_proxy_to_server_view(&fl, 0, &p);
	cr_assert_eq(p.ack, 8000);
	cr_assert_eq(p.opt.tsecr, 100);
	moat_proxy_rewrite(f, &p, &fl, 0);
	cr_assert_eq(moat_parse(f, f + len, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.seq, 500, "the client's own sequence is the server's");
	cr_assert_eq(p.ack, 8000);
	cr_assert_eq(p.opt.tsecr, 100);
	cr_assert_eq(moat_get_be32(f + p.l4_off + p.opt.sack_off + 2), 9000 + 1000 - 1000,
		     "SACK edges move by the delta");
	cr_assert_eq(moat_get_be16(f + p.l4_off + 16), tcp_csum_full(f, &p));
}

Test(proxy, syn_to_the_server_carries_the_cookie_options)
{
	u8 ack_frame[256], syn[256];
	struct moat_pkt ack, s;
	struct moat_syn_opts o = { .mss = 1440, .wscale = 7, .has_wscale = 1, .sack_ok = 1,
				   .has_ts = 1 };
	size_t len = data_frame(ack_frame, 12346, 777, 4242, 99, 0);
	u32 n;

	cr_assert_eq(moat_parse(ack_frame, ack_frame + len, &ack), MOAT_PARSE_TCP);
	n = moat_proxy_syn_build(syn, ack_frame, &ack, &o);
	cr_assert_eq(moat_parse(syn, syn + n, &s), MOAT_PARSE_TCP);
	cr_assert_eq(s.tcp_flags, MOAT_TCP_SYN);
	cr_assert_eq(s.seq, 12345, "the client's ISN");
	cr_assert(moat_addr_eq(&s.saddr, &ack.saddr) && s.sport == ack.sport && s.dport == 80);
	cr_assert_eq(s.opt.mss, 1440);
	cr_assert_eq(s.opt.wscale, 7);
	cr_assert(s.opt.present & MOAT_OPT_SACK_PERM);
	cr_assert_eq(s.opt.tsval, 4242, "the client's clock, as its SYN would have carried");
	cr_assert_eq(s.payload_len, 0);
	cr_assert_eq(moat_get_be16(syn + s.l4_off + 16), tcp_csum_full(syn, &s));
}

Test(proxy, windows_are_rescaled_with_the_checksum_kept)
{
	struct moat_flow fl = { .seq_delta = 77, .flags = MOAT_FLOW_PROXY | MOAT_FLOW_SCALED,
				.proxy_wscale = 7 };
	u8 f[256];
	struct moat_pkt p;
	size_t len = data_frame(f, 1000, 2000, 11, 12, 0);

	fl.peer[0].flags = MOAT_PEER_WSCALE;
	fl.peer[0].wscale = 10;
	fl.peer[1].flags = MOAT_PEER_WSCALE;
	fl.peer[1].wscale = 10;
	cr_assert_eq(moat_parse(f, f + len, &p), MOAT_PARSE_TCP);
	moat_put_be16(f + p.l4_off + 16, tcp_csum_full(f, &p));
	moat_proxy_rewrite(f, &p, &fl, 1);
	cr_assert_eq(moat_parse(f, f + len, &p), MOAT_PARSE_TCP);
	cr_assert_eq(p.window, 4000, "500 x 2^10 bytes in the client's units of 2^7");
	cr_assert_eq(moat_get_be16(f + p.l4_off + 16), tcp_csum_full(f, &p));
	/* a client segment: both sides scale its window by 10, it passes as it is */
	moat_proxy_to_server_view(&fl, 0, &p);
	cr_assert_eq(p.window, 4000);
}
