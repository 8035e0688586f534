"""Bounded-exhaustive mode: every trace up to K ops over a small alphabet, breadth-first, with
state hashing (the model-checking search TLC does, on the executable model itself).

The alphabet is a finite set of ops for a small configuration (``ALPHABETS``: one per component,
the ops and values that component's designs care about).  Every op is executable in every state,
so the traces of length <= K are all the words over the alphabet; the search visits the states
they reach instead.  A state is everything the future of an ``Execution`` depends on: both
systems (the variant and the reference) and every judge's own state (``state_key`` of each
member of the chain: the ideal GIC, the taint and sync windows of ``GicChecker``, ``ArchPsci``).
Two prefixes that reach the same state have the same futures and the same verdicts, so only the
first (shortest) is expanded.  Breadth-first, the
first failure found is a shortest failing trace over the alphabet.

Cost: the runner cannot clone a state cheaply (pickling one is ~40x a step), so a state is
rebuilt by replaying its prefix.  An op that applies on neither side and fails no oracle leaves
the state as it was (``tests/test_exhaustive.py`` checks this), so the next op is tried on the
same execution without a rebuild.

Interrupts outside the alphabet are never named by an op, so they keep their reset state; the
state key leaves them out (the same test checks that too).

A component's search may start from a fixed prologue (``PROLOGUES`` in ``model/vocab/ops.py``):
the vgic's brings the vcpus through boot (PMR raised, group 1 enabled: KVM resets VPMR to 0, which
masks everything) and injects the two SPIs, so the depth is spent on acknowledge, EOI, DIR and
EOIcount rather than on getting there.  Depth counts the ops after it; a counterexample's trace
starts with it, so it replays from reset.

No vacuous proofs: the search counts the semantic coverage (``fuzz/situations.py``) of every
step it explores, and ``hvfuzz exhaustive`` prints it and names the catalogued situations of the
component it never reached (``tests/test_exhaustive.py`` checks each alphabet reaches its core
ones).
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from hvfuzz.fuzz.runner import Execution, Verdict
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.system import System
from hvfuzz.model.variants import BUILTIN, Registry
from hvfuzz.model.vocab import ops as O


def _alphabet_of(component: str) -> Callable[[Config], tuple[O.Op, ...]]:
    """The ops of ``component``'s alphabet for a config: every op kind's instances for it
    (``OpSpec.alphabet`` in ``model/vocab/ops.py``), in opcode order.

    pkvm: exits of every kind (IRQ with and without SError pending, an illegal exception return,
    an SError, MMIO and sysreg traps, a userspace MMIO), preemption and migration, guest and host
    writes to registers the designs copy differently (a GPR, PSTATE, an FP register, an EL1
    sysreg in the timer range), userspace reads, SError injection, single-step, a PMU overflow.
    vgic: two SPIs configured (edge, level, or in group 0) and injected, the guest's acknowledge /
    EOI / DIR of each, EOImode 1, group enables, and the run loop around it.  psci: CPU_ON of the
    other vcpu, CPU_OFF, AFFINITY_INFO, SYSTEM_OFF, a stage-2 access, KVM_ARM_VCPU_INIT with and
    without POWER_OFF, KVM_SET/GET_MP_STATE, signals and the run loop."""
    def ops_of(c: Config) -> tuple[O.Op, ...]:
        return tuple(op for spec in O.OPS for op in spec.small(component, c))

    return ops_of


def _prologue_of(component: str) -> Callable[[Config], tuple[O.Op, ...]]:
    """The fixed prefix ``component``'s search starts from (``PROLOGUES`` in ``model/vocab/ops.py``;
    empty: from reset)."""
    make = O.PROLOGUES.get(component)
    return lambda c: tuple(make(c)) if make is not None else ()


@attrs.frozen
class Alphabet:
    """A component's small configuration, the ops the search enumerates over it, and the fixed
    prologue it starts from (the vgic's: SPIs configured and injected, vcpus in the guest with
    PMR raised; see ``_vgic_prologue``)."""

    component: str
    vcpus: int
    pcpus: int
    nr_lrs: int
    ops_of: Callable[[Config], tuple[O.Op, ...]]
    prologue_of: Callable[[Config], tuple[O.Op, ...]] = lambda c: ()

    def config(self, variant: str, vcpus: int | None = None, pcpus: int | None = None,
               nr_lrs: int | None = None, registry: Registry = BUILTIN) -> Config:
        return Config(variant=variant, vcpus=vcpus or self.vcpus, pcpus=pcpus or self.pcpus,
                      nr_lrs=nr_lrs or self.nr_lrs, registry=registry)


ALPHABETS: dict[str, Alphabet] = {c: Alphabet(c, 2, 2, 1, _alphabet_of(c), _prologue_of(c)) for c in O.COMPONENTS}


def intids_of(ops: tuple[O.Op, ...]) -> tuple[int, ...]:
    return tuple(sorted({i for op in ops if (i := getattr(op, "intid", None)) is not None}))


# --- the state key ---------------------------------------------------------------------------------
_SYSTEM_SKIP = frozenset(("_dispatch", "_obs", "vgic", "policy", "psci_policy", "pkvm", "protected", "hooks",
                          "pmu_emulation"))
_IRQ_ARRAYS = frozenset(("private", "spis", "policy", "named", "migrated"))


def _irqs(holder: Any, vcpus: int, intids: tuple[int, ...]) -> list[Any]:
    return [holder.lookup(v, i) for i in intids for v in (range(vcpus) if i < 32 else (0,))]


def _system_part(s: System, intids: tuple[int, ...]) -> tuple[Any, ...]:
    n = len(s.vcpus)
    return ([v for k, v in vars(s).items() if k not in _SYSTEM_SKIP],
            [v for k, v in vars(s.vgic).items() if k not in _IRQ_ARRAYS], _irqs(s.vgic, n, intids))


def state_key(ex: Execution, intids: tuple[int, ...]) -> bytes:
    """What the futures of ``ex`` depend on, hashed: both systems (every attribute, except the
    constant policies, the last op's observations and the interrupts no op of the alphabet
    names) and every judge's own state (``Execution.judges_state_key``: the ideal GIC and the
    sync windows, ``ArchPsci``, ... whatever judges the run has)."""
    part = (_system_part(ex.sut, intids), _system_part(ex.ref, intids), ex.judges_state_key(intids))
    return hashlib.blake2b(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL), digest_size=16).digest()


# --- the search ----------------------------------------------------------------------------------------
@attrs.frozen
class Level:
    depth: int
    new_states: int
    states: int
    executions: int
    seconds: float


@attrs.frozen
class ExhaustiveResult:
    config: Config
    alphabet: tuple[O.Op, ...]
    depth: int
    #: every trace up to this many ops was explored (less than ``depth`` when the search stopped at
    #: a counterexample or ran out of budget)
    explored_to: int
    states: int
    executions: int
    levels: tuple[Level, ...]
    #: the shortest counterexample per oracle found (in the order found: the first is a shortest)
    counterexamples: dict[str, tuple[Trace, Verdict]] = attrs.field(factory=dict)
    #: the execution budget ran out before ``depth``
    out_of_budget: bool = False
    #: the fixed prefix every explored trace starts with (``depth`` counts the ops after it)
    prologue: tuple[O.Op, ...] = ()
    #: semantic coverage (``fuzz/situations.py``): situation -> how many explored steps (a state
    #: and an op of the alphabet, each state expanded once) put the system in it; the prologue's
    #: own steps are not counted
    coverage: dict[str, int] = attrs.field(factory=dict)

    @property
    def counterexample(self) -> Trace | None:
        return next(iter(self.counterexamples.values()))[0] if self.counterexamples else None

    @property
    def verdict(self) -> Verdict | None:
        return next(iter(self.counterexamples.values()))[1] if self.counterexamples else None

    @property
    def traces_covered(self) -> int:
        """Words over the alphabet of length 1..explored_to: each reaches an explored state."""
        a = len(self.alphabet)
        return sum(a ** d for d in range(1, self.explored_to + 1))


def explore(config: Config, alphabet: tuple[O.Op, ...], depth: int, *, every_oracle: bool = False,
            oracle: str | None = None, max_executions: int | None = None,
            progress: Callable[[Level], None] | None = None,
            prologue: tuple[O.Op, ...] = ()) -> ExhaustiveResult:
    """Breadth-first search of the states reachable in at most ``depth`` ops of ``alphabet``
    after ``prologue`` (a fixed prefix; a counterexample's trace starts with it, so it replays
    from reset).

    Stops at the first counterexample (a shortest one), or, with ``oracle``, at the first that
    fails that oracle; with ``every_oracle`` it goes on to ``depth`` and keeps the shortest
    counterexample of each oracle (a failing state is not expanded: its trace has ended).
    Counts the semantic coverage of every explored step (``ExhaustiveResult.coverage``)."""
    intids = intids_of((*prologue, *alphabet))
    found: dict[str, tuple[Trace, Verdict]] = {}
    coverage: Counter[str] = Counter()
    executions = 0
    levels: list[Level] = []
    start = time.perf_counter()
    ex0 = Execution(config)
    for k, op in enumerate(prologue):
        v = ex0.step(op)
        if v is not None:  # the prologue itself fails: that is the (only) counterexample
            assert v.oracle is not None
            found[v.oracle] = (Trace(config, prologue[: k + 1]), v)
            return ExhaustiveResult(config, alphabet, depth, 0, 1, 0, (), found, prologue=prologue)
    seen = {state_key(ex0, intids)}
    frontier: list[tuple[int, ...]] = [()]

    def result(explored_to: int, out_of_budget: bool = False) -> ExhaustiveResult:
        return ExhaustiveResult(config, alphabet, depth, explored_to, len(seen), executions,
                                tuple(levels), found, out_of_budget, prologue, dict(coverage))

    for d in range(1, depth + 1):
        nxt: list[tuple[int, ...]] = []
        for prefix in frontier:
            if max_executions is not None and executions >= max_executions:
                return result(d - 1, out_of_budget=True)
            ex: Execution | None = None
            for i, op in enumerate(alphabet):
                if ex is None:
                    ex = _replay(config, prologue, alphabet, prefix)
                    ex.coverage = coverage
                executions += 1
                v = ex.step(op)
                if v is not None:
                    ex = None
                    assert v.oracle is not None
                    if v.oracle not in found:
                        found[v.oracle] = (Trace(config, (*prologue, *(alphabet[j] for j in (*prefix, i)))),
                                           attrs.evolve(v, step=len(prologue) + d - 1))
                        if oracle is None and not every_oracle or v.oracle == oracle:
                            levels.append(Level(d, len(nxt), len(seen), executions, time.perf_counter() - start))
                            return result(d - 1)
                    continue
                if not (ex.sut.last_observations[0][3] or ex.ref.last_observations[0][3]):
                    continue  # applied nowhere: the same state, keep going on it
                key = state_key(ex, intids)
                if key not in seen:
                    seen.add(key)
                    nxt.append((*prefix, i))
                ex = None
        frontier = nxt
        levels.append(Level(d, len(nxt), len(seen), executions, time.perf_counter() - start))
        if progress is not None:
            progress(levels[-1])
        if not frontier:
            break
    return result(depth)


def _replay(config: Config, prologue: tuple[O.Op, ...], alphabet: tuple[O.Op, ...],
            prefix: tuple[int, ...]) -> Execution:
    """The execution of ``prologue`` then ``prefix`` (indices into ``alphabet``), counting no
    coverage (the replayed steps were counted when first explored)."""
    ex = Execution(config)
    for op in prologue:
        ex.step(op)
    for j in prefix:
        ex.step(alphabet[j])
    return ex


def runs_for(variant: str | None, component: str | None = None,
             registry: Registry = BUILTIN) -> list[tuple[str, Alphabet]]:
    """What ``hvfuzz exhaustive`` checks: a variant over its component's alphabet (or over
    ``component``'s), or, with no variant, every correct design over its component's alphabet
    and the pKVM designs over the PSCI alphabet too (PSCI has no correct variant of its own: its
    calls cross the vcpu-state sync)."""
    if variant is not None:
        return [(variant, ALPHABETS[component or registry[variant].component])]
    correct = registry.correct()
    runs = [(v.name, ALPHABETS[v.component]) for v in correct if component in (None, v.component)]
    if component in (None, "psci"):
        runs += [(v.name, ALPHABETS["psci"]) for v in correct if v.component == "pkvm"]
    return runs
