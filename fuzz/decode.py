"""Bytes <-> ``Trace``: the input format of the coverage-guided (atheris/libFuzzer) targets.

Any byte string decodes to a valid trace of the ``Op`` vocabulary, and ``encode`` is its inverse
for every trace whose config has the default priority bits (``decode(encode(t)) == t``), so
corpus traces become seed inputs.  The layout keeps mutations local: a byte flip changes one
field of one op, an inserted or deleted run of bytes adds or removes ops around it.

    byte 0        vcpus-1 (bits 0-1), pcpus-1 (bits 2-3), protected (bit 4)
    byte 1        nr_lrs-1 (bits 0-3)
    then per op   opcode (index into the target's alphabet of ops, modulo its length; the
                  run-loop ops hold several entries), then one codec per field, in field order

The ops, their order and weights come from the op registry (``model/vocab/ops.py``: opcodes are
appended, never reused); each field's codec is its domain's (``model/vocab/fields.py``), one or a
few bytes, every value decoding to a valid one:
    vcpu / pcpu / target   one byte modulo the VM's vcpus / pCPUs (GuestPsci's target: 0-7)
    bool                   one byte, bit 0
    names (reg, kind, fn, state, page)   one byte modulo the choices
    small ints             one byte modulo the range (group 2, intid of InjectIrq/ConfigIrq 64,
                           rt/counter 31, BPR 8); EOI/DIR intids two bytes modulo 8196 (a raw
                           value below 1024 as before; 8192-8195: the LPIs); an MSI's LPI one byte modulo 4
    64-bit values          one byte indexing ``VALUES``; 255 escapes to 8 raw bytes (little endian)
    esr                    three bytes

Truncated input ends the trace at the last complete op; at most ``MAX_OPS`` ops are decoded.
"""

from __future__ import annotations

import attrs

from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.variants import BUILTIN, Registry
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.fields import U64_ESCAPE, U64_VALUES, Domain

MAX_OPS = 64
#: 64-bit values one byte names (``model.vocab.fields.U64_VALUES``)
VALUES = U64_VALUES


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise EOFError
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise EOFError
        b = self.data[self.pos]
        self.pos += 1
        return b


def _codecs(cls: type[O.Op]) -> list[tuple[str, Domain]]:
    return [(f.name, f.metadata["domain"]) for f in attrs.fields(cls)]


_CODECS: dict[type[O.Op], list[tuple[str, Domain]]] = {cls: _codecs(cls) for cls in O.OP_CLASSES}

#: the order the psci target numbered its ops before the op registry (the interrupt ops joined it
#: last); every other target, and any op added to this one, follows opcode order
_FROZEN_ORDER: dict[str, tuple[str, ...]] = {
    "psci": ("KvmRun", "GuestEnter", "GuestExit", "HandleExit", "ExitToUser", "SchedOut", "SchedIn",
             "GuestWriteReg", "UserGetReg", "UserSetReg", "GuestPsci", "GuestAccess", "UserVcpuInit",
             "UserSetMpState", "UserGetMpState", "InjectIrq", "ConfigIrq", "GuestAck", "GuestEoi"),
}


def _target_ops(component: str) -> tuple[type[O.Op], ...]:
    ops = O.OPS.classes(component)
    frozen = tuple(O.OPS_BY_NAME[n] for n in _FROZEN_ORDER.get(component, ()))
    return frozen + tuple(cls for cls in ops if cls not in frozen)


#: the ops each design's target draws from (the whole system: all of them)
OPS_BY_COMPONENT: dict[str, tuple[type[O.Op], ...]] = {c: _target_ops(c) for c in ("system", *O.COMPONENTS)}
#: opcode byte -> op, per target: each op as many times as its weight (the run-loop ops, which
#: every path through the model needs, come up more often, so blind bytes reach entries and exits)
_ALPHABET: dict[str, tuple[type[O.Op], ...]] = {
    c: tuple(cls for cls in ops for _ in range(cls.spec.weight)) for c, ops in OPS_BY_COMPONENT.items()
}


def opcodes(component: str = "system") -> dict[type[O.Op], int]:
    """The first opcode byte of each op in ``component``'s target."""
    out: dict[type[O.Op], int] = {}
    for i, cls in enumerate(_ALPHABET[component]):
        out.setdefault(cls, i)
    return out


def libfuzzer_dict(component: str = "system") -> str:
    """The libFuzzer dictionary of a target, generated from the op registry: every op's first
    opcode with vcpu 0, and the 64-bit escape.  ``hvfuzz atheris`` and the OSS-Fuzz build write it
    next to the target (``fuzz/targets/make_seeds.py --dict TARGET FILE``)."""
    lines = [f"# hvfuzz byte format (fuzz/decode.py), {component} target: opcode then vcpu 0 per op; generated"]
    lines += [f'{cls.name.lower()}="\\x{code:02x}\\x00"' for cls, code in opcodes(component).items()]
    lines.append(f'raw_u64="\\x{U64_ESCAPE:02x}"')
    return "\n".join(lines) + "\n"


def decode(data: bytes, variant: str = "lazy", component: str = "system", registry: Registry = BUILTIN) -> Trace:
    """The trace ``data`` encodes (never fails: every byte string is a valid trace)."""
    allowed = _ALPHABET[component]
    r = _Reader(data)
    try:
        b0, b1 = r.byte(), r.byte()
    except EOFError:
        b0, b1 = 0, 3
    config = Config(variant=variant, vcpus=1 + (b0 & 3), pcpus=1 + ((b0 >> 2) & 3), protected=bool(b0 & 0x10),
                    nr_lrs=1 + (b1 & 15), registry=registry)
    ops: list[O.Op] = []
    try:
        while len(ops) < MAX_OPS:
            cls = allowed[r.byte() % len(allowed)]
            kwargs = {name: dom.decode(r, config) for name, dom in _CODECS[cls]}
            ops.append(cls(**kwargs))
    except EOFError:
        pass
    return Trace(config, tuple(ops))


def encode(trace: Trace, component: str = "system") -> bytes:
    """The bytes ``decode`` turns into ``trace`` (same config apart from the variant)."""
    c = trace.config
    if c.pri_bits != Config().pri_bits:
        raise ValueError(f"the byte format has {Config().pri_bits} priority bits, the trace {c.pri_bits}")
    opcode = opcodes(component)
    out = bytearray([(c.vcpus - 1) | ((c.pcpus - 1) << 2) | (int(c.protected) << 4), c.nr_lrs - 1])
    for op in trace.ops[:MAX_OPS]:
        if type(op) not in opcode:
            raise ValueError(f"op {op.name} is not in the {component} target's vocabulary")
        out.append(opcode[type(op)])
        for name, dom in _CODECS[type(op)]:
            out += dom.encode(getattr(op, name), c)
    return bytes(out)
