"""The package layers: ``model/vocab`` imports nothing else of hvfuzz; ``model/`` and ``oracles/``
never import ``fuzz/`` (the drivers sit on top); no function is longer than about 100 lines.
Imports are read with ``ast`` (function-local ones too), so a lazy import cannot hide."""

from __future__ import annotations

import ast
import glob
import os

import pytest
from test_oracle_independence import imported_modules as imports_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = {"fuzz": "hvfuzz.fuzz", "model": "hvfuzz.model", "oracles": "hvfuzz.oracles"}


def _sources(folder: str) -> list[tuple[str, str]]:
    files = sorted(glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True))
    return [(os.path.relpath(f, ROOT), open(f, encoding="utf-8").read()) for f in files]


def _violations(folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path, src in _sources(folder):
        for mod in sorted(imports_of(src)):
            if mod.startswith(forbidden) and not mod.startswith(allowed):
                bad.append(f"{path} imports {mod}")
    return bad


def test_model_and_oracles_never_import_the_drivers() -> None:
    assert not _violations("model", ("hvfuzz.fuzz",)) + _violations("oracles", ("hvfuzz.fuzz",))


def test_the_model_never_imports_its_judges() -> None:
    """The white-box invariants beside the model share the vocabulary's ``Step``/``Failure``
    (``model/vocab/judging.py``), not ``oracles/``."""
    assert not _violations("model", ("hvfuzz.oracles",))


def test_the_vocabulary_imports_nothing_else_of_hvfuzz() -> None:
    assert not _violations(os.path.join("model", "vocab"), ("hvfuzz",), ("hvfuzz.model.vocab",))


def test_the_import_reader_sees_local_and_lazy_imports() -> None:
    src = "def f():\n    from hvfuzz.fuzz import runner\n    import hvfuzz.fuzz.trace as t\n"
    assert {"hvfuzz.fuzz", "hvfuzz.fuzz.runner", "hvfuzz.fuzz.trace"} <= imports_of(src)


@pytest.mark.parametrize("folder", ["fuzz", "model", "oracles", "bench"])
def test_no_function_is_longer_than_about_100_lines(folder: str) -> None:
    long = []
    for path, src in _sources(folder):
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > 110:
                    long.append(f"{path}:{node.lineno} {node.name} ({n} lines)")
    assert not long
