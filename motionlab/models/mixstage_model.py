"""MixStageModel: Mix-StAGE (Ahuja et al., ECCV 2020), style-conditioned gestures from a mixture of generators.

Generator (specs/gesture-systems.md §1): content = ``UNet1D(AudioEncoder2D(audio))`` (B, 256, T); a
style id -> ``Embedding(n_styles, --style_dim)`` concatenated per frame; a ``ClusterClassifier`` gives
per-frame logits of the K pose clusters (K = ``--pose_clusters``, the k-means clusters of the data
folder, the paper: 8) and a ``MixtureOfGenerators`` (K decoders in one grouped conv) mixes their
outputs by the softmax of those logits.

Where the style comes from: in training the ``PoseStyleEncoder`` reads the ground-truth window and
its argmax picks the embedding (as the original); in validation, test and generation the given
``speaker`` (an index into ``data_spec.speaker_names``) does — generation refuses to guess it.

Curriculum: during the first ``--curriculum_steps`` generator steps, with probability 1 − i/N the
content comes from a ``PoseEncoder`` of the ground truth instead of the audio.

Loss of a G step: λ_l1 L1 + λ_gan adversarial + ``--cluster_weight`` CE(cluster logits, k-means labels
``batch["pose_cluster"]``) + ``--id_in_weight`` CE(PSE(y), s) + ``--id_out_weight`` CE(PSE(ŷ), s) with
the style encoder frozen for the last term.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.modules.gesture import ClusterClassifier, MixtureOfGenerators, PoseEncoder, PoseStyleEncoder, frozen_batch_stats
from motionlab.models.modules.gesture_mixture import MixtureGestureModel
from motionlab.options import add_list_option, bounded
from motionlab.utils.errors import MotionlabError


class MixStageModel(MixtureGestureModel):
    """Mix-StAGE: Speech2Gesture's encoder + style embedding + K generators mixed by pose-cluster logits (K = --pose_clusters)."""

    @staticmethod
    def modify_commandline_options(parser, known):
        MixtureGestureModel.modify_commandline_options(parser, known)
        nonneg = bounded(float, 0.0, what="a number")
        parser.add_argument("--style_dim", type=bounded(int, 1, what="an integer"), default=10, help="size of the style embedding concatenated to every frame (the paper: 10)")
        add_list_option(parser, "--style_channels", int, [64, 64, 128, 128, 256, 256], "channels of the pose style encoder's conv blocks (the first keeps the length, the rest halve it)")
        parser.add_argument("--id_in_weight", type=nonneg, default=0.1, help="weight of CE(style encoder(ground truth), speaker)")
        parser.add_argument("--id_out_weight", type=nonneg, default=0.1, help="weight of CE(frozen style encoder(generated), speaker)")
        parser.add_argument("--train_style", default="pose_style_encoder", choices=["pose_style_encoder", "speaker"], help="style id of a training window: the argmax of the pose style encoder on its ground truth (the original) or its speaker label")
        return parser

    def build_decoder(self) -> None:
        o, spec = self.opt, self.data_spec
        if spec.num_speakers < 1:
            raise MotionlabError(
                f"model '{o.model}' is conditioned on a speaker/style, but the data in {getattr(o, 'data_dir', '?')} has no speakers.json "
                f"(sequence id -> speaker/style label); add one, or train speech2gesture (no style)"
            )
        self.k = self.num_generators()
        channels = list(o.style_channels)
        if not channels or min(channels) < 1:
            raise MotionlabError(f"--style_channels: expected a non-empty list of positive integers, got {channels}")
        self.pose_encoder = PoseEncoder(self.out_dim, o.hidden_channels, layers=o.pose_encoder_layers, norm=o.conv_norm)
        self.pose_style_encoder = PoseStyleEncoder(self.out_dim, spec.num_speakers, self.out_length, channels, norm=o.conv_norm)
        self.style_embedding = nn.Embedding(spec.num_speakers, o.style_dim)
        joint = o.hidden_channels + o.style_dim
        self.cluster_classifier = ClusterClassifier(joint, self.k, hidden=o.decoder_channels, layers=o.cluster_layers, norm=o.conv_norm) if self.k > 1 else None
        self.mixture = MixtureOfGenerators(joint, self.out_dim, self.k, hidden=o.decoder_channels, layers=o.decoder_layers, norm=o.conv_norm)

    def uses_speakers(self) -> bool:
        return True

    # ---- the generator ------------------------------------------------------------------------
    def style_ids(self, speaker, batch_size: int, device) -> torch.Tensor:
        """``speaker`` (int or (B,) ints) -> LongTensor (B,), checked against the model's styles."""
        names = list(self.data_spec.speaker_names)
        if speaker is None:
            raise MotionlabError(f"model '{self.opt.model}' generates in a given style: pass a speaker/style (--style <label>; known: {', '.join(names)})")
        s = torch.as_tensor(speaker, device=device).long().reshape(-1)
        if s.numel() == 1:
            s = s.expand(batch_size)
        if s.numel() != batch_size:
            raise MotionlabError(f"model '{self.opt.model}': {s.numel()} speaker ids for a batch of {batch_size}")
        bad = s[(s < 0) | (s >= len(names))]
        if bad.numel():
            raise MotionlabError(f"model '{self.opt.model}': speaker/style id {int(bad[0])} is not one of its {len(names)} styles (0..{len(names) - 1}: {', '.join(names)})")
        return s

    def _forward(self, window_inputs, style: torch.Tensor, *, pose: torch.Tensor | None = None, force: int | None = None, features: list | None = None):
        """(output (B, L, D), cluster logits (B, K, L) or None, weights (B, K, L)); ``features``, a list, receives the decoders' input (B, C, L)."""
        content = self.pose_encoder(pose.transpose(1, 2)) if pose is not None else self.audio_features(window_inputs)
        h = self.unet(content)
        h = torch.cat([h, self.style_embedding(style)[:, :, None].expand(-1, -1, h.shape[2])], dim=1)
        if features is not None:
            features.append(h)
        logits = self.cluster_classifier(h) if self.cluster_classifier is not None else None
        out, _, w = self.mixture(h, logits, force=force)
        return out.transpose(1, 2), logits, w

    def generate_window(self, window_inputs, speaker=None, force_generator: int | None = None, **cond):
        """Audio windows + style ids -> [(B, L_out, D)]; ``force_generator=k`` uses generator k alone."""
        B = window_inputs[0].shape[0]
        out, _, _ = self._forward(window_inputs, self.style_ids(speaker, B, window_inputs[0].device), force=force_generator)
        return [out]

    def mixture_weights(self, window_inputs, speaker) -> torch.Tensor:
        """(B, L_out, K) weights of the generators per frame (softmax of the cluster logits; they sum to one)."""
        B = window_inputs[0].shape[0]
        _, _, w = self._forward(window_inputs, self.style_ids(speaker, B, window_inputs[0].device))
        return w.transpose(1, 2)

    def style_codes(self, motion_windows: torch.Tensor) -> torch.Tensor:
        """(B, L_out, D) real motion windows -> (B, n_styles): the pose style encoder's logits (the learned style space)."""
        if motion_windows.dim() != 3 or tuple(motion_windows.shape[1:]) != (self.out_length, self.out_dim):
            raise MotionlabError(f"model '{self.opt.model}': style_codes expects motion windows (B, {self.out_length}, {self.out_dim}), got {tuple(motion_windows.shape)}")
        return self.pose_style_encoder(motion_windows)

    # ---- training -------------------------------------------------------------------------------
    def batch_speakers(self, batch, device) -> torch.Tensor:
        if "speaker" not in batch:
            raise MotionlabError(f"model '{self.opt.model}': the batch has no 'speaker' (the data folder needs a speakers.json)")
        return self.style_ids(batch["speaker"], self.batch_size_of(batch), device)

    def generate_fake(self, batch):
        y = self.real_motion(batch)
        return self._forward(batch["inputs"], self.batch_speakers(batch, y.device))[0]

    def loss_targets(self, batch, y: torch.Tensor, s: torch.Tensor):
        """(motion targets (B, L, D), per-frame cluster labels (B, L) or None) of a G step: the ground truth here."""
        return y, (self.cluster_labels(batch, y.device) if self.cluster_classifier is not None else None)

    def adversarial_rows(self, batch, s: torch.Tensor) -> torch.Tensor | None:
        """Rows of the batch the adversarial term sees (None: all)."""
        return None

    def extra_generator_terms(self, batch, features: torch.Tensor, target: torch.Tensor, logits) -> dict:
        """Further weighted loss terms of a G step (subclasses), given the decoders' input and the targets."""
        return {}

    def generator_loss(self, batch):
        o = self.opt
        real = self.real_motion(batch)
        s = self.batch_speakers(batch, real.device)
        y, labels = self.loss_targets(batch, real, s)
        pse_y = self.pose_style_encoder(y)
        if self.training:
            style = pse_y.argmax(dim=1) if o.train_style == "pose_style_encoder" else s
            pose = y if self.use_curriculum() else None
        else:
            style, pose = s, None
        features: list = []
        # curriculum content (the ground-truth pose) never reaches eval mode: keep it out of the running statistics
        with frozen_batch_stats(self.unet, self.cluster_classifier, self.mixture) if pose is not None else contextlib.nullcontext():
            fake, logits, _ = self._forward(batch["inputs"], style, pose=pose, features=features)
        l1 = F.l1_loss(fake, y)
        rows = self.adversarial_rows(batch, s)
        adv_w, adv = self.adversarial_term(fake if rows is None else fake[rows])
        id_in = F.cross_entropy(pse_y, s)
        frozen = {n: p.detach() for n, p in self.pose_style_encoder.named_parameters()}
        with frozen_batch_stats(self.pose_style_encoder):  # its running statistics describe real motion (style_codes)
            id_out = F.cross_entropy(torch.func.functional_call(self.pose_style_encoder, frozen, (fake,)), s)
        loss = o.lambda_l1 * l1 + adv_w + o.id_in_weight * id_in + o.id_out_weight * id_out
        terms = {"l1": l1.detach(), "adv": adv.detach(), "id_in": id_in.detach(), "id_out": id_out.detach()}
        if logits is not None:
            ce = F.cross_entropy(logits, labels)
            loss = loss + o.cluster_weight * ce
            terms["cluster_ce"] = ce.detach()
        if pose is None:
            for name, (weighted, raw) in self.extra_generator_terms(batch, features[0], y, logits).items():
                loss = loss + weighted
                terms[name] = raw.detach()
        if self.training:
            terms["curriculum"] = torch.tensor(float(pose is not None))
        return loss, terms
