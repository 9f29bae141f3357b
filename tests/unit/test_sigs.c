// SPDX-License-Identifier: BSD-3-Clause
/* flow/sigs.c: compile errors, flags, ports and direction, streams across segments. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/sigs.h"

/* The rules under test, and the stream settings (the config's defaults). */
static struct moat_sig_rules rules;
static unsigned int stream_depth, streams;

static void add_rule(unsigned int id, const char *pattern, unsigned int flags,
		     enum moat_sig_action action, enum moat_sig_dir dir, unsigned short dport)
{
	struct moat_sig_rule *r;

	rules.v = realloc(rules.v, (rules.n + 1) * sizeof(*r));
	r = &rules.v[rules.n++];
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->msg = strdup("test");
	r->pattern = strdup(pattern);
	r->flags = flags;
	r->action = action;
	r->dir = dir;
	r->line = 10 + (unsigned int)rules.n;
	r->pattern_line = r->line + 1;
	if (dport) {
		r->dport.n = 1;
		r->dport.lo[0] = r->dport.hi[0] = dport;
	}
}

static void setup(void)
{
	memset(&rules, 0, sizeof(rules));
	stream_depth = 16384;
	streams = 16384;
}

static void teardown(void)
{
	size_t i;

	for (i = 0; i < rules.n; i++) {
		free(rules.v[i].msg);
		free(rules.v[i].pattern);
	}
	free(rules.v);
}

static int compile_rules(struct moat_sig_set **set, char *err, size_t errlen)
{
	return moat_sigs_compile_rules(&rules, stream_depth, streams, "t.yaml", set, err, errlen);
}

static struct moat_sig_set *compile(void)
{
	struct moat_sig_set *set = NULL;
	char err[512] = "";

	cr_assert_eq(compile_rules(&set, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(set);
	return set;
}

static struct moat_flow_key key_of(unsigned int n)
{
	struct moat_flow_key k;

	memset(&k, 0, sizeof(k));
	memcpy(&k, &n, sizeof(n));
	return k;
}

/* One packet: -1 none, else the action of the deciding signature. */
static int match(struct moat_sig_matcher *m, const char *data, uint32_t seq,
		 const struct moat_flow_key *key, bool to_server, uint16_t dport)
{
	struct moat_sig_packet p = { .payload = (const uint8_t *)data, .len = (uint32_t)strlen(data),
				     .seq = seq, .sport = 40000, .dport = dport,
				     .to_server = to_server, .tracked = key != NULL, .key = key,
				     .now_s = 100 };
	struct moat_sig_verdict v;

	moat_sig_match(m, &p, &v);
	return v.action;
}

TestSuite(sigs, .init = setup, .fini = teardown);

Test(sigs, none_means_no_set)
{
	struct moat_sig_set *set = (void *)1;
	char err[64];

	cr_assert_eq(compile_rules(&set, err, sizeof(err)), 0);
	cr_assert_null(set);
	cr_assert_null(moat_sig_matcher_new(NULL));
}

Test(sigs, bad_pattern_names_id_line_and_hyperscan_error)
{
	struct moat_sig_set *set = NULL;
	char err[512];

	add_rule(7, "fine", 0, MOAT_SIG_DROP, MOAT_SIG_ANY, 0);
	add_rule(9, "evil(payload", 0, MOAT_SIG_DROP, MOAT_SIG_ANY, 0);
	cr_assert_eq(compile_rules(&set, err, sizeof(err)), -EINVAL);
	cr_assert_null(set);
	cr_assert(strstr(err, "t.yaml:13: key 'signatures[1].pattern': signature 9: hyperscan: "),
		  "%s", err);
}

Test(sigs, flags_caseless_and_dotall)
{
	struct moat_sig_set *set;
	struct moat_sig_matcher *m;

	add_rule(1, "evil", 0, MOAT_SIG_DROP, MOAT_SIG_ANY, 0);
	add_rule(2, "bad.thing", MOAT_SIGF_CASELESS | MOAT_SIGF_DOTALL, MOAT_SIG_ALERT, MOAT_SIG_ANY, 0);
	set = compile();
	m = moat_sig_matcher_new(set);
	cr_assert_eq(match(m, "xx evil xx", 1, NULL, true, 80), MOAT_SIG_DROP);
	cr_assert_eq(match(m, "xx EVIL xx", 1, NULL, true, 80), -1, "case matters without caseless");
	cr_assert_eq(match(m, "BAD\nTHING", 1, NULL, true, 80), MOAT_SIG_ALERT);
	cr_assert_eq(moat_sig_matcher_hits(m)[0], 1);
	cr_assert_eq(moat_sig_matcher_hits(m)[1], 1);
	moat_sig_matcher_free(m);
	moat_sigs_free(set);
}

Test(sigs, ports_and_direction)
{
	struct moat_sig_set *set;
	struct moat_sig_matcher *m;

	add_rule(1, "login", 0, MOAT_SIG_DROP, MOAT_SIG_TO_SERVER, 80);
	set = compile();
	m = moat_sig_matcher_new(set);
	cr_assert_eq(match(m, "POST /login", 1, NULL, true, 80), MOAT_SIG_DROP);
	cr_assert_eq(match(m, "POST /login", 1, NULL, true, 8080), -1, "other port");
	cr_assert_eq(match(m, "POST /login", 1, NULL, false, 80), -1, "other direction");
	moat_sig_matcher_free(m);
	moat_sigs_free(set);
}

Test(sigs, pattern_split_over_segments_of_one_flow)
{
	struct moat_flow_key a = key_of(1), b = key_of(2);
	struct moat_sig_counts c;
	struct moat_sig_set *set;
	struct moat_sig_matcher *m;

	add_rule(1, "EVILPAYLOAD", 0, MOAT_SIG_DROP, MOAT_SIG_ANY, 0);
	set = compile();
	m = moat_sig_matcher_new(set);
	cr_assert_eq(match(m, "GET / EVILPA", 1000, &a, true, 80), -1);
	cr_assert_eq(match(m, "GET / EVILPA", 1000, &b, true, 80), -1);
	cr_assert_eq(match(m, "YLOAD\r\n", 1012, &a, true, 80), MOAT_SIG_DROP, "split pattern");
	cr_assert_eq(match(m, "hello", 1019, &a, true, 80), MOAT_SIG_DROP, "the flow stays dropped");
	cr_assert_eq(match(m, "YLOAD\r\n", 1012, &a, false, 80), -1, "the other direction is apart");
	cr_assert_eq(match(m, "hello YLOAD", 1012, &b, true, 80), -1, "another flow's bytes");
	moat_sig_matcher_counts(m, &c);
	cr_assert_eq(c.streams_open, 2, "a's to-server stream closed on the drop; b's and a's reverse open");
	moat_sig_flow_ended(m, &b);
	moat_sig_matcher_counts(m, &c);
	cr_assert_eq(c.streams_open, 1);
	moat_sig_matcher_free(m);
	moat_sigs_free(set);
}

Test(sigs, out_of_order_and_depth_fall_back_to_single_packets)
{
	struct moat_flow_key a = key_of(1), b = key_of(2);
	struct moat_sig_counts c;
	struct moat_sig_set *set;
	struct moat_sig_matcher *m;

	stream_depth = 8;
	add_rule(1, "EVILPAYLOAD", 0, MOAT_SIG_DROP, MOAT_SIG_ANY, 0);
	set = compile();
	m = moat_sig_matcher_new(set);
	cr_assert_eq(match(m, "xxEVILPA", 1000, &a, true, 80), -1);
	cr_assert_eq(match(m, "YLOAD", 1008, &a, true, 80), -1, "beyond the depth: no stream");
	cr_assert_eq(match(m, "x EVILPAYLOAD", 1013, &a, true, 80), MOAT_SIG_DROP, "whole: still found");
	cr_assert_eq(match(m, "EVILPA", 1000, &b, true, 80), -1);
	cr_assert_eq(match(m, "YLOAD", 1100, &b, true, 80), -1, "a gap: matched alone");
	moat_sig_matcher_counts(m, &c);
	cr_assert_eq(c.out_of_order, 1);
	moat_sig_matcher_free(m);
	moat_sigs_free(set);
}

Test(sigs, stream_memory_is_bounded)
{
	struct moat_flow_key k[4] = { key_of(1), key_of(2), key_of(3), key_of(4) };
	struct moat_sig_counts c;
	struct moat_sig_set *set;
	struct moat_sig_matcher *m;
	int i;

	streams = 2;
	add_rule(1, "EVILPAYLOAD", 0, MOAT_SIG_DROP, MOAT_SIG_ANY, 0);
	set = compile();
	m = moat_sig_matcher_new(set);
	for (i = 0; i < 4; i++)
		cr_assert_eq(match(m, "EVILPA", 1000, &k[i], true, 80), -1);
	moat_sig_matcher_counts(m, &c);
	cr_assert_eq(c.streams_open, 2);
	cr_assert_eq(c.streams_refused, 2);
	cr_assert_eq(match(m, "EVILPAYLOAD", 1006, &k[3], true, 80), MOAT_SIG_DROP,
		     "without a stream, a whole pattern is still found");
	moat_sig_matcher_sweep(m, 1000, 30, NULL, NULL);
	moat_sig_matcher_counts(m, &c);
	cr_assert_eq(c.streams_open, 0, "idle streams swept");
	moat_sig_matcher_free(m);
	moat_sigs_free(set);
}

Test(sigs, save_and_load_keep_behaviour)
{
	char path[] = "/tmp/moat-sigs-XXXXXX", err[512];
	struct moat_flow_key a = key_of(1);
	struct moat_sig_set *set, *back = NULL;
	struct moat_sig_matcher *m;
	int fd = mkstemp(path);

	cr_assert_neq(fd, -1);
	close(fd);
	add_rule(42, "EVILPAYLOAD", MOAT_SIGF_CASELESS, MOAT_SIG_DROP, MOAT_SIG_TO_SERVER, 80);
	set = compile();
	cr_assert_eq(moat_sigs_save(set, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(moat_sigs_load(path, &back, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(moat_sigs_count(back), 1);
	cr_assert_eq(moat_sigs_id(back, 0), 42);
	m = moat_sig_matcher_new(back);
	cr_assert_eq(match(m, "evilpa", 1, &a, true, 80), -1);
	cr_assert_eq(match(m, "yload", 7, &a, true, 80), MOAT_SIG_DROP);
	cr_assert_eq(match(m, "evilpayload", 1, NULL, true, 81), -1);
	moat_sig_matcher_free(m);
	cr_assert_eq(moat_sigs_load("/nonexistent", &back, err, sizeof(err)), -ENOENT);
	fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, "garbage!", 8), 8);
	close(fd);
	cr_assert_eq(moat_sigs_load(path, &back, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "not a moat signature database"), "%s", err);
	unlink(path);
	moat_sigs_free(set);
}
