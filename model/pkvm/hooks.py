"""The kernel functions a design may replace (``Variant.hooks``): the pKVM world-switch copies and
hypercall handlers of ``hyp_main`` / ``hyp_vgic`` and the host half of the lazy sync
(``host.handle_exit_pkvm_state``).  Each field defaults to hvfuzz's model of that kernel function;
a design gives its own with ``KernelHooks(sync_hyp_vcpu=my_sync)``.  The model calls these through
``System.hooks``, so a replacement is seen wherever the kernel calls the function; functions a
replacement calls itself (``hyp_main.copy_vcpu_state``, ...) are its own business.

What the CPU does (``hyp_main.kvm_adjust_pc``, ``take_pending_vserror``) and the single-copy
reference are not hooks: a design changes the kernel, not the architecture it is judged by.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from hvfuzz.model.pkvm import host, hyp_main, hyp_vgic

_Fn = Callable[..., Any]


def _callable(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(value):
        raise TypeError(f"KernelHooks.{attribute.name} must be a function, got {value!r:.40}")


def _hook(default: _Fn) -> Any:
    return attrs.field(default=default, validator=_callable)


@attrs.frozen
class KernelHooks:
    """One function per replaceable kernel function (signatures as in ``hyp_main``/``hyp_vgic``/``host``)."""

    #: hyp-main.c: host vcpu -> hyp vcpu before every run (policy, hyp, host_arch, protected)
    flush_hyp_vcpu: _Fn = _hook(hyp_main.flush_hyp_vcpu)
    #: hyp-main.c: hyp vcpu -> host vcpu after every run (policy, hyp, host_arch, protected)
    sync_hyp_vcpu: _Fn = _hook(hyp_main.sync_hyp_vcpu)
    #: handle___kvm_vcpu_run's checks before the flush (policy, pcpu, vcpu_idx) -> Fault | None
    handle___kvm_vcpu_run_early: _Fn = _hook(hyp_main.handle___kvm_vcpu_run_early)
    #: (hyp, pcpu, vcpu_idx)
    handle___pkvm_vcpu_load: _Fn = _hook(hyp_main.handle___pkvm_vcpu_load)
    #: (policy, hyp, pcpu, host_arch, protected)
    handle___pkvm_vcpu_put: _Fn = _hook(hyp_main.handle___pkvm_vcpu_put)
    #: (policy, hyp | None, host_arch, protected)
    handle___pkvm_vcpu_sync_state: _Fn = _hook(hyp_main.handle___pkvm_vcpu_sync_state)
    #: (policy | None, hyp | None, host_arch)
    handle___kvm_adjust_pc: _Fn = _hook(hyp_main.handle___kvm_adjust_pc)
    #: hyp-main.c's vgic copies (policy, hyp_cpu_if, host_cpu_if, nr_lr) / (policy, hyp_cpu_if, host_cpu_if)
    flush_hyp_vgic_state: _Fn = _hook(hyp_vgic.flush_hyp_vgic_state)
    sync_hyp_vgic_state: _Fn = _hook(hyp_vgic.sync_hyp_vgic_state)
    #: (hyp_cpu_if, host_cpu_if) / (policy, hyp_cpu_if, host_cpu_if)
    handle___vgic_v3_restore_vmcr_aprs: _Fn = _hook(hyp_vgic.handle___vgic_v3_restore_vmcr_aprs)
    handle___vgic_v3_save_aprs: _Fn = _hook(hyp_vgic.handle___vgic_v3_save_aprs)
    #: the host's half of the lazy sync, at every exit (system, host_vcpu)
    handle_exit_pkvm_state: _Fn = _hook(host.handle_exit_pkvm_state)


KERNEL = KernelHooks()
