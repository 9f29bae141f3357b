// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target: the input as a YAML config file through moat_config_load
 * (control/config.c, control/config_sigs.c), as moatd --check and moatctl
 * explain --config read it. The bytes go to a memfd that the loader opens by
 * its /proc/self/fd path. Checked for every input:
 *   - a refused file: a negative errno, one line of error text naming the file,
 *     and nothing left allocated in the config (LeakSanitizer checks the rest);
 *   - an accepted file: every value inside the range its key allows, every
 *     list entry well formed (a prefix's canonical text parses back to it, the
 *     dpdk command's words fit its buffer, signature ids unique), and
 *     moat_config_clone gives an equal, independent copy;
 *   - an accepted file with a few short signatures: the compile wrapper
 *     (hyperscan) either compiles one entry per rule or says why not.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "control/config.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_config: check failed: %s (line %d)\n", #cond,       \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Signatures compiled only when there are this few, this short: hyperscan is slow to compile. */
#define SIG_COMPILE_MAX 4
#define SIG_COMPILE_MAX_LEN 32

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("fuzz_config.yaml", 0);
	if (fd < 0) {
		perror("fuzz_config: memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void write_input(const uint8_t *data, size_t size)
{
	size_t off = 0;

	CHECK(!ftruncate(fd, 0));
	while (off < size) {
		ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);

		CHECK(n > 0);
		off += (size_t)n;
	}
}

static int cidr_same(const struct moat_cidr *a, const struct moat_cidr *b)
{
	return a->family == b->family && a->plen == b->plen && moat_addr_eq(&a->addr, &b->addr);
}

static void check_cidrs(const struct moat_cidr_list *l)
{
	struct moat_cidr back;
	char text[64];
	size_t i;

	CHECK(l->n <= l->cap);
	for (i = 0; i < l->n; i++) {
		const struct moat_cidr *c = &l->v[i];

		CHECK(c->family == 4 || c->family == 6);
		CHECK(c->plen <= (c->family == 4 ? 32 : 128));
		moat_cidr_format(c, text, sizeof(text));
		CHECK(!moat_cidr_parse(text, &back));
		CHECK(cidr_same(c, &back));
	}
}

static void check_ports(const struct moat_port_ranges *pr)
{
	unsigned int i;

	CHECK(pr->n <= MOAT_SIG_PORT_RANGES);
	for (i = 0; i < pr->n; i++)
		CHECK(pr->lo[i] >= 1 && pr->lo[i] <= pr->hi[i]);
}

static void check_sigs(const struct moat_sig_rules *l)
{
	size_t i, j;

	CHECK(!l->n == !l->v);
	for (i = 0; i < l->n; i++) {
		const struct moat_sig_rule *s = &l->v[i];

		CHECK(s->id >= 1);
		CHECK(s->pattern && s->pattern[0]);
		CHECK(s->action == MOAT_SIG_DROP || s->action == MOAT_SIG_ALERT);
		CHECK(s->dir <= MOAT_SIG_TO_CLIENT);
		CHECK(!(s->flags & ~0x1fu));
		CHECK(s->line >= 1);
		check_ports(&s->sport);
		check_ports(&s->dport);
		for (j = 0; j < i; j++)
			CHECK(l->v[j].id != s->id);
	}
}

/* What the loader promises about a config it accepted. */
static void check_loaded(const struct moat_config *cfg)
{
	const char *w;
	unsigned int i;

	CHECK(cfg->mode == MOAT_MODE_XDP || cfg->mode == MOAT_MODE_DPDK);
	CHECK(cfg->n_interfaces <= MOAT_MAX_INTERFACES);
	for (i = 0; i < cfg->n_interfaces; i++) {
		size_t len = strnlen(cfg->interfaces[i], MOAT_IFNAME_LEN);

		CHECK(len >= 1 && len < MOAT_IFNAME_LEN);
	}
	CHECK(cfg->pol.syn_cookies <= 2 && cfg->pol.rst_policy <= 2);
	CHECK(cfg->pol.syn_trigger >= 1);
	CHECK(cfg->pol.cookie_hold_s >= 1 && cfg->pol.cookie_hold_s <= 3600);
	CHECK(cfg->pol.prefix_v4 <= 32 && cfg->pol.prefix_v6 <= 128);
	CHECK(cfg->pol.synack_wscale <= 14);
	CHECK(cfg->pol.source.new_conn_window_s >= 1 && cfg->pol.prefix.new_conn_window_s >= 1);
	CHECK(cfg->flow_table_size >= 64 && cfg->flow_table_size <= 1u << 26);
	CHECK(cfg->source_table_size >= 64 && cfg->source_table_size <= 1u << 26);
	CHECK(cfg->xdp_mode <= 2);
	CHECK(cfg->cookie_rotate_s >= 10 && cfg->cookie_rotate_s <= 86400);
	CHECK(memchr(cfg->pin_dir, '\0', sizeof(cfg->pin_dir)));
	CHECK(memchr(cfg->events, '\0', sizeof(cfg->events)));
	CHECK(memchr(cfg->metrics, '\0', sizeof(cfg->metrics)));
	CHECK(memchr(cfg->secret_file, '\0', sizeof(cfg->secret_file)));
	CHECK(memchr(cfg->dp_socket, '\0', sizeof(cfg->dp_socket)));
	/* dp_argc words, each ending in '\0', all inside dp_command. */
	for (i = 0, w = cfg->dp_command; i < cfg->dp_argc; i++) {
		const char *nul = memchr(w, '\0', sizeof(cfg->dp_command) - (size_t)(w - cfg->dp_command));

		CHECK(nul);
		w = nul + 1;
		CHECK(w <= cfg->dp_command + sizeof(cfg->dp_command));
	}
	check_cidrs(&cfg->allow);
	check_cidrs(&cfg->deny);
	check_sigs(&cfg->sigs);
}

static int str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && a != b && !strcmp(a, b));
}

/* The clone equals the original and shares none of its strings or lists. */
static void check_clone(const struct moat_config *cfg)
{
	struct moat_config copy;
	size_t i;

	CHECK(!moat_config_clone(&copy, cfg));
	CHECK(copy.mode == cfg->mode && copy.n_interfaces == cfg->n_interfaces);
	CHECK(!memcmp(copy.interfaces, cfg->interfaces, sizeof(cfg->interfaces)));
	CHECK(!memcmp(&copy.pol, &cfg->pol, sizeof(cfg->pol)));
	CHECK(!memcmp(copy.dp_command, cfg->dp_command, sizeof(cfg->dp_command)));
	CHECK(copy.dp_argc == cfg->dp_argc);
	CHECK(copy.allow.n == cfg->allow.n && copy.deny.n == cfg->deny.n);
	CHECK(!copy.allow.n || copy.allow.v != cfg->allow.v);
	CHECK(!copy.deny.n || copy.deny.v != cfg->deny.v);
	for (i = 0; i < cfg->allow.n; i++)
		CHECK(cidr_same(&copy.allow.v[i], &cfg->allow.v[i]));
	for (i = 0; i < cfg->deny.n; i++)
		CHECK(cidr_same(&copy.deny.v[i], &cfg->deny.v[i]));
	CHECK(copy.sigs.n == cfg->sigs.n);
	for (i = 0; i < cfg->sigs.n; i++) {
		const struct moat_sig_rule *a = &copy.sigs.v[i], *b = &cfg->sigs.v[i];

		CHECK(a->id == b->id && a->flags == b->flags && a->action == b->action &&
		      a->dir == b->dir && a->line == b->line && a->pattern_line == b->pattern_line);
		CHECK(!memcmp(&a->sport, &b->sport, sizeof(a->sport)));
		CHECK(!memcmp(&a->dport, &b->dport, sizeof(a->dport)));
		CHECK(str_same(a->msg, b->msg) && str_same(a->pattern, b->pattern));
	}
	moat_config_free(&copy);
}

static void try_compile(const struct moat_config *cfg)
{
	struct moat_sig_set *set = NULL;
	char err[MOAT_CONFIG_ERR_LEN];
	size_t i;

	if (!cfg->sigs.n || cfg->sigs.n > SIG_COMPILE_MAX)
		return;
	for (i = 0; i < cfg->sigs.n; i++)
		if (strlen(cfg->sigs.v[i].pattern) > SIG_COMPILE_MAX_LEN)
			return;
	err[0] = '\0';
	if (moat_sigs_compile(cfg, path, &set, err, sizeof(err))) {
		CHECK(!set && err[0] && memchr(err, '\0', sizeof(err)));
		return;
	}
	CHECK(set && moat_sigs_count(set) == cfg->sigs.n);
	for (i = 0; i < cfg->sigs.n; i++)
		CHECK(moat_sigs_id(set, i) == cfg->sigs.v[i].id);
	moat_sigs_free(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct moat_config cfg;
	char err[MOAT_CONFIG_ERR_LEN];
	int r;

	write_input(data, size);
	memset(err, 0x55, sizeof(err));
	r = moat_config_load(path, &cfg, err, sizeof(err));
	if (r) {
		CHECK(r < 0 && r != -ENOENT);
		CHECK(memchr(err, '\0', sizeof(err)));
		CHECK(!strncmp(err, path, strlen(path)));
		CHECK(!strchr(err, '\n'));
		/* The loader freed what it had read. */
		CHECK(!cfg.allow.v && !cfg.deny.v && !cfg.sigs.v);
		return 0;
	}
	check_loaded(&cfg);
	check_clone(&cfg);
	try_compile(&cfg);
	moat_config_free(&cfg);
	return 0;
}
