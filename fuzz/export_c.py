"""A KVM selftest-style C skeleton of a trace (``hvfuzz export FILE --format c``), in the
conventions of ``tools/testing/selftests/kvm/arm64/`` (``vm_create_with_vcpus``, ``vcpu_run``,
``GUEST_SYNC``/``get_ucall``, ``vcpu_set_reg``, ``kvm_irq_line``, the guest GIC helpers of
``gic.h``, ``smccc_hvc`` for PSCI).

It is honest about what userspace can force.  Each vcpu's guest code is the sequence of its guest
ops, cut by ``GUEST_SYNC`` wherever the trace returns to the host.  The host side is the sequence of
ioctls.  What a selftest cannot choose is written as a comment at the place it happens: which
physical CPU a thread runs on (it can be pinned), preemption between exit and re-entry, the kind
and moment of an exit (IRQ exits come from host interrupts), and the pKVM lazy-sync state.  Whether
the hypervisor bug reproduces on hardware depends on those, so the skeleton is a starting point,
not a verdict.
"""

from __future__ import annotations

import os
import re
from typing import Any

from hvfuzz.fuzz.trace import Trace
from hvfuzz.model.vocab import ops as O

_PSCI_FN = {"CPU_ON": "PSCI_0_2_FN64_CPU_ON", "CPU_OFF": "PSCI_0_2_FN_CPU_OFF",
            "AFFINITY_INFO": "PSCI_0_2_FN64_AFFINITY_INFO", "SYSTEM_OFF": "PSCI_0_2_FN_SYSTEM_OFF",
            "SYSTEM_RESET": "PSCI_0_2_FN_SYSTEM_RESET", "SYSTEM_RESET2": "PSCI_1_1_FN64_SYSTEM_RESET2",
            "PSCI_VERSION": "PSCI_0_2_FN_PSCI_VERSION"}


#: ``gcc -fsyntax-only -I STUBS_DIR repro.c`` checks a skeleton without a kernel tree
STUBS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c_stubs")

#: helpers the skeleton defines itself (only those it uses), in selftest style
_HELPERS: dict[str, str] = {
    "DATA_GVA": "#define DATA_GVA\t\t0x40000000ULL\t/* a memslot the test adds for the guest's data pages */",
    "USER_MMIO_GVA": "#define USER_MMIO_GVA\t0x3e000000ULL\t/* no memslot: KVM_EXIT_MMIO to userspace */",
    "MMIO_GVA": "#define MMIO_GVA\t\t0x08000000ULL\t/* an in-kernel device frame (the GICD) */",
    "pin_to_cpu": """static void pin_to_cpu(int cpu)
{
\tcpu_set_t set;

\tCPU_ZERO(&set);
\tCPU_SET(cpu, &set);
\tTEST_ASSERT(!sched_setaffinity(0, sizeof(set), &set), "pin to CPU %d", cpu);
}
""",
    "run_until_sync": """/* KVM_RUN until the guest's next GUEST_SYNC/GUEST_DONE */
static void run_until_sync(struct kvm_vcpu *vcpu)
{
\tstruct ucall uc;

\tvcpu_run(vcpu);
\tswitch (get_ucall(vcpu, &uc)) {
\tcase UCALL_SYNC:
\tcase UCALL_DONE:
\t\tbreak;
\tcase UCALL_ABORT:
\t\tREPORT_GUEST_ASSERT(uc);
\t\tbreak;
\tdefault:
\t\tTEST_FAIL("unexpected exit %s", exit_reason_str(vcpu->run->exit_reason));
\t}
}
""",
    "vcpu_init_descriptor_again": """/* KVM_ARM_VCPU_INIT again (a reset), with or without KVM_ARM_VCPU_POWER_OFF */
static void vcpu_init_descriptor_again(struct kvm_vcpu *vcpu, bool power_off)
{
\tstruct kvm_vcpu_init init = { 0 };

\tvm_ioctl(vcpu->vm, KVM_ARM_PREFERRED_TARGET, &init);
\tif (power_off)
\t\tinit.features[0] |= 1 << KVM_ARM_VCPU_POWER_OFF;
\tvcpu_ioctl(vcpu, KVM_ARM_VCPU_INIT, &init);
}
""",
}


def _reg_id(reg: str) -> str:
    if reg.startswith("x") and reg[1:].isdigit():
        return f"ARM64_CORE_REG(regs.regs[{reg[1:]}])"
    core = {"sp": "regs.sp", "pc": "regs.pc", "pstate": "regs.pstate", "fpsr": "fp_regs.fpsr"}
    if reg in core:
        return f"ARM64_CORE_REG({core[reg]})"
    if reg.startswith("spsr_"):
        return f"ARM64_CORE_REG(spsr[KVM_SPSR_{reg[5:].upper()}])"
    if reg.startswith("v") and reg[1:].isdigit():
        return f"ARM64_CORE_REG(fp_regs.vregs[{reg[1:]}])"
    return f"KVM_ARM64_SYS_REG(SYS_{reg})"


def _guest_stmt(op: O.Op) -> str:
    if isinstance(op, O.GuestWriteReg):
        if op.reg.startswith("x") or op.reg in ("sp", "pc", "pstate", "fpsr") or op.reg.startswith(("v", "spsr")):
            return f"/* the guest sets {op.reg} = {op.value:#x} (inline asm) */"
        return f"write_sysreg({op.value:#x}, {op.reg.lower()}); isb();"
    if isinstance(op, O.GuestAck):
        return f"intid = gic_get_and_ack_irq();  /* ICV_IAR{op.group}_EL1 */"
    if isinstance(op, O.GuestEoi):
        return f"gic_set_eoi({op.intid});  /* ICV_EOIR{op.group}_EL1 */"
    if isinstance(op, O.GuestDir):
        return f"gic_set_dir({op.intid});"
    if isinstance(op, O.GuestSetPmr):
        return f"gic_set_priority_mask({op.value:#x});"
    if isinstance(op, O.GuestSetBpr):
        return f"write_sysreg_s({op.value}, SYS_ICC_BPR{op.group}_EL1); isb();"
    if isinstance(op, O.GuestSetGrpEn):
        return f"write_sysreg_s({int(op.enable)}, SYS_ICC_IGRPEN{op.group}_EL1); isb();"
    if isinstance(op, O.GuestSetEoiMode):
        return f"gic_set_eoi_split({int(op.eoimode)});"
    if isinstance(op, O.GuestAccess):
        return f"(void)READ_ONCE(*(volatile uint64_t *)(DATA_GVA + {op.page} * PAGE_SIZE));"
    if isinstance(op, O.GuestPsci):
        args = {"CPU_ON": (op.target, op.entry, op.context), "AFFINITY_INFO": (op.target, 0, 0),
                "SYSTEM_RESET2": (op.target, op.context, 0)}.get(op.fn, (0, 0, 0))
        a = ", ".join(f"{x:#x}" for x in args)
        return f"smccc_hvc({_PSCI_FN[op.fn]}, {a}, 0, 0, 0, 0, &res);  /* PSCI {op.fn}: x0 = res.a0 */"
    if isinstance(op, O.GuestExit):
        what = {"irq": "an IRQ exit: a host interrupt (timer, IPI) must land here; not forceable",
                "el1_serror": "an SError taken to EL2: needs a RAS error source; not forceable",
                "il": "an illegal exception return exit",
                "trap_mmio_read": "READ_ONCE(*(volatile uint64_t *)MMIO_GVA): an in-kernel device read",
                "trap_mmio_write": "WRITE_ONCE(*(volatile uint64_t *)MMIO_GVA, x): an in-kernel device write",
                "trap_sysreg_read": f"read_sysreg({op.reg.lower()}): trapped (HCR_EL2.TACR / MDCR_EL2)",
                "trap_sysreg_write": f"write_sysreg(x, {op.reg.lower()}): trapped",
                "trap_mmio_user": "READ_ONCE(*(volatile uint64_t *)USER_MMIO_GVA): KVM_EXIT_MMIO to the host"}
        pending = " with an SError pending at the exit (not forceable)" if op.serror_pending else ""
        return f"/* exit: {what[op.kind]}{pending} */"
    return f"/* {op.name} */"


def _host_stmt(op: O.Op, trace: Trace) -> str:
    v = f"vcpus[{op.vcpu}]"
    if isinstance(op, O.KvmRun):
        return (f"pin_to_cpu({op.pcpu});  /* the model's pCPU {op.pcpu} */\n"
                f"\trun_until_sync({v});  /* KVM_RUN */")
    if isinstance(op, O.HandleExit):
        return f"/* vcpu{op.vcpu}: the host handles the exit (inside KVM_RUN) */"
    if isinstance(op, O.ExitToUser):
        return f"/* vcpu{op.vcpu}: KVM_RUN returns (a signal: pthread_kill the vcpu thread) */"
    if isinstance(op, O.SchedOut):
        return f"/* vcpu{op.vcpu}: preempted between exit and re-entry (not forceable; sched_yield/pinning help) */"
    if isinstance(op, O.SchedIn):
        return f"/* vcpu{op.vcpu}: scheduled back in on pCPU {op.pcpu} (migration if it differs) */"
    if isinstance(op, O.UserSetReg):
        return f"vcpu_set_reg({v}, {_reg_id(op.reg)}, {op.value:#x});"
    if isinstance(op, O.UserGetReg):
        return f"val = vcpu_get_reg({v}, {_reg_id(op.reg)});  /* the oracle compares this */"
    if isinstance(op, O.HostInjectSError):
        return (f"events = (struct kvm_vcpu_events){{ .exception.serror_pending = 1, .exception.serror_has_esr = 1,"
                f" .exception.serror_esr = {op.esr:#x} }};\n\tvcpu_events_set({v}, &events);")
    if isinstance(op, O.UserGetVcpuEvents):
        return f"vcpu_events_get({v}, &events);  /* serror_pending */"
    if isinstance(op, O.UserSetGuestDebug):
        flags = "KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP" if op.single_step else "0"
        return f"vcpu_guest_debug_set({v}, &(struct kvm_guest_debug){{ .control = {flags} }});"
    if isinstance(op, O.HostPmuOverflow):
        return f"/* a PMU counter {op.counter} overflow in the host (perf): not forceable from a selftest */"
    if isinstance(op, O.InjectIrq):
        if op.intid < 16:
            return f"/* SGI {op.intid} to vcpu{op.vcpu}: another vcpu's guest writes ICC_SGI1R_EL1 */"
        if op.intid < 32:
            return f"kvm_arm_irq_line(vm, {op.intid}, {int(op.level)});  /* PPI of vcpu{op.vcpu} */"
        return f"kvm_irq_line(vm, {op.intid}, {int(op.level)});  /* SPI (KVM_IRQ_LINE) */"
    if isinstance(op, O.ConfigIrq):
        return (f"/* distributor: INTID {op.intid} {'enabled' if op.enabled else 'disabled'}, priority "
                f"{op.priority:#x}, group {op.group}, {'level' if op.level else 'edge'}, target vcpu{op.target}: "
                f"the guest's gic_irq_enable/gic_set_priority/gic_irq_set_config, or GICD MMIO from the host */")
    if isinstance(op, O.UserVcpuInit):
        feat = " with KVM_ARM_VCPU_POWER_OFF" if op.power_off else ""
        return f"vcpu_init_descriptor_again({v}, {str(op.power_off).lower()});  /* KVM_ARM_VCPU_INIT{feat} */"
    if isinstance(op, O.UserSetMpState):
        return f"vcpu_mp_state_set({v}, &(struct kvm_mp_state){{ .mp_state = KVM_MP_STATE_{op.state} }});"
    if isinstance(op, O.UserGetMpState):
        return f"vcpu_mp_state_get({v}, &mp);"
    return f"/* {op.name} */"


def c_text(trace: Trace, recorded: dict[str, Any] | None, name: str) -> str:
    """The C skeleton of ``trace`` (replayed once, to know which entries happen)."""
    from hvfuzz.fuzz.runner import run_recorded

    _, rows = run_recorded(trace)
    entered = {r.index for r in rows if isinstance(r.op, O.GuestEnter) and r.vcpus[r.op.vcpu]["phase"] == "guest"}
    reset_at = {r.index for r in rows if any(o[0] == "psci-power" and "kvm_reset_vcpu" in o[2] for o in r.observations)}
    c = trace.config
    n = c.vcpus
    status = (recorded or {}).get("status", "pass")
    why = f"{recorded.get('oracle')} at step {recorded.get('step')}: {recorded.get('reason', '')}" \
        if recorded and status == "fail" else "no violation recorded"
    in_guest = [False] * n
    guest: list[list[str]] = [[] for _ in range(n)]
    host: list[str] = []
    for i, op in enumerate(trace.ops):
        v = op.vcpu
        if isinstance(op, O.GuestEnter):
            if i in entered:
                in_guest[v] = True
                guest[v].append(f"/* step {i}: entry */" if i not in reset_at else
                                f"/* step {i}: entry from the reset state (CPU_ON entry point / INIT): in a real "
                                f"test a separate secondary entry function starts here */")
            else:
                host.append(f"/* step {i}: vcpu{v}'s KVM_RUN blocks in kvm_vcpu_sleep (powered off) */")
            continue
        if op.name.startswith("Guest") and in_guest[v]:
            guest[v].append(f"/* step {i} */ {_guest_stmt(op)}")
            if isinstance(op, (O.GuestExit, O.GuestPsci)) or isinstance(op, O.GuestAccess):
                in_guest[v] = False
                guest[v].append(f"GUEST_SYNC({i});")
                host.append(f"/* step {i}: vcpu{v} exits (GUEST_SYNC({i})) */")
            continue
        host.append(f"/* step {i} */ {_host_stmt(op, trace)}")
    guest_fns = []
    for v in range(n):
        body = "\n\t".join(guest[v] or ["/* never enters the guest */"])
        guest_fns.append(f"static void guest_code_vcpu{v}(void)\n{{\n\tstruct arm_smccc_res res;\n\tuint64_t intid;\n\n"
                         f"\t(void)res; (void)intid;\n\t{body}\n\tGUEST_DONE();\n}}\n")
    hosts = "\n\t".join(host)
    used = "\n".join(guest_fns) + hosts
    defines = [h for n, h in _HELPERS.items() if h.startswith("#define") and re.search(r"\b" + n + r"\b", used)]
    helpers = [h for n, h in _HELPERS.items() if not h.startswith("#define") and f"{n}(" in used]
    return f"""// SPDX-License-Identifier: GPL-2.0
/*
 * hvfuzz reproducer skeleton, exported from {name}
 * variant {c.variant}: {why}
 * VM: {n} vcpu(s) on {c.pcpus} pCPU(s), {c.nr_lrs} list registers, {'protected' if c.protected else 'non-protected'}
 *
 * A starting point in the style of tools/testing/selftests/kvm/arm64/, not a verdict: userspace
 * cannot choose exit kinds and timing, preemption, or the pKVM lazy-sync state (DIRTY), which the
 * model's trace fixes at every step (see the comments).  On a kernel with the bug the failure shows
 * only if those happen as in the trace.  Helper names follow kvm_util.h, gic.h and vgic.h; check
 * them against your tree.
 *
 * Syntax check without a kernel tree (stub declarations shipped with hvfuzz):
 *     gcc -fsyntax-only -I {STUBS_DIR} <this file>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* sched_setaffinity */
#endif
#include <sched.h>
#include <linux/psci.h>

#include "kvm_util.h"
#include "processor.h"
#include "gic.h"
#include "vgic.h"
#include "ucall.h"

#define NR_VCPUS {n}
{chr(10).join(defines)}

{chr(10).join(helpers)}
{chr(10).join(guest_fns)}
int main(void)
{{
	struct kvm_vcpu *vcpus[NR_VCPUS];
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	struct kvm_vm *vm;
	uint64_t val;

	vm = vm_create_with_vcpus(NR_VCPUS, guest_code_vcpu0, vcpus);
	/* each vcpu runs guest_code_vcpu<N>: vcpu_arch_set_entry_point(vcpus[N], guest_code_vcpuN) */
	vgic_v3_setup(vm, NR_VCPUS, 64);
	(void)events; (void)mp; (void)val;

	{hosts}

	kvm_vm_free(vm);
	return 0;
}}
"""
