/*
 * drv_virtio.h - the test driver's virtio front-end: a small virtio 1.x
 * driver over the modern PCI transport (virtio 1.2, 4.1), with split
 * virtqueues (2.7), or packed ones (2.8) when VIRTIO_F_RING_PACKED is
 * negotiated, laid out in guest RAM and the initialization sequence of
 * 3.1.  Written from the specification for tests; it drives whatever vdm
 * presents through struct drv (tests/driver/drv.h).
 *
 * Typical use:
 *
 *     drv_enumerate(...); drv_assign_bars(&d, &f, &mmio, &io);
 *     drv_virtio_probe(&v, &d, &f, 16 << 20);
 *     drv_virtio_negotiate(&v, 1ULL << VIRTIO_F_VERSION_1);
 *     drv_virtio_setup_irq(&v, true);
 *     drv_virtio_setup_vq(&v, 0, 0);
 *     drv_virtio_driver_ok(&v);
 *     id = drv_virtio_post(&v, 0, out, nout, in, nin, false);
 *     drv_virtio_kick(&v, 0);
 *     drv_virtio_wait_used(&v, 0, &id, &len, 5000);
 *
 * Functions that can fail return -1 and print why on stderr ("drv_virtio:
 * ..."); they never abort the test, so tests can assert on failures.  Link
 * failures (vdm gone) abort inside drv.c as usual.
 *
 * Guest RAM is shared with vdm, another process: the avail index is
 * published with a release store after the ring entry and descriptors, and
 * the used index is read with an acquire load before the used entry.
 */
#ifndef VDM_TEST_DRV_VIRTIO_H
#define VDM_TEST_DRV_VIRTIO_H

#include "drv.h"

#include <stdbool.h>
#include <stdint.h>
/* The API speaks in these constants (feature bits, VIRTIO_PCI_COMMON_*
 * offsets, VIRTIO_PCI_CAP_* types, ring flags): users get them with it. */
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define DRV_VIRTIO_MAX_VQ 8
/* MSI-X vectors the driver programs and counts: config + one per queue. */
#define DRV_VIRTIO_MAX_VEC (DRV_VIRTIO_MAX_VQ + 1)
/*
 * MSI message of vector i: address DRV_VIRTIO_MSI_ADDR, data msi_data_base +
 * i, where probe sets msi_data_base = DRV_VIRTIO_MSI_DATA + 16 * devfn (so
 * 0x4000 + i for 00:00.0): several devices on one link send distinct
 * messages.  A test may change msi_data_base before drv_virtio_setup_irq.
 */
#define DRV_VIRTIO_MSI_ADDR 0xfee00000ULL
#define DRV_VIRTIO_MSI_DATA 0x4000u
#define DRV_VIRTIO_MSI_DATA_STRIDE 16
#define DRV_VIRTIO_NO_VECTOR 0xffff
/* Default of drv_virtio.irq_grace_ms. */
#define DRV_VIRTIO_IRQ_GRACE_MS 50

/* One virtio structure found through a vendor-specific capability (4.1.4). */
struct drv_virtio_cap {
	uint8_t cap;     /* config offset of the capability, 0 if absent */
	uint8_t cap_len;
	uint8_t bar;
	int space;       /* HSM_IO_MMIO or HSM_IO_PIO (an I/O BAR) */
	uint32_t offset; /* within the BAR */
	uint32_t length;
	uint64_t addr;   /* BAR address + offset (valid if cap && BAR assigned) */
};

/* Largest queue the driver sets up.  Its bookkeeping lives in struct
 * drv_vq, so nothing is allocated on the host (struct drv_virtio is about
 * 150 KiB); size 0 in drv_virtio_setup_vq picks min(device maximum, this). */
#define DRV_VQ_MAX_SIZE 1024

/* Driver-side bookkeeping of one descriptor head (host memory only). */
struct drv_vq_slot {
	uint64_t ind_gpa;   /* indirect table owned by this head, reused */
	uint16_t ind_cap;   /* its capacity in descriptors */
	uint16_t ndesc;     /* descriptors the chain takes in the ring (0: free) */
};
/* (Packed: per buffer id, the same.) */

/*
 * One virtqueue laid out in guest RAM.  Split: descriptor table, avail and
 * used rings.  Packed (VIRTIO_F_RING_PACKED negotiated when it was set up):
 * descriptor ring, driver and device event suppression areas, in the same
 * three addresses; the split-only fields are then unused.
 */
struct drv_vq {
	uint16_t index, size;         /* size 0: not set up */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool packed;
	/* Packed: positions, a ring index in bits 0-14 and its wrap counter in
	 * bit 15 (as off_wrap, 2.8.14).  Buffer ids are free when not in
	 * flight; the free ones are linked through next[]. */
	uint16_t avail_pos;           /* next slot the driver fills */
	uint16_t used_pos;            /* next slot a used descriptor appears in */
	uint16_t kicked_pos;          /* avail_pos at the last kick or kick decision */
	uint16_t free_id;             /* first free buffer id */
	uint16_t next_avail;          /* driver's shadow of avail->idx */
	uint16_t last_used;           /* next used entry to consume */
	uint16_t kicked_avail;        /* avail idx at the last kick or kick decision */
	uint16_t free_head;           /* first free descriptor */
	uint16_t num_free;            /* free descriptors */
	/* Shadow of desc[].next (never read back from guest RAM); also links
	 * the free list. */
	uint16_t next[DRV_VQ_MAX_SIZE];
	struct drv_vq_slot slot[DRV_VQ_MAX_SIZE]; /* per head */
	uint16_t notify_off;          /* queue_notify_off as read */
	uint64_t notify_addr;         /* where a kick writes the queue index */
	uint16_t msix_vector;         /* as read back; DRV_VIRTIO_NO_VECTOR for INTx */
	bool no_interrupt;            /* drv_virtio_vq_interrupts(off) */
	unsigned posted, completed;   /* chains posted / consumed */
};

struct drv_virtio {
	struct drv *d;
	struct drv_func *f;
	/* The virtio structures, indexed by cfg_type (VIRTIO_PCI_CAP_*_CFG, 1..5). */
	struct drv_virtio_cap caps[6];
	/* Shortcuts to caps[].addr. */
	uint64_t common, isr, device_cfg, notify_base;
	uint32_t notify_mult;        /* notify_off_multiplier */
	uint8_t pci_cfg_cap;         /* config offset of VIRTIO_PCI_CAP_PCI_CFG, 0 if absent */

	uint64_t device_features;    /* offered (as last read) */
	uint64_t features;           /* negotiated: written and accepted with FEATURES_OK */
	uint16_t num_queues;         /* common cfg num_queues */

	/* Interrupt set-up (drv_virtio_setup_irq). */
	bool msix;                   /* MSI-X in use (else INTx) */
	uint8_t msix_cap;            /* config offset of the MSI-X capability, 0 if none */
	uint16_t msix_table_size;    /* vectors in the table */
	uint64_t msix_table;         /* table address (BAR + offset) */
	uint64_t msix_pba;           /* pending-bit array address (BAR + offset) */
	uint32_t msi_data_base;      /* vector i is sent with data msi_data_base + i */
	uint16_t config_vector;      /* msix_config as read back */
	/* drv_virtio_wait_used: how long to wait for the interrupt of a used
	 * entry found by polling before its interrupt arrived (0: not at all). */
	int irq_grace_ms;

	int nvq;                     /* 1 + highest queue index set up */
	struct drv_vq vq[DRV_VIRTIO_MAX_VQ];
	uint64_t heap;               /* bump allocator for guest RAM */
	uint64_t heap_base;

	/* Interrupt statistics, so tests can assert which path delivered.
	 * Kept across resets; drv_virtio_clear_stats zeroes them. */
	int msi_count;               /* MSI messages for this device's vectors */
	int msi_vec_count[DRV_VIRTIO_MAX_VEC];
	int intx_count;              /* INTx assertions of this function */
	int intx_deassert_count;
	bool intx_level;             /* INTx line as last reported */
	int isr_reads;               /* ISR reads done while handling INTx */
	uint8_t isr_last;            /* last ISR value read */
	uint8_t isr_seen;            /* OR of every ISR value read */
	int isr_queue_count;         /* ISR reads with bit 0 (queue) set */
	int isr_config_count;        /* ISR reads with bit 1 (config change) set */
	int config_irq_count;        /* config interrupts: MSI on config vector or ISR bit 1 */
	/* Messages that were not for this device.  With several devices on one
	 * link, a message read while waiting on one is not credited to another. */
	int foreign_irq_count;
};

/* A buffer of a chain: guest-physical address and length. */
struct drv_buf {
	uint64_t gpa;
	uint32_t len;
};

/*
 * Zero *v, then find the virtio vendor capabilities of f (cfg_type, bar,
 * offset, length; the first of each type, 4.1.4) and compute their
 * addresses.  f's BARs must already be assigned (drv_assign_bars).  The
 * guest-RAM heap starts at heap_base.  Returns 0, or -1 (with a message) if
 * COMMON, NOTIFY or ISR is missing or lies outside its BAR, or the notify
 * multiplier is invalid.  DEVICE_CFG and PCI_CFG are optional.  v keeps
 * the pointer f, not a copy: f must outlive v (an array of functions on a
 * helper's stack does not, and broke a test that way once).
 */
int drv_virtio_probe(struct drv_virtio *v, struct drv *d, struct drv_func *f, uint64_t heap_base);

/*
 * What most tests do first: find the function at 00:SLOT.0 on d (into *f),
 * assign its BARs (MMIO from 0xc0000000, I/O from 0xc000) and probe it with
 * the heap at 16 MiB.  Returns 0, -ENODEV if no function is in that slot,
 * or drv_virtio_probe's -1.
 */
int drv_virtio_probe_slot(struct drv_virtio *v, struct drv *d, struct drv_func *f, unsigned slot);

/* Forget the driver's queues (the device is not touched; guest RAM is not
 * reclaimed).  Nothing is allocated on the host, so this is optional, and
 * safe to call more than once. */
void drv_virtio_fini(struct drv_virtio *v);

/*
 * 3.1.1 steps 1-6: reset (write 0 to device_status, wait until it reads 0;
 * the driver forgets its queues), ACKNOWLEDGE, DRIVER, read the device
 * features, write (wanted & offered) through driver_feature_select 0 and 1,
 * set FEATURES_OK and re-read it.  wanted must include VIRTIO_F_VERSION_1
 * for a modern device.  Sets v->features.  Returns 0, or -1 if the reset
 * did not complete or FEATURES_OK did not stick (the device then has status
 * without FEATURES_OK; the caller may set FAILED).
 */
int drv_virtio_negotiate(struct drv_virtio *v, uint64_t wanted);

/* The 64 feature bits the device offers (device_feature_select 0 and 1). */
uint64_t drv_virtio_device_features(struct drv_virtio *v);

/*
 * Interrupts.  With use_msix and an MSI-X capability: program table entry i
 * with address DRV_VIRTIO_MSI_ADDR and data msi_data_base + i, unmasked, for
 * the config vector and one vector per queue (as far as the table goes),
 * enable MSI-X with the function unmasked, and write msix_config = 0; queue
 * q gets vector 1 + q (in drv_virtio_setup_vq, and here for queues already
 * set up).  Returns -1 if the device does not read back the vector it was
 * given.  Otherwise (no MSI-X, or !use_msix): MSI-X is disabled, vectors are
 * set to NO_VECTOR and INTx is enabled in the command register; returns 0.
 * Must be called after each reset, before DRIVER_OK.
 */
int drv_virtio_setup_irq(struct drv_virtio *v, bool use_msix);

/*
 * Queue idx (< DRV_VIRTIO_MAX_VQ): select it, read the maximum queue_size
 * (0: the queue does not exist, -1), choose size (0 => the maximum, capped
 * at DRV_VQ_MAX_SIZE; more than either: -1; other sizes, even ones that are
 * not a power of 2, are written as asked), allocate desc, avail and used
 * rings in guest RAM (4096-aligned, zeroed), write size, ring addresses and
 * the MSI-X vector, read queue_notify_off and compute notify_addr, set
 * queue_enable = 1 and check it reads back 1 (-1 otherwise, e.g. when the
 * device refuses the layout).
 */
int drv_virtio_setup_vq(struct drv_virtio *v, int idx, uint16_t size);

/* Set DRIVER_OK in device_status (keeping the other bits). */
void drv_virtio_driver_ok(struct drv_virtio *v);
uint8_t drv_virtio_status(struct drv_virtio *v);
/* Write device_status as is (0 resets the device; no wait, no bookkeeping). */
void drv_virtio_set_status(struct drv_virtio *v, uint8_t s);

/* Device-specific config space through the DEVICE_CFG structure.  Sizes 1,
 * 2, 4 are single accesses; 8 is two 32-bit accesses (4.1.3.1), the read
 * repeated until config_generation is stable (2.4.4). */
uint64_t drv_virtio_cfg_read(struct drv_virtio *v, unsigned off, unsigned size);
void drv_virtio_cfg_write(struct drv_virtio *v, unsigned off, unsigned size, uint64_t val);

/* Common config access, offsets VIRTIO_PCI_COMMON_* (<linux/virtio_pci.h>),
 * one access of the given size. */
uint64_t drv_virtio_common_read(struct drv_virtio *v, unsigned off, unsigned size);
void drv_virtio_common_write(struct drv_virtio *v, unsigned off, unsigned size, uint64_t val);

/* Read the ISR status byte (which clears it) and record it in the stats. */
uint8_t drv_virtio_isr_read(struct drv_virtio *v);

/* Allocate len bytes of guest RAM from the heap, aligned to align (a power
 * of two; 0 means 1).  Returns the gpa; the host pointer is drv_gpa(d, gpa,
 * len).  The test aborts if the heap runs past guest RAM. */
uint64_t drv_virtio_alloc(struct drv_virtio *v, uint64_t len, uint64_t align);

/*
 * Post one chain on queue q: nout device-readable buffers, then nin
 * device-writable ones (nout + nin >= 1).  Packed: a list of ring
 * descriptors linked by NEXT (or one INDIRECT), made available by setting
 * the first one's flags last; the "head" returned is its buffer id.  With indirect, they go in an
 * indirect descriptor table (owned by the head, reused; allocated from the
 * heap) and the chain takes one ring descriptor; the caller should have
 * negotiated VIRTIO_RING_F_INDIRECT_DESC.  Publishes the head in the avail
 * ring (release store of avail->idx) but does not kick.  Returns the head
 * descriptor id, or -1 if the queue is not set up or has too few free
 * descriptors.
 */
int drv_virtio_post(struct drv_virtio *v, int q, const struct drv_buf *out, int nout,
		    const struct drv_buf *in, int nin, bool indirect);

/* Kick: write the queue index (2 bytes) to the queue's notify address,
 * unconditionally (see drv_virtio_kick_needed).  VIRTIO_F_NOTIFICATION_DATA
 * and VIRTIO_F_NOTIF_CONFIG_DATA are not supported: do not negotiate them. */
void drv_virtio_kick(struct drv_virtio *v, int q);

/* Whether the device wants a kick for what was posted since the last kick
 * or the last call of this (each call starts a new window):
 * VRING_USED_F_NO_NOTIFY, or avail_event with VIRTIO_RING_F_EVENT_IDX
 * (2.7.10); packed, the device area's flags and off_wrap (2.8.10). */
bool drv_virtio_kick_needed(struct drv_virtio *v, int q);

/* Ask for used-buffer interrupts on q (on) or not (off): avail->flags
 * NO_INTERRUPT, or with EVENT_IDX used_event (2.7.7). */
void drv_virtio_vq_interrupts(struct drv_virtio *v, int q, bool on);

/*
 * Wait up to timeout_ms for the next used entry on queue q.  Checks the used
 * ring; between checks waits for interrupt messages with drv_wait_irq (in
 * slices, so a completion without interrupt is still found) and accounts
 * them with drv_virtio_handle_irq (INTx assertions read the ISR, which the
 * device clears on read).  An entry found before its interrupt was seen
 * waits up to v->irq_grace_ms more for that interrupt (unless interrupts
 * are off for q), so the statistics reliably show the delivery path; a
 * device that legitimately does not interrupt costs that much.  Returns 1
 * with *id (head) and *len (used length) filled and the chain's descriptors
 * freed, 0 on timeout, -1 (with a message) if the used entry names an id
 * that is not an outstanding head (the entry is consumed).  id or len may be
 * NULL.
 */
int drv_virtio_wait_used(struct drv_virtio *v, int q, uint16_t *id, uint32_t *len,
			 int timeout_ms);

/* Poll only: consume the next used entry of q if there is one (1), else 0;
 * -1 for a bad id as in drv_virtio_wait_used. */
int drv_virtio_get_used(struct drv_virtio *v, int q, uint16_t *id, uint32_t *len);

/*
 * Account one interrupt message in v's stats; for tests that call
 * drv_wait_irq themselves.  MSI: counted per vector when the data is
 * msi_data_base + i, i < DRV_VIRTIO_MAX_VEC.  INTx of this function: an
 * assertion is counted and the ISR read (as an interrupt handler would),
 * which deasserts the line.  Returns true if the message was this device's.
 */
bool drv_virtio_handle_irq(struct drv_virtio *v, const struct drv_irq *irq);

/* Wait up to timeout_ms for interrupt messages, accounting each, until one
 * for this device arrived (1) or time ran out (0). */
int drv_virtio_wait_irq(struct drv_virtio *v, int timeout_ms);

/* Zero the interrupt statistics. */
void drv_virtio_clear_stats(struct drv_virtio *v);

/*
 * Access the modern BAR registers through the VIRTIO_PCI_CAP_PCI_CFG window
 * (4.1.4.9): write cap.bar, cap.offset = off and cap.length = size (1, 2
 * or 4), then read or write pci_cfg_data with an access of that size.
 * Returns all-ones (read) / does nothing if the capability is absent.
 */
uint32_t drv_virtio_pcicfg_read(struct drv_virtio *v, uint8_t bar, uint32_t off, unsigned size);
void drv_virtio_pcicfg_write(struct drv_virtio *v, uint8_t bar, uint32_t off, unsigned size,
			     uint32_t val);

#endif /* VDM_TEST_DRV_VIRTIO_H */
