"""Hand-written scenarios (corpus/seeds/) against every variant: the correct designs pass all of
them, and each bug variant fails exactly the scenarios its deviation can be seen in, with the
oracle expected.  This pins the model's kernel behaviour op by op."""

import glob
import os

import attrs
import pytest

from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.runner import run, run_recorded
from hvfuzz.model.variants import VARIANTS

SEEDS = {os.path.basename(f)[:-5]: f for f in sorted(glob.glob(os.path.join(
    os.path.dirname(__file__), "..", "corpus", "seeds", "*.json")))}

#: bug variants that fail every scenario at the first guest entry (the hyp context is never
#: filled: its first flush copies nothing of the registers in the numeric "timer" range / nothing)
FAIL_AT_FIRST_ENTRY = {"lazy-timer-range", "lazy-no-dirty-at-first-run"}

#: scenario -> {variant: oracle} for the other failing variants
EXPECTED = {
    "guest-write-survives-irq-exit": {"lazy-flush-ignores-dirty": "guest-entry"},
    "masked-vserror-lifecycle": {
        # lazy-v3 (the seed on its TWI|TWE-only flush): the vSError never reaches the guest
        "lazy-v3": "guest-entry", "lazy-vse-not-reflected": "vcpu-events",
        "lazy-vse-not-flushed": "guest-entry", "eager-vse-not-flushed": "guest-entry",
    },
    "mmio-read-after-irq-exit": {"lazy-trap-sync-no-dirty": "guest-entry"},
    "mmio-read-then-migration": {"lazy-put-ignores-dirty": "guest-entry"},
    "mmio-read-then-signal-exit": {"lazy-adjust-pc-on-hyp": "one-reg", "lazy-put-ignores-dirty": "one-reg"},
    "pstate-change-then-irq-exit": {"lazy-pc-only": "run-loop-pstate"},
    "sctlr-then-mmio-read": {},
    "single-step-then-release": {"lazy-no-external-mdscr": "guest-entry"},
    "serror-pending-exit-unmasked": {"lazy-serror-nosync": "guest-entry"},
    "set-fp-before-first-run": {"lazy-no-fp": "guest-entry"},
    "set-reg-after-irq-exit": {"lazy-no-dirty-at-put": "guest-entry"},
    "timer-and-pmu-across-migration": {},
    "userspace-mmio-two-vcpus": {},
    # interrupts (modelled on tools/testing/selftests/kvm/arm64/vgic_irq.c)
    "vgic-split-eoi-more-actives-than-lrs": {
        # GICv2 (vgic-v2.c)
        "vgic-v2-dir-not-trapped": "gic-I5-mi-config",
        "vgic-pre-series": "gic-O2-strict-at-sync", "vgic-sort-active-first": "gic-O2-strict-at-sync",
        "vgic-no-tdir": "gic-I5-mi-config", "vgic-tdir-assumed": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-group-mi": "gic-I5-mi-config",
        "vgic-no-uie": "gic-I5-mi-config",
        # pKVM x vgic: the host's copy of the vgic state lags the hyp's
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-eoi-outside-lrs-then-ack": {
        # GICv2 (vgic-v2.c)
        "vgic-v2-eoicount-lost": "gic-L2-deactivation-lost", "vgic-v2-eoicount-ignored": "gic-L2-deactivation-lost",
        "vgic-v2-eoicount-from-head": "gic-L2-deactivation-lost", "vgic-v2-dir-not-trapped": "gic-I5-mi-config",
        "vgic-pre-series": "gic-O2-strict-at-sync", "vgic-sort-active-first": "gic-O2-strict-at-sync",
        "vgic-eoicount-from-head": "gic-L2-deactivation-lost", "vgic-eoicount-ignored": "gic-L2-deactivation-lost",
        "vgic-no-tdir": "gic-I5-mi-config", "vgic-tdir-assumed": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-uie": "gic-I5-mi-config",
        "vgic-no-group-mi": "gic-I5-mi-config",
        # pKVM x vgic: the host's copy of the vgic state lags the hyp's
        "pkvm-vgic-eoicount-lost": "gic-active", "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-spi-deactivated-on-other-vcpu": {
        # GICv2 (vgic-v2.c)
        "vgic-v2-dir-not-trapped": "gic-L2-deactivation-lost",
        "vgic-pre-series": "gic-L2-deactivation-lost", "vgic-no-tdir": "gic-L2-deactivation-lost",
        "vgic-tdir-overflow-only": "gic-L2-deactivation-lost", "vgic-tdir-assumed": "gic-L2-deactivation-lost",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-group-mi": "gic-I5-mi-config",
        # vcpu1 entered before the SPI was queued: with the broadcast as merged it still runs without TDIR
        "vgic-tdir-bcast-async": "gic-L2-deactivation-lost",
        "vgic-dir-cactive-no-halt": "gic-L2-deactivation-lost", "vgic-dir-trap-no-exit": "gic-L2-deactivation-lost",
        # pKVM x vgic: the host's copy of the vgic state lags the hyp's
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-dir-outside-lrs-exits": {
        # GICv2 (vgic-v2.c)
        "vgic-v2-dir-not-trapped": "gic-I5-mi-config",
        "vgic-pre-series": "gic-O2-strict-at-sync", "vgic-sort-active-first": "gic-O2-strict-at-sync",
        "vgic-no-tdir": "gic-I5-mi-config", "vgic-tdir-assumed": "gic-I5-mi-config", "vgic-no-uie": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-group-mi": "gic-I5-mi-config",
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-level-spi-reacked-then-dir-on-other-vcpu": {
        # GICv2 (vgic-v2.c)
        "vgic-v2-dir-not-trapped": "gic-L2-deactivation-lost",
        "vgic-active-spis-undercount": "gic-L2-deactivation-lost", "vgic-dir-trap-no-exit": "gic-L2-deactivation-lost",
        "vgic-pre-series": "gic-L2-deactivation-lost", "vgic-no-tdir": "gic-L2-deactivation-lost",
        "vgic-tdir-overflow-only": "gic-L2-deactivation-lost", "vgic-tdir-assumed": "gic-L2-deactivation-lost",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-group-mi": "gic-I5-mi-config",
        # pKVM x vgic: the host's copy of the vgic state lags the hyp's
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-disabled-group-high-priority": {
        "vgic-pre-series": "gic-O2-strict-at-sync", "vgic-sort-active-first": "gic-O2-strict-at-sync",
        "vgic-undeliverable-first": "gic-O2-strict-at-sync", "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host",
        "vgic-no-group-mi": "gic-I5-mi-config", "vgic-no-uie": "gic-I5-mi-config",
        # pKVM x vgic: the host's copy of the vgic state lags the hyp's
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-close-priorities-one-lr": {
        "vgic-sort-prio-4bits": "gic-I4-top-n", "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host",
        # two edge SPIs, one LR: the one in the LR counts for UIE although its latch moved there
        "vgic-no-uie": "gic-I5-mi-config", "vgic-no-group-mi": "gic-I5-mi-config",
        # pKVM x vgic: the host's copy of the vgic state lags the hyp's
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-level-and-edge-priorities": {
        # GICv2 (vgic-v2.c)
        "vgic-v2-dir-not-trapped": "gic-I5-mi-config",
        "vgic-no-tdir": "gic-I5-mi-config", "vgic-tdir-assumed": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-group-mi": "gic-I5-mi-config",
        "vgic-no-uie": "gic-I5-mi-config",
        # pKVM x vgic: the host's copy of the vgic state lags the hyp's
        "pkvm-vgic-eoicount-lost": "gic-active", "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "pkvm-vgic-copies-across-migration": {
        # GICv2 (vgic-v2.c)
        "vgic-v2-eoicount-lost": "gic-L2-deactivation-lost", "vgic-v2-eoicount-ignored": "gic-L2-deactivation-lost",
        "vgic-v2-dir-not-trapped": "gic-I5-mi-config",
        "vgic-pre-series": "gic-O2-strict-at-sync", "vgic-sort-active-first": "gic-O2-strict-at-sync",
        "vgic-eoicount-ignored": "gic-L2-deactivation-lost", "vgic-no-tdir": "gic-I5-mi-config",
        "vgic-tdir-assumed": "gic-I5-mi-config", "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host",
        "vgic-no-uie": "gic-I5-mi-config", "vgic-no-group-mi": "gic-I5-mi-config",
        # the EOIcount comes back in vgic_hcr; the group enables in vgic_vmcr
        "pkvm-vgic-eoicount-lost": "gic-active", "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    # LPIs (KVM_SIGNAL_MSI) and the HW-mapped timer PPI (issue 15)
    "vgic-lpi-eoi-outside-lrs": {
        "vgic-lpi-active-kept": "gic-L2-deactivation-lost", "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host",
        "vgic-no-uie": "gic-I5-mi-config", "vgic-no-group-mi": "gic-I5-mi-config",
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-hw-timer-eoi-outside-lrs": {
        # GICv2 (vgic-v2.c)
        "vgic-v2-eoicount-lost": "gic-L2-deactivation-lost", "vgic-v2-eoicount-ignored": "gic-L2-deactivation-lost",
        "vgic-v2-dir-not-trapped": "gic-I5-mi-config",
        "vgic-eoicount-hw-no-phys-deactivate": "gic-O1-priority-inversion",
        "vgic-hw-no-phys-deactivate": "gic-O1-priority-inversion", "vgic-eoicount-ignored": "gic-L2-deactivation-lost",
        "vgic-no-tdir": "gic-I5-mi-config", "vgic-tdir-assumed": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-uie": "gic-I5-mi-config",
        "vgic-no-group-mi": "gic-I5-mi-config",
        # pKVM x vgic: the EOIcount of the EOI outside the LRs never reaches the host's fold
        "pkvm-vgic-eoicount-lost": "gic-active", "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-hw-timer-refires-after-deactivation": {
        "vgic-hw-no-phys-deactivate": "gic-O2-strict-at-sync", "vgic-no-group-mi": "gic-I5-mi-config",
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    # GICv2 (issue 15): SGIs from two sources, EOImode 0 then 1 with GICV_DIR trapped
    "vgic-v2-sgi-two-sources-split-eoi": {
        "vgic-no-tdir": "gic-I5-mi-config", "vgic-tdir-assumed": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-uie": "gic-I5-mi-config",
        "vgic-no-group-mi": "gic-I5-mi-config", "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config",
        # vcpu1's request is dropped when vcpu0's goes into the LR: the SPI is taken before it
        "vgic-v2-sgi-sources-dropped": "gic-O1-priority-inversion",
        # a GICv2 VM on a GICv3 host: the DIR of 1025 (CPUID 1) is out of range without 295b69216558
        "vgic-v3-gicv2-sgi-dir-lost": "gic-L2-deactivation-lost"},
    # active and pending state written from outside the CPU interface, routing (issue 15 item 6)
    "vgic-restore-active-with-aprs": {
        "vgic-sactive-not-queued": "gic-L2-deactivation-lost", "vgic-no-group-mi": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host"},
    "vgic-reroute-queued-spi-migrates": {
        "vgic-prune-no-migrate": "gic-O2-strict-at-sync", "vgic-no-group-mi": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-icactiver-by-other-vcpu-halts": {
        "vgic-mmio-active-no-halt": "gic-L2-deactivation-lost", "vgic-no-group-mi": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    "vgic-icpendr-by-other-vcpu": {
        "vgic-icpendr-no-halt": "gic-S1-validity", "vgic-no-group-mi": "gic-I5-mi-config",
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    # E8: a disabled, pending SPI made active by userspace; the guest DIRs it and reads IAR1
    "vgic-disabled-pending-made-active": {
        "vgic-lr-pending-while-disabled": "gic-S1-validity", "vgic-no-group-mi": "gic-I5-mi-config"},
    "vgic-icpendr-level-line-stays": {
        "vgic-icpendr-clears-line": "gic-O2-strict-at-sync", "vgic-no-group-mi": "gic-I5-mi-config",
        "pkvm-vgic-vmcr-not-eager": "gic-I5-mi-config"},
    # PSCI and power state, and where they cross the vcpu sync and the vgic
    "psci-calls-and-errors": {"psci-cpu-on-already-on-accepted": "psci-P3-return", "lazy-hvc-no-sync": "trap-read"},
    "psci-cpu-off-then-on": {
        "psci-cpu-on-runnable-first": "psci-P2-reset-state", "psci-run-stopped-enters": "psci-P1-no-progress-while-off",
        "lazy-hvc-no-sync": "trap-read"},
    "psci-smc-cpu-off-then-on": {
        "psci-reset-keeps-pc-update": "psci-P2-reset-state", "psci-cpu-on-runnable-first": "psci-P2-reset-state",
        "psci-run-stopped-enters": "psci-P1-no-progress-while-off", "lazy-hvc-no-sync": "trap-read"},
    "psci-cpu-on-args-after-irq-exit": {
        "lazy-put-ignores-dirty": "guest-entry", "lazy-trap-sync-no-dirty": "guest-entry",
        "psci-init-power-off-ignored": "psci-P3-return", "lazy-hvc-no-sync": "trap-read"},
    "psci-interrupt-pending-while-off": {
        "vgic-trap-armed-on-exit": "gic-hcr-armed-in-host", "vgic-no-group-mi": "gic-I5-mi-config",
        "psci-cpu-on-runnable-first": "psci-P2-reset-state", "psci-run-stopped-enters": "psci-P1-no-progress-while-off",
        "lazy-hvc-no-sync": "trap-read"},
    "psci-secondary-boot-cpu-on": {
        "lazy-put-ignores-dirty": "psci-call", "psci-cpu-on-already-on-accepted": "psci-P3-return",
        "psci-run-stopped-enters": "psci-P1-no-progress-while-off",
        "psci-init-power-off-ignored": "psci-P1-no-progress-while-off", "lazy-hvc-no-sync": "trap-read"},
    "psci-system-off-run-again": {
        "lazy-put-ignores-dirty": "one-reg", "psci-run-stopped-enters": "psci-P1-no-progress-while-off",
        "lazy-hvc-no-sync": "trap-read"},
    "psci-system-reset-reboot": {
        "psci-system-event-others-runnable": "psci-P1-no-progress-while-off",
        "psci-no-stage2-unmap": "psci-P5-stage2-fresh", "psci-run-stopped-enters": "psci-P1-no-progress-while-off",
        "psci-init-power-off-ignored": "psci-P1-no-progress-while-off", "lazy-hvc-no-sync": "trap-read"},
}


def test_every_seed_has_expectations():
    assert set(SEEDS) == set(EXPECTED)


@pytest.mark.parametrize("seed", sorted(EXPECTED))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_scenario_matrix(seed, variant):
    trace, _ = load_repro(SEEDS[seed])
    v = run(attrs.evolve(trace, config=attrs.evolve(trace.config, variant=variant)))
    want = EXPECTED[seed].get(variant)
    if variant in FAIL_AT_FIRST_ENTRY:
        _, rows = run_recorded(trace)  # the first GuestEnter that enters (a powered-off vcpu's sleeps)
        first_entry = next(r.index for r in rows
                           if r.op.name == "GuestEnter" and r.vcpus[r.op.vcpu]["phase"] == "guest")
        assert not v.ok and v.oracle == "guest-entry" and v.step == first_entry, v
    elif want is None:
        assert v.ok, v
    else:
        assert not v.ok and v.oracle == want, v


def test_each_bug_variant_is_seen_by_some_scenario():
    seen = set(FAIL_AT_FIRST_ENTRY)
    for exp in EXPECTED.values():
        seen |= set(exp)
    assert {n for n, v in VARIANTS.items() if v.kind in ("bug", "seed") and not v.pmu_emulation} <= seen


def test_async_pmu_write_is_lost_while_dirty_is_clear():
    """An overflow while the hyp copy is authoritative (after an IRQ exit) never reaches the
    guest under lazy sync; the same write while DIRTY is set (vcpu put) does."""
    from hvfuzz.fuzz.trace import Config, Trace
    from hvfuzz.model.vocab import ops as O

    run_loop = (O.KvmRun(0, 0), O.GuestEnter(0), O.GuestExit(0, "irq"), O.HandleExit(0))
    lost = Trace(Config(variant="lazy-async-pmu-write", vcpus=1, pcpus=1),
                 run_loop + (O.HostPmuOverflow(0, 1), O.GuestEnter(0)))
    v = run(lost)
    assert not v.ok and v.oracle == "guest-entry" and "PMOVSSET_EL0" in v.reason
    kept = attrs.evolve(lost, ops=run_loop + (O.ExitToUser(0), O.HostPmuOverflow(0, 1), O.KvmRun(0, 0),
                                              O.GuestEnter(0)))
    assert run(kept).ok
    # without PMU emulation the op is a no-op, in the variant and the reference alike
    assert run(attrs.evolve(lost, config=attrs.evolve(lost.config, variant="lazy"))).ok
