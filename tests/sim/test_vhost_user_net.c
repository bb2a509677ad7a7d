/*
 * test_vhost_user_net.c - virtio-net with vhost=user: on the simulator,
 * served by a vhost-user back-end we did not write: DPDK's vhost PMD in
 * testpmd (tests/peers/testpmd.sh), which sends every frame back with the
 * Ethernet addresses swapped.  The test driver, as the guest, transmits
 * frames on queue 1 and must receive each of them on queue 0 with the
 * addresses swapped and the payload intact: one frame, then 300 of mixed
 * sizes (several times what the rings hold, up to 32 in flight), in order.
 * vdm still serves the function and the config space (MAC, link).  Then
 * the back-end is killed: the device needs a reset, vdm keeps running.
 * Needs root; skipped when testpmd cannot be fetched or run.
 */
#include "blk_guest.h"
#include "net_guest.h"
#include "peer.h"

#include <fcntl.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <unistd.h>

#define NET_SLOT 5
#define HDR 12 /* virtio_net_hdr_v1 */
#define BURST_FRAMES 300

static char dir[] = "/tmp/vdm-vunet-XXXXXX";
static char sock[64], pmdlog[64];
static pid_t pmd = -1;

static const uint8_t mac_a[6] = { 0x52, 0x54, 0x00, 0xaa, 0x00, 0x01 };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0x00, 0xbb, 0x00, 0x02 };

struct net {
	struct drv_virtio v;
	uint64_t rx[NET_NRX], tx[NET_NTX];
	int next_tx;
};

/* Start testpmd.sh on sock; 0 when it listens, 77 when it cannot run here. */
static int pmd_start(void)
{
	const char *src = getenv("VDM_SRCDIR");
	char script[256];

	snprintf(script, sizeof(script), "%s/tests/peers/testpmd.sh", src ? src : ".");
	pmd = peer_spawn((char *const[]){ "sh", script, sock, NULL }, pmdlog);
	/* The first run fetches DPDK (a minute at most on a slow mirror). */
	int st = peer_wait_socket(&pmd, sock, 180000);
	return st == 0 ? 0 : st == 77 && pmd < 0 ? 77 : -1;
}

/* A frame from a to b, EtherType 0x88b5, len bytes in all, its payload
 * numbered by seq. */
static void make_frame(uint8_t *f, size_t len, unsigned seq)
{
	memcpy(f, mac_b, 6);
	memcpy(f + 6, mac_a, 6);
	f[12] = 0x88, f[13] = 0xb5;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seq * 31 + i);
}

/* Queue one frame for transmission (no kick); false when the ring is full. */
static bool send_frame(struct net *n, size_t len, unsigned seq)
{
	int slot = n->next_tx;
	uint8_t *p = drv_gpa(n->v.d, n->tx[slot], NET_BUF);
	struct drv_buf out = { n->tx[slot], (uint32_t)(HDR + len) };

	memset(p, 0, HDR);
	make_frame(p + HDR, len, seq);
	if (drv_virtio_post(&n->v, 1, &out, 1, NULL, 0, false) < 0)
		return false;
	n->next_tx = (slot + 1) % NET_NTX;
	return true;
}

/* Take one received frame if there is one: 1 when it is frame seq of len
 * bytes with the addresses swapped, 0 when it is something else, -1 when
 * nothing arrived within timeout_ms.  The buffer is posted again. */
static int recv_frame(struct net *n, size_t len, unsigned seq, int timeout_ms)
{
	uint8_t want[NET_BUF];
	uint16_t id;
	uint32_t used;
	int slot, ok;

	if (drv_virtio_wait_used(&n->v, 0, &id, &used, timeout_ms) != 1)
		return -1;
	slot = net_rx_slot(&n->v, n->rx, id);
	if (slot < 0)
		return 0;
	uint8_t *b = drv_gpa(n->v.d, n->rx[slot], NET_BUF);
	make_frame(want, len, seq);
	ok = used == HDR + len && !memcmp(b + HDR, mac_a, 6) && !memcmp(b + HDR + 6, mac_b, 6) &&
	     !memcmp(b + HDR + 12, want + 12, len - 12);
	net_post_rx(&n->v, n->rx[slot]);
	drv_virtio_kick(&n->v, 0);
	return ok;
}

/* Reap transmit completions. */
static void reap_tx(struct net *n)
{
	while (drv_virtio_get_used(&n->v, 1, NULL, NULL) == 1)
		;
}

static void traffic(struct net *n)
{
	drv_check(send_frame(n, 60, 0), "one frame queued");
	drv_virtio_kick(&n->v, 1);
	drv_check(recv_frame(n, 60, 0, 5000) == 1,
		  "the frame comes back from testpmd with the addresses swapped, payload intact");
	reap_tx(n);

	/* Several ringfuls, up to 32 frames in flight: sizes 60..1514, in order. */
	int got = 0, bad = 0, sent = 0;
	while (got + bad < BURST_FRAMES) {
		while (sent < BURST_FRAMES && sent - (got + bad) < NET_NRX / 2 &&
		       send_frame(n, 60 + (size_t)(sent * 97) % 1455, (unsigned)sent + 1))
			sent++;
		drv_virtio_kick(&n->v, 1);
		int r = recv_frame(n, 60 + (size_t)((got + bad) * 97) % 1455,
				   (unsigned)(got + bad) + 1, 5000);
		if (r < 0)
			break;
		r ? got++ : bad++;
		reap_tx(n);
	}
	drv_check(got == BURST_FRAMES && bad == 0,
		  "%d frames of 60..1514 bytes: all back, in order, intact (%d good, %d wrong, "
		  "%d sent)", BURST_FRAMES, got, bad, sent);
}

int main(void)
{
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct net n = { 0 };
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	char spec[160];
	int st;

	if (geteuid() != 0) {
		printf("SKIP: needs root (DPDK's testpmd)\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 99;
	snprintf(sock, sizeof(sock), "%s/net.sock", dir);
	snprintf(pmdlog, sizeof(pmdlog), "%s/testpmd.log", dir);
	st = pmd_start();
	if (st == 77) {
		char why[200];

		printf("SKIP: DPDK's testpmd cannot be fetched or run here: %s\n",
		       peer_log_reason(pmdlog, "testpmd.sh: ", why, sizeof(why)));
		peer_dump_log("testpmd.sh", pmdlog);
		return 77;
	}
	if (!drv_check(st == 0, "testpmd listens on %s", sock))
		goto out;
	snprintf(spec, sizeof(spec), "%d,virtio-net,vhost=user:%s,mac=52:54:00:aa:00:01",
		 NET_SLOT, sock);
	if (vdm_spawn(&p, (const char *const[]){ "-s", spec, NULL }, &st)) {
		drv_check(false, "vdm starts with a vhost-user NIC (%d)", st);
		goto out;
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	struct drv_func *f = guest_func(funcs, nf, NET_SLOT);
	drv_check(f && f->device == 0x1041, "virtio-net function present");
	if (!drv_check(virtio_guest_up(&n.v, &d, funcs, nf, NET_SLOT, 16 << 20,
				       1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |
					       1ULL << VIRTIO_NET_F_MRG_RXBUF,
				       2, &mmio, &io) == 0 &&
			       !(drv_virtio_status(&n.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		       "the driver brings the NIC up on the vhost-user route"))
		goto stop;
	uint8_t mac[6];
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)drv_virtio_cfg_read(&n.v, (unsigned)i, 1);
	drv_check(!memcmp(mac, mac_a, 6) && drv_virtio_cfg_read(&n.v, 6, 2) == VIRTIO_NET_S_LINK_UP,
		  "vdm serves the config space: mac= and link up");
	net_buffers_up(&n.v, n.rx, n.tx);
	traffic(&n);

	/* The back-end dies: this device needs a reset, vdm goes on. */
	peer_stop(&pmd, SIGTERM);
	uint8_t status = 0;
	for (int i = 0; i < 100 && !(status & VIRTIO_CONFIG_S_NEEDS_RESET); i++) {
		sleep_ms(50);
		status = drv_virtio_status(&n.v);
	}
	drv_check(status & VIRTIO_CONFIG_S_NEEDS_RESET,
		  "testpmd killed: the device reports DEVICE_NEEDS_RESET");
	drv_virtio_fini(&n.v);
stop:
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
out:
	peer_stop(&pmd, SIGTERM);
	if (drv_failures())
		peer_dump_log("testpmd", pmdlog);
	unlink(pmdlog);
	unlink(sock);
	rmdir(dir);
	return drv_result();
}
