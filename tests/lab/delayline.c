// SPDX-License-Identifier: BSD-3-Clause
/*
 * A wire with a delay, for the labs on a kernel without sch_netem: forwards every
 * Ethernet frame between two interfaces (AF_PACKET), each held DELAY_MS in a FIFO
 * per direction, so a round trip across it gains 2 x DELAY_MS.
 *   delayline IF_A IF_B DELAY_MS
 * Frames are taken as they are: the interfaces must have no segmentation offloads
 * (frames no larger than the MTU). A frame that finds its direction's FIFO full
 * (RING_FRAMES) or larger than FRAME_MAX is dropped and counted. Prints "ready"
 * on stdout once both sockets are bound; on SIGINT or SIGTERM, each direction's
 * frames, bytes and drops on stderr, then exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX   2048
#define RING_FRAMES 8192 /* 20 ms at 1 Gbit/s is ~1700 full frames */
#define DRAIN_BATCH 256	 /* frames read from one socket before the FIFOs are served */
#define SOCK_BUF    (8 << 20)

struct frame {
	uint64_t due_ns;
	uint32_t len;
	unsigned char data[FRAME_MAX];
};

/* One direction: frames read from in_fd, sent on out_fd DELAY_MS later. */
struct line {
	const char *name;
	int in_fd, out_fd;
	struct frame *ring;
	size_t head, count;
	int blocked; /* out_fd's send buffer was full: wait for POLLOUT */
	uint64_t frames, bytes, drops, send_errors;
};

static const char usage[] =
	"usage: delayline IF_A IF_B DELAY_MS\n"
	"Forwards every frame between IF_A and IF_B, each held DELAY_MS (0-10000) first:\n"
	"a round trip across gains 2 x DELAY_MS. Prints \"ready\" once both ports are open;\n"
	"SIGINT or SIGTERM ends it with each direction's frames, bytes and drops on stderr.\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A raw socket that sees every frame IFNAME receives; -errno on failure. */
static int open_port(const char *ifname)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct packet_mreq mr = {.mr_type = PACKET_MR_PROMISC};
	int buf = SOCK_BUF, one = 1, fd, err;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex)
		return -errno;
	/* Protocol 0 until bound: no frame of another interface is queued meanwhile. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	mr.mr_ifindex = sll.sll_ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
		goto fail;
	/* Best effort: the receive loop skips outgoing frames anyway. */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

static struct frame *ring_at(struct line *l, size_t i)
{
	return &l->ring[(l->head + i) % RING_FRAMES];
}

/* One frame from the socket into the FIFO: 1 taken, 0 none waiting, -errno. */
static int take_one(struct line *l, uint64_t delay_ns)
{
	static unsigned char scratch[FRAME_MAX];
	int full = l->count == RING_FRAMES;
	struct frame *f = full ? NULL : ring_at(l, l->count);
	struct sockaddr_ll from;
	socklen_t fromlen = sizeof(from);
	ssize_t n;

	n = recvfrom(l->in_fd, f ? f->data : scratch, FRAME_MAX, MSG_TRUNC,
		     (struct sockaddr *)&from, &fromlen);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (from.sll_pkttype == PACKET_OUTGOING)
		return 1; /* our own transmission (or the host's) */
	if (full || n > FRAME_MAX) {
		l->drops++;
		return 1;
	}
	f->len = (uint32_t)n;
	f->due_ns = now_ns() + delay_ns;
	l->count++;
	return 1;
}

/* Up to DRAIN_BATCH frames from the socket; 0 or -errno. */
static int drain(struct line *l, uint64_t delay_ns)
{
	int i, r;

	for (i = 0; i < DRAIN_BATCH; i++) {
		r = take_one(l, delay_ns);
		if (r <= 0)
			return r;
	}
	return 0;
}

/* Every frame whose time has come goes out; 0 or -errno. */
static int release(struct line *l, uint64_t now)
{
	struct frame *f;
	ssize_t n;

	l->blocked = 0;
	while (l->count) {
		f = ring_at(l, 0);
		if (f->due_ns > now)
			return 0;
		n = send(l->out_fd, f->data, f->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			l->blocked = 1;
			return 0;
		}
		if (n < 0 && errno != ENOBUFS && errno != EMSGSIZE)
			return -errno;
		if (n < 0)
			l->send_errors++; /* the peer's backlog was full, or an oversized frame */
		else
			l->frames++, l->bytes += f->len;
		l->head = (l->head + 1) % RING_FRAMES;
		l->count--;
	}
	return 0;
}

/* The ppoll timeout until the first frame of either direction is due; NULL: none. */
static struct timespec *next_wakeup(struct line *lines, struct timespec *ts, uint64_t now)
{
	uint64_t due = UINT64_MAX, wait;
	int i;

	for (i = 0; i < 2; i++)
		if (lines[i].count && !lines[i].blocked && ring_at(&lines[i], 0)->due_ns < due)
			due = ring_at(&lines[i], 0)->due_ns;
	if (due == UINT64_MAX)
		return NULL;
	wait = due > now ? due - now : 0;
	ts->tv_sec = (time_t)(wait / 1000000000ULL);
	ts->tv_nsec = (long)(wait % 1000000000ULL);
	return ts;
}

/* Frames waiting in a socket go into their FIFO; 0 or -errno. */
static int serve_input(struct line *lines, const struct pollfd *pfd, uint64_t delay_ns)
{
	int i, r;

	for (i = 0; i < 2; i++) {
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			return -EIO;
		if (pfd[i].revents & POLLIN) {
			r = drain(&lines[i], delay_ns);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int serve(struct line *lines, uint64_t delay_ns, const sigset_t *waitmask)
{
	struct pollfd pfd[2];
	struct timespec ts;
	int i, r;

	while (!stop) {
		/* pfd[i] is lines[i]'s input and lines[1 - i]'s output. */
		for (i = 0; i < 2; i++) {
			pfd[i].fd = lines[i].in_fd;
			pfd[i].events = POLLIN | (lines[1 - i].blocked ? POLLOUT : 0);
		}
		r = ppoll(pfd, 2, next_wakeup(lines, &ts, now_ns()), waitmask);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && (r = serve_input(lines, pfd, delay_ns)) < 0)
			return r;
		for (i = 0; i < 2; i++) {
			r = release(&lines[i], now_ns());
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int block_signals(sigset_t *waitmask)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ||
	    sigprocmask(SIG_BLOCK, &block, waitmask))
		return -errno;
	/* Delivered only inside ppoll, so no wakeup is lost. */
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGTERM);
	return 0;
}

static int setup(struct line *lines, char **ifnames)
{
	int fd[2], i;

	for (i = 0; i < 2; i++) {
		fd[i] = open_port(ifnames[i]);
		if (fd[i] < 0) {
			fprintf(stderr, "delayline: %s: %s\n", ifnames[i], strerror(-fd[i]));
			return fd[i];
		}
	}
	for (i = 0; i < 2; i++) {
		lines[i].name = ifnames[i];
		lines[i].in_fd = fd[i];
		lines[i].out_fd = fd[1 - i];
		lines[i].ring = calloc(RING_FRAMES, sizeof(struct frame));
		if (!lines[i].ring)
			return -ENOMEM;
	}
	return 0;
}

static void report(const struct line *lines, char **ifnames)
{
	int i;

	for (i = 0; i < 2; i++)
		fprintf(stderr,
			"delayline: %s -> %s: %llu frames, %llu bytes, %llu dropped (FIFO full"
			" or oversized), %llu send errors\n",
			ifnames[i], ifnames[1 - i], (unsigned long long)lines[i].frames,
			(unsigned long long)lines[i].bytes, (unsigned long long)lines[i].drops,
			(unsigned long long)lines[i].send_errors);
}

int main(int argc, char **argv)
{
	struct line lines[2] = {0};
	sigset_t waitmask;
	char *end;
	long ms;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("%s", usage);
		return 0;
	}
	if (argc != 4) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	ms = strtol(argv[3], &end, 10);
	if (*end || ms < 0 || ms > 10000) {
		fprintf(stderr, "delayline: DELAY_MS: 0 to 10000, not %s\n", argv[3]);
		return 2;
	}
	/* Wakeups on time to the microsecond, not the default 50 us late. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	r = block_signals(&waitmask);
	if (!r)
		r = setup(lines, argv + 1);
	if (!r) {
		printf("ready\n");
		fflush(stdout);
		r = serve(lines, (uint64_t)ms * 1000000ULL, &waitmask);
	}
	report(lines, argv + 1);
	if (r < 0)
		fprintf(stderr, "delayline: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}
