/*
 * test_fairness.c - a guest that keeps one device's queue full cannot starve
 * another device.  A second simulated vCPU (its own thread and simulator
 * connection) keeps device A's queue full, re-posting each request the
 * moment it completes and kicking every round, for the whole test.  A is
 * chosen at build time (FAIR_HAMMER): virtio-blk reads (test_fairness),
 * virtio-rnd 4 KiB entropy requests (test_fairness_rnd) or virtio-net
 * transmits of 1514-byte frames to a TAP in a private network namespace
 * (test_fairness_net; needs root).  Meanwhile the first vCPU does
 * write+read-back pairs on virtio-blk B: at least 100, and on until A has
 * done 50000 requests in the meantime.
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

#include "netns_tap.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096
/* A's requests are large enough that serving one costs vdm more than
 * re-posting it costs the hammer: the hammer keeps A's queue full even when
 * it shares a CPU with vdm. */
#define A_CHUNK (64 * 1024)
#define A_SECTORS (A_CHUNK / 512)

#define HAMMER_BLK 1
#define HAMMER_RND 2
#define HAMMER_NET 3
#ifndef FAIR_HAMMER
#define FAIR_HAMMER HAMMER_BLK
#endif

#if FAIR_HAMMER == HAMMER_BLK
#define A_SPEC "3,virtio-blk,%s"
#define A_QUEUE 0
#define A_WHAT "reads"
#elif FAIR_HAMMER == HAMMER_RND
#define A_SPEC "3,virtio-rnd%.0s" /* (the image name is not used) */
#define A_QUEUE 0
#define A_WHAT "entropy requests"
#elif FAIR_HAMMER == HAMMER_NET
#define TAP "vdmfair0"
#define A_SPEC "3,virtio-net,tap=" TAP "%.0s"
#define A_QUEUE 1 /* transmit */
#define A_WHAT "frames sent"
#define FRAME 1514
#define NET_HDR 12 /* virtio_net_hdr_v1 */
#else
#error "FAIR_HAMMER: HAMMER_BLK, HAMMER_RND or HAMMER_NET"
#endif

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

/* Post one of A's requests, no kick; -1 when the queue is full.  The
 * requests share one buffer: what A's data is does not matter here. */
static int a_post(void)
{
#if FAIR_HAMMER == HAMMER_BLK
	return blk_guest_post(&a, VIRTIO_BLK_T_IN,
			      (a_done * A_SECTORS) % (8192 - A_SECTORS), A_CHUNK);
#elif FAIR_HAMMER == HAMMER_RND
	struct drv_buf in = { a.data, A_CHUNK };

	return drv_virtio_post(&a.v, A_QUEUE, NULL, 0, &in, 1, false);
#else
	struct drv_buf out = { a.data, NET_HDR + FRAME };

	return drv_virtio_post(&a.v, A_QUEUE, &out, 1, NULL, 0, false);
#endif
}

static void *hammer(void *arg)
{
	(void)arg;
	/* Interrupts off: this vCPU only polls. */
	drv_virtio_vq_interrupts(&a.v, A_QUEUE, false);
	while (!stop) {
		int posted = 0;

		/* Fill every free descriptor. */
		while (a_post() >= 0)
			posted++;
		if (posted)
			drv_virtio_kick(&a.v, A_QUEUE);
		while (drv_virtio_get_used(&a.v, A_QUEUE, NULL, NULL) == 1)
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

#if FAIR_HAMMER == HAMMER_NET
/* Frames the TAP took from vdm (its receive side, seen from the host), from
 * /proc/net/dev, which is this namespace's view (/sys/class/net is not). */
static unsigned long long tap_rx_frames(void)
{
	FILE *f = fopen("/proc/net/dev", "r");
	unsigned long long bytes, packets = 0;
	char line[512];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, TAP ":");

		if (p && sscanf(p + strlen(TAP ":"), "%llu %llu", &bytes, &packets) == 2)
			break;
		packets = 0;
	}
	fclose(f);
	return packets;
}
#endif

/* Bring A up with queues 0..A_QUEUE, and its request buffer: a 4 KiB
 * data buffer, or for virtio-net one frame (zero header, broadcast to an
 * EtherType nobody listens to) that every transmit sends again. */
static int a_up(struct drv *d, struct drv_func *funcs, int nf, uint64_t *mmio, uint32_t *io)
{
#if FAIR_HAMMER == HAMMER_NET
	if (virtio_guest_up(&a.v, d, funcs, nf, 3, 16 << 20, 0, 2, mmio, io))
		return -1;
	a.data = drv_virtio_alloc(&a.v, NET_HDR + FRAME, 64);
	uint8_t *p = drv_gpa(d, a.data, NET_HDR + FRAME);

	memset(p, 0, NET_HDR + FRAME);
	memset(p + NET_HDR, 0xff, 6);                      /* to: broadcast */
	memcpy(p + NET_HDR + 6, "\x52\x54\x00\xfa\x1e\x01", 6); /* from: locally made */
	p[NET_HDR + 12] = 0x88;                            /* EtherType 0x88b5: */
	p[NET_HDR + 13] = 0xb5;                            /* local experimental */
	return 0;
#else
	return blk_guest_up(&a, d, funcs, nf, 3, 16 << 20, A_CHUNK, 0, mmio, io);
#endif
}

int main(void)
{
	/*
	 * The images live on tmpfs, where vdm serves requests inline: the
	 * count then measures the event loop's fairness alone.  On a disk
	 * file B's writes go to the kernel's I/O workers, and how soon those
	 * run beside a busy vdm and hammer on two CPUs is the scheduler's
	 * business, not the loop's (A's requests completing meanwhile are
	 * not unfair).
	 */
	char ia[] = "/dev/shm/vdm-fair-a-XXXXXX", ib[] = "/dev/shm/vdm-fair-b-XXXXXX", sa[160],
	     sb[160];
	struct vdm_proc p;
	struct drv_func funcs[8];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	pthread_t t;
	int st, fa, fb;

	if (access("/dev/shm", W_OK)) { /* no tmpfs there: the disk, as a fallback */
		memcpy(ia, "/tmp/vdm-fair-a-XXXXXX", sizeof("/tmp/vdm-fair-a-XXXXXX"));
		memcpy(ib, "/tmp/vdm-fair-b-XXXXXX", sizeof("/tmp/vdm-fair-b-XXXXXX"));
	}
	fa = mkstemp(ia);
	fb = mkstemp(ib);

	if (fa < 0 || fb < 0 || ftruncate(fa, 4 << 20) || ftruncate(fb, 4 << 20))
		return 99;
	close(fa);
	close(fb);
#if FAIR_HAMMER == HAMMER_NET
	if (!netns_tap(TAP, 1500, "10.0.0.1/24")) {
		printf("SKIP: needs root, /dev/net/tun and ip(8) to make a TAP in a namespace\n");
		unlink(ia);
		unlink(ib);
		return 77;
	}
#endif
	snprintf(sa, sizeof(sa), A_SPEC, ia);
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
	    a_up(&d_main, funcs, nf, &mmio, &io)) {
		drv_check(false, "devices set up");
		return drv_result();
	}
	a.v.d = &d_hammer; /* from now on A is driven by the hammer's vCPU */
	b.v.irq_grace_ms = 0;
	if (pthread_create(&t, NULL, hammer, NULL))
		return 99;
	while (a_done < 1000) /* A's queue is full and busy before B starts */
		usleep(1000);

#if FAIR_HAMMER == HAMMER_NET
	unsigned long long tap_before = tap_rx_frames();
#endif
	double t0 = now(), worst = 0;
	unsigned long a_start = a_done;
	int served = 0, i;
	/* At least 100 pairs, and on until A has done 50000 requests meanwhile. */
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

	printf("B: %d of %d write+read pairs in %.2f s (slowest %.3f s); A: %lu " A_WHAT
	       " meanwhile\n", served, i, elapsed, worst, a_during);
	drv_check(served == i && served >= 100, "B completes every request while A's queue is kept "
		  "full (%d of %d; a wait over 10 s fails)", served, i);
	drv_check(worst_a_per_b <= MAX_A_PER_B, "at most %d of A's requests while one of B's waits "
		  "(worst: %lu)", MAX_A_PER_B, worst_a_per_b);
	drv_check(a_during >= 50000, "A was busy the whole time (%lu " A_WHAT ")", a_during);
#if FAIR_HAMMER == HAMMER_NET
	/* Transmits are completed once written: the TAP has them all.  Up to a
	 * queue's worth of them may have reached it before tap_before was
	 * read and been reaped only after a_start. */
	unsigned long long tap_got = tap_rx_frames() - tap_before;
	drv_check(tap_got + a.v.vq[A_QUEUE].size >= a_during,
		  "the TAP received every frame sent meanwhile (%llu of %lu)", tap_got, a_during);
#endif

	drv_disconnect(&d_main);
	drv_disconnect(&d_hammer);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
	unlink(ia);
	unlink(ib);
	return drv_result();
}
