"""PSCI, vcpu power state and system events: arch/arm64/kvm/psci.c, the request handling and
KVM_ARM_VCPU_INIT of arm.c, and kvm_reset_vcpu (reset.c), as the current kernel has them.

State (on ``HostVcpu``): ``mp_state`` ("RUNNABLE" / "STOPPED", ``vcpu->arch.mp_state``),
``requests`` (KVM_REQ_SLEEP, KVM_REQ_VCPU_RESET), ``reset_state`` (``vcpu->arch.reset_state``:
pc, r0, be), and whether the thread sleeps in ``kvm_vcpu_sleep``.  The VM's stage-2 mappings are
``System.stage2`` (the pages mapped).  The 2014 seed post is the origin of the design (turn every
vcpu off on SYSTEM_OFF/RESET; KVM_RUN on an off vcpu blocks; re-init with KVM_ARM_VCPU_INIT);
the stage-2 unmap moved from the system event to re-init (957db105c997, ``stage2_unmap_vm``).
What a reset keeps (hcr_el2 and so a pending vSError, the PC-update flags outside the PSCI
branch, the timer CVALs and offset) follows ``kvm_reset_vcpu`` and ``vcpu_reset_hcr``; the
abstractions kept on purpose are listed in the README table.

``PsciPolicy`` holds the deviations the bug variants make.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from hvfuzz.model.pkvm.state import INCREMENT_PC, PENDING_EXCEPTION, HostVcpu, ResetState
from hvfuzz.model.regs import HCR_VSE, IDX_PC, IDX_PSTATE, SCTLR_ELx_EE, reset_context, sysreg_index

if TYPE_CHECKING:
    from hvfuzz.model.system import System

# include/uapi/linux/psci.h: function IDs (SMC64 where there are two) and return values
PSCI_FN_IDS: dict[str, int] = {
    "PSCI_VERSION": 0x84000000, "CPU_OFF": 0x84000002, "CPU_ON": 0xC4000003, "AFFINITY_INFO": 0xC4000004,
    "SYSTEM_OFF": 0x84000008, "SYSTEM_RESET": 0x84000009, "SYSTEM_RESET2": 0xC4000012,
}
PSCI_FN_NAMES: dict[int, str] = {v: k for k, v in PSCI_FN_IDS.items()}
PSCI_RET_SUCCESS = 0
PSCI_RET_NOT_SUPPORTED = -1
PSCI_RET_INVALID_PARAMS = -2
PSCI_RET_ALREADY_ON = -4
PSCI_RET_INTERNAL_FAILURE = -6
PSCI_0_2_AFFINITY_LEVEL_ON = 0
PSCI_0_2_AFFINITY_LEVEL_OFF = 1
KVM_ARM_PSCI_1_1 = (1 << 16) | 1
PSCI_1_1_RESET_TYPE_WARM_RESET = 0
PSCI_1_1_RESET_TYPE_VENDOR_START = 0x80000000
MPIDR_HWID_BITMASK = 0xFF00FFFFFF
MASK64 = (1 << 64) - 1
#: vcpu iflags EXCEPT_MASK (the exception kind of a PENDING_EXCEPTION), bits 2..3 in this model
EXCEPT_MASK = 3 << 2

KVM_REQ_SLEEP = "SLEEP"
KVM_REQ_VCPU_RESET = "VCPU_RESET"
KVM_SYSTEM_EVENT_SHUTDOWN = "SHUTDOWN"
KVM_SYSTEM_EVENT_RESET = "RESET"


def psci_ret(value: int) -> int:
    """A PSCI return value as the 64-bit x0 the guest reads."""
    return value & MASK64


@attrs.frozen
class PsciPolicy:
    """Where a PSCI implementation deviates from the current kernel (every knob True: correct)."""

    #: kvm_prepare_system_event turns every vcpu off (cf5d318865e2; the 2014 seed)
    stop_all_on_system_event: bool = True
    #: KVM_ARM_VCPU_INIT of a vcpu that has run unmaps stage-2 (957db105c997, no FWB)
    unmap_stage2_at_init: bool = True
    #: CPU_ON refuses a target that is not STOPPED (ALREADY_ON)
    cpu_on_checks_stopped: bool = True
    #: CPU_ON writes reset_state and requests the reset before it makes the target RUNNABLE
    #: (``smp_wmb``, one critical section under ``mp_state_lock``); False: RUNNABLE is published
    #: and the target woken first, the reset request follows when the caller's thread runs on
    cpu_on_reset_before_runnable: bool = True
    #: kvm_vcpu_sleep blocks while the vcpu is STOPPED
    sleep_while_stopped: bool = True
    #: KVM_ARM_VCPU_INIT with the POWER_OFF feature starts the vcpu STOPPED
    init_honours_power_off: bool = True
    #: kvm_reset_vcpu puts and reloads a loaded vcpu around the reset (under pKVM the put sets
    #: PKVM_HOST_STATE_DIRTY, so the reset reaches the hyp copy)
    reset_puts_loaded_vcpu: bool = True
    #: the PSCI branch of kvm_reset_vcpu discards a pending PC update (PENDING_EXCEPTION,
    #: EXCEPT_MASK, INCREMENT_PC): 1744a6ef48b9 "KVM: arm64: Discard PC update state on vcpu
    #: reset" (<20260312140850.822968-1-maz@kernel.org>, Fixes f5e30680616a); False: the kernel
    #: before it, where an SMC CPU_OFF's INCREMENT_PC survives into the CPU_ON reset
    reset_discards_pc_update: bool = True


# --- power state (arm.c) ------------------------------------------------------------------------
def kvm_arm_vcpu_stopped(v: HostVcpu) -> bool:
    return v.mp_state == "STOPPED"


def __kvm_arm_vcpu_power_off(s: System, v: HostVcpu) -> None:
    """``__kvm_arm_vcpu_power_off``: STOPPED, KVM_REQ_SLEEP, kick (the kick makes a running vcpu
    exit; in a trace that exit is the vcpu's next ``GuestExit``)."""
    v.mp_state = "STOPPED"
    v.requests.add(KVM_REQ_SLEEP)


def kvm_arm_vcpu_power_off(s: System, v: HostVcpu) -> None:
    """``kvm_arm_vcpu_power_off``: the above under ``mp_state_lock``."""
    __kvm_arm_vcpu_power_off(s, v)


def kvm_vcpu_sleep(s: System, v: HostVcpu) -> bool:
    """``kvm_vcpu_sleep`` (from ``check_vcpu_requests``): wait until the vcpu is not STOPPED.
    The wait schedules the thread out (the preempt notifier's ``kvm_arch_vcpu_put``); the
    thread resumes with ``SchedIn`` once woken.  True: the thread sleeps."""
    if not kvm_arm_vcpu_stopped(v) or not s.psci_policy.sleep_while_stopped:
        return False
    from hvfuzz.model.pkvm import host as H

    if v.pcpu is not None:
        H.kvm_arch_vcpu_put(s, v)
    v.sleeping = True
    s.observe(v.idx, "psci-power", "kvm_vcpu_sleep: the vcpu thread blocks", "STOPPED")
    return True


def check_vcpu_requests(s: System, v: HostVcpu) -> bool:
    """``check_vcpu_requests`` at the top of the run loop: KVM_REQ_SLEEP, then
    KVM_REQ_VCPU_RESET.  False: the thread went to sleep (no entry)."""
    if KVM_REQ_SLEEP in v.requests:
        v.requests.discard(KVM_REQ_SLEEP)
        if kvm_vcpu_sleep(s, v):
            return False
    if KVM_REQ_VCPU_RESET in v.requests:
        v.requests.discard(KVM_REQ_VCPU_RESET)
        kvm_reset_vcpu(s, v)
    return True


def kvm_vcpu_wake_up(s: System, v: HostVcpu) -> None:
    """``kvm_vcpu_wake_up``: a sleeping thread becomes runnable (it continues with ``SchedIn``)."""
    s.observe(v.idx, "psci-power", "kvm_vcpu_wake_up", v.mp_state)


# --- reset (reset.c) ------------------------------------------------------------------------------
def kvm_reset_vcpu(s: System, v: HostVcpu) -> None:
    """``kvm_reset_vcpu`` (arch/arm64/kvm/reset.c; kernelorg-mirror/linux_kernel_git_oupton_linux
    @3d433d8e1bac for the body, <20260312140850.822968-1-maz@kernel.org> = 1744a6ef48b9 for the
    PSCI branch): take the PSCI ``reset_state`` (and clear its ``reset``); if the vcpu is loaded,
    ``kvm_arch_vcpu_put`` first (so that its state is in the host context, and under pKVM DIRTY
    is set); reset the core registers and ``kvm_reset_sys_regs``; in the PSCI branch only
    (``if (reset_state.reset)``): the entry point, endianness, and since 1744a6ef48b9 the
    pending PC update is discarded (PENDING_EXCEPTION, EXCEPT_MASK, INCREMENT_PC), then the
    context id in x0; ``kvm_timer_vcpu_reset``; reload.

    Not touched here, as in the kernel: ``hcr_el2`` (so HCR_EL2.VSE, a pending virtual SError)
    and VSESR_EL2 -- only KVM_ARM_VCPU_INIT's ``vcpu_reset_hcr`` resets hcr_el2; the PC-update
    flags on the KVM_ARM_VCPU_INIT path (no PSCI reset_state)."""
    from hvfuzz.model.pkvm import host as H

    rs = v.reset_state
    reset, rs.reset = rs.reset, False
    loaded_on = v.pcpu
    if loaded_on is not None and s.psci_policy.reset_puts_loaded_vcpu:
        H.kvm_arch_vcpu_put(s, v)
    a = v.arch
    mpidr = a.ctxt[sysreg_index("MPIDR_EL1")]
    old = a.ctxt[:]
    a.ctxt[:] = reset_context(mpidr)
    if reset:
        a.ctxt[IDX_PC] = rs.pc
        if rs.be:
            a.ctxt[sysreg_index("SCTLR_EL1")] |= SCTLR_ELx_EE
        if s.psci_policy.reset_discards_pc_update:
            a.iflags &= ~(PENDING_EXCEPTION | INCREMENT_PC | EXCEPT_MASK)
        a.ctxt[0] = rs.r0
    kvm_timer_vcpu_reset(a.ctxt, old)
    if loaded_on is not None and s.psci_policy.reset_puts_loaded_vcpu:
        H.kvm_arch_vcpu_load(s, v, loaded_on)
    s.observe(v.idx, "psci-power", "kvm_reset_vcpu: PC, x0, PSTATE", (a.ctxt[IDX_PC], a.ctxt[0], a.ctxt[IDX_PSTATE]))


def kvm_timer_vcpu_reset(ctxt: list[int], before: list[int]) -> None:
    """``kvm_timer_vcpu_reset`` (arch/arm64/kvm/arch_timer.c; torvalds/linux, the shape since
    v5.x): writes 0 to each timer's CTL (``timer_set_ctl``) and nothing else, so CNTV_CVAL,
    CNTP_CVAL and the offset (CNTVOFF_EL2, ``timer_set_offset`` is called only at vcpu creation
    and by the counter-offset ioctls) keep their values across a reset.  ``reset_context`` zeroed
    them with the rest; put them back."""
    for name in ("CNTVOFF_EL2", "CNTV_CVAL_EL0", "CNTP_CVAL_EL0"):
        ctxt[sysreg_index(name)] = before[sysreg_index(name)]
    for name in ("CNTV_CTL_EL0", "CNTP_CTL_EL0"):
        ctxt[sysreg_index(name)] = 0


def vcpu_reset_hcr(v: HostVcpu) -> None:
    """``vcpu_reset_hcr`` (arch/arm64/include/asm/kvm_emulate.h since Sebastian Ott's "KVM: arm64:
    unify code to prepare traps", <20240603130507.17597-2-sebott@redhat.com>; in
    kernelorg-mirror/linux_kernel_git_oupton_linux @73745a38f64c): ``hcr_el2 = HCR_GUEST_FLAGS``
    only ``if (!vcpu_has_run_once(vcpu))`` (the FWB/TVM fix-up that follows is not modelled).  Of
    the HCR_EL2 bits the model carries that drops VSE; a vcpu that has run keeps its VSE."""
    if not v.has_run_once:
        v.arch.hcr_el2 &= ~HCR_VSE


# --- psci.c ----------------------------------------------------------------------------------------
def kvm_mpidr_to_vcpu(s: System, mpidr: int) -> HostVcpu | None:
    mpidr &= MPIDR_HWID_BITMASK
    for t in s.vcpus:
        if t.arch.ctxt[sysreg_index("MPIDR_EL1")] & MPIDR_HWID_BITMASK == mpidr:
            return t
    return None


def kvm_psci_vcpu_on(s: System, source: HostVcpu, args: tuple[int, int, int]) -> int:
    """``kvm_psci_vcpu_on``: affinity bits outside MPIDR_HWID_BITMASK or no such vcpu ->
    INVALID_PARAMS; under the target's ``mp_state_lock``: not STOPPED -> ALREADY_ON;
    else reset_state = {pc=entry, be=caller's endianness, r0=context id}, KVM_REQ_VCPU_RESET,
    ``smp_wmb``, RUNNABLE, ``kvm_vcpu_wake_up``."""
    from hvfuzz.model.pkvm import host as H

    target_mpidr, entry, context = args
    if target_mpidr & ~MPIDR_HWID_BITMASK:  # kvm_psci_valid_affinity
        return PSCI_RET_INVALID_PARAMS
    t = kvm_mpidr_to_vcpu(s, target_mpidr)
    if t is None:
        return PSCI_RET_INVALID_PARAMS
    p = s.psci_policy
    if not kvm_arm_vcpu_stopped(t) and p.cpu_on_checks_stopped:
        return PSCI_RET_ALREADY_ON
    be = H.kvm_vcpu_is_be(s, source)
    if p.cpu_on_reset_before_runnable:
        t.reset_state = ResetState(entry, context, be, True)
        t.requests.add(KVM_REQ_VCPU_RESET)
        t.mp_state = "RUNNABLE"
    else:
        t.mp_state = "RUNNABLE"
        source.deferred.append((t.idx, ResetState(entry, context, be, True)))
    kvm_vcpu_wake_up(s, t)
    return PSCI_RET_SUCCESS


def run_deferred(s: System, v: HostVcpu) -> None:
    """The rest of a CPU_ON this thread has still to do (only the
    ``cpu_on_reset_before_runnable=False`` deviation leaves any): it runs when the thread next
    moves (enters the guest, returns to userspace, is scheduled out)."""
    work, v.deferred = v.deferred, []
    for target, rs in work:
        t = s.vcpus[target]
        t.reset_state = rs
        t.requests.add(KVM_REQ_VCPU_RESET)


def kvm_psci_vcpu_affinity_info(s: System, args: tuple[int, int, int]) -> int:
    """``kvm_psci_vcpu_affinity_info``: ON if any vcpu whose MPIDR matches the target affinity
    (masked at the lowest affinity level) is not STOPPED, OFF if all are, INVALID_PARAMS if none
    matches or the level is above 3."""
    target_affinity, lowest_level, _ = args
    if target_affinity & ~MPIDR_HWID_BITMASK or lowest_level > 3:  # kvm_psci_valid_affinity, psci_affinity_mask
        return PSCI_RET_INVALID_PARAMS
    mask = MPIDR_HWID_BITMASK & ~((1 << (8 * lowest_level)) - 1) if lowest_level < 3 else 0xFF00000000
    target_affinity &= mask
    matching = 0
    for t in s.vcpus:
        if t.arch.ctxt[sysreg_index("MPIDR_EL1")] & mask == target_affinity:
            matching += 1
            if not kvm_arm_vcpu_stopped(t):
                return PSCI_0_2_AFFINITY_LEVEL_ON
    return PSCI_0_2_AFFINITY_LEVEL_OFF if matching else PSCI_RET_INVALID_PARAMS


def kvm_prepare_system_event(s: System, v: HostVcpu, kind: str) -> None:
    """``kvm_prepare_system_event``: every vcpu off (each under its ``mp_state_lock``),
    ``kvm_make_all_cpus_request(KVM_REQ_SLEEP)`` (which kicks the running ones), and
    ``run->exit_reason = KVM_EXIT_SYSTEM_EVENT`` with the type."""
    for t in s.vcpus:
        if t is v or s.psci_policy.stop_all_on_system_event:
            t.mp_state = "STOPPED"
            t.requests.add(KVM_REQ_SLEEP)
    v.system_event = kind


def kvm_psci_call(s: System, v: HostVcpu) -> int:
    """``kvm_psci_call`` -> ``kvm_psci_1_x_call``/``kvm_psci_0_2_call`` for an HVC exit: read
    x0..x3 (``smccc_get_function``/``smccc_get_arg*``), run the function, set x0..x3
    (``smccc_set_retval``).  1: back into the guest; 0: exit to userspace (a system event)."""
    from hvfuzz.model.pkvm import host as H

    fn_id = H.vcpu_get_reg(s, v, 0, "smccc_get_function")
    args = tuple(H.vcpu_get_reg(s, v, i, f"smccc_get_arg{i}") for i in (1, 2, 3))
    fn = PSCI_FN_NAMES.get(fn_id)
    ret, to_user = PSCI_RET_NOT_SUPPORTED, False
    if fn == "PSCI_VERSION":
        ret = KVM_ARM_PSCI_1_1
    elif fn == "CPU_OFF":
        kvm_arm_vcpu_power_off(s, v)
        ret = PSCI_RET_SUCCESS
    elif fn == "CPU_ON":
        ret = kvm_psci_vcpu_on(s, v, args)  # type: ignore[arg-type]
    elif fn == "AFFINITY_INFO":
        ret = kvm_psci_vcpu_affinity_info(s, args)  # type: ignore[arg-type]
    elif fn in ("SYSTEM_OFF", "SYSTEM_RESET"):
        kvm_prepare_system_event(s, v, KVM_SYSTEM_EVENT_SHUTDOWN if fn == "SYSTEM_OFF" else KVM_SYSTEM_EVENT_RESET)
        ret, to_user = PSCI_RET_INTERNAL_FAILURE, True
    elif fn == "SYSTEM_RESET2":
        reset_type = args[0]
        if reset_type <= PSCI_1_1_RESET_TYPE_WARM_RESET or reset_type >= PSCI_1_1_RESET_TYPE_VENDOR_START:
            kvm_prepare_system_event(s, v, KVM_SYSTEM_EVENT_RESET)
            ret, to_user = PSCI_RET_INTERNAL_FAILURE, True
        else:
            ret = PSCI_RET_INVALID_PARAMS
    for i, val in enumerate((psci_ret(ret), 0, 0, 0)):  # smccc_set_retval
        v.arch.ctxt[i] = val
    s.observe(v.idx, "psci-call", f"PSCI {fn or hex(fn_id)} returned", (fn, ret))
    if to_user:
        s.observe(v.idx, "psci-system-event", "KVM_EXIT_SYSTEM_EVENT type", v.system_event)
        return 0
    return 1


# --- stage-2 (mmu.c) ------------------------------------------------------------------------------
def kvm_handle_guest_abort(s: System, v: HostVcpu, page: int) -> int:
    """``kvm_handle_guest_abort`` for a RAM page: map it (``user_mem_abort``) and re-execute
    (arch/arm64/kvm/mmu.c, torvalds/linux @9cc1dcc99328).  Atomic here: the kernel's
    ``mmu_invalidate_seq`` retry is for MMU-notifier invalidations, which ``stage2_unmap_vm`` does
    not signal, so an abort taken before a re-init and handled after it maps the page, as here."""
    s.stage2.add(page)
    return 1


def stage2_unmap_vm(s: System) -> None:
    """``stage2_unmap_vm``: drop every stage-2 mapping of the VM's memslots."""
    s.stage2.clear()


# --- userspace ioctls (arm.c) --------------------------------------------------------------------
def kvm_arch_vcpu_ioctl_vcpu_init(s: System, v: HostVcpu, power_off: bool) -> None:
    """KVM_ARM_VCPU_INIT (``kvm_arch_vcpu_ioctl_vcpu_init``): ``kvm_reset_vcpu``; if the vcpu has
    run, ``stage2_unmap_vm`` (without FWB) so a rebooted guest faults its memory in afresh;
    ``vcpu_reset_hcr``; then STOPPED (POWER_OFF feature) or RUNNABLE (kvmarm/kvmarm arm.c
    @5f59520362c5).  KVM_REQ_VCPU_RESET is not cleared: a CPU_ON's request still pending is
    serviced again by the next KVM_RUN or ONE_REG access (with ``reset_state.reset`` now false)."""
    kvm_reset_vcpu(s, v)
    if v.has_run_once and s.psci_policy.unmap_stage2_at_init:
        stage2_unmap_vm(s)
    vcpu_reset_hcr(v)
    v.initialized = True
    v.system_event = None
    if power_off and s.psci_policy.init_honours_power_off:
        __kvm_arm_vcpu_power_off(s, v)
    else:
        v.mp_state = "RUNNABLE"


def kvm_arch_vcpu_ioctl_set_mpstate(s: System, v: HostVcpu, state: str) -> None:
    """KVM_SET_MP_STATE: STOPPED -> ``kvm_arm_vcpu_power_off``; RUNNABLE -> RUNNABLE."""
    if state == "STOPPED":
        kvm_arm_vcpu_power_off(s, v)
    else:
        v.mp_state = "RUNNABLE"


def kvm_arch_vcpu_ioctl_get_mpstate(s: System, v: HostVcpu) -> str:
    s.observe(v.idx, "psci-mp-state", "KVM_GET_MP_STATE", v.mp_state)
    return v.mp_state


def service_pending_reset(s: System, v: HostVcpu) -> None:
    """``kvm_arch_vcpu_ioctl`` for ONE_REG accesses: a pending KVM_REQ_VCPU_RESET (a CPU_ON the
    vcpu has not run since) is serviced first, so userspace sees the reset state."""
    if KVM_REQ_VCPU_RESET in v.requests:
        v.requests.discard(KVM_REQ_VCPU_RESET)
        kvm_reset_vcpu(s, v)


__all__ = ["PsciPolicy", "ResetState"]
