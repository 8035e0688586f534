"""Semantic coverage (fuzz/situations.py): the runner counts the situations a trace drives the
designs through, and a fuzz session reports them."""

import os
from collections import Counter

from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.session import fuzz_variant

SEEDS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus", "seeds")


def _cov(name):
    t, _ = load_repro(os.path.join(SEEDS, name))
    c = Counter()
    assert run(t, c).ok
    return c


def test_scenarios_reach_their_situations():
    eoi = _cov("vgic-eoi-outside-lrs-then-ack.json")
    assert eoi["vgic:eoicount"] >= 1 and eoi["vgic:active outside the LRs"] >= 1
    asym = _cov("vgic-spi-deactivated-on-other-vcpu.json")
    assert asym["vgic:deactivation on another vcpu"] == 1 and asym["vgic:dir by trap-exit"] == 1
    assert asym["exit:trap_sysreg_dir:dirty=1"] == 1  # the trap syncs the context back (lazy)
    assert asym["vgic:trapped dir halts the guest"] == 1
    reboot = _cov("psci-system-reset-reboot.json")
    assert reboot["psci:SYSTEM_RESET->-6"] == 1 and reboot["stage2:stage-2 fault"] == 4
    assert reboot["psci:KVM_RUN blocks (off)"] >= 1
    on = _cov("psci-cpu-off-then-on.json")
    assert on["psci:CPU_ON wakes a vcpu"] == 1 and on["sched-in"] == 1 and on["psci:CPU_OFF->0"] == 1
    mmio = _cov("mmio-read-after-irq-exit.json")
    assert mmio["exit:irq:dirty=0"] >= 1 and mmio["exit:trap_mmio_read:dirty=1"] >= 1


def test_a_session_reports_its_coverage():
    res = fuzz_variant("lazy", seed=1, max_examples=200)
    assert res.finding is None and len(res.coverage) > 20
    assert any(k.startswith("psci:") for k in res.coverage) and any(k.startswith("vgic:") for k in res.coverage)


def test_every_situation_the_corpus_reaches_is_catalogued_and_the_table_flags_the_rest():
    """What the runner counts on the whole corpus is in the catalog (else a session could not say
    what it never reached), and the table marks exactly the zero counters."""
    import glob

    from hvfuzz.fuzz.situations import catalog, coverage_table

    seen: Counter = Counter()
    for path in glob.glob(os.path.join(SEEDS, "*.json")):
        t, _ = load_repro(path)
        run(t, seen)
    assert set(seen) <= set(catalog(pmu_emulation=True)), set(seen) - set(catalog(pmu_emulation=True))
    table = coverage_table(seen)
    never = [line.split("  ")[2].strip() for line in table.splitlines() if line.endswith("<- never")]
    assert set(never) == {n for n in catalog() if not seen[n]}
    reached = len(set(seen) & set(catalog()))
    assert table.splitlines()[0] == f"semantic coverage: {reached} of {len(catalog())} situations reached"
    assert "host write HostPmuOverflow" not in table and "HostPmuOverflow" in coverage_table(seen, pmu_emulation=True)
