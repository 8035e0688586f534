"""vgic data: ``struct vgic_irq``, list-register values, and the implementation choices of a vgic
generation (``VgicPolicy``).  GICv3 (and GICv2: ``VgicPolicy.version``); SGIs, PPIs, SPIs, LPIs
named by an MSI (no ITS tables) and the HW-mapped virtual timer PPI."""

from __future__ import annotations

import attrs

SPURIOUS = 1023
NR_PRIVATE = 32
#: ``VGIC_MIN_LPI``: LPIs are INTIDs from 8192 (IHI 0069 §1.2.1)
VGIC_MIN_LPI = 8192
#: the virtual timer's PPI (``vtimer``: INTID 27) and the host's physical vtimer PPI it is mapped to
VTIMER_PPI = 27

# ICH_HCR_EL2 bits (gicv3_internal.h / arm-gic-v3.h)
ICH_HCR_EN = 1 << 0
ICH_HCR_UIE = 1 << 1
ICH_HCR_LRENPIE = 1 << 2
ICH_HCR_NPIE = 1 << 3
ICH_HCR_VGRP0EIE = 1 << 4
ICH_HCR_VGRP0DIE = 1 << 5
ICH_HCR_VGRP1EIE = 1 << 6
ICH_HCR_VGRP1DIE = 1 << 7
ICH_HCR_TC = 1 << 10
ICH_HCR_TDIR = 1 << 14
ICH_HCR_EOICOUNT_SHIFT = 27
ICH_HCR_EOICOUNT_MASK = 0x1F << ICH_HCR_EOICOUNT_SHIFT
ICH_HCR_TRAPS = ICH_HCR_TC | ICH_HCR_TDIR


@attrs.define(slots=True)
class VgicIrq:
    """``struct vgic_irq`` (vgic.h), reduced to SGI/PPI/SPI/LPI (``source``/``active_source``:
    GICv2 SGIs only)."""

    intid: int
    #: for SGI/PPI the vcpu whose redistributor holds it
    owner_vcpu: int | None = None
    #: the routing target (GICD_IROUTER for SPIs, the owner for SGI/PPI)
    target_vcpu: int = 0
    #: ``irq->vcpu``: the vcpu whose ap_list it is on (None: on no ap_list)
    vcpu: int | None = None
    pending_latch: bool = False
    line_level: bool = False
    level: bool = False  # config: level (True) or edge
    enabled: bool = False
    active: bool = False
    priority: int = 0xA0
    group: int = 1
    on_lr: bool = False
    #: ``irq->hw``: mapped to a physical interrupt (``kvm_vgic_map_phys_irq``: the timer)
    hw: bool = False
    #: ``irq->hwintid``: the physical INTID it is mapped to
    hwintid: int = 0
    #: ``irq->source`` (GICv2 SGIs): bitmap of the vcpus whose GICD_SGIR write is pending
    source: int = 0
    #: ``irq->active_source`` (GICv2 SGIs): the source vcpu of the active SGI
    active_source: int = 0

    def is_pending(self) -> bool:
        """``irq_is_pending``: edge -> pending_latch; level -> pending_latch || line_level."""
        return self.pending_latch or (self.level and self.line_level)


@attrs.define(slots=True)
class Lr:
    """An ICH_LR<n>_EL2 value: vINTID, State (pending/active bits), Group, Priority, EOI."""

    intid: int
    pending: bool = False
    active: bool = False
    group: int = 1
    priority: int = 0
    eoi: bool = False
    #: ICH_LR_EL2.HW: deactivating the virtual interrupt deactivates ``pintid`` (IHI 0069 ICH_LR<n>_EL2)
    hw: bool = False
    pintid: int = 0
    #: GICH_LR.CPUID (GICv2 SGIs: the source vcpu the guest's GICV_IAR reports)
    cpuid: int = 0

    @property
    def valid(self) -> bool:
        return self.pending or self.active

    def state(self) -> str:
        return {(True, False): "P", (False, True): "A", (True, True): "P+A"}.get((self.pending, self.active), "-")


GENERATIONS = ("pre", "post")


@attrs.frozen
class VgicPolicy:
    """How a vgic generation handles LR overflow (kernel-model.md §3); knobs are deviations."""

    #: "pre": before the LR-overflow series (active-first sort, UIE only, no EOIcount, no TDIR);
    #: "post": after it (v6.19 + the Mar-2026 EOIcount fix)
    generation: str = attrs.field(default="post", validator=attrs.validators.in_(GENERATIONS))
    #: post: the ap_list sort puts purely pending first (False: the old active-first order)
    sort_pending_first: bool = True
    #: post: undeliverable / disabled-group interrupts sort last (33c1f60b3213)
    sort_undeliverable_last: bool = True
    #: how many priority bits the sort compares (8: all of them)
    sort_prio_bits: int = 8
    #: post: the EOIcount walk starts after the last interrupt that was in an LR (False: head)
    eoicount_from_last_lr: bool = True
    #: post: fold consumes EOIcount at all (False: 3cfd59f81e0f missing)
    use_eoicount: bool = True
    #: TDIR: "post" (no TDIR support, actives outside the LRs, or SPIs in flight), "overflow"
    #: (only actives outside the LRs: 1c3b3cadcd69 missing), "never" (cd4f6ee99b28 missing)
    tdir: str = attrs.field(default="post", validator=attrs.validators.in_(("post", "overflow", "never")))
    #: the CPU implements ICH_HCR_EL2.TDIR; if not, KVM traps DIR with TC (2a28810cbb8b)
    cpu_has_tdir: bool = True
    #: KVM knows when the CPU lacks TDIR (False: assumes it is present, no TC)
    detect_missing_tdir: bool = True
    #: post: UIE requested when interrupts are outside the LRs
    request_uie: bool = True
    #: post: group enable/disable MIs requested (a69e2d6f8934)
    request_group_mis: bool = True
    #: post: when ``kvm->arch.vgic.active_spis`` goes down.  "prune": when an SPI leaves the
    #: ap_list (``vgic_prune_ap_list``), so the count is "SPIs pending or active in the VM", the
    #: condition the LR-overflow documentation gives for trapping DIR (0dc433e79ad0) — the fix
    #: hvfuzz proposes.  "fold": as merged (1c3b3cadcd69): at fold, once per deactivation the host
    #: sees; a level SPI that stays queued across its deactivation drops the count to 0 while it can
    #: be re-activated in hardware, and another vcpu's DIR of it is then lost (no TDIR)
    active_spis_dec: str = attrs.field(default="prune", validator=attrs.validators.in_(("prune", "fold")))
    #: the exit path writes 0 to ICH_HCR_EL2 (8be00d1ba3a1; False: leaves ``compute & ~En``)
    exit_hcr_zero: bool = True
    #: post: the first-SPI TDIR broadcast (``active_spis`` 0 -> 1).  "sync": every vcpu running a
    #: guest traps DIR from that instant (the window closed: hvfuzz's proposed fix); "async": as
    #: merged (1c3b3cadcd69), KVM_REQ_IRQ_PENDING posted without waiting, so a running vcpu keeps
    #: TDIR clear until its next exit, and a DIR there of an SPI live in another vcpu's LR is lost
    tdir_bcast: str = attrs.field(default="sync", validator=attrs.validators.in_(("sync", "async")))
    #: post: a trapped DIR of an interrupt live in another vcpu's LR halts every vcpu before the
    #: active state changes (``vgic_mmio_write_cactive``: ``kvm_arm_halt_guest``; False: the active
    #: state is cleared with the vcpus running, and the owner's fold writes its LR's back)
    cactive_halt: bool = True
    #: post: a TDIR-trapped DIR that no LR of the vcpu holds exits to the host
    #: (``access_gic_dir`` -> ``vgic_v3_deactivate``, "Handle deactivation via ICV_DIR_EL1 traps";
    #: False: EL2 emulates it as before that patch, ``__vgic_v3_write_dir`` bumping EOIcount)
    dir_trap_exits: bool = True
    #: ``vgic_v3_fold_lr`` drops an LPI's active bit (73c9726975af "GICv3: Drop LPI active state when
    #: folding LRs"; False: the fold before it keeps it)
    lpi_fold_drops_active: bool = True
    #: ``vgic_irq_cmp``'s last key: HW-mapped interrupts first among equals
    sort_hw_tiebreak: bool = True
    #: ``vgic_v3_populate_lr`` sets ICH_LR.HW with the physical INTID for a mapped interrupt (False:
    #: the LR is a plain virtual one, so the guest's deactivation never reaches the physical interrupt)
    hw_lr: bool = True
    #: the EOIcount replay of ``vgic_v3_fold_lr_state`` deactivates a HW interrupt's physical one
    #: (``vgic_v3_deactivate_phys``, 3cfd59f81e0f; False: only the virtual state is folded)
    eoicount_deactivates_phys: bool = True
    #: the GIC version of the host's CPU interface: 3 (vgic-v3.c, ``v3.VgicV3``) or 2 (vgic-v2.c,
    #: ``v2.VgicV2``: a GICv2 host, the guest sees a GICv2)
    version: int = attrs.field(default=3, validator=attrs.validators.in_((2, 3)))
    #: GICv2: ``vgic_v2_save_state`` keeps GICH_HCR.EOICount when LRENPIE is set ("KVM: arm64:
    #: GICv2: Preserve EOIcount on exit"; False: the count is lost at every exit)
    v2_save_eoicount: bool = True
    #: GICv2: the GICV_DIR page is left unmapped so every guest DIR traps to the host's
    #: ``vgic_v2_deactivate`` (07bb1c5622a5 "GICv2: Always trap GICV_DIR register", with
    #: 255de897e7fb "Handle deactivation via GICV_DIR traps"; False: the guest writes the hardware's
    #: GICV_DIR, which deactivates an LR or bumps EOICount)
    v2_trap_dir: bool = True
    #: GICv2: ``vgic_v2_populate_lr`` leaves an SGI pending while other sources remain in
    #: ``irq->source`` (False: the remaining sources are dropped)
    v2_sgi_requeue: bool = True
    #: a GICv3 host running a GICv2 VM (``vgic_model`` KVM_DEV_TYPE_ARM_VGIC_V2: the guest uses the
    #: GICV frame of the GICv3 CPU interface, ``vgic_v3_compute_lr``'s ``is_v2_sgi`` paths)
    guest_v2: bool = False
    #: GICv2 VM on a GICv3 host: ``vgic_v3_deactivate`` strips the CPUID from a trapped GICV_DIR value
    #: and checks it against the SGI's ``active_source`` (295b69216558 "GICv3: Add GICv2 SGI handling
    #: to deactivation primitive"; False: the value with its CPUID is out of range and ignored)
    v3_dir_v2_sgi: bool = True

    #: ``vgic_mmio_change_active``: an interrupt made active is queued (``if (irq->active)
    #: vgic_queue_irq_unlock``; False: it is left on no ap_list, so no LR ever holds it)
    sactive_queues: bool = True
    #: a guest's (not uaccess) ISACTIVER/ICACTIVER write halts every vcpu first
    #: (``vgic_access_active_prepare`` -> ``kvm_arm_halt_guest``; False: the active state changes
    #: under a running vcpu whose LR holds the interrupt, and that vcpu's fold writes it back)
    mmio_active_halt: bool = True
    #: ICPENDR clears the pending latch only (``vgic_mmio_write_cpending``; False: a level
    #: interrupt's line level is cleared too, as if the device had dropped it)
    cpending_latch_only: bool = True
    #: a guest's ICPENDR write halts every vcpu first, as the active-state writes do (hvfuzz's
    #: proposed fix; False: as merged, ``vgic_mmio_write_cpending`` clears the latch with the vcpus
    #: running, and a running vcpu whose LR holds the interrupt pending folds it back into the latch
    #: at its next exit: ``vgic_v3_fold_lr``'s "Edge is the only case where we preserve the pending
    #: bit", so the clear is undone and the interrupt is delivered later)
    cpending_halt: bool = True
    #: ``vgic_prune_ap_list`` moves an interrupt whose target changed to its new vcpu's ap_list
    #: (False: it is dropped from the old one and queued nowhere)
    prune_migrates: bool = True
    #: ``vgic_v3_compute_lr`` writes an interrupt's pending state into its LR only while it is
    #: enabled (hvfuzz's proposed fix; False: as merged, ``irq_is_pending`` alone decides, so a
    #: disabled interrupt queued because it is active (ISACTIVER, ``vgic_target_oracle``) goes into
    #: the LR Pending+Active, and once the guest deactivates it the guest acknowledges an interrupt
    #: that is disabled)
    lr_pending_needs_enabled: bool = True

    def guest_version(self) -> int:
        """The GIC architecture the guest sees: 2 on a GICv2 host or for a GICv2 VM on a GICv3 host."""
        return 2 if self.version == 2 or self.guest_v2 else 3
