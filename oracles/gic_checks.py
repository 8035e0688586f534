"""The architectural interrupt oracles (gic-architecture.md §3.2): the vgic model's guest-visible
results are checked against ``ArchGic`` fed with the same events.  Names carry the property IDs.
The white-box LR invariants (I1–I7, ``gic-hcr-armed-in-host``) live beside the vgic model, in
``model/vgic/invariants.py``.

This oracle is judged from the ops and the observations only (it imports no model internals:
``tests/test_oracle_independence.py``): the IAR result (``gic-iar``), the running priority the
guest reads back (``gic-rpr``), the active state at an entry (``gic-active``), and whether a vcpu
runs in the guest (``guest-entry`` starts it, the exit's ``exit-pc`` ends it).

Sync point: a guest entry (the previous exit folded the LRs, the entry flushed them).  Window(v)
/ Stable(v): the interrupts in ArchGic's candidate set at some / every step since v's last sync.
Strict (O2) only for the first CPU-interface read after a sync with no event in between.
"""

from __future__ import annotations

from itertools import chain

from hvfuzz.model.vocab import obs as K
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.judging import Failure, Step, has, last_of
from hvfuzz.oracles.arch_gic import LPI_BASE, NR_PRIVATE, SPURIOUS, TIMER_PPI, ArchGic

_CPUIF_OPS = (O.GuestAck, O.GuestEoi, O.GuestSetPmr, O.GuestSetBpr, O.GuestSetGrpEn, O.GuestSetEoiMode,
              O.GuestSetApr)
_EXITS = (O.GuestExit, O.GuestPsci, O.GuestAccess)  # HVC and stage-2 aborts exit too
#: PSTATE.nRW: AArch32 (a vcpu without AArch32 in that state cannot run: KVM_EXIT_FAIL_ENTRY)
_PSTATE_NRW = 1 << 4
#: the ops the GIC oracle follows (the others change nothing it holds)
_GIC_OPS = frozenset((O.GuestEnter, *_EXITS, *_CPUIF_OPS, O.GuestDir, O.InjectIrq, O.ConfigIrq, O.HandleExit,
                      O.InjectMsi, O.TimerFire, O.InjectSgi, O.GuestGicWrite, O.UserGicWrite))


class GicChecker:
    """The architectural GIC oracle (an ``Oracle``): ``ArchGic`` (``m``) fed with the ops and the
    observed acknowledges, and the sync windows the ordering properties need."""

    def __init__(self, vcpus: int, pri_bits: int, version: int = 3) -> None:
        self.m = ArchGic(vcpus, pri_bits, version)
        self.vcpus = vcpus
        self.window: list[set[int]] = [set() for _ in range(vcpus)]
        self.stable: list[set[int]] = [set() for _ in range(vcpus)]
        self.strict = [False] * vcpus
        #: the vcpu runs in the guest (from its last ``guest-entry`` to its next ``exit-pc``)
        self.running = [False] * vcpus
        #: a DIR the guest wrote that trapped to the host (its vcpu exited at it): the INTID, per
        #: vcpu.  The instruction completes when the host has emulated it and the vcpu resumes
        #: after it, so it takes effect at the host's handling of that exit (``HandleExit``).
        self.dir_trapped: list[int | None] = [None] * vcpus
        #: a distributor/redistributor write the guest made (an MMIO exit), per vcpu: it takes
        #: effect when the host has emulated it, at that exit's ``HandleExit``
        self.mmio_trapped: list[O.GuestGicWrite | None] = [None] * vcpus

    def _cand_ids(self, v: int) -> set[int]:
        return {i.intid for i in self.m.cand(v) if not i.uncertain}

    def _uncertain_for(self, v: int) -> bool:
        """Some interrupt of ``v`` is pending or routed within an A17 / S10 window: O2 is off."""
        m = self.m
        return any(i.uncertain for i in m.private[v]) or any(
            i.uncertain and (v == i.target or v in i.transit) for i in m.spis)

    def _track(self) -> None:
        for v in range(self.vcpus):
            # S1's window: pending at some point since the sync (A1, A15: a line may drop before
            # the acknowledge, e.g. while the guest was still enabling the group); O1's stable set:
            # a candidate (group enabled too) at every step
            self.window[v] |= self.m.forwardable_ids(v)
            self.stable[v] &= self._cand_ids(v)

    def state_key(self, intids: tuple[int, ...]) -> object:
        """The windows, strictness and run state, and the ideal GIC without the interrupts no op
        names (``intids``: they keep their reset state)."""
        m = self.m
        irqs = [m.lookup(v, i) for i in intids for v in (range(self.vcpus) if i < NR_PRIVATE else (0,))]
        return ([v for k, v in vars(self).items() if k != "m"],
                [v for k, v in vars(m).items() if k not in ("private", "spis")], irqs)

    def after(self, step: Step) -> Failure | None:
        if not step.applied:
            return self._check_injection_refused(step)
        if type(op := step.op) not in _GIC_OPS:
            return None
        v = op.vcpu
        if isinstance(op, O.GuestEnter):  # no sync point if the thread slept (powered off)
            if not has(step.sut_obs, K.GUEST_ENTRY, v):
                return None
            self.running[v] = True
            return self._sync_point(v, step.sut_obs)
        # any vcpu may leave the guest in a step: its own exit, a trapped DIR, or the others kicked
        # out while the host emulates one (an ``exit-pc`` for that vcpu)
        for w in range(self.vcpus):
            if has(step.sut_obs, K.EXIT_PC, w):
                self.running[w] = False
                for t in self.m.left_guest(w):
                    # S10: a new target that entered while the SPI was still moving (it was not
                    # judged strictly then) does not see it settle at an entry of its own: its
                    # first IAR since that entry stays unjudged by O2 (KVM hands the SPI over at
                    # the old target's prune and kicks the new one to its next entry)
                    if self.running[t]:
                        self.strict[t] = False
        if isinstance(op, _EXITS):
            return None
        if isinstance(op, O.GuestGicWrite):
            if not self.running[v]:  # the store aborted to the host: it completes at HandleExit
                self.mmio_trapped[v] = op
            return None
        if isinstance(op, O.HandleExit) and self.mmio_trapped[v] is not None:
            gw = self.mmio_trapped[v]
            assert gw is not None
            self.mmio_trapped[v] = None
            pstate = last_of(step.sut_obs, K.RUN_LOOP_PSTATE, v)
            if isinstance(pstate, int) and pstate & _PSTATE_NRW:
                return None  # the entry fails first: the store never completes
            self._gic_write(gw, uaccess=False)
            self.strict = [False] * self.vcpus
            self._track()
            return None
        if isinstance(op, O.HandleExit):
            intid = self.dir_trapped[v]
            if intid is None:
                return None
            self.dir_trapped[v] = None
            pstate = last_of(step.sut_obs, K.RUN_LOOP_PSTATE, v)
            if isinstance(pstate, int) and pstate & _PSTATE_NRW:
                return None  # AArch32 state on a vcpu without it: the entry fails, the DIR never completes
            # G10 again where the host completes the trapped DIR: another vcpu may have acknowledged
            # and EOId the SPI since the write (corpus/regressions/vgic-dir-completed-after-eoimode0-eoi.json)
            self.m.dir_written(v, intid)
            self.m.dir(v, intid, in_guest=False)  # the host completes the trapped DIR
            self.strict = [False] * self.vcpus
            self._track()
            return None
        if isinstance(op, O.GuestAck):
            f = self._check_iar(v, op.group, last_of(step.sut_obs, K.GIC_IAR, v))
            if f:
                return f
        elif isinstance(op, O.GuestEoi):
            self.m.eoi(v, op.group, op.intid)
        elif isinstance(op, O.GuestDir):
            self.m.dir_written(v, op.intid)
            if self.running[v]:
                self.m.dir(v, op.intid)
            else:  # trapped: it takes effect when the host has emulated it
                self.dir_trapped[v] = op.intid
        elif isinstance(op, O.GuestSetPmr):
            self.m.set_pmr(v, op.value)
        elif isinstance(op, O.GuestSetBpr):
            self.m.set_bpr(v, op.group, op.value)
        elif isinstance(op, O.GuestSetGrpEn):
            self.m.set_grpen(v, op.group, op.enable)
        elif isinstance(op, O.GuestSetEoiMode):
            self.m.set_eoimode(v, op.eoimode)
        elif isinstance(op, O.InjectIrq):
            mi = self.m.lookup(v, op.intid)
            target = mi.target if mi is not None else v
            self.m.inject(v, op.intid, op.level, target_running=self.running[target])
        elif isinstance(op, O.ConfigIrq):
            self.m.configure(v, op.intid, op.enabled, op.priority, op.group, op.level, op.target)
        elif isinstance(op, O.InjectMsi):
            known = self.m.lpis.get(op.intid)
            target = known.target if known is not None else v
            self.m.msi(v, op.intid, op.priority, target_running=self.running[target])
        elif isinstance(op, O.TimerFire):
            self.m.timer_fire(v)
        elif isinstance(op, O.InjectSgi):
            self.m.sgi(v, op.intid, op.source, target_running=self.running[v])
        elif isinstance(op, O.UserGicWrite):
            self._gic_write(op, uaccess=True)
        elif isinstance(op, O.GuestSetApr):
            self.m.set_apr(v, op.n, op.value)
        else:
            return None
        if isinstance(op, _CPUIF_OPS):
            self.strict[v] = False
        else:
            self.strict = [False] * self.vcpus
        self._track()
        if isinstance(op, _CPUIF_OPS) or isinstance(op, O.GuestDir):
            return self._check_rpr(v, last_of(step.sut_obs, K.GIC_RPR, v))
        return None

    def _gic_write(self, op: O.GuestGicWrite | O.UserGicWrite, uaccess: bool) -> None:
        """A GICD/GICR register bit written (§2.8), by the guest or by userspace."""
        m, v = self.m, op.vcpu
        if op.reg == "IROUTER":
            m.route(op.intid, op.target)
        elif op.reg in ("ISACTIVER", "ICACTIVER"):
            if uaccess and op.intid == TIMER_PPI and m.timer[v]:
                # KVM ignores userspace's active-state writes of a HW-mapped interrupt (the timer's
                # PPI once it fired): vgic_hw_irq_change_active's "if (is_uaccess) return".  Where the
                # kernel and the architecture disagree (a finding, README): not judged, followed
                return
            m.set_active(v, op.intid, op.reg == "ISACTIVER")
        else:
            i = m.lookup(v, op.intid)
            target = i.target if i is not None else v
            m.set_pending(v, op.intid, op.reg == "ISPENDR", target_running=self.running[target])

    # --- API: an injection is not refused --------------------------------------------------------
    def _check_injection_refused(self, step: Step) -> Failure | None:
        """API (api.rst 4.25 KVM_IRQ_LINE: a PPI or SPI line of the VM is driven to the given level;
        an SGI is another vcpu's ICC_SGI1R_EL1 write, which the architecture always delivers): an
        injection to an interrupt the VM has is never refused.  The one no-op is an injection that
        changes nothing: the same level again on a level-sensitive line, or level 0 on an edge-
        triggered interrupt (no edge)."""
        op = step.op
        if type(op) is not O.InjectIrq:
            return None
        i = self.m.lookup(op.vcpu, op.intid)
        if i is None:
            return None
        if op.intid == TIMER_PPI and self.m.timer[op.vcpu]:
            # the in-kernel timer drives this PPI's line (its output: Arm ARM D11.2.4); userspace's
            # KVM_IRQ_LINE on it is ignored (the line has an owner: vgic_validate_injection)
            return None
        if (i.line != op.level) if i.level else op.level:
            return Failure("gic-API-injection-refused", op.vcpu,
                           f"vcpu{op.vcpu}: injecting INTID {op.intid} (level {int(op.level)}, "
                           f"{'level-sensitive, line ' + str(int(i.line)) if i.level else 'edge'}) was refused",
                           "refused", "injected")
        return None

    # --- S1 / O1 / O2 at an acknowledge -------------------------------------------------------------
    def _check_iar(self, v: int, g: int, x: int) -> Failure | None:
        m, c = self.m, self.m.cpus[v]
        allowed = m.iar_allowed(v, g)
        why = None
        value = x
        x, cpuid = m.decode(value)
        if value != SPURIOUS:
            i = m.lookup(v, x) if x >= 0 else None
            if i is None:
                why = ("gic-S1-validity", f"IAR{g} returned {x}, not an interrupt of this VM")
            elif i.group != g:
                why = ("gic-S5-group", f"IAR{g} returned {x} of group {i.group}")
            elif c.tainted:
                pass  # after UNPREDICTABLE guest behaviour (A3, A11) only the checks above hold
            elif i.active:
                why = ("gic-S1-validity", f"IAR{g} returned {x}, which is already active (double acknowledge)")
            elif cpuid is not None and not (i.srcs >> cpuid & 1):
                why = ("gic-S1-validity", f"GICV_IAR returned SGI {x} from CPU {cpuid}, which has no request "
                       f"pending from CPU {cpuid} (pending from {[s for s in range(8) if i.srcs >> s & 1]})")
            elif x not in self.window[v]:
                why = ("gic-S1-validity", f"IAR{g} returned {x}, which was not pending, enabled and targeting "
                       f"vcpu{v} at any point since the last sync")
            elif not c.veng[g]:
                why = ("gic-S5-group", f"IAR{g} returned {x} with group {g} disabled")
            elif not c.can_signal(i.prio, g):
                why = ("gic-S1-validity", f"IAR{g} returned {x} (priority {i.prio:#x}) although PMR "
                       f"{c.vpmr:#x} / running priority {c.rpr():#x} forbid it")
            else:
                higher = sorted(y for y in self.stable[v] if (yi := m.lookup(v, y)) and yi.prio < i.prio)
                if higher:
                    why = ("gic-O1-priority-inversion", f"IAR{g} returned {x} (priority {i.prio:#x}) while "
                           f"{higher} of higher priority were pending since the last sync")
        if why is None and self.strict[v] and not c.tainted and value not in allowed and not self._uncertain_for(v):
            why = ("gic-O2-strict-at-sync", f"first IAR{g} after the guest entry returned {value}; the "
                   f"architecture allows {sorted(allowed)}")
        if why is not None:
            return Failure(why[0], v, f"vcpu{v}: {why[1]}", value, sorted(allowed))
        m.ack(v, g, value)
        self.strict[v] = False
        self._track()
        return None

    def _check_rpr(self, v: int, hw: int) -> Failure | None:
        """S4: ICV_RPR_EL1 as the guest reads it back after the access."""
        c = self.m.cpus[v]
        if c.tainted:
            return None
        if hw != c.rpr():
            return Failure("gic-S4-running-priority", v, f"vcpu{v}: ICV_RPR_EL1 is {hw:#x}, the architecture "
                           f"says {c.rpr():#x}", hw, c.rpr())
        return None

    # --- sync points ----------------------------------------------------------------------------
    def _sync_point(self, v: int, obs: list[K.Observation]) -> Failure | None:
        f = self._check_active_sets(v, last_of(obs, K.GIC_ACTIVE, v))
        self.m.sync(v)
        self.window[v] = self.m.forwardable_ids(v)
        self.stable[v] = self._cand_ids(v)
        self.strict[v] = True
        return f

    def _check_active_sets(self, v: int, seen: tuple[tuple[int, ...], tuple[tuple[int, int, bool], ...]]
                           ) -> Failure | None:
        """L2 (and S3): deactivations land by the next sync, and active state is never lost.
        ``seen``: the ``gic-active`` observation of the entry."""
        if self.m.cpus[v].tainted:
            return None
        active_ids, queued_on = seen
        m = self.m
        lpis = sorted(m.lpis.values(), key=lambda i: i.intid)
        if active_ids == tuple([i.intid for i in m.private[v] if i.active] + [i.intid for i in m.spis if i.active]
                               + [i.intid for i in lpis if i.active]):
            return None  # the common case: the same active set
        active = set(active_ids)
        queued = {intid: (u, in_flight) for intid, u, in_flight in queued_on}
        for mi in chain(self.m.private[v], self.m.spis, lpis):
            intid = mi.intid
            if (intid in active) == mi.active:
                continue
            if intid >= LPI_BASE and mi.active:
                # an LPI has no active state outside the CPU interface (IHI 0069 §1.2.1): a
                # hypervisor may forget a vLPI's active state once it leaves the LRs (KVM's fold
                # drops it); its EOI still drops the priority.  Only the converse is a failure
                continue
            u, in_flight = queued.get(intid, (None, False))
            if intid >= NR_PRIVATE and u is not None and u != v and in_flight:
                # queued on another vcpu that is in the guest: its LRs and EOIcount (an EOI of it
                # outside the LRs) are folded at that vcpu's next exit, not at this entry
                continue
            if intid >= NR_PRIVATE and any(self.m.cpus[w].tainted for w in {mi.target, u} if w is not None):
                continue  # an SPI of a tainted vcpu (its non-LIFO EOIs move EOIcount: A3)
            if mi.active:
                return Failure("gic-S3-active-lost", v, f"vcpu{v} entry: interrupt {intid} is active "
                               f"architecturally but the vgic has it inactive", False, True)
            return Failure("gic-L2-deactivation-lost", v, f"vcpu{v} entry: interrupt {intid} was "
                           f"deactivated by the guest but the vgic still has it active", True, False)
        return None
