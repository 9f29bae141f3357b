/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `moatctl capture` on the control socket, for both daemons. The request
 *   {"cmd":"capture","reasons":["syn_cookie",...],"verdict":"drop",
 *    "snaplen":256,"sample":1,"count":0}
 * (every key optional) turns the connection into a stream of JSON lines:
 *   {"ok":true,"snaplen":N,"sample":N}                       first (or a refusal)
 *   {"t":NS,"reason":R,"verdict":V,"if":NAME,"cpu"|"lcore":N,"len":N,"data":B64}
 *   {"lost":N,"captured":N}                                   about once a second
 *   {"end":"count"|"stopped","lost":N,"captured":N}           last
 * t is Unix time in ns; data the frame's first bytes in base64. The daemon
 * never waits for the client: what does not fit its buffer is counted lost.
 */
#ifndef MOAT_CONTROL_CAPTURE_H
#define MOAT_CONTROL_CAPTURE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/capture.h"

struct moat_capture_req {
	struct moat_capture_cfg cfg; /* on set */
	unsigned long long count;    /* records to send before the end; 0: no end */
};

/* The request's filter and sizes: 0, or -EINVAL with err. */
int moat_capture_parse(json_object *req, struct moat_capture_req *out, char *err, size_t errlen);

/* The connection a capture streams to, with its bounded buffer. */
struct moat_capture_stream {
	int fd;
	char *buf;		    /* NULL: no capture (a zeroed struct is none) */
	size_t len, cap;
	unsigned long long count;   /* from the request; 0: unlimited */
	unsigned long long sent;    /* records queued */
	unsigned long long lost;    /* records that did not fit */
	unsigned long long src_lost; /* the source's own (ring full), kept by the daemon */
	const char *where_key;	    /* "cpu" (moatd) or "lcore" (moat-dp) */
	long long clock_off_ns;	    /* Unix time minus the records' clock */
};

/* Answer {"ok":false,"error":msg} and close fd: a capture refused. */
void moat_capture_refuse(int fd, const char *msg);
/* Take fd (made non-blocking) and send the first line. 0 or -errno (fd closed). */
int moat_capture_stream_open(struct moat_capture_stream *s, int fd, const struct moat_capture_req *r,
			     const char *where_key, long long clock_off_ns);
static inline bool moat_capture_stream_on(const struct moat_capture_stream *s)
{
	return s->buf != NULL;
}
/* Queue one record seen on ifname: 1 when the count is reached, else 0. */
int moat_capture_stream_put(struct moat_capture_stream *s, const struct moat_capture_rec *rec,
			    const char *ifname);
/* Send what is queued: 0, or -EPIPE when the client went away. */
int moat_capture_stream_flush(struct moat_capture_stream *s);
/* The once-a-second line: 0, or -EPIPE when the client went away. */
int moat_capture_stream_beat(struct moat_capture_stream *s);
/* The last line (why: "count" or "stopped"), a short wait to send it, and close. */
void moat_capture_stream_close(struct moat_capture_stream *s, const char *why);

/* base64 of n bytes into out (room for 4 * ((n + 2) / 3) + 1): its length. */
size_t moat_base64_encode(const unsigned char *in, size_t n, char *out);
/* Decode text (NUL-ended) into out (room for 3 * strlen / 4): its length, or -1. */
long moat_base64_decode(const char *text, unsigned char *out, size_t room);

#endif
