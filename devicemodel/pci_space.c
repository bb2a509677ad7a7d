/*
 * pci_space.c - the guest resources vdm hands out itself: BAR addresses
 * in the two MMIO windows, I/O ports kept from the host, and INTx GSIs
 * (see pci_space.h for the rules and why).
 */
#include "pci_space.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void pci_space_init(struct pci_space *s)
{
	memset(s, 0, sizeof(*s));
	s->mem32_next = PCI_SPACE_MEM32_BASE;
	s->mem64_next = PCI_SPACE_MEM64_BASE;
	s->io_next = PCI_SPACE_IO_BASE;
}

static uint64_t round_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v && p)
		p <<= 1;
	return p; /* 0 when v is above 2^63: refused by the caller */
}

/* Take size bytes, aligned to size, from [*next, limit); 0 when full. */
static uint64_t take(uint64_t *next, uint64_t limit, uint64_t size)
{
	uint64_t base = (*next + size - 1) & ~(size - 1);

	if (base < *next || base > limit || limit - base < size)
		return 0;
	*next = base + size;
	return base;
}

/* The first ports from *next, aligned to size, that no function has;
 * 0 when the window is full. */
static uint32_t take_io(const struct pci_space *s, int nio, uint32_t *next, uint32_t size)
{
	uint32_t base = (*next + size - 1) & ~(size - 1);

	for (int j = 0; j < nio && base + size <= PCI_SPACE_IO_LIMIT; j++) {
		if (base < s->io[j].base + s->io[j].size && s->io[j].base < base + size) {
			base = (s->io[j].base + s->io[j].size + size - 1) & ~(size - 1);
			j = -1; /* look at them all again */
		}
	}
	if (base + size > PCI_SPACE_IO_LIMIT)
		return 0;
	*next = base + size;
	return base;
}

static int layout_io(struct pci_space *s, int i, struct pci_space_bar *b, int *nio,
		     uint32_t *next_io, char *err, size_t errlen)
{
	if (b->size < 4 || b->size > 256 || (b->size & (b->size - 1))) {
		snprintf(err, errlen, "I/O BAR %d: %llu bytes, not a power of two from 4 to 256", i,
			 (unsigned long long)b->size);
		return -EINVAL;
	}
	if (b->emulated) {
		b->host_addr = take_io(s, *nio, next_io, (uint32_t)b->size);
		if (!b->host_addr) {
			snprintf(err, errlen, "I/O BAR %d: no room for %llu ports", i,
				 (unsigned long long)b->size);
			return -ENOSPC;
		}
	}
	if (b->host_addr == 0 || b->host_addr > 0xffff || 0x10000 - b->host_addr < b->size ||
	    (b->host_addr & (b->size - 1))) {
		snprintf(err, errlen, "I/O BAR %d: the host gave it no usable ports (%#llx)", i,
			 (unsigned long long)b->host_addr);
		return -EINVAL;
	}
	for (int j = 0; j < *nio; j++) {
		if (b->host_addr < s->io[j].base + s->io[j].size &&
		    s->io[j].base < b->host_addr + b->size) {
			snprintf(err, errlen, "I/O BAR %d: ports %#llx-%#llx are already another "
				 "function's", i, (unsigned long long)b->host_addr,
				 (unsigned long long)(b->host_addr + b->size - 1));
			return -EBUSY;
		}
	}
	if (*nio == PCI_SPACE_MAX_IO) {
		snprintf(err, errlen, "I/O BAR %d: too many I/O BARs", i);
		return -ENOSPC;
	}
	s->io[*nio].base = (uint32_t)b->host_addr;
	s->io[*nio].size = (uint32_t)b->size;
	(*nio)++;
	return 0;
}

int pci_space_layout_bars(struct pci_space *s, const struct pci_space_bar bars[PCI_NUM_BARS],
			  uint64_t addr[PCI_NUM_BARS], uint64_t size[PCI_NUM_BARS], char *err,
			  size_t errlen)
{
	/* Work on copies: a failure leaves s as it was. */
	uint64_t next32 = s->mem32_next, next64 = s->mem64_next;
	uint32_t next_io = s->io_next;
	int nio = s->nio, ret;

	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_space_bar bar = bars[i], *b = &bar;
		uint64_t sz;
		bool low;

		addr[i] = size[i] = 0;
		if (b->type == PCI_BAR_NONE)
			continue;
		if (b->type == PCI_BAR_IO) {
			ret = layout_io(s, i, b, &nio, &next_io, err, errlen);
			if (ret)
				return ret;
			addr[i] = b->host_addr;
			size[i] = b->size;
			continue;
		}
		if (b->type == PCI_BAR_MEM64 && i == PCI_NUM_BARS - 1) {
			snprintf(err, errlen, "BAR %d: a 64-bit BAR cannot be the last", i);
			return -EINVAL;
		}
		if (b->host_addr % PCI_SPACE_PAGE) {
			snprintf(err, errlen, "BAR %d: the host has it at %#llx, not on a page "
				 "boundary, which the hypervisor cannot map", i,
				 (unsigned long long)b->host_addr);
			return -EINVAL;
		}
		sz = round_pow2(b->size < PCI_SPACE_PAGE ? PCI_SPACE_PAGE : b->size);
		low = b->type == PCI_BAR_MEM32 || (!s->mem64_high && sz <= PCI_SPACE_MEM64_LOW_MAX);
		addr[i] = sz ? (low ? take(&next32, PCI_SPACE_MEM32_LIMIT, sz)
				    : take(&next64, PCI_SPACE_MEM64_LIMIT, sz))
			     : 0;
		if (!addr[i]) {
			snprintf(err, errlen, "BAR %d: no room for %llu bytes in the %s MMIO window",
				 i, (unsigned long long)b->size, low ? "32-bit" : "64-bit");
			return -ENOSPC;
		}
		size[i] = sz;
		if (b->type == PCI_BAR_MEM64)
			i++; /* its upper half */
	}
	s->mem32_next = next32;
	s->mem64_next = next64;
	s->io_next = next_io;
	s->nio = nio;
	return 0;
}

int pci_space_alloc_gsi(struct pci_space *s)
{
	for (int gsi = PCI_SPACE_GSI_FIRST; gsi < PCI_SPACE_GSI_END; gsi++) {
		if (!(s->gsi_used & (1ULL << gsi))) {
			s->gsi_used |= 1ULL << gsi;
			return gsi;
		}
	}
	return -ENOSPC;
}

void pci_space_free_gsi(struct pci_space *s, int gsi)
{
	if (gsi >= PCI_SPACE_GSI_FIRST && gsi < PCI_SPACE_GSI_END)
		s->gsi_used &= ~(1ULL << gsi);
}
