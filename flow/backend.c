// SPDX-License-Identifier: BSD-3-Clause
#include "flow/backend.h"

#define MOAT_BE_PICKUP /* keeps pickup budgets (moat_be_pickup) */
#define MOAT_BE_COOKIE_AHEAD /* takes the cookies a burst made ahead (moat_be_cookies) */
#define MOAT_BE_LISTS_AHEAD  /* and the list actions (struct moat_be_key) */
#include "core/engine.h"

#include <string.h>

enum {
	FLOW_RANK_KEEP = -1, /* established flows are never pushed out by new ones */
	FLOW_RANK_SYN_RECV = 1, /* ...a handshake the server has answered */
	FLOW_RANK_SYN_SENT, /* a flood's SYNs never get further: they go before... */
	FLOW_RANK_CLOSED,
	FLOW_RANK_EXPIRED,
};

/* How eagerly a flow may be evicted: expired first, then closed, then embryonic. */
static int flow_rank(const void *key, const void *val, void *ctx)
{
	const struct moat_flow *f = val;
	const struct moat_be *be = ctx;

	(void)key;
	if (moat_flow_expired(f, &be->pol->timeouts, be->now_ns))
		return FLOW_RANK_EXPIRED;
	switch (f->state) {
	case MOAT_TCPS_CLOSED:
	case MOAT_TCPS_TIME_WAIT:
		return FLOW_RANK_CLOSED;
	case MOAT_TCPS_SYN_SENT:
	case MOAT_TCPS_PICKUP: /* unconfirmed: as likely a flood's as a SYN_SENT */
		return FLOW_RANK_SYN_SENT;
	case MOAT_TCPS_SYN_RECV:
		return FLOW_RANK_SYN_RECV;
	default:
		return FLOW_RANK_KEEP;
	}
}

static void release_source(struct moat_be *be, const struct moat_addr *a, u8 family, u8 plen)
{
	struct moat_src_key k;
	struct moat_source *s;

	memset(&k, 0, sizeof(k));
	moat_addr_mask(&k.addr, a, family, plen);
	k.family = family;
	k.plen = plen;
	s = stab_find(&be->sources, &k, NULL);
	if (s && s->concurrent)
		s->concurrent--;
}

/*
 * A counted flow leaves without closing through the engine (expiry, eviction).
 * orig_is_b: its originator is endpoint b of the key (the slot's mark).
 */
static void release_counted(struct moat_be *be, const struct moat_flow_key *k, struct moat_flow *f,
			    unsigned int orig_is_b)
{
	const struct moat_policy *pol = be->pol;
	u8 family = moat_flow_key_family(k);
	struct moat_addr origin;

	if (!(f->flags & MOAT_FLOW_COUNTED))
		return;
	f->flags &= (u8)~MOAT_FLOW_COUNTED;
	moat_flow_key_addr(k, orig_is_b, &origin);
	if (moat_limits_active(&pol->source))
		release_source(be, &origin, family, family == 6 ? 128 : 32);
	if (moat_limits_active(&pol->prefix))
		release_source(be, &origin, family, (u8)moat_prefix_len(pol, family));
}

static void flow_evict(const void *key, void *val, unsigned int mark, void *ctx)
{
	release_counted(ctx, key, val, mark);
}

/* Limiter records holding live connections stay; otherwise the least recently seen goes. */
static int source_rank(const void *key, const void *val, void *ctx)
{
	const struct moat_source *s = val;
	const struct moat_be *be = ctx;
	u32 idle = be->now_s - s->last_seen_s;

	(void)key;
	if (s->concurrent)
		return -1;
	return idle > (1u << 30) ? 1 << 30 : (int)idle;
}

static int dest_rank(const void *key, const void *val, void *ctx)
{
	(void)key;
	(void)val;
	(void)ctx;
	return 1;
}

/* The shape of each table of a backend for n_flows flows and n_sources limiter records. */
static void table_confs(struct stab_conf c[MOAT_BE_TABLES], u32 n_flows, u32 n_sources, u64 seed)
{
	/*
	 * Flows: 64-slot buckets at 92% so the configured count fits (docs/engine.md,
	 * Tables); a flood's SYN_SENT in a bucket's first window is victim enough.
	 */
	c[MOAT_BE_FLOWS] = (struct stab_conf){
		.entries = n_flows,
		.ways = 64,
		.load_pct = 92,
		.rank_enough = FLOW_RANK_SYN_SENT,
		.key_size = sizeof(struct moat_flow_key),
		.head_size = MOAT_FLOW_KEY_HEAD,
		.val_size = sizeof(struct moat_flow),
		.val_align = _Alignof(struct moat_flow),
		.seed = seed,
		.filter_bits = 16, /* a flood's SYN of an unknown flow: one line read, not four */
	};
	c[MOAT_BE_SOURCES] = (struct stab_conf){
		.entries = n_sources,
		.key_size = sizeof(struct moat_src_key),
		.val_size = sizeof(struct moat_source),
		.val_align = _Alignof(struct moat_source),
		.seed = seed ^ 0x5555,
	};
	c[MOAT_BE_DESTS] = (struct stab_conf){
		.entries = 4096,
		.key_size = sizeof(struct moat_dst_key),
		.val_size = sizeof(struct moat_trigger),
		.val_align = _Alignof(struct moat_trigger),
		.seed = seed ^ 0xaaaa,
	};
	c[MOAT_BE_PICKUPS] = (struct stab_conf){
		.entries = 4096,
		.key_size = sizeof(struct moat_dst_key),
		.val_size = sizeof(struct moat_pickup_budget),
		.val_align = _Alignof(struct moat_pickup_budget),
		.seed = seed ^ 0x3333,
	};
}

void moat_be_table_bytes(u32 n_flows, u32 n_sources, size_t bytes[MOAT_BE_TABLES])
{
	struct stab_conf c[MOAT_BE_TABLES];
	int i;

	table_confs(c, n_flows, n_sources, 0);
	for (i = 0; i < MOAT_BE_TABLES; i++)
		bytes[i] = stab_map_bytes(&c[i]);
}

int moat_be_init_in(struct moat_be *be, u32 n_flows, u32 n_sources, u64 seed,
		    void *const mem[MOAT_BE_TABLES], int adopt)
{
	struct stab_conf c[MOAT_BE_TABLES];
	struct stab *t[MOAT_BE_TABLES] = { &be->flows, &be->sources, &be->dests, &be->pickups };
	int i, r = 0;

	memset(be, 0, sizeof(*be));
	table_confs(c, n_flows, n_sources, seed);
	for (i = 0; i < MOAT_BE_TABLES && !r; i++) {
		c[i].mem = mem ? mem[i] : NULL;
		c[i].adopt = mem && adopt;
		r = stab_init(t[i], &c[i]);
	}
	if (r) {
		moat_be_free(be);
		return r;
	}
	be->sipx = moat_sipx_best(&be->sipx_impl);
	be->flows.rank = flow_rank;
	be->flows.on_evict = flow_evict;
	be->flows.ctx = be;
	be->sources.rank = source_rank;
	be->sources.ctx = be;
	be->dests.rank = dest_rank;
	be->dests.ctx = be;
	be->pickups.rank = dest_rank;
	be->pickups.ctx = be;
	return 0;
}

int moat_be_init(struct moat_be *be, u32 n_flows, u32 n_sources, u64 seed)
{
	return moat_be_init_in(be, n_flows, n_sources, seed, NULL, 0);
}

void moat_be_free(struct moat_be *be)
{
	stab_free(&be->flows);
	stab_free(&be->sources);
	stab_free(&be->dests);
	stab_free(&be->pickups);
}

void moat_be_set_clock(struct moat_be *be, u64 now_ns)
{
	be->now_s = (u32)(now_ns / MOAT_NSEC_PER_SEC);
	be->now_ns = now_ns;
}

static int count_state(const void *key, void *val, unsigned int mark, void *ctx)
{
	const struct moat_flow *f = val;
	u64 *counts = ctx;

	(void)key;
	(void)mark;
	if (f->state < MOAT_TCPS_COUNT)
		counts[f->state]++;
	return 0;
}

void moat_be_flow_states(struct moat_be *be, u64 counts[MOAT_TCPS_COUNT])
{
	memset(counts, 0, sizeof(u64) * MOAT_TCPS_COUNT);
	stab_sweep(&be->flows, count_state, counts);
}

struct list_ctx {
	const struct moat_flow_filter *f;
	struct moat_cidr_list one; /* the filter's cidr as a list of one */
	struct moat_flow_entry *out;
	size_t max, n;
	u64 matched;
	u32 now_s;
};

static bool endpoint_in(const struct list_ctx *c, const struct moat_addr *a, u8 family)
{
	return moat_cidr_list_match(&c->one, a, family) >= 0;
}

static int list_flow(const void *key, void *val, unsigned int orig_is_b, void *ctx)
{
	const struct moat_flow_key *k = key;
	const struct moat_flow *fl = val;
	struct list_ctx *c = ctx;
	struct moat_flow_entry e;

	memset(&e, 0, sizeof(e));
	e.family = moat_flow_key_family(k);
	moat_flow_key_addr(k, orig_is_b, &e.orig);
	moat_flow_key_addr(k, !orig_is_b, &e.resp);
	e.orig_port = orig_is_b ? k->port_b : k->port_a;
	e.resp_port = orig_is_b ? k->port_a : k->port_b;
	e.state = fl->state;
	e.idle_s = c->now_s - fl->last_seen_s;
	if ((c->f->state >= 0 && fl->state != c->f->state) ||
	    (c->f->port && e.orig_port != c->f->port && e.resp_port != c->f->port) ||
	    (c->f->has_cidr && !endpoint_in(c, &e.orig, e.family) && !endpoint_in(c, &e.resp, e.family)))
		return 0;
	c->matched++;
	if (c->n < c->max)
		c->out[c->n++] = e;
	return 0;
}

size_t moat_be_flow_list(struct moat_be *be, const struct moat_flow_filter *f,
			 struct moat_flow_entry *out, size_t max, u64 *matched)
{
	struct moat_cidr cidr = f->cidr;
	struct list_ctx c = { .f = f, .out = out, .max = max, .now_s = be->now_s,
			      .one = { .v = &cidr, .n = 1, .cap = 1 } };

	stab_sweep(&be->flows, list_flow, &c);
	*matched = c.matched;
	return c.n;
}

/* ---- the engine's backend hooks (core/engine.h) ---- */

/* The caller's action for this packet's two addresses, made ahead (moat_be_key). */
MOAT_INLINE int moat_be_lists_ahead(struct moat_be *be, const struct moat_pkt *pkt, int *action)
{
	const struct moat_be_key *key = be->key;

	if (!key || !key->lists_ahead || pkt->family != 4 || pkt->saddr.w[0] != key->list_addr[0] ||
	    pkt->daddr.w[0] != key->list_addr[1])
		return 0;
	*action = key->list_action;
	return 1;
}

MOAT_INLINE int moat_be_list(struct moat_be *be, const struct moat_addr *a, u8 family)
{
	if (!be->allow->n && !be->deny->n)
		return MOAT_LIST_NONE;
	if (be->list_fn)
		return be->list_fn(be->list_ctx, a, family);
	return moat_lists_decide(be->allow, be->deny, a, family);
}

/*
 * The packet's flow key: the caller's, made a while ago (moat_be_run_parsed),
 * or made now in *local. A key made ahead is read by the table from memory
 * its stores have left: fresh, its narrow stores stall the table's 8-byte reads.
 */
MOAT_INLINE const struct moat_flow_key *moat_be_key(const struct moat_be *be,
						    const struct moat_pkt *pkt,
						    struct moat_flow_key *local, u32 *swapped)
{
	if (be->key) {
		*swapped = be->key->swapped;
		return &be->key->k;
	}
	*swapped = moat_flow_key_make(pkt, local);
	return local;
}

/* Its hash in the flow table: the caller's, made with the key, or made now. */
MOAT_INLINE u64 moat_be_key_hash(const struct moat_be *be, const struct moat_flow_key *k)
{
	return be->key ? be->key->hash : moat_be_flow_hash(&be->flows, k);
}

MOAT_INLINE int moat_be_cookie_ahead(struct moat_be *be, const struct moat_siphash_key *k, u32 slot,
				     struct moat_cookie *out)
{
	const struct moat_be_key *key = be->key;

	if (!key || key->cookie_key != k || key->cookie_slot != slot)
		return 0;
	*out = key->cookie;
	return 1;
}

struct cookie_batch {
	const struct moat_be *be;
	const struct moat_siphash_key *key;
	u32 slot;
	u32 ts_clock;
	const struct moat_pkt *pkts;
	struct moat_be_key *keys;
};

/*
 * Up to eight SYNs whose MAC messages are nw words (IPv4's 2, IPv6's 5): MACs
 * in lanes, then cookies. nw is a constant at each call, so the row copies unroll.
 */
MOAT_INLINE void cookies_in_lanes(const struct cookie_batch *c, const u16 *at, u32 n, u32 nw)
{
	u64 rows[MOAT_SIPX_MAX_ROWS][MOAT_SIPX_LANES], fin[MOAT_SIPX_LANES], mac[MOAT_SIPX_LANES];
	struct moat_cookie_fields f[MOAT_SIPX_LANES];
	u64 w[MOAT_SIPX_MAX_ROWS];
	struct moat_be_key *k;
	u32 lane, r;

	for (lane = 0; lane < n; lane++) {
		const struct moat_pkt *p = &c->pkts[at[lane]];

		moat_cookie_fields_of(p, c->slot, &f[lane]);
		moat_cookie_words(p, p->seq, w);
		for (r = 0; r < nw; r++)
			rows[r][lane] = w[r];
		fin[lane] = moat_sip_fin_word(nw, f[lane].meta, 6);
	}
	c->be->sipx(c->key, rows, nw, fin, mac);
	for (lane = 0; lane < n; lane++) {
		k = &c->keys[at[lane]];
		moat_cookie_finish(&c->pkts[at[lane]], c->slot, &f[lane], (u32)mac[lane], c->ts_clock,
				   &k->cookie);
		k->cookie_key = c->key;
		k->cookie_slot = c->slot;
	}
}

static void cookies_of(const struct cookie_batch *c, const u16 *at, u32 n, u8 family)
{
	u32 i, m;

	for (i = 0; i < n; i += MOAT_SIPX_LANES) {
		m = n - i < MOAT_SIPX_LANES ? n - i : MOAT_SIPX_LANES;
		if (family == 6)
			cookies_in_lanes(c, at + i, m, 5);
		else
			cookies_in_lanes(c, at + i, m, 2);
	}
}

void moat_be_cookies(const struct moat_be *be, const struct moat_siphash_key *key, u32 slot,
		     u32 ts_clock, const struct moat_pkt *pkts, struct moat_be_key *keys,
		     const u16 *idx, u32 n)
{
	const struct cookie_batch c = { be, key, slot, ts_clock, pkts, keys };
	u16 v4[MOAT_BE_COOKIES_MAX], v6[MOAT_BE_COOKIES_MAX];
	u32 i, n4 = 0, n6 = 0;

	/* Lanes hash messages of one length: IPv4 SYNs apart from IPv6 ones. */
	for (i = 0; i < n && i < MOAT_BE_COOKIES_MAX; i++) {
		if (pkts[idx[i]].family == 6)
			v6[n6++] = idx[i];
		else
			v4[n4++] = idx[i];
	}
	cookies_of(&c, v4, n4, 4);
	cookies_of(&c, v6, n6, 6);
}

MOAT_INLINE struct moat_flow *moat_be_flow_find(struct moat_be *be, const struct moat_pkt *pkt,
						 u32 *dir)
{
	struct moat_flow_key local;
	unsigned int orig_is_b;
	struct moat_flow *f;
	u32 swapped;
	const struct moat_flow_key *k = moat_be_key(be, pkt, &local, &swapped);
	u64 h;

	if (moat_be_key_absent(be->key, &be->flows))
		return NULL;
	h = moat_be_key_hash(be, k);
	if (moat_be_key_found(be->key, &be->flows)) {
		f = be->key->found;
		orig_is_b = be->key->found_mark;
	} else {
		f = stab_find_h(&be->flows, k, h, &orig_is_b);
	}
	if (!f)
		return NULL;
	if (f->state == MOAT_TCPS_NONE || moat_flow_expired(f, &be->pol->timeouts, be->now_ns)) {
		release_counted(be, k, f, orig_is_b);
		stab_remove_h(&be->flows, k, h);
		return NULL;
	}
	/* dir 0 is the originator: compare this packet's source with it. */
	*dir = swapped ^ orig_is_b;
	return f;
}

MOAT_INLINE struct moat_flow *moat_be_flow_add(struct moat_be *be, const struct moat_pkt *pkt)
{
	struct moat_flow_key local;
	unsigned int orig_is_b;
	struct moat_flow *f;
	int created;
	u32 swapped;
	const struct moat_flow_key *k = moat_be_key(be, pkt, &local, &swapped);
	u64 h = moat_be_key_hash(be, k);

	/* A stale entry of the same tuple gives back its count, then makes way. */
	f = moat_be_key_absent(be->key, &be->flows) ? NULL : stab_find_h(&be->flows, k, h, &orig_is_b);
	if (f) {
		release_counted(be, k, f, orig_is_b);
		stab_remove_h(&be->flows, k, h);
	}
	/* The packet that adds a flow comes from its originator: the slot's mark. */
	return stab_insert_h(&be->flows, k, h, swapped, &created);
}

MOAT_INLINE struct moat_source *moat_be_source(struct moat_be *be, const struct moat_addr *a,
					       u8 family, u32 plen, u64 now_ns)
{
	struct moat_src_key k;
	struct moat_source *s;
	int created;

	memset(&k, 0, sizeof(k));
	moat_addr_mask(&k.addr, a, family, plen);
	k.family = family;
	k.plen = (u8)plen;
	s = stab_insert(&be->sources, &k, 0, &created);
	if (!s)
		return NULL;
	if (created) {
		const struct moat_limits *l = plen == (family == 6 ? 128u : 32u) ?
						      &be->pol->source : &be->pol->prefix;
		u32 burst = l->syn_burst ? l->syn_burst : l->syn_rate;

		moat_bucket_init(&s->syn, now_ns, burst ? burst : 1);
		s->conn.start_ns = now_ns;
	}
	s->last_seen_s = (u32)(now_ns / MOAT_NSEC_PER_SEC);
	return s;
}

MOAT_INLINE struct moat_trigger *moat_be_dest(struct moat_be *be, const struct moat_pkt *pkt)
{
	struct moat_dst_key k;
	struct moat_trigger *t;
	int created;

	memset(&k, 0, sizeof(k));
	k.addr = pkt->daddr;
	k.port = pkt->dport;
	k.family = pkt->family;
	t = stab_insert(&be->dests, &k, 0, &created);
	return t;
}

/* A destination address's pickup budget: a new one starts full (moat_bucket_refill). */
MOAT_INLINE struct moat_pickup_budget *moat_be_pickup(struct moat_be *be, const struct moat_addr *a,
						      u8 family)
{
	struct moat_dst_key k;
	int created;

	memset(&k, 0, sizeof(k));
	k.addr = *a;
	k.family = family;
	return stab_insert(&be->pickups, &k, 0, &created);
}

enum moat_reason moat_be_run(struct moat_be *be, const struct moat_engine *e, const u8 *data,
			     const u8 *end, struct moat_pkt *pkt, struct moat_result *res)
{
	moat_be_set_clock(be, e->now_ns);
	return moat_engine_run(e, data, end, pkt, res);
}

enum moat_reason moat_be_run_parsed(struct moat_be *be, const struct moat_engine *e, int st,
				    struct moat_pkt *pkt, const struct moat_be_key *key,
				    struct moat_result *res)
{
	enum moat_reason r;

	be->key = key;
	r = moat_engine_run_parsed(e, st, pkt, res);
	be->key = NULL;
	return r;
}
