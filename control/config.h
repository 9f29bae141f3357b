/* SPDX-License-Identifier: BSD-3-Clause */
/* The YAML configuration: every key has a default, so an empty file is valid. */
#ifndef MOAT_CONTROL_CONFIG_H
#define MOAT_CONTROL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "control/config_bgp.h"
#include "flow/cidr.h"
#include "flow/sigs.h" /* signatures: the rule types */
#include "core/policy.h"

enum moat_mode { MOAT_MODE_XDP = 0, MOAT_MODE_DPDK };

#define MOAT_MAX_INTERFACES 16
#define MOAT_IFNAME_LEN 16
#define MOAT_CONFIG_ERR_LEN 512

/* xdp_mode's names, indexed by its value. */
extern const char *const moat_xdp_mode_names[];

struct moat_config {
	enum moat_mode mode;
	char interfaces[MOAT_MAX_INTERFACES][MOAT_IFNAME_LEN];
	unsigned int n_interfaces;
	bool keep_attached;
	struct moat_policy pol;
	struct moat_cidr_list allow;
	struct moat_cidr_list deny;
	unsigned int flow_table_size;	/* flows tracked (inline/explain) */
	unsigned int source_table_size; /* limiter records */
	unsigned char xdp_mode;		/* enum moat_xdp_mode: auto, native, generic */
	char pin_dir[128];		/* bpffs folder for pinned maps */
	unsigned int cookie_rotate_s;	/* SYN cookie secret rotation period */
	char events[256];		/* event log: a file, "-" for stdout, "" for none */
	unsigned int event_sample;	/* one event per N packets of each drop reason */
	char metrics[64];		/* Prometheus listen address, "" for none */
	char secret_file[256];		/* fleet master key for cookie secrets, "" = random */
	char dp_socket[108];		/* mode dpdk: moat-dp's control socket */
	char dp_state[256];		/* moat-dp's flow state file, "off", "" for its default */
	char dp_metrics[64];		/* moat-dp's own Prometheus address (run alone), "" for none */
	/* mode dpdk: moat-dp's argv for moatd to start and supervise; words end in '\0' */
	char dp_command[2048];
	unsigned int dp_argc;		/* 0: moatd only connects to a running moat-dp */
	struct moat_sig_rules sigs;
	unsigned int sig_stream_depth; /* bytes of each flow direction matched as a stream */
	unsigned int sig_streams;	 /* streams per worker (their memory is allocated up front) */
	struct moat_bgp_config bgp;	 /* routing announcements (config_bgp.h) */
};

#define MOAT_DP_DEFAULT_SOCKET "/run/moat/moat-dp.sock"

void moat_config_defaults(struct moat_config *cfg);
/*
 * Load and validate FILE. On error returns a negative errno and writes one line
 * to err: "FILE:LINE: key 'a.b': what is wrong".
 */
int moat_config_load(const char *path, struct moat_config *cfg, char *err, size_t errlen);
void moat_config_free(struct moat_config *cfg);
/* Set one key of limits: (as the config names it), range-checked: 0 or -EINVAL with err. */
int moat_config_set_limit(struct moat_config *cfg, const char *name, long long v, char *err,
			  size_t errlen);
/* Call fn for every key of limits:, in the config's order. */
void moat_config_each_limit(const struct moat_config *cfg,
			    void (*fn)(const char *name, long long v, void *ctx), void *ctx);
/* A deep copy (lists duplicated): 0 or -ENOMEM. */
int moat_config_clone(struct moat_config *dst, const struct moat_config *src);

/*
 * Compile cfg's signatures (payload signatures, matched by hyperscan inline;
 * see flow/sigs.h) as loaded from path: errors read "PATH:LINE: key ...".
 */
static inline int moat_sigs_compile(const struct moat_config *cfg, const char *path,
				    struct moat_sig_set **out, char *err, size_t errlen)
{
	return moat_sigs_compile_rules(&cfg->sigs, cfg->sig_stream_depth, cfg->sig_streams, path,
				       out, err, errlen);
}

#endif
