"""Every oracle by name: what it checks and of which kind.  Verdicts and repro files name them.

And the chain (``JUDGES``): the judges an ``Execution`` runs after every op, in order, each
serving a component.  The first failing one names the verdict, so the order is part of every
repro's signature: the differential comparison, pKVM's invariants on the variant then on the
reference, the architectural GIC (``GicChecker`` with ``ArchGic``), the vgic's LR invariants,
``ArchPsci`` and ``ArchVcpu``.  ``judges_for`` picks a run's judges; every run gets all of them by default.
The exhaustive search keys its states on every built judge's ``state_key``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from hvfuzz.model.pkvm.invariants import PkvmInvariants
from hvfuzz.model.vgic.invariants import VgicInvariants
from hvfuzz.oracles.arch_psci import ArchPsci
from hvfuzz.oracles.arch_vcpu import ArchVcpu
from hvfuzz.oracles.checks import Differential
from hvfuzz.oracles.gic_checks import GicChecker


@attrs.frozen
class Oracle:
    name: str
    kind: str  # "differential" or "invariant"
    description: str


_ALL = (
    Oracle("applicability", "differential",
           "the op applies (or is a no-op) in the variant exactly when it does in the reference"),
    Oracle("guest-entry", "differential",
           "at every guest entry the guest resumes with the same registers, timer state and "
           "pending virtual SError (ISR_EL1.A) as in the reference"),
    Oracle("exit-pc", "differential",
           "trace_kvm_exit reports the guest's real exit PC"),
    Oracle("run-loop-pstate", "differential",
           "the run loop's PSTATE reads (serror_is_masked, vcpu_mode_is_bad_32bit) see the "
           "guest's current PSTATE"),
    Oracle("trap-read", "differential",
           "trap handlers read the guest's current registers (MMIO/sysreg write data, "
           "SCTLR_EL1.EE for MMIO endianness)"),
    Oracle("one-reg", "differential",
           "KVM_GET_ONE_REG returns the vcpu's current register value"),
    Oracle("vcpu-events", "differential",
           "KVM_GET_VCPU_EVENTS reports a virtual SError pending exactly when one is"),
    Oracle("gic-iar", "differential", "the variant and the reference system (same vgic) acknowledge alike"),
    Oracle("gic-dir", "differential", "the variant and the reference system handle a DIR alike"),
    Oracle("gic-rpr", "differential",
           "the variant and the reference system show the same running priority after a CPU-interface access"),
    Oracle("gic-active", "differential",
           "the variant and the reference system hold the same interrupts active at a guest entry"),
    Oracle("gic-S1-validity", "differential",
           "an acknowledge returns an interrupt that was pending, enabled and targeting the vcpu since the "
           "last sync, not already active, and allowed by PMR and the running priority (ArchGic)"),
    Oracle("gic-S3-active-lost", "differential", "an interrupt the architecture holds active is active in the vgic"),
    Oracle("gic-S4-running-priority", "differential", "ICV_RPR_EL1 equals ArchGic's running priority"),
    Oracle("gic-S5-group", "differential", "IAR<g> returns only group g interrupts, only with group g enabled"),
    Oracle("gic-API-injection-refused", "differential",
           "an injection (KVM_IRQ_LINE, an SGI) to an interrupt the VM has is not refused, unless it changes nothing "
           "(the same level again, or level 0 on an edge interrupt) (ArchGic)"),
    Oracle("gic-O1-priority-inversion", "differential",
           "no acknowledge of X while a higher-priority interrupt was a candidate at every step since the sync"),
    Oracle("gic-O2-strict-at-sync", "differential",
           "the first acknowledge after a guest entry returns what an ideal GIC allows (finds interrupts stuck "
           "outside the LRs: the live-lock, L1)"),
    Oracle("gic-L2-deactivation-lost", "differential", "a guest deactivation has landed by the next sync"),
    Oracle("gic-I1-duplicate-lr", "invariant", "no vINTID in two valid LRs"),
    Oracle("gic-I3-level-lr", "invariant", "a level (software-resampled) LR has EOI set and is never P+A"),
    Oracle("gic-I4-top-n", "invariant", "no deliverable pending interrupt outside the LRs beats a pending LR"),
    Oracle("gic-I5-mi-config", "invariant",
           "whenever interrupts sit outside the LRs or a group toggle matters, an MI / DIR trap is armed"),
    Oracle("gic-I7-used-lrs", "invariant", "used_lrs never exceeds the implemented LRs"),
    Oracle("gic-hcr-armed-in-host", "invariant", "ICH_HCR_EL2 holds no trap or MI bit while the host runs"),
    Oracle("psci-call", "differential", "a PSCI call's handler returns as in the reference"),
    Oracle("psci-power", "differential", "vcpu threads sleep, wake and reset as in the reference"),
    Oracle("psci-system-event", "differential", "system events exit to userspace as in the reference"),
    Oracle("psci-system-event-flags", "differential",
           "a system event's data[0] flags (PSCI_RESET2, PSCI_OFF2) are as in the reference"),
    Oracle("psci-stage2", "differential", "guest accesses hit or fault in stage 2 as in the reference"),
    Oracle("psci-mp-state", "differential", "KVM_GET_MP_STATE reports as in the reference"),
    Oracle("psci-P1-no-progress-while-off", "invariant",
           "a powered-off vcpu never enters the guest (after CPU_OFF, SYSTEM_OFF/RESET, INIT with POWER_OFF, "
           "KVM_SET_MP_STATE STOPPED) until CPU_ON, INIT or KVM_SET_MP_STATE RUNNABLE (ArchPsci)"),
    Oracle("psci-P2-reset-state", "invariant",
           "the first entry after CPU_ON starts at its entry point with x0 = its context id and PSTATE = "
           "EL1h with DAIF masked; after KVM_ARM_VCPU_INIT from the reset state plus userspace's ONE_REG writes"),
    Oracle("psci-P3-return", "invariant",
           "each PSCI call returns what PSCI allows in the power states ArchPsci holds (ALREADY_ON, "
           "INVALID_PARAMS, AFFINITY_INFO ON/OFF, INTERNAL_FAILURE after a system event, ...)"),
    Oracle("psci-P4-system-event", "invariant",
           "SYSTEM_OFF/RESET/RESET2/OFF2 exit to userspace with KVM_EXIT_SYSTEM_EVENT of their type and data[0] "
           "flag (PSCI_RESET2, PSCI_OFF2), nothing else does"),
    Oracle("psci-P5-stage2-fresh", "invariant",
           "after KVM_ARM_VCPU_INIT of a vcpu that has run, each page's first access faults in stage 2"),
    Oracle("psci-P6-mp-state", "invariant", "KVM_GET_MP_STATE says STOPPED exactly when the vcpu is off"),
    Oracle("psci-P7-runnable-runs", "invariant", "KVM_RUN on a vcpu that is on does not block"),
    Oracle("vcpu-V1-one-reg", "invariant",
           "KVM_GET_ONE_REG returns the architectural value: the state at the last exit with completed "
           "instructions retired (an MMIO read only after the next KVM_RUN), a pending reset applied and "
           "userspace's writes (ArchVcpu)"),
    Oracle("vcpu-V2-vcpu-events", "invariant",
           "KVM_GET_VCPU_EVENTS reports serror_pending (and its ESR) exactly while a virtual SError is pending "
           "(ArchVcpu)"),
    Oracle("vcpu-V3-entry-state", "invariant",
           "the guest resumes with its state at exit plus exactly the changes the ops justify (MMIO/sysreg "
           "emulation, PSCI return in x0, SMC stepped, its own writes) (ArchVcpu)"),
    Oracle("vcpu-V4-reset-state", "invariant",
           "after KVM_ARM_VCPU_INIT or PSCI CPU_ON the vcpu has the reset state api.rst / PSCI define (GPRs, "
           "FP/SIMD, PC, x0, PSTATE, SCTLR_EL1.EE, MPIDR_EL1 naming the vcpu); UNKNOWN parts stay stable "
           "(ArchVcpu)"),
    Oracle("vcpu-V5-exception-entry", "invariant",
           "a taken SError enters at VBAR_EL1 + source-mode offset + 0x180 with ELR_EL1, SPSR_EL1, PSTATE "
           "and ESR_EL1 as AArch64.TakeException gives (ArchVcpu)"),
    Oracle("vcpu-V6-serror-pending", "invariant",
           "ISR_EL1.A at entry is 1 exactly while a masked virtual SError is pending; it is taken once the "
           "guest unmasks, exactly once (ArchVcpu)"),
    Oracle("vcpu-V7-debug-mdscr", "invariant",
           "the CPU runs the guest with its own MDSCR_EL1, or with MDSCR_EL1.SS set while userspace "
           "single-steps it (ArchVcpu)"),
    Oracle("vcpu-V8-run-returns", "invariant",
           "KVM_RUN returns to userspace only with an exit reason (KVM_EXIT_MMIO, KVM_EXIT_SYSTEM_EVENT, "
           "KVM_EXIT_FAIL_ENTRY) or for a signal; exits the kernel handles re-enter the guest (ArchVcpu)"),
    Oracle("hyp-vcpu-loaded-once", "invariant",
           "a hyp vcpu is loaded on at most one physical CPU, and a CPU's loaded hyp vcpu is "
           "the vcpu whose thread runs there"),
    Oracle("hyp-vcpu-loaded-at-run", "invariant",
           "a vcpu thread in KVM_RUN on a CPU has its own hyp vcpu loaded there and SVCR clear (else "
           "__kvm_vcpu_run returns early, without a flush or a run)"),
)

ORACLES: dict[str, Oracle] = {o.name: o for o in _ALL}


COMPONENTS: tuple[str, ...] = ("pkvm", "vgic", "psci")


@attrs.frozen
class Judge:
    """One member of the chain.  ``make(vcpus, pri_bits, gic_version)`` builds it for a run.  An oracle is
    judged from the step (``after(step)``); a white-box invariant checks the systems named in
    ``systems`` ("sut": the variant, "ref": the reference), each with ``after(step, system)``.
    ``name`` is the ``Execution`` attribute it is reachable under (``gic``, ``psci``)."""

    name: str
    components: frozenset[str]
    make: Callable[[int, int, int], Any]
    systems: tuple[str, ...] = ()


JUDGES: tuple[Judge, ...] = (
    Judge("differential", frozenset(COMPONENTS), lambda vcpus, pri_bits, gic_version: Differential()),
    Judge("pkvm_invariants", frozenset({"pkvm"}), lambda vcpus, pri_bits, gic_version: PkvmInvariants(),
          ("sut", "ref")),
    Judge("gic", frozenset({"vgic"}), GicChecker),
    Judge("vgic_invariants", frozenset({"vgic"}), lambda vcpus, pri_bits, gic_version: VgicInvariants(), ("sut",)),
    Judge("psci", frozenset({"psci"}), lambda vcpus, pri_bits, gic_version: ArchPsci(vcpus)),
    # appended at the end: the verdicts of the judges before it (and so every repro's signature) stay
    Judge("vcpu", frozenset(COMPONENTS), lambda vcpus, pri_bits, gic_version: ArchVcpu(vcpus)),
)


def judges_for(components: Iterable[str] = COMPONENTS) -> tuple[Judge, ...]:
    """The judges a run over ``components`` gets, in chain order (default: every judge)."""
    want = set(components)
    return tuple(j for j in JUDGES if j.components & want)
