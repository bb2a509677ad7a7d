/*
 * netns_tap.h - a TAP for simulator tests that does not touch the host's
 * networking: the test process moves into a fresh network namespace of its
 * own (vdm, spawned later, inherits it) and creates a persistent TAP there,
 * up, with an address.  Needs root, /dev/net/tun and ip(8).  Header-only:
 * each test is one program.
 */
#ifndef VDM_TEST_NETNS_TAP_H
#define VDM_TEST_NETNS_TAP_H

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Enter a new network namespace and make TAP name there with MTU mtu and
 * address cidr (e.g. "10.0.0.1/24"), IPv6 off (its neighbour discovery
 * would put frames of its own on the TAP at unpredictable times).  False if
 * any step fails. */
static inline bool netns_tap(const char *name, int mtu, const char *cidr)
{
	struct ifreq ifr = { 0 };
	char cmd[256];
	int fd;

	if (unshare(CLONE_NEWNET))
		return false;
	if (system("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
		   "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6") != 0)
		return false;
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETPERSIST, 1)) {
		close(fd);
		return false;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "ip link set lo up && ip link set %s mtu %d up && "
		 "ip addr add %s dev %s", name, mtu, cidr, name);
	return system(cmd) == 0;
}

#endif /* VDM_TEST_NETNS_TAP_H */
