"""Speaker-balanced sampling (``--balance_speakers``): Mix-StAGE trains on batches where every speaker is
equally likely, however unequal the speakers' amounts of data.

The sampler is a ``DistributedSampler`` so Lightning leaves it in place under DDP (it would otherwise
wrap it) and calls ``set_epoch`` on it; the world size and rank are read when iterating, after the
process group exists.
"""

from __future__ import annotations

import math

import numpy as np
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from motionlab.utils.errors import MotionlabError


class SpeakerBalancedSampler(DistributedSampler):
    """Window indices where speakers come uniformly and windows uniformly within their speaker.

    One epoch is ``len(window_speakers)`` draws (the dataset's length), made of consecutive blocks of
    one random permutation of the speakers each (so any S consecutive draws hold every speaker once),
    each speaker's window drawn uniformly with replacement. The stream depends only on ``seed`` and
    the epoch; under DDP rank r of R takes draws r, r + R, ... of the stream padded to a multiple of
    R, so the ranks split one epoch between them.
    """

    def __init__(self, window_speakers, seed: int = 0, num_replicas: int | None = None, rank: int | None = None):
        # No DistributedSampler.__init__: it needs the process group, which Lightning starts later.
        speakers = np.asarray(window_speakers, dtype=np.int64)
        if speakers.ndim != 1 or not len(speakers):
            raise MotionlabError(f"--balance_speakers: expected one speaker id per window, got an array of shape {speakers.shape}")
        if (speakers < 0).any():
            raise MotionlabError(f"--balance_speakers: {int((speakers < 0).sum())} windows have no speaker label (speakers.json must label every sequence)")
        self.speaker_ids = np.unique(speakers)
        self.windows_of = [np.flatnonzero(speakers == s) for s in self.speaker_ids]
        self.total = len(speakers)
        self.seed, self.epoch = int(seed), 0
        self._replicas, self._rank = num_replicas, rank
        self.shuffle, self.drop_last = True, False
        self.yielded, self._resume_at = 0, 0

    @property
    def num_replicas(self) -> int:
        if self._replicas is not None:
            return self._replicas
        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1

    @property
    def rank(self) -> int:
        if self._rank is not None:
            return self._rank
        return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0

    @property
    def num_samples(self) -> int:
        return math.ceil(self.total / self.num_replicas)

    @property
    def total_size(self) -> int:
        return self.num_samples * self.num_replicas

    def stream(self, epoch: int) -> np.ndarray:
        """The whole epoch's draws (all ranks), padded to ``num_samples * num_replicas``."""
        rng = np.random.default_rng([self.seed, epoch])
        n = self.num_samples * self.num_replicas
        s = len(self.speaker_ids)
        blocks = -(-n // s)
        order = np.argsort(rng.random((blocks, s)), axis=1).reshape(-1)[:n]  # a permutation of speakers per block
        out = np.empty(n, dtype=np.int64)
        for j, windows in enumerate(self.windows_of):
            at = np.flatnonzero(order == j)
            out[at] = windows[rng.integers(0, len(windows), len(at))]
        return out

    def __iter__(self):
        # Resuming (load_state_dict) skips the draws already trained on. The epoch is read at the first
        # draw, not here: on --resume Lightning creates the loader's iterator before it calls set_epoch.
        skip, self._resume_at = self._resume_at, 0
        self.yielded = skip
        return self._draws(skip)

    def _draws(self, skip: int):
        for index in self.stream(self.epoch)[self.rank :: self.num_replicas][skip:].tolist():
            self.yielded += 1
            yield index

    # Stateful (torchdata's StatefulDataLoader saves it in checkpoints): how far this epoch's draws got.
    def state_dict(self) -> dict:
        return {"yielded": int(self.yielded)}

    def load_state_dict(self, state: dict) -> None:
        yielded = int(state.get("yielded", 0))
        # A finished pass (the epoch's last batch was trained on) means the next iteration starts a new one.
        self._resume_at = yielded if 0 < yielded < len(self) else 0

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
