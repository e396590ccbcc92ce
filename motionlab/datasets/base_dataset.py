"""Base class of every dataset: construction from the options and a split name."""

from __future__ import annotations

import torch.utils.data


class BaseDataset(torch.utils.data.Dataset):
    """Abstract dataset; subclasses define windows over a data folder."""

    @staticmethod
    def modify_commandline_options(parser, known):
        """Add this dataset's options to ``parser`` (an argparse group) and return it; ``known.get(key)`` reads other options' first-stage values."""
        return parser

    def __init__(self, opt, split: str = "train"):
        super().__init__()
        self.opt = opt
        self.split = split

    # Everything a model needs to size itself, read from the data (never typed in by hand).
    input_dims: list[int]
    output_dims: list[int]
    num_speakers: int = 0
