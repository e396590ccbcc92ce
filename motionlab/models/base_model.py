"""BaseModel: what every motionlab model shares.

Construction from the options and the :class:`~motionlab.dataspec.DataSpec` its dataset provides,
training/validation/test steps around a model's ``compute_loss``, optimisers and LR schedules
from the options as public builders (models with several networks build one per network), a NaN
guard, and the generation contract::

    generate(inputs: dict[str, Tensor (T, D)], seed: dict[str, Tensor], *, num_samples=1, **options)
        -> dict[str, Tensor (T_out, D)]

Autoregressive models implement ``generation_step`` (the rollout over a whole sequence, sliding
inputs and feeding back outputs, lives in ``modules/autoregressive.py``); feed-forward models
implement ``generate_window`` (the overlapping-window stitch lives in ``modules/stitch.py``).
Models with another training scheme (GANs with two optimisers, manual optimisation) override
``training_step`` and use ``manual_step``; ``adjust_trainer_arguments`` keeps the Trainer from
doing what such a model does itself (gradient clipping).
"""

from __future__ import annotations

import argparse
import contextlib
import math

import pytorch_lightning as pl
import torch

from motionlab.dataspec import DataSpec
from motionlab.models.modules.autoregressive import WindowSpec, rollout
from motionlab.models.modules.stitch import stitch
from motionlab.options import bounded
from motionlab.utils.errors import MotionlabError


PRECISIONS = ("fp32", "bf16")


def autocast(precision: str, device) -> contextlib.AbstractContextManager:
    """``fp32``: nothing; ``bf16``: torch.autocast to bfloat16 on ``device``'s type (CPU or CUDA)."""
    if precision not in PRECISIONS:
        raise MotionlabError(f"--precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


class BaseModel(pl.LightningModule):
    """Abstract base of all models."""

    @staticmethod
    def modify_commandline_options(parser, known):
        """Add this model's options to ``parser`` (an argparse group) and return it; ``known.get(key)`` reads other options' first-stage values."""
        return parser

    def __init__(self, opt, spec: DataSpec):
        super().__init__()
        opt = dict(vars(opt)) if isinstance(opt, argparse.Namespace) else dict(opt)
        if not isinstance(spec, DataSpec):
            raise TypeError(f"{type(self).__name__}(opt, spec): spec must be a DataSpec, got {type(spec).__name__}")
        self.save_hyperparameters({"opt": opt, "spec": spec.to_dict()})
        self.opt = argparse.Namespace(**opt)
        self.data_spec = spec
        self.input_dims, self.output_dims = list(spec.input_dims), list(spec.output_dims)
        self.num_speakers = spec.num_speakers
        self.input_modalities = list(opt.get("input_modalities") or spec.input_modalities)
        self.output_modalities = list(opt.get("output_modalities") or spec.output_modalities)
        self.spec = WindowSpec.from_options(self.opt)
        self.val_metrics = self._build_val_metrics(list(getattr(self.opt, "val_metrics", None) or []))
        self.input_noise = float(getattr(self.opt, "input_noise", 0.0) or 0.0)
        self.fed_back_inputs = [i for i, n in enumerate(self.input_modalities) if n in self.output_modalities]
        if self.input_noise and not self.fed_back_inputs:
            raise MotionlabError(f"--input_noise {self.input_noise}: no input modality is also an output ({self.input_modalities} -> {self.output_modalities}), so there is no fed-back input to add noise to")

    @classmethod
    def from_dataset(cls, opt, dataset) -> "BaseModel":
        return cls(opt, dataset.data_spec())

    def check_data_folder(self, folder) -> None:
        """Refuse a data folder whose features this trained model cannot read (generation calls it); nothing to check here."""

    # ---- training -------------------------------------------------------------------------
    def compute_loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return (loss to minimise, named terms to log). Abstract: every model overrides this (or training_step)."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss(batch)")

    @staticmethod
    def batch_size_of(batch) -> int:
        return int(batch["outputs"][0].shape[0])

    def log_terms(self, stage: str, loss: torch.Tensor | None, terms: dict, batch_size: int) -> None:
        """Log ``<stage>_loss`` and ``<stage>_<term>``; validation and test values are averaged across DDP ranks."""
        sync = stage != "train"
        if loss is not None:
            self.log(f"{stage}_loss", loss, prog_bar=True, batch_size=batch_size, sync_dist=sync)
        for k, v in terms.items():
            self.log(f"{stage}_{k}", v, batch_size=batch_size, sync_dist=sync)

    def noisy_inputs(self, batch) -> dict:
        """``--input_noise``: the batch with Gaussian noise on its fed-back inputs (training only).

        In generation an autoregressive model conditions on its own, imperfect outputs; trained only
        on clean data it never sees such errors, and they accumulate into drift. Noise on the
        fed-back context teaches it to pull back toward the data (with ``--residual`` the target
        becomes the change from the noisy frame, i.e. the correction). Targets stay clean.
        """
        if not self.input_noise or not self.training:
            return batch
        inputs = list(batch["inputs"])
        for i in self.fed_back_inputs:
            inputs[i] = inputs[i] + self.input_noise * torch.randn_like(inputs[i])
        return {**batch, "inputs": inputs}

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        """On the CPU the loader's tensors are already where they belong: skip Lightning's walk over the
        batch (about 1.5 ms a step, ~4 % of a small model's step; benchmarks/lightning_overhead.py)."""
        if torch.device(device).type == "cpu":
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def training_step(self, batch, batch_idx):
        batch = self.noisy_inputs(batch)
        loss, terms = self.compute_loss(batch)
        self.check_finite(loss, terms)
        self.log_terms("train", loss, terms, self.batch_size_of(batch))
        return loss

    def validation_step(self, batch, batch_idx):
        loss, terms = self.compute_loss(batch)
        self.log_terms("val", loss, terms, self.batch_size_of(batch))
        if self.val_metrics:
            self.update_val_metrics(batch)
        return loss

    #: ``--val_metrics`` names: feature-space metrics of the first output window, logged as val_<name>.
    VAL_METRICS = ("l1", "mse", "fid")

    def _build_val_metrics(self, names: list[str]) -> torch.nn.ModuleDict:
        from motionlab.analysis import metrics as M

        unknown = [n for n in names if n not in self.VAL_METRICS]
        if unknown:
            raise MotionlabError(f"--val_metrics: unknown metric '{unknown[0]}' (choose from {', '.join(self.VAL_METRICS)}; motionlab evaluate computes the rest)")
        make = {"l1": M.L1, "mse": M.MSE, "fid": M.FrechetDistance}
        return torch.nn.ModuleDict({n: make[n]() for n in names})

    def predict_outputs(self, batch) -> list[torch.Tensor]:
        """The model's outputs for a batch of training windows, as generation would make them (one sample, temperature 1)."""
        cond = {"speaker": batch["speaker"]} if "speaker" in batch else {}
        if self.generation_mode() == "autoregressive":
            outputs, _ = self.generation_step(batch["inputs"], self.init_generation_state(self.batch_size_of(batch), **cond), temperature=1.0, **cond)
            return outputs
        return self.generate_window(batch["inputs"], **cond)

    def update_val_metrics(self, batch) -> None:
        """Update and log the ``--val_metrics`` accumulators (Lightning computes them at the epoch's end, synced across DDP ranks)."""
        pred = self.predict_outputs(batch)[0]
        target = batch["outputs"][0]
        n = min(pred.shape[1], target.shape[1])
        for name, metric in self.val_metrics.items():
            metric.update(pred[:, :n].detach(), target[:, :n])
            self.log(f"val_{name}", metric, on_step=False, on_epoch=True, batch_size=self.batch_size_of(batch))

    def test_step(self, batch, batch_idx):
        loss, terms = self.compute_loss(batch)
        self.log_terms("test", loss, terms, self.batch_size_of(batch))
        return loss

    def check_finite(self, loss, terms):
        """Stop with a message naming the bad term(s) instead of training on NaN."""
        if torch.isfinite(loss):
            return
        bad = [k for k, v in terms.items() if not torch.isfinite(torch.as_tensor(v)).all()] or ["loss"]
        raise MotionlabError(
            f"training stopped: non-finite value at step {self.global_step} (epoch {self.current_epoch}) in loss term(s) "
            f"{', '.join(bad)}; the last good checkpoint is kept. Lower --learning_rate or enable --gradient_clip_val."
        )

    def manual_step(self, optimizer, loss: torch.Tensor, *, clip_val: float | None = None) -> None:
        """One step of one optimiser under manual optimisation: zero, backward, clip (``--gradient_clip_val`` by default), step."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        clip = self.opt.gradient_clip_val if clip_val is None else clip_val
        if clip:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        optimizer.step()

    def adjust_trainer_arguments(self, kwargs: dict) -> dict:
        """The Trainer's keyword arguments, adjusted for this model's training scheme.

        Under manual optimisation Lightning refuses automatic clipping and accumulation: the model
        clips each network itself (``manual_step``), and accumulation is refused with a message.
        """
        kwargs = dict(kwargs)
        if not self.automatic_optimization:
            if (kwargs.get("accumulate_grad_batches") or 1) != 1:
                raise MotionlabError(f"--accumulate_grad_batches: model '{self.opt.model}' steps its optimisers itself and does not accumulate gradients; use 1")
            kwargs["gradient_clip_val"] = None
        return kwargs

    def trainable_parameters(self, module: torch.nn.Module | None = None) -> list:
        return [p for p in (module or self).parameters() if p.requires_grad]

    # ---- optimisers -----------------------------------------------------------------------
    def build_optimizer(self, params, *, lr: float | None = None, optimizer: str | None = None, weight_decay: float | None = None, betas=None):
        """An optimiser of ``params`` from the options (``--optimizer``, ``--learning_rate``, ...); keywords override them.

        Models with several networks call this once per network (a GAN's generator and
        discriminator, a per-window code table with its own learning rate).
        """
        o = self.opt
        params = list(params)
        if not params:
            raise MotionlabError(f"model '{o.model}': an optimiser was asked for with no trainable parameters")
        name = optimizer or o.optimizer
        lr = o.learning_rate if lr is None else lr
        wd = getattr(o, "weight_decay", 0.0) if weight_decay is None else weight_decay
        extra = {"betas": tuple(betas)} if betas is not None and name in ("adam", "adamw") else {}
        if name == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=wd, **extra)
        if name == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **extra)
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=o.momentum, weight_decay=wd)
        raise MotionlabError(f"--optimizer: unknown optimiser '{name}' (adam, adamw, sgd)")

    def build_scheduler(self, optimizer, *, policy: str | None = None, warmup_steps: int | None = None):
        """Lightning's scheduler config for ``optimizer`` from ``--lr_policy`` / ``--warmup_steps`` (None: constant LR).

        Per-step LambdaLR for warm-up/step/cosine; per epoch MultiStepLR (``--lr_milestones``) and
        ReduceLROnPlateau on ``--monitor``.
        Under manual optimisation the model steps these itself (``self.lr_schedulers()``).
        """
        o = self.opt
        policy = o.lr_policy if policy is None else policy
        warmup = max(0, int(getattr(o, "warmup_steps", 0) if warmup_steps is None else warmup_steps))
        if policy == "none" and warmup == 0:
            return None
        if policy == "multistep":
            milestones = sorted(int(m) for m in (getattr(o, "lr_milestones", None) or []))
            if not milestones or milestones[0] < 1:
                raise MotionlabError(f"--lr_policy multistep needs --lr_milestones: positive epoch numbers, e.g. 90,98 (got {milestones})")
            if warmup:
                raise MotionlabError("--warmup_steps cannot be combined with --lr_policy multistep (the milestones are epochs)")
            sched = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=o.lr_decay_factor)
            return {"scheduler": sched, "interval": "epoch"}
        if policy == "plateau":
            if warmup:
                raise MotionlabError("--warmup_steps cannot be combined with --lr_policy plateau")
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=o.monitor_mode, factor=o.lr_decay_factor, patience=o.lr_plateau_patience)
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

        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}

    def configure_optimizers(self):
        opt = self.build_optimizer(self.trainable_parameters())
        sched = self.build_scheduler(opt)
        return {"optimizer": opt, "lr_scheduler": sched} if sched else opt

    # ---- generation -----------------------------------------------------------------------
    #: Most frames one ``generation_step`` may emit (None: up to the output length). MoGlow: 1.
    max_frames_per_step: int | None = None

    @classmethod
    def generation_mode(cls) -> str:
        """'autoregressive' (implements generation_step), 'windowed' (generate_window) or 'custom' (overrides generate)."""
        if cls.generation_step is not BaseModel.generation_step:
            return "autoregressive"
        if cls.generate_window is not BaseModel.generate_window:
            return "windowed"
        return "custom"

    @classmethod
    def modify_generation_options(cls, parser):
        """Add the options ``motionlab generate`` offers for this model (passed to ``generate`` as keywords).

        Autoregressive models get ``--temperature`` and ``--frames_per_step``; windowed models
        ``--window_overlap``. Models add their own (a diffusion model's step count, ``--style``).
        """
        mode = cls.generation_mode()
        if mode == "autoregressive":
            parser.add_argument("--temperature", type=bounded(float, 0.0, what="a number"), default=1.0, help="sampling temperature (0: the mode; deterministic models ignore it)")
            parser.add_argument("--frames_per_step", type=bounded(int, 1, what="an integer"), default=1, help="frames emitted per autoregressive step (<= output length)")
        elif mode == "windowed":
            parser.add_argument("--window_overlap", type=bounded(int, 0, what="an integer"), default=None, help="frames shared by consecutive windows, crossfaded (default: half the window)")
        return parser

    @property
    def generation_spec(self) -> WindowSpec:
        """The windows generation gives ``generation_step`` / ``generate_window``; the training windows unless a model reads fewer."""
        return self.spec

    def generation_step(self, window_inputs: list[torch.Tensor], state, *, temperature: float = 1.0, **cond):
        """One autoregressive step: input windows (B, L_i, D_i) -> (outputs (B, L_out, D) list, new state)."""
        raise NotImplementedError(f"{type(self).__name__} is not autoregressive")

    def init_generation_state(self, batch_size: int, **cond):
        """State carried between generation steps (e.g. an LSTM's hidden state); None by default."""
        return None

    def generate_window(self, window_inputs: list[torch.Tensor], **cond) -> list[torch.Tensor]:
        """Feed-forward models: one window of every input (B, L_i, D_i) -> one window of every output (B, L_out, D)."""
        raise NotImplementedError(f"{type(self).__name__} is not a windowed feed-forward model")

    @torch.inference_mode()
    def generate(self, inputs, seed=None, *, num_samples: int = 1, progress: bool = False, precision: str = "fp32", **options):
        """Whole sequences: the shared autoregressive rollout or windowed stitch, by what the model implements.

        ``precision="bf16"`` runs the matrix multiplies in bfloat16 (autocast; ~3.5x the fp32 rate on a CPU
        with AVX512-BF16), everything else and the outputs in fp32."""
        mode = self.generation_mode()
        if mode == "custom":
            raise NotImplementedError(f"{type(self).__name__} implements neither generation_step nor generate_window; it must override generate()")
        if num_samples < 1:
            raise MotionlabError(f"--num_samples must be >= 1, got {num_samples}")
        was_training = self.training
        self.eval()
        try:
            with autocast(precision, self.device):
                if mode == "autoregressive":
                    out = rollout(self, inputs, seed or {}, num_samples=num_samples, progress=progress, **options)
                else:
                    out = stitch(self, inputs, num_samples=num_samples, progress=progress, **options)
            return {k: v.float() for k, v in out.items()}
        finally:
            self.train(was_training)
