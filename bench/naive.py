"""The naive baseline of the benchmarks: random traces with no knowledge of the designs.

Every op is drawn uniformly from the whole vocabulary (``model.vocab.ops.OP_CLASSES``) and every
field uniformly from its valid domain (``Domain.naive``, ``model/vocab/fields.py``): vcpus and
pCPUs of the VM, register names from the list the op's field allows, exit kinds, PSCI functions,
pages, MP states, booleans, INTIDs 0-63 (0-1023 for EOI/DIR), priorities 0-255, BPR 0-7, SError
syndromes 0..2^24-1.  64-bit values (register values, MMIO data, PSCI entry points and context
ids) are drawn from {0, 1, 2, a uniform 64-bit value}: uniform 64-bit values alone would never
repeat a value, which no real workload does either.  No preconditions, no corpus, no shrinking:
50-op traces on a 2-vcpu, 2-pCPU VM with 1, 2 or 4 list registers, run through ``runner.run`` until one fails.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import attrs

from hvfuzz.fuzz.runner import Verdict, run
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.vocab import ops as O

TRACE_OPS = 50


def random_op(r: random.Random, c: Config) -> O.Op:
    """One op drawn uniformly from the vocabulary, each field uniformly from its domain
    (``Domain.naive``)."""
    cls = r.choice(O.OP_CLASSES)
    return cls(**{f.name: f.metadata["domain"].naive(r, c) for f in attrs.fields(cls)})


def random_trace(variant: str, r: random.Random) -> Trace:
    c = Config(variant=variant, vcpus=2, pcpus=2, nr_lrs=r.choice((1, 2, 4)))
    return Trace(c, tuple(random_op(r, c) for _ in range(TRACE_OPS)))


def time_to_detect(variant: str, seed: int, cap: float, clock: Callable[[], float] = time.monotonic
                   ) -> tuple[float | None, Trace | None, Verdict | None, int]:
    """(seconds to the first failing trace or None, that trace, its verdict, traces run);
    seconds on ``clock``."""
    r = random.Random(seed)
    start = clock()
    n = 0
    while clock() - start < cap:
        t = random_trace(variant, r)
        n += 1
        v = run(t)
        if not v.ok:
            return clock() - start, t, v, n
    return None, None, None, n
