/*
 * passthru_host.c - the host side of passthrough: finding the host function
 * with libpciaccess, reading its config space and BARs, the checks before
 * vdm takes it (no other host driver, no other VM), the lock that tells
 * other vdms it is taken, and the sysfs function reset.
 */
#include "passthru.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pciaccess.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/pci_regs.h>

/* libpciaccess is one per process: set up with the first function, torn
 * down with the last. */
static pthread_mutex_t pciaccess_lock = PTHREAD_MUTEX_INITIALIZER;
static int pciaccess_users;

static int pciaccess_get(void)
{
	int ret = 0;

	pthread_mutex_lock(&pciaccess_lock);
	if (pciaccess_users == 0)
		ret = -pci_system_init(); /* a positive errno on failure */
	if (ret == 0)
		pciaccess_users++;
	pthread_mutex_unlock(&pciaccess_lock);
	return ret;
}

static void pciaccess_put(void)
{
	pthread_mutex_lock(&pciaccess_lock);
	if (--pciaccess_users == 0)
		pci_system_cleanup();
	pthread_mutex_unlock(&pciaccess_lock);
}

static void bdf_str(uint16_t bdf, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x.%x", bdf >> 8, (bdf >> 3) & 0x1f, bdf & 7);
}

/* The host driver bound to the function ("" for none), from sysfs. */
static void bound_driver(const struct passthru_host *h, char *name, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "%s/driver", h->sysfs);
	n = readlink(link, target, sizeof(target) - 1);
	name[0] = '\0';
	if (n <= 0)
		return;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	size_t n_base;

	base = base ? base + 1 : target;
	n_base = strnlen(base, len - 1);
	memcpy(name, base, n_base);
	name[n_base] = '\0';
}

/* Who holds the flock on the file open as fd, from /proc/locks (0: unknown). */
static long lock_holder(int fd)
{
	struct stat st;
	char line[256];
	long pid = 0;
	FILE *f;

	if (fstat(fd, &st) || !(f = fopen("/proc/locks", "re")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char kind[16], dev[32];
		unsigned long long ino;
		long p;

		if (sscanf(line, "%*d: %15s %*s %*s %ld %31[^:]:%*[^:]:%llu", kind, &p, dev, &ino) ==
			    4 &&
		    !strcmp(kind, "FLOCK") && ino == (unsigned long long)st.st_ino) {
			pid = p;
			break;
		}
	}
	fclose(f);
	return pid;
}

/* Lock the function for this VM: an exclusive flock on its config file,
 * which goes with vdm (whatever way it ends). */
static int take_lock(struct passthru_host *h, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/config", h->sysfs);
	h->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (h->lock_fd < 0) {
		snprintf(err, errlen, "host function %s: cannot open %s: %s", name, path,
			 strerror(errno));
		return -errno;
	}
	if (flock(h->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	int e = errno;
	long pid = e == EWOULDBLOCK ? lock_holder(h->lock_fd) : 0;

	if (e != EWOULDBLOCK)
		snprintf(err, errlen, "host function %s: cannot lock %s: %s", name, path,
			 strerror(e));
	else if (pid == getpid())
		snprintf(err, errlen, "host function %s is already given to this VM by another -s",
			 name);
	else if (pid > 0)
		snprintf(err, errlen, "host function %s is already assigned to another VM (vdm "
			 "pid %ld has it)", name, pid);
	else
		snprintf(err, errlen, "host function %s is already assigned to another VM", name);
	close(h->lock_fd);
	h->lock_fd = -1;
	return e == EWOULDBLOCK ? -EBUSY : -e;
}

int passthru_host_open(struct passthru_host *h, uint16_t bdf, char *err, size_t errlen)
{
	struct pci_slot_match match = { .domain = 0, .bus = bdf >> 8, .dev = (bdf >> 3) & 0x1f,
					.func = bdf & 7 };
	struct pci_device_iterator *it;
	char name[16], driver[64];
	int ret;

	memset(h, 0, sizeof(*h));
	h->bdf = bdf;
	h->lock_fd = -1;
	bdf_str(bdf, name, sizeof(name));
	snprintf(h->sysfs, sizeof(h->sysfs), "/sys/bus/pci/devices/0000:%s", name);
	ret = pciaccess_get();
	if (ret) {
		snprintf(err, errlen, "host function %s: libpciaccess cannot read the host's PCI "
			 "functions: %s", name, strerror(-ret));
		return ret;
	}
	h->pciaccess_up = true;
	it = pci_slot_match_iterator_create(&match);
	h->dev = it ? pci_device_next(it) : NULL;
	pci_iterator_destroy(it);
	if (!h->dev) {
		snprintf(err, errlen, "host function %s: no such PCI function on this host", name);
		ret = -ENODEV;
		goto err;
	}
	ret = -pci_device_probe(h->dev);
	if (ret) {
		snprintf(err, errlen, "host function %s: libpciaccess cannot probe it: %s", name,
			 strerror(-ret));
		goto err;
	}
	/* A function a host driver drives is the host's: ACRN takes only one
	 * parked on a stub driver (or on none). */
	bound_driver(h, driver, sizeof(driver));
	if (driver[0] && strcmp(driver, "pci-stub") && strcmp(driver, "vfio-pci")) {
		snprintf(err, errlen, "host function %s is bound to the host driver %s; bind it to "
			 "pci-stub or vfio-pci first", name, driver);
		ret = -EBUSY;
		goto err;
	}
	ret = take_lock(h, name, err, errlen);
	if (ret)
		goto err;
	return 0;
err:
	passthru_host_close(h);
	return ret;
}

void passthru_host_close(struct passthru_host *h)
{
	if (h->lock_fd >= 0)
		close(h->lock_fd); /* drops the flock */
	h->lock_fd = -1;
	h->dev = NULL;
	if (h->pciaccess_up)
		pciaccess_put();
	h->pciaccess_up = false;
}

uint32_t passthru_host_cfg_read(struct passthru_host *h, unsigned off, unsigned size)
{
	uint32_t v32 = ~0u;
	uint16_t v16 = 0xffff;
	uint8_t v8 = 0xff;

	switch (size) {
	case 1:
		return pci_device_cfg_read_u8(h->dev, &v8, off) ? 0xff : v8;
	case 2:
		return pci_device_cfg_read_u16(h->dev, &v16, off) ? 0xffff : v16;
	default:
		return pci_device_cfg_read_u32(h->dev, &v32, off) ? ~0u : v32;
	}
}

void passthru_host_bars(struct passthru_host *h, struct pci_space_bar bars[PCI_NUM_BARS])
{
	memset(bars, 0, sizeof(bars[0]) * PCI_NUM_BARS);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		uint32_t reg = passthru_host_cfg_read(h, PCI_BASE_ADDRESS_0 + 4 * (unsigned)i, 4);
		const struct pci_mem_region *r = &h->dev->regions[i];

		if (r->size == 0 || reg == ~0u)
			continue;
		bars[i].size = r->size;
		bars[i].host_addr = r->base_addr;
		if (reg & PCI_BASE_ADDRESS_SPACE_IO) {
			bars[i].type = PCI_BAR_IO;
			continue;
		}
		bars[i].prefetchable = reg & PCI_BASE_ADDRESS_MEM_PREFETCH;
		if ((reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64) {
			bars[i].type = PCI_BAR_MEM64;
			i++; /* the upper half stays NONE */
		} else {
			bars[i].type = PCI_BAR_MEM32;
		}
	}
}

bool passthru_host_has_msi(struct passthru_host *h)
{
	unsigned ptr;

	if (!(passthru_host_cfg_read(h, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return false;
	ptr = passthru_host_cfg_read(h, PCI_CAPABILITY_LIST, 1) & ~3u;
	/* At most 48 capabilities fit in 192 bytes: a longer walk is a loop. */
	for (int n = 0; n < 48 && ptr >= 0x40 && ptr < 0x100; n++) {
		unsigned id = passthru_host_cfg_read(h, ptr + PCI_CAP_LIST_ID, 1);

		if (id == PCI_CAP_ID_MSI || id == PCI_CAP_ID_MSIX)
			return true;
		ptr = passthru_host_cfg_read(h, ptr + PCI_CAP_LIST_NEXT, 1) & ~3u;
	}
	return false;
}

int passthru_host_reset(struct passthru_host *h)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/reset", h->sysfs);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}
