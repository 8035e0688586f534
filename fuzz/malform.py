"""Malformed repro files: seeded mutations of a valid one, for the loaders' robustness test
(tests/test_malformed_inputs.py) and bench (bench/malformed.py).

Two families, as a corrupted download or a hand edit produces them:

* byte edits of the file's text: flips, insertions, deletions, truncation, invalid UTF-8, NULs;
* JSON-level edits at a random place (the root, ``config``, ``verdict``, ``meta``, an op, a
  field): a value of the wrong type, a missing or unknown key, huge numbers (beyond 64 bits, beyond
  Python's 4300-digit int conversion limit, ``1e999``), deep nesting, long strings, an unknown op
  name, another schema version.

Each mutant is the text of a file; whether it is still a valid trace is the loader's business
(many JSON-level edits are: an op field set to another valid value).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
from collections.abc import Callable
from typing import Any

import attrs

#: values of every JSON type (and a few Python's json reads that strict JSON has not)
_ODD_VALUES: tuple[str, ...] = (
    "null", "true", "false", "0", "-1", "1.5", "2.0", "1e999", "-1e999", "NaN", "Infinity", '""', '"x"',
    "[]", "{}", "[1, 2]", '{"a": 1}', str(2**64), str(-(2**63) - 1), str(10**300), "1" * 5000,
    '"' + "A" * 100_000 + '"', '"\\u2028\\n\\u0000"', '"\\ud800"', "[" * 3000 + "]" * 3000,
    '{"a":' * 2000 + "1" + "}" * 2000, "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
)
_ODD_NAMES: tuple[str, ...] = (
    "Frobnicate", "", "kvmrun", "GuestExit ", "__class__", "Op", "vcpu", "\u00e9", "A" * 1000,
)
_SCHEMAS: tuple[str, ...] = ("0", "2", "99", '"1"', "1.0", "true", "null", "-1", "[1]", str(2**70))


class _Raw:
    """A JSON fragment spliced into the output as is (a value ``json.dumps`` cannot write)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _dumps(v: Any) -> str:
    if isinstance(v, _Raw):
        return v.text
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dumps(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_dumps(x) for x in v) + "]"
    return json.dumps(v)


def _containers(doc: Any) -> list[Any]:
    """Every dict and list in ``doc`` (the places an edit can go)."""
    out: list[Any] = []
    stack = [doc]
    while stack:
        x = stack.pop()
        if isinstance(x, (dict, list)):
            out.append(x)
            stack.extend(x.values() if isinstance(x, dict) else x)
    return out


def _odd(rng: random.Random) -> _Raw:
    return _Raw(rng.choice(_ODD_VALUES))


def _set_value(doc: Any, rng: random.Random) -> None:
    c = rng.choice(_containers(doc))
    if isinstance(c, dict) and c:
        c[rng.choice(sorted(c))] = _odd(rng)
    elif isinstance(c, list) and c:
        c[rng.randrange(len(c))] = _odd(rng)


def _drop_key(doc: Any, rng: random.Random) -> None:
    dicts = [c for c in _containers(doc) if isinstance(c, dict) and c]
    if dicts:
        d = rng.choice(dicts)
        del d[rng.choice(sorted(d))]


def _add_key(doc: Any, rng: random.Random) -> None:
    dicts = [c for c in _containers(doc) if isinstance(c, dict)]
    rng.choice(dicts)[rng.choice(("x", "op", "vcpu", "schema", "config", "count", "oracle"))] = _odd(rng)


def _op_name(doc: Any, rng: random.Random) -> None:
    ops = [c for c in _containers(doc) if isinstance(c, dict) and "op" in c]
    if ops:
        rng.choice(ops)["op"] = rng.choice(_ODD_NAMES)


def _schema(doc: Any, rng: random.Random) -> None:
    doc["schema"] = _Raw(rng.choice(_SCHEMAS))


def _top_level(doc: Any, rng: random.Random) -> None:
    key = rng.choice(("config", "ops", "verdict", "meta"))
    doc[key] = _odd(rng)


def _nest(doc: Any, rng: random.Random) -> None:
    c = rng.choice(_containers(doc))
    depth = rng.choice((50, 1000, 100_000))
    inner = _Raw("[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "0" + "}" * depth)
    if isinstance(c, dict) and c:
        c[rng.choice(sorted(c))] = inner
    elif isinstance(c, list):
        c.append(inner)


def _numbers(doc: Any, rng: random.Random) -> None:
    nums = [(c, k) for c in _containers(doc) for k in (c if isinstance(c, dict) else range(len(c)))
            if isinstance(c[k], int) and not isinstance(c[k], bool)]
    if nums:
        c, k = rng.choice(nums)
        c[k] = _Raw(rng.choice((str(2**64), str(2**64 - 1), "-1", "1e999", "9" * 5000, str(10**4299),
                                str(rng.getrandbits(rng.choice((8, 33, 65, 200)))), "0.0", "-0")))


JSON_EDITS: tuple[Callable[[Any, random.Random], None], ...] = (
    _set_value, _set_value, _drop_key, _add_key, _op_name, _schema, _top_level, _nest, _numbers, _numbers,
)


def json_mutant(text: str, rng: random.Random) -> str:
    """``text`` (a valid repro) with one to three JSON-level edits."""
    doc = json.loads(text)
    for _ in range(rng.choice((1, 1, 2, 3))):
        rng.choice(JSON_EDITS)(doc, rng)
    return _dumps(doc)


def byte_mutant(data: bytes, rng: random.Random) -> bytes:
    """``data`` with one to eight byte edits (or cut short)."""
    b = bytearray(data)
    if rng.random() < 0.1:
        return bytes(b[:rng.randrange(len(b) + 1)])
    for _ in range(rng.randrange(1, 9)):
        if not b:
            b.append(rng.randrange(256))
            continue
        i = rng.randrange(len(b))
        r = rng.random()
        if r < 0.35:
            b[i] ^= 1 << rng.randrange(8)
        elif r < 0.55:
            b[i] = rng.choice(b'{}[]",:0123456789-.eE \n\x00\xff\xc3tfn')
        elif r < 0.75:
            del b[i:i + rng.randrange(1, 9)]
        elif r < 0.9:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
        else:
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + rng.randrange(1, 40)]  # a copied span (a duplicated key or op)
    return bytes(b)


def mutant(data: bytes, rng: random.Random) -> bytes:
    """A malformed variant of the repro file ``data``: half byte edits, half JSON-level edits."""
    if rng.random() < 0.5:
        return byte_mutant(data, rng)
    return json_mutant(data.decode("utf-8"), rng).encode("utf-8", "surrogatepass")


# --- the loaders, run as the CLI runs them ------------------------------------------------------------
#: every command that reads a trace or repro (or a crash input), by the name the test and bench use
LOADERS: tuple[str, ...] = (
    "replay", "shrink", "export-pytest", "export-timeline", "export-html", "export-c", "findings",
    "corpus", "db", "import-crash",
)
#: loaders that read the input as a trace/repro file: malformed -> exit 2.  ``db`` skips an entry it
#: cannot read (another hvfuzz version may have written it); ``import-crash`` decodes any bytes.
FILE_LOADERS = frozenset(LOADERS) - {"db", "import-crash"}
#: the variant the ``corpus`` and ``db`` loaders fuzz (with no examples: only the replay)
_VARIANT = "lazy"


def _argv(loader: str, path: str, work: str) -> list[str]:
    findings = os.path.join(work, "findings")
    inbox = os.path.dirname(path)
    return {
        "replay": ["replay", "--quiet", path],
        "shrink": ["shrink", path, "--findings", findings],
        "export-pytest": ["export", path],
        "export-timeline": ["export", path, "--format", "timeline"],
        "export-html": ["export", path, "--format", "html"],
        "export-c": ["export", path, "--format", "c"],
        "findings": ["findings", inbox],
        "corpus": ["fuzz", "--variant", _VARIANT, "--corpus", inbox, "--max-examples", "0", "--seed", "0",
                   "--findings", findings],
        "db": ["fuzz", "--variant", _VARIANT, "--db", os.path.join(work, "db"), "--corpus", "",
               "--max-examples", "0", "--seed", "0", "--findings", findings],
        "import-crash": ["import-crash", path, "--findings", findings],
    }[loader]


def _place(loader: str, data: bytes, work: str) -> str:
    """Put ``data`` where ``loader`` reads it (alone: the inbox and the database hold nothing else)."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    from hvfuzz.fuzz.session import _db_key

    inbox = os.path.join(work, "in")
    for d in (inbox, os.path.join(work, "db")):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(inbox)
    path = os.path.join(inbox, "input.json")
    if loader == "db":
        DirectoryBasedExampleDatabase(os.path.join(work, "db")).save(_db_key(_VARIANT), data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return path


def expected_codes(loader: str, data: bytes) -> frozenset[int]:
    """The exit codes ``loader`` may give for ``data``: 2 for a malformed file (as the one schema
    check, ``trace.repro_from_text``, judges it), 0 or 1 for a valid one."""
    from hvfuzz.fuzz.trace import TraceError, repro_from_text

    if loader == "import-crash":
        return frozenset({2}) if not data else frozenset({0, 1})
    if loader not in FILE_LOADERS:
        return frozenset({0, 1})
    try:
        repro_from_text(data)
    except TraceError:
        return frozenset({2})
    return frozenset({0, 1})


@attrs.frozen
class Outcome:
    loader: str
    code: int | None
    stderr: str
    #: an exception that escaped the CLI (a traceback), as ``Type: message``
    escaped: str | None
    expected: frozenset[int]

    @property
    def problem(self) -> str | None:
        """What is wrong with this outcome (None: exit 2 with one line on stderr, or 0/1 with a
        quiet stderr, as expected)."""
        if self.escaped is not None:
            return f"traceback: {self.escaped}"
        if self.code not in self.expected:
            return f"exit {self.code}, expected one of {sorted(self.expected)}: {self.stderr[:200]!r}"
        lines = self.stderr.count("\n")
        if self.code == 2 and (lines != 1 or not self.stderr.endswith("\n") or not self.stderr.startswith("hvfuzz")):
            return f"exit 2 with {lines} line(s) on stderr: {self.stderr[:200]!r}"
        if self.code != 2 and self.stderr:
            return f"exit {self.code} with output on stderr: {self.stderr[:200]!r}"
        return None


def try_loader(loader: str, data: bytes, work: str, parser: argparse.ArgumentParser | None = None) -> Outcome:
    """Run ``loader`` on ``data`` in this process (the CLI's ``main``, stdout discarded)."""
    from hvfuzz.fuzz.cli import build_parser, run_args

    path = _place(loader, data, work)
    err = io.StringIO()
    code: int | None = None
    escaped = None
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = run_args((parser or build_parser()).parse_args(_argv(loader, path, work)))
    except SystemExit as e:  # argparse: the arguments, not the input
        escaped = f"SystemExit({e.code})"
    except Exception as e:  # noqa: BLE001 - the point: nothing but a one-line error may escape
        escaped = f"{type(e).__name__}: {str(e)[:200]}"
    return Outcome(loader, code, err.getvalue(), escaped, expected_codes(loader, data))
