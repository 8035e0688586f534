"""The objects of the pKVM vcpu-state protocol: host vcpu, hyp vcpu, physical CPUs, vcpu threads.

Field names follow ``struct kvm_vcpu_arch`` / ``struct pkvm_hyp_vcpu``.
"""

from __future__ import annotations

import enum

import attrs

from hvfuzz.model.regs import GUEST_TIMER_INDICES, TIMER_INDICES, reset_context
from hvfuzz.model.vgic.v3_cpu_if import VgicV3CpuIf
from hvfuzz.model.vgic.v3_hw import IchCpuIf
from hvfuzz.model.vgic.version import CpuIfState, VCpuIf

# iflags bits (kvm_host.h).  PKVM_HOST_STATE_DIRTY is BIT(4) of iflags, as in the seed patch.
INCREMENT_PC = 1 << 1
PENDING_EXCEPTION = 1 << 0
EXCEPT_AA64_EL1_SERR = 3 << 2  # EXCEPT_MASK (GENMASK(3, 1)) value for an EL1 SError; see note
PKVM_HOST_STATE_DIRTY = 1 << 4
# Note: the kernel packs the exception target into GENMASK(3,1) together with INCREMENT_PC
# (they are never both meaningful).  The model keeps PENDING_EXCEPTION in bit 0 and the
# exception kind in bits 2-3 so that the two can be told apart in a timeline.


class Phase(enum.Enum):
    """Where a vcpu thread is."""

    OUT = "userspace"  # outside KVM_RUN
    P0 = "run-loop"  # top of the run loop (preemptible): next is guest entry
    GUEST = "guest"  # the guest runs
    P1 = "exit-handling"  # after handle_exit_early (preemptible): next is handle_exit


@attrs.define(slots=True)
class Fault:
    """``struct kvm_vcpu_fault_info`` reduced to what the handlers decode: the exit kind and the
    syndrome fields of a trapped access."""

    kind: str = "irq"
    serror_pending: bool = False
    rt: int = 0
    reg: str = ""
    value: int = 0


@attrs.define(slots=True)
class VcpuArch:
    """What the host vcpu and the hyp vcpu both have: ``arch.ctxt``, ``arch.iflags``,
    ``arch.hcr_el2``, ``arch.vsesr_el2``, ``arch.fault``."""

    ctxt: list[int]
    iflags: int = 0
    hcr_el2: int = 0
    vsesr_el2: int = 0
    fault: Fault = attrs.Factory(Fault)
    #: ``debug_owner`` (VCPU_DEBUG_FREE / _GUEST_OWNED / _HOST_OWNED) and ``external_mdscr_el1``,
    #: the MDSCR_EL1 the CPU runs the guest with while the host owns debug (debug.c)
    debug_owner: str = "free"
    external_mdscr_el1: int = 0


@attrs.define(slots=True)
class HypVcpu:
    """``struct pkvm_hyp_vcpu``: EL2's private vcpu (the guest runs on ``vcpu``)."""

    vcpu: VcpuArch
    #: the physical CPU it is loaded on (``pkvm_load_hyp_vcpu``), or None
    loaded_on: int | None = None
    exit_code: str = "irq"
    #: ``hyp_vcpu->vcpu.arch.vgic_cpu.vgic_v3``: the hyp's own saved CPU-interface state, which EL2
    #: restores into and saves from the pCPU's interface (``model/pkvm/hyp_vgic.py``)
    vgic_cpu_if: CpuIfState = attrs.Factory(lambda: VgicV3CpuIf.new(4, 5))


@attrs.define(slots=True)
class ResetState:
    """``struct vcpu_reset_state``: what a PSCI CPU_ON asks ``kvm_reset_vcpu`` to start with."""

    pc: int = 0
    r0: int = 0
    be: bool = False
    reset: bool = False


@attrs.define(slots=True)
class HostVcpu:
    """``struct kvm_vcpu`` on the host side, plus the vcpu thread's place in the run loop."""

    idx: int
    arch: VcpuArch
    phase: Phase = Phase.OUT
    #: the physical CPU the thread is scheduled on while in KVM_RUN (None: preempted / out)
    pcpu: int | None = None
    #: kvm_arch_vcpu_run_pid_change has run
    has_run_once: bool = False
    #: VCPU_INITIALIZED (cleared by vcpu_mode_is_bad_32bit)
    initialized: bool = True
    #: KVM_SET_GUEST_DEBUG with KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP
    guest_debug: bool = False
    #: a userspace MMIO read in flight: (rt, data) completed by the next KVM_RUN
    mmio_needed: tuple[int, int] | None = None
    #: ``vcpu->arch.mp_state``: "RUNNABLE" or "STOPPED" (model/psci.py)
    mp_state: str = "RUNNABLE"
    #: pending vcpu requests (KVM_REQ_SLEEP, KVM_REQ_VCPU_RESET)
    requests: set[str] = attrs.Factory(set)
    reset_state: ResetState = attrs.Factory(ResetState)
    #: the thread blocks in ``kvm_vcpu_sleep`` (scheduled out until woken)
    sleeping: bool = False
    #: the KVM_EXIT_SYSTEM_EVENT type of the last exit to userspace, if any
    system_event: str | None = None
    #: its ``run->system_event.data[0]`` (KVM_SYSTEM_EVENT_*_FLAG_*; 0 with ``ndata`` 0)
    system_event_flags: int = 0
    #: a CPU_ON whose reset request this thread has yet to publish: (target, reset state)
    #: (only the ``cpu_on_reset_before_runnable=False`` deviation leaves one)
    deferred: list[tuple[int, ResetState]] = attrs.Factory(list)
    #: ``vcpu->arch.vgic_cpu.vgic_v3``: the saved CPU-interface state (the vgic's ``cpu_if[idx]``;
    #: on its own, a GICv3 one with the ``System`` defaults: 4 LRs, 5 priority bits)
    vgic_cpu_if: CpuIfState = attrs.Factory(lambda: VgicV3CpuIf.new(4, 5))


@attrs.define(slots=True)
class Pcpu:
    """A physical CPU: which vcpu thread runs on it, the hyp's loaded vcpu, and what lives in
    hardware: the EL1 timer registers (CNTVOFF_EL2, CNTV_CVAL/CTL, CNTP_CVAL/CTL) and the GIC's
    virtual CPU interface (GICv3: the ICH_* registers)."""

    idx: int
    thread: int | None = None
    loaded_hyp_vcpu: int | None = None
    #: SVCR (PSTATE.SM/ZA) as the host leaves it when it calls ``__kvm_vcpu_run``.  KVM keeps it 0:
    #: ``kvm_arch_vcpu_load_fp`` (fpsimd.c) runs ``fpsimd_save_and_flush_cpu_state()``, which
    #: "ensures that PSTATE.{SM,ZA} == {0,0}", at every vcpu load.  No op sets it; a test sets it to
    #: play a misbehaving host (``hyp_main.handle___kvm_vcpu_run``).
    svcr: int = 0
    hw_timer: list[int] = attrs.Factory(lambda: [0] * len(TIMER_INDICES))
    #: the virtual CPU interface (the vgic's ``hw[idx]``; on its own, a GICv3 one with the
    #: ``System`` defaults: 4 LRs, 5 priority bits)
    vgic_cpu: VCpuIf = attrs.Factory(lambda: IchCpuIf(nr_lrs=4, pri_bits=5))


def new_vcpu_arch(vcpu_idx: int) -> VcpuArch:
    return VcpuArch(ctxt=reset_context(mpidr=(1 << 31) | vcpu_idx))


__all__ = [
    "INCREMENT_PC", "PENDING_EXCEPTION", "EXCEPT_AA64_EL1_SERR", "PKVM_HOST_STATE_DIRTY",
    "Phase", "Fault", "ResetState", "VcpuArch", "HypVcpu", "HostVcpu", "Pcpu", "new_vcpu_arch",
    "GUEST_TIMER_INDICES", "TIMER_INDICES",
]
