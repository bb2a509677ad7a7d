/*
 * test_vdm_vhost_user_console.c - vdm-vhost-user serving virtio-console
 * (host side: a UNIX socket) to vdm's own virtio-console routed with
 * vhost=user:, driven by the test driver, with a client on the daemon's
 * console socket:
 *   - bytes go both ways; input sent while the guest has no receive buffer
 *     waits and arrives once it posts some;
 *   - a client that does not read: the guest's output stops (the ring is
 *     not drained into nowhere), and once the client reads, all 512 KiB
 *     arrive in order;
 *   - a device reset, then a second vdm on the same daemon, are served with
 *     the same client still attached;
 *   - the command line: the options vdm keeps for itself are refused by
 *     the daemon, a host side given with vhost=user is refused by vdm;
 *     SIGTERM exits 0 and removes both sockets.
 */
#include "drv.h"
#include "drv_virtio.h"
#include "peer.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define SLOT 4
#define RXQ 0
#define TXQ 1
#define NRX 16
#define RXBUF 256
#define NTX 128
#define TXCHUNK 4096

static char dir[] = "/tmp/vdm-vvucon-XXXXXX";
static char vsock[96], csock[96], log_path[96], daemon_bin[512];
static pid_t vvu = -1;

struct vm {
	struct vdm_proc p;
	struct drv d;
	struct drv_func f;
	struct drv_virtio v;
	uint64_t rx_gpa[DRV_VQ_MAX_SIZE];
	uint64_t tx_area;
};

static int client_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", csock);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Read exactly len bytes within timeout_ms; returns what arrived. */
static size_t read_for(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	for (int waited = 0; got < len && waited < timeout_ms; waited += 10) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 10) <= 0)
			continue;
		r = read(fd, (char *)buf + got, len - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static bool vm_start(struct vm *m, const char *extra)
{
	char spec[200];
	int st;

	memset(m, 0, sizeof(*m));
	snprintf(spec, sizeof(spec), "%d,virtio-console,vhost=user:%s%s", SLOT, vsock, extra);
	if (vdm_spawn(&m->p, (const char *const[]){ "-s", spec, NULL }, &st))
		return false;
	drv_connect(&m->d, m->p.sock);
	if (drv_virtio_probe_slot(&m->v, &m->d, &m->f, SLOT))
		return false;
	m->tx_area = drv_virtio_alloc(&m->v, (uint64_t)NTX * TXCHUNK, 4096);
	return true;
}

static void vm_stop(struct vm *m)
{
	drv_virtio_fini(&m->v);
	drv_disconnect(&m->d);
	drv_check(vdm_stop(&m->p) == 0, "vdm stops cleanly");
}

static void post_rx(struct vm *m, uint64_t gpa)
{
	struct drv_buf in = { gpa, RXBUF };
	int head = drv_virtio_post(&m->v, RXQ, NULL, 0, &in, 1, false);

	if (head >= 0)
		m->rx_gpa[head] = gpa;
}

static void stock_rx(struct vm *m)
{
	uint64_t base = drv_virtio_alloc(&m->v, (uint64_t)NRX * RXBUF, 64);

	for (int i = 0; i < NRX; i++)
		post_rx(m, base + (uint64_t)i * RXBUF);
	drv_virtio_kick(&m->v, RXQ);
}

static bool con_up(struct vm *m, bool msix, bool stock)
{
	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			(1ULL << VIRTIO_RING_F_INDIRECT_DESC);

	if (drv_virtio_negotiate(&m->v, want) || drv_virtio_setup_irq(&m->v, msix) ||
	    drv_virtio_setup_vq(&m->v, RXQ, 0) || drv_virtio_setup_vq(&m->v, TXQ, 0))
		return false;
	drv_virtio_driver_ok(&m->v);
	if (stock)
		stock_rx(m);
	return !(drv_virtio_status(&m->v) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* Collect want bytes from the receiveq within timeout_ms, reposting. */
static size_t guest_recv(struct vm *m, char *out, size_t want, int timeout_ms)
{
	size_t got = 0;

	for (int waited = 0; got < want && waited < timeout_ms; waited += 50) {
		uint16_t id;
		uint32_t len;

		if (drv_virtio_wait_used(&m->v, RXQ, &id, &len, 50) != 1)
			continue;
		if (len > RXBUF)
			break;
		if (got + len <= want)
			memcpy(out + got, drv_gpa(&m->d, m->rx_gpa[id], len), len);
		got += len;
		post_rx(m, m->rx_gpa[id]);
		drv_virtio_kick(&m->v, RXQ);
	}
	return got;
}

static bool host_to_guest(struct vm *m, int fd, const char *msg)
{
	char got[512] = "";
	size_t len = strlen(msg);

	return write(fd, msg, len) == (ssize_t)len && guest_recv(m, got, len, 5000) == len &&
	       !memcmp(got, msg, len);
}

static bool guest_to_host(struct vm *m, int fd, const char *msg)
{
	struct drv_buf out = { m->tx_area, (uint32_t)strlen(msg) };
	char got[512];
	uint32_t used = 1;

	memcpy(drv_gpa(&m->d, m->tx_area, out.len), msg, out.len);
	if (drv_virtio_post(&m->v, TXQ, &out, 1, NULL, 0, false) < 0)
		return false;
	drv_virtio_kick(&m->v, TXQ);
	return drv_virtio_wait_used(&m->v, TXQ, NULL, &used, 5000) == 1 && used == 0 &&
	       read_for(fd, got, out.len, 5000) == out.len && !memcmp(got, msg, out.len);
}

static uint8_t pattern(size_t off)
{
	return (uint8_t)(off * 7 + (off >> 12));
}

/* NTX chunks posted at once to a client that does not read. */
static void backpressure(struct vm *m, int fd)
{
	static uint8_t got[NTX * TXCHUNK];
	int used = 0;
	size_t have = 0;

	for (int i = 0; i < NTX; i++) {
		uint8_t *p = drv_gpa(&m->d, m->tx_area + (uint64_t)i * TXCHUNK, TXCHUNK);
		struct drv_buf out = { m->tx_area + (uint64_t)i * TXCHUNK, TXCHUNK };

		for (size_t j = 0; j < TXCHUNK; j++)
			p[j] = pattern((size_t)i * TXCHUNK + j);
		drv_virtio_post(&m->v, TXQ, &out, 1, NULL, 0, false);
	}
	drv_virtio_kick(&m->v, TXQ);
	sleep_ms(300);
	while (drv_virtio_get_used(&m->v, TXQ, NULL, NULL) == 1)
		used++;
	drv_check(used < NTX, "a client that does not read: %d of %d chunks taken, the rest wait",
		  used, NTX);
	for (int t = 0; t < 1000 && (have < sizeof(got) || used < NTX); t++) {
		size_t r = read_for(fd, got + have, sizeof(got) - have, 10);

		have += r;
		while (drv_virtio_get_used(&m->v, TXQ, NULL, NULL) == 1)
			used++;
	}
	bool in_order = have == sizeof(got);
	for (size_t i = 0; in_order && i < sizeof(got); i++)
		in_order = got[i] == pattern(i);
	drv_check(used == NTX && in_order,
		  "once the client reads: %d chunks used, %zu of %zu bytes, in order: %s", used,
		  have, sizeof(got), in_order ? "yes" : "no");
}

static void test_serve(int fd)
{
	struct vm m;
	char buf[64];

	if (!drv_check(vm_start(&m, ""), "vdm starts with its console on vdm-vhost-user"))
		return;
	drv_check(m.f.vendor == 0x1af4 && m.f.device == 0x1043, "a virtio-console (%04x:%04x)",
		  m.f.vendor, m.f.device);
	if (!drv_check(con_up(&m, true, false), "the console initialises (MSI-X), no rx buffers"))
		goto out;
	drv_check(write(fd, "early", 5) == 5, "the client types before the guest has buffers");
	sleep_ms(200);
	stock_rx(&m);
	drv_check(guest_recv(&m, buf, 5, 5000) == 5 && !memcmp(buf, "early", 5),
		  "... which arrives once it posts some");
	drv_check(host_to_guest(&m, fd, "host says hi"), "socket -> guest");
	drv_check(guest_to_host(&m, fd, "guest says hi"), "guest -> socket");
	backpressure(&m, fd);
	if (drv_check(con_up(&m, false, true), "after a reset the console initialises (INTx)")) {
		drv_check(host_to_guest(&m, fd, "after reset"), "socket -> guest after the reset");
		drv_check(guest_to_host(&m, fd, "still here"), "guest -> socket after the reset");
	}
out:
	vm_stop(&m);
	if (!drv_check(vm_start(&m, ""), "a second vdm starts on the same daemon"))
		return;
	if (drv_check(con_up(&m, true, true), "... and its console initialises")) {
		drv_check(guest_to_host(&m, fd, "second guest"),
			  "guest -> socket, the same client still attached");
		drv_check(host_to_guest(&m, fd, "to the second"), "socket -> second guest");
	}
	vm_stop(&m);
}

static int daemon_run(const char *spec, char *out, size_t outlen)
{
	return peer_run((char *const[]){ daemon_bin, "--socket", vsock, (char *)spec, NULL }, log_path,
			out, outlen);
}

static void command_line(void)
{
	char out[2048], spec[200];
	int ret;

	ret = daemon_run("virtio-console", out, sizeof(out));
	drv_check(ret == 2 && strstr(out, "virtio-console needs a back-end"),
		  "daemon: no host side: vdm's line, exit 2 (%d: %s)", ret, out);
	snprintf(spec, sizeof(spec), "virtio-console,socket:%s,transitional", csock);
	ret = daemon_run(spec, out, sizeof(out));
	drv_check(ret == 2 && strstr(out, "transitional is the front-end's"),
		  "daemon: transitional refused, exit 2 (%d: %s)", ret, out);
	snprintf(spec, sizeof(spec), "4,virtio-console,vhost=user:%s,pty", vsock);
	ret = vdm_run((const char *const[]){ "--hsm", "sim", "-s", spec, NULL }, out, sizeof(out));
	drv_check(ret == 2 && strstr(out, "back-end owns the console"),
		  "vdm: a host side with vhost=user is refused, exit 2 (%d: %s)", ret, out);
}

int main(void)
{
	const char *b = getenv("VDM_BUILDDIR");
	char spec[200];
	struct stat st;
	int status = -1, fd;

	snprintf(daemon_bin, sizeof(daemon_bin), "%s/devicemodel/vdm-vhost-user", b ? b : ".");
	if (!mkdtemp(dir))
		return 99;
	snprintf(vsock, sizeof(vsock), "%s/vu.sock", dir);
	snprintf(csock, sizeof(csock), "%s/console.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);

	command_line();
	snprintf(spec, sizeof(spec), "virtio-console,socket:%s", csock);
	peer_start_ready(&vvu, (char *const[]){ daemon_bin, "--socket", vsock, "-v", spec, NULL },
			 log_path, "serving virtio-console on", 5000);
	fd = client_connect();
	if (drv_check(fd >= 0, "vdm-vhost-user serves a console; a client connects to %s", csock)) {
		test_serve(fd);
		close(fd);
	}
	if (vvu > 0) {
		kill(vvu, SIGTERM);
		waitpid(vvu, &status, 0);
		vvu = -1;
	}
	drv_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && lstat(vsock, &st) != 0 &&
			  lstat(csock, &st) != 0,
		  "SIGTERM: the daemon exits 0 and removes both sockets (status %#x)", status);
	int result = drv_result();
	if (result)
		peer_dump_log("vdm-vhost-user's log", log_path);
	peer_stop(&vvu, SIGKILL);
	unlink(log_path);
	unlink(vsock);
	unlink(csock);
	rmdir(dir);
	return result;
}
