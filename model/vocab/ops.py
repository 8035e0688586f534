"""The operation vocabulary: one frozen attrs value per hypervisor event.

Every op is executable in every state: one that does not apply (a guest register write while the
vcpu is in the host, a KVM_RUN on a vcpu that is already running) is recorded as a no-op.  Ops
are plain values; ``fuzz.trace`` turns them into JSON and back, ``model.system`` executes them.  This module
imports nothing of hvfuzz but ``model.vocab``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from hvfuzz.model.vocab.regs import GUEST_TIMER_SYSREGS, REG_INDEX

#: Registers a guest can write while it runs (GPRs, SP, PC, PSTATE, SPSRs, FP, EL1 sysregs and
#: the timer registers it writes in hardware).
GUEST_REGS: tuple[str, ...] = (
    "x0", "x1", "x2", "x30", "sp", "pc", "pstate", "spsr_abt", "spsr_irq", "v0", "v1", "fpsr",
    "SCTLR_EL1", "ESR_EL1", "SPSR_EL1", "ELR_EL1", "VBAR_EL1", "FAR_EL1", "TPIDR_EL1",
    "CONTEXTIDR_EL1", "MDSCR_EL1", "TCR_EL1", "PAR_EL1", "PMOVSSET_EL0",
) + GUEST_TIMER_SYSREGS
#: Registers userspace reaches with KVM_GET/SET_ONE_REG (everything the guest has, plus CNTVOFF).
#: Sysregs the host emulates on a trap (ACTLR_EL1 via HCR_EL2.TACR, PMU registers via MDCR_EL2).
TRAPPED_SYSREGS: tuple[str, ...] = ("ACTLR_EL1", "PMCR_EL0", "PMSELR_EL0")
ONE_REGS: tuple[str, ...] = GUEST_REGS + TRAPPED_SYSREGS + ("CNTVOFF_EL2",)

#: Exit kinds.  ``irq``, ``el1_serror``, ``il`` are ARM_EXCEPTION_* codes; the ``trap_*`` kinds
#: are ARM_EXCEPTION_TRAP with the handler the host runs for it.
EXIT_KINDS: tuple[str, ...] = (
    "irq", "el1_serror", "il",
    "trap_mmio_read", "trap_mmio_write", "trap_sysreg_read", "trap_sysreg_write",
    "trap_mmio_user",
)
#: exits only special ops cause: an HVC (``GuestPsci``) and a stage-2 abort (``GuestAccess``)
SPECIAL_EXIT_KINDS: tuple[str, ...] = ("trap_hvc", "trap_dabt_s2")


def _reg_in(names: tuple[str, ...]) -> Any:
    return attrs.validators.in_(frozenset(names))


_u64 = attrs.validators.and_(
    attrs.validators.instance_of(int), attrs.validators.ge(0), attrs.validators.le((1 << 64) - 1)
)
_idx = attrs.validators.and_(attrs.validators.instance_of(int), attrs.validators.ge(0))
_bool = attrs.validators.instance_of(bool)


@attrs.frozen
class Op:
    """Base of every operation.  ``vcpu`` is the vcpu (thread) it concerns."""

    vcpu: int = attrs.field(validator=_idx)
    #: the ``op`` key in JSON
    name: ClassVar[str] = "Op"


@attrs.frozen
class KvmRun(Op):
    """Userspace enters KVM_RUN on physical CPU ``pcpu``: the first time
    ``kvm_arch_vcpu_run_pid_change``, then ``kvm_handle_mmio_return`` for a completed userspace
    MMIO and ``vcpu_load`` (``kvm_arch_vcpu_load``).  Stops at the top of the run loop
    (preemptible)."""

    pcpu: int = attrs.field(default=0, validator=_idx)
    name: ClassVar[str] = "KvmRun"


@attrs.frozen
class GuestEnter(Op):
    """The run loop enters the guest: vgic flush, ``__kvm_vcpu_run`` (``flush_hyp_vcpu`` under
    pKVM, ``__kvm_adjust_pc``, world switch).  The guest-entry oracle looks at what it resumes
    with."""

    name: ClassVar[str] = "GuestEnter"


@attrs.frozen
class GuestExit(Op):
    """The guest exits with ``kind`` (ARM_EXCEPTION_* code; ``trap_*`` are TRAP exits with the
    handler they reach), optionally with ARM_EXIT_WITH_SERROR_BIT.  Runs the exit path up to
    ``handle_exit_early`` and the preempt_enable after it.  ``rt`` is the transfer register of a
    trapped access, ``reg`` the trapped sysreg, ``value`` the MMIO read data."""

    kind: str = attrs.field(default="irq", validator=attrs.validators.in_(frozenset(EXIT_KINDS)))
    serror_pending: bool = attrs.field(default=False, validator=_bool)
    rt: int = attrs.field(default=0, validator=attrs.validators.and_(_idx, attrs.validators.le(30)))
    reg: str = attrs.field(default="ACTLR_EL1", validator=_reg_in(TRAPPED_SYSREGS))
    value: int = attrs.field(default=0, validator=_u64)
    name: ClassVar[str] = "GuestExit"


@attrs.frozen
class HandleExit(Op):
    """The preemptible half of the exit: ``vcpu_mode_is_bad_32bit`` and ``handle_exit``; when it
    returns to userspace, ``__kvm_adjust_pc`` and ``vcpu_put``."""

    name: ClassVar[str] = "HandleExit"


@attrs.frozen
class ExitToUser(Op):
    """A signal is pending: the run loop's ``xfer_to_guest_mode_handle_work`` returns -EINTR
    (KVM_EXIT_INTR), ``__kvm_adjust_pc`` and ``vcpu_put``."""

    name: ClassVar[str] = "ExitToUser"


@attrs.frozen
class SchedOut(Op):
    """The vcpu thread is preempted at a preemptible point of the run loop: the preempt notifier
    calls ``kvm_arch_vcpu_put``."""

    name: ClassVar[str] = "SchedOut"


@attrs.frozen
class SchedIn(Op):
    """A preempted vcpu thread is scheduled in on ``pcpu`` (migration if it differs): the preempt
    notifier calls ``kvm_arch_vcpu_load``."""

    pcpu: int = attrs.field(default=0, validator=_idx)
    name: ClassVar[str] = "SchedIn"


@attrs.frozen
class GuestWriteReg(Op):
    """The running guest writes ``reg`` (in hardware; saved into whichever context it runs on)."""

    reg: str = attrs.field(default="x0", validator=_reg_in(GUEST_REGS))
    value: int = attrs.field(default=0, validator=_u64)
    name: ClassVar[str] = "GuestWriteReg"


@attrs.frozen
class UserGetReg(Op):
    """KVM_GET_ONE_REG from userspace (the vcpu is outside KVM_RUN)."""

    reg: str = attrs.field(default="x0", validator=_reg_in(ONE_REGS))
    name: ClassVar[str] = "UserGetReg"


@attrs.frozen
class UserSetReg(Op):
    """KVM_SET_ONE_REG from userspace (the vcpu is outside KVM_RUN)."""

    reg: str = attrs.field(default="x0", validator=_reg_in(ONE_REGS))
    value: int = attrs.field(default=0, validator=_u64)
    name: ClassVar[str] = "UserSetReg"


@attrs.frozen
class HostInjectSError(Op):
    """KVM_SET_VCPU_EVENTS with ``serror_pending`` and ``serror_esr``: ``kvm_inject_serror_esr``
    (emulated exception entry writing ESR_EL1 if SErrors are unmasked, else VSESR_EL2 and
    HCR_EL2.VSE)."""

    esr: int = attrs.field(default=0, validator=attrs.validators.and_(_idx, attrs.validators.le((1 << 24) - 1)))
    name: ClassVar[str] = "HostInjectSError"


@attrs.frozen
class UserGetVcpuEvents(Op):
    """KVM_GET_VCPU_EVENTS: reports ``serror_pending`` (HCR_EL2.VSE) and ``serror_esr``."""

    name: ClassVar[str] = "UserGetVcpuEvents"


@attrs.frozen
class HostPmuOverflow(Op):
    """An emulated PMU counter of the vcpu overflows: the host's perf overflow handler
    (``kvm_pmu_perf_overflow``) sets the counter's bit in PMOVSSET_EL0 of the vcpu context from
    interrupt context, whatever the vcpu thread is doing.  Only where the variant offers PMU
    emulation (``Variant.pmu_emulation``); a no-op elsewhere."""

    counter: int = attrs.field(default=0, validator=attrs.validators.and_(_idx, attrs.validators.le(30)))
    name: ClassVar[str] = "HostPmuOverflow"


@attrs.frozen
class UserSetGuestDebug(Op):
    """KVM_SET_GUEST_DEBUG from userspace: enable (KVM_GUESTDBG_ENABLE|SINGLESTEP) or disable
    single-stepping the guest.  Takes effect at the next vcpu load (``kvm_vcpu_load_debug``)."""

    single_step: bool = attrs.field(default=True, validator=_bool)
    name: ClassVar[str] = "UserSetGuestDebug"


#: INTIDs the fuzzer uses: SGIs, PPIs (23: a PMU-like line, 27: the vtimer), SPIs
SGIS: tuple[int, ...] = (0, 1, 2, 3)
PPIS: tuple[int, ...] = (23, 27)
SPIS: tuple[int, ...] = (32, 33, 34, 35)
_intid = attrs.validators.and_(_idx, attrs.validators.lt(64))
_group = attrs.validators.in_(frozenset((0, 1)))


@attrs.frozen
class InjectIrq(Op):
    """A device or the host drives an interrupt line (``kvm_vgic_inject_irq``; for SGIs the
    trapped ICC_SGI1R write of another vcpu): edge: ``level=True`` is an edge; level: the new line
    level.  ``vcpu`` names the redistributor for SGIs/PPIs; SPIs are routed by their target."""

    intid: int = attrs.field(default=32, validator=_intid)
    level: bool = attrs.field(default=True, validator=_bool)
    name: ClassVar[str] = "InjectIrq"


@attrs.frozen
class ConfigIrq(Op):
    """Distributor/redistributor configuration of an idle interrupt (not active, not queued):
    enable, priority, group, edge/level (PPIs/SPIs) and the target vcpu of an SPI."""

    intid: int = attrs.field(default=32, validator=_intid)
    enabled: bool = attrs.field(default=True, validator=_bool)
    priority: int = attrs.field(default=0xA0, validator=attrs.validators.and_(_idx, attrs.validators.le(0xFF)))
    group: int = attrs.field(default=1, validator=_group)
    level: bool = attrs.field(default=False, validator=_bool)
    target: int = attrs.field(default=0, validator=attrs.validators.and_(_idx, attrs.validators.lt(4)))
    name: ClassVar[str] = "ConfigIrq"


@attrs.frozen
class GuestAck(Op):
    """The guest reads ICV_IAR<group>_EL1 (acknowledge)."""

    group: int = attrs.field(default=1, validator=_group)
    name: ClassVar[str] = "GuestAck"


@attrs.frozen
class GuestEoi(Op):
    """The guest writes ICV_EOIR<group>_EL1: priority drop (and deactivation with EOImode 0)."""

    group: int = attrs.field(default=1, validator=_group)
    intid: int = attrs.field(default=32, validator=attrs.validators.and_(_idx, attrs.validators.le(1023)))
    name: ClassVar[str] = "GuestEoi"


@attrs.frozen
class GuestDir(Op):
    """The guest writes ICV_DIR_EL1 (deactivation with EOImode 1; trapped when TDIR/TC)."""

    intid: int = attrs.field(default=32, validator=attrs.validators.and_(_idx, attrs.validators.le(1023)))
    name: ClassVar[str] = "GuestDir"


@attrs.frozen
class GuestSetPmr(Op):
    """The guest writes ICV_PMR_EL1."""

    value: int = attrs.field(default=0xF0, validator=attrs.validators.and_(_idx, attrs.validators.le(0xFF)))
    name: ClassVar[str] = "GuestSetPmr"


@attrs.frozen
class GuestSetBpr(Op):
    """The guest writes ICV_BPR<group>_EL1."""

    group: int = attrs.field(default=1, validator=_group)
    value: int = attrs.field(default=0, validator=attrs.validators.and_(_idx, attrs.validators.le(7)))
    name: ClassVar[str] = "GuestSetBpr"


@attrs.frozen
class GuestSetGrpEn(Op):
    """The guest writes ICV_IGRPEN<group>_EL1."""

    group: int = attrs.field(default=1, validator=_group)
    enable: bool = attrs.field(default=True, validator=_bool)
    name: ClassVar[str] = "GuestSetGrpEn"


@attrs.frozen
class GuestSetEoiMode(Op):
    """The guest writes ICV_CTLR_EL1.EOImode (0: EOI deactivates; 1: DIR deactivates)."""

    eoimode: bool = attrs.field(default=False, validator=_bool)
    name: ClassVar[str] = "GuestSetEoiMode"


# --- PSCI, power state and stage-2 --------------------------------------------------------------
#: PSCI functions a guest calls with HVC (PSCI 1.1, SMC64 IDs where there are two)
PSCI_FNS: tuple[str, ...] = (
    "CPU_ON", "CPU_OFF", "AFFINITY_INFO", "SYSTEM_OFF", "SYSTEM_RESET", "SYSTEM_RESET2", "PSCI_VERSION",
)
#: guest-physical pages the guest touches (stage-2 mappings are per page)
PAGES: tuple[int, ...] = (0, 1, 2, 3)
MP_STATES: tuple[str, ...] = ("RUNNABLE", "STOPPED")


@attrs.frozen
class GuestPsci(Op):
    """The guest calls PSCI: x0 = the function ID, x1 = ``target`` (an MPIDR: Aff0 = the vcpu
    index; >= the vcpu count names no vcpu), x2 = ``entry``, x3 = ``context`` (CPU_ON;
    SYSTEM_RESET2 takes the reset type in x1), then HVC #0: an exit (ESR EC = HVC64) whose
    handler, ``kvm_psci_call``, runs at the next ``HandleExit``."""

    fn: str = attrs.field(default="CPU_ON", validator=attrs.validators.in_(frozenset(PSCI_FNS)))
    target: int = attrs.field(default=1, validator=attrs.validators.and_(_idx, attrs.validators.le(7)))
    entry: int = attrs.field(default=0x80000, validator=_u64)
    context: int = attrs.field(default=0, validator=_u64)
    name: ClassVar[str] = "GuestPsci"


@attrs.frozen
class GuestAccess(Op):
    """The guest loads from guest-physical ``page``: a hit if stage-2 maps it, else a stage-2
    data abort (an exit; ``HandleExit`` runs ``kvm_handle_guest_abort``, which maps the page and
    re-executes the access)."""

    page: int = attrs.field(default=0, validator=attrs.validators.in_(frozenset(PAGES)))
    name: ClassVar[str] = "GuestAccess"


@attrs.frozen
class UserVcpuInit(Op):
    """Userspace KVM_ARM_VCPU_INIT (outside KVM_RUN), with or without the POWER_OFF feature."""

    power_off: bool = attrs.field(default=False, validator=_bool)
    name: ClassVar[str] = "UserVcpuInit"


@attrs.frozen
class UserSetMpState(Op):
    """Userspace KVM_SET_MP_STATE (outside KVM_RUN)."""

    state: str = attrs.field(default="RUNNABLE", validator=attrs.validators.in_(frozenset(MP_STATES)))
    name: ClassVar[str] = "UserSetMpState"


@attrs.frozen
class UserGetMpState(Op):
    """Userspace KVM_GET_MP_STATE (outside KVM_RUN)."""

    name: ClassVar[str] = "UserGetMpState"


OP_CLASSES: tuple[type[Op], ...] = (
    KvmRun, GuestEnter, GuestExit, HandleExit, ExitToUser, SchedOut, SchedIn, GuestWriteReg,
    UserGetReg, UserSetReg, HostInjectSError, UserGetVcpuEvents, UserSetGuestDebug,
    HostPmuOverflow, InjectIrq, ConfigIrq, GuestAck, GuestEoi, GuestDir, GuestSetPmr, GuestSetBpr,
    GuestSetGrpEn, GuestSetEoiMode, GuestPsci, GuestAccess, UserVcpuInit, UserSetMpState,
    UserGetMpState,
)
OPS_BY_NAME: dict[str, type[Op]] = {cls.name: cls for cls in OP_CLASSES}

assert all(r in REG_INDEX for r in ONE_REGS)
