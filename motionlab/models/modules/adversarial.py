"""Adversarial training as one reusable piece: ``AdversarialModel(BaseModel)``.

A GAN model subclasses it, builds ``self.discriminator`` (``build_discriminator`` gives the
velocity discriminator of Speech2Gesture/Mix-StAGE) and implements

- ``generate_fake(batch) -> Tensor (B, L, D)``: the generator's output window for the batch (the
  discriminator step calls it without gradient, the generator in eval mode, as the original does);
- ``generator_loss(batch) -> (loss, terms)``: the generator's whole objective; use
  ``adversarial_term(fake)`` for its λ_gan-weighted adversarial part.

The base does the rest under Lightning's manual optimisation:

- two optimisers (generator = every parameter outside ``self.discriminator``), ``--d_learning_rate``;
- who steps when: each training iteration is one D step or one G step on the same batch.
  ``--dg_schedule stochastic`` (the original): P(D step) = r / (1 + r) with r = ``--dg_iter_ratio``,
  drawn from a generator seeded with (``--seed``, iteration), so every DDP rank makes the same choice
  and a resumed run continues the same sequence; ``alternate``: the deterministic pattern with the same
  ratio (D at iteration i iff ceil((i+1)p) > ceil(ip)); ``both``: a D step then a G step every iteration;
- the criterion ``--gan_loss``: ``l1`` (the original: L1 of the scores to 1/0), ``lsgan``, ``bce``
  (scores are logits), ``hinge``;
- the λ ramps of the original: λ_D (weight of D's fake term) and λ_gan (weight of G's adversarial
  term) start at ``--lambda_d`` / ``--lambda_gan`` and grow by ``--lambda_ramp`` every
  ``--lambda_ramp_every`` training iterations, capped at ``--lambda_max``;
- per-network gradient-norm clipping ``--g_clip`` / ``--d_clip`` (0: off);
- LR schedules for both optimisers: ``--lr_gamma`` (ExponentialLR per epoch, the original's 0.99) or
  the base ``--lr_policy``/``--warmup_steps`` (per-step schedules count training iterations);
- checkpoints hold both optimisers and schedulers (Lightning) and the iteration counters (here), so
  ``--resume`` continues the ramps, the curriculum and the D/G sequence; a checkpoint of another
  architecture or speaker set is refused with the keys / labels that differ;
- DDP: the networks a step does not use get no gradient, so ``ddp`` becomes
  ``ddp_find_unused_parameters_true``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from motionlab.models.base_model import BaseModel
from motionlab.models.modules.gesture import DISC_INPUTS, eval_mode, VelocityDiscriminator
from motionlab.options import add_list_option, bounded
from motionlab.utils.errors import MotionlabError

GAN_LOSSES = ("l1", "lsgan", "bce", "hinge")
DG_SCHEDULES = ("stochastic", "alternate", "both")
CHECKPOINT_KEY = "motionlab_adversarial"
_COUNTERS = ("gan_iteration", "g_steps", "d_steps")


def gan_loss(kind: str, scores: torch.Tensor, real: bool, *, discriminator: bool) -> torch.Tensor:
    """The criterion on discriminator scores: push them to 'real' (True) or 'fake' (False).

    The generator always asks for 'real'; hinge's generator term is −mean(score).
    """
    if kind == "l1":
        return (scores - float(real)).abs().mean()
    if kind == "lsgan":
        return ((scores - float(real)) ** 2).mean()
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, float(real)))
    if kind == "hinge":
        if not discriminator:
            return -scores.mean()
        return F.relu(1.0 - scores).mean() if real else F.relu(1.0 + scores).mean()
    raise MotionlabError(f"--gan_loss: unknown criterion '{kind}' (expected one of {', '.join(GAN_LOSSES)})")


def discriminator_step_probability(ratio: float) -> float:
    return ratio / (1.0 + ratio)


def is_discriminator_step(schedule: str, ratio: float, seed: int, iteration: int) -> bool:
    """Whether training iteration ``iteration`` is a D step (``both``: True, the G step follows)."""
    if schedule == "both":
        return True
    p = discriminator_step_probability(ratio)
    if schedule == "alternate":
        return math.ceil((iteration + 1) * p - 1e-9) > math.ceil(iteration * p - 1e-9)
    if schedule == "stochastic":
        u = np.random.default_rng([int(seed) % (2**32), int(iteration), 0xD15C]).random()
        return bool(u < p)
    raise MotionlabError(f"--dg_schedule: unknown schedule '{schedule}' (expected one of {', '.join(DG_SCHEDULES)})")


class AdversarialModel(BaseModel):
    """Base of the GAN models: generator/discriminator optimisers and who steps when (see the module docstring)."""

    #: The term of ``generator_loss`` logged as ``val_loss`` / ``test_loss`` (the full G loss is ``val_g_loss``):
    #: a moving discriminator makes the adversarial part useless for choosing checkpoints. None: the full loss.
    selection_term: str | None = None

    @staticmethod
    def modify_commandline_options(parser, known):
        nonneg = bounded(float, 0.0, what="a number")
        parser.add_argument("--dg_iter_ratio", type=nonneg, default=1.0, help="D steps per G step r: P(D step) = r/(1+r) per iteration (the original: 1)")
        parser.add_argument("--dg_schedule", default="stochastic", choices=list(DG_SCHEDULES), help="stochastic (seeded draw per iteration, as the original), alternate (deterministic pattern, same ratio) or both (D then G every iteration)")
        parser.add_argument("--gan_loss", default="l1", choices=list(GAN_LOSSES), help="adversarial criterion (l1: the original's L1 of the scores to 1/0)")
        parser.add_argument("--lambda_gan", type=nonneg, default=1.0, help="initial weight of the generator's adversarial term")
        parser.add_argument("--lambda_d", type=nonneg, default=1.0, help="initial weight of the discriminator's fake term")
        parser.add_argument("--lambda_ramp", type=nonneg, default=0.1, help="both λ grow by this every --lambda_ramp_every iterations (0: constant)")
        parser.add_argument("--lambda_ramp_every", type=bounded(int, 1, what="an integer"), default=301, help="training iterations between λ increments")
        parser.add_argument("--lambda_max", type=nonneg, default=2.0, help="cap of both λ ramps")
        parser.add_argument("--g_clip", type=nonneg, default=1.0, help="gradient-norm clip of the generator (0: off)")
        parser.add_argument("--d_clip", type=nonneg, default=1.0, help="gradient-norm clip of the discriminator (0: off)")
        parser.add_argument("--disc_input", default="velocity", choices=list(DISC_INPUTS), help="the discriminator sees frame velocities (frame 0 = 0, the original) or poses")
        add_list_option(parser, "--disc_channels", int, [64, 128, 256], "channels of the discriminator's three conv blocks")
        parser.add_argument("--d_learning_rate", type=nonneg, default=None, help="discriminator learning rate (default: --learning_rate)")
        parser.add_argument("--lr_gamma", type=bounded(float, 0.0, 1.0, what="a number"), default=1.0, help="ExponentialLR factor per epoch for both optimisers (the original: 0.99; 1: off)")
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        self.automatic_optimization = False
        o = self.opt
        if o.lr_gamma < 1.0 and (o.lr_policy != "none" or getattr(o, "warmup_steps", 0)):
            raise MotionlabError(f"--lr_gamma {o.lr_gamma} and --lr_policy {o.lr_policy} / --warmup_steps {getattr(o, 'warmup_steps', 0)} both schedule the learning rate: choose one (--lr_policy none --warmup_steps 0, or --lr_gamma 1)")
        self.gan_iteration = 0  # training iterations (the λ ramps and the D/G sequence count these)
        self.g_steps = 0
        self.d_steps = 0
        self._schedule_intervals: list[str] = []

    # ---- networks -------------------------------------------------------------------------
    def build_discriminator(self, dim: int, length: int) -> VelocityDiscriminator:
        o = self.opt
        return VelocityDiscriminator(dim, length, list(o.disc_channels), input_kind=o.disc_input, norm=getattr(o, "conv_norm", "batch"))

    def discriminator_parameters(self) -> list:
        return self.trainable_parameters(self.discriminator)

    def generator_parameters(self) -> list:
        disc = {id(p) for p in self.discriminator.parameters()}
        return [p for p in self.trainable_parameters() if id(p) not in disc]

    def generator_eval(self):
        """Every module outside the discriminator in eval mode (BatchNorm uses its running statistics), restored after."""
        return eval_mode(*[m for m in self.children() if m is not self.discriminator])

    # ---- what subclasses implement ----------------------------------------------------------
    def generate_fake(self, batch) -> torch.Tensor:
        """The generator's output window (B, L, D) for ``batch``."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate_fake(batch)")

    def generator_loss(self, batch) -> tuple[torch.Tensor, dict]:
        """(generator loss, named terms)."""
        raise NotImplementedError(f"{type(self).__name__} must implement generator_loss(batch)")

    def real_motion(self, batch) -> torch.Tensor:
        return batch["outputs"][0]

    # ---- losses -----------------------------------------------------------------------------
    def ramp(self, start: float) -> float:
        o = self.opt
        return min(o.lambda_max, start + o.lambda_ramp * (self.gan_iteration // o.lambda_ramp_every)) if o.lambda_ramp else start

    @property
    def lambda_gan(self) -> float:
        return self.ramp(self.opt.lambda_gan)

    @property
    def lambda_d(self) -> float:
        return self.ramp(self.opt.lambda_d)

    def adversarial_term(self, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(λ_gan-weighted, unweighted) adversarial loss of the generator's ``fake`` window."""
        raw = gan_loss(self.opt.gan_loss, self.discriminator(fake), True, discriminator=False)
        return self.lambda_gan * raw, raw

    def discriminator_loss(self, batch) -> tuple[torch.Tensor, dict]:
        """crit(D(real), real) + λ_D · crit(D(fake), fake); the fake is made without gradient, generator in eval mode."""
        with torch.no_grad(), self.generator_eval():
            fake = self.generate_fake(batch)
        real = self.real_motion(batch)
        s_real, s_fake = self.discriminator(real), self.discriminator(fake.detach())
        kind = self.opt.gan_loss
        l_real = gan_loss(kind, s_real, True, discriminator=True)
        l_fake = gan_loss(kind, s_fake, False, discriminator=True)
        loss = l_real + self.lambda_d * l_fake
        return loss, {"d_real": l_real.detach(), "d_fake": l_fake.detach(), "d_score_real": s_real.mean().detach(), "d_score_fake": s_fake.mean().detach()}

    def compute_loss(self, batch):
        return self.generator_loss(batch)

    # ---- training ---------------------------------------------------------------------------
    def is_discriminator_step(self, iteration: int | None = None) -> bool:
        o = self.opt
        return is_discriminator_step(o.dg_schedule, o.dg_iter_ratio, o.seed, self.gan_iteration if iteration is None else iteration)

    def training_step(self, batch, batch_idx):
        g_opt, d_opt = self.optimizers()
        bs = self.batch_size_of(batch)
        if self.is_discriminator_step():
            self.toggle_optimizer(d_opt)
            loss, terms = self.discriminator_loss(batch)
            self.check_finite(loss, terms)
            self.manual_step(d_opt, loss, clip_val=self.opt.d_clip)
            self.untoggle_optimizer(d_opt)
            self.d_steps += 1
            self.log_terms("train", None, {"d_loss": loss.detach(), **terms}, bs)
        if self.opt.dg_schedule == "both" or not self.is_discriminator_step():
            self.toggle_optimizer(g_opt)
            loss, terms = self.generator_loss(batch)
            self.check_finite(loss, terms)
            self.manual_step(g_opt, loss, clip_val=self.opt.g_clip)
            self.untoggle_optimizer(g_opt)
            self.g_steps += 1
            self.log_terms("train", loss.detach(), terms, bs)
        self.gan_iteration += 1
        self.log("train_lambda_gan", self.lambda_gan, batch_size=bs)
        self.log("train_lambda_d", self.lambda_d, batch_size=bs)
        self._step_schedulers("step")

    def validation_step(self, batch, batch_idx):
        return self._eval_step("val", batch)

    def test_step(self, batch, batch_idx):
        return self._eval_step("test", batch)

    def _eval_step(self, stage: str, batch):
        loss, terms = self.generator_loss(batch)
        chosen = terms[self.selection_term] if self.selection_term else loss
        self.log_terms(stage, chosen, {"g_loss": loss.detach(), **terms}, self.batch_size_of(batch))
        if stage == "val" and self.val_metrics:
            self.update_val_metrics(batch)
        return chosen

    # ---- optimisers and schedules -----------------------------------------------------------
    def configure_optimizers(self):
        o = self.opt
        g = self.build_optimizer(self.generator_parameters())
        d = self.build_optimizer(self.discriminator_parameters(), lr=o.d_learning_rate)
        if o.lr_gamma < 1.0:
            scheds = [{"scheduler": torch.optim.lr_scheduler.ExponentialLR(opt, gamma=o.lr_gamma), "interval": "epoch"} for opt in (g, d)]
        else:
            scheds = [s for s in (self.build_scheduler(g), self.build_scheduler(d)) if s]
        self._schedule_intervals = [s["interval"] for s in scheds]
        return ([g, d], scheds) if scheds else [g, d]

    def _step_schedulers(self, interval: str) -> None:
        scheds = self.lr_schedulers()
        if scheds is None:
            return
        scheds = scheds if isinstance(scheds, list) else [scheds]
        for sched, every in zip(scheds, self._schedule_intervals):
            if every != interval:
                continue
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                value = self.trainer.callback_metrics.get(self.opt.monitor)
                if value is not None:
                    sched.step(float(value))
            else:
                sched.step()

    def on_train_epoch_end(self):
        self._step_schedulers("epoch")

    def adjust_trainer_arguments(self, kwargs: dict) -> dict:
        """Manual optimisation (no Trainer clipping) and DDP that tolerates the networks a step leaves unused."""
        kwargs = super().adjust_trainer_arguments(kwargs)
        strategy, devices = kwargs.get("strategy"), kwargs.get("devices")
        n_devices = len(devices) if isinstance(devices, (list, tuple)) else devices if isinstance(devices, int) else 1
        if strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
            kwargs["strategy"] = f"{strategy}_find_unused_parameters_true"
        elif strategy == "auto" and (n_devices > 1 or (kwargs.get("num_nodes") or 1) > 1):
            kwargs["strategy"] = "ddp_find_unused_parameters_true"
        return kwargs

    # ---- checkpoints ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint):
        checkpoint[CHECKPOINT_KEY] = {k: int(getattr(self, k)) for k in _COUNTERS}

    def on_load_checkpoint(self, checkpoint):
        self.check_checkpoint_fits(checkpoint)
        for k, v in (checkpoint.get(CHECKPOINT_KEY) or {}).items():
            if k in _COUNTERS:
                setattr(self, k, int(v))

    def uses_speakers(self) -> bool:
        """Whether the model's weights depend on the speaker set (style tables): a checkpoint of another set is refused."""
        return False

    def check_checkpoint_fits(self, checkpoint) -> None:
        """Refuse a checkpoint of another architecture (keys/shapes, named by network) or speaker set before Lightning loads it."""
        spec = (checkpoint.get("hyper_parameters") or {}).get("spec") or {}
        theirs, ours = list(spec.get("speaker_names") or []), list(self.data_spec.speaker_names)
        if self.uses_speakers() and spec and theirs != ours:
            raise MotionlabError(f"model '{self.opt.model}': the checkpoint was trained on speakers/styles {theirs}, this data has {ours}; a style model only continues on the same speaker set")
        state, own = checkpoint.get("state_dict") or {}, self.state_dict()
        problems = []
        for k in sorted(set(state) | set(own)):
            if k not in own:
                problems.append(f"{k} (only in the checkpoint)")
            elif k not in state:
                problems.append(f"{k} (missing from the checkpoint)")
            elif hasattr(own[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape):  # (a module's extra state has none)
                problems.append(f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)})")
        if problems:
            nets = sorted({"discriminator" if p.startswith("discriminator.") else "generator" for p in problems})
            raise MotionlabError(
                f"model '{self.opt.model}': the checkpoint does not fit the {' and '.join(nets)} built from these options "
                f"({len(problems)} mismatch(es): {'; '.join(problems[:4])}{' ...' if len(problems) > 4 else ''}); it was trained with other options or data"
            )
