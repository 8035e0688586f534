"""Host-side run-loop functions against arm.c / handle_exit.c / inject_fault.c."""

import pytest

from hvfuzz.model.pkvm import host as H
from hvfuzz.model.pkvm.state import (
    EXCEPT_AA64_EL1_SERR,
    INCREMENT_PC,
    PENDING_EXCEPTION,
    PKVM_HOST_STATE_DIRTY,
    Phase,
)
from hvfuzz.model.regs import HCR_VSE, IDX_PC, IDX_PSTATE, sysreg_index
from hvfuzz.model.system import System
from hvfuzz.model.variants import LAZY
from hvfuzz.model.vocab import ops as O


def lazy_system(protected: bool = False) -> System:
    return System(1, 2, protected, LAZY)


def dirty(s: System) -> bool:
    return bool(s.vcpus[0].arch.iflags & PKVM_HOST_STATE_DIRTY)


def enter(s: System) -> None:
    s.apply(O.KvmRun(0, 0))
    s.apply(O.GuestEnter(0))


def test_first_run_sets_dirty_only_for_non_protected():
    s = lazy_system()
    s.apply(O.KvmRun(0, 0))
    assert dirty(s) and s.vcpus[0].has_run_once
    p = lazy_system(protected=True)
    p.apply(O.KvmRun(0, 0))
    assert not dirty(p)


@pytest.mark.parametrize(("kind", "serror", "want_dirty"), [
    ("irq", False, False), ("il", False, False), ("trap_mmio_read", False, True),
    ("el1_serror", False, True), ("irq", True, True), ("trap_sysreg_write", True, True),
])
def test_handle_exit_pkvm_state(kind, serror, want_dirty):
    s = lazy_system()
    enter(s)
    s.apply(O.GuestExit(0, kind, serror))
    assert dirty(s) == want_dirty
    assert s.vcpus[0].phase is Phase.P1


def test_put_sets_dirty_and_saves_timer_from_the_cpu():
    s = lazy_system()
    enter(s)
    s.apply(O.GuestWriteReg(0, "CNTV_CTL_EL0", 1))
    s.apply(O.GuestExit(0, "irq"))
    assert not dirty(s)
    s.apply(O.SchedOut(0))
    assert dirty(s)
    assert s.vcpus[0].arch.ctxt[sysreg_index("CNTV_CTL_EL0")] == 1
    assert s.hyp[0].loaded_on is None and s.pcpus[0].thread is None


def test_timer_restored_on_the_new_cpu_after_migration():
    s = lazy_system()
    enter(s)
    s.apply(O.GuestWriteReg(0, "CNTV_CVAL_EL0", 0x1000))
    s.apply(O.GuestExit(0, "irq"))
    s.apply(O.SchedOut(0))
    s.apply(O.SchedIn(0, 1))
    idx = 1 + 0  # slot of CNTV_CVAL_EL0 in Pcpu.hw_timer (CNTVOFF_EL2 is slot 0)
    assert s.pcpus[1].hw_timer[idx] == 0x1000


def test_serror_injection_masked_sets_vse_unmasked_commits_at_the_ioctl():
    """KVM_SET_VCPU_EVENTS: masked -> VSESR_EL2 + HCR_EL2.VSE; unmasked -> the exception is pended
    and committed at ioctl time (guest.c commit_pending_events, "Commit exceptions from
    KVM_SET_VCPU_EVENTS immediately", July 2025): no PENDING_EXCEPTION is left for KVM_RUN."""
    s = lazy_system()
    s.apply(O.HostInjectSError(0, 0x10))  # reset PSTATE has A set: masked
    a = s.vcpus[0].arch
    assert a.hcr_el2 & HCR_VSE and a.vsesr_el2 == 0x10 and not a.iflags & PENDING_EXCEPTION
    s2 = lazy_system()
    a2 = s2.vcpus[0].arch
    a2.ctxt[IDX_PSTATE] = 0x5
    a2.ctxt[IDX_PC] = 0x1000
    s2.apply(O.HostInjectSError(0, 0x10))
    assert not a2.hcr_el2 & HCR_VSE and not a2.iflags & (PENDING_EXCEPTION | INCREMENT_PC)
    assert a2.ctxt[sysreg_index("ESR_EL1")] == (0x2F << 26) | 0x10
    # enter_exception64 on the host copy: SError from EL1h to the current-EL SPx vector
    assert a2.ctxt[IDX_PC] == 0x380 and a2.ctxt[IDX_PSTATE] == 0x3C5
    assert a2.ctxt[sysreg_index("ELR_EL1")] == 0x1000 and a2.ctxt[sysreg_index("SPSR_EL1")] == 0x5
    s2.apply(O.UserGetReg(0, "pc"))
    assert s2.last_observations[-1][-1] == 0x380  # KVM_GET_ONE_REG between the ioctl and KVM_RUN


@pytest.mark.parametrize("masked", [False, True])
def test_set_vcpu_events_cancels_in_flight_mmio_only_when_it_commits_an_exception(masked):
    s = lazy_system()
    enter(s)
    s.vcpus[0].arch.iflags |= PKVM_HOST_STATE_DIRTY
    s.apply(O.GuestExit(0, "trap_mmio_user", rt=3, value=0x77))
    s.apply(O.HandleExit(0))
    v = s.vcpus[0]
    assert v.phase is Phase.OUT and v.mmio_needed == (3, 0x77)
    v.arch.ctxt[IDX_PSTATE] = 0x3C5 if masked else 0x5
    s.apply(O.HostInjectSError(0, 1))
    assert (v.mmio_needed is None) == (not masked)


def test_mmio_return_is_not_skipped_for_a_pending_serror():
    """mmio.c kvm_handle_mmio_return skips only for kvm_pending_sync_exception (e735a5da6442)."""
    s = lazy_system()
    v = s.vcpus[0]
    v.mmio_needed = (2, 0x55)
    v.arch.iflags |= PENDING_EXCEPTION | EXCEPT_AA64_EL1_SERR
    assert not H.kvm_pending_sync_exception(v)
    H.kvm_handle_mmio_return(s, v)
    assert v.mmio_needed is None and v.arch.ctxt[2] == 0x55 and v.arch.iflags & INCREMENT_PC


def test_mmio_read_writes_rt_and_increments_pc_at_next_entry():
    s = lazy_system()
    enter(s)
    s.apply(O.GuestExit(0, "trap_mmio_read", rt=2, value=0x55))
    s.apply(O.HandleExit(0))
    a = s.vcpus[0].arch
    assert a.ctxt[2] == 0x55 and a.iflags & INCREMENT_PC
    s.apply(O.GuestEnter(0))
    h = s.hyp[0].vcpu
    assert h.ctxt[2] == 0x55 and h.ctxt[32] == 4 and not h.iflags & INCREMENT_PC


def test_userspace_mmio_completes_at_next_kvm_run():
    s = lazy_system()
    enter(s)
    s.apply(O.GuestExit(0, "trap_mmio_user", rt=1, value=9))
    s.apply(O.HandleExit(0))
    assert s.vcpus[0].phase is Phase.OUT and s.vcpus[0].mmio_needed == (1, 9)
    s.apply(O.KvmRun(0, 0))
    assert s.vcpus[0].arch.ctxt[1] == 9 and s.vcpus[0].mmio_needed is None


def test_ops_that_do_not_apply_are_recorded_noops():
    s = lazy_system()
    obs = s.apply(O.GuestEnter(0))
    assert obs == [("applicability", 0, "op applied", False)]
    s.apply(O.KvmRun(0, 0))
    assert s.apply(O.UserGetReg(0, "x0"))[0][3] is False  # vcpu->mutex held in KVM_RUN
    assert s.apply(O.KvmRun(0, 1))[0][3] is False


def test_bad_32bit_pstate_uninitialises_the_vcpu():
    s = lazy_system()
    enter(s)
    s.apply(O.GuestWriteReg(0, "pstate", 0x10))
    s.apply(O.GuestExit(0, "irq"))
    s.apply(O.HandleExit(0))
    assert s.vcpus[0].phase is Phase.OUT and not s.vcpus[0].initialized
    assert s.apply(O.KvmRun(0, 0))[0][3] is False


def test_set_one_reg_rejects_invalid_pstate_mode():
    s = lazy_system()
    assert s.apply(O.UserSetReg(0, "pstate", 0x10))[0][3] is False
    assert s.apply(O.UserSetReg(0, "pstate", 0x5))[0][3] is True
    assert H.IDX_SCTLR == sysreg_index("SCTLR_EL1")
