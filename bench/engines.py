#!/usr/bin/env python3
"""The engines side by side (a measurement, never a pass/fail test): which finds the catalog's bugs
fastest from scratch, and how close each runs to the model's speed.

1. time to find, per bug/seed variant and engine (``fuzz/engines.py``), from scratch (no corpus,
   no database), over SEEDS seeds, capped at CAP seconds; the engines take turns per (variant,
   seed), so machine load hits them alike.  Seconds are CPU seconds of the process
   (``time.process_time``: on a shared machine wall time says more about the neighbours), cap
   included; the shrinker is not timed (``SessionResult.seconds`` ends at the finding).
   ``--naive``: bench/naive.py on the variants given (the hardest third), with ``--naive-cap``.
2. ``--throughput SECONDS [--rounds R]``: per correct variant, each engine's session ops/s (CPU
   seconds too) against the runner's replay ops/s of the corpus seeds plus bench/throughput.py's
   synthetic trace (the issue's ratio, ``ratio_seeds_*``; the two take turns in R rounds), and of
   the traces the native engine decoded in the same run (same op mix, ``ratio_*``).

Rows go to bench/results/engines.jsonl (appended; a run can be split over invocations);
``--report`` writes bench/results/engines.md from it.

Usage: python bench/engines.py [--engines native,hypothesis,stateful] [--seeds 5] [--cap 20]
                               [--naive] [--throughput SECONDS [--rounds R]] [--report]
                               [VARIANT ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

from attrs import evolve

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from naive import time_to_detect  # noqa: E402
from throughput import synthetic  # noqa: E402

from hvfuzz.fuzz.decode import execute  # noqa: E402
from hvfuzz.fuzz.engines import ENGINES, NativeFuzzer  # noqa: E402
from hvfuzz.fuzz.runner import run  # noqa: E402
from hvfuzz.fuzz.session import fuzz_variant, load_corpus  # noqa: E402
from hvfuzz.model.variants import VARIANTS, correct_variants  # noqa: E402

RESULTS = os.path.join(HERE, "results", "engines.jsonl")


def _emit(row: dict) -> None:
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def detect(variants: list[str], engines: list[str], seeds: int, cap: float, run_id: str,
           caps: dict[str, float] | None = None) -> None:
    for name in variants:
        for seed in range(seeds):
            for engine in engines:
                cap = (caps or {}).get(engine, cap)
                res = fuzz_variant(name, seed=seed, seconds=cap, corpus=[], engine=engine, search_budget=0,
                                   clock=time.process_time)
                _emit({"run": run_id, "kind": "detect", "variant": name, "engine": engine, "seed": seed, "cap": cap,
                       "found": res.finding is not None, "seconds": round(res.seconds, 3),
                       "examples": res.examples, "ops": res.ops,
                       "oracle": res.finding.verdict.oracle if res.finding else None})


def naive(variants: list[str], seeds: int, cap: float, run_id: str) -> None:
    for name in variants:
        for seed in range(seeds):
            dt, _, v, n = time_to_detect(name, seed, cap, time.process_time)
            _emit({"run": run_id, "kind": "detect", "variant": name, "engine": "naive", "seed": seed, "cap": cap,
                   "found": dt is not None, "seconds": round(dt if dt is not None else cap, 3), "examples": n,
                   "oracle": v.oracle if v else None})


def throughput(engines: list[str], seconds: float, run_id: str, rounds: int = 1) -> None:
    """``rounds`` > 1: the sessions and the replay of the seeds plus the synthetic trace take turns,
    ``seconds / rounds`` each (session seeds 0, 1, ...), so that a change in the machine's load
    during the run hits both sides of the issue's ratio alike."""
    seeds = load_corpus([os.path.join(HERE, "..", "corpus", "seeds")])
    for var in [c.name for c in correct_variants()]:
        row: dict = {"run": run_id, "kind": "throughput", "variant": var, "rounds": rounds}
        others = [evolve(t, config=evolve(t.config, variant=var)) for t in seeds] + [synthetic(var, 500)]
        per_pass = sum(len(t.ops) for t in others)
        ops = {e: 0 for e in engines}
        spent = {e: 0.0 for e in engines}
        m, replay_time = 0, 0.0
        for r in range(rounds):
            for engine in engines:
                res = fuzz_variant(var, seed=r, seconds=seconds / rounds, corpus=[], engine=engine,
                                   clock=time.process_time)
                ops[engine] += res.ops
                spent[engine] += res.seconds
            # replayed over and over (one pass takes a few hundredths of a second: too short a
            # measurement on a shared machine)
            t0 = time.process_time()
            while time.process_time() - t0 < seconds / rounds:
                for t in others:
                    run(t)
                m += per_pass
            replay_time += time.process_time() - t0
        for engine in engines:
            row[f"session_{engine}"] = round(ops[engine] / spent[engine])
        row["replay_seeds_synthetic"] = round(m / replay_time)
        # the native engine's own inputs, decoded (with coverage, as the engine runs them), then replayed
        nf = NativeFuzzer(var, random.Random(1))
        traces = []
        t0 = time.process_time()
        n = 0
        while time.process_time() - t0 < seconds:
            t, _ = execute(nf.fresh(), var)
            traces.append(t)
            n += len(t.ops)
        row["decode_fresh"] = round(n / (time.process_time() - t0))
        t0 = time.process_time()
        for t in traces:
            run(t)
        row["replay_same_traces"] = round(n / (time.process_time() - t0))
        for engine in engines:
            row[f"ratio_{engine}"] = round(row[f"session_{engine}"] / row["replay_same_traces"], 3)
            # the measure: against the replay of the seeds plus the synthetic trace
            row[f"ratio_seeds_{engine}"] = round(row[f"session_{engine}"] / row["replay_seeds_synthetic"], 3)
        _emit(row)


def report() -> None:
    rows = [json.loads(line) for line in open(RESULTS)]
    det = [r for r in rows if r["kind"] == "detect"]
    engines = sorted({r["engine"] for r in det}, key=lambda e: (list(ENGINES) + ["naive"]).index(e))
    variants = list(dict.fromkeys(r["variant"] for r in det))
    out = ["# Engines side by side (bench/engines.py)", "",
           "Time to find from scratch (`--corpus ''`), median over seeds, seconds; a miss counts as the cap "
           "(shown `>cap`). found = seeds that found it.", "",
           "| variant | " + " | ".join(f"{e} median s | {e} found" for e in engines) + " |",
           "|---|" + "---|---|" * len(engines)]
    med: dict[tuple[str, str], float] = {}
    ok: dict[tuple[str, str], bool] = {}
    for v in variants:
        cells = []
        for e in engines:
            rs = [r for r in det if r["variant"] == v and r["engine"] == e]
            if not rs:
                cells += ["", ""]
                continue
            # a finding after the cap (a Hypothesis batch ends past it) counts as a miss
            hit = [r["found"] and r["seconds"] <= r["cap"] for r in rs]
            times = [r["seconds"] if h else r["cap"] for r, h in zip(rs, hit, strict=True)]
            m = statistics.median(times)
            med[v, e] = m
            found = sum(hit)
            ok[v, e] = found * 2 > len(rs)
            text = f">{rs[0]['cap']:g}" if found * 2 < len(rs) else f">={m:.2f}" if not ok[v, e] else f"{m:.2f}"
            cells += [text, f"{found}/{len(rs)}"]
        out.append(f"| {v} | " + " | ".join(cells) + " |")
    out.append("")
    for e in engines:
        ms = [med[v, e] for v in variants if (v, e) in med]
        if ms:
            within = sum(1 for v in variants if (v, e) in med and ok[v, e] and med[v, e] <= 10)
            out.append(f"- {e}: {within}/{len(ms)} variants found within a median of 10 s; "
                       f"median of medians {statistics.median(ms):.2f} s; max {max(ms):.2f} s")
    thr = [r for r in rows if r["kind"] == "throughput"]
    if thr:
        out += ["", "Session ops/s against runner replay ops/s, per run: of the traces the native engine decoded "
                "(same op mix) and of the corpus seeds plus the synthetic trace of bench/throughput.py; ratio_* = "
                "session / replay of the same traces:", ""]
        keys = [k for k in thr[-1] if k != "kind"]
        out.append("| " + " | ".join(keys) + " |")
        out.append("|" + "---|" * len(keys))
        for r in thr:
            out.append("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    path = os.path.join(HERE, "results", "engines.md")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cap", type=float, default=20.0)
    ap.add_argument("--engine-cap", action="append", default=[], metavar="ENGINE=SECONDS",
                    help="a cap for one engine (else --cap)")
    ap.add_argument("--naive", action="store_true")
    ap.add_argument("--naive-cap", type=float, default=120.0)
    ap.add_argument("--throughput", type=float, default=0.0, metavar="SECONDS")
    ap.add_argument("--rounds", type=int, default=1,
                    help="--throughput: sessions and replay take turns in this many rounds")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("variants", nargs="*")
    a = ap.parse_args()
    run_id = time.strftime("%Y-%m-%dT%H:%M:%S")
    engines = [e for e in a.engines.split(",") if e]
    names = a.variants or [n for n, v in VARIANTS.items() if v.kind in ("bug", "seed")]
    if a.throughput:
        throughput([e for e in engines if e != "naive"], a.throughput, run_id, a.rounds)
    elif a.naive:
        naive(names, a.seeds, a.naive_cap, run_id)
    elif not a.report:
        caps = {k: float(v) for k, v in (c.split("=") for c in a.engine_cap)}
        detect(names, [e for e in engines if e != "naive"], a.seeds, a.cap, run_id, caps)
    if a.report:
        report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
