"""``hvfuzz conformance qemu``: generate cases, run them through QEMU and the model (and ArchGic),
group the disagreements into classes, triage each against ``variations.VARIATIONS`` and shrink
one example per class."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from hvfuzz.fuzz.conformance.arch_side import judge
from hvfuzz.fuzz.conformance.build import build_harness
from hvfuzz.fuzz.conformance.cases import READS, Access, Case, Shape, random_case
from hvfuzz.fuzz.conformance.from_model import model_cases
from hvfuzz.fuzz.conformance.model_side import run_model
from hvfuzz.fuzz.conformance.qemu import Observed, run_batch
from hvfuzz.fuzz.conformance.variations import VARIATIONS, VariedCpuIf, subsets
from hvfuzz.model.vgic.v3_hw import IchCpuIf

BATCH = 1000


def diff_fields(case: Case, a: Observed, b: Observed) -> tuple[str, ...]:
    """Where two observations differ: ``read:<ACCESS>`` for a read, else the register name."""
    out: list[str] = []
    kinds = [x.kind for x in case.accesses if x.kind in READS]
    for k, x, y in zip(kinds, a.reads, b.reads, strict=True):
        if x != y and f"read:{k}" not in out:
            out.append(f"read:{k}")
    for f in ("hcr", "misr", "eisr", "elrsr", "vmcr", "ap0r", "ap1r", "lrs", "traps"):
        if getattr(a, f) != getattr(b, f):
            out.append(f)
    return tuple(out)


@attrs.frozen
class Verdict:
    """How one case came out: ``key`` "" if the model agrees with QEMU; else the class."""

    key: str
    triaged: bool
    model: Observed | None = None
    variations: frozenset[str] = frozenset()


def classify(case: Case, seen: Observed, vtr: int, shape: Shape) -> Verdict:
    m = run_model(IchCpuIf(shape.nr_lrs, shape.pri_bits), case, vtr)
    if m == seen:
        return Verdict("", True, m)
    for s in subsets():
        if run_model(VariedCpuIf(shape.nr_lrs, shape.pri_bits, variations=s), case, vtr) == seen:
            return Verdict("+".join(sorted(s)), True, m, s)
    return Verdict("untriaged: " + ",".join(diff_fields(case, seen, m)), False, m)


def arch_verdict(case: Case, seen: Observed, shape: Shape) -> Verdict | None:
    """ArchGic's complaint about QEMU's behaviour, as a class (None: no complaint or not judged)."""
    out = judge(case, seen, shape)
    if not out:
        return None
    what = out[0].split(":")[0].split()[-1]  # the access kind or "vINTID"
    return Verdict(f"untriaged: ArchGic {what}", False)


@attrs.define
class ClassReport:
    key: str
    triaged: bool
    count: int
    example: Case
    seen: Observed
    model: Observed | None
    detail: str = ""
    #: cases per source ("random", "model")
    sources: dict[str, int] = attrs.Factory(dict)


@attrs.define
class Report:
    vtr: int
    shape: Shape
    cases: int = 0
    agree: int = 0
    arch_judged: int = 0
    #: what the cases exercised in QEMU (so a run that agrees is not vacuous)
    acks: int = 0
    deactivations: int = 0
    eoicount_bumps: int = 0
    #: DIRs that trapped to EL2 in QEMU (ICH_HCR_EL2.TDIR)
    dir_traps: int = 0
    #: cases per source, and how many of them agree exactly
    by_source: dict[str, int] = attrs.Factory(dict)
    agree_by_source: dict[str, int] = attrs.Factory(dict)
    classes: dict[str, ClassReport] = attrs.Factory(dict)

    @property
    def untriaged(self) -> list[ClassReport]:
        return [c for c in self.classes.values() if not c.triaged]


def _candidates(case: Case) -> list[Case]:
    """One-step reductions: drop an access, clear an LR, clear an APR, drop an ICH_HCR_EL2 bit."""
    out: list[Case] = []
    for i in range(len(case.accesses)):
        out.append(attrs.evolve(case, accesses=case.accesses[:i] + case.accesses[i + 1:]))
    for i, v in enumerate(case.lrs):
        if v:
            out.append(attrs.evolve(case, lrs=case.lrs[:i] + (0,) + case.lrs[i + 1:]))
    for name in ("ap0r", "ap1r"):
        regs = getattr(case, name)
        for i, v in enumerate(regs):
            if v:
                out.append(attrs.evolve(case, **{name: regs[:i] + (0,) + regs[i + 1:]}))
    hcr = case.hcr
    for b in range(1, 32):
        if hcr & (1 << b) and not 27 <= b < 31:
            out.append(attrs.evolve(case, hcr=hcr & ~(1 << b)))
    if hcr >> 27:
        out.append(attrs.evolve(case, hcr=hcr & ((1 << 27) - 1)))
    simpler = [Access(a.kind, 0 if a.kind.endswith("_R") or a.kind in READS else a.value) for a in case.accesses]
    if tuple(simpler) != case.accesses:
        out.append(attrs.evolve(case, accesses=tuple(simpler)))
    return out


def shrink(case: Case, key: str, run: Callable[[list[Case]], list[Observed]], vtr: int, shape: Shape,
           is_arch: bool, rounds: int = 40) -> tuple[Case, Observed]:
    """Delta-debug ``case`` (one QEMU boot per round) while it stays in class ``key``."""
    seen = run([case])[0]
    for _ in range(rounds):
        cands = _candidates(case)
        if not cands:
            break
        results = run(cands)
        for c, s in zip(cands, results, strict=True):
            v = arch_verdict(c, s, shape) if is_arch else classify(c, s, vtr, shape)
            if v is not None and v.key == key:
                case, seen = c, s
                break
        else:
            break
    return case, seen


SOURCES = ("random", "model")


def case_source(name: str, rng: random.Random, shape: Shape) -> Iterator[Case]:
    """``random``: ``cases.random_case``; ``model``: the vgic model's guest entries
    (``from_model.model_cases``), each distinct case once."""
    if name == "random":
        while True:
            yield random_case(rng, shape)
    seen: set[Case] = set()
    for c in model_cases(rng, shape):
        if c not in seen:
            seen.add(c)
            yield c


def conformance(n: int, seed: int, progress: Callable[[str], None] = lambda s: None,
                shrink_rounds: int = 40, sources: tuple[str, ...] = ("random",)) -> Report:
    """``n`` cases from each of ``sources`` through QEMU and the model."""
    elf = build_harness()

    def run(cs: list[Case]) -> list[Observed]:
        out: list[Observed] = []
        for i in range(0, len(cs), BATCH):
            out += run_batch(elf, cs[i:i + BATCH])[1]
        return out

    vtr, _ = run_batch(elf, [])
    shape = Shape.from_vtr(vtr)
    rep = Report(vtr, shape)
    for src in sources:
        _run_source(rep, src, case_source(src, random.Random(seed), shape), n, elf, progress)
    for cr in rep.classes.values():
        is_arch = cr.key.startswith("untriaged: ArchGic")
        case, seen = shrink(cr.example, cr.key, run, vtr, shape, is_arch, shrink_rounds)
        cr.example, cr.seen = case, seen
        cr.model = run_model(IchCpuIf(shape.nr_lrs, shape.pri_bits), case, vtr)
        if is_arch:
            cr.detail = "; ".join(judge(case, seen, shape) or [])
    return rep


def _run_source(rep: Report, src: str, gen: Iterator[Case], n: int, elf: Path,
                progress: Callable[[str], None]) -> None:
    vtr, shape = rep.vtr, rep.shape
    done = 0
    while done < n:
        batch = list(itertools.islice(gen, min(BATCH, n - done)))
        _, seen = run_batch(elf, batch)
        for c, s in zip(batch, seen, strict=True):
            _exercised(rep, c, s)
            rep.by_source[src] = rep.by_source.get(src, 0) + 1
            verdicts = [classify(c, s, vtr, shape)]
            arch = arch_verdict(c, s, shape)
            if judge_applies(c):
                rep.arch_judged += 1
            if arch is not None:
                verdicts.append(arch)
            if not verdicts[0].key and arch is None:
                rep.agree += 1
                rep.agree_by_source[src] = rep.agree_by_source.get(src, 0) + 1
            for v in verdicts:
                if not v.key:
                    continue
                cr = rep.classes.get(v.key)
                if cr is None:
                    cr = rep.classes[v.key] = ClassReport(v.key, v.triaged, 0, c, s, v.model)
                cr.count += 1
                cr.sources[src] = cr.sources.get(src, 0) + 1
        done += len(batch)
        rep.cases += len(batch)
        progress(f"{src}: {done}/{n} cases, {rep.agree} agree, {len(rep.classes)} classes")


def _exercised(rep: Report, case: Case, seen: Observed) -> None:
    kinds = [a.kind for a in case.accesses if a.kind in READS]
    rep.acks += sum(1 for k, v in zip(kinds, seen.reads, strict=True) if k.startswith("IAR") and v < 1020)
    rep.deactivations += sum(1 for a, b in zip(case.lrs, seen.lrs, strict=True) if a >> 63 and not b >> 63)
    rep.eoicount_bumps += ((seen.hcr >> 27) - (case.hcr >> 27)) % 32
    rep.dir_traps += bin(seen.traps).count("1")


def judge_applies(case: Case) -> bool:
    return bool(case.hcr & 1)


def format_report(rep: Report) -> str:
    lines = [f"ICH_VTR_EL2 {rep.vtr:#x}: {rep.shape.nr_lrs} LRs, {rep.shape.pri_bits} priority bits, "
             f"{rep.shape.pre_bits} preemption bits (the model is configured the same)",
             f"{rep.cases} cases ({rep.acks} acknowledges, {rep.deactivations} LR deactivations, "
             f"{rep.eoicount_bumps} EOIcount increments, {rep.dir_traps} DIR traps to EL2 in QEMU; "
             f"{rep.arch_judged} judged by ArchGic): {rep.agree} agree exactly",
             "by source: " + ", ".join(f"{k} {v} ({rep.agree_by_source.get(k, 0)} agree)"
                                       for k, v in rep.by_source.items()),
             f"{len(rep.classes)} classes of disagreement, {len(rep.untriaged)} untriaged"]
    used: dict[str, int] = {}
    for cr in rep.classes.values():
        if cr.triaged:
            for name in cr.key.split("+"):
                used[name] = used.get(name, 0) + cr.count
    if used:
        lines += ["", "Triaged differences (a case counts for each difference that explains it):"]
        for name, n in sorted(used.items()):
            v = VARIATIONS[name]
            lines.append(f"  {name} [{v.verdict}] {n} cases: {v.summary}")
            lines.append(f"      reason: {v.reason}")
    for cr in sorted(rep.classes.values(), key=lambda c: (c.triaged, c.key)):
        lines.append("")
        head = "triaged" if cr.triaged else "UNTRIAGED"
        srcs = ", ".join(f"{k} {v}" for k, v in cr.sources.items())
        lines.append(f"[{head}] {cr.key} ({cr.count} cases: {srcs})" + (f": {cr.detail}" if cr.detail else ""))
        lines.append("  shrunk case:")
        lines += ["    " + s for s in cr.example.describe().splitlines()]
        if cr.model is not None:
            for f in diff_fields(cr.example, cr.seen, cr.model) or ("(model agrees: an ArchGic class)",):
                lines.append(f"    {f}: QEMU {_show(cr.example, cr.seen, f)}  model {_show(cr.example, cr.model, f)}")
    return "\n".join(lines)


def _show(case: Case, o: Observed, f: str) -> str:
    if f.startswith("read:"):
        return str([hex(x) for x in o.reads])
    if f.startswith("("):
        return ""
    v = getattr(o, f)
    return str([hex(x) for x in v]) if isinstance(v, tuple) else hex(v)


__all__ = ["SOURCES", "Report", "case_source", "classify", "conformance", "diff_fields", "format_report"]
