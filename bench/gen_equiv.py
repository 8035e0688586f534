#!/usr/bin/env python3
"""Generation equivalence (a check for speed-ups of ``fuzz/gen`` and ``fuzz/decode.py`` that must
not change what is generated): decode many PRNG byte strings (and the corpus traces' encodings,
and their byte-flipped mutants) on every variant and target, and record per input the op list,
the first verdict (``execute(stop=False)``) and the semantic coverage counted along the way.

    python bench/gen_equiv.py --write FILE [--per-variant N] [--seed S]   # before the change
    python bench/gen_equiv.py --check FILE                                 # after: exit 1 on any difference

The record holds a digest per input (so FILE stays small) and the inputs are regenerated from the
seed, so ``--check`` replays exactly the inputs ``--write`` saw.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from collections import Counter

from hvfuzz.fuzz.decode import HEADER, LITERAL, STEP, encode, execute
from hvfuzz.fuzz.session import load_corpus
from hvfuzz.model.variants import VARIANTS
from hvfuzz.model.vocab import ops as O

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")


def _inputs(rng: random.Random, n: int, seeds: list[bytes]) -> list[bytes]:
    out = []
    for k in range(n):
        if seeds and k % 5 == 4:  # a corpus trace's encoding, a few bytes flipped
            b = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 6)):
                i = rng.randrange(len(b))
                b[i] = rng.randrange(256)
            out.append(bytes(b))
            continue
        b = bytearray(rng.randbytes(HEADER + STEP * rng.randint(0, 60)))
        for p in range(HEADER, len(b), STEP):
            if rng.random() < 0.03:
                b[p] = LITERAL
        out.append(bytes(b))
    return out


def _digest(data: bytes, variant: str, component: str) -> str:
    cov: Counter[str] = Counter()
    seen: list[str] = []
    t, v = execute(data, variant, component, coverage=cov, stop=False,
                   observe=lambda ex, op: seen.append(repr(ex.sut.where(op.vcpu)) if hasattr(op, "vcpu") else "-"))
    h = hashlib.sha256()
    h.update(repr(t).encode())
    h.update(repr((v.ok, v.oracle, v.step, v.reason)).encode())
    h.update(repr(sorted(cov.items())).encode())
    h.update(repr(seen).encode())
    return h.hexdigest()[:16]


def records(per_variant: int, seed: int) -> dict[str, list[str]]:
    corpus = load_corpus([CORPUS])
    seeds = []
    for t in corpus:
        try:
            seeds.append(encode(t))
        except ValueError:
            pass
    out: dict[str, list[str]] = {}
    for name in sorted(VARIANTS):
        rng = random.Random(f"{seed}/{name}")
        comps = ["system"] + [c for c in O.COMPONENTS]
        out[name] = [_digest(d, name, comps[i % 7] if i % 7 < len(comps) else "system")
                     for i, d in enumerate(_inputs(rng, per_variant, seeds))]
        # every corpus trace as literals, on this variant
        out[name] += [_digest(s, name, "system") for s in seeds[:: max(1, len(seeds) // 10)]]
        print(name, len(out[name]), file=sys.stderr, flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write")
    g.add_argument("--check")
    ap.add_argument("--per-variant", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.write:
        recs = records(a.per_variant, a.seed)
        with open(a.write, "w") as f:
            json.dump({"per_variant": a.per_variant, "seed": a.seed, "records": recs}, f)
        print(f"wrote {sum(map(len, recs.values()))} digests over {len(recs)} variants")
        return 0
    with open(a.check) as f:
        saved = json.load(f)
    recs = records(saved["per_variant"], saved["seed"])
    bad = [(n, i) for n, ds in saved["records"].items() for i, d in enumerate(ds)
           if recs.get(n, [None] * len(ds))[i] != d]
    total = sum(map(len, saved["records"].values()))
    print(f"{total - len(bad)}/{total} inputs identical over {len(saved['records'])} variants")
    for n, i in bad[:20]:
        print("DIFFERS", n, i)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
