/*
 * test_rnd_route_switch.c - moving a running virtio-rnd between VBS-U and
 * vdm-vhost-user (vdm's own entropy back-end served over vhost-user)
 * through the management API, while the driver keeps asking for entropy.
 *
 * A second thread asks vdm (set-route on --api-socket) to switch the device
 * 20 times between "vhost-user:SOCK" and "vbs-u"; meanwhile every 256-byte
 * request must complete with all its bytes and the device must never need
 * a reset.  The driver does this on the split ring, then resets the device,
 * negotiates the packed ring (both vdm and vdm-vhost-user offer it; the
 * handover carries positions with their wrap counters) and does it again;
 * query-stats must count 40 switches.  Skipped (77) when vdm-vhost-user
 * was not built.
 */
#include "api_client.h"
#include "blk_guest.h"
#include "peer.h"

#include <pthread.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define SLOT 4
#define SWITCHES 20
#define CHUNK 256

static char dir[] = "/tmp/vdm-rndswitch-XXXXXX", api_sock[96], rng_sock[96];
static volatile bool switching_done;
static int switch_failures;

static void *switcher(void *arg)
{
	char vu[128], reply[4096];

	(void)arg;
	snprintf(vu, sizeof(vu), "vhost-user:%s", rng_sock);
	for (int i = 0; i < SWITCHES; i++) {
		sleep_ms(20);
		if (!api_set_route(api_sock, SLOT, i % 2 ? "vbs-u" : vu, reply, sizeof(reply))) {
			fprintf(stderr, "switch %d failed: %s\n", i, reply);
			switch_failures++;
		}
	}
	switching_done = true;
	return NULL;
}

/* SWITCHES switches while the driver keeps asking v for entropy. */
static void switch_round(struct drv_virtio *v, uint64_t buf, const char *layout)
{
	pthread_t t;

	switching_done = false;
	switch_failures = 0;
	pthread_create(&t, NULL, switcher, NULL);
	unsigned n = 0, short_reads = 0, lost = 0;
	while (!switching_done || n < 100) {
		struct drv_buf in = { buf, CHUNK };
		uint32_t len = 0;

		if (drv_virtio_post(v, 0, NULL, 0, &in, 1, false) < 0)
			break;
		if (drv_virtio_kick_needed(v, 0))
			drv_virtio_kick(v, 0);
		if (drv_virtio_wait_used(v, 0, NULL, &len, 5000) != 1) {
			lost++;
			break;
		}
		short_reads += len != CHUNK;
		n++;
		if (n > 200000)
			break;
	}
	pthread_join(t, NULL);
	drv_check(switch_failures == 0, "%s ring: %d route switches while the driver asked for "
		  "entropy (%d failed)", layout, SWITCHES, switch_failures);
	drv_check(lost == 0 && short_reads == 0,
		  "%s ring: %u requests across the switches: %u lost, %u short", layout, n, lost,
		  short_reads);
	drv_check(!(drv_virtio_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "%s ring: the device never needed a reset", layout);
}

int main(void)
{
	char daemon_bin[512], log_path[160], spec[64], reply[4096];
	const char *b = getenv("VDM_BUILDDIR");
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct drv_virtio v;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	pid_t daemon;
	int st;

	snprintf(daemon_bin, sizeof(daemon_bin), "%s/devicemodel/vdm-vhost-user", b ? b : ".");
	if (access(daemon_bin, X_OK)) {
		printf("SKIP: %s was not built\n", daemon_bin);
		return 77;
	}
	if (!mkdtemp(dir))
		return 99;
	snprintf(api_sock, sizeof(api_sock), "%s/api.sock", dir);
	snprintf(rng_sock, sizeof(rng_sock), "%s/rng.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);
	daemon = peer_spawn((char *const[]){ daemon_bin, "--socket", rng_sock, "virtio-rnd,packed=on",
					     NULL },
			    log_path);
	if (peer_wait_socket(&daemon, rng_sock, 5000)) {
		drv_check(false, "vdm-vhost-user starts");
		return drv_result();
	}
	snprintf(spec, sizeof(spec), "%d,virtio-rnd", SLOT);
	if (vdm_spawn(&p, (const char *const[]){ "--api-socket", api_sock, "-s", spec, NULL },
		      &st)) {
		drv_check(false, "vdm starts (%d)", st);
		peer_stop(&daemon, SIGTERM);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	if (virtio_guest_up(&v, &d, funcs, nf, SLOT, 16 << 20, 1ULL << VIRTIO_RING_F_EVENT_IDX, 1,
			    &mmio, &io)) {
		drv_check(false, "virtio-rnd set up");
		return drv_result();
	}
	v.irq_grace_ms = 0;
	uint64_t buf = drv_virtio_alloc(&v, CHUNK, 64);

	drv_check(!(v.features & (1ULL << VIRTIO_F_RING_PACKED)), "the split ring first");
	switch_round(&v, buf, "split");

	/* The same on the packed ring (the device is back on VBS-U). */
	if (drv_check(drv_virtio_negotiate(&v, (1ULL << VIRTIO_F_VERSION_1) |
						       (1ULL << VIRTIO_RING_F_EVENT_IDX) |
						       (1ULL << VIRTIO_F_RING_PACKED)) == 0 &&
			      drv_virtio_setup_irq(&v, true) == 0 &&
			      drv_virtio_setup_vq(&v, 0, 0) == 0 && v.vq[0].packed,
		      "reset, and the packed ring negotiated")) {
		drv_virtio_driver_ok(&v);
		switch_round(&v, buf, "packed");
	}
	char req[200];
	snprintf(req, sizeof(req),
		 "{\"execute\": \"query-stats\", \"arguments\": {\"slot\": \"%d\"}}", SLOT);
	drv_check(api_call(api_sock, req, reply, sizeof(reply)) &&
			  strstr(reply, "\"route_switches\":40"),
		  "query-stats counts 40 switches: %s", reply);
	drv_virtio_fini(&v);
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "vdm stops cleanly");
	peer_stop(&daemon, SIGTERM);
	if (drv_failures())
		peer_dump_log("vdm-vhost-user's log", log_path);
	unlink(log_path);
	rmdir(dir);
	return drv_result();
}
