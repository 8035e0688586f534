"""Oracle strength, measured: mutation analysis of ``model/`` with ``hvfuzz fuzz`` as the killer.

A bench script, not a test (no pass/fail).  It mutates the model modules the oracles should
constrain, one mutant at a time, and asks a fixed-budget ``hvfuzz fuzz`` whether anything is
wrong.  A mutant the fuzzer does not notice is a *survivor*; every survivor is triaged in
``bench/mutation_triage.json`` (equivalent: why / oracle gap: which oracle should see it /
unreached: which generator path), and the report (``bench/results/mutation-<date>.md`` and
``.json``) gives the score ``killed / (total - equivalent)``, per-module counts and the survivors.

Library: cosmic-ray (the ``mutation`` extra), not mutmut.  mutmut 3 runs *pytest* in-process
(forked, with trampolines it writes into a ``mutants/`` copy of a src-/flat-layout package); it has
no way to run an arbitrary command such as ``hvfuzz fuzz`` and does not follow this project's
``package-dir`` mapping (``hvfuzz.model`` -> ``model/``); mutmut 2 could run a command but
mutates the checkout in place and is the unmaintained line.  cosmic-ray takes any
``test-command`` (exit 0 = survived, else killed, a timeout = killed), applies each mutation to
the file on disk in the directory it runs in (here a throw-away copy), keeps the session in
sqlite (resumable, ``cr-report``), and its operator set (comparison/binary/unary/boolean
operators, numbers, True/False/None, break/continue, zero-iteration loops, decorators) never
touches strings, so docstrings are not mutated.

Isolation: the user's checkout is never written.  The tree is copied to a temporary directory
laid out as a plain package (``<tmp>/hvfuzz/{model,fuzz,oracles}``, ``<tmp>/corpus``) and the
killer runs ``python -m hvfuzz.fuzz`` with ``PYTHONPATH=<tmp>`` (which wins over the editable
install); before the run a deliberately broken module in the copy must make the killer fail and
the clean copy must pass, else the run stops.  ``PYTHONDONTWRITEBYTECODE`` is set (cosmic-ray's
runner does it too) so no stale ``.pyc`` hides a same-size mutation.

The killer (``mutation.py kill``, run by cosmic-ray inside the copy) has two stages:
1. corpus replay: ``hvfuzz fuzz --max-examples 0`` replays corpus/ (seeds and regressions) on
   every correct variant - cheap, and a strict subset of stage 2, which replays the same corpus
   first, so stopping here changes no verdict;
2. the final word: ``hvfuzz fuzz --seed S --max-examples N`` on every correct variant (eager,
   lazy, vgic-lr-overflow; the PSCI and vgic code runs under them).
A mutant that makes the model raise (a traceback, hvfuzz exits 1 without a verdict) counts as
killed and is reported separately as ``crash``: the fuzzer makes it visible, but no oracle judged
it; so is a timeout (a hang).  The report therefore also gives the oracle-only score, with the
crash and timeout kills left out.  Survivors are annotated with whether the mutated line runs at
all under the unmutated killer (one coverage.py pass), which settles most *unreached* triage.

Usage::

    python bench/mutation.py                      # the default modules, every mutant
    python bench/mutation.py --sample 100         # a seeded random sample across them
    python bench/mutation.py model/pkvm/host.py --examples 200 --seed 1 --timeout 90 --jobs 1
    python bench/mutation.py report SESSION_DIR   # rewrite the report from finished sessions
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODULES = ["model/pkvm/host.py", "model/pkvm/hyp_main.py", "model/psci.py", "model/vgic/vgic.py",
                   "model/vgic/v3.py"]
#: the packages the copy needs (package-dir of pyproject.toml) and the corpus the killer replays
PACKAGES = ["model", "fuzz", "oracles"]
TRIAGE = ROOT / "bench" / "mutation_triage.json"
SANITY = "\nraise RuntimeError('hvfuzz mutation: deliberately broken module')\n"


# ---------------------------------------------------------------------------- the killer


def _hvfuzz(args: list[str], findings: str, timeout: float | None = None) -> tuple[int, str, str]:
    # one worker: cosmic-ray runs the killers in parallel already (--jobs of this script)
    cmd = [sys.executable, "-m", "hvfuzz.fuzz", "fuzz", *args, "--jobs", "1", "--findings", findings]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def _classify(rc: int, out: str, err: str) -> tuple[str, str]:
    """(kind, detail): kind is 'clean', 'oracle', 'crash' or 'error'."""
    if rc == 0:
        return "clean", ""
    if "Traceback" in err:
        last = [ln for ln in err.strip().splitlines() if ln.strip()]
        return "crash", last[-1] if last else "traceback"
    viol = [ln.strip() for ln in out.splitlines() if "VIOLATION of" in ln]
    if rc == 1 and viol:
        return "oracle", viol[0]
    return "error", f"exit {rc}: {err.strip()[-300:]}"


def cmd_kill(args: argparse.Namespace) -> int:
    """Run inside the mutated copy by cosmic-ray: exit 0 = survived, 1 = killed."""
    with tempfile.TemporaryDirectory(prefix="hvfuzz-kill-") as findings:
        stages = [("corpus", ["--seed", str(args.seed), "--max-examples", "0"]),
                  ("fuzz", ["--seed", str(args.seed), "--max-examples", str(args.examples)])]
        for stage, flags in stages:
            kind, detail = _classify(*_hvfuzz(flags, findings))
            if kind != "clean":
                print(f"KILLED-BY {stage} {kind}: {detail}", flush=True)
                return 1
    print("SURVIVED", flush=True)
    return 0


# ---------------------------------------------------------------------------- the copy


def make_copy(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    pkg = dest / "hvfuzz"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""hvfuzz laid out as a plain package for mutation analysis."""\n')
    for p in PACKAGES:
        shutil.copytree(ROOT / p, pkg / p, ignore=ignore)
    shutil.copytree(ROOT / "corpus", dest / "corpus", ignore=ignore)
    # the corpus hvfuzz replays by default is its package data, hvfuzz.corpus (fuzz/shipped.py)
    shutil.copytree(ROOT / "corpus", pkg / "corpus", ignore=ignore)
    (dest / "bench").mkdir()
    shutil.copy2(Path(__file__), dest / "bench" / "mutation.py")


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("COVERAGE_PROCESS_START", None)
    return env


def _kill_cmd(args: argparse.Namespace) -> list[str]:
    return [sys.executable, "bench/mutation.py", "kill", "--seed", str(args.seed), "--examples", str(args.examples)]


def check_isolation(copy: Path, args: argparse.Namespace, module: str) -> dict[str, object]:
    """The killer imports the copy: the clean copy survives, a broken module in it is killed."""
    env = _env(copy)
    where = subprocess.run([sys.executable, "-c", "import hvfuzz.model.pkvm.host as h; print(h.__file__)"],
                           cwd=copy, env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(copy)):
        raise SystemExit(f"mutation.py: the killer imports {where}, not the copy under {copy}")
    t0 = time.monotonic()
    clean = subprocess.run(_kill_cmd(args), cwd=copy, env=env, capture_output=True, text=True)
    clean_s = time.monotonic() - t0
    if clean.returncode != 0:
        raise SystemExit(f"mutation.py: the unmutated tree does not pass the killer: {clean.stdout.strip()}")
    target = copy / "hvfuzz" / module
    original = target.read_text()
    target.write_text(original + SANITY)
    try:
        broken = subprocess.run(_kill_cmd(args), cwd=copy, env=env, capture_output=True, text=True)
    finally:
        target.write_text(original)
    if broken.returncode == 0 or "deliberately broken" not in broken.stdout:
        raise SystemExit(f"mutation.py: a broken {module} in the copy was not killed: the killer does not "
                         f"import the mutated copy ({broken.stdout.strip()})")
    return {"imports": where, "clean_seconds": round(clean_s, 1), "broken": broken.stdout.strip()}


def line_coverage(copy: Path, seed: int, examples: int, modules: list[str]) -> dict[str, list[int]]:
    """The lines of ``modules`` the unmutated killer's fuzz stage runs (coverage.py, if installed):
    a survivor on a line that never runs is *unreached* by construction."""
    try:
        import coverage  # noqa: F401
    except ImportError:
        return {}
    with tempfile.TemporaryDirectory(prefix="hvfuzz-cov-") as tmp:
        data = Path(tmp) / "cov"
        subprocess.run([sys.executable, "-m", "coverage", "run", f"--data-file={data}", "--source=hvfuzz.model",
                        "-m", "hvfuzz.fuzz", "fuzz", "--seed", str(seed), "--max-examples", str(examples),
                        "--jobs", "1", "--findings", str(Path(tmp) / "findings")],
                       cwd=copy, env=_env(copy), capture_output=True, check=False)
        out = Path(tmp) / "cov.json"
        subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(out), "-q"],
                       cwd=copy, env=_env(copy), capture_output=True, check=False)
        if not out.exists():
            return {}
        files = json.loads(out.read_text())["files"]
    runs = {}
    for m in modules:
        for name, f in files.items():
            if Path(name).as_posix().endswith("hvfuzz/" + m):
                runs[m] = sorted(f["executed_lines"])
    return runs


# ---------------------------------------------------------------------------- cosmic-ray sessions


def _config(modules: list[str], args: argparse.Namespace) -> str:
    paths = ", ".join(json.dumps(f"hvfuzz/{m}") for m in modules)
    cmd = " ".join(_kill_cmd(args))
    return (f'[cosmic-ray]\nmodule-path = [{paths}]\ntimeout = {float(args.timeout)}\nexcluded-modules = []\n'
            f'test-command = {json.dumps(cmd)}\n\n[cosmic-ray.distributor]\nname = "local"\n')


def _key(m: object) -> tuple[str, str, int]:
    return (str(m.module_path), m.operator_name, int(m.occurrence))  # type: ignore[attr-defined]


def select(session: Path, sample: int | None, sample_seed: int, part: int, parts: int) -> int:
    """Skip (as cosmic-ray's filters do) what is not in the sample or not in this job's share."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        items = sorted(db.work_items, key=lambda w: _key(w.mutations[0]))
        chosen = list(range(len(items)))
        if sample is not None and sample < len(items):
            chosen = sorted(random.Random(sample_seed).sample(chosen, sample))
        mine = set(chosen[part::parts])
        skip = [w.job_id for i, w in enumerate(items) if i not in mine]
        if skip:
            db.set_multiple_results(skip, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        return len(mine)


def run_sessions(modules: list[str], args: argparse.Namespace, work: Path) -> list[Path]:
    cr = Path(sys.executable).with_name("cosmic-ray")
    copies = []
    procs = []
    make_copy(work / "copy0")
    for k in range(1, args.jobs):  # before any session exists in copy0
        shutil.copytree(work / "copy0", work / f"copy{k}")
    for k in range(args.jobs):
        copy = work / f"copy{k}"
        (copy / "cr.toml").write_text(_config(modules, args))
        subprocess.run([str(cr), "init", "cr.toml", "session.sqlite"], cwd=copy, check=True)
        n = select(copy / "session.sqlite", args.sample, args.sample_seed, k, args.jobs)
        print(f"  job {k}: {n} mutants in {copy}", flush=True)
        copies.append(copy)
    for copy in copies:
        log = open(copy / "exec.log", "w")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen([str(cr), "exec", "cr.toml", "session.sqlite"], cwd=copy,
                                       env=_env(copy), stdout=log, stderr=subprocess.STDOUT), log))
    for p, log in procs:
        p.wait()
        log.close()
    return copies


# ---------------------------------------------------------------------------- results


def _mutation_text(diff: str) -> tuple[str, str]:
    minus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return " / ".join(minus), " / ".join(plus)


def triage_key(module: str, operator: str, before: str, after: str) -> str:
    """Stable across line moves: the module, the operator and the changed line's text."""
    h = hashlib.sha1(f"{module}\0{operator}\0{before}\0{after}".encode()).hexdigest()[:12]
    return f"{module}:{h}"


def collect(copies: list[Path]) -> list[dict[str, object]]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    rows = []
    for copy in copies:
        with use_db(str(copy / "session.sqlite"), WorkDB.Mode.open) as db:
            for item, result in db.completed_work_items:
                if result.worker_outcome == WorkerOutcome.SKIPPED:
                    continue
                m = item.mutations[0]
                module = str(m.module_path).removeprefix("hvfuzz/")
                before, after = _mutation_text(result.diff or "")
                out = (result.output or "").strip()
                if result.worker_outcome != WorkerOutcome.NORMAL:
                    status, how = "incompetent", f"{result.worker_outcome}"
                elif result.test_outcome == TestOutcome.SURVIVED:
                    status, how = "survived", ""
                elif result.test_outcome == TestOutcome.KILLED:
                    status = "killed"
                    how = "timeout" if out == "timeout" else (out.splitlines()[-1] if out else "?")
                else:
                    status, how = "incompetent", out[-200:]
                op = m.operator_name.removeprefix("core/")
                rows.append({"module": module, "line": m.start_pos[0], "operator": op, "occurrence": m.occurrence,
                             "before": before, "after": after, "status": status, "killed_by": how,
                             "key": triage_key(module, op, before, after)})
    return sorted(rows, key=lambda r: (r["module"], r["line"], r["operator"]))


def _killer_kind(how: str) -> str:
    if how == "timeout":
        return "timeout"
    for stage in ("corpus", "fuzz"):
        for kind in ("oracle", "crash", "error"):
            if how.startswith(f"KILLED-BY {stage} {kind}"):
                return f"{stage}-{kind}"
    return "other"


def summarize(rows: list[dict[str, object]], triage: dict[str, dict[str, str]]) -> dict[str, object]:
    counted = [r for r in rows if r["status"] in ("killed", "survived")]
    killed = [r for r in counted if r["status"] == "killed"]
    survivors = [r for r in counted if r["status"] == "survived"]
    for r in survivors:
        t = triage.get(str(r["key"]), {})
        r["triage"] = t.get("class", "untriaged")
        r["reason"] = t.get("reason", "")
    equivalent = [r for r in survivors if r["triage"] == "equivalent"]
    no_verdict = [r for r in killed if _killer_kind(str(r["killed_by"])) in ("corpus-crash", "fuzz-crash", "timeout")]
    denom = len(counted) - len(equivalent)
    per_module: dict[str, Counter[str]] = {}
    for r in counted:
        c = per_module.setdefault(str(r["module"]), Counter())
        c[str(r["status"])] += 1
        if r["status"] == "survived":
            c[str(r["triage"])] += 1
    return {
        "total": len(counted), "killed": len(killed), "survived": len(survivors), "equivalent": len(equivalent),
        "score": round(len(killed) / denom, 4) if denom else None,
        "oracle_score": (round((len(killed) - len(no_verdict)) / (denom - len(no_verdict)), 4)
                         if denom - len(no_verdict) else None),
        "killed_by": dict(Counter(_killer_kind(str(r["killed_by"])) for r in killed)),
        "triage": dict(Counter(str(r["triage"]) for r in survivors)),
        "incompetent": sum(1 for r in rows if r["status"] == "incompetent"),
        "per_module": {m: dict(c) for m, c in sorted(per_module.items())},
    }


def write_report(rows: list[dict[str, object]], meta: dict[str, object], outdir: Path,
                 runs: dict[str, list[int]]) -> Path:
    triage = json.loads(TRIAGE.read_text()) if TRIAGE.exists() else {}
    for r in rows:
        lines_run = runs.get(str(r["module"]))
        r["line_runs"] = None if lines_run is None else int(r["line"]) in set(lines_run)  # type: ignore[call-overload]
    summary = summarize(rows, triage)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = outdir / f"mutation-{meta['date']}"
    doc = {"meta": meta, "summary": summary, "mutants": rows}
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    s = summary
    label = f": {meta['label']}" if meta.get("label") else ""
    lines = [f"# Mutation analysis of model/ with hvfuzz fuzz as the killer ({meta['date']}{label})", "",
             f"- tree: `{meta['commit']}`; cosmic-ray {meta['cosmic_ray']}; modules: "
             + ", ".join(f"`{m}`" for m in meta["modules"]),  # type: ignore[union-attr]
             f"- killer: corpus replay, then `hvfuzz fuzz --seed {meta['seed']} --max-examples {meta['examples']}` "
             f"(every correct variant); timeout {meta['timeout']} s per mutant; jobs {meta['jobs']}",
             f"- mutants: {meta['generated']} generated"
             + (f", a random sample of {meta['sample']} (sample seed {meta['sample_seed']})" if meta["sample"] else "")
             + f"; wall time {meta['wall_seconds']} s ({meta['per_mutant_seconds']} s per mutant); "
             f"unmutated killer run {meta['isolation']['clean_seconds']} s",  # type: ignore[index]
             f"- isolation: the killer imported `{meta['isolation']['imports']}`; a broken module in the copy: "  # type: ignore[index]
             f"`{meta['isolation']['broken']}`",  # type: ignore[index]
             "", "## Score", "",
             f"**{s['killed']} killed of {s['total']}** ({s['survived']} survived, {s['equivalent']} of them triaged "
             f"equivalent): score = killed / (total - equivalent) = **{s['score']}**; "
             f"oracle-only score (mutants killed by a model crash or a timeout, not by a verdict, "
             f"left out) = {s['oracle_score']}.", "",
             f"Killed by: {s['killed_by']}. Survivors' triage: {s['triage']}. "
             f"Incompetent (not counted): {s['incompetent']}.", "",
             "| module | killed | survived | equivalent | oracle gap | unreached | untriaged |",
             "|---|---|---|---|---|---|---|"]
    for m, c in s["per_module"].items():  # type: ignore[union-attr]
        lines.append(f"| `{m}` | {c.get('killed', 0)} | {c.get('survived', 0)} | {c.get('equivalent', 0)} | "
                     f"{c.get('oracle gap', 0)} | {c.get('unreached', 0)} | {c.get('untriaged', 0)} |")
    if meta.get("notes"):
        lines += ["", "## Notes", "", str(meta["notes"]).strip()]
    lines += ["", "## Survivors", "",
              "Triage classes: *equivalent* (no run can tell it apart; the reason), *oracle gap* (a run reaches "
              "it and the behaviour is wrong, but no oracle says so; which oracle/property should), *unreached* "
              "(the generator never drives the mutated code's distinguishing case; which path). The triage lives "
              "in `bench/mutation_triage.json`, keyed by module, operator and the changed text.", "",
              "*line runs*: whether the unmutated killer's fuzz stage executes the mutated line at all "
              "(coverage.py; blank when coverage is not installed; coverage counts a multi-line statement on its "
              "first line, so a mutation on a continuation line shows *no*).", "",
              "| module:line | operator | mutation | line runs | triage | reason |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] != "survived":
            continue
        mut = f"`{r['before']}` -> `{r['after']}`".replace("|", "\\|")
        ran = {True: "yes", False: "no", None: ""}[r["line_runs"]]  # type: ignore[index]
        lines.append(f"| `{r['module']}:{r['line']}` | {r['operator']} | {mut} | {ran} | {r['triage']} | "
                     f"{str(r['reason']).replace('|', '/')} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return stem.with_suffix(".md")


def cmd_run(args: argparse.Namespace) -> int:
    modules = args.modules or DEFAULT_MODULES
    for m in modules:
        if not (ROOT / m).is_file():
            raise SystemExit(f"mutation.py: no module {m} under {ROOT}")
    # the tree the copy is taken from (not HEAD at the end of a long run)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *PACKAGES, "corpus"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="hvfuzz-mutation-"))
    t0 = time.monotonic()
    try:
        probe = work / "probe"
        make_copy(probe)
        isolation = check_isolation(probe, args, modules[0])
        runs = line_coverage(probe, args.seed, args.examples, modules)
        (work / "coverage.json").write_text(json.dumps(runs))
        shutil.rmtree(probe)
        print(f"mutation.py: isolation checked ({isolation['imports']}; clean killer run "
              f"{isolation['clean_seconds']} s; broken module: {isolation['broken']})", flush=True)
        copies = run_sessions(modules, args, work)
        rows = collect(copies)
        from cosmic_ray.work_db import WorkDB, use_db

        with use_db(str(copies[0] / "session.sqlite"), WorkDB.Mode.open) as db:
            generated = db.num_work_items
        wall = time.monotonic() - t0
        from importlib.metadata import version

        meta = {"date": args.date or datetime.date.today().isoformat(), "commit": commit + ("+dirty" if dirty else ""),
                "cosmic_ray": version("cosmic-ray"), "label": args.label, "modules": modules, "seed": args.seed,
                "examples": args.examples, "timeout": args.timeout, "jobs": args.jobs, "generated": generated,
                "sample": args.sample, "sample_seed": args.sample_seed, "wall_seconds": round(wall),
                "per_mutant_seconds": round(wall / max(len(rows), 1) * args.jobs, 1), "isolation": isolation}
        (work / "meta.json").write_text(json.dumps(meta, indent=1))
        path = write_report(rows, meta, Path(args.out), runs)
        print(f"mutation.py: {path}")
    finally:
        if args.keep:
            print(f"mutation.py: sessions kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    work = Path(args.work)
    copies = sorted(p for p in work.glob("copy*") if (p / "session.sqlite").exists())
    meta = json.loads((work / "meta.json").read_text())
    if args.notes:
        meta["notes"] = Path(args.notes).read_text()
        (work / "meta.json").write_text(json.dumps(meta, indent=1))
    cov = work / "coverage.json"
    if not cov.exists():
        cov.write_text(json.dumps(line_coverage(copies[0], int(meta["seed"]), int(meta["examples"]), meta["modules"])))
    print(f"mutation.py: {write_report(collect(copies), meta, Path(args.out), json.loads(cov.read_text()))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("kill", "report"):
        sub = argv.pop(0)
        p = argparse.ArgumentParser(prog=f"mutation.py {sub}")
        if sub == "kill":
            p.add_argument("--seed", type=int, default=1)
            p.add_argument("--examples", type=int, default=200)
            return cmd_kill(p.parse_args(argv))
        p.add_argument("work", help="a session directory kept with --keep")
        p.add_argument("--notes", help="a Markdown file whose text the report carries under 'Notes'")
        p.add_argument("--out", default=str(ROOT / "bench" / "results"))
        return cmd_report(p.parse_args(argv))
    p = argparse.ArgumentParser(prog="mutation.py", description=__doc__.split("\n\n")[0])
    p.add_argument("modules", nargs="*", help=f"paths under the repository (default: {' '.join(DEFAULT_MODULES)})")
    p.add_argument("--examples", type=int, default=200, help="hvfuzz fuzz --max-examples per correct variant")
    p.add_argument("--seed", type=int, default=1, help="hvfuzz fuzz --seed")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds per mutant (a timeout counts as killed)")
    p.add_argument("--jobs", type=int, default=1, help="parallel cosmic-ray sessions, each in its own copy")
    p.add_argument("--sample", type=int, default=None, help="a random sample of N mutants (quick run)")
    p.add_argument("--sample-seed", type=int, default=14)
    p.add_argument("--date", default=None, help="the date in the report's name (default: today)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument("--label", default="", help="a note for the report's title (e.g. 'pilot, before X')")
    p.add_argument("--keep", action="store_true", help="keep the temporary sessions (for 'report')")
    return cmd_run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
