"""``GuestModel``: what the guest's own GIC driver knows, kept by the generator from the ops it
issues and the IAR results it observes — never from the oracles (ArchGic) or the model.

Per vcpu: the acknowledged interrupts whose priority has not been dropped (INTID, group, and the
group priority the driver acknowledged it at), EOImode and the binary points it wrote.  Per
interrupt: what the driver configured (enabled, priority, group, trigger, SPI target) and
whether it holds it active (acknowledged, not yet deactivated).  And, because the fuzzer is the
devices as well as the guest, what it raised and has not seen taken: an edge latched until the
acknowledge, a level line held high.  An edge raised while the interrupt is still pending and its
vcpu runs may land after the acknowledge (nothing orders the two), so it keeps the interrupt
pending past that acknowledge, until the vcpu's next entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.obs import Observation

NR_PRIVATE = 32
NR_SPIS = 32
SPURIOUS = 1023


def intid_of(value: int) -> int:
    """The INTID of a value the guest read from IAR (or writes to EOIR/DIR): a GICv2 SGI's carries
    the source CPU in [12:10] (values 1024-8191 are nothing else: LPIs start at 8192)."""
    if 1024 <= value < 8192 and value & 0x3FF < 16:
        return value & 0x3FF
    return value


@attrs.define(slots=True)
class IrqKnowledge:
    """One interrupt as the guest configured, raised and handled it."""

    intid: int
    target: int = 0
    enabled: bool = False
    prio: int = 0xA0
    group: int = 1
    level: bool = False
    #: an edge the fuzzer raised, not taken yet
    edge: bool = False
    #: the level line the fuzzer drives
    line: bool = False
    active: bool = False
    #: the IAR value it was acknowledged with (a GICv2 SGI's carries its source CPU)
    ack_value: int = 0

    @property
    def pending(self) -> bool:
        return self.edge or (self.level and self.line)


@attrs.define(slots=True)
class CpuKnowledge:
    """One vcpu's CPU interface as its driver programmed and used it."""

    pre: int
    eoimode: bool = False
    bpr0: int = 0
    bpr1: int = 0
    #: (INTID, group, group priority at the acknowledge), innermost last (EOIs nest LIFO)
    acks: list[tuple[int, int, int]] = attrs.Factory(list)
    #: the acks entries that are restored handlers (made active by ISACTIVER, their priority
    #: written to ICC_AP1R<n>), by INTID; and the one the next APR write restores
    restored: set[int] = attrs.Factory(set)
    restoring: tuple[int, int, int] | None = None

    def __attrs_post_init__(self) -> None:
        self.bpr0, self.bpr1 = 7 - self.pre, 8 - self.pre

    @property
    def ack_stack(self) -> list[tuple[int, int]]:
        return [(i, g) for i, g, _ in self.acks]

    def gmask(self, g: int) -> int:
        """The group-priority mask the binary point gives (BPR0: bits [7:b+1], BPR1: [7:b])."""
        return (0xFF << (self.bpr0 + 1)) & 0xFF if g == 0 else (0xFF << self.bpr1) & 0xFF

    def active_priorities(self) -> bool:
        """Whether some acknowledged interrupt's priority is not dropped yet."""
        return bool(self.acks)


class GuestModel:
    """The guest's GIC knowledge for a VM of ``vcpus`` vcpus with ``pri_bits`` priority bits."""

    def __init__(self, vcpus: int, pri_bits: int) -> None:
        self.pmask = (0xFF << (8 - pri_bits)) & 0xFF
        self.cpus = [CpuKnowledge(min(pri_bits, 7)) for _ in range(vcpus)]
        self.private = [[IrqKnowledge(i, v) for i in range(NR_PRIVATE)] for v in range(vcpus)]  # (intid, target)
        self.spis = [IrqKnowledge(NR_PRIVATE + i) for i in range(NR_SPIS)]
        #: (vcpu, INTID) of edges that may land after the acknowledge (see the module docstring)
        self.late_edges: set[tuple[int, int]] = set()
        #: the INTID the last IAR read returned
        self.last_iar = SPURIOUS
        #: an EOI that was not of the innermost acknowledge was issued (G1 broken)
        self.out_of_order = False
        #: the LPIs the fuzzer's MSIs named (mapped at the first: target, priority, group 1, enabled)
        self.lpis: dict[int, IrqKnowledge] = {}
        #: per vcpu: a distributor write its guest made, done when the host has handled the exit
        self.mmio: list[O.GuestGicWrite | None] = [None] * vcpus
        #: vcpus whose timer fired (its PPI is HW-mapped: userspace cannot write its active state)
        self.timer_fired: set[int] = set()
        #: SPI -> the vcpu an IROUTER write moved it from, until that vcpu next leaves the guest:
        #: until then which CPU interface an ISACTIVER makes it active for is not settled (the
        #: routing takes effect within a window), so the guest restores no handler for it
        self.moving: dict[int, int] = {}
        self._was_in_guest: set[int] = set()

    def irq(self, vcpu: int, intid: int) -> IrqKnowledge | None:
        if intid < NR_PRIVATE:
            return self.private[vcpu][intid]
        if intid < NR_PRIVATE + NR_SPIS:
            return self.spis[intid - NR_PRIVATE]
        return self.lpis.get(intid)

    def ack_stack(self, vcpu: int) -> list[tuple[int, int]]:
        return self.cpus[vcpu].ack_stack

    def eoimode(self, vcpu: int) -> bool:
        return self.cpus[vcpu].eoimode

    def active_spis(self) -> list[IrqKnowledge]:
        return [i for i in self.spis if i.active]

    def active_of(self, vcpu: int) -> list[int]:
        """What the guest writes to DIR for each interrupt it holds active on ``vcpu`` (the IAR
        value: the INTID, with a GICv2 SGI's source): its SGIs/PPIs, then every SPI."""
        return [i.ack_value for i in self.private[vcpu] if i.active] + [i.intid for i in self.spis if i.active]

    # --- learning --------------------------------------------------------------------------------
    def after(self, op: O.Op, obs: list[Observation], in_guest: list[int]) -> None:
        """Learn from ``op`` (its observations ``obs``; ``in_guest``: the vcpus in the guest after it)."""
        left = self._was_in_guest - set(in_guest)
        self._was_in_guest = set(in_guest)
        if left and self.moving:
            self.moving = {k: u for k, u in self.moving.items() if u not in left}
        cls = type(op)
        if cls is O.GuestAck or isinstance(op, O.GuestAck):
            # what the read returned (an IAR that did not apply reads as 0)
            self.last_iar = obs[-1][3]
        if not obs[0][3]:
            return
        learn = _LEARN.get(cls, _MISSING)
        if learn is _MISSING:  # an op class declared after this module was loaded
            learn = _learner(cls)
        if learn is not None:
            learn(self, op, obs, in_guest)

    # --- one learner per op kind (``_LEARN``) ----------------------------------------------------
    def _on_enter(self, op: O.Op, obs: list[Observation], in_guest: list[int]) -> None:
        v = op.vcpu
        if v in in_guest:
            self.late_edges = {e for e in self.late_edges if e[0] != v}

    def _on_ack(self, op: O.GuestAck, obs: list[Observation], in_guest: list[int]) -> None:
        self._ack(op.vcpu, op.group, self.last_iar)

    def _on_eoi(self, op: O.GuestEoi, obs: list[Observation], in_guest: list[int]) -> None:
        self._eoi(op.vcpu, op.group, op.intid)

    def _on_dir(self, op: O.GuestDir, obs: list[Observation], in_guest: list[int]) -> None:
        v = op.vcpu
        i = self.irq(v, intid_of(op.intid))
        if i is not None and op.intid < 1020 and self.cpus[v].eoimode:
            i.active = False

    def _on_bpr(self, op: O.GuestSetBpr, obs: list[Observation], in_guest: list[int]) -> None:
        self._set_bpr(op.vcpu, op.group, op.value)

    def _on_eoimode(self, op: O.GuestSetEoiMode, obs: list[Observation], in_guest: list[int]) -> None:
        self.cpus[op.vcpu].eoimode = op.eoimode

    def _on_inject(self, op: O.InjectIrq, obs: list[Observation], in_guest: list[int]) -> None:
        self._raise(op.vcpu, op.intid, op.level, in_guest)

    def _on_sgi(self, op: O.InjectSgi, obs: list[Observation], in_guest: list[int]) -> None:
        self._raise(op.vcpu, op.intid, True, in_guest)

    def _on_config(self, op: O.ConfigIrq, obs: list[Observation], in_guest: list[int]) -> None:
        self._configure(op)

    def _on_timer(self, op: O.TimerFire, obs: list[Observation], in_guest: list[int]) -> None:
        v = op.vcpu
        if self.private[v][O.VTIMER_PPI].level:
            self.timer_fired.add(v)
        self.private[v][O.VTIMER_PPI].line = True  # the timer stays expired: its level line is high

    def _on_guest_gic_write(self, op: O.GuestGicWrite, obs: list[Observation], in_guest: list[int]) -> None:
        self.mmio[op.vcpu] = op  # the store completes when the host has emulated it

    def _on_handle_exit(self, op: O.HandleExit, obs: list[Observation], in_guest: list[int]) -> None:
        v = op.vcpu
        if self.mmio[v] is None:
            return
        gw, self.mmio[v] = self.mmio[v], None
        if not any(o[0] == "run-loop-pstate" and isinstance(o[3], int) and o[3] & 0x10 for o in obs):
            self._gic_write(gw, in_guest, uaccess=False)

    def _on_user_gic_write(self, op: O.UserGicWrite, obs: list[Observation], in_guest: list[int]) -> None:
        self._gic_write(op, in_guest, uaccess=True)

    def _on_apr(self, op: O.GuestSetApr, obs: list[Observation], in_guest: list[int]) -> None:
        c = self.cpus[op.vcpu]
        if c.restoring is not None:
            c.acks.insert(0, c.restoring)
            c.restored.add(c.restoring[0])
            c.restoring = None

    def _on_msi(self, op: O.InjectMsi, obs: list[Observation], in_guest: list[int]) -> None:
        v = op.vcpu
        i = self.lpis.get(op.intid)
        if i is None:
            i = self.lpis[op.intid] = IrqKnowledge(op.intid, target=v, enabled=True,
                                                   prio=op.priority & self.pmask, group=1)
        if i.pending and not i.active and i.target in in_guest:
            self.late_edges.add((i.target, op.intid))
        i.edge = True

    def _gic_write(self, op: O.GuestGicWrite | O.UserGicWrite, in_guest: list[int], uaccess: bool) -> None:
        """A distributor/redistributor bit written: active set/cleared, the pending latch set (an
        edge, for a level interrupt too) or cleared (never the line), an SPI rerouted."""
        i = self.irq(op.vcpu, op.intid)
        if i is None:
            return
        if op.reg in ("ISACTIVER", "ICACTIVER"):
            if not (uaccess and op.intid == O.VTIMER_PPI and op.vcpu in self.timer_fired):
                i.active = op.reg == "ISACTIVER"
        elif op.reg == "ISPENDR":
            if i.pending and not i.active and i.target in in_guest:
                self.late_edges.add((i.target, op.intid))
            i.edge = True
        elif op.reg == "ICPENDR":
            i.edge = False
            self.late_edges.discard((i.target, op.intid))
        elif op.intid >= NR_PRIVATE:
            if op.target != i.target and op.intid not in self.moving:
                self.moving[op.intid] = i.target
            i.target = op.target
            if self.moving.get(op.intid) == op.target:
                del self.moving[op.intid]

    def _ack(self, v: int, g: int, value: int) -> None:
        intid = intid_of(value)
        i = self.irq(v, intid)
        if intid == SPURIOUS or i is None:
            return
        c = self.cpus[v]
        i.edge = (i.target, intid) in self.late_edges
        self.late_edges.discard((i.target, intid))
        i.active = True
        i.ack_value = value
        c.acks.append((value, g, i.prio & c.gmask(g)))

    def _eoi(self, v: int, g: int, intid: int) -> None:
        """The generator only ends the innermost handler (G1), so the priority dropped is the
        one that interrupt was acknowledged at; in EOImode 0 that also deactivates it, if it
        still has that group priority and group."""
        c = self.cpus[v]
        if 1020 <= intid <= 1023 or not c.acks:
            return
        top, tg, gprio = c.acks[-1]
        if (top, tg) != (intid, g):
            self.out_of_order = True  # the generator never does this (tests/test_generate.py)
            return
        c.acks.pop()
        c.restored.discard(intid_of(intid))
        i = self.irq(v, intid_of(intid))
        if i is not None and i.active and (not c.eoimode or intid >= 8192) and i.group == g \
                and (i.prio & c.gmask(g)) == gprio:
            i.active = False  # a vLPI is deactivated by its EOI whatever EOImode

    def _set_bpr(self, v: int, g: int, value: int) -> None:
        c = self.cpus[v]
        if g == 0:
            c.bpr0 = max(value & 7, 7 - c.pre)
        else:
            c.bpr1 = max(value & 7, 8 - c.pre)

    def _raise(self, v: int, intid: int, level: bool, in_guest: list[int]) -> None:
        i = self.irq(v, intid)
        if i is None:
            return
        if i.level:
            i.line = level
        elif level:
            if i.pending and not i.active and i.target in in_guest:
                self.late_edges.add((i.target, intid))
            i.edge = True

    def _configure(self, op: O.ConfigIrq) -> None:
        i = self.irq(op.vcpu, op.intid)
        if i is None:
            return
        i.enabled, i.prio, i.group = op.enabled, op.priority & self.pmask, op.group
        if op.intid >= 16:
            i.level = op.level
        if op.intid >= NR_PRIVATE:
            i.target = op.target


Learner = Callable[[GuestModel, Any, list[Observation], list[int]], None]
#: the op kinds the guest model learns from, each with its learner, in the order an op is matched
#: against them (the first kind it is an instance of)
_KINDS: tuple[tuple[type[O.Op], Learner], ...] = (
    (O.GuestEnter, GuestModel._on_enter), (O.GuestAck, GuestModel._on_ack), (O.GuestEoi, GuestModel._on_eoi),
    (O.GuestDir, GuestModel._on_dir), (O.GuestSetBpr, GuestModel._on_bpr),
    (O.GuestSetEoiMode, GuestModel._on_eoimode), (O.InjectIrq, GuestModel._on_inject),
    (O.InjectSgi, GuestModel._on_sgi), (O.ConfigIrq, GuestModel._on_config), (O.TimerFire, GuestModel._on_timer),
    (O.GuestGicWrite, GuestModel._on_guest_gic_write), (O.HandleExit, GuestModel._on_handle_exit),
    (O.UserGicWrite, GuestModel._on_user_gic_write), (O.GuestSetApr, GuestModel._on_apr),
    (O.InjectMsi, GuestModel._on_msi),
)
_MISSING: Any = object()


def _learner(cls: type) -> Learner | None:
    """The learner of an op class: the first of ``_KINDS`` it is a subclass of (None: nothing to learn)."""
    return next((f for k, f in _KINDS if issubclass(cls, k)), None)


#: the learner of every op class, looked up by the op's exact class (``GuestModel.after``)
_LEARN: dict[type, Learner | None] = {cls: _learner(cls) for cls in O.OP_CLASSES}
