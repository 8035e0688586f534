"""A masked virtual SError pended by the host (KVM_SET_VCPU_EVENTS with PSTATE.A set), tree by tree:
what reaches the guest and what KVM_GET_VCPU_EVENTS reports afterwards.  This pins the mechanism
the notes of corpus/regressions/lazy-v3-vserror-never-delivered.json and
lazy-vse-not-reflected-rearm.json state, sentence by sentence."""

import pytest

from hvfuzz.model.regs import HCR_VSE, IDX_PC
from hvfuzz.model.system import System
from hvfuzz.model.variants import VARIANTS
from hvfuzz.model.vocab import ops as O

VECTOR_SERROR_CUR_SPX = 0x380


def system(variant: str) -> System:
    return System(1, 1, False, VARIANTS[variant].policy)


def run_once(s: System, unmask: bool) -> tuple[int, int]:
    """KVM_RUN, enter (ISR_EL1.A as the guest sees it), optionally unmask SErrors, IRQ exit, back
    to userspace; returns (ISR_EL1.A at entry, the guest's PC after the unmask)."""
    s.apply(O.KvmRun(0, 0))
    s.apply(O.GuestEnter(0))
    isr_a = s.guest_view(0)[-2]
    if unmask:
        s.apply(O.GuestWriteReg(0, "pstate", 0x5))  # EL1h, DAIF clear
    pc = s.running_arch(0).ctxt[IDX_PC]
    s.apply(O.GuestExit(0, "irq"))
    s.apply(O.HandleExit(0))
    s.apply(O.ExitToUser(0))
    return isr_a, pc


def serror_pending(s: System) -> bool:
    s.apply(O.UserGetVcpuEvents(0))
    return s.last_observations[-1][-1][0]


@pytest.mark.parametrize(("variant", "isr_a", "taken", "pending_after"), [
    ("reference", 1, True, False),
    ("eager", 1, True, False),                 # 6.4-6.6 Stage A: whole hcr_el2 both ways
    ("lazy", 1, True, False),                  # VSE flows in, the hardware-cleared VSE is reflected back
    ("lazy-v3", 0, False, True),               # never delivered, host VSE never cleared
    ("eager-vse-not-flushed", 0, False, False),  # 2026 mainline: never delivered, dropped at the first exit
    ("lazy-vse-not-flushed", 0, False, False),
    ("lazy-vse-not-reflected", 1, True, True),   # delivered, host VSE stays: re-armed at the next entry
])
def test_masked_vserror_by_tree(variant, isr_a, taken, pending_after):
    s = system(variant)
    s.apply(O.HostInjectSError(0, 0x1))  # reset PSTATE has A set: masked -> VSESR_EL2 + HCR_EL2.VSE
    assert s.vcpus[0].arch.hcr_el2 & HCR_VSE
    seen, pc = run_once(s, unmask=True)
    assert seen == isr_a
    assert (pc == VECTOR_SERROR_CUR_SPX) == taken
    assert serror_pending(s) == pending_after


def test_lazy_v3_host_vse_stays_set_for_good():
    """The seed on its base: the flush takes only TWI|TWE, so the hyp vcpu never gets VSE; the seed
    removed the hcr_el2 copy-back, so nothing ever clears the host's VSE either."""
    s = system("lazy-v3")
    s.apply(O.HostInjectSError(0, 0x1))
    for _ in range(4):
        seen, pc = run_once(s, unmask=True)
        assert seen == 0 and pc != VECTOR_SERROR_CUR_SPX
        assert not s.hyp[0].vcpu.hcr_el2 & HCR_VSE and s.vcpus[0].arch.hcr_el2 & HCR_VSE
        assert serror_pending(s)


def test_lazy_vse_not_reflected_rearms_after_delivery():
    s = system("lazy-vse-not-reflected")
    s.apply(O.HostInjectSError(0, 0x1))
    run_once(s, unmask=True)  # taken once: the guest is at the SError vector with PSTATE.A set again
    seen, _ = run_once(s, unmask=False)
    assert seen == 1  # the stale host VSE is flushed in again: ISR_EL1.A = 1 at the next entry
