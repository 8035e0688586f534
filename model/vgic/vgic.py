"""The version-independent vgic (arch/arm64/kvm/vgic/vgic.c): interrupt state, the per-vcpu
ap_list, ``vgic_target_oracle``, ``vgic_queue_irq_unlock``, ``kvm_vgic_inject_irq``,
``vgic_sort_ap_list``, ``vgic_flush_lr_state`` (what ``kvm_vgic_flush_hwstate`` runs before an
entry), ``vgic_prune_ap_list``, and ``kvm_vgic_sync_hwstate`` after an exit; before the LR-overflow
series (``generation="pre"``) and after it (``"post"``), per ``VgicPolicy``.

It reaches GIC-version code only where vgic.c does (``version.VgicVersion``: populate / clear an
LR, underflow / configure HCR, fold, save / restore, DIR), through ``self.ver`` (``v3.VgicV3``).
``vgic_save_state`` / ``vgic_restore_state`` (``__hyp_vgic_save/restore_state`` at EL2) are the
run loop's direct calls of ``ver.save_state`` / ``ver.restore_state`` (``model/pkvm/host.py``),
on the saved state it names: the host vcpu's, or later the hyp vcpu's.
The saved CPU-interface state of vcpu ``v`` is ``cpu_if[v]`` (held by the host vcpu, as
``vcpu->arch.vgic_cpu``); the live interfaces are ``hw[p]``, one per pCPU (held by the ``Pcpu``).
"""

from __future__ import annotations

from collections.abc import Callable

from hvfuzz.model.vgic.irq import (
    ICH_HCR_TC,
    ICH_HCR_TDIR,
    NR_PRIVATE,
    VGIC_MIN_LPI,
    VTIMER_PPI,
    VgicIrq,
    VgicPolicy,
)
from hvfuzz.model.vgic.v2 import V2_PRI_BITS, VgicV2
from hvfuzz.model.vgic.v3 import VgicV3
from hvfuzz.model.vgic.version import CpuIfState, VCpuIf, VgicVersion

NR_SPIS = 32


class Vgic:
    """The VM's vgic: distributor/redistributor interrupt state, ap_lists, and the per-vcpu and
    per-pCPU CPU-interface state of its GIC version."""

    def __init__(self, vcpus: int, pcpus: int, nr_lrs: int, pri_bits: int, policy: VgicPolicy) -> None:
        self.policy = policy
        self.nr_lrs = nr_lrs
        #: the GIC version's code: vgic-v3.c, or vgic-v2.c (``policy.version``; its virtual CPU
        #: interface and KVM's GICv2 distributor, VGIC_PRI_BITS, have five priority bits)
        self.ver: VgicVersion
        if policy.guest_version() == 2:
            pri_bits = V2_PRI_BITS
        if policy.version == 2:
            self.ver = VgicV2(policy, nr_lrs, pri_bits)
        else:
            self.ver = VgicV3(policy, nr_lrs, pri_bits)
        self.pri_bits = pri_bits
        # positional (intid, owner_vcpu, target_vcpu; edge, the default): one of these per private
        # interrupt per vcpu, for every example the fuzzer runs
        self.private = [[VgicIrq(i, v, v) for i in range(NR_PRIVATE)] for v in range(vcpus)]
        self.spis = [VgicIrq(NR_PRIVATE + i) for i in range(NR_SPIS)]
        self.ap_list: list[list[VgicIrq]] = [[] for _ in range(vcpus)]
        #: each vcpu's saved CPU-interface state (``HostVcpu.vgic_cpu_if`` holds the same object)
        self.cpu_if: list[CpuIfState] = [self.ver.new_cpu_if() for _ in range(vcpus)]
        #: the copies EL2 works on while a vcpu runs (the shadow ``vgic_hcr`` the DIR fast path
        #: reads): ``cpu_if`` itself, or under pKVM the hyp vcpu's copy (``System`` installs it)
        self.el2_cpu_if: list[CpuIfState] = self.cpu_if
        #: each pCPU's virtual CPU interface (``Pcpu.vgic_cpu`` holds the same object)
        self.hw: list[VCpuIf] = [self.ver.new_vcpu_if() for _ in range(pcpus)]
        #: host_data.last_lr_irq of the CPU the vcpu last ran on (post-series)
        self.last_lr_irq: list[VgicIrq | None] = [None] * vcpus
        #: ``kvm->arch.vgic.active_spis`` (1c3b3cadcd69)
        self.active_spis = 0
        #: the interrupts an op has injected or configured (by ``id``, in that order).  No kernel
        #: counterpart: every other interrupt keeps its reset state, so a scan of the active ones
        #: (the ISACTIVER read ``System.observe_guest_entry`` reports) need only look at these.
        #: Left out of the exhaustive search's state key: it decides no future.
        self.named: dict[int, VgicIrq] = {}
        self.dist_enabled = True
        #: the LPIs an MSI has named (``vgic_add_lpi`` on the ITS's MAPTI; created at the first MSI)
        self.lpis: dict[int, VgicIrq] = {}
        #: per vcpu: the virtual timer's condition (CNTV_CTL.ISTATUS with ENABLE=1, IMASK=0)
        self.timer_cond = [False] * vcpus
        #: per vcpu: the physical vtimer PPI's state at the physical distributor (active: the host
        #: acknowledged it and left the deactivation to the guest's HW LR; pending: it fired while active)
        self.phys_active = [False] * vcpus
        self.phys_pending = [False] * vcpus
        #: the INTIDs ``vgic_prune_ap_list``'s migrate branch moved during the current op (no kernel
        #: counterpart: ``System.apply`` empties it before each op, for the semantic coverage).  Left
        #: out of the exhaustive search's state key
        self.migrated: list[int] = []

    def pmask(self) -> int:
        return (0xFF << (8 - self.pri_bits)) & 0xFF

    def lookup(self, vcpu: int, intid: int) -> VgicIrq | None:
        if intid < NR_PRIVATE:
            return self.private[vcpu][intid]
        if intid < NR_PRIVATE + NR_SPIS:
            return self.spis[intid - NR_PRIVATE]
        return self.lpis.get(intid)

    def running_vcpu_if(self, vcpu: int) -> VCpuIf | None:
        """The live interface holding ``vcpu``'s state (it is in the guest), or None."""
        for hw in self.hw:
            if hw.vcpu == vcpu:
                return hw
        return None

    # --- vgic.c ---------------------------------------------------------------------------------
    def vgic_target_oracle(self, irq: VgicIrq) -> int | None:
        """``vgic_target_oracle``: active -> where it is; enabled+pending -> its target."""
        if irq.active:
            return irq.vcpu if irq.vcpu is not None else irq.target_vcpu
        if irq.enabled and irq.is_pending():
            return irq.target_vcpu if self.dist_enabled else None
        return None

    def vgic_queue_irq_unlock(self, irq: VgicIrq) -> int | None:
        """``vgic_queue_irq_unlock``: put the interrupt on its target's ap_list (tail); returns the
        vcpu to kick (KVM_REQ_IRQ_PENDING)."""
        v = self.vgic_target_oracle(irq)
        if irq.vcpu is not None or v is None:
            return v
        self.ap_list[v].append(irq)
        irq.vcpu = v
        if NR_PRIVATE <= irq.intid < VGIC_MIN_LPI and self.policy.generation == "post":  # SPIs only
            self.active_spis += 1
            if self.active_spis == 1:
                self.ver.first_spi_in_flight(self)
        return v

    def kvm_vgic_inject_irq(self, vcpu: int, intid: int, level: bool) -> bool:
        """``kvm_vgic_inject_irq`` + ``vgic_validate_injection``: level: a change of the line;
        edge: ``level=1`` latches pending."""
        irq = self.lookup(vcpu, intid)
        if irq is None:
            return False
        if intid < 16:  # an SGI: the vcpu's own request (GICv2: GICD_SGIR to itself)
            return self.vgic_send_sgi(vcpu, vcpu, intid) if level else False
        self.named.setdefault(id(irq), irq)
        if irq.level:
            if irq.line_level == level:
                return False
            irq.line_level = level
        else:
            if not level:
                return False
            irq.pending_latch = True
        self.vgic_queue_irq_unlock(irq)
        return True

    def vgic_send_sgi(self, source: int, target: int, intid: int) -> bool:
        """Vcpu ``source``'s guest requests SGI ``intid`` for vcpu ``target``: GICv2's GICD_SGIR
        (``vgic_mmio_write_sgir``: ``irq->source |= 1U << source``, pending, queued) or GICv3's
        ICC_SGI1R_EL1 (``vgic_v3_dispatch_sgi``: pending, queued; no source)."""
        irq = self.lookup(target, intid)
        if irq is None or intid >= 16:
            return False
        self.named.setdefault(id(irq), irq)
        if self.policy.guest_version() == 2:
            irq.source |= 1 << source
        irq.pending_latch = True
        self.vgic_queue_irq_unlock(irq)
        return True

    def vgic_its_inject_msi(self, vcpu: int, intid: int, priority: int) -> bool:
        """``vgic_its_inject_msi`` → ``vgic_its_trigger_msi``: the MSI names LPI ``intid``, which
        latches pending (LPIs are edge) and is queued to its redistributor.  No ITS tables: the first
        MSI for an LPI maps it (MAPTI to ``vcpu``'s collection; enabled, group 1 and ``priority``
        from the configuration table, ``update_lpi_config``); later MSIs keep that mapping."""
        if intid < VGIC_MIN_LPI or self.policy.guest_version() == 2:  # GICv2 has no LPIs
            return False
        irq = self.lpis.get(intid)
        if irq is None:
            irq = VgicIrq(intid=intid, target_vcpu=vcpu, enabled=True, priority=priority & self.pmask(), group=1)
            self.lpis[intid] = irq
        self.named.setdefault(id(irq), irq)
        irq.pending_latch = True
        self.vgic_queue_irq_unlock(irq)
        return True

    def kvm_timer_fire(self, vcpu: int) -> bool:
        """The vcpu's virtual timer expires (its condition becomes true and stays so).  With the
        timer mapped (``kvm_timer_enable`` → ``kvm_vgic_map_phys_irq``: ``hw``, ``hwintid``, level),
        the physical vtimer PPI fires unless it is still active: the host takes it
        (``kvm_arch_timer_handler``: acknowledged, EOImode 1 priority drop, the deactivation left to
        the guest) and ``kvm_timer_update_irq`` raises the virtual line.  Applies only to a
        level-configured PPI 27 (the architecture's timer output is a level)."""
        irq = self.private[vcpu][VTIMER_PPI]
        if not irq.level:
            return False
        self.named.setdefault(id(irq), irq)
        irq.hw, irq.hwintid = True, VTIMER_PPI
        self.timer_cond[vcpu] = True
        self._phys_fire(vcpu)
        return True

    def _phys_fire(self, vcpu: int) -> None:
        """The physical vtimer PPI is asserted: taken by the host unless active (then it stays pending)."""
        if self.phys_active[vcpu]:
            self.phys_pending[vcpu] = True
            return
        self.phys_pending[vcpu] = False
        self.phys_active[vcpu] = True
        self.kvm_vgic_inject_irq(vcpu, VTIMER_PPI, True)  # kvm_timer_update_irq(vcpu, true, ctx)

    def phys_deactivate(self, vcpu: int, pintid: int) -> None:
        """The CPU deactivated physical ``pintid`` (the guest deactivated a HW LR: IHI 0069
        ICH_LR<n>_EL2.HW).  A timer whose condition still holds fires again at once."""
        if pintid != VTIMER_PPI or not self.phys_active[vcpu]:
            return
        self.phys_active[vcpu] = False
        if self.timer_cond[vcpu]:
            self._phys_fire(vcpu)

    def vgic_get_phys_line_level(self, vcpu: int, irq: VgicIrq) -> bool:
        """``vgic_get_phys_line_level`` → ``kvm_arch_timer_get_input_level``: the timer condition."""
        return self.timer_cond[vcpu]

    def configure_irq(self, vcpu: int, intid: int, enabled: bool, priority: int, group: int, level: bool,
                      target: int) -> bool:
        """Distributor/redistributor writes (ISENABLER/ICENABLER, IPRIORITYR, IGROUPR, ICFGR,
        IROUTER) to an interrupt that is neither active nor queued (configuration changes of a
        live interrupt are UNPREDICTABLE or racy: gic-architecture.md A9/A10/A16)."""
        irq = self.lookup(vcpu, intid)
        if irq is not None:
            self.named.setdefault(id(irq), irq)
        if irq is None or irq.active or irq.vcpu is not None:
            return False
        irq.enabled, irq.priority, irq.group = enabled, priority & self.pmask(), group
        if intid >= 16 and not irq.hw:  # SGIs are always edge; the mapped timer stays level
            irq.level = level
        if intid >= NR_PRIVATE:
            irq.target_vcpu = target
        self.vgic_queue_irq_unlock(irq)
        return True

    def vgic_sort_ap_list(self, vcpu: int) -> None:
        """``vgic_sort_ap_list``: stable sort with ``vgic_irq_cmp`` (group enables from
        ``vgic_get_vmcr``)."""
        p = self.policy
        shift = 8 - p.sort_prio_bits
        if p.generation == "pre" or not p.sort_pending_first:
            def key(irq: VgicIrq) -> tuple[int, ...]:  # VGIC-PRE: active first
                return (not irq.active, not (irq.enabled and irq.is_pending()), irq.priority >> shift)
        else:
            vmcr = self.ver.get_vmcr(self.cpu_if[vcpu])

            def key(irq: VgicIrq) -> tuple[int, ...]:
                k = (not (irq.enabled and irq.is_pending() and not irq.active), irq.priority >> shift)
                if p.sort_undeliverable_last:
                    k = (self.vgic_target_oracle(irq) != vcpu, not vmcr.group_enabled(irq.group)) + k
                if p.sort_hw_tiebreak:
                    k = k + (not irq.hw,)  # vgic_irq_cmp: "Give HW interrupts priority" among equals
                return k
        self.ap_list[vcpu].sort(key=key)

    def summarize_ap_list(self, vcpu: int) -> tuple[int, int]:
        """``summarize_ap_list``: (nr_pend, nr_act) over interrupts whose oracle is this vcpu."""
        nr_pend = nr_act = 0
        for irq in self.ap_list[vcpu]:
            if self.vgic_target_oracle(irq) != vcpu:
                continue
            if irq.active:
                nr_act += 1
            elif irq.is_pending():
                nr_pend += 1
        return nr_pend, nr_act

    def vgic_flush_lr_state(self, vcpu: int) -> None:
        """``vgic_flush_lr_state``: the ap_list into the LRs (``vgic_populate_lr``), the rest
        cleared (``vgic_clear_lr``), then ``vgic_set_underflow`` (pre) or the series'
        configure-HCR (post), and ``used_lrs``."""
        ver, st = self.ver, self.cpu_if[vcpu]
        nr_lr = self.nr_lrs
        lst = self.ap_list[vcpu]
        count = 0
        if self.policy.generation == "pre":
            depth = sum(1 for irq in lst if irq.is_pending() or irq.active)
            if depth > nr_lr:
                self.vgic_sort_ap_list(vcpu)
            uie = False
            for i, irq in enumerate(lst):
                if self.vgic_target_oracle(irq) == vcpu:
                    ver.populate_lr(st, irq, count)  # vgic_populate_lr
                    count += 1
                if count == nr_lr:
                    uie = i < len(lst) - 1
                    break
            ver.set_underflow(st, uie)  # vgic_set_underflow
        else:
            nr_pend, nr_act = self.summarize_ap_list(vcpu)
            if nr_pend + nr_act > nr_lr:
                self.vgic_sort_ap_list(vcpu)
            self.last_lr_irq[vcpu] = None
            for irq in lst:
                if count == nr_lr:
                    break
                if self.vgic_target_oracle(irq) == vcpu:
                    ver.populate_lr(st, irq, count)  # vgic_populate_lr
                    self.last_lr_irq[vcpu] = irq
                    count += 1
            ver.configure_hcr(self, st, nr_pend, nr_act)
        ver.clear_lrs(st, count)  # vgic_clear_lr on each LR from count on
        st.used_lrs = count

    def vgic_prune_ap_list(self, vcpu: int) -> list[int]:
        """``vgic_prune_ap_list``: drop interrupts with no target, move the ones now targeting
        another vcpu to its tail (returns the vcpus to kick).  It runs only on a vcpu outside the
        guest whose LRs are folded — after ``kvm_vgic_sync_hwstate``'s fold, or from
        ``kvm_vgic_process_async_update`` at its request check — so no interrupt it moves or drops
        is ``on_lr`` (the kernel has no such test either)."""
        kicks = []
        keep = []
        for irq in self.ap_list[vcpu]:
            t = self.vgic_target_oracle(irq)
            if t is None:
                irq.vcpu = None
                if NR_PRIVATE <= irq.intid < VGIC_MIN_LPI and self.policy.generation == "post" \
                        and self.policy.active_spis_dec == "prune" and self.active_spis > 0:
                    self.active_spis -= 1  # the SPI is neither pending nor active any more
            elif t == vcpu:
                keep.append(irq)
            elif self.policy.prune_migrates:  # the migrate branch: "the target VCPU has changed"
                self.ap_list[t].append(irq)
                irq.vcpu = t
                kicks.append(t)
                self.migrated.append(irq.intid)
            else:  # deviating: dropped from the old vcpu's list and queued nowhere
                irq.vcpu = None
        self.ap_list[vcpu] = keep
        return kicks

    # --- around a guest run ---------------------------------------------------------------------
    def kvm_vgic_sync_hwstate(self, vcpu: int) -> None:
        """``kvm_vgic_sync_hwstate`` after an exit: ``vgic_fold_lr_state`` (the version's fold of
        the saved LRs), then ``vgic_prune_ap_list``."""
        self.ver.fold_lr_state(self, vcpu, self.cpu_if[vcpu])  # vgic_fold_lr_state
        self.vgic_prune_ap_list(vcpu)

    def kvm_vgic_process_async_update(self, vcpu: int) -> None:
        """``kvm_vgic_process_async_update`` (vgic.c): KVM_REQ_VGIC_PROCESS_UPDATE at the vcpu's
        ``check_vcpu_requests``: prune its ap_list of the interrupts a trapped DIR deactivated."""
        self.vgic_prune_ap_list(vcpu)

    def vgic_mmio_write_cactive(self, irq: VgicIrq, halt_guest: Callable[[], None]) -> None:
        """``vgic_mmio_write_cactive`` (vgic-mmio.c) as ``vgic_v3_deactivate`` calls it for an
        interrupt live in a running vcpu's LR: ``vgic_access_active_prepare`` halts every vcpu
        (``kvm_arm_halt_guest``: KVM_REQ_SLEEP is KVM_REQUEST_WAIT, so each running vcpu has exited
        and folded its LRs before it returns: "the change to the active state can be overwritten
        when the VCPU's state is synced coming back from the guest", since "KVM: arm/arm64: vgic-new:
        Synchronize changes to active state", 2016), then
        ``vgic_mmio_change_active`` clears the active state, then ``kvm_arm_resume_guest``.
        ``cactive_halt=False``: no halt, the active state is cleared under the running owner."""
        if self.policy.cactive_halt:
            halt_guest()
        irq.active = False  # vgic_mmio_change_active(vcpu, irq, false)

    # --- distributor/redistributor writes (vgic-mmio.c, vgic-mmio-v3.c) ---------------------------
    def vgic_irq_set_phys_active(self, irq: VgicIrq, active: bool) -> None:
        """``vgic_irq_set_phys_active``: the mapped physical interrupt's active state at the physical
        GIC (``irq_set_irqchip_state(host_irq, IRQCHIP_STATE_ACTIVE, active)``).  Deactivating a
        timer PPI whose condition still holds lets it fire again (``phys_deactivate``)."""
        owner = irq.owner_vcpu if irq.owner_vcpu is not None else irq.target_vcpu
        if active:
            self.phys_active[owner] = True
        else:
            self.phys_deactivate(owner, irq.hwintid)

    def vgic_mmio_change_active(self, irq: VgicIrq, active: bool, uaccess: bool) -> None:
        """``vgic_mmio_change_active``: a HW-mapped (non-SGI) interrupt's active state changes only
        for a guest access, with its physical one (``vgic_hw_irq_change_active``: "if (is_uaccess)
        return" — ``requester_vcpu`` is NULL for userspace); any other's changes; an interrupt now
        active is queued (``vgic_queue_irq_unlock``)."""
        if irq.hw and irq.intid >= 16:
            if uaccess:
                return
            irq.active = active
            self.vgic_irq_set_phys_active(irq, active)
        else:
            irq.active = active
        if irq.active and self.policy.sactive_queues:
            self.vgic_queue_irq_unlock(irq)

    def vgic_mmio_write_active(self, vcpu: int, intid: int, active: bool, uaccess: bool,
                               halt_guest: Callable[[], None]) -> None:
        """GICD/GICR ISACTIVER (``active``) or ICACTIVER: ``vgic_mmio_write_sactive`` /
        ``vgic_mmio_write_cactive`` for the guest (``vgic_access_active_prepare``: GICv3 halts every
        vcpu, ``kvm_arm_halt_guest``, so none holds the interrupt in an LR; then
        ``kvm_arm_resume_guest``), ``vgic_mmio_uaccess_write_sactive/cactive`` for userspace (no
        vcpu runs: the attribute access holds every vcpu's mutex)."""
        irq = self.lookup(vcpu, intid)
        if irq is None:
            return  # RAZ/WI beyond the SPIs the VM has
        self.named.setdefault(id(irq), irq)
        if not uaccess and self.policy.mmio_active_halt:
            halt_guest()
        self.vgic_mmio_change_active(irq, active, uaccess)

    def vgic_mmio_write_pending(self, vcpu: int, intid: int, pending: bool, uaccess: bool,
                                halt_guest: Callable[[], None]) -> None:
        """GICD/GICR ISPENDR (``pending``) or ICPENDR.  Guest: ``vgic_mmio_write_spending`` (the
        latch set; a HW interrupt's physical one made active so the host does not take it too;
        queued) and ``vgic_mmio_write_cpending`` (the latch cleared, not the line; a HW interrupt:
        ``vgic_hw_irq_cpending``, the physical pending state cleared and, if not active, the
        physical active state).  Userspace: ``vgic_uaccess_write_spending/cpending`` (the latch
        only).  The merged code does not halt the guest for either (``cpending_halt``)."""
        irq = self.lookup(vcpu, intid)
        if irq is None:
            return
        self.named.setdefault(id(irq), irq)
        if pending:
            irq.pending_latch = True
            if irq.hw and not uaccess:
                self.vgic_irq_set_phys_active(irq, True)
            self.vgic_queue_irq_unlock(irq)
            return
        if not uaccess and self.policy.cpending_halt:
            halt_guest()  # hvfuzz's proposed fix: no running vcpu holds it pending in an LR
        irq.pending_latch = False
        if not self.policy.cpending_latch_only:
            irq.line_level = False  # deviating: the line is the device's, not the register's
        if irq.hw and not uaccess:  # vgic_hw_irq_cpending
            owner = irq.owner_vcpu if irq.owner_vcpu is not None else irq.target_vcpu
            self.phys_pending[owner] = False  # vgic_irq_set_phys_pending(irq, false)
            if not irq.active:
                self.vgic_irq_set_phys_active(irq, False)

    def vgic_mmio_write_irouter(self, intid: int, target: int) -> None:
        """``vgic_mmio_write_irouter`` (vgic-mmio-v3.c): ``irq->target_vcpu`` from the new affinity,
        nothing else — an interrupt already on an ap_list stays there until that vcpu's
        ``vgic_prune_ap_list`` migrates it ("the target VCPU has changed")."""
        if not NR_PRIVATE <= intid < NR_PRIVATE + NR_SPIS:
            return  # GICD_IROUTER<n> exists for SPIs only
        irq = self.spis[intid - NR_PRIVATE]
        self.named.setdefault(id(irq), irq)
        irq.target_vcpu = target

    def guest_dir(self, vcpu: int, hw: VCpuIf, intid: int) -> str:
        """A guest DIR on the pCPU interface ``hw`` (GICv3: ICV_DIR_EL1, in hardware or trapped
        to EL2).  Returns how it was handled; "trap-exit": the vcpu exits and the host emulates it
        (``deactivate``)."""
        return self.ver.guest_dir(self, vcpu, hw, intid)

    def deactivate(self, vcpu: int, intid: int, halt_guest: Callable[[], None]) -> int | None:
        """The host's emulation of a trapped DIR (``access_gic_dir`` -> ``vgic_v3_deactivate``).
        ``halt_guest``: ``kvm_arm_halt_guest`` (the run loop's).  Returns the vcpu owed a
        KVM_REQ_VGIC_PROCESS_UPDATE, if any."""
        return self.ver.deactivate(self, vcpu, intid, halt_guest)


__all__ = ["Vgic", "NR_SPIS", "ICH_HCR_TC", "ICH_HCR_TDIR"]
