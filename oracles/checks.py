"""The differential oracle: the variant's observations of each op against the reference's.
(The invariants of one system moved beside the model code they check: ``model/pkvm/invariants.py``,
``model/vgic/invariants.py``.)"""

from __future__ import annotations

from typing import Any

import attrs

from hvfuzz.model.vocab.judging import Failure, Step
from hvfuzz.model.vocab.obs import Observation
from hvfuzz.model.vocab.regs import CTXT_LEN, INDEX_NAME

__all__ = ["Differential", "Failure", "compare"]


#: entries of ``System.guest_view`` after the context
_EXTRA_VIEW = {0: "ISR_EL1.A", 1: "MDSCR_EL1 (in the CPU)"}


def _view_diff(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[dict[str, str], dict[str, str]]:
    da: dict[str, str] = {}
    db: dict[str, str] = {}
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            name = INDEX_NAME.get(i) or _EXTRA_VIEW.get(i - CTXT_LEN, f"ctxt[{i}]")
            da[name], db[name] = hex(x), hex(y)
    return da, db


def _show(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, int):
        return v
    return hex(v)


def compare(sut: list[Observation], ref: list[Observation]) -> Failure | None:
    """Differential oracle: the variant's observations of one op must equal the reference's."""
    if sut == ref:
        return None
    for i in range(max(len(sut), len(ref))):
        s = sut[i] if i < len(sut) else None
        r = ref[i] if i < len(ref) else None
        if s == r:
            continue
        if s is None or r is None or s[:3] != r[:3]:
            o = (s or r)
            assert o is not None
            return Failure(o[0], o[1], f"vcpu{o[1]}: the variant and the reference looked at "
                           f"different things ({s and s[2]!s} vs {r and r[2]!s})",
                           s and s[2], r and r[2])
        oracle, vcpu, what, _ = s
        if oracle == "guest-entry":
            da, db = _view_diff(s[3], r[3])
            regs = ", ".join(f"{k}={da[k]} (reference {db[k]})" for k in list(da)[:4])
            more = f" and {len(da) - 4} more" if len(da) > 4 else ""
            return Failure(oracle, vcpu, f"vcpu{vcpu} guest entry: {regs}{more}", da, db)
        return Failure(oracle, vcpu, f"vcpu{vcpu} {what}: variant saw {_show(s[3])}, reference "
                       f"{_show(r[3])}", _show(s[3]), _show(r[3]))
    return None


@attrs.define
class Differential:
    """The differential oracle as a chain member: ``compare`` of the step's two observation lists
    (blamed on the first differing observation's kind).  Stateless."""

    def after(self, step: Step) -> Failure | None:
        if step.sut_obs == step.ref_obs:  # the common case, without a call
            return None
        return compare(step.sut_obs, step.ref_obs)

    def state_key(self, intids: tuple[int, ...]) -> object:
        return ()
