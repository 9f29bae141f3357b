/* SPDX-License-Identifier: BSD-3-Clause */
/* Readiness for service managers: systemd's notify protocol (sd_notify(3)). */
#ifndef MOAT_NOTIFY_H
#define MOAT_NOTIFY_H

/*
 * Send state ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. 0 when sent or when no
 * manager asked (the variable is unset), else -errno.
 */
int moat_notify(const char *state);

#endif
