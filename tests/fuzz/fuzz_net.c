/*
 * fuzz_net.c - libFuzzer target for virtio-net's guest-facing parsing in
 * libvbsu (vbs-u/net.c): control-queue commands (receive filter, MAC
 * tables, MAC address), transmit chains with their virtio-net header, and
 * receive chains (header placement, MRG_RXBUF's num_buffers, frames spread
 * over several chains or too big for them).
 *
 * The TAP is replaced by a datagram socket pair: what the device transmits
 * is read back and must be exactly a chain's readable bytes; frames to
 * receive are written to it.  The same ring from the input is served as
 * the control queue, then as the transmit queue, then as the receive queue
 * (each from a fresh vq_setup).
 *
 * Input: the fuzz_ram.h header; hdr[2] bit 0 MRG_RXBUF, bit 1 the 12-byte
 * header (else 10), bit 2 CTRL_RX, bit 3 CTRL_MAC_ADDR, bits 4-7 the
 * number of frames offered to receive; hdr[3] picks their sizes.
 */
#include "fuzz_ram.h"

#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_net.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_ram ram;
static int sv[2] = { -1, -1 };
static struct vbsu_net net;
static uint8_t frame[65536 + 64];

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_net: invariant broken: %s\n", what);
		abort();
	}
}

static void drain(void)
{
	while (recv(sv[1], frame, sizeof(frame), MSG_DONTWAIT) >= 0)
		;
	while (recv(sv[0], frame, sizeof(frame), MSG_DONTWAIT) >= 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned frame_sizes[4] = { 60, 1514, 9014, 65000 };
	struct vqueue vq;
	bool blocked, starved, more;
	uint64_t features = 0;

	if (size < FUZZ_HDR)
		return -1;
	if (!ram.lo) {
		fuzz_ram_init(&ram);
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) ||
		    vbsu_net_attach(&net, sv[0], "fuzz"))
			abort();
		int big = 1 << 20;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	drain();
	vbsu_net_reset(&net);
	net.hdr_len = (data[2] & 2) ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
				    : sizeof(struct virtio_net_hdr);
	net.mrg_rxbuf = data[2] & 1;
	if (data[2] & 4)
		features |= 1ULL << VIRTIO_NET_F_CTRL_RX;
	if (data[2] & 8)
		features |= 1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR;
	fuzz_ram_fill(&ram, data + FUZZ_HDR, size - FUZZ_HDR);

	/* Control queue. */
	if (fuzz_vq_setup(&vq, &ram, data, 256))
		return 0;
	int r = vbsu_net_ctrl_process(&net, &vq, features);
	/* A broken queue may keep the offending chain: the device needs a reset anyway. */
	check(r < 0 ? vq.broken : r == vq.used_idx && vq.used_idx == vq.last_avail,
	      "control: every command taken is acknowledged");
	check(net.n_uni >= 0 && net.n_uni <= VBSU_NET_MAC_TABLE && net.n_multi >= 0 &&
	      net.n_multi <= VBSU_NET_MAC_TABLE, "MAC tables within bounds");

	/* Transmit: every chain sent is one datagram of its readable bytes. */
	fuzz_ram_fill(&ram, data + FUZZ_HDR, size - FUZZ_HDR);
	fuzz_vq_setup(&vq, &ram, data, 256);
	r = vbsu_net_tx(&net, &vq, 64, &blocked);
	check(r < 0 ? vq.broken : r == vq.used_idx, "transmit: return value counts frames");
	drain();

	/* Receive: frames from the "TAP" into the ring's chains. */
	fuzz_ram_fill(&ram, data + FUZZ_HDR, size - FUZZ_HDR);
	fuzz_vq_setup(&vq, &ram, data, 256);
	unsigned nframes = data[2] >> 4;
	for (unsigned i = 0; i < nframes; i++) {
		unsigned len = frame_sizes[(data[3] >> (2 * (i & 3))) & 3];

		memset(frame, (int)i, len);
		/* Broadcast, so the receive filter lets it through whatever it is. */
		memset(frame + net.hdr_len, 0xff, 6);
		if (send(sv[1], frame, len, 0) < 0)
			break;
	}
	for (int pass = 0; pass < 4; pass++) {
		r = vbsu_net_rx(&net, &vq, 16, &starved, &more);
		if (r < 0) {
			check(vq.broken, "receive: failure breaks the queue");
			break;
		}
		if (!more)
			break;
	}
	check(vq.used_idx <= vq.last_avail, "receive: no chain used twice");
	drain();
	return 0;
}
