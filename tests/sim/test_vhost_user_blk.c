/*
 * test_vhost_user_blk.c - virtio-blk routed with vhost=user: to a real
 * vhost-user back-end we did not write, qemu-storage-daemon's
 * vhost-user-blk export, beside a VBS-U disk in the same VM:
 *   - the routed disk's config (capacity) comes from the back-end, its
 *     features are masked by what the back-end offers;
 *   - writes through both disks read back and are found in their image
 *     files by the host, with MSI-X (the back-end's call fd is the vector's
 *     irqfd) and with INTx (vdm turns the call fd into ISR + INTx);
 *   - a device reset stops the rings (GET_VRING_BASE) and they start again;
 *   - killing qemu-storage-daemon puts only the routed disk in
 *     DEVICE_NEEDS_RESET: vdm and the VBS-U disk go on serving;
 *   - with reconnect=1, a restarted daemon and a guest reset bring it back;
 *   - start-up errors: no back-end listening, options that make no sense.
 * Skipped (77) when qemu-storage-daemon is not installed.
 */
#include "blk_guest.h"
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/virtio_blk.h>

#define VU_SLOT 4
#define VBSU_SLOT 5
#define IMG_BYTES (8 << 20)

struct disk {
	struct drv_func f;
	struct drv_virtio v;
	uint64_t hdr, data, status;
};

struct vm {
	struct vdm_proc p;
	struct drv d;
	struct disk vu, vbsu;
};

static char dir[] = "/tmp/vdm-vublk-XXXXXX";
static char vu_img[64], vbsu_img[64], sock[64];
static pid_t qsd = -1;

/* Start qemu-storage-daemon exporting vu_img on sock; wait for the socket. */
static bool qsd_start(void)
{
	char blockdev[160], export[200];

	unlink(sock);
	snprintf(blockdev, sizeof(blockdev), "driver=file,node-name=disk0,filename=%s", vu_img);
	snprintf(export, sizeof(export),
		 "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=%s,"
		 "writable=on",
		 sock);
	qsd = peer_spawn((char *const[]){ "qemu-storage-daemon", "--blockdev", blockdev, "--export",
					  export, NULL },
			 NULL);
	return peer_wait_socket(&qsd, sock, 5000) == 0;
}

static void qsd_kill(void)
{
	peer_stop(&qsd, SIGKILL);
}

static bool disk_init(struct vm *m, struct disk *k, bool msix)
{
	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_FLUSH) |
			(1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			(1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX);

	if (drv_virtio_negotiate(&k->v, want) || drv_virtio_setup_irq(&k->v, msix) ||
	    drv_virtio_setup_vq(&k->v, 0, 0))
		return false;
	drv_virtio_driver_ok(&k->v);
	return !(drv_virtio_status(&k->v) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static bool vm_start(struct vm *m, const char *vu_extra, int *status)
{
	char vu[160], vb[160];
	struct drv_func funcs[8];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int n;

	memset(m, 0, sizeof(*m));
	snprintf(vu, sizeof(vu), "%d,virtio-blk,vhost=user:%s%s", VU_SLOT, sock, vu_extra);
	snprintf(vb, sizeof(vb), "%d,virtio-blk,%s", VBSU_SLOT, vbsu_img);
	if (vdm_spawn(&m->p, (const char *const[]){ "-s", vu, "-s", vb, NULL }, status))
		return false;
	drv_connect(&m->d, m->p.sock);
	n = drv_enumerate(&m->d, funcs, 8);
	for (int i = 0; i < n; i++) {
		if (funcs[i].bdf == hsm_bdf(0, VU_SLOT, 0))
			m->vu.f = funcs[i];
		if (funcs[i].bdf == hsm_bdf(0, VBSU_SLOT, 0))
			m->vbsu.f = funcs[i];
	}
	drv_assign_bars(&m->d, &m->vu.f, &mmio, &io);
	drv_assign_bars(&m->d, &m->vbsu.f, &mmio, &io);
	struct disk *disks[2] = { &m->vu, &m->vbsu };
	for (int i = 0; i < 2; i++) {
		struct disk *k = disks[i];

		if (drv_virtio_probe(&k->v, &m->d, &k->f, (uint64_t)(16 + 16 * i) << 20))
			return false;
		k->hdr = drv_virtio_alloc(&k->v, 16, 16);
		k->status = drv_virtio_alloc(&k->v, 1, 1);
		k->data = drv_virtio_alloc(&k->v, 1 << 20, 4096);
	}
	return true;
}

/* One request of len bytes at sector; returns the status byte or -1. */
static int disk_req(struct vm *m, struct disk *k, uint32_t type, uint64_t sector, uint32_t len)
{
	struct virtio_blk_outhdr *h = drv_gpa(&m->d, k->hdr, sizeof(*h));
	struct drv_buf out[2], in[2];
	int nout = 0, nin = 0;
	uint16_t id;

	*h = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	*(uint8_t *)drv_gpa(&m->d, k->status, 1) = 0xee;
	out[nout++] = (struct drv_buf){ k->hdr, 16 };
	if (len && type == VIRTIO_BLK_T_OUT)
		out[nout++] = (struct drv_buf){ k->data, len };
	else if (len)
		in[nin++] = (struct drv_buf){ k->data, len };
	in[nin++] = (struct drv_buf){ k->status, 1 };
	if (drv_virtio_post(&k->v, 0, out, nout, in, nin, false) < 0)
		return -1;
	drv_virtio_kick(&k->v, 0);
	if (drv_virtio_wait_used(&k->v, 0, &id, NULL, 5000) != 1)
		return -1;
	return *(uint8_t *)drv_gpa(&m->d, k->status, 1);
}

/* Write a pattern, FLUSH, read it back; the host finds it in img. */
static bool round_trip(struct vm *m, struct disk *k, const char *img, uint64_t sector,
		       uint32_t len, unsigned seed)
{
	static uint8_t pat[1 << 20];
	uint8_t *buf = drv_gpa(&m->d, k->data, len);

	blk_pattern(pat, len, seed);
	memcpy(buf, pat, len);
	if (disk_req(m, k, VIRTIO_BLK_T_OUT, sector, len) != VIRTIO_BLK_S_OK ||
	    disk_req(m, k, VIRTIO_BLK_T_FLUSH, 0, 0) != VIRTIO_BLK_S_OK)
		return false;
	memset(buf, 0, len);
	return disk_req(m, k, VIRTIO_BLK_T_IN, sector, len) == VIRTIO_BLK_S_OK &&
	       !memcmp(buf, pat, len) && image_has(img, sector * 512, pat, len);
}

/*
 * With the queue's MSI-X vector masked, a completion from the back-end
 * pends: the used entry arrives, no interrupt does, the PBA shows the
 * vector's bit; unmasking delivers exactly one interrupt and clears it.
 */
static void masked_completion(struct vm *m, struct disk *k)
{
	const int vec = 1; /* queue 0's, as drv_virtio_setup_irq assigns */
	uint64_t ctrl = k->v.msix_table + (uint64_t)vec * PCI_MSIX_ENTRY_SIZE +
			PCI_MSIX_ENTRY_VECTOR_CTRL;
	struct drv_buf out = { k->hdr, 16 }, in[2] = { { k->data, 4096 }, { k->status, 1 } };
	struct virtio_blk_outhdr *h = drv_gpa(&m->d, k->hdr, sizeof(*h));
	bool used = false, pending = false;

	drv_mmio_write(&m->d, ctrl, 4, PCI_MSIX_ENTRY_CTRL_MASKBIT);
	drv_virtio_clear_stats(&k->v);
	*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 0 };
	if (drv_virtio_post(&k->v, 0, &out, 1, in, 2, false) < 0)
		return (void)drv_check(false, "masked vector: request posted");
	drv_virtio_kick(&k->v, 0);
	/* The back-end writes the used entry, then signals: poll for both. */
	for (int i = 0; i < 500 && !(used && pending); i++) {
		used = used || drv_virtio_get_used(&k->v, 0, NULL, NULL) == 1;
		pending = drv_mmio_read(&m->d, k->v.msix_pba, 8) >> vec & 1;
		if (!(used && pending))
			sleep_ms(10);
	}
	drv_virtio_wait_irq(&k->v, 100); /* account anything that did arrive */
	drv_check(used && pending && k->v.msi_vec_count[vec] == 0,
		  "masked vector: the back-end's completion arrives, no interrupt, the PBA bit is "
		  "set (used %d, pending %d, %d MSI)", used, pending, k->v.msi_vec_count[vec]);
	drv_mmio_write(&m->d, ctrl, 4, 0);
	drv_virtio_wait_irq(&k->v, 2000);
	drv_virtio_wait_irq(&k->v, 100);
	drv_check(k->v.msi_vec_count[vec] == 1 && !(drv_mmio_read(&m->d, k->v.msix_pba, 8) >> vec & 1),
		  "unmasking delivers the pending interrupt once and clears the PBA bit (%d MSI)",
		  k->v.msi_vec_count[vec]);
}

static void test_serve(void)
{
	struct vm m;
	int st;

	if (!drv_check(qsd_start(), "qemu-storage-daemon listens on %s", sock))
		return;
	if (!drv_check(vm_start(&m, "", &st), "vdm starts with a vhost-user disk and a VBS-U disk"))
		return;
	drv_check(m.vu.f.vendor == 0x1af4 && m.vu.f.device == 0x1042,
		  "the routed disk is a virtio-blk function (%04x:%04x)", m.vu.f.vendor,
		  m.vu.f.device);
	uint64_t offered = drv_virtio_device_features(&m.vu.v);
	drv_check((offered & (1ULL << VIRTIO_F_VERSION_1)) &&
			  (offered & (1ULL << VIRTIO_BLK_F_FLUSH)) &&
			  !(offered & (1ULL << VIRTIO_BLK_F_MQ)) &&
			  !(offered & (1ULL << VIRTIO_F_RING_PACKED)),
		  "offer: VERSION_1 and FLUSH from the back-end, no MQ or packed ring (%#llx)",
		  (unsigned long long)offered);
	drv_check(drv_virtio_cfg_read(&m.vu.v, 0, 8) == IMG_BYTES / 512,
		  "capacity comes from the back-end: %llu sectors",
		  (unsigned long long)drv_virtio_cfg_read(&m.vu.v, 0, 8));
	if (!drv_check(disk_init(&m, &m.vu, true) && disk_init(&m, &m.vbsu, true),
		       "both disks initialise (MSI-X)"))
		goto out;
	drv_virtio_clear_stats(&m.vu.v);
	drv_check(round_trip(&m, &m.vu, vu_img, 0, 65536, 1) &&
			  round_trip(&m, &m.vu, vu_img, 4096, 1 << 20, 2),
		  "routed disk: written, flushed, read back, found in qemu-storage-daemon's image");
	drv_check(m.vu.v.msi_vec_count[1] > 0 && m.vu.v.intx_count == 0,
		  "routed disk: completions interrupt through the queue's MSI-X vector (%d MSI, "
		  "%d INTx)",
		  m.vu.v.msi_vec_count[1], m.vu.v.intx_count);
	drv_check(round_trip(&m, &m.vbsu, vbsu_img, 8, 65536, 3),
		  "VBS-U disk in the same VM: written, read back, found in its image");
	masked_completion(&m, &m.vu);

	/* Reset: rings stop, and start again from index 0 on INTx. */
	if (drv_check(disk_init(&m, &m.vu, false), "routed disk re-initialises after a reset")) {
		drv_virtio_clear_stats(&m.vu.v);
		drv_check(round_trip(&m, &m.vu, vu_img, 100, 4096, 4),
			  "routed disk serves I/O again after the reset");
		drv_check(m.vu.v.intx_count > 0 && m.vu.v.isr_queue_count > 0,
			  "with INTx, vdm turns the back-end's call into ISR + INTx (%d INTx)",
			  m.vu.v.intx_count);
	}

	/* The back-end dies. */
	qsd_kill();
	uint8_t status = 0;
	for (int i = 0; i < 100 && !(status & VIRTIO_CONFIG_S_NEEDS_RESET); i++) {
		drv_virtio_wait_irq(&m.vu.v, 50);
		status = drv_virtio_status(&m.vu.v);
	}
	drv_check(status & VIRTIO_CONFIG_S_NEEDS_RESET,
		  "killing the back-end sets DEVICE_NEEDS_RESET on the routed disk (status %#x)",
		  status);
	/* INTx is a level: if the line was still up from a completion, the
	 * change shows in the ISR rather than as a new assertion. */
	uint8_t isr = drv_virtio_isr_read(&m.vu.v);
	drv_check(m.vu.v.config_irq_count > 0 || (isr & VIRTIO_PCI_ISR_CONFIG),
		  "...and the driver is told: a config interrupt (ISR %#x)", isr);
	drv_check(!(drv_virtio_status(&m.vbsu.v) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
			  round_trip(&m, &m.vbsu, vbsu_img, 64, 65536, 5),
		  "the VBS-U disk keeps serving");
	drv_check(!disk_init(&m, &m.vu, true),
		  "without reconnect=, the routed disk cannot start again (no back-end)");
out:
	drv_virtio_fini(&m.vu.v);
	drv_virtio_fini(&m.vbsu.v);
	drv_disconnect(&m.d);
	drv_check(vdm_stop(&m.p) == 0, "vdm is still alive and stops cleanly");
	qsd_kill();
}

static void test_reconnect(void)
{
	struct vm m;
	int st;

	if (!drv_check(qsd_start(), "qemu-storage-daemon listens again"))
		return;
	if (!drv_check(vm_start(&m, ",reconnect=1", &st), "vdm starts with reconnect=1"))
		return;
	if (!drv_check(disk_init(&m, &m.vu, true) && disk_init(&m, &m.vbsu, true),
		       "reconnect: both disks initialise"))
		goto out;
	drv_check(round_trip(&m, &m.vu, vu_img, 200, 8192, 6), "reconnect: routed disk serves");
	qsd_kill();
	uint8_t status = 0;
	for (int i = 0; i < 100 && !(status & VIRTIO_CONFIG_S_NEEDS_RESET); i++) {
		sleep_ms(50);
		status = drv_virtio_status(&m.vu.v);
	}
	drv_check(status & VIRTIO_CONFIG_S_NEEDS_RESET, "reconnect: the loss is seen");
	if (!drv_check(qsd_start(), "reconnect: the daemon is restarted"))
		goto out;
	/* vdm retries every second; the driver resets until the device takes. */
	bool back = false;
	for (int i = 0; i < 40 && !back; i++) {
		sleep_ms(250);
		back = disk_init(&m, &m.vu, true);
	}
	drv_check(back, "reconnect: after a guest reset the device runs again");
	drv_check(back && round_trip(&m, &m.vu, vu_img, 300, 65536, 7),
		  "reconnect: routed disk serves I/O on the new back-end");
	drv_check(round_trip(&m, &m.vbsu, vbsu_img, 400, 4096, 8),
		  "reconnect: the VBS-U disk served throughout");
out:
	drv_virtio_fini(&m.vu.v);
	drv_virtio_fini(&m.vbsu.v);
	drv_disconnect(&m.d);
	drv_check(vdm_stop(&m.p) == 0, "reconnect: vdm stops cleanly");
	qsd_kill();
}

static void expect_refused(const char *spec, int want_status, const char *want_text,
			   const char *what)
{
	char out[512];
	int st = vdm_run((const char *const[]){ "--hsm", "sim", "-s", spec, NULL }, out,
			 sizeof(out));

	drv_check(st == want_status && strstr(out, want_text),
		  "%s: exit %d (want %d), an error naming the problem: %s", what, st, want_status,
		  out);
}

static void test_errors(void)
{
	char spec[160];

	snprintf(spec, sizeof(spec), "4,virtio-blk,vhost=user:%s/nobody.sock", dir);
	expect_refused(spec, 1, "nobody.sock", "no back-end listening");
	expect_refused("4,virtio-blk,vhost=kernel", 2, "no kernel vhost",
		       "vhost=kernel on virtio-blk");
	snprintf(spec, sizeof(spec), "4,virtio-blk,vhost=user:%s,ro", sock);
	expect_refused(spec, 2, "back-end owns the disk", "an image option with vhost=user");
	expect_refused("4,virtio-blk,vhost=bogus", 2, "vhost=bogus", "an unknown route");
	expect_refused("4,virtio-blk,disk.img,reconnect=0", 2, "reconnect", "reconnect=0");
}

int main(void)
{
	if (system("command -v qemu-storage-daemon >/dev/null 2>&1") != 0) {
		printf("SKIP: qemu-storage-daemon is not installed (Debian: qemu-system-common)\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 99;
	snprintf(vu_img, sizeof(vu_img), "%s/vu.img", dir);
	snprintf(vbsu_img, sizeof(vbsu_img), "%s/vbsu.img", dir);
	snprintf(sock, sizeof(sock), "%s/blk.sock", dir);
	blk_image_create(vu_img, IMG_BYTES);
	blk_image_create(vbsu_img, IMG_BYTES);
	test_serve();
	test_reconnect();
	test_errors();
	qsd_kill();
	unlink(vu_img);
	unlink(vbsu_img);
	unlink(sock);
	rmdir(dir);
	return drv_result();
}
