/*
 * test_virtio_console.c - virtio-console on the simulator.
 *
 * socket:PATH: the device enumerates as 1af4:1043 with both queues; bytes
 * go both ways between the test driver and a client of the socket; a second
 * client is closed while one is connected, and after the first leaves a new
 * one is served; output with no client is discarded and completes; input
 * waits in the socket while the guest has no receive buffers (vdm idle, not
 * spinning) and arrives once it posts some; with a client that does not
 * read, the guest's output fills vdm's buffer and the socket, the transmit
 * queue stops, vdm keeps serving config reads and a virtio-rnd device, and
 * once the client drains every byte arrives in order.  A buffer of the
 * wrong direction on either queue puts the device in DEVICE_NEEDS_RESET.
 *
 * pty: the slave's path is logged; bytes go both ways; with the slave closed
 * vdm does not spin, and a slave opened again is served.
 *
 * stdio (on a pseudo-terminal the test holds): the terminal is raw while vdm
 * runs and restored when it stops; VIRTIO_CONSOLE_F_SIZE reports the
 * terminal's size and a resize raises a config change.
 *
 * tty:PATH and acrn-dm's @tty:NAME=PATH (the slave of a pty the test holds
 * as the existing terminal): raw while vdm runs and restored when it
 * stops; bytes both ways, untranslated.
 *
 * file:PATH and acrn-dm's @file:NAME=PATH: the guest's output is appended
 * to the file byte for byte (an existing file keeps what it held; a
 * missing one is created).
 *
 * With transitional, the transitional IDs.  Then the start-up errors: no
 * back-end, an unknown one, socket, tty or file without a path, two
 * back-ends, a path that exists but is not a socket, a tty path that is
 * missing or not a terminal, a file path that cannot be written; and a
 * stale socket file replaced.
 */
#include "console_host.h"
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"
#include "rnd_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_console.h>

#define CON_SLOT 4
#define RND_SLOT 5
#define RXQ 0
#define TXQ 1
#define NRX 16
#define RXBUF 256
#define TXSLOTS 128
#define TXCHUNK 4096
#define CHARDEV_OUT_MAX (64 * 1024) /* vdm's output buffer (chardev.h) */

struct con {
	struct drv *d;
	struct drv_virtio v;
	uint64_t rx_gpa[DRV_VQ_MAX_SIZE]; /* receive buffer of each posted head */
	uint64_t tx_area;                 /* TXSLOTS buffers of TXCHUNK bytes */
};

/* CPU time vdm used over ms milliseconds, in milliseconds. */
static long cpu_used_ms(pid_t pid, int ms)
{
	long ticks[2];

	for (int i = 0; i < 2; i++) {
		char path[64], buf[1024];
		unsigned long ut = 0, st = 0;
		FILE *f;

		if (i)
			usleep((useconds_t)ms * 1000);
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		f = fopen(path, "r");
		if (!f || !fgets(buf, sizeof(buf), f)) {
			if (f)
				fclose(f);
			return -1;
		}
		fclose(f);
		/* Fields after the command name: state is field 3, utime 14, stime 15. */
		char *p = strrchr(buf, ')');
		if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
				 &st) != 2)
			return -1;
		ticks[i] = (long)(ut + st);
	}
	return (ticks[1] - ticks[0]) * 1000 / sysconf(_SC_CLK_TCK);
}

/* ---- host side: a client of the console socket ---- */

/* True when fd reaches end of file (or a reset) within timeout_ms without
 * having received any byte. */
static bool closed_quietly(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	ssize_t r = read(fd, &c, 1);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* ---- guest side ---- */

static struct drv_func *find(struct drv_func *funcs, int n, int slot)
{
	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, (unsigned)slot, 0))
			return &funcs[i];
	return NULL;
}

static void post_rx(struct con *c, uint64_t gpa)
{
	struct drv_buf in = { gpa, RXBUF };
	int head = drv_virtio_post(&c->v, RXQ, NULL, 0, &in, 1, false);

	if (head >= 0)
		c->rx_gpa[head] = gpa;
}

static void stock_rx(struct con *c)
{
	uint64_t base = drv_virtio_alloc(&c->v, (uint64_t)NRX * RXBUF, 64);

	for (int i = 0; i < NRX; i++)
		post_rx(c, base + (uint64_t)i * RXBUF);
	drv_virtio_kick(&c->v, RXQ);
}

/* Negotiate, set up both queues and the receive buffers (if stock). */
static bool con_up(struct con *c, struct drv_func *f, uint64_t features, bool stock)
{
	if (!c->v.d && drv_virtio_probe(&c->v, c->d, f, 16 << 20))
		return false;
	if (drv_virtio_negotiate(&c->v, features) || drv_virtio_setup_irq(&c->v, true) ||
	    drv_virtio_setup_vq(&c->v, RXQ, 0) || drv_virtio_setup_vq(&c->v, TXQ, 0))
		return false;
	drv_virtio_driver_ok(&c->v);
	if (!c->tx_area)
		c->tx_area = drv_virtio_alloc(&c->v, (uint64_t)TXSLOTS * TXCHUNK, 4096);
	if (stock)
		stock_rx(c);
	return true;
}

/* Collect want bytes from the receive queue within timeout_ms, reposting
 * each buffer; returns the bytes collected (into out). */
static size_t guest_recv(struct con *c, char *out, size_t want, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	size_t got = 0;

	while (got < want && now_ms() < end) {
		uint16_t id;
		uint32_t len;

		if (drv_virtio_wait_used(&c->v, RXQ, &id, &len, 50) != 1)
			continue;
		if (len > RXBUF)
			break;
		if (got + len <= want)
			memcpy(out + got, drv_gpa(c->d, c->rx_gpa[id], len), len);
		got += len;
		post_rx(c, c->rx_gpa[id]);
		drv_virtio_kick(&c->v, RXQ);
	}
	return got;
}

/* Transmit len bytes in one buffer; true when the device used it. */
static bool guest_send(struct con *c, const char *data, size_t len)
{
	struct drv_buf out = { c->tx_area, (uint32_t)len };
	uint16_t id;
	uint32_t used;

	memcpy(drv_gpa(c->d, c->tx_area, len), data, len);
	if (drv_virtio_post(&c->v, TXQ, &out, 1, NULL, 0, false) < 0)
		return false;
	drv_virtio_kick(&c->v, TXQ);
	return drv_virtio_wait_used(&c->v, TXQ, &id, &used, 5000) == 1 && used == 0;
}

/* host -> guest through client fd: the guest receives exactly msg. */
static bool host_to_guest(struct con *c, int fd, const char *msg)
{
	char got[512] = "";
	size_t len = strlen(msg);

	if (write(fd, msg, len) != (ssize_t)len)
		return false;
	return guest_recv(c, got, len, 5000) == len && !memcmp(got, msg, len);
}

/* guest -> host: the client reads exactly msg. */
static bool guest_to_host(struct con *c, int fd, const char *msg)
{
	char got[512];
	size_t len = strlen(msg);

	return guest_send(c, msg, len) && read_for(fd, got, len, 5000) == (ssize_t)len &&
	       !memcmp(got, msg, len);
}

/* Wait for DEVICE_NEEDS_RESET in the status. */
static bool needs_reset(struct con *c)
{
	for (int i = 0; i < 200; i++) {
		if (drv_virtio_status(&c->v) & VIRTIO_CONFIG_S_NEEDS_RESET)
			return true;
		usleep(10000);
	}
	return false;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off % 251);
}

/* The guest side of a long transmit: TXSLOTS buffers of TXCHUNK bytes
 * reused as the device uses them, filled with pattern() by stream offset. */
struct txstream {
	struct con *c;
	uint64_t total, posted, done;
	int16_t slot_of[DRV_VQ_MAX_SIZE]; /* head -> slot */
	uint32_t len_of[TXSLOTS];
	bool busy[TXSLOTS];
};

/* Post what free slots allow and kick if the device wants it. */
static void tx_fill(struct txstream *t)
{
	bool posted = false;

	for (int s = 0; s < TXSLOTS && t->posted < t->total; s++) {
		if (t->busy[s])
			continue;
		uint64_t gpa = t->c->tx_area + (uint64_t)s * TXCHUNK;
		uint64_t left = t->total - t->posted;
		uint32_t n = left < TXCHUNK ? (uint32_t)left : TXCHUNK;
		uint8_t *p = drv_gpa(t->c->d, gpa, n);
		struct drv_buf out = { gpa, n };

		for (uint32_t i = 0; i < n; i++)
			p[i] = pattern(t->posted + i);
		int head = drv_virtio_post(&t->c->v, TXQ, &out, 1, NULL, 0, false);
		if (head < 0)
			break;
		t->slot_of[head] = (int16_t)s;
		t->busy[s] = true;
		t->len_of[s] = n;
		t->posted += n;
		posted = true;
	}
	if (posted && drv_virtio_kick_needed(&t->c->v, TXQ))
		drv_virtio_kick(&t->c->v, TXQ);
}

/* Take used entries; returns true when any came back. */
static bool tx_reap(struct txstream *t, int wait_ms)
{
	uint16_t id;
	uint32_t len;
	bool any = false;

	while ((any ? drv_virtio_get_used(&t->c->v, TXQ, &id, &len)
		    : drv_virtio_wait_used(&t->c->v, TXQ, &id, &len, wait_ms)) == 1) {
		int s = t->slot_of[id];

		t->busy[s] = false;
		t->done += t->len_of[s];
		any = true;
	}
	return any;
}

/*
 * Backpressure: the client is connected but does not read.  The guest
 * pushes more than vdm's buffer and the socket hold; the transmit queue
 * must stall with part of it taken, vdm must stay responsive and idle, and
 * once the client drains, everything arrives in order.
 */
static void backpressure(struct con *c, int fd, struct drv_virtio *rnd, pid_t pid)
{
	static struct txstream t;
	static uint8_t buf[65536];
	uint64_t received = 0, last_progress = now_ms(), end;
	bool in_order = true;

	memset(&t, 0, sizeof(t));
	t.c = c;
	t.total = 4u << 20;
	/* Push until the queue stops moving for 500 ms. */
	while (t.done < t.total && now_ms() - last_progress < 500) {
		tx_fill(&t);
		if (tx_reap(&t, 20))
			last_progress = now_ms();
	}
	drv_check(t.done < t.total && t.done >= CHARDEV_OUT_MAX,
		  "backpressure: a client that does not read stalls the transmit queue "
		  "(%llu of %llu bytes taken)",
		  (unsigned long long)t.done, (unsigned long long)t.total);
	long cpu = cpu_used_ms(pid, 500);
	drv_check(cpu >= 0 && cpu < 100,
		  "backpressure: vdm is idle while stalled (%ld ms CPU in 500 ms)", cpu);
	uint64_t rgpa = drv_virtio_alloc(rnd, 64, 64);
	drv_check(rnd_read(rnd, rgpa, 64) == 64,
		  "backpressure: virtio-rnd in another slot still completes");
	drv_check(drv_virtio_cfg_read(&c->v, 0, 4) == 0 &&
			  drv_virtio_common_read(&c->v, VIRTIO_PCI_COMMON_NUMQ, 2) == 2,
		  "backpressure: the console still answers config reads");

	/* Drain: read everything while the guest keeps pushing the rest. */
	end = now_ms() + 60000;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while ((received < t.total || t.done < t.total) && now_ms() < end) {
		ssize_t r = read(fd, buf, sizeof(buf));

		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(received + (uint64_t)i))
				in_order = false;
		if (r > 0)
			received += (uint64_t)r;
		tx_reap(&t, r > 0 ? 0 : 2);
		tx_fill(&t);
	}
	fcntl(fd, F_SETFL, 0);
	drv_check(received == t.total && in_order,
		  "backpressure: after the client drains, all %llu bytes arrive in order "
		  "(got %llu%s)",
		  (unsigned long long)t.total, (unsigned long long)received,
		  in_order ? "" : ", out of order");
	drv_check(t.done == t.total, "backpressure: every transmit buffer was used");
}

static void socket_backend(void)
{
	char dir[] = "/tmp/vdm-con-XXXXXX", path[128], spec[160];
	struct drv_func funcs[8], *cf, *rf;
	struct drv_virtio rnd = { 0 };
	struct con c = { 0 };
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	struct vdm_proc p;
	struct drv d;
	int st, n, fd1 = -1, fd2 = -1, fd3 = -1;

	if (!mkdtemp(dir))
		return;
	/* A path holding '=' is still vdm's socket:PATH, not acrn-dm's NAME=PATH. */
	snprintf(path, sizeof(path), "%s/con=1.sock", dir);
	snprintf(spec, sizeof(spec), "%d,virtio-console,socket:%s", CON_SLOT, path);
	if (vdm_spawn(&p, (const char *const[]){ "-s", spec, "-s", "5,virtio-rnd", NULL }, &st)) {
		drv_check(false, "socket: vdm starts (exit %d)", st);
		rmdir(dir);
		return;
	}
	drv_connect(&d, p.sock);
	c.d = &d;
	n = drv_enumerate(&d, funcs, 8);
	cf = find(funcs, n, CON_SLOT);
	rf = find(funcs, n, RND_SLOT);
	if (!drv_check(cf && rf, "socket: both functions enumerate"))
		goto out;
	drv_check(cf->vendor == 0x1af4 && cf->device == 0x1043 && cf->revision == 1,
		  "socket: IDs 1af4:1043 rev 1 (got %04x:%04x rev %d)", cf->vendor, cf->device,
		  cf->revision);
	drv_check(cf->class_code == 0x078000, "socket: class 07/80 (got %06x)", cf->class_code);
	drv_assign_bars(&d, cf, &mmio, &io);
	drv_assign_bars(&d, rf, &mmio, &io);
	if (!drv_check(drv_virtio_probe(&c.v, &d, cf, 16 << 20) == 0, "socket: probe"))
		goto out;
	uint64_t offered = drv_virtio_device_features(&c.v);
	drv_check(!(offered & (1ULL << VIRTIO_CONSOLE_F_SIZE)) &&
			  !(offered & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT)),
		  "socket: neither F_SIZE nor MULTIPORT offered (%#llx)", (unsigned long long)offered);
	if (!drv_check(con_up(&c, cf, (1ULL << VIRTIO_F_VERSION_1) |
					      (1ULL << VIRTIO_RING_F_EVENT_IDX), true),
		       "socket: negotiated, both queues set up"))
		goto out;
	drv_check(drv_virtio_common_read(&c.v, VIRTIO_PCI_COMMON_NUMQ, 2) == 2, "socket: 2 queues");
	if (!drv_check(drv_virtio_probe(&rnd, &d, rf, 128 << 20) == 0 &&
			       drv_virtio_negotiate(&rnd, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
			       drv_virtio_setup_irq(&rnd, true) == 0 &&
			       drv_virtio_setup_vq(&rnd, 0, 0) == 0,
		       "socket: virtio-rnd set up"))
		goto out;
	drv_virtio_driver_ok(&rnd);

	/* Output with nobody connected is discarded, and completes. */
	drv_check(guest_send(&c, "nobody hears this\n", 18),
		  "socket: output with no client completes (discarded)");

	fd1 = sock_connect(path);
	if (!drv_check(fd1 >= 0, "socket: client connects"))
		goto out;
	drv_check(host_to_guest(&c, fd1, "hello-from-host\n"),
		  "socket: host -> guest: the guest gets the client's bytes");
	drv_check(guest_to_host(&c, fd1, "VDM-CONSOLE-OUT hello-from-guest\n"),
		  "socket: guest -> host: the client reads exactly the guest's line");

	fd2 = sock_connect(path);
	drv_check(fd2 >= 0 && closed_quietly(fd2, 3000),
		  "socket: a second client is closed while one is connected");
	drv_check(guest_to_host(&c, fd1, "still-first\n") && host_to_guest(&c, fd1, "first-again\n"),
		  "socket: the first client is still served");

	/* Input while the guest has no buffers: it waits, vdm idles. */
	drv_virtio_set_status(&c.v, 0);
	if (!drv_check(con_up(&c, cf, 1ULL << VIRTIO_F_VERSION_1, false),
		       "socket: device set up again without receive buffers"))
		goto out;
	drv_check(write(fd1, "waited\n", 7) == 7, "socket: client writes with no guest buffers");
	long cpu = cpu_used_ms(p.pid, 500);
	drv_check(cpu >= 0 && cpu < 100,
		  "socket: vdm is idle while input waits for buffers (%ld ms CPU in 500 ms)", cpu);
	stock_rx(&c);
	char got[64] = "";
	drv_check(guest_recv(&c, got, 7, 5000) == 7 && !memcmp(got, "waited\n", 7),
		  "socket: the waiting input arrives once the guest posts buffers");

	/* The first client leaves: the next one is served. */
	close(fd1);
	fd1 = -1;
	usleep(100000);
	drv_check(guest_send(&c, "into the void\n", 14),
		  "socket: output after the client left completes (discarded)");
	fd3 = sock_connect(path);
	if (!drv_check(fd3 >= 0, "socket: a new client connects after the first left"))
		goto out;
	drv_check(host_to_guest(&c, fd3, "third-client\n"), "socket: new client: host -> guest");
	drv_check(guest_to_host(&c, fd3, "to-the-third\n"),
		  "socket: new client: guest -> host, with nothing stale before it");

	backpressure(&c, fd3, &rnd, p.pid);

	/* A device-readable buffer on the receive queue (first in the ring:
	 * receive chains are looked at when the device takes them). */
	struct drv_buf bad = { c.tx_area, 16 };
	drv_virtio_set_status(&c.v, 0);
	if (drv_check(con_up(&c, cf, 1ULL << VIRTIO_F_VERSION_1, false), "socket: reset, set up")) {
		drv_virtio_post(&c.v, RXQ, &bad, 1, NULL, 0, false);
		drv_virtio_kick(&c.v, RXQ);
		drv_check(needs_reset(&c), "socket: a readable buffer on receiveq needs a reset");
	}
	/* A device-writable buffer on the transmit queue. */
	drv_virtio_set_status(&c.v, 0);
	if (drv_check(con_up(&c, cf, 1ULL << VIRTIO_F_VERSION_1, true), "socket: reset, set up")) {
		drv_virtio_post(&c.v, TXQ, NULL, 0, &bad, 1, false);
		drv_virtio_kick(&c.v, TXQ);
		drv_check(needs_reset(&c), "socket: a writable buffer on transmitq needs a reset");
	}
	drv_virtio_set_status(&c.v, 0);
	drv_check(con_up(&c, cf, 1ULL << VIRTIO_F_VERSION_1, true) &&
			  guest_to_host(&c, fd3, "after-reset\n"),
		  "socket: the device works again after a reset");
out:
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
	if (fd3 >= 0)
		close(fd3);
	drv_virtio_fini(&c.v);
	drv_virtio_fini(&rnd);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "socket: vdm stops cleanly (%d)", st);
	struct stat sb;
	drv_check(lstat(path, &sb) < 0, "socket: the socket file is removed at exit");
	unlink(path);
	rmdir(dir);
}

/* Find "guest console on PATH" in vdm's log. */
static bool pty_path(const char *log, char *out, size_t len)
{
	for (int i = 0; i < 200; i++) {
		char line[512];
		FILE *f = fopen(log, "r");

		while (f && fgets(line, sizeof(line), f)) {
			char *s = strstr(line, "guest console on ");

			if (s) {
				snprintf(out, len, "%s", s + 17);
				out[strcspn(out, "\n")] = '\0';
				fclose(f);
				return true;
			}
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	return false;
}

static void pty_backend(void)
{
	char dir[] = "/tmp/vdm-con-XXXXXX", log[128], pts[128];
	struct drv_func funcs[8], *cf;
	struct con c = { 0 };
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	struct vdm_proc p;
	struct drv d;
	int st, n, s = -1;

	if (!mkdtemp(dir))
		return;
	snprintf(log, sizeof(log), "%s/vdm.log", dir);
	if (vdm_spawn(&p, (const char *const[]){ "--log-file", log, "-s", "4,virtio-console,pty",
						 NULL },
		      &st)) {
		drv_check(false, "pty: vdm starts (exit %d)", st);
		rmdir(dir);
		return;
	}
	if (!drv_check(pty_path(log, pts, sizeof(pts)) && !strncmp(pts, "/dev/pts/", 9),
		       "pty: vdm logs 'guest console on /dev/pts/N' (%s)", pts)) {
		vdm_stop(&p);
		goto out_dir;
	}
	drv_connect(&d, p.sock);
	c.d = &d;
	n = drv_enumerate(&d, funcs, 8);
	cf = find(funcs, n, CON_SLOT);
	if (!drv_check(cf != NULL, "pty: function enumerates"))
		goto out;
	drv_assign_bars(&d, cf, &mmio, &io);
	if (!drv_check(con_up(&c, cf, 1ULL << VIRTIO_F_VERSION_1, true), "pty: device set up"))
		goto out;
	/* Output before anyone opened the slave is discarded, not stored. */
	drv_check(guest_send(&c, "before-open\n", 12), "pty: output with no reader completes");
	s = open(pts, O_RDWR | O_NOCTTY);
	if (!drv_check(s >= 0, "pty: slave opens"))
		goto out;
	usleep(400000); /* vdm looks for a reader every 200 ms */
	drv_check(guest_to_host(&c, s, "VDM-CONSOLE-OUT pty\n"),
		  "pty: guest -> host through the slave, exactly and raw");
	drv_check(host_to_guest(&c, s, "typed\r"), "pty: host -> guest through the slave, raw");
	close(s);
	s = -1;
	usleep(300000);
	long cpu = cpu_used_ms(p.pid, 500);
	drv_check(cpu >= 0 && cpu < 100, "pty: vdm is idle with the slave closed (%ld ms CPU)", cpu);
	drv_check(guest_send(&c, "nobody\n", 7), "pty: output with the slave closed completes");
	s = open(pts, O_RDWR | O_NOCTTY);
	usleep(400000);
	drv_check(s >= 0 && guest_to_host(&c, s, "again\n") && host_to_guest(&c, s, "back\r"),
		  "pty: a slave opened again is served both ways");
out:
	if (s >= 0)
		close(s);
	drv_virtio_fini(&c.v);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "pty: vdm stops cleanly (%d)", st);
out_dir:
	unlink(log);
	rmdir(dir);
}

static void stdio_backend(void)
{
	char dir[] = "/tmp/vdm-con-XXXXXX", log[128];
	struct drv_func funcs[8], *cf;
	struct winsize ws = { .ws_row = 33, .ws_col = 111 };
	struct termios before, during, after;
	struct con c = { 0 };
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	struct vdm_proc p;
	struct drv d;
	int st, n, m, s, saved_in, saved_out, spawned;

	if (!mkdtemp(dir))
		return;
	snprintf(log, sizeof(log), "%s/vdm.log", dir);
	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || ioctl(m, TIOCSWINSZ, &ws) ||
	    (s = open(ptsname(m), O_RDWR | O_NOCTTY)) < 0) {
		drv_check(false, "stdio: a pty for vdm's standard input and output");
		return;
	}
	tcgetattr(s, &before);
	/* vdm inherits the pty as its standard input and output. */
	fflush(stdout);
	saved_in = dup(STDIN_FILENO);
	saved_out = dup(STDOUT_FILENO);
	dup2(s, STDIN_FILENO);
	dup2(s, STDOUT_FILENO);
	spawned = vdm_spawn(&p, (const char *const[]){ "--log-file", log, "-s",
						       "4,virtio-console,stdio", NULL },
			    &st);
	dup2(saved_in, STDIN_FILENO);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_in);
	close(saved_out);
	if (spawned) {
		drv_check(false, "stdio: vdm starts (exit %d)", st);
		goto out_pty;
	}
	drv_connect(&d, p.sock);
	c.d = &d;
	/* Enumeration is answered by the loop, so the devices exist by now. */
	n = drv_enumerate(&d, funcs, 8);
	tcgetattr(s, &during);
	drv_check((before.c_lflag & (ICANON | ECHO)) == (ICANON | ECHO) &&
			  !(during.c_lflag & (ICANON | ECHO)) && (during.c_lflag & ISIG),
		  "stdio: the terminal is raw while vdm runs (signals kept)");
	cf = find(funcs, n, CON_SLOT);
	if (!drv_check(cf != NULL, "stdio: function enumerates"))
		goto out;
	drv_assign_bars(&d, cf, &mmio, &io);
	if (!drv_check(drv_virtio_probe(&c.v, &d, cf, 16 << 20) == 0, "stdio: probe"))
		goto out;
	drv_check(drv_virtio_device_features(&c.v) & (1ULL << VIRTIO_CONSOLE_F_SIZE),
		  "stdio: F_SIZE offered on a terminal");
	if (!drv_check(con_up(&c, cf, (1ULL << VIRTIO_F_VERSION_1) |
					      (1ULL << VIRTIO_CONSOLE_F_SIZE), true),
		       "stdio: device set up with F_SIZE"))
		goto out;
	drv_check(drv_virtio_cfg_read(&c.v, 0, 2) == 111 && drv_virtio_cfg_read(&c.v, 2, 2) == 33,
		  "stdio: cols/rows are the terminal's (111x33)");
	drv_check(guest_to_host(&c, m, "VDM-CONSOLE-OUT stdio\n"),
		  "stdio: guest -> host on standard output");
	drv_check(host_to_guest(&c, m, "keys\r"), "stdio: host -> guest from standard input");
	drv_virtio_clear_stats(&c.v);
	ws.ws_col = 100;
	ws.ws_row = 40;
	ioctl(m, TIOCSWINSZ, &ws);
	for (int i = 0; i < 200 && !c.v.config_irq_count; i++)
		drv_virtio_wait_irq(&c.v, 10);
	drv_check(c.v.config_irq_count > 0 && drv_virtio_cfg_read(&c.v, 0, 2) == 100 &&
			  drv_virtio_cfg_read(&c.v, 2, 2) == 40,
		  "stdio: a resize raises a config change with the new size (100x40)");
out:
	drv_virtio_fini(&c.v);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "stdio: vdm stops cleanly (%d)", st);
	tcgetattr(s, &after);
	drv_check(after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag &&
			  after.c_oflag == before.c_oflag,
		  "stdio: the terminal is restored when vdm stops");
out_pty:
	close(s);
	close(m);
	unlink(log);
	rmdir(dir);
}

/*
 * tty: an existing terminal, here the slave of a pty the test holds (the
 * test is the far end, on the master).  fmt is the -s spec with %s for the
 * slave's path, in acrn-dm's or vdm's spelling.
 */
static void tty_backend(const char *fmt, const char *what)
{
	char spec[256];
	struct drv_func funcs[8], *cf;
	struct termios before, during, after;
	struct con c = { 0 };
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	struct vdm_proc p;
	struct drv d;
	int st, n, m, s;

	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || (s = open(ptsname(m), O_RDWR | O_NOCTTY)) < 0) {
		drv_check(false, "%s: a pty pair for the terminal", what);
		if (m >= 0)
			close(m);
		return;
	}
	tcgetattr(s, &before);
	snprintf(spec, sizeof(spec), fmt, ptsname(m));
	if (vdm_spawn(&p, (const char *const[]){ "-s", spec, NULL }, &st)) {
		drv_check(false, "%s: vdm starts with -s %s (exit %d)", what, spec, st);
		goto out_pty;
	}
	drv_connect(&d, p.sock);
	c.d = &d;
	n = drv_enumerate(&d, funcs, 8);
	tcgetattr(s, &during);
	drv_check((before.c_lflag & (ICANON | ECHO | ISIG)) == (ICANON | ECHO | ISIG) &&
			  !(during.c_lflag & (ICANON | ECHO | ISIG)) && !(during.c_oflag & OPOST),
		  "%s: the terminal is raw while vdm runs (no echo, no signals)", what);
	cf = find(funcs, n, CON_SLOT);
	if (!drv_check(cf != NULL, "%s: function enumerates", what))
		goto out;
	drv_assign_bars(&d, cf, &mmio, &io);
	if (!drv_check(con_up(&c, cf, 1ULL << VIRTIO_F_VERSION_1, true), "%s: device set up", what))
		goto out;
	drv_check(guest_to_host(&c, m, "VDM-CONSOLE-OUT tty\n\r\n"),
		  "%s: guest -> host through the terminal, exactly (no CR/NL translation)", what);
	drv_check(host_to_guest(&c, m, "typed\x03\r"),
		  "%s: host -> guest through the terminal, raw (^C and CR are bytes)", what);
	drv_check(guest_to_host(&c, m, "second line\n") && host_to_guest(&c, m, "more\n"),
		  "%s: both ways again", what);
out:
	drv_virtio_fini(&c.v);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "%s: vdm stops cleanly (%d)", what, st);
	tcgetattr(s, &after);
	drv_check(after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag &&
			  after.c_oflag == before.c_oflag,
		  "%s: the terminal's settings are restored when vdm stops", what);
out_pty:
	close(s);
	close(m);
}

/*
 * file: the guest's output is appended to the file byte for byte (what it
 * held is kept; a missing file is created).  fmt is the -s spec with %s
 * for the file's path.
 */
static void file_backend(const char *fmt, const char *what, bool existing)
{
	static const char old[] = "kept from before\n";
	static const char out1[] = "VDM-CONSOLE-OUT file\r\n";
	static const char out2[] = "\0\x01\xff binary\x03\n"; /* sizeof - 1 bytes */
	char dir[] = "/tmp/vdm-con-XXXXXX", path[128], spec[256], want[256], got[512];
	struct drv_func funcs[8], *cf;
	struct con c = { 0 };
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	struct vdm_proc p;
	struct drv d;
	size_t wlen = 0;
	ssize_t glen = -1;
	int st, n, fd;

	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/console.log", dir);
	if (existing) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, old, sizeof(old) - 1) != (ssize_t)sizeof(old) - 1) {
			drv_check(false, "%s: an existing file", what);
			goto out_dir;
		}
		close(fd);
		memcpy(want, old, sizeof(old) - 1);
		wlen = sizeof(old) - 1;
	}
	snprintf(spec, sizeof(spec), fmt, path);
	if (vdm_spawn(&p, (const char *const[]){ "-s", spec, NULL }, &st)) {
		drv_check(false, "%s: vdm starts with -s %s (exit %d)", what, spec, st);
		goto out_file;
	}
	drv_connect(&d, p.sock);
	c.d = &d;
	n = drv_enumerate(&d, funcs, 8);
	cf = find(funcs, n, CON_SLOT);
	if (!drv_check(cf != NULL, "%s: function enumerates", what))
		goto out;
	drv_assign_bars(&d, cf, &mmio, &io);
	if (!drv_check(con_up(&c, cf, 1ULL << VIRTIO_F_VERSION_1, true), "%s: device set up", what))
		goto out;
	drv_check(guest_send(&c, out1, sizeof(out1) - 1) && guest_send(&c, out2, sizeof(out2) - 1),
		  "%s: the guest's output completes", what);
	memcpy(want + wlen, out1, sizeof(out1) - 1);
	wlen += sizeof(out1) - 1;
	memcpy(want + wlen, out2, sizeof(out2) - 1);
	wlen += sizeof(out2) - 1;
	/* A used transmit buffer was written to the file already (a regular
	 * file takes every write at once). */
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		glen = read(fd, got, sizeof(got));
		close(fd);
	}
	drv_check(glen == (ssize_t)wlen && !memcmp(got, want, wlen),
		  "%s: the file holds %sthe guest's bytes exactly (%zd of %zu bytes)", what,
		  existing ? "what it held, then " : "", glen, wlen);
out:
	drv_virtio_fini(&c.v);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "%s: vdm stops cleanly (%d)", what, st);
out_file:
	unlink(path);
out_dir:
	rmdir(dir);
}

static void errors(void)
{
	char dir[] = "/tmp/vdm-con-XXXXXX", hsm[128], file[128], spec[200], nottty[200], out[512];
	struct {
		const char *opts;
		int status;
		const char *msg;
	} cases[] = {
		{ "4,virtio-console", 2, "needs a back-end" },
		{ "4,virtio-console,serial", 2, "unknown back-end 'serial'" },
		{ "4,virtio-console,socket", 2, "socket needs a path" },
		{ "4,virtio-console,socket:", 2, "socket needs a path" },
		{ "4,virtio-console,pty,stdio", 2, "unknown virtio-console option 'stdio'" },
		{ spec, 1, "exists and is not a socket" },
		{ "4,virtio-console,tty", 2, "tty needs a path" },
		{ "4,virtio-console,file:", 2, "file needs a path" },
		{ "4,virtio-console,@tty:con", 2, "expected @tty:NAME=PATH" },
		{ "4,virtio-console,@file:con=", 2, "expected @file:NAME=PATH" },
		{ "4,virtio-console,tty:/nonexistent/ttyX", 1,
		  "tty: cannot open /nonexistent/ttyX: No such file or directory" },
		{ "4,virtio-console,@tty:con=/dev/null", 1, "tty: /dev/null is not a terminal" },
		{ nottty, 1, "is not a terminal" },
		{ "4,virtio-console,file:/nonexistent/dir/log", 1,
		  "file: cannot open /nonexistent/dir/log for writing" },
		{ "4,virtio-console,@file:con=/tmp", 1,
		  "file: cannot open /tmp for writing: Is a directory" },
	};
	int fd;

	if (!mkdtemp(dir))
		return;
	snprintf(hsm, sizeof(hsm), "sim:%s/sim.sock", dir);
	snprintf(file, sizeof(file), "%s/plain", dir);
	snprintf(spec, sizeof(spec), "4,virtio-console,socket:%s", file);
	snprintf(nottty, sizeof(nottty), "4,virtio-console,tty:%s", file);
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = vdm_run((const char *const[]){ "--hsm", hsm, "-s", cases[i].opts, NULL },
				 out, sizeof(out));
		int lines = 0;

		/* Log lines at info level aside, one line of error. */
		for (char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			lines += strncmp(p, "vdm: info:", 10) != 0;
		drv_check(st == cases[i].status && strstr(out, cases[i].msg) && lines == 1,
			  "error: -s %s exits %d with one line naming the problem (%d: %s)",
			  cases[i].opts, cases[i].status, st, out);
	}
	struct stat sb;
	drv_check(stat(file, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0,
		  "error: the file was left alone");
	unlink(file);
	unlink(hsm + 4);

	/* A stale socket file (nobody listening) is replaced. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vdm_proc p;
	int st, s = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale.sock", dir);
	bind(s, (struct sockaddr *)&sa, sizeof(sa));
	close(s);
	snprintf(spec, sizeof(spec), "4,virtio-console,socket:%s", sa.sun_path);
	if (vdm_spawn(&p, (const char *const[]){ "-s", spec, NULL }, &st) == 0) {
		int c = -1;

		/* vdm's simulator socket accepts before the devices are made. */
		for (int i = 0; i < 500 && c < 0; i++) {
			c = sock_connect(sa.sun_path);
			if (c < 0)
				usleep(10000);
		}

		drv_check(c >= 0, "error: a stale socket file is replaced and vdm listens there");
		if (c >= 0)
			close(c);
		drv_check(vdm_stop(&p) == 0, "error: vdm stops cleanly");
	} else {
		drv_check(false, "error: vdm starts over a stale socket file (exit %d)", st);
	}
	unlink(sa.sun_path);
	rmdir(dir);
}

/* With transitional: the transitional ID, subsystem = device type, I/O BAR. */
static void transitional(void)
{
	struct drv_func funcs[8], *f;
	struct vdm_proc p;
	struct drv d;
	int st, n;

	if (vdm_spawn(&p, (const char *const[]){ "-s", "4,virtio-console,pty,transitional", NULL },
		      &st)) {
		drv_check(false, "transitional: vdm starts (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	n = drv_enumerate(&d, funcs, 8);
	f = find(funcs, n, CON_SLOT);
	drv_check(f && f->device == 0x1003 && f->revision == 0 && f->subsys_id == 3 &&
			  f->bars[0].type == DRV_BAR_IO,
		  "transitional: 1af4:1003 rev 0, subsystem 3, legacy I/O BAR0");
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "transitional: vdm stops cleanly (%d)", st);
}

int main(void)
{
	socket_backend();
	pty_backend();
	stdio_backend();
	tty_backend("4,virtio-console,@tty:vcon=%s", "@tty");
	tty_backend("4,virtio-console,tty:%s", "tty");
	file_backend("4,virtio-console,@file:vcon=%s", "@file", true);
	file_backend("4,virtio-console,file:%s", "file", false);
	transitional();
	errors();
	return drv_result();
}
