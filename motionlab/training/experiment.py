"""An experiment folder and the one way to rebuild its model: options from ``hparams.yaml``, data spec and weights from a checkpoint.

Generation, evaluation and continual training all load models through :class:`Experiment`, so a
model is rebuilt exactly as it trained (same options, same dims and speakers) without reading the
data it trained on.
"""

from __future__ import annotations

import argparse
from pathlib import Path


from motionlab.dataspec import DataSpec
from motionlab.models import find_model_using_name
from motionlab.training.options import load_experiment_options
from motionlab.utils.checkpoints import load_checkpoint
from motionlab.utils.errors import MotionlabError


class Experiment:
    """``training/experiments/<name>/``: hparams.yaml, checkpoints/{best,last}.ckpt, tb/."""

    def __init__(self, name: str | Path, experiments_dir: str | Path = "training/experiments"):
        path = Path(name)
        self.dir = path if path.is_dir() and (path / "hparams.yaml").exists() else Path(experiments_dir) / str(name)
        self.name = self.dir.name
        if not self.dir.is_dir():
            raise MotionlabError(f"experiment folder {self.dir} does not exist (train it with ./script_train.sh, or pass --experiments_dir)")

    def options(self, overrides: list[str] | None = None) -> argparse.Namespace:
        """The resolved training options, checked by the training parser; ``overrides`` are command-line style."""
        return load_experiment_options(self.dir, overrides)

    def model_name(self) -> str:
        from motionlab.options import load_yaml

        path = self.dir / "hparams.yaml"
        if not path.exists():
            raise MotionlabError(f"{path}: no hparams.yaml (is {self.dir} an experiment folder made by motionlab train?)")
        name = load_yaml(path).get("model")
        if not name:
            raise MotionlabError(f"{path}: no 'model' key")
        return str(name)

    def checkpoint(self, path: str | Path | None = None) -> Path:
        """``path`` if given (a file, or a name in the experiment's checkpoints/: ``best``, ``last``,
        ``last.ckpt``), else checkpoints/best.ckpt, else checkpoints/last.ckpt."""
        if path:
            p = Path(path)
            if p.exists():
                return p
            for name in (p.name, f"{p.name}.ckpt"):
                q = self.dir / "checkpoints" / name
                if len(p.parts) == 1 and q.exists():
                    return q
            names = sorted(c.stem for c in (self.dir / "checkpoints").glob("*.ckpt"))
            raise MotionlabError(f"--checkpoint {p}: file not found (checkpoints of {self.dir.name}: {', '.join(names) or 'none'})")
        for name in ("best.ckpt", "last.ckpt"):
            p = self.dir / "checkpoints" / name
            if p.exists():
                return p
        raise MotionlabError(f"experiment {self.dir} has no checkpoint (expected checkpoints/best.ckpt or last.ckpt); train it first or pass --checkpoint")

    def load_model(self, checkpoint: str | Path | None = None, device: str = "cpu", overrides: list[str] | None = None):
        """(model in eval mode on ``device``, options, checkpoint path)."""
        opt = self.options(overrides)
        path = self.checkpoint(checkpoint)
        ckpt = load_checkpoint(path)
        try:
            hp, state = ckpt["hyper_parameters"], ckpt["state_dict"]
        except (KeyError, TypeError) as e:
            raise MotionlabError(f"{path}: not a readable motionlab checkpoint ({type(e).__name__}: {e})") from None
        if not isinstance(hp, dict) or not isinstance(hp.get("opt", {}), dict):
            raise MotionlabError(f"{path}: not a readable motionlab checkpoint (hyper_parameters: expected a dict with 'opt' and 'spec', found {type(hp).__name__})")
        trained = hp.get("opt", {}).get("model")
        if trained != opt.model:
            raise MotionlabError(f"{path}: checkpoint is of model '{trained}' but {self.dir / 'hparams.yaml'} names model '{opt.model}'")
        if "spec" not in hp:
            raise MotionlabError(f"{path}: checkpoint has no data spec (made by an older motionlab); retrain the experiment")
        model = find_model_using_name(opt.model)(opt, DataSpec.from_dict(hp["spec"]))
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise MotionlabError(f"{path}: weights do not fit model '{opt.model}' built from {self.dir / 'hparams.yaml'} ({str(e).splitlines()[0]})") from None
        return model.to(device).eval(), opt, path
