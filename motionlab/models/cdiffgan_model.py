"""CdiffganModel: one stage of C-DiffGAN (Ahuja et al., ICCV 2023), continual few-shot personalisation.

The generator is Mix-StAGE's (:class:`MixStageModel`). Stage 1 trains it on the first style; every
later stage (``--source_checkpoint`` = the previous stage's checkpoint, whose weights also start
this stage through ``--pretrained_from``) adds one style from a few windows
(:class:`motionlab.datasets.continual_dataset.ContinualDataset`) and:

- trains only ``--trainable_modules`` of the generator (the discriminator always trains); the other
  modules are frozen *and kept in eval mode*, so their BatchNorm statistics do not drift (the
  original let them);
- keeps a frozen copy of the previous stage's generator (eval mode, not part of this model's
  weights: it is rebuilt from the source checkpoint, also on ``--resume``). With ``--replay pseudo``
  the older styles' windows in a batch get its outputs as targets (pseudo-alignment) and its
  cluster choices as cluster labels; with ``--replay real`` their ground truth;
- lets the discriminator and the adversarial term see only the newest style's windows;
- with ``--grounding_shift``: ``z_l`` = output of decoder block ``--shift_layer`` on the batch
  (targets as above); ``z*`` = a copy optimised alone (SGD, ``--shift_lr``, ``--shift_iterations``) so
  that the rest of the decoder reproduces the ground truth; a mask keeps the ``--shift_topk`` time
  steps where ``z*`` moved most; ``L_shift`` = mean(mask ⊙ (z* − block_l(z_{l−1}.detach()))²).

Normalisation from the first style (``--renorm_style``): inputs and outputs are z-normalised
inside the model with that style's train statistics (stored as buffers, so checkpoints carry
them); ``generate_window`` takes and returns the data folder's scaled features like any model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.mixstage_model import MixStageModel
from motionlab.models.modules.gesture import eval_mode
from motionlab.options import add_bool_option, add_list_option, bounded
from motionlab.utils.checkpoints import load_checkpoint
from motionlab.utils.errors import MotionlabError

#: Generator modules a later stage trains by default (the original: decoder, logits, cluster classifier,
#: pose style encoder, style embedding; "decoder" and "logits" are the mixture's body and head).
DEFAULT_TRAINABLE = ["mixture", "cluster_classifier", "pose_style_encoder", "style_embedding"]
GENERATOR_MODULES = ["audio_encoder", "unet", "pose_encoder", "pose_style_encoder", "style_embedding", "cluster_classifier", "mixture"]


def select_rows(batch: dict, rows: torch.Tensor) -> dict:
    """The batch restricted to ``rows`` (a bool mask over its first dimension): tensors and lists of tensors."""
    n = rows.shape[0]
    out = {}
    for key, value in batch.items():
        if isinstance(value, (list, tuple)):
            out[key] = [v[rows] if torch.is_tensor(v) and v.shape[:1] == (n,) else v for v in value]
        elif torch.is_tensor(value) and value.dim() and value.shape[0] == n:
            out[key] = value[rows]
        else:
            out[key] = value
    return out


def top_k_time_mask(distance: torch.Tensor, k: int) -> torch.Tensor:
    """(B, T) distances -> (B, T) float mask with exactly min(k, T) ones per row, at the largest distances."""
    k = min(int(k), distance.shape[1])
    mask = torch.zeros_like(distance)
    if k > 0:
        mask.scatter_(1, distance.topk(k, dim=1).indices, 1.0)
    return mask


class CdiffganModel(MixStageModel):
    """A C-DiffGAN stage: Mix-StAGE + frozen previous generator, pseudo-alignment replay, grounding shift (see the module docstring)."""

    @staticmethod
    def modify_commandline_options(parser, known):
        MixStageModel.modify_commandline_options(parser, known)
        nonneg = bounded(float, 0.0, what="a number")
        parser.add_argument("--source_checkpoint", default="", help="the previous stage's checkpoint: its generator, frozen, makes the replayed styles' targets ('' at stage 1)")
        add_list_option(parser, "--trainable_modules", str, DEFAULT_TRAINABLE, f"generator modules trained in a later stage ('all', or of {', '.join(GENERATOR_MODULES)})")
        add_bool_option(parser, "--grounding_shift", True, "the crossmodal grounding shift loss in later stages")
        parser.add_argument("--shift_layer", type=int, default=-1, help="decoder block whose output is shifted (negative: from the end)")
        parser.add_argument("--shift_iterations", type=bounded(int, 1, what="an integer"), default=100, help="SGD iterations of the activation optimisation")
        parser.add_argument("--shift_lr", type=bounded(float, 0.0, what="a number"), default=1000.0, help="SGD learning rate of the activation optimisation (the original: 1000)")
        parser.add_argument("--shift_topk", type=bounded(int, 1, what="an integer"), default=10, help="time steps the shift loss keeps (largest |z_l - z*|)")
        parser.add_argument("--shift_weight", type=nonneg, default=1.0, help="weight of the grounding shift loss")
        parser.add_argument("--renorm_style", default="", help="z-normalise inputs and outputs with this style's train statistics (the first style's, as the original; '' off)")
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        o = self.opt
        styles = list(getattr(o, "continual_styles", None) or [])
        if not styles:
            raise MotionlabError(f"model '{o.model}' is one stage of continual learning: train it with --dataset_name continual --continual_styles a,b,... (or `motionlab continual`)")
        unknown = [s for s in styles if s not in spec.speaker_names]
        if unknown:
            raise MotionlabError(f"--continual_styles: '{unknown[0]}' is not one of the data's styles ({', '.join(spec.speaker_names)})")
        self.styles = styles
        self.newest_id = list(spec.speaker_names).index(styles[-1])
        in_dim, out_dim = sum(self.input_dims), self.out_dim
        self.register_buffer("renorm_in_mean", torch.zeros(in_dim))
        self.register_buffer("renorm_in_std", torch.ones(in_dim))
        self.register_buffer("renorm_out_mean", torch.zeros(out_dim))
        self.register_buffer("renorm_out_std", torch.ones(out_dim))
        self._source = None
        self.frozen_modules = self._freeze() if o.source_checkpoint else []

    @classmethod
    def from_dataset(cls, opt, dataset):
        model = super().from_dataset(opt, dataset)
        style = getattr(model.opt, "renorm_style", "")
        if style:
            if not hasattr(dataset, "style_statistics"):
                raise MotionlabError(f"--renorm_style {style}: needs the 'continual' dataset (--dataset_name continual)")
            if style not in dataset.speaker_names:
                raise MotionlabError(f"--renorm_style: '{style}' is not one of the data's styles ({', '.join(dataset.speaker_names)})")
            stats = dataset.style_statistics(style)
            ins = [stats[n] for n in dataset.inputs]
            model.renorm_in_mean.copy_(torch.as_tensor(torch.cat([torch.as_tensor(m) for m, _ in ins])))
            model.renorm_in_std.copy_(torch.cat([torch.as_tensor(s) for _, s in ins]))
            model.renorm_out_mean.copy_(torch.as_tensor(stats[dataset.outputs[0]][0]))
            model.renorm_out_std.copy_(torch.as_tensor(stats[dataset.outputs[0]][1]))
        return model

    # ---- what a later stage trains -------------------------------------------------------------
    def _freeze(self) -> list[nn.Module]:
        chosen = list(self.opt.trainable_modules)
        if chosen == ["all"]:
            return []
        unknown = [m for m in chosen if m not in GENERATOR_MODULES]
        if unknown:
            raise MotionlabError(f"--trainable_modules: unknown module '{unknown[0]}' (choose from all, {', '.join(GENERATOR_MODULES)})")
        frozen = [getattr(self, name) for name in GENERATOR_MODULES if name not in chosen and getattr(self, name, None) is not None]
        for m in frozen:
            m.requires_grad_(False)
            m.eval()
        return frozen

    def train(self, mode: bool = True):
        """Frozen modules stay in eval mode: their BatchNorm statistics must not follow the new style."""
        super().train(mode)
        for m in self.frozen_modules:
            m.eval()
        return self

    def on_train_batch_start(self, batch, batch_idx):
        # Lightning restores each submodule's own mode after validation: make sure the frozen ones stay in eval
        for m in self.frozen_modules:
            if m.training:
                m.eval()

    def source_model(self) -> "CdiffganModel | None":
        """The previous stage's generator, frozen in eval mode (built from --source_checkpoint on first use)."""
        path = self.opt.source_checkpoint
        if not path:
            return None
        if self._source is None:
            ckpt = load_checkpoint(path, "--source_checkpoint (the previous stage's checkpoint)")
            theirs = list(((ckpt.get("hyper_parameters") or {}).get("opt") or {}).get("continual_styles") or [])
            if theirs != self.styles[: len(theirs)] or len(theirs) != len(self.styles) - 1:
                raise MotionlabError(
                    f"--source_checkpoint {path}: trained on styles {theirs or '(not a continual stage)'}, but this stage continues "
                    f"{self.styles[:-1]} with '{self.styles[-1]}': a stage starts from the stage before it in the same style sequence"
                )
            src = type(self)({**vars(self.opt), "source_checkpoint": ""}, self.data_spec)
            src.check_checkpoint_fits(ckpt)
            src.load_state_dict(ckpt["state_dict"])
            src.requires_grad_(False)
            src.eval()
            self._source = src  # not registered (see __setattr__): not saved, not trained, not switched to train mode
        if next(self._source.parameters()).device != self.device:
            self._source.to(self.device)
        return self._source

    def __setattr__(self, name, value):
        if name == "_source":  # the frozen copy is not a submodule (not saved, not trained, not switched to train mode)
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    # ---- normalisation from the first style ----------------------------------------------------
    def audio_features(self, window_inputs):
        x = torch.cat(list(window_inputs), dim=2)
        x = (x - self.renorm_in_mean) / self.renorm_in_std
        return self.audio_encoder(x, self.out_length)

    def real_motion(self, batch):
        return (batch["outputs"][0] - self.renorm_out_mean) / self.renorm_out_std

    def generate_window(self, window_inputs, speaker=None, force_generator=None, **cond):
        out = super().generate_window(window_inputs, speaker=speaker, force_generator=force_generator, **cond)[0]
        return [out * self.renorm_out_std + self.renorm_out_mean]

    def style_codes(self, motion_windows):
        return super().style_codes((motion_windows - self.renorm_out_mean) / self.renorm_out_std)

    # ---- a later stage's losses ----------------------------------------------------------------
    def _later_stage(self) -> bool:
        return self.training and len(self.styles) > 1

    def _newest_rows(self, s: torch.Tensor) -> torch.Tensor:
        return s == self.newest_id

    def loss_targets(self, batch, y, s):
        target, labels = super().loss_targets(batch, y, s)
        src = self.source_model() if self._later_stage() and getattr(self.opt, "replay", "pseudo") == "pseudo" else None
        old = ~self._newest_rows(s)
        if src is None or not old.any():
            return target, labels
        with torch.no_grad():
            pseudo, logits, _ = src._forward([x[old] for x in batch["inputs"]], s[old])
        target = target.clone()
        target[old] = pseudo
        if labels is not None and logits is not None:
            labels = labels.clone()
            labels[old] = logits.argmax(dim=1)
        return target, labels

    def adversarial_rows(self, batch, s):
        return self._newest_rows(s) if self._later_stage() else None

    def discriminator_loss(self, batch):
        if self._later_stage():
            s = self.batch_speakers(batch, batch["outputs"][0].device)
            batch = select_rows(batch, self._newest_rows(s))
        return super().discriminator_loss(batch)

    def extra_generator_terms(self, batch, features, target, logits):
        if not (self._later_stage() and self.opt.grounding_shift and self.opt.shift_weight > 0 and self.source_model() is not None):
            return {}
        # the whole batch, as the original: the newest style's windows toward their ground truth, the
        # replayed ones toward their targets (the previous generator's outputs with --replay pseudo)
        shift = self.grounding_shift(features, target, logits)
        return {"shift": (self.opt.shift_weight * shift, shift)}

    def grounding_shift(self, h: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None) -> torch.Tensor:
        """L_shift of decoder block l for decoder inputs ``h`` (B, C, T) and targets ``y`` (B, T, D) (see the module docstring)."""
        mix, o = self.mixture, self.opt
        blocks = list(mix.body)
        layer = o.shift_layer if o.shift_layer >= 0 else len(blocks) + o.shift_layer
        if not 0 <= layer < len(blocks):
            raise MotionlabError(f"--shift_layer {o.shift_layer}: the decoder has {len(blocks)} blocks (0..{len(blocks) - 1}, or negative from the end)")
        B, _, T = h.shape
        x = h.detach().repeat(1, mix.k, 1)
        with torch.no_grad():
            for block in blocks[:layer]:
                x = block(x)
        z = blocks[layer](x)  # the gradient of L_shift reaches block l only
        w = mix.weights(None if logits is None else logits.detach(), B, T, h.device, h.dtype)
        rest = blocks[layer + 1 :]

        def decode(zz):
            for block in rest:
                zz = block(zz)
            return (mix.head(zz).view(B, mix.k, mix.out_dim, T) * w.unsqueeze(2)).sum(dim=1).transpose(1, 2)

        z_star = z.detach().clone()
        with eval_mode(*rest, mix.head), torch.enable_grad():
            for _ in range(o.shift_iterations):
                z_star.requires_grad_(True)
                loss = F.l1_loss(decode(z_star), y.detach())
                (grad,) = torch.autograd.grad(loss, z_star)
                z_star = (z_star - o.shift_lr * grad).detach()
        mask = top_k_time_mask((z.detach() - z_star).abs().mean(dim=1), o.shift_topk)
        return (mask.unsqueeze(1) * (z_star - z) ** 2).mean()
