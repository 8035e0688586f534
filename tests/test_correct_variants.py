"""The correct designs survive long fuzz runs (fixed seeds and example budgets, not time), and the
state machine is usable as a plain pytest test."""

import pytest

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


def test_reference_against_itself_has_no_divergence():
    res = fuzz_variant("reference", seed=1, max_examples=300)
    assert res.finding is None


# The machines as ordinary pytest tests (settings from the Hypothesis profile in conftest.py).
TestLazyMachine = make_machine("lazy").TestCase
TestEagerMachine = make_machine("eager").TestCase
