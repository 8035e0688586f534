"""Campaigns (``fuzz/campaign.py``): ``hvfuzz fuzz --jobs N`` runs N worker processes with seeds
derived from ``--seed``, adds their counts up into one progress line and one summary line, and
keeps one repro per signature; ``--keep-going`` goes on after a finding and ends with the table
of distinct findings; Ctrl-C stops the workers cleanly (exit 130)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import attrs
import pytest

from hvfuzz.fuzz.campaign import (
    Done,
    Found,
    Plan,
    Progress,
    Task,
    _Book,
    run_campaign,
    run_task,
    split_examples,
    worker_seed,
)
from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.findings import bug_signature
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.session import Finding, fuzz_variant
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model import variants as V
from hvfuzz.model.psci import PsciPolicy
from hvfuzz.model.vocab import ops as O

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(r"^  (?P<v>[\w-]+): (?P<ex>\d+) examples(?: \+ \d+ corpus mutants)?, (?P<ops>\d+) ops in "
                     r"(?P<s>[\d.]+) s \((?P<rate>\d+) ops/s\), engine (?P<engine>\w+)$", re.M)


def hvfuzz(*args: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hvfuzz.fuzz", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, check=False)


def _meta(path) -> dict:
    return json.loads(open(path, encoding="utf-8").read())["meta"]


# ---------------------------------------------------------------------------- seeds and budgets


def test_worker_seeds_are_derived_distinct_and_reproducible():
    seeds = [worker_seed(7, w) for w in range(8)]
    assert seeds[0] == 7  # worker 0 is the one-worker session
    assert len(set(seeds)) == 8 and seeds == [worker_seed(7, w) for w in range(8)]
    assert worker_seed(8, 1) != worker_seed(7, 1)
    plan = Plan(["eager", "lazy"], 7, 3, None, 10)
    tasks = plan.tasks(1, "lazy")
    assert [t.seed for t in tasks] == [worker_seed(8, w) for w in range(3)]  # variant i: seed + i, as before
    assert sum(t.max_examples for t in tasks) == 10 and split_examples(10, 3) == [4, 3, 3]
    # a worker with no examples to run is not started, except worker 0 (it replays the corpus)
    assert [t.worker for t in Plan(["lazy"], 1, 3, None, 1).tasks(0, "lazy")] == [0]
    assert [t.max_examples for t in Plan(["lazy"], 1, 2, None, 0).tasks(0, "lazy")] == [0]
    assert [t.seconds for t in Plan(["eager", "lazy"], 1, 2, 10.0, None).tasks(0, "eager")] == [5.0, 5.0]


# ---------------------------------------------------------------------------- one progress line, one summary


def _book(tmp_path, keep_going=False):
    lines: list[str] = []
    now = [100.0]
    plan = Plan(["lazy"], 1, 2, None, 100, keep_going=keep_going, findings=str(tmp_path))
    book = _Book(plan, lines.append, lambda rec: f"seen {rec.count}", clock=lambda: now[0])
    book.start_variant("lazy")
    return book, lines, now


def test_progress_of_two_workers_is_one_aggregated_line(tmp_path):
    book, lines, now = _book(tmp_path)
    now[0] += 1.0
    book.handle(Progress(0, 10, 300))
    assert lines == []  # not before the reporting interval
    now[0] += 1.5
    book.handle(Progress(1, 5, 200))
    book.handle(Progress(0, 12, 340))  # within the interval: no second line
    assert lines == ["  [   2.5s] lazy: 15 examples, 500 ops, 200 ops/s"]
    now[0] += 2.5
    book.handle(Progress(0, 20, 600))
    assert lines[-1] == "  [   5.0s] lazy: 25 examples, 800 ops, 160 ops/s"  # worker 1's last count stays in


def test_summary_line_adds_the_workers_up_and_keeps_its_ops_per_second(tmp_path):
    book, lines, now = _book(tmp_path)
    book.handle(Done(0, 40, 1000, 7, {"sched-in": 3}, {}))
    book.handle(Done(1, 60, 3000, 5, {"sched-in": 1, "preempted in run-loop": 2}, {}))
    now[0] += 4.0
    assert book.end_variant() is False
    m = SUMMARY.search("\n".join(lines))
    assert m and (m["v"], m["ex"], m["ops"], m["s"], m["rate"]) == ("lazy", "100", "4000", "4.0", "1000")
    assert "+ 12 corpus mutants" in lines[0] and "  lazy: no property violated" in lines
    assert book.total_coverage == {"sched-in": 4, "preempted in run-loop": 2}


def _finding(extra: int) -> tuple[Trace, Finding]:
    ops = (O.UserGetMpState(0),) * extra + (O.UserSetMpState(0, "STOPPED"), O.KvmRun(0, 0), O.GuestEnter(0))
    t = Trace(Config(variant="psci-run-stopped-enters", vcpus=1, pcpus=1), ops)
    v = run(t)
    assert not v.ok
    return t, Finding(t, v, len(t.ops) + 10, "hypothesis")


def test_two_workers_finding_one_bug_make_one_repro_with_the_shorter_trace(tmp_path):
    book, lines, _ = _book(tmp_path)
    book.start_variant("psci-run-stopped-enters")
    _, long = _finding(2)
    short_trace, short = _finding(0)
    assert book.handle(Found(0, "psci-run-stopped-enters", 11, 50, long)) is True  # stop the other workers
    assert book.handle(Found(1, "psci-run-stopped-enters", 12, 40, short)) is True
    book.handle(Done(0, 50, 900, 0, {}, {}))
    book.handle(Done(1, 40, 800, 0, {}, {}))
    assert book.end_variant() is True
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    kept, _ = load_repro(str(files[0]))
    assert kept == short_trace and _meta(files[0])["count"] == 2 and _meta(files[0])["seed"] == 12
    assert sum("VIOLATION of psci-P1-no-progress-while-off" in ln for ln in lines) == 1
    assert f"replay: hvfuzz replay {files[0]}" in "\n".join(lines)


# ---------------------------------------------------------------------------- the CLI with two workers


def test_jobs_2_finds_a_bug_and_writes_one_repro_per_signature(tmp_path):
    r = hvfuzz("fuzz", "--variant", "lazy-no-fp", "--max-examples", "3000", "--seed", "1", "--corpus", "",
               "--jobs", "2", "--findings", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "2 worker processes (--jobs 2)" in r.stdout and "Traceback" not in r.stderr
    assert f"example database {tmp_path / '.db'}" in r.stdout  # the default shared database
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and r.stdout.count("VIOLATION of") == 1
    trace, recorded = load_repro(str(files[0]))
    assert run(trace).oracle == recorded["oracle"] and len(trace.ops) <= 12
    m = SUMMARY.search(r.stdout)
    assert m and m["v"] == "lazy-no-fp" and int(m["ex"]) <= 3000 + 200


def test_jobs_2_keep_going_counts_one_bug_once_per_signature(tmp_path):
    r = hvfuzz("fuzz", "--variant", "lazy-pc-only", "--max-examples", "300", "--seed", "1", "--jobs", "2",
               "--keep-going", "--findings", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    sig = bug_signature("lazy-pc-only", load_repro(str(files[0]))[1]["oracle"])
    assert "distinct findings: 1 in" in r.stdout
    row = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith(sig))
    count = int(row.split()[1])
    assert count >= _meta(files[0])["count"] >= 1  # every report, plus the repeats the sessions counted
    assert SUMMARY.search(r.stdout)


def test_jobs_must_be_positive():
    r = hvfuzz("fuzz", "--variant", "lazy", "--max-examples", "1", "--jobs", "0")
    assert r.returncode == 2 and "--jobs must be at least 1" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------------- keep going: two bugs


TWO_BUGS = "test-two-bugs"


@pytest.fixture
def two_bugs() -> V.Registry:
    """A design with two injected bugs in different components: lazy-pc-only's sync (pKVM: PSTATE
    not copied back) and psci-run-stopped-enters' sleep (PSCI: a STOPPED vcpu enters).  The
    registry that holds it (in-process: a worker process could not rebuild it)."""
    v = attrs.evolve(V.VARIANTS["lazy-hvc-no-sync"], name=TWO_BUGS, policy=V.VARIANTS["lazy-pc-only"].policy,
                     psci=PsciPolicy(sleep_while_stopped=False))
    return V.BUILTIN.with_design([v], V.Origin("module", __name__))


def test_known_oracles_are_counted_not_stopped_at(two_bugs):
    res = fuzz_variant(TWO_BUGS, seed=1, max_examples=300, corpus=[], search_budget=0, registry=two_bugs,
                       known=frozenset({"psci-P1-no-progress-while-off"}))
    assert res.repeats.get("psci-P1-no-progress-while-off", 0) > 0
    assert res.finding is not None and res.finding.verdict.oracle == "run-loop-pstate"
    plain = fuzz_variant(TWO_BUGS, seed=1, max_examples=300, corpus=[], search_budget=0, registry=two_bugs)
    assert plain.finding is not None and plain.finding.verdict.oracle == "psci-P1-no-progress-while-off"


def test_a_batch_of_known_failures_only_is_not_an_error(monkeypatch):
    """Hypothesis raises Unsatisfiable when every example of a batch was dropped (all failed known
    oracles): the stateful engine goes on to its next batch."""
    import hypothesis.stateful
    from hypothesis.errors import Unsatisfiable

    import hvfuzz.fuzz.session as S

    batches = []

    def all_dropped(machine, settings):
        def test():
            batches.append(1)
            raise Unsatisfiable("every example rejected")
        return test

    monkeypatch.setattr(hypothesis.stateful, "get_state_machine_test", all_dropped)
    res = S.fuzz_variant("lazy", seed=1, seconds=0.3, corpus=[], known=frozenset({"run-loop-pstate"}),
                         engine="stateful")
    assert res.finding is None and len(batches) > 1


def test_keep_going_reports_both_bugs_each_shrunk(two_bugs, tmp_path):
    lines: list[str] = []
    plan = Plan([TWO_BUGS], 1, 1, None, 600, keep_going=True, options={"corpus": [], "registry": two_bugs},
                findings=str(tmp_path))
    failed, _ = run_campaign(plan, lines.append, lambda rec: "")
    out = "\n".join(lines)
    assert failed
    files = sorted(tmp_path.glob("*.json"))
    oracles = {load_repro(str(f), two_bugs)[1]["oracle"]: f for f in files}
    assert set(oracles) == {"psci-P1-no-progress-while-off", "run-loop-pstate"}, out
    assert "distinct findings: 2 in" in out
    for oracle, f in oracles.items():
        trace, recorded = load_repro(str(f), two_bugs)
        assert run(trace).oracle == oracle
        assert len(trace.ops) <= min(6, _meta(f)["length_before_shrink"])  # shrunk
        row = next(ln for ln in lines if ln.strip().startswith(bug_signature(TWO_BUGS, oracle)))
        count, _, _, length = row.split()[1:5]
        assert int(count) >= 1 and int(length) == len(trace.ops) and str(f) in row


def test_what_another_worker_found_is_counted_not_found_again(two_bugs):
    """A worker told (by the parent) that another found the PSCI bug does not report it: it counts
    its hits and goes on to the other bug."""
    told = [[(TWO_BUGS, "psci-P1-no-progress-while-off"), ("lazy", "run-loop-pstate")]]
    sent: list = []
    task = Task(TWO_BUGS, 1, 1, None, 300, keep_going=True)
    run_task(task, {"corpus": [], "search_budget": 0, "registry": two_bugs}, None, sent.append, lambda: False,
             lambda: told.pop() if told else [])
    found = [m.finding.verdict.oracle for m in sent if isinstance(m, Found)]
    done = [m for m in sent if isinstance(m, Done)]
    assert found == ["run-loop-pstate"] and len(done) == 1  # news of another variant is not taken
    assert done[0].repeats.get("psci-P1-no-progress-while-off", 0) > 0


def test_without_keep_going_the_first_bug_ends_the_session(two_bugs, tmp_path):
    plan = Plan([TWO_BUGS], 1, 1, None, 600, options={"corpus": [], "registry": two_bugs}, findings=str(tmp_path))
    lines: list[str] = []
    assert run_campaign(plan, lines.append, lambda rec: "")[0]
    assert len(list(tmp_path.glob("*.json"))) == 1 and not any("distinct findings" in ln for ln in lines)


# ---------------------------------------------------------------------------- Ctrl-C


def _live_in_session(sid: int, patience: float = 30.0) -> list[str]:
    """The processes of session ``sid`` that are not zombies, once they have had ``patience``
    seconds to exit (multiprocessing's resource tracker leaves when its parent has gone)."""
    import time

    end = time.monotonic() + patience
    while True:
        ps = subprocess.run(["ps", "-o", "stat=,pid=,args=", "-s", str(sid)], capture_output=True, text=True,
                            check=False)
        live = [ln for ln in ps.stdout.splitlines() if not ln.split()[0].startswith("Z")]
        if not live or time.monotonic() > end:
            return live
        time.sleep(0.2)


def test_ctrl_c_stops_the_workers_and_exits_130(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "hvfuzz.fuzz", "fuzz", "--variant", "lazy", "--seconds", "600",
                          "--seed", "1", "--jobs", "2", "--keep-going", "--findings", str(tmp_path)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        seen = []
        for line in p.stdout:  # the first aggregated progress line: both workers are fuzzing
            seen.append(line)
            if re.match(r"^  \[\s*[\d.]+s\] lazy: \d+ examples", line):
                break
        os.killpg(p.pid, signal.SIGINT)  # what the terminal does: the whole process group
        rest, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    out = "".join(seen) + rest
    assert p.returncode == 130, out + err
    assert "Traceback" not in err and "hvfuzz: interrupted" in err
    assert SUMMARY.search(out) and "distinct findings: 0 in" in out  # what the workers did is reported
    assert not _live_in_session(p.pid)  # no worker left behind (the exiting ones get time to exit)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
