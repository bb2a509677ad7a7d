/*
 * test_vdm_vhost_user_blk.c - vdm-vhost-user serving virtio-blk to vdm's own
 * vhost=user: route, driven by the test driver:
 *   - the disk the guest sees is the daemon's: capacity, block size and
 *     buffer limit from its config space (GET_CONFIG), FLUSH offered, the
 *     serial given to the daemon answers GET_ID;
 *   - writes, FLUSHes and reads back, found in the image by the host, with
 *     MSI-X and, after a device reset, with INTx;
 *   - 32 requests posted at once all complete, each in the image;
 *   - the front-end killed (SIGKILL) with writes in flight: a second vdm on
 *     the same daemon reads back every write the first one saw completed;
 *   - the daemon killed (SIGKILL) with 32 writes in flight, under vdm's
 *     reconnect=1 route: a new daemon on the socket gets the in-flight
 *     region (INFLIGHT_SHMFD) and serves them again; every write completes
 *     OK and is in the image, and the device never needs a reset;
 *   - the killed daemon replaced by a back-end that tracks nothing in flight
 *     (vu-fault-peer, no protocol features): vdm cannot resume blind, the
 *     device needs a reset, and says so;
 *   - a live switch (set-route) from the daemon to VBS-U with 16 writes in
 *     flight: drained by what the in-flight region says; and with the
 *     daemon killed in the middle of the switch: VBS-U takes over the
 *     writes the region names and runs them; either way every request
 *     completes OK, no reset;
 *   - ro: the driver is offered RO and a write fails with IOERR;
 *   - vdm's options that mean nothing to the daemon are refused with one
 *     line (exit 2), a missing image too (exit 1); SIGTERM exits 0 and
 *     removes the socket.
 */
#include "api_client.h"
#include "blk_guest.h"
#include "peer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define SLOT 4
#define IMG_BYTES (8 << 20)
#define NREQ 32
#define REQ_BYTES 16384

static char dir[] = "/tmp/vdm-vvublk-XXXXXX";
static char sock[96], img[96], log_path[96], daemon_bin[512];
static pid_t vvu = -1;

struct req_bufs {
	uint64_t hdr, data, status;
};

struct vm {
	struct vdm_proc p;
	struct drv d;
	struct drv_func f;
	struct drv_virtio v;
	struct req_bufs r[NREQ];
};

static bool daemon_start(const char *spec)
{
	return peer_start_ready(&vvu,
				(char *const[]){ daemon_bin, "--socket", sock, "-v", (char *)spec, NULL },
				log_path, "serving virtio-blk on", 5000);
}

/* Run the daemon with one emulation spec to its end: status, output in out. */
static int daemon_run(const char *spec, char *out, size_t outlen)
{
	return peer_run((char *const[]){ daemon_bin, "--socket", sock, (char *)spec, NULL }, log_path,
			out, outlen);
}

/* vdm with args, its disk found and probed, request buffers allocated. */
static bool vm_spawn(struct vm *m, const char *const *args)
{
	int st;

	memset(m, 0, sizeof(*m));
	if (vdm_spawn(&m->p, args, &st))
		return false;
	drv_connect(&m->d, m->p.sock);
	if (drv_virtio_probe_slot(&m->v, &m->d, &m->f, SLOT))
		return false;
	for (int i = 0; i < NREQ; i++) {
		m->r[i].hdr = drv_virtio_alloc(&m->v, 16, 16);
		m->r[i].status = drv_virtio_alloc(&m->v, 1, 1);
		m->r[i].data = drv_virtio_alloc(&m->v, 1 << 20, 4096);
	}
	return true;
}

/* vdm with the disk on the daemon; route_opts after vhost=user:SOCK, and
 * vdm's log in log (NULL: the test's output). */
static bool vm_start_with(struct vm *m, const char *route_opts, const char *log)
{
	char spec[200];

	snprintf(spec, sizeof(spec), "%d,virtio-blk,vhost=user:%s%s", SLOT, sock, route_opts);
	return vm_spawn(m, log ? (const char *const[]){ "--log-file", log, "-s", spec, NULL }
			       : (const char *const[]){ "-s", spec, NULL });
}

static bool vm_start(struct vm *m)
{
	return vm_start_with(m, "", NULL);
}

static void vm_stop(struct vm *m, bool kill_it)
{
	drv_virtio_fini(&m->v);
	drv_disconnect(&m->d);
	if (kill_it) {
		kill(m->p.pid, SIGKILL);
		waitpid(m->p.pid, NULL, 0);
		m->p.pid = 0;
		unlink(m->p.sock);
		rmdir(m->p.dir);
		return;
	}
	drv_check(vdm_stop(&m->p) == 0, "vdm stops cleanly");
}

static bool disk_init(struct vm *m, bool msix)
{
	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_FLUSH) |
			(1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			(1ULL << VIRTIO_BLK_F_RO) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			(1ULL << VIRTIO_RING_F_EVENT_IDX);

	if (drv_virtio_negotiate(&m->v, want) || drv_virtio_setup_irq(&m->v, msix) ||
	    drv_virtio_setup_vq(&m->v, 0, 0))
		return false;
	drv_virtio_driver_ok(&m->v);
	return !(drv_virtio_status(&m->v) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* Post request i (type, sector, len bytes of its data buffer); no kick. */
static bool post(struct vm *m, int i, uint32_t type, uint64_t sector, uint32_t len)
{
	struct req_bufs *b = &m->r[i];
	struct virtio_blk_outhdr *h = drv_gpa(&m->d, b->hdr, sizeof(*h));
	struct drv_buf out[2], in[2];
	int nout = 0, nin = 0;

	*h = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	*(uint8_t *)drv_gpa(&m->d, b->status, 1) = 0xee;
	out[nout++] = (struct drv_buf){ b->hdr, 16 };
	if (len && type == VIRTIO_BLK_T_OUT)
		out[nout++] = (struct drv_buf){ b->data, len };
	else if (len)
		in[nin++] = (struct drv_buf){ b->data, len };
	in[nin++] = (struct drv_buf){ b->status, 1 };
	return drv_virtio_post(&m->v, 0, out, nout, in, nin, false) >= 0;
}

static int status_of(struct vm *m, int i)
{
	return *(uint8_t *)drv_gpa(&m->d, m->r[i].status, 1);
}

/* One request with buffers 0, waited for: its status byte, or -1. */
static int one_req(struct vm *m, uint32_t type, uint64_t sector, uint32_t len)
{
	if (!post(m, 0, type, sector, len))
		return -1;
	drv_virtio_kick(&m->v, 0);
	if (drv_virtio_wait_used(&m->v, 0, NULL, NULL, 5000) != 1)
		return -1;
	return status_of(m, 0);
}

static bool round_trip(struct vm *m, uint64_t sector, uint32_t len, unsigned seed)
{
	static uint8_t pat[1 << 20];
	uint8_t *buf = drv_gpa(&m->d, m->r[0].data, len);

	blk_pattern(pat, len, seed);
	memcpy(buf, pat, len);
	if (one_req(m, VIRTIO_BLK_T_OUT, sector, len) != VIRTIO_BLK_S_OK ||
	    one_req(m, VIRTIO_BLK_T_FLUSH, 0, 0) != VIRTIO_BLK_S_OK)
		return false;
	memset(buf, 0, len);
	return one_req(m, VIRTIO_BLK_T_IN, sector, len) == VIRTIO_BLK_S_OK &&
	       !memcmp(buf, pat, len) && image_has(img, sector * 512, pat, len);
}

/* Request i of a burst writes seed's pattern at its own place on the disk. */
static uint64_t burst_sector(int i)
{
	return 2048 + (uint64_t)i * (REQ_BYTES / 512);
}

static bool post_burst(struct vm *m, unsigned seed)
{
	for (int i = 0; i < NREQ; i++) {
		blk_pattern(drv_gpa(&m->d, m->r[i].data, REQ_BYTES), REQ_BYTES, seed + (unsigned)i);
		if (!post(m, i, VIRTIO_BLK_T_OUT, burst_sector(i), REQ_BYTES))
			return false;
	}
	drv_virtio_kick(&m->v, 0);
	return true;
}

/* Which request a used id is: the one whose header is the chain's head. */
static int req_of_head(int nposted, const uint16_t *heads, uint16_t id)
{
	for (int i = 0; i < nposted; i++)
		if (heads[i] == id)
			return i;
	return -1;
}

static void test_serve(void)
{
	struct vm m;
	static uint8_t pat[REQ_BYTES];

	if (!drv_check(vm_start(&m), "vdm starts with its disk on vdm-vhost-user"))
		return;
	uint64_t offered = drv_virtio_device_features(&m.v);
	drv_check((offered >> VIRTIO_BLK_F_FLUSH & 1) && (offered >> VIRTIO_BLK_F_SEG_MAX & 1) &&
			  (offered >> VIRTIO_BLK_F_BLK_SIZE & 1) && !(offered >> VIRTIO_BLK_F_RO & 1) &&
			  (offered >> VIRTIO_RING_F_EVENT_IDX & 1),
		  "offer: FLUSH, SEG_MAX, BLK_SIZE, EVENT_IDX, not RO (%#llx)",
		  (unsigned long long)offered);
	drv_check(drv_virtio_cfg_read(&m.v, 0, 8) == IMG_BYTES / 512 &&
			  drv_virtio_cfg_read(&m.v, offsetof(struct virtio_blk_config, blk_size), 4) ==
				  512 &&
			  drv_virtio_cfg_read(&m.v, offsetof(struct virtio_blk_config, seg_max), 4) ==
				  126,
		  "config from the daemon's GET_CONFIG: %llu sectors, 512-byte blocks, 126 buffers",
		  (unsigned long long)drv_virtio_cfg_read(&m.v, 0, 8));
	if (!drv_check(disk_init(&m, true), "the disk initialises (MSI-X)"))
		goto out;
	drv_virtio_clear_stats(&m.v);
	drv_check(round_trip(&m, 0, 65536, 1) && round_trip(&m, 4096, 1 << 20, 2),
		  "written, flushed, read back, found in the image");
	drv_check(m.v.msi_vec_count[1] > 0, "completions interrupt through MSI-X (%d)",
		  m.v.msi_vec_count[1]);
	memset(drv_gpa(&m.d, m.r[0].data, 20), 0, 20);
	drv_check(one_req(&m, VIRTIO_BLK_T_GET_ID, 0, 20) == VIRTIO_BLK_S_OK &&
			  !strncmp(drv_gpa(&m.d, m.r[0].data, 20), "vvu-disk-1", 20),
		  "GET_ID answers the serial given to the daemon");

	/* Many in flight at once. */
	int done = 0, good = 0;
	post_burst(&m, 100);
	while (done < NREQ && drv_virtio_wait_used(&m.v, 0, NULL, NULL, 5000) == 1)
		done++;
	for (int i = 0; i < NREQ; i++) {
		blk_pattern(pat, REQ_BYTES, 100 + (unsigned)i);
		good += status_of(&m, i) == VIRTIO_BLK_S_OK &&
			image_has(img, burst_sector(i) * 512, pat, REQ_BYTES);
	}
	drv_check(done == NREQ && good == NREQ,
		  "%d requests posted with one kick: %d completed, %d in the image", NREQ, done,
		  good);

	/* A reset, then INTx. */
	if (drv_check(disk_init(&m, false), "the disk re-initialises after a reset (INTx)")) {
		drv_virtio_clear_stats(&m.v);
		drv_check(round_trip(&m, 100, 4096, 4), "it serves again after the reset");
		drv_check(m.v.intx_count > 0, "with INTx, vdm turns the daemon's call into INTx (%d)",
			  m.v.intx_count);
	}
out:
	vm_stop(&m, false);
}

/*
 * The front-end dies with writes in flight (no INFLIGHT_SHMFD: the daemon
 * finishes what it took before it lets the memory go).  Every write the
 * driver saw completed must be read back through the next front-end.
 */
static void test_front_end_killed(void)
{
	struct vm m;
	static uint8_t pat[REQ_BYTES];
	bool acked[NREQ] = { false };
	uint16_t heads[NREQ];
	int nacked = 0, good = 0;

	if (!drv_check(vm_start(&m), "a first front-end connects") ||
	    !drv_check(disk_init(&m, true), "... and its disk initialises")) {
		vm_stop(&m, true);
		return;
	}
	for (int i = 0; i < NREQ; i++) {
		blk_pattern(drv_gpa(&m.d, m.r[i].data, REQ_BYTES), REQ_BYTES, 500 + (unsigned)i);
		heads[i] = 0xffff;
		struct virtio_blk_outhdr *h = drv_gpa(&m.d, m.r[i].hdr, sizeof(*h));
		struct drv_buf out[2] = { { m.r[i].hdr, 16 }, { m.r[i].data, REQ_BYTES } };
		struct drv_buf in = { m.r[i].status, 1 };
		*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT,
						 .sector = burst_sector(i) };
		int head = drv_virtio_post(&m.v, 0, out, 2, &in, 1, false);
		if (head >= 0)
			heads[i] = (uint16_t)head;
	}
	drv_virtio_kick(&m.v, 0);
	/* Take whatever completes first, then pull the plug. */
	for (int t = 0; t < 200 && nacked < NREQ / 4; t++) {
		uint16_t id;

		while (drv_virtio_get_used(&m.v, 0, &id, NULL) == 1) {
			int i = req_of_head(NREQ, heads, id);

			if (i >= 0 && status_of(&m, i) == VIRTIO_BLK_S_OK && !acked[i]) {
				acked[i] = true;
				nacked++;
			}
		}
		if (nacked < NREQ / 4)
			sleep_ms(1);
	}
	vm_stop(&m, true);
	drv_check(nacked > 0, "the first front-end saw %d of %d writes completed, then was killed",
		  nacked, NREQ);
	for (int i = 0; i < 100 && !peer_log_has(log_path, "the front-end disconnected"); i++)
		sleep_ms(20);
	drv_check(waitpid(vvu, NULL, WNOHANG) == 0 &&
			  peer_log_has(log_path, "the front-end disconnected"),
		  "the daemon saw it go and lives on");

	if (!drv_check(vm_start(&m), "a second front-end connects to the same daemon") ||
	    !drv_check(disk_init(&m, true), "... and its disk initialises")) {
		vm_stop(&m, false);
		return;
	}
	for (int i = 0; i < NREQ; i++) {
		if (!acked[i])
			continue;
		memset(drv_gpa(&m.d, m.r[0].data, REQ_BYTES), 0, REQ_BYTES);
		blk_pattern(pat, REQ_BYTES, 500 + (unsigned)i);
		good += one_req(&m, VIRTIO_BLK_T_IN, burst_sector(i), REQ_BYTES) == VIRTIO_BLK_S_OK &&
			!memcmp(drv_gpa(&m.d, m.r[0].data, REQ_BYTES), pat, REQ_BYTES);
	}
	drv_check(good == nacked, "the second front-end reads back %d of the %d acknowledged writes",
		  good, nacked);
	vm_stop(&m, false);
}

/*
 * Post NREQ requests, one kick: even ones write seed's patterns (seed + i)
 * at their own sectors, odd ones read theirs.  heads[i] is request i's.
 */
static void post_mixed(struct vm *m, unsigned seed, uint16_t *heads)
{
	for (int i = 0; i < NREQ; i++) {
		bool write = i % 2 == 0;
		struct virtio_blk_outhdr *h = drv_gpa(&m->d, m->r[i].hdr, sizeof(*h));
		struct drv_buf out[2] = { { m->r[i].hdr, 16 }, { m->r[i].data, REQ_BYTES } };
		struct drv_buf in[2] = { { m->r[i].data, REQ_BYTES }, { m->r[i].status, 1 } };
		int head;

		blk_pattern(drv_gpa(&m->d, m->r[i].data, REQ_BYTES), REQ_BYTES, seed + (unsigned)i);
		*h = (struct virtio_blk_outhdr){ .type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
						 .sector = burst_sector(i) };
		*(uint8_t *)drv_gpa(&m->d, m->r[i].status, 1) = 0xee;
		head = write ? drv_virtio_post(&m->v, 0, out, 2, &in[1], 1, false)
			     : drv_virtio_post(&m->v, 0, out, 1, in, 2, false);
		heads[i] = head >= 0 ? (uint16_t)head : 0xffff;
	}
	drv_virtio_kick(&m->v, 0);
}

/* Take used entries (for up to wait_ms, or what is there now with 0),
 * marking done[]: how many were new. */
static int reap(struct vm *m, const uint16_t *heads, bool *done, int wait_ms)
{
	int n = 0, left = NREQ;
	uint16_t id;

	for (int i = 0; i < NREQ; i++)
		left -= done[i];
	for (int t = 0; n < left && t <= wait_ms; t += 100) {
		while (n < left && (wait_ms ? drv_virtio_wait_used(&m->v, 0, &id, NULL, 100)
					   : drv_virtio_get_used(&m->v, 0, &id, NULL)) == 1) {
			int i = req_of_head(NREQ, heads, id);

			if (i >= 0 && !done[i]) {
				done[i] = true;
				n++;
			}
		}
		if (!wait_ms)
			break;
	}
	return n;
}

/* post_mixed's writes that are done, OK and in the image. */
static int mixed_writes_good(struct vm *m, unsigned seed, const bool *done)
{
	static uint8_t pat[REQ_BYTES];
	int good = 0;

	for (int i = 0; i < NREQ; i += 2) {
		blk_pattern(pat, REQ_BYTES, seed + (unsigned)i);
		good += done[i] && status_of(m, i) == VIRTIO_BLK_S_OK &&
			image_has(img, burst_sector(i) * 512, pat, REQ_BYTES);
	}
	return good;
}

/* The pid of tracer's child (the program strace runs), or -1. */
static pid_t child_of(pid_t tracer)
{
	char path[64];
	FILE *f;
	int pid = -1;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)tracer, (int)tracer);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return pid;
}

/*
 * The daemon dies under vdm's reconnect=1 route and what answers next on
 * the socket is a back-end without INFLIGHT_SHMFD (vu-fault-peer, which
 * offers every feature bit and no protocol feature): it could not know
 * what the dead one held, so vdm must not resume the rings on it, but put
 * the device in DEVICE_NEEDS_RESET with the reason.
 */
static void test_back_without_inflight(const char *spec)
{
	char vdm_log[128], peer_bin[512];
	const char *b = getenv("VDM_BUILDDIR");
	pid_t peer;
	struct vm m;

	snprintf(vdm_log, sizeof(vdm_log), "%s/vdm-noinflight.log", dir);
	snprintf(peer_bin, sizeof(peer_bin), "%s/tests/sim/vu-fault-peer", b ? b : ".");
	if (!drv_check(daemon_start(spec), "a daemon serves the disk") ||
	    !drv_check(vm_start_with(&m, ",reconnect=1", vdm_log),
		       "vdm starts with reconnect=1 on it") ||
	    !drv_check(disk_init(&m, true) && round_trip(&m, 64, 4096, 21),
		       "... and its disk serves")) {
		peer_stop(&vvu, SIGKILL);
		return;
	}
	peer_stop(&vvu, SIGKILL);
	for (int i = 0; i < 100 && !peer_log_has(vdm_log, "rings wait for the next back-end"); i++)
		sleep_ms(20);
	unlink(sock);
	peer = peer_spawn((char *const[]){ peer_bin, sock, "0xffffffffbfffffff", "die", "0", NULL },
			  NULL);
	for (int i = 0; i < 150 && !(drv_virtio_status(&m.v) & VIRTIO_CONFIG_S_NEEDS_RESET); i++)
		sleep_ms(20);
	drv_check(peer_log_has(vdm_log, "tracks no requests in flight") &&
			  (drv_virtio_status(&m.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "a back-end without in-flight tracking comes back: the device needs a reset");
	vm_stop(&m, false);
	peer_stop(&peer, SIGKILL);
	if (drv_result())
		peer_dump_log("vdm's log", vdm_log);
	unlink(vdm_log);
	unlink(sock);
}

/* A daemon on the socket under strace: inline writes refused (EAGAIN),
 * its threads' writes held hold_us each.  strace's pid; the daemon's log
 * in log. */
static pid_t held_daemon(const char *spec, const char *hold_us, const char *log)
{
	char held[256], inject[64];
	pid_t tracer;

	snprintf(held, sizeof(held), "%s,aio=threads", spec);
	snprintf(inject, sizeof(inject), "inject=pwritev:delay_enter=%s", hold_us);
	tracer = peer_spawn((char *const[]){ "strace", "-f", "-qq", "-o", "/dev/null",
					     "--seccomp-bpf", "-e", "trace=pwritev,pwritev2", "-e",
					     "inject=pwritev2:error=EAGAIN", "-e", inject,
					     daemon_bin, "--socket", sock, "-v", held, NULL },
			    log);
	for (int i = 0; i < 200 && !peer_log_has(log, "serving virtio-blk on"); i++)
		sleep_ms(50);
	return tracer;
}

/* Stop a held daemon: the signal goes to the daemon (strace blocks fatal
 * signals, and killing it would only detach the daemon), then strace,
 * left without a tracee, ends. */
static void held_daemon_stop(pid_t *tracer, int sig)
{
	pid_t d = *tracer > 0 ? child_of(*tracer) : -1;

	if (d > 0)
		kill(d, sig);
	if (*tracer > 0)
		waitpid(*tracer, NULL, 0);
	*tracer = -1;
}

/*
 * The daemon dies (SIGKILL) with writes in flight and reads completed
 * after them.  It runs under strace so that the writes are in flight when
 * it dies, not already done: its inline page-cache writes (pwritev2) are
 * refused with EAGAIN, so every write goes to its I/O threads, whose writes
 * (pwritev) are held for a second each; reads are served from the page
 * cache at once.  Requests alternate write, read: 16 writes in flight
 * among 16 reads used, out of order, so the avail ring read again from the
 * used index would redo 8 reads and 8 writes and lose the other 8 writes:
 * only the in-flight region says which 16 to serve again.  vdm's route has
 * reconnect=1: the next daemon on the socket gets the region, and the guest
 * must see every request complete, with no DEVICE_NEEDS_RESET.
 */
static void test_daemon_killed(const char *spec)
{
	char vdm_log[128], log1[128], log2[128], held[128];
	uint16_t heads[NREQ];
	bool done[NREQ] = { false };
	int ndone = 0, writes_done = 0, good = 0, inflight = 0, st;
	pid_t tracer, d1;
	struct vm m;

	if (access("/usr/bin/strace", X_OK)) {
		printf("SKIP: the daemon killed with writes in flight (strace is not installed)\n");
		return;
	}
	snprintf(vdm_log, sizeof(vdm_log), "%s/vdm.log", dir);
	snprintf(log1, sizeof(log1), "%s/daemon-killed.log", dir);
	snprintf(log2, sizeof(log2), "%s/daemon-next.log", dir);
	tracer = held_daemon(spec, "1000000", log1);
	if (!drv_check(peer_log_has(log1, "serving virtio-blk on"),
		       "a daemon (under strace, its writes held) serves the disk") ||
	    !drv_check(vm_start_with(&m, ",reconnect=1", vdm_log),
		       "vdm starts with reconnect=1 on it") ||
	    !drv_check(disk_init(&m, true), "... and its disk initialises")) {
		held_daemon_stop(&tracer, SIGKILL);
		return;
	}
	post_mixed(&m, 700, heads);
	/* The daemon takes them all; reads from the page cache finish, the
	 * writes cannot.  At least one read done after a write in flight is
	 * what makes the region, not the avail ring, the only record. */
	for (int t = 0; t < 20 && !ndone; t++) {
		sleep_ms(50);
		ndone += reap(&m, heads, done, 0);
	}
	for (int i = 0; i < NREQ; i += 2)
		writes_done += done[i];
	d1 = child_of(tracer);
	drv_check(d1 > 0 && ndone > 0 && !writes_done && kill(d1, SIGKILL) == 0,
		  "the daemon is killed with %d writes in flight and %d of the reads after them "
		  "done", NREQ / 2 - writes_done, ndone);
	waitpid(tracer, NULL, 0);
	/* Reads it finished after the last look and before it died are in the
	 * used ring already: they are done, not held (it once held 28, not 29). */
	ndone += reap(&m, heads, done, 0);
	inflight = NREQ - ndone;
	for (int i = 0; i < 100 && !peer_log_has(vdm_log, "rings wait for the next back-end"); i++)
		sleep_ms(20);
	drv_check(peer_log_has(vdm_log, "rings wait for the next back-end") &&
			  !(drv_virtio_status(&m.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "vdm keeps the rings for the next daemon; the device does not need a reset");

	pid_t d2 = peer_spawn((char *const[]){ daemon_bin, "--socket", sock, "-v", (char *)spec,
					       NULL },
			      log2);
	/* Up to 10 s: vdm dials again each second, then the writes. */
	ndone += reap(&m, heads, done, 10000);
	good = mixed_writes_good(&m, 700, done);
	drv_check(ndone == NREQ && good == NREQ / 2,
		  "a new daemon: every request completes (%d of %d), each write OK and in the "
		  "image (%d of %d)", ndone, NREQ, good, NREQ / 2);
	snprintf(held, sizeof(held), "%d requests a back-end before left in flight are served again",
		 inflight);
	drv_check(peer_log_has(log2, held),
		  "... the new daemon served again exactly the %d requests the killed one held",
		  inflight);
	drv_check(peer_log_has(vdm_log, "the rings go on where they were") &&
			  !peer_log_has(vdm_log, "needs reset") &&
			  !(drv_virtio_status(&m.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "vdm went on with the new daemon, and the device never needed a reset");
	drv_check(round_trip(&m, 300, 4096, 9), "the disk serves on afterwards");
	vm_stop(&m, false);
	drv_check(waitpid(d2, &st, WNOHANG) == 0, "the new daemon lives on");
	peer_stop(&d2, SIGTERM);
	if (drv_result()) {
		peer_dump_log("vdm's log", vdm_log);
		peer_dump_log("the killed daemon's log", log1);
		peer_dump_log("the next daemon's log", log2);
	}
	unlink(vdm_log);
	unlink(log1);
	unlink(log2);
}

/*
 * A live switch (set-route) from the daemon to VBS-U with 16 writes the
 * daemon holds (and 16 reads done after them).  kill_mid: the daemon is
 * killed while the switch waits for it to stop (GET_VRING_BASE: it
 * finishes its writes first): VBS-U must take over the writes its
 * in-flight region names.  Else the daemon finishes them and the region
 * says it holds nothing.  Every request completes OK, the writes are in the
 * image, the disk serves on VBS-U, and nothing needs a reset.
 */
static void test_switch_away(const char *spec, bool kill_mid)
{
	char vdm_log[128], dlog[128], api[128], vspec[200], rep[1024], route[160];
	const char *name = kill_mid ? "daemon killed mid-switch" : "daemon alive";
	uint16_t heads[NREQ];
	bool done[NREQ] = { false };
	pid_t tracer, killer = -1;
	int ndone, writes_done = 0;
	struct vm m;

	if (access("/usr/bin/strace", X_OK)) {
		printf("SKIP: switching away with writes in flight (strace is not installed)\n");
		return;
	}
	snprintf(vdm_log, sizeof(vdm_log), "%s/vdm-switch.log", dir);
	snprintf(dlog, sizeof(dlog), "%s/daemon-switch.log", dir);
	snprintf(api, sizeof(api), "%s/api.sock", dir);
	snprintf(vspec, sizeof(vspec), "%d,virtio-blk,%s,locking=off", SLOT, img);
	snprintf(route, sizeof(route), "vhost-user:%s", sock);
	tracer = held_daemon(spec, "500000", dlog);
	if (!drv_check(peer_log_has(dlog, "serving virtio-blk on"), "%s: the daemon serves", name) ||
	    !drv_check(vm_spawn(&m, (const char *const[]){ "--log-file", vdm_log, "--api-socket",
							     api, "-s", vspec, NULL }),
		       "%s: vdm starts with the disk on VBS-U", name) ||
	    !drv_check(disk_init(&m, true), "%s: the disk initialises", name) ||
	    !drv_check(api_set_route(api, SLOT, route, rep, sizeof(rep)),
		       "%s: set-route moves it onto the daemon (%s)", name, rep)) {
		held_daemon_stop(&tracer, SIGKILL);
		return;
	}
	post_mixed(&m, 900, heads);
	sleep_ms(200);
	ndone = reap(&m, heads, done, 0);
	for (int i = 0; i < NREQ; i += 2)
		writes_done += done[i];
	drv_check(writes_done == 0, "%s: the daemon holds the 16 writes (%d reads done)", name,
		  ndone);
	if (kill_mid) {
		killer = fork();
		if (killer == 0) {
			sleep_ms(300);
			kill(child_of(tracer), SIGKILL);
			_exit(0);
		}
	}
	drv_check(api_set_route(api, SLOT, "vbs-u", rep, sizeof(rep)),
		  "%s: set-route moves the disk back to VBS-U (%s)", name, rep);
	if (killer > 0)
		waitpid(killer, NULL, 0);
	ndone += reap(&m, heads, done, 5000);
	drv_check(ndone == NREQ && mixed_writes_good(&m, 900, done) == NREQ / 2,
		  "%s: every request completes (%d of %d), each write OK and in the image", name,
		  ndone, NREQ);
	drv_check(kill_mid ? peer_log_has(vdm_log, "hands them to VBS-U, which runs them again")
			   : peer_log_has(vdm_log, "holds nothing (its in-flight region says so)"),
		  "%s: vdm's log says how the daemon's requests were accounted for", name);
	drv_check(!peer_log_has(vdm_log, "needs reset") &&
			  !(drv_virtio_status(&m.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "%s: the device never needed a reset", name);
	drv_check(round_trip(&m, 300, 4096, 11), "%s: the disk serves on VBS-U afterwards", name);
	vm_stop(&m, false);
	if (drv_result()) {
		peer_dump_log("vdm's log", vdm_log);
		peer_dump_log("the daemon's log", dlog);
	}
	held_daemon_stop(&tracer, SIGTERM);
	unlink(vdm_log);
	unlink(dlog);
}

static void test_read_only(void)
{
	struct vm m;

	if (!drv_check(vm_start(&m), "vdm starts on a read-only daemon"))
		return;
	drv_check(drv_virtio_device_features(&m.v) >> VIRTIO_BLK_F_RO & 1, "ro: RO is offered");
	if (drv_check(disk_init(&m, true), "ro: the disk initialises")) {
		drv_check(one_req(&m, VIRTIO_BLK_T_OUT, 0, 4096) == VIRTIO_BLK_S_IOERR,
			  "ro: a write fails with IOERR");
		drv_check(one_req(&m, VIRTIO_BLK_T_IN, 0, 4096) == VIRTIO_BLK_S_OK,
			  "ro: a read is served");
	}
	vm_stop(&m, false);
}

static void daemon_stop(const char *what);

/*
 * The daemon's notification hold-off (holdoff.h, as in vdm): with
 * poll=1000000 (a one-second window) and nocache (every read goes to the
 * disk, so requests are in flight when the ring runs empty), a driver at
 * queue depth 1 that kicks only when asked is asked once, and its 10 reads
 * complete in far less than a window each: the daemon looks at the ring
 * again once completions reached the driver.  Its log counts what the
 * hold-off found.
 */
static void test_hold_off(void)
{
	char spec[200], line[512];
	struct timespec t0, t1;
	int kicks = 0, ok = 0;
	unsigned long long hits = 0, misses = 0;
	bool counted = false;
	struct vm m;
	FILE *f;

	snprintf(spec, sizeof(spec), "virtio-blk,%s,nocache,poll=1000000", img);
	if (!drv_check(daemon_start(spec), "vdm-vhost-user serves %s with nocache,poll=1000000",
		       img))
		return;
	if (!drv_check(vm_start(&m) && disk_init(&m, true), "a disk on it initialises"))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10; i++) {
		if (!post(&m, 0, VIRTIO_BLK_T_IN, (uint64_t)i * 8, 4096))
			break;
		if (drv_virtio_kick_needed(&m.v, 0)) {
			drv_virtio_kick(&m.v, 0);
			kicks++;
		}
		ok += drv_virtio_wait_used(&m.v, 0, NULL, NULL, 5000) == 1 &&
		      status_of(&m, 0) == VIRTIO_BLK_S_OK;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long took = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	drv_check(ok == 10 && took < 5000,
		  "10 reads one after the other complete in %lld ms, not a window (1 s) each", took);
	drv_check(kicks == 1, "the driver was asked to kick once, for the first (%d kicks)", kicks);
	vm_stop(&m, false);
out:
	daemon_stop("hold-off");
	f = fopen(log_path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "hold-off "))
			counted = sscanf(strstr(line, "hold-off ") + 9, "%llu hits / %llu misses", &hits,
					 &misses) == 2;
	if (f)
		fclose(f);
	/* (Reads the driver posted while the daemon was still completing the
	 * last are found there, not by the hold-off: how many is timing.) */
	drv_check(counted, "the daemon's log counts what its hold-off found: %llu hits, %llu misses",
		  hits, misses);
}

static void daemon_stop(const char *what)
{
	int status = -1;
	struct stat st;

	if (vvu < 0)
		return;
	kill(vvu, SIGTERM);
	waitpid(vvu, &status, 0);
	vvu = -1;
	drv_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && lstat(sock, &st) != 0,
		  "%s: SIGTERM: the daemon exits 0 and removes its socket (status %#x)", what,
		  status);
}

static void command_line(void)
{
	static const struct {
		const char *opts;
		int status;
		const char *says;
	} cases[] = {
		{ ",vhost=user:/x.sock", 2, "back-end owns the disk" },
		{ ",vhost=auto", 2, "vhost= and reconnect= choose vdm's route" },
		{ ",transitional", 2, "transitional is the front-end's" },
		{ ",iothread", 2, "a thread of its own already" },
		{ ",poll=never", 2, "poll must be off, auto or microseconds" },
		{ ",mq=9", 2, "at most 8 queues" },
		{ ",mq=0", 2, "mq must be a number of queues" },
		{ ",bogus=1", 2, "unknown virtio-blk option 'bogus=1'" },
		{ "/nonexistent.img", 1, "nonexistent.img" },
	};
	char out[4096], spec[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		if (cases[i].opts[0] == ',')
			snprintf(spec, sizeof(spec), "virtio-blk,%s%s", img, cases[i].opts);
		else
			snprintf(spec, sizeof(spec), "virtio-blk,%s%s", dir, cases[i].opts);
		ret = daemon_run(spec, out, sizeof(out));
		drv_check(ret == cases[i].status && strstr(out, cases[i].says) &&
				  !strchr(strchr(out, '\n') ? strchr(out, '\n') + 1 : "", '\n'),
			  "'%s': exit %d with one line (%d: %s)", spec, cases[i].status, ret, out);
	}
}

int main(void)
{
	const char *b = getenv("VDM_BUILDDIR");
	char spec[200];

	snprintf(daemon_bin, sizeof(daemon_bin), "%s/devicemodel/vdm-vhost-user", b ? b : ".");
	if (!mkdtemp(dir))
		return 99;
	snprintf(sock, sizeof(sock), "%s/blk.sock", dir);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);
	blk_image_create(img, IMG_BYTES);

	command_line();
	snprintf(spec, sizeof(spec), "virtio-blk,%s,serial=vvu-disk-1", img);
	if (drv_check(daemon_start(spec), "vdm-vhost-user serves %s", img)) {
		test_serve();
		test_front_end_killed();
		drv_check(waitpid(vvu, NULL, WNOHANG) == 0, "the daemon outlived three front-ends");
		daemon_stop("read-write");
	}
	snprintf(spec, sizeof(spec), "virtio-blk,%s", img);
	test_daemon_killed(spec);
	snprintf(spec, sizeof(spec), "virtio-blk,%s,locking=off", img);
	test_switch_away(spec, false);
	test_switch_away(spec, true);
	snprintf(spec, sizeof(spec), "virtio-blk,%s", img);
	test_back_without_inflight(spec);
	test_hold_off();
	snprintf(spec, sizeof(spec), "virtio-blk,%s,ro", img);
	if (drv_check(daemon_start(spec), "vdm-vhost-user serves %s read-only", img)) {
		test_read_only();
		daemon_stop("read-only");
	}
	int result = drv_result();
	if (result)
		peer_dump_log("vdm-vhost-user's log", log_path);
	peer_stop(&vvu, SIGKILL);
	unlink(log_path);
	unlink(img);
	unlink(sock);
	rmdir(dir);
	return result;
}
