"""The kernel's values for the vcpu register context: reset state (``kvm_reset_vcpu``) and the
exception-entry arithmetic of ``inject_fault.c``.  The names and the layout of the context
(``struct kvm_cpu_context``, ``enum vcpu_sysreg``) are vocabulary, in ``model/vocab/regs.py``,
re-exported here for the model code.
"""

from __future__ import annotations

from hvfuzz.model.vocab.regs import (  # noqa: F401  (re-exported: model code reads the layout here)
    CTXT_LEN,
    GUEST_TIMER_INDICES,
    GUEST_TIMER_SYSREGS,
    HCR_TWE,
    HCR_TWI,
    HCR_VSE,
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
    PSR_A_BIT,
    PSR_D_BIT,
    PSR_F_BIT,
    PSR_I_BIT,
    PSR_MODE32_BIT,
    PSR_MODE_MASK,
    PSTATE_FAULT_BITS_64,
    REG_INDEX,
    SPSR_NAMES,
    SYSREG,
    TIMER_INDICES,
    TIMER_RANGE_INDICES,
    TIMER_SYSREGS,
    VNCR_START,
    ESR_ELx_EC_SERROR,
    ESR_ELx_EC_SHIFT,
    ESR_ELx_ISS_MASK,
    ESR_ELx_ISV,
    PSR_MODE_EL0t,
    PSR_MODE_EL1h,
    PSR_MODE_EL1t,
    SCTLR_ELx_EE,
    sysreg_index,
)

#: PSTATE after KVM_ARM_VCPU_INIT (reset.c: VCPU_RESET_PSTATE_EL1).
VCPU_RESET_PSTATE_EL1 = PSTATE_FAULT_BITS_64

# --- SCTLR_EL1 -----------------------------------------------------------------------------------
SCTLR_EL1_RES1 = 0x30D00980  # the RES1 bits reset_sctlr() sets

# --- exception vectors (inject_fault.c / adjust_pc.c) --------------------------------------------
CURRENT_EL_SP_EL0_VECTOR = 0x0
CURRENT_EL_SP_ELx_VECTOR = 0x200
LOWER_EL_AArch64_VECTOR = 0x400
LOWER_EL_AArch32_VECTOR = 0x600
EXCEPT_TYPE_SERROR = 0x180


def reset_context(mpidr: int) -> list[int]:
    """A context after ``kvm_reset_vcpu`` (reset.c): zero GPRs/FP/SPSRs, PSTATE = EL1h|DAIF,
    ``kvm_reset_sys_regs`` values (MPIDR_EL1 from the vcpu id, SCTLR_EL1 RES1 bits)."""
    c = [0] * CTXT_LEN
    c[IDX_PSTATE] = VCPU_RESET_PSTATE_EL1
    c[sysreg_index("MPIDR_EL1")] = mpidr
    c[sysreg_index("SCTLR_EL1")] = SCTLR_EL1_RES1
    return c


#: PSTATE bits an exception entry to AArch64 keeps (arch/arm64/include/uapi/asm/ptrace.h)
PSR_NZCV_BITS = 0xF0000000
PSR_DIT_BIT = 1 << 24
PSR_PAN_BIT = 1 << 22
PSR_SSBS_BIT = 1 << 12
#: SCTLR_EL1.SPAN (bit 23, RES1 without FEAT_PAN) and SCTLR_ELx.DSSBS (bit 44)
SCTLR_EL1_SPAN = 1 << 23
SCTLR_ELx_DSSBS = 1 << 44
#: ESR_ELx.IL (bit 25)
ESR_ELx_IL = 1 << 25


def except_vector(ctxt: list[int], exc_type: int) -> int:
    """The vector ``enter_exception64`` (arch/arm64/kvm/hyp/exception.c) branches to for an
    exception to EL1h: VBAR_EL1 + the offset for the current mode (EL1h: current EL with SP_ELx;
    EL1t: current EL with SP_EL0; any other AArch64 mode: lower EL using AArch64; AArch32: lower
    EL using AArch32) + the exception type."""
    mode = ctxt[IDX_PSTATE] & (PSR_MODE_MASK | PSR_MODE32_BIT)
    if mode == PSR_MODE_EL1h:
        off = CURRENT_EL_SP_ELx_VECTOR
    elif mode == PSR_MODE_EL1t:
        off = CURRENT_EL_SP_EL0_VECTOR
    elif not mode & PSR_MODE32_BIT:
        off = LOWER_EL_AArch64_VECTOR
    else:
        off = LOWER_EL_AArch32_VECTOR
    return (ctxt[sysreg_index("VBAR_EL1")] + off + exc_type) & MASK64


def exception_pstate(ctxt: list[int]) -> int:
    """PSTATE after an exception entry to EL1h, as ``enter_exception64`` computes it (and the Arm
    ARM's AArch64.TakeException does it): N, Z, C, V, DIT and PAN are kept; PAN is set if
    SCTLR_EL1.SPAN is 0; SSBS = SCTLR_EL1.DSSBS; UAO, SS, IL, BTYPE cleared (TCO: no MTE in the
    model's VMs); D, A, I, F set; M = EL1h."""
    old = ctxt[IDX_PSTATE]
    sctlr = ctxt[sysreg_index("SCTLR_EL1")]
    new = old & (PSR_NZCV_BITS | PSR_DIT_BIT | PSR_PAN_BIT)
    if not sctlr & SCTLR_EL1_SPAN:
        new |= PSR_PAN_BIT
    if sctlr & SCTLR_ELx_DSSBS:
        new |= PSR_SSBS_BIT
    return new | PSTATE_FAULT_BITS_64


def enter_serror_exception(ctxt: list[int], esr: int | None) -> None:
    """Exception entry to EL1 for an SError (``enter_exception64`` / what the CPU does when it
    takes a virtual SError, Arm ARM AArch64.TakeException): ELR_EL1 <- PC, SPSR_EL1 <- PSTATE,
    PSTATE <- ``exception_pstate``, PC <- vector.  ``esr`` is written to ESR_EL1 when given
    (hardware takes it from VSESR_EL2; the emulated path has written it beforehand)."""
    vector = except_vector(ctxt, EXCEPT_TYPE_SERROR)
    pstate = exception_pstate(ctxt)
    ctxt[sysreg_index("ELR_EL1")] = ctxt[IDX_PC]
    ctxt[sysreg_index("SPSR_EL1")] = ctxt[IDX_PSTATE]
    ctxt[IDX_PSTATE] = pstate
    ctxt[IDX_PC] = vector
    if esr is not None:
        ctxt[sysreg_index("ESR_EL1")] = esr
