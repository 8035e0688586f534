"""The same case through the model's interface (``model.vgic.v3_hw.IchCpuIf``): set up the LRs,
VMCR, APRs and ICH_HCR_EL2 from the case's register values, apply the guest's accesses, read the
same registers back."""

from __future__ import annotations

from hvfuzz.fuzz.conformance.cases import LAST, Case, lr_fields, lr_value, vmcr_fields
from hvfuzz.fuzz.conformance.qemu import Observed
from hvfuzz.model.vgic.irq import Lr
from hvfuzz.model.vgic.v3_hw import IchCpuIf
from hvfuzz.model.vgic.vmcr import Vmcr

#: ICH_VMCR_EL2.VFIQEn: RES1 while the system register interface is in use (IHI 0069
#: ICH_VMCR_EL2; the model's ``Vmcr`` has no field for it, the register always shows it)
VMCR_VFIQEN = 1 << 3


def load(cpu: IchCpuIf, case: Case) -> None:
    """What ``__vgic_v3_restore_state`` would leave in the interface for these values."""
    f = vmcr_fields(case.vmcr)
    cpu.vmcr = Vmcr(bool(f["VENG0"]), bool(f["VENG1"]), f["VPMR"], f["VBPR0"], f["VBPR1"], bool(f["VCBPR"]),
                    bool(f["VEOIM"]))
    cpu.apr = [list(case.ap0r), list(case.ap1r)]
    lrs: list[Lr | None] = []
    for v in case.lrs:
        if v == 0:
            lrs.append(None)
            continue
        intid, st, g, p, eoi = lr_fields(v)
        lrs.append(Lr(intid, pending=bool(st & 1), active=bool(st & 2), group=g, priority=p, eoi=eoi))
    cpu.lrs = lrs
    cpu.used_lrs = len(lrs)
    cpu.vcpu = 0
    cpu.hcr = case.hcr


def lr_reg(lr: Lr | None) -> int:
    if lr is None:
        return 0
    return lr_value(lr.intid, int(lr.pending) | int(lr.active) << 1, lr.group, lr.priority, lr.eoi)


def vmcr_reg(v: Vmcr) -> int:
    return (int(v.veng0) | int(v.veng1) << 1 | VMCR_VFIQEN | int(v.vcbpr) << 4 | int(v.veoim) << 9
            | (v.vbpr1 & 7) << 18 | (v.vbpr0 & 7) << 21 | (v.vpmr & 0xFF) << 24)


def run_model(cpu: IchCpuIf, case: Case, vtr: int) -> Observed:
    """Apply ``case`` to ``cpu`` (a fresh ``IchCpuIf`` or a subclass carrying named variations)."""
    load(cpu, case)
    reads: list[int] = []
    acked: list[int] = []
    last_eoi = 1023
    traps = 0
    for i, a in enumerate(case.accesses):
        k, v = a.kind, a.value
        if k in ("EOIR0", "EOIR1") and v == LAST:
            v = last_eoi = acked.pop() if acked else 1023
        elif k == "DIR" and v == LAST:
            v = last_eoi
        v &= 0xFFFFFFFFFFFFFFFF
        if k in ("IAR0", "IAR1"):
            r = cpu.icv_iar_read(int(k[-1]))
            reads.append(r)
            if r < 1020:
                acked.append(r)
        elif k in ("EOIR0", "EOIR1"):
            cpu.icv_eoir_write(int(k[-1]), v & 0xFFFFFF)
        elif k == "DIR":
            if cpu.dir_traps():  # to EL2 (ICH_HCR_EL2.TDIR/TC): the harness emulates nothing
                traps |= 1 << i
            else:
                cpu.icv_dir_write(v & 0xFFFFFF)
        elif k == "PMR_W":
            cpu.icv_pmr_write(v & 0xFF)
        elif k == "PMR_R":
            reads.append(cpu.vmcr.vpmr)
        elif k in ("BPR0_W", "BPR1_W"):
            cpu.icv_bpr_write(int(k[3]), v & 7)
        elif k in ("BPR0_R", "BPR1_R"):
            reads.append(cpu.icv_bpr_read(int(k[3])))
        elif k == "CTLR_W":
            cpu.icv_ctlr_write(v)
        elif k == "CTLR_R":
            reads.append(cpu.icv_ctlr_read(vtr))
        elif k in ("IGRPEN0_W", "IGRPEN1_W"):
            cpu.icv_igrpen_write(int(k[6]), bool(v & 1))
        elif k in ("IGRPEN0_R", "IGRPEN1_R"):
            reads.append(cpu.icv_igrpen_read(int(k[6])))
        elif k in ("HPPIR0", "HPPIR1"):
            reads.append(cpu.icv_hppir_read(int(k[-1])))
        elif k == "RPR":
            reads.append(cpu.rpr())
        elif k in ("AP0R0_R", "AP1R0_R"):
            reads.append(cpu.apr[int(k[2])][0])
        else:  # pragma: no cover - cases.KINDS is closed
            raise ValueError(k)
    return Observed(tuple(reads), cpu.hcr, cpu.misr(), cpu.eisr(), cpu.elrsr(), vmcr_reg(cpu.vmcr),
                    tuple(cpu.apr[0]), tuple(cpu.apr[1]), tuple(lr_reg(lr) for lr in cpu.lrs), traps)


__all__ = ["VMCR_VFIQEN", "load", "run_model"]
