#!/usr/bin/env python3
"""The atheris system target over the whole catalog (a measurement, not a test): for every ``bug``
variant of ``hvfuzz variants``, one libFuzzer run of ``fuzz/targets/fuzz_system.py`` from an EMPTY
corpus (no seed inputs, no shipped corpus), with the command line ``hvfuzz atheris`` builds
(``fuzz/libfuzzer.target_command``: the generated dictionary, ``-max_len=512 -len_control=0``),
``-max_total_time=SECONDS``; libFuzzer stops at the first crash.  Per variant: found or not, the
seconds from the process start to the crash (``found_s``, including the target's start-up, which
is also reported as ``startup_s``: the time to libFuzzer's ``INFO: Seed:`` line), the oracle of
the crash, and the execs.

Usage:
    python bench/atheris_catalog.py [--seconds 60] [--parallel 1] [--seed 1]
                                    [--variants a,b,...] [--out bench/results/atheris-catalog]
                                    [--mode full|semantic|bytes|plain] [--force] [-- LIBFUZZER FLAGS ...]

Writes OUT.json (updated after every variant, so an interrupted run resumes: variants already
in it are skipped unless --force) and OUT.md (the table and the summary).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import attrs

from hvfuzz.fuzz.decode import decode
from hvfuzz.fuzz.libfuzzer import target_command
from hvfuzz.fuzz.runner import run
from hvfuzz.model.variants import VARIANTS

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "atheris-catalog")
_ORACLE = re.compile(r"hvfuzz: oracle (\S+) violated at step (\d+)")
_STAT = re.compile(r"stat::(\w+):\s+(\d+)")
_EXECS = re.compile(r"^#(\d+)\s")


def check_crash(data: bytes, variant: str) -> dict:
    """Whether the crash input reproduces on ``variant`` (decoded there, replayed), and the correct
    designs of the same GIC version the decoded trace runs clean on (none: a finding of the correct
    designs too, not of this variant's bug)."""
    trace = decode(data, variant, "system")
    v = run(trace)
    clean = []
    for name, d in VARIANTS.items():
        if d.kind != "correct" or d.gic_version != VARIANTS[variant].gic_version:
            continue
        try:
            ok = run(attrs.evolve(trace, config=attrs.evolve(trace.config, variant=name))).ok
        except Exception:  # an op or shape that design does not take
            continue
        if ok:
            clean.append(name)
    return {"reproduces": not v.ok, "replay_oracle": v.oracle, "ops": len(trace.ops), "clean_on": clean,
            "input_b64": base64.b64encode(data).decode()}


def one_run(variant: str, seconds: int, seed: int, extra: list[str], mode: str) -> dict:
    """One libFuzzer run of the system target on ``variant`` from an empty corpus."""
    work = tempfile.mkdtemp(prefix="hvfuzz-catalog-")
    try:
        cmd, env, prefix, n = target_command("system", variant, seconds, 1, work, [], [f"-seed={seed}", *extra])
        assert n == 0
        env["HVFUZZ_ATHERIS"] = mode
        t0 = time.monotonic()
        startup = None
        oracle = step = None
        stats: dict[str, int] = {}
        execs = 0
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             errors="replace")
        assert p.stdout is not None
        for line in p.stdout:
            if startup is None and line.startswith("INFO: Seed:"):
                startup = time.monotonic() - t0
            if oracle is None and (m := _ORACLE.search(line)):
                oracle, step = m.group(1), int(m.group(2))
            if m := _STAT.search(line):
                stats[m.group(1)] = int(m.group(2))
            if m := _EXECS.match(line):
                execs = max(execs, int(m.group(1)))
        rc = p.wait()
        dt = time.monotonic() - t0
        crashes = [f for f in os.listdir(work) if "crash-" in f]
        found = bool(crashes)
        check = {}
        if found:
            with open(os.path.join(work, crashes[0]), "rb") as f:
                check = check_crash(f.read(), variant)
        execs = stats.get("number_of_executed_units", execs)
        return {"variant": variant, "component": VARIANTS[variant].component, "found": found,
                "found_s": round(dt, 2) if found else None, "wall_s": round(dt, 2),
                "startup_s": round(startup, 2) if startup is not None else None,
                "oracle": oracle, "step": step, "execs": execs, "returncode": rc, "seed": seed, "mode": mode,
                "seconds": seconds, "flags": cmd[2:-1], **check}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summary(rows: list[dict], seconds: int) -> list[str]:
    found = [r for r in rows if r["found"]]
    times = [r["found_s"] for r in found]
    pct = 100.0 * len(found) / len(rows) if rows else 0.0
    med = f"{statistics.median(times):.1f} s" if times else "-"
    misses = ", ".join(r["variant"] for r in rows if not r["found"]) or "none"
    return [f"found {len(found)}/{len(rows)} ({pct:.0f} %) within {seconds} s each, from an empty corpus; "
            f"median time to find {med} (from process start, start-up included)", "", f"misses: {misses}"]


def write_outputs(out: str, results: dict[str, dict], order: list[str], seconds: int, note: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".json.tmp"
    with open(tmp, "w") as f:
        json.dump({"seconds": seconds, "note": note, "results": results}, f, indent=1)
    os.replace(tmp, out + ".json")
    rows = [results[v] for v in order if v in results]
    lines = [f"# atheris system target over the catalog ({seconds} s cap, empty corpus, one run each)", "",
             note, "", *summary(rows, seconds), "",
             "| variant | component | found | s to find | start-up s | oracle | execs | clean on correct designs |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        clean = "-" if "clean_on" not in r else (", ".join(r["clean_on"]) or "NONE")
        lines.append(f"| {r['variant']} | {r['component']} | {'yes' if r['found'] else 'no'} | "
                     f"{r['found_s'] if r['found'] else '-'} | {r['startup_s']} | {r['oracle'] or '-'} | "
                     f"{r['execs']} | {clean} |")
    with open(out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--parallel", type=int, default=1, help="variants run at once (default 1)")
    ap.add_argument("--seed", type=int, default=1, help="libFuzzer -seed of every run")
    ap.add_argument("--variants", default="", help="comma-separated subset (default: every bug variant)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="path without extension (.json and .md are written)")
    ap.add_argument("--force", action="store_true", help="re-measure variants already in OUT.json")
    ap.add_argument("--mode", default="full", choices=("full", "semantic", "bytes", "plain"),
                    help="the target's HVFUZZ_ATHERIS (fuzz/targets/driver.py): full (default), semantic (no code "
                         "coverage), bytes (semantic coverage, libFuzzer's mutators), plain (code coverage and "
                         "libFuzzer's mutators only)")
    ap.add_argument("--note", default="", help="a line for the table's header (e.g. the commit)")
    ap.add_argument("flags", nargs=argparse.REMAINDER, help="libFuzzer flags after --")
    a = ap.parse_args()
    catalog = [n for n, v in VARIANTS.items() if v.kind == "bug"]
    wanted = [v for v in a.variants.split(",") if v] or catalog
    for v in wanted:
        if v not in VARIANTS:
            print(f"unknown variant {v!r}", file=sys.stderr)
            raise SystemExit(2)
    results: dict[str, dict] = {}
    if os.path.exists(a.out + ".json"):
        with open(a.out + ".json") as f:
            results = json.load(f)["results"]
    todo = [v for v in wanted if a.force or v not in results]
    extra = [f for f in a.flags if f != "--"]
    note = (a.note + "; " if a.note else "") + f"mode {a.mode}; flags: {' '.join(extra) or '(hvfuzz atheris defaults)'}"
    order = catalog + [v for v in wanted if v not in catalog]
    lock = threading.Lock()
    print(f"{len(todo)} to run, {len(wanted) - len(todo)} already in {a.out}.json", flush=True)

    def job(v: str) -> None:
        r = one_run(v, a.seconds, a.seed, extra, a.mode)
        with lock:
            results[v] = r
            write_outputs(a.out, results, order, a.seconds, note)
            print(f"{v:<38} {'FOUND' if r['found'] else 'miss '} {r['wall_s']:6.1f} s  "
                  f"{r['oracle'] or '-'}  execs {r['execs']}", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, a.parallel)) as ex:
        for f in [ex.submit(job, v) for v in todo]:
            f.result()
    write_outputs(a.out, results, order, a.seconds, note)
    for line in summary([results[v] for v in wanted if v in results], a.seconds):
        print(line)


if __name__ == "__main__":
    main()
