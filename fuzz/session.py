"""A fuzz session for one variant: the corpus is replayed, then seeded batches of Hypothesis
examples alternate with batches of corpus mutants until a budget (seconds or examples) is spent or
an oracle fails; a failure is shrunk by ``fuzz.shrink``."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet

import attrs
from hypothesis import reject
from hypothesis import seed as hypothesis_seed
from hypothesis.database import ExampleDatabase
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import get_state_machine_test

from hvfuzz.fuzz.mutate import Mutator
from hvfuzz.fuzz.profiles import session_settings
from hvfuzz.fuzz.runner import Verdict, run
from hvfuzz.fuzz.shrink import shrink
from hvfuzz.fuzz.strategies import OracleViolation, SessionStats, make_machine
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
) -> SessionResult:
    """Fuzz ``variant`` against the reference until ``seconds`` or ``max_examples`` is spent.
    ``corpus`` traces are replayed first, on this variant (as libFuzzer runs its seed corpus
    before mutating); then batches of Hypothesis examples alternate with batches of corpus
    mutants (``fuzz.mutate``).  ``max_examples`` counts Hypothesis examples; with it the session
    is deterministic for a given seed.  ``database`` (``hvfuzz fuzz --db``) is shared by workers:
    the findings other workers stored for this variant are replayed before anything else, and a
    finding of this session is stored there for them (as a trace, so any hvfuzz can replay it).
    ``search_budget``: the shrinker's final breadth-first search (``shrink.shrink``; None: its
    default, 0: none).  ``registry``: where ``variant`` is defined (a plugin design's variants,
    ``fuzz/plugins.py``).  ``known``: oracles already found on this variant (``hvfuzz fuzz
    --keep-going``): a generated example failing one of them is counted in ``repeats`` and the
    session goes on; stored and corpus traces failing them are skipped.  The caller may add to it
    while the session runs (what other workers found)."""
    if seconds is None and max_examples is None:
        raise ValueError("give a budget: seconds or max_examples")
    stats = SessionStats()
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
        now = time.monotonic()
        if progress is not None and now - st.last_report >= 2.0:
            st.last_report = now
            progress(variant, st)

    def failed(t: Trace, v: Verdict) -> None:
        if v.oracle in known:  # counted; the example is dropped and generation goes on
            repeats[v.oracle or ""] = repeats.get(v.oracle or "", 0) + 1
            reject()
        failures.append((t, v))

    machine = make_machine(variant, on_failure=failed, stats=stats,
                           progress=report, nr_lrs=nr_lrs, registry=registry)
    mutator = Mutator(on_variant, random.Random(seed), fixed_nr_lrs=nr_lrs) if on_variant else None
    mutants = 0
    batch = 0
    while not failures:
        if deadline is not None and time.monotonic() >= deadline:
            break
        n = batch_examples
        if max_examples is not None:
            n = min(n, max_examples - stats.examples)
            if n <= 0:
                break
        test = get_state_machine_test(machine, settings=session_settings(n))
        hypothesis_seed(seed * 1_000_003 + batch)(test)
        try:
            test()
        except OracleViolation:
            pass
        except Unsatisfiable:  # every example of the batch failed a known oracle (dropped)
            pass
        batch += 1
        if mutator is not None and not failures:
            for _ in range(mutants_per_batch):
                t = mutator.mutant()
                v = run(t, stats.coverage)
                mutants += 1
                stats.ops += len(t.ops)
                if not v.ok and v.oracle in known:
                    repeats[v.oracle or ""] = repeats.get(v.oracle or "", 0) + 1
                elif not v.ok:
                    failures.append((t, v))
                    found_by = "corpus mutation"
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
    elapsed = time.monotonic() - stats.started
    finding = None
    if failures:
        trace, verdict = failures[0]
        small = shrink(trace, verdict, **({} if search_budget is None else {"search_budget": search_budget}))
        finding = Finding(small, run(small), len(trace.ops), found_by)
        if database is not None and found_by != "example database":
            database.save(_db_key(variant), json.dumps(trace_to_json(small)).encode())
    return SessionResult(variant, seed, stats.examples, stats.ops, elapsed, finding, mutants, dict(stats.coverage),
                         repeats)
