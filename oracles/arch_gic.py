"""``ArchGic``: an ideal GICv3 virtual CPU interface in which every pending interrupt is visible
(no list registers).  gic-architecture.md §1–§2: highest-priority-pending selection, PMR, binary
points and group priority, the running priority from the active priorities, EOImode 0/1,
level vs edge, SGI/PPI/SPI routing, LPIs (IHI 0069 §1.2.1: INTIDs from 8192, edge, group 1, one
redistributor, no active state outside the CPU interface: a vLPI held in an LR is active from
its acknowledge to its EOI, which deactivates it whatever EOImode, and DIR ignores it) and the
generic timer's PPI (a level output: its line is the timer condition).  It is written from the
architecture, independently of the vgic model it judges.

``version=2``: a GICv2 virtual CPU interface (IHI 0048B ch. 3 and 5), the same rules with GICv2's
register names (GICV_IAR/AIAR, GICV_EOIR/AEOIR, GICV_DIR, GICV_PMR, GICV_BPR/ABPR, GICV_RPR) and its
differences: five priority bits (GICH_LR.Priority, GICV_PMR), no LPIs, and SGIs that keep one
pending state per requesting CPU (§3.2.4 "SGIs ... the GIC maintains the pending state for each
source"): GICV_IAR returns the source in CPUID [12:10] with the INTID in [9:0], an acknowledge
clears that source's pending state only, and the guest writes the IAR value back to GICV_EOIR and
GICV_DIR.  Which pending source an acknowledge takes first is the implementation's choice; an SGI
that is active is not signalled again (from any source) until it is deactivated.
"""

from __future__ import annotations

from itertools import chain

import attrs

SPURIOUS = 1023
NR_PRIVATE = 32
NR_SPIS = 32
LPI_BASE = 8192
NR_SGIS = 16
#: GICV_IAR / GICV_EOIR / GICV_DIR (GICv2): CPUID in [12:10]
CPUID_SHIFT = 10
#: the virtual timer's PPI (Arm ARM D11.2.4: CNTV interrupt, INTID 27 under SBSA/KVM)
TIMER_PPI = 27


def _ctz(x: int) -> int:
    return (x & -x).bit_length() - 1


@attrs.define(slots=True)
class ArchIrq:
    intid: int
    group: int = 1
    prio: int = 0xA0
    enabled: bool = False
    level: bool = False
    latch: bool = False
    line: bool = False
    active: bool = False
    target: int = 0
    #: GICv2 SGIs: the CPUs whose request is pending (bitmap; ``latch`` is set while any is)
    srcs: int = 0
    #: GICv2 SGIs: the CPU whose request the active SGI is
    active_src: int = 0
    #: A17: a level interrupt whose latch a GICD/GICR_ISPENDR write set.  When such a latch is
    #: cleared (at the acknowledge, or only when the interrupt leaves the active state) is not
    #: settled (gic-architecture.md A17), so from then until an ICPENDR write whether it is
    #: pending is not judged strictly: it may be acknowledged (S1's window), it is never a stable
    #: candidate (O1) and its vcpu's first IAR after an entry is not strict (O2)
    soft: bool = False
    #: S10: the vcpus an SPI targeted before IROUTER writes moved it (empty: not moving).  The
    #: new routing takes effect "within the window": until an old target has next left the guest
    #: with the SPI inactive (and so given up any copy of the interrupt it held), the new target
    #: is not judged strictly, and the old one may still acknowledge it
    transit: tuple[int, ...] = ()
    #: A1 for a deactivation: the vcpu whose CPU interface deactivated this SPI (an EOI, or a DIR
    #: the guest's CPU interface completed) while it ran in the guest.  The deactivation reaches
    #: the distributor with latency, made visible by that vcpu's next sync (KVM: its exit's fold;
    #: README "an SPI deactivated on a running vcpu after an IROUTER moved it"), so until that vcpu
    #: has next left the guest, the SPI's inactive state is not judged for the other vcpus: it is
    #: not a stable candidate (O1) and O2 is off for its target
    landing: int | None = None
    #: made active by ISACTIVER (§2.8: no APR change) and its group priority not yet restored in
    #: the APRs by the guest (G7, below)
    restored: bool = False
    #: the vcpu whose CPU interface an ISACTIVER write made it active for (its target then), until
    #: the EOI that ends that restored handler (a DIR or ICACTIVER may deactivate it first)
    holder: int | None = None

    @property
    def pending(self) -> bool:
        return self.latch or (self.level and self.line)

    @property
    def uncertain(self) -> bool:
        """Pending, routing or deactivation in one of the windows above (A17, S10, A1)."""
        return self.soft or bool(self.transit) or self.landing is not None


@attrs.define(slots=True)
class ArchCpuIf:
    """One virtual CPU interface (ICH_VMCR_EL2 fields, APRs).  En is always 1 under KVM."""

    pri_bits: int
    veng: list[bool] = attrs.Factory(lambda: [False, False])
    #: 0 at vcpu creation: the value KVM gives ICH_VMCR_EL2 (the model: vgic_v3_enable); the guest raises it
    vpmr: int = 0
    vcbpr: bool = False
    veoim: bool = False
    vbpr0: int = 0
    vbpr1: int = 0
    apr: list[list[int]] = attrs.Factory(list)
    #: acknowledged interrupts whose priority has not been dropped (G1: EOIs nest LIFO)
    ack_stack: list[tuple[int, int]] = attrs.Factory(list)
    #: G8: acknowledge-stack values whose interrupt a GICD/GICR_ICACTIVER write deactivated while
    #: it was being handled (an ISACTIVER write may have made it active again since)
    cleared: list[int] = attrs.Factory(list)
    #: G9: acknowledge-stack values whose group the guest disabled while they were handled (the
    #: group may be enabled again since: KVM's ap_list order is that of the last flush)
    grp_off: list[int] = attrs.Factory(list)
    #: the guest broke a discipline rule (G1/G2): strict checks are off for this vcpu
    tainted: str = ""

    def __attrs_post_init__(self) -> None:
        self.vbpr0, self.vbpr1 = 7 - self.pre, 8 - self.pre
        self.apr = [[0] * (1 << (self.pre - 5)) for _ in range(2)]

    @property
    def pre(self) -> int:
        return min(self.pri_bits, 7)

    def gmask(self, g: int) -> int:
        """VPriorityGroup: BPR0 = b -> bits [7:b+1]; BPR1 = b -> bits [7:b] (CBPR: BPR0's)."""
        if g == 0 or self.vcbpr:
            return (0xFF << (self.vbpr0 + 1)) & 0xFF
        return (0xFF << self.vbpr1) & 0xFF

    def rpr(self) -> int:
        for n in range(len(self.apr[0])):
            v = self.apr[0][n] | self.apr[1][n]
            if v:
                return (32 * n + _ctz(v)) << (8 - self.pre)
        return 0xFF

    def active_priorities(self) -> bool:
        return any(a for grp in self.apr for a in grp)

    def can_signal(self, prio: int, g: int) -> bool:
        """CanSignalVirtualInterrupt: priority above PMR and group priority above running."""
        if not prio < self.vpmr:
            return False
        r = self.rpr()
        m = self.gmask(g)
        return r == 0xFF or (prio & m) < (r & m)

    def drop(self) -> int | None:
        for n in range(len(self.apr[0])):
            a0, a1 = self.apr[0][n], self.apr[1][n]
            if a0 | a1:
                c0 = _ctz(a0) if a0 else 32
                c1 = _ctz(a1) if a1 else 32
                g = 0 if c0 <= c1 else 1
                c = min(c0, c1)
                self.apr[g][n] &= ~(1 << c)
                return (32 * n + c) << (8 - self.pre)
        return None


class ArchGic:
    """The ideal GIC of one VM."""

    def __init__(self, vcpus: int, pri_bits: int, version: int = 3) -> None:
        #: the GIC architecture version the guest sees (2: IHI 0048B, five virtual priority bits)
        self.version = version
        if version == 2:
            pri_bits = 5
        self.pri_bits = pri_bits
        self.pmask = (0xFF << (8 - pri_bits)) & 0xFF
        self.cpus = [ArchCpuIf(pri_bits) for _ in range(vcpus)]
        self.private = [[ArchIrq(i, target=v) for i in range(NR_PRIVATE)] for v in range(vcpus)]
        self.spis = [ArchIrq(NR_PRIVATE + i) for i in range(NR_SPIS)]
        #: edges that reached a pending interrupt while its vcpu ran (see ``inject``)
        self.late_edges: set[tuple[int, int]] = set()
        #: LPIs by INTID (created by the first MSI naming one)
        self.lpis: dict[int, ArchIrq] = {}
        #: per vcpu: its timer has fired (PPI 27's line is the timer's from then on)
        self.timer = [False] * vcpus

    def lookup(self, vcpu: int, intid: int) -> ArchIrq | None:
        if intid < NR_PRIVATE:
            return self.private[vcpu][intid]
        if intid < NR_PRIVATE + NR_SPIS:
            return self.spis[intid - NR_PRIVATE]
        return self.lpis.get(intid)

    def irqs_of(self, vcpu: int) -> list[ArchIrq]:
        return self.private[vcpu] + [i for i in self.spis if i.target == vcpu]

    # --- §2.2 / §3.2 definitions -------------------------------------------------------------------
    def cand(self, vcpu: int) -> list[ArchIrq]:
        """What the HPPVI search looks at: forwardable and group enabled in VMCR."""
        veng = self.cpus[vcpu].veng
        # irqs_of(vcpu), inlined (a hot path); enabled first: most interrupts are not
        out = [i for i in self.private[vcpu] if i.enabled and not i.active and (i.latch or (i.level and i.line))
               and veng[i.group] and i.prio < 0xFF]
        out += [i for i in self.spis if i.enabled and i.target == vcpu and not i.active
                and (i.latch or (i.level and i.line)) and veng[i.group] and i.prio < 0xFF]
        if self.lpis:
            out += [i for i in self.lpis.values() if i.target == vcpu and not i.active and i.latch
                    and veng[i.group] and i.prio < 0xFF]
        return out

    def forwardable_ids(self, vcpu: int) -> set[int]:
        """The INTIDs pending, enabled and targeting ``vcpu`` (not active, priority < 0xFF): the
        distributor's side of S1; the group enable is the guest's own setting, checked at the
        acknowledge itself (S5)."""
        out = {i.intid for i in self.private[vcpu] if i.enabled and not i.active
               and (i.latch or (i.level and i.line)) and i.prio < 0xFF}
        # S10: an old target may still take it from the copy it holds until it leaves the guest
        # (corpus/regressions/vgic-old-target-acks-rerouted-spi.json)
        out |= {i.intid for i in self.spis if i.enabled and (i.target == vcpu or vcpu in i.transit) and not i.active
                and (i.latch or (i.level and i.line) or i.soft) and i.prio < 0xFF}
        out |= {i.intid for i in self.private[vcpu] if i.soft and i.enabled and not i.active and i.prio < 0xFF}
        if self.lpis:
            out |= {i.intid for i in self.lpis.values() if i.target == vcpu and not i.active and i.latch
                    and i.prio < 0xFF}
        return out

    def decode(self, value: int) -> tuple[int, int | None]:
        """An IAR / EOIR / DIR value as (INTID, CPUID): GICv2 SGIs carry the CPUID in [12:10]
        (None: GICv3, or not an SGI; INTID -1: a GICv2 value with a reserved bit [31:13] set)."""
        if self.version != 2:
            return value, None
        if value >> 13:
            return -1, None
        intid = value & 0x3FF
        return (intid, (value >> CPUID_SHIFT) & 7) if intid < NR_SGIS else (intid, None)

    def iar_values(self, i: ArchIrq) -> set[int]:
        """What an acknowledge of ``i`` may return: its INTID, or for a GICv2 SGI the INTID with
        the CPUID of one of its pending sources."""
        if self.version == 2 and i.intid < NR_SGIS:
            return {i.intid | s << CPUID_SHIFT for s in range(8) if i.srcs >> s & 1}
        return {i.intid}

    def hppi_set(self, vcpu: int) -> list[ArchIrq]:
        c = self.cand(vcpu)
        if not c:
            return []
        m = min(i.prio for i in c)
        return [i for i in c if i.prio == m]

    def iar_allowed(self, vcpu: int, g: int) -> set[int]:
        """O2: the results IAR_g may return with every pending interrupt visible."""
        c = self.cpus[vcpu]
        h = self.hppi_set(vcpu)
        ok = {x for i in h if i.group == g and c.can_signal(i.prio, g) for x in self.iar_values(i)}
        if not h or any(i.group != g or not c.can_signal(i.prio, i.group) for i in h):
            ok.add(SPURIOUS)
        return ok

    # --- §2.8 events ---------------------------------------------------------------------------
    def inject(self, vcpu: int, intid: int, level: bool, target_running: bool = False) -> None:
        """An edge coalesces with a pending interrupt.  But an injection has no defined instant
        relative to a running vcpu's execution (A1): if the vcpu runs, the edge may just as well
        land after the guest's acknowledge, making the interrupt active+pending.  That holds for an
        interrupt already active and pending too: the acknowledge that takes its pending state
        (after the guest has deactivated it) may come first.  Such edges are remembered and applied
        at that acknowledge; the vcpu's next sync forgets them."""
        i = self.lookup(vcpu, intid)
        if i is None:
            return
        if intid < NR_SGIS:  # the vcpu's own SGI request (GICv2: from itself)
            if level:
                self.sgi(vcpu, intid, vcpu, target_running)
            return
        if i.level:
            i.line = level
        elif level:
            if i.pending and target_running:
                self.late_edges.add((i.target, intid))
            i.latch = True

    def sgi(self, target: int, intid: int, source: int, target_running: bool = False) -> None:
        """CPU ``source`` requests SGI ``intid`` for ``target`` (GICD_SGIR / ICC_SGI1R_EL1): an edge;
        on a GICv2 it is pending from ``source`` (§3.2.4).  A request that reaches an SGI already
        pending from that source while its vcpu runs may land after the acknowledge (A1)."""
        i = self.lookup(target, intid)
        if i is None or intid >= NR_SGIS:
            return
        if self.version == 2:
            if i.srcs >> source & 1 and target_running:
                self.late_edges.add((target, intid | source << CPUID_SHIFT))
            i.srcs |= 1 << source
        elif i.pending and target_running:
            self.late_edges.add((target, intid))
        i.latch = True

    def msi(self, vcpu: int, intid: int, prio: int, target_running: bool = False) -> None:
        """An MSI names LPI ``intid`` (§2.8 "LPI via ITS INT/MSI"): it latches pending.  The first
        one maps it (redistributor ``vcpu``, ``prio``, group 1, enabled); the mapping then stays."""
        if self.version == 2:
            return  # GICv2 has no LPIs
        i = self.lpis.get(intid)
        if i is None:
            i = self.lpis[intid] = ArchIrq(intid, group=1, prio=prio & self.pmask, enabled=True, target=vcpu)
        if i.pending and target_running:
            self.late_edges.add((i.target, intid))
        i.latch = True

    def timer_fire(self, vcpu: int) -> bool:
        """The vcpu's timer condition becomes true: PPI 27's line is high (it is a level output);
        only for a level-configured PPI 27, as the op requires."""
        i = self.private[vcpu][TIMER_PPI]
        if not i.level:
            return False
        self.timer[vcpu] = True
        i.line = True
        return True

    # --- §2.8: distributor/redistributor writes, APR writes -----------------------------------------
    def set_active(self, vcpu: int, intid: int, active: bool) -> None:
        """GICD/GICR_ISACTIVER / ICACTIVER: the active state set or cleared; no APR changes (§2.8)."""
        i = self.lookup(vcpu, intid)
        if i is not None:
            if active and not i.active:
                # while an IROUTER change is still taking effect (S10) which CPU interface it is
                # active for is not settled: no EOI ends it without breaking G1
                i.restored, i.holder = True, (i.target if not i.transit else -1)
            elif not active:
                i.restored = False  # its restored handler (``holder``) still ends with an EOI
                if i.active:  # G8: a handler of it on an acknowledge stack outlives the deactivation
                    for c in (self.cpus if NR_PRIVATE <= intid < LPI_BASE else [self.cpus[vcpu]]):
                        c.cleared += [e[0] for e in c.ack_stack
                                      if e[0] >= 0 and self.decode(e[0])[0] == intid and e[0] not in c.cleared]
            i.active = active

    def set_pending(self, vcpu: int, intid: int, pending: bool, target_running: bool = False) -> None:
        """GICD/GICR_ISPENDR sets the pending latch (a level interrupt's too: it stays pending with
        its line low, A17 for how long); ICPENDR clears the latch, never the line (§2.8).  An
        ISPENDR, like an edge, has no defined instant relative to a running target (A1)."""
        i = self.lookup(vcpu, intid)
        if i is None:
            return
        if pending:
            if i.pending and target_running:
                self.late_edges.add((i.target, intid))
            i.latch = True
            i.soft = i.soft or i.level
        else:
            i.latch = i.soft = False
            self.late_edges.discard((i.target, intid))

    def route(self, intid: int, target: int) -> None:
        """GICD_IROUTER<n>: the SPI's target (S10: the change takes effect within the window)."""
        if not NR_PRIVATE <= intid < NR_PRIVATE + NR_SPIS:
            return
        i = self.spis[intid - NR_PRIVATE]
        if target != i.target and i.target not in i.transit:
            # every vcpu it was routed to since it last settled may still hold a copy (an SPI
            # rerouted twice before its first old target left the guest: the middle one may have
            # acknowledged it; corpus/regressions/vgic-reroute-twice-middle-target-holds-it.json)
            i.transit = tuple(sorted((*i.transit, i.target)))
        i.target = target
        if target in i.transit:
            i.transit = tuple(t for t in i.transit if t != target)

    def left_guest(self, vcpu: int) -> set[int]:
        """``vcpu`` left the guest: the SPIs routed away from it are settled on their new target,
        unless still active: an active interrupt stays with the CPU interface that holds it (KVM:
        ``vgic_target_oracle`` names ``irq->vcpu`` while it is active, so the prune does not move
        it) and the window lasts until the old target leaves the guest with it inactive
        (corpus/regressions/vgic-reroute-of-active-spi-waits-for-old-target.json).  Returns those
        new targets."""
        settled = set()
        for i in self.spis:
            if vcpu in i.transit and not i.active:
                i.transit = tuple(t for t in i.transit if t != vcpu)
                if not i.transit:
                    settled.add(i.target)
            if i.landing == vcpu:
                i.landing = None
        return settled

    def set_apr(self, vcpu: int, n: int, value: int) -> None:
        """ICV_AP1R<n>_EL1 written (A7, KVM's APR restore: ``guest_restore_active``): the active
        priorities are what the guest wrote (A8: the standard layout, bit k of APR<n> = group
        priority 32n+k).  The EOIs that drop them nest from the highest priority: each restored
        priority becomes an entry of the acknowledge stack that an EOI of an interrupt restored for
        this vcpu with that group priority ends (G1)."""
        c = self.cpus[vcpu]
        if n >= len(c.apr[1]):
            return
        c.apr[1][n] = value & 0xFFFF_FFFF
        real = {self._prio_index(vcpu, e): e for e in c.ack_stack if e[0] >= 0}
        bits = sorted({32 * m + k for grp in c.apr for m, a in enumerate(grp) for k in range(32) if a >> k & 1},
                      reverse=True)
        # A7 outside the restore (which only adds priorities): the write drops the priority of a
        # handler whose interrupt is still active.  That interrupt then has no active priority, so
        # a later EOI's EOIcount may deactivate it instead of the interrupt the EOI names (G7's
        # hazard; corpus/regressions/vgic-apr-drops-active-sgi-handler.json), and a vLPI, whose
        # active bit KVM drops at every fold (73c9726975af), may be taken again
        # (corpus/regressions/vgic-apr-drops-lpi-handler.json)
        if dropped := [i.intid for e in c.ack_stack if e[0] >= 0 and self._prio_index(vcpu, e) not in bits
                       and (i := self.lookup(vcpu, e[0])) is not None and i.active]:
            c.tainted = c.tainted or f"an APR write dropped the priority of {dropped[0]}'s handler, still active (A7)"
            self._taint_sharers(vcpu, self._active_here(vcpu), "A7")
        c.ack_stack = [real.get(b, (-1 - b, 1)) for b in bits]
        c.cleared = [x for x in c.cleared if any(e[0] == x for e in c.ack_stack)]  # G8 marks of dropped handlers
        c.grp_off = [x for x in c.grp_off if any(e[0] == x for e in c.ack_stack)]  # and G9's
        for i in self._held_by(vcpu):
            if i.restored and self._prio_index(vcpu, (i.intid, i.group)) in bits:
                i.restored = False

    def _taint_sharers(self, vcpu: int, at_risk: list[ArchIrq], rule: str) -> None:
        """A G7 EOI may deactivate one of ``at_risk`` instead of the interrupt it names (KVM's
        EOIcount).  An SPI's active state is shared by every CPU interface, and the SPI may be
        acknowledged on, or routed to, another vcpu next (A3's reasoning): when one of them is an
        SPI every vcpu is tainted, else only ``vcpu`` (done by the caller)
        (corpus/regressions/vgic-restored-spi-eoi-taints-every-vcpu.json)."""
        if any(NR_PRIVATE <= x.intid < LPI_BASE for x in at_risk):
            for other in self.cpus:
                other.tainted = other.tainted or f"vcpu{vcpu}'s EOI may deactivate a restored SPI ({rule})"

    def _active_here(self, vcpu: int) -> list[ArchIrq]:
        """The active interrupts an EOIcount of ``vcpu``'s may deactivate: its SGIs/PPIs and every
        active SPI (which vcpu's ap_list holds one is KVM's business)."""
        return [x for x in chain(self.private[vcpu], self.spis) if x.active]

    def _held_by(self, vcpu: int) -> list[ArchIrq]:
        """The interrupts an ISACTIVER write made active for ``vcpu``'s CPU interface, and the SPIs
        one made active while an IROUTER change was taking effect (holder -1: for any vcpu's;
        corpus/regressions/vgic-restored-while-rerouted-spi-taints.json)."""
        return [i for i in chain(self.private[vcpu], self.spis) if i.holder in (vcpu, -1)]

    def _prio_index(self, vcpu: int, entry: tuple[int, int]) -> int:
        c = self.cpus[vcpu]
        i = self.lookup(vcpu, entry[0])
        return -1 if i is None else (i.prio & c.gmask(entry[1])) >> (8 - c.pre)

    def sync(self, vcpu: int) -> None:
        self.late_edges = {e for e in self.late_edges if e[0] != vcpu}

    def configure(self, vcpu: int, intid: int, enabled: bool, prio: int, group: int, level: bool,
                  target: int) -> None:
        i = self.lookup(vcpu, intid)
        if i is None:
            return
        i.enabled, i.prio, i.group = enabled, prio & self.pmask, group
        if intid >= 16 and not (intid == TIMER_PPI and self.timer[vcpu]):  # the timer's PPI stays level
            if level and not i.level and i.latch:
                # a latch (an edge's, or ISPENDR's) that a level interrupt now holds: A17's window,
                # as for an ISPENDR of a level interrupt (KVM keeps pending_latch through the
                # config change and clears it only when its LR comes back empty;
                # corpus/regressions/vgic-latch-kept-when-configured-level.json)
                i.soft = True
            i.level = level
        if intid >= NR_PRIVATE:
            i.target = target

    # --- §2.4–2.7 CPU interface ------------------------------------------------------------------
    def ack(self, vcpu: int, g: int, intid: int) -> None:
        """Apply an observed acknowledge: pending latch cleared, active, APR bit set."""
        if intid == SPURIOUS:
            return
        value = intid
        intid, cpuid = self.decode(value)
        c = self.cpus[vcpu]
        i = self.lookup(vcpu, intid)
        if i is None:
            return
        i.holder, i.restored = None, False
        late = (i.target, value) in self.late_edges
        self.late_edges.discard((i.target, value))
        if cpuid is not None:  # a GICv2 SGI: that source's request is taken
            i.srcs &= ~(1 << cpuid)
            if late:
                i.srcs |= 1 << cpuid
            i.active_src = cpuid
            i.latch = bool(i.srcs)
        else:
            i.latch = late
        i.active = True
        b = (i.prio & c.gmask(g)) >> (8 - c.pre)
        c.apr[g][b // 32] |= 1 << (b % 32)
        c.ack_stack.append((value, g))
        if value in c.cleared:  # a new handler of it: G8's mark was for the one an EOI ended
            c.cleared.remove(value)
        if value in c.grp_off:  # and G9's
            c.grp_off.remove(value)

    def eoi(self, vcpu: int, g: int, intid: int) -> None:
        c = self.cpus[vcpu]
        value = intid
        intid, _ = self.decode(value)
        if intid < 0:
            c.tainted = c.tainted or f"EOI of {value:#x} with reserved bits set"
            return
        if 1020 <= intid <= 1023:
            return
        named = self.lookup(vcpu, intid)
        if unrestored := [x for x in self._held_by(vcpu) if x.restored and x.active]:
            # G7: the guest EOIs while an interrupt made active by ISACTIVER has no active priority
            # (vgic_irq.c's test_restore_active restores each one's in ICC_AP1R<n>_EL1 first).  A
            # priority drop with an active interrupt that no APR accounts for: which interrupt a
            # hypervisor's EOIcount then deactivates is not the architecture's to say (KVM's
            # vgic_v3_fold_lr_state takes the first active one after the LRs, in priority order)
            c.tainted = c.tainted or "EOI with an ISACTIVER-restored interrupt whose priority is not in the APRs (G7)"
            # the interrupt the EOI names is at risk too: the EOIcount may deactivate another one
            # instead, and leave it active (corpus/regressions/vgic-g7-eoi-leaves-named-spi-active.json)
            self._taint_sharers(vcpu, [*unrestored, *([named] if named is not None and named.active else [])], "G7")
        top = c.ack_stack[-1] if c.ack_stack else None
        i = named
        if (not c.veng[g] or (top == (value, g) and value in c.grp_off)) and i is not None and i.active \
                and intid < LPI_BASE and (others := [
                x for x in chain(self.private[vcpu], self.spis) if x.active and x is not i]):
            # G9 at the EOI: its group is disabled now, and another interrupt is active (it may
            # have become active after the group was disabled: an ISACTIVER restore)
            c.tainted = c.tainted or (f"EOI of {intid} with group {g} disabled (now or during its handler) and "
                                      "another interrupt active (G9)")
            self._taint_sharers(vcpu, [i, *others], "G9")
        if i is not None and i.holder == vcpu and (as_high := [
                x for x in self._held_by(vcpu) if x is not i and x.active and x.prio <= i.prio]):
            # G7 too: another interrupt an ISACTIVER write made active for this vcpu has a priority
            # as high as (or higher than) the restored one this EOI names, in either group.  The
            # EOI names one; KVM's EOIcount carries no INTID or group, and vgic_v3_fold_lr_state
            # deactivates the first active one after the LRs in ap_list (priority) order (README
            # G7, a finding).  Not judged from here
            c.tainted = c.tainted or "EOI of a restored interrupt with another restored one as high (G7)"
            self._taint_sharers(vcpu, [*as_high, i], "G7")
        if top == (value, g) and not c.veoim and i is not None and intid < LPI_BASE and (
                not i.active or value in c.cleared):
            # G8: an EOImode-0 EOI of the interrupt being handled after a GICD/GICR_ICACTIVER write
            # deactivated it (kvm-unit-tests' ipi_clear_active_handler deactivates so).  The
            # architecture: a priority drop, and no interrupt is deactivated.  A hypervisor that
            # learns of an EOI outside its LRs only through EOIcount cannot tell which interrupt it
            # named: KVM's vgic_v3_fold_lr_state deactivates the first active one after the LRs, an
            # interrupt the guest still handles (README: G8, a finding).  An ISACTIVER write that
            # made it active again since does not put it back in this vcpu's LRs (KVM queues it on
            # its target's ap_list), so the same holds
            # (corpus/regressions/vgic-eoi-after-icactiver-and-isactiver.json).  Not judged from here
            c.tainted = c.tainted or f"EOI of {intid}, which an ICACTIVER write deactivated while handled (G8)"
            # the EOIcount may deactivate any active interrupt of this vcpu's: an SPI among them
            # taints every vcpu (corpus/regressions/vgic-g8-eoi-puts-restored-spi-at-risk.json)
            self._taint_sharers(vcpu, self._active_here(vcpu), "G8")
        restored = (top is not None and top[0] < 0 and top[1] == g and i is not None
                    and i.holder == vcpu and self._prio_index(vcpu, (intid, g)) == -1 - top[0])
        if i is not None and i.group != g and intid < LPI_BASE:
            restored = False  # the EOIR of the other group (A3): not the EOI of its handler
        if restored and not c.veoim and i is not None and not i.active and intid < LPI_BASE:
            # G8 for a restored handler: an EOImode-0 EOI that ends the handler an ISACTIVER write
            # restored (its priority in the APRs), after an ICACTIVER write deactivated the
            # interrupt.  As above: a priority drop and no deactivation; KVM's EOIcount makes
            # vgic_v3_fold_lr_state deactivate the first active interrupt after the LRs
            # (corpus/regressions/vgic-eoi-of-restored-handler-after-icactiver.json).  Not judged
            c.tainted = c.tainted or f"EOI of {intid}, whose restored handler an ICACTIVER write deactivated (G8)"
            self._taint_sharers(vcpu, self._active_here(vcpu), "G8")
        if top != (value, g) and not restored:
            c.tainted = c.tainted or f"EOI of {intid} (group {g}) is not the last acknowledge (G1)"
            if any(x.active for x in self.spis):
                # UNPREDICTABLE (A3) while an SPI is active, whose active state every CPU interface
                # shares: which interrupt the EOI deactivates, if any, is not settled (KVM's EOIcount
                # takes the first active one after the LRs), for the other vcpus either
                for other in self.cpus:
                    other.tainted = other.tainted or f"vcpu{vcpu}'s EOI of {intid} broke G1 with an SPI active (A3)"
        else:
            popped = c.ack_stack.pop()
            if popped[0] in c.cleared:
                c.cleared.remove(popped[0])
            if popped[0] in c.grp_off:
                c.grp_off.remove(popped[0])
            if restored and i is not None:
                i.holder = None
        dropped = c.drop()
        if dropped is None:
            return
        i = self.lookup(vcpu, intid)
        if i is None or not i.active:
            return
        if i.group == g and (i.prio & c.gmask(g)) == dropped and (not c.veoim or intid >= LPI_BASE):
            i.active = False  # a vLPI is deactivated by its EOI whatever EOImode (S9)
            if NR_PRIVATE <= intid < LPI_BASE:
                i.landing = vcpu  # the guest's EOI: A1, until this vcpu next leaves the guest

    def dir_written(self, vcpu: int, intid: int) -> None:
        """G10: a DIR of an SPI that another vcpu handles with EOImode 0 (its acknowledge not yet
        EOId there, or EOId while that vcpu is still in the guest).  That handler's EOI deactivates
        the SPI too: two CPU interfaces deactivate one interrupt, and the second deactivation names
        an interrupt that is no longer active (the ideal GIC ignores it; a guest bug).  KVM's
        EOIcount, which carries no INTID, then deactivates whichever active interrupt follows the
        LRs of the EOIing vcpu (vgic_v3_fold_lr_state), so every vcpu is tainted
        (corpus/regressions/vgic-dir-of-spi-handled-with-eoimode0-elsewhere.json)."""
        c = self.cpus[vcpu]
        target, _ = self.decode(intid)
        if not c.veoim or not NR_PRIVATE <= target < LPI_BASE:
            return
        for n, other in enumerate(self.cpus):
            if n != vcpu and not other.veoim and any(e[0] == target for e in other.ack_stack):
                why = f"vcpu{vcpu}'s DIR of SPI {target}, which vcpu{n} handles with EOImode 0 (G10)"
                break
        else:
            # the other order: that handler's EOI came first and vcpu n is still in the guest (A1),
            # so KVM has not seen it yet (an EOI outside the LRs is only an EOIcount until n's
            # exit) (corpus/regressions/vgic-dir-after-eoimode0-eoi-elsewhere.json)
            i = self.lookup(vcpu, target)
            n = -1 if i is None or i.active or i.landing is None else i.landing
            if n in (-1, vcpu) or self.cpus[n].veoim:
                return
            why = f"vcpu{vcpu}'s DIR of SPI {target}, which vcpu{n} EOId with EOImode 0 in the guest (G10)"
        for each in self.cpus:
            each.tainted = each.tainted or why

    def dir(self, vcpu: int, intid: int, in_guest: bool = True) -> None:
        """A DIR (EOImode 1) deactivates the interrupt; ``in_guest``: the guest's CPU interface
        completed it (not the host's emulation of a trapped one at the exit), so for an SPI it
        lands with latency (``ArchIrq.landing``)."""
        c = self.cpus[vcpu]
        value = intid
        intid, cpuid = self.decode(value)
        if intid < 0:
            c.tainted = c.tainted or f"DIR of {value:#x} with reserved bits set"
            return
        if intid >= 1020 or not c.veoim:
            return
        i = self.lookup(vcpu, intid)
        if i is None:
            return
        if cpuid is not None and i.active and cpuid != i.active_src:
            # GICV_DIR names an SGI by INTID and CPUID: a value that no acknowledge returned
            # names no active interrupt (UNPREDICTABLE, IHI 0048B GICC_DIR)
            c.tainted = c.tainted or f"DIR of SGI {intid} from CPU {cpuid}, active from CPU {i.active_src}"
            return
        if in_guest and i.active and NR_PRIVATE <= intid < LPI_BASE:
            i.landing = vcpu
        i.active = False

    def set_pmr(self, vcpu: int, value: int) -> None:
        self.cpus[vcpu].vpmr = value & self.pmask

    def set_bpr(self, vcpu: int, g: int, value: int) -> None:
        c = self.cpus[vcpu]
        if c.active_priorities():
            c.tainted = c.tainted or "BPR written with active priorities (G2)"
        if g == 0:
            c.vbpr0 = max(value & 7, 7 - c.pre)
        elif not c.vcbpr:
            c.vbpr1 = max(value & 7, 8 - c.pre)

    def set_grpen(self, vcpu: int, g: int, enable: bool) -> None:
        c = self.cpus[vcpu]
        if c.veng[g] and not enable:
            handled = [i for value, grp in c.ack_stack if value >= 0 and grp == g
                       and (i := self.lookup(vcpu, self.decode(value)[0])) is not None and i.active]
            # marked for G9 at their EOIs: another interrupt may become active before them (an
            # ISACTIVER restore), after the group is enabled again
            # (corpus/regressions/vgic-group-reenabled-before-eoi-taints.json)
            c.grp_off += [v for v, grp in c.ack_stack if v >= 0 and grp == g and v not in c.grp_off]
            others = [i for i in chain(self.private[vcpu], self.spis) if i.active and i not in handled]
            if handled and others:
                # G9: a group disabled while the guest handles one of its interrupts, with another
                # interrupt active.  The architecture: the handler's EOI still drops its priority
                # and deactivates it.  KVM sorts an interrupt of a disabled group after the
                # deliverable ones (vgic_irq_cmp, 33c1f60b3213), so it may fall out of the LRs, and
                # the EOI only bumps EOIcount: vgic_v3_fold_lr_state deactivates the first active
                # interrupt after the LRs, another one (README G9, a finding;
                # corpus/regressions/vgic-group-disabled-while-handled-taints.json)
                c.tainted = c.tainted or f"group {g} disabled while one of its interrupts is handled (G9)"
                self._taint_sharers(vcpu, handled + others, "G9")
        c.veng[g] = enable

    def set_eoimode(self, vcpu: int, mode: bool) -> None:
        c = self.cpus[vcpu]
        if mode != c.veoim and (any(i.active for i in self.private[vcpu]) or any(i.active for i in self.spis)):
            # G6: a guest's GIC driver picks EOImode once (Linux: at boot).  Switched while an
            # interrupt is active (e.g. priority-dropped with EOImode 1, awaiting its DIR), an
            # EOIR with EOImode 0 for an interrupt outside the LRs only bumps EOIcount, and which
            # active interrupt a hypervisor then deactivates is not the architecture's to say
            # (KVM's vgic_v3_fold_lr_state takes the first after the last LR in priority order)
            c.tainted = c.tainted or "EOImode changed with interrupts active (G6)"
            if any(i.active for i in self.spis):
                # an SPI's active state is shared by every CPU interface (A3's reasoning): the
                # interrupt KVM's EOIcount deactivates may be an SPI another vcpu handles or is
                # routed next (corpus/regressions/vgic-eoimode-switch-with-active-spi-taints-all.json)
                for other in self.cpus:
                    other.tainted = other.tainted or f"vcpu{vcpu} changed EOImode with an SPI active (G6)"
        c.veoim = mode
