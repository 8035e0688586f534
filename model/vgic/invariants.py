"""White-box invariants of the vgic's list registers and of the hypervisor's ICH_HCR_EL2
configuration (gic-architecture.md §3.2, I1–I7), checked on the variant's ``System``: at a guest
entry (the LRs just flushed and restored) and after an exit (the LRs saved and folded).

They read the model's own state (``Vgic``: ap_list, the vgic generation; the pCPU's ``IchCpuIf``: LRs,
used_lrs, ICH_HCR_EL2),
so they live beside it; the architectural rules (S1–S5, O1, O2, L2) are judged from observations
by ``oracles/gic_checks.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from hvfuzz.model.vgic.irq import (
    ICH_HCR_LRENPIE,
    ICH_HCR_NPIE,
    ICH_HCR_TC,
    ICH_HCR_TDIR,
    ICH_HCR_UIE,
    ICH_HCR_VGRP0DIE,
    ICH_HCR_VGRP0EIE,
    ICH_HCR_VGRP1DIE,
    ICH_HCR_VGRP1EIE,
)
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.judging import Failure, Step

if TYPE_CHECKING:
    from hvfuzz.model.system import System
    from hvfuzz.model.vgic.irq import VgicIrq
    from hvfuzz.model.vgic.v3_hw import IchCpuIf
    from hvfuzz.model.vgic.vgic import Vgic

_EXITS = frozenset((O.GuestExit, O.GuestPsci, O.GuestAccess))  # HVC and stage-2 aborts exit too
_ARMED = ICH_HCR_TDIR | ICH_HCR_TC | ICH_HCR_UIE | ICH_HCR_NPIE | ICH_HCR_LRENPIE


@attrs.define
class VgicInvariants:
    """The LR invariants at every guest entry and ``gic-hcr-armed-in-host`` after every exit
    (an ``Invariant``).  Stateless."""

    def applies(self, system: System) -> bool:
        return True

    def after(self, step: Step, system: System) -> Failure | None:
        if not step.applied:
            return None
        op = step.op
        if type(op) is O.GuestEnter:  # no entry if the thread slept (powered off)
            if system.vcpus[op.vcpu].phase.value == "guest":
                return check_lr_invariants(system.vgic, system.vgic_cpu_of(op.vcpu), op.vcpu)
            return None
        if type(op) in _EXITS and system.vcpus[op.vcpu].phase.value != "guest":
            return check_hcr_after_exit(system.vgic_cpu_of(op.vcpu), op.vcpu)
        return None

    def state_key(self, intids: tuple[int, ...]) -> object:
        return ()


def check_lr_invariants(g: Vgic, c: IchCpuIf, v: int) -> Failure | None:
    """I7, I1, I3 always; I4 and I5 for the post-series vgic (``generation == "post"``).  ``c``:
    the CPU interface of vcpu ``v``'s pCPU, with its state loaded (it is in the guest)."""
    if c.used_lrs > g.nr_lrs:
        return Failure("gic-I7-used-lrs", v, f"vcpu{v}: used_lrs {c.used_lrs} > {g.nr_lrs} LRs")
    lrs = [lr for lr in c.lrs[: c.used_lrs] if lr is not None and lr.valid]
    ids = [lr.intid for lr in lrs]
    if len(ids) != len(set(ids)):
        return Failure("gic-I1-duplicate-lr", v, f"vcpu{v}: the same vINTID in two LRs: {ids}")
    for lr in lrs:
        irq = g.lookup(v, lr.intid)
        if lr.hw:  # a HW LR: no EOI bit (its bits hold pINTID), and never P+A (vgic_v3_compute_lr)
            if lr.pending and lr.active:
                return Failure("gic-I3-level-lr", v, f"vcpu{v}: HW interrupt {lr.intid} in an LR as P+A")
            continue
        if irq is not None and irq.level and (not lr.eoi or (lr.pending and lr.active)):
            return Failure("gic-I3-level-lr", v, f"vcpu{v}: level interrupt {lr.intid} in an LR as "
                           f"{lr.state()} with EOI={int(lr.eoi)}")
    if g.policy.generation != "post":
        return None
    in_lr = set(ids)
    outside = [i for i in g.ap_list[v] if i.intid not in in_lr and g.vgic_target_oracle(i) == v]
    pend_lr = [lr.priority for lr in lrs if lr.pending and not lr.active and c.group_enabled(lr.group)]
    for i in outside:
        if i.enabled and i.is_pending() and not i.active and c.group_enabled(i.group) and pend_lr \
                and i.priority < max(pend_lr):
            return Failure("gic-I4-top-n", v, f"vcpu{v}: pending interrupt {i.intid} (priority "
                           f"{i.priority:#x}) left outside the LRs behind a lower-priority pending LR")
    return _check_mi_config(g, c, v, outside, in_lr)


def _check_mi_config(g: Vgic, c: IchCpuIf, v: int, outside: list[VgicIrq], in_lr: set[int]) -> Failure | None:
    """I5: whenever interrupts sit outside the LRs or a group toggle matters, an MI / DIR trap is
    armed in ICH_HCR_EL2."""
    hcr = c.hcr
    # What the flush counted: ``summarize_ap_list`` (nr_pend + nr_act) takes every ap_list entry
    # whose ``vgic_target_oracle`` was this vcpu *before* ``vgic_populate_lr`` moved an edge
    # interrupt's pending latch into its LR, and ``vgic_v3_configure_hcr`` requests UIE when
    # ``irqs_outside_lrs``: nr_pend + nr_act > nr_lr.  At entry those are the interrupts in the
    # valid LRs (only oracle == vcpu ones are populated) plus the ones outside whose oracle is
    # still this vcpu; an edge interrupt pending in an LR has no latch left, so its oracle is None.
    queued = [i for i in g.ap_list[v] if i.intid in in_lr or g.vgic_target_oracle(i) == v]
    if len(queued) > g.nr_lrs and not hcr & ICH_HCR_UIE:
        return Failure("gic-I5-mi-config", v, f"vcpu{v}: {len(queued)} interrupts in flight for "
                       f"{g.nr_lrs} LRs but no underflow MI (UIE) requested")
    if any(i.is_pending() and not i.active for i in outside) and not hcr & (ICH_HCR_NPIE | ICH_HCR_UIE):
        return Failure("gic-I5-mi-config", v, f"vcpu{v}: pending interrupts outside the LRs but "
                       f"neither NPIE nor UIE requested (ICH_HCR_EL2 {hcr:#x})")
    if any(i.active for i in outside):
        if not hcr & ICH_HCR_LRENPIE:
            return Failure("gic-I5-mi-config", v, f"vcpu{v}: active interrupts outside the LRs but no "
                           f"LRENPIE (ICH_HCR_EL2 {hcr:#x})")
        # GICv2 has no TDIR: DIR traps when KVM leaves the GICV_DIR page unmapped (07bb1c5622a5)
        v2_trapped = g.policy.guest_version() == 2 and g.policy.v2_trap_dir
        if not hcr & (ICH_HCR_TDIR | ICH_HCR_TC) and not v2_trapped:
            return Failure("gic-I5-mi-config", v, f"vcpu{v}: active interrupts outside the LRs but DIR "
                           f"is not trapped ({'GICV_DIR mapped' if g.policy.guest_version() == 2 else 'ICH_HCR_EL2'} "
                           f"{hcr:#x})")
    for grp, (eie, die) in enumerate(((ICH_HCR_VGRP0EIE, ICH_HCR_VGRP0DIE), (ICH_HCR_VGRP1EIE, ICH_HCR_VGRP1DIE))):
        if any(i.group == grp for i in g.ap_list[v]):
            need = die if c.group_enabled(grp) else eie
            if not hcr & need:
                return Failure("gic-I5-mi-config", v, f"vcpu{v}: group {grp} interrupts queued but no MI "
                               f"when the guest {'disables' if c.group_enabled(grp) else 'enables'} the group")
    return None


def check_hcr_after_exit(c: IchCpuIf, v: int) -> Failure | None:
    """``gic-hcr-armed-in-host``: the exit cleared ICH_HCR_EL2's traps and MIs (``c``: the CPU
    interface of the pCPU vcpu ``v`` exited on)."""
    hw = c.hcr
    if hw & _ARMED:
        return Failure("gic-hcr-armed-in-host", v, f"vcpu{v}: ICH_HCR_EL2 left {hw:#x} after the exit: "
                       f"traps and maintenance interrupts stay armed for the host")
    return None
