/*
 * test_acrn_cmdline.c - vdm runs an acrn-dm command line as acrn-dm's launch
 * scripts write it: the devices of ACRN's sample script
 * misc/config_tools/data/generic_board/sample_launch_scripts/
 * launch_user_vm_id2.sh (hostbridge, virtio-console "@stdio:stdio_port",
 * virtio-net "tap=RT,mac_seed=MAC-POST_RT_VM1", virtio-blk, --virtio_poll,
 * --logger_setting, -m 1024M, the VM name last), with the console on a
 * socket instead of vdm's stdin, a boot mark ("b,"), acrn-dm's
 * sectorsize=L/P and discard=S:G:A on the disk, and the '/' and '.'
 * address separators acrn-dm also takes.  Left out: --rtvm, --lapic_pt
 * (refused, test_cli), --ovmf (ACRN only, tests/acrn/test_ovmf) and
 * --cpu_affinity (ACRN only, test_acrn).  The driver then finds every function where the script put
 * it, reads the MAC acrn-dm would have derived from mac_seed (worked out
 * here independently: MD5 of "4-0-SEED" by Python's hashlib, fixed below),
 * and vdm's log names the VM.  The same command line also carries the
 * acrn-dm options vdm takes without acting on them (-A, --mptgen, the
 * obsolete ones acrn-dm ignores too, --iasl), each noted in the log.
 *
 * First, acrn-dm's options vdm does not support (acrn_only_refused): each
 * exits 2 with exactly one line naming it as acrn-dm's, before vdm touches
 * anything (the --log-file and the COM1 file given ahead of it are not
 * created).
 */
#include "blk_guest.h"
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"
#include "netns_tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEED "00:16:3e:01:02:03-POST_RT_VM1"
/* 00:16:3e, then the first three bytes of md5("4-0-" SEED). */
static const uint8_t want_mac[6] = { 0x00, 0x16, 0x3e, 0x88, 0x75, 0x12 };

static bool has_function(const struct drv_func *f, int n, int slot, uint16_t device)
{
	for (int i = 0; i < n; i++)
		if (f[i].bdf == hsm_bdf(0, slot, 0) && f[i].device == device)
			return true;
	return false;
}

#define NOT_SUPPORTED "an acrn-dm option vdm does not support: "
#define REAL_TIME "real-time VMs (LAPIC pass-through, polled I/O completion)"

static void acrn_only_refused(void)
{
	static const struct {
		const char *opt, *arg, *line;
	} cases[] = {
		{ "-E", "vm.elf", "'-E/--elf_file': " NOT_SUPPORTED
				  "loading an ELF guest image (vdm loads -k or --ovmf)" },
		{ "--elf_file", "vm.elf", "'-E/--elf_file': " NOT_SUPPORTED
					  "loading an ELF guest image (vdm loads -k or --ovmf)" },
		{ "--enable_trusty", NULL, "'--enable_trusty': " NOT_SUPPORTED "a Trusty secure world" },
		{ "--debugexit", NULL, "'--debugexit': " NOT_SUPPORTED "the debug-exit port" },
		{ "--intr_monitor", "10000,10,1,100",
		  "'--intr_monitor': " NOT_SUPPORTED "the interrupt-storm monitor" },
		{ "--cmd_monitor", "/run/acrn/vm1.monitor",
		  "'--cmd_monitor': " NOT_SUPPORTED
		  "the command monitor socket (vdm's management API is --api-socket)" },
		{ "--acpidev_pt", "MSFT0101", "'--acpidev_pt': " NOT_SUPPORTED "passing ACPI devices through" },
		{ "--mmiodev_pt", "0xFED40000,0x00005000",
		  "'--mmiodev_pt': " NOT_SUPPORTED "passing MMIO devices through" },
		{ "--vtpm2", "sock_path=/run/swtpm.sock", "'--vtpm2': " NOT_SUPPORTED "a virtual TPM 2.0" },
		{ "--lapic_pt", NULL, "'--lapic_pt': " NOT_SUPPORTED REAL_TIME },
		{ "--rtvm", NULL, "'--rtvm': " NOT_SUPPORTED REAL_TIME },
		{ "--ssram", NULL, "'--ssram': " NOT_SUPPORTED "software SRAM for real-time VMs" },
		{ "--pm_notify_channel", "uart",
		  "'--pm_notify_channel': " NOT_SUPPORTED "power-event notification channels" },
		{ "--windows", NULL, "'--windows': " NOT_SUPPORTED "Windows guests (Oracle's virtio driver IDs)" },
		{ "--virtio_msi", NULL, "'--virtio_msi': " NOT_SUPPORTED
					"single-vector MSI for virtio devices (vdm offers MSI-X)" },
	};
	char dir[] = "/tmp/vdm-acrn-only-XXXXXX", logpath[200], com[220], out[1024], want[300];

	if (!mkdtemp(dir)) {
		drv_check(false, "a directory for the refusals");
		return;
	}
	snprintf(logpath, sizeof(logpath), "%s/vdm.log", dir);
	snprintf(com, sizeof(com), "com1,file:%s/com1.out", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[12] = { "--log-file", logpath, "-l", com, "-s", "0:0,hostbridge",
					 cases[i].opt };
		int n = 7;

		if (cases[i].arg)
			args[n++] = cases[i].arg;
		args[n++] = "-s";
		args[n++] = "3,virtio-rnd";
		args[n++] = "POST_STD_VM1";
		snprintf(want, sizeof(want), "vdm: %s\n", cases[i].line);
		int st = vdm_run(args, out, sizeof(out));
		char com_out[240];

		snprintf(com_out, sizeof(com_out), "%s/com1.out", dir);
		drv_check(st == 2 && !strcmp(out, want) && access(logpath, F_OK) != 0 &&
				  access(com_out, F_OK) != 0,
			  "%s: exit %d, the one line \"%.*s\", no log file or COM1 file made", cases[i].opt,
			  st, (int)strcspn(out, "\n"), out);
	}
	rmdir(dir);
}

int main(void)
{
	char img[] = "/tmp/vdm-acrn-cmdline-XXXXXX", con[160], blk[200], logarg[200], log[8192];
	struct drv_func funcs[16];
	struct vdm_proc p;
	struct drv d;
	int st, fd;

	acrn_only_refused();
	if (!netns_tap("RT", 1500, "10.0.9.1/24")) {
		printf("SKIP: the launch script's devices need root, /dev/net/tun and ip(8) for a "
		       "TAP in a namespace\n");
		return drv_result();
	}
	fd = mkstemp(img);
	if (fd < 0 || ftruncate(fd, 8 << 20))
		return 99;
	close(fd);
	char dir[] = "/tmp/vdm-acrn-cmdline-dir-XXXXXX";
	if (!mkdtemp(dir))
		return 99;
	snprintf(con, sizeof(con), "3,virtio-console,@socket:stdio_port=%s/con.sock:server", dir);
	snprintf(blk, sizeof(blk), "0/5/0,virtio-blk,b,%s,writeback,sectorsize=512/4096,discard=2048:4:8",
		 img);
	snprintf(logarg, sizeof(logarg), "%s/vdm.log", dir);
	if (vdm_spawn(&p,
		      (const char *const[]){ "-m", "1024M", "-s", "0:0,hostbridge", "--virtio_poll",
					     "1000000", "-s", con, "-s",
					     "4,virtio-net,tap=RT,mac_seed=" SEED, "-s", blk, "-s",
					     "6.0,virtio-rnd", "--logger_setting",
					     "console,level=6;kmsg,level=3;disk,level=5", "--log-file",
					     logarg, "-A", "--mptgen", "-i", "ioc0", "-G", "1,2,3",
					     "--vsbl", "vsbl.bin", "--part_info", "p", "--pm_by_vuart",
					     "pty,/run/acrn/life_mngr", "--mac_seed", "seed", "--iasl",
					     "/usr/sbin/iasl", "POST_RT_VM1", NULL },
		      &st)) {
		drv_check(false, "vdm takes the acrn-dm command line (exit %d)", st);
		return 1;
	}
	drv_connect(&d, p.sock);
	int n = drv_enumerate(&d, funcs, 16);
	drv_check(has_function(funcs, n, 0, 0x1237), "the host bridge at 0:0");
	drv_check(has_function(funcs, n, 3, 0x1043), "virtio-console at slot 3");
	drv_check(has_function(funcs, n, 4, 0x1041), "virtio-net at slot 4");
	drv_check(has_function(funcs, n, 5, 0x1042), "virtio-blk at 0/5/0");
	drv_check(has_function(funcs, n, 6, 0x1044), "virtio-rnd at 6.0");

	struct drv_func net = { 0 };
	struct drv_virtio v;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	uint8_t mac[6];

	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, 4, 0))
			net = funcs[i];
	drv_assign_bars(&d, &net, &mmio, &io);
	if (drv_check(drv_virtio_probe(&v, &d, &net, 16 << 20) == 0, "virtio-net probes")) {
		for (int i = 0; i < 6; i++)
			mac[i] = (uint8_t)drv_virtio_cfg_read(&v, (unsigned)i, 1);
		drv_check(!memcmp(mac, want_mac, 6),
			  "mac_seed gives acrn-dm's MAC: %02x:%02x:%02x:%02x:%02x:%02x", mac[0],
			  mac[1], mac[2], mac[3], mac[4], mac[5]);
	}
	/* The disk: acrn-dm's sectorsize=LOGICAL/PHYSICAL and discard=S:G:A
	 * in its config space, and a DISCARD past those limits refused. */
	struct blk_guest g;

	if (drv_check(blk_guest_up(&g, &d, funcs, n, 5, 32 << 20, 4096,
				   1ULL << VIRTIO_BLK_F_TOPOLOGY | 1ULL << VIRTIO_BLK_F_DISCARD, &mmio,
				   &io) == 0,
		      "virtio-blk comes up")) {
		drv_check(drv_virtio_cfg_read(&g.v, 20, 4) == 512 &&
				  drv_virtio_cfg_read(&g.v, 24, 1) == 3,
			  "sectorsize=512/4096: 512-byte blocks, physical 2^3 of them");
		drv_check(drv_virtio_cfg_read(&g.v, 36, 4) == 2048 &&
				  drv_virtio_cfg_read(&g.v, 40, 4) == 4 &&
				  drv_virtio_cfg_read(&g.v, 44, 4) == 8,
			  "discard=2048:4:8: the limits the guest is told");
		struct virtio_blk_discard_write_zeroes *seg = (void *)blk_guest_buf(&g);

		*seg = (struct virtio_blk_discard_write_zeroes){ .sector = 8, .num_sectors = 2048 };
		drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_DISCARD, 0, sizeof(*seg)) == VIRTIO_BLK_S_OK,
			  "a DISCARD inside them succeeds");
		*seg = (struct virtio_blk_discard_write_zeroes){ .sector = 8, .num_sectors = 4096 };
		drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_DISCARD, 0, sizeof(*seg)) ==
				  VIRTIO_BLK_S_IOERR,
			  "one longer than max_discard_sectors fails");
		*seg = (struct virtio_blk_discard_write_zeroes){ .sector = 9, .num_sectors = 8 };
		drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_DISCARD, 0, sizeof(*seg)) ==
				  VIRTIO_BLK_S_IOERR,
			  "one off the discard alignment fails");
	}
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);

	FILE *f = fopen(logarg, "r");
	size_t len = f ? fread(log, 1, sizeof(log) - 1, f) : 0;

	log[len] = '\0';
	if (f)
		fclose(f);
	drv_check(strstr(log, "VM POST_RT_VM1, UUID") != NULL, "vdm's log names the VM");
	drv_check(strstr(log, "mac 00:16:3e:88:75:12") != NULL, "and the MAC it gave the NIC");
	static const char *const notes[] = {
		"acrn-dm's -A/--acpi taken and ignored: vdm always writes ACPI tables for the guest "
		"it loads",
		"acrn-dm's -Y/--mptgen taken and ignored: vdm always writes an MP table for the "
		"guest it loads",
		"acrn-dm's -i/--ioc_node taken and ignored: obsolete in acrn-dm, which ignores it too",
		"acrn-dm's -G/--gvtargs taken and ignored: obsolete in acrn-dm, which ignores it too",
		"acrn-dm's --vsbl taken and ignored: obsolete in acrn-dm, which ignores it too",
		"acrn-dm's --part_info taken and ignored: obsolete in acrn-dm, which ignores it too",
		"acrn-dm's --pm_by_vuart taken and ignored: obsolete in acrn-dm, which ignores it too",
		"acrn-dm's --mac_seed taken and ignored: obsolete in acrn-dm, which ignores it too: "
		"virtio-net's mac_seed= sets the MAC",
		"acrn-dm's --iasl taken and ignored: vdm writes AML itself and runs no ASL compiler",
	};

	for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		drv_check(strstr(log, notes[i]) != NULL, "the log says: %s", notes[i]);
	unlink(logarg);
	snprintf(con, sizeof(con), "%s/con.sock", dir);
	unlink(con);
	rmdir(dir);
	unlink(img);
	return drv_result();
}
