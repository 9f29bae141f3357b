// SPDX-License-Identifier: BSD-3-Clause
/* The config's `signatures:` list: each entry a mapping, checked field by field. */
#include "control/config.h"
#include "control/config_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- signatures: a list of mappings ---------------------------------------- */

static const char *const sig_action_names[] = { "drop", "alert", NULL };
static const char *const sig_dir_names[] = { "any", "to_server", "to_client", NULL };
static const char *const sig_flag_names[] = { "caseless", "dotall", "multiline", "utf8", "ucp", NULL };

static int name_index(const yaml_node_t *n, const char *const *names)
{
	int i;

	if (n->type != YAML_SCALAR_NODE)
		return -1;
	for (i = 0; names[i]; i++)
		if (!strcmp(cfg_scalar(n), names[i]))
			return i;
	return -1;
}

static void names_text(const char *const *names, char *buf, size_t len)
{
	int i;

	buf[0] = '\0';
	for (i = 0; names[i]; i++) {
		strncat(buf, i ? " | " : "", len - strlen(buf) - 1);
		strncat(buf, names[i], len - strlen(buf) - 1);
	}
}

static int sig_enum(struct cfg_ctx *c, const char *path, const yaml_node_t *n,
		    const char *const *names, int *out)
{
	char choices[128], vb[128];

	*out = name_index(n, names);
	if (*out >= 0)
		return 0;
	names_text(names, choices, sizeof(choices));
	return cfg_error(c, n, path, "expected one of %s, got %s", choices,
			 cfg_value_text(n, vb, sizeof(vb)));
}

static int sig_flags(struct cfg_ctx *c, const char *path, const yaml_node_t *n, unsigned int *out)
{
	const yaml_node_t *item;
	char choices[128], vb[128];
	int r = cfg_expect_list(c, path, n), i;

	*out = 0;
	if (r)
		return r < 0 ? r : 0;
	FOR_EACH_ITEM(c, n, item)
	{
		i = name_index(item, sig_flag_names);
		if (i < 0) {
			names_text(sig_flag_names, choices, sizeof(choices));
			return cfg_error(c, item, path, "unknown flag %s (%s)",
					 cfg_value_text(item, vb, sizeof(vb)), choices);
		}
		*out |= 1u << i;
	}
	return 0;
}

/* 80, or "1024-65535": a list of ports and ranges. */
static int sig_ports(struct cfg_ctx *c, const char *path, const yaml_node_t *n,
		     struct moat_port_ranges *pr)
{
	const yaml_node_t *item;
	int r = cfg_expect_list(c, path, n);

	pr->n = 0;
	if (r)
		return r < 0 ? r : 0;
	FOR_EACH_ITEM(c, n, item)
	{
		unsigned int lo, hi;
		char extra;
		int k = item->type == YAML_SCALAR_NODE ?
				sscanf(cfg_scalar(item), "%u-%u%c", &lo, &hi, &extra) : 0;

		if (k == 1)
			hi = lo;
		if ((k != 1 && k != 2) || !lo || lo > hi || hi > 65535)
			return cfg_error(c, item, path,
					 "expected a TCP port 1..65535 or a range like 1024-65535, got %s%s%s",
					 item->type == YAML_SCALAR_NODE ? "'" : "",
					 item->type == YAML_SCALAR_NODE ? cfg_scalar(item) : cfg_node_kind(item),
					 item->type == YAML_SCALAR_NODE ? "'" : "");
		if (pr->n == MOAT_SIG_PORT_RANGES)
			return cfg_error(c, item, path, "more than %d ports or ranges",
					 MOAT_SIG_PORT_RANGES);
		pr->lo[pr->n] = (unsigned short)lo;
		pr->hi[pr->n] = (unsigned short)hi;
		pr->n++;
	}
	return 0;
}

static int sig_text(struct cfg_ctx *c, const char *path, const yaml_node_t *n, char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return cfg_error(c, n, path, "expected a string, got %s", cfg_node_kind(n));
	free(*out);
	*out = strdup(cfg_scalar(n));
	return *out ? 0 : -ENOMEM;
}

static int sig_field(struct cfg_ctx *c, struct moat_sig_rule *s, const char *key, const char *path,
		     const yaml_node_t *v)
{
	long long id;
	char vb[128];
	int e;

	if (!strcmp(key, "id")) {
		if (cfg_parse_int(v, &id) || id < 1 || id > 0xffffffffLL)
			return cfg_error(c, v, path, "expected an integer 1..4294967295, got %s",
					 cfg_value_text(v, vb, sizeof(vb)));
		s->id = (unsigned int)id;
		return 0;
	}
	if (!strcmp(key, "msg"))
		return sig_text(c, path, v, &s->msg);
	if (!strcmp(key, "pattern")) {
		if (v->type == YAML_SCALAR_NODE && !*cfg_scalar(v))
			return cfg_error(c, v, path, "an empty pattern matches everything");
		s->pattern_line = (unsigned int)v->start_mark.line + 1;
		return sig_text(c, path, v, &s->pattern);
	}
	if (!strcmp(key, "flags"))
		return sig_flags(c, path, v, &s->flags);
	if (!strcmp(key, "proto")) {
		if (v->type == YAML_SCALAR_NODE && !strcmp(cfg_scalar(v), "tcp"))
			return 0;
		return cfg_error(c, v, path, "expected tcp (moat matches TCP payloads), got %s",
				 cfg_value_text(v, vb, sizeof(vb)));
	}
	if (!strcmp(key, "src_ports"))
		return sig_ports(c, path, v, &s->sport);
	if (!strcmp(key, "dst_ports"))
		return sig_ports(c, path, v, &s->dport);
	if (!strcmp(key, "direction")) {
		if (sig_enum(c, path, v, sig_dir_names, &e))
			return -EINVAL;
		s->dir = (enum moat_sig_dir)e;
		return 0;
	}
	if (!strcmp(key, "action")) {
		if (sig_enum(c, path, v, sig_action_names, &e))
			return -EINVAL;
		s->action = (enum moat_sig_action)e;
		return 0;
	}
	return cfg_error(c, v, NULL,
			 "unknown key '%s' (a signature has id, msg, pattern, flags, proto, src_ports, dst_ports, direction, action)",
			 path);
}

static int load_sig(struct cfg_ctx *c, const char *prefix, const yaml_node_t *map,
		    struct moat_sig_rule *s)
{
	yaml_node_pair_t *pair;

	if (map->type != YAML_MAPPING_NODE)
		return cfg_error(c, map, prefix, "expected a mapping (id, pattern, ...), got %s",
				 cfg_node_kind(map));
	s->line = (unsigned int)map->start_mark.line + 1;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);
		char path[200];

		if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
			return cfg_error(c, kn, prefix, "keys must be plain names");
		snprintf(path, sizeof(path), "%s.%s", prefix, cfg_scalar(kn));
		if (sig_field(c, s, cfg_scalar(kn), path, vn))
			return -EINVAL;
	}
	if (!s->id)
		return cfg_error(c, map, prefix, "missing 'id'");
	if (!s->pattern)
		return cfg_error(c, map, prefix, "missing 'pattern'");
	return 0;
}

int cfg_load_sigs(struct cfg_ctx *c, const char *path, const yaml_node_t *n)
{
	struct moat_sig_rules *l = &c->cfg->sigs;
	const yaml_node_t *item;
	int r = cfg_expect_list(c, path, n);
	size_t i;

	if (r)
		return r < 0 ? r : 0;
	FOR_EACH_ITEM(c, n, item)
	{
		struct moat_sig_rule *v = realloc(l->v, (l->n + 1) * sizeof(*v)), *s;
		char prefix[160];

		if (!v)
			return -ENOMEM;
		l->v = v;
		s = &l->v[l->n++];
		memset(s, 0, sizeof(*s));
		snprintf(prefix, sizeof(prefix), "%s[%zu]", path, l->n - 1);
		if (load_sig(c, prefix, item, s))
			return -EINVAL;
		for (i = 0; i + 1 < l->n; i++)
			if (l->v[i].id == s->id)
				return cfg_error(c, item, prefix, "id %u is already signature %s[%zu] (line %u)",
						 s->id, path, i, l->v[i].line);
	}
	return 0;
}
