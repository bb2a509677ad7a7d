/*
 * sockpeer.c - the host end of a guest console served on a UNIX socket, for
 * tests/guest/console.sh and tests/guest/console_multiport.sh:
 *
 *     sockpeer [-l|-t] PATH EXPECT REPLY SECONDS
 *
 * Connects to the stream socket PATH as soon as it accepts (vdm creates it
 * at start); with -l listens on PATH instead (creating it first) and takes
 * the first client (vdm's socket:NAME=PATH:client port); with -t opens the
 * terminal PATH raw (the slave of a pty vdm made).  Then it reads until the bytes EXPECT have gone by, writes REPLY and a
 * newline, then keeps reading until end of file (vdm exits) or until
 * SECONDS have passed since start.  A connection that ends before EXPECT is
 * made again (with -t, opened again).  The reply is sent each time EXPECT goes by (a guest that
 * repeats its line did not get the first reply).  Everything read is copied to standard output.  Exit status:
 * 0 when EXPECT was seen and REPLY written, 1 otherwise, 2 for bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
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

/* Listen on path (a stale file replaced); -1 when it cannot. */
static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The terminal at path, raw: bytes go through untranslated, no echo. */
static int open_raw(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;

	if (fd >= 0 && tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len); /* SIGPIPE is ignored in main */

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
	int fd = -1, lfd = -1, replied = 0;
	char mode = 'c';

	if (argc == 6 && (!strcmp(argv[1], "-l") || !strcmp(argv[1], "-t"))) {
		mode = argv[1][1];
		argv++;
		argc--;
	}
	if (argc != 5 || !*argv[2] || atoi(argv[4]) <= 0) {
		fprintf(stderr, "usage: sockpeer [-l|-t] PATH EXPECT REPLY SECONDS\n");
		return 2;
	}
	path = argv[1];
	expect = argv[2];
	reply = argv[3];
	deadline = now_ms() + 1000LL * atoi(argv[4]);
	signal(SIGPIPE, SIG_IGN); /* a peer gone shows as a failed write */
	if (mode == 'l' && (lfd = listen_on(path)) < 0) {
		fprintf(stderr, "sockpeer: cannot listen on %s: %s\n", path, strerror(errno));
		return 1;
	}
	elen = strlen(expect);
	/* The last elen - 1 bytes seen plus one read: a match across reads is found. */
	win = malloc(elen + sizeof(buf));
	if (!win)
		return 1;

	while (now_ms() < deadline) {
		struct pollfd p;
		ssize_t r;

		if (fd < 0) {
			if (mode == 'l') {
				struct pollfd lp = { .fd = lfd, .events = POLLIN };

				fd = poll(&lp, 1, 50) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC)
							   : -1;
			} else {
				fd = mode == 't' ? open_raw(path) : try_connect(path);
			}
			if (fd < 0) {
				if (mode != 'l')
					usleep(50000);
				continue;
			}
			fprintf(stderr, "sockpeer: %s %s\n",
				mode == 'l' ? "accepted on" : mode == 't' ? "opened" : "connected to",
				path);
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
	if (lfd >= 0) {
		close(lfd);
		unlink(path);
	}
	free(win);
	if (!replied)
		fprintf(stderr, "sockpeer: never saw '%s' on %s\n", expect, path);
	return replied ? 0 : 1;
}
