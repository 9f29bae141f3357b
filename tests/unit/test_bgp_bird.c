// SPDX-License-Identifier: BSD-3-Clause
/*
 * moatd's side of BIRD's control socket (daemon/bgp_sys.c): a fake BIRD on a
 * Unix socket answers as BIRD 2 does (a greeting, then "CODE-text" lines and
 * a last "CODE text" line), whole or in pieces, with success or an error.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/bgp_sys.h"

struct fake_bird {
	char path[108];
	int listen_fd;
	const char *const *chunks; /* written one by one after the command, NULL-ended */
	char got[256];		   /* the command moatd sent */
	pthread_t thread;
};

static void *fake_bird_run(void *arg)
{
	struct fake_bird *f = arg;
	int c = accept(f->listen_fd, NULL, NULL), i;
	ssize_t n;

	if (c < 0)
		return NULL;
	dprintf(c, "0001 BIRD 2.0.12 ready.\n");
	n = read(c, f->got, sizeof(f->got) - 1);
	if (n > 0)
		f->got[n] = '\0';
	for (i = 0; f->chunks[i]; i++) {
		dprintf(c, "%s", f->chunks[i]);
		usleep(20 * 1000); /* separate reads on moatd's side */
	}
	close(c);
	return NULL;
}

static void fake_bird_start(struct fake_bird *f, const char *const *chunks)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "/tmp/moat-test-bird.%d.ctl", (int)getpid());
	unlink(f->path);
	strcpy(sa.sun_path, f->path);
	f->chunks = chunks;
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(f->listen_fd, 0);
	cr_assert_eq(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(f->listen_fd, 1), 0);
	cr_assert_eq(pthread_create(&f->thread, NULL, fake_bird_run, f), 0);
}

static void fake_bird_stop(struct fake_bird *f)
{
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(f->path);
}

Test(bird, configure_taken)
{
	static const char *const reply[] = {
		"0002-Reading configuration from /etc/bird/bird.conf\n0003 Reconfigured\n", NULL,
	};
	struct fake_bird f;
	char err[256] = "";

	fake_bird_start(&f, reply);
	cr_assert_eq(bgp_bird_call(f.path, "configure", err, sizeof(err)), 0, "%s", err);
	fake_bird_stop(&f);
	cr_assert_str_eq(f.got, "configure\n");
	cr_assert_str_eq(err, "Reconfigured");
}

Test(bird, reply_in_pieces)
{
	static const char *const reply[] = { "0002-Reading configuration", " from x\n00",
					     "03 Reconf", "igured\n", NULL };
	struct fake_bird f;
	char err[256] = "";

	fake_bird_start(&f, reply);
	cr_assert_eq(bgp_bird_call(f.path, "configure", err, sizeof(err)), 0, "%s", err);
	fake_bird_stop(&f);
	cr_assert_str_eq(err, "Reconfigured");
}

Test(bird, configure_refused)
{
	static const char *const reply[] = {
		"0002-Reading configuration from /etc/bird/bird.conf\n",
		"8002 /etc/bird/moat.conf:4:2 syntax error, unexpected CF_SYM_UNDEFINED\n", NULL,
	};
	struct fake_bird f;
	char err[256] = "";

	fake_bird_start(&f, reply);
	cr_assert_eq(bgp_bird_call(f.path, "configure", err, sizeof(err)), -EINVAL);
	fake_bird_stop(&f);
	cr_assert_str_eq(err, "/etc/bird/moat.conf:4:2 syntax error, unexpected CF_SYM_UNDEFINED");
}

Test(bird, closed_before_the_last_line)
{
	static const char *const reply[] = { "0002-Reading configuration from x\n", NULL };
	struct fake_bird f;
	char err[256] = "";

	fake_bird_start(&f, reply);
	cr_assert_eq(bgp_bird_call(f.path, "configure", err, sizeof(err)), -ECONNRESET);
	fake_bird_stop(&f);
	cr_assert(strstr(err, "BIRD did not answer"), "%s", err);
}

Test(bird, no_bird)
{
	char err[256] = "";

	cr_assert_eq(bgp_bird_call("/tmp/moat-test-no-bird.ctl", "configure", err, sizeof(err)),
		     -ENOENT);
	cr_assert(strstr(err, "cannot reach BIRD on /tmp/moat-test-no-bird.ctl"), "%s", err);
}
