"""The coverage-guided side: the byte format (fuzz/decode.py), the atheris targets run the way
libFuzzer users run them, crash import, and the OSS-Fuzz/ClusterFuzzLite build steps that need no
docker.  Runs are bounded by -runs (executions), never by time."""

import glob
import os
import random
import subprocess
import sys
import zipfile

import attrs
import pytest

from hvfuzz.fuzz.decode import MAX_OPS, OPS_BY_COMPONENT, decode, encode, execute
from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.session import load_corpus
from hvfuzz.fuzz.targets import TARGETS, target_path
from hvfuzz.fuzz.trace import Config, Trace, trace_from_json, trace_to_json
from hvfuzz.model.vocab import ops as O

atheris = pytest.importorskip("atheris", reason="atheris is not installed (pip install 'hvfuzz[atheris]')")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = load_corpus([os.path.join(ROOT, "corpus")])


def _hvfuzz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hvfuzz.fuzz", *args], capture_output=True, text=True,
                          cwd=cwd, check=False)


# --- the byte format ------------------------------------------------------------------------------------
def test_any_bytes_decode_to_a_valid_trace():
    rng = random.Random(3)
    for _ in range(600):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
        for component in OPS_BY_COMPONENT:
            t = decode(data, "lazy", component)
            assert trace_from_json(trace_to_json(t)) == t  # validates every op against the config
            # decoding stops before a step once MAX_OPS ops are there (a macro move adds at most a few dozen)
            assert len(t.ops) < MAX_OPS + 64
            assert t == decode(data, "lazy", component)  # deterministic


def test_blind_bytes_are_ops_that_apply():
    """The decoder picks among the moves enabled in the current state: most ops of random bytes
    apply (the op-by-op literal encoding of the same random bytes, the old format, mostly does
    not)."""
    from hvfuzz.fuzz.runner import Execution

    def applied(t):
        ex = Execution(t.config)
        n = 0
        for op in t.ops:
            ex.step(op)
            n += bool(ex.sut.last_observations[0][3])
        return n

    rng = random.Random(5)
    moves = literals = total_moves = total_literals = 0
    for _ in range(150):
        body = bytes(rng.randrange(255) for _ in range(8 * rng.randrange(4, 30)))
        t = decode(bytes(8) + body, "vgic-lr-overflow")
        moves += applied(t)
        total_moves += len(t.ops)
        # the same bytes read as literal ops (0xff before each op's 7 bytes)
        lit = decode(bytes(8) + b"".join(b"\xff" + body[i + 1:i + 8] for i in range(0, len(body), 8)),
                     "vgic-lr-overflow")
        literals += applied(lit)
        total_literals += len(lit.ops)
    assert total_moves > 1000
    assert moves / total_moves > 0.9, moves / total_moves
    assert literals / total_literals < 0.6, literals / total_literals


def test_encode_is_the_inverse_of_decode_for_corpus_traces():
    assert len(CORPUS) > 20
    for t in CORPUS:
        assert decode(encode(t), t.config.variant) == t
        for component in ("pkvm", "vgic", "psci"):
            try:
                data = encode(t, component)
            except ValueError:
                assert any(type(op) not in OPS_BY_COMPONENT[component] for op in t.ops)
                continue
            assert decode(data, t.config.variant, component) == t


def test_encode_is_the_inverse_on_every_variant():
    """Decoding runs the trace; literal steps do not depend on the state, so a corpus trace decodes
    to itself on a bug variant too, through and past its violation."""
    for variant in ("vgic-eoicount-from-head", "psci-run-stopped-enters", "lazy-pc-only"):
        for t in CORPUS:
            t = attrs.evolve(t, config=attrs.evolve(t.config, variant=variant))
            assert decode(encode(t), variant) == t


def test_execute_is_decode_then_run():
    rng = random.Random(7)
    for _ in range(150):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 200)))
        t, v = execute(data, "vgic-eoicount-from-head")
        full = decode(data, "vgic-eoicount-from-head")
        assert full.ops[:len(t.ops)] == t.ops
        assert run(t) == v
        if not v.ok:
            assert v.step == len(t.ops) - 1 and run(full).oracle == v.oracle


def test_raw_values_round_trip():
    t = Trace(Config(vcpus=2, pcpus=1), (O.UserSetReg(1, "pc", 0x1234_5678_9ABC_DEF0), O.GuestEoi(0, 1, 1023),
                                        O.HostInjectSError(1, 0xABCDEF)))
    assert decode(encode(t)) == t


def test_a_byte_change_leaves_the_ops_before_it_alone():
    t = next(t for t in CORPUS if len(t.ops) > 15)
    data = encode(t)
    rng = random.Random(0)
    for _ in range(200):
        i = rng.randrange(2, len(data))
        mutated = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
        n_before = len(decode(data[:i]).ops)
        assert decode(mutated).ops[:n_before] == t.ops[:n_before]


def test_a_move_step_reads_its_own_bytes_only():
    """Steps have a fixed size and a step's choices read its own 8 bytes (then a PRNG seeded by
    them): the input cut at any step boundary decodes to a prefix of the whole, and a byte change
    in one step leaves every earlier step's ops alone."""
    rng = random.Random(1)
    changed = 0
    for _ in range(100):
        data = bytes(8) + bytes(rng.randrange(255) for _ in range(8 * 12))
        whole = decode(data, "vgic-lr-overflow").ops
        for b in range(8, len(data), 8):
            part = decode(data[:b], "vgic-lr-overflow").ops
            assert whole[:len(part)] == part
        i = rng.randrange(8, len(data))
        mutated = data[:i] + bytes([(data[i] + 1 + rng.randrange(254)) % 255]) + data[i + 1:]
        before = decode(data[:8 + (i - 8) // 8 * 8], "vgic-lr-overflow").ops
        after = decode(mutated, "vgic-lr-overflow").ops
        assert after[:len(before)] == before
        changed += after != whole
    assert changed > 15  # the changes do change traces (a move reads few of its 7 choice bytes)


# --- targets, run as libFuzzer binaries --------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_like_a_libfuzzer_binary(target, tmp_path):
    path = target_path(target)
    assert os.access(path, os.X_OK) and open(path).readline().startswith("#!")  # -fork/-jobs re-exec it
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "one").write_bytes(encode(CORPUS[0]) if target != "hypothesis" else b"\x00" * 16)
    work = tmp_path / "corpus"
    work.mkdir()
    p = subprocess.run([sys.executable, path, "-runs=300", "-seed=1", f"-artifact_prefix={tmp_path}/", str(work),
                        str(seeds)], capture_output=True, text=True, check=False,
                       env=dict(os.environ, HVFUZZ_FINDINGS=str(tmp_path)))
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Done 300 runs" in p.stderr
    assert not glob.glob(str(tmp_path / "crash-*"))


def test_a_violation_is_a_crash_naming_the_oracle(tmp_path):
    bad = Trace(Config(variant="psci-run-stopped-enters", vcpus=1, pcpus=1),
                (O.UserSetMpState(0, "STOPPED"), O.KvmRun(0, 0), O.GuestEnter(0)))
    assert run(bad).oracle == "psci-P1-no-progress-while-off"
    crash_input = tmp_path / "input"
    crash_input.write_bytes(encode(bad, "psci"))
    # as libFuzzer reproduces a testcase: the target binary with the file as argument
    r = subprocess.run([sys.executable, target_path("psci"), "--variant=psci-run-stopped-enters", str(crash_input)],
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0
    assert "psci-P1-no-progress-while-off" in r.stdout + r.stderr
    # and the correct model runs the same input clean
    ok = subprocess.run([sys.executable, target_path("psci"), str(crash_input)], capture_output=True, text=True,
                        check=False)
    assert ok.returncode == 0, ok.stderr[-1000:]


def test_unknown_variant_for_a_target_is_one_line_exit_2():
    r = subprocess.run([sys.executable, target_path("system"), "--variant=nope", "-runs=1"], capture_output=True,
                       text=True, check=False)
    ours = [line for line in r.stderr.splitlines() if not line.startswith("INFO: Instrumenting")]
    assert r.returncode == 2 and len(ours) == 1 and "nope" in ours[0] and "Traceback" not in r.stderr


# --- what the byte targets give libFuzzer besides code coverage (fuzz/targets/driver.py) ----------------------
def _fake_counters():
    bumps: list[int] = []
    reserved = iter(range(10**6))
    return (lambda: next(reserved)), bumps.append, bumps


def test_feedback_bumps_each_situation_by_its_hit_count_class_and_each_succession_once():
    from collections import Counter

    from hvfuzz.fuzz.engines import Trail
    from hvfuzz.fuzz.targets.driver import Feedback

    reserve, bump, bumps = _fake_counters()
    fb = Feedback(reserve, bump, size=64)
    trail = Trail()
    trail.update(["a"] * 5 + ["b"])
    fb.report(trail)
    got = Counter(bumps)
    # "a" 5 times: the class 4-7, bumped 4 times (plus any succession hashed onto the same counter)
    assert got[fb.slot("a")] >= 4 and got[fb.slot("b")] >= 1
    assert len(bumps) == 4 + 1 + len({("", "a"), ("a", "a"), ("a", "b")})
    assert all(0 <= k < 64 for k in bumps)


def test_feedback_of_a_run_tells_inputs_apart():
    from hvfuzz.fuzz.targets.driver import Feedback, one_input
    from hvfuzz.model.variants import BUILTIN

    reserve, bump, bumps = _fake_counters()
    fb = Feedback(reserve, bump)
    target = one_input("lazy", "system", BUILTIN, fb)
    seen = []
    for t in CORPUS[:6]:
        bumps.clear()
        target(encode(t))
        seen.append(frozenset(bumps))
    assert all(seen) and len(set(seen)) > 1


def test_step_mutator_makes_fresh_inputs_then_step_mutants():
    from hvfuzz.fuzz.decode import HEADER, STEP
    from hvfuzz.fuzz.targets.driver import step_mutator
    from hvfuzz.model.variants import BUILTIN

    calls = []

    def byte_mutate(data, n):
        calls.append(len(data))
        return data[:n]

    m = step_mutator("vgic-lr-overflow", BUILTIN, byte_mutate)
    fresh = m(b"", 512, 1)
    assert len(fresh) >= HEADER + STEP and (len(fresh) - HEADER) % STEP == 0
    assert decode(fresh, "vgic-lr-overflow").ops
    outs = [m(fresh, 40, seed) for seed in range(200)]
    assert all(0 < len(o) <= 40 for o in outs)
    assert len(set(outs)) > 50
    assert 20 <= len(calls) <= 70  # about a fifth left to libFuzzer's own mutators


def test_crossover_joins_two_inputs_at_step_boundaries():
    from hvfuzz.fuzz.decode import HEADER, STEP
    from hvfuzz.fuzz.targets.driver import crossover

    a, b = bytes(range(8 + 8 * 5)), bytes(range(100, 100 + 8 + 8 * 4))
    for seed in range(50):
        out = crossover(a, b, 512, seed)
        i = next(k for k in range(len(out) + 1) if k == len(out) or k >= len(a) or out[k] != a[k])
        assert i >= HEADER and (i - HEADER) % STEP == 0
        assert b.endswith(out[i:]) and (len(b) - len(out[i:]) - HEADER) % STEP == 0
    assert len(crossover(a, b, 20, 3)) <= 20


def test_fuzzer_modules_are_hvfuzz_fuzz_only():
    from hvfuzz.fuzz.targets import fuzzer_modules

    mods = fuzzer_modules()
    assert {"hvfuzz.fuzz", "hvfuzz.fuzz.decode", "hvfuzz.fuzz.gen.moves", "hvfuzz.fuzz.targets.driver"} <= set(mods)
    assert all(m == "hvfuzz.fuzz" or m.startswith("hvfuzz.fuzz.") for m in mods)


@pytest.mark.parametrize("mode", ["full", "plain", "semantic"])
def test_what_each_mode_instruments(mode):
    r = subprocess.run([sys.executable, target_path("system"), "-runs=1"], capture_output=True, text=True,
                       check=False, env=dict(os.environ, HVFUZZ_ATHERIS=mode))
    assert r.returncode == 0, r.stderr[-1000:]
    instrumented = {line.split()[-1] for line in r.stderr.splitlines() if line.startswith("INFO: Instrumenting")}
    model = any(m.startswith("hvfuzz.model") for m in instrumented)
    oracles = any(m.startswith("hvfuzz.oracles") for m in instrumented)
    fuzzer = any(m.startswith("hvfuzz.fuzz") for m in instrumented)
    assert (model, oracles, fuzzer) == {"full": (True, True, False), "plain": (True, True, True),
                                        "semantic": (False, False, False)}[mode]


def test_a_bad_hvfuzz_atheris_mode_is_one_line_exit_2():
    r = subprocess.run([sys.executable, target_path("system"), "-runs=1"], capture_output=True, text=True,
                       check=False, env=dict(os.environ, HVFUZZ_ATHERIS="nope"))
    ours = [line for line in r.stderr.splitlines() if not line.startswith("INFO: Instrumenting")]
    assert r.returncode == 2 and len(ours) == 1 and "nope" in ours[0], r.stderr[-500:]


# --- import-crash -----------------------------------------------------------------------------------
def test_import_crash_bad_input(tmp_path):
    for path in (tmp_path / "missing", tmp_path / "empty"):
        if path.name == "empty":
            path.write_bytes(b"")
        r = _hvfuzz("import-crash", str(path), "--findings", str(tmp_path))
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr


def test_import_crash_writes_a_shrunk_repro_that_replays(tmp_path):
    on_variant = (attrs.evolve(t, config=attrs.evolve(t.config, variant="psci-init-power-off-ignored"))
                  for t in CORPUS if any(isinstance(op, O.UserVcpuInit) for op in t.ops))
    t = next(t for t in on_variant if not run(t).ok)  # a corpus trace that shows the bug
    v = run(t)
    assert not v.ok
    crash = tmp_path / "crash-abc"
    crash.write_bytes(encode(t))
    r = _hvfuzz("import-crash", str(crash), "--variant", "psci-init-power-off-ignored", "--findings", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    repro = glob.glob(str(tmp_path / "psci-init-power-off-ignored-*.json"))
    assert len(repro) == 1
    small, recorded = load_repro(repro[0])
    assert len(small.ops) < len(t.ops) and recorded["oracle"] == v.oracle
    again = _hvfuzz("replay", repro[0], "--quiet")
    assert again.returncode == 1 and v.oracle in again.stdout


def test_hvfuzz_atheris_finds_a_bug_variant_and_leaves_a_repro(tmp_path):
    r = _hvfuzz("atheris", "--target", "psci", "--variant", "psci-run-stopped-enters", "--seconds", "60",
                "--findings", str(tmp_path), "--", "-runs=20000", "-seed=1", cwd=ROOT)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    repros = glob.glob(str(tmp_path / "psci-run-stopped-enters-psci-*.json"))
    assert repros
    again = _hvfuzz("replay", repros[0], "--quiet")
    assert again.returncode == 1


def test_hvfuzz_atheris_on_the_correct_model_exits_0(tmp_path):
    # the flags hvfuzz fuzz takes: --seed and --max-examples are libFuzzer's -seed and -runs
    r = _hvfuzz("atheris", "--seconds", "60", "--findings", str(tmp_path), "--seed", "2", "--max-examples", "3000",
                cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "no property violated" in r.stdout
    assert os.listdir(tmp_path / "atheris" / "system-lazy" / "corpus")  # seeded from corpus/


# --- OSS-Fuzz / ClusterFuzzLite build steps (all but docker and compile_python_fuzzer) --------------------
def test_build_files_and_seed_corpora(tmp_path):
    build = open(os.path.join(ROOT, ".clusterfuzzlite", "build.sh")).read()
    assert "compile_python_fuzzer" in build
    for name in ("project.yaml", "Dockerfile"):
        assert os.path.exists(os.path.join(ROOT, ".clusterfuzzlite", name))
    options = open(os.path.join(ROOT, "fuzz", "targets", "hvfuzz.options")).read()
    assert "[libfuzzer]" in options
    for target in ("system", "pkvm", "vgic", "psci"):
        assert f"fuzz/targets/fuzz_{target}.py" in build
        out = tmp_path / f"fuzz_{target}_seed_corpus.zip"
        p = subprocess.run([sys.executable, os.path.join(ROOT, "fuzz", "targets", "make_seeds.py"), target, str(out)],
                           capture_output=True, text=True, check=False)
        assert p.returncode == 0, p.stderr
        with zipfile.ZipFile(out) as z:
            names = z.namelist()
            assert names
            for n in names:  # each seed decodes back to a corpus trace
                assert decode(z.read(n), "lazy", target).ops in [t.ops for t in CORPUS]
    # the committed seed directories (corpus/atheris/TARGET) hold the corpus traces, encoded
    for target in ("system", "pkvm", "vgic", "psci"):
        files = glob.glob(os.path.join(ROOT, "corpus", "atheris", target, "*"))
        assert files
        for f in files:
            assert decode(open(f, "rb").read(), "lazy", target).ops in [t.ops for t in CORPUS]
    # each target's generated dictionary parses as libFuzzer's format: the target accepts it
    assert 'make_seeds.py --dict "${name#fuzz_}"' in build
    for target in ("system", "psci"):
        dict_file = tmp_path / f"fuzz_{target}.dict"
        subprocess.run([sys.executable, os.path.join(ROOT, "fuzz", "targets", "make_seeds.py"), "--dict", target,
                        str(dict_file)], check=True, capture_output=True)
        assert "build.sh" and 'make_seeds.py --dict "${name#fuzz_}"' in build
        p = subprocess.run([sys.executable, target_path(target), f"-dict={dict_file}", "-runs=50", str(tmp_path)],
                           capture_output=True, text=True, check=False)
        assert p.returncode == 0 and "ParseDictionaryFile" not in p.stderr, p.stderr[-1000:]
