"""GICv3 behind the vgic's version seam: the list-register code of arch/arm64/kvm/vgic/vgic-v3.c
(``vgic_v3_compute_lr``, ``vgic_v3_populate_lr``, ``vgic_v3_clear_lr``, ``vgic_v3_set_underflow``,
``vgic_v3_configure_hcr``, ``vgic_v3_fold_lr_state``, ``vgic_v3_deactivate``) and of
arch/arm64/kvm/hyp/vgic-v3-sr.c (``__vgic_v3_restore_state``, ``__vgic_v3_save_state``,
``__vgic_v3_perform_cpuif_access`` for a trapped ICV_DIR_EL1), before the LR-overflow series
(``generation="pre"``) and after it (``"post"``), per ``VgicPolicy``.

The saved state is a ``VgicV3CpuIf`` (the host vcpu's); the live one an ``IchCpuIf`` (the pCPU's).
Restore hands the saved ``vgic_lr``, ``vgic_vmcr`` and ``vgic_apr`` values to the pCPU and save
takes them back, rather than copying them field by field: while the vcpu runs there is one copy
of each (the kernel's saved copy is stale then, and save overwrites it before anything reads it).
A second saved copy (pKVM's hyp vcpu) would be copied by value when flushed and synced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hvfuzz.model.vgic.irq import (
    ICH_HCR_EN,
    ICH_HCR_EOICOUNT_MASK,
    ICH_HCR_LRENPIE,
    ICH_HCR_NPIE,
    ICH_HCR_TC,
    ICH_HCR_TDIR,
    ICH_HCR_UIE,
    ICH_HCR_VGRP0DIE,
    ICH_HCR_VGRP0EIE,
    ICH_HCR_VGRP1DIE,
    ICH_HCR_VGRP1EIE,
    NR_PRIVATE,
    VGIC_MIN_LPI,
    Lr,
    VgicIrq,
    VgicPolicy,
)
from hvfuzz.model.vgic.v2 import ffs, lr_count
from hvfuzz.model.vgic.v2_hw import GichCpuIf, split_value
from hvfuzz.model.vgic.v3_cpu_if import VgicV3CpuIf
from hvfuzz.model.vgic.v3_hw import IchCpuIf, idle_values
from hvfuzz.model.vgic.vmcr import Vmcr

if TYPE_CHECKING:
    from hvfuzz.model.vgic.vgic import Vgic


class VgicV3:
    """vgic-v3.c / vgic-v3-sr.c for one VM: ``nr_lrs`` list registers, ``pri_bits`` priority bits."""

    def __init__(self, policy: VgicPolicy, nr_lrs: int, pri_bits: int) -> None:
        self.policy = policy
        self.nr_lrs = nr_lrs
        self.pri_bits = pri_bits
        #: what the pCPU interfaces hold with no vcpu loaded (never written)
        self.idle = idle_values(nr_lrs, pri_bits)

    def new_cpu_if(self) -> VgicV3CpuIf:
        """A vcpu's ``struct vgic_v3_cpu_if`` (``vgic_v3_enable``)."""
        return VgicV3CpuIf.new(self.nr_lrs, self.pri_bits)

    def new_vcpu_if(self) -> IchCpuIf:
        """A pCPU's GICv3 virtual CPU interface, no vcpu loaded (for a GICv2 VM, ``guest_v2``, the
        guest reaches it through its GICV frame: GICV_IAR reports an SGI's CPUID)."""
        if self.policy.guest_v2:
            return GichCpuIf(nr_lrs=self.nr_lrs, pri_bits=self.pri_bits, idle=self.idle)
        return IchCpuIf(nr_lrs=self.nr_lrs, pri_bits=self.pri_bits, idle=self.idle)

    def is_v2_sgi(self, intid: int) -> bool:
        """``is_v2_sgi``: an SGI of a GICv2 VM (``vgic_model == KVM_DEV_TYPE_ARM_VGIC_V2``)."""
        return self.policy.guest_v2 and intid < 16

    def vgic_v3_get_vmcr(self, st: VgicV3CpuIf) -> Vmcr:
        """``vgic_v3_get_vmcr``: the saved VMCR, unpacked."""
        return st.vgic_vmcr

    # --- vgic-v3.c: LRs ------------------------------------------------------------------------
    def vgic_v3_compute_lr(self, irq: VgicIrq) -> Lr:
        """``vgic_v3_compute_lr``: ACTIVE; HW-mapped -> HW bit with the physical INTID and never
        P+A; else level (software resampled) -> EOI and never P+A; PENDING if allowed; group;
        priority."""
        lr = Lr(intid=irq.intid, group=irq.group, priority=irq.priority)
        allow_pending = True
        v2_sgi = self.is_v2_sgi(irq.intid)
        if irq.active:
            lr.active = True
            if v2_sgi:  # the GICv2 VM's SGI: its active source in the LR's CPUID field
                lr.cpuid |= irq.active_source
                if lr_count(irq) > 1:  # vgic_irq_is_multi_sgi
                    allow_pending = False
                    lr.eoi = True
        if irq.hw and self.policy.hw_lr:
            # "Never set pending+active on a HW interrupt, as the pending state is kept at the
            # physical distributor level"; no EOI bit: the hardware deactivates the pINTID
            lr.hw, lr.pintid = True, irq.hwintid
            if irq.active:
                allow_pending = False
        elif irq.level:
            lr.eoi = True
            if irq.active:
                allow_pending = False
        if allow_pending and irq.is_pending() and (irq.enabled or not self.policy.lr_pending_needs_enabled):
            lr.pending = True
            if v2_sgi:  # the lowest pending source; EOI if another remains
                src = ffs(irq.source)
                if not src:  # WARN_RATELIMIT(!src, "No SGI source for INTID %d\n")
                    return Lr(intid=0, priority=0)
                lr.cpuid |= src - 1
                if irq.source & ~(1 << (src - 1)):
                    lr.eoi = True
        return lr

    def vgic_v3_populate_lr(self, st: VgicV3CpuIf, irq: VgicIrq, n: int) -> None:
        """``vgic_v3_populate_lr``: LR ``n`` from the interrupt; an edge interrupt's pending
        latch moves into the LR; a mapped level interrupt's line level is cleared (re-sampled at
        fold, re-raised by the next physical interrupt)."""
        lr = self.vgic_v3_compute_lr(irq)
        if lr.pending and not irq.level:
            irq.pending_latch = False
        if lr.pending and self.is_v2_sgi(irq.intid):  # one source per LR, pending while others remain
            irq.source &= ~(1 << (ffs(irq.source) - 1))
            if irq.source and self.policy.v2_sgi_requeue:
                irq.pending_latch = True
        if lr.pending and irq.hw and irq.level:
            # vgic_irq_is_mapped_level: "we only observe rising edges as input to the VGIC"
            irq.line_level = False
        irq.on_lr = True
        st.vgic_lr[n] = lr

    def vgic_v3_clear_lr(self, st: VgicV3CpuIf, first: int) -> None:
        """``vgic_v3_clear_lr`` on each LR from ``first`` on (``vgic_flush_lr_state``'s loop)."""
        st.vgic_lr[first:] = [None] * (self.nr_lrs - first)

    def vgic_v3_set_underflow(self, st: VgicV3CpuIf, underflow: bool) -> None:
        """``vgic_v3_set_underflow`` (pre-series): UIE when interrupts were left outside the LRs,
        on top of the En that ``vgic_v3_enable`` keeps in ``vgic_hcr``."""
        st.vgic_hcr = ICH_HCR_EN | (ICH_HCR_UIE if underflow else 0)

    def vgic_v3_configure_hcr(self, g: Vgic, st: VgicV3CpuIf, nr_pend: int, nr_act: int) -> None:
        """``vgic_v3_configure_hcr`` (V3-POST): MIs for overflow and group changes, TDIR."""
        p, nr_lr, vm = self.policy, self.nr_lrs, st.vgic_vmcr
        hcr = ICH_HCR_EN
        if nr_pend > nr_lr:
            hcr |= ICH_HCR_NPIE
        if nr_act and nr_pend + nr_act > nr_lr:
            hcr |= ICH_HCR_LRENPIE
        if nr_pend + nr_act > nr_lr and p.request_uie:
            hcr |= ICH_HCR_UIE
        if p.request_group_mis:
            hcr |= ICH_HCR_VGRP0DIE if vm.veng0 else ICH_HCR_VGRP0EIE
            hcr |= ICH_HCR_VGRP1DIE if vm.veng1 else ICH_HCR_VGRP1EIE
        has_tdir = p.cpu_has_tdir or not p.detect_missing_tdir
        if p.tdir == "post":
            if not has_tdir or (nr_act and nr_pend + nr_act > nr_lr) or g.active_spis:
                hcr |= ICH_HCR_TDIR
        elif p.tdir == "overflow":
            if not has_tdir or (nr_act and nr_pend + nr_act > nr_lr):
                hcr |= ICH_HCR_TDIR
        st.vgic_hcr = hcr

    def vgic_v3_first_spi_in_flight(self, g: Vgic) -> None:
        """The first SPI in flight (``active_spis`` 0 -> 1, 1c3b3cadcd69): ``vgic_queue_irq_unlock``
        posts KVM_REQ_IRQ_PENDING to every vcpu (``kvm_make_all_cpus_request``, only on a CPU with
        TDIR: ``vgic_model_needs_bcst_kick``) so each re-runs ``vgic_v3_configure_hcr`` at its next
        entry.  The request is not KVM_REQUEST_WAIT: the injector does not wait for the IPIs, and
        a vcpu in the guest keeps its ICH_HCR_EL2 (TDIR clear) until it exits.

        ``tdir_bcast="async"`` is that (the vcpus' next flushes pick ``active_spis`` up; nothing
        changes now).  ``"sync"`` (the correct design, hvfuzz's proposed fix) closes the window:
        every vcpu running a guest traps DIR from this instant, as if it had exited and re-entered
        at once — TDIR in its shadow ``vgic_hcr`` (which the EL2 fast path reads) and in the
        pCPU's ICH_HCR_EL2."""
        p = self.policy
        if p.tdir != "post" or not p.cpu_has_tdir or p.tdir_bcast == "async":
            return
        for hw in g.hw:
            if hw.vcpu is not None and hw.hcr & ICH_HCR_EN:
                hw.hcr |= ICH_HCR_TDIR
                g.cpu_if[hw.vcpu].vgic_hcr |= ICH_HCR_TDIR
                g.el2_cpu_if[hw.vcpu].vgic_hcr |= ICH_HCR_TDIR  # under pKVM: the hyp's copy

    # --- EL2 save/restore (vgic-v3-sr.c) -------------------------------------------------------
    def vgic_v3_restore_state(self, st: VgicV3CpuIf, hw: IchCpuIf, vcpu: int) -> None:
        """``__vgic_v3_restore_state``: ICH_HCR_EL2 = ``compute_ich_hcr`` (vgic_hcr plus TC when the
        CPU lacks TDIR and KVM knows it; the CPU ignores TDIR if it lacks it), then the LRs, and
        VMCR and the APRs (``__vgic_v3_restore_vmcr_aprs``), handed over."""
        p = self.policy
        hcr = st.vgic_hcr & ~ICH_HCR_EOICOUNT_MASK
        if not p.cpu_has_tdir:
            hcr &= ~ICH_HCR_TDIR
            if p.detect_missing_tdir:
                hcr |= ICH_HCR_TC
        hw.hcr = hcr
        hw.lrs, hw.used_lrs, hw.vmcr, hw.apr = st.vgic_lr, st.used_lrs, st.vgic_vmcr, st.vgic_apr
        hw.vcpu = vcpu

    def vgic_v3_save_state(self, st: VgicV3CpuIf, hw: IchCpuIf) -> None:
        """``__vgic_v3_save_state``: the LRs, VMCR and APRs back into the saved state; keep
        EOIcount if LRENPIE (f4ded7b0848e), then write 0 to ICH_HCR_EL2 (8be00d1ba3a1) — or,
        deviating, leave ``compute_ich_hcr & ~En`` armed."""
        assert hw.vcpu is not None, "save without a restore: the interface holds no vcpu's values"
        if self.policy.generation == "post" and st.vgic_hcr & ICH_HCR_LRENPIE:
            st.vgic_hcr = (st.vgic_hcr & ~ICH_HCR_EOICOUNT_MASK) | (hw.hcr & ICH_HCR_EOICOUNT_MASK)
        else:
            st.vgic_hcr &= ~ICH_HCR_EOICOUNT_MASK
        st.vgic_lr, st.vgic_vmcr, st.vgic_apr = hw.lrs, hw.vmcr, hw.apr
        hw.hcr = 0 if self.policy.exit_hcr_zero else (hw.hcr & ~ICH_HCR_EN & ~ICH_HCR_EOICOUNT_MASK)
        hw.unload()

    # --- fold -------------------------------------------------------------------------------------
    def vgic_v3_fold_lr(self, g: Vgic, vcpu: int, lr: Lr) -> None:
        """``vgic_v3_fold_lr``: LR state back into the vgic_irq (an LPI's active bit dropped; a
        mapped level interrupt still pending in its LR re-sampled from the physical line)."""
        irq = g.lookup(vcpu, lr.intid)
        assert irq is not None
        lr_active = lr.active
        if irq.intid >= VGIC_MIN_LPI and self.policy.lpi_fold_drops_active:
            lr_active = False  # "Always preserve the active bit for !LPIs" (73c9726975af)
        deactivated = irq.active and not lr_active
        irq.active = lr_active
        v2_sgi = self.is_v2_sgi(lr.intid)
        if irq.active and v2_sgi:
            irq.active_source = lr.cpuid & 7
        if not irq.level and lr.pending:
            irq.pending_latch = True
            if v2_sgi:
                irq.source |= 1 << (lr.cpuid & 7)
        if irq.level and not (lr.pending or lr.active):
            irq.pending_latch = False
        if irq.hw and irq.level and lr.pending:
            # vgic_irq_is_mapped_level: the guest never acked it: sample the physical line; if that
            # lowers the level, clear the physical active state (vgic_irq_set_phys_active(irq, false))
            irq.line_level = g.vgic_get_phys_line_level(vcpu, irq)
            if not irq.line_level:
                g.phys_deactivate(vcpu, irq.hwintid)
        irq.on_lr = False
        if g.policy.active_spis_dec == "fold" and deactivated and lr.eoi and irq.intid >= NR_PRIVATE \
                and g.active_spis > 0:  # 1c3b3cadcd69: atomic_dec_if_positive(&active_spis)
            g.active_spis -= 1

    def vgic_v3_fold_lr_state(self, g: Vgic, vcpu: int, st: VgicV3CpuIf) -> None:
        """``vgic_v3_fold_lr_state``: fold the LRs; after the series also consume EOIcount by
        deactivating the active interrupts just past the LR window (from ``last_lr_irq``), a HW
        one's physical interrupt too (``vgic_v3_deactivate_phys``)."""
        p = self.policy
        for lr in st.vgic_lr[: st.used_lrs]:
            if lr is not None:
                self.vgic_v3_fold_lr(g, vcpu, lr)
        last = g.last_lr_irq[vcpu]
        if p.generation == "post" and p.use_eoicount and last is not None:
            eoicount = (st.vgic_hcr & ICH_HCR_EOICOUNT_MASK) >> 27
            lst = g.ap_list[vcpu]
            start = lst.index(last) + 1 if p.eoicount_from_last_lr else 0
            for irq in lst[start:]:
                if eoicount == 0:
                    break
                if g.vgic_target_oracle(irq) == vcpu and irq.active:
                    lr = self.vgic_v3_compute_lr(irq)
                    lr.active = False
                    if lr.hw and p.eoicount_deactivates_phys:
                        g.phys_deactivate(vcpu, lr.pintid)  # vgic_v3_deactivate_phys: gic_write_dir(pINTID)
                    self.vgic_v3_fold_lr(g, vcpu, lr)
                    eoicount -= 1
        st.vgic_hcr &= ~(ICH_HCR_EOICOUNT_MASK | ICH_HCR_UIE)
        st.used_lrs = 0
        st.vgic_lr = [None] * self.nr_lrs

    # --- DIR (post-series) ----------------------------------------------------------------------
    def vgic_v3_deactivate(self, g: Vgic, vcpu: int, intid: int, halt_guest: Callable[[], None]) -> int | None:
        """``vgic_v3_deactivate`` (vgic-v3.c, v4 27/49 "Handle deactivation via ICV_DIR_EL1 traps",
        <20251109171619.1507205-28-maz@kernel.org> for v2): ``access_gic_dir``'s emulation of a
        trapped ICV_DIR_EL1 write that the EL2 fast path could not complete.  It runs in the host
        after the exit, so the trapping vcpu's LRs are already folded and pruned.  EOImode from
        the saved ``vgic_vmcr``.  Not on any ap_list: nothing.  ``on_lr`` (live in a running
        vcpu's LRs): ``vgic_mmio_write_cactive`` (all vcpus halted first: ``halt_guest``).
        Otherwise a pseudo-LR without the active bit is folded.  Returns the vcpu to which
        KVM_REQ_VGIC_PROCESS_UPDATE goes (its ap_list is pruned at its next request check)."""
        cpuid, v2_sgi = 0, False
        if self.policy.guest_v2 and self.policy.v3_dir_v2_sgi:
            # 295b69216558: "Snapshot CPUID, and remove it from the INTID"
            cpuid, intid = (intid >> 10) & 7, intid & ~(7 << 10)
            v2_sgi = intid < 16
        if not g.cpu_if[vcpu].vgic_vmcr.veoim:
            return None
        irq = g.lookup(vcpu, intid)
        if irq is None or irq.vcpu is None:
            return None
        target = irq.vcpu
        if irq.on_lr:  # "Urgh. We're deactivating something that we cannot observe yet..."
            g.vgic_mmio_write_cactive(irq, halt_guest)
        elif v2_sgi and irq.active_source != cpuid:  # "GICv2 SGI: check that the cpuid matches"
            return None
        else:  # "(with a Dalek voice) DEACTIVATE!!!!"
            lr = self.vgic_v3_compute_lr(irq)
            lr.active = False
            self.vgic_v3_fold_lr(g, vcpu, lr)
        if irq.hw:  # vgic_irq_set_phys_active(irq, false)
            g.phys_deactivate(target, irq.hwintid)
        return target

    def vgic_v3_guest_dir(self, g: Vgic, vcpu: int, hw: IchCpuIf, intid: int) -> str:
        """A guest write of ICV_DIR_EL1 on the pCPU interface ``hw``: in hardware
        (``icv_dir_write``) unless ICH_HCR_EL2.TDIR/TC trap it to EL2, where
        ``__vgic_v3_perform_cpuif_access`` (vgic-v3-sr.c, merged v4 32/49 ``ca3c34da3644``)
        looks at the *shadow* ``vgic_hcr``: TDIR set -> ``___vgic_v3_write_dir`` completes it for
        EOImode 0 ("trap-ignored") or an INTID active in this vcpu's LRs ("trap-fast-path") and
        otherwise returns 0: a full exit to ``access_gic_dir`` ("trap-exit"; the caller makes the
        exit).  TDIR clear (a TC trap) -> ``__vgic_v3_write_dir``, which bumps EOIcount instead
        ("trap-eoicount"), as every TDIR trap did before the series' "Handle deactivation via
        ICV_DIR_EL1 traps" (``dir_trap_exits=False``)."""
        if self.policy.guest_v2:
            # a GICv2 VM writes GICV_DIR, whose page is left unmapped (07bb1c5622a5, for every GICv2
            # VM: vgic_v2_map_resources): a stage-2 abort the host hands to vgic_v3_deactivate
            if self.policy.v2_trap_dir:
                return "trap-exit"
            assert isinstance(hw, GichCpuIf)
            if split_value(intid) is not None:
                hw.icv_dir_write(intid & 0x3FF)
            return "hardware"
        if not hw.dir_traps():
            hw.icv_dir_write(intid)
            return "hardware"
        if not hw.vmcr.veoim:
            return "trap-ignored"
        if intid >= VGIC_MIN_LPI:
            return "trap-ignored"  # __vgic_v3_write_dir: "No deactivate to be performed on an LPI"
        i = hw.find_active_lr(intid)
        if i is not None:
            lr = hw.lrs[i]
            assert lr is not None
            lr.active = False
            if lr.hw:  # __vgic_v3_clear_active_lr: the CPU deactivates the pINTID (gic_write_dir)
                g.phys_deactivate(vcpu, lr.pintid)
            return "trap-fast-path"
        if g.el2_cpu_if[vcpu].vgic_hcr & ICH_HCR_TDIR and self.policy.dir_trap_exits:  # EL2 reads its copy
            return "trap-exit"
        hw.bump_eoicount()
        return "trap-eoicount"

    # --- the names vgic.c calls (version.VgicVersion) --------------------------------------------
    get_vmcr = vgic_v3_get_vmcr
    populate_lr = vgic_v3_populate_lr
    clear_lrs = vgic_v3_clear_lr
    set_underflow = vgic_v3_set_underflow
    configure_hcr = vgic_v3_configure_hcr
    first_spi_in_flight = vgic_v3_first_spi_in_flight
    restore_state = vgic_v3_restore_state
    save_state = vgic_v3_save_state
    fold_lr_state = vgic_v3_fold_lr_state
    guest_dir = vgic_v3_guest_dir
    deactivate = vgic_v3_deactivate


__all__ = ["VgicV3"]
