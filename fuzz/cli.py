"""``hvfuzz``: fuzz | exhaustive | replay | shrink | variants | atheris | import-crash | findings | export |
conformance.

Exit codes (a contract every later command keeps): 0 no property violated, 1 a property was
violated (a repro was written / the trace reproduces it), 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from typing import Any, NoReturn

from hvfuzz.fuzz.engines import DEFAULT_ENGINE, ENGINES
from hvfuzz.fuzz.trace import TraceError

EXIT_OK, EXIT_VIOLATION, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"hvfuzz: error: {message} (see hvfuzz --help)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


class _Elsewhere(argparse.Action):
    """A flag of the sibling command (``fuzz`` / ``atheris``) that has no meaning here: refused
    with the reason and what to use instead (exit 2), so one vocabulary serves both commands."""

    def __init__(self, option_strings: list[str], dest: str, why: str = "", **kw: Any) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kw)
        self.why = why

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error(f"{option_string}: {self.why}")


#: libFuzzer's -seed is an unsigned 32-bit value and 0 means "pick one"
_LIBFUZZER_SEEDS = 2**32 - 1


def libfuzzer_seed(seed: int) -> int:
    """libFuzzer's ``-seed`` for ``--seed`` (as ``hvfuzz fuzz`` takes it: any integer): itself in
    1..2**32-1, else wrapped into that range (0 is 2**32-1, -1 is 2**32-2, ...: libFuzzer's 0 is
    a random seed)."""
    return (seed - 1) % _LIBFUZZER_SEEDS + 1


def _out(msg: str = "") -> None:
    print(msg, flush=True)


def cmd_variants(args: argparse.Namespace) -> int:
    variants = args.registry
    if args.json:
        rows = [{"name": v.name, "kind": v.kind, "component": v.component,
                 "description": v.description, "source": v.source,
                 "origin": variants.origin(v.name).describe()} for v in variants.values()]
        _out(json.dumps(rows, indent=1))
        return EXIT_OK
    width = max(len(n) for n in variants)
    for v in variants.values():
        origin = variants.origin(v.name)
        where = "" if origin.kind == "builtin" else f"  [design: {origin.describe()}]"
        _out(f"{v.name:<{width}}  {v.kind:<9}  {v.component:<5}  {v.description}  [source: {v.source}]{where}")
    return EXIT_OK


def _regression_dirs(corpus_dirs: list[str] | None) -> list[str]:
    """Where kept findings live: regressions/ under the corpus directories (default: the shipped corpus)."""
    from hvfuzz.fuzz.shipped import corpus_dirs as resolve
    from hvfuzz.fuzz.shipped import regression_dirs

    return regression_dirs(corpus_dirs if corpus_dirs is not None else resolve(None))


def _known_text(rec: Any) -> str:
    seen = (f"seen {rec.count} times, kept {rec.length} ops" if rec.count > 1
            else "first time in this findings directory")
    return (f"known: same variant and oracle as {rec.known}; {seen}" if rec.known
            else f"new: not in the regression corpus; {seen}")


def cmd_fuzz(args: argparse.Namespace) -> int:
    from hvfuzz.fuzz.campaign import Plan, run_campaign
    from hvfuzz.fuzz.session import load_corpus
    from hvfuzz.fuzz.shipped import corpus_dirs
    from hvfuzz.fuzz.situations import coverage_table

    VARIANTS = args.registry
    for d in args.corpus or []:
        if d and not os.path.isdir(d):
            raise TraceError(f"--corpus {d}: not a directory")
    args.corpus = corpus_dirs(args.corpus)
    if args.variant is not None and args.variant not in VARIANTS:
        raise TraceError(f"unknown variant {args.variant!r} (see 'hvfuzz variants')")
    if args.jobs is not None and args.jobs < 1:
        raise TraceError("--jobs must be at least 1")
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    names = [args.variant] if args.variant else [v.name for v in VARIANTS.correct()]
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    budget = f"{args.seconds:g} s" if args.max_examples is None else f"{args.max_examples} examples"
    _out(f"hvfuzz fuzz: {', '.join(names)} against the reference; seed {seed}; budget {budget}; engine {args.engine}"
         + (" per variant" if len(names) > 1 and args.max_examples is not None else ""))

    corpus = load_corpus(args.corpus, VARIANTS) if args.corpus else []
    database = None
    db_url = args.db or (os.path.join(args.findings, ".db") if jobs > 1 else None)
    if db_url:
        from hvfuzz.fuzz.profiles import open_database

        try:
            database = open_database(db_url)
        except ValueError as e:
            raise TraceError(str(e)) from None
        _out(f"  sharing failures through the example database {db_url}")
    if corpus:
        _out(f"  replaying {len(corpus)} corpus trace(s) from {', '.join(args.corpus)} first")
    if jobs > 1:
        _out(f"  {jobs} worker processes (--jobs {jobs}); worker seeds derived from seed {seed}")
    plan = Plan(names, seed, jobs, None if args.max_examples is not None else args.seconds, args.max_examples,
                keep_going=args.keep_going,
                options=dict(nr_lrs=args.nr_lrs, corpus=corpus, registry=VARIANTS, engine=args.engine),
                db_url=db_url, findings=args.findings, regressions=_regression_dirs(args.corpus))
    failed, total = run_campaign(plan, _out, _known_text, database=database)
    status = EXIT_VIOLATION if failed else EXIT_OK
    _out(coverage_table(total, pmu_emulation=any(VARIANTS[n].pmu_emulation for n in names)))
    if status == EXIT_OK:
        _out("no property violated")
    return status


def cmd_exhaustive(args: argparse.Namespace) -> int:
    from hvfuzz.fuzz.exhaustive import Level, explore, runs_for
    from hvfuzz.fuzz.findings import record
    from hvfuzz.fuzz.situations import coverage_table, never_reached

    VARIANTS = args.registry
    if args.variant is not None and args.variant not in VARIANTS:
        raise TraceError(f"unknown variant {args.variant!r} (see 'hvfuzz variants')")
    if args.depth < 1:
        raise TraceError("--depth must be at least 1")
    runs = runs_for(args.variant, args.alphabet, VARIANTS)
    if not runs:
        raise TraceError(f"no correct variant has the {args.alphabet} component")
    status = EXIT_OK
    for name, alpha in runs:
        try:
            config = alpha.config(name, args.vcpus, args.pcpus, args.nr_lrs, VARIANTS)
        except ValueError as e:
            raise TraceError(f"bad configuration ({e})") from None
        ops = alpha.ops_of(config)
        prologue = alpha.prologue_of(config)
        _out(f"hvfuzz exhaustive: {name} over the {alpha.component} alphabet ({len(ops)} ops; "
             f"{config.vcpus} vcpu(s), {config.pcpus} pCPU(s), {config.nr_lrs} LR(s)), depth {args.depth}")
        if prologue:
            _out(f"  from the {alpha.component} prologue ({len(prologue)} ops, in every repro): "
                 + ", ".join(map(str, prologue)))

        def progress(lv: Level) -> None:
            _out(f"  depth {lv.depth}: {lv.new_states} new states, {lv.states} in all, "
                 f"{lv.executions} ops executed, {lv.seconds:.1f} s")

        res = explore(config, ops, args.depth, every_oracle=args.every_oracle, progress=progress,
                      prologue=prologue)
        _out(f"  {name}: {res.states} states explored, {res.executions} ops executed; covers all "
             f"{res.traces_covered} traces of 1..{res.explored_to} ops")
        pmu = VARIANTS[name].pmu_emulation
        _out("\n".join("  " + line for line in coverage_table(res.coverage, pmu, alpha.component).splitlines()))
        never = never_reached(res.coverage, pmu, alpha.component)
        if never:
            _out(f"  WARNING: {name}: {len(never)} catalogued {alpha.component} situation(s) never reached "
                 f"up to depth {res.explored_to}: " + ", ".join(never))
        if not res.counterexamples:
            _out(f"  {name}: no violation up to depth {args.depth}")
            continue
        status = EXIT_VIOLATION
        for oracle, (trace, verdict) in res.counterexamples.items():
            meta = {"found_by": f"hvfuzz exhaustive --depth {args.depth} ({alpha.component} alphabet)",
                    "minimal_length": len(trace.ops)}
            rec = record(args.findings, trace, verdict, meta, regressions=_regression_dirs(None))
            n = len(trace.ops) - len(prologue)
            if n <= 0:
                what = f"the prologue fails at its op {len(trace.ops)}"
            elif prologue:
                what = (f"a minimal counterexample has {len(trace.ops)} ops ({len(prologue)} of the prologue, "
                        f"then {n}: none shorter over this alphabet)")
            else:
                what = f"a minimal counterexample has {n} ops (none shorter over this alphabet)"
            _out(f"  {name}: VIOLATION of {oracle}: {what}: {verdict.reason}")
            _out(f"  repro: {rec.path}")
            _out(f"  {_known_text(rec)}")
    if status == EXIT_OK:
        _out(f"no violation up to depth {args.depth}")
    return status


def cmd_replay(args: argparse.Namespace) -> int:
    import attrs

    from hvfuzz.fuzz.export import load_repro, timeline_text
    from hvfuzz.fuzz.runner import run_recorded

    trace, recorded = load_repro(args.file, args.registry)
    VARIANTS = trace.config.registry  # with the design the repro recorded
    if args.variant:
        if args.variant not in VARIANTS:
            raise TraceError(f"unknown variant {args.variant!r} (see 'hvfuzz variants')")
        trace = attrs.evolve(trace, config=attrs.evolve(trace.config, variant=args.variant))
    verdict, rows = run_recorded(trace)
    if not args.quiet:
        _out(timeline_text(trace, verdict, rows))
    if recorded is not None and not args.variant:
        want = recorded.get("oracle") if recorded.get("status") == "fail" else None
        got = verdict.oracle
        same = (want == got) and (recorded["status"] == ("pass" if verdict.ok else "fail"))
        _out(f"recorded verdict: {recorded['status']}{' ' + want if want else ''}; "
             f"{'reproduced' if same else 'NOT reproduced: now ' + ('pass' if verdict.ok else 'fail ' + str(got))}")
    if verdict.ok:
        _out("no property violated")
        return EXIT_OK
    _out(f"oracle {verdict.oracle} violated at step {verdict.step}")
    return EXIT_VIOLATION


def cmd_shrink(args: argparse.Namespace) -> int:
    from hvfuzz.fuzz.export import load_repro, write_repro
    from hvfuzz.fuzz.runner import run
    from hvfuzz.fuzz.shrink import shrink

    trace, _ = load_repro(args.file, args.registry)
    verdict = run(trace)
    if verdict.ok:
        _out("the trace violates nothing: nothing to shrink")
        return EXIT_OK
    small = shrink(trace, verdict)
    path = write_repro(args.findings, small, run(small), {"found_by": f"hvfuzz shrink {args.file}"})
    _out(f"{len(trace.ops)} -> {len(small.ops)} ops, oracle {verdict.oracle}: {path}")
    return EXIT_VIOLATION


def _write_imported(args: argparse.Namespace, crash: str, variant: str, target: str) -> int:
    from hvfuzz.fuzz.findings import record
    from hvfuzz.fuzz.libfuzzer import import_crash

    original, verdict, small = import_crash(crash, variant, target, args.registry)
    if verdict.ok:
        _out(f"{crash}: does not reproduce on {variant} ({len(original.ops)} ops decoded)")
        return EXIT_OK
    meta = {"found_by": f"hvfuzz import-crash {os.path.basename(crash)} (atheris target {target})",
            "length_before_shrink": len(original.ops)}
    rec = record(args.findings, small, verdict, meta, regressions=_regression_dirs(None))
    _out(f"{crash}: VIOLATION of {verdict.oracle} on {variant}: {verdict.reason}")
    _out(f"  repro ({len(small.ops)} ops, shrunk from {len(original.ops)}): {rec.path}")
    _out(f"  {_known_text(rec)}")
    _out(f"  replay: hvfuzz replay {rec.path}")
    return EXIT_VIOLATION


def cmd_import_crash(args: argparse.Namespace) -> int:
    from hvfuzz.fuzz.targets import DEFAULT_VARIANT, TARGETS

    VARIANTS = args.registry
    if args.target not in TARGETS:
        raise TraceError(f"unknown target {args.target!r} (known: {', '.join(TARGETS)})")
    variant = args.variant or DEFAULT_VARIANT[args.target]
    if variant not in VARIANTS:
        raise TraceError(f"unknown variant {variant!r} (see 'hvfuzz variants')")
    return _write_imported(args, args.file, variant, args.target)


def cmd_atheris(args: argparse.Namespace) -> int:
    from hvfuzz.fuzz.libfuzzer import run_target
    from hvfuzz.fuzz.plugins import designs_env
    from hvfuzz.fuzz.session import load_corpus
    from hvfuzz.fuzz.shipped import corpus_dirs
    from hvfuzz.fuzz.targets import DEFAULT_VARIANT

    VARIANTS = args.registry
    try:
        import atheris  # noqa: F401
    except ImportError:
        raise TraceError("atheris is not installed: pip install 'hvfuzz[atheris]'") from None
    variant = args.variant or DEFAULT_VARIANT.get(args.target, "lazy")
    if variant not in VARIANTS:
        raise TraceError(f"unknown variant {variant!r} (see 'hvfuzz variants')")
    for d in args.corpus or []:
        if d and not os.path.isdir(d):
            raise TraceError(f"--corpus {d}: not a directory")
    seeds = load_corpus(corpus_dirs(args.corpus), VARIANTS)
    # the flags hvfuzz fuzz shares, as libFuzzer's; flags after -- come later and win
    shared = [f"-seed={libfuzzer_seed(args.seed)}"] if args.seed is not None else []
    if args.max_examples is not None:
        if args.max_examples < 1:
            raise TraceError("--max-examples must be at least 1")
        shared.append(f"-runs={args.max_examples}")
    res = run_target(args.target, variant, args.seconds, args.jobs, args.findings, seeds,
                     shared + [a for a in args.libfuzzer_flags if a != "--"], _out, designs=designs_env(VARIANTS))
    status = EXIT_OK
    for crash in res.crashes:
        status = max(status, _write_imported(args, crash, variant, "system" if args.target == "hypothesis"
                                             else args.target))
    if not res.crashes and res.returncode not in (0,):
        _out(f"hvfuzz atheris: the target exited with {res.returncode} and left no crash file")
        return EXIT_BAD_INPUT
    if status == EXIT_OK:
        _out("no property violated")
    return status


def cmd_findings(args: argparse.Namespace) -> int:
    from hvfuzz.fuzz.findings import list_findings

    if not os.path.isdir(args.dir):
        raise TraceError(f"{args.dir}: not a directory")
    rows = list_findings(args.dir, args.registry)
    if args.json:
        _out(json.dumps(rows, indent=1))
        return EXIT_OK
    _out(f"{'signature':<12}  {'count':>5}  {'ops':>3}  {'variant':<34}  {'oracle':<30}  path")
    for r in rows:
        _out(f"{r['signature']:<12}  {r['count']:>5}  {r['length']:>3}  {r['variant']:<34}  {r['oracle']:<30}  "
             f"{r['path']}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from hvfuzz.fuzz.export import load_repro, pytest_text

    trace, recorded = load_repro(args.file, args.registry)
    if args.format == "pytest":
        _out(pytest_text(trace, recorded, os.path.basename(args.file)))
    elif args.format == "html":
        from hvfuzz.fuzz.export_html import html_text
        from hvfuzz.fuzz.runner import run_recorded

        verdict, rows = run_recorded(trace)
        _out(html_text(trace, verdict, rows, os.path.basename(args.file)))
    elif args.format == "c":
        from hvfuzz.fuzz.export_c import c_text

        _out(c_text(trace, recorded, os.path.basename(args.file)))
    else:
        from hvfuzz.fuzz.export import timeline_text, write_text_atomic
        from hvfuzz.fuzz.export_html import html_text
        from hvfuzz.fuzz.runner import run_recorded

        verdict, rows = run_recorded(trace)
        _out(timeline_text(trace, verdict, rows))
        if args.html:
            write_text_atomic(args.html, html_text(trace, verdict, rows, os.path.basename(args.file)))
            _out(f"html timeline: {args.html}")
    return EXIT_OK


def cmd_conformance(args: argparse.Namespace) -> int:
    import time

    from hvfuzz.fuzz.conformance.build import ConformanceError
    from hvfuzz.fuzz.conformance.qemu import qemu_version
    from hvfuzz.fuzz.conformance.run import SOURCES, conformance, format_report

    if args.cases < 1:
        raise TraceError("--cases must be at least 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    t0 = time.monotonic()
    try:
        sources = SOURCES if args.source == "both" else (args.source,)
        _out(f"hvfuzz conformance qemu: {args.cases} cases per source ({', '.join(sources)}), seed {seed}; "
             f"{qemu_version()}")
        rep = conformance(args.cases, seed, (lambda s: print(s, file=sys.stderr, flush=True)) if args.progress
                          else (lambda s: None), sources=sources)
    except ConformanceError as e:
        raise TraceError(str(e).splitlines()[0] if not args.progress else str(e)) from None
    _out(format_report(rep))
    _out(f"\n{rep.cases} cases in {time.monotonic() - t0:.1f} s; "
         f"{len(rep.untriaged)} untriaged disagreement classes")
    return EXIT_VIOLATION if rep.untriaged else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hvfuzz", description="Property-based fuzzer for hypervisor logic (pKVM, vgic).")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    f = sub.add_parser("fuzz", help="fuzz a variant (default: every correct variant) against the reference")
    f.add_argument("--variant", help="variant to fuzz (see 'hvfuzz variants')")
    f.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60, split over variants)")
    f.add_argument("--max-examples", type=int, help="example budget per variant instead of seconds (deterministic)")
    f.add_argument("--seed", type=int, help="seed (default: random, printed)")
    f.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help=f"what makes the inputs (fuzz/engines.py; default {DEFAULT_ENGINE}, the fastest at finding "
                        "the catalog's bugs by bench/engines.py)")
    f.add_argument("--corpus", action="append", metavar="DIR",
                   help="also replay the traces under DIR on the variant before generating, and mutate them "
                        "between Hypothesis batches, besides the corpus shipped with hvfuzz (repeatable; "
                        "--corpus '' leaves the shipped corpus out)")
    f.add_argument("--nr-lrs", type=int, choices=range(1, 17), metavar="1..16",
                   help="list registers per CPU (default: drawn per example, 1-4)")
    f.add_argument("--findings", default="findings", help="directory for repro files (default findings/)")
    f.add_argument("--db", metavar="URL", help="Hypothesis example database shared by workers: redis://HOST:PORT/N "
                   "(the redis extra) or a directory; failures found by one worker are replayed first by the others")
    f.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: one per core); they share "
                   "findings through --db (default with N > 1: a directory under --findings)")
    f.add_argument("--keep-going", action="store_true", help="go on after a finding until the budget is spent "
                   "(one repro per signature), then print the table of distinct findings")
    f.add_argument("--target", action=_Elsewhere, why="hvfuzz fuzz runs every op of the variant's design; "
                   "--target picks a libFuzzer target of hvfuzz atheris")
    f.set_defaults(func=cmd_fuzz)
    e = sub.add_parser("exhaustive", help="check every trace up to --depth ops over a small alphabet "
                       "(breadth-first, with state hashing): a minimal counterexample, or none")
    e.add_argument("--depth", type=int, default=6, help="trace length bound K (default 6)")
    e.add_argument("--variant", help="variant to check (default: every correct variant)")
    e.add_argument("--alphabet", choices=("pkvm", "vgic", "psci"),
                   help="the op alphabet (default: the variant's component)")
    e.add_argument("--vcpus", type=int, choices=range(1, 5), metavar="1..4", help="default: the alphabet's")
    e.add_argument("--pcpus", type=int, choices=range(1, 5), metavar="1..4", help="default: the alphabet's")
    e.add_argument("--nr-lrs", type=int, choices=range(1, 17), metavar="1..16", help="default: 1")
    e.add_argument("--every-oracle", action="store_true",
                   help="go on to --depth and report the shortest counterexample of every oracle")
    e.add_argument("--findings", default="findings", help="directory for repro files (default findings/)")
    e.set_defaults(func=cmd_exhaustive)
    r = sub.add_parser("replay", help="replay a trace or repro file and print its timeline")
    r.add_argument("file")
    r.add_argument("--variant", help="replay against this variant instead of the recorded one")
    r.add_argument("--quiet", action="store_true", help="no timeline, only the verdict")
    r.set_defaults(func=cmd_replay)
    s = sub.add_parser("shrink", help="shrink a failing trace (same oracle) and write it as a repro")
    s.add_argument("file")
    s.add_argument("--findings", default="findings")
    s.set_defaults(func=cmd_shrink)
    a = sub.add_parser("atheris", help="coverage-guided fuzzing with an atheris/libFuzzer target")
    a.add_argument("--target", default="system", help="system (default), pkvm, vgic, psci or hypothesis")
    a.add_argument("--variant", help="variant to fuzz (default: the target's correct one)")
    a.add_argument("--seconds", type=float, default=60.0, help="time budget (libFuzzer -max_total_time)")
    a.add_argument("--jobs", type=int, default=1, help="worker processes (libFuzzer -fork=N)")
    a.add_argument("--corpus", action="append", metavar="DIR",
                   help="traces to seed the working corpus with, besides the shipped corpus (--corpus '' "
                        "leaves it out)")
    a.add_argument("--findings", default="findings", help="crash artifacts, working corpus and repros")
    a.add_argument("--seed", type=int, help="libFuzzer's -seed (as hvfuzz fuzz takes it; 0 and negative seeds are "
                   "mapped into 1..2^32-1, as libFuzzer reads 0 as random)")
    a.add_argument("--max-examples", type=int, help="libFuzzer's -runs: inputs to run (--seconds still caps the time)")
    a.add_argument("--nr-lrs", action=_Elsewhere, why="each libFuzzer input chooses its list-register count (byte 1 "
                   "of the input format, fuzz/decode.py); hvfuzz fuzz --nr-lrs fixes it")
    a.add_argument("--engine", action=_Elsewhere, why="hvfuzz atheris is the libFuzzer engine; --engine picks "
                   "the engine of hvfuzz fuzz (native, hypothesis, stateful)")
    a.add_argument("--keep-going", action=_Elsewhere, nargs=0, why="libFuzzer stops at its first crash; to go on, pass "
                   "libFuzzer's own flags: -- -fork=N -ignore_crashes=1")
    a.add_argument("--db", action=_Elsewhere, why="libFuzzer workers share the working corpus under --findings "
                   "(and --jobs N); --db is hvfuzz fuzz's Hypothesis example database")
    a.add_argument("libfuzzer_flags", nargs="*", metavar="-- FLAGS", help="passed to libFuzzer after --")
    a.set_defaults(func=cmd_atheris)
    ic = sub.add_parser("import-crash", help="turn a libFuzzer crash file into a shrunk JSON repro")
    ic.add_argument("file")
    ic.add_argument("--variant", help="variant the crash was found on (default: the target's)")
    ic.add_argument("--target", default="system", help="the target that wrote it (its op vocabulary)")
    ic.add_argument("--findings", default="findings")
    ic.set_defaults(func=cmd_import_crash)
    fl = sub.add_parser("findings", help="list the findings in a directory (one per signature, with counts)")
    fl.add_argument("dir", nargs="?", default="findings")
    fl.add_argument("--json", action="store_true")
    fl.set_defaults(func=cmd_findings)
    ex = sub.add_parser("export", help="export a repro: a pytest file, the text timeline, or a KVM selftest skeleton")
    ex.add_argument("file")
    ex.add_argument("--format", choices=("pytest", "timeline", "html", "c"), default="pytest",
                    help="pytest: a standalone regression test; timeline: the replay as text (--html FILE: "
                         "also as a self-contained page); html: that page on stdout; c: a KVM selftest-style "
                         "C skeleton")
    ex.add_argument("--html", metavar="FILE", help="with --format timeline: write the HTML timeline to FILE")
    ex.set_defaults(func=cmd_export)
    cf = sub.add_parser("conformance", help="check the GIC CPU-interface model and ArchGic against another "
                        "implementation: 'qemu' = QEMU's GICv3 under TCG (exit 1: an untriaged disagreement)")
    cf.add_argument("target", choices=("qemu",))
    cf.add_argument("--cases", type=int, default=1000, help="cases per source (default 1000)")
    cf.add_argument("--source", choices=("random", "model", "both"), default="both",
                    help="random: generated LR/VMCR/APR states and accesses; model: the ICH_* state the vgic "
                         "model loads at each guest entry of vgic traces and the guest's accesses up to the exit; "
                         "both (default): --cases of each")
    cf.add_argument("--seed", type=int, help="seed (default: random, printed)")
    cf.add_argument("--progress", action="store_true", help="progress on stderr")
    cf.set_defaults(func=cmd_conformance)
    v = sub.add_parser("variants", help="list the variants")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_variants)
    for cmd in sub.choices.values():  # designs as plugins (fuzz/plugins.py), on every command
        cmd.add_argument("--design", action="append", default=[], metavar="FILE|MODULE",
                         help="load a design module (its VARIANTS) besides hvfuzz's own, the hvfuzz.designs "
                              "entry points and HVFUZZ_DESIGNS (repeatable)")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_args(build_parser().parse_args(argv))


def run_args(args: argparse.Namespace) -> int:
    """Run the command ``args`` (parsed by ``build_parser``) with the exit-code contract; a
    caller running many commands (bench/malformed.py) builds the parser once."""
    try:
        from hvfuzz.fuzz.plugins import registry_for

        args.registry = registry_for(args.design)
        return int(args.func(args))
    except TraceError as e:
        print(f"hvfuzz: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("hvfuzz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os._exit(EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
