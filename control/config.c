// SPDX-License-Identifier: BSD-3-Clause
/*
 * YAML config through libyaml's document API: the whole file is loaded as a
 * node tree (with line marks), then walked against a table of known keys.
 */
#include "control/config.h"
#include "control/config_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

enum key_type {
	K_INT, K_BOOL, K_ENUM, K_PORTS, K_CIDRS, K_IFACES, K_MAP, K_STRING, K_ARGV, K_SIGS,
	K_DURATION, /* "90s", "5m", "2h", "5d", "1500ms"; a plain number is seconds; u64 ns */
	K_BGP,	    /* the bgp: section (config_bgp.c) */
	K_PATH,	    /* a K_STRING that is "", an absolute path or one of .names */
};

struct key_spec {
	const char *name;
	enum key_type type;
	long long min, max;	  /* K_INT */
	const char *const *names; /* K_ENUM: NULL-terminated, value = index */
	size_t off;		  /* offset in struct moat_config */
	size_t size;		  /* of the target integer field */
	const struct key_spec *children; /* K_MAP */
};

static const char *const mode_names[] = { "xdp", "dpdk", NULL };
static const char *const cookie_names[] = { "auto", "always", "off", NULL };
static const char *const rst_names[] = { "rfc5961", "strict", "off", NULL };
/* In enum moat_pickup_mode's order (core/policy.h). */
static const char *const pickup_names[] = { "auto", "on", "off", NULL };
static const char *const state_words[] = { "off", NULL };
/* In enum moat_xdp_mode's order (xdp/moat_xdp.h): moatd checks it at build time. */
const char *const moat_xdp_mode_names[] = { "auto", "native", "generic", NULL };

#define CFG_FIELD(f) .off = offsetof(struct moat_config, f), .size = sizeof(((struct moat_config *)0)->f)
#define INT_KEY(n, f, lo, hi) { .name = n, .type = K_INT, .min = lo, .max = hi, CFG_FIELD(f) }
#define RATE_MAX 100000000LL

static const struct key_spec limit_keys[] = {
	INT_KEY("source_syn_rate", pol.source.syn_rate, 0, RATE_MAX),
	INT_KEY("source_syn_burst", pol.source.syn_burst, 0, RATE_MAX),
	INT_KEY("source_new_conn", pol.source.new_conn, 0, RATE_MAX),
	INT_KEY("source_new_conn_window", pol.source.new_conn_window_s, 1, 86400),
	INT_KEY("source_concurrent", pol.source.concurrent, 0, RATE_MAX),
	INT_KEY("prefix_v4", pol.prefix_v4, 0, 32),
	INT_KEY("prefix_v6", pol.prefix_v6, 0, 128),
	INT_KEY("prefix_syn_rate", pol.prefix.syn_rate, 0, RATE_MAX),
	INT_KEY("prefix_syn_burst", pol.prefix.syn_burst, 0, RATE_MAX),
	INT_KEY("prefix_new_conn", pol.prefix.new_conn, 0, RATE_MAX),
	INT_KEY("prefix_new_conn_window", pol.prefix.new_conn_window_s, 1, 86400),
	INT_KEY("prefix_concurrent", pol.prefix.concurrent, 0, RATE_MAX),
	{ 0 },
};

/* Flow idle timeouts: at least 1 s, at most 30 days (flow times are 32-bit seconds). */
#define TIMEOUT_KEY(n, f)                                                                          \
	{ .name = n, .type = K_DURATION, .min = 1000, .max = 30LL * 86400 * 1000,                  \
	  CFG_FIELD(pol.timeouts.f) }

static const struct key_spec timeout_keys[] = {
	TIMEOUT_KEY("syn_sent", syn_sent),
	TIMEOUT_KEY("syn_recv", syn_recv),
	TIMEOUT_KEY("established", established),
	TIMEOUT_KEY("fin_wait", fin_wait),
	TIMEOUT_KEY("close_wait", close_wait),
	TIMEOUT_KEY("closing", closing),
	TIMEOUT_KEY("time_wait", time_wait),
	TIMEOUT_KEY("closed", closed),
	{ 0 },
};

static const struct key_spec table_keys[] = {
	INT_KEY("flows", flow_table_size, 64, 1 << 26),
	INT_KEY("sources", source_table_size, 64, 1 << 26),
	{ 0 },
};

static const struct key_spec dpdk_keys[] = {
	{ .name = "socket", .type = K_STRING, CFG_FIELD(dp_socket) },
	{ .name = "command", .type = K_ARGV, CFG_FIELD(dp_command) },
	/* where moat-dp keeps its tables for the next one to adopt (docs/failure.md) */
	{ .name = "state", .type = K_PATH, .names = state_words, CFG_FIELD(dp_state) },
	/* moat-dp's own: under moatd, moatd serves metrics: with moat-dp's counters. */
	{ .name = "metrics", .type = K_STRING, CFG_FIELD(dp_metrics) },
	{ 0 },
};

static const struct key_spec top_keys[] = {
	{ .name = "mode", .type = K_ENUM, .names = mode_names, CFG_FIELD(mode) },
	{ .name = "interfaces", .type = K_IFACES },
	{ .name = "keep_attached", .type = K_BOOL, CFG_FIELD(keep_attached) },
	{ .name = "protect_ports", .type = K_PORTS },
	{ .name = "syn_cookies", .type = K_ENUM, .names = cookie_names, CFG_FIELD(pol.syn_cookies) },
	INT_KEY("syn_trigger", pol.syn_trigger, 1, RATE_MAX),
	INT_KEY("cookie_hold", pol.cookie_hold_s, 1, 3600),
	{ .name = "rst_policy", .type = K_ENUM, .names = rst_names, CFG_FIELD(pol.rst_policy) },
	INT_KEY("rst_ttl_tolerance", pol.rst_ttl_tolerance, 0, 255),
	{ .name = "pickup", .type = K_ENUM, .names = pickup_names, CFG_FIELD(pol.pickup) },
	INT_KEY("pickup_rate", pol.pickup_rate, 1, RATE_MAX),
	INT_KEY("pickup_burst", pol.pickup_burst, 1, RATE_MAX),
	INT_KEY("pickup_trigger", pol.pickup_trigger, 1, RATE_MAX),
	{ .name = "limits", .type = K_MAP, .children = limit_keys },
	{ .name = "allow", .type = K_CIDRS, .off = offsetof(struct moat_config, allow) },
	{ .name = "deny", .type = K_CIDRS, .off = offsetof(struct moat_config, deny) },
	{ .name = "tables", .type = K_MAP, .children = table_keys },
	{ .name = "timeouts", .type = K_MAP, .children = timeout_keys },
	{ .name = "xdp_mode", .type = K_ENUM, .names = moat_xdp_mode_names, CFG_FIELD(xdp_mode) },
	{ .name = "pin_dir", .type = K_STRING, CFG_FIELD(pin_dir) },
	INT_KEY("cookie_rotate", cookie_rotate_s, 10, 86400),
	{ .name = "events", .type = K_STRING, CFG_FIELD(events) },
	INT_KEY("event_sample", event_sample, 0, 1000000),
	INT_KEY("synack_wscale", pol.synack_wscale, 0, 14),
	{ .name = "metrics", .type = K_STRING, CFG_FIELD(metrics) },
	{ .name = "secret_file", .type = K_STRING, CFG_FIELD(secret_file) },
	{ .name = "dpdk", .type = K_MAP, .children = dpdk_keys },
	{ .name = "signatures", .type = K_SIGS },
	INT_KEY("signature_stream_depth", sig_stream_depth, 0, 1 << 24),
	INT_KEY("signature_streams", sig_streams, 0, 1 << 22),
	{ .name = "bgp", .type = K_BGP },
	{ 0 },
};

/*
 * src into dst (len bytes) with control characters escaped ("\n", "\x1b"): the
 * operator's text, quoted in an error, must not break its one line.
 */
static void copy_escaped(char *dst, size_t len, const char *src)
{
	size_t n = 0, k;
	char esc[5];

	if (!len)
		return;
	for (; *src; src++) {
		unsigned char ch = (unsigned char)*src;

		if (ch >= 0x20 && ch != 0x7f) {
			esc[0] = (char)ch;
			k = 1;
		} else if (ch == '\n' || ch == '\t' || ch == '\r') {
			esc[0] = '\\';
			esc[1] = ch == '\n' ? 'n' : ch == '\t' ? 't' : 'r';
			k = 2;
		} else {
			k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", ch);
		}
		if (n + k >= len)
			break;
		memcpy(dst + n, esc, k);
		n += k;
	}
	dst[n] = '\0';
}

int cfg_error(struct cfg_ctx *c, const yaml_node_t *node, const char *key, const char *fmt,
		     ...)
{
	char raw[MOAT_CONFIG_ERR_LEN];
	size_t n;
	va_list ap;

	if (key)
		n = (size_t)snprintf(raw, sizeof(raw), "%s:%zu: key '%s': ", c->path,
				     node ? node->start_mark.line + 1 : 1, key);
	else
		n = (size_t)snprintf(raw, sizeof(raw), "%s:%zu: ", c->path,
				     node ? node->start_mark.line + 1 : 1);
	if (n < sizeof(raw)) {
		va_start(ap, fmt);
		vsnprintf(raw + n, sizeof(raw) - n, fmt, ap);
		va_end(ap);
	}
	copy_escaped(c->err, c->errlen, raw);
	return -EINVAL;
}

const char *cfg_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

const char *cfg_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a scalar";
	}
}

/*
 * What the operator wrote, for error messages: 'plain', a quoted string "...",
 * a list, a mapping. A quoted number is named as such: the quotes are the fault.
 */
const char *cfg_value_text(const yaml_node_t *n, char *buf, size_t len)
{
	if (n->type == YAML_SCALAR_NODE) {
		if (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		    n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
			snprintf(buf, len, "a quoted string \"%s\"", cfg_scalar(n));
		else
			snprintf(buf, len, "'%s'", cfg_scalar(n));
		return buf;
	}
	return cfg_node_kind(n);
}

static void store_int(struct moat_config *cfg, const struct key_spec *k, long long v)
{
	void *p = (char *)cfg + k->off;

	switch (k->size) {
	case 1: *(u8 *)p = (u8)v; break;
	case 2: *(u16 *)p = (u16)v; break;
	case 4: *(u32 *)p = (u32)v; break;
	default: *(u64 *)p = (u64)v; break;
	}
}

int cfg_parse_int(const yaml_node_t *n, long long *out)
{
	const char *s;
	char *end;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return -EINVAL;
	s = cfg_scalar(n);
	if (!*s || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return -EINVAL;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int load_int(struct cfg_ctx *c, const struct key_spec *k, const char *path,
		    const yaml_node_t *n)
{
	char vb[128];
	long long v;

	if (cfg_parse_int(n, &v))
		return cfg_error(c, n, path, "expected an integer %lld..%lld, got %s", k->min, k->max,
				 cfg_value_text(n, vb, sizeof(vb)));
	if (v < k->min || v > k->max)
		return cfg_error(c, n, path, "%lld is out of range %lld..%lld", v, k->min, k->max);
	store_int(c->cfg, k, v);
	return 0;
}

/* "250ms", "90s", "5m", "2h", "5d" or a plain number of seconds, into ms: 0 or -EINVAL. */
static int parse_duration_ms(const char *s, long long *ms)
{
	static const struct {
		const char *suffix;
		long long ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
		      { "h", 3600000 }, { "d", 86400000 } };
	unsigned long long v;
	char *end;
	size_t i;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > (1ULL << 40))
		return -EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].suffix)) {
			*ms = (long long)v * units[i].ms;
			return 0;
		}
	return -EINVAL;
}

static int load_duration(struct cfg_ctx *c, const struct key_spec *k, const char *path,
			 const yaml_node_t *n)
{
	char vb[128];
	long long ms;

	if (n->type != YAML_SCALAR_NODE || parse_duration_ms(cfg_scalar(n), &ms))
		return cfg_error(c, n, path,
				 "expected a duration such as 90s, 5m, 2h, 5d or 1500ms, got %s",
				 cfg_value_text(n, vb, sizeof(vb)));
	if (ms < k->min || ms > k->max)
		return cfg_error(c, n, path, "%s is out of range %llds..%lldd", cfg_scalar(n),
				 k->min / 1000, k->max / 86400000);
	store_int(c->cfg, k, ms * 1000000LL);
	return 0;
}

static int load_bool(struct cfg_ctx *c, const struct key_spec *k, const char *path,
		     const yaml_node_t *n)
{
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };
	int i;

	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		for (i = 0; yes[i]; i++)
			if (!strcmp(cfg_scalar(n), yes[i])) {
				*(bool *)((char *)c->cfg + k->off) = true;
				return 0;
			}
		for (i = 0; no[i]; i++)
			if (!strcmp(cfg_scalar(n), no[i])) {
				*(bool *)((char *)c->cfg + k->off) = false;
				return 0;
			}
	}
	{
		char vb[128];

		return cfg_error(c, n, path, "expected true or false, got %s",
				 cfg_value_text(n, vb, sizeof(vb)));
	}
}

static int load_enum(struct cfg_ctx *c, const struct key_spec *k, const char *path,
		     const yaml_node_t *n)
{
	char choices[128] = "";
	int i;

	if (n->type == YAML_SCALAR_NODE) {
		for (i = 0; k->names[i]; i++)
			if (!strcmp(cfg_scalar(n), k->names[i])) {
				store_int(c->cfg, k, i);
				return 0;
			}
	}
	for (i = 0; k->names[i]; i++) {
		strncat(choices, i ? " | " : "", sizeof(choices) - strlen(choices) - 1);
		strncat(choices, k->names[i], sizeof(choices) - strlen(choices) - 1);
	}
	return cfg_error(c, n, path, "expected one of %s, got %s%s%s", choices,
			 n->type == YAML_SCALAR_NODE ? "'" : "",
			 n->type == YAML_SCALAR_NODE ? cfg_scalar(n) : cfg_node_kind(n),
			 n->type == YAML_SCALAR_NODE ? "'" : "");
}

static int load_string(struct cfg_ctx *c, const struct key_spec *k, const char *path,
		       const yaml_node_t *n)
{
	char *dst = (char *)c->cfg + k->off;

	if (n->type != YAML_SCALAR_NODE)
		return cfg_error(c, n, path, "expected a string, got %s", cfg_node_kind(n));
	if (strlen(cfg_scalar(n)) >= k->size)
		return cfg_error(c, n, path, "longer than %zu characters", k->size - 1);
	strcpy(dst, cfg_scalar(n));
	return 0;
}

/* moat-dp opens it from wherever it runs: relative paths would depend on that. */
static int load_path(struct cfg_ctx *c, const struct key_spec *k, const char *path,
		     const yaml_node_t *n)
{
	int r = load_string(c, k, path, n);
	const char *v = cfg_scalar(n);
	size_t i;

	if (r || !v[0] || v[0] == '/')
		return r;
	for (i = 0; k->names && k->names[i]; i++)
		if (!strcmp(v, k->names[i]))
			return 0;
	return cfg_error(c, n, path, "expected an absolute path%s%s or \"\", got '%s'",
			 k->names ? ", " : "", k->names ? k->names[0] : "", v);
}

int cfg_expect_list(struct cfg_ctx *c, const char *path, const yaml_node_t *n)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return 0;
	/* `key:` with nothing after it is an empty list, as operators write it. */
	if (n->type == YAML_SCALAR_NODE && !*cfg_scalar(n) &&
	    n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		return 1;
	return cfg_error(c, n, path, "expected a list, got %s", cfg_node_kind(n));
}

static int load_ports(struct cfg_ctx *c, const char *path, const yaml_node_t *n)
{
	const yaml_node_t *item;
	long long v;
	int r = cfg_expect_list(c, path, n);

	if (r)
		return r < 0 ? r : 0;
	FOR_EACH_ITEM(c, n, item)
	{
		char vb[128];

		if (cfg_parse_int(item, &v) || v < 1 || v > 65535)
			return cfg_error(c, item, path, "expected a TCP port 1..65535, got %s",
					 cfg_value_text(item, vb, sizeof(vb)));
		moat_policy_protect_port(&c->cfg->pol, (u16)v);
	}
	return 0;
}

static int load_cidrs(struct cfg_ctx *c, const struct key_spec *k, const char *path,
		      const yaml_node_t *n)
{
	struct moat_cidr_list *l = (struct moat_cidr_list *)((char *)c->cfg + k->off);
	const yaml_node_t *item;
	struct moat_cidr cidr;
	int r = cfg_expect_list(c, path, n);

	if (r)
		return r < 0 ? r : 0;
	FOR_EACH_ITEM(c, n, item)
	{
		if (item->type != YAML_SCALAR_NODE || moat_cidr_parse(cfg_scalar(item), &cidr))
			return cfg_error(c, item, path,
					 "expected an IPv4 or IPv6 CIDR like 192.0.2.0/24, got %s%s%s",
					 item->type == YAML_SCALAR_NODE ? "'" : "",
					 item->type == YAML_SCALAR_NODE ? cfg_scalar(item) : cfg_node_kind(item),
					 item->type == YAML_SCALAR_NODE ? "'" : "");
		if (moat_cidr_list_add(l, &cidr))
			return -ENOMEM;
	}
	return 0;
}

static int load_ifaces(struct cfg_ctx *c, const char *path, const yaml_node_t *n)
{
	const yaml_node_t *item;
	int r = cfg_expect_list(c, path, n);

	if (r)
		return r < 0 ? r : 0;
	FOR_EACH_ITEM(c, n, item)
	{
		size_t len = item->type == YAML_SCALAR_NODE ? strlen(cfg_scalar(item)) : 0;

		char vb[128];

		if (!len || len >= MOAT_IFNAME_LEN)
			return cfg_error(c, item, path,
					 "expected an interface name of 1..15 characters, got %s",
					 cfg_value_text(item, vb, sizeof(vb)));
		if (c->cfg->n_interfaces == MOAT_MAX_INTERFACES)
			return cfg_error(c, item, path, "more than %d interfaces",
					 MOAT_MAX_INTERFACES);
		memcpy(c->cfg->interfaces[c->cfg->n_interfaces++], cfg_scalar(item), len + 1);
	}
	return 0;
}

/* A command line as a list of words, packed one after another, each ending in '\0'. */
static int load_argv(struct cfg_ctx *c, const struct key_spec *k, const char *path,
		     const yaml_node_t *n)
{
	char *dst = (char *)c->cfg + k->off;
	const yaml_node_t *item;
	bool own_args = false;
	size_t used = 0;
	int r = cfg_expect_list(c, path, n);

	c->cfg->dp_argc = 0;
	if (r)
		return r < 0 ? r : 0;
	FOR_EACH_ITEM(c, n, item)
	{
		size_t len = item->type == YAML_SCALAR_NODE ? strlen(cfg_scalar(item)) : 0;

		if (item->type != YAML_SCALAR_NODE)
			return cfg_error(c, item, path, "expected a word of the command, got %s",
					 cfg_node_kind(item));
		/* After "--", moat-dp's own options: moatd adds these two so they agree with it. */
		if (own_args && (!strcmp(cfg_scalar(item), "--config") || !strcmp(cfg_scalar(item), "-c") ||
				 !strcmp(cfg_scalar(item), "--socket") || !strcmp(cfg_scalar(item), "-s")))
			return cfg_error(c, item, path,
					 "leave out %s: moatd adds --config (its own file) and --socket (dpdk.socket)",
					 cfg_scalar(item));
		own_args = own_args || !strcmp(cfg_scalar(item), "--");
		if (used + len + 1 > k->size)
			return cfg_error(c, item, path, "the command is longer than %zu characters",
					 k->size - 1);
		memcpy(dst + used, cfg_scalar(item), len + 1);
		used += len + 1;
		c->cfg->dp_argc++;
	}
	return 0;
}


static int load_map(struct cfg_ctx *c, const struct key_spec *keys, const char *prefix,
		    const yaml_node_t *map);

static int load_value(struct cfg_ctx *c, const struct key_spec *k, const char *path,
		      const yaml_node_t *v)
{
	switch (k->type) {
	case K_INT: return load_int(c, k, path, v);
	case K_BOOL: return load_bool(c, k, path, v);
	case K_ENUM: return load_enum(c, k, path, v);
	case K_PORTS: return load_ports(c, path, v);
	case K_CIDRS: return load_cidrs(c, k, path, v);
	case K_IFACES: return load_ifaces(c, path, v);
	case K_MAP: return load_map(c, k->children, path, v);
	case K_STRING: return load_string(c, k, path, v);
	case K_PATH: return load_path(c, k, path, v);
	case K_ARGV: return load_argv(c, k, path, v);
	case K_SIGS: return cfg_load_sigs(c, path, v);
	case K_DURATION: return load_duration(c, k, path, v);
	case K_BGP: return cfg_load_bgp(c, path, v);
	}
	return -EINVAL;
}

static int load_map(struct cfg_ctx *c, const struct key_spec *keys, const char *prefix,
		    const yaml_node_t *map)
{
	yaml_node_pair_t *pair;

	if (map->type == YAML_SCALAR_NODE && !*cfg_scalar(map) && prefix)
		return 0; /* `limits:` with nothing under it */
	if (map->type != YAML_MAPPING_NODE)
		return cfg_error(c, map, prefix, "expected a mapping of keys, got %s",
				 cfg_node_kind(map));
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);
		const struct key_spec *k;
		char path[128];
		int r;

		if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
			return cfg_error(c, kn, prefix, "keys must be plain names");
		snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
			 cfg_scalar(kn));
		for (k = keys; k->name; k++)
			if (!strcmp(k->name, cfg_scalar(kn)))
				break;
		if (!k->name)
			return cfg_error(c, kn, NULL, "unknown key '%s'", path);
		r = load_value(c, k, path, vn);
		if (r)
			return r;
	}
	return 0;
}

void moat_config_defaults(struct moat_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = MOAT_MODE_XDP;
	moat_policy_defaults(&cfg->pol);
	cfg->flow_table_size = 1 << 20;
	cfg->source_table_size = 1 << 18;
	strcpy(cfg->pin_dir, "/sys/fs/bpf/moat");
	cfg->cookie_rotate_s = 300;
	cfg->event_sample = 100;
	strcpy(cfg->metrics, "127.0.0.1:9477");
	strcpy(cfg->dp_socket, MOAT_DP_DEFAULT_SOCKET);
	cfg->sig_stream_depth = 16384;
	cfg->sig_streams = 16384;
}

/* Mappings and lists nested deeper than this are refused (the config's own go 3 deep). */
#define CFG_MAX_DEPTH 64

struct dup_walk {
	unsigned char *seen; /* per node of the document: already walked */
	unsigned int depth;
};

static int check_duplicate_keys(struct cfg_ctx *c, struct dup_walk *w, const yaml_node_t *n,
				const char *prefix);

static int check_child(struct cfg_ctx *c, struct dup_walk *w, const yaml_node_t *n,
		       const char *path)
{
	int r;

	if (!n || n->type == YAML_SCALAR_NODE)
		return 0;
	if (w->depth == CFG_MAX_DEPTH)
		return cfg_error(c, n, NULL, "nested deeper than %d levels", CFG_MAX_DEPTH);
	w->depth++;
	r = check_duplicate_keys(c, w, n, path);
	w->depth--;
	return r;
}

/*
 * Every mapping of the document, in lists too (the signatures' entries): a key
 * given twice is refused. An alias ('*a') reaches its anchor's node again, even
 * from inside it ('&a {b: *a}'): each node is walked once.
 */
static int check_duplicate_keys(struct cfg_ctx *c, struct dup_walk *w, const yaml_node_t *n,
				const char *prefix)
{
	yaml_node_pair_t *a, *b;
	yaml_node_item_t *it;
	char path[128];

	if (w->seen[n - c->doc->nodes.start])
		return 0;
	w->seen[n - c->doc->nodes.start] = 1;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			snprintf(path, sizeof(path), "%s[%zu]", prefix ? prefix : "",
				 (size_t)(it - n->data.sequence.items.start));
			if (check_child(c, w, yaml_document_get_node(c->doc, *it), path))
				return -EINVAL;
		}
		return 0;
	}
	if (n->type != YAML_MAPPING_NODE)
		return 0;
	for (a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
		yaml_node_t *ka = yaml_document_get_node(c->doc, a->key);
		yaml_node_t *va = yaml_document_get_node(c->doc, a->value);

		if (!ka || ka->type != YAML_SCALAR_NODE)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
			 cfg_scalar(ka));
		for (b = n->data.mapping.pairs.start; b < a; b++) {
			yaml_node_t *kb = yaml_document_get_node(c->doc, b->key);

			if (kb && kb->type == YAML_SCALAR_NODE && !strcmp(cfg_scalar(ka), cfg_scalar(kb)))
				return cfg_error(c, ka, NULL, "key '%s' given twice (first on line %zu)",
						 path, kb->start_mark.line + 1);
		}
		if (check_child(c, w, va, path))
			return -EINVAL;
	}
	return 0;
}

/* A file holds one document: a second one ('---') would be silently ignored. */
static int check_single_document(struct cfg_ctx *c, yaml_parser_t *parser)
{
	yaml_document_t next;
	yaml_node_t *root;
	int r = 0;

	if (!yaml_parser_load(parser, &next))
		return 0; /* the first document was complete: a later syntax error is not ours */
	root = yaml_document_get_root_node(&next);
	if (root) {
		snprintf(c->err, c->errlen, "%s:%zu: a second YAML document ('---'): a config file holds one",
			 c->path, next.start_mark.line + 1);
		r = -EINVAL;
	}
	yaml_document_delete(&next);
	return r;
}

static int parse_document(struct cfg_ctx *c, FILE *f)
{
	yaml_parser_t parser;
	yaml_node_t *root;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, c->doc)) {
		snprintf(c->err, c->errlen, "%s:%zu: invalid YAML: %s%s%s", c->path,
			 parser.problem_mark.line + 1, parser.problem ? parser.problem : "parse error",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(c->doc);
	if (root) {
		struct dup_walk w = {
			.seen = calloc((size_t)(c->doc->nodes.top - c->doc->nodes.start), 1),
		};

		r = w.seen ? check_duplicate_keys(c, &w, root, NULL) : -ENOMEM;
		free(w.seen);
		if (!r) {
			if (root->type == YAML_SCALAR_NODE && !*cfg_scalar(root))
				r = 0; /* a file holding only comments */
			else
				r = load_map(c, top_keys, NULL, root);
		}
	}
	yaml_document_delete(c->doc);
	if (!r && root)
		r = check_single_document(c, &parser);
	yaml_parser_delete(&parser);
	return r;
}

int moat_config_load(const char *path, struct moat_config *cfg, char *err, size_t errlen)
{
	yaml_document_t doc;
	struct cfg_ctx c = { .path = path, .doc = &doc, .cfg = cfg, .err = err, .errlen = errlen };
	FILE *f;
	int r;

	moat_config_defaults(cfg);
	f = fopen(path, "rb");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open config: %s", path, strerror(errno));
		return r;
	}
	{
		struct stat st;

		if (!fstat(fileno(f), &st) && S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: cannot read config: %s", path, strerror(EISDIR));
			fclose(f);
			return -EISDIR;
		}
	}
	r = parse_document(&c, f);
	fclose(f);
	if (r)
		moat_config_free(cfg);
	return r;
}

static void sig_rules_free(struct moat_sig_rules *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].msg);
		free(l->v[i].pattern);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int sig_rules_clone(struct moat_sig_rules *dst, const struct moat_sig_rules *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	if (!src->n)
		return 0;
	dst->v = calloc(src->n, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	for (i = 0; i < src->n; i++, dst->n++) {
		dst->v[i] = src->v[i];
		dst->v[i].msg = src->v[i].msg ? strdup(src->v[i].msg) : NULL;
		dst->v[i].pattern = strdup(src->v[i].pattern);
		if ((src->v[i].msg && !dst->v[i].msg) || !dst->v[i].pattern) {
			dst->n++;
			return -ENOMEM;
		}
	}
	return 0;
}

void moat_config_free(struct moat_config *cfg)
{
	moat_cidr_list_free(&cfg->allow);
	moat_cidr_list_free(&cfg->deny);
	sig_rules_free(&cfg->sigs);
}

int moat_config_clone(struct moat_config *dst, const struct moat_config *src)
{
	*dst = *src;
	memset(&dst->allow, 0, sizeof(dst->allow));
	memset(&dst->deny, 0, sizeof(dst->deny));
	if (sig_rules_clone(&dst->sigs, &src->sigs))
		goto fail;
	for (size_t i = 0; i < src->allow.n; i++)
		if (moat_cidr_list_add(&dst->allow, &src->allow.v[i]))
			goto fail;
	for (size_t i = 0; i < src->deny.n; i++)
		if (moat_cidr_list_add(&dst->deny, &src->deny.v[i]))
			goto fail;
	return 0;
fail:
	moat_config_free(dst);
	return -ENOMEM;
}

static long long load_field(const struct moat_config *cfg, const struct key_spec *k)
{
	const void *p = (const char *)cfg + k->off;

	switch (k->size) {
	case 1: return *(const u8 *)p;
	case 2: return *(const u16 *)p;
	case 4: return *(const u32 *)p;
	default: return (long long)*(const u64 *)p;
	}
}

int moat_config_set_limit(struct moat_config *cfg, const char *name, long long v, char *err,
			  size_t errlen)
{
	const struct key_spec *k;

	for (k = limit_keys; k->name; k++)
		if (!strcmp(k->name, name))
			break;
	if (!k->name) {
		snprintf(err, errlen, "unknown key '%s' under limits (moatctl limits show lists them)", name);
		return -EINVAL;
	}
	if (v < k->min || v > k->max) {
		snprintf(err, errlen, "limits.%s: %lld is out of range %lld..%lld", name, v, k->min,
			 k->max);
		return -EINVAL;
	}
	store_int(cfg, k, v);
	return 0;
}

void moat_config_each_limit(const struct moat_config *cfg,
			    void (*fn)(const char *name, long long v, void *ctx), void *ctx)
{
	const struct key_spec *k;

	for (k = limit_keys; k->name; k++)
		fn(k->name, load_field(cfg, k), ctx);
}
