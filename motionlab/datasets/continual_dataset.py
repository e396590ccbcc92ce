"""ContinualDataset: the data of one stage of continual learning over a sequence of speakers/styles (C-DiffGAN).

A stage has seen the styles ``--continual_styles a,b,c`` (the last is the newest). Every style
trains on ``--k_shot`` windows of its train split (all of them for the styles in ``--full_styles``:
the first style at stage 1, every style for joint training; later stages replay the first style
from its k windows like the others, as the original, so the replayed styles weigh the same), drawn from a generator seeded by
(``--k_shot_seed``, style name) only: a style keeps the same k windows at every stage and in every
run, whatever the order of the styles. Without ``--k_shot_replacement`` a k larger than a style's
windows is refused.

Training batches are composed as the original (specs/gesture-systems.md §4): ``max(B // n, 1)``
windows of the newest style and the rest from the older styles' k-shot windows (replayed inputs;
with ``--replay none`` only the newest style). Validation and test windows are those of the seen
styles. Window ids (``window_id``) index the full train split, as in :class:`MultimodalDataset`.
"""

from __future__ import annotations

import zlib

import numpy as np

from motionlab.datasets.multimodal_dataset import MultimodalDataset
from motionlab.datasets.samplers import SpeakerBalancedSampler
from motionlab.options import add_bool_option, add_list_option, bounded
from motionlab.utils.errors import MotionlabError

REPLAY = ("none", "pseudo", "real")


def k_shot_windows(candidates: np.ndarray, k: int, seed: int, style: str, replacement: bool = False) -> np.ndarray:
    """``k`` of ``candidates`` (window indices of one style), drawn from a generator seeded by (seed, style) only."""
    candidates = np.sort(np.asarray(candidates, dtype=np.int64))
    if k <= 0 or k == len(candidates) and not replacement:
        return candidates
    if k > len(candidates) and not replacement:
        raise MotionlabError(
            f"--k_shot {k}: style '{style}' has only {len(candidates)} training windows; lower --k_shot, "
            f"or pass --k_shot_replacement to draw {k} with replacement"
        )
    rng = np.random.default_rng([int(seed) % (2**32), zlib.crc32(style.encode("utf-8"))])
    return np.sort(rng.choice(candidates, size=k, replace=replacement))


class ContinualSampler(SpeakerBalancedSampler):
    """Window indices in batches of ``batch_size``: ``n_new`` of the newest style's windows, then older styles' windows.

    Every rank gets ``iterations`` whole batches per epoch (the rank plumbing is SpeakerBalancedSampler's,
    so Lightning keeps the sampler under DDP and calls ``set_epoch``); the stream depends only on the
    seed and the epoch. Within an epoch each pool is walked in shuffled cycles, so a small k-shot set
    is used evenly.
    """

    def __init__(self, newest, older, batch_size: int, n_new: int, iterations: int, seed: int = 0, num_replicas=None, rank=None):
        self.newest, self.older = np.asarray(newest, np.int64), np.asarray(older, np.int64)
        if not len(self.newest):
            raise MotionlabError("continual sampler: the newest style has no training windows")
        self.batch_size, self.iterations = int(batch_size), int(iterations)
        self.n_new = int(n_new) if len(self.older) else self.batch_size
        if not 1 <= self.n_new <= self.batch_size:
            raise MotionlabError(f"continual sampler: {n_new} newest-style windows per batch of {batch_size}")
        self.seed, self.epoch = int(seed), 0
        self._replicas, self._rank = num_replicas, rank
        self.shuffle, self.drop_last = True, False
        self.yielded, self._resume_at = 0, 0

    @property
    def num_samples(self) -> int:
        return self.iterations * self.batch_size

    @staticmethod
    def _cycles(pool: np.ndarray, n: int, rng) -> np.ndarray:
        reps = -(-n // len(pool))
        return np.concatenate([rng.permutation(pool) for _ in range(reps)])[:n]

    def stream(self, epoch: int) -> np.ndarray:
        """All ranks' draws of one epoch, interleaved so that rank r's share (r, r + R, ...) is its batches in order."""
        rng = np.random.default_rng([self.seed, int(epoch), 0xC1])
        R, B, n = self.num_replicas, self.batch_size, self.iterations
        batches = n * R
        new = self._cycles(self.newest, batches * self.n_new, rng).reshape(batches, self.n_new)
        parts = [new]
        if self.n_new < B:
            parts.append(self._cycles(self.older, batches * (B - self.n_new), rng).reshape(batches, B - self.n_new))
        per_rank = np.concatenate(parts, axis=1).reshape(R, n * B)  # rank r: batches r*n .. r*n + n - 1
        out = np.empty(R * n * B, dtype=np.int64)
        for r in range(R):
            out[r::R] = per_rank[r]
        return out


class ContinualDataset(MultimodalDataset):
    """MultimodalDataset restricted to the seen styles, with k-shot training sets and composed batches (see the module docstring)."""

    @staticmethod
    def modify_commandline_options(parser, known):
        MultimodalDataset.modify_commandline_options(parser, known)
        add_list_option(parser, "--continual_styles", str, [], "speakers/styles seen so far, in order; the last is the newest (labels of speakers.json)")
        parser.add_argument("--k_shot", type=bounded(int, 0, what="an integer"), default=28, help="training windows per style (0: all; the paper: 7, 28, 140)")
        add_list_option(parser, "--full_styles", str, [], "styles that train on all their windows instead of k (stage 1: the first style)")
        parser.add_argument("--k_shot_seed", type=int, default=1, help="seed of the k-shot draws (a style's set depends only on it and the style's name)")
        add_bool_option(parser, "--k_shot_replacement", False, "draw k windows with replacement (needed when k exceeds a style's windows)")
        parser.add_argument("--replay", default="pseudo", choices=list(REPLAY), help="older styles in the batches: none (fine-tuning), pseudo (their inputs, the previous model's outputs as targets), real (their k-shot ground truth)")
        parser.add_argument("--iterations_per_epoch", type=bounded(int, 1, what="an integer"), default=200, help="training batches per epoch (the original: 200)")
        return parser

    def __init__(self, opt, split: str | None = "train"):
        super().__init__(opt, split)
        styles = list(getattr(opt, "continual_styles", None) or [])
        if split is None:
            return
        if not styles:
            raise MotionlabError("dataset 'continual': name the styles seen so far with --continual_styles a,b,... (labels of speakers.json)")
        if not self.speaker_names:
            raise MotionlabError(f"dataset 'continual': {self.data_dir / 'speakers.json'} is missing; continual learning goes over its speakers/styles")
        unknown = [s for s in styles + list(opt.full_styles) if s not in self.speaker_names]
        if unknown:
            raise MotionlabError(f"--continual_styles/--full_styles: style '{unknown[0]}' is not in {self.data_dir / 'speakers.json'} (known: {', '.join(self.speaker_names)})")
        if len(set(styles)) != len(styles):
            raise MotionlabError(f"--continual_styles: a style appears twice in {','.join(styles)}")
        self.styles = styles
        self.style_ids = [self.speaker_names.index(s) for s in styles]
        speakers = self.window_speakers()
        if split != "train":  # evaluation: every window of the seen styles
            self.windows = self.windows[np.isin(speakers, self.style_ids)]
            return
        self.chosen = {}
        for style, sid in zip(styles, self.style_ids):
            candidates = np.flatnonzero(speakers == sid)
            if not len(candidates):
                raise MotionlabError(f"dataset 'continual': style '{style}' has no training windows in {self.folder.split_file('train')}")
            k = 0 if style in opt.full_styles else int(opt.k_shot)
            self.chosen[style] = k_shot_windows(candidates, k, opt.k_shot_seed, style, opt.k_shot_replacement)

    def train_sampler(self, seed: int):
        newest = self.chosen[self.styles[-1]]
        replay = getattr(self.opt, "replay", "pseudo")
        older = np.concatenate([self.chosen[s] for s in self.styles[:-1]]) if replay != "none" and len(self.styles) > 1 else np.zeros(0, np.int64)
        B = int(self.opt.batch_size)
        return ContinualSampler(newest, older, B, max(B // len(self.styles), 1), self.opt.iterations_per_epoch, seed)

    def style_statistics(self, style: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per-modality (mean, std) over every frame of ``style``'s train sequences: the first style's normalisation."""
        sid = self.speaker_names.index(style)
        ks = [k for k, s in enumerate(self.seq_speakers) if s == sid]
        out = {}
        for name in dict.fromkeys(self.modalities):
            frames = np.concatenate([np.asarray(self._array(k, name), np.float64) for k in ks])
            std = frames.std(0)
            out[name] = (frames.mean(0).astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32))
        return out
