"""The EL2 functions against the hyp-main.c behaviour they mirror."""

import attrs
import pytest

from hvfuzz.model.pkvm import hyp_main as HM
from hvfuzz.model.pkvm.state import (
    INCREMENT_PC,
    PENDING_EXCEPTION,
    PKVM_HOST_STATE_DIRTY,
    HypVcpu,
    Pcpu,
    VcpuArch,
)
from hvfuzz.model.regs import (
    CTXT_LEN,
    HCR_TWI,
    HCR_VSE,
    IDX_PC,
    IDX_PSTATE,
    IDX_SYSREGS,
    IDX_V0,
    REG_INDEX,
    TIMER_INDICES,
    sysreg_index,
)
from hvfuzz.model.variants import EAGER, LAZY, LAZY_V3


def arch(fill: int) -> VcpuArch:
    return VcpuArch(ctxt=[fill] * CTXT_LEN)


def hyp(fill: int = 0) -> HypVcpu:
    return HypVcpu(vcpu=arch(fill))


def test_copy_vcpu_state_skips_timers_by_name_only():
    src, dst = arch(1), arch(2)
    HM.copy_vcpu_state(LAZY, src, dst)
    for i in range(CTXT_LEN):
        # sys_regs[0] (__INVALID_SYSREG__) is not copied either: the loop starts at 1
        assert dst.ctxt[i] == (2 if i in TIMER_INDICES or i == IDX_SYSREGS else 1), i


def test_range_skip_misses_sctlr_and_esr():
    src, dst = arch(1), arch(2)
    HM.copy_vcpu_state(attrs.evolve(LAZY, timer_skip="range"), src, dst)
    assert dst.ctxt[sysreg_index("SCTLR_EL1")] == 2
    assert dst.ctxt[sysreg_index("ESR_EL1")] == 2
    assert dst.ctxt[sysreg_index("ELR_EL1")] == 1


def test_copy_without_fp_leaves_v_registers():
    src, dst = arch(1), arch(2)
    HM.copy_vcpu_state(attrs.evolve(LAZY, copy_fp=False), src, dst)
    assert dst.ctxt[IDX_V0] == 2 and dst.ctxt[REG_INDEX["x0"]] == 1


@pytest.mark.parametrize("dirty", [False, True])
def test_lazy_flush_copies_only_when_dirty(dirty):
    host, h = arch(1), hyp(2)
    host.iflags = PKVM_HOST_STATE_DIRTY if dirty else 0
    host.hcr_el2 = HCR_VSE | HCR_TWI
    HM.flush_hyp_vcpu(LAZY, h, host, protected=False)
    assert h.vcpu.ctxt[REG_INDEX["x0"]] == (1 if dirty else 2)
    assert h.vcpu.iflags == host.iflags  # iflags always flow in
    assert h.vcpu.hcr_el2 & HCR_VSE  # HYP-LATE mask takes VSE


def test_eager_and_protected_flush_copy_everything():
    for policy, protected in ((EAGER, False), (LAZY, True)):
        host, h = arch(1), hyp(2)
        HM.flush_hyp_vcpu(policy, h, host, protected)
        assert h.vcpu.ctxt == host.ctxt


def test_lazy_sync_copies_pc_and_pstate_only():
    host, h = arch(1), hyp(2)
    HM.sync_hyp_vcpu(LAZY, h, host, protected=False)
    assert host.ctxt[IDX_PC] == 2 and host.ctxt[IDX_PSTATE] == 2
    assert host.ctxt[REG_INDEX["x0"]] == 1
    pc_only = attrs.evolve(LAZY, copy_pstate_on_exit=False)
    host, h = arch(1), hyp(2)
    HM.sync_hyp_vcpu(pc_only, h, host, protected=False)
    assert host.ctxt[IDX_PC] == 2 and host.ctxt[IDX_PSTATE] == 1


@pytest.mark.parametrize(("policy", "host_vse_after"), [(EAGER, 0), (LAZY, 0), (LAZY_V3, HCR_VSE)])
def test_sync_hcr_el2_per_tree(policy, host_vse_after):
    # The guest took the vSError: hardware cleared VSE in the hyp's hcr_el2.
    host, h = arch(0), hyp(0)
    host.hcr_el2 = HCR_VSE
    HM.sync_hyp_vcpu(policy, h, host, protected=False)
    assert host.hcr_el2 & HCR_VSE == host_vse_after


@pytest.mark.parametrize("dirty", [False, True])
def test_put_syncs_back_only_when_not_dirty(dirty):
    host, h, cpu = arch(1), hyp(2), Pcpu(idx=0)
    host.iflags = PKVM_HOST_STATE_DIRTY if dirty else 0
    HM.handle___pkvm_vcpu_load(h, cpu, 0)
    assert h.loaded_on == 0 and cpu.loaded_hyp_vcpu == 0
    HM.handle___pkvm_vcpu_put(LAZY, h, cpu, host, protected=False)
    assert host.ctxt[REG_INDEX["x0"]] == (1 if dirty else 2)
    assert h.loaded_on is None and cpu.loaded_hyp_vcpu is None


def test_load_refuses_a_vcpu_loaded_elsewhere():
    h, c0, c1 = hyp(), Pcpu(idx=0), Pcpu(idx=1)
    HM.handle___pkvm_vcpu_load(h, c0, 0)
    HM.handle___pkvm_vcpu_load(h, c1, 0)
    assert h.loaded_on == 0 and c1.loaded_hyp_vcpu is None


def test_sync_state_is_a_noop_unless_loaded_and_non_protected():
    host, h = arch(1), hyp(2)
    HM.handle___pkvm_vcpu_sync_state(LAZY, h, host, protected=False)
    assert host.ctxt[0] == 1  # not loaded
    h.loaded_on = 0
    HM.handle___pkvm_vcpu_sync_state(LAZY, h, host, protected=True)
    assert host.ctxt[0] == 1
    HM.handle___pkvm_vcpu_sync_state(LAZY, h, host, protected=False)
    assert host.ctxt[0] == 2


def test_adjust_pc_increments_or_enters_exception():
    v = arch(0)
    v.iflags = INCREMENT_PC
    HM.kvm_adjust_pc(v)
    assert v.ctxt[IDX_PC] == 4 and v.iflags == 0
    v.iflags = PENDING_EXCEPTION
    v.ctxt[IDX_PSTATE] = 0x5
    HM.kvm_adjust_pc(v)
    # SCTLR_EL1 is 0 here: SPAN clear, so the entry sets PSTATE.PAN (enter_exception64)
    assert v.ctxt[IDX_PC] == 0x380 and v.ctxt[IDX_PSTATE] == 0x3C5 | (1 << 22) and v.iflags == 0


def test_pending_vserror_taken_only_when_unmasked():
    v = arch(0)
    v.hcr_el2 = HCR_VSE
    v.ctxt[IDX_PSTATE] = 0x3C5
    assert not HM.take_pending_vserror(v) and v.hcr_el2 & HCR_VSE
    v.ctxt[IDX_PSTATE] = 0x5
    assert HM.take_pending_vserror(v)
    # SCTLR_EL1 = 0: SPAN clear sets PAN; ESR_EL1 = EC SError with IL set (an SError's IL is 1)
    assert not v.hcr_el2 & HCR_VSE and v.ctxt[IDX_PSTATE] == 0x3C5 | (1 << 22)
    assert v.ctxt[sysreg_index("ESR_EL1")] == (0x2F << 26) | (1 << 25)
