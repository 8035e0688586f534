"""Every op field's validator (``model/vocab/fields.py``, with its fast path for plain values)
accepts and rejects exactly what the attrs validators it stands for do, with the same error."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.fields import MASK64, U64, Choice, Index, IntRange

VALUES: tuple[Any, ...] = (0, 1, 2, 7, 8, 31, 32, 63, 64, 255, 256, 1023, 8191, 8192, 8196, MASK64, MASK64 + 1,
                           -1, -(1 << 70), True, False, None, "0", 1.0, "ACTLR_EL1", "irq", "CPU_ON", (1,), [1])


def _reference(dom: Any) -> Any:
    """The attrs validators each domain stood for before the fast path."""
    v = attrs.validators
    if isinstance(dom, Choice):
        return v.in_(frozenset(dom.choices))
    if isinstance(dom, IntRange):
        return v.and_(v.instance_of(int), v.ge(0), v.lt(dom.size))
    if isinstance(dom, Index):
        parts = [v.instance_of(int), v.ge(0)] + ([v.lt(dom.limit)] if dom.limit is not None else [])
        return v.and_(*parts)
    if isinstance(dom, U64):
        return v.and_(v.instance_of(int), v.ge(0), v.le(MASK64))
    return v.instance_of(bool)


def _outcome(check: Any, field: Any, value: Any) -> tuple[str, str]:
    try:
        check(None, field, value)
    except Exception as e:  # noqa: BLE001 - the exception itself is compared
        return type(e).__name__, str(e.args[0]) if e.args else ""
    return "ok", ""


@pytest.mark.parametrize("cls", O.OP_CLASSES, ids=lambda c: c.name)
def test_field_validators_match_attrs(cls: type[O.Op]) -> None:
    for field in attrs.fields(cls):
        dom = field.metadata["domain"]
        values = VALUES + tuple(getattr(dom, "choices", ()))
        for value in values:
            assert _outcome(field.validator, field, value) == _outcome(_reference(dom), field, value), \
                (cls.name, field.name, value)
