"""Field domains: the values an op field may take, stated once.

Every consumer derives what it needs from a field's ``Domain``: the attrs validator, the byte
codec of the coverage-guided targets (``fuzz/decode.py``), the values mutation redraws from
(``fuzz/mutate.py``), the simpler values the shrinker tries (``fuzz/shrink.py``), the uniform
draw of the naive baseline (``bench/naive.py``) and a chooser draw for generation.

A domain lists its values simplest first.  Enumerated domains only ever *append* values: the
byte format reads a choice modulo the number of values, so an appended value leaves the meaning
of every encoded input unchanged.

This module imports nothing of hvfuzz.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

import attrs


class VmShape(Protocol):
    """What a domain may depend on: the VM's shape (``fuzz.trace.Config`` has these)."""

    vcpus: int
    pcpus: int


class ByteReader(Protocol):
    def byte(self) -> int: ...
    def take(self, n: int) -> bytes: ...


class Chooser(Protocol):
    """The three questions generation asks (``fuzz/gen``: providers for Hypothesis, a byte stream
    and a seeded PRNG).  ``label`` names the choice (Hypothesis prints it)."""

    def index(self, n: int, label: str | None = None) -> int:
        """An index in ``range(n)`` (0 is the simplest)."""
        ...

    def choice(self, seq: Sequence[Any], label: str | None = None) -> Any:
        """An element of ``seq`` (the first is the simplest)."""
        ...

    def boolean(self, p: float = 0.5, label: str | None = None) -> bool:
        """True with probability ``p`` (False is the simplest)."""
        ...


#: how mutation adds the values a corpus already uses for a field (``pool``) to a domain's own
#: neighbours: not at all, the values not already listed (in ``repr`` order), or every integer
#: the corpus uses (sorted), as 64-bit register values are mutated
POOL_NONE, POOL_EXTRA, POOL_INTS = "none", "extra", "ints"


def _fast_int(limit: int | None, full: Callable[[Any, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
    """``full`` (attrs validators), with a fast path for a plain ``int`` in [0, ``limit``): every
    op is validated as it is built, and the generator builds one per op.  Anything else goes
    through ``full``, which accepts or raises exactly as before."""
    if limit is None:
        def check(inst: Any, attr: Any, value: Any) -> None:
            if value.__class__ is not int or value < 0:
                full(inst, attr, value)
    else:
        def check(inst: Any, attr: Any, value: Any) -> None:
            if value.__class__ is not int or not 0 <= value < limit:
                full(inst, attr, value)
    return check


def _fast_in(options: frozenset[Any], full: Callable[[Any, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
    """``full`` (``attrs.validators.in_(options)``) with a fast path for a hashable member."""
    def check(inst: Any, attr: Any, value: Any) -> None:
        try:
            if value in options:
                return
        except TypeError:
            pass
        full(inst, attr, value)
    return check


class Domain:
    """Interface of a field domain (the concrete kinds below)."""

    #: values the shrinker tries, simplest first (it stops at the first equal to the current one)
    shrink_to: tuple[Any, ...] = ()

    def validator(self) -> Callable[[Any, Any, Any], None]:
        raise NotImplementedError

    def decode(self, r: ByteReader, c: VmShape) -> Any:
        raise NotImplementedError

    def encode(self, v: Any, c: VmShape) -> bytes:
        raise NotImplementedError

    def mutants(self, cur: Any, c: VmShape, pool: Collection[Any]) -> list[Any]:
        raise NotImplementedError

    def naive(self, r: random.Random, c: VmShape) -> Any:
        raise NotImplementedError

    def draw(self, ch: Chooser, c: VmShape) -> Any:
        raise NotImplementedError

    def values(self, c: VmShape) -> Sequence[Any]:
        """Every value, simplest first (for a 64-bit domain: its named values only)."""
        raise NotImplementedError


def _pooled(base: Sequence[Any], pool_mode: str, pool: Collection[Any]) -> list[Any]:
    if pool_mode == POOL_NONE:
        return list(base)
    if pool_mode == POOL_INTS:
        return list(base) + sorted(v for v in pool if isinstance(v, int))
    return list(base) + [v for v in sorted(pool, key=repr) if v not in base]


@attrs.frozen
class Choice(Domain):
    """One of ``choices`` (names: registers, exit kinds, PSCI functions, ...), one byte."""

    choices: tuple[Any, ...]
    shrink_to: tuple[Any, ...] = ()
    pool: str = POOL_EXTRA
    _index: dict[Any, int] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_index", {v: i for i, v in enumerate(self.choices)})

    def validator(self) -> Callable[[Any, Any, Any], None]:
        return _fast_in(frozenset(self.choices), attrs.validators.in_(frozenset(self.choices)))

    def decode(self, r: ByteReader, c: VmShape) -> Any:
        return self.choices[r.byte() % len(self.choices)]

    def encode(self, v: Any, c: VmShape) -> bytes:
        return bytes([self._index[v]])

    def mutants(self, cur: Any, c: VmShape, pool: Collection[Any]) -> list[Any]:
        return _pooled(self.choices, self.pool, pool)

    def naive(self, r: random.Random, c: VmShape) -> Any:
        return r.choice(self.choices)

    def draw(self, ch: Chooser, c: VmShape) -> Any:
        return ch.choice(self.choices)

    def values(self, c: VmShape) -> Sequence[Any]:
        return self.choices


@attrs.frozen
class IntRange(Domain):
    """An integer ``0 <= v < size`` in ``width`` little-endian bytes (read modulo ``size``)."""

    size: int
    width: int = 1
    #: the values mutation redraws from (all of them when empty)
    neighbours: tuple[int, ...] = ()
    shrink_to: tuple[Any, ...] = ()
    pool: str = POOL_EXTRA

    def validator(self) -> Callable[[Any, Any, Any], None]:
        return _fast_int(self.size, attrs.validators.and_(attrs.validators.instance_of(int), attrs.validators.ge(0),
                                                          attrs.validators.lt(self.size)))

    def decode(self, r: ByteReader, c: VmShape) -> Any:
        if self.width == 1:
            return r.byte() % self.size
        return int.from_bytes(r.take(self.width), "little") % self.size

    def encode(self, v: Any, c: VmShape) -> bytes:
        return int(v).to_bytes(self.width, "little")

    def mutants(self, cur: Any, c: VmShape, pool: Collection[Any]) -> list[Any]:
        return _pooled(self.neighbours or range(self.size), self.pool, pool)

    def naive(self, r: random.Random, c: VmShape) -> Any:
        return r.randrange(self.size)

    def draw(self, ch: Chooser, c: VmShape) -> Any:
        return ch.choice(self.neighbours) if self.neighbours else ch.index(self.size)

    def values(self, c: VmShape) -> Sequence[Any]:
        return range(self.size)


@attrs.frozen
class Index(Domain):
    """A vcpu or pCPU index: below the VM's count of them (``of``: "vcpus" or "pcpus"), checked
    against the trace's config when it is loaded.  ``limit`` bounds the field on its own; with
    ``modulo`` the byte format and the naive baseline draw below ``modulo`` instead of the VM's
    count (a PSCI target MPIDR may name a vcpu that does not exist), while mutation stays on the
    VM's vcpus."""

    of: str = "vcpus"
    limit: int | None = None
    modulo: int | None = None
    shrink_to: tuple[Any, ...] = ()

    def validator(self) -> Callable[[Any, Any, Any], None]:
        v = [attrs.validators.instance_of(int), attrs.validators.ge(0)]
        if self.limit is not None:
            v.append(attrs.validators.lt(self.limit))
        return _fast_int(self.limit, attrs.validators.and_(*v))

    def _n(self, c: VmShape) -> int:
        return int(getattr(c, self.of))

    def decode(self, r: ByteReader, c: VmShape) -> Any:
        return r.byte() % (self.modulo or self._n(c))

    def encode(self, v: Any, c: VmShape) -> bytes:
        return bytes([v])

    def mutants(self, cur: Any, c: VmShape, pool: Collection[Any]) -> list[Any]:
        return list(range(self._n(c)))

    def naive(self, r: random.Random, c: VmShape) -> Any:
        return r.randrange(self.modulo or self._n(c))

    def draw(self, ch: Chooser, c: VmShape) -> Any:
        return ch.index(self._n(c))

    def values(self, c: VmShape) -> Sequence[Any]:
        return range(self._n(c))

    def fits(self, v: int, c: VmShape) -> bool:
        """Whether ``v`` names a vcpu (pCPU) the VM has."""
        return v < self._n(c)


@attrs.frozen
class Flag(Domain):
    """A boolean, one byte (bit 0)."""

    shrink_to: tuple[Any, ...] = ()

    def validator(self) -> Callable[[Any, Any, Any], None]:
        return attrs.validators.instance_of(bool)

    def decode(self, r: ByteReader, c: VmShape) -> Any:
        return bool(r.byte() & 1)

    def encode(self, v: Any, c: VmShape) -> bytes:
        return bytes([int(bool(v))])

    def mutants(self, cur: Any, c: VmShape, pool: Collection[Any]) -> list[Any]:
        return [not cur]

    def naive(self, r: random.Random, c: VmShape) -> Any:
        return bool(r.getrandbits(1))

    def draw(self, ch: Chooser, c: VmShape) -> Any:
        return ch.boolean()

    def values(self, c: VmShape) -> Sequence[Any]:
        return (False, True)


#: 64-bit values one byte names in the byte format (register values, PSCI entry points and
#: context ids); append only
U64_VALUES: tuple[int, ...] = (
    0, 1, 2, 7, 0x1000, 0x5, 0x3C5, 0x4, 0x80000, 0x90000, 0x30D00980 | (1 << 25), 0xFFFF_FFFF_FFFF_FFFF,
    0xC4000003, 0x84000002,
)
U64_ESCAPE = 255
_U64_INDEX = {v: i for i, v in enumerate(U64_VALUES)}
MASK64 = (1 << 64) - 1


@attrs.frozen
class U64(Domain):
    """A 64-bit value: one byte indexing ``U64_VALUES``, 255 escaping to 8 raw bytes."""

    neighbours: tuple[int, ...] = ()
    shrink_to: tuple[Any, ...] = ()
    pool: str = POOL_EXTRA

    def validator(self) -> Callable[[Any, Any, Any], None]:
        return _fast_int(MASK64 + 1, attrs.validators.and_(attrs.validators.instance_of(int), attrs.validators.ge(0),
                                                           attrs.validators.le(MASK64)))

    def decode(self, r: ByteReader, c: VmShape) -> Any:
        b = r.byte()
        if b == U64_ESCAPE:
            return int.from_bytes(r.take(8), "little")
        return U64_VALUES[b % len(U64_VALUES)]

    def encode(self, v: Any, c: VmShape) -> bytes:
        i = _U64_INDEX.get(v)
        return bytes([i]) if i is not None else bytes([U64_ESCAPE]) + int(v).to_bytes(8, "little")

    def mutants(self, cur: Any, c: VmShape, pool: Collection[Any]) -> list[Any]:
        return _pooled(self.neighbours, self.pool, pool)

    def naive(self, r: random.Random, c: VmShape) -> Any:
        # a uniform 64-bit value alone would never repeat one, which no real workload does either
        return r.choice((0, 1, 2, r.getrandbits(64)))

    def draw(self, ch: Chooser, c: VmShape) -> Any:
        return ch.choice(self.neighbours or U64_VALUES)

    def values(self, c: VmShape) -> Sequence[Any]:
        return self.neighbours or U64_VALUES


def field(domain: Domain, default: Any) -> Any:
    """An attrs field whose validator and metadata come from ``domain``."""
    return attrs.field(default=default, validator=domain.validator(), metadata={"domain": domain})


def domain_of(cls: type, name: str) -> Domain:
    """The domain of field ``name`` of op class ``cls``."""
    return attrs.fields_dict(cls)[name].metadata["domain"]  # type: ignore[no-any-return]
