# devicemodel: the vdm program.  It uses the three libraries' headers.
DM_CPPFLAGS = $(AM_CPPFLAGS) $(HSM_INCLUDES) $(VBSU_INCLUDES) $(VHOSTPROXY_INCLUDES)
noinst_LIBRARIES += devicemodel/libdm.a
devicemodel_libdm_a_CPPFLAGS = $(DM_CPPFLAGS)
devicemodel_libdm_a_SOURCES = \
	devicemodel/log.h devicemodel/log.c devicemodel/boot_linux.h devicemodel/boot_linux.c \
	devicemodel/e820.h devicemodel/e820.c devicemodel/fw_bytes.h devicemodel/boot_ovmf.h devicemodel/boot_ovmf.c \
	devicemodel/platform_reset.h devicemodel/platform_reset.c \
	devicemodel/aml.h devicemodel/aml.c devicemodel/acpi.h devicemodel/acpi_internal.h devicemodel/acpi.c \
	devicemodel/acpi_isa.c \
	devicemodel/mptable.h devicemodel/mptable.c devicemodel/rtc.h devicemodel/rtc.c \
	devicemodel/rtc_internal.h devicemodel/rtc_irq.c devicemodel/host_cpus.h devicemodel/host_cpus.c \
	devicemodel/uart.h devicemodel/uart.c \
	devicemodel/evloop.h devicemodel/evloop.c devicemodel/iothread.h devicemodel/iothread.c \
	devicemodel/pci.h devicemodel/pci.c devicemodel/pci_msix.c devicemodel/pci_bus.c \
	devicemodel/pci_space.h devicemodel/pci_space.c devicemodel/pci_assign.c \
	devicemodel/passthru.h devicemodel/passthru.c devicemodel/passthru_opts.c \
	devicemodel/passthru_host.c \
	devicemodel/vdm.h devicemodel/devemu.h devicemodel/devemu.c devicemodel/hostbridge.c devicemodel/lpc.c \
	devicemodel/cli.h devicemodel/cli.c devicemodel/cli_acrn.h devicemodel/cli_acrn.c \
	devicemodel/virtio.h devicemodel/virtio_internal.h devicemodel/virtio_pci.c devicemodel/virtio_pacing.c devicemodel/holdoff.h devicemodel/holdoff.c devicemodel/virtio_route.c \
	devicemodel/api.h devicemodel/api.c devicemodel/api_cmds.c devicemodel/events.h devicemodel/events.c \
	devicemodel/unix_listen.h devicemodel/unix_listen.c \
	devicemodel/virtio_legacy.c devicemodel/virtio_blk.h devicemodel/virtio_blk.c devicemodel/virtio_rnd.c \
	devicemodel/chardev.h devicemodel/chardev_internal.h devicemodel/chardev.c \
	devicemodel/chardev_stdio.c devicemodel/chardev_pty.c devicemodel/chardev_socket.c \
	devicemodel/chardev_socket_client.c \
	devicemodel/chardev_tty.c devicemodel/chardev_file.c \
	devicemodel/virtio_console.h devicemodel/virtio_console.c \
	devicemodel/virtio_console_internal.h devicemodel/virtio_console_ctrl.c \
	devicemodel/virtio_net.h devicemodel/virtio_net.c devicemodel/virtio_vhost.c \
	devicemodel/virtio_vsock.c devicemodel/virtio_fs.c

bin_PROGRAMS += devicemodel/vdm
devicemodel_vdm_SOURCES = devicemodel/main.c
devicemodel_vdm_CPPFLAGS = $(DM_CPPFLAGS)
devicemodel_vdm_CFLAGS = $(AM_CFLAGS) $(UUID_CFLAGS) $(CRYPTO_CFLAGS)
devicemodel_vdm_LDADD = devicemodel/libdm.a vbs-u/libvbsu.a vhost-proxy/libvhostproxy.a hsm-shim/libhsm.a \
	$(UUID_LIBS) $(CRYPTO_LIBS) $(URING_LIBS) $(JSONC_LIBS) $(PCIACCESS_LIBS)
dist_man1_MANS += devicemodel/vdm.1
devicemodel_libdm_a_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(PCIACCESS_CFLAGS)

# vdmctl: the management API's command-line client.
bin_PROGRAMS += devicemodel/vdmctl
devicemodel_vdmctl_SOURCES = devicemodel/vdmctl.c
devicemodel_vdmctl_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
devicemodel_vdmctl_LDADD = $(JSONC_LIBS)
dist_man1_MANS += devicemodel/vdmctl.1

# vdm-vhost-user: vdm's VBS-U back-ends served to vhost-user front-ends, with
# vdm's event loop and log (from libdm) and libvhostproxy's server side.
bin_PROGRAMS += devicemodel/vdm-vhost-user
# Its options are vdm's (devemu_parse, the device files' parsers), so it links
# what vdm links.
devicemodel_vdm_vhost_user_SOURCES = devicemodel/vdm_vhost_user.h devicemodel/vdm_vhost_user.c \
	devicemodel/vdm_vhost_user_blk.c devicemodel/vdm_vhost_user_console.c \
	devicemodel/vdm_vhost_user_net.c devicemodel/vdm_vhost_user_placement.c
devicemodel_vdm_vhost_user_CPPFLAGS = $(DM_CPPFLAGS)
devicemodel_vdm_vhost_user_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
devicemodel_vdm_vhost_user_LDADD = devicemodel/libdm.a vbs-u/libvbsu.a vhost-proxy/libvhostproxy.a \
	hsm-shim/libhsm.a $(UUID_LIBS) $(CRYPTO_LIBS) $(URING_LIBS) $(JSONC_LIBS) $(PCIACCESS_LIBS)
dist_man1_MANS += devicemodel/vdm-vhost-user.1
