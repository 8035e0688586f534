"""Repro files (versioned JSON, written atomically) and the text timeline of a replay."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from typing import Any

from hvfuzz.fuzz.runner import StepRecord, Verdict
from hvfuzz.fuzz.trace import (
    SCHEMA_VERSION,
    Trace,
    load_repro_file,
    trace_to_json,
)
from hvfuzz.model.variants import BUILTIN, Registry
from hvfuzz.model.vocab.ops import Op


def repro_to_json(trace: Trace, verdict: Verdict, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    d = trace_to_json(trace)
    origin = trace.config.registry.origin(trace.config.variant)
    if origin.kind != "builtin":
        d["design"] = origin.to_json()  # where replay finds a plugin design again (fuzz/plugins.py)
    d["verdict"] = verdict.to_json()
    if meta:
        d["meta"] = meta
    return d


def dumps_repro(d: dict[str, Any]) -> str:
    """JSON with one op per line, so a repro reads (and diffs) as a list of events."""
    lines = ["{"]
    items = list(d.items())
    for n, (k, v) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if k == "ops":
            lines.append(' "ops": [')
            lines += [f"  {json.dumps(op)}{',' if i < len(v) - 1 else ''}" for i, op in enumerate(v)]
            lines.append(f" ]{comma}")
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def signature(trace: Trace, verdict: Verdict) -> str:
    """Short hash naming a finding: variant, oracle, and the ops."""
    d = trace_to_json(trace)
    key = json.dumps([trace.config.variant, verdict.oracle, d["config"], d["ops"]], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def write_repro(directory: str, trace: Trace, verdict: Verdict, meta: dict[str, Any] | None = None) -> str:
    """Write the repro atomically into ``directory``, named by variant, oracle and content hash."""
    name = f"{trace.config.variant}-{verdict.oracle or 'pass'}-{signature(trace, verdict)}.json"
    return write_repro_at(os.path.join(directory, name), trace, verdict, meta)


def write_repro_at(path: str, trace: Trace, verdict: Verdict, meta: dict[str, Any] | None = None) -> str:
    """Write the repro to ``path`` atomically."""
    return write_text_atomic(path, dumps_repro(repro_to_json(trace, verdict, meta)))


def write_text_atomic(path: str, text: str) -> str:
    """Write ``text`` to ``path`` atomically (temp file + fsync + rename in the same directory), so
    a finding is never left half-written.  The temp file is created with mode 0666, which the
    kernel reduces by the umask as for any ``open`` (not ``mkstemp``'s 0600): a CI job that
    uploads the findings directory as another user must be able to read it."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    while True:
        tmp = os.path.join(directory, f".tmp-{os.getpid()}-{secrets.token_hex(6)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_repro(path: str, registry: Registry = BUILTIN) -> tuple[Trace, dict[str, Any] | None]:
    """A trace file or a repro file: the trace and the recorded verdict (if any), checked by
    ``trace.load_repro_file`` (the one place the schema is checked).  Its variant is looked up in
    ``registry``, plus the design the repro recorded if ``registry`` lacks it."""
    r = load_repro_file(path, registry)
    return r.trace, r.verdict


def _op_text(rec: StepRecord) -> str:
    return rec.op.text(vcpu=False)  # only the fields the op's kind uses (``Op.shown_fields``)


def _vcpu_cell(d: dict[str, Any]) -> str:
    return _regs_cell(d) + _power_cell(d) + _gic_cell(d)


def _power_cell(d: dict[str, Any]) -> str:
    """PSCI power state, shown when it is not plain RUNNABLE: mp_state (and a sleeping thread),
    pending requests."""
    if "mp_state" not in d:
        return ""
    req = f" req={'+'.join(d['requests'])}" if d.get("requests") else ""
    return f"  power={d['mp_state']}{req}"


def _gic_cell(d: dict[str, Any]) -> str:
    if "ap_list" not in d:
        return ""
    return f"  ap_list=[{' '.join(d['ap_list'])}] LRs=[{' '.join(d['lrs'])}] ICH_HCR={d['ich_hcr']}"


def _regs_cell(d: dict[str, Any]) -> str:
    where = d["phase"] + (f"@cpu{d['pcpu']}" if d["pcpu"] is not None else "")
    if "dirty" in d:
        vse = f" VSE(host/hyp)={int(d['host_vse'])}/{int(d['hyp_vse'])}" if d["host_vse"] or d["hyp_vse"] else ""
        return f"{where} DIRTY={int(d['dirty'])} host={d['host_copy']} hyp={d['hyp_copy']}{vse}"
    return where + (" VSE" if d.get("vse") else "")


def timeline_text(trace: Trace, verdict: Verdict, rows: list[StepRecord]) -> str:
    """One row per op: the op (on its vcpu's lane), then each vcpu's protocol state after it:
    run-loop phase and CPU, PKVM_HOST_STATE_DIRTY, whether the host and hyp copies hold the
    architectural (reference) state, pending vSError.  The failing step shows both sides."""
    c = trace.config
    out = [f"variant {c.variant}: {c.vcpus} vcpu(s) on {c.pcpus} pCPU(s), "
           f"{'protected' if c.protected else 'non-protected'} VM"]
    for rec in rows:
        mark = ">>" if not verdict.ok and rec.index == verdict.step else "  "
        noop = "" if rec.applied else "  (no-op)"
        out.append(f"{mark}{rec.index:3d}  vcpu{rec.op.vcpu}: {_op_text(rec)}{noop}")
        for n, d in enumerate(rec.vcpus):
            out.append(f"        vcpu{n}: {_vcpu_cell(d)}")
        for oracle, vcpu, what, value in rec.observations:
            shown = value if oracle.startswith("gic") or not isinstance(value, int) or isinstance(value, bool) \
                else hex(value)
            out.append(f"        saw  [{oracle}] vcpu{vcpu} {what} = {shown}")
    if verdict.ok:
        out.append("PASS: no oracle violated")
    else:
        out.append(f"FAIL at step {verdict.step}: oracle {verdict.oracle}: {verdict.reason}")
        out.append(f"  variant saw:   {verdict.variant_saw}")
        out.append(f"  reference saw: {verdict.reference_saw}")
    return "\n".join(out)


def _brief_json(op: Op) -> dict[str, Any]:
    return {"op": op.name, "vcpu": op.vcpu, **{k: getattr(op, k) for k in op.shown_fields()}}


def pytest_text(trace: Trace, recorded: dict[str, Any] | None, name: str) -> str:
    """A standalone pytest file replaying ``trace`` with the runner and asserting its recorded
    verdict; when the bug is fixed, one edit (``EXPECT_FIXED = True``) makes it assert a pass."""
    status = (recorded or {}).get("status", "pass")
    oracle = (recorded or {}).get("oracle")
    step = (recorded or {}).get("step")
    # only the fields each op's kind uses: the loader gives the others their defaults, and the op runs the same
    ops = ",\n".join(f"    {_brief_json(op)!r}" for op in trace.ops)
    where = f" ({oracle} at step {step})" if oracle else ""
    origin = trace.config.registry.origin(trace.config.variant)
    load, design = "trace_from_json(TRACE)", ""
    if origin.kind != "builtin":  # a plugin design's variant: the test loads the design as replay does
        load = "trace_from_json(TRACE, with_recorded_design(TRACE, registry_for()))"
        design = f', "design": {origin.to_json()!r}'
    imports = "from hvfuzz.fuzz.plugins import registry_for, with_recorded_design\n" if design else ""
    return f'''"""Regression test exported by hvfuzz from {name}.

Variant {trace.config.variant!r}: recorded verdict {status}{where}.
Run with: pytest THIS_FILE (hvfuzz installed).  Once the bug is fixed in the model, set
EXPECT_FIXED = True: the test then asserts that no oracle fails.
"""

{imports}from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.trace import trace_from_json

EXPECT_FIXED = False
TRACE = {{"schema": {SCHEMA_VERSION}, "config": {trace_to_json(trace)["config"]!r}{design}, "ops": [
{ops}
]}}


def test_recorded_verdict():
    verdict = run({load})
    if EXPECT_FIXED or {status == "pass"!r}:
        assert verdict.ok, verdict
    else:
        assert not verdict.ok, "no oracle failed: the bug is fixed? set EXPECT_FIXED = True"
        assert verdict.oracle == {oracle!r} and verdict.step == {step!r}, verdict
'''
