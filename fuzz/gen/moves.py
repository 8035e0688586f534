"""The moves: what a generated example does next, one table for every provider.

A ``Move`` has a name (the Hypothesis rule's), an ``enabled(view)`` predicate (its precondition),
the arguments drawn before it runs (the rule's strategies, in order) and ``run(view, chooser,
**args)``, which emits ops through ``view.do``.  There are few moves, so that a uniform choice
among them (Hypothesis's, and swarm testing) does not drown the run loop in userspace ioctls:
``advance`` moves a vcpu thread along its natural path (KVM_RUN, entry, exit, exit handling,
sched-in); the others are the deviations.  Macro moves (``run_all``, interrupt bursts,
preemption chains, ...) reach the states where interrupts move between running vcpus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from hvfuzz.fuzz.gen import weights as D
from hvfuzz.fuzz.gen.choosers import Chooser, Weights, ints
from hvfuzz.fuzz.gen.view import View
from hvfuzz.model.vocab import ops as O


@attrs.frozen
class Move:
    name: str
    enabled: Callable[[View], bool]
    run: Callable[..., None]
    #: (name, domain) of the arguments drawn before ``run``, in order
    args: tuple[tuple[str, Weights[Any]], ...] = ()

    def __call__(self, w: View, ch: Chooser) -> None:
        """Draw the arguments with ``ch`` and run (the non-Hypothesis providers)."""
        self.run(w, ch, **{name: ch.choice(dom, label=name) for name, dom in self.args})


def one(ch: Chooser, lst: Sequence[int]) -> int:
    """One of ``lst`` (no choice when there is only one)."""
    return lst[ch.index(len(lst))] if len(lst) > 1 else lst[0]


def _private(v: int, intid: int) -> int:
    """The vcpu an op on ``intid`` names: its own for SGIs/PPIs, 0 for SPIs."""
    return v if intid < 32 else 0


# --- the run loop ------------------------------------------------------------------------------
def gic_boot(w: View, v: int) -> None:
    """The guest's GIC driver initialises its CPU interface once: PMR, group 1, EOImode."""
    w.booted.add(v)
    w.do(O.GuestSetPmr(v, 0xF0))
    w.do(O.GuestSetGrpEn(v, 1, True))
    if w.split_eoi:
        w.do(O.GuestSetEoiMode(v, True))


def _exit(w: View, ch: Chooser, v: int) -> None:
    kind = ch.choice(D.EXIT_KINDS, label="kind")
    serror = ch.choice(D.SERROR_PENDING, label="serror_pending")
    rt = ch.choice(D.GPR) if kind.startswith("trap") else 0
    reg = ch.choice(D.TRAPPED) if kind.startswith("trap_sysreg") else "ACTLR_EL1"
    value = ch.choice(D.VALUES) if kind in ("trap_mmio_read", "trap_mmio_user") else 0
    w.do(O.GuestExit(v, kind, serror, rt, reg, value))


def advance(w: View, ch: Chooser) -> None:
    movable = w.p0 + w.guest + w.p1
    if w.free_pcpus:
        movable += w.out + w.preempted
    v = one(ch, movable)
    if v in w.guest:
        _exit(w, ch, v)
    elif v in w.p0:
        w.do(O.GuestEnter(v))
        if w.gates.gic_on and v not in w.booted and ch.choice(D.TAKES, label="gic_boot"):
            gic_boot(w, v)
        if w.gates.gic_on:
            guest_takes_irq(w, ch, v)
    elif v in w.p1:
        w.do(O.HandleExit(v))
    elif v in w.out:
        w.do(O.KvmRun(v, one(ch, w.free_pcpus)))
    else:
        w.do(O.SchedIn(v, one(ch, w.free_pcpus)))


def _can_advance(w: View) -> bool:
    return bool((w.out and w.free_pcpus) or w.p0 or w.guest or w.p1 or (w.preempted and w.free_pcpus))


def run_all(w: View, ch: Chooser) -> None:
    """Every vcpu thread goes its natural way into the guest (the SMP guest is up): the states
    where interrupts move between running vcpus need them all in the guest."""
    for v in w.all_vcpus:
        for _ in range(4):
            if v in w.guest:
                break
            if v in w.p1:
                w.do(O.HandleExit(v))
            elif v in w.p0:
                w.do(O.GuestEnter(v))
            elif w.free_pcpus and v in w.out:
                w.do(O.KvmRun(v, one(ch, w.free_pcpus)))
            elif w.free_pcpus and v in w.preempted:
                w.do(O.SchedIn(v, one(ch, w.free_pcpus)))
            else:
                break
        if w.gates.gic_on and v in w.guest and v not in w.booted:
            gic_boot(w, v)


def guest_write_reg(w: View, ch: Chooser, reg: str) -> None:
    v = one(ch, w.guest)
    w.do(O.GuestWriteReg(v, reg, ch.choice(D.PSTATES if reg == "pstate" else D.VALUES)))


def guest_write_pstate(w: View, ch: Chooser, pstate: int) -> None:
    w.do(O.GuestWriteReg(one(ch, w.guest), "pstate", pstate))


def preempt(w: View, ch: Chooser) -> None:
    w.do(O.SchedOut(one(ch, w.p0 + w.p1)))


def exit_to_user(w: View, ch: Chooser) -> None:
    """A signal: KVM_RUN returns (KVM_EXIT_INTR), also from a thread asleep while powered off."""
    w.do(O.ExitToUser(one(ch, w.p0 + w.blocked)))


def pmu_overflow(w: View, ch: Chooser, counter: int) -> None:
    w.do(O.HostPmuOverflow(one(ch, list(range(w.nr_vcpus))), counter))


def userspace(w: View, ch: Chooser, what: str) -> None:
    v = one(ch, w.out)
    if what == "get_reg":
        w.do(O.UserGetReg(v, ch.choice(D.GET_REGS, label="reg")))
    elif what == "set_reg":
        reg = ch.choice(D.ONE_REGS, label="reg")
        w.do(O.UserSetReg(v, reg, ch.choice(D.PSTATES if reg == "pstate" else D.VALUES)))
    elif what == "inject_serror":
        w.do(O.HostInjectSError(v, ch.choice(D.SERROR_ESRS, label="esr")))
    elif what == "get_vcpu_events":
        w.do(O.UserGetVcpuEvents(v))
    else:
        w.do(O.UserSetGuestDebug(v, ch.boolean(label="single_step")))


# --- interrupts --------------------------------------------------------------------------------
def _kick(w: View, ch: Chooser, v: int) -> None:
    """``v`` takes an IRQ exit, is handled and re-enters, taking what is pending."""
    w.do(O.GuestExit(v, "irq"))
    w.do(O.HandleExit(v))
    if v in w.p0:
        w.do(O.GuestEnter(v))
        guest_takes_irq(w, ch, v)


def inject_irq(w: View, ch: Chooser, level: bool) -> None:
    """A device raises (or lowers) a line; an interrupt that is still disabled is first
    configured (enabled, priority, group, trigger, target) as a driver would."""
    intid = ch.choice(w.pool, label="intid")
    v = one(ch, w.all_vcpus) if intid < 32 else 0
    gi = w.gm.irq(v, intid)
    assert gi is not None
    if not gi.enabled and not gi.active and not gi.pending:
        trig = ch.boolean(label="level_triggered") if intid >= 16 else False
        target = one(ch, w.all_vcpus) if intid >= 32 else 0
        w.do(O.ConfigIrq(v, intid, True, ch.choice(D.PRIORITIES, label="priority"),
                         ch.choice(D.GROUPS, label="group"), trig, target))
        level = True
    w.do(O.InjectIrq(v, intid, level))
    # the injection kicks the target if it runs: it exits and re-enters (flushing the LRs)
    t = gi.target if intid >= 32 else v
    if t in w.guest and ch.choice(D.KICK, label="kick"):
        _kick(w, ch, t)


def inject_msi(w: View, ch: Chooser, prio: int) -> None:
    """A device sends an MSI naming an LPI (vgic_lpi_stress.c); the first MSI for an LPI maps it
    to a vcpu with ``prio``.  A running target is kicked: it exits and re-enters, taking it."""
    intid = ch.choice(O.LPIS[:2], label="lpi")
    gi = w.gm.irq(0, intid)
    v = gi.target if gi is not None else one(ch, w.all_vcpus)
    w.do(O.InjectMsi(v, intid, prio))
    if v in w.guest and ch.choice(D.KICK, label="kick"):
        _kick(w, ch, v)


def timer_fire(w: View, ch: Chooser) -> None:
    """The virtual timer of a vcpu expires (arch_timer.c): its PPI 27 is configured level (as KVM
    has it) first if the guest has not; a running vcpu is kicked and takes it."""
    v = one(ch, w.all_vcpus)
    gi = w.gm.irq(v, O.VTIMER_PPI)
    assert gi is not None
    if not gi.level or not gi.enabled:
        if gi.active or gi.pending:
            return
        w.do(O.ConfigIrq(v, O.VTIMER_PPI, True, ch.choice(D.PRIORITIES, label="priority"), 1, True, 0))
    w.do(O.TimerFire(v))
    if v in w.guest and ch.choice(D.KICK, label="kick"):
        _kick(w, ch, v)


def send_sgi(w: View, ch: Chooser) -> None:
    """Vcpus send one SGI to a vcpu (GICD_SGIR / ICC_SGI1R_EL1), configured first if the target's
    driver has not enabled it: on a GICv2 each sender's request is pending on its own (the SGI is
    taken once per sender, with its CPUID); a running target is kicked and takes it."""
    v = one(ch, w.all_vcpus)
    intid = ch.choice(D.SGIS, label="sgi")
    gi = w.gm.irq(v, intid)
    assert gi is not None
    if not gi.enabled and not gi.active and not gi.pending:
        w.do(O.ConfigIrq(v, intid, True, ch.choice(D.PRIORITIES, label="priority"), 1, False, 0))
    for s in range(len(w.all_vcpus)):
        if s == 0 or ch.boolean(label="another_sender"):
            w.do(O.InjectSgi(v, intid, one(ch, w.all_vcpus) if s == 0 else s))
    if v in w.guest and ch.choice(D.KICK, label="kick"):
        _kick(w, ch, v)


def interrupt_burst(w: View, ch: Chooser, n: int) -> None:
    """Several devices fire at one running vcpu at once (configured on first use and routed to
    it), which is kicked: more interrupts in flight than LRs is the common case here."""
    v = one(ch, w.guest)
    for _ in range(n):
        intid = ch.choice(w.pool, label="intid")
        gi = w.gm.irq(v, intid)
        assert gi is not None
        if not gi.enabled and not gi.active and not gi.pending:
            trig = ch.boolean(label="level_triggered") if intid >= 16 else False
            w.do(O.ConfigIrq(_private(v, intid), intid, True, ch.choice(D.PRIORITIES, label="priority"),
                             ch.choice(D.GROUPS, label="group"), trig, v))
        w.do(O.InjectIrq(_private(v, intid), intid, True))
    if v in w.guest:
        _kick(w, ch, v)


def preemption_chain(w: View, ch: Chooser, n: int, unwind: int) -> None:
    """Nested interrupts (vgic_irq.c test_inject_preemption): each new interrupt is more urgent
    than the last and preempts its handler, so actives pile up beyond the LRs; then the handlers
    return, innermost first (``unwind`` of them)."""
    v = one(ch, w.guest)
    for prio in sorted(ch.choice(D.PRIORITY_CHAINS[n], label="prios"), reverse=True):
        if v not in w.guest:
            return
        intid = ch.choice(w.pool, label="intid")
        gi = w.gm.irq(v, intid)
        assert gi is not None
        if gi.active or gi.pending:
            continue
        w.do(O.ConfigIrq(_private(v, intid), intid, True, prio, 1, False, v))
        w.do(O.InjectIrq(_private(v, intid), intid, True))
        w.do(O.GuestExit(v, "irq"))
        w.do(O.HandleExit(v))
        if v not in w.p0:
            return
        w.do(O.GuestEnter(v))
        w.do(O.GuestAck(v, 1))
    for _ in range(min(unwind, len(w.gm.ack_stack(v)))):
        if v not in w.guest:
            return
        intid, g = w.gm.ack_stack(v)[-1]
        w.do(O.GuestEoi(v, g, intid))
        if w.gm.eoimode(v):
            w.do(O.GuestDir(v, intid))


def guest_gic_setup(w: View, ch: Chooser, pmr: int, grp0: bool) -> None:
    """What a guest's GIC driver does at boot: PMR, group 1 (and maybe group 0) enabled."""
    v = one(ch, w.guest)
    w.do(O.GuestSetPmr(v, pmr))
    w.do(O.GuestSetGrpEn(v, 1, True))
    if grp0:
        w.do(O.GuestSetGrpEn(v, 0, True))


def _finish_deferred(w: View, ch: Chooser, v: int, depth: int) -> None:
    """Nothing new to take: an interrupted (deferred) handler resumes and ends (LIFO EOI)."""
    stack = w.gm.ack_stack(v)
    if stack and ch.boolean(label="finish_deferred"):
        intid, g = stack[-1]
        w.do(O.GuestEoi(v, g, intid))
        # the priority drop unmasks what was waiting: the CPU takes it at once
        if depth < 2:
            guest_takes_irq(w, ch, v, depth + 1)


def guest_takes_irq(w: View, ch: Chooser, v: int, depth: int = 0) -> None:
    """Right after an entry a guest with interrupts unmasked takes the vIRQ: acknowledge, then
    EOI, EOI+DIR (EOImode 1), or defer the end of the handler (nested / deferred deactivation)."""
    if v not in w.guest or not ch.choice(D.TAKES, label="takes_irq"):
        return
    group = ch.choice(D.GROUPS, label="group")
    w.do(O.GuestAck(v, group))
    x = w.gm.last_iar
    if x == 1023:
        _finish_deferred(w, ch, v, depth)
        return
    how = ch.choice(D.HANDLING, label="handling")
    if how == "defer":
        return
    w.do(O.GuestEoi(v, group, x))
    if how == "eoi+dir" and w.gm.eoimode(v):
        w.do(O.GuestDir(v, x))
    elif how == "handoff" and w.gm.eoimode(v) and x >= 32:
        # the deactivation is handed to another running vcpu (vgic_irq.c asym_dir)
        others = [u for u in w.guest if u != v and w.gm.eoimode(u)]
        w.do(O.GuestDir(one(ch, others) if others else v, x))


def guest_handle_irq(w: View, ch: Chooser) -> None:
    """A well-behaved handler: acknowledge; then EOI, EOI+DIR, or defer."""
    guest_takes_irq(w, ch, one(ch, w.guest))


def config_irq(w: View, ch: Chooser, enabled: bool, prio: int, group: int, level: bool) -> None:
    intid = ch.choice(w.pool, label="intid")
    v = one(ch, w.all_vcpus)
    target = one(ch, w.all_vcpus) if intid >= 32 else 0
    w.do(O.ConfigIrq(_private(v, intid), intid, enabled, prio, group, level, target))


def guest_ack(w: View, ch: Chooser, group: int) -> None:
    w.do(O.GuestAck(one(ch, w.guest), group))


def guest_eoi(w: View, ch: Chooser) -> None:
    """The guest finishes deferred handlers: EOIs of the last acknowledged, not yet dropped
    interrupts, innermost first (G1: LIFO)."""
    v = one(ch, w.guest)
    stack = w.gm.ack_stack(v)
    if not stack:
        return
    for _ in range(ch.choice(ints(1, len(stack)), label="how_many")):
        intid, g = w.gm.ack_stack(v)[-1]
        w.do(O.GuestEoi(v, g, intid))


def guest_dir(w: View, ch: Chooser) -> None:
    """DIR of an interrupt the guest holds active (any order; SPIs from any vcpu)."""
    v = one(ch, w.guest)
    # SPIs acknowledged on another vcpu first (asymmetric deactivation, vgic_irq.c asym_dir)
    others = [i.intid for i in w.gm.active_spis() if i.target != v]
    active = others if others and ch.boolean(label="asymmetric") else w.gm.active_of(v)
    if not active:
        return
    w.do(O.GuestDir(v, active[ch.index(len(active))] if len(active) > 1 else active[0]))


def handoff_deactivation(w: View, ch: Chooser) -> None:
    """An SPI handled on one vcpu (acknowledged, EOId with EOImode 1) is deactivated by another
    running vcpu (vgic_irq.c's asymmetric deactivation); then the owner syncs."""
    spis = [i for i in w.gm.active_spis() if i.target in w.guest]
    if not spis:
        return
    irq = spis[ch.index(len(spis))] if len(spis) > 1 else spis[0]
    owner = irq.target
    others = [u for u in w.guest if u != owner and w.gm.eoimode(u)]
    if not others:
        return
    w.do(O.GuestDir(one(ch, others), irq.intid))
    if owner in w.guest and ch.choice(D.TAKES, label="owner_syncs"):
        w.do(O.GuestExit(owner, "irq"))
        w.do(O.HandleExit(owner))
        if owner in w.p0:
            w.do(O.GuestEnter(owner))


def _cycle(w: View, v: int) -> bool:
    """``v`` takes a host IRQ and comes back: exit (its fold), handling, entry (its flush, which
    recomputes ICH_HCR_EL2: TDIR and the MIs).  False if it is not back in the guest."""
    if v in w.guest:
        w.do(O.GuestExit(v, "irq"))
    if v in w.p1:
        w.do(O.HandleExit(v))
    if v in w.p0:
        w.do(O.GuestEnter(v))
    return v in w.guest


def level_redelivery(w: View, ch: Chooser, prio: int, rounds: int) -> None:
    """A device holds a level SPI's line high while its handler runs (the driver quiets the device
    late), so each deactivation finds the SPI pending again and its vcpu takes it again,
    ``rounds`` times (vgic_irq.c's level-sensitive injection).  A split-EOI guest ends each
    handler with an EOI and a DIR by the owner or by another running vcpu (asym_dir), maybe
    deferred past a host IRQ (the owner's fold then sees the SPI active).  Each round
    the owner takes a host IRQ first (the fold of the last round, the flush that re-delivers), and
    the other running vcpus may too (their entries recompute TDIR); at the end the device may
    lower the line and the vcpus sync."""
    u = one(ch, w.guest)
    intid = ch.choice(w.pool, label="intid")
    if intid < 32:
        intid = O.SPIS[0]
    gi = w.gm.irq(0, intid)
    assert gi is not None
    ready = gi.enabled and gi.level and gi.target == u and gi.group == 1  # as a driver of it configures it
    if gi.active or (gi.pending and not ready):
        return
    if not ready:
        w.do(O.ConfigIrq(0, intid, True, prio, 1, True, u))
    if not gi.line:
        w.do(O.InjectIrq(0, intid, True))
    for _ in range(rounds):
        if not _cycle(w, u):
            return
        if u not in w.booted:
            gic_boot(w, u)
        for t in list(w.guest):
            if t != u and ch.boolean(label="other_syncs"):
                _cycle(w, t)
        if u not in w.guest:
            return
        w.do(O.GuestAck(u, 1))
        x = w.gm.last_iar
        if x == 1023:
            return
        w.do(O.GuestEoi(u, 1, x))
        if w.gm.eoimode(u) and ch.boolean(label="exit_before_dir") and not _cycle(w, u):
            return  # the deactivation is deferred past a host IRQ (the fold sees the SPI active)
        if w.gm.eoimode(u):
            others = [t for t in w.guest if t != u and w.gm.eoimode(t)]
            w.do(O.GuestDir(one(ch, others) if others and x >= 32 and ch.boolean(label="handoff") else u, x))
    if ch.boolean(label="lower"):
        w.do(O.InjectIrq(0, intid, False))
    for t in list(w.guest):
        if ch.boolean(label="syncs"):
            _cycle(w, t)


# --- active and pending state from outside the CPU interface (issue 15 item 6) ------------------
def _gic_write_target(w: View, ch: Chooser, v: int, reg: str) -> tuple[int, int]:
    """The INTID a distributor write names and the vcpu its op names (the writer's own
    redistributor for SGIs/PPIs): an active SPI for ICACTIVER when there is one (the
    deactivation by ICACTIVER of kvm-unit-tests' ``ipi_clear_active_handler``), an SPI for IROUTER,
    else one of the pool."""
    spis = [i.intid for i in w.gm.active_spis()]
    if reg == "ICACTIVER" and spis and ch.boolean(label="active_spi"):
        return one(ch, spis), v
    pending = [i.intid for i in w.gm.spis if i.pending and not i.active and i.enabled]
    if reg == "IROUTER" and pending and ch.boolean(label="pending_spi"):
        return one(ch, pending), v  # a queued SPI: vgic_prune_ap_list's migrate branch
    masked = [i.intid for i in w.gm.spis if i.pending and not i.active and not i.enabled]
    if reg == "ISACTIVER" and masked and ch.boolean(label="masked_spi"):
        # a disabled SPI that is pending (a VMM restoring a masked interrupt's state): queued only
        # because it is active (vgic_target_oracle), README row E8
        return one(ch, masked), v
    intid = ch.choice(w.pool, label="intid")
    if reg == "IROUTER" and intid < 32:
        intid = O.SPIS[0]
    return intid, v


def guest_gic_write(w: View, ch: Chooser, reg: str) -> None:
    """A guest writes one bit of GICD/GICR ISACTIVER, ICACTIVER, ISPENDR, ICPENDR or an SPI's
    IROUTER (vgic_irq.c's KVM_WRITE_ISPENDR / KVM_WRITE_ISACTIVER commands, Linux's
    ``irq_set_affinity``); the MMIO exit is usually handled at once and the vcpu re-enters."""
    v = one(ch, w.guest)
    intid, who = _gic_write_target(w, ch, v, reg)
    gi = w.gm.irq(who, intid)
    holder = gi.target if gi is not None and intid >= 32 else who  # where it is queued (the old target)
    others = [u for u in w.all_vcpus if u != holder]
    target = one(ch, others) if reg == "IROUTER" and others else one(ch, w.all_vcpus)
    w.do(O.GuestGicWrite(who, reg, intid, target))
    if v in w.p1 and ch.choice(D.TAKES, label="handled"):
        w.do(O.HandleExit(v))
        if v in w.p0:
            w.do(O.GuestEnter(v))
            guest_takes_irq(w, ch, v)
    # the vcpu that held the interrupt takes a host IRQ (its exit folds and prunes its LRs), then
    # the new target of a rerouted one
    for u in dict.fromkeys((holder, target if reg == "IROUTER" else holder)):
        if u in w.guest and ch.choice(D.KICK, label="kick"):
            _kick(w, ch, u)


def spi_from_elsewhere(w: View, ch: Chooser, prio: int, reg: str) -> None:
    """A device's SPI is live on one running vcpu (pending in its LRs, or acknowledged there) when
    another vcpu's driver writes its distributor state: IROUTER (Linux's ``irq_set_affinity``),
    ICPENDR (a driver withdrawing it), ISPENDR, ICACTIVER (kvm-unit-tests' ``ipi_clear_active_handler``).
    Then the vcpu that held it exits and re-enters (its fold and ``vgic_prune_ap_list``: the
    migrate branch for a rerouted one), and so does the new target."""
    u, t = w.guest[0], w.guest[1]
    if ch.boolean(label="swap"):
        u, t = t, u
    intid = ch.choice(w.pool, label="intid")
    if intid < 32:
        intid = O.SPIS[0]
    gi = w.gm.irq(0, intid)
    assert gi is not None
    if gi.active or (gi.pending and gi.target != u):
        return
    if not gi.enabled or gi.target != u:
        w.do(O.ConfigIrq(0, intid, True, prio, 1, gi.level, u))
    if not gi.pending:
        w.do(O.InjectIrq(0, intid, True))
    for step in (O.GuestExit(u, "irq"), O.HandleExit(u), O.GuestEnter(u)):  # into u's LRs
        if step.vcpu not in (w.guest if isinstance(step, O.GuestExit) else w.p1 if isinstance(step, O.HandleExit)
                             else w.p0):
            return
        w.do(step)
    if reg == "ICACTIVER":
        w.do(O.GuestAck(u, 1))
    v = one(ch, [x for x in w.guest if x != u] or w.guest)
    w.do(O.GuestGicWrite(v, reg, intid, t))
    if v in w.p1:
        w.do(O.HandleExit(v))
    if v in w.p0:
        w.do(O.GuestEnter(v))
    for x, take in ((u, False), (t, True)):
        if x in w.guest:
            w.do(O.GuestExit(x, "irq"))
            w.do(O.HandleExit(x))
            if x in w.p0:
                w.do(O.GuestEnter(x))
                if take or ch.boolean(label="takes"):
                    guest_takes_irq(w, ch, x)


def _stop_all(w: View) -> bool:
    """Every vcpu thread returns to userspace (the VMM pauses the VM, as for a migration): the
    ones in the guest are kicked out, exits are handled, KVM_RUN returns.  False if one cannot."""
    for v in w.all_vcpus:
        for _ in range(4):
            if v in w.out:
                break
            if v in w.guest:
                w.do(O.GuestExit(v, "irq"))
            elif v in w.p1:
                w.do(O.HandleExit(v))
            elif v in w.p0 or v in w.blocked:
                w.do(O.ExitToUser(v))
            else:
                return False
        if v not in w.out:
            return False
    return True


def user_gic_write(w: View, ch: Chooser, reg: str) -> None:
    """The VMM stops every vcpu and writes a distributor/redistributor bit through the vgic
    device (KVM_DEV_ARM_VGIC_GRP_DIST_REGS / REDIST_REGS).  For ISACTIVER it is
    ``test_restore_active``: the interrupt's vcpu then runs and its guest adds the interrupt's
    group priority to ICC_AP1R<n>_EL1, so that it ends the restored handler with an EOI later."""
    if not _stop_all(w):
        return
    v = one(ch, w.all_vcpus)
    intid, who = _gic_write_target(w, ch, v, reg)
    gi = w.gm.irq(who, intid)
    assert gi is not None
    restore = (reg == "ISACTIVER" and not gi.active and gi.group == 1 and intid not in w.gm.moving
               and not (intid == O.VTIMER_PPI and who in w.gm.timer_fired))  # KVM ignores that one
    w.do(O.UserGicWrite(who, reg, intid, one(ch, w.all_vcpus)))
    if not restore or not w.free_pcpus:
        return
    t = gi.target if intid >= 32 else who
    w.do(O.KvmRun(t, one(ch, w.free_pcpus)))
    w.do(O.GuestEnter(t))
    if t not in w.guest:
        return
    if t not in w.booted:
        gic_boot(w, t)
    c = w.gm.cpus[t]
    shift = 8 - c.pre
    gprio = gi.prio & c.gmask(1)
    bits = {p >> shift for _, g, p in c.acks if g == 1}
    b = gprio >> shift
    if any((p >> shift) >= b for _, _, p in c.acks):
        return  # the restored handler would not be the innermost: the guest leaves the APRs alone
    value = sum(1 << (x % 32) for x in bits | {b} if x // 32 == b // 32)
    c.restoring = (intid, 1, gprio)  # the interrupted handler, outermost: ended by an EOI
    w.do(O.GuestSetApr(t, b // 32, value))


def guest_set_pmr(w: View, ch: Chooser, value: int) -> None:
    w.do(O.GuestSetPmr(one(ch, w.guest), value))


def guest_set_bpr(w: View, ch: Chooser, group: int, value: int) -> None:
    """G2: only with no active priority."""
    v = one(ch, w.guest)
    if w.gm.cpus[v].active_priorities():
        return
    w.do(O.GuestSetBpr(v, group, value))


def guest_set_grpen(w: View, ch: Chooser, group: int, enable: bool) -> None:
    w.do(O.GuestSetGrpEn(one(ch, w.guest), group, enable))


def guest_set_eoimode(w: View, ch: Chooser, mode: bool) -> None:
    w.do(O.GuestSetEoiMode(one(ch, w.guest), mode))


# --- PSCI, power state, stage-2 --------------------------------------------------------------
def _after_psci(w: View, ch: Chooser, v: int, fn: str, target: int) -> None:
    if fn in ("CPU_ON", "CPU_ON_32") and target in w.preempted and w.free_pcpus and ch.choice(D.TAKES, label="wake"):
        # the woken target's thread runs at once on another CPU, racing its waker
        w.do(O.SchedIn(target, one(ch, w.free_pcpus)))
        if target in w.p0:
            w.do(O.GuestEnter(target))
    if fn.startswith("SYSTEM") and ch.choice(D.TAKES, label="kick"):
        for t in list(w.guest):
            w.do(O.GuestExit(t, "irq"))
            w.do(O.HandleExit(t))
    elif v in w.p0 and ch.choice(D.TAKES, label="reenter"):
        w.do(O.GuestEnter(v))


#: the conduit of a guest PSCI call: HVC mostly, SMC #0 (``GuestSmc``: handle_smc's PC update) a quarter
PSCI_CONDUITS: tuple[type[O.GuestPsci], ...] = (O.GuestPsci, O.GuestSmc)


def guest_psci(w: View, ch: Chooser, fn: str, entry: int, context: int) -> None:
    """A PSCI call by HVC or SMC and, usually, its handling; after a system event the other
    running vcpus take the kick (an IRQ exit) and go back to their run loops."""
    v = one(ch, w.guest)
    n = w.nr_vcpus
    target = ch.choice(list(range(n)) + [n], label="target") if not fn.startswith("SYSTEM_RESET2") \
        else ch.choice(D.RESET_TYPES, label="reset_type")
    if fn == "PSCI_FEATURES":  # x1 is the function ID asked about
        entry = ch.choice(D.FEATURE_IDS, label="feature")
    conduit = ch.choice(PSCI_CONDUITS, label="conduit")
    w.do(conduit(v, fn, target, entry, context))
    if not ch.choice(D.TAKES, label="handled"):
        return
    w.do(O.HandleExit(v))
    _after_psci(w, ch, v, fn, target)


def guest_access(w: View, ch: Chooser, page: int) -> None:
    """A load; a stage-2 fault is handled and the access re-executed."""
    v = one(ch, w.guest)
    w.do(O.GuestAccess(v, page))
    if v in w.p1:
        w.do(O.HandleExit(v))
        if v in w.p0:
            w.do(O.GuestEnter(v))


def user_power(w: View, ch: Chooser, what: str) -> None:
    """The VMM's side: re-initialise a vcpu after a reset (secondaries with POWER_OFF, the boot
    vcpu given an entry point), KVM_SET/GET_MP_STATE."""
    v = one(ch, w.out)
    if what.startswith("init"):
        w.do(O.UserVcpuInit(v, what == "init_off"))
        if what == "init" and ch.boolean(label="set_pc"):
            w.do(O.UserSetReg(v, "pc", ch.choice(D.ENTRIES, label="pc")))
    elif what == "get":
        w.do(O.UserGetMpState(v))
    else:
        w.do(O.UserSetMpState(v, "RUNNABLE" if what == "set_runnable" else "STOPPED"))


# --- the table ---------------------------------------------------------------------------------
def _gic_guest(w: View) -> bool:
    return w.gates.gic_on and bool(w.guest)


HAND_MOVES: tuple[Move, ...] = (
    Move("advance", _can_advance, advance),
    Move("run_all", lambda w: (w.gates.gic_on or w.gates.psci_on) and len(w.all_vcpus) > 1
         and len(w.guest) < len(w.all_vcpus), run_all),
    Move("guest_write_reg", lambda w: w.gates.regs_on and bool(w.guest), guest_write_reg,
         (("reg", D.GUEST_REGS),)),
    Move("guest_write_pstate", lambda w: w.gates.regs_on and bool(w.guest), guest_write_pstate,
         (("pstate", D.PSTATES),)),
    Move("preempt", lambda w: bool(w.p0 or w.p1), preempt),
    Move("exit_to_user", lambda w: bool(w.p0 or w.blocked), exit_to_user),
    Move("pmu_overflow", lambda w: w.gates.pmu, pmu_overflow, (("counter", D.PMU_COUNTERS),)),
    Move("inject_irq", lambda w: w.gates.gic_on, inject_irq, (("level", D.FLAG),)),
    Move("inject_msi", lambda w: w.gates.gic_on, inject_msi, (("prio", D.PRIORITIES),)),
    Move("timer_fire", lambda w: w.gates.gic_on, timer_fire),
    Move("interrupt_burst", _gic_guest, interrupt_burst, (("n", D.BURST),)),
    Move("preemption_chain", _gic_guest, preemption_chain, (("n", D.BURST), ("unwind", D.UNWIND))),
    Move("guest_gic_setup", _gic_guest, guest_gic_setup, (("pmr", D.PMRS), ("grp0", D.GRP0))),
    Move("guest_handle_irq", _gic_guest, guest_handle_irq),
    Move("config_irq", lambda w: w.gates.gic_on, config_irq,
         (("enabled", D.ENABLED), ("prio", D.PRIORITIES), ("group", D.GROUPS), ("level", D.FLAG))),
    Move("guest_ack", _gic_guest, guest_ack, (("group", D.GROUPS),)),
    Move("guest_eoi", _gic_guest, guest_eoi),
    Move("guest_dir", _gic_guest, guest_dir),
    Move("handoff_deactivation", lambda w: w.gates.gic_on and len(w.guest) > 1, handoff_deactivation),
    Move("guest_set_pmr", _gic_guest, guest_set_pmr, (("value", D.PMRS),)),
    Move("guest_gic_write", _gic_guest, guest_gic_write,
         (("reg", D.GUEST_GIC_REGS),)),
    Move("user_gic_write", lambda w: w.gates.gic_on, user_gic_write, (("reg", D.USER_GIC_REGS),)),
    Move("spi_from_elsewhere", lambda w: w.gates.gic_on and len(w.guest) > 1,
         spi_from_elsewhere,
         (("prio", D.PRIORITIES), ("reg", D.ELSEWHERE_REGS))),
    Move("guest_set_bpr", _gic_guest, guest_set_bpr, (("group", D.GROUPS), ("value", D.BPRS))),
    Move("guest_set_grpen", _gic_guest, guest_set_grpen, (("group", D.GROUPS), ("enable", D.GRPEN))),
    Move("guest_set_eoimode", _gic_guest, guest_set_eoimode, (("mode", D.FLAG),)),
    Move("userspace", lambda w: w.gates.regs_on and bool(w.out), userspace, (("what", D.USER_OPS),)),
    Move("guest_psci", lambda w: w.gates.psci_on and bool(w.guest), guest_psci,
         (("fn", D.PSCI_CALLS), ("entry", D.ENTRIES), ("context", D.CONTEXTS))),
    Move("guest_access", lambda w: w.gates.psci_on and bool(w.guest), guest_access, (("page", D.PAGES),)),
    Move("user_power", lambda w: w.gates.psci_on and bool(w.out), user_power, (("what", D.USER_POWER),)),
    Move("send_sgi", lambda w: w.gates.gic_on, send_sgi),
    Move("level_redelivery", _gic_guest, level_redelivery, (("prio", D.PRIORITIES), ("rounds", D.ROUNDS))),
)

#: the op kinds the moves above emit; every other op kind of the registry (one declared since) is
#: generated by its generic move (``tests/test_generate.py`` checks that every op kind is generated)
HAND_WRITTEN: frozenset[str] = frozenset({
    "KvmRun", "GuestEnter", "GuestExit", "HandleExit", "ExitToUser", "SchedOut", "SchedIn", "GuestWriteReg",
    "UserGetReg", "UserSetReg", "HostInjectSError", "UserGetVcpuEvents", "UserSetGuestDebug", "HostPmuOverflow",
    "InjectIrq", "ConfigIrq", "GuestAck", "GuestEoi", "GuestDir", "GuestSetPmr", "GuestSetBpr", "GuestSetGrpEn",
    "GuestSetEoiMode", "GuestPsci", "GuestSmc", "GuestAccess", "UserVcpuInit", "UserSetMpState", "UserGetMpState",
    "InjectMsi", "TimerFire", "InjectSgi", "GuestGicWrite", "UserGicWrite", "GuestSetApr",
})


@attrs.frozen
class _Shape:
    vcpus: int
    pcpus: int


def generic_move(spec: O.OpSpec) -> Move:
    """The move of an op kind no hand-written move emits: enabled where some vcpu thread is where
    the op applies (``OpSpec.requires``) and the variant is fuzzed with the op's component; it
    picks such a vcpu and draws every other field from its domain (``Domain.draw``)."""
    def candidates(w: View) -> list[int]:
        return [v for v in w.all_vcpus if w.where[v] in spec.requires]

    def enabled(w: View) -> bool:
        return w.gates.allows(spec.components) and bool(candidates(w))

    def run(w: View, ch: Chooser) -> None:
        shape = _Shape(w.nr_vcpus, w.nr_pcpus)
        fields = {f.name: f.metadata["domain"].draw(ch, shape) for f in attrs.fields(spec.cls) if f.name != "vcpu"}
        w.do(spec.cls(one(ch, candidates(w)), **fields))

    run.__doc__ = f"{spec.cls.name} (generic: fields from their domains)"
    return Move(f"op_{spec.cls.name}", enabled, run)


MOVES: tuple[Move, ...] = HAND_MOVES + tuple(generic_move(s) for s in O.OPS if s.cls.name not in HAND_WRITTEN)
