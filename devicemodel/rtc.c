/*
 * rtc.c - the MC146818 real-time clock and CMOS RAM of rtc.h, as acrn-dm
 * presents it to a post-launched VM (devicemodel/hw/platform/rtc.c in
 * ACRN's tree; the behaviour follows it, the code is vdm's):
 *   - port 0x70 selects a register (bit 7, the NMI mask, is dropped) and
 *     reads 0xFF; port 0x71 reads and writes the selected one;
 *   - seconds, minutes, hours, weekday, day, month, year and the century
 *     (0x32) are computed from the clock at each read, in BCD or binary
 *     and in 24- or 12-hour form (PM in bit 7) as register B says;
 *   - register A's update-in-progress bit always reads 0, as acrn-dm's
 *     does: each read computes the fields from the clock at once, so no
 *     read sees a half-updated time, and a guest that waits for the bit
 *     to clear does not wait;
 *   - register B's SET bit stops the clock for the guest to write the time;
 *     clearing it starts the clock from what was written.  Time registers
 *     written without SET take effect at once.  A time that is not one
 *     (month 13, BCD digits above 9...) stops the clock until a valid one
 *     is written, as acrn-dm does;
 *   - the dividers of register A (other than 010) also hold the clock;
 *   - register C holds the interrupt flags rtc_irq.c raises (periodic,
 *     alarm, update-ended, IRQF) and a read clears them; register D reads
 *     0x80 (the battery is good);
 *   - the rest is NVRAM, with the RAM size in the bytes acrn-dm fills for
 *     firmware: 0x34-0x35 RAM from 16 MiB to the PCI hole, 0x5B-0x5D RAM
 *     above 4 GiB, in 64 KiB units.
 * The interrupts themselves (ISA IRQ 8) and their timers are rtc_irq.c's.
 */
#include "rtc_internal.h"

#include <string.h>

#define HOUR_PM 0x80
#define SIXTEEN_MIB (16ULL << 20)
#define FOUR_GIB (4ULL << 30)
#define UNIT_64K (64ULL << 10)

time_t rtc_monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static bool is_time_register(unsigned reg)
{
	return reg == REG_SECONDS || reg == REG_MINUTES || reg == REG_HOURS ||
	       reg == REG_WEEKDAY || reg == REG_DAY || reg == REG_MONTH || reg == REG_YEAR ||
	       reg == RTC_CENTURY;
}

bool rtc_counting(const struct rtc *rtc)
{
	return (rtc->cmos[REG_A] & A_DIVIDER_MASK) == A_DIVIDER_32K &&
	       !(rtc->cmos[REG_B] & B_SET) && !rtc->broken;
}

time_t rtc_now(const struct rtc *rtc)
{
	return rtc_counting(rtc) ? rtc->base + (rtc_monotonic_seconds() - rtc->base_mono) : rtc->base;
}

/* Hold the clock where it is (before it stops counting). */
static void hold(struct rtc *rtc)
{
	rtc->base = rtc_now(rtc);
	rtc->base_mono = rtc_monotonic_seconds();
}

static uint8_t encode(const struct rtc *rtc, unsigned v)
{
	return rtc->cmos[REG_B] & B_BINARY ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

/* A register's number as register B says it is written; -1 if it is
 * not a number there (BCD digits above 9). */
static int decode(const struct rtc *rtc, uint8_t v)
{
	if (rtc->cmos[REG_B] & B_BINARY)
		return v;
	if ((v & 0x0f) > 9 || (v >> 4) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0x0f);
}

void rtc_render(struct rtc *rtc, time_t t)
{
	struct tm tm;
	unsigned hour;

	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year < 0)
		return;
	hour = (unsigned)tm.tm_hour;
	rtc->cmos[REG_SECONDS] = encode(rtc, (unsigned)tm.tm_sec);
	rtc->cmos[REG_MINUTES] = encode(rtc, (unsigned)tm.tm_min);
	if (rtc->cmos[REG_B] & B_24H)
		rtc->cmos[REG_HOURS] = encode(rtc, hour);
	else
		rtc->cmos[REG_HOURS] = (uint8_t)(encode(rtc, hour % 12 ? hour % 12 : 12) |
						 (hour >= 12 ? HOUR_PM : 0));
	rtc->cmos[REG_WEEKDAY] = encode(rtc, (unsigned)tm.tm_wday + 1); /* Sunday is 1 */
	rtc->cmos[REG_DAY] = encode(rtc, (unsigned)tm.tm_mday);
	rtc->cmos[REG_MONTH] = encode(rtc, (unsigned)tm.tm_mon + 1);
	rtc->cmos[REG_YEAR] = encode(rtc, (unsigned)(tm.tm_year + 1900) % 100);
	rtc->cmos[RTC_CENTURY] = encode(rtc, (unsigned)(tm.tm_year + 1900) / 100);
}

/* The time the registers hold, or -1 if they hold no valid time. The
 * weekday is not read: guests do not all keep it (nor does acrn-dm). */
static time_t parse(const struct rtc *rtc)
{
	int sec = decode(rtc, rtc->cmos[REG_SECONDS]), min = decode(rtc, rtc->cmos[REG_MINUTES]);
	int day = decode(rtc, rtc->cmos[REG_DAY]), mon = decode(rtc, rtc->cmos[REG_MONTH]);
	int year = decode(rtc, rtc->cmos[REG_YEAR]), cent = decode(rtc, rtc->cmos[RTC_CENTURY]);
	uint8_t h = rtc->cmos[REG_HOURS];
	int hour;

	if (rtc->cmos[REG_B] & B_24H) {
		hour = decode(rtc, h);
	} else {
		hour = decode(rtc, h & (uint8_t)~HOUR_PM);
		if (hour < 1 || hour > 12)
			return -1;
		hour = hour % 12 + (h & HOUR_PM ? 12 : 0);
	}
	if (sec < 0 || sec > 59 || min < 0 || min > 59 || hour < 0 || hour > 23 || day < 1 ||
	    mon < 1 || mon > 12 || year < 0 || year > 99 || cent < 19 || cent > 99)
		return -1;
	struct tm tm = { .tm_sec = sec, .tm_min = min, .tm_hour = hour, .tm_mday = day,
			 .tm_mon = mon - 1, .tm_year = cent * 100 + year - 1900 };
	time_t t = timegm(&tm);

	/* timegm moves 31 February on to March: such a day is no date. */
	if (t < 0 || tm.tm_mday != day || tm.tm_mon != mon - 1)
		return -1;
	return t;
}

/* The guest gave the clock a time (SET cleared, or a time register written
 * while it runs): count from it, or stop if it is not a time. */
static void take_guest_time(struct rtc *rtc)
{
	time_t t = parse(rtc);

	rtc->broken = t < 0;
	if (t >= 0) {
		rtc->base = t;
		rtc->base_mono = rtc_monotonic_seconds();
	}
	rtc_irq_time_set(rtc);
	rtc_irq_rearm(rtc); /* a stopped clock ticks no update */
}

static void write_reg_a(struct rtc *rtc, uint8_t v)
{
	bool was = rtc_counting(rtc);

	if (was)
		hold(rtc);
	rtc->cmos[REG_A] = v & (uint8_t)~A_UIP; /* UIP is read-only */
	if (!was && rtc_counting(rtc))
		rtc->base_mono = rtc_monotonic_seconds(); /* counts on from where it stood */
	rtc_irq_rearm(rtc); /* the rate or the dividers may have changed */
}

static void write_reg_b(struct rtc *rtc, uint8_t v)
{
	uint8_t old = rtc->cmos[REG_B];

	if (!(old & B_SET) && (v & B_SET)) {
		/* The guest takes the registers: they hold the time at this
		 * moment, in the old format, until it writes them. */
		hold(rtc);
		rtc_render(rtc, rtc->base);
		rtc->cmos[REG_B] = v & (uint8_t)~B_UPDATE_IRQ; /* as acrn-dm */
		rtc_irq_rearm(rtc);
		return;
	}
	rtc->cmos[REG_B] = v;
	if ((old & B_SET) && !(v & B_SET))
		take_guest_time(rtc);
	rtc_irq_rearm(rtc); /* the enable bits may have changed */
}

static void write_data(struct rtc *rtc, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_A:
		write_reg_a(rtc, v);
		return;
	case REG_B:
		write_reg_b(rtc, v);
		return;
	case REG_C:
	case REG_D:
		return; /* read-only */
	}
	if (is_time_register(reg) && !(rtc->cmos[REG_B] & B_SET)) {
		/* Written without SET (some guests never set it): the other
		 * fields as they read now (as written, if the clock stopped on
		 * a bad time), this one as written. */
		if (!rtc->broken)
			rtc_render(rtc, rtc_now(rtc));
		rtc->cmos[reg] = reg == REG_SECONDS ? v & 0x7f : v;
		take_guest_time(rtc);
		return;
	}
	rtc->cmos[reg] = reg == REG_SECONDS ? v & 0x7f : v;
}

static uint8_t read_data(struct rtc *rtc, unsigned reg)
{
	uint8_t v;

	/* Under SET the guest owns the fields; a stopped clock (dividers
	 * held) shows where it stands. */
	if (is_time_register(reg) && !(rtc->cmos[REG_B] & B_SET) && !rtc->broken)
		rtc_render(rtc, rtc_now(rtc));
	v = rtc->cmos[reg];
	if (reg == REG_C)
		rtc_irq_set_flags(rtc, 0); /* reading clears the flags, and IRQ 8 */
	return v;
}

void rtc_reset(struct rtc *rtc)
{
	struct hsm_vm *vm = rtc->vm;
	struct hsm_mem_region r[16];
	int nr = hsm_get_mem_regions(vm, r, 16);
	uint64_t low = 0, high = 0;

	rtc_irq_reset(rtc);
	memset(rtc->cmos, 0, sizeof(rtc->cmos));
	rtc->broken = false;
	for (int i = 0; i < nr && i < 16; i++) {
		if (r[i].gpa == 0)
			low = r[i].size;
		else if (r[i].gpa >= FOUR_GIB)
			high += r[i].size;
	}
	low = low > SIXTEEN_MIB ? (low - SIXTEEN_MIB) / UNIT_64K : 0;
	high /= UNIT_64K;
	rtc->cmos[RTC_LOWMEM_LSB] = (uint8_t)low;
	rtc->cmos[RTC_LOWMEM_MSB] = (uint8_t)(low >> 8);
	for (int i = 0; i < 3; i++)
		rtc->cmos[RTC_HIGHMEM_LSB + i] = (uint8_t)(high >> (8 * i));
	rtc->cmos[REG_A] = A_DIVIDER_32K;
	rtc->cmos[REG_B] = B_24H;
	rtc->cmos[REG_D] = D_VALID_RAM_TIME;
	rtc->index = REG_D; /* a harmless register until the guest picks one */
	rtc->base = time(NULL);
	rtc->base_mono = rtc_monotonic_seconds();
	rtc_render(rtc, rtc->base);
	rtc->updated_to = rtc->base;
}

int rtc_init(struct rtc *rtc, struct hsm_vm *vm, struct evloop *loop, char *err, size_t errlen)
{
	int ret;

	memset(rtc, 0, sizeof(*rtc));
	rtc->vm = vm;
	rtc->loop = loop;
	ret = rtc_irq_open(rtc, err, errlen);
	if (ret)
		return ret;
	rtc->enabled = true;
	rtc_reset(rtc);
	return 0;
}

void rtc_close(struct rtc *rtc)
{
	if (!rtc->enabled)
		return;
	rtc_irq_close(rtc);
	rtc->enabled = false;
}

bool rtc_ioreq(struct rtc *rtc, struct hsm_ioreq *req)
{
	if (!rtc->enabled || req->space != HSM_IO_PIO || req->size != 1 ||
	    (req->addr != RTC_INDEX_PORT && req->addr != RTC_DATA_PORT))
		return false;
	if (req->addr == RTC_INDEX_PORT) {
		if (req->dir == HSM_IO_READ)
			req->data = 0xff;
		else
			rtc->index = (uint8_t)req->data & 0x7f;
		return true;
	}
	/* Flags first, as acrn-dm brings its clock up to date at each data
	 * access: a read of C just after a second ended sees its flags. */
	rtc_irq_catch_up(rtc);
	if (req->dir == HSM_IO_READ)
		req->data = read_data(rtc, rtc->index);
	else
		write_data(rtc, rtc->index, (uint8_t)req->data);
	return true;
}
