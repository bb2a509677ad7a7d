/*
 * acpi_internal.h - the pieces of the DSDT acpi.c has written elsewhere.
 */
#ifndef VDM_ACPI_INTERNAL_H
#define VDM_ACPI_INTERNAL_H

#include "acpi.h"
#include "aml.h"

/* The ISA devices (acpi_isa.c) into the open scope, the PCI root bridge's:
 * the RTC and isa's COM ports, inside a Device (ISA) at the LPC bridge's
 * address when isa names one.  isa may be NULL: the RTC alone. */
void acpi_isa_devices(struct aml *a, const struct acpi_isa *isa);

#endif /* VDM_ACPI_INTERNAL_H */
