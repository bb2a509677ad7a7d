#!/usr/bin/env python3
"""mkseeds.py - write the seed corpora of the fuzz targets (valid traffic).

The seeds are committed under corpus/TARGET; rerun this after changing an
input format:  python3 tests/fuzz/mkseeds.py tests/fuzz/corpus
Layouts follow each target's header comment (fuzz_ram.h for the ring
targets).
"""
import os
import struct
import sys

LO_SIZE, HI_BASE, HI_SIZE = 0x8000, 0xC000, 0x4000
DESC, AVAIL, USED = 0x0000, 0x1000, 0x2000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


class Ram:
    """Guest RAM as the ring targets see their input after the header."""

    def __init__(self):
        self.b = bytearray()

    def _off(self, gpa):
        if gpa < LO_SIZE:
            return gpa
        assert HI_BASE <= gpa < HI_BASE + HI_SIZE
        return LO_SIZE + gpa - HI_BASE

    def put(self, gpa, data):
        off = self._off(gpa)
        if len(self.b) < off + len(data):
            self.b.extend(bytes(off + len(data) - len(self.b)))
        self.b[off:off + len(data)] = data

    def desc(self, table, i, addr, length, flags, nxt=0):
        self.put(table + 16 * i, struct.pack('<QIHH', addr, length, flags, nxt))

    def pdesc(self, table, i, addr, length, buf_id, flags):
        """A packed-ring descriptor (virtio 1.2, 2.8.13)."""
        self.put(table + 16 * i, struct.pack('<QIHH', addr, length, buf_id, flags))

    def avail(self, heads, flags=0):
        self.put(AVAIL, struct.pack('<HH', flags, len(heads)))
        for i, h in enumerate(heads):
            self.put(AVAIL + 4 + 2 * i, struct.pack('<H', h))


def ring_input(size_code, features, b2, b3, ram):
    return bytes([size_code, features, b2, b3]) + bytes(ram.b)


def vq_seeds():
    seeds = {}
    r = Ram()
    # Chain 0: readable 16 + writable 512 (direct).  Chain 1: indirect
    # table of three (read, write, write in the high region).  Chain 2: one
    # writable buffer.
    r.desc(DESC, 0, 0x4000, 16, F_NEXT, 1)
    r.desc(DESC, 1, 0x4100, 512, F_WRITE)
    r.desc(DESC, 2, 0x3000, 48, F_INDIRECT)
    r.desc(0x3000, 0, 0x5000, 64, F_NEXT, 1)
    r.desc(0x3000, 1, 0x5100, 256, F_WRITE | F_NEXT, 2)
    r.desc(0x3000, 2, HI_BASE + 0x100, 1024, F_WRITE)
    r.desc(DESC, 3, HI_BASE, 8, F_WRITE)
    r.avail([0, 2, 3])
    seeds['direct-indirect'] = ring_input(3, 3, 63, 0, r)
    seeds['direct-indirect-retchain'] = ring_input(3, 1, 63, 0x55, r)
    r2 = Ram()
    r2.desc(DESC, 0, 0x4000, 4096, F_WRITE)
    r2.avail([0])
    seeds['one-buffer'] = ring_input(0, 0, 0, 0, r2)
    return seeds


P_AVAIL, P_USED = 1 << 7, 1 << 15
P_DRIVER, P_DEVICE = 0x1000, 0x2000


def p_avail(wrap):
    """AVAIL/USED bits of a descriptor made available in the lap of wrap counter wrap."""
    return P_AVAIL if wrap else P_USED


def vq_packed_input(size, features, niov, act, start, passes, ram):
    """fuzz_vq_packed's 8-byte header, then guest RAM (see its header comment)."""
    return bytes([size, features, niov, act, start & 0xff, start >> 8, passes, 0]) + bytes(ram.b)


def vq_packed_seeds():
    seeds = {}
    # Size 8: a direct list (read 16 + write 512, id 0), an indirect table of
    # three (id 3), one writable buffer in the high region (id 2); the driver
    # asks for an interrupt at slot 2 (EVENT_IDX, DESC).
    r = Ram()
    a = p_avail(True)
    r.pdesc(DESC, 0, 0x4000, 16, 0, a | F_NEXT)
    r.pdesc(DESC, 1, 0x4100, 512, 0, a | F_WRITE)
    r.pdesc(DESC, 2, 0x3000, 48, 3, a | F_INDIRECT)
    r.pdesc(0x3000, 0, 0x5000, 64, 0, 0)
    r.pdesc(0x3000, 1, 0x5100, 256, 0, F_WRITE)
    r.pdesc(0x3000, 2, HI_BASE + 0x100, 1024, 0, F_WRITE)
    r.pdesc(DESC, 3, HI_BASE, 8, 2, a | F_WRITE)
    r.put(P_DRIVER, struct.pack('<HH', 2 | 0x8000, 2))
    seeds['lists-indirect'] = vq_packed_input(8, 3, 63, 0x00, 0, 0, r)
    # The same four slots as a ring of 4, for four passes round it.
    seeds['lists-indirect-retchain-laps'] = vq_packed_input(4, 3, 63, 0x55, 0, 3, r)
    # Size 5, starting at slot 3 of the first lap: a list of two (slots 3, 4,
    # id 1), then in the next lap a single buffer (slot 0, id 4) and a list
    # of two (slots 1, 2, id 0), completed out of order.
    r = Ram()
    r.pdesc(DESC, 3, 0x4000, 32, 1, p_avail(True) | F_NEXT)
    r.pdesc(DESC, 4, 0x4100, 64, 1, p_avail(True) | F_WRITE)
    r.pdesc(DESC, 0, 0x4200, 128, 4, p_avail(False) | F_WRITE)
    r.pdesc(DESC, 1, 0x4300, 16, 0, p_avail(False) | F_NEXT)
    r.pdesc(DESC, 2, 0x4400, 16, 0, p_avail(False) | F_WRITE)
    seeds['wrap-start'] = vq_packed_input(5, 6, 8, 0xa4, 3 | 0x8000, 1, r)
    # Size 16: sixteen single buffers with ids in reverse, held and released
    # in scrambled order, for two laps.
    r = Ram()
    for i in range(16):
        r.pdesc(DESC, i, 0x4000 + 0x40 * i, 0x40, 15 - i, p_avail(True) | F_WRITE)
    seeds['sixteen-out-of-order'] = vq_packed_input(16, 0, 4, 0x3c, 0, 1, r)
    # The same, the chains held across the rewrite of the ring (a driver
    # overwriting descriptors in flight).
    seeds['sixteen-held-across-rewrite'] = vq_packed_input(16, 0, 4, 0x00, 0, 0x81, r)
    return seeds


def blk_request(r, head, table_slot, hdr_gpa, typ, sector, data_gpa, data_len, data_write,
                st_gpa, payload=b''):
    """A three-descriptor request: header, data (optional), status."""
    r.put(hdr_gpa, struct.pack('<IIQ', typ, 0, sector))
    if payload:
        r.put(data_gpa, payload)
    i = table_slot
    if data_len:
        r.desc(DESC, i, hdr_gpa, 16, F_NEXT, i + 1)
        r.desc(DESC, i + 1, data_gpa, data_len, F_NEXT | (F_WRITE if data_write else 0), i + 2)
        r.desc(DESC, i + 2, st_gpa, 1, F_WRITE)
        return 3
    r.desc(DESC, i, hdr_gpa, 16, F_NEXT, i + 1)
    r.desc(DESC, i + 1, st_gpa, 1, F_WRITE)
    return 2


def blk_seeds():
    T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13
    seeds = {}
    r = Ram()
    heads, slot = [], 0
    reqs = [
        (T_OUT, 8, 0x5000, 512, False, bytes(range(256)) * 2),
        (T_IN, 8, 0x5400, 512, True, b''),
        (T_FLUSH, 0, 0, 0, False, b''),
        (T_GET_ID, 0, 0x5800, 20, True, b''),
        (T_DISCARD, 0, 0x5a00, 16, False, struct.pack('<QII', 16, 8, 0)),
        (T_WZ, 0, 0x5c00, 16, False, struct.pack('<QII', 32, 8, 1)),
        (99, 0, 0, 0, False, b''),
    ]
    for k, (typ, sector, dgpa, dlen, dwrite, payload) in enumerate(reqs):
        heads.append(slot)
        slot += blk_request(r, slot, slot, 0x4000 + 32 * k, typ, sector, dgpa, dlen, dwrite,
                            0x4800 + k, payload)
    r.avail(heads)
    seeds['all-types'] = ring_input(5, 0, 0, 0, r)
    seeds['all-types-ro-4k'] = ring_input(5, 2, 3, 0, r)
    # An indirect write request.
    r = Ram()
    r.put(0x4000, struct.pack('<IIQ', T_OUT, 0, 0))
    r.desc(DESC, 0, 0x3000, 48, F_INDIRECT)
    r.desc(0x3000, 0, 0x4000, 16, F_NEXT, 1)
    r.desc(0x3000, 1, HI_BASE, 4096, F_NEXT, 2)
    r.desc(0x3000, 2, 0x4800, 1, F_WRITE)
    r.avail([0])
    seeds['indirect-write'] = ring_input(3, 1, 0, 0, r)
    return seeds


# fuzz_virtio_pci operations (enum op there) and register offsets.
OP_CFG_W, OP_CFG_R, OP_BAR_W, OP_BAR_R, OP_RAM, OP_FLR = range(6)
SIZE = {1: 0, 2: 1, 4: 2, 8: 3}
C_DFSEL, C_DF, C_GFSEL, C_GF, C_MSIX, C_NUMQ, C_STATUS = 0x00, 0x04, 0x08, 0x0c, 0x10, 0x12, 0x14
C_QSEL, C_QSIZE, C_QMSIX, C_QENABLE = 0x16, 0x18, 0x1a, 0x1c
C_QDESC, C_QAVAIL, C_QUSED = 0x20, 0x28, 0x30
NOTIFY = 0x3000


class Ops:
    def __init__(self):
        self.b = bytearray()

    def cfg(self, dev, off, size, val=0, write=True):
        self.b += struct.pack('<BBHBI', OP_CFG_W if write else OP_CFG_R, dev, off, SIZE[size], val)

    def bar(self, dev, where, off, size, val=0, write=True):
        self.b += struct.pack('<BBBHBQ', OP_BAR_W if write else OP_BAR_R, dev, where, off,
                              SIZE[size], val)

    def common(self, dev, off, size, val):
        self.bar(dev, 0, off, size, val)

    def ram(self, gpa, data):
        while data:
            chunk, data = data[:255], data[255:]
            self.b += struct.pack('<BIB', OP_RAM, gpa, len(chunk)) + chunk
            gpa += len(chunk)


def bring_up(o, dev, msix):
    """3.1.1 on device dev, queue 0 of 8 entries at 0x10000."""
    o.common(dev, C_STATUS, 1, 0)
    o.common(dev, C_STATUS, 1, 1)
    o.common(dev, C_STATUS, 1, 3)
    o.common(dev, C_DFSEL, 4, 1)
    o.bar(dev, 0, C_DF, 4, write=False)
    o.common(dev, C_GFSEL, 4, 1)
    o.common(dev, C_GF, 4, 1)  # VERSION_1
    o.common(dev, C_STATUS, 1, 0xb)
    if msix:
        for v in range(2):
            o.bar(dev, 1, 16 * v, 8, 0xfee00000)
            o.bar(dev, 1, 16 * v + 8, 4, 0x4000 + v)
            o.bar(dev, 1, 16 * v + 12, 4, 0)
        o.cfg(dev, 0x42, 2, 0x8000)  # MSI-X enable (capability at 0x40)
        o.common(dev, C_MSIX, 2, 0)
    o.common(dev, C_QSEL, 2, 0)
    o.common(dev, C_QSIZE, 2, 8)
    if msix:
        o.common(dev, C_QMSIX, 2, 1)
    base = 0x10000 + 0x8000 * dev
    o.common(dev, C_QDESC, 8, base)
    o.common(dev, C_QAVAIL, 8, base + 0x1000)
    o.common(dev, C_QUSED, 8, base + 0x2000)
    o.common(dev, C_QENABLE, 2, 1)
    o.common(dev, C_STATUS, 1, 0xf)
    return base


def virtio_pci_seeds():
    seeds = {}
    # virtio-blk: a write then a read of sector 0, through MSI-X.
    o = Ops()
    base = bring_up(o, 0, True)
    r = Ram()
    n = blk_request(r, 0, 0, 0x4000, 1, 0, 0x5000, 512, False, 0x4800, b'\xab' * 512)
    blk_request(r, n, n, 0x4020, 0, 0, 0x5400, 512, True, 0x4801)
    r.avail([0, n])
    # Ram() builds a low-region image at gpa 0: move it to the queue's base.
    img = bytes(r.b)
    o.ram(base, img[:0x1004 + 4])
    o.ram(0x4000, img[0x4000:0x5600])  # the descriptors hold absolute addresses
    o.bar(0, 0, NOTIFY, 2, 0)
    o.bar(0, 0, 0x1000, 1, write=False)  # ISR
    o.bar(0, 0, 0x2000, 8, write=False)  # capacity
    seeds['blk-write-read'] = bytes(o.b)
    # virtio-rnd (transitional): one 64-byte buffer, INTx.
    o = Ops()
    base = bring_up(o, 1, False)
    r = Ram()
    r.desc(DESC, 0, base + 0x4000, 64, F_WRITE)
    r.avail([0])
    img = bytes(r.b)
    o.ram(base, img[:0x1006])
    o.bar(1, 0, NOTIFY, 2, 0)
    o.bar(1, 0, 0x1000, 1, write=False)
    seeds['rnd-read'] = bytes(o.b)
    # Legacy interface of the transitional virtio-rnd: features, queue PFN, status.
    o = Ops()
    o.bar(1, 2, 0x12, 1, 0)
    o.bar(1, 2, 0x12, 1, 3)
    o.bar(1, 2, 0x00, 4, write=False)
    o.bar(1, 2, 0x04, 4, 0)
    o.bar(1, 2, 0x0e, 2, 0)
    o.bar(1, 2, 0x0c, 2, write=False)
    o.bar(1, 2, 0x08, 4, 0x20000 >> 12)
    o.bar(1, 2, 0x12, 1, 7)
    o.bar(1, 2, 0x10, 2, 0)
    o.bar(1, 2, 0x13, 1, write=False)
    seeds['rnd-legacy'] = bytes(o.b)
    seeds.update(pci_cfg_seeds())
    return seeds


def console_up(o, dev, queues):
    """3.1.1 on console dev with MULTIPORT (INTx): each queue (index, gpa) of 8
    entries, desc at gpa, avail at +0x1000, used at +0x2000."""
    o.common(dev, C_STATUS, 1, 0)
    o.common(dev, C_STATUS, 1, 1)
    o.common(dev, C_STATUS, 1, 3)
    o.common(dev, C_GFSEL, 4, 0)
    o.common(dev, C_GF, 4, 2)  # VIRTIO_CONSOLE_F_MULTIPORT
    o.common(dev, C_GFSEL, 4, 1)
    o.common(dev, C_GF, 4, 1)  # VERSION_1
    o.common(dev, C_STATUS, 1, 0xb)
    for q, gpa in queues:
        o.common(dev, C_QSEL, 2, q)
        o.common(dev, C_QSIZE, 2, 8)
        o.common(dev, C_QDESC, 8, gpa)
        o.common(dev, C_QAVAIL, 8, gpa + 0x1000)
        o.common(dev, C_QUSED, 8, gpa + 0x2000)
        o.common(dev, C_QENABLE, 2, 1)
    o.common(dev, C_STATUS, 1, 0xf)


def console_seeds():
    """fuzz_console: the control queue handshake of Linux's driver, and a
    control message shorter than its header."""
    ctrl_rx, ctrl_tx, rx_bufs, tx_bufs = 0x10000, 0x14000, 0x20000, 0x30000

    def desc(i, addr, length, flags):
        return struct.pack('<QIHH', addr, length, flags, 0)

    def avail(heads):
        return struct.pack('<HH', 0, len(heads)) + b''.join(struct.pack('<H', h) for h in heads)

    def msg(id_, event, value):
        return struct.pack('<IHH', id_, event, value)

    seeds = {}
    for name, dev, tx_msgs in (
            ('handshake', 0, [(msg(0xffffffff, 0, 1), 8), (msg(0, 3, 1), 8), (msg(1, 3, 1), 8),
                              (msg(2, 3, 1), 8), (msg(1, 6, 1), 8)]),
            ('short-message', 0, [(msg(0xffffffff, 0, 1), 8), (msg(0, 3, 1), 4)]),
            ('solo-port', 1, [(msg(0xffffffff, 0, 1), 8), (msg(0, 3, 1), 8), (msg(7, 3, 1), 8)])):
        o = Ops()
        console_up(o, dev, [(2, ctrl_rx), (3, ctrl_tx)])
        # The driver's receive buffers for the device's messages.
        o.ram(ctrl_rx, b''.join(desc(i, rx_bufs + 64 * i, 64, F_WRITE) for i in range(8)))
        o.ram(ctrl_rx + 0x1000, avail(range(8)))
        o.bar(dev, 0, NOTIFY + 2 * 4, 2, 2)
        # Each message on the transmitq, one kick each.
        for i, (m, length) in enumerate(tx_msgs):
            o.ram(tx_bufs + 16 * i, m)
            o.ram(ctrl_tx + 16 * i, desc(i, tx_bufs + 16 * i, length, 0))
            o.ram(ctrl_tx + 0x1000, avail(range(i + 1)))
            o.bar(dev, 0, NOTIFY + 3 * 4, 2, 3)
        o.bar(dev, 0, 0x1000, 1, write=False)  # ISR
        o.bar(dev, 0, 0x2000 + 4, 4, write=False)  # max_nr_ports
        seeds[name] = bytes(o.b)
    return seeds


def pci_cfg_seeds():
    seeds = {}
    # Enumeration as firmware does it: IDs, header, BAR sizing, capabilities.
    o = Ops()
    for dev in (0, 1, 2):
        for off in range(0, 0x40, 4):
            o.cfg(dev, off, 4, write=False)
        for bar in range(6):
            o.cfg(dev, 0x10 + 4 * bar, 4, 0xffffffff)
            o.cfg(dev, 0x10 + 4 * bar, 4, write=False)
        o.cfg(dev, 0x04, 2, 0)
        for off in range(0x40, 0x100, 4):
            o.cfg(dev, off, 4, write=False)
    seeds['cfg-enumerate'] = bytes(o.b)
    # The PCI_CFG window: read device status through config space.
    o = Ops()
    for dev in (0, 1):
        for off in range(0x40, 0x100, 2):
            o.cfg(dev, off, 2, write=False)
        for off in range(0x40, 0x100, 1):
            o.cfg(dev, off, 1, 0xff)
    seeds['cfg-all-bytes'] = bytes(o.b)
    return seeds


def net_seeds():
    seeds = {}
    # Control commands: RX_PROMISC off, MAC_TABLE_SET (1 unicast, 2 multicast),
    # MAC_ADDR_SET, each as header / data / ack buffers.
    cmds = [bytes([0, 0, 0]),
            bytes([1, 0]) + struct.pack('<I', 1) + bytes.fromhex('525400123456') +
            struct.pack('<I', 2) + bytes.fromhex('01005e000001') + bytes.fromhex('333300000001'),
            bytes([1, 1]) + bytes.fromhex('525400abcdef')]
    r = Ram()
    heads, slot = [], 0
    for k, c in enumerate(cmds):
        g = 0x4000 + 0x100 * k
        r.put(g, c[:2])
        r.put(g + 0x10, c[2:])
        r.desc(DESC, slot, g, 2, F_NEXT, slot + 1)
        r.desc(DESC, slot + 1, g + 0x10, len(c) - 2, F_NEXT, slot + 2)
        r.desc(DESC, slot + 2, g + 0xf0, 1, F_WRITE)
        heads.append(slot)
        slot += 3
    r.avail(heads)
    seeds['ctrl'] = ring_input(4, 0, 0x0e, 0, r)
    # Transmit: 12-byte header + 60-byte frame, header in its own buffer.
    r = Ram()
    r.put(0x5000, bytes.fromhex('ffffffffffff525400123456') + b'\x08\x00' + bytes(46))
    r.desc(DESC, 0, 0x4000, 12, F_NEXT, 1)
    r.desc(DESC, 1, 0x5000, 60, 0)
    r.avail([0])
    seeds['tx'] = ring_input(2, 0, 0x02, 0, r)
    # Receive: four 2 KiB buffers, MRG_RXBUF, frames of 60, 1514, 9014 bytes.
    r = Ram()
    for i in range(4):
        r.desc(DESC, i, 0x4000 + 0x800 * i, 2048, F_WRITE)
    r.avail([0, 1, 2, 3])
    seeds['rx-mrg'] = ring_input(2, 0, 0x33, 0b100100, r)
    # Receive without MRG_RXBUF: one big chain of two buffers (indirect).
    r = Ram()
    r.desc(DESC, 0, 0x3000, 32, F_INDIRECT)
    r.desc(0x3000, 0, 0x4000, 10, F_WRITE | F_NEXT, 1)
    r.desc(0x3000, 1, HI_BASE, 0x4000, F_WRITE)
    r.avail([0])
    seeds['rx-indirect'] = ring_input(2, 1, 0x10, 1, r)
    return seeds


def qemu_seeds():
    def msg(cmd, payload=b''):
        return struct.pack('<iIQ', cmd, 0, len(payload)) + payload

    def send(code, data):
        return struct.pack('<BH', code, len(data)) + data

    sysmem = struct.pack('<8Q8Q8q', *([0, 0x100000] + [0] * 6), *([0xa0000, 0x80000] + [0] * 6),
                         *([0, 0x80000] + [0] * 6))
    cfg = lambda a, v, n: struct.pack('<IIi', a, v, n)
    bar = lambda a, v, n, mem: struct.pack('<QQIB3x', a, v, n, mem)
    seeds = {}
    s = b''
    s += send(2, msg(0, sysmem))                      # SYNC_SYSMEM, two memfds
    s += send(6, msg(6))                              # SET_IRQFD, two eventfds
    s += send(0, msg(3, cfg(0, 0, 4)))                # vendor/device
    s += send(0, msg(2, cfg(0x10, 0xffffffff, 4)))    # BAR sizing
    s += send(0, msg(3, cfg(0x10, 0, 4)))
    s += send(0, msg(2, cfg(0x04, 7, 2)))
    s += send(0, msg(4, bar(0xfe003000, 0, 2, 1)))    # a notify write
    s += send(0, msg(5, bar(0xfe000014, 0, 1, 1)))
    s += send(0, msg(5, bar(0x1000, 0, 8, 1)))        # inside guest RAM
    s += send(0, msg(4, bar(0xc010, 0, 2, 0)))        # I/O BAR
    s += send(0, msg(7))                              # DEVICE_RESET
    seeds['session'] = s
    # One message cut across sends, then two in one send.
    m = msg(3, cfg(8, 0, 4))
    seeds['split'] = send(0, m[:5]) + send(0, m[5:20]) + send(0, m[20:] + m + msg(7))
    return seeds


def vhost_server_seeds():
    """fuzz_vhost_server: guest RAM, then records (fds, len, bytes) of a
    front-end's stream: a QEMU-like bring-up of ring 0 with a chain posted."""
    def rec(data, nfds=0, eventfds=False, region=False):
        return struct.pack('<BH', nfds | (8 if eventfds else 0) | (16 if region else 0),
                           len(data)) + data

    def msg(req, payload=b'', flags=1):
        return struct.pack('<III', req, flags, len(payload)) + payload

    u64 = lambda v: struct.pack('<Q', v)
    state = lambda i, n: struct.pack('<II', i, n)
    ua = 0x7000000000
    ram = bytearray(0x2010)
    struct.pack_into('<QIHH', ram, 0, 0x4000, 64, 2, 0)       # desc 0: 64 writable bytes
    struct.pack_into('<HHH', ram, 0x1000, 0, 1, 0)            # avail: idx 1, ring[0] = 0
    head = struct.pack('<H', len(ram)) + bytes(ram)
    bring_up = (rec(msg(16, u64(1 | 8 | 1 << 9))) +                # SET_PROTOCOL_FEATURES
                rec(msg(1)) + rec(msg(15)) + rec(msg(17)) +        # GET_FEATURES, _PROTOCOL_, QUEUE_NUM
                rec(msg(3, flags=1 | 8)) +                         # SET_OWNER, need reply
                rec(msg(2, u64(1 << 32 | 1 << 30 | 1 << 29))) +    # SET_FEATURES
                rec(msg(5, struct.pack('<II', 1, 0) + struct.pack('<4Q', 0, 1 << 16, ua, 0)), 1) +
                rec(msg(24, struct.pack('<III', 0, 24, 0) + bytes(24))) +  # GET_CONFIG
                rec(msg(8, state(0, 16))) + rec(msg(10, state(0, 0))) +
                rec(msg(9, struct.pack('<II4Q', 0, 0, ua, ua + 0x2000, ua + 0x1000, 0))) +
                rec(msg(13, u64(0)), 1, True) + rec(msg(12, u64(0)), 1, True) +
                rec(msg(18, state(0, 1))))
    # INFLIGHT_SHMFD: a region for 2 rings of 16 (320 bytes each, 64-aligned)
    # taken and handed back at offset 0x3000 of the region file (which starts
    # with the RAM bytes): empty, or saying head 0 was in flight.
    def inflight_up(region):
        iram = bytearray(ram) + bytes(0x3000 - len(ram)) + region
        inflight = lambda size, off: struct.pack('<QQHHI', size, off, 2, 16, 0)
        return (struct.pack('<H', len(iram)) + bytes(iram) +
                rec(msg(16, u64(1 | 8 | 1 << 12))) +              # MQ, REPLY_ACK, INFLIGHT_SHMFD
                rec(msg(2, u64(1 << 32 | 1 << 30 | 1 << 29))) +
                rec(msg(31, inflight(0, 0))) +                     # GET_INFLIGHT_FD
                rec(msg(32, inflight(640, 0x3000)), 1, region=True) +  # SET_INFLIGHT_FD
                rec(msg(5, struct.pack('<II', 1, 0) + struct.pack('<4Q', 0, 1 << 16, ua, 0)), 1) +
                rec(msg(8, state(0, 16))) + rec(msg(10, state(0, 0))) +
                rec(msg(9, struct.pack('<II4Q', 0, 0, ua, ua + 0x2000, ua + 0x1000, 0))) +
                rec(msg(13, u64(0)), 1, True) + rec(msg(12, u64(0)), 1, True) +
                rec(msg(18, state(0, 1))) + rec(msg(11, state(0, 0))))
    held = bytearray(16 + 16 * 16)
    struct.pack_into('<QHHHH', held, 0, 0, 1, 16, 0, 0)        # version 1, 16 entries
    struct.pack_into('<B5xHQ', held, 16, 1, 0, 5)              # head 0 in flight
    seeds = {
        'session': head + bring_up + rec(msg(11, state(0, 0))) + rec(msg(4)),
        'inflight': inflight_up(bytes(640)),
        'inflight-resubmit': inflight_up(bytes(held) + bytes(640 - len(held))),
        # STATUS: FEATURES_OK, the ring set up and enabled, DRIVER_OK, then
        # SET_STATUS 0 stopping it (QEMU 7.2's order) and GET_VRING_BASE.
        'status': head +
                  rec(msg(16, u64(1 | 8 | 1 << 16))) +                 # MQ, REPLY_ACK, STATUS
                  rec(msg(2, u64(1 << 32 | 1 << 30 | 1 << 29))) +
                  rec(msg(39, u64(8))) + rec(msg(40)) +               # FEATURES_OK, GET_STATUS
                  rec(msg(5, struct.pack('<II', 1, 0) + struct.pack('<4Q', 0, 1 << 16, ua, 0)), 1) +
                  rec(msg(8, state(0, 16))) + rec(msg(10, state(0, 0))) +
                  rec(msg(9, struct.pack('<II4Q', 0, 0, ua, ua + 0x2000, ua + 0x1000, 0))) +
                  rec(msg(13, u64(0)), 1, True) + rec(msg(12, u64(0)), 1, True) +
                  rec(msg(18, state(0, 1))) + rec(msg(39, u64(0xf))) +
                  rec(msg(39, u64(0))) + rec(msg(11, state(0, 0))),
        # A second table under the running ring, then one message cut short.
        'remap': head + bring_up +
                 rec(msg(5, struct.pack('<II', 1, 0) + struct.pack('<4Q', 0x100000, 1 << 16, ua, 0)), 1) +
                 rec(msg(25, struct.pack('<III', 0, 1, 0) + b'\x01')) + rec(msg(2, b'\x00' * 3)),
    }
    return seeds


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
    for target, seeds in (('vq', vq_seeds()), ('vq_packed', vq_packed_seeds()), ('blk', blk_seeds()),
                          ('virtio_pci', virtio_pci_seeds()), ('pci_cfg', pci_cfg_seeds()),
                          ('net', net_seeds()), ('qemu', qemu_seeds()),
                          ('vhost_server', vhost_server_seeds()), ('console', console_seeds())):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, 'seed-' + name), 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
