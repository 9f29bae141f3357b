/* SPDX-License-Identifier: BSD-3-Clause */
/* The YAML configuration: every key has a default, so an empty file is valid. */
#ifndef MOAT_CONTROL_CONFIG_H
#define MOAT_CONTROL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "flow/cidr.h"
#include "core/policy.h"

enum moat_mode { MOAT_MODE_XDP = 0, MOAT_MODE_DPDK };

/* Payload signatures (signatures: in the config), matched by hyperscan inline. */
enum moat_sig_action { MOAT_SIG_DROP = 0, MOAT_SIG_ALERT };
enum moat_sig_dir { MOAT_SIG_ANY = 0, MOAT_SIG_TO_SERVER, MOAT_SIG_TO_CLIENT };

enum moat_sig_flag {
	MOAT_SIGF_CASELESS = 1 << 0,
	MOAT_SIGF_DOTALL = 1 << 1,
	MOAT_SIGF_MULTILINE = 1 << 2,
	MOAT_SIGF_UTF8 = 1 << 3,
	MOAT_SIGF_UCP = 1 << 4,
};

#define MOAT_SIG_PORT_RANGES 8

struct moat_port_ranges {
	unsigned int n; /* 0: any port */
	unsigned short lo[MOAT_SIG_PORT_RANGES];
	unsigned short hi[MOAT_SIG_PORT_RANGES];
};

struct moat_sig_rule {
	unsigned int id;
	char *msg;
	char *pattern;
	unsigned int flags; /* enum moat_sig_flag */
	enum moat_sig_action action;
	enum moat_sig_dir dir;
	struct moat_port_ranges sport, dport;
	unsigned int line;	   /* where it starts in the file, for errors */
	unsigned int pattern_line; /* where its pattern is */
};

struct moat_sig_rules {
	struct moat_sig_rule *v;
	size_t n;
};

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
	/* mode dpdk: moat-dp's argv for moatd to start and supervise; words end in '\0' */
	char dp_command[2048];
	unsigned int dp_argc;		/* 0: moatd only connects to a running moat-dp */
	struct moat_sig_rules sigs;
	unsigned int sig_stream_depth; /* bytes of each flow direction matched as a stream */
	unsigned int sig_streams;	 /* streams per worker (their memory is allocated up front) */
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

#endif
