// SPDX-License-Identifier: BSD-3-Clause
/* The kernel's and BIRD's side of the announcements (bgp_sys.h). */
#include "daemon/bgp_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define BIRD_TIMEOUT_S 2
#define BIRD_REPLY_MAX (64 * 1024)

int bgp_link_open(const char *name, char *err, size_t errlen)
{
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "/dev/net/tun: %s (the announcing link is a tun device)",
			 strerror(errno));
		return r;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		r = -errno;
		snprintf(err, errlen, "cannot make link %s: %s%s", name, strerror(errno),
			 errno == EBUSY ? " (another moatd holds it?)" : "");
		close(fd);
		return r;
	}
	bgp_link_set(name, false);
	return fd;
}

int bgp_link_set(const char *name, bool up)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr)) {
		r = -errno;
		goto out;
	}
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		r = -errno;
out:
	close(s);
	return r;
}

/* IFLA_XDP's IFLA_XDP_ATTACHED in one RTM_NEWLINK answer: 1, 0, or -ENOENT without it. */
static int xdp_of_link(struct nlmsghdr *nh, size_t len)
{
	struct ifinfomsg *ifi;
	struct rtattr *a, *x;
	int alen, xlen;

	if (!NLMSG_OK(nh, len) || nh->nlmsg_type != RTM_NEWLINK)
		return nh->nlmsg_type == NLMSG_ERROR ? -ENODEV : -EPROTO;
	ifi = NLMSG_DATA(nh);
	alen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
	for (a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type != IFLA_XDP)
			continue;
		xlen = (int)RTA_PAYLOAD(a);
		for (x = RTA_DATA(a); RTA_OK(x, xlen); x = RTA_NEXT(x, xlen))
			if (x->rta_type == IFLA_XDP_ATTACHED)
				return *(unsigned char *)RTA_DATA(x) != XDP_ATTACHED_NONE;
	}
	return -ENOENT;
}

int bgp_xdp_attached(const char *ifname)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST },
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	struct timeval tv = { .tv_sec = 1 };
	char buf[16384];
	ssize_t n;
	int fd, r;

	req.ifi.ifi_index = (int)if_nametoindex(ifname);
	if (!req.ifi.ifi_index)
		return -ENODEV;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, &req, sizeof(req), 0) < 0) {
		r = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	r = n < 0 ? -errno : xdp_of_link((struct nlmsghdr *)buf, (size_t)n);
out:
	close(fd);
	return r;
}

static int bird_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = BIRD_TIMEOUT_S };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		snprintf(err, errlen, "cannot reach BIRD on %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

/* The code of BIRD's last line in buf, once it is there ("CODE text\n"), else -1. */
static int bird_final(const char *buf, const char **text)
{
	const char *line = buf, *nl;

	while ((nl = strchr(line, '\n'))) {
		if (nl - line >= 5 && line[4] == ' ' && strspn(line, "0123456789") == 4) {
			*text = line + 5;
			return atoi(line);
		}
		line = nl + 1;
	}
	return -1;
}

/* Read until BIRD's last line: its code, with the line's text in err; or -errno. */
static int bird_reply(int fd, char *err, size_t errlen)
{
	char *buf = calloc(1, BIRD_REPLY_MAX + 1);
	const char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int code = -1;

	if (!buf)
		return -ENOMEM;
	while (code < 0 && len < BIRD_REPLY_MAX) {
		n = read(fd, buf + len, BIRD_REPLY_MAX - len);
		if (n <= 0) {
			code = n < 0 ? -errno : -ECONNRESET;
			snprintf(err, errlen, "BIRD did not answer: %s", strerror(-code));
			break;
		}
		len += (size_t)n;
		code = bird_final(buf, &text);
	}
	if (code < 0 && !text && len >= BIRD_REPLY_MAX)
		code = -E2BIG;
	if (text)
		snprintf(err, errlen, "%.*s", (int)strcspn(text, "\n"), text);
	free(buf);
	return code;
}

int bgp_bird_call(const char *socket, const char *cmd, char *err, size_t errlen)
{
	int fd = bird_connect(socket, err, errlen), code;

	if (fd < 0)
		return fd;
	code = bird_reply(fd, err, errlen); /* the greeting: "0001 BIRD 2.x ready." */
	if (code >= 0 && dprintf(fd, "%s\n", cmd) < 0)
		code = -errno;
	if (code >= 0)
		code = bird_reply(fd, err, errlen);
	close(fd);
	if (code < 0)
		return code;
	return code < 8000 ? 0 : -EINVAL;
}
