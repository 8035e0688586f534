"""The libFuzzer/atheris side of hvfuzz: seed inputs from the corpus, running a target script the
way libFuzzer users do (a working corpus, ``-fork`` for several cores, crash artifacts in the
findings directory), and turning crash files into shrunk JSON repros.

The targets live in ``fuzz/targets/``; their input format is ``fuzz/decode.py``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable

import attrs

from hvfuzz.fuzz.decode import decode, encode, libfuzzer_dict
from hvfuzz.fuzz.export import write_text_atomic
from hvfuzz.fuzz.runner import Verdict, run
from hvfuzz.fuzz.shrink import shrink
from hvfuzz.fuzz.targets import DEFAULT_VARIANT, TARGETS, target_path
from hvfuzz.fuzz.trace import Trace, TraceError
from hvfuzz.model.variants import BUILTIN, Registry

#: libFuzzer flags ``hvfuzz atheris`` adds unless given (as ``fuzz/targets/hvfuzz.options`` does for
#: OSS-Fuzz): inputs of many steps from the start (libFuzzer's length control grows inputs from a
#: few bytes, and an input shorter than the 8-byte header and a step or two has no ops)
DEFAULT_FLAGS = ("-max_len=512", "-len_control=0")

#: which vocabulary a target decodes with
COMPONENT = {"system": "system", "pkvm": "pkvm", "vgic": "vgic", "psci": "psci", "hypothesis": "system"}


def write_seed_inputs(traces: list[Trace], directory: str, target: str) -> int:
    """Encode the traces that fit the target's vocabulary into ``directory`` (named by content
    hash, as libFuzzer names corpus files); the number written."""
    os.makedirs(directory, exist_ok=True)
    n = 0
    for t in traces:
        try:
            data = encode(t, COMPONENT[target])
        except ValueError:
            continue  # an op the focused target does not draw
        path = os.path.join(directory, hashlib.sha1(data).hexdigest())
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
        n += 1
    return n


def import_crash(path: str, variant: str, target: str = "system",
                 registry: Registry = BUILTIN) -> tuple[Trace, Verdict, Trace]:
    """Decode a crash file for ``variant``; (the decoded trace, the verdict of the shrunk trace,
    the shrunk trace).  The verdict is a pass if the input does not reproduce."""
    if not os.path.isfile(path):
        raise TraceError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TraceError(f"cannot read {path}: {e.strerror or type(e).__name__}") from None
    if not data:
        raise TraceError(f"{path}: empty file (not a crash input)")
    if target == "hypothesis":
        raise TraceError("crash files of the hypothesis target replay with that target; import the system's")
    trace = decode(data, variant, COMPONENT[target], registry)
    verdict = run(trace)
    if verdict.ok:
        return trace, verdict, trace
    small = shrink(trace, verdict)
    return trace, run(small), small


@attrs.frozen
class AtherisRun:
    returncode: int
    crashes: list[str]


def target_command(target: str, variant: str | None, seconds: float, jobs: int, findings: str, seeds: list[Trace],
                   extra: list[str], designs: str = "") -> tuple[list[str], dict[str, str], str, int]:
    """The libFuzzer command line of ``fuzz/targets/fuzz_<target>.py`` as ``hvfuzz atheris`` runs it
    (the working corpus under ``findings/atheris/``, seeded from ``seeds``; the target's dictionary;
    ``DEFAULT_FLAGS`` unless ``extra`` gives them): (argv, environment, crash-artifact prefix, number
    of seed inputs written)."""
    if target not in TARGETS:
        raise TraceError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    variant = variant or DEFAULT_VARIANT[target]
    work = os.path.join(findings, "atheris", f"{target}-{variant}")
    corpus = os.path.join(work, "corpus")
    n = write_seed_inputs(seeds, corpus, target)
    os.makedirs(findings, exist_ok=True)
    if target != "hypothesis" and not any(f.startswith("-dict=") for f in extra):
        # the target's dictionary (opcodes of its ops), generated from the op registry
        dict_path = os.path.join(work, "hvfuzz.dict")
        write_text_atomic(dict_path, libfuzzer_dict(COMPONENT[target]))
        extra = [f"-dict={dict_path}", *extra]
    prefix = os.path.join(findings, f"{target}-{variant}-")  # libFuzzer appends crash-<sha1>
    cmd = [sys.executable, target_path(target), f"-max_total_time={int(max(1, seconds))}",
           f"-artifact_prefix={prefix}", "-print_final_stats=1"]
    if jobs > 1:
        cmd.append(f"-fork={jobs}")
        cmd.append("-ignore_crashes=0")
    given = {f.split("=", 1)[0] for f in extra}
    cmd += [f for f in DEFAULT_FLAGS if f.split("=", 1)[0] not in given]
    cmd += extra + [corpus]
    env = dict(os.environ, HVFUZZ_VARIANT=variant)
    if designs:
        env["HVFUZZ_DESIGNS"] = designs
    return cmd, env, prefix, n


def run_target(target: str, variant: str | None, seconds: float, jobs: int, findings: str, seeds: list[Trace],
               extra: list[str], out: Callable[[str], None], designs: str = "") -> AtherisRun:
    """Run ``fuzz/targets/fuzz_<target>.py`` for ``seconds`` with a working corpus under
    ``findings/atheris/`` (seeded from ``seeds``); crash artifacts land in ``findings/``.  ``designs``:
    the ``HVFUZZ_DESIGNS`` the target loads (``fuzz/plugins.py``), for a plugin variant."""
    cmd, env, prefix, n = target_command(target, variant, seconds, jobs, findings, seeds, extra, designs)
    before = set(glob.glob(prefix + "*"))
    out(f"hvfuzz atheris: {target} target on {env['HVFUZZ_VARIANT']}; {n} seed input(s); {' '.join(cmd[1:])}")
    proc = subprocess.run(cmd, env=env, check=False)
    crashes = sorted(set(glob.glob(prefix + "*")) - before)
    return AtherisRun(proc.returncode, crashes)
