"""Register names and the vcpu register context layout (no values: the kernel's reset values
live in ``model/regs.py``), laid out like the kernel's ``struct kvm_cpu_context``.

A context is a flat list of ints (fast to copy and compare).  The layout mirrors
``struct kvm_cpu_context``: ``regs`` (x0..x30, sp, pc, pstate), ``spsr_abt/und/irq/fiq``,
``fp_regs`` (v0..v31, fpsr, fpcr) and ``sys_regs[NR_SYS_REGS]`` indexed by ``enum vcpu_sysreg``.

``enum vcpu_sysreg`` is sparse (arch/arm64/include/asm/kvm_host.h): the registers that have a
VNCR page slot take the value ``__VNCR_START__ + offset / 8`` (offsets from
arch/arm64/include/asm/vncr_mapping.h).  So the five timer registers are *not* a contiguous
numeric range: ``CNTVOFF_EL2`` (0x060) and ``CNTP_CTL_EL0`` (0x180) enclose SCTLR_EL1,
ESR_EL1, SPSR_EL1, MDSCR_EL1, ... .  Skipping ``CNTVOFF_EL2 <= i <= CNTP_CTL_EL0`` is the bug
the seed patch's comment warns about; the model keeps that sparseness so the mutant is real.
"""

from __future__ import annotations

# --- enum vcpu_sysreg --------------------------------------------------------------------------
# Registers without a VNCR slot, in kernel order (a representative subset of the real enum).
_PLAIN_SYSREGS = (
    "__INVALID_SYSREG__", "MPIDR_EL1", "CLIDR_EL1", "CSSELR_EL1", "TPIDR_EL0", "TPIDRRO_EL0",
    "TPIDR_EL1", "CNTKCTL_EL1", "PAR_EL1", "MDCCINT_EL1", "OSLSR_EL1", "OSDLR_EL1",
    "PMCR_EL0", "PMSELR_EL0", "PMCCNTR_EL0", "PMCCFILTR_EL0", "PMCNTENSET_EL0",
    "PMINTENSET_EL1", "PMOVSSET_EL0", "PMUSERENR_EL0", "APIAKEYLO_EL1", "APIAKEYHI_EL1",
    "DACR32_EL2", "IFSR32_EL2", "DBGVCR32_EL2",
)
# Registers with a VNCR slot: byte offset in the VNCR page (vncr_mapping.h).
_VNCR_SYSREGS = {
    "VTTBR_EL2": 0x020, "VTCR_EL2": 0x040, "VMPIDR_EL2": 0x050, "CNTVOFF_EL2": 0x060,
    "HCR_EL2": 0x078, "HSTR_EL2": 0x080, "VPIDR_EL2": 0x088, "TPIDR_EL2": 0x090,
    "HCRX_EL2": 0x0A0, "CPACR_EL1": 0x100, "CONTEXTIDR_EL1": 0x108, "SCTLR_EL1": 0x110,
    "ACTLR_EL1": 0x118, "TCR_EL1": 0x120, "AFSR0_EL1": 0x128, "AFSR1_EL1": 0x130,
    "ESR_EL1": 0x138, "MAIR_EL1": 0x140, "AMAIR_EL1": 0x148, "MDSCR_EL1": 0x158,
    "SPSR_EL1": 0x160, "CNTV_CVAL_EL0": 0x168, "CNTV_CTL_EL0": 0x170,
    "CNTP_CVAL_EL0": 0x178, "CNTP_CTL_EL0": 0x180, "SCXTNUM_EL1": 0x188, "TFSR_EL1": 0x190,
    "ZCR_EL1": 0x1E0, "TTBR0_EL1": 0x200, "TTBR1_EL1": 0x210, "FAR_EL1": 0x220,
    "ELR_EL1": 0x230, "SP_EL1": 0x240, "VBAR_EL1": 0x250, "TCR2_EL1": 0x270,
    "PIRE0_EL1": 0x290, "PIR_EL1": 0x2A0, "POR_EL1": 0x2A8,
}
VNCR_START = len(_PLAIN_SYSREGS) + 4  # __SANITISED_REG_START__ and a few EL2-only regs sit between
SYSREG: dict[str, int] = {name: i for i, name in enumerate(_PLAIN_SYSREGS)}
SYSREG.update({name: VNCR_START + off // 8 for name, off in _VNCR_SYSREGS.items()})
NR_SYS_REGS = VNCR_START + 0x980 // 8

#: The timer registers that ``__copy_vcpu_state`` skips *by name*: EL1 saves and restores them
#: itself at vcpu load/put (kvm_timer_vcpu_load/put), so the lazy copy must not touch them.
TIMER_SYSREGS = ("CNTVOFF_EL2", "CNTV_CVAL_EL0", "CNTV_CTL_EL0", "CNTP_CVAL_EL0", "CNTP_CTL_EL0")
#: The ones the guest writes in hardware (CNTVOFF_EL2 is the host's).
GUEST_TIMER_SYSREGS = TIMER_SYSREGS[1:]

# --- flat context layout -----------------------------------------------------------------------
NR_GPRS = 31
IDX_SP, IDX_PC, IDX_PSTATE = 31, 32, 33
SPSR_NAMES = ("spsr_abt", "spsr_und", "spsr_irq", "spsr_fiq")
IDX_SPSR0 = 34
IDX_V0 = 38
NR_VREGS = 32
IDX_FPSR = IDX_V0 + NR_VREGS
IDX_FPCR = IDX_FPSR + 1
IDX_SYSREGS = IDX_FPCR + 1
CTXT_LEN = IDX_SYSREGS + NR_SYS_REGS

REG_INDEX: dict[str, int] = {f"x{i}": i for i in range(NR_GPRS)}
REG_INDEX.update(sp=IDX_SP, pc=IDX_PC, pstate=IDX_PSTATE)
REG_INDEX.update({n: IDX_SPSR0 + i for i, n in enumerate(SPSR_NAMES)})
REG_INDEX.update({f"v{i}": IDX_V0 + i for i in range(NR_VREGS)})
REG_INDEX.update(fpsr=IDX_FPSR, fpcr=IDX_FPCR)
REG_INDEX.update({name: IDX_SYSREGS + v for name, v in SYSREG.items() if v})
INDEX_NAME: dict[int, str] = {i: n for n, i in REG_INDEX.items()}


def sysreg_index(name: str) -> int:
    """Context index of ``sys_regs[name]``."""
    return IDX_SYSREGS + SYSREG[name]


TIMER_INDICES = tuple(sysreg_index(n) for n in TIMER_SYSREGS)
GUEST_TIMER_INDICES = tuple(sysreg_index(n) for n in GUEST_TIMER_SYSREGS)
#: What a numeric-range skip (HYP-2022 / HYP-ANDROID) would skip: every sysreg whose enum value
#: lies between CNTVOFF_EL2 and CNTP_CTL_EL0.
TIMER_RANGE_INDICES = tuple(
    range(sysreg_index("CNTVOFF_EL2"), sysreg_index("CNTP_CTL_EL0") + 1)
)

# --- PSTATE bits (arch/arm64/include/uapi/asm/ptrace.h) ----------------------------------------
PSR_MODE_EL0t = 0x0
PSR_MODE_EL1t = 0x4
PSR_MODE_EL1h = 0x5
PSR_MODE_MASK = 0xF
PSR_MODE32_BIT = 0x10
PSR_F_BIT = 0x40
PSR_I_BIT = 0x80
PSR_A_BIT = 0x100
PSR_D_BIT = 0x200
PSTATE_FAULT_BITS_64 = PSR_MODE_EL1h | PSR_A_BIT | PSR_F_BIT | PSR_I_BIT | PSR_D_BIT


# --- ESR (arch/arm64/include/asm/esr.h) --------------------------------------------------------
ESR_ELx_EC_SHIFT = 26
ESR_ELx_EC_SERROR = 0x2F
ESR_ELx_ISV = 1 << 24
ESR_ELx_ISS_MASK = (1 << 25) - 1

# --- HCR_EL2 bits (arch/arm64/include/asm/kvm_arm.h) -------------------------------------------
HCR_VSE = 1 << 8
HCR_TWI = 1 << 13
HCR_TWE = 1 << 14

# --- SCTLR_EL1 -----------------------------------------------------------------------------------
SCTLR_ELx_EE = 1 << 25

MASK64 = (1 << 64) - 1
