/*
 * test_cli.c - vdm's command line: --help lists every option, --version
 * answers, and each bad argument exits 2 with one line naming it.
 */
#include "drv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void bad(const char *what, const char *const *args, const char *must_name)
{
	char out[4096];
	int st = vdm_run(args, out, sizeof(out));

	drv_check(st == 2 && count_lines(out) == 1 && strstr(out, must_name) && strstr(out, "vdm:"),
		  "%s: exit %d, one line naming '%s': %s", what, st, must_name, out);
}

int main(void)
{
	char out[8192];
	int st;

	st = vdm_run((const char *const[]){ "--help", NULL }, out, sizeof(out));
	const char *options[] = { "-s,", "--slot", "-U,", "--uuid", "-m,", "--memsize", "--hsm",
				  "--help", "--version", "-v,", "--verbose", "--log-file",
				  "--dump-config", "hostbridge" };
	bool all = true;
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (!strstr(out, options[i])) {
			all = false;
			drv_check(false, "--help mentions %s", options[i]);
		}
	drv_check(st == 0 && all, "--help exits 0 and lists every option");

	char out_h[8192];
	st = vdm_run((const char *const[]){ "-h", NULL }, out_h, sizeof(out_h));
	drv_check(st == 0 && !strcmp(out, out_h), "-h (acrn-dm's spelling) prints the same help");

	st = vdm_run((const char *const[]){ "--version", NULL }, out, sizeof(out));
	drv_check(st == 0 && !strncmp(out, "vdm ", 4), "--version: %s", out);

	bad("unknown emulation", (const char *const[]){ "-s", "3,frobnicator", NULL },
	    "frobnicator");
	bad("duplicate slot",
	    (const char *const[]){ "-s", "0:0,hostbridge", "-s", "0:0,hostbridge", NULL }, "0:0");
	bad("slot out of range", (const char *const[]){ "-s", "32,hostbridge", NULL }, "32");
	bad("function out of range", (const char *const[]){ "-s", "1:8,hostbridge", NULL }, "1:8");
	bad("slot not a number", (const char *const[]){ "-s", "x,hostbridge", NULL }, "x,hostbridge");
	bad("no emulation", (const char *const[]){ "-s", "4", NULL }, "'4'");
	bad("malformed UUID", (const char *const[]){ "-U", "1234-not-a-uuid", NULL },
	    "1234-not-a-uuid");
	bad("malformed size", (const char *const[]){ "-m", "12Q", NULL }, "12Q");
	bad("zero size", (const char *const[]){ "-m", "0", NULL }, "'0'");
	bad("negative size", (const char *const[]){ "-m", "-5M", NULL }, "-5M");
	bad("size without a suffix (bytes), below the minimum",
	    (const char *const[]){ "-m", "256", NULL }, "256M?");
	bad("size below the minimum", (const char *const[]){ "-m", "512K", NULL }, "1M minimum");
	/* acrn-dm's minimum on ACRN, refused before the HSM is opened. */
	bad("ACRN with less than 128M",
	    (const char *const[]){ "--hsm", "acrn:/nonexistent/acrn_hsm", "-m", "127M", NULL },
	    "ACRN needs at least 128M");
	bad("unknown long option", (const char *const[]){ "--frob", NULL }, "--frob");
	bad("unknown short option", (const char *const[]){ "-Z", NULL }, "-Z");
	bad("missing argument", (const char *const[]){ "-m", NULL }, "-m");
	bad("unknown back-end", (const char *const[]){ "--hsm", "xen", NULL }, "xen");
	bad("acrn device not an absolute path",
	    (const char *const[]){ "--hsm", "acrn:dev/acrn_hsm", NULL }, "acrn[:/DEVICE]");
	bad("--virtio_poll below a microsecond",
	    (const char *const[]){ "--virtio_poll", "999", NULL }, "'999'");
	bad("--virtio_poll not a number", (const char *const[]){ "--virtio_poll", "1ms", NULL },
	    "'1ms'");
	bad("virtio-blk poll= not a number",
	    (const char *const[]){ "-s", "3,virtio-blk,/dev/null,poll=fast", NULL }, "'fast'");
	bad("virtio-blk aio= unknown",
	    (const char *const[]){ "-s", "3,virtio-blk,/dev/null,aio=posix", NULL }, "'posix'");
	bad("virtio-blk mq=0", (const char *const[]){ "-s", "3,virtio-blk,/dev/null,mq=0", NULL },
	    "'0'");
	bad("options to an emulation without options",
	    (const char *const[]){ "-s", "0:0,hostbridge,fast", NULL }, "fast");
	bad("a second word after the VM name",
	    (const char *const[]){ "-s", "0:0,hostbridge", "vm1", "extra", NULL }, "'extra'");
	bad("a 15-character VM name is taken, a word after it is not",
	    (const char *const[]){ "-s", "0:0,hostbridge", "POST_STD_VM1234", "X", NULL },
	    "unexpected argument 'X'");
	bad("VM name of 16 characters",
	    (const char *const[]){ "-s", "0:0,hostbridge", "POST_STD_VM12345", NULL },
	    "1 to 15 characters");
	bad("VM name with a space", (const char *const[]){ "-s", "0:0,hostbridge", "my vm", NULL },
	    "no spaces");
	bad("a size without a unit (acrn-dm refuses it too)",
	    (const char *const[]){ "-m", "268435456", NULL }, "needs a unit");
	bad("bytes below the minimum", (const char *const[]){ "-m", "4096B", NULL }, "1M minimum");
	bad("a bus other than 0", (const char *const[]){ "-s", "1:3:0,hostbridge", NULL },
	    "one PCI bus");
	bad("four address parts", (const char *const[]){ "-s", "0:1:2:3,hostbridge", NULL },
	    "[BUS:]SLOT[:FUNC]");
	bad("an acrn-dm emulation vdm lacks", (const char *const[]){ "-s", "7,xhci,1-2", NULL },
	    "'xhci' is an acrn-dm emulation");
	bad("-k off ACRN", (const char *const[]){ "-k", "/boot/bzImage", NULL },
	    "only the ACRN back-end has vdm load the guest");
	bad("-r without -k", (const char *const[]){ "-r", "/boot/initrd.img", NULL },
	    "-r: needs the kernel");
	bad("-B without -k", (const char *const[]){ "-B", "console=ttyS0", NULL },
	    "-B: needs the kernel");
	/* Passthrough: where the back-end cannot do it, and a bad spelling,
	 * both before anything starts. */
	bad("passthru on the simulator",
	    (const char *const[]){ "--hsm", "sim:/nonexistent/s", "-s", "6,passthru,0/5/0", NULL },
	    "passthrough needs --hsm acrn");
	bad("passthru under QEMU",
	    (const char *const[]){ "-s", "6,passthru,0/5/0", "--", "qemu-system-x86_64", NULL },
	    "--hsm qemu cannot give the guest a host PCI function");
	bad("passthru with a host function misspelt",
	    (const char *const[]){ "--hsm", "acrn", "-s", "6,passthru,0:5", NULL }, "'0:5'");
	bad("passthru with an acrn-dm option vdm lacks",
	    (const char *const[]){ "--hsm", "acrn", "-s", "6,passthru,0/5/0,d3hot_reset", NULL },
	    "'d3hot_reset'");
	/* --ovmf itself: tests/acrn/test_ovmf. */
	bad("acrn-dm's --ovmf with a missing image",
	    (const char *const[]){ "--ovmf", "/usr/share/acrn/bios/OVMF.fd", NULL },
	    "--ovmf: image /usr/share/acrn/bios/OVMF.fd: No such file");
	bad("-l off ACRN", (const char *const[]){ "-l", "com1,stdio", NULL },
	    "only the ACRN back-end leaves the COM ports");
	bad("-l com3", (const char *const[]){ "-l", "com3,stdio", NULL }, "com1,BACKEND or com2");
	bad("-l with an empty tty: path", (const char *const[]){ "-l", "com1,tty:", NULL },
	    "tty needs a path");
	bad("-l com1 twice",
	    (const char *const[]){ "--hsm", "acrn", "-l", "com1,stdio", "-l", "com1,pty", NULL },
	    "COM1 is given twice");
	bad("acrn-dm's --rtvm", (const char *const[]){ "--rtvm", NULL }, "real-time");
	bad("acrn-dm's --lapic_pt", (const char *const[]){ "--lapic_pt", NULL }, "'--lapic_pt'");
	bad("--cpu_affinity off ACRN",
	    (const char *const[]){ "--hsm", "sim:/tmp/x.sock", "--cpu_affinity", "0", NULL },
	    "only the ACRN back-end");
	bad("--cpu_affinity with an APIC ID no CPU has",
	    (const char *const[]){ "--hsm", "acrn", "--cpu_affinity", "0,4095", NULL },
	    "local APIC ID 4095");
	bad("--cpu_affinity not a list", (const char *const[]){ "--cpu_affinity", "0,,1", NULL },
	    "separated by commas");
	bad("--logger_setting level out of range",
	    (const char *const[]){ "--logger_setting", "console,level=9", NULL }, "level=1..7");
	bad("--logger_setting unknown logger",
	    (const char *const[]){ "--logger_setting", "console,level=4;syslog,level=3", NULL },
	    "'console,level=4;syslog,level=3'");
	bad("virtio-console MULTIPORT ports with one name",
	    (const char *const[]){ "-s", "3,virtio-console,@stdio:a,pty:a", NULL },
	    "two ports named 'a'");
	bad("virtio-console socket neither server nor client",
	    (const char *const[]){ "-s", "3,virtio-console,@socket:p=/tmp/c.sock:dial", NULL },
	    "':server' or ':client', not 'dial'");
	bad("virtio-console tty port without a path",
	    (const char *const[]){ "-s", "3,virtio-console,@tty:p", NULL },
	    "expected @tty:NAME=PATH");
	bad("virtio-net mac_seed longer than 256 bytes",
	    (const char *const[]){ "-s",
				   "5,virtio-net,tap=t0,mac_seed="
				   "0123456789012345678901234567890123456789012345678901234567890123"
				   "0123456789012345678901234567890123456789012345678901234567890123"
				   "0123456789012345678901234567890123456789012345678901234567890123"
				   "0123456789012345678901234567890123456789012345678901234567890123x",
				   NULL },
	    "mac_seed is longer");
	bad("virtio-blk without a path", (const char *const[]){ "-s", "3,virtio-blk", NULL },
	    "needs an image path");
	bad("virtio-blk physical sector smaller than the logical",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,sectorsize=4096/512", NULL },
	    "'4096/512'");
	bad("virtio-blk physical sector not a power of two",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,sectorsize=512/3000", NULL },
	    "'512/3000'");
	bad("virtio-blk discard= with two fields",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,discard=2048:4", NULL },
	    "'2048:4'");
	bad("virtio-blk discard= alignment above the maximum",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,discard=8:1:16", NULL },
	    "'8:1:16'");
	bad("virtio-blk discard= too many segments",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,discard=8:17:1", NULL },
	    "'8:17:1'");
	bad("virtio-blk bad sector size",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,sectorsize=1000", NULL }, "1000");
	bad("virtio-blk unknown option",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,turbo", NULL }, "turbo");
	bad("virtio-rnd unknown option", (const char *const[]){ "-s", "4,virtio-rnd,fast", NULL },
	    "fast");
	bad("virtio-rnd packed= neither on nor off",
	    (const char *const[]){ "-s", "4,virtio-rnd,packed=yes", NULL }, "packed=on or packed=off");
	bad("virtio-blk packed= neither on nor off",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,packed=1", NULL }, "packed=1");
	bad("virtio-console packed= neither on nor off",
	    (const char *const[]){ "-s", "6,virtio-console,stdio,packed=", NULL }, "packed=");
	bad("virtio-blk serial too long",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,serial=123456789012345678901",
				   NULL }, "longer than 20 bytes");
	bad("virtio-blk second image",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/a.img,/tmp/b.img", NULL },
	    "unknown virtio-blk option '/tmp/b.img'");
	bad("virtio-blk image beside vhost=user",
	    (const char *const[]){ "-s", "3,virtio-blk,/tmp/x.img,vhost=user:/tmp/s", NULL },
	    "back-end owns the disk");
	bad("virtio-net without a TAP", (const char *const[]){ "-s", "5,virtio-net", NULL },
	    "needs tap=NAME");
	bad("virtio-net empty tap=", (const char *const[]){ "-s", "5,virtio-net,tap=", NULL },
	    "unknown virtio-net option 'tap='");
	bad("virtio-net multicast MAC",
	    (const char *const[]){ "-s", "5,virtio-net,tap=t0,mac=01:00:5e:00:00:01", NULL },
	    "unicast");
	bad("virtio-net broadcast MAC",
	    (const char *const[]){ "-s", "5,virtio-net,tap=t0,mac=ff:ff:ff:ff:ff:ff", NULL },
	    "broadcast");
	bad("virtio-net all-zero MAC",
	    (const char *const[]){ "-s", "5,virtio-net,tap=t0,mac=00:00:00:00:00:00", NULL },
	    "all-zero");
	bad("virtio-net unknown offloads=",
	    (const char *const[]){ "-s", "5,virtio-net,tap=t0,offloads=tso", NULL },
	    "expected offloads=all, csum or none");
	bad("virtio-net unknown option",
	    (const char *const[]){ "-s", "5,virtio-net,tap=t0,speed=10", NULL }, "speed=10");
	bad("virtio-console without a back-end",
	    (const char *const[]){ "-s", "6,virtio-console,transitional", NULL }, "needs a back-end");
	bad("virtio-console with two back-ends",
	    (const char *const[]){ "-s", "6,virtio-console,stdio,pty", NULL },
	    "unknown virtio-console option 'pty'");
	bad("virtio-vsock without a CID", (const char *const[]){ "-s", "7,virtio-vsock", NULL },
	    "needs cid=N");
	bad("virtio-vsock reserved CID", (const char *const[]){ "-s", "7,virtio-vsock,cid=2", NULL },
	    "from 3 to 4294967294");
	bad("virtio-vsock has no legacy interface",
	    (const char *const[]){ "-s", "7,virtio-vsock,cid=3,transitional", NULL },
	    "unknown virtio-vsock option 'transitional'");
	bad("reconnect out of range",
	    (const char *const[]){ "-s", "4,virtio-rnd,vhost=user:/tmp/s,reconnect=0", NULL },
	    "reconnect=0");

	/* A missing image is found at start-up, before any guest access: exit 1. */
	st = vdm_run((const char *const[]){ "--hsm", "sim:/tmp/vdm-cli-missing.sock", "-s",
					    "3,virtio-blk,/nonexistent/disk.img", NULL },
		     out, sizeof(out));
	drv_check(st == 1 && strstr(out, "cannot open image /nonexistent/disk.img"),
		  "missing image: exit 1 naming it (%d): %s", st, out);

	/* An empty image would be a disk of 0 sectors: refused at start-up too. */
	char empty[] = "/tmp/vdm-cli-empty-XXXXXX";
	int fd = mkstemp(empty);
	if (drv_check(fd >= 0, "make an empty image")) {
		close(fd);
		char dev[64];
		snprintf(dev, sizeof(dev), "3,virtio-blk,%s", empty);
		st = vdm_run((const char *const[]){ "--hsm", "sim:/tmp/vdm-cli-empty.sock", "-s", dev,
						    NULL },
			     out, sizeof(out));
		const char *line = strstr(out, "no whole 512-byte block");
		drv_check(st == 1 && line && count_lines(line) == 1 &&
				  strstr(out, empty) && strstr(out, empty) < line,
			  "empty image: exit 1, one last line naming it (%d): %s", st, out);
		unlink(empty);
	}
	return drv_result();
}
