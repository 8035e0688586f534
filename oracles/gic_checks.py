"""The interrupt oracles (gic-architecture.md §3.2): the vgic model's guest-visible results are
checked against ``ArchGic`` fed with the same events, and its list registers against the
hypervisor invariants.  Names carry the property IDs.

Sync point: a guest entry (the previous exit folded the LRs, the entry flushed them).  Window(v)
/ Stable(v): the interrupts in ArchGic's candidate set at some / every step since v's last sync.
Strict (O2) only for the first CPU-interface read after a sync with no event in between.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

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
    SPURIOUS,
)
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.arch_gic import ArchGic
from hvfuzz.oracles.checks import Failure

if TYPE_CHECKING:
    from hvfuzz.model.system import System

_CPUIF_OPS = (O.GuestAck, O.GuestEoi, O.GuestSetPmr, O.GuestSetBpr, O.GuestSetGrpEn, O.GuestSetEoiMode)


class GicChecker:
    def __init__(self, vcpus: int, pri_bits: int) -> None:
        self.m = ArchGic(vcpus, pri_bits)
        self.vcpus = vcpus
        self.window: list[set[int]] = [set() for _ in range(vcpus)]
        self.stable: list[set[int]] = [set() for _ in range(vcpus)]
        self.strict = [False] * vcpus

    def _cand_ids(self, v: int) -> set[int]:
        return {i.intid for i in self.m.cand(v)}

    def _track(self) -> None:
        for v in range(self.vcpus):
            c = self._cand_ids(v)
            self.window[v] |= c
            self.stable[v] &= c

    def after(self, op: O.Op, sut: System, applied: bool) -> Failure | None:
        if not applied:
            return None
        v = op.vcpu
        in_guest = sut.vcpus[v].phase.value == "guest"
        if isinstance(op, O.GuestEnter):  # no sync point if the thread slept (powered off)
            return self._sync_point(v, sut) if in_guest else None
        if isinstance(op, (O.GuestExit, O.GuestPsci, O.GuestAccess)):  # HVC and stage-2 aborts exit too
            return None if in_guest else self._after_exit(v, sut)
        if isinstance(op, O.GuestAck):
            f = self._check_iar(v, op.group, sut)
            if f:
                return f
        elif isinstance(op, O.GuestEoi):
            self.m.eoi(v, op.group, op.intid)
        elif isinstance(op, O.GuestDir):
            self.m.dir(v, op.intid)
        elif isinstance(op, O.GuestSetPmr):
            self.m.set_pmr(v, op.value)
        elif isinstance(op, O.GuestSetBpr):
            self.m.set_bpr(v, op.group, op.value)
        elif isinstance(op, O.GuestSetGrpEn):
            self.m.set_grpen(v, op.group, op.enable)
        elif isinstance(op, O.GuestSetEoiMode):
            self.m.set_eoimode(v, op.eoimode)
        elif isinstance(op, O.InjectIrq):
            mi = self.m.lookup(v, op.intid)
            target = mi.target if mi is not None else v
            self.m.inject(v, op.intid, op.level, target_running=sut.vcpus[target].phase.value == "guest")
        elif isinstance(op, O.ConfigIrq):
            self.m.configure(v, op.intid, op.enabled, op.priority, op.group, op.level, op.target)
        else:
            return None
        if isinstance(op, _CPUIF_OPS):
            self.strict[v] = False
        else:
            self.strict = [False] * self.vcpus
        self._track()
        if isinstance(op, _CPUIF_OPS) or isinstance(op, O.GuestDir):
            return self._check_rpr(v, sut)
        return None

    # --- S1 / O1 / O2 at an acknowledge -------------------------------------------------------------
    def _check_iar(self, v: int, g: int, sut: System) -> Failure | None:
        x = sut.last_observations[-1][3]
        m, c = self.m, self.m.cpus[v]
        allowed = m.iar_allowed(v, g)
        why = None
        if x != SPURIOUS:
            i = m.lookup(v, x)
            if i is None:
                why = ("gic-S1-validity", f"IAR{g} returned {x}, not an interrupt of this VM")
            elif i.group != g:
                why = ("gic-S5-group", f"IAR{g} returned {x} of group {i.group}")
            elif c.tainted:
                pass  # after UNPREDICTABLE guest behaviour (A3, A11) only the checks above hold
            elif i.active:
                why = ("gic-S1-validity", f"IAR{g} returned {x}, which is already active (double acknowledge)")
            elif x not in self.window[v]:
                why = ("gic-S1-validity", f"IAR{g} returned {x}, which was not pending, enabled and targeting "
                       f"vcpu{v} at any point since the last sync")
            elif not c.veng[g]:
                why = ("gic-S5-group", f"IAR{g} returned {x} with group {g} disabled")
            elif not c.can_signal(i.prio, g):
                why = ("gic-S1-validity", f"IAR{g} returned {x} (priority {i.prio:#x}) although PMR "
                       f"{c.vpmr:#x} / running priority {c.rpr():#x} forbid it")
            else:
                higher = sorted(y for y in self.stable[v] if (yi := m.lookup(v, y)) and yi.prio < i.prio)
                if higher:
                    why = ("gic-O1-priority-inversion", f"IAR{g} returned {x} (priority {i.prio:#x}) while "
                           f"{higher} of higher priority were pending since the last sync")
        if why is None and self.strict[v] and not c.tainted and x not in allowed:
            why = ("gic-O2-strict-at-sync", f"first IAR{g} after the guest entry returned {x}; the "
                   f"architecture allows {sorted(allowed)}")
        if why is not None:
            return Failure(why[0], v, f"vcpu{v}: {why[1]}", x, sorted(allowed))
        m.ack(v, g, x)
        self.strict[v] = False
        self._track()
        return None

    def _check_rpr(self, v: int, sut: System) -> Failure | None:
        c = self.m.cpus[v]
        if c.tainted:
            return None
        hw = sut.vgic_cpu_of(v).rpr()
        if hw != c.rpr():
            return Failure("gic-S4-running-priority", v, f"vcpu{v}: ICV_RPR_EL1 is {hw:#x}, the architecture "
                           f"says {c.rpr():#x}", hw, c.rpr())
        return None

    # --- sync points ----------------------------------------------------------------------------
    def _sync_point(self, v: int, sut: System) -> Failure | None:
        f = self._check_active_sets(v, sut) or self._check_lr_invariants(v, sut)
        self.m.sync(v)
        c = self._cand_ids(v)
        self.window[v] = set(c)
        self.stable[v] = set(c)
        self.strict[v] = True
        return f

    def _check_active_sets(self, v: int, sut: System) -> Failure | None:
        """L2 (and S3): deactivations land by the next sync, and active state is never lost."""
        g = sut.vgic
        if self.m.cpus[v].tainted:
            return None
        pairs = chain(zip(g.private[v], self.m.private[v], strict=True), zip(g.spis, self.m.spis, strict=True))
        for irq, mi in pairs:
            if irq.active == mi.active:
                continue
            intid = irq.intid
            if intid >= 32 and irq.vcpu is not None and irq.vcpu != v and (
                    irq.on_lr or sut.vcpus[irq.vcpu].phase.value == "guest"):
                # queued on another vcpu that is in the guest: its LRs and EOIcount (an EOI of it
                # outside the LRs) are folded at that vcpu's next exit, not at this entry
                continue
            if intid >= 32 and any(self.m.cpus[u].tainted for u in {mi.target, irq.vcpu} if u is not None):
                continue  # an SPI of a tainted vcpu (its non-LIFO EOIs move EOIcount: A3)
            if mi.active:
                return Failure("gic-S3-active-lost", v, f"vcpu{v} entry: interrupt {intid} is active "
                               f"architecturally but the vgic has it inactive", irq.active, mi.active)
            return Failure("gic-L2-deactivation-lost", v, f"vcpu{v} entry: interrupt {intid} was "
                           f"deactivated by the guest but the vgic still has it active", irq.active, mi.active)
        return None

    def _check_lr_invariants(self, v: int, sut: System) -> Failure | None:
        g = sut.vgic
        c = sut.vgic_cpu_of(v)  # the pCPU's interface, with v's state loaded
        if c.used_lrs > g.nr_lrs:
            return Failure("gic-I7-used-lrs", v, f"vcpu{v}: used_lrs {c.used_lrs} > {g.nr_lrs} LRs")
        lrs = [lr for lr in c.lrs[: c.used_lrs] if lr is not None and lr.valid]
        ids = [lr.intid for lr in lrs]
        if len(ids) != len(set(ids)):
            return Failure("gic-I1-duplicate-lr", v, f"vcpu{v}: the same vINTID in two LRs: {ids}")
        for lr in lrs:
            irq = g.lookup(v, lr.intid)
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
        hcr = c.hcr
        queued = [i for i in g.ap_list[v] if g.vgic_target_oracle(i) == v and (i.active or i.is_pending())]
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
            if not hcr & (ICH_HCR_TDIR | ICH_HCR_TC):
                return Failure("gic-I5-mi-config", v, f"vcpu{v}: active interrupts outside the LRs but DIR "
                               f"is not trapped (ICH_HCR_EL2 {hcr:#x})")
        for grp, (eie, die) in enumerate(((ICH_HCR_VGRP0EIE, ICH_HCR_VGRP0DIE), (ICH_HCR_VGRP1EIE, ICH_HCR_VGRP1DIE))):
            if any(i.group == grp for i in g.ap_list[v]):
                need = die if c.group_enabled(grp) else eie
                if not hcr & need:
                    return Failure("gic-I5-mi-config", v, f"vcpu{v}: group {grp} interrupts queued but no MI "
                                   f"when the guest {'disables' if c.group_enabled(grp) else 'enables'} the group")
        return None

    def _after_exit(self, v: int, sut: System) -> Failure | None:
        hw = sut.vgic_cpu_of(v).hcr
        if hw & (ICH_HCR_TDIR | ICH_HCR_TC | ICH_HCR_UIE | ICH_HCR_NPIE | ICH_HCR_LRENPIE):
            return Failure("gic-hcr-armed-in-host", v, f"vcpu{v}: ICH_HCR_EL2 left {hw:#x} after the exit: "
                           f"traps and maintenance interrupts stay armed for the host")
        return None
