"""``ArchVcpu``: the vcpu's architectural register state, judged from the Arm ARM (DDI 0487),
PSCI (DEN0022), SMCCC (DEN0028) and the KVM API (Documentation/virt/kvm/api.rst), with its own
copy of every vcpu's registers.  It sees only the ops and the observations (``Step``), never the
model's run loop, exit handlers, injection or reset code, which the register oracles' reference
shares with every design: a mistake there is on both sides of the differential comparison.

Per vcpu it holds the architectural context (the layout of ``model/vocab/regs.py``) as of the
guest's last exit, and applies to it exactly the changes the ops justify:

* the guest's own writes (``GuestWriteReg``; ``GuestPsci``/``GuestSmc`` load x0..x3);
* the completion of the instruction an exit trapped (``HandleExit``): an in-kernel MMIO read
  (Rt <- data, byte-reversed if SCTLR_EL1.EE, PC + 4), an MMIO write and a trapped sysreg access
  (PC + 4, the read's Rt), a PSCI call (x0 = the value the ``psci-call`` observation reports, which
  ``ArchPsci`` judges; x1..x3 not constrained; PC: see ``V3``), a stage-2 abort (re-executed);
  a userspace MMIO read completes at the next KVM_RUN (api.rst, KVM_EXIT_MMIO);
* SError delivery: an SError exit or KVM_SET_VCPU_EVENTS makes a virtual SError; with PSTATE.A
  clear it is taken at once, else it stays pending (ISR_EL1.A = 1) until the guest clears
  PSTATE.A, and is then taken exactly once (AArch64.TakeException);
* resets: KVM_ARM_VCPU_INIT and an accepted PSCI CPU_ON (serviced at the target's next run or
  ONE_REG access), each with the registers it defines; what the architecture leaves UNKNOWN is a
  position that adopts the first value observed and must then stay stable (``unk``);
* userspace's KVM_SET_ONE_REG.

Properties (each failure names one):

* ``vcpu-V1-one-reg`` -- KVM_GET_ONE_REG returns the register's architectural value (api.rst
  4.68 KVM_GET_ONE_REG), which before the KVM_RUN that completes a KVM_EXIT_MMIO is the
  un-retired state (api.rst 5 KVM_EXIT_MMIO: "the corresponding operation is complete (and guest
  state is consistent) only after userspace has re-entered the kernel with KVM_RUN").
* ``vcpu-V2-vcpu-events`` -- KVM_GET_VCPU_EVENTS reports ``serror_pending`` exactly when a virtual
  SError is pending, with the ESR userspace or KVM gave it (api.rst 4.31 KVM_GET_VCPU_EVENTS,
  ARM64: "serror_pending ... serror_has_esr ... serror_esr").
* ``vcpu-V3-entry-state`` -- at every guest entry the context is the state at the last exit plus
  the justified changes above (Arm ARM D1.x preferred return addresses: an MMIO or sysreg trap
  is a synchronous exception whose preferred return is the trapping instruction, so emulating it
  is completing it: PC + 4; a trapped SMC's preferred return is the SMC itself, so KVM steps it:
  PC + 4 (HCR_EL2.TSC, "Trapped SMC"); an HVC's preferred return is the next instruction: the
  model represents the guest's PC at an HVC exit as that return address (README, "HVC and PC"),
  so PC is unchanged; SMCCC v1.1+ (DEN0028, "Register use in AArch64 SMC and HVC calls"): X4-X30
  preserved).
* ``vcpu-V4-reset-state`` -- the state after a reset: KVM_ARM_VCPU_INIT (api.rst 4.82: "Processor
  state: AArch64: EL1h, D, A, I and F bits set. All other bits are cleared. General Purpose
  registers, including PC and SP: set to 0. FPSIMD/NEON registers: set to 0. ... System
  registers: Reset to their architecturally defined values as for a warm reset to EL1"), PSCI
  CPU_ON (DEN0022 5.6 CPU_ON / 6.4 "Implementation responsibilities": PC = entry_point_address,
  X0 = context_id, the caller's Exception level (EL1h with D, A, I, F masked) and endianness
  (SCTLR_EL1.EE)), and MPIDR_EL1 naming the vcpu as PSCI's target_cpu does (Arm ARM D23
  MPIDR_EL1: Aff3..Aff0 identify the PE, bit 31 RES1; KVM's Aff0 = vcpu index until userspace
  sets MPIDR_EL1, as the vocabulary's ``GuestPsci`` marshals target_cpu).
* ``vcpu-V5-exception-entry`` -- a taken SError: ELR_EL1 = the preferred return address, SPSR_EL1
  = PSTATE, PSTATE per AArch64.TakeException (N, Z, C, V, DIT, PAN kept; PAN set if
  SCTLR_EL1.SPAN = 0; SSBS = SCTLR_EL1.DSSBS; UAO, SS, IL, BTYPE cleared; D, A, I, F set; EL1h),
  PC = VBAR_EL1 + the vector offset of the source mode (EL1t 0x0, EL1h 0x200, EL0 AArch64 0x400)
  + 0x180 (Arm ARM D1.10.2 "Exception vectors"), ESR_EL1 = EC 0x2F (SError), IL = 1 (Arm ARM
  ESR_ELx.IL: 1 for an SError exception), ISS from VSESR_EL2 (Arm ARM VSESR_EL2) or from the
  KVM_SET_VCPU_EVENTS ``serror_esr``.
* ``vcpu-V6-serror-pending`` -- ISR_EL1.A at every entry: 1 exactly while a virtual SError is
  pending (Arm ARM ISR_EL1.A; HCR_EL2.VSE "virtual SError pending"); a masked one is taken once
  PSTATE.A is cleared, exactly once.
* ``vcpu-V7-debug-mdscr`` -- the MDSCR_EL1 the CPU runs the guest with: the guest's own, unless
  userspace single-steps the guest (api.rst 4.44 KVM_SET_GUEST_DEBUG, KVM_GUESTDBG_SINGLESTEP),
  in which case MDSCR_EL1.SS is set (Arm ARM D2.12 "Software Step exceptions": MDSCR_EL1.SS
  enables software step).

Userspace discipline (as ArchPsci's U1, U2): U1 -- a VMM completes an MMIO exit with KVM_RUN
before it resets the vcpu; if not, the completion's Rt and PC are not judged
(``U1_MMIO_ACROSS_RESET``).  U2 -- a VMM that sets MPIDR_EL1 gives each vcpu its own affinity;
once two vcpus share one, a CPU_ON naming it has no meaning and ArchVcpu stops judging.

Tolerances (each a named constant below, with its reason): ``KVM_EMULATED_SERROR_IL``,
``VSE_ACROSS_REINIT``, ``UNJUDGED_SOURCE_MODES``, ``IMPDEF_TRAPPED_WRITES``,
``MMIO_EE_CHANGED``, ``U1_MMIO_ACROSS_RESET``.
"""

from __future__ import annotations

from typing import Any

import attrs

from hvfuzz.model.vocab import obs as K
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.judging import Failure, Step
from hvfuzz.model.vocab.regs import (
    CTXT_LEN,
    IDX_FPCR,
    IDX_FPSR,
    IDX_PC,
    IDX_PSTATE,
    IDX_SP,
    IDX_SPSR0,
    IDX_SYSREGS,
    IDX_V0,
    INDEX_NAME,
    MASK64,
    NR_GPRS,
    NR_SYS_REGS,
    NR_VREGS,
    REG_INDEX,
    sysreg_index,
)

V1, V2, V3, V4, V5, V6, V7 = ("vcpu-V1-one-reg", "vcpu-V2-vcpu-events", "vcpu-V3-entry-state", "vcpu-V4-reset-state",
                              "vcpu-V5-exception-entry", "vcpu-V6-serror-pending", "vcpu-V7-debug-mdscr")
V8 = "vcpu-V8-run-returns"
ORACLE_NAMES = (V1, V2, V3, V4, V5, V6, V7, V8)
#: the vcpu ioctls a VMM makes on a vcpu outside KVM_RUN (their ``requires`` is userspace alone)
_USER_OPS = frozenset(cls for cls in O.OP_CLASSES if cls.spec.requires == frozenset({O.Where.USER}))

ALL = MASK64
MASK32 = (1 << 32) - 1
# --- PSTATE (Arm ARM C5.2.18 SPSR_EL1 / D1.4 PSTATE; bit positions as in SPSR_EL1, AArch64 layout) ---
M_EL0T, M_EL1T, M_EL1H = 0b0000, 0b0100, 0b0101
M_MASK = 0x1F  # M[4] (nRW) and M[3:0]
P_F, P_I, P_A, P_D = 1 << 6, 1 << 7, 1 << 8, 1 << 9
P_SSBS, P_PAN, P_DIT, P_NZCV = 1 << 12, 1 << 22, 1 << 24, 0xF << 28
DAIF = P_D | P_A | P_I | P_F
#: PSTATE after KVM_ARM_VCPU_INIT and CPU_ON: EL1h, D A I F set, all else clear (api.rst; DEN0022)
RESET_PSTATE = M_EL1H | DAIF
#: the vector offset of an exception taken to EL1 from each source mode (Arm ARM D1.10.2)
VECTOR_BASE = {M_EL1T: 0x0, M_EL1H: 0x200, M_EL0T: 0x400}
SERROR_OFFSET = 0x180
# --- SCTLR_EL1 (Arm ARM D23 SCTLR_EL1) ---
SCTLR_EE = 1 << 25
SCTLR_SPAN = 1 << 23
SCTLR_DSSBS = 1 << 44
# --- ESR_EL1 for an SError (Arm ARM D23 ESR_EL1; ISS encoding for an SError interrupt) ---
EC_SERROR = 0x2F << 26
ESR_IL = 1 << 25
ISS_MASK = (1 << 25) - 1
ESR_IDS = 1 << 24  # the syndrome is IMPLEMENTATION DEFINED; ISS[23:0] then are too
# --- MPIDR_EL1 (Arm ARM D23 MPIDR_EL1) ---
MPIDR_AFFINITY = 0xFF00FFFFFF  # Aff3 [39:32], Aff2..Aff0 [23:0]; what PSCI's target_cpu names
MPIDR_RES1 = 1 << 31
MPIDR_IMPDEF = (1 << 30) | (1 << 24)  # U (uniprocessor) and MT: IMPLEMENTATION DEFINED
# --- MDSCR_EL1 ---
MDSCR_SS = 1 << 0

IDX_X0 = 0
IDX_SCTLR = sysreg_index("SCTLR_EL1")
IDX_ESR = sysreg_index("ESR_EL1")
IDX_ELR = sysreg_index("ELR_EL1")
IDX_SPSR_EL1 = sysreg_index("SPSR_EL1")
IDX_VBAR = sysreg_index("VBAR_EL1")
IDX_MPIDR = sysreg_index("MPIDR_EL1")
IDX_MDSCR = sysreg_index("MDSCR_EL1")
IDX_CNTVOFF = sysreg_index("CNTVOFF_EL2")
IDX_PMOVSSET = sysreg_index("PMOVSSET_EL0")
IDX_ISR_A = CTXT_LEN  # guest-entry: ISR_EL1.A after the context
IDX_CPU_MDSCR = CTXT_LEN + 1  # guest-entry: MDSCR_EL1 as the CPU holds it
VIEW_LEN = CTXT_LEN + 2

#: Tolerance: KVM's emulated SError entry (arch/arm64/kvm/inject_fault.c ``kvm_inject_serror_esr``,
#: SErrors unmasked: ``esr |= FIELD_PREP(ESR_ELx_EC_MASK, ESR_ELx_EC_SERROR)``) writes ESR_EL1
#: without ESR_ELx.IL, which the Arm ARM makes 1 for an SError (and QEMU's ``syn_serror`` sets).
#: A kernel-vs-architecture finding: for an SError KVM enters by emulation, IL may be 0 or 1.
KVM_EMULATED_SERROR_IL = ESR_IL
#: Tolerance: KVM_ARM_VCPU_INIT of a vcpu that has run keeps a pending virtual SError (``vcpu_reset_hcr``
#: resets HCR_EL2 only ``if (!vcpu_has_run_once(vcpu))``), although api.rst says INIT "will reset the
#: vcpu to its initial state", which has none.  A kernel-vs-API finding: after such an INIT the pending
#: state adopts the first value observed (ISR_EL1.A at entry, KVM_GET_VCPU_EVENTS).
VSE_ACROSS_REINIT = True
#: Tolerance: an exception taken from a PSTATE.M no AArch64-only EL1 guest can hold (AArch32, EL2/EL3,
#: reserved encodings: only a ``GuestWriteReg`` of PSTATE makes one, a vocabulary abstraction of the
#: guest's writes) has no architected vector offset for this VM; its PC, PSTATE, ELR, SPSR and ESR
#: adopt what is observed.
UNJUDGED_SOURCE_MODES = True
#: Tolerance: trapped writes whose stored value the architecture leaves to the implementation or to
#: field semantics hvfuzz does not model: ACTLR_EL1 (IMPLEMENTATION DEFINED; KVM ignores writes,
#: ``access_actlr``), PMCR_EL0 (P and C write-only, N read-only) and PMSELR_EL0 (SEL only; RES0 above):
#: after such a write the register adopts the first value observed.
IMPDEF_TRAPPED_WRITES = frozenset({"ACTLR_EL1", "PMCR_EL0", "PMSELR_EL0"})
#: Tolerance: userspace changed SCTLR_EL1.EE between a KVM_EXIT_MMIO read and the KVM_RUN that completes
#: it.  The architecture performs the load with the endianness it executed under; KVM's
#: ``kvm_handle_mmio_return`` byte-swaps with the endianness at completion.  Rt adopts what is observed.
MMIO_EE_CHANGED = True
#: Tolerance (userspace discipline U1): a reset while a KVM_EXIT_MMIO read is still to be completed;
#: KVM retires the stale read into the reset vcpu at the next KVM_RUN (Rt written, PC + 4).  Rt and PC
#: adopt what is observed at that completion.
U1_MMIO_ACROSS_RESET = True

_SPSR_IDX = tuple(range(IDX_SPSR0, IDX_V0))
_V_IDX = tuple(range(IDX_V0, IDX_V0 + NR_VREGS))
_SYSREG_IDX = tuple(range(IDX_SYSREGS, IDX_SYSREGS + NR_SYS_REGS))
#: sysregs a guest reset leaves alone: MPIDR_EL1 (identifies the PE; userspace's value survives,
#: vocabulary ``ONE_REGS``) and CNTVOFF_EL2 (EL2 state: the guest's reset is not the hypervisor's)
_KEPT_AT_RESET = frozenset({IDX_MPIDR, IDX_CNTVOFF})
_RESET_UNKNOWN = (_SPSR_IDX + (IDX_FPSR, IDX_FPCR)
                  + tuple(i for i in _SYSREG_IDX if i not in _KEPT_AT_RESET))
#: after CPU_ON DEN0022 defines only PC, x0, PSTATE and SCTLR_EL1.EE (KVM zeroes the rest as for INIT)
_CPU_ON_UNKNOWN = tuple(i for i in range(1, NR_GPRS)) + (IDX_SP,) + _V_IDX


@attrs.define
class _Vcpu:
    #: the architectural context (``model/vocab/regs.py`` layout), then the two values a guest entry
    #: shows after it (ISR_EL1.A, the CPU's MDSCR_EL1), filled in at each entry check
    ctx: list[int]
    #: UNKNOWN bits: context index -> mask of the bits that adopt the next observed value
    unk: dict[int, int] = attrs.Factory(dict)
    #: the property a changed position's expected value comes from, since the last checked entry
    why: dict[int, str] = attrs.Factory(dict)
    #: a virtual SError pending (HCR_EL2.VSE); None: unknown (adopts the next observation)
    vse: bool | None = False
    vsesr: int = 0
    #: the exit awaiting ``HandleExit``: (kind, rt, reg, value, serror_pending, PSTATE at the exit)
    exit: tuple[Any, ...] | None = None
    #: the PSCI call made by the last HVC/SMC, until its handler runs
    call: O.GuestPsci | None = None
    #: a KVM_EXIT_MMIO read to complete at the next KVM_RUN: (rt, data, EE at the exit)
    mmio: tuple[int, int, int | None] | None = None
    #: U1: a reset happened while ``mmio`` was in flight
    u1: bool = False
    #: an accepted CPU_ON not yet serviced: (entry, context id, caller's EE or None)
    reset: tuple[int, int, int | None] | None = None
    #: KVM_ARM_VCPU_INIT with a CPU_ON still pending: the next service resets to INIT's state again
    stale_reset: bool = False
    has_run: bool = False
    in_user: bool = True
    #: KVM_SET_GUEST_DEBUG single-step
    single_step: bool = False


def _initial(v: int) -> _Vcpu:
    c = _Vcpu(ctx=[0] * VIEW_LEN)
    c.ctx[IDX_MPIDR] = MPIDR_RES1 | v
    c.unk[IDX_MPIDR] = MPIDR_IMPDEF
    _reset(c, None)
    return c


#: what every reset leaves UNKNOWN, and the property every position's reset value comes from
_RESET_UNK: dict[int, int] = {i: ALL for i in _RESET_UNKNOWN}
_RESET_WHY: dict[int, str] = {i: V4 for i in range(CTXT_LEN)}
_RESET_CORE: list[int] = [0] * IDX_SYSREGS
_RESET_CORE[IDX_PSTATE] = RESET_PSTATE


def _reset(c: _Vcpu, cpu_on: tuple[int, int, int | None] | None) -> None:
    """The vcpu's reset: KVM_ARM_VCPU_INIT (``cpu_on`` None) or PSCI CPU_ON (entry, context id,
    the caller's EE): api.rst KVM_ARM_VCPU_INIT / DEN0022 CPU_ON, see V4.  MPIDR_EL1 and
    CNTVOFF_EL2 keep their values (and MPIDR its IMPLEMENTATION DEFINED bits)."""
    ctx = c.ctx
    ctx[:IDX_SYSREGS] = _RESET_CORE
    mpidr_unk = c.unk.get(IDX_MPIDR)
    c.unk = unk = dict(_RESET_UNK)
    if mpidr_unk:
        unk[IDX_MPIDR] = mpidr_unk
    c.why = dict(_RESET_WHY)
    if c.mmio is not None:
        c.u1 = True
    if cpu_on is not None:
        entry, context, be = cpu_on
        ctx[IDX_PC], ctx[IDX_X0] = entry & MASK64, context & MASK64
        for i in _CPU_ON_UNKNOWN:
            unk[i] = ALL
        if be is not None:
            ctx[IDX_SCTLR] = SCTLR_EE if be else 0
            unk[IDX_SCTLR] = ALL & ~SCTLR_EE


class ArchVcpu:
    def __init__(self, vcpus: int) -> None:
        self.cpus = [_initial(v) for v in range(vcpus)]
        #: U2 broken (two vcpus share an MPIDR affinity): nothing is judged any more
        self.unjudged = False

    def state_key(self, intids: tuple[int, ...]) -> object:
        return (self.unjudged, tuple(
            (tuple(c.ctx), tuple(sorted(c.unk.items())), tuple(sorted(c.why.items())), c.vse, c.vsesr, c.exit,
             c.call, c.mmio, c.u1, c.reset, c.stale_reset, c.has_run, c.in_user, c.single_step)
            for c in self.cpus))

    # --- the step --------------------------------------------------------------------------------------
    def after(self, step: Step) -> Failure | None:
        if self.unjudged:
            return None
        if len(step.sut_obs) > 1:
            self._forced_exits(step)
        c = self.cpus[step.op.vcpu] if step.op.vcpu < len(self.cpus) else None
        if step.applied and c is not None and not c.in_user and type(step.op) in _USER_OPS:
            # V8 (api.rst, KVM_RUN): KVM_RUN returns to userspace with run->exit_reason saying why
            # (KVM_EXIT_MMIO, KVM_EXIT_SYSTEM_EVENT, KVM_EXIT_FAIL_ENTRY, ...) or -EINTR for a signal;
            # an exit the kernel handles (an IRQ, a trap it emulates, a pending SError) re-enters
            c.in_user = True
            return Failure(V8, step.op.vcpu, f"vcpu{step.op.vcpu}: KVM_RUN returned to userspace with no exit "
                           f"reason (after an exit KVM handles in the kernel); {step.op.name} then applied",
                           "in userspace", "in KVM_RUN")
        handler = _HANDLERS.get(type(step.op))
        if handler is None:
            return None
        return handler(self, step, c)

    def _forced_exits(self, step: Step) -> None:
        """Another vcpu left the guest during this op (KVM halted every vcpu, e.g. for a DIR of an
        interrupt live in its list registers: an IPI, an exit retiring nothing)."""
        for o in step.sut_obs:
            if o[0] == K.EXIT_PC and o[1] != step.op.vcpu and o[1] < len(self.cpus):
                u = self.cpus[o[1]]
                u.exit = ("irq", 0, "", 0, False, u.ctx[IDX_PSTATE])

    def _guest_dir(self, step: Step, c: _Vcpu) -> Failure | None:
        """A DIR the hypervisor traps and emulates outside EL2 is an exit (ICH_HCR_EL2.TDIR); the
        instruction completes when the vcpu resumes (PC + 4, as for every trapped system register
        write: the preferred return address is the instruction itself).  A DIR handled by the CPU
        or at EL2 leaves the guest running, and the model's guest ops do not move PC."""
        if step.applied and _last(step.sut_obs, K.EXIT_PC, step.op.vcpu) is not None:
            c.exit = ("trap_sysreg_dir", 0, "", 0, False, c.ctx[IDX_PSTATE])
        return None

    def _guest_gic_write(self, step: Step, c: _Vcpu) -> Failure | None:
        """A guest store to the GIC distributor/redistributor frame is a data abort the
        hypervisor emulates (an MMIO exit): the store completes when the vcpu resumes (PC + 4)."""
        if step.applied and _last(step.sut_obs, K.EXIT_PC, step.op.vcpu) is not None:
            c.exit = ("trap_mmio_vgic", 0, "", 0, False, c.ctx[IDX_PSTATE])
        return None

    def _kvm_run(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied:
            return None
        c.has_run, c.in_user = True, False
        if c.mmio is not None:  # api.rst KVM_EXIT_MMIO: the read completes now
            rt, data, ee = c.mmio
            c.mmio = None
            if c.u1:  # U1_MMIO_ACROSS_RESET
                self._unknown(c, (rt, IDX_PC), V3)
            else:
                now = self._ee(c)
                if now is None or now != ee:
                    self._unknown(c, (rt,), V3)  # MMIO_EE_CHANGED
                else:
                    self._set(c, rt, _bswap64(data) if ee else data, V3)
                self._step_pc(c)
        c.u1 = False
        return None

    def _guest_enter(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied:
            return None
        v = step.op.vcpu
        view = _last(step.sut_obs, K.GUEST_ENTRY, v)
        if view is None:  # the thread slept (or failed the entry): no check_vcpu_requests reset either
            return None
        self._service_reset(c)
        if c.vse is None and c.unk.get(IDX_PSTATE, 0) & P_A:
            c.vse = bool(view[IDX_ISR_A])  # taken or pending unknown (``_inject``): the entry says which
        if c.vse is None and not c.ctx[IDX_PSTATE] & P_A:
            # unknown whether a virtual SError is pending (VSE_ACROSS_REINIT): try both
            taken = _copy(c)
            taken.vse = True
            self._take_pending(taken, v)
            if _entry_failure(taken, view, v) is None:
                self.cpus[v] = c = taken
            else:
                c.vse = False
        else:
            self._take_pending(c, v)
            if c.vse is None:  # VSE_ACROSS_REINIT, masked: ISR_EL1.A shows it
                c.vse = bool(view[IDX_ISR_A])
        f = _entry_failure(c, view, v)
        if f is None:
            _adopt(c)
            c.why.clear()
        return f

    def _guest_exit(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied:
            return None
        op: O.GuestExit = step.op  # type: ignore[assignment]
        c.exit = (op.kind, op.rt, op.reg, op.value, op.serror_pending, c.ctx[IDX_PSTATE])
        if op.serror_pending or op.kind == "el1_serror":
            # an SError exit: KVM reflects it to the guest as a virtual SError with an IMPLEMENTATION
            # DEFINED syndrome (handle_exit.c: kvm_handle_guest_serror / kvm_inject_serror without RAS
            # classification; README "Guest SError handling (E2)"): ESR ISS = IDS, ISS[23:0] IMPDEF
            self._inject(c, ESR_IDS, impdef=True)
        return None

    def _guest_psci(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied:
            return None
        op: O.GuestPsci = step.op  # type: ignore[assignment]
        for i, val in enumerate(op.registers()):
            self._set(c, i, val & MASK64, V3)
        c.call = op
        kind = "trap_smc" if isinstance(op, O.GuestSmc) else "trap_hvc"
        c.exit = (kind, 0, "", 0, False, c.ctx[IDX_PSTATE])
        return None

    def _guest_access(self, step: Step, c: _Vcpu) -> Failure | None:
        if step.applied and _last(step.sut_obs, K.PSCI_STAGE2, step.op.vcpu) != "hit":
            c.exit = ("trap_dabt_s2", 0, "", 0, False, c.ctx[IDX_PSTATE])
        return None

    def _handle_exit(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied or c.exit is None:
            return None
        kind, rt, reg, value, serror_pending, pstate = c.exit
        c.exit = None
        call, c.call = c.call, None
        if pstate & 0x10:  # an AArch32 PSTATE on an AArch64-only vcpu: KVM_EXIT_FAIL_ENTRY, nothing retired
            c.in_user = True
            return None
        if serror_pending or kind in ("irq", "el1_serror", "trap_dabt_s2"):
            return None  # the instruction is re-executed (or was not trapped)
        if kind == "il":
            c.in_user = True
            return None
        if kind == "trap_mmio_read":
            ee = self._ee(c)
            if ee is None:
                self._unknown(c, (rt,), V3)
            else:
                self._set(c, rt, _bswap64(value) if ee else value, V3)
            self._step_pc(c)
        elif kind in ("trap_mmio_write", "trap_sysreg_dir", "trap_mmio_vgic"):
            self._step_pc(c)
        elif kind == "trap_sysreg_read":
            src = sysreg_index(reg)
            self._set(c, rt, c.ctx[src], V3)
            if src in c.unk:
                c.unk[rt] = c.unk[src]
            self._step_pc(c)
        elif kind == "trap_sysreg_write":
            if reg in IMPDEF_TRAPPED_WRITES:
                self._unknown(c, (sysreg_index(reg),), V3)
            self._step_pc(c)
        elif kind == "trap_mmio_user":
            c.mmio = (rt, value, self._ee(c))
            c.in_user = True
        elif kind in ("trap_hvc", "trap_smc") and call is not None:
            return self._psci_return(step, c, call, kind == "trap_smc", pstate)
        return None

    def _psci_return(self, step: Step, c: _Vcpu, call: O.GuestPsci, smc: bool, pstate: int) -> Failure | None:
        v = step.op.vcpu
        got = _last(step.sut_obs, K.PSCI_CALL, v)
        if got is None:
            if pstate & 0xF in (M_EL1T, M_EL1H):
                # an HVC/SMC from AArch64 EL1 trapped to the hypervisor is an SMCCC call: KVM answers
                # it (SMCCC: every function ID gets a result in x0, NOT_SUPPORTED for an unknown one;
                # api.rst "KVM_CAP_ARM_PSCI*") before the guest resumes, or exits to userspace with it
                return Failure(V3, v, f"vcpu{v}: its {'SMC' if smc else 'HVC'} ({call.fn}) was handled without an "
                               "SMCCC/PSCI call", "no call", call.fn)
            return None  # EL0: HVC/SMC are UNDEFINED there, the model's trap is not judged
        if smc:  # the trapped SMC's preferred return is the SMC: KVM steps it (handle_smc)
            self._step_pc(c)
        fn, ret = got
        if _last(step.sut_obs, K.PSCI_SYSTEM_EVENT, v) is not None:
            c.in_user = True
        if ret is None:  # an exit to userspace that writes no register (SYSTEM_SUSPEND)
            return None
        self._set(c, IDX_X0, ret & MASK64, V3)
        self._unknown(c, (1, 2, 3), V3)  # result registers a one-result PSCI function leaves undefined
        if call.fn in ("CPU_ON", "CPU_ON_32") and ret == 0:
            narrow = MASK32 if call.fn.endswith("_32") else MASK64
            target, entry, context = (r & narrow for r in call.registers()[1:])
            hits = [i for i, t in enumerate(self.cpus) if t.ctx[IDX_MPIDR] & MPIDR_AFFINITY == target]
            if len(hits) != 1:
                self.unjudged = len(hits) > 1  # U2; none: ArchPsci's P3 judges that return
                return None
            self.cpus[hits[0]].reset = (entry, context, self._ee(c))
        return None

    def _exit_to_user(self, step: Step, c: _Vcpu) -> Failure | None:
        if step.applied:
            c.in_user = True
        return None

    def _guest_write_reg(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied:
            return None
        op: O.GuestWriteReg = step.op  # type: ignore[assignment]
        idx = REG_INDEX[op.reg]
        self._set(c, idx, op.value & MASK64, V3)
        if idx == IDX_PSTATE:
            if c.vse is None:
                c.vse = False  # not reachable: an entry since the INIT adopted it
            self._take_pending(c, op.vcpu)
        return None

    def _user_get_reg(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied:
            return None
        op: O.UserGetReg = step.op  # type: ignore[assignment]
        c.in_user = True
        self._service_reset(c)
        got = _last(step.sut_obs, K.ONE_REG, op.vcpu)
        idx = REG_INDEX[op.reg]
        want, mask = c.ctx[idx], c.unk.get(idx, 0)
        if got is None or (got ^ want) & ~mask & MASK64:
            why = c.why.get(idx)
            return Failure(V1, op.vcpu, f"vcpu{op.vcpu}: KVM_GET_ONE_REG {op.reg} = {_h(got)}, architecturally "
                           f"{_h(want)}{' (bits ' + hex(mask) + ' UNKNOWN)' if mask else ''}"
                           f"{' [' + why + ']' if why else ''}", _h(got), _h(want))
        if mask:
            c.ctx[idx] = got
            del c.unk[idx]
        return None

    def _user_set_reg(self, step: Step, c: _Vcpu) -> Failure | None:
        op: O.UserSetReg = step.op  # type: ignore[assignment]
        if step.applied:
            c.in_user = True
        elif not c.in_user:
            return None
        elif op.reg != "pstate" or (op.value & 0x1F) in (M_EL0T, M_EL1T, M_EL1H):
            # V1: outside KVM_RUN, KVM_SET_ONE_REG of a register the vcpu has, with a value the
            # architecture allows there, is accepted (api.rst KVM_SET_ONE_REG: -EINVAL only for an
            # unknown register or an invalid value; for PSTATE the modes an AArch64-only EL1 guest
            # can be in, Arm ARM D1 "Process state, PSTATE": EL0t, EL1t, EL1h)
            return Failure(V1, op.vcpu, f"vcpu{op.vcpu}: KVM_SET_ONE_REG {op.reg} = {_h(op.value)} refused outside "
                           "KVM_RUN", "refused", "accepted")
        # kvm_arch_vcpu_ioctl services a pending reset before any ONE_REG access, also one whose value
        # set_core_reg then refuses (an invalid PSTATE mode: the op does not apply)
        self._service_reset(c)
        if step.applied:
            self._set(c, REG_INDEX[op.reg], op.value & MASK64, V1)
        return None

    def _host_inject_serror(self, step: Step, c: _Vcpu) -> Failure | None:
        if step.applied:
            op: O.HostInjectSError = step.op  # type: ignore[assignment]
            self._inject(c, op.esr & ISS_MASK, impdef=False, from_user=True)
        return None

    def _user_get_vcpu_events(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied:
            return None
        v = step.op.vcpu
        got = _last(step.sut_obs, K.VCPU_EVENTS, v)
        if c.vse is None and got is not None:  # VSE_ACROSS_REINIT: adopt
            c.vse = bool(got[0])
        want = (True, c.vsesr) if c.vse else (False, 0)
        if got != want:
            return Failure(V2, v, f"vcpu{v}: KVM_GET_VCPU_EVENTS says serror_pending, serror_esr = {got}; "
                           f"{'a virtual SError is pending' if c.vse else 'no virtual SError is pending'}",
                           got, want)
        return None

    def _user_set_guest_debug(self, step: Step, c: _Vcpu) -> Failure | None:
        if step.applied:
            c.single_step = step.op.single_step  # type: ignore[attr-defined]
        return None

    def _user_vcpu_init(self, step: Step, c: _Vcpu) -> Failure | None:
        if not step.applied:
            return None
        c.stale_reset = c.stale_reset or c.reset is not None
        c.reset = None
        _reset(c, None)
        c.in_user = True
        if not c.has_run:
            c.vse = False  # api.rst: INIT resets the vcpu to its initial state
        elif c.vse:
            c.vse = None  # VSE_ACROSS_REINIT
        return None

    def _host_pmu_overflow(self, step: Step, c: _Vcpu) -> Failure | None:
        if step.applied:  # Arm ARM PMOVSSET_EL0: the overflow sets the counter's bit
            bit = 1 << step.op.counter  # type: ignore[attr-defined]
            c.ctx[IDX_PMOVSSET] |= bit
            if IDX_PMOVSSET in c.unk:
                c.unk[IDX_PMOVSSET] &= ~bit
            c.why[IDX_PMOVSSET] = V3
        return None

    # --- the rules ------------------------------------------------------------------------------------
    @staticmethod
    def _set(c: _Vcpu, idx: int, value: int, why: str) -> None:
        c.ctx[idx] = value
        c.unk.pop(idx, None)
        c.why[idx] = why

    @staticmethod
    def _unknown(c: _Vcpu, idxs: tuple[int, ...], why: str) -> None:
        for i in idxs:
            c.unk[i] = ALL
            c.why[i] = why

    @staticmethod
    def _step_pc(c: _Vcpu) -> None:
        """The emulated instruction is retired: PC + 4 (an UNKNOWN PC stays UNKNOWN)."""
        ctx = c.ctx
        ctx[IDX_PC] = (ctx[IDX_PC] + 4) & MASK64
        if IDX_PC not in c.why:
            c.why[IDX_PC] = V3

    @staticmethod
    def _ee(c: _Vcpu) -> int | None:
        """SCTLR_EL1.EE (the data endianness at EL1), None if UNKNOWN."""
        if c.unk.get(IDX_SCTLR, 0) & SCTLR_EE:
            return None
        return 1 if c.ctx[IDX_SCTLR] & SCTLR_EE else 0

    def _service_reset(self, c: _Vcpu) -> None:
        """A pending reset is serviced at the vcpu's next run or ONE_REG access (api.rst KVM_ARM_VCPU_INIT,
        DEN0022 CPU_ON: the target starts at its entry point when it next runs)."""
        if c.reset is not None:
            cpu_on, c.reset, c.stale_reset = c.reset, None, False
            _reset(c, cpu_on)
        elif c.stale_reset:
            c.stale_reset = False
            _reset(c, None)

    def _inject(self, c: _Vcpu, iss: int, impdef: bool, from_user: bool = False) -> None:
        """A virtual SError for the guest: taken now if PSTATE.A is clear (KVM emulates the entry),
        else pending until the guest unmasks (HCR_EL2.VSE, VSESR_EL2 = ISS).  With PSTATE.A unknown
        (an exception taken from a mode this oracle does not judge: UNJUDGED_SOURCE_MODES) whether it
        is taken now or left pending is unknown too: the exception-entry registers become unknown,
        and the next entry's ISR_EL1.A says whether it is pending."""
        if c.unk.get(IDX_PSTATE, 0) & P_A:
            for i in (IDX_PC, IDX_PSTATE, IDX_ELR, IDX_SPSR_EL1, IDX_ESR):
                c.unk[i], c.why[i] = ALL, V5
            c.vse, c.vsesr = None, iss
            return
        if c.ctx[IDX_PSTATE] & P_A:
            c.vse, c.vsesr = True, iss
            return
        _take(c, EC_SERROR | iss, KVM_EMULATED_SERROR_IL | (ISS_MASK & ~ESR_IDS if impdef else 0))
        if from_user:
            c.mmio = None  # commit_pending_events: the exception entry cancels an MMIO completion

    def _take_pending(self, c: _Vcpu, v: int) -> None:
        if c.vse and not c.ctx[IDX_PSTATE] & P_A and not c.unk.get(IDX_PSTATE, 0) & P_A:
            _take(c, EC_SERROR | ESR_IL | c.vsesr, 0)
            c.vse = False



def _take(c: _Vcpu, esr: int, esr_unknown: int) -> None:
    """AArch64.TakeException to EL1h for an SError (see V5)."""
    ctx, unk, why = c.ctx, c.unk, c.why
    old = ctx[IDX_PSTATE]
    base = VECTOR_BASE.get(old & M_MASK)
    for i in (IDX_PC, IDX_PSTATE, IDX_ELR, IDX_SPSR_EL1, IDX_ESR):
        why[i] = V5
    if base is None or IDX_PSTATE in unk:  # UNJUDGED_SOURCE_MODES
        for i in (IDX_PC, IDX_PSTATE, IDX_ELR, IDX_SPSR_EL1, IDX_ESR):
            unk[i] = ALL
        return
    sctlr, sctlr_unk = ctx[IDX_SCTLR], unk.get(IDX_SCTLR, 0)
    new = (old & (P_NZCV | P_DIT | P_PAN)) | DAIF | M_EL1H
    new_unk = 0
    if sctlr_unk & SCTLR_SPAN:
        new_unk |= P_PAN
    elif not sctlr & SCTLR_SPAN:
        new |= P_PAN
    if sctlr_unk & SCTLR_DSSBS:
        new_unk |= P_SSBS
    elif sctlr & SCTLR_DSSBS:
        new |= P_SSBS
    _put(c, IDX_ELR, ctx[IDX_PC], unk.get(IDX_PC, 0))
    _put(c, IDX_SPSR_EL1, old, 0)
    _put(c, IDX_PSTATE, new, new_unk)
    _put(c, IDX_PC, (ctx[IDX_VBAR] + base + SERROR_OFFSET) & MASK64, ALL if IDX_VBAR in unk else 0)
    _put(c, IDX_ESR, esr, esr_unknown)


def _put(c: _Vcpu, idx: int, value: int, unknown: int) -> None:
    c.ctx[idx] = value
    if unknown:
        c.unk[idx] = unknown
    else:
        c.unk.pop(idx, None)


def _entry_failure(c: _Vcpu, view: tuple[int, ...], v: int) -> Failure | None:
    """Compare the context the guest resumes with (``guest-entry``: the context, ISR_EL1.A, the CPU's
    MDSCR_EL1) with ``c``: one tuple comparison on the hot path."""
    ctx, unk = c.ctx, c.unk
    if unk:
        for i, m in unk.items():
            ctx[i] = view[i] if m == ALL else (ctx[i] & ~m) | (view[i] & m)
    ctx[IDX_ISR_A] = 1 if c.vse else 0
    cpu_mdscr = view[IDX_CPU_MDSCR]
    if c.single_step:
        if not cpu_mdscr & MDSCR_SS:
            return Failure(V7, v, f"vcpu{v} is single-stepped by userspace but runs with MDSCR_EL1 = "
                           f"{cpu_mdscr:#x} (SS clear)", _h(cpu_mdscr), "SS set")
        ctx[IDX_CPU_MDSCR] = cpu_mdscr  # the other bits are the host's (KVM adds KDE)
    else:
        ctx[IDX_CPU_MDSCR] = ctx[IDX_MDSCR]
    if tuple(ctx) == view:
        return None
    i = next(i for i in range(VIEW_LEN) if view[i] != ctx[i])
    if i == IDX_ISR_A:
        return Failure(V6, v, f"vcpu{v} resumes with ISR_EL1.A = {view[i]}, but "
                       f"{'a virtual SError is pending' if c.vse else 'no virtual SError is pending'}",
                       view[i], ctx[i])
    if i == IDX_CPU_MDSCR:
        return Failure(V7, v, f"vcpu{v} runs with MDSCR_EL1 = {view[i]:#x} in the CPU, its own is {ctx[i]:#x}",
                       _h(view[i]), _h(ctx[i]))
    name = INDEX_NAME.get(i, f"sys_regs[{i - IDX_SYSREGS}]")
    why = c.why.get(i, V4 if i == IDX_MPIDR else V3)
    return Failure(why, v, f"vcpu{v} resumes with {name} = {view[i]:#x}, architecturally {ctx[i]:#x}",
                   _h(view[i]), _h(ctx[i]))


def _adopt(c: _Vcpu) -> None:
    """After a clean entry every UNKNOWN position has adopted its observed value."""
    if c.unk:
        c.unk = {}


def _copy(c: _Vcpu) -> _Vcpu:
    return attrs.evolve(c, ctx=list(c.ctx), unk=dict(c.unk), why=dict(c.why))


def _last(obs: list[Any], kind: str, vcpu: int) -> Any:
    for o in reversed(obs):
        if o[0] == kind and o[1] == vcpu:
            return o[3]
    return None


def _bswap64(x: int) -> int:
    return int.from_bytes((x & MASK64).to_bytes(8, "little"), "big")


def _h(x: Any) -> Any:
    return hex(x) if isinstance(x, int) else x


_HANDLERS = {
    O.GuestDir: ArchVcpu._guest_dir, O.GuestGicWrite: ArchVcpu._guest_gic_write,
    O.KvmRun: ArchVcpu._kvm_run, O.GuestEnter: ArchVcpu._guest_enter, O.GuestExit: ArchVcpu._guest_exit,
    O.HandleExit: ArchVcpu._handle_exit, O.ExitToUser: ArchVcpu._exit_to_user,
    O.GuestWriteReg: ArchVcpu._guest_write_reg, O.UserGetReg: ArchVcpu._user_get_reg,
    O.UserSetReg: ArchVcpu._user_set_reg, O.HostInjectSError: ArchVcpu._host_inject_serror,
    O.UserGetVcpuEvents: ArchVcpu._user_get_vcpu_events, O.UserSetGuestDebug: ArchVcpu._user_set_guest_debug,
    O.HostPmuOverflow: ArchVcpu._host_pmu_overflow, O.GuestPsci: ArchVcpu._guest_psci,
    O.GuestSmc: ArchVcpu._guest_psci, O.GuestAccess: ArchVcpu._guest_access,
    O.UserVcpuInit: ArchVcpu._user_vcpu_init,
}
