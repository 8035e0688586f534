"""Campaigns: ``hvfuzz fuzz --jobs N [--keep-going]``.

A campaign fuzzes each variant with ``jobs`` workers at once.  A worker runs fuzz sessions
(``fuzz.session.fuzz_variant``) with its own seed and the session options it was given, passed
through unchanged (whatever engine they choose); this module only spreads sessions over
processes, adds up what they report and keeps the findings.

- Workers are ``spawn``-ed processes (``--jobs 1`` runs the one session in this process, exactly
  as before).  Worker 0 of variant *i* uses the session seed ``seed + i`` of a one-worker run;
  worker *w* > 0 a seed derived from it (``worker_seed``), so a campaign is reproducible from its
  ``--seed``.  ``--max-examples`` is the variant's budget, split over the workers; ``--seconds``
  is wall-clock time, which every worker gets.
- Workers share findings through the example database (``--db``; with several workers a
  directory under the findings directory by default): a session replays what the others stored
  for its variant before it generates anything.
- Every finding comes back to this process, which alone writes the findings store
  (``fuzz/findings.py``: atomic writes, one file per signature), so two workers finding the same
  bug make one repro with a count.  Without ``keep_going`` the first finding stops the variant's
  other workers (what they found meanwhile is kept too).
- ``keep_going``: after a finding a worker starts a new session (next round seed) with the
  oracles found so far as ``known`` (counted, not stopped at), until the budget is spent; what
  another worker finds joins a running session's ``known`` at its next progress report (the
  parent passes it on), so each bug is shrunk about once; the campaign ends with a table of the
  distinct findings.
- Ctrl-C: workers ignore SIGINT; this process asks them to stop (they check at their next
  progress report), keeps what they report, and raises ``KeyboardInterrupt`` once they have
  exited.  A second Ctrl-C terminates them at once.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import queue
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from hvfuzz.fuzz.engines import DEFAULT_ENGINE
from hvfuzz.fuzz.findings import Recorded, bug_signature, record
from hvfuzz.fuzz.session import Finding, fuzz_variant

#: how often the campaign prints its progress line (the sessions report at most this often too)
PROGRESS_EVERY = 2.0


def derive_seed(seed: int, what: str, n: int) -> int:
    """A 31-bit seed derived from ``seed`` for the ``n``-th worker or round (``n`` = 0: ``seed``)."""
    if n == 0:
        return seed
    digest = hashlib.sha256(f"hvfuzz/{what}/{seed}/{n}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def worker_seed(seed: int, worker: int) -> int:
    return derive_seed(seed, "worker", worker)


def split_examples(total: int, jobs: int) -> list[int]:
    """``total`` examples over ``jobs`` workers (the first ones get the remainder)."""
    return [total // jobs + (1 if w < total % jobs else 0) for w in range(jobs)]


# ---------------------------------------------------------------------------- messages


@attrs.frozen
class Task:
    variant: str
    worker: int
    seed: int
    seconds: float | None
    max_examples: int | None
    keep_going: bool


@attrs.frozen
class Ready:
    worker: int


@attrs.frozen
class Progress:
    """A worker's running totals for its current task."""

    worker: int
    examples: int
    ops: int


@attrs.frozen
class Found:
    worker: int
    variant: str
    #: the seed of the session that found it (``hvfuzz fuzz --jobs 1 --seed`` reproduces it)
    seed: int
    #: examples the session had run
    examples: int
    finding: Finding


@attrs.frozen
class Done:
    worker: int
    examples: int
    ops: int
    mutants: int
    coverage: dict[str, int]
    #: failing examples of already-found oracles (``keep_going``): oracle -> count
    repeats: dict[str, int]


@attrs.frozen
class Failed:
    worker: int
    error: str


@attrs.frozen
class Exited:
    worker: int


Message = Ready | Progress | Found | Done | Failed | Exited


class WorkerError(RuntimeError):
    """A worker raised or died (a bug in hvfuzz, not a finding)."""


# ---------------------------------------------------------------------------- a worker


class _Stopped(KeyboardInterrupt):
    """Raised out of a session (through its progress callback) when the campaign stops it.  A
    KeyboardInterrupt, so neither the session nor Hypothesis takes it for a failing example
    (Hypothesis leaves an interrupted example out of its records)."""


def run_task(task: Task, options: dict[str, Any], database: Any, emit: Callable[[Message], None],
             stopped: Callable[[], bool], news: Callable[[], list[tuple[str, str]]] = list) -> None:
    """One worker's part of a variant: a session, or with ``keep_going`` sessions until the budget
    is spent, each finding emitted as it comes back from its session.  ``news``: (variant,
    oracle) pairs the other workers found since the last call; with ``keep_going`` those of this
    variant join the running session's ``known`` oracles at its next progress report."""
    examples = ops = mutants = 0
    coverage: Counter[str] = Counter()
    repeats: Counter[str] = Counter()
    known: set[str] = set()
    deadline = None if task.seconds is None else time.monotonic() + task.seconds
    rnd = 0
    while not stopped():
        seconds = None if deadline is None else max(0.0, deadline - time.monotonic())
        budget = None if task.max_examples is None else task.max_examples - examples
        if rnd > 0 and ((seconds is not None and seconds <= 0) or (budget is not None and budget <= 0)):
            break
        last: list[Any] = [None]
        base_examples, base_ops = examples, ops

        def learn() -> None:
            known.update(o for v, o in news() if v == task.variant)

        def progress(_variant: str, st: Any, base_examples: int = base_examples, base_ops: int = base_ops,
                     last: list[Any] = last) -> None:
            last[0] = st
            learn()
            emit(Progress(task.worker, base_examples + st.examples, base_ops + st.ops))
            if stopped():
                raise _Stopped

        kwargs = dict(options)
        learn()
        if task.keep_going:
            kwargs["known"] = known  # the live set: what other workers find joins it
        seed = derive_seed(task.seed, "round", rnd)
        try:
            res = fuzz_variant(task.variant, seed=seed, seconds=seconds, max_examples=budget, progress=progress,
                               database=database, **kwargs)
        except _Stopped:
            st = last[0]
            examples, ops = examples + st.examples, ops + st.ops
            coverage.update(st.coverage)
            break
        examples, ops, mutants = examples + res.examples, ops + res.ops, mutants + res.mutants
        coverage.update(res.coverage)
        repeats.update(res.repeats)
        if res.finding is not None:
            emit(Found(task.worker, task.variant, seed, res.examples, res.finding))
            known.add(res.finding.verdict.oracle or "")
        if not task.keep_going or res.finding is None:
            break
        rnd += 1
    emit(Done(task.worker, examples, ops, mutants, dict(coverage), dict(repeats)))


def _worker_main(worker: int, tasks: Any, results: Any, stop: Any, news: Any, options: dict[str, Any],
                 db_url: str | None) -> None:
    """A worker process: tasks until ``None``.  SIGINT is ignored (the parent stops workers).
    The options' registry reaches it as the design specs it was built from (``Registry`` pickles
    so), and is rebuilt here."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        database = None
        if db_url:
            from hvfuzz.fuzz.profiles import open_database

            database = open_database(db_url)
        results.put(Ready(worker))
        def read_news() -> list[tuple[str, str]]:
            out = []
            while True:
                try:
                    out.append(news.get_nowait())
                except queue.Empty:
                    return out

        while (task := tasks.get()) is not None:
            run_task(task, options, database, results.put, stop.is_set, read_news)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        results.put(Failed(worker, traceback.format_exc()))
    finally:
        results.put(Exited(worker))


# ---------------------------------------------------------------------------- executors


class _Executor(Protocol):
    def run(self, tasks: list[Task], handle: Callable[[Message], bool]) -> None: ...

    def close(self, abandon: bool) -> None: ...


@attrs.define
class _Inline:
    """``--jobs 1``: the session runs in this process (Ctrl-C interrupts it directly)."""

    options: dict[str, Any]
    database: Any

    def run(self, tasks: list[Task], handle: Callable[[Message], bool]) -> None:
        for t in tasks:
            run_task(t, self.options, self.database, handle, lambda: False)

    def close(self, abandon: bool) -> None:
        pass


class _Pool:
    """``jobs`` spawned worker processes, each with its own task queue, one result queue."""

    def __init__(self, jobs: int, options: dict[str, Any], db_url: str | None, err: Callable[[str], None]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.err = err
        self.results = ctx.Queue()
        self.stop = ctx.Event()
        self.tasks = [ctx.Queue() for _ in range(jobs)]
        #: what the other workers found: (variant, oracle)
        self.news = [ctx.Queue() for _ in range(jobs)]
        self.exited: set[int] = set()
        #: Ctrl-Cs seen while running tasks (a second one abandons the workers)
        self.interrupts = 0
        # the children inherit SIGINT ignored, so a Ctrl-C while they start leaves no traceback
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.procs = [ctx.Process(target=_worker_main, args=(w, self.tasks[w], self.results, self.stop,
                                                                  self.news[w], options, db_url),
                                      daemon=True)
                          for w in range(jobs)]
            for p in self.procs:
                p.start()
        finally:
            signal.signal(signal.SIGINT, old)
        ready: set[int] = set()
        try:
            while len(ready) < jobs:
                msg = self._get()
                if isinstance(msg, Ready):
                    ready.add(msg.worker)
        except BaseException:
            self.close(abandon=True)
            raise

    def _get(self, timeout: float | None = None) -> Message | None:
        """The next message (None after ``timeout`` seconds); a dead worker is an error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                msg = self.results.get(timeout=0.5)
            except queue.Empty:
                for w, p in enumerate(self.procs):
                    if w not in self.exited and not p.is_alive():
                        try:  # its last words may still be in the pipe
                            return self.results.get(timeout=1.0)
                        except queue.Empty:
                            raise WorkerError(f"worker {w} died (exit code {p.exitcode})") from None
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            if isinstance(msg, Failed):
                raise WorkerError(f"worker {msg.worker} failed:\n{msg.error}")
            if isinstance(msg, Exited):
                self.exited.add(msg.worker)
            return msg

    def on_sigint(self, signum: int, frame: Any) -> None:
        """Ctrl-C while the workers run: the first is noted (``run`` stops the workers and keeps
        what they report), a second abandons them."""
        self.interrupts += 1
        if self.interrupts > 1:
            raise KeyboardInterrupt

    def run(self, tasks: list[Task], handle: Callable[[Message], bool]) -> None:
        if self.interrupts:  # Ctrl-C between two variants
            raise KeyboardInterrupt
        self.stop.clear()  # every worker is idle here: the previous variant's tasks are done
        for t in tasks:
            self.tasks[t.worker].put(t)
        pending = {t.worker for t in tasks}
        told = False
        while pending:
            if self.interrupts and not told:
                told = True
                self.stop.set()
                self.err(f"hvfuzz: interrupted: waiting for {len(pending)} worker(s) to report "
                         "(Ctrl-C again to abandon them)")
            msg = self._get(timeout=0.5)
            if msg is None:
                continue
            if isinstance(msg, Exited):
                if msg.worker in pending:
                    raise WorkerError(f"worker {msg.worker} exited during a task")
                continue
            if isinstance(msg, Done):
                pending.discard(msg.worker)
            if isinstance(msg, Found):  # the others count it from now on instead of finding it again
                for w in pending - {msg.worker}:
                    self.news[w].put((msg.variant, msg.finding.verdict.oracle or ""))
            if handle(msg):
                self.stop.set()
        if self.interrupts:
            raise KeyboardInterrupt

    def close(self, abandon: bool) -> None:
        if not abandon and self.interrupts < 2:
            for q in self.tasks:
                q.put(None)
            deadline = time.monotonic() + 10.0
            while len(self.exited) < len(self.procs) and time.monotonic() < deadline:
                try:
                    self._get(timeout=0.5)
                except (WorkerError, KeyboardInterrupt):
                    break
        for p in self.procs:
            p.join(timeout=0.0 if abandon else 2.0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5.0)
        for q in [*self.tasks, *self.news, self.results]:
            q.cancel_join_thread()
            q.close()


# ---------------------------------------------------------------------------- the campaign


@attrs.frozen
class Plan:
    """What ``hvfuzz fuzz`` asked for."""

    names: list[str]
    seed: int
    jobs: int
    #: the total time budget (split over the variants), or None with ``max_examples``
    seconds: float | None
    #: the example budget per variant (split over the workers)
    max_examples: int | None
    keep_going: bool = False
    #: passed to every session unchanged (``fuzz_variant``'s keyword arguments)
    options: dict[str, Any] = attrs.Factory(dict)
    #: the example database the workers open (``--db``); None: none
    db_url: str | None = None
    findings: str = "findings"
    regressions: list[str] = attrs.Factory(list)

    def tasks(self, index: int, variant: str) -> list[Task]:
        seed = self.seed + index
        seconds = None if self.seconds is None else self.seconds / len(self.names)
        shares = [None] * self.jobs if self.max_examples is None else split_examples(self.max_examples, self.jobs)
        return [Task(variant, w, worker_seed(seed, w), seconds, n, self.keep_going)
                for w, n in enumerate(shares) if w == 0 or n is None or n > 0]


@attrs.define
class Row:
    """A distinct finding of the campaign (one signature)."""

    signature: str
    variant: str
    oracle: str
    #: failing examples with this signature: each shrunk finding, plus the repeats sessions counted
    count: int
    path: str
    #: ops of the repro the findings store keeps (the shortest)
    length: int
    #: seconds from the start of the campaign to the first report of it
    first_seen: float


@attrs.define
class _Book:
    """The campaign's accounts: progress, the findings store, the per-variant summary, the table."""

    plan: Plan
    out: Callable[[str], None]
    describe: Callable[[Recorded], str]
    clock: Callable[[], float] = time.monotonic
    started: float = attrs.Factory(lambda self: self.clock(), takes_self=True)
    rows: dict[str, Row] = attrs.Factory(dict)
    # the current variant
    variant: str = ""
    variant_started: float = 0.0
    last_print: float = 0.0
    latest: dict[int, tuple[int, int]] = attrs.Factory(dict)
    examples: int = 0
    ops: int = 0
    mutants: int = 0
    coverage: Counter[str] = attrs.Factory(Counter)
    found: list[tuple[Found, Recorded]] = attrs.Factory(list)
    total_coverage: Counter[str] = attrs.Factory(Counter)

    def start_variant(self, name: str) -> None:
        self.variant = name
        self.variant_started = self.last_print = self.clock()
        self.latest.clear()
        self.examples = self.ops = self.mutants = 0
        self.coverage = Counter()
        self.found = []

    def handle(self, msg: Message) -> bool:
        """Take a worker's message; True: stop the variant's workers (a finding, no keep_going)."""
        if isinstance(msg, Progress):
            self.latest[msg.worker] = (msg.examples, msg.ops)
            now = self.clock()
            if now - self.last_print >= 0.9 * PROGRESS_EVERY:
                self.last_print = now
                self._progress(now)
        elif isinstance(msg, Done):
            self.latest.pop(msg.worker, None)
            self.examples += msg.examples
            self.ops += msg.ops
            self.mutants += msg.mutants
            self.coverage.update(msg.coverage)
            for oracle, n in msg.repeats.items():
                row = self.rows.get(bug_signature(self.variant, oracle))
                if row is not None:
                    row.count += n
        elif isinstance(msg, Found):
            self._record(msg)
            return not self.plan.keep_going
        return False

    def _progress(self, now: float) -> None:
        dt = now - self.variant_started
        examples = self.examples + sum(e for e, _ in self.latest.values())
        ops = self.ops + sum(o for _, o in self.latest.values())
        distinct = sum(1 for r in self.rows.values() if r.variant == self.variant)
        found = f", {distinct} distinct finding(s)" if self.plan.keep_going and distinct else ""
        self.out(f"  [{dt:6.1f}s] {self.variant}: {examples} examples, {ops} ops, {ops / max(dt, 1e-9):.0f} ops/s"
                 + found)

    def _record(self, msg: Found) -> None:
        f = msg.finding
        meta = {"found_by": f"hvfuzz fuzz ({f.found_by})", "seed": msg.seed, "examples": msg.examples,
                "length_before_shrink": f.original_length}
        rec = record(self.plan.findings, f.trace, f.verdict, meta, regressions=self.plan.regressions)
        sig = bug_signature(msg.variant, f.verdict.oracle)
        row = self.rows.get(sig)
        if row is None:
            row = self.rows[sig] = Row(sig, msg.variant, f.verdict.oracle or "", 0, rec.path, rec.length,
                                       self.clock() - self.started)
            if self.plan.keep_going:
                self.out(f"  [{self.clock() - self.variant_started:6.1f}s] {msg.variant}: new finding "
                         f"{f.verdict.oracle} ({rec.length} ops, found by {f.found_by}): {rec.path}")
        row.count += 1
        row.path, row.length = rec.path, rec.length
        self.found.append((msg, rec))

    def end_variant(self) -> bool:
        """The variant's summary; True if it failed."""
        name = self.variant
        seconds = self.clock() - self.variant_started
        rate = self.ops / max(seconds, 1e-9)
        mutated = f" + {self.mutants} corpus mutants" if self.mutants else ""
        engine = self.plan.options.get("engine", DEFAULT_ENGINE)
        self.out(f"  {name}: {self.examples} examples{mutated}, {self.ops} ops in {seconds:.1f} s ({rate:.0f} ops/s), "
                 f"engine {engine}")
        self.total_coverage.update(self.coverage)
        if self.coverage:
            ranked = sorted(self.coverage.items(), key=lambda kv: kv[1])
            self.out(f"  {name}: semantic coverage: {len(ranked)} situations; rarest: "
                     + ", ".join(f"{k} ({n})" for k, n in ranked[:6]))
        if not self.found:
            self.out(f"  {name}: no property violated")
            return False
        shown: set[str] = set()
        for msg, _ in self.found:  # one report per signature: its first finding, the store's final record
            f = msg.finding
            sig = bug_signature(name, f.verdict.oracle)
            if sig in shown:
                continue
            shown.add(sig)
            rec = [r for m, r in self.found if bug_signature(name, m.finding.verdict.oracle) == sig][-1]
            self.out(f"  {name}: VIOLATION of {f.verdict.oracle} at step {f.verdict.step}: {f.verdict.reason}")
            self.out(f"  repro ({len(f.trace.ops)} ops, shrunk from {f.original_length}, found by {f.found_by}): "
                     f"{rec.path}")
            self.out(f"  {self.describe(rec)}")
            self.out(f"  replay: hvfuzz replay {rec.path}")
        return True

    def table(self) -> None:
        """The distinct findings of the campaign (``--keep-going``)."""
        rows = sorted(self.rows.values(), key=lambda r: r.first_seen)
        self.out(f"distinct findings: {len(rows)} in {self.clock() - self.started:.1f} s")
        if not rows:
            return
        self.out(f"  {'signature':<12}  {'count':>5}  {'first seen':>10}  {'ops':>3}  {'oracle':<34}  shortest repro")
        for r in rows:
            self.out(f"  {r.signature:<12}  {r.count:>5}  {r.first_seen:>8.1f} s  {r.length:>3}  {r.oracle:<34}  "
                     f"{r.path}")


def run_campaign(plan: Plan, out: Callable[[str], None], describe: Callable[[Recorded], str],
                 database: Any = None) -> tuple[bool, Counter[str]]:
    """Fuzz every variant of ``plan``; (any finding, the summed semantic coverage).  ``database``:
    the opened ``plan.db_url`` for ``--jobs 1`` (workers open their own).  Ctrl-C: what the
    workers reported is kept (and with ``keep_going`` the table printed), then
    ``KeyboardInterrupt`` is raised."""
    if plan.jobs < 1:
        raise ValueError("jobs must be at least 1")

    def err(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    book = _Book(plan, out, describe)
    failed = False
    abandon = True
    executor: _Executor | None = None
    old_sigint: Any = None
    try:
        if plan.jobs == 1:
            executor = _Inline(plan.options, database)
        else:
            executor = _Pool(plan.jobs, plan.options, plan.db_url, err)
            book.started = book.clock()  # the workers are up: the campaign starts now
            if threading.current_thread() is threading.main_thread():
                old_sigint = signal.signal(signal.SIGINT, executor.on_sigint)
        for i, name in enumerate(plan.names):
            book.start_variant(name)
            try:
                executor.run(plan.tasks(i, name), book.handle)
            except KeyboardInterrupt:
                if isinstance(executor, _Pool) and executor.interrupts == 1:
                    abandon = False  # the workers have reported and are idle: say what they did
                    book.end_variant()
                raise
            failed = book.end_variant() or failed
        abandon = False
    except KeyboardInterrupt:
        if plan.keep_going:
            book.table()
        raise
    finally:
        if old_sigint is not None:
            signal.signal(signal.SIGINT, old_sigint)
        if executor is not None:
            executor.close(abandon)
    if plan.keep_going:
        book.table()
    return failed, book.total_coverage
