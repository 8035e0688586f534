"""``struct vgic_v3_cpu_if`` (include/kvm/arm_vgic.h): the saved GICv3 CPU-interface state of one
vcpu, as KVM keeps it while the vcpu is not in the guest.  It lives with the host vcpu
(``vcpu->arch.vgic_cpu.vgic_v3``: ``HostVcpu.vgic_cpu_if``); ``__vgic_v3_restore_state`` loads it
into the pCPU's interface (``v3_hw.IchCpuIf``) and ``__vgic_v3_save_state`` stores it back."""

from __future__ import annotations

import attrs

from hvfuzz.model.vgic.irq import Lr
from hvfuzz.model.vgic.vmcr import Vmcr


def preemption_bits(pri_bits: int) -> int:
    """ICH_VTR_EL2.PREbits+1: as many as the priority bits, at most 7."""
    return min(pri_bits, 7)


def new_apr(pri_bits: int) -> list[list[int]]:
    """ICH_AP0R<n>_EL2 and ICH_AP1R<n>_EL2 at reset: one 32-bit register per 32 group priorities."""
    n = 1 << (min(pri_bits, 7) - 5)
    return [[0] * n, [0] * n]


@attrs.define(slots=True)
class VgicV3CpuIf:
    """``struct vgic_v3_cpu_if``: ``vgic_hcr`` as KVM computed it (EOIcount saved back into it
    on exit), ``vgic_vmcr``, ``vgic_apr`` (AP0R, AP1R), ``vgic_lr[]`` and ``used_lrs``."""

    vgic_hcr: int
    vgic_vmcr: Vmcr
    vgic_apr: list[list[int]]
    vgic_lr: list[Lr | None]
    used_lrs: int = 0

    @classmethod
    def new(cls, nr_lrs: int, pri_bits: int) -> VgicV3CpuIf:
        """``vgic_v3_enable``'s starting point (the flush sets ``vgic_hcr`` before any entry)."""
        return cls(0, Vmcr.reset(preemption_bits(pri_bits)), new_apr(pri_bits), [None] * nr_lrs)


__all__ = ["VgicV3CpuIf", "new_apr", "preemption_bits"]
