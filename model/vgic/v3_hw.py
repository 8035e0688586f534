"""The GICv3 virtual CPU interface of a physical CPU: the ICH_* registers the hypervisor loads
(ICH_LR<n>_EL2, ICH_HCR_EL2, ICH_VMCR_EL2, ICH_AP<g>R<n>_EL2) and what the hardware does when the
guest acknowledges, EOIs and deactivates through ICV_* (QEMU hw/intc/arm_gicv3_cpuif.c:
``hppvi_index``, ``icv_hppi_can_preempt``, ``icv_iar_read``, ``icv_eoir_write``, ``icv_dir_write``,
``icv_drop_prio``; KVM vgic-v3-sr.c for the same on trap paths).

It lives on the ``Pcpu`` (``Pcpu.vgic_cpu``), as the EL1 timer does.  ``__vgic_v3_restore_state``
(``v3.VgicV3``) hands it a vcpu's saved ``vgic_v3_cpu_if`` values at guest entry and
``__vgic_v3_save_state`` takes them back at exit.
"""

from __future__ import annotations

import attrs

from hvfuzz.model.vgic.irq import (
    ICH_HCR_EN,
    ICH_HCR_EOICOUNT_MASK,
    ICH_HCR_EOICOUNT_SHIFT,
    ICH_HCR_LRENPIE,
    ICH_HCR_NPIE,
    ICH_HCR_TC,
    ICH_HCR_TDIR,
    ICH_HCR_UIE,
    ICH_HCR_VGRP0DIE,
    ICH_HCR_VGRP0EIE,
    ICH_HCR_VGRP1DIE,
    ICH_HCR_VGRP1EIE,
    SPURIOUS,
    VGIC_MIN_LPI,
    Lr,
)
from hvfuzz.model.vgic.v3_cpu_if import new_apr, preemption_bits
from hvfuzz.model.vgic.vmcr import Vmcr

LPI_BASE = VGIC_MIN_LPI


def idle_values(nr_lrs: int, pri_bits: int) -> tuple[list[Lr | None], Vmcr, list[list[int]]]:
    """LRs, VMCR and APRs of an interface with no vcpu loaded: 0 (VMCR at reset)."""
    return [None] * nr_lrs, Vmcr.reset(preemption_bits(pri_bits)), new_apr(pri_bits)


def ctz(x: int) -> int:
    return (x & -x).bit_length() - 1


@attrs.define(slots=True)
class IchCpuIf:
    """One pCPU's GICv3 virtual CPU interface.  ``nr_lrs`` and ``pri_bits`` are ICH_VTR_EL2's
    ListRegs+1 and PRIbits+1."""

    nr_lrs: int
    pri_bits: int
    #: ICH_HCR_EL2 (with EOIcount): what the CPU holds now, also after an exit
    hcr: int = 0
    #: ICH_VMCR_EL2
    vmcr: Vmcr = attrs.field(init=False)
    #: ICH_AP0R<n>_EL2, ICH_AP1R<n>_EL2
    apr: list[list[int]] = attrs.field(init=False)
    #: ICH_LR<n>_EL2 (None: 0, an invalid LR)
    lrs: list[Lr | None] = attrs.field(init=False)
    #: how many LRs ``__vgic_v3_restore_state`` wrote (``cpu_if->used_lrs``); the rest are 0
    used_lrs: int = attrs.field(init=False)
    #: the vcpu whose state is loaded (the kernel's ``kvm_get_running_vcpu()`` on this CPU)
    vcpu: int | None = attrs.field(init=False)
    #: what the LRs, VMCR and APRs hold with no vcpu loaded (constant: the guest reaches the
    #: interface only while its state is loaded; ``idle_values``, shareable between pCPUs)
    idle: tuple[list[Lr | None], Vmcr, list[list[int]]] = attrs.field(kw_only=True, default=None)
    #: preemption bits (ICH_VTR_EL2.PREbits+1)
    pre: int = attrs.field(init=False)
    #: physical INTIDs the CPU deactivated because the guest deactivated a HW LR (ICH_LR_EL2.HW),
    #: not yet handed to the physical distributor model (``System`` drains it after each guest access)
    phys_deactivated: list[int] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        self.pre = preemption_bits(self.pri_bits)
        if self.idle is None:
            self.idle = idle_values(self.nr_lrs, self.pri_bits)
        self.unload()

    def unload(self) -> None:
        """No vcpu's state in the interface: LRs 0 (``__vgic_v3_save_state`` writes 0 to each
        used LR).  The model also shows VMCR and the APRs at reset: the values it handed over
        belong to the vcpu again (the kernel leaves them in the CPU, unread, until the next
        restore)."""
        self.lrs, self.vmcr, self.apr = self.idle
        self.used_lrs = 0
        self.vcpu = None

    def pmask(self) -> int:
        return (0xFF << (8 - self.pri_bits)) & 0xFF

    # --- priority arithmetic (VPriorityGroup, icv_gprio_mask) ---------------------------------
    def gmask(self, g: int) -> int:
        vm = self.vmcr
        if g == 0 or vm.vcbpr:
            return (0xFF << (vm.vbpr0 + 1)) & 0xFF
        return (0xFF << vm.vbpr1) & 0xFF

    def rpr(self) -> int:
        """``ich_highest_active_virt_prio``: the running priority from the APRs (ICV_RPR_EL1)."""
        apr = self.apr
        for n in range(len(apr[0])):
            v = apr[0][n] | apr[1][n]
            if v:
                return (32 * n + ctz(v)) << (8 - self.pre)
        return 0xFF

    def can_signal(self, prio: int, g: int) -> bool:
        """``icv_hppi_can_preempt``: En, priority above PMR, group priority above running."""
        if not self.hcr & ICH_HCR_EN or not prio < self.vmcr.vpmr:
            return False
        r = self.rpr()
        return r == 0xFF or (prio & self.gmask(g)) < (r & self.gmask(g))

    def drop_prio(self) -> int | None:
        """``icv_drop_prio``: clear the highest active priority (group-agnostic)."""
        apr = self.apr
        for n in range(len(apr[0])):
            a0, a1 = apr[0][n], apr[1][n]
            if a0 | a1:
                c0 = ctz(a0) if a0 else 32
                c1 = ctz(a1) if a1 else 32
                g = 0 if c0 <= c1 else 1
                c = min(c0, c1)
                apr[g][n] &= ~(1 << c)
                return (32 * n + c) << (8 - self.pre)
        return None

    def group_enabled(self, g: int) -> bool:
        return self.vmcr.group_enabled(g)

    # --- LR searches ----------------------------------------------------------------------------
    def hppvi_index(self) -> int | None:
        """``hppvi_index``: the LR in state exactly Pending, group enabled, lowest priority value
        (first LR on ties)."""
        best, prio = None, 0xFF
        vm = self.vmcr
        for i, lr in enumerate(self.lrs[: self.used_lrs]):
            if lr is None or not lr.pending or lr.active or not vm.group_enabled(lr.group):
                continue
            if lr.priority < prio:
                best, prio = i, lr.priority
        return best

    def find_active_lr(self, intid: int) -> int | None:
        for i, lr in enumerate(self.lrs[: self.used_lrs]):
            if lr is not None and lr.active and lr.intid == intid:
                return i
        return None

    def bump_eoicount(self) -> None:
        c = ((self.hcr & ICH_HCR_EOICOUNT_MASK) >> ICH_HCR_EOICOUNT_SHIFT) + 1
        self.hcr = (self.hcr & ~ICH_HCR_EOICOUNT_MASK) | ((c & 0x1F) << ICH_HCR_EOICOUNT_SHIFT)

    @property
    def eoicount(self) -> int:
        return (self.hcr & ICH_HCR_EOICOUNT_MASK) >> ICH_HCR_EOICOUNT_SHIFT

    # --- guest accesses -------------------------------------------------------------------------
    def icv_iar_read(self, g: int) -> int:
        """``icv_iar_read``: acknowledge the HPPVI if it is of group ``g`` and can be signalled."""
        i = self.hppvi_index()
        if i is None:
            return SPURIOUS
        lr = self.lrs[i]
        assert lr is not None
        if lr.group != g or not self.can_signal(lr.priority, g):
            return SPURIOUS
        lr.pending, lr.active = False, True
        b = (lr.priority & self.gmask(g)) >> (8 - self.pre)
        self.apr[g][b // 32] |= 1 << (b % 32)
        return lr.intid

    def icv_eoir_write(self, g: int, intid: int) -> None:
        """``icv_eoir_write``: priority drop; with EOImode 0 (or for a vLPI, whatever EOImode)
        also deactivate the matching active LR (group and group priority must match), or bump
        EOIcount if no LR holds it (not for a vLPI: gic-architecture.md §2.6).

        EOIcount counts writes that "would have resulted in a virtual interrupt deactivation"
        (ICH_HCR_EL2.EOIcount), so an EOIR with EOImode 1 does not bump it — what KVM's
        LR-overflow design relies on.  QEMU's model and KVM's trap emulation bump it anyway
        (gic-architecture.md §2.6, A13); the model follows the architecture text."""
        if 1020 <= intid <= 1023:
            return
        dropped = self.drop_prio()
        if dropped is None:
            return
        i = self.find_active_lr(intid)
        veoim = self.vmcr.veoim
        if i is None:
            if not veoim and intid < LPI_BASE:  # a vLPI outside the LRs does not bump EOIcount
                self.bump_eoicount()
            return
        lr = self.lrs[i]
        assert lr is not None
        if lr.group == g and (lr.priority & self.gmask(g)) == dropped and (not veoim or intid >= LPI_BASE):
            self._deactivate(lr)  # a vLPI is deactivated by its EOI whatever EOImode

    def _deactivate(self, lr: Lr) -> None:
        """``icv_deactivate_irq``: clear the LR's active bit; with HW set, deactivate the pINTID."""
        lr.active = False
        if lr.hw:
            self.phys_deactivated.append(lr.pintid)

    def dir_traps(self) -> bool:
        return bool(self.hcr & (ICH_HCR_TDIR | ICH_HCR_TC))

    def icv_dir_write(self, intid: int) -> None:
        """``icv_dir_write`` (not trapped): with EOImode 1 deactivate the matching active LR, or
        bump EOIcount."""
        if intid >= 1020 or not self.vmcr.veoim:
            return
        i = self.find_active_lr(intid)
        if i is None:
            self.bump_eoicount()
            return
        lr = self.lrs[i]
        assert lr is not None
        self._deactivate(lr)

    def icv_pmr_write(self, value: int) -> None:
        """``icv_pmr_write``: only the implemented priority bits are kept."""
        self.vmcr.vpmr = value & self.pmask()

    def icv_bpr_write(self, g: int, value: int) -> None:
        """``icv_bpr_write`` / ``write_vbpr``: clamped to the minimum binary point; BPR1 writes are
        ignored while VCBPR is set."""
        vm = self.vmcr
        if g == 0:
            vm.vbpr0 = max(value, 7 - self.pre)
        elif not vm.vcbpr:
            vm.vbpr1 = max(value, 8 - self.pre)

    def icv_igrpen_write(self, g: int, enable: bool) -> None:
        """ICV_IGRPEN<g>_EL1 (VMCR.VENG<g>)."""
        if g:
            self.vmcr.veng1 = enable
        else:
            self.vmcr.veng0 = enable

    def icv_ctlr_write_eoimode(self, eoimode: bool) -> None:
        """ICV_CTLR_EL1.EOImode (VMCR.VEOIM)."""
        self.vmcr.veoim = eoimode

    def icv_ctlr_write(self, value: int) -> None:
        """``__vgic_v3_write_ctlr`` / QEMU ``icv_ctlr_write``: ICV_CTLR_EL1 writes CBPR (bit 0)
        and EOImode (bit 1); the other bits are read-only or RES0."""
        self.vmcr.vcbpr = bool(value & 1)
        self.vmcr.veoim = bool(value & 2)

    def icv_ctlr_read(self, vtr: int) -> int:
        """``__vgic_v3_read_ctlr``: CBPR, EOImode from VMCR; PRIbits, IDbits, SEIS and A3V copied
        from ICH_VTR_EL2 (``vtr``)."""
        val = int(self.vmcr.vcbpr) | int(self.vmcr.veoim) << 1
        val |= ((vtr >> 29) & 7) << 8  # PRIbits
        val |= ((vtr >> 23) & 7) << 11  # IDbits
        val |= ((vtr >> 22) & 1) << 14  # SEIS
        val |= ((vtr >> 21) & 1) << 15  # A3V
        return val

    def icv_bpr_read(self, g: int) -> int:
        """``__vgic_v3_get_bpr0`` / ``__vgic_v3_get_bpr1``: with VCBPR, BPR1 reads BPR0+1
        (at most 7)."""
        vm = self.vmcr
        if g == 0:
            return vm.vbpr0
        return min(vm.vbpr0 + 1, 7) if vm.vcbpr else vm.vbpr1

    def icv_igrpen_read(self, g: int) -> int:
        """``__vgic_v3_read_igrpen0/1``: VMCR.VENG<g>."""
        return int(self.vmcr.group_enabled(g))

    def icv_hppir_read(self, g: int) -> int:
        """``__vgic_v3_read_hppir``: the HPPVI's vINTID if it is of group ``g``, else 1023 (no
        PMR, running-priority or En check)."""
        i = self.hppvi_index()
        if i is None:
            return SPURIOUS
        lr = self.lrs[i]
        assert lr is not None
        return lr.intid if lr.group == g else SPURIOUS

    #: the version-independent names of ``version.VCpuIf``
    ack = icv_iar_read
    eoi = icv_eoir_write
    set_pmr = icv_pmr_write
    set_bpr = icv_bpr_write
    set_grpen = icv_igrpen_write
    set_eoimode = icv_ctlr_write_eoimode

    # --- maintenance interrupt (vgic_v3_get_misr) -----------------------------------------------
    def eisr(self) -> int:
        """``vgic_v3_get_eisr`` (vgic-v3-nested.c): ICH_EISR_EL2, the invalid LRs with EOI set
        (a HW LR never has EOI set: ``vgic_v3_compute_lr``)."""
        return sum(1 << i for i, lr in enumerate(self.lrs[: self.used_lrs])
                   if lr is not None and not lr.valid and lr.eoi)

    def elrsr(self) -> int:
        """ICH_ELRSR_EL2: the empty LRs, as the hardware reports them (IHI 0069 ICH_ELRSR_EL2: an
        LR is empty when its State is 0 and HW is 1 or EOI is 0, i.e. it can be reused "without
        losing an EOI maintenance interrupt"; QEMU ``ich_elrsr_read`` agrees).  KVM's own
        emulation for nested guests (``vgic_v3_get_elrsr``, vgic-v3-nested.c) counts every LR
        whose State is 0, EOI or not; the model follows the architecture (README table)."""
        return sum(1 << i for i, lr in enumerate(self.lrs[: self.nr_lrs])
                   if lr is None or (not lr.valid and not lr.eoi))


    def misr(self) -> int:
        """``vgic_v3_get_misr``: ICH_MISR_EL2 (EOI, U, LRENP, NP, VGrp0E/D, VGrp1E/D)."""
        hcr, vm = self.hcr, self.vmcr
        valid = [lr for lr in self.lrs[: self.used_lrs] if lr is not None and lr.valid]
        m = 0
        if any(lr is not None and not lr.valid and lr.eoi for lr in self.lrs[: self.used_lrs]):
            m |= 1
        if hcr & ICH_HCR_UIE and len(valid) <= 1:
            m |= 2
        if hcr & ICH_HCR_LRENPIE and self.eoicount:
            m |= 4
        if hcr & ICH_HCR_NPIE and not any(lr.pending for lr in valid):
            m |= 8
        if hcr & ICH_HCR_VGRP0EIE and vm.veng0:
            m |= 16
        if hcr & ICH_HCR_VGRP0DIE and not vm.veng0:
            m |= 32
        if hcr & ICH_HCR_VGRP1EIE and vm.veng1:
            m |= 64
        if hcr & ICH_HCR_VGRP1DIE and not vm.veng1:
            m |= 128
        return m


__all__ = ["IchCpuIf", "ctz", "idle_values"]
