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

# include/uapi/linux/psci.h (kernel-patches/bpf @9aa9d5eaf78bc9e8cc0a017030ccf58329392368, the
# current uapi header): the function IDs the vocabulary calls, SMC64 and SMC32 (``_32``) forms
PSCI_0_2_64BIT = 0x40000000
PSCI_FN_IDS: dict[str, int] = {
    "PSCI_VERSION": 0x84000000, "CPU_OFF": 0x84000002, "CPU_ON": 0xC4000003, "AFFINITY_INFO": 0xC4000004,
    "SYSTEM_OFF": 0x84000008, "SYSTEM_RESET": 0x84000009, "SYSTEM_RESET2": 0xC4000012,
    "MIGRATE_INFO_TYPE": 0x84000006, "PSCI_FEATURES": 0x8400000A, "SYSTEM_SUSPEND": 0xC400000E,
    "SYSTEM_OFF2": 0xC4000015, "CPU_ON_32": 0x84000003, "AFFINITY_INFO_32": 0x84000004,
    "SYSTEM_SUSPEND_32": 0x8400000E, "SYSTEM_RESET2_32": 0x84000012, "SYSTEM_OFF2_32": 0x84000015,
}
PSCI_FN_NAMES: dict[int, str] = {v: k for k, v in PSCI_FN_IDS.items()}
#: include/linux/arm-smccc.h: ARM_SMCCC_VERSION_FUNC_ID (PSCI_FEATURES answers it)
ARM_SMCCC_VERSION_FUNC_ID = 0x80000000
#: CPU_SUSPEND, SMC32 and SMC64: PSCI_FEATURES lists them (the call itself, ``kvm_psci_vcpu_suspend``
#: = WFI emulation, is not in the vocabulary)
PSCI_0_2_FN_CPU_SUSPEND, PSCI_0_2_FN64_CPU_SUSPEND = 0x84000001, 0xC4000001
PSCI_RET_SUCCESS = 0
PSCI_RET_NOT_SUPPORTED = -1
PSCI_RET_INVALID_PARAMS = -2
PSCI_RET_ALREADY_ON = -4
PSCI_RET_INTERNAL_FAILURE = -6
PSCI_0_2_AFFINITY_LEVEL_ON = 0
PSCI_0_2_AFFINITY_LEVEL_OFF = 1
PSCI_0_2_TOS_MP = 2


def PSCI_VERSION(major: int, minor: int) -> int:  # noqa: N802 (the uapi macro)
    """``PSCI_VERSION(maj, min)``: major in bits [31:16], minor in [15:0]."""
    return ((major << 16) & 0xFFFF0000) | (minor & 0xFFFF)


#: include/kvm/arm_psci.h: KVM_ARM_PSCI_LATEST is KVM_ARM_PSCI_1_3 since v6.13 (the SYSTEM_OFF2
#: series, "KVM: arm64: Add PSCI v1.3 SYSTEM_OFF2 function for hibernation", David Woodhouse,
#: Message-ID <20241019172459.2241939-3-dwmw2@infradead.org>); a vcpu with KVM_ARM_VCPU_PSCI_0_2
#: starts with it (``kvm_psci_version``), and the model's VMM never lowers it through
#: KVM_REG_ARM_PSCI_VERSION.  tools/testing/selftests/kvm/arm64/psci_test.c (torvalds/linux
#: @8e73eeb41ac4) asserts ``psci_version >= PSCI_VERSION(1, 3)``.
KVM_ARM_PSCI_1_3 = PSCI_VERSION(1, 3)
KVM_ARM_PSCI_LATEST = KVM_ARM_PSCI_1_3
PSCI_1_1_RESET_TYPE_WARM_RESET = 0
PSCI_1_1_RESET_TYPE_VENDOR_START = 0x80000000
#: include/uapi/linux/psci.h: ``PSCI_1_3_OFF_TYPE_HIBERNATE_OFF BIT(0)``
PSCI_1_3_OFF_TYPE_HIBERNATE_OFF = 1 << 0
MPIDR_HWID_BITMASK = 0xFF00FFFFFF
MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
#: vcpu iflags EXCEPT_MASK (the exception kind of a PENDING_EXCEPTION), bits 2..3 in this model
EXCEPT_MASK = 3 << 2

KVM_REQ_SLEEP = "SLEEP"
KVM_REQ_VCPU_RESET = "VCPU_RESET"
#: KVM_REQ_VGIC_PROCESS_UPDATE (kvm_host.h, "Handle deactivation via ICV_DIR_EL1 traps"): prune
#: the ap_list of interrupts a trapped DIR deactivated (``kvm_vgic_process_async_update``)
KVM_REQ_VGIC_PROCESS_UPDATE = "VGIC_PROCESS_UPDATE"
KVM_SYSTEM_EVENT_SHUTDOWN = "SHUTDOWN"
KVM_SYSTEM_EVENT_RESET = "RESET"
KVM_SYSTEM_EVENT_SUSPEND = "SUSPEND"
#: arch/arm64/include/uapi/asm/kvm.h: run->system_event.data[0] flags (both BIT(0), each valid only
#: with its event type)
KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2 = 1 << 0
KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2 = 1 << 0


def psci_ret(value: int) -> int:
    """A PSCI return value as the 64-bit x0 the guest reads."""
    return value & MASK64


@attrs.frozen
class PsciPolicy:
    """Where a PSCI implementation deviates from the current kernel (every deviation knob True:
    correct), and the VMM's PSCI configuration."""

    #: KVM_CAP_ARM_SYSTEM_SUSPEND (api.rst 7.x): the VMM opts in with KVM_ENABLE_CAP, which sets
    #: KVM_ARCH_FLAG_SYSTEM_SUSPEND_ENABLED.  VMM configuration, not a deviation: the VMM hvfuzz
    #: models does not (QEMU does not either), so SYSTEM_SUSPEND returns NOT_SUPPORTED and
    #: PSCI_FEATURES says so; the enabled branch is modelled and tested, no fuzzed VM takes it
    system_suspend_enabled: bool = False

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
    KVM_REQ_VCPU_RESET, then KVM_REQ_VGIC_PROCESS_UPDATE.  False: the thread went to sleep (no
    entry)."""
    if KVM_REQ_SLEEP in v.requests:
        v.requests.discard(KVM_REQ_SLEEP)
        if kvm_vcpu_sleep(s, v):
            return False
    if KVM_REQ_VCPU_RESET in v.requests:
        v.requests.discard(KVM_REQ_VCPU_RESET)
        kvm_reset_vcpu(s, v)
    if KVM_REQ_VGIC_PROCESS_UPDATE in v.requests:  # "Process interrupts deactivated through a trap"
        v.requests.discard(KVM_REQ_VGIC_PROCESS_UPDATE)
        s.vgic.kvm_vgic_process_async_update(v.idx)
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


def kvm_psci_vcpu_on(s: System, source: HostVcpu) -> int:
    """``kvm_psci_vcpu_on``: ``smccc_get_arg1`` = target MPIDR: affinity bits outside
    MPIDR_HWID_BITMASK or no such vcpu -> INVALID_PARAMS; under the target's ``mp_state_lock``:
    not STOPPED -> ALREADY_ON; else reset_state = {pc=``smccc_get_arg2``, be=caller's endianness,
    r0=``smccc_get_arg3``}, KVM_REQ_VCPU_RESET, ``smp_wmb``, RUNNABLE, ``kvm_vcpu_wake_up``.
    (kernelorg-mirror/linux_kernel_git_oupton_linux arch/arm64/kvm/psci.c @a2f0dc060674; unchanged
    in kernel-patches/bpf @9aa9d5eaf78b)"""
    from hvfuzz.model.pkvm import host as H

    target_mpidr = smccc_get_arg(s, source, 1)
    if target_mpidr & ~MPIDR_HWID_BITMASK:  # kvm_psci_valid_affinity
        return PSCI_RET_INVALID_PARAMS
    t = kvm_mpidr_to_vcpu(s, target_mpidr)
    if t is None:
        return PSCI_RET_INVALID_PARAMS
    p = s.psci_policy
    if not kvm_arm_vcpu_stopped(t) and p.cpu_on_checks_stopped:
        return PSCI_RET_ALREADY_ON
    entry = smccc_get_arg(s, source, 2)
    be = H.kvm_vcpu_is_be(s, source)
    context = smccc_get_arg(s, source, 3)
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


def kvm_psci_vcpu_affinity_info(s: System, v: HostVcpu) -> int:
    """``kvm_psci_vcpu_affinity_info``: ``smccc_get_arg1`` = target affinity, ``smccc_get_arg2`` =
    lowest affinity level.  ON if any vcpu whose MPIDR matches the target affinity (masked at
    the lowest affinity level) is not STOPPED, OFF if all are, INVALID_PARAMS if none matches or
    the level is above 3."""
    target_affinity = smccc_get_arg(s, v, 1)
    lowest_level = smccc_get_arg(s, v, 2)
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


def kvm_prepare_system_event(s: System, v: HostVcpu, kind: str, flags: int = 0) -> None:
    """``kvm_prepare_system_event(vcpu, type, flags)``: every vcpu off (each under its
    ``mp_state_lock``), ``kvm_make_all_cpus_request(KVM_REQ_SLEEP)`` (which kicks the running
    ones), and ``run->exit_reason = KVM_EXIT_SYSTEM_EVENT`` with the type, ``ndata = 1`` and
    ``data[0] = flags`` (``kvm_psci_call`` observes the flags)."""
    for t in s.vcpus:
        if t is v or s.psci_policy.stop_all_on_system_event:
            t.mp_state = "STOPPED"
            t.requests.add(KVM_REQ_SLEEP)
    v.system_event, v.system_event_flags = kind, flags


def smccc_get_arg(s: System, v: HostVcpu, n: int) -> int:
    """``smccc_get_arg1..3`` (include/kvm/arm_hypercalls.h): ``vcpu_get_reg(vcpu, n)``, all 64
    bits; an SMC32 function's arguments were already narrowed in place
    (``kvm_psci_narrow_to_32bit``)."""
    from hvfuzz.model.pkvm import host as H

    return H.vcpu_get_reg(s, v, n, f"smccc_get_arg{n}")


def smccc_set_retval(v: HostVcpu, a0: int, a1: int = 0, a2: int = 0, a3: int = 0) -> None:
    """``smccc_set_retval``: x0..x3 (``vcpu_set_reg``)."""
    for i, val in enumerate((a0, a1, a2, a3)):
        v.arch.ctxt[i] = val & MASK64


def kvm_psci_narrow_to_32bit(s: System, v: HostVcpu) -> None:
    """``kvm_psci_narrow_to_32bit``: an SMC32 function's x1..x3 lose their upper 32 bits, in
    place ("They will be fully zeroed on exit" -- except where the handler writes x0 only or
    nothing: SYSTEM_RESET2 and SYSTEM_SUSPEND leave the narrowed values for userspace)."""
    from hvfuzz.model.pkvm import host as H

    for i in (1, 2, 3):
        v.arch.ctxt[i] = H.vcpu_get_reg(s, v, i, "kvm_psci_narrow_to_32bit") & MASK32


def kvm_psci_system_suspend(s: System, v: HostVcpu) -> None:
    """``kvm_psci_system_suspend``: ``run->system_event`` = {KVM_SYSTEM_EVENT_SUSPEND, ndata 0},
    KVM_EXIT_SYSTEM_EVENT; no vcpu is stopped and no register is written (userspace reads the
    SMCCC arguments to emulate the call, api.rst KVM_SYSTEM_EVENT_SUSPEND)."""
    v.system_event, v.system_event_flags = KVM_SYSTEM_EVENT_SUSPEND, 0


#: ``kvm_psci_1_x_call``'s PSCI_FEATURES answer for the functions it always implements
_FEATURES_ALWAYS = frozenset((
    PSCI_FN_IDS["PSCI_VERSION"], PSCI_0_2_FN_CPU_SUSPEND, PSCI_0_2_FN64_CPU_SUSPEND, PSCI_FN_IDS["CPU_OFF"],
    PSCI_FN_IDS["CPU_ON_32"], PSCI_FN_IDS["CPU_ON"], PSCI_FN_IDS["AFFINITY_INFO_32"], PSCI_FN_IDS["AFFINITY_INFO"],
    PSCI_FN_IDS["MIGRATE_INFO_TYPE"], PSCI_FN_IDS["SYSTEM_OFF"], PSCI_FN_IDS["SYSTEM_RESET"],
    PSCI_FN_IDS["PSCI_FEATURES"], ARM_SMCCC_VERSION_FUNC_ID,
))


def kvm_psci_check_allowed_function(s: System, v: HostVcpu, fn: int) -> int:
    """``kvm_psci_check_allowed_function``: an SMC64 function from a vcpu in AArch32 ->
    NOT_SUPPORTED.  The model's VMs have no AArch32 EL1 (``vcpu_mode_is_32bit`` is
    ``vcpu_mode_is_bad_32bit`` there, which fails the exit before ``handle_exit`` calls any
    handler), so this is 0 on every path that reaches it."""
    return 0


def kvm_psci_0_2_call(s: System, v: HostVcpu) -> tuple[int, bool, bool]:
    """``kvm_psci_0_2_call`` (reached from ``kvm_psci_1_x_call``'s default): the PSCI 0.2
    functions.  Returns (value for x0, exit to userspace, x1..x3 written) for ``kvm_psci_call``."""
    from hvfuzz.model.pkvm import host as H

    fn = PSCI_FN_NAMES.get(H.vcpu_get_reg(s, v, 0, "smccc_get_function") & MASK32)
    if fn == "PSCI_VERSION":
        return PSCI_VERSION(0, 2), False, True  # not reached: 1.x answers it first
    if fn == "CPU_OFF":
        kvm_arm_vcpu_power_off(s, v)
        return PSCI_RET_SUCCESS, False, True
    if fn in ("CPU_ON_32", "CPU_ON"):
        if fn == "CPU_ON_32":
            kvm_psci_narrow_to_32bit(s, v)
        return kvm_psci_vcpu_on(s, v), False, True
    if fn in ("AFFINITY_INFO_32", "AFFINITY_INFO"):
        if fn == "AFFINITY_INFO_32":
            kvm_psci_narrow_to_32bit(s, v)
        return kvm_psci_vcpu_affinity_info(s, v), False, True
    if fn == "MIGRATE_INFO_TYPE":
        return PSCI_0_2_TOS_MP, False, True
    if fn in ("SYSTEM_OFF", "SYSTEM_RESET"):
        # "we preload r0 (or x0) with PSCI return value INTERNAL_FAILURE"
        kvm_prepare_system_event(s, v, KVM_SYSTEM_EVENT_SHUTDOWN if fn == "SYSTEM_OFF" else KVM_SYSTEM_EVENT_RESET)
        return PSCI_RET_INTERNAL_FAILURE, True, True
    return PSCI_RET_NOT_SUPPORTED, False, True


def kvm_psci_1_x_call(s: System, v: HostVcpu, minor: int) -> tuple[int | None, bool, bool]:
    """``kvm_psci_1_x_call(vcpu, minor)`` as kernel-patches/bpf @9aa9d5eaf78b has it (PSCI 1.3:
    PSCI_VERSION = PSCI_VERSION(1, minor); PSCI_FEATURES; SYSTEM_SUSPEND behind
    KVM_CAP_ARM_SYSTEM_SUSPEND; SYSTEM_RESET2 from 1.1; SYSTEM_OFF2 from 1.3; the rest through
    ``kvm_psci_0_2_call``).  Returns (value for x0 or None: x0 untouched, exit to userspace,
    x1..x3 zeroed by ``smccc_set_retval``)."""
    from hvfuzz.model.pkvm import host as H

    fn = PSCI_FN_NAMES.get(H.vcpu_get_reg(s, v, 0, "smccc_get_function") & MASK32)
    val = PSCI_RET_NOT_SUPPORTED
    if fn == "PSCI_VERSION":
        val = PSCI_VERSION(1, minor)
    elif fn == "PSCI_FEATURES":
        arg = smccc_get_arg(s, v, 1) & MASK32  # u32 arg
        val = kvm_psci_check_allowed_function(s, v, arg)
        if not val:
            val = PSCI_RET_NOT_SUPPORTED
            if arg in _FEATURES_ALWAYS:
                val = 0
            elif arg in (PSCI_FN_IDS["SYSTEM_SUSPEND_32"], PSCI_FN_IDS["SYSTEM_SUSPEND"]):
                if s.psci_policy.system_suspend_enabled:
                    val = 0
            elif arg in (PSCI_FN_IDS["SYSTEM_RESET2_32"], PSCI_FN_IDS["SYSTEM_RESET2"]):
                if minor >= 1:
                    val = 0
            elif arg in (PSCI_FN_IDS["SYSTEM_OFF2_32"], PSCI_FN_IDS["SYSTEM_OFF2"]):
                if minor >= 3:
                    val = PSCI_1_3_OFF_TYPE_HIBERNATE_OFF
    elif fn in ("SYSTEM_SUSPEND_32", "SYSTEM_SUSPEND"):
        if fn == "SYSTEM_SUSPEND_32":
            kvm_psci_narrow_to_32bit(s, v)
        # "Return directly to userspace without changing the vCPU's registers."
        if s.psci_policy.system_suspend_enabled:
            kvm_psci_system_suspend(s, v)
            return None, True, False
    elif fn in ("SYSTEM_RESET2_32", "SYSTEM_RESET2"):
        if fn == "SYSTEM_RESET2_32":
            kvm_psci_narrow_to_32bit(s, v)
        if minor >= 1:
            arg = smccc_get_arg(s, v, 1) & MASK32  # u32 arg: an SMC64 reset_type loses its upper half too
            if arg <= PSCI_1_1_RESET_TYPE_WARM_RESET or arg >= PSCI_1_1_RESET_TYPE_VENDOR_START:
                kvm_prepare_system_event(s, v, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2)
                # vcpu_set_reg(vcpu, 0, PSCI_RET_INTERNAL_FAILURE); return 0: x1..x3 untouched
                return PSCI_RET_INTERNAL_FAILURE, True, False
            val = PSCI_RET_INVALID_PARAMS
    elif fn in ("SYSTEM_OFF2_32", "SYSTEM_OFF2"):
        if fn == "SYSTEM_OFF2_32":
            kvm_psci_narrow_to_32bit(s, v)
        if minor >= 3:
            arg = smccc_get_arg(s, v, 1) & MASK32  # u32 arg
            # "SYSTEM_OFF2 defaults to HIBERNATE_OFF if arg1 is zero. arg2 must be zero."
            if (arg and arg != PSCI_1_3_OFF_TYPE_HIBERNATE_OFF) or smccc_get_arg(s, v, 2) != 0:
                val = PSCI_RET_INVALID_PARAMS
            else:
                kvm_prepare_system_event(s, v, KVM_SYSTEM_EVENT_SHUTDOWN, KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2)
                return PSCI_RET_INTERNAL_FAILURE, True, True
    else:
        return kvm_psci_0_2_call(s, v)
    return val, False, True


def kvm_psci_call(s: System, v: HostVcpu) -> int:
    """``kvm_psci_call`` for an HVC exit (``handle_hvc`` -> ``kvm_smccc_call_handler``, whose
    PSCI range 0x84000000..0x8400001F / 0xC4000000..0xC400001F lands here): refuse an SMC64
    function from AArch32 (``kvm_psci_check_allowed_function``), then dispatch on
    ``kvm_psci_version`` -- KVM_ARM_PSCI_1_3, the default (``KVM_ARM_PSCI_LATEST``):
    ``kvm_psci_1_x_call(vcpu, 3)``.  The handlers write x0..x3 with ``smccc_set_retval`` (x1..x3
    = 0), except SYSTEM_RESET2's reset path, which writes x0 only, and SYSTEM_SUSPEND's exit,
    which writes nothing.  A function ID no handler knows (``default:`` of both switches) returns
    NOT_SUPPORTED.  1: back into the guest; 0: exit to userspace (a system event).
    (kernel-patches/bpf arch/arm64/kvm/psci.c @9aa9d5eaf78bc9e8cc0a017030ccf58329392368)"""
    from hvfuzz.model.pkvm import host as H

    fn_id = H.vcpu_get_reg(s, v, 0, "smccc_get_function") & MASK32  # u32 psci_fn
    fn = PSCI_FN_NAMES.get(fn_id)
    allowed = kvm_psci_check_allowed_function(s, v, fn_id)
    if allowed:
        ret, to_user, set_args = allowed, False, True
    else:
        ret, to_user, set_args = kvm_psci_1_x_call(s, v, KVM_ARM_PSCI_LATEST & 0xFFFF)
    if ret is not None:
        if set_args:
            smccc_set_retval(v, psci_ret(ret), 0, 0, 0)
        else:
            v.arch.ctxt[0] = psci_ret(ret)  # vcpu_set_reg(vcpu, 0, ...)
    s.observe(v.idx, "psci-call", f"PSCI {fn or hex(fn_id)} returned", (fn, ret))
    if to_user:
        s.observe(v.idx, "psci-system-event", "KVM_EXIT_SYSTEM_EVENT type", v.system_event)
        s.observe(v.idx, "psci-system-event-flags", "KVM_EXIT_SYSTEM_EVENT data[0]", v.system_event_flags)
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
