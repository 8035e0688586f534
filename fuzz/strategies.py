"""Hypothesis generation: a ``RuleBasedStateMachine`` over the ops, one rule per op kind.

Preconditions follow the run-loop phase of each vcpu thread, so few generated ops are no-ops; the
VM shape (vcpus, pcpus, protected) is drawn by an ``@initialize`` rule so that it shrinks too.
Every rule builds an ``Op`` and hands it to ``Execution.step`` (the runner) — the machine never
executes anything itself.  A violation raises the ``OracleViolation`` subclass for its oracle, so
Hypothesis's shrinker keeps the same oracle while it shrinks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from hvfuzz.fuzz.runner import Execution, Verdict
from hvfuzz.fuzz.trace import MAX_PCPUS, MAX_VCPUS, Config, Trace
from hvfuzz.model.pkvm.state import Phase
from hvfuzz.model.regs import PSTATE_FAULT_BITS_64, SCTLR_ELx_EE
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.registry import ORACLES


class OracleViolation(AssertionError):
    """Raised by the machine when an oracle fails; one subclass per oracle."""

    verdict: Verdict


VIOLATIONS: dict[str, type[OracleViolation]] = {
    name: type(f"Violation_{name.replace('-', '_')}", (OracleViolation,), {}) for name in ORACLES
}

#: Values a register write draws from (shrinks towards the first).
VALUES = st.sampled_from([1, 2, 0x1000, SCTLR_ELx_EE, 0xFFFF_FFFF_FFFF_FFFF, 0])
#: PSTATE values a guest can be in: EL1h with SErrors unmasked first, then the other modes/masks.
PSTATES = st.sampled_from([0x5, PSTATE_FAULT_BITS_64, 0x4, 0x0, 0x105, 0x45, 0x1C5])
EXIT_KINDS = st.sampled_from(O.EXIT_KINDS)
#: SError-pending exits are rarer than plain ones (and shrink to "not pending").
SERROR_PENDING = st.sampled_from([False, False, False, True])
GPR = st.sampled_from([0, 1, 2, 30])
TRAPPED = st.sampled_from(O.TRAPPED_SYSREGS)
INTIDS = st.sampled_from(O.SPIS + O.SGIS + O.PPIS)
ENABLED = st.sampled_from([True, True, True, False])
PRIORITIES = st.sampled_from([0xA0, 0x80, 0x40, 0x48, 0x20, 0xA8, 0xF0])
PMRS = st.sampled_from([0xF0, 0xFF, 0x80, 0x30, 0x00])
GROUPS = st.sampled_from([1, 1, 0])
#: what userspace reads: the registers the run loop and exit handlers touch first, then the rest
GET_REGS = st.one_of(st.sampled_from(("pc", "x0", "pstate", "x1", "ESR_EL1", "x2")), st.sampled_from(O.ONE_REGS))
TAKES = st.sampled_from([True, True, True, False])
HANDLING = st.sampled_from(["eoi", "defer", "eoi+dir", "defer", "handoff"])
USER_OPS = ("set_reg", "get_reg", "inject_serror", "get_vcpu_events", "set_guest_debug")
#: PSCI calls, the power-state ones first
PSCI_CALLS = st.sampled_from(["CPU_ON", "CPU_OFF", "CPU_ON", "SYSTEM_RESET", "AFFINITY_INFO", "SYSTEM_OFF",
                              "SYSTEM_RESET2", "PSCI_VERSION"])
ENTRIES = st.sampled_from([0x80000, 0x1000, 0x90000])
#: Small VMs more often; protected VMs (full copy, no lazy sync) now and then.
PROTECTED = st.sampled_from([False, False, False, False, True])


def VCPUS(n: int) -> st.SearchStrategy[int]:  # noqa: N802
    return st.sampled_from([k for k in (1, 1, 2, 2, 3, 4) if k <= n])


def PCPUS(n: int) -> st.SearchStrategy[int]:  # noqa: N802
    return st.sampled_from([k for k in (1, 2, 2, 3, 4) if k <= n])


@attrs.define
class SessionStats:
    """Counters a fuzz session shares with the machines it creates (no global state)."""

    examples: int = 0
    ops: int = 0
    #: semantic coverage of the session (fuzz/situations.py)
    coverage: Counter[str] = attrs.Factory(Counter)
    started: float = attrs.Factory(time.monotonic)
    last_report: float = attrs.Factory(time.monotonic)


def make_machine(
    variant: str,
    on_failure: Callable[[Trace, Verdict], None] | None = None,
    stats: SessionStats | None = None,
    progress: Callable[[SessionStats], None] | None = None,
    max_vcpus: int = MAX_VCPUS,
    max_pcpus: int = MAX_PCPUS,
    nr_lrs: int | None = None,
) -> type[RuleBasedStateMachine]:
    """A state machine class fuzzing ``variant`` against the reference.  ``nr_lrs`` fixes the
    number of list registers (default: drawn, small ones first so overflow is common)."""
    from hvfuzz.model.variants import VARIANTS

    stats = stats if stats is not None else SessionStats()
    var = VARIANTS[variant]
    # a bug or seed variant is fuzzed with the ops of its component; correct ones with all
    regs_on = var.kind in ("correct", "reference") or var.component != "vgic"
    gic_on = var.kind in ("correct", "reference") or var.component == "vgic"
    psci_on = var.kind in ("correct", "reference") or var.component == "psci"
    lrs_strategy = st.just(nr_lrs) if nr_lrs is not None else st.sampled_from([1, 1, 2, 4, 3])
    vcpus_strategy = VCPUS(min(max_vcpus, 2)) if var.component == "vgic" and var.kind == "bug" else VCPUS(max_vcpus)

    pick = {n: st.integers(0, n - 1) for n in range(1, max(max_vcpus, max_pcpus) + 1)}

    class HvMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ex: Execution | None = None
            self.ops: list[O.Op] = []
            # vcpu lists by where their thread is, recomputed after every op (preconditions read them)
            self.out: list[int] = []
            self.p0: list[int] = []  # top of the run loop, scheduled
            self.p1: list[int] = []  # exit pending, scheduled
            self.guest: list[int] = []
            self.preempted: list[int] = []  # P0/P1, not scheduled
            self.blocked: list[int] = []  # asleep in kvm_vcpu_sleep (powered off)
            self.free_pcpus: list[int] = []
            self.all_vcpus: list[int] = []
            self.booted: set[int] = set()
            self.split_eoi = False
            self.pool: st.SearchStrategy[int] = INTIDS
            stats.examples += 1

        @initialize(vcpus=vcpus_strategy, pcpus=PCPUS(max_pcpus), protected=PROTECTED, lrs=lrs_strategy,
                    pool=st.lists(INTIDS, min_size=2, max_size=4, unique=True), split_eoi=st.booleans())
        def configure(self, vcpus: int, pcpus: int, protected: bool, lrs: int, pool: list[int],
                      split_eoi: bool) -> None:
            # the guest OS's GIC driver uses one EOImode on every CPU (Linux in a VM: EOImode 1)
            self.split_eoi = split_eoi
            # each example works with a few interrupts, so that they meet in the ap_list and the LRs
            self.pool = st.sampled_from(pool)
            self.ex = Execution(Config(variant=variant, vcpus=vcpus, pcpus=pcpus, protected=protected,
                                       nr_lrs=lrs), stats.coverage)
            self._refresh()

        # --- helpers -----------------------------------------------------------------------------
        def _refresh(self) -> None:
            assert self.ex is not None
            ref = self.ex.ref
            self.out, self.p0, self.p1, self.guest, self.preempted, self.blocked = [], [], [], [], [], []
            for v in ref.vcpus:
                ph = v.phase
                if v.sleeping and v.mp_state == "STOPPED":
                    self.blocked.append(v.idx)
                elif ph is Phase.OUT:
                    self.out.append(v.idx)
                elif ph is Phase.GUEST:
                    self.guest.append(v.idx)
                elif v.pcpu is None:
                    self.preempted.append(v.idx)
                elif ph is Phase.P0:
                    self.p0.append(v.idx)
                else:
                    self.p1.append(v.idx)
            self.free_pcpus = [c.idx for c in ref.pcpus if c.thread is None]
            self.all_vcpus = list(range(len(ref.vcpus)))

        def _gic_boot(self, v: int) -> None:
            """The guest's GIC driver initialises its CPU interface once: PMR, group 1, EOImode."""
            self.booted.add(v)
            self._do(O.GuestSetPmr(v, 0xF0))
            self._do(O.GuestSetGrpEn(v, 1, True))
            if self.split_eoi:
                self._do(O.GuestSetEoiMode(v, True))

        def _one(self, data: Any, lst: list[int]) -> int:
            return lst[data.draw(pick[len(lst)])] if len(lst) > 1 else lst[0]

        def _do(self, op: O.Op) -> None:
            assert self.ex is not None
            self.ops.append(op)
            stats.ops += 1
            v = self.ex.step(op)
            if progress is not None and stats.ops % 512 == 0:
                progress(stats)
            if v is not None:
                trace = Trace(self.ex.config, tuple(self.ops))
                if on_failure is not None:
                    on_failure(trace, v)
                err = VIOLATIONS[v.oracle or "applicability"](f"{v.oracle} at step {v.step}: {v.reason}")
                err.verdict = v
                raise err
            self._refresh()

        # --- rules ---------------------------------------------------------------------------------
        # Few rules, so that Hypothesis's uniform rule choice (and swarm testing) does not drown
        # the run loop in userspace ioctls: ``advance`` moves a vcpu thread along its natural path
        # (KVM_RUN, entry, exit, exit handling, sched-in); the others are the deviations.
        @precondition(lambda self: bool(
            (self.out and self.free_pcpus) or self.p0 or self.guest or self.p1
            or (self.preempted and self.free_pcpus)))
        @rule(data=st.data())
        def advance(self, data: Any) -> None:
            movable = self.p0 + self.guest + self.p1
            if self.free_pcpus:
                movable += self.out + self.preempted
            v = self._one(data, movable)
            if v in self.guest:
                kind = data.draw(EXIT_KINDS, label="kind")
                serror = data.draw(SERROR_PENDING, label="serror_pending")
                rt = data.draw(GPR) if kind.startswith("trap") else 0
                reg = data.draw(TRAPPED) if kind.startswith("trap_sysreg") else "ACTLR_EL1"
                value = data.draw(VALUES) if kind in ("trap_mmio_read", "trap_mmio_user") else 0
                self._do(O.GuestExit(v, kind, serror, rt, reg, value))
            elif v in self.p0:
                self._do(O.GuestEnter(v))
                assert self.ex is not None
                if gic_on and v not in self.booted and data.draw(st.sampled_from([True, True, True, False]),
                                                                 label="gic_boot"):
                    self._gic_boot(v)
                if gic_on:
                    self._guest_takes_irq(data, v)
            elif v in self.p1:
                self._do(O.HandleExit(v))
            elif v in self.out:
                self._do(O.KvmRun(v, self._one(data, self.free_pcpus)))
            else:
                self._do(O.SchedIn(v, self._one(data, self.free_pcpus)))

        @precondition(lambda self: (gic_on or psci_on) and len(self.all_vcpus) > 1
                      and len(self.guest) < len(self.all_vcpus))
        @rule(data=st.data())
        def run_all(self, data: Any) -> None:
            """Every vcpu thread goes its natural way into the guest (the SMP guest is up): the
            states where interrupts move between running vcpus need them all in the guest."""
            for v in self.all_vcpus:
                for _ in range(4):
                    if v in self.guest:
                        break
                    if v in self.p1:
                        self._do(O.HandleExit(v))
                    elif v in self.p0:
                        self._do(O.GuestEnter(v))
                    elif self.free_pcpus and v in self.out:
                        self._do(O.KvmRun(v, self._one(data, self.free_pcpus)))
                    elif self.free_pcpus and v in self.preempted:
                        self._do(O.SchedIn(v, self._one(data, self.free_pcpus)))
                    else:
                        break
                if gic_on and v in self.guest and v not in self.booted:
                    self._gic_boot(v)

        @precondition(lambda self: regs_on and bool(self.guest))
        @rule(data=st.data(), reg=st.sampled_from(O.GUEST_REGS))
        def guest_write_reg(self, data: Any, reg: str) -> None:
            v = self._one(data, self.guest)
            self._do(O.GuestWriteReg(v, reg, data.draw(PSTATES if reg == "pstate" else VALUES)))

        @precondition(lambda self: regs_on and bool(self.guest))
        @rule(data=st.data(), pstate=PSTATES)
        def guest_write_pstate(self, data: Any, pstate: int) -> None:
            self._do(O.GuestWriteReg(self._one(data, self.guest), "pstate", pstate))

        @precondition(lambda self: bool(self.p0 or self.p1))
        @rule(data=st.data())
        def preempt(self, data: Any) -> None:
            self._do(O.SchedOut(self._one(data, self.p0 + self.p1)))

        @precondition(lambda self: bool(self.p0 or self.blocked))
        @rule(data=st.data())
        def exit_to_user(self, data: Any) -> None:
            """A signal: KVM_RUN returns (KVM_EXIT_INTR), also from a thread asleep while powered off."""
            self._do(O.ExitToUser(self._one(data, self.p0 + self.blocked)))

        @precondition(lambda self: self.ex is not None and self.ex.sut.pmu_emulation)
        @rule(data=st.data(), counter=st.sampled_from([0, 1, 30]))
        def pmu_overflow(self, data: Any, counter: int) -> None:
            assert self.ex is not None
            self._do(O.HostPmuOverflow(self._one(data, list(range(len(self.ex.sut.vcpus)))), counter))

        # --- interrupts ------------------------------------------------------------------------------
        @precondition(lambda self: gic_on and self.ex is not None)
        @rule(data=st.data(), level=st.booleans())
        def inject_irq(self, data: Any, level: bool) -> None:
            """A device raises (or lowers) a line; an interrupt that is still disabled is first
            configured (enabled, priority, group, trigger, target) as a driver would."""
            assert self.ex is not None
            intid = data.draw(self.pool, label="intid")
            v = self._one(data, self.all_vcpus) if intid < 32 else 0
            mi = self.ex.gic.m.lookup(v, intid)
            assert mi is not None
            if not mi.enabled and not mi.active and not mi.pending:
                trig = data.draw(st.booleans(), label="level_triggered") if intid >= 16 else False
                target = self._one(data, self.all_vcpus) if intid >= 32 else 0
                self._do(O.ConfigIrq(v, intid, True, data.draw(PRIORITIES, label="priority"),
                                     data.draw(GROUPS, label="group"), trig, target))
                level = True
            self._do(O.InjectIrq(v, intid, level))
            # the injection kicks the target if it runs: it exits and re-enters (flushing the LRs)
            t = self.ex.gic.m.lookup(v, intid).target if intid >= 32 else v  # type: ignore[union-attr]
            if t in self.guest and data.draw(st.sampled_from([True, True, False]), label="kick"):
                self._do(O.GuestExit(t, "irq"))
                self._do(O.HandleExit(t))
                if t in self.p0:
                    self._do(O.GuestEnter(t))
                    self._guest_takes_irq(data, t)

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data(), n=st.integers(2, 3))
        def interrupt_burst(self, data: Any, n: int) -> None:
            """Several devices fire at one running vcpu at once (configured on first use and routed to
            it), which is kicked: more interrupts in flight than LRs is the common case here."""
            assert self.ex is not None
            v = self._one(data, self.guest)
            m = self.ex.gic.m
            for _ in range(n):
                intid = data.draw(self.pool, label="intid")
                mi = m.lookup(v, intid)
                assert mi is not None
                if not mi.enabled and not mi.active and not mi.pending:
                    trig = data.draw(st.booleans(), label="level_triggered") if intid >= 16 else False
                    self._do(O.ConfigIrq(v if intid < 32 else 0, intid, True, data.draw(PRIORITIES, label="priority"),
                                         data.draw(GROUPS, label="group"), trig, v))
                self._do(O.InjectIrq(v if intid < 32 else 0, intid, True))
            if v in self.guest:
                self._do(O.GuestExit(v, "irq"))
                self._do(O.HandleExit(v))
                if v in self.p0:
                    self._do(O.GuestEnter(v))
                    self._guest_takes_irq(data, v)

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data(), n=st.integers(2, 3), unwind=st.integers(0, 3))
        def preemption_chain(self, data: Any, n: int, unwind: int) -> None:
            """Nested interrupts (vgic_irq.c test_inject_preemption): each new interrupt is more
            urgent than the last and preempts its handler, so actives pile up beyond the LRs; then
            the handlers return, innermost first (``unwind`` of them)."""
            assert self.ex is not None
            v = self._one(data, self.guest)
            m = self.ex.gic.m
            prios = sorted(data.draw(st.lists(PRIORITIES, min_size=n, max_size=n, unique=True), label="prios"),
                           reverse=True)
            for prio in prios:
                if v not in self.guest:
                    return
                intid = data.draw(self.pool, label="intid")
                mi = m.lookup(v, intid)
                assert mi is not None
                if mi.active or mi.pending:
                    continue
                self._do(O.ConfigIrq(v if intid < 32 else 0, intid, True, prio, 1, False, v))
                self._do(O.InjectIrq(v if intid < 32 else 0, intid, True))
                self._do(O.GuestExit(v, "irq"))
                self._do(O.HandleExit(v))
                if v not in self.p0:
                    return
                self._do(O.GuestEnter(v))
                self._do(O.GuestAck(v, 1))
            stack = m.cpus[v].ack_stack
            for _ in range(min(unwind, len(stack))):
                if v not in self.guest:
                    return
                intid, g = stack[-1]
                self._do(O.GuestEoi(v, g, intid))
                if m.cpus[v].veoim:
                    self._do(O.GuestDir(v, intid))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data(), pmr=PMRS, grp0=st.sampled_from([False, True]))
        def guest_gic_setup(self, data: Any, pmr: int, grp0: bool) -> None:
            """What a guest's GIC driver does at boot: PMR, group 1 (and maybe group 0) enabled."""
            v = self._one(data, self.guest)
            self._do(O.GuestSetPmr(v, pmr))
            self._do(O.GuestSetGrpEn(v, 1, True))
            if grp0:
                self._do(O.GuestSetGrpEn(v, 0, True))

        def _guest_takes_irq(self, data: Any, v: int, depth: int = 0) -> None:
            """Right after an entry a guest with interrupts unmasked takes the vIRQ: acknowledge, then
            EOI, EOI+DIR (EOImode 1), or defer the end of the handler (nested / deferred deactivation)."""
            assert self.ex is not None
            if v not in self.guest or not data.draw(TAKES, label="takes_irq"):
                return
            group = data.draw(GROUPS, label="group")
            self._do(O.GuestAck(v, group))
            x = self.ex.sut.last_observations[-1][3]
            if x == 1023:
                # nothing new to take: an interrupted (deferred) handler resumes and ends (LIFO EOI)
                stack = self.ex.gic.m.cpus[v].ack_stack
                if stack and data.draw(st.booleans(), label="finish_deferred"):
                    intid, g = stack[-1]
                    self._do(O.GuestEoi(v, g, intid))
                    # the priority drop unmasks what was waiting: the CPU takes it at once
                    if depth < 2:
                        self._guest_takes_irq(data, v, depth + 1)
                return
            how = data.draw(HANDLING, label="handling")
            if how == "defer":
                return
            self._do(O.GuestEoi(v, group, x))
            m = self.ex.gic.m
            if how == "eoi+dir" and m.cpus[v].veoim:
                self._do(O.GuestDir(v, x))
            elif how == "handoff" and m.cpus[v].veoim and x >= 32:
                # the deactivation is handed to another running vcpu (vgic_irq.c asym_dir)
                others = [w for w in self.guest if w != v and m.cpus[w].veoim]
                self._do(O.GuestDir(self._one(data, others) if others else v, x))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data())
        def guest_handle_irq(self, data: Any) -> None:
            """A well-behaved handler: acknowledge; then EOI, EOI+DIR, or defer."""
            self._guest_takes_irq(data, self._one(data, self.guest))

        @precondition(lambda self: gic_on and self.ex is not None)
        @rule(data=st.data(), enabled=ENABLED, prio=PRIORITIES, group=GROUPS, level=st.booleans())
        def config_irq(self, data: Any, enabled: bool, prio: int, group: int, level: bool) -> None:
            intid = data.draw(self.pool, label="intid")
            v = self._one(data, self.all_vcpus)
            target = self._one(data, self.all_vcpus) if intid >= 32 else 0
            self._do(O.ConfigIrq(v if intid < 32 else 0, intid, enabled, prio, group, level, target))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data(), group=GROUPS)
        def guest_ack(self, data: Any, group: int) -> None:
            self._do(O.GuestAck(self._one(data, self.guest), group))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data())
        def guest_eoi(self, data: Any) -> None:
            """The guest finishes deferred handlers: EOIs of the last acknowledged, not yet dropped
            interrupts, innermost first (G1: LIFO)."""
            assert self.ex is not None
            v = self._one(data, self.guest)
            stack = self.ex.gic.m.cpus[v].ack_stack
            if not stack:
                return
            for _ in range(data.draw(st.integers(1, len(stack)), label="how_many")):
                intid, g = stack[-1]
                self._do(O.GuestEoi(v, g, intid))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data())
        def guest_dir(self, data: Any) -> None:
            """DIR of an interrupt the architecture holds active (any order; SPIs from any vcpu)."""
            assert self.ex is not None
            v = self._one(data, self.guest)
            m = self.ex.gic.m
            # SPIs acknowledged on another vcpu first (asymmetric deactivation, vgic_irq.c asym_dir)
            others = [i.intid for i in m.spis if i.active and i.target != v]
            active = others if others and data.draw(st.booleans(), label="asymmetric") else (
                [i.intid for i in m.private[v] if i.active] + [i.intid for i in m.spis if i.active])
            if not active:
                return
            self._do(O.GuestDir(v, active[data.draw(pick[len(active)]) if len(active) > 1 else 0]))

        @precondition(lambda self: gic_on and len(self.guest) > 1)
        @rule(data=st.data())
        def handoff_deactivation(self, data: Any) -> None:
            """An SPI handled on one vcpu (acknowledged, EOId with EOImode 1) is deactivated by
            another running vcpu (vgic_irq.c's asymmetric deactivation); then the owner syncs."""
            assert self.ex is not None
            m = self.ex.gic.m
            spis = [i for i in m.spis if i.active and i.target in self.guest]
            if not spis:
                return
            irq = spis[data.draw(pick[len(spis)]) if len(spis) > 1 else 0]
            others = [w for w in self.guest if w != irq.target and m.cpus[w].veoim]
            if not others:
                return
            self._do(O.GuestDir(self._one(data, others), irq.intid))
            owner = irq.target
            if owner in self.guest and data.draw(TAKES, label="owner_syncs"):
                self._do(O.GuestExit(owner, "irq"))
                self._do(O.HandleExit(owner))
                if owner in self.p0:
                    self._do(O.GuestEnter(owner))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data(), value=PMRS)
        def guest_set_pmr(self, data: Any, value: int) -> None:
            self._do(O.GuestSetPmr(self._one(data, self.guest), value))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data(), group=GROUPS, value=st.sampled_from([0, 3, 2, 4]))
        def guest_set_bpr(self, data: Any, group: int, value: int) -> None:
            """G2: only with no active priority."""
            assert self.ex is not None
            v = self._one(data, self.guest)
            if self.ex.gic.m.cpus[v].active_priorities():
                return
            self._do(O.GuestSetBpr(v, group, value))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data(), group=GROUPS, enable=st.sampled_from([True, True, False]))
        def guest_set_grpen(self, data: Any, group: int, enable: bool) -> None:
            self._do(O.GuestSetGrpEn(self._one(data, self.guest), group, enable))

        @precondition(lambda self: gic_on and bool(self.guest))
        @rule(data=st.data(), mode=st.booleans())
        def guest_set_eoimode(self, data: Any, mode: bool) -> None:
            self._do(O.GuestSetEoiMode(self._one(data, self.guest), mode))

        @precondition(lambda self: regs_on and bool(self.out))
        @rule(data=st.data(), what=st.sampled_from(USER_OPS))
        def userspace(self, data: Any, what: str) -> None:
            v = self._one(data, self.out)
            if what == "get_reg":
                self._do(O.UserGetReg(v, data.draw(GET_REGS, label="reg")))
            elif what == "set_reg":
                reg = data.draw(st.sampled_from(O.ONE_REGS), label="reg")
                self._do(O.UserSetReg(v, reg, data.draw(PSTATES if reg == "pstate" else VALUES)))
            elif what == "inject_serror":
                self._do(O.HostInjectSError(v, data.draw(st.sampled_from([1, 0x10, 0]), label="esr")))
            elif what == "get_vcpu_events":
                self._do(O.UserGetVcpuEvents(v))
            else:
                self._do(O.UserSetGuestDebug(v, data.draw(st.booleans(), label="single_step")))

        # --- PSCI, power state, stage-2 ---------------------------------------------------------------
        @precondition(lambda self: psci_on and bool(self.guest))
        @rule(data=st.data(), fn=PSCI_CALLS, entry=ENTRIES, context=st.sampled_from([0, 7, 0xFFFF_FFFF_FFFF_FFFF]))
        def guest_psci(self, data: Any, fn: str, entry: int, context: int) -> None:
            """A PSCI call and, usually, its handling; after a system event the other running vcpus
            take the kick (an IRQ exit) and go back to their run loops."""
            assert self.ex is not None
            v = self._one(data, self.guest)
            n = len(self.ex.ref.vcpus)
            target = data.draw(st.sampled_from(list(range(n)) + [n]), label="target") if fn != "SYSTEM_RESET2" \
                else data.draw(st.sampled_from([0, 0, 1]), label="reset_type")
            self._do(O.GuestPsci(v, fn, target, entry, context))
            if not data.draw(TAKES, label="handled"):
                return
            self._do(O.HandleExit(v))
            if fn == "CPU_ON" and target in self.preempted and self.free_pcpus and data.draw(TAKES, label="wake"):
                # the woken target's thread runs at once on another CPU, racing its waker
                self._do(O.SchedIn(target, self._one(data, self.free_pcpus)))
                if target in self.p0:
                    self._do(O.GuestEnter(target))
            if fn.startswith("SYSTEM") and data.draw(TAKES, label="kick"):
                for t in list(self.guest):
                    self._do(O.GuestExit(t, "irq"))
                    self._do(O.HandleExit(t))
            elif v in self.p0 and data.draw(TAKES, label="reenter"):
                self._do(O.GuestEnter(v))

        @precondition(lambda self: psci_on and bool(self.guest))
        @rule(data=st.data(), page=st.sampled_from(O.PAGES))
        def guest_access(self, data: Any, page: int) -> None:
            """A load; a stage-2 fault is handled and the access re-executed."""
            v = self._one(data, self.guest)
            self._do(O.GuestAccess(v, page))
            if v in self.p1:
                self._do(O.HandleExit(v))
                if v in self.p0:
                    self._do(O.GuestEnter(v))

        @precondition(lambda self: psci_on and bool(self.out))
        @rule(data=st.data(), what=st.sampled_from(["init", "init", "init_off", "set_runnable", "set_stopped",
                                                     "get"]))
        def user_power(self, data: Any, what: str) -> None:
            """The VMM's side: re-initialise a vcpu after a reset (secondaries with POWER_OFF, the
            boot vcpu given an entry point), KVM_SET/GET_MP_STATE."""
            v = self._one(data, self.out)
            if what.startswith("init"):
                self._do(O.UserVcpuInit(v, what == "init_off"))
                if what == "init" and data.draw(st.booleans(), label="set_pc"):
                    self._do(O.UserSetReg(v, "pc", data.draw(ENTRIES, label="pc")))
            elif what == "get":
                self._do(O.UserGetMpState(v))
            else:
                self._do(O.UserSetMpState(v, "RUNNABLE" if what == "set_runnable" else "STOPPED"))

    HvMachine.__name__ = HvMachine.__qualname__ = f"HvMachine[{variant}]"
    return HvMachine
