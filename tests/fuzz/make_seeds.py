#!/usr/bin/env python3
# Writes the hand-made seed corpora of tests/fuzz/corpus/ (the input formats are in each
# harness's header comment), plus real files: qcow2 images made by qemu-img (when
# installed) and a stripped guest ELF (from $DOMUS_GUEST_DIR, when set). Inputs found by
# campaigns are merged in by `scripts/fuzz.sh NAME SECONDS --merge`.
import os
import shutil
import struct
import subprocess
import sys
import tempfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(name, seed, data):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, seed), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- disk_spec, channel_spec, xl_config: text ----------------------------------------
for i, s in enumerate([
        "format=raw, vdev=xvda, access=rw, target=/img/g",
        "vdev=xvdb, access=ro, format=qcow2, target=file:/a,b.qcow2",
        "/images/data.qcow2,qcow2,xvdb,ro",
        "/img/d.img,raw,hda,w,discard,direct-io-safe",
        "target=/x,vdev=d0p1,no-discard,devtype=disk,backend=0",
        "/img,raw,sdc1,rw"]):
    put("disk_spec", f"seed{i}", s)
for i, s in enumerate([
        "name=org.domus.echo,connection=socket,path=/run/echo.sock",
        " path = /run/echo.sock , connection = socket, name=org.domus.echo,",
        "backend=Domain-0,name=a,connection=socket,path=/a\nname=b,connection=socket,path=/b",
        "name=x,connection=pty"]):
    put("channel_spec", f"seed{i}", s)
typical = r"""# A typical file
name = "web1"
type = 'pv'
memory = 256
maxmem = 512
vcpus = 2
maxvcpus = 4
kernel = "/var/lib/domus/idle.elf"
cmdline = 'console=hvc0 loglevel=7 msg="hi\tthere"'
uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

on_crash = "preserve"; on_reboot = 'rename-restart'
disk = [ 'format=raw, vdev=xvda, access=rw, target=/images/web1.img',
         # the data disk
         "/images/data.qcow2,qcow2,xvdb,ro",
       ]
vif = [
    'mac=00:16:3e:00:00:01, bridge=br0',
]
channel = [ 'name=org.domus.echo, connection=socket, path=/run/e.sock' ]
extra = "\x41\101 \\ \' \a\b\f\n\r\v"
nested = [ 1, 0x10, 010, [ "a", [ ] ], ]
"""
put("xl_config", "typical", typical)
put("xl_config", "override", 'name="a"\nkernel="k"\nmemory=64\0memory=128')
put("xl_config", "override_word", 'name="a"\nkernel="k"\0name=web2')
examples = os.path.join(os.path.dirname(root), "..", "..", "examples")
for f in sorted(os.listdir(examples)):
    if f.endswith(".cfg"):
        put("xl_config", "example_" + f, open(os.path.join(examples, f)).read())

# ---- hypercalls ---------------------------------------------------------------------
# number index in kNumbers: memory 0, set_timer 1, xen_version 2, console_io 3,
# grant_table 4, vcpu 5, set_segment_base 6, sched 7, callback 8, event_channel 9,
# domus_notify 10.
SCRATCH = 4 << 20


def small(v):
    return bytes([0, v])


def scratch(off):
    return bytes([1]) + struct.pack("<H", off)


def raw(v):
    return bytes([2]) + struct.pack("<Q", v)


def call(index, args, data=b"", offset=0, vcpu=0):
    args = list(args) + [small(0)] * (5 - len(args))
    return bytes([index, vcpu]) + struct.pack("<HB", offset, len(data)) + data + b"".join(args)


def hc_seed(name, *calls):
    put("hypercalls", name, b"".join(calls))


hc_seed("console", call(3, [small(0), small(5), scratch(0)], b"hello"))
hc_seed("version", call(2, [small(0)]), call(2, [small(1), scratch(0)]),
        call(2, [small(6), scratch(0)]))
# evtchn alloc_unbound {dom=DOMID_SELF, remote_dom=0, port}, then send, status, close.
hc_seed("evtchn",
        call(9, [small(6), scratch(0)], struct.pack("<HHI", 0x7ff0, 0, 0)),
        call(9, [small(4), scratch(64)], struct.pack("<I", 1), offset=64),
        call(9, [small(5), scratch(128)], struct.pack("<HHI", 0x7ff0, 0, 1) + bytes(16), offset=128),
        call(9, [small(1), scratch(192)], struct.pack("<III", 0, 0, 0), offset=192),
        call(9, [small(7), scratch(256)], struct.pack("<II", 0, 0), offset=256),
        call(9, [small(3), scratch(64)]))
# grant table: set_table with 1 frame (the page after scratch), query_size, copy.
frame = (SCRATCH + 8192) // 4096
hc_seed("grant",
        call(4, [small(64), scratch(0), small(1)], struct.pack("<HHIQ", 0x7ff0, 1, 0, SCRATCH) ),
        call(4, [small(6), scratch(256), small(1)], struct.pack("<HHII", 0x7ff0, 0, 0, 0), offset=256),
        call(4, [small(5), scratch(512), small(1)],
             struct.pack("<QHHI", frame, 0x7ff0, 0, 0) + struct.pack("<QHHI", frame, 0x7ff0, 16, 0) +
             struct.pack("<HHhH", 8, 3 << 3, 0, 0), offset=512))
hc_seed("vcpu",
        call(5, [small(3), small(1)]),
        call(5, [small(10), small(1), scratch(0)], struct.pack("<QII", (SCRATCH + 4096) // 4096, 64, 0)),
        call(5, [small(0), small(1), scratch(1024)], bytes(200), offset=1024),
        call(5, [small(1), small(1)]),
        call(5, [small(8), small(0), scratch(0)], struct.pack("<QI", 1000, 0)),
        call(5, [small(2), small(1)], vcpu=1))
hc_seed("sched",
        call(7, [small(0)]), call(1, [raw(123456789)]), call(7, [small(1)]),
        call(7, [small(3), scratch(0)], struct.pack("<QIIQ", SCRATCH + 64, 1, 0, 0)),
        call(7, [small(5), scratch(0)], struct.pack("<I", 3)),
        call(7, [small(2), scratch(0)], struct.pack("<I", 0)))
hc_seed("memory", call(0, [small(3), scratch(0)], struct.pack("<H", 0x7ff0)),
        call(0, [small(4), scratch(0)]), call(0, [small(6), scratch(0)], bytes(48)),
        call(6, [small(0), raw(0x1234)]), call(8, [small(0), scratch(0)], bytes(24)),
        call(10, [small(1)]))

# ---- grant_table ----------------------------------------------------------------------
# set_table(2 frames 0x200, 0x201); entry 5 -> frame 0x210 for dom0 rw; map, batch, copy.
gt = bytes([0, 2, 0, 1])
gt += bytes([1]) + struct.pack("<HH", 5, 1) + bytes([0, 0x10])
gt += bytes([1]) + struct.pack("<HH", 6, 1 | 4) + bytes([0, 0x11])
gt += bytes([3, 0]) + struct.pack("<H", 5) + bytes([1])
gt += bytes([3, 0]) + struct.pack("<H", 6) + bytes([0])
gt += bytes([3, 0]) + struct.pack("<H", 6) + bytes([1])
gt += bytes([5, 0, 0, 3]) + struct.pack("<HHH", 5, 6, 5) + bytes([0])
gt += bytes([7, 1, 0]) + struct.pack("<HHH", 5, 100, 512)
gt += bytes([7, 0, 0]) + struct.pack("<HHH", 6, 4000, 512)
gt += bytes([4, 0, 6, 1])
put("grant_table", "map_copy", gt)

# ---- store ----------------------------------------------------------------------------
XS = dict(DIRECTORY=1, READ=2, GET_PERMS=3, WATCH=4, UNWATCH=5, TRANSACTION_START=6,
          TRANSACTION_END=7, INTRODUCE=8, RELEASE=9, GET_DOMAIN_PATH=10, WRITE=11, MKDIR=12,
          RM=13, SET_PERMS=14, IS_DOMAIN_INTRODUCED=17, RESUME=18, SET_TARGET=19,
          RESET_WATCHES=21, DIRECTORY_PART=22)


def req(conn, t, payload, tx=0, req_id=1, split=255):
    return bytes([conn, XS[t], req_id, tx]) + struct.pack("<H", len(payload)) + payload + bytes([split])


st = b"".join([
    req(0, "INTRODUCE", b"5\x001234\x007\x00"),
    req(0, "MKDIR", b"/local/domain/5/data\x00"),
    req(0, "SET_PERMS", b"/local/domain/5/data\x00b5\x00r6\x00"),
    req(2, "WATCH", b"data\x00tok\x00"),
    req(3, "WATCH", b"/local/domain/5/data\x00t6\x00"),
    req(2, "WRITE", b"data/x\x00hello"),
    req(2, "TRANSACTION_START", b"\x00"),
    req(2, "WRITE", b"data/y\x00in tx", tx=1),
    req(3, "READ", b"/local/domain/5/data/x\x00"),
    req(2, "TRANSACTION_END", b"T\x00", tx=1),
    req(2, "DIRECTORY", b"data\x00"),
    req(2, "DIRECTORY_PART", b"data\x000\x00"),
    req(2, "GET_PERMS", b"data/x\x00"),
    req(2, "RM", b"data/x\x00", split=7),
    req(0, "IS_DOMAIN_INTRODUCED", b"5\x00"),
    bytes([2 | (6 << 2)]),
    req(0, "RESUME", b"5\x00"),
    req(0, "SET_TARGET", b"5\x006\x00"),
    req(3, "GET_DOMAIN_PATH", b"6\x00"),
    req(2, "UNWATCH", b"data\x00tok\x00"),
    req(3, "RESET_WATCHES", b"\x00"),
    bytes([2 | (5 << 2)]),
    req(0, "RELEASE", b"5\x00"),
])
put("store", "session", st)
put("store", "raw_oversized", bytes([1 | (4 << 2)]) + struct.pack("<H", 16) +
    struct.pack("<IIII", 2, 1, 0, 5000) + bytes([255]))

# ---- blkback --------------------------------------------------------------------------


def blk(op, rid, sector, segs=(), nr=None):
    b = struct.pack("<BBHIQQ", op, len(segs) if nr is None else nr, 0, 0, rid, sector)
    for gref, first, last in segs:
        b += struct.pack("<IBBH", gref, first, last, 0)
    return b.ljust(112, b"\0")


def indirect(op, rid, sector, nsegs, grefs):
    b = struct.pack("<BBHIQQHH", 6, op, nsegs, 0, rid, sector, 0, 0)
    b += b"".join(struct.pack("<I", g) for g in grefs)
    return b.ljust(112, b"\0")


def push(*reqs):
    return bytes([0, len(reqs) - 1]) + b"".join(reqs)


bk = bytes([2 | (2 << 2)])
bk += push(blk(1, 1, 0, [(1, 0, 7)]), blk(0, 2, 0, [(2, 0, 7), (3, 1, 3)]), blk(3, 3, 0),
           blk(2, 4, 8, [(4, 0, 7)]))
bk += bytes([3, 4, 0])
segs = b"".join(struct.pack("<IBBH", 5 + i % 8, 0, 7, 0) for i in range(16))
bk += bytes([2, 15]) + struct.pack("<HH", 0, len(segs)) + segs
bk += push(indirect(1, 5, 16, 16, [15]), indirect(0, 6, 16, 16, [15]),
           struct.pack("<BBHIQQQ", 5, 0, 0, 0, 7, 100, 20).ljust(112, b"\0"))
bk += bytes([3])
bk += push(blk(0, 8, 511, [(1, 0, 7)]), blk(1, 9, 0, [(99, 0, 7)]), blk(0, 10, 0, [(1, 7, 0)]),
           blk(9, 11, 0))
bk += bytes([3, 1]) + struct.pack("<I", 1000) + bytes([3])
put("blkback", "requests", bk)
put("blkback", "read_only", bytes([1]) + push(blk(1, 1, 0, [(1, 0, 7)]), blk(5, 2, 0)) + bytes([3]))

# ---- netback ---------------------------------------------------------------------------


def txr(gref, offset, flags, rid, size):
    return struct.pack("<IHHHH", gref, offset, flags, rid, size)


def gso_slot(gtype, gsize, more=0):
    return struct.pack("<BBHBBH", 1, more, gsize, gtype, 0, 0).ljust(12, b"\0")


def udp_packet(size):
    eth = bytes(12) + b"\x08\x00"
    ip = bytes([0x45, 0]) + struct.pack(">H", size - 14) + bytes(5) + bytes([17]) + bytes(10)
    return (eth + ip + bytes(8)).ljust(size, b"\x5a")


def tcp_packet(size):
    eth = bytes(12) + b"\x08\x00"
    ip = bytes([0x45, 0]) + struct.pack(">H", size - 14) + bytes(5) + bytes([6]) + bytes(10)
    tcp = bytes(12) + bytes([0x50]) + bytes(7)
    return (eth + ip + tcp).ljust(size, b"\x5a")


def page_write(index, offset, data):  # pages 2.. (index 0 = grant 2)
    return bytes([3, index]) + struct.pack("<HH", offset, len(data)) + data


nb = bytes([3])
nb += page_write(0, 0, udp_packet(300))
nb += page_write(1, 0, tcp_packet(4000)) + page_write(2, 0, bytes(4000))
nb += bytes([0, 5]) + txr(2, 0, 1, 1, 300) + txr(3, 0, 1 | 4 | 8, 2, 8000) + gso_slot(1, 1448) \
    + txr(4, 0, 0, 3, 4000) + txr(2, 4000, 0, 4, 200) + txr(99, 0, 0, 5, 100)
nb += bytes([1, 3]) + b"".join(struct.pack("<HHI", i, 0, 10 + i) for i in range(4))
nb += bytes([4]) + struct.pack("<BBHHHH", 1, 0, 0, 0, 34, 6) + struct.pack("<I", 5000) + bytes([0])
nb += bytes([4]) + struct.pack("<BBHHHH", 1, 1, 54, 1448, 34, 16) + struct.pack("<I", 12000) + bytes([1])
nb += bytes([5, 6, 0, 0, 5])
nb += bytes([2]) + struct.pack("<II", 100000, 3) + bytes([5])
put("netback", "traffic", nb)
put("netback", "no_gso", bytes([0]) + bytes([1, 0]) + struct.pack("<HHI", 1, 0, 5) +
    bytes([4]) + struct.pack("<BBHHHH", 0, 4, 0, 1000, 0, 0) + struct.pack("<I", 3000) + bytes([0, 5]))

# ---- vif_spec ----------------------------------------------------------------------------
for i, s in enumerate([
        "mac=00:16:3e:01:02:03,bridge=xenbr0",
        "ip=10.0.0.2/24 10.0.1.2,script=vif-route,gatewaydev=eth0,vifname=web0,mtu=9000",
        "script=/etc/xen/scripts/vif-nat,ip=192.168.7.2,devid=3,type=vif,backend=0",
        "model=e1000,rate=10Mb/s",
        ""]):
    put("vif_spec", f"seed{i}", s)

# ---- elf_loader: a minimal valid image --------------------------------------------------
BASE = 2 << 20
note = struct.pack("<III", 4, 8, 2) + b"Xen\0" + struct.pack("<Q", BASE + 0x1000)
phoff, phnum = 64, 3
text_off, text_size = 0x1000, 0x2000
data_off = text_off + text_size
note_off = data_off + 0x100
ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, BASE + 0x40, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
ph = struct.pack("<IIQQQQQQ", 1, 5, text_off, BASE, BASE, text_size, text_size, 0x1000)
ph += struct.pack("<IIQQQQQQ", 1, 6, data_off, BASE + 0x10000, BASE + 0x10000, 0x100, 0x3000, 0x1000)
ph += struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
img = (ehdr + ph).ljust(text_off, b"\0") + bytes(text_size) + bytes(0x100) + note
put("elf_loader", "minimal", img)

# ---- real files: qcow2 images by qemu-img, a guest kernel -------------------------------
def qcow2_ops():
    ops = b""
    for op, offset, sectors in [(1, 0, 1), (0, 0, 2), (1, 70000, 3), (2, 4096, 8), (3, 0, 0),
                                (4, 512, 4), (1, 1 << 20, 16), (0, 1 << 20, 16)]:
        ops += bytes([op]) + struct.pack("<QH", offset // 512, sectors - 1 if sectors else 0)
        if op == 1:
            ops += bytes([0xab])
    return ops


if shutil.which("qemu-img"):
    with tempfile.TemporaryDirectory() as tmp:
        images = [("c512", ["-o", "cluster_size=512"], "2M"),
                  ("c4k_v2", ["-o", "cluster_size=4096,compat=0.10"], "4M"),
                  ("c1k_refbits1", ["-o", "cluster_size=1024,refcount_bits=1"], "1M"),
                  ("c512_lazy", ["-o", "cluster_size=512,lazy_refcounts=on"], "8M"),
                  ("c512_backing", ["-o", "cluster_size=512", "-b", "base.raw", "-F", "raw"], "1M")]
        with open(os.path.join(tmp, "base.raw"), "wb") as f:
            f.truncate(1 << 20)
        for name, opts, size in images:
            path = os.path.join(tmp, name + ".qcow2")
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *opts, path, size],
                           check=True, cwd=tmp)
            if name == "c512":  # one with data: L2 tables and refcount blocks in use
                subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 4k",
                                "-c", "write -P 0x11 1M 2k", path], check=True,
                               stdout=subprocess.DEVNULL)
            data = open(path, "rb").read()
            put("qcow2", name, struct.pack("<I", len(data)) + data + qcow2_ops())
guest = os.environ.get("DOMUS_GUEST_DIR")
if guest and os.path.exists(os.path.join(guest, "idle.elf")):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "idle.elf")
        subprocess.run(["strip", "-o", out, os.path.join(guest, "idle.elf")], check=True)
        put("elf_loader", "idle_stripped", open(out, "rb").read())

print("seeds written under", root, file=sys.stderr)
