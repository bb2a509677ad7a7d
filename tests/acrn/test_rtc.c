/*
 * test_rtc.c - the RTC/CMOS vdm emulates on ACRN (devicemodel/rtc.c), as
 * a guest driver sees it through ports 0x70/0x71 over the HSM model: the
 * time of the host's clock in BCD and in binary, 24- and 12-hour, register
 * A's update-in-progress bit clear, register D's valid bit, the SET bit
 * and a time the guest writes (the clock counts on from it), a date that
 * is none (the clock stops, as acrn-dm's), NVRAM, the RAM size in the
 * bytes acrn-dm fills for firmware (-m 3G: 2 GiB low, 1 GiB above 4 GiB),
 * and a guest reboot putting it back to the host's time.
 */
#include "drv.h"
#include "fake_bzimage.h"

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

	/* A reboot starts the RTC afresh, as acrn-dm's vm_reset_vdevs. */
	drv_pio_write(&d, 0xcf9, 1, 0x06);
	bool fresh = false;

	for (int i = 0; i < 200 && !fresh; i++) {
		usleep(10000);
		fresh = near_host(rtc_time(&d)) && cmos_read(&d, 0x40) == 0;
	}
	drv_check(fresh, "after a guest reboot: the host's time again, NVRAM cleared");
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "vdm stops cleanly");
	unlink(kernel);
	unlink(log);
	rmdir(dir);
	return drv_result();
}
