/*
 * vq_test.h - what libvbsu's virtqueue unit tests (test_vq, test_vq_packed,
 * test_vq_inflight) share: the fake guest RAM the test plays the driver in,
 * CHECK, the strict translate callback, taking a chain, the checks every
 * broken ring must pass, and the race of a "guest" thread rewriting the
 * ring against vq_getchain.  Header-only: each test is one program.  The
 * test defines RAM_BASE (a non-zero guest-physical address, so gpa/offset
 * mix-ups show) and RAM_SIZE before including it, and allocates ram.
 */
#ifndef VDM_TEST_VQ_TEST_H
#define VDM_TEST_VQ_TEST_H

#include "vbsu.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_IOV 4096

static uint8_t *ram;
static int failures;
static const char *cur; /* the case running, for the failure messages */
static struct iovec iov[MAX_IOV] __attribute__((unused));

#ifndef __FILE_NAME__
#define __FILE_NAME__ __FILE__
#endif
#define CHECK(c) check((c), #c, __FILE_NAME__, __LINE__)

static inline bool check(bool ok, const char *what, const char *file, int line)
{
	if (!ok) {
		fprintf(stderr, "%s:%d: [%s] check failed: %s\n", file, line, cur, what);
		failures++;
	}
	return ok;
}

/* ram := RAM_SIZE bytes, page-aligned; false (said on stderr) when there
 * are none. */
static inline bool ram_alloc(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram)
		perror("aligned_alloc");
	return ram != NULL;
}

/* The verdict of the test called name, printed: its exit status, 0, or 1
 * after a failed check. */
static inline int checks_result(const char *name)
{
	if (failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
		return 1;
	}
	printf("%s: all checks passed\n", name);
	return 0;
}

static inline uint64_t gpa(uint32_t off)
{
	return RAM_BASE + off;
}

/* Refuses len 0, wrap-around and anything not wholly inside RAM. */
static inline void *ram_translate(uint64_t g, uint64_t len)
{
	uint64_t off;

	if (len == 0 || g + len < g || g < RAM_BASE)
		return NULL;
	off = g - RAM_BASE;
	if (off > RAM_SIZE || len > RAM_SIZE - off)
		return NULL;
	return ram + off;
}

/* vq_getchain into iov, the chain poisoned first so a field it leaves
 * unset shows. */
static inline int take_chain(struct vqueue *vq, struct vq_chain *ch, int niov)
{
	memset(ch, 0xa5, sizeof(*ch));
	return vq_getchain(vq, ch, iov, niov);
}

/*
 * The ring holds a chain breaking one rule: vq_getchain must fail with
 * want, break the queue naming the rule, stay broken and have no work.
 */
static inline void expect_broken_queue(struct vqueue *vq, int niov, int want, const char *rule)
{
	struct vq_chain ch;
	int rc = take_chain(vq, &ch, niov);

	if (!CHECK(rc == want))
		fprintf(stderr, "    got %d, want %d\n", rc, want);
	CHECK(vq->broken);
	if (CHECK(vq->error != NULL) && !CHECK(strstr(vq->error, rule) != NULL))
		fprintf(stderr, "    error \"%s\", want \"%s\"\n", vq->error, rule);
	CHECK(take_chain(vq, &ch, niov) == want);
	CHECK(!vq_has_work(vq));
}

/* ---- the race: a "guest" thread rewrites the ring while chains are taken ---- */

#define STRESS_SIZE 16u
#ifndef STRESS_SECONDS
#define STRESS_SECONDS 0.5
#endif
#define STRESS_IND_OFF (RAM_SIZE - 16 * 16) /* indirect slots end where RAM ends */
static bool stress_stop;

static inline uint32_t xorshift(uint32_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 17;
	*st ^= *st << 5;
	return *st;
}

/* What a test's race needs: the guest thread, how to set the queue up
 * again after it broke, and the test's own checks after each chain. */
struct stress_ops {
	void *(*guest)(void *arg);
	void (*restart)(void *arg);
	void (*after_chain)(void *arg);
	void *arg;
};

/*
 * Race ops->guest against vq_getchain on vq for STRESS_SECONDS, longer if
 * scheduling starved either outcome (10 s at most): the longer the race,
 * the likelier a double fetch shows.  Every chain must match its summary
 * and lie inside RAM, and goes back used; a broken queue is set up again.
 * Both outcomes must come 1000 times at least.
 */
static inline void stress_race(struct vqueue *vq, const struct stress_ops *ops)
{
	struct vq_chain ch;
	pthread_t guest;
	long chains = 0, broken = 0;
	struct timespec t0, now;
	double elapsed = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!CHECK(pthread_create(&guest, NULL, ops->guest, ops->arg) == 0))
		return;
	while (failures == 0 && elapsed < 10 &&
	       (elapsed < STRESS_SECONDS || chains < 1000 || broken < 1000)) {
		uint64_t rsum = 0, wsum = 0;
		int n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) * 1e-9;
		n = take_chain(vq, &ch, 64);
		if (n < 0) {
			broken++;
			CHECK(vq->broken && vq->error != NULL);
			vq_reset(vq);
			ops->restart(ops->arg);
			continue;
		}
		if (n == 0) {
			sched_yield(); /* let the guest run even on one CPU */
			continue;
		}
		chains++;
		CHECK(n <= (int)STRESS_SIZE && ch.nread + ch.nwrite == n && ch.head < STRESS_SIZE);
		for (int i = 0; i < n; i++) {
			uint8_t *b = iov[i].iov_base;

			if (i < ch.nread)
				rsum += iov[i].iov_len;
			else
				wsum += iov[i].iov_len;
			if (iov[i].iov_len == 0)
				CHECK(b == NULL);
			else
				CHECK(b >= ram && iov[i].iov_len <= (size_t)(ram + RAM_SIZE - b));
		}
		CHECK(rsum == ch.read_len && wsum == ch.write_len);
		vq_relchain(vq, ch.head, 0);
		if (ops->after_chain)
			ops->after_chain(ops->arg);
	}
	__atomic_store_n(&stress_stop, true, __ATOMIC_RELAXED);
	pthread_join(guest, NULL);
	/* Both outcomes must have been exercised for the run to mean anything. */
	if (!CHECK(chains >= 1000 && broken >= 1000))
		fprintf(stderr, "    chains %ld, broken %ld\n", chains, broken);
}

#endif /* VDM_TEST_VQ_TEST_H */
