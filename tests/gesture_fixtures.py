"""Helpers of the gesture-GAN tests, and probe models loaded with ``--plugins gesture_fixtures``.

``tiny_model(name)`` builds a gesture GAN at demo size from a hand-made DataSpec (no data folder);
``batch(...)`` makes a matching batch, with ``pose_cluster`` labels as the dataset gives them.
The probe models record what each training iteration changed (``ProbeSpeech2GestureModel``), the
optimiser state right after a resume (``ResumeProbeSpeech2GestureModel``) or write each DDP rank's
parameters (``RankDumpMixStageModel``, as .npz).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from motionlab.dataspec import DataSpec
from motionlab.models import find_model_using_name
from motionlab.models.mixstage_model import MixStageModel
from motionlab.models.speech2gesture_model import Speech2GestureModel
from motionlab.training.options import parse_options

SPEAKERS = ("spk_a", "spk_b", "spk_c")
L, A_DIM, M_DIM = 32, 16, 12


def tiny_options(name: str, *extra, pose_clusters: int | None = 3):
    opt = parse_options(["--hparams_file", "demo/speech2gesture", "--model", name, "--no-progress_bar", *extra])
    if pose_clusters is not None:
        opt.pose_clusters = pose_clusters  # the dataset's option; models only read it
    return opt


def tiny_spec(speakers=SPEAKERS) -> DataSpec:
    return DataSpec(("demo_audio",), ("demo_motion",), (A_DIM,), (M_DIM,), 20.0, tuple(speakers))


def tiny_model(name: str, *extra, speakers=SPEAKERS, pose_clusters: int | None = 3, seed: int = 0):
    torch.manual_seed(seed)
    return find_model_using_name(name)(tiny_options(name, *extra, pose_clusters=pose_clusters), tiny_spec(speakers))


def batch(B: int = 4, k: int = 3, seed: int = 0, with_clusters: bool = True) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {"inputs": [torch.randn(B, L, A_DIM, generator=g)], "outputs": [torch.randn(B, L, M_DIM, generator=g)], "speaker": torch.arange(B) % len(SPEAKERS)}
    if with_clusters:
        out["pose_cluster"] = torch.randint(0, k, (B, L), generator=g)
    return out


def _params(model) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


class ProbeSpeech2GestureModel(Speech2GestureModel):
    """Records, per training iteration: was it a D step, and which parameters and BatchNorm buffers changed."""

    records: list = []

    def on_train_batch_start(self, batch, batch_idx):
        self._before = (_params(self), {k: v.clone() for k, v in self.named_buffers() if "running_mean" in k}, self.is_discriminator_step())

    def on_train_batch_end(self, outputs, batch, batch_idx):
        params, buffers, d_step = self._before
        changed = {k for k, v in self.named_parameters() if not torch.equal(v.detach(), params[k])}
        moved = {k for k, v in self.named_buffers() if k in buffers and not torch.equal(v, buffers[k])}
        type(self).records.append({"d_step": d_step, "changed": changed, "buffers": moved, "all": set(params)})


class ResumeProbeSpeech2GestureModel(Speech2GestureModel):
    """Keeps the optimisers' state and the counters as they are when training (re)starts."""

    at_start: dict = {}

    def on_train_start(self):
        opts = self.optimizers()
        type(self).at_start = {
            "optimizers": [{k: {n: (t.clone() if torch.is_tensor(t) else t) for n, t in s.items()} for k, s in o.optimizer.state_dict()["state"].items()} for o in opts],
            "counters": (self.gan_iteration, self.g_steps, self.d_steps),
            "lr": [o.optimizer.param_groups[0]["lr"] for o in opts],
        }


class RankDumpMixStageModel(MixStageModel):
    """Mix-StAGE that writes its parameters to <experiment>/rank<r>_params.npz when training ends."""

    def on_train_end(self):
        exp = Path(self.opt.experiments_dir) / self.opt.experiment_name
        rank = int(os.environ.get("LOCAL_RANK", self.global_rank))
        np.savez(exp / f"rank{rank}_params.npz", **{k: v.detach().cpu().numpy() for k, v in self.named_parameters()})
