// SPDX-License-Identifier: BSD-3-Clause
/*
 * The verifier's margin. Loads each program of each object given, one program
 * at a time, with the verifier's statistics requested (BPF_LOG_STATS), and
 * prints how many instructions the verifier processed for it. Kernel builds
 * reach the 1M budget differently, so the design keeps every program under
 * half of it; this fails above MOAT_BUDGET_FAIL so a kernel or compiler change
 * cannot take the margin away unnoticed. A refused load is loaded again with
 * the full log (BPF_LOG_LEVEL1) and the log's last lines are printed.
 *
 *   verifier_budget [--set NAME=VALUE]... OBJECT...
 *
 * --set gives a load-time constant (a `const volatile` in .rodata) the value
 * its loader gives it, in every object that has it: the verifier prunes code
 * on those values, so the count depends on them.
 * Exit 77 (skip) only when this process may not use bpf() at all.
 */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SKIP 77
#define MOAT_BUDGET_FAIL 800000L /* 80% of the kernel's BPF_COMPLEXITY_LIMIT_INSNS */
#define MOAT_BUDGET_AIM 500000L	 /* the design's "well under half" */
#define STATS_LOG_SIZE (64 * 1024)
#define FULL_LOG_SIZE (8 * 1024 * 1024) /* the kernel (6.4+) keeps the log's tail */
#define TAIL_LINES 20

#ifndef BPF_LOG_LEVEL1
#define BPF_LOG_LEVEL1 1
#endif
#ifndef BPF_LOG_STATS
#define BPF_LOG_STATS 4
#endif

struct const_set {
	const char *name;
	unsigned long long value;
	int used;
};

/* libbpf's warnings, without the verifier log it dumps on a failure: we print its tail. */
static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN || strstr(fmt, "BEGIN PROG LOAD LOG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* "processed N insns" from a verifier log, or -1. */
static long processed_insns(const char *log)
{
	const char *p = log;
	long n;
	char *end;

	while ((p = strstr(p, "processed ")) != NULL) {
		p += strlen("processed ");
		n = strtol(p, &end, 10);
		if (end != p && !strncmp(end, " insns", 6))
			return n;
	}
	return -1;
}

/*
 * The log's "stack depth A+B+..." (main, then each subprogram): the other limit
 * a change can hit, 512 bytes summed along any call chain.
 */
static void print_stack_depth(const char *log)
{
	const char *p = strstr(log, "stack depth ");
	int len;

	if (!p)
		return;
	len = (int)strcspn(p, "\n");
	printf("      %.*s (bytes per function; 512 at most along a call chain)\n", len, p);
}

/* The log's last `lines` lines, indented under the failure. */
static void print_tail(const char *log, int lines)
{
	const char *end = log + strlen(log), *p, *nl;

	while (end > log && end[-1] == '\n')
		end--;
	for (p = end; p > log; p--) {
		if (p[-1] == '\n' && --lines == 0)
			break;
	}
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		printf("    | %.*s\n", (int)(nl - p), p);
	}
}

static int write_const(void *data, unsigned int size, unsigned long long v)
{
	unsigned char u8v = (unsigned char)v;
	unsigned short u16v = (unsigned short)v;
	unsigned int u32v = (unsigned int)v;

	switch (size) {
	case 1:
		memcpy(data, &u8v, 1);
		return 0;
	case 2:
		memcpy(data, &u16v, 2);
		return 0;
	case 4:
		memcpy(data, &u32v, 4);
		return 0;
	case 8:
		memcpy(data, &v, 8);
		return 0;
	}
	return -EINVAL;
}

/* Offset and size of variable name in section .rodata, or -ENOENT. */
static int rodata_var(const struct btf *btf, const char *name, unsigned int *size)
{
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	int id, i;

	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -ENOENT;
	if (id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, (__u32)id);
	vs = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (!strcmp(btf__name_by_offset(btf, var->name_off), name)) {
			*size = vs->size;
			return (int)vs->offset;
		}
	}
	return -ENOENT;
}

/* Give the object's load-time constants the values asked for. */
static int set_consts(struct bpf_object *obj, struct const_set *sets, int nsets)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	const struct btf *btf = bpf_object__btf(obj);
	unsigned char *copy;
	const void *init;
	size_t size;
	int i, err = 0;

	if (!map || !(init = bpf_map__initial_value(map, &size)))
		return 0;
	copy = malloc(size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, init, size);
	for (i = 0; i < nsets && !err; i++) {
		unsigned int vsize;
		int off = rodata_var(btf, sets[i].name, &vsize);

		if (off < 0 || (size_t)off + vsize > size)
			continue;
		err = write_const(copy + off, vsize, sets[i].value);
		sets[i].used = 1;
	}
	if (!err)
		err = bpf_map__set_initial_value(map, copy, size);
	free(copy);
	return err;
}

/*
 * Load program `name` of `path` alone (the object's maps are created fresh,
 * nothing is pinned) with the verifier log at `level` into buf.
 */
static int load_one(const char *path, const char *name, struct const_set *sets, int nsets,
		    unsigned int level, char *buf, size_t size)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	int err;

	if (!obj)
		return -errno;
	buf[0] = '\0';
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, !strcmp(bpf_program__name(prog), name));
	prog = bpf_object__find_program_by_name(obj, name);
	err = prog ? set_consts(obj, sets, nsets) : -ENOENT;
	if (!err)
		err = bpf_program__set_log_level(prog, level);
	if (!err)
		err = bpf_program__set_log_buf(prog, buf, size);
	if (!err)
		err = bpf_object__load(obj);
	bpf_object__close(obj);
	return err;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Why a load failed: the last lines of the full verifier log. */
static void explain_failure(const char *path, const char *name, struct const_set *sets, int nsets,
			    const char *stats_log)
{
	char *full = calloc(1, FULL_LOG_SIZE);

	if (full)
		load_one(path, name, sets, nsets, BPF_LOG_LEVEL1 | BPF_LOG_STATS, full,
			 FULL_LOG_SIZE);
	printf("  verifier log, last %d lines:\n", TAIL_LINES);
	print_tail(full && full[0] ? full : stats_log, TAIL_LINES);
	free(full);
}

/* 0 within budget, 1 over it or refused, SKIP without bpf() rights. */
static int check_prog(const char *path, const char *name, struct const_set *sets, int nsets)
{
	static char log[STATS_LOG_SIZE];
	long n;
	int err;

	err = load_one(path, name, sets, nsets, BPF_LOG_STATS, log, sizeof(log));
	if (err == -EPERM && geteuid() != 0)
		return SKIP;
	n = processed_insns(log);
	if (err) {
		printf("FAIL: %-22s %-22s refused: %s (processed %ld)\n", base_name(path), name,
		       strerror(-err), n);
		explain_failure(path, name, sets, nsets, log);
		return 1;
	}
	if (n < 0) {
		printf("FAIL: %-22s %-22s loaded, but the log has no count:\n", base_name(path),
		       name);
		print_tail(log, TAIL_LINES);
		return 1;
	}
	printf("%-5s %-22s %-22s %7ld insns processed%s\n",
	       n > MOAT_BUDGET_FAIL ? "FAIL:" : "ok:", base_name(path), name, n,
	       n > MOAT_BUDGET_FAIL  ? " (over 80% of the 1M budget)"
	       : n > MOAT_BUDGET_AIM ? " (over half the budget: the design wants less)"
				     : "");
	print_stack_depth(log);
	return n > MOAT_BUDGET_FAIL;
}

/* Every program of one object; failures counted into *failed. */
static int check_object(const char *path, struct const_set *sets, int nsets, int *failed)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	int rc = 0;

	if (!obj) {
		printf("FAIL: cannot open %s: %s\n", path, strerror(errno));
		(*failed)++;
		return 0;
	}
	bpf_object__for_each_program(prog, obj) {
		rc = check_prog(path, bpf_program__name(prog), sets, nsets);
		if (rc == SKIP)
			break;
		*failed += rc;
		rc = 0;
	}
	bpf_object__close(obj);
	return rc;
}

static int parse_set(const char *arg, struct const_set *s)
{
	const char *eq = strchr(arg, '=');
	char *end;

	if (!eq || eq == arg)
		return -EINVAL;
	s->name = strndup(arg, (size_t)(eq - arg));
	s->value = strtoull(eq + 1, &end, 0);
	s->used = 0;
	return s->name && *end == '\0' && end != eq + 1 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct const_set sets[16];
	int i, nsets = 0, failed = 0, nobj = 0;

	libbpf_set_print(print_libbpf);
	for (i = 1; i + 1 < argc && !strcmp(argv[i], "--set"); i += 2) {
		if (nsets == (int)(sizeof(sets) / sizeof(sets[0])) ||
		    parse_set(argv[i + 1], &sets[nsets++])) {
			fprintf(stderr, "bad --set %s (NAME=VALUE, at most 16)\n", argv[i + 1]);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: %s [--set NAME=VALUE]... OBJECT...\n", argv[0]);
		return 2;
	}
	printf("verifier budget: fail above %ld processed insns a program, aim at most %ld\n",
	       MOAT_BUDGET_FAIL, MOAT_BUDGET_AIM);
	for (; i < argc; i++, nobj++) {
		if (check_object(argv[i], sets, nsets, &failed) == SKIP) {
			printf("SKIP: loading BPF programs needs root (CAP_BPF); "
			       "this test runs as root in CI\n");
			return SKIP;
		}
	}
	for (i = 0; i < nsets; i++) {
		if (!sets[i].used) {
			printf("FAIL: --set %s: no object given has that constant\n", sets[i].name);
			failed++;
		}
	}
	printf("%d objects, %d failures\n", nobj, failed);
	return failed ? 1 : 0;
}
