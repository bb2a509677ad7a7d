/*
 * sockpeer.c - the host end of a guest console served on a UNIX socket, for
 * tests/guest/console.sh:
 *
 *     sockpeer PATH EXPECT REPLY SECONDS
 *
 * Connects to the stream socket PATH as soon as it accepts (vdm creates it
 * at start), reads until the bytes EXPECT have gone by, writes REPLY and a
 * newline, then keeps reading until end of file (vdm exits) or until
 * SECONDS have passed since start.  A connection that ends before EXPECT is
 * made again.  The reply is sent each time EXPECT goes by (a guest that
 * repeats its line did not get the first reply).  Everything read is copied to standard output.  Exit status:
 * 0 when EXPECT was seen and REPLY written, 1 otherwise, 2 for bad usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int try_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path, *expect, *reply;
	long long deadline;
	size_t elen, have = 0;
	char *win, buf[4096];
	int fd = -1, replied = 0;

	if (argc != 5 || !*argv[2] || atoi(argv[4]) <= 0) {
		fprintf(stderr, "usage: sockpeer PATH EXPECT REPLY SECONDS\n");
		return 2;
	}
	path = argv[1];
	expect = argv[2];
	reply = argv[3];
	deadline = now_ms() + 1000LL * atoi(argv[4]);
	elen = strlen(expect);
	/* The last elen - 1 bytes seen plus one read: a match across reads is found. */
	win = malloc(elen + sizeof(buf));
	if (!win)
		return 1;

	while (now_ms() < deadline) {
		struct pollfd p;
		ssize_t r;

		if (fd < 0) {
			fd = try_connect(path);
			if (fd < 0) {
				usleep(50000);
				continue;
			}
			fprintf(stderr, "sockpeer: connected to %s\n", path);
		}
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0)
			continue;
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			fd = -1;
			if (replied)
				break; /* vdm is gone after the exchange: done */
			fprintf(stderr, "sockpeer: connection ended before the line; reconnecting\n");
			have = 0;
			continue;
		}
		fwrite(buf, 1, (size_t)r, stdout);
		fflush(stdout);
		memcpy(win + have, buf, (size_t)r);
		have += (size_t)r;
		if (memmem(win, have, expect, elen)) {
			char line[4096];

			snprintf(line, sizeof(line), "%s\n", reply);
			if (write_all(fd, line, strlen(line)) == 0) {
				replied++;
				fprintf(stderr, "sockpeer: saw the line, replied\n");
			}
			have = 0;
		} else if (have >= elen) {
			memmove(win, win + have - (elen - 1), elen - 1);
			have = elen - 1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(win);
	if (!replied)
		fprintf(stderr, "sockpeer: never saw '%s' on %s\n", expect, path);
	return replied ? 0 : 1;
}
