"""LPIs named by an MSI and the HW-mapped timer PPI (issue 15 items 3 and 5): the vgic model
against vgic-v3.c / vgic-v3-sr.c / vgic.c, ArchGic against IHI 0069, and the checks that judge
them, each shown able to fail."""

import attrs

from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.vgic.invariants import check_lr_invariants
from hvfuzz.model.vgic.irq import ICH_HCR_TDIR, Lr, VgicPolicy
from hvfuzz.model.vgic.vgic import Vgic
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.arch_gic import ArchGic

LPI = 8192
TIMER = 27


def vgic(nr_lrs: int = 1, eoimode: bool = False, **policy: object) -> Vgic:
    g = Vgic(1, 1, nr_lrs, 5, attrs.evolve(VgicPolicy(), **policy))
    st = g.cpu_if[0]
    st.vgic_vmcr.vpmr, st.vgic_vmcr.veng1, st.vgic_vmcr.veoim = 0xF0, True, eoimode
    return g


def enter(g: Vgic):
    g.vgic_flush_lr_state(0)
    g.ver.restore_state(g.cpu_if[0], g.hw[0], 0)
    return g.hw[0]


def leave(g: Vgic) -> None:
    g.ver.save_state(g.cpu_if[0], g.hw[0])
    g.kvm_vgic_sync_hwstate(0)


# --- LPIs ---------------------------------------------------------------------------------------
def test_msi_maps_the_lpi_at_first_use_and_latches_pending():  # vgic_its_inject_msi
    g = vgic()
    assert not g.vgic_its_inject_msi(0, 1023, 0x40)  # not an LPI
    assert g.vgic_its_inject_msi(0, LPI, 0x40)
    irq = g.lookup(0, LPI)
    assert irq.enabled and irq.group == 1 and irq.priority == 0x40 and not irq.level and irq.pending_latch
    assert g.ap_list[0] == [irq] and g.active_spis == 0  # LPIs are not counted as SPIs
    g.vgic_its_inject_msi(0, LPI, 0x80)
    assert irq.priority == 0x40  # the mapping stays


def test_fold_drops_an_lpis_active_bit():  # vgic_v3_fold_lr (73c9726975af)
    for drops in (True, False):
        g = vgic(lpi_fold_drops_active=drops)
        g.vgic_its_inject_msi(0, LPI, 0x40)
        c = enter(g)
        assert c.icv_iar_read(1) == LPI and c.lrs[0].active  # a vLPI in an LR goes active
        leave(g)
        assert g.lookup(0, LPI).active is (not drops)


def test_vlpi_eoi_deactivates_whatever_eoimode_and_never_bumps_eoicount():  # icv_eoir_write (IHI 0069)
    g = vgic(eoimode=True)
    g.vgic_its_inject_msi(0, LPI, 0x40)
    c = enter(g)
    assert c.icv_iar_read(1) == LPI
    c.icv_dir_write(LPI)  # DIR of an LPI: ignored
    assert c.lrs[0].active
    c.icv_eoir_write(1, LPI)
    assert not c.lrs[0].active and c.rpr() == 0xFF
    g2 = vgic()
    g2.vgic_its_inject_msi(0, LPI, 0x40)
    c2 = enter(g2)
    assert c2.icv_iar_read(1) == LPI
    c2.lrs[0] = None  # the LPI left the LRs (overflow)
    c2.icv_eoir_write(1, LPI)
    assert c2.eoicount == 0
    c2.apr[1][0] = 1 << 8
    c2.icv_eoir_write(1, 33)  # an SPI outside the LRs does count
    assert c2.eoicount == 1


def test_trapped_dir_of_an_lpi_is_ignored_by_the_fast_path():  # __vgic_v3_write_dir
    g = vgic(eoimode=True)
    g.vgic_its_inject_msi(0, LPI, 0x40)
    c = enter(g)
    c.hcr |= ICH_HCR_TDIR
    assert c.icv_iar_read(1) == LPI
    assert g.guest_dir(0, c, LPI) == "trap-ignored" and c.lrs[0].active


def test_arch_gic_lpi_rules():  # IHI 0069 S9
    m = ArchGic(1, 5)
    m.set_pmr(0, 0xF0)
    m.set_grpen(0, 1, True)
    m.set_eoimode(0, True)
    m.msi(0, LPI, 0x40)
    assert m.iar_allowed(0, 1) == {LPI}
    m.ack(0, 1, LPI)
    assert m.lookup(0, LPI).active and m.iar_allowed(0, 1) == {1023}
    m.dir(0, LPI)
    assert m.lookup(0, LPI).active  # DIR of an LPI does nothing
    m.eoi(0, 1, LPI)
    assert not m.lookup(0, LPI).active  # EOI deactivates a vLPI even with EOImode 1


def test_kept_lpi_active_state_fails_l2_and_a_forgotten_one_does_not():
    ops = [O.KvmRun(0, 0), O.GuestEnter(0), O.GuestSetPmr(0, 0xF0), O.GuestSetGrpEn(0, 1, True),
           O.InjectMsi(0, LPI, 0x40), O.GuestExit(0), O.HandleExit(0), O.GuestEnter(0), O.GuestAck(0, 1),
           O.GuestExit(0), O.HandleExit(0), O.GuestEnter(0)]
    # acknowledged, not EOIed, folded: KVM forgets the active state; no failure (LPIs have none)
    assert run(Trace(Config(variant="vgic-lr-overflow", vcpus=1, pcpus=1, nr_lrs=1), tuple(ops))).ok
    more = ops[:-1] + [O.ConfigIrq(0, 32, True, 0xA0, 1, False, 0), O.InjectIrq(0, 32, True), O.GuestEnter(0),
                       O.GuestEoi(0, 1, LPI), O.GuestExit(0), O.HandleExit(0), O.GuestEnter(0)]
    for variant, oracle in (("vgic-lr-overflow", None), ("vgic-lpi-active-kept", "gic-L2-deactivation-lost")):
        v = run(Trace(Config(variant=variant, vcpus=1, pcpus=1, nr_lrs=1), tuple(more)))
        assert v.oracle == oracle, v


def test_trace_schema_accepts_lpi_intids():
    from hvfuzz.fuzz.trace import trace_from_json, trace_to_json

    t = Trace(Config(variant="vgic-lr-overflow", vcpus=1, pcpus=1),
              (O.InjectMsi(0, 8195, 0x40), O.GuestEoi(0, 1, 8195), O.GuestDir(0, 8192)))
    assert trace_from_json(trace_to_json(t)) == t


# --- the HW-mapped timer --------------------------------------------------------------------------
def timer(g: Vgic) -> None:
    assert not g.kvm_timer_fire(0)  # PPI 27 still edge: the timer's output is a level
    assert g.configure_irq(0, TIMER, True, 0xA0, 1, True, 0)
    assert g.kvm_timer_fire(0)


def test_hw_lr_carries_the_physical_intid_and_never_pending_active():  # vgic_v3_compute_lr
    g = vgic()
    timer(g)
    irq = g.lookup(0, TIMER)
    assert irq.hw and irq.hwintid == TIMER and g.phys_active[0]
    c = enter(g)
    lr = c.lrs[0]
    assert lr.hw and lr.pintid == TIMER and not lr.eoi and lr.pending
    assert not irq.line_level  # mapped level: the line is cleared at populate
    irq.active, irq.line_level = True, True
    assert not g.ver.vgic_v3_compute_lr(irq).pending  # never P+A on a HW interrupt
    g2 = vgic(hw_lr=False)
    timer(g2)
    assert not enter(g2).lrs[0].hw


def test_guest_deactivation_reaches_the_physical_interrupt():  # ICH_LR_EL2.HW
    for hw_lr in (True, False):
        g = vgic(hw_lr=hw_lr)
        timer(g)
        c = enter(g)
        assert c.icv_iar_read(1) == TIMER
        c.icv_eoir_write(1, TIMER)
        for p in c.phys_deactivated:
            g.phys_deactivate(0, p)
        c.phys_deactivated.clear()
        leave(g)
        irq = g.lookup(0, TIMER)
        # the timer is still expired: deactivated physically, it fires again and is pending
        assert irq.is_pending() is hw_lr and g.phys_active[0]


def test_fold_resamples_a_pending_mapped_level_line():  # vgic_v3_fold_lr: vgic_irq_is_mapped_level
    g = vgic()
    timer(g)
    enter(g)
    g.timer_cond[0] = False  # the guest re-armed the timer before acknowledging
    leave(g)
    assert not g.lookup(0, TIMER).is_pending() and not g.phys_active[0]


def test_sort_puts_hw_first_among_equals():  # vgic_irq_cmp's last key
    for tiebreak, first in ((True, TIMER), (False, 23)):
        g = vgic(sort_hw_tiebreak=tiebreak)
        assert g.configure_irq(0, 23, True, 0xA0, 1, True, 0)
        assert g.kvm_vgic_inject_irq(0, 23, True)
        timer(g)
        g.vgic_sort_ap_list(0)
        assert g.ap_list[0][0].intid == first


def test_i3_fails_on_a_pending_active_hw_lr():
    g = vgic()
    timer(g)
    c = enter(g)
    assert check_lr_invariants(g, c, 0) is None
    c.lrs[0] = Lr(TIMER, pending=True, active=True, priority=0xA0, hw=True, pintid=TIMER)
    f = check_lr_invariants(g, c, 0)
    assert f is not None and f.oracle == "gic-I3-level-lr"


def test_arch_gic_timer_is_a_level_line():
    m = ArchGic(1, 5)
    assert not m.timer_fire(0)  # an edge-configured PPI 27: the op does not apply
    m.configure(0, TIMER, True, 0xA0, 1, True, 0)
    assert m.timer_fire(0)
    m.configure(0, TIMER, True, 0xA0, 1, False, 0)
    assert m.lookup(0, TIMER).level and m.lookup(0, TIMER).pending
