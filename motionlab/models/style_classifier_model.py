"""StyleClassifierModel: the style (speaker) classifier of Mix-StAGE (Ahuja et al. 2020), for style metrics.

Style accuracy / F1 and the inception score of generated gestures need a classifier of who is
gesturing, trained on the user's own data (``speakers.json`` labels the sequences):
``./script_train.sh analysis/style_classifier --data_dir D --input_modalities F --output_modalities F``.

Architecture (specs/gesture-systems.md §5): on windows (B, L, D) of one motion feature, six
downsampling blocks D -> 64 -> 128 -> 128 -> 256 -> 256 -> n_speakers (the paper's D is 96, here it
is the feature's dim). The first five are ``ConvNormReLU``; the sixth is a bare downsampling conv,
since ReLU/normalised class scores could not be negative logits. On the paper's 64-frame windows
the six halvings leave one frame; other lengths average the remaining frames, and a block whose
input is already one frame long keeps the length instead of halving it. Loss: cross-entropy on
``batch["speaker"]``; the paper trains with Adam 1e-4, 20 epochs, batch 32 (hparams/analysis/style_classifier.yaml).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.base_model import BaseModel
from motionlab.models.modules.conv import NORMS, ConvNormReLU, check_window_batch, conv, motion_window
from motionlab.options import add_list_option, bounded
from motionlab.utils.errors import MotionlabError


class StyleClassifierModel(BaseModel):
    """Mix-StAGE's style classifier: downsampling conv blocks over a motion window -> speaker/style probabilities."""

    @staticmethod
    def modify_commandline_options(parser, known):
        add_list_option(parser, "--classifier_channels", int, [64, 128, 128, 256, 256], "channels of the ConvNormReLU blocks before the last (class) block (Mix-StAGE: 64,128,128,256,256)")
        parser.add_argument("--conv_norm", default="batch", choices=list(NORMS), help="normalisation in the conv blocks")
        parser.add_argument("--classifier_dropout", type=bounded(float, 0.0, 1.0, what="a number"), default=0.0, help="dropout after each block (0: none, as the paper)")
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        o = self.opt
        self.feature, self.window, self.dim = motion_window(self)
        if self.num_speakers < 2:
            found = "no speakers.json" if self.num_speakers == 0 else f"only one label ({spec.speaker_names[0]!r})"
            raise MotionlabError(
                f"model 'style_classifier' classifies speakers/styles, but the data in {getattr(o, 'data_dir', '?')} has {found}; "
                f"it needs a speakers.json mapping each sequence id to a speaker/style label, with at least two labels"
            )
        channels = list(o.classifier_channels)
        if not channels or min(channels) < 1:
            raise MotionlabError(f"--classifier_channels: expected a non-empty list of positive integers, got {channels}")
        blocks, length = [], self.window
        for cin, cout in zip([self.dim] + channels[:-1], channels):
            blocks.append(ConvNormReLU(cin, cout, resample=self._halve(length), norm=o.conv_norm, dropout=o.classifier_dropout))
            length = max(1, length // 2)
        blocks.append(conv(channels[-1], self.num_speakers, self._halve(length)))
        self.net = nn.Sequential(*blocks)

    @staticmethod
    def _halve(length: int) -> str | None:
        return "down" if length >= 2 else None

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> logits (B, n_speakers)."""
        check_window_batch(self, windows, self.window, self.dim)
        return self.net(windows.transpose(1, 2)).mean(dim=2)

    def predict_proba(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, L, D) windows in the data's scaled space -> (B, n_speakers) probabilities (order: ``data_spec.speaker_names``)."""
        return self(windows).softmax(dim=1)

    def compute_loss(self, batch):
        if "speaker" not in batch:
            raise MotionlabError("model 'style_classifier': the batch has no 'speaker' (the data folder needs a speakers.json)")
        logits = self(batch["inputs"][0])
        target = torch.as_tensor(batch["speaker"], device=logits.device).long()
        ce = F.cross_entropy(logits, target)
        return ce, {"ce": ce.detach(), "accuracy": (logits.argmax(1) == target).float().mean()}

    def generate(self, inputs, seed=None, **options):
        """A classifier generates nothing; say what to use instead of a NotImplementedError."""
        raise MotionlabError("model 'style_classifier' is a classifier, not a generator; use motionlab.analysis.feature_networks.classify_windows")
