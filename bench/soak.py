"""False-alarm soak: run the correct designs through at least N fuzzed ops each and report every
failure (a failure on a correct design is a false alarm or a finding, never noise).

The ops are drawn by the generator (``fuzz/gen``) from a seeded PRNG (``RandomChooser``), the same
moves a ``hvfuzz fuzz`` session draws through Hypothesis, without Hypothesis's per-choice cost, so
a million ops take minutes instead of an hour.  Every trace runs the whole judge chain while it
is generated; a failing trace is shrunk and written as a repro.

    python bench/soak.py --ops 1000000                 # every correct design
    python bench/soak.py --ops 200000 --variant lazy --seed 7

Exit status 0 when every design ran clean, 1 when one failed (repros under --findings).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from hvfuzz.fuzz.export import write_repro
from hvfuzz.fuzz.gen import Stop, begin, walk
from hvfuzz.fuzz.gen.choosers import RandomChooser
from hvfuzz.fuzz.runner import Verdict, run
from hvfuzz.fuzz.shrink import shrink
from hvfuzz.fuzz.trace import Trace
from hvfuzz.model.variants import VARIANTS


def _recorder(failures: list[Trace]) -> Callable[[Trace, Verdict], NoReturn]:
    """The driver's ``on_violation``: keep the failing trace, then end the walk as the default does."""
    def record(trace: Trace, verdict: Verdict) -> NoReturn:
        failures.append(trace)
        raise Stop(verdict)
    return record


def soak(variant: str, ops: int, seed: int, max_ops: int) -> tuple[int, int, float, list[Trace]]:
    """Generate traces of up to ``max_ops`` ops on ``variant`` until ``ops`` ops ran; returns
    (ops, traces, cpu seconds, failing traces)."""
    done = traces = 0
    failures: list[Trace] = []
    t0 = time.process_time()
    k = 0
    while done < ops:
        chooser = RandomChooser.seeded(seed * 1_000_003 + k)
        k += 1
        drv = begin(variant, chooser)
        drv.on_violation = _recorder(failures)  # every failing op, also the last of an overshooting macro move
        walk(drv, chooser, max_ops)
        done += len(drv.ops)
        traces += 1
    return done, traces, time.process_time() - t0, failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=1_000_000, help="fuzzed ops per design (default 1M)")
    ap.add_argument("--variant", action="append", help="design (repeatable; default: every correct one)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-ops", type=int, default=150, help="ops per trace (default 150)")
    ap.add_argument("--findings", default="findings", help="directory for repro files")
    a = ap.parse_args(argv)
    variants = a.variant or sorted(n for n, v in VARIANTS.items() if v.kind in ("correct", "reference"))
    bad = 0
    for name in variants:
        wall = time.monotonic()
        done, traces, cpu, failures = soak(name, a.ops, a.seed, a.max_ops)
        wall = time.monotonic() - wall
        print(f"{name}: {done} ops in {traces} traces, {cpu:.0f} s CPU ({wall:.0f} s wall, "
              f"{done / max(cpu, 1e-9):.0f} ops/s CPU): {len(failures)} failing trace(s)", flush=True)
        for t in failures[:5]:
            v = run(t)
            small = shrink(t, v, max_runs=3000)
            path = write_repro(a.findings, small, run(small), {"found_by": f"bench/soak.py seed {a.seed}"})
            print(f"  {v.oracle} at step {v.step}: {v.reason}\n  repro ({len(small.ops)} ops): {path}", flush=True)
        bad += bool(failures)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
