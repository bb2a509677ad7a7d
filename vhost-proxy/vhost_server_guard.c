/*
 * vhost_server_guard.c - surviving a front-end that shrinks the file behind
 * its memory table.
 *
 * The regions of SET_MEM_TABLE are MAP_SHARED mappings of the front-end's
 * files.  Their size is checked when they are mapped (vhost_server_mem.c),
 * but a file that is not sealed against shrinking (UML's memory file, QEMU's
 * file-backed memory: most are not) can be truncated by the front-end at any
 * time after, and the daemon's next load or store in the part cut off raises
 * SIGBUS, which would kill it.  So when the owner asks
 * (vhost_server_guard_memory), a SIGBUS handler looks at the faulting
 * address: inside a mapped region, the page is replaced with a private zero
 * page, so the access that faulted completes (a ring read as zeros, a
 * buffer's bytes thrown away), and the handler wakes the owner through an
 * eventfd so it drops the front-end.  Anywhere else the fault is not ours:
 * the handler that was there before runs, or the default kills the process
 * as it would have.  The kernel's own accesses to such pages (io_uring,
 * preadv into a guest buffer) fail with EFAULT instead and need nothing.
 *
 * The handler runs on whichever thread faulted, while the loop thread may
 * be changing the table: the ranges are a fixed array of atomics, added
 * before a region is used and removed before it is unmapped.
 */
#include "vhost_server_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

/* A new table is mapped before the old one goes: room for both. */
#define GUARDED_MAX (2 * VHOST_SERVER_MAX_REGIONS)

static struct {
	_Atomic uintptr_t start; /* 0: a free slot */
	_Atomic size_t len;
} guarded[GUARDED_MAX];

static int fault_fd = -1;
static uintptr_t page_size; /* sysconf is not one of the calls a handler may make */
static _Atomic uintptr_t last_fault;
static struct sigaction previous;

void vs_guard_add(void *map, size_t len)
{
	for (int i = 0; i < GUARDED_MAX; i++) {
		uintptr_t free_slot = 0;

		/* The length first: a slot whose start is set is complete. */
		if (atomic_load(&guarded[i].start) == 0) {
			atomic_store(&guarded[i].len, len);
			if (atomic_compare_exchange_strong(&guarded[i].start, &free_slot,
							   (uintptr_t)map))
				return;
		}
	}
	/* Cannot happen with two tables at most; unguarded, a shrink is fatal
	 * as it was before this file existed. */
}

void vs_guard_remove(void *map)
{
	for (int i = 0; i < GUARDED_MAX; i++) {
		uintptr_t mine = (uintptr_t)map;

		if (atomic_compare_exchange_strong(&guarded[i].start, &mine, 0))
			return;
	}
}

static bool guarded_page(uintptr_t addr)
{
	for (int i = 0; i < GUARDED_MAX; i++) {
		uintptr_t start = atomic_load(&guarded[i].start);

		if (start && addr >= start && addr - start < atomic_load(&guarded[i].len))
			return true;
	}
	return false;
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	int saved_errno = errno;
	uintptr_t addr = (uintptr_t)si->si_addr;
	uintptr_t page = addr & ~(page_size - 1);

	if (fault_fd >= 0 && guarded_page(addr) &&
	    mmap((void *)page, page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
		uint64_t one = 1;

		atomic_store(&last_fault, addr);
		if (write(fault_fd, &one, sizeof(one)) < 0) {
			/* The counter is full: the owner has been told already. */
		}
		errno = saved_errno;
		return;
	}
	/* Not a page of ours: what would have happened without us. */
	if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
		previous.sa_sigaction(sig, si, ctx);
	} else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
	} else {
		/* Returning re-runs the access, which faults again into the
		 * default action. */
		signal(SIGBUS, SIG_DFL);
	}
	errno = saved_errno;
}

int vhost_server_guard_memory(void)
{
	struct sigaction sa;

	if (fault_fd >= 0)
		return fault_fd;
	page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
	fault_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fault_fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous)) {
		int ret = -errno;

		close(fault_fd);
		fault_fd = -1;
		return ret;
	}
	return fault_fd;
}

bool vhost_server_guard_fault(const struct vhost_server *s, uint64_t *gpa)
{
	uint64_t n;
	uintptr_t addr;

	if (fault_fd < 0 || read(fault_fd, &n, sizeof(n)) != sizeof(n))
		return false;
	addr = atomic_load(&last_fault);
	*gpa = UINT64_MAX;
	for (int i = 0; s && i < s->mem.n; i++) {
		const struct vs_region *r = &s->mem.r[i];

		if (addr >= (uintptr_t)r->host && addr - (uintptr_t)r->host < r->size)
			*gpa = r->gpa + (addr - (uintptr_t)r->host);
	}
	return true;
}
