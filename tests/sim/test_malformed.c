/*
 * test_malformed.c - a hostile guest on the simulator.  Each case breaks a
 * virtqueue rule on virtio-rnd (the victim) while virtio-blk (a bystander)
 * keeps serving I/O.  In every case vdm keeps running, the victim reports
 * DEVICE_NEEDS_RESET with a configuration-change interrupt, the bystander
 * still reads back what it wrote, and a device reset brings the victim back.
 */
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define VICTIM_SLOT 4
#define BYSTANDER_SLOT 3
#define RAM_SIZE (3ULL << 30) /* room for 2 GiB buffers; a memfd costs only what is touched */

static struct drv d;
static struct drv_func funcs[8];
static struct drv_virtio victim, bystander;

static struct drv_func *func_at(int n, int slot)
{
	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, slot, 0))
			return &funcs[i];
	return NULL;
}

static bool victim_up(uint16_t qsize)
{
	return drv_virtio_negotiate(&victim, (1ULL << VIRTIO_F_VERSION_1) |
						     (1ULL << VIRTIO_RING_F_INDIRECT_DESC)) == 0 &&
	       drv_virtio_setup_irq(&victim, true) == 0 && drv_virtio_setup_vq(&victim, 0, qsize) == 0;
}

/* Raw access to the victim's ring, as a buggy or hostile driver would write it. */
static struct vring_desc *vdesc(uint16_t i)
{
	return drv_gpa(&d, victim.vq[0].desc_gpa + 16ULL * i, 16);
}

static void set_desc(struct vring_desc *x, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	x->addr = addr;
	x->len = len;
	x->flags = flags;
	x->next = next;
}

/* Put head on the avail ring (or move avail->idx by `jump` when non-zero). */
static void publish_raw(uint16_t head, uint16_t jump)
{
	struct drv_vq *q = &victim.vq[0];
	uint16_t *avail = drv_gpa(&d, q->avail_gpa, 4 + 2ULL * q->size);

	avail[2 + q->next_avail % q->size] = head;
	q->next_avail = (uint16_t)(q->next_avail + (jump ? jump : 1));
	__atomic_store_n(&avail[1], q->next_avail, __ATOMIC_RELEASE);
	drv_virtio_kick(&victim, 0);
}

/* The bystander still serves a write and a read-back. */
static bool bystander_ok(unsigned seed)
{
	uint64_t hdr = drv_virtio_alloc(&bystander, 16, 16);
	uint64_t data = drv_virtio_alloc(&bystander, 4096, 4096);
	uint64_t st = drv_virtio_alloc(&bystander, 1, 1);
	uint8_t *buf = drv_gpa(&d, data, 4096);
	uint8_t pattern[4096];
	uint16_t id;
	uint32_t len;

	for (int i = 0; i < 4096; i++)
		pattern[i] = (uint8_t)(seed + i);
	for (int pass = 0; pass < 2; pass++) {
		struct virtio_blk_outhdr *h = drv_gpa(&d, hdr, 16);
		struct drv_buf hb = { hdr, 16 }, db = { data, 4096 }, sb = { st, 1 };
		struct drv_buf out[2] = { hb, db }, in[2] = { db, sb };

		h->type = pass ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
		h->sector = 8 * seed;
		if (pass)
			memset(buf, 0, 4096);
		else
			memcpy(buf, pattern, 4096);
		if (drv_virtio_post(&bystander, 0, out, pass ? 1 : 2, pass ? in : &in[1],
				    pass ? 2 : 1, false) < 0)
			return false;
		drv_virtio_kick(&bystander, 0);
		if (drv_virtio_wait_used(&bystander, 0, &id, &len, 5000) != 1 ||
		    *(uint8_t *)drv_gpa(&d, st, 1) != VIRTIO_BLK_S_OK)
			return false;
	}
	return !memcmp(buf, pattern, 4096);
}

static bool needs_reset_seen(void)
{
	for (int i = 0; i < 200; i++) {
		if (drv_virtio_status(&victim) & VIRTIO_CONFIG_S_NEEDS_RESET)
			return true;
		drv_virtio_wait_irq(&victim, 10);
	}
	return false;
}

/* A good request on the victim after a reset. */
static bool victim_serves(void)
{
	uint64_t buf = drv_virtio_alloc(&victim, 64, 64);
	struct drv_buf in = { buf, 64 };
	uint16_t id;
	uint32_t len;

	if (drv_virtio_post(&victim, 0, NULL, 0, &in, 1, false) < 0)
		return false;
	drv_virtio_kick(&victim, 0);
	return drv_virtio_wait_used(&victim, 0, &id, &len, 5000) == 1 && len == 64;
}

typedef void (*break_fn)(void);

static void desc_loop(void)
{
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	set_desc(vdesc(0), b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(vdesc(1), b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	publish_raw(0, 0);
}

static void indirect_loop(void)
{
	uint64_t t = drv_virtio_alloc(&victim, 64, 16), b = drv_virtio_alloc(&victim, 64, 64);
	struct vring_desc *tab = drv_gpa(&d, t, 64);
	set_desc(&tab[0], b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&tab[1], b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	set_desc(vdesc(0), t, 32, VRING_DESC_F_INDIRECT, 0);
	publish_raw(0, 0);
}

static void outside_ram(void)
{
	set_desc(vdesc(0), 1ULL << 40, 64, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void straddles_ram_end(void)
{
	set_desc(vdesc(0), RAM_SIZE - 32, 64, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void wraps_address_space(void)
{
	set_desc(vdesc(0), ~0ULL - 15, 64, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void chain_longer_than_queue(void)
{
	/* An indirect table one entry longer than the queue, every entry chained. */
	uint16_t n = (uint16_t)(victim.vq[0].size + 1);
	uint64_t t = drv_virtio_alloc(&victim, 16ULL * n, 16), b = drv_virtio_alloc(&victim, 64, 64);
	struct vring_desc *tab = drv_gpa(&d, t, 16ULL * n);
	for (uint16_t i = 0; i < n; i++)
		set_desc(&tab[i], b, 8, VRING_DESC_F_WRITE | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			 (uint16_t)(i + 1));
	set_desc(vdesc(0), t, 16U * n, VRING_DESC_F_INDIRECT, 0);
	publish_raw(0, 0);
}

static void nested_indirect(void)
{
	uint64_t t1 = drv_virtio_alloc(&victim, 16, 16), t2 = drv_virtio_alloc(&victim, 16, 16);
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	set_desc(drv_gpa(&d, t2, 16), b, 8, VRING_DESC_F_WRITE, 0);
	set_desc(drv_gpa(&d, t1, 16), t2, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(vdesc(0), t1, 16, VRING_DESC_F_INDIRECT, 0);
	publish_raw(0, 0);
}

static void indirect_bad_length(void)
{
	uint64_t t = drv_virtio_alloc(&victim, 64, 16);
	set_desc(vdesc(0), t, 20, VRING_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
	publish_raw(0, 0);
}

static void lengths_overflow(void)
{
	/* Two 2 GiB buffers, each inside RAM: only their sum (2^32) is wrong. */
	set_desc(vdesc(0), 0x10000000, 0x80000000u, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(vdesc(1), 0x10000000, 0x80000000u, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void head_out_of_range(void)
{
	publish_raw((uint16_t)(victim.vq[0].size + 5), 0);
}

static void avail_index_jump(void)
{
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	set_desc(vdesc(0), b, 8, VRING_DESC_F_WRITE, 0);
	publish_raw(0, (uint16_t)(victim.vq[0].size + 1));
}

static void run_case(const char *name, break_fn breakit, int *n)
{
	int cfg_irqs = victim.config_irq_count;

	drv_virtio_driver_ok(&victim);
	breakit();
	bool reset = needs_reset_seen();
	drv_check(reset, "%s: victim reports DEVICE_NEEDS_RESET", name);
	for (int i = 0; i < 50 && victim.config_irq_count == cfg_irqs; i++)
		drv_virtio_wait_irq(&victim, 10);
	drv_check(victim.config_irq_count > cfg_irqs, "%s: with a config-change interrupt", name);
	drv_check(bystander_ok((unsigned)++*n), "%s: the other device still serves I/O", name);
	drv_virtio_set_status(&victim, 0);
	drv_check(drv_virtio_status(&victim) == 0 && victim_up(0), "%s: reset brings it back", name);
	drv_virtio_driver_ok(&victim);
	drv_check(victim_serves(), "%s: and it serves requests again", name);
	drv_virtio_set_status(&victim, 0);
	victim_up(0);
}

int main(void)
{
	char img[] = "/tmp/vdm-malformed-XXXXXX";
	struct vdm_proc p;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int fd = mkstemp(img), st, n = 0;

	if (fd < 0 || ftruncate(fd, 1 << 20))
		return 99;
	close(fd);
	char blk[128];
	snprintf(blk, sizeof(blk), "3,virtio-blk,%s", img);
	if (vdm_spawn(&p, (const char *const[]){ "-m", "3G", "-s", blk, "-s", "4,virtio-rnd", NULL },
		      &st)) {
		drv_check(false, "vdm starts (%d)", st);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	struct drv_func *fv = func_at(nf, VICTIM_SLOT), *fb = func_at(nf, BYSTANDER_SLOT);
	drv_assign_bars(&d, fv, &mmio, &io);
	drv_assign_bars(&d, fb, &mmio, &io);
	if (drv_virtio_probe(&victim, &d, fv, 8 << 20) || drv_virtio_probe(&bystander, &d, fb, 32 << 20) ||
	    !victim_up(0) ||
	    drv_virtio_negotiate(&bystander, 1ULL << VIRTIO_F_VERSION_1) ||
	    drv_virtio_setup_irq(&bystander, true) || drv_virtio_setup_vq(&bystander, 0, 0)) {
		drv_check(false, "devices set up");
		return drv_result();
	}
	drv_virtio_driver_ok(&bystander);

	run_case("descriptor loop", desc_loop, &n);
	run_case("loop inside an indirect table", indirect_loop, &n);
	run_case("buffer outside guest RAM", outside_ram, &n);
	run_case("buffer straddling the end of RAM", straddles_ram_end, &n);
	run_case("buffer wrapping the address space", wraps_address_space, &n);
	run_case("chain longer than the queue", chain_longer_than_queue, &n);
	run_case("nested indirect table", nested_indirect, &n);
	run_case("indirect table with a bad length", indirect_bad_length, &n);
	run_case("lengths overflowing 32 bits", lengths_overflow, &n);
	run_case("head index beyond the queue", head_out_of_range, &n);
	run_case("avail index jumping past the queue size", avail_index_jump, &n);

	/* Bad queue size: enabling a ring of 3 entries is refused. */
	drv_virtio_set_status(&victim, 0);
	drv_virtio_negotiate(&victim, 1ULL << VIRTIO_F_VERSION_1);
	drv_virtio_setup_irq(&victim, true);
	drv_virtio_setup_vq(&victim, 0, 3);
	drv_check(needs_reset_seen(), "queue size 3: victim reports DEVICE_NEEDS_RESET");
	drv_check(bystander_ok((unsigned)++n), "queue size 3: the other device still serves I/O");
	drv_virtio_set_status(&victim, 0);
	drv_check(victim_up(0), "queue size 3: reset brings it back");
	drv_virtio_driver_ok(&victim);
	drv_check(victim_serves(), "queue size 3: and it serves requests again");

	drv_virtio_fini(&victim);
	drv_virtio_fini(&bystander);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm survived every case and stops cleanly (%d)", st);
	unlink(img);
	return drv_result();
}
