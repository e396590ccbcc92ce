"""MixtureGestureModel: the Speech2Gesture family with a mixture of K pose decoders chosen per frame by
pose clusters (specs/gesture-systems.md §1), shared by Mix-StAGE/StAGE/C-DiffGAN and CC-NCE.

What lives here is what those models have in common and Speech2Gesture lacks: K = ``--pose_clusters``
generators mixed by a cluster classifier trained on the data folder's k-means labels
(``--cluster_weight``), and the curriculum that, during the first ``--curriculum_steps`` generator
steps, sometimes takes the content from a ``PoseEncoder`` of the ground truth instead of the audio.
"""

from __future__ import annotations

import numpy as np
import torch

from motionlab.models.speech2gesture_model import Speech2GestureModel
from motionlab.options import bounded
from motionlab.utils.errors import MotionlabError


class MixtureGestureModel(Speech2GestureModel):
    """Speech2Gesture + per-frame mixture of K generators (K = --pose_clusters) + ground-truth-pose curriculum."""

    @staticmethod
    def modify_commandline_options(parser, known):
        Speech2GestureModel.modify_commandline_options(parser, known)
        nonneg = bounded(float, 0.0, what="a number")
        parser.add_argument("--cluster_layers", type=bounded(int, 0, what="an integer"), default=5, help="hidden conv blocks of the cluster classifier")
        parser.add_argument("--cluster_weight", type=nonneg, default=1.0, help="weight of the cross-entropy of the cluster logits against the k-means labels")
        parser.add_argument("--curriculum_steps", type=bounded(int, 0, what="an integer"), default=1000, help="generator steps during which the content may come from the ground-truth pose (probability 1 - i/N; 0: off)")
        parser.add_argument("--pose_encoder_layers", type=bounded(int, 1, what="an integer"), default=2, help="conv blocks of the curriculum's pose encoder")
        return parser

    def num_generators(self) -> int:
        k = int(getattr(self.opt, "pose_clusters", 0) or 0)
        if k < 1:
            raise MotionlabError(f"model '{self.opt.model}' has one generator per pose cluster: set --pose_clusters K (the paper: 8), which also gives the dataset the per-frame k-means labels")
        return k

    def use_curriculum(self) -> bool:
        """During the first N generator steps: True with probability 1 − i/N (seeded by (--seed, i): the same on every rank)."""
        n, i = self.opt.curriculum_steps, self.g_steps
        if not self.training or n <= 0 or i >= n:
            return False
        return bool(np.random.default_rng([int(self.opt.seed) % (2**32), i, 0xC0DE]).random() < 1.0 - i / n)

    def cluster_labels(self, batch, device) -> torch.Tensor:
        """(B, L_out) k-means labels of the batch's output frames, checked against the K generators."""
        labels = batch.get("pose_cluster")
        if labels is None:
            raise MotionlabError(
                f"model '{self.opt.model}' with {self.k} generators learns which one to use from the per-frame pose clusters, but the batch has no "
                f"'pose_cluster': set --pose_clusters {self.k} so the dataset looks them up (the data folder needs its k-means clusters)"
            )
        labels = torch.as_tensor(labels, device=device).long()
        expected = (self.batch_size_of(batch), self.out_length)
        if tuple(labels.shape) != expected:
            raise MotionlabError(f"model '{self.opt.model}': pose_cluster labels of shape {tuple(labels.shape)}, expected {expected} (one per output frame)")
        if labels.min() < 0 or labels.max() >= self.k:
            raise MotionlabError(f"model '{self.opt.model}': pose_cluster labels in [{int(labels.min())}, {int(labels.max())}] but the model has {self.k} generators (--pose_clusters {self.k})")
        return labels
