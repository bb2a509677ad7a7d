/*
 * test_uart.c - acrn-dm's -l com1,BACKEND over the HSM model: the 16550 at
 * 0x3f8 as Linux's 8250 driver probes and uses it (scratch register,
 * loopback with the modem lines mapped, divisor latch), bytes both ways
 * between the guest's port accesses and a client on the UART's socket,
 * and the receive interrupt as rising pulses on ISA IRQ 4 (counted by the
 * model, logged at exit).  Then acrn-dm's -l com1,/dev/PATH: an existing
 * terminal (the slave of a pty the test holds), bytes both ways through it,
 * and a PATH that is not a terminal refused.  Last, with -k: the COM port
 * the DSDT declares, as the model's boot check reads it, is the UART vdm
 * serves (dsdt_declares).
 */
#include "drv.h"
#include "fake_bzimage.h"
#include "vdm_log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define COM1 0x3f8
#define COM2 0x2f8
static char dir[] = "/tmp/vdm-uart-XXXXXX";
static unsigned com_base = COM1; /* the UART in8 and out8 drive */

static uint8_t in8(struct drv *d, unsigned reg)
{
	return (uint8_t)drv_pio_read(d, com_base + reg, 1);
}

static void out8(struct drv *d, unsigned reg, uint8_t v)
{
	drv_pio_write(d, com_base + reg, 1, v);
}

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (int i = 0; i < 200 && fd >= 0; i++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		usleep(10000);
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Read what the client gets within a second, up to len bytes. */
static size_t client_read(int fd, char *buf, size_t len)
{
	size_t got = 0;
	struct pollfd p = { fd, POLLIN, 0 };

	while (got < len && poll(&p, 1, 1000) == 1) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Poll LSR.DR and read RBR until len bytes came (or 2 s passed). */
static size_t guest_read(struct drv *d, char *buf, size_t len)
{
	size_t got = 0;

	for (int i = 0; i < 200 && got < len; i++) {
		while (got < len && (in8(d, 5) & 0x01))
			buf[got++] = (char)in8(d, 0);
		if (got < len)
			usleep(10000);
	}
	return got;
}

/* -l com1,/dev/pts/N: acrn-dm's tty back-end, a terminal the test holds. */
static void tty_backend(void)
{
	char spec[220], buf[64];
	struct vdm_proc p;
	struct drv d;
	int st, m, s;

	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || (s = open(ptsname(m), O_RDWR | O_NOCTTY)) < 0) {
		drv_check(false, "tty: a pty pair for the terminal");
		return;
	}
	snprintf(spec, sizeof(spec), "com1,%s", ptsname(m));
	if (vdm_spawn(&p, (const char *const[]){ "-l", spec, "-s", "0:0,hostbridge", NULL },
		      &st)) {
		drv_check(false, "tty: vdm starts with -l %s (exit %d)", spec, st);
		goto out;
	}
	drv_connect(&d, p.sock);
	out8(&d, 3, 0x03); /* 8N1 */
	out8(&d, 4, 0x0b);
	const char *hello = "on the tty\r\n";
	for (const char *c = hello; *c; c++)
		out8(&d, 0, (uint8_t)*c);
	size_t n = client_read(m, buf, strlen(hello));
	drv_check(n == strlen(hello) && !memcmp(buf, hello, n),
		  "tty: the guest's bytes reach the terminal untranslated (%zu bytes)", n);
	if (write(m, "keys\r", 5) != 5)
		drv_check(false, "tty: the far end writes");
	n = guest_read(&d, buf, 5);
	drv_check(n == 5 && !memcmp(buf, "keys\r", 5), "tty: the terminal's bytes reach the guest (%zu)",
		  n);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "tty: vdm stops cleanly (%d)", st);
out:
	close(s);
	close(m);

	/* Refused before the VM starts: the model never sees a driver. */
	char out[1024], hsm[160], tmp[] = "/tmp/vdm-uart-XXXXXX";

	if (!mkdtemp(tmp))
		return;
	snprintf(hsm, sizeof(hsm), "acrn:model:%s/r.sock", tmp);
	st = vdm_run((const char *const[]){ "--hsm", hsm, "-l", "com1,/dev/null", "-s",
					    "0:0,hostbridge", NULL },
		     out, sizeof(out));
	drv_check(st == 1 && strstr(out, "/dev/null is not a terminal"),
		  "tty: -l com1,/dev/null is refused naming it, exit 1 (%d: %s)", st, out);
	unlink(hsm + strlen("acrn:model:"));
	rmdir(tmp);
}

/* The end of a run: the socket client leaves, the driver disconnects, vdm
 * stops (it must exit 0) and its log is read into log. */
static void stop_and_read_log(struct drv *d, struct vdm_proc *p, int cl, const char *logpath,
			      char *log, size_t len)
{
	int st;

	if (cl >= 0)
		close(cl);
	drv_disconnect(d);
	st = vdm_stop(p);
	read_log(logpath, log, len);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
}

/*
 * -k with -l com2 only and acrn-dm's LPC bridge at 1:0: vdm's DSDT declares
 * COM2, inside the bridge's device, and not COM1.  The model's boot check reads the serial ports from the DSDT with
 * its own parser and logs them; the UART vdm serves answers at the ports
 * declared (scratch register, bytes from the socket) and its receive
 * interrupt comes on the IRQ declared, which the model counts as a
 * violation when no DSDT device declares it.
 */
static void dsdt_declares(void)
{
	char kernel[200], sock[200], logpath[200], spec[220], log[16384], buf[8];
	struct vdm_proc p;
	struct drv d;
	int st, cl;

	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	snprintf(sock, sizeof(sock), "%s/com2.sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/vdm-k.log", dir);
	snprintf(spec, sizeof(spec), "com2,socket:%s", sock);
	write_kernel(kernel, &fake_good);
	if (vdm_spawn(&p, (const char *const[]){ "--log-file", logpath, "-k", kernel, "-l", spec,
						 "-s", "0:0,hostbridge", "-s", "1:0,lpc", NULL },
		      &st)) {
		drv_check(false, "vdm starts with -k and -l com2 (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	cl = client_connect(sock);
	com_base = COM2;
	out8(&d, 7, 0xa5);
	drv_check(in8(&d, 7) == 0xa5, "COM2's scratch register answers at 0x2ff");
	out8(&d, 3, 0x03);
	out8(&d, 4, 0x0b); /* OUT2: the interrupt reaches the line */
	out8(&d, 1, 0x01); /* receive interrupt on */
	if (cl >= 0 && write(cl, "dsdt", 4) != 4)
		drv_check(false, "the client writes");
	size_t n = guest_read(&d, buf, 4);

	drv_check(n == 4 && !memcmp(buf, "dsdt", 4), "the client's bytes reach the guest (%zu)", n);
	out8(&d, 1, 0x00);
	com_base = COM1;
	stop_and_read_log(&d, &p, cl, logpath, log, sizeof(log));
	drv_check(strstr(log, "acrn model: DSDT COM2 (in ISA_, _ADR 0x10000): PNP0501, _UID 2, "
			      "ports 0x2f8-0x2ff, IRQ mask 0x8") != NULL,
		  "the model's boot check reads COM2 from the DSDT, in the LPC bridge's device at "
		  "1:0: 0x2f8-0x2ff, IRQ 3");
	drv_check(strstr(log, "DSDT COM1") == NULL, "and no COM1, which -l did not enable");
	drv_check(strstr(log, "acrn model: ISA IRQ 3:") != NULL &&
			  strstr(log, " 0 protocol violations") != NULL,
		  "the receive interrupt came on IRQ 3, which the DSDT declares: no violation");
	unlink(logpath);
	unlink(kernel);
}

int main(void)
{
	char sock[200], logpath[200], spec[220], log[16384], buf[64];
	struct vdm_proc p;
	struct drv d;
	int st, cl;

	setenv("VDM_TEST_HSM", "acrn", 1);
	drv_use_acrn_model();
	if (!mkdtemp(dir))
		return 99;
	snprintf(sock, sizeof(sock), "%s/com1.sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/vdm.log", dir);
	snprintf(spec, sizeof(spec), "com1,socket:%s", sock);
	if (vdm_spawn(&p, (const char *const[]){ "--log-file", logpath, "-l", spec, "-s",
						 "0:0,hostbridge", NULL },
		      &st)) {
		drv_check(false, "vdm starts with -l com1 (exit %d)", st);
		return 1;
	}
	drv_connect(&d, p.sock);
	cl = client_connect(sock);
	drv_check(cl >= 0, "a client attaches to COM1's socket");

	out8(&d, 7, 0x5a);
	drv_check(in8(&d, 7) == 0x5a, "the scratch register holds what was written");
	out8(&d, 4, 0x10 | 0x0a); /* loopback, RTS, OUT2: the 8250 probe */
	drv_check((in8(&d, 6) & 0xf0) == 0x90, "loopback maps RTS to CTS and OUT2 to DCD");
	out8(&d, 0, 'L');
	drv_check((in8(&d, 5) & 0x01) && in8(&d, 0) == 'L', "loopback echoes THR into RBR");
	out8(&d, 4, 0x0b); /* DTR, RTS, OUT2; loopback off */
	out8(&d, 3, 0x83); /* DLAB on: the divisor */
	out8(&d, 0, 0x01);
	out8(&d, 1, 0x00);
	drv_check(in8(&d, 0) == 0x01, "the divisor latch is kept");
	out8(&d, 3, 0x03); /* 8N1, DLAB off */
	drv_check(in8(&d, 5) & 0x60, "THR and the transmitter read empty");

	const char *hello = "hello from the guest\r\n";
	for (const char *c = hello; *c; c++)
		out8(&d, 0, (uint8_t)*c);
	size_t n = cl >= 0 ? client_read(cl, buf, strlen(hello)) : 0;
	drv_check(n == strlen(hello) && !memcmp(buf, hello, n),
		  "the guest's bytes reach the client (%zu bytes)", n);

	out8(&d, 1, 0x01); /* receive interrupt on */
	if (cl >= 0 && write(cl, "typed", 5) != 5)
		drv_check(false, "the client writes");
	n = guest_read(&d, buf, 5);
	drv_check(n == 5 && !memcmp(buf, "typed", 5), "the client's bytes reach the guest (%zu)",
		  n);
	drv_check((in8(&d, 2) & 0x0f) == 0x01, "IIR reads no interrupt once RBR is drained");
	out8(&d, 1, 0x00);
	stop_and_read_log(&d, &p, cl, logpath, log, sizeof(log));
	drv_check(strstr(log, "COM1 at 0x3f8, IRQ 4") != NULL, "vdm names COM1");
	drv_check(strstr(log, "acrn model: ISA IRQ 4:") != NULL,
		  "the receive interrupt reached the model as pulses on ISA IRQ 4");
	unlink(logpath);
	dsdt_declares();
	rmdir(dir);
	tty_backend();
	return drv_result();
}
