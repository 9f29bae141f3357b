// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * moat host mode: the XDP fast path on core/. The kernel's sockets are the flow
 * state: a packet is checked against the socket it is addressed to (looked up
 * from XDP), SYNs to protected ports are answered with cookie SYN-ACKs (XDP_TX),
 * and a valid cookie ACK is passed up to moat_tc.bpf.o, which turns it into an
 * ordinary request socket of the listener (bpf_sk_assign_tcp_reqsk, 6.9+).
 *
 * In-window RSTs and SYNs on live connections are counted as challenge_ack and
 * passed: the kernel's own RFC 5961 code answers them with the socket's exact
 * sequence, window and timestamp state.
 */
#include "xdp/moat_bpf_common.h"
#include "core/fastsyn.h"
#include "core/host.h"
#include "core/capture.h"

/* Set by the loader: 1 when moat_tc.bpf.o is attached, so cookies can complete. */
const volatile u8 have_reqsk = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} moat_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MOAT_R_COUNT);
	__type(key, u32);
	__type(value, u64);
} moat_event_tick SEC(".maps");

/*
 * moatd's list changes since the file was loaded, with their ttl (struct
 * moat_live_key/val). No program reads it: it is pinned with the rest so that
 * it outlives a moatd that dies, and the next one replays it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct moat_live_key);
	__type(value, struct moat_live_val);
} moat_live SEC(".maps");

/* Connection TTLs learned at handshake completion, for rst_policy: strict. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct moat_src_key); /* peer address, family, and plen carries nothing */
	__type(value, u8);
} moat_ttl SEC(".maps");

/* The fields of the kernel's tcp_sock moat reads, relocated by CO-RE. */
struct tcp_sock {
	u32 rcv_nxt;
	u32 snd_nxt;
	u32 rcv_wup;
	u32 rcv_wnd;
} __attribute__((preserve_access_index));

/*
 * Cookie slots (64 s), token buckets and the ms timestamp clock need no better
 * than tick resolution, and the coarse clock costs a memory read where the
 * precise one reads the clocksource (about 30 ns in a VM). Same time base as
 * bpf_ktime_get_ns, behind it by less than a tick.
 *
 * Even the coarse clock is a helper call (about 15 ns with return thunks), and
 * it only moves when the tick moves jiffies, which BPF reads inline. So each
 * CPU keeps the last reading with what is derived from it (two 64-bit
 * divisions) and reads the clock again only on a new jiffy: the same clock,
 * never ahead of bpf_ktime_get_ns (the TC half's), behind it by two ticks at most.
 */
struct moat_clock {
	u64 jiffies;
	u64 now_ns;
	u32 ts_ms; /* the ms clock our TSval counts in */
	u32 slot;  /* moat_cookie_slot(now_ns + moat_wall_off()): Unix time */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct moat_clock);
} moat_clock_cache SEC(".maps");

/* This CPU's clock, read again when jiffies moved; NULL only if the map is missing. */
MOAT_INLINE const struct moat_clock *moat_clock_get(void)
{
	u64 j = bpf_jiffies64();
	u32 zero = 0;
	struct moat_clock *c = bpf_map_lookup_elem(&moat_clock_cache, &zero);

	/* now_ns 0: never read (jiffies_64 itself passes 0 five minutes after boot). */
	if (!c || (c->jiffies == j && c->now_ns))
		return c;
	c->now_ns = bpf_ktime_get_coarse_ns();
	c->ts_ms = (u32)(c->now_ns / 1000000);
	c->slot = moat_cookie_slot(c->now_ns + (u64)moat_wall_off());
	c->jiffies = j;
	return c;
}

MOAT_INLINE u64 moat_clock(void)
{
	const struct moat_clock *c = moat_clock_get();

	return c ? c->now_ns : bpf_ktime_get_coarse_ns();
}

/* Per-CPU room for the SYN-ACK being built: the programs' stacks are full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct moat_synack_fast);
} moat_scratch SEC(".maps");

MOAT_INLINE void moat_emit(struct xdp_md *ctx, const struct moat_pkt *pkt, enum moat_reason r,
			   const struct moat_runtime *rt)
{
	u32 idx = (u32)r & 31;
	struct moat_event *ev;
	u64 *tick;
	u32 every;

	if (idx >= MOAT_R_COUNT)
		return;
	every = rt->event_every[idx];
	if (!every)
		return;
	tick = bpf_map_lookup_elem(&moat_event_tick, &idx);
	if (!tick || ++*tick % every)
		return;
	ev = bpf_ringbuf_reserve(&moat_events, sizeof(*ev), 0);
	if (!ev)
		return;
	moat_event_fill(ev, pkt, r, bpf_ktime_get_ns(), ctx->ingress_ifindex,
			bpf_get_smp_processor_id());
	bpf_ringbuf_submit(ev, 0);
}

/*
 * moatctl capture: moatd writes the capture in force here (the skeleton's
 * .bss, private to this object, so a new load starts with none) and reads the
 * records of ring buffer moat_capture. While none runs the programs pay one
 * load and one branch per packet.
 */
struct moat_capture_cfg moat_capture_cfg;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} moat_capture SEC(".maps");

/*
 * Records the ring had no room for: moatd reports them as lost. A global, not
 * a per-CPU map: counted without a key on the stack (moat_g_syn, which
 * captures inline, runs near the 512-byte combined stack limit), and only
 * ever added to while a capture overflows.
 */
u64 moat_capture_lost;

/*
 * The frame as it arrived (before any answer is written over it), if the
 * capture wants it. Inline in moat_g_syn (a call from there would be a third
 * frame on the stack), behind moat_g_capture everywhere else.
 */
MOAT_INLINE void moat_capture_frame(struct xdp_md *ctx, u32 reason)
{
	struct moat_capture_rec *rec;
	u32 len, caplen;

	if (!moat_capture_wants(&moat_capture_cfg, (enum moat_reason)reason))
		return;
	/* bpf_xdp_load_bytes is 5.18+: on an older kernel capture finds nothing. */
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_xdp_load_bytes))
		return;
	if (moat_capture_cfg.sample > 1 && bpf_get_prandom_u32() % moat_capture_cfg.sample)
		return;
	len = (u32)(ctx->data_end - ctx->data);
	caplen = moat_capture_caplen(&moat_capture_cfg, len);
	if (caplen < 1 || caplen > MOAT_CAPTURE_SNAP_MAX)
		return;
	rec = bpf_ringbuf_reserve(&moat_capture, sizeof(*rec), 0);
	if (!rec) {
		__sync_fetch_and_add(&moat_capture_lost, 1);
		return;
	}
	/*
	 * 1..MOAT_CAPTURE_SNAP_MAX by arithmetic on the register the helper gets
	 * (the same value: checked above): a compare may land on a copy.
	 */
	if (bpf_xdp_load_bytes(ctx, 0, rec->data, ((caplen - 1) & (MOAT_CAPTURE_SNAP_MAX - 1)) + 1)) {
		bpf_ringbuf_discard(rec, 0);
		return;
	}
	rec->ts_ns = bpf_ktime_get_ns();
	rec->where = ctx->ingress_ifindex;
	rec->cpu = bpf_get_smp_processor_id();
	rec->len = len;
	rec->caplen = (u16)caplen;
	rec->reason = (u8)reason;
	rec->pad = 0;
	bpf_ringbuf_submit(rec, 0);
}

__attribute__((noinline)) int moat_g_capture(struct xdp_md *ctx, u32 reason)
{
	if (ctx)
		moat_capture_frame(ctx, reason);
	return 0;
}

MOAT_INLINE struct moat_src_key moat_ttl_key(const struct moat_pkt *pkt)
{
	struct moat_src_key k = { .addr = pkt->saddr, .family = pkt->family };

	/* Port pair in plen/pad: one connection, not one host. */
	k.plen = (u8)pkt->sport;
	k.pad[0] = (u8)(pkt->sport >> 8);
	k.pad[1] = (u8)pkt->dport;
	return k;
}

/* A handshake completed (cookie or the kernel's own): count it, learn its TTL. */
MOAT_INLINE void moat_host_established(const struct moat_engine *e, const struct moat_pkt *pkt)
{
	struct moat_flow f = {};

	moat_account_established(e, pkt, 0, &f, 1);
	/* An LRU update costs; only rst_policy: strict reads the learned TTLs. */
	if (e->pol->rst_policy == MOAT_RST_STRICT) {
		struct moat_src_key k = moat_ttl_key(pkt);
		u8 ttl = pkt->ttl;

		bpf_map_update_elem(&moat_ttl, &k, &ttl, BPF_ANY);
	}
}

MOAT_INLINE enum moat_reason moat_host_rst(const struct moat_engine *e, const struct moat_pkt *pkt,
					   struct bpf_sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	struct moat_flow f = {};
	u32 win;
	int cls;

	if (!tp)
		return MOAT_R_ESTABLISHED; /* TIME_WAIT: the kernel's rules apply */
	if (e->pol->rst_policy == MOAT_RST_STRICT) {
		struct moat_src_key k = moat_ttl_key(pkt);
		u8 *ttl = bpf_map_lookup_elem(&moat_ttl, &k);

		f.peer[0].ttl = ttl ? *ttl : 0;
		if (moat_ttl_suspect(&f.peer[0], pkt->ttl, e->pol->rst_ttl_tolerance))
			return MOAT_R_RST_SUSPECT;
	}
	if (sk->state == MOAT_KTCP_SYN_SENT) {
		/* Our SYN is out: acceptable only if it acknowledges it. */
		f.state = MOAT_TCPS_SYN_SENT;
		f.peer[0].end = tp->snd_nxt;
		cls = moat_rst_classify(&f, 1, pkt);
	} else {
		/* The kernel's own receive window: rcv_wup + rcv_wnd - rcv_nxt. */
		win = tp->rcv_wup + tp->rcv_wnd - tp->rcv_nxt;
		f.state = MOAT_TCPS_ESTABLISHED;
		f.peer[0].end = tp->rcv_nxt;
		f.peer[1].ack = tp->rcv_nxt;
		f.peer[1].win = (u16)(win > 0xFFFF ? 0xFFFF : win);
		f.peer[1].flags = MOAT_PEER_ACKED;
		if (win > 0xFFFF) {
			/* Express a large window exactly through the scale shift. */
			f.flags = MOAT_FLOW_SCALED;
			f.peer[1].wscale = 14;
			f.peer[1].win = (u16)(win >> 14);
		}
		cls = moat_rst_classify(&f, 0, pkt);
	}
	if (cls == MOAT_RST_EXACT)
		return MOAT_R_ESTABLISHED;
	return cls == MOAT_RST_IN_WINDOW ? MOAT_R_CHALLENGE_ACK : MOAT_R_RST_OUT_OF_WINDOW;
}

/* An ACK that reached a listener: a cookie completing, or out of state. */
MOAT_INLINE enum moat_reason moat_host_listener_ack(const struct moat_engine *e,
						    const struct moat_pkt *pkt,
						    struct moat_result *res)
{
	enum moat_reason r;

	if (e->pol->syn_cookies == MOAT_COOKIES_OFF || !have_reqsk)
		return MOAT_R_ACK_NO_FLOW;
	if (moat_cookie_check(e->sec, pkt, moat_cookie_now(e), &res->opts))
		return moat_cookies_engaged(e, pkt, 0) ? MOAT_R_COOKIE_INVALID : MOAT_R_ACK_NO_FLOW;
	r = moat_completion_limits(e, pkt);
	if (r)
		return r;
	moat_host_established(e, pkt);
	return MOAT_R_COOKIE_VALID;
}

/*
 * The big steps are global functions: the verifier checks each once, on its
 * own, instead of once per path through everything before it (inlined, the
 * whole program exceeds the one-million-instruction budget).
 */
__attribute__((noinline)) int moat_g_parse(struct xdp_md *ctx, struct moat_pkt *pkt)
{
	const u8 *data = (const u8 *)(long)ctx->data;
	const u8 *data_end = (const u8 *)(long)ctx->data_end;

	if (!pkt)
		return MOAT_PARSE_MALFORMED;
	return moat_parse(data, data_end, pkt);
}

/* Turn the SYN into our cookie SYN-ACK in place: the XDP action. */
MOAT_INLINE int moat_answer_syn(struct xdp_md *ctx, const struct moat_pkt *pkt,
				const struct moat_cookie *c, u8 wscale)
{
	struct moat_reply reply;
	u8 *data, *data_end;
	int delta;

	moat_synack_build(&reply, pkt, c, wscale);
	delta = (int)moat_reply_len(pkt, reply.tcp_len) - (int)(ctx->data_end - ctx->data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return XDP_DROP;
	data = (u8 *)(long)ctx->data;
	data_end = (u8 *)(long)ctx->data_end;
	if (moat_reply_write(data, data_end, pkt, &reply))
		return XDP_DROP;
	return XDP_TX;
}

/*
 * A SYN to a protected port: limits, flood detection, and the cookie SYN-ACK
 * written over the frame. Returns MOAT_SYN_RESULT(reason, XDP action).
 */
#define MOAT_SYN_RESULT(reason, action) ((int)(reason) << 8 | (int)(action))
__attribute__((noinline)) int moat_g_syn(struct xdp_md *ctx, const struct moat_pkt *pkt, u32 set)
{
	struct moat_be be = {};
	struct moat_engine e = { .be = &be };
	const struct moat_clock *clk = moat_clock_get();
	struct moat_result res;
	enum moat_reason r;
	u32 zero = 0;

	/* The set the caller's triage used, not whatever is live by now. */
	if (moat_set_open(&be, set))
		return MOAT_SYN_RESULT(MOAT_R_HANDSHAKE, XDP_PASS);
	e.pol = be.pol;
	e.sec = bpf_map_lookup_elem(&moat_secrets, &zero);
	if (!pkt || !e.sec || !clk)
		return MOAT_SYN_RESULT(MOAT_R_HANDSHAKE, XDP_PASS);
	e.now_ns = clk->now_ns;
	e.ts_clock = clk->ts_ms;
	/* Without the TC half a cookie could not complete: SYNs are left to the kernel. */
	r = moat_host_syn(&e, pkt, clk->slot, have_reqsk, &res);
	if (r == MOAT_R_SYN_COOKIE && moat_capture_cfg.on)
		moat_capture_frame(ctx, r);
	if (r == MOAT_R_SYN_COOKIE)
		return MOAT_SYN_RESULT(r, moat_answer_syn(ctx, pkt, &res.cookie, e.pol->synack_wscale));
	return MOAT_SYN_RESULT(r, moat_reason_verdict(r) == MOAT_DROP ? XDP_DROP : XDP_PASS);
}

/* An ACK addressed to a listener. */
__attribute__((noinline)) int moat_g_listener_ack(const struct moat_pkt *pkt, u64 now, u32 set)
{
	struct moat_be be = {};
	struct moat_engine e = { .be = &be };
	struct moat_result res = {};
	u32 zero = 0;

	if (moat_set_open(&be, set))
		return MOAT_R_ACK_NO_FLOW;
	e.pol = be.pol;
	e.sec = bpf_map_lookup_elem(&moat_secrets, &zero);
	if (!pkt || !e.sec)
		return MOAT_R_ACK_NO_FLOW;
	e.now_ns = now;
	e.wall_off_ns = moat_wall_off();
	return moat_host_listener_ack(&e, pkt, &res);
}

/* The kernel's handshake completing on a request socket: limits and accounting. */
__attribute__((noinline)) int moat_g_reqsk_ack(const struct moat_pkt *pkt, u64 now, u32 set)
{
	struct moat_be be = {};
	struct moat_engine e = { .be = &be };
	enum moat_reason r;

	if (!pkt || moat_set_open(&be, set))
		return MOAT_R_HANDSHAKE;
	e.pol = be.pol;
	e.now_ns = now;
	r = moat_completion_limits(&e, pkt);
	if (r)
		return r;
	moat_host_established(&e, pkt);
	return MOAT_R_HANDSHAKE;
}

MOAT_INLINE enum moat_reason moat_host_socket(const struct moat_engine *e,
					      const struct moat_pkt *pkt, struct bpf_sock *sk)
{
	u8 flags = pkt->tcp_flags;

	switch (sk->state) {
	case MOAT_KTCP_LISTEN:
		if (flags & MOAT_TCP_RST)
			return MOAT_R_RST_NO_FLOW;
		if (flags & MOAT_TCP_SYN)
			return MOAT_R_ACK_NO_FLOW; /* SYN-ACK to a listener: reflection */
		return moat_g_listener_ack(pkt, moat_clock(), e->be->set);
	case MOAT_KTCP_NEW_SYN_RECV:
		/* The kernel's own half-open connection: it judges RSTs and ACKs. */
		if (flags & (MOAT_TCP_RST | MOAT_TCP_SYN))
			return MOAT_R_HANDSHAKE;
		return moat_g_reqsk_ack(pkt, moat_clock(), e->be->set);
	case MOAT_KTCP_SYN_SENT:
		if (flags & MOAT_TCP_RST)
			return moat_host_rst(e, pkt, sk);
		return MOAT_R_HANDSHAKE;
	default:
		if (flags & MOAT_TCP_RST)
			return moat_host_rst(e, pkt, sk);
		if ((flags & (MOAT_TCP_SYN | MOAT_TCP_ACK)) == MOAT_TCP_SYN)
			return MOAT_R_CHALLENGE_ACK; /* RFC 5961 4: the kernel answers */
		return MOAT_R_ESTABLISHED;
	}
}

/*
 * An ACK to a listener that carries no cookie of moat's may carry the kernel's
 * own (net.ipv4.tcp_syncookies: its backlog overflowed before moat's cookies
 * engaged, or they are off). The kernel completes those itself: dropping them
 * would cut a connection the client already believes open. Checked only on
 * this path (an ACK flood pays it, the handshakes of moat's cookies do not).
 */
MOAT_INLINE int moat_kernel_cookie(struct xdp_md *ctx, const struct moat_pkt *pkt)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	u32 l3 = pkt->l3_off, l4 = pkt->l4_off;
	struct tcphdr *th;

	/* Headers past 4 KiB exist in no real frame; the bound lets the verifier see the range. */
	if (l3 > 4095 || l4 > 4095)
		return 0;
	th = data + l4;
	if ((void *)th + 20 > end)
		return 0;
	if (pkt->family == 6) {
		struct ipv6hdr *ip6 = data + l3;

		return (void *)ip6 + 40 <= end && !bpf_tcp_raw_check_syncookie_ipv6(ip6, th);
	}
	{
		struct iphdr *ip = data + l3;

		return (void *)ip + 20 <= end && !bpf_tcp_raw_check_syncookie_ipv4(ip, th);
	}
}

MOAT_INLINE enum moat_reason moat_host_tcp(struct xdp_md *ctx, const struct moat_engine *e,
					   const struct moat_pkt *pkt)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk;
	enum moat_reason r;
	int listener;
	u8 flags = pkt->tcp_flags;
	u32 size;

	if ((flags & (MOAT_TCP_SYN | MOAT_TCP_ACK | MOAT_TCP_RST)) == MOAT_TCP_SYN)
		return MOAT_R_NOT_PROTECTED; /* protected SYNs went to moat_g_syn */
	moat_tuple(pkt, &tuple, &size);
	sk = bpf_skc_lookup_tcp(ctx, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk) {
		if (!moat_port_protected(e->pol, pkt->dport))
			return MOAT_R_NOT_PROTECTED;
		return (flags & MOAT_TCP_RST) ? MOAT_R_RST_NO_FLOW : MOAT_R_ACK_NO_FLOW;
	}
	listener = sk->state == MOAT_KTCP_LISTEN;
	r = moat_host_socket(e, pkt, sk);
	bpf_sk_release(sk);
	if (listener && (r == MOAT_R_COOKIE_INVALID || r == MOAT_R_ACK_NO_FLOW) &&
	    !(flags & (MOAT_TCP_SYN | MOAT_TCP_RST)) && moat_kernel_cookie(ctx, pkt))
		return MOAT_R_HANDSHAKE;
	return r;
}

/*
 * The SYN-ACK over a fast-path SYN (core/fastsyn.h): the bytes moat_answer_syn()
 * writes, stored in whole words from per-CPU scratch.
 */
MOAT_INLINE int moat_answer_syn_fast(struct xdp_md *ctx, const struct moat_pkt *pkt,
				     const struct moat_cookie *c, u8 wscale)
{
	struct moat_synack_fast *sc;
	u32 tlen, zero = 0;
	int delta;

	sc = bpf_map_lookup_elem(&moat_scratch, &zero);
	if (!sc)
		return XDP_DROP;
	tlen = moat_synack_fast_build(sc, pkt, c, wscale);
	delta = (int)MOAT_SYNACK_FAST_LEN(tlen) - (int)(ctx->data_end - ctx->data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return XDP_DROP;
	if (moat_synack_fast_write((u8 *)(long)ctx->data, (u8 *)(long)ctx->data_end, sc, tlen))
		return XDP_DROP;
	return XDP_TX;
}

/*
 * The SYN fast path (core/fastsyn.h), for the SYNs a flood and nearly every
 * client send: what the general path decides for the same SYN, by the same
 * calls (core/host.h), inline: no global-function calls, no option walk, and
 * the SYN-ACK stored in whole words. SYNs to unprotected ports go the general
 * way. Returns the XDP action and *r, or -1 for the general path (which
 * decides the frame from scratch).
 */
MOAT_INLINE int moat_fast_syn(struct xdp_md *ctx, struct moat_engine *e, struct moat_pkt *pkt,
			      enum moat_reason *r)
{
	const struct moat_clock *clk;
	struct moat_result res;

	if (moat_fast_parse_syn((u8 *)(long)ctx->data, (u8 *)(long)ctx->data_end, pkt))
		return -1;
	switch (moat_host_triage(e, MOAT_PARSE_TCP, pkt, r)) {
	case MOAT_HOST_DONE:
		return moat_reason_verdict(*r) == MOAT_DROP ? XDP_DROP : XDP_PASS;
	case MOAT_HOST_SYN:
		break;
	default:
		return -1;
	}
	clk = moat_clock_get();
	if (!clk)
		return -1;
	e->now_ns = clk->now_ns;
	e->ts_clock = clk->ts_ms;
	*r = moat_host_syn(e, pkt, clk->slot, have_reqsk, &res);
	if (*r != MOAT_R_SYN_COOKIE)
		return moat_reason_verdict(*r) == MOAT_DROP ? XDP_DROP : XDP_PASS;
	if (moat_capture_cfg.on)
		moat_g_capture(ctx, *r);
	return moat_answer_syn_fast(ctx, pkt, &res.cookie, e->pol->synack_wscale);
}

/*
 * The parsed packet lives here, not on moat_xdp's stack: the verifier adds the
 * stack of every frame along a call chain (512 bytes at most), and moat_xdp's
 * frame is under each of the steps it calls. XDP runs one packet at a time on
 * a CPU, so one per CPU will do.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct moat_pkt);
} moat_pkt_scratch SEC(".maps");

SEC("xdp")
int moat_xdp(struct xdp_md *ctx)
{
	struct moat_be be = {};
	struct moat_engine e = { .be = &be };
	const struct moat_runtime *rt;
	struct moat_pkt *pkt;
	enum moat_reason r;
	u32 zero = 0;
	int st, step, act;

	/* One set for the whole packet: every step below is handed be.set. */
	if (moat_set_open(&be, moat_active_set()))
		return XDP_PASS;
	e.pol = be.pol;
	rt = be.rt;
	e.sec = bpf_map_lookup_elem(&moat_secrets, &zero);
	pkt = bpf_map_lookup_elem(&moat_pkt_scratch, &zero);
	if (!e.sec || !rt || !pkt)
		return XDP_PASS;
	act = moat_fast_syn(ctx, &e, pkt, &r);
	if (act >= 0)
		goto out;
	/* The clock is read only by the steps that need it: most packets never do. */
	st = moat_g_parse(ctx, pkt);
	step = moat_host_triage(&e, st, pkt, &r);
	if (step == MOAT_HOST_SYN) {
		act = moat_g_syn(ctx, pkt, be.set);
		r = (enum moat_reason)(act >> 8);
		act &= 0xFF;
		goto out;
	}
	if (step == MOAT_HOST_SOCKET)
		r = moat_host_tcp(ctx, &e, pkt);
	/* In-window RSTs and SYNs on live connections: the kernel sends the challenge ACK. */
	act = moat_reason_verdict(r) == MOAT_DROP ? XDP_DROP : XDP_PASS;
out:
	moat_count(r);
	moat_emit(ctx, pkt, r, rt);
	/* A cookie SYN-ACK is written over its SYN: that SYN was captured before. */
	if (moat_capture_cfg.on && r != MOAT_R_SYN_COOKIE)
		moat_g_capture(ctx, r);
	return act;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
