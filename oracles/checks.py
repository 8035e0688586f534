"""The checks run after every op: differential comparison of two systems' observations and the
invariants of one system."""

from __future__ import annotations

from typing import Any

import attrs

from hvfuzz.model.system import System
from hvfuzz.model.vocab.obs import Observation
from hvfuzz.model.vocab.regs import CTXT_LEN, INDEX_NAME


@attrs.frozen
class Failure:
    """One oracle violated: its name, the vcpu, a one-line reason and what each side saw."""

    oracle: str
    vcpu: int | None
    reason: str
    variant_saw: Any = None
    reference_saw: Any = None


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


def check_invariants(s: System) -> Failure | None:
    """Invariants of one system (pKVM's per-CPU loaded hyp vcpu, __hyp_running_vcpu)."""
    if not s.pkvm:
        return None
    seen: dict[int, int] = {}
    for cpu in s.pcpus:
        h = cpu.loaded_hyp_vcpu
        if h is None:
            continue
        if h in seen or s.hyp[h].loaded_on != cpu.idx:
            return Failure("hyp-vcpu-loaded-once", h, f"hyp vcpu{h} loaded on CPU{cpu.idx} and "
                           f"CPU{seen.get(h, s.hyp[h].loaded_on)}")
        if cpu.thread != h:
            return Failure("hyp-vcpu-loaded-once", h, f"CPU{cpu.idx} has hyp vcpu{h} loaded but "
                           f"runs vcpu thread {cpu.thread}")
        seen[h] = cpu.idx
    for i, hyp in enumerate(s.hyp):
        if hyp.vcpu.hyp_running_vcpu is not None and s.vcpus[i].phase.value == "guest":
            return Failure("hyp-running-vcpu-null", i, f"vcpu{i} runs with __hyp_running_vcpu = "
                           f"{hyp.vcpu.hyp_running_vcpu}")
    return None
