/*
 * test_reboot_race.c - guest reboots while several vCPUs keep issuing I/O
 * (ACRN, over the HSM model with four vCPUs): vCPU 0 writes the reset
 * control register ten times; vCPUs 1-3 read the host bridge's IDs all the
 * while.  Requests of vCPUs 1-3 are queued or in service when vdm pauses
 * the VM, and the reboot must finish or drop them before CLEAR_VM_IOREQ, as
 * acrn-dm does (its one thread notifies and resets): a NOTIFY_REQUEST_FINISH
 * after the clear, for a request the clear already completed, would
 * complete whatever request the vCPU issued after the restart, unserved.
 * The model refuses such a late notify and counts it as a protocol
 * violation; there must be none, every reboot must complete, and the
 * reads after the last one must be right.
 */
#include "drv.h"
#include "fake_bzimage.h"
#include "hsm.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NVCPU 4
#define REBOOTS 10

static char dir[] = "/tmp/vdm-race-XXXXXX";
static bool rebooting_done;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct worker {
	struct drv d;
	unsigned reads;
};

static bool done(void)
{
	pthread_mutex_lock(&lock);
	bool d = rebooting_done;
	pthread_mutex_unlock(&lock);
	return d;
}

/* A vCPU that keeps exiting: the host bridge's vendor and device IDs. */
static void *reader(void *arg)
{
	struct worker *w = arg;

	while (!done()) {
		(void)drv_cfg_read(&w->d, hsm_bdf(0, 0, 0), 0x00, 2);
		(void)drv_cfg_read(&w->d, hsm_bdf(0, 0, 0), 0x02, 2);
		w->reads += 2;
	}
	return NULL;
}

/* A back-end that loses a request leaves a vCPU waiting for good: fail
 * after a minute rather than hang (the reboots take well under a second). */
static pid_t vdm_pid;

static void give_up(int sig)
{
	static const char msg[] = "FAIL: a vCPU waited a minute for its request: lost\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	if (vdm_pid > 0)
		kill(vdm_pid, SIGKILL);
	_exit(1);
}

static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t got = f ? fread(buf, 1, len - 1, f) : 0;

	buf[got] = 0;
	if (f)
		fclose(f);
}

int main(void)
{
	static char text[1 << 20];
	char kernel[200], log[200], want[64];
	struct worker w[NVCPU];
	pthread_t t[NVCPU];
	struct vdm_proc p;
	int st = -1;

	if (!mkdtemp(dir))
		return 99;
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	snprintf(log, sizeof(log), "%s/vdm.log", dir);
	write_kernel(kernel, &fake_good);
	drv_use_acrn_model();
	setenv("VDM_TEST_HSM", "acrn:model,vcpus=4", 1);
	if (vdm_spawn(&p, (const char *const[]){ "-v", "--log-file", log, "-k", kernel, "-s",
						 "0:0,hostbridge", "-s", "4,virtio-rnd", NULL },
		      &st)) {
		drv_check(false, "vdm starts over acrn:model,vcpus=4 (exit %d)", st);
		return drv_result();
	}
	vdm_pid = p.pid;
	signal(SIGALRM, give_up);
	alarm(60);
	drv_connect(&w[0].d, p.sock);
	unsigned vendor = drv_cfg_read(&w[0].d, hsm_bdf(0, 0, 0), 0x00, 2);
	unsigned device = drv_cfg_read(&w[0].d, hsm_bdf(0, 0, 0), 0x02, 2);

	for (int i = 1; i < NVCPU; i++) {
		w[i].reads = 0;
		drv_connect_vcpu(&w[i].d, &w[0].d, p.sock);
		pthread_create(&t[i], NULL, reader, &w[i]);
	}
	for (int i = 0; i < REBOOTS; i++) {
		/* A mark in CMOS NVRAM, which a reboot clears (the RTC starts
		 * afresh): the reset has happened once it reads 0. */
		drv_pio_write(&w[0].d, 0x70, 1, 0x40);
		drv_pio_write(&w[0].d, 0x71, 1, 0x5a);
		drv_pio_write(&w[0].d, 0xcf9, 1, 0x06);
		for (unsigned mark = 0x5a; mark != 0;) {
			drv_pio_write(&w[0].d, 0x70, 1, 0x40);
			mark = (unsigned)drv_pio_read(&w[0].d, 0x71, 1);
		}
	}
	pthread_mutex_lock(&lock);
	rebooting_done = true;
	pthread_mutex_unlock(&lock);
	unsigned reads = 0;

	for (int i = 1; i < NVCPU; i++) {
		pthread_join(t[i], NULL);
		reads += w[i].reads;
	}
	bool right = true;

	for (int i = 1; i < NVCPU; i++)
		right &= drv_cfg_read(&w[i].d, hsm_bdf(0, 0, 0), 0x00, 2) == vendor &&
			 drv_cfg_read(&w[i].d, hsm_bdf(0, 0, 0), 0x02, 2) == device;
	alarm(0);
	drv_check(right && vendor != 0xffff, "after the reboots every vCPU reads the host bridge's "
					     "IDs right (%04x:%04x)",
		  vendor, device);
	for (int i = 1; i < NVCPU; i++)
		close(w[i].d.vcpu_fd);
	drv_disconnect(&w[0].d);
	drv_check(vdm_stop(&p) == 0, "vdm stops cleanly");
	read_file(log, text, sizeof(text));
	snprintf(want, sizeof(want), "guest rebooted (%d so far)", REBOOTS);
	drv_check(strstr(text, want) != NULL, "%d reboots, while vCPUs 1-3 made %u reads", REBOOTS,
		  reads);
	const char *bad = strstr(text, "protocol violation:");

	drv_check(!bad, "no protocol violation: no NOTIFY_REQUEST_FINISH after CLEAR_VM_IOREQ for a "
			"request it completed (%.200s)",
		  bad ? bad : "");
	if (drv_failures())
		fprintf(stderr, "%s", text);
	unlink(kernel);
	unlink(log);
	rmdir(dir);
	return drv_result();
}
