// SPDX-License-Identifier: BSD-3-Clause
/*
 * cli/explain.c: moat_explain gives back everything it opened, whatever the
 * capture. tests/fuzz/fuzz_pcap found a capture of an unsupported link type
 * (DLT_NULL) leaving its pcap handle, and so its file, open.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/explain.h"

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

static void put32(FILE *f, uint32_t v)
{
	fwrite(&v, 4, 1, f);
}

/* A classic pcap of one 20-byte IPv4 header, in the link type asked. */
static char *write_capture(uint32_t linktype)
{
	static const unsigned char ip[20] = { 0x45, 0, 0, 20, 0, 1, 0, 0, 64, 6, 0, 0,
					      192, 0, 2, 1, 198, 51, 100, 1 };
	char *path = strdup("/tmp/moat-test-explain.XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "wb");

	cr_assert(fd >= 0 && f);
	put32(f, 0xa1b2c3d4);
	put32(f, 2 | 4 << 16);
	put32(f, 0);
	put32(f, 0);
	put32(f, 65535);
	put32(f, linktype);
	put32(f, 1700000000);
	put32(f, 0);
	put32(f, sizeof(ip));
	put32(f, sizeof(ip));
	fwrite(ip, 1, sizeof(ip), f);
	fclose(f);
	return path;
}

static void explain_closes_all(uint32_t linktype, int want_rc)
{
	char *path = write_capture(linktype);
	struct explain_opts o = { .pcap = path, .quiet = true };
	FILE *out = fopen("/dev/null", "w"), *err = fopen("/dev/null", "w");
	int before, i;

	cr_assert(out && err);
	before = open_fds();
	for (i = 0; i < 3; i++)
		cr_assert_eq(moat_explain(&o, out, err), want_rc);
	cr_expect_eq(open_fds(), before, "moat_explain left %d files open after 3 runs",
		     open_fds() - before);
	fclose(out);
	fclose(err);
	unlink(path);
	free(path);
}

Test(explain, unsupported_link_type_closes_the_capture)
{
	explain_closes_all(0 /* DLT_NULL */, EXPLAIN_ERR_INPUT);
}

Test(explain, raw_ip_capture_closes_the_capture)
{
	explain_closes_all(101 /* DLT_RAW */, EXPLAIN_OK);
}
