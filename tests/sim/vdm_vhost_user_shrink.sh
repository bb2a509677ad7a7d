#!/bin/sh
# A hostile vhost-user front-end against vdm-vhost-user: it sends a memory
# table whose file is not sealed, starts a virtio-rnd ring with a request in
# it, then truncates the file to nothing and kicks.  The daemon's next touch
# of the ring would raise SIGBUS; it must instead drop that front-end with a
# line naming the gone guest memory, stay up, and serve the next front-end
# (asked here for its features).  The front-end is written here in Python,
# from the vhost-user specification.
set -u
. "$VDM_SRCDIR/tests/sim/vvu_lib.sh"
vvu_scratch shrink

"$VDM_BUILDDIR/devicemodel/vdm-vhost-user" --socket "$dir/rnd.sock" --log-file "$dir/daemon.log" \
	virtio-rnd &
daemon=$!
wait_socket "$dir/rnd.sock" || { echo "FAIL: vdm-vhost-user did not start"; cat "$dir/daemon.log"; exit 1; }

python3 - "$dir/rnd.sock" >"$dir/front-end.out" 2>&1 <<'FRONTEND'
import mmap, os, socket, struct, sys, time

GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL = 8, 9, 10, 12, 13
VERSION = 0x1
F_VERSION_1 = 1 << 32
RAM = 1 << 20
UADDR = 0x7f0000000000   # where this front-end says its guest RAM lives
QSIZE = 16
DESC, AVAIL, USED, BUF = 0x0, 0x1000, 0x2000, 0x3000   # guest-physical

def send(s, req, payload=b"", fds=()):
    msg = struct.pack("<III", req, VERSION, len(payload)) + payload
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("<%di" % len(fds), *fds))] if fds else []
    s.sendmsg([msg], anc)

def reply(s):
    hdr = s.recv(12)
    req, flags, size = struct.unpack("<III", hdr)
    return s.recv(size)

def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

s = connect(sys.argv[1])
send(s, SET_OWNER)
send(s, GET_FEATURES)
features, = struct.unpack("<Q", reply(s))
assert features & F_VERSION_1, hex(features)
send(s, SET_FEATURES, struct.pack("<Q", F_VERSION_1))

fd = os.memfd_create("guest-ram", os.MFD_CLOEXEC)   # no seals: it can shrink
os.ftruncate(fd, RAM)
ram = mmap.mmap(fd, RAM)
# One 64-byte device-writable buffer in the avail ring.
struct.pack_into("<QIHH", ram, DESC, BUF, 64, 2, 0)       # VRING_DESC_F_WRITE
struct.pack_into("<HHH", ram, AVAIL, 0, 1, 0)             # flags, idx 1, ring[0] = 0
send(s, SET_MEM_TABLE, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, RAM, UADDR, 0), [fd])
send(s, SET_VRING_NUM, struct.pack("<II", 0, QSIZE))
send(s, SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, UADDR + DESC, UADDR + USED, UADDR + AVAIL, 0))
send(s, SET_VRING_BASE, struct.pack("<II", 0, 0))
call, kick = os.eventfd(0), os.eventfd(0)
send(s, SET_VRING_CALL, struct.pack("<Q", 0), [call])
# The ring starts on SET_VRING_KICK but nothing is served before the kick.
send(s, SET_VRING_KICK, struct.pack("<Q", 0), [kick])
time.sleep(0.2)
used_before = struct.unpack_from("<H", ram, USED + 2)[0]
print("used idx before the shrink:", used_before)

ram.close()
os.ftruncate(fd, 0)          # every page of the table is gone
os.eventfd_write(kick, 1)
s.settimeout(10)
try:
    gone = s.recv(1) == b""
except socket.timeout:
    gone = False
print("dropped by the daemon:" , gone)

s2 = connect(sys.argv[1])
s2.settimeout(10)
send(s2, GET_FEATURES)
f2, = struct.unpack("<Q", reply(s2))
print("next front-end served: features 0x%x" % f2)
FRONTEND
status=$?
cat "$dir/front-end.out"
if [ $status -ne 0 ]; then
	bad "the front-end's script failed (status $status)"
fi
grep -q "^dropped by the daemon: True" "$dir/front-end.out" &&
	ok "the front-end that shrank its memory was dropped" ||
	bad "the front-end that shrank its memory was not dropped"
grep -q "^next front-end served" "$dir/front-end.out" &&
	ok "the next front-end was served" || bad "the next front-end was not served"
if kill -0 "$daemon" 2>/dev/null; then
	ok "vdm-vhost-user is still running"
else
	wait "$daemon"
	bad "vdm-vhost-user died (status $?)"
	daemon=
fi
grep -q "front-end dropped: guest memory at 0x[0-9a-f]* is gone (the front-end shrank" \
	"$dir/daemon.log" && ok "the log names the gone memory" ||
	bad "the log does not say why the front-end was dropped"
[ $fail -eq 0 ] || { echo "--- daemon log"; cat "$dir/daemon.log"; }
exit $fail
