// SPDX-License-Identifier: BSD-3-Clause
/*
 * control/events.c: the JSON line of a sampled event, key by key, as moatd
 * (events from the XDP program, "ifindex") and moat-dp ("lcore") write it.
 * Only "time" (the wall clock when it is written) is left out of the comparison.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "control/events.h"

/* line without its "time" value, which must be a number. */
static char *untimed(const char *line)
{
	const char *t = strstr(line, "\"time\":"), *end;
	char *out;

	cr_assert_not_null(t, "%s", line);
	t += strlen("\"time\":");
	end = t + strspn(t, "0123456789.e+- ");
	cr_assert(end > t && *end == ',', "%s", line);
	out = malloc(strlen(line) + 1);
	cr_assert_not_null(out);
	memcpy(out, line, (size_t)(t - line));
	strcpy(out + (t - line), end);
	return out;
}

static struct moat_event event4(void)
{
	struct moat_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = 123456789;
	inet_pton(AF_INET, "198.51.100.7", ev.saddr.w);
	inet_pton(AF_INET, "192.0.2.1", ev.daddr.w);
	ev.sport = 40001;
	ev.dport = 80;
	ev.reason = MOAT_R_SYN_COOKIE;
	ev.family = 4;
	ev.ttl = 57;
	ev.tcp_flags = MOAT_TCP_SYN;
	ev.where = 3;
	ev.cpu = 1;
	return ev;
}

static void check(const struct moat_event *ev, unsigned int sample, const char *where,
		  const char *want)
{
	char *line = moat_event_format(ev, sample, where), *got;

	cr_assert_not_null(line);
	cr_assert(strlen(line) && line[strlen(line) - 1] == '\n', "one line: %s", line);
	got = untimed(line);
	cr_assert_str_eq(got, want);
	free(got);
	free(line);
}

Test(events, xdp_event)
{
	struct moat_event ev = event4();

	check(&ev, 100, "ifindex",
	      "{\"time\":,\"reason\":\"syn_cookie\",\"verdict\":\"tx\",\"src\":\"198.51.100.7\","
	      "\"sport\":40001,\"dst\":\"192.0.2.1\",\"dport\":80,\"proto\":\"tcp\",\"ttl\":57,"
	      "\"tcp_flags\":2,\"ifindex\":3,\"cpu\":1,\"sampled_one_in\":100}\n");
}

Test(events, ipv6_drop)
{
	struct moat_event ev = event4();

	inet_pton(AF_INET6, "2001:db8::7", ev.saddr.w);
	inet_pton(AF_INET6, "2001:db8::1", ev.daddr.w);
	ev.family = 6;
	ev.reason = MOAT_R_BAD_FLAGS;
	ev.tcp_flags = MOAT_TCP_SYN | MOAT_TCP_FIN;
	check(&ev, 1, "ifindex",
	      "{\"time\":,\"reason\":\"bad_flags\",\"verdict\":\"drop\",\"src\":\"2001:db8::7\","
	      "\"sport\":40001,\"dst\":\"2001:db8::1\",\"dport\":80,\"proto\":\"tcp\",\"ttl\":57,"
	      "\"tcp_flags\":3,\"ifindex\":3,\"cpu\":1,\"sampled_one_in\":1}\n");
}

Test(events, moat_dp_signatures)
{
	struct moat_event ev = event4();

	ev.reason = MOAT_R_SIGNATURE;
	ev.where = 2; /* the worker's lcore */
	ev.detail = 4000123;
	ev.detail_kind = MOAT_EVD_SIG_DROP;
	check(&ev, 10, "lcore",
	      "{\"time\":,\"reason\":\"signature\",\"verdict\":\"drop\",\"src\":\"198.51.100.7\","
	      "\"sport\":40001,\"dst\":\"192.0.2.1\",\"dport\":80,\"proto\":\"tcp\",\"ttl\":57,"
	      "\"tcp_flags\":2,\"lcore\":2,\"cpu\":1,\"sampled_one_in\":10,"
	      "\"signature\":4000123,\"signature_action\":\"drop\"}\n");
	/* An alert leaves the packet's own reason. */
	ev.reason = MOAT_R_ESTABLISHED;
	ev.detail_kind = MOAT_EVD_SIG_ALERT;
	check(&ev, 10, "lcore",
	      "{\"time\":,\"reason\":\"established\",\"verdict\":\"pass\",\"src\":\"198.51.100.7\","
	      "\"sport\":40001,\"dst\":\"192.0.2.1\",\"dport\":80,\"proto\":\"tcp\",\"ttl\":57,"
	      "\"tcp_flags\":2,\"lcore\":2,\"cpu\":1,\"sampled_one_in\":10,"
	      "\"signature\":4000123,\"signature_action\":\"alert\"}\n");
}
