#!/usr/bin/env python3
"""The benchmark report (``tox -e bench``; a measurement, never a pass/fail test).

One run measures, side by side:

1. time to first detection for every bug variant, over ``--seeds`` seeds (median, min-max,
   found/total; a miss counts as the cap), for (a) ``hvfuzz fuzz``'s session (``fuzz_variant``)
   with the corpus scenarios that already show the variant held out, (b) the atheris target
   (``fuzz_system.py``, the same held-out seeds), (c) the naive baseline (``bench/naive.py``:
   uniform random ops, no preconditions, no shrinking), and the ratio baseline / ours;
2. throughput: runner replay ops/s, Hypothesis session ops/s against a trivial-model Hypothesis
   machine measured in the same run (same settings, as many rules, nothing executed), atheris
   execs/s with one worker and with ``-fork=2``;
3. the shrunk length of ours against the bounded-exhaustive minimum for the same oracle
   (``fuzz.exhaustive`` over the variant's default alphabet, up to ``--depth``).

Writes bench/results/bench.md and bench/results/bench.png (matplotlib: the ``bench`` extra).
The default run (cap 60 s, 5 seeds, 36 variants, three tools) takes up to a few hours on a
2-core machine, most of it the baseline and atheris running into the cap; ``--quick`` (cap 10 s,
2 seeds) takes minutes.  Usage: python bench/report.py [--cap S] [--seeds N] [--depth K]
[--quick] [--skip-atheris] [--variants NAME ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import attrs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import atheris_detect  # noqa: E402
import naive  # noqa: E402
import throughput  # noqa: E402

from hvfuzz.fuzz.exhaustive import explore, runs_for  # noqa: E402
from hvfuzz.fuzz.export import load_repro  # noqa: E402
from hvfuzz.fuzz.runner import run  # noqa: E402
from hvfuzz.fuzz.session import fuzz_variant, load_corpus  # noqa: E402
from hvfuzz.fuzz.targets import target_path  # noqa: E402
from hvfuzz.fuzz.trace import Config, Trace  # noqa: E402
from hvfuzz.model.variants import VARIANTS, correct_variants  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOOLS = ("hvfuzz fuzz", "atheris", "naive")


@attrs.define
class Detect:
    times: dict[str, list[float | None]] = attrs.Factory(dict)
    #: (oracle, length) of ours per seed
    repros: list[tuple[str, int]] = attrs.Factory(list)


def held_out(name: str) -> list[Trace]:
    corpus = load_corpus([os.path.join(ROOT, "corpus", "seeds")])
    on = [attrs.evolve(t, config=attrs.evolve(t.config, variant=name)) for t in corpus]
    return [t for t in on if run(t).ok]


def detect(name: str, seeds: int, cap: float, with_atheris: bool) -> Detect:
    d = Detect({tool: [] for tool in TOOLS})
    corpus = held_out(name)
    for s in range(seeds):
        res = fuzz_variant(name, seed=s, seconds=cap, corpus=corpus)
        d.times["hvfuzz fuzz"].append(res.seconds if res.finding else None)
        if res.finding:
            d.repros.append((res.finding.verdict.oracle or "", len(res.finding.trace.ops)))
        if with_atheris:
            d.times["atheris"].append(atheris_detect.one_run("system", name, int(cap), s, corpus)[0])
        d.times["naive"].append(naive.time_to_detect(name, s, cap)[0])
    return d


def summary(times: list[float | None], cap: float) -> tuple[float, float, float, int]:
    """(median, min, max, found) with misses counted as the cap."""
    xs = [cap if t is None else t for t in times]
    return statistics.median(xs), min(xs), max(xs), sum(t is not None for t in times)


def fmt(times: list[float | None], cap: float) -> str:
    if not times:
        return "-"
    med, lo, hi, found = summary(times, cap)
    ge = "≥ " if sum(t is None for t in times) * 2 >= len(times) else ""
    return f"{ge}{med:.2f} ({lo:.2f}–{hi:.2f}) {found}/{len(times)}"


def minimum_for(name: str, oracle: str, n: int, depth: int) -> str:
    variant, alpha = runs_for(name)[0]
    config = alpha.config(variant)
    d = min(n - 1, depth)
    res = explore(config, alpha.ops_of(config), d, oracle=oracle)
    hit = res.counterexamples.get(oracle)
    if hit is not None and len(hit[0].ops) < n:
        return f"{len(hit[0].ops)} (ours longer)"
    return f"{n} (= ours)" if d == n - 1 else f"> {d}"


# --- throughput --------------------------------------------------------------------------------------
def trivial_machine_rate(examples: int) -> float:
    """ops/s of a Hypothesis state machine with as many rules as ours (24), drawing similar
    arguments from ``data``, whose model does nothing: the ceiling of the stateful machinery."""
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, get_state_machine_test, rule

    from hvfuzz.fuzz.profiles import session_settings

    count = [0]
    ns: dict[str, Any] = {}
    for k in range(24):
        def body(self: Any, data: Any, x: int, k: int = k) -> None:
            data.draw(st.sampled_from(("x0", "pc", "v0")))
            count[0] += 1
        ns[f"r{k}"] = rule(data=st.data(), x=st.integers(0, 255))(body)
    machine = type("Trivial", (RuleBasedStateMachine,), ns)
    test = get_state_machine_test(machine, settings=session_settings(examples))
    t0 = time.perf_counter()
    test()
    return count[0] / (time.perf_counter() - t0)


def atheris_rate(jobs: int, seconds: int) -> float:
    """Total execs/s of the system target on the correct model with ``-fork=jobs``."""
    work = tempfile.mkdtemp(prefix="hvfuzz-bench-")
    try:
        cmd = [sys.executable, target_path("system"), f"-max_total_time={seconds}", "-print_final_stats=1",
               f"-artifact_prefix={work}/", work]
        if jobs > 1:
            cmd.insert(2, f"-fork={jobs}")
        p = subprocess.run(cmd, env=dict(os.environ, HVFUZZ_VARIANT="lazy", HVFUZZ_FINDINGS=work),
                           capture_output=True, text=True, check=False)
        if jobs == 1:
            m = re.search(r"average_exec_per_sec:\s+(\d+)", p.stderr)
            return float(m.group(1)) if m else 0.0
        execs = [int(x) for x in re.findall(r"#(\d+):", p.stderr) + re.findall(r"^#(\d+)\s", p.stderr, re.M)]
        return max(execs, default=0) / seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)


def throughput_rows(examples: int, with_atheris: bool, out: Callable[[str], None]) -> None:
    import glob

    seeds = [load_repro(f)[0] for f in sorted(glob.glob(os.path.join(ROOT, "corpus", "seeds", "*.json")))]
    out("| measurement | variant | ops/s | note |")
    out("|---|---|---|---|")
    for v in ("lazy", "vgic-lr-overflow"):
        traces = [Trace(Config(variant=v, vcpus=t.config.vcpus, pcpus=t.config.pcpus), t.ops) for t in seeds]
        med, _ = throughput.replay_rate(traces * 10, 3)
        out(f"| runner replay, corpus seeds ×10 (short: VM creation dominates) | {v} | {med:,.0f} | target ≥ 100k |")
        med, _ = throughput.replay_rate([throughput.synthetic(v)], 3)
        out(f"| runner replay, one 18k-op trace | {v} | {med:,.0f} | target ≥ 100k |")
    ceiling = trivial_machine_rate(examples)
    out(f"| Hypothesis, trivial-model machine (24 rules, nothing executed) | - | {ceiling:,.0f} | the ceiling |")
    for v in [c.name for c in correct_variants()]:
        res = fuzz_variant(v, seed=1, max_examples=examples, engine="stateful")  # against the Hypothesis ceiling
        rate = res.ops / res.seconds
        out(f"| Hypothesis session, {res.examples} examples | {v} | {rate:,.0f} | {rate / ceiling:.0%} of the "
            f"ceiling (target ≥ 70%) |")
    if with_atheris:
        one, two = atheris_rate(1, 20), atheris_rate(2, 20)
        out(f"| atheris system target, one worker | lazy | {one:,.0f} execs/s | |")
        out(f"| atheris system target, -fork=2 | lazy | {two:,.0f} execs/s | {two / max(one, 1e-9):.2f}× one "
            f"worker (target ≥ 1.8×) |")


# --- the plot ------------------------------------------------------------------------------------------
def plot(results: dict[str, Detect], cap: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(names) + 1.5))
    colors = {"hvfuzz fuzz": "#1b7837", "atheris": "#2166ac", "naive": "#b2182b"}
    for k, tool in enumerate(TOOLS):
        ys, meds, los, his = [], [], [], []
        for i, n in enumerate(names):
            times = results[n].times.get(tool) or []
            if not times:
                continue
            med, lo, hi, _ = summary(times, cap)
            ys.append(i + (k - 1) * 0.27)
            meds.append(max(med, 1e-3))
            los.append(max(med, 1e-3) - max(lo, 1e-3))
            his.append(max(hi, 1e-3) - max(med, 1e-3))
        if ys:
            ax.errorbar(meds, ys, xerr=[los, his], fmt="o", color=colors[tool], label=tool, capsize=2, ms=4)
    ax.axvline(cap, color="grey", ls="--", lw=1)
    ax.text(cap, -1, " cap (not found)", color="grey", va="bottom", fontsize=8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds to first detection (median, min–max over seeds; log scale)")
    ax.set_title("hvfuzz: time to detect each bug variant")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--examples", type=int, default=1000, help="Hypothesis examples for the throughput rows")
    ap.add_argument("--quick", action="store_true", help="cap 10 s, 2 seeds, 300 examples")
    ap.add_argument("--skip-atheris", action="store_true")
    ap.add_argument("--variants", nargs="*")
    a = ap.parse_args()
    if a.quick:
        a.cap, a.seeds, a.examples = 10.0, 2, 300
    with_atheris = not a.skip_atheris
    names = a.variants or [n for n, v in VARIANTS.items() if v.kind in ("bug", "seed")]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    md_path = os.path.join(HERE, "results", "bench.md")
    lines: list[str] = []

    def out(line: str = "") -> None:
        lines.append(line)
        print(line, flush=True)
        with open(md_path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    started = time.monotonic()
    out(f"# hvfuzz benchmarks ({time.strftime('%Y-%m-%d %H:%M')}; Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs)")
    out()
    out(f"Options: cap {a.cap:g} s, {a.seeds} seeds, exhaustive depth {a.depth}, "
        f"{'with' if with_atheris else 'without'} atheris. Times: median (min–max) found/seeds; a miss counts "
        f"as the cap, and '≥' marks a median that is a miss.")
    out()
    out("## Time to first detection (seconds)")
    out()
    out("| variant | hvfuzz fuzz | atheris | naive | naive / ours |")
    out("|---|---|---|---|---|")
    results: dict[str, Detect] = {}
    for name in names:
        d = detect(name, a.seeds, a.cap, with_atheris)
        results[name] = d
        ours = summary(d.times["hvfuzz fuzz"], a.cap)[0]
        base = summary(d.times["naive"], a.cap)[0]
        ratio = f"{'≥ ' if base >= a.cap else ''}{base / max(ours, 1e-3):,.0f}×"
        out(f"| {name} | {fmt(d.times['hvfuzz fuzz'], a.cap)} | {fmt(d.times['atheris'], a.cap)} | "
            f"{fmt(d.times['naive'], a.cap)} | {ratio} |")
    ranked = sorted(names, key=lambda n: summary(results[n].times["hvfuzz fuzz"], a.cap)[0])
    hardest = ranked[-max(1, len(ranked) // 3):]
    def over(n: str) -> bool:  # a median that is a miss is over, whatever the cap
        med, _, _, found = summary(results[n].times["hvfuzz fuzz"], a.cap)
        return med > 10 or found * 2 <= len(results[n].times["hvfuzz fuzz"])

    over_10 = [n for n in names if over(n)]
    ratios = [summary(results[n].times["naive"], a.cap)[0] / max(summary(results[n].times["hvfuzz fuzz"], a.cap)[0],
              1e-3) for n in hardest]
    out()
    out(f"- Median time to detect ≤ 10 s with hvfuzz fuzz: {len(names) - len(over_10)}/{len(names)} variants"
        + (f" (over: {', '.join(over_10)})" if over_10 else "") + ".")
    out(f"- Hardest third for hvfuzz fuzz ({len(hardest)} variants: {', '.join(hardest)}): naive / ours = "
        f"{', '.join(f'{r:,.0f}×' for r in ratios)}; the smallest is {min(ratios):,.0f}× (target ≥ 10×; "
        "a naive miss counts as the cap, so these are lower bounds).")
    out()
    out("## Throughput")
    out()
    throughput_rows(a.examples, with_atheris, out)
    out()
    out(f"## Shrunk length vs bounded-exhaustive minimum (same oracle, default alphabet, depth ≤ {a.depth})")
    out()
    out("| variant | oracle | ours (shortest over seeds) | exhaustive minimum |")
    out("|---|---|---|---|")
    for name in names:
        if not results[name].repros:
            out(f"| {name} | - | not found | - |")
            continue
        oracle, n = min(results[name].repros, key=lambda r: r[1])
        out(f"| {name} | {oracle} | {n} | {minimum_for(name, oracle, n, a.depth)} |")
    png = os.path.join(HERE, "results", "bench.png")
    try:
        plot(results, a.cap, png)
        out()
        out(f"Plot: {os.path.relpath(png, HERE)}. Whole run: {time.monotonic() - started:.0f} s.")
    except ImportError:
        out()
        out("(no plot: matplotlib is not installed; `pip install hvfuzz[bench]` or `tox -e bench`)")
    print(f"wrote {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
