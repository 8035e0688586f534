"""Trace mutation: new traces from the corpus, as libFuzzer makes inputs from its seed corpus.

A mutant is a corpus trace with 1–6 stacked edits: delete a span of ops, duplicate an op, copy
an op or a span in from another corpus trace (splice), swap neighbours, change one field of an
op to another value its config allows, or change the VM (list registers, vcpus).  Mutants are
ordinary ``Trace`` values: every op is executable in every state (a misplaced one is a recorded
no-op), so any mutant can be run, shrunk and exported like a generated trace.

Why it is here: the Hypothesis machine draws ops one at a time, and some bugs need several
coordinated guest steps (acknowledge on one vcpu and deactivate on another, EOImode 0 with more
actives than LRs).  Corpus scenarios already hold such sequences; small edits of them reach the
neighbouring states where the bugs are.  Deterministic for a given ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs

from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.fields import Index, domain_of

#: the fresh op each op kind starts from when one is inserted from nothing
_TEMPLATES: tuple[O.Op, ...] = tuple(cls(vcpu=0) for cls in O.OP_CLASSES)


def _field_choices(op: O.Op, name: str, config: Config, pool: dict[str, set[object]]) -> list[object]:
    """The values ``op.name`` may take in a trace of ``config``: its domain's neighbours
    (``model/vocab/fields.py``) and, for most fields, the values the corpus uses for it."""
    return domain_of(type(op), name).mutants(getattr(op, name), config, pool.get(name, ()))


def _evolve(op: O.Op, **changes: object) -> O.Op | None:
    try:
        return attrs.evolve(op, **changes)
    except (TypeError, ValueError):
        return None


def _fit(op: O.Op, config: Config, rng: random.Random) -> O.Op | None:
    """``op`` renumbered into ``config`` (a vcpu, pCPU or target vcpu the config lacks is redrawn)."""
    changes: dict[str, object] = {}
    for f in attrs.fields(type(op)):
        dom = f.metadata["domain"]
        if isinstance(dom, Index) and not dom.fits(getattr(op, f.name), config):
            changes[f.name] = rng.randrange(getattr(config, dom.of))
    return _evolve(op, **changes) if changes else op


@attrs.define
class Mutator:
    """Makes mutants of a corpus.  ``pool`` holds, per field name, every value the corpus uses."""

    corpus: Sequence[Trace]
    rng: random.Random
    max_ops: int = 64
    #: list registers every mutant keeps (``hvfuzz fuzz --nr-lrs``); None lets mutation change them
    fixed_nr_lrs: int | None = None
    pool: dict[str, set[object]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if not self.corpus:
            raise ValueError("mutation needs a non-empty corpus")
        self.pool = {}
        for t in self.corpus:
            for op in t.ops:
                for f in attrs.fields(type(op)):
                    self.pool.setdefault(f.name, set()).add(getattr(op, f.name))

    def mutant(self) -> Trace:
        t = self.rng.choice(self.corpus)
        for _ in range(self.rng.choice((1, 1, 2, 2, 3, 4, 6))):
            t = self.mutate(t)
        return t

    def mutate(self, t: Trace) -> Trace:
        """``t`` with one random edit (``t`` itself when the edit does not apply)."""
        rng = self.rng
        ops = list(t.ops)
        kind = rng.choice(("field", "field", "field", "delete", "delete", "duplicate", "insert",
                           "splice", "swap", "config"))
        if kind == "config":
            return self._mutate_config(t)
        if kind in ("insert", "splice") or not ops:
            donor = rng.choice(self.corpus).ops
            if kind == "splice" and donor:
                i = rng.randrange(len(donor))
                span = donor[i:i + rng.choice((1, 2, 3, 4, 6))]
            else:
                span = (rng.choice(donor) if donor and rng.random() < 0.7 else rng.choice(_TEMPLATES),)
            fitted = [f for f in (_fit(op, t.config, rng) for op in span) if f is not None]
            at = rng.randrange(len(ops) + 1)
            ops[at:at] = fitted
        elif kind == "delete":
            i = rng.randrange(len(ops))
            del ops[i:i + rng.choice((1, 1, 2, 3))]
        elif kind == "duplicate":
            i = rng.randrange(len(ops))
            ops.insert(rng.randrange(len(ops) + 1), ops[i])
        elif kind == "swap" and len(ops) > 1:
            i = rng.randrange(len(ops) - 1)
            ops[i], ops[i + 1] = ops[i + 1], ops[i]
        else:
            i = rng.randrange(len(ops))
            changed = self._mutate_field(ops[i], t.config)
            if changed is not None:
                ops[i] = changed
        return t.replace_ops(ops[: self.max_ops])

    def _mutate_field(self, op: O.Op, config: Config) -> O.Op | None:
        fields = [f.name for f in attrs.fields(type(op))]
        name = self.rng.choice(fields)
        choices = [c for c in _field_choices(op, name, config, self.pool) if c != getattr(op, name)]
        if not choices:
            return None
        return _evolve(op, **{name: self.rng.choice(choices)})

    def _mutate_config(self, t: Trace) -> Trace:
        c = t.config
        rng = self.rng
        what = rng.choice(("nr_lrs", "nr_lrs", "vcpus", "pcpus"))
        if what == "nr_lrs":
            if self.fixed_nr_lrs is not None:
                return t
            cfg = attrs.evolve(c, nr_lrs=rng.choice([n for n in (1, 2, 3, 4) if n != c.nr_lrs]))
            return Trace(cfg, t.ops)
        n = getattr(c, what)
        if n >= 4:
            return t
        return Trace(attrs.evolve(c, **{what: n + 1}), t.ops)
