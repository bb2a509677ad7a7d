/*
 * test_passthru.c - the parts of passthrough that need no host function:
 * the -s option parser (acrn-dm's BUS/DEV/FUNC and lspci's BB:DD.F, the
 * options vdm takes and the acrn-dm ones it refuses by name), the BAR
 * layout (32- and 64-bit, prefetchable, I/O, unused BARs, alignment holes,
 * full windows) and the GSIs INTx is routed to.
 */
#include "devemu.h"
#include "drv.h"
#include "passthru.h"
#include "pci_space.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the option parser ---- */

static void bdf_ok(const char *s, uint16_t want)
{
	uint16_t bdf = 0;
	int ret = passthru_parse_bdf(s, &bdf);

	drv_check(ret == 0 && bdf == want, "'%s' is %02x:%02x.%x (got %d, %#x)", s, want >> 8,
		  (want >> 3) & 0x1f, want & 7, ret, bdf);
}

static void bdf_bad(const char *s)
{
	uint16_t bdf = 0x1234;

	drv_check(passthru_parse_bdf(s, &bdf) == -EINVAL && bdf == 0x1234, "'%s' is refused", s);
}

/* devemu_parse with passthru's options: 0 and the config, or the error. */
static int parse(const char *opts, struct passthru_cfg *out, char *err, size_t errlen)
{
	void *cfg = NULL;
	int ret = devemu_parse(&devemu_passthru, opts, &cfg, err, errlen);

	if (!ret) {
		*out = *(struct passthru_cfg *)cfg;
		devemu_free_cfg(&devemu_passthru, cfg);
	}
	return ret;
}

static void opts_bad(const char *opts, const char *must_name)
{
	struct passthru_cfg c;
	char err[256] = "";
	int ret = parse(opts, &c, err, sizeof(err));

	drv_check(ret == -EINVAL && strstr(err, must_name) && !strchr(err, '\n'),
		  "options '%s' refused with one line naming '%s': %s", opts, must_name, err);
}

static void test_options(void)
{
	struct passthru_cfg c;
	char err[256];

	bdf_ok("0/5/0", 0x0028);
	bdf_ok("00:05.0", 0x0028);
	bdf_ok("3/0/0", 0x0300);
	bdf_ok("0/1f/7", 0x00ff);
	bdf_ok("ff:1F.7", 0xffff);
	bdf_ok("a/b/1", 0x0a59);  /* hexadecimal, as acrn-dm reads it */
	bdf_ok("0.5.0", 0x0028);
	bdf_bad("");
	bdf_bad("0/5");           /* the bus is not optional */
	bdf_bad("5");
	bdf_bad("0/5/0/0");
	bdf_bad("0000:00:05.0");  /* domain 0 only, not spelt */
	bdf_bad("0/20/0");        /* device 0x20 */
	bdf_bad("0/5/8");         /* function 8 */
	bdf_bad("100/0/0");       /* bus 0x100 */
	bdf_bad("0//0");
	bdf_bad("0/5/0/");
	bdf_bad("0/x/0");
	bdf_bad("0/-1/0");
	bdf_bad(" 0/5/0");

	drv_check(parse("0/5/0", &c, err, sizeof(err)) == 0 && c.have_bdf && c.host_bdf == 0x28 &&
			  !c.keep_gsi && !c.no_reset,
		  "0/5/0: the function, no options");
	drv_check(parse("00:05.0,keep_gsi,no_reset", &c, err, sizeof(err)) == 0 &&
			  c.host_bdf == 0x28 && c.keep_gsi && c.no_reset,
		  "00:05.0,keep_gsi,no_reset: both options");
	drv_check(parse("3/0/0,no_reset", &c, err, sizeof(err)) == 0 && c.host_bdf == 0x300 &&
			  !c.keep_gsi && c.no_reset,
		  "3/0/0,no_reset");
	opts_bad("", "needs the host function");
	opts_bad("keep_gsi", "'keep_gsi' is not a host function");
	opts_bad("0/5", "'0/5' is not a host function");
	opts_bad("0/5/0,frob", "'frob'");
	opts_bad("0/5/0,keep_gsi=1", "'keep_gsi=1'");
	opts_bad("0/5/0,0/6/0", "'0/6/0'");
	static const char *const acrn_only[] = { "d3hot_reset", "vmsix_on_msi", "enable_ptm",
						 "romfile=/vbios.rom", "irq=5", "dsdt=/x.asl" };
	for (size_t i = 0; i < sizeof(acrn_only) / sizeof(acrn_only[0]); i++) {
		char opts[64];

		snprintf(opts, sizeof(opts), "0/5/0,%s", acrn_only[i]);
		opts_bad(opts, "acrn-dm passthru option vdm does not have");
	}
	drv_check(devemu_find("passthru") == &devemu_passthru && devemu_passthru.host_function,
		  "-s may name passthru, and it needs a back-end with passthrough");
}

/* ---- the BAR layout ---- */

#define MB (1ULL << 20)
#define GB (1ULL << 30)

static struct pci_space_bar mem(enum pci_bar_type type, uint64_t size, bool pref, uint64_t host)
{
	return (struct pci_space_bar){ .type = type, .size = size, .prefetchable = pref,
				       .host_addr = host };
}

static struct pci_space_bar io(uint64_t size, uint64_t port)
{
	return (struct pci_space_bar){ .type = PCI_BAR_IO, .size = size, .host_addr = port };
}

static int layout(struct pci_space *s, const struct pci_space_bar bars[PCI_NUM_BARS],
		  uint64_t addr[PCI_NUM_BARS], uint64_t size[PCI_NUM_BARS], char *err)
{
	return pci_space_layout_bars(s, bars, addr, size, err, 256);
}

static bool aligned(uint64_t addr, uint64_t size)
{
	return size && !(addr & (size - 1));
}

static void test_layout(void)
{
	struct pci_space s;
	uint64_t addr[PCI_NUM_BARS], size[PCI_NUM_BARS];
	char err[256];
	int ret;

	/* edu: one 1 MiB 32-bit BAR. */
	pci_space_init(&s);
	struct pci_space_bar edu[PCI_NUM_BARS] = { mem(PCI_BAR_MEM32, MB, false, 0xfea00000) };
	ret = layout(&s, edu, addr, size, err);
	drv_check(ret == 0 && addr[0] == PCI_SPACE_MEM32_BASE && size[0] == MB &&
			  !addr[1] && !size[1],
		  "one 1 MiB BAR: at the 32-bit window's start (%d %#llx)", ret,
		  (unsigned long long)addr[0]);

	/* A NIC: 128 KiB 32-bit, unused BAR 1, 32 I/O ports, 16 KiB 64-bit
	 * prefetchable (MSI-X), and a small BAR rounded up to a page. */
	struct pci_space_bar nic[PCI_NUM_BARS] = {
		mem(PCI_BAR_MEM32, 128 << 10, false, 0xf7c00000),
		{ 0 },
		io(32, 0xe000),
		mem(PCI_BAR_MEM64, 16 << 10, true, 0xf7c20000),
		{ 0 }, /* its upper half */
		mem(PCI_BAR_MEM32, 256, false, 0xf7c24000),
	};
	ret = layout(&s, nic, addr, size, err);
	drv_check(ret == 0, "NIC laid out (%s)", ret ? err : "ok");
	drv_check(addr[0] == PCI_SPACE_MEM32_BASE + MB && size[0] == (128 << 10),
		  "BAR 0 after edu's, aligned to its 128 KiB (%#llx)", (unsigned long long)addr[0]);
	drv_check(!addr[1] && !size[1] && !addr[4] && !size[4],
		  "the unused BAR and the 64-bit BAR's upper half get nothing");
	drv_check(addr[2] == 0xe000 && size[2] == 32, "the I/O BAR keeps the host's ports (%#llx)",
		  (unsigned long long)addr[2]);
	drv_check(addr[3] < 4 * GB && aligned(addr[3], 16 << 10) && size[3] == (16 << 10) &&
			  addr[3] >= addr[0] + size[0],
		  "a small 64-bit BAR goes below 4 GiB, after BAR 0, aligned (%#llx)",
		  (unsigned long long)addr[3]);
	drv_check(size[5] == PCI_SPACE_PAGE && aligned(addr[5], PCI_SPACE_PAGE) &&
			  addr[5] >= addr[3] + size[3],
		  "a 256-byte BAR takes a whole page, the hypervisor maps no less (%llu at %#llx)",
		  (unsigned long long)size[5], (unsigned long long)addr[5]);

	/* Holes: a 4 KiB BAR then a 2 MiB one: the second is aligned up,
	 * leaving a gap, and the next function starts after it. */
	pci_space_init(&s);
	struct pci_space_bar holes[PCI_NUM_BARS] = {
		mem(PCI_BAR_MEM32, 4096, false, 0x1000), mem(PCI_BAR_MEM32, 2 * MB, true, 0x200000),
	};
	ret = layout(&s, holes, addr, size, err);
	drv_check(ret == 0 && addr[0] == PCI_SPACE_MEM32_BASE &&
			  addr[1] == PCI_SPACE_MEM32_BASE + 2 * MB,
		  "4 KiB then 2 MiB: the 2 MiB BAR aligned to 2 MiB, a hole between (%#llx %#llx)",
		  (unsigned long long)addr[0], (unsigned long long)addr[1]);
	ret = layout(&s, holes, addr, size, err);
	drv_check(ret == 0 && addr[0] == PCI_SPACE_MEM32_BASE + 4 * MB,
		  "the next function's BARs start after them (%#llx)", (unsigned long long)addr[0]);
	/* Its ports are another's now: the same I/O BAR is refused. */
	struct pci_space_bar nic_io[PCI_NUM_BARS] = { io(32, 0xe000) };
	pci_space_init(&s);
	ret = layout(&s, nic_io, addr, size, err);
	drv_check(ret == 0, "an I/O BAR alone");
	struct pci_space_bar overlap[PCI_NUM_BARS] = { io(16, 0xe010) };
	ret = layout(&s, overlap, addr, size, err);
	drv_check(ret == -EBUSY && strstr(err, "BAR 0"),
		  "I/O ports another function has are refused, naming the BAR: %s", err);

	/* A large 64-bit prefetchable BAR goes above 4 GiB. */
	pci_space_init(&s);
	struct pci_space_bar gpu[PCI_NUM_BARS] = {
		mem(PCI_BAR_MEM32, 16 * MB, false, 0xf6000000),
		{ 0 },
		mem(PCI_BAR_MEM64, 256 * MB, true, 0xe0000000),
	};
	ret = layout(&s, gpu, addr, size, err);
	drv_check(ret == 0 && addr[2] == PCI_SPACE_MEM64_BASE && addr[0] == PCI_SPACE_MEM32_BASE,
		  "a 256 MiB 64-bit BAR in the 64-bit window (%#llx), the 32-bit BAR below 4 GiB",
		  (unsigned long long)addr[2]);
	struct pci_space_bar big64[PCI_NUM_BARS] = { mem(PCI_BAR_MEM64, 32 * MB, true, 0) };
	ret = layout(&s, big64, addr, size, err);
	drv_check(ret == 0 && addr[0] < 4 * GB, "a 32 MiB 64-bit BAR still below 4 GiB (%#llx)",
		  (unsigned long long)addr[0]);

	/* acrn-dm booting OVMF: every 64-bit BAR above 4 GiB, the 32-bit
	 * ones still below. */
	pci_space_init(&s);
	s.mem64_high = true;
	struct pci_space_bar virtio[PCI_NUM_BARS] = {
		{ 0 }, mem(PCI_BAR_MEM32, 4096, false, 0), { 0 }, { 0 },
		mem(PCI_BAR_MEM64, 16384, true, 0),
	};
	ret = layout(&s, virtio, addr, size, err);
	drv_check(ret == 0 && addr[4] == PCI_SPACE_MEM64_BASE && addr[1] == PCI_SPACE_MEM32_BASE,
		  "mem64_high: a 16 KiB 64-bit BAR from 256 GiB (%#llx), the 32-bit one below",
		  (unsigned long long)addr[4]);

	/* vdm's own I/O BARs get ports from 0x2000, around a passthrough
	 * function's. */
	pci_space_init(&s);
	struct pci_space_bar host_io[PCI_NUM_BARS] = { io(32, 0x2000) };
	struct pci_space_bar own_io[PCI_NUM_BARS] = { io(64, 0) };

	own_io[0].emulated = true;
	ret = layout(&s, host_io, addr, size, err);
	ret |= layout(&s, own_io, addr, size, err);
	drv_check(ret == 0 && addr[0] == 0x2040,
		  "an emulated 64-port I/O BAR after the host's ports at 0x2000 (%#llx)",
		  (unsigned long long)addr[0]);
	ret = layout(&s, own_io, addr, size, err);
	drv_check(ret == 0 && addr[0] == 0x2080, "the next one after it (%#llx)",
		  (unsigned long long)addr[0]);

	/* Full windows: nothing is taken on failure. */
	pci_space_init(&s);
	struct pci_space_bar huge32[PCI_NUM_BARS] = {
		mem(PCI_BAR_MEM32, MB, false, 0), mem(PCI_BAR_MEM32, 2 * GB, false, 0),
	};
	ret = layout(&s, huge32, addr, size, err);
	drv_check(ret == -ENOSPC && strstr(err, "BAR 1") && strstr(err, "32-bit"),
		  "a BAR larger than the 32-bit window is refused, naming it: %s", err);
	ret = layout(&s, edu, addr, size, err);
	drv_check(ret == 0 && addr[0] == PCI_SPACE_MEM32_BASE,
		  "and the failed layout took nothing (%#llx)", (unsigned long long)addr[0]);
	struct pci_space_bar huge64[PCI_NUM_BARS] = { mem(PCI_BAR_MEM64, 512 * GB, true, 0) };
	ret = layout(&s, huge64, addr, size, err);
	drv_check(ret == -ENOSPC && strstr(err, "64-bit"), "no room in the 64-bit window: %s",
		  err);

	/* What the hypervisor cannot map or the host did not set up. */
	struct pci_space_bar odd[PCI_NUM_BARS] = { mem(PCI_BAR_MEM32, 4096, false, 0xfea00800) };
	ret = layout(&s, odd, addr, size, err);
	drv_check(ret == -EINVAL && strstr(err, "page"), "a host BAR off a page boundary: %s", err);
	struct pci_space_bar last64[PCI_NUM_BARS] = { [5] = mem(PCI_BAR_MEM64, 4096, false, 0) };
	ret = layout(&s, last64, addr, size, err);
	drv_check(ret == -EINVAL && strstr(err, "BAR 5"), "a 64-bit BAR in the last slot: %s", err);
	struct pci_space_bar noport[PCI_NUM_BARS] = { io(8, 0) };
	ret = layout(&s, noport, addr, size, err);
	drv_check(ret == -EINVAL && strstr(err, "I/O BAR 0"), "an I/O BAR with no host ports: %s",
		  err);
	struct pci_space_bar bigio[PCI_NUM_BARS] = { io(512, 0x1000) };
	ret = layout(&s, bigio, addr, size, err);
	drv_check(ret == -EINVAL, "a 512-port I/O BAR: %s", err);
}

/* ---- INTx GSIs ---- */

static void test_gsi(void)
{
	struct pci_space s;
	int first, n = 0, gsi;

	pci_space_init(&s);
	first = pci_space_alloc_gsi(&s);
	drv_check(first == PCI_SPACE_GSI_FIRST, "the first GSI is 16, after the ISA ones (%d)",
		  first);
	gsi = pci_space_alloc_gsi(&s);
	drv_check(gsi == first + 1, "the next function gets another (%d)", gsi);
	for (n = 2; pci_space_alloc_gsi(&s) >= 0; n++)
		;
	drv_check(n == PCI_SPACE_GSI_END - PCI_SPACE_GSI_FIRST,
		  "%d GSIs in all (16..47), then -ENOSPC", n);
	pci_space_free_gsi(&s, first + 1);
	drv_check(pci_space_alloc_gsi(&s) == first + 1, "a GSI given back is handed out again");
}

int main(void)
{
	test_options();
	test_layout();
	test_gsi();
	return drv_result();
}
