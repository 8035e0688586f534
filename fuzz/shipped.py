"""Where the corpus shipped with hvfuzz is: the package data of ``hvfuzz.corpus`` (``corpus/`` in
the checkout), found with ``importlib.resources`` so an installed hvfuzz finds it from any
directory, not by a path relative to the current directory or the checkout."""

from __future__ import annotations

import importlib.resources
import os


def shipped_corpus() -> str | None:
    """The directory holding ``seeds/`` and ``regressions/``, or None if this hvfuzz has none (a
    distribution built without its package data, or one imported from a zip)."""
    try:
        root = importlib.resources.files("hvfuzz.corpus")
    except ModuleNotFoundError:
        return None
    path = os.fspath(root) if isinstance(root, os.PathLike) else None
    if path is None or not os.path.isdir(os.path.join(path, "seeds")):
        return None
    return path


def corpus_dirs(given: list[str] | None) -> list[str]:
    """The corpus directories of a run: the shipped corpus, plus each ``--corpus DIR``; an empty
    ``--corpus ''`` leaves the shipped corpus out (alone: no corpus at all)."""
    given = given or []
    shipped = shipped_corpus()
    dirs = [] if "" in given or shipped is None else [shipped]
    return dirs + [d for d in given if d and d not in dirs]


def regression_dirs(corpus: list[str]) -> list[str]:
    """Where kept findings live: ``regressions/`` under each corpus directory."""
    return [r for d in corpus if os.path.isdir(r := os.path.join(d, "regressions"))]
