"""``Trace`` (a config plus a tuple of ops) and its versioned JSON form.

A repro file is a trace plus the verdict it produced::

    {"schema": 1, "config": {...}, "ops": [{"op": "KvmRun", "vcpu": 0, "pcpu": 0}, ...],
     "verdict": {"status": "fail", "oracle": "...", "step": 7, "reason": "..."}}

Bad input raises ``TraceError`` with a one-line message; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from hvfuzz.model.variants import BUILTIN, Registry, Variant
from hvfuzz.model.vocab.ops import OPS_BY_NAME, Op

SCHEMA_VERSION = 1
MAX_VCPUS = 4
MAX_PCPUS = 4


class TraceError(ValueError):
    """A trace or repro file that cannot be used (corrupt, unknown op, wrong schema, ...)."""


def _strict_int(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An int that is not a bool (JSON ``2.0`` or ``true`` is not a vcpu count)."""
    if type(value) is not int:
        raise TypeError(f"'{attribute.name}' must be an integer, got {value!r:.40}")


def _in_range(lo: int, hi: int) -> list[Any]:
    return [_strict_int, attrs.validators.ge(lo), attrs.validators.le(hi)]


@attrs.frozen
class Config:
    """What a trace runs on: the VM shape and the variant (``model.variants``) under test.  Every
    field is type-checked, so a repro file with a mistyped value is a one-line error."""

    variant: str = attrs.field(default="lazy", validator=attrs.validators.instance_of(str))
    vcpus: int = attrs.field(default=2, validator=_in_range(1, MAX_VCPUS))
    pcpus: int = attrs.field(default=2, validator=_in_range(1, MAX_PCPUS))
    protected: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    #: list registers per CPU (ICH_VTR_EL2.ListRegs + 1)
    nr_lrs: int = attrs.field(default=4, validator=_in_range(1, 16))
    #: implemented virtual priority bits (ICH_VTR_EL2.PRIbits + 1)
    pri_bits: int = attrs.field(default=5, validator=_in_range(5, 8))
    #: the variants ``variant`` is looked up in (hvfuzz's own and the loaded designs,
    #: ``fuzz/plugins.py``): carried with the config, never written to a trace file
    registry: Registry = attrs.field(default=BUILTIN, eq=False, repr=False,
                                     validator=attrs.validators.instance_of(Registry))

    @property
    def variant_def(self) -> Variant:
        """The ``Variant`` this config names."""
        return self.registry[self.variant]


@attrs.frozen
class Trace:
    config: Config
    ops: tuple[Op, ...] = ()

    def replace_ops(self, ops: tuple[Op, ...] | list[Op]) -> Trace:
        return Trace(self.config, tuple(ops))


def op_to_json(op: Op) -> dict[str, Any]:
    return {"op": op.name, **attrs.asdict(op)}


def op_from_json(d: Any, config: Config | None = None) -> Op:
    if not isinstance(d, dict) or not isinstance(d.get("op"), str):
        raise TraceError(f"an op must be an object with a string 'op' key, got {d!r:.60}")
    cls = OPS_BY_NAME.get(d["op"])
    if cls is None:
        raise TraceError(f"unknown op {d['op']!r} (known: {', '.join(sorted(OPS_BY_NAME))})")
    fields = {k: v for k, v in d.items() if k != "op"}
    known = {f.name for f in attrs.fields(cls)}
    extra = set(fields) - known
    if extra:
        raise TraceError(f"op {d['op']}: unknown field(s) {', '.join(sorted(extra))}")
    try:
        op = cls(**fields)
    except (TypeError, ValueError) as e:
        raise TraceError(f"op {d['op']}: bad field value ({_first_line(e)})") from None
    if config is not None:
        if op.vcpu >= config.vcpus:
            raise TraceError(f"op {d['op']}: vcpu {op.vcpu} but the config has {config.vcpus} vcpus")
        pcpu = getattr(op, "pcpu", None)
        if pcpu is not None and pcpu >= config.pcpus:
            raise TraceError(f"op {d['op']}: pcpu {pcpu} but the config has {config.pcpus} pcpus")
    return op


def config_to_json(config: Config) -> dict[str, Any]:
    return attrs.asdict(config, filter=lambda a, _: a.name not in _NOT_SAVED)


_NOT_SAVED = frozenset(("registry",))


def config_from_json(d: Any, registry: Registry = BUILTIN) -> Config:
    if not isinstance(d, dict):
        raise TraceError("'config' must be an object")
    known = {f.name for f in attrs.fields(Config)} - _NOT_SAVED
    extra = set(d) - known
    if extra:
        raise TraceError(f"config: unknown field(s) {', '.join(sorted(extra))}")
    try:
        config = Config(**d, registry=registry)
    except (TypeError, ValueError) as e:
        raise TraceError(f"config: bad value ({_first_line(e)})") from None
    if config.variant not in registry:
        raise TraceError(f"config: unknown variant {config.variant!r} (see 'hvfuzz variants')")
    return config


def trace_to_json(trace: Trace) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "config": config_to_json(trace.config),
        "ops": [op_to_json(op) for op in trace.ops],
    }


def trace_from_json(d: Any, registry: Registry = BUILTIN) -> Trace:
    if not isinstance(d, dict):
        raise TraceError("a trace must be a JSON object")
    if "schema" not in d:
        raise TraceError("missing 'schema' key: not an hvfuzz trace")
    if d["schema"] != SCHEMA_VERSION:
        raise TraceError(f"unsupported schema version {d['schema']!r} (this hvfuzz reads {SCHEMA_VERSION})")
    for key in ("config", "ops"):
        if key not in d:
            raise TraceError(f"missing {key!r} key")
    config = config_from_json(d["config"], registry)
    if not isinstance(d["ops"], list):
        raise TraceError("'ops' must be a list")
    ops = tuple(op_from_json(o, config) for o in d["ops"])
    return Trace(config, ops)


def load_json_file(path: str) -> Any:
    """Read a JSON file, turning every way it can be unreadable into a ``TraceError``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise TraceError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(f"{path}: corrupt JSON ({e.msg} at line {e.lineno} column {e.colno})") from None


def _first_line(e: BaseException) -> str:
    msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    msg = msg.split(" (got ")[0] if " must be in " in msg else msg
    msg = msg.splitlines()[0] if msg else type(e).__name__
    return msg if len(msg) <= 100 else msg[:97] + "..."
