"""An hvfuzz design of its own: the lazy vcpu-state sync, with the PSTATE copy at exit deferred.

The seed's ``sync_hyp_vcpu`` copies PC and PSTATE back to the host vcpu after every run ("PC feeds
trace_kvm_exit(), PSTATE vcpu_mode_is_bad_32bit").  This design saves the PSTATE copy on the exit
path: the host's half of the lazy sync (``handle_exit_pkvm_state``) copies PSTATE once the exit is
classified, before anything on the host reads it (``serror_is_masked`` in ``handle_exit_early``,
``vcpu_mode_is_bad_32bit`` in the run loop), and only on the exits that do not sync the whole
context anyway.

Three variants:

- ``lazy-deferred-pstate`` (correct): as above;
- ``lazy-deferred-pstate-trap-only`` (bug): the deferred copy is placed in the trap branch, where
  the whole context was synced already: after an IRQ exit the run loop reads a stale PSTATE;
- ``lazy-deferred-pc`` (bug): PC is deferred too, but ``trace_kvm_exit`` reads PC before the exit
  is classified: it reports a stale exit PC.

Load it with ``hvfuzz --design deferred_pstate.py ...`` or install it (``pip install -e .``: the
``hvfuzz.designs`` entry point in pyproject.toml).
"""

from __future__ import annotations

from hvfuzz.model.pkvm import host, hyp_main
from hvfuzz.model.pkvm.hooks import KernelHooks
from hvfuzz.model.pkvm.state import PKVM_HOST_STATE_DIRTY
from hvfuzz.model.regs import IDX_PC, IDX_PSTATE
from hvfuzz.model.variants import LAZY, Variant

#: a vcpu iflag of this design: ``sync_hyp_vcpu`` left part of the context behind in the hyp vcpu.
#: (The first version keyed the deferred copy on the exit code instead and skipped "il" as an early
#: return of ``__kvm_vcpu_run``; but a guest's illegal exception return exits with "il" too, after a
#: run: ``hvfuzz exhaustive --depth 5`` found the stale PSTATE in 5 ops, 60 s of fuzzing did not.)
DEFERRED = 1 << 20


def _deferred(fields: tuple[int, ...]):
    def sync_hyp_vcpu(policy, hyp, host_arch, protected):
        """``sync_hyp_vcpu`` of this design: the seed's, but ``fields`` of the context stay behind
        (flagged ``DEFERRED``)."""
        kept = [host_arch.ctxt[i] for i in fields]
        hyp_main.sync_hyp_vcpu(policy, hyp, host_arch, protected)
        if policy.lazy and not protected:
            for i, value in zip(fields, kept, strict=True):
                host_arch.ctxt[i] = value
            host_arch.iflags |= DEFERRED

    return sync_hyp_vcpu


def _exit_state(fields: tuple[int, ...], trap_only: bool = False):
    def handle_exit_pkvm_state(s, v):
        """``handle_exit_pkvm_state`` of this design: the seed's (whole sync on traps and SErrors,
        DIRTY set; otherwise DIRTY cleared), then, if ``sync_hyp_vcpu`` deferred a copy, that copy
        from the hyp vcpu (a ``__pkvm_vcpu_sync_pstate`` hypercall) when the seed did not sync."""
        deferred = v.arch.iflags & DEFERRED
        v.arch.iflags &= ~DEFERRED
        host.handle_exit_pkvm_state(s, v)
        if not deferred:
            return  # no run (an early return of __kvm_vcpu_run), or nothing deferred
        synced = bool(v.arch.iflags & PKVM_HOST_STATE_DIRTY)
        if (v.arch.fault.kind.startswith("trap") if trap_only else not synced):
            hyp = s.hyp[v.idx].vcpu
            for i in fields:
                v.arch.ctxt[i] = hyp.ctxt[i]

    return handle_exit_pkvm_state


_SRC = "examples/deferred_pstate (a worked example of an hvfuzz design plugin)"

VARIANTS = [
    Variant("lazy-deferred-pstate", "correct", "pkvm",
            "lazy sync whose sync_hyp_vcpu copies only PC; PSTATE is copied by handle_exit_pkvm_state on the "
            "exits that do not sync the whole context, before the host reads it", _SRC, LAZY,
            hooks=KernelHooks(sync_hyp_vcpu=_deferred((IDX_PSTATE,)),
                              handle_exit_pkvm_state=_exit_state((IDX_PSTATE,)))),
    Variant("lazy-deferred-pstate-trap-only", "bug", "pkvm",
            "the deferred PSTATE copy sits in the trap branch (after the whole sync): after an IRQ exit the "
            "run loop's PSTATE checks read a stale value", _SRC, LAZY,
            hooks=KernelHooks(sync_hyp_vcpu=_deferred((IDX_PSTATE,)),
                              handle_exit_pkvm_state=_exit_state((IDX_PSTATE,), trap_only=True))),
    Variant("lazy-deferred-pc", "bug", "pkvm",
            "PC deferred with PSTATE: trace_kvm_exit reads PC before the exit is classified and reports a "
            "stale exit PC", _SRC, LAZY,
            hooks=KernelHooks(sync_hyp_vcpu=_deferred((IDX_PC, IDX_PSTATE)),
                              handle_exit_pkvm_state=_exit_state((IDX_PC, IDX_PSTATE)))),
]
