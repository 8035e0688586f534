"""Conformance cases for the GICv3 virtual CPU interface: the ICH_* state the hypervisor loads
(ICH_HCR_EL2, ICH_VMCR_EL2, the APRs, the LRs) and the guest's ICV accesses, the binary table the
harness reads (``harness/harness.c`` ``struct hcase``), and a random generator."""

from __future__ import annotations

import random
import struct

import attrs

MAGIC = 0x464E4F435A465648  # "HVFZCONF"
MAXACC = 24
NR_LR_SLOTS = 16
NR_APR_SLOTS = 4

#: access kinds, in the harness's enum order
KINDS = ("IAR0", "IAR1", "EOIR0", "EOIR1", "DIR", "PMR_W", "PMR_R", "BPR0_W", "BPR0_R", "BPR1_W", "BPR1_R",
         "CTLR_W", "CTLR_R", "IGRPEN0_W", "IGRPEN0_R", "IGRPEN1_W", "IGRPEN1_R", "HPPIR0", "HPPIR1", "RPR",
         "AP0R0_R", "AP1R0_R")
KIND = {k: i for i, k in enumerate(KINDS)}
READS = frozenset(k for k in KINDS if k.startswith(("IAR", "HPPIR", "RPR")) or k.endswith("_R"))
#: EOIR/DIR value: the vINTID the last unmatched IAR returned (EOIR pops it; DIR uses the last
#: EOIR-popped one), so generated sequences can nest acknowledges and EOIs as a guest does
LAST = 0xFFFFFFFFFFFFFFFF

# ICH_LR<n>_EL2 fields
LR_EOI = 1 << 41
LR_PRIO_SHIFT = 48
LR_GROUP = 1 << 60
LR_STATE_SHIFT = 62


def lr_value(intid: int, state: int, group: int, prio: int, eoi: bool = False) -> int:
    return (intid & 0xFFFFFFFF) | (LR_EOI if eoi else 0) | ((prio & 0xFF) << LR_PRIO_SHIFT) | \
        (LR_GROUP if group else 0) | ((state & 3) << LR_STATE_SHIFT)


def lr_fields(v: int) -> tuple[int, int, int, int, bool]:
    """(vINTID, State, Group, Priority, EOI)."""
    return (v & 0xFFFFFFFF, (v >> LR_STATE_SHIFT) & 3, int(bool(v & LR_GROUP)), (v >> LR_PRIO_SHIFT) & 0xFF,
            bool(v & LR_EOI))


@attrs.frozen
class Access:
    kind: str
    value: int = 0

    def __str__(self) -> str:
        if self.kind in READS:
            return self.kind
        v = "last" if self.value == LAST else f"{self.value:#x}"
        return f"{self.kind}({v})"


@attrs.frozen
class Case:
    """One case: raw register values (the model is set up from the same values)."""

    hcr: int
    vmcr: int
    ap0r: tuple[int, ...]
    ap1r: tuple[int, ...]
    lrs: tuple[int, ...]
    accesses: tuple[Access, ...]

    def pack(self) -> bytes:
        lrs = list(self.lrs) + [0] * (NR_LR_SLOTS - len(self.lrs))
        ap0 = list(self.ap0r) + [0] * (NR_APR_SLOTS - len(self.ap0r))
        ap1 = list(self.ap1r) + [0] * (NR_APR_SLOTS - len(self.ap1r))
        acc = [(KIND[a.kind], a.value) for a in self.accesses] + [(0, 0)] * (MAXACC - len(self.accesses))
        return (struct.pack("<2Q4Q4Q16QQ", self.hcr, self.vmcr, *ap0, *ap1, *lrs, len(self.accesses))
                + b"".join(struct.pack("<2Q", k, v) for k, v in acc))

    def describe(self) -> str:
        lines = [f"ICH_HCR_EL2={self.hcr:#x} ICH_VMCR_EL2={self.vmcr:#x} "
                 f"AP0R={[hex(x) for x in self.ap0r]} AP1R={[hex(x) for x in self.ap1r]}"]
        for i, v in enumerate(self.lrs):
            if v:
                intid, st, g, p, eoi = lr_fields(v)
                lines.append(f"  LR{i}={v:#018x}  vINTID {intid} {('-', 'P', 'A', 'P+A')[st]} G{g} prio {p:#x}"
                             + (" EOI" if eoi else ""))
        lines.append("  guest: " + "; ".join(str(a) for a in self.accesses))
        return "\n".join(lines)


def pack_table(cases: list[Case]) -> bytes:
    return struct.pack("<4Q", MAGIC, len(cases), MAXACC, 0) + b"".join(c.pack() for c in cases)


def vmcr_value(veng0: bool, veng1: bool, vpmr: int, vbpr0: int, vbpr1: int, vcbpr: bool, veoim: bool) -> int:
    return (int(veng0) | int(veng1) << 1 | int(vcbpr) << 4 | int(veoim) << 9 | (vbpr1 & 7) << 18
            | (vbpr0 & 7) << 21 | (vpmr & 0xFF) << 24)


def vmcr_fields(v: int) -> dict[str, int]:
    return {"VENG0": v & 1, "VENG1": (v >> 1) & 1, "VCBPR": (v >> 4) & 1, "VEOIM": (v >> 9) & 1,
            "VBPR1": (v >> 18) & 7, "VBPR0": (v >> 21) & 7, "VPMR": (v >> 24) & 0xFF}


@attrs.frozen
class Shape:
    """What the interface under test implements (ICH_VTR_EL2)."""

    nr_lrs: int
    pri_bits: int
    pre_bits: int

    @classmethod
    def from_vtr(cls, vtr: int) -> Shape:
        return cls((vtr & 0x1F) + 1, ((vtr >> 29) & 7) + 1, ((vtr >> 26) & 7) + 1)

    @property
    def napr(self) -> int:
        return 1 << (self.pre_bits - 5)


def _prio(rng: random.Random, shape: Shape) -> int:
    step = 1 << (8 - shape.pri_bits)
    if rng.random() < 0.6:  # a few values, so ties and equal group priorities happen
        return rng.choice([0x00, 0x10, 0x40, 0x48, 0x50, 0x80, 0xA0, 0xF0]) & ((0xFF << (8 - shape.pri_bits)) & 0xFF)
    return rng.randrange(0, 256, step)


def random_case(rng: random.Random, shape: Shape) -> Case:
    """Random LRs (distinct vINTIDs among valid ones, HW=0: IHI 0069 ICH_LR<n>_EL2 makes a
    duplicate UNPREDICTABLE), a random VMCR with binary points at or above the minimum, APRs
    consistent with the active LRs (or zero, or with stray bits), and up to MAXACC accesses."""
    pre = shape.pre_bits
    min0, min1 = 7 - pre, 8 - pre
    veng0, veng1 = rng.random() < 0.7, rng.random() < 0.85
    vpmr = rng.choice([0xFF, 0xF8, 0xF0, 0x80, 0x50, 0x00, rng.randrange(256)]) & \
        ((0xFF << (8 - shape.pri_bits)) & 0xFF)
    vbpr0 = rng.choice([min0, min0, rng.randint(min0, 7)])
    vbpr1 = rng.choice([min1, min1, rng.randint(min1, 7)])
    vcbpr, veoim = rng.random() < 0.2, rng.random() < 0.4
    vmcr = vmcr_value(veng0, veng1, vpmr, vbpr0, vbpr1, vcbpr, veoim)
    hcr = 1 if rng.random() < 0.9 else 0
    if rng.random() < 0.5:
        hcr |= rng.randrange(256) & 0xFE  # UIE, LRENPIE, NPIE, VGrp*IE: MISR
    if rng.random() < 0.3:
        hcr |= rng.randrange(32) << 27  # EOIcount (wraps at 32)
    intids = rng.sample([1, 2, 3, 15, 16, 27, 31, 32, 33, 34, 40, 50, 63, 1019], shape.nr_lrs)
    lrs: list[int] = []
    for i in range(shape.nr_lrs):
        if rng.random() < 0.2:
            lrs.append(lr_value(intids[i], 0, rng.randrange(2), _prio(rng, shape), rng.random() < 0.5)
                       if rng.random() < 0.5 else 0)
            continue
        state = rng.choice([1, 1, 1, 2, 2, 3])
        lrs.append(lr_value(intids[i], state, int(rng.random() < 0.8), _prio(rng, shape), rng.random() < 0.3))
    ap = [[0] * shape.napr, [0] * shape.napr]
    mode = rng.random()
    if mode < 0.7:
        for v in lrs:
            intid, st, g, p, _ = lr_fields(v)
            if st & 2 and rng.random() < 0.85:
                m = (0xFF << (vbpr0 + 1)) & 0xFF if g == 0 or vcbpr else (0xFF << vbpr1) & 0xFF
                b = (p & m) >> (8 - pre)
                ap[g][b // 32] |= 1 << (b % 32)
    elif mode < 0.8:
        for g in (0, 1):
            for n in range(shape.napr):
                if rng.random() < 0.3:
                    ap[g][n] = 1 << rng.randrange(32)
    valid_ids = [lr_fields(v)[0] for v in lrs if v]
    accesses = [_access(rng, shape, valid_ids) for _ in range(rng.randint(1, 10))]
    return Case(hcr, vmcr, tuple(ap[0]), tuple(ap[1]), tuple(lrs), tuple(accesses))


def _access(rng: random.Random, shape: Shape, ids: list[int]) -> Access:
    r = rng.random()
    def intid() -> int:
        x = rng.random()
        if x < 0.45:
            return LAST
        if x < 0.85 and ids:
            return rng.choice(ids)
        return rng.choice([5, 1020, 1023, 2000])
    if r < 0.22:
        return Access(rng.choice(["IAR1", "IAR1", "IAR0"]))
    if r < 0.40:
        return Access(rng.choice(["EOIR1", "EOIR1", "EOIR0"]), intid())
    if r < 0.50:
        return Access("DIR", intid())
    if r < 0.60:
        return Access(rng.choice(["HPPIR0", "HPPIR1", "RPR", "AP0R0_R", "AP1R0_R", "CTLR_R"]))
    if r < 0.67:
        return Access(rng.choice(["PMR_W", "PMR_R"]), rng.choice([0xFF, 0xF0, 0x80, 0x48, rng.randrange(256)]))
    if r < 0.77:
        k = rng.choice(["BPR0_W", "BPR1_W", "BPR0_R", "BPR1_R"])
        return Access(k, rng.randrange(8))
    if r < 0.87:
        return Access("CTLR_W" if rng.random() < 0.7 else "CTLR_R", rng.choice([0, 1, 2, 3, rng.randrange(1 << 16)]))
    k = rng.choice(["IGRPEN0_W", "IGRPEN1_W", "IGRPEN0_R", "IGRPEN1_R"])
    return Access(k, rng.choice([0, 1, 1, 3]))


__all__ = ["KINDS", "LAST", "MAXACC", "READS", "Access", "Case", "Shape", "lr_fields", "lr_value", "pack_table",
           "random_case", "vmcr_fields", "vmcr_value"]
