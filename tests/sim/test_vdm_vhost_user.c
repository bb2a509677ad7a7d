/*
 * test_vdm_vhost_user.c - vdm-vhost-user serving virtio-rnd to a front-end:
 * vdm's own virtio-rnd with vhost=user:SOCKET, driven by the test driver.
 *   - random bytes arrive of the lengths asked, with MSI-X (the daemon's
 *     call fd is the vector's irqfd) and with INTx (vdm turns it into ISR);
 *   - EVENT_IDX: 100 requests in bursts with suppressed kicks all complete;
 *     on the split ring, then again on the packed ring (both offered), where
 *     a reset must start the ring afresh (position 0x8000) although the
 *     daemon stopped it mid-ring;
 *   - a device reset stops the ring (GET_VRING_BASE) and it starts again;
 *   - a ring the driver breaks (a buffer outside guest RAM): the daemon
 *     gives up on it and writes its error fd (SET_VRING_ERR), vdm puts the
 *     device in DEVICE_NEEDS_RESET with the ring and the reason in its log,
 *     and the driver's reset brings it back to serving;
 *   - more requests than one turn's budget (a full ring, many times);
 *   - the daemon outlives its front-end: a second vdm is served after the
 *     first stopped, and a front-end connecting while one is served is
 *     closed at once;
 *   - the command line: --help, emulations not yet served, virtio-net's
 *     refusals (missing TAP, mac_seed=, vhost=auto, a group MAC), a file
 *     that is not a socket, a stale socket replaced; SIGTERM removes the
 *     socket and exits 0.
 */
#include "peer.h"
#include "rnd_guest.h"

#include <errno.h>
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

#define RND_SLOT 4

static char dir[] = "/tmp/vdm-vvu-XXXXXX";
static char sock[96], log_path[96], daemon_bin[512];
static pid_t vvu = -1;

/* Start the daemon; it serves once it logged so (a stale socket file at
 * sock would not say it listens). */
static bool daemon_start(void)
{
	return peer_start_ready(&vvu,
				(char *const[]){ daemon_bin, "--socket", sock, "-v",
						 "virtio-rnd,packed=on", NULL },
				log_path, "serving virtio-rnd on", 5000);
}

/* Run the daemon with args to its end; its exit status, its output in out. */
static int daemon_run(const char *const *args, char *out, size_t outlen)
{
	char *argv[16];
	int n = 0;

	argv[n++] = daemon_bin;
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	return peer_run(argv, log_path, out, outlen);
}

static bool setup(struct drv *d, struct drv_func *f, struct drv_virtio *v, bool msix,
		  uint64_t features)
{
	return rnd_up(d, f, v, RND_SLOT, msix, features);
}

/* vdm with virtio-rnd on the daemon; its log to vdm_log when given. */
static bool vm_start_logged(struct vdm_proc *p, struct drv *d, const char *vdm_log)
{
	char spec[160];
	int st;

	snprintf(spec, sizeof(spec), "%d,virtio-rnd,vhost=user:%s", RND_SLOT, sock);
	if (vdm_spawn(p,
		      vdm_log ? (const char *const[]){ "--log-file", vdm_log, "-s", spec, NULL }
			      : (const char *const[]){ "-s", spec, NULL },
		      &st)) {
		drv_check(false, "vdm starts on vdm-vhost-user (exit %d)", st);
		return false;
	}
	drv_connect(d, p->sock);
	return true;
}

static bool vm_start(struct vdm_proc *p, struct drv *d)
{
	return vm_start_logged(p, d, NULL);
}

/* Wait up to ms for DEVICE_NEEDS_RESET in the device status. */
static bool wait_needs_reset(struct drv_virtio *v, int ms)
{
	for (int t = 0; t < ms; t += 20) {
		if (drv_virtio_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET)
			return true;
		sleep_ms(20);
	}
	return false;
}

/*
 * The driver breaks its ring behind vdm's back: the daemon finds a buffer
 * outside guest RAM, gives up on the ring and writes its error fd; vdm,
 * which handed it over with SET_VRING_ERR, puts the device in
 * DEVICE_NEEDS_RESET and says which queue and why.  The driver's reset
 * starts the ring afresh on the same daemon.
 */
static void broken_ring(void)
{
	struct drv_func f = { 0 };
	struct drv_virtio v = { 0 };
	struct vdm_proc p;
	struct drv d;
	char vdm_log[160];

	snprintf(vdm_log, sizeof(vdm_log), "%s/vdm.log", dir);
	if (!vm_start_logged(&p, &d, vdm_log))
		return;
	if (!drv_check(setup(&d, &f, &v, true, 1ULL << VIRTIO_F_VERSION_1),
		       "broken ring: device set up"))
		goto out;
	drv_virtio_driver_ok(&v);
	uint64_t a = drv_virtio_alloc(&v, 4096, 64);
	drv_check(rnd_read(&v, a, 64) == 64, "broken ring: the ring serves at first");
	struct drv_buf outside = { 1ULL << 40, 64 };
	drv_check(drv_virtio_post(&v, 0, NULL, 0, &outside, 1, false) >= 0,
		  "broken ring: a buffer outside guest RAM posted");
	drv_virtio_kick(&v, 0);
	drv_check(wait_needs_reset(&v, 5000),
		  "broken ring: the daemon's error fd puts vdm's device in DEVICE_NEEDS_RESET");
	drv_check(peer_log_has(log_path, "ring 0: the driver broke it"),
		  "broken ring: the daemon logged which ring the driver broke");
	drv_check(peer_log_has(vdm_log, "device needs reset: queue 0: vhost back-end") &&
			  peer_log_has(vdm_log, "gave up on the ring (its error fd)"),
		  "broken ring: vdm's log names the queue and the reason");
	drv_virtio_set_status(&v, 0);
	drv_check(drv_virtio_status(&v) == 0, "broken ring: the reset reads back status 0");
	drv_check(drv_virtio_negotiate(&v, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
			  drv_virtio_setup_irq(&v, true) == 0 && drv_virtio_setup_vq(&v, 0, 0) == 0,
		  "broken ring: the device comes back after the reset");
	drv_virtio_driver_ok(&v);
	drv_check(!(drv_virtio_status(&v) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
			  rnd_read(&v, a, 128) == 128 && rnd_read(&v, a, 64) == 64,
		  "broken ring: after the reset the daemon serves the ring again");
out:
	drv_virtio_fini(&v);
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "broken ring: vdm stops cleanly");
	if (drv_result())
		peer_dump_log("vdm's log", vdm_log);
	unlink(vdm_log);
}

static void serve(bool msix)
{
	const char *mode = msix ? "MSI-X" : "INTx";
	static const uint8_t zero[64];
	struct drv_func f = { 0 };
	struct drv_virtio v = { 0 };
	struct vdm_proc p;
	struct drv d;

	if (!vm_start(&p, &d))
		return;
	if (!drv_check(setup(&d, &f, &v, msix, 1ULL << VIRTIO_F_VERSION_1), "%s: device set up",
		       mode))
		goto out;
	drv_virtio_driver_ok(&v);
	drv_check(!(drv_virtio_status(&v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "%s: DRIVER_OK brought the ring up in vdm-vhost-user", mode);
	uint64_t a = drv_virtio_alloc(&v, 4096, 64), b = drv_virtio_alloc(&v, 4096, 64);
	memset(drv_gpa(&d, a, 4096), 0, 4096);
	memset(drv_gpa(&d, b, 4096), 0, 4096);
	drv_check(rnd_read(&v, a, 64) == 64, "%s: 64-byte read returns 64 bytes", mode);
	drv_check(rnd_read(&v, b, 64) == 64, "%s: second read returns 64 bytes", mode);
	drv_check(memcmp(drv_gpa(&d, a, 64), drv_gpa(&d, b, 64), 64) != 0 &&
			  memcmp(drv_gpa(&d, a, 64), zero, 64) != 0,
		  "%s: the bytes are not zero and successive reads differ", mode);
	drv_check(rnd_read(&v, a, 4000) == 4000, "%s: 4000-byte read returns 4000", mode);
	drv_check(msix ? v.msi_count > 0 && v.intx_count == 0 : v.intx_count > 0 && v.msi_count == 0,
		  "%s: completions arrived through %s (msi %d, intx %d)", mode, mode, v.msi_count,
		  v.intx_count);

	/* A reset stops the ring (GET_VRING_BASE); the next DRIVER_OK starts
	 * it again from index 0. */
	drv_virtio_set_status(&v, 0);
	drv_check(drv_virtio_status(&v) == 0, "%s: reset reads back status 0", mode);
	drv_check(drv_virtio_negotiate(&v, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
			  drv_virtio_setup_irq(&v, msix) == 0 && drv_virtio_setup_vq(&v, 0, 0) == 0,
		  "%s: device comes back after reset", mode);
	drv_virtio_driver_ok(&v);
	drv_check(rnd_read(&v, b, 256) == 256, "%s: reads work after reset", mode);
out:
	drv_virtio_fini(&v);
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "%s: vdm stops cleanly", mode);
}

/*
 * EVENT_IDX both ways, then many full rings: the driver kicks only when
 * avail_event asks (virtio 1.2, 2.7.10; packed: the device area, 2.8.10), so
 * the daemon must keep asking; and a ring kept full is served across turns
 * of the daemon's loop.
 */
static void event_idx_and_volume(bool packed)
{
	const char *layout = packed ? "packed" : "split";
	uint64_t features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (packed ? 1ULL << VIRTIO_F_RING_PACKED : 0);
	struct drv_func f = { 0 };
	struct drv_virtio v = { 0 };
	struct vdm_proc p;
	struct drv d;
	int done = 0, kicks = 0;

	if (!vm_start(&p, &d))
		return;
	if (!drv_check(setup(&d, &f, &v, true, features), "%s: EVENT_IDX: device set up", layout))
		goto out;
	drv_check(v.features == features,
		  "%s: EVENT_IDX negotiated through vdm with vdm-vhost-user", layout);
	drv_virtio_driver_ok(&v);
	uint64_t buf = drv_virtio_alloc(&v, 64 * 32, 64);
	done = rnd_bursts(&v, buf, &kicks);
	drv_check(done == 100,
		  "%s: EVENT_IDX: 100 requests completed with suppressed kicks (%d, %d kicks)",
		  layout, done, kicks);
	/* A ring's worth posted, one kick, all taken; 40 times.  With
	 * EVENT_IDX most completions come without an interrupt of their own:
	 * do not wait for one each time. */
	v.irq_grace_ms = 0;
	done = 0;
	for (int round = 0; round < 40; round++) {
		int posted = 0;

		for (int i = 0; i < 64; i++) {
			struct drv_buf in = { buf + 32 * (uint64_t)i, 32 };

			if (drv_virtio_post(&v, 0, NULL, 0, &in, 1, false) >= 0)
				posted++;
		}
		drv_virtio_kick(&v, 0);
		for (int i = 0; i < posted; i++) {
			uint16_t id;
			uint32_t len;

			if (drv_virtio_wait_used(&v, 0, &id, &len, 5000) == 1 && len == 32)
				done++;
		}
	}
	drv_check(done == 40 * 64, "%s: 40 full rings of 64 requests all completed (%d)", layout,
		  done);
	/* 100 + 2560 requests: the ring stops mid-way round (GET_VRING_BASE);
	 * after a reset it starts from the beginning again. */
	drv_virtio_set_status(&v, 0);
	drv_check(drv_virtio_negotiate(&v, features) == 0 && drv_virtio_setup_irq(&v, true) == 0 &&
			  drv_virtio_setup_vq(&v, 0, 0) == 0,
		  "%s: device comes back after reset", layout);
	drv_virtio_driver_ok(&v);
	v.irq_grace_ms = DRV_VIRTIO_IRQ_GRACE_MS;
	drv_check(rnd_read(&v, buf, 256) == 256 && rnd_read(&v, buf, 64) == 64,
		  "%s: reads work after reset", layout);
out:
	drv_virtio_fini(&v);
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "vdm stops cleanly");
}

/* A second front-end while one is served: accepted and closed at once. */
static void second_front_end(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct drv_func f = { 0 };
	struct drv_virtio v = { 0 };
	struct vdm_proc p;
	struct drv d;
	char c;

	if (!vm_start(&p, &d))
		return;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	drv_check(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && read(fd, &c, 1) == 0,
		  "a second front-end is closed at once");
	close(fd);
	if (drv_check(setup(&d, &f, &v, true, 1ULL << VIRTIO_F_VERSION_1),
		      "the first front-end still sets its device up")) {
		drv_virtio_driver_ok(&v);
		uint64_t a = drv_virtio_alloc(&v, 4096, 64);
		drv_check(rnd_read(&v, a, 512) == 512, "... and is served");
	}
	drv_virtio_fini(&v);
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "vdm stops cleanly");
}

static void command_line(void)
{
	char out[4096], path[160];
	struct stat st;
	int ret;

	ret = daemon_run((const char *const[]){ "--help", NULL }, out, sizeof(out));
	drv_check(ret == 0 && strstr(out, "--socket PATH"), "--help exits 0 with the usage");
	ret = daemon_run((const char *const[]){ "--socket", sock, "virtio-fs", NULL }, out,
			 sizeof(out));
	drv_check(ret == 2 && strstr(out, "virtio-fs is not yet served by vdm-vhost-user"),
		  "virtio-fs: one line, not yet served, exit 2 (%d: %s)", ret, out);
	ret = daemon_run((const char *const[]){ "--socket", sock, "virtio-net,tap=vdmnosuch0",
						NULL }, out, sizeof(out));
	drv_check(ret == 1 && strstr(out, "tap=vdmnosuch0: no such network interface"),
		  "virtio-net on a missing TAP: vdm's line, exit 1 (%d: %s)", ret, out);
	ret = daemon_run((const char *const[]){ "--socket", sock, "virtio-net,tap=t0,mac_seed=x",
						NULL }, out, sizeof(out));
	drv_check(ret == 2 && strstr(out, "mac_seed= derives the MAC from vdm's slot"),
		  "virtio-net: mac_seed= is refused, exit 2 (%d: %s)", ret, out);
	ret = daemon_run((const char *const[]){ "--socket", sock, "virtio-net,tap=t0,vhost=auto",
						NULL }, out, sizeof(out));
	drv_check(ret == 2 && strstr(out, "vhost= and reconnect= choose vdm's route"),
		  "virtio-net: vhost=auto is vdm's route, refused, exit 2 (%d: %s)", ret, out);
	ret = daemon_run((const char *const[]){ "--socket", sock, "virtio-net,mac=01:00:00:00:00:01",
						NULL }, out, sizeof(out));
	drv_check(ret == 2 && strstr(out, "multicast"),
		  "virtio-net: a group MAC is vdm's error, exit 2 (%d: %s)", ret, out);
	ret = daemon_run((const char *const[]){ "--socket", sock, "virtio-foo", NULL }, out,
			 sizeof(out));
	drv_check(ret == 2 && strstr(out, "unknown emulation 'virtio-foo'"),
		  "an unknown emulation exits 2 (%d: %s)", ret, out);
	ret = daemon_run((const char *const[]){ "virtio-rnd", NULL }, out, sizeof(out));
	drv_check(ret == 2 && strstr(out, "--socket PATH is required"),
		  "no --socket exits 2 (%d: %s)", ret, out);
	ret = daemon_run((const char *const[]){ "--socket", sock, "virtio-rnd,bogus", NULL }, out,
			 sizeof(out));
	drv_check(ret == 2 && strstr(out, "unknown virtio-rnd option 'bogus'"),
		  "an unknown option exits 2 with vdm's line for it (%d: %s)", ret, out);
	ret = daemon_run((const char *const[]){ "--socket", sock, "virtio-rnd,transitional", NULL },
			 out, sizeof(out));
	drv_check(ret == 2 && strstr(out, "not of the back-end"),
		  "vdm's own options (transitional) are refused (%d: %s)", ret, out);
	snprintf(path, sizeof(path), "%s/plain-file", dir);
	FILE *f = fopen(path, "w");
	if (f)
		fclose(f);
	ret = daemon_run((const char *const[]){ "--socket", path, "virtio-rnd", NULL }, out,
			 sizeof(out));
	drv_check(ret == 1 && strstr(out, "exists and is not a socket") && stat(path, &st) == 0,
		  "a file that is not a socket is refused and left alone (%d: %s)", ret, out);
	/* A stale socket (nobody listening): replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	unlink(sock);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	drv_check(daemon_start(), "a stale socket is replaced");
}

int main(void)
{
	const char *b = getenv("VDM_BUILDDIR");
	struct stat st;
	int status;

	snprintf(daemon_bin, sizeof(daemon_bin), "%s/devicemodel/vdm-vhost-user", b ? b : ".");
	if (!mkdtemp(dir))
		return 99;
	snprintf(sock, sizeof(sock), "%s/rng.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);

	command_line();
	if (vvu > 0) {
		serve(true);
		serve(false);
		event_idx_and_volume(false);
		event_idx_and_volume(true);
		broken_ring();
		second_front_end();
		drv_check(peer_log_has(log_path, "refused a second front-end"),
			  "the daemon logged the refusal");
		drv_check(waitpid(vvu, &status, WNOHANG) == 0,
			  "the daemon outlived six front-ends one after the other");
		kill(vvu, SIGTERM);
		waitpid(vvu, &status, 0);
		vvu = -1;
		drv_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "SIGTERM: the daemon exits 0 (status %#x)", status);
		drv_check(lstat(sock, &st) != 0 && errno == ENOENT, "... and removed its socket");
	}
	int result = drv_result();
	if (result)
		peer_dump_log("vdm-vhost-user's log", log_path);
	peer_stop(&vvu, SIGKILL);
	unlink(log_path);
	unlink(sock);
	char path[160];
	snprintf(path, sizeof(path), "%s/plain-file", dir);
	unlink(path);
	rmdir(dir);
	return result;
}
