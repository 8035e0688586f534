"""libFuzzer/atheris fuzz targets: one script per target (``fuzz_system.py`` over every op, one per
design for focused runs, ``fuzz_hypothesis.py`` driving the Hypothesis state machine), runnable as
a libFuzzer binary is: ``python fuzz/targets/fuzz_system.py [libFuzzer flags] [corpus dirs]``."""

from __future__ import annotations

import os

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
