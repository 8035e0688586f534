"""The named systems: references, correct designs, the seed as written, and bug variants.

A variant is one choice per component: the pKVM vcpu-state sync (``SyncPolicy``), the vgic
(``VgicPolicy``) and PSCI (``PsciPolicy``); ``reference`` is the single-copy semantics of
``model/reference.py``.
Each bug variant is a correct system with exactly one deviation, with its source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from hvfuzz.model.pkvm.hooks import KERNEL, KernelHooks
from hvfuzz.model.pkvm.policy import SyncPolicy
from hvfuzz.model.psci import PsciPolicy
from hvfuzz.model.vgic.irq import VgicPolicy

KINDS = ("reference", "correct", "seed", "bug")


@attrs.frozen
class Variant:
    name: str
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    component: str
    description: str
    source: str
    #: None: the single-copy reference (no pKVM copy at all)
    policy: SyncPolicy | None = None
    #: the vgic generation and its deviations (None: the correct post-series vgic)
    vgic: VgicPolicy | None = None
    #: PSCI/power-state deviations (None: the current kernel's PSCI)
    psci: PsciPolicy | None = None
    #: the host emulates a PMU with an asynchronous overflow handler (the reference it is
    #: compared with gets the same feature)
    pmu_emulation: bool = False
    #: the kernel functions this design replaces (``model/pkvm/hooks.py``; default: none)
    hooks: KernelHooks = attrs.field(default=KERNEL, validator=attrs.validators.instance_of(KernelHooks))
    #: a design's own judges (``oracles.registry.Judge`` values), run after hvfuzz's chain
    judges: tuple[Any, ...] = attrs.field(default=(), converter=tuple)

    @property
    def gic_version(self) -> int:
        """The GIC architecture the guest sees (what the architectural GIC oracle is built for)."""
        return self.vgic.guest_version() if self.vgic is not None else 3


#: 6.4-6.6 Stage A: whole ctxt and whole hcr_el2, both ways (HYP-64); a failed hyp vcpu load
#: returns -EINVAL from __kvm_vcpu_run (HYP-64 and HYP-ML)
EAGER = SyncPolicy(lazy=False, hcr_flush="whole", hcr_sync="whole", early_exit="einval")
#: the seed on its base: the base's flush takes only TWI|TWE of hcr_el2 (HYP-ML / BASE-JUN26),
#: and the seed deletes sync_hyp_vcpu's hcr_el2 copy-back; __kvm_vcpu_run's early returns give
#: -EINVAL (HYP-ML)
LAZY_V3 = SyncPolicy(lazy=True, hcr_flush="mask_no_vse", hcr_sync="none", early_exit="einval")
#: the seed with the later trees' VSE handling: VSE flows in and is reflected back (HYP-LATE)
LAZY = SyncPolicy(lazy=True, hcr_flush="mask", hcr_sync="vse")

_HYP64 = ("kernelorg-mirror/linux_kernel_git_oupton_linux arch/arm64/kvm/hyp/nvhe/hyp-main.c "
          "@219a5ec54277 (6.4-6.6 pKVM Stage A: flush_hyp_vcpu/sync_hyp_vcpu copy ctxt and the whole "
          "hcr_el2 both ways)")
_HYP_ML = "torvalds/linux arch/arm64/kvm/hyp/nvhe/hyp-main.c @cd6b97bc8971"
_BASE_JUN26 = ("[PATCH v3 1/2] KVM: arm64: Clear __hyp_running_vcpu when flushing the pKVM hyp vCPU, "
               "Message-ID <20260606175614.83273-2-imv4bel@gmail.com> (the seed's flush hunk context)")
_SEED = "seed: [PATCH v3 8/8] KVM: arm64: Implement lazy vCPU state sync for non-protected guests"
_LATE = "kvmarm/kvmarm arch/arm64/kvm/hyp/nvhe/hyp-main.c @354d3c964091 (later tree)"


def _bug(name: str, description: str, source: str, **deviation: object) -> Variant:
    return Variant(name, "bug", "pkvm", description, source, attrs.evolve(LAZY, **deviation))


_ALL = (
    Variant("reference", "reference", "pkvm",
            "one copy of the vcpu context: the guest runs on the host vcpu (what the architecture "
            "promises host and guest see)", "architecture; KVM without pKVM", None),
    Variant("eager", "correct", "pkvm",
            "pKVM Stage A as in 6.4-6.6: whole ctxt and whole hcr_el2 copied host->hyp at every "
            "entry and back at every exit (a host-pended vSError reaches the guest, and the VSE "
            "hardware clears on delivery comes back)", _HYP64, EAGER),
    Variant("lazy-v3", "seed", "pkvm",
            "the seed patch as written, on the tree it applies to: lazy ctxt sync; flush_hyp_vcpu "
            "takes only HCR_TWI|HCR_TWE of the host's hcr_el2 (unchanged by the seed), and the seed "
            "removes sync_hyp_vcpu's hcr_el2 copy-back: a host-pended masked vSError never reaches "
            "the guest and the host's VSE is never cleared",
            f"{_SEED}; applied to {_BASE_JUN26} = {_HYP_ML} (flush_hyp_vcpu)", LAZY_V3),
    Variant("lazy", "correct", "pkvm",
            "the seed patch with the later tree's VSE handling: flush takes TWI|TWE|VSE from "
            "the host, sync reflects only VSE back", _SEED + "; " + _LATE, LAZY),
    _bug("lazy-pc-only", "sync_hyp_vcpu copies only PC back on exit, not PSTATE: the run loop's "
         "PSTATE checks see a stale value", "lazy-sync v1 (v1/v2 review thread, kernel-model.md "
         "§5 #16)", copy_pstate_on_exit=False),
    _bug("lazy-serror-nosync", "handle_exit_pkvm_state syncs only on TRAP: an SError injected "
         "on an SError exit writes a stale host copy and is lost (DIRTY cleared)",
         "lazy-sync v1, fixed in v2 (kernel-model.md §5 #17)", sync_on_serror=False),
    _bug("lazy-timer-range", "__copy_vcpu_state skips the numeric range CNTVOFF_EL2..CNTP_CTL_EL0 "
         "of the sparse enum vcpu_sysreg: SCTLR_EL1, ESR_EL1, SPSR_EL1, MDSCR_EL1, ... never "
         "sync", "HYP-2022 (Message-ID 20220519134204.5379-53-will@kernel.org) and the "
         "Android pKVM tree (kernel-model.md §5 #15)", timer_skip="range"),
    _bug("lazy-vse-not-flushed", "lazy with the VSE reflection of the later tree but the base's "
         "flush (TWI|TWE only): a masked virtual SError injected by the host never reaches the "
         "guest, and the first exit reflects the hyp's clear VSE back, dropping it",
         f"the flush of {_HYP_ML} combined with the sync of {_LATE} (kernel-model.md §1.7.1 / §5 #14a)",
         hcr_flush="mask_no_vse"),
    _bug("lazy-vse-not-reflected", "flush takes VSE from the host but sync does not reflect it "
         "back: the host keeps VSE set after delivery and re-arms the vSError on every entry",
         "kernel-model.md §1.7.1 / §5 #14b: a flush carrying VSE (merge a940b03cee15, kvmarm "
         "@354d3c964091) without the VSE reflection of their sync_hyp_vcpu; the npvm flush of "
         "torvalds/linux hyp-main.c @03efec2e808a (Android lineage) has this shape (whether that "
         "tree clears the host's VSE elsewhere was not checked)", hcr_sync="none"),
    _bug("lazy-no-fp", "__copy_vcpu_state leaves out fp_regs: FP/SIMD registers written by "
         "userspace or the guest never cross", "HYP-2022 copy (no fp_regs), kernel-model.md "
         "§1.3", copy_fp=False),
    _bug("lazy-no-dirty-at-put", "kvm_arch_vcpu_put does not set PKVM_HOST_STATE_DIRTY: host "
         "writes between runs (KVM_SET_ONE_REG, SError injection) are never flushed",
         "plausible mistake", dirty_at_put=False),
    _bug("lazy-no-dirty-at-first-run", "kvm_arch_vcpu_run_pid_change does not set "
         "PKVM_HOST_STATE_DIRTY: the first entry runs the guest on an empty hyp context",
         "plausible mistake", dirty_at_first_run=False),
    _bug("lazy-flush-ignores-dirty", "flush_hyp_vcpu copies host->hyp on every entry: after an "
         "IRQ exit the stale host copy overwrites the guest's registers", "plausible mistake",
         flush_respects_dirty=False),
    _bug("lazy-put-ignores-dirty", "__pkvm_vcpu_put copies hyp->host even when DIRTY: a "
         "preemption after trap handling overwrites the handler's writes (MMIO data, sysreg "
         "emulation)", "plausible mistake", put_respects_dirty=False),
    _bug("lazy-trap-sync-no-dirty", "handle_exit_pkvm_state syncs on a trap but does not set "
         "DIRTY: the trap handler's writes are not flushed at the next entry",
         "plausible mistake", dirty_after_exit_sync=False),
    _bug("lazy-no-external-mdscr", "flush_debug_state takes debug_owner but not "
         "external_mdscr_el1: a vcpu single-stepped by userspace runs with a stale MDSCR_EL1, so "
         "host-owned debugging of a non-protected guest does nothing", "119a9a23fbae \"Flush "
         "external_mdscr_el1 to the pKVM hyp vCPU\" (kernel-model.md §5 #19)",
         flush_external_mdscr=False),
    _bug("lazy-adjust-pc-on-hyp", "handle___kvm_adjust_pc commits a pending PC increment on the "
         "loaded hyp vcpu: after a trap the host copy is authoritative (DIRTY), so the increment "
         "is not where userspace reads PC on the way out of KVM_RUN", "Android pKVM tree "
         "(torvalds/linux hyp-main.c @03efec2e808a); HYP-LATE fixed it with kvm_adjust_pc_get",
         adjust_pc_on_host=False),
    Variant("lazy-async-pmu-write", "bug", "pkvm",
            "lazy sync with a host PMU emulation whose perf overflow handler writes PMOVSSET_EL0 "
            "into the host copy from interrupt context: written while DIRTY is clear, the bit is "
            "neither flushed nor kept at put", "kernel-model.md §1.7.4 (hazard; kvm_pmu_perf_overflow "
            "in pmu-emul.c writes the context asynchronously; PMU emulation for non-protected "
            "guests under pKVM not verified)", LAZY, pmu_emulation=True),
    Variant("eager-vse-not-flushed", "bug", "pkvm",
            "2026 mainline pKVM Stage A, a real mainline defect: flush_hyp_vcpu takes only "
            "HCR_TWI|HCR_TWE from the host's hcr_el2 and sync_hyp_vcpu copies the whole hcr_el2 "
            "back, so a masked virtual SError the host pends (KVM_SET_VCPU_EVENTS, or "
            "kvm_inject_serror on an SError exit) never reaches a non-protected guest and is "
            "silently dropped at the first exit (the hyp's clear VSE overwrites the host's)",
            f"{_HYP_ML} (flush_hyp_vcpu / sync_hyp_vcpu); fixed by making VSE flow in and be reflected "
            "back: kvmarm/kvmarm @354d3c964091, linux-next (sashal) @9a92cf4dfca7; merge "
            "a940b03cee15 carries an intermediate form (flush takes TWI|TWE|VSE)",
            attrs.evolve(EAGER, hcr_flush="mask_no_vse")),
)

VGIC_POST = VgicPolicy()
_LRO = "[PATCH v4 00/49] KVM: arm64: Add LR overflow infrastructure (merged for v6.19)"


def _vgic(name: str, kind: str, description: str, source: str, **deviation: object) -> Variant:
    return Variant(name, kind, "vgic", description, source, LAZY, vgic=attrs.evolve(VGIC_POST, **deviation))


_VGIC = (
    _vgic("vgic-lr-overflow", "correct", "the vgic after the LR-overflow series (pending-first ap_list, "
          "NPIE/LRENPIE/UIE and group MIs, EOIcount walk from the last LR, TDIR) with the Mar-2026 fix, and "
          "active_spis counting the SPIs on ap_lists (hvfuzz's proposed fix of vgic-active-spis-undercount)",
          _LRO + "; cd28ca4c27ed \"Pick EOIcount deactivations from AP-list tail\"; active_spis: "
          "corpus/regressions/vgic-active-spis-undercount-dir-lost.json"),
    _vgic("vgic-active-spis-undercount", "bug", "the SPI tracking as merged: active_spis goes up when an SPI is "
          "queued and down at each deactivation the fold sees, so a level SPI that stays queued across its "
          "deactivation drops it to 0; vcpus then enter without TDIR, the SPI is re-acknowledged in hardware, "
          "and another vcpu's DIR of it is lost (the interrupt stays active for good). A candidate kernel "
          "defect found by hvfuzz",
          "\"KVM: arm64: GICv3: Add SPI tracking to handle asymmetric deactivation\" 1c3b3cadcd69 (v1 "
          "<20251103165517.2960148-34-maz@kernel.org>, same counting in v2 and v4 31/49): vgic_queue_irq_unlock "
          "increments, vgic_v3_fold_lr decrements; vgic_v3_configure_hcr's TDIR condition; 0dc433e79ad0's "
          "comment (trap DIR unless no SPI is pending or active in the VM)", active_spis_dec="fold"),
    _vgic("vgic-pre-series", "bug", "the vgic before the LR-overflow series: active-first ap_list, UIE only, "
          "EOIcount ignored, no TDIR: more active interrupts than LRs live-lock the guest",
          "VGIC-PRE vgic.c @06ea4c169ded; cover letter of the series", generation="pre"),
    _vgic("vgic-eoicount-from-head", "bug", "the EOIcount walk starts at the ap_list head and deactivates "
          "interrupts that were in LRs", "3cfd59f81e0f before cd28ca4c27ed (kernel-model.md §5 #1)",
          eoicount_from_last_lr=False),
    _vgic("vgic-eoicount-ignored", "bug", "fold never consumes EOIcount: EOIs of active interrupts outside "
          "the LRs are lost (EOImode 0)", "before f4ded7b0848e + 3cfd59f81e0f (§5 #3)", use_eoicount=False),
    _vgic("vgic-no-tdir", "bug", "ICV_DIR_EL1 never trapped: with EOImode 1 a DIR of an interrupt outside "
          "this vcpu's LRs only bumps EOIcount and is lost", "before cd4f6ee99b28 / 70fd60bdedc9 (§5 #4)",
          tdir="never"),
    _vgic("vgic-tdir-overflow-only", "bug", "TDIR only when actives overflow the LRs: an SPI acknowledged on "
          "one vcpu and deactivated on another stays active", "before 1c3b3cadcd69 (§5 #5)", tdir="overflow"),
    _vgic("vgic-tdir-assumed", "bug", "the CPU has no ICH_HCR_EL2.TDIR but KVM assumes it (no TC): DIR traps "
          "are silently not taken", "before 2a28810cbb8b (§5 #26)", cpu_has_tdir=False, detect_missing_tdir=False),
    _vgic("vgic-trap-armed-on-exit", "bug", "the exit path leaves compute_ich_hcr() & ~En in ICH_HCR_EL2 "
          "instead of 0: DIR traps and MIs stay armed for the host", "8be00d1ba3a1 (§5 #6)",
          exit_hcr_zero=False),
    _vgic("vgic-sort-active-first", "bug", "the series' machinery with the old active-first ap_list order: "
          "actives fill the LRs and pending interrupts never reach the guest",
          "05984ba67eb6 \"Invert ap_list sorting\" (§5 #2)", sort_pending_first=False),
    _vgic("vgic-undeliverable-first", "bug", "undeliverable / disabled-group interrupts are not pushed to the "
          "end of the ap_list: high-priority interrupts of a disabled group take the LRs",
          "33c1f60b3213 \"Move undeliverable interrupts to the end of ap_list\"",
          sort_undeliverable_last=False),
    _vgic("vgic-sort-prio-4bits", "bug", "the ap_list sort compares priorities with 4 bits instead of the "
          "implemented 5: a lower-priority interrupt can take the last LR", "plausible mistake",
          sort_prio_bits=4),
    _vgic("vgic-no-uie", "bug", "no underflow MI requested when interrupts are outside the LRs (NPIE only when "
          "pending ones overflow)", "plausible mistake", request_uie=False),
    _vgic("vgic-tdir-bcast-async", "bug", "the first-SPI TDIR broadcast as merged: KVM_REQ_IRQ_PENDING to "
          "every vcpu without waiting, so a vcpu already in the guest keeps TDIR clear until its next exit; "
          "a DIR there of an SPI acknowledged on another vcpu finds no LR, bumps EOIcount and is lost (the "
          "SPI stays active in the owner's LR for good). A candidate kernel defect found by hvfuzz (review "
          "Q3); the correct design closes the window",
          "\"KVM: arm64: GICv3: Add SPI tracking to handle asymmetric deactivation\" 1c3b3cadcd69 (v4 31/49): "
          "vgic_queue_irq_unlock's kvm_make_all_cpus_request(kvm, KVM_REQ_IRQ_PENDING), a request without "
          "KVM_REQUEST_WAIT", tdir_bcast="async"),
    _vgic("vgic-dir-cactive-no-halt", "bug", "a trapped DIR of an SPI live in another running vcpu's LR clears "
          "its active state without halting the vcpus: the owner's next fold writes its LR's active bit back "
          "and the deactivation is lost",
          "vgic_v3_deactivate (v4 27/49 \"Handle deactivation via ICV_DIR_EL1 traps\", v2 "
          "<20251109171619.1507205-28-maz@kernel.org>) goes through vgic_mmio_write_cactive, whose "
          "vgic_access_active_prepare halts the guest (kvm_arm_halt_guest; \"KVM: arm/arm64: vgic-new: "
          "Synchronize changes to active state\", 2016): without it", cactive_halt=False),
    _vgic("vgic-dir-trap-no-exit", "bug", "a TDIR-trapped DIR that misses this vcpu's LRs is emulated at EL2 "
          "like an untrapped one (EOIcount bumped) instead of exiting to the host: a DIR of an SPI active on "
          "another vcpu, or outside the LRs with EOImode 1, is lost",
          "before v4 27/49 \"Handle deactivation via ICV_DIR_EL1 traps\" (v2 "
          "<20251109171619.1507205-28-maz@kernel.org>): __vgic_v3_perform_cpuif_access sends a DIR to "
          "__vgic_v3_write_dir, which bumps EOIcount when no LR holds it", dir_trap_exits=False),
    _vgic("vgic-lpi-active-kept", "bug", "vgic_v3_fold_lr keeps an LPI's active bit: an acknowledged LPI left "
          "outside the LRs (pending interrupts sort first) and EOIed there with EOImode 0 never bumps EOIcount "
          "(the CPU does not count vLPIs), so it stays active in the vgic forever and its next MSIs are never "
          "delivered", "the fold before \"KVM: arm64: GICv3: Drop LPI active state when folding LRs\" "
          "73c9726975af (v4 10/49 <20251120172540.2267180-11-maz@kernel.org>)", lpi_fold_drops_active=False),
    _vgic("vgic-hw-no-phys-deactivate", "bug", "the mapped timer interrupt goes into a plain LR (no ICH_LR.HW, "
          "no pINTID): the guest's deactivation never reaches the physical vtimer PPI, which stays active, so "
          "the host never sees the timer fire again and the guest's timer interrupt is lost (populate cleared "
          "its line level)", "plausible mistake against vgic_v3_compute_lr/vgic_v3_populate_lr's "
          "\"if (irq->hw && !vgic_irq_needs_resampling(irq)) val |= ICH_LR_HW | hwintid\" (IHI 0069 "
          "ICH_LR<n>_EL2.HW: deactivating the virtual interrupt deactivates pINTID)", hw_lr=False),
    _vgic("vgic-eoicount-hw-no-phys-deactivate", "bug", "the EOIcount replay deactivates a HW-mapped interrupt "
          "outside the LRs in the vgic only: the physical vtimer PPI stays active, so the expired timer never "
          "fires again and the guest's next timer interrupt is lost", "plausible omission against "
          "vgic_v3_fold_lr_state's \"if (lr & ICH_LR_HW) vgic_v3_deactivate_phys(...)\" in \"KVM: arm64: GICv3: "
          "Handle LR overflow when EOImode==0\" 3cfd59f81e0f (found by hvfuzz's 2-minute soak of a model "
          "that lacked it)", eoicount_deactivates_phys=False),
    _vgic("vgic-sactive-not-queued", "bug", "an ISACTIVER write (the guest's, or userspace's restore of a "
          "migrated active state) sets the active state but queues the interrupt on no ap_list: no LR ever holds "
          "it, so the guest's EOI of it (after restoring its priority in ICC_AP1R0_EL1) finds no LR, only bumps "
          "EOIcount, and the interrupt stays active for good",
          "plausible omission against vgic_mmio_change_active's \"if (irq->active) vgic_queue_irq_unlock(...)\" "
          "(vgic-mmio.c), the path vgic_irq.c's test_restore_active exercises", sactive_queues=False),
    _vgic("vgic-mmio-active-no-halt", "bug", "the guest's ICACTIVER/ISACTIVER write changes the active state "
          "without halting the vcpus: a vcpu running with the interrupt active in its LR writes the LR's state "
          "back at its next fold, and the deactivation is lost",
          "before \"KVM: arm/arm64: vgic-new: Synchronize changes to active state\" (Christoffer Dall, 2016), "
          "which added vgic_change_active_prepare/finish (today vgic_access_active_prepare: kvm_arm_halt_guest "
          "for GICv3) to vgic_mmio_write_cactive/sactive", mmio_active_halt=False),
    _vgic("vgic-icpendr-clears-line", "bug", "an ICPENDR write clears a level interrupt's line level as well "
          "as its latch: the device still drives the line, but the interrupt is no longer pending until the line "
          "is raised again", "plausible mistake against vgic_mmio_write_cpending (\"irq->pending_latch = false\" "
          "only; the line is resampled from the device, never cleared by the register)",
          cpending_latch_only=False),
    _vgic("vgic-icpendr-no-halt", "bug", "ICPENDR as merged: the latch is cleared with the vcpus running, so a "
          "vcpu holding the (edge) interrupt pending in an LR folds it back into the latch at its next exit and "
          "the guest is delivered an interrupt it cleared. A candidate kernel defect found by hvfuzz; the correct "
          "design halts the guest first, as the active-state writes do",
          "vgic_mmio_write_cpending (vgic-mmio.c: no vgic_access_active_prepare) and vgic_v3_fold_lr (\"Edge is "
          "the only case where we preserve the pending bit\": pending_latch = true from a pending LR)",
          cpending_halt=False),
    _vgic("vgic-prune-no-migrate", "bug", "vgic_prune_ap_list drops an interrupt whose target changed (an "
          "IROUTER write retargeted a queued SPI) instead of moving it to the new vcpu's ap_list: the new "
          "target never sees it", "plausible mistake against vgic_prune_ap_list's migrate branch (\"the target "
          "VCPU has changed\": lock both ap_lists, list_move_tail to the new target, kick it)",
          prune_migrates=False),
    _vgic("vgic-lr-pending-while-disabled", "bug", "vgic_v3_compute_lr as merged: the LR's pending bit follows "
          "irq_is_pending() alone, so a disabled interrupt that is pending when it is made active (ISACTIVER: "
          "vgic_target_oracle queues an active interrupt enabled or not) goes into the LR Pending+Active; once the "
          "guest deactivates it the LR is Pending and the guest acknowledges an interrupt that is disabled. A "
          "candidate kernel defect found by hvfuzz (README row E8); the correct design writes the pending state "
          "only while the interrupt is enabled",
          "vgic_v3_compute_lr / vgic_v2_compute_lr (\"if (allow_pending && irq_is_pending(irq))\", no irq->enabled "
          "check) and vgic_target_oracle (\"If the IRQ is active, it must stay on the VCPU's ap_list\"), "
          "torvalds/linux arch/arm64/kvm/vgic after the LR-overflow series",
          lr_pending_needs_enabled=False),
    _vgic("vgic-no-group-mi", "bug", "no group enable/disable MIs: a guest enabling a group is not noticed "
          "until some other exit", "plausible mistake (before a69e2d6f8934)", request_group_mis=False),
)

_EOICOUNT_SRC = ("f4ded7b0848e \"KVM: arm64: GICv3: Preserve EOIcount on exit\" "
                 "(<20251103165517.2960148-11-maz@kernel.org>) "
                 "keeps EOIcount in the saved vgic_hcr, under pKVM the hyp's; it reaches the host's fold only through "
                 "sync_hyp_vgic_state's vgic_hcr copy (kvmarm/kvmarm hyp-main.c @354d3c964091)")
_VMCR_SRC = ("cf72ee637119 \"KVM: arm64: Eagerly save VMCR on exit\" "
             "(v2 19/45 <20251109171619.1507205-20-maz@kernel.org>): "
             "its hyp-main.c hunk adds host_cpu_if->vgic_vmcr = hyp_cpu_if->vgic_vmcr to sync_hyp_vcpu and turns "
             "the put hypercall __vgic_v3_save_vmcr_aprs into __vgic_v3_save_aprs")


def _pkvm_vgic(name: str, description: str, source: str, **deviation: object) -> Variant:
    """A pKVM x vgic bug variant: the correct vgic on lazy pKVM, one deviation in hyp-main.c's vgic
    copies; component "vgic", so its traces are made of vgic ops (and the run loop's)."""
    return Variant(name, "bug", "vgic", description, source, attrs.evolve(LAZY, **deviation), vgic=VGIC_POST)


_PKVM_VGIC = (
    _pkvm_vgic("pkvm-vgic-eoicount-lost", "sync_hyp_vgic_state copies the LRs back but not vgic_hcr: the EOIcount "
               "__vgic_v3_save_state preserved in the hyp's copy never reaches the host's fold, so EOIs (EOImode 0) "
               "of active interrupts outside the LRs are lost under pKVM only",
               "plausible mistake in the pKVM half of the series: " + _EOICOUNT_SRC, sync_vgic_hcr=False),
    _pkvm_vgic("pkvm-vgic-vmcr-not-eager", "the series' vgic on a pKVM that returns the hyp's VMCR to the host only at "
               "vcpu_put (__vgic_v3_save_vmcr_aprs), as before the series: between exits the host sorts the ap_list "
               "and picks the group MIs with the group enables of the last put, not the guest's current ones",
               "the tree before " + _VMCR_SRC, vmcr_sync="put"),
)

VGIC_V2 = VgicPolicy(version=2)
_V2_SRC = ("torvalds/linux arch/arm64/kvm/vgic/vgic-v2.c after " + _LRO + ": 281c6c06e2a7 \"GICv2: Handle LR "
           "overflow when EOImode==0\", 255de897e7fb \"GICv2: Handle deactivation via GICV_DIR traps\", "
           "07bb1c5622a5 \"GICv2: Always trap GICV_DIR register\"; 6da5e537f5af \"Pick EOIcount deactivations "
           "from AP-list tail\" (fixes 281c6c06e2a7 too); no pKVM (vgic_v2_probe: \"GICv2 not supported in "
           "protected mode\")")


def _vgic_v2(name: str, kind: str, description: str, source: str, **deviation: object) -> Variant:
    """A GICv2 design: the series' vgic-v2.c on KVM without pKVM (one copy of the vcpu context)."""
    return Variant(name, kind, "vgic", description, source, None, vgic=attrs.evolve(VGIC_V2, **deviation))


_VGIC_V2 = (
    _vgic_v2("vgic-v2-lr-overflow", "correct", "the GICv2 vgic after the LR-overflow series: GICH_HCR with "
             "NPIE/LRENPIE/UIE and group MIs, EOICount preserved at exit and replayed from the last LR (EOImode 0), "
             "GICV_DIR always trapped and emulated by vgic_v2_deactivate (SGI CPUID checked), SGIs pending from "
             "several vcpus sent one source per LR", _V2_SRC),
    _vgic_v2("vgic-v2-eoicount-lost", "bug", "vgic_v2_save_state does not keep GICH_HCR.EOICount: the fold never "
             "sees the EOIs (EOImode 0) of active interrupts outside the LRs, which stay active for good",
             "the tree before [PATCH 14/33] \"KVM: arm64: GICv2: Preserve EOIcount on exit\" "
             "(<20251103165517.2960148-15-maz@kernel.org>)", v2_save_eoicount=False),
    _vgic_v2("vgic-v2-eoicount-ignored", "bug", "vgic_v2_fold_lr_state folds the LRs only: the saved EOICount is "
             "never consumed, so interrupts EOId (EOImode 0) outside the LRs stay active",
             "the tree before 281c6c06e2a7 \"KVM: arm64: GICv2: Handle LR overflow when EOImode==0\"",
             use_eoicount=False),
    _vgic_v2("vgic-v2-eoicount-from-head", "bug", "the EOICount walk starts at the ap_list head: when the "
             "guest has also deactivated interrupts from the LRs, it deactivates interrupts that were in LRs "
             "(or already inactive ones are skipped and the wrong one is deactivated)",
             "281c6c06e2a7 as merged, before 6da5e537f5af \"KVM: arm64: vgic: Pick EOIcount deactivations from "
             "AP-list tail\" (<20260307191151.3781182-1-maz@kernel.org>, Fixes 3cfd59f81e0f and 281c6c06e2a7)",
             eoicount_from_last_lr=False),
    _vgic_v2("vgic-v2-dir-not-trapped", "bug", "GICV_DIR is mapped into the guest: a DIR of an interrupt outside "
             "this vcpu's LRs (an SPI acknowledged on another vcpu, or an active one past the LR window) only bumps "
             "EOICount in hardware, which the fold spends on whatever active interrupt follows the LRs",
             "the tree before 07bb1c5622a5 \"KVM: arm64: GICv2: Always trap GICV_DIR register\" and "
             "255de897e7fb \"GICv2: Handle deactivation via GICV_DIR traps\"", v2_trap_dir=False),
    _vgic_v2("vgic-v2-sgi-sources-dropped", "bug", "vgic_v2_populate_lr sends the lowest source of a GICv2 SGI and "
             "drops the others: an SGI two vcpus sent is taken once",
             "hypothetical mutant of vgic_v2_populate_lr's multi-source handling (\"we choose the lowest-numbered "
             "source VCPU and clear that bit in the source bitmap\", with the SGI left pending while sources "
             "remain; 16ca6a607d84 \"vgic: Don't populate multiple LRs with the same vintid\")",
             v2_sgi_requeue=False),
    # a GICv2 VM on a GICv3 host (vgic_model KVM_DEV_TYPE_ARM_VGIC_V2, the GICV frame of a GICv3 CPU interface)
    Variant("vgic-v3-gicv2-guest", "correct", "vgic", "a GICv2 VM on a GICv3 host after the LR-overflow series: "
            "vgic-v3.c's is_v2_sgi paths (an SGI's source in the LR's CPUID, one source per LR), GICV_DIR always "
            "trapped and emulated by vgic_v3_deactivate with the SGI's CPUID checked (295b69216558)",
            _LRO + ": 295b69216558 \"KVM: arm64: GICv3: Add GICv2 SGI handling to deactivation primitive\" "
            "(<20251103165517.2960148-29-maz@kernel.org>), 07bb1c5622a5; no pKVM (as the GICv2 designs)",
            None, vgic=VgicPolicy(guest_v2=True)),
    Variant("vgic-v3-gicv2-sgi-dir-lost", "bug", "vgic", "a GICv2 VM on a GICv3 host without the GICv2 SGI "
            "handling in vgic_v3_deactivate: the trapped GICV_DIR value keeps its CPUID, so a DIR of an SGI "
            "another vcpu sent is out of range and ignored: the SGI stays active for good",
            "the tree before 295b69216558 \"KVM: arm64: GICv3: Add GICv2 SGI handling to deactivation "
            "primitive\" (v1 28/33: \"Make sure we check for the source CPU when deactivating\")",
            None, vgic=VgicPolicy(guest_v2=True, v3_dir_v2_sgi=False)),
)

_PSCI_SRC = "arch/arm64/kvm/psci.c, arm.c, reset.c (current); seed: [PATCH 5/5] turn off vcpus on system exit events"


def _psci(name: str, description: str, source: str, policy: SyncPolicy = LAZY, **deviation: object) -> Variant:
    return Variant(name, "bug", "psci", description, source, policy, psci=PsciPolicy(**deviation))  # type: ignore[arg-type]


_PSCI = (
    _psci("psci-system-event-others-runnable", "SYSTEM_OFF/RESET turns only the caller off: the other vcpus "
          "keep entering the guest after the system event", "before cf5d318865e2 (the 2014 seed; "
          "kernel-model.md §5 #24)", stop_all_on_system_event=False),
    _psci("psci-no-stage2-unmap", "KVM_ARM_VCPU_INIT after the VM has run keeps the stage-2 mappings: a "
          "rebooted guest with its MMU off reads memory without the cache maintenance of a fault",
          "before 957db105c997 \"Introduce stage2_unmap_vm\" (§5 #25)", unmap_stage2_at_init=False),
    _psci("psci-cpu-on-runnable-first", "CPU_ON makes the target RUNNABLE and wakes it before its reset "
          "request is published (no single critical section / smp_wmb): the target can enter with its old "
          "context", "plausible mistake against the smp_wmb (kvm_psci_vcpu_on) / smp_rmb (kvm_vcpu_sleep) pairing; "
          "the historical CPU_ON races of §5 #23 (v3.13 no lock, torn reset_state before 6654f9dfcb88) are its kin",
          cpu_on_reset_before_runnable=False),
    _psci("psci-cpu-on-already-on-accepted", "CPU_ON does not check that the target is off: it returns "
          "SUCCESS for a running vcpu and resets it under the guest's feet", "plausible mistake (PSCI: "
          "ALREADY_ON)", cpu_on_checks_stopped=False),
    _psci("psci-run-stopped-enters", "kvm_vcpu_sleep does not block a STOPPED vcpu: KVM_RUN on a powered-off "
          "vcpu enters the guest", "plausible mistake (seed review: KVM_RUN on an off vcpu blocks)",
          sleep_while_stopped=False),
    _psci("psci-init-power-off-ignored", "KVM_ARM_VCPU_INIT ignores the POWER_OFF feature: secondaries start "
          "RUNNABLE instead of waiting for CPU_ON", "plausible mistake (POWER_OFF is per INIT, api.rst)",
          init_honours_power_off=False),
    _psci("psci-reset-keeps-pc-update", "the PSCI reset of kvm_reset_vcpu keeps a pending PC update: a "
          "guest's CPU_OFF by SMC leaves INCREMENT_PC set (handle_smc) while the vcpu sleeps; another vcpu's "
          "CPU_ON resets it to the entry point and the next entry's __kvm_adjust_pc skips the first "
          "instruction (the target starts at entry + 4)", "the kernel before 1744a6ef48b9 \"KVM: arm64: "
          "Discard PC update state on vcpu reset\" (<20260312140850.822968-1-maz@kernel.org>, Fixes "
          "f5e30680616a; reset.c as in kernelorg-mirror/linux_kernel_git_oupton_linux @3d433d8e1bac)",
          reset_discards_pc_update=False),
    Variant("lazy-hvc-no-sync", "bug", "psci", "lazy sync treats an HVC exit like an IRQ exit (no "
            "__pkvm_vcpu_sync_state, DIRTY cleared): kvm_psci_call reads the function ID and arguments from "
            "a stale host copy", "plausible mistake in handle_exit_pkvm_state (seed)",
            attrs.evolve(LAZY, sync_on_hvc=False)),
)

@attrs.frozen
class Origin:
    """Where a variant comes from: ``builtin`` (this file), ``entry point`` (an installed design
    registered in the ``hvfuzz.designs`` group), ``file`` (``--design PATH``) or ``module``
    (``--design MODULE`` / ``HVFUZZ_DESIGNS``).  ``module`` is the design's module name, ``file``
    its source file, ``name`` the entry point's name."""

    kind: str = attrs.field(validator=attrs.validators.in_(("builtin", "entry point", "file", "module")))
    module: str = "hvfuzz.model.variants"
    file: str | None = None
    name: str | None = None

    def describe(self) -> str:
        if self.kind == "builtin":
            return "builtin"
        if self.kind == "entry point":
            return f"entry point {self.name} ({self.module})"
        return f"file {self.file}" if self.kind == "file" else f"module {self.module}"

    def to_json(self) -> dict[str, str]:
        """What a repro records of a non-builtin design (``"design"``), so replay finds it again."""
        d = {"module": self.module}
        if self.file is not None:
            d["file"] = self.file
        if self.name is not None:
            d["entry_point"] = self.name
        return d


BUILTIN_ORIGIN = Origin("builtin")


@attrs.frozen(eq=False)
class Registry(Mapping[str, Variant]):
    """The variants a run knows, by name, with where each comes from: an immutable value, passed
    along (``Config.registry``) rather than looked up in a global.  ``with_design`` gives a new
    registry; a design may not redefine a name another design or hvfuzz already has."""

    _variants: Mapping[str, Variant]
    _origins: Mapping[str, Origin]
    #: how to make this registry again in another process: (function, args), for pickling
    _rebuild: tuple[Any, tuple[Any, ...]] | None = None

    @classmethod
    def of(cls, variants: Iterable[Variant], origin: Origin = BUILTIN_ORIGIN) -> Registry:
        return cls(MappingProxyType({}), MappingProxyType({})).with_design(variants, origin)

    def with_design(self, variants: Iterable[Variant], origin: Origin) -> Registry:
        new = dict(self._variants)
        origins = dict(self._origins)
        for v in variants:
            if not isinstance(v, Variant):
                raise ValueError(f"{origin.describe()}: not a Variant: {v!r:.60}")
            if v.name in new:
                raise ValueError(f"{origin.describe()}: variant {v.name!r} is already defined "
                                 f"({origins[v.name].describe()})")
            new[v.name] = v
            origins[v.name] = origin
        return Registry(MappingProxyType(new), MappingProxyType(origins))

    def origin(self, name: str) -> Origin:
        return self._origins[name]

    def __getitem__(self, name: str) -> Variant:
        return self._variants[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._variants)

    def __len__(self) -> int:
        return len(self._variants)

    def correct(self) -> list[Variant]:
        return [v for v in self._variants.values() if v.kind == "correct"]

    def bugs(self) -> list[Variant]:
        return [v for v in self._variants.values() if v.kind == "bug"]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Picklable (``hvfuzz fuzz --jobs``' worker processes get the configs that carry it): as
        the call that rebuilds it (``rebuild``: set by whoever loaded its designs,
        ``fuzz/plugins.py``), or as hvfuzz's own variants.  A design's variants are never pickled
        themselves: they may hold closures."""
        if self._rebuild is not None:
            return self._rebuild
        if any(o.kind != "builtin" for o in self._origins.values()):
            raise TypeError("a registry with designs pickles only as the call that loaded them")
        return _builtin, ()


def _builtin() -> Registry:
    return BUILTIN


#: hvfuzz's own variants (plugin designs: ``fuzz/plugins.py`` makes a larger registry from this)
BUILTIN = Registry.of(_ALL + _VGIC + _PKVM_VGIC + _VGIC_V2 + _PSCI)
#: the builtin registry under its old name (a read-only mapping)
VARIANTS = BUILTIN


def correct_variants() -> list[Variant]:
    return BUILTIN.correct()


def bug_variants() -> list[Variant]:
    return BUILTIN.bugs()
