"""The value domains generation draws from, simplest first (each shrinks towards its first
value under Hypothesis).  Repeated values weigh the common case."""

from __future__ import annotations

from hvfuzz.fuzz.gen.choosers import Weights, booleans, ints, one_of, sampled, unique_lists
from hvfuzz.model.regs import PSTATE_FAULT_BITS_64, SCTLR_ELx_EE
from hvfuzz.model.vocab import ops as O

#: Values a register write draws from.
VALUES = sampled([1, 2, 0x1000, SCTLR_ELx_EE, 0xFFFF_FFFF_FFFF_FFFF, 0])
#: PSTATE values a guest can be in: EL1h with SErrors unmasked first, then the other modes/masks.
PSTATES = sampled([0x5, PSTATE_FAULT_BITS_64, 0x4, 0x0, 0x105, 0x45, 0x1C5])
EXIT_KINDS = sampled(O.EXIT_KINDS)
#: SError-pending exits are rarer than plain ones (and shrink to "not pending").
SERROR_PENDING = sampled([False, False, False, True])
GPR = sampled([0, 1, 2, 30])
TRAPPED = sampled(O.TRAPPED_SYSREGS)
INTIDS = sampled(O.SPIS + O.SGIS + O.PPIS)
ENABLED = sampled([True, True, True, False])
PRIORITIES = sampled([0xA0, 0x80, 0x40, 0x48, 0x20, 0xA8, 0xF0])
PMRS = sampled([0xF0, 0xFF, 0x80, 0x30, 0x00])
GROUPS = sampled([1, 1, 0])
GUEST_REGS = sampled(O.GUEST_REGS)
ONE_REGS = sampled(O.ONE_REGS)
#: what userspace reads: the registers the run loop and exit handlers touch first, then the rest
GET_REGS = one_of(sampled(("pc", "x0", "pstate", "x1", "ESR_EL1", "x2")), ONE_REGS)
#: usually (a guest takes the interrupt, a call is handled, a kicked vcpu exits, ...)
TAKES = sampled([True, True, True, False])
KICK = sampled([True, True, False])
#: the SGIs a sender names (``send_sgi``)
SGIS = sampled([1, 2])
HANDLING = sampled(["eoi", "defer", "eoi+dir", "defer", "handoff"])
USER_OPS = sampled(("set_reg", "get_reg", "inject_serror", "get_vcpu_events", "set_guest_debug"))
#: PSCI calls, the power-state ones first; then (issue 13) the SMC32 CPU_ON whose arguments KVM
#: narrows, PSCI_FEATURES, SYSTEM_OFF2 and the SMC32 SYSTEM_RESET2 that writes x0 only (the other
#: new functions, SYSTEM_SUSPEND and an unknown ID, have one outcome each: mutation reaches them)
PSCI_CALLS = sampled(["CPU_ON", "CPU_OFF", "CPU_ON", "SYSTEM_RESET", "AFFINITY_INFO", "SYSTEM_OFF",
                      "SYSTEM_RESET2", "PSCI_VERSION", "CPU_ON_32", "PSCI_FEATURES", "SYSTEM_OFF2",
                      "SYSTEM_RESET2_32", "CPU_OFF"])
#: the function IDs PSCI_FEATURES asks about: ones KVM implements, SYSTEM_OFF2 (answered with its
#: hibernate types), SYSTEM_SUSPEND (not enabled), an SMC64 ID no function has, no PSCI ID at all
FEATURE_IDS = sampled([0xC4000003, 0x84000000, 0xC4000015, 0xC400000E, 0xC4000002, 0x1000])
ENTRIES = sampled([0x80000, 0x1000, 0x90000])
CONTEXTS = sampled([0, 7, 0xFFFF_FFFF_FFFF_FFFF])
RESET_TYPES = sampled([0, 0, 1])
SERROR_ESRS = sampled([1, 0x10, 0])
PMU_COUNTERS = sampled([0, 1, 30])
BPRS = sampled([0, 3, 2, 4])
GRPEN = sampled([True, True, False])
GRP0 = sampled([False, True])
PAGES = sampled(O.PAGES)
USER_POWER = sampled(["init", "init", "init_off", "set_runnable", "set_stopped", "get"])
FLAG = booleans()
#: the distributor/redistributor registers a guest writes (issue 15 item 6), the common ones twice
GUEST_GIC_REGS = sampled(["ICACTIVER", "ISPENDR", "ICPENDR", "IROUTER", "ISACTIVER", "ICACTIVER", "ICPENDR",
                          "IROUTER"])
#: what another vcpu writes of an SPI live on a running vcpu
ELSEWHERE_REGS = sampled(["IROUTER", "ICPENDR", "ICACTIVER", "ISPENDR"])
#: what userspace writes with every vcpu stopped: a migration's restore of active state first
USER_GIC_REGS = sampled(["ISACTIVER", "ISACTIVER", "ISPENDR", "ICPENDR", "IROUTER", "ICACTIVER"])
BURST = ints(2, 3)
UNWIND = ints(0, 3)
#: how many times a level SPI whose line stays high is taken (``level_redelivery``)
ROUNDS = ints(2, 3)
#: n distinct priorities (a preemption chain), by n
PRIORITY_CHAINS = {n: unique_lists(PRIORITIES, n, n) for n in BURST}
#: the example's interrupt pool
POOLS = unique_lists(INTIDS, 2, 4)
#: Small VMs more often; protected VMs (full copy, no lazy sync) now and then.
PROTECTED = sampled([False, False, False, False, True])
LRS = sampled([1, 1, 2, 4, 3])


def vcpus(n: int) -> Weights[int]:
    return sampled([k for k in (1, 1, 2, 2, 3, 4) if k <= n])


def pcpus(n: int) -> Weights[int]:
    return sampled([k for k in (1, 2, 2, 3, 4) if k <= n])
