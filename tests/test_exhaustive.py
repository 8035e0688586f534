"""Bounded-exhaustive mode: the state key is sound (an op that applies nowhere changes nothing;
interrupts outside the alphabet stay in reset), breadth-first search finds shortest
counterexamples (checked against plain enumeration without state hashing), and the CLI keeps the
exit-code contract."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from hvfuzz.fuzz.cli import main
from hvfuzz.fuzz.exhaustive import ALPHABETS, explore, intids_of, runs_for, state_key
from hvfuzz.fuzz.runner import Execution, run
from hvfuzz.fuzz.trace import Trace
from hvfuzz.model.vgic.irq import NR_PRIVATE
from hvfuzz.model.vgic.vgic import NR_SPIS


def _fresh_irqs(ex: Execution, intids: tuple[int, ...]) -> list[str]:
    """repr of every vgic and ideal-GIC interrupt no op of the alphabet names."""
    out = []
    for s in (ex.sut, ex.ref):
        for v in range(len(s.vcpus)):
            out += [repr(s.vgic.lookup(v, i)) for i in range(NR_PRIVATE) if i not in intids]
        out += [repr(s.vgic.lookup(0, i)) for i in range(NR_PRIVATE, NR_PRIVATE + NR_SPIS) if i not in intids]
    out += [repr(ex.gic.m.lookup(v, i)) for v in range(ex.gic.vcpus) for i in range(NR_PRIVATE) if i not in intids]
    return out


@pytest.mark.parametrize("component", sorted(ALPHABETS))
@pytest.mark.parametrize("variant", ["lazy", "eager", "vgic-lr-overflow"])
def test_state_key_is_sound_on_random_walks(component: str, variant: str) -> None:
    alpha = ALPHABETS[component]
    config = alpha.config(variant)
    ops = alpha.ops_of(config)
    intids = intids_of(ops)
    fresh = _fresh_irqs(Execution(config), intids)
    rng = random.Random(f"{component}-{variant}")
    no_ops = 0
    for _ in range(40):
        ex = Execution(config)
        for _ in range(25):
            before = state_key(ex, intids)
            v = ex.step(rng.choice(ops))
            if v is not None:
                break
            if not (ex.sut.last_observations[0][3] or ex.ref.last_observations[0][3]):
                no_ops += 1
                assert state_key(ex, intids) == before
        assert _fresh_irqs(ex, intids) == fresh
    assert no_ops > 100  # the property was exercised


@pytest.mark.parametrize("variant", ["lazy-timer-range", "lazy-no-fp", "lazy-put-ignores-dirty",
                                     "psci-init-power-off-ignored", "psci-run-stopped-enters"])
def test_breadth_first_minimum_matches_plain_enumeration(variant: str) -> None:
    """Every trace shorter than the reported counterexample passes (enumerated without state
    hashing, 1 vcpu for pKVM so the words stay few), and the counterexample fails as reported."""
    alpha = ALPHABETS[runs_for(variant)[0][1].component]
    config = alpha.config(variant, vcpus=1 if alpha.component == "pkvm" else None)
    ops = alpha.ops_of(config)
    res = explore(config, ops, 4)
    assert res.counterexample is not None and res.verdict is not None
    n = len(res.counterexample.ops)
    assert run(res.counterexample).oracle == res.verdict.oracle
    for k in range(1, n):
        for word in itertools.product(ops, repeat=k):
            assert run(Trace(config, word)).ok, word


def test_every_oracle_agrees_with_plain_enumeration() -> None:
    """The shortest counterexample per oracle at depth 3 equals what enumerating every word finds."""
    alpha = ALPHABETS["psci"]
    config = alpha.config("psci-system-event-others-runnable", vcpus=2)
    ops = alpha.ops_of(config)
    res = explore(config, ops, 3, every_oracle=True)
    brute: dict[str, int] = {}
    for k in range(1, 4):
        for word in itertools.product(ops, repeat=k):
            v = run(Trace(config, word))
            if not v.ok and v.step == k - 1:
                assert v.oracle is not None
                brute.setdefault(v.oracle, k)
    assert {o: len(t.ops) for o, (t, _) in res.counterexamples.items()} == brute


def test_correct_designs_have_no_counterexample_at_small_depth() -> None:
    for variant, alpha in runs_for(None):
        res = explore(alpha.config(variant), alpha.ops_of(alpha.config(variant)), 4)
        assert res.counterexample is None, (variant, alpha.component, res.counterexample)
        assert res.explored_to == 4 and res.states > 50


def test_cli_writes_one_minimal_finding_and_counts_it(tmp_path, capsys) -> None:
    args = ["exhaustive", "--depth", "4", "--variant", "lazy-timer-range", "--findings", str(tmp_path)]
    assert main(args) == 1
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "a minimal counterexample has 2 ops" in out
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    d = json.loads(files[0].read_text())
    assert d["meta"]["count"] == 2 and len(d["ops"]) == 2
    assert main(["replay", str(files[0]), "--quiet"]) == 1


def test_cli_clean_and_bad_input(tmp_path, capsys) -> None:
    assert main(["exhaustive", "--depth", "3", "--variant", "lazy", "--findings", str(tmp_path)]) == 0
    assert "no violation up to depth 3" in capsys.readouterr().out
    assert main(["exhaustive", "--variant", "no-such", "--findings", str(tmp_path)]) == 2
    assert main(["exhaustive", "--depth", "0"]) == 2
    assert not list(tmp_path.glob("*.json"))
