"""What every atheris target script does: pick the variant, decode the input while running it
(``fuzz/decode.py``'s ``execute``: each step a move enabled in the current state), and raise
``OracleViolation`` (naming the oracle) on a violation, so libFuzzer writes a crash artifact.

The scripts import this module inside ``atheris.instrument_imports()`` so that coverage of
``model/`` and ``oracles/`` guides the fuzzer; nothing of hvfuzz is imported before that.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from hvfuzz.fuzz.decode import execute
from hvfuzz.fuzz.plugins import PluginError, registry_for
from hvfuzz.fuzz.targets import DEFAULT_VARIANT
from hvfuzz.model.variants import Registry


class OracleViolation(Exception):
    """Raised by a target on a violated property; the message names the oracle."""


def select_variant(target: str, argv: list[str]) -> tuple[str, list[str]]:
    """The variant (``--variant=NAME`` in argv, else HVFUZZ_VARIANT, else the target's default),
    and argv without our flag (libFuzzer sees only its own flags and corpus dirs)."""
    variant = os.environ.get("HVFUZZ_VARIANT") or DEFAULT_VARIANT[target]
    rest = []
    for a in argv:
        if a.startswith("--variant="):
            variant = a.split("=", 1)[1]
        else:
            rest.append(a)
    if variant not in designs():
        print(f"hvfuzz: unknown variant {variant!r} (see 'hvfuzz variants')", file=sys.stderr)
        raise SystemExit(2)
    os.environ["HVFUZZ_VARIANT"] = variant  # the workers -fork/-jobs start inherit it
    return variant, rest


def designs() -> Registry:
    """hvfuzz's variants and the designs of the entry points and ``HVFUZZ_DESIGNS`` (which
    ``hvfuzz atheris --design`` sets for the target)."""
    try:
        return registry_for()
    except PluginError as e:
        print(f"hvfuzz: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def one_input(variant: str, component: str, registry: Registry | None = None) -> Callable[[bytes], None]:
    reg = registry if registry is not None else designs()

    def test_one_input(data: bytes) -> None:
        _, v = execute(data, variant, component, registry=reg)
        if not v.ok:
            raise OracleViolation(f"hvfuzz: oracle {v.oracle} violated at step {v.step} on {variant}: {v.reason}")

    return test_one_input
