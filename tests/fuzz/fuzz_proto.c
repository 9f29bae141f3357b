// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target: the control protocol's request handling, without a daemon.
 * Input: up to 32 requests, one per line, applied in order to one config made
 * by moat_config_defaults, as moatd's dispatch() would (json_tokener_parse, a
 * string "cmd" looked up by moat_cmd_lookup, list commands through
 * moat_proto_apply_list). Checked after every request:
 *   - a successful block/allow puts the prefix on its list (moat_cidr_list_match
 *     covers it, the exact prefix is there once) and leaves the other list as it was;
 *   - a successful unblock/unallow takes the exact prefix off its list;
 *   - a failed request leaves both lists byte for byte unchanged, with an error text;
 *   - moat_cidr_format of an accepted prefix parses back to the same prefix.
 * ASan + UBSan + LeakSanitizer catch the rest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "flow/cidr.h"
#include "control/config.h"
#include "control/proto.h"

#define MAX_REQUESTS 32

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_proto: check failed: %s (line %d)\n", #cond,        \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct snap {
	struct moat_cidr *v;
	size_t n;
};

static void snap_take(struct snap *s, const struct moat_cidr_list *l)
{
	s->n = l->n;
	s->v = malloc(l->n ? l->n * sizeof(*s->v) : 1);
	CHECK(s->v);
	if (l->n)
		memcpy(s->v, l->v, l->n * sizeof(*s->v));
}

static int snap_same(const struct snap *s, const struct moat_cidr_list *l)
{
	return s->n == l->n && (!l->n || !memcmp(s->v, l->v, l->n * sizeof(*s->v)));
}

static size_t count_exact(const struct moat_cidr_list *l, const struct moat_cidr *c)
{
	size_t i, k = 0;

	for (i = 0; i < l->n; i++)
		k += l->v[i].family == c->family && l->v[i].plen == c->plen &&
		     moat_addr_eq(&l->v[i].addr, &c->addr);
	return k;
}

static int is_list_cmd(int id)
{
	return id == MOAT_CMD_BLOCK || id == MOAT_CMD_UNBLOCK || id == MOAT_CMD_ALLOW ||
	       id == MOAT_CMD_UNALLOW;
}

static void one_request(struct moat_config *cfg, const char *line)
{
	json_object *req = json_tokener_parse(line), *jcmd, *jc;
	struct moat_cidr_list *l, *other;
	struct snap before_l, before_o;
	struct moat_cidr c, back;
	char err[256], text[64];
	const char *name;
	int id, r, parsed;

	if (!req)
		return;
	if (!json_object_object_get_ex(req, "cmd", &jcmd) ||
	    !json_object_is_type(jcmd, json_type_string)) {
		json_object_put(req);
		return;
	}
	name = json_object_get_string(jcmd);
	id = moat_cmd_lookup(name);
	CHECK(id >= -1 && id < MOAT_CMD_COUNT);
	if (id >= 0)
		CHECK(!strcmp(moat_cmds[id].name, name));
	if (!is_list_cmd(id)) {
		json_object_put(req);
		return;
	}
	l = (id == MOAT_CMD_BLOCK || id == MOAT_CMD_UNBLOCK) ? &cfg->deny : &cfg->allow;
	other = l == &cfg->deny ? &cfg->allow : &cfg->deny;
	snap_take(&before_l, l);
	snap_take(&before_o, other);

	/* The harness's own reading of the prefix, to check the outcome against. */
	parsed = json_object_object_get_ex(req, "cidr", &jc) &&
		 json_object_is_type(jc, json_type_string) &&
		 !moat_cidr_parse(json_object_get_string(jc), &c);

	err[0] = '\0';
	r = moat_proto_apply_list(cfg, id, req, err, sizeof(err));
	CHECK(r <= 0);
	CHECK(memchr(err, '\0', sizeof(err)));
	CHECK(snap_same(&before_o, other)); /* the other list is never touched */
	if (r) {
		CHECK(err[0] != '\0');
		CHECK(snap_same(&before_l, l)); /* refused: nothing changed */
	} else {
		CHECK(parsed);
		CHECK(c.family == 4 || c.family == 6);
		CHECK(c.plen <= (c.family == 4 ? 32 : 128));
		if (id == MOAT_CMD_BLOCK || id == MOAT_CMD_ALLOW) {
			CHECK(moat_cidr_list_match(l, &c.addr, c.family) >= (int)c.plen);
			CHECK(count_exact(l, &c) == 1);
			CHECK(l->n == before_l.n || l->n == before_l.n + 1);
		} else {
			CHECK(count_exact(l, &c) == 0);
			CHECK(l->n + 1 == before_l.n);
		}
		/* Canonical text round trip. */
		moat_cidr_format(&c, text, sizeof(text));
		CHECK(!moat_cidr_parse(text, &back));
		CHECK(back.family == c.family && back.plen == c.plen &&
		      moat_addr_eq(&back.addr, &c.addr));
	}
	free(before_l.v);
	free(before_o.v);
	json_object_put(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct moat_config cfg;
	char *buf, *line, *nl, *end;
	int n = 0;

	/* NUL-terminated exact-size copy: ASan catches any read past the request. */
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = buf + size;
	moat_config_defaults(&cfg);
	for (line = buf; line && n++ < MAX_REQUESTS; line = nl ? nl + 1 : NULL) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl)
			*nl = '\0';
		one_request(&cfg, line);
	}
	moat_config_free(&cfg);
	free(buf);
	return 0;
}
