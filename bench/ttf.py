#!/usr/bin/env python3
"""Time to find from scratch, native engine, a few variants x seeds, each (variant, seed) in its own
process, ``--jobs`` at a time (a measurement, never a pass/fail test).  Seconds are CPU seconds of
the process (``time.process_time``, as bench/engines.py), the cap counted for a miss.  Rows go to
bench/results/ttf.jsonl with ``--label`` (e.g. ``before`` / ``after``); ``--table`` prints the
medians per label side by side.

To measure a baseline against the working tree: export the baseline's packages under a directory
``D/hvfuzz/{fuzz,model,oracles,corpus}`` (``git archive``) and run with ``PYTHONPATH=D``.

Usage: python bench/ttf.py [--seeds 5] [--cap 30] [--jobs 3] --label L VARIANT ...
       python bench/ttf.py --table [VARIANT ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "ttf.jsonl")


def one(variant: str, seed: int, cap: float) -> dict:
    """The engine as ``fuzz_variant(corpus=[], engine="native")`` runs it, without the shrinker."""
    from hvfuzz.fuzz import engines
    from hvfuzz.fuzz.strategies import SessionStats

    stats = SessionStats()
    stats.started = time.process_time()
    er = engines.EngineRun(variant, seed, stats, [], deadline=stats.started + cap, clock=time.process_time)
    engines.run_engine("native", er)
    dt = time.process_time() - stats.started
    return {"variant": variant, "seed": seed, "cap": cap, "found": er.failure is not None,
            "seconds": round(dt if er.failure is not None else cap, 3), "examples": stats.examples,
            "oracle": er.failure[1].oracle if er.failure else None, "engines": engines.__file__}


def table(variants: list[str]) -> None:
    rows = [json.loads(line) for line in open(RESULTS)]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    variants = variants or list(dict.fromkeys(r["variant"] for r in rows))
    print("| variant | " + " | ".join(f"{lb}: seconds per seed | {lb}: median | {lb}: found" for lb in labels) + " |")
    print("|---|" + "---|---|---|" * len(labels))
    for v in variants:
        cells = []
        for lb in labels:
            rs = sorted((r for r in rows if r["variant"] == v and r["label"] == lb), key=lambda r: r["seed"])
            if not rs:
                cells += ["", "", ""]
                continue
            times = [r["seconds"] if r["found"] else r["cap"] for r in rs]
            cells += [" ".join(f"{t:.1f}" if r["found"] else f">{r['cap']:g}" for t, r in zip(times, rs, strict=True)),
                      f"{statistics.median(times):.2f}", f"{sum(r['found'] for r in rs)}/{len(rs)}"]
        print(f"| {v} | " + " | ".join(cells) + " |")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed-list", default="", help="comma-separated seeds (else 0..seeds-1)")
    ap.add_argument("--cap", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--label", default="")
    ap.add_argument("--one", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    ap.add_argument("--table", action="store_true")
    ap.add_argument("variants", nargs="*")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]), a.cap)))
        return 0
    if a.table:
        table(a.variants)
        return 0
    seeds = [int(s) for s in a.seed_list.split(",")] if a.seed_list else list(range(a.seeds))
    todo = [(v, s) for v in a.variants for s in seeds]
    running: list[tuple[subprocess.Popen, str, int]] = []
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    while todo or running:
        while todo and len(running) < a.jobs:
            v, s = todo.pop(0)
            p = subprocess.Popen([sys.executable, __file__, "--cap", str(a.cap), "--one", v, str(s)],
                                 stdout=subprocess.PIPE, text=True)
            running.append((p, v, s))
        p, v, s = running.pop(0)
        out, _ = p.communicate()
        row = json.loads(out.strip().splitlines()[-1]) | {"label": a.label}
        with open(RESULTS, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
