#!/usr/bin/env python3
"""A longer conformance run (a measurement, not a test): the GICv3 CPU-interface model and ArchGic
against QEMU's GICv3 under TCG, N cases per source (random, model-derived); prints the report and writes
bench/results/conformance.md (cases, time, classes).

Usage: python bench/conformance.py [--cases N] [--seed S] [--source random|model|both]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from hvfuzz.fuzz.conformance.qemu import qemu_version
from hvfuzz.fuzz.conformance.run import SOURCES, conformance, format_report

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--source", choices=("random", "model", "both"), default="both")
    args = ap.parse_args()
    sources = SOURCES if args.source == "both" else (args.source,)
    t0 = time.monotonic()
    rep = conformance(args.cases, args.seed, lambda s: print(s, file=sys.stderr, flush=True), sources=sources)
    dt = time.monotonic() - t0
    text = format_report(rep)
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "conformance.md"), "w") as f:
        f.write(f"# hvfuzz conformance qemu: {args.cases} cases per source ({', '.join(sources)}), "
                f"seed {args.seed}\n\n{qemu_version()}; {dt:.1f} s ({rep.cases / dt:.0f} cases/s)\n\n"
                f"```\n{text}\n```\n")
    print(f"{rep.cases} cases in {dt:.1f} s; {len(rep.untriaged)} untriaged classes")
    return 1 if rep.untriaged else 0


if __name__ == "__main__":
    sys.exit(main())
