"""SdtModel: Speech Drives Templates (Qian et al. 2021), a Speech2Gesture generator with a template.

The generator is :class:`Speech2GestureModel`'s (2-D audio encoder, 1-D U-Net, pose decoder) with a
``--template_dim`` (32) code concatenated to the U-Net's features at every frame before the pose
decoder: the template carries what the audio cannot decide (which of several plausible gesture
modes), so L1 to the ground truth stops averaging the modes. No discriminator (spec §3): the loss is
L1 (+ the template's KL for SDT-BP).

``--template_source``:
  * ``bp`` (SDT-BP): one learnable code per training window (``nn.Embedding(num_windows, dim)``
    indexed by the dataset's stable ``window_id``), updated by back-propagation through its own
    ``SparseAdam`` (``--template_lr``): only the rows of the batch's windows change, and only by
    that optimiser. A KL term on the batch's selected codes, as the original:
    ``--template_kl_weight`` (0.1) x 0.5 · mean_d(−log σ²_d + μ_d² + σ²_d − 1), μ and σ² (biased)
    over the batch. With batch size 1 the variance is 0 and −log σ² infinite: the term is skipped
    (logged as 0) for batches of one window.
  * ``vae`` (SDT-VAE): the code is μ of a trained ``pose2pose_vae`` (``--template_vae <exp>``,
    frozen, checked like FTD's network: trained, same feature, dims and data) on the ground-truth
    window, computed on the fly (the same numbers as exporting μ per window as a feature).

Generation without a ground truth uses the prior's mean (a zero code) unless ``template=`` (a
(B, dim) tensor) is passed to :meth:`generate_window`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.modules.gesture import PoseDecoder
from motionlab.models.speech2gesture_model import Speech2GestureModel
from motionlab.options import bounded
from motionlab.utils.errors import MotionlabError


def batch_kl(codes: torch.Tensor) -> torch.Tensor:
    """0.5 · mean(−log σ² + μ² + σ² − 1) of the (B, dim) codes' batch mean and biased variance (0 for B < 2)."""
    if codes.shape[0] < 2:
        return codes.new_zeros(())
    mu, var = codes.mean(0), codes.var(0, unbiased=False).clamp_min(1e-8)
    return 0.5 * torch.mean(-var.log() + mu.pow(2) + var - 1)


class SdtModel(Speech2GestureModel):
    """Speech2Gesture generator + a per-window template code (SDT-BP or SDT-VAE); no discriminator."""

    @staticmethod
    def modify_commandline_options(parser, known):
        Speech2GestureModel.modify_commandline_options(parser, known)
        nonneg = bounded(float, 0.0, what="a number")
        parser.add_argument("--template_source", default="bp", choices=["bp", "vae"], help="bp: a learnt code per training window (SDT-BP); vae: μ of a trained pose2pose_vae on the window (SDT-VAE)")
        parser.add_argument("--template_dim", type=bounded(int, 1, what="an integer"), default=32, help="size of the template code (SDT: 32; with vae it must equal the VAE's --latent_dim)")
        parser.add_argument("--template_lr", type=nonneg, default=1e-4, help="learning rate of the SDT-BP codes' own SparseAdam")
        parser.add_argument("--template_kl_weight", type=nonneg, default=0.1, help="weight of the SDT-BP codes' KL on batch statistics")
        parser.add_argument("--template_vae", default=None, help="pose2pose_vae experiment whose μ is the template (--template_source vae)")
        parser.add_argument("--template_vae_dir", default="training/experiments", help="experiments folder of --template_vae")
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        o = self.opt
        self.template_dim = int(o.template_dim)
        self.templates = None
        self._vae = []  # kept out of the module tree: frozen, not saved in the checkpoint
        if o.template_source == "bp":
            if int(spec.num_windows) < 1:
                raise MotionlabError(f"model 'sdt' with --template_source bp needs the training windows' count (spec num_windows), got {spec.num_windows}")
            self.templates = nn.Embedding(int(spec.num_windows), self.template_dim, sparse=True)
            nn.init.normal_(self.templates.weight, std=0.01)
        elif o.template_vae:
            self.template_vae()  # fail at construction, not at the first batch

    # ---- networks -------------------------------------------------------------------------
    def build_decoder(self) -> None:
        o = self.opt
        self.decoder = PoseDecoder(o.hidden_channels + int(o.template_dim), self.out_dim, hidden=o.decoder_channels, layers=o.decoder_layers, norm=o.conv_norm)

    def build_discriminator(self, dim: int, length: int) -> nn.Module:
        """SDT trains no discriminator: an empty module keeps AdversarialModel's bookkeeping working."""
        return nn.ModuleList()

    def template_vae(self):
        if not self._vae:
            from motionlab.analysis.feature_networks import load_feature_network

            if not self.opt.template_vae:
                raise MotionlabError("--template_source vae: name a trained pose2pose_vae with --template_vae (./script_train.sh gesture/pose2pose_vae ...)")
            feature = self.spec.output_modalities[0]
            vae = load_feature_network(self.opt.template_vae, kind="pose2pose_vae", feature=feature, data_dir=self.opt.data_dir, experiments_dir=self.opt.template_vae_dir)
            if vae.opt.latent_dim != self.template_dim:
                raise MotionlabError(f"--template_vae {self.opt.template_vae}: its codes have {vae.opt.latent_dim} dims, --template_dim is {self.template_dim}")
            if vae.window != self.out_length:
                raise MotionlabError(f"--template_vae {self.opt.template_vae}: trained on {vae.window}-frame windows, this model predicts {self.out_length}-frame windows (--output_lengths)")
            for p in vae.parameters():
                p.requires_grad_(False)
            self._vae.append(vae.eval())
        return self._vae[0]

    def check_template(self, template: torch.Tensor, batch: int) -> torch.Tensor:
        t = torch.as_tensor(template, dtype=torch.float32)
        if t.ndim == 1:
            t = t.expand(batch, -1)
        if t.ndim != 2 or t.shape != (batch, self.template_dim):
            raise MotionlabError(f"template: expected ({batch}, {self.template_dim}) codes (or one {self.template_dim}-d code), got shape {tuple(t.shape)}")
        return t

    def batch_templates(self, batch) -> torch.Tensor:
        """The codes of a training batch's windows: learnt rows (bp) or the VAE's μ of the target (vae)."""
        if self.templates is not None:
            if not self.training:  # validation/test windows have no learnt code: the prior's mean
                return self.real_motion(batch).new_zeros(self.batch_size_of(batch), self.template_dim)
            ids = torch.as_tensor(batch["window_id"], dtype=torch.long, device=self.templates.weight.device)
            if int(ids.max()) >= self.templates.num_embeddings or int(ids.min()) < 0:
                raise MotionlabError(f"window_id {int(ids.max())} outside the {self.templates.num_embeddings} training windows the codes were made for")
            return self.templates(ids)
        vae = self.template_vae().to(self.device)
        with torch.no_grad():
            return vae.encode(self.real_motion(batch))

    # ---- generation -------------------------------------------------------------------------
    @classmethod
    def modify_generation_options(cls, parser):
        super().modify_generation_options(parser)
        parser.add_argument("--template", default="zero", help="zero (the prior's mean), normal (a N(0, I) draw), random (SDT-BP: a random training window's code; SDT-VAE: as normal), index:N (SDT-BP: training window N's code), index:N,M,alpha ((1-alpha) code N + alpha code M) or gt (SDT-VAE: the VAE's mean code of the sequence's own ground-truth motion)")
        parser.add_argument("--template_per", default="sequence", choices=["window", "sequence"], help="draw a template per generated window, or hold one for the whole sequence")
        return parser

    def template_code(self, spec: str, batch: int) -> torch.Tensor:
        """(batch, dim) codes for a ``--template`` value."""
        spec = str(spec)
        if spec == "zero":
            return torch.zeros(batch, self.template_dim)
        if spec == "normal" or (spec == "random" and self.templates is None):
            return torch.randn(batch, self.template_dim)
        if spec == "random":
            return self.templates.weight.detach().cpu()[torch.randint(self.templates.num_embeddings, (batch,))]
        if spec.startswith("index:"):
            if self.templates is None:
                raise MotionlabError(f"--template {spec}: SDT-VAE keeps no per-window codes (use zero, normal or random)")
            parts = spec[len("index:"):].split(",")
            try:
                if len(parts) == 1:
                    ids, alpha = [int(parts[0])], 0.0
                elif len(parts) == 3:
                    ids, alpha = [int(parts[0]), int(parts[1])], float(parts[2])
                else:
                    raise ValueError
            except ValueError:
                raise MotionlabError(f"--template {spec}: expected index:N or index:N,M,alpha (integers N, M; a number alpha)") from None
            n = self.templates.num_embeddings
            bad = [i for i in ids if not 0 <= i < n]
            if bad:
                raise MotionlabError(f"--template {spec}: index {bad[0]} is beyond the {n} training windows (0..{n - 1})")
            codes = self.templates.weight.detach().cpu()[ids]
            code = codes[0] if len(ids) == 1 else (1 - alpha) * codes[0] + alpha * codes[1]
            return code.expand(batch, -1).clone()
        raise MotionlabError(f"--template {spec!r}: expected zero, normal, random, gt, index:N or index:N,M,alpha")

    def ground_truth_code(self, motion) -> torch.Tensor:
        """``--template gt``: the frozen VAE's μ averaged over the sequence's ground-truth windows (hop: half a window)."""
        if self.templates is not None:
            raise MotionlabError("--template gt: SDT-BP learnt codes only for its training windows (use index:N, random, zero or normal); gt needs --template_source vae")
        if motion is None:
            raise MotionlabError(f"--template gt: the sequence has no '{self.spec.output_modalities[0]}' ground truth to take the template from")
        y = torch.as_tensor(motion, dtype=torch.float32)
        L = self.out_length
        if y.ndim != 2 or y.shape[0] < L:
            raise MotionlabError(f"--template gt: the ground truth must be at least one {L}-frame window, got shape {tuple(y.shape)}")
        starts = list(range(0, y.shape[0] - L + 1, max(1, L // 2)))
        vae = self.template_vae().to(self.device)
        with torch.no_grad():
            return vae.encode(torch.stack([y[s : s + L] for s in starts]).to(self.device)).mean(0).cpu()

    def generate(self, inputs, seed=None, *, num_samples: int = 1, progress: bool = False, template="zero", template_per="sequence", **options):
        """Whole sequences with a template per ``--template`` / ``--template_per`` (one per sample)."""
        if template_per not in ("window", "sequence"):
            raise MotionlabError(f"--template_per: expected window or sequence, got {template_per!r}")
        if str(template) == "gt":
            code = self.ground_truth_code(inputs.get(self.spec.output_modalities[0]))
            held = code.expand(num_samples, -1).clone()
            self._generation_template = lambda: held  # the sequence's own code, in every window
            try:
                return super().generate(inputs, seed, num_samples=num_samples, progress=progress, **options)
            finally:
                self._generation_template = None
        held = self.template_code(template, num_samples)
        self._generation_template = (lambda: self.template_code(template, num_samples)) if template_per == "window" else (lambda: held)
        try:
            return super().generate(inputs, seed, num_samples=num_samples, progress=progress, **options)
        finally:
            self._generation_template = None

    def generate_window(self, window_inputs, speaker=None, template=None, **cond):
        """Audio windows (+ (B, dim) templates; default: ``generate``'s choice, else the prior's mean, zeros) -> [(B, L_out, D)]."""
        h = self.unet(self.audio_features(window_inputs))
        if template is None and getattr(self, "_generation_template", None) is not None:
            template = self._generation_template()
        t = h.new_zeros(h.shape[0], self.template_dim) if template is None else self.check_template(template, h.shape[0]).to(h)
        h = torch.cat([h, t[:, :, None].expand(-1, -1, h.shape[2])], dim=1)
        return [self.decoder(h).transpose(1, 2)]

    # ---- training ---------------------------------------------------------------------------
    def generator_parameters(self) -> list:
        skip = {id(p) for p in self.templates.parameters()} if self.templates is not None else set()
        return [p for p in super().generator_parameters() if id(p) not in skip]

    def generator_loss(self, batch):
        y = self.real_motion(batch)
        codes = self.batch_templates(batch)
        fake = self.generate_window(batch["inputs"], template=codes)[0]
        l1 = F.l1_loss(fake, y)
        terms = {"l1": l1.detach()}
        loss = self.opt.lambda_l1 * l1
        if self.templates is not None and self.training:
            kl = batch_kl(codes)
            terms["template_kl"] = kl.detach()
            loss = loss + self.opt.template_kl_weight * kl
        return loss, terms

    def training_step(self, batch, batch_idx):
        optims = self.optimizers()
        optims = optims if isinstance(optims, list) else [optims]
        loss, terms = self.generator_loss(batch)
        self.check_finite(loss, terms)
        for o in optims:
            o.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.opt.g_clip:
            self.clip_gradients(optims[0], gradient_clip_val=self.opt.g_clip, gradient_clip_algorithm="norm")
        for o in optims:
            o.step()
        self.g_steps += 1
        self.gan_iteration += 1
        self.log_terms("train", loss.detach(), terms, self.batch_size_of(batch))
        self._step_schedulers("step")

    def configure_optimizers(self):
        """The generator's optimiser (+ schedule) and, for SDT-BP, the codes' own SparseAdam."""
        o = self.opt
        g = self.build_optimizer(self.generator_parameters())
        optims = [g]
        if self.templates is not None:
            optims.append(torch.optim.SparseAdam(list(self.templates.parameters()), lr=o.template_lr))
        if o.lr_gamma < 1.0:
            scheds = [{"scheduler": torch.optim.lr_scheduler.ExponentialLR(g, gamma=o.lr_gamma), "interval": "epoch"}]
        else:
            scheds = [s for s in (self.build_scheduler(g),) if s]
        self._schedule_intervals = [s["interval"] for s in scheds]
        return (optims, scheds) if scheds else optims
