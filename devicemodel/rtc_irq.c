/*
 * rtc_irq.c - the RTC's interrupts on ISA IRQ 8, as acrn-dm raises them
 * (devicemodel/hw/platform/rtc.c in ACRN's tree: vrtc_set_reg_c,
 * vrtc_time_update, vrtc_periodic_timer, vrtc_update_timer, vrtc_freq;
 * the behaviour follows it, the code is vdm's):
 *   - periodic: while register B's PIE is set and register A's dividers
 *     run, a timer at A's rate sets PF at each expiry (rates 1 and 2 give
 *     256 and 128 Hz, as on the chip and in acrn-dm's table; rate 0 none);
 *   - alarm: while AIE is set and the clock counts, each second the clock
 *     enters is compared with the alarm bytes (0x01, 0x03, 0x05; a byte of
 *     0xC0-0xFF matches any value, the chip's "don't care") and a match
 *     sets AF;
 *   - update-ended: while UIE is set and the clock counts, each second the
 *     clock enters sets UF;
 *   - a flag is set only while its interrupt is enabled (acrn-dm's rule:
 *     the chip sets it regardless); IRQF is set while a flag is set whose
 *     interrupt is enabled, and IRQ 8 follows IRQF: driven high
 *     (GSI_SET_HIGH) when it rises, low (GSI_SET_LOW) when it falls, which
 *     a read of register C does.  The pin is edge-triggered and active high
 *     (the MADT has no override for it), so the guest gets one interrupt
 *     per rise of IRQF, and none more until it has read C;
 *   - the seconds come from an update timer at the end of each
 *     CLOCK_MONOTONIC second (where the clock's seconds end, rtc.c) and
 *     from every data-port access, which catch up first (as acrn-dm's).
 * Timers are armed only while an enabled interrupt needs them: with no
 * interrupt enabled the RTC costs nothing.  Where vdm does not follow
 * acrn-dm, and why: acrn-dm's update timer ticks every second for ever;
 * it walks, for the alarm, every second between the old time and a time
 * the guest sets (one set backwards with AIE on walks ~2^63 of them), where
 * vdm walks only seconds the clock counted, at most a day of them (every
 * alarm pattern repeats within a day); and at a reboot vdm releases IRQ 8
 * if it was high, since the hypervisor's IOAPIC reset keeps pin levels and
 * a line left high would never rise again.
 */
#include "rtc_internal.h"

#include "log.h"

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define NSEC_PER_SEC 1000000000ULL
#define DAY_SECONDS 86400
#define ALARM_DONT_CARE 0xc0
/* The update tick comes this long after the second ends, so that the
 * clock, which reads whole monotonic seconds, has moved on when it runs. */
#define UPDATE_SLACK_NS 1000000

/* Register A's rate select: interrupts per second (0: none). */
static const uint32_t periodic_hz[16] = { 0,    256,  128, 8192, 4096, 2048, 1024, 512,
					  256,  128,  64,  32,   16,   8,    4,    2 };

static void drive_irq(struct rtc *rtc, bool high)
{
	int ret = hsm_set_isa_irq(rtc->vm, RTC_IRQ, high);

	if (ret == 0) {
		rtc->irq_high = high;
		return;
	}
	/* Left as it was: the next change of IRQF tries again. */
	if (!rtc->irq_errors++)
		log_err("rtc: IRQ %d could not be %s: %s", RTC_IRQ, high ? "raised" : "released",
			strerror(-ret));
}

void rtc_irq_set_flags(struct rtc *rtc, uint8_t flags)
{
	/* C's flag bits and B's enable bits sit at the same places. */
	bool irqf = flags & rtc->cmos[REG_B] & C_FLAGS;

	rtc->cmos[REG_C] = (uint8_t)((flags & C_FLAGS) | (irqf ? C_IRQF : 0));
	if (irqf != rtc->irq_high)
		drive_irq(rtc, irqf);
}

static void add_flag(struct rtc *rtc, uint8_t flag)
{
	rtc_irq_set_flags(rtc, (uint8_t)(rtc->cmos[REG_C] | flag));
}

/* Whether the time registers, as just rendered, match the alarm. */
static bool alarm_matches(const struct rtc *rtc)
{
	static const unsigned pairs[3][2] = { { REG_ALARM_SECONDS, REG_SECONDS },
					      { REG_ALARM_MINUTES, REG_MINUTES },
					      { REG_ALARM_HOURS, REG_HOURS } };

	for (int i = 0; i < 3; i++) {
		uint8_t want = rtc->cmos[pairs[i][0]];

		if (want < ALARM_DONT_CARE && want != rtc->cmos[pairs[i][1]])
			return false;
	}
	return true;
}

void rtc_irq_catch_up(struct rtc *rtc)
{
	uint8_t b = rtc->cmos[REG_B];
	time_t t, from;

	if (!rtc_counting(rtc))
		return; /* a stopped clock enters no second */
	t = rtc_now(rtc);
	if (t <= rtc->updated_to) {
		rtc->updated_to = t;
		return;
	}
	from = rtc->updated_to + 1;
	rtc->updated_to = t;
	if (b & B_ALARM_IRQ) {
		bool hit = false;

		if (t - from >= DAY_SECONDS)
			from = t - DAY_SECONDS + 1;
		for (time_t s = from; s <= t && !hit; s++) {
			rtc_render(rtc, s);
			hit = alarm_matches(rtc);
		}
		rtc_render(rtc, t);
		if (hit)
			add_flag(rtc, C_ALARM);
	}
	if (b & B_UPDATE_IRQ)
		add_flag(rtc, C_UPDATE);
}

void rtc_irq_time_set(struct rtc *rtc)
{
	rtc->updated_to = rtc_now(rtc);
}

static uint64_t read_expirations(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 0; /* disarmed meanwhile */
	return n;
}

static void periodic_tick(void *arg, int fd, uint32_t events)
{
	struct rtc *rtc = arg;

	(void)events;
	if (read_expirations(fd) && (rtc->cmos[REG_B] & B_PERIODIC_IRQ))
		add_flag(rtc, C_PERIODIC);
}

static void update_tick(void *arg, int fd, uint32_t events)
{
	struct rtc *rtc = arg;

	(void)events;
	if (read_expirations(fd))
		rtc_irq_catch_up(rtc);
}

/* Arm fd to first expire at first (absolute, CLOCK_MONOTONIC, if abs),
 * then every interval_ns; all zero disarms it. */
static void set_timer(struct rtc *rtc, int fd, bool abs, uint64_t first_ns, uint64_t interval_ns)
{
	struct itimerspec its = {
		.it_value = { (time_t)(first_ns / NSEC_PER_SEC), (long)(first_ns % NSEC_PER_SEC) },
		.it_interval = { (time_t)(interval_ns / NSEC_PER_SEC),
				 (long)(interval_ns % NSEC_PER_SEC) },
	};

	if (timerfd_settime(fd, abs ? TFD_TIMER_ABSTIME : 0, &its, NULL) && !rtc->irq_errors++)
		log_err("rtc: cannot set its timer: %s", strerror(errno));
}

void rtc_irq_rearm(struct rtc *rtc)
{
	uint8_t a = rtc->cmos[REG_A], b = rtc->cmos[REG_B];
	bool dividers = (a & A_DIVIDER_MASK) == A_DIVIDER_32K;
	uint32_t hz = periodic_hz[a & A_RATE_MASK];
	uint64_t period = (b & B_PERIODIC_IRQ) && dividers && hz ? NSEC_PER_SEC / hz : 0;
	bool update = (b & (B_ALARM_IRQ | B_UPDATE_IRQ)) && rtc_counting(rtc);

	/* An enable bit may have changed: IRQF again (acrn-dm does the same). */
	rtc_irq_set_flags(rtc, rtc->cmos[REG_C]);
	/* Only a new rate restarts the periodic timer: rewriting B with the
	 * same bits keeps its phase. */
	if (period != rtc->periodic_ns) {
		set_timer(rtc, rtc->periodic_fd, false, period, period);
		rtc->periodic_ns = period;
	}
	if (update != rtc->update_armed) {
		uint64_t next = (uint64_t)(rtc_monotonic_seconds() + 1) * NSEC_PER_SEC + UPDATE_SLACK_NS;

		if (update)
			set_timer(rtc, rtc->update_fd, true, next, NSEC_PER_SEC);
		else
			set_timer(rtc, rtc->update_fd, false, 0, 0);
		rtc->update_armed = update;
	}
}

void rtc_irq_reset(struct rtc *rtc)
{
	if (rtc->periodic_ns)
		set_timer(rtc, rtc->periodic_fd, false, 0, 0);
	if (rtc->update_armed)
		set_timer(rtc, rtc->update_fd, false, 0, 0);
	rtc->periodic_ns = 0;
	rtc->update_armed = false;
	rtc->cmos[REG_C] = 0;
	if (rtc->irq_high)
		drive_irq(rtc, false);
	rtc->irq_high = false;
}

int rtc_irq_open(struct rtc *rtc, char *err, size_t errlen)
{
	int ret;

	rtc->periodic_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	rtc->update_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (rtc->periodic_fd < 0 || rtc->update_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "rtc: timerfd_create: %s", strerror(errno));
		goto fail;
	}
	ret = evloop_add_fd(rtc->loop, rtc->periodic_fd, EPOLLIN, periodic_tick, rtc);
	if (!ret) {
		ret = evloop_add_fd(rtc->loop, rtc->update_fd, EPOLLIN, update_tick, rtc);
		if (ret)
			evloop_del_fd(rtc->loop, rtc->periodic_fd);
	}
	if (ret) {
		snprintf(err, errlen, "rtc: cannot watch its timers: %s", strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	if (rtc->periodic_fd >= 0)
		close(rtc->periodic_fd);
	if (rtc->update_fd >= 0)
		close(rtc->update_fd);
	rtc->periodic_fd = rtc->update_fd = -1;
	return ret;
}

void rtc_irq_close(struct rtc *rtc)
{
	if (rtc->periodic_fd < 0)
		return;
	evloop_del_fd(rtc->loop, rtc->periodic_fd);
	evloop_del_fd(rtc->loop, rtc->update_fd);
	close(rtc->periodic_fd);
	close(rtc->update_fd);
	rtc->periodic_fd = rtc->update_fd = -1;
}
