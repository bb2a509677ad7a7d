/*
 * rtc.h - the PC's real-time clock and CMOS RAM (an MC146818 at ports
 * 0x70/0x71) where vdm is the platform (ACRN).  ACRN's hypervisor emulates
 * the RTC itself only for the Service VM, pre-launched and real-time VMs
 * (vrtc_init in hypervisor/arch/x86/guest/vm.c); for a standard
 * post-launched VM it is acrn-dm's (devicemodel/hw/platform/rtc.c), and so
 * vdm's here.
 */
#ifndef VDM_RTC_H
#define VDM_RTC_H

#include "evloop.h"
#include "hsm.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT 0x71
#define RTC_IRQ 8
/* CMOS offsets a guest reads for the century and the RAM it has. */
#define RTC_CENTURY 0x32
#define RTC_LOWMEM_LSB 0x34 /* 64 KiB units of RAM from 16 MiB to the PCI hole */
#define RTC_LOWMEM_MSB 0x35
#define RTC_HIGHMEM_LSB 0x5b /* 64 KiB units of RAM above 4 GiB, 3 bytes */

/*
 * The clock runs from the host's wall clock (UTC) at rtc_init, counted on
 * with CLOCK_MONOTONIC; the guest may set it (the SET bit of register B,
 * or writing the time registers), and from then on it counts from the
 * guest's time.  Only the loop thread touches it.
 */
struct rtc {
	bool enabled;
	struct hsm_vm *vm;
	struct evloop *loop;
	uint8_t index;      /* the register port 0x71 reaches, from port 0x70 */
	uint8_t cmos[128];  /* registers and NVRAM as the guest sees them */
	time_t base;        /* the guest's time, seconds since 1970 UTC, at ... */
	time_t base_mono;   /* ... this CLOCK_MONOTONIC second */
	bool broken;        /* the guest wrote a time that is not one: stopped */
	/* Interrupts (rtc_irq.c): two timerfds on the loop, disarmed while
	 * no interrupt that needs them is enabled. */
	int periodic_fd, update_fd;
	uint64_t periodic_ns; /* periodic_fd's interval; 0: disarmed */
	bool update_armed;    /* update_fd ticks at each second */
	time_t updated_to;    /* the last second the alarm and UF were checked for */
	bool irq_high;        /* ISA IRQ 8 as vdm last drove it */
	unsigned irq_errors;  /* refused SET_IRQLINE calls (logged once) */
};

/*
 * Set the RTC up for vm's guest, its timers on loop, in power-on state
 * (rtc_reset).  Returns 0 or a negative errno with one line in err.
 */
int rtc_init(struct rtc *rtc, struct hsm_vm *vm, struct evloop *loop, char *err, size_t errlen);

/*
 * Power-on state: the time from the host's clock, 24-hour BCD, no
 * interrupts enabled (timers disarmed), and the RAM vm has in the CMOS
 * bytes acrn-dm fills.  At each guest reboot (acrn-dm initialises its RTC
 * again), after the VM was paused: IRQ 8 is taken as low, as the
 * hypervisor's reset leaves its IOAPIC.
 */
void rtc_reset(struct rtc *rtc);

/* Take the timers off the loop and close them (vdm stops). */
void rtc_close(struct rtc *rtc);

/* A one-byte port request at 0x70 or 0x71: handled and true, else false. */
bool rtc_ioreq(struct rtc *rtc, struct hsm_ioreq *req);

#endif /* VDM_RTC_H */
