"""The CLI contract: exit codes 0/1/2, repro keys, one-line errors without tracebacks."""

import json
import subprocess
import sys

import pytest


def hvfuzz(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hvfuzz.fuzz", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_variants_json_contract():
    r = hvfuzz("variants", "--json")
    assert r.returncode == 0
    rows = json.loads(r.stdout)
    # the contract's keys, plus "origin" (where a variant comes from: builtin, or a plugin design)
    assert all(set(row) == {"name", "kind", "component", "description", "source", "origin"} for row in rows)
    assert {row["origin"] for row in rows} == {"builtin"}
    kinds = {row["name"]: row["kind"] for row in rows}
    assert kinds["reference"] == "reference" and kinds["eager"] == "correct"
    assert kinds["lazy"] == "correct" and kinds["lazy-v3"] == "seed"
    assert sum(1 for row in rows if row["kind"] == "bug" and row["component"] == "pkvm") >= 8


def test_variants_text_one_per_line():
    r = hvfuzz("variants")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == len(json.loads(hvfuzz("variants", "--json").stdout))


@pytest.mark.parametrize("content", ['{"schema": 1, "config": {', "{}", '{"schema": 7, "config": {}, "ops": []}',
                                     "\x00\xff", '{"schema": 1, "config": {}, "ops": [{"op": "Nope", "vcpu": 0}]}'])
def test_replay_bad_input_exits_2_with_one_line(tmp_path, content):
    f = tmp_path / "bad.json"
    f.write_bytes(content.encode("latin-1"))
    r = hvfuzz("replay", str(f))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("hvfuzz: error:")


def test_replay_missing_file_and_unknown_variant_exit_2(tmp_path):
    assert hvfuzz("replay", str(tmp_path / "none.json")).returncode == 2
    r = hvfuzz("fuzz", "--variant", "no-such-variant", "--max-examples", "1")
    assert r.returncode == 2 and "unknown variant" in r.stderr and "Traceback" not in r.stderr


def test_fuzz_finds_writes_repro_and_replay_names_the_same_oracle(tmp_path):
    r = hvfuzz("fuzz", "--variant", "lazy-pc-only", "--max-examples", "2000", "--seed", "1",
               "--findings", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    repro = json.loads(files[0].read_text())
    assert {"schema", "config", "ops", "verdict"} <= set(repro)
    assert repro["verdict"]["status"] == "fail" and len(repro["ops"]) <= 12
    assert f"hvfuzz replay {files[0]}" in r.stdout
    rp = hvfuzz("replay", str(files[0]))
    assert rp.returncode == 1
    assert f"oracle {repro['verdict']['oracle']} violated" in rp.stdout and "reproduced" in rp.stdout
    # the same trace against the correct design passes
    assert hvfuzz("replay", str(files[0]), "--variant", "lazy", "--quiet").returncode == 0


def test_fuzz_correct_variant_exits_0(tmp_path):
    r = hvfuzz("fuzz", "--variant", "lazy", "--max-examples", "200", "--seed", "3", "--findings", str(tmp_path))
    assert r.returncode == 0, r.stdout
    assert "no property violated" in r.stdout and not list(tmp_path.glob("*.json"))


def test_fuzz_without_variant_covers_every_correct_variant(tmp_path):
    r = hvfuzz("fuzz", "--max-examples", "50", "--seed", "3", "--findings", str(tmp_path))
    assert r.returncode == 0
    assert "eager: no property violated" in r.stdout and "lazy: no property violated" in r.stdout


def test_shrink_command(tmp_path):
    from hvfuzz.fuzz.trace import Config, Trace, trace_to_json
    from hvfuzz.model.vocab import ops as O

    ops = [O.UserGetReg(0, "x0"), O.KvmRun(0, 0), O.ExitToUser(0), O.KvmRun(0, 0), O.GuestEnter(0)]
    f = tmp_path / "t.json"
    f.write_text(json.dumps(trace_to_json(Trace(Config(variant="lazy-no-dirty-at-first-run"), tuple(ops)))))
    r = hvfuzz("shrink", str(f), "--findings", str(tmp_path / "out"))
    assert r.returncode == 1 and "5 -> 2 ops" in r.stdout


def test_fuzz_replays_the_corpus_first(tmp_path):
    """The seed corpus holds the EOImode-0 overflow scenario: replayed on the variant whose
    EOIcount walk starts at the ap_list head, it fails before any generation."""
    import os

    root = os.path.join(os.path.dirname(__file__), "..")
    r = hvfuzz("fuzz", "--variant", "vgic-eoicount-from-head", "--max-examples", "1", "--seed", "1",
               "--findings", str(tmp_path), cwd=root)
    assert r.returncode == 1 and "found by corpus replay" in r.stdout
    repro = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert len(repro["ops"]) <= 20 and repro["verdict"]["oracle"] == "gic-L2-deactivation-lost"
    bad = hvfuzz("fuzz", "--variant", "lazy", "--corpus", str(tmp_path / "nope"), "--max-examples", "1")
    assert bad.returncode == 2 and "not a directory" in bad.stderr
