// SPDX-License-Identifier: BSD-3-Clause
#include "daemon/top.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/flowkey.h"
#include "core/parse.h"
#include "core/reason.h"

#define TOP_DECAY 0.8 /* per second: a steady rate r settles at r / (1 - TOP_DECAY) */
#define TOP_PROBES 16
#define TOP_SHOWN 20

static struct moatd_top_source *top_slot(struct moatd_top *t, const struct moat_addr *a, u8 family)
{
	u64 h = moat_mix64(((u64)a->w[0] << 32 | a->w[1]) ^ ((u64)a->w[2] << 32 | a->w[3]) ^ family);
	struct moatd_top_source *weakest = NULL;
	unsigned int i;

	for (i = 0; i < TOP_PROBES; i++) {
		struct moatd_top_source *s = &t->v[(h + i) & (MOATD_TOP_SLOTS - 1)];

		if (s->used && s->family == family && moat_addr_eq(&s->addr, a))
			return s;
		if (!s->used || !weakest || s->drops + s->syns < weakest->drops + weakest->syns)
			weakest = s;
		if (!s->used)
			break;
	}
	memset(weakest, 0, sizeof(*weakest));
	weakest->used = 1;
	weakest->addr = *a;
	weakest->family = family;
	return weakest;
}

void moatd_top_count(struct moatd_top *t, const struct moat_event *ev, unsigned int sampled_one_in)
{
	struct moatd_top_source *s = top_slot(t, &ev->saddr, ev->family);
	double n = sampled_one_in ? sampled_one_in : 1;

	if (moat_reason_verdict(ev->reason) == MOAT_DROP) {
		s->drops += n;
		s->last_reason = ev->reason;
	}
	if (ev->tcp_flags & MOAT_TCP_SYN)
		s->syns += n;
}

void moatd_top_decay(struct moatd_top *t)
{
	unsigned int i;

	for (i = 0; i < MOATD_TOP_SLOTS; i++) {
		struct moatd_top_source *s = &t->v[i];

		if (!s->used)
			continue;
		s->drops *= TOP_DECAY;
		s->syns *= TOP_DECAY;
		if (s->drops + s->syns < 0.5)
			s->used = 0;
	}
}

static int cmp_top(const void *a, const void *b)
{
	const struct moatd_top_source *x = *(const struct moatd_top_source *const *)a;
	const struct moatd_top_source *y = *(const struct moatd_top_source *const *)b;
	double kx = x->drops + x->syns, ky = y->drops + y->syns;

	return kx < ky ? 1 : kx > ky ? -1 : 0;
}

static json_object *top_source_json(const struct moatd_top_source *s)
{
	json_object *o = json_object_new_object();
	char buf[INET6_ADDRSTRLEN];

	inet_ntop(s->family == 6 ? AF_INET6 : AF_INET, s->addr.w, buf, sizeof(buf));
	json_object_object_add(o, "source", json_object_new_string(buf));
	json_object_object_add(o, "drops_per_s", json_object_new_double(s->drops * (1 - TOP_DECAY)));
	json_object_object_add(o, "syn_per_s", json_object_new_double(s->syns * (1 - TOP_DECAY)));
	json_object_object_add(o, "last_drop_reason",
			       json_object_new_string(s->drops > 0 ? moat_reason_name(s->last_reason) :
								     ""));
	return o;
}

json_object *moatd_top_reply(const struct moatd_top *t, unsigned int sampled_one_in)
{
	static const struct moatd_top_source *v[MOATD_TOP_SLOTS];
	json_object *j = json_object_new_object(), *arr = json_object_new_array();
	unsigned int i, n = 0;

	for (i = 0; i < MOATD_TOP_SLOTS; i++)
		if (t->v[i].used)
			v[n++] = &t->v[i];
	qsort(v, n, sizeof(v[0]), cmp_top);
	for (i = 0; i < n && i < TOP_SHOWN; i++)
		json_object_array_add(arr, top_source_json(v[i]));
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "sampled_one_in", json_object_new_int((int)sampled_one_in));
	json_object_object_add(j, "sources", arr);
	return j;
}
