"""The oracles can fail: each check is shown a broken state or a disagreeing pair."""

from hvfuzz.model.pkvm.invariants import check_invariants
from hvfuzz.model.reference import reference_system
from hvfuzz.model.system import System
from hvfuzz.model.variants import LAZY
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.checks import compare
from hvfuzz.oracles.registry import ORACLES


def test_compare_names_the_oracle_and_the_differing_register():
    ref, sut = reference_system(1, 1, False), System(1, 1, False, LAZY)
    for s in (ref, sut):
        s.apply(O.KvmRun(0, 0))
    sut.vcpus[0].arch.iflags = 0  # lose DIRTY: the first flush copies nothing
    f = compare(sut.apply(O.GuestEnter(0)), ref.apply(O.GuestEnter(0)))
    assert f is not None and f.oracle == "guest-entry"
    assert f.variant_saw["pstate"] == "0x0" and f.reference_saw["pstate"] == "0x3c5"


def test_compare_reports_scalar_observations():
    f = compare([("applicability", 0, "op applied", True), ("one-reg", 0, "KVM_GET_ONE_REG x0", 1)],
                [("applicability", 0, "op applied", True), ("one-reg", 0, "KVM_GET_ONE_REG x0", 2)])
    assert f is not None and f.oracle == "one-reg" and "0x1" in f.reason and "0x2" in f.reason


def test_compare_reports_applicability_differences():
    f = compare([("applicability", 0, "op applied", False)], [("applicability", 0, "op applied", True)])
    assert f is not None and f.oracle == "applicability"


def test_equal_observations_pass():
    obs = [("applicability", 0, "op applied", True), ("exit-pc", 0, "pc", 4)]
    assert compare(obs, list(obs)) is None


def test_invariant_hyp_vcpu_loaded_once():
    s = System(1, 2, False, LAZY)
    s.apply(O.KvmRun(0, 0))
    assert check_invariants(s) is None
    s.pcpus[1].loaded_hyp_vcpu = 0  # the same hyp vcpu on a second CPU
    f = check_invariants(s)
    assert f is not None and f.oracle == "hyp-vcpu-loaded-once"


def test_every_observation_kind_is_a_registered_oracle():
    s = reference_system(1, 1, False)
    kinds = set()
    for op in (O.UserGetReg(0, "x0"), O.UserGetVcpuEvents(0), O.KvmRun(0, 0), O.GuestEnter(0),
               O.GuestExit(0, "trap_mmio_write"), O.HandleExit(0)):
        kinds |= {o[0] for o in s.apply(op)}
    assert kinds <= set(ORACLES)
    assert {"one-reg", "vcpu-events", "guest-entry", "exit-pc", "trap-read", "run-loop-pstate"} <= kinds
