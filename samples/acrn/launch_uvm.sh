#!/bin/sh
# launch_uvm.sh - run vdm as the device model of one User VM on an ACRN
# Service VM, with a virtio-blk disk, a virtio-net NIC on a TAP (VBS-U, or
# kernel vhost-net with NET_ROUTE=vhost=kernel or vhost=auto), a
# virtio-rnd entropy device, and a host NIC passed through (PT_NIC, as
# acrn-dm's BUS/DEV/FUNC; empty for none).  Copy it, set the variables
# below, run it as root in the Service VM.
#
#   launch_uvm.sh [--dry-run]     --dry-run prints the vdm command only
#
# Read README.md "Running on ACRN" first: vdm emulates the PCI devices and
# serves their I/O requests, but it does not load a guest kernel or
# firmware, set vCPU registers or build ACPI tables.  Started on its own,
# the User VM runs from empty RAM.  This script is the device half of a
# launch; the boot half is not written yet.
set -eu
dry_run=no
[ "${1:-}" = --dry-run ] && dry_run=yes

# ---- per-VM settings (override from the environment) ----
VM_NAME=${VM_NAME:-POST_STD_VM1} # as the hypervisor's configuration names the VM
VM_UUID=${VM_UUID:-d2795438-25d6-11e8-864e-cb7a18b34643}
MEM=${MEM:-1024M}
DISK=${DISK:-/home/acrn/uvm1.img}
TAP=${TAP:-tap_vdm1}           # created if missing, added to acrn-br0 if it exists
NET_ROUTE=${NET_ROUTE:-}       # empty: VBS-U; vhost=kernel or vhost=auto: /dev/vhost-net
# A host NIC for the VM alone, parked on pci-stub (see pt_stub below); its
# MSI-X and BARs are the hypervisor's once vdm hands it over.
PT_NIC=${PT_NIC-3/0/0}
VDM=${VDM:-vdm}
HSM_DEV=${HSM_DEV:-/dev/acrn_hsm}
LOG=${LOG:-/var/log/vdm-$VM_NAME.log}

die() {
	echo "launch_uvm: $*" >&2
	exit 1
}

check_service_vm() {
	[ -c "$HSM_DEV" ] || die "$HSM_DEV is missing: not an ACRN Service VM, or the HSM driver (CONFIG_ACRN_HSM) is not loaded"
	[ "$(id -u)" -eq 0 ] || die "run as root: the HSM and TAP devices need it"
	[ -e "$DISK" ] || die "disk image $DISK does not exist"
}

# One TAP per VM; on the acrn-br0 bridge the Service VM's network scripts
# set up, when there is one.
create_tap() {
	if ip link show dev "$TAP" >/dev/null 2>&1; then
		echo "launch_uvm: reusing TAP $TAP"
	else
		ip tuntap add dev "$TAP" mode tap
	fi
	if ip link show dev acrn-br0 >/dev/null 2>&1; then
		ip link set dev "$TAP" master acrn-br0
	fi
	ip link set dev "$TAP" up
}

# The passthrough NIC leaves its host driver for pci-stub, as ACRN's launch
# scripts do it (vdm refuses a function a host driver has).
pt_stub() {
	[ -n "$PT_NIC" ] || return 0
	old_ifs=$IFS
	IFS=/:.
	# shellcheck disable=SC2086 # split at the separators on purpose
	set -- $PT_NIC
	IFS=$old_ifs
	bdf=$(printf '0000:%02x:%02x.%x' "0x$1" "0x${2:-0}" "0x${3:-0}")
	dev=/sys/bus/pci/devices/$bdf
	[ -e "$dev" ] || die "no PCI function $PT_NIC ($bdf) on this host"
	modprobe pci-stub 2>/dev/null || true
	echo pci-stub >"$dev/driver_override"
	[ -e "$dev/driver" ] && echo "$bdf" >"$dev/driver/unbind"
	echo "$bdf" >/sys/bus/pci/drivers_probe
}

# Slot layout as ACRN's own launch scripts use it: host bridge at 0:0,
# storage, network, then the rest; the NIC's MAC from mac_seed as acrn-dm
# derives it (so a guest moved from acrn-dm keeps its address), and the VM
# name last, which CREATE_VM carries: the hypervisor finds the VM by it.
set -- "$VDM" --hsm "acrn:$HSM_DEV" -U "$VM_UUID" -m "$MEM" --log-file "$LOG" \
	-s 0:0,hostbridge \
	-s 3,virtio-blk,"$DISK" \
	-s 4,virtio-net,tap="$TAP",mac_seed="$VM_NAME"${NET_ROUTE:+,$NET_ROUTE} \
	-s 5,virtio-rnd \
	${PT_NIC:+-s 6,passthru,$PT_NIC} \
	"$VM_NAME"

if [ "$dry_run" = yes ]; then
	echo "$@"
	exit 0
fi
check_service_vm
create_tap
pt_stub
echo "launch_uvm: starting $VM_NAME ($VM_UUID), log in $LOG"
exec "$@"
