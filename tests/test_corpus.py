"""Replay every trace in corpus/ and assert its recorded verdict (same oracle when it fails)."""

import glob
import os

import pytest

from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.runner import run

ROOT = os.path.join(os.path.dirname(__file__), "..", "corpus")
FILES = sorted(glob.glob(os.path.join(ROOT, "**", "*.json"), recursive=True))


def test_corpus_is_not_empty():
    assert any("/seeds/" in f for f in FILES) and any("/regressions/" in f for f in FILES)


@pytest.mark.parametrize("path", FILES, ids=[os.path.relpath(f, ROOT) for f in FILES])
def test_replay_recorded_verdict(path):
    trace, recorded = load_repro(path)
    assert recorded is not None, "corpus files carry their verdict"
    v = run(trace)
    if recorded["status"] == "pass":
        assert v.ok, v
    else:
        assert not v.ok and v.oracle == recorded["oracle"] and v.step == recorded["step"], v
