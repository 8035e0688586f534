"""What every atheris target script does: pick the variant, decode the input while running it
(``fuzz/decode.py``'s ``execute``: each step a move enabled in the current state), and raise
``OracleViolation`` (naming the oracle) on a violation, so libFuzzer writes a crash artifact.

The scripts import this module inside ``atheris.instrument_imports()`` so that coverage of
``model/`` and ``oracles/`` guides the fuzzer; nothing of hvfuzz is imported before that.

Besides that code coverage, ``fuzz(...)`` gives libFuzzer what the native engine works from:
- **semantic coverage** (``Feedback``): the situations of ``fuzz/situations.py`` with their hit
  counts, the pairs of successive situations and the LR states with TDIR (the native engine's
  ``Trail``), each hashed onto a counter of its own that libFuzzer sees as an edge;
- **a step-aware mutator** (``mutate``/``crossover``): the native engine's mutations, which keep
  the 8-byte step grid (insert, delete, duplicate or replace whole steps, a step's selector, the
  header's VM shape, the swarm mask), with a fifth of the mutants left to libFuzzer's own byte
  mutators (its dictionary and comparison operands), and crossover at step boundaries.
``HVFUZZ_ATHERIS=plain`` turns both off (code coverage and libFuzzer's mutators only), ``=bytes``
keeps the semantic coverage but not the mutator, ``=semantic`` keeps both but leaves hvfuzz
uninstrumented (no code coverage: about twice the execs/s): for measuring what each brings
(``bench/atheris_catalog.py --mode``).
"""

from __future__ import annotations

import os
import random
import sys
import zlib
from collections.abc import Callable
from typing import Any

from hvfuzz.fuzz.decode import HEADER, STEP, execute
from hvfuzz.fuzz.engines import NativeFuzzer, Trail
from hvfuzz.fuzz.plugins import PluginError, registry_for
from hvfuzz.fuzz.targets import DEFAULT_VARIANT
from hvfuzz.model.variants import Registry


class OracleViolation(Exception):
    """Raised by a target on a violated property; the message names the oracle."""


def select_variant(target: str, argv: list[str]) -> tuple[str, list[str]]:
    """The variant (``--variant=NAME`` in argv, else HVFUZZ_VARIANT, else the target's default),
    and argv without our flag (libFuzzer sees only its own flags and corpus dirs)."""
    variant = os.environ.get("HVFUZZ_VARIANT") or DEFAULT_VARIANT[target]
    rest = []
    for a in argv:
        if a.startswith("--variant="):
            variant = a.split("=", 1)[1]
        else:
            rest.append(a)
    if variant not in designs():
        print(f"hvfuzz: unknown variant {variant!r} (see 'hvfuzz variants')", file=sys.stderr)
        raise SystemExit(2)
    os.environ["HVFUZZ_VARIANT"] = variant  # the workers -fork/-jobs start inherit it
    return variant, rest


def designs() -> Registry:
    """hvfuzz's variants and the designs of the entry points and ``HVFUZZ_DESIGNS`` (which
    ``hvfuzz atheris --design`` sets for the target)."""
    try:
        return registry_for()
    except PluginError as e:
        print(f"hvfuzz: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


#: counters reserved for the semantic coverage (features are hashed onto them)
FEEDBACK_COUNTERS = 1 << 14
#: the modes of ``HVFUZZ_ATHERIS``
MODES = ("full", "semantic", "bytes", "plain")


class Feedback:
    """The semantic coverage of one input as libFuzzer counters: each situation bumps its counter
    as many times as the lower bound of its AFL hit-count class (libFuzzer buckets counters the same
    way), each succession and LR state its own once.  ``reserve``/``bump``: atheris's
    ``_reserve_counter``/``_trace_branch``; the counters are reserved before ``atheris.Fuzz()``."""

    def __init__(self, reserve: Callable[[], int], bump: Callable[[int], None], size: int = FEEDBACK_COUNTERS):
        self.counters = [reserve() for _ in range(size)]
        self.bump = bump
        self.slots: dict[object, int] = {}

    def slot(self, feature: object) -> int:
        k = self.slots.get(feature)
        if k is None:
            k = self.slots[feature] = self.counters[zlib.crc32(repr(feature).encode()) % len(self.counters)]
        return k

    def report(self, trail: Trail) -> None:
        bump = self.bump
        for s, n in trail.items():
            k = self.slot(s)
            for _ in range(n if n <= 3 else min(128, 1 << (n.bit_length() - 1))):
                bump(k)
        for e in trail.edges:
            bump(self.slot(e))
        for st in trail.states:
            bump(self.slot(st))


def one_input(variant: str, component: str, registry: Registry | None = None,
              feedback: Feedback | None = None) -> Callable[[bytes], None]:
    reg = registry if registry is not None else designs()

    def test_one_input(data: bytes) -> None:
        if feedback is None:
            _, v = execute(data, variant, component, registry=reg)
        else:
            trail = Trail()
            _, v = execute(data, variant, component, coverage=trail, observe=trail.observe, registry=reg)
            feedback.report(trail)
        if not v.ok:
            raise OracleViolation(f"hvfuzz: oracle {v.oracle} violated at step {v.step} on {variant}: {v.reason}")

    return test_one_input


def step_mutator(variant: str, registry: Registry, byte_mutate: Callable[[bytes, int], bytes] | None = None,
                 ) -> Callable[[bytes, int, int], bytes]:
    """libFuzzer's custom mutator ``(data, max_size, seed) -> bytes``: a fresh input (as the native
    engine makes them: a header of the variant's VM shapes, swarm mask, random steps) when ``data``
    has no step, or one time in ten; ``byte_mutate`` (``atheris.Mutate``: libFuzzer's own mutators)
    one time in five; else the native engine's step-aware mutations of ``data``."""

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        nf = NativeFuzzer(variant, rng, registry=registry, queue=[data])
        r = rng.random()
        if len(data) < HEADER + STEP or r < 0.1:
            out = nf.fresh()
        elif byte_mutate is not None and r < 0.3:
            out = byte_mutate(data, max_size)
        else:
            out = nf.mutant()
        return out[:max_size]

    return mutate


def crossover(data1: bytes, data2: bytes, max_size: int, seed: int) -> bytes:
    """libFuzzer's custom crossover: ``data1``'s header and first steps, then ``data2``'s steps from a
    step boundary on."""
    rng = random.Random(seed)
    i = HEADER + STEP * rng.randrange(max(0, len(data1) - HEADER) // STEP + 1)
    j = HEADER + STEP * rng.randrange(max(0, len(data2) - HEADER) // STEP + 1)
    return (data1[:i] + data2[j:])[:max_size]


def fuzz(target: str, component: str, argv: list[str], atheris: Any) -> None:
    """What a byte-format target script runs: the variant from argv/``HVFUZZ_VARIANT``, the semantic
    coverage and the step-aware mutator unless ``HVFUZZ_ATHERIS`` says otherwise, then libFuzzer."""
    variant, argv = select_variant(target, argv)
    mode = os.environ.get("HVFUZZ_ATHERIS") or "full"
    if mode not in MODES:
        print(f"hvfuzz: HVFUZZ_ATHERIS={mode!r}: one of {', '.join(MODES)}", file=sys.stderr)
        raise SystemExit(2)
    reg = designs()
    # atheris.Fuzz() rebinds atheris._trace_branch and atheris.Mutate to libFuzzer's: look them up per call
    feedback = None if mode == "plain" else Feedback(atheris._reserve_counter, lambda k: atheris._trace_branch(k))
    kw: dict[str, Any] = {}
    if mode == "full":
        kw = {"custom_mutator": step_mutator(variant, reg, lambda d, n: atheris.Mutate(d, n)),
              "custom_crossover": crossover}
    atheris.Setup(argv, one_input(variant, component, reg, feedback), **kw)
    atheris.Fuzz()
