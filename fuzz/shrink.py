"""One shrinker for every finding (Hypothesis, imported traces, corpus): reduce a failing trace
while it keeps the same failure signature (the oracle that fails).

Passes, repeated until nothing changes: delete chunks of ops (ddmin-style, halving chunk sizes
down to single ops); delete every op of one interrupt or one vcpu at once; move one op or two
neighbours earlier when that lets more be deleted; simplify op fields towards their defaults
(each field's domain lists its simpler values: values to 0/1, registers to x0, exit kinds to
``irq``, no SError-pending);
then shrink the VM (fewer vcpus and pcpus when no op uses them, non-protected, fewer list
registers, 5 priority bits) and renumber vcpus, pCPUs and interrupts to the smallest numbers.
Every candidate is judged by ``runner.run``.

When those passes are done, a breadth-first search (``fuzz.exhaustive``) over the trace's own ops
plus the small alphabet of its component looks for a shorter trace failing the same oracle, within
an execution budget.  That finds what deletion and local moves cannot (a different interleaving,
another op in place of two), and it makes the shrunk length the bounded-exhaustive minimum over
that alphabet whenever the search completes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from hvfuzz.fuzz.runner import Verdict, run
from hvfuzz.fuzz.trace import Trace
from hvfuzz.model.vocab import ops as O

Predicate = Callable[[Trace], bool]


def same_failure(oracle: str) -> Predicate:
    def pred(t: Trace) -> bool:
        v = run(t)
        return not v.ok and v.oracle == oracle

    return pred


#: the final breadth-first searches run on traces up to this long: over the trace's own ops, and
#: with the component's alphabet too up to the length given per component (deeper searches do
#: not complete within the budget: measured on the catalog's repros, a vgic search of a 10-op
#: trace spends 12 s for nothing, a PSCI one takes psci-no-stage2-unmap from 11 ops to 9 in 1 s)
SEARCH_MAX_LENGTH = 11
WIDE_SEARCH_MAX_LENGTH = {"pkvm": 9, "vgic": 9, "psci": 11}


def shrink(trace: Trace, verdict: Verdict | None = None, max_runs: int = 20000,
           search_budget: int = 40000) -> Trace:
    """The smallest trace this can find that fails with the same oracle as ``trace``.
    ``search_budget``: ops the final breadth-first search may execute (0: no search)."""
    verdict = verdict or run(trace)
    if verdict.ok:
        return trace
    assert verdict.oracle is not None and verdict.step is not None
    pred = same_failure(verdict.oracle)
    budget = [max_runs]

    def test(t: Trace) -> bool:
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        return pred(t)

    best = trace.replace_ops(trace.ops[: verdict.step + 1])  # nothing after the failure matters
    while True:
        before = best
        best = _delete_chunks(best, test)
        best = _delete_related(best, test)
        best = _hoist(best, test)
        best = _simplify_fields(best, test)
        best = _shrink_config(best, test)
        if best == before:
            shorter = best
            if search_budget and len(best.ops) <= SEARCH_MAX_LENGTH:
                shorter = _breadth_first(best, verdict.oracle, search_budget)
            if shorter == best:
                return best
            best = shorter
        if budget[0] <= 0:
            return best


def _breadth_first(t: Trace, oracle: str, max_executions: int) -> Trace:
    """The shortest trace failing ``oracle`` over the trace's own ops, then over those and its
    component's alphabet (``fuzz.exhaustive``), if a search finds one shorter than ``t`` within
    its budget.  The first search is cheap (a handful of ops) and reaches deeper; the second
    finds traces that need an op the finding does not have."""
    from hvfuzz.fuzz.exhaustive import ALPHABETS, explore
    component = t.config.variant_def.component
    own = tuple(dict.fromkeys(t.ops))
    wide = tuple(dict.fromkeys(own + ALPHABETS[component].ops_of(t.config)))
    for alphabet in (own, wide) if len(t.ops) <= WIDE_SEARCH_MAX_LENGTH[component] else (own,):
        res = explore(t.config, alphabet, len(t.ops) - 1, oracle=oracle, max_executions=max_executions)
        hit = res.counterexamples.get(oracle)
        if hit is not None and len(hit[0].ops) < len(t.ops):
            return hit[0]
    return t


def _delete_chunks(t: Trace, test: Predicate) -> Trace:
    n = len(t.ops)
    size = max(1, n // 2)
    while size >= 1:
        i = 0
        while i < len(t.ops):
            cand = t.replace_ops(t.ops[:i] + t.ops[i + size:])
            if cand.ops != t.ops and test(cand):
                t = cand
            else:
                i += size
        size //= 2
    return t


def _delete_related(t: Trace, test: Predicate) -> Trace:
    """Delete every op of one interrupt at once (its configuration, injections, EOIs and DIRs),
    alone and together with one acknowledge (the acknowledge that returned it carries no INTID);
    then every op of one vcpu.  Chunk deletion cannot do this when the ops are spread out."""
    def groups(t: Trace) -> list[tuple[int, ...]]:
        by_key: dict[tuple[str, int], list[int]] = {}
        for i, op in enumerate(t.ops):
            intid = getattr(op, "intid", None)
            if intid is not None:
                by_key.setdefault(("intid", intid), []).append(i)
            by_key.setdefault(("vcpu", op.vcpu), []).append(i)
        acks = [i for i, op in enumerate(t.ops) if isinstance(op, O.GuestAck)]
        out: list[tuple[int, ...]] = []
        for (kind, _), idx in by_key.items():
            out.append(tuple(idx))
            if kind == "intid":
                out += [tuple(sorted(idx + [a])) for a in acks]
        return out

    changed = True
    while changed:
        changed = False
        for g in groups(t):
            drop = set(g)
            cand = t.replace_ops([op for i, op in enumerate(t.ops) if i not in drop])
            if cand.ops and test(cand):
                t, changed = cand, True
                break
    return t


def _hoist(t: Trace, test: Predicate) -> Trace:
    """Move one op, or two neighbours (an interrupt's configuration and injection), earlier when
    that lets deletion remove more: an injection moved before the first entry spares the exit
    and re-entry that brought it into the LRs.  A move is kept only if the trace then gets
    shorter, so this terminates."""
    for width in (1, 2):
        i = 1
        while i + width <= len(t.ops):
            for j in range(i):
                ops = list(t.ops)
                block = ops[i:i + width]
                del ops[i:i + width]
                ops[j:j] = block
                cand = t.replace_ops(ops)
                if cand.ops == t.ops or not test(cand):
                    continue
                shorter = _delete_chunks(cand, test)
                if len(shorter.ops) < len(t.ops):
                    t = shorter
                    i = 0
                    break
            i += 1
    return t


def _candidates(op: O.Op) -> Iterator[O.Op]:
    """``op`` with one field set to a simpler value of its domain (``Domain.shrink_to``, simplest
    first; none once the field holds one of them)."""
    for f in attrs.fields(type(op)):
        for simpler in f.metadata["domain"].shrink_to:
            if getattr(op, f.name) == simpler:
                break
            try:
                yield attrs.evolve(op, **{f.name: simpler})
            except (TypeError, ValueError):
                continue


def _simplify_fields(t: Trace, test: Predicate) -> Trace:
    for i in range(len(t.ops)):
        for cand_op in _candidates(t.ops[i]):
            cand = t.replace_ops(t.ops[:i] + (cand_op,) + t.ops[i + 1:])
            if test(cand):
                t = cand
                break
    return t


def _renumber(t: Trace, test: Predicate) -> Trace:
    """Rename the vcpus (and pCPUs) the trace uses to 0, 1, ... in order of first use."""
    for field in ("vcpu", "pcpu"):
        order: dict[int, int] = {}
        for op in t.ops:
            if hasattr(op, field):
                order.setdefault(getattr(op, field), len(order))
        if all(k == v for k, v in order.items()):
            continue
        ops = tuple(attrs.evolve(op, **{field: order[getattr(op, field)]}) if hasattr(op, field) else op
                    for op in t.ops)
        cand = t.replace_ops(ops)
        if test(cand):
            t = cand
    return t


#: the INTID ranges a renumbering stays within: SGIs, PPIs, SPIs
_INTID_CLASSES = ((0, 16), (16, 32), (32, 64))


def _renumber_intids(t: Trace, test: Predicate) -> Trace:
    """Rename the interrupts to the smallest INTIDs of their class (SGI, PPI, SPI), in order of
    first use: INTID 35 alone becomes 32."""
    mapping: dict[int, int] = {}
    for op in t.ops:
        intid = getattr(op, "intid", None)
        if intid is None or intid in mapping:
            continue
        for lo, hi in _INTID_CLASSES:
            if lo <= intid < hi:
                mapping[intid] = lo + sum(1 for k in mapping if lo <= k < hi)
    if all(k == v for k, v in mapping.items()):
        return t
    cand = t.replace_ops(tuple(attrs.evolve(op, intid=mapping.get(op.intid, op.intid))
                               if getattr(op, "intid", None) is not None else op for op in t.ops))
    return cand if test(cand) else t


def _shrink_config(t: Trace, test: Predicate) -> Trace:
    t = _renumber(t, test)
    t = _renumber_intids(t, test)
    c = t.config
    used_vcpus = max((op.vcpu for op in t.ops), default=0) + 1
    used_pcpus = max((getattr(op, "pcpu", 0) for op in t.ops), default=0) + 1
    changes: list[dict[str, object]] = [{"protected": False}, {"vcpus": used_vcpus}, {"pcpus": used_pcpus}]
    changes += [{"nr_lrs": n} for n in range(1, c.nr_lrs)] + [{"pri_bits": 5}]
    for change in changes:
        if change.get("nr_lrs", 0) >= c.nr_lrs:
            continue  # fewer list registers only (smallest first)
        cand_cfg = attrs.evolve(c, **change)
        if cand_cfg != c:
            cand = Trace(cand_cfg, t.ops)
            if test(cand):
                t, c = cand, cand_cfg
    return t
