"""Repros show what matters: every printer (timeline, HTML, the pytest and C exports, ``str(op)``)
shows only the fields an op's kind uses (``Op.shown_fields``, declared in the vocabulary).  The
declaration is checked against the executable semantics: an op rebuilt from its shown fields
(``Op.essential``) runs the same, state for state, on the variant, the reference and every judge."""

import glob
import os
import random

import attrs

from hvfuzz.fuzz.export import load_repro, pytest_text, timeline_text
from hvfuzz.fuzz.export_c import c_text
from hvfuzz.fuzz.export_html import html_text
from hvfuzz.fuzz.gen import begin, walk
from hvfuzz.fuzz.gen.choosers import RandomChooser
from hvfuzz.fuzz.runner import Execution, _vcpu_state, run, run_recorded
from hvfuzz.fuzz.session import load_corpus
from hvfuzz.fuzz.trace import Config, Trace, trace_from_json
from hvfuzz.model.vocab import ops as O

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REARM = os.path.join(ROOT, "corpus", "regressions", "lazy-vse-not-reflected-rearm.json")


def _noisy(op: O.Op, c, rng: random.Random) -> O.Op:
    """``op`` with every field it does not show set to another value of its domain (keeping the
    set of shown fields: a flag hidden at its "nothing" default stays so)."""
    for f in attrs.fields(type(op)):
        if f.name == "vcpu" or f.name in op.shown_fields():
            continue
        new = attrs.evolve(op, **{f.name: f.metadata["domain"].naive(rng, c)})
        if new.shown_fields() == op.shown_fields():
            op = new
    return op


def _seen(ex: Execution) -> tuple:
    """What a step shows: both systems' observations, each vcpu's protocol state (as timelines
    show it) and register context, in the variant and in the reference.  (Not the exhaustive
    search's state key: an exit stores its fault whole, ``rt``/``reg``/``value`` included, and
    the next exit overwrites it unread.)"""
    n = ex.config.vcpus
    return (ex.sut.last_observations, ex.ref.last_observations, [_vcpu_state(ex, v) for v in range(n)],
            [list(ex.sut.vcpus[v].arch.ctxt) for v in range(n)], [list(ex.ref.vcpus[v].arch.ctxt) for v in range(n)])


def _same_run(a: Trace, b: Trace) -> str | None:
    """Where two traces of the same length stop running the same (None: nowhere)."""
    xa, xb = Execution(a.config), Execution(b.config)
    for i, (oa, ob) in enumerate(zip(a.ops, b.ops, strict=True)):
        va, vb = xa.step(oa), xb.step(ob)
        if va != vb:
            return f"step {i} ({oa} vs {ob}): {va} / {vb}"
        if _seen(xa) != _seen(xb):
            return f"step {i} ({oa} vs {ob}): they differ: {_seen(xa)} / {_seen(xb)}"
        if va is not None:
            return None
    return None


def _traces() -> list[Trace]:
    out = load_corpus([os.path.join(ROOT, "corpus")])
    for k, variant in enumerate(("lazy", "eager", "vgic-lr-overflow", "lazy-v3")):
        for s in range(3):
            ch = RandomChooser.seeded(1000 * k + s)
            drv = begin(variant, ch)
            walk(drv, ch, 60)
            out.append(Trace(drv.ex.config, tuple(drv.ops)))
    for kind in O.EXIT_KINDS:  # each exit kind, handled, then what the guest's registers read
        for rt in (0, 1):
            out.append(Trace(Config(vcpus=1, pcpus=1), (
                O.UserSetReg(0, "PMCR_EL0", 3), O.UserSetReg(0, "PMSELR_EL0", 4), O.UserSetReg(0, "ACTLR_EL1", 6),
                O.KvmRun(0, 0), O.GuestEnter(0), O.GuestWriteReg(0, "x1", 5), O.GuestWriteReg(0, "PAR_EL1", 9),
                O.GuestExit(0, kind, rt=rt, reg="PMCR_EL0", value=7), O.HandleExit(0), O.GuestEnter(0),
                O.GuestExit(0, "irq"), O.HandleExit(0), O.ExitToUser(0),
                *(O.UserGetReg(0, r) for r in ("x0", "x1", "pc", "PMCR_EL0", "ACTLR_EL1")))))
    return out


def test_an_op_runs_the_same_rebuilt_from_its_shown_fields():
    rng = random.Random(5)
    kinds: set[str] = set()
    hidden = 0
    for t in _traces():
        noisy = t.replace_ops([_noisy(op, t.config, rng) for op in t.ops])
        essential = t.replace_ops([op.essential() for op in noisy.ops])
        hidden += sum(a != b for a, b in zip(noisy.ops, essential.ops, strict=True))
        where = _same_run(noisy, essential)
        assert where is None, f"{t.config.variant}: {where}"
        kinds |= {op.kind for op in t.ops if isinstance(op, O.GuestExit)}
    assert kinds == set(O.EXIT_KINDS)  # every exit kind's declaration was checked
    assert hidden > 100  # ops whose hidden fields differed from the defaults


def test_an_irq_exit_reads_as_one():
    assert str(O.GuestExit(0, "irq")) == "GuestExit(vcpu=0, kind=irq)"
    assert O.GuestExit(1, "irq", rt=3, reg="PMCR_EL0", value=7).text(vcpu=False) == "GuestExit(kind=irq)"
    assert str(O.GuestExit(0, "irq", serror_pending=True)) == "GuestExit(vcpu=0, kind=irq, serror_pending=True)"
    assert str(O.GuestExit(0, "trap_sysreg_read", rt=2, reg="PMCR_EL0")) == \
        "GuestExit(vcpu=0, kind=trap_sysreg_read, rt=2, reg=PMCR_EL0)"
    assert str(O.GuestExit(0, "trap_mmio_read", rt=1, value=0x1000)) == \
        "GuestExit(vcpu=0, kind=trap_mmio_read, rt=1, value=0x1000)"
    assert str(O.GuestPsci(0, "CPU_OFF", 3, 5, 6)) == "GuestPsci(vcpu=0, fn=CPU_OFF)"
    assert str(O.UserSetReg(1, "pc", 0x80000)) == "UserSetReg(vcpu=1, reg=pc, value=0x80000)"


def test_every_printer_shows_only_the_fields_the_kind_uses():
    """The re-arm regression's IRQ exit (kind irq, reg ACTLR_EL1, rt 0, value 0 in the JSON): no
    printer mentions the fields an IRQ exit does not use."""
    trace, recorded = load_repro(REARM)
    assert any(op.kind == "irq" and op.reg == "ACTLR_EL1" for op in trace.ops if isinstance(op, O.GuestExit))
    verdict, rows = run_recorded(trace)
    printed = {
        "timeline": timeline_text(trace, verdict, rows),
        "html": html_text(trace, verdict, rows, "rearm.json"),
        "pytest": pytest_text(trace, recorded, "rearm.json"),
        "c": c_text(trace, recorded, "rearm.json"),
    }
    for name, text in printed.items():
        assert "ACTLR" not in text and "rt=" not in text and "'rt'" not in text, name
        # the C skeleton names KVM_SET_VCPU_EVENTS's serror_pending (HostInjectSError): not an exit field
        assert name == "c" or "serror_pending" not in text, name
    assert "GuestExit(kind=irq)" in printed["timeline"] and "GuestExit(kind=irq)" in printed["html"]
    assert "{'op': 'GuestExit', 'vcpu': 0, 'kind': 'irq'}" in printed["pytest"]


def test_the_brief_pytest_export_still_reproduces(tmp_path):
    """The pytest export leaves out unused fields; loading fills their defaults and the recorded
    failure reproduces (the exported file, run as pytest would)."""
    for path in sorted(glob.glob(os.path.join(ROOT, "corpus", "regressions", "*.json")))[:6]:
        trace, recorded = load_repro(path)
        ns: dict = {}
        exec(compile(pytest_text(trace, recorded, os.path.basename(path)), path, "exec"), ns)
        assert run(trace_from_json(ns["TRACE"])) == run(trace)
        ns["test_recorded_verdict"]()
