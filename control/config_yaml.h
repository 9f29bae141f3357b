/* SPDX-License-Identifier: BSD-3-Clause */
/* What config.c and config_sigs.c share while they walk a YAML document. */
#ifndef MOAT_CONTROL_CONFIG_YAML_H
#define MOAT_CONTROL_CONFIG_YAML_H

#include <stddef.h>
#include <yaml.h>

#include "control/config.h"

struct cfg_ctx {
	const char *path;
	yaml_document_t *doc;
	struct moat_config *cfg;
	char *err;
	size_t errlen;
};

/* Each item node of the sequence n. */
#define FOR_EACH_ITEM(c, n, item)                                                                  \
	for (yaml_node_item_t *it_ = (n)->data.sequence.items.start;                               \
	     it_ < (n)->data.sequence.items.top &&                                                 \
	     ((item) = yaml_document_get_node((c)->doc, *it_)) != NULL;                            \
	     it_++)

/* "FILE:LINE: key 'KEY': ..." into c->err (the node's line; no key: "FILE:LINE: ..."). -EINVAL. */
int cfg_error(struct cfg_ctx *c, const yaml_node_t *node, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A scalar node's text (the caller knows n is a scalar). */
const char *cfg_scalar(const yaml_node_t *n);
/* "a list", "a mapping", ...: what the node is, for errors. */
const char *cfg_node_kind(const yaml_node_t *n);
/* What the operator wrote, for errors: 'plain', a quoted string "...", a list, a mapping. */
const char *cfg_value_text(const yaml_node_t *n, char *buf, size_t len);
/* Plain decimal integers only: '1e3', '0x10', '12abc' and quoted numbers are -EINVAL. */
int cfg_parse_int(const yaml_node_t *n, long long *out);
/* 0 for a list, 1 for `key:` with nothing (an empty list), else the error for key path. */
int cfg_expect_list(struct cfg_ctx *c, const char *path, const yaml_node_t *n);
/* The signatures list (config_sigs.c). */
int cfg_load_sigs(struct cfg_ctx *c, const char *path, const yaml_node_t *n);
/* The bgp: section (config_bgp.c). */
int cfg_load_bgp(struct cfg_ctx *c, const char *path, const yaml_node_t *n);

#endif
