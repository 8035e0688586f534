"""PSCI and power state: the model's functions against the kernel's (psci.c, arm.c, reset.c), and
ArchPsci against PSCI (DEN0022) and the KVM API (api.rst)."""

import attrs
import pytest

from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model import psci as P
from hvfuzz.model.pkvm.state import INCREMENT_PC, PKVM_HOST_STATE_DIRTY, Phase
from hvfuzz.model.regs import HCR_VSE, IDX_PC, VCPU_RESET_PSTATE_EL1, sysreg_index
from hvfuzz.model.system import System
from hvfuzz.model.variants import LAZY
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.arch_psci import ArchPsci


def _system(vcpus=2, policy=LAZY, **psci):
    return System(vcpus, vcpus, False, policy, psci=P.PsciPolicy(**psci))


def _in_guest(s, v, pcpu=None):
    s.apply(O.KvmRun(v, v if pcpu is None else pcpu))
    s.apply(O.GuestEnter(v))
    assert s.vcpus[v].phase is Phase.GUEST


def _call(s, v, fn, **args):
    s.apply(O.GuestPsci(v, fn, **args))
    obs = s.apply(O.HandleExit(v))
    return next(o[3] for o in obs if o[0] == "psci-call")


# --- psci.c -----------------------------------------------------------------------------------------
def test_cpu_on_stopped_target_gets_reset_state_and_runs():
    """kvm_psci_vcpu_on: reset_state = {entry, context}, KVM_REQ_VCPU_RESET, then RUNNABLE."""
    s = _system()
    s.apply(O.UserVcpuInit(1, power_off=True))
    _in_guest(s, 0)
    assert _call(s, 0, "CPU_ON", target=1, entry=0x1000, context=7) == ("CPU_ON", P.PSCI_RET_SUCCESS)
    t = s.vcpus[1]
    assert t.mp_state == "RUNNABLE" and P.KVM_REQ_VCPU_RESET in t.requests
    assert (t.reset_state.pc, t.reset_state.r0, t.reset_state.reset) == (0x1000, 7, True)
    _in_guest(s, 1)
    assert s.guest_view(1)[IDX_PC] == 0x1000 and s.guest_view(1)[0] == 7
    assert not t.reset_state.reset  # consumed by kvm_reset_vcpu


def test_cpu_on_of_a_running_vcpu_or_of_no_vcpu():
    """ALREADY_ON when the target is not STOPPED (PSCI >= 0.2); INVALID_PARAMS for no such MPIDR."""
    s = _system()
    _in_guest(s, 0)
    assert _call(s, 0, "CPU_ON", target=1) == ("CPU_ON", P.PSCI_RET_ALREADY_ON)
    s.apply(O.GuestEnter(0))
    assert _call(s, 0, "CPU_ON", target=5) == ("CPU_ON", P.PSCI_RET_INVALID_PARAMS)


def test_affinity_info():
    s = _system()
    s.apply(O.UserSetMpState(1, "STOPPED"))
    _in_guest(s, 0)
    assert _call(s, 0, "AFFINITY_INFO", target=1) == ("AFFINITY_INFO", P.PSCI_0_2_AFFINITY_LEVEL_OFF)
    s.apply(O.GuestEnter(0))
    assert _call(s, 0, "AFFINITY_INFO", target=0) == ("AFFINITY_INFO", P.PSCI_0_2_AFFINITY_LEVEL_ON)
    s.apply(O.GuestEnter(0))
    assert _call(s, 0, "AFFINITY_INFO", target=2) == ("AFFINITY_INFO", P.PSCI_RET_INVALID_PARAMS)


@pytest.mark.parametrize("fn,target,event", [("SYSTEM_OFF", 0, "SHUTDOWN"), ("SYSTEM_RESET", 0, "RESET"),
                                             ("SYSTEM_RESET2", 0, "RESET")])
def test_system_event_stops_every_vcpu(fn, target, event):
    """kvm_prepare_system_event: every vcpu STOPPED with KVM_REQ_SLEEP, the caller exits to
    userspace with KVM_EXIT_SYSTEM_EVENT and x0 = INTERNAL_FAILURE."""
    s = _system()
    _in_guest(s, 0)
    _in_guest(s, 1)
    assert _call(s, 0, fn, target=target) == (fn, P.PSCI_RET_INTERNAL_FAILURE)
    assert s.vcpus[0].phase is Phase.OUT and s.vcpus[0].system_event == event
    assert s.vcpus[0].arch.ctxt[0] == P.psci_ret(P.PSCI_RET_INTERNAL_FAILURE)
    assert all(v.mp_state == "STOPPED" and P.KVM_REQ_SLEEP in v.requests for v in s.vcpus)
    # vcpu1 runs on until the kick lands; then its run loop blocks
    s.apply(O.GuestExit(1, "irq"))
    s.apply(O.HandleExit(1))
    s.apply(O.GuestEnter(1))
    assert s.vcpus[1].sleeping and s.vcpus[1].phase is Phase.P0 and s.vcpus[1].pcpu is None


def test_system_reset2_with_an_unknown_architectural_type_is_refused():
    """PSCI 1.1 SYSTEM_RESET2: types 1..0x7fffffff are reserved: INVALID_PARAMS, no exit."""
    s = _system()
    _in_guest(s, 0)
    assert _call(s, 0, "SYSTEM_RESET2", target=1) == ("SYSTEM_RESET2", P.PSCI_RET_INVALID_PARAMS)
    assert s.vcpus[0].phase is Phase.P0 and s.vcpus[0].mp_state == "RUNNABLE"


# --- arm.c / reset.c ------------------------------------------------------------------------------------
def test_kvm_run_on_a_stopped_vcpu_sleeps_and_a_signal_returns():
    """kvm_vcpu_sleep blocks (the thread is scheduled out: the put sets DIRTY); a signal returns
    -EINTR with KVM_REQ_SLEEP requested again."""
    s = _system(vcpus=1)
    s.apply(O.UserSetMpState(0, "STOPPED"))
    s.apply(O.KvmRun(0, 0))
    obs = s.apply(O.GuestEnter(0))
    assert not any(o[0] == "guest-entry" for o in obs)
    v = s.vcpus[0]
    assert v.sleeping and v.pcpu is None and v.arch.iflags & PKVM_HOST_STATE_DIRTY
    assert not s.apply(O.SchedIn(0, 0))[0][3]  # blocked until woken
    assert s.apply(O.ExitToUser(0))[0][3]
    assert v.phase is Phase.OUT and P.KVM_REQ_SLEEP in v.requests


def test_vcpu_init_unmaps_stage2_only_after_the_vcpu_has_run():
    """kvm_arch_vcpu_ioctl_vcpu_init: stage2_unmap_vm if vcpu_has_run_once (no FWB)."""
    s = _system(vcpus=1)
    s.stage2.add(1)
    s.apply(O.UserVcpuInit(0))
    assert s.stage2 == {1}
    _in_guest(s, 0)
    s.apply(O.GuestAccess(0, 2))
    s.apply(O.HandleExit(0))
    assert s.stage2 == {1, 2}
    s.apply(O.ExitToUser(0))
    s.apply(O.UserVcpuInit(0, power_off=True))
    assert s.stage2 == set() and s.vcpus[0].mp_state == "STOPPED"


def test_reset_of_a_loaded_vcpu_reaches_the_hyp_copy_through_the_put():
    """kvm_reset_vcpu puts a loaded vcpu first.  Under lazy sync that put is what sets DIRTY; with
    DIRTY clear and no put, the reset lands in the host copy only and the guest resumes from the
    stale hyp copy."""
    for puts, want_pc in ((True, 0x4000), (False, None)):
        s = _system(vcpus=1, reset_puts_loaded_vcpu=puts)
        _in_guest(s, 0)
        s.apply(O.GuestExit(0, "irq"))  # DIRTY cleared: the hyp copy is the state
        s.apply(O.HandleExit(0))
        v = s.vcpus[0]
        assert not v.arch.iflags & PKVM_HOST_STATE_DIRTY
        v.reset_state = attrs.evolve(v.reset_state, pc=0x4000, reset=True)
        v.requests.add(P.KVM_REQ_VCPU_RESET)
        s.apply(O.GuestEnter(0))
        got = s.guest_view(0)[IDX_PC]
        assert (got == 0x4000) == (want_pc is not None)


def test_reset_state_is_the_architectural_one():
    s = _system(vcpus=1)
    s.apply(O.UserSetReg(0, "x2", 5))
    s.apply(O.UserVcpuInit(0))
    c = s.vcpus[0].arch.ctxt
    assert c[2] == 0 and c[IDX_PC] == 0 and c[33] == VCPU_RESET_PSTATE_EL1


# --- ArchPsci ---------------------------------------------------------------------------------------
def _trace(*ops, vcpus=2, variant="lazy"):
    return Trace(Config(variant=variant, vcpus=vcpus, pcpus=vcpus), ops)


def test_arch_psci_allows_already_on_or_on_pending_for_a_pending_cpu_on():
    """DEN0022 5.6: CPU_ON of a core with a CPU_ON pending returns ON_PENDING; KVM, which has the
    target RUNNABLE, returns ALREADY_ON: both are allowed."""
    m = ArchPsci(2)
    m.cpus[1].power = "OFF"
    cpu_on = O.GuestPsci(0, "CPU_ON", target=1, entry=0x1000)
    allowed, then = m._expect(0, cpu_on)
    assert allowed == {0}
    then()
    assert m.cpus[1].power == "ON_PENDING"
    assert m._expect(0, cpu_on)[0] == {-4, -5}
    assert m._expect(0, O.GuestPsci(0, "AFFINITY_INFO", target=1))[0] == {0, 2}


def test_arch_psci_sees_an_entry_after_system_off():
    """api.rst KVM_SYSTEM_EVENT_SHUTDOWN / the seed: every vcpu is off after the event."""
    ops = (O.KvmRun(0, 0), O.GuestEnter(0), O.KvmRun(1, 1), O.GuestEnter(1), O.GuestPsci(0, "SYSTEM_OFF"),
           O.HandleExit(0), O.GuestExit(1, "irq"), O.HandleExit(1), O.GuestEnter(1))
    assert run(_trace(*ops)).ok
    v = run(_trace(*ops, variant="psci-system-event-others-runnable"))
    assert not v.ok and v.oracle == "psci-P1-no-progress-while-off" and v.step == len(ops) - 1


def test_arch_psci_checks_the_first_entry_after_init_with_userspace_registers():
    ops = (O.UserVcpuInit(0), O.UserSetReg(0, "pc", 0x80000), O.KvmRun(0, 0), O.GuestEnter(0))
    assert run(_trace(*ops, vcpus=1)).ok
    m = ArchPsci(1)
    m._init(0, False)
    assert m.cpus[0].expect == (0, 0, VCPU_RESET_PSTATE_EL1)


def test_arch_psci_does_not_judge_a_reset_under_a_pending_mmio_read():
    """U1: KVM retires an MMIO read still pending at KVM_ARM_VCPU_INIT into the fresh vcpu (Rt
    written, PC + 4) at the next KVM_RUN; the API leaves that to the VMM."""
    ops = (O.KvmRun(0, 0), O.GuestEnter(0), O.GuestExit(0, "trap_mmio_user", value=9), O.HandleExit(0),
           O.UserVcpuInit(0), O.KvmRun(0, 0), O.GuestEnter(0))
    assert run(_trace(*ops, vcpus=1)).ok
    s = System(1, 1, False, LAZY)
    for op in ops:
        s.apply(op)
    assert s.guest_view(0)[IDX_PC] == 4 and s.guest_view(0)[0] == 9


def test_affinity_bits_outside_the_hwid_mask_are_invalid():
    """kvm_psci_valid_affinity: CPU_ON/AFFINITY_INFO with bits outside MPIDR_HWID_BITMASK."""
    s = _system()
    bad = P.MPIDR_HWID_BITMASK + 1
    v = s.vcpus[0]

    def args(*xs):  # the handlers read x1..x3 themselves (smccc_get_arg1..3)
        v.arch.ctxt[1:4] = xs
        return v

    assert P.kvm_psci_vcpu_on(s, args(bad | 1, 0x1000, 0)) == P.PSCI_RET_INVALID_PARAMS
    assert P.kvm_psci_vcpu_affinity_info(s, args(bad, 0, 0)) == P.PSCI_RET_INVALID_PARAMS
    assert P.kvm_psci_vcpu_affinity_info(s, args(1, 0, 0)) == P.PSCI_0_2_AFFINITY_LEVEL_ON


# --- PSCI 1.3 (issue 13): kvm_psci_1_x_call as kernel-patches/bpf @9aa9d5eaf78b has it ------------
def _flags(s, v, op):
    """The call's (fn, ret) and the system event's data[0] (None: no system event)."""
    s.apply(op)
    obs = s.apply(O.HandleExit(v))
    call = next(o[3] for o in obs if o[0] == "psci-call")
    return call, next((o[3] for o in obs if o[0] == "psci-system-event-flags"), None)


def test_psci_version_is_1_3():
    """KVM_ARM_PSCI_LATEST = 1.3 since v6.13 (psci_test.c asserts >= PSCI_VERSION(1, 3))."""
    s = _system()
    _in_guest(s, 0)
    assert _call(s, 0, "PSCI_VERSION") == ("PSCI_VERSION", 0x10003)


@pytest.mark.parametrize("fid,want", [
    (0xC4000003, 0), (0x84000002, 0), (0x84000000, 0), (0x8400000A, 0), (0x80000000, 0),
    (0xC4000012, 0), (0x84000012, 0),  # SYSTEM_RESET2 (minor >= 1)
    (0xC4000015, 1), (0x84000015, 1),  # SYSTEM_OFF2: PSCI_1_3_OFF_TYPE_HIBERNATE_OFF
    (0xC400000E, -1), (0x8400000E, -1),  # SYSTEM_SUSPEND: KVM_CAP_ARM_SYSTEM_SUSPEND not enabled
    (0xC4000002, -1), (0x8400001F, -1), (0x1000, -1),
    (0xFFFF_FFFF_8400_0002, 0),  # u32 arg: the upper half of x1 is ignored
])
def test_psci_features(fid, want):
    s = _system()
    _in_guest(s, 0)
    s.vcpus[0].arch.ctxt[2] = 5  # x1..x3 are zeroed by smccc_set_retval
    assert _call(s, 0, "PSCI_FEATURES", entry=fid) == ("PSCI_FEATURES", want)
    assert s.vcpus[0].arch.ctxt[1:4] == [0, 0, 0]
    assert want in ArchPsci(2)._features(fid & 0xFFFFFFFF)


def test_system_suspend_is_not_supported_unless_the_vmm_enables_it():
    s = _system()
    _in_guest(s, 0)
    assert _call(s, 0, "SYSTEM_SUSPEND", entry=0x1000, context=7) == ("SYSTEM_SUSPEND", P.PSCI_RET_NOT_SUPPORTED)
    assert s.vcpus[0].phase is Phase.P0
    # with KVM_CAP_ARM_SYSTEM_SUSPEND: KVM_SYSTEM_EVENT_SUSPEND, no register written, nobody stopped
    s = _system(system_suspend_enabled=True)
    _in_guest(s, 0)
    call, flags = _flags(s, 0, O.GuestPsci(0, "SYSTEM_SUSPEND", entry=0x1000, context=7))
    assert call == ("SYSTEM_SUSPEND", None) and flags == 0
    v = s.vcpus[0]
    assert v.phase is Phase.OUT and v.system_event == "SUSPEND"
    assert v.arch.ctxt[0:3] == [0xC400000E, 0x1000, 7]
    assert all(t.mp_state == "RUNNABLE" for t in s.vcpus)


@pytest.mark.parametrize("hibernate_type,cookie,ok", [(1, 0, True), (0, 0, True), (2, 0, False), (1, 7, False)])
def test_system_off2(hibernate_type, cookie, ok):
    """SYSTEM_OFF2(type, cookie): HIBERNATE_OFF (or 0) and a zero cookie: KVM_SYSTEM_EVENT_SHUTDOWN
    with KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2, x0 = INTERNAL_FAILURE; else INVALID_PARAMS."""
    s = _system()
    _in_guest(s, 0)
    call, flags = _flags(s, 0, O.GuestPsci(0, "SYSTEM_OFF2", target=hibernate_type, context=cookie))
    if ok:
        assert call == ("SYSTEM_OFF2", P.PSCI_RET_INTERNAL_FAILURE) and flags == 1
        assert s.vcpus[0].system_event == "SHUTDOWN" and all(t.mp_state == "STOPPED" for t in s.vcpus)
    else:
        assert call == ("SYSTEM_OFF2", P.PSCI_RET_INVALID_PARAMS) and flags is None
        assert s.vcpus[0].phase is Phase.P0
    assert s.vcpus[0].arch.ctxt[1:4] == [0, 0, 0]


def test_system_reset2_writes_x0_only_and_flags_the_event():
    """The reset path does vcpu_set_reg(vcpu, 0, INTERNAL_FAILURE) and returns: the guest's x1..x3
    stay (smccc_set_retval is not called); data[0] = KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2."""
    s = _system()
    _in_guest(s, 0)
    call, flags = _flags(s, 0, O.GuestPsci(0, "SYSTEM_RESET2", target=0, context=0xFFFF_FFFF_FFFF_FFFF))
    assert call == ("SYSTEM_RESET2", P.PSCI_RET_INTERNAL_FAILURE) and flags == 1
    assert s.vcpus[0].arch.ctxt[0:3] == [P.psci_ret(-6), 0, 0xFFFF_FFFF_FFFF_FFFF]
    # the SMC32 form narrows x1..x3 in place first: userspace sees the 32-bit cookie
    s = _system()
    _in_guest(s, 0)
    call, _ = _flags(s, 0, O.GuestPsci(0, "SYSTEM_RESET2_32", target=0, context=0xFFFF_FFFF_FFFF_FFFF))
    assert call == ("SYSTEM_RESET2_32", P.PSCI_RET_INTERNAL_FAILURE)
    assert s.vcpus[0].arch.ctxt[0:3] == [P.psci_ret(-6), 0, 0xFFFF_FFFF]


def test_smc32_cpu_on_truncates_its_arguments():
    """kvm_psci_narrow_to_32bit for PSCI_0_2_FN_CPU_ON: entry and context lose their upper half."""
    s = _system()
    s.apply(O.UserVcpuInit(1, power_off=True))
    _in_guest(s, 0)
    op = O.GuestPsci(0, "CPU_ON_32", target=1, entry=0xFFFF_FFFF_0000_1000, context=0x1_0000_0007)
    assert _call(s, 0, "CPU_ON_32", target=1, entry=op.entry, context=op.context) == ("CPU_ON_32", 0)
    _in_guest(s, 1)
    assert s.guest_view(1)[IDX_PC] == 0x1000 and s.guest_view(1)[0] == 7
    ops = (O.UserVcpuInit(1, power_off=True), O.KvmRun(0, 0), O.GuestEnter(0), op, O.HandleExit(0),
           O.KvmRun(1, 1), O.GuestEnter(1))
    assert run(_trace(*ops)).ok


def test_an_unknown_function_id_is_not_supported():
    s = _system()
    _in_guest(s, 0)
    s.vcpus[0].arch.ctxt[1] = 3
    assert _call(s, 0, "UNKNOWN") == (None, P.PSCI_RET_NOT_SUPPORTED)
    assert s.vcpus[0].arch.ctxt[1:4] == [0, 0, 0]
    ops = (O.KvmRun(0, 0), O.GuestEnter(0), O.GuestPsci(0, "UNKNOWN"), O.HandleExit(0), O.GuestEnter(0))
    assert run(_trace(*ops)).ok


def test_userspace_mpidr_survives_reset_and_names_the_cpu_on_target():
    """MPIDR_EL1 has no set_user: KVM_SET_ONE_REG stores the value; reset_mpidr runs only for a vcpu
    not yet initialised (reset_vcpu_ftr_id_reg), so KVM_ARM_VCPU_INIT keeps it; kvm_mpidr_to_vcpu
    then finds the vcpu by its new affinity."""
    mpidr = P.sysreg_index("MPIDR_EL1")
    ops = (O.UserSetReg(1, "MPIDR_EL1", 0x80000005), O.UserVcpuInit(1, power_off=True), O.KvmRun(0, 0),
           O.GuestEnter(0), O.GuestPsci(0, "CPU_ON", target=1), O.HandleExit(0), O.GuestEnter(0),
           O.GuestPsci(0, "CPU_ON", target=5, entry=0x2000), O.HandleExit(0), O.KvmRun(1, 1), O.GuestEnter(1))
    s = _system()
    for op in ops:
        s.apply(op)
    assert s.vcpus[1].arch.ctxt[mpidr] == 0x80000005 and s.guest_view(1)[IDX_PC] == 0x2000
    assert run(_trace(*ops)).ok
    # two vcpus with one affinity (U2): ArchPsci stops judging
    m = ArchPsci(2)
    assert m._target(1) == 1
    m.affinity[1] = 0
    assert m._target(1) is None


def test_arch_psci_rejects_a_psci_1_1_version_and_a_wrong_features_answer():
    m = ArchPsci(2)
    assert m._expect(0, O.GuestPsci(0, "PSCI_VERSION"))[0] == {0x10003}
    assert m._expect(0, O.GuestPsci(0, "PSCI_FEATURES", entry=0xC400000E))[0] == {-1}
    assert ArchPsci(2, system_suspend=True)._expect(0, O.GuestPsci(0, "PSCI_FEATURES", entry=0xC400000E))[0] == {0}
    assert m._expect(0, O.GuestPsci(0, "SYSTEM_OFF2", target=1, context=1))[0] == {-2}
    assert m._expect(0, O.GuestPsci(0, "UNKNOWN"))[0] == {-1}


def test_arch_psci_catches_a_kernel_that_reports_psci_1_1(monkeypatch):
    """ArchPsci holds KVM to 1.3 on its own (DEN0022 + api.rst), so a model (or kernel) still at
    1.1 is flagged by it, although the differential, which runs the same code twice, is not."""
    ops = (O.KvmRun(0, 0), O.GuestEnter(0), O.GuestPsci(0, "PSCI_VERSION"), O.HandleExit(0))
    assert run(_trace(*ops)).ok
    monkeypatch.setattr(P, "KVM_ARM_PSCI_LATEST", P.PSCI_VERSION(1, 1))
    v = run(_trace(*ops))
    assert not v.ok and v.oracle == "psci-P3-return"
    ops = (O.KvmRun(0, 0), O.GuestEnter(0), O.GuestPsci(0, "SYSTEM_OFF2", target=1), O.HandleExit(0))
    v = run(_trace(*ops))  # a 1.1 KVM does not know SYSTEM_OFF2: NOT_SUPPORTED, no event
    assert not v.ok and v.oracle == "psci-P3-return"


# --- reset.c: what kvm_reset_vcpu keeps (issue 13) --------------------------------------------------
def _smc_off_then_on(**psci):
    """vcpu1: CPU_OFF by SMC (handle_smc sets INCREMENT_PC, the vcpu sleeps); vcpu0: CPU_ON."""
    s = _system(**psci)
    _in_guest(s, 0)
    _in_guest(s, 1)
    s.apply(O.GuestSmc(1, "CPU_OFF"))
    s.apply(O.HandleExit(1))
    s.apply(O.GuestEnter(1))  # KVM_REQ_SLEEP: the thread blocks with the PC update pending
    assert s.vcpus[1].arch.iflags & INCREMENT_PC
    assert _call(s, 0, "CPU_ON", target=1, entry=0x90000, context=7) == ("CPU_ON", P.PSCI_RET_SUCCESS)
    s.apply(O.SchedIn(1, 1))
    s.apply(O.GuestEnter(1))
    return s


def test_psci_reset_discards_a_pending_pc_update():
    """1744a6ef48b9: the PSCI branch of kvm_reset_vcpu clears INCREMENT_PC; before it the target
    starts at entry + 4 (the psci-reset-keeps-pc-update variant)."""
    assert _smc_off_then_on().guest_view(1)[IDX_PC] == 0x90000
    assert _smc_off_then_on(reset_discards_pc_update=False).guest_view(1)[IDX_PC] == 0x90004


def test_init_reset_keeps_the_pc_update_flags():
    """The flags are cleared only under reset_state.reset: KVM_ARM_VCPU_INIT keeps them."""
    s = _system(vcpus=1)
    s.vcpus[0].arch.iflags |= INCREMENT_PC
    s.apply(O.UserVcpuInit(0))
    assert s.vcpus[0].arch.iflags & INCREMENT_PC


def test_vse_survives_cpu_on_and_init_after_the_first_run():
    """kvm_reset_vcpu never touches hcr_el2; vcpu_reset_hcr (INIT) rewrites it only before the
    vcpu's first run (<20240603130507.17597-2-sebott@redhat.com>)."""
    s = _system(vcpus=1)
    s.apply(O.HostInjectSError(0))
    assert s.vcpus[0].arch.hcr_el2 & HCR_VSE
    s.apply(O.UserVcpuInit(0))
    assert not s.vcpus[0].arch.hcr_el2 & HCR_VSE  # not run yet: HCR_GUEST_FLAGS
    s.apply(O.KvmRun(0, 0))
    s.apply(O.ExitToUser(0))
    s.apply(O.HostInjectSError(0))
    s.apply(O.UserVcpuInit(0))
    assert s.vcpus[0].arch.hcr_el2 & HCR_VSE  # has run: kept
    s = _system()
    s.apply(O.HostInjectSError(1))
    _in_guest(s, 1)
    _call(s, 1, "CPU_OFF")
    _in_guest(s, 0)
    _call(s, 0, "CPU_ON", target=1, entry=0x1000)
    P.service_pending_reset(s, s.vcpus[1])
    assert s.vcpus[1].arch.hcr_el2 & HCR_VSE


def test_timer_reset_clears_the_ctls_only():
    """kvm_timer_vcpu_reset: CTL = 0; the CVALs and CNTVOFF keep their values."""
    s = _system(vcpus=1)
    c = s.vcpus[0].arch.ctxt
    for name, val in (("CNTV_CTL_EL0", 1), ("CNTP_CTL_EL0", 1), ("CNTV_CVAL_EL0", 5), ("CNTP_CVAL_EL0", 6),
                      ("CNTVOFF_EL2", 7)):
        c[sysreg_index(name)] = val
    s.apply(O.UserVcpuInit(0))
    names = ("CNTV_CTL_EL0", "CNTP_CTL_EL0", "CNTV_CVAL_EL0", "CNTP_CVAL_EL0", "CNTVOFF_EL2")
    got = [c[sysreg_index(n)] for n in names]
    assert got == [0, 0, 5, 6, 7]


def test_arch_psci_system_event_ends_a_pending_cpu_on_and_init_is_the_initial_state():
    """DEN0022 SYSTEM_RESET is system-wide; api.rst: INIT resets the vcpu to its initial state
    (the soak triage A: KVM enters at PC 0 after INIT although a CPU_ON was pending)."""
    m = ArchPsci(2)
    m.cpus[1].power = "OFF"
    m._expect(0, O.GuestPsci(0, "CPU_ON", target=1, entry=0x1000, context=7))[1]()
    m._expect(0, O.GuestPsci(0, "SYSTEM_RESET"))[1]()
    assert m.cpus[1].pending is None
    m.cpus[0].pending = (0x1000, 7)
    m._init(0, False)
    assert m.cpus[0].pending is None and m.cpus[0].expect == (0, 0, VCPU_RESET_PSTATE_EL1)


def test_arch_psci_p5_a_page_is_fresh_once_its_abort_is_handled():
    """Soak triage B: an abort taken before a re-init and handled after it maps the page afresh."""
    ops = (O.KvmRun(0, 0), O.GuestEnter(0), O.GuestAccess(0, 2), O.KvmRun(1, 1), O.ExitToUser(1),
           O.UserVcpuInit(1, True), O.HandleExit(0), O.GuestEnter(0), O.GuestAccess(0, 2))
    assert run(_trace(*ops)).ok
    v = run(_trace(*ops, variant="psci-no-stage2-unmap"))
    assert v.ok  # the unmap makes no difference here: the page is mapped after it


def test_p2_accepts_an_serror_taken_from_the_reset_state_and_nothing_else(monkeypatch):
    """A pending SError taken at the first entry after KVM_ARM_VCPU_INIT is allowed (ELR/SPSR hold
    the reset PC/PSTATE); a reset that left the PC behind is still caught, SError or not."""
    from hvfuzz.fuzz.export import load_repro

    trace = load_repro("corpus/regressions/psci-reinit-serror-kept-taken-at-first-entry.json")[0]
    assert run(trace).ok
    real = P.kvm_timer_vcpu_reset

    def reset_keeps_pc(ctxt: list[int], before: list[int]) -> None:  # kvm_reset_vcpu not zeroing PC
        real(ctxt, before)
        ctxt[IDX_PC] = 0x40
    monkeypatch.setattr(P, "kvm_timer_vcpu_reset", reset_keeps_pc)
    v = run(trace)  # the SError is still taken at the first entry, from PC 0x40: ELR_EL1 is not the reset PC
    assert not v.ok and v.oracle == "psci-P2-reset-state", v
