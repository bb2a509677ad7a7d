/*
 * test_vhost_user.c - libvhostproxy's vhost-user front-end against a
 * back-end whose timing the test controls (a thread on the other end of a
 * socket pair): a reply that arrives in time, even in pieces, is read
 * whole; a back-end that says nothing, or trickles its reply so slowly that
 * it is not complete when the reply is due, is given up on when the reply is
 * due (one deadline per reply, not per byte), with the stream marked lost;
 * and one that does not read its socket is given up on as well.
 */
#include "drv.h"
#include "vhost_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GET_FEATURES 1
#define SET_OWNER 3
#define REPLY_FLAGS 0x5u /* version 1, reply */
#define FEATURES 0x1234500000000ULL

struct backend {
	int fd;
	int byte_gap_ms;  /* pause before each byte of the reply; -1: never reply */
	bool saw_owner;   /* SET_OWNER arrived after the reply */
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read one 12-byte header (no payload is expected); its request, or -1. */
static int read_request(int fd)
{
	uint32_t hdr[3];
	size_t got = 0;

	while (got < sizeof(hdr)) {
		ssize_t n = recv(fd, (char *)hdr + got, sizeof(hdr) - got, 0);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return hdr[2] == 0 ? (int)hdr[0] : -1;
}

static void *backend_main(void *arg)
{
	struct backend *b = arg;
	struct {
		uint32_t request, flags, size;
		uint64_t features;
	} __attribute__((packed)) reply = { GET_FEATURES, REPLY_FLAGS, 8, FEATURES };

	if (read_request(b->fd) != GET_FEATURES)
		return NULL;
	if (b->byte_gap_ms < 0) { /* silent: wait for the front-end to give up */
		char c;

		while (recv(b->fd, &c, 1, 0) > 0)
			;
		return NULL;
	}
	for (size_t i = 0; i < sizeof(reply); i++) {
		sleep_ms(b->byte_gap_ms);
		if (send(b->fd, (char *)&reply + i, 1, MSG_NOSIGNAL) != 1)
			return NULL;
	}
	b->saw_owner = read_request(b->fd) == SET_OWNER;
	return NULL;
}

/* Open against a back-end pausing gap_ms before each reply byte; the
 * result, the time it took and the error text. */
static int open_with(int gap_ms, int timeout_ms, double *secs, char *err, size_t errlen,
		     bool *saw_owner, uint64_t *features)
{
	struct backend b = { .byte_gap_ms = gap_ms };
	struct vhost_dev *d;
	pthread_t t;
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	b.fd = sv[1];
	if (pthread_create(&t, NULL, backend_main, &b)) {
		close(sv[0]);
		close(sv[1]);
		return -EAGAIN;
	}
	double t0 = now();

	err[0] = 0;
	ret = vhost_dev_open_connected(&d, sv[0], "test", timeout_ms, err, errlen);
	*secs = now() - t0;
	if (ret == 0) {
		*features = vhost_dev_features(d);
		vhost_dev_close(d); /* closes sv[0]: a silent back-end sees EOF */
	}
	pthread_join(t, NULL);
	close(sv[1]);
	*saw_owner = b.saw_owner;
	return ret;
}

int main(void)
{
	char err[256];
	double secs;
	bool owner;
	uint64_t features = 0;
	int ret;

	/* 20 reply bytes, 5 ms apart (about 0.1 s), due within 2 s. */
	ret = open_with(5, 2000, &secs, err, sizeof(err), &owner, &features);
	drv_check(ret == 0 && features == FEATURES && owner,
		  "a reply arriving byte by byte within its time is read whole "
		  "(ret %d, features %#llx, SET_OWNER %s; %s)", ret, (unsigned long long)features,
		  owner ? "sent" : "missing", err);

	/* Never answered, due within 0.3 s. */
	ret = open_with(-1, 300, &secs, err, sizeof(err), &owner, &features);
	drv_check(ret == -ETIMEDOUT && strstr(err, "no answer from the back-end"),
		  "a back-end that never answers is given up on (ret %d: %s)", ret, err);
	drv_check(secs >= 0.29 && secs < 2.0, "... when the reply is due (%.2f s, due 0.30 s)", secs);

	/* 20 bytes, 100 ms apart (2 s in all), due within 0.3 s: every byte
	 * comes well within 0.3 s of the one before, but the reply is late. */
	ret = open_with(100, 300, &secs, err, sizeof(err), &owner, &features);
	drv_check(ret == -ETIMEDOUT, "a reply trickled in too slowly is given up on (ret %d: %s)",
		  ret, err);
	drv_check(secs >= 0.29 && secs < 1.5,
		  "... when it is due, not one timeout per byte (%.2f s, due 0.30 s)", secs);

	/* A back-end that does not read: the socket's send buffer is full
	 * before the first request, so that request cannot go out. */
	int sv[2];
	struct vhost_dev *d;
	char junk[4096] = { 0 };

	if (drv_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socket pair")) {
		int fl = fcntl(sv[0], F_GETFL);

		fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
		while (send(sv[0], junk, sizeof(junk), MSG_NOSIGNAL) > 0)
			;
		fcntl(sv[0], F_SETFL, fl);
		alarm(10); /* a front-end blocked in sendmsg for good ends the test */
		double t0 = now();
		ret = vhost_dev_open_connected(&d, sv[0], "test", 300, err, sizeof(err));
		secs = now() - t0;
		alarm(0);
		drv_check(ret == -ETIMEDOUT && strstr(err, "not reading"),
			  "a back-end that does not read its socket is given up on (ret %d: %s)", ret,
			  err);
		drv_check(secs >= 0.29 && secs < 2.0, "... after the timeout (%.2f s, due 0.30 s)",
			  secs);
		close(sv[1]);
	}
	return drv_result();
}
