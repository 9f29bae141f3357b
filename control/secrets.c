// SPDX-License-Identifier: BSD-3-Clause
#include "control/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/siphash.h"

#define SECRET_HEX 64

static int random_key(struct moat_siphash_key *k)
{
	size_t got = 0;

	while (got < sizeof(*k)) {
		ssize_t n = getrandom((char *)k + got, sizeof(*k) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 64 hex digits, surrounding whitespace allowed, into four 64-bit words. */
static int parse_master(const char *text, size_t len, struct moat_siphash_key master[2])
{
	uint64_t w[4] = { 0 };
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		int v = hex_value(text[i]);

		if (v < 0) {
			if (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')
				continue;
			return -EINVAL;
		}
		if (n == SECRET_HEX)
			return -E2BIG;
		w[n / 16] = w[n / 16] << 4 | (uint64_t)v;
		n++;
	}
	if (n != SECRET_HEX)
		return -EINVAL;
	master[0] = (struct moat_siphash_key){ w[0], w[1] };
	master[1] = (struct moat_siphash_key){ w[2], w[3] };
	return 0;
}

static int read_master(struct moat_secret_source *src, const char *file, char *err, size_t errlen)
{
	char buf[256];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", file);
		r = -EINVAL;
		goto out;
	}
	/* A cookie secret others can read lets them mint cookies that pass. */
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: mode %04o lets others read it: chmod 600 it",
			 file, (unsigned int)(st.st_mode & 07777));
		r = -EPERM;
		goto out;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0 || parse_master(buf, (size_t)n, src->master)) {
		snprintf(err, errlen,
			 "%s: expected 64 hex digits (256 bits, e.g. `openssl rand -hex 32`)",
			 file);
		r = -EINVAL;
	}
out:
	close(fd);
	return r;
}

int moat_secrets_open(struct moat_secret_source *src, const char *file, unsigned int period_s,
		      char *err, size_t errlen)
{
	memset(src, 0, sizeof(*src));
	src->period_s = period_s ? period_s : 300;
	if (!file || !*file)
		return 0;
	src->fleet = true;
	return read_master(src, file, err, errlen);
}

static struct moat_siphash_key derive(const struct moat_secret_source *src, uint64_t epoch)
{
	/* "moatcook" tags the words: these keys are for nothing else. */
	const u64 w[2] = { (u64)epoch, 0x6d6f6174636f6f6bULL };

	return (struct moat_siphash_key){ moat_siphash24(&src->master[0], w, 2),
					  moat_siphash24(&src->master[1], w, 2) };
}

int moat_secrets_update(struct moat_secret_source *src, uint64_t now, struct moat_cookie_secrets *s)
{
	uint64_t epoch = now / src->period_s + 1; /* + 1: epoch 0 means "none yet" */
	int r;

	if (epoch == src->epoch)
		return 0;
	if (src->fleet) {
		s->cur = derive(src, epoch);
		s->prev = derive(src, epoch - 1);
	} else if (src->epoch && epoch == src->epoch + 1) {
		struct moat_siphash_key next;

		if ((r = random_key(&next)))
			return r;
		s->prev = s->cur;
		s->cur = next;
	} else {
		/* First call or a long gap: the old secret is of no use either way. */
		if ((r = random_key(&s->cur)) || (r = random_key(&s->prev)))
			return r;
	}
	src->epoch = epoch;
	return 1;
}

void moat_secrets_adopt(struct moat_secret_source *src, uint64_t now)
{
	if (!src->fleet)
		src->epoch = now / src->period_s + 1;
}

void moat_secrets_set_period(struct moat_secret_source *src, unsigned int period_s, uint64_t now)
{
	if (!period_s || period_s == src->period_s)
		return;
	src->period_s = period_s;
	src->epoch = now / period_s + 1;
}

unsigned int moat_secrets_next_in(const struct moat_secret_source *src, uint64_t now)
{
	return src->period_s - (unsigned int)(now % src->period_s);
}
