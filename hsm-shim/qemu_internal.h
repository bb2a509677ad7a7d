/*
 * qemu_internal.h - state shared by the qemu back-end's two halves:
 * qemu.c (one proxy channel per PCI function, guest RAM, INTx) and
 * qemu_launch.c (starting, watching and stopping the QEMU child).
 */
#ifndef VDM_QEMU_INTERNAL_H
#define VDM_QEMU_INTERNAL_H

#include "hsm_internal.h"
#include "mpqemu.h"

#include <sys/types.h>

#define QEMU_MAX_FUNCS 256
#define QEMU_MAX_RAM_FILES 8

/* One x-pci-proxy-dev connection: one PCI function. */
struct qemu_fn {
	struct hsm_vm *vm;
	uint16_t bdf;
	int sock;          /* our end; -1 once the channel stopped */
	int peer;          /* QEMU's end, until QEMU has it */
	bool connected;    /* QEMU sent its first message */

	/* The message being received. */
	union {
		struct {
			struct mpqemu_hdr hdr;
			uint8_t payload[sizeof(struct mpqemu_sysmem)];
		} msg;
		uint8_t bytes[sizeof(struct mpqemu_hdr) + sizeof(struct mpqemu_sysmem)];
	} rx;
	size_t rx_have;
	int rx_fds[MPQEMU_MAX_FDS];
	int rx_nfds;

	/* INTx, level-triggered through QEMU's irqfd + resample fd. */
	int irqfd, resamplefd;
	bool intx_level;
};

/* A file that backs guest RAM, mapped whole once so host pointers into it
 * stay valid however often QEMU re-sends its memory map. */
struct qemu_ram_file {
	dev_t dev;
	ino_t ino;
	int fd;
	void *base;
	size_t len;
};

struct qemu_vm {
	struct hsm_vm *vm;
	int nfns;
	struct qemu_fn fns[QEMU_MAX_FUNCS];
	int nfiles;
	struct qemu_ram_file files[QEMU_MAX_RAM_FILES];

	/* The QEMU child. */
	char **argv;       /* the full command line vdm runs */
	pid_t pid;         /* 0 when not running */
	int pidfd;
	bool exited;
};

/* qemu_launch.c */

/* Check that argv[0] runs and offers x-pci-proxy-dev. */
int qemu_probe(char *const *argv, char *errbuf, size_t errlen);
/* Start QEMU with the proxy devices and the shared RAM appended; 0, or
 * -errno with a one-line reason in errbuf. */
int qemu_launch(struct qemu_vm *q, char *errbuf, size_t errlen);
/* Stop QEMU if it still runs (SIGTERM, then SIGKILL) and reap it. */
void qemu_stop(struct qemu_vm *q);

/* qemu.c: true once every function has heard from QEMU. */
bool qemu_all_connected(const struct qemu_vm *q);
/* Serve every complete message waiting on f's socket (the loop's callback
 * when it is readable; also the seam the proxy-message fuzz target uses). */
void qemu_fn_serve(struct qemu_fn *f);
/* Stop serving f: why is the protocol error, NULL for an orderly close. */
void qemu_fn_stop(struct qemu_fn *f, const char *why);

#endif /* VDM_QEMU_INTERNAL_H */
