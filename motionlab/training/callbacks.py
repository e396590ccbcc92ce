"""Callbacks used by train.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl

from motionlab.utils.io import write_text


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
