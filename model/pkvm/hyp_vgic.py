"""pKVM's second copy of the GICv3 CPU-interface state: arch/arm64/kvm/hyp/nvhe/hyp-main.c
``flush_hyp_vgic_state`` / ``sync_hyp_vgic_state`` (run by ``flush_hyp_vcpu`` / ``sync_hyp_vcpu``
around every run) and the load/put hypercalls ``__vgic_v3_restore_vmcr_aprs`` /
``__vgic_v3_save_aprs``.

Under pKVM the host and the hyp each hold a ``struct vgic_v3_cpu_if``: the host computes
``vgic_hcr``, ``used_lrs`` and the LRs in its own (``kvm_vgic_flush_hwstate``) and folds them back
from it (``kvm_vgic_sync_hwstate``); EL2 restores the pCPU's interface from the hyp's copy and
saves it there (``__vgic_v3_restore_state`` / ``__vgic_v3_save_state`` on ``hyp_vcpu->vcpu``).
Sources (the kernel after the LR-overflow series):

- ``flush_hyp_vgic_state``: ``vgic_hcr``; ``used_lrs = min(host used_lrs, hyp_gicv3_nr_lr)``
  (kernelorg-mirror/linux_kernel_git_kvmarm_kvmarm hyp-main.c @354d3c964091: "Number of
  implemented GICv3 LRs. Used by flush_hyp_vcpu()"; older trees read ICH_VTR_EL2 in place);
  ``vgic_lr[0 .. used_lrs)``; ``vgic_sre`` forced (not modelled: always SRE).
- ``sync_hyp_vgic_state``: ``vgic_hcr`` (with the EOIcount that f4ded7b0848e "GICv3: Preserve
  EOIcount on exit" keeps in it), ``vgic_vmcr`` (the line cf72ee637119 "Eagerly save VMCR on exit"
  adds, v2 19/45 Message-ID <20251109171619.1507205-20-maz@kernel.org>), ``vgic_lr[0 .. hyp
  used_lrs)``.
- load: ``kvm_arch_vcpu_load`` calls ``__vgic_v3_restore_vmcr_aprs`` after ``__pkvm_vcpu_load``;
  with a hyp vcpu loaded its handler copies the host's ``vgic_vmcr`` and APRs into the hyp's copy
  before writing the hardware.  put: ``kvm_arch_vcpu_put`` calls ``__vgic_v3_save_aprs`` (before
  cf72ee637119: ``__vgic_v3_save_vmcr_aprs``, which also took VMCR) before ``__pkvm_vcpu_put``.

Every copy is by value (``attrs.evolve`` of each LR and of the VMCR, fresh APR lists): the pCPU's
interface mutates the objects of the copy it was restored from, which must stay the hyp's.
"""

from __future__ import annotations

import attrs

from hvfuzz.model.pkvm.policy import SyncPolicy
from hvfuzz.model.vgic.irq import Lr
from hvfuzz.model.vgic.v3_cpu_if import VgicV3CpuIf


def _lr(lr: Lr | None) -> Lr | None:
    return None if lr is None else attrs.evolve(lr)


def flush_hyp_vgic_state(policy: SyncPolicy, hyp: VgicV3CpuIf, host: VgicV3CpuIf, nr_lr: int) -> None:
    """``flush_hyp_vgic_state`` (host -> hyp, every run): ``vgic_hcr``, ``used_lrs`` clamped to
    the implemented LRs (``policy.clamp_used_lrs``) and that many LRs."""
    used = min(host.used_lrs, nr_lr) if policy.clamp_used_lrs else host.used_lrs
    hyp.vgic_hcr = host.vgic_hcr
    hyp.used_lrs = used
    for i in range(min(used, len(host.vgic_lr), len(hyp.vgic_lr))):  # the model's arrays hold nr_lr
        hyp.vgic_lr[i] = _lr(host.vgic_lr[i])


def sync_hyp_vgic_state(policy: SyncPolicy, hyp: VgicV3CpuIf, host: VgicV3CpuIf) -> None:
    """``sync_hyp_vgic_state`` (hyp -> host, every run): ``vgic_hcr`` (``policy.sync_vgic_hcr``),
    ``vgic_vmcr`` (``policy.vmcr_sync == "exit"``) and the LRs the hyp used."""
    if policy.sync_vgic_hcr:
        host.vgic_hcr = hyp.vgic_hcr
    if policy.vmcr_sync == "exit":
        host.vgic_vmcr = attrs.evolve(hyp.vgic_vmcr)
    for i in range(min(hyp.used_lrs, len(host.vgic_lr), len(hyp.vgic_lr))):
        host.vgic_lr[i] = _lr(hyp.vgic_lr[i])


def handle___vgic_v3_restore_vmcr_aprs(hyp: VgicV3CpuIf, host: VgicV3CpuIf) -> None:
    """``handle___vgic_v3_restore_vmcr_aprs`` with a hyp vcpu loaded: the host's ``vgic_vmcr``
    and APRs into the hyp's copy (then ``__vgic_v3_restore_vmcr_aprs`` writes the hardware; the
    model's pCPU interface takes them from the hyp's copy at the next entry)."""
    hyp.vgic_vmcr = attrs.evolve(host.vgic_vmcr)
    hyp.vgic_apr = [list(r) for r in host.vgic_apr]


def handle___vgic_v3_save_aprs(policy: SyncPolicy, hyp: VgicV3CpuIf, host: VgicV3CpuIf) -> None:
    """``handle___vgic_v3_save_aprs`` with a hyp vcpu loaded: the APRs hyp -> host; with
    ``vmcr_sync == "put"`` it is the older ``__vgic_v3_save_vmcr_aprs`` and takes VMCR too."""
    host.vgic_apr = [list(r) for r in hyp.vgic_apr]
    if policy.vmcr_sync == "put":
        host.vgic_vmcr = attrs.evolve(hyp.vgic_vmcr)


__all__ = ["flush_hyp_vgic_state", "sync_hyp_vgic_state", "handle___vgic_v3_restore_vmcr_aprs",
           "handle___vgic_v3_save_aprs"]
