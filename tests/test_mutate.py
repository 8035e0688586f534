"""Corpus mutation (fuzz/mutate.py): mutants are valid traces, reproducible from the seed, the
correct designs survive them, and they reach bugs that no seed scenario shows by itself."""

import random

import attrs
import pytest

from hvfuzz.fuzz.mutate import Mutator
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.session import fuzz_variant, load_corpus
from hvfuzz.fuzz.trace import trace_from_json, trace_to_json

SEEDS = load_corpus(["corpus/seeds"])


def _on(variant, traces):
    return [attrs.evolve(t, config=attrs.evolve(t.config, variant=variant)) for t in traces]


def test_mutants_are_valid_traces_that_round_trip():
    m = Mutator(SEEDS, random.Random(7))
    changed = 0
    for _ in range(1500):
        t = m.mutant()
        assert trace_from_json(trace_to_json(t)) == t  # validates vcpus/pCPUs against the config
        assert len(t.ops) <= m.max_ops
        changed += t not in SEEDS
    assert changed > 1400


def test_mutation_is_deterministic_for_a_seed():
    def mutants(seed):
        m = Mutator(SEEDS, random.Random(seed))
        return [m.mutant() for _ in range(200)]

    assert mutants(3) == mutants(3)
    assert mutants(3) != mutants(4)


def test_fixed_nr_lrs_is_kept():
    m = Mutator([t for t in SEEDS if t.config.nr_lrs == 1], random.Random(1), fixed_nr_lrs=1)
    assert all(m.mutant().config.nr_lrs == 1 for _ in range(500))


def test_empty_corpus_is_refused():
    with pytest.raises(ValueError):
        Mutator([], random.Random(0))


@pytest.mark.parametrize("variant", ["vgic-lr-overflow", "lazy", "eager"])
def test_correct_designs_survive_mutants(variant):
    """Mutants break the guest discipline (non-LIFO EOIs, DIR of inactive interrupts, ...): the
    oracles must taint rather than report (gic-architecture.md A3, A11)."""
    m = Mutator(_on(variant, SEEDS), random.Random(11))
    for _ in range(2500):
        t = m.mutant()
        v = run(t)
        assert v.ok, (v, trace_to_json(t))


@pytest.mark.parametrize("seed", range(5))
def test_mutation_finds_eoicount_ignored_from_scenarios_that_pass(seed):
    """No scenario left in the corpus fails on the variant; small edits of them do."""
    variant = "vgic-eoicount-ignored"
    held_out = [t for t in _on(variant, SEEDS) if run(t).ok]
    # vgic-eoi-outside-lrs-then-ack, vgic-hw-timer-eoi-outside-lrs and pkvm-vgic-copies-across-migration
    # (an EOI outside the LRs) show it
    assert len(held_out) == len(SEEDS) - 3
    m = Mutator(held_out, random.Random(seed))
    for _ in range(5000):
        v = run(m.mutant())
        if not v.ok:
            assert v.oracle == "gic-L2-deactivation-lost"
            return
    pytest.fail("not found in 5000 mutants")


def test_session_reports_mutation_findings():
    held_out = [t for t in _on("vgic-eoicount-ignored", SEEDS) if run(t).ok]
    # the stateful engine: one Hypothesis example, then a batch of 5000 corpus mutants
    res = fuzz_variant("vgic-eoicount-ignored", seed=0, max_examples=1, corpus=held_out,
                       mutants_per_batch=5000, engine="stateful")
    assert res.finding is not None and res.finding.found_by == "corpus mutation" and res.mutants > 0
    again = run(res.finding.trace)
    assert not again.ok and again.oracle == res.finding.verdict.oracle
