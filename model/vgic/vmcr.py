"""The virtual machine control register of a vcpu's CPU interface, unpacked: ``struct vgic_vmcr``
(vgic.h, what ``vgic_get_vmcr`` returns for either GIC version), with the field names of
ICH_VMCR_EL2 (group enables, PMR, BPRs, CBPR, EOImode)."""

from __future__ import annotations

import attrs


@attrs.define(slots=True)
class Vmcr:
    """``struct vgic_vmcr``: VENG0/VENG1 (``grpen0/1``), VPMR (``pmr``), VBPR0/VBPR1 (``bpr`` /
    ``abpr``), VCBPR (``cbpr``), VEOIM (``eoim``)."""

    veng0: bool = False
    veng1: bool = False
    vpmr: int = 0
    vbpr0: int = 0
    vbpr1: int = 0
    vcbpr: bool = False
    veoim: bool = False

    @classmethod
    def reset(cls, pre: int) -> Vmcr:
        """The model's reset value: everything 0 (``vgic_v3_enable``: "By forcing VMCR to zero, the
        GIC will restore the binary points to their reset values. Anything else resets to zero
        anyway"), so VPMR 0 masks every priority until the guest raises it; the binary points read
        as their minimum for ``pre`` preemption bits (as a write of 0 would leave them:
        ``icv_bpr_write``).  ``oracles/arch_gic.py``'s ``ArchCpuIf`` starts from the same values."""
        return cls(vbpr0=7 - pre, vbpr1=8 - pre)

    def group_enabled(self, g: int) -> bool:
        return self.veng1 if g else self.veng0


__all__ = ["Vmcr"]
