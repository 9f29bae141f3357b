// SPDX-License-Identifier: BSD-3-Clause
#include "daemon/sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <arpa/inet.h>
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

static int bump(struct counts *c, unsigned char family, const struct moat_addr *addr)
{
	struct moat_addr a = *addr;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->v[i].family == family && moat_addr_eq(&c->v[i].addr, &a)) {
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
	c->v[c->n].family = family;
	c->v[c->n].count = 1;
	c->n++;
	return 0;
}

typedef int (*sock_fn)(const struct moat_sock_info *s, void *ctx);

static void sock_info(const struct inet_diag_msg *m, unsigned char family, struct moat_sock_info *s)
{
	memset(s, 0, sizeof(*s));
	s->family = family == AF_INET6 ? 6 : 4;
	memcpy(s->local.w, m->id.idiag_src, family == AF_INET6 ? 16 : 4);
	memcpy(s->remote.w, m->id.idiag_dst, family == AF_INET6 ? 16 : 4);
	s->lport = ntohs(m->id.idiag_sport);
	s->rport = ntohs(m->id.idiag_dport);
	s->state = m->idiag_state;
}

static int dump_family(int fd, unsigned char family, unsigned int states, sock_fn fn, void *ctx)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = states },
	};
	static char buf[32768];
	struct moat_sock_info s;
	ssize_t len;
	int r;

	if (send(fd, &msg, sizeof(msg), 0) < 0)
		return -errno;
	for (;;) {
		struct nlmsghdr *h;

		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0)
			return -errno;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EPROTO;
			sock_info(NLMSG_DATA(h), family, &s);
			if ((r = fn(&s, ctx)))
				return r;
		}
	}
}

int moat_sockdiag_each(unsigned int states_mask, sock_fn fn, void *ctx)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), err;

	if (fd < 0)
		return -errno;
	err = dump_family(fd, AF_INET, states_mask, fn, ctx);
	if (!err)
		err = dump_family(fd, AF_INET6, states_mask, fn, ctx);
	close(fd);
	return err;
}

const char *moat_sock_state_name(unsigned int state)
{
	static const char *const names[MOAT_SOCK_STATES] = {
		"", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
		"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
	};

	return state < MOAT_SOCK_STATES ? names[state] : "";
}

static int count_remote(const struct moat_sock_info *s, void *ctx)
{
	return bump(ctx, s->family, &s->remote);
}

int moat_sockdiag_count(struct moat_conn_count **out)
{
	struct counts c = { 0 };
	int err = moat_sockdiag_each(1u << TCP_ESTABLISHED_STATE, count_remote, &c);

	if (err) {
		free(c.v);
		return err;
	}
	*out = c.v;
	return (int)c.n;
}
