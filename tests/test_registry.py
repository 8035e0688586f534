"""The op registry (model/vocab/ops.py) is the one place an op kind is declared: opcodes are
stable, every field has a domain whose codec round-trips, the libFuzzer dictionary is generated
from it, and each op's declared ``requires`` is exactly where its System handler applies."""

from __future__ import annotations

import random
from collections import defaultdict

import attrs
import pytest

from hvfuzz.fuzz.decode import libfuzzer_dict
from hvfuzz.fuzz.exhaustive import ALPHABETS
from hvfuzz.fuzz.trace import Config
from hvfuzz.model.system import System
from hvfuzz.model.variants import VARIANTS
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.fields import Domain

#: the opcodes as first published: an opcode is never reused or renumbered (byte inputs and the
#: atheris corpus depend on them); new ops are appended after these
PUBLISHED = (
    "KvmRun", "GuestEnter", "GuestExit", "HandleExit", "ExitToUser", "SchedOut", "SchedIn", "GuestWriteReg",
    "UserGetReg", "UserSetReg", "HostInjectSError", "UserGetVcpuEvents", "UserSetGuestDebug", "HostPmuOverflow",
    "InjectIrq", "ConfigIrq", "GuestAck", "GuestEoi", "GuestDir", "GuestSetPmr", "GuestSetBpr", "GuestSetGrpEn",
    "GuestSetEoiMode", "GuestPsci", "GuestAccess", "UserVcpuInit", "UserSetMpState", "UserGetMpState",
)


#: opcodes never assigned: 32 was set aside for GICv2 (issue 15), which needed only 31.  An opcode
#: is part of the byte format (fuzz/decode.py), so a gap stays a gap
RESERVED = frozenset({32})


def test_opcodes_are_stable_and_appended() -> None:
    codes = {spec.cls.name: spec.code for spec in O.OPS}
    assert {n: codes[n] for n in PUBLISHED} == {n: i for i, n in enumerate(PUBLISHED)}
    assert sorted(codes.values()) == [c for c in range(len(codes) + len(RESERVED)) if c not in RESERVED]
    assert [c.spec.code for c in O.OP_CLASSES] == sorted(codes.values())


def test_every_field_has_a_domain_whose_codec_round_trips() -> None:
    c = Config(vcpus=3, pcpus=2)

    class Reader:
        def __init__(self, data: bytes) -> None:
            self.data, self.pos = data, 0

        def byte(self) -> int:
            self.pos += 1
            return self.data[self.pos - 1]

        def take(self, n: int) -> bytes:
            self.pos += n
            return self.data[self.pos - n:self.pos]

    for cls in O.OP_CLASSES:
        for f in attrs.fields(cls):
            dom = f.metadata.get("domain")
            assert isinstance(dom, Domain), (cls.name, f.name)
            for v in list(dom.values(c))[:64] + [v for v in dom.shrink_to]:
                assert dom.decode(Reader(dom.encode(v, c)), c) == v, (cls.name, f.name, v)


@pytest.mark.parametrize("component", ["system", *O.COMPONENTS])
def test_each_dictionary_entry_decodes_to_the_op_it_names(component: str) -> None:
    """The generated libFuzzer dictionary of every target: one entry per op of the target, a
    literal step whose bytes (after a header) decode to that op on vcpu 0."""
    from hvfuzz.fuzz.decode import HEADER, OPS_BY_COMPONENT, decode

    entries = dict(line.split("=", 1) for line in libfuzzer_dict(component).splitlines() if "=" in line)
    assert entries.pop("raw_u64") == '"\\xff"'
    assert set(entries) == {cls.name.lower() for cls in OPS_BY_COMPONENT[component]}
    for name, text in entries.items():
        data = bytes(int(h, 16) for h in text.strip('"').split("\\x")[1:])
        ops = decode(bytes(HEADER) + data + bytes(16), "lazy", component).ops
        assert ops[0].name.lower() == name and ops[0].vcpu == 0, (name, ops[0])


def test_alphabets_come_from_the_registry() -> None:
    for comp, alpha in ALPHABETS.items():
        ops = alpha.ops_of(alpha.config("lazy"))
        assert ops and len(set(ops)) == len(ops), comp
        kinds = {type(op) for op in ops}
        assert kinds == {s.cls for s in O.OPS if comp in s.alphabet}, comp


# --- applicability: the handler's guard is the declared requirement -----------------------------
def _walk(variant: str, seed: int, steps: int, pmu: bool = False) -> dict[type[O.Op], set[O.Where]]:
    """A random walk over every op kind (fields from their domains), biased towards the run loop
    and PSCI so that every thread position is visited; returns, per op kind, where the vcpu was
    each time the op applied.  Asserts that it never applied outside its ``requires``."""
    r = random.Random(seed)
    c = Config(variant=variant, vcpus=2, pcpus=2)
    v = VARIANTS[variant]
    s = System(c.vcpus, c.pcpus, False, v.policy, pmu, vgic=v.vgic, nr_lrs=2, psci=v.psci)
    run_loop = [O.KvmRun, O.GuestEnter, O.GuestExit, O.HandleExit, O.SchedIn, O.GuestPsci]
    applied_at: dict[type[O.Op], set[O.Where]] = defaultdict(set)
    for _ in range(steps):
        cls = r.choice(run_loop) if r.random() < 0.5 else r.choice(O.OP_CLASSES)
        op = cls(**{f.name: f.metadata["domain"].naive(r, c) for f in attrs.fields(cls)})
        if isinstance(op, O.GuestPsci) and r.random() < 0.5:
            op = attrs.evolve(op, fn=r.choice(("CPU_OFF", "CPU_ON")), target=r.randrange(2))
        where = s.where(op.vcpu)
        if s.apply(op)[0][3]:
            assert where in cls.spec.requires, f"{cls.name} applied with the vcpu {where.value}"
            applied_at[cls].add(where)
    return applied_at


def test_handlers_apply_exactly_where_the_registry_says() -> None:
    """Two-sided: an op never applies outside its declared positions (checked at every step), and
    it does apply somewhere in each declared one, so a declaration can be neither too narrow nor
    too wide.  The walks run on lazy sync with a host PMU and on the reference (no pKVM)."""
    seen: dict[type[O.Op], set[O.Where]] = defaultdict(set)
    for variant, pmu in (("lazy", True), ("reference", False)):
        for seed in range(3):
            for cls, wheres in _walk(variant, seed, 20000, pmu).items():
                seen[cls] |= wheres
    wrong = {cls.name: (sorted(w.value for w in seen[cls]), sorted(w.value for w in cls.spec.requires))
             for cls in O.OP_CLASSES if seen[cls] != cls.spec.requires}
    assert not wrong, f"op: (applied at, declared): {wrong}"


def test_the_walk_catches_a_wrong_declaration() -> None:
    """The check can fail: declare GuestAck as applying in userspace only."""
    spec = O.GuestAck.spec
    try:
        object.__setattr__(spec, "requires", frozenset({O.Where.USER}))
        with pytest.raises(AssertionError, match="GuestAck applied with the vcpu guest"):
            _walk("reference", 0, 20000)
    finally:
        object.__setattr__(spec, "requires", frozenset({O.Where.GUEST}))


#: the named values as first published, per field: the byte format reads a choice modulo the number
#: of values, so a domain may only grow at its end (``GUEST_REGS`` growing in the middle of
#: ``ONE_REGS`` would change what every encoded KVM_GET_ONE_REG means)
_REGS = ("x0", "x1", "x2", "x30", "sp", "pc", "pstate", "spsr_abt", "spsr_irq", "v0", "v1", "fpsr", "SCTLR_EL1",
         "ESR_EL1", "SPSR_EL1", "ELR_EL1", "VBAR_EL1", "FAR_EL1", "TPIDR_EL1", "CONTEXTIDR_EL1", "MDSCR_EL1",
         "TCR_EL1", "PAR_EL1", "PMOVSSET_EL0", "CNTV_CVAL_EL0", "CNTV_CTL_EL0", "CNTP_CVAL_EL0", "CNTP_CTL_EL0")
PUBLISHED_CHOICES = {
    ("GuestExit", "kind"): ("irq", "el1_serror", "il", "trap_mmio_read", "trap_mmio_write", "trap_sysreg_read",
                            "trap_sysreg_write", "trap_mmio_user"),
    ("GuestExit", "reg"): ("ACTLR_EL1", "PMCR_EL0", "PMSELR_EL0"),
    ("GuestWriteReg", "reg"): _REGS,
    ("UserGetReg", "reg"): _REGS + ("ACTLR_EL1", "PMCR_EL0", "PMSELR_EL0", "CNTVOFF_EL2"),
    ("UserSetReg", "reg"): _REGS + ("ACTLR_EL1", "PMCR_EL0", "PMSELR_EL0", "CNTVOFF_EL2"),
    ("GuestPsci", "fn"): ("CPU_ON", "CPU_OFF", "AFFINITY_INFO", "SYSTEM_OFF", "SYSTEM_RESET", "SYSTEM_RESET2",
                          "PSCI_VERSION"),
    ("GuestAccess", "page"): (0, 1, 2, 3),
    ("UserSetMpState", "state"): ("RUNNABLE", "STOPPED"),
}
PUBLISHED_U64 = (0, 1, 2, 7, 0x1000, 0x5, 0x3C5, 0x4, 0x80000, 0x90000, 0x32D00980, 0xFFFF_FFFF_FFFF_FFFF,
                 0xC4000003, 0x84000002)


def test_named_values_only_grow_at_the_end() -> None:
    from hvfuzz.model.vocab.fields import U64_VALUES, domain_of

    for (op, name), published in PUBLISHED_CHOICES.items():
        now = tuple(domain_of(O.OPS_BY_NAME[op], name).values(Config()))
        assert now[:len(published)] == published, (op, name)
    assert U64_VALUES[:len(PUBLISHED_U64)] == PUBLISHED_U64
