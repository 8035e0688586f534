"""Bytes <-> ``Trace``: the one input format of every engine (the native loop, Hypothesis drawing
bytes, the atheris/libFuzzer targets).  Phase-aware: the decoder runs the system while it decodes
and each step picks one of the moves (``fuzz/gen/moves.py``) enabled in the current state, as the
state machine's preconditions do, so every byte string is a trace of ops that apply where they
are, and a byte flip stays local (steps have a fixed size).

    header, 8 bytes
      byte 0      vcpus-1 (bits 0-1), pcpus-1 (bits 2-3), protected (bit 4), the guest's EOImode 1 (bit 5)
      byte 1      list registers: bit 7 set: nr_lrs-1 in bits 0-3; else (1, 1, 2, 4)[bits 0-1]
      bytes 2-3   the example's interrupt pool (big-endian index into ``weights.POOLS``)
      bytes 4-7   swarm mask (big-endian): bit i switches ``SWARM[i]`` off for the whole trace
    then steps of 8 bytes
      a move      byte 0 < 0xFF picks among the enabled moves (modulo their number); the move's
                  arguments and choices read the step's other 7 bytes (one per choice, two above
                  256 values), then a PRNG seeded by the step's bytes (a macro move makes many)
      a literal   byte 0 = 0xFF: byte 1 an opcode (index into the target's alphabet of ops, the
                  run-loop ops holding several entries), then one codec per field, in field order
                  (below); it takes as many 8-byte steps as it needs, zero-padded

A literal is one op, anywhere: ``encode`` writes every trace as literals, so ``decode(encode(t))
== t`` for every trace with the default priority bits (the corpus traces become seed inputs),
whatever state the ops meet.  Each field's codec is its domain's (``model/vocab/fields.py``):
    vcpu / pcpu / target   one byte modulo the VM's vcpus / pCPUs (GuestPsci's target: 0-7)
    bool                   one byte, bit 0
    names (reg, kind, fn, state, page)   one byte modulo the choices
    small ints             one byte modulo the range (group 2, intid of InjectIrq/ConfigIrq 64,
                           rt/counter 31, BPR 8); EOI/DIR intids two bytes modulo 8196 (a raw
                           value below 1024 as before; 8192-8195: the LPIs); an MSI's LPI one byte modulo 4
    64-bit values          one byte indexing ``VALUES``; 255 escapes to 8 raw bytes (little endian)
    esr                    three bytes

A step with no move enabled emits nothing; a truncated step reads zeros (a literal cut short ends
the trace).  Decoding stops before a step once the trace has ``MAX_OPS`` ops.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from hvfuzz.fuzz.gen import weights as D
from hvfuzz.fuzz.gen.choosers import Weights, sampled
from hvfuzz.fuzz.gen.moves import MOVES, Move
from hvfuzz.fuzz.gen.view import Driver, Gates, Stop
from hvfuzz.fuzz.runner import PASS, Execution, Verdict
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.variants import BUILTIN, Registry
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.fields import U64_ESCAPE, U64_VALUES, Domain

#: decoding stops before a step once the trace has this many ops (a macro move may overshoot)
MAX_OPS = 256
HEADER = 8
STEP = 8
#: the first byte of a literal step
LITERAL = 0xFF
#: the moves a trace's swarm mask can switch off (every move but ``advance``, the run loop)
ADVANCE: Move = MOVES[0]
SWARM: tuple[Move, ...] = MOVES[1:]
#: byte 1 of the header without bit 7: the small LR counts overflow needs, weighted
SMALL_LRS = (1, 1, 2, 4)
T = TypeVar("T")
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
    """The libFuzzer dictionary of a target, generated from the op registry: every op's literal step (its
    first opcode) with vcpu 0, and the 64-bit escape.  ``hvfuzz atheris`` and the OSS-Fuzz build write it
    next to the target (``fuzz/targets/make_seeds.py --dict TARGET FILE``)."""
    lines = [f"# hvfuzz byte format (fuzz/decode.py), {component} target: a literal step (0xff, opcode, vcpu 0) "
             "per op; generated"]
    lines += [f'{cls.name.lower()}="\\x{LITERAL:02x}\\x{code:02x}\\x00"' for cls, code in opcodes(component).items()]
    lines.append(f'raw_u64="\\x{U64_ESCAPE:02x}"')
    return "\n".join(lines) + "\n"


_M64 = (1 << 64) - 1


class StepChooser:
    """The ``Chooser`` of one move step: answers from the step's bytes (one per choice, two when
    there are more than 256 values), then from a splitmix64 PRNG seeded by those bytes, so that a
    step decodes the same wherever it is and whatever follows it."""

    __slots__ = ("data", "pos", "end", "seed")

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data, self.pos, self.end = data, start, end
        self.seed: int | None = None

    def _rand(self) -> int:
        s = self.seed
        if s is None:
            s = int.from_bytes(self.data[self.end - STEP + 1:self.end], "little") ^ 0x5DEECE66D
        s = (s + 0x9E3779B97F4A7C15) & _M64
        self.seed = s
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)

    def index(self, n: int, label: str | None = None) -> int:
        if n <= 1:
            return 0
        k = 1 if n <= 256 else 2 if n <= 65536 else 3
        if self.pos + k <= self.end:
            v = int.from_bytes(self.data[self.pos:self.pos + k], "big")
            self.pos += k
            return v % n
        return self._rand() % n

    def choice(self, seq: Sequence[T], label: str | None = None) -> T:
        return seq[self.index(len(seq))]

    def boolean(self, p: float = 0.5, label: str | None = None) -> bool:
        if self.pos < self.end:
            b = self.data[self.pos]
            self.pos += 1
        else:
            b = self._rand() & 255
        return b < p * 256


@attrs.frozen
class Header:
    """What the first 8 bytes say."""

    vcpus: int = 1
    pcpus: int = 1
    protected: bool = False
    nr_lrs: int = 1
    #: index into ``weights.POOLS``
    pool: int = 0
    split_eoi: bool = False
    #: bit i: ``SWARM[i]`` off
    mask: int = 0

    @classmethod
    def parse(cls, data: bytes) -> Header:
        h = data[:HEADER].ljust(HEADER, b"\0")
        b0, b1 = h[0], h[1]
        lrs = 1 + (b1 & 15) if b1 & 0x80 else SMALL_LRS[b1 & 3]
        return cls(1 + (b0 & 3), 1 + ((b0 >> 2) & 3), bool(b0 & 0x10), lrs,
                   int.from_bytes(h[2:4], "big") % len(D.POOLS), bool(b0 & 0x20), int.from_bytes(h[4:8], "big"))

    def to_bytes(self) -> bytes:
        b0 = (self.vcpus - 1) | ((self.pcpus - 1) << 2) | (int(self.protected) << 4) | (int(self.split_eoi) << 5)
        b1 = SMALL_LRS.index(self.nr_lrs) if self.nr_lrs in SMALL_LRS else 0x80 | (self.nr_lrs - 1)
        return bytes([b0, b1]) + self.pool.to_bytes(2, "big") + (self.mask & 0xFFFFFFFF).to_bytes(4, "big")

    def moves(self) -> tuple[Move, ...]:
        """``advance`` and the moves the swarm mask leaves on."""
        return (ADVANCE, *(m for i, m in enumerate(SWARM) if not (self.mask >> (i % 32)) & 1))


def gates_for(variant: str, component: str = "system", registry: Registry = BUILTIN) -> Gates:
    """The variant's gates (``Gates.of``), narrowed to ``component``'s ops for a focused target."""
    g = Gates.of(registry[variant])
    if component == "system":
        return g
    return attrs.evolve(g, regs_on=component != "vgic", gic_on=component == "vgic", psci_on=component == "psci",
                        component=component)


def _literal(r: _Reader, allowed: tuple[type[O.Op], ...], config: Config) -> O.Op:
    cls = allowed[r.byte() % len(allowed)]
    return cls(**{name: dom.decode(r, config) for name, dom in _CODECS[cls]})


#: the interrupt pools as choosers, built once (the header names one per example)
_POOLS: tuple[Weights[int], ...] = tuple(sampled(tuple(p)) for p in D.POOLS.values)


def execute(data: bytes, variant: str = "lazy", component: str = "system", *, coverage: Counter[str] | None = None,
            stop: bool = True, max_ops: int = MAX_OPS,
            observe: Callable[[Execution, O.Op], None] | None = None,
            registry: Registry = BUILTIN, gates: Gates | None = None) -> tuple[Trace, Verdict]:
    """Decode ``data`` while running it on ``variant`` (and the reference, judged after every
    op): the trace and the first violation (``PASS``: none).  ``stop``: end at the failing op
    (the fuzzing engines); else decode to the end (``decode``).  ``observe(execution, op)`` is
    called after each op (an engine's state feedback).  ``gates``: ``gates_for(variant,
    component, registry)``, which an engine computes once for all its inputs."""
    h = Header.parse(data)
    config = Config(variant=variant, vcpus=h.vcpus, pcpus=h.pcpus, protected=h.protected, nr_lrs=h.nr_lrs,
                    registry=registry)
    first: list[Verdict] = []

    def on_violation(trace: Trace, v: Verdict) -> None:
        if not first:
            first.append(v)
        if stop:
            raise Stop(v)

    ex = Execution(config, coverage)
    drv = Driver(ex, gates or gates_for(variant, component, registry), h.split_eoi,
                 _POOLS[h.pool],
                 on_violation=on_violation,  # type: ignore[arg-type]
                 after_op=None if observe is None else lambda: observe(ex, drv.ops[-1]))
    w = drv.view
    allowed = _ALPHABET[component]
    moves = h.moves()
    pos, n = HEADER, len(data)
    #: the enabled moves by the state their predicates read (``View.key``; the gates are fixed here)
    cache: dict[tuple[object, ...], list[Move]] = {}
    try:
        while pos < n and len(drv.ops) < max_ops:
            if data[pos] == LITERAL:
                r = _Reader(data)
                r.pos = pos + 1
                try:
                    op = _literal(r, allowed, config)
                except EOFError:
                    break
                pos += -(-(r.pos - pos) // STEP) * STEP
                drv.do(op)
                continue
            enabled = cache.get(w.key)
            if enabled is None:
                enabled = cache[w.key] = [m for m in moves if m.enabled(w)] or [m for m in MOVES if m.enabled(w)]
            if enabled:
                enabled[data[pos] % len(enabled)](w, StepChooser(data, pos + 1, min(pos + STEP, n)))
            pos += STEP
    except Stop:
        pass
    return Trace(config, tuple(drv.ops)), (first[0] if first else PASS)


def decode(data: bytes, variant: str = "lazy", component: str = "system", registry: Registry = BUILTIN) -> Trace:
    """The trace ``data`` encodes on ``variant`` (never fails: every byte string is a valid
    trace).  The moves read the state, so the trace depends on the variant's behaviour."""
    return execute(data, variant, component, stop=False, registry=registry)[0]


def encode(trace: Trace, component: str = "system") -> bytes:
    """The bytes ``decode`` turns into ``trace`` (same config apart from the variant): the
    header, then every op as a literal step."""
    c = trace.config
    if c.pri_bits != Config().pri_bits:
        raise ValueError(f"the byte format has {Config().pri_bits} priority bits, the trace {c.pri_bits}")
    if len(trace.ops) > MAX_OPS:
        raise ValueError(f"the byte format holds {MAX_OPS} ops, the trace has {len(trace.ops)}")
    opcode = opcodes(component)
    out = bytearray(Header(c.vcpus, c.pcpus, c.protected, c.nr_lrs).to_bytes())
    for op in trace.ops:
        if type(op) not in opcode:
            raise ValueError(f"op {op.name} is not in the {component} target's vocabulary")
        lit = bytearray([LITERAL, opcode[type(op)]])
        for name, dom in _CODECS[type(op)]:
            lit += dom.encode(getattr(op, name), c)
        out += lit.ljust(-(-len(lit) // STEP) * STEP, b"\0")
    return bytes(out)
