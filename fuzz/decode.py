"""Bytes <-> ``Trace``: the input format of the coverage-guided (atheris/libFuzzer) targets.

Any byte string decodes to a valid trace of the ``Op`` vocabulary, and ``encode`` is its inverse
for every trace whose config has the default priority bits (``decode(encode(t)) == t``), so
corpus traces become seed inputs.  The layout keeps mutations local: a byte flip changes one
field of one op, an inserted or deleted run of bytes adds or removes ops around it.

    byte 0        vcpus-1 (bits 0-1), pcpus-1 (bits 2-3), protected (bit 4)
    byte 1        nr_lrs-1 (bits 0-3)
    then per op   opcode (index into the target's alphabet of ops, modulo its length; the
                  run-loop ops hold several entries), then one codec per field, in field order

Field codecs (one or a few bytes each, every value decodes to a valid one):
    vcpu / pcpu / target   one byte modulo the VM's vcpus / pCPUs (GuestPsci's target: 0-7)
    bool, group            one byte, bit 0
    names (reg, kind, fn, state, page)   one byte modulo the choices
    small ints             one byte (intid of InjectIrq/ConfigIrq modulo 64; EOI/DIR intids two
                           bytes modulo 1024; rt/counter modulo 31; BPR modulo 8)
    64-bit values          one byte indexing ``VALUES``; 255 escapes to 8 raw bytes (little endian)
    esr                    three bytes

Truncated input ends the trace at the last complete op; at most ``MAX_OPS`` ops are decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.vocab import ops as O

MAX_OPS = 64
#: 64-bit values one byte names (register values, PSCI entry points and context ids)
VALUES: tuple[int, ...] = (
    0, 1, 2, 7, 0x1000, 0x5, 0x3C5, 0x4, 0x80000, 0x90000, 0x30D00980 | (1 << 25), 0xFFFF_FFFF_FFFF_FFFF,
    0xC4000003, 0x84000002,
)
_ESCAPE = 255
_VALUE_INDEX = {v: i for i, v in enumerate(VALUES)}


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


# A codec: (decode(reader, config) -> value, encode(value, config) -> bytes)
Decoder = Callable[[_Reader, Config], object]
Encoder = Callable[[object, Config], bytes]


def _mod(n_of: Callable[[Config], int]) -> tuple[Decoder, Encoder]:
    return (lambda r, c: r.byte() % n_of(c)), (lambda v, c: bytes([v]))  # type: ignore[list-item]


def _choice(choices: Sequence[object]) -> tuple[Decoder, Encoder]:
    index = {v: i for i, v in enumerate(choices)}
    return (lambda r, c: choices[r.byte() % len(choices)]), (lambda v, c: bytes([index[v]]))


def _bits(n: int, modulo: int) -> tuple[Decoder, Encoder]:
    return ((lambda r, c: int.from_bytes(r.take(n), "little") % modulo),
            (lambda v, c: int(v).to_bytes(n, "little")))  # type: ignore[call-overload]


def _u64() -> tuple[Decoder, Encoder]:
    def dec(r: _Reader, c: Config) -> int:
        b = r.byte()
        if b == _ESCAPE:
            return int.from_bytes(r.take(8), "little")
        return VALUES[b % len(VALUES)]

    def enc(v: object, c: Config) -> bytes:
        i = _VALUE_INDEX.get(v)  # type: ignore[arg-type]
        return bytes([i]) if i is not None else bytes([_ESCAPE]) + int(v).to_bytes(8, "little")  # type: ignore[call-overload]

    return dec, enc


_VCPU = _mod(lambda c: c.vcpus)
_PCPU = _mod(lambda c: c.pcpus)
_BOOL: tuple[Decoder, Encoder] = (lambda r, c: bool(r.byte() & 1)), (lambda v, c: bytes([int(bool(v))]))
_BYTE = _bits(1, 256)

#: per (op, field) codecs where the field name alone does not say the domain
_OP_FIELD: dict[tuple[type[O.Op], str], tuple[Decoder, Encoder]] = {
    (O.GuestWriteReg, "reg"): _choice(O.GUEST_REGS),
    (O.UserGetReg, "reg"): _choice(O.ONE_REGS),
    (O.UserSetReg, "reg"): _choice(O.ONE_REGS),
    (O.GuestExit, "reg"): _choice(O.TRAPPED_SYSREGS),
    (O.GuestSetPmr, "value"): _BYTE,
    (O.GuestSetBpr, "value"): _bits(1, 8),
    (O.GuestEoi, "intid"): _bits(2, 1024),
    (O.GuestDir, "intid"): _bits(2, 1024),
    (O.GuestPsci, "target"): _bits(1, 8),
}
_FIELD: dict[str, tuple[Decoder, Encoder]] = {
    "vcpu": _VCPU, "pcpu": _PCPU, "target": _VCPU,
    "serror_pending": _BOOL, "level": _BOOL, "enabled": _BOOL, "enable": _BOOL, "eoimode": _BOOL,
    "single_step": _BOOL, "power_off": _BOOL,
    "group": _bits(1, 2), "priority": _BYTE, "intid": _bits(1, 64), "rt": _bits(1, 31), "counter": _bits(1, 31),
    "esr": _bits(3, 1 << 24), "kind": _choice(O.EXIT_KINDS), "fn": _choice(O.PSCI_FNS),
    "state": _choice(O.MP_STATES), "page": _choice(O.PAGES),
    "value": _u64(), "entry": _u64(), "context": _u64(),
}


def _codecs(cls: type[O.Op]) -> list[tuple[str, Decoder, Encoder]]:
    out = []
    for f in attrs.fields(cls):
        dec, enc = _OP_FIELD.get((cls, f.name)) or _FIELD[f.name]
        out.append((f.name, dec, enc))
    return out


_CODECS: dict[type[O.Op], list[tuple[str, Decoder, Encoder]]] = {cls: _codecs(cls) for cls in O.OP_CLASSES}

#: the ops each design's target draws from (the whole system: all of them)
OPS_BY_COMPONENT: dict[str, tuple[type[O.Op], ...]] = {
    "system": O.OP_CLASSES,
    "pkvm": (O.KvmRun, O.GuestEnter, O.GuestExit, O.HandleExit, O.ExitToUser, O.SchedOut, O.SchedIn,
             O.GuestWriteReg, O.UserGetReg, O.UserSetReg, O.HostInjectSError, O.UserGetVcpuEvents,
             O.UserSetGuestDebug, O.HostPmuOverflow),
    "vgic": (O.KvmRun, O.GuestEnter, O.GuestExit, O.HandleExit, O.SchedOut, O.SchedIn, O.InjectIrq, O.ConfigIrq,
             O.GuestAck, O.GuestEoi, O.GuestDir, O.GuestSetPmr, O.GuestSetBpr, O.GuestSetGrpEn, O.GuestSetEoiMode),
    "psci": (O.KvmRun, O.GuestEnter, O.GuestExit, O.HandleExit, O.ExitToUser, O.SchedOut, O.SchedIn,
             O.GuestWriteReg, O.UserGetReg, O.UserSetReg, O.GuestPsci, O.GuestAccess, O.UserVcpuInit,
             O.UserSetMpState, O.UserGetMpState, O.InjectIrq, O.ConfigIrq, O.GuestAck, O.GuestEoi),
}


#: how many opcodes each op gets: the run-loop ops, which every path through the model needs, come
#: up more often than the rest (blind bytes then reach guest entries and exits at all)
_WEIGHT: dict[type[O.Op], int] = {O.KvmRun: 3, O.GuestEnter: 4, O.GuestExit: 3, O.HandleExit: 4}
_ALPHABET: dict[str, tuple[type[O.Op], ...]] = {
    c: tuple(cls for cls in ops for _ in range(_WEIGHT.get(cls, 1))) for c, ops in OPS_BY_COMPONENT.items()
}


def decode(data: bytes, variant: str = "lazy", component: str = "system") -> Trace:
    """The trace ``data`` encodes (never fails: every byte string is a valid trace)."""
    allowed = _ALPHABET[component]
    r = _Reader(data)
    try:
        b0, b1 = r.byte(), r.byte()
    except EOFError:
        b0, b1 = 0, 3
    config = Config(variant=variant, vcpus=1 + (b0 & 3), pcpus=1 + ((b0 >> 2) & 3), protected=bool(b0 & 0x10),
                    nr_lrs=1 + (b1 & 15))
    ops: list[O.Op] = []
    try:
        while len(ops) < MAX_OPS:
            cls = allowed[r.byte() % len(allowed)]
            kwargs = {name: dec(r, config) for name, dec, _ in _CODECS[cls]}
            ops.append(cls(**kwargs))
    except EOFError:
        pass
    return Trace(config, tuple(ops))


def encode(trace: Trace, component: str = "system") -> bytes:
    """The bytes ``decode`` turns into ``trace`` (same config apart from the variant)."""
    c = trace.config
    if c.pri_bits != Config().pri_bits:
        raise ValueError(f"the byte format has {Config().pri_bits} priority bits, the trace {c.pri_bits}")
    opcode: dict[type[O.Op], int] = {}
    for i, cls in enumerate(_ALPHABET[component]):
        opcode.setdefault(cls, i)
    out = bytearray([(c.vcpus - 1) | ((c.pcpus - 1) << 2) | (int(c.protected) << 4), c.nr_lrs - 1])
    for op in trace.ops[:MAX_OPS]:
        if type(op) not in opcode:
            raise ValueError(f"op {op.name} is not in the {component} target's vocabulary")
        out.append(opcode[type(op)])
        for name, _, enc in _CODECS[type(op)]:
            out += enc(getattr(op, name), c)
    return bytes(out)
