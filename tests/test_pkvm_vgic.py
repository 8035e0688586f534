"""pKVM x vgic: the hyp's own ``vgic_v3_cpu_if`` (model/pkvm/hyp_vgic.py) between the host's copy
and the pCPU's interface: what each copy holds, which hypercall carries what, and that dropping any
of the copies is seen (the scenario corpus/seeds/pkvm-vgic-copies-across-migration.json)."""

import attrs
import pytest

from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.runner import Execution, build_system, run
from hvfuzz.fuzz.trace import Config
from hvfuzz.model.pkvm.hooks import KernelHooks
from hvfuzz.model.variants import BUILTIN, LAZY, Origin
from hvfuzz.model.vgic.vgic import Vgic
from hvfuzz.model.vocab import ops as O

SCENARIO = "corpus/seeds/pkvm-vgic-copies-across-migration.json"
_EXIT = O.GuestExit(0, kind="irq")


def _scenario(variant: str):
    t = load_repro(SCENARIO)[0]
    return attrs.evolve(t, config=attrs.evolve(t.config, variant=variant))


def _run(variant: str, ops, **cfg):
    s = build_system(Config(variant=variant, **{"vcpus": 1, "pcpus": 2, "nr_lrs": 1, **cfg}))
    for op in ops:
        assert s.apply(op)[0][3], op
    return s


_ENTER_WITH_SPI = [O.ConfigIrq(0, intid=32, enabled=True, priority=0x40, group=1, level=False, target=0),
                   O.InjectIrq(0, intid=32, level=True), O.KvmRun(0, pcpu=0), O.GuestEnter(0)]


def test_the_pcpu_runs_on_the_hyp_copy_and_the_host_folds_its_own() -> None:
    s = _run("lazy", _ENTER_WITH_SPI)
    host, hyp, hw = s.vcpus[0].vgic_cpu_if, s.hyp[0].vgic_cpu_if, s.pcpus[0].vgic_cpu
    assert hyp is not host and hw.lrs is hyp.vgic_lr and hw.lrs is not host.vgic_lr
    assert hyp.used_lrs == host.used_lrs == 1 and hyp.vgic_lr[0] == host.vgic_lr[0]
    assert hyp.vgic_lr[0] is not host.vgic_lr[0]  # copied by value
    s.apply(O.GuestSetGrpEn(0, group=1, enable=True))
    s.apply(O.GuestSetPmr(0, value=0xF0))
    s.apply(O.GuestAck(0, group=1))
    s.apply(_EXIT)
    # sync_hyp_vgic_state brought the acknowledged LR and the VMCR back; the fold emptied the host's
    assert s.vgic.spis[0].active and host.used_lrs == 0
    assert host.vgic_vmcr == hyp.vgic_vmcr and host.vgic_vmcr is not hyp.vgic_vmcr and host.vgic_vmcr.veng1


def test_the_reference_keeps_one_copy() -> None:
    s = _run("reference", _ENTER_WITH_SPI)
    assert not s.hyp and s.pcpus[0].vgic_cpu.lrs is s.vcpus[0].vgic_cpu_if.vgic_lr


@pytest.mark.parametrize("variant, at_exit", [("lazy", True), ("pkvm-vgic-vmcr-not-eager", False)])
def test_vmcr_reaches_the_host_at_exit_or_only_at_put(variant: str, at_exit: bool) -> None:
    s = _run(variant, [*_ENTER_WITH_SPI, O.GuestSetGrpEn(0, group=1, enable=True), _EXIT])
    assert s.vcpus[0].vgic_cpu_if.vgic_vmcr.veng1 is at_exit
    s.apply(O.SchedOut(0))  # kvm_arch_vcpu_put: __vgic_v3_save_aprs (before cf72ee637119: + VMCR)
    assert s.vcpus[0].vgic_cpu_if.vgic_vmcr.veng1


def test_eoicount_reaches_the_host_only_through_vgic_hcr() -> None:
    assert run(_scenario("lazy")).ok
    v = run(_scenario("pkvm-vgic-eoicount-lost"))
    assert not v.ok and v.oracle == "gic-active"


def test_aprs_cross_a_migration_through_the_host() -> None:
    """The scenario migrates the vcpu with two interrupts active: without the put's APR copy
    (``__vgic_v3_save_aprs``) the load gives the hyp the host's stale APRs and the guest's active
    priorities are lost (ICV_RPR_EL1 differs).  (The load's copy host -> hyp matters only when
    the host changes its copy between put and load, by userspace's ICC_* uaccess, which no op
    models: without it the hyp's copy is already right.)"""
    assert run(_scenario("lazy")).ok
    no_save = attrs.evolve(BUILTIN["lazy"], name="lazy-no-save-aprs",
                           hooks=KernelHooks(handle___vgic_v3_save_aprs=lambda *a: None))
    reg = BUILTIN.with_design([no_save], Origin("module", "test"))
    t = _scenario("lazy")
    v = run(attrs.evolve(t, config=attrs.evolve(t.config, variant=no_save.name, registry=reg)))
    assert not v.ok and v.oracle == "gic-rpr"


def _overcount(orig, self: Vgic, vcpu: int) -> None:
    # a misbehaving host: used_lrs beyond the implemented LRs
    orig(self, vcpu)
    self.cpu_if[vcpu].used_lrs = self.nr_lrs + 2


@pytest.mark.parametrize("clamp", [True, False])
def test_used_lrs_clamp_protects_against_the_host(clamp: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``min(used_lrs, hyp_gicv3_nr_lr)``: only a host that miscounts can exceed the LRs (the
    model's ``vgic_flush_lr_state`` stops at ``nr_lr``, so ``pkvm-vgic-used-lrs-unclamped`` would be
    an equivalent mutant against an honest host); with the clamp the pCPU's interface never sees
    more, without it gic-I7-used-lrs fires."""
    cfg = Config(variant="lazy", vcpus=1, pcpus=1, nr_lrs=2)
    ex = Execution(cfg)
    ex.sut.policy = attrs.evolve(LAZY, clamp_used_lrs=clamp)
    original = Vgic.vgic_flush_lr_state
    monkeypatch.setattr(Vgic, "vgic_flush_lr_state", lambda self, vcpu: (
        _overcount(original, self, vcpu) if self is ex.sut.vgic else original(self, vcpu)))
    verdict = None
    for op in _ENTER_WITH_SPI:
        verdict = verdict or ex.step(op)
    assert ex.sut.hyp[0].vgic_cpu_if.used_lrs == (2 if clamp else 4)
    assert (verdict is None) is clamp
    assert clamp or verdict.oracle == "gic-I7-used-lrs"
