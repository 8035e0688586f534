"""Run a batch of cases through QEMU's GICv3 (TCG, ``-M virt,gic-version=3,virtualization=on
-cpu max``): one boot of the harness per batch, the cases loaded at 0x50000000, one result line
per case on the PL011, semihosting exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import attrs

from hvfuzz.fuzz.conformance.build import ConformanceError
from hvfuzz.fuzz.conformance.cases import READS, Case, Shape, pack_table

CASES_ADDR = 0x50000000


@attrs.frozen
class Observed:
    """What software sees after a case: the guest's reads, then the ICH_* registers at EL2."""

    reads: tuple[int, ...]
    hcr: int
    misr: int
    eisr: int
    elrsr: int
    vmcr: int
    ap0r: tuple[int, ...]
    ap1r: tuple[int, ...]
    lrs: tuple[int, ...]
    #: bit i: access i trapped to EL2 (the harness skips it and emulates nothing)
    traps: int = 0


def qemu_binary() -> str:
    q = os.environ.get("HVFUZZ_QEMU") or shutil.which("qemu-system-aarch64")
    if not q or not os.access(q, os.X_OK):
        raise ConformanceError("qemu-system-aarch64 not found (Debian: apt-get install qemu-system-arm)")
    return q


def qemu_version() -> str:
    p = subprocess.run([qemu_binary(), "--version"], capture_output=True, text=True)
    return p.stdout.splitlines()[0] if p.stdout else "?"


def parse(out: str, cases: list[Case]) -> tuple[int, list[Observed]]:
    vtr: int | None = None
    results: list[Observed] = []
    done = False
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("V "):
            vtr = int(line.split()[1], 16)
        elif line.startswith("C"):
            if vtr is None:
                raise ConformanceError("harness output without the ICH_VTR_EL2 line")
            shape = Shape.from_vtr(vtr)
            left, right, *rest = line[1:].split("|")
            reads = tuple(int(x, 16) for x in left.split())
            regs = [int(x, 16) for x in right.split()]
            n = shape.napr
            if len(regs) != 5 + 2 * n + shape.nr_lrs:
                raise ConformanceError(f"malformed harness line: {line!r}")
            results.append(Observed(reads, *regs[:5], tuple(regs[5:5 + n]), tuple(regs[5 + n:5 + 2 * n]),
                                    tuple(regs[5 + 2 * n:]), int(rest[0], 16) if rest else 0))
        elif line.startswith("X"):
            i = len(results)
            where = f" in case {i}:\n{cases[i].describe()}" if i < len(cases) else ""
            raise ConformanceError(f"unexpected exception in the harness ({line}){where}")
        elif line == "E":
            done = True
    if vtr is None or not done or len(results) != len(cases):
        raise ConformanceError(f"harness output incomplete ({len(results)} of {len(cases)} cases): {out[-300:]!r}")
    for c, r in zip(cases, results, strict=True):
        if len(r.reads) != sum(a.kind in READS for a in c.accesses):
            raise ConformanceError(f"harness returned {len(r.reads)} reads for {c.describe()}")
    return vtr, results


def run_batch(elf: Path, cases: list[Case], timeout: float = 120.0) -> tuple[int, list[Observed]]:
    """ICH_VTR_EL2 and one ``Observed`` per case."""
    q = qemu_binary()
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "cases.bin"
        table.write_bytes(pack_table(cases))
        cmd = [q, "-M", "virt,gic-version=3,virtualization=on", "-cpu", "max", "-m", "1024M", "-nographic",
               "-monitor", "none", "-semihosting", "-kernel", str(elf),
               "-device", f"loader,file={table},addr={CASES_ADDR:#x},force-raw=on"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise ConformanceError(f"QEMU did not finish within {timeout:g} s") from e
    if p.returncode not in (0, 3):
        raise ConformanceError(f"QEMU exited with {p.returncode}: {p.stderr.strip()[-300:]}")
    return parse(p.stdout, cases)


__all__ = ["Observed", "parse", "qemu_binary", "qemu_version", "run_batch"]
