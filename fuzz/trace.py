"""``Trace`` (a config plus a tuple of ops) and its versioned JSON form.

A repro file is a trace plus the verdict it produced::

    {"schema": 1, "config": {...}, "ops": [{"op": "KvmRun", "vcpu": 0, "pcpu": 0}, ...],
     "verdict": {"status": "fail", "oracle": "...", "step": 7, "reason": "..."}}

This module is the one place the trace and repro schema is checked: every loader (``replay``,
``shrink``, ``export``, ``findings``, ``import-crash``'s findings store, ``--corpus``, ``--db``
entries) reads a file or blob through ``load_repro_file`` / ``repro_from_text`` and a parsed
document through ``repro_from_json`` / ``trace_from_json``.  Op and config fields are checked by
their attrs validators, which come from the field domains of the vocabulary
(``model/vocab/fields.py``): the vocabulary is the schema of the ops, stated once (a JSON Schema
would state it a second time).  Bad input raises ``TraceError`` with a one-line message of bounded
length; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import attrs

from hvfuzz.model.variants import BUILTIN, Registry, Variant
from hvfuzz.model.vocab.ops import OPS_BY_NAME, Op

SCHEMA_VERSION = 1
MAX_VCPUS = 4
MAX_PCPUS = 4
#: a repro nests 3 levels (root, ops, op) and its free-form ``meta`` a few more: deeper is not
#: a repro (and would reach Python's recursion limit in ``repr``)
MAX_DEPTH = 32


class TraceError(ValueError):
    """A trace or repro file that cannot be used (corrupt, unknown op, wrong schema, ...)."""


def _strict_int(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An int that is not a bool (JSON ``2.0`` or ``true`` is not a vcpu count)."""
    if type(value) is not int:
        raise TypeError(f"'{attribute.name}' must be an integer, got {brief(value)}")


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
        raise TraceError(f"an op must be an object with a string 'op' key, got {brief(d)}")
    cls = OPS_BY_NAME.get(d["op"])
    if cls is None:
        near = difflib.get_close_matches(d["op"][:100], OPS_BY_NAME, n=3)
        hint = f"did you mean {' or '.join(near)}?" if near else "see README, 'The op vocabulary'"
        raise TraceError(f"unknown op {brief(d['op'])} ({hint})")
    fields = {k: v for k, v in d.items() if k != "op"}
    known = {f.name for f in attrs.fields(cls)}
    extra = set(fields) - known
    if extra:
        raise TraceError(f"op {d['op']}: unknown field(s) {_names(extra)}")
    try:
        op = cls(**fields)
    except (TypeError, ValueError) as e:
        raise TraceError(f"op {d['op']}: bad field value ({_first_line(e)})") from None
    if config is not None:
        if op.vcpu >= config.vcpus:
            raise TraceError(f"op {d['op']}: vcpu {brief(op.vcpu)} but the config has {config.vcpus} vcpus")
        pcpu = getattr(op, "pcpu", None)
        if pcpu is not None and pcpu >= config.pcpus:
            raise TraceError(f"op {d['op']}: pcpu {brief(pcpu)} but the config has {config.pcpus} pcpus")
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
        raise TraceError(f"config: unknown field(s) {_names(extra)}")
    try:
        config = Config(**d, registry=registry)
    except (TypeError, ValueError) as e:
        raise TraceError(f"config: bad value ({_first_line(e)})") from None
    if config.variant not in registry:
        raise TraceError(f"config: unknown variant {brief(config.variant)} (see 'hvfuzz variants')")
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
    if type(d["schema"]) is not int or d["schema"] != SCHEMA_VERSION:
        raise TraceError(f"unsupported schema version {brief(d['schema'])} (this hvfuzz reads {SCHEMA_VERSION})")
    for key in ("config", "ops"):
        if key not in d:
            raise TraceError(f"missing {key!r} key")
    config = config_from_json(d["config"], registry)
    if not isinstance(d["ops"], list):
        raise TraceError("'ops' must be a list")
    ops = tuple(op_from_json(o, config) for o in d["ops"])
    return Trace(config, ops)


#: what a recorded verdict holds (``runner.Verdict.to_json``): key -> the JSON types it may have
_VERDICT_KEYS: dict[str, tuple[type, ...]] = {
    "status": (str,), "oracle": (str, type(None)), "step": (int, type(None)), "reason": (str,),
    "variant_saw": (object,), "reference_saw": (object,),
}
#: the ``meta`` keys hvfuzz reads back (``fuzz/findings.py``); the others are free-form notes
_META_KEYS: dict[str, tuple[type, ...]] = {"count": (int,), "signature": (str,)}


@attrs.frozen
class Repro:
    """A loaded trace or repro file: the trace, its recorded verdict (``None`` for a plain trace)
    and its ``meta`` (``{}`` when absent)."""

    trace: Trace
    verdict: dict[str, Any] | None = None
    meta: dict[str, Any] = attrs.Factory(dict)


def _check_keys(what: str, d: Any, keys: dict[str, tuple[type, ...]]) -> None:
    if not isinstance(d, dict):
        raise TraceError(f"{what!r} must be an object, got {brief(d)}")
    for k, types in keys.items():
        if k in d and (not isinstance(d[k], types) or (isinstance(d[k], bool) and int in types)):
            raise TraceError(f"{what}: {k!r} has the wrong type ({brief(d[k])})")


def repro_from_json(d: Any, registry: Registry = BUILTIN, recorded_design: bool = True) -> Repro:
    """A parsed trace or repro document, checked: the trace (``trace_from_json``), then the
    recorded verdict and the ``meta`` keys hvfuzz reads back.  Its variant is looked up in
    ``registry``, plus (``recorded_design``) the plugin design the repro recorded if ``registry``
    lacks it (``fuzz/plugins.with_recorded_design``)."""
    if recorded_design:
        from hvfuzz.fuzz.plugins import with_recorded_design

        registry = with_recorded_design(d, registry)
    trace = trace_from_json(d, registry)
    verdict = d.get("verdict")
    if verdict is not None:
        _check_keys("verdict", verdict, _VERDICT_KEYS)
        if verdict.get("status") not in ("pass", "fail"):
            raise TraceError("'verdict' must have status 'pass' or 'fail'")
        if verdict["status"] == "fail":
            step = verdict.get("step")
            if not isinstance(verdict.get("oracle"), str) or not isinstance(step, int) or isinstance(step, bool):
                raise TraceError("a failing 'verdict' needs its 'oracle' (a string) and 'step' (an integer)")
    meta = d.get("meta")
    if meta is None:
        meta = {}
    _check_keys("meta", meta, _META_KEYS)
    if isinstance(meta.get("count"), int) and meta["count"] < 1:
        raise TraceError(f"meta: 'count' must be at least 1, got {brief(meta['count'])}")
    return Repro(trace, verdict, meta)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(doc: Any) -> int:
    """How deeply ``doc`` nests (iteratively: no recursion on hostile input)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        x, n = stack.pop()
        if isinstance(x, (dict, list)):
            deepest = max(deepest, n)
            if n > MAX_DEPTH:
                break
            stack.extend((y, n + 1) for y in (x.values() if isinstance(x, dict) else x))
    return deepest


def parse_json(text: str | bytes) -> Any:
    """Strict JSON (no ``NaN``/``Infinity``), nested at most ``MAX_DEPTH`` deep.  Every way the
    text can fail to be that is a ``TraceError``."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        doc = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise TraceError("not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise TraceError(f"corrupt JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise TraceError(f"JSON nested too deeply (a trace nests at most {MAX_DEPTH} levels)") from None
    except ValueError as e:  # a NaN/Infinity constant, an integer beyond Python's digit limit
        raise TraceError(f"unreadable JSON value ({_first_line(e)})") from None
    if _depth(doc) > MAX_DEPTH:
        raise TraceError(f"JSON nested too deeply (a trace nests at most {MAX_DEPTH} levels)")
    return doc


def repro_from_text(text: str | bytes, registry: Registry = BUILTIN, recorded_design: bool = True) -> Repro:
    """A trace or repro from its JSON text (a file's contents, a ``--db`` entry)."""
    return repro_from_json(parse_json(text), registry, recorded_design)


def load_json_file(path: str) -> Any:
    """Read a JSON file, turning every way it can be unreadable into a ``TraceError`` naming it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TraceError(f"cannot read {path}: {e.strerror or type(e).__name__}") from None
    try:
        return parse_json(data)
    except TraceError as e:
        raise TraceError(f"{path}: {e}") from None


def load_repro_file(path: str, registry: Registry = BUILTIN) -> Repro:
    """A trace or repro file, checked (``repro_from_json``); errors name the file."""
    d = load_json_file(path)
    try:
        return repro_from_json(d, registry)
    except TraceError as e:
        raise TraceError(f"{path}: {e}") from None


def brief(v: Any) -> str:
    """A value as an error message shows it: short, one line, and cheap for any input."""
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, int):
        return repr(v) if abs(v) < 10**20 else f"a {v.bit_length()}-bit integer"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        r = repr(v[:40])
        return r if len(v) <= 40 else r[:-1] + "..." + r[-1]
    if isinstance(v, list):
        return f"a list of {len(v)}"
    if isinstance(v, dict):
        return f"an object with {len(v)} key(s)"
    return type(v).__name__


def _names(keys: set[str]) -> str:
    shown = ", ".join(brief(k) for k in sorted(keys)[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _first_line(e: BaseException) -> str:
    msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    msg = msg.split(" (got ")[0] if " must be in " in msg else msg
    msg = msg.splitlines()[0] if msg else type(e).__name__
    return msg if len(msg) <= 100 else msg[:97] + "..."
