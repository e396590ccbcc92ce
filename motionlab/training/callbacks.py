"""Callbacks used by train.py."""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from motionlab.utils.io import atomic_path, write_text

#: Test-only hooks (tests/test_exact_resume.py): SIGKILL this process right after training step k, or
#: half-way through writing the checkpoint of step k. A real kill at a known step, not a simulated one.
KILL_AT_STEP_ENV = "MOTIONLAB_TEST_KILL_AT_STEP"
KILL_IN_CHECKPOINT_ENV = "MOTIONLAB_TEST_KILL_IN_CHECKPOINT_AT_STEP"
#: With the step kill: only the process of this global rank dies (a DDP rank lost mid-run, tests/test_ddp_faults.py).
KILL_RANK_ENV = "MOTIONLAB_TEST_KILL_RANK"


def _env_step(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints go to a temporary file renamed onto the target: a kill or a full disk mid-write
    leaves the previous good ``last.ckpt`` (Lightning's writer opens the target itself)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        kill_step = _env_step(KILL_IN_CHECKPOINT_ENV)
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            if kill_step is not None and checkpoint.get("global_step") == kill_step:
                with open(tmp, "r+b") as f:  # leave a truncated temporary file, as a kill during the write would
                    f.truncate(os.path.getsize(tmp) // 2)
                os.kill(os.getpid(), signal.SIGKILL)


class KillAtStepForTests(pl.Callback):
    """Test-only: SIGKILL the process after training step ``MOTIONLAB_TEST_KILL_AT_STEP`` (after any checkpoint of that step)."""

    def __init__(self, step: int):
        self.step = int(step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        rank = _env_step(KILL_RANK_ENV)
        if trainer.global_step == self.step and (rank is None or rank == trainer.global_rank):
            os.kill(os.getpid(), signal.SIGKILL)


class RandomStateCheckpoint(pl.Callback):
    """Store the python, numpy and torch random states in each checkpoint and restore them on ``--resume``,
    so dropout, noise and any random draw after the resume are those the uninterrupted run made
    (Lightning saves the loop and the dataloader's position, not the random generators)."""

    def state_dict(self):
        return {
            "python": _to_tensorable(random.getstate()),
            "numpy": _numpy_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def __init__(self):
        self.loaded = None

    def load_state_dict(self, state):
        # Applied when the first resumed batch is in hand: the sanity-check validation and creating the
        # resumed epoch's loader iterator (which draws seeds, as it did at the epoch's real start) come before.
        self.loaded = state

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.loaded is not None:
            self.apply(self.loaded)
            self.loaded = None

    @staticmethod
    def apply(state):
        version, internal, gauss = state["python"]
        random.setstate((int(version), tuple(int(v) for v in internal), gauss))
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def _to_tensorable(state):
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _numpy_state():
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


class SaveOnInterrupt(pl.Callback):
    """Ctrl-C (SIGINT) writes ``last.ckpt`` at the step it stopped, so ``--resume`` loses nothing.

    Only for an interrupt: after a real error the previous last.ckpt is the state worth keeping."""

    def __init__(self, path):
        self.path = Path(path)

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, KeyboardInterrupt) and not trainer.sanity_checking:
            tmp = self.path.with_name(self.path.name + ".tmp")
            trainer.save_checkpoint(tmp)
            if trainer.is_global_zero:
                tmp.replace(self.path)  # atomic: a second Ctrl-C mid-write leaves the previous last.ckpt
                print(f"motionlab: training interrupted at epoch {trainer.current_epoch}, step {trainer.global_step}; "
                      f"{self.path} written: continue with the same command and --resume", file=sys.stderr, flush=True)


class RecordSampleIndices(pl.Callback):
    """Write the windows each rank trained on in the first epoch (``--log_sample_indices``): [window_id, sequence_index, start] rows.

    Shows how Lightning's DistributedSampler sharded the data (ranks must see disjoint windows) and
    that a window id names the same window in every process.
    """

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.seen: list[list[int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 0:
            self.seen.extend([int(w), int(q), int(s)] for w, q, s in zip(batch["window_id"], batch["sequence_index"], batch["start"]))

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == 0:
            write_text(self.out_dir / f"sample_indices_rank{trainer.global_rank}.json", json.dumps(self.seen))


class SampleVideo(pl.Callback):
    """Every ``every_n_val`` validations, generate a short sample of the first val sequence, render it
    (generated | ground truth, with the audio) to ``<exp>/samples/val<k>_step<step>.mp4`` with the
    existing renderer, and log a strip of its frames to TensorBoard (``val_sample``).

    TensorBoard's own video summaries need moviepy; an mp4 beside the logs plays anywhere, and the
    frames show the motion at a glance in the browser. Runs on global rank 0 only.
    """

    def __init__(self, out_dir, every_n_val: int, seconds: float = 8.0, frames_in_strip: int = 6):
        self.out_dir, self.every_n_val, self.seconds, self.frames_in_strip = Path(out_dir), int(every_n_val), float(seconds), int(frames_in_strip)
        self.validations = 0

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        self.validations += 1
        if self.validations % self.every_n_val or not trainer.is_global_zero:
            return
        path = self.write_sample(pl_module, trainer.global_step)
        if path is not None and trainer.logger is not None and hasattr(trainer.logger.experiment, "add_images"):
            frames = self.strip(path)
            if frames is not None:
                trainer.logger.experiment.add_images("val_sample", frames, global_step=trainer.global_step, dataformats="NHWC")

    def write_sample(self, model, step: int) -> Path | None:
        import numpy as np

        from motionlab.datafolder import DataFolder
        from motionlab.inference import generate as gen
        from motionlab.inference import outputs

        opt = model.opt
        dataset = gen.build_dataset(opt)
        folder = getattr(dataset, "folder", None) or DataFolder(opt.data_dir)
        feature = opt.output_modalities[0]
        if not folder.meta_path(feature).exists() or folder.meta(feature)["kind"] not in ("motion", "keypoints"):
            return None  # nothing drawable
        seq = folder.split("val")[0]
        frames = int(self.seconds * folder.meta(feature)["fps"])
        arrays = {k: v[:frames] for k, v in dataset.sequence_inputs(seq).items()}
        was_training = model.training
        try:
            result = gen.generate_sequence(model, opt, dataset, seq, arrays=arrays, conditions=dataset.sequence_conditions(seq))
        finally:
            model.train(was_training)
        truth = gen.unscale(folder, feature, arrays[feature]) if feature in arrays else None
        sample = result[feature] if result[feature].ndim == 2 else result[feature][0]
        audio_path, start = folder.audio_for(seq)
        path = self.out_dir / "samples" / f"val{self.validations}_step{step}.mp4"
        return outputs.write_video(folder, feature, np.asarray(sample), path, seq, audio_path, start, compare_features=truth)

    def strip(self, path: Path):
        """A few frames of the mp4 as a (N, H, W, 3) uint8 array."""
        import imageio_ffmpeg
        import numpy as np

        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        w, h = meta["size"]
        frames = [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]
        if not frames:
            return None
        pick = np.linspace(0, len(frames) - 1, min(self.frames_in_strip, len(frames))).round().astype(int)
        return np.stack([frames[i] for i in pick])
