"""The named differences between the model and QEMU that the conformance run accepts, each with
its reason (IHI 0069 = Arm GICv3/v4 architecture specification; ``gic-architecture.md`` = the
project's reference notes, A1–A17).  A disagreement is triaged when running the case through the
model *with* some set of these differences applied reproduces QEMU exactly; anything else is
untriaged.  Each difference is applied by ``VariedCpuIf`` below, so it can only explain what it
describes, never a whole register or field."""

from __future__ import annotations

import itertools

import attrs

from hvfuzz.model.vgic.irq import ICH_HCR_NPIE, ICH_HCR_VGRP0DIE
from hvfuzz.model.vgic.v3_hw import IchCpuIf


@attrs.frozen
class Variation:
    name: str
    verdict: str  # "allowed" (the architecture allows both), "qemu-deviation", "qemu-bug", "ambiguous"
    summary: str
    reason: str


VARIATIONS: dict[str, Variation] = {v.name: v for v in (
    Variation(
        "A13-eoimode1-eoicount", "qemu-deviation",
        "an EOIR with EOImode 1 whose vINTID is in no LR bumps ICH_HCR_EL2.EOIcount in QEMU "
        "(icv_eoir_write: icv_increment_eoicount whatever VEOIM); the model does not",
        "IHI 0069 ICH_HCR_EL2.EOIcount: incremented by a write to EOIR or DIR that 'would have resulted in a "
        "virtual interrupt deactivation'; with EOImode 1 an EOIR only drops the priority (ICV_EOIR<n>_EL1, "
        "ICV_CTLR_EL1.EOImode), so the model follows the text (gic-architecture.md §2.6, A13). EOIcount and "
        "the MISR.LRENP it drives are not guest-visible; ArchGic never compares them"),
    Variation(
        "Q1-misr-vgrp0d-from-veng1", "qemu-bug",
        "QEMU's ICH_MISR_EL2.VGrp0D is VGrp0DIE && !VENG1 (maintenance_interrupt_state tests "
        "ICH_VMCR_EL2_VENG1, still so on master); the model uses VENG0",
        "IHI 0069 ICH_MISR_EL2.VGrp0D: 'Asserted when ICH_HCR_EL2.VGrp0DIE == 1 and ICH_VMCR_EL2.VENG0 == 0'. "
        "A QEMU bug (gic-architecture.md §1.6 already suspected it; now observed): a hypervisor that enables "
        "VGrp0DIE gets a maintenance interrupt tied to the wrong group"),
    Variation(
        "V1-misr-np-pending-active", "ambiguous",
        "QEMU's ICH_MISR_EL2.NP counts only LRs in state exactly Pending (01); the model (KVM's "
        "vgic_v3_get_misr, vgic-v3-nested.c: tests the LR's pending bit) also counts Pending+Active (11)",
        "IHI 0069 ICH_MISR_EL2.NP: 'no List register is in the pending state'; whether an LR in the "
        "active and pending state (ICH_LR<n>_EL2.State 0b11) is 'in the pending state' is not spelled out. "
        "KVM programs P+A only for edge SGIs/PPIs/SPIs (never level, never HW), so only the NP maintenance "
        "interrupt's timing depends on it; recorded, not judged, until checked against the pseudocode"),
)}


@attrs.define(slots=False)
class VariedCpuIf(IchCpuIf):
    """``IchCpuIf`` with some of ``VARIATIONS`` applied (QEMU's behaviour in their place)."""

    variations: frozenset[str] = attrs.field(factory=frozenset, kw_only=True)

    def icv_eoir_write(self, g: int, intid: int) -> None:
        if ("A13-eoimode1-eoicount" in self.variations and self.vmcr.veoim and not 1020 <= intid <= 1023
                and any(a for grp in self.apr for a in grp) and self.find_active_lr(intid) is None):
            super().icv_eoir_write(g, intid)
            self.bump_eoicount()
            return
        super().icv_eoir_write(g, intid)

    def misr(self) -> int:
        m = super().misr()
        if "Q1-misr-vgrp0d-from-veng1" in self.variations:
            m &= ~32
            if self.hcr & ICH_HCR_VGRP0DIE and not self.vmcr.veng1:
                m |= 32
        if "V1-misr-np-pending-active" in self.variations:
            m &= ~8
            if self.hcr & ICH_HCR_NPIE and not any(
                    lr is not None and lr.pending and not lr.active for lr in self.lrs[: self.used_lrs]):
                m |= 8
        return m


def subsets(max_size: int = 3) -> list[frozenset[str]]:
    """Every set of at most ``max_size`` variations, smallest first."""
    names = sorted(VARIATIONS)
    return [frozenset(c) for k in range(1, max_size + 1) for c in itertools.combinations(names, k)]


__all__ = ["VARIATIONS", "Variation", "VariedCpuIf", "subsets"]
