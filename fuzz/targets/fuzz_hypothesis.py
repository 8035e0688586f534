#!/usr/bin/env python3
"""atheris target driving the Hypothesis state machine (fuzz/strategies.py) through
``fuzz_one_input``: libFuzzer's bytes become Hypothesis's choice sequence, so every input is a
rule-following example (structure-aware), at the price of Hypothesis's per-example overhead.

    python fuzz/targets/fuzz_hypothesis.py [--variant=NAME] [libFuzzer flags] [corpus dirs]

A violation raises the state machine's OracleViolation (its message names the oracle).  The
crash input is a Hypothesis choice sequence, not fuzz/decode.py bytes: replay it with this target
(`-runs=1 CRASH`); the JSON repro of the failure is written to HVFUZZ_FINDINGS (default findings/).
"""

import os
import sys

import atheris

with atheris.instrument_imports(include=["hvfuzz"]):
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import get_state_machine_test

    from hvfuzz.fuzz.export import write_repro
    from hvfuzz.fuzz.runner import run
    from hvfuzz.fuzz.shrink import shrink
    from hvfuzz.fuzz.strategies import make_machine
    from hvfuzz.fuzz.targets.driver import designs, select_variant


def main() -> None:
    variant, argv = select_variant("hypothesis", sys.argv)
    findings = os.environ.get("HVFUZZ_FINDINGS", "findings")

    def on_failure(trace, verdict):  # the repro is written before the exception propagates
        small = shrink(trace, verdict)
        write_repro(findings, small, run(small), {"found_by": "atheris fuzz_hypothesis.py"})

    machine = make_machine(variant, on_failure=on_failure, registry=designs())
    test = get_state_machine_test(machine, settings=settings(
        database=None, deadline=None, suppress_health_check=list(HealthCheck), stateful_step_count=40))
    atheris.Setup(argv, test.hypothesis.fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
