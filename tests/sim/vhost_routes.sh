#!/bin/sh
# Choosing a route per device: vhost=kernel where the node is missing is a
# start-up error naming the node (exit 1, before the guest is touched);
# vhost=auto falls back to VBS-U, says so, and serves; virtio-vsock (kernel
# vhost-vsock only) names /dev/vhost-vsock when it is missing and enumerates
# as 1af4:1053 with its CID when it is there; bad route options are refused.
set -u
dir=$(mktemp -d /tmp/vdm-routes-XXXXXX)
ns=vdm-routes-$$
cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# run_sim LOG ARGS...: start vdm on the simulator, let the test driver
# enumerate and exercise, stop vdm; the driver's output goes to LOG.out.
run_sim() {
	log=$1
	shift
	rm -f "$dir/sim.sock"
	"$VDM" --hsm "sim:$dir/sim.sock" --log-file "$log" "$@" &
	pid=$!
	i=0
	while [ ! -S "$dir/sim.sock" ] && kill -0 $pid 2>/dev/null && [ $i -lt 500 ]; do
		sleep 0.02
		i=$((i + 1))
	done
	"$VDM_BUILDDIR/tests/driver/vdm-enum" --exercise "$dir/sim.sock" >"$log.out" 2>&1
	estatus=$?
	kill -TERM $pid 2>/dev/null
	wait $pid
	return $estatus
}

# A TAP for the network cases, in a namespace of our own (needs root).
have_tap=no
if [ "$(id -u)" -eq 0 ] && ip netns add "$ns" 2>/dev/null &&
	ip netns exec "$ns" ip tuntap add dev vdmrt0 mode tap 2>/dev/null; then
	have_tap=yes
fi
inns() { ip netns exec "$ns" "$@"; }

if [ $have_tap = yes ]; then
	if [ ! -e /dev/vhost-net ]; then
		out=$(inns "$VDM" --hsm sim -s 4,virtio-net,tap=vdmrt0,vhost=kernel 2>&1)
		st=$?
		[ $st -eq 1 ] && printf '%s\n' "$out" | grep -q "^vdm: .*cannot open /dev/vhost-net" &&
			ok "vhost=kernel without /dev/vhost-net: exit 1 naming the node" ||
			bad "vhost=kernel without /dev/vhost-net: exit $st: $out"
		if inns sh -c "
			\"$VDM\" --hsm sim:$dir/sim.sock --log-file $dir/auto.log \
				-s 4,virtio-net,tap=vdmrt0,vhost=auto & pid=\$!
			i=0; while [ ! -S $dir/sim.sock ] && [ \$i -lt 500 ]; do sleep 0.02; i=\$((i+1)); done
			\"$VDM_BUILDDIR/tests/driver/vdm-enum\" $dir/sim.sock >$dir/auto.out 2>&1; s=\$?
			kill -TERM \$pid; wait \$pid; exit \$s"; then
			grep -q "vhost=auto: /dev/vhost-net is not available, serving it with VBS-U" \
				"$dir/auto.log" && grep -q "1af4:1041" "$dir/auto.out" &&
				ok "vhost=auto without /dev/vhost-net: VBS-U, logged, and the NIC enumerates" ||
				bad "vhost=auto: $(cat "$dir/auto.log" "$dir/auto.out")"
		else
			bad "vhost=auto: vdm did not serve: $(cat "$dir/auto.log" "$dir/auto.out")"
		fi
	else
		echo "note: /dev/vhost-net exists here; vhost_kernel_net.sh runs the kernel route"
	fi
else
	echo "note: no TAP here (needs root and /dev/net/tun): network route cases left out"
fi

if [ ! -e /dev/vhost-vsock ]; then
	out=$("$VDM" --hsm sim -s 4,virtio-vsock,cid=7 2>&1)
	st=$?
	[ $st -eq 1 ] && printf '%s\n' "$out" | grep -q "^vdm: .*cannot open /dev/vhost-vsock" &&
		ok "virtio-vsock without /dev/vhost-vsock: exit 1 naming the node" ||
		bad "virtio-vsock without /dev/vhost-vsock: exit $st: $out"
else
	if run_sim "$dir/vsock.log" -s 4,virtio-vsock,cid=7; then
		grep -q "1af4:1053" "$dir/vsock.log.out" &&
			grep -q "guest cid 7 on kernel vhost-vsock" "$dir/vsock.log" &&
			ok "virtio-vsock on /dev/vhost-vsock enumerates as 1af4:1053 with cid 7" ||
			bad "virtio-vsock: $(cat "$dir/vsock.log" "$dir/vsock.log.out")"
	else
		bad "virtio-vsock: $(cat "$dir/vsock.log" "$dir/vsock.log.out")"
	fi
fi

# Bad route options are refused before anything starts (exit 2).  (A NIC
# with vhost=user: and tap= is not one: the TAP is for VBS-U after set-route.)
for spec in "4,virtio-rnd,vhost=kernel" "4,virtio-vsock,cid=7,vhost=user:/x" \
	"4,virtio-net,vhost=kernel,reconnect=2" "4,virtio-rnd,vhost=user:"; do
	out=$("$VDM" --hsm sim -s "$spec" 2>&1)
	st=$?
	[ $st -eq 2 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
		ok "-s $spec: refused with one line: $out" || bad "-s $spec: exit $st: $out"
done

# One VM where one device asks for vhost=auto (no kernel vhost for entropy:
# VBS-U) beside a VBS-U disk.  vhost-user beside VBS-U: test_vhost_user_blk.
truncate -s 4M "$dir/disk.img"
if run_sim "$dir/mixed.log" -s 3,virtio-blk,"$dir/disk.img" -s 4,virtio-rnd,vhost=auto; then
	grep -q "virtio-blk: .*match" "$dir/mixed.log.out" && grep -q "virtio-rnd" "$dir/mixed.log.out" &&
		ok "mixed: a VBS-U disk and an entropy device with vhost=auto both serve" ||
		bad "mixed: $(cat "$dir/mixed.log.out")"
else
	bad "mixed: $(cat "$dir/mixed.log" "$dir/mixed.log.out")"
fi
exit $fail
