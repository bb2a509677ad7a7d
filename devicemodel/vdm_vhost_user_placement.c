/*
 * vdm_vhost_user_placement.c - where the daemon's front-end may run, and
 * what that makes of `poll=auto`.
 *
 * The notification hold-off (holdoff.h) looks at a ring every few
 * microseconds from a timer after it runs empty.  With the front-end on a
 * CPU of its own that saves a cross-CPU wake-up per kick; with both held to
 * the same single CPU each tick takes that CPU from the front-end, which
 * then posts later (bench part 8, UML's virtio_uml pinned with the daemon:
 * 0.77-0.83x qemu-storage-daemon with the hold-off, 1.32-1.42x without;
 * on two CPUs it gained 15-30% at QD32).  The front-end's process is the
 * peer of its socket (SO_PEERCRED), so its CPU affinity can be compared with
 * the daemon's once per connection: only when both are confined to the very
 * same CPU is the hold-off certain to cost, and only then does auto mean
 * off.  Anything unknown (a peer in another PID namespace) keeps off, what
 * the daemon did before it could tell.
 */
#include "vdm_vhost_user.h"
#include "log.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* "0", "0-1", "0,2": a CPU set for the log. */
static void cpus_text(const cpu_set_t *set, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && used < len; c++) {
		int end = c;

		if (!CPU_ISSET(c, set))
			continue;
		while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set))
			end++;
		used += (size_t)snprintf(buf + used, len - used, end > c ? "%s%d-%d" : "%s%d",
					 used ? "," : "", c, end);
		c = end;
	}
}

struct virtio_poll vvu_front_end_poll(struct vvu_daemon *dm, int conn_fd)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);
	cpu_set_t ours, theirs;
	char our_text[64], their_text[64];
	bool same_cpu;

	if (dm->poll.mode != VIRTIO_POLL_UNSET && dm->poll.mode != VIRTIO_POLL_AUTO)
		return dm->poll; /* poll=off or USECS: as asked */
	if (getsockopt(conn_fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) || peer.pid <= 0 ||
	    sched_getaffinity(0, sizeof(ours), &ours) ||
	    sched_getaffinity(peer.pid, sizeof(theirs), &theirs)) {
		log_info("poll=auto: cannot tell which CPUs the front-end runs on (%s): hold-off off",
			 errno ? strerror(errno) : "no peer process");
		return (struct virtio_poll){ .mode = VIRTIO_POLL_OFF };
	}
	same_cpu = CPU_COUNT(&ours) == 1 && CPU_EQUAL(&ours, &theirs);
	cpus_text(&ours, our_text, sizeof(our_text));
	cpus_text(&theirs, their_text, sizeof(their_text));
	log_info("poll=auto: the front-end (pid %d) runs on CPU %s, the daemon on CPU %s: %s",
		 (int)peer.pid, their_text, our_text,
		 same_cpu ? "hold-off off (its ticks would take the front-end's only CPU)"
			  : "hold-off on");
	return (struct virtio_poll){ .mode = same_cpu ? VIRTIO_POLL_OFF : VIRTIO_POLL_AUTO };
}
