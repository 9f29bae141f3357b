// SPDX-License-Identifier: BSD-3-Clause
/*
 * Writes starting inputs for fuzz_config into a directory:
 *   make_config_seeds DIR [FILE_OR_DIR...]
 * A few configs of its own (every key, signatures, YAML anchors and flow
 * style, two documents), then a copy of each FILE and of each *.yaml in each
 * DIR (deploy/moat.yaml, deploy/moat-dp.yaml, tests/config/cases/), read only.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SEED_MAX 16384

static const char *const builtin[] = {
	/* every top-level key */
	"mode: xdp\n"
	"interfaces: [eth0, veth-srv]\n"
	"keep_attached: yes\n"
	"protect_ports: [22, 80, 443]\n"
	"syn_cookies: auto\n"
	"syn_trigger: 500\n"
	"cookie_hold: 30\n"
	"rst_policy: strict\n"
	"rst_ttl_tolerance: 3\n"
	"limits:\n"
	"  source_syn_rate: 10\n"
	"  source_syn_burst: 20\n"
	"  source_new_conn: 5\n"
	"  source_new_conn_window: 60\n"
	"  source_concurrent: 5\n"
	"  prefix_v4: 24\n"
	"  prefix_v6: 48\n"
	"  prefix_syn_rate: 100\n"
	"  prefix_syn_burst: 200\n"
	"  prefix_new_conn: 50\n"
	"  prefix_new_conn_window: 10\n"
	"  prefix_concurrent: 50\n"
	"allow: [10.0.0.0/8, \"2001:db8::/32\"]\n"
	"deny:\n"
	"  - 192.0.2.0/24\n"
	"  - 198.51.100.7\n"
	"  - \"::ffff:203.0.113.0/120\"\n"
	"tables: {flows: 65536, sources: 4096}\n"
	"xdp_mode: generic\n"
	"pin_dir: /sys/fs/bpf/moat-test\n"
	"cookie_rotate: 60\n"
	"events: \"-\"\n"
	"event_sample: 10\n"
	"synack_wscale: 9\n"
	"metrics: \"\"\n"
	"secret_file: /etc/moat/cookie.key\n"
	"signature_stream_depth: 4096\n"
	"signature_streams: 64\n",
	/* mode dpdk with a command and signatures */
	"mode: dpdk\n"
	"dpdk:\n"
	"  socket: /run/moat/dp.sock\n"
	"  command: [/usr/bin/moat-dp, -l, \"0-1\", --no-huge, --, --pair, \"0:1\"]\n"
	"signatures:\n"
	"  - {id: 7, pattern: \"abc\", action: alert}\n"
	"  - id: 8\n"
	"    msg: login\n"
	"    pattern: \"^USER root\"\n"
	"    flags: [caseless, multiline]\n"
	"    proto: tcp\n"
	"    src_ports: [1024-65535]\n"
	"    dst_ports: [21, 2121]\n"
	"    direction: to_server\n"
	"    action: drop\n",
	/* anchors and aliases, as an operator may share a list */
	"allow: &lab [10.1.0.0/16, 10.2.0.0/16]\n"
	"deny: *lab\n"
	"limits: &lim {source_syn_rate: 3}\n",
	/* a refused file of each shape: unknown key, wrong type, two documents */
	"limits:\n  bogus: 1\n",
	"protect_ports: 80\n",
	"syn_trigger: \"1000\"\n",
	"mode: xdp\n---\nmode: dpdk\n",
	"# only a comment\n",
	"",
};

static void write_seed(const char *dir, const char *name, const char *data, size_t len)
{
	char path[4096];
	FILE *o;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	o = fopen(path, "wb");
	if (!o || fwrite(data, 1, len, o) != len || fclose(o)) {
		perror(path);
		exit(1);
	}
}

static void copy_file(const char *dir, const char *file)
{
	const char *base = strrchr(file, '/');
	char buf[SEED_MAX], name[512];
	FILE *in = fopen(file, "rb");
	size_t n;

	if (!in) {
		perror(file);
		exit(1);
	}
	n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	snprintf(name, sizeof(name), "seed-%s", base ? base + 1 : file);
	write_seed(dir, name, buf, n);
}

static void copy_dir(const char *dir, const char *from)
{
	char path[4096];
	struct dirent *e;
	DIR *d = opendir(from);

	if (!d) {
		perror(from);
		exit(1);
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", from, e->d_name);
		copy_file(dir, path);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	char name[64];
	struct stat st;
	unsigned int i;
	int a;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [FILE_OR_DIR...]\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		snprintf(name, sizeof(name), "seed-builtin-%02u.yaml", i);
		write_seed(argv[1], name, builtin[i], strlen(builtin[i]));
	}
	for (a = 2; a < argc; a++) {
		if (!stat(argv[a], &st) && S_ISDIR(st.st_mode))
			copy_dir(argv[1], argv[a]);
		else
			copy_file(argv[1], argv[a]);
	}
	return 0;
}
