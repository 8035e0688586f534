"""A fuzz session for one variant: the findings shared through the database and the corpus are
replayed, then an engine (``fuzz/engines.py``: native, hypothesis, stateful) makes inputs until a
budget (seconds or examples) is spent or an oracle fails; a failure is shrunk by ``fuzz.shrink``.
``fuzz_variant`` is one worker's session: ``--jobs`` runs several."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet

import attrs
from hypothesis.database import ExampleDatabase

from hvfuzz.fuzz.engines import DEFAULT_ENGINE, EngineRun, run_engine
from hvfuzz.fuzz.runner import Verdict, run
from hvfuzz.fuzz.shrink import shrink
from hvfuzz.fuzz.strategies import SessionStats
from hvfuzz.fuzz.trace import Trace, TraceError, repro_from_text, trace_to_json
from hvfuzz.model.variants import BUILTIN, Registry


@attrs.frozen
class Finding:
    trace: Trace  # shrunk
    verdict: Verdict  # of the shrunk trace
    original_length: int
    #: "example database", "corpus replay", "hypothesis" or "corpus mutation"
    found_by: str = "hypothesis"


@attrs.frozen
class SessionResult:
    variant: str
    seed: int
    examples: int
    ops: int
    seconds: float
    finding: Finding | None
    #: corpus mutants run (``fuzz.mutate``) besides the Hypothesis examples
    mutants: int = 0
    #: semantic coverage: situation -> how often (fuzz/situations.py)
    coverage: dict[str, int] = attrs.Factory(dict)
    #: failing examples of an oracle in ``known`` (not stopped at): oracle -> how many
    repeats: dict[str, int] = attrs.Factory(dict)
    #: the engine that made the inputs (``fuzz/engines.py``)
    engine: str = DEFAULT_ENGINE


def _db_key(variant: str) -> bytes:
    return b"hvfuzz.findings." + variant.encode()


def _shared_findings(database: ExampleDatabase | None, variant: str, registry: Registry = BUILTIN) -> list[Trace]:
    """The findings workers stored for ``variant`` (entries that do not parse are skipped: another
    hvfuzz version may have written them)."""
    if database is None:
        return []
    out = []
    for blob in sorted(database.fetch(_db_key(variant))):
        try:
            t = repro_from_text(blob, registry, recorded_design=False).trace  # no code from a shared store
        except TraceError:
            continue
        out.append(attrs.evolve(t, config=attrs.evolve(t.config, variant=variant)))
    return out


def load_corpus(dirs: list[str], registry: Registry = BUILTIN) -> list[Trace]:
    """Every trace file under ``dirs`` (sorted, so sessions stay deterministic); the variants they
    name are looked up in ``registry``."""
    import glob
    import os

    from hvfuzz.fuzz.export import load_repro

    paths: list[str] = []
    for d in dirs:
        paths += glob.glob(os.path.join(d, "**", "*.json"), recursive=True)
    return [load_repro(p, registry)[0] for p in sorted(paths)]


def _replay_first(shared: list[Trace], corpus: list[Trace], known: AbstractSet[str], stats: SessionStats,
                  failures: list[tuple[Trace, Verdict]]) -> str | None:
    """Before generating: the other workers' stored findings, then the corpus.  The first failure
    of an oracle not ``known`` goes into ``failures``; returns what found it (None: nothing)."""
    for t in shared:
        v = run(t)
        if not v.ok and v.oracle not in known:
            failures.append((t, v))
            return "example database"
    for t in corpus:
        v = run(t)
        stats.ops += len(t.ops)
        if not v.ok and v.oracle not in known:
            failures.append((t, v))
            return "corpus replay"
    return None


def fuzz_variant(
    variant: str,
    *,
    seed: int,
    seconds: float | None = None,
    max_examples: int | None = None,
    batch_examples: int = 100,
    progress: Callable[[str, SessionStats], None] | None = None,
    nr_lrs: int | None = None,
    corpus: list[Trace] | None = None,
    mutants_per_batch: int = 300,
    database: ExampleDatabase | None = None,
    search_budget: int | None = None,
    registry: Registry = BUILTIN,
    known: AbstractSet[str] = frozenset(),
    engine: str = DEFAULT_ENGINE,
    clock: Callable[[], float] = time.monotonic,
) -> SessionResult:
    """Fuzz ``variant`` against the reference until ``seconds`` or ``max_examples`` is spent.
    ``corpus`` traces are replayed first, on this variant (as libFuzzer runs its seed corpus
    before mutating); then ``engine`` (``fuzz/engines.py``) makes inputs.  ``max_examples``
    counts the engine's examples (native: every input it runs; the Hypothesis engines: their
    examples, corpus mutants besides); with it the session is deterministic for a given seed.
    ``database`` (``hvfuzz fuzz --db``) is shared by workers:
    the findings other workers stored for this variant are replayed before anything else, and a
    finding of this session is stored there for them (as a trace, so any hvfuzz can replay it).
    ``search_budget``: the shrinker's final breadth-first search (``shrink.shrink``; None: its
    default, 0: none).  ``registry``: where ``variant`` is defined (a plugin design's variants,
    ``fuzz/plugins.py``).  ``known``: oracles already found on this variant (``hvfuzz fuzz
    --keep-going``): a generated example failing one of them is counted in ``repeats`` and the
    session goes on; stored and corpus traces failing them are skipped.  The caller may add to it
    while the session runs (what other workers found).
    ``clock``: what ``seconds`` and ``SessionResult.seconds`` measure (wall
    time; bench/engines.py gives ``time.process_time``)."""
    if seconds is None and max_examples is None:
        raise ValueError("give a budget: seconds or max_examples")
    stats = SessionStats()
    stats.started = clock()
    failures: list[tuple[Trace, Verdict]] = []
    repeats: dict[str, int] = {}
    found_by = "hypothesis"
    on_variant = [attrs.evolve(t, config=attrs.evolve(t.config, variant=variant, registry=registry))
                  for t in corpus or ()]
    if nr_lrs is not None:
        on_variant = [t for t in on_variant if t.config.nr_lrs == nr_lrs]
    found_by = _replay_first(_shared_findings(database, variant, registry), on_variant, known, stats,
                             failures) or found_by
    deadline = None if seconds is None else stats.started + seconds

    def report(st: SessionStats) -> None:
        if progress is not None:
            progress(variant, st)

    mutants = 0
    if not failures:
        er = EngineRun(variant, seed, stats, on_variant, deadline=deadline, max_examples=max_examples, nr_lrs=nr_lrs,
                       progress=report, batch_examples=batch_examples, mutants_per_batch=mutants_per_batch,
                       clock=clock, registry=registry, known=known, repeats=repeats)
        run_engine(engine, er)
        mutants = er.mutants
        if er.failure is not None:
            trace, verdict, found_by = er.failure
            failures.append((trace, verdict))
    elapsed = clock() - stats.started
    finding = None
    if failures:
        trace, verdict = failures[0]
        small = shrink(trace, verdict, **({} if search_budget is None else {"search_budget": search_budget}))
        finding = Finding(small, run(small), len(trace.ops), found_by)
        if database is not None and found_by != "example database":
            database.save(_db_key(variant), json.dumps(trace_to_json(small)).encode())
    return SessionResult(variant, seed, stats.examples, stats.ops, elapsed, finding, mutants, dict(stats.coverage),
                         repeats, engine)
