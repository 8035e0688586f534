"""libFuzzer/atheris fuzz targets: one script per target (``fuzz_system.py`` over every op, one per
design for focused runs, ``fuzz_hypothesis.py`` driving the Hypothesis state machine), runnable as
a libFuzzer binary is: ``python fuzz/targets/fuzz_system.py [libFuzzer flags] [corpus dirs]``."""

from __future__ import annotations

import contextlib
import os
from typing import Any

TARGETS = ("system", "pkvm", "vgic", "psci", "hypothesis")
#: the variant a target fuzzes unless HVFUZZ_VARIANT or --variant=NAME says otherwise
DEFAULT_VARIANT = {"system": "lazy", "pkvm": "lazy", "vgic": "vgic-lr-overflow", "psci": "lazy",
                   "hypothesis": "lazy"}


def target_path(name: str) -> str:
    """The script of target ``name``.  libFuzzer re-executes it for -fork, -jobs and
    -minimize_crash, so it must be executable; an installed wheel drops the mode bits, which are
    put back here when the file is writable."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"fuzz_{name}.py")
    if os.path.exists(path) and not os.access(path, os.X_OK):
        try:
            os.chmod(path, os.stat(path).st_mode | 0o111)
        except OSError:
            pass
    return path


def fuzzer_modules() -> list[str]:
    """Every module of ``hvfuzz.fuzz`` (the fuzzer's own code), found on disk without importing it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if os.path.isfile(os.path.join(d, x, "__init__.py"))]
        rel = os.path.relpath(d, root)
        pkg = "hvfuzz.fuzz" if rel == "." else ".".join(["hvfuzz.fuzz", *rel.split(os.sep)])
        for f in files:
            if f.endswith(".py"):
                out.append(pkg if f == "__init__.py" else f"{pkg}.{f[:-3]}")
    return sorted(out)


def instrumentation(atheris: Any) -> contextlib.AbstractContextManager[Any]:
    """The ``with`` block a byte target script imports hvfuzz in: what it instruments for code coverage
    depends on ``HVFUZZ_ATHERIS`` (``driver.py``): by default the systems under test and their
    judges, not the fuzzer's own code (its decoder, semantic coverage and mutator add no code
    coverage worth keeping an input for, and run at half speed instrumented); ``plain``: all of
    hvfuzz, as the targets did before; ``semantic``: nothing."""
    mode = os.environ.get("HVFUZZ_ATHERIS") or "full"
    if mode == "semantic":
        return contextlib.nullcontext()
    return atheris.instrument_imports(include=["hvfuzz"], exclude=[] if mode == "plain" else fuzzer_modules())
