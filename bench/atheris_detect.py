#!/usr/bin/env python3
"""Time to detect, per bug variant, for the two atheris targets (a measurement, not a test):
``fuzz_system.py`` (bytes decoded by fuzz/decode.py) and ``fuzz_hypothesis.py`` (the Hypothesis
state machine's ``fuzz_one_input``), each from an empty corpus and from the encoded seed corpus
with the scenarios that show the variant held out.  Also each target's execs/s on a correct model.

Usage: python bench/atheris_detect.py [--seconds N] [--seeds N] [VARIANT ...]
Writes bench/results/atheris.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import attrs

from hvfuzz.fuzz.libfuzzer import DEFAULT_FLAGS, write_seed_inputs
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.session import load_corpus
from hvfuzz.fuzz.targets import target_path
from hvfuzz.model.variants import VARIANTS

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def one_run(target: str, variant: str, seconds: int, seed: int, seeds: list) -> tuple[float | None, float]:
    """(seconds to the first crash or None, execs/s)."""
    work = tempfile.mkdtemp(prefix="hvfuzz-bench-")
    try:
        corpus = os.path.join(work, "corpus")
        os.makedirs(corpus)
        if seeds:
            write_seed_inputs(seeds, corpus, "system")
        cmd = [sys.executable, target_path(target), f"-max_total_time={seconds}", f"-seed={seed + 1}",
               f"-artifact_prefix={work}/", "-print_final_stats=1", *DEFAULT_FLAGS, corpus]
        env = dict(os.environ, HVFUZZ_VARIANT=variant, HVFUZZ_FINDINGS=work)
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        dt = time.monotonic() - t0
        m = re.search(r"average_exec_per_sec:\s+(\d+)", p.stderr)
        crashed = any(f.startswith("crash-") for f in os.listdir(work))
        return (dt if crashed else None), float(m.group(1)) if m else 0.0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--targets", default="system,hypothesis", help="comma-separated (default both)")
    ap.add_argument("--empty-only", action="store_true", help="only from an empty corpus")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "atheris.md"))
    ap.add_argument("variants", nargs="*")
    a = ap.parse_args()
    names = a.variants or [n for n, v in VARIANTS.items() if v.kind in ("bug", "seed")]
    corpus = load_corpus([os.path.join(ROOT, "corpus", "seeds")])
    rows = ["| variant | target | corpus | found | median s to detect | execs/s |", "|---|---|---|---|---|---|"]
    for name in names:
        on = [attrs.evolve(t, config=attrs.evolve(t.config, variant=name)) for t in corpus]
        held_out = [t for t in on if run(t).ok]
        for target in a.targets.split(","):
            for label, seeds in (("empty", []), ("held-out seeds", held_out))[:1 if a.empty_only else 2]:
                if target == "hypothesis" and seeds:
                    continue  # its inputs are choice sequences: the byte-format seeds do not apply
                res = [one_run(target, name, a.seconds, s, seeds) for s in range(a.seeds)]
                found = [t for t, _ in res if t is not None]
                med = f"{statistics.median(found):.1f}" if found else "-"
                eps = statistics.median(e for _, e in res)
                row = f"| {name} | {target} | {label} | {len(found)}/{len(res)} | {med} | {eps:.0f} |"
                print(row, flush=True)
                rows.append(row)
    out = a.out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(f"# atheris time to detect ({a.seconds} s budget, {a.seeds} seeds)\n\n" + "\n".join(rows) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
