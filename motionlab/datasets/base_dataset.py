"""Base class of every dataset: construction from the options and a split name, and what models and generation ask of it."""

from __future__ import annotations

import numpy as np
import torch.utils.data

from motionlab.dataspec import DataSpec


class BaseDataset(torch.utils.data.Dataset):
    """Abstract dataset; subclasses define windows over a data folder.

    Every item is a dict with ``inputs`` and ``outputs`` (lists of (L, D) arrays, one per
    modality), ``window_id`` (the window's position in the dataset's one deterministic
    enumeration: unchanged by shuffling, workers, DDP and resume), ``sequence_index`` and
    ``start`` (which sequence of ``data_spec().sequence_ids`` and which frame), and ``speaker``
    when the data has speaker/style labels.
    """

    @staticmethod
    def modify_commandline_options(parser, known):
        """Add this dataset's options to ``parser`` (an argparse group) and return it; ``known.get(key)`` reads other options' first-stage values."""
        return parser

    def __init__(self, opt, split: str | None = "train"):
        """``split`` None: no windows are enumerated (generation only needs ``sequence_inputs``)."""
        super().__init__()
        self.opt = opt
        self.split = split

    def data_spec(self) -> DataSpec:
        """Dims, speakers, number of windows and fps, read from the data (never typed in by hand)."""
        raise NotImplementedError(f"{type(self).__name__} must implement data_spec()")

    def sequence_inputs(self, seq: str) -> dict[str, np.ndarray]:
        """Whole arrays (T, D) of one sequence for every modality it has (outputs too, as seed and ground truth)."""
        raise NotImplementedError(f"{type(self).__name__} must implement sequence_inputs(seq)")

    def sequence_conditions(self, seq: str) -> dict:
        """Per-sequence conditioning passed to ``generate`` as keywords (e.g. ``speaker``); none by default."""
        return {}
