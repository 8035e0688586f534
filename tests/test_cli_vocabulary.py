"""One CLI vocabulary: a flag of ``hvfuzz fuzz`` or ``hvfuzz atheris`` means the same to both, or
the other refuses it with the reason and what to use instead (exit 2, one line).  A user's
script passes the same flags to both."""

import argparse
import subprocess

import pytest

from hvfuzz.fuzz import cli
from hvfuzz.fuzz.cli import build_parser, libfuzzer_seed, main

#: a valid value for each option the two commands have (a new option must be added here, and so
#: checked on both commands)
VALUES = {"--variant": "lazy", "--seconds": "1", "--max-examples": "5", "--seed": "3", "--corpus": "",
          "--nr-lrs": "2", "--findings": "f", "--db": "d", "--target": "psci", "--jobs": "2", "--keep-going": None,
          "--engine": "native",
          "--design": "d.py", "--help": None}
#: flags one command refuses, with a word of the reason each message must give
REFUSED = {("fuzz", "--target"): "atheris", ("atheris", "--nr-lrs"): "fuzz --nr-lrs",
           ("atheris", "--db"): "fuzz", ("atheris", "--keep-going"): "-ignore_crashes=1",
           ("atheris", "--engine"): "libFuzzer"}


def _sub(name):
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _options(name):
    return {o for a in _sub(name)._actions for o in a.option_strings if o.startswith("--")}


def test_every_flag_of_either_command_is_known_to_both():
    union = _options("fuzz") | _options("atheris")
    assert set(VALUES) >= union, f"new flags: add them to VALUES and check them on both: {union - set(VALUES)}"
    assert {"--seed", "--variant", "--seconds", "--corpus", "--findings"} <= union
    assert _options("fuzz") == _options("atheris") == union


@pytest.mark.parametrize("cmd", ["fuzz", "atheris"])
@pytest.mark.parametrize("flag", sorted(set(VALUES) - {"--help"}))
def test_a_shared_flag_is_accepted_or_refused_with_the_reason(cmd, flag, capsys):
    argv = [cmd, flag] + ([] if VALUES[flag] is None else [VALUES[flag]])
    if (cmd, flag) in REFUSED:
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and flag in err and REFUSED[cmd, flag] in err, err
    else:
        args = build_parser().parse_args(argv)
        assert args.func is getattr(cli, f"cmd_{cmd}")


@pytest.fixture
def libfuzzer_cmd(monkeypatch):
    """The libFuzzer command line ``hvfuzz atheris`` would run (nothing is run)."""
    pytest.importorskip("atheris", reason="atheris is not installed")
    from hvfuzz.fuzz import libfuzzer

    seen = []

    def fake_run(cmd, **kw):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(libfuzzer.subprocess, "run", fake_run)
    return seen


def test_atheris_seed_and_max_examples_are_libfuzzers(libfuzzer_cmd, tmp_path):
    common = ["--variant", "lazy", "--seconds", "5", "--seed", "7", "--max-examples", "100", "--corpus", "",
              "--findings", str(tmp_path)]
    assert main(["atheris", *common]) == 0
    [cmd] = libfuzzer_cmd
    assert "-seed=7" in cmd and "-runs=100" in cmd and "-max_total_time=5" in cmd
    # flags after -- come later, so libFuzzer takes them over the shared ones
    assert main(["atheris", *common, "--", "-seed=9"]) == 0
    assert libfuzzer_cmd[1].index("-seed=9") > libfuzzer_cmd[1].index("-seed=7")


def test_the_same_flags_run_both_commands(libfuzzer_cmd, tmp_path, capsys):
    shared = ["--variant", "lazy", "--seconds", "5", "--seed", "0", "--max-examples", "3", "--corpus", "",
              "--findings", str(tmp_path)]
    assert main(["fuzz", *shared]) == 0
    assert main(["atheris", *shared]) == 0
    assert f"-seed={2**32 - 1}" in libfuzzer_cmd[0]  # libFuzzer's 0 is random: seed 0 wraps to 2^32-1
    assert capsys.readouterr().err == ""


def test_libfuzzer_seeds_are_in_range_and_deterministic():
    for s in (-(2**40), -1, 0, 1, 7, 2**32 - 1, 2**32, 2**40):
        assert 1 <= libfuzzer_seed(s) <= 2**32 - 1
    assert len({libfuzzer_seed(s) for s in range(-100, 100)}) == 200  # distinct seeds stay distinct
    assert [libfuzzer_seed(s) for s in (1, 7, 2**32 - 1)] == [1, 7, 2**32 - 1]
    assert libfuzzer_seed(0) != libfuzzer_seed(-1)
