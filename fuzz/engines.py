"""The engines of a fuzz session: what makes the inputs between the corpus replay and the shrinker.

Every engine runs one worker's session on one variant (``fuzz_variant`` in ``fuzz/session.py``
calls it; ``--jobs`` runs several sessions): it gets an ``EngineRun`` (variant, seed, budget, the
corpus on the variant, the shared ``SessionStats``) and reports the first failing trace through
``EngineRun.fail``.  Three engines; all but ``stateful`` speak the byte format of
``fuzz/decode.py`` (decoded while it runs, every step a move enabled in the current state):

- ``native``: a seeded PRNG's bytes, and mutation of the inputs that reached new semantic coverage
  (AFL's queue, with the situation counters of ``fuzz/situations.py``, their hit-count buckets and
  their successions as the coverage map); swarm testing: each fresh input switches a random subset
  of the moves off (its header's mask); corpus traces join the queue as literal steps, and
  mutants of them (``fuzz.mutate``) are run too;
- ``hypothesis``: Hypothesis draws the header and the steps (``st.binary``), so its example
  database, ``target()`` (the situations an example reached) and health checks work; corpus
  mutants alternate with its batches;
- ``stateful``: the ``RuleBasedStateMachine`` of ``fuzz/strategies.py`` (a Hypothesis draw per
  field), with corpus mutants alternating; the engine of earlier releases.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import attrs

from hvfuzz.fuzz.decode import HEADER, LITERAL, MAX_OPS, STEP, SWARM, Header, encode, execute, gates_for
from hvfuzz.fuzz.gen import RandomChooser, config_args
from hvfuzz.fuzz.gen import weights as D
from hvfuzz.fuzz.mutate import Mutator
from hvfuzz.fuzz.runner import Execution, Verdict, run
from hvfuzz.fuzz.strategies import SessionStats
from hvfuzz.fuzz.trace import Trace
from hvfuzz.model.variants import BUILTIN, Registry
from hvfuzz.model.vgic.irq import ICH_HCR_TDIR
from hvfuzz.model.vocab import ops as O

ENGINES = ("native", "hypothesis", "stateful")
#: the engine ``hvfuzz fuzz`` uses unless told: the fastest at finding the catalog's bugs from
#: scratch (bench/engines.py; README "Engines")
DEFAULT_ENGINE = "native"


class Found(Exception):
    """An engine's input failed an oracle (``EngineRun.fail`` raises it)."""


@attrs.define
class EngineRun:
    """One engine run: what it fuzzes, its budget, and where it reports."""

    variant: str
    seed: int
    stats: SessionStats
    #: the corpus traces, on this variant (already replayed)
    corpus: list[Trace]
    deadline: float | None = None
    #: inputs the engine makes (the session's ``max_examples``)
    max_examples: int | None = None
    nr_lrs: int | None = None
    progress: Callable[[SessionStats], None] | None = None
    #: the first failing trace, its verdict and what found it
    failure: tuple[Trace, Verdict, str] | None = None
    #: corpus mutants run (``fuzz.mutate``)
    mutants: int = 0
    #: the Hypothesis engines: examples per seeded batch, corpus mutants after each
    batch_examples: int = 100
    mutants_per_batch: int = 300
    #: what ``deadline`` is measured on
    clock: Callable[[], float] = time.monotonic
    #: where ``variant`` is defined (``fuzz/plugins.py``)
    registry: Registry = BUILTIN
    #: oracles already found (``hvfuzz fuzz --keep-going``; the caller may add to it while the
    #: engine runs): an input failing one is counted in ``repeats``, and the engine goes on
    known: AbstractSet[str] = frozenset()
    repeats: dict[str, int] = attrs.Factory(dict)

    def is_known(self, verdict: Verdict) -> bool:
        """Count ``verdict`` if its oracle is ``known`` (and say so)."""
        if verdict.oracle not in self.known:
            return False
        self.repeats[verdict.oracle or ""] = self.repeats.get(verdict.oracle or "", 0) + 1
        return True

    def fail(self, trace: Trace, verdict: Verdict, found_by: str) -> None:
        """Report a failing input: the engine stops (``Found``), unless its oracle is known."""
        if self.is_known(verdict):
            return
        if self.failure is None:
            self.failure = (trace, verdict, found_by)
        raise Found

    def spent(self) -> bool:
        if self.max_examples is not None and self.stats.examples >= self.max_examples:
            return True
        return self.deadline is not None and self.clock() >= self.deadline

    def tick(self) -> None:
        now = time.monotonic()
        if self.progress is not None and now - self.stats.last_report >= 2.0:
            self.stats.last_report = now
            self.progress(self.stats)


def run_engine(name: str, er: EngineRun) -> None:
    """Run engine ``name`` until its budget is spent or it finds a failure (``er.failure``)."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
    try:
        {"native": native, "hypothesis": hypothesis_bytes, "stateful": stateful}[name](er)
    except Found:
        pass


# --- semantic coverage as a map ----------------------------------------------------------------------
class Trail(Counter[str]):
    """The situations of one input (``Execution(coverage=...)`` updates it once per op), and the
    successions between them: its features are each situation with its AFL hit-count bucket and
    each pair of situations met one after the other."""

    def __init__(self) -> None:
        super().__init__()
        self.edges: set[tuple[str, str]] = set()
        self.states: set[tuple[object, ...]] = set()
        self.last = ""

    def update(self, it: Iterable[str] | None = None, /, **kw: int) -> None:  # type: ignore[override]
        if it is None or isinstance(it, Mapping):
            super().update(it, **kw)
            return
        if not it:
            return
        edges, last = self.edges, self.last
        for s in it:
            self[s] += 1
            edges.add((last, s))
            last = s
        self.last = last

    def observe(self, ex: Execution, op: O.Op) -> None:
        """State feedback after each GIC or run-loop op: the op, and the list registers and
        ICH_HCR_EL2.TDIR of the CPU interface its vcpu is on (what interrupt state it met)."""
        if ex.sut.vgic is None or type(op) not in _GIC_STATE_OPS:
            return
        hw = ex.sut.vgic_cpu_of(op.vcpu)
        if hw is None:
            return
        lrs = tuple(sorted(lr.state() for lr in hw.lrs[:hw.used_lrs] if lr is not None))
        self.states.add((op.name, lrs, bool(hw.hcr & ICH_HCR_TDIR)))

    def features(self) -> set[object]:
        out: set[object] = {(s, _bucket(n)) for s, n in self.items()}
        out.update(self.edges)
        out.update(self.states)
        return out


_GIC_STATE_OPS = frozenset({O.GuestEnter, O.GuestExit, O.GuestAck, O.GuestEoi, O.GuestDir, O.InjectIrq})


def _bucket(n: int) -> int:
    """AFL's hit-count classes: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+."""
    if n <= 3:
        return n
    return 4 if n < 8 else 8 if n < 16 else 16 if n < 32 else 32 if n < 128 else 128


# --- native ----------------------------------------------------------------------------------------
#: the step counts of fresh inputs (about 2.5 ops a step)
FRESH_STEPS = (6, 10, 16, 24, 32, 48)
MAX_STEPS = MAX_OPS // 2


@attrs.define
class NativeFuzzer:
    """The native loop's input maker: fresh inputs from a seeded PRNG (swarm: a random subset of
    the moves switched off per input) and byte-level mutants of the queue of inputs that reached
    new coverage.  Deterministic for a given ``random.Random``."""

    variant: str
    rng: random.Random
    nr_lrs: int | None = None
    registry: Registry = BUILTIN
    queue: list[bytes] = attrs.Factory(list)
    seen: set[object] = attrs.Factory(set)
    _pools: dict[tuple[int, ...], int] = attrs.Factory(
        lambda: {tuple(p): i for i, p in reversed(list(enumerate(D.POOLS.values)))})

    def header(self) -> bytes:
        ch = RandomChooser(self.rng)
        args = {name: ch.choice(dom) for name, dom in config_args(self.variant, nr_lrs=self.nr_lrs,
                                                                           registry=self.registry)}
        # swarm testing: a quarter of the inputs have every move, the others each switched off with p 1/2
        mask = 0 if self.rng.random() < 0.25 else self.rng.getrandbits(len(SWARM))
        return Header(args["vcpus"], args["pcpus"], args["protected"], args["lrs"], self._pools[tuple(args["pool"])],
                      args["split_eoi"], mask).to_bytes()

    def step(self) -> bytes:
        b = bytearray(self.rng.randbytes(STEP))
        if b[0] == LITERAL:
            b[0] = self.rng.randrange(LITERAL)
        return bytes(b)

    def fresh(self) -> bytes:
        return self.header() + b"".join(self.step() for _ in range(self.rng.choice(FRESH_STEPS)))

    def admit(self, data: bytes, trail: Trail) -> bool:
        """Queue ``data`` if it reached a feature no earlier input did."""
        new = trail.features() - self.seen
        if not new:
            return False
        self.seen |= new
        self.queue.append(data)
        return True

    def mutant(self) -> bytes:
        rng = self.rng
        data = bytearray(rng.choice(self.queue))
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 6))):
            self._mutate(data)
        if self.nr_lrs is not None:
            data[:HEADER] = attrs.evolve(Header.parse(bytes(data)), nr_lrs=self.nr_lrs).to_bytes()
        return bytes(data[:HEADER + STEP * MAX_STEPS])

    def _mutate(self, data: bytearray) -> None:
        rng = self.rng
        steps = max(0, (len(data) - HEADER) // STEP)
        kind = rng.choice(("byte", "byte", "flip", "selector", "step", "insert", "insert", "delete", "duplicate",
                           "splice", "header", "swarm"))
        at = HEADER + STEP * rng.randrange(steps + 1)  # a step boundary
        if kind in ("byte", "flip", "selector") and steps:
            i = HEADER + rng.randrange(len(data) - HEADER)
            if kind == "selector":
                i -= (i - HEADER) % STEP
                data[i] = rng.randrange(LITERAL)
            elif kind == "byte":
                data[i] = rng.randrange(256)
            else:
                data[i] ^= 1 << rng.randrange(8)
        elif kind == "step" and steps:
            at = min(at, len(data) - STEP)
            data[at:at + STEP] = self.step()
        elif kind == "delete" and steps:
            del data[at:at + STEP * rng.choice((1, 1, 2, 4))]
        elif kind == "duplicate" and steps:
            src = HEADER + STEP * rng.randrange(steps)
            chunk = data[src:src + STEP * rng.choice((1, 2, 3, 4))]
            data[at:at] = chunk
        elif kind == "splice":
            other = rng.choice(self.queue)
            j = HEADER + STEP * rng.randrange(max(1, (len(other) - HEADER) // STEP + 1))
            data[at:] = other[j:]
        elif kind == "header":
            h = Header.parse(bytes(data))
            what = rng.choice(("vcpus", "pcpus", "nr_lrs", "pool", "split_eoi", "protected"))
            h = attrs.evolve(h, **{what: {"vcpus": lambda: rng.randint(1, 4), "pcpus": lambda: rng.randint(1, 4),
                                          "nr_lrs": lambda: rng.choice((1, 1, 2, 3, 4)),
                                          "pool": lambda: rng.randrange(len(D.POOLS)),
                                          "split_eoi": lambda: not h.split_eoi,
                                          "protected": lambda: not h.protected}[what]()})
            data[:HEADER] = h.to_bytes()
        elif kind == "swarm":
            h = Header.parse(bytes(data))
            data[:HEADER] = attrs.evolve(h, mask=h.mask ^ (1 << rng.randrange(len(SWARM)))).to_bytes()
        else:
            data[at:at] = self.step()


def native(er: EngineRun) -> None:
    rng = random.Random(er.seed)
    nf = NativeFuzzer(er.variant, rng, er.nr_lrs, er.registry)
    stats = er.stats
    for t in er.corpus:  # the corpus seeds the queue (its traces as literal steps)
        try:
            data = encode(t)
        except ValueError:
            continue
        trail = Trail()
        run(t, trail)
        nf.admit(data, trail)
    mutator = Mutator(er.corpus, random.Random(er.seed), fixed_nr_lrs=er.nr_lrs) if er.corpus else None
    gates = gates_for(er.variant, registry=er.registry)  # once, not per input
    while not er.spent():
        trail = Trail()
        r = rng.random()
        if mutator is not None and r < 0.2:
            t = mutator.mutant()
            er.mutants += 1
            v = run(t, trail)
            found_by, data = "corpus mutation", None
        else:
            data = nf.fresh() if not nf.queue or r < 0.45 else nf.mutant()
            t, v = execute(data, er.variant, coverage=trail, observe=trail.observe, registry=er.registry,
                           gates=gates)
            found_by = "native"
        stats.examples += 1
        stats.ops += len(t.ops)
        stats.coverage.update(trail)
        if not v.ok:
            er.fail(t, v, found_by)
        if data is None:
            try:
                data = encode(t)
            except ValueError:
                data = None
        if data is not None:
            nf.admit(data, trail)
        er.tick()


# --- Hypothesis drawing the bytes ------------------------------------------------------------------------
def byte_inputs(variant: str, nr_lrs: int | None = None, registry: Registry = BUILTIN) -> Any:
    """The Hypothesis strategy of the byte format's inputs for ``variant``: the header from the
    drawn VM shape (``gen.config_args``, so that it shrinks towards small VMs) with a swarm mask,
    then up to 48 steps of 8 bytes."""
    from hypothesis import strategies as st

    pools = NativeFuzzer(variant, random.Random(0), nr_lrs)._pools  # noqa: SLF001
    shape = st.fixed_dictionaries({name: dom.strategy
                                   for name, dom in config_args(variant, nr_lrs=nr_lrs, registry=registry)})
    header = st.builds(lambda a, mask: Header(a["vcpus"], a["pcpus"], a["protected"], a["lrs"], pools[tuple(a["pool"])],
                                              a["split_eoi"], mask).to_bytes(),
                       shape, st.one_of(st.just(0), st.integers(0, (1 << len(SWARM)) - 1)))
    steps = st.lists(st.binary(min_size=STEP, max_size=STEP), max_size=48)
    return st.builds(lambda h, s: h + b"".join(s), header, steps)


def hypothesis_bytes(er: EngineRun) -> None:
    from hypothesis import Phase, given, settings, target
    from hypothesis import seed as hypothesis_seed

    from hvfuzz.fuzz.profiles import session_settings
    from hvfuzz.fuzz.strategies import VIOLATIONS

    stats = er.stats
    inputs = byte_inputs(er.variant, er.nr_lrs, er.registry)

    def example(data: bytes) -> None:
        trail = Trail()
        t, v = execute(data, er.variant, coverage=trail, observe=trail.observe, registry=er.registry)
        stats.examples += 1
        stats.ops += len(t.ops)
        stats.coverage.update(trail)
        target(float(len(trail)), label="situations")
        er.tick()
        if not v.ok and not er.is_known(v):
            err = VIOLATIONS[v.oracle or "applicability"](f"{v.oracle} at step {v.step}: {v.reason}")
            err.verdict = v
            if er.failure is None:
                er.failure = (t, v, "hypothesis")
            raise err

    mutator = Mutator(er.corpus, random.Random(er.seed), fixed_nr_lrs=er.nr_lrs) if er.corpus else None
    batch = 0
    while er.failure is None and not er.spent():
        n = er.batch_examples if er.max_examples is None else min(er.batch_examples, er.max_examples - stats.examples)
        base = session_settings(n)
        test = settings(base, phases=[Phase.generate, Phase.target])(given(inputs)(lambda d: example(d)))
        hypothesis_seed(er.seed * 1_000_003 + batch)(test)
        batch += 1
        try:
            test()
        except AssertionError:
            pass
        if er.failure is None and mutator is not None:
            _mutants(er, mutator, er.mutants_per_batch)
    if er.failure is not None:
        raise Found


def _mutants(er: EngineRun, mutator: Mutator, n: int) -> None:
    for _ in range(n):
        t = mutator.mutant()
        v = run(t, er.stats.coverage)
        er.mutants += 1
        er.stats.ops += len(t.ops)
        if not v.ok:
            er.fail(t, v, "corpus mutation")
        if er.deadline is not None and er.clock() >= er.deadline:
            return


# --- the state machine -----------------------------------------------------------------------------------
def stateful(er: EngineRun) -> None:
    from hypothesis import reject
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from hypothesis.stateful import get_state_machine_test

    from hvfuzz.fuzz.profiles import session_settings
    from hvfuzz.fuzz.strategies import OracleViolation, make_machine

    failures: list[tuple[Trace, Verdict]] = []

    def failed(t: Trace, v: Verdict) -> None:
        if er.is_known(v):  # counted; the example is dropped and generation goes on
            reject()
        failures.append((t, v))

    machine = make_machine(er.variant, on_failure=failed, stats=er.stats, progress=lambda st: er.tick(),
                           nr_lrs=er.nr_lrs, registry=er.registry)
    mutator = Mutator(er.corpus, random.Random(er.seed), fixed_nr_lrs=er.nr_lrs) if er.corpus else None
    batch = 0
    while not er.spent():
        n = er.batch_examples if er.max_examples is None else min(er.batch_examples,
                                                                  er.max_examples - er.stats.examples)
        test = get_state_machine_test(machine, settings=session_settings(n))
        hypothesis_seed(er.seed * 1_000_003 + batch)(test)
        try:
            test()
        except OracleViolation:
            pass
        except Unsatisfiable:  # every example of the batch failed a known oracle (dropped)
            pass
        batch += 1
        if failures:
            er.fail(*failures[0], "hypothesis")
        if mutator is not None:
            _mutants(er, mutator, er.mutants_per_batch)
