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
        if op.spec.side == "guest" and in_guest[v]:
            guest[v].append(f"/* step {i} */ {op.c_statement()}")
            if op.spec.exits:
                in_guest[v] = False
                guest[v].append(f"GUEST_SYNC({i});")
                host.append(f"/* step {i}: vcpu{v} exits (GUEST_SYNC({i})) */")
            continue
        # a guest op while the vcpu is not in the guest does nothing: named, not written out
        host.append(f"/* step {i} */ {op.c_statement() if op.spec.side == 'host' else f'/* {op.name} */'}")
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
	int gic_fd;

	vm = vm_create_with_vcpus(NR_VCPUS, guest_code_vcpu0, vcpus);
	/* each vcpu runs guest_code_vcpu<N>: vcpu_arch_set_entry_point(vcpus[N], guest_code_vcpuN) */
	gic_fd = vgic_v3_setup(vm, NR_VCPUS, 64);
	(void)events; (void)mp; (void)val; (void)gic_fd;

	{hosts}

	kvm_vm_free(vm);
	return 0;
}}
"""
