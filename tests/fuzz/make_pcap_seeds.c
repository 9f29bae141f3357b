// SPDX-License-Identifier: BSD-3-Clause
/*
 * Writes starting inputs for fuzz_pcap into a directory:
 *   make_pcap_seeds DIR [CAPTURE...]
 * Small captures of each kind explain reads (classic pcap in both byte orders,
 * micro- and nanosecond; pcapng; Ethernet with and without VLAN tags, raw IP,
 * Linux cooked), holding a handshake with data and a close, a short SYN flood,
 * a spoofed RST and an IPv6 handshake; then the head of each CAPTURE (its
 * header and the whole records of its first SEED_MAX bytes: the captures are
 * only read, never written).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_MAX 4096

enum link { L_ETH, L_VLAN, L_RAW, L_SLL };

struct out {
	FILE *f;
	int be;	  /* classic pcap: big-endian headers */
	int nano; /* classic pcap: nanosecond timestamps */
	int ng;	  /* pcapng */
	unsigned int t;
};

static void put16(FILE *f, unsigned int v, int be)
{
	unsigned char b[2] = { (unsigned char)(be ? v >> 8 : v), (unsigned char)(be ? v : v >> 8) };

	fwrite(b, 1, 2, f);
}

static void put32(FILE *f, uint32_t v, int be)
{
	unsigned char b[4];
	int i;

	for (i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (be ? 24 - 8 * i : 8 * i));
	fwrite(b, 1, 4, f);
}

static void file_header(struct out *o, unsigned int linktype)
{
	if (o->ng) {
		/* Section header block, then one interface (with if_tsresol: microseconds). */
		put32(o->f, 0x0a0d0d0a, 0);
		put32(o->f, 28, 0);
		put32(o->f, 0x1a2b3c4d, 0);
		put16(o->f, 1, 0);
		put16(o->f, 0, 0);
		put32(o->f, 0xffffffff, 0);
		put32(o->f, 0xffffffff, 0);
		put32(o->f, 28, 0);
		put32(o->f, 1, 0);
		put32(o->f, 32, 0);
		put16(o->f, linktype, 0);
		put16(o->f, 0, 0);
		put32(o->f, 65535, 0);
		put16(o->f, 9, 0); /* if_tsresol */
		put16(o->f, 1, 0);
		fputc(6, o->f);
		fwrite("\0\0\0", 1, 3, o->f);
		put32(o->f, 0, 0); /* opt_endofopt */
		put32(o->f, 32, 0);
		return;
	}
	put32(o->f, o->nano ? 0xa1b23c4d : 0xa1b2c3d4, o->be);
	put16(o->f, 2, o->be);
	put16(o->f, 4, o->be);
	put32(o->f, 0, o->be);
	put32(o->f, 0, o->be);
	put32(o->f, 65535, o->be);
	put32(o->f, linktype, o->be);
}

static void record(struct out *o, const unsigned char *p, size_t len)
{
	uint64_t us = 1700000000ULL * 1000000 + (uint64_t)o->t * 250000;

	o->t++;
	if (o->ng) {
		size_t pad = (4 - len % 4) % 4;
		uint32_t blen = (uint32_t)(32 + len + pad);

		put32(o->f, 6, 0); /* enhanced packet block */
		put32(o->f, blen, 0);
		put32(o->f, 0, 0);
		put32(o->f, (uint32_t)(us >> 32), 0);
		put32(o->f, (uint32_t)us, 0);
		put32(o->f, (uint32_t)len, 0);
		put32(o->f, (uint32_t)len, 0);
		fwrite(p, 1, len, o->f);
		fwrite("\0\0\0", 1, pad, o->f);
		put32(o->f, blen, 0);
		return;
	}
	put32(o->f, (uint32_t)(us / 1000000), o->be);
	put32(o->f, (uint32_t)(us % 1000000) * (o->nano ? 1000 : 1), o->be);
	put32(o->f, (uint32_t)len, o->be);
	put32(o->f, (uint32_t)len, o->be);
	fwrite(p, 1, len, o->f);
}

/* A TCP segment from a to b (IPv4, or IPv6 when v6), in the link layer asked. */
static size_t tcp_pkt(unsigned char *f, enum link l, int v6, int rev, unsigned char flags,
		      uint32_t seq, uint32_t ack, unsigned int src_last, const char *payload,
		      unsigned char ttl)
{
	static const unsigned char mac[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	size_t plen = payload ? strlen(payload) : 0, hl = 0, iphl = v6 ? 40 : 20, i;
	unsigned int sport = rev ? 80 : 40000 + src_last, dport = rev ? 40000 + src_last : 80;
	unsigned char *ip, *tcp, *s, *d;
	size_t tcpl = flags & 0x02 ? 40 : 20;

	memset(f, 0, 160);
	switch (l) {
	case L_ETH:
		memcpy(f, mac, 12);
		hl = 14;
		break;
	case L_VLAN:
		memcpy(f, mac, 12);
		f[12] = 0x81;
		f[14] = 0x00;
		f[15] = 0x2a;
		hl = 18;
		break;
	case L_SLL:
		f[1] = 0; /* packet to us */
		f[3] = 1; /* ARPHRD_ETHER */
		f[5] = 6;
		memcpy(f + 6, mac, 6);
		hl = 16;
		break;
	case L_RAW:
		break;
	}
	if (l != L_RAW) {
		f[hl - 2] = v6 ? 0x86 : 0x08;
		f[hl - 1] = v6 ? 0xdd : 0x00;
	}
	ip = f + hl;
	tcp = ip + iphl;
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (unsigned char)((tcpl + plen) >> 8);
		ip[5] = (unsigned char)(tcpl + plen);
		ip[6] = 6;
		ip[7] = ttl;
		s = ip + 8;
		d = ip + 24;
		s[0] = d[0] = 0x20;
		s[1] = d[1] = 0x01;
		s[2] = d[2] = 0x0d;
		s[3] = d[3] = 0xb8;
		(rev ? d : s)[15] = (unsigned char)src_last;
		(rev ? s : d)[15] = 1;
	} else {
		ip[0] = 0x45;
		ip[2] = (unsigned char)((20 + tcpl + plen) >> 8);
		ip[3] = (unsigned char)(20 + tcpl + plen);
		ip[6] = 0x40;
		ip[8] = ttl;
		ip[9] = 6;
		s = ip + 12;
		d = ip + 16;
		s[0] = d[0] = 198;
		s[1] = d[1] = 51;
		s[2] = d[2] = 100;
		(rev ? d : s)[3] = (unsigned char)src_last;
		(rev ? s : d)[3] = 1;
		s[0] = rev ? 198 : 203;
		d[0] = rev ? 203 : 198;
	}
	tcp[0] = (unsigned char)(sport >> 8);
	tcp[1] = (unsigned char)sport;
	tcp[2] = (unsigned char)(dport >> 8);
	tcp[3] = (unsigned char)dport;
	for (i = 0; i < 4; i++) {
		tcp[4 + i] = (unsigned char)(seq >> (24 - 8 * i));
		tcp[8 + i] = (unsigned char)(ack >> (24 - 8 * i));
	}
	tcp[12] = (unsigned char)(tcpl / 4) << 4;
	tcp[13] = flags;
	tcp[14] = 0xfa;
	if (tcpl == 40) /* MSS 1460, SACK permitted, timestamps, NOP, window scale 7 */
		memcpy(tcp + 20, "\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x01\x00\x00\x00\x00\x00\x00"
				 "\x01\x03\x03\x07", 20);
	memcpy(tcp + tcpl, payload ? payload : "", plen);
	return hl + iphl + tcpl + plen;
}

/* A client's whole connection: handshake, a request, its answer, FIN both ways. */
static void conversation(struct out *o, enum link l, int v6, unsigned int who)
{
	unsigned char f[200];

	record(o, f, tcp_pkt(f, l, v6, 0, 0x02, 1000, 0, who, NULL, 64));
	record(o, f, tcp_pkt(f, l, v6, 1, 0x12, 5000, 1001, who, NULL, 64));
	record(o, f, tcp_pkt(f, l, v6, 0, 0x10, 1001, 5001, who, NULL, 64));
	record(o, f, tcp_pkt(f, l, v6, 0, 0x18, 1001, 5001, who, "GET / HTTP/1.0\r\n\r\n", 64));
	record(o, f, tcp_pkt(f, l, v6, 1, 0x18, 5001, 1019, who, "HTTP/1.0 200 OK\r\n\r\n", 64));
	record(o, f, tcp_pkt(f, l, v6, 0, 0x11, 1019, 5020, who, NULL, 64));
	record(o, f, tcp_pkt(f, l, v6, 1, 0x11, 5020, 1020, who, NULL, 64));
	record(o, f, tcp_pkt(f, l, v6, 0, 0x10, 1020, 5021, who, NULL, 64));
}

static void flood(struct out *o, enum link l, int v6)
{
	unsigned char f[200];
	unsigned int i;

	for (i = 0; i < 6; i++)
		record(o, f, tcp_pkt(f, l, v6, 0, 0x02, 7 * i, 0, 10 + i, NULL, 50));
	/* A reflected SYN-ACK, a stray ACK, a spoofed RST, a XMAS. */
	record(o, f, tcp_pkt(f, l, v6, 1, 0x12, 99, 8, 30, NULL, 50));
	record(o, f, tcp_pkt(f, l, v6, 0, 0x10, 8, 100, 31, NULL, 50));
	record(o, f, tcp_pkt(f, l, v6, 0, 0x04, 1001, 0, 2, NULL, 20));
	record(o, f, tcp_pkt(f, l, v6, 0, 0x29, 1, 0, 32, NULL, 50));
}

static FILE *open_seed(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	return f;
}

static void write_builtin(const char *dir)
{
	static const struct {
		const char *name;
		int be, nano, ng;
		unsigned int linktype;
		enum link l;
		int v6, do_flood;
	} kinds[] = {
		{ "seed-eth-v4.pcap", 0, 0, 0, 1, L_ETH, 0, 1 },
		{ "seed-eth-v6-be-nano.pcap", 1, 1, 0, 1, L_ETH, 1, 0 },
		{ "seed-vlan-v4.pcap", 0, 1, 0, 1, L_VLAN, 0, 0 },
		{ "seed-raw-v6.pcap", 0, 0, 0, 101, L_RAW, 1, 1 },
		{ "seed-sll-v4.pcap", 1, 0, 0, 113, L_SLL, 0, 0 },
		{ "seed-eth-v4.pcapng", 0, 0, 1, 1, L_ETH, 0, 1 },
		{ "seed-raw-v4.pcapng", 0, 0, 1, 101, L_RAW, 0, 0 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct out o = { .be = kinds[i].be, .nano = kinds[i].nano, .ng = kinds[i].ng };

		o.f = open_seed(dir, kinds[i].name);
		file_header(&o, kinds[i].linktype);
		conversation(&o, kinds[i].l, kinds[i].v6, 2);
		if (kinds[i].do_flood)
			flood(&o, kinds[i].l, kinds[i].v6);
		fclose(o.f);
	}
}

static uint32_t get32(const unsigned char *p, int be)
{
	return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] :
		    (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* How many bytes of buf (n of them) hold the header and whole records, at most SEED_MAX. */
static size_t head_len(const unsigned char *buf, size_t n)
{
	uint32_t magic = n >= 4 ? get32(buf, 0) : 0;
	size_t off, keep;
	int be;

	if (magic == 0x0a0d0d0a) { /* pcapng: whole blocks */
		be = n >= 12 && get32(buf + 8, 0) != 0x1a2b3c4d;
		for (off = 0, keep = 0; off + 12 <= n;) {
			uint32_t blen = get32(buf + off + 4, be);

			if (blen < 12 || blen % 4 || blen > n - off || off + blen > SEED_MAX)
				break;
			off += blen;
			keep = off;
		}
		return keep;
	}
	if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
		be = 0;
	else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
		be = 1;
	else
		return n < SEED_MAX ? n : SEED_MAX;
	for (off = 24, keep = n >= 24 ? 24 : 0; off + 16 <= n;) {
		uint32_t caplen = get32(buf + off + 8, be);

		if (caplen > n - off - 16 || off + 16 + caplen > SEED_MAX)
			break;
		off += 16 + caplen;
		keep = off;
	}
	return keep;
}

static void write_head(const char *dir, const char *capture)
{
	unsigned char buf[SEED_MAX];
	const char *base = strrchr(capture, '/');
	char name[512];
	FILE *in = fopen(capture, "rb"), *o;
	size_t n, keep;

	if (!in) {
		perror(capture);
		exit(1);
	}
	n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	keep = head_len(buf, n);
	snprintf(name, sizeof(name), "seed-head-%s", base ? base + 1 : capture);
	o = open_seed(dir, name);
	fwrite(buf, 1, keep, o);
	fclose(o);
}

int main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [CAPTURE...]\n", argv[0]);
		return 2;
	}
	write_builtin(argv[1]);
	for (i = 2; i < argc; i++)
		write_head(argv[1], argv[i]);
	return 0;
}
