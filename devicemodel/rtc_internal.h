/*
 * rtc_internal.h - what the RTC's two halves share: rtc.c (ports, clock,
 * registers, NVRAM) and rtc_irq.c (the periodic, alarm and update-ended
 * interrupts on ISA IRQ 8, and their timers).
 */
#ifndef VDM_RTC_INTERNAL_H
#define VDM_RTC_INTERNAL_H

#include "rtc.h"

#define REG_SECONDS 0x00
#define REG_ALARM_SECONDS 0x01
#define REG_MINUTES 0x02
#define REG_ALARM_MINUTES 0x03
#define REG_HOURS 0x04
#define REG_ALARM_HOURS 0x05
#define REG_WEEKDAY 0x06
#define REG_DAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define A_UIP 0x80
#define A_DIVIDER_MASK 0x70
#define A_DIVIDER_32K 0x20 /* the only divider setting that counts */
#define A_RATE_MASK 0x0f
#define B_SET 0x80
#define B_PERIODIC_IRQ 0x40
#define B_ALARM_IRQ 0x20
#define B_UPDATE_IRQ 0x10
#define B_ALL_IRQS (B_PERIODIC_IRQ | B_ALARM_IRQ | B_UPDATE_IRQ)
#define B_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80 /* some flag below is set and its interrupt enabled */
#define C_PERIODIC 0x40
#define C_ALARM 0x20
#define C_UPDATE 0x10
#define C_FLAGS (C_PERIODIC | C_ALARM | C_UPDATE)
#define D_VALID_RAM_TIME 0x80

/* ---- rtc.c ---- */

/* Whether the clock counts: dividers running, not SET, a valid time. */
bool rtc_counting(const struct rtc *rtc);
/* The guest's time now, seconds since 1970 UTC. */
time_t rtc_now(const struct rtc *rtc);
/* The time registers from t, in register B's format. */
void rtc_render(struct rtc *rtc, time_t t);
/* CLOCK_MONOTONIC in whole seconds: the clock's seconds end with these. */
time_t rtc_monotonic_seconds(void);

/* ---- rtc_irq.c ---- */

/* The timerfds on the loop, disarmed.  0 or a negative errno with err. */
int rtc_irq_open(struct rtc *rtc, char *err, size_t errlen);
void rtc_irq_close(struct rtc *rtc);
/* Timers disarmed, flags and IRQ 8 taken as clear (power-on). */
void rtc_irq_reset(struct rtc *rtc);
/* Bring the alarm and update-ended flags up to the current second (each
 * data-port access and each update tick, as acrn-dm). */
void rtc_irq_catch_up(struct rtc *rtc);
/* Register C becomes flags (IRQF worked out), IRQ 8 follows IRQF. */
void rtc_irq_set_flags(struct rtc *rtc, uint8_t flags);
/* Registers A or B changed: IRQF again, and each timer armed exactly
 * while an enabled interrupt needs it. */
void rtc_irq_rearm(struct rtc *rtc);
/* The guest gave the clock a new time: the seconds before it are not
 * walked for the alarm. */
void rtc_irq_time_set(struct rtc *rtc);

#endif /* VDM_RTC_INTERNAL_H */
