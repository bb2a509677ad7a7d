/*
 * test_route_switch.c - moving a running virtio-blk between VBS-U and a
 * vhost-user back-end we did not write (qemu-storage-daemon exporting the
 * same image) through the management API, while the guest does I/O.
 *
 * The driver writes blocks with distinct patterns and reads each back,
 * one request after another, while a second thread asks vdm
 * (`set-route` on --api-socket) to switch the disk 20 times between
 * "vbs-u" and "vhost-user:SOCK".  Every request must complete OK and read
 * back what was written, the device must never need a reset, the image
 * must hold every write afterwards, and query-stats must count 20 switches.
 * Then the failures: a switch to a read-only export (the guest writes), of
 * a disk whose driver negotiated the packed ring (which qsd's export does
 * not have), to an absent socket and to a back-end that was killed are
 * refused with a reason and the disk keeps serving on VBS-U.  Both sides use
 * the page cache and locking=off (two writers on one image, on purpose).  Skipped (77) without qemu-storage-daemon.
 */
#include "api_client.h"
#include "blk_guest.h"
#include "peer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define SLOT 3
#define IMAGE_SIZE (16 << 20)
#define BLOCK 4096
#define SWITCHES 20

static char dir[] = "/tmp/vdm-switch-XXXXXX", img[96], qsd_sock[96], api_sock[96];
static atomic_bool switching_done;
static int switch_failures;
static char last_reply[4096];

static bool api_call_here(const char *request)
{
	return api_call(api_sock, request, last_reply, sizeof(last_reply));
}

static bool set_route(const char *route)
{
	return api_set_route(api_sock, SLOT, route, last_reply, sizeof(last_reply));
}

static void *switcher(void *arg)
{
	char vu[128];

	(void)arg;
	snprintf(vu, sizeof(vu), "vhost-user:%s", qsd_sock);
	for (int i = 0; i < SWITCHES; i++) {
		sleep_ms(30); /* let some requests through on each route */
		if (!set_route(i % 2 ? "vbs-u" : vu)) {
			fprintf(stderr, "switch %d failed: %s\n", i, last_reply);
			switch_failures++;
		}
	}
	atomic_store(&switching_done, true);
	return NULL;
}

static unsigned pattern_seed(unsigned i)
{
	return i * 2654435761u + 7;
}

int main(void)
{
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct blk_guest g;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	static uint8_t want[BLOCK];
	char blockdev[200], export[240], spec[160];
	pid_t qsd;
	pthread_t t;
	int st;

	if (system("command -v qemu-storage-daemon >/dev/null 2>&1")) {
		printf("SKIP: qemu-storage-daemon is not installed\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 99;
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(qsd_sock, sizeof(qsd_sock), "%s/qsd.sock", dir);
	snprintf(api_sock, sizeof(api_sock), "%s/api.sock", dir);
	blk_image_create(img, IMAGE_SIZE);
	snprintf(blockdev, sizeof(blockdev),
		 "driver=file,node-name=d0,filename=%s,cache.direct=off,locking=off", img);
	snprintf(export, sizeof(export),
		 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,writable=on",
		 qsd_sock);
	char qsd_log[128];
	snprintf(qsd_log, sizeof(qsd_log), "%s/qsd.log", dir);
	qsd = peer_spawn((char *const[]){ "qemu-storage-daemon", "--blockdev", blockdev,
					  "--export", export, NULL },
			 qsd_log);
	if (peer_wait_socket(&qsd, qsd_sock, 5000)) {
		drv_check(false, "qemu-storage-daemon starts");
		return drv_result();
	}
	snprintf(spec, sizeof(spec), "%d,virtio-blk,%s,locking=off", SLOT, img);
	if (vdm_spawn(&p, (const char *const[]){ "--api-socket", api_sock, "-s", spec, NULL },
		      &st)) {
		drv_check(false, "vdm starts (%d)", st);
		peer_stop(&qsd, SIGTERM);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	if (blk_guest_up(&g, &d, funcs, nf, SLOT, 16 << 20, BLOCK,
			 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_BLK_F_FLUSH), &mmio,
			 &io)) {
		drv_check(false, "virtio-blk set up");
		return drv_result();
	}

	/* I/O while the route moves under it. */
	pthread_create(&t, NULL, switcher, NULL);
	unsigned n = 0, bad_status = 0, bad_data = 0;
	const unsigned nblocks = IMAGE_SIZE / BLOCK;
	while (!atomic_load(&switching_done) || n < 200) {
		uint64_t sector = (uint64_t)(n % nblocks) * (BLOCK / 512);

		blk_pattern(blk_guest_buf(&g), BLOCK, pattern_seed(n));
		bad_status += blk_guest_rw(&g, VIRTIO_BLK_T_OUT, sector, BLOCK) != VIRTIO_BLK_S_OK;
		memset(blk_guest_buf(&g), 0, BLOCK);
		bad_status += blk_guest_rw(&g, VIRTIO_BLK_T_IN, sector, BLOCK) != VIRTIO_BLK_S_OK;
		blk_pattern(want, BLOCK, pattern_seed(n));
		bad_data += memcmp(blk_guest_buf(&g), want, BLOCK) != 0;
		n++;
		if (n > 100000)
			break;
	}
	pthread_join(t, NULL);
	drv_check(switch_failures == 0, "%d route switches while the guest did I/O (%d failed)",
		  SWITCHES, switch_failures);
	drv_check(bad_status == 0 && bad_data == 0,
		  "%u write+read pairs across the switches: %u bad status, %u wrong data", n,
		  bad_status, bad_data);
	drv_check(!(drv_virtio_status(&g.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "the device never needed a reset");
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_FLUSH, 0, 0) == VIRTIO_BLK_S_OK, "FLUSH at the end");
	bool in_image = true;
	for (unsigned i = n > nblocks ? n - nblocks : 0; i < n; i++) {
		blk_pattern(want, BLOCK, pattern_seed(i));
		in_image &= image_has(img, (uint64_t)(i % nblocks) * BLOCK, want, BLOCK);
	}
	drv_check(in_image, "every write is in the image");
	char req[200];
	snprintf(req, sizeof(req),
		 "{\"execute\": \"query-stats\", \"arguments\": {\"slot\": \"%d\"}}", SLOT);
	drv_check(api_call_here(req) && strstr(last_reply, "\"route_switches\":20"),
		  "query-stats counts 20 switches: %s", last_reply);

	/* A back-end that cannot serve what the guest uses is refused before
	 * anything moves: a read-only export of the same image. */
	char ro_sock[120], ro_export[240], ro_route[140];
	snprintf(ro_sock, sizeof(ro_sock), "%s/qsd-ro.sock", dir);
	snprintf(ro_export, sizeof(ro_export),
		 "type=vhost-user-blk,id=e1,node-name=d1,addr.type=unix,addr.path=%s,writable=off",
		 ro_sock);
	snprintf(blockdev, sizeof(blockdev),
		 "driver=file,node-name=d1,filename=%s,cache.direct=off,locking=off,read-only=on",
		 img);
	pid_t qsd_ro = peer_spawn((char *const[]){ "qemu-storage-daemon", "--blockdev", blockdev,
						   "--export", ro_export, NULL },
				  NULL);
	snprintf(ro_route, sizeof(ro_route), "vhost-user:%s", ro_sock);
	if (peer_wait_socket(&qsd_ro, ro_sock, 5000) == 0)
		drv_check(!set_route(ro_route) && strstr(last_reply, "read-only"),
			  "a switch to a read-only export is refused, saying why: %s", last_reply);
	else
		drv_check(false, "a read-only qemu-storage-daemon starts");
	peer_stop(&qsd_ro, SIGTERM);

	/* vdm offers the packed ring, qsd's export does not: once the driver
	 * negotiated it, a switch to qsd is refused, naming the feature. */
	char vu_qsd[128];
	snprintf(vu_qsd, sizeof(vu_qsd), "vhost-user:%s", qsd_sock);
	if (drv_check(drv_virtio_negotiate(&g.v, (1ULL << VIRTIO_F_VERSION_1) |
							 (1ULL << VIRTIO_RING_F_EVENT_IDX) |
							 (1ULL << VIRTIO_BLK_F_FLUSH) |
							 (1ULL << VIRTIO_F_RING_PACKED)) == 0 &&
				  drv_virtio_setup_irq(&g.v, true) == 0 &&
				  drv_virtio_setup_vq(&g.v, 0, 0) == 0 && g.v.vq[0].packed,
		      "reset, and the packed ring negotiated")) {
		drv_virtio_driver_ok(&g.v);
		drv_check(!set_route(vu_qsd) && strstr(last_reply, "RING_PACKED"),
			  "a packed ring's switch to qemu-storage-daemon is refused, naming the "
			  "feature: %s",
			  last_reply);
		blk_pattern(blk_guest_buf(&g), BLOCK, 777);
		drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_OUT, 8, BLOCK) == VIRTIO_BLK_S_OK &&
				  blk_guest_rw(&g, VIRTIO_BLK_T_IN, 8, BLOCK) == VIRTIO_BLK_S_OK,
			  "and the disk keeps serving its packed ring on VBS-U");
	}

	/* Failures leave the disk serving where it is (VBS-U after 20 switches). */
	char absent[160];
	snprintf(absent, sizeof(absent), "vhost-user:%s/absent.sock", dir);
	drv_check(!set_route(absent) && strstr(last_reply, "absent.sock"),
		  "a switch to an absent socket is refused, naming it: %s", last_reply);
	peer_stop(&qsd, SIGKILL);
	char vu[128];
	snprintf(vu, sizeof(vu), "vhost-user:%s", qsd_sock);
	drv_check(!set_route(vu), "a switch to a killed back-end is refused: %s", last_reply);
	blk_pattern(blk_guest_buf(&g), BLOCK, 12345);
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_OUT, 0, BLOCK) == VIRTIO_BLK_S_OK &&
			  blk_guest_rw(&g, VIRTIO_BLK_T_IN, 0, BLOCK) == VIRTIO_BLK_S_OK,
		  "the disk still serves on VBS-U");
	drv_check(api_call_here("{\"execute\": \"query-devices\"}") &&
			  strstr(last_reply, "\"route\":\"vbs-u\""),
		  "query-devices says vbs-u");
	drv_virtio_fini(&g.v);
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "vdm stops cleanly");
	unlink(img);
	unlink(qsd_sock);
	rmdir(dir);
	return drv_result();
}
