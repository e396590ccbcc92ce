"""BaseModel: what every motionlab model shares.

Construction from the options and the data's feature dimensions, training/validation steps
around a model's ``compute_loss``, optimisers and LR schedules from the options, a NaN guard,
and the generation contract::

    generate(inputs: dict[str, Tensor (T, D)], seed: dict[str, Tensor], *, temperature=1.0, ...)
        -> dict[str, Tensor (T_out, D)]

Autoregressive models only implement ``generation_step``; the rollout over a whole sequence
(sliding inputs, feeding back outputs) lives in ``modules/autoregressive.py``.
"""

from __future__ import annotations

import argparse
import math

import pytorch_lightning as pl
import torch

from motionlab.models.modules.autoregressive import WindowSpec, rollout
from motionlab.utils.errors import MotionlabError


class BaseModel(pl.LightningModule):
    """Abstract base of all models."""

    @staticmethod
    def modify_commandline_options(parser, known):
        """Add this model's options to ``parser`` (an argparse group) and return it; ``known.get(key)`` reads other options' first-stage values."""
        return parser

    def __init__(self, opt, input_dims: list[int], output_dims: list[int], num_speakers: int = 0):
        super().__init__()
        opt = dict(vars(opt)) if isinstance(opt, argparse.Namespace) else dict(opt)
        self.save_hyperparameters({"opt": opt, "input_dims": list(input_dims), "output_dims": list(output_dims), "num_speakers": num_speakers})
        self.opt = argparse.Namespace(**opt)
        self.input_dims, self.output_dims = list(input_dims), list(output_dims)
        self.num_speakers = num_speakers
        self.input_modalities = list(opt.get("input_modalities", []))
        self.output_modalities = list(opt.get("output_modalities", []))
        self.spec = WindowSpec.from_options(self.opt)

    @classmethod
    def from_dataset(cls, opt, dataset) -> "BaseModel":
        return cls(opt, dataset.input_dims, dataset.output_dims, getattr(dataset, "num_speakers", 0))

    # ---- training -------------------------------------------------------------------------
    def compute_loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return (loss to minimise, named terms to log). Abstract: every model overrides this."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss(batch)")

    def training_step(self, batch, batch_idx):
        loss, terms = self.compute_loss(batch)
        self._check_finite(loss, terms)
        bs = batch["outputs"][0].shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=bs, sync_dist=False)
        for k, v in terms.items():
            self.log(f"train_{k}", v, batch_size=bs)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, terms = self.compute_loss(batch)
        bs = batch["outputs"][0].shape[0]
        self.log("val_loss", loss, prog_bar=True, batch_size=bs, sync_dist=True)
        for k, v in terms.items():
            self.log(f"val_{k}", v, batch_size=bs, sync_dist=True)
        return loss

    def _check_finite(self, loss, terms):
        if torch.isfinite(loss):
            return
        bad = [k for k, v in terms.items() if not torch.isfinite(v).all()] or ["loss"]
        raise MotionlabError(
            f"training stopped: non-finite value at step {self.global_step} (epoch {self.current_epoch}) in loss term(s) "
            f"{', '.join(bad)}; the last good checkpoint is kept. Lower --learning_rate or enable --gradient_clip_val."
        )

    def configure_optimizers(self):
        o = self.opt
        params = [p for p in self.parameters() if p.requires_grad]
        lr, wd = o.learning_rate, getattr(o, "weight_decay", 0.0)
        if o.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=lr, weight_decay=wd)
        elif o.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
        elif o.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=o.momentum, weight_decay=wd)
        else:
            raise MotionlabError(f"--optimizer: unknown optimiser '{o.optimizer}' (adam, adamw, sgd)")
        sched = self._schedulers(opt)
        return {"optimizer": opt, "lr_scheduler": sched} if sched else opt

    def _schedulers(self, opt):
        """Per-step LambdaLR for warm-up/step/cosine; ReduceLROnPlateau on the monitored metric."""
        o = self.opt
        policy, warmup = o.lr_policy, max(0, int(getattr(o, "warmup_steps", 0)))
        if policy == "none" and warmup == 0:
            return None
        if policy == "plateau":
            if warmup:
                raise MotionlabError("--warmup_steps cannot be combined with --lr_policy plateau")
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=o.monitor_mode, factor=o.lr_decay_factor, patience=o.lr_plateau_patience)
            return {"scheduler": sched, "monitor": o.monitor, "interval": "epoch"}
        total = None
        if policy == "cosine":
            total = max(1, int(self.trainer.estimated_stepping_batches)) if self._trainer is not None else 1

        def factor(step: int) -> float:
            f = 1.0
            if warmup and step < warmup:
                f = (step + 1) / warmup
            if policy == "step":
                f *= o.lr_decay_factor ** (step // max(1, o.lr_decay_steps))
            elif policy == "cosine":
                f *= 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
            return f

        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(opt, factor), "interval": "step"}

    # ---- generation -----------------------------------------------------------------------
    #: Most frames one ``generation_step`` may emit (None: up to the output length). MoGlow: 1.
    max_frames_per_step: int | None = None

    @property
    def generation_spec(self) -> WindowSpec:
        """The windows the rollout gives ``generation_step``; the training windows unless a model reads fewer."""
        return self.spec

    def generation_step(self, window_inputs: list[torch.Tensor], state, *, temperature: float = 1.0, **cond):
        """One autoregressive step: input windows (B, L_i, D_i) -> (outputs (B, L_out, D) list, new state)."""
        raise NotImplementedError(f"{type(self).__name__} is not autoregressive; it overrides generate()")

    def init_generation_state(self, batch_size: int, **cond):
        """State carried between generation steps (e.g. an LSTM's hidden state); None by default."""
        return None

    @torch.inference_mode()
    def generate(self, inputs, seed=None, *, temperature: float = 1.0, num_samples: int = 1, frames_per_step: int = 1, teacher_forcing: bool = False, **cond):
        """Autoregressive rollout over the whole sequence (see ``modules/autoregressive.rollout``)."""
        was_training = self.training
        self.eval()
        try:
            return rollout(self, inputs, seed or {}, temperature=temperature, num_samples=num_samples, frames_per_step=frames_per_step, teacher_forcing=teacher_forcing, **cond)
        finally:
            self.train(was_training)
