/*
 * test_console_multiport.c - virtio-console with acrn-dm's MULTIPORT ports,
 * on the simulator, the test driver speaking the control queues as Linux's
 * driver does.
 *
 * Three ports: "@socket:con0=PATH" (the console), "socket:p1=PATH:server"
 * and "socket:p2=PATH:client" (vdm connects to a socket the test listens
 * on).  The device offers MULTIPORT with max_nr_ports 3 and 8 queues; after
 * DEVICE_READY it announces each port with PORT_ADD and PORT_NAME (the names
 * given); after PORT_READY it marks con0 alone a console and opens every
 * port; bytes go both ways on each port and arrive only on that port.
 *
 * Hostile control messages: an unknown event, a port id out of range, a
 * repeated DEVICE_READY and PORT_READY are ignored (the device keeps
 * running, answers nothing more, and data still flows); a message shorter
 * than its header, a device-writable buffer on the control transmitq and
 * a control receive buffer too small for a name each put the device in
 * DEVICE_NEEDS_RESET, and after a reset the handshake runs again.  A
 * driver without MULTIPORT has port 0 alone: a buffer on another queue
 * puts the device in DEVICE_NEEDS_RESET.
 *
 * A one-port '@' line offers no MULTIPORT (2 queues, as before); one port
 * without '@' offers it with max_nr_ports 1, among them the client line
 * ACRN's launch-script generator writes; an '@' socket client alone is the
 * one-port device, connected, moving bytes both ways, and its output
 * discarded once the listener is gone.  Refusals before the guest
 * runs: a client port with nothing listening (no socket file; a socket file
 * nobody listens on), 17 ports, two ports with one name, a socket type
 * that is neither server nor client.
 */
#include "console_host.h"
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_console.h>

#define CON_SLOT 4
#define NPORTS 3
#define CTRL_RXQ 2
#define CTRL_TXQ 3
#define CTRL_BUF 512
#define NCTRL 16
#define RXBUF 256
#define NRX 8
#define BAD_ID 0xffffffffu

struct mp {
	struct drv d;
	struct drv_virtio v;
	uint64_t buf_gpa[DRV_VIRTIO_MAX_VQ][DRV_VQ_MAX_SIZE]; /* posted buffer per head */
	uint64_t tx_area;
	struct drv_func funcs[8]; /* the driver keeps a pointer to the console's */
};

/* A control message as the driver received it. */
struct msg {
	uint32_t id;
	uint16_t event, value;
	char name[64];
};

static int rxq_of(int port)
{
	return port == 0 ? 0 : 2 + 2 * port;
}

/* ---- host side ---- */

static int sock_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = set_path(&sa, path) ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static int accept_within(int lfd, int timeout_ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* ---- guest side ---- */

static void post_in(struct mp *m, int q, uint64_t gpa, uint32_t len)
{
	struct drv_buf in = { gpa, len };
	int head = drv_virtio_post(&m->v, q, NULL, 0, &in, 1, false);

	if (head >= 0)
		m->buf_gpa[q][head] = gpa;
}

static void stock(struct mp *m, int q, int n, uint32_t len)
{
	uint64_t base = drv_virtio_alloc(&m->v, (uint64_t)n * len, 64);

	for (int i = 0; i < n; i++)
		post_in(m, q, base + (uint64_t)i * len, len);
	drv_virtio_kick(&m->v, q);
}

/* Reset, negotiate MULTIPORT, set up all nq queues, DRIVER_OK, and post
 * receive buffers on the control receiveq (with ctrl_len bytes each) and
 * on each port's receiveq. */
static bool mp_up(struct mp *m, int nq, int nports, uint32_t ctrl_len)
{
	if (drv_virtio_negotiate(&m->v, (1ULL << VIRTIO_F_VERSION_1) |
						(1ULL << VIRTIO_CONSOLE_F_MULTIPORT)) ||
	    drv_virtio_setup_irq(&m->v, true))
		return false;
	for (int q = 0; q < nq; q++)
		if (drv_virtio_setup_vq(&m->v, q, 0))
			return false;
	drv_virtio_driver_ok(&m->v);
	if (!m->tx_area)
		m->tx_area = drv_virtio_alloc(&m->v, 4096, 64);
	stock(m, CTRL_RXQ, NCTRL, ctrl_len);
	for (int p = 0; p < nports; p++)
		stock(m, rxq_of(p), NRX, RXBUF);
	return true;
}

/* Send one control message of len bytes (8 is the whole header). */
static bool ctrl_send(struct mp *m, uint32_t id, uint16_t event, uint16_t value, uint32_t len)
{
	struct virtio_console_control c = { .id = id, .event = event, .value = value };
	struct drv_buf out = { m->tx_area, len };
	uint16_t head;

	memcpy(drv_gpa(&m->d, m->tx_area, sizeof(c)), &c, sizeof(c));
	if (drv_virtio_post(&m->v, CTRL_TXQ, &out, 1, NULL, 0, false) < 0)
		return false;
	drv_virtio_kick(&m->v, CTRL_TXQ);
	return drv_virtio_wait_used(&m->v, CTRL_TXQ, &head, NULL, 5000) == 1;
}

/* Receive up to max control messages, waiting at most timeout_ms for each;
 * reposts the buffers.  Returns how many arrived. */
static int ctrl_recv(struct mp *m, struct msg *out, int max, int timeout_ms)
{
	int n = 0;

	while (n < max) {
		uint16_t head;
		uint32_t len;

		if (drv_virtio_wait_used(&m->v, CTRL_RXQ, &head, &len, timeout_ms) != 1)
			break;
		uint64_t gpa = m->buf_gpa[CTRL_RXQ][head];
		const uint8_t *p = drv_gpa(&m->d, gpa, CTRL_BUF);
		struct virtio_console_control c;

		memset(&out[n], 0, sizeof(out[n]));
		if (len >= sizeof(c) && len <= CTRL_BUF) {
			memcpy(&c, p, sizeof(c));
			out[n].id = c.id;
			out[n].event = c.event;
			out[n].value = c.value;
			size_t nl = len - sizeof(c) < sizeof(out[n].name) - 1 ? len - sizeof(c)
									       : sizeof(out[n].name) - 1;
			memcpy(out[n].name, p + sizeof(c), nl);
		} else {
			out[n].event = 0xffff; /* malformed: the test fails on it */
		}
		n++;
		post_in(m, CTRL_RXQ, gpa, CTRL_BUF);
		drv_virtio_kick(&m->v, CTRL_RXQ);
	}
	return n;
}

static int find_msg(const struct msg *ms, int n, uint32_t id, uint16_t event)
{
	for (int i = 0; i < n; i++)
		if (ms[i].id == id && ms[i].event == event)
			return i;
	return -1;
}

/* DEVICE_READY, then every port's PORT_ADD and PORT_NAME; PORT_READY for
 * each, then CONSOLE_PORT for the consoles and PORT_OPEN for all. */
static bool handshake(struct mp *m, const char *const *names, const bool *console, int nports,
		      const char *what)
{
	struct msg ms[64];
	int n, want = 2 * nports;
	bool ok = true;

	if (!drv_check(ctrl_send(m, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1, 8),
		       "%s: DEVICE_READY taken", what))
		return false;
	n = ctrl_recv(m, ms, want, 5000);
	ok &= drv_check(n == want, "%s: %d announcements after DEVICE_READY (got %d)", what, want,
			n);
	for (int p = 0; p < nports; p++) {
		int a = find_msg(ms, n, (uint32_t)p, VIRTIO_CONSOLE_PORT_ADD);
		int b = find_msg(ms, n, (uint32_t)p, VIRTIO_CONSOLE_PORT_NAME);

		ok &= drv_check(a >= 0 && b > a && !strcmp(ms[b].name, names[p]),
				"%s: port %d added, then named '%s' (got '%s')", what, p, names[p],
				b >= 0 ? ms[b].name : "-");
	}
	for (int p = 0; p < nports; p++)
		ok &= ctrl_send(m, (uint32_t)p, VIRTIO_CONSOLE_PORT_READY, 1, 8);
	want = 0;
	for (int p = 0; p < nports; p++)
		want += console[p] ? 2 : 1;
	n = ctrl_recv(m, ms, want, 5000);
	ok &= drv_check(n == want, "%s: %d answers to PORT_READY (got %d)", what, want, n);
	for (int p = 0; p < nports; p++) {
		int c = find_msg(ms, n, (uint32_t)p, VIRTIO_CONSOLE_CONSOLE_PORT);
		int o = find_msg(ms, n, (uint32_t)p, VIRTIO_CONSOLE_PORT_OPEN);

		ok &= drv_check((c >= 0) == console[p] && o >= 0 && ms[o].value == 1,
				"%s: port %d %s a console, and open", what, p,
				console[p] ? "is" : "is not");
	}
	return ok;
}

/* guest -> host on a port: the host reads exactly msg. */
static bool to_host(struct mp *m, int port, int fd, const char *msg)
{
	struct drv_buf out = { m->tx_area, (uint32_t)strlen(msg) };
	char got[256];
	uint16_t head;

	memcpy(drv_gpa(&m->d, m->tx_area, out.len), msg, out.len);
	if (drv_virtio_post(&m->v, rxq_of(port) + 1, &out, 1, NULL, 0, false) < 0)
		return false;
	drv_virtio_kick(&m->v, rxq_of(port) + 1);
	return drv_virtio_wait_used(&m->v, rxq_of(port) + 1, &head, NULL, 5000) == 1 &&
	       read_for(fd, got, out.len, 5000) == (ssize_t)out.len &&
	       !memcmp(got, msg, out.len);
}

/* host -> guest on a port: the port's receiveq gets exactly msg. */
static bool to_guest(struct mp *m, int port, int fd, const char *msg)
{
	size_t len = strlen(msg), got = 0;
	uint64_t end = now_ms() + 5000;
	char buf[256];
	int q = rxq_of(port);

	if (write(fd, msg, len) != (ssize_t)len)
		return false;
	while (got < len && now_ms() < end) {
		uint16_t head;
		uint32_t n;

		if (drv_virtio_wait_used(&m->v, q, &head, &n, 50) != 1)
			continue;
		if (n > RXBUF || got + n > len)
			return false;
		memcpy(buf + got, drv_gpa(&m->d, m->buf_gpa[q][head], n), n);
		got += n;
		post_in(m, q, m->buf_gpa[q][head], RXBUF);
		drv_virtio_kick(&m->v, q);
	}
	return got == len && !memcmp(buf, msg, len);
}

/* No used entry on q within ms: nothing was delivered there. */
static bool quiet(struct mp *m, int q, int ms)
{
	return drv_virtio_wait_used(&m->v, q, NULL, NULL, ms) == 0;
}

static bool needs_reset(struct mp *m)
{
	for (int i = 0; i < 300; i++) {
		if (drv_virtio_status(&m->v) & VIRTIO_CONFIG_S_NEEDS_RESET)
			return true;
		usleep(10000);
	}
	return false;
}

static bool running(struct mp *m)
{
	return !(drv_virtio_status(&m->v) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static struct drv_func *find(struct drv_func *funcs, int n)
{
	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, CON_SLOT, 0))
			return &funcs[i];
	return NULL;
}

/* Start vdm with spec, enumerate and probe the console. */
static bool start(struct mp *m, struct vdm_proc *p, const char *spec, const char *what)
{
	struct drv_func *funcs = m->funcs, *f;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int st, n;

	if (vdm_spawn(p, (const char *const[]){ "-s", spec, NULL }, &st)) {
		drv_check(false, "%s: vdm starts (exit %d)", what, st);
		return false;
	}
	drv_connect(&m->d, p->sock);
	n = drv_enumerate(&m->d, funcs, 8);
	f = find(funcs, n);
	if (!drv_check(f != NULL, "%s: the console enumerates", what))
		return false;
	drv_assign_bars(&m->d, f, &mmio, &io);
	return drv_check(drv_virtio_probe(&m->v, &m->d, f, 16 << 20) == 0, "%s: probe", what);
}

/* A port vdm connects to as a socket client: the test's listener in a
 * directory of its own, and the connection vdm made to it. */
struct client_port {
	char dir[32], path[128], spec[256];
	int lfd, fd;
};

/* Listen on SOCKFILE in a new directory, start vdm with PORT (a port line
 * up to its path, e.g. "@socket:con0") as a client of it, and take vdm's
 * connection.  False when vdm did not start; cp_close() undoes it all. */
static bool start_client(struct mp *m, struct vdm_proc *p, struct client_port *cp,
			 const char *port, const char *sockfile, const char *what)
{
	snprintf(cp->dir, sizeof(cp->dir), "/tmp/vdm-mp-XXXXXX");
	cp->path[0] = '\0';
	cp->lfd = cp->fd = -1;
	if (!mkdtemp(cp->dir))
		return false;
	snprintf(cp->path, sizeof(cp->path), "%s/%s", cp->dir, sockfile);
	snprintf(cp->spec, sizeof(cp->spec), "%d,virtio-console,%s=%s:client", CON_SLOT, port,
		 cp->path);
	cp->lfd = sock_listen(cp->path);
	if (!drv_check(cp->lfd >= 0, "%s: the test listens", what) || !start(m, p, cp->spec, what))
		return false;
	cp->fd = accept_within(cp->lfd, 5000);
	drv_check(cp->fd >= 0, "%s: vdm connected", what);
	return true;
}

static void cp_close(struct client_port *cp)
{
	if (cp->fd >= 0)
		close(cp->fd);
	if (cp->lfd >= 0)
		close(cp->lfd);
	if (cp->path[0]) {
		unlink(cp->path);
		rmdir(cp->dir);
	}
}

static void three_ports(void)
{
	static const char *const names[NPORTS] = { "con0", "p1", "p2" };
	static const bool console[NPORTS] = { true, false, false };
	char dir[] = "/tmp/vdm-mp-XXXXXX", c0[128], p1[128], peer[128], spec[512];
	int lfd = -1, fd[NPORTS] = { -1, -1, -1 };
	struct mp *m = calloc(1, sizeof(*m));
	struct vdm_proc p;
	bool up;

	if (!m || !mkdtemp(dir)) {
		free(m);
		return;
	}
	snprintf(c0, sizeof(c0), "%s/c0.sock", dir);
	snprintf(p1, sizeof(p1), "%s/p1.sock", dir);
	snprintf(peer, sizeof(peer), "%s/peer.sock", dir);
	lfd = sock_listen(peer);
	snprintf(spec, sizeof(spec),
		 "%d,virtio-console,@socket:con0=%s,socket:p1=%s:server,socket:p2=%s:client",
		 CON_SLOT, c0, p1, peer);
	if (!drv_check(lfd >= 0, "multiport: the test listens on %s", peer) ||
	    !start(m, &p, spec, "multiport"))
		goto out;
	fd[2] = accept_within(lfd, 5000);
	drv_check(fd[2] >= 0, "multiport: vdm connected to the client port's socket");
	uint64_t offered = drv_virtio_device_features(&m->v);
	drv_check(offered & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT),
		  "multiport: MULTIPORT offered (%#llx)", (unsigned long long)offered);
	drv_check(drv_virtio_common_read(&m->v, VIRTIO_PCI_COMMON_NUMQ, 2) == 2 + 2 * NPORTS,
		  "multiport: %d queues", 2 + 2 * NPORTS);
	drv_check(drv_virtio_cfg_read(&m->v, 4, 4) == NPORTS, "multiport: max_nr_ports %d",
		  NPORTS);
	up = mp_up(m, 2 + 2 * NPORTS, NPORTS, CTRL_BUF);
	if (!drv_check(up, "multiport: negotiated, 8 queues set up") ||
	    !handshake(m, names, console, NPORTS, "multiport"))
		goto stop;
	fd[0] = sock_connect(c0);
	fd[1] = sock_connect(p1);
	drv_check(fd[0] >= 0 && fd[1] >= 0, "multiport: clients connect to con0 and p1");
	for (int i = 0; i < NPORTS; i++) {
		char out[64], in[64];

		snprintf(out, sizeof(out), "guest-to-host on %s\n", names[i]);
		snprintf(in, sizeof(in), "host-to-guest on %s\n", names[i]);
		drv_check(fd[i] >= 0 && to_host(m, i, fd[i], out),
			  "multiport: guest -> host on port %d (%s)", i, names[i]);
		drv_check(fd[i] >= 0 && to_guest(m, i, fd[i], in),
			  "multiport: host -> guest on port %d (%s)", i, names[i]);
	}
	/* Bytes stay on their port: nothing arrived on the others. */
	drv_check(quiet(m, rxq_of(0), 100) && quiet(m, rxq_of(1), 100) && quiet(m, rxq_of(2), 100),
		  "multiport: no stray bytes on any port");

	/* Hostile but harmless: ignored, nothing answered, data still flows. */
	ctrl_send(m, 0, 99, 1, 8);
	ctrl_send(m, 40, VIRTIO_CONSOLE_PORT_READY, 1, 8);
	ctrl_send(m, BAD_ID, VIRTIO_CONSOLE_PORT_OPEN, 1, 8);
	ctrl_send(m, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1, 8);
	ctrl_send(m, 1, VIRTIO_CONSOLE_PORT_READY, 1, 8);
	ctrl_send(m, 2, VIRTIO_CONSOLE_PORT_ADD, 1, 12);
	drv_check(quiet(m, CTRL_RXQ, 300) && running(m),
		  "multiport: unknown event, ids out of range, repeated DEVICE_READY and "
		  "PORT_READY ignored (no answer, no reset)");
	drv_check(to_host(m, 1, fd[1], "still here\n") && to_guest(m, 1, fd[1], "and back\n"),
		  "multiport: port p1 still moves bytes both ways");
	ctrl_send(m, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, 8); /* a process opened p1: fine */
	drv_check(running(m), "multiport: the driver's PORT_OPEN taken");

	/* A message shorter than its header breaks the queue. */
	ctrl_send(m, 0, VIRTIO_CONSOLE_PORT_READY, 1, 4);
	drv_check(needs_reset(m), "multiport: a 4-byte control message -> DEVICE_NEEDS_RESET");

	/* After a reset the handshake runs again. */
	up = mp_up(m, 2 + 2 * NPORTS, NPORTS, CTRL_BUF);
	drv_check(up && handshake(m, names, console, NPORTS, "multiport after reset"),
		  "multiport: handshake again after the reset");
	drv_check(to_host(m, 2, fd[2], "after reset\n") && to_guest(m, 2, fd[2], "p2 again\n"),
		  "multiport: the client port moves bytes after the reset");

	/* A device-writable buffer on the control transmitq. */
	{
		struct drv_buf in = { m->tx_area, 8 };

		drv_virtio_post(&m->v, CTRL_TXQ, NULL, 0, &in, 1, false);
		drv_virtio_kick(&m->v, CTRL_TXQ);
		drv_check(needs_reset(m),
			  "multiport: a device-writable control transmit buffer -> "
			  "DEVICE_NEEDS_RESET");
	}

	/* Control receive buffers too small for PORT_NAME. */
	up = mp_up(m, 2 + 2 * NPORTS, NPORTS, 10);
	drv_check(up && ctrl_send(m, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1, 8) &&
			  needs_reset(m),
		  "multiport: a control receive buffer too small for a name -> "
		  "DEVICE_NEEDS_RESET");
stop:
	drv_disconnect(&m->d);
	drv_check(vdm_stop(&p) == 0, "multiport: vdm stops cleanly");
out:
	for (int i = 0; i < NPORTS; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	if (lfd >= 0)
		close(lfd);
	unlink(peer);
	rmdir(dir);
	free(m);
}

/*
 * acrn-dm's console port as a socket client, alone: the one-port device
 * (no MULTIPORT), vdm connected to the test's listener before the guest
 * runs, bytes both ways.
 */
static void console_client(void)
{
	struct mp *m = calloc(1, sizeof(*m));
	struct client_port cp;
	struct vdm_proc p;

	if (!m)
		return;
	if (start_client(m, &p, &cp, "@socket:con0", "host.sock", "@socket client")) {
		drv_check(!(drv_virtio_device_features(&m->v) & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT)),
			  "@socket client: one port, no MULTIPORT");
		bool up = drv_virtio_negotiate(&m->v, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
			  drv_virtio_setup_irq(&m->v, true) == 0 &&
			  drv_virtio_setup_vq(&m->v, 0, 0) == 0 &&
			  drv_virtio_setup_vq(&m->v, 1, 0) == 0;

		if (drv_check(up, "@socket client: both queues set up")) {
			drv_virtio_driver_ok(&m->v);
			m->tx_area = drv_virtio_alloc(&m->v, 4096, 64);
			stock(m, 0, NRX, RXBUF);
			drv_check(cp.fd >= 0 && to_host(m, 0, cp.fd, "guest to listener\n") &&
					  to_guest(m, 0, cp.fd, "listener to guest\n"),
				  "@socket client: bytes both ways");
			/* The listener goes away: output is discarded, the guest
			 * never waits on it. */
			struct drv_buf out = { m->tx_area, 64 };
			uint16_t head;

			if (cp.fd >= 0)
				close(cp.fd);
			cp.fd = -1;
			for (int i = 0; i < 4; i++) {
				drv_virtio_post(&m->v, 1, &out, 1, NULL, 0, false);
				drv_virtio_kick(&m->v, 1);
			}
			int used = 0;
			while (used < 4 && drv_virtio_wait_used(&m->v, 1, &head, NULL, 5000) == 1)
				used++;
			drv_check(used == 4 && running(m),
				  "@socket client: with the listener gone, output completes "
				  "(discarded)");
		}
		drv_disconnect(&m->d);
		drv_check(vdm_stop(&p) == 0, "@socket client: vdm stops cleanly");
	}
	cp_close(&cp);
	free(m);
}

/*
 * A driver that does not negotiate MULTIPORT on a two-port device: only
 * port 0 exists for it (virtio 1.2, 5.3.2), so a buffer on queue 3 breaks
 * the rules (DEVICE_NEEDS_RESET, not a control message taken, nor a queue
 * left to spin on); after a reset port 0 moves bytes both ways.
 */
static void not_negotiated(void)
{
	char dir[] = "/tmp/vdm-mp-XXXXXX", c0[128], spec[256];
	struct mp *m = calloc(1, sizeof(*m));
	struct vdm_proc p;
	int fd = -1;

	if (!m || !mkdtemp(dir)) {
		free(m);
		return;
	}
	snprintf(c0, sizeof(c0), "%s/c0.sock", dir);
	snprintf(spec, sizeof(spec), "%d,virtio-console,@socket:con0=%s,pty:p1", CON_SLOT, c0);
	if (start(m, &p, spec, "without MULTIPORT")) {
		bool up = drv_virtio_negotiate(&m->v, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
			  drv_virtio_setup_irq(&m->v, true) == 0 &&
			  drv_virtio_setup_vq(&m->v, 0, 0) == 0 &&
			  drv_virtio_setup_vq(&m->v, 1, 0) == 0 &&
			  drv_virtio_setup_vq(&m->v, CTRL_TXQ, 0) == 0;

		if (drv_check(up, "without MULTIPORT: queues 0, 1 and 3 set up")) {
			struct drv_buf out = { 0, 4 };

			drv_virtio_driver_ok(&m->v);
			m->tx_area = drv_virtio_alloc(&m->v, 4096, 64);
			out.gpa = m->tx_area;
			stock(m, 0, NRX, RXBUF);
			drv_virtio_post(&m->v, CTRL_TXQ, &out, 1, NULL, 0, false);
			drv_virtio_kick(&m->v, CTRL_TXQ);
			drv_check(needs_reset(m),
				  "without MULTIPORT: a buffer on queue 3, which does not exist for "
				  "the driver -> DEVICE_NEEDS_RESET");
			up = drv_virtio_negotiate(&m->v, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
			     drv_virtio_setup_irq(&m->v, true) == 0 &&
			     drv_virtio_setup_vq(&m->v, 0, 0) == 0 &&
			     drv_virtio_setup_vq(&m->v, 1, 0) == 0;
			drv_check(up, "without MULTIPORT: set up again after the reset");
			drv_virtio_driver_ok(&m->v);
			stock(m, 0, NRX, RXBUF);
			fd = sock_connect(c0);
			drv_check(fd >= 0 && to_host(m, 0, fd, "port 0 alone\n") &&
					  to_guest(m, 0, fd, "back to port 0\n"),
				  "without MULTIPORT: port 0 moves bytes both ways");
		}
		drv_disconnect(&m->d);
		drv_check(vdm_stop(&p) == 0, "without MULTIPORT: vdm stops cleanly");
	}
	if (fd >= 0)
		close(fd);
	rmdir(dir);
	free(m);
}

/* One '@' port: no MULTIPORT, two queues.  One plain port: MULTIPORT. */
static void one_port(const char *spec, bool multiport)
{
	struct mp *m = calloc(1, sizeof(*m));
	struct vdm_proc p;

	if (!m)
		return;
	if (start(m, &p, spec, spec)) {
		uint64_t offered = drv_virtio_device_features(&m->v);
		unsigned nq = (unsigned)drv_virtio_common_read(&m->v, VIRTIO_PCI_COMMON_NUMQ, 2);

		drv_check(!!(offered & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT)) == multiport &&
				  nq == (multiport ? 4u : 2u),
			  "%s: MULTIPORT %s, %u queues", spec, multiport ? "offered" : "not offered",
			  nq);
		if (multiport) {
			static const char *const names[1] = { "solo" };
			static const bool console[1] = { false };

			drv_check(drv_virtio_cfg_read(&m->v, 4, 4) == 1, "%s: max_nr_ports 1", spec);
			if (mp_up(m, 4, 1, CTRL_BUF))
				handshake(m, names, console, 1, spec);
		}
		drv_disconnect(&m->d);
		drv_check(vdm_stop(&p) == 0, "%s: vdm stops cleanly", spec);
	}
	free(m);
}

/*
 * The line ACRN's launch-script generator writes for a "Virtio serial port"
 * on a "sock client" back-end (launch_cfg_gen.py): one port without '@',
 * named after the socket file, connecting to it.  One MULTIPORT port, not
 * a console, bytes both ways with the listener.
 */
static void generator_client(void)
{
	static const char *const names[1] = { "vm1_sock" };
	static const bool console[1] = { false };
	struct mp *m = calloc(1, sizeof(*m));
	struct client_port cp;
	struct vdm_proc p;

	if (!m)
		return;
	if (start_client(m, &p, &cp, "socket:vm1_sock", "vm1_sock.sock", "generator's client line")) {
		if (drv_check(mp_up(m, 4, 1, CTRL_BUF), "generator's client line: 4 queues set up") &&
		    handshake(m, names, console, 1, "generator's client line"))
			drv_check(cp.fd >= 0 && to_host(m, 0, cp.fd, "from the serial port\n") &&
					  to_guest(m, 0, cp.fd, "to the serial port\n"),
				  "generator's client line: bytes both ways");
		drv_disconnect(&m->d);
		drv_check(vdm_stop(&p) == 0, "generator's client line: vdm stops cleanly");
	}
	cp_close(&cp);
	free(m);
}

static void refusals(void)
{
	char dir[] = "/tmp/vdm-mp-XXXXXX", hsm[128], nobody[128], dead[128], c1[256], c2[256],
						    many[1024], out[512];
	struct {
		const char *opts;
		int status;
		const char *msg;
	} cases[] = {
		{ c1, 1, "port p2: cannot connect to " },
		{ c2, 1, "Connection refused" },
		{ many, 2, "at most 16 ports" },
		{ "4,virtio-console,pty:a,pty:a", 2, "two ports named 'a'" },
		{ "4,virtio-console,@pty:a,socket:b=/tmp/x:dial", 2,
		  "a socket port is ':server' or ':client', not 'dial'" },
		{ "4,virtio-console,stdio,@pty:a", 2, "vdm's own spelling of the first port" },
		{ "4,virtio-console,@stdio:a,stdio:b", 2, "2 ports on stdio" },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, len = 0;

	if (!mkdtemp(dir))
		return;
	snprintf(hsm, sizeof(hsm), "sim:%s/sim.sock", dir);
	snprintf(nobody, sizeof(nobody), "%s/nobody.sock", dir);
	snprintf(dead, sizeof(dead), "%s/dead.sock", dir);
	snprintf(c1, sizeof(c1), "4,virtio-console,@pty:con0,socket:p2=%s:client", nobody);
	snprintf(c2, sizeof(c2), "4,virtio-console,@socket:con0=%s:client", dead);
	len = snprintf(many, sizeof(many), "4,virtio-console");
	for (int i = 0; i < 17; i++)
		len += snprintf(many + len, sizeof(many) - (size_t)len, ",pty:p%d", i);
	/* A socket file nobody listens on. */
	s = set_path(&sa, dead) ? socket(AF_UNIX, SOCK_STREAM, 0) : -1;
	if (s >= 0) {
		bind(s, (struct sockaddr *)&sa, sizeof(sa));
		close(s);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = vdm_run((const char *const[]){ "--hsm", hsm, "-s", cases[i].opts, NULL },
				 out, sizeof(out));
		int lines = 0;

		for (char *q = out; q && *q; q = strchr(q, '\n'), q = q ? q + 1 : NULL)
			lines += strncmp(q, "vdm: info:", 10) != 0;
		drv_check(st == cases[i].status && strstr(out, cases[i].msg) && lines == 1,
			  "refused: -s %.60s... exits %d with one line naming the problem (%d: %s)",
			  cases[i].opts, cases[i].status, st, out);
	}
	unlink(dead);
	unlink(hsm + 4);
	rmdir(dir);
}

int main(void)
{
	three_ports();
	one_port("4,virtio-console,@pty:con0", false);
	one_port("4,virtio-console,pty:solo", true);
	generator_client();
	not_negotiated();
	console_client();
	refusals();
	return drv_result();
}
