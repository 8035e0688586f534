"""What a move sees (``View``) and how its ops run (``Driver``): the vcpu threads by run-loop
phase, the gating flags of the variant, the guest's GIC knowledge, and one ``do(op)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import attrs

from hvfuzz.fuzz.gen.choosers import Weights
from hvfuzz.fuzz.gen.guest import GuestModel
from hvfuzz.fuzz.runner import Execution, Verdict
from hvfuzz.fuzz.trace import Trace
from hvfuzz.model.pkvm.state import Phase
from hvfuzz.model.variants import Variant
from hvfuzz.model.vocab import ops as O


@attrs.frozen
class Gates:
    """Which op families a variant is fuzzed with: a bug or seed variant gets the ops of its
    component, correct ones get all."""

    regs_on: bool
    gic_on: bool
    psci_on: bool
    #: the variant emulates the PMU (its overflow interrupt can be raised)
    pmu: bool
    #: the component whose ops a bug or seed variant gets (None: every component's)
    component: str | None = None

    def allows(self, components: frozenset[str]) -> bool:
        """Whether an op of ``components`` is generated for this variant."""
        return self.component is None or self.component in components

    @classmethod
    def of(cls, var: Variant | str) -> Gates:
        """The gates of ``var`` (a ``Variant``, or the name of a builtin one)."""
        if isinstance(var, str):
            from hvfuzz.model.variants import BUILTIN

            var = BUILTIN[var]
        every = var.kind in ("correct", "reference")
        return cls(regs_on=every or var.component != "vgic", gic_on=every or var.component == "vgic",
                   psci_on=every or var.component == "psci", pmu=var.pmu_emulation,
                   component=None if every else var.component)


@attrs.define
class View:
    """The state a move's ``enabled`` and ``run`` read; ``do(op)`` runs an op and refreshes it."""

    gates: Gates
    nr_vcpus: int
    #: the guest OS's GIC driver uses one EOImode on every CPU (Linux in a VM: EOImode 1)
    split_eoi: bool
    #: the few interrupts this example works with, so that they meet in the ap_list and the LRs
    pool: Weights[int]
    gm: GuestModel
    do: Callable[[O.Op], None]
    out: list[int] = attrs.Factory(list)
    p0: list[int] = attrs.Factory(list)  # top of the run loop, scheduled
    p1: list[int] = attrs.Factory(list)  # exit pending, scheduled
    guest: list[int] = attrs.Factory(list)
    preempted: list[int] = attrs.Factory(list)  # P0/P1, not scheduled
    blocked: list[int] = attrs.Factory(list)  # asleep in kvm_vcpu_sleep (powered off)
    free_pcpus: list[int] = attrs.Factory(list)
    all_vcpus: list[int] = attrs.Factory(list)
    #: where each vcpu thread is, as the ops' ``requires`` speak of it (``System.where``)
    where: list[O.Where] = attrs.Factory(list)
    nr_pcpus: int = 1
    #: vcpus whose GIC driver has initialised the CPU interface
    booted: set[int] = attrs.Factory(set)
    #: the state the moves' ``enabled`` predicates read besides the gates and the VM's shape
    #: (``Driver.refresh``): a predicate must be a function of these alone (``decode.execute``
    #: caches the enabled moves by it)
    key: tuple[object, ...] = ()


class Stop(Exception):
    """Generation ends: an op failed an oracle (``verdict``)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def _stop(trace: Trace, verdict: Verdict) -> NoReturn:
    raise Stop(verdict)


class Driver:
    """Runs the moves' ops on an ``Execution`` and keeps the ``View`` current.  A failing op is
    handed to ``on_violation`` (which must raise; by default ``Stop``)."""

    def __init__(self, ex: Execution, gates: Gates, split_eoi: bool, pool: Weights[int],
                 on_violation: Callable[[Trace, Verdict], NoReturn] = _stop,
                 before_op: Callable[[], None] | None = None,
                 after_op: Callable[[], None] | None = None) -> None:
        self.ex = ex
        self.ops: list[O.Op] = []
        self.on_violation = on_violation
        self.before_op = before_op
        self.after_op = after_op
        cfg = ex.config
        self.view = View(gates, cfg.vcpus, split_eoi, pool, GuestModel(cfg.vcpus, cfg.pri_bits), self.do)
        self.refresh()

    def do(self, op: O.Op) -> None:
        self.ops.append(op)
        if self.before_op is not None:
            self.before_op()
        v = self.ex.step(op)
        if self.after_op is not None:
            self.after_op()
        if v is not None:
            self.on_violation(Trace(self.ex.config, tuple(self.ops)), v)
        self.refresh()
        self.view.gm.after(op, self.ex.sut.last_observations, self.view.guest)

    def refresh(self) -> None:
        """Where each vcpu thread is, as the VMM and the scheduler know it (``System.where``,
        inlined: this runs after every op)."""
        w, ref = self.view, self.ex.ref
        out: list[int] = []
        p0: list[int] = []
        p1: list[int] = []
        guest: list[int] = []
        preempted: list[int] = []
        blocked: list[int] = []
        where: list[O.Where] = []
        for v in ref.vcpus:
            ph, i, pc = v.phase, v.idx, v.pcpu
            if ph is _OUT:
                where.append(_USER)
            elif ph is _GUEST:
                where.append(_W_GUEST)
            elif pc is not None:
                where.append(_RUN_LOOP if ph is _P0 else _EXIT_PENDING)
            else:
                where.append(_ASLEEP if v.sleeping else _PREEMPTED)
            if v.sleeping and v.mp_state == "STOPPED":
                blocked.append(i)
            elif ph is _OUT:
                out.append(i)
            elif ph is _GUEST:
                guest.append(i)
            elif pc is None:
                preempted.append(i)
            elif ph is _P0:
                p0.append(i)
            else:
                p1.append(i)
        w.out, w.p0, w.p1, w.guest, w.preempted, w.blocked = out, p0, p1, guest, preempted, blocked
        w.free_pcpus = [c.idx for c in ref.pcpus if c.thread is None]
        w.where = where
        if len(w.all_vcpus) != len(where):
            w.all_vcpus = list(range(len(where)))
            w.nr_pcpus = len(ref.pcpus)
        #: what every move's ``enabled`` reads besides the constant gates (``decode.execute``'s cache key)
        w.key = (tuple(where), len(out), len(p0), len(p1), len(guest), len(preempted), len(blocked),
                 len(w.free_pcpus))


_OUT, _GUEST, _P0 = Phase.OUT, Phase.GUEST, Phase.P0
_USER, _W_GUEST, _RUN_LOOP, _EXIT_PENDING, _ASLEEP, _PREEMPTED = (
    O.Where.USER, O.Where.GUEST, O.Where.RUN_LOOP, O.Where.EXIT_PENDING, O.Where.ASLEEP, O.Where.PREEMPTED)
