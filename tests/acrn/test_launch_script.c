/*
 * test_launch_script.c - samples/acrn/launch_user_vm_id1.sh, a launch
 * script in the form ACRN's generator (launch_cfg_gen.py) writes, run
 * unchanged by bash over the HSM model: the script calls acrn-dm by name,
 * and the acrn-dm it finds first on PATH is a two-line stand-in that execs
 * vdm-acrn-model with --hsm acrn:model (the model in place of
 * /dev/acrn_hsm, as in the other tests/acrn tests) and a log file.  The
 * script's own paths hold: in a mount namespace of this test, a tmpfs on
 * /usr/share has /usr/share/acrn/bios/OVMF.fd (Debian's OVMF_VARS.fd and
 * OVMF_CODE.fd in ACRN's OVMF.fd layout), and ./uvm1.img is in the working
 * directory; in a network namespace the script makes its TAP itself.
 * Checked: the script prints acrn-dm's parameters as its helpers built
 * them; the VM starts in OVMF (the model's boot check passes); the test
 * driver finds the host bridge, acrn-dm's LPC bridge, the console, the NIC
 * with the MAC acrn-dm derives from the script's mac_seed (MD5 worked out
 * by md5sum here) and the disk, reading the image's bytes; SIGTERM stops
 * vdm with status 0 and the script ends with it.  Also: vdm started
 * through a link named acrn-dm is on the ACRN back-end.
 */
#include "blk_guest.h"
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static char dir[] = "/tmp/vdm-launch-gen-XXXXXX";

static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t got = f ? fread(buf, 1, len - 1, f) : 0;

	buf[got] = 0;
	if (f)
		fclose(f);
}

static int sh(const char *fmt, const char *a, const char *b)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	return system(cmd);
}

/* The MAC acrn-dm gives slot 4 for seed: 00:16:3e and md5("4-0-SEED")'s
 * first three bytes, by md5sum(1). */
static bool expected_mac(const char *seed, uint8_t mac[6])
{
	char cmd[300], hex[64] = "";
	unsigned b[3];

	snprintf(cmd, sizeof(cmd), "printf '%%s' '4-0-%s' | md5sum", seed);
	FILE *p = popen(cmd, "r");

	if (!p || !fgets(hex, sizeof(hex), p) || sscanf(hex, "%2x%2x%2x", &b[0], &b[1], &b[2]) != 3) {
		if (p)
			pclose(p);
		return false;
	}
	pclose(p);
	mac[0] = 0x00, mac[1] = 0x16, mac[2] = 0x3e;
	for (int i = 0; i < 3; i++)
		mac[3 + i] = (uint8_t)b[i];
	return true;
}

static bool has_function(const struct drv_func *f, int n, int slot, uint16_t vendor,
			 uint16_t device)
{
	for (int i = 0; i < n; i++)
		if (f[i].bdf == hsm_bdf(0, slot, 0) && f[i].vendor == vendor && f[i].device == device)
			return true;
	return false;
}

/* Private mounts and network; /usr/share/acrn/bios/OVMF.fd from Debian's
 * halves (read before the tmpfs hides them). */
static bool private_world(void)
{
	char img[300];

	snprintf(img, sizeof(img), "%s/OVMF.fd", dir);
	if (sh("cat /usr/share/OVMF/OVMF_VARS.fd /usr/share/OVMF/OVMF_CODE.fd > %s%s", img, ""))
		return false;
	if (unshare(CLONE_NEWNS | CLONE_NEWNET) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return false;
	if (mount("tmpfs", "/usr/share", "tmpfs", 0, "size=16m"))
		return false;
	return sh("mkdir -p /usr/share/acrn/bios && cp %s /usr/share/acrn/bios/OVMF.fd && "
		  "ip link set lo up%s",
		  img, "") == 0;
}

int main(void)
{
	const char *src = getenv("VDM_SRCDIR"), *model = getenv("VDM_ACRN_MODEL");
	char sock[200], log[200], pidf[200], out[200], path[4200], buf[1 << 16], seed[64] = "";
	char vdm_model[300];
	int st;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) || system("ip -V >/dev/null 2>&1") ||
	    access("/usr/share/OVMF/OVMF_CODE.fd", R_OK)) {
		printf("SKIP: needs root, /dev/net/tun, ip(8) and Debian's ovmf package\n");
		return 77;
	}
	if (!src || !mkdtemp(dir))
		return 99;
	if (!realpath(model && *model ? model : "./tests/acrn/vdm-acrn-model", vdm_model))
		return 99;
	if (!private_world()) {
		printf("SKIP: cannot make private mount and network namespaces\n");
		return 77;
	}
	snprintf(sock, sizeof(sock), "%s/model.sock", dir);
	snprintf(log, sizeof(log), "%s/vdm.log", dir);
	snprintf(pidf, sizeof(pidf), "%s/vdm.pid", dir);
	snprintf(out, sizeof(out), "%s/script.out", dir);

	/* The disk: a pattern in its first 4 KiB. */
	snprintf(path, sizeof(path), "%s/uvm1.img", dir);
	FILE *img = fopen(path, "w");

	for (int i = 0; img && i < (8 << 20); i++)
		fputc(i < 4096 ? (i * 7 + 1) & 0xff : 0, img);
	if (!img || fclose(img))
		return 99;

	/* The stand-in acrn-dm: the model in place of /dev/acrn_hsm. */
	if (sh("mkdir -p %s/bin%s", dir, ""))
		return 99;
	snprintf(path, sizeof(path), "%s/bin/acrn-dm", dir);
	FILE *w = fopen(path, "w");

	if (!w)
		return 99;
	fprintf(w,
		"#!/bin/sh\necho $$ > %s\nexec %s --hsm "
		"acrn:model,ovmf=/usr/share/acrn/bios/OVMF.fd:%s -vv --log-file %s \"$@\"\n",
		pidf, vdm_model, sock, log);
	fclose(w);
	chmod(path, 0755);

	pid_t script = fork();

	if (script == 0) {
		char p[4200];
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		snprintf(p, sizeof(p), "%s/bin:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin");
		setenv("PATH", p, 1);
		dup2(fd, 1), dup2(fd, 2);
		if (chdir(dir))
			_exit(127);
		snprintf(p, sizeof(p), "%s/samples/acrn/launch_user_vm_id1.sh", src);
		execl("/bin/bash", "bash", p, (char *)NULL);
		_exit(127);
	}
	struct stat sst;

	for (int i = 0; i < 1000 && stat(sock, &sst); i++)
		usleep(10000);
	read_file(out, buf, sizeof(buf));
	if (!drv_check(stat(sock, &sst) == 0, "the script starts vdm and the VM")) {
		fprintf(stderr, "%s\n", buf);
		read_file(log, buf, sizeof(buf));
		fprintf(stderr, "%s\n", buf);
		kill(script, SIGKILL);
		return 1;
	}
	drv_check(strstr(buf, "Launch device model with parameters: -m 1024M --ovmf "
			      "/usr/share/acrn/bios/OVMF.fd -s 1:0,lpc -s 0:0,hostbridge -s "
			      "3,virtio-console,@pty:pty_port -s 4,virtio-net,tap=tap_uvm1,mac_seed=") &&
			  strstr(buf, "-POST_STD_VM1 -s 5,virtio-blk,./uvm1.img --logger_setting "
				      "console,level=4;kmsg,level=3;disk,level=5 POST_STD_VM1"),
		  "the script's helpers build acrn-dm's parameters as the generator's template "
		  "does");

	/* The seed the script used: its first e* interface's address. */
	FILE *m = popen("cat /sys/class/net/e*/address 2>/dev/null | head -n 1", "r");

	if (m) {
		if (!fgets(seed, 18, m))
			seed[0] = 0;
		pclose(m);
	}
	seed[strcspn(seed, "\n")] = 0;
	strcat(seed, "-POST_STD_VM1");

	struct drv d;
	struct drv_func funcs[16];

	drv_connect(&d, sock);
	int n = drv_enumerate(&d, funcs, 16);

	drv_check(has_function(funcs, n, 0, 0x8086, 0x1237), "the host bridge at 0:0");
	drv_check(has_function(funcs, n, 1, 0x8086, 0x7000), "acrn-dm's LPC bridge at 1:0");
	drv_check(has_function(funcs, n, 3, 0x1af4, 0x1043), "virtio-console at slot 3");
	drv_check(has_function(funcs, n, 4, 0x1af4, 0x1041), "virtio-net at slot 4");
	drv_check(has_function(funcs, n, 5, 0x1af4, 0x1042), "virtio-blk at slot 5");
	drv_check((drv_cfg_read(&d, hsm_bdf(0, 1, 0), 0x08, 4) >> 8) == 0x060100,
		  "the LPC bridge's class is ISA bridge");

	struct drv_func net = { 0 };
	struct drv_virtio v;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	uint8_t mac[6], want[6];

	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, 4, 0))
			net = funcs[i];
	drv_assign_bars(&d, &net, &mmio, &io);
	if (drv_check(drv_virtio_probe(&v, &d, &net, 16 << 20) == 0, "virtio-net probes") &&
	    drv_check(expected_mac(seed, want), "md5sum works out acrn-dm's MAC")) {
		for (int i = 0; i < 6; i++)
			mac[i] = (uint8_t)drv_virtio_cfg_read(&v, (unsigned)i, 1);
		drv_check(!memcmp(mac, want, 6),
			  "the NIC has acrn-dm's MAC for mac_seed=%s: %02x:%02x:%02x:%02x:%02x:%02x",
			  seed, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	}
	struct blk_guest g;

	if (drv_check(blk_guest_up(&g, &d, funcs, n, 5, 32 << 20, 4096, 0, &mmio, &io) == 0,
		      "the disk comes up") &&
	    drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_IN, 0, 4096) == VIRTIO_BLK_S_OK,
		      "and reads")) {
		bool same = true;

		for (int i = 0; i < 4096; i++)
			same &= ((uint8_t *)blk_guest_buf(&g))[i] == ((i * 7 + 1) & 0xff);
		drv_check(same, "./uvm1.img's bytes, from the script's working directory");
	}
	/* The console: @pty:pty_port, a pty vdm names in its log; what the
	 * guest transmits comes out there. */
	struct drv_func con = { 0 };
	struct drv_virtio c;
	char *pts;

	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, 3, 0))
			con = funcs[i];
	read_file(log, buf, sizeof(buf));
	pts = strstr(buf, "guest console on /dev/pts/");
	drv_assign_bars(&d, &con, &mmio, &io);
	if (drv_check(pts != NULL, "vdm names the console's pty") &&
	    drv_check(drv_virtio_probe(&c, &d, &con, 48 << 20) == 0 &&
			      drv_virtio_negotiate(&c, 1ULL << 32) == 0 &&
			      drv_virtio_setup_vq(&c, 0, 0) == 0 && drv_virtio_setup_vq(&c, 1, 0) == 0,
		      "the console comes up")) {
		char name[64] = "", got[64] = "";
		const char *msg = "hello from POST_STD_VM1";
		uint64_t gpa = drv_virtio_alloc(&c, 64, 64);
		struct drv_buf tx = { gpa, (uint32_t)strlen(msg) };
		uint16_t id;
		uint32_t used;
		struct termios t;
		ssize_t r = 0;

		sscanf(pts + strlen("guest console on "), "%63s", name);
		int fd = open(name, O_RDWR | O_NOCTTY);

		if (fd >= 0 && tcgetattr(fd, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(fd, TCSANOW, &t);
		}
		/* vdm sends to the pty once it saw it opened (until then it
		 * discards, as a terminal nobody watches). */
		char opened[96];

		snprintf(opened, sizeof(opened), "%s opened", name);
		for (int i = 0; i < 500; i++) {
			read_file(log, buf, sizeof(buf));
			if (strstr(buf, opened))
				break;
			usleep(10000);
		}
		drv_virtio_driver_ok(&c);
		memcpy(drv_gpa(&d, gpa, tx.len), msg, tx.len);
		drv_virtio_post(&c, 1, &tx, 1, NULL, 0, false);
		drv_virtio_kick(&c, 1);
		drv_check(drv_virtio_wait_used(&c, 1, &id, &used, 5000) == 1, "the guest's bytes go");
		for (int i = 0; fd >= 0 && i < 50 && r < (ssize_t)tx.len; i++) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			ssize_t k = poll(&pf, 1, 100) == 1 ? read(fd, got + r, sizeof(got) - 1 - (size_t)r)
							   : 0;

			r += k > 0 ? k : 0;
		}
		drv_check(r == (ssize_t)tx.len && !memcmp(got, msg, tx.len),
			  "and come out of the pty %s: \"%s\"", name, got);
		if (fd >= 0)
			close(fd);
	}
	drv_check(system("ip link show dev tap_uvm1 >/dev/null 2>&1") == 0,
		  "the script made its TAP, tap_uvm1");
	drv_disconnect(&d);

	char pid_text[32] = "";

	read_file(pidf, pid_text, sizeof(pid_text));
	pid_t vdm = (pid_t)atoi(pid_text);

	drv_check(vdm > 0 && kill(vdm, SIGTERM) == 0, "SIGTERM to vdm (pid %d)", (int)vdm);
	for (int i = 0; i < 1000 && waitpid(script, &st, WNOHANG) != script; i++) {
		usleep(10000);
		if (i == 999) {
			kill(script, SIGKILL);
			waitpid(script, &st, 0);
		}
	}
	drv_check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "vdm stops with status 0 and the script ends with it");
	read_file(log, buf, sizeof(buf));
	drv_check(strstr(buf, "boot check: passed (OVMF, 2097152 bytes from 0xffe00000") != NULL,
		  "the VM started in OVMF: the model's boot check passes");
	drv_check(strstr(buf, "VM POST_STD_VM1, UUID") && !strstr(buf, "protocol violation:"),
		  "vdm's log names the VM; no protocol violation");
	if (drv_failures())
		fprintf(stderr, "%s\n", buf);

	/* vdm started through a link named acrn-dm takes the ACRN back-end
	 * (here it stops at the HSM node that is not there). */
	const char *plain = getenv("VDM");

	char real[PATH_MAX], link[4300];

	snprintf(path, sizeof(path), "%s/as", dir);
	snprintf(link, sizeof(link), "%s/acrn-dm", path);
	if (drv_check(plain && realpath(plain, real) && mkdir(path, 0755) == 0 &&
			      symlink(real, link) == 0,
		      "a link named acrn-dm to vdm")) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "%s/as/acrn-dm -s 0:0,hostbridge POST_STD_VM1 2>&1", dir);
		FILE *p = popen(cmd, "r");
		size_t got = p ? fread(buf, 1, sizeof(buf) - 1, p) : 0;
		int rc = p ? pclose(p) : -1;

		buf[got] = 0;
		drv_check(WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && strstr(buf, "--hsm acrn:") &&
				  strstr(buf, "/dev/acrn_hsm"),
			  "vdm run as acrn-dm opens /dev/acrn_hsm (%s)", buf);
	}
	sh("rm -rf %s%s", dir, "");
	return drv_result();
}
