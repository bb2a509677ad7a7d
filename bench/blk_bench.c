/*
 * blk_bench.c - virtio-blk data-plane figures on the simulator, measured side
 * by side in one run:
 *
 *   1. 4 KiB random reads and writes at queue depths 1, 8 and 32 on one
 *      image, served by vdm's VBS-U back-end and then, same driver and same
 *      image, routed with vhost=user: to qemu-storage-daemon; IOPS, mean and
 *      p99 latency, CPU time per request of vdm and of the back-end, and the
 *      VBS-U / qemu-storage-daemon ratios.
 *   2. Notification cost: the round trip of a request that moves no data
 *      (GET_ID, 20 bytes) from kick to completion interrupt, beside an
 *      eventfd ping-pong between two threads on the same CPU and on two CPUs.
 *   3. Footprint: vdm's resident set with four devices, and the time from
 *      starting vdm to the first completed I/O request.
 *   6. Live route switching: set-route's duration and the longest pause in
 *      the driver's reads while a disk moves between VBS-U and
 *      qemu-storage-daemon.
 *   7. Ring layouts: part 1's VBS-U series and part 2's empty request with
 *      the split ring and with the packed ring (VIRTIO_F_RING_PACKED), side
 *      by side.
 *
 *   blk-bench [-t SECONDS-PER-POINT] [-V] [-R] IMAGE
 *
 * -V runs only the VBS-U series (for profiling vdm, bench/profile.sh).
 * -R runs only part 7.
 * -S runs only part 5, the settings (-O NAME: only that one; -D DISK-IMAGE
 * adds disk-direct).  With -O, -A VARIANT (repeatable) compares variants of
 * vdm on that setting instead, alternated for -r ROUNDS (see run_ab): how a
 * lever or a change is measured before it is kept.
 *
 * IMAGE should live on tmpfs so the figures are about the data path, not the
 * disk.  The test driver (tests/driver) plays the guest; it waits for
 * completion interrupts (no polling), as a guest would.  Not a test: it
 * prints figures and never fails on them.
 */
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_blk.h>

#define SLOT 4
#define MAX_QD 32
#define MAX_SAMPLES (4 << 20)

struct point {
	double iops, mean_us, p99_us;
	double vdm_cpu_us, be_cpu_us; /* CPU time per request */
	double kicks, irqs;           /* the driver's kicks and interrupts, per request */
	long n;
};

struct bench {
	struct vdm_proc p;
	struct drv d;
	struct drv_func f;
	struct drv_virtio v;
	uint64_t hdr[MAX_QD], data[MAX_QD], status[MAX_QD];
	uint64_t sectors;
	pid_t backend; /* qemu-storage-daemon, or 0 */
	long kicks;    /* notifies the driver wrote */
};

/* Where the processes run: vdm (and qemu-storage-daemon) on dev_cpu, the
 * test driver on drv_cpu; -1 = wherever the scheduler likes. */
static int dev_cpu = -1, drv_cpu = -1;

static double seconds = 3;
/* The ring layout bench_start negotiates: 0 (split) or VIRTIO_F_RING_PACKED's bit. */
static uint64_t ring_features;
static void pin_for_device(void);
static void pin_for_driver(void);
static uint32_t *lat_ns; /* one run's latencies */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* utime + stime of pid, in microseconds. */
static double cpu_us(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static long status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			sscanf(line + strlen(field), ": %ld", &v);
	fclose(f);
	return v;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Post request slot i: 4 KiB of type at a random 4 KiB-aligned sector. */
static int post(struct bench *b, int i, uint32_t type)
{
	struct virtio_blk_outhdr *h = drv_gpa(&b->d, b->hdr[i], sizeof(*h));
	struct drv_buf out[2] = { { b->hdr[i], 16 } }, in[2];
	int nout = 1, nin = 0;
	uint64_t blocks = b->sectors / 8;

	*h = (struct virtio_blk_outhdr){ .type = type, .sector = rnd() % blocks * 8 };
	if (type == VIRTIO_BLK_T_OUT)
		out[nout++] = (struct drv_buf){ b->data[i], 4096 };
	else if (type == VIRTIO_BLK_T_IN)
		in[nin++] = (struct drv_buf){ b->data[i], 4096 };
	else /* GET_ID: 20 bytes, no I/O behind it */
		in[nin++] = (struct drv_buf){ b->data[i], 20 };
	in[nin++] = (struct drv_buf){ b->status[i], 1 };
	return drv_virtio_post(&b->v, 0, out, nout, in, nin, false);
}

/*
 * Start vdm with args (its -s options; the virtio-blk to drive at SLOT) and
 * bring that device up.  With first_io_ns, serve one 4 KiB read at once and
 * store the time from starting vdm to its completion; with spawn_ns, the
 * time until vdm accepted the driver.
 */
static bool bench_start(struct bench *b, const char *const *args, int64_t *spawn_ns,
			int64_t *first_io_ns)
{
	struct drv_func funcs[8];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int st, n;
	int64_t t0 = now_ns();

	pin_for_device();
	int spawned = vdm_spawn(&b->p, args, &st);
	pin_for_driver();
	if (spawned) {
		fprintf(stderr, "blk-bench: vdm did not start (exit %d)\n", st);
		return false;
	}
	if (spawn_ns)
		*spawn_ns = now_ns() - t0;
	drv_connect(&b->d, b->p.sock);
	n = drv_enumerate(&b->d, funcs, 8);
	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, SLOT, 0))
			b->f = funcs[i];
	drv_assign_bars(&b->d, &b->f, &mmio, &io);
	if (drv_virtio_probe(&b->v, &b->d, &b->f, 16 << 20) ||
	    drv_virtio_negotiate(&b->v, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_BLK_F_FLUSH |
						1ULL << VIRTIO_RING_F_EVENT_IDX | ring_features) ||
	    drv_virtio_setup_irq(&b->v, true) || drv_virtio_setup_vq(&b->v, 0, 0)) {
		fprintf(stderr, "blk-bench: the device did not initialise\n");
		return false;
	}
	drv_virtio_driver_ok(&b->v);
	b->v.irq_grace_ms = 0; /* count nothing, wait for nothing extra */
	b->sectors = drv_virtio_cfg_read(&b->v, 0, 8);
	for (int i = 0; i < MAX_QD; i++) {
		b->hdr[i] = drv_virtio_alloc(&b->v, 16, 16);
		b->status[i] = drv_virtio_alloc(&b->v, 1, 1);
		b->data[i] = drv_virtio_alloc(&b->v, 4096, 4096);
	}
	if (first_io_ns) {
		if (post(b, 0, VIRTIO_BLK_T_IN) < 0)
			return false;
		drv_virtio_kick(&b->v, 0);
		if (drv_virtio_wait_used(&b->v, 0, NULL, NULL, 5000) != 1)
			return false;
		*first_io_ns = now_ns() - t0;
	}
	return true;
}

static void bench_stop(struct bench *b)
{
	drv_virtio_fini(&b->v);
	drv_disconnect(&b->d);
	vdm_stop(&b->p);
}

/* Closed loop at depth qd for `seconds`. */
static struct point run(struct bench *b, uint32_t type, int qd)
{
	int64_t t0[MAX_QD], start, end, deadline;
	int slot_of[1024];
	struct point pt = { 0 };
	long n = 0;
	int outstanding = 0;
	double vdm0 = cpu_us(b->p.pid), be0 = cpu_us(b->backend);
	long kicks0 = b->kicks + 1, irqs0 = b->v.msi_count;

	for (int i = 0; i < qd; i++) {
		int id = post(b, i, type);

		if (id < 0)
			return pt;
		slot_of[id] = i;
		t0[i] = now_ns();
		outstanding++;
	}
	drv_virtio_kick(&b->v, 0);
	b->kicks++;
	start = now_ns();
	deadline = start + (int64_t)(seconds * 1e9);
	while (outstanding) {
		uint16_t id;
		int i;

		if (drv_virtio_wait_used(&b->v, 0, &id, NULL, 5000) != 1) {
			fprintf(stderr, "blk-bench: a request did not complete within 5 s\n");
			break;
		}
		i = slot_of[id];
		if (*(uint8_t *)drv_gpa(&b->d, b->status[i], 1) != VIRTIO_BLK_S_OK)
			fprintf(stderr, "blk-bench: request failed\n");
		if (n < MAX_SAMPLES)
			lat_ns[n] = (uint32_t)(now_ns() - t0[i]);
		n++;
		outstanding--;
		if (now_ns() < deadline) {
			int nid = post(b, i, type);

			slot_of[nid] = i;
			t0[i] = now_ns();
			outstanding++;
			if (drv_virtio_kick_needed(&b->v, 0)) {
				drv_virtio_kick(&b->v, 0);
				b->kicks++;
			}
		}
	}
	end = now_ns();
	long m = n < MAX_SAMPLES ? n : MAX_SAMPLES;
	double sum = 0;

	for (long i = 0; i < m; i++)
		sum += lat_ns[i];
	qsort(lat_ns, (size_t)m, sizeof(lat_ns[0]), cmp_u32);
	pt.n = n;
	pt.iops = (double)n / ((double)(end - start) / 1e9);
	pt.mean_us = m ? sum / (double)m / 1e3 : 0;
	pt.p99_us = m ? lat_ns[(long)((double)m * 0.99)] / 1e3 : 0;
	pt.vdm_cpu_us = n ? (cpu_us(b->p.pid) - vdm0) / (double)n : 0;
	pt.be_cpu_us = n ? (cpu_us(b->backend) - be0) / (double)n : 0;
	pt.kicks = n ? (double)(b->kicks - kicks0) / (double)n : 0;
	pt.irqs = n ? (double)(b->v.msi_count - irqs0) / (double)n : 0;
	return pt;
}

/* ---- eventfd ping-pong ---- */

struct pingpong {
	int a, b;
	int cpu;
	long rounds;
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Run what starts next on the device's CPU (children inherit it), then put
 * this thread, the driver, back on its own. */
static void pin_for_device(void)
{
	if (dev_cpu >= 0)
		pin(dev_cpu);
}

static void pin_for_driver(void)
{
	cpu_set_t all;

	if (drv_cpu >= 0) {
		pin(drv_cpu);
		return;
	}
	CPU_ZERO(&all);
	for (int i = 0; i < CPU_SETSIZE && i < sysconf(_SC_NPROCESSORS_ONLN); i++)
		CPU_SET(i, &all);
	sched_setaffinity(0, sizeof(all), &all);
}

static void *pong(void *arg)
{
	struct pingpong *pp = arg;
	eventfd_t v;

	pin(pp->cpu);
	for (long i = 0; i < pp->rounds; i++) {
		eventfd_read(pp->a, &v);
		eventfd_write(pp->b, 1);
	}
	return NULL;
}

/* Round trip in microseconds between this thread on CPU 0 and one on cpu. */
static double ping_pong(int cpu, long rounds)
{
	struct pingpong pp = { eventfd(0, 0), eventfd(0, 0), cpu, rounds };
	pthread_t t;
	eventfd_t v;
	cpu_set_t saved;
	int64_t t0;

	sched_getaffinity(0, sizeof(saved), &saved);
	pin(0);
	pthread_create(&t, NULL, pong, &pp);
	t0 = now_ns();
	for (long i = 0; i < rounds; i++) {
		eventfd_write(pp.a, 1);
		eventfd_read(pp.b, &v);
	}
	double us = (double)(now_ns() - t0) / (double)rounds / 1e3;
	pthread_join(t, NULL);
	close(pp.a);
	close(pp.b);
	sched_setaffinity(0, sizeof(saved), &saved);
	return us;
}

/* ---- qemu-storage-daemon ---- */

static pid_t qsd_start(const char *img, const char *sock, const char *file_opts)
{
	char blockdev[400], export[400];
	struct stat sb;
	pid_t pid;

	unlink(sock);
	snprintf(blockdev, sizeof(blockdev), "driver=file,node-name=d0,filename=%s,%s", img,
		 file_opts);
	snprintf(export, sizeof(export),
		 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,writable=on",
		 sock);
	pin_for_device();
	pid = fork();
	if (pid == 0) {
		execlp("qemu-storage-daemon", "qemu-storage-daemon", "--blockdev", blockdev,
		       "--export", export, (char *)NULL);
		_exit(127);
	}
	pin_for_driver();
	for (int i = 0; pid > 0 && i < 200; i++) {
		if (stat(sock, &sb) == 0 && S_ISSOCK(sb.st_mode))
			return pid;
		usleep(20000);
	}
	return -1;
}

static void qsd_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/* ---- report ---- */

static const int depths[] = { 1, 8, 32 };
enum { NDEPTH = 3 };

static void table(const char *title, struct point vb[2][NDEPTH], struct point vu[2][NDEPTH],
		  bool have_vu)
{
	static const char *const names[2] = { "randread", "randwrite" };

	printf("\n%s\n", title);
	printf("%-10s %3s | %9s %8s %8s %8s | %9s %8s %8s %8s %8s | %6s %6s\n", "workload", "QD",
	       "VBS-U IOPS", "mean us", "p99 us", "vdm us/r", "qsd IOPS", "mean us", "p99 us",
	       "vdm us/r", "qsd us/r", "IOPS", "CPU");
	for (int w = 0; w < 2; w++)
		for (int d = 0; d < NDEPTH; d++) {
			struct point *a = &vb[w][d], *q = &vu[w][d];
			double cpu_vu = q->vdm_cpu_us + q->be_cpu_us;

			printf("%-10s %3d | %9.0f %8.1f %8.1f %8.1f |", names[w], depths[d], a->iops,
			       a->mean_us, a->p99_us, a->vdm_cpu_us);
			if (have_vu)
				printf(" %9.0f %8.1f %8.1f %8.1f %8.1f | %6.2f %6.2f\n", q->iops,
				       q->mean_us, q->p99_us, q->vdm_cpu_us, q->be_cpu_us,
				       q->iops > 0 ? a->iops / q->iops : 0,
				       cpu_vu > 0 ? a->vdm_cpu_us / cpu_vu : 0);
			else
				printf(" %9s\n", "(no qemu-storage-daemon)");
		}
	printf("ratios: VBS-U / qemu-storage-daemon; CPU = vdm's CPU per request (VBS-U) over\n"
	       "vdm + qemu-storage-daemon per request (vhost-user); below 1 is cheaper.\n");
}

/* ---- ring layouts: split against packed, VBS-U ---- */

static void bench_rings(const char *img)
{
	static const char *const names[2] = { "randread", "randwrite" };
	struct point pt[2][2][NDEPTH], empty[2];
	struct bench b;
	char spec[400];

	snprintf(spec, sizeof(spec), "%d,virtio-blk,%s", SLOT, img);
	for (int packed = 0; packed < 2; packed++) {
		ring_features = packed ? 1ULL << VIRTIO_F_RING_PACKED : 0;
		memset(&b, 0, sizeof(b));
		if (!bench_start(&b, (const char *const[]){ "-s", spec, NULL }, NULL, NULL) ||
		    (b.v.features & (1ULL << VIRTIO_F_RING_PACKED)) != ring_features) {
			fprintf(stderr, "blk-bench: no %s ring\n", packed ? "packed" : "split");
			ring_features = 0;
			return;
		}
		for (int w = 0; w < 2; w++)
			for (int d = 0; d < NDEPTH; d++)
				pt[packed][w][d] =
					run(&b, w ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, depths[d]);
		empty[packed] = run(&b, VIRTIO_BLK_T_GET_ID, 1);
		bench_stop(&b);
	}
	ring_features = 0;
	printf("\n7. Ring layouts: 4 KiB random I/O and the empty request on VBS-U, split ring "
	       "against packed ring\n");
	printf("%-10s %3s | %10s %8s %8s %8s | %10s %8s %8s %8s | %6s %6s\n", "workload", "QD",
	       "split IOPS", "mean us", "p99 us", "vdm us/r", "packed IOPS", "mean us", "p99 us",
	       "vdm us/r", "IOPS", "CPU");
	for (int w = 0; w < 2; w++)
		for (int d = 0; d < NDEPTH; d++) {
			struct point *s = &pt[0][w][d], *p = &pt[1][w][d];

			printf("%-10s %3d | %10.0f %8.1f %8.1f %8.1f | %11.0f %8.1f %8.1f %8.1f | "
			       "%6.2f %6.2f\n",
			       names[w], depths[d], s->iops, s->mean_us, s->p99_us, s->vdm_cpu_us,
			       p->iops, p->mean_us, p->p99_us, p->vdm_cpu_us,
			       s->iops > 0 ? p->iops / s->iops : 0,
			       s->vdm_cpu_us > 0 ? p->vdm_cpu_us / s->vdm_cpu_us : 0);
		}
	printf("empty request (GET_ID), kick -> interrupt: split %.1f us (p99 %.1f), packed %.1f "
	       "us (p99 %.1f)\n",
	       empty[0].mean_us, empty[0].p99_us, empty[1].mean_us, empty[1].p99_us);
	printf("ratios: packed / split (IOPS: above 1 is faster; CPU: vdm's per request, below 1 "
	       "is cheaper).\n");
}

/* ---- settings: placement and cache mode, VBS-U against qemu-storage-daemon ---- */

struct setting {
	const char *name;
	const char *img;
	int dev_cpu, drv_cpu;
	const char *vdm_opts; /* appended to vdm's -s */
	const char *qsd_opts; /* qemu-storage-daemon's file driver options */
};

static const struct row {
	const char *name;
	uint32_t type;
	int qd;
} rows[] = {
	{ "randread", VIRTIO_BLK_T_IN, 1 },
	{ "randread", VIRTIO_BLK_T_IN, 32 },
	{ "randwrite", VIRTIO_BLK_T_OUT, 1 },
	{ "randwrite", VIRTIO_BLK_T_OUT, 32 },
};
enum { NROWS = sizeof(rows) / sizeof(rows[0]) };

/* The same rows with vdm serving img with spec (VBS-U), or routed to a
 * qemu-storage-daemon started with qsd_opts (spec NULL). */
static bool run_rows(struct point *out, const struct setting *st, const char *sock, bool vbsu,
		     const char *lever)
{
	char spec[600];
	struct bench b;

	memset(&b, 0, sizeof(b));
	if (vbsu) {
		snprintf(spec, sizeof(spec), "%d,virtio-blk,%s%s%s", SLOT, st->img, st->vdm_opts,
			 lever);
	} else {
		b.backend = qsd_start(st->img, sock, st->qsd_opts);
		if (b.backend <= 0)
			return false;
		snprintf(spec, sizeof(spec), "%d,virtio-blk,vhost=user:%s", SLOT, sock);
	}
	if (!bench_start(&b, (const char *const[]){ "-s", spec, NULL }, NULL, NULL)) {
		qsd_stop(b.backend);
		return false;
	}
	for (int i = 0; i < NROWS; i++)
		out[i] = run(&b, rows[i].type, rows[i].qd);
	bench_stop(&b);
	qsd_stop(b.backend);
	return true;
}

/* fio's 4 KiB O_DIRECT io_uring random reads at depth 32 on img: the disk's
 * own limit.  0 when fio is missing or fails. */
static double fio_ceiling(const char *img)
{
	char cmd[800], line[4096];
	double iops = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "fio --minimal --name=ceiling --filename='%s' --direct=1 --ioengine=io_uring "
		 "--rw=randread --bs=4k --iodepth=32 --runtime=%g --time_based --norandommap "
		 "2>/dev/null",
		 img, seconds);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	/* --minimal: terse, ';'-separated; field 8 is the read IOPS. */
	if (fgets(line, sizeof(line), f)) {
		char *tok = strtok(line, ";");

		for (int i = 1; tok && i < 8; i++)
			tok = strtok(NULL, ";");
		if (tok)
			iops = atof(tok);
	}
	pclose(f);
	return iops;
}

/*
 * The host's cache of this machine's disk decides its speed: measured
 * here, 4 KiB O_DIRECT random reads at QD32 on a file left alone for a
 * while ran at 3 500-4 100 IOPS, and at 63 000 right after one sequential
 * pass over it (2 GiB, 30 s cold, a few seconds warm).  Read it all once,
 * so every side meets the disk in the same state.
 */
static void disk_warm_up(const char *img)
{
	char cmd[800];

	snprintf(cmd, sizeof(cmd),
		 "fio --minimal --name=warm --filename='%s' --direct=1 --ioengine=io_uring "
		 "--rw=read --bs=1M --iodepth=8 >/dev/null 2>&1",
		 img);
	if (system(cmd))
		fprintf(stderr, "blk-bench: the sequential warm-up read of %s failed\n", img);
	fio_ceiling(img);
}

/* Rounds of disk-direct: the disk's speed swings by a fifth within minutes
 * (a shared host's storage), so one pass of each side says little. */
#define DISK_ROUNDS 3
#define STR(x) #x
#define XSTR(x) STR(x)

static int cmp_double(const void *a, const void *b);

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Each figure of a row: its median over n rounds. */
static struct point median_point(const struct point *pts, int n)
{
	double v[7][DISK_ROUNDS];
	struct point m = { 0 };

	for (int r = 0; r < n; r++) {
		const struct point *p = &pts[r];

		v[0][r] = p->iops, v[1][r] = p->mean_us, v[2][r] = p->p99_us;
		v[3][r] = p->vdm_cpu_us, v[4][r] = p->be_cpu_us;
		v[5][r] = p->kicks, v[6][r] = p->irqs;
	}
	m.iops = median(v[0], n), m.mean_us = median(v[1], n), m.p99_us = median(v[2], n);
	m.vdm_cpu_us = median(v[3], n), m.be_cpu_us = median(v[4], n);
	m.kicks = median(v[5], n), m.irqs = median(v[6], n);
	return m;
}

static void run_setting(const struct setting *st, const char *sock)
{
	struct point vb[NROWS] = { 0 }, vu[NROWS] = { 0 };
	struct point vbr[NROWS][DISK_ROUNDS], vur[NROWS][DISK_ROUNDS];
	double fio[DISK_ROUNDS] = { 0 }, ceiling[DISK_ROUNDS] = { 0 };
	bool ok = true;

	dev_cpu = st->dev_cpu;
	drv_cpu = st->drv_cpu;
	pin_for_driver();
	bool disk = !strcmp(st->name, "disk-direct");
	int rounds = disk ? DISK_ROUNDS : 1;
	/* Warm first, so the side measured first does not pay for a cold disk. */
	if (disk)
		disk_warm_up(st->img);
	/* vdm, fio, qemu-storage-daemon in turn, `rounds` times: fio runs right
	 * after vdm's rows, so each round's ceiling compares neighbours in time,
	 * and the figures printed are medians over the rounds. */
	for (int r = 0; r < rounds && ok; r++) {
		struct point a[NROWS] = { 0 }, b[NROWS] = { 0 };

		ok = run_rows(a, st, sock, true, "");
		if (ok && disk) {
			fio[r] = fio_ceiling(st->img);
			ceiling[r] = fio[r] > 0 ? a[1].iops / fio[r] : 0;
		}
		ok = ok && run_rows(b, st, sock, false, "");
		for (int i = 0; i < NROWS; i++)
			vbr[i][r] = a[i], vur[i][r] = b[i];
	}
	if (ok)
		for (int i = 0; i < NROWS; i++)
			vb[i] = median_point(vbr[i], rounds), vu[i] = median_point(vur[i], rounds);
	printf("\nsetting %s: vdm%s on CPU %d, driver on CPU %d; qemu-storage-daemon %s%s\n",
	       st->name, st->vdm_opts, st->dev_cpu, st->drv_cpu, st->qsd_opts,
	       rounds > 1 ? "; medians of " XSTR(DISK_ROUNDS) " rounds" : "");
	if (!ok) {
		printf("  (did not run: vdm or qemu-storage-daemon did not start)\n");
		return;
	}
	printf("%-10s %3s | %9s %8s %7s %7s | %9s %8s %7s %7s\n", "workload", "QD", "VBS-U IOPS",
	       "vdm us/r", "kicks/r", "irqs/r", "qsd IOPS", "cpu us/r", "kicks/r", "irqs/r");
	for (int i = 0; i < NROWS; i++)
		printf("%-10s %3d | %9.0f %8.1f %7.3f %7.3f | %9.0f %8.1f %7.3f %7.3f\n", rows[i].name,
		       rows[i].qd, vb[i].iops, vb[i].vdm_cpu_us, vb[i].kicks, vb[i].irqs, vu[i].iops,
		       vu[i].vdm_cpu_us + vu[i].be_cpu_us, vu[i].kicks, vu[i].irqs);
	for (int i = 0; i < NROWS; i++) {
		double both = vu[i].vdm_cpu_us + vu[i].be_cpu_us;

		if (rows[i].type == VIRTIO_BLK_T_OUT && rows[i].qd == 1)
			continue; /* the three lines; the row is in the table */
		printf("ratio %s qd%d %s: iops %.2f cpu %.2f\n", rows[i].name, rows[i].qd, st->name,
		       vu[i].iops > 0 ? vb[i].iops / vu[i].iops : 0,
		       both > 0 ? vb[i].vdm_cpu_us / both : 0);
	}
	/* Each lever against vdm's defaults, same setting: kept only where it wins. */
	static const char *const levers[] = { ",iothread", ",poll=off" };
	for (unsigned l = 0; l < sizeof(levers) / sizeof(levers[0]); l++) {
		struct point lv[NROWS] = { 0 };

		if (!run_rows(lv, st, sock, true, levers[l]))
			continue;
		printf("lever %s %s: IOPS with / without:", levers[l] + 1, st->name);
		for (int i = 0; i < NROWS; i++)
			printf(" %s qd%d %.2f%s", rows[i].name, rows[i].qd,
			       vb[i].iops > 0 ? lv[i].iops / vb[i].iops : 0, i < NROWS - 1 ? "," : "");
		printf("; vdm us/r:");
		for (int i = 0; i < NROWS; i++)
			printf(" %.1f", lv[i].vdm_cpu_us);
		printf("; kicks/r:");
		for (int i = 0; i < NROWS; i++)
			printf(" %.3f", lv[i].kicks);
		printf("\n");
	}
	if (disk) {
		printf("fio O_DIRECT io_uring randread qd32 on the same file, each round:");
		for (int r = 0; r < rounds; r++)
			printf(" %.0f", fio[r]);
		printf(" IOPS\nceiling (vdm / fio) each round:");
		for (int r = 0; r < rounds; r++)
			printf(" %.2f", ceiling[r]);
		printf("\nceiling randread qd32 %s: %.2f\n", st->name, median(ceiling, rounds));
	}
}

/* ---- A/B: variants of vdm on one setting, alternated ---- */

/*
 * -A VARIANT (repeatable) with -O SETTING: the rows of SETTING for each
 * variant in turn, `rounds` times round, then each variant's median IOPS
 * per row.  A variant is vdm's extra -s options (",poll=off"), optionally
 * after another vdm binary and '@' ("/tmp/vdm-b@,iothread").  Alternating
 * puts both sides through the same drift of a shared machine's disk.
 */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void run_ab(const struct setting *st, const char *sock, char **variants, int nvar,
		   int rounds)
{
	enum { MAX_ROUNDS = 15 };
	static double iops[8][NROWS][MAX_ROUNDS];
	static double cpu[8][NROWS][MAX_ROUNDS];

	const char *env = getenv("VDM");
	char *vdm = env ? strdup(env) : NULL;

	if (rounds > MAX_ROUNDS)
		rounds = MAX_ROUNDS;
	dev_cpu = st->dev_cpu;
	drv_cpu = st->drv_cpu;
	pin_for_driver();
	if (!strcmp(st->name, "disk-direct"))
		disk_warm_up(st->img); /* as in run_setting */
	for (int r = 0; r < rounds; r++)
		for (int v = 0; v < nvar; v++) {
			struct point pt[NROWS] = { 0 };
			char *at = strchr(variants[v], '@');
			const char *opts = at ? at + 1 : variants[v];

			if (at) {
				*at = 0;
				setenv("VDM", variants[v], 1);
			}
			run_rows(pt, st, sock, true, opts);
			if (at) {
				*at = '@';
				if (vdm)
					setenv("VDM", vdm, 1);
				else
					unsetenv("VDM");
			}
			for (int i = 0; i < NROWS; i++) {
				iops[v][i][r] = pt[i].iops;
				cpu[v][i][r] = pt[i].vdm_cpu_us;
			}
		}
	printf("\nA/B on %s, median of %d alternated rounds (IOPS, vdm us/r)\n", st->name, rounds);
	for (int v = 0; v < nvar; v++) {
		printf("%-40s", variants[v][0] ? variants[v] : "(defaults)");
		for (int i = 0; i < NROWS; i++) {
			qsort(iops[v][i], (size_t)rounds, sizeof(double), cmp_double);
			qsort(cpu[v][i], (size_t)rounds, sizeof(double), cmp_double);
			printf(" | %s qd%d %7.0f %5.1f", rows[i].name, rows[i].qd,
			       iops[v][i][rounds / 2], cpu[v][i][rounds / 2]);
		}
		printf("\n");
	}
	free(vdm);
}

/* ---- live route switching ---- */

/* One management-API request on sock; true when vdm returned. */
static bool api_request(const char *sock, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t have = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || dprintf(fd, "%s\n", req) < 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		if (strstr(buf, "\"return\"") || strstr(buf, "\"error\"")) {
			close(fd);
			return strstr(buf, "\"return\"") != NULL;
		}
		if (have >= sizeof(buf) - 1)
			break;
	}
	close(fd);
	return false;
}

struct switcher {
	const char *api, *vu;
	int n, failed;
	double total_ms, max_ms;
	volatile bool done;
};

static void *switch_routes(void *arg)
{
	struct switcher *sw = arg;
	char req[400];

	for (int i = 0; i < sw->n; i++) {
		usleep(100000);
		snprintf(req, sizeof(req),
			 "{\"execute\": \"set-route\", \"arguments\": {\"slot\": \"%d\", "
			 "\"route\": \"%s\"}}",
			 SLOT, i % 2 ? "vbs-u" : sw->vu);
		int64_t t0 = now_ns();
		bool ok = api_request(sw->api, req);
		double ms = (double)(now_ns() - t0) / 1e6;

		sw->failed += !ok;
		sw->total_ms += ms;
		if (ms > sw->max_ms)
			sw->max_ms = ms;
	}
	sw->done = true;
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Part 6: a disk served by VBS-U moves 10 times to qemu-storage-daemon
 * (same image, both with the page cache and locking=off) and back while
 * the driver reads at queue depth 1: how long set-route takes, and the
 * longest gap between two completions the guest sees.
 */
static void bench_switch(const char *img, const char *dir)
{
	char api[300], sock[300], spec[400], vu[320];
	struct switcher sw = { .n = 10 };
	static int64_t gaps[1 << 20];
	struct bench b;
	pthread_t t;
	long n = 0;

	snprintf(api, sizeof(api), "%s/api.sock", dir);
	snprintf(sock, sizeof(sock), "%s/qsd-switch.sock", dir);
	snprintf(vu, sizeof(vu), "vhost-user:%s", sock);
	snprintf(spec, sizeof(spec), "%d,virtio-blk,%s,locking=off", SLOT, img);
	memset(&b, 0, sizeof(b));
	dev_cpu = drv_cpu = -1;
	pin_for_driver();
	b.backend = qsd_start(img, sock, "cache.direct=off,locking=off");
	printf("\n6. Live route switch (virtio-blk: VBS-U <-> qemu-storage-daemon, 10 switches "
	       "under 4 KiB reads at QD1)\n");
	if (b.backend <= 0 ||
	    !bench_start(&b, (const char *const[]){ "--api-socket", api, "-s", spec, NULL }, NULL,
			 NULL)) {
		printf("  (did not run: vdm or qemu-storage-daemon did not start)\n");
		qsd_stop(b.backend);
		return;
	}
	sw.api = api;
	sw.vu = vu;
	pthread_create(&t, NULL, switch_routes, &sw);
	int64_t last = now_ns(), start = last;
	while (!sw.done && n < (long)(sizeof(gaps) / sizeof(gaps[0]))) {
		uint16_t id;

		if (post(&b, 0, VIRTIO_BLK_T_IN) < 0)
			break;
		if (drv_virtio_kick_needed(&b.v, 0))
			drv_virtio_kick(&b.v, 0);
		if (drv_virtio_wait_used(&b.v, 0, &id, NULL, 10000) != 1) {
			fprintf(stderr, "blk-bench: a read did not complete within 10 s\n");
			break;
		}
		int64_t now = now_ns();
		gaps[n++] = now - last;
		last = now;
	}
	pthread_join(t, NULL);
	double secs = (double)(last - start) / 1e9;
	bench_stop(&b);
	qsd_stop(b.backend);
	qsort(gaps, (size_t)n, sizeof(gaps[0]), cmp_i64);
	printf("  set-route, request to serving on the new route: mean %.1f ms, max %.1f ms "
	       "(%d of %d failed)\n",
	       sw.n ? sw.total_ms / sw.n : 0, sw.max_ms, sw.failed, sw.n);
	printf("  guest reads meanwhile: %ld in %.1f s; gap between completions median %.1f us, "
	       "longest %.1f ms\n",
	       n, secs, n ? (double)gaps[n / 2] / 1e3 : 0, n ? (double)gaps[n - 1] / 1e6 : 0);
}

int main(int argc, char **argv)
{
	static struct point vb[2][NDEPTH], vu[2][NDEPTH];
	struct point nb = { 0 }, nu = { 0 };
	char spec[400], sock[300], dir[] = "/tmp/vdm-bench-XXXXXX";
	const char *img;
	struct bench b;
	int64_t first_io = 0;
	int opt;

	bool vbsu_only = false, settings_only = false, rings_only = false;
	const char *disk_img = NULL, *only = NULL;
	char *variants[8];
	int nvar = 0, rounds = 5;

	while ((opt = getopt(argc, argv, "t:VSRD:O:A:r:")) != -1) {
		if (opt == 't')
			seconds = atof(optarg);
		else if (opt == 'R')
			rings_only = true;
		else if (opt == 'V')
			vbsu_only = true;
		else if (opt == 'S')
			settings_only = true;
		else if (opt == 'D')
			disk_img = optarg;
		else if (opt == 'O')
			only = optarg;
		else if (opt == 'A' && nvar < 8)
			variants[nvar++] = optarg;
		else if (opt == 'r')
			rounds = atoi(optarg);
		else
			goto usage;
	}
	if (optind != argc - 1 || seconds <= 0 || rounds < 1 || (nvar && !only)) {
usage:
		fprintf(stderr, "usage: blk-bench [-t SECONDS-PER-POINT] [-V] [-R] [-S [-O SETTING "
				"[-A VARIANT]... [-r ROUNDS]]] [-D DISK-IMAGE] IMAGE\n");
		return 2;
	}
	img = argv[optind];
	lat_ns = malloc(sizeof(*lat_ns) * MAX_SAMPLES);
	if (!lat_ns || !mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof(sock), "%s/blk.sock", dir);

	if (rings_only) {
		bench_rings(img);
		rmdir(dir);
		return 0;
	}
	if (settings_only) {
		/* Placement decides how much a kick costs: measure both, and the
		 * disk with the page cache out of the way. */
		int cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
		const struct setting settings[] = {
			{ "tmpfs-same-cpu", img, 0, 0, "", "cache.direct=off" },
			{ "tmpfs-split-cpu", img, cpus > 1 ? 1 : 0, 0, "", "cache.direct=off" },
			{ "disk-direct", disk_img, -1, -1, ",nocache", "cache.direct=on,aio=io_uring" },
		};
		printf("\n5. Placement and cache settings: 4 KiB random I/O, VBS-U vs "
		       "qemu-storage-daemon (vhost-user), same driver\n");
		printf("kicks/r, irqs/r: the driver's notifications and the interrupts it got, per "
		       "request;\nratio: iops VBS-U / qsd, cpu = vdm's CPU per request / (vdm + qsd "
		       "per request)\n");
		for (unsigned i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
			if (!settings[i].img || (only && strcmp(only, settings[i].name)))
				continue;
			if (nvar)
				run_ab(&settings[i], sock, variants, nvar, rounds);
			else
				run_setting(&settings[i], sock);
		}
		rmdir(dir);
		return 0;
	}

	/* VBS-U. */
	memset(&b, 0, sizeof(b));
	snprintf(spec, sizeof(spec), "%d,virtio-blk,%s", SLOT, img);
	if (!bench_start(&b, (const char *const[]){ "-s", spec, NULL }, NULL, NULL))
		return 1;
	for (int w = 0; w < 2; w++)
		for (int d = 0; d < NDEPTH; d++)
			vb[w][d] = run(&b, w ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, depths[d]);
	nb = run(&b, VIRTIO_BLK_T_GET_ID, 1);
	bench_stop(&b);

	/* vhost-user to qemu-storage-daemon, same image. */
	bool have_vu = !vbsu_only && system("command -v qemu-storage-daemon >/dev/null 2>&1") == 0;
	if (have_vu) {
		memset(&b, 0, sizeof(b));
		b.backend = qsd_start(img, sock, "cache.direct=off");
		snprintf(spec, sizeof(spec), "%d,virtio-blk,vhost=user:%s", SLOT, sock);
		have_vu = b.backend > 0 &&
			  bench_start(&b, (const char *const[]){ "-s", spec, NULL }, NULL, NULL);
		if (have_vu) {
			for (int w = 0; w < 2; w++)
				for (int d = 0; d < NDEPTH; d++)
					vu[w][d] = run(&b, w ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
						       depths[d]);
			nu = run(&b, VIRTIO_BLK_T_GET_ID, 1);
			bench_stop(&b);
		}
		qsd_stop(b.backend);
	}
	table("1. 4 KiB random I/O on a tmpfs image, test driver on the simulator", vb, vu,
	      have_vu);
	if (vbsu_only)
		return 0;

	/* Notification cost. */
	double same = ping_pong(0, 20000);
	double cross = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? ping_pong(1, 20000) : 0;
	printf("\n2. Notification cost (round trip, microseconds)\n");
	printf("  empty request (GET_ID), kick -> interrupt, VBS-U:        %8.1f  (p99 %.1f)\n",
	       nb.mean_us, nb.p99_us);
	if (have_vu)
		printf("  empty request (GET_ID), kick -> interrupt, vhost-user:   %8.1f  (p99 %.1f)\n",
		       nu.mean_us, nu.p99_us);
	printf("  eventfd ping-pong, two threads on one CPU:               %8.1f\n", same);
	printf("  eventfd ping-pong, two threads on two CPUs:              %8.1f\n", cross);
	printf("  empty request / one-CPU ping-pong: %.1f; / two-CPU ping-pong: %.1f\n",
	       same > 0 ? nb.mean_us / same : 0, cross > 0 ? nb.mean_us / cross : 0);

	/* Footprint: four devices. */
	char img2[300], con[300], s2[400];
	int64_t spawned = 0;
	int fd;

	snprintf(img2, sizeof(img2), "%s/second.img", dir);
	snprintf(con, sizeof(con), "6,virtio-console,socket:%s/con.sock", dir);
	snprintf(spec, sizeof(spec), "%d,virtio-blk,%s", SLOT, img);
	snprintf(s2, sizeof(s2), "5,virtio-blk,%s", img2);
	fd = open(img2, O_RDWR | O_CREAT, 0644);
	memset(&b, 0, sizeof(b));
	if (fd >= 0 && ftruncate(fd, 64 << 20) == 0 &&
	    bench_start(&b, (const char *const[]){ "-s", spec, "-s", s2, "-s", con, "-s",
						    "7,virtio-rnd", NULL },
			&spawned, &first_io)) {
		printf("\n4. Footprint (vdm with 2 x virtio-blk, virtio-console, virtio-rnd)\n");
		printf("  resident set: %ld KiB now, %ld KiB peak (VmRSS, VmHWM)\n",
		       status_kib(b.p.pid, "VmRSS"), status_kib(b.p.pid, "VmHWM"));
		printf("  start -> accepting the guest: %.1f ms; start -> first 4 KiB read served "
		       "(enumeration and set-up included): %.1f ms\n",
		       (double)spawned / 1e6, (double)first_io / 1e6);
		bench_stop(&b);
	}
	if (fd >= 0)
		close(fd);
	unlink(img2);
	if (system("command -v qemu-storage-daemon >/dev/null 2>&1") == 0)
		bench_switch(img, dir);
	bench_rings(img);
	rmdir(dir);
	return 0;
}
