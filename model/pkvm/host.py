"""Host (EL1) side of the run loop: arch/arm64/kvm/arm.c, handle_exit.c, inject_fault.c,
arch_timer.c, mmio.c, guest.c, as far as they read or write the vcpu context.

The functions take the ``System`` (``model/system.py``) and a host vcpu.  Under pKVM they call
the EL2 functions of ``hyp_main`` as the kernel's hypercalls do; without pKVM (the ``reference``
semantics) the guest runs on the host vcpu itself and no copy exists.

Every place where the host *reads* the context records an observation (``System.observe``):
those are the points where the differential oracle compares implementations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvfuzz.model.pkvm import hyp_main
from hvfuzz.model.pkvm.state import (
    EXCEPT_AA64_EL1_SERR,
    INCREMENT_PC,
    PENDING_EXCEPTION,
    PKVM_HOST_STATE_DIRTY,
    Fault,
    HostVcpu,
    Phase,
)
from hvfuzz.model.regs import (
    HCR_VSE,
    IDX_PC,
    IDX_PSTATE,
    MASK64,
    PSR_A_BIT,
    PSR_MODE32_BIT,
    PSR_MODE_MASK,
    TIMER_INDICES,
    ESR_ELx_EC_SERROR,
    ESR_ELx_EC_SHIFT,
    ESR_ELx_ISS_MASK,
    ESR_ELx_ISV,
    PSR_MODE_EL0t,
    SCTLR_ELx_EE,
    sysreg_index,
)

if TYPE_CHECKING:
    from hvfuzz.model.system import System

IDX_SCTLR = sysreg_index("SCTLR_EL1")
IDX_ESR = sysreg_index("ESR_EL1")
IDX_MDSCR = sysreg_index("MDSCR_EL1")
IDX_PMOVSSET = sysreg_index("PMOVSSET_EL0")
MDSCR_EL1_SS = 1 << 0
MDSCR_EL1_KDE = 1 << 13
MDSCR_EL1_MDE = 1 << 15
#: sysregs whose trapped writes KVM stores (ACTLR_EL1 writes are ignored: access_actlr)
_STORED_ON_WRITE = frozenset({"PMCR_EL0", "PMSELR_EL0"})


# --- vcpu load / put (arm.c) --------------------------------------------------------------------
def kvm_arch_vcpu_load(s: System, v: HostVcpu, pcpu: int) -> None:
    """``kvm_arch_vcpu_load``: ``__pkvm_vcpu_load`` and ``__vgic_v3_restore_vmcr_aprs`` (the host's
    VMCR and APRs into the hyp's vgic copy), then ``kvm_timer_vcpu_load`` (restore the timer
    registers from the host context into the CPU)."""
    cpu = s.pcpus[pcpu]
    v.pcpu = pcpu
    cpu.thread = v.idx
    if s.pkvm:
        hyp = s.hyp[v.idx]
        s.hooks.handle___pkvm_vcpu_load(hyp, cpu, v.idx)
        if hyp.loaded_on == pcpu:
            s.hooks.handle___vgic_v3_restore_vmcr_aprs(hyp.vgic_cpu_if, v.vgic_cpu_if)
    cpu.hw_timer[:] = [v.arch.ctxt[i] for i in TIMER_INDICES]  # kvm_timer_vcpu_load
    kvm_vcpu_load_debug(s, v)


def kvm_vcpu_load_debug(s: System, v: HostVcpu) -> None:
    """``kvm_vcpu_load_debug`` (debug.c): userspace debugging -> the host owns debug and
    ``setup_external_mdscr`` builds the MDSCR_EL1 to run with (the guest's, plus SS for
    single-step and KDE); otherwise the guest owns it if its MDSCR_EL1 enables debug."""
    a = v.arch
    mdscr = a.ctxt[IDX_MDSCR]
    if v.guest_debug:
        a.debug_owner = "host"
        a.external_mdscr_el1 = mdscr | MDSCR_EL1_SS | MDSCR_EL1_KDE
    else:
        a.debug_owner = "guest" if mdscr & (MDSCR_EL1_KDE | MDSCR_EL1_MDE) else "free"


def kvm_arch_vcpu_put(s: System, v: HostVcpu) -> None:
    """``kvm_arch_vcpu_put``: ``__vgic_v3_save_aprs`` (hyp -> host APRs; before cf72ee637119
    ``__vgic_v3_save_vmcr_aprs``, VMCR too) and ``__pkvm_vcpu_put``; seed: set
    PKVM_HOST_STATE_DIRTY for a non-protected VM ("__pkvm_vcpu_put implies a sync of the
    state"); then ``kvm_timer_vcpu_put`` (save the CPU's timer registers into the host context)."""
    assert v.pcpu is not None
    cpu = s.pcpus[v.pcpu]
    if s.pkvm:
        p = s.policy
        hyp = s.hyp[v.idx]
        if hyp.loaded_on == cpu.idx:
            s.hooks.handle___vgic_v3_save_aprs(p, hyp.vgic_cpu_if, v.vgic_cpu_if)
        s.hooks.handle___pkvm_vcpu_put(p, s.hyp[v.idx], cpu, v.arch, s.protected)
        if p.lazy and not s.protected and p.dirty_at_put:
            v.arch.iflags |= PKVM_HOST_STATE_DIRTY
    for i, val in zip(TIMER_INDICES, cpu.hw_timer, strict=True):  # kvm_timer_vcpu_put
        v.arch.ctxt[i] = val
    cpu.thread = None
    v.pcpu = None


def kvm_arch_vcpu_run_pid_change(s: System, v: HostVcpu) -> None:
    """``kvm_arch_vcpu_run_pid_change`` (first KVM_RUN): seed: "Start with the vcpu in a dirty
    state" for a non-protected VM, then ``pkvm_create_hyp_vm`` (the hyp vcpu starts empty and
    gets the host's state from the first flush)."""
    v.has_run_once = True
    if s.pkvm and s.policy.lazy and not s.protected and s.policy.dirty_at_first_run:
        v.arch.iflags |= PKVM_HOST_STATE_DIRTY


# --- KVM_RUN (arm.c: kvm_arch_vcpu_ioctl_run) ----------------------------------------------------
def kvm_pending_sync_exception(v: HostVcpu) -> bool:
    """``kvm_pending_sync_exception`` (arch/arm64/kvm/mmio.c, e735a5da6442 "KVM: arm64: Don't
    retire aborted MMIO instruction"): PENDING_EXCEPTION with a *synchronous* target
    (EXCEPT_AA64_EL1_SYNC / _EL2_SYNC; AArch32 UND/IABT/DABT).  The only exception the model
    pends is an SError (``EXCEPT_AA64_EL1_SERR``), which is asynchronous: "it is still safe to
    retire the MMIO instruction in this case" (the commit message)."""
    a = v.arch
    return bool(a.iflags & PENDING_EXCEPTION) and (a.iflags & (3 << 2)) != EXCEPT_AA64_EL1_SERR


def kvm_handle_mmio_return(s: System, v: HostVcpu) -> None:
    """``kvm_handle_mmio_return`` (arch/arm64/kvm/mmio.c): complete a userspace MMIO read at the
    start of KVM_RUN (before vcpu_load): write the data to Rt and ``kvm_incr_pc``.  Skipped, with
    ``mmio_needed`` left as it is, when nothing is in flight or a synchronous exception is pending
    (``kvm_pending_sync_exception``, e735a5da6442) — not for a pending SError."""
    if v.mmio_needed is None or kvm_pending_sync_exception(v):
        return
    rt, data = v.mmio_needed
    v.mmio_needed = None
    if kvm_vcpu_is_be(s, v):
        data = _bswap64(data)
    v.arch.ctxt[rt] = data
    v.arch.iflags |= INCREMENT_PC


def kvm_arch_vcpu_ioctl_run_enter(s: System, v: HostVcpu, pcpu: int) -> None:
    """Entry of KVM_RUN up to the top of the run loop."""
    if not v.has_run_once:
        kvm_arch_vcpu_run_pid_change(s, v)
    kvm_handle_mmio_return(s, v)
    kvm_arch_vcpu_load(s, v, pcpu)  # vcpu_load
    v.phase = Phase.P0


def kvm_arch_vcpu_ioctl_run_exit(s: System, v: HostVcpu) -> None:
    """Return from KVM_RUN: commit pending PC/exception flags with ``__kvm_adjust_pc`` (upstream
    ``handle___kvm_adjust_pc`` adjusts the host vcpu struct it is handed), then vcpu_put."""
    if v.arch.iflags & (PENDING_EXCEPTION | INCREMENT_PC):
        s.hooks.handle___kvm_adjust_pc(s.policy if s.pkvm else None, s.hyp[v.idx] if s.pkvm else None, v.arch)
    if v.pcpu is not None:
        kvm_arch_vcpu_put(s, v)
    v.phase = Phase.OUT


def kvm_vcpu_run_guest(s: System, v: HostVcpu) -> None:
    """The run loop's entry into the guest: ``__kvm_vcpu_run`` — under pKVM
    ``handle___kvm_vcpu_run`` (``flush_hyp_vcpu``, then EL2's ``__kvm_vcpu_run`` on the hyp vcpu,
    which starts with ``__adjust_pc``) — and the world switch, where the CPU takes a pending
    virtual SError if the guest has SErrors unmasked.  The vgic LRs are filled first
    (``kvm_vgic_flush_hwstate``, in the host's copy) and the saved CPU-interface state is loaded
    into the pCPU's interface at EL2 (``__vgic_v3_restore_state``): under pKVM the hyp's copy,
    which ``flush_hyp_vgic_state`` has just filled from the host's."""
    run = s.running_arch(v.idx)
    g = s.vgic
    g.vgic_flush_lr_state(v.idx)  # kvm_vgic_flush_hwstate
    if s.pkvm:
        early = s.hooks.handle___kvm_vcpu_run_early(s.policy, s.pcpus[v.pcpu], v.idx)
        if early is not None:
            guest_exit_without_run(s, v, early)
            return
        hyp = s.hyp[v.idx]
        s.hooks.flush_hyp_vcpu(s.policy, hyp, v.arch, s.protected)
        s.hooks.flush_hyp_vgic_state(s.policy, hyp.vgic_cpu_if, v.vgic_cpu_if, g.nr_lrs)  # in flush_hyp_vcpu
    # vgic_restore_state: __vgic_v3_restore_state at EL2, into the interface of the vcpu's pCPU
    g.ver.restore_state(s.running_vgic_cpu_if(v.idx), s.pcpus[v.pcpu].vgic_cpu, v.idx)
    hyp_main.kvm_adjust_pc(run)
    hyp_main.take_pending_vserror(run)
    v.phase = Phase.GUEST
    s.observe_guest_entry(v)


def guest_exit(s: System, v: HostVcpu, fault: Fault) -> None:
    """The exit half of the run loop up to preempt_enable: ``__vgic_v3_save_state`` (the pCPU's
    interface back into the saved state: the hyp's copy under pKVM) and ``sync_hyp_vcpu`` with
    ``sync_hyp_vgic_state`` (at EL2), ``kvm_vgic_sync_hwstate`` (fold + prune, on the host's
    copy), ``trace_kvm_exit`` (reads PC), ``handle_exit_early``."""
    run = s.running_arch(v.idx)
    run.fault = fault
    # vgic_save_state: __vgic_v3_save_state at EL2
    s.vgic.ver.save_state(s.running_vgic_cpu_if(v.idx), s.pcpus[v.pcpu].vgic_cpu)
    if s.pkvm:
        hyp = s.hyp[v.idx]
        hyp.exit_code = fault.kind
        s.hooks.sync_hyp_vcpu(s.policy, hyp, v.arch, s.protected)
        s.hooks.sync_hyp_vgic_state(s.policy, hyp.vgic_cpu_if, v.vgic_cpu_if)  # in sync_hyp_vcpu
    s.vgic.kvm_vgic_sync_hwstate(v.idx)
    s.observe(v.idx, "exit-pc", "trace_kvm_exit: *vcpu_pc", v.arch.ctxt[IDX_PC])
    handle_exit_early(s, v)
    v.phase = Phase.P1


def guest_exit_without_run(s: System, v: HostVcpu, code: Fault) -> None:
    """The run loop after a ``__kvm_vcpu_run`` that came back early
    (``hyp_main.handle___kvm_vcpu_run_early``): no guest ran, nothing was flushed or synced, the
    pCPU's vgic interface was neither restored nor saved.  The host goes on as after any exit
    (arm.c ``kvm_arch_vcpu_ioctl_run``): ``kvm_vgic_sync_hwstate``, ``trace_kvm_exit`` (reads the
    host copy's PC), ``handle_exit_early(vcpu, ret)``, then ``handle_exit`` at the next
    ``HandleExit``.  The model passes the return value ``ret`` in ``fault.kind`` /
    ``fault.serror_pending`` (as it does for every exit); the kernel leaves the host vcpu's
    ``fault`` untouched, which no handler of these two codes reads."""
    v.arch.fault = code
    s.vgic.kvm_vgic_sync_hwstate(v.idx)
    s.observe(v.idx, "exit-pc", "trace_kvm_exit: *vcpu_pc", v.arch.ctxt[IDX_PC])
    handle_exit_early(s, v)
    v.phase = Phase.P1


# --- handle_exit.c -------------------------------------------------------------------------------
def handle_exit_pkvm_state(s: System, v: HostVcpu) -> None:
    """``handle_exit_pkvm_state`` (seed): sync the context back when the host will read (trap)
    or write (SError) it and set DIRTY; clear DIRTY on every other exit.

    The early returns of ``__kvm_vcpu_run`` (no flush, no run) land here too: ``-EINVAL`` of the
    seed's base counts as SError pending (bit 31), so the loaded hyp vcpu, if any, is synced over
    the host copy and DIRTY set; HYP-LATE's ``ARM_EXCEPTION_IL`` clears DIRTY (kernel-model.md
    §1.7.3)."""
    if not s.pkvm or s.protected or not s.policy.lazy:
        return
    p, f = s.policy, v.arch.fault
    trap = f.kind.startswith("trap") and (p.sync_on_hvc or f.kind != "trap_hvc")
    if trap or (p.sync_on_serror and (f.kind == "el1_serror" or f.serror_pending)):
        s.hooks.handle___pkvm_vcpu_sync_state(p, s.hyp[v.idx], v.arch, s.protected)
        if p.dirty_after_exit_sync:
            v.arch.iflags |= PKVM_HOST_STATE_DIRTY
    else:
        v.arch.iflags &= ~PKVM_HOST_STATE_DIRTY


def handle_exit_early(s: System, v: HostVcpu) -> None:
    """``handle_exit_early`` (preemption off): seed's ``handle_exit_pkvm_state`` first; then an
    SError-pending exit injects a virtual SError (no RAS: ``kvm_inject_serror``) and returns; an
    EL1_SERROR exit goes to ``kvm_handle_guest_serror``, which (no RAS) injects one too."""
    s.hooks.handle_exit_pkvm_state(s, v)
    f = v.arch.fault
    if f.serror_pending or f.kind == "el1_serror":
        kvm_inject_serror_esr(s, v, ESR_ELx_ISV)


def serror_is_masked(s: System, v: HostVcpu) -> bool:
    """``serror_is_masked``: PSTATE.A of the host's view of the vcpu (SCTLR2.NMEA not modelled)."""
    pstate = v.arch.ctxt[IDX_PSTATE]
    s.observe(v.idx, "run-loop-pstate", "serror_is_masked: PSTATE", pstate)
    return bool(pstate & PSR_A_BIT)


def kvm_inject_serror_esr(s: System, v: HostVcpu, esr: int) -> None:
    """``kvm_inject_serror_esr``: SErrors unmasked -> emulate the exception entry
    (``pend_serror_exception`` + write ESR_EL1 with EC=SError); masked -> VSESR_EL2 = ISS and
    ``HCR_EL2.VSE``, which the CPU delivers once the guest unmasks."""
    a = v.arch
    if not serror_is_masked(s, v):
        a.iflags = (a.iflags & ~(3 << 2)) | PENDING_EXCEPTION | EXCEPT_AA64_EL1_SERR
        a.iflags &= ~INCREMENT_PC
        a.ctxt[IDX_ESR] = (esr & ESR_ELx_ISS_MASK) | (ESR_ELx_EC_SERROR << ESR_ELx_EC_SHIFT)
    else:
        a.vsesr_el2 = esr & ESR_ELx_ISS_MASK
        a.hcr_el2 |= HCR_VSE


def commit_pending_events(s: System, v: HostVcpu) -> None:
    """``commit_pending_events`` (arch/arm64/kvm/guest.c; Oliver Upton, "KVM: arm64: Commit
    exceptions from KVM_SET_VCPU_EVENTS immediately", 14 Jul 2025): with PENDING_EXCEPTION set,
    cancel an in-flight MMIO (``vcpu->mmio_needed = false``, "to avoid stepping PC after emulating
    the exception entry") and ``kvm_call_hyp(__kvm_adjust_pc, vcpu)``.

    Under pKVM that hypercall is ``handle___kvm_adjust_pc`` on the struct it is handed, the
    *host* vcpu (torvalds/linux hyp-main.c @cd6b97bc8971).  The ioctl runs outside KVM_RUN: no
    hyp vcpu is loaded (``kvm_arch_vcpu_put`` ran ``__pkvm_vcpu_put``) and, with the seed, the
    host copy is authoritative (DIRTY set at put, or at the first KVM_RUN before the VM exists),
    so the exception entry lands in the host copy and the next ``flush_hyp_vcpu`` carries it to
    the hyp vcpu."""
    if not v.arch.iflags & PENDING_EXCEPTION:
        return
    v.mmio_needed = None
    s.hooks.handle___kvm_adjust_pc(s.policy if s.pkvm else None, s.hyp[v.idx] if s.pkvm else None, v.arch)


def kvm_arm_vcpu_set_events(s: System, v: HostVcpu, esr: int) -> bool:
    """KVM_SET_VCPU_EVENTS with ``serror_pending`` and ``serror_has_esr`` (arm.c
    ``kvm_arm_vcpu_set_events`` -> guest.c ``__kvm_arm_vcpu_set_events``):
    ``kvm_inject_serror_esr`` and then, since "Commit exceptions from KVM_SET_VCPU_EVENTS
    immediately" (July 2025), ``commit_pending_events`` at ioctl time: an SError pended as an
    exception (guest SErrors unmasked) is entered at once (PC = vector, ESR_EL1, SPSR/ELR_EL1) and
    an MMIO completion in flight is cancelled; a masked one only sets VSESR_EL2 and HCR_EL2.VSE,
    which no later code commits.  Not modelled: ``ext_dabt``/``ext_iabt`` (SEA) injection, the
    ``-EINVAL`` for an ESR without FEAT_RAS or outside the ISS (the model's CPU has RAS)."""
    kvm_inject_serror_esr(s, v, esr)
    commit_pending_events(s, v)
    return True


def vcpu_mode_is_bad_32bit(s: System, v: HostVcpu) -> bool:
    """``vcpu_mode_is_bad_32bit``: an AArch32 PSTATE on a vcpu without 32-bit support."""
    pstate = v.arch.ctxt[IDX_PSTATE]
    s.observe(v.idx, "run-loop-pstate", "vcpu_mode_is_bad_32bit: PSTATE", pstate)
    return bool(pstate & PSR_MODE32_BIT)


def kvm_vcpu_is_be(s: System, v: HostVcpu) -> bool:
    """``kvm_vcpu_is_be``: for AArch64 at EL1, SCTLR_EL1.EE (EL0: SCTLR_EL1.E0E; modelled as EE)."""
    sctlr = v.arch.ctxt[IDX_SCTLR]
    s.observe(v.idx, "trap-read", "kvm_vcpu_is_be: SCTLR_EL1", sctlr)
    return bool(sctlr & SCTLR_ELx_EE)


def vcpu_get_reg(s: System, v: HostVcpu, rt: int, why: str) -> int:
    """``vcpu_get_reg``: the host reads a guest GPR (x31 reads as zero)."""
    val = 0 if rt == 31 else v.arch.ctxt[rt]
    s.observe(v.idx, "trap-read", f"{why}: x{rt}", val)
    return val


def handle_exit(s: System, v: HostVcpu) -> int:
    """``handle_exit`` for the pending exit.  >0: back into the guest; <=0: to userspace."""
    f = v.arch.fault
    if vcpu_mode_is_bad_32bit(s, v):
        v.initialized = False  # clears VCPU_INITIALIZED; KVM_EXIT_FAIL_ENTRY
        return -1
    if f.serror_pending:
        return 1  # "If the guest survives it will re-execute the original instruction"
    kind = f.kind
    if kind in ("irq", "el1_serror"):
        return 1
    if kind == "il":
        return -1  # KVM_EXIT_FAIL_ENTRY, -EINVAL
    if kind == "einval":  # ARM_EXCEPTION_CODE(-EINVAL): never here, bit 31 returned 1 above
        raise AssertionError("-EINVAL exit without ARM_SERROR_PENDING")
    a = v.arch
    if kind == "trap_mmio_read":  # io_mem_abort -> in-kernel device -> kvm_handle_mmio_return
        data = f.value
        if kvm_vcpu_is_be(s, v):
            data = _bswap64(data)
        a.ctxt[f.rt] = data
        a.iflags |= INCREMENT_PC  # kvm_incr_pc
        return 1
    if kind == "trap_mmio_write":
        data = vcpu_get_reg(s, v, f.rt, "io_mem_abort write data")
        kvm_vcpu_is_be(s, v)
        del data  # handed to the device
        a.iflags |= INCREMENT_PC
        return 1
    if kind == "trap_sysreg_read":  # kvm_handle_sys_reg -> access_* -> vcpu_read_sys_reg
        a.ctxt[f.rt] = a.ctxt[sysreg_index(f.reg)]
        a.iflags |= INCREMENT_PC
        return 1
    if kind == "trap_sysreg_write":
        val = vcpu_get_reg(s, v, f.rt, f"kvm_handle_sys_reg write {f.reg}")
        if f.reg in _STORED_ON_WRITE:
            a.ctxt[sysreg_index(f.reg)] = val
        a.iflags |= INCREMENT_PC
        return 1
    if kind == "trap_sysreg_dir":  # kvm_handle_sys_reg -> access_gic_dir -> vgic_v3_deactivate
        access_gic_dir(s, v, f.value)
        a.iflags |= INCREMENT_PC
        return 1
    if kind == "trap_mmio_vgic":  # io_mem_abort -> the vgic's MMIO device (vgic_mmio_write_*)
        vgic_mmio_write(s, v.idx, f.reg, f.value & 0xFFFF, f.value >> 16, uaccess=False)
        a.iflags |= INCREMENT_PC
        return 1
    if kind == "trap_hvc":  # handle_hvc -> kvm_smccc_call_handler -> kvm_psci_call
        from hvfuzz.model import psci

        return psci.kvm_psci_call(s, v)
    if kind == "trap_smc":  # handle_smc: kvm_incr_pc, then kvm_smccc_call_handler -> kvm_psci_call
        from hvfuzz.model import psci

        a.iflags |= INCREMENT_PC
        return psci.kvm_psci_call(s, v)
    if kind == "trap_dabt_s2":  # kvm_handle_guest_abort: a RAM page not mapped at stage 2
        from hvfuzz.model import psci

        return psci.kvm_handle_guest_abort(s, v, f.value)
    if kind == "trap_mmio_user":  # no in-kernel device: KVM_EXIT_MMIO, completed by next KVM_RUN
        v.mmio_needed = (f.rt, f.value)
        return 0
    raise AssertionError(f"unhandled exit kind {kind}")


# --- the vgic's trapped DIR (sys_regs.c, vgic-v3.c) and halting the guest (arm.c) ----------------
def access_gic_dir(s: System, v: HostVcpu, val: int) -> None:
    """``access_gic_dir`` (sys_regs.c, "Handle deactivation via ICV_DIR_EL1 traps"): a trapped
    ICV_DIR_EL1 write that EL2's fast path sent to the host, after the exit's sync, fold and prune:
    ``vgic_v3_deactivate``, then KVM_REQ_VGIC_PROCESS_UPDATE to the interrupt's vcpu (no kick: it
    prunes at its next ``check_vcpu_requests``).  The written value (Rt) comes in the fault: the
    guest op names the INTID, not a register."""
    from hvfuzz.model import psci

    target = s.vgic.deactivate(v.idx, val, lambda: kvm_arm_halt_guest(s))
    if target is not None:
        s.vcpus[target].requests.add(psci.KVM_REQ_VGIC_PROCESS_UPDATE)


def vgic_mmio_write(s: System, vcpu: int, reg: str, intid: int, target: int, uaccess: bool) -> None:
    """One bit written to a distributor/redistributor register: the guest's (``dispatch_mmio_write``
    from ``io_mem_abort``, on its vcpu thread after the exit's sync) or userspace's
    (``vgic_v3_attr_regs_access`` -> ``vgic_uaccess``, every vcpu out of KVM_RUN)."""
    g = s.vgic
    halt = lambda: kvm_arm_halt_guest(s)  # noqa: E731
    if reg in ("ISACTIVER", "ICACTIVER"):
        g.vgic_mmio_write_active(vcpu, intid, reg == "ISACTIVER", uaccess, halt)
    elif reg in ("ISPENDR", "ICPENDR"):
        g.vgic_mmio_write_pending(vcpu, intid, reg == "ISPENDR", uaccess, halt)
    elif reg == "IROUTER":
        g.vgic_mmio_write_irouter(intid, target)
    else:
        raise AssertionError(f"unknown vgic register {reg}")


def kvm_arm_halt_guest(s: System) -> None:
    """``kvm_arm_halt_guest`` (arm.c): ``pause`` on every vcpu and KVM_REQ_SLEEP to all, which is
    KVM_REQUEST_WAIT: it returns once every vcpu that ran a guest has been kicked out — an IRQ exit
    with its save, sync (fold + prune) and the rest of ``guest_exit``; the IPI is acknowledged
    only after ``kvm_vgic_sync_hwstate``.  The halted vcpus are left with that exit pending
    (``HandleExit`` next).  ``kvm_arm_resume_guest`` follows within the same emulation (the
    caller holds ``config_lock``), so the model keeps no ``pause``: a halted vcpu's next
    ``check_vcpu_requests`` would find it cleared and not sleep."""
    for w in s.vcpus:
        if w.phase is Phase.GUEST:
            guest_exit(s, w, Fault("irq"))


# --- userspace ioctls on a vcpu outside KVM_RUN (guest.c) ----------------------------------------
def kvm_arm_set_reg(s: System, v: HostVcpu, idx: int, value: int) -> bool:
    """KVM_SET_ONE_REG: writes the host context (``set_core_reg`` rejects an invalid PSTATE mode)."""
    if idx == IDX_PSTATE and (value & PSR_MODE32_BIT or (value & PSR_MODE_MASK) not in (PSR_MODE_EL0t, 4, 5)):
        return False
    v.arch.ctxt[idx] = value & MASK64
    return True


def kvm_arch_vcpu_ioctl_set_guest_debug(s: System, v: HostVcpu, single_step: bool) -> bool:
    """KVM_SET_GUEST_DEBUG: ``vcpu->guest_debug``; takes effect at the next vcpu load.  Refused
    (-EINVAL) for a protected VM, whose debug state the host may not control."""
    if s.protected:
        return False
    v.guest_debug = single_step
    return True


def kvm_pmu_perf_overflow(s: System, v: HostVcpu, counter: int) -> None:
    """``kvm_pmu_perf_overflow`` (pmu-emul.c): ``__vcpu_sys_reg(vcpu, PMOVSSET_EL0) |= BIT(idx)``
    on the host vcpu, from perf's overflow (interrupt/NMI) context — an asynchronous writer of the
    context that neither syncs nor sets PKVM_HOST_STATE_DIRTY.  Without pKVM the host vcpu is the
    context the guest runs on."""
    v.arch.ctxt[IDX_PMOVSSET] |= 1 << counter


def _bswap64(x: int) -> int:
    return int.from_bytes((x & MASK64).to_bytes(8, "little"), "big")
