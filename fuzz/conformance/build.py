"""Build the bare-metal harness (``harness/``) with the Debian cross compiler, once per source
version: the ELF goes to a cache directory keyed by the sources' hash."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HARNESS_DIR = Path(__file__).parent / "harness"
SOURCES = ("start.S", "harness.c", "link.ld")
CFLAGS = ("-O2", "-nostdlib", "-ffreestanding", "-fno-builtin", "-mgeneral-regs-only", "-mstrict-align",
          "-fno-stack-protector", "-static", "-Wall", "-Wextra", "-Werror", "-Wl,--build-id=none",
          "-Wl,--no-warn-rwx-segments")


class ConformanceError(Exception):
    """The conformance run could not be done (a tool is missing, the harness failed): exit 2."""


def cross_gcc() -> str:
    gcc = os.environ.get("HVFUZZ_CROSS_GCC") or shutil.which("aarch64-linux-gnu-gcc")
    if not gcc or not os.access(gcc, os.X_OK):
        raise ConformanceError("aarch64-linux-gnu-gcc not found (Debian: apt-get install gcc-aarch64-linux-gnu)")
    return gcc


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hvfuzz" / "conformance"


def build_harness(out_dir: Path | None = None) -> Path:
    """The harness ELF, built if its sources changed since the last build."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update((HARNESS_DIR / name).read_bytes())
    h.update(" ".join(CFLAGS).encode())
    out_dir = out_dir or cache_dir()
    elf = out_dir / f"harness-{h.hexdigest()[:16]}.elf"
    if elf.is_file():
        return elf
    gcc = cross_gcc()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        out_dir = Path(tempfile.gettempdir()) / "hvfuzz-conformance"
        out_dir.mkdir(parents=True, exist_ok=True)
        elf = out_dir / elf.name
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp_elf = Path(tmp) / "harness.elf"
        cmd = [gcc, *CFLAGS, "-T", str(HARNESS_DIR / "link.ld"), "-o", str(tmp_elf),
               str(HARNESS_DIR / "start.S"), str(HARNESS_DIR / "harness.c")]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise ConformanceError(f"building the harness failed: {p.stderr.strip().splitlines()[-1:]}")
        os.replace(tmp_elf, elf)
    return elf


__all__ = ["ConformanceError", "build_harness", "cross_gcc"]
