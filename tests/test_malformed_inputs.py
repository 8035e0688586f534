"""Bad input stays a one-line error (exit 2), at every loader: replay, shrink, the exports,
findings, --corpus, --db entries, import-crash (``fuzz/malform.py`` runs each through the CLI in
this process).  The schema is checked in one place (``fuzz/trace.py``); these tests throw
hand-made and mutated corpus files at every loader.  bench/malformed.py does the same at scale."""

import glob
import json
import os
import random
import stat
import subprocess
import sys

import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

from hvfuzz.fuzz import malform
from hvfuzz.fuzz.cli import build_parser, main
from hvfuzz.fuzz.findings import bug_signature, record
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.session import _db_key, _shared_findings
from hvfuzz.fuzz.trace import TraceError, repro_from_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = sorted(glob.glob(os.path.join(ROOT, "corpus", "**", "*.json"), recursive=True))
#: a small failing repro (3 ops): its verdict, meta and ops are the edit targets
BASE = os.path.join(ROOT, "corpus", "regressions", "lazy-v3-vserror-never-delivered.json")


def _doc():
    with open(BASE, encoding="utf-8") as f:
        return json.load(f)


def _edit(fn):
    """A JSON-level edit of BASE, as the file's text."""
    d = _doc()
    out = fn(d)
    return (out if isinstance(out, str) else json.dumps(d)).encode()


def _deep(n):
    return "[" * n + "]" * n


#: name -> the malformed file's bytes: wrong types, missing keys, huge numbers, deep nesting, unknown
#: op names, other schema versions, and byte-level damage
CASES = {
    "variant-list": _edit(lambda d: d["config"].update(variant=["lazy"])),
    "variant-object": _edit(lambda d: d["config"].update(variant={"name": "lazy"})),
    "vcpus-float": _edit(lambda d: d["config"].update(vcpus=1.0)),
    "vcpus-bool": _edit(lambda d: d["config"].update(vcpus=True)),
    "config-list": _edit(lambda d: d.update(config=[])),
    "ops-object": _edit(lambda d: d.update(ops={})),
    "op-not-object": _edit(lambda d: d["ops"].append(3)),
    "field-string-for-int": _edit(lambda d: d["ops"][0].update(esr="0")),
    "reg-int": _edit(lambda d: d["ops"].append({"op": "UserGetReg", "vcpu": 0, "reg": 5})),
    "verdict-list": _edit(lambda d: d.update(verdict=["fail"])),
    "verdict-status": _edit(lambda d: d["verdict"].update(status="failed")),
    "verdict-oracle-int": _edit(lambda d: d["verdict"].update(oracle=7)),
    "verdict-step-string": _edit(lambda d: d["verdict"].update(step="2")),
    "meta-list": _edit(lambda d: d.update(meta=["x"])),
    "meta-count-list": _edit(lambda d: d["meta"].update(count=[1])),
    "meta-count-zero": _edit(lambda d: d["meta"].update(count=0)),
    "missing-schema": _edit(lambda d: d.pop("schema")),
    "missing-config": _edit(lambda d: d.pop("config")),
    "missing-ops": _edit(lambda d: d.pop("ops")),
    "missing-op-name": _edit(lambda d: d["ops"][0].pop("op")),
    "missing-vcpu": _edit(lambda d: d["ops"][0].pop("vcpu")),
    "vcpu-2^64": _edit(lambda d: d["ops"][0].update(vcpu=2**64)),
    "value-2^64": _edit(lambda d: d["ops"].append({"op": "UserSetReg", "vcpu": 0, "reg": "x0", "value": 2**64})),
    "esr-negative": _edit(lambda d: d["ops"][0].update(esr=-1)),
    "5000-digits": _edit(lambda d: json.dumps(d).replace('"esr": 0', '"esr": ' + "9" * 5000)),
    "1e999": _edit(lambda d: json.dumps(d).replace('"vcpus": 1', '"vcpus": 1e999')),
    "NaN": _edit(lambda d: json.dumps(d).replace('"vcpus": 1', '"vcpus": NaN')),
    "nested-100k": _deep(100_000).encode(),
    "nested-in-meta": _edit(lambda d: json.dumps(d).replace('"meta": {', '"meta": {"x": ' + _deep(500) + ", ")),
    "nested-as-variant": _edit(lambda d: json.dumps(d).replace('"lazy-v3"', _deep(50), 1)),
    "unknown-op": _edit(lambda d: d["ops"][0].update(op="Frobnicate")),
    "unknown-op-long": _edit(lambda d: d["ops"][0].update(op="A" * 100_000)),
    "unknown-op-newline": _edit(lambda d: d["ops"][0].update(op="Kvm\nRun\u2028")),
    "unknown-field": _edit(lambda d: d["ops"][0].update(colour="red")),
    "unknown-variant": _edit(lambda d: d["config"].update(variant="lazy-v9")),
    "schema-2": _edit(lambda d: d.update(schema=2)),
    "schema-string": _edit(lambda d: d.update(schema="1")),
    "schema-float": _edit(lambda d: d.update(schema=1.0)),
    "schema-true": _edit(lambda d: d.update(schema=True)),
    "not-utf8": open(BASE, "rb").read().replace(b"lazy-v3", b"lazy-\xff3", 1),
    "truncated": open(BASE, "rb").read()[:200],
    "empty": b"",
    "nul-bytes": b"\x00" * 64,
    "top-level-list": b"[]",
}


@pytest.fixture(scope="module")
def parser():
    return build_parser()


@pytest.mark.parametrize("loader", sorted(malform.FILE_LOADERS))
def test_every_file_loader_gives_one_line_and_exit_2(loader, tmp_path, parser):
    for name, data in CASES.items():
        o = malform.try_loader(loader, data, str(tmp_path), parser)
        assert o.expected == {2}, f"{name} is valid?"
        assert o.problem is None, f"{loader} on {name}: {o.problem}"
        assert len(o.stderr) < 400, f"{loader} on {name}: {o.stderr!r}"


def test_every_loader_on_mutated_corpus_files(tmp_path, parser):
    """Byte edits and JSON-level edits of every corpus file, round robin over every loader."""
    rng = random.Random(17)
    data = [open(p, "rb").read() for p in FILES]
    assert len(data) > 20
    seen = {c: 0 for c in (0, 1, 2)}
    for i in range(400):
        loader = malform.LOADERS[i % len(malform.LOADERS)]
        m = malform.mutant(data[i % len(data)], rng)
        if loader == "shrink" and malform.expected_codes(loader, m) != {2}:
            loader = "replay"  # a valid failing trace would be shrunk: seconds, and not input checking
        o = malform.try_loader(loader, m, str(tmp_path), parser)
        assert o.problem is None, f"{loader} on mutant {i}: {o.problem}"
        seen[o.code] += 1
    assert seen[2] > 200 and seen[0] > 20  # mostly malformed, and some still valid


def test_the_unmutated_corpus_loads_at_every_file_loader(tmp_path, parser):
    """The other side of the check: a valid file is not refused (exit 0 or 1, nothing on stderr)."""
    small = [p for p in FILES if os.path.getsize(p) < 3000][:2] + [BASE]
    for path in small:
        data = open(path, "rb").read()
        for loader in sorted(malform.FILE_LOADERS - {"shrink"}):
            o = malform.try_loader(loader, data, str(tmp_path), parser)
            assert o.expected == {0, 1} and o.problem is None, f"{loader} on {path}: {o.problem}"


@pytest.mark.parametrize(("cmd", "case"), [
    (["replay"], "nested-100k"), (["export", "--format", "c"], "5000-digits"), (["shrink"], "unknown-op-newline"),
    (["replay"], "variant-list"),
])
def test_one_line_from_a_real_process(cmd, case, tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(CASES[case])
    r = subprocess.run([sys.executable, "-m", "hvfuzz.fuzz", *cmd, str(path)], capture_output=True, text=True,
                       cwd=tmp_path, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("hvfuzz: error: "), r.stderr


def test_db_entries_that_do_not_parse_are_skipped(tmp_path):
    """A shared database may hold another hvfuzz's entries: skipped, never an error."""
    db = DirectoryBasedExampleDatabase(str(tmp_path))
    good = open(BASE, "rb").read()
    for data in [good, *CASES.values()]:
        db.save(_db_key("lazy-v3"), data)
    found = _shared_findings(db, "lazy-v3")
    assert [len(t.ops) for t in found] == [3]


def test_a_corrupt_finding_is_replaced_not_fatal(tmp_path):
    """The findings store reads back the file a new finding would update: damaged, it is replaced."""
    trace = repro_from_text(open(BASE, "rb").read()).trace
    verdict = run(trace)
    path = tmp_path / f"lazy-v3-{verdict.oracle}-{bug_signature('lazy-v3', verdict.oracle)}.json"
    for name in ("meta-count-list", "meta-list", "truncated", "nested-in-meta"):
        path.write_bytes(CASES[name])
        rec = record(str(tmp_path), trace, verdict)
        assert rec.path == str(path) and rec.count == 1
        assert repro_from_text(path.read_bytes()).meta["count"] == 1


def test_repro_files_written_by_the_cli_are_0644_under_the_default_umask(tmp_path):
    """0666 less the umask, as ``open`` gives (not ``mkstemp``'s 0600): a CI job uploading the
    findings directory as another user can read them."""
    old = os.umask(0o022)
    try:
        code = main(["shrink", BASE, "--findings", str(tmp_path)])
    finally:
        os.umask(old)
    assert code == 1
    [path] = glob.glob(str(tmp_path / "*.json"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_messages_are_short_for_huge_values():
    for name in ("unknown-op-long", "vcpu-2^64", "nested-as-variant"):
        with pytest.raises(TraceError) as e:
            repro_from_text(CASES[name])
        assert len(str(e.value)) < 200 and "\n" not in str(e.value), str(e.value)
