"""Option machinery on the ground floor: typed list/bool options, YAML hparams files with ``base:``,
the two-stage parse and its precedence, prefixed sub-model options.

Models, datasets and feature extractors import their helpers from here (never from
``motionlab.training``). Precedence, lowest first: the parser's defaults (base, then model and
dataset groups) < hparams YAML (a file's ``base:`` chain first, the file itself last) < command
line. Raw values become typed values in one place, :func:`coerce`.

Every ``modify_commandline_options`` has the one signature ``(parser, known)``: ``known.get(key,
default)`` answers what the first parsing stage knows of any option (command line, else YAML), so
a model's options may depend on another option (a composite model adding its sub-models' options).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import yaml

from motionlab import registry
from motionlab.utils.errors import MotionlabError

HPARAMS_DIR = "hparams"


# ---------------------------------------------------------------------------------------- types


class ListType:
    """argparse ``type`` for a list option: 'a,b' or ['a','b'] -> [T(a), T(b)]."""

    def __init__(self, item_type=str):
        self.item_type = item_type
        self.__name__ = f"list[{item_type.__name__}]"

    def __call__(self, value):
        if isinstance(value, (list, tuple)):
            items = list(value)
        elif value is None:
            return []
        else:
            items = [v.strip() for v in str(value).split(",") if v.strip() != ""]
        out = []
        for v in items:
            try:
                out.append(self.item_type(v))
            except (TypeError, ValueError):
                raise argparse.ArgumentTypeError(f"expected a list of {self.item_type.__name__}, got item {v!r}") from None
        return out


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {value!r}")


def bounded(item_type, minimum=None, maximum=None, what: str = "") -> Callable:
    """argparse ``type`` converting with ``item_type`` and refusing values outside [minimum, maximum]."""

    def convert(value):
        try:
            v = item_type(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
            raise argparse.ArgumentTypeError(f"expected {what or item_type.__name__}, got {value!r}") from None
        if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
            rng = f">= {minimum}" if maximum is None else f"<= {maximum}" if minimum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"expected {what or item_type.__name__} {rng}, got {value!r}")
        return v

    convert.__name__ = item_type.__name__
    return convert


def add_list_option(parser, name: str, item_type=str, default=None, help: str = ""):
    """Add ``--name`` taking a comma-separated list (or YAML list) of ``item_type``."""
    return parser.add_argument(name, type=ListType(item_type), default=list(default or []), help=help)


def add_bool_option(parser, name: str, default: bool = False, help: str = ""):
    """Add ``--name`` / ``--no-name``; YAML may give true/false."""
    return parser.add_argument(name, action=argparse.BooleanOptionalAction, default=default, help=help)


def coerce(action: argparse.Action, value, source: str):
    """Convert a raw value (from YAML) to the option's type; errors name the option and its source."""
    try:
        if isinstance(action, argparse.BooleanOptionalAction):
            return parse_bool(value)
        if isinstance(action.type, ListType):
            return action.type(value)
        if value is None:  # an empty YAML value: only for options that may be unset
            if action.default is None:
                return None
            raise argparse.ArgumentTypeError(f"expected a value (default {action.default!r}), got null")
        kind = getattr(action.type, "__name__", "")  # int, float or bounded(int|float, ...)
        if kind in ("int", "float") and isinstance(value, (bool, list, dict)):  # YAML true is not 1
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind == 'int' else 'a number'}, got {value!r}")
        if action.type is not None and not isinstance(value, (list, dict)):
            value = action.type(value if action.type is not str else str(value))
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentTypeError(f"expected one of {list(action.choices)}, got {value!r}")
        return value
    except (argparse.ArgumentTypeError, TypeError, ValueError, OverflowError) as e:
        raise MotionlabError(f"{source}: option '{action.dest}': {e}") from None


# ---------------------------------------------------------------------------------------- YAML


def resolve_hparams_file(name: str | None, relative_to: Path | None = None) -> Path | None:
    """``demo`` -> hparams/demo.yaml, ``demo/transflower`` -> hparams/demo/transflower.yaml, or a path.

    ``relative_to`` (the folder of a file naming this one as its ``base:``) is searched first.
    """
    if name is None:
        return None
    p = Path(name)
    roots = [relative_to] if relative_to is not None else []
    roots += [Path.cwd() / HPARAMS_DIR, Path(__file__).resolve().parents[1] / HPARAMS_DIR]
    if p.suffix in (".yaml", ".yml"):
        for cand in ([relative_to / p] if relative_to is not None else []) + [p] + [r / p for r in roots[1:]]:
            if cand.exists():
                return cand
    else:
        for root in roots:
            cand = root / f"{name}.yaml"
            if cand.exists():
                return cand
        if p.exists() and p.is_file():
            return p
    raise MotionlabError(f"hparams file '{name}' not found (looked for {name}, {HPARAMS_DIR}/{name}.yaml)")


def load_yaml(path: Path) -> dict:
    """One YAML mapping of option: value; errors name the file."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise MotionlabError(f"{path}: YAML does not parse: {' '.join(str(e).split())}") from None
    except OSError as e:
        raise MotionlabError(f"{path}: cannot read ({e.strerror})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MotionlabError(f"{path}: expected a mapping of option: value, found {type(data).__name__}")
    return data


def load_hparams(path: Path) -> tuple[dict, dict[str, Path]]:
    """A hparams file with its ``base:`` chain merged (the file's own keys win over its base's).

    Returns (values, source of each key) so errors name the file a key came from. A base is a name
    under hparams/ or a path relative to the naming file; cycles are refused.
    """
    chain: list[Path] = []
    current: Path | None = Path(path)
    while current is not None:
        resolved = current.resolve()
        if resolved in chain:
            names = " -> ".join(str(c) for c in chain + [resolved])
            raise MotionlabError(f"{path}: 'base:' chain loops ({names})")
        chain.append(resolved)
        data = load_yaml(current)
        base = data.get("base")
        if base is None:
            current = None
        elif not isinstance(base, str):
            raise MotionlabError(f"{current}: 'base' must name one hparams file (a string), found {base!r}")
        else:
            current = resolve_hparams_file(base, relative_to=current.parent)
    values: dict = {}
    sources: dict[str, Path] = {}
    for file in reversed(chain):
        for key, value in load_yaml(file).items():
            if key == "base":
                continue
            values[key], sources[key] = value, file
    return values, sources


# ---------------------------------------------------------------------------------------- parse


class FirstStageValues:
    """What the first parsing stage knows about any option, as a raw value: the command line's, else the YAML's, else ``default``."""

    def __init__(self, argv: list[str], yaml_values: dict):
        self.argv, self.yaml_values = list(argv), dict(yaml_values)

    def get(self, key: str, default=None):
        flag = f"--{key}"
        if any(a == flag or a.startswith(flag + "=") for a in self.argv):
            p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
            p.add_argument(flag, dest="value")
            return p.parse_known_args(self.argv)[0].value
        return self.yaml_values.get(key, default)


class OptionValues:
    """``known`` view of values already parsed (a dict or a Namespace)."""

    def __init__(self, values):
        self.values = dict(vars(values)) if isinstance(values, argparse.Namespace) else dict(values)

    def get(self, key, default=None):
        return self.values.get(key, default)


def add_options_of(cls, parser, known=None):
    """``cls.modify_commandline_options(parser, known)``: the one signature every plugin uses."""
    return cls.modify_commandline_options(parser, known if known is not None else OptionValues({}))


def build_parser(base: argparse.ArgumentParser, model: str, dataset_name: str, known=None) -> argparse.ArgumentParser:
    """The full parser: ``base``'s groups plus the model's and the dataset's option groups."""
    model_cls = registry.find_class(registry.MODELS, model)
    dataset_cls = registry.find_class(registry.DATASETS, dataset_name)
    add_options_of(model_cls, base.add_argument_group(f"model '{model}'"), known)
    add_options_of(dataset_cls, base.add_argument_group(f"dataset '{dataset_name}'"), known)
    return base


def parse_options(argv: list[str] | None, base_factory: Callable[[bool], argparse.ArgumentParser], *, yaml_values: dict | None = None, sources: dict | None = None, source_name: str | None = None) -> tuple[argparse.Namespace, Path | None]:
    """Two-stage parse; returns (typed options, the hparams file used).

    ``base_factory(add_help)`` makes the base parser (the training entry point's). Values come from
    ``--hparams_file`` (with its ``base:`` chain), or from ``yaml_values`` when given (a saved
    experiment's ``hparams.yaml``), then the command line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = base_factory(False)
    first, _ = _exit_as_error(lambda: pre.parse_known_args(argv))
    hp_path = None
    if yaml_values is None:
        hp_path = resolve_hparams_file(getattr(first, "hparams_file", None))
        yaml_values, sources = load_hparams(hp_path) if hp_path else ({}, {})
    sources = sources or {}

    def stage1(key):  # command line beats YAML for the keys that choose the parser
        if f"--{key}" in argv or any(a.startswith(f"--{key}=") for a in argv):
            return getattr(first, key)
        return yaml_values.get(key, getattr(first, key))

    registry.add_plugin_modules(ListType(str)(stage1("plugins")))
    model, dataset_name = str(stage1("model")), str(stage1("dataset_name"))
    parser = build_parser(base_factory(True), model, dataset_name, FirstStageValues(argv, yaml_values))

    actions = {a.dest: a for a in parser._actions if a.dest != "help"}
    defaults = {}
    for key, value in yaml_values.items():
        where = str(sources.get(key, source_name or hp_path or "hparams"))
        if key not in actions:
            raise MotionlabError(f"{where}: unknown option '{key}' (not an option of the base, model '{model}' or dataset '{dataset_name}')")
        defaults[key] = coerce(actions[key], value, where)
    parser.set_defaults(**defaults)
    opt = _exit_as_error(lambda: parser.parse_args(argv))
    opt.model, opt.dataset_name = model, dataset_name
    return opt, hp_path


def _exit_as_error(parse):
    """argparse prints its message and exits; turn that exit into a MotionlabError (--help still exits 0)."""
    try:
        return parse()
    except SystemExit as e:
        if e.code in (0, None):
            raise
        raise MotionlabError("invalid command line (see the message above)") from None


# ---------------------------------------------------------------------------------------- sub-models


class PrefixedOptions:
    """Adapter of an argparse parser/group: ``add_argument('--x', ...)`` adds ``--<prefix>x`` (dest ``<prefix>x``).

    Lets a composite model (ResidualFlower's mean/residual models, a GAN's generator and
    discriminator, C-DiffGAN's stages) expose each part's own options under a prefix. Records the
    unprefixed dests it added (``dests``).
    """

    def __init__(self, parser, prefix: str):
        self._parser, self.prefix, self.dests = parser, prefix, []

    def add_argument(self, *names, **kwargs):
        flags = [n for n in names if n.startswith("-")]
        if not flags or len(flags) != len(names):
            raise MotionlabError(f"sub-model options must be --flags, got {names}")
        long = [n for n in flags if n.startswith("--")]
        dest = kwargs.pop("dest", None) or (long[0] if long else flags[0]).lstrip("-").replace("-", "_")
        renamed = [f"--{self.prefix}{n.lstrip('-')}" for n in long] or [f"--{self.prefix}{dest}"]  # short flags would clash
        action = self._parser.add_argument(*renamed, dest=self.prefix + dest, **kwargs)
        self.dests.append(dest)
        return action

    def add_argument_group(self, *args, **kwargs):
        return self

    def set_defaults(self, **kwargs):
        self._parser.set_defaults(**{self.prefix + k: v for k, v in kwargs.items()})


class PrefixedKnown:
    """The first-stage values seen through a prefix (for sub-models whose options depend on others)."""

    def __init__(self, known, prefix: str):
        self.known, self.prefix = known, prefix

    def get(self, key, default=None):
        return default if self.known is None else self.known.get(self.prefix + key, default)


def add_prefixed_options(parser, cls, prefix: str, known=None) -> list[str]:
    """Add ``cls``'s options to ``parser`` as ``--<prefix><name>``; returns their unprefixed dests."""
    adapter = PrefixedOptions(parser, prefix)
    add_options_of(cls, adapter, PrefixedKnown(known, prefix))
    return adapter.dests


def prefixed_sub_options(cls, prefix: str, values) -> dict:
    """The composite's option values with ``<prefix>x`` renamed ``x`` for every option of ``cls``.

    Options the values lack take ``cls``'s defaults; everything else (window options, trainer
    options) is shared unchanged.
    """
    values = OptionValues(values).values
    scratch = argparse.ArgumentParser(add_help=False)
    dests = add_prefixed_options(scratch, cls, prefix, OptionValues(values))
    defaults = vars(scratch.parse_args([]))
    sub = dict(values)
    for d in dests:
        sub[d] = values.get(prefix + d, defaults[prefix + d])
    return sub


# ---------------------------------------------------------------------------------------- saving


def save_options(opt, path) -> None:
    from motionlab.utils.io import write_text

    values = dict(vars(opt)) if isinstance(opt, argparse.Namespace) else dict(opt)
    write_text(path, yaml.safe_dump(values, sort_keys=True))
