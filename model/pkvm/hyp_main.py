"""EL2 side of pKVM: arch/arm64/kvm/hyp/nvhe/hyp-main.c (and the bits of switch.c /
adjust_pc.h that act on the vcpu the guest runs on).

Each function names the kernel function it mirrors.  ``policy`` selects the tree (Stage A, the
seed patch, the later kvmarm tree) or a deviation.
"""

from __future__ import annotations

from hvfuzz.model.pkvm.policy import SyncPolicy
from hvfuzz.model.pkvm.state import (
    INCREMENT_PC,
    PENDING_EXCEPTION,
    PKVM_HOST_STATE_DIRTY,
    Fault,
    HypVcpu,
    Pcpu,
    VcpuArch,
)
from hvfuzz.model.regs import (
    HCR_TWE,
    HCR_TWI,
    HCR_VSE,
    IDX_FPCR,
    IDX_PC,
    IDX_PSTATE,
    IDX_SPSR0,
    IDX_SYSREGS,
    IDX_V0,
    MASK64,
    PSR_A_BIT,
    TIMER_INDICES,
    TIMER_RANGE_INDICES,
    ESR_ELx_EC_SERROR,
    ESR_ELx_EC_SHIFT,
    ESR_ELx_IL,
    enter_serror_exception,
)

#: The host-owned hcr_el2 bits the later trees' flush_hyp_vcpu takes (``hcr_flush="mask"``): the
#: WFx trap bits and VSE (merge a940b03cee15: TWI|TWE|VSE "must flow to the hyp vCPU";
#: kvmarm/kvmarm @354d3c964091's PKVM_HCR_EL2_HOST_{PVM,NPVM}, whose definitions were not found,
#: carry VSE too by their comment).  ``hcr_flush="mask_no_vse"`` drops VSE: the TWI|TWE of
#: torvalds/linux hyp-main.c @cd6b97bc8971.
HCR_HOST_MASK = HCR_TWI | HCR_TWE | HCR_VSE

_REGS_AND_SPSR = slice(0, IDX_V0)  # regs (x0..x30, sp, pc, pstate) + spsr_abt/und/irq/fiq
_FP = slice(IDX_V0, IDX_FPCR + 1)  # fp_regs
_SYSREGS_FROM_1 = slice(IDX_SYSREGS + 1, None)  # sys_regs[1 .. NR_SYS_REGS)
assert IDX_SPSR0 + 4 == IDX_V0


def copy_vcpu_state(policy: SyncPolicy, src: VcpuArch, dst: VcpuArch) -> None:
    """``__copy_vcpu_state(from, to)`` (seed v3): ``regs``, the four SPSRs, ``fp_regs`` and
    ``sys_regs[1..NR_SYS_REGS)`` except the timer registers, skipped by name (or, with
    ``timer_skip="range"``, the numeric range CNTVOFF_EL2..CNTP_CTL_EL0 of HYP-2022/ANDROID)."""
    s, d = src.ctxt, dst.ctxt
    skip = TIMER_INDICES if policy.timer_skip == "by_name" else TIMER_RANGE_INDICES
    kept = [d[i] for i in skip]
    d[_REGS_AND_SPSR] = s[_REGS_AND_SPSR]
    if policy.copy_fp:
        d[_FP] = s[_FP]
    d[_SYSREGS_FROM_1] = s[_SYSREGS_FROM_1]
    for i, v in zip(skip, kept, strict=True):
        d[i] = v


def flush_debug_state(policy: SyncPolicy, hyp: HypVcpu, host: VcpuArch) -> None:
    """``flush_debug_state`` (non-protected): take the host's ``debug_owner``; when the host owns
    debug, the MDSCR_EL1 the CPU must run with, ``external_mdscr_el1`` ("Flush
    external_mdscr_el1 to the pKVM hyp vCPU", 119a9a23fbae)."""
    h = hyp.vcpu
    h.debug_owner = host.debug_owner
    if host.debug_owner == "host" and policy.flush_external_mdscr:
        h.external_mdscr_el1 = host.external_mdscr_el1


def flush_hyp_vcpu(policy: SyncPolicy, hyp: HypVcpu, host: VcpuArch, protected: bool) -> None:
    """``flush_hyp_vcpu`` (arch/arm64/kvm/hyp/nvhe/hyp-main.c): host vcpu -> hyp vcpu before
    every run.

    Stage A and protected guests: ``hyp.ctxt = host.ctxt`` (whole).  Lazy sync (seed v3 8/8),
    non-protected: ``flush_hyp_vcpu_state`` only if PKVM_HOST_STATE_DIRTY (non-protected guests
    first get ``flush_debug_state``).  Then iflags, hcr_el2 per ``policy.hcr_flush``, vsesr_el2.
    (``ctxt.__hyp_running_vcpu``, which the whole-ctxt copy takes and Message-ID
    <20260606175614.83273-2-imv4bel@gmail.com> clears after it, is not modelled: README table.)

    hcr_el2, by tree:
    - ``"whole"``: ``hyp_vcpu->vcpu.arch.hcr_el2 = host_vcpu->arch.hcr_el2`` (6.4-6.6 Stage A,
      kernelorg-mirror/linux_kernel_git_oupton_linux @219a5ec54277; variant ``eager``);
    - ``"mask_no_vse"``: ``hcr_el2 &= ~(HCR_TWI | HCR_TWE); hcr_el2 |= READ_ONCE(host
      hcr_el2) & (HCR_TWI | HCR_TWE)`` (torvalds/linux @cd6b97bc8971, the base the seed applies
      to): a VSE the host set (a masked vSError from ``kvm_inject_serror_esr``) never reaches
      the vcpu the guest runs on (variants ``lazy-v3``, ``eager-vse-not-flushed``);
    - ``"mask"``: TWI|TWE|VSE (merge a940b03cee15; kvmarm @354d3c964091; variant ``lazy``)."""
    h = hyp.vcpu
    if not protected:
        flush_debug_state(policy, hyp, host)
    if protected or not policy.lazy:
        h.ctxt[:] = host.ctxt
    elif (host.iflags & PKVM_HOST_STATE_DIRTY) or not policy.flush_respects_dirty:
        copy_vcpu_state(policy, host, h)  # flush_hyp_vcpu_state
    h.iflags = host.iflags
    if policy.hcr_flush == "whole":
        h.hcr_el2 = host.hcr_el2
    else:
        mask = HCR_HOST_MASK if policy.hcr_flush == "mask" else HCR_HOST_MASK & ~HCR_VSE
        h.hcr_el2 = (h.hcr_el2 & ~mask) | (host.hcr_el2 & mask)
    h.vsesr_el2 = host.vsesr_el2


def sync_hyp_vcpu(policy: SyncPolicy, hyp: HypVcpu, host: VcpuArch, protected: bool) -> None:
    """``sync_hyp_vcpu`` (arch/arm64/kvm/hyp/nvhe/hyp-main.c): hyp vcpu -> host vcpu after
    every run.

    Stage A and protected guests: ``host.ctxt = hyp.ctxt`` (whole).  Lazy sync (seed v3 8/8),
    non-protected: only PC and PSTATE ("PC feeds trace_kvm_exit(), PSTATE
    vcpu_mode_is_bad_32bit").  Then ``host.fault``, ``host.iflags``, and hcr_el2 per
    ``policy.hcr_sync``: ``"whole"`` (``host_vcpu->arch.hcr_el2 = hyp_vcpu->vcpu.arch.hcr_el2``
    in @219a5ec54277 and @cd6b97bc8971), ``"none"`` (the seed deletes that line, for every
    guest), ``"vse"`` (kvmarm @354d3c964091 / linux-next @9a92cf4dfca7: only the hyp's VSE,
    "cleared by hardware once the guest takes the vSError")."""
    h = hyp.vcpu
    if protected or not policy.lazy:
        host.ctxt[:] = h.ctxt
    else:
        host.ctxt[IDX_PC] = h.ctxt[IDX_PC]
        if policy.copy_pstate_on_exit:
            host.ctxt[IDX_PSTATE] = h.ctxt[IDX_PSTATE]
    host.fault = h.fault
    host.iflags = h.iflags
    if policy.hcr_sync == "whole":
        host.hcr_el2 = h.hcr_el2
    elif policy.hcr_sync == "vse":
        host.hcr_el2 = (host.hcr_el2 & ~HCR_VSE) | (h.hcr_el2 & HCR_VSE)


def handle___kvm_vcpu_run_early(policy: SyncPolicy, pcpu: Pcpu, vcpu_idx: int) -> Fault | None:
    """The checks ``handle___kvm_vcpu_run`` makes before ``flush_hyp_vcpu``: the exit it returns
    *without* a flush, a run or a sync, or None when the vcpu runs.

    - torvalds/linux hyp-main.c @cd6b97bc8971 (the tree the seed applies; ``early_exit="einval"``):
      ``system_supports_sme() && read_sysreg_s(SYS_SVCR)`` -> ``-EINVAL`` ("if SME features
      enabled the host is misbehaving"); no hyp vcpu loaded on this CPU
      (``pkvm_get_loaded_hyp_vcpu()`` NULL) -> ``-EINVAL``.  That tree does not compare the loaded
      hyp vcpu with the host vcpu it is handed: it runs whichever is loaded (a state the model's
      "hyp-vcpu-loaded-once" invariant excludes).  The host's ``handle_exit_early`` sees bit 31 of
      ``-EINVAL`` (0xffffffea) as ARM_EXIT_WITH_SERROR_BIT: ``ARM_SERROR_PENDING()`` is true and
      ``ARM_EXCEPTION_CODE()`` is 0x7fffffea, none of the known codes.  The model returns that as
      ``Fault("einval", serror_pending=True)``.  (6.4-6.6 Stage A, oupton @219a5ec54277, returns
      ``-EINVAL`` when ``pkvm_load_hyp_vcpu`` fails inside the call, and has no SVCR check.)
    - kvmarm/kvmarm hyp-main.c @354d3c964091 (``early_exit="il"``): ``__get_host_hyp_vcpus``
      gives NULL when no hyp vcpu is loaded or ``hyp_vcpu->host_vcpu != host_vcpu``, then the
      SVCR check: both return ``ARM_EXCEPTION_IL`` (``Fault("il")``).  Its power_state gate
      (ON / ON_PENDING + ``pkvm_reset_vcpu``) is not modelled.

    A correct host reaches neither: KVM_RUN creates the hyp VM/vcpu in
    ``kvm_arch_vcpu_run_pid_change`` before ``vcpu_load``; ``kvm_arch_vcpu_load`` /
    ``kvm_arch_vcpu_put`` (vcpu_load/vcpu_put and the preempt notifiers) pair
    ``__pkvm_vcpu_load`` / ``__pkvm_vcpu_put`` on the CPU the thread runs on; and
    ``kvm_arch_vcpu_load_fp`` clears PSTATE.{SM,ZA} at every load.  ``pcpu`` reaches this state
    only by a test playing a misbehaving host."""
    loaded = pcpu.loaded_hyp_vcpu
    if policy.early_exit == "einval":
        if pcpu.svcr or loaded is None:
            return Fault("einval", serror_pending=True)
        return None
    if loaded is None or loaded != vcpu_idx or pcpu.svcr:
        return Fault("il")
    return None


def handle___pkvm_vcpu_load(hyp: HypVcpu, pcpu: Pcpu, vcpu_idx: int) -> None:
    """``handle___pkvm_vcpu_load`` / ``pkvm_load_hyp_vcpu``: make ``hyp`` the loaded vcpu of this
    CPU, refusing one already loaded elsewhere."""
    if hyp.loaded_on is not None or pcpu.loaded_hyp_vcpu is not None:
        return
    hyp.loaded_on = pcpu.idx
    pcpu.loaded_hyp_vcpu = vcpu_idx


def handle___pkvm_vcpu_put(
    policy: SyncPolicy, hyp: HypVcpu, pcpu: Pcpu, host: VcpuArch, protected: bool
) -> None:
    """``handle___pkvm_vcpu_put``: for a non-protected guest whose host state is not DIRTY,
    ``sync_hyp_vcpu_state`` (hyp -> host), then ``pkvm_put_hyp_vcpu``."""
    if pcpu.loaded_hyp_vcpu is None or hyp.loaded_on != pcpu.idx:
        return
    if policy.lazy and not protected:
        if not (host.iflags & PKVM_HOST_STATE_DIRTY) or not policy.put_respects_dirty:
            copy_vcpu_state(policy, hyp.vcpu, host)
    hyp.loaded_on = None
    pcpu.loaded_hyp_vcpu = None


def handle___pkvm_vcpu_sync_state(
    policy: SyncPolicy, hyp: HypVcpu | None, host: VcpuArch, protected: bool
) -> None:
    """``handle___pkvm_vcpu_sync_state``: hyp -> host copy of the loaded non-protected vcpu."""
    if hyp is None or hyp.loaded_on is None or protected:
        return
    copy_vcpu_state(policy, hyp.vcpu, host)


def kvm_adjust_pc(vcpu: VcpuArch) -> None:
    """``__kvm_adjust_pc`` (hyp/include/hyp/adjust_pc.h): commit a pending exception
    (``kvm_inject_exception`` -> ``enter_exception64``) or a pending PC increment
    (``kvm_skip_instr``) on the vcpu struct it is given."""
    if vcpu.iflags & PENDING_EXCEPTION:
        enter_serror_exception(vcpu.ctxt, None)  # the only exception the model pends
        vcpu.iflags &= ~(PENDING_EXCEPTION | (3 << 2))
    elif vcpu.iflags & INCREMENT_PC:
        vcpu.ctxt[IDX_PC] = (vcpu.ctxt[IDX_PC] + 4) & MASK64
        vcpu.iflags &= ~INCREMENT_PC


def handle___kvm_adjust_pc(policy: SyncPolicy | None, hyp: HypVcpu | None, host: VcpuArch) -> None:
    """``handle___kvm_adjust_pc``: upstream adjusts the (host) vcpu it is handed; the Android pKVM
    tree adjusts the loaded hyp vcpu instead, whatever the host's DIRTY flag says."""
    if policy is not None and hyp is not None and not policy.adjust_pc_on_host and hyp.loaded_on is not None:
        kvm_adjust_pc(hyp.vcpu)
    else:
        kvm_adjust_pc(host)


def take_pending_vserror(vcpu: VcpuArch) -> bool:
    """What the CPU does with HCR_EL2.VSE set when the guest's PSTATE.A is clear: take the virtual
    SError and clear HCR_EL2.VSE (the exit path reads it back, ``___deactivate_traps``).  ESR_EL1
    = EC SError, IL = 1 (the Arm ARM, ESR_ELx.IL: "1 ... also used when the exception is ... an
    SError exception"; QEMU target/arm/syndrome.h ``syn_serror`` sets ARM_EL_IL), ISS from
    VSESR_EL2 (Arm ARM, VSESR_EL2: the syndrome reported in ESR_EL1 on taking a virtual SError).
    Returns whether it was taken."""
    if vcpu.hcr_el2 & HCR_VSE and not vcpu.ctxt[IDX_PSTATE] & PSR_A_BIT:
        esr = (ESR_ELx_EC_SERROR << ESR_ELx_EC_SHIFT) | ESR_ELx_IL | vcpu.vsesr_el2
        enter_serror_exception(vcpu.ctxt, esr)
        vcpu.hcr_el2 &= ~HCR_VSE
        return True
    return False
