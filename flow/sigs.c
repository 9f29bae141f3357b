// SPDX-License-Identifier: BSD-3-Clause
#include "flow/sigs.h"

#include "core/engine_types.h"
#include "core/parse.h"

#include <errno.h>
#include <hs/hs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_MAGIC "MOATSIG1"
#define SLOT_PROBES 8
#define CHUNK_ALIGN 64

struct sig_meta {
	unsigned int id;
	uint8_t action; /* enum moat_sig_action */
	uint8_t dir;	/* enum moat_sig_dir */
	struct moat_port_ranges sport, dport;
	char *msg;
};

struct moat_sig_set {
	size_t n;
	struct sig_meta *meta;
	hs_database_t *block, *stream;
	hs_scratch_t *scratch; /* the prototype each matcher clones */
	size_t stream_size;
	uint32_t depth, max_streams;
};

struct stream_dir {
	hs_stream_t *hs;
	uint32_t next_seq;
	uint32_t bytes;
	uint8_t started, done, dropped;
	uint32_t drop_sig;
};

struct stream_slot {
	struct moat_flow_key key;
	uint32_t last_s;
	uint8_t used;
	struct stream_dir d[2]; /* 0: to the server, 1: to the client */
};

struct moat_sig_matcher {
	const struct moat_sig_set *set;
	hs_scratch_t *scratch;
	struct stream_slot *slots;
	uint32_t mask;
	uint64_t *hits;
	struct moat_sig_counts counts;
	/* Stream memory, allocated up front: no allocation per flow or packet. */
	unsigned char *pool;
	size_t chunk;
	void **free_chunks;
	uint32_t nfree, nchunks;
};

/*
 * hyperscan's stream allocator is process-wide: it hands out chunks of the pool
 * of the matcher the calling thread works for (each matcher has one thread).
 */
static __thread struct moat_sig_matcher *tls_matcher;

static void *stream_alloc(size_t size)
{
	struct moat_sig_matcher *m = tls_matcher;

	if (!m)
		return malloc(size);
	if (size > m->chunk || !m->nfree)
		return NULL;
	return m->free_chunks[--m->nfree];
}

static void stream_free(void *p)
{
	struct moat_sig_matcher *m = tls_matcher;

	if (m && (unsigned char *)p >= m->pool && (unsigned char *)p < m->pool + m->chunk * m->nchunks)
		m->free_chunks[m->nfree++] = p;
	else
		free(p);
}

static pthread_once_t allocator_once = PTHREAD_ONCE_INIT;

static void set_allocator(void)
{
	hs_set_stream_allocator(stream_alloc, stream_free);
}

/* ---- compile ------------------------------------------------------------- */

static unsigned int hs_flags_of(unsigned int f)
{
	unsigned int h = HS_FLAG_SINGLEMATCH;

	if (f & MOAT_SIGF_CASELESS)
		h |= HS_FLAG_CASELESS;
	if (f & MOAT_SIGF_DOTALL)
		h |= HS_FLAG_DOTALL;
	if (f & MOAT_SIGF_MULTILINE)
		h |= HS_FLAG_MULTILINE;
	if (f & MOAT_SIGF_UTF8)
		h |= HS_FLAG_UTF8;
	if (f & MOAT_SIGF_UCP)
		h |= HS_FLAG_UCP;
	return h;
}

void moat_sigs_free(struct moat_sig_set *set)
{
	size_t i;

	if (!set)
		return;
	for (i = 0; i < set->n; i++)
		free(set->meta[i].msg);
	free(set->meta);
	hs_free_database(set->block);
	hs_free_database(set->stream);
	hs_free_scratch(set->scratch);
	free(set);
}

/* Scratch and sizes, once both databases are there (compiled or loaded). */
static int finish_set(struct moat_sig_set *set, char *err, size_t errlen)
{
	if (hs_alloc_scratch(set->block, &set->scratch) != HS_SUCCESS ||
	    (set->stream && hs_alloc_scratch(set->stream, &set->scratch) != HS_SUCCESS) ||
	    (set->stream && hs_stream_size(set->stream, &set->stream_size) != HS_SUCCESS)) {
		snprintf(err, errlen, "signatures: hyperscan: cannot allocate scratch space");
		return -ENOMEM;
	}
	return 0;
}

static int compile_error(const struct moat_sig_rule *rules, size_t n, hs_compile_error_t *ce,
			 const char *path, char *err, size_t errlen)
{
	if (ce->expression >= 0 && (size_t)ce->expression < n) {
		const struct moat_sig_rule *r = &rules[ce->expression];

		snprintf(err, errlen, "%s:%u: key 'signatures[%d].pattern': signature %u: hyperscan: %s",
			 path, r->pattern_line ? r->pattern_line : r->line, ce->expression, r->id,
			 ce->message);
	} else {
		snprintf(err, errlen, "%s: key 'signatures': hyperscan: %s", path, ce->message);
	}
	hs_free_compile_error(ce);
	return -EINVAL;
}

static int compile_mode(const struct moat_sig_rules *rules, const char *path, unsigned int mode,
			hs_database_t **db, char *err, size_t errlen)
{
	size_t n = rules->n, i;
	const char **exprs = calloc(n, sizeof(*exprs));
	unsigned int *flags = calloc(n, sizeof(*flags)), *ids = calloc(n, sizeof(*ids));
	hs_compile_error_t *ce = NULL;
	int r = 0;

	if (!exprs || !flags || !ids) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		exprs[i] = rules->v[i].pattern;
		flags[i] = hs_flags_of(rules->v[i].flags);
		ids[i] = (unsigned int)i;
	}
	if (hs_compile_multi(exprs, flags, ids, (unsigned int)n, mode, NULL, db, &ce) != HS_SUCCESS)
		r = compile_error(rules->v, n, ce, path, err, errlen);
out:
	free(exprs);
	free(flags);
	free(ids);
	return r;
}

static int copy_meta(struct moat_sig_set *set, const struct moat_sig_rules *rules)
{
	set->meta = calloc(rules->n, sizeof(*set->meta));
	if (!set->meta)
		return -ENOMEM;
	for (set->n = 0; set->n < rules->n; set->n++) {
		const struct moat_sig_rule *r = &rules->v[set->n];
		struct sig_meta *m = &set->meta[set->n];

		m->id = r->id;
		m->action = (uint8_t)r->action;
		m->dir = (uint8_t)r->dir;
		m->sport = r->sport;
		m->dport = r->dport;
		m->msg = strdup(r->msg ? r->msg : "");
		if (!m->msg)
			return -ENOMEM;
	}
	return 0;
}

int moat_sigs_compile_rules(const struct moat_sig_rules *rules, unsigned int stream_depth,
			    unsigned int streams, const char *path, struct moat_sig_set **out,
			    char *err, size_t errlen)
{
	struct moat_sig_set *set;
	int r;

	*out = NULL;
	if (!rules->n)
		return 0;
	if (hs_valid_platform() != HS_SUCCESS) {
		snprintf(err, errlen, "%s: key 'signatures': this CPU cannot run hyperscan (it needs SSSE3)",
			 path);
		return -ENOTSUP;
	}
	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	set->depth = stream_depth;
	set->max_streams = streams;
	r = copy_meta(set, rules);
	if (!r)
		r = compile_mode(rules, path, HS_MODE_BLOCK, &set->block, err, errlen);
	if (!r && set->depth && set->max_streams)
		r = compile_mode(rules, path, HS_MODE_STREAM, &set->stream, err, errlen);
	if (!r)
		r = finish_set(set, err, errlen);
	if (r == -ENOMEM && !err[0])
		snprintf(err, errlen, "signatures: out of memory");
	if (r) {
		moat_sigs_free(set);
		return r;
	}
	*out = set;
	return 0;
}

size_t moat_sigs_count(const struct moat_sig_set *set)
{
	return set ? set->n : 0;
}

unsigned int moat_sigs_id(const struct moat_sig_set *set, size_t i)
{
	return set->meta[i].id;
}

const char *moat_sigs_msg(const struct moat_sig_set *set, size_t i)
{
	return set->meta[i].msg;
}

int moat_sigs_action(const struct moat_sig_set *set, size_t i)
{
	return set->meta[i].action;
}

size_t moat_sigs_stream_memory(const struct moat_sig_set *set)
{
	size_t chunk;

	if (!set || !set->stream)
		return 0;
	chunk = (set->stream_size + CHUNK_ALIGN - 1) & ~(size_t)(CHUNK_ALIGN - 1);
	return chunk * set->max_streams;
}

/* ---- save / load: how moatd hands a compiled set to moat-dp ---------------- */

static int put(FILE *f, const void *p, size_t n)
{
	return fwrite(p, 1, n, f) == n ? 0 : -EIO;
}

static int put_db(FILE *f, const hs_database_t *db)
{
	char *bytes = NULL;
	size_t len = 0;
	uint64_t len64;
	int r;

	if (db && hs_serialize_database(db, &bytes, &len) != HS_SUCCESS)
		return -ENOMEM;
	len64 = len;
	r = put(f, &len64, sizeof(len64));
	if (!r && len)
		r = put(f, bytes, len);
	free(bytes);
	return r;
}

int moat_sigs_save(const struct moat_sig_set *set, const char *file, char *err, size_t errlen)
{
	FILE *f = fopen(file, "wb");
	uint32_t hdr[3] = { (uint32_t)set->n, set->depth, set->max_streams };
	size_t i;
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return r;
	}
	r = put(f, SIG_MAGIC, 8);
	if (!r)
		r = put(f, hdr, sizeof(hdr));
	for (i = 0; !r && i < set->n; i++) {
		const struct sig_meta *m = &set->meta[i];
		uint32_t len = (uint32_t)strlen(m->msg);

		r = put(f, &m->id, sizeof(m->id)) || put(f, &m->action, 1) || put(f, &m->dir, 1) ||
		    put(f, &m->sport, sizeof(m->sport)) || put(f, &m->dport, sizeof(m->dport)) ||
		    put(f, &len, sizeof(len)) || put(f, m->msg, len) ? -EIO : 0;
	}
	if (!r)
		r = put_db(f, set->block);
	if (!r)
		r = put_db(f, set->stream);
	if (fclose(f) && !r)
		r = -EIO;
	if (r)
		snprintf(err, errlen, "%s: cannot write the signature database", file);
	return r;
}

static int get(FILE *f, void *p, size_t n)
{
	return fread(p, 1, n, f) == n ? 0 : -EINVAL;
}

static int get_db(FILE *f, hs_database_t **db)
{
	uint64_t len;
	char *bytes;
	int r;

	if (get(f, &len, sizeof(len)) || len > (1ULL << 32))
		return -EINVAL;
	if (!len)
		return 0;
	bytes = malloc(len);
	if (!bytes)
		return -ENOMEM;
	r = get(f, bytes, len);
	if (!r && hs_deserialize_database(bytes, len, db) != HS_SUCCESS)
		r = -EINVAL;
	free(bytes);
	return r;
}

static int load_meta(FILE *f, struct moat_sig_set *set, uint32_t n)
{
	set->meta = calloc(n ? n : 1, sizeof(*set->meta));
	if (!set->meta)
		return -ENOMEM;
	for (set->n = 0; set->n < n; set->n++) {
		struct sig_meta *m = &set->meta[set->n];
		uint32_t len;

		if (get(f, &m->id, sizeof(m->id)) || get(f, &m->action, 1) || get(f, &m->dir, 1) ||
		    get(f, &m->sport, sizeof(m->sport)) || get(f, &m->dport, sizeof(m->dport)) ||
		    get(f, &len, sizeof(len)) || len > 4096 || m->sport.n > MOAT_SIG_PORT_RANGES ||
		    m->dport.n > MOAT_SIG_PORT_RANGES)
			return -EINVAL;
		m->msg = calloc(1, len + 1);
		if (!m->msg || get(f, m->msg, len))
			return -EINVAL;
	}
	return 0;
}

int moat_sigs_load(const char *file, struct moat_sig_set **out, char *err, size_t errlen)
{
	struct moat_sig_set *set = calloc(1, sizeof(*set));
	FILE *f = fopen(file, "rb");
	uint32_t hdr[3];
	char magic[8];
	int r = -EINVAL;

	*out = NULL;
	if (!f || !set) {
		snprintf(err, errlen, "%s: %s", file, strerror(f ? ENOMEM : errno));
		r = f ? -ENOMEM : -errno;
		goto fail;
	}
	if (get(f, magic, 8) || memcmp(magic, SIG_MAGIC, 8) || get(f, hdr, sizeof(hdr)) ||
	    load_meta(f, set, hdr[0]) || get_db(f, &set->block) || get_db(f, &set->stream) ||
	    !set->block) {
		snprintf(err, errlen, "%s: not a moat signature database", file);
		goto fail;
	}
	set->depth = hdr[1];
	set->max_streams = hdr[2];
	r = finish_set(set, err, errlen);
	if (r)
		goto fail;
	fclose(f);
	*out = set;
	return 0;
fail:
	if (f)
		fclose(f);
	moat_sigs_free(set);
	return r;
}

/* ---- matching ------------------------------------------------------------- */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

struct moat_sig_matcher *moat_sig_matcher_new(const struct moat_sig_set *set)
{
	struct moat_sig_matcher *m;
	uint32_t i;

	if (!set)
		return NULL;
	pthread_once(&allocator_once, set_allocator);
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->set = set;
	m->hits = calloc(set->n, sizeof(*m->hits));
	if (!m->hits || hs_clone_scratch(set->scratch, &m->scratch) != HS_SUCCESS)
		goto fail;
	if (set->stream) {
		m->nchunks = set->max_streams;
		m->chunk = (set->stream_size + CHUNK_ALIGN - 1) & ~(size_t)(CHUNK_ALIGN - 1);
		/* Twice the streams: short probe runs, and slots are seldom what runs out. */
		m->mask = pow2_at_least(set->max_streams * 2) - 1;
		m->slots = calloc((size_t)m->mask + 1, sizeof(*m->slots));
		m->pool = aligned_alloc(CHUNK_ALIGN, m->chunk * m->nchunks);
		m->free_chunks = calloc(m->nchunks, sizeof(*m->free_chunks));
		if (!m->slots || !m->pool || !m->free_chunks)
			goto fail;
		for (i = 0; i < m->nchunks; i++)
			m->free_chunks[m->nfree++] = m->pool + (size_t)i * m->chunk;
	}
	return m;
fail:
	moat_sig_matcher_free(m);
	return NULL;
}

static void close_dir(struct moat_sig_matcher *m, struct stream_dir *d)
{
	if (!d->hs)
		return;
	hs_close_stream(d->hs, NULL, NULL, NULL); /* no callback: matches at the end are moot */
	d->hs = NULL;
	m->counts.streams_open--;
}

static void release_slot(struct moat_sig_matcher *m, struct stream_slot *s)
{
	close_dir(m, &s->d[0]);
	close_dir(m, &s->d[1]);
	memset(s, 0, sizeof(*s));
}

void moat_sig_matcher_free(struct moat_sig_matcher *m)
{
	struct moat_sig_matcher *saved = tls_matcher;
	uint32_t i;

	if (!m)
		return;
	tls_matcher = m; /* its streams go back to its own pool */
	for (i = 0; m->slots && i <= m->mask; i++)
		if (m->slots[i].used)
			release_slot(m, &m->slots[i]);
	tls_matcher = saved;
	hs_free_scratch(m->scratch);
	free(m->slots);
	free(m->pool);
	free(m->free_chunks);
	free(m->hits);
	free(m);
}

const struct moat_sig_set *moat_sig_matcher_set(const struct moat_sig_matcher *m)
{
	return m ? m->set : NULL;
}

static uint64_t key_hash(const struct moat_flow_key *k)
{
	const unsigned char *b = (const unsigned char *)k;
	uint64_t h = 0x9e3779b97f4a7c15ULL, w;
	size_t i;

	for (i = 0; i + 8 <= sizeof(*k); i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (; i < sizeof(*k); i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

/* The flow's slot, or a free one for it; NULL when its probe run is full. */
static struct stream_slot *slot_for(struct moat_sig_matcher *m, const struct moat_flow_key *k,
				    uint32_t now_s)
{
	uint32_t i, b = (uint32_t)key_hash(k);
	struct stream_slot *free_slot = NULL;

	for (i = 0; i < SLOT_PROBES; i++) {
		struct stream_slot *s = &m->slots[(b + i) & m->mask];

		if (s->used && !memcmp(&s->key, k, sizeof(*k))) {
			s->last_s = now_s;
			return s;
		}
		if (!s->used && !free_slot)
			free_slot = s;
	}
	if (free_slot) {
		free_slot->used = 1;
		free_slot->key = *k;
		free_slot->last_s = now_s;
	}
	return free_slot;
}

static bool port_in(const struct moat_port_ranges *pr, uint16_t port)
{
	unsigned int i;

	if (!pr->n)
		return true;
	for (i = 0; i < pr->n; i++)
		if (port >= pr->lo[i] && port <= pr->hi[i])
			return true;
	return false;
}

struct match_ctx {
	struct moat_sig_matcher *m;
	const struct moat_sig_packet *p;
	int action;
	size_t sig;
};

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
		    unsigned int flags, void *ctx)
{
	struct match_ctx *c = ctx;
	const struct sig_meta *meta = &c->m->set->meta[id];

	(void)from;
	(void)to;
	(void)flags;
	if ((meta->dir == MOAT_SIG_TO_SERVER && !c->p->to_server) ||
	    (meta->dir == MOAT_SIG_TO_CLIENT && c->p->to_server) || !port_in(&meta->sport, c->p->sport) ||
	    !port_in(&meta->dport, c->p->dport))
		return 0;
	c->m->hits[id]++;
	if (meta->action == MOAT_SIG_DROP) {
		c->action = MOAT_SIG_DROP;
		c->sig = id;
		return 1; /* the packet is dropped: no need to look further */
	}
	if (c->action < 0) {
		c->action = MOAT_SIG_ALERT;
		c->sig = id;
	}
	return 0;
}

static void match_block(struct moat_sig_matcher *m, struct match_ctx *c)
{
	hs_scan(m->set->block, (const char *)c->p->payload, c->p->len, 0, m->scratch, on_match, c);
}

/* In-order data of a streamed direction: through its stream. False: match it alone. */
static bool match_stream(struct moat_sig_matcher *m, struct stream_dir *d, struct match_ctx *c)
{
	const struct moat_sig_packet *p = c->p;

	if (!d->started) {
		d->started = 1;
		d->next_seq = p->seq;
		if (hs_open_stream(m->set->stream, 0, &d->hs) != HS_SUCCESS) {
			d->hs = NULL;
			d->done = 1;
			m->counts.streams_refused++;
			return false;
		}
		m->counts.streams_open++;
	}
	if (!d->hs)
		return false;
	if (p->seq != d->next_seq) {
		m->counts.out_of_order++;
		return false;
	}
	hs_scan_stream(d->hs, (const char *)p->payload, p->len, 0, m->scratch, on_match, c);
	d->next_seq += p->len;
	d->bytes += p->len;
	if (d->bytes >= m->set->depth || c->action == MOAT_SIG_DROP) {
		close_dir(m, d);
		d->done = 1;
	}
	return true;
}

void moat_sig_match(struct moat_sig_matcher *m, const struct moat_sig_packet *p,
		    struct moat_sig_verdict *v)
{
	struct match_ctx c = { .m = m, .p = p, .action = -1 };
	struct stream_dir *d = NULL;

	v->action = -1;
	if (!m || !p->len)
		return;
	tls_matcher = m;
	if (p->tracked && m->slots) {
		struct stream_slot *s = slot_for(m, p->key, p->now_s);

		d = s ? &s->d[p->to_server ? 0 : 1] : NULL;
		m->counts.streams_refused += !s;
	}
	if (d && d->dropped) {
		v->action = MOAT_SIG_DROP;
		v->sig = d->drop_sig;
		return;
	}
	if (!d || d->done || !match_stream(m, d, &c))
		match_block(m, &c);
	if (d && c.action == MOAT_SIG_DROP) {
		d->dropped = 1; /* the rest of this direction goes too */
		d->drop_sig = (uint32_t)c.sig;
	}
	v->action = c.action;
	v->sig = c.sig;
}

void moat_sig_flow_ended(struct moat_sig_matcher *m, const struct moat_flow_key *k)
{
	uint32_t i, b;

	if (!m || !m->slots)
		return;
	tls_matcher = m;
	b = (uint32_t)key_hash(k);
	for (i = 0; i < SLOT_PROBES; i++) {
		struct stream_slot *s = &m->slots[(b + i) & m->mask];

		if (s->used && !memcmp(&s->key, k, sizeof(*k))) {
			release_slot(m, s);
			return;
		}
	}
}

void moat_sig_matcher_sweep(struct moat_sig_matcher *m, uint32_t now_s, uint32_t idle_s,
			    int (*gone)(const struct moat_flow_key *key, void *ctx), void *ctx)
{
	uint32_t i;

	if (!m || !m->slots)
		return;
	tls_matcher = m;
	for (i = 0; i <= m->mask; i++) {
		struct stream_slot *s = &m->slots[i];

		if (s->used && (now_s - s->last_s >= idle_s || (gone && gone(&s->key, ctx))))
			release_slot(m, s);
	}
}

void moat_sig_matcher_counts(const struct moat_sig_matcher *m, struct moat_sig_counts *c)
{
	if (m)
		*c = m->counts;
	else
		memset(c, 0, sizeof(*c));
}

const uint64_t *moat_sig_matcher_hits(const struct moat_sig_matcher *m)
{
	return m ? m->hits : NULL;
}

int moat_sig_after_engine(struct moat_sig_matcher *m, const uint8_t *frame,
			  const struct moat_pkt *pkt, const struct moat_result *res, int r,
			  bool to_server, uint32_t now_s, struct moat_sig_verdict *v)
{
	struct moat_flow_key key;
	struct moat_sig_packet p;

	v->action = -1;
	if (!m || pkt->proto != MOAT_IPPROTO_TCP)
		return r;
	if (res->flow && (pkt->tcp_flags & (MOAT_TCP_FIN | MOAT_TCP_RST)) &&
	    (res->flow->state == MOAT_TCPS_TIME_WAIT || res->flow->state == MOAT_TCPS_CLOSED)) {
		/* The flow ended: its streams go with it. */
		moat_flow_key_make(pkt, &key);
		moat_sig_flow_ended(m, &key);
	}
	if (moat_reason_verdict(r) != MOAT_PASS || !pkt->payload_len)
		return r;
	memset(&p, 0, sizeof(p));
	p.payload = frame + pkt->payload_off;
	p.len = pkt->payload_len;
	p.seq = pkt->seq;
	p.sport = pkt->sport;
	p.dport = pkt->dport;
	p.to_server = to_server;
	p.now_s = now_s;
	if (res->flow) {
		moat_flow_key_make(pkt, &key);
		p.key = &key;
		p.tracked = true;
	}
	moat_sig_match(m, &p, v);
	return v->action == MOAT_SIG_DROP ? MOAT_R_SIGNATURE : r;
}

bool moat_sig_guess_to_server(const struct moat_policy *pol, const struct moat_pkt *pkt)
{
	bool to_dst = !pol->protect_all_ports && moat_port_protected(pol, pkt->dport);
	bool to_src = !pol->protect_all_ports && moat_port_protected(pol, pkt->sport);

	if (to_dst != to_src)
		return to_dst;
	return pkt->dport < pkt->sport;
}
