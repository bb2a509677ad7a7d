/*
 * uart.c - the LPC UARTs (uart.h): a 16550A as the PC has them, enough for
 * Linux's 8250 driver and a boot console.  Transmitted bytes go straight
 * to the chardev (the line is infinitely fast: THR is always empty);
 * received bytes wait in a small buffer read only while it has room.  The
 * interrupt is the ISA one, edge-triggered: a rising pulse each time the
 * condition (IIR) turns on, as acrn-dm raises it.  Loopback (MCR bit 4)
 * echoes the transmitter into the receiver and maps the modem outputs to
 * the inputs, which the 8250 driver's probe tests.
 */
#include "uart.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Registers (offsets from the base; DLAB selects the divisor at 0 and 1). */
#define REG_RBR_THR 0
#define REG_IER 1
#define REG_IIR_FCR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7
#define IER_RDA 0x01
#define IER_THRE 0x02
#define IIR_NONE 0x01
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

static const struct {
	const char *name;
	uint16_t port;
	uint8_t irq;
} coms[UART_MAX] = { { "COM1", 0x3f8, 4 }, { "COM2", 0x2f8, 3 } };

int uart_parse(const char *arg, int *unit, struct chardev_spec *spec, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');

	if (comma && (size_t)(comma - arg) == 4 && !strncasecmp(arg, "com1", 4))
		*unit = 0;
	else if (comma && (size_t)(comma - arg) == 4 && !strncasecmp(arg, "com2", 4))
		*unit = 1;
	else {
		snprintf(err, errlen, "-l '%s': expected com1,BACKEND or com2,BACKEND", arg);
		return -EINVAL;
	}
	char why[160], tty[300];
	const char *backend = comma + 1;

	/* acrn-dm's spelling for an existing terminal is its bare path. */
	if (backend[0] == '/') {
		if ((size_t)snprintf(tty, sizeof(tty), "tty:%s", backend) >= sizeof(tty)) {
			snprintf(err, errlen, "-l '%s': the tty path is too long", arg);
			return -EINVAL;
		}
		backend = tty;
	}
	if (chardev_parse(backend, spec, why, sizeof(why))) {
		snprintf(err, errlen, "-l '%s': %s", arg, why);
		return -EINVAL;
	}
	return 0;
}

/* IIR's source, by the 16550's priority (no line-status or modem
 * interrupts: the line never errs and the modem lines never change). */
static uint8_t pending_source(const struct uart *u)
{
	if ((u->ier & IER_RDA) && u->rx_len)
		return IIR_RDA;
	if ((u->ier & IER_THRE) && u->thre_pending)
		return IIR_THRE;
	return IIR_NONE;
}

/* A rising edge on the ISA line when an interrupt becomes pending. */
static void update_irq(struct uart *u)
{
	bool on = pending_source(u) != IIR_NONE && (u->mcr & MCR_OUT2);

	if (on && !u->irq_line)
		(void)hsm_pulse_irq(u->vm, u->irq);
	u->irq_line = on;
}

static void rx_push(struct uart *u, uint8_t b)
{
	if (u->rx_len == UART_RX_SIZE)
		return; /* overrun: the byte is lost, as on the wire */
	u->rx[(u->rx_head + u->rx_len++) % UART_RX_SIZE] = b;
}

static void want_input(struct uart *u)
{
	if (u->cd)
		chardev_want_input(u->cd, u->rx_len < UART_RX_SIZE && !(u->mcr & MCR_LOOP));
}

static void readable(void *opaque)
{
	struct uart *u = opaque;
	uint8_t buf[UART_RX_SIZE];
	size_t room = UART_RX_SIZE - u->rx_len;
	struct iovec iov = { buf, room };
	size_t n = room ? chardev_read(u->cd, &iov, 1) : 0;

	for (size_t i = 0; i < n; i++)
		rx_push(u, buf[i]);
	want_input(u);
	update_irq(u);
}

static void writable(void *opaque)
{
	(void)opaque; /* output is never held back: see uart_ioreq */
}

int uart_open(struct uart *u, int unit, const struct chardev_spec *spec, struct hsm_vm *vm,
	      struct evloop *loop, char *err, size_t errlen)
{
	static const struct chardev_cbs cbs = { .writable = writable, .readable = readable };
	/* The chardev keeps the name for its log lines. */
	const char *who = coms[unit].name;

	memset(u, 0, sizeof(*u));
	u->vm = vm;
	u->port = coms[unit].port;
	u->irq = coms[unit].irq;
	int ret = chardev_open(&u->cd, loop, spec, &cbs, u, who, err, errlen);

	if (ret)
		return ret;
	want_input(u);
	log_info("%s at %#x, IRQ %u", who, u->port, u->irq);
	return 0;
}

void uart_close(struct uart *u)
{
	if (u->cd)
		chardev_close(u->cd);
	u->cd = NULL;
}

static uint8_t reg_read(struct uart *u, unsigned reg)
{
	uint8_t v = 0;

	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		if (u->rx_len) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART_RX_SIZE;
			u->rx_len--;
			want_input(u);
		}
		return v;
	case REG_IER:
		return (u->lcr & LCR_DLAB) ? u->dlh : u->ier;
	case REG_IIR_FCR:
		v = pending_source(u);
		if (v == IIR_THRE)
			u->thre_pending = false; /* reading IIR acknowledges it */
		return (uint8_t)(v | (u->fifo_on ? IIR_FIFO : 0));
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		return (uint8_t)(LSR_THRE | LSR_TEMT | (u->rx_len ? LSR_DR : 0));
	case REG_MSR:
		if (u->mcr & MCR_LOOP)
			return (uint8_t)((u->mcr & MCR_RTS ? MSR_CTS : 0) |
					 (u->mcr & MCR_DTR ? MSR_DSR : 0) |
					 (u->mcr & MCR_OUT1 ? MSR_RI : 0) |
					 (u->mcr & MCR_OUT2 ? MSR_DCD : 0));
		return MSR_DCD | MSR_DSR | MSR_CTS; /* a peer is always there */
	default:
		return u->scr;
	}
}

static void reg_write(struct uart *u, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			return;
		}
		if (u->mcr & MCR_LOOP)
			rx_push(u, v);
		else if (u->cd)
			/* The chardev buffers a slow reader and discards when
			 * nobody is attached; a byte it cannot take is lost,
			 * as on a line with no flow control. */
			(void)chardev_write(u->cd, &v, 1);
		u->thre_pending = true;
		return;
	case REG_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlh = v;
			return;
		}
		/* Enabling the transmitter interrupt with THR empty raises it. */
		if ((v & IER_THRE) && !(u->ier & IER_THRE))
			u->thre_pending = true;
		u->ier = v & 0x0f;
		return;
	case REG_IIR_FCR:
		u->fifo_on = v & FCR_ENABLE;
		if (v & FCR_CLEAR_RX) {
			u->rx_len = 0;
			want_input(u);
		}
		return;
	case REG_LCR:
		u->lcr = v;
		return;
	case REG_MCR:
		u->mcr = v & 0x1f;
		want_input(u);
		return;
	case REG_SCR:
		u->scr = v;
		return;
	default:
		return; /* LSR and MSR are read-only */
	}
}

bool uart_ioreq(struct uart *u, struct hsm_ioreq *req)
{
	if (!u->cd || req->space != HSM_IO_PIO || req->addr < u->port || req->addr >= u->port + 8u)
		return false;
	unsigned reg = (unsigned)(req->addr - u->port);

	if (req->size != 1) {
		/* The 16550 decodes bytes; wider accesses read as nothing. */
		if (req->dir == HSM_IO_READ)
			req->data = ~0ULL >> (64 - 8 * req->size);
		return true;
	}
	if (req->dir == HSM_IO_READ)
		req->data = reg_read(u, reg);
	else
		reg_write(u, reg, (uint8_t)req->data);
	update_irq(u);
	return true;
}
