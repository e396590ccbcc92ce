"""Transformer blocks: positional encodings, a sequence encoder, and the multimodal transformer.

The multimodal transformer (Transflower, after Li et al. 2021 "AI Choreographer") encodes each
input modality with its own transformer, concatenates the encoded tokens over time and passes
them through one cross-modal transformer per output; the first ``n`` tokens of each are that
output's features.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from motionlab.options import add_bool_option
from motionlab.utils.errors import MotionlabError

POSITIONAL_ENCODINGS = ("sinusoidal", "learned", "none")


class PositionalEncoding(nn.Module):
    """Adds sinusoidal or learned absolute position embeddings to (B, T, D) tokens."""

    def __init__(self, d_model: int, kind: str = "sinusoidal", max_len: int = 2048):
        super().__init__()
        if kind not in POSITIONAL_ENCODINGS:
            raise ValueError(f"positional encoding must be one of {POSITIONAL_ENCODINGS}, got {kind!r}")
        self.kind = kind
        if kind == "sinusoidal":
            pos = torch.arange(max_len).unsqueeze(1)
            div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(max_len, d_model)
            pe[:, 0::2] = torch.sin(pos * div)
            pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
            self.register_buffer("pe", pe, persistent=False)
        elif kind == "learned":
            self.pe = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "none":
            return x
        return x + self.pe[: x.shape[1]].unsqueeze(0)


class SequenceEncoder(nn.Module):
    """Linear embedding + positions + a stack of transformer encoder layers, batch-first."""

    def __init__(self, d_in: int, d_model: int, nhead: int, nlayers: int, dropout: float = 0.1, pos_emb: str = "sinusoidal", dim_feedforward: int | None = None, max_len: int = 2048, norm_first: bool = True):
        """``dim_feedforward`` None/0: 2 x d_model. ``norm_first``: pre-norm layers with a final LayerNorm
        (stable at depth); False: post-norm layers as PyTorch's default and the Transflower paper's code."""
        super().__init__()
        self.embed = nn.Linear(d_in, d_model) if d_in != d_model else nn.Identity()
        self.pos = PositionalEncoding(d_model, pos_emb, max_len)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward or 2 * d_model, dropout, batch_first=True, norm_first=norm_first)
        self.layers = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False) if nlayers > 0 else nn.Identity()
        self.norm = nn.LayerNorm(d_model) if nlayers > 0 and norm_first else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.layers(self.pos(self.embed(x))))


class MultimodalTransformer(nn.Module):
    """Per-modality encoders, then one cross-modal transformer per output taking its first n tokens."""

    def __init__(
        self,
        input_dims: list[int],
        out_tokens: list[int],
        out_dims: list[int],
        d_model: int = 256,
        nhead: int = 4,
        nlayers: int = 4,
        input_nlayers: int = 2,
        dropout: float = 0.1,
        pos_emb: str = "sinusoidal",
        max_len: int = 2048,
        dim_feedforward: int | None = None,
        norm_first: bool = True,
    ):
        super().__init__()
        self.out_tokens = list(out_tokens)
        kw = dict(max_len=max_len, dim_feedforward=dim_feedforward, norm_first=norm_first)
        self.encoders = nn.ModuleList([SequenceEncoder(d, d_model, nhead, input_nlayers, dropout, pos_emb, **kw) for d in input_dims])
        self.cross = nn.ModuleList([SequenceEncoder(d_model, d_model, nhead, nlayers, dropout, pos_emb, **kw) for _ in out_dims])
        self.heads = nn.ModuleList([nn.Linear(d_model, d) for d in out_dims])

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        tokens = torch.cat([enc(x) for enc, x in zip(self.encoders, inputs)], dim=1)
        return [head(cross(tokens)[:, :n]) for cross, head, n in zip(self.cross, self.heads, self.out_tokens)]


def add_transformer_options(parser, prefix: str = "", dhid: int = 256, nlayers: int = 4, input_nlayers: int = 2, nhead: int = 4, dropout: float = 0.1):
    """Options of a multimodal transformer (shared by every model built on it)."""
    parser.add_argument(f"--{prefix}dhid", type=int, default=dhid, help="transformer width")
    parser.add_argument(f"--{prefix}nlayers", type=int, default=nlayers, help="layers of each cross-modal transformer")
    parser.add_argument(f"--{prefix}input_nlayers", type=int, default=input_nlayers, help="layers of each per-modality encoder")
    parser.add_argument(f"--{prefix}nhead", type=int, default=nhead, help="attention heads")
    parser.add_argument(f"--{prefix}dropout", type=float, default=dropout)
    parser.add_argument(f"--{prefix}pos_emb", default="sinusoidal", choices=list(POSITIONAL_ENCODINGS), help="positional encoding")
    parser.add_argument(f"--{prefix}dim_feedforward", type=int, default=0, help="feed-forward width of every transformer layer (0: 2 x --dhid; the Transflower paper's model: --dhid)")
    add_bool_option(parser, f"--{prefix}norm_first", True, "pre-norm layers + a final LayerNorm (off: post-norm, PyTorch's default and the paper's code)")
    return parser


def transformer_kwargs(opt, prefix: str = "") -> dict:
    """The layer options of :func:`add_transformer_options` (defaults for experiments saved before they existed)."""
    ff = int(getattr(opt, f"{prefix}dim_feedforward", 0) or 0)
    if ff < 0:
        raise MotionlabError(f"--{prefix}dim_feedforward: expected 0 (2 x --{prefix}dhid) or a positive width, got {ff}")
    return {"dim_feedforward": ff or None, "norm_first": bool(getattr(opt, f"{prefix}norm_first", True))}
