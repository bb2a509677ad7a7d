/*
 * test_rtc.c - the RTC/CMOS vdm emulates on ACRN (devicemodel/rtc.c), as
 * a guest driver sees it through ports 0x70/0x71 over the HSM model: the
 * time of the host's clock in BCD and in binary, 24- and 12-hour, register
 * A's update-in-progress bit clear, register D's valid bit, the SET bit
 * and a time the guest writes (the clock counts on from it), a date that
 * is none (the clock stops, as acrn-dm's), NVRAM, the RAM size in the
 * bytes acrn-dm fills for firmware (-m 3G: 2 GiB low, 1 GiB above 4 GiB),
 * and a guest reboot putting it back to the host's time.
 *
 * And its interrupts, as a driver serving IRQ 8 sees them (the model sends
 * the level of ISA IRQ 8 at each SET_IRQLINE; the driver reads register C
 * at each rise, as Linux's rtc-cmos does): a periodic rate gives
 * interrupts with PF, an alarm set a few seconds ahead fires once with AF
 * (also with "don't care" bytes), UIE gives one interrupt per second of
 * the clock, reading C clears it and releases the line (unread, no second
 * interrupt comes), with everything disabled none comes and no timer of
 * vdm's is armed, a guest-set time keeps UIE ticking, and a reboot
 * releases a line left high (the next UIE interrupt rises again).  Margins
 * are seconds wide: this checks behaviour, not timing.
 */
#include "drv.h"
#include "fake_bzimage.h"
#include "sim-protocol.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/vdm-rtc-XXXXXX";

static unsigned cmos_read(struct drv *d, unsigned reg)
{
	drv_pio_write(d, 0x70, 1, reg);
	return (unsigned)drv_pio_read(d, 0x71, 1);
}

static void cmos_write(struct drv *d, unsigned reg, unsigned v)
{
	drv_pio_write(d, 0x70, 1, reg);
	drv_pio_write(d, 0x71, 1, v);
}

static unsigned from_bcd(unsigned v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

/* The time the registers show, read as register B says, seconds since
 * 1970 (UTC); -1 if a field is out of range. */
static time_t rtc_time_once(struct drv *d)
{
	unsigned b = cmos_read(d, 0x0b);
	unsigned f[7] = { cmos_read(d, 0x00), cmos_read(d, 0x02), cmos_read(d, 0x04),
			  cmos_read(d, 0x07), cmos_read(d, 0x08), cmos_read(d, 0x09),
			  cmos_read(d, 0x32) };
	bool pm = false;

	if (!(b & 0x02)) {
		pm = f[2] & 0x80;
		f[2] &= 0x7f;
	}
	if (!(b & 0x04))
		for (int i = 0; i < 7; i++)
			f[i] = from_bcd(f[i]);
	if (!(b & 0x02)) {
		if (f[2] < 1 || f[2] > 12)
			return -1;
		f[2] = f[2] % 12 + (pm ? 12 : 0);
	}
	struct tm tm = { .tm_sec = (int)f[0], .tm_min = (int)f[1], .tm_hour = (int)f[2],
			 .tm_mday = (int)f[3], .tm_mon = (int)f[4] - 1,
			 .tm_year = (int)(f[6] * 100 + f[5]) - 1900 };

	return f[0] > 59 || f[1] > 59 || f[2] > 23 || f[4] < 1 || f[4] > 12 ? -1 : timegm(&tm);
}

/* As a driver reads it: the fields one by one, again until two reads
 * agree (a second may end between two fields). */
static time_t rtc_time(struct drv *d)
{
	time_t t = rtc_time_once(d), again;

	for (int i = 0; i < 3 && (again = rtc_time_once(d)) != t; i++)
		t = again;
	return t;
}

/* Within a few seconds of the host's clock (the reads take a moment). */
static bool near_host(time_t t)
{
	time_t host = time(NULL);

	return t >= 0 && t >= host - 3 && t <= host + 1;
}

static void clock_and_formats(struct drv *d)
{
	drv_check(drv_pio_read(d, 0x70, 1) == 0xff, "the index port reads 0xFF, as acrn-dm's");
	drv_check(cmos_read(d, 0x0a) == 0x20, "register A: the 32 kHz divider, update-in-progress "
					      "clear (%#x)",
		  cmos_read(d, 0x0a));
	drv_check(cmos_read(d, 0x0b) == 0x02, "register B at power-on: 24-hour BCD, no interrupts");
	drv_check(cmos_read(d, 0x0d) == 0x80 && cmos_read(d, 0x0c) == 0,
		  "register D says the time is valid, register C flags nothing");
	drv_pio_write(d, 0x70, 1, 0x8d); /* bit 7 is the NMI mask, not the index */
	drv_check(drv_pio_read(d, 0x71, 1) == 0x80, "the NMI mask bit of port 0x70 is no index bit");

	time_t t = rtc_time(d);
	unsigned hour_bcd = cmos_read(d, 0x04), sec_bcd = cmos_read(d, 0x00);

	drv_check(near_host(t) && (hour_bcd & 0x0f) <= 9 && (sec_bcd & 0x0f) <= 9,
		  "BCD, 24-hour: the host's UTC time (%lld against %lld)", (long long)t,
		  (long long)time(NULL));
	cmos_write(d, 0x0b, 0x06);
	t = rtc_time(d);
	drv_check(near_host(t) && cmos_read(d, 0x09) == (unsigned)(gmtime(&(time_t){ time(NULL) })->tm_year % 100),
		  "binary, 24-hour: the same time, the year in binary");
	cmos_write(d, 0x0b, 0x04);
	unsigned h = cmos_read(d, 0x04);
	t = rtc_time(d);
	struct tm now;
	time_t host = time(NULL);

	gmtime_r(&host, &now);
	drv_check(near_host(t) && (h & 0x7f) >= 1 && (h & 0x7f) <= 12 &&
			  !!(h & 0x80) == (now.tm_hour >= 12),
		  "binary, 12-hour: hours 1-12 with PM in bit 7 (%#x at %02d h UTC)", h,
		  now.tm_hour);
	cmos_write(d, 0x0b, 0x02);
}

static void guest_sets_time(struct drv *d)
{
	/* As Linux's mc146818_set_time: SET, the fields in BCD, SET off. */
	cmos_write(d, 0x0b, 0x82);
	static const unsigned regs[] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32 };
	static const unsigned vals[] = { 0x30, 0x45, 0x13, 0x04, 0x07, 0x31, 0x20 };

	for (int i = 0; i < 7; i++)
		cmos_write(d, regs[i], vals[i]);
	drv_check(cmos_read(d, 0x00) == 0x30, "under SET the seconds stay as written");
	cmos_write(d, 0x0b, 0x02);
	struct tm want = { .tm_sec = 30, .tm_min = 45, .tm_hour = 13, .tm_mday = 4, .tm_mon = 6,
			   .tm_year = 131 };
	time_t set = timegm(&want), t = rtc_time(d);

	drv_check(t >= set && t <= set + 2 && cmos_read(d, 0x32) == 0x20,
		  "SET cleared: the clock reads the time written, 2031-07-04 13:45:30 (%lld s after)",
		  (long long)(t - set));
	usleep(1500 * 1000);
	drv_check(rtc_time(d) > t, "and counts on from it");

	/* A time written without SET takes effect at once (some guests). */
	cmos_write(d, 0x09, 0x29);
	drv_check(from_bcd(cmos_read(d, 0x09)) == 29 && rtc_time(d) < set,
		  "a year written without SET moves the clock at once");

	/* 31 February is no date: the clock stops, as acrn-dm's does. */
	cmos_write(d, 0x0b, 0x82);
	cmos_write(d, 0x08, 0x02);
	cmos_write(d, 0x07, 0x31);
	cmos_write(d, 0x0b, 0x02);
	unsigned s0 = cmos_read(d, 0x00);

	usleep(1500 * 1000);
	drv_check(cmos_read(d, 0x00) == s0 && cmos_read(d, 0x07) == 0x31,
		  "a date that is none stops the clock where it was written");
	cmos_write(d, 0x07, 0x28);
	t = rtc_time(d);
	usleep(1500 * 1000);
	drv_check(rtc_time(d) > t, "a valid day written starts it again");
}

static void nvram_and_memory(struct drv *d)
{
	cmos_write(d, 0x40, 0x5a);
	cmos_write(d, 0x7f, 0xa5);
	drv_check(cmos_read(d, 0x40) == 0x5a && cmos_read(d, 0x7f) == 0xa5,
		  "NVRAM keeps what the guest writes");
	cmos_write(d, 0x0d, 0x00);
	cmos_write(d, 0x0c, 0xff);
	drv_check(cmos_read(d, 0x0d) == 0x80 && cmos_read(d, 0x0c) == 0,
		  "registers C and D are read-only");
	/* -m 3G: RAM to 2 GiB, the rest at 4 GiB (the PCI hole between). */
	unsigned low = cmos_read(d, 0x34) | cmos_read(d, 0x35) << 8;
	unsigned high = cmos_read(d, 0x5b) | cmos_read(d, 0x5c) << 8 | cmos_read(d, 0x5d) << 16;

	drv_check(low == ((2u << 30) - (16u << 20)) / 65536 && high == (1u << 30) / 65536,
		  "the RAM size bytes: %u x 64 KiB from 16 MiB to the hole, %u x 64 KiB above 4 GiB",
		  low, high);
}

/* ---- interrupts ---- */

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The next level IRQ 8 goes to within ms (other interrupts are skipped):
 * 1 or 0, or -1 if none came. */
static int irq8_next(struct drv *d, int ms)
{
	long long end = ms_now() + ms;
	struct drv_irq irq;

	for (long long left = ms; left > 0; left = end - ms_now()) {
		if (!drv_wait_irq(d, &irq, (int)left))
			return -1;
		if (irq.kind == SIM_IRQ_ISA && irq.addr == 8)
			return (int)irq.data;
	}
	return -1;
}

/* Serve IRQ 8 for ms as a driver does: at each rise read C.  Returns the
 * interrupts (rises); flags gets C's bits ORed; secs (if not NULL) the
 * seconds register at each interrupt, up to 16. */
static unsigned serve_irq8(struct drv *d, int ms, unsigned *flags, unsigned *secs)
{
	long long end = ms_now() + ms;
	unsigned n = 0;

	*flags = 0;
	for (long long left = ms; left > 0; left = end - ms_now()) {
		int level = irq8_next(d, (int)left);

		if (level < 0)
			break;
		if (level != 1)
			continue;
		if (secs && n < 16)
			secs[n] = cmos_read(d, 0x00);
		n++;
		*flags |= cmos_read(d, 0x0c);
	}
	return n;
}

/* Timerfds of vdm's that are armed (/proc/PID/fdinfo: it_value not 0). */
static int armed_timers(pid_t pid)
{
	char path[320], link[64], line[160];
	int armed = 0;
	DIR *fds;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	fds = opendir(path);
	if (!fds)
		return -1;
	while ((e = readdir(fds))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strstr(link, "timerfd"))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
		FILE *f = fopen(path, "r");

		while (f && fgets(line, sizeof(line), f)) {
			long long sec, nsec;

			if (sscanf(line, "it_value: (%lld, %lld)", &sec, &nsec) == 2 && (sec || nsec))
				armed++;
		}
		if (f)
			fclose(f);
	}
	closedir(fds);
	return armed;
}

static unsigned bcd(unsigned v)
{
	return (v / 10) << 4 | v % 10;
}

static void interrupts_off(struct drv *d, pid_t pid)
{
	unsigned flags;
	int idle = armed_timers(pid);

	cmos_write(d, 0x0a, 0x26); /* 1024 Hz selected, PIE not set */
	drv_check(serve_irq8(d, 2000, &flags, NULL) == 0 && cmos_read(d, 0x0c) == 0,
		  "everything disabled: no interrupt in 2 s, register C empty");
	drv_check(idle >= 0 && armed_timers(pid) == idle,
		  "and no timer armed for the RTC (%d armed before and after)", idle);

	/* Periodic at 8 Hz. */
	cmos_write(d, 0x0a, 0x2d);
	cmos_write(d, 0x0b, 0x42);
	drv_check(armed_timers(pid) > idle, "PIE set: a timer is armed");
	unsigned n = serve_irq8(d, 2000, &flags, NULL);

	drv_check(n >= 4 && n <= 40 && (flags & 0xf0) == 0xc0,
		  "periodic at 8 Hz: %u interrupts in 2 s, C had PF and IRQF (%#x)", n, flags);
	cmos_write(d, 0x0b, 0x02);
	(void)cmos_read(d, 0x0c);
	(void)serve_irq8(d, 300, &flags, NULL);
	drv_check(serve_irq8(d, 1500, &flags, NULL) == 0 && armed_timers(pid) == idle,
		  "PIE cleared: none after, its timer disarmed");
}

static void update_and_clear(struct drv *d)
{
	unsigned flags, secs[16];

	cmos_write(d, 0x0b, 0x12); /* UIE, 24-hour BCD */
	unsigned n = serve_irq8(d, 3500, &flags, secs);
	bool each_new = n >= 2;

	for (unsigned i = 1; i < n && i < 16; i++)
		each_new &= from_bcd(secs[i]) != from_bcd(secs[i - 1]);
	drv_check(n >= 2 && n <= 5 && (flags & 0xf0) == 0x90 && each_new,
		  "UIE: %u interrupts in 3.5 s, each in a new second, C had UF and IRQF (%#x)", n,
		  flags);

	/* Not reading C: the line stays high, no second interrupt. */
	int level = irq8_next(d, 2000);

	drv_check(level == 1, "the next update-ended interrupt comes (%d)", level);
	drv_check(irq8_next(d, 2500) == -1,
		  "left unread, register C keeps IRQ 8 high: no other change for 2.5 s");
	unsigned c = cmos_read(d, 0x0c);

	level = irq8_next(d, 200);
	drv_check(c == 0x90 && level == 0 && cmos_read(d, 0x0c) == 0,
		  "reading C gives UF|IRQF (%#x), releases IRQ 8 (%d), and clears it", c, level);
	cmos_write(d, 0x0b, 0x02);
	(void)cmos_read(d, 0x0c);
	(void)serve_irq8(d, 300, &flags, NULL);
}

/* The alarm at the RTC's time now + ahead seconds; hour and minute
 * "don't care" when any. */
static void set_alarm(struct drv *d, int ahead, bool any)
{
	time_t at = rtc_time(d) + ahead;
	struct tm tm;

	gmtime_r(&at, &tm);
	cmos_write(d, 0x01, bcd((unsigned)tm.tm_sec));
	cmos_write(d, 0x03, any ? 0xc0 : bcd((unsigned)tm.tm_min));
	cmos_write(d, 0x05, any ? 0xff : bcd((unsigned)tm.tm_hour));
}

static void alarm_once(struct drv *d)
{
	unsigned flags;

	set_alarm(d, 3, false);
	cmos_write(d, 0x0b, 0x22); /* AIE */
	unsigned n = serve_irq8(d, 7000, &flags, NULL);

	drv_check(n == 1 && (flags & 0xf0) == 0xa0,
		  "an alarm 3 s ahead fires once in 7 s, C had AF and IRQF, not UF (%u, %#x)", n,
		  flags);
	set_alarm(d, 2, true);
	n = serve_irq8(d, 5000, &flags, NULL);
	drv_check(n == 1 && (flags & 0xf0) == 0xa0,
		  "with hour and minute \"don't care\" it fires once at its second (%u, %#x)", n,
		  flags);
	cmos_write(d, 0x0b, 0x02);
}

static void guest_time_keeps_ticking(struct drv *d)
{
	unsigned flags;

	cmos_write(d, 0x0b, 0x12);
	cmos_write(d, 0x0b, 0x92); /* SET: the clock and UIE stop */
	cmos_write(d, 0x00, 0x10);
	cmos_write(d, 0x02, 0x20);
	cmos_write(d, 0x04, 0x05);
	cmos_write(d, 0x0b, 0x12); /* the time taken, UIE again */
	unsigned n = serve_irq8(d, 2500, &flags, NULL);

	drv_check(n >= 1 && n <= 4 && (flags & 0x10),
		  "after the guest sets the time, UIE goes on ticking (%u interrupts in 2.5 s)", n);
}

int main(void)
{
	char kernel[200], log[200];
	struct vdm_proc p;
	struct drv d;
	int st = -1;

	setenv("VDM_TEST_HSM", "acrn", 1);
	drv_use_acrn_model();
	if (!mkdtemp(dir))
		return 99;
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	snprintf(log, sizeof(log), "%s/vdm.log", dir);
	write_kernel(kernel, &fake_good);
	if (vdm_spawn(&p, (const char *const[]){ "--log-file", log, "-m", "3G", "-k", kernel, "-s",
						 "0:0,hostbridge", NULL },
		      &st)) {
		drv_check(false, "vdm starts over the model (exit %d)", st);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	clock_and_formats(&d);
	guest_sets_time(&d);
	nvram_and_memory(&d);
	interrupts_off(&d, p.pid);
	update_and_clear(&d);
	alarm_once(&d);
	guest_time_keeps_ticking(&d);
	/* Left high for the reboot below: UIE on, C unread. */
	drv_check(irq8_next(&d, 2000) == 1, "IRQ 8 high before the reboot");

	/* A reboot starts the RTC afresh, as acrn-dm's vm_reset_vdevs. */
	drv_pio_write(&d, 0xcf9, 1, 0x06);
	bool fresh = false;

	for (int i = 0; i < 200 && !fresh; i++) {
		usleep(10000);
		fresh = near_host(rtc_time(&d)) && cmos_read(&d, 0x40) == 0;
	}
	drv_check(fresh, "after a guest reboot: the host's time again, NVRAM cleared");
	unsigned flags;

	drv_check(cmos_read(&d, 0x0b) == 0x02 && serve_irq8(&d, 1500, &flags, NULL) == 0,
		  "and its interrupts off");
	cmos_write(&d, 0x0b, 0x12);
	drv_check(serve_irq8(&d, 2500, &flags, NULL) >= 1,
		  "UIE after the reboot interrupts again: the line left high was released");
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "vdm stops cleanly");
	unlink(kernel);
	unlink(log);
	rmdir(dir);
	return drv_result();
}
