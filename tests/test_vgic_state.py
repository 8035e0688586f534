"""Active and pending state written from outside the CPU interface, routing, APR writes (issue 15
item 6): the model's kernel paths (vgic-mmio.c, vgic-mmio-v3.c, vgic_prune_ap_list) and ArchGic's
rules for them (§2.8, A7, A17, S10, G7)."""

import attrs

from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.pkvm.state import Phase
from hvfuzz.model.system import System
from hvfuzz.model.variants import VARIANTS
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.arch_gic import ArchGic


def _boot(v: int) -> list[O.Op]:
    return [O.KvmRun(v, v), O.GuestEnter(v), O.GuestSetPmr(v, 0xF0), O.GuestSetGrpEn(v, 1, True)]


def _system(variant: str, vcpus: int = 2) -> System:
    var = VARIANTS[variant]
    return System(vcpus, vcpus, False, var.policy, vgic=var.vgic, nr_lrs=4, pri_bits=5)


def _apply(s: System, ops: list[O.Op]) -> list[bool]:
    return [s.apply(op)[0][3] for op in ops]


def test_icpendr_clears_the_latch_not_the_line() -> None:
    ops = _boot(0) + [O.ConfigIrq(0, 32, True, 0x40, 1, True, 0), O.InjectIrq(0, 32, True),
                      O.GuestGicWrite(0, "ISPENDR", 32), O.HandleExit(0), O.GuestEnter(0),
                      O.GuestGicWrite(0, "ICPENDR", 32), O.HandleExit(0)]
    s = _system("vgic-lr-overflow", 1)
    assert all(_apply(s, ops))
    irq = s.vgic.lookup(0, 32)
    assert not irq.pending_latch and irq.line_level and irq.is_pending()
    bad = _system("vgic-icpendr-clears-line", 1)
    _apply(bad, ops)
    assert not bad.vgic.lookup(0, 32).is_pending()


def test_guest_icactiver_halts_the_running_vcpus_first() -> None:
    ops = _boot(0) + _boot(1) + [O.ConfigIrq(0, 32, True, 0x40, 1, False, 0), O.InjectIrq(0, 32, True),
                                 O.GuestExit(0, "irq"), O.HandleExit(0), O.GuestEnter(0), O.GuestAck(0, 1),
                                 O.GuestGicWrite(1, "ICACTIVER", 32), O.HandleExit(1)]
    s = _system("vgic-lr-overflow")
    assert all(_apply(s, ops))
    assert s.vcpus[0].phase is Phase.P1 and not s.vgic.lookup(0, 32).active  # kicked out and folded first
    bad = _system("vgic-mmio-active-no-halt")
    _apply(bad, ops)
    assert bad.vcpus[0].phase is Phase.GUEST  # still holds 32 active in its LR: its fold writes it back


def test_userspace_writes_need_every_vcpu_out_of_kvm_run() -> None:
    s = _system("vgic-lr-overflow")
    assert _apply(s, [O.KvmRun(1, 1), O.UserGicWrite(0, "ISACTIVER", 32)]) == [True, False]
    assert _apply(s, [O.ExitToUser(1), O.UserGicWrite(0, "ISACTIVER", 32)]) == [True, True]
    irq = s.vgic.lookup(0, 32)
    assert irq.active and irq.vcpu == 0  # vgic_mmio_change_active queued it


def test_userspace_cannot_change_the_mapped_timers_active_state() -> None:
    """vgic_hw_irq_change_active: "if (is_uaccess) return"; the guest's own write does change it,
    and its physical interrupt's with it."""
    ops = [O.ConfigIrq(0, 27, True, 0x40, 1, True, 0), O.TimerFire(0), O.UserGicWrite(0, "ISACTIVER", 27)]
    s = _system("vgic-lr-overflow", 1)
    assert all(_apply(s, ops))
    assert not s.vgic.lookup(0, 27).active
    t = Trace(Config(variant="vgic-lr-overflow", vcpus=1, pcpus=1), tuple(ops + _boot(0) + [O.GuestAck(0, 1)]))
    assert run(t).ok  # the architectural judge follows the kernel here (README: a finding)
    s2 = _system("vgic-lr-overflow", 1)
    assert all(_apply(s2, ops[:2] + _boot(0) + [O.GuestGicWrite(0, "ISACTIVER", 27), O.HandleExit(0)]))
    assert s2.vgic.lookup(0, 27).active and s2.vgic.phys_active[0]


def test_a_rerouted_queued_spi_moves_at_the_old_targets_prune() -> None:
    ops = _boot(0) + _boot(1) + [O.ConfigIrq(0, 32, True, 0x40, 1, False, 0), O.InjectIrq(0, 32, True),
                                 O.GuestGicWrite(1, "IROUTER", 32, 1), O.HandleExit(1)]
    s = _system("vgic-lr-overflow")
    assert all(_apply(s, ops))
    irq = s.vgic.lookup(0, 32)
    assert irq.target_vcpu == 1 and irq.vcpu == 0  # vgic_mmio_write_irouter: target only
    s.apply(O.GuestExit(0, "irq"))
    assert irq.vcpu == 1 and irq in s.vgic.ap_list[1] and s.vgic.migrated == [32]
    bad = _system("vgic-prune-no-migrate")
    _apply(bad, ops + [O.GuestExit(0, "irq")])
    assert bad.vgic.lookup(0, 32).vcpu is None and not bad.vgic.migrated


def test_apr_write_beyond_the_implemented_registers_does_not_apply() -> None:
    s = _system("vgic-lr-overflow", 1)
    _apply(s, _boot(0))
    assert _apply(s, [O.GuestSetApr(0, 1, 1), O.GuestSetApr(0, 0, 0x200)]) == [False, True]
    assert s.vgic_cpu_of(0).rpr() == 0x48


# --- ArchGic ---------------------------------------------------------------------------------------
def test_arch_apr_restore_ends_with_the_eoi_of_the_restored_interrupt() -> None:
    m = ArchGic(1, 5)
    m.configure(0, 32, True, 0x48, 1, False, 0)
    m.set_active(0, 32, True)
    m.set_apr(0, 0, 1 << 9)
    assert m.cpus[0].rpr() == 0x48 and m.cpus[0].ack_stack == [(-10, 1)]
    m.eoi(0, 1, 32)
    assert not m.spis[0].active and not m.cpus[0].tainted and m.cpus[0].rpr() == 0xFF


def test_arch_eoi_with_an_unrestored_active_interrupt_taints_g7() -> None:
    m = ArchGic(1, 5)
    for intid, prio in ((32, 0x48), (33, 0x40)):
        m.configure(0, intid, True, prio, 1, False, 0)
        m.set_active(0, intid, True)
    m.set_apr(0, 0, 1 << 9)  # 33's priority (bit 8) never restored
    m.eoi(0, 1, 32)
    assert "G7" in m.cpus[0].tainted


def test_arch_ispendr_of_a_level_interrupt_is_soft_until_icpendr() -> None:
    m = ArchGic(1, 5)
    m.configure(0, 32, True, 0x48, 1, True, 0)
    m.set_pending(0, 32, True)
    i = m.spis[0]
    assert i.pending and i.soft and i.uncertain
    m.ack(0, 1, 32)
    m.dir(0, 32)  # EOImode 0: nothing
    m.eoi(0, 1, 32)
    assert not i.active and not i.pending and 32 in m.forwardable_ids(0)  # A17: may still be latched
    m.set_pending(0, 32, False)
    assert not i.soft and 32 not in m.forwardable_ids(0)


def test_arch_reroute_is_in_transit_until_the_old_target_leaves_the_guest() -> None:
    m = ArchGic(2, 5)
    m.configure(0, 32, True, 0x48, 1, False, 0)
    m.route(32, 1)
    i = m.spis[0]
    assert i.target == 1 and i.transit == (0,) and i.uncertain
    m.left_guest(1)
    assert i.transit == (0,)
    m.left_guest(0)
    assert i.transit == () and not i.uncertain


def test_correct_design_matches_the_architecture_on_the_item6_seeds() -> None:
    import glob

    from hvfuzz.fuzz.export import load_repro

    for f in ("restore-active-with-aprs", "reroute-queued-spi-migrates", "icactiver-by-other-vcpu-halts",
              "icpendr-by-other-vcpu", "icpendr-level-line-stays"):
        (path,) = glob.glob(f"corpus/seeds/vgic-{f}.json")
        trace, _ = load_repro(path)
        assert run(trace).ok
        assert run(attrs.evolve(trace, config=attrs.evolve(trace.config, nr_lrs=1))).ok, f


def test_e8_disabled_active_interrupt_is_not_pending_in_its_lr():
    """E8 (candidate kernel defect): userspace makes a disabled, pending SPI active; vcpu0's guest
    DIRs it.  With the merged vgic_v3_compute_lr the LR comes back Pending and the guest acknowledges
    a disabled interrupt (gic-S1-validity, the bug variant vgic-lr-pending-while-disabled); the
    correct design (lr_pending_needs_enabled) does not."""
    from hvfuzz.fuzz.runner import run
    from hvfuzz.fuzz.trace import Config, Trace
    from hvfuzz.model.variants import BUILTIN
    from hvfuzz.model.vocab import ops as O

    ops = (O.KvmRun(0), O.GuestEnter(0), O.GuestSetPmr(0, 0xF0), O.GuestSetGrpEn(0, 1, True),
           O.GuestSetEoiMode(0, True), O.GuestExit(0, "irq"), O.HandleExit(0), O.ExitToUser(0),
           O.InjectIrq(0, 32, True), O.UserGicWrite(1, "ISACTIVER", 32), O.KvmRun(0), O.GuestEnter(0),
           O.GuestDir(0, 32), O.GuestAck(0, 1))
    assert not BUILTIN["vgic-lr-pending-while-disabled"].vgic.lr_pending_needs_enabled
    assert run(Trace(Config(variant="vgic-lr-overflow", vcpus=2), ops)).ok
    assert run(Trace(Config(variant="vgic-lr-pending-while-disabled", vcpus=2), ops)).oracle == "gic-S1-validity"
