// SPDX-License-Identifier: BSD-3-Clause
/* control/secrets.c: fleet derivation, rotation keeps the previous secret, file checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/secrets.h"

#define KEY_HEX "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"

static char *write_key(const char *text, mode_t mode)
{
	static char path[64];
	FILE *f;

	strcpy(path, "/tmp/moat-secret-XXXXXX");
	cr_assert_neq(mkstemp(path), -1);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static int same_key(const struct moat_siphash_key *a, const struct moat_siphash_key *b)
{
	return a->k0 == b->k0 && a->k1 == b->k1;
}

Test(secrets, fleet_nodes_agree_and_rotation_keeps_prev)
{
	char *path = write_key(KEY_HEX "\n", 0600), err[256];
	struct moat_secret_source a, b;
	struct moat_cookie_secrets sa, sb, next;

	cr_assert_eq(moat_secrets_open(&a, path, 60, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(moat_secrets_open(&b, path, 60, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(moat_secrets_update(&a, 6000, &sa), 1);
	cr_assert_eq(moat_secrets_update(&b, 6059, &sb), 1); /* same period, other node */
	cr_assert(same_key(&sa.cur, &sb.cur) && same_key(&sa.prev, &sb.prev));
	cr_assert_not(same_key(&sa.cur, &sa.prev));
	cr_assert_eq(moat_secrets_update(&a, 6030, &sa), 0, "no rotation within a period");
	next = sa;
	cr_assert_eq(moat_secrets_update(&a, 6060, &next), 1);
	cr_assert(same_key(&next.prev, &sa.cur), "the previous period's secret stays valid");
	cr_assert_not(same_key(&next.cur, &sa.cur));
	unlink(path);
}

Test(secrets, random_rotation_keeps_prev)
{
	struct moat_secret_source src;
	struct moat_cookie_secrets s, next;
	char err[256];

	cr_assert_eq(moat_secrets_open(&src, "", 10, err, sizeof(err)), 0);
	cr_assert_eq(moat_secrets_update(&src, 100, &s), 1);
	next = s;
	cr_assert_eq(moat_secrets_update(&src, 109, &next), 0);
	cr_assert_eq(moat_secrets_update(&src, 110, &next), 1);
	cr_assert(same_key(&next.prev, &s.cur));
	cr_assert_not(same_key(&next.cur, &s.cur));
	cr_assert_eq(moat_secrets_next_in(&src, 115), 5);
}

Test(secrets, refuses_readable_short_and_bad_files)
{
	struct moat_secret_source src;
	char err[256], *path;

	path = write_key(KEY_HEX, 0644);
	cr_assert_eq(moat_secrets_open(&src, path, 60, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, "chmod 600"), "%s", err);
	unlink(path);
	path = write_key("0011223344", 0600);
	cr_assert_eq(moat_secrets_open(&src, path, 60, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "64 hex digits"), "%s", err);
	unlink(path);
	path = write_key(KEY_HEX "zz", 0600);
	cr_assert_eq(moat_secrets_open(&src, path, 60, err, sizeof(err)), -EINVAL);
	unlink(path);
	cr_assert_eq(moat_secrets_open(&src, "/nonexistent/key", 60, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "/nonexistent/key: cannot open"), "%s", err);
}
