# samples: launch scripts a user copies.
dist_samples_SCRIPTS += samples/sim-enumerate.sh samples/setup.sh samples/main-job.sh

# The test guest: image builder, its /init, and a boot script for vdm.
guestsamplesdir = $(samplesdir)/guest
dist_guestsamples_SCRIPTS = samples/guest/build-image.sh samples/guest/boot-guest.sh \
	samples/guest/init
dist_guestsamples_DATA = samples/guest/README.md

# A User VM launch on an ACRN Service VM (vdm --hsm acrn), and one in the
# form ACRN's launch-script generator writes, with the scenario it came from.
acrnsamplesdir = $(samplesdir)/acrn
dist_acrnsamples_SCRIPTS = samples/acrn/launch_uvm.sh samples/acrn/launch_user_vm_id1.sh
dist_acrnsamples_DATA = samples/acrn/launch_user_vm_id1.xml
