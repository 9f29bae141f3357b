// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target: parse + classify + track, over a short sequence of frames
 * so the TCP state machine is exercised, on the same inline backend that
 * `moatctl explain` uses. Input: [policy byte] then records of
 * [u16 length][u8 clock step][frame bytes].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/config.h"
#include "flow/backend.h"
#include "core/engine_types.h"

static const struct moat_cookie_secrets secrets = {
	.cur = { 1, 2 },
	.prev = { 3, 4 },
};

static void policy_from_byte(struct moat_config *cfg, uint8_t b)
{
	cfg->pol.syn_cookies = b % 3;
	cfg->pol.rst_policy = (b >> 2) % 3;
	if (b & 0x10) {
		cfg->pol.source.syn_rate = 2;
		cfg->pol.source.concurrent = 1;
		cfg->pol.prefix.new_conn = 3;
	}
	if (b & 0x20)
		moat_policy_protect_port(&cfg->pol, 80);
	if (b & 0x40) {
		struct moat_cidr c;

		moat_cidr_parse("10.0.0.0/8", &c);
		moat_cidr_list_add(&cfg->deny, &c);
		moat_cidr_parse("10.1.0.0/16", &c);
		moat_cidr_list_add(&cfg->allow, &c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct moat_config cfg;
	struct moat_be be;
	struct moat_engine eng = { .sec = &secrets, .now_ns = 1000ULL * MOAT_NSEC_PER_SEC };
	size_t off = 1;
	int frames = 0;

	if (size < 1)
		return 0;
	moat_config_defaults(&cfg);
	cfg.flow_table_size = 64;
	cfg.source_table_size = 64;
	policy_from_byte(&cfg, data[0]);
	if (moat_be_init(&be, cfg.flow_table_size, cfg.source_table_size, 42))
		abort();
	moat_be_use(&be, &cfg.pol, &cfg.allow, &cfg.deny);
	eng.pol = &cfg.pol;
	eng.be = &be;
	while (off + 3 <= size && frames++ < 16) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		struct moat_result res;
		struct moat_pkt pkt;
		uint8_t *frame;
		enum moat_reason r;

		eng.now_ns += (u64)data[off + 2] * 100000000ULL; /* steps of 0.1 s */
		off += 3;
		if (len > size - off)
			len = size - off;
		/* Exact-size heap copy: ASan catches any read past the frame. */
		frame = malloc(len ? len : 1);
		memcpy(frame, data + off, len);
		r = moat_be_run(&be, &eng, frame, frame + len, &pkt, &res);
		if ((unsigned)r >= MOAT_R_COUNT)
			abort();
		free(frame);
		off += len;
	}
	moat_be_free(&be);
	moat_config_free(&cfg);
	return 0;
}
