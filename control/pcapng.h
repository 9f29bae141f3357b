/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A pcapng writer (the blocks moatctl capture needs): one section header, an
 * interface description per interface met (Ethernet, ns timestamps, its name),
 * and enhanced packet blocks with a comment (opt_comment). Host byte order, as
 * the section header's byte-order magic allows; tcpdump, tshark and Wireshark
 * read it.
 */
#ifndef MOAT_CONTROL_PCAPNG_H
#define MOAT_CONTROL_PCAPNG_H

#include <stdint.h>
#include <stdio.h>

/* The section header: 0 or -EIO. */
int moat_pcapng_header(FILE *f, const char *appl);
/* An interface (its id is the count written before it): 0 or -EIO. */
int moat_pcapng_interface(FILE *f, const char *name, uint32_t snaplen);
/* One packet: ts in Unix ns, caplen bytes of a frame of len, a comment (NULL: none). */
int moat_pcapng_packet(FILE *f, uint32_t ifid, uint64_t ts_ns, const void *data, uint32_t caplen,
		       uint32_t len, const char *comment);

#endif
