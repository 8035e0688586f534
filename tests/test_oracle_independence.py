"""The architectural oracles are written from the Arm ARM, PSCI and the KVM API, never from the
model they judge: they import nothing of ``hvfuzz.model`` but the vocabulary (``hvfuzz.model.vocab``),
and nothing of ``hvfuzz.fuzz``.  The rule covers every ``oracles/arch_*.py``, the modules declared
architectural below, and every ``hvfuzz.oracles`` module they import (transitively), with
function-local and ``TYPE_CHECKING`` imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ORACLES_DIR = Path(__file__).resolve().parent.parent / "oracles"
#: judged from ops and observations, besides ``arch_*.py``
DECLARED_ARCHITECTURAL = ("gic_checks.py", "checks.py")
PACKAGE = "hvfuzz.oracles"


def imported_modules(source: str, package: str = PACKAGE) -> set[str]:
    """Every module ``source`` imports, anywhere in it (``from a import b`` counts as ``a`` and
    ``a.b``: ``b`` may be a submodule), relative imports resolved against ``package``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def forbidden(modules: set[str]) -> set[str]:
    """The imports an architectural oracle may not make: ``hvfuzz.model`` other than the
    vocabulary, and the drivers."""
    bad = set()
    for m in modules:
        if m == "hvfuzz.fuzz" or m.startswith("hvfuzz.fuzz."):
            bad.add(m)
        elif m.startswith("hvfuzz.model.") and not (m == "hvfuzz.model.vocab" or m.startswith("hvfuzz.model.vocab.")):
            bad.add(m)
    # ``from hvfuzz.model import vocab`` imports the package itself: allowed only for that name
    if "hvfuzz.model" in modules and not any(m.startswith("hvfuzz.model.") for m in modules):
        bad.add("hvfuzz.model")
    return bad


def architectural_modules() -> list[Path]:
    """``arch_*.py``, the declared modules, and the ``hvfuzz.oracles`` modules they import."""
    todo = sorted(ORACLES_DIR.glob("arch_*.py")) + [ORACLES_DIR / n for n in DECLARED_ARCHITECTURAL]
    seen: dict[Path, None] = {}
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen[p] = None
        for m in imported_modules(p.read_text()):
            if m.startswith(PACKAGE + "."):
                q = ORACLES_DIR / (m.split(".")[2] + ".py")
                if q.exists():
                    todo.append(q)
    return sorted(seen)


def test_the_architectural_set_is_what_we_think() -> None:
    names = {p.name for p in architectural_modules()}
    assert {"arch_gic.py", "arch_psci.py", "gic_checks.py", "checks.py"} <= names
    assert "registry.py" not in names  # it builds the chain, white-box invariants included


@pytest.mark.parametrize("path", architectural_modules(), ids=lambda p: p.name)
def test_architectural_oracles_import_no_model_internals(path: Path) -> None:
    bad = forbidden(imported_modules(path.read_text()))
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("source", [
    "from hvfuzz.model.regs import VCPU_RESET_PSTATE_EL1\n",
    "import hvfuzz.model.system\n",
    "import hvfuzz.model\n",
    "import hvfuzz.model.vgic.irq as irq\n",
    "from hvfuzz.model import regs\n",
    "from hvfuzz.model import vocab, system\n",
    "from ..model.regs import IDX_PC\n",
    "from ..model import psci\n",
    "from hvfuzz.fuzz.ops import GuestAck\n",
    "def f():\n    from hvfuzz.model.system import System\n    return System\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hvfuzz.model.system import System\n",
    "class C:\n    def m(self):\n        import hvfuzz.model.vgic.vgic\n",
])
def test_the_check_detects_a_forbidden_import(source: str) -> None:
    assert forbidden(imported_modules(source))


@pytest.mark.parametrize("source", [
    "from hvfuzz.model.vocab import ops as O\n",
    "from hvfuzz.model.vocab.regs import IDX_PC\n",
    "import hvfuzz.model.vocab.obs\n",
    "from hvfuzz.model import vocab\n",
    "from ..model.vocab import obs\n",
    "from hvfuzz.oracles.arch_gic import ArchGic\n",
    "from . import arch_gic\n",
    "import attrs\n",
])
def test_the_check_allows_the_vocabulary(source: str) -> None:
    assert not forbidden(imported_modules(source))
