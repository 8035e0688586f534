"""No vacuous checks (issue 14): every oracle name in ``oracles.registry.ORACLES`` has a witness,
a run that fails with exactly that name.

``WITNESSES`` maps each name to a callable ``(monkeypatch) -> Verdict``: a corpus trace replayed
on a variant, a short constructed trace, the same run against the kernel's reference (the
variant keeps its vgic/PSCI deviation, the single-copy reference gets the correct component, so
the differential comparison sees what the architectural oracles otherwise judge), or a run of an
in-process mutant: a model function monkeypatched to make one kernel mistake, named in the
comment beside it.  Mutants applied to the variant only (``_sut_only``) exercise the
differential oracle; mutants of both systems exercise the architectural ones, which judge the
variant's observations alone.

Every new oracle must add its witness here: ``test_every_oracle_has_a_witness`` fails for a name
without one (the ``vcpu-*`` names of an architectural vcpu oracle included).  A name for which no
behaviour of the model can fail is a defect to report, not a witness to fake: the removed
``hyp-running-vcpu-null`` was one (README, "Where the model differs from the kernel").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pytest

from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.runner import Execution, Verdict
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model import psci as P
from hvfuzz.model.pkvm import host as H
from hvfuzz.model.pkvm import hyp_main as HM
from hvfuzz.model.reference import reference_system
from hvfuzz.model.regs import IDX_PC, IDX_PSTATE, sysreg_index
from hvfuzz.model.variants import VARIANTS
from hvfuzz.model.vgic.v3 import VgicV3
from hvfuzz.model.vgic.v3_hw import IchCpuIf
from hvfuzz.model.vgic.vgic import Vgic
from hvfuzz.model.vocab import ops as O
from hvfuzz.oracles.registry import ORACLES

_SPSR_EL1 = sysreg_index("SPSR_EL1")
CORPUS = os.path.join(os.path.dirname(__file__), "..", "corpus")
Witness = Callable[[pytest.MonkeyPatch], Verdict]


# --- running -------------------------------------------------------------------------------------
def _steps(ex: Execution, ops: Iterable[O.Op]) -> Verdict:
    for op in ops:
        v = ex.step(op)
        if v is not None:
            return v
    return Verdict(ok=True)


def _load(path: str, variant: str | None = None) -> Trace:
    t = load_repro(os.path.join(CORPUS, path))[0]
    return t if variant is None else attrs.evolve(t, config=attrs.evolve(t.config, variant=variant))


def corpus(path: str, variant: str) -> Witness:
    """A corpus trace replayed on ``variant``."""
    def w(mp: pytest.MonkeyPatch) -> Verdict:
        t = _load(path, variant)
        return _steps(Execution(t.config), t.ops)
    return w


def against_kernel_reference(path: str, variant: str) -> Witness:
    """A corpus trace on a vgic/PSCI bug variant, compared with the reference built with the
    kernel's (correct) vgic and PSCI instead of the variant's own."""
    def w(mp: pytest.MonkeyPatch) -> Verdict:
        t = _load(path, variant)
        c, var = t.config, VARIANTS[variant]
        ex = Execution(c)
        ex.ref = reference_system(c.vcpus, c.pcpus, c.protected, var.pmu_emulation, vgic=None,
                                  nr_lrs=c.nr_lrs, pri_bits=c.pri_bits, psci=None)
        return _steps(ex, t.ops)
    return w


def mutant(trace: Callable[[], Trace], patch: Callable[[pytest.MonkeyPatch, Execution], None]) -> Witness:
    """``trace`` run with ``patch(monkeypatch, execution)`` applied before the first op."""
    def w(mp: pytest.MonkeyPatch) -> Verdict:
        t = trace()
        ex = Execution(t.config)
        patch(mp, ex)
        return _steps(ex, t.ops)
    w.trace = trace  # type: ignore[attr-defined]  # for test_mutant_traces_pass_without_the_mutant
    return w


def _sut_only(mp: pytest.MonkeyPatch, ex: Execution, owner: Any, name: str,
              wrong: Callable[..., Any]) -> None:
    """Replace ``owner.name(s, ...)`` by ``wrong(original, s, ...)`` for the variant's system
    only; the reference keeps the kernel's behaviour."""
    original = getattr(owner, name)

    def f(s: Any, *a: Any, **k: Any) -> Any:
        return wrong(original, s, *a, **k) if s is ex.sut else original(s, *a, **k)
    mp.setattr(owner, name, f)


def _both(mp: pytest.MonkeyPatch, owner: Any, name: str, wrong: Callable[..., Any]) -> None:
    """Replace ``owner.name(...)`` by ``wrong(original, ...)`` in both systems."""
    original = getattr(owner, name)
    mp.setattr(owner, name, lambda *a, **k: wrong(original, *a, **k))


def _both_hook(ex: Execution, name: str, wrong: Callable[..., Any]) -> None:
    """Replace the kernel function ``name`` the model calls through ``System.hooks``
    (``model/pkvm/hooks.py``) by ``wrong(original, ...)`` in both systems."""
    for s in (ex.sut, ex.ref):
        original = getattr(s.hooks, name)
        s.hooks = attrs.evolve(s.hooks, **{name: (lambda o: lambda *a, **k: wrong(o, *a, **k))(original)})


def _both_method(mp: pytest.MonkeyPatch, ex: Execution, name: str, wrong: Callable[..., Any]) -> None:
    """Replace the ``System`` handler ``name`` by ``wrong(original, system, op)`` in both systems
    (they are built: their dispatch tables hold bound methods, so rebind those)."""
    original = getattr(type(ex.sut), name)
    for s in (ex.sut, ex.ref):
        for cls, bound in list(s._dispatch.items()):
            if getattr(bound, "__func__", None) is original:
                s._dispatch[cls] = (lambda system: lambda op: wrong(original, system, op))(s)


def _sut_only_hw(mp: pytest.MonkeyPatch, ex: Execution, name: str, wrong: Callable[..., Any]) -> None:
    """``_sut_only`` for a method of the pCPUs' CPU interfaces (``IchCpuIf``): the variant's
    interfaces get ``wrong``, the reference's keep the architecture's behaviour."""
    original = getattr(IchCpuIf, name)
    ours = {id(p.vgic_cpu) for p in ex.sut.pcpus}

    def f(self: IchCpuIf, *a: Any) -> Any:
        return wrong(original, self, *a) if id(self) in ours else original(self, *a)
    mp.setattr(IchCpuIf, name, f)


# --- constructed traces --------------------------------------------------------------------------
def _cfg(variant: str, **kw: Any) -> Config:
    return Config(variant=variant, **{"vcpus": 1, "pcpus": 1, **kw})


def _irq(intid: int, prio: int, group: int = 1, level: bool = False) -> list[O.Op]:
    return [O.ConfigIrq(0, intid=intid, enabled=True, priority=prio, group=group, level=level, target=0),
            O.InjectIrq(0, intid=intid, level=True)]


_ENTER = [O.KvmRun(0, pcpu=0), O.GuestEnter(0)]


def gic_ack(*irqs: tuple[int, int, int], pmr: int = 0xF0, enable: tuple[int, ...] = (1,),
            ack_group: int = 1, level: bool = False, nr_lrs: int = 2) -> Callable[[], Trace]:
    """Interrupts ``(intid, priority, group)`` pending on vcpu0, a guest entry, PMR and group
    enables, an IRQ exit and the next entry (a sync: from here the interrupts are candidates at
    every step), one acknowledge."""
    def t() -> Trace:
        ops: list[O.Op] = []
        for intid, prio, group in irqs:
            ops += _irq(intid, prio, group, level)
        ops += _ENTER + [O.GuestSetPmr(0, value=pmr)]
        ops += [O.GuestSetGrpEn(0, group=g, enable=True) for g in enable]
        ops += [O.GuestExit(0, kind="irq"), O.HandleExit(0), O.GuestEnter(0), O.GuestAck(0, group=ack_group)]
        return Trace(_cfg("vgic-lr-overflow", nr_lrs=nr_lrs), tuple(ops))
    return t


def gic_ack_exit_enter() -> Trace:
    """One edge SPI acknowledged (active), an IRQ exit and the next entry."""
    ops = gic_ack((32, 0x40, 1))().ops + (
        O.GuestExit(0, kind="irq"), O.HandleExit(0), O.GuestEnter(0))
    return Trace(_cfg("vgic-lr-overflow"), ops)


def level_spi_entry() -> Trace:
    return Trace(_cfg("vgic-lr-overflow"), tuple(_irq(32, 0x40, level=True) + _ENTER))


def two_edge_spis_entry() -> Trace:
    return Trace(_cfg("vgic-lr-overflow", nr_lrs=2), tuple(_irq(32, 0x40) + _irq(33, 0x50) + _ENTER))


def two_edge_spis_entry_without_pkvm() -> Trace:
    # without pKVM: under pKVM flush_hyp_vgic_state clamps the host's used_lrs (tests/test_pkvm_vgic.py)
    return Trace(_cfg("reference", nr_lrs=2), tuple(_irq(32, 0x40) + _irq(33, 0x50) + _ENTER))


def pc_written_then_exit() -> Trace:
    return Trace(_cfg("lazy"), tuple(_ENTER + [O.GuestWriteReg(0, reg="pc", value=0x1000),
                                               O.GuestExit(0, kind="irq")]))


def set_reg() -> Trace:
    return Trace(_cfg("lazy"), (O.UserSetReg(0, reg="x1", value=7),))


def run_twice_on_two_cpus() -> Trace:
    return Trace(_cfg("lazy", pcpus=2), tuple(_ENTER + [O.GuestExit(0, kind="irq"), O.SchedOut(0),
                                                        O.SchedIn(0, pcpu=1)]))


def kvm_run() -> Trace:
    return Trace(_cfg("lazy"), (O.KvmRun(0, pcpu=0),))


def stopped_then(*ops: O.Op) -> Callable[[], Trace]:
    def t() -> Trace:
        return Trace(_cfg("lazy"), (O.UserSetMpState(0, state="STOPPED"), *ops))
    return t


def cpu_off_on() -> Trace:
    return _load("seeds/psci-cpu-off-then-on.json")


def system_off() -> Trace:
    return _load("seeds/psci-system-off-run-again.json")


# --- the mutants ---------------------------------------------------------------------------------
def _hppvi_lowest_priority(orig: Any, self: IchCpuIf) -> int | None:
    # hppvi_index picking the *lowest*-priority pending LR (a reversed priority comparison)
    cands = [(lr.priority, i) for i, lr in enumerate(self.lrs[: self.used_lrs])
             if lr is not None and lr.pending and not lr.active and self.vmcr.group_enabled(lr.group)]
    return max(cands)[1] if cands else None


def _hppvi_last_on_ties(orig: Any, self: IchCpuIf) -> int | None:
    # hppvi_index taking the last of equal-priority pending LRs instead of the first
    cands = [(lr.priority, -i) for i, lr in enumerate(self.lrs[: self.used_lrs])
             if lr is not None and lr.pending and not lr.active and self.vmcr.group_enabled(lr.group)]
    return -min(cands)[1] if cands else None


def _iar_ignores_group(orig: Any, self: IchCpuIf, g: int) -> int:
    # icv_iar_read acknowledging the HPPVI whatever its group (the LR's group bit not compared)
    i = self.hppvi_index()
    lr = self.lrs[i] if i is not None else None
    if lr is None or lr.group == g:
        return int(orig(self, g))
    return int(orig(self, lr.group))


def _no_level_eoi(orig: Any, self: VgicV3, irq: Any) -> Any:
    # vgic_v3_compute_lr without ICH_LR_EOI for a level interrupt (no resampling MI)
    lr = orig(self, irq)
    if irq.level:
        lr.eoi = False
    return lr


def _fold_drops_active(orig: Any, self: VgicV3, g: Vgic, vcpu: int, lr: Any) -> None:
    # vgic_v3_fold_lr not taking ICH_LR_ACTIVE_BIT back into irq->active
    orig(self, g, vcpu, attrs.evolve(lr, active=False))


def _no_spis(orig: Any, self: Vgic, vcpu: int, intid: int) -> Any:
    return None if intid >= 32 else orig(self, vcpu, intid)


def _flush_twice(orig: Any, self: Vgic, vcpu: int) -> None:
    # the same vgic_irq twice on the ap_list (a double vgic_queue_irq_unlock), so the flush
    # populates two LRs with it
    orig(self, vcpu)
    st = self.cpu_if[vcpu]
    if st.used_lrs == 1 and self.nr_lrs > 1:
        st.vgic_lr[1] = attrs.evolve(st.vgic_lr[0])
        st.used_lrs = 2


def _flush_overcounts(orig: Any, self: Vgic, vcpu: int) -> None:
    # used_lrs not clamped to the implemented LRs (ICH_VTR_EL2.ListRegs + 1)
    orig(self, vcpu)
    self.cpu_if[vcpu].used_lrs = self.nr_lrs + 1


def _sync_without_pc(orig: Any, policy: Any, hyp: Any, host: Any, protected: bool) -> None:
    # sync_hyp_vcpu without the PC copy the seed keeps for trace_kvm_exit()
    pc = host.ctxt[IDX_PC]
    orig(policy, hyp, host, protected)
    host.ctxt[IDX_PC] = pc


def _put_without_pkvm_put(orig: Any, s: Any, v: Any) -> None:
    # kvm_arch_vcpu_put without __pkvm_vcpu_put: the hyp vcpu stays loaded on the old CPU
    if not s.pkvm:
        return orig(s, v)
    cpu = s.pcpus[v.pcpu]
    loaded, h = cpu.loaded_hyp_vcpu, s.hyp[v.idx].loaded_on
    orig(s, v)
    cpu.loaded_hyp_vcpu, s.hyp[v.idx].loaded_on = loaded, h


def _load_without_pkvm_load(orig: Any, hyp: Any, pcpu: Any, vcpu_idx: int) -> None:
    # kvm_arch_vcpu_load without __pkvm_vcpu_load: KVM_RUN with no hyp vcpu loaded
    return None


def _mp_state_always_runnable(orig: Any, s: Any, v: Any) -> str:
    # KVM_GET_MP_STATE reporting RUNNABLE for a powered-off vcpu (a stale power_off flag read)
    s.observe(v.idx, "psci-mp-state", "KVM_GET_MP_STATE", "RUNNABLE")
    return "RUNNABLE"


def _set_runnable_ignored(orig: Any, s: Any, v: Any, state: str) -> None:
    # KVM_SET_MP_STATE(RUNNABLE) not clearing the power-off state
    if state == "STOPPED":
        orig(s, v, state)


def _event_kind_swapped(orig: Any, s: Any, v: Any, kind: str, flags: int = 0) -> None:
    # kvm_prepare_system_event with SHUTDOWN and RESET swapped (PSCI SYSTEM_OFF reported as RESET)
    orig(s, v, P.KVM_SYSTEM_EVENT_RESET if kind == P.KVM_SYSTEM_EVENT_SHUTDOWN else P.KVM_SYSTEM_EVENT_SHUTDOWN,
         flags)


def _event_flags_set(orig: Any, s: Any, v: Any, kind: str, flags: int = 0) -> None:
    # kvm_prepare_system_event with data[0] not cleared (a PSCI_RESET2 flag left over)
    orig(s, v, kind, flags | 1)


def _reset_drops_context_id(orig: Any, s: Any, v: Any) -> None:
    # kvm_reset_vcpu not taking reset_state.r0: CPU_ON's context id never reaches x0
    v.reset_state.r0 = 0
    orig(s, v)


def _set_reg_refused(orig: Any, s: Any, v: Any, idx: int, value: int) -> bool:
    # KVM_SET_ONE_REG refused (-EINVAL) under pKVM
    return False


# --- shared host-code mutants (both systems: only ArchVcpu can see them) ---------------------------
def _get_reg_u32(orig: Any, self: Any, op: O.UserGetReg) -> bool:
    # KVM_GET_ONE_REG copying the register out through a u32 (a KVM_REG_SIZE mix-up)
    ok = orig(self, op)
    if ok:
        k, v, w, val = self._obs[-1]
        self._obs[-1] = (k, v, w, val & 0xFFFF_FFFF)
    return ok


def _set_events_drops_masked(orig: Any, s: Any, v: Any, esr: int) -> bool:
    # KVM_SET_VCPU_EVENTS with SErrors masked setting neither VSESR_EL2 nor HCR_EL2.VSE
    return True if H.serror_is_masked(s, v) else orig(s, v, esr)


def _mmio_read_data_dropped(orig: Any, s: Any, v: Any) -> int:
    # handle_exit for an in-kernel MMIO read stepping PC without writing the data to Rt
    if v.arch.fault.kind == "trap_mmio_read":
        v.arch.iflags |= HM.INCREMENT_PC
        return 1
    return int(orig(s, v))


def _reset_keeps_gprs(orig: Any, ctxt: list[int], before: list[int]) -> None:
    # kvm_reset_vcpu not clearing x1..x30 (they keep their values across KVM_ARM_VCPU_INIT)
    orig(ctxt, before)
    ctxt[1:31] = before[1:31]


def _entry_spsr_from_new_pstate(orig: Any, vcpu: Any) -> None:
    # enter_exception64 writing SPSR_EL1 from the PSTATE it has already updated
    pending = vcpu.iflags & HM.PENDING_EXCEPTION
    orig(vcpu)
    if pending:
        vcpu.ctxt[_SPSR_EL1] = vcpu.ctxt[IDX_PSTATE]


def _serror_exit_to_user(orig: Any, s: Any, v: Any) -> int:
    # handle_exit returning 0 for an exit with an SError pending: KVM_RUN back in userspace with no
    # exit reason instead of re-entering the guest ("it will re-execute the original instruction")
    return 0 if v.arch.fault.serror_pending else int(orig(s, v))


def serror_pending_exit_then_get_reg() -> Trace:
    return Trace(_cfg("lazy"), tuple(_ENTER + [O.GuestExit(0, kind="irq", serror_pending=True), O.HandleExit(0),
                                               O.UserGetReg(0, reg="pc")]))


def _debug_load_ignores_userspace(orig: Any, s: Any, v: Any) -> None:
    # kvm_vcpu_load_debug ignoring vcpu->guest_debug (KVM_SET_GUEST_DEBUG single-step lost)
    saved, v.guest_debug = v.guest_debug, False
    orig(s, v)
    v.guest_debug = saved


def mmio_read_exit() -> Trace:
    return Trace(_cfg("lazy"), tuple(_ENTER + [O.GuestExit(0, kind="trap_mmio_read", rt=1, value=0x55),
                                               O.HandleExit(0), O.GuestEnter(0)]))


def big_get_reg() -> Trace:
    return Trace(_cfg("lazy"), (O.UserSetReg(0, reg="x1", value=1 << 40), O.UserGetReg(0, reg="x1")))


def masked_serror_then_events() -> Trace:
    return Trace(_cfg("lazy"), (O.HostInjectSError(0, esr=1), O.UserGetVcpuEvents(0)))


def run_then_init_then_get() -> Trace:
    return Trace(_cfg("lazy"), tuple(_ENTER + [O.GuestWriteReg(0, reg="x1", value=7), O.GuestExit(0, kind="irq"),
                                               O.HandleExit(0), O.ExitToUser(0),
                                               O.UserVcpuInit(0, power_off=False), *_ENTER]))


def unmasked_serror_entry() -> Trace:
    return Trace(_cfg("lazy"), (O.UserSetReg(0, reg="pstate", value=0x5), O.HostInjectSError(0, esr=1), *_ENTER))


def masked_serror_entry() -> Trace:
    return Trace(_cfg("lazy"), (O.HostInjectSError(0, esr=1), *_ENTER))


def single_step_entry() -> Trace:
    return Trace(_cfg("lazy"), (O.UserSetGuestDebug(0, single_step=True), *_ENTER))


# --- the table -----------------------------------------------------------------------------------
WITNESSES: dict[str, Witness] = {
    # differential: the variant and the reference let the host or guest see different things
    "applicability": mutant(set_reg, lambda mp, ex: _sut_only(mp, ex, H, "kvm_arm_set_reg", _set_reg_refused)),
    "guest-entry": corpus("seeds/set-reg-after-irq-exit.json", "lazy-no-dirty-at-put"),
    "exit-pc": mutant(pc_written_then_exit, lambda mp, ex: _both_hook(ex, "sync_hyp_vcpu", _sync_without_pc)),
    "run-loop-pstate": corpus("seeds/pstate-change-then-irq-exit.json", "lazy-pc-only"),
    "trap-read": corpus("seeds/psci-system-off-run-again.json", "lazy-hvc-no-sync"),
    "one-reg": corpus("seeds/mmio-read-then-signal-exit.json", "lazy-put-ignores-dirty"),
    "vcpu-events": corpus("seeds/masked-vserror-lifecycle.json", "lazy-vse-not-reflected"),
    "gic-iar": mutant(gic_ack((32, 0x40, 1), (33, 0x40, 1)),  # equal priorities: the same RPR either way
                      lambda mp, ex: _sut_only_hw(mp, ex, "hppvi_index", _hppvi_last_on_ties)),
    "gic-dir": against_kernel_reference("seeds/vgic-spi-deactivated-on-other-vcpu.json", "vgic-no-tdir"),
    "gic-rpr": against_kernel_reference("seeds/vgic-disabled-group-high-priority.json", "vgic-pre-series"),
    "gic-active": against_kernel_reference("regressions/vgic-spi-of-tainted-vcpu.json", "vgic-eoicount-ignored"),
    "psci-call": corpus("seeds/psci-secondary-boot-cpu-on.json", "lazy-put-ignores-dirty"),
    "psci-power": mutant(cpu_off_on, lambda mp, ex: _sut_only(mp, ex, P, "kvm_reset_vcpu", _reset_drops_context_id)),
    "psci-system-event": mutant(system_off,
                                lambda mp, ex: _sut_only(mp, ex, P, "kvm_prepare_system_event", _event_kind_swapped)),
    "psci-system-event-flags": mutant(system_off, lambda mp, ex: _sut_only(mp, ex, P, "kvm_prepare_system_event",
                                                                           _event_flags_set)),
    "psci-stage2": against_kernel_reference("seeds/psci-system-reset-reboot.json", "psci-no-stage2-unmap"),
    "psci-mp-state": mutant(stopped_then(O.UserGetMpState(0)),
                            lambda mp, ex: _sut_only(mp, ex, P, "kvm_arch_vcpu_ioctl_get_mpstate",
                                                     _mp_state_always_runnable)),
    # the architectural GIC (ArchGic), judged from the variant's observations
    "gic-S1-validity": mutant(gic_ack((32, 0x40, 1), pmr=0),  # icv_hppi_can_preempt without the VPMR test
                              lambda mp, ex: _both(mp, IchCpuIf, "can_signal",
                                                   lambda orig, self, prio, g: bool(self.hcr & 1))),
    "gic-S3-active-lost": mutant(gic_ack_exit_enter,
                                 lambda mp, ex: _both(mp, VgicV3, "vgic_v3_fold_lr", _fold_drops_active)),
    "gic-S4-running-priority": mutant(gic_ack((32, 0x40, 1)),  # ich_highest_active_virt_prio blind to the APRs
                                      lambda mp, ex: _both(mp, IchCpuIf, "rpr", lambda orig, self: 0xFF)),
    "gic-S5-group": mutant(gic_ack((32, 0x40, 0), enable=(0, 1), ack_group=1),
                           lambda mp, ex: _both(mp, IchCpuIf, "ack", _iar_ignores_group)),
    # mutation analysis survivor vgic.py:73 (``intid < NR_PRIVATE / NR_SPIS``): lookup finds no SPI, so
    # every SPI injection is refused
    "gic-API-injection-refused": mutant(level_spi_entry, lambda mp, ex: _both(mp, Vgic, "lookup", _no_spis)),
    "gic-O1-priority-inversion": mutant(gic_ack((32, 0x40, 1), (33, 0x50, 1)),
                                        lambda mp, ex: _both(mp, IchCpuIf, "hppvi_index", _hppvi_lowest_priority)),
    "gic-O2-strict-at-sync": corpus("seeds/vgic-disabled-group-high-priority.json", "vgic-pre-series"),
    "gic-L2-deactivation-lost": corpus("seeds/vgic-spi-deactivated-on-other-vcpu.json", "vgic-no-tdir"),
    # the vgic's LR invariants
    "gic-I1-duplicate-lr": mutant(level_spi_entry, lambda mp, ex: _both(mp, Vgic, "vgic_flush_lr_state", _flush_twice)),
    "gic-I3-level-lr": mutant(level_spi_entry, lambda mp, ex: _both(mp, VgicV3, "vgic_v3_compute_lr", _no_level_eoi)),
    "gic-I4-top-n": corpus("seeds/vgic-close-priorities-one-lr.json", "vgic-sort-prio-4bits"),
    "gic-I5-mi-config": corpus("regressions/vgic-level-line-dropped-before-group-enable.json", "vgic-no-group-mi"),
    "gic-I7-used-lrs": mutant(two_edge_spis_entry_without_pkvm,
                              lambda mp, ex: _both(mp, Vgic, "vgic_flush_lr_state", _flush_overcounts)),
    "gic-hcr-armed-in-host": corpus("seeds/vgic-close-priorities-one-lr.json", "vgic-trap-armed-on-exit"),
    # PSCI (ArchPsci)
    "psci-P1-no-progress-while-off": corpus("seeds/psci-secondary-boot-cpu-on.json", "psci-run-stopped-enters"),
    "psci-P2-reset-state": corpus("seeds/psci-smc-cpu-off-then-on.json", "psci-reset-keeps-pc-update"),
    "psci-P3-return": corpus("seeds/psci-calls-and-errors.json", "psci-cpu-on-already-on-accepted"),
    "psci-P4-system-event": mutant(system_off,
                                   lambda mp, ex: _both(mp, P, "kvm_prepare_system_event", _event_kind_swapped)),
    "psci-P5-stage2-fresh": corpus("seeds/psci-system-reset-reboot.json", "psci-no-stage2-unmap"),
    "psci-P6-mp-state": mutant(stopped_then(O.UserGetMpState(0)),
                               lambda mp, ex: _both(mp, P, "kvm_arch_vcpu_ioctl_get_mpstate",
                                                    _mp_state_always_runnable)),
    "psci-P7-runnable-runs": mutant(stopped_then(O.UserSetMpState(0, state="RUNNABLE"), *_ENTER),
                                    lambda mp, ex: _both(mp, P, "kvm_arch_vcpu_ioctl_set_mpstate",
                                                         _set_runnable_ignored)),
    # pKVM's hyp vcpus
    "hyp-vcpu-loaded-once": mutant(run_twice_on_two_cpus,
                                   lambda mp, ex: _both(mp, H, "kvm_arch_vcpu_put", _put_without_pkvm_put)),
    "hyp-vcpu-loaded-at-run": mutant(kvm_run, lambda mp, ex: _both_hook(ex, "handle___pkvm_vcpu_load",
                                                                         _load_without_pkvm_load)),
    # the architectural vcpu oracle (ArchVcpu): mistakes in host code the reference shares
    "vcpu-V1-one-reg": mutant(big_get_reg, lambda mp, ex: _both_method(mp, ex, "_user_get_reg", _get_reg_u32)),
    "vcpu-V2-vcpu-events": mutant(masked_serror_then_events,
                                  lambda mp, ex: _both(mp, H, "kvm_arm_vcpu_set_events", _set_events_drops_masked)),
    "vcpu-V3-entry-state": mutant(mmio_read_exit, lambda mp, ex: _both(mp, H, "handle_exit", _mmio_read_data_dropped)),
    "vcpu-V4-reset-state": mutant(run_then_init_then_get,
                                  lambda mp, ex: _both(mp, P, "kvm_timer_vcpu_reset", _reset_keeps_gprs)),
    "vcpu-V5-exception-entry": mutant(unmasked_serror_entry,
                                      lambda mp, ex: _both(mp, HM, "kvm_adjust_pc", _entry_spsr_from_new_pstate)),
    "vcpu-V6-serror-pending": mutant(masked_serror_entry,
                                     lambda mp, ex: _both(mp, H, "kvm_arm_vcpu_set_events",
                                                          _set_events_drops_masked)),
    "vcpu-V8-run-returns": mutant(serror_pending_exit_then_get_reg,
                                  lambda mp, ex: _both(mp, H, "handle_exit", _serror_exit_to_user)),
    "vcpu-V7-debug-mdscr": mutant(single_step_entry,
                                  lambda mp, ex: _both(mp, H, "kvm_vcpu_load_debug", _debug_load_ignores_userspace)),
}


def test_every_oracle_has_a_witness() -> None:
    assert set(WITNESSES) == set(ORACLES), (
        f"without a witness: {sorted(set(ORACLES) - set(WITNESSES))}; "
        f"not an oracle: {sorted(set(WITNESSES) - set(ORACLES))}")


@pytest.mark.parametrize("name", sorted(n for n, w in WITNESSES.items() if hasattr(w, "trace")))
def test_mutant_traces_pass_without_the_mutant(name: str) -> None:
    """The failure is the mutant's: the same trace passes on the unmodified model."""
    t = WITNESSES[name].trace()  # type: ignore[attr-defined]
    assert _steps(Execution(t.config), t.ops).ok


@pytest.mark.parametrize("name", sorted(WITNESSES))
def test_the_witness_fails_with_exactly_its_oracle(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    v = WITNESSES[name](monkeypatch)
    assert not v.ok and v.oracle == name, v
