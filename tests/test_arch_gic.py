"""ArchGic against the GICv3 virtual CPU interface rules (gic-architecture.md §1–§2; Arm
ICV_* register pages; QEMU arm_gicv3_cpuif.c)."""

from hvfuzz.oracles.arch_gic import SPURIOUS, ArchGic


def gic(vcpus: int = 1) -> ArchGic:
    m = ArchGic(vcpus, pri_bits=5)
    for v in range(vcpus):
        m.set_pmr(v, 0xF0)
        m.set_grpen(v, 1, True)
    return m


def pend(m: ArchGic, intid: int, prio: int, group: int = 1, vcpu: int = 0) -> None:
    m.configure(vcpu, intid, True, prio, group, False, vcpu)
    m.inject(vcpu, intid, True)


def test_hppi_is_the_lowest_priority_value():  # §2.2 HPPVI
    m = gic()
    pend(m, 32, 0xA0)
    pend(m, 33, 0x40)
    assert m.iar_allowed(0, 1) == {33}


def test_equal_priorities_any_is_allowed():  # A2
    m = gic()
    pend(m, 32, 0x40)
    pend(m, 33, 0x40)
    assert m.iar_allowed(0, 1) == {32, 33}


def test_disabled_group_does_not_block():  # §2.2: a disabled-group HPPI is skipped
    m = gic()
    pend(m, 0, 0x20, group=0)
    pend(m, 32, 0xA0)
    assert m.iar_allowed(0, 1) == {32}
    m.set_grpen(0, 0, True)  # once group 0 is enabled, IAR1 returns 1023 (no fallback)
    assert m.iar_allowed(0, 1) == {SPURIOUS} and m.iar_allowed(0, 0) == {0}


def test_pmr_is_a_strict_bound():  # §2.3 CanSignalVirtualInterrupt: prio < PMR
    m = gic()
    m.set_pmr(0, 0x40)
    pend(m, 32, 0x40)
    assert m.iar_allowed(0, 1) == {SPURIOUS}
    m.set_pmr(0, 0x48)
    assert m.iar_allowed(0, 1) == {32}


def test_running_priority_blocks_equal_group_priority():  # §2.3 preemption by group priority
    m = gic()
    pend(m, 32, 0x80)
    m.ack(0, 1, 32)
    assert m.cpus[0].rpr() == 0x80
    pend(m, 33, 0x80)
    assert m.iar_allowed(0, 1) == {SPURIOUS}
    pend(m, 34, 0x78)
    assert m.iar_allowed(0, 1) == {34}


def test_binary_point_masks_subpriority():  # §2.1 VPriorityGroup with BPR1
    m = gic()
    m.set_bpr(0, 1, 6)  # group priority is bits [7:6]
    pend(m, 32, 0x80)
    m.ack(0, 1, 32)
    pend(m, 33, 0x88)  # same group priority 0x80: cannot preempt
    assert m.iar_allowed(0, 1) == {SPURIOUS}


def test_eoi_drops_priority_and_deactivates_in_eoimode0():  # §2.6
    m = gic()
    pend(m, 32, 0x80)
    m.ack(0, 1, 32)
    m.eoi(0, 1, 32)
    assert m.cpus[0].rpr() == 0xFF and not m.lookup(0, 32).active


def test_eoimode1_eoi_only_drops_dir_deactivates():  # §2.6 / §2.7, S6
    m = gic()
    m.set_eoimode(0, True)
    pend(m, 32, 0x80)
    m.ack(0, 1, 32)
    m.eoi(0, 1, 32)
    assert m.cpus[0].rpr() == 0xFF and m.lookup(0, 32).active
    m.dir(0, 32)
    assert not m.lookup(0, 32).active


def test_dir_is_ignored_in_eoimode0():  # A5
    m = gic()
    pend(m, 32, 0x80)
    m.ack(0, 1, 32)
    m.dir(0, 32)
    assert m.lookup(0, 32).active


def test_level_interrupt_is_active_and_pending_while_the_line_is_high():  # §2.4, S8
    m = gic()
    m.configure(0, 23, True, 0x80, 1, True, 0)
    m.inject(0, 23, True)
    m.ack(0, 1, 23)
    i = m.lookup(0, 23)
    assert i.active and i.pending and m.iar_allowed(0, 1) == {SPURIOUS}
    m.eoi(0, 1, 23)
    assert m.iar_allowed(0, 1) == {23}  # deactivated with the line high: pending again
    m.inject(0, 23, False)
    assert m.iar_allowed(0, 1) == {SPURIOUS}


def test_spi_targets_one_vcpu():  # S10
    m = gic(2)
    m.configure(0, 32, True, 0x80, 1, False, 1)
    m.inject(0, 32, True)
    assert m.iar_allowed(0, 1) == {SPURIOUS} and m.iar_allowed(1, 1) == {32}


def test_non_lifo_eoi_taints_the_vcpu():  # G1 / A3
    m = gic()
    pend(m, 32, 0x80)
    m.ack(0, 1, 32)
    pend(m, 33, 0x40)
    m.ack(0, 1, 33)
    assert not m.cpus[0].tainted
    m.eoi(0, 1, 32)
    assert "G1" in m.cpus[0].tainted


def test_eoimode_change_with_an_active_interrupt_taints_the_vcpu() -> None:
    """G6: EOImode switched while an interrupt is active (priority-dropped, awaiting DIR) makes
    EOIcount attribution ambiguous (corpus/regressions/vgic-eoimode-switch-with-active-taints.json);
    a switch with nothing active does not taint."""
    from hvfuzz.oracles.arch_gic import ArchGic

    m = ArchGic(1, 5)
    m.set_eoimode(0, True)
    assert not m.cpus[0].tainted
    i = m.lookup(0, 16)
    assert i is not None
    i.active = True
    m.set_eoimode(0, True)  # no change: nothing to attribute differently
    assert not m.cpus[0].tainted
    m.set_eoimode(0, False)
    assert "G6" in m.cpus[0].tainted


# --- a DIR that traps to the host takes effect when the host has emulated it (issue 15) ------------
def _asym_dir_prefix():
    """The asymmetric-DIR seed up to vcpu1's DIR of SPI 32 (live in vcpu0's LR), which traps and
    exits (``trap_sysreg_dir``)."""
    import os

    from hvfuzz.fuzz.export import load_repro
    from hvfuzz.model.vocab import ops as O

    t, _ = load_repro(os.path.join(os.path.dirname(__file__), "..", "corpus", "seeds",
                                   "vgic-spi-deactivated-on-other-vcpu.json"))
    i = next(k for k, op in enumerate(t.ops) if isinstance(op, O.GuestDir))
    return t, list(t.ops[: i + 1])


def test_a_trapped_dir_is_not_judged_before_the_host_handles_it():
    """vcpu0 exits and re-enters while vcpu1's trapped DIR waits for its HandleExit: 32 is still
    active in the vgic, and the oracle must not call that a lost deactivation."""
    import attrs

    from hvfuzz.fuzz.runner import run
    from hvfuzz.fuzz.trace import Trace
    from hvfuzz.model.vocab import ops as O

    t, ops = _asym_dir_prefix()
    ops += [O.GuestExit(0, "irq"), O.HandleExit(0), O.GuestEnter(0),  # an entry in the window
            O.HandleExit(1),  # the host emulates the DIR: vcpu0 is halted (kicked out, folds)
            O.HandleExit(0), O.GuestEnter(0)]
    assert run(Trace(t.config, tuple(ops))).ok
    # and the deactivation is judged once the host has handled the exit: lost -> L2
    v = run(Trace(attrs.evolve(t.config, variant="vgic-dir-cactive-no-halt"),
                  tuple(ops[:-2] + [O.GuestExit(0, "irq"), O.HandleExit(0), O.GuestEnter(0)])))
    assert not v.ok and v.oracle == "gic-L2-deactivation-lost"


def test_a_trapped_dir_the_host_drops_fails_l2(monkeypatch):
    """The check can fail: a host whose DIR emulation does nothing leaves 32 active."""
    from hvfuzz.fuzz.runner import run
    from hvfuzz.fuzz.trace import Trace
    from hvfuzz.model.vgic.vgic import Vgic
    from hvfuzz.model.vocab import ops as O

    t, ops = _asym_dir_prefix()
    ops += [O.HandleExit(1), O.GuestExit(0, "irq"), O.HandleExit(0), O.GuestEnter(0)]
    assert run(Trace(t.config, tuple(ops))).ok
    monkeypatch.setattr(Vgic, "deactivate", lambda self, vcpu, intid, halt: None)
    v = run(Trace(t.config, tuple(ops)))
    assert not v.ok and v.oracle == "gic-L2-deactivation-lost"


def test_a_trapped_dir_of_a_vcpu_that_cannot_resume_never_completes():
    """A vcpu in AArch32 state without AArch32 support fails its entry at the exit (KVM does not
    emulate the DIR): the oracle drops the DIR rather than expect a deactivation."""
    from hvfuzz.fuzz.runner import run
    from hvfuzz.fuzz.trace import Trace
    from hvfuzz.model.vocab import ops as O

    t, ops = _asym_dir_prefix()
    ops = ops[:-1] + [O.GuestWriteReg(1, "pstate", 0x3C5 | 0x10)] + ops[-1:]
    ops += [O.HandleExit(1), O.GuestExit(0, "irq"), O.HandleExit(0), O.GuestEnter(0)]
    v = run(Trace(t.config, tuple(ops)))
    assert v.ok, v


def test_a_refused_injection_fails_and_a_no_op_injection_does_not(monkeypatch):
    """gic-API-injection-refused (api.rst KVM_IRQ_LINE): the mutation analysis survivor vgic.py:73
    (``intid < NR_PRIVATE / NR_SPIS``: ``lookup`` finds no SPI, so every SPI op is refused) went
    unseen, as refused ops are not judged.  Repeating a level-sensitive line's level, or level 0
    on an edge interrupt, changes nothing and may be reported as not applied."""
    from hvfuzz.fuzz.runner import run
    from hvfuzz.fuzz.trace import Config, Trace
    from hvfuzz.model.vgic.vgic import Vgic
    from hvfuzz.model.vocab import ops as O

    cfg = Config(variant="vgic-lr-overflow", vcpus=1, pcpus=1)
    ops = (O.ConfigIrq(0, intid=32, enabled=True, priority=0x40, group=1, level=True, target=0),
           O.InjectIrq(0, intid=32, level=True), O.InjectIrq(0, intid=32, level=True),  # no change
           O.InjectIrq(0, intid=33, level=False),  # edge SPI, no edge
           O.KvmRun(0, pcpu=0), O.GuestEnter(0))
    assert run(Trace(cfg, ops)).ok
    original = Vgic.lookup
    monkeypatch.setattr(Vgic, "lookup", lambda self, vcpu, intid: None if intid >= 32 else original(self, vcpu, intid))
    v = run(Trace(cfg, ops))
    assert not v.ok and v.oracle == "gic-API-injection-refused" and v.step == 1


def test_g8_taints_only_the_eoi_of_an_interrupt_icactiver_deactivated():
    """G8: EOImode 0, the handled SPI deactivated by ICACTIVER, then its EOI: the vcpu is tainted
    (KVM's EOIcount cannot tell which interrupt the EOI named).  The same EOI without the
    ICACTIVER write deactivates it and taints nothing."""
    for clear_first in (False, True):
        m = gic()
        pend(m, 32, 0x40)
        m.ack(0, 1, 32)
        if clear_first:
            m.set_active(0, 32, False)
        m.eoi(0, 1, 32)
        assert bool(m.cpus[0].tainted) == clear_first, m.cpus[0].tainted
        assert not m.lookup(0, 32).active
        if clear_first:
            assert "G8" in m.cpus[0].tainted


def test_g8_taints_the_eoi_ending_a_restored_handler_icactiver_deactivated():
    """G8 for a restored handler (corpus/regressions/vgic-eoi-of-restored-handler-after-icactiver.json):
    ISACTIVER makes 32 active for vcpu0, the guest restores its priority in ICC_AP1R0_EL1, and an
    ICACTIVER write deactivates it before the guest's EOImode-0 EOI of it: tainted.  Without the
    ICACTIVER write the EOI ends the handler and deactivates 32, untainted; with EOImode 1 the EOI
    only drops the priority, untainted."""
    for clear_first, eoimode1 in ((False, False), (True, False), (True, True)):
        m = gic()
        m.configure(0, 32, True, 0x40, 1, False, 0)
        if eoimode1:
            m.set_eoimode(0, True)
        m.set_active(0, 32, True)
        m.set_apr(0, 0, 1 << (0x40 >> 3))
        if clear_first:
            m.set_active(0, 32, False)
        m.eoi(0, 1, 32)
        assert bool(m.cpus[0].tainted) == (clear_first and not eoimode1), (clear_first, eoimode1, m.cpus[0].tainted)
        assert not m.lookup(0, 32).active and m.cpus[0].apr[1][0] == 0
        if m.cpus[0].tainted:
            assert "restored handler" in m.cpus[0].tainted


def test_g7_another_restored_interrupt_as_high_taints_and_a_lower_one_does_not():
    """G7's extension: an EOI ending the restored handler of 32 while another interrupt an ISACTIVER
    write made active for this vcpu has a priority as high (KVM's EOIcount deactivates the first
    active one after the LRs, which may be that one): tainted.  Near misses: the other restored
    interrupt has a lower priority, or the EOI ends a handler that was acknowledged (no restore)."""
    for other_prio, other_group, want in ((0x48, 1, True), (0x40, 0, True), (0x50, 1, False)):
        m = gic()
        m.configure(0, 32, True, 0x48, 1, False, 0)
        m.configure(0, 33, True, other_prio, other_group, False, 0)
        m.set_active(0, 32, True)
        m.set_active(0, 33, True)
        m.set_apr(0, 0, 1 << (0x48 >> 3) | 1 << (other_prio >> 3))
        m.eoi(0, 1, 32)
        assert bool(m.cpus[0].tainted) == want, (other_prio, other_group, m.cpus[0].tainted)
        if want:
            assert "G7" in m.cpus[0].tainted
        else:
            assert not m.lookup(0, 32).active and m.lookup(0, 33).active
    m = gic()  # acknowledged, not restored: the EOI of the handler it interrupted ends cleanly
    pend(m, 33, 0x50)
    m.ack(0, 1, 33)
    pend(m, 32, 0x48)
    m.ack(0, 1, 32)
    m.eoi(0, 1, 32)
    assert not m.cpus[0].tainted and not m.lookup(0, 32).active


def test_a3_a_g1_break_taints_every_vcpu_only_while_an_spi_is_active():
    """A3: vcpu0 EOIs out of order (G1).  While an SPI is active anywhere (its active state shared
    by every CPU interface; KVM's EOIcount may deactivate it) every vcpu is tainted; with only
    vcpu0's private interrupts active, vcpu1 is not."""
    for spi_active in (True, False):
        m = gic(2)
        if spi_active:
            pend(m, 40, 0x60, vcpu=1)
            m.ack(1, 1, 40)
        pend(m, 16, 0x80)
        m.ack(0, 1, 16)
        pend(m, 17, 0x40)
        m.ack(0, 1, 17)
        m.eoi(0, 1, 16)
        assert "G1" in m.cpus[0].tainted
        assert bool(m.cpus[1].tainted) == spi_active, m.cpus[1].tainted
        if spi_active:
            assert "A3" in m.cpus[1].tainted


def test_a1_an_spi_deactivated_on_a_running_vcpu_lands_when_it_leaves_the_guest():
    """A1 for a deactivation (corpus/regressions/vgic-rerouted-spi-deactivated-on-running-vcpu.json):
    SPI 34 acknowledged on vcpu1, moved to vcpu0 by IROUTER, EOId on vcpu1 in the guest and pended
    again: until vcpu1 next leaves the guest it is not a certain candidate of vcpu0 (O1's stable
    set and O2 leave it out); then it is.  Near miss: a trapped DIR the host completes at the exit
    lands at once."""
    m = gic(2)
    pend(m, 34, 0x20, vcpu=1)
    m.ack(1, 1, 34)
    m.route(34, 0)
    m.eoi(1, 1, 34)
    m.inject(0, 34, True)
    i = m.lookup(0, 34)
    assert not i.active and i.pending and i.uncertain and i.landing == 1
    assert 34 in {x.intid for x in m.cand(0)}  # a candidate, only not a certain one
    m.left_guest(0)
    assert i.uncertain
    m.left_guest(1)
    assert not i.uncertain
    m = gic(2)
    m.set_eoimode(1, True)
    pend(m, 34, 0x20, vcpu=1)
    m.ack(1, 1, 34)
    m.eoi(1, 1, 34)
    m.route(34, 0)
    m.dir(1, 34, in_guest=False)
    assert not m.lookup(0, 34).active and m.lookup(0, 34).landing is None


def test_g7_taints_every_vcpu_only_when_the_interrupt_at_risk_is_an_spi():
    """G7 with a restored SPI at risk (corpus/regressions/vgic-restored-spi-eoi-taints-every-vcpu.json):
    KVM's EOIcount may deactivate the other restored interrupt instead of the one the EOI names;
    an SPI's active state is shared, so every vcpu is tainted.  Near miss: private interrupts
    (PPIs 20, 21) at risk taint only the EOIing vcpu."""
    for a, b, everyone in ((32, 33, True), (20, 21, False)):
        m = gic(2)
        for intid in (a, b):
            m.configure(0, intid, True, 0xA0, 1, False, 0)
            m.set_active(0, intid, True)
        m.set_apr(0, 0, 1 << (0xA0 >> 3))
        m.eoi(0, 1, b)
        assert "G7" in m.cpus[0].tainted
        assert bool(m.cpus[1].tainted) == everyone, (a, b, m.cpus[1].tainted)


def test_g10_taints_every_vcpu_only_for_a_dir_of_an_spi_handled_with_eoimode0_elsewhere():
    """G10: vcpu1 (EOImode 1) DIRs SPI 32 while vcpu0 handles it with EOImode 0 (its EOI will
    deactivate it too), or after vcpu0's EOImode-0 EOI while vcpu0 is still in the guest (KVM has
    not seen that EOI yet: EOIcount): every vcpu is tainted.  Near misses taint nothing: vcpu0
    handles it with EOImode 1 (the asymmetric deactivation the series supports), or vcpu0 EOId it
    and has left the guest since (its fold made the deactivation visible)."""
    cases = ((False, False, False, True), (True, False, False, False), (False, True, False, True),
             (False, True, True, False), (True, True, False, False))
    for eoimode1, eoid_first, left, tainted in cases:
        m = gic(2)
        pend(m, 32, 0x40)
        m.set_eoimode(0, eoimode1)
        m.set_eoimode(1, True)
        m.ack(0, 1, 32)
        if eoid_first:
            m.eoi(0, 1, 32)
        if left:
            m.left_guest(0)
        m.dir_written(1, 32)
        assert [bool(c.tainted) for c in m.cpus] == [tainted, tainted], (eoimode1, eoid_first, left, m.cpus)
        if tainted:
            assert "G10" in m.cpus[0].tainted


def test_g9_taints_only_a_group_disabled_while_handled_with_another_active():
    """G9: vcpu0 handles SGI 2 (group 0) with SPI 33 active, then disables group 0: tainted, and
    every vcpu (an SPI is at risk).  Near misses taint nothing: no other interrupt active, or the
    group disabled after the EOI."""
    for other_active, eoi_first, tainted in ((True, False, True), (False, False, False), (True, True, False)):
        m = gic(2)
        m.set_grpen(0, 0, True)
        if other_active:
            pend(m, 33, 0x80)
            m.ack(0, 1, 33)
        pend(m, 2, 0x20, group=0)
        m.ack(0, 0, 2)
        if eoi_first:
            m.eoi(0, 0, 2)
        m.set_grpen(0, 0, False)
        assert [bool(c.tainted) for c in m.cpus] == [tainted, tainted], (other_active, eoi_first, m.cpus)
        if tainted:
            assert "G9" in m.cpus[0].tainted


def test_g8_mark_ends_with_its_handler():
    """G8's mark belongs to the handler ICACTIVER interrupted: when an APR write drops that
    handler (no EOI pops it), a fresh acknowledge and EOI of the interrupt deactivate it untainted."""
    m = gic()
    pend(m, 32, 0x40)
    m.ack(0, 1, 32)
    m.set_active(0, 32, False)
    assert m.cpus[0].cleared == [32]
    m.set_apr(0, 0, 0)  # the guest drops every active priority: the handler is gone
    assert not m.cpus[0].ack_stack and not m.cpus[0].cleared
    pend(m, 32, 0x40)
    m.ack(0, 1, 32)
    m.eoi(0, 1, 32)
    assert not m.cpus[0].tainted and not m.lookup(0, 32).active


def test_apr_write_dropping_an_active_handler_taints():
    """A7 outside the restore: an APR write that drops the priority of a handler whose interrupt is
    still active taints the vcpu (a later EOIcount may deactivate it instead of the interrupt an
    EOI names; KVM drops a vLPI's active bit at each fold, so a vLPI may be taken again), and every
    vcpu when an SPI is active.  Not tainted: a write that keeps the priority (the restore adds
    one), or one after the interrupt's EOI."""
    m = gic()
    m.msi(0, 8192, 0x40)
    m.ack(0, 1, 8192)
    m.set_apr(0, 0, m.cpus[0].apr[1][0] | 1 << (0xA0 >> 3))  # a restored priority added: kept
    assert not m.cpus[0].tainted
    m.set_apr(0, 0, 1 << (0xA0 >> 3))  # the vLPI's priority dropped without its EOI
    assert "8192" in m.cpus[0].tainted

    for intid, all_tainted in ((32, True), (2, False)):
        m = gic(2)
        pend(m, intid, 0x40)
        m.ack(0, 1, intid)
        m.set_apr(0, 0, 0)
        assert "A7" in m.cpus[0].tainted
        assert bool(m.cpus[1].tainted) == all_tainted, m.cpus

    m = gic()
    m.msi(0, 8192, 0x40)
    m.ack(0, 1, 8192)
    m.eoi(0, 1, 8192)
    m.set_apr(0, 0, 0)
    assert not m.cpus[0].tainted


def test_g8_taints_every_vcpu_when_an_spi_is_active():
    """G8's EOIcount may deactivate any active interrupt of the EOIing vcpu's: with an SPI active
    (33, whose handler 32 preempted) every vcpu is tainted; with only an SGI active, the EOIing
    vcpu alone."""
    for outer, all_tainted in ((33, True), (2, False)):
        m = gic(2)
        pend(m, outer, 0x48)
        m.ack(0, 1, outer)
        pend(m, 32, 0x40)
        m.ack(0, 1, 32)
        m.set_active(0, 32, False)  # ICACTIVER while vcpu0 handles 32
        m.eoi(0, 1, 32)
        assert "G8" in m.cpus[0].tainted
        assert bool(m.cpus[1].tainted) == all_tainted, m.cpus


def test_g7_taints_every_vcpu_when_the_named_interrupt_is_an_spi():
    """G7 (an EOI while an ISACTIVER-restored interrupt has no active priority): KVM's EOIcount may
    deactivate the restored one instead of the one the EOI names, so an SPI the EOI names stays
    at risk for every vcpu; an SGI named, with only a PPI restored, taints the EOIing vcpu alone."""
    for named, all_tainted in ((32, True), (2, False)):
        m = gic(2)
        pend(m, named, 0xA0)
        m.ack(0, 1, named)
        m.configure(0, 16, True, 0x40, 1, False, 0)
        m.set_active(0, 16, True)  # userspace's ISACTIVER: restored for vcpu0, no APR written
        m.eoi(0, 1, named)
        assert "G7" in m.cpus[0].tainted
        assert bool(m.cpus[1].tainted) == all_tainted, m.cpus


def test_g9_mark_outlives_the_group_reenable():
    """G9 at the EOI when the group was disabled during the handler and enabled again before the
    EOI, with another interrupt active by then (an ISACTIVER restore with its APR bit): KVM's
    ap_list order is the last flush's, so the EOI may miss the LRs.  Near miss: the group never
    disabled."""
    for disable, tainted in ((True, True), (False, False)):
        m = gic()
        m.set_grpen(0, 0, True)
        pend(m, 2, 0x20, group=0)
        m.ack(0, 0, 2)
        if disable:
            m.set_grpen(0, 0, False)  # no other interrupt active yet: no taint here
            assert not m.cpus[0].tainted
        m.configure(0, 33, True, 0xA0, 1, False, 0)
        m.set_active(0, 33, True)
        m.set_apr(0, 0, m.cpus[0].apr[1][0] | 1 << (0xA0 >> 3))  # restored with its priority
        m.set_grpen(0, 0, True)
        m.eoi(0, 0, 2)
        assert bool(m.cpus[0].tainted) == tainted, m.cpus
        if tainted:
            assert "G9" in m.cpus[0].tainted
