"""The networks evaluation embeds motion with, trained on the user's own data and loaded with checks.

FGD needs a motion autoencoder (``--model motion_autoencoder``) and the style metrics a speaker
classifier (``--model style_classifier``), both trained with ``./script_train.sh analysis/...`` on
the train split of the data being evaluated. A network trained on another feature, another
skeleton or another scaling, or never trained at all, would still return numbers, only meaningless
ones; :func:`load_feature_network` refuses each of these with a message saying what was expected,
what was found and the command that trains the right network.

Features passed to :func:`embed_windows` / :func:`classify_windows` must be in the network's
scaled space: the arrays of the data folder as stored, or raw (inverse-scaled, e.g. generated)
motion passed through ``DataFolder(data_dir).scaler(feature).transform``. Sequences are cut into
windows of the network's length every ``hop`` frames (default half a window); a sequence shorter
than one window is an error, or is skipped with ``skip_short=True`` (never padded: padding would
invent motion the statistics then count).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import numpy as np
import torch

from motionlab.datafolder import DataFolder
from motionlab.models import find_model_using_name
from motionlab.models.motion_autoencoder_model import MotionAutoencoderModel
from motionlab.models.pose2pose_vae_model import Pose2PoseVaeModel
from motionlab.models.style_classifier_model import StyleClassifierModel
from motionlab.training.experiment import Experiment
from motionlab.utils.checkpoints import load_checkpoint
from motionlab.utils.errors import MotionlabError

DEFAULT_EXPERIMENTS_DIR = "training/experiments"


@dataclass(frozen=True)
class NetworkKind:
    model_class: type
    model_name: str
    hparams: str  # under hparams/
    what: str


KINDS = {
    "autoencoder": NetworkKind(MotionAutoencoderModel, "motion_autoencoder", "analysis/fgd_autoencoder", "motion autoencoder (FGD)"),
    "pose2pose_vae": NetworkKind(Pose2PoseVaeModel, "pose2pose_vae", "gesture/pose2pose_vae", "pose2pose VAE (FTD)"),
    "style_classifier": NetworkKind(StyleClassifierModel, "style_classifier", "analysis/style_classifier", "style classifier"),
}
ALIASES = {"motion_autoencoder": "autoencoder"}


def train_command(kind: str, feature: str, data_dir=None, experiment: str | None = None, experiments_dir=DEFAULT_EXPERIMENTS_DIR) -> str:
    """The exact command that trains the network ``load_feature_network`` asked for."""
    k = KINDS[ALIASES.get(kind, kind)]
    cmd = f"./script_train.sh {k.hparams} --data_dir {data_dir if data_dir is not None else '<data folder>'} --input_modalities {feature} --output_modalities {feature}"
    if experiment is not None and str(experiment) != k.hparams.replace("/", "_"):
        cmd += f" --experiment_name {Path(str(experiment)).name}"
    if str(experiments_dir) != DEFAULT_EXPERIMENTS_DIR:
        cmd += f" --experiments_dir {experiments_dir}"
    return cmd


def load_feature_network(experiment, *, kind: str, feature: str, data_dir=None, experiments_dir=DEFAULT_EXPERIMENTS_DIR, device: str = "cpu"):
    """The trained network of ``experiment`` (eval mode, on ``device``), checked against the feature to evaluate.

    ``kind``: 'autoencoder' (FGD) or 'style_classifier'. ``data_dir``: the data folder being
    evaluated; when given, the feature's dims (and, when the network's own data folder is
    reachable, its columns, BVH skeleton and scaler) must match what the network trained on, and a
    classifier must know every speaker label of the data's ``speakers.json``.
    """
    key = ALIASES.get(kind, kind)
    if key not in KINDS:
        raise MotionlabError(f"load_feature_network: unknown kind '{kind}' (expected one of {', '.join(KINDS)})")
    k = KINDS[key]
    train_it = f"train it first: {train_command(key, feature, data_dir, experiment, experiments_dir)}"
    try:
        exp = Experiment(experiment, experiments_dir)
    except MotionlabError:
        raise MotionlabError(f"{k.what} experiment {Path(experiments_dir) / str(experiment)} does not exist; {train_it}") from None
    if not any((exp.dir / "checkpoints" / n).exists() for n in ("best.ckpt", "last.ckpt")):
        raise MotionlabError(f"{k.what} experiment {exp.dir} has no checkpoint (checkpoints/best.ckpt or last.ckpt); {train_it}")
    ckpt_path = exp.checkpoint()

    trained_model = exp.model_name()
    cls = find_model_using_name(trained_model)
    if not issubclass(cls, k.model_class):
        raise MotionlabError(f"experiment {exp.dir}: its model is '{trained_model}', expected a {k.what} (model '{k.model_name}'); {train_it}")
    step = _global_step(ckpt_path)
    if step <= 0:
        raise MotionlabError(f"{ckpt_path}: saved at global step {step}: the {k.what} is untrained (random weights); {train_it}")

    model, opt, _ = exp.load_model(ckpt_path, device=device)
    spec = model.data_spec
    trained_on = f"feature '{model.feature}' ({model.dim} dims)"
    if model.feature != feature:
        raise MotionlabError(f"{ckpt_path}: the {k.what} was trained on {trained_on}, but '{feature}' is being evaluated; {train_it}")
    if spec.dim(feature) != model.dim:  # the spec and the built network disagree: a corrupt experiment
        raise MotionlabError(f"{ckpt_path}: data spec says {spec.dim(feature)} dims for '{feature}', the network reads {model.dim}")
    if data_dir is not None:
        evaluated = DataFolder(data_dir)
        _check_same_data(evaluated, DataFolder(opt.data_dir), feature, model.dim, ckpt_path, trained_on, train_it)
        if key == "style_classifier":
            _check_speakers(evaluated, spec.speaker_names, ckpt_path, train_it)
    return model


def _check_speakers(evaluated: DataFolder, known, ckpt_path, train_it: str) -> None:
    """Style accuracy compares with the evaluated data's labels: each must be a class of the classifier."""
    unknown = sorted(set(evaluated.speakers().values()) - set(known))
    if unknown:
        raise MotionlabError(
            f"{ckpt_path}: the style classifier knows speakers {list(known)}, but {evaluated.path / 'speakers.json'} also labels "
            f"sequences {unknown[:5]}; {train_it}"
        )


def _global_step(ckpt_path: Path) -> int:
    ckpt = load_checkpoint(ckpt_path)
    return int(ckpt.get("global_step", 0)) if isinstance(ckpt, dict) else 0


def _feature_dims(folder: DataFolder, feature: str) -> int:
    """The feature's dims from its meta, else from one of its arrays."""
    if folder.meta_path(feature).exists():
        return int(folder.meta(feature)["dims"])
    seqs = folder.feature_sequences(feature)
    if not seqs:
        raise MotionlabError(f"{folder.path}: no feature '{feature}' (neither {folder.meta_path(feature).name} nor <seq>.{feature}.npy arrays)")
    return int(folder.open_feature(seqs[0], feature, check_finite=False).shape[1])


def _check_same_data(evaluated: DataFolder, trained: DataFolder, feature: str, dim: int, ckpt_path, trained_on: str, train_it: str) -> None:
    """Dims always; columns, skeleton and scaler when the network's data folder is reachable and another folder."""
    found = _feature_dims(evaluated, feature)
    if found != dim:
        raise MotionlabError(f"{ckpt_path}: the network was trained on {trained_on}, but '{feature}' in {evaluated.path} has {found} dims; {train_it}")
    if not trained.path.is_dir() or trained.path.resolve() == evaluated.path.resolve():
        return
    if not (trained.meta_path(feature).exists() and evaluated.meta_path(feature).exists()):
        return
    theirs, ours = trained.meta(feature), evaluated.meta(feature)
    if theirs["columns"] != ours["columns"]:
        i = next(i for i, (a, b) in enumerate(zip(theirs["columns"], ours["columns"])) if a != b)
        raise MotionlabError(
            f"{ckpt_path}: the network's data ({trained.meta_path(feature)}) and the evaluated data ({evaluated.meta_path(feature)}) "
            f"describe '{feature}' with different columns (column {i}: '{theirs['columns'][i]}' vs '{ours['columns'][i]}'): another skeleton or joint set; {train_it}"
        )
    skeletons = [_skeleton(f, m) for f, m in ((trained, theirs), (evaluated, ours))]
    if None not in skeletons and skeletons[0] != skeletons[1]:
        raise MotionlabError(f"{ckpt_path}: the BVH skeletons of '{feature}' differ (joints/parents of {trained.path} vs {evaluated.path}); {train_it}")
    a, b = trained.scaler(feature), evaluated.scaler(feature)
    same = (a is None and b is None) or (a is not None and b is not None and np.allclose(a.mean, b.mean) and np.allclose(a.scale, b.scale))
    if not same:
        raise MotionlabError(
            f"{ckpt_path}: '{feature}' is standardised differently in the network's data ({trained.scaler_path(feature)}) and the evaluated data "
            f"({evaluated.scaler_path(feature)}), so the network would see other units; evaluate in the network's scaled space or {train_it}"
        )


def _skeleton(folder: DataFolder, meta: dict):
    """(joint names, parents) of a BVH feature's pipeline, None for other features."""
    name = meta["settings"].get("pipeline")
    if meta.get("kind") != "motion" or not name:
        return None
    sk = folder.pipeline(meta["feature"]).skeleton
    return list(sk.names), [int(p) for p in sk.parents]


# ------------------------------------------------------------------------------------ windows


def cut_windows(features, window: int, hop: int, *, dim: int | None = None, skip_short: bool = False) -> np.ndarray:
    """(N, window, D) float32 windows every ``hop`` frames of one (T, D) array or a list of them, in order."""
    if window < 1 or hop < 1:
        raise MotionlabError(f"windows: window and hop must be >= 1, got window {window}, hop {hop}")
    arrays = [features] if isinstance(features, (np.ndarray, torch.Tensor)) else list(features)
    out = []
    for i, a in enumerate(arrays):
        a = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float32)
        if a.ndim != 2 or (dim is not None and a.shape[1] != dim):
            want = f"(frames, {dim})" if dim is not None else "(frames, features)"
            raise MotionlabError(f"windows: sequence {i}: expected a {want} array, got shape {a.shape}")
        if a.shape[0] < window:
            if skip_short:
                continue
            raise MotionlabError(f"windows: sequence {i} has {a.shape[0]} frames, shorter than one window of {window} frames (pass skip_short=True to leave it out)")
        out.append(np.lib.stride_tricks.sliding_window_view(a, window, axis=0)[::hop].transpose(0, 2, 1))
    if not out:
        raise MotionlabError(f"windows: no sequence has a window of {window} frames ({len(arrays)} sequences, all shorter)")
    return np.ascontiguousarray(np.concatenate(out))


def _apply(model, expected: type, method: str, features, window, hop, skip_short: bool, batch_size: int) -> np.ndarray:
    if not isinstance(model, expected):
        raise MotionlabError(f"{method}: expected a {expected.__name__}, got {type(model).__name__} (load it with load_feature_network)")
    if window is not None and int(window) != model.window:
        raise MotionlabError(f"{method}: the network of '{model.feature}' was trained on {model.window}-frame windows, {window} were asked for")
    hop = max(1, model.window // 2) if hop is None else int(hop)
    windows = cut_windows(features, model.window, hop, dim=model.dim, skip_short=skip_short)
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            parts = [getattr(model, method)(torch.as_tensor(windows[i : i + batch_size], dtype=param.dtype, device=param.device)) for i in range(0, len(windows), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts).double().cpu().numpy()


def embed_windows(model: MotionAutoencoderModel, features, window: int | None = None, hop: int | None = None, *, skip_short: bool = False, batch_size: int = 256) -> np.ndarray:
    """Latent vectors (N, latent_dim) of the windows of ``features`` ((T, D) or a list; scaled space), for FGD."""
    return _apply(model, MotionAutoencoderModel, "encode", features, window, hop, skip_short, batch_size)


def classify_windows(model: StyleClassifierModel, features, window: int | None = None, hop: int | None = None, *, skip_short: bool = False, batch_size: int = 256) -> np.ndarray:
    """Speaker/style probabilities (N, n_speakers) of the windows of ``features``; columns follow ``model.data_spec.speaker_names``."""
    return _apply(model, StyleClassifierModel, "predict_proba", features, window, hop, skip_short, batch_size)


__all__ = ["KINDS", "load_feature_network", "train_command", "cut_windows", "embed_windows", "classify_windows"]
