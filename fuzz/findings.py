"""The findings store: a directory where each finding is one JSON repro, named by its signature
(the variant and the oracle that failed), written atomically.  The same bug found again is the
same finding: its ``meta.count`` goes up and the shorter of the two traces is kept.  Findings are
checked against the regression corpus ("known" or "new").
"""

from __future__ import annotations

import glob
import hashlib
import os
from typing import Any

import attrs

from hvfuzz.fuzz.export import load_repro, write_repro_at
from hvfuzz.fuzz.runner import Verdict, run
from hvfuzz.fuzz.trace import Trace, TraceError, load_repro_file
from hvfuzz.model.variants import BUILTIN, Registry


def _load_with_meta(path: str, registry: Registry = BUILTIN) -> tuple[Trace, dict[str, Any] | None, dict[str, Any]]:
    """A repro file's trace, recorded verdict and ``meta`` (checked: ``trace.load_repro_file``;
    its variant looked up in ``registry``)."""
    r = load_repro_file(path, registry)
    return r.trace, r.verdict, r.meta


def bug_signature(variant: str, oracle: str | None) -> str:
    """What makes two findings the same bug: the design under test and the property it breaks."""
    return hashlib.sha256(f"{variant}\0{oracle}".encode()).hexdigest()[:12]


@attrs.frozen
class Recorded:
    path: str
    count: int
    #: the trace kept (the shorter of the stored one and the new one)
    length: int
    #: a regression corpus file with the same signature, if any
    known: str | None = None


def record(directory: str, trace: Trace, verdict: Verdict, meta: dict[str, Any] | None = None,
           regressions: list[str] | None = None) -> Recorded:
    """Store a finding (atomically); the same signature again bumps the count."""
    variant = trace.config.variant
    sig = bug_signature(variant, verdict.oracle)
    path = os.path.join(directory, f"{variant}-{verdict.oracle or 'pass'}-{sig}.json")
    meta = dict(meta or {})
    count = 1
    if os.path.exists(path):
        try:
            old, _, old_meta = _load_with_meta(path, trace.config.registry)
            count = old_meta.get("count", 1) + 1
            if len(old.ops) <= len(trace.ops):  # keep the shorter repro (and its provenance)
                trace, meta = old, old_meta
        except TraceError:
            pass  # a corrupt file is replaced by the new finding
    meta["count"] = count
    meta["signature"] = sig
    known = known_regression(regressions or [], variant, verdict.oracle)
    write_repro_at(path, trace, run(trace), meta)
    return Recorded(path, count, len(trace.ops), known)


def known_regression(dirs: list[str], variant: str, oracle: str | None) -> str | None:
    """A regression corpus file recording the same variant failing the same oracle."""
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "**", "*.json"), recursive=True)):
            try:
                t, recorded = load_repro(path)
            except TraceError:
                continue
            if recorded and recorded.get("status") == "fail" and t.config.variant == variant \
                    and recorded.get("oracle") == oracle:
                return path
    return None


def list_findings(directory: str, registry: Registry = BUILTIN) -> list[dict[str, Any]]:
    """Every finding in ``directory``: signature, oracle, variant, count, length, path."""
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        t, recorded, meta = _load_with_meta(path, registry)
        rows.append({"signature": meta.get("signature", "-"), "oracle": (recorded or {}).get("oracle", "-"),
                     "variant": t.config.variant, "count": meta.get("count", 1), "length": len(t.ops),
                     "path": path})
    return rows
