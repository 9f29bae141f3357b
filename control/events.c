// SPDX-License-Identifier: BSD-3-Clause
#include "control/events.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static json_object *event_json(const struct moat_event *ev, unsigned int sampled_one_in,
			       const char *where_key)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	struct timespec now;
	json_object *j;

	clock_gettime(CLOCK_REALTIME, &now);
	inet_ntop(ev->family == 6 ? AF_INET6 : AF_INET, ev->saddr.w, src, sizeof(src));
	inet_ntop(ev->family == 6 ? AF_INET6 : AF_INET, ev->daddr.w, dst, sizeof(dst));
	j = json_object_new_object();
	json_object_object_add(j, "time", json_object_new_double((double)now.tv_sec + now.tv_nsec / 1e9));
	json_object_object_add(j, "reason", json_object_new_string(moat_reason_name(ev->reason)));
	json_object_object_add(j, "verdict", json_object_new_string(moat_verdict_name(moat_reason_verdict(ev->reason))));
	json_object_object_add(j, "src", json_object_new_string(src));
	json_object_object_add(j, "sport", json_object_new_int(ev->sport));
	json_object_object_add(j, "dst", json_object_new_string(dst));
	json_object_object_add(j, "dport", json_object_new_int(ev->dport));
	json_object_object_add(j, "proto", json_object_new_string("tcp"));
	json_object_object_add(j, "ttl", json_object_new_int(ev->ttl));
	json_object_object_add(j, "tcp_flags", json_object_new_int(ev->tcp_flags));
	json_object_object_add(j, where_key, json_object_new_int((int)ev->where));
	json_object_object_add(j, "cpu", json_object_new_int((int)ev->cpu));
	json_object_object_add(j, "sampled_one_in", json_object_new_int((int)sampled_one_in));
	if (ev->detail_kind == MOAT_EVD_SIG_DROP || ev->detail_kind == MOAT_EVD_SIG_ALERT) {
		const char *action = ev->detail_kind == MOAT_EVD_SIG_DROP ? "drop" : "alert";

		json_object_object_add(j, "signature", json_object_new_int64(ev->detail));
		json_object_object_add(j, "signature_action", json_object_new_string(action));
	}
	return j;
}

char *moat_event_format(const struct moat_event *ev, unsigned int sampled_one_in,
			const char *where_key)
{
	json_object *j = event_json(ev, sampled_one_in, where_key);
	const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);
	char *line = malloc(len + 2);

	if (line) {
		memcpy(line, text, len);
		memcpy(line + len, "\n", 2);
	}
	json_object_put(j);
	return line;
}

void moat_event_write(FILE *f, const struct moat_event *ev, unsigned int sampled_one_in,
		      const char *where_key)
{
	char *line = moat_event_format(ev, sampled_one_in, where_key);

	if (!line)
		return;
	fputs(line, f);
	fflush(f);
	free(line);
}

/* All of line, or -1: a follower whose socket is full is not waited for. */
static int send_all(int fd, const char *line, size_t len)
{
	while (len) {
		ssize_t n = send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		line += n;
		len -= (size_t)n;
	}
	return 0;
}

void moat_feed_publish(struct moat_event_feed *f, const char *line)
{
	size_t len = strlen(line);
	unsigned int i = 0;

	free(f->recent[f->next]);
	f->recent[f->next] = strdup(line);
	f->next = (f->next + 1) % MOAT_FEED_RECENT;
	while (i < f->n_fd) {
		if (!send_all(f->fd[i], line, len)) {
			i++;
			continue;
		}
		close(f->fd[i]);
		f->fd[i] = f->fd[--f->n_fd];
		f->dropped_followers++;
	}
}

void moat_feed_subscribe(struct moat_event_feed *f, int fd, int follow)
{
	unsigned int i;

	for (i = 0; i < MOAT_FEED_RECENT; i++) {
		const char *line = f->recent[(f->next + i) % MOAT_FEED_RECENT];

		if (line && send_all(fd, line, strlen(line))) {
			close(fd);
			return;
		}
	}
	if (!follow || f->n_fd == MOAT_FEED_FOLLOWERS) {
		close(fd);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	f->fd[f->n_fd++] = fd;
}

void moat_feed_free(struct moat_event_feed *f)
{
	unsigned int i;

	for (i = 0; i < MOAT_FEED_RECENT; i++)
		free(f->recent[i]);
	for (i = 0; i < f->n_fd; i++)
		close(f->fd[i]);
	memset(f, 0, sizeof(*f));
}
