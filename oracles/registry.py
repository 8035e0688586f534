"""Every oracle by name: what it checks and of which kind.  Verdicts and repro files name them."""

from __future__ import annotations

import attrs


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
    Oracle("hyp-vcpu-loaded-once", "invariant",
           "a hyp vcpu is loaded on at most one physical CPU, and a CPU's loaded hyp vcpu is "
           "the vcpu whose thread runs there"),
    Oracle("hyp-running-vcpu-null", "invariant",
           "__hyp_running_vcpu is NULL in a guest context"),
)

ORACLES: dict[str, Oracle] = {o.name: o for o in _ALL}
