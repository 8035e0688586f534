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
#: ICV_RPR_EL1 after a guest CPU-interface access (IAR, EOIR, DIR, PMR, BPR, IGRPEN, CTLR.EOImode):
#: the running priority the guest would read back.  For an acknowledge it precedes ``GIC_IAR``,
#: which stays the op's last observation.
GIC_RPR = "gic-rpr"
#: at a guest entry, the vcpu's interrupts (its SGIs/PPIs, every SPI) as a GICD_ISACTIVER<n> /
#: GICR_ISACTIVER0 read by userspace would show their active state: ``(active, queued)`` with
#: ``active`` the INTIDs held active and ``queued`` ``(intid, vcpu, in_flight)`` for each SPI on
#: a vcpu's ap_list, ``in_flight`` when that vcpu's LRs may hold a newer state (it runs, or the
#: interrupt is in its LRs): KVM halts the guest for such a read (vgic_access_active_prepare).
GIC_ACTIVE = "gic-active"
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
#: a system event's ``run->system_event.data[0]`` (KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2,
#: KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2)
PSCI_SYSTEM_EVENT_FLAGS = "psci-system-event-flags"

KINDS: tuple[str, ...] = (
    APPLICABILITY, GUEST_ENTRY, EXIT_PC, RUN_LOOP_PSTATE, TRAP_READ, ONE_REG, VCPU_EVENTS, GIC_IAR,
    GIC_DIR, GIC_RPR, GIC_ACTIVE, PSCI_CALL, PSCI_POWER, PSCI_MP_STATE, PSCI_SYSTEM_EVENT, PSCI_STAGE2,
    PSCI_SYSTEM_EVENT_FLAGS,
)
