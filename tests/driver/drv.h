/*
 * drv.h - the test driver: a small guest written for tests.  It plays the
 * guest's vCPUs over the simulator's socket (hsm-shim/sim-protocol.h), maps
 * guest RAM, enumerates PCI with config reads, sizes and programs BARs, walks
 * capability lists, and waits for interrupts.  It also starts and stops vdm
 * for a test.
 *
 * Calls abort the test (exit 99, "hard error") when the simulator link
 * itself fails: that is never the behaviour under test.
 */
#ifndef VDM_TEST_DRV_H
#define VDM_TEST_DRV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- vdm process ---- */

struct vdm_proc {
	pid_t pid;
	char sock[108];
	char dir[64];  /* private temporary directory */
};

/* The --hsm back-end tests run vdm on, before ":SOCK": "sim", or with
 * VDM_TEST_HSM=acrn "acrn:model" (any other value is used as it is). */
const char *drv_hsm_prefix(void);

/* From now on run the test build of vdm with the HSM model in it
 * ($VDM_ACRN_MODEL, or ./tests/acrn/vdm-acrn-model) instead of $VDM: the
 * product has no acrn:model back-end. */
void drv_use_acrn_model(void);

/*
 * Start $VDM (or ./devicemodel/vdm) with "--hsm PREFIX:SOCK" followed by args
 * (NULL-terminated) and wait until its socket accepts.  Returns 0, or -1 if
 * vdm exited first (its status is then in *status if status is not NULL).
 */
int vdm_spawn(struct vdm_proc *p, const char *const *args, int *status);

/* SIGTERM vdm and wait: returns its exit status (128+N if killed by signal N). */
int vdm_stop(struct vdm_proc *p);

/* Run vdm with args to completion (no sim socket added); returns exit status
 * and captures up to errlen-1 bytes of its stdout and stderr.  A vdm still
 * running after 30 s quiet is killed (status 137). */
int vdm_run(const char *const *args, char *errbuf, size_t errlen);

/* ---- guest link ---- */

struct drv_irq {
	int kind;       /* HSM_IRQ_MSI or HSM_IRQ_INTX */
	uint64_t addr;  /* MSI */
	uint32_t data;  /* MSI data, or INTx level */
	uint16_t bdf;
	uint8_t pin;
};

struct drv {
	int vcpu_fd;
	int irq_fd;
	uint8_t *ram;
	uint64_t ram_size;
};

/* Connect one vCPU and the interrupt listener to the simulator at path. */
int drv_connect(struct drv *d, const char *path);
void drv_disconnect(struct drv *d);
/* Another vCPU of base's guest: its own vCPU connection, base's RAM mapping
 * and interrupt link.  Close d->vcpu_fd when done (not drv_disconnect). */
int drv_connect_vcpu(struct drv *d, const struct drv *base, const char *path);

/* Host pointer for guest-physical gpa (the test aborts if out of RAM). */
void *drv_gpa(struct drv *d, uint64_t gpa, uint64_t len);

uint64_t drv_io(struct drv *d, int space, int dir, uint64_t addr, unsigned size, uint16_t bdf,
		uint64_t data);
uint32_t drv_cfg_read(struct drv *d, uint16_t bdf, unsigned off, unsigned size);
void drv_cfg_write(struct drv *d, uint16_t bdf, unsigned off, unsigned size, uint32_t val);
uint64_t drv_mmio_read(struct drv *d, uint64_t addr, unsigned size);
void drv_mmio_write(struct drv *d, uint64_t addr, unsigned size, uint64_t val);
uint64_t drv_pio_read(struct drv *d, uint64_t port, unsigned size);
void drv_pio_write(struct drv *d, uint64_t port, unsigned size, uint64_t val);

/* Wait up to timeout_ms for the next interrupt message.  Returns 1 when one
 * arrived, 0 on timeout. */
int drv_wait_irq(struct drv *d, struct drv_irq *irq, int timeout_ms);

/* ---- PCI enumeration ---- */

#define DRV_BAR_NONE 0
#define DRV_BAR_IO 1
#define DRV_BAR_MEM32 2
#define DRV_BAR_MEM64 3

struct drv_bar {
	int type;
	bool prefetchable;
	uint64_t size;
	uint64_t addr;  /* after drv_assign_bars */
};

struct drv_cap {
	uint8_t id;
	uint8_t off;
};

struct drv_func {
	uint16_t bdf;
	uint16_t vendor, device;
	uint8_t revision;
	uint32_t class_code;  /* base << 16 | sub << 8 | prog-if */
	uint8_t header_type;
	uint16_t subsys_vendor, subsys_id;
	uint8_t int_pin;
	struct drv_bar bars[6];
	int ncaps;
	struct drv_cap caps[48];
};

/* Scan bus 0 the way firmware does (function 0 first, other functions only
 * for multi-function devices), size BARs with all-ones writes (decode off),
 * and walk each capability list.  Returns the number of functions found. */
int drv_enumerate(struct drv *d, struct drv_func *out, int max);

/* First GSI drv_assign_bars routes INTx to: slot N gets GSI BASE + N. */
#define DRV_INTX_GSI_BASE 16

/* Program every BAR of f from the running bases, set the interrupt line of
 * a function with an INTx pin, and enable decode + bus mastering. */
void drv_assign_bars(struct drv *d, struct drv_func *f, uint64_t *mmio_base, uint32_t *io_base);

/* Config offset of the first capability with id at or after index *iter
 * (start with *iter = 0); 0 when none is left. */
uint8_t drv_next_cap(const struct drv_func *f, uint8_t id, int *iter);

/* Test bookkeeping: count and report a check.  Returns ok. */
bool drv_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Exit status for the test: 0 when every check passed. */
int drv_result(void);
/* How many checks failed so far. */
int drv_failures(void);

#endif /* VDM_TEST_DRV_H */
