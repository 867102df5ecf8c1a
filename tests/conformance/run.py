#!/usr/bin/env python3
"""QEMU conformance harness: the tables vmspace builds, walked by QEMU's x86-64 page walker.

For each seed: run the generator (gen.c), which builds a random space with the library,
saves it (vms_space_save) and writes the library's view of it (expect.txt: the enumeration
and vms_translate answers for probe addresses). Then start a paused QEMU with the saved
arena image in guest RAM at its physical base, switch the CPU to long mode with our root
through the gdb stub (CR4, EFER, CR3, CR0), and compare through the monitor:

  * `info tlb`: every present leaf (VA, PA, page size, NX, G, PS, D, A, PCD, PWT, U/S, R/W)
    against the enumeration; no-access mappings must be absent (their P bit is clear);
  * `info mem` (4 levels only; QEMU 7.2's 5-level variant is broken): effective user/write
    rights of merged ranges against the enumeration merged the same way;
  * `gva2gpa` for every probe address against vms_translate, and the probe's effective
    rights (vms_translate_access) against the QEMU leaf that holds it. (gva2gpa goes through
    the gdb stub's qRcmd, which runs the same monitor command without the line editor's
    echo: about ten times faster per address than the monitor socket.)

The monitor never prints the PAT bit (bit 7 of a 4 KiB leaf, bit 12 of a huge leaf) and
drops physical address bits 50-51 in `info tlb`, so the harness also decodes the image
itself, as the SDM defines the format, walking every table from the root: each used leaf
must be one the enumeration lists (same VA, PA, size and property, PAT bit included) and
vice versa, intermediate entries must be P|RW|US, reserved bits of huge leaves clear.

Standard library only. Exit status 0 when everything matched, 1 on any mismatch or error.
"""

import argparse
import bisect
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

PAGE_4K = 1 << 12
PAGE_2M = 1 << 21
PAGE_1G = 1 << 30

# vmspace property bits (vmspace.h, >>pte).
P_R, P_W, P_X, P_USER, P_GLOBAL, P_ACC, P_DIRTY = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
P_SW = (0x80, 0x100, 0x200, 0x400)
CACHE_SHIFT = 12

# Hardware entry bits (Intel SDM vol. 3, 4.5).
E_P, E_RW, E_US, E_PWT, E_PCD, E_A, E_D, E_PS, E_G = (1 << b for b in (0, 1, 2, 3, 4, 5, 6, 7, 8))
E_PAT4K, E_PATHUGE, E_XD = 1 << 7, 1 << 12, 1 << 63
E_NOACCESS = 1 << 10  # vmspace's marker for a no-access mapping (ignored bit)
E_SW = (1 << 9, 1 << 11, 1 << 52, 1 << 53)
ADDR_MASK = 0x000FFFFFFFFFF000

# Physical address masks QEMU 7.2's `info tlb` applies per page size (bits 12..49 only).
QEMU_TLB_PA_MASK = {PAGE_4K: 0x3FFFFFFFFF000, PAGE_2M: 0x3FFFFFFE00000, PAGE_1G: 0x3FFFFC0000000}

SAVE_MAGIC = b"VMSPACE1"
WARNED = {}
HEADER_SIZE = 64


class CheckFailed(Exception):
    """A harness error (QEMU did not behave, a file is malformed): not a table mismatch."""


def level_size(level):
    return 1 << (12 + 9 * (level - 1))


def size_name(size):
    return {PAGE_4K: "4K", PAGE_2M: "2M", PAGE_1G: "1G"}.get(size, hex(size))


def prop_str(prop):
    if prop is None:
        return "-"
    s = "".join(c if prop & b else "-" for c, b in
                (("R", P_R), ("W", P_W), ("X", P_X), ("U", P_USER), ("G", P_GLOBAL),
                 ("A", P_ACC), ("D", P_DIRTY)))
    return "%s pat%d" % (s, (prop >> CACHE_SHIFT) & 0xF)


# ---- the generator's output ---------------------------------------------------------------

class Expect:
    def __init__(self, path):
        self.hdr = {}
        self.maps = []     # (va, pa, size, prop) in enumeration order
        self.probes = []   # (va, pa or None, effective rights or None)
        with open(path) as f:
            for line in f:
                w = line.split()
                if not w:
                    continue
                if w[0] == "M":
                    self.maps.append((int(w[1], 16), int(w[2], 16), int(w[3], 16), int(w[4], 16)))
                elif w[0] == "T":
                    self.probes.append((int(w[1], 16), None if w[2] == "-" else int(w[2], 16),
                                        None if w[3] == "-" else int(w[3], 16)))
                else:
                    self.hdr[w[0]] = int(w[1], 16) if w[0] != "levels" else int(w[1])
        for k in ("levels", "root", "phys_base", "image_len", "seed"):
            if k not in self.hdr:
                raise CheckFailed("expect.txt lacks '%s'" % k)
        self.levels = self.hdr["levels"]
        self.root = self.hdr["root"]
        # The root the CPU walks: another space's, on the same arena, when it shares tables.
        self.walk = self.hdr.get("walk", self.root)


def read_image(path, exp):
    """Check the saved file's header against the space and return the arena image bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < HEADER_SIZE:
        raise CheckFailed("%s: shorter than the header" % path)
    magic, version, levels, root, phys_base, length = struct.unpack_from("<8sIIQQQ", data, 0)
    errs = []
    if magic != SAVE_MAGIC:
        errs.append("magic %r" % magic)
    if version != 1:
        errs.append("version %d" % version)
    if levels != exp.levels:
        errs.append("levels %d, space has %d" % (levels, exp.levels))
    if root != exp.root:
        errs.append("root %#x, space has %#x" % (root, exp.root))
    if phys_base != exp.hdr["phys_base"]:
        errs.append("phys_base %#x, space has %#x" % (phys_base, exp.hdr["phys_base"]))
    if length != exp.hdr["image_len"] or len(data) != HEADER_SIZE + length:
        errs.append("length %#x, file holds %#x, arena used %#x"
                    % (length, len(data) - HEADER_SIZE, exp.hdr["image_len"]))
    # Bytes 40..63: the arena's free-list head, frames in use and reserved size.
    free_head, in_use, size = struct.unpack_from("<QQQ", data, 40)
    if size < length or size % (2 << 20):
        errs.append("arena size %#x for an image of %#x" % (size, length))
    if free_head and not phys_base <= free_head < phys_base + length:
        errs.append("free-list head %#x outside the image" % free_head)
    if in_use * 4096 > length:
        errs.append("%d frames in use, image holds %d" % (in_use, length // 4096))
    if not phys_base <= root < phys_base + length:
        errs.append("root %#x outside the image" % root)
    return errs, phys_base, data[HEADER_SIZE:]


# ---- the SDM decoder over the image -------------------------------------------------------

def decode_image(image, phys_base, root, levels):
    """Walk every table from the root. Returns ({va: (entry, level)} of used leaves, errors).
    Checks the structure the hardware relies on: intermediate entries P|RW|US without PS or
    XD, pointing inside the image, each table reached once; reserved bits of huge leaves."""
    leaves = {}
    errs = []
    seen = set()
    end = phys_base + len(image)
    vbits = 57 if levels == 5 else 48

    def canon(va):
        return va | ((1 << 64) - (1 << vbits)) if va & (1 << (vbits - 1)) else va

    stack = [(root, levels, 0)]
    while stack:
        table, level, base = stack.pop()
        if table in seen:
            errs.append("table %#x reached twice" % table)
            continue
        seen.add(table)
        off = table - phys_base
        entries = struct.unpack_from("<512Q", image, off)
        for i, e in enumerate(entries):
            if e == 0:
                continue
            va = base + (i << (12 + 9 * (level - 1)))
            used = e & (E_P | E_NOACCESS)
            if not used:
                errs.append("va %#x level %d: entry %#x neither present nor a mapping"
                            % (canon(va), level, e))
                continue
            if level == 1 or (level <= 3 and e & E_PS):
                if level > 1:
                    size = level_size(level)
                    rsvd = (size - 1) & ~0x1FFF  # bits 13..shift-1
                    if e & rsvd:
                        errs.append("va %#x: %s leaf %#x has reserved bits %#x set"
                                    % (canon(va), size_name(size), e, e & rsvd))
                leaves[canon(va)] = (e, level, off + 8 * i)
                continue
            if level > 3 and e & E_PS:
                errs.append("va %#x level %d: PS set in entry %#x" % (canon(va), level, e))
            want = E_P | E_RW | E_US
            if e & want != want or e & E_XD:
                errs.append("va %#x level %d: intermediate entry %#x is not P|RW|US"
                            % (canon(va), level, e))
            child = e & ADDR_MASK
            if not phys_base <= child < end or child % 4096:
                errs.append("va %#x level %d: table %#x outside the image"
                            % (canon(va), level, child))
                continue
            stack.append((child, level - 1, va))
    return leaves, errs


def prop_from_entry(e, level):
    """The vmspace property an entry encodes, decoded from the SDM bit positions."""
    p = 0
    if e & E_P:
        p |= P_R
    if e & E_RW:
        p |= P_W
    if e & E_US:
        p |= P_USER
    if not e & E_XD:
        p |= P_X
    if e & E_G:
        p |= P_GLOBAL
    if e & E_A:
        p |= P_ACC
    if e & E_D:
        p |= P_DIRTY
    for bit, sw in zip(E_SW, P_SW):
        if e & bit:
            p |= sw
    pat = (1 if e & E_PWT else 0) | (2 if e & E_PCD else 0)
    if e & (E_PAT4K if level == 1 else E_PATHUGE):
        pat |= 4
    return p | (pat << CACHE_SHIFT)


def leaf_pa(e, level):
    mask = ADDR_MASK & ~(level_size(level) - 1)
    return e & mask


# ---- QEMU ---------------------------------------------------------------------------------

def connect_unix(path, timeout):
    """Connect to QEMU's listening socket; the file appears just before listen() is called."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            return sock
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            if time.monotonic() > deadline:
                raise CheckFailed("cannot connect to %s" % path)
            time.sleep(0.005)


class GdbStub:
    """Just enough of the gdb remote protocol: send a packet, read the reply, ack it."""

    def __init__(self, path, timeout):
        self.sock = connect_unix(path, timeout)
        self.buf = b""

    def cmd(self, text):
        data = text.encode()
        self.sock.sendall(b"$%s#%02x" % (data, sum(data) & 0xFF))
        return self._packet()

    def _packet(self, ack=True):
        while True:
            start = self.buf.find(b"$")
            hashpos = self.buf.find(b"#", start + 1) if start >= 0 else -1
            if hashpos >= 0 and len(self.buf) >= hashpos + 3:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise CheckFailed("gdb stub closed the connection")
            self.buf += chunk
        body = self.buf[start + 1:hashpos]
        self.buf = self.buf[hashpos + 3:]
        if ack:
            self.sock.sendall(b"+")
        return body.decode()

    def monitor(self, command):
        """A monitor command through qRcmd: no line editing or echo, several times faster
        per command than the monitor socket. Output arrives in O packets (one per line, sent
        without waiting for acks), then OK. The acks go in one write at the end: one write per
        packet would fill the socket while QEMU is still writing (QEMU 7.2 has no
        QStartNoAckMode)."""
        out = []
        data = ("qRcmd," + command.encode().hex()).encode()
        self.sock.sendall(b"$%s#%02x" % (data, sum(data) & 0xFF))
        r = self._packet(ack=False)
        while r != "OK":
            if not r.startswith("O"):
                raise CheckFailed("gdb: monitor %r: %r" % (command, r[:80]))
            out.append(bytes.fromhex(r[1:]))
            r = self._packet(ack=False)
        self.sock.sendall(b"+" * (len(out) + 1))
        return b"".join(out).decode(errors="replace").replace("\r", "")

    def read_xfer(self, annex):
        out, off = "", 0
        while True:
            r = self.cmd("qXfer:features:read:%s:%x,ffb" % (annex, off))
            if not r or r[0] not in "ml":
                raise CheckFailed("qXfer %s: %r" % (annex, r))
            out += r[1:]
            off += len(r) - 1
            if r[0] == "l":
                return out

    def register_numbers(self):
        """Register name -> number from the target description (comments are not registers;
        a regnum attribute restarts the count)."""
        xml = self.read_xfer("target.xml")
        for inc in re.findall(r'<xi:include href="([^"]+)"', xml):
            xml += self.read_xfer(inc)
        xml = re.sub(r"<!--.*?-->", "", xml, flags=re.S)
        regs, n = {}, 0
        for m in re.finditer(r"<reg\s([^>]*)>", xml):
            attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if "regnum" in attrs:
                n = int(attrs["regnum"])
            regs[attrs["name"]] = n
            n += 1
        return regs

    def write_reg(self, num, value):
        r = self.cmd("P%x=%s" % (num, struct.pack("<Q", value).hex()))
        if r != "OK":
            raise CheckFailed("gdb: writing register %d: %r" % (num, r))

    def read_reg(self, num):
        r = self.cmd("p%x" % num)
        return struct.unpack("<Q", bytes.fromhex(r[:16]))[0]


class Monitor:
    """The human monitor over a unix socket: commands in, text up to the next prompt out."""
    PROMPT = b"(qemu) "

    def __init__(self, path, timeout):
        self.sock = connect_unix(path, timeout)
        self.buf = b""
        self._read_prompt()  # the banner

    def _read_prompt(self):
        scanned = 0
        while True:
            i = self.buf.find(self.PROMPT, scanned)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(self.PROMPT):]
                return out
            scanned = max(0, len(self.buf) - len(self.PROMPT))
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise CheckFailed("monitor closed the connection")
            self.buf += chunk

    @staticmethod
    def _body(raw):
        # The first line is the echo of the command (with terminal escapes): drop it.
        text = raw.decode(errors="replace").replace("\r", "")
        return text.split("\n", 1)[1] if "\n" in text else ""

    def cmd(self, command):
        return self.cmds([command])[0]

    def cmds(self, commands, chunk=128):
        """Run commands in batches (pipelined: one round trip per batch)."""
        out = []
        for i in range(0, len(commands), chunk):
            part = commands[i:i + chunk]
            self.sock.sendall("".join(c + "\n" for c in part).encode())
            for _ in part:
                out.append(self._body(self._read_prompt()))
        return out


class Qemu:
    """A paused QEMU with the image in RAM and the CPU in long mode on our root. Use as a
    context manager: the process is killed (by its pid) and its directory removed on exit."""

    def __init__(self, image_path, phys_base, image_len, root, levels, timeout=20.0):
        self.dir = tempfile.mkdtemp(prefix="vmsq", dir="/tmp")  # short: unix socket paths
        self.proc = None
        try:
            self._start(image_path, phys_base, image_len, root, levels, timeout)
        except BaseException:
            self.close()
            raise

    def _start(self, image_path, phys_base, image_len, root, levels, timeout):
        if root >= 1 << 32:
            raise CheckFailed("root %#x above 4 GiB: CR3 keeps 32 bits outside long mode" % root)
        mem_mb = (phys_base + image_len + (1 << 20) - 1) // (1 << 20) + 2
        mem_mb = max(mem_mb, 32)
        gsock, msock = os.path.join(self.dir, "g"), os.path.join(self.dir, "m")
        argv = ["qemu-system-x86_64", "-S", "-nodefaults", "-display", "none",
                "-machine", "accel=tcg", "-cpu", "max", "-m", "%dM" % mem_mb,
                "-device", "loader,file=%s,addr=%#x,force-raw=on" % (image_path, phys_base),
                "-gdb", "unix:%s,server=on,wait=off" % gsock,
                "-monitor", "unix:%s,server=on,wait=off" % msock]
        self.log = open(os.path.join(self.dir, "qemu.log"), "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not (os.path.exists(gsock) and os.path.exists(msock)):
            if self.proc.poll() is not None:
                raise CheckFailed("qemu exited with %d: %s" % (self.proc.returncode,
                                                               self._log_text()))
            if time.monotonic() > deadline:
                raise CheckFailed("qemu did not open its sockets")
            time.sleep(0.005)
        self.gdb = GdbStub(gsock, timeout)
        self.gdb.cmd("?")
        regs = self.gdb.register_numbers()
        try:
            cr0, cr3, cr4, efer = (regs[n] for n in ("cr0", "cr3", "cr4", "efer"))
        except KeyError as e:
            raise CheckFailed("target description lacks register %s" % e)
        cr4_val = (1 << 5) | ((1 << 12) if levels == 5 else 0)  # PAE, LA57
        efer_val = (1 << 8) | (1 << 11)                             # LME, NXE
        cr0_val = (1 << 0) | (1 << 16) | (1 << 31)                  # PE, WP, PG
        self.gdb.write_reg(cr4, cr4_val)
        self.gdb.write_reg(efer, efer_val)
        self.gdb.write_reg(cr3, root)
        self.gdb.write_reg(cr0, cr0_val)
        got = {n: self.gdb.read_reg(r) for n, r in
               (("cr0", cr0), ("cr3", cr3), ("cr4", cr4), ("efer", efer))}
        if (got["cr3"] != root or got["cr4"] & cr4_val != cr4_val
                or got["cr0"] & cr0_val != cr0_val or not got["efer"] & (1 << 10)):
            raise CheckFailed("CPU not in %d-level long mode: %s" % (
                levels, ", ".join("%s=%#x" % kv for kv in sorted(got.items()))))
        self.mon = Monitor(msock, timeout)

    def gva2gpa(self, vas):
        """The monitor's gva2gpa for each address (through qRcmd: fast): pa or None."""
        res = []
        for va in vas:
            text = self.gdb.monitor("gva2gpa %#x" % va)
            m = re.search(r"gpa: (0x[0-9a-f]+|0)\b", text)
            if m:
                res.append(int(m.group(1), 16))
            elif "Unmapped" in text:
                res.append(None)
            else:
                raise CheckFailed("gva2gpa %#x: unexpected answer %r" % (va, text))
        return res

    def _log_text(self):
        try:
            with open(os.path.join(self.dir, "qemu.log"), "rb") as f:
                return f.read().decode(errors="replace").strip()
        except OSError:
            return ""

    def close(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()  # by pid: this process and no other
            if self.proc is not None:
                self.proc.wait(timeout=10)
        finally:
            if getattr(self, "log", None):
                self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- comparison ---------------------------------------------------------------------------

TLB_RE = re.compile(r"^([0-9a-f]{16}): ([0-9a-f]{16}) ([X-][G-][P-][D-][A-][C-][T-][U-][W-])$")
MEM_RE = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16}) ([0-9a-f]{16}) ([u-])r([w-])$")


def expected_flags(prop, size):
    """The nine `info tlb` flag characters QEMU prints for a present leaf (XGPDACTUW)."""
    cache = (prop >> CACHE_SHIFT) & 0xF
    return "".join((
        "-" if prop & P_X else "X",
        "G" if prop & P_GLOBAL else "-",
        "P" if size != PAGE_4K else "-",  # PS; QEMU masks bit 7 (PAT) of 4 KiB leaves
        "D" if prop & P_DIRTY else "-",
        "A" if prop & P_ACC else "-",
        "C" if cache & 2 else "-",
        "T" if cache & 1 else "-",
        "U" if prop & P_USER else "-",
        "W" if prop & P_W else "-",
    ))


class Table:
    """One seed: generate, load into QEMU, compare. Mismatches go to self.errors."""

    def __init__(self, args, seed, mutation=None):
        self.args = args
        self.seed = seed
        self.mutation = mutation
        self.errors = []
        self.nmaps = 0
        self.naddrs = 0
        self.nleaves = 0

    def fail(self, what, va, qemu, lib):
        self.errors.append("MISMATCH seed=%d levels=%s %s va=%#x\n    qemu:    %s\n    library: %s"
                           % (self.seed, getattr(self, "levels", "?"), what, va & (2**64 - 1),
                              qemu, lib))

    def run(self, workdir):
        a = self.args
        cmd = [a.gen, str(self.seed), workdir] + a.gen_args
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            self.errors.append("ERROR seed=%d: %s exited with %d:\n%s"
                               % (self.seed, " ".join(cmd), r.returncode, r.stdout.strip()))
            return
        self.gen_line = r.stdout.strip()
        exp = Expect(os.path.join(workdir, "expect.txt"))
        self.levels = exp.levels
        self.nmaps = len(exp.maps)
        image_path = os.path.join(workdir, "space.bin")
        hdr_errs, phys_base, image = read_image(image_path, exp)
        for e in hdr_errs:
            self.errors.append("MISMATCH seed=%d saved file header: %s" % (self.seed, e))
        if hdr_errs:
            return
        if self.mutation:
            image = bytearray(image)
            self.mutate(exp, image, phys_base)
        raw_path = os.path.join(workdir, "arena.raw")
        with open(raw_path, "wb") as f:
            f.write(image)
        self.check_image(exp, image, phys_base)
        with Qemu(raw_path, phys_base, len(image), exp.walk, exp.levels) as q:
            self.check_tlb(exp, q)
            if exp.levels == 4:
                self.check_mem(exp, q)
            self.check_probes(exp, q)

    def mutate(self, exp, image, phys_base):
        """Self-test: break one thing the checks must notice (see MUTATIONS)."""
        kind = self.mutation
        present = [i for i, m in enumerate(exp.maps) if m[3] & P_R]
        if not present:
            raise CheckFailed("self-test seed %d has no present mapping" % self.seed)
        i = present[len(present) // 2]
        va, pa, size, prop = exp.maps[i]
        leaves, _ = decode_image(bytes(image), phys_base, exp.walk, exp.levels)
        e, level, off = leaves[va]
        if kind == "lib-write":      # the library claims the opposite W right
            exp.maps[i] = (va, pa, size, prop ^ P_W)
        elif kind == "lib-user":     # ... the opposite USER right
            exp.maps[i] = (va, pa, size, prop ^ P_USER)
        elif kind == "lib-pa":       # ... another frame
            exp.maps[i] = (va, pa ^ size, size, prop)
        elif kind == "lib-probe":    # vms_translate answers another address for a probe
            j = next(k for k, p in enumerate(exp.probes) if p[1] is not None)
            v, ppa, eff = exp.probes[j]
            exp.probes[j] = (v, ppa ^ PAGE_4K, eff)
        elif kind == "tbl-pat":      # the table's PAT bit flips (QEMU's monitor cannot see it)
            e ^= E_PAT4K if level == 1 else E_PATHUGE
        elif kind == "tbl-notpresent":  # the leaf loses its P bit
            e &= ~E_P
        elif kind == "tbl-nx":       # the leaf's XD bit flips
            e ^= E_XD
        elif kind == "tbl-pa52":     # PA bit 51, which `info tlb` does not print
            e ^= 1 << 51
        else:
            raise ValueError(kind)
        struct.pack_into("<Q", image, off, e)
        self.mutated_va = va

    # The image, decoded independently of the library (PAT bit, bits 50-51, no-access).
    def check_image(self, exp, image, phys_base):
        leaves, errs = decode_image(image, phys_base, exp.walk, exp.levels)
        for e in errs:
            self.errors.append("MISMATCH seed=%d image structure: %s" % (self.seed, e))
        seen = set()
        prev_end = None
        for va, pa, size, prop in exp.maps:
            # vms_space_enumerate: VA order, lower half first (unsigned order), no overlap.
            if prev_end is not None and va < prev_end:
                self.fail("enumeration out of order or overlapping", va,
                          "(image decode)", "starts before the previous mapping ends")
            prev_end = va + size
            seen.add(va)
            got = leaves.get(va)
            def lib():
                return "%s pa=%#x %s" % (size_name(size), pa, prop_str(prop))
            if got is None:
                self.fail("enumerated mapping has no leaf in the image", va, "no leaf", lib())
                continue
            e, level, _ = got
            gsize = level_size(level)
            gprop = prop_from_entry(e, level)
            gpa = leaf_pa(e, level)
            noacc = not prop & P_R
            bad_marker = bool(e & E_NOACCESS) != noacc
            if gsize != size or gpa != pa or gprop != prop or bad_marker:
                self.fail("leaf entry decode", va, "entry %#x: %s pa=%#x %s%s"
                          % (e, size_name(gsize), gpa, prop_str(gprop),
                             " (no-access marker wrong)" if bad_marker else ""), lib())
        for va in leaves.keys() - seen:
            e, level, _ = leaves[va]
            self.fail("leaf in the image missing from the enumeration", va,
                      "entry %#x (%s)" % (e, size_name(level_size(level))), "not enumerated")

    # `info tlb`: the present leaves as QEMU's walker sees them.
    def check_tlb(self, exp, q):
        text = q.mon.cmd("info tlb")
        qleaves = {}
        for line in text.split("\n"):
            line = line.strip()
            if not line:
                continue
            m = TLB_RE.match(line)
            if not m:
                raise CheckFailed("seed %d: unexpected `info tlb` line %r" % (self.seed, line))
            va = int(m.group(1), 16)
            if va >= 1 << 63:
                va -= 1 << 64  # keep ordering signed: upper half after lower in VA order
            qleaves[va] = [int(m.group(2), 16), m.group(3), None]
        self.nleaves += len(qleaves)
        # Page size: 4 KiB unless PS; a PS leaf is 1 GiB only if VA and PA are 1 GiB aligned,
        # no other leaf starts 2 MiB later and the walker maps va + 2 MiB to pa + 2 MiB.
        ambiguous = []
        for va, (pa, flags, _) in qleaves.items():
            if flags[2] != "P":
                qleaves[va][2] = PAGE_4K
            elif va % PAGE_1G or pa % PAGE_1G or (va + PAGE_2M) in qleaves:
                qleaves[va][2] = PAGE_2M
            else:
                ambiguous.append(va)
        for va, gpa in zip(ambiguous, q.gva2gpa([(va + PAGE_2M) & (2**64 - 1)
                                                     for va in ambiguous])):
            pa = qleaves[va][0]
            one_g = gpa is not None and gpa & QEMU_TLB_PA_MASK[PAGE_1G] == pa
            one_g = one_g and gpa % PAGE_1G == PAGE_2M
            qleaves[va][2] = PAGE_1G if one_g else PAGE_2M
        self.naddrs += len(ambiguous)

        libs = {}
        for va, pa, size, prop in exp.maps:
            sva = va - (1 << 64) if va >= 1 << 63 else va
            if prop & P_R:
                libs[sva] = (pa, size, prop)
        for sva in sorted(libs.keys() | qleaves.keys()):
            lib, ql = libs.get(sva), qleaves.get(sva)
            if lib is None:
                self.fail("info tlb: leaf the library does not have", sva,
                          "%s pa=%#x %s" % (size_name(ql[2]), ql[0], ql[1]),
                          "nothing (or a no-access mapping)")
                continue
            pa, size, prop = lib
            want = (pa & QEMU_TLB_PA_MASK[size], size, expected_flags(prop, size))
            if ql is not None and (ql[0], ql[2], ql[1]) == want:
                continue
            libtxt = "%s pa=%#x %s (%s)" % (size_name(size), pa, want[2], prop_str(prop))
            if ql is None:
                self.fail("info tlb: present mapping missing", sva, "no leaf", libtxt)
            else:
                self.fail("info tlb: leaf differs", sva,
                          "%s pa=%#x %s" % (size_name(ql[2]), ql[0], ql[1]), libtxt)
        self.qleaves = qleaves
        self.qstarts = sorted(qleaves)

    # `info mem`: effective rights (AND over all levels) of merged runs, 4 levels only.
    def check_mem(self, exp, q):
        lin = (1 << 48) - 1
        want = []
        for va, _pa, size, prop in sorted(exp.maps, key=lambda m: m[0] & lin):
            if not prop & P_R:
                continue
            s = va & lin
            rights = ("u" if prop & P_USER else "-", "w" if prop & P_W else "-")
            if want and want[-1][1] == s and want[-1][2] == rights:
                want[-1][1] = s + size
            else:
                want.append([s, s + size, rights])
        got = []
        for line in q.mon.cmd("info mem").split("\n"):
            line = line.strip()
            if not line:
                continue
            m = MEM_RE.match(line)
            if not m:
                raise CheckFailed("seed %d: unexpected `info mem` line %r" % (self.seed, line))
            s, e = int(m.group(1), 16) & lin, int(m.group(2), 16)
            e = (1 << 48) if e == 1 << 48 else e & lin
            got.append([s, e, (m.group(4), m.group(5))])
        gi = {tuple(r[:2]): r[2] for r in got}
        wi = {tuple(r[:2]): r[2] for r in want}
        for key in sorted(gi.keys() | wi.keys()):
            if gi.get(key) != wi.get(key):
                s, e = key
                va = s - (1 << 48) if s & (1 << 47) else s
                self.fail("info mem: range [%#x, %#x) (48-bit linear)" % (s, e), va,
                          "r%s" % "".join(gi[key]) if key in gi else "no such range",
                          "r%s" % "".join(wi[key]) if key in wi else "no such range")

    # gva2gpa for the probes, and their effective rights against QEMU's leaf.
    def check_probes(self, exp, q):
        vas = [p[0] for p in exp.probes]
        self.naddrs += len(vas)
        for (va, lpa, leff), gpa in zip(exp.probes, q.gva2gpa(vas)):
            if gpa != lpa:
                self.fail("gva2gpa", va, "Unmapped" if gpa is None else "gpa %#x" % gpa,
                          "not translated" if lpa is None else "pa %#x" % lpa)
                continue
            sva = va - (1 << 64) if va >= 1 << 63 else va
            i = bisect.bisect_right(self.qstarts, sva) - 1
            leaf = None
            if i >= 0:
                start = self.qstarts[i]
                pa, flags, size = self.qleaves[start]
                if sva < start + size:
                    leaf = flags
            qeff = None
            if leaf is not None and gpa is not None:
                qeff = P_R | (P_W if leaf[8] == "W" else 0) | (P_USER if leaf[7] == "U" else 0)
                qeff |= 0 if leaf[0] == "X" else P_X
            if qeff != leff:
                self.fail("effective rights", va,
                          "leaf %s -> %s" % (leaf, prop_str(qeff)[:4] if qeff else "-"),
                          "vms_translate_access %s" % (prop_str(leff)[:4] if leff else "-"))


# Self-test: each mutation must make these checks report (at least) a mismatch.
MUTATIONS = {
    "lib-write": ("info tlb: leaf differs", "leaf entry decode"),
    "lib-user": ("info tlb: leaf differs", "leaf entry decode"),
    "lib-pa": ("info tlb: leaf differs", "leaf entry decode"),
    "lib-probe": ("gva2gpa",),
    "tbl-pat": ("leaf entry decode",),
    "tbl-notpresent": ("info tlb: present mapping missing", "has no leaf in the image"),
    "tbl-nx": ("info tlb: leaf differs", "leaf entry decode"),
    "tbl-pa52": ("leaf entry decode",),
}


def self_test(a):
    """Run seeds unmodified (must pass) and with every mutation (must fail in the named
    checks, and in `info mem` too for rights changes on 4 levels)."""
    bad = 0
    for seed, levels in ((11, "4"), (12, "5")):
        a.gen_args = ["--levels", levels, "--layout", "mixed", "--max-leaves", "3000"]
        for kind in [None] + sorted(MUTATIONS):
            t = Table(a, seed, kind)
            work = tempfile.mkdtemp(prefix="vmsc", dir="/tmp")
            try:
                t.run(work)
            except CheckFailed as e:
                t.errors.append("ERROR %s" % e)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            want = MUTATIONS.get(kind, ())
            if levels == "4" and kind in ("lib-write", "lib-user", "tbl-notpresent"):
                want = want + ("info mem",)
            missing = [w for w in want if not any(w in err for err in t.errors)]
            errors = any(err.startswith("ERROR") for err in t.errors)
            ok = (not t.errors) if kind is None else (not missing and not errors)
            print("self-test %-5s levels %s %-15s %s (%d reports)%s"
                  % ("ok" if ok else "FAIL", levels, kind or "unmodified",
                     "pass" if not t.errors else "mismatch", len(t.errors),
                     "" if ok else ": missing %s; %s" % (missing, t.errors[:3])))
            bad += not ok
    return 1 if bad else 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gen", default=os.path.join(here, "..", "..", "build-conformance", "gen"),
                    help="generator binary (default: build-conformance/gen)")
    ap.add_argument("--tables", type=int, default=200, help="number of seeds (default 200)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--seeds", help="comma-separated seeds (overrides --tables/--first-seed)")
    ap.add_argument("--levels", choices=("4", "5"), help="force the paging depth")
    ap.add_argument("--layout", choices=("sparse", "dense", "mixed"))
    ap.add_argument("--max-leaves", type=int, help="leaf budget of the biggest tables")
    ap.add_argument("--max-report", type=int, default=20, help="mismatches printed per table")
    ap.add_argument("--keep", action="store_true", help="keep the work directory of failures")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--self-test", action="store_true",
                    help="check that the checks fail on deliberately broken tables")
    a = ap.parse_args()
    a.gen = os.path.abspath(a.gen)
    a.gen_args = []
    if a.levels:
        a.gen_args += ["--levels", a.levels]
    if a.layout:
        a.gen_args += ["--layout", a.layout]
    if a.max_leaves:
        a.gen_args += ["--max-leaves", str(a.max_leaves)]
    if not os.access(a.gen, os.X_OK):
        sys.exit("run.py: no generator at %s (build it first: tools/conformance.sh)" % a.gen)
    if shutil.which("qemu-system-x86_64") is None:
        sys.exit("run.py: qemu-system-x86_64 not found")
    if a.self_test:
        return self_test(a)
    seeds = ([int(s) for s in a.seeds.split(",")] if a.seeds
             else range(a.first_seed, a.first_seed + a.tables))

    t0 = time.monotonic()
    tables = maps = addrs = leaves = failed = 0
    for seed in seeds:
        t = Table(a, seed)
        work = tempfile.mkdtemp(prefix="vmsc", dir="/tmp")
        keep = False
        try:
            t.run(work)
        except CheckFailed as e:
            t.errors.append("ERROR seed=%d: %s" % (seed, e))
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            t.errors.append("ERROR seed=%d: %s: %s" % (seed, type(e).__name__, e))
        finally:
            if t.errors:
                failed += 1
                keep = a.keep
                for msg in t.errors[:a.max_report]:
                    print(msg, flush=True)
                if len(t.errors) > a.max_report:
                    print("    ... %d more for seed %d" % (len(t.errors) - a.max_report, seed))
                print("seed %d FAILED (%d mismatches); rerun: %s --gen %s --seeds %d%s%s"
                      % (seed, len(t.errors), sys.argv[0], a.gen, seed,
                         "".join(" " + x for x in a.gen_args),
                         "" if not keep else " [kept %s]" % work), flush=True)
            if not keep:
                shutil.rmtree(work, ignore_errors=True)
        tables += 1
        maps += t.nmaps
        addrs += t.naddrs
        leaves += t.nleaves
        if not a.quiet and not t.errors:
            print("ok   %s, %d present leaves, %d addresses" % (
                getattr(t, "gen_line", "seed %d" % seed), t.nleaves, t.naddrs), flush=True)
    dt = time.monotonic() - t0
    print("conformance: %d tables, %d mappings (%d present leaves compared with info tlb), "
          "%d addresses checked with gva2gpa, %d failed, %.1f s"
          % (tables, maps, leaves, addrs, failed, dt))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
