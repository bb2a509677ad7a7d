/*
 * uart.h - acrn-dm's LPC UARTs (-l com1,stdio): a 16550A at the PC's COM
 * port and ISA interrupt, its bytes on one of vdm's chardevs, for the
 * guests vdm loads (ACRN).  Serves the guest's port requests from the loop
 * thread.
 */
#ifndef VDM_UART_H
#define VDM_UART_H

#include "chardev.h"
#include "evloop.h"
#include "hsm.h"

#include <stdbool.h>
#include <stdint.h>

#define UART_MAX 2 /* COM1 and COM2 */
#define UART_RX_SIZE 256

struct uart {
	struct hsm_vm *vm;
	struct chardev *cd;
	uint16_t port;     /* base: 0x3f8 COM1, 0x2f8 COM2 */
	uint8_t irq;       /* ISA IRQ: 4, 3 */
	uint8_t ier, lcr, mcr, scr, dll, dlh;
	bool fifo_on;      /* FCR bit 0 */
	bool thre_pending; /* the transmitter-empty interrupt, until IIR reports it or THR is written */
	bool irq_line;     /* the interrupt condition as last signalled */
	uint8_t rx[UART_RX_SIZE];
	unsigned rx_head, rx_len;
};

/*
 * acrn-dm's -l: "com1,BACKEND" or "com2,BACKEND", BACKEND as vdm's chardevs
 * take it (stdio, pty, socket:PATH, tty:PATH, file:PATH) or acrn-dm's bare
 * /PATH of an existing terminal (tty:PATH).  Fills *unit (0 or 1) and *spec.
 * Returns 0 or -EINVAL with a one-line reason in err.
 */
int uart_parse(const char *arg, int *unit, struct chardev_spec *spec, char *err, size_t errlen);

/* Start COM(unit+1) on spec.  0 or a negative errno with err. */
int uart_open(struct uart *u, int unit, const struct chardev_spec *spec, struct hsm_vm *vm,
	      struct evloop *loop, char *err, size_t errlen);
void uart_close(struct uart *u);

/* A port request in the UART's eight ports: handled, true. */
bool uart_ioreq(struct uart *u, struct hsm_ioreq *req);

#endif /* VDM_UART_H */
