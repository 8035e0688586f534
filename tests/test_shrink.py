"""The shrinker reaches the bounded-exhaustive minimum: a counterexample padded with unrelated ops
and reordered shrinks back to the minimal length ``fuzz.exhaustive`` finds for the same oracle;
interrupts are renumbered to the smallest INTIDs of their class."""

from __future__ import annotations

import pytest

from hvfuzz.fuzz.exhaustive import ALPHABETS, explore, runs_for
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.shrink import shrink
from hvfuzz.fuzz.trace import Trace
from hvfuzz.model.vocab import ops as O


def _minimal(variant: str, component: str, vcpus: int) -> tuple[Trace, str]:
    alpha = ALPHABETS[component]
    config = alpha.config(variant, vcpus=vcpus)
    res = explore(config, alpha.ops_of(config), 7)
    assert res.counterexample is not None and res.verdict is not None and res.verdict.oracle
    return res.counterexample, res.verdict.oracle


def _padded(t: Trace, oracle: str) -> Trace:
    """The counterexample with side-effect-free userspace reads before every op, then extra noise
    ops of the other vcpu, still failing the same way."""
    ops: list[O.Op] = []
    for op in t.ops:
        ops += [O.UserGetMpState(op.vcpu), O.UserGetReg(op.vcpu, "x1"), op]
    longer = t.replace_ops(ops)
    assert run(longer).oracle == oracle
    return longer


@pytest.mark.parametrize(("variant", "component", "vcpus"), [
    ("lazy-serror-nosync", "pkvm", 1), ("lazy-flush-ignores-dirty", "pkvm", 1),
    ("lazy-adjust-pc-on-hyp", "pkvm", 1), ("lazy-pc-only", "pkvm", 1),
    ("psci-system-event-others-runnable", "psci", 2), ("psci-cpu-on-already-on-accepted", "psci", 2),
    ("vgic-trap-armed-on-exit", "vgic", 1), ("vgic-no-uie", "vgic", 1),
])
def test_padded_counterexample_shrinks_to_the_exhaustive_minimum(variant: str, component: str, vcpus: int) -> None:
    minimal, oracle = _minimal(variant, component, vcpus)
    small = shrink(_padded(minimal, oracle))
    assert run(small).oracle == oracle
    assert len(small.ops) == len(minimal.ops), (minimal.ops, small.ops)


def test_breadth_first_pass_finds_what_deletion_cannot() -> None:
    """Without the final search the shrinker stops at a longer trace (so the pass is what gets
    these to the minimum): psci-run-stopped-enters reached through CPU_OFF instead of
    KVM_SET_MP_STATE."""
    from hvfuzz.fuzz.trace import Config

    t = Trace(Config(variant="psci-run-stopped-enters", vcpus=1, pcpus=1), (
        O.KvmRun(0, 0), O.GuestEnter(0), O.GuestPsci(0, "CPU_OFF", 0), O.HandleExit(0), O.GuestEnter(0)))
    v = run(t)
    assert v.oracle == "psci-P1-no-progress-while-off"
    assert len(shrink(t, v, search_budget=0).ops) == 5
    assert len(shrink(t, v).ops) == 3  # UserSetMpState(STOPPED), KvmRun, GuestEnter


def test_interrupts_are_renumbered_to_the_smallest_of_their_class() -> None:
    from hvfuzz.fuzz.trace import Config

    t = Trace(Config(variant="vgic-trap-armed-on-exit", vcpus=1, pcpus=1, nr_lrs=1), (
        O.ConfigIrq(0, 35), O.KvmRun(0, 0), O.GuestEnter(0), O.InjectIrq(0, 35), O.GuestExit(0, "irq")))
    v = run(t)
    assert not v.ok
    small = shrink(t, v)
    assert {getattr(op, "intid", None) for op in small.ops} - {None} == {32}


@pytest.mark.parametrize(("variant", "length"), [
    ("lazy-no-dirty-at-put", 7), ("psci-cpu-on-runnable-first", 7), ("lazy-flush-ignores-dirty", 6),
    ("psci-run-stopped-enters", 3),
])
def test_session_repro_has_the_exhaustive_minimum_length(variant: str, length: int) -> None:
    """What `hvfuzz fuzz` writes (corpus replay, then the one shrinker) is as short as any trace
    over its own configuration's alphabet can be: a search with no budget finds nothing shorter.
    Without the final search these come out at 8, 9, 7 and 5 ops."""
    import os

    from hvfuzz.fuzz.session import fuzz_variant, load_corpus

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = fuzz_variant(variant, seed=1, max_examples=300, corpus=load_corpus([os.path.join(root, "corpus")]))
    assert res.finding is not None
    t, oracle = res.finding.trace, res.finding.verdict.oracle
    assert len(t.ops) == length, t.ops
    alpha = ALPHABETS[runs_for(variant)[0][1].component]
    ops = tuple(dict.fromkeys(t.ops + alpha.ops_of(t.config)))
    assert oracle not in explore(t.config, ops, length - 1, oracle=oracle).counterexamples
