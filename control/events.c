// SPDX-License-Identifier: BSD-3-Clause
#include "control/events.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <time.h>

void moat_event_write(FILE *f, const struct moat_event *ev, unsigned int sampled_one_in,
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
	json_object_object_add(j, where_key, json_object_new_int((int)ev->ifindex));
	json_object_object_add(j, "cpu", json_object_new_int((int)ev->cpu));
	json_object_object_add(j, "sampled_one_in", json_object_new_int((int)sampled_one_in));
	fprintf(f, "%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	fflush(f);
	json_object_put(j);
}
