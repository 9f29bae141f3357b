// SPDX-License-Identifier: BSD-3-Clause
/* Writes a few valid starting inputs for fuzz_engine into a directory. */
#include <stdio.h>
#include <string.h>

static size_t tcp_frame(unsigned char *f, unsigned char flags, unsigned int seq, unsigned int ack,
			int reverse)
{
	static const unsigned char eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0 };
	unsigned char *ip = f + 14, *tcp = ip + 20;
	unsigned char a[4] = { 10, 1, 0, 2 }, b[4] = { 10, 2, 0, 2 };

	memset(f, 0, 80);
	memcpy(f, eth, 14);
	ip[0] = 0x45;
	ip[3] = 20 + 32;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, reverse ? b : a, 4);
	memcpy(ip + 16, reverse ? a : b, 4);
	tcp[0] = reverse ? 0 : 0x9c;
	tcp[1] = reverse ? 80 : 0x40;
	tcp[2] = reverse ? 0x9c : 0;
	tcp[3] = reverse ? 0x40 : 80;
	tcp[4] = (unsigned char)(seq >> 24);
	tcp[5] = (unsigned char)(seq >> 16);
	tcp[6] = (unsigned char)(seq >> 8);
	tcp[7] = (unsigned char)seq;
	tcp[8] = (unsigned char)(ack >> 24);
	tcp[9] = (unsigned char)(ack >> 16);
	tcp[10] = (unsigned char)(ack >> 8);
	tcp[11] = (unsigned char)ack;
	tcp[12] = 8 << 4;
	tcp[13] = flags;
	tcp[14] = 0xff;
	/* MSS 1460, SACK-permitted, timestamps, NOP, window scale 7 */
	memcpy(tcp + 20, "\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07", 20);
	return 14 + 20 + 32;
}

static void put(FILE *o, unsigned char *f, size_t len)
{
	fputc((int)(len & 0xff), o);
	fputc((int)(len >> 8), o);
	fputc(1, o);
	fwrite(f, 1, len, o);
}

int main(int argc, char **argv)
{
	unsigned char f[128];
	char path[4096];
	int policy;
	FILE *o;

	if (argc != 2)
		return 2;
	for (policy = 0; policy < 4; policy++) {
		snprintf(path, sizeof(path), "%s/seed-handshake-%d", argv[1], policy);
		o = fopen(path, "wb");
		if (!o)
			return 1;
		fputc(policy == 3 ? 0x12 : policy, o);
		put(o, f, tcp_frame(f, 0x02, 1000, 0, 0));
		put(o, f, tcp_frame(f, 0x12, 5000, 1001, 1));
		put(o, f, tcp_frame(f, 0x10, 1001, 5001, 0));
		put(o, f, tcp_frame(f, 0x04, 1001, 0, 0));
		fclose(o);
	}
	return 0;
}
