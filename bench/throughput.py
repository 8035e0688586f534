#!/usr/bin/env python3
"""Throughput benchmarks (a measurement, never a pass/fail test).

1. runner replay ops/s: the corpus seed traces and a long synthetic trace replayed through
   ``runner.run`` (the variant and the reference side by side, oracles after every op);
2. session ops/s: ``fuzz_variant`` (the default engine) on every correct variant for a fixed example budget
   (bench/engines.py --throughput compares the engines).

Usage: python bench/throughput.py [--examples N] [--repeat N]; writes bench/results/throughput.md
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import statistics
import sys
import time

from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.session import fuzz_variant
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.variants import correct_variants
from hvfuzz.model.vocab import ops as O

HERE = os.path.dirname(os.path.abspath(__file__))


def synthetic(variant: str, rounds: int = 2000) -> Trace:
    ops: list[O.Op] = [O.KvmRun(0, 0), O.GuestEnter(0)]
    for i in range(rounds):
        ops += [O.GuestWriteReg(0, "x1", i), O.GuestExit(0, "trap_mmio_read", value=7, rt=2), O.HandleExit(0),
                O.GuestEnter(0), O.GuestExit(0, "irq"), O.HandleExit(0), O.SchedOut(0), O.SchedIn(0, 1),
                O.GuestEnter(0)]
    return Trace(Config(variant=variant, vcpus=1, pcpus=2), tuple(ops))


def replay_rate(traces: list[Trace], repeat: int) -> tuple[float, float]:
    n = sum(len(t.ops) for t in traces)
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for t in traces:
            run(t)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), statistics.pstdev(rates)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows = [f"# hvfuzz throughput ({time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs)", "",
            "| measurement | variant | ops | ops/s (median) | spread (stdev) |", "|---|---|---|---|---|"]
    seeds = [load_repro(f)[0] for f in sorted(glob.glob(os.path.join(HERE, "..", "corpus", "seeds", "*.json")))]
    for v in [c.name for c in correct_variants()]:
        traces = [Trace(Config(variant=v, vcpus=t.config.vcpus, pcpus=t.config.pcpus), t.ops) for t in seeds]
        med, sd = replay_rate(traces * 50, args.repeat)
        rows.append(f"| runner replay, corpus seeds x50 | {v} | {sum(len(t.ops) for t in traces) * 50} | "
                    f"{med:,.0f} | {sd:,.0f} |")
        long = synthetic(v)
        med, sd = replay_rate([long], args.repeat)
        rows.append(f"| runner replay, synthetic 18k-op trace | {v} | {len(long.ops)} | {med:,.0f} | {sd:,.0f} |")
    for v in [c.name for c in correct_variants()]:
        res = fuzz_variant(v, seed=1, max_examples=args.examples)
        rows.append(f"| {res.engine} session, {res.examples} examples | {v} | {res.ops} | "
                    f"{res.ops / res.seconds:,.0f} | - |")
    text = "\n".join(rows) + "\n"
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "throughput.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
