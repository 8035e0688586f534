"""The vgic functions against vgic.c / vgic-v3.c (kernel-model.md §3)."""

import attrs

from hvfuzz.fuzz.runner import Execution, run
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.vgic.irq import (
    ICH_HCR_EN,
    ICH_HCR_LRENPIE,
    ICH_HCR_NPIE,
    ICH_HCR_TDIR,
    ICH_HCR_UIE,
    SPURIOUS,
    VgicPolicy,
)
from hvfuzz.model.vgic.v3_hw import IchCpuIf
from hvfuzz.model.vgic.vgic import Vgic
from hvfuzz.model.vocab import ops as O


def vgic(nr_lrs: int = 1, **policy: object) -> Vgic:
    g = Vgic(2, 2, nr_lrs, 5, attrs.evolve(VgicPolicy(), **policy))
    for st in g.cpu_if:
        st.vgic_vmcr.vpmr, st.vgic_vmcr.veng1 = 0xF0, True
    return g


def pend(g: Vgic, intid: int, prio: int, vcpu: int = 0, level: bool = False) -> None:
    assert g.configure_irq(vcpu, intid, True, prio, 1, level, vcpu)
    assert g.kvm_vgic_inject_irq(vcpu, intid, True)


def enter(g: Vgic, vcpu: int = 0) -> IchCpuIf:
    """Flush and restore ``vcpu`` onto pCPU ``vcpu``; returns that pCPU's interface."""
    g.vgic_flush_lr_state(vcpu)  # kvm_vgic_flush_hwstate
    g.ver.restore_state(g.cpu_if[vcpu], g.hw[vcpu], vcpu)
    return g.hw[vcpu]


def leave(g: Vgic, vcpu: int = 0) -> None:
    g.ver.save_state(g.cpu_if[vcpu], g.hw[vcpu])
    g.kvm_vgic_sync_hwstate(vcpu)


def test_target_oracle():  # vgic_target_oracle
    g = vgic()
    irq = g.lookup(0, 32)
    assert g.vgic_target_oracle(irq) is None  # disabled, not pending
    pend(g, 32, 0xA0)
    assert g.vgic_target_oracle(irq) == 0 and irq.vcpu == 0 and g.ap_list[0] == [irq]
    irq.active, irq.pending_latch, irq.enabled = True, False, False
    assert g.vgic_target_oracle(irq) == 0  # active: stays where it is


def test_post_sort_puts_pending_first_pre_sort_active_first():  # vgic_irq_cmp before/after 05984ba67eb6
    for generation, first in (("post", 33), ("pre", 32)):
        g = vgic(generation=generation)
        pend(g, 32, 0x40)
        g.lookup(0, 32).active = True
        pend(g, 33, 0xA0)
        g.vgic_sort_ap_list(0)
        assert g.ap_list[0][0].intid == first, generation


def test_flush_overflow_configures_mis_and_tdir():  # vgic_flush_lr_state + vgic_v3_configure_hcr
    g = vgic(nr_lrs=1)
    pend(g, 32, 0xA0)
    pend(g, 33, 0x40)
    g.lookup(0, 32).active = True
    g.lookup(0, 32).pending_latch = False
    enter(g)
    c = g.cpu_if[0]
    assert c.used_lrs == 1 and c.vgic_lr[0].intid == 33 and c.vgic_lr[0].pending
    assert g.last_lr_irq[0].intid == 33
    hcr = c.vgic_hcr
    assert hcr & ICH_HCR_EN and hcr & ICH_HCR_UIE and hcr & ICH_HCR_LRENPIE and hcr & ICH_HCR_TDIR
    assert not hcr & ICH_HCR_NPIE  # one pending, one LR


def test_level_lr_has_eoi_and_no_pending_plus_active():  # vgic_v3_compute_lr
    g = vgic(nr_lrs=2)
    pend(g, 23, 0x80, level=True)
    irq = g.lookup(0, 23)
    lr = g.ver.vgic_v3_compute_lr(irq)
    assert lr.eoi and lr.pending and not lr.active
    irq.active = True
    lr = g.ver.vgic_v3_compute_lr(irq)
    assert lr.active and not lr.pending  # line still high, but never P+A for a level LR


def test_ack_eoi_in_lr_and_eoicount_outside():  # icv_iar_read / icv_eoir_write
    g = vgic(nr_lrs=1)
    pend(g, 32, 0xA0)
    c = enter(g)
    assert c.icv_iar_read(1) == 32 and c.lrs[0].active and c.rpr() == 0xA0
    assert c.icv_iar_read(1) == SPURIOUS
    c.icv_eoir_write(1, 32)
    assert not c.lrs[0].valid and c.rpr() == 0xFF and c.eoicount == 0
    c.apr[1][0] = 1 << (0x80 >> 3)  # an active priority for something not in an LR
    c.icv_eoir_write(1, 40)
    assert c.eoicount == 1


def test_eoicount_walk_starts_after_the_last_lr():  # vgic_v3_fold_lr_state (cd28ca4c27ed)
    for from_last, deactivated in ((True, 33), (False, 34)):
        g = vgic(nr_lrs=1, eoicount_from_last_lr=from_last)
        for intid, prio in ((32, 0xA0), (33, 0x80)):
            pend(g, intid, prio)
            irq = g.lookup(0, intid)
            irq.active, irq.pending_latch = True, False
        pend(g, 34, 0x40)
        c = enter(g)  # LR: 34 (pending); outside: 33, 32 (active)
        assert c.lrs[0].intid == 34
        c.apr[1][0] = (1 << (0x80 >> 3)) | (1 << (0xA0 >> 3))
        c.icv_eoir_write(1, 33)  # outside the LRs: EOIcount
        assert c.icv_iar_read(1) == 34  # then the guest acknowledges 34 from the LR
        leave(g)
        assert not g.lookup(0, deactivated).active


def test_exit_clears_ich_hcr_and_keeps_eoicount():  # __vgic_v3_save_state (f4ded7b0848e, 8be00d1ba3a1)
    g = vgic(nr_lrs=1)
    pend(g, 32, 0xA0)
    pend(g, 33, 0x40)
    g.lookup(0, 32).active = True
    g.lookup(0, 32).pending_latch = False
    c = enter(g)
    c.bump_eoicount()
    g.ver.save_state(g.cpu_if[0], c)
    assert c.hcr == 0 and (g.cpu_if[0].vgic_hcr >> 27) == 1
    assert c.vcpu is None and not any(c.lrs) and g.cpu_if[0].vgic_lr[0].intid == 33  # LRs saved
    armed = vgic(nr_lrs=1, exit_hcr_zero=False)
    pend(armed, 32, 0xA0)
    enter(armed)
    armed.ver.save_state(armed.cpu_if[0], armed.hw[0])
    assert armed.hw[0].hcr != 0


def _asym(**policy: object) -> tuple[Vgic, IchCpuIf, IchCpuIf]:
    """SPI 32 acknowledged and priority-dropped on vcpu0 (EOImode 1), both vcpus in the guest."""
    g = vgic(nr_lrs=4, **policy)
    for st in g.cpu_if:
        st.vgic_vmcr.veoim = True
    pend(g, 32, 0xA0)  # SPI in flight: TDIR on every vcpu
    c0 = enter(g, 0)
    c1 = enter(g, 1)
    assert c0.icv_iar_read(1) == 32
    c0.icv_eoir_write(1, 32)
    return g, c0, c1


def test_dir_trap_fast_path_in_the_lrs():  # ___vgic_v3_write_dir: active in this vcpu's LRs
    g, c0, _ = _asym()
    assert c0.dir_traps()
    assert g.guest_dir(0, c0, 32) == "trap-fast-path"
    assert not c0.lrs[0].active


def test_dir_of_another_vcpus_lr_exits_and_halts_the_owner():  # access_gic_dir / vgic_v3_deactivate
    g, c0, c1 = _asym()
    assert c1.dir_traps()
    assert g.guest_dir(1, c1, 32) == "trap-exit"  # no LR of vcpu1 holds it: a full exit
    assert c0.lrs[0].active  # nothing done yet: the host emulates it after the exit
    leave(g, 1)
    halted = []
    target = g.deactivate(1, 32, lambda: (halted.append(0), leave(g, 0)))
    assert halted == [0] and target == 0  # vgic_mmio_write_cactive halted vcpu0 (it folded)
    assert not g.lookup(0, 32).active and g.ap_list[0]  # pruned only at vcpu0's request check
    g.kvm_vgic_process_async_update(0)
    assert not g.ap_list[0]


def test_without_the_halt_the_owners_fold_undoes_the_deactivation():  # cactive_halt=False
    g, c0, c1 = _asym(cactive_halt=False)
    assert g.guest_dir(1, c1, 32) == "trap-exit"
    leave(g, 1)
    halted = []
    assert g.deactivate(1, 32, lambda: halted.append(0)) == 0
    assert halted == [] and not g.lookup(0, 32).active
    leave(g, 0)  # the owner's fold writes back its LR's active bit
    assert g.lookup(0, 32).active


def test_dir_trap_handled_at_el2_bumps_eoicount():  # dir_trap_exits=False: __vgic_v3_write_dir
    g, c0, c1 = _asym(dir_trap_exits=False)
    assert g.guest_dir(1, c1, 32) == "trap-eoicount" and c1.eoicount == 1
    assert c0.lrs[0].active  # vcpu1's EOIcount cannot reach vcpu0's LR: the deactivation is lost


def test_first_spi_broadcast_sync_and_async():  # vgic_queue_irq_unlock's kvm_make_all_cpus_request
    for bcast, traps in (("sync", True), ("async", False)):
        g = vgic(nr_lrs=4, tdir_bcast=bcast)
        c1 = enter(g, 1)  # vcpu1 runs before any SPI is in flight: TDIR clear
        assert not c1.dir_traps()
        pend(g, 32, 0xA0)
        assert c1.dir_traps() == traps
        assert bool(g.cpu_if[1].vgic_hcr & ICH_HCR_TDIR) == traps  # the shadow the fast path reads
        leave(g, 1)
        assert enter(g, 1).dir_traps()  # the next entry's configure_hcr sets it either way


def test_a_trapped_dir_is_a_real_exit_of_the_run_loop():  # System: GuestDir -> HandleExit -> re-flush
    from hvfuzz.model.pkvm.state import Phase
    from hvfuzz.model.system import System

    s = System(vcpus=2, pcpus=2, protected=False, policy=None)
    ops = [O.ConfigIrq(0, 32, True, 0xA0, 1, False, 0)]
    for v in (0, 1):
        ops += [O.KvmRun(v, v), O.GuestEnter(v), O.GuestSetPmr(v, 0xF0), O.GuestSetGrpEn(v, 1, True),
                O.GuestSetEoiMode(v, True)]
    ops += [O.InjectIrq(0, 32, True), O.GuestExit(0, "irq"), O.HandleExit(0), O.GuestEnter(0),
            O.GuestAck(0, 1), O.GuestEoi(0, 1, 32)]
    for op in ops:
        assert s.apply(op)[0][3], op
    obs = s.apply(O.GuestDir(1, 32))
    assert ("gic-dir", 1, "ICV_DIR_EL1 handled by", "trap-exit") in obs
    assert s.vcpus[1].phase is Phase.P1 and s.vcpus[1].arch.fault.kind == "trap_sysreg_dir"
    assert s.vcpus[0].phase is Phase.GUEST and s.pcpus[0].vgic_cpu.lrs[0].active
    obs = s.apply(O.HandleExit(1))
    assert s.vcpus[0].phase is Phase.P1 and any(o[:2] == ("exit-pc", 0) for o in obs)  # halted: kicked out
    assert not s.vgic.lookup(0, 32).active and "VGIC_PROCESS_UPDATE" in s.vcpus[0].requests
    for op in (O.HandleExit(0), O.GuestEnter(0)):
        assert s.apply(op)[0][3]
    assert not s.vgic.ap_list[0] and not s.vcpus[0].requests  # pruned at the request check


def test_guest_register_writes_follow_the_cpu_interface_rules():  # icv_pmr_write / write_vbpr
    g = vgic()
    c = enter(g)
    c.icv_pmr_write(0xFF)
    assert c.vmcr.vpmr == 0xF8  # 5 implemented bits
    c.icv_bpr_write(1, 0)
    c.icv_bpr_write(0, 0)
    assert (c.vmcr.vbpr1, c.vmcr.vbpr0) == (3, 2)  # minimum binary points for 5 preemption bits
    c.vmcr.vcbpr = True
    c.icv_bpr_write(1, 6)
    assert c.vmcr.vbpr1 == 3  # ignored while CBPR
    leave(g)
    assert g.cpu_if[0].vgic_vmcr.vpmr == 0xF8 and g.hw[0].vmcr.vpmr == 0  # saved with the vcpu


def test_cpu_interface_state_follows_the_vcpu_between_pcpus():  # __vgic_v3_save/restore_state
    from hvfuzz.model.system import System
    from hvfuzz.model.vocab import ops as O

    s = System(vcpus=1, pcpus=2, protected=False, policy=None)
    for op in (O.KvmRun(0, 0), O.GuestEnter(0), O.GuestSetPmr(0, 0x80)):
        assert s.apply(op)[0][3]
    assert s.pcpus[0].vgic_cpu.vmcr.vpmr == 0x80 and s.pcpus[0].vgic_cpu.vcpu == 0
    for op in (O.GuestExit(0, "irq"), O.HandleExit(0), O.SchedOut(0)):
        assert s.apply(op)[0][3]
    assert s.vcpus[0].vgic_cpu_if.vgic_vmcr.vpmr == 0x80  # saved with the host vcpu at exit
    assert s.pcpus[0].vgic_cpu.vcpu is None and s.pcpus[0].vgic_cpu.vmcr.vpmr == 0
    for op in (O.SchedIn(0, 1), O.GuestEnter(0)):
        assert s.apply(op)[0][3]
    assert s.pcpus[1].vgic_cpu.vmcr.vpmr == 0x80 and s.pcpus[1].vgic_cpu.vcpu == 0  # restored on pCPU 1


def _two_edge_spis_one_lr(variant: str) -> Trace:
    """Two pending edge SPIs on a vcpu with one LR: the flush puts one in the LR (its pending
    latch moves into the LR) and leaves the other outside, so nr_pend + nr_act = 2 > nr_lr = 1."""
    ops = []
    for intid, prio in ((32, 0x40), (33, 0x48)):
        ops += [O.ConfigIrq(0, intid=intid, enabled=True, priority=prio, group=1, level=False, target=0),
                O.InjectIrq(0, intid=intid, level=True)]
    ops += [O.KvmRun(0, 0), O.GuestEnter(0)]
    return Trace(Config(variant=variant, vcpus=1, pcpus=1, nr_lrs=1), tuple(ops))


def test_i5_counts_an_edge_interrupt_pending_in_an_lr():
    """I5's underflow count is what vgic_flush_lr_state counted (summarize_ap_list before
    vgic_populate_lr): the edge SPI in the LR has no pending latch left at entry, and the count
    without it (1) would not exceed the one LR, so a missing UIE went unnoticed."""
    assert run(_two_edge_spis_one_lr("vgic-lr-overflow")).ok
    t = _two_edge_spis_one_lr("vgic-no-uie")  # NPIE is requested, UIE is not
    ex = Execution(t.config)
    for op in t.ops[:-1]:
        assert ex.step(op) is None
    v = ex.step(t.ops[-1])
    assert v is not None and v.oracle == "gic-I5-mi-config" and "underflow" in v.reason, v
    g = ex.sut.vgic
    old_count = [i for i in g.ap_list[0] if g.vgic_target_oracle(i) == 0 and (i.active or i.is_pending())]
    assert len(old_count) == 1 and len(g.ap_list[0]) == 2  # the old count missed the SPI in the LR


def _two_handled_edge_spis(variant: str) -> tuple[Execution, list]:
    """Two edge SPIs pending, a guest entry (the Execution is returned here), then the ops that
    acknowledge and EOI both (EOImode 0), an IRQ exit and the next entry."""
    ops = []
    for intid in (32, 33):
        ops += [O.ConfigIrq(0, intid=intid, enabled=True, priority=0x40, group=1, level=False, target=0),
                O.InjectIrq(0, intid=intid, level=True)]
    ops += [O.KvmRun(0, 0), O.GuestEnter(0)]
    ex = Execution(Config(variant=variant, vcpus=1, pcpus=1))
    for op in ops:
        assert ex.step(op) is None
    rest = [O.GuestSetPmr(0, value=0xF0), O.GuestSetGrpEn(0, group=1, enable=True)]
    for intid in (32, 33):
        rest += [O.GuestAck(0, group=1), O.GuestEoi(0, group=1, intid=intid)]
    return ex, rest + [O.GuestExit(0, kind="irq"), O.HandleExit(0), O.GuestEnter(0)]


def test_merged_active_spis_never_uncounts_an_edge_spi():
    """As merged (1c3b3cadcd69, variant vgic-active-spis-undercount) the fold decrements only for
    an LR with EOI set (lr_signals_eoi_mi: level SPIs): two handled edge SPIs stay counted and DIR
    stays trapped."""
    ex, rest = _two_handled_edge_spis("vgic-active-spis-undercount")
    for op in rest:
        assert ex.step(op) is None
    assert not ex.sut.vgic.ap_list[0]  # both handled and pruned
    assert ex.sut.vgic.active_spis == 2 and ex.sut.pcpus[0].vgic_cpu.hcr & ICH_HCR_TDIR


def test_active_spis_returns_to_zero_after_two_handled_spis():
    """kvm->arch.vgic.active_spis in the correct design counts the SPIs on ap_lists: two SPIs
    acknowledged and EOId (EOImode 0) leave the ap_list at the next exit's prune, the count is 0
    again and the next entry does not trap DIR (1c3b3cadcd69: TDIR while active_spis)."""
    ex, rest = _two_handled_edge_spis("vgic-lr-overflow")
    g, hw = ex.sut.vgic, ex.sut.pcpus[0].vgic_cpu
    assert g.active_spis == 2 and hw.hcr & ICH_HCR_TDIR  # two SPIs in flight: DIR traps
    for op in rest:
        assert ex.step(op) is None
    assert g.active_spis == 0 and not g.ap_list[0]
    assert ex.sut.vcpus[0].phase.value == "guest" and not hw.hcr & ICH_HCR_TDIR
