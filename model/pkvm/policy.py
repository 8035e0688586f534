"""How a pKVM tree moves the vcpu state between host and hyp: one frozen value per tree.

Every knob is a place where the trees (Stage A, the seed patch, the later kvmarm tree) differ, or
where a historical bug or a plausible mistake deviates.  ``model/variants.py`` names the
combinations; a user models their own design by making a new ``SyncPolicy`` (or subclassing the
functions in ``hyp_main``).
"""

from __future__ import annotations

import attrs

HCR_FLUSH = ("whole", "mask", "mask_no_vse")
HCR_SYNC = ("whole", "none", "vse")
TIMER_SKIP = ("by_name", "range")
EARLY_EXIT = ("einval", "il")
VMCR_SYNC = ("exit", "put")


@attrs.frozen
class SyncPolicy:
    #: False: Stage A, the full ``ctxt`` copy on every world switch (HYP-66).
    #: True: the lazy sync of the seed patch (PKVM_HOST_STATE_DIRTY, __pkvm_vcpu_sync_state).
    lazy: bool = True
    #: flush_hyp_vcpu's hcr_el2 (host -> hyp):
    #: "whole": ``hyp.hcr_el2 = host.hcr_el2`` (6.4-6.6 Stage A, kernelorg-mirror/
    #: linux_kernel_git_oupton_linux arch/arm64/kvm/hyp/nvhe/hyp-main.c @219a5ec54277);
    #: "mask_no_vse": only ``HCR_TWI | HCR_TWE`` from the host, the hyp's other bits kept (the
    #: 2026 tree the seed applies to: torvalds/linux hyp-main.c @cd6b97bc8971 and the June 2026
    #: base of the seed's hunk, Message-ID <20260606175614.83273-2-imv4bel@gmail.com>);
    #: "mask": ``HCR_TWI | HCR_TWE | HCR_VSE`` from the host (the later trees: merge a940b03cee15
    #: takes TWI|TWE|VSE; kvmarm/kvmarm @354d3c964091 and linux-next @9a92cf4dfca7 let VSE flow
    #: in under their PKVM_HCR_EL2_HOST_* masks).
    hcr_flush: str = attrs.field(default="mask", validator=attrs.validators.in_(HCR_FLUSH))
    #: sync_hyp_vcpu's hcr_el2 (hyp -> host): "whole" (Stage A, both @219a5ec54277 and
    #: @cd6b97bc8971), "none" (the seed v3 removes the line), "vse" (kvmarm @354d3c964091,
    #: linux-next @9a92cf4dfca7: only VSE is reflected, which hardware clears when the guest takes
    #: the vSError).
    hcr_sync: str = attrs.field(default="vse", validator=attrs.validators.in_(HCR_SYNC))
    #: __copy_vcpu_state's timer exclusion: "by_name" (seed v3), "range" (HYP-2022/ANDROID).
    timer_skip: str = attrs.field(default="by_name", validator=attrs.validators.in_(TIMER_SKIP))
    #: __copy_vcpu_state copies fp_regs (the 2022 version did not).
    copy_fp: bool = True
    #: sync_hyp_vcpu copies PSTATE back on every exit (v1 copied only PC).
    copy_pstate_on_exit: bool = True
    #: handle_exit_pkvm_state also syncs for EL1_SERROR / SError-pending exits (v1: traps only).
    sync_on_serror: bool = True
    #: handle_exit_pkvm_state syncs for an HVC exit (a trap like the others: the PSCI/SMCCC handler
    #: reads x0..x3 and writes the return values)
    sync_on_hvc: bool = True
    #: handle_exit_pkvm_state sets DIRTY after __pkvm_vcpu_sync_state.
    dirty_after_exit_sync: bool = True
    #: kvm_arch_vcpu_put sets DIRTY after __pkvm_vcpu_put.
    dirty_at_put: bool = True
    #: kvm_arch_vcpu_run_pid_change sets DIRTY before pkvm_create_hyp_vm.
    dirty_at_first_run: bool = True
    #: flush_hyp_vcpu copies host->hyp only if DIRTY (False: on every entry).
    flush_respects_dirty: bool = True
    #: __pkvm_vcpu_put copies hyp->host only if DIRTY is clear (False: always).
    put_respects_dirty: bool = True
    #: handle___kvm_adjust_pc commits a pending PC increment/exception on the host vcpu (upstream:
    #: the struct it is handed) — False: on the loaded hyp vcpu (the Android pKVM tree).
    adjust_pc_on_host: bool = True
    #: flush_debug_state copies external_mdscr_el1 when the host owns debug (119a9a23fbae).
    flush_external_mdscr: bool = True
    #: what ``handle___kvm_vcpu_run`` returns when it comes back without a flush or a run (no hyp
    #: vcpu loaded on this CPU / not the host's; SVCR non-zero): "einval" (``-EINVAL``, whose bit 31
    #: the host reads as ARM_EXIT_WITH_SERROR_BIT: torvalds/linux hyp-main.c @cd6b97bc8971, the
    #: tree the seed applies to) or "il" (``ARM_EXCEPTION_IL``: kvmarm/kvmarm hyp-main.c
    #: @354d3c964091).  Only a misbehaving host reaches either (see ``hyp_main.handle___kvm_vcpu_run``).
    early_exit: str = attrs.field(default="il", validator=attrs.validators.in_(EARLY_EXIT))
    #: sync_hyp_vgic_state copies ``vgic_hcr`` back, carrying the EOIcount that
    #: ``__vgic_v3_save_state`` preserved in the hyp's copy (f4ded7b0848e "GICv3: Preserve EOIcount
    #: on exit"); False: only the LRs come back and the host's fold sees EOIcount 0.
    sync_vgic_hcr: bool = True
    #: where the hyp's ``vgic_vmcr`` reaches the host's: "exit" (``sync_hyp_vgic_state`` after every
    #: run: cf72ee637119 "Eagerly save VMCR on exit", v2 19/45 <20251109171619.1507205-20-maz@kernel.org>)
    #: or "put" (``__vgic_v3_save_vmcr_aprs`` at ``kvm_arch_vcpu_put``, the tree before that patch).
    vmcr_sync: str = attrs.field(default="exit", validator=attrs.validators.in_(VMCR_SYNC))
    #: flush_hyp_vgic_state clamps the host's ``used_lrs`` to the implemented LRs
    #: (``min(used_lrs, hyp_gicv3_nr_lr)``); False: takes it as the host gives it.
    clamp_used_lrs: bool = True
