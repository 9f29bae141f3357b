// SPDX-License-Identifier: BSD-3-Clause
#include "control/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* The buffer of one capture's stream: about 500 records of 256 bytes. */
enum { CAPTURE_BUF = 512 * 1024, CAPTURE_LINE_MAX = 1024 + 4 * (MOAT_CAPTURE_SNAP_MAX / 3 + 1) };

static int reason_by_name(const char *name)
{
	int r;

	for (r = 0; r < MOAT_R_COUNT; r++)
		if (!strcmp(moat_reason_name((enum moat_reason)r), name))
			return r;
	return -1;
}

static int verdict_mask(const char *v, u32 *mask, char *err, size_t errlen)
{
	int want, r;

	if (!strcmp(v, "pass"))
		want = MOAT_PASS;
	else if (!strcmp(v, "drop"))
		want = MOAT_DROP;
	else if (!strcmp(v, "tx"))
		want = MOAT_TX;
	else {
		snprintf(err, errlen, "capture: verdict '%s' is not drop, tx or pass", v);
		return -EINVAL;
	}
	*mask = 0;
	for (r = 0; r < MOAT_R_COUNT; r++)
		if ((int)moat_reason_verdict((enum moat_reason)r) == want)
			*mask |= 1u << r;
	return 0;
}

static int reasons_mask(json_object *arr, u32 *mask, char *err, size_t errlen)
{
	size_t i, n;

	if (!json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "capture: \"reasons\" must be a list of reason names");
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	*mask = 0;
	for (i = 0; i < n; i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(arr, i));
		int r = name ? reason_by_name(name) : -1;

		if (r < 0) {
			snprintf(err, errlen, "capture: unknown reason '%s' (see moatctl stats)",
				 name ? name : "");
			return -EINVAL;
		}
		*mask |= 1u << r;
	}
	return 0;
}

static int get_range(json_object *req, const char *key, long long min, long long max,
		     long long *out, char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < min ||
	    json_object_get_int64(v) > max) {
		snprintf(err, errlen, "capture: \"%s\" must be an integer %lld..%lld", key, min, max);
		return -EINVAL;
	}
	*out = json_object_get_int64(v);
	return 0;
}

int moat_capture_parse(json_object *req, struct moat_capture_req *out, char *err, size_t errlen)
{
	long long snap = MOAT_CAPTURE_SNAP_DEFAULT, sample = 1, count = 0;
	u32 reasons = (1u << MOAT_R_COUNT) - 1, verdicts = reasons;
	json_object *v;
	int r = 0;

	if (json_object_object_get_ex(req, "reasons", &v))
		r = reasons_mask(v, &reasons, err, errlen);
	if (!r && json_object_object_get_ex(req, "verdict", &v))
		r = verdict_mask(json_object_get_string(v) ? json_object_get_string(v) : "", &verdicts,
				 err, errlen);
	if (!r)
		r = get_range(req, "snaplen", 14, MOAT_CAPTURE_SNAP_MAX, &snap, err, errlen);
	if (!r)
		r = get_range(req, "sample", 1, 1000000000, &sample, err, errlen);
	if (!r)
		r = get_range(req, "count", 0, 1LL << 40, &count, err, errlen);
	if (r)
		return r;
	if (!(reasons & verdicts)) {
		snprintf(err, errlen, "capture: no reason has that verdict");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->cfg.on = 1;
	out->cfg.reasons = reasons & verdicts;
	out->cfg.snaplen = (u32)snap;
	out->cfg.sample = (u32)sample;
	out->count = (unsigned long long)count;
	return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t moat_base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		u32 w = (u32)in[i] << 16 | (u32)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64[w >> 18];
		out[o++] = b64[(w >> 12) & 63];
		out[o++] = b64[(w >> 6) & 63];
		out[o++] = b64[w & 63];
	}
	if (i < n) {
		u32 w = (u32)in[i] << 16 | (i + 1 < n ? (u32)in[i + 1] << 8 : 0);

		out[o++] = b64[w >> 18];
		out[o++] = b64[(w >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

long moat_base64_decode(const char *text, unsigned char *out, size_t room)
{
	u32 w = 0;
	size_t o = 0;
	int bits = 0;

	for (; *text && *text != '='; text++) {
		const char *p = strchr(b64, *text);

		if (!p)
			return -1;
		w = w << 6 | (u32)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == room)
				return -1;
			out[o++] = (unsigned char)(w >> bits);
		}
	}
	return (long)o;
}

/* Append text to the stream's buffer whole, or not at all: -ENOSPC. */
static int queue(struct moat_capture_stream *s, const char *text, size_t n)
{
	if (s->len + n > s->cap)
		return -ENOSPC;
	memcpy(s->buf + s->len, text, n);
	s->len += n;
	return 0;
}

void moat_capture_refuse(int fd, const char *msg)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "ok", json_object_new_boolean(0));
	json_object_object_add(j, "error", json_object_new_string(msg));
	dprintf(fd, "%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	close(fd);
}

int moat_capture_stream_open(struct moat_capture_stream *s, int fd, const struct moat_capture_req *r,
			     const char *where_key, long long clock_off_ns)
{
	char line[128];
	int n;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->buf = malloc(CAPTURE_BUF);
	if (!s->buf) {
		close(fd);
		return -ENOMEM;
	}
	s->cap = CAPTURE_BUF;
	s->fd = fd;
	s->count = r->count;
	s->where_key = where_key;
	s->clock_off_ns = clock_off_ns;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	n = snprintf(line, sizeof(line), "{\"ok\":true,\"snaplen\":%u,\"sample\":%u}\n",
		     r->cfg.snaplen, r->cfg.sample ? r->cfg.sample : 1);
	queue(s, line, (size_t)n);
	return moat_capture_stream_flush(s);
}

int moat_capture_stream_put(struct moat_capture_stream *s, const struct moat_capture_rec *rec,
			    const char *ifname)
{
	enum moat_reason r = rec->reason < MOAT_R_COUNT ? (enum moat_reason)rec->reason :
							   MOAT_R_MALFORMED;
	char line[CAPTURE_LINE_MAX];
	size_t caplen = rec->caplen > MOAT_CAPTURE_SNAP_MAX ? MOAT_CAPTURE_SNAP_MAX : rec->caplen;
	int n;

	if (s->count && s->sent >= s->count)
		return 1;
	n = snprintf(line, sizeof(line),
		     "{\"t\":%lld,\"reason\":\"%s\",\"verdict\":\"%s\",\"if\":\"%s\",\"%s\":%u,"
		     "\"len\":%u,\"data\":\"",
		     (long long)rec->ts_ns + s->clock_off_ns, moat_reason_name(r),
		     moat_verdict_name(moat_reason_verdict(r)), ifname, s->where_key, rec->cpu,
		     rec->len);
	n += (int)moat_base64_encode(rec->data, caplen, line + n);
	memcpy(line + n, "\"}\n", 3);
	if (queue(s, line, (size_t)n + 3)) {
		s->lost++;
		return 0;
	}
	s->sent++;
	return s->count && s->sent >= s->count;
}

int moat_capture_stream_flush(struct moat_capture_stream *s)
{
	size_t off = 0;

	while (off < s->len) {
		ssize_t n = send(s->fd, s->buf + off, s->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return -EPIPE;
		off += (size_t)n;
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
	return 0;
}

int moat_capture_stream_beat(struct moat_capture_stream *s)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "{\"lost\":%llu,\"captured\":%llu}\n",
			 s->lost + s->src_lost, s->sent);

	queue(s, line, (size_t)n); /* no room: the next one says the same */
	return moat_capture_stream_flush(s);
}

/* Send all of buf with the socket's (short) timeout: 0, or -1. */
static int send_blocking(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

void moat_capture_stream_close(struct moat_capture_stream *s, const char *why)
{
	static const struct timeval wait = { .tv_sec = 1 };
	char line[128];
	int n;

	if (!s->buf)
		return;
	n = snprintf(line, sizeof(line), "{\"end\":\"%s\",\"lost\":%llu,\"captured\":%llu}\n", why,
		     s->lost + s->src_lost, s->sent);
	/* What is queued, then the end line, with a short wait: a client reading gets them all. */
	fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof(wait));
	if (!send_blocking(s->fd, s->buf, s->len))
		send_blocking(s->fd, line, (size_t)n);
	close(s->fd);
	free(s->buf);
	s->buf = NULL;
	s->len = 0;
	s->fd = -1;
}
