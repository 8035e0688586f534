"""The correct designs survive long fuzz runs (fixed seeds and example budgets, not time), and the
state machine and the byte-format engine are usable as plain pytest tests."""

import pytest
from hypothesis import given

from hvfuzz.fuzz.decode import execute
from hvfuzz.fuzz.engines import ENGINES, byte_inputs
from hvfuzz.fuzz.session import fuzz_variant
from hvfuzz.fuzz.strategies import make_machine
from hvfuzz.model.variants import correct_variants

CORRECT = [v.name for v in correct_variants()]


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("variant", CORRECT)
def test_correct_variant_long_run(variant, seed):
    res = fuzz_variant(variant, seed=seed, max_examples=1000)
    assert res.finding is None, res.finding
    assert res.examples >= 1000 and res.ops > 20_000


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "native"])
def test_correct_variants_under_the_hypothesis_engines(engine):
    for variant in CORRECT:
        res = fuzz_variant(variant, seed=3, max_examples=200, engine=engine)
        assert res.finding is None, res.finding
        assert res.examples >= 200 and res.engine == engine


def test_reference_against_itself_has_no_divergence():
    res = fuzz_variant("reference", seed=1, max_examples=300)
    assert res.finding is None


# The machines as ordinary pytest tests (settings from the Hypothesis profile in conftest.py).
TestLazyMachine = make_machine("lazy").TestCase
TestEagerMachine = make_machine("eager").TestCase


# The byte format under Hypothesis as a plain pytest test (health checks on: the profile's settings).
@pytest.mark.parametrize("variant", CORRECT)
def test_byte_inputs_run_clean(variant):
    @given(byte_inputs(variant))
    def check(data: bytes) -> None:
        trace, verdict = execute(data, variant)
        assert verdict.ok, (trace, verdict)

    check()
