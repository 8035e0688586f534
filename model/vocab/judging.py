"""What every judge shares: the ``Step`` it is shown, the ``Failure`` it reports, and the two
interfaces of the chain.

* ``Oracle``: judged from the ops and the observations only (the differential comparison, the
  architectural models ``ArchGic``/``ArchPsci``).  ``after(step)`` checks the step and advances the
  oracle's own state; ``state_key(intids)`` is that state, for the exhaustive search's state key.
* ``Invariant``: white-box, lives beside the model code it checks (``model/*/invariants.py``) and
  reads a ``System``: ``after(step, system)``.  It has a ``state_key`` too (stateless ones return
  ``()``), so that nothing in the chain can be left out of the search key.

Part of the vocabulary (``model/vocab``): the white-box invariants beside the model code and the
judges in ``oracles/`` both speak it, and it imports nothing else of hvfuzz.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from hvfuzz.model.vocab.obs import Observation
from hvfuzz.model.vocab.ops import Op


@attrs.frozen
class Failure:
    """One oracle violated: its name, the vcpu, a one-line reason and what each side saw."""

    oracle: str
    vcpu: int | None
    reason: str
    variant_saw: Any = None
    reference_saw: Any = None


@attrs.frozen(slots=True)
class Step:
    """One executed op as the judges see it: its index in the trace (0-based), the op, whether it
    applied (in the variant), and the observations of the variant and of the reference."""

    index: int
    op: Op
    applied: bool
    sut_obs: list[Observation]
    ref_obs: list[Observation]


class Oracle(Protocol):
    """A judge fed by ops and observations."""

    def after(self, step: Step) -> Failure | None: ...

    def state_key(self, intids: tuple[int, ...]) -> object:
        """Everything the oracle's future verdicts depend on.  ``intids``: the interrupts the ops
        of the search can name (the others keep their reset state and may be left out)."""
        ...


class Invariant(Protocol):
    """A white-box check of one system (the variant's or the reference's)."""

    def applies(self, system: Any) -> bool:
        """Whether the invariant concerns ``system`` at all (pKVM's hyp vcpus: only under pKVM);
        the chain leaves it out for a system it does not concern."""
        ...

    def after(self, step: Step, system: Any) -> Failure | None: ...

    def state_key(self, intids: tuple[int, ...]) -> object: ...


def last_of(obs: list[Observation], kind: str, vcpu: int) -> Any:
    """The value of the last observation of ``kind`` about ``vcpu`` (None if there is none)."""
    for o in reversed(obs):
        if o[0] == kind and o[1] == vcpu:
            return o[3]
    return None


def has(obs: list[Observation], kind: str, vcpu: int) -> bool:
    for o in obs:
        if o[0] == kind and o[1] == vcpu:
            return True
    return False
