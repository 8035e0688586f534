"""Semantic coverage: the situations of the three designs that matter, counted by the runner as a
fuzz session goes (``Execution(coverage=Counter())``) and printed at its end.

A situation is a short name (``exit:trap_mmio_read:serror:dirty=0``, ``vgic:eoicount``,
``psci:CPU_ON->0``, ...).  Branch coverage of the model says which lines ran; these say which
states the designs were driven through: preemption between exit and handling, a migration,
more interrupts in flight than LRs, EOIcount consumed, DIR trapped, a deactivation on another
vcpu, a group disabled with interrupts active, a system event with interrupts pending, a CPU_ON
that wakes a sleeping vcpu.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hvfuzz.fuzz import ops as O
from hvfuzz.model.pkvm.state import PKVM_HOST_STATE_DIRTY, Phase
from hvfuzz.model.vgic.irq import ICH_HCR_EOICOUNT_MASK


def situations(op: O.Op, sut: Any, applied: bool) -> Iterator[str]:
    """The situations step ``op`` (just executed on ``sut``) put the system in."""
    if not applied:
        return
    v = sut.vcpus[op.vcpu]
    obs = sut.last_observations
    if isinstance(op, (O.GuestExit, O.GuestPsci, O.GuestAccess)) and v.phase is Phase.P1:
        f = v.arch.fault
        dirty = int(bool(v.arch.iflags & PKVM_HOST_STATE_DIRTY)) if sut.pkvm else "-"
        yield f"exit:{f.kind}{':serror' if f.serror_pending else ''}:dirty={dirty}"
    elif isinstance(op, O.SchedOut):
        yield f"preempted in {v.phase.value}"
    elif isinstance(op, O.SchedIn):
        yield "sched-in"
    elif isinstance(op, (O.UserSetReg, O.HostInjectSError, O.HostPmuOverflow)) and sut.pkvm:
        yield f"host write {op.name} dirty={int(bool(v.arch.iflags & PKVM_HOST_STATE_DIRTY))}"
    g = sut.vgic
    if isinstance(op, O.GuestEnter) and v.phase is Phase.GUEST:
        if len(g.ap_list[op.vcpu]) > g.nr_lrs:
            yield "vgic:more in flight than LRs"
        if any(i.active for i in g.ap_list[op.vcpu][g.nr_lrs:]):
            yield "vgic:active outside the LRs"
    elif isinstance(op, O.GuestEoi) and g.cpuif[op.vcpu].hw_hcr & ICH_HCR_EOICOUNT_MASK:
        yield "vgic:eoicount"
    elif isinstance(op, O.GuestDir):
        how = next((o[3] for o in obs if o[0] == "gic-dir"), None)
        yield f"vgic:dir by {how}"
        irq = g.lookup(op.vcpu, op.intid)
        if irq is not None and op.intid >= 32 and irq.vcpu is not None and irq.vcpu != op.vcpu:
            yield "vgic:deactivation on another vcpu"
    elif isinstance(op, O.GuestSetGrpEn) and not op.enable and any(i.active for i in g.ap_list[op.vcpu]):
        yield "vgic:group disabled with interrupts active"
    elif isinstance(op, O.GuestAck):
        x = next((o[3] for o in obs if o[0] == "gic-iar"), None)
        yield "vgic:ack spurious" if x == 1023 else "vgic:ack"
    for o in obs:
        if o[0] == "psci-call":
            fn, ret = o[3]
            yield f"psci:{fn}->{ret}"
            if fn and fn.startswith("SYSTEM") and any(g.ap_list[n] for n in range(len(sut.vcpus))):
                yield "psci:system event with interrupts pending"
        elif o[0] == "psci-power" and "wake_up" in o[2]:
            yield "psci:CPU_ON wakes a vcpu"
        elif o[0] == "psci-power" and "sleep" in o[2]:
            yield "psci:KVM_RUN blocks (off)"
        elif o[0] == "psci-stage2":
            yield f"stage2:{o[3]}"
