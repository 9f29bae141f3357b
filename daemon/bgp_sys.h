/* SPDX-License-Identifier: BSD-3-Clause */
/* What bgp.c asks of the kernel and of BIRD (bgp_sys.c): the link, XDP, BIRD's socket. */
#ifndef MOAT_DAEMON_BGP_SYS_H
#define MOAT_DAEMON_BGP_SYS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A tun device named name, held by the returned fd (not persistent: the kernel
 * removes it when the fd closes, however moatd ends). Made down. fd or -errno.
 */
int bgp_link_open(const char *name, char *err, size_t errlen);
/* Admin state of the link: up (announcing) or down. 0 or -errno. */
int bgp_link_set(const char *name, bool up);

/* 1 when an XDP program is attached to ifname (the kernel's view), 0 when not, or -errno. */
int bgp_xdp_attached(const char *ifname);

/*
 * One command on BIRD's control socket (its text protocol: lines "CODE-text",
 * the last "CODE text"); waits at most 2 s. 0 when BIRD's last code is a
 * success (below 8000), else -errno with BIRD's words or the reason in err.
 */
int bgp_bird_call(const char *socket, const char *cmd, char *err, size_t errlen);

#endif
