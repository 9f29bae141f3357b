// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target: the input as a capture file (pcap or pcapng) through
 * `moatctl explain` (cli/explain.c: libpcap's reader, the link-layer
 * normalisation, the engine on the inline backend, the text and JSON lines).
 * The bytes go to a memfd that explain opens by its /proc/self/fd path.
 *
 * The input's length picks the run, so that every capture is also a seed for
 * the others: odd lengths print JSON, even ones text; bit 1 of the length picks
 * one of two configs (also memfds): the defaults, or every port protected by
 * cookies with limits, allow/deny lists and strict RSTs. Both use small tables
 * (64 flows, 64 sources) so eviction is reached.
 *
 * Checked: the exit code is 0 or 1 (2 would blame the config, which is ours);
 * 0 leaves stderr empty, 1 writes exactly one line there; in JSON every line
 * is an object whose "frame" counts 1, 2, 3..., with a "verdict" of pass, drop
 * or tx and a "reason". ASan + UBSan + LeakSanitizer catch the rest.
 * Signatures are left out: hyperscan's compile on every run would cost more
 * than the rest together (tests/unit/test_sigs covers the matcher).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/explain.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_pcap: check failed: %s (line %d)\n", #cond,         \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const char *const configs[2] = {
	"tables:\n"
	"  flows: 64\n"
	"  sources: 64\n",

	"protect_ports: [80, 443]\n"
	"syn_cookies: always\n"
	"rst_policy: strict\n"
	"rst_ttl_tolerance: 1\n"
	"limits:\n"
	"  source_syn_rate: 5\n"
	"  source_syn_burst: 2\n"
	"  source_new_conn: 3\n"
	"  source_new_conn_window: 2\n"
	"  source_concurrent: 2\n"
	"  prefix_syn_rate: 20\n"
	"  prefix_concurrent: 4\n"
	"allow: [10.1.0.0/16, \"2001:db8:1::/48\"]\n"
	"deny: [10.0.0.0/8, 192.0.2.66, \"2001:db8::/32\"]\n"
	"tables:\n"
	"  flows: 64\n"
	"  sources: 64\n",
};

static int cap_fd = -1;
static char cap_path[64], cfg_path[2][64];

static int memfd_with(const char *name, const void *data, size_t len, char *path, size_t plen)
{
	int fd = memfd_create(name, 0);

	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
		perror("fuzz_pcap: memfd");
		abort();
	}
	snprintf(path, plen, "/proc/self/fd/%d", fd);
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int i;

	(void)argc;
	(void)argv;
	for (i = 0; i < 2; i++)
		memfd_with("fuzz_pcap.yaml", configs[i], strlen(configs[i]), cfg_path[i],
			   sizeof(cfg_path[i]));
	cap_fd = memfd_with("fuzz_pcap.pcap", NULL, 0, cap_path, sizeof(cap_path));
	return 0;
}

static void write_input(const uint8_t *data, size_t size)
{
	size_t off = 0;

	CHECK(!ftruncate(cap_fd, 0));
	while (off < size) {
		ssize_t n = pwrite(cap_fd, data + off, size - off, (off_t)off);

		CHECK(n > 0);
		off += (size_t)n;
	}
}

static void check_json_lines(char *out, size_t len)
{
	char *line = out, *end = out + len, *nl;
	int64_t frame = 0;

	for (; line < end; line = nl + 1) {
		json_object *j, *v;
		const char *s;

		nl = memchr(line, '\n', (size_t)(end - line));
		CHECK(nl); /* every line ends */
		*nl = '\0';
		j = json_tokener_parse(line);
		CHECK(j && json_object_is_type(j, json_type_object));
		CHECK(json_object_object_get_ex(j, "frame", &v) &&
		      json_object_is_type(v, json_type_int));
		CHECK(json_object_get_int64(v) == ++frame);
		CHECK(json_object_object_get_ex(j, "verdict", &v) &&
		      json_object_is_type(v, json_type_string));
		s = json_object_get_string(v);
		CHECK(!strcmp(s, "pass") || !strcmp(s, "drop") || !strcmp(s, "tx"));
		CHECK(json_object_object_get_ex(j, "reason", &v) &&
		      json_object_is_type(v, json_type_string) && json_object_get_string(v)[0]);
		json_object_put(j);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct explain_opts o = {
		.pcap = cap_path,
		.config = cfg_path[(size >> 1) & 1],
		.json = size & 1,
	};
	char *out = NULL, *err = NULL;
	size_t out_len = 0, err_len = 0;
	FILE *fo, *fe;
	int rc;

	write_input(data, size);
	fo = open_memstream(&out, &out_len);
	fe = open_memstream(&err, &err_len);
	CHECK(fo && fe);
	rc = moat_explain(&o, fo, fe);
	fclose(fo);
	fclose(fe);
	CHECK(rc == EXPLAIN_OK || rc == EXPLAIN_ERR_INPUT);
	if (rc == EXPLAIN_OK)
		CHECK(err_len == 0);
	else
		CHECK(err_len > 0 && memchr(err, '\n', err_len) == err + err_len - 1);
	if (o.json)
		check_json_lines(out, out_len);
	free(out);
	free(err);
	return 0;
}
