#!/usr/bin/env python3
"""Shrunk length against the bounded-exhaustive minimum, as a user meets it (a measurement, not a
test): for every bug variant, ``hvfuzz fuzz --variant NAME --seconds S --seed K`` for seeds 1..N
(the default corpus, as from the checkout), then for the repro of seed 1 a breadth-first search
(``fuzz.exhaustive``) over the variant's default alphabet for a shorter trace failing the same
oracle, up to ``--depth`` ops.  "= minimum" means the search proved nothing shorter exists over
the alphabet; "<= all seeds" means the repro is no longer than any of the N seeds' repros.

Usage: python bench/shrink_minimum.py [--seconds 60] [--seeds 5] [--depth 6] [VARIANT ...]
Writes bench/results/shrink_minimum.md.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

from hvfuzz.fuzz.exhaustive import explore, runs_for
from hvfuzz.model.variants import VARIANTS

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def fuzz_once(name: str, seed: int, seconds: float) -> tuple[str, int] | None:
    """(oracle, repro length) of ``hvfuzz fuzz`` run from the checkout, or None."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "hvfuzz.fuzz", "fuzz", "--variant", name, "--seconds", str(seconds),
                        "--seed", str(seed), "--findings", d], cwd=ROOT, capture_output=True, check=False)
        files = glob.glob(os.path.join(d, "*.json"))
        if not files:
            return None
        with open(files[0], encoding="utf-8") as f:
            rep = json.load(f)
        return rep["verdict"]["oracle"], len(rep["ops"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("variants", nargs="*")
    a = ap.parse_args()
    names = a.variants or [n for n, v in VARIANTS.items() if v.kind in ("bug", "seed")]
    rows = [f"# Shrunk length vs bounded-exhaustive minimum ({time.strftime('%Y-%m-%d %H:%M')}; "
            f"hvfuzz fuzz --seconds {a.seconds:g}, seeds 1..{a.seeds}; search depth {a.depth})", "",
            "| variant | oracle (seed 1) | seed 1 length | seeds 1..N | exhaustive minimum (same oracle) | verdict "
            "| variant's minimum (any oracle) |",
            "|---|---|---|---|---|---|---|"]
    print("\n".join(rows), flush=True)
    for name in names:
        found = [fuzz_once(name, s, a.seconds) for s in range(1, a.seeds + 1)]
        first = found[0]
        lengths = ", ".join("-" if f is None else str(f[1]) for f in found)
        variant, alpha = runs_for(name)[0]
        config = alpha.config(variant)
        anyo = explore(config, alpha.ops_of(config), a.depth)
        any_min = (f"{len(anyo.counterexample.ops)} ({anyo.verdict.oracle})"  # type: ignore[union-attr]
                   if anyo.counterexample is not None else f"> {a.depth}")
        if first is None:
            row = f"| {name} | - | not found | {lengths} | - | - | {any_min} |"
        else:
            oracle, n = first
            depth = min(n - 1, a.depth)
            res = explore(config, alpha.ops_of(config), depth, oracle=oracle)
            hit = res.counterexamples.get(oracle)
            if hit is not None and len(hit[0].ops) < n:
                minimum, verdict = str(len(hit[0].ops)), f"longer than the minimum by {n - len(hit[0].ops)}"
            elif depth == n - 1:
                minimum, verdict = f"{n} (nothing shorter up to {depth})", "= minimum"
            else:
                same = [f[1] for f in found if f is not None and f[0] == oracle]
                minimum = f"> {depth}"
                verdict = "<= all seeds" if n <= min(same) else f"seed 1 longer than {min(same)}"
            row = f"| {name} | {oracle} | {n} | {lengths} | {minimum} | {verdict} | {any_min} |"
        rows.append(row)
        print(row, flush=True)
    out = os.path.join(HERE, "results", "shrink_minimum.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
