"""Hypothesis generation: a ``RuleBasedStateMachine`` adapting the moves of ``fuzz/gen`` (one
rule per move, its ``enabled`` predicate the rule's precondition).

The VM shape (vcpus, pcpus, protected) is drawn by an ``@initialize`` rule so that it shrinks
too.  Every move hands its ops to ``Execution.step`` (the runner) through the ``Driver`` — the
machine never executes anything itself.  A violation raises the ``OracleViolation`` subclass for
its oracle, so Hypothesis's shrinker keeps the same oracle while it shrinks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, NoReturn

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from hvfuzz.fuzz.gen import MOVES, Driver, HypothesisChooser, Move, config_args, start
from hvfuzz.fuzz.runner import Verdict
from hvfuzz.fuzz.trace import MAX_PCPUS, MAX_VCPUS, Trace
from hvfuzz.model.variants import BUILTIN, Registry
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.registry import ORACLES


class OracleViolation(AssertionError):
    """Raised by the machine when an oracle fails; one subclass per oracle."""

    verdict: Verdict


VIOLATIONS: dict[str, type[OracleViolation]] = {
    name: type(f"Violation_{name.replace('-', '_')}", (OracleViolation,), {}) for name in ORACLES
}


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
    registry: Registry = BUILTIN,
) -> type[RuleBasedStateMachine]:
    """A state machine class fuzzing ``variant`` against the reference.  ``nr_lrs`` fixes the
    number of list registers (default: drawn, small ones first so overflow is common)."""
    stats = stats if stats is not None else SessionStats()
    initial = config_args(variant, max_vcpus, max_pcpus, nr_lrs, registry)

    def violation(trace: Trace, v: Verdict) -> NoReturn:
        if on_failure is not None:
            on_failure(trace, v)
        err = VIOLATIONS.get(v.oracle or "applicability", OracleViolation)(f"{v.oracle} at step {v.step}: {v.reason}")
        err.verdict = v
        raise err

    def before_op() -> None:
        stats.ops += 1

    def after_op() -> None:
        if progress is not None and stats.ops % 512 == 0:
            progress(stats)

    class HvMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.driver: Driver | None = None
            stats.examples += 1

        @initialize(**{name: dom.strategy for name, dom in initial})
        def configure(self, **shape: Any) -> None:
            self.driver = start(variant, coverage=stats.coverage, registry=registry, on_violation=violation,
                                before_op=before_op,
                                after_op=after_op, **shape)

        @property
        def ops(self) -> list[O.Op]:
            return self.driver.ops if self.driver is not None else []

    for move in MOVES:
        setattr(HvMachine, move.name, _rule(move))
    HvMachine.__name__ = HvMachine.__qualname__ = f"HvMachine[{variant}]"
    return HvMachine


def _rule(move: Move) -> Any:
    """The Hypothesis rule of ``move``: its precondition, then ``data`` and the move's arguments
    drawn in order, then the move with the Hypothesis chooser."""

    def run(self: Any, data: Any, **args: Any) -> None:
        move.run(self.driver.view, HypothesisChooser(data), **args)

    run.__name__ = run.__qualname__ = move.name
    run.__doc__ = move.run.__doc__
    return precondition(lambda self: move.enabled(self.driver.view))(
        rule(data=st.data(), **{name: dom.strategy for name, dom in move.args})(run))
