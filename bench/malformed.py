"""Malformed inputs at scale: mutate the corpus files (``fuzz/malform.py``: byte edits and
JSON-level edits) and hand each mutant to one of the loaders (``malform.LOADERS``: replay, shrink,
the four exports, findings, --corpus, --db entries, import-crash), round robin, through the CLI in
this process.  Every outcome must be exit 2 with one line on stderr for a malformed input, or
0/1 with a quiet stderr for a valid one; never a traceback.

    python bench/malformed.py --count 25000 --seed 1

Not a test (no pass/fail on time): it reports the count, the tracebacks (must be 0), every other
problem, the exit codes per loader and the time.  A valid mutant given to ``shrink`` that fails an
oracle is replayed instead (shrinking a valid failing trace is the shrinker's work, not input
checking, and takes seconds).  Exit status 1 when any outcome is wrong.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import random
import sys
import tempfile
import time

from hvfuzz.fuzz import malform
from hvfuzz.fuzz.cli import build_parser
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.trace import TraceError, repro_from_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fails(data: bytes) -> bool:
    try:
        return not run(repro_from_text(data).trace).ok
    except TraceError:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=25_000, help="mutants (default 25000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "corpus"), help="the files to mutate")
    ap.add_argument("--show", type=int, default=10, help="problems to print (default 10)")
    a = ap.parse_args(argv)
    files = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(a.corpus, "**", "*.json"), recursive=True))]
    if not files:
        print(f"no .json files under {a.corpus}", file=sys.stderr)
        return 2
    rng = random.Random(a.seed)
    parser = build_parser()
    codes: collections.Counter[tuple[str, int | None]] = collections.Counter()
    problems: list[str] = []
    tracebacks = rerouted = 0
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=shm) as work:
        for i in range(a.count):
            loader = malform.LOADERS[i % len(malform.LOADERS)]
            data = malform.mutant(rng.choice(files), rng)
            if loader == "shrink" and _fails(data):
                loader, rerouted = "replay", rerouted + 1
            o = malform.try_loader(loader, data, work, parser)
            codes[(loader, o.code)] += 1
            if o.problem:
                tracebacks += o.escaped is not None
                problems.append(f"{loader} (mutant {i}): {o.problem}")
    dt = time.monotonic() - t0
    print(f"bench/malformed.py: {a.count} mutants of {len(files)} corpus files (seed {a.seed}) "
          f"in {dt:.1f} s ({a.count / dt:.0f}/s)")
    for loader in malform.LOADERS:
        row = {c: n for (lo, c), n in sorted(codes.items(), key=lambda kv: str(kv[0])) if lo == loader}
        print(f"  {loader:<16} " + ", ".join(f"exit {c}: {n}" for c, n in row.items()))
    print(f"  valid failing mutants for shrink, replayed instead: {rerouted}")
    print(f"tracebacks: {tracebacks}; other problems: {len(problems) - tracebacks}")
    for p in problems[:a.show]:
        print(f"  {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
