"""Designs as plugins: a user's own variants, in their own module, without a fork of hvfuzz.

A *design module* defines ``VARIANTS``: a sequence of ``hvfuzz.model.variants.Variant`` (each with
its policies, ``hooks`` replacing kernel functions, and optionally ``judges``; ``docs/extending.md``).
hvfuzz finds design modules in three places, in this order:

1. the entry-point group ``hvfuzz.designs`` of the installed distributions (the standard Python
   plugin mechanism: ``[project.entry-points."hvfuzz.designs"] name = "module"``);
2. ``HVFUZZ_DESIGNS``: ``os.pathsep``-separated paths of ``.py`` files or module names;
3. ``--design PATH|MODULE`` on the command line (repeatable).

The result is a ``Registry`` value (no global state): the CLI builds it once and passes it on.
A repro of a plugin variant records its design (``"design": {"module", "file"}``) so ``replay``
finds it from another directory: ``with_recorded_design``.  A design that cannot be loaded is a
``PluginError``: one line, exit 2.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import attrs

from hvfuzz.fuzz.trace import TraceError
from hvfuzz.model.variants import BUILTIN, Origin, Registry

GROUP = "hvfuzz.designs"
ENV = "HVFUZZ_DESIGNS"


class PluginError(TraceError):
    """A design that cannot be loaded (the CLI's one-line error, exit 2)."""


def _variants_of(module: ModuleType, origin: Origin) -> list[Any]:
    variants = getattr(module, "VARIANTS", None)
    if variants is None:
        raise PluginError(f"design {origin.describe()}: defines no VARIANTS (a list of hvfuzz Variant)")
    if isinstance(variants, Mapping):
        variants = list(variants.values())
    try:
        return list(variants)
    except TypeError:
        raise PluginError(f"design {origin.describe()}: VARIANTS is not a list of Variant") from None


def _add(registry: Registry, module: ModuleType, origin: Origin) -> Registry:
    try:
        return registry.with_design(_variants_of(module, origin), origin)
    except ValueError as e:
        raise PluginError(f"design {e}") from None


def _first_line(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def _import_file(path: str) -> tuple[ModuleType, Origin]:
    full = os.path.realpath(path)
    if not os.path.isfile(full):
        raise PluginError(f"--design {path}: no such file")
    if not full.endswith(".py"):
        raise PluginError(f"--design {path}: not a Python file (.py)")
    stem = os.path.splitext(os.path.basename(full))[0]
    # a module name of its own per file, so two designs called design.py do not collide
    name = f"hvfuzz_design_{stem}_{hashlib.sha1(full.encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name], Origin("file", name, full)
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        raise PluginError(f"--design {path}: cannot be loaded as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # attrs and dataclasses look their module up while the body runs
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any error in the user's module is one line, exit 2
        del sys.modules[name]
        raise PluginError(f"design {path}: {_first_line(e)}") from None
    return module, Origin("file", name, full)


def _import_module(name: str, origin: Origin) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as e:  # noqa: BLE001
        raise PluginError(f"design {origin.describe()}: {_first_line(e)}") from None


def load_design(spec: str, registry: Registry) -> Registry:
    """``registry`` plus the design ``spec``: a path to a ``.py`` file, or an importable module name."""
    if not spec:
        return registry
    if _is_file_spec(spec):
        if _loaded(registry, Origin("file", "", os.path.realpath(spec))):
            return registry
        module, origin = _import_file(spec)
    else:
        origin = Origin("module", spec)
        module = _import_module(spec, origin)
        origin = Origin("module", spec, getattr(module, "__file__", None))
    if _loaded(registry, origin):
        return registry
    return _add(registry, module, origin)


def _loaded(registry: Registry, origin: Origin) -> bool:
    """Whether this design module is in ``registry`` already (named twice, or by an entry point and
    by its file too)."""
    real = os.path.realpath(origin.file) if origin.file else None
    for n in registry:
        o = registry.origin(n)
        same_file = bool(real and o.file and os.path.realpath(o.file) == real)
        if o.kind != "builtin" and (o.module == origin.module or same_file):
            return True
    return False


def load_entry_points(registry: Registry) -> Registry:
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        origin = Origin("entry point", ep.value.split(":")[0], None, ep.name)
        if _loaded(registry, origin):
            continue
        try:
            module = ep.load()
        except Exception as e:  # noqa: BLE001
            raise PluginError(f"design {origin.describe()}: {_first_line(e)}") from None
        if not isinstance(module, ModuleType):
            raise PluginError(f"design {origin.describe()}: the entry point must name a module")
        origin = Origin("entry point", module.__name__, getattr(module, "__file__", None), ep.name)
        registry = _add(registry, module, origin)
    return registry


def registry_for(designs: Iterable[str] = (), env: Mapping[str, str] | None = None) -> Registry:
    """hvfuzz's variants, then the entry points' designs, then ``HVFUZZ_DESIGNS``, then ``designs``."""
    env = os.environ if env is None else env
    registry = load_entry_points(BUILTIN)
    specs = [s for s in env.get(ENV, "").split(os.pathsep) if s] + list(designs)
    for spec in specs:
        registry = load_design(spec, registry)
    if registry is BUILTIN:
        return registry
    # another process (``hvfuzz fuzz --jobs``) makes it again from the same designs
    again = tuple(os.path.realpath(s) if _is_file_spec(s) else s for s in specs)
    return attrs.evolve(registry, rebuild=(_registry_again, (again,)))


def _registry_again(specs: tuple[str, ...]) -> Registry:
    """``registry_for`` in a worker process: the pickled form of a registry with designs."""
    return registry_for(specs, env={})


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or bool(os.altsep and os.altsep in spec)


def designs_env(registry: Registry, env: Mapping[str, str] | None = None) -> str:
    """``HVFUZZ_DESIGNS`` for a child process (an atheris target) that must know the same designs."""
    env = os.environ if env is None else env
    specs = [s for s in env.get(ENV, "").split(os.pathsep) if s]
    for name in registry:
        o = registry.origin(name)
        spec = o.file if o.kind == "file" else o.module if o.kind == "module" else None
        if spec and spec not in specs:
            specs.append(spec)
    return os.pathsep.join(specs)


def with_recorded_design(d: Any, registry: Registry) -> Registry:
    """The registry a repro needs: ``registry`` itself when it knows the repro's variant, else
    ``registry`` plus the design the repro recorded (``"design": {"module": ..., "file": ...}``),
    loaded from its file when that still exists.  A recorded *module* name is never imported on a
    repro's say-so (a mutated repro could name any installed module): it must come from an entry
    point, ``HVFUZZ_DESIGNS`` or ``--design``.  Anything else is left to the variant check
    ("unknown variant")."""
    if not isinstance(d, dict):
        return registry
    config, design = d.get("config"), d.get("design")
    variant = config.get("variant") if isinstance(config, dict) else None
    if not isinstance(variant, str) or variant in registry or not isinstance(design, dict):
        return registry
    path = design.get("file")
    if isinstance(path, str) and path.endswith(".py") and os.path.isfile(path):
        return load_design(path, registry)
    return registry
