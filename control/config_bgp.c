// SPDX-License-Identifier: BSD-3-Clause
/*
 * The bgp: section of the config (control/config_bgp.h), walked on its own so
 * that config.c only hands it over. Errors read "FILE:LINE: key 'bgp.x': ...".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/config_bgp.h"
#include "control/config_yaml.h"

static const char *const daemon_names[] = { "none", "bird", NULL };

void moat_bgp_config_defaults(struct moat_bgp_config *b)
{
	memset(b, 0, sizeof(*b));
	b->daemon = MOAT_BGP_BIRD;
	strcpy(b->control, MOAT_BGP_DEFAULT_CONTROL);
	strcpy(b->include, MOAT_BGP_DEFAULT_INCLUDE);
	strcpy(b->link, MOAT_BGP_DEFAULT_LINK);
	b->flowspec_top_rate = 1000;
	b->flowspec_max = 1000;
}

static int scalar(struct cfg_ctx *c, const char *path, const yaml_node_t *v)
{
	char buf[64];

	if (v->type == YAML_SCALAR_NODE)
		return 0;
	return cfg_error(c, v, path, "expected a single value, got %s",
			 cfg_value_text(v, buf, sizeof(buf)));
}

static int load_text(struct cfg_ctx *c, const char *path, const yaml_node_t *v, char *dst,
		     size_t len)
{
	int r = scalar(c, path, v);

	if (r)
		return r;
	if (!*cfg_scalar(v))
		return cfg_error(c, v, path, "expected a path or name, got nothing");
	if (strlen(cfg_scalar(v)) >= len)
		return cfg_error(c, v, path, "longer than %zu characters", len - 1);
	strcpy(dst, cfg_scalar(v));
	return 0;
}

/* A path moatd writes or connects to: absolute, so a reload reads the same one. */
static int load_path(struct cfg_ctx *c, const char *path, const yaml_node_t *v, char *dst,
		     size_t len)
{
	int r = load_text(c, path, v, dst, len);

	if (!r && dst[0] != '/')
		return cfg_error(c, v, path, "expected an absolute path, got '%s'", dst);
	return r;
}

/* A link name the kernel takes: 1..15 characters, no '/', ':' or blanks. */
static int load_link(struct cfg_ctx *c, const char *path, const yaml_node_t *v, char *dst,
		     size_t len)
{
	int r = load_text(c, path, v, dst, len);

	if (r)
		return r;
	if (strpbrk(dst, "/: \t\"") || !strcmp(dst, ".") || !strcmp(dst, ".."))
		return cfg_error(c, v, path, "'%s' is not a link name", dst);
	return 0;
}

static int load_uint(struct cfg_ctx *c, const char *path, const yaml_node_t *v,
		     unsigned int *dst, long long lo, long long hi)
{
	char buf[64];
	long long n;

	if (v->type != YAML_SCALAR_NODE || cfg_parse_int(v, &n) || n < lo || n > hi)
		return cfg_error(c, v, path, "expected an integer %lld..%lld, got %s", lo, hi,
				 cfg_value_text(v, buf, sizeof(buf)));
	*dst = (unsigned int)n;
	return 0;
}

static int load_flag(struct cfg_ctx *c, const char *path, const yaml_node_t *v, bool *dst)
{
	const char *s;
	int r = scalar(c, path, v);

	if (r)
		return r;
	s = cfg_scalar(v);
	if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")))
		*dst = true;
	else if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		 (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")))
		*dst = false;
	else
		return cfg_error(c, v, path, "expected true or false, got '%s'", s);
	return 0;
}

static int load_daemon(struct cfg_ctx *c, const char *path, const yaml_node_t *v,
		       struct moat_bgp_config *b)
{
	int r = scalar(c, path, v), i;

	if (r)
		return r;
	for (i = 0; daemon_names[i]; i++)
		if (!strcmp(daemon_names[i], cfg_scalar(v))) {
			b->daemon = (enum moat_bgp_daemon)i;
			return 0;
		}
	return cfg_error(c, v, path,
			 "expected bird (BIRD 2) or none, got '%s' (moatd drives BIRD 2 only: docs/fleet.md)",
			 cfg_scalar(v));
}

static int load_announce(struct cfg_ctx *c, const char *path, const yaml_node_t *n,
			 struct moat_bgp_config *b)
{
	const yaml_node_t *item;
	struct moat_cidr cidr;
	char buf[64];
	int r = cfg_expect_list(c, path, n);

	if (r)
		return r < 0 ? r : 0;
	FOR_EACH_ITEM(c, n, item)
	{
		if (item->type != YAML_SCALAR_NODE || moat_cidr_parse(cfg_scalar(item), &cidr))
			return cfg_error(c, item, path,
					 "expected an IPv4 or IPv6 prefix like 192.0.2.1/32, got %s",
					 cfg_value_text(item, buf, sizeof(buf)));
		if (b->n_announce == MOAT_BGP_MAX_ANNOUNCE)
			return cfg_error(c, item, path, "at most %d prefixes",
					 MOAT_BGP_MAX_ANNOUNCE);
		b->announce[b->n_announce++] = cidr;
	}
	return 0;
}

static int load_key(struct cfg_ctx *c, const char *key, const char *path, const yaml_node_t *v,
		    struct moat_bgp_config *b)
{
	if (!strcmp(key, "daemon"))
		return load_daemon(c, path, v, b);
	if (!strcmp(key, "control"))
		return load_path(c, path, v, b->control, sizeof(b->control));
	if (!strcmp(key, "include"))
		return load_path(c, path, v, b->include, sizeof(b->include));
	if (!strcmp(key, "link"))
		return load_link(c, path, v, b->link, sizeof(b->link));
	if (!strcmp(key, "announce"))
		return load_announce(c, path, v, b);
	if (!strcmp(key, "flowspec"))
		return load_flag(c, path, v, &b->flowspec);
	if (!strcmp(key, "flowspec_top"))
		return load_uint(c, path, v, &b->flowspec_top, 0, MOAT_BGP_MAX_TOP);
	if (!strcmp(key, "flowspec_top_rate"))
		return load_uint(c, path, v, &b->flowspec_top_rate, 1, 100000000);
	if (!strcmp(key, "flowspec_max"))
		return load_uint(c, path, v, &b->flowspec_max, 1, 100000);
	return -ENOENT;
}

/* What no single key can say: exporting the top sources means exporting at all. */
static int check_bgp(struct cfg_ctx *c, const char *path, const yaml_node_t *top,
		     const struct moat_bgp_config *b)
{
	char key[64];

	snprintf(key, sizeof(key), "%s.flowspec_top", path);
	if (b->flowspec_top && !b->flowspec)
		return cfg_error(c, top, key, "needs flowspec: true (the top sources go out as FlowSpec rules)");
	if (b->flowspec_top > b->flowspec_max)
		return cfg_error(c, top, key, "larger than flowspec_max (%u)", b->flowspec_max);
	return 0;
}

int cfg_load_bgp(struct cfg_ctx *c, const char *path, const yaml_node_t *map)
{
	struct moat_bgp_config *b = &c->cfg->bgp;
	const yaml_node_t *top = map; /* where flowspec_top was set, for its errors */
	yaml_node_pair_t *pair;
	char key[64];
	int r;

	moat_bgp_config_defaults(b);
	if (map->type == YAML_SCALAR_NODE && !*cfg_scalar(map)) {
		b->daemon = MOAT_BGP_NONE; /* `bgp:` with nothing under it */
		return 0;
	}
	if (map->type != YAML_MAPPING_NODE)
		return cfg_error(c, map, path, "expected a mapping of keys, got %s",
				 cfg_node_kind(map));
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);

		if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
			return cfg_error(c, kn, path, "keys must be plain names");
		snprintf(key, sizeof(key), "%s.%s", path, cfg_scalar(kn));
		if (!strcmp(cfg_scalar(kn), "flowspec_top"))
			top = vn;
		r = load_key(c, cfg_scalar(kn), key, vn, b);
		if (r == -ENOENT)
			return cfg_error(c, kn, NULL, "unknown key '%s'", key);
		if (r)
			return r;
	}
	if (b->daemon == MOAT_BGP_NONE)
		return 0;
	return check_bgp(c, path, top, b);
}
