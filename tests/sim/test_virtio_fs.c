/*
 * test_virtio_fs.c - virtio-fs on the simulator, served by a real
 * vhost-user back-end: QEMU's virtiofsd sharing a host directory.  The test
 * driver checks the function (IDs, class, the tag and queue count in config
 * space), then speaks FUSE over the request queue the way the guest's
 * virtiofs driver does: INIT, LOOKUP of a file the host wrote, OPEN, READ
 * (the bytes must be the host's), CREATE + WRITE of a new file (the host
 * must find it).  Then the refusals: no vhost=user, no tag, a tag too long,
 * more request queues than virtiofsd serves.
 * Needs root (virtiofsd) and virtiofsd; skipped otherwise.  virtiofsd runs
 * with its chroot sandbox, which works where namespaces are not allowed.
 */
#include "blk_guest.h"
#include "peer.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <stdlib.h>
#include <unistd.h>

#define FS_SLOT 4
#define HELLO_LEN 5000
#define BUF_LEN 16384
#define REQ_QUEUE 1 /* queue 0 is the high-priority queue */

static char dir[] = "/tmp/vdm-vfs-XXXXXX";
static char share[64], sock[64];
static pid_t vfsd = -1;

static const char *virtiofsd_path(void)
{
	static const char *const paths[] = { "/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd",
					     "/usr/bin/virtiofsd" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Start virtiofsd sharing share on sock; wait for the socket. */
static bool vfsd_start(const char *path)
{
	char src[96], sockarg[96], log[96];

	snprintf(src, sizeof(src), "source=%s", share);
	snprintf(sockarg, sizeof(sockarg), "--socket-path=%s", sock);
	snprintf(log, sizeof(log), "%s/virtiofsd.log", dir);
	vfsd = peer_spawn((char *const[]){ (char *)path, sockarg, "-o", src, "-o", "cache=none",
					   "-o", "sandbox=chroot", "-f", NULL },
			  log);
	return peer_wait_socket(&vfsd, sock, 5000) == 0;
}

/* The guest's side of FUSE: request buffers in guest RAM. */
struct fuse_guest {
	struct drv_virtio v;
	uint64_t req, reply; /* BUF_LEN each */
	uint64_t unique;
};

/*
 * One FUSE request on the (first) request queue, REQ_QUEUE: header + arg (len bytes)
 * device-readable, reply header + up to BUF_LEN device-writable.  Returns
 * the reply's error (0 or -errno), or 1 when the device did not answer
 * properly; *out points at the reply's argument, *out_len its length.
 */
static int fuse_call(struct fuse_guest *g, uint32_t opcode, uint64_t nodeid, const void *arg,
		     uint32_t len, void **out, uint32_t *out_len)
{
	struct fuse_in_header *in = drv_gpa(g->v.d, g->req, BUF_LEN);
	struct fuse_out_header *o = drv_gpa(g->v.d, g->reply, BUF_LEN);
	struct drv_buf rd = { g->req, (uint32_t)sizeof(*in) + len }, wr = { g->reply, BUF_LEN };
	uint32_t used;

	*in = (struct fuse_in_header){ .len = rd.len, .opcode = opcode, .unique = ++g->unique,
				       .nodeid = nodeid };
	memcpy(in + 1, arg, len);
	memset(o, 0xee, sizeof(*o));
	if (drv_virtio_post(&g->v, REQ_QUEUE, &rd, 1, &wr, 1, false) < 0)
		return 1;
	drv_virtio_kick(&g->v, REQ_QUEUE);
	if (drv_virtio_wait_used(&g->v, REQ_QUEUE, NULL, &used, 5000) != 1 || used < sizeof(*o) ||
	    o->unique != g->unique || o->len != used)
		return 1;
	*out = o + 1;
	*out_len = used - (uint32_t)sizeof(*o);
	return o->error;
}

static void fuse_session(struct fuse_guest *g)
{
	void *out;
	uint32_t n;
	uint8_t want[HELLO_LEN];

	struct fuse_init_in init = { .major = FUSE_KERNEL_VERSION, .minor = 31,
				     .max_readahead = 65536 };
	int e = fuse_call(g, FUSE_INIT, 0, &init, sizeof(init), &out, &n);
	drv_check(e == 0 && n >= 8 && ((struct fuse_init_out *)out)->major == FUSE_KERNEL_VERSION,
		  "FUSE_INIT answered by virtiofsd (error %d, major %u)", e,
		  e == 0 ? ((struct fuse_init_out *)out)->major : 0);

	e = fuse_call(g, FUSE_LOOKUP, FUSE_ROOT_ID, "hello.txt", 10, &out, &n);
	struct fuse_entry_out *ent = out;
	if (!drv_check(e == 0 && n >= sizeof(*ent) && ent->attr.size == HELLO_LEN,
		       "LOOKUP hello.txt: the host's file, %d bytes (error %d)", HELLO_LEN, e))
		return;
	uint64_t node = ent->nodeid;

	struct fuse_open_in open_in = { .flags = O_RDONLY };
	e = fuse_call(g, FUSE_OPEN, node, &open_in, sizeof(open_in), &out, &n);
	uint64_t fh = e == 0 ? ((struct fuse_open_out *)out)->fh : 0;
	drv_check(e == 0, "OPEN hello.txt (error %d)", e);

	struct fuse_read_in rd = { .fh = fh, .offset = 0, .size = 8192 };
	e = fuse_call(g, FUSE_READ, node, &rd, sizeof(rd), &out, &n);
	blk_pattern(want, HELLO_LEN, 7);
	drv_check(e == 0 && n == HELLO_LEN && !memcmp(out, want, HELLO_LEN),
		  "READ: the guest gets the host's %d bytes (error %d, %u bytes)", HELLO_LEN, e, n);

	/* CREATE + WRITE: the host sees what the guest wrote. */
	struct {
		struct fuse_create_in c;
		char name[8];
	} __attribute__((packed)) cr = { .c = { .flags = O_WRONLY | O_CREAT, .mode = 0644 },
					  .name = "out.txt" };
	e = fuse_call(g, FUSE_CREATE, FUSE_ROOT_ID, &cr, sizeof(cr), &out, &n);
	if (!drv_check(e == 0 && n >= sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out),
		       "CREATE out.txt (error %d)", e))
		return;
	uint64_t onode = ((struct fuse_entry_out *)out)->nodeid;
	uint64_t ofh = ((struct fuse_open_out *)((struct fuse_entry_out *)out + 1))->fh;
	struct {
		struct fuse_write_in w;
		char data[32];
	} __attribute__((packed)) wr = { .w = { .fh = ofh, .offset = 0, .size = 32 } };
	memcpy(wr.data, "written by the guest over FUSE\n", 32);
	e = fuse_call(g, FUSE_WRITE, onode, &wr, sizeof(wr), &out, &n);
	drv_check(e == 0 && n >= sizeof(struct fuse_write_out) &&
			  ((struct fuse_write_out *)out)->size == 32,
		  "WRITE 32 bytes to out.txt (error %d)", e);
	struct fuse_release_in rel = { .fh = ofh };
	fuse_call(g, FUSE_RELEASE, onode, &rel, sizeof(rel), &out, &n);

	char path[128];
	snprintf(path, sizeof(path), "%s/out.txt", share);
	drv_check(image_has(path, 0, (const uint8_t *)wr.data, 32),
		  "the host finds the guest's 32 bytes in %s", path);
}

static void refused(const char *spec, const char *want)
{
	char out[1024];
	int st = vdm_run((const char *const[]){ "--hsm", "sim", "-s", spec, NULL }, out,
			 sizeof(out));

	drv_check(st == 2 && strstr(out, want), "-s %s: refused naming '%s' (%d: %s)", spec, want,
		  st, out);
}

int main(void)
{
	const char *path = virtiofsd_path();
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct fuse_guest g = { 0 };
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	uint8_t hello[HELLO_LEN];
	char spec[160], file[96];
	int st, fd;

	refused("4,virtio-fs,tag=x", "vhost-user back-end only");
	refused("4,virtio-fs,vhost=user:/tmp/s", "needs tag=NAME");
	refused("4,virtio-fs,vhost=user:/tmp/s,tag=0123456789012345678901234567890123456",
		"1 to 36 bytes");
	refused("4,virtio-fs,vhost=user:/tmp/s,tag=x,queues=8", "1 to 7 request queues");
	if (!path || geteuid() != 0) {
		printf("SKIP: needs root and virtiofsd (qemu-system-common)\n");
		return drv_failures() ? 1 : 77;
	}
	if (!mkdtemp(dir))
		return 99;
	snprintf(share, sizeof(share), "%s/share", dir);
	snprintf(sock, sizeof(sock), "%s/fs.sock", dir);
	snprintf(file, sizeof(file), "%s/hello.txt", share);
	blk_pattern(hello, HELLO_LEN, 7);
	if (mkdir(share, 0755) || (fd = open(file, O_WRONLY | O_CREAT, 0644)) < 0 ||
	    write(fd, hello, HELLO_LEN) != HELLO_LEN || close(fd))
		return 99;
	if (!drv_check(vfsd_start(path), "virtiofsd listens on %s", sock))
		goto out;
	snprintf(spec, sizeof(spec), "%d,virtio-fs,vhost=user:%s,tag=vdmfs", FS_SLOT, sock);
	if (vdm_spawn(&p, (const char *const[]){ "-s", spec, NULL }, &st)) {
		drv_check(false, "vdm starts with a virtio-fs device (%d)", st);
		goto out;
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	struct drv_func *f = guest_func(funcs, nf, FS_SLOT);
	drv_check(f && f->vendor == 0x1af4 && f->device == 0x105a && f->class_code == 0x018000,
		  "virtio-fs is function 1af4:105a, class 0180 (%04x:%04x, %06x)", f ? f->vendor : 0,
		  f ? f->device : 0, f ? f->class_code : 0);
	if (!drv_check(virtio_guest_up(&g.v, &d, funcs, nf, FS_SLOT, 16 << 20, 0, 2, &mmio, &io) ==
				   0 &&
			       !(drv_virtio_status(&g.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		       "the driver brings it up: high-priority queue and one request queue"))
		goto stop;
	char tag[37] = { 0 };
	for (int i = 0; i < 36; i++)
		tag[i] = (char)drv_virtio_cfg_read(&g.v, (unsigned)i, 1);
	uint32_t nrq = (uint32_t)drv_virtio_cfg_read(
		&g.v, offsetof(struct virtio_fs_config, num_request_queues), 4);
	drv_check(!strcmp(tag, "vdmfs") && nrq == 1,
		  "config space: tag '%s', %u request queue(s)", tag, nrq);
	g.req = drv_virtio_alloc(&g.v, BUF_LEN, 4096);
	g.reply = drv_virtio_alloc(&g.v, BUF_LEN, 4096);
	fuse_session(&g);
	drv_virtio_fini(&g.v);
stop:
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);

	/* virtiofsd says (vhost-user MQ) that it serves two queues: a device
	 * with more is refused at start-up, not left to break at DRIVER_OK. */
	peer_stop(&vfsd, SIGTERM);
	unlink(sock);
	if (drv_check(vfsd_start(path), "virtiofsd listens again")) {
		char out[1024];

		snprintf(spec, sizeof(spec), "%d,virtio-fs,vhost=user:%s,tag=vdmfs,queues=2", FS_SLOT,
			 sock);
		st = vdm_run((const char *const[]){ "--hsm", "sim", "-s", spec, NULL }, out,
			     sizeof(out));
		drv_check(st == 1 && strstr(out, "serves 2 queues; the device has 3"),
			  "queues=2 on a back-end serving 2 queues: refused at start-up (%d: %s)", st,
			  out);
	}
out:
	peer_stop(&vfsd, SIGTERM);
	if (drv_failures()) {
		char log[96];

		snprintf(log, sizeof(log), "%s/virtiofsd.log", dir);
		peer_dump_log("virtiofsd", log);
	}
	unlink(file);
	snprintf(file, sizeof(file), "%s/out.txt", share);
	unlink(file);
	rmdir(share);
	unlink(sock);
	snprintf(file, sizeof(file), "%s/virtiofsd.log", dir);
	unlink(file);
	rmdir(dir);
	return drv_result();
}
