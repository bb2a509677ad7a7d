/*
 * test_route_faults.c - set-route when the other end fails: vdm must live,
 * never hang, and the device must keep serving on its old route or, when
 * that is impossible, say DEVICE_NEEDS_RESET with the reason.
 *
 * A virtio-rnd on VBS-U (EVENT_IDX negotiated) is switched towards
 * vu-fault-peer, a vhost-user back-end that fails on cue: a socket that is
 * not there; a back-end lacking a feature the driver negotiated; one killed
 * as the switch begins (at GET_FEATURES), and one killed while it is being
 * started (at SET_VRING_KICK); one that stops answering.  Each switch is
 * refused with a reason naming the fault, and the device still serves
 * entropy on VBS-U.  Then the device is moved onto the peer (which serves
 * nothing) and back while the peer is killed at GET_VRING_BASE: with
 * nothing posted meanwhile the rings go back to VBS-U and it serves; with a
 * request the peer took and never completed, the device says
 * DEVICE_NEEDS_RESET (so does the reply), and the guest's reset brings it
 * back on VBS-U.  Last, from that peer to a second one that completes one
 * of two waiting requests and dies while started: a reset, after which the
 * first peer has the device again.  An alarm fails the test if vdm ever
 * hangs it.
 */
#include "api_client.h"
#include "blk_guest.h"
#include "peer.h"

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define SLOT 4
#define GET_FEATURES 1
#define GET_VRING_BASE 11
#define SET_VRING_KICK 12

static char dir[] = "/tmp/vdm-routefault-XXXXXX", api_sock[96], peer_sock[96], peer_log[96],
	    vdm_log[96];
static char peer_bin[512], reply[4096];
static pid_t peer = -1;
static struct drv d;
static struct drv_func funcs[8];
static int nf;
static struct drv_virtio v;
static uint64_t mmio = 0xc0000000;
static uint32_t io = 0xc000;

/* VERSION_1, INDIRECT_DESC, EVENT_IDX: what VBS-U's virtio-rnd offers. */
#define ALL_FEATURES "0x130000000"
#define NO_EVENT_IDX "0x110000000"

/* Whether the file at path has a line containing what. */
static bool grep_file(const char *path, const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return found;
}

static void peer_start(const char *features, const char *how, int request)
{
	char req[16];

	peer_stop(&peer, SIGKILL);
	snprintf(req, sizeof(req), "%d", request);
	unlink(peer_sock);
	peer = peer_spawn((char *const[]){ peer_bin, peer_sock, (char *)features, (char *)how, req,
					   NULL },
			  peer_log);
	if (peer_wait_socket(&peer, peer_sock, 5000))
		drv_check(false, "vu-fault-peer starts");
}

static bool switch_to(const char *route)
{
	return api_set_route(api_sock, SLOT, route, reply, sizeof(reply));
}

static bool to_peer(void)
{
	char route[160];

	snprintf(route, sizeof(route), "vhost-user:%s", peer_sock);
	return switch_to(route);
}

static bool on_route(const char *prefix)
{
	char r[8192], needle[64];

	snprintf(needle, sizeof(needle), "\"route\":\"%s", prefix);
	return api_call(api_sock, "{\"execute\": \"query-devices\"}", r, sizeof(r)) &&
	       strstr(r, needle);
}

/* The device serves on VBS-U and does not need a reset. */
static bool serves_on_vbsu(void)
{
	return !(drv_virtio_status(&v) & VIRTIO_CONFIG_S_NEEDS_RESET) && on_route("vbs-u\"") &&
	       rnd_guest_serves(&v);
}

static bool guest_up(void)
{
	return drv_virtio_negotiate(&v, 1ULL << VIRTIO_F_VERSION_1 |
						1ULL << VIRTIO_RING_F_EVENT_IDX) == 0 &&
	       drv_virtio_setup_irq(&v, true) == 0 && drv_virtio_setup_vq(&v, 0, 0) == 0 &&
	       (drv_virtio_driver_ok(&v), true);
}

int main(void)
{
	const char *b = getenv("VDM_BUILDDIR");
	struct vdm_proc p;
	char route[160];
	int st;

	alarm(180); /* a hang anywhere below fails the test */
	snprintf(peer_bin, sizeof(peer_bin), "%s/tests/sim/vu-fault-peer", b ? b : ".");
	if (!mkdtemp(dir))
		return 99;
	snprintf(api_sock, sizeof(api_sock), "%s/api.sock", dir);
	snprintf(peer_sock, sizeof(peer_sock), "%s/peer.sock", dir);
	snprintf(peer_log, sizeof(peer_log), "%s/peer.log", dir);
	snprintf(vdm_log, sizeof(vdm_log), "%s/vdm.log", dir);
	if (vdm_spawn(&p, (const char *const[]){ "--api-socket", api_sock, "--log-file", vdm_log,
						 "-s", "4,virtio-rnd", NULL },
		      &st)) {
		drv_check(false, "vdm starts (%d)", st);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	nf = drv_enumerate(&d, funcs, 8);
	struct drv_func *f = guest_func(funcs, nf, SLOT);
	if (!drv_check(f, "virtio-rnd present"))
		goto stop;
	drv_assign_bars(&d, f, &mmio, &io);
	if (!drv_check(drv_virtio_probe(&v, &d, f, 16 << 20) == 0 && guest_up(),
		       "virtio-rnd up on VBS-U with EVENT_IDX"))
		goto stop;
	v.irq_grace_ms = 0;

	/* Refusals before anything moves. */
	snprintf(route, sizeof(route), "vhost-user:%s/absent.sock", dir);
	drv_check(!switch_to(route) && strstr(reply, "absent.sock"),
		  "target socket absent: refused, naming it: %s", reply);
	drv_check(serves_on_vbsu(), "... the device still serves on VBS-U");

	peer_start(NO_EVENT_IDX, "die", 0);
	drv_check(!to_peer() && strstr(reply, "EVENT_IDX"),
		  "back-end lacking a negotiated feature: refused, naming it: %s", reply);
	drv_check(serves_on_vbsu(), "... the device still serves on VBS-U");

	peer_start(ALL_FEATURES, "die", GET_FEATURES);
	drv_check(!to_peer(), "back-end killed as the switch begins (GET_FEATURES): refused: %s",
		  reply);
	drv_check(serves_on_vbsu(), "... the device still serves on VBS-U");

	peer_start(ALL_FEATURES, "die", SET_VRING_KICK);
	drv_check(!to_peer() && strstr(reply, "stays on vbs-u"),
		  "back-end killed while being started (SET_VRING_KICK): refused, the device "
		  "stays on VBS-U: %s", reply);
	drv_check(serves_on_vbsu(), "... and it serves there");

	peer_start(ALL_FEATURES, "hang", GET_FEATURES);
	drv_check(!to_peer(), "back-end that stops answering: refused once its reply is overdue: "
		  "%s", reply);
	drv_check(serves_on_vbsu(), "... the device still serves on VBS-U");

	/* Leaving a back-end that dies when asked for its ring bases. */
	peer_start(ALL_FEATURES, "die", GET_VRING_BASE);
	drv_check(to_peer() && on_route("vhost-user:"), "the device moves onto the peer: %s",
		  reply);
	drv_check(switch_to("vbs-u"), "back-end killed at GET_VRING_BASE holding nothing: the "
		  "switch back to VBS-U completes: %s", reply);
	drv_check(serves_on_vbsu(), "... and the device serves there");

	peer_start(ALL_FEATURES, "die", GET_VRING_BASE);
	drv_check(to_peer(), "onto the peer again: %s", reply);
	uint64_t buf = drv_virtio_alloc(&v, 64, 64);
	struct drv_buf in = { buf, 64 };
	drv_virtio_post(&v, 0, NULL, 0, &in, 1, false);
	drv_virtio_kick(&v, 0); /* the peer takes it and never answers */
	drv_check(!switch_to("vbs-u") && strstr(reply, "needs a reset") &&
			  strstr(reply, "1 request"),
		  "back-end killed at GET_VRING_BASE holding a request: the reply says the "
		  "device needs a reset: %s", reply);
	drv_check(drv_virtio_status(&v) & VIRTIO_CONFIG_S_NEEDS_RESET,
		  "... the device says DEVICE_NEEDS_RESET");
	drv_check(api_call(api_sock, "{\"execute\": \"query-devices\"}", reply, sizeof(reply)),
		  "... vdm lives and answers");
	drv_virtio_set_status(&v, 0);
	drv_check(guest_up() && serves_on_vbsu(), "the guest's reset brings it back on VBS-U");
	drv_check(grep_file(vdm_log, "died during a route switch holding 1 request"),
		  "vdm's log says why the device needed a reset");

	/* From one vhost-user back-end to another that completes one of the
	 * two requests waiting and dies while it is started: no owner can go
	 * on from such rings, so the device needs a reset, after which the
	 * old back-end (stopped cleanly) has it again. */
	char peer2_sock[120], peer2_log[120], route2[160];
	pid_t peer2;
	snprintf(peer2_sock, sizeof(peer2_sock), "%s/peer2.sock", dir);
	snprintf(peer2_log, sizeof(peer2_log), "%s/peer2.log", dir);
	peer_start(ALL_FEATURES, "die", 0);
	drv_check(to_peer(), "onto a peer that serves nothing: %s", reply);
	for (int i = 0; i < 2; i++)
		drv_virtio_post(&v, 0, NULL, 0, &in, 1, false);
	drv_virtio_kick(&v, 0);
	peer2 = peer_spawn((char *const[]){ peer_bin, peer2_sock, ALL_FEATURES, "complete1", "12",
					    NULL },
			   peer2_log);
	drv_check(peer_wait_socket(&peer2, peer2_sock, 5000) == 0, "a second peer starts");
	snprintf(route2, sizeof(route2), "vhost-user:%s", peer2_sock);
	drv_check(!switch_to(route2) && strstr(reply, "completing part") &&
			  strstr(reply, "needs a reset") && strstr(reply, "peer.sock serves it"),
		  "a new back-end that completes 1 of 2 requests and dies while started: the "
		  "reply says the device needs a reset, then the old one serves: %s", reply);
	drv_check(drv_virtio_status(&v) & VIRTIO_CONFIG_S_NEEDS_RESET,
		  "... the device says DEVICE_NEEDS_RESET");
	drv_virtio_set_status(&v, 0);
	drv_check(guest_up() && !(drv_virtio_status(&v) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
			  on_route("vhost-user:"),
		  "the guest's reset brings it back on the first peer");
	drv_check(switch_to("vbs-u") && serves_on_vbsu(), "and from there to VBS-U, serving: %s",
		  reply);
	peer_stop(&peer2, SIGKILL);
	if (drv_failures())
		peer_dump_log("vu-fault-peer (second)", peer2_log);
	unlink(peer2_log);
	unlink(peer2_sock);
	drv_virtio_fini(&v);
stop:
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
	peer_stop(&peer, SIGKILL);
	if (drv_failures()) {
		peer_dump_log("vu-fault-peer", peer_log);
		peer_dump_log("vdm", vdm_log);
	}
	unlink(peer_log);
	unlink(vdm_log);
	unlink(peer_sock);
	rmdir(dir);
	return drv_result();
}
