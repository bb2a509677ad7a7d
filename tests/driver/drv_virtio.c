/*
 * drv_virtio.c - the test driver's virtio front-end: virtio 1.x over the
 * modern PCI transport (virtio 1.2, 4.1), split virtqueues (2.7) and the
 * device initialization sequence (3.1); packed virtqueues are in
 * drv_vq_packed.c.  See drv_virtio.h.
 */
#include "drv_virtio_internal.h"
#include "hsm.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

/* Split virtqueue layout in guest RAM (2.7), little-endian like the host. */
struct sq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct sq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* size entries, then used_event */
};

struct sq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct sq_used {
	uint16_t flags;
	uint16_t idx;
	struct sq_used_elem ring[]; /* size entries, then avail_event (le16) */
};

_Static_assert(sizeof(struct sq_desc) == 16, "descriptor layout");
_Static_assert(sizeof(struct sq_used_elem) == 8, "used element layout");
_Static_assert(DRV_VIRTIO_MAX_VEC <= DRV_VIRTIO_MSI_DATA_STRIDE,
	       "the MSI data of two functions overlap");

#define RING_ALIGN DRV_RING_ALIGN
/* A used-ring wait re-checks the ring at least this often (ms). */
#define WAIT_SLICE_MS 20

#define vmsg drv_virtio_msg

void drv_virtio_msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "drv_virtio: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool has_feature(const struct drv_virtio *v, unsigned bit)
{
	return drv_virtio_has(v, bit);
}

/* ---- register access ---- */

static uint64_t region_read(struct drv_virtio *v, int type, uint64_t off, unsigned size)
{
	const struct drv_virtio_cap *c = &v->caps[type];

	if (!c->cap) {
		vmsg("read of virtio structure %d, which the device does not have", type);
		return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
	}
	return drv_io(v->d, c->space, HSM_IO_READ, c->addr + off, size, 0, 0);
}

static void region_write(struct drv_virtio *v, int type, uint64_t off, unsigned size, uint64_t val)
{
	const struct drv_virtio_cap *c = &v->caps[type];

	if (!c->cap) {
		vmsg("write to virtio structure %d, which the device does not have", type);
		return;
	}
	drv_io(v->d, c->space, HSM_IO_WRITE, c->addr + off, size, 0, val);
}

uint64_t drv_virtio_common_read(struct drv_virtio *v, unsigned off, unsigned size)
{
	return region_read(v, VIRTIO_PCI_CAP_COMMON_CFG, off, size);
}

void drv_virtio_common_write(struct drv_virtio *v, unsigned off, unsigned size, uint64_t val)
{
	region_write(v, VIRTIO_PCI_CAP_COMMON_CFG, off, size, val);
}

uint8_t drv_virtio_status(struct drv_virtio *v)
{
	return (uint8_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_STATUS, 1);
}

void drv_virtio_set_status(struct drv_virtio *v, uint8_t s)
{
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_STATUS, 1, s);
}

void drv_virtio_driver_ok(struct drv_virtio *v)
{
	drv_virtio_set_status(v, drv_virtio_status(v) | VIRTIO_CONFIG_S_DRIVER_OK);
}

uint64_t drv_virtio_cfg_read(struct drv_virtio *v, unsigned off, unsigned size)
{
	if (size != 8)
		return region_read(v, VIRTIO_PCI_CAP_DEVICE_CFG, off, size);
	/* 64-bit fields: two 32-bit reads, consistent across config_generation. */
	for (int tries = 0;; tries++) {
		uint8_t gen = (uint8_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
		uint64_t lo = region_read(v, VIRTIO_PCI_CAP_DEVICE_CFG, off, 4);
		uint64_t hi = region_read(v, VIRTIO_PCI_CAP_DEVICE_CFG, off + 4, 4);

		if (gen == (uint8_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_CFGGENERATION, 1) ||
		    tries == 100) {
			if (tries == 100)
				vmsg("config_generation never settled reading config offset %u", off);
			return lo | hi << 32;
		}
	}
}

void drv_virtio_cfg_write(struct drv_virtio *v, unsigned off, unsigned size, uint64_t val)
{
	if (size != 8) {
		region_write(v, VIRTIO_PCI_CAP_DEVICE_CFG, off, size, val);
		return;
	}
	region_write(v, VIRTIO_PCI_CAP_DEVICE_CFG, off, 4, (uint32_t)val);
	region_write(v, VIRTIO_PCI_CAP_DEVICE_CFG, off + 4, 4, val >> 32);
}

/* ---- interrupt accounting ---- */

uint8_t drv_virtio_isr_read(struct drv_virtio *v)
{
	uint8_t isr = (uint8_t)region_read(v, VIRTIO_PCI_CAP_ISR_CFG, 0, 1);

	v->isr_reads++;
	v->isr_last = isr;
	v->isr_seen |= isr;
	if (isr & 0x1)
		v->isr_queue_count++;
	if (isr & VIRTIO_PCI_ISR_CONFIG) {
		v->isr_config_count++;
		v->config_irq_count++;
	}
	return isr;
}

bool drv_virtio_handle_irq(struct drv_virtio *v, const struct drv_irq *irq)
{
	if (irq->kind == HSM_IRQ_MSI) {
		uint32_t vec = irq->data - v->msi_data_base;

		if (irq->addr != DRV_VIRTIO_MSI_ADDR || irq->data < v->msi_data_base ||
		    vec >= DRV_VIRTIO_MAX_VEC) {
			v->foreign_irq_count++;
			return false;
		}
		v->msi_count++;
		v->msi_vec_count[vec]++;
		if (v->msix && vec == v->config_vector)
			v->config_irq_count++;
		return true;
	}
	if (irq->kind == HSM_IRQ_INTX && irq->bdf == v->f->bdf) {
		if (irq->data) {
			v->intx_count++;
			v->intx_level = true;
			/* What the interrupt handler does: read (and so clear) the ISR,
			 * which deasserts the line. */
			drv_virtio_isr_read(v);
		} else {
			v->intx_deassert_count++;
			v->intx_level = false;
		}
		return true;
	}
	v->foreign_irq_count++;
	return false;
}

int drv_virtio_wait_irq(struct drv_virtio *v, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		int64_t left = deadline - now_ms();
		struct drv_irq irq;

		if (!drv_wait_irq(v->d, &irq, left > 0 ? (int)left : 0))
			return 0;
		if (drv_virtio_handle_irq(v, &irq))
			return 1;
	}
}

void drv_virtio_clear_stats(struct drv_virtio *v)
{
	v->msi_count = 0;
	memset(v->msi_vec_count, 0, sizeof(v->msi_vec_count));
	v->intx_count = 0;
	v->intx_deassert_count = 0;
	v->isr_reads = 0;
	v->isr_last = 0;
	v->isr_seen = 0;
	v->isr_queue_count = 0;
	v->isr_config_count = 0;
	v->config_irq_count = 0;
	v->foreign_irq_count = 0;
}

/* ---- probe ---- */

static const char *const cap_names[6] = { "?", "COMMON_CFG", "NOTIFY_CFG", "ISR_CFG",
					  "DEVICE_CFG", "PCI_CFG" };

/* Check that virtio structure `type` lies in an assigned BAR; fill addr. */
static bool place_cap(struct drv_virtio *v, int type, uint32_t min_len)
{
	struct drv_virtio_cap *c = &v->caps[type];
	const struct drv_bar *b;

	if (!c->cap) {
		vmsg("%02x.%d: no %s capability", v->f->bdf >> 3 & 0x1f, v->f->bdf & 7,
		     cap_names[type]);
		return false;
	}
	b = &v->f->bars[c->bar];
	if (!b->type || !b->addr) {
		vmsg("%s capability at %#x names BAR%u, which is %s", cap_names[type], c->cap,
		     c->bar, b->type ? "not assigned" : "not implemented");
		return false;
	}
	if ((uint64_t)c->offset + c->length > b->size || c->length < min_len) {
		vmsg("%s capability at %#x: offset %#x length %#x does not fit BAR%u (size %#llx, "
		     "need length >= %#x)",
		     cap_names[type], c->cap, c->offset, c->length, c->bar,
		     (unsigned long long)b->size, min_len);
		return false;
	}
	c->space = b->type == DRV_BAR_IO ? HSM_IO_PIO : HSM_IO_MMIO;
	c->addr = b->addr + c->offset;
	return true;
}

int drv_virtio_probe(struct drv_virtio *v, struct drv *d, struct drv_func *f, uint64_t heap_base)
{
	int it = 0;
	uint8_t off;

	memset(v, 0, sizeof(*v));
	v->d = d;
	v->f = f;
	v->heap = v->heap_base = heap_base;
	v->msi_data_base = DRV_VIRTIO_MSI_DATA + DRV_VIRTIO_MSI_DATA_STRIDE * (f->bdf & 0xffu);
	v->irq_grace_ms = DRV_VIRTIO_IRQ_GRACE_MS;
	v->config_vector = DRV_VIRTIO_NO_VECTOR;
	for (int i = 0; i < DRV_VIRTIO_MAX_VQ; i++) {
		v->vq[i].index = (uint16_t)i;
		v->vq[i].msix_vector = DRV_VIRTIO_NO_VECTOR;
	}

	while ((off = drv_next_cap(f, PCI_CAP_ID_VNDR, &it))) {
		uint8_t cap_len = (uint8_t)drv_cfg_read(d, f->bdf, off + VIRTIO_PCI_CAP_LEN, 1);
		uint8_t type = (uint8_t)drv_cfg_read(d, f->bdf, off + VIRTIO_PCI_CAP_CFG_TYPE, 1);
		uint8_t bar = (uint8_t)drv_cfg_read(d, f->bdf, off + VIRTIO_PCI_CAP_BAR, 1);
		struct drv_virtio_cap *c;

		/* 4.1.4: unknown types and reserved BAR values are ignored; the first
		 * structure of each type is the preferred one. */
		if (type < VIRTIO_PCI_CAP_COMMON_CFG || type > VIRTIO_PCI_CAP_PCI_CFG)
			continue;
		if (cap_len < sizeof(struct virtio_pci_cap)) {
			vmsg("vendor capability at %#x: cap_len %u is too short", off, cap_len);
			continue;
		}
		c = &v->caps[type];
		if (c->cap)
			continue;
		if (type != VIRTIO_PCI_CAP_PCI_CFG && bar > 5)
			continue;
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG &&
		    cap_len < sizeof(struct virtio_pci_notify_cap)) {
			vmsg("NOTIFY_CFG capability at %#x: cap_len %u is too short", off, cap_len);
			continue;
		}
		if (type == VIRTIO_PCI_CAP_PCI_CFG && cap_len < sizeof(struct virtio_pci_cfg_cap)) {
			vmsg("PCI_CFG capability at %#x: cap_len %u is too short", off, cap_len);
			continue;
		}
		c->cap = off;
		c->cap_len = cap_len;
		c->bar = bar;
		c->offset = drv_cfg_read(d, f->bdf, off + VIRTIO_PCI_CAP_OFFSET, 4);
		c->length = drv_cfg_read(d, f->bdf, off + VIRTIO_PCI_CAP_LENGTH, 4);
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
			v->notify_mult = drv_cfg_read(d, f->bdf, off + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
		if (type == VIRTIO_PCI_CAP_PCI_CFG)
			v->pci_cfg_cap = off;
	}

	if (!place_cap(v, VIRTIO_PCI_CAP_COMMON_CFG, sizeof(struct virtio_pci_common_cfg)) ||
	    !place_cap(v, VIRTIO_PCI_CAP_NOTIFY_CFG, 2) || !place_cap(v, VIRTIO_PCI_CAP_ISR_CFG, 1))
		return -1;
	if (v->caps[VIRTIO_PCI_CAP_DEVICE_CFG].cap && !place_cap(v, VIRTIO_PCI_CAP_DEVICE_CFG, 1))
		return -1;
	/* 4.1.4.4: an even power of 2, or 0 (all queues share one address). */
	if (v->notify_mult & (v->notify_mult - 1) || v->notify_mult == 1) {
		vmsg("notify_off_multiplier %u is not 0 or an even power of 2", v->notify_mult);
		return -1;
	}
	v->common = v->caps[VIRTIO_PCI_CAP_COMMON_CFG].addr;
	v->notify_base = v->caps[VIRTIO_PCI_CAP_NOTIFY_CFG].addr;
	v->isr = v->caps[VIRTIO_PCI_CAP_ISR_CFG].addr;
	v->device_cfg = v->caps[VIRTIO_PCI_CAP_DEVICE_CFG].addr;
	v->num_queues = (uint16_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_NUMQ, 2);
	return 0;
}

int drv_virtio_probe_slot(struct drv_virtio *v, struct drv *d, struct drv_func *f, unsigned slot)
{
	struct drv_func funcs[8];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int n = drv_enumerate(d, funcs, 8);
	bool found = false;

	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, slot, 0)) {
			*f = funcs[i];
			found = true;
		}
	if (!found)
		return -ENODEV;
	drv_assign_bars(d, f, &mmio, &io);
	return drv_virtio_probe(v, d, f, 16 << 20);
}

static void vq_forget(struct drv_vq *vq)
{
	uint16_t index = vq->index;

	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	vq->msix_vector = DRV_VIRTIO_NO_VECTOR;
}

void drv_virtio_fini(struct drv_virtio *v)
{
	for (int i = 0; i < DRV_VIRTIO_MAX_VQ; i++)
		vq_forget(&v->vq[i]);
	v->nvq = 0;
}

/* ---- guest RAM ---- */

uint64_t drv_virtio_alloc(struct drv_virtio *v, uint64_t len, uint64_t align)
{
	uint64_t gpa;

	if (!align)
		align = 1;
	gpa = (v->heap + align - 1) & ~(align - 1);
	drv_gpa(v->d, gpa, len ? len : 1); /* aborts the test past guest RAM */
	v->heap = gpa + len;
	return gpa;
}

/* ---- initialization (3.1.1) ---- */

uint64_t drv_virtio_device_features(struct drv_virtio *v)
{
	uint64_t feat;

	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	feat = (uint32_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_DF, 4);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	feat |= (uint64_t)(uint32_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_DF, 4) << 32;
	v->device_features = feat;
	return feat;
}

int drv_virtio_negotiate(struct drv_virtio *v, uint64_t wanted)
{
	uint8_t status;
	uint64_t want;
	int tries;

	/* 1: reset, and wait for it to complete (4.1.4.3.2). */
	drv_virtio_set_status(v, 0);
	for (tries = 0; drv_virtio_status(v) != 0; tries++) {
		if (tries == 1000) {
			vmsg("device_status did not read 0 after reset");
			return -1;
		}
		usleep(1000);
	}
	drv_virtio_fini(v);
	v->features = 0;
	v->config_vector = DRV_VIRTIO_NO_VECTOR;
	v->intx_level = false;

	/* 2, 3: ACKNOWLEDGE, then DRIVER. */
	status = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	drv_virtio_set_status(v, status);
	status |= VIRTIO_CONFIG_S_DRIVER;
	drv_virtio_set_status(v, status);

	/* 4: read the offer, write the subset we understand. */
	want = wanted & drv_virtio_device_features(v);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)want);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_GF, 4, want >> 32);

	/* 5, 6: FEATURES_OK, and check that it stuck. */
	status |= VIRTIO_CONFIG_S_FEATURES_OK;
	drv_virtio_set_status(v, status);
	status = drv_virtio_status(v);
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		vmsg("device did not accept features %#llx (status %#x)", (unsigned long long)want,
		     status);
		return -1;
	}
	v->features = want;
	v->num_queues = (uint16_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_NUMQ, 2);
	return 0;
}

/* ---- interrupts ---- */

/* Vectors programmed in the MSI-X table. */
static uint16_t msix_nvec(const struct drv_virtio *v)
{
	return v->msix_table_size < DRV_VIRTIO_MAX_VEC ? v->msix_table_size : DRV_VIRTIO_MAX_VEC;
}

/* The vector queue q uses: 1 + q, sharing when the table is small. */
static uint16_t queue_vector(const struct drv_virtio *v, int q)
{
	uint16_t n = msix_nvec(v);

	if (!v->msix)
		return DRV_VIRTIO_NO_VECTOR;
	return n > 1 ? (uint16_t)(1 + q % (n - 1)) : 0;
}

/* Select queue q and give it its vector; -1 if the device refuses it. */
static int set_queue_vector(struct drv_virtio *v, int q)
{
	uint16_t want = queue_vector(v, q), got;

	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_SELECT, 2, (uint64_t)q);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_MSIX, 2, want);
	got = (uint16_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_Q_MSIX, 2);
	v->vq[q].msix_vector = got;
	if (got != want) {
		vmsg("queue %d: queue_msix_vector reads %#x after writing %#x", q, got, want);
		return -1;
	}
	return 0;
}

int drv_virtio_setup_irq(struct drv_virtio *v, bool use_msix)
{
	struct drv *d = v->d;
	uint16_t bdf = v->f->bdf;
	int it = 0;
	uint8_t cap = drv_next_cap(v->f, PCI_CAP_ID_MSIX, &it);
	uint16_t cmd = (uint16_t)drv_cfg_read(d, bdf, PCI_COMMAND, 2);

	v->msix_cap = cap;
	if (use_msix && cap) {
		uint16_t flags = (uint16_t)drv_cfg_read(d, bdf, cap + PCI_MSIX_FLAGS, 2);
		uint32_t table = drv_cfg_read(d, bdf, cap + PCI_MSIX_TABLE, 4);
		uint32_t pba = drv_cfg_read(d, bdf, cap + PCI_MSIX_PBA, 4);
		const struct drv_bar *b = &v->f->bars[table & PCI_MSIX_TABLE_BIR];
		const struct drv_bar *pb = &v->f->bars[pba & PCI_MSIX_PBA_BIR];

		if ((b->type != DRV_BAR_MEM32 && b->type != DRV_BAR_MEM64) ||
		    (pb->type != DRV_BAR_MEM32 && pb->type != DRV_BAR_MEM64)) {
			vmsg("MSI-X table in BAR%u or PBA in BAR%u, not a memory BAR",
			     table & PCI_MSIX_TABLE_BIR, pba & PCI_MSIX_PBA_BIR);
			return -1;
		}
		v->msix_table_size = (uint16_t)((flags & PCI_MSIX_FLAGS_QSIZE) + 1);
		v->msix_table = b->addr + (table & PCI_MSIX_TABLE_OFFSET);
		v->msix_pba = pb->addr + (pba & PCI_MSIX_PBA_OFFSET);
		/* Enable with the function masked while the table is programmed. */
		drv_cfg_write(d, bdf, cap + PCI_MSIX_FLAGS, 2,
			      flags | PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
		for (uint16_t i = 0; i < msix_nvec(v); i++) {
			uint64_t e = v->msix_table + (uint64_t)i * PCI_MSIX_ENTRY_SIZE;

			drv_mmio_write(d, e + PCI_MSIX_ENTRY_LOWER_ADDR, 4,
				       (uint32_t)DRV_VIRTIO_MSI_ADDR);
			drv_mmio_write(d, e + PCI_MSIX_ENTRY_UPPER_ADDR, 4, DRV_VIRTIO_MSI_ADDR >> 32);
			drv_mmio_write(d, e + PCI_MSIX_ENTRY_DATA, 4, v->msi_data_base + i);
			drv_mmio_write(d, e + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
		}
		drv_cfg_write(d, bdf, cap + PCI_MSIX_FLAGS, 2,
			      (uint16_t)((flags | PCI_MSIX_FLAGS_ENABLE) & ~PCI_MSIX_FLAGS_MASKALL));
		v->msix = true;
		drv_virtio_common_write(v, VIRTIO_PCI_COMMON_MSIX, 2, 0);
		v->config_vector = (uint16_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_MSIX, 2);
		if (v->config_vector != 0) {
			vmsg("msix_config reads %#x after writing 0", v->config_vector);
			return -1;
		}
	} else {
		if (cap) {
			uint16_t flags = (uint16_t)drv_cfg_read(d, bdf, cap + PCI_MSIX_FLAGS, 2);

			uint16_t off = PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL;

			drv_cfg_write(d, bdf, cap + PCI_MSIX_FLAGS, 2, (uint16_t)(flags & ~off));
		}
		v->msix = false;
		drv_virtio_common_write(v, VIRTIO_PCI_COMMON_MSIX, 2, DRV_VIRTIO_NO_VECTOR);
		v->config_vector = (uint16_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_MSIX, 2);
		if (cmd & PCI_COMMAND_INTX_DISABLE)
			drv_cfg_write(d, bdf, PCI_COMMAND, 2,
				      (uint16_t)(cmd & ~PCI_COMMAND_INTX_DISABLE));
	}
	for (int q = 0; q < v->nvq; q++)
		if (v->vq[q].size && set_queue_vector(v, q))
			return -1;
	return 0;
}

/* ---- virtqueues ---- */

static struct drv_vq *get_vq(struct drv_virtio *v, int q)
{
	if (q < 0 || q >= DRV_VIRTIO_MAX_VQ || !v->vq[q].size) {
		vmsg("queue %d is not set up", q);
		return NULL;
	}
	return &v->vq[q];
}

static struct sq_desc *desc_table(struct drv_virtio *v, struct drv_vq *vq)
{
	return drv_gpa(v->d, vq->desc_gpa, 16ULL * vq->size);
}

static struct sq_avail *avail_ring(struct drv_virtio *v, struct drv_vq *vq)
{
	return drv_gpa(v->d, vq->avail_gpa, 6 + 2ULL * vq->size);
}

static struct sq_used *used_ring(struct drv_virtio *v, struct drv_vq *vq)
{
	return drv_gpa(v->d, vq->used_gpa, 6 + 8ULL * vq->size);
}

int drv_virtio_setup_vq(struct drv_virtio *v, int idx, uint16_t size)
{
	struct drv_vq *vq;
	uint16_t max, noff;
	uint64_t desc_len, avail_len, used_len;

	if (idx < 0 || idx >= DRV_VIRTIO_MAX_VQ) {
		vmsg("queue %d: the test driver handles queues 0..%d", idx, DRV_VIRTIO_MAX_VQ - 1);
		return -1;
	}
	vq = &v->vq[idx];
	vq_forget(vq);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_SELECT, 2, (uint64_t)idx);
	max = (uint16_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_Q_SIZE, 2);
	if (!max) {
		vmsg("queue %d: queue_size reads 0 (no such queue)", idx);
		return -1;
	}
	if (drv_virtio_common_read(v, VIRTIO_PCI_COMMON_Q_ENABLE, 2)) {
		vmsg("queue %d: already enabled before set-up", idx);
		return -1;
	}
	if (!size)
		size = max < DRV_VQ_MAX_SIZE ? max : DRV_VQ_MAX_SIZE;
	if (size > max || size > DRV_VQ_MAX_SIZE) {
		vmsg("queue %d: size %u exceeds the maximum %u (driver: %u)", idx, size, max,
		     DRV_VQ_MAX_SIZE);
		return -1;
	}

	desc_len = 16ULL * size;
	avail_len = 6 + 2ULL * size;
	used_len = 6 + 8ULL * size;
	if (has_feature(v, VIRTIO_F_RING_PACKED)) {
		/* Descriptor ring, driver and device event suppression areas. */
		uint64_t len[3];

		drv_pq_lengths(size, len);
		desc_len = len[0];
		avail_len = len[1];
		used_len = len[2];
	}
	vq->desc_gpa = drv_virtio_alloc(v, desc_len, RING_ALIGN);
	vq->avail_gpa = drv_virtio_alloc(v, avail_len, RING_ALIGN);
	vq->used_gpa = drv_virtio_alloc(v, used_len, RING_ALIGN);
	memset(drv_gpa(v->d, vq->desc_gpa, desc_len), 0, desc_len);
	memset(drv_gpa(v->d, vq->avail_gpa, avail_len), 0, avail_len);
	memset(drv_gpa(v->d, vq->used_gpa, used_len), 0, used_len);

	for (uint16_t i = 0; i < size; i++)
		vq->next[i] = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = size;
	vq->size = size;
	vq->packed = has_feature(v, VIRTIO_F_RING_PACKED);
	if (vq->packed)
		drv_pq_init(vq);

	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)vq->desc_gpa);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_DESCHI, 4, vq->desc_gpa >> 32);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)vq->avail_gpa);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, vq->avail_gpa >> 32);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)vq->used_gpa);
	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_USEDHI, 4, vq->used_gpa >> 32);
	if (idx >= v->nvq)
		v->nvq = idx + 1;
	if (set_queue_vector(v, idx))
		goto fail;

	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_SELECT, 2, (uint64_t)idx);
	noff = (uint16_t)drv_virtio_common_read(v, VIRTIO_PCI_COMMON_Q_NOFF, 2);
	vq->notify_off = noff;
	if ((uint64_t)noff * v->notify_mult + 2 > v->caps[VIRTIO_PCI_CAP_NOTIFY_CFG].length) {
		vmsg("queue %d: queue_notify_off %u * multiplier %u is outside the notify "
		     "structure (length %u)",
		     idx, noff, v->notify_mult, v->caps[VIRTIO_PCI_CAP_NOTIFY_CFG].length);
		goto fail;
	}
	vq->notify_addr = v->notify_base + (uint64_t)noff * v->notify_mult;

	drv_virtio_common_write(v, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	if (drv_virtio_common_read(v, VIRTIO_PCI_COMMON_Q_ENABLE, 2) != 1) {
		vmsg("queue %d: queue_enable does not read 1 (status %#x)", idx,
		     drv_virtio_status(v));
		goto fail;
	}
	return 0;
fail:
	vq_forget(vq);
	return -1;
}

static void fill_desc(struct sq_desc *dsc, const struct drv_buf *b, bool write, bool more,
		      uint16_t next)
{
	dsc->addr = b->gpa;
	dsc->len = b->len;
	dsc->flags = (uint16_t)((write ? VRING_DESC_F_WRITE : 0) | (more ? VRING_DESC_F_NEXT : 0));
	dsc->next = more ? next : 0;
}

int drv_virtio_post(struct drv_virtio *v, int q, const struct drv_buf *out, int nout,
		    const struct drv_buf *in, int nin, bool indirect)
{
	struct drv_vq *vq = get_vq(v, q);
	struct sq_desc *desc;
	struct sq_avail *avail;
	int n = nout + nin;
	uint16_t head, cur;

	if (!vq)
		return -1;
	if (nout < 0 || nin < 0 || n < 1 || n > (indirect ? 0xffff : vq->size)) {
		vmsg("queue %d: cannot post %d + %d buffers", q, nout, nin);
		return -1;
	}
	if (vq->packed)
		return drv_pq_post(v, vq, out, nout, in, nin, indirect);
	if (vq->num_free < (indirect ? 1 : n))
		return -1;
	desc = desc_table(v, vq);
	head = vq->free_head;

	if (indirect) {
		struct drv_vq_slot *s = &vq->slot[head];
		struct sq_desc *table;

		if (s->ind_cap < (uint32_t)n) {
			uint16_t cap = n < 16 ? 16 : (uint16_t)n;

			s->ind_gpa = drv_virtio_alloc(v, 16ULL * cap, 16);
			s->ind_cap = cap;
		}
		table = drv_gpa(v->d, s->ind_gpa, 16 * (uint64_t)n);
		for (int i = 0; i < n; i++)
			fill_desc(&table[i], i < nout ? &out[i] : &in[i - nout], i >= nout,
				  i < n - 1, (uint16_t)(i + 1));
		desc[head] = (struct sq_desc){ .addr = s->ind_gpa,
					       .len = (uint32_t)(16 * n),
					       .flags = VRING_DESC_F_INDIRECT };
		vq->free_head = vq->next[head];
		vq->num_free--;
		s->ndesc = 1;
	} else {
		cur = head;
		for (int i = 0; i < n; i++) {
			fill_desc(&desc[cur], i < nout ? &out[i] : &in[i - nout], i >= nout,
				  i < n - 1, vq->next[cur]);
			if (i < n - 1)
				cur = vq->next[cur];
		}
		vq->free_head = vq->next[cur];
		vq->num_free = (uint16_t)(vq->num_free - n);
		vq->slot[head].ndesc = (uint16_t)n;
	}

	/* 2.7.13: the ring entry, then (after a barrier) the index. */
	avail = avail_ring(v, vq);
	avail->ring[vq->next_avail % vq->size] = head;
	vq->next_avail++;
	__atomic_store_n(&avail->idx, vq->next_avail, __ATOMIC_RELEASE);
	vq->posted++;
	return head;
}

bool drv_virtio_kick_needed(struct drv_virtio *v, int q)
{
	struct drv_vq *vq = get_vq(v, q);
	struct sq_used *used;

	if (!vq)
		return false;
	if (vq->packed)
		return drv_pq_kick_needed(v, vq);
	/* 2.7.13.4: index visible before reading the suppression state. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	used = used_ring(v, vq);
	if (has_feature(v, VIRTIO_RING_F_EVENT_IDX)) {
		uint16_t *ev = drv_gpa(v->d, vq->used_gpa + 4 + 8ULL * vq->size, 2);
		uint16_t event = __atomic_load_n(ev, __ATOMIC_ACQUIRE);
		/* Kick if avail_event lies in [kicked_avail, next_avail): what
		 * was posted since the last decision.  The window then starts
		 * afresh, kick or not: one that grew over many posts without a
		 * kick (the device polling meanwhile) would wrap the 16-bit
		 * index space and miss the event. */
		bool need = (uint16_t)(vq->next_avail - event - 1) <
			    (uint16_t)(vq->next_avail - vq->kicked_avail);

		vq->kicked_avail = vq->next_avail;
		return need;
	}
	return !(__atomic_load_n(&used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY);
}

void drv_virtio_kick(struct drv_virtio *v, int q)
{
	struct drv_vq *vq = get_vq(v, q);
	const struct drv_virtio_cap *c = &v->caps[VIRTIO_PCI_CAP_NOTIFY_CFG];

	if (!vq)
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->kicked_avail = vq->next_avail;
	vq->kicked_pos = vq->avail_pos;
	drv_io(v->d, c->space, HSM_IO_WRITE, vq->notify_addr, 2, 0, vq->index);
}

/* Tell the device where the next interrupt is wanted (2.7.7, 2.7.10). */
static void publish_used_event(struct drv_virtio *v, struct drv_vq *vq)
{
	struct sq_avail *avail;

	if (vq->packed) {
		drv_pq_publish_event(v, vq);
		return;
	}
	avail = avail_ring(v, vq);
	if (has_feature(v, VIRTIO_RING_F_EVENT_IDX)) {
		uint16_t *ev = drv_gpa(v->d, vq->avail_gpa + 4 + 2ULL * vq->size, 2);

		/* Interrupts off: an event index just behind, which the device
		 * passes only after 65535 more buffers. */
		__atomic_store_n(ev, vq->no_interrupt ? (uint16_t)(vq->last_used - 1) : vq->last_used,
				 __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&avail->flags, vq->no_interrupt ? VRING_AVAIL_F_NO_INTERRUPT : 0,
				 __ATOMIC_RELEASE);
	}
	/* Make it visible before the used index is checked again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void drv_virtio_vq_interrupts(struct drv_virtio *v, int q, bool on)
{
	struct drv_vq *vq = get_vq(v, q);

	if (!vq)
		return;
	vq->no_interrupt = !on;
	publish_used_event(v, vq);
}

int drv_virtio_get_used(struct drv_virtio *v, int q, uint16_t *id, uint32_t *len)
{
	struct drv_vq *vq = get_vq(v, q);
	struct sq_used *used;
	struct sq_used_elem e;
	uint16_t tail;

	if (!vq)
		return 0;
	if (vq->packed)
		return drv_pq_get_used(v, vq, id, len);
	used = used_ring(v, vq);
	if (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) == vq->last_used)
		return 0;
	e = used->ring[vq->last_used % vq->size];
	vq->last_used++;
	if (has_feature(v, VIRTIO_RING_F_EVENT_IDX))
		publish_used_event(v, vq);
	if (e.id >= vq->size || !vq->slot[e.id].ndesc) {
		vmsg("queue %d: used entry %u names id %u, which is not an outstanding head", q,
		     (uint16_t)(vq->last_used - 1), e.id);
		return -1;
	}
	/* Return the chain to the free list. */
	tail = (uint16_t)e.id;
	for (uint16_t i = 1; i < vq->slot[e.id].ndesc; i++)
		tail = vq->next[tail];
	vq->next[tail] = vq->free_head;
	vq->free_head = (uint16_t)e.id;
	vq->num_free = (uint16_t)(vq->num_free + vq->slot[e.id].ndesc);
	vq->slot[e.id].ndesc = 0;
	vq->completed++;
	if (id)
		*id = (uint16_t)e.id;
	if (len)
		*len = e.len;
	return 1;
}

/* Interrupts accounted so far that announce used buffers of vq. */
static int queue_irqs(const struct drv_virtio *v, const struct drv_vq *vq)
{
	if (!v->msix)
		return v->isr_queue_count;
	return vq->msix_vector < DRV_VIRTIO_MAX_VEC ? v->msi_vec_count[vq->msix_vector] : 0;
}

int drv_virtio_wait_used(struct drv_virtio *v, int q, uint16_t *id, uint32_t *len,
			 int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct drv_vq *vq = get_vq(v, q);
	int irqs;

	if (!vq)
		return 0;
	irqs = queue_irqs(v, vq);
	for (;;) {
		int r = drv_virtio_get_used(v, q, id, len);
		int64_t left = deadline - now_ms();
		struct drv_irq irq;

		if (r) {
			/* Found by polling: the device writes the used ring before it
			 * interrupts, so the message may still be on its way.  Give it
			 * a moment, so the statistics say how this buffer was
			 * announced. */
			int64_t grace = now_ms() + v->irq_grace_ms;

			while (r == 1 && !vq->no_interrupt && queue_irqs(v, vq) == irqs) {
				left = grace - now_ms();
				if (left <= 0 || !drv_wait_irq(v->d, &irq, (int)left))
					break;
				drv_virtio_handle_irq(v, &irq);
			}
			return r;
		}
		if (left <= 0)
			return 0;
		if (drv_wait_irq(v->d, &irq, left < WAIT_SLICE_MS ? (int)left : WAIT_SLICE_MS))
			drv_virtio_handle_irq(v, &irq);
		else if (!v->msix && v->intx_level)
			/* The line is still up with nothing new: service it again. */
			drv_virtio_isr_read(v);
	}
}

/* ---- VIRTIO_PCI_CAP_PCI_CFG (4.1.4.9) ---- */

static bool pcicfg_setup(struct drv_virtio *v, uint8_t bar, uint32_t off, unsigned size)
{
	uint8_t cap = v->pci_cfg_cap;

	if (!cap) {
		vmsg("no PCI_CFG capability");
		return false;
	}
	drv_cfg_write(v->d, v->f->bdf, cap + VIRTIO_PCI_CAP_BAR, 1, bar);
	drv_cfg_write(v->d, v->f->bdf, cap + VIRTIO_PCI_CAP_OFFSET, 4, off);
	drv_cfg_write(v->d, v->f->bdf, cap + VIRTIO_PCI_CAP_LENGTH, 4, size);
	return true;
}

uint32_t drv_virtio_pcicfg_read(struct drv_virtio *v, uint8_t bar, uint32_t off, unsigned size)
{
	if (!pcicfg_setup(v, bar, off, size))
		return 0xffffffff;
	return drv_cfg_read(v->d, v->f->bdf,
			    v->pci_cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), size);
}

void drv_virtio_pcicfg_write(struct drv_virtio *v, uint8_t bar, uint32_t off, unsigned size,
			     uint32_t val)
{
	if (pcicfg_setup(v, bar, off, size))
		drv_cfg_write(v->d, v->f->bdf,
			      v->pci_cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data),
			      size, val);
}
