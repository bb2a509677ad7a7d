/*
 * vbsu.h - libvbsu: virtqueue access for user-space back-ends (VBS-U).
 *
 * The queue code knows nothing of PCI or of the hypervisor: it reaches guest
 * RAM only through a translate callback that returns NULL for any range not
 * wholly inside guest RAM.  Every value read from guest memory is treated as
 * hostile; a malformed ring makes the queue "broken" (vq_getchain returns a
 * negative errno and keeps returning it until vq_reset) so that the device can
 * set DEVICE_NEEDS_RESET.
 *
 * The contract follows bhyve's:
 *   n = vq_getchain(vq, &chain, iov, niov)   0 = nothing waiting, <0 = malformed
 *   vq_relchain(vq, chain.head, written)     put the chain on the used ring
 *   if (vq_endchains(vq)) raise interrupt    EVENT_IDX / NO_INTERRUPT aware
 *
 * Two ring layouts sit behind this one API: the split ring (vq.c, virtio 1.2,
 * 2.7) and the packed ring (vq_packed.c, 2.8), chosen by VIRTIO_F_RING_PACKED
 * in the features vq_setup is given.  A back-end does not know which one its
 * queue has: chain ids, iovecs, used lengths and interrupt decisions look the
 * same.  vdm offers VIRTIO_F_RING_PACKED on its VBS-U devices (packed=off
 * takes it away), and vdm-vhost-user to its front-ends.
 *
 * Threading: one thread uses a queue at a time (the caller serialises).
 */
#ifndef VDM_VBSU_H
#define VDM_VBSU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Largest queue size the virtio spec allows, split (2.7) and packed (2.8) alike. */
#define VQ_MAX_SIZE 32768u

/* gpa -> host pointer for [gpa, gpa+len); NULL outside guest RAM. */
typedef void *(*vq_translate_fn)(void *opaque, uint64_t gpa, uint64_t len);

struct vq_mem {
	vq_translate_fn translate;
	void *opaque;
};

struct vring_desc_le;
struct vring_avail_le;
struct vring_used_le;
struct vq_packed_desc_le;
struct vq_event_le;

/*
 * Packed ring positions (last_avail, used_idx, signalled_used, and the
 * values of vq_set_indexes / vq_used_idx_in_ring) carry the ring index in
 * bits 0-14 and the wrap counter that goes with it in bit 15, as vhost-user's
 * GET/SET_VRING_BASE do for packed rings (and as the event suppression
 * areas' off_wrap does, 2.8.14).
 */
#define VQ_PACKED_WRAP 0x8000u

struct vqueue {
	/* Set by vq_setup from the driver's values, then constant. */
	struct vq_mem mem;
	uint16_t size;
	bool event_idx;      /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;       /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool packed;         /* VIRTIO_F_RING_PACKED negotiated: the layout is 2.8's */
	/*
	 * The three parts of the ring in host memory.  Split: descriptor
	 * table, avail ring, used ring.  Packed: descriptor ring, driver
	 * event suppression area (the driver writes it), device event
	 * suppression area (we write it).  One layout per queue, so they
	 * share storage.
	 */
	union {
		volatile struct vring_desc_le *desc;
		volatile struct vq_packed_desc_le *pdesc;
	};
	union {
		volatile struct vring_avail_le *avail;
		volatile struct vq_event_le *driver_event;
	};
	union {
		volatile struct vring_used_le *used;
		volatile struct vq_event_le *device_event;
	};
	/* Where the driver put them (packed: descriptor ring, driver area, device area). */
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* Device-side state. */
	bool ready;          /* vq_setup succeeded */
	bool broken;         /* guest broke a rule; see error */
	const char *error;   /* static string naming the first violation */
	int broken_err;      /* negative errno vq_getchain returns while broken */
	/* Split: free-running indexes.  Packed: positions (VQ_PACKED_WRAP above). */
	uint16_t last_avail; /* next avail entry the device will read */
	uint16_t used_idx;   /* next used entry the device will write */
	uint16_t signalled_used; /* used_idx at the last interrupt decision */
	bool signalled_used_valid;
	/*
	 * Packed only.  A buffer id names its chain until the device hands it
	 * back, and the device must skip as many ring slots as the chain took
	 * when it writes the chain's used descriptor (2.8.6): per id, the ring
	 * descriptors its chain took, 0 when the id is not in flight.  size
	 * entries, allocated by vq_setup, freed by vq_reset.
	 */
	uint16_t *inflight;
	uint16_t ret_id;     /* packed: the chain vq_retchain gives back (UINT16_MAX: none) */
	/* Split: vhost-user in-flight tracking (vq_inflight_attach), or NULL;
	 * freed by vq_reset. */
	struct vq_tracker *tracker;
	bool last_resubmitted; /* the last chain taken was a resubmitted one */
	/* What went through the queue (for the management API). */
	uint64_t stat_chains, stat_bytes, stat_errors;
};

/* One descriptor chain taken from the avail ring. */
struct vq_chain {
	uint16_t head;       /* id to hand back to vq_relchain */
	int nread;           /* iov[0 .. nread-1] are device-readable */
	int nwrite;          /* iov[nread .. nread+nwrite-1] are device-writable */
	uint32_t read_len;   /* bytes in the readable part */
	uint32_t write_len;  /* bytes in the writable part */
};

/*
 * Validate and attach a ring the driver laid out.  features is the
 * negotiated feature set (only the ring bits are looked at: INDIRECT_DESC,
 * EVENT_IDX, RING_PACKED).
 *
 * Split ring: size must be a power of two no larger than max_size (itself
 * <= VQ_MAX_SIZE); the descriptor table, avail ring (with used_event) and
 * used ring (with avail_event) must each lie inside guest RAM with the
 * spec's alignment (16, 2, 4).
 *
 * Packed ring (VIRTIO_F_RING_PACKED): the three addresses are the transport's
 * queue_desc / queue_driver / queue_device (4.1.4.3): the descriptor ring
 * (16 * size bytes, 16-aligned), the driver event suppression area and the
 * device event suppression area (4 bytes each, 4-aligned), each inside guest
 * RAM.  size is any value from 1 to max_size (2.8: not necessarily a power
 * of two).  The queue then owns a table of size * 2 bytes until vq_reset.
 *
 * vq_setup does not free what an earlier vq_setup allocated (the struct may
 * be uninitialised): vq_reset a packed queue before setting it up again and
 * before freeing it.  Returns 0, -EINVAL with vq->error set, or -ENOMEM.
 */
int vq_setup(struct vqueue *vq, const struct vq_mem *mem, uint16_t size,
	     uint16_t max_size, uint64_t desc_gpa, uint64_t avail_gpa,
	     uint64_t used_gpa, uint64_t features);

/* Return the queue to its state before vq_setup, freeing what vq_setup
 * allocated.  The struct must be zeroed or set up (vq_reset'ing a zeroed
 * struct is fine). */
void vq_reset(struct vqueue *vq);

/*
 * Guest RAM was mapped anew (the hypervisor changed its memory map): look
 * the ring up again through the translate callback, so the queue reads what
 * the guest now sees at those addresses.  Returns 0 (also for a queue that
 * is not set up), or -EFAULT when the ring is no longer wholly in guest RAM
 * (or lost its alignment): the queue is then broken (vq->error says why)
 * and touches no memory until vq_reset.
 */
int vq_remap(struct vqueue *vq);

/* True when the driver has made buffers available that were not taken. */
bool vq_has_work(struct vqueue *vq);

/*
 * Take the next available chain.  Fills iov (readable buffers first, then
 * writable ones) and *chain.  Returns the number of iovecs (> 0), 0 when no
 * chain is waiting, or a negative errno when the guest broke a rule (the
 * queue is then broken: vq->error says why).  A chain needing more than niov
 * entries is -E2BIG and also breaks the queue (the device sized niov for its
 * largest legal request).
 *
 * Rules enforced (virtio 1.2, 2.7): avail->idx moves at most size past
 * last_avail; head and next indices < size; every buffer inside guest RAM;
 * at most size descriptors per chain (no loops); indirect only when
 * negotiated, never nested, table length a non-zero multiple of 16 and no
 * more than size entries, and not combined with NEXT; writable descriptors
 * only after readable ones; byte totals fit in 32 bits.
 *
 * Packed ring (2.8), the same rules where they apply, and: a descriptor is
 * available when its AVAIL bit equals the device's copy of the driver's wrap
 * counter and its USED bit does not (anything else at last_avail is "nothing
 * waiting"); every further descriptor of a list linked by NEXT must be
 * available too; an indirect descriptor is a list of its own (no NEXT on it
 * or before it); the chain's buffer id, in its last descriptor, is < size
 * and not in flight (a guest re-using an id before the device handed it back
 * breaks the queue); the ring never holds more descriptors in flight than
 * size.  chain->head is the buffer id.
 */
int vq_getchain(struct vqueue *vq, struct vq_chain *chain, struct iovec *iov,
		int niov);

/*
 * Another owner ran the ring and stopped (a vhost back-end): continue from
 * its indexes.  last_avail is the next avail entry to read, used_idx the
 * used ring's idx; the next interrupt decision starts afresh.
 *
 * Packed ring: both are positions, index in bits 0-14 and wrap counter in
 * bit 15 (VQ_PACKED_WRAP), as vhost-user's SET/GET_VRING_BASE carry them
 * for packed rings (the avail position in the low 16 bits of the payload,
 * the used one in the high 16).  The other owner must have handed back
 * every chain it took: the ids in flight are forgotten.  An index >= size,
 * or more descriptors between the two than the ring holds, breaks the
 * queue and leaves the positions as they were.
 */
void vq_set_indexes(struct vqueue *vq, uint16_t last_avail, uint16_t used_idx);

/*
 * Packed ring: the position a front-end's base (SET_VRING_BASE) means.  A
 * base of 0 (slot 0, wrap counter 0) on a ring whose descriptor 0 has neither
 * AVAIL nor USED set is no state a used ring can be in: it is a fresh ring
 * given a split ring's base (UML's virtio_uml sends 0 for every ring), and
 * starts at VQ_PACKED_WRAP.  Any other base, or a split ring's, as it is.
 */
uint16_t vq_packed_start_base(const struct vqueue *vq, uint16_t base);

/*
 * The used ring's idx as the guest sees it (another owner may have moved it).
 * Packed ring: guest memory holds no used index, so this is the device's
 * own used position (VQ_PACKED_WRAP encoding); a vhost back-end's must come
 * from its GET_VRING_BASE instead.
 */
uint16_t vq_used_idx_in_ring(const struct vqueue *vq);
/* Split rings: the avail ring's idx as the driver published it. */
uint16_t vq_avail_idx_in_ring(const struct vqueue *vq);

/* Give back the last taken chain without using it (it is seen again next
 * time).  Packed ring: only the last chain taken, and only while it is not
 * released. */
void vq_retchain(struct vqueue *vq);

/*
 * Put chain head on the used ring with len bytes written by the device.
 * used->idx is published here (release store); vq_endchains only decides
 * about the interrupt.  Packed ring: one used descriptor for the chain at
 * the used position, which then moves past every slot the chain took; an
 * id that is not in flight (a device bug) writes nothing and breaks the
 * queue.
 */
void vq_relchain(struct vqueue *vq, uint16_t head, uint32_t len);

/* Put n chains on the used ring and publish them together, so the driver
 * never sees part of a group (a frame spread over several receive buffers). */
void vq_relchains(struct vqueue *vq, const uint16_t *heads, const uint32_t *lens, int n);

/* The guest broke a device-level rule on this queue (e.g. a buffer of the
 * wrong direction): break the queue as vq_getchain does for ring errors. */
void vq_mark_broken(struct vqueue *vq, const char *why);

/*
 * After a batch of vq_relchain calls: publish and decide whether the driver
 * wants an interrupt (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with
 * EVENT_IDX, virtio 1.2 2.7.7; packed: the driver area's flags, ENABLE,
 * DISABLE or, with EVENT_IDX, DESC and its off_wrap, 2.8.10).  Returns true
 * when the caller should raise it.
 */
bool vq_endchains(struct vqueue *vq);

/*
 * Ask the driver for (enable=true) or to suppress (false) kicks: sets
 * VIRTQ_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX (virtio 1.2 2.7.10).
 * With EVENT_IDX, disabling leaves avail_event as it was.  Packed ring: the
 * device area's flags become DISABLE, ENABLE, or with EVENT_IDX DESC with
 * off_wrap = last_avail (2.8.10).  After enabling, re-check vq_has_work to
 * close the race with a driver that just added work.
 */
void vq_set_notify(struct vqueue *vq, bool enable);

/* ---- vhost-user in-flight tracking, split rings (vq_inflight.c) ---- */

/*
 * Bytes of one queue's in-flight region for a ring of queue_size entries
 * (vhost-user.rst, "Inflight I/O tracking", the split layout), rounded up
 * so each queue's region starts on a cache line.  A back-end offering
 * INFLIGHT_SHMFD sizes its shared region with it, queue after queue.
 */
size_t vq_inflight_queue_bytes(uint16_t queue_size);

/*
 * Track vq's chains in region (len bytes of shared memory, 8-aligned) from
 * now on, instead of vq_set_indexes(vq, base, used->idx).  A region never
 * written (version 0) is laid out for this ring and the queue goes on from
 * base.  A region a back-end before us wrote is recovered: a used batch it
 * published but did not clear is cleared, the heads still marked in flight
 * are handed out again by vq_getchain, oldest first, before any new avail
 * entry, and the queue goes on from used->idx plus their number (base is
 * ignored: a front-end whose back-end died could not learn it).  The
 * region is hostile memory: one of another version or ring size, or whose
 * fields do not add up, is -EINVAL with vq->error set, and the queue is
 * left untracked.  Split rings only (-EINVAL for a packed one).
 * Returns 0, -EINVAL or -ENOMEM.
 */
int vq_inflight_attach(struct vqueue *vq, void *region, size_t len, uint16_t base);

/*
 * Another owner of the ring (a vhost-user back-end) died leaving region:
 * hand out again, oldest first, the heads it says were in flight, and go
 * on from used->idx plus their number, as vq_inflight_attach does, but
 * without writing to the region or tracking anything in it (it is the
 * dead owner's, and may go away as soon as this returns).  The number of
 * heads to hand out again, or -EINVAL (vq->error says why) for a region
 * that is not a recorded one for this ring or does not add up.
 */
int vq_inflight_adopt(struct vqueue *vq, const void *region, size_t len);

/*
 * How many heads a region (of a ring of size entries whose used->idx is
 * ring_used) says are in flight, read only; -EINVAL for a region that is
 * not a recorded one of that size or does not add up.
 */
int vq_inflight_pending(const void *region, size_t len, uint16_t size, uint16_t ring_used);

/* Chains still to be handed out again (after vq_inflight_attach). */
unsigned vq_inflight_resubmits(const struct vqueue *vq);

/* ---- virtio-rnd back-end (rnd.c) ---- */

/*
 * Check that OpenSSL's DRBG is seeded and produces output.  Call once at
 * start-up before serving a queue.  Returns 0, or -EIO with a reason in err.
 */
int vbsu_rnd_init(char *err, size_t errlen);

/*
 * Fill the writable buffers of up to budget available chains on vq with
 * CSPRNG bytes and put them on the used ring.  Returns the number of chains
 * completed, or a negative errno when the guest broke the ring (vq->broken
 * is then set).  The budget keeps a guest that refills the queue as fast as
 * it empties from holding the event loop (the caller comes back for more).
 */
int vbsu_rnd_process(struct vqueue *vq, int budget);

/* ---- virtio-blk back-end (blk.c, blk_image.c) ---- */

/* How the image meets the host's page cache (acrn-dm's spellings). */
enum vbsu_blk_cache {
	VBSU_BLK_WRITEBACK = 0, /* page cache; FLUSH = fdatasync */
	VBSU_BLK_WRITETHRU,     /* page cache, every write durable before it completes (O_DSYNC) */
	VBSU_BLK_NOCACHE,       /* O_DIRECT; unaligned guest buffers go through bounce buffers */
};

/* Which engine runs the requests that would block (aio.h). */
enum vbsu_blk_aio {
	VBSU_BLK_AIO_AUTO = 0,  /* io_uring where the kernel allows it, else threads */
	VBSU_BLK_AIO_IO_URING,
	VBSU_BLK_AIO_THREADS,
};

struct vbsu_blk_params {
	const char *path;
	bool read_only;
	uint32_t sector_size;     /* logical block size: 512 or 4096 */
	const char *serial;       /* NULL: the tail of path */
	int max_segs;             /* data buffers per request the device advertises */
	unsigned queue_size;      /* the queue's largest size: requests in flight at most */
	enum vbsu_blk_cache cache;
	enum vbsu_blk_aio aio;
	bool lock;                /* take the image's locks (vbsu_image_lock) first */
	uint32_t phys_sector_size; /* physical block size; 0: the logical one */
	/* acrn-dm's discard=S:G:A: the DISCARD limits the guest is told and
	 * held to (512-byte sectors per segment, segments, alignment in
	 * sectors); 0: vdm's own. */
	uint32_t discard_max_sectors, discard_max_seg, discard_align;
};

struct aio_engine;
struct blk_req;

struct vbsu_blk {
	int fd;
	bool read_only;
	enum vbsu_blk_cache cache;
	uint32_t sector_size;     /* logical block size: 512 or 4096 */
	uint64_t capacity;        /* in 512-byte sectors */
	bool can_discard;         /* the file system punches holes */
	uint32_t phys_sector_size;
	uint32_t discard_max_sectors, discard_max_seg, discard_align; /* 0: none set */
	bool can_write_zeroes;    /* the file system zeroes ranges */
	char serial[20];          /* GET_ID answer, NUL-padded */
	int max_iov;
	uint32_t dio_mem_align;   /* nocache: buffer alignment O_DIRECT needs */
	/* Page-cache hits are served at once with RWF_NOWAIT; cleared when the
	 * file system refuses the flag, so it is not tried again. */
	bool nowait_read, nowait_write;
	bool memory_backed;       /* tmpfs/ramfs: I/O is a copy, done inline */
	struct aio_engine *aio;
	struct blk_req *reqs;     /* queue_size request slots, allocated at open */
	struct blk_req *free_reqs;
	unsigned nreqs, inflight;
	bool out_of_slots;        /* process stopped for want of a free slot */
	uint64_t bounce_bytes;    /* nocache: bounce memory held by requests in flight */
	uint64_t requests, errors, inline_done, submitted;
	uint64_t depth_sum; /* requests in flight at each submission, summed: the disk's queue depth */
};

/* Largest number of discard / write-zeroes segments per request we take. */
#define VBSU_BLK_MAX_DWZ_SEG 16

/*
 * Open the raw image p->path and start its I/O engine (logged by the caller
 * through vbsu_blk_engine).  Returns 0, or a negative errno with a one-line
 * reason in err.
 */
int vbsu_blk_open(struct vbsu_blk *b, const struct vbsu_blk_params *p, char *err, size_t errlen);

/*
 * Take the locks QEMU's file driver also uses on the image open at fd (a
 * reader's, or a writer's when write), and check nobody else holds one that
 * rules us out: readers share an image, a writer has it alone, against other
 * vdm devices and processes, QEMU and qemu-storage-daemon alike.  The locks
 * last until fd is closed.  Returns 0 (also where the file system has no such
 * locks), -EBUSY with a one-line reason naming the image and, where it can
 * be found, the holder, or another -errno with a reason in err
 * (image_lock.c).
 */
int vbsu_image_lock(int fd, const char *path, bool write, char *err, size_t errlen);

/* "io_uring" or "threads": the engine serving requests that may block. */
const char *vbsu_blk_engine(const struct vbsu_blk *b);

/*
 * Take up to budget available requests from vq: IN, OUT, FLUSH, GET_ID,
 * DISCARD, WRITE_ZEROES; anything else answers UNSUPP.  Reads that hit the
 * page cache, GET_ID and malformed requests complete at once (on the used
 * ring when this returns); the rest go to the I/O engine and complete in
 * vbsu_blk_reap.  A FLUSH is durable for every write completed before it
 * was taken.  Returns the number of requests taken, or a negative errno when
 * the ring itself is broken.  It also stops, with b->out_of_slots set, when
 * every request slot is in flight (only a guest re-posting descriptors it
 * has not got back can do that); vbsu_blk_reap frees slots.
 */
int vbsu_blk_process(struct vbsu_blk *b, struct vqueue *vq, int budget);

/* Readable (non-blocking eventfd) while finished requests wait for vbsu_blk_reap. */
int vbsu_blk_event_fd(const struct vbsu_blk *b);

/* Put requests the engine finished on their queue's used ring (short
 * transfers are resubmitted).  Returns how many completed. */
int vbsu_blk_reap(struct vbsu_blk *b);

/* Wait until nothing is in flight, completing everything (device reset,
 * close).  Blocks the caller: never on the data path. */
void vbsu_blk_drain(struct vbsu_blk *b);

/* Finish what is in flight, make every completed write durable, close. */
void vbsu_blk_close(struct vbsu_blk *b);

/* ---- virtio-console back-end, one port (console.c) ---- */

/* Buffers per chain we take: a chain needing more breaks the queue. */
#define VBSU_CON_MAX_IOV 128

/* The host side takes up to len bytes of guest output; returns how many it
 * took (less than len: it is full for now). */
typedef size_t (*vbsu_con_sink_fn)(void *opaque, const void *buf, size_t len);
/* The host side fills iov with input; returns the bytes written, 0 when it
 * has nothing now. */
typedef size_t (*vbsu_con_source_fn)(void *opaque, const struct iovec *iov, int niov);

struct vbsu_con {
	/* A transmit chain the sink has not taken whole yet: off the avail
	 * ring, not yet on the used ring. */
	bool tx_held;
	uint16_t tx_head;
	int tx_niov, tx_cur;  /* its buffers, and the one being sent */
	size_t tx_off;        /* bytes of tx_iov[tx_cur] already taken */
	struct iovec tx_iov[VBSU_CON_MAX_IOV];
	uint64_t tx_bytes, rx_bytes;
};

/*
 * Send transmit chains to sink, at most budget chains.  Returns the number
 * put on the used ring, or a negative errno when the guest broke the queue
 * (a writable buffer on the transmit queue breaks it too).  *blocked is set
 * when the sink filled up (a chain is held; call again when it has room),
 * *more when the budget ran out.
 */
int vbsu_con_tx(struct vbsu_con *c, struct vqueue *vq, int budget, vbsu_con_sink_fn sink,
		void *opaque, bool *blocked, bool *more);

/*
 * Fill receive chains from source, one source call per chain, at most budget
 * chains.  Returns the number put on the used ring, or a negative errno when
 * the guest broke the queue (a readable buffer on the receive queue breaks
 * it too).  *starved is set when the guest has no buffer left, *more when
 * the budget ran out; neither means the source had nothing.
 */
int vbsu_con_rx(struct vbsu_con *c, struct vqueue *vq, int budget, vbsu_con_source_fn source,
		void *opaque, bool *starved, bool *more);

/* Device reset: forget the held transmit chain. */
void vbsu_con_reset(struct vbsu_con *c);

/* ---- virtio-net back-end on a TAP interface (net.c) ---- */

#define VBSU_NET_MAC_TABLE 64
#define VBSU_NET_MAX_IOV 64

struct vbsu_net {
	int tap_fd;
	char ifname[16];
	unsigned tap_offloads;    /* TUN_F_* flags the TAP accepted at open */
	unsigned hdr_len;         /* virtio-net header bytes: 10, or 12 with num_buffers */
	bool mrg_rxbuf;           /* a frame may span several receive chains */

	/* Receive filter, as the driver set it through the control queue. */
	uint8_t mac[6];
	bool promisc, allmulti;
	int n_uni, n_multi;
	bool uni_overflow, multi_overflow; /* table too long: accept that class */
	uint8_t uni[VBSU_NET_MAC_TABLE][6], multi[VBSU_NET_MAC_TABLE][6];

	/* A frame read from the TAP that waits for guest buffers. */
	uint8_t *frame;
	size_t frame_len;
	bool frame_pending;

	uint64_t rx_frames, rx_filtered, rx_too_big, tx_frames, tx_errors;
	int tx_last_errno; /* why the TAP refused the last dropped frame */
};

/*
 * Open the existing TAP interface ifname with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR,
 * non-blocking, and find which offloads it takes.  Returns 0, or a negative
 * errno with a one-line reason in err (missing, busy, not a TAP).
 */
int vbsu_net_open(struct vbsu_net *n, const char *ifname, char *err, size_t errlen);

/*
 * Apply the negotiated layout: header length, MRG_RXBUF, and the TUN_F_*
 * offloads the driver accepted (what the TAP may hand us).  Returns 0 or -errno.
 */
int vbsu_net_configure(struct vbsu_net *n, unsigned hdr_len, bool mrg_rxbuf, unsigned offloads);

/* Back to the state after open: filter reset to promiscuous, pending frame dropped. */
void vbsu_net_reset(struct vbsu_net *n);

/*
 * Move frames from the TAP into receive chains, at most budget frames.
 * Returns the number delivered, or a negative errno when the ring is broken.
 * *starved is set when a frame waits because the guest posted too few
 * buffers (nothing is dropped: the frame is kept), *more when the budget ran
 * out with the TAP possibly not empty.
 */
int vbsu_net_rx(struct vbsu_net *n, struct vqueue *rxq, int budget, bool *starved, bool *more);

/*
 * Send up to budget available transmit chains to the TAP.  Returns the
 * number sent, or a negative errno when the ring is broken.  *blocked is set
 * when the TAP refused more for now (EAGAIN): wait for it to be writable.
 */
int vbsu_net_tx(struct vbsu_net *n, struct vqueue *txq, int budget, bool *blocked);

/*
 * Use fd as the TAP (already opened and set up; vbsu_net_open calls this):
 * allocate the frame buffer and reset the filter.  Tests and fuzz targets
 * pass a datagram socket instead.  Returns 0 or -ENOMEM.
 */
int vbsu_net_attach(struct vbsu_net *n, int fd, const char *name);

/* Largest control command taken whole, and buffers per command chain. */
#define VBSU_NET_CTRL_MAX 1024
#define VBSU_NET_CTRL_MAX_IOV 8

/*
 * One control command (class, command, data; virtio 1.2, 5.1.6.5) against
 * the receive filter and MAC, with the negotiated features.  Returns
 * VIRTIO_NET_OK or VIRTIO_NET_ERR; a malformed command changes nothing.
 */
uint8_t vbsu_net_ctrl(struct vbsu_net *n, const uint8_t *cmd, size_t len, uint64_t features);

/*
 * Serve every command on the control queue, writing each ack.  Returns the
 * number served, or a negative errno when the guest broke the queue (a
 * chain without a command header or an ack byte breaks it too).
 */
int vbsu_net_ctrl_process(struct vbsu_net *n, struct vqueue *cq, uint64_t features);

void vbsu_net_close(struct vbsu_net *n);

#endif /* VDM_VBSU_H */
