"""GICv2 behind the vgic's version seam: arch/arm64/kvm/vgic/vgic-v2.c after the LR-overflow series
(``vgic_v2_compute_lr``, ``vgic_v2_populate_lr``, ``vgic_v2_clear_lr``, ``vgic_v2_configure_hcr``,
``vgic_v2_fold_lr`` / ``vgic_v2_fold_lr_state`` with the EOIcount replay, ``vgic_v2_deactivate``,
``vgic_v2_save_state`` / ``vgic_v2_restore_state``), read at torvalds/linux (the tree with
``vgic_v2_deactivate``), with the EOIcount walk from ``last_lr_irq`` of "KVM: arm64: vgic: Pick
EOIcount deactivations from AP-list tail" (6da5e537f5af, which fixes 281c6c06e2a7 too).

GICv2 has no TDIR: the series leaves the GICV_DIR page unmapped (07bb1c5622a5 "GICv2: Always trap
GICV_DIR register"), so every guest DIR is a stage-2 abort the host emulates
(``vgic_v2_deactivate`` through the CPU-interface MMIO device, 255de897e7fb).  An SGI's LR carries
one source CPU: an SGI pending from several vcpus (``irq->source``) goes to the LRs one source per
flush (``vgic_v2_populate_lr`` clears the lowest source bit and keeps the SGI pending while others
remain), and an active SGI with a source still pending is never P+A but Active with EOI set, so its
deactivation exits and the next source follows (``vgic_irq_is_multi_sgi``).

pKVM does not support GICv2 (``vgic_v2_probe``: "GICv2 not supported in protected mode"), so the
GICv2 designs run on KVM without pKVM (one copy: ``el2_cpu_if`` is ``cpu_if``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from hvfuzz.model.vgic.irq import (
    ICH_HCR_EN,
    ICH_HCR_EOICOUNT_MASK,
    ICH_HCR_LRENPIE,
    ICH_HCR_NPIE,
    ICH_HCR_UIE,
    ICH_HCR_VGRP0DIE,
    ICH_HCR_VGRP0EIE,
    ICH_HCR_VGRP1DIE,
    ICH_HCR_VGRP1EIE,
    NR_PRIVATE,
    Lr,
    VgicIrq,
    VgicPolicy,
)
from hvfuzz.model.vgic.v2_hw import NR_SGIS, GichCpuIf, split_value
from hvfuzz.model.vgic.v3_cpu_if import VgicV3CpuIf
from hvfuzz.model.vgic.v3_hw import idle_values
from hvfuzz.model.vgic.vmcr import Vmcr

if TYPE_CHECKING:
    from hvfuzz.model.vgic.vgic import Vgic

#: the GICv2 virtual CPU interface implements five priority bits (GICH_LR.Priority [27:23])
V2_PRI_BITS = 5
# GICH_HCR bits (include/linux/irqchip/arm-gic.h): the positions ICH_HCR_EL2 has them at
GICH_HCR_EN = ICH_HCR_EN
GICH_HCR_UIE = ICH_HCR_UIE
GICH_HCR_LRENPIE = ICH_HCR_LRENPIE
GICH_HCR_NPIE = ICH_HCR_NPIE
GICH_HCR_VGRP0EIE = ICH_HCR_VGRP0EIE
GICH_HCR_VGRP0DIE = ICH_HCR_VGRP0DIE
GICH_HCR_VGRP1EIE = ICH_HCR_VGRP1EIE
GICH_HCR_VGRP1DIE = ICH_HCR_VGRP1DIE
GICH_HCR_EOICOUNT = ICH_HCR_EOICOUNT_MASK


@attrs.define(slots=True)
class VgicV2CpuIf(VgicV3CpuIf):
    """``struct vgic_v2_cpu_if``: ``vgic_hcr`` (GICH_HCR as KVM computed it, EOICount saved back),
    ``vgic_vmcr`` (GICH_VMCR, unpacked as ``vgic_v2_get_vmcr`` does), ``vgic_apr`` (GICH_APR),
    ``vgic_lr[]`` and ``used_lrs``."""

    @classmethod
    def new(cls, nr_lrs: int, pri_bits: int) -> VgicV2CpuIf:
        """``vgic_v2_reset``: VMCR 0 (the binary points at their reset values); ``vgic_hcr`` is set by
        the first flush."""
        lrs, vmcr, apr = idle_values(nr_lrs, V2_PRI_BITS)
        return cls(0, Vmcr.reset(V2_PRI_BITS), [list(a) for a in apr], list(lrs))


def is_sgi(intid: int) -> bool:
    return intid < NR_SGIS


def lr_count(irq: VgicIrq) -> int:
    """``vgic_irq_get_lr_count``: an SGI with sources counts each, plus one if active."""
    if is_sgi(irq.intid) and irq.source:
        return bin(irq.source).count("1") + int(irq.active)
    return int(irq.is_pending() or irq.active)


def ffs(x: int) -> int:
    """``ffs``: 1 + the index of the lowest set bit (0 for 0)."""
    return (x & -x).bit_length()


class VgicV2:
    """vgic-v2.c for one VM: ``nr_lrs`` list registers (GICH_VTR.ListRegs + 1), five priority bits."""

    def __init__(self, policy: VgicPolicy, nr_lrs: int, pri_bits: int) -> None:
        self.policy = policy
        self.nr_lrs = nr_lrs
        self.pri_bits = V2_PRI_BITS
        self.idle = idle_values(nr_lrs, V2_PRI_BITS)

    def new_cpu_if(self) -> VgicV2CpuIf:
        return VgicV2CpuIf.new(self.nr_lrs, V2_PRI_BITS)

    def new_vcpu_if(self) -> GichCpuIf:
        return GichCpuIf(nr_lrs=self.nr_lrs, pri_bits=V2_PRI_BITS, idle=self.idle)

    def vgic_v2_get_vmcr(self, st: VgicV2CpuIf) -> Vmcr:
        """``vgic_v2_get_vmcr``: the saved GICH_VMCR, unpacked."""
        return st.vgic_vmcr

    # --- LRs ------------------------------------------------------------------------------------
    def vgic_v2_compute_lr(self, irq: VgicIrq) -> Lr:
        """``vgic_v2_compute_lr``: ACTIVE (an SGI with its ``active_source`` in CPUID; a multi-source
        SGI never P+A and with EOI); HW-mapped -> HW with the physical INTID, never P+A; level -> EOI,
        never P+A; PENDING if allowed (an SGI with the lowest pending source in CPUID, and EOI if
        another source remains); five priority bits."""
        lr = Lr(intid=irq.intid, group=irq.group, priority=irq.priority & 0xF8)
        allow_pending = True
        if irq.active:
            lr.active = True
            if is_sgi(irq.intid):
                lr.cpuid |= irq.active_source
            if lr_count(irq) > 1:  # vgic_irq_is_multi_sgi
                allow_pending = False
                lr.eoi = True
        if irq.hw and self.policy.hw_lr:
            lr.hw, lr.pintid = True, irq.hwintid
            if irq.active:
                allow_pending = False
        elif irq.level:
            lr.eoi = True
            if irq.active:
                allow_pending = False
        if allow_pending and irq.is_pending() and (irq.enabled or not self.policy.lr_pending_needs_enabled):
            lr.pending = True
            if is_sgi(irq.intid):
                src = ffs(irq.source)
                if not src:  # WARN_RATELIMIT(!src, "No SGI source for INTID %d\n"): LR value 0
                    return Lr(intid=0, priority=0)
                lr.cpuid |= src - 1
                if irq.source & ~(1 << (src - 1)):
                    lr.eoi = True
        return lr

    def vgic_v2_populate_lr(self, st: VgicV2CpuIf, irq: VgicIrq, n: int) -> None:
        """``vgic_v2_populate_lr``: an edge interrupt's latch moves into the LR; for an SGI "we choose
        the lowest-numbered source VCPU and clear that bit in the source bitmap", the SGI staying
        pending while sources remain; a mapped level line is lowered."""
        lr = self.vgic_v2_compute_lr(irq)
        st.vgic_lr[n] = lr
        if lr.pending:
            if not irq.level:
                irq.pending_latch = False
            if is_sgi(irq.intid):
                src = ffs(irq.source)
                irq.source &= ~(1 << (src - 1))
                if irq.source and self.policy.v2_sgi_requeue:
                    irq.pending_latch = True
        if irq.hw and irq.level and lr.pending:
            irq.line_level = False
        irq.on_lr = True

    def vgic_v2_clear_lr(self, st: VgicV2CpuIf, first: int) -> None:
        st.vgic_lr[first:] = [None] * (self.nr_lrs - first)

    def vgic_v2_set_underflow(self, st: VgicV2CpuIf, underflow: bool) -> None:
        """``vgic_v2_set_underflow`` (before the series): UIE on top of ``vgic_v2_enable``'s EN."""
        st.vgic_hcr = GICH_HCR_EN | (GICH_HCR_UIE if underflow else 0)

    def vgic_v2_configure_hcr(self, g: Vgic, st: VgicV2CpuIf, nr_pend: int, nr_act: int) -> None:
        """``vgic_v2_configure_hcr``: EN; NPIE with pending interrupts outside the LRs, LRENPIE with
        active ones outside, UIE with any outside; the group enable/disable MIs from GICH_VMCR.
        GICH_HCR has no TDIR: DIR is trapped by the stage-2 mapping (``v2_trap_dir``)."""
        p, nr_lr, vm = self.policy, self.nr_lrs, st.vgic_vmcr
        hcr = GICH_HCR_EN
        if nr_pend > nr_lr:
            hcr |= GICH_HCR_NPIE
        if nr_act and nr_pend + nr_act > nr_lr:
            hcr |= GICH_HCR_LRENPIE
        if nr_pend + nr_act > nr_lr and p.request_uie:
            hcr |= GICH_HCR_UIE
        if p.request_group_mis:
            hcr |= GICH_HCR_VGRP0DIE if vm.veng0 else GICH_HCR_VGRP0EIE
            hcr |= GICH_HCR_VGRP1DIE if vm.veng1 else GICH_HCR_VGRP1EIE
        st.vgic_hcr = hcr

    def vgic_v2_first_spi_in_flight(self, g: Vgic) -> None:
        """No TDIR to broadcast (84792050e039: ``vgic_model_needs_bcst_kick`` is false for GICv2)."""

    # --- EL2 save/restore -------------------------------------------------------------------------
    def vgic_v2_restore_state(self, st: VgicV2CpuIf, hw: GichCpuIf, vcpu: int) -> None:
        """``vgic_v2_restore_state`` (GICH_HCR = ``vgic_hcr``, the used LRs) with ``vgic_v2_load``'s
        GICH_VMCR and GICH_APR, handed over."""
        hw.hcr = st.vgic_hcr & ~GICH_HCR_EOICOUNT
        hw.lrs, hw.used_lrs, hw.vmcr, hw.apr = st.vgic_lr, st.used_lrs, st.vgic_vmcr, st.vgic_apr
        hw.vcpu = vcpu

    def vgic_v2_save_state(self, st: VgicV2CpuIf, hw: GichCpuIf) -> None:
        """``vgic_v2_save_state``: GICH_VMCR eagerly ("Eagerly save VMCR on exit"), the used LRs
        (``save_lrs``), GICH_HCR.EOICount kept when LRENPIE was requested ("GICv2: Preserve EOIcount
        on exit"), then GICH_HCR = 0."""
        assert hw.vcpu is not None, "save without a restore"
        if st.vgic_hcr & GICH_HCR_LRENPIE and self.policy.v2_save_eoicount:
            st.vgic_hcr = (st.vgic_hcr & ~GICH_HCR_EOICOUNT) | (hw.hcr & GICH_HCR_EOICOUNT)
        else:
            st.vgic_hcr &= ~GICH_HCR_EOICOUNT
        st.vgic_lr, st.vgic_vmcr, st.vgic_apr = hw.lrs, hw.vmcr, hw.apr
        hw.hcr = 0
        hw.unload()

    # --- fold -------------------------------------------------------------------------------------
    def vgic_v2_fold_lr(self, g: Vgic, vcpu: int, lr: Lr) -> None:
        """``vgic_v2_fold_lr``: the active bit back (an SGI's ``active_source`` from CPUID); an edge
        interrupt's pending bit back (an SGI's CPUID back into ``irq->source``); a level one's soft
        latch cleared once acknowledged; a mapped level line re-sampled (``vgic_irq_handle_resampling``)."""
        irq = g.lookup(vcpu, lr.intid)
        assert irq is not None
        deactivated = irq.active and not lr.active
        irq.active = lr.active
        if irq.active and is_sgi(lr.intid):
            irq.active_source = lr.cpuid & 7
        if not irq.level and lr.pending:
            irq.pending_latch = True
            if is_sgi(lr.intid):
                irq.source |= 1 << (lr.cpuid & 7)
        if irq.level and not (lr.pending or lr.active):
            irq.pending_latch = False
        if irq.hw and irq.level and lr.pending:
            irq.line_level = g.vgic_get_phys_line_level(vcpu, irq)
            if not irq.line_level:
                g.phys_deactivate(vcpu, irq.hwintid)
        irq.on_lr = False
        if g.policy.active_spis_dec == "fold" and deactivated and lr.eoi and irq.intid >= NR_PRIVATE \
                and g.active_spis > 0:
            g.active_spis -= 1

    def vgic_v2_fold_lr_state(self, g: Vgic, vcpu: int, st: VgicV2CpuIf) -> None:
        """``vgic_v2_fold_lr_state``: fold the used LRs, then consume EOICount (281c6c06e2a7 "GICv2:
        Handle LR overflow when EOImode==0"): deactivate that many active interrupts of this vcpu
        past the LR window (from ``last_lr_irq``: 6da5e537f5af) through a pseudo-LR without the
        active bit, a HW one's physical interrupt too (GIC_CPU_DEACTIVATE)."""
        p = self.policy
        for lr in st.vgic_lr[: st.used_lrs]:
            if lr is not None:
                self.vgic_v2_fold_lr(g, vcpu, lr)
        last = g.last_lr_irq[vcpu]
        if p.use_eoicount and last is not None:
            eoicount = (st.vgic_hcr & GICH_HCR_EOICOUNT) >> 27
            lst = g.ap_list[vcpu]
            start = lst.index(last) + 1 if p.eoicount_from_last_lr else 0
            for irq in lst[start:]:
                if eoicount == 0:
                    break
                if g.vgic_target_oracle(irq) == vcpu and irq.active:
                    lr = self.vgic_v2_compute_lr(irq)
                    lr.active = False
                    if lr.hw:
                        g.phys_deactivate(vcpu, lr.pintid)
                    self.vgic_v2_fold_lr(g, vcpu, lr)
                    eoicount -= 1
        st.vgic_hcr &= ~(GICH_HCR_EOICOUNT | GICH_HCR_UIE)
        st.used_lrs = 0
        st.vgic_lr = [None] * self.nr_lrs

    # --- DIR --------------------------------------------------------------------------------------
    def vgic_v2_guest_dir(self, g: Vgic, vcpu: int, hw: GichCpuIf, value: int) -> str:
        """A guest write of GICV_DIR: with the page unmapped (the series) a stage-2 abort, emulated by
        the host after the exit ("trap-exit"); mapped, the hardware's GICV_DIR ("hardware")."""
        if self.policy.v2_trap_dir:
            return "trap-exit"
        hw.gicv_dir_write(value)
        return "hardware"

    def vgic_v2_deactivate(self, g: Vgic, vcpu: int, value: int, halt_guest: Callable[[], None]) -> int | None:
        """``vgic_v2_deactivate`` (255de897e7fb): the CPUID snapshotted and removed from the value;
        only with EOImode 1 (the saved GICH_VMCR); not on any ap_list: nothing; live in an LR:
        ``vgic_mmio_write_cactive`` (the guest halted); an SGI whose ``active_source`` is not the
        CPUID: nothing; else a pseudo-LR without the active bit is folded (a HW interrupt's physical
        one deactivated).  Returns the vcpu owed KVM_REQ_VGIC_PROCESS_UPDATE."""
        v = split_value(value)
        if v is None or not g.cpu_if[vcpu].vgic_vmcr.veoim:
            return None
        intid, cpuid = v
        irq = g.lookup(vcpu, intid)
        if irq is None or irq.vcpu is None:
            return None
        target = irq.vcpu
        if irq.on_lr:  # "Urgh. We're deactivating something that we cannot observe yet..."
            g.vgic_mmio_write_cactive(irq, halt_guest)
            return target
        if intid < NR_SGIS and irq.active_source != cpuid:  # "SGI: check that the cpuid matches"
            return None
        lr = self.vgic_v2_compute_lr(irq)
        lr.active = False
        if lr.hw:
            g.phys_deactivate(target, lr.pintid)
        self.vgic_v2_fold_lr(g, vcpu, lr)
        return target

    # --- the names vgic.c calls (version.VgicVersion) --------------------------------------------
    get_vmcr = vgic_v2_get_vmcr
    populate_lr = vgic_v2_populate_lr
    clear_lrs = vgic_v2_clear_lr
    set_underflow = vgic_v2_set_underflow
    configure_hcr = vgic_v2_configure_hcr
    first_spi_in_flight = vgic_v2_first_spi_in_flight
    restore_state = vgic_v2_restore_state
    save_state = vgic_v2_save_state
    fold_lr_state = vgic_v2_fold_lr_state
    guest_dir = vgic_v2_guest_dir
    deactivate = vgic_v2_deactivate


__all__ = ["V2_PRI_BITS", "VgicV2", "VgicV2CpuIf", "ffs", "lr_count"]
