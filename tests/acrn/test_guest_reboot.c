/*
 * test_guest_reboot.c - a guest reboot where vdm is the platform (ACRN,
 * over the HSM model), in acrn-dm's order: the guest writes the reset
 * control register (0xCF9) with a disk write still in flight; vdm pauses
 * the VM, drops its outstanding requests, resets every PCI function,
 * resets the vCPUs, loads the kernel again (the model's boot check passes
 * a second time, the MP table routing the disk's INTx where its interrupt
 * line register says) and runs the VM.  The driver then finds its functions
 * reset (decode off), brings the disk up again and reads back the write
 * acknowledged before the reset.  A second reboot goes through the i8042's
 * pulse-reset command (0xFE to port 0x64).  Without a kernel to load (no
 * -k) the same write stops vdm with status 0; ACPI soft-off (S5 in the PM1
 * control register) stops it with status 0 too.
 */
#include "blk_guest.h"
#include "drv.h"
#include "drv_virtio.h"
#include "fake_bzimage.h"
#include "hsm.h"
#include "vdm_log.h"

#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/virtio_blk.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLK_SLOT 3

static char dir[] = "/tmp/vdm-reboot-XXXXXX";

/* The guest's disk: blk_guest.h's, and the functions it was found among
 * (the transport keeps a pointer into them). */
struct disk {
	struct drv_func funcs[8];
	struct blk_guest g;
};

/* Find, map and bring up the virtio-blk at BLK_SLOT (after a reset too). */
static bool disk_up(struct drv *d, struct disk *k)
{
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int n = drv_enumerate(d, k->funcs, 8);

	return blk_guest_up(&k->g, d, k->funcs, n, BLK_SLOT, 16 << 20, 4096,
			    1ULL << VIRTIO_BLK_F_FLUSH, &mmio, &io) == 0;
}

/* A write of 4 KiB of fill at sector, posted and kicked, not waited for. */
static int post_write(struct disk *k, uint64_t sector, uint8_t fill)
{
	memset(blk_guest_buf(&k->g), fill, 4096);
	int id = blk_guest_post(&k->g, VIRTIO_BLK_T_OUT, sector, 4096);

	drv_virtio_kick(&k->g.v, 0);
	return id;
}

/* Wait until the function's command register reads 0: its reset is done. */
static bool reset_seen(struct drv *d)
{
	for (int i = 0; i < 500; i++) {
		if ((drv_cfg_read(d, hsm_bdf(0, BLK_SLOT, 0), 4, 2) & 0x6) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

static bool log_has(const char *log, const char *what, int times)
{
	int n = 0;

	for (const char *p = strstr(log, what); p; p = strstr(p + 1, what))
		n++;
	return n == times;
}

/* The ioctls the model logged from the first reset request on, in order. */
static bool reboot_order(const char *log)
{
	static const char *const order[] = { "reset requested by the guest", "ACRN_IOCTL_PAUSE_VM",
					     "ACRN_IOCTL_CLEAR_VM_IOREQ", "ACRN_IOCTL_RESET_VM",
					     "ACRN_IOCTL_SET_VCPU_REGS", "ACRN_IOCTL_START_VM",
					     "guest rebooted (1 so far)" };
	const char *p = log;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		p = strstr(p, order[i]);
		if (!p)
			return false;
	}
	return true;
}

static void reboots(const char *kernel, const char *img)
{
	char logpath[200], log[65536];
	struct vdm_proc p;
	struct drv d;
	struct disk k;
	int st;

	snprintf(logpath, sizeof(logpath), "%s/vdm.log", dir);
	char blk[200];

	snprintf(blk, sizeof(blk), "%d,virtio-blk,%s", BLK_SLOT, img);
	if (vdm_spawn(&p, (const char *const[]){ "-v", "--log-file", logpath, "-k", kernel, "-B",
						 "console=ttyS0", "-s", "0:0,hostbridge", "-s", blk,
						 "POST_STD_VM1", NULL },
		      &st)) {
		drv_check(false, "vdm starts with -k over the model (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	/* The line register as vdm wrote it, before the driver plays firmware
	 * and writes its own: the MP table must route 03.A there. */
	char mp_route[32];
	unsigned line = drv_cfg_read(&d, hsm_bdf(0, BLK_SLOT, 0), PCI_INTERRUPT_LINE, 1);

	snprintf(mp_route, sizeof(mp_route), " %02x.A=GSI%u", BLK_SLOT, line);
	if (!drv_check(disk_up(&d, &k), "the disk comes up"))
		return;
	memset(blk_guest_buf(&k.g), 0xa1, 4096);
	drv_check(blk_guest_rw(&k.g, VIRTIO_BLK_T_OUT, 8, 4096) == VIRTIO_BLK_S_OK,
		  "a write is acknowledged");
	int inflight = post_write(&k, 16, 0xb2);

	drv_pio_write(&d, 0xcf9, 1, 0x06); /* system reset, with a write in flight */
	drv_check(inflight >= 0 && reset_seen(&d), "the reset control register resets the machine: "
						   "the disk's decode is off");
	drv_check(disk_up(&d, &k), "the driver brings the disk up again after the reboot");
	drv_check(blk_guest_rw(&k.g, VIRTIO_BLK_T_IN, 8, 4096) == VIRTIO_BLK_S_OK &&
			  blk_guest_buf_is(&k.g, 0xa1, 4096),
		  "the write acknowledged before the reboot reads back");

	drv_pio_write(&d, 0x64, 1, 0xfe); /* the i8042's pulse reset */
	drv_check(reset_seen(&d), "the i8042 pulse reset reboots it too");
	drv_check(disk_up(&d, &k) && blk_guest_rw(&k.g, VIRTIO_BLK_T_IN, 8, 4096) == VIRTIO_BLK_S_OK,
		  "and the disk serves again");
	drv_disconnect(&d);
	st = vdm_stop(&p);
	read_log(logpath, log, sizeof(log));
	drv_check(st == 0, "vdm stops cleanly after two reboots (%d)", st);
	drv_check(reboot_order(log), "the first reboot in acrn-dm's order: PAUSE_VM, CLEAR_VM_IOREQ, "
				     "RESET_VM, SET_VCPU_REGS, START_VM");
	drv_check(log_has(log, "guest rebooted (2 so far)", 1), "two reboots logged");
	drv_check(log_has(log, "boot check: passed", 3) && !strstr(log, "protocol violation:"),
		  "the model's boot check passed at each of the three starts, no violation");
	drv_check(line >= 16 && line < 0xff && log_has(log, mp_route, 3),
		  "at each start the MP table routes the disk's INTA# to GSI %u, its interrupt line "
		  "register (and the _PRT agrees: the boot check passed)",
		  line);
	if (drv_failures())
		fprintf(stderr, "%s\n", log);
	unlink(logpath);
}

/* Whether vdm ends on its own within 5 s with status 0 (else it is
 * stopped). */
static bool exits_cleanly(struct vdm_proc *p)
{
	int st = -1;

	for (int i = 0; i < 500; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
		usleep(10000);
	}
	vdm_stop(p);
	return false;
}

/* Without -k there is no guest to start again: vdm stops, status 0. */
static void stops_without_kernel(void)
{
	struct vdm_proc p;
	struct drv d;
	int st = -1;

	if (vdm_spawn(&p, (const char *const[]){ "-s", "0:0,hostbridge", NULL }, &st)) {
		drv_check(false, "vdm starts without -k (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	drv_pio_write(&d, 0xcf9, 1, 0x06);
	drv_check(exits_cleanly(&p), "a guest reset with nothing to load again stops vdm, status 0");
	drv_disconnect(&d);
}

/* ACPI soft-off: SLP_EN with \_S5's sleep type in PM1a_CNT stops vdm,
 * status 0, the VM torn down as at SIGTERM (PAUSE_VM before DESTROY_VM). */
static void powers_off(const char *kernel)
{
	char logpath[200], log[65536];
	struct vdm_proc p;
	struct drv d;
	int st = -1;

	snprintf(logpath, sizeof(logpath), "%s/off.log", dir);
	if (vdm_spawn(&p, (const char *const[]){ "-v", "--log-file", logpath, "-k", kernel, "-s",
						 "0:0,hostbridge", NULL },
		      &st)) {
		drv_check(false, "vdm starts with -k (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	drv_check(drv_pio_read(&d, 0x404, 2) & 1, "PM1a_CNT reads SCI_EN: ACPI is on");
	drv_pio_write(&d, 0x404, 2, 5 << 10 | 1 << 13);
	drv_check(exits_cleanly(&p), "the guest's S5 stops vdm, status 0");
	drv_disconnect(&d);
	read_log(logpath, log, sizeof(log));
	const char *off = strstr(log, "the guest powered off");
	const char *pause = off ? strstr(off, "ACRN_IOCTL_PAUSE_VM") : NULL;

	drv_check(pause && strstr(pause, "ACRN_IOCTL_DESTROY_VM"),
		  "logged, then PAUSE_VM and DESTROY_VM in that order");
	unlink(logpath);
}

int main(void)
{
	char kernel[200], img[200];
	int fd;

	setenv("VDM_TEST_HSM", "acrn", 1);
	drv_use_acrn_model();
	if (!mkdtemp(dir))
		return 99;
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	write_kernel(kernel, &fake_good);
	fd = open(img, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20))
		return 99;
	close(fd);
	reboots(kernel, img);
	stops_without_kernel();
	powers_off(kernel);
	unlink(kernel);
	unlink(img);
	rmdir(dir);
	return drv_result();
}
