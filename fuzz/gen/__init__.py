"""Generation written once against a small ``Chooser``.

- ``choosers``: the ``Chooser`` protocol (``index``, ``choice``, ``boolean``), ``Weights`` and
  the providers: Hypothesis (``data.draw``), a byte stream, a seeded PRNG;
- ``guest``: ``GuestModel``, what the guest's GIC driver knows (from its ops and IAR results);
- ``view``: the ``View`` the moves read and the ``Driver`` that runs their ops;
- ``moves``: the ``MOVES`` table.

``fuzz/strategies.py`` adapts the table to Hypothesis (one rule per move); ``generate`` runs it
with any other provider.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hvfuzz.fuzz.gen import weights as D
from hvfuzz.fuzz.gen.choosers import ByteChooser, Chooser, HypothesisChooser, RandomChooser, Weights, sampled
from hvfuzz.fuzz.gen.moves import MOVES, Move
from hvfuzz.fuzz.gen.view import Driver, Gates, Stop, View
from hvfuzz.fuzz.runner import Execution
from hvfuzz.fuzz.trace import MAX_PCPUS, MAX_VCPUS, Config, Trace
from hvfuzz.model.variants import BUILTIN, Registry

__all__ = [
    "MOVES", "ByteChooser", "Chooser", "Weights", "Driver", "Gates", "HypothesisChooser", "Move",
    "RandomChooser", "Stop", "View", "begin", "config_args", "generate", "start", "walk",
]


#: ``generate`` ends after this many moves in a row that emitted no op
IDLE_MOVES = 32


def config_args(variant: str, max_vcpus: int = MAX_VCPUS, max_pcpus: int = MAX_PCPUS,
                nr_lrs: int | None = None, registry: Registry = BUILTIN) -> tuple[tuple[str, Weights[Any]], ...]:
    """What an example draws first, in order: the VM shape (so that it shrinks too), the
    interrupt pool and the guest's EOImode."""
    from hypothesis import strategies as st

    var = registry[variant]
    lrs = Weights((nr_lrs,), st.just(nr_lrs)) if nr_lrs is not None else D.LRS
    vcpus = D.vcpus(min(max_vcpus, 2)) if var.component == "vgic" and var.kind == "bug" else D.vcpus(max_vcpus)
    return (("vcpus", vcpus), ("pcpus", D.pcpus(max_pcpus)), ("protected", D.PROTECTED), ("lrs", lrs),
            ("pool", D.POOLS), ("split_eoi", D.FLAG))


def start(variant: str, vcpus: int, pcpus: int, protected: bool, lrs: int, pool: Any, split_eoi: bool,
          coverage: Counter[str] | None = None, registry: Registry = BUILTIN, **hooks: Any) -> Driver:
    """A ``Driver`` on a fresh ``Execution`` of the drawn configuration (``hooks``: the
    ``Driver``'s ``on_violation``, ``before_op``, ``after_op``)."""
    config = Config(variant=variant, vcpus=vcpus, pcpus=pcpus, protected=protected, nr_lrs=lrs, registry=registry)
    return Driver(Execution(config, coverage), Gates.of(config.variant_def), split_eoi, sampled(tuple(pool)), **hooks)


def begin(variant: str, chooser: Chooser, *, max_vcpus: int = MAX_VCPUS, max_pcpus: int = MAX_PCPUS,
          nr_lrs: int | None = None, coverage: Counter[str] | None = None, registry: Registry = BUILTIN) -> Driver:
    """A ``Driver`` on the configuration ``chooser`` draws (the Hypothesis machine's
    ``@initialize``); its violations end a ``walk`` (``Stop``)."""
    args = {name: chooser.choice(dom, label=name) for name, dom in config_args(variant, max_vcpus, max_pcpus,
                                                                                nr_lrs, registry)}
    return start(variant, coverage=coverage, registry=registry, **args)


def walk(drv: Driver, chooser: Chooser, max_ops: int) -> None:
    """Run moves chosen by ``chooser`` until the driver has ``max_ops`` ops (a macro move may
    overshoot), no move is enabled, an op fails an oracle, or ``IDLE_MOVES`` moves in a row
    emitted nothing (an exhausted byte stream repeats its choices)."""
    w = drv.view
    idle = 0
    try:
        while len(drv.ops) < max_ops and idle < IDLE_MOVES:
            enabled = [m for m in MOVES if m.enabled(w)]
            if not enabled:
                break
            before = len(drv.ops)
            chooser.choice(enabled, label="move")(w, chooser)
            idle = idle + 1 if len(drv.ops) == before else 0
    except Stop:
        pass


def generate(variant: str, chooser: Chooser, max_ops: int = 40, *, max_vcpus: int = MAX_VCPUS,
             max_pcpus: int = MAX_PCPUS, nr_lrs: int | None = None,
             coverage: Counter[str] | None = None, registry: Registry = BUILTIN) -> Trace:
    """A trace of at most ``max_ops`` ops, the configuration and the moves chosen and driven by
    ``chooser``.  It ends early when no move is enabled or an op fails an oracle (the failing op
    is then the last)."""
    drv = begin(variant, chooser, max_vcpus=max_vcpus, max_pcpus=max_pcpus, nr_lrs=nr_lrs, coverage=coverage,
                registry=registry)
    walk(drv, chooser, max_ops)
    return Trace(drv.ex.config, tuple(drv.ops[:max_ops]))
