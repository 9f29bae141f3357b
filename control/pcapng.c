// SPDX-License-Identifier: BSD-3-Clause
#include "control/pcapng.h"

#include <errno.h>
#include <string.h>

/* Block types and option codes of the pcapng spec (IETF draft-ietf-opsawg-pcapng). */
enum {
	PCAPNG_SHB = 0x0A0D0D0A,
	PCAPNG_IDB = 0x00000001,
	PCAPNG_EPB = 0x00000006,
	PCAPNG_BOM = 0x1A2B3C4D,
	PCAPNG_LINKTYPE_ETHERNET = 1,
	OPT_END = 0,
	OPT_COMMENT = 1,
	SHB_USERAPPL = 4,
	IF_NAME = 2,
	IF_TSRESOL = 9,
};

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static size_t opt_len(size_t n)
{
	return 4 + pad4(n);
}

/* An option (code, n bytes of v) at p: the bytes written. */
static size_t put_opt(uint8_t *p, uint16_t code, const void *v, size_t n)
{
	uint16_t hdr[2] = { code, (uint16_t)n };

	memcpy(p, hdr, 4);
	if (n)
		memcpy(p + 4, v, n);
	memset(p + 4 + n, 0, pad4(n) - n);
	return opt_len(n);
}

/* A whole block of type with body (n bytes, a multiple of 4): 0 or -EIO. */
static int put_block(FILE *f, uint32_t type, const uint8_t *body, size_t n)
{
	uint32_t total = (uint32_t)(n + 12);

	if (fwrite(&type, 4, 1, f) != 1 || fwrite(&total, 4, 1, f) != 1 ||
	    (n && fwrite(body, n, 1, f) != 1) || fwrite(&total, 4, 1, f) != 1)
		return -EIO;
	return 0;
}

int moat_pcapng_header(FILE *f, const char *appl)
{
	uint8_t body[16 + 4 + 256 + 4];
	uint32_t bom = PCAPNG_BOM;
	uint16_t ver[2] = { 1, 0 };
	int64_t section_len = -1; /* not known: the file is written as packets come */
	size_t n = 0, al = strlen(appl) > 255 ? 255 : strlen(appl);

	memcpy(body, &bom, 4);
	memcpy(body + 4, ver, 4);
	memcpy(body + 8, &section_len, 8);
	n = 16;
	n += put_opt(body + n, SHB_USERAPPL, appl, al);
	n += put_opt(body + n, OPT_END, NULL, 0);
	return put_block(f, PCAPNG_SHB, body, n);
}

int moat_pcapng_interface(FILE *f, const char *name, uint32_t snaplen)
{
	uint8_t body[8 + 4 + 64 + 8 + 4];
	uint16_t link[2] = { PCAPNG_LINKTYPE_ETHERNET, 0 };
	uint8_t tsresol = 9; /* 10^-9 s */
	size_t n, nl = strlen(name) > 63 ? 63 : strlen(name);

	memcpy(body, link, 4);
	memcpy(body + 4, &snaplen, 4);
	n = 8;
	n += put_opt(body + n, IF_NAME, name, nl);
	n += put_opt(body + n, IF_TSRESOL, &tsresol, 1);
	n += put_opt(body + n, OPT_END, NULL, 0);
	return put_block(f, PCAPNG_IDB, body, n);
}

int moat_pcapng_packet(FILE *f, uint32_t ifid, uint64_t ts_ns, const void *data, uint32_t caplen,
		       uint32_t len, const char *comment)
{
	uint8_t body[20 + 65536 + 4 + 260 + 4];
	uint32_t head[5] = { ifid, (uint32_t)(ts_ns >> 32), (uint32_t)ts_ns, caplen, len };
	size_t n, cl = comment ? strlen(comment) : 0;

	if (caplen > 65536)
		return -EINVAL;
	if (cl > 255)
		cl = 255;
	memcpy(body, head, 20);
	memcpy(body + 20, data, caplen);
	n = 20 + pad4(caplen);
	memset(body + 20 + caplen, 0, n - 20 - caplen);
	if (cl) {
		n += put_opt(body + n, OPT_COMMENT, comment, cl);
		n += put_opt(body + n, OPT_END, NULL, 0);
	}
	return put_block(f, PCAPNG_EPB, body, n);
}
