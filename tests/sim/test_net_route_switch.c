/*
 * test_net_route_switch.c - moving a running virtio-net between VBS-U (its
 * TAP) and a vhost-user back-end we did not write (DPDK's vhost PMD in
 * testpmd, forwarding to a TAP of DPDK's own) through the management API,
 * while the driver pings the host.
 *
 * In a network namespace of the test's own, vdm's TAP and testpmd's TAP
 * are ports of one Linux bridge that holds the host's address (10.0.7.1):
 * whichever route carries the NIC's frames, they reach the same host and
 * the bridge learns the guest's MAC on the port it last came from.  The
 * test driver, as the guest (10.0.7.2), sends ICMP echo requests with
 * numbered payloads of 8..1407 bytes and checks each reply (identifier,
 * sequence, payload); a second thread switches the route 20 times, each
 * time only after replies came back on the route before.  The checks:
 * every switch returns, traffic flows again after each one, no reply is
 * corrupt, no transmit buffer is lost, at most one ping per switch goes
 * unanswered (a frame on the wire to the port being left), the control
 * queue answers on the vhost route, the device never needs a reset, and
 * query-stats counts 20 switches.  Then a Linux TCP stack is put behind the
 * NIC (a TAP in a namespace of its own, its frames relayed by the driver) and
 * streams to the host, checked byte for byte, across 20 more switches (and
 * 1 MiB after the last).
 * Then the guest's offer of HOST_TSO4/6, which testpmd (tso=0) lacks, is
 * tried on a second NIC: the switch is refused naming them, and that NIC
 * keeps serving on VBS-U.  A third NIC, started on a vhost-user back-end
 * with a TAP for VBS-U, is offered only what both serve and moves to VBS-U.
 * Needs root; skipped when testpmd cannot be fetched or run.
 *
 * With VDM_TEST_SWITCH_TO=vhost-kernel (tests/sim/vhost_kernel_switch.sh,
 * and inside the test guest: tests/guest/vhost_kernel.sh) the other route
 * is kernel vhost-net on the NIC's own TAP, which then holds the host's
 * address itself (no bridge, no testpmd; busybox's ip(8) is enough), and
 * the refused feature is not tried (vhost-net passes the TAP's offloads).
 */
#include "api_client.h"
#include "blk_guest.h"
#include "net_guest.h"
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define SLOT 5
#define SLOT_TSO 6
#define SLOT_USER 7
#define SWITCHES 20
#define PINGS_PER_ROUTE 20
#define HDR 12 /* virtio_net_hdr_v1 */

static char dir[] = "/tmp/vdm-netswitch-XXXXXX";
static char api_sock[96], pmd_sock[96], pmdlog[96], vdmlog[96];
static char other_route[160]; /* "vhost-user:SOCK" or "vhost-kernel" */
static char peer_sock[96];     /* vu-fault-peer, where the third NIC starts */
static bool kernel_mode;
static pid_t pmd = -1, peer = -1;
static const uint8_t mac_guest[6] = { 0x52, 0x54, 0x00, 0xaa, 0x07, 0x02 };
static uint8_t mac_host[6];

static atomic_int replies;             /* echo replies checked good so far */
static atomic_bool switching_done;
static int switch_failures, stalls;
static char first_failure[512];

struct net {
	struct drv_virtio v;
	uint64_t rx[NET_NRX], tx[NET_NTX];
	int next_tx, tx_posted, tx_used;
};

static bool sh(const char *cmd)
{
	return system(cmd) == 0;
}

/* A persistent TAP called name (ioctls: busybox has no `ip tuntap`). */
static bool make_tap(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	bool ok;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	ok = fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0 && ioctl(fd, TUNSETPERSIST, 1) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The namespace, vdm's TAPs and the host's side (the bridge, or in kernel
 * mode the NIC's TAP); false if a step fails. */
static bool make_network(void)
{
	const char *host_if = kernel_mode ? "vdmsw0" : "br0";

	if (unshare(CLONE_NEWNET) ||
	    !sh("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && "
		"echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && ip link set lo up") ||
	    !make_tap("vdmsw0") || !make_tap("vdmsw1") || !make_tap("vdmsw2") ||
	    !sh("ip link set vdmsw1 up && ip link set vdmsw2 up"))
		return false;
	if (kernel_mode ? !sh("ip link set vdmsw0 up && ip addr add 10.0.7.1/24 dev vdmsw0")
			/* A bridge address of its own: one taken from a port
			 * would change as ports join. */
			: !sh("ip link add br0 address 02:00:00:00:07:01 type bridge && "
			      "ip link set br0 up && ip addr add 10.0.7.1/24 dev br0 && "
			      "ip link set vdmsw0 master br0 up"))
		return false;
	/* (/sys shows the host's namespace: ask the kernel.) */
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", host_if);
	ok = fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0;
	if (fd >= 0)
		close(fd);
	memcpy(mac_host, ifr.ifr_hwaddr.sa_data, 6);
	return ok;
}

/* testpmd on pmd_sock with its TAP pmdsw0 on the bridge: 0, 77 (cannot run
 * here), -1. */
static int pmd_start(const char *script)
{
	int st;

	pmd = peer_spawn((char *const[]){ "sh", (char *)script, pmd_sock, "pmdsw0", NULL }, pmdlog);
	st = peer_wait_socket(&pmd, pmd_sock, 180000);
	if (st)
		return st == 77 && pmd < 0 ? 77 : -1;
	for (int i = 0; i < 100; i++) {
		if (sh("ip link set pmdsw0 master br0 up 2>/dev/null"))
			return 0;
		sleep_ms(100);
	}
	return -1;
}

static uint16_t ip_sum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)(p[len - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static size_t payload_len(unsigned seq)
{
	return 8 + (seq * 211) % 1400;
}

static uint8_t payload_byte(unsigned seq, size_t i)
{
	return (uint8_t)(seq * 7 + i * 13);
}

/* An echo request from the guest to the host, frame at f; its length. */
static size_t make_ping(uint8_t *f, unsigned seq)
{
	size_t plen = payload_len(seq), ilen = 8 + plen, tot = 20 + ilen;
	uint8_t *ip = f + 14, *icmp = ip + 20;

	memcpy(f, mac_host, 6);
	memcpy(f + 6, mac_guest, 6);
	f[12] = 0x08, f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
	ip[4] = (uint8_t)(seq >> 8), ip[5] = (uint8_t)seq;
	ip[6] = 0x40; /* DF */
	ip[8] = 64, ip[9] = 1;
	memcpy(ip + 12, (uint8_t[]){ 10, 0, 7, 2, 10, 0, 7, 1 }, 8);
	uint16_t s = ip_sum(ip, 20);
	ip[10] = (uint8_t)(s >> 8), ip[11] = (uint8_t)s;
	memset(icmp, 0, 8);
	icmp[0] = 8;
	icmp[4] = 0x76, icmp[5] = 0x64; /* identifier */
	icmp[6] = (uint8_t)(seq >> 8), icmp[7] = (uint8_t)seq;
	for (size_t i = 0; i < plen; i++)
		icmp[8 + i] = payload_byte(seq, i);
	s = ip_sum(icmp, ilen);
	icmp[2] = (uint8_t)(s >> 8), icmp[3] = (uint8_t)s;
	return 14 + tot;
}

/* The host asks who has 10.0.7.2: an ARP reply from the guest, at f; its
 * length, or 0 when f is no such question. */
static size_t arp_answer(const uint8_t *q, size_t len, uint8_t *f)
{
	static const uint8_t guest_ip[4] = { 10, 0, 7, 2 };

	if (len < 42 || q[12] != 0x08 || q[13] != 0x06 || q[20] != 0 || q[21] != 1 ||
	    memcmp(q + 38, guest_ip, 4))
		return 0;
	memcpy(f, q + 6, 6);
	memcpy(f + 6, mac_guest, 6);
	memcpy(f + 12, q + 12, 8); /* type, hardware and protocol, sizes */
	f[20] = 0, f[21] = 2;      /* reply */
	memcpy(f + 22, mac_guest, 6);
	memcpy(f + 28, guest_ip, 4);
	memcpy(f + 32, q + 22, 10); /* to the asker */
	memset(f + 42, 0, 18);
	return 60;
}

/* What a received frame is: the reply to seq (1), another echo reply of
 * ours (2, *got set), a damaged reply of ours (-1), or anything else (0). */
static int check_reply(const uint8_t *f, size_t len, unsigned seq, unsigned *got)
{
	const uint8_t *ip = f + 14, *icmp = ip + 20;

	if (len < 14 + 28 || memcmp(f, mac_guest, 6) || f[12] != 0x08 || f[13] != 0 ||
	    ip[9] != 1 || icmp[0] != 0 || icmp[4] != 0x76 || icmp[5] != 0x64)
		return 0;
	*got = (unsigned)(icmp[6] << 8 | icmp[7]);
	size_t plen = payload_len(*got);
	if (len != 14 + 28 + plen)
		return -1;
	for (size_t i = 0; i < plen; i++)
		if (icmp[8 + i] != payload_byte(*got, i))
			return -1;
	return (*got & 0xffff) == (seq & 0xffff) ? 1 : 2;
}

static void reap_tx(struct net *n)
{
	while (drv_virtio_get_used(&n->v, 1, NULL, NULL) == 1)
		n->tx_used++;
}

/* Transmit an echo request for seq, or (arp_of not NULL) the answer to
 * that ARP question. */
static bool send_frame(struct net *n, unsigned seq, const uint8_t *arp_of, size_t arp_len)
{
	int slot = n->next_tx;
	uint8_t *p = drv_gpa(n->v.d, n->tx[slot], NET_BUF);

	reap_tx(n);
	if (n->tx_posted - n->tx_used >= NET_NTX)
		return false;
	memset(p, 0, HDR);
	size_t len = arp_of ? arp_answer(arp_of, arp_len, p + HDR) : make_ping(p + HDR, seq);
	struct drv_buf out = { n->tx[slot], (uint32_t)(HDR + len) };
	if (drv_virtio_post(&n->v, 1, &out, 1, NULL, 0, false) < 0)
		return false;
	n->next_tx = (slot + 1) % NET_NTX;
	n->tx_posted++;
	drv_virtio_kick(&n->v, 1);
	return true;
}

static bool send_ping(struct net *n, unsigned seq)
{
	return send_frame(n, seq, NULL, 0);
}

/* Wait up to timeout_ms for the reply to seq: 1 got it, 0 not, -1 a damaged
 * reply came. */
static int wait_reply(struct net *n, unsigned seq, int timeout_ms, unsigned *late)
{
	for (int waited = 0; waited < timeout_ms; waited++) {
		uint16_t id;
		uint32_t used;

		while (drv_virtio_get_used(&n->v, 0, &id, &used) == 1) {
			int slot = net_rx_slot(&n->v, n->rx, id);
			unsigned got;

			if (slot < 0)
				return -1;
			const uint8_t *f = drv_gpa(n->v.d, n->rx[slot] + HDR, NET_BUF - HDR);
			size_t flen = used > HDR ? used - HDR : 0;
			int r = check_reply(f, flen, seq, &got);

			if (r == 0 && arp_answer(f, flen, (uint8_t[60]){ 0 }))
				send_frame(n, 0, f, flen);
			net_post_rx(&n->v, n->rx[slot]);
			drv_virtio_kick(&n->v, 0);
			if (r < 0)
				return -1;
			if (r == 2)
				(*late)++;
			if (r == 1)
				return 1;
		}
		sleep_ms(1); /* (an echo takes well under a millisecond here) */
	}
	return 0;
}

/* One control-queue command: the device's ack byte (0xee: no answer). */
static uint8_t ctrl(struct net *n, uint8_t cls, uint8_t cmd, uint8_t arg)
{
	uint64_t b = drv_virtio_alloc(&n->v, 8, 8);
	uint8_t *p = drv_gpa(n->v.d, b, 8);
	struct drv_buf out = { b, 3 }, in = { b + 4, 1 };

	p[0] = cls, p[1] = cmd, p[2] = arg, p[4] = 0xee;
	drv_virtio_post(&n->v, 2, &out, 1, &in, 1, false);
	drv_virtio_kick(&n->v, 2);
	if (drv_virtio_wait_used(&n->v, 2, NULL, NULL, 5000) != 1)
		return 0xee;
	return p[4];
}

static bool route_is(const char *want)
{
	char reply[8192], needle[200];

	/* (json-c writes '/' as "\/": a vhost-user route is matched by its kind) */
	snprintf(needle, sizeof(needle), "\"route\":\"%s", want);
	return api_call(api_sock, "{\"execute\": \"query-devices\"}", reply, sizeof(reply)) &&
	       strstr(reply, needle);
}

/* What the switcher waits for between switches: in the ping phase answered
 * pings, in the TCP phase KiB that reached the host. */
struct switch_plan {
	atomic_int *progress;
	int per_route;          /* progress each route must show before the next switch */
	int timeout_ms;
};

static void *switcher(void *arg)
{
	const struct switch_plan *plan = arg;
	char reply[4096];
	int waited;

	for (int i = 0; i < SWITCHES; i++) {
		int base = atomic_load(plan->progress);

		/* Traffic must flow on the route before the next switch. */
		for (waited = 0; atomic_load(plan->progress) < base + plan->per_route &&
				 waited < plan->timeout_ms; waited += 10)
			sleep_ms(10);
		if (waited >= plan->timeout_ms)
			stalls++;
		if (!api_set_route(api_sock, SLOT, i % 2 ? "vbs-u" : other_route, reply,
				   sizeof(reply))) {
			if (!switch_failures++)
				snprintf(first_failure, sizeof(first_failure), "switch %d: %.400s", i, reply);
		}
	}
	int base = atomic_load(plan->progress);
	for (waited = 0; atomic_load(plan->progress) < base + plan->per_route &&
			 waited < plan->timeout_ms; waited += 10)
		sleep_ms(10);
	if (atomic_load(plan->progress) < base + plan->per_route)
		stalls++;
	atomic_store(&switching_done, true);
	return NULL;
}

/*
 * The TCP phase: a Linux TCP stack stands behind the NIC.  A thread moves to
 * a network namespace of its own with a TAP, gst0, that has the NIC's MAC and
 * the guest's address; the driver relays frames between gst0 and the NIC's
 * queues, virtio-net headers passed through (IFF_VNET_HDR, so a checksum the
 * host left partial is finished by gst0's side), and what crosses vdm is real
 * TCP, retransmissions and all.  That thread sends a byte stream to the host
 * (10.0.7.1), where a receiver checks every byte in order, while the switcher
 * moves the NIC 20 more times.
 */
#define TCP_PORT 5077
#define TCP_TIMEOUT_S 240

/* The stream runs until the switcher is done, then TCP_TAIL more (a
 * fixed length could end before the last switch); TCP_MAX bounds it. */
#define TCP_TAIL (1LL << 20)
#define TCP_MAX (1LL << 30)
static long long tcp_sent, tcp_received; /* the stream's length, each end's count */
static atomic_int tcp_kib;             /* KiB the host received intact so far */
static atomic_int guest_tap = -1;      /* gst0, once the sender made it */
static atomic_bool tcp_sender_done, tcp_receiver_done;
static bool tcp_sent_all;
static char sender_failure[200], receiver_failure[200], relay_failure[200];

static uint8_t stream_byte(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13 ^ i >> 9);
}

/* gst0 in this thread's own namespace, up as the guest: its fd, or -1. */
static int guest_stack_up(void)
{
	struct ifreq ifr = { 0 };
	int fd, hdr = HDR;

	if (unshare(CLONE_NEWNET)) {
		snprintf(sender_failure, sizeof(sender_failure), ": unshare: %s", strerror(errno));
		return -1;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "gst0");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETVNETHDRSZ, &hdr)) {
		snprintf(sender_failure, sizeof(sender_failure), ": gst0: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* (system() forks this thread, so ip(8) runs in its namespace.) */
	if (!sh("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && "
		"echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && ip link set lo up && "
		"ip link set gst0 address 52:54:00:aa:07:02 && "
		"ip addr add 10.0.7.2/24 dev gst0 && ip link set gst0 up")) {
		snprintf(sender_failure, sizeof(sender_failure), ": ip(8) could not set gst0 up");
		close(fd);
		return -1;
	}
	return fd;
}

static void *tcp_sender(void *arg)
{
	struct sockaddr_in host = { .sin_family = AF_INET, .sin_port = htons(TCP_PORT) };
	struct timeval tv = { TCP_TIMEOUT_S, 0 };
	static uint8_t chunk[65536];
	int tap = guest_stack_up(), s = -1;
	long long off = 0;

	(void)arg;
	if (tap < 0)
		goto out;
	atomic_store(&guest_tap, tap);
	inet_pton(AF_INET, "10.0.7.1", &host.sin_addr);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(s, (struct sockaddr *)&host, sizeof(host))) {
		snprintf(sender_failure, sizeof(sender_failure), ": connect: %s", strerror(errno));
		goto out;
	}
	for (long long end = TCP_MAX; off < end;) {
		if (end == TCP_MAX && atomic_load(&switching_done))
			end = off + TCP_TAIL;
		size_t n = (size_t)(end - off < (long long)sizeof(chunk) ? end - off
									: (long long)sizeof(chunk));

		for (size_t i = 0; i < n; i++)
			chunk[i] = stream_byte((uint64_t)off + i);
		ssize_t w = write(s, chunk, n);
		if (w <= 0) {
			snprintf(sender_failure, sizeof(sender_failure), ": write at %lld: %s", off,
				 w < 0 ? strerror(errno) : "nothing written");
			goto out;
		}
		off += w;
	}
	tcp_sent = off;
	/* Done once the host closes its end: everything was taken. */
	shutdown(s, SHUT_WR);
	tcp_sent_all = read(s, chunk, 1) == 0;
	if (!tcp_sent_all)
		snprintf(sender_failure, sizeof(sender_failure),
			 ": the host did not close after the end");
out:
	if (s >= 0)
		close(s);
	atomic_store(&tcp_sender_done, true);
	return NULL;
}

static void *tcp_receiver(void *arg)
{
	int ls = (int)(intptr_t)arg, s;
	struct pollfd pfd = { ls, POLLIN, 0 };
	static uint8_t buf[65536];
	long long got = 0;

	if (poll(&pfd, 1, TCP_TIMEOUT_S * 1000) != 1 || (s = accept(ls, NULL, NULL)) < 0) {
		snprintf(receiver_failure, sizeof(receiver_failure), ": no connection came");
		goto out;
	}
	struct timeval tv = { TCP_TIMEOUT_S, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t r = read(s, buf, sizeof(buf));

		if (r <= 0) {
			if (r < 0)
				snprintf(receiver_failure, sizeof(receiver_failure), ": read at %lld: %s",
					 got, strerror(errno));
			break;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != stream_byte((uint64_t)got + (uint64_t)i)) {
				snprintf(receiver_failure, sizeof(receiver_failure),
					 ": byte %lld is wrong", got + i);
				close(s);
				goto out;
			}
		got += r;
		atomic_store(&tcp_kib, (int)(got >> 10));
	}
	close(s);
	tcp_received = got;
out:
	atomic_store(&tcp_receiver_done, true);
	return NULL;
}

/* Frames between gst0 and the NIC until both ends of the stream are done. */
static void relay(struct net *n)
{
	int tap;

	while ((tap = atomic_load(&guest_tap)) < 0 && !atomic_load(&tcp_sender_done))
		sleep_ms(1);
	while (tap >= 0 && !(atomic_load(&tcp_sender_done) && atomic_load(&tcp_receiver_done))) {
		struct pollfd pfd = { tap, POLLIN, 0 };
		uint16_t id;
		uint32_t used;
		bool rx_posted = false;

		reap_tx(n);
		poll(&pfd, n->tx_posted - n->tx_used < NET_NTX ? 1 : 0, 1);
		while (n->tx_posted - n->tx_used < NET_NTX) {
			int slot = n->next_tx;
			ssize_t len = read(tap, drv_gpa(n->v.d, n->tx[slot], NET_BUF), NET_BUF);
			struct drv_buf out = { n->tx[slot], (uint32_t)len };

			if (len <= HDR)
				break;
			if (drv_virtio_post(&n->v, 1, &out, 1, NULL, 0, false) < 0) {
				snprintf(relay_failure, sizeof(relay_failure), ": transmit post failed");
				return;
			}
			n->next_tx = (slot + 1) % NET_NTX;
			n->tx_posted++;
			drv_virtio_kick(&n->v, 1);
			reap_tx(n);
		}
		while (drv_virtio_get_used(&n->v, 0, &id, &used) == 1) {
			int slot = net_rx_slot(&n->v, n->rx, id);

			if (slot < 0 || used > NET_BUF) {
				snprintf(relay_failure, sizeof(relay_failure),
					 ": a receive buffer we did not post (id %u, %u bytes)", id, used);
				return;
			}
			/* (a frame gst0 refuses is as good as lost on the wire) */
			if (used > HDR && write(tap, drv_gpa(n->v.d, n->rx[slot], NET_BUF), used) < 0 &&
			    errno != EINVAL && errno != EAGAIN)
				snprintf(relay_failure, sizeof(relay_failure), ": gst0: %s", strerror(errno));
			net_post_rx(&n->v, n->rx[slot]);
			rx_posted = true;
		}
		if (rx_posted)
			drv_virtio_kick(&n->v, 0);
	}
}

/* The TCP phase (see above); false if it could not be set up. */
static bool tcp_phase(struct net *n)
{
	struct sockaddr_in host = { .sin_family = AF_INET, .sin_port = htons(TCP_PORT) };
	struct switch_plan plan = { &tcp_kib, 96, 30000 };
	pthread_t snd, rcv, sw;
	char reply[8192], req[200];
	int one = 1, ls;

	inet_pton(AF_INET, "10.0.7.1", &host.sin_addr);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!drv_check(ls >= 0 && !bind(ls, (struct sockaddr *)&host, sizeof(host)) &&
			       !listen(ls, 1),
		       "the host listens on 10.0.7.1:%d", TCP_PORT))
		return false;
	switch_failures = stalls = 0;
	first_failure[0] = 0;
	atomic_store(&switching_done, false);
	pthread_create(&rcv, NULL, tcp_receiver, (void *)(intptr_t)ls);
	pthread_create(&snd, NULL, tcp_sender, NULL);
	pthread_create(&sw, NULL, switcher, &plan);
	relay(n);
	pthread_join(snd, NULL);
	pthread_join(rcv, NULL);
	pthread_join(sw, NULL);
	close(ls);
	if (atomic_load(&guest_tap) >= 0)
		close(atomic_load(&guest_tap));
	drv_check(!relay_failure[0] && !sender_failure[0] && !receiver_failure[0] &&
			  tcp_sent_all && tcp_received == tcp_sent,
		  "a Linux TCP stack behind the NIC streamed to the host across %d more switches: "
		  "every byte arrived in order and intact (%lld of %lld bytes)%s%s%s",
		  SWITCHES, tcp_received, tcp_sent, relay_failure, sender_failure, receiver_failure);
	drv_check(switch_failures == 0, "the %d switches under TCP all returned (%d failed%s%s)",
		  SWITCHES, switch_failures, switch_failures ? ": " : "", first_failure);
	drv_check(stalls == 0, "the stream moved on every route (%d stalls)", stalls);
	drv_check(!(drv_virtio_status(&n->v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "the device never needed a reset under TCP either");
	snprintf(req, sizeof(req),
		 "{\"execute\": \"query-stats\", \"arguments\": {\"slot\": \"%d\"}}", SLOT);
	drv_check(api_call(api_sock, req, reply, sizeof(reply)) &&
			  strstr(reply, "\"route_switches\":40"),
		  "query-stats counts 40 switches");
	return true;
}

static bool nic_up(struct net *n, struct drv *d, struct drv_func *funcs, int nf, int slot,
		   uint64_t heap, uint64_t features, uint64_t *mmio, uint32_t *io)
{
	if (virtio_guest_up(&n->v, d, funcs, nf, slot, heap, features, 3, mmio, io))
		return false;
	net_buffers_up(&n->v, n->rx, n->tx);
	return true;
}

/* The second NIC negotiated what testpmd lacks: refused, still on VBS-U. */
static void refused_feature(struct drv *d, struct drv_func *funcs, int nf, uint64_t *mmio,
			    uint32_t *io)
{
	struct net t = { 0 };
	char vu[160], reply[4096];
	uint64_t f = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_MRG_RXBUF |
		     1ULL << VIRTIO_NET_F_CTRL_VQ | 1ULL << VIRTIO_NET_F_CSUM |
		     1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6;

	if (!drv_check(nic_up(&t, d, funcs, nf, SLOT_TSO, 48 << 20, f, mmio, io),
		       "a second NIC (VBS-U, vdmsw1) negotiates CSUM and HOST_TSO4/6"))
		return;
	drv_check(drv_virtio_device_features(&t.v) >> VIRTIO_NET_F_HOST_TSO4 & 1,
		  "its TAP takes TSO, so VBS-U offers HOST_TSO4");
	snprintf(vu, sizeof(vu), "vhost-user:%s", pmd_sock);
	bool ok = api_set_route(api_sock, SLOT_TSO, vu, reply, sizeof(reply));
	drv_check(!ok && strstr(reply, "HOST_TSO4") && strstr(reply, "HOST_TSO6"),
		  "set-route to testpmd is refused, naming the features it lacks: %s", reply);
	drv_check(!(drv_virtio_status(&t.v) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
			  ctrl(&t, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 0) != 0xee,
		  "that NIC keeps serving (its control queue answers), no reset");
	send_ping(&t, 1);
	for (int i = 0; i < 200 && t.tx_used < 1; i++) {
		sleep_ms(10);
		reap_tx(&t);
	}
	drv_check(t.tx_used == 1, "and its transmit queue still goes to its TAP on VBS-U");
	drv_virtio_fini(&t.v);
}

/*
 * The third NIC started on a vhost-user back-end (vu-fault-peer, which takes
 * the rings and serves nothing) with a TAP for VBS-U: it was offered only
 * what both serve, and moves to VBS-U, where its frames reach the TAP.
 */
static void started_on_vhost_user(struct drv *d, struct drv_func *funcs, int nf,
				  uint64_t *mmio, uint32_t *io)
{
	struct net t = { 0 };
	char reply[4096];

	if (!drv_check(nic_up(&t, d, funcs, nf, SLOT_USER, 80 << 20,
			      1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_MRG_RXBUF |
				      1ULL << VIRTIO_NET_F_CTRL_VQ | 1ULL << VIRTIO_NET_F_CSUM,
			      mmio, io),
		       "a third NIC comes up on vhost-user (vhost=user:...,tap=vdmsw2)"))
		return;
	uint64_t offer = drv_virtio_device_features(&t.v);
	drv_check((offer >> VIRTIO_NET_F_CSUM & 1) && !(offer >> VIRTIO_NET_F_HOST_TSO4 & 1) &&
			  !(offer >> VIRTIO_NET_F_HOST_UFO & 1),
		  "offered what the back-end and the TAP both serve (CSUM; no TSO, no UFO)");
	drv_check(api_set_route(api_sock, SLOT_USER, "vbs-u", reply, sizeof(reply)),
		  "set-route to vbs-u: %s", reply);
	send_ping(&t, 1);
	for (int i = 0; i < 200 && t.tx_used < 1; i++) {
		sleep_ms(10);
		reap_tx(&t);
	}
	drv_check(t.tx_used == 1 && !(drv_virtio_status(&t.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "VBS-U serves it on its TAP: a transmitted frame completes");
	drv_virtio_fini(&t.v);
}

int main(void)
{
	const char *src = getenv("VDM_SRCDIR");
	char script[256], spec[160], spec2[160], spec3[200], req[200], reply[8192];
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct net n = { 0 };
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	pthread_t t;
	int st;

	if (geteuid() != 0) {
		printf("SKIP: needs root (a network namespace, DPDK's testpmd)\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 99;
	snprintf(api_sock, sizeof(api_sock), "%s/api.sock", dir);
	snprintf(pmd_sock, sizeof(pmd_sock), "%s/net.sock", dir);
	snprintf(pmdlog, sizeof(pmdlog), "%s/testpmd.log", dir);
	snprintf(vdmlog, sizeof(vdmlog), "%s/vdm.log", dir);
	snprintf(script, sizeof(script), "%s/tests/peers/testpmd.sh", src ? src : ".");
	kernel_mode = getenv("VDM_TEST_SWITCH_TO") &&
		      !strcmp(getenv("VDM_TEST_SWITCH_TO"), "vhost-kernel");
	if (kernel_mode)
		snprintf(other_route, sizeof(other_route), "vhost-kernel");
	else
		snprintf(other_route, sizeof(other_route), "vhost-user:%s", pmd_sock);
	/* DPDK is fetched while there is a network: none in the namespace. */
	pid_t fetch = kernel_mode ? -1
				  : peer_spawn((char *const[]){ "sh", script, "--fetch", NULL }, pmdlog);
	st = 0;
	if (fetch > 0)
		waitpid(fetch, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		char why[200];

		printf("SKIP: DPDK's testpmd cannot be fetched or run here: %s\n",
		       peer_log_reason(pmdlog, "testpmd.sh: ", why, sizeof(why)));
		return 77;
	}
	if (!drv_check(make_network(), "a network namespace with vdm's TAPs and the host's side"))
		goto out;
	if (!kernel_mode) {
		st = pmd_start(script);
		if (!drv_check(st == 0, "testpmd listens on %s, its TAP on the bridge (%d)",
			       pmd_sock, st))
			goto out;
	}
	snprintf(spec, sizeof(spec), "%d,virtio-net,tap=vdmsw0,mac=52:54:00:aa:07:02,offloads=csum",
		 SLOT);
	snprintf(spec2, sizeof(spec2), "%d,virtio-net,tap=vdmsw1", SLOT_TSO);
	if (!kernel_mode) {
		const char *b = getenv("VDM_BUILDDIR");
		char bin[512];

		/* VERSION_1, MRG_RXBUF, CSUM, GUEST_CSUM, HOST_UFO */
		snprintf(bin, sizeof(bin), "%s/tests/sim/vu-fault-peer", b ? b : ".");
		snprintf(peer_sock, sizeof(peer_sock), "%s/peer.sock", dir);
		peer = peer_spawn((char *const[]){ bin, peer_sock, "0x10000c003", "die", "0", NULL },
				  NULL);
		drv_check(peer_wait_socket(&peer, peer_sock, 5000) == 0, "vu-fault-peer starts");
		snprintf(spec3, sizeof(spec3), "%d,virtio-net,vhost=user:%s,tap=vdmsw2", SLOT_USER,
			 peer_sock);
	}
	if (vdm_spawn(&p, (const char *const[]){ "--api-socket", api_sock, "--log-file", vdmlog,
						 "-s", spec, "-s", spec2,
						 kernel_mode ? NULL : "-s", spec3, NULL },
		      &st)) {
		drv_check(false, "vdm starts (%d)", st);
		goto out;
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	/* offloads=csum: what testpmd serves too (its vhost PMD runs with tso=0). */
	if (!drv_check(nic_up(&n, &d, funcs, nf, SLOT, 16 << 20,
			      1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |
				      1ULL << VIRTIO_NET_F_MRG_RXBUF | 1ULL << VIRTIO_NET_F_CTRL_VQ |
				      1ULL << VIRTIO_NET_F_CTRL_RX | 1ULL << VIRTIO_RING_F_EVENT_IDX |
				      1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM,
			      &mmio, &io),
		       "the NIC comes up on VBS-U (CSUM, GUEST_CSUM, MRG_RXBUF, CTRL_VQ, CTRL_RX, "
		       "EVENT_IDX)"))
		goto stop;
	uint64_t offer = drv_virtio_device_features(&n.v);
	drv_check((offer >> VIRTIO_NET_F_CSUM & 1) && (offer >> VIRTIO_NET_F_GUEST_CSUM & 1) &&
			  !(offer >> VIRTIO_NET_F_HOST_TSO4 & 1) &&
			  !(offer >> VIRTIO_NET_F_HOST_TSO6 & 1) &&
			  !(offer >> VIRTIO_NET_F_GUEST_TSO4 & 1),
		  "offloads=csum: checksum offloads offered, no TSO either way");

	struct switch_plan pings = { &replies, PINGS_PER_ROUTE, 10000 };

	pthread_create(&t, NULL, switcher, &pings);
	unsigned seq = 0, lost = 0, late = 0, bad = 0;
	bool ctrl_checked = false, ctrl_ok = false;
	while (!atomic_load(&switching_done) && seq < 60000) {
		seq++;
		if (!send_ping(&n, seq)) {
			bad++;
			break;
		}
		int r = wait_reply(&n, seq, 500, &late);
		if (r < 0) {
			bad++;
			break;
		}
		if (r == 0)
			lost++;
		else
			atomic_fetch_add(&replies, 1);
		if (!ctrl_checked) {
			/* Once on testpmd: the control queue is still vdm's. */
			if (route_is(kernel_mode ? "vhost-kernel:" : "vhost-user:")) {
				ctrl_checked = true;
				ctrl_ok = ctrl(&n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0) ==
					  VIRTIO_NET_OK;
			}
		}
	}
	pthread_join(t, NULL);
	drv_check(switch_failures == 0, "%d route switches VBS-U <-> %s while pinging "
		  "(%d failed%s%s)", SWITCHES, kernel_mode ? "kernel vhost-net" : "testpmd",
		  switch_failures, switch_failures ? ": " : "", first_failure);
	drv_check(stalls == 0, "traffic flowed again after every switch (%d stalls)", stalls);
	drv_check(bad == 0, "no damaged or unexpected reply, no transmit ring overflow (%u)", bad);
	drv_check(atomic_load(&replies) >= PINGS_PER_ROUTE * (SWITCHES + 1) &&
			  lost <= SWITCHES,
		  "%u pings of 8..1407 bytes: %d answered intact, %u unanswered (at most one "
		  "per switch), %u answered late", seq, atomic_load(&replies), lost, late);
	drv_check(ctrl_checked && ctrl_ok,
		  "on the vhost route the control queue stays in vdm: PROMISC off is ACKed");
	for (int i = 0; i < 200 && n.tx_used < n.tx_posted; i++) {
		sleep_ms(10);
		reap_tx(&n);
	}
	drv_check(n.tx_used == n.tx_posted, "every transmit buffer came back: %d of %d",
		  n.tx_used, n.tx_posted);
	drv_check(!(drv_virtio_status(&n.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "the device never needed a reset");
	drv_check(route_is("vbs-u\""), "after an even number of switches it is on VBS-U again");
	snprintf(req, sizeof(req),
		 "{\"execute\": \"query-stats\", \"arguments\": {\"slot\": \"%d\"}}", SLOT);
	drv_check(api_call(api_sock, req, reply, sizeof(reply)) &&
			  strstr(reply, "\"route_switches\":20"),
		  "query-stats counts 20 switches");

	tcp_phase(&n);
	if (!kernel_mode) {
		refused_feature(&d, funcs, nf, &mmio, &io);
		started_on_vhost_user(&d, funcs, nf, &mmio, &io);
	}
	drv_virtio_fini(&n.v);
stop:
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
out:
	peer_stop(&pmd, SIGTERM);
	peer_stop(&peer, SIGKILL);
	unlink(peer_sock);
	if (drv_failures()) {
		peer_dump_log("testpmd", pmdlog);
		peer_dump_log("vdm", vdmlog);
	}
	unlink(pmdlog);
	unlink(vdmlog);
	unlink(pmd_sock);
	rmdir(dir);
	return drv_result();
}
