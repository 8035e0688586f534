"""The oracle seam: the chain is built from the registry in the order repro signatures depend on,
the exhaustive state key covers every judge (one added later included), the architectural GIC
oracle is fed by observations the model emits on both sides and can fail from them alone, the
white-box invariants live beside the model, and ArchPsci's reset state is the architecture's."""

from __future__ import annotations

from typing import Any

import attrs

from hvfuzz.fuzz.exhaustive import state_key
from hvfuzz.fuzz.runner import Execution, run
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model import regs as R
from hvfuzz.model.reference import reference_system
from hvfuzz.model.regs import VCPU_RESET_PSTATE_EL1
from hvfuzz.model.system import System
from hvfuzz.model.variants import LAZY
from hvfuzz.model.vgic.invariants import VgicInvariants
from hvfuzz.model.vgic.irq import ICH_HCR_UIE
from hvfuzz.model.vocab import obs as K
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.judging import Failure, Step
from hvfuzz.oracles import registry
from hvfuzz.oracles.arch_psci import RESET_PSTATE, ArchPsci
from hvfuzz.oracles.gic_checks import GicChecker
from hvfuzz.oracles.registry import ORACLES, Judge, judges_for

_CPUIF = (O.GuestAck(0, 1), O.GuestEoi(0, 1, 32), O.GuestDir(0, 32), O.GuestSetPmr(0, 0xF0),
          O.GuestSetBpr(0, 1, 3), O.GuestSetGrpEn(0, 1, True), O.GuestSetEoiMode(0, True))


def test_the_chain_keeps_todays_order_and_names() -> None:
    assert [j.name for j in judges_for()] == ["differential", "pkvm_invariants", "gic", "vgic_invariants", "psci",
                                              "vcpu"]
    ex = Execution(Config(variant="lazy"))
    # pKVM's invariants are declared for the variant and the reference; the reference has no hyp
    # vcpus (``applies``), so they run on the variant only
    assert len(ex._chain) == 6
    assert ex.judges["pkvm_invariants"].applies(ex.sut) and not ex.judges["pkvm_invariants"].applies(ex.ref)
    assert isinstance(ex.gic, GicChecker) and ex.gic.m is not None and isinstance(ex.psci, ArchPsci)
    assert [j.name for j in judges_for(["psci"])] == ["differential", "psci", "vcpu"]


def test_every_observation_kind_is_a_named_oracle() -> None:
    assert set(K.KINDS) <= set(ORACLES)


@attrs.define
class _Counter:
    """A judge added later: it counts the ops it saw."""

    n: int = 0

    def after(self, step: Step) -> Failure | None:
        self.n += step.applied
        return None

    def state_key(self, intids: tuple[int, ...]) -> object:
        return self.n


def test_the_state_key_covers_every_judge_even_one_added_later(monkeypatch: Any) -> None:
    monkeypatch.setattr(registry, "JUDGES", (*registry.JUDGES,
                                             Judge("counter", frozenset(registry.COMPONENTS), lambda *_: _Counter())))
    ex = Execution(Config(variant="lazy"))
    assert isinstance(ex.judges["counter"], _Counter)
    before = state_key(ex, ())
    ex.judges["counter"].n += 1  # only the new judge's state changes
    assert state_key(ex, ()) != before
    ex.judges["counter"].n -= 1
    assert state_key(ex, ()) == before


def test_cpu_interface_ops_show_the_running_priority_on_both_sides() -> None:
    pre = (O.ConfigIrq(0, 32, True, 0x40), O.InjectIrq(0, 32), O.KvmRun(0, 0), O.GuestEnter(0),
           O.GuestSetPmr(0, 0xF0), O.GuestSetGrpEn(0, 1, True))
    for s in (System(1, 1, False, LAZY), reference_system(1, 1, False)):
        for op in pre:
            s.apply(op)
        obs = s.apply(O.GuestAck(0, 1))
        assert [o[0] for o in obs] == [K.APPLICABILITY, K.GIC_RPR, K.GIC_IAR]  # the IAR stays last
        assert obs[-1][3] == 32 and obs[1][3] == 0x40
        for op in _CPUIF[1:]:
            assert K.GIC_RPR in [o[0] for o in s.apply(op)], op


def test_an_entry_shows_the_active_set() -> None:
    s = reference_system(2, 2, False)
    for op in (O.ConfigIrq(0, 32, True, 0x40), O.InjectIrq(0, 32), O.KvmRun(0, 0), O.GuestEnter(0),
               O.GuestSetPmr(0, 0xF0), O.GuestSetGrpEn(0, 1, True), O.GuestAck(0, 1), O.GuestExit(0, "irq"),
               O.HandleExit(0)):
        s.apply(op)
    obs = s.apply(O.GuestEnter(0))
    active, queued = next(o[3] for o in obs if o[0] == K.GIC_ACTIVE)
    assert active == (32,) and queued == ((32, 0, True),)


def _step(op: O.Op, *obs: tuple[str, int, str, Any]) -> Step:
    sut = [(K.APPLICABILITY, op.vcpu, "op applied", True), *obs]
    return Step(0, op, True, sut, sut)


def test_gic_checker_judges_from_observations_alone() -> None:
    """S4 from a wrong ``gic-rpr``; L2 and S3 from a wrong ``gic-active``; no System anywhere."""
    g = GicChecker(1, 5)
    assert g.after(_step(O.GuestSetPmr(0, 0xF0), (K.GIC_RPR, 0, "ICV_RPR_EL1", 0xFF))) is None
    f = g.after(_step(O.GuestSetPmr(0, 0xF0), (K.GIC_RPR, 0, "ICV_RPR_EL1", 0x40)))
    assert f is not None and f.oracle == "gic-S4-running-priority"
    entry = (K.GUEST_ENTRY, 0, "context", ())
    f = g.after(_step(O.GuestEnter(0), entry, (K.GIC_ACTIVE, 0, "active", ((33,), ()))))
    assert f is not None and f.oracle == "gic-L2-deactivation-lost" and g.running == [True]
    g.m.spis[1].active = True
    f = g.after(_step(O.GuestEnter(0), entry, (K.GIC_ACTIVE, 0, "active", ((), ()))))
    assert f is not None and f.oracle == "gic-S3-active-lost"
    # in flight on another running vcpu: folded at that vcpu's exit, not judged at this entry
    g2 = GicChecker(2, 5)
    g2.m.spis[1].active = True
    assert g2.after(_step(O.GuestEnter(0), entry, (K.GIC_ACTIVE, 0, "active", ((), ((33, 1, True),))))) is None
    assert g.after(_step(O.GuestExit(0, "irq"), (K.EXIT_PC, 0, "pc", 0))) is None and g.running == [False]


def test_gic_checker_reads_the_iar_by_kind() -> None:
    g = GicChecker(1, 5)
    f = g.after(_step(O.GuestAck(0, 1), (K.GIC_RPR, 0, "ICV_RPR_EL1", 0xFF), (K.GIC_IAR, 0, "ICV_IAR1_EL1", 40)))
    assert f is not None and f.oracle == "gic-S1-validity" and f.variant_saw == 40


def test_vgic_invariants_live_beside_the_model() -> None:
    s = System(1, 1, False, LAZY)
    for op in (O.KvmRun(0, 0), O.GuestEnter(0)):
        s.apply(op)
    op = O.GuestExit(0, "irq")
    s.apply(op)
    inv = VgicInvariants()
    assert inv.after(Step(0, op, True, s.last_observations, s.last_observations), s) is None
    s.vgic_cpu_of(0).hcr |= ICH_HCR_UIE
    f = inv.after(Step(0, op, True, s.last_observations, s.last_observations), s)
    assert f is not None and f.oracle == "gic-hcr-armed-in-host"


def test_arch_psci_reset_pstate_is_the_architectures() -> None:
    """EL1h with D, A, I and F masked (DEN0022 CPU_ON; Arm ARM reset): 0x3C5.  Written in the
    oracle, and the model's kernel constant agrees with it (checked here, not borrowed there)."""
    assert RESET_PSTATE == 0x3C5 == VCPU_RESET_PSTATE_EL1
    m = ArchPsci(1)
    m._init(0, False)
    assert m.cpus[0].expect == (0, 0, 0x3C5)


def test_arch_psci_disagrees_with_a_wrong_model_reset_pstate(monkeypatch: Any) -> None:
    """Were the model's reset constant wrong (variant and reference alike, so the differential
    oracle agrees), ArchPsci would say so (P2) instead of agreeing with it."""
    trace = Trace(Config(variant="lazy", vcpus=1, pcpus=1), (O.UserVcpuInit(0), O.KvmRun(0, 0), O.GuestEnter(0)))
    assert run(trace).ok
    monkeypatch.setattr(R, "VCPU_RESET_PSTATE_EL1", 0x3C4)
    v = run(trace)
    assert not v.ok and v.oracle == "psci-P2-reset-state"
