/*
 * test_fairness.c - a guest that keeps one device's queue full cannot starve
 * another device.  A second simulated vCPU (its own thread and simulator
 * connection) keeps virtio-blk A's queue full of reads, re-posting each one
 * the moment it completes and kicking every round, for the whole test.
 * Meanwhile the first vCPU does write+read-back pairs on virtio-blk B: at
 * least 100, and on until A has done 50000 reads in the meantime.
 *
 * The bound is a count, not a time: how many of A's requests vdm completes
 * while one of B's is waiting.  vdm serves every device from one event-loop
 * thread; a fair loop comes back to B after a bounded turn on A (at most a
 * few hundred requests: a budget per call times a few passes per kick),
 * whereas a loop that drains A for as long as A has work lets A run for as
 * long as the hammer keeps up.  The hammer's thread does the counting: it
 * notes its own completion count when the main vCPU has kicked B and again
 * when B's used index (read from guest RAM) moves, so descheduling of either
 * thread can only under-count, or over-count by A's queue depth.  B must
 * also complete every request (10 s each) and A must be busy throughout.
 */
#include "blk_guest.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096

/* Bound on A's completions while one B request waits (see above). */
#define MAX_A_PER_B 2048

static struct drv d_main, d_hammer;
static struct blk_guest a, b;
static volatile bool stop;
static volatile unsigned long a_done;
/* Main -> hammer, one word written after each kick: the request's number
 * (low 16 bits) and the used index that completes it (high 16 bits).
 * Hammer -> main: the worst count. */
static uint32_t b_kicked;
static volatile unsigned long worst_a_per_b;

static void measure(void)
{
	static uint32_t seen;
	static bool waiting;
	static unsigned long a_start;
	static uint16_t target;
	uint16_t *b_used = drv_gpa(&d_hammer, b.v.vq[0].used_gpa + 2, 2);
	uint32_t kicked = __atomic_load_n(&b_kicked, __ATOMIC_ACQUIRE);

	if (!waiting && kicked != seen) {
		seen = kicked;
		target = (uint16_t)(kicked >> 16);
		a_start = a_done;
		waiting = true;
	}
	if (waiting && (int16_t)(__atomic_load_n(b_used, __ATOMIC_ACQUIRE) - target) >= 0) {
		if (a_done - a_start > worst_a_per_b)
			worst_a_per_b = a_done - a_start;
		waiting = false;
	}
}

static void *hammer(void *arg)
{
	(void)arg;
	/* Interrupts off: this vCPU only polls. */
	drv_virtio_vq_interrupts(&a.v, 0, false);
	while (!stop) {
		int posted = 0;

		/* Fill every free descriptor with 4 KiB reads. */
		while (blk_guest_post(&a, VIRTIO_BLK_T_IN, (a_done * 8) % 8192, CHUNK) >= 0)
			posted++;
		if (posted)
			drv_virtio_kick(&a.v, 0);
		while (drv_virtio_get_used(&a.v, 0, NULL, NULL) == 1)
			a_done++;
		measure();
	}
	return NULL;
}

/* One B request: publish, kick, tell the hammer, wait. */
static int b_request(uint32_t type, uint64_t sector)
{
	uint16_t id;
	uint32_t used;

	if (blk_guest_post(&b, type, sector, CHUNK) < 0)
		return -1;
	static uint16_t seq;
	uint16_t target = (uint16_t)(b.v.vq[0].last_used + 1);

	drv_virtio_kick(&b.v, 0);
	__atomic_store_n(&b_kicked, (uint32_t)target << 16 | ++seq, __ATOMIC_RELEASE);
	if (drv_virtio_wait_used(&b.v, 0, &id, &used, 10000) != 1)
		return -1;
	return *(uint8_t *)drv_gpa(b.v.d, b.status, 1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	char ia[] = "/tmp/vdm-fair-a-XXXXXX", ib[] = "/tmp/vdm-fair-b-XXXXXX", sa[160], sb[160];
	struct vdm_proc p;
	struct drv_func funcs[8];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	pthread_t t;
	int st, fa = mkstemp(ia), fb = mkstemp(ib);

	if (fa < 0 || fb < 0 || ftruncate(fa, 4 << 20) || ftruncate(fb, 4 << 20))
		return 99;
	close(fa);
	close(fb);
	snprintf(sa, sizeof(sa), "3,virtio-blk,%s", ia);
	snprintf(sb, sizeof(sb), "4,virtio-blk,%s", ib);
	if (vdm_spawn(&p, (const char *const[]){ "-m", "256M", "-s", sa, "-s", sb, NULL }, &st)) {
		drv_check(false, "vdm starts (%d)", st);
		return drv_result();
	}
	/* The hammer's vCPU first: the newest interrupt listener (the main
	 * vCPU's) gets the interrupts, which B's waits use. */
	drv_connect(&d_hammer, p.sock);
	drv_connect(&d_main, p.sock);
	int nf = drv_enumerate(&d_main, funcs, 8);
	if (blk_guest_up(&b, &d_main, funcs, nf, 4, 64 << 20, CHUNK, 0, &mmio, &io) ||
	    blk_guest_up(&a, &d_main, funcs, nf, 3, 16 << 20, CHUNK, 0, &mmio, &io)) {
		drv_check(false, "devices set up");
		return drv_result();
	}
	a.v.d = &d_hammer; /* from now on A is driven by the hammer's vCPU */
	b.v.irq_grace_ms = 0;
	if (pthread_create(&t, NULL, hammer, NULL))
		return 99;
	while (a_done < 1000) /* A's queue is full and busy before B starts */
		usleep(1000);

	double t0 = now(), worst = 0;
	unsigned long a_start = a_done;
	int served = 0, i;
	/* At least 100 pairs, and on until A has done 50000 reads meanwhile. */
	for (i = 0; (i < 100 || a_done - a_start < 50000) && i < 100000; i++) {
		double t1 = now();
		uint8_t *buf = blk_guest_buf(&b);

		memset(buf, (uint8_t)(i + 1), CHUNK);
		uint64_t sector = (uint64_t)(i % 1000) * 8;

		if (b_request(VIRTIO_BLK_T_OUT, sector) != VIRTIO_BLK_S_OK)
			break;
		memset(buf, 0, CHUNK);
		if (b_request(VIRTIO_BLK_T_IN, sector) != VIRTIO_BLK_S_OK ||
		    buf[0] != (uint8_t)(i + 1) || buf[CHUNK - 1] != (uint8_t)(i + 1))
			break;
		if (now() - t1 > worst)
			worst = now() - t1;
		served++;
	}
	double elapsed = now() - t0;
	unsigned long a_during = a_done - a_start;
	stop = true;
	pthread_join(t, NULL);

	printf("B: %d of %d write+read pairs in %.2f s (slowest %.3f s); A: %lu reads meanwhile\n",
	       served, i, elapsed, worst, a_during);
	drv_check(served == i && served >= 100, "B completes every request while A's queue is kept "
		  "full (%d of %d; a wait over 10 s fails)", served, i);
	drv_check(worst_a_per_b <= MAX_A_PER_B, "at most %d of A's requests while one of B's waits "
		  "(worst: %lu)", MAX_A_PER_B, worst_a_per_b);
	drv_check(a_during >= 50000, "A was busy the whole time (%lu reads)", a_during);

	drv_disconnect(&d_main);
	drv_disconnect(&d_hammer);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
	unlink(ia);
	unlink(ib);
	return drv_result();
}
