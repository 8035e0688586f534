"""The reference semantics of the vcpu register state: one copy of the context.

What the architecture promises the host and the guest is that there is *one* vcpu: whatever the
host writes, the guest sees at its next entry; whatever the guest writes, the host reads at the
next point it looks.  ``reference_system`` builds exactly that: the same host code as every pKVM
variant (run loop, exit handlers, SError injection, timer save/restore), with the guest running
on the host vcpu itself, as in KVM without pKVM.  Any disagreement between a pKVM variant and
this system at a point where someone looks is a bug of the copy protocol.
"""

from __future__ import annotations

from typing import Any

from hvfuzz.model.system import System


def reference_system(vcpus: int, pcpus: int, protected: bool, pmu_emulation: bool = False,
                     **components: Any) -> System:
    """The single-copy system.  Its vgic and PSCI are the variant's own (their oracles are
    ``ArchGic`` and ``ArchPsci``), so that their deviations show there and not as register
    divergences."""
    return System(vcpus, pcpus, protected, policy=None, pmu_emulation=pmu_emulation, **components)
