"""The ``Chooser``: the three questions generation asks (``index``, ``choice``, ``boolean``), and
the providers that answer them — Hypothesis's ``data.draw``, a byte stream, a seeded PRNG.

The ``Chooser`` protocol itself is declared with the field domains (``model/vocab/fields.py``),
whose ``draw`` speaks it.  A ``Weights`` is a sequence of values, simplest first (a repeated value
weighs the common case), that also carries the Hypothesis strategy drawing from it: the
Hypothesis provider draws that strategy (so its choice sequence is the one the state machine has
always made), the others pick among the values.  A plain sequence is drawn by Hypothesis as
``st.sampled_from(seq)``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from itertools import permutations
from typing import Any, TypeVar, overload

import attrs
from hypothesis import strategies as st

from hvfuzz.model.vocab.fields import Chooser

__all__ = ["ByteChooser", "Chooser", "HypothesisChooser", "RandomChooser", "Weights"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@attrs.frozen(eq=False)
class Weights(Sequence[T_co]):
    """Values simplest first, and the Hypothesis strategy that draws one of them."""

    values: tuple[T_co, ...]
    strategy: st.SearchStrategy[Any]

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, i: int) -> T_co: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[T_co]: ...
    def __getitem__(self, i: int | slice) -> T_co | Sequence[T_co]:
        return self.values[i]

    def __iter__(self) -> Iterator[T_co]:
        return iter(self.values)


def sampled(values: Sequence[T]) -> Weights[T]:
    """``st.sampled_from(values)``; repeated values weigh a value for every provider."""
    return Weights(tuple(values), st.sampled_from(values))


def ints(lo: int, hi: int) -> Weights[int]:
    """``st.integers(lo, hi)``."""
    return Weights(tuple(range(lo, hi + 1)), st.integers(lo, hi))


def booleans() -> Weights[bool]:
    """``st.booleans()``."""
    return Weights((False, True), st.booleans())


def one_of(*doms: Weights[T]) -> Weights[T]:
    """``st.one_of``: the values of every branch, first branch first."""
    return Weights(tuple(v for d in doms for v in d.values), st.one_of(*(d.strategy for d in doms)))


def unique_lists(dom: Weights[T], min_size: int, max_size: int) -> Weights[tuple[T, ...]]:
    """``st.lists(dom, unique=True)`` of ``min_size..max_size`` elements: every arrangement of
    distinct values, shorter ones and earlier values first.  Hypothesis draws a list, the other
    providers a tuple."""
    distinct = tuple(dict.fromkeys(dom.values))
    values = tuple(p for n in range(min_size, max_size + 1) for p in permutations(distinct, n))
    return Weights(values, st.lists(dom.strategy, min_size=min_size, max_size=max_size, unique=True))


@attrs.define
class HypothesisChooser:
    """Answers with ``data.draw`` of the strategies the state machine has always drawn:
    ``index(n)`` is ``st.integers(0, n - 1)``, ``choice`` a ``Weights``'s strategy (else
    ``st.sampled_from``), ``boolean()`` ``st.booleans()``."""

    data: Any  # hypothesis's DataObject (st.data())

    def index(self, n: int, label: str | None = None) -> int:
        return int(self.data.draw(st.integers(0, n - 1), label=label))

    def choice(self, seq: Sequence[T], label: str | None = None) -> T:
        s = seq.strategy if isinstance(seq, Weights) else st.sampled_from(seq)
        return self.data.draw(s, label=label)  # type: ignore[no-any-return]

    def boolean(self, p: float = 0.5, label: str | None = None) -> bool:
        if p != 0.5:
            raise ValueError("the Hypothesis provider draws st.booleans(): p=0.5 only; use a Weights")
        return bool(self.data.draw(st.booleans(), label=label))


@attrs.define
class RandomChooser:
    """A seeded PRNG (``random.Random``)."""

    rng: random.Random

    @classmethod
    def seeded(cls, seed: int) -> RandomChooser:
        return cls(random.Random(seed))

    def index(self, n: int, label: str | None = None) -> int:
        return self.rng.randrange(n)

    def choice(self, seq: Sequence[T], label: str | None = None) -> T:
        return seq[self.rng.randrange(len(seq))]

    def boolean(self, p: float = 0.5, label: str | None = None) -> bool:
        return self.rng.random() < p


@attrs.define
class ByteChooser:
    """Reads its answers from bytes and never fails: an index takes as many bytes as ``n``
    needs (big-endian, modulo ``n``), a boolean one byte (below ``p * 256`` is True).  Exhausted
    input answers 0: the first choice, False."""

    data: bytes
    pos: int = 0

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.data)

    def _take(self, k: int) -> int:
        chunk = self.data[self.pos:self.pos + k]
        self.pos += k
        return int.from_bytes(chunk, "big") if chunk else 0

    def index(self, n: int, label: str | None = None) -> int:
        if n <= 1:
            return 0
        if self.exhausted:
            return 0
        return self._take((n - 1).bit_length() + 7 >> 3) % n

    def choice(self, seq: Sequence[T], label: str | None = None) -> T:
        return seq[self.index(len(seq))]

    def boolean(self, p: float = 0.5, label: str | None = None) -> bool:
        if self.exhausted:
            return False
        return self._take(1) < p * 256
