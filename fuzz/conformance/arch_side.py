"""The same case judged by ArchGic (``oracles/arch_gic.py``), for what ArchGic judges: the value
each IAR returns (O2: one of ``iar_allowed``), each RPR read, and at the end which interrupts are
active and which pending.  The LRs become ArchGic's interrupts (enabled, edge, targeting vcpu 0),
the VMCR its CPU interface, the APRs its active priorities.  A vcpu ArchGic marks tainted (the
guest broke a discipline rule, G1/G2/G6) is not judged after that point; neither are cases with
ICH_HCR_EL2.En = 0 (ArchGic models KVM, which always sets it) or vINTIDs ArchGic has no
interrupt for; judging stops at a DIR that trapped to EL2 (TDIR: KVM's emulation would follow)."""

from __future__ import annotations

from hvfuzz.fuzz.conformance.cases import LAST, Case, Shape, lr_fields, vmcr_fields
from hvfuzz.fuzz.conformance.qemu import Observed
from hvfuzz.oracles.arch_gic import SPURIOUS, ArchGic


def judge(case: Case, seen: Observed, shape: Shape) -> list[str] | None:
    """ArchGic's complaints about what QEMU did (empty: none); None: the case is outside ArchGic."""
    if not case.hcr & 1:
        return None
    gic = ArchGic(1, shape.pri_bits)
    for v in case.lrs:
        intid, st, g, p, _ = lr_fields(v)
        if not st:
            continue
        irq = gic.lookup(0, intid)
        if irq is None:
            return None
        gic.configure(0, intid, True, p, g, False, 0)
        irq.latch, irq.active = bool(st & 1), bool(st & 2)
    c = gic.cpus[0]
    f = vmcr_fields(case.vmcr)
    c.veng = [bool(f["VENG0"]), bool(f["VENG1"])]
    c.vpmr, c.vbpr0, c.vbpr1 = f["VPMR"], f["VBPR0"], f["VBPR1"]
    c.vcbpr, c.veoim = bool(f["VCBPR"]), bool(f["VEOIM"])
    c.apr = [list(case.ap0r), list(case.ap1r)]
    out: list[str] = []
    reads = iter(seen.reads)
    acked: list[int] = []
    last_eoi = 1023
    for n, a in enumerate(case.accesses):
        if c.tainted:
            return out
        k, v = a.kind, a.value
        if k in ("EOIR0", "EOIR1") and v == LAST:
            v = last_eoi = acked.pop() if acked else 1023
        elif k == "DIR" and v == LAST:
            v = last_eoi
        if k in ("IAR0", "IAR1"):
            g, got = int(k[-1]), next(reads)
            allowed = gic.iar_allowed(0, g)
            if got not in allowed:
                out.append(f"access {n} {k}: read {got}, ArchGic allows {sorted(allowed)}")
                return out
            gic.ack(0, g, got)
            if got < 1020:
                acked.append(got)
        elif k in ("EOIR0", "EOIR1"):
            gic.eoi(0, int(k[-1]), v & 0xFFFFFF)
        elif k == "DIR":
            if seen.traps >> n & 1:  # to EL2: what follows is the hypervisor's emulation, not judged here
                return out
            gic.dir(0, v & 0xFFFFFF)
        elif k == "PMR_W":
            gic.set_pmr(0, v & 0xFF)
        elif k in ("BPR0_W", "BPR1_W"):
            gic.set_bpr(0, int(k[3]), v & 7)
        elif k == "CTLR_W":
            c.vcbpr = bool(v & 1)
            gic.set_eoimode(0, bool(v & 2))
        elif k in ("IGRPEN0_W", "IGRPEN1_W"):
            gic.set_grpen(0, int(k[6]), bool(v & 1))
        elif k == "RPR":
            got = next(reads)
            if got != c.rpr():
                out.append(f"access {n} RPR: read {got:#x}, ArchGic's running priority is {c.rpr():#x}")
                return out
        elif k.endswith("_R") or k.startswith("HPPIR"):
            next(reads)
    if c.tainted:
        return out
    for i, v in enumerate(seen.lrs):  # by position: an empty LR reads vINTID 0, which an SGI may be
        if i >= len(case.lrs) or not lr_fields(case.lrs[i])[1]:
            continue
        intid, st, _, _, _ = lr_fields(v)
        if intid != lr_fields(case.lrs[i])[0]:
            out.append(f"LR{i}: vINTID {lr_fields(case.lrs[i])[0]} became {intid}")
            continue
        irq = gic.lookup(0, intid)
        assert irq is not None
        if bool(st & 2) != irq.active or bool(st & 1) != irq.pending:
            out.append(f"vINTID {intid}: LR state {('-', 'P', 'A', 'P+A')[st]}, ArchGic: "
                       f"{'P' if irq.pending else ''}{'+' if irq.pending and irq.active else ''}"
                       f"{'A' if irq.active else ''}{'-' if not (irq.pending or irq.active) else ''}")
    return out


__all__ = ["SPURIOUS", "judge"]
