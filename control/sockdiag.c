// SPDX-License-Identifier: BSD-3-Clause
#include "control/sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_ESTABLISHED_STATE 1

struct counts {
	struct moat_conn_count *v;
	size_t n, cap;
};

static int bump(struct counts *c, unsigned char family, const __be32 *addr)
{
	struct moat_addr a = { { 0 } };
	size_t i;

	memcpy(a.w, addr, family == AF_INET6 ? 16 : 4);
	for (i = 0; i < c->n; i++)
		if (c->v[i].family == (family == AF_INET6 ? 6 : 4) && moat_addr_eq(&c->v[i].addr, &a)) {
			c->v[i].count++;
			return 0;
		}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct moat_conn_count *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].addr = a;
	c->v[c->n].family = family == AF_INET6 ? 6 : 4;
	c->v[c->n].count = 1;
	c->n++;
	return 0;
}

static int dump_family(int fd, unsigned char family, struct counts *c)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1u << TCP_ESTABLISHED_STATE },
	};
	static char buf[32768];
	ssize_t len;

	if (send(fd, &msg, sizeof(msg), 0) < 0)
		return -errno;
	for (;;) {
		struct nlmsghdr *h;

		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0)
			return -errno;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)len); h = NLMSG_NEXT(h, len)) {
			struct inet_diag_msg *m;

			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EPROTO;
			m = NLMSG_DATA(h);
			if (bump(c, family, m->id.idiag_dst))
				return -ENOMEM;
		}
	}
}

int moat_sockdiag_count(struct moat_conn_count **out)
{
	struct counts c = { 0 };
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	err = dump_family(fd, AF_INET, &c);
	if (!err)
		err = dump_family(fd, AF_INET6, &c);
	close(fd);
	if (err) {
		free(c.v);
		return err;
	}
	*out = c.v;
	return (int)c.n;
}
