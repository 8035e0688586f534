"""White-box invariants of pKVM's hyp vcpus, checked on a ``System`` after every op (on the
variant and on the reference alike): a hyp vcpu is loaded on at most one CPU, by the thread of its
own vcpu (``pkvm_load_hyp_vcpu``: ``hyp_vcpu->loaded_hyp_vcpu``), and a vcpu thread on a CPU in
KVM_RUN has its own hyp vcpu loaded there with SVCR clear (otherwise ``__kvm_vcpu_run`` would
come back without a flush or a run: ``hyp_main.handle___kvm_vcpu_run_early``; a correct host
never gets there).

There is no ``__hyp_running_vcpu`` invariant: only a compromised host can put a non-NULL value
into a guest context (README, "Where the model differs from the kernel": ``__hyp_running_vcpu``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from hvfuzz.model.vocab.judging import Failure, Step

if TYPE_CHECKING:
    from hvfuzz.model.system import System


def check_invariants(s: System) -> Failure | None:
    """Invariants of one system (pKVM's per-CPU loaded hyp vcpu)."""
    if not s.pkvm:
        return None
    return _check_pkvm(s)


def _check_pkvm(s: System) -> Failure | None:
    seen: dict[int, int] = {}
    for cpu in s.pcpus:
        h = cpu.loaded_hyp_vcpu
        if h is None:
            continue
        if h in seen or s.hyp[h].loaded_on != cpu.idx:
            return Failure("hyp-vcpu-loaded-once", h, f"hyp vcpu{h} loaded on CPU{cpu.idx} and "
                           f"CPU{seen.get(h, s.hyp[h].loaded_on)}")
        if cpu.thread != h:
            return Failure("hyp-vcpu-loaded-once", h, f"CPU{cpu.idx} has hyp vcpu{h} loaded but "
                           f"runs vcpu thread {cpu.thread}")
        seen[h] = cpu.idx
    for v in s.vcpus:
        if v.pcpu is None or v.phase.value == "userspace":
            continue
        cpu = s.pcpus[v.pcpu]
        if cpu.loaded_hyp_vcpu != v.idx or cpu.svcr:
            return Failure("hyp-vcpu-loaded-at-run", v.idx, f"vcpu{v.idx} is in KVM_RUN on CPU{cpu.idx} "
                           f"with hyp vcpu {cpu.loaded_hyp_vcpu} loaded there and SVCR={cpu.svcr:#x}: "
                           f"__kvm_vcpu_run would return without a flush or a run")
    return None


@attrs.define
class PkvmInvariants:
    """``check_invariants`` as a chain member (``Invariant``).  Stateless."""

    def applies(self, system: System) -> bool:
        return system.pkvm  # the reference has no hyp vcpus

    def after(self, step: Step, system: System) -> Failure | None:
        return _check_pkvm(system) if system.pkvm else None

    def state_key(self, intids: tuple[int, ...]) -> object:
        return ()
