#!/usr/bin/env python3
"""atheris target: the vgic ops (fuzz/decode.py OPS_BY_COMPONENT["vgic"]) against one variant.

    python fuzz/targets/fuzz_vgic.py [--variant=NAME] [libFuzzer flags] [corpus dirs]

HVFUZZ_VARIANT also selects the variant.  A violation raises OracleViolation naming the oracle;
turn the crash file into a JSON repro with `hvfuzz import-crash CRASH --target vgic`.
"""

import sys

import atheris

with atheris.instrument_imports(include=["hvfuzz"]):
    from hvfuzz.fuzz.targets.driver import one_input, select_variant


def main() -> None:
    variant, argv = select_variant("vgic", sys.argv)
    atheris.Setup(argv, one_input(variant, "vgic"))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
