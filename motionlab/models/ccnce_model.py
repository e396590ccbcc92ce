"""CcnceModel: CC-NCE (Lee, Ahuja & Morency, GENEA @ ICMI 2021), gestures grounded in speech and words.

Generator (specs/gesture-systems.md §2), on the gesture-GAN family's blocks:

- encoder: the 2-D conv audio encoder gives (B, C, L) frames; with ``--text_encoder learned|minilm``
  the window's sub-word tokens (the ``text_wordpiece_<fps>fps`` input, at the motion frame rate) are
  embedded (:class:`TextTokenEncoder`) and each audio frame attends only to the token(s) spoken
  during it (:class:`TextAudioFusion`, the mask per sample). During the first ``--curriculum_steps``
  generator steps the encoder input sometimes comes from a pose encoder of the ground truth instead;
- joint space: x + N(0, ``--contrastive_noise``²) in training → the U-Net → z, L2-normalised over
  channels (the space the contrastive term shapes);
- decoder: Mix-StAGE's mixture of K = ``--pose_clusters`` generators on z (no style branch).

Loss of a G step: λ_l1 L1 + λ_gan adversarial + ``--cluster_weight`` CE(cluster logits, k-means labels)
+ ``--contrastive_weight`` · the contrastive term (``--contrastive ccnce|moco|patchnce|none``, see
:mod:`motionlab.models.modules.contrastive`), the latter only on the multimodal (not curriculum) path
and only in training (the dictionary is not touched by validation).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.modules.contrastive import CONTRASTIVE_KINDS, ClusteredContrastiveLoss, MomentumContrastLoss, patch_nce_loss
from motionlab.models.modules.gesture import ClusterClassifier, MixtureOfGenerators, PoseEncoder, frozen_batch_stats
from motionlab.models.modules.gesture_mixture import MixtureGestureModel
from motionlab.models.modules.text_encoder import TextTokenEncoder, add_text_encoder_options, check_vocabulary
from motionlab.models.modules.text_fusion import TextAudioFusion, window_tokens
from motionlab.options import add_bool_option, bounded
from motionlab.utils.errors import MotionlabError


class CcnceModel(MixtureGestureModel):
    """CC-NCE: audio (+ words through a frame-to-word attention) -> contrastive joint space -> mixture of generators."""

    selection_term = "l1"

    @staticmethod
    def modify_commandline_options(parser, known):
        MixtureGestureModel.modify_commandline_options(parser, known)
        add_text_encoder_options(parser)
        nonneg = bounded(float, 0.0, what="a number")
        pos = bounded(int, 1, what="an integer")
        parser.add_argument("--text_modality", default="", help="the input modality holding the word tokens ('': the input named text_wordpiece_* (MiniLM's sub-words) or text_words_* (the folder's word vocabulary, for --text_encoder learned without the text extra)); ignored with --text_encoder none")
        parser.add_argument("--fusion_heads", type=pos, default=8, help="attention heads of the frame-to-word transformer decoder")
        parser.add_argument("--fusion_layers", type=pos, default=2, help="layers of the frame-to-word transformer decoder")
        parser.add_argument("--fusion_dropout", type=bounded(float, 0.0, 1.0, what="a number"), default=0.1, help="dropout in the frame-to-word transformer decoder")
        parser.add_argument("--contrastive", default="ccnce", choices=list(CONTRASTIVE_KINDS), help="contrastive term on the joint space: ccnce (the paper), moco, patchnce (ablations) or none")
        parser.add_argument("--contrastive_weight", type=nonneg, default=1.0, help="weight of the contrastive term")
        parser.add_argument("--contrastive_noise", type=nonneg, default=0.1, help="std of the Gaussian noise added to the encoder output before the U-Net in training")
        parser.add_argument("--contrastive_temperature", type=bounded(float, 1e-6, what="a number"), default=0.1, help="temperature of the contrastive logits")
        parser.add_argument("--ccnce_objective", default="bce", choices=["bce", "infonce"], help="BCE over positives/negatives (the original) or multi-positive InfoNCE")
        parser.add_argument("--ccnce_similarity", default="dot", choices=["dot", "dtw"], help="pose-space similarity of the in-batch clustering: z-normed dot product or minus soft-DTW")
        parser.add_argument("--ccnce_dtw_gamma", type=bounded(float, 1e-6, what="a number"), default=1.0, help="soft-DTW smoothing")
        parser.add_argument("--ccnce_max_clusters", type=pos, default=8, help="bound of the global cluster dictionary (the least recently used cluster is replaced)")
        parser.add_argument("--ccnce_members", type=pos, default=20, help="members kept per global cluster (the last ones)")
        parser.add_argument("--ccnce_threshold_epoch", type=bounded(int, 0, what="an integer"), default=1, help="epoch (from 0) whose batch similarities set the clustering threshold (mean + std); the loss starts the epoch after")
        add_bool_option(parser, "--ccnce_clear_on_validation", False, "empty the global dictionary at every validation (the original did)")
        parser.add_argument("--moco_queue", type=pos, default=1024, help="--contrastive moco: keys kept as negatives")
        parser.add_argument("--moco_momentum", type=bounded(float, 0.0, 1.0, what="a number"), default=0.999, help="--contrastive moco: momentum of the key encoder")
        return parser

    # ---- which input is the text -----------------------------------------------------------------
    def text_input(self) -> int | None:
        """Index of the word-token input modality, None without a text encoder."""
        o = self.opt
        if getattr(o, "text_encoder", "none") == "none":
            return None
        names = list(self.input_modalities)
        wanted = o.text_modality or next((n for n in names if n.startswith(("text_wordpiece", "text_words"))), None)
        if wanted is None or wanted not in names:
            raise MotionlabError(
                f"model '{o.model}' with --text_encoder {o.text_encoder} reads word tokens, but no input modality is "
                f"{repr(wanted) if wanted else 'a text_wordpiece_<fps>fps or text_words_<fps>fps feature'} (inputs: {names}); run `motionlab extract text` and add it to --input_modalities"
            )
        return names.index(wanted)

    def audio_inputs(self) -> list[int]:
        text = self.text_input()
        return [i for i in range(len(self.input_dims)) if i != text and not (text is None and self.input_modalities[i].startswith("text_"))]

    # ---- the tokenizer the text features were made with ------------------------------------------------
    @classmethod
    def from_dataset(cls, opt, dataset):
        model = super().from_dataset(opt, dataset)
        model.text_vocabulary = model.folder_vocabulary(dataset.folder)
        return model

    def folder_vocabulary(self, folder) -> dict | None:
        """{'tokenizer', 'size', 'hash'} of the data folder's word-token feature (None without text), checked against the text encoder."""
        t = self.text_input()
        if t is None:
            return None
        name = self.input_modalities[t]
        settings = (folder.meta(name) or {}).get("settings") or {}
        record = {k: settings.get(k) for k in ("tokenizer", "size", "hash")}
        if self.opt.text_encoder == "minilm":
            check_vocabulary(settings, "minilm", feature=str(folder.meta_path(name)))
        elif record["size"] is not None and int(record["size"]) > self.text_encoder.vocab_size:
            raise MotionlabError(f"{folder.meta_path(name)}: a vocabulary of {record['size']} tokens, but the learned text embedding has {self.text_encoder.vocab_size}")
        return record

    def check_data_folder(self, folder) -> None:
        """Refuse word tokens made by another tokenizer than the one this model trained with (ids would mean other words)."""
        record = self.folder_vocabulary(folder)
        mine = getattr(self, "text_vocabulary", None)
        if record is not None and mine and (record.get("hash"), record.get("size")) != (mine.get("hash"), mine.get("size")):
            name = self.input_modalities[self.text_input()]
            raise MotionlabError(
                f"{folder.meta_path(name)}: word tokens of tokenizer {record.get('tokenizer')} (size {record.get('size')}, hash {record.get('hash')}), "
                f"but model '{self.opt.model}' was trained on {mine.get('tokenizer')} (size {mine.get('size')}, hash {mine.get('hash')}); re-run `motionlab extract text` with the model's tokenizer"
            )

    def on_save_checkpoint(self, checkpoint):
        super().on_save_checkpoint(checkpoint)
        checkpoint["text_vocabulary"] = getattr(self, "text_vocabulary", None)

    def on_load_checkpoint(self, checkpoint):
        super().on_load_checkpoint(checkpoint)
        theirs, mine = checkpoint.get("text_vocabulary"), getattr(self, "text_vocabulary", None)
        if theirs and mine and (theirs.get("hash"), theirs.get("size")) != (mine.get("hash"), mine.get("size")):
            raise MotionlabError(f"model '{self.opt.model}': the checkpoint was trained on word tokens of {theirs}, the data folder's are {mine}; re-run `motionlab extract text` with the checkpoint's tokenizer")
        self.text_vocabulary = theirs or mine

    # ---- networks ----------------------------------------------------------------------------------
    def build_decoder(self) -> None:
        o, C = self.opt, self.opt.hidden_channels
        self.k = self.num_generators()
        t = self.text_input()
        if t is not None:
            if self.input_dims[t] != 2:
                raise MotionlabError(f"--text_modality {self.input_modalities[t]}: expected per-frame [token_id, token_index] (2 features), got {self.input_dims[t]}")
            if self.spec.input_lengths[t] != self.out_length or self.spec.input_offsets[t] != self.spec.output_offsets[0]:
                raise MotionlabError(
                    f"model '{o.model}': the text window must cover the output frames (length {self.out_length}, offset {self.spec.output_offsets[0]}), "
                    f"got length {self.spec.input_lengths[t]}, offset {self.spec.input_offsets[t]} (--input_lengths / --input_time_offsets)"
                )
            width = o.text_dim or C
            self.text_encoder = TextTokenEncoder(o.text_encoder, width, o.text_encoder_lr)
            self.text_projection = nn.Linear(width, C) if width != C else nn.Identity()
            self.fusion = TextAudioFusion(C, o.fusion_heads, o.fusion_layers, dropout=o.fusion_dropout, norm=o.conv_norm)
        else:
            self.text_encoder = self.fusion = None
        self.pose_encoder = PoseEncoder(self.out_dim, C, layers=o.pose_encoder_layers, norm=o.conv_norm)
        self.cluster_classifier = ClusterClassifier(C, self.k, hidden=o.decoder_channels, layers=o.cluster_layers, norm=o.conv_norm) if self.k > 1 else None
        self.mixture = MixtureOfGenerators(C, self.out_dim, self.k, hidden=o.decoder_channels, layers=o.decoder_layers, norm=o.conv_norm)
        kind = o.contrastive
        if kind == "ccnce":
            self.contrastive = ClusteredContrastiveLoss(
                temperature=o.contrastive_temperature, objective=o.ccnce_objective, similarity=o.ccnce_similarity, dtw_gamma=o.ccnce_dtw_gamma,
                max_clusters=o.ccnce_max_clusters, members=o.ccnce_members, threshold_epoch=o.ccnce_threshold_epoch, seed=o.seed,
            )
        elif kind == "moco":
            self.contrastive = MomentumContrastLoss(self.unet, C, queue=o.moco_queue, momentum=o.moco_momentum, temperature=o.contrastive_temperature, noise=o.contrastive_noise)
        else:
            self.contrastive = None

    def generator_parameters(self) -> list:
        """Parameter groups: MiniLM (when fine-tuned) at --text_encoder_lr, everything else of the generator at the base rate."""
        params = super().generator_parameters()
        if self.text_encoder is None or self.text_encoder.transformer is None:
            return params
        text = {id(p) for p in self.text_encoder.transformer.parameters()}
        groups = [{"params": [p for p in params if id(p) not in text]}]
        tuned = [p for p in params if id(p) in text]
        if tuned:
            groups.append({"params": tuned, "lr": self.opt.text_encoder_lr})
        return groups

    # ---- the generator ------------------------------------------------------------------------------
    def encode(self, window_inputs) -> torch.Tensor:
        """Input windows -> (B, C, L_out): audio features, fused with the words spoken in each frame when there is text."""
        audio = self.audio_features(window_inputs)
        if self.fusion is None:
            return audio
        ids, padding, frame_slot = window_tokens(window_inputs[self.text_input()])
        tokens = self.text_projection(self.text_encoder(ids, padding))
        return self.fusion(audio, tokens, padding, frame_slot)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output (B, C, L) -> z, the U-Net's output L2-normalised over channels (noise added in training)."""
        if self.training and self.opt.contrastive_noise > 0:
            x = x + self.opt.contrastive_noise * torch.randn_like(x)
        return F.normalize(self.unet(x), dim=1)

    def decode(self, z: torch.Tensor, force: int | None = None):
        """z (B, C, L) -> (output (B, L, D), cluster logits (B, K, L) or None)."""
        logits = self.cluster_classifier(z) if self.cluster_classifier is not None else None
        out, _, _ = self.mixture(z, logits, force=force)
        return out.transpose(1, 2), logits

    def generate_window(self, window_inputs, speaker=None, force_generator: int | None = None, **cond):
        """Audio (+ word-token) windows -> [(B, L_out, D)]; no style input (``speaker`` is ignored)."""
        return [self.decode(self.embed(self.encode(window_inputs)), force=force_generator)[0]]

    def generate_fake(self, batch):
        return self.generate_window(batch["inputs"])[0]

    # ---- training -------------------------------------------------------------------------------------
    def contrastive_term(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        kind = self.opt.contrastive
        if kind == "ccnce":
            def encode(stored):  # dictionary members through the current U-Net, their statistics kept out of the running ones
                with frozen_batch_stats(self.unet):
                    return F.normalize(self.unet(stored), dim=1)

            return self.contrastive(x.detach(), z, y, encode, self.current_epoch)
        if kind == "moco":
            return self.contrastive(x.detach(), z, self.unet)
        if kind == "patchnce":
            with frozen_batch_stats(self.pose_encoder, self.unet):
                key = F.normalize(self.unet(self.pose_encoder(y.transpose(1, 2))), dim=1)
            return patch_nce_loss(z, key, self.opt.contrastive_temperature), {}
        return z.sum() * 0.0, {}

    def generator_loss(self, batch):
        o = self.opt
        y = self.real_motion(batch)
        labels = self.cluster_labels(batch, y.device) if self.cluster_classifier is not None else None
        pose = y if self.use_curriculum() else None
        # curriculum content (the ground-truth pose) never reaches eval mode: keep it out of the running statistics
        with frozen_batch_stats(self.unet, self.cluster_classifier, self.mixture) if pose is not None else contextlib.nullcontext():
            x = self.pose_encoder(pose.transpose(1, 2)) if pose is not None else self.encode(batch["inputs"])
            z = self.embed(x)
            fake, logits = self.decode(z)
        l1 = F.l1_loss(fake, y)
        adv_w, adv = self.adversarial_term(fake)
        loss = o.lambda_l1 * l1 + adv_w
        terms = {"l1": l1.detach(), "adv": adv.detach()}
        if logits is not None:
            ce = F.cross_entropy(logits, labels)
            loss = loss + o.cluster_weight * ce
            terms["cluster_ce"] = ce.detach()
        if self.training and pose is None and o.contrastive != "none":
            c, stats = self.contrastive_term(x, z, y)
            loss = loss + o.contrastive_weight * c
            terms["contrastive"] = c.detach()
            terms.update({f"ccnce_{k}": v for k, v in stats.items()})
        elif self.training and isinstance(self.contrastive, ClusteredContrastiveLoss):
            self.contrastive.observe(y, self.current_epoch)  # curriculum steps still count for the threshold statistics
        if self.training:
            terms["curriculum"] = torch.tensor(float(pose is not None))
        return loss, terms

    def on_validation_start(self):
        if self.opt.ccnce_clear_on_validation and isinstance(self.contrastive, ClusteredContrastiveLoss):
            self.contrastive.clear()
