"""Designs as plugins (fuzz/plugins.py) and the shipped corpus (fuzz/shipped.py), run as a user
would: the installed ``hvfuzz`` command, from a directory outside the checkout, on the worked
example of examples/deferred_pstate/ copied there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from hvfuzz.fuzz.plugins import PluginError, load_design, registry_for, with_recorded_design
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.trace import Config, Trace, TraceError, trace_from_json
from hvfuzz.model.variants import BUILTIN, LAZY, Origin, Registry, Variant

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "deferred_pstate", "deferred_pstate.py")
HVFUZZ = shutil.which("hvfuzz", path=os.path.dirname(sys.executable)) or "hvfuzz"
OURS = ("lazy-deferred-pstate", "lazy-deferred-pstate-trap-only", "lazy-deferred-pc")


def hvfuzz(*args: str, cwd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("HVFUZZ_DESIGNS", "PYTHONPATH")}
    return subprocess.run([HVFUZZ, *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env={**environ, **(env or {})})


@pytest.fixture
def user(tmp_path):
    """A user's directory outside the checkout, with the example design copied into it."""
    home = tmp_path / "work"
    home.mkdir()
    shutil.copy(EXAMPLE, home / "deferred_pstate.py")
    return home


def _one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_design_file_lists_finds_and_replays_from_elsewhere(user, tmp_path):
    listed = hvfuzz("variants", "--design", "deferred_pstate.py", "--json", cwd=str(user))
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    for name in OURS:
        assert rows[name]["origin"] == f"file {user / 'deferred_pstate.py'}", rows[name]
    assert rows["lazy"]["origin"] == "builtin"
    text = hvfuzz("variants", "--design", "deferred_pstate.py", cwd=str(user))
    assert sum("[design: file " in line for line in text.stdout.splitlines()) == 3

    # the generator alone (no corpus) finds the bug, deterministically (an example budget)
    r = hvfuzz("fuzz", "--design", "deferred_pstate.py", "--variant", "lazy-deferred-pc", "--max-examples", "300",
               "--seed", "1", "--corpus", "", "--findings", "findings", cwd=str(user))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "VIOLATION of exit-pc" in r.stdout and "found by native" in r.stdout, r.stdout
    (repro,) = (user / "findings").glob("lazy-deferred-pc-exit-pc-*.json")
    d = json.loads(repro.read_text())
    assert d["design"] == {"module": d["design"]["module"], "file": str(user / "deferred_pstate.py")}
    assert {"schema", "config", "ops", "verdict", "meta"} <= set(d)  # the repro contract's keys stay

    # replay from another directory, with no --design: the repro names its design
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = hvfuzz("replay", str(repro), cwd=str(elsewhere))
    assert again.returncode == 1 and "recorded verdict: fail exit-pc; reproduced" in again.stdout, again.stdout
    assert hvfuzz("shrink", str(repro), "--findings", "s", cwd=str(elsewhere)).returncode == 1
    exported = hvfuzz("export", str(repro), "--format", "pytest", cwd=str(elsewhere))
    assert exported.returncode == 0, exported.stderr
    test_file = elsewhere / "test_exported.py"
    test_file.write_text(exported.stdout)
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                         capture_output=True, text=True, cwd=str(elsewhere), timeout=300)
    assert ran.returncode == 0, ran.stdout[-2000:]

    # without the design file the repro is a one-line error, not a traceback
    (user / "deferred_pstate.py").rename(user / "moved.txt")
    _one_line_error(hvfuzz("replay", str(repro), cwd=str(elsewhere)), "unknown variant 'lazy-deferred-pc'")


def test_the_example_finds_its_other_bug_and_passes_its_correct_design(user):
    env = {"HVFUZZ_DESIGNS": str(user / "deferred_pstate.py")}  # the environment instead of --design
    bug = hvfuzz("fuzz", "--variant", "lazy-deferred-pstate-trap-only", "--max-examples", "300", "--seed", "1",
                 "--corpus", "", "--findings", "f", cwd=str(user), env=env)
    assert bug.returncode == 1 and "VIOLATION of run-loop-pstate" in bug.stdout, bug.stdout + bug.stderr
    ok = hvfuzz("fuzz", "--variant", "lazy-deferred-pstate", "--max-examples", "150", "--seed", "1",
                "--findings", "f", cwd=str(user), env=env)
    assert ok.returncode == 0 and "lazy-deferred-pstate: no property violated" in ok.stdout, ok.stdout + ok.stderr
    ex = hvfuzz("exhaustive", "--variant", "lazy-deferred-pstate", "--depth", "3", "--findings", "f",
                cwd=str(user), env=env)
    assert ex.returncode == 0 and "no violation up to depth 3" in ex.stdout, ex.stdout + ex.stderr


def test_the_example_design_deviates_where_it_says(user):
    """The correct design and the seed differ only in where PSTATE is copied: a trace that reads
    the host's PSTATE after an IRQ exit fails on the trap-only bug and passes on the design."""
    reg = load_design(str(user / "deferred_pstate.py"), BUILTIN)
    ops = [{"op": "KvmRun", "vcpu": 0, "pcpu": 0}, {"op": "GuestEnter", "vcpu": 0},
           {"op": "GuestWriteReg", "vcpu": 0, "reg": "pstate", "value": 0},
           {"op": "GuestWriteReg", "vcpu": 0, "reg": "pc", "value": 0x1000},
           {"op": "GuestExit", "vcpu": 0, "kind": "irq"}, {"op": "HandleExit", "vcpu": 0},
           {"op": "GuestEnter", "vcpu": 0}]
    verdicts = {}
    for name in ("lazy", *OURS):
        t = trace_from_json({"schema": 1, "config": {"variant": name, "vcpus": 1, "pcpus": 1}, "ops": ops}, reg)
        verdicts[name] = run(t)
    assert verdicts["lazy"].ok and verdicts["lazy-deferred-pstate"].ok, verdicts
    assert verdicts["lazy-deferred-pstate-trap-only"].oracle == "run-loop-pstate", verdicts
    assert verdicts["lazy-deferred-pc"].oracle == "exit-pc", verdicts


def test_entry_point_design(user, tmp_path):
    """An installed design: a distribution on sys.path whose entry_points.txt registers the module in
    the hvfuzz.designs group (what ``pip install -e examples/deferred_pstate`` writes)."""
    site = tmp_path / "site"
    info = site / "hvfuzz_deferred_pstate-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hvfuzz-deferred-pstate\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[hvfuzz.designs]\ndeferred-pstate = deferred_pstate\n")
    shutil.copy(EXAMPLE, site / "deferred_pstate.py")
    env = {"PYTHONPATH": str(site)}
    listed = hvfuzz("variants", "--json", cwd=str(tmp_path), env=env)
    assert listed.returncode == 0, listed.stderr
    origin = {r["name"]: r["origin"] for r in json.loads(listed.stdout)}
    assert origin["lazy-deferred-pc"] == "entry point deferred-pstate (deferred_pstate)", origin
    r = hvfuzz("fuzz", "--variant", "lazy-deferred-pc", "--max-examples", "300", "--seed", "1", "--findings",
               "findings", "--jobs", "1", cwd=str(user), env=env)
    assert r.returncode == 1 and "VIOLATION of exit-pc" in r.stdout, r.stdout + r.stderr
    (repro,) = (user / "findings").glob("*.json")
    assert json.loads(repro.read_text())["design"]["entry_point"] == "deferred-pstate"
    r = hvfuzz("fuzz", "--variant", "lazy-deferred-pc", "--max-examples", "300", "--seed", "1", "--findings",
               "findings", "--jobs", "1", cwd=str(user), env=env)  # again: counted, the installed design
    d = json.loads(repro.read_text())
    assert r.returncode == 1 and d["meta"]["count"] == 2 and d["design"]["entry_point"] == "deferred-pstate", d
    listed = hvfuzz("findings", str(user / "findings"), "--json", cwd=str(tmp_path), env=env)
    assert [row["variant"] for row in json.loads(listed.stdout)] == ["lazy-deferred-pc"], listed.stderr
    assert hvfuzz("replay", str(repro), "--quiet", cwd=str(tmp_path), env=env).returncode == 1
    # the same module named again with --design (by name or by file) is the same design, not a redefinition
    assert hvfuzz("variants", "--design", "deferred_pstate", cwd=str(tmp_path), env=env).returncode == 0
    assert hvfuzz("variants", "--design", str(site / "deferred_pstate.py"), cwd=str(tmp_path), env=env).returncode == 0
    clash = hvfuzz("variants", "--design", str(user / "deferred_pstate.py"), cwd=str(tmp_path), env=env)
    _one_line_error(clash, "'lazy-deferred-pstate' is already defined (entry point deferred-pstate")
    # a broken installed design is a one-line error on every command
    (site / "deferred_pstate.py").write_text("VARIANTS = [1]\n")
    _one_line_error(hvfuzz("variants", cwd=str(tmp_path), env=env), "entry point deferred-pstate", "not a Variant")


@pytest.mark.parametrize("body, words", [
    ("def broken(:\n", ("bad.py", "SyntaxError")),
    ("import no_such_module_hvfuzz\n", ("bad.py", "ModuleNotFoundError")),
    ("X = 1\n", ("defines no VARIANTS",)),
    ("VARIANTS = 3\n", ("VARIANTS is not a list",)),
    ("VARIANTS = ['lazy']\n", ("not a Variant",)),
    ("from hvfuzz.model.variants import LAZY, Variant\n"
     "VARIANTS = [Variant('lazy', 'correct', 'pkvm', 'mine', 'me', LAZY)]\n", ("'lazy' is already defined", "builtin")),
    ("raise RuntimeError('design refuses to load')\n", ("RuntimeError: design refuses to load",)),
])
def test_bad_design_is_a_one_line_error(tmp_path, body, words):
    (tmp_path / "bad.py").write_text(body)
    _one_line_error(hvfuzz("variants", "--design", "bad.py", cwd=str(tmp_path)), *words)
    _one_line_error(hvfuzz("variants", cwd=str(tmp_path), env={"HVFUZZ_DESIGNS": str(tmp_path / "bad.py")}), *words)


def test_every_command_takes_design(tmp_path):
    (tmp_path / "bad.py").write_text("VARIANTS = 3\n")
    for cmd in (["variants"], ["fuzz", "--max-examples", "1"], ["replay", "x.json"], ["exhaustive"],
                ["export", "x.json"], ["shrink", "x.json"], ["import-crash", "x"], ["atheris"], ["findings"]):
        _one_line_error(hvfuzz(*cmd, "--design", "bad.py", cwd=str(tmp_path)), "VARIANTS is not a list")


def test_missing_or_odd_design_specs(tmp_path):
    _one_line_error(hvfuzz("variants", "--design", "nope.py", cwd=str(tmp_path)), "no such file")
    _one_line_error(hvfuzz("variants", "--design", "no_such_module_hvfuzz", cwd=str(tmp_path)),
                    "ModuleNotFoundError")
    (tmp_path / "d.txt").write_text("VARIANTS = []\n")
    _one_line_error(hvfuzz("variants", "--design", str(tmp_path / "d.txt"), cwd=str(tmp_path)), "not a Python file")


def test_the_registry_is_a_value():
    """Loading a design makes a new registry; hvfuzz's own is never changed (no global state)."""
    before = dict(BUILTIN)
    reg = load_design(EXAMPLE, BUILTIN)
    assert set(reg) == set(before) | set(OURS) and dict(BUILTIN) == before
    assert load_design(EXAMPLE, reg) is reg  # the same design twice: once
    assert reg.origin("lazy-deferred-pc").kind == "file" and reg.origin("lazy").kind == "builtin"
    assert set(OURS) <= set(registry_for([EXAMPLE], env={}))
    assert set(OURS) <= set(registry_for([], env={"HVFUZZ_DESIGNS": EXAMPLE}))
    mine = Variant("mine", "correct", "pkvm", "d", "s", LAZY)
    with pytest.raises(ValueError, match="already defined"):
        Registry.of([mine]).with_design([mine], Origin("module", "x"))
    # a config knows its registry; the JSON form does not carry it
    c = Config(variant="lazy-deferred-pc", vcpus=1, pcpus=1, registry=reg)
    assert c == Config(variant="lazy-deferred-pc", vcpus=1, pcpus=1) and "registry" not in repr(c)
    with pytest.raises(KeyError):
        run(Trace(Config(variant="lazy-deferred-pc")))  # not in the builtin registry


def test_a_recorded_module_is_never_imported_on_a_repros_say_so(tmp_path):
    d = {"schema": 1, "config": {"variant": "from-elsewhere"}, "ops": [], "design": {"module": "antigravity"}}
    assert with_recorded_design(d, BUILTIN) is BUILTIN
    assert "antigravity" not in sys.modules
    with pytest.raises(TraceError, match="unknown variant"):
        trace_from_json(d, with_recorded_design(d, BUILTIN))
    for junk in (None, [], {"config": 3}, {"config": {"variant": []}, "design": {"file": 7}},
                 {"config": {"variant": "x"}, "design": {"file": str(tmp_path / "none.py")}}):
        assert with_recorded_design(junk, BUILTIN) is BUILTIN
    with pytest.raises(PluginError):
        load_design(str(tmp_path / "none.py"), BUILTIN)


# --- the shipped corpus ------------------------------------------------------------------------------
def test_shipped_corpus_from_anywhere(tmp_path):
    """From a directory with no corpus/, the default corpus is the one shipped with hvfuzz: its
    regression replays the catalog bug at once; --corpus DIR adds to it; --corpus '' turns it off."""
    r = hvfuzz("fuzz", "--variant", "lazy-v3", "--max-examples", "20", "--seed", "1", "--findings", "f",
               cwd=str(tmp_path))
    assert r.returncode == 1 and "found by corpus replay" in r.stdout, r.stdout + r.stderr
    n = int(r.stdout.split("replaying ")[1].split()[0])
    assert n >= 40 and "known: same variant and oracle as " in r.stdout, r.stdout
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(os.path.join(ROOT, "corpus", "seeds", os.listdir(os.path.join(ROOT, "corpus", "seeds"))[0]), mine)
    more = hvfuzz("fuzz", "--variant", "lazy", "--max-examples", "1", "--seed", "1", "--corpus", str(mine),
                  "--findings", "f", cwd=str(tmp_path))
    assert more.returncode == 0 and f"replaying {n + 1} corpus trace(s)" in more.stdout, more.stdout
    off = hvfuzz("fuzz", "--variant", "lazy-v3", "--max-examples", "1", "--seed", "1", "--corpus", "",
                 "--findings", "f", cwd=str(tmp_path))
    assert "replaying" not in off.stdout and "corpus replay" not in off.stdout, off.stdout
    only = hvfuzz("fuzz", "--variant", "lazy", "--max-examples", "1", "--seed", "1", "--corpus", "",
                  "--corpus", str(mine), "--findings", "f", cwd=str(tmp_path))
    assert "replaying 1 corpus trace(s)" in only.stdout, only.stdout


def test_a_designs_own_judge_reaches_the_verdict():
    """``Variant.judges``: a design's judge runs after hvfuzz's chain and its verdict names it, in a
    replay and in a fuzz session (an oracle name hvfuzz does not know)."""
    import attrs

    from hvfuzz.fuzz.session import fuzz_variant
    from hvfuzz.model.vocab.judging import Failure
    from hvfuzz.oracles.registry import Judge

    @attrs.define
    class NoSecondEntry:  # the design's claim, for the test: a vcpu never enters the guest twice
        entries: dict[int, int] = attrs.Factory(dict)

        def after(self, step):
            if step.applied and step.op.name == "GuestEnter":
                n = self.entries[step.op.vcpu] = self.entries.get(step.op.vcpu, 0) + 1
                if n > 1:
                    return Failure("design-one-entry", step.op.vcpu, "entered twice")
            return None

        def state_key(self, intids):
            return tuple(sorted(self.entries.items()))

    judge = Judge("one_entry", frozenset({"pkvm"}), lambda vcpus, pri_bits, gic_version: NoSecondEntry())
    reg = Registry.of([Variant("lazy-judged", "correct", "pkvm", "d", "s", LAZY, judges=(judge,))],
                      Origin("module", "test"))
    reg = BUILTIN.with_design(reg.values(), Origin("module", "test"))
    once = [{"op": "KvmRun", "vcpu": 0, "pcpu": 0}, {"op": "GuestEnter", "vcpu": 0},
            {"op": "GuestExit", "vcpu": 0, "kind": "irq"}, {"op": "HandleExit", "vcpu": 0}]
    t = trace_from_json({"schema": 1, "config": {"variant": "lazy-judged"}, "ops": once}, reg)
    assert run(t).ok
    twice = trace_from_json({"schema": 1, "config": {"variant": "lazy-judged"},
                             "ops": once + [{"op": "GuestEnter", "vcpu": 0}]}, reg)
    v = run(twice)
    assert not v.ok and v.oracle == "design-one-entry" and v.step == 4, v
    assert run(attrs.evolve(twice, config=attrs.evolve(twice.config, variant="lazy"))).ok  # not hvfuzz's claim
    res = fuzz_variant("lazy-judged", seed=1, max_examples=50, registry=reg, search_budget=0)
    assert res.finding is not None and res.finding.verdict.oracle == "design-one-entry", res


def test_import_crash_on_a_design_variant(user):
    """A libFuzzer crash input (fuzz/decode.py bytes) of a design's variant becomes a repro."""
    from hvfuzz.fuzz.decode import encode

    reg = load_design(str(user / "deferred_pstate.py"), BUILTIN)
    ops = [{"op": "KvmRun", "vcpu": 0, "pcpu": 0}, {"op": "GuestEnter", "vcpu": 0},
           {"op": "GuestWriteReg", "vcpu": 0, "reg": "pc", "value": 0x1000},
           {"op": "GuestExit", "vcpu": 0, "kind": "irq"}]
    t = trace_from_json({"schema": 1, "config": {"variant": "lazy-deferred-pc", "vcpus": 1, "pcpus": 1}, "ops": ops},
                        reg)
    assert run(t).oracle == "exit-pc"
    (user / "crash-1").write_bytes(encode(t, "pkvm"))
    r = hvfuzz("import-crash", "crash-1", "--design", "deferred_pstate.py", "--variant", "lazy-deferred-pc",
               "--target", "pkvm", "--findings", "f", cwd=str(user))
    assert r.returncode == 1 and "VIOLATION of exit-pc on lazy-deferred-pc" in r.stdout, r.stdout + r.stderr
    _one_line_error(hvfuzz("import-crash", "crash-1", "--variant", "lazy-deferred-pc", "--target", "pkvm",
                           cwd=str(user)), "unknown variant")
