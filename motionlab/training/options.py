"""Option aggregation: base options + the chosen model's and dataset's groups + YAML + command line.

Precedence, lowest first: base defaults < model/dataset defaults < hparams YAML < command line.
Typed list options (``add_list_option``) accept a YAML list or a comma-separated string; booleans
(``add_bool_option``) accept YAML true/false and ``--flag`` / ``--no-flag``. All conversion happens
in :func:`coerce`, the one place where raw values become typed values.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import yaml

from motionlab import registry
from motionlab.utils.errors import MotionlabError


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
        if value is None:
            return None
        if action.type is not None and not isinstance(value, (list, dict)):
            value = action.type(value if action.type is not str else str(value))
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentTypeError(f"expected one of {list(action.choices)}, got {value!r}")
        return value
    except (argparse.ArgumentTypeError, TypeError, ValueError) as e:
        raise MotionlabError(f"{source}: option '{action.dest}': {e}") from None


def base_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="motionlab train",
        description="Train a motionlab model. Model- and dataset-specific options appear with --model/--dataset_name.",
        add_help=add_help,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("base")
    g.add_argument("--hparams_file", default=None, help="YAML file of option defaults (a name under hparams/ or a path)")
    g.add_argument("--experiment_name", default=None, help="folder name under --experiments_dir (default: hparams name)")
    g.add_argument("--experiments_dir", default="training/experiments", help="where experiments are written")
    g.add_argument("--data_dir", default="data/demo", help="data folder (see README: data layout)")
    g.add_argument("--model", default="transformer", help="model name (motionlab info lists them)")
    g.add_argument("--dataset_name", default="multimodal", help="dataset name (motionlab info lists them)")
    add_list_option(g, "--plugins", str, help="extra modules to search for models/datasets")
    g.add_argument("--batch_size", type=int, default=32)
    g.add_argument("--val_batch_size", type=int, default=None, help="defaults to --batch_size")
    g.add_argument("--num_workers", type=int, default=0)
    g.add_argument("--seed", type=int, default=0)

    o = p.add_argument_group("optimisation")
    o.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    o.add_argument("--learning_rate", type=float, default=1e-3)
    o.add_argument("--weight_decay", type=float, default=0.0)
    o.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    o.add_argument("--lr_policy", default="none", choices=["none", "step", "cosine", "plateau"])
    o.add_argument("--lr_decay_steps", type=int, default=1000, help="step: optimizer steps between decays")
    o.add_argument("--lr_decay_factor", type=float, default=0.5, help="step/plateau: multiplicative factor")
    o.add_argument("--lr_plateau_patience", type=int, default=5, help="plateau: epochs without improvement")
    o.add_argument("--warmup_steps", type=int, default=0, help="linear warm-up over this many optimizer steps")
    o.add_argument("--gradient_clip_val", type=float, default=0.0, help="0 disables clipping")
    o.add_argument("--accumulate_grad_batches", type=int, default=1)

    t = p.add_argument_group("trainer")
    t.add_argument("--max_epochs", type=int, default=100)
    t.add_argument("--max_steps", type=int, default=-1)
    t.add_argument("--min_epochs", type=int, default=0)
    t.add_argument("--max_time_minutes", type=float, default=0.0, help="stop after this wall time (0: no limit)")
    t.add_argument("--early_stopping_patience", type=int, default=0, help="epochs without improvement of --monitor (0: off)")
    t.add_argument("--monitor", default="val_loss", help="metric for best checkpoint and early stopping")
    t.add_argument("--monitor_mode", default="min", choices=["min", "max"])
    t.add_argument("--accelerator", default="auto")
    t.add_argument("--devices", default="auto", help="number of devices, 'auto', or a list like 0,1")
    t.add_argument("--num_nodes", type=int, default=1)
    t.add_argument("--strategy", default="auto", help="e.g. ddp, ddp_find_unused_parameters_true")
    t.add_argument("--precision", default="32-true", help="32-true, 16-mixed, bf16-mixed, ...")
    t.add_argument("--val_check_interval", type=float, default=1.0)
    t.add_argument("--limit_train_batches", type=float, default=1.0)
    t.add_argument("--limit_val_batches", type=float, default=1.0)
    t.add_argument("--log_every_n_steps", type=int, default=20)
    add_bool_option(t, "--resume", False, help="continue from the experiment's last checkpoint")
    t.add_argument("--pretrained_from", default=None, help="checkpoint to load weights from (weights only)")
    add_bool_option(t, "--progress_bar", True)
    add_bool_option(t, "--deterministic", False)
    return p


HPARAMS_DIR = "hparams"


def resolve_hparams_file(name: str | None) -> Path | None:
    """``demo`` -> hparams/demo.yaml, ``demo/transflower`` -> hparams/demo/transflower.yaml, or a path."""
    if name is None:
        return None
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    for root in (Path.cwd() / HPARAMS_DIR, Path(__file__).resolve().parents[2] / HPARAMS_DIR):
        cand = root / f"{name}.yaml"
        if cand.exists():
            return cand
    if p.exists():
        return p
    raise MotionlabError(f"hparams file '{name}' not found (looked for {name}, {HPARAMS_DIR}/{name}.yaml)")


def load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise MotionlabError(f"{path}: YAML does not parse: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MotionlabError(f"{path}: expected a mapping of option: value, found {type(data).__name__}")
    return data


class FirstStageValues:
    """What the first parsing stage knows about any option, as a raw value: the command line's, else the YAML's, else ``default``.

    Passed as ``known`` to ``modify_commandline_options(parser, known)`` of the models and
    datasets that declare that second parameter, so their options may depend on another option
    (e.g. a composite model adding its sub-models' options). Types are not converted.
    """

    def __init__(self, argv: list[str], yaml_values: dict):
        self.argv, self.yaml_values = list(argv), dict(yaml_values)

    def get(self, key: str, default=None):
        flag = f"--{key}"
        if any(a == flag or a.startswith(flag + "=") for a in self.argv):
            p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
            p.add_argument(flag, dest="value")
            return p.parse_known_args(self.argv)[0].value
        return self.yaml_values.get(key, default)


def call_modify_commandline_options(cls, parser, known=None):
    """``cls.modify_commandline_options(parser)``, or ``(parser, known)`` when it takes a second parameter."""
    fn = cls.modify_commandline_options
    try:
        takes_known = len(inspect.signature(fn).parameters) >= 2
    except (TypeError, ValueError):
        takes_known = False
    return fn(parser, known) if takes_known else fn(parser)


def build_parser(model: str, dataset_name: str, add_help: bool = True, base: argparse.ArgumentParser | None = None, known: FirstStageValues | None = None):
    """The full parser: base groups plus the model's and the dataset's option groups."""
    from motionlab.datasets import find_dataset_using_name
    from motionlab.models import find_model_using_name

    parser = base or base_parser(add_help=add_help)
    model_cls = find_model_using_name(model)
    dataset_cls = find_dataset_using_name(dataset_name)
    call_modify_commandline_options(model_cls, parser.add_argument_group(f"model '{model}'"), known)
    call_modify_commandline_options(dataset_cls, parser.add_argument_group(f"dataset '{dataset_name}'"), known)
    return parser


def parse_options(argv: list[str] | None = None, *, base: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Two-stage parse; returns a Namespace of typed values (see module docstring for precedence)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = base_parser(add_help=False)
    known, _ = pre.parse_known_args(argv)
    hp_path = resolve_hparams_file(known.hparams_file)
    yaml_values = load_yaml(hp_path) if hp_path else {}
    source = str(hp_path) if hp_path else "command line"

    def stage1(key):  # command line beats YAML for the keys that choose the parser
        cli = getattr(known, key)
        if f"--{key}" in argv or any(a.startswith(f"--{key}=") for a in argv):
            return cli
        return yaml_values.get(key, cli)

    plugins = stage1("plugins")
    registry.add_plugin_modules(ListType(str)(plugins))
    model, dataset_name = str(stage1("model")), str(stage1("dataset_name"))
    parser = build_parser(model, dataset_name, base=base, known=FirstStageValues(argv, yaml_values))

    actions = {a.dest: a for a in parser._actions if a.dest != "help"}
    defaults = {}
    for key, value in yaml_values.items():
        if key not in actions:
            raise MotionlabError(f"{source}: unknown option '{key}' (not an option of the base, model '{model}' or dataset '{dataset_name}')")
        defaults[key] = coerce(actions[key], value, source)
    parser.set_defaults(**defaults)
    try:
        opt = parser.parse_args(argv)
    except SystemExit as e:
        if e.code in (0, None):
            raise
        raise MotionlabError("invalid command line (see the message above)") from None
    opt.model, opt.dataset_name = model, dataset_name
    if opt.hparams_file is not None:
        opt.hparams_file = str(hp_path)
    if opt.experiment_name is None:
        opt.experiment_name = default_experiment_name(hp_path, model)
    return opt


def default_experiment_name(hp_path: Path | None, model: str) -> str:
    """hparams/demo/transflower.yaml -> demo_transflower; a file elsewhere -> its stem; none -> the model name."""
    if hp_path is None:
        return model
    parts = hp_path.resolve().with_suffix("").parts
    if HPARAMS_DIR in parts:
        i = len(parts) - 1 - parts[::-1].index(HPARAMS_DIR)
        return "_".join(parts[i + 1 :])
    return hp_path.stem


def options_to_dict(opt) -> dict:
    return dict(vars(opt)) if not isinstance(opt, dict) else dict(opt)


def save_options(opt, path) -> None:
    from motionlab.utils.io import write_text

    write_text(path, yaml.safe_dump(options_to_dict(opt), sort_keys=True))


def load_options(path) -> argparse.Namespace:
    path = Path(path)
    if not path.exists():
        raise MotionlabError(f"{path}: no hparams.yaml (is this an experiment folder made by motionlab train?)")
    return argparse.Namespace(**load_yaml(path))
