"""``System``: the executable model of one VM — vcpu threads on physical CPUs, the host vcpus,
under pKVM the hyp vcpus, and the EL1 timer state in the CPUs — executing ``Op`` values.

``apply(op)`` runs one op and returns what it let anyone see: a list of observations
``(oracle, vcpu, what, value)``.  The first observation of every op says whether it applied
(an op that does not apply in the current state is a recorded no-op).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hvfuzz.model import psci as P
from hvfuzz.model.pkvm import host as H
from hvfuzz.model.pkvm.hooks import KERNEL, KernelHooks
from hvfuzz.model.pkvm.host import IDX_MDSCR
from hvfuzz.model.pkvm.hyp_main import take_pending_vserror
from hvfuzz.model.pkvm.policy import SyncPolicy
from hvfuzz.model.pkvm.state import (
    PKVM_HOST_STATE_DIRTY,
    Fault,
    HostVcpu,
    HypVcpu,
    Pcpu,
    Phase,
    VcpuArch,
    new_vcpu_arch,
)
from hvfuzz.model.psci import PsciPolicy
from hvfuzz.model.regs import (
    CTXT_LEN,
    HCR_VSE,
    IDX_PSTATE,
    MASK64,
    REG_INDEX,
    TIMER_INDICES,
)
from hvfuzz.model.vgic.irq import NR_PRIVATE, VgicPolicy
from hvfuzz.model.vgic.version import CpuIfState, VCpuIf
from hvfuzz.model.vgic.vgic import Vgic
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.obs import GIC_ACTIVE, GIC_RPR, Observation
from hvfuzz.model.vocab.ops import Where

_TIMER_SLOT = {idx: n for n, idx in enumerate(TIMER_INDICES)}
_ISACTIVER = "GICD/GICR_ISACTIVER (uaccess), SPIs queued on vcpus"
_NOTHING_ACTIVE: tuple[tuple[int, ...], tuple[tuple[int, int, bool], ...]] = ((), ())
_F = TypeVar("_F", bound=Callable[..., bool])


def handles(cls: type[O.Op]) -> Callable[[_F], _F]:
    """Marks a ``System`` method as the handler of op kind ``cls``: it checks where the vcpu
    thread is (the op's declared ``requires``, a test checks they agree), runs the kernel
    functions, and returns whether the op applied."""
    def mark(fn: _F) -> _F:
        fn.handles = cls  # type: ignore[attr-defined]
        return fn

    return mark


class System:
    """One VM under one implementation.  ``policy`` None: the single-copy reference (the guest
    runs on the host vcpu, as without pKVM); otherwise pKVM with that sync policy."""

    def __init__(
        self, vcpus: int, pcpus: int, protected: bool, policy: SyncPolicy | None, pmu_emulation: bool = False,
        *, vgic: VgicPolicy | None = None, nr_lrs: int = 4, pri_bits: int = 5,
        psci: PsciPolicy | None = None, hooks: KernelHooks = KERNEL,
    ) -> None:
        self.policy: SyncPolicy = policy or SyncPolicy()
        #: the kernel functions the host and hyp code call through (a design's replacements)
        self.hooks = hooks
        self.pkvm = policy is not None
        self.protected = protected
        #: the host emulates a PMU for the vcpus, with an asynchronous overflow handler
        self.pmu_emulation = pmu_emulation
        #: the vgic (GICv3, in-kernel irqchip); its per-vcpu saved CPU-interface state is held by
        #: the host vcpus (under pKVM the hyp vcpus hold a second copy), its virtual CPU
        #: interfaces by the pCPUs
        self.vgic = Vgic(vcpus, pcpus, nr_lrs, pri_bits, vgic or VgicPolicy())
        self.vcpus = [HostVcpu(idx=i, arch=new_vcpu_arch(i), vgic_cpu_if=self.vgic.cpu_if[i]) for i in range(vcpus)]
        self.pcpus = [Pcpu(idx=i, vgic_cpu=self.vgic.hw[i]) for i in range(pcpus)]
        self.hyp: list[HypVcpu] = (
            [HypVcpu(vcpu=VcpuArch(ctxt=[0] * CTXT_LEN), vgic_cpu_if=self.vgic.ver.new_cpu_if())
             for _ in range(vcpus)] if self.pkvm else []
        )
        if self.pkvm:
            self.vgic.el2_cpu_if = [h.vgic_cpu_if for h in self.hyp]
        #: PSCI and power state (model/psci.py) and the VM's stage-2 mappings (pages mapped)
        self.psci_policy = psci or PsciPolicy()
        self.stage2: set[int] = set()
        self._obs: list[Observation] = []
        self._dispatch = {cls: getattr(self, name) for cls, name in _HANDLERS.items()}

    # --- observations ---------------------------------------------------------------------------
    def observe(self, vcpu: int, oracle: str, what: str, value: Any) -> None:
        self._obs.append((oracle, vcpu, what, value))

    @property
    def last_observations(self) -> list[Observation]:
        """What the last ``apply`` recorded (its first entry: whether the op applied)."""
        return self._obs

    def running_arch(self, vcpu: int) -> VcpuArch:
        """The vcpu struct the guest runs on: the hyp vcpu under pKVM, else the host vcpu."""
        return self.hyp[vcpu].vcpu if self.pkvm else self.vcpus[vcpu].arch

    def running_vgic_cpu_if(self, vcpu: int) -> CpuIfState:
        """The saved CPU-interface state EL2 restores and saves around a run: the hyp vcpu's under
        pKVM (``model/pkvm/hyp_vgic.py``), else the host vcpu's."""
        return self.hyp[vcpu].vgic_cpu_if if self.pkvm else self.vcpus[vcpu].vgic_cpu_if

    def guest_view(self, vcpu: int) -> tuple[int, ...]:
        """What the guest sees of its state: the context it runs on, the timer registers as the
        CPU holds them (for a vcpu not on a CPU: the context's), and ISR_EL1.A (a virtual SError
        pending)."""
        v = self.vcpus[vcpu]
        run = self.running_arch(vcpu)
        view = list(run.ctxt)
        if v.pcpu is not None:
            hw = self.pcpus[v.pcpu].hw_timer
            for i, slot in _TIMER_SLOT.items():  # CNTVOFF_EL2 shows in the guest's CNTVCT_EL0
                view[i] = hw[slot]
        view.append(1 if run.hcr_el2 & HCR_VSE else 0)
        # MDSCR_EL1 as the CPU holds it: the host's external_mdscr_el1 while it owns debug
        view.append(run.external_mdscr_el1 if run.debug_owner == "host" else run.ctxt[IDX_MDSCR])
        return tuple(view)

    def where(self, vcpu: int) -> Where:
        """Where vcpu ``vcpu``'s thread is (what the ops' ``requires`` speak of)."""
        v = self.vcpus[vcpu]
        if v.phase is Phase.OUT:
            return Where.USER
        if v.phase is Phase.GUEST:
            return Where.GUEST
        if v.pcpu is not None:
            return Where.RUN_LOOP if v.phase is Phase.P0 else Where.EXIT_PENDING
        return Where.ASLEEP if v.sleeping else Where.PREEMPTED

    def observe_guest_entry(self, v: HostVcpu) -> None:
        self.observe(v.idx, "guest-entry", "context the guest resumes with", self.guest_view(v.idx))
        g = self.vgic
        if not g.named:  # no interrupt has left its reset state: none is active or queued
            self.observe(v.idx, GIC_ACTIVE, _ISACTIVER, _NOTHING_ACTIVE)
            return
        self.observe(v.idx, GIC_ACTIVE, _ISACTIVER, (
            tuple(sorted([i.intid for i in g.named.values()
                          if i.active and (i.intid >= NR_PRIVATE or i.owner_vcpu == v.idx)])),
            tuple(sorted([(i.intid, u, i.on_lr or self.vcpus[u].phase is Phase.GUEST)
                          for u, queue in enumerate(g.ap_list) for i in queue if i.intid >= NR_PRIVATE]))))

    def _reg(self, v3: str, v2: str) -> str:
        """A CPU-interface register's name in the guest's GIC version (GICv3 ICV_*, GICv2 GICV_*)."""
        return v2 if self.vgic.policy.guest_version() == 2 else v3

    def _observe_rpr(self, vcpu: int, hw: VCpuIf) -> None:
        self.observe(vcpu, GIC_RPR, self._reg("ICV_RPR_EL1", "GICV_RPR"), hw.rpr())

    # --- executing ops ---------------------------------------------------------------------------
    def apply(self, op: O.Op) -> list[Observation]:
        self._obs = []
        self.vgic.migrated = []
        applied = op.vcpu < len(self.vcpus) and self._dispatch[type(op)](op)
        self._obs.insert(0, ("applicability", op.vcpu, "op applied", bool(applied)))
        return self._obs

    def _pcpu_free(self, pcpu: int) -> bool:
        return pcpu < len(self.pcpus) and self.pcpus[pcpu].thread is None

    @handles(O.KvmRun)
    def _kvm_run(self, op: O.KvmRun) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT or not v.initialized or not self._pcpu_free(op.pcpu):
            return False
        H.kvm_arch_vcpu_ioctl_run_enter(self, v, op.pcpu)
        return True

    @handles(O.GuestEnter)
    def _guest_enter(self, op: O.GuestEnter) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.P0 or v.pcpu is None:
            return False
        P.run_deferred(self, v)
        if P.check_vcpu_requests(self, v):
            H.kvm_vcpu_run_guest(self, v)
        return True

    @handles(O.GuestExit)
    def _guest_exit(self, op: O.GuestExit) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.GUEST:
            return False
        H.guest_exit(self, v, Fault(op.kind, op.serror_pending, op.rt, op.reg, op.value))
        return True

    @handles(O.HandleExit)
    def _handle_exit(self, op: O.HandleExit) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.P1 or v.pcpu is None:
            return False
        if H.handle_exit(self, v) > 0:
            v.phase = Phase.P0
        else:
            H.kvm_arch_vcpu_ioctl_run_exit(self, v)
        return True

    @handles(O.ExitToUser)
    def _exit_to_user(self, op: O.ExitToUser) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.P0 or (v.pcpu is None and not v.sleeping):
            return False
        P.run_deferred(self, v)
        if v.sleeping:  # a signal wakes the sleeping thread: SLEEP is requested again, -EINTR
            v.sleeping = False
            if P.kvm_arm_vcpu_stopped(v):
                v.requests.add(P.KVM_REQ_SLEEP)
        H.kvm_arch_vcpu_ioctl_run_exit(self, v)
        return True

    @handles(O.SchedOut)
    def _sched_out(self, op: O.SchedOut) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase not in (Phase.P0, Phase.P1) or v.pcpu is None:
            return False
        P.run_deferred(self, v)
        H.kvm_arch_vcpu_put(self, v)
        return True

    @handles(O.SchedIn)
    def _sched_in(self, op: O.SchedIn) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase not in (Phase.P0, Phase.P1) or v.pcpu is not None or not self._pcpu_free(op.pcpu):
            return False
        if v.sleeping and P.kvm_arm_vcpu_stopped(v) and self.psci_policy.sleep_while_stopped:
            return False  # blocked in kvm_vcpu_sleep until woken
        v.sleeping = False
        H.kvm_arch_vcpu_load(self, v, op.pcpu)
        return True

    @handles(O.GuestWriteReg)
    def _guest_write_reg(self, op: O.GuestWriteReg) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.GUEST or v.pcpu is None:
            return False
        idx = REG_INDEX[op.reg]
        if idx in _TIMER_SLOT:
            self.pcpus[v.pcpu].hw_timer[_TIMER_SLOT[idx]] = op.value
            return True
        run = self.running_arch(op.vcpu)
        run.ctxt[idx] = op.value & MASK64
        if idx == IDX_PSTATE:
            take_pending_vserror(run)
        return True

    @handles(O.UserGetReg)
    def _user_get_reg(self, op: O.UserGetReg) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT:
            return False
        P.service_pending_reset(self, v)
        self.observe(op.vcpu, "one-reg", f"KVM_GET_ONE_REG {op.reg}", v.arch.ctxt[REG_INDEX[op.reg]])
        return True

    @handles(O.UserSetReg)
    def _user_set_reg(self, op: O.UserSetReg) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT:
            return False
        P.service_pending_reset(self, v)
        return H.kvm_arm_set_reg(self, v, REG_INDEX[op.reg], op.value)

    @handles(O.HostInjectSError)
    def _host_inject_serror(self, op: O.HostInjectSError) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT:
            return False
        return H.kvm_arm_vcpu_set_events(self, v, op.esr)

    @handles(O.UserGetVcpuEvents)
    def _user_get_vcpu_events(self, op: O.UserGetVcpuEvents) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT:
            return False
        pending = bool(v.arch.hcr_el2 & HCR_VSE)
        self.observe(op.vcpu, "vcpu-events", "KVM_GET_VCPU_EVENTS serror_pending, serror_esr",
                     (pending, v.arch.vsesr_el2 if pending else 0))
        return True

    @handles(O.UserSetGuestDebug)
    def _user_set_guest_debug(self, op: O.UserSetGuestDebug) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT:
            return False
        return H.kvm_arch_vcpu_ioctl_set_guest_debug(self, v, op.single_step)

    @handles(O.HostPmuOverflow)
    def _host_pmu_overflow(self, op: O.HostPmuOverflow) -> bool:
        if not self.pmu_emulation:
            return False
        H.kvm_pmu_perf_overflow(self, self.vcpus[op.vcpu], op.counter)
        return True

    # --- interrupts: devices, distributor, the guest's CPU interface ------------------------------
    @handles(O.InjectIrq)
    def _inject_irq(self, op: O.InjectIrq) -> bool:
        irq = self.vgic.lookup(op.vcpu, op.intid)
        if irq is not None and irq.hw:  # the mapped timer's line is the timer's (kvm_timer_update_irq)
            return False
        return self.vgic.kvm_vgic_inject_irq(op.vcpu, op.intid, op.level)

    @handles(O.InjectSgi)
    def _inject_sgi(self, op: O.InjectSgi) -> bool:
        if op.source >= len(self.vcpus):
            return False
        return self.vgic.vgic_send_sgi(op.source, op.vcpu, op.intid)

    @handles(O.InjectMsi)
    def _inject_msi(self, op: O.InjectMsi) -> bool:
        return self.vgic.vgic_its_inject_msi(op.vcpu, op.intid, op.priority)

    @handles(O.TimerFire)
    def _timer_fire(self, op: O.TimerFire) -> bool:
        return self.vgic.kvm_timer_fire(op.vcpu)

    def _phys_deactivations(self, vcpu: int, hw: VCpuIf) -> None:
        """Hand the pINTIDs the CPU deactivated (HW LRs) to the physical distributor model."""
        done = getattr(hw, "phys_deactivated", None)
        while done:
            self.vgic.phys_deactivate(vcpu, done.pop(0))

    @handles(O.ConfigIrq)
    def _config_irq(self, op: O.ConfigIrq) -> bool:
        if op.target >= len(self.vcpus):
            return False
        return self.vgic.configure_irq(op.vcpu, op.intid, op.enabled, op.priority, op.group, op.level, op.target)

    def _in_guest(self, vcpu: int) -> bool:
        return self.vcpus[vcpu].phase is Phase.GUEST

    def _guest_cpu_if(self, vcpu: int) -> VCpuIf | None:
        """The virtual CPU interface the guest of ``vcpu`` uses: its pCPU's, while it is in the
        guest (None otherwise: the op does not apply)."""
        v = self.vcpus[vcpu]
        if v.phase is not Phase.GUEST:
            return None
        return self.pcpus[v.pcpu].vgic_cpu  # in the guest: on a pCPU

    @handles(O.GuestAck)
    def _guest_ack(self, op: O.GuestAck) -> bool:
        hw = self._guest_cpu_if(op.vcpu)
        if hw is None:
            return False
        intid = hw.ack(op.group)
        self._observe_rpr(op.vcpu, hw)  # before the IAR: ``gic-iar`` stays the op's last observation
        self.observe(op.vcpu, "gic-iar", self._reg(f"ICV_IAR{op.group}_EL1", ("GICV_IAR", "GICV_AIAR")[op.group]),
                     intid)
        return True

    @handles(O.GuestEoi)
    def _guest_eoi(self, op: O.GuestEoi) -> bool:
        hw = self._guest_cpu_if(op.vcpu)
        if hw is None:
            return False
        hw.eoi(op.group, op.intid)
        self._phys_deactivations(op.vcpu, hw)
        self._observe_rpr(op.vcpu, hw)
        return True

    @handles(O.GuestDir)
    def _guest_dir(self, op: O.GuestDir) -> bool:
        hw = self._guest_cpu_if(op.vcpu)
        if hw is None:
            return False
        how = self.vgic.guest_dir(op.vcpu, hw, op.intid)
        self._phys_deactivations(op.vcpu, hw)
        self.observe(op.vcpu, "gic-dir", self._reg("ICV_DIR_EL1", "GICV_DIR") + " handled by", how)
        self._observe_rpr(op.vcpu, hw)  # the guest's RPR at the DIR (a DIR changes no priority)
        if how == "trap-exit":  # EL2 could not complete it: a full exit, emulated at HandleExit
            H.guest_exit(self, self.vcpus[op.vcpu], Fault("trap_sysreg_dir", value=op.intid))
        return True

    @handles(O.GuestSetPmr)
    def _guest_set_pmr(self, op: O.GuestSetPmr) -> bool:
        hw = self._guest_cpu_if(op.vcpu)
        if hw is None:
            return False
        hw.set_pmr(op.value)
        self._observe_rpr(op.vcpu, hw)
        return True

    @handles(O.GuestSetBpr)
    def _guest_set_bpr(self, op: O.GuestSetBpr) -> bool:
        hw = self._guest_cpu_if(op.vcpu)
        if hw is None:
            return False
        hw.set_bpr(op.group, op.value)
        self._observe_rpr(op.vcpu, hw)
        return True

    @handles(O.GuestSetGrpEn)
    def _guest_set_grpen(self, op: O.GuestSetGrpEn) -> bool:
        hw = self._guest_cpu_if(op.vcpu)
        if hw is None:
            return False
        hw.set_grpen(op.group, op.enable)
        self._observe_rpr(op.vcpu, hw)
        return True

    @handles(O.GuestSetEoiMode)
    def _guest_set_eoimode(self, op: O.GuestSetEoiMode) -> bool:
        hw = self._guest_cpu_if(op.vcpu)
        if hw is None:
            return False
        hw.set_eoimode(op.eoimode)
        self._observe_rpr(op.vcpu, hw)
        return True

    @handles(O.GuestSetApr)
    def _guest_set_apr(self, op: O.GuestSetApr) -> bool:
        hw = self._guest_cpu_if(op.vcpu)
        if hw is None or op.n >= len(hw.apr[1]):
            return False
        hw.apr[1][op.n] = op.value & 0xFFFF_FFFF  # ICV_AP1R<n>_EL1 is ICH_AP1R<n>_EL2 (not trapped)
        self._observe_rpr(op.vcpu, hw)
        return True

    # --- distributor/redistributor writes: the guest's (an MMIO exit) and userspace's -------------
    @handles(O.GuestGicWrite)
    def _guest_gic_write(self, op: O.GuestGicWrite) -> bool:
        """The guest's access aborts to the host: the write is emulated at its ``HandleExit``."""
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.GUEST or op.target >= len(self.vcpus) or self._not_on_v2(op.intid, op.reg):
            return False
        H.guest_exit(self, v, Fault("trap_mmio_vgic", reg=op.reg, value=op.intid | op.target << 16))
        return True

    @handles(O.UserGicWrite)
    def _user_gic_write(self, op: O.UserGicWrite) -> bool:
        """KVM_SET_DEVICE_ATTR on the vgic: -EBUSY unless every vcpu is outside KVM_RUN."""
        if (op.target >= len(self.vcpus) or any(w.phase is not Phase.OUT for w in self.vcpus)
                or self._not_on_v2(op.intid, op.reg)):
            return False
        H.vgic_mmio_write(self, op.vcpu, op.reg, op.intid, op.target, uaccess=True)
        return True

    def _not_on_v2(self, intid: int, reg: str) -> bool:
        """A GICv2 guest's write that is not modelled, so it does not apply (README: the
        differences table): the pending and active state of an SGI through ISPENDR/ICPENDR/
        ISACTIVER/ICACTIVER (per source: GICD_SPENDSGIR/CPENDSGIR, and KVM's "GICv2 SGIs are
        terribly broken" source guesses in ``__set_pending`` / ``vgic_mmio_change_active``), and
        IROUTER, which GICv2 does not have (GICD_ITARGETSR routes its SPIs)."""
        return self.vgic.policy.guest_version() == 2 and (intid < 16 or reg == "IROUTER")

    # --- PSCI, power state, stage-2 --------------------------------------------------------------
    @handles(O.GuestPsci)
    def _guest_psci(self, op: O.GuestPsci, conduit: str = "trap_hvc") -> bool:
        """The guest loads x0..x3 and executes HVC #0 (or SMC #0: ``conduit``)."""
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.GUEST:
            return False
        run = self.running_arch(op.vcpu)
        for i, val in enumerate(op.registers()):
            run.ctxt[i] = val & MASK64
        H.guest_exit(self, v, Fault(conduit))
        return True

    @handles(O.GuestSmc)
    def _guest_smc(self, op: O.GuestSmc) -> bool:
        return self._guest_psci(op, "trap_smc")

    @handles(O.GuestAccess)
    def _guest_access(self, op: O.GuestAccess) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.GUEST:
            return False
        hit = op.page in self.stage2
        self.observe(op.vcpu, "psci-stage2", f"guest access to page {op.page}", "hit" if hit else "stage-2 fault")
        if not hit:
            H.guest_exit(self, v, Fault("trap_dabt_s2", value=op.page))
        return True

    @handles(O.UserVcpuInit)
    def _user_vcpu_init(self, op: O.UserVcpuInit) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT:
            return False
        P.kvm_arch_vcpu_ioctl_vcpu_init(self, v, op.power_off)
        return True

    @handles(O.UserSetMpState)
    def _user_set_mp_state(self, op: O.UserSetMpState) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT:
            return False
        P.kvm_arch_vcpu_ioctl_set_mpstate(self, v, op.state)
        return True

    @handles(O.UserGetMpState)
    def _user_get_mp_state(self, op: O.UserGetMpState) -> bool:
        v = self.vcpus[op.vcpu]
        if v.phase is not Phase.OUT:
            return False
        P.kvm_arch_vcpu_ioctl_get_mpstate(self, v)
        return True

    # --- for timelines ---------------------------------------------------------------------------
    def vcpu_summary(self, vcpu: int) -> dict[str, Any]:
        v = self.vcpus[vcpu]
        d: dict[str, Any] = {"phase": v.phase.value, "pcpu": v.pcpu}
        if v.mp_state != "RUNNABLE" or v.requests or v.sleeping:
            d["mp_state"] = v.mp_state + ("/sleeping" if v.sleeping else "")
            if v.requests:
                d["requests"] = sorted(v.requests)
        if self.pkvm:
            d["dirty"] = bool(v.arch.iflags & PKVM_HOST_STATE_DIRTY)
            d["hyp_loaded_on"] = self.hyp[vcpu].loaded_on
            d["host_vse"] = bool(v.arch.hcr_el2 & HCR_VSE)
            d["hyp_vse"] = bool(self.hyp[vcpu].vcpu.hcr_el2 & HCR_VSE)
        else:
            d["vse"] = bool(v.arch.hcr_el2 & HCR_VSE)
        g = self.vgic
        hw = self.vgic_cpu_of(vcpu)
        st = g.cpu_if[vcpu]
        lrs, used = (hw.lrs, hw.used_lrs) if hw is not None and hw.vcpu == vcpu else (st.vgic_lr, st.used_lrs)
        if g.ap_list[vcpu] or any(lrs):
            d["ap_list"] = [f"{i.intid}:{_irq_state(i)}/p{i.priority:#x}/g{i.group}" for i in g.ap_list[vcpu]]
            d["lrs"] = [f"{lr.intid}:{lr.state()}" if lr is not None else "-" for lr in lrs[:used]]
            d["ich_hcr"] = hex(hw.hcr if hw is not None else 0)
        return d

    def vgic_cpu_of(self, vcpu: int) -> Any:
        """The virtual CPU interface of the pCPU ``vcpu``'s thread is on (it holds the vcpu's
        state while it is in the guest, and what the last exit left in ICH_HCR_EL2 after), or
        None off a CPU."""
        pcpu = self.vcpus[vcpu].pcpu
        return None if pcpu is None else self.pcpus[pcpu].vgic_cpu


def _irq_state(irq: Any) -> str:
    return ("A" if irq.active else "") + ("P" if irq.is_pending() else "") or "-"


#: op kind -> the name of the ``System`` method that executes it
_HANDLERS: dict[type[O.Op], str] = {
    fn.handles: name for name, fn in vars(System).items() if callable(fn) and hasattr(fn, "handles")
}
_unhandled = [cls.name for cls in O.OP_CLASSES if cls not in _HANDLERS]
if _unhandled:
    raise ImportError(f"model.system: no System handler for op(s) {', '.join(_unhandled)}")
