"""The early returns of ``__kvm_vcpu_run`` under pKVM (issue 13 item 6, review rows F4/E3).

``handle___kvm_vcpu_run`` comes back without a flush, a run or a sync when no hyp vcpu (or, in
the later tree, not the host's) is loaded on this CPU or SVCR is non-zero.  A correct host never
gets there (see ``hyp_main.handle___kvm_vcpu_run_early``): no op does it, so these tests play the
misbehaving host by editing the pCPU, and pin what each tree and the seed then do.
"""

import pytest

from hvfuzz.model.pkvm.invariants import check_invariants
from hvfuzz.model.pkvm.state import PENDING_EXCEPTION, PKVM_HOST_STATE_DIRTY, Phase
from hvfuzz.model.regs import HCR_VSE, REG_INDEX
from hvfuzz.model.system import System
from hvfuzz.model.variants import VARIANTS
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.registry import ORACLES

X1 = REG_INDEX["x1"]


def dirty(s: System) -> bool:
    return bool(s.vcpus[0].arch.iflags & PKVM_HOST_STATE_DIRTY)


def system(variant: str) -> System:
    return System(1, 2, False, VARIANTS[variant].policy)


def run_once_then_set_x1(s: System, value: int) -> None:
    """KVM_RUN, an IRQ exit (DIRTY cleared: the state lives in the hyp vcpu), back to userspace
    (put: DIRTY set), then KVM_SET_ONE_REG x1: a host write only the next flush carries."""
    for op in (O.KvmRun(0, 0), O.GuestEnter(0), O.GuestExit(0, "irq"), O.HandleExit(0), O.ExitToUser(0),
               O.UserSetReg(0, "x1", value)):
        assert s.apply(op)[0][3], op
    assert dirty(s)


def misbehave(s: System, how: str) -> None:
    """What a correct host never does: enter with SVCR set, or with no hyp vcpu loaded here."""
    cpu = s.pcpus[s.vcpus[0].pcpu]
    if how == "svcr":
        cpu.svcr = 1
    else:
        s.hyp[cpu.loaded_hyp_vcpu].loaded_on = None
        cpu.loaded_hyp_vcpu = None
    f = check_invariants(s)
    assert f is not None and f.oracle == "hyp-vcpu-loaded-at-run" and f.oracle in ORACLES


@pytest.mark.parametrize("how", ["svcr", "not-loaded"])
def test_later_tree_returns_il_and_the_seed_clears_dirty_without_a_flush(how):
    """kvmarm @354d3c964091 returns ARM_EXCEPTION_IL; the seed's handle_exit_pkvm_state clears
    DIRTY although nothing was flushed (kernel-model.md §1.7.3), and handle_exit fails the entry."""
    s = system("lazy")
    run_once_then_set_x1(s, 0x1234)
    s.apply(O.KvmRun(0, 0))
    misbehave(s, how)
    s.apply(O.GuestEnter(0))
    v = s.vcpus[0]
    assert v.phase is Phase.P1 and v.arch.fault.kind == "il"
    assert s.hyp[0].vcpu.ctxt[X1] != 0x1234  # no flush happened
    assert not dirty(s)  # ... and DIRTY is gone: the host's write is now stale by the seed's rules
    s.apply(O.HandleExit(0))  # KVM_EXIT_FAIL_ENTRY: out of KVM_RUN
    assert v.phase is Phase.OUT
    if how == "svcr":
        # the hyp vcpu was loaded: __pkvm_vcpu_put sees DIRTY clear and copies hyp -> host over
        # the userspace write (the put then sets DIRTY again, too late)
        assert v.arch.ctxt[X1] != 0x1234


def test_later_tree_il_not_loaded_is_harmless_to_the_host_copy():
    """With nothing loaded the put copies nothing, and kvm_arch_vcpu_put sets DIRTY again (seed)
    on the way out of KVM_RUN, so the next good KVM_RUN flushes the userspace write: the cleared
    DIRTY does harm only while a hyp vcpu is loaded (the SVCR case above)."""
    s = system("lazy")
    run_once_then_set_x1(s, 0x1234)
    s.apply(O.KvmRun(0, 0))
    misbehave(s, "not-loaded")
    s.apply(O.GuestEnter(0))
    assert not dirty(s)
    s.apply(O.HandleExit(0))
    assert s.vcpus[0].arch.ctxt[X1] == 0x1234 and dirty(s)
    s.apply(O.KvmRun(0, 0))  # a well-behaved entry
    assert check_invariants(s) is None
    s.apply(O.GuestEnter(0))
    assert s.vcpus[0].phase is Phase.GUEST
    assert s.hyp[0].vcpu.ctxt[X1] == 0x1234


@pytest.mark.parametrize("variant", ["lazy-v3", "eager"])
def test_base_returns_einval_taken_as_serror_pending(variant):
    """torvalds/linux @cd6b97bc8971 returns -EINVAL with no hyp vcpu loaded: bit 31 makes the host
    take the SError-pending path (seed: sync_state, DIRTY; then a vSError is injected, masked at
    reset so VSE is set) and handle_exit re-enters the guest (returns 1)."""
    s = system(variant)
    s.apply(O.KvmRun(0, 0))
    misbehave(s, "not-loaded")
    s.apply(O.GuestEnter(0))
    v = s.vcpus[0]
    assert v.phase is Phase.P1 and v.arch.fault.kind == "einval" and v.arch.fault.serror_pending
    assert dirty(s) == (variant == "lazy-v3")
    assert v.arch.hcr_el2 & HCR_VSE and not v.arch.iflags & PENDING_EXCEPTION
    s.apply(O.HandleExit(0))
    assert v.phase is Phase.P0  # back to the top of the run loop: it will come back again


def test_base_svcr_einval_syncs_the_stale_hyp_vcpu_over_the_host_write():
    """SVCR set with the hyp vcpu loaded (seed on its base): the SError-pending path runs
    __pkvm_vcpu_sync_state although DIRTY says the host copy is the authoritative one, so the
    unflushed userspace write is overwritten by the hyp's stale value."""
    s = system("lazy-v3")
    run_once_then_set_x1(s, 0x1234)
    s.apply(O.KvmRun(0, 0))
    misbehave(s, "svcr")
    s.apply(O.GuestEnter(0))
    assert s.vcpus[0].arch.fault.kind == "einval"
    assert s.vcpus[0].arch.ctxt[X1] != 0x1234 and dirty(s)


def test_reference_has_no_early_return():
    s = System(1, 2, False, None)
    s.apply(O.KvmRun(0, 0))
    s.pcpus[0].svcr = 1
    assert check_invariants(s) is None  # not pKVM: nothing to check
    s.apply(O.GuestEnter(0))
    assert s.vcpus[0].phase is Phase.GUEST
