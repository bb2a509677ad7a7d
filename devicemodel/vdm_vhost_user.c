/*
 * vdm_vhost_user.c - vdm-vhost-user: one of vdm's VBS-U back-ends served to
 * any vhost-user front-end (QEMU's vhost-user-*-pci devices, another vdm's
 * vhost=user: route) on a UNIX socket, so the data plane vdm runs in-process
 * runs for other VMMs too, with the same code (DESIGN.md, "Back-ends are
 * reusable").
 *
 *   vdm-vhost-user [-v] [--log-file PATH] --socket PATH EMULATION[,OPTIONS]
 *
 * The vhost-user protocol is libvhostproxy's server (vhost_user_server.c);
 * this file is the program around it: the command line (EMULATION[,OPTIONS]
 * parsed by vdm's own parser, devemu_parse), vdm's event loop watching the
 * socket and each running ring's kick fd, and the ring served with libvbsu
 * on each kick through the emulation's hooks (vdm_vhost_user.h: virtio-rnd
 * here, virtio-blk, virtio-console and virtio-net in their own files).  A
 * front-end that goes away, or is dropped for a bad message, leaves the
 * daemon waiting for the next, with the back-end's state kept.
 * SIGINT/SIGTERM flush, remove the socket and end it with status 0; bad
 * arguments exit 2, a start-up failure 1.
 */
#include "vdm_vhost_user.h"
#include "devemu.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define PROG "vdm-vhost-user"
/* Chains per pass, and passes per turn of the loop, as vdm's own devices
 * (README, "Limits you will meet"): the control socket is never starved. */
#define SERVE_BUDGET 64
#define SERVE_PASSES 4

/* Split rings; the packed layout only when asked for (see offers_packed). */
uint64_t vvu_ring_features(void)
{
	return 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_INDIRECT_DESC |
	       1ULL << VIRTIO_RING_F_EVENT_IDX;
}

/*
 * libvbsu's rings do both layouts, but the daemon offers the packed one
 * only with packed=on among the emulation's options: a packed ring has no
 * in-flight tracking (a daemon that dies costs the guest a reset), and
 * User-Mode Linux's virtio_uml (6.1) starts every ring with SET_VRING_BASE
 * 0, a split ring's base, which ring_start can only read right on a fresh
 * ring (vq_packed_start_base); split works with every front-end tried.
 */
/* Whether opts holds nothing but packed=on|off: an emulation without
 * options of its own still takes the ring layout. */
static bool only_ring_layout(const char *opts)
{
	for (const char *p = opts; *p;) {
		size_t n = strcspn(p, ",");

		if (n && !(n == 9 && !strncmp(p, "packed=on", 9)) &&
		    !(n == 10 && !strncmp(p, "packed=off", 10)))
			return false;
		p += n + (p[n] == ',');
	}
	return true;
}

static bool offers_packed(const char *spec)
{
	for (const char *p = strchr(spec, ','); p; p = strchr(p + 1, ','))
		if (!strncmp(p + 1, "packed=on", 9) && (p[10] == ',' || !p[10]))
			return true;
	return false;
}

/* ---- virtio-rnd: OpenSSL's CSPRNG, one ring, nothing in flight ---- */

static int rnd_open(struct vvu_daemon *dm, const void *cfg, char *err, size_t errlen)
{
	(void)cfg;
	dm->nrings = 1;
	dm->features = vvu_ring_features();
	return vbsu_rnd_init(err, errlen);
}

static int rnd_process(struct vvu_daemon *dm, struct vvu_ring *r, int budget)
{
	(void)dm;
	return vbsu_rnd_process(&r->vq, budget);
}

static const struct vvu_emul vvu_emul_rnd = {
	.name = "virtio-rnd",
	.open = rnd_open,
	.process = rnd_process,
};

/* The emulations served; vdm's others are refused as not yet served. */
static const struct vvu_emul *const emuls[] = { &vvu_emul_rnd, &vvu_emul_blk,
						 &vvu_emul_console, &vvu_emul_net };

/* ---- serving a ring ---- */

void vvu_ring_completed(struct vvu_ring *r)
{
	/* EVENT_IDX / NO_INTERRUPT decide whether the driver hears of it. */
	if (r->running && vq_endchains(&r->vq))
		vhost_server_call(r->dm->server, r->idx);
}

/* Kicks on again (no hold-off, or it is over): true when work came meanwhile. */
static bool kicks_on(struct vvu_ring *r)
{
	vq_set_notify(&r->vq, true);
	holdoff_kicks_on(&r->holdoff);
	return vq_has_work(&r->vq);
}

void vvu_ring_serve(struct vvu_ring *r)
{
	struct vvu_daemon *dm = r->dm;
	uint64_t one = 1;

	if (!r->running || r->vq.broken)
		return;
	/* While we serve, the driver need not kick. */
	if (!r->device_paced)
		vq_set_notify(&r->vq, false);
	for (int pass = 0; pass < SERVE_PASSES; pass++) {
		int n = dm->emul->process(dm, r, SERVE_BUDGET);

		if (n < 0) {
			/* The driver broke the ring: say so to the front-end (its
			 * error fd) and touch the ring no more until it restarts it. */
			log_ratelimited(&r->rl, LOG_WARN, "ring %u: the driver broke it: %s", r->idx,
					r->vq.error ? r->vq.error : strerror(-n));
			vvu_ring_completed(r); /* what finished before the bad chain */
			vhost_server_ring_error(dm->server, r->idx);
			return;
		}
		vvu_ring_completed(r);
		/* No room: completions bring us back (the device's job). */
		if (r->blocked)
			return;
		if (n < SERVE_BUDGET) {
			/* Empty: hold kicks off for a window (holdoff.h), or ask
			 * for the next kick and look once more, since a chain
			 * posted before the driver saw that would get none. */
			if (!r->device_paced && holdoff_begin(&r->holdoff, r->busy))
				return;
			if (!kicks_on(r))
				return;
		}
	}
	/* Still busy: come back after the loop's other fds had their turn. */
	if (write(r->resume_fd, &one, sizeof(one)) < 0)
		log_debug("ring %u: resume: %s", r->idx, strerror(errno));
}

void vvu_ring_completions_sent(struct vvu_ring *r)
{
	if (r->running && !holdoff_completions_sent(&r->holdoff, r->busy) && kicks_on(r))
		vvu_ring_serve(r);
}

static void on_holdoff(void *arg, int fd, uint32_t events)
{
	struct vvu_ring *r = arg;
	bool live = r->running && !r->vq.broken;

	(void)fd;
	(void)events;
	switch (holdoff_tick(&r->holdoff, live && vq_has_work(&r->vq))) {
	case HOLDOFF_WORK:
		vvu_ring_serve(r);
		break;
	case HOLDOFF_WAIT:
		if (!live)
			holdoff_stop(&r->holdoff);
		break;
	case HOLDOFF_KICKS_ON:
		if (live && kicks_on(r))
			vvu_ring_serve(r);
		break;
	case HOLDOFF_NOTHING:
		break;
	}
}

static void on_kick(void *arg, int fd, uint32_t events)
{
	struct vvu_ring *r = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) <= 0 && (events & (EPOLLHUP | EPOLLERR))) {
		/* Not an eventfd after all, and its writer is gone: nothing
		 * will kick this ring again; do not spin on it either. */
		log_warn("ring %u: the kick fd hung up", r->idx);
		evloop_del_fd(r->dm->loop, fd);
		return;
	}
	holdoff_kicked(&r->holdoff);
	vvu_ring_serve(r);
}

static void on_resume(void *arg, int fd, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* Spurious wake-up: the counter was already read. */
	}
	vvu_ring_serve(arg);
}

/* ---- the server's callbacks ---- */

static int ring_start(void *opaque, unsigned idx, const struct vhost_server_ring *sr, char *err,
		      size_t errlen)
{
	struct vvu_daemon *dm = opaque;
	struct vvu_ring *r = &dm->rings[idx];
	struct vq_mem mem = { vhost_server_translate, dm->server };
	int ret;

	vq_reset(&r->vq);
	if (vq_setup(&r->vq, &mem, sr->num, (uint16_t)VQ_MAX_SIZE, sr->desc_gpa, sr->avail_gpa,
		     sr->used_gpa, sr->features)) {
		snprintf(err, errlen, "%s", r->vq.error);
		return -EINVAL;
	}
	/*
	 * Take up where the last owner stopped: its avail index, and the used
	 * index the ring itself holds.  A packed ring holds none, and its base
	 * is a position (wrap counter in bit 15): the last owner finished what
	 * it took, so the used position is the avail one.  With an in-flight
	 * region (split rings), the region says where, and which chains a
	 * back-end that died held: they are served again first.
	 */
	if (sr->inflight && !r->vq.packed) {
		ret = vq_inflight_attach(&r->vq, sr->inflight, sr->inflight_len, sr->base);
		if (ret) {
			snprintf(err, errlen, "%s", r->vq.error);
			vq_reset(&r->vq);
			return ret;
		}
		if (vq_inflight_resubmits(&r->vq))
			log_info("ring %u: %u requests a back-end before left in flight are "
				 "served again", idx, vq_inflight_resubmits(&r->vq));
	} else if (r->vq.packed) {
		uint16_t base = vq_packed_start_base(&r->vq, sr->base);

		if (base != sr->base)
			log_info("ring %u: a fresh packed ring given base %#x, a split ring's: "
				 "started at wrap counter 1 (%#x), where the driver starts",
				 idx, sr->base, base);
		vq_set_indexes(&r->vq, base, base);
	} else {
		vq_set_indexes(&r->vq, sr->base, vq_used_idx_in_ring(&r->vq));
	}
	ret = evloop_add_fd(dm->loop, sr->kick_fd, EPOLLIN, on_kick, r);
	if (ret) {
		snprintf(err, errlen, "cannot watch its kick fd: %s", strerror(-ret));
		vq_reset(&r->vq);
		return ret;
	}
	r->kick_fd = sr->kick_fd;
	r->running = true;
	r->blocked = false;
	r->busy = false;
	holdoff_reset(&r->holdoff);
	if (dm->emul->ring_started &&
	    (ret = dm->emul->ring_started(dm, r, sr->features, err, errlen)) != 0) {
		evloop_del_fd(dm->loop, r->kick_fd);
		r->running = false;
		r->kick_fd = -1;
		vq_reset(&r->vq);
		return ret;
	}
	log_info("ring %u started: %u entries, from avail index %u%s", idx, sr->num,
		 r->vq.last_avail, r->vq.tracker ? ", requests in flight tracked" : "");
	/* Requests may wait from before (another owner stopped with work
	 * posted): a ring must not depend on a kick to start. */
	vvu_ring_serve(r);
	return 0;
}

static void ring_stop(void *opaque, unsigned idx, uint16_t *next_avail)
{
	struct vvu_daemon *dm = opaque;
	struct vvu_ring *r = &dm->rings[idx];

	if (!r->running)
		return;
	/* Requests in flight finish first: their buffers are in guest memory
	 * the front-end may take away next. */
	if (dm->emul->quiesce)
		dm->emul->quiesce(dm);
	evloop_del_fd(dm->loop, r->kick_fd);
	holdoff_stop(&r->holdoff);
	*next_avail = r->vq.last_avail;
	vq_reset(&r->vq);
	r->running = false;
	r->kick_fd = -1;
	log_info("ring %u stopped at avail index %u", idx, *next_avail);
}

static int mem_changed(void *opaque, char *err, size_t errlen)
{
	struct vvu_daemon *dm = opaque;

	/* Requests in flight have buffers in the old table, which goes once
	 * this returns: they finish first. */
	if (dm->emul->quiesce)
		dm->emul->quiesce(dm);
	for (unsigned i = 0; i < dm->nrings; i++) {
		struct vvu_ring *r = &dm->rings[i];

		if (r->running && vq_remap(&r->vq)) {
			snprintf(err, errlen, "ring %u: %s", i, r->vq.error);
			return -EFAULT;
		}
	}
	return 0;
}

/* STATUS: what the front-end's driver did with the device, for the log
 * (the server judged it; rings follow it there). */
static void status_changed(void *opaque, uint8_t old, uint8_t status, const char *why)
{
	struct vvu_daemon *dm = opaque;

	if (*why)
		log_ratelimited(&dm->status_rl, LOG_WARN, "device status %#x -> %#x: %s", old,
				status, why);
	else
		log_info("device status %#x -> %#x%s", old, status,
			 status & VIRTIO_CONFIG_S_DRIVER_OK ? " (DRIVER_OK)"
			 : status == 0			      ? " (reset)"
							      : "");
}

/* ---- the front-end's connection ---- */

static void drop_front_end(struct vvu_daemon *dm, int fd)
{
	evloop_del_fd(dm->loop, fd);
	vhost_server_disconnect(dm->server);
	log_info("waiting for a front-end on %s", dm->path);
}

static void on_conn(void *arg, int fd, uint32_t events)
{
	struct vvu_daemon *dm = arg;
	int ret = vhost_server_handle(dm->server);

	(void)events;
	if (!ret)
		return;
	if (ret == -ECONNRESET)
		log_info("the front-end disconnected");
	else
		log_warn("front-end dropped: %s", vhost_server_error(dm->server));
	drop_front_end(dm, fd);
}

/* The front-end shrank a file of its memory table under our mapping
 * (vhost_server_guard_memory): the page read as zeros; it goes now. */
static void on_mem_fault(void *arg, int fd, uint32_t events)
{
	struct vvu_daemon *dm = arg;
	int conn = vhost_server_conn_fd(dm->server);
	uint64_t gpa;

	(void)fd;
	(void)events;
	if (!vhost_server_guard_fault(dm->server, &gpa) || conn < 0)
		return;
	if (gpa != UINT64_MAX)
		log_warn("front-end dropped: guest memory at 0x%llx is gone (the front-end shrank "
			 "the file behind its memory table)", (unsigned long long)gpa);
	else
		log_warn("front-end dropped: a page of its memory table is gone (the front-end "
			 "shrank the file behind it)");
	drop_front_end(dm, conn);
}

/*
 * Before judging a newcomer: the front-end we have may be gone with its
 * close not yet seen (a VMM restarting exits, then its successor connects
 * at once).  Serve what it left, a bounded number of messages, so a
 * front-end that has gone is not taken for one still there.
 */
static void settle_conn(struct vvu_daemon *dm)
{
	int fd;

	for (int i = 0; i < 64 && (fd = vhost_server_conn_fd(dm->server)) >= 0; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 0) <= 0)
			break;
		on_conn(dm, fd, p.revents);
	}
}

static void on_listen(void *arg, int fd, uint32_t events)
{
	struct vvu_daemon *dm = arg;
	int ret;

	(void)fd;
	(void)events;
	settle_conn(dm);
	ret = vhost_server_accept(dm->server);
	if (ret == -EAGAIN)
		return;
	if (ret == -EBUSY) {
		log_ratelimited(&dm->refused_rl, LOG_WARN, "%s", vhost_server_error(dm->server));
		return;
	}
	if (ret) {
		log_err("%s", vhost_server_error(dm->server));
		return;
	}
	ret = evloop_add_fd(dm->loop, vhost_server_conn_fd(dm->server), EPOLLIN, on_conn, dm);
	if (ret) {
		log_err("cannot watch the front-end's socket: %s", strerror(-ret));
		vhost_server_disconnect(dm->server);
		return;
	}
	log_info("a front-end connected");
	/* Its rings start later (SET_VRING_KICK), with this hold-off. */
	struct virtio_poll poll = vvu_front_end_poll(dm, vhost_server_conn_fd(dm->server));

	for (unsigned i = 0; i < dm->nrings; i++)
		dm->rings[i].holdoff.poll = poll;
}

/* ---- command line ---- */

struct options {
	const char *socket;
	const char *spec;
	const char *log_file;
	int verbosity;
	bool help, version;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [OPTIONS] --socket PATH EMULATION[,OPTIONS]\n"
		"Serve one of vdm's VBS-U back-ends to a vhost-user front-end (for example\n"
		"QEMU's vhost-user-blk-pci, or vdm's vhost=user:PATH) on a UNIX socket.\n"
		"\n"
		"      --socket PATH     listen on PATH (a stale socket there is replaced;\n"
		"                        any other file is refused)\n"
		"  -v, --verbose         more log detail (repeat for more)\n"
		"      --log-file PATH   log to PATH instead of stderr\n"
		"  -h, --help            show this help and exit\n"
		"      --version         show the version and exit\n"
		"\n"
		"Emulations, with vdm's options for them (as after the slot in vdm -s):\n"
		"  virtio-rnd            entropy from OpenSSL's CSPRNG, one request queue\n"
		"  virtio-blk,IMAGE[,ro][,sectorsize=512|4096][,serial=ID]\n"
		"            [,writeback|writethru|nocache][,aio=io_uring|threads][,mq=N]\n"
		"            [,locking=off]\n"
		"                        a disk on a raw image, N request queues (up to 8);\n"
		"                        its config space through the CONFIG protocol feature\n"
		"  virtio-console,stdio|pty|socket:PATH\n"
		"                        a console with one port on this terminal, a new\n"
		"                        pseudo-terminal or a UNIX socket\n"
		"  virtio-net,tap=NAME[,mac=MAC][,offloads=all|csum|none]\n"
		"                        a NIC on an existing TAP interface (kept open\n"
		"                        across front-ends), one queue pair and the\n"
		"                        control queue; its config space through CONFIG\n"
		"(virtio-fs is not yet served.)\n");
}

static int parse(int argc, char **argv, struct options *o)
{
	enum { OPT_SOCKET = 256, OPT_LOG_FILE, OPT_HELP, OPT_VERSION };
	static const struct option long_opts[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "verbose", no_argument, NULL, 'v' },
		{ "log-file", required_argument, NULL, OPT_LOG_FILE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hv", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			o->socket = optarg;
			break;
		case 'v':
			o->verbosity++;
			break;
		case OPT_LOG_FILE:
			o->log_file = optarg;
			break;
		case 'h':
		case OPT_HELP:
			o->help = true;
			return 0;
		case OPT_VERSION:
			o->version = true;
			return 0;
		case ':':
			fprintf(stderr, PROG ": %s needs an argument\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, PROG ": unknown option %s (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, PROG ": %s\n",
			optind == argc ? "no emulation given (see --help)"
				       : "one emulation per process (see --help)");
		return -EINVAL;
	}
	o->spec = argv[optind];
	if (!o->socket) {
		fprintf(stderr, PROG ": --socket PATH is required\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * EMULATION[,OPTIONS]: the emulation, if served, and its options parsed by
 * vdm's own parser for -s (same options, same error lines) into *cfg.
 * NULL after a one-line error.
 */
static const struct vvu_emul *find_emul(const char *spec, const struct devemu **parser,
				       void **cfg)
{
	size_t len = strcspn(spec, ",");
	const char *opts = spec[len] ? spec + len + 1 : NULL;
	char name[32], why[200] = "";
	const struct devemu *emu = NULL;

	*cfg = NULL;
	if (len < sizeof(name)) {
		memcpy(name, spec, len);
		name[len] = '\0';
		emu = devemu_find(name);
	}
	if (!emu) {
		fprintf(stderr, PROG ": unknown emulation '%.*s' (see --help)\n", (int)len, spec);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(emuls) / sizeof(emuls[0]); i++) {
		const struct vvu_emul *e = emuls[i];

		if (strcmp(e->name, name))
			continue;
		if (devemu_parse(emu, opts, cfg, why, sizeof(why))) {
			fprintf(stderr, PROG ": %s\n", why);
			return NULL;
		}
		if ((!e->takes_options && opts && *opts && !only_ring_layout(opts)) ||
		    (e->check && e->check(*cfg, why, sizeof(why)))) {
			if (!why[0])
				snprintf(why, sizeof(why), "%s: '%s' is an option of vdm's PCI "
					 "function or route, not of the back-end", name, opts);
			fprintf(stderr, PROG ": %s\n", why);
			devemu_free_cfg(emu, *cfg);
			*cfg = NULL;
			return NULL;
		}
		*parser = emu;
		return e;
	}
	fprintf(stderr, PROG ": %s is not yet served by " PROG "\n", name);
	return NULL;
}

/* ---- main ---- */

static int daemon_init(struct vvu_daemon *dm, const void *cfg, char *err, size_t errlen)
{
	struct vhost_server_dev dev = {
		.name = dm->emul->name,
		.max_ring_size = (uint16_t)VQ_MAX_SIZE,
		.ring_start = ring_start,
		.ring_stop = ring_stop,
		.mem_changed = mem_changed,
		.inflight_queue_bytes = vq_inflight_queue_bytes,
		.status_changed = status_changed,
		.opaque = dm,
	};
	int ret;

	dm->refused_rl = (struct ratelimit)RATELIMIT_INIT;
	dm->status_rl = (struct ratelimit)RATELIMIT_INIT;
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		dm->rings[i] = (struct vvu_ring){ .dm = dm, .idx = i, .kick_fd = -1,
						  .resume_fd = -1, .rl = RATELIMIT_INIT,
						  .holdoff.fd = -1 };
	/* Unless poll= says otherwise, each front-end's placement decides
	 * (vvu_front_end_poll); until one connects there is nothing to hold. */
	dm->poll = (struct virtio_poll){ .mode = VIRTIO_POLL_UNSET };
	dm->loop = evloop_create();
	if (!dm->loop) {
		snprintf(err, errlen, "cannot create the event loop: %s", strerror(errno));
		return -errno;
	}
	ret = dm->emul->open(dm, cfg, err, errlen);
	if (ret)
		return ret;
	for (unsigned i = 0; i < dm->nrings; i++) {
		struct vvu_ring *r = &dm->rings[i];

		r->resume_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r->holdoff.poll = dm->poll;
		if (r->resume_fd < 0 ||
		    evloop_add_fd(dm->loop, r->resume_fd, EPOLLIN, on_resume, r) ||
		    holdoff_init(&r->holdoff) ||
		    evloop_add_fd(dm->loop, r->holdoff.fd, EPOLLIN, on_holdoff, r)) {
			snprintf(err, errlen, "cannot set up ring %u: %s", i, strerror(errno));
			return -EIO;
		}
	}
	dev.features = dm->features | (dm->packed ? 1ULL << VIRTIO_F_RING_PACKED : 0);
	dev.nrings = dm->nrings;
	if (dm->config_len) {
		dev.config = dm->config;
		dev.config_len = dm->config_len;
	}
	ret = vhost_server_open(&dm->server, dm->path, &dev, err, errlen);
	if (ret)
		return ret;
	ret = vhost_server_guard_memory();
	if (ret < 0 || (ret = evloop_add_fd(dm->loop, ret, EPOLLIN, on_mem_fault, dm))) {
		snprintf(err, errlen, "cannot guard the front-end's memory: %s", strerror(-ret));
		return ret;
	}
	ret = evloop_add_fd(dm->loop, vhost_server_listen_fd(dm->server), EPOLLIN, on_listen, dm);
	if (ret)
		snprintf(err, errlen, "cannot watch %s: %s", dm->path, strerror(-ret));
	return ret;
}

static void daemon_fini(struct vvu_daemon *dm)
{
	/* The server first: stopping its rings removes their watches and
	 * finishes what is in flight; then the back-end flushes. */
	vhost_server_close(dm->server);
	if (dm->emul->close)
		dm->emul->close(dm);
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++) {
		if (dm->rings[i].resume_fd >= 0)
			close(dm->rings[i].resume_fd);
		holdoff_fini(&dm->rings[i].holdoff);
	}
	if (dm->loop)
		evloop_destroy(dm->loop);
}

int main(int argc, char **argv)
{
	static struct vvu_daemon dm;
	const struct devemu *parser = NULL;
	void *cfg = NULL;
	struct options o = { 0 };
	char err[512] = "";
	int ret, sig;

	log_set_ident(PROG);
	if (parse(argc, argv, &o))
		return 2;
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (o.version) {
		printf(PROG " %s\n", PACKAGE_VERSION);
		return 0;
	}
	dm.emul = find_emul(o.spec, &parser, &cfg);
	if (!dm.emul)
		return 2;
	dm.path = o.socket;
	log_set_level(LOG_INFO + o.verbosity);
	if (o.log_file) {
		ret = log_open_file(o.log_file);
		if (ret) {
			fprintf(stderr, PROG ": --log-file '%s': %s\n", o.log_file, strerror(-ret));
			devemu_free_cfg(parser, cfg);
			return 2;
		}
	}
	/* A call or error fd that is a pipe whose reader left must not kill
	 * the daemon: the write just fails. */
	signal(SIGPIPE, SIG_IGN);
	dm.packed = offers_packed(o.spec);
	ret = daemon_init(&dm, cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, PROG ": %s\n", err[0] ? err : strerror(-ret));
		if (o.log_file)
			log_err("%s", err[0] ? err : strerror(-ret));
		daemon_fini(&dm);
		devemu_free_cfg(parser, cfg);
		log_close();
		return 1;
	}
	log_info("serving %s on %s (%u ring%s)", dm.emul->name, dm.path, dm.nrings,
		 dm.nrings == 1 ? "" : "s");
	sig = evloop_run(dm.loop);
	log_info("stopping%s%s", sig ? " on " : "", sig ? strsignal(sig) : "");
	daemon_fini(&dm);
	devemu_free_cfg(parser, cfg);
	log_close();
	return 0;
}
