/*
 * test_virtio_net.c - virtio-net on the simulator against a real TAP in a
 * private network namespace, with Linux's own stack as the peer: the test
 * driver transmits an ARP request and an ICMP echo request and receives the
 * kernel's replies (the 4000-byte reply spread over several receive buffers
 * with MRG_RXBUF), frames injected on the TAP with a packet socket wait in
 * the TAP while the guest has no buffers and all arrive once it posts some,
 * and the control queue's receive filter and MAC commands are honoured.
 * Then the start-up errors: a missing TAP and a busy TAP.  Needs root.
 *
 * With VDM_TEST_NET_ROUTE set (e.g. "vhost=kernel", by vhost_kernel_net.sh)
 * the same traffic runs with the receive and transmit queues on that vhost
 * route; the receive filter, which vdm offers only when it sees the frames
 * itself, and the start-up errors are then left out.
 *
 * With VDM_TEST_NET_DAEMON set (by vdm_vhost_user_net.sh) the TAP is
 * vdm-vhost-user's, and vdm's NIC is routed to it (vhost=user:): the same
 * traffic, then a transmit chain too short for a frame (the daemon drops
 * the ring, logs why and goes on), then frames sent to the TAP while no
 * front-end is connected, and a second vdm on the same daemon (the TAP
 * stayed open): those frames first, in order, then the same traffic again.
 */
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"
#include "netns_tap.h"
#include "peer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define NET_SLOT 5
#define TAP "vdmtap0"
#define HDR 12 /* virtio_net_hdr_mrg_rxbuf */
#define RXBUF 1024
#define NRX 32

static const uint8_t host_ip[4] = { 10, 0, 0, 1 }, guest_ip[4] = { 10, 0, 0, 2 };
static const char *route; /* VDM_TEST_NET_ROUTE, or NULL for VBS-U */

struct net {
	struct drv d;
	struct drv_func f;  /* the driver keeps a pointer to it */
	struct drv_virtio v;
	uint8_t mac[6];
	uint64_t rx[NRX];   /* receive buffers, by head id order of posting */
	uint64_t tx;
};

static uint16_t csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void post_rx(struct net *n, int i)
{
	struct drv_buf in = { n->rx[i], RXBUF };

	drv_virtio_post(&n->v, 0, NULL, 0, &in, 1, false);
}

/* Transmit frame (Ethernet onwards) with a zero virtio-net header. */
static bool send_frame(struct net *n, const uint8_t *frame, size_t len)
{
	uint8_t *p = drv_gpa(&n->d, n->tx, HDR + len);
	struct drv_buf out = { n->tx, (uint32_t)(HDR + len) };
	uint16_t id;

	memset(p, 0, HDR);
	memcpy(p + HDR, frame, len);
	if (drv_virtio_post(&n->v, 1, &out, 1, NULL, 0, false) < 0)
		return false;
	drv_virtio_kick(&n->v, 1);
	return drv_virtio_wait_used(&n->v, 1, &id, NULL, 5000) == 1;
}

/* Which receive buffer descriptor id points at (its address in the table). */
static int rx_slot(struct net *n, uint16_t id)
{
	uint64_t addr;

	memcpy(&addr, drv_gpa(&n->d, n->v.vq[0].desc_gpa + 16ULL * id, 8), 8);
	for (int i = 0; i < NRX; i++)
		if (n->rx[i] == addr)
			return i;
	return -1;
}

/*
 * Receive one frame (possibly over several buffers) into out; returns its
 * length without the header, or -1.  *nbufs gets num_buffers.  Used buffers
 * are posted again.
 */
static int recv_frame(struct net *n, uint8_t *out, size_t max, int *nbufs, int timeout_ms)
{
	uint16_t id;
	uint32_t len;
	size_t have = 0;
	int want;

	if (drv_virtio_wait_used(&n->v, 0, &id, &len, timeout_ms) != 1)
		return -1;
	int slot = rx_slot(n, id);
	if (slot < 0 || len < HDR)
		return -1;
	uint8_t *b = drv_gpa(&n->d, n->rx[slot], RXBUF);
	want = b[10] | b[11] << 8;
	*nbufs = want;
	memcpy(out, b + HDR, len - HDR < max ? len - HDR : max);
	have = len - HDR;
	post_rx(n, slot);
	for (int k = 1; k < want; k++) {
		if (drv_virtio_wait_used(&n->v, 0, &id, &len, timeout_ms) != 1)
			return -1;
		slot = rx_slot(n, id);
		if (slot < 0)
			return -1;
		b = drv_gpa(&n->d, n->rx[slot], RXBUF);
		if (have + len <= max)
			memcpy(out + have, b, len);
		have += len;
		post_rx(n, slot);
	}
	drv_virtio_kick(&n->v, 0);
	return (int)have;
}

static bool setup(struct net *n, const char *sock)
{
	struct drv_func funcs[8], *f = &n->f;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int cnt;

	drv_connect(&n->d, sock);
	cnt = drv_enumerate(&n->d, funcs, 8);
	for (int i = 0; i < cnt; i++)
		if (funcs[i].bdf == hsm_bdf(0, NET_SLOT, 0))
			*f = funcs[i];
	drv_check(f->vendor == 0x1af4 && f->device == 0x1041 && f->class_code == 0x020000,
		  "virtio-net enumerates as 1af4:1041, class Ethernet controller");
	drv_assign_bars(&n->d, f, &mmio, &io);
	if (drv_virtio_probe(&n->v, &n->d, f, 16 << 20))
		return false;
	uint64_t offered = drv_virtio_device_features(&n->v);
	drv_check((offered & (1ULL << VIRTIO_NET_F_MAC)) && (offered & (1ULL << VIRTIO_NET_F_STATUS)) &&
			  (offered & (1ULL << VIRTIO_NET_F_MRG_RXBUF)) &&
			  (offered & (1ULL << VIRTIO_NET_F_CTRL_VQ)) &&
			  !(offered & (1ULL << VIRTIO_NET_F_CTRL_RX)) == !!route,
		  "offers MAC, STATUS, MRG_RXBUF, CTRL_VQ, %s", route ? "no CTRL_RX" : "CTRL_RX");
	drv_check(!(offered & (1ULL << VIRTIO_NET_F_CTRL_VLAN)) &&
			  !(offered & (1ULL << VIRTIO_NET_F_MQ)) &&
			  !(offered & (1ULL << VIRTIO_NET_F_GUEST_UFO)),
		  "does not offer what it does not do (VLAN filter, MQ, UFO)");
	if (drv_virtio_negotiate(&n->v, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_NET_F_MAC |
						 1ULL << VIRTIO_NET_F_STATUS |
						 1ULL << VIRTIO_NET_F_MRG_RXBUF |
						 1ULL << VIRTIO_NET_F_CTRL_VQ |
						 1ULL << VIRTIO_NET_F_CTRL_RX |
						 1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR) ||
	    drv_virtio_setup_irq(&n->v, true) || drv_virtio_setup_vq(&n->v, 0, 0) ||
	    drv_virtio_setup_vq(&n->v, 1, 0) || drv_virtio_setup_vq(&n->v, 2, 0))
		return false;
	for (int i = 0; i < 6; i++)
		n->mac[i] = (uint8_t)drv_virtio_cfg_read(&n->v, (unsigned)i, 1);
	drv_check(n->mac[0] == 0x02, "config MAC is locally administered unicast (%02x:%02x:...)",
		  n->mac[0], n->mac[1]);
	drv_check(drv_virtio_cfg_read(&n->v, 6, 2) == VIRTIO_NET_S_LINK_UP, "link is up");
	drv_virtio_driver_ok(&n->v);
	for (int i = 0; i < NRX; i++)
		n->rx[i] = drv_virtio_alloc(&n->v, RXBUF, 64);
	n->tx = drv_virtio_alloc(&n->v, 16384, 64);
	return true;
}

static size_t arp_request(const struct net *n, uint8_t *f)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, n->mac, 6);
	f[12] = 0x08, f[13] = 0x06;
	static const uint8_t fixed[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	memcpy(f + 14, fixed, 8);
	memcpy(f + 22, n->mac, 6);
	memcpy(f + 28, guest_ip, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, host_ip, 4);
	return 42;
}

static size_t echo_request(const struct net *n, const uint8_t *host_mac, uint8_t *f, size_t payload)
{
	uint8_t *ip = f + 14, *icmp = ip + 20;
	size_t iplen = 20 + 8 + payload;

	memcpy(f, host_mac, 6);
	memcpy(f + 6, n->mac, 6);
	f[12] = 0x08, f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen;
	ip[8] = 64, ip[9] = 1;
	memcpy(ip + 12, guest_ip, 4);
	memcpy(ip + 16, host_ip, 4);
	uint16_t c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	icmp[0] = 8, icmp[1] = 0, icmp[2] = icmp[3] = 0;
	icmp[4] = 0x12, icmp[5] = 0x34, icmp[6] = 0, icmp[7] = 1;
	for (size_t i = 0; i < payload; i++)
		icmp[8 + i] = (uint8_t)(i * 7 + 3);
	c = csum(icmp, 8 + payload);
	icmp[2] = (uint8_t)(c >> 8), icmp[3] = (uint8_t)c;
	return 14 + iplen;
}

static int packet_socket(void)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(0x0003),
				   .sll_ifindex = (int)if_nametoindex(TAP) };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x0003));

	if (s >= 0 && bind(s, (struct sockaddr *)&sll, sizeof(sll))) {
		close(s);
		s = -1;
	}
	return s;
}

/* A frame on the TAP's wire, towards the guest. */
static void inject(int ps, const uint8_t *dst, const uint8_t *src, uint8_t tag)
{
	uint8_t f[60] = { 0 };

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88, f[13] = 0xb5; /* local experimental ethertype */
	f[14] = tag;
	send(ps, f, sizeof(f), 0);
}

static uint8_t ctrl(struct net *n, uint8_t cls, uint8_t cmd, const void *data, size_t len)
{
	uint64_t g = drv_virtio_alloc(&n->v, 2 + len + 1, 8);
	uint8_t *p = drv_gpa(&n->d, g, 2 + len + 1);
	struct drv_buf out = { g, (uint32_t)(2 + len) }, in = { g + 2 + len, 1 };

	p[0] = cls, p[1] = cmd;
	memcpy(p + 2, data, len);
	p[2 + len] = 0xaa;
	drv_virtio_post(&n->v, 2, &out, 1, &in, 1, false);
	drv_virtio_kick(&n->v, 2);
	if (drv_virtio_wait_used(&n->v, 2, NULL, NULL, 5000) != 1)
		return 0xee;
	return p[2 + len];
}

/* The control queue's receive filter, seen from the TAP side. */
static void rx_filter(struct net *n, int ps, const uint8_t *host_mac)
{
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	uint8_t got[9000];
	int nb, len;

	/* Receive filter: promiscuous off drops frames for other stations. */
	uint8_t off = 0;
	drv_check(ctrl(n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1) == VIRTIO_NET_OK,
		  "PROMISC off is acknowledged");
	inject(ps, other, host_mac, 0x11);
	inject(ps, n->mac, host_mac, 0x12);
	len = recv_frame(n, got, sizeof(got), &nb, 3000);
	drv_check(len > 14 && got[14] == 0x12, "filter: a frame for another MAC is not delivered, "
					       "ours is (tag %02x)", len > 14 ? got[14] : 0);
	uint8_t table[4 + 6 + 4] = { 1, 0, 0, 0 };
	memcpy(table + 4, other, 6);
	drv_check(ctrl(n, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, sizeof(table)) ==
			  VIRTIO_NET_OK,
		  "MAC table with one unicast entry is acknowledged");
	inject(ps, other, host_mac, 0x13);
	len = recv_frame(n, got, sizeof(got), &nb, 3000);
	drv_check(len > 14 && got[14] == 0x13, "filter: a MAC in the table is delivered");
	drv_check(ctrl(n, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 7) ==
			  VIRTIO_NET_ERR,
		  "a truncated MAC table is answered ERR");
	drv_check(ctrl(n, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, "\1\0", 2) ==
			  VIRTIO_NET_ERR,
		  "VLAN commands (not offered) are answered ERR");
}

/* Frames put on the TAP while no front-end had the daemon (tags 0x60..):
 * they waited in the TAP and must be the first the next guest gets. */
static int waited_frames;

static void traffic(struct net *n, int ps)
{
	uint8_t f[9000], got[9000], host_mac[6];
	int nb, len;

	for (int i = 0; i < NRX; i++)
		post_rx(n, i);
	drv_virtio_kick(&n->v, 0);
	if (waited_frames) {
		int arrived = 0;

		while (arrived < waited_frames &&
		       (len = recv_frame(n, got, sizeof(got), &nb, 3000)) >= 15) {
			if (got[12] != 0x88 || got[13] != 0xb5)
				continue; /* the kernel's own */
			if (got[14] != 0x60 + arrived)
				break;
			arrived++;
		}
		drv_check(arrived == waited_frames,
			  "the %d frames sent while no front-end had the daemon waited in the TAP "
			  "and arrive first, in order (%d)", waited_frames, arrived);
	}

	/* ARP: the kernel answers who-has 10.0.0.1. */
	drv_check(send_frame(n, f, arp_request(n, f)), "ARP request transmitted");
	do /* skip anything else the kernel may send */
		len = recv_frame(n, got, sizeof(got), &nb, 5000);
	while (len > 0 && !(got[12] == 0x08 && got[13] == 0x06));
	drv_check(len >= 42 && got[12] == 0x08 && got[13] == 0x06 && got[21] == 2 &&
			  !memcmp(got, n->mac, 6) && !memcmp(got + 28, host_ip, 4),
		  "the kernel's ARP reply arrives (len %d)", len);
	memcpy(host_mac, got + 6, 6);

	/* A 4000-byte echo: the reply spans several 1 KiB receive buffers. */
	size_t flen = echo_request(n, host_mac, f, 4000);
	drv_check(send_frame(n, f, flen), "4042-byte ICMP echo request transmitted");
	do
		len = recv_frame(n, got, sizeof(got), &nb, 5000);
	while (len > 0 && !(got[12] == 0x08 && got[13] == 0 && got[23] == 1));
	drv_check(len == (int)flen && got[34] == 0 && !memcmp(got + 42, f + 42, 4000),
		  "echo reply of %d bytes carries our 4000-byte payload back", len);
	drv_check(nb == (int)((len + HDR + RXBUF - 1) / RXBUF),
		  "MRG_RXBUF: the reply came in %d buffers (num_buffers)", nb);

	/* Frames that arrive while the guest has no buffers wait in the TAP. */
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	int used = 0;
	while (drv_virtio_get_used(&n->v, 0, NULL, NULL) == 1)
		used++;
	/* Take back every buffer: reset the receive queue's view by posting
	 * none and consuming all that are out, via inject + receive. */
	for (int i = 0; i < NRX; i++)
		inject(ps, n->mac, other, (uint8_t)(0x40 + i));
	int seen = 0;
	for (int i = 0; i < NRX; i++) {
		uint16_t id;
		uint32_t l;

		if (drv_virtio_wait_used(&n->v, 0, &id, &l, 3000) != 1)
			break;
		seen++;
	}
	drv_check(seen == NRX, "%d injected frames fill the %d posted buffers", seen, NRX);
	/* Now the ring is empty: inject 8 more, wait, then post buffers. */
	for (int i = 0; i < 8; i++)
		inject(ps, n->mac, other, (uint8_t)(0x80 + i));
	usleep(300 * 1000);
	drv_check(drv_virtio_get_used(&n->v, 0, NULL, NULL) == 0,
		  "no buffers: nothing is delivered (and nothing spins)");
	for (int i = 0; i < NRX; i++)
		post_rx(n, i);
	drv_virtio_kick(&n->v, 0);
	bool in_order = true;
	int arrived = 0;
	for (int i = 0; i < 8; i++) {
		if (recv_frame(n, got, sizeof(got), &nb, 3000) < 15)
			break;
		in_order = in_order && got[14] == 0x80 + i;
		arrived++;
	}
	drv_check(arrived == 8 && in_order, "after posting, all 8 waiting frames arrive in order (%d)",
		  arrived);

	if (!route) /* vdm offers a receive filter only when it sees the frames */
		rx_filter(n, ps, host_mac);
	static const uint8_t newmac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	drv_check(ctrl(n, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, newmac, 6) ==
			  VIRTIO_NET_OK &&
			  drv_virtio_cfg_read(&n->v, 5, 1) == 0x55,
		  "MAC_ADDR_SET is acknowledged and shows in config space");

	/* Transmit: the frame the guest sends appears on the TAP unchanged. */
	uint8_t rx[2048];
	struct pollfd pfd = { .fd = ps, .events = POLLIN };
	while (poll(&pfd, 1, 0) == 1)
		recv(ps, rx, sizeof(rx), 0);
	memset(f, 0, 100);
	memcpy(f, host_mac, 6);
	memcpy(f + 6, newmac, 6);
	f[12] = 0x88, f[13] = 0xb5;
	memcpy(f + 14, "frame-from-the-guest", 20);
	send_frame(n, f, 100);
	bool found = false;
	while (!found && poll(&pfd, 1, 2000) == 1) {
		ssize_t r = recv(ps, rx, sizeof(rx), 0);

		found = r == 100 && !memcmp(rx, f, 100);
	}
	drv_check(found, "a transmitted frame appears on the TAP byte for byte");
	(void)used;
}

static void start_errors(void)
{
	char out[512];
	int st;

	st = vdm_run((const char *const[]){ "--hsm", "sim", "-s", "5,virtio-net,tap=vdmnosuch", NULL },
		     out, sizeof(out));
	drv_check(st == 1 && strstr(out, "tap=vdmnosuch: no such network interface"),
		  "a missing TAP is a one-line start-up error (%d: %s)", st, out);
	int fd = open("/dev/net/tun", O_RDWR);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP);
	ioctl(fd, TUNSETIFF, &ifr);
	st = vdm_run((const char *const[]){ "--hsm", "sim", "-s", "5,virtio-net,tap=" TAP, NULL },
		     out, sizeof(out));
	drv_check(st == 1 && strstr(out, "busy"), "a busy TAP is a one-line start-up error (%d: %s)",
		  st, out);
	close(fd);
	st = vdm_run((const char *const[]){ "--hsm", "sim", "-s", "5,virtio-net,tap=lo", NULL }, out,
		     sizeof(out));
	drv_check(st == 1 && strstr(out, "not a TAP"), "a non-TAP interface is refused (%d: %s)", st,
		  out);
}

/* A transmit chain holding only a virtio-net header (no Ethernet header):
 * a back-end must refuse it without touching anything else. */
static void short_tx_chain(struct net *n)
{
	uint8_t *p = drv_gpa(&n->d, n->tx, HDR);
	struct drv_buf out = { n->tx, HDR };

	memset(p, 0, HDR);
	drv_virtio_post(&n->v, 1, &out, 1, NULL, 0, false);
	drv_virtio_kick(&n->v, 1);
}

/* vdm-vhost-user with the TAP, on sock; its pid, or -1. */
static pid_t daemon_start(const char *sock, const char *log)
{
	const char *b = getenv("VDM_BUILDDIR");
	char bin[256];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/devicemodel/vdm-vhost-user", b ? b : ".");
	pid = peer_spawn((char *const[]){ bin, "--socket", (char *)sock, "virtio-net,tap=" TAP,
					  NULL }, log);
	if (peer_wait_socket(&pid, sock, 10000)) {
		peer_stop(&pid, SIGKILL);
		return -1;
	}
	return pid;
}

/* One vdm with the NIC, set up, its traffic run; round 1 of 2 with the daemon. */
static void vdm_round(const char *spec, int ps, pid_t daemon, const char *dlog, int round)
{
	struct vdm_proc p;
	struct net n;
	int st;

	memset(&n, 0, sizeof(n));
	if (vdm_spawn(&p, (const char *const[]){ "-s", spec, NULL }, &st)) {
		drv_check(false, "vdm starts (exit %d)", st);
		return;
	}
	if (drv_check(setup(&n, p.sock), "virtio-net set up%s",
		      round > 1 ? " (a second vdm, the same daemon)" : "") &&
	    drv_check(ps >= 0, "packet socket")) {
		traffic(&n, ps);
		if (daemon > 0 && round == 1) {
			short_tx_chain(&n);
			bool logged = false;
			for (int i = 0; i < 100 && !logged; i++) {
				sleep_ms(20);
				logged = peer_log_has(dlog, "ring 1: the driver broke it");
			}
			drv_check(logged && kill(daemon, 0) == 0,
				  "a transmit chain shorter than a frame: the daemon logs the broken "
				  "ring and goes on");
		}
	}
	drv_virtio_fini(&n.v);
	drv_disconnect(&n.d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
}

int main(void)
{
	static char dir[] = "/tmp/vdm-vvunet-XXXXXX";
	char spec[160], sock[64] = "", dlog[64] = "";
	pid_t daemon = -1;
	int ps, rounds = 1;

	if (!netns_tap(TAP, 9000, "10.0.0.1/24")) {
		printf("SKIP: needs root, /dev/net/tun and ip(8) to make a TAP in a namespace\n");
		return 77;
	}
	ps = packet_socket();
	route = getenv("VDM_TEST_NET_ROUTE");
	if (getenv("VDM_TEST_NET_DAEMON")) {
		static char user_route[80];

		if (!mkdtemp(dir))
			return 99;
		snprintf(sock, sizeof(sock), "%s/net.sock", dir);
		snprintf(dlog, sizeof(dlog), "%s/daemon.log", dir);
		daemon = daemon_start(sock, dlog);
		if (!drv_check(daemon > 0, "vdm-vhost-user serves the TAP on %s", sock)) {
			peer_dump_log("vdm-vhost-user", dlog);
			return drv_result();
		}
		snprintf(user_route, sizeof(user_route), "vhost=user:%s", sock);
		route = user_route;
		snprintf(spec, sizeof(spec), "5,virtio-net,%s", route);
		rounds = 2;
	} else
		snprintf(spec, sizeof(spec), "5,virtio-net,tap=" TAP "%s%s", route ? "," : "",
			 route ? route : "");
	for (int round = 1; round <= rounds; round++) {
		if (round > 1) {
			static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
			static const uint8_t from[6] = { 0x02, 0, 0, 0, 0, 0x77 };

			waited_frames = 4;
			for (int i = 0; i < waited_frames; i++)
				inject(ps, bcast, from, (uint8_t)(0x60 + i));
		}
		vdm_round(spec, ps, daemon, dlog, round);
	}
	if (daemon > 0) {
		int st;

		kill(daemon, SIGTERM);
		waitpid(daemon, &st, 0);
		drv_check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "vdm-vhost-user exits with 0 on SIGTERM");
		drv_check(!peer_log_has(dlog, "front-end dropped") &&
				  peer_log_has(dlog, "the front-end disconnected"),
			  "both vdms left the daemon by disconnecting, none was dropped");
		if (drv_failures())
			peer_dump_log("vdm-vhost-user", dlog);
		unlink(dlog);
		rmdir(dir);
	}
	if (!route)
		start_errors();
	return drv_result();
}
