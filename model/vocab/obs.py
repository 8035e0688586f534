"""Observations: what an op let the host, userspace or the guest see.

``System.apply(op)`` returns a list of ``(kind, vcpu, what, value)`` tuples (plain tuples: they
are on the hot path, and the differential oracle compares whole lists).  The first one of every
op is ``APPLICABILITY``: whether the op applied at all.  ``kind`` names what was observed, and a
differential failure is blamed on it, so these names are part of the repro signature.
"""

from __future__ import annotations

from typing import Any

Observation = tuple[str, int, str, Any]

#: whether the op applied (every op's first observation)
APPLICABILITY = "applicability"
#: the context a guest resumes with at entry (``System.guest_view``)
GUEST_ENTRY = "guest-entry"
#: the vcpu's PC as the host reads it at an exit
EXIT_PC = "exit-pc"
#: PSTATE as the run loop reads it (vcpu_mode_is_bad_32bit, the pending-SError check)
RUN_LOOP_PSTATE = "run-loop-pstate"
#: a trapped access's result as the guest reads it back (MMIO read data, emulated sysreg)
TRAP_READ = "trap-read"
#: KVM_GET_ONE_REG
ONE_REG = "one-reg"
#: KVM_GET_VCPU_EVENTS
VCPU_EVENTS = "vcpu-events"
#: the INTID an ICV_IAR<n>_EL1 read returned
GIC_IAR = "gic-iar"
#: how an ICV_DIR_EL1 write was handled (in hardware, trapped, ignored)
GIC_DIR = "gic-dir"
#: a PSCI call and its return value: ``(fn, ret)``
PSCI_CALL = "psci-call"
#: a vcpu's power state as PSCI sees it
PSCI_POWER = "psci-power"
#: KVM_GET_MP_STATE
PSCI_MP_STATE = "psci-mp-state"
#: a system event KVM_RUN reported to userspace (SYSTEM_OFF / RESET)
PSCI_SYSTEM_EVENT = "psci-system-event"
#: a stage-2 access: hit or fault
PSCI_STAGE2 = "psci-stage2"

KINDS: tuple[str, ...] = (
    APPLICABILITY, GUEST_ENTRY, EXIT_PC, RUN_LOOP_PSTATE, TRAP_READ, ONE_REG, VCPU_EVENTS, GIC_IAR,
    GIC_DIR, PSCI_CALL, PSCI_POWER, PSCI_MP_STATE, PSCI_SYSTEM_EVENT, PSCI_STAGE2,
)
