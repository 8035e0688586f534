"""The host side of the vgic (arch/arm64/kvm/vgic/vgic.c, vgic-v3.c): interrupt state, the
per-vcpu ap_list, ``vgic_target_oracle``, ``vgic_queue_irq_unlock``, ``kvm_vgic_inject_irq``,
``vgic_sort_ap_list``, ``vgic_flush_lr_state``, ``vgic_v3_configure_hcr``,
``vgic_v3_fold_lr_state``, ``vgic_prune_ap_list``, ``vgic_v3_deactivate``; before the LR-overflow
series (``generation="pre"``) and after it (``"post"``), per ``VgicPolicy``.
"""

from __future__ import annotations

from hvfuzz.model.vgic.cpuif import VgicCpuIf
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
    Lr,
    VgicIrq,
    VgicPolicy,
)

NR_SPIS = 32


class Vgic:
    """The VM's vgic: distributor/redistributor interrupt state, ap_lists, CPU interfaces."""

    def __init__(self, vcpus: int, nr_lrs: int, pri_bits: int, policy: VgicPolicy) -> None:
        self.policy = policy
        self.nr_lrs = nr_lrs
        self.pri_bits = pri_bits
        self.private = [
            [VgicIrq(intid=i, owner_vcpu=v, target_vcpu=v, level=False) for i in range(NR_PRIVATE)]
            for v in range(vcpus)
        ]
        self.spis = [VgicIrq(intid=NR_PRIVATE + i) for i in range(NR_SPIS)]
        self.ap_list: list[list[VgicIrq]] = [[] for _ in range(vcpus)]
        self.cpuif = [VgicCpuIf(nr_lrs=nr_lrs, pri_bits=pri_bits) for _ in range(vcpus)]
        #: host_data.last_lr_irq of the CPU the vcpu last ran on (post-series)
        self.last_lr_irq: list[VgicIrq | None] = [None] * vcpus
        #: ``kvm->arch.vgic.active_spis`` (1c3b3cadcd69)
        self.active_spis = 0
        self.dist_enabled = True

    def pmask(self) -> int:
        return (0xFF << (8 - self.pri_bits)) & 0xFF

    def lookup(self, vcpu: int, intid: int) -> VgicIrq | None:
        if intid < NR_PRIVATE:
            return self.private[vcpu][intid]
        if intid < NR_PRIVATE + NR_SPIS:
            return self.spis[intid - NR_PRIVATE]
        return None

    # --- vgic.c ---------------------------------------------------------------------------------
    def vgic_target_oracle(self, irq: VgicIrq) -> int | None:
        """``vgic_target_oracle``: active -> where it is; enabled+pending -> its target."""
        if irq.active:
            return irq.vcpu if irq.vcpu is not None else irq.target_vcpu
        if irq.enabled and irq.is_pending():
            return irq.target_vcpu if self.dist_enabled else None
        return None

    def vgic_queue_irq_unlock(self, irq: VgicIrq) -> int | None:
        """``vgic_queue_irq_unlock``: put the interrupt on its target's ap_list (tail); returns the
        vcpu to kick (KVM_REQ_IRQ_PENDING)."""
        v = self.vgic_target_oracle(irq)
        if irq.vcpu is not None or v is None:
            return v
        self.ap_list[v].append(irq)
        irq.vcpu = v
        if irq.intid >= NR_PRIVATE and self.policy.generation == "post":
            self.active_spis += 1
            if self.active_spis == 1 and self.policy.tdir == "post" and self.policy.cpu_has_tdir:
                # first SPI in flight: KVM_REQ_IRQ_PENDING to every vcpu so each recomputes TDIR
                # (1c3b3cadcd69).  The model takes the kick as immediate: running vcpus trap DIR now.
                for c in self.cpuif:
                    if c.hw_hcr & ICH_HCR_EN:
                        c.hw_hcr |= ICH_HCR_TDIR
        return v

    def kvm_vgic_inject_irq(self, vcpu: int, intid: int, level: bool) -> bool:
        """``kvm_vgic_inject_irq`` + ``vgic_validate_injection``: level: a change of the line;
        edge: ``level=1`` latches pending."""
        irq = self.lookup(vcpu, intid)
        if irq is None:
            return False
        if irq.level:
            if irq.line_level == level:
                return False
            irq.line_level = level
        else:
            if not level:
                return False
            irq.pending_latch = True
        self.vgic_queue_irq_unlock(irq)
        return True

    def configure_irq(self, vcpu: int, intid: int, enabled: bool, priority: int, group: int, level: bool,
                      target: int) -> bool:
        """Distributor/redistributor writes (ISENABLER/ICENABLER, IPRIORITYR, IGROUPR, ICFGR,
        IROUTER) to an interrupt that is neither active nor queued (configuration changes of a
        live interrupt are UNPREDICTABLE or racy: gic-architecture.md A9/A10/A16)."""
        irq = self.lookup(vcpu, intid)
        if irq is None or irq.active or irq.vcpu is not None:
            return False
        irq.enabled, irq.priority, irq.group = enabled, priority & self.pmask(), group
        if intid >= 16:  # SGIs are always edge
            irq.level = level
        if intid >= NR_PRIVATE:
            irq.target_vcpu = target
        self.vgic_queue_irq_unlock(irq)
        return True

    def _deliverable(self, irq: VgicIrq, vcpu: int) -> bool:
        c = self.cpuif[vcpu]
        return self.vgic_target_oracle(irq) == vcpu and c.group_enabled(irq.group)

    def vgic_sort_ap_list(self, vcpu: int) -> None:
        """``vgic_sort_ap_list``: stable sort with ``vgic_irq_cmp``."""
        p = self.policy
        shift = 8 - p.sort_prio_bits
        if p.generation == "pre" or not p.sort_pending_first:
            def key(irq: VgicIrq) -> tuple[int, ...]:  # VGIC-PRE: active first
                return (not irq.active, not (irq.enabled and irq.is_pending()), irq.priority >> shift)
        else:
            c = self.cpuif[vcpu]

            def key(irq: VgicIrq) -> tuple[int, ...]:
                k = (not (irq.enabled and irq.is_pending() and not irq.active), irq.priority >> shift)
                if p.sort_undeliverable_last:
                    k = (self.vgic_target_oracle(irq) != vcpu, not c.group_enabled(irq.group)) + k
                return k
        self.ap_list[vcpu].sort(key=key)

    # --- vgic-v3.c: LRs ------------------------------------------------------------------------
    def vgic_v3_compute_lr(self, irq: VgicIrq) -> Lr:
        """``vgic_v3_compute_lr``: ACTIVE; level (software resampled) -> EOI and never P+A;
        PENDING if allowed; group; priority."""
        lr = Lr(intid=irq.intid, group=irq.group, priority=irq.priority)
        allow_pending = True
        if irq.active:
            lr.active = True
        if irq.level:
            lr.eoi = True
            if irq.active:
                allow_pending = False
        if allow_pending and irq.is_pending():
            lr.pending = True
        return lr

    def vgic_v3_populate_lr(self, irq: VgicIrq, n: int, vcpu: int) -> None:
        lr = self.vgic_v3_compute_lr(irq)
        if lr.pending and not irq.level:
            irq.pending_latch = False
        irq.on_lr = True
        self.cpuif[vcpu].lrs[n] = lr

    def summarize_ap_list(self, vcpu: int) -> tuple[int, int]:
        """``summarize_ap_list``: (nr_pend, nr_act) over interrupts whose oracle is this vcpu."""
        nr_pend = nr_act = 0
        for irq in self.ap_list[vcpu]:
            if self.vgic_target_oracle(irq) != vcpu:
                continue
            if irq.active:
                nr_act += 1
            elif irq.is_pending():
                nr_pend += 1
        return nr_pend, nr_act

    def vgic_flush_lr_state(self, vcpu: int) -> None:
        """``vgic_flush_lr_state`` (+ ``vgic_v3_configure_hcr`` after the series)."""
        c = self.cpuif[vcpu]
        nr_lr = self.nr_lrs
        lst = self.ap_list[vcpu]
        count = 0
        if self.policy.generation == "pre":
            depth = sum(1 for irq in lst if irq.is_pending() or irq.active)
            if depth > nr_lr:
                self.vgic_sort_ap_list(vcpu)
            uie = False
            for i, irq in enumerate(lst):
                if self.vgic_target_oracle(irq) == vcpu:
                    self.vgic_v3_populate_lr(irq, count, vcpu)
                    count += 1
                if count == nr_lr:
                    uie = i < len(lst) - 1
                    break
            c.vgic_hcr = ICH_HCR_EN | (ICH_HCR_UIE if uie else 0)
        else:
            nr_pend, nr_act = self.summarize_ap_list(vcpu)
            if nr_pend + nr_act > nr_lr:
                self.vgic_sort_ap_list(vcpu)
            self.last_lr_irq[vcpu] = None
            for irq in lst:
                if count == nr_lr:
                    break
                if self.vgic_target_oracle(irq) == vcpu:
                    self.vgic_v3_populate_lr(irq, count, vcpu)
                    self.last_lr_irq[vcpu] = irq
                    count += 1
            self.vgic_v3_configure_hcr(vcpu, nr_pend, nr_act)
        for n in range(count, nr_lr):
            c.lrs[n] = None
        c.used_lrs = count

    def vgic_v3_configure_hcr(self, vcpu: int, nr_pend: int, nr_act: int) -> None:
        """``vgic_v3_configure_hcr`` (V3-POST): MIs for overflow and group changes, TDIR."""
        p, c, nr_lr = self.policy, self.cpuif[vcpu], self.nr_lrs
        hcr = ICH_HCR_EN
        if nr_pend > nr_lr:
            hcr |= ICH_HCR_NPIE
        if nr_act and nr_pend + nr_act > nr_lr:
            hcr |= ICH_HCR_LRENPIE
        if nr_pend + nr_act > nr_lr and p.request_uie:
            hcr |= ICH_HCR_UIE
        if p.request_group_mis:
            hcr |= ICH_HCR_VGRP0DIE if c.veng0 else ICH_HCR_VGRP0EIE
            hcr |= ICH_HCR_VGRP1DIE if c.veng1 else ICH_HCR_VGRP1EIE
        has_tdir = p.cpu_has_tdir or not p.detect_missing_tdir
        if p.tdir == "post":
            if not has_tdir or (nr_act and nr_pend + nr_act > nr_lr) or self.active_spis:
                hcr |= ICH_HCR_TDIR
        elif p.tdir == "overflow":
            if not has_tdir or (nr_act and nr_pend + nr_act > nr_lr):
                hcr |= ICH_HCR_TDIR
        c.vgic_hcr = hcr

    # --- EL2 save/restore (vgic-v3-sr.c) -------------------------------------------------------
    def vgic_v3_restore_state(self, vcpu: int) -> None:
        """``__vgic_v3_restore_state``: ICH_HCR_EL2 = ``compute_ich_hcr`` (vgic_hcr plus TC when the
        CPU lacks TDIR and KVM knows it); the CPU ignores TDIR if it lacks it."""
        p, c = self.policy, self.cpuif[vcpu]
        hcr = c.vgic_hcr & ~ICH_HCR_EOICOUNT_MASK
        if not p.cpu_has_tdir:
            hcr &= ~ICH_HCR_TDIR
            if p.detect_missing_tdir:
                hcr |= ICH_HCR_TC
        c.hw_hcr = hcr

    def vgic_v3_save_state(self, vcpu: int) -> None:
        """``__vgic_v3_save_state``: keep EOIcount if LRENPIE (f4ded7b0848e), then write 0 to
        ICH_HCR_EL2 (8be00d1ba3a1) — or, deviating, leave ``compute_ich_hcr & ~En`` armed."""
        c = self.cpuif[vcpu]
        if self.policy.generation == "post" and c.vgic_hcr & ICH_HCR_LRENPIE:
            c.vgic_hcr = (c.vgic_hcr & ~ICH_HCR_EOICOUNT_MASK) | (c.hw_hcr & ICH_HCR_EOICOUNT_MASK)
        else:
            c.vgic_hcr &= ~ICH_HCR_EOICOUNT_MASK
        c.hw_hcr = 0 if self.policy.exit_hcr_zero else (c.hw_hcr & ~ICH_HCR_EN & ~ICH_HCR_EOICOUNT_MASK)

    # --- fold -------------------------------------------------------------------------------------
    def vgic_v3_fold_lr(self, vcpu: int, lr: Lr) -> None:
        """``vgic_v3_fold_lr``: LR state back into the vgic_irq."""
        irq = self.lookup(vcpu, lr.intid)
        assert irq is not None
        deactivated = irq.active and not lr.active
        irq.active = lr.active
        if not irq.level and lr.pending:
            irq.pending_latch = True
        if irq.level and not (lr.pending or lr.active):
            irq.pending_latch = False
        irq.on_lr = False
        if deactivated and lr.eoi and irq.intid >= NR_PRIVATE and self.active_spis > 0:
            self.active_spis -= 1

    def vgic_v3_fold_lr_state(self, vcpu: int) -> None:
        """``vgic_v3_fold_lr_state``: fold the LRs; after the series also consume EOIcount by
        deactivating the active interrupts just past the LR window (from ``last_lr_irq``)."""
        p, c = self.policy, self.cpuif[vcpu]
        for lr in c.lrs[: c.used_lrs]:
            if lr is not None:
                self.vgic_v3_fold_lr(vcpu, lr)
        if p.generation == "post" and p.use_eoicount and self.last_lr_irq[vcpu] is not None:
            eoicount = (c.vgic_hcr & ICH_HCR_EOICOUNT_MASK) >> 27
            lst = self.ap_list[vcpu]
            start = lst.index(self.last_lr_irq[vcpu]) + 1 if p.eoicount_from_last_lr else 0
            for irq in lst[start:]:
                if eoicount == 0:
                    break
                if self.vgic_target_oracle(irq) == vcpu and irq.active:
                    lr = self.vgic_v3_compute_lr(irq)
                    lr.active = False
                    self.vgic_v3_fold_lr(vcpu, lr)
                    eoicount -= 1
        c.vgic_hcr &= ~(ICH_HCR_EOICOUNT_MASK | ICH_HCR_UIE)
        c.used_lrs = 0
        c.lrs = [None] * self.nr_lrs
        self.vgic_prune_ap_list(vcpu)

    def vgic_prune_ap_list(self, vcpu: int) -> list[int]:
        """``vgic_prune_ap_list``: drop interrupts with no target, move the ones now targeting
        another vcpu to its tail (returns the vcpus to kick)."""
        kicks = []
        keep = []
        for irq in self.ap_list[vcpu]:
            if irq.on_lr:  # still live in this vcpu's LRs (pruned after the next fold)
                keep.append(irq)
                continue
            t = self.vgic_target_oracle(irq)
            if t is None:
                irq.vcpu = None
            elif t == vcpu:
                keep.append(irq)
            else:
                self.ap_list[t].append(irq)
                irq.vcpu = t
                kicks.append(t)
        self.ap_list[vcpu] = keep
        return kicks

    # --- DIR emulation (post-series) ------------------------------------------------------------
    def vgic_v3_deactivate(self, vcpu: int, intid: int) -> None:
        """``vgic_v3_deactivate``: a trapped ICV_DIR_EL1 write that no LR of this vcpu could take.
        An interrupt live in another vcpu's LR is deactivated as a GICD_ICACTIVER write would
        (all vcpus halted: in the model, its LR's active bit is cleared in place)."""
        c = self.cpuif[vcpu]
        if not c.veoim:
            return
        irq = self.lookup(vcpu, intid)
        if irq is None or irq.vcpu is None:
            return
        target = irq.vcpu
        if irq.on_lr:
            oc = self.cpuif[target]
            for lr in oc.lrs[: oc.used_lrs]:
                if lr is not None and lr.intid == intid and lr.active:
                    lr.active = False
            irq.active = False
        else:
            lr = self.vgic_v3_compute_lr(irq)
            lr.active = False
            self.vgic_v3_fold_lr(vcpu, lr)
        self.vgic_prune_ap_list(target)  # KVM_REQ_VGIC_PROCESS_UPDATE on the target

    def guest_dir(self, vcpu: int, intid: int) -> str:
        """A guest write of ICV_DIR_EL1: in hardware, or trapped (TDIR/TC) to EL2's fast path
        (``__vgic_v3_perform_cpuif_access``: EOImode 0 -> ignore; an active LR of this vcpu ->
        deactivate it) and otherwise to ``vgic_v3_deactivate``.  Returns how it was handled."""
        c = self.cpuif[vcpu]
        if not c.dir_traps():
            c.icv_dir_write(intid)
            return "hardware"
        if not c.veoim:
            return "trap-ignored"
        i = c.find_active_lr(intid)
        if i is not None:
            lr = c.lrs[i]
            assert lr is not None
            lr.active = False
            return "trap-fast-path"
        self.vgic_v3_deactivate(vcpu, intid)
        return "trap-emulated"


__all__ = ["Vgic", "NR_SPIS", "ICH_HCR_TC", "ICH_HCR_TDIR"]
