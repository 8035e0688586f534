"""The operation vocabulary: one frozen attrs value per hypervisor event, and the registry that
says everything else about each op kind.

Every op is executable in every state: one that does not apply (a guest register write while the
vcpu is in the host, a KVM_RUN on a vcpu that is already running) is recorded as a no-op.  Ops
are plain values; ``fuzz.trace`` turns them into JSON and back, ``model.system`` executes them.  This module
imports nothing of hvfuzz but ``model.vocab``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import ClassVar, TypeVar

import attrs

from hvfuzz.model.vocab.fields import (
    POOL_INTS,
    POOL_NONE,
    U64,
    Choice,
    Flag,
    Index,
    IntRange,
    VmShape,
    field,
)
from hvfuzz.model.vocab.regs import GUEST_TIMER_SYSREGS, REG_INDEX

#: Registers a guest can write while it runs (GPRs, SP, PC, PSTATE, SPSRs, FP, EL1 sysregs and
#: the timer registers it writes in hardware), as first published: the byte format reads a choice
#: modulo the number of values, so ``GUEST_REGS`` and ``ONE_REGS`` only grow at their ends.
_GUEST_REGS_V1: tuple[str, ...] = (
    "x0", "x1", "x2", "x30", "sp", "pc", "pstate", "spsr_abt", "spsr_irq", "v0", "v1", "fpsr",
    "SCTLR_EL1", "ESR_EL1", "SPSR_EL1", "ELR_EL1", "VBAR_EL1", "FAR_EL1", "TPIDR_EL1",
    "CONTEXTIDR_EL1", "MDSCR_EL1", "TCR_EL1", "PAR_EL1", "PMOVSSET_EL0",
) + GUEST_TIMER_SYSREGS
#: Guest-writable registers added since (issue 13): FPCR, more V registers, the guest's own stack
#: pointer (SP_EL1 at EL1h) and VNCR-mapped EL1 registers every arm64 guest has (no feature
#: needed: TTBRx, MAIR, AMAIR, AFSRx, CPACR).  The copy treats each class on its own (``fp_regs``,
#: the sparse VNCR part of ``sys_regs``), so each must be writable to make a copy mistake visible.
_GUEST_REGS_V2: tuple[str, ...] = (
    "fpcr", "v2", "v31", "SP_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1", "AMAIR_EL1", "AFSR0_EL1",
    "AFSR1_EL1", "CPACR_EL1",
)
GUEST_REGS: tuple[str, ...] = _GUEST_REGS_V1 + _GUEST_REGS_V2
#: Registers userspace reaches with KVM_GET/SET_ONE_REG (everything the guest has, plus CNTVOFF).
#: Sysregs the host emulates on a trap (ACTLR_EL1 via HCR_EL2.TACR, PMU registers via MDCR_EL2).
TRAPPED_SYSREGS: tuple[str, ...] = ("ACTLR_EL1", "PMCR_EL0", "PMSELR_EL0")
#: ONE_REG-only registers added since (issue 13): the two SPSRs a guest without AArch32 never
#: writes (KVM_REG_ARM_CORE ``spsr[KVM_SPSR_UND/FIQ]``; at EL1 the AArch64 SPSR_{und,fiq} are not
#: accessible) and MPIDR_EL1, which userspace may set: ``sys_reg_descs`` has no ``set_user`` for it,
#: so KVM_SET_ONE_REG stores any value, and ``reset_mpidr`` runs only at the first
#: KVM_ARM_VCPU_INIT (``reset_vcpu_ftr_id_reg``), so the value survives every later reset.
_ONE_REGS_V2: tuple[str, ...] = ("spsr_und", "spsr_fiq", "MPIDR_EL1")
ONE_REGS: tuple[str, ...] = (_GUEST_REGS_V1 + TRAPPED_SYSREGS + ("CNTVOFF_EL2",) + _GUEST_REGS_V2
                             + _ONE_REGS_V2)

#: Exit kinds.  ``irq``, ``el1_serror``, ``il`` are ARM_EXCEPTION_* codes; the ``trap_*`` kinds
#: are ARM_EXCEPTION_TRAP with the handler the host runs for it.
EXIT_KINDS: tuple[str, ...] = (
    "irq", "el1_serror", "il",
    "trap_mmio_read", "trap_mmio_write", "trap_sysreg_read", "trap_sysreg_write",
    "trap_mmio_user",
)
#: exits only special ops cause: an HVC (``GuestPsci``), a stage-2 abort (``GuestAccess``), an SMC
#: (``GuestSmc``), a DIR that EL2 sends to the host (``GuestDir``: ``access_gic_dir``)
SPECIAL_EXIT_KINDS: tuple[str, ...] = ("trap_hvc", "trap_dabt_s2", "trap_smc", "trap_sysreg_dir",
                                       # a guest write to the vgic's distributor/redistributor frames
                                       # (``GuestGicWrite``: io_mem_abort -> the in-kernel vgic MMIO device)
                                       "trap_mmio_vgic")
#: INTIDs the fuzzer uses: SGIs, PPIs (23: a PMU-like line, 27: the vtimer), SPIs
SGIS: tuple[int, ...] = (0, 1, 2, 3)
PPIS: tuple[int, ...] = (23, 27)
SPIS: tuple[int, ...] = (32, 33, 34, 35)
#: LPIs an MSI names (INTIDs from 8192: IHI 0069 §1.2.1); no ITS tables, the MSI names the LPI
LPIS: tuple[int, ...] = (8192, 8193, 8194, 8195)
#: the virtual timer's PPI, HW-mapped by KVM (``TimerFire``)
VTIMER_PPI = 27
#: guest-physical pages the guest touches (stage-2 mappings are per page)
PAGES: tuple[int, ...] = (0, 1, 2, 3)
MP_STATES: tuple[str, ...] = ("RUNNABLE", "STOPPED")


@attrs.frozen
class PsciFunction:
    """A PSCI function as the guest calls it (DEN0022): its function ID (SMC64 where there are two),
    the C macro of include/uapi/linux/psci.h, and which of x1..x3 carry arguments."""

    name: str
    function_id: int
    c_macro: str
    #: for x1..x3: the ``GuestPsci`` field each carries (None: 0)
    args: tuple[str | None, str | None, str | None] = (None, None, None)


#: PSCI functions a guest calls with HVC (PSCI 1.3); append only (the byte format reads a choice
#: modulo their number).  Function IDs from DEN0022 (include/uapi/linux/psci.h).  The ``_32``
#: entries are the SMC32 forms, whose arguments the callee reads as 32 bits (SMCCC); ``UNKNOWN``
#: is PSCI_0_2_FN(0x1f), inside the range DEN0022 reserves for PSCI but defined by no version.
PSCI_FUNCTIONS: tuple[PsciFunction, ...] = (
    PsciFunction("CPU_ON", 0xC4000003, "PSCI_0_2_FN64_CPU_ON", ("target", "entry", "context")),
    PsciFunction("CPU_OFF", 0x84000002, "PSCI_0_2_FN_CPU_OFF"),
    PsciFunction("AFFINITY_INFO", 0xC4000004, "PSCI_0_2_FN64_AFFINITY_INFO", ("target", None, None)),
    PsciFunction("SYSTEM_OFF", 0x84000008, "PSCI_0_2_FN_SYSTEM_OFF"),
    PsciFunction("SYSTEM_RESET", 0x84000009, "PSCI_0_2_FN_SYSTEM_RESET"),
    PsciFunction("SYSTEM_RESET2", 0xC4000012, "PSCI_1_1_FN64_SYSTEM_RESET2", ("target", "context", None)),
    PsciFunction("PSCI_VERSION", 0x84000000, "PSCI_0_2_FN_PSCI_VERSION"),
    # x1 = the function ID queried: ``entry`` carries it (its values include 0xC4000003, 0x84000002)
    PsciFunction("PSCI_FEATURES", 0x8400000A, "PSCI_1_0_FN_PSCI_FEATURES", ("entry", None, None)),
    PsciFunction("SYSTEM_SUSPEND", 0xC400000E, "PSCI_1_0_FN64_SYSTEM_SUSPEND", ("entry", "context", None)),
    # x1 = hibernate type (``target``: 0 and 1 are HIBERNATE_OFF), x2 = cookie (``context``, must be 0)
    PsciFunction("SYSTEM_OFF2", 0xC4000015, "PSCI_1_3_FN64_SYSTEM_OFF2", ("target", "context", None)),
    PsciFunction("CPU_ON_32", 0x84000003, "PSCI_0_2_FN_CPU_ON", ("target", "entry", "context")),
    PsciFunction("SYSTEM_RESET2_32", 0x84000012, "PSCI_1_1_FN_SYSTEM_RESET2", ("target", "context", None)),
    PsciFunction("UNKNOWN", 0x8400001F, "PSCI_0_2_FN(0x1f)"),
)
PSCI_BY_NAME: dict[str, PsciFunction] = {f.name: f for f in PSCI_FUNCTIONS}
PSCI_FNS: tuple[str, ...] = tuple(f.name for f in PSCI_FUNCTIONS)


# --- field domains (fields.py has the kinds; simplest value first) ------------------------------
VCPU = Index("vcpus")
PCPU = Index("pcpus", shrink_to=(0,))
FLAG = Flag()
GROUP = IntRange(2)
PRIORITY = IntRange(256, neighbours=(0x00, 0x10, 0x20, 0x40, 0x48, 0x80, 0xA0, 0xA8, 0xF0))
_INTID_NEIGHBOURS = SGIS[:2] + PPIS[-2:] + SPIS[:4] + (1023,)
#: an interrupt a device or the distributor names (SGI, PPI or SPI)
INTID = IntRange(64, neighbours=_INTID_NEIGHBOURS)
#: an INTID the guest writes to EOIR/DIR (any 10-bit value, 1020-1023 special, and the LPIs of
#: ``LPIS``: a raw value below 1024 decodes as before)
INTID_EOI = IntRange(LPIS[-1] + 1, width=2, neighbours=_INTID_NEIGHBOURS + LPIS[:2])
REG_VALUE = U64(neighbours=(0, 1, 2, 0x1000, 0x5, 0x3C5, 0xFFFF_FFFF_FFFF_FFFF), shrink_to=(0, 1), pool=POOL_INTS)
ONE_REG = Choice(ONE_REGS, shrink_to=("x0", "ACTLR_EL1"), pool=POOL_NONE)


class Where(enum.Enum):
    """Where a vcpu thread is: what an op's applicability depends on first."""

    USER = "userspace"  # outside KVM_RUN
    RUN_LOOP = "run-loop"  # at the top of the run loop on a CPU: next is guest entry
    GUEST = "guest"  # the guest runs
    EXIT_PENDING = "exit-handling"  # after handle_exit_early on a CPU: next is handle_exit
    PREEMPTED = "preempted"  # in the run loop, off its CPU (preempted)
    ASLEEP = "asleep"  # in the run loop, off its CPU, asleep in kvm_vcpu_sleep (powered off)


ANYWHERE: frozenset[Where] = frozenset(Where)
#: fields printers show in hex (register values, ESRs, priorities, addresses)
HEX_FIELDS: frozenset[str] = frozenset({"value", "esr", "priority", "entry", "context"})
_W = Where
#: an alphabet entry: the op with its defaults, once per vcpu
EACH_VCPU = "each vcpu"
Small = Callable[[VmShape], Sequence["Op"]] | str


@attrs.frozen
class OpSpec:
    """Everything hvfuzz knows about one op kind besides its fields (whose domains sit on the
    fields: ``fields.domain_of``)."""

    cls: type[Op]
    #: the stable opcode: never reused, new ops are appended (the byte format numbers ops by it)
    code: int
    #: the focused targets and alphabets that use it ("pkvm", "vgic", "psci"; "system" has all)
    components: frozenset[str]
    #: where the op's vcpu thread must be for the op to apply (a necessary condition)
    requires: frozenset[Where]
    #: who performs it, for the C export: "guest" (guest code) or "host" (the VMM or the kernel)
    side: str
    #: the op makes the vcpu exit (a guest-code segment ends)
    exits: bool = False
    #: opcodes it gets in the byte format (the run-loop ops come up more often)
    weight: int = 1
    #: its instances in each component's small alphabet (``fuzz/exhaustive.py``): a function of
    #: the VM's shape, or ``EACH_VCPU`` (the op with its defaults, once per vcpu)
    alphabet: Mapping[str, Small] = attrs.field(factory=dict)

    def small(self, component: str, c: VmShape) -> Sequence[Op]:
        """The op's instances in ``component``'s alphabet for a VM of shape ``c``."""
        make = self.alphabet.get(component)
        if make is None:
            return ()
        if make == EACH_VCPU:
            return [self.cls(v) for v in range(c.vcpus)]
        assert callable(make)
        return make(c)


@attrs.define
class Registry:
    """The op kinds, by opcode.  Filled by ``@OPS.op(...)`` as the op classes are defined."""

    specs: dict[int, OpSpec] = attrs.Factory(dict)
    by_name: dict[str, OpSpec] = attrs.Factory(dict)

    def op(self, code: int, *, components: Sequence[str], requires: frozenset[Where] | Sequence[Where], side: str,
           exits: bool = False, weight: int = 1,
           alphabet: Mapping[str, Small] | None = None,
           ) -> Callable[[type[_O]], type[_O]]:
        def register(cls: type[_O]) -> type[_O]:
            if code in self.specs:
                raise ValueError(f"opcode {code} of {cls.name} is {self.specs[code].cls.name}'s")
            spec = OpSpec(cls, code, frozenset(components), frozenset(requires), side, exits, weight,
                          dict(alphabet or {}))
            self.specs[code] = spec
            self.by_name[cls.name] = spec
            cls.spec = spec
            return cls

        return register

    def __iter__(self) -> Iterator[OpSpec]:
        return iter(sorted(self.specs.values(), key=lambda s: s.code))

    def classes(self, component: str = "system") -> tuple[type[Op], ...]:
        """The op kinds of ``component`` in opcode order."""
        return tuple(s.cls for s in self if component == "system" or component in s.components)


#: the op registry
OPS = Registry()
_O = TypeVar("_O", bound="Op")


@attrs.frozen
class Op:
    """Base of every operation.  ``vcpu`` is the vcpu (thread) it concerns."""

    vcpu: int = attrs.field(validator=VCPU.validator(), metadata={"domain": VCPU})
    #: the ``op`` key in JSON
    name: ClassVar[str] = "Op"
    spec: ClassVar[OpSpec]

    def c_statement(self) -> str:
        """What a KVM selftest does for this op (guest code or host code, ``spec.side``)."""
        return f"/* {self.name} */"

    def shown_fields(self) -> tuple[str, ...]:
        """The fields (besides ``vcpu``) this op's kind uses: what every printer shows (the
        timeline, the HTML page, the exports, ``str(op)``).  A field left out is one this kind does
        not read, or a flag at the default that means "nothing" (``GuestExit.serror_pending``), so
        the op rebuilt from its shown fields (``essential``) runs the same (tests/test_trace.py).
        All of them unless an op class narrows it (``GuestExit``: by exit kind; ``GuestPsci``: the
        arguments its function takes).  Repro JSON keeps every field."""
        return tuple(f.name for f in attrs.fields(type(self)) if f.name != "vcpu")

    def essential(self) -> Op:
        """This op with every field it does not show at its default (it runs the same)."""
        return type(self)(self.vcpu, **{k: getattr(self, k) for k in self.shown_fields()})

    def text(self, vcpu: bool = True) -> str:
        """The op as printers show it: ``GuestExit(vcpu=0, kind=irq)`` (``vcpu=False``: without
        the vcpu, for the lane of a timeline), values in hex where a field holds a register value,
        an ESR, a priority or an address."""
        args = [f"vcpu={self.vcpu}"] if vcpu else []
        for k in self.shown_fields():
            v = getattr(self, k)
            args.append(f"{k}={hex(v) if k in HEX_FIELDS and type(v) is int and v > 9 else v}")
        return f"{self.name}({', '.join(args)})" if args else self.name

    def __str__(self) -> str:
        return self.text()


def _per_vcpu(make: Callable[[VmShape, int], Sequence[Op]]) -> Callable[[VmShape], Sequence[Op]]:
    return lambda c: [op for v in range(c.vcpus) for op in make(c, v)]


#: value the alphabets write into registers: anything but the reset value 0 shows where it went
_V = 1
_RUN_LOOP_SMALL = _per_vcpu(lambda c, v: [KvmRun(v, v % c.pcpus)])


# --- the run loop ---------------------------------------------------------------------------------
@OPS.op(0, components=("pkvm", "vgic", "psci"), requires=(_W.USER,), side="host", weight=3, alphabet={
    "pkvm": _per_vcpu(lambda c, v: [KvmRun(v, p) for p in range(c.pcpus)]),
    "vgic": _RUN_LOOP_SMALL, "psci": _RUN_LOOP_SMALL})
@attrs.frozen
class KvmRun(Op):
    """Userspace enters KVM_RUN on physical CPU ``pcpu``: the first time
    ``kvm_arch_vcpu_run_pid_change``, then ``kvm_handle_mmio_return`` for a completed userspace
    MMIO and ``vcpu_load`` (``kvm_arch_vcpu_load``).  Stops at the top of the run loop
    (preemptible)."""

    pcpu: int = field(PCPU, 0)
    name: ClassVar[str] = "KvmRun"

    def c_statement(self) -> str:
        return (f"pin_to_cpu({self.pcpu});  /* the model's pCPU {self.pcpu} */\n"
                f"\trun_until_sync(vcpus[{self.vcpu}]);  /* KVM_RUN */")


@OPS.op(1, components=("pkvm", "vgic", "psci"), requires=(_W.RUN_LOOP,), side="host", weight=4,
        alphabet={"pkvm": EACH_VCPU, "vgic": EACH_VCPU,
                  "psci": EACH_VCPU})
@attrs.frozen
class GuestEnter(Op):
    """The run loop enters the guest: vgic flush, ``__kvm_vcpu_run`` (``flush_hyp_vcpu`` under
    pKVM, ``__kvm_adjust_pc``, world switch).  The guest-entry oracle looks at what it resumes
    with."""

    name: ClassVar[str] = "GuestEnter"


EXIT_KIND = Choice(EXIT_KINDS, shrink_to=("irq", "trap_mmio_read"))
#: the fields each exit kind reads besides ``kind`` (the model's ``handle_exit`` and ArchVcpu read
#: no others): the transfer register of a trapped access, the trapped sysreg, the MMIO read data.
#: ``serror_pending`` (ARM_EXIT_WITH_SERROR_BIT) goes with every kind and is shown when set.
EXIT_KIND_FIELDS: Mapping[str, tuple[str, ...]] = {
    "irq": (), "el1_serror": (), "il": (),
    "trap_mmio_read": ("rt", "value"), "trap_mmio_write": ("rt",),
    "trap_sysreg_read": ("rt", "reg"), "trap_sysreg_write": ("rt", "reg"),
    "trap_mmio_user": ("rt", "value"),
}
TRAPPED_SYSREG = Choice(TRAPPED_SYSREGS, shrink_to=("ACTLR_EL1",), pool=POOL_NONE)
_EXIT_TEXT = {
    "irq": "an IRQ exit: a host interrupt (timer, IPI) must land here; not forceable",
    "el1_serror": "an SError taken to EL2: needs a RAS error source; not forceable",
    "il": "an illegal exception return exit",
    "trap_mmio_read": "READ_ONCE(*(volatile uint64_t *)MMIO_GVA): an in-kernel device read",
    "trap_mmio_write": "WRITE_ONCE(*(volatile uint64_t *)MMIO_GVA, x): an in-kernel device write",
    "trap_sysreg_read": "read_sysreg({reg}): trapped (HCR_EL2.TACR / MDCR_EL2)",
    "trap_sysreg_write": "write_sysreg(x, {reg}): trapped",
    "trap_mmio_user": "READ_ONCE(*(volatile uint64_t *)USER_MMIO_GVA): KVM_EXIT_MMIO to the host",
}


@OPS.op(2, components=("pkvm", "vgic", "psci"), requires=(_W.GUEST,), side="guest", exits=True, weight=3, alphabet={
    "pkvm": _per_vcpu(lambda c, v: [
        GuestExit(v, "irq"), GuestExit(v, "irq", serror_pending=True), GuestExit(v, "il"), GuestExit(v, "el1_serror"),
        GuestExit(v, "trap_mmio_read", value=_V), GuestExit(v, "trap_sysreg_write", reg="ACTLR_EL1"),
        GuestExit(v, "trap_mmio_user")]),
    "vgic": _per_vcpu(lambda c, v: [GuestExit(v, "irq")]), "psci": _per_vcpu(lambda c, v: [GuestExit(v, "irq")])})
@attrs.frozen
class GuestExit(Op):
    """The guest exits with ``kind`` (ARM_EXCEPTION_* code; ``trap_*`` are TRAP exits with the
    handler they reach), optionally with ARM_EXIT_WITH_SERROR_BIT.  Runs the exit path up to
    ``handle_exit_early`` and the preempt_enable after it.  ``rt`` is the transfer register of a
    trapped access, ``reg`` the trapped sysreg, ``value`` the MMIO read data."""

    kind: str = field(EXIT_KIND, "irq")
    serror_pending: bool = field(Flag(shrink_to=(False,)), False)
    rt: int = field(IntRange(31, neighbours=(0, 1, 2, 30), shrink_to=(0,)), 0)
    reg: str = field(TRAPPED_SYSREG, "ACTLR_EL1")
    value: int = field(REG_VALUE, 0)
    name: ClassVar[str] = "GuestExit"

    def shown_fields(self) -> tuple[str, ...]:
        return ("kind",) + (("serror_pending",) if self.serror_pending else ()) + EXIT_KIND_FIELDS[self.kind]

    def c_statement(self) -> str:
        pending = " with an SError pending at the exit (not forceable)" if self.serror_pending else ""
        return f"/* exit: {_EXIT_TEXT[self.kind].format(reg=self.reg.lower())}{pending} */"


@OPS.op(3, components=("pkvm", "vgic", "psci"), requires=(_W.EXIT_PENDING,), side="host", weight=4,
        alphabet={"pkvm": EACH_VCPU, "vgic": EACH_VCPU,
                  "psci": EACH_VCPU})
@attrs.frozen
class HandleExit(Op):
    """The preemptible half of the exit: ``vcpu_mode_is_bad_32bit`` and ``handle_exit``; when it
    returns to userspace, ``__kvm_adjust_pc`` and ``vcpu_put``."""

    name: ClassVar[str] = "HandleExit"

    def c_statement(self) -> str:
        return f"/* vcpu{self.vcpu}: the host handles the exit (inside KVM_RUN) */"


@OPS.op(4, components=("pkvm", "psci"), requires=(_W.RUN_LOOP, _W.ASLEEP), side="host",
        alphabet={"pkvm": EACH_VCPU, "vgic": EACH_VCPU,
                  "psci": EACH_VCPU})
@attrs.frozen
class ExitToUser(Op):
    """A signal is pending: the run loop's ``xfer_to_guest_mode_handle_work`` returns -EINTR
    (KVM_EXIT_INTR), ``__kvm_adjust_pc`` and ``vcpu_put``."""

    name: ClassVar[str] = "ExitToUser"

    def c_statement(self) -> str:
        return f"/* vcpu{self.vcpu}: KVM_RUN returns (a signal: pthread_kill the vcpu thread) */"


@OPS.op(5, components=("pkvm", "vgic", "psci"), requires=(_W.RUN_LOOP, _W.EXIT_PENDING), side="host",
        alphabet={"pkvm": EACH_VCPU})
@attrs.frozen
class SchedOut(Op):
    """The vcpu thread is preempted at a preemptible point of the run loop: the preempt notifier
    calls ``kvm_arch_vcpu_put``."""

    name: ClassVar[str] = "SchedOut"

    def c_statement(self) -> str:
        return f"/* vcpu{self.vcpu}: preempted between exit and re-entry (not forceable; sched_yield/pinning help) */"


@OPS.op(6, components=("pkvm", "vgic", "psci"), requires=(_W.PREEMPTED, _W.ASLEEP), side="host",
        alphabet={"pkvm": _per_vcpu(lambda c, v: [SchedIn(v, p) for p in range(c.pcpus)])})
@attrs.frozen
class SchedIn(Op):
    """A preempted vcpu thread is scheduled in on ``pcpu`` (migration if it differs): the preempt
    notifier calls ``kvm_arch_vcpu_load``."""

    pcpu: int = field(PCPU, 0)
    name: ClassVar[str] = "SchedIn"

    def c_statement(self) -> str:
        return f"/* vcpu{self.vcpu}: scheduled back in on pCPU {self.pcpu} (migration if it differs) */"


# --- registers ------------------------------------------------------------------------------------
def c_reg_id(reg: str) -> str:
    """The KVM_{GET,SET}_ONE_REG id of ``reg`` as a selftest names it."""
    if reg.startswith("x") and reg[1:].isdigit():
        return f"ARM64_CORE_REG(regs.regs[{reg[1:]}])"
    core = {"sp": "regs.sp", "pc": "regs.pc", "pstate": "regs.pstate", "fpsr": "fp_regs.fpsr",
            "fpcr": "fp_regs.fpcr", "SP_EL1": "sp_el1"}
    if reg in core:
        return f"ARM64_CORE_REG({core[reg]})"
    if reg.startswith("spsr_"):
        return f"ARM64_CORE_REG(spsr[KVM_SPSR_{reg[5:].upper()}])"
    if reg.startswith("v") and reg[1:].isdigit():
        return f"ARM64_CORE_REG(fp_regs.vregs[{reg[1:]}])"
    return f"KVM_ARM64_SYS_REG(SYS_{reg})"


@OPS.op(7, components=("pkvm", "psci"), requires=(_W.GUEST,), side="guest", alphabet={
    "pkvm": _per_vcpu(lambda c, v: [GuestWriteReg(v, r, _V) for r in ("x0", "pstate", "v0", "SCTLR_EL1")]),
    "psci": _per_vcpu(lambda c, v: [GuestWriteReg(v, "x0", _V)])})
@attrs.frozen
class GuestWriteReg(Op):
    """The running guest writes ``reg`` (in hardware; saved into whichever context it runs on)."""

    reg: str = field(Choice(GUEST_REGS, shrink_to=("x0",), pool=POOL_NONE), "x0")
    value: int = field(REG_VALUE, 0)
    name: ClassVar[str] = "GuestWriteReg"

    def c_statement(self) -> str:
        if self.reg.startswith("x") or self.reg in ("sp", "pc", "pstate", "fpsr", "fpcr", "SP_EL1") \
                or self.reg.startswith(("v", "spsr")):
            return f"/* the guest sets {self.reg} = {self.value:#x} (inline asm) */"
        return f"write_sysreg({self.value:#x}, {self.reg.lower()}); isb();"


@OPS.op(8, components=("pkvm", "psci"), requires=(_W.USER,), side="host", alphabet={
    "pkvm": _per_vcpu(lambda c, v: [UserGetReg(v, r) for r in ("x0", "pc", "pstate", "MDSCR_EL1", "PMOVSSET_EL0")])})
@attrs.frozen
class UserGetReg(Op):
    """KVM_GET_ONE_REG from userspace (the vcpu is outside KVM_RUN)."""

    reg: str = field(ONE_REG, "x0")
    name: ClassVar[str] = "UserGetReg"

    def c_statement(self) -> str:
        return f"val = vcpu_get_reg(vcpus[{self.vcpu}], {c_reg_id(self.reg)});  /* the oracle compares this */"


@OPS.op(9, components=("pkvm", "psci"), requires=(_W.USER,), side="host", alphabet={
    "pkvm": _per_vcpu(lambda c, v: [UserSetReg(v, r, _V) for r in ("x0", "v0", "SCTLR_EL1")])})
@attrs.frozen
class UserSetReg(Op):
    """KVM_SET_ONE_REG from userspace (the vcpu is outside KVM_RUN)."""

    reg: str = field(ONE_REG, "x0")
    value: int = field(REG_VALUE, 0)
    name: ClassVar[str] = "UserSetReg"

    def c_statement(self) -> str:
        return f"vcpu_set_reg(vcpus[{self.vcpu}], {c_reg_id(self.reg)}, {self.value:#x});"


@OPS.op(10, components=("pkvm",), requires=(_W.USER,), side="host",
        alphabet={"pkvm": _per_vcpu(lambda c, v: [HostInjectSError(v, 1)])})
@attrs.frozen
class HostInjectSError(Op):
    """KVM_SET_VCPU_EVENTS with ``serror_pending`` and ``serror_esr``: ``kvm_inject_serror_esr``
    (emulated exception entry writing ESR_EL1 if SErrors are unmasked, else VSESR_EL2 and
    HCR_EL2.VSE)."""

    esr: int = field(IntRange(1 << 24, width=3, neighbours=(0, 1, 0x1FFFFF), shrink_to=(0, 1)), 0)
    name: ClassVar[str] = "HostInjectSError"

    def c_statement(self) -> str:
        return (f"events = (struct kvm_vcpu_events){{ .exception.serror_pending = 1, .exception.serror_has_esr = 1,"
                f" .exception.serror_esr = {self.esr:#x} }};\n\tvcpu_events_set(vcpus[{self.vcpu}], &events);")


@OPS.op(11, components=("pkvm",), requires=(_W.USER,), side="host",
        alphabet={"pkvm": EACH_VCPU})
@attrs.frozen
class UserGetVcpuEvents(Op):
    """KVM_GET_VCPU_EVENTS: reports ``serror_pending`` (HCR_EL2.VSE) and ``serror_esr``."""

    name: ClassVar[str] = "UserGetVcpuEvents"

    def c_statement(self) -> str:
        return f"vcpu_events_get(vcpus[{self.vcpu}], &events);  /* serror_pending */"


@OPS.op(12, components=("pkvm",), requires=(_W.USER,), side="host",
        alphabet={"pkvm": _per_vcpu(lambda c, v: [UserSetGuestDebug(v, True)])})
@attrs.frozen
class UserSetGuestDebug(Op):
    """KVM_SET_GUEST_DEBUG from userspace: enable (KVM_GUESTDBG_ENABLE|SINGLESTEP) or disable
    single-stepping the guest.  Takes effect at the next vcpu load (``kvm_vcpu_load_debug``)."""

    single_step: bool = field(FLAG, True)
    name: ClassVar[str] = "UserSetGuestDebug"

    def c_statement(self) -> str:
        flags = "KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP" if self.single_step else "0"
        return f"vcpu_guest_debug_set(vcpus[{self.vcpu}], &(struct kvm_guest_debug){{ .control = {flags} }});"


@OPS.op(13, components=("pkvm",), requires=ANYWHERE, side="host",
        alphabet={"pkvm": _per_vcpu(lambda c, v: [HostPmuOverflow(v, 0)])})
@attrs.frozen
class HostPmuOverflow(Op):
    """An emulated PMU counter of the vcpu overflows: the host's perf overflow handler
    (``kvm_pmu_perf_overflow``) sets the counter's bit in PMOVSSET_EL0 of the vcpu context from
    interrupt context, whatever the vcpu thread is doing.  Only where the variant offers PMU
    emulation (``Variant.pmu_emulation``); a no-op elsewhere."""

    counter: int = field(IntRange(31, neighbours=(0, 1), shrink_to=(0,)), 0)
    name: ClassVar[str] = "HostPmuOverflow"

    def c_statement(self) -> str:
        return f"/* a PMU counter {self.counter} overflow in the host (perf): not forceable from a selftest */"


# --- interrupts -----------------------------------------------------------------------------------
#: INTIDs of the vgic alphabet: two SPIs whose priorities differ only in bit 3 (the fifth
#: implemented bit), enabled by ``ConfigIrq`` (interrupts reset disabled)
_SPI_A, _SPI_B = 32, 33


@OPS.op(14, components=("vgic", "psci"), requires=ANYWHERE, side="host",
        alphabet={"vgic": lambda c: [InjectIrq(0, _SPI_A), InjectIrq(0, _SPI_B)]})
@attrs.frozen
class InjectIrq(Op):
    """A device or the host drives an interrupt line (``kvm_vgic_inject_irq``; for SGIs the
    trapped ICC_SGI1R write of another vcpu): edge: ``level=True`` is an edge; level: the new line
    level.  ``vcpu`` names the redistributor for SGIs/PPIs; SPIs are routed by their target."""

    intid: int = field(INTID, 32)
    level: bool = field(FLAG, True)
    name: ClassVar[str] = "InjectIrq"

    def c_statement(self) -> str:
        if self.intid < 16:
            return f"/* SGI {self.intid} to vcpu{self.vcpu}: another vcpu's guest writes ICC_SGI1R_EL1 */"
        if self.intid < 32:
            return f"kvm_arm_irq_line(vm, {self.intid}, {int(self.level)});  /* PPI of vcpu{self.vcpu} */"
        return f"kvm_irq_line(vm, {self.intid}, {int(self.level)});  /* SPI (KVM_IRQ_LINE) */"


def _vgic_configs(c: VmShape) -> list[Op]:
    ops: list[Op] = [
        ConfigIrq(0, _SPI_A, priority=0x48), ConfigIrq(0, _SPI_B, priority=0x40),
        ConfigIrq(0, _SPI_A, priority=0x48, level=True), ConfigIrq(0, _SPI_B, priority=0x40, level=True),
        ConfigIrq(0, _SPI_B, priority=0x40, group=0),
        ConfigIrq(0, 27, priority=0x40, level=True),  # the vtimer's PPI, level as KVM has it (TimerFire)
        ConfigIrq(0, SGIS[1], priority=0x40),  # vcpu0's SGI 1 (InjectSgi: a GICv2 SGI from two sources)
    ]
    if c.vcpus > 1:
        ops.append(ConfigIrq(0, _SPI_A, priority=0x48, target=1))
    return ops


@OPS.op(15, components=("vgic", "psci"), requires=ANYWHERE, side="host", alphabet={"vgic": _vgic_configs})
@attrs.frozen
class ConfigIrq(Op):
    """Distributor/redistributor configuration of an idle interrupt (not active, not queued):
    enable, priority, group, edge/level (PPIs/SPIs) and the target vcpu of an SPI."""

    intid: int = field(INTID, 32)
    enabled: bool = field(FLAG, True)
    priority: int = field(PRIORITY, 0xA0)
    group: int = field(GROUP, 1)
    level: bool = field(FLAG, False)
    target: int = field(Index("vcpus", limit=4), 0)
    name: ClassVar[str] = "ConfigIrq"

    def c_statement(self) -> str:
        return (f"/* distributor: INTID {self.intid} {'enabled' if self.enabled else 'disabled'}, priority "
                f"{self.priority:#x}, group {self.group}, {'level' if self.level else 'edge'}, target "
                f"vcpu{self.target}: the guest's gic_irq_enable/gic_set_priority/gic_irq_set_config, or GICD MMIO "
                f"from the host */")


@OPS.op(16, components=("vgic", "psci"), requires=(_W.GUEST,), side="guest",
        alphabet={"vgic": _per_vcpu(lambda c, v: [GuestAck(v, 1), GuestAck(v, 0)])})
@attrs.frozen
class GuestAck(Op):
    """The guest reads ICV_IAR<group>_EL1 (acknowledge)."""

    group: int = field(GROUP, 1)
    name: ClassVar[str] = "GuestAck"

    def c_statement(self) -> str:
        return f"intid = gic_get_and_ack_irq();  /* ICV_IAR{self.group}_EL1 */"


@OPS.op(17, components=("vgic", "psci"), requires=(_W.GUEST,), side="guest",
        alphabet={"vgic": lambda c: [*_per_vcpu(lambda c, v: [GuestEoi(v, 1, _SPI_A), GuestEoi(v, 1, _SPI_B),
                                                               GuestEoi(v, 0, _SPI_B)])(c),
                                     GuestEoi(0, 1, VTIMER_PPI)]})  # the timer's HW LR deactivated
@attrs.frozen
class GuestEoi(Op):
    """The guest writes ICV_EOIR<group>_EL1: priority drop (and deactivation with EOImode 0)."""

    group: int = field(GROUP, 1)
    intid: int = field(INTID_EOI, 32)
    name: ClassVar[str] = "GuestEoi"

    def c_statement(self) -> str:
        return f"gic_set_eoi({self.intid});  /* ICV_EOIR{self.group}_EL1 */"


@OPS.op(18, components=("vgic",), requires=(_W.GUEST,), side="guest",
        alphabet={"vgic": _per_vcpu(lambda c, v: [GuestDir(v, _SPI_A), GuestDir(v, _SPI_B)])})
@attrs.frozen
class GuestDir(Op):
    """The guest writes ICV_DIR_EL1 (deactivation with EOImode 1; trapped when TDIR/TC).  A trap
    that EL2 cannot complete makes the vcpu exit (``trap_sysreg_dir``): the op then leaves it with
    that exit pending, and the host emulates the DIR at its ``HandleExit``.  Not ``exits``: whether
    it exits is the hypervisor's business, invisible to guest code."""

    intid: int = field(INTID_EOI, 32)
    name: ClassVar[str] = "GuestDir"

    def c_statement(self) -> str:
        return f"gic_set_dir({self.intid});"


@OPS.op(19, components=("vgic",), requires=(_W.GUEST,), side="guest")
@attrs.frozen
class GuestSetPmr(Op):
    """The guest writes ICV_PMR_EL1."""

    value: int = field(IntRange(256, neighbours=(0x00, 0x30, 0x80, 0xA0, 0xF0, 0xFF), shrink_to=(0, 1),
                                pool=POOL_NONE), 0xF0)
    name: ClassVar[str] = "GuestSetPmr"

    def c_statement(self) -> str:
        return f"gic_set_priority_mask({self.value:#x});"


@OPS.op(20, components=("vgic",), requires=(_W.GUEST,), side="guest")
@attrs.frozen
class GuestSetBpr(Op):
    """The guest writes ICV_BPR<group>_EL1."""

    group: int = field(GROUP, 1)
    value: int = field(IntRange(8, shrink_to=(0, 1), pool=POOL_NONE), 0)
    name: ClassVar[str] = "GuestSetBpr"

    def c_statement(self) -> str:
        return f"write_sysreg_s({self.value}, SYS_ICC_BPR{self.group}_EL1); isb();"


@OPS.op(21, components=("vgic",), requires=(_W.GUEST,), side="guest", alphabet={
    "vgic": _per_vcpu(lambda c, v: [GuestSetGrpEn(v, 1, True), GuestSetGrpEn(v, 1, False), GuestSetGrpEn(v, 0, True)])})
@attrs.frozen
class GuestSetGrpEn(Op):
    """The guest writes ICV_IGRPEN<group>_EL1."""

    group: int = field(GROUP, 1)
    enable: bool = field(FLAG, True)
    name: ClassVar[str] = "GuestSetGrpEn"

    def c_statement(self) -> str:
        return f"write_sysreg_s({int(self.enable)}, SYS_ICC_IGRPEN{self.group}_EL1); isb();"


@OPS.op(22, components=("vgic",), requires=(_W.GUEST,), side="guest",
        alphabet={"vgic": _per_vcpu(lambda c, v: [GuestSetEoiMode(v, True)])})
@attrs.frozen
class GuestSetEoiMode(Op):
    """The guest writes ICV_CTLR_EL1.EOImode (0: EOI deactivates; 1: DIR deactivates)."""

    eoimode: bool = field(FLAG, False)
    name: ClassVar[str] = "GuestSetEoiMode"

    def c_statement(self) -> str:
        return f"gic_set_eoi_split({int(self.eoimode)});"


def _vgic_prologue(c: VmShape) -> list[Op]:
    """Where the vgic alphabet's search starts: every vcpu has run, raised its PMR and enabled
    group 1 (the others went back to userspace); then both SPIs are configured (edge, group 1,
    vcpu 0) and injected while vcpu 0 is in its run loop, and vcpu 0 enters the guest — what a
    booted guest has done before it takes interrupts.  KVM resets ICH_VMCR_EL2 to 0
    (``vgic_v3_enable``: "By forcing VMCR to zero ... Anything else resets to zero anyway"), so
    VPMR is 0 and masks every priority until the guest writes ICC_PMR_EL1 (Linux:
    ``gic_cpu_sys_reg_init``); from reset no trace short enough to search acknowledges anything.
    From here, with one LR, the higher-priority SPI is in the LR and the other waits on the
    ap_list (more in flight than LRs); an acknowledge, an exit and the re-entry put the active one
    outside the LRs, so its EOI bumps EOIcount in 5 ops; EOImode 1, an acknowledge and a DIR take 3.
    vcpu 0's timer PPI is configured as KVM has it (level, here priority 0x40), not fired: a
    ``TimerFire``, an exit and a re-entry put it in the LR (equal priority to the SPI there, the
    ``hw`` tie-break puts it first), so the guest's acknowledge and EOI deactivate a HW LR in 6."""
    ops: list[Op] = []
    for v in reversed(range(c.vcpus)):
        ops += [KvmRun(v, v % c.pcpus), GuestEnter(v), GuestSetPmr(v, 0xFF), GuestSetGrpEn(v, 1, True),
                GuestExit(v), HandleExit(v)]
        if v:
            ops.append(ExitToUser(v))
    return ops + [ConfigIrq(0, _SPI_A, priority=0x48), ConfigIrq(0, _SPI_B, priority=0x40),
                  ConfigIrq(0, VTIMER_PPI, priority=0x40, level=True),
                  InjectIrq(0, _SPI_A), InjectIrq(0, _SPI_B), GuestEnter(0)]


#: the fixed prefix each component's exhaustive search starts from (``fuzz/exhaustive.py``; none:
#: from reset).  Its counterexamples start with it, so they replay from reset.
PROLOGUES: Mapping[str, Callable[[VmShape], Sequence[Op]]] = {"vgic": _vgic_prologue}


# --- PSCI, power state and stage-2 --------------------------------------------------------------
def _psci_small(c: VmShape) -> list[Op]:
    ops: list[Op] = []
    for v in range(c.vcpus):
        other = (v + 1) % c.vcpus
        ops += [GuestPsci(v, "CPU_ON", other, 0x80000, _V), GuestPsci(v, "CPU_OFF", 0),
                GuestPsci(v, "AFFINITY_INFO", other), GuestPsci(v, "SYSTEM_OFF", 0)]
    return ops


@OPS.op(23, components=("psci",), requires=(_W.GUEST,), side="guest", exits=True, alphabet={"psci": _psci_small})
@attrs.frozen
class GuestPsci(Op):
    """The guest calls PSCI: x0 = the function ID, then the arguments its ``PsciFunction.args``
    names: for CPU_ON x1 = ``target`` (an MPIDR: Aff0 = the vcpu index, as KVM assigns it unless
    userspace set MPIDR_EL1; >= the vcpu count names no vcpu), x2 = ``entry``, x3 = ``context``;
    SYSTEM_RESET2 and SYSTEM_OFF2 take their type in x1 (``target``) and a cookie in x2
    (``context``); PSCI_FEATURES the queried function ID in x1 (``entry``); then HVC #0: an exit
    (ESR EC = HVC64) whose handler, ``kvm_psci_call``, runs at the next ``HandleExit``."""

    fn: str = field(Choice(PSCI_FNS), "CPU_ON")
    target: int = field(Index("vcpus", limit=8, modulo=8), 1)
    entry: int = field(U64(neighbours=(0x1000, 0x80000)), 0x80000)
    context: int = field(U64(neighbours=(0, 7)), 0)
    name: ClassVar[str] = "GuestPsci"

    @property
    def function(self) -> PsciFunction:
        return PSCI_BY_NAME[self.fn]

    def registers(self) -> tuple[int, int, int, int]:
        """x0..x3 as the guest loads them before ``HVC #0`` (SMCCC: function ID, then the
        arguments the function takes; 0 in the others)."""
        f = self.function
        x1, x2, x3 = (0 if a is None else getattr(self, a) for a in f.args)
        return f.function_id, x1, x2, x3

    def shown_fields(self) -> tuple[str, ...]:
        return ("fn",) + tuple(a for a in self.function.args if a is not None)

    def c_statement(self) -> str:
        a = ", ".join(f"{x:#x}" for x in self.registers()[1:])
        return f"smccc_hvc({self.function.c_macro}, {a}, 0, 0, 0, 0, &res);  /* PSCI {self.fn}: x0 = res.a0 */"


@OPS.op(24, components=("psci",), requires=(_W.GUEST,), side="guest", exits=True,
        alphabet={"psci": _per_vcpu(lambda c, v: [GuestAccess(v, 0)])})
@attrs.frozen
class GuestAccess(Op):
    """The guest loads from guest-physical ``page``: a hit if stage-2 maps it, else a stage-2
    data abort (an exit; ``HandleExit`` runs ``kvm_handle_guest_abort``, which maps the page and
    re-executes the access)."""

    page: int = field(Choice(PAGES), 0)
    name: ClassVar[str] = "GuestAccess"

    def c_statement(self) -> str:
        return f"(void)READ_ONCE(*(volatile uint64_t *)(DATA_GVA + {self.page} * PAGE_SIZE));"


@OPS.op(25, components=("psci",), requires=(_W.USER,), side="host",
        alphabet={"psci": _per_vcpu(lambda c, v: [UserVcpuInit(v, False), UserVcpuInit(v, True)])})
@attrs.frozen
class UserVcpuInit(Op):
    """Userspace KVM_ARM_VCPU_INIT (outside KVM_RUN), with or without the POWER_OFF feature."""

    power_off: bool = field(FLAG, False)
    name: ClassVar[str] = "UserVcpuInit"

    def c_statement(self) -> str:
        feat = " with KVM_ARM_VCPU_POWER_OFF" if self.power_off else ""
        return (f"vcpu_init_descriptor_again(vcpus[{self.vcpu}], {str(self.power_off).lower()});"
                f"  /* KVM_ARM_VCPU_INIT{feat} */")


@OPS.op(26, components=("psci",), requires=(_W.USER,), side="host",
        alphabet={"psci": _per_vcpu(lambda c, v: [UserSetMpState(v, "RUNNABLE")])})
@attrs.frozen
class UserSetMpState(Op):
    """Userspace KVM_SET_MP_STATE (outside KVM_RUN)."""

    state: str = field(Choice(MP_STATES), "RUNNABLE")
    name: ClassVar[str] = "UserSetMpState"

    def c_statement(self) -> str:
        return (f"vcpu_mp_state_set(vcpus[{self.vcpu}], &(struct kvm_mp_state){{ .mp_state = "
                f"KVM_MP_STATE_{self.state} }});")


@OPS.op(27, components=("psci",), requires=(_W.USER,), side="host",
        alphabet={"psci": EACH_VCPU})
@attrs.frozen
class UserGetMpState(Op):
    """Userspace KVM_GET_MP_STATE (outside KVM_RUN)."""

    name: ClassVar[str] = "UserGetMpState"

    def c_statement(self) -> str:
        return f"vcpu_mp_state_get(vcpus[{self.vcpu}], &mp);"


@OPS.op(28, components=("psci",), requires=(_W.GUEST,), side="guest", exits=True,
        alphabet={"psci": _per_vcpu(lambda c, v: [GuestSmc(v, "CPU_OFF", 0)])})
@attrs.frozen
class GuestSmc(GuestPsci):
    """The guest calls PSCI through the SMC conduit: x0..x3 as for ``GuestPsci``, then SMC #0,
    which HCR_EL2.TSC traps to EL2 (ESR EC = SMC64).  Unlike HVC, the trapped SMC's preferred
    return address is the SMC itself: the handler, run at the next ``HandleExit``, advances the
    PC (``handle_smc``)."""

    name: ClassVar[str] = "GuestSmc"

    def c_statement(self) -> str:
        a = ", ".join(f"{x:#x}" for x in self.registers()[1:])
        return f"smccc_smc({self.function.c_macro}, {a}, 0, 0, 0, 0, &res);  /* PSCI {self.fn} by SMC: x0 = res.a0 */"


# --- LPIs and the HW-mapped timer (issue 15) -------------------------------------------------------
@OPS.op(29, components=("vgic",), requires=ANYWHERE, side="host",
        alphabet={"vgic": lambda c: [InjectMsi(0, LPIS[0], 0x20)]})
@attrs.frozen
class InjectMsi(Op):
    """A device writes an MSI that the ITS translates to LPI ``intid`` (edge: it latches pending;
    no active state outside a CPU interface).  No ITS tables: the first MSI for an LPI maps it to
    ``vcpu``'s redistributor with ``priority`` (group 1, enabled: the LPI configuration table);
    later MSIs for it keep that mapping."""

    intid: int = field(Choice(LPIS), LPIS[0])
    priority: int = field(PRIORITY, 0xA0)
    name: ClassVar[str] = "InjectMsi"

    def c_statement(self) -> str:
        return (f"/* an MSI for LPI {self.intid} (vcpu{self.vcpu}, priority {self.priority:#x}): "
                f"KVM_SIGNAL_MSI through the ITS after MAPD/MAPTI, as vgic_lpi_stress.c does */")


@OPS.op(30, components=("vgic",), requires=ANYWHERE, side="host",
        alphabet={"vgic": lambda c: [TimerFire(0)]})
@attrs.frozen
class TimerFire(Op):
    """The vcpu's virtual timer expires and stays expired (no op re-arms it): the physical vtimer
    PPI the vgic maps to its PPI 27 (``irq->hw``) fires; the host forwards it as the virtual
    timer's level.  Applies only when PPI 27 is configured level (``ConfigIrq``)."""

    name: ClassVar[str] = "TimerFire"

    def c_statement(self) -> str:
        return (f"/* the vtimer of vcpu{self.vcpu} expires: its guest's timer_set_next_cval_ms(VIRTUAL, 0) "
                f"and timer_set_ctl(VIRTUAL, CTL_ENABLE), as arch_timer.c does */")


# --- SGIs with a source (issue 15: GICv2) -------------------------------------------------------
@OPS.op(31, components=("vgic",), requires=ANYWHERE, side="host",
        alphabet={"vgic": lambda c: [InjectSgi(0, SGIS[1], s) for s in range(min(c.vcpus, 2))]})
@attrs.frozen
class InjectSgi(Op):
    """Vcpu ``source``'s guest requests SGI ``intid`` for vcpu ``vcpu`` (the write's trap and its
    emulation, at some instant): GICv2's GICD_SGIR, whose target keeps one pending state per
    source and reports the source in GICV_IAR's CPUID; GICv3's ICC_SGI1R_EL1 (no source)."""

    intid: int = field(Choice(SGIS), SGIS[1])
    source: int = field(Index("vcpus", limit=8), 0)
    name: ClassVar[str] = "InjectSgi"

    def c_statement(self) -> str:
        return (f"/* vcpu{self.source}'s guest sends SGI {self.intid} to vcpu{self.vcpu}: "
                f"GICD_SGIR = (1 << (16 + {self.vcpu})) | {self.intid} (GICv2), or ICC_SGI1R_EL1 (GICv3) */")


# --- active and pending state from outside the CPU interface (issue 15) ---------------------------
#: the distributor/redistributor registers ``GuestGicWrite`` / ``UserGicWrite`` write (one bit:
#: the INTID's); append only.  GICD_* for SPIs, GICR_* (the ``vcpu``'s redistributor) for SGIs/PPIs;
#: IROUTER (SPIs only) takes ``target``
GIC_REGS: tuple[str, ...] = ("ISACTIVER", "ICACTIVER", "ISPENDR", "ICPENDR", "IROUTER")
GIC_REG = Choice(GIC_REGS, shrink_to=("ISPENDR", "ISACTIVER"))
_TARGET = Index("vcpus", limit=4)


def _gic_write_c(op: Op, who: str) -> str:
    reg = op.reg  # type: ignore[attr-defined]
    intid = op.intid  # type: ignore[attr-defined]
    frame = "GICD" if intid >= 32 or reg == "IROUTER" else f"GICR(vcpu{op.vcpu})"
    what = (f"{frame}_IROUTER{intid} = MPIDR of vcpu{op.target}" if reg == "IROUTER"  # type: ignore[attr-defined]
            else f"{frame}_{reg}{intid // 32} = BIT({intid % 32})")
    return f"/* {who}: {what} */"


def _gic_writes_small(c: VmShape) -> list[Op]:
    ops: list[Op] = [GuestGicWrite(0, r, _SPI_A) for r in ("ICACTIVER", "ICPENDR")]
    if c.vcpus > 1:  # a queued SPI rerouted (prune's migrate branch); another vcpu's ICACTIVER
        ops += [GuestGicWrite(0, "IROUTER", _SPI_A, target=1), GuestGicWrite(1, "ICACTIVER", _SPI_A)]
    return ops


@OPS.op(33, components=("vgic",), requires=(_W.GUEST,), side="guest", exits=True,
        alphabet={"vgic": _gic_writes_small})
@attrs.frozen
class GuestGicWrite(Op):
    """The guest writes one bit of a distributor (SPIs) or redistributor (its own SGIs/PPIs)
    register: GICD/GICR ISACTIVER, ICACTIVER, ISPENDR, ICPENDR, or GICD_IROUTER<intid> (routing an
    SPI to vcpu ``target``).  A data abort on the vgic's MMIO frame: the vcpu exits
    (``trap_mmio_vgic``) and the host emulates the write at its ``HandleExit`` (``io_mem_abort`` ->
    ``vgic_mmio_write_*``; the ``is_uaccess`` false paths: active-state writes halt the guest)."""

    reg: str = field(GIC_REG, "ISPENDR")
    intid: int = field(INTID, 32)
    target: int = field(_TARGET, 0)
    name: ClassVar[str] = "GuestGicWrite"

    def shown_fields(self) -> tuple[str, ...]:
        return ("reg", "intid") + (("target",) if self.reg == "IROUTER" else ())

    def c_statement(self) -> str:
        return _gic_write_c(self, "guest MMIO write")


def _user_gic_writes_small(c: VmShape) -> list[Op]:
    return [UserGicWrite(0, "ISACTIVER", _SPI_A), UserGicWrite(0, "ICPENDR", _SPI_A)]


@OPS.op(34, components=("vgic",), requires=(_W.USER,), side="host", alphabet={"vgic": _user_gic_writes_small})
@attrs.frozen
class UserGicWrite(Op):
    """Userspace writes the same register bit through the vgic device's KVM_SET_DEVICE_ATTR
    (KVM_DEV_ARM_VGIC_GRP_DIST_REGS for SPIs, _REDIST_REGS with ``vcpu``'s MPIDR for SGIs/PPIs):
    the ``uaccess`` accessors.  Applies only when no vcpu is in KVM_RUN (``vgic_v3_attr_regs_access``
    takes every vcpu's mutex: ``kvm_trylock_all_vcpus``, -EBUSY otherwise)."""

    reg: str = field(GIC_REG, "ISPENDR")
    intid: int = field(INTID, 32)
    target: int = field(_TARGET, 0)
    name: ClassVar[str] = "UserGicWrite"

    def shown_fields(self) -> tuple[str, ...]:
        return ("reg", "intid") + (("target",) if self.reg == "IROUTER" else ())

    def c_statement(self) -> str:
        if self.reg in ("ISACTIVER", "ISPENDR") and self.intid >= 32:
            fn = "kvm_irq_write_isactiver" if self.reg == "ISACTIVER" else "kvm_irq_write_ispendr"
            return f"{fn}(gic_fd, {self.intid}, vcpus[{self.vcpu}]);  /* KVM_DEV_ARM_VGIC_GRP_DIST_REGS */"
        return _gic_write_c(self, "userspace KVM_SET_DEVICE_ATTR (uaccess)")


@OPS.op(35, components=("vgic",), requires=(_W.GUEST,), side="guest",
        alphabet={"vgic": lambda c: [GuestSetApr(0, 0, 1 << (0x48 >> 3))]})
@attrs.frozen
class GuestSetApr(Op):
    """The guest writes ICV_AP1R<n>_EL1 (ICC_AP1R<n>_EL1 with HCR_EL2.IMO: the pCPU's
    ICH_AP1R<n>_EL2; not trapped by KVM).  Bit k of AP1R<n> is group priority 32n+k (the layout KVM
    and Arm's CPUs use); as ``vgic_irq.c``'s ``guest_restore_active`` does after userspace restored
    an active state.  ``n`` beyond the implemented APRs (ICH_VTR_EL2.PREbits) does not apply."""

    n: int = field(IntRange(4, shrink_to=(0,)), 0)
    #: the register value (its upper 32 bits are RES0: ignored)
    value: int = field(U64(neighbours=(0, 1, 0x100, 0x200, 0x300, 0x8000_0000), shrink_to=(0, 1), pool=POOL_NONE), 0)
    name: ClassVar[str] = "GuestSetApr"

    def c_statement(self) -> str:
        return f"write_sysreg_s({self.value:#x}, SYS_ICC_AP1R{self.n}_EL1); isb();"


# --- derived tables -------------------------------------------------------------------------------
#: every op kind, in opcode order
OP_CLASSES: tuple[type[Op], ...] = OPS.classes()
OPS_BY_NAME: dict[str, type[Op]] = {cls.name: cls for cls in OP_CLASSES}
COMPONENTS: tuple[str, ...] = ("pkvm", "vgic", "psci")

assert all(r in REG_INDEX for r in ONE_REGS)
assert set(EXIT_KIND_FIELDS) == set(EXIT_KINDS)
