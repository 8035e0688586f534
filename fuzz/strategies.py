"""Hypothesis generation: a ``RuleBasedStateMachine`` over the ops, one rule per op kind.

Preconditions follow the run-loop phase of each vcpu thread, so few generated ops are no-ops; the
VM shape (vcpus, pcpus, protected) is drawn by an ``@initialize`` rule so that it shrinks too.
Every rule builds an ``Op`` and hands it to ``Execution.step`` (the runner) — the machine never
executes anything itself.  A violation raises the ``OracleViolation`` subclass for its oracle, so
Hypothesis's shrinker keeps the same oracle while it shrinks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from hvfuzz.fuzz import ops as O
from hvfuzz.fuzz.runner import Execution, Verdict
from hvfuzz.fuzz.trace import MAX_PCPUS, MAX_VCPUS, Config, Trace
from hvfuzz.model.pkvm.state import Phase
from hvfuzz.model.regs import PSTATE_FAULT_BITS_64, SCTLR_ELx_EE
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
USER_OPS = ("set_reg", "get_reg", "inject_serror", "get_vcpu_events", "set_guest_debug")
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
    started: float = attrs.Factory(time.monotonic)
    last_report: float = attrs.Factory(time.monotonic)


def make_machine(
    variant: str,
    on_failure: Callable[[Trace, Verdict], None] | None = None,
    stats: SessionStats | None = None,
    progress: Callable[[SessionStats], None] | None = None,
    max_vcpus: int = MAX_VCPUS,
    max_pcpus: int = MAX_PCPUS,
) -> type[RuleBasedStateMachine]:
    """A state machine class fuzzing ``variant`` against the reference."""
    stats = stats if stats is not None else SessionStats()

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
            self.free_pcpus: list[int] = []
            stats.examples += 1

        @initialize(vcpus=VCPUS(max_vcpus), pcpus=PCPUS(max_pcpus), protected=PROTECTED)
        def configure(self, vcpus: int, pcpus: int, protected: bool) -> None:
            self.ex = Execution(Config(variant=variant, vcpus=vcpus, pcpus=pcpus, protected=protected))
            self._refresh()

        # --- helpers -----------------------------------------------------------------------------
        def _refresh(self) -> None:
            assert self.ex is not None
            ref = self.ex.ref
            self.out, self.p0, self.p1, self.guest, self.preempted = [], [], [], [], []
            for v in ref.vcpus:
                ph = v.phase
                if ph is Phase.OUT:
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
            elif v in self.p1:
                self._do(O.HandleExit(v))
            elif v in self.out:
                self._do(O.KvmRun(v, self._one(data, self.free_pcpus)))
            else:
                self._do(O.SchedIn(v, self._one(data, self.free_pcpus)))

        @precondition(lambda self: bool(self.guest))
        @rule(data=st.data(), reg=st.sampled_from(O.GUEST_REGS))
        def guest_write_reg(self, data: Any, reg: str) -> None:
            v = self._one(data, self.guest)
            self._do(O.GuestWriteReg(v, reg, data.draw(PSTATES if reg == "pstate" else VALUES)))

        @precondition(lambda self: bool(self.guest))
        @rule(data=st.data(), pstate=PSTATES)
        def guest_write_pstate(self, data: Any, pstate: int) -> None:
            self._do(O.GuestWriteReg(self._one(data, self.guest), "pstate", pstate))

        @precondition(lambda self: bool(self.p0 or self.p1))
        @rule(data=st.data())
        def preempt(self, data: Any) -> None:
            self._do(O.SchedOut(self._one(data, self.p0 + self.p1)))

        @precondition(lambda self: bool(self.p0))
        @rule(data=st.data())
        def exit_to_user(self, data: Any) -> None:
            self._do(O.ExitToUser(self._one(data, self.p0)))

        @precondition(lambda self: self.ex is not None and self.ex.sut.pmu_emulation)
        @rule(data=st.data(), counter=st.sampled_from([0, 1, 30]))
        def pmu_overflow(self, data: Any, counter: int) -> None:
            assert self.ex is not None
            self._do(O.HostPmuOverflow(self._one(data, list(range(len(self.ex.sut.vcpus)))), counter))

        @precondition(lambda self: bool(self.out))
        @rule(data=st.data(), what=st.sampled_from(USER_OPS))
        def userspace(self, data: Any, what: str) -> None:
            v = self._one(data, self.out)
            if what == "get_reg":
                self._do(O.UserGetReg(v, data.draw(st.sampled_from(O.ONE_REGS), label="reg")))
            elif what == "set_reg":
                reg = data.draw(st.sampled_from(O.ONE_REGS), label="reg")
                self._do(O.UserSetReg(v, reg, data.draw(PSTATES if reg == "pstate" else VALUES)))
            elif what == "inject_serror":
                self._do(O.HostInjectSError(v, data.draw(st.sampled_from([1, 0x10, 0]), label="esr")))
            elif what == "get_vcpu_events":
                self._do(O.UserGetVcpuEvents(v))
            else:
                self._do(O.UserSetGuestDebug(v, data.draw(st.booleans(), label="single_step")))

    HvMachine.__name__ = HvMachine.__qualname__ = f"HvMachine[{variant}]"
    return HvMachine
