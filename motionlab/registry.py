"""Find model and dataset classes by name, following the class-name convention.

``--model transflower`` imports ``motionlab.models.transflower_model`` and returns the
class named (case-insensitively, underscores dropped) ``TransflowerModel`` that subclasses
``BaseModel``; a plugin's ``--model my_thing`` finds ``my_thing_model.py`` / ``MyThingModel``. Third-party packages add
classes through the entry-point groups ``motionlab.models`` / ``motionlab.datasets``
(each entry point names a module), and ``--plugins some.module`` adds a module
for one run. Those modules are searched with the same convention.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from importlib.metadata import entry_points

from motionlab.utils.errors import MotionlabError

_extra_plugin_modules: list[str] = []


def add_plugin_modules(modules) -> None:
    """Register modules named with ``--plugins`` (comma-separated string or list)."""
    if isinstance(modules, str):
        modules = [m for m in modules.split(",") if m.strip()]
    for m in modules or []:
        m = m.strip()
        if m and m not in _extra_plugin_modules:
            try:
                importlib.import_module(m)
            except ImportError as e:
                raise MotionlabError(f"--plugins: cannot import module '{m}': {e}") from None
            _extra_plugin_modules.append(m)


@dataclass(frozen=True)
class Kind:
    """One family of plugins: models or datasets."""

    package: str  # e.g. "motionlab.models"
    suffix: str  # "model" -> files <name>_model.py, classes <Name>Model
    base_path: str  # "motionlab.models.base_model.BaseModel"
    group: str  # entry-point group

    def base(self):
        module, cls = self.base_path.rsplit(".", 1)
        return getattr(importlib.import_module(module), cls)


MODELS = Kind("motionlab.models", "model", "motionlab.models.base_model.BaseModel", "motionlab.models")
DATASETS = Kind("motionlab.datasets", "dataset", "motionlab.datasets.base_dataset.BaseDataset", "motionlab.datasets")


def _class_key(name: str, suffix: str) -> str:
    return name.replace("_", "").lower() + suffix


def _matching_class(module, key: str, base):
    for obj in vars(module).values():
        if (
            inspect.isclass(obj)
            and obj.__name__.lower() == key
            and issubclass(obj, base)  # any depth of inheritance counts
            and obj is not base
        ):
            return obj
    return None


def _plugin_modules(kind: Kind) -> list[str]:
    mods = [ep.value.split(":")[0] for ep in entry_points(group=kind.group)]
    return mods + list(_extra_plugin_modules)


def find_class(kind: Kind, name: str):
    """Return the class registered under ``name`` or raise a MotionlabError listing the known names."""
    base = kind.base()
    key = _class_key(name, kind.suffix)
    module = None
    try:
        if name.isidentifier():  # '0.5' or 'a/b' would import another package's path
            module = importlib.import_module(f"{kind.package}.{name}_{kind.suffix}")
    except ModuleNotFoundError as e:
        if e.name != f"{kind.package}.{name}_{kind.suffix}":
            raise
    if module is not None:
        cls = _matching_class(module, key, base)
        if cls is not None:
            return cls
    for modname in _plugin_modules(kind):
        cls = _matching_class(importlib.import_module(modname), key, base)
        if cls is not None:
            return cls
    names = ", ".join(sorted(registered(kind)))
    raise MotionlabError(f"no {kind.suffix} named '{name}' (looked for class {key} subclassing {base.__name__}); registered {kind.suffix}s: {names}")


def _name_of(cls, suffix: str) -> str:
    """Option name of a class: CamelCase stem lower-cased (ResidualFlowerModel -> residualflower)."""
    return cls.__name__[: -len(suffix)].lower()


def registered(kind: Kind) -> dict[str, type]:
    """All classes of this kind: the package's own ``*_<suffix>.py`` files plus plugin modules."""
    base = kind.base()
    found: dict[str, type] = {}
    pkg = importlib.import_module(kind.package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.endswith("_" + kind.suffix) or info.name.startswith("base_"):
            continue
        stem = info.name[: -len(kind.suffix) - 1]
        module = importlib.import_module(f"{kind.package}.{info.name}")
        cls = _matching_class(module, _class_key(stem, kind.suffix), base)
        if cls is not None:
            found[stem] = cls
    for modname in _plugin_modules(kind):
        module = importlib.import_module(modname)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, base) and obj is not base and obj.__name__.lower().endswith(kind.suffix):
                found.setdefault(_name_of(obj, kind.suffix), obj)
    return found


def describe(cls) -> str:
    """First line of the class docstring."""
    doc = inspect.getdoc(cls) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
