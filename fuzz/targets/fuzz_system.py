#!/usr/bin/env python3
"""atheris target: the system ops (fuzz/decode.py OPS_BY_COMPONENT["system"]) against one variant.

    python fuzz/targets/fuzz_system.py [--variant=NAME] [libFuzzer flags] [corpus dirs]

HVFUZZ_VARIANT also selects the variant.  A violation raises OracleViolation naming the oracle;
turn the crash file into a JSON repro with `hvfuzz import-crash CRASH --target system`.
"""

import sys

import atheris

from hvfuzz.fuzz.targets import instrumentation  # imports nothing of hvfuzz but this package

with instrumentation(atheris):
    from hvfuzz.fuzz.targets.driver import fuzz


def main() -> None:
    fuzz("system", "system", sys.argv, atheris)


if __name__ == "__main__":
    main()
