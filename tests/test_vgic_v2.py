"""GICv2 (issue 15 item 4): the vgic-v2.c model (``model/vgic/v2.py``, ``v2_hw.py``) op by op, and
ArchGic / GicChecker with GICv2's SGI sources (IHI 0048B §3.2.4: one pending state per source,
GICV_IAR's CPUID)."""

from typing import Any

import attrs

from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.system import System
from hvfuzz.model.variants import VARIANTS
from hvfuzz.model.vgic.irq import ICH_HCR_EOICOUNT_MASK, ICH_HCR_LRENPIE
from hvfuzz.model.vgic.v2 import VgicV2
from hvfuzz.model.vgic.v2_hw import GichCpuIf
from hvfuzz.model.vocab import obs as K
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.judging import Step
from hvfuzz.oracles.arch_gic import SPURIOUS, ArchGic
from hvfuzz.oracles.gic_checks import GicChecker

V2 = "vgic-v2-lr-overflow"


def system(variant: str = V2, vcpus: int = 2, nr_lrs: int = 1) -> System:
    v = VARIANTS[variant]
    return System(vcpus, vcpus, False, v.policy, vgic=v.vgic, nr_lrs=nr_lrs, pri_bits=5)


def boot(s: System, vcpus: int = 2) -> None:
    for v in range(vcpus):
        for op in (O.KvmRun(v, v), O.GuestEnter(v), O.GuestSetPmr(v, 0xF0), O.GuestSetGrpEn(v, 1, True)):
            assert s.apply(op)[0][3], op


def reenter(s: System, v: int = 0) -> None:
    for op in (O.GuestExit(v, "irq"), O.HandleExit(v), O.GuestEnter(v)):
        s.apply(op)


def iar(s: System, v: int = 0) -> int:
    return next(o[3] for o in s.apply(O.GuestAck(v, 1)) if o[0] == K.GIC_IAR)


def test_the_correct_gicv2_design_is_gicv2_without_pkvm() -> None:
    v = VARIANTS[V2]
    assert v.kind == "correct" and v.policy is None and v.gic_version == 2
    s = system()
    assert isinstance(s.vgic.ver, VgicV2) and isinstance(s.vgic.hw[0], GichCpuIf) and s.vgic.pri_bits == 5
    assert VARIANTS["vgic-lr-overflow"].gic_version == 3


def test_an_sgi_from_two_sources_goes_one_source_per_lr() -> None:
    """vgic_v2_populate_lr: the lowest source first, the SGI left pending for the other; GICV_IAR
    reports each source in CPUID; on GICv3 the two requests are one pending SGI."""
    s = system(nr_lrs=4)
    boot(s)
    s.apply(O.ConfigIrq(0, 1, True, 0x40, 1, False, 0))
    s.apply(O.InjectSgi(0, 1, 1))
    s.apply(O.InjectSgi(0, 1, 0))
    irq = s.vgic.private[0][1]
    assert irq.source == 0b11
    reenter(s)
    lrs = [lr for lr in s.vgic_cpu_of(0).lrs if lr is not None]
    assert [(lr.intid, lr.cpuid, lr.pending, lr.eoi) for lr in lrs] == [(1, 0, True, True)]  # one LR, EOI: more
    assert irq.source == 0b10 and irq.pending_latch
    assert iar(s) == 1  # CPUID 0
    # active from CPU 0 with CPU 1's request pending: a multi-source SGI, Active with EOI, never P+A
    reenter(s)
    lr = s.vgic_cpu_of(0).lrs[0]
    assert lr is not None and (lr.active, lr.pending, lr.eoi, lr.cpuid) == (True, False, True, 0)
    s.apply(O.GuestEoi(0, 1, 1))
    reenter(s)
    assert iar(s) == 1 | 1 << 10  # CPU 1's request, in its own LR after the deactivation
    s.apply(O.GuestEoi(0, 1, 1025))
    reenter(s)
    assert iar(s) == SPURIOUS
    # GICv3: ICC_SGI1R_EL1 has no source; the two requests coalesce
    s3 = system("vgic-lr-overflow", nr_lrs=4)
    boot(s3)
    s3.apply(O.ConfigIrq(0, 1, True, 0x40, 1, False, 0))
    s3.apply(O.InjectSgi(0, 1, 1))
    s3.apply(O.InjectSgi(0, 1, 0))
    reenter(s3)
    assert iar(s3) == 1
    s3.apply(O.GuestEoi(0, 1, 1))
    reenter(s3)
    assert iar(s3) == SPURIOUS


def test_gicv_dir_always_traps_and_checks_the_cpuid() -> None:
    """07bb1c5622a5: every GICV_DIR exits; vgic_v2_deactivate ignores an SGI whose CPUID is not its
    active_source, and deactivates it with the right one."""
    s = system(nr_lrs=4)
    boot(s)
    s.apply(O.GuestSetEoiMode(0, True))
    s.apply(O.ConfigIrq(0, 1, True, 0x40, 1, False, 0))
    s.apply(O.InjectSgi(0, 1, 1))
    reenter(s)
    assert iar(s) == 1025
    s.apply(O.GuestEoi(0, 1, 1025))
    obs = s.apply(O.GuestDir(0, 1))  # CPUID 0: not the active source
    assert ("gic-dir", 0, "GICV_DIR handled by", "trap-exit") in obs
    s.apply(O.HandleExit(0))
    assert s.vgic.private[0][1].active
    s.apply(O.GuestEnter(0))
    s.apply(O.GuestDir(0, 1025))
    s.apply(O.HandleExit(0))
    assert not s.vgic.private[0][1].active
    # before 07bb1c5622a5 the page is mapped: the DIR goes to the hardware
    s2 = system("vgic-v2-dir-not-trapped", nr_lrs=4)
    boot(s2)
    s2.apply(O.GuestSetEoiMode(0, True))
    assert ("gic-dir", 0, "GICV_DIR handled by", "hardware") in s2.apply(O.GuestDir(0, 32))


def test_eoicount_is_preserved_at_exit_only_with_the_series() -> None:
    """'GICv2: Preserve EOIcount on exit': GICH_HCR.EOICount survives the save when LRENPIE is set."""
    for variant, kept in ((V2, 1), ("vgic-v2-eoicount-lost", 0)):
        s = system(variant, vcpus=1, nr_lrs=1)
        boot(s, 1)
        for intid, prio in ((32, 0x48), (33, 0x40)):
            s.apply(O.ConfigIrq(0, intid, True, prio, 1, False, 0))
            s.apply(O.InjectIrq(0, intid, True))
        reenter(s)
        assert iar(s) == 33
        reenter(s)  # 33 active outside the LR (32 pending in it): LRENPIE
        st = s.vgic.cpu_if[0]
        assert st.vgic_hcr & ICH_HCR_LRENPIE
        s.apply(O.GuestEoi(0, 1, 33))
        assert s.vgic_cpu_of(0).eoicount == 1
        s.vgic.ver.save_state(st, s.vgic_cpu_of(0))
        assert (st.vgic_hcr & ICH_HCR_EOICOUNT_MASK) >> 27 == kept, variant


def test_gicv2_has_no_lpis() -> None:
    s = system()
    boot(s)
    assert not s.apply(O.InjectMsi(0, 8192, 0x20))[0][3]


# --- the oracle ---------------------------------------------------------------------------------
def arch(vcpus: int = 2) -> ArchGic:
    m = ArchGic(vcpus, pri_bits=8, version=2)
    for v in range(vcpus):
        m.set_pmr(v, 0xF0)
        m.set_grpen(v, 1, True)
    return m


def test_arch_gicv2_sgi_pending_per_source() -> None:
    """IHI 0048B §3.2.4: each source's request is pending on its own; GICV_IAR returns the INTID
    with the CPUID of one of them; an active SGI is not signalled again; five priority bits."""
    m = arch()
    assert m.pri_bits == 5 and m.pmask == 0xF8
    m.configure(0, 1, True, 0x40, 1, False, 0)
    m.sgi(0, 1, 1)
    m.sgi(0, 1, 0)
    assert m.iar_allowed(0, 1) == {1, 1025}
    m.ack(0, 1, 1025)
    assert m.iar_allowed(0, 1) == {SPURIOUS}  # active: CPU 0's request waits
    m.eoi(0, 1, 1025)
    assert m.iar_allowed(0, 1) == {1}
    m.ack(0, 1, 1)
    m.eoi(0, 1, 1)
    assert m.iar_allowed(0, 1) == {SPURIOUS} and not m.cpus[0].tainted
    m.inject(0, 1, True)  # the vcpu's own request (KVM_IRQ_LINE's SGI): from itself
    assert m.iar_allowed(0, 1) == {1}
    m.configure(1, 1, True, 0x40, 1, False, 1)
    m.inject(1, 1, True)
    assert m.iar_allowed(1, 1) == {1 | 1 << 10}
    assert ArchGic(1, 5).iar_allowed(0, 1) == {SPURIOUS}  # GICv3 unchanged


def test_arch_gicv2_dir_of_another_source_taints() -> None:
    m = arch()
    m.set_eoimode(0, True)
    m.configure(0, 1, True, 0x40, 1, False, 0)
    m.sgi(0, 1, 1)
    m.ack(0, 1, 1025)
    m.eoi(0, 1, 1025)
    m.dir(0, 1)  # CPUID 0: no acknowledge returned that value
    assert m.private[0][1].active and "CPU 0" in m.cpus[0].tainted


def _step(op: O.Op, *obs: tuple[str, int, str, Any]) -> Step:
    sut = [(K.APPLICABILITY, op.vcpu, "op applied", True), *obs]
    return Step(0, op, True, sut, sut)


def test_gic_checker_fails_an_iar_naming_a_source_that_did_not_send() -> None:
    """S1 with GICv2's CPUID: GICV_IAR may only report a source whose request is pending."""
    g = GicChecker(2, 5, version=2)
    for op in (O.GuestSetPmr(0, 0xF0), O.GuestSetGrpEn(0, 1, True), O.ConfigIrq(0, 1, True, 0x40, 1, False, 0),
               O.InjectSgi(0, 1, 1)):
        g.after(_step(op, (K.GIC_RPR, 0, "GICV_RPR", 0xFF)))
    ack = O.GuestAck(0, 1)
    f = g.after(_step(ack, (K.GIC_RPR, 0, "GICV_RPR", 0x40), (K.GIC_IAR, 0, "GICV_AIAR", 1)))  # CPUID 0
    assert f is not None and f.oracle == "gic-S1-validity" and "from CPU 0" in f.reason
    assert g.after(_step(ack, (K.GIC_RPR, 0, "GICV_RPR", 0x40), (K.GIC_IAR, 0, "GICV_AIAR", 1025))) is None


def test_the_source_check_fails_a_model_that_reports_the_wrong_cpuid(monkeypatch) -> None:
    """A vgic whose LRs lose the CPUID (every SGI reported from CPU 0) fails on the seed."""
    import hvfuzz.model.vgic.v2 as v2

    trace = Trace(Config(variant=V2, vcpus=2, pcpus=2, nr_lrs=1), (
        O.ConfigIrq(0, 1, True, 0x40, 1, False, 0), O.KvmRun(0, 0), O.GuestEnter(0), O.GuestSetPmr(0, 0xF0),
        O.GuestSetGrpEn(0, 1, True), O.InjectSgi(0, 1, 1), O.GuestExit(0, "irq"), O.HandleExit(0),
        O.GuestEnter(0), O.GuestAck(0, 1)))
    assert run(trace).ok
    real = v2.VgicV2.vgic_v2_compute_lr

    def no_cpuid(self: v2.VgicV2, irq: Any) -> Any:
        return attrs.evolve(real(self, irq), cpuid=0)

    monkeypatch.setattr(v2.VgicV2, "vgic_v2_compute_lr", no_cpuid)
    v = run(trace)
    assert not v.ok and v.oracle == "gic-S1-validity", v


def test_a_gicv2_vm_on_a_gicv3_host() -> None:
    """vgic-v3.c's is_v2_sgi paths and 295b69216558: the GICv3 LRs carry a GICv2 SGI's source, every
    GICV_DIR traps to vgic_v3_deactivate, which strips and checks the CPUID; without the patch the
    value with CPUID 1 is out of range and the SGI stays active."""
    from hvfuzz.model.vgic.v3 import VgicV3

    for variant, deactivated in (("vgic-v3-gicv2-guest", True), ("vgic-v3-gicv2-sgi-dir-lost", False)):
        assert VARIANTS[variant].gic_version == 2
        s = system(variant, nr_lrs=4)
        assert isinstance(s.vgic.ver, VgicV3) and isinstance(s.vgic.hw[0], GichCpuIf)
        boot(s)
        s.apply(O.GuestSetEoiMode(0, True))
        s.apply(O.ConfigIrq(0, 1, True, 0x40, 1, False, 0))
        s.apply(O.InjectSgi(0, 1, 1))
        s.apply(O.InjectSgi(0, 1, 0))
        reenter(s)
        assert iar(s) == 1  # the lowest source first, the other still pending
        s.apply(O.GuestEoi(0, 1, 1))
        assert ("gic-dir", 0, "GICV_DIR handled by", "trap-exit") in s.apply(O.GuestDir(0, 1))
        s.apply(O.HandleExit(0))
        s.apply(O.GuestEnter(0))
        assert iar(s) == 1025
        s.apply(O.GuestEoi(0, 1, 1025))
        s.apply(O.GuestDir(0, 1025))
        s.apply(O.HandleExit(0))
        assert s.vgic.private[0][1].active is not deactivated, variant
