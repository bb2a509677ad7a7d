/*
 * test_acrn_vcpus.c - four vCPUs at once over the acrn back-end and the
 * HSM model: each has its own ioreq slot, and they issue requests at the
 * same time.  vCPU 0 and 1 write and read back virtio-blk sectors on two
 * disks, vCPU 2 takes entropy from virtio-rnd, vCPU 3 reads config space
 * and device config; each also reads its own function's config space
 * between requests, so all four keep exiting.  Every result must be right, the model must have seen
 * several vCPUs waiting at once, and no protocol violation.
 */
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_blk.h>

#define NVCPU 4
#define ROUNDS 150
#define IMG_SECTORS 2048

struct worker {
	struct drv d;
	struct drv_virtio *v; /* the device this vCPU drives, if any */
	struct drv_func *funcs;
	int nfuncs;
	int id;
	int errors;
	int done;
	char why[160];
};

static pthread_barrier_t start;
static struct drv_virtio blk[2], rnd;

static void fail(struct worker *w, const char *why)
{
	if (!w->errors++)
		snprintf(w->why, sizeof(w->why), "%s (round %d)", why, w->done);
}

/* Post, kick and poll for the used entry (no interrupts: four threads
 * share one interrupt link). */
static int run_chain(struct drv_virtio *v, const struct drv_buf *out, int nout,
		     const struct drv_buf *in, int nin, uint32_t *len)
{
	uint16_t id;

	if (drv_virtio_post(v, 0, out, nout, in, nin, false) < 0)
		return -1;
	drv_virtio_kick(v, 0);
	for (int i = 0; i < 50000; i++) {
		int r = drv_virtio_get_used(v, 0, &id, len);

		if (r)
			return r == 1 ? 0 : -1;
		usleep(100);
	}
	return -1;
}

/* A burst of I/O exits on this vCPU's own function: config-space reads of
 * its IDs (kicks alone are ioeventfds, which never reach a slot). */
static bool exits(struct worker *w, const struct drv_func *f)
{
	for (int i = 0; i < 8; i++)
		if (drv_cfg_read(&w->d, f->bdf, 0, 4) != ((uint32_t)f->device << 16 | f->vendor))
			return false;
	return true;
}

static void blk_rounds(struct worker *w)
{
	struct drv_virtio *v = w->v;
	uint64_t hdr = drv_virtio_alloc(v, 16, 16), st = drv_virtio_alloc(v, 1, 1);
	uint64_t data = drv_virtio_alloc(v, 4096, 4096);
	uint8_t *p = drv_gpa(&w->d, data, 4096);
	uint8_t expect[4096];

	for (w->done = 0; w->done < ROUNDS; w->done++) {
		struct virtio_blk_outhdr *h = drv_gpa(&w->d, hdr, sizeof(*h));
		uint64_t sector = (uint64_t)(w->done * 8) % IMG_SECTORS;
		uint32_t len;

		if (!exits(w, v->f) || drv_mmio_read(&w->d, v->device_cfg, 4) != IMG_SECTORS)
			return fail(w, "config or capacity read wrong");
		for (int i = 0; i < 4096; i++)
			expect[i] = (uint8_t)(w->id * 61 + w->done * 13 + i);
		memcpy(p, expect, sizeof(expect));
		*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = sector };
		*(uint8_t *)drv_gpa(&w->d, st, 1) = 0xee;
		struct drv_buf wout[2] = { { hdr, 16 }, { data, 4096 } }, win[1] = { { st, 1 } };
		if (run_chain(v, wout, 2, win, 1, &len) || *(uint8_t *)drv_gpa(&w->d, st, 1) != 0)
			return fail(w, "write did not complete with OK");
		memset(p, 0, 4096);
		*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = sector };
		struct drv_buf rout[1] = { { hdr, 16 } }, rin[2] = { { data, 4096 }, { st, 1 } };
		if (run_chain(v, rout, 1, rin, 2, &len) || *(uint8_t *)drv_gpa(&w->d, st, 1) != 0)
			return fail(w, "read did not complete with OK");
		if (memcmp(p, expect, 4096))
			return fail(w, "read back differs from what was written");
	}
}

static void rnd_rounds(struct worker *w)
{
	uint64_t buf = drv_virtio_alloc(w->v, 64, 64);
	uint8_t *p = drv_gpa(&w->d, buf, 64), zero[64] = { 0 };

	for (w->done = 0; w->done < ROUNDS; w->done++) {
		uint32_t len = 0;
		struct drv_buf in[1] = { { buf, 64 } };

		if (!exits(w, w->v->f))
			return fail(w, "config read returned another function's IDs");
		memset(p, 0, 64);
		if (run_chain(w->v, NULL, 0, in, 1, &len) || len != 64)
			return fail(w, "entropy request did not return 64 bytes");
		if (!memcmp(p, zero, 64))
			return fail(w, "entropy buffer left zero");
	}
}

static void cfg_rounds(struct worker *w)
{
	for (w->done = 0; w->done < ROUNDS * 4; w->done++) {
		const struct drv_func *f = &w->funcs[w->done % w->nfuncs];
		uint32_t id = drv_cfg_read(&w->d, f->bdf, 0, 4);

		if (id != ((uint32_t)f->device << 16 | f->vendor))
			return fail(w, "config read returned another function's IDs");
		if (drv_mmio_read(&w->d, blk[w->done & 1].device_cfg, 4) != IMG_SECTORS)
			return fail(w, "virtio-blk capacity read wrong");
	}
}

static void *vcpu(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start);
	if (w->id < 2)
		blk_rounds(w);
	else if (w->id == 2)
		rnd_rounds(w);
	else
		cfg_rounds(w);
	return NULL;
}

static bool setup(struct drv_virtio *v, struct drv *d, struct drv_func *f, uint64_t heap)
{
	if (drv_virtio_probe(v, d, f, heap) ||
	    drv_virtio_negotiate(v, 1ULL << VIRTIO_F_VERSION_1) || drv_virtio_setup_irq(v, true) ||
	    drv_virtio_setup_vq(v, 0, 0))
		return false;
	drv_virtio_vq_interrupts(v, 0, false);
	drv_virtio_driver_ok(v);
	return true;
}

int main(void)
{
	char dir[] = "/tmp/vdm-acrn-vcpus-XXXXXX", img[2][128], blk0[160], blk1[160], log[160];
	struct drv_func funcs[8], *fb[2] = { NULL, NULL }, *fr = NULL;
	struct worker w[NVCPU];
	pthread_t t[NVCPU];
	struct vdm_proc p;
	struct drv d;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int st, n, saved;

	if (!mkdtemp(dir))
		return 99;
	for (int i = 0; i < 2; i++) {
		snprintf(img[i], sizeof(img[i]), "%s/disk%d.img", dir, i);
		int fd = open(img[i], O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || ftruncate(fd, IMG_SECTORS * 512))
			return 99;
		close(fd);
	}
	snprintf(blk0, sizeof(blk0), "3,virtio-blk,%s", img[0]);
	snprintf(blk1, sizeof(blk1), "5,virtio-blk,%s", img[1]);
	snprintf(log, sizeof(log), "%s/vdm.log", dir);
	drv_use_acrn_model();
	setenv("VDM_TEST_HSM", "acrn:model,vcpus=4", 1);
	/* vdm's log goes to a file the test reads at the end. */
	saved = dup(STDERR_FILENO);
	int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(lfd, STDERR_FILENO);
	close(lfd);
	int r = vdm_spawn(&p, (const char *const[]){ "-m", "128M", "-s", "0:0,hostbridge", "-s",
						      blk0, "-s", "4,virtio-rnd", "-s", blk1,
						      NULL },
			  &st);
	dup2(saved, STDERR_FILENO);
	close(saved);
	if (!drv_check(r == 0, "vdm starts over --hsm acrn:model,vcpus=4 (exit %d)", st))
		return drv_result();

	drv_connect(&d, p.sock);
	n = drv_enumerate(&d, funcs, 8);
	for (int i = 0; i < n; i++) {
		drv_assign_bars(&d, &funcs[i], &mmio, &io);
		if (funcs[i].bdf == hsm_bdf(0, 3, 0))
			fb[0] = &funcs[i];
		if (funcs[i].bdf == hsm_bdf(0, 5, 0))
			fb[1] = &funcs[i];
		if (funcs[i].bdf == hsm_bdf(0, 4, 0))
			fr = &funcs[i];
	}
	bool ok = drv_check(n == 4 && fb[0] && fb[1] && fr, "four functions enumerated (%d)", n);
	ok = ok && drv_check(setup(&blk[0], &d, fb[0], 16 << 20) &&
				     setup(&blk[1], &d, fb[1], 24 << 20) &&
				     setup(&rnd, &d, fr, 32 << 20),
			     "both disks and the entropy device initialise");
	if (!ok) {
		vdm_stop(&p);
		return drv_result();
	}

	struct drv_virtio *mine[NVCPU] = { &blk[0], &blk[1], &rnd, NULL };
	pthread_barrier_init(&start, NULL, NVCPU);
	for (int i = 0; i < NVCPU; i++) {
		w[i] = (struct worker){ .id = i, .v = mine[i], .funcs = funcs, .nfuncs = n };
		if (i == 0)
			w[i].d = d; /* vCPU 0 is the connection set-up used */
		else
			drv_connect_vcpu(&w[i].d, &d, p.sock);
		if (mine[i])
			mine[i]->d = &w[i].d;
	}
	for (int i = 0; i < NVCPU; i++)
		pthread_create(&t[i], NULL, vcpu, &w[i]);
	for (int i = 0; i < NVCPU; i++)
		pthread_join(t[i], NULL);
	const char *what[NVCPU] = { "virtio-blk 00:03.0 write/read-back", "virtio-blk 00:05.0 "
				    "write/read-back", "virtio-rnd entropy", "config-space and "
				    "device-config reads" };
	for (int i = 0; i < NVCPU; i++)
		drv_check(w[i].errors == 0, "vCPU %d: %s, %d rounds at once with the others%s%s", i,
			  what[i], w[i].done, w[i].errors ? ": " : "", w[i].why);

	for (int i = 1; i < NVCPU; i++)
		close(w[i].d.vcpu_fd);
	drv_virtio_fini(&blk[0]);
	drv_virtio_fini(&blk[1]);
	drv_virtio_fini(&rnd);
	drv_disconnect(&d);
	drv_check(vdm_stop(&p) == 0, "vdm stops cleanly");

	/* What the model saw: the summary line it logs when it goes away. */
	char text[1 << 16] = "", *line;
	unsigned exits = 0, most = 0, violations = 99;
	FILE *f = fopen(log, "r");
	size_t got = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[got] = '\0';
	line = strstr(text, "acrn model: ");
	while (line && sscanf(line, "acrn model: %u I/O exits, at most %u vCPUs waiting at once, "
				    "%u protocol violations",
			      &exits, &most, &violations) != 3)
		line = strstr(line + 1, "acrn model: ");
	drv_check(exits >= 4 * ROUNDS, "the model served the requests as I/O exits (%u)", exits);
	drv_check(most >= 2 && most <= NVCPU,
		  "several vCPUs had requests in their slots at once (at most %u of %d)", most,
		  NVCPU);
	drv_check(violations == 0, "no protocol violation by the back-end (%u)", violations);
	int res = drv_result();
	if (res)
		fprintf(stderr, "vdm's log:\n%s", text);
	unlink(img[0]);
	unlink(img[1]);
	unlink(log);
	rmdir(dir);
	return res;
}
