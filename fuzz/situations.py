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

from collections.abc import Mapping
from typing import Any

from hvfuzz.model.pkvm.state import PKVM_HOST_STATE_DIRTY, Phase
from hvfuzz.model.vgic.irq import ICH_HCR_EOICOUNT_MASK
from hvfuzz.model.vocab import ops as O

#: what a distributor/redistributor write does (issue 15 item 6), for the situation names
_GIC_WRITES = {"ISACTIVER": "writes active state", "ICACTIVER": "writes active state",
               "ISPENDR": "writes pending state", "ICPENDR": "writes pending state", "IROUTER": "reroutes an SPI"}


def situations(op: O.Op, sut: Any, applied: bool) -> list[str]:
    """The situations step ``op`` (just executed on ``sut``) put the system in, in order (the
    runner counts them after every op: one dispatch on the op's type, no generator)."""
    if not applied:
        return []
    out: list[str] = []
    t = type(op)
    v = sut.vcpus[op.vcpu]
    obs = sut.last_observations
    # the exits by kind x DIRTY are pKVM's situations: a design without pKVM (GICv2) has no DIRTY
    if sut.pkvm:
        if t is O.GuestDir and v.phase is Phase.P1:  # a trapped DIR EL2 sent to the host
            out.append(f"exit:{v.arch.fault.kind}:dirty={int(bool(v.arch.iflags & PKVM_HOST_STATE_DIRTY))}")
        if t in _EXIT_OPS and v.phase is Phase.P1:
            f = v.arch.fault
            dirty = int(bool(v.arch.iflags & PKVM_HOST_STATE_DIRTY))
            out.append(f"exit:{f.kind}{':serror' if f.serror_pending else ''}:dirty={dirty}")
        elif t in _HOST_WRITES:
            out.append(f"host write {op.name} dirty={int(bool(v.arch.iflags & PKVM_HOST_STATE_DIRTY))}")
    if t is O.SchedOut:
        out.append(f"preempted in {v.phase.value}")
    elif t is O.SchedIn:
        out.append("sched-in")
    g = sut.vgic
    if t in _GIC_SITUATION_OPS:
        _gic(out, t, op, sut, g, v, obs)
    if g.migrated:
        out.append("vgic:prune migrates")  # vgic_prune_ap_list moved an interrupt to its new target
    for o in obs:
        k = o[0]
        if k == "psci-call":
            fn, ret = o[3]
            out.append(f"psci:{fn or 'UNKNOWN'}->{ret}")
            if fn and fn.startswith("SYSTEM") and any(g.ap_list[n] for n in range(len(sut.vcpus))):
                out.append("psci:system event with interrupts pending")
        elif k == "psci-power" and "wake_up" in o[2]:
            out.append("psci:CPU_ON wakes a vcpu")
        elif k == "psci-power" and "sleep" in o[2]:
            out.append("psci:KVM_RUN blocks (off)")
        elif k == "psci-stage2":
            out.append(f"stage2:{o[3]}")
    return out


#: the ops whose P1 after them is an exit (pKVM; GuestSmc is a GuestPsci: the types are matched exactly)
_EXIT_OPS = frozenset({O.GuestExit, O.GuestPsci, O.GuestSmc, O.GuestAccess, O.GuestGicWrite})
_HOST_WRITES = frozenset({O.UserSetReg, O.HostInjectSError, O.HostPmuOverflow})
#: the ops ``_gic`` names situations of
_GIC_SITUATION_OPS = frozenset({O.GuestEnter, O.GuestEoi, O.GuestDir, O.HandleExit, O.GuestSetGrpEn, O.GuestAck,
                                O.InjectMsi, O.GuestSetApr, O.GuestGicWrite, O.UserGicWrite, O.TimerFire,
                                O.InjectSgi})


def _gic(out: list[str], t: type[O.Op], op: Any, sut: Any, g: Any, v: Any, obs: Any) -> None:
    """The vgic situations of ``op`` (of type ``t``, in ``_GIC_SITUATION_OPS``)."""
    if t is O.GuestEnter:
        if v.phase is Phase.GUEST:
            if len(g.ap_list[op.vcpu]) > g.nr_lrs:
                out.append("vgic:more in flight than LRs")
            if any(i.active for i in g.ap_list[op.vcpu][g.nr_lrs:]):
                out.append("vgic:active outside the LRs")
        return
    if t is O.GuestEoi:
        hw = sut.vgic_cpu_of(op.vcpu)
        # an LR still holding the INTID in state invalid: a deactivation in the LRs since entry
        # (EOImode 0: this EOI's; the fold at the next exit clears the LRs)
        if not hw.vmcr.veoim and any(lr is not None and lr.intid == op.intid and not (lr.pending or lr.active)
                                     for lr in hw.lrs[: hw.used_lrs]):
            out.append("vgic:eoi deactivates")
        # an EOI (EOImode 0) of an interrupt active outside the LRs: EOIcount is what deactivates
        # it (at the next fold); an EOI of anything else that bumps it is the guest's mistake
        irq = g.lookup(op.vcpu, op.intid)
        if (hw.hcr & ICH_HCR_EOICOUNT_MASK and not hw.vmcr.veoim and irq is not None and irq.active
                and not any(lr is not None and lr.intid == op.intid for lr in hw.lrs[: hw.used_lrs])):
            out.append("vgic:eoicount")
    if t is O.GuestEoi or t is O.GuestDir:
        hw = sut.vgic_cpu_of(op.vcpu)
        # a HW LR the guest deactivated: the CPU deactivated its physical interrupt too
        if any(lr is not None and lr.hw and lr.intid == op.intid and not lr.valid for lr in hw.lrs[: hw.used_lrs]):
            out.append("vgic:hw lr deactivated")
    if t is O.GuestDir:
        how = next((o[3] for o in obs if o[0] == "gic-dir"), None)
        out.append(f"vgic:dir by {how}")
        irq = g.lookup(op.vcpu, op.intid)
        if irq is not None and op.intid >= 32 and irq.vcpu is not None and irq.vcpu != op.vcpu:
            out.append("vgic:deactivation on another vcpu")
    elif t is O.HandleExit:
        if any(o[0] == "exit-pc" and o[1] != op.vcpu for o in obs):
            # vgic_mmio_write_cactive (a trapped DIR's, or the guest's own GICD write's) kicked the others out
            out.append("vgic:mmio write halts the guest" if v.arch.fault.kind == "trap_mmio_vgic"
                       else "vgic:trapped dir halts the guest")
    elif t is O.GuestSetGrpEn:
        if not op.enable and any(i.active for i in g.ap_list[op.vcpu]):
            out.append("vgic:group disabled with interrupts active")
    elif t is O.GuestAck:
        x = next((o[3] for o in obs if o[0] == "gic-iar"), None)
        out.append("vgic:ack spurious" if x == 1023 else "vgic:ack")
        if x is not None and x >= 8192:
            out.append("vgic:lpi ack")
    elif t is O.InjectMsi:
        out.append("vgic:msi")
    elif t is O.GuestSetApr:
        out.append("vgic:apr written")
    elif t is O.GuestGicWrite or t is O.UserGicWrite:
        who = "guest" if t is O.GuestGicWrite else "userspace"
        out.append(f"vgic:{who} {_GIC_WRITES[op.reg]}")
        irq = g.lookup(op.vcpu, op.intid)
        if op.reg != "IROUTER" and irq is not None and irq.vcpu is not None:
            out.append(f"vgic:{who} writes the state of a queued interrupt")
    elif t is O.TimerFire:
        out.append("vgic:timer fires")
    elif t is O.InjectSgi:
        irq = g.lookup(op.vcpu, op.intid)
        if irq is not None and bin(irq.source).count("1") > 1:  # GICv2: one pending state per source
            out.append("vgic:sgi pending from two sources")


_PSCI_RETURNS: dict[str, tuple[int, ...]] = {
    # SUCCESS, INVALID_PARAMS (no such MPIDR), ALREADY_ON
    "CPU_ON": (0, -2, -4),
    # success (the caller is off: seen only if it runs again)
    "CPU_OFF": (0,),
    # ON, OFF, INVALID_PARAMS (KVM never answers ON_PENDING: CPU_ON makes the target RUNNABLE at once)
    "AFFINITY_INFO": (0, 1, -2),
    # the caller's x0 after a system event: INTERNAL_FAILURE (if it ever runs again)
    "SYSTEM_OFF": (-6,), "SYSTEM_RESET": (-6,), "SYSTEM_RESET2": (-6, -2),
    # PSCI 1.3 (KVM_ARM_PSCI_LATEST since v6.13)
    "PSCI_VERSION": (0x10003,),
    # the function ID asked about (``entry``): implemented (0), SYSTEM_OFF2 (its hibernate types:
    # 1, HIBERNATE_OFF) or not implemented / no function (NOT_SUPPORTED)
    "PSCI_FEATURES": (0, 1, -1),
    # KVM_CAP_ARM_SYSTEM_SUSPEND is not enabled by the modelled VMM
    "SYSTEM_SUSPEND": (-1,),
    # a valid hibernate type and a zero cookie: the system event; else INVALID_PARAMS
    "SYSTEM_OFF2": (-6, -2),
    "CPU_ON_32": (0, -2, -4), "SYSTEM_RESET2_32": (-6, -2),
    # a function ID in the PSCI range that no version defines
    "UNKNOWN": (-1,),
}


#: the component whose designs each topic of situations is about (``topic``)
TOPIC_COMPONENT: dict[str, str] = {"exit": "pkvm", "preempted": "pkvm", "sched-in": "pkvm", "host": "pkvm",
                                   "vgic": "vgic", "psci": "psci", "stage2": "psci"}


def topic(name: str) -> str:
    """The group a situation is listed under: the part before the first ``:`` (else the first word)."""
    return name.split(":", 1)[0] if ":" in name else name.split(" ", 1)[0]


def catalog(pmu_emulation: bool = False, component: str | None = None) -> tuple[str, ...]:
    """Every situation ``situations`` can name, so a session can say which it never reached
    (host PMU overflows only where the variant emulates a PMU); with ``component``, only those
    of its topics (``TOPIC_COMPONENT``)."""
    if component is not None:
        return tuple(n for n in catalog(pmu_emulation) if TOPIC_COMPONENT[topic(n)] == component)
    names: list[str] = []
    for kind in O.EXIT_KINDS:
        names += [f"exit:{kind}{s}:dirty={d}" for s in ("", ":serror") for d in (0, 1)
                  # not there: an IRQ or IL exit without SError pending with DIRTY set.  DIRTY is
                  # cleared by the flush at every entry and set again only by a put, the first run
                  # or a sync after a trap or an SError exit; the host cannot write the context
                  # while the vcpu runs (KVM_SET_ONE_REG and KVM_SET_VCPU_EVENTS take the vcpu
                  # mutex).  Zero in a 10-minute session of every correct design, as it must be.
                  if not (kind in ("irq", "il") and not s and d == 1)]
    names += [f"exit:{kind}:dirty={d}" for kind in O.SPECIAL_EXIT_KINDS for d in (0, 1)]
    names += [f"preempted in {p.value}" for p in (Phase.P0, Phase.P1)] + ["sched-in"]
    writers = ("UserSetReg", "HostInjectSError") + (("HostPmuOverflow",) if pmu_emulation else ())
    names += [f"host write {n} dirty={d}" for n in writers for d in (0, 1)]
    names += ["vgic:more in flight than LRs", "vgic:active outside the LRs", "vgic:eoi deactivates",
              "vgic:eoicount"]
    names += [f"vgic:dir by {how}"
              for how in ("hardware", "trap-ignored", "trap-fast-path", "trap-exit", "trap-eoicount")]
    names += ["vgic:deactivation on another vcpu", "vgic:trapped dir halts the guest",
              "vgic:group disabled with interrupts active", "vgic:ack",
              "vgic:ack spurious"]
    names += ["vgic:msi", "vgic:lpi ack", "vgic:timer fires", "vgic:hw lr deactivated",
              "vgic:sgi pending from two sources"]
    names += [f"vgic:{who} {what}" for who in ("guest", "userspace") for what in dict.fromkeys(_GIC_WRITES.values())
              if not (who == "userspace" and what == "reroutes an SPI")]
    names += [f"vgic:{who} writes the state of a queued interrupt" for who in ("guest", "userspace")]
    names += ["vgic:mmio write halts the guest", "vgic:apr written", "vgic:prune migrates"]
    names += [f"psci:{fn}->{ret}" for fn, rets in _PSCI_RETURNS.items() for ret in rets]
    names += ["psci:system event with interrupts pending", "psci:CPU_ON wakes a vcpu", "psci:KVM_RUN blocks (off)",
              "stage2:hit", "stage2:stage-2 fault"]
    return tuple(names)


def never_reached(counts: Mapping[str, int], pmu_emulation: bool = False,
                  component: str | None = None) -> tuple[str, ...]:
    """The catalogued situations (of ``component``) that ``counts`` never saw, in catalog order."""
    return tuple(n for n in catalog(pmu_emulation, component) if not counts.get(n))


def coverage_table(counts: Mapping[str, int], pmu_emulation: bool = False, component: str | None = None) -> str:
    """The semantic coverage table: every catalogued situation (of ``component``, and any other
    seen) with its count, grouped by topic, the ones never reached called out."""
    names = list(dict.fromkeys([*catalog(pmu_emulation, component), *sorted(counts)]))
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(topic(n), []).append(n)
    width = max(len(n) for n in names)
    lines = [f"semantic coverage: {sum(1 for n in names if counts.get(n))} of {len(names)} situations reached"]
    for t, members in groups.items():
        lines.append(f"  {t}:")
        lines += [f"    {n:<{width}}  {counts.get(n, 0):>9}" + ("  <- never" if not counts.get(n) else "")
                  for n in members]
    return "\n".join(lines)
