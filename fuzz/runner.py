"""The only place traces execute.  ``run(trace) -> Verdict``.

The variant named in the trace's config runs side by side with the reference semantics; after
every op the chain of judges (``oracles/registry.py``: ``JUDGES``) sees the step: the differential
oracle compares what each let the host and guest see, the white-box invariants check the
systems, and the architectural oracles judge the ops and observations.  Drivers (Hypothesis,
CLI), replay, shrinking, export and benchmarks all go through ``Execution``/``run``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from hvfuzz.fuzz.situations import situations
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.reference import reference_system
from hvfuzz.model.regs import TIMER_INDICES
from hvfuzz.model.system import System
from hvfuzz.model.vocab.judging import Failure, Step
from hvfuzz.model.vocab.obs import GIC_ACTIVE, GIC_RPR, GUEST_ENTRY
from hvfuzz.model.vocab.ops import Op
from hvfuzz.oracles.registry import COMPONENTS, judges_for

#: observations a timeline leaves out (the entry's context is shown per vcpu; the running
#: priority and the active set feed the GIC oracle)
_NOT_SHOWN = frozenset((GUEST_ENTRY, GIC_RPR, GIC_ACTIVE))


@attrs.frozen
class Verdict:
    """Pass, or the first failing oracle with the step index (0-based) and a one-line reason."""

    ok: bool
    oracle: str | None = None
    step: int | None = None
    reason: str = ""
    variant_saw: Any = None
    reference_saw: Any = None

    @property
    def signature(self) -> str:
        return "pass" if self.ok else f"{self.oracle}"

    def to_json(self) -> dict[str, Any]:
        if self.ok:
            return {"status": "pass"}
        return {"status": "fail", "oracle": self.oracle, "step": self.step, "reason": self.reason,
                "variant_saw": self.variant_saw, "reference_saw": self.reference_saw}


PASS = Verdict(ok=True)


def build_system(config: Config, variant: str | None = None) -> System:
    v = config.registry[variant or config.variant]
    return System(config.vcpus, config.pcpus, config.protected, v.policy, v.pmu_emulation,
                  vgic=v.vgic, nr_lrs=config.nr_lrs, pri_bits=config.pri_bits, psci=v.psci, hooks=v.hooks)


class Execution:
    """A trace being executed op by op (the Hypothesis machine drives one incrementally)."""

    def __init__(self, config: Config, coverage: Counter[str] | None = None,
                 components: Iterable[str] = COMPONENTS) -> None:
        self.config = config
        #: semantic coverage (fuzz/situations.py), counted when given
        self.coverage = coverage
        self.sut = build_system(config)
        var = config.variant_def
        self.ref = reference_system(config.vcpus, config.pcpus, config.protected, var.pmu_emulation,
                                    vgic=var.vgic, nr_lrs=config.nr_lrs, pri_bits=config.pri_bits,
                                    psci=var.psci)
        #: every judge of the run by name (``JUDGES``), and the chain they run in after each op
        self.judges: dict[str, Any] = {}
        self._chain: list[Callable[[Step], Failure | None]] = []
        for j in judges_for(components) + var.judges:
            judge = self.judges[j.name] = j.make(config.vcpus, config.pri_bits, var.gic_version)
            if not j.systems:
                self._chain.append(judge.after)
            for system in (self.sut if side == "sut" else self.ref for side in j.systems):
                if judge.applies(system):
                    self._chain.append(_bind(judge, system))
        #: the architectural GIC (``.m``: ArchGic) and ArchPsci, under their old names
        self.gic = self.judges.get("gic")
        self.psci = self.judges.get("psci")
        self.steps = 0
        self.ops_applied = 0

    def step(self, op: Op) -> Verdict | None:
        i = self.steps
        self.steps += 1
        s_obs = self.sut.apply(op)
        r_obs = self.ref.apply(op)
        self.ops_applied += r_obs[0][3]
        applied = bool(s_obs[0][3])
        if self.coverage is not None:
            self.coverage.update(situations(op, self.sut, applied))
        step = Step(i, op, applied, s_obs, r_obs)
        for check in self._chain:
            f = check(step)
            if f is not None:
                return _verdict(f, i)
        return None

    def judges_state_key(self, intids: tuple[int, ...]) -> tuple[object, ...]:
        """Every judge's own state (``state_key``), in chain order: with the systems, what the
        future verdicts depend on (``fuzz/exhaustive.py``)."""
        return tuple(j.state_key(intids) for j in self.judges.values())


def _bind(invariant: Any, system: System) -> Callable[[Step], Failure | None]:
    """``invariant.after(step, system)`` as a chain member."""
    return functools.partial(invariant.after, system=system)  # C-level: no Python frame per call


def _verdict(f: Failure, step: int) -> Verdict:
    return Verdict(False, f.oracle, step, f.reason, f.variant_saw, f.reference_saw)


def run(trace: Trace, coverage: Counter[str] | None = None) -> Verdict:
    ex = Execution(trace.config, coverage)
    for op in trace.ops:
        v = ex.step(op)
        if v is not None:
            return v
    return PASS


@attrs.frozen
class StepRecord:
    """One row of a timeline: the op, whether it applied, and each vcpu's protocol state after."""

    index: int
    op: Op
    applied: bool
    vcpus: tuple[dict[str, Any], ...]
    observations: tuple[tuple[str, int, str, Any], ...]


def run_recorded(trace: Trace) -> tuple[Verdict, list[StepRecord]]:
    """``run`` plus a record per step for timelines (slower; for replay and export)."""
    ex = Execution(trace.config)
    rows: list[StepRecord] = []
    verdict = PASS
    for i, op in enumerate(trace.ops):
        v = ex.step(op)
        obs = ex.sut.last_observations
        rows.append(StepRecord(
            i, op, bool(obs[0][3]),
            tuple(_vcpu_state(ex, n) for n in range(trace.config.vcpus)),
            tuple(o for o in obs[1:] if o[0] not in _NOT_SHOWN),
        ))
        if v is not None:
            verdict = v
            break
    return verdict, rows


def _vcpu_state(ex: Execution, n: int) -> dict[str, Any]:
    """Protocol state of vcpu ``n`` and which copy holds the architectural (reference) state
    (timer registers aside: they live in the CPU while the vcpu is loaded)."""
    d = ex.sut.vcpu_summary(n)
    if ex.sut.pkvm:
        truth = list(ex.ref.vcpus[n].arch.ctxt)
        skip = set(TIMER_INDICES)

        def current(ctxt: list[int]) -> bool:
            return all(a == b for i, (a, b) in enumerate(zip(ctxt, truth, strict=True)) if i not in skip)

        d["host_copy"] = "current" if current(ex.sut.vcpus[n].arch.ctxt) else "stale"
        d["hyp_copy"] = "current" if current(ex.sut.hyp[n].vcpu.ctxt) else "stale"
    return d
